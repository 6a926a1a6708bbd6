/* SPDX-License-Identifier: ISC */
/* statd: the counters behind ipsecstat(8).
 *
 * filterd counts packets in plain integers of its own memory and starts
 * from zero whenever it starts. statd reads those counters
 * (Filter1.GetCounters) once a second and whenever it is asked, and keeps
 * totals that survive filterd's restarts (the arithmetic: statd.h).
 * Everything lives in memory: statd's sandbox allows no file access once it
 * runs, so a restart of statd itself starts over from filterd's current
 * counters.
 *
 * At most one reading is out at a time, as an asynchronous call: the loop
 * never waits for filterd, and filterd never gets more than one request
 * from statd however many clients ask. A request (GetCounters, Reset) is
 * answered after a reading sent after it arrived, so that its answer covers
 * every packet filterd counted before the request; a request that arrives
 * while a reading is out waits for the next one. When filterd does not
 * answer, every request waiting is answered from what statd already holds. */
#include <string.h>

#include "statd.h"

#define STATD_TICK_SECONDS 1
/* A reading that takes longer is given up; callers get the totals held. */
#define STATD_READ_TIMEOUT_MS 2000
/* Requests waiting for readings at most (any local user may ask). */
#define STATD_WAITERS_MAX 1024

/* ---------------------------------------------------------------- the totals */

typedef struct Counter {
        uint64_t base, last, zero;
} Counter;

struct StatdTotals {
        GHashTable *counters;   /* name -> Counter */
        GPtrArray *order;       /* the names (owned by counters), as first seen */
        char *instance;         /* unique bus name of the filterd read last */
        bool seen;              /* a reading was applied */
        unsigned restarts;
};

static uint64_t add_saturated(uint64_t a, uint64_t b) {
        return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t counter_total(const Counter *c) {
        return add_saturated(c->base, c->last);
}

bool statd_counter_name_valid(const char *name) {
        size_t n = 0;
        for (const char *p = name; *p; p++) {
                if (++n > STATD_NAME_MAX)
                        return false;
                if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
                        return false;
        }
        return n > 0;
}

StatdTotals *statd_totals_new(void) {
        StatdTotals *t = g_new0(StatdTotals, 1);
        t->counters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        t->order = g_ptr_array_new();
        return t;
}

void statd_totals_free(StatdTotals *t) {
        if (!t)
                return;
        g_ptr_array_free(t->order, TRUE);
        g_hash_table_destroy(t->counters);
        g_free(t->instance);
        g_free(t);
}

bool statd_totals_apply(StatdTotals *t, const char *instance, const char *const *names, const uint64_t *values,
                        size_t n) {
        /* Unique names are never reused on a bus: another one is another
         * process, which counted from zero. This catches a restart even when
         * the new filterd already counted more than the old one had. */
        bool restarted = t->seen && instance && t->instance && strcmp(instance, t->instance) != 0;
        if (restarted) {
                GHashTableIter it;
                gpointer value;
                g_hash_table_iter_init(&it, t->counters);
                while (g_hash_table_iter_next(&it, NULL, &value)) {
                        Counter *c = value;
                        c->base = counter_total(c);
                        c->last = 0;
                }
                t->restarts++;
        }
        if (instance && g_strcmp0(instance, t->instance) != 0) {
                g_free(t->instance);
                t->instance = g_strdup(instance);
        }
        for (size_t i = 0; i < n; i++) {
                Counter *c = g_hash_table_lookup(t->counters, names[i]);
                if (!c) {
                        if (g_hash_table_size(t->counters) >= STATD_COUNTERS_MAX)
                                continue;
                        char *key = g_strdup(names[i]);
                        c = g_new0(Counter, 1);
                        g_hash_table_insert(t->counters, key, c);
                        g_ptr_array_add(t->order, key);
                }
                /* Lower than at the reading before: counted again from zero
                 * (a restart the instance name did not show). */
                if (values[i] < c->last)
                        c->base = counter_total(c);
                c->last = values[i];
        }
        t->seen = true;
        return restarted;
}

void statd_totals_reset(StatdTotals *t) {
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, t->counters);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Counter *c = value;
                c->zero = counter_total(c);
        }
}

uint64_t statd_totals_get(const StatdTotals *t, const char *name) {
        const Counter *c = g_hash_table_lookup(t->counters, name);
        /* The total never decreases, so it never falls below the zero point. */
        return c ? counter_total(c) - c->zero : 0;
}

const char **statd_totals_names(const StatdTotals *t, size_t *ret_n) {
        const char **names = g_new(const char *, t->order->len + 1);
        for (guint i = 0; i < t->order->len; i++)
                names[i] = g_ptr_array_index(t->order, i);
        names[t->order->len] = NULL;
        *ret_n = t->order->len;
        return names;
}

unsigned statd_totals_restarts(const StatdTotals *t) {
        return t->restarts;
}

/* ---------------------------------------------------------------- the service */

typedef enum Want {
        WANT_COUNTERS,
        WANT_RESET,
} Want;

typedef struct Waiter {
        BhCall *call;
        Want want;
} Waiter;

typedef enum FilterState {
        FILTER_UNKNOWN,
        FILTER_ANSWERING,
        FILTER_ABSENT,
        FILTER_FAILING,
} FilterState;

/* One call to filterd. It outlives statd when statd stops with the call
 * out: the reply (Disconnected, at the latest) then finds s NULL. */
typedef struct Reading {
        Statd *s;
} Reading;

struct Statd {
        BhService *svc;
        StatdTotals *totals;
        guint tick;
        Reading *out;           /* the reading in flight, NULL when none */
        GArray *waiting;        /* Waiter: answered when `out` comes back */
        GArray *queued;         /* Waiter: arrived while `out` was in flight */
        FilterState filter;     /* for logging changes once, not every second */
};

static void statd_read_filterd(Statd *s);

static void answer_counters(Statd *s, BhCall *call) {
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, ent;
        size_t n;
        g_autofree const char **names = statd_totals_names(s->totals, &n);
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{st}", &arr);
        for (size_t i = 0; i < n; i++) {
                dbus_uint64_t v = statd_totals_get(s->totals, names[i]);
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &names[i]);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_UINT64, &v);
                dbus_message_iter_close_container(&arr, &ent);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void answer_waiter(Statd *s, const Waiter *w) {
        /* Reset answers with the totals it sets to zero: what ipsecstat -c
         * shows is exactly what was reset, with no gap between the two. */
        answer_counters(s, w->call);
        if (w->want == WANT_RESET) {
                char who[128];
                statd_totals_reset(s->totals);
                bh_log_event("counters reset by %s", bh_caller_describe(bh_call_caller(w->call), who, sizeof who));
        }
        bh_call_unref(w->call);
}

static void set_filter_state(Statd *s, FilterState state, const char *why) {
        if (s->filter == state)
                return;
        s->filter = state;
        switch (state) {
        case FILTER_ANSWERING:
                bh_log_info("reading filterd's counters");
                break;
        case FILTER_ABSENT:
                bh_log_info("filterd is not running: the totals keep what it counted until its last reading");
                break;
        case FILTER_FAILING:
                bh_log_error("cannot read filterd's counters: %s", why);
                break;
        case FILTER_UNKNOWN:
                break;
        }
}

/* Untrusted in shape even from filterd: the signature, every name, the
 * number of entries and duplicates are checked before anything is used. */
static bool apply_reply(Statd *s, DBusMessage *reply, char **ret_why) {
        if (!dbus_message_has_signature(reply, "a{st}")) {
                *ret_why = g_strdup_printf("unexpected signature '%s'", dbus_message_get_signature(reply));
                return false;
        }
        const char *names[STATD_COUNTERS_MAX];
        uint64_t values[STATD_COUNTERS_MAX];
        size_t n = 0;
        g_autoptr(GHashTable) seen = g_hash_table_new(g_str_hash, g_str_equal);
        DBusMessageIter it, arr, ent;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                const char *name;
                dbus_uint64_t v;
                dbus_message_iter_recurse(&arr, &ent);
                dbus_message_iter_get_basic(&ent, &name);
                dbus_message_iter_next(&ent);
                dbus_message_iter_get_basic(&ent, &v);
                if (n == STATD_COUNTERS_MAX) {
                        *ret_why = g_strdup_printf("more than %d counters", STATD_COUNTERS_MAX);
                        return false;
                }
                if (!statd_counter_name_valid(name) || !g_hash_table_add(seen, (gpointer) name)) {
                        *ret_why = g_strdup("an invalid or repeated counter name");
                        return false;
                }
                names[n] = name;
                values[n] = v;
                n++;
        }
        const char *instance = dbus_message_get_sender(reply);
        if (statd_totals_apply(s->totals, instance, names, values, n))
                bh_log_info("filterd started again (%s): the totals keep what the one before counted",
                            instance ? instance : "?");
        return true;
}

static void reading_done(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Reading *r = userdata;
        Statd *s = r->s;
        g_free(r);
        if (!s)
                return;         /* statd stopped meanwhile */
        s->out = NULL;

        g_autofree char *why = NULL;
        bool read = reply && apply_reply(s, reply, &why);
        if (read)
                set_filter_state(s, FILTER_ANSWERING, NULL);
        else if (!reply && (g_strcmp0(error_name, DBUS_ERROR_SERVICE_UNKNOWN) == 0 ||
                            g_strcmp0(error_name, DBUS_ERROR_NAME_HAS_NO_OWNER) == 0))
                set_filter_state(s, FILTER_ABSENT, NULL);
        else {
                if (!why)
                        why = g_strdup_printf("%s (%s)", error_message ? error_message : "", error_name);
                set_filter_state(s, FILTER_FAILING, why);
        }

        /* In the order they came: a GetCounters before a Reset sees the
         * totals before it. Without an answer from filterd, the totals held
         * are the best there is: a Reset then sets the zero point there, and
         * what a new filterd counts comes on top of it. Those queued behind
         * a reading that failed are answered now as well rather than after
         * another timeout. */
        g_autoptr(GArray) done = s->waiting;
        if (!read) {
                g_array_append_vals(done, s->queued->data, s->queued->len);
                g_array_set_size(s->queued, 0);
        }
        s->waiting = s->queued;
        s->queued = g_array_new(FALSE, FALSE, sizeof(Waiter));
        for (guint i = 0; i < done->len; i++)
                answer_waiter(s, &g_array_index(done, Waiter, i));
        if (s->waiting->len > 0)
                statd_read_filterd(s);
}

static void statd_read_filterd(Statd *s) {
        g_assert(!s->out);
        Reading *r = g_new0(Reading, 1);
        r->s = s;
        s->out = r;
        DBusMessage *m = bh_method_new(BH_SERVICE_FILTERD, &bh_iface_filter1, "GetCounters");
        bh_conn_call(bh_ipc_bus(s->svc->ipc), m, STATD_READ_TIMEOUT_MS, reading_done, r);
        dbus_message_unref(m);
}

static gboolean tick(gpointer userdata) {
        Statd *s = userdata;
        /* Nothing to read while nobody owns filterd's name; the reading
         * after it comes back tells the restart. */
        if (!s->out && bh_ipc_owner(s->svc->ipc, BH_SERVICE_FILTERD))
                statd_read_filterd(s);
        return G_SOURCE_CONTINUE;
}

static void enqueue(Statd *s, BhCall *call, Want want) {
        Waiter w = { bh_call_ref(call), want };
        /* A flood while filterd hangs: the ones beyond the bound get the
         * totals held at once instead of piling up for the timeout. */
        if (s->waiting->len + s->queued->len >= STATD_WAITERS_MAX) {
                answer_waiter(s, &w);
                return;
        }
        if (s->out) {
                g_array_append_val(s->queued, w);
        } else {
                g_array_append_val(s->waiting, w);
                statd_read_filterd(s);
        }
}

static void statd_handle_get_counters(BhCall *call, void *userdata) {
        enqueue(userdata, call, WANT_COUNTERS);
}

/* Admin only (the dispatcher checks, from the XML). */
static void statd_handle_reset(BhCall *call, void *userdata) {
        enqueue(userdata, call, WANT_RESET);
}

static const BhMethodImpl statd_methods[] = {
        { "GetCounters", statd_handle_get_counters },
        { "Reset", statd_handle_reset },
        {},
};

Statd *statd_new(BhService *svc) {
        Statd *s = g_new0(Statd, 1);
        s->svc = svc;
        s->totals = statd_totals_new();
        s->waiting = g_array_new(FALSE, FALSE, sizeof(Waiter));
        s->queued = g_array_new(FALSE, FALSE, sizeof(Waiter));
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_stats1, statd_methods, NULL, s);
        s->tick = g_timeout_add_seconds(STATD_TICK_SECONDS, tick, s);
        return s;
}

static void drop_waiters(GArray *waiters) {
        for (guint i = 0; i < waiters->len; i++) {
                Waiter *w = &g_array_index(waiters, Waiter, i);
                bh_call_error(w->call, BH_ERROR_UNAVAILABLE, "statd is stopping");
                bh_call_unref(w->call);
        }
        g_array_free(waiters, TRUE);
}

void statd_free(Statd *s) {
        if (!s)
                return;
        if (s->tick)
                g_source_remove(s->tick);
        if (s->out)
                s->out->s = NULL;
        drop_waiters(s->waiting);
        drop_waiters(s->queued);
        statd_totals_free(s->totals);
        g_free(s);
}
