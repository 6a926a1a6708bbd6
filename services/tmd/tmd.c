/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>

#include "proposal.h"
#include "tmd.h"
#include "tunnel.h"

typedef enum TunnelState {
        TUNNEL_INACTIVE,
        TUNNEL_ACTIVATING,
        TUNNEL_ACTIVE,
        TUNNEL_REMOVING,
        TUNNEL_FAILED,
} TunnelState;

static const char *const state_names[] = {
        [TUNNEL_INACTIVE] = "inactive", [TUNNEL_ACTIVATING] = "activating", [TUNNEL_ACTIVE] = "active",
        [TUNNEL_REMOVING] = "removing", [TUNNEL_FAILED] = "failed",
};

/* What tmd knows of a tunnel beyond its definition. */
typedef struct Tunnel {
        Tmd *tmd;
        char *path;             /* its object, /org/bulkhead/Tmd/tunnel/NAME; NULL if not published */
        char name[BH_TUNNEL_NAME_MAX + 1];
        TunnelState state;
        char *failure;          /* the last failure, in words */
        GPtrArray *routes;      /* prefixes routed through the TUN device */
        /* IKE tunnels */
        const char *phase1;     /* "inactive", "negotiating", "active", "failed" */
        GHashTable *info;       /* what isakmpd said of the SAs: algorithms, SPIs, IDs */
        struct Step *negotiating;       /* the activation waiting for isakmpd */
        struct Step *tearing;           /* a teardown under way */
        bool terminating;               /* its Terminate to isakmpd not answered yet */
        bool up_pending;                /* the peer brought it up during that teardown */
} Tunnel;

#define TUNNEL_PATH_PREFIX "/org/bulkhead/Tmd/tunnel/"

struct Tmd {
        BhService *svc;
        char *dir;
        BhTunnelSet *defs;
        GHashTable *tunnels;    /* name -> Tunnel */
        GHashTable *by_peer;    /* "LOCAL REMOTE" -> const BhTunnel * (IKE tunnels, first defined), for Match */
        bool synced;            /* learnt from filterd what is up, started what should be */
};

/* One activation or removal on its way: the steps answer in turn. */
typedef struct Step Step;
struct Step {
        Tmd *tmd;
        BhCall *call;           /* the operator's, answered at the end; may be NULL */
        char *name;
        BhTunnel *def;          /* a copy: a reload may replace the set meanwhile */
        unsigned waiting;
        char *error;
        bool renegotiate;       /* an IKE tunnel taken down to come back at once */
        bool child_only;        /* phase 2 goes down, the IKE SA stays */
        bool child_gone;        /* and isakmpd has already ended the CHILD SA */
        bool trap_kept;         /* the trap took the policy's place, the routes stayed */
        bool phase1_only;       /* ike cmd=activate phase=1: the first CHILD SA goes at once */
};

/* start = trap: after a failed negotiation, filterd drops the tunnel's
 * traffic this long before it asks again (Filter1.SetTrap). */
#define TRAP_HOLDDOWN_S 5

static bool phase1_up(const Tunnel *t) {
        return t->phase1 && strcmp(t->phase1, "active") == 0;
}

/* ---------------------------------------------------------------- tunnel objects */

static const BhTunnel *tunnel_def(const Tunnel *t) {
        return bh_tunnel_set_find(t->tmd->defs, t->name);
}

static void put_string(DBusMessageIter *it, const char *s) {
        dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &s);
}

static void get_name(DBusMessageIter *it, void *userdata) {
        const Tunnel *t = userdata;
        put_string(it, t->name);
}

static void get_number(DBusMessageIter *it, void *userdata) {
        const BhTunnel *d = tunnel_def(userdata);
        dbus_uint32_t n = d ? d->number : 0;
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static void get_type(DBusMessageIter *it, void *userdata) {
        const BhTunnel *d = tunnel_def(userdata);
        put_string(it, d ? bh_tunnel_type_to_string(d->type) : "");
}

static void get_local(DBusMessageIter *it, void *userdata) {
        const BhTunnel *d = tunnel_def(userdata);
        char buf[BH_ADDR_STRLEN] = "";
        put_string(it, d ? bh_addr_to_string(&d->local, buf) : buf);
}

static void get_remote(DBusMessageIter *it, void *userdata) {
        const BhTunnel *d = tunnel_def(userdata);
        char buf[BH_ADDR_STRLEN] = "";
        put_string(it, d ? bh_addr_to_string(&d->remote, buf) : buf);
}

static void get_phase1(DBusMessageIter *it, void *userdata) {
        const Tunnel *t = userdata;
        const BhTunnel *d = tunnel_def(t);
        put_string(it, d && d->type == BH_TUNNEL_MANUAL ? "-" : t->phase1);
}

static void get_phase2(DBusMessageIter *it, void *userdata) {
        const Tunnel *t = userdata;
        put_string(it, state_names[t->state]);
}

static void get_failure(DBusMessageIter *it, void *userdata) {
        const Tunnel *t = userdata;
        put_string(it, t->failure ? t->failure : "");
}

static void get_info(DBusMessageIter *it, void *userdata) {
        const Tunnel *t = userdata;
        DBusMessageIter arr, e;
        GHashTableIter hi;
        gpointer k, v;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "{ss}", &arr);
        g_hash_table_iter_init(&hi, t->info);
        while (g_hash_table_iter_next(&hi, &k, &v)) {
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &e);
                put_string(&e, k);
                put_string(&e, v);
                dbus_message_iter_close_container(&arr, &e);
        }
        dbus_message_iter_close_container(it, &arr);
}

static const BhPropertyImpl tunnel_properties[] = {
        { "Name", get_name, NULL },
        { "Number", get_number, NULL },
        { "Type", get_type, NULL },
        { "Local", get_local, NULL },
        { "Remote", get_remote, NULL },
        { "Phase1", get_phase1, NULL },
        { "Phase2", get_phase2, NULL },
        { "Failure", get_failure, NULL },
        { "Info", get_info, NULL },
        {},
};

static const BhMethodImpl tunnel_methods[] = {
        {},
};

static void tunnel_publish(Tunnel *t) {
        if (t->path)
                return;
        g_autofree char *elem = bh_object_path_escape(t->name);
        t->path = g_strconcat(TUNNEL_PATH_PREFIX, elem, NULL);
        bh_ipc_add_object(t->tmd->svc->ipc, t->path, &bh_iface_tunnel1, tunnel_methods, tunnel_properties, t);
}

static void tunnel_unpublish(Tunnel *t) {
        if (!t->path)
                return;
        bh_ipc_remove_object(t->tmd->svc->ipc, t->path);
        g_clear_pointer(&t->path, g_free);
}

/* Tells the bus that a property of the tunnel changed. */
static void tunnel_changed(Tunnel *t, const char *property) {
        if (t->path)
                bh_ipc_property_changed(t->tmd->svc->ipc, t->path, bh_iface_tunnel1.name, property);
}

/* The last failure, kept without a change of state. */
static void set_failure(Tunnel *t, const char *cause) {
        g_free(t->failure);
        t->failure = g_strdup(cause);
        tunnel_changed(t, "Failure");
}

static void set_phase1(Tunnel *t, const char *phase1) {
        if (t->phase1 == phase1 || (t->phase1 && strcmp(t->phase1, phase1) == 0))
                return;
        t->phase1 = phase1;
        tunnel_changed(t, "Phase1");
}

static Tunnel *tunnel_state(Tmd *tmd, const char *name) {
        Tunnel *t = g_hash_table_lookup(tmd->tunnels, name);
        if (!t) {
                t = g_new0(Tunnel, 1);
                t->tmd = tmd;
                g_strlcpy(t->name, name, sizeof t->name);
                t->routes = g_ptr_array_new_with_free_func(g_free);
                t->phase1 = "inactive";
                t->info = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
                g_hash_table_insert(tmd->tunnels, t->name, t);
        }
        return t;
}

static void tunnel_free(void *p) {
        Tunnel *t = p;
        tunnel_unpublish(t);
        g_free(t->failure);
        g_ptr_array_free(t->routes, TRUE);
        g_hash_table_destroy(t->info);
        g_free(t);
}

static void set_state(Tmd *tmd, Tunnel *t, TunnelState state, const char *failure) {
        bool changed = t->state != state;
        t->state = state;
        if (failure) {
                g_free(t->failure);
                t->failure = g_strdup(failure);
                tunnel_changed(t, "Failure");
        }
        if (changed)
                tunnel_changed(t, "Phase2");
        bh_log_tunnel(state == TUNNEL_FAILED ? BH_LOG_ERRORS : BH_LOG_EVENTS, t->name, "%s%s%s", state_names[state],
                      failure ? ": " : "", failure ? failure : "");
}

/* ---------------------------------------------------------------- loading */

/* Reads the definitions; previous keeps tunnel numbers stable. A missing
 * directory is no tunnels, not an error. */
static void load(Tmd *tmd, const BhTunnelSet *previous, GPtrArray *errors) {
        BhTunnelSet *set = NULL;
        int r = bh_tunnel_set_load(tmd->dir, previous, errors, &set);
        if (r < 0 && r != -ENOENT)
                g_ptr_array_add(errors, g_strdup_printf("%s: %s", tmd->dir, g_strerror(-r)));
        if (!set)
                set = bh_tunnel_set_new();
        /* A warning (a legacy algorithm in a manual tunnel) loads the
         * tunnel: it is news for the operator, not an error. */
        for (guint i = 0; i < errors->len; i++) {
                const char *report = g_ptr_array_index(errors, i);
                bh_log(strstr(report, ": warning: ") ? BH_LOG_EVENTS : BH_LOG_ERRORS, "%s", report);
        }
        tmd->defs = set;
        bh_log_info("%u tunnel definitions loaded from %s", bh_tunnel_set_size(set), tmd->dir);
        /* Match finds a responder's tunnel by its two addresses at once. */
        g_hash_table_remove_all(tmd->by_peer);
        for (guint i = 0; i < bh_tunnel_set_size(set); i++) {
                const BhTunnel *d = bh_tunnel_set_get(set, i);
                if (d->type != BH_TUNNEL_IKE)
                        continue;
                char lb[BH_ADDR_STRLEN], rb[BH_ADDR_STRLEN];
                char *key = g_strdup_printf("%s %s", bh_addr_to_string(&d->local, lb), bh_addr_to_string(&d->remote, rb));
                if (g_hash_table_contains(tmd->by_peer, key))
                        g_free(key);
                else
                        g_hash_table_insert(tmd->by_peer, key, (gpointer) d);
        }
        /* One object per defined tunnel; a tunnel no longer defined goes
         * from the bus (its state stays until it is inactive). */
        for (guint i = 0; i < bh_tunnel_set_size(set); i++)
                tunnel_publish(tunnel_state(tmd, bh_tunnel_set_get(set, i)->name));
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, tmd->tunnels);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (!tunnel_def(value))
                        tunnel_unpublish(value);
}

/* ---------------------------------------------------------------- steps */

static Step *step_new(Tmd *tmd, BhCall *call, const BhTunnel *def) {
        Step *s = g_new0(Step, 1);
        s->tmd = tmd;
        s->call = call ? bh_call_ref(call) : NULL;
        s->name = g_strdup(def->name);
        s->def = bh_tunnel_copy(def);
        return s;
}

static void step_free(Step *s) {
        if (s->call)
                bh_call_unref(s->call);
        bh_tunnel_free(s->def);
        g_free(s->name);
        g_free(s->error);
        g_free(s);
}

static void step_note(Step *s, const char *who, const char *error_message) {
        if (!s->error)
                s->error = g_strdup_printf("%s: %s", who, error_message);
}

static const BhProposalTransform *find_transform(const BhProposal *p, uint8_t type) {
        for (unsigned i = 0; i < p->n; i++)
                if (p->t[i].type == type)
                        return &p->t[i];
        return NULL;
}

/* A manual tunnel's transform set as the definition writes it, then its
 * algorithms under the names ipsecstat(8) lists: "3des-sha1: 3DES (legacy),
 * HMAC_SHA1_96 (legacy)". *ret_legacy (may be NULL) tells whether one is
 * legacy. */
static char *transforms_describe(const BhProposal *p, bool *ret_legacy) {
        g_autofree char *set = bh_proposal_to_string(p);
        GString *s = g_string_new(set);
        const char *sep = ": ";
        bool legacy = false;
        for (unsigned i = 0; i < p->n; i++) {
                const char *name, *prefix;
                bool is_legacy;
                if (p->t[i].type == BH_TRANSFORM_ENCR) {
                        const BhEncrInfo *e = bh_encr_lookup(p->t[i].id);
                        if (!e)
                                continue;
                        name = e->name, prefix = "ENCR_", is_legacy = e->legacy;
                } else if (p->t[i].type == BH_TRANSFORM_INTEG) {
                        const BhIntegInfo *in = bh_integ_lookup(p->t[i].id);
                        if (!in)
                                continue;
                        name = in->name, prefix = "AUTH_", is_legacy = in->legacy;
                } else
                        continue;
                if (g_str_has_prefix(name, prefix))
                        name += strlen(prefix);
                g_string_append_printf(s, "%s%s", sep, name);
                if (p->t[i].key_bits)
                        g_string_append_printf(s, "_%u", p->t[i].key_bits);
                if (is_legacy)
                        g_string_append(s, " (legacy)");
                legacy |= is_legacy;
                sep = ", ";
        }
        if (ret_legacy)
                *ret_legacy = legacy;
        return g_string_free(s, FALSE);
}

static void append_sa(DBusMessageIter *arr, const BhTunnel *t, bool ah, const char *dir, uint32_t spi) {
        const BhProposal *p = ah ? &t->ah : &t->esp;
        const BhProposalTransform *enc = find_transform(p, BH_TRANSFORM_ENCR);
        const BhProposalTransform *integ = find_transform(p, BH_TRANSFORM_INTEG);
        const BhProposalTransform *esn = find_transform(p, BH_TRANSFORM_ESN);
        char local[BH_ADDR_STRLEN], remote[BH_ADDR_STRLEN];
        const char *tunnel = t->name, *proto = ah ? "ah" : "esp";
        const char *mode = t->mode == BH_MODE_TRANSPORT ? "transport" : "tunnel";
        const char *encap = t->encap == BH_ENCAP_UDP ? "udp" : "esp";
        const char *l = bh_addr_to_string(&t->local, local), *r = bh_addr_to_string(&t->remote, remote);
        dbus_uint32_t s = spi;
        dbus_uint16_t e = enc ? enc->id : 0, bits = enc ? enc->key_bits : 0, i = integ ? integ->id : 0;
        dbus_bool_t x = esn && esn->id == 1, replay = t->replay;
        DBusMessageIter st;
        dbus_message_iter_open_container(arr, DBUS_TYPE_STRUCT, NULL, &st);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &tunnel);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &dir);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &proto);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &s);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &e);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &bits);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &i);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &x);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &replay);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &mode);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &encap);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &l);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &r);
        dbus_message_iter_close_container(arr, &st);
}

static void append_ts(DBusMessageIter *it, const BhTs *ts, size_t n) {
        DBusMessageIter arr;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "s", &arr);
        for (size_t i = 0; i < n; i++) {
                char buf[BH_TS_STRLEN];
                const char *s = bh_ts_to_string(&ts[i], buf);
                dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &s);
        }
        dbus_message_iter_close_container(it, &arr);
}

/* Tunnel mode: the remote selector I is reached through the TUN device,
 * from the first local selector's address of its family that is one host
 * (SRC, else empty). Transport mode: one route, to the remote address
 * alone, from the local one (the selectors may be wider, but the two
 * hosts' own traffic is all the tunnel carries); the suite's own ESP and
 * IKE to that address pass it by (services/supervisor/route.h). Returns
 * the prefix. */
static char *route_of(const BhTunnel *d, size_t i, char src[static BH_ADDR_STRLEN]) {
        char buf[BH_ADDR_STRLEN];
        if (d->mode == BH_MODE_TRANSPORT && !bh_addr_is_any(&d->remote)) {
                bh_addr_to_string(&d->local, src);
                return g_strdup_printf("%s/%u", bh_addr_to_string(&d->remote, buf),
                                       d->remote.family == AF_INET ? 32u : 128u);
        }
        const BhTs *ts = &d->remote_ts[i];
        src[0] = '\0';
        for (size_t j = 0; j < d->n_local_ts; j++) {
                const BhTs *l = &d->local_ts[j];
                if (l->addr.family == ts->addr.family && l->prefix_len == (l->addr.family == AF_INET ? 32 : 128)) {
                        bh_addr_to_string(&l->addr, src);
                        break;
                }
        }
        return g_strdup_printf("%s/%u", bh_addr_to_string(&ts->addr, buf), ts->prefix_len);
}

/* How many routes route_of() gives. */
static size_t n_routes(const BhTunnel *d) {
        return d->mode == BH_MODE_TRANSPORT && !bh_addr_is_any(&d->remote) ? 1 : d->n_remote_ts;
}

/* ---------------------------------------------------------------- traps */

/* Whether the tunnel keeps a trap in filterd while it is down: an IKE
 * tunnel with start = trap that may initiate. */
static bool trapped(const BhTunnel *d) {
        return d && d->type == BH_TUNNEL_IKE && d->start == BH_START_TRAP && !bh_addr_is_any(&d->remote);
}

static void trap_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        char *name = userdata;
        if (!reply)
                bh_log_tunnel(BH_LOG_ERRORS, name, "trap: %s", error_message);
        g_free(name);
}

/* The trap goes into filterd (Filter1.SetTrap) and its remote selectors
 * are routed through the TUN device, so that the tunnel's first packet
 * reaches filterd, which drops it and signals Acquire. No Acquire comes
 * before HOLDDOWN seconds. Also when it is there already: a restarted
 * filterd, a failed negotiation (to start the hold-down). */
static void trap_install(Tmd *tmd, const BhTunnel *d, unsigned holddown) {
        Tunnel *t = tunnel_state(tmd, d->name);
        BhIpc *ipc = tmd->svc->ipc;
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "SetTrap");
        DBusMessageIter it;
        dbus_message_iter_init_append(m, &it);
        const char *name = d->name;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &name);
        append_ts(&it, d->local_ts, d->n_local_ts);
        append_ts(&it, d->remote_ts, d->n_remote_ts);
        dbus_uint32_t hold = holddown;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &hold);
        bh_ipc_call(ipc, BH_SERVICE_FILTERD, m, BH_CALL_TIMEOUT_MS, trap_reply, g_strdup(d->name));
        dbus_message_unref(m);
        g_ptr_array_set_size(t->routes, 0);
        for (size_t i = 0; i < n_routes(d); i++) {
                char src[BH_ADDR_STRLEN];
                g_autofree char *prefix = route_of(d, i, src);
                const char *p = prefix, *sp = src;
                m = bh_method_new_peer(BH_SERVICE_SUPERVISOR, &bh_iface_supervisor1, "AddRoute");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &p, DBUS_TYPE_STRING, &sp, DBUS_TYPE_INVALID);
                g_ptr_array_add(t->routes, g_strdup(prefix));
                bh_ipc_call(ipc, BH_SERVICE_SUPERVISOR, m, BH_CALL_TIMEOUT_MS, trap_reply, g_strdup(d->name));
                dbus_message_unref(m);
        }
        bh_log_tunnel(BH_LOG_DEBUG, d->name, "trap set (start = trap)");
}

/* Down, and nothing under way that will set the trap by itself. */
static bool trap_idle(const Tunnel *t) {
        return (t->state == TUNNEL_INACTIVE || t->state == TUNNEL_FAILED) && !t->tearing && !t->negotiating;
}

/* The trap of a tunnel that is down goes, with its routes: its definition
 * changed or went. */
static void trap_remove(Tmd *tmd, Tunnel *t) {
        BhIpc *ipc = tmd->svc->ipc;
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "RemovePolicy");
        const char *name = t->name;
        dbus_message_append_args(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        bh_ipc_call(ipc, BH_SERVICE_FILTERD, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
        dbus_message_unref(m);
        for (guint i = 0; i < t->routes->len; i++) {
                const char *prefix = g_ptr_array_index(t->routes, i);
                m = bh_method_new_peer(BH_SERVICE_SUPERVISOR, &bh_iface_supervisor1, "DelRoute");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &prefix, DBUS_TYPE_INVALID);
                bh_ipc_call(ipc, BH_SERVICE_SUPERVISOR, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
                dbus_message_unref(m);
        }
        g_ptr_array_set_size(t->routes, 0);
        bh_log_tunnel(BH_LOG_DEBUG, t->name, "trap removed");
}

/* Taking a tunnel down, also after a failed activation: every step is
 * tried, whatever the others answer. */
static void teardown_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata);
static void terminated(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata);
static void negotiate(Tmd *tmd, BhCall *call, const BhTunnel *def, bool phase1_only);
static void set_policy(Step *s);

static void child_removed(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata);

static void teardown(Step *s) {
        Tmd *tmd = s->tmd;
        Tunnel *t = tunnel_state(tmd, s->name);
        BhIpc *ipc = tmd->svc->ipc;
        if (s->child_only && !s->child_gone && s->def->type == BH_TUNNEL_IKE) {
                /* isakmpd first: it may refuse (a rekey under way), and the
                 * tunnel then stays as it is. */
                DBusMessage *m = bh_method_new_peer(BH_SERVICE_ISAKMPD, &bh_iface_isakmpd1, "RemoveChild");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &s->name, DBUS_TYPE_INVALID);
                bh_ipc_call(ipc, BH_SERVICE_ISAKMPD, m, BH_CALL_TIMEOUT_MS, child_removed, s);
                dbus_message_unref(m);
                return;
        }
        t->tearing = s;
        t->up_pending = false;
        s->waiting = 1;
        DBusMessage *m;
        if (!s->child_only && s->def->type == BH_TUNNEL_IKE && t->phase1 != NULL && strcmp(t->phase1, "inactive") != 0 &&
            strcmp(t->phase1, "failed") != 0) {
                m = bh_method_new_peer(BH_SERVICE_ISAKMPD, &bh_iface_isakmpd1, "Terminate");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &s->name, DBUS_TYPE_INVALID);
                s->waiting++;
                t->terminating = true;
                bh_ipc_call(ipc, BH_SERVICE_ISAKMPD, m, BH_CALL_TIMEOUT_MS, terminated, s);
                dbus_message_unref(m);
        }
        if (s->def->type == BH_TUNNEL_IKE && !s->child_only)
                set_phase1(t, s->error ? "failed" : "inactive");
        m = bh_method_new_peer(BH_SERVICE_CRYPTOD, &bh_iface_crypto1, "RemoveManual");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &s->name, DBUS_TYPE_INVALID);
        s->waiting++;
        bh_ipc_call(ipc, BH_SERVICE_CRYPTOD, m, BH_CALL_TIMEOUT_MS, teardown_reply, s);
        dbus_message_unref(m);
        /* start = trap: the trap takes the policy's place (after a failure,
         * holding the traffic down a while), and the routes stay. Not when
         * the definition changed or went (a reload). */
        const BhTunnel *cur = tunnel_def(t);
        s->trap_kept = trapped(s->def) && trapped(cur) && bh_tunnel_equal(cur, s->def);
        if (s->trap_kept) {
                trap_install(tmd, s->def, s->error ? TRAP_HOLDDOWN_S : 0);
                teardown_reply(NULL, NULL, NULL, s);   /* the one held above */
                return;
        }
        m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "RemovePolicy");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &s->name, DBUS_TYPE_INVALID);
        s->waiting++;
        bh_ipc_call(ipc, BH_SERVICE_FILTERD, m, BH_CALL_TIMEOUT_MS, teardown_reply, s);
        dbus_message_unref(m);
        for (guint i = 0; i < t->routes->len; i++) {
                const char *prefix = g_ptr_array_index(t->routes, i);
                m = bh_method_new_peer(BH_SERVICE_SUPERVISOR, &bh_iface_supervisor1, "DelRoute");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &prefix, DBUS_TYPE_INVALID);
                s->waiting++;
                bh_ipc_call(ipc, BH_SERVICE_SUPERVISOR, m, BH_CALL_TIMEOUT_MS, teardown_reply, s);
                dbus_message_unref(m);
        }
        g_ptr_array_set_size(t->routes, 0);
        teardown_reply(NULL, NULL, NULL, s);   /* the one held above */
}

static void child_removed(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Step *s = userdata;
        Tunnel *t = tunnel_state(s->tmd, s->name);
        if (reply || (error_name && strcmp(error_name, BH_ERROR_NOT_FOUND) == 0)) {
                s->child_gone = true;   /* gone now, or already */
                teardown(s);
                return;
        }
        if (s->phase1_only) {
                /* Phase 1 alone was asked for and cannot be had: all of it
                 * goes, and the activation fails with the cause. */
                step_note(s, "isakmpd", error_message);
                s->child_only = false;
                set_state(s->tmd, t, TUNNEL_ACTIVATING, NULL);
                teardown(s);
                return;
        }
        bh_log_tunnel(BH_LOG_INFORMATION, s->name, "phase 2 stays: isakmpd: %s", error_message);
        set_state(s->tmd, t, TUNNEL_ACTIVE, NULL);
        if (s->call)
                bh_call_error(s->call, error_name ? error_name : BH_ERROR_FAILED, "isakmpd: %s", error_message);
        step_free(s);
}

/* isakmpd has ended the IKE SA: a TunnelUp that comes after this answer
 * (isakmpd sends in order) is a new SA's, one before it was the old SA's
 * (a rekey's). */
static void terminated(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Step *s = userdata;
        tunnel_state(s->tmd, s->name)->terminating = false;
        teardown_reply(reply, error_name, error_message, userdata);
}

static void teardown_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Step *s = userdata;
        if (!reply && error_name && strcmp(error_name, BH_ERROR_NOT_FOUND) != 0)
                bh_log_tunnel(BH_LOG_INFORMATION, s->name, "while taking down: %s", error_message);
        if (--s->waiting > 0)
                return;
        Tunnel *t = tunnel_state(s->tmd, s->name);
        t->tearing = NULL;
        if (t->state == TUNNEL_REMOVING) {
                set_state(s->tmd, t, TUNNEL_INACTIVE, NULL);
                if (s->call)
                        bh_call_return_empty(s->call);
        } else {
                /* After a failed activation: say why it failed. */
                set_state(s->tmd, t, TUNNEL_FAILED, s->error);
                if (s->call)
                        bh_call_error(s->call, BH_ERROR_FAILED, "%s", s->error);
        }
        if (t->up_pending) {
                /* The peer negotiated it anew while it was taken down:
                 * its SAs are in filterd; the policy and routes follow. */
                t->up_pending = false;
                bh_log_tunnel(BH_LOG_EVENTS, t->name, "negotiated by the peer while being taken down");
                set_state(s->tmd, t, TUNNEL_ACTIVATING, NULL);
                set_policy(step_new(s->tmd, NULL, s->def));
        } else if (s->renegotiate) {
                negotiate(s->tmd, NULL, s->def, false);
        } else if (!s->trap_kept && trapped(tunnel_def(t))) {
                /* Its definition changed (a reload) and traps: the new trap. */
                trap_install(s->tmd, tunnel_def(t), 0);
        }
        step_free(s);
}

static void activate_done(Step *s) {
        Tunnel *t = tunnel_state(s->tmd, s->name);
        if (s->error) {
                teardown(s);
                return;
        }
        set_state(s->tmd, t, TUNNEL_ACTIVE, NULL);
        g_clear_pointer(&t->failure, g_free);
        tunnel_changed(t, "Failure");
        if (s->call)
                bh_call_return_empty(s->call);
        step_free(s);
}

static void route_added(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Step *s = userdata;
        if (!reply)
                step_note(s, "routing", error_message);
        if (--s->waiting == 0)
                activate_done(s);
}

static void policy_set(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Step *s = userdata;
        if (!reply) {
                step_note(s, "filterd", error_message);
                activate_done(s);
                return;
        }
        /* Tunnel mode: the remote selectors are reached through the TUN
         * device, from the local selector's address when it is one host. */
        Tunnel *t = tunnel_state(s->tmd, s->name);
        const BhTunnel *d = s->def;
        s->waiting = 1;
        g_ptr_array_set_size(t->routes, 0);    /* a trap's, asked for again */
        for (size_t i = 0; i < n_routes(d); i++) {
                char src[BH_ADDR_STRLEN];
                g_autofree char *prefix = route_of(d, i, src);
                const char *p = prefix, *sp = src;
                DBusMessage *m = bh_method_new_peer(BH_SERVICE_SUPERVISOR, &bh_iface_supervisor1, "AddRoute");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &p, DBUS_TYPE_STRING, &sp, DBUS_TYPE_INVALID);
                s->waiting++;
                g_ptr_array_add(t->routes, g_strdup(prefix));
                bh_ipc_call(s->tmd->svc->ipc, BH_SERVICE_SUPERVISOR, m, BH_CALL_TIMEOUT_MS, route_added, s);
                dbus_message_unref(m);
        }
        route_added(reply, NULL, NULL, s);     /* the one held above */
}

/* The SAs are in filterd: the policy goes in, then the routes. */
static void set_policy(Step *s) {
        const BhTunnel *d = s->def;
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "SetPolicy");
        DBusMessageIter it;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &s->name);
        append_ts(&it, d->local_ts, d->n_local_ts);
        append_ts(&it, d->remote_ts, d->n_remote_ts);
        /* An IKE tunnel's SAs are rekeyed in time by isakmpd; a manual
         * tunnel's keys never change, and its lifetime in time is filterd's. */
        dbus_uint64_t bytes = d->lifetime_bytes, packets = d->lifetime_packets;
        dbus_uint32_t seconds = d->type == BH_TUNNEL_MANUAL ? d->lifetime : 0;
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &bytes);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &packets);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &seconds);
        bh_ipc_call(s->tmd->svc->ipc, BH_SERVICE_FILTERD, m, BH_CALL_TIMEOUT_MS, policy_set, s);
        dbus_message_unref(m);
}

static void sas_installed(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Step *s = userdata;
        if (!reply) {
                step_note(s, "cryptod", error_message);
                activate_done(s);
                return;
        }
        set_policy(s);
}

/* IKE tunnel: isakmpd negotiates; TunnelUp or TunnelDown continues. */
static void initiated(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Step *s = userdata;
        if (reply)
                return;
        Tunnel *t = tunnel_state(s->tmd, s->name);
        if (t->negotiating == s) {
                t->negotiating = NULL;
                step_note(s, "isakmpd", error_message);
                s->child_gone = true;   /* none was made */
                teardown(s);
        }
}

static void negotiate(Tmd *tmd, BhCall *call, const BhTunnel *def, bool phase1_only) {
        Tunnel *t = tunnel_state(tmd, def->name);
        Step *s = step_new(tmd, call, def);
        s->phase1_only = phase1_only;
        set_state(tmd, t, TUNNEL_ACTIVATING, NULL);
        t->negotiating = s;
        if (phase1_up(t)) {
                /* isakmpd makes a CHILD SA over the IKE SA that stayed; a
                 * failure takes phase 2 back alone. */
                s->child_only = true;
                bh_log_tunnel(BH_LOG_DEBUG, def->name, "phase 1 is up: asking isakmpd for phase 2");
        } else {
                set_phase1(t, "negotiating");
                g_hash_table_remove_all(t->info);
                tunnel_changed(t, "Info");
        }
        g_autofree char *text = bh_tunnel_format(def);
        const char *tx = text;
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_ISAKMPD, &bh_iface_isakmpd1, "Initiate");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &s->name, DBUS_TYPE_STRING, &tx, DBUS_TYPE_INVALID);
        bh_log_tunnel(BH_LOG_DEBUG, def->name, "asking isakmpd for phase 1 and phase 2");
        bh_ipc_call(tmd->svc->ipc, BH_SERVICE_ISAKMPD, m, BH_CALL_TIMEOUT_MS, initiated, s);
        dbus_message_unref(m);
}

/* Manual tunnel: cryptod puts both directions into filterd with the keys of
 * the secrets file, then the policy goes in and the routes are set. */
static void activate(Tmd *tmd, BhCall *call, const BhTunnel *def) {
        Tunnel *t = tunnel_state(tmd, def->name);
        Step *s = step_new(tmd, call, def);
        set_state(tmd, t, TUNNEL_ACTIVATING, NULL);
        /* Said again at each activation, not only when the file was read:
         * the operator who brings it up is the one to remind. */
        for (int ah = 0; ah <= 1; ah++) {
                bool legacy;
                if (!(ah ? def->has_ah : def->has_esp))
                        continue;
                g_autofree char *what = transforms_describe(ah ? &def->ah : &def->esp, &legacy);
                if (legacy)
                        bh_log_tunnel(BH_LOG_EVENTS, def->name, "warning: %s uses legacy algorithms: %s",
                                      ah ? "ah" : "esp", what);
        }
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_CRYPTOD, &bh_iface_crypto1, "InstallManual");
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &s->name);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(sssuqqqbbssss)", &arr);
        if (def->has_esp) {
                append_sa(&arr, def, false, "out", def->esp_spi_out);
                append_sa(&arr, def, false, "in", def->esp_spi_in);
        }
        if (def->has_ah) {
                append_sa(&arr, def, true, "out", def->ah_spi_out);
                append_sa(&arr, def, true, "in", def->ah_spi_in);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_ipc_call(tmd->svc->ipc, BH_SERVICE_CRYPTOD, m, BH_CALL_TIMEOUT_MS, sas_installed, s);
        dbus_message_unref(m);
}

/* Once cryptod and filterd are there: a restarted tmd learns from filterd
 * which tunnels are up (their SAs are there), then brings up the tunnels
 * marked start = start that are not. */
static void synced(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Tmd *tmd = userdata;
        DBusMessageIter it, arr, st;
        if (reply && dbus_message_has_signature(reply, "a(sssusttt)")) {
                dbus_message_iter_init(reply, &it);
                dbus_message_iter_recurse(&it, &arr);
                for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr)) {
                        const char *name;
                        dbus_message_iter_recurse(&arr, &st);
                        dbus_message_iter_get_basic(&st, &name);
                        const BhTunnel *d = bh_tunnel_set_find(tmd->defs, name);
                        Tunnel *t = d ? tunnel_state(tmd, d->name) : NULL;
                        if (!t || t->state == TUNNEL_ACTIVE)
                                continue;
                        t->state = TUNNEL_ACTIVE;
                        g_ptr_array_set_size(t->routes, 0);
                        for (size_t i = 0; i < n_routes(d); i++) {
                                char src[BH_ADDR_STRLEN];
                                g_ptr_array_add(t->routes, route_of(d, i, src));
                        }
                        bh_log_tunnel(BH_LOG_EVENTS, d->name, "found up in filterd");
                }
        } else if (!reply) {
                bh_log_error("cannot learn the tunnels that are up from filterd: %s", error_message);
        }
        for (guint i = 0; i < bh_tunnel_set_size(tmd->defs); i++) {
                const BhTunnel *d = bh_tunnel_set_get(tmd->defs, i);
                Tunnel *t = tunnel_state(tmd, d->name);
                if (trapped(d) && trap_idle(t)) {
                        trap_install(tmd, d, 0);
                        continue;
                }
                if (d->start != BH_START_START || t->state != TUNNEL_INACTIVE)
                        continue;
                if (d->type == BH_TUNNEL_MANUAL && !(d->has_ah && d->has_esp)) {
                        bh_log_tunnel(BH_LOG_EVENTS, d->name, "starting (start = start)");
                        activate(tmd, NULL, d);
                } else if (d->type == BH_TUNNEL_IKE && !bh_addr_is_any(&d->remote)) {
                        bh_log_tunnel(BH_LOG_EVENTS, d->name, "negotiating (start = start)");
                        negotiate(tmd, NULL, d, false);
                }
        }
}

static void sync_once(Tmd *tmd) {
        BhIpc *ipc = tmd->svc->ipc;
        if (tmd->synced || !bh_ipc_owner(ipc, BH_SERVICE_FILTERD) || !bh_ipc_owner(ipc, BH_SERVICE_CRYPTOD) ||
            !bh_ipc_owner(ipc, BH_SERVICE_ISAKMPD))
                return;
        tmd->synced = true;
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "ListSAs");
        bh_ipc_call(ipc, BH_SERVICE_FILTERD, m, BH_CALL_TIMEOUT_MS, synced, tmd);
        dbus_message_unref(m);
}

/* A service that holds tunnel state came back after a restart. filterd
 * starts with an empty SAD: every tunnel that was up is put back. cryptod
 * forgot the IKE SAs' keys and isakmpd the IKE SAs: the IKE tunnels are
 * negotiated again (a CHILD SA's keys were derived once and went with the
 * IKE SA; cryptod keeps no copy). Manual tunnels keep their SAs in filterd
 * through restarts of the others. The routes stayed (the TUN device is the
 * supervisor's); cryptod opens a new peer connection by itself. */
static void owner_changed(BhServiceId service, const char *owner, void *userdata) {
        Tmd *tmd = userdata;
        if (!tmd->synced) {
                sync_once(tmd);
                return;
        }
        if (!owner || (service != BH_SERVICE_FILTERD && service != BH_SERVICE_CRYPTOD && service != BH_SERVICE_ISAKMPD))
                return;
        const char *who = bh_suite[service].name;
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, tmd->tunnels);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Tunnel *t = value;
                const BhTunnel *d = bh_tunnel_set_find(tmd->defs, t->name);
                if (!d || (d->type != BH_TUNNEL_IKE && service != BH_SERVICE_FILTERD))
                        continue;
                if (service == BH_SERVICE_FILTERD && trapped(d) && trap_idle(t)) {
                        /* The new filterd's SPD is empty: the trap again. */
                        trap_install(tmd, d, 0);
                        continue;
                }
                if (d->type == BH_TUNNEL_IKE && service == BH_SERVICE_ISAKMPD && t->negotiating) {
                        /* Its answer will never come. */
                        Step *s = t->negotiating;
                        t->negotiating = NULL;
                        step_note(s, "isakmpd", "restarted during the negotiation");
                        teardown(s);
                        continue;
                }
                if (d->type == BH_TUNNEL_IKE && t->state == TUNNEL_INACTIVE && phase1_up(t) &&
                    service != BH_SERVICE_FILTERD) {
                        /* Phase 1 alone was up: isakmpd lost it, or cryptod its
                         * keys (then isakmpd ends it). */
                        g_autofree char *cause = g_strdup_printf("%s restarted", who);
                        bh_log_tunnel(BH_LOG_EVENTS, t->name, "%s: phase 1 is gone", cause);
                        if (service == BH_SERVICE_CRYPTOD) {
                                DBusMessage *m = bh_method_new_peer(BH_SERVICE_ISAKMPD, &bh_iface_isakmpd1, "Terminate");
                                dbus_message_append_args(m, DBUS_TYPE_STRING, &t->name, DBUS_TYPE_INVALID);
                                bh_ipc_call(tmd->svc->ipc, BH_SERVICE_ISAKMPD, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
                                dbus_message_unref(m);
                        }
                        set_phase1(t, "inactive");
                        set_failure(t, cause);
                        continue;
                }
                if (t->state != TUNNEL_ACTIVE)
                        continue;
                if (d->type == BH_TUNNEL_IKE) {
                        bh_log_tunnel(BH_LOG_EVENTS, t->name, "%s restarted: negotiating the tunnel again", who);
                        g_autofree char *cause = g_strdup_printf("%s restarted", who);
                        set_state(tmd, t, TUNNEL_REMOVING, cause);
                        Step *s = step_new(tmd, NULL, d);
                        s->renegotiate = true;
                        teardown(s);
                        continue;
                }
                bh_log_tunnel(BH_LOG_EVENTS, t->name, "filterd restarted: installing the tunnel again");
                /* Through the same steps as an activation; the routes are
                 * still there, so the route step only replaces them. */
                g_ptr_array_set_size(t->routes, 0);
                activate(tmd, NULL, d);
        }
}

/* ---------------------------------------------------------------- methods */

static const BhTunnel *find_def(Tmd *tmd, BhCall *call, const char *name) {
        const BhTunnel *d = bh_tunnel_set_find(tmd->defs, name);
        if (!d)
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no tunnel named \"%s\" is defined", name);
        return d;
}

/* What Activate and ActivatePhase1 check before anything is done: the
 * definition, or NULL after answering the call with the error. */
static const BhTunnel *activatable(Tmd *tmd, BhCall *call) {
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        const BhTunnel *d = find_def(tmd, call, name);
        if (!d)
                return NULL;
        Tunnel *t = tunnel_state(tmd, d->name);
        if (t->state == TUNNEL_ACTIVE || t->state == TUNNEL_ACTIVATING) {
                bh_call_error(call, BH_ERROR_EXISTS, "tunnel %s is already %s", d->name, state_names[t->state]);
                return NULL;
        }
        if (t->state == TUNNEL_REMOVING) {
                bh_call_error(call, BH_ERROR_INVALID_STATE, "tunnel %s is being removed", d->name);
                return NULL;
        }
        if (d->type == BH_TUNNEL_IKE && bh_addr_is_any(&d->remote)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS,
                              "tunnel %s has remote %%any: it only answers its peers and cannot be activated", d->name);
                return NULL;
        }
        if (d->has_ah && d->has_esp) {
                bh_call_error(call, BH_ERROR_NOT_SUPPORTED,
                              "tunnel %s combines AH and ESP: not in this version's data path (use one)", d->name);
                return NULL;
        }
        return d;
}

static void tmd_handle_activate(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const BhTunnel *d = activatable(tmd, call);
        if (!d)
                return;
        char who[128];
        bh_log_tunnel(BH_LOG_INFORMATION, d->name, "activation asked by %s",
                      bh_caller_describe(bh_call_caller(call), who, sizeof who));
        if (d->type == BH_TUNNEL_IKE)
                negotiate(tmd, call, d, false);
        else
                activate(tmd, call, d);
}

static void tmd_handle_activate_phase1(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const BhTunnel *d = activatable(tmd, call);
        if (!d)
                return;
        if (d->type != BH_TUNNEL_IKE) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS,
                              "tunnel %s is a manual tunnel: it has no phase 1 (activate it without phase=)", d->name);
                return;
        }
        if (phase1_up(tunnel_state(tmd, d->name))) {
                bh_call_error(call, BH_ERROR_EXISTS, "tunnel %s: phase 1 is already active", d->name);
                return;
        }
        char who[128];
        bh_log_tunnel(BH_LOG_INFORMATION, d->name, "activation of phase 1 alone asked by %s",
                      bh_caller_describe(bh_call_caller(call), who, sizeof who));
        negotiate(tmd, call, d, true);
}

static void tmd_handle_remove(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        const BhTunnel *d = find_def(tmd, call, name);
        if (!d)
                return;
        Tunnel *t = tunnel_state(tmd, d->name);
        bool phase1_alone = d->type == BH_TUNNEL_IKE && t->state == TUNNEL_INACTIVE && phase1_up(t);
        if (t->state != TUNNEL_ACTIVE && t->state != TUNNEL_FAILED && !phase1_alone) {
                bh_call_error(call, BH_ERROR_INVALID_STATE, "tunnel %s is %s", d->name, state_names[t->state]);
                return;
        }
        set_state(tmd, t, TUNNEL_REMOVING, NULL);
        teardown(step_new(tmd, call, d));
}

static void tmd_handle_remove_phase2(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        const BhTunnel *d = find_def(tmd, call, name);
        if (!d)
                return;
        if (d->type != BH_TUNNEL_IKE) {
                tmd_handle_remove(call, userdata);
                return;
        }
        Tunnel *t = tunnel_state(tmd, d->name);
        if (t->state != TUNNEL_ACTIVE || !phase1_up(t)) {
                bh_call_error(call, BH_ERROR_INVALID_STATE, "tunnel %s: phase 2 is %s", d->name, state_names[t->state]);
                return;
        }
        char who[128];
        bh_log_tunnel(BH_LOG_INFORMATION, d->name, "phase 2 removal asked by %s",
                      bh_caller_describe(bh_call_caller(call), who, sizeof who));
        set_state(tmd, t, TUNNEL_REMOVING, NULL);
        Step *s = step_new(tmd, call, d);
        s->child_only = true;
        teardown(s);
}

static void tmd_handle_reload(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        BhTunnelSet *old = tmd->defs;
        tmd->defs = NULL;
        load(tmd, old, errors);
        /* Removed or changed and up: take down (a changed one comes back by
         * the operator's activate, with its new definition). */
        for (guint i = 0; i < bh_tunnel_set_size(old); i++) {
                const BhTunnel *d = bh_tunnel_set_get(old, i);
                const BhTunnel *n = bh_tunnel_set_find(tmd->defs, d->name);
                Tunnel *t = g_hash_table_lookup(tmd->tunnels, d->name);
                if (t && t->state == TUNNEL_ACTIVE && (!n || !bh_tunnel_equal(d, n))) {
                        set_state(tmd, t, TUNNEL_REMOVING, n ? "definition changed" : "definition removed");
                        teardown(step_new(tmd, NULL, d));
                }
        }
        /* start = trap: the traps of the tunnels that are down follow the
         * new definitions (those taken down above, once they are down). */
        for (guint i = 0; i < bh_tunnel_set_size(old); i++) {
                const BhTunnel *d = bh_tunnel_set_get(old, i);
                const BhTunnel *n = bh_tunnel_set_find(tmd->defs, d->name);
                Tunnel *t = g_hash_table_lookup(tmd->tunnels, d->name);
                if (t && trapped(d) && trap_idle(t) && !bh_tunnel_equal(d, n))
                        trap_remove(tmd, t);
        }
        for (guint i = 0; i < bh_tunnel_set_size(tmd->defs); i++) {
                const BhTunnel *n = bh_tunnel_set_get(tmd->defs, i);
                const BhTunnel *d = bh_tunnel_set_find(old, n->name);
                Tunnel *t = tunnel_state(tmd, n->name);
                if (trapped(n) && trap_idle(t) && !(trapped(d) && bh_tunnel_equal(d, n)))
                        trap_install(tmd, n, 0);
        }
        bh_log_event("tunnel definitions reloaded: %u tunnels", bh_tunnel_set_size(tmd->defs));
        bh_tunnel_set_free(old);
        g_ptr_array_add(errors, NULL);
        DBusMessage *reply = bh_call_new_return(call);
        char **v = (char **) errors->pdata;
        dbus_message_append_args(reply, DBUS_TYPE_ARRAY, DBUS_TYPE_STRING, &v, (int) errors->len - 1,
                                 DBUS_TYPE_INVALID);
        bh_call_return_message(call, reply);
}

static void tmd_handle_list_tunnels(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, st;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(usssss)", &arr);
        for (guint i = 0; i < bh_tunnel_set_size(tmd->defs); i++) {
                const BhTunnel *d = bh_tunnel_set_get(tmd->defs, i);
                Tunnel *t = g_hash_table_lookup(tmd->tunnels, d->name);
                char local[BH_ADDR_STRLEN], remote[BH_ADDR_STRLEN];
                const char *name = d->name, *l = bh_addr_to_string(&d->local, local),
                           *r = bh_addr_to_string(&d->remote, remote);
                /* A manual tunnel has no phase 1: its SAs are phase 2 alone. */
                const char *p1 = d->type == BH_TUNNEL_MANUAL ? "-" : t ? t->phase1 : "inactive";
                g_autofree char *p2 = NULL;
                TunnelState state = t ? t->state : TUNNEL_INACTIVE;
                if (state == TUNNEL_FAILED && t->failure)
                        p2 = g_strdup_printf("failed: %s", t->failure);
                else
                        p2 = g_strdup(state_names[state]);
                const char *p2c = p2;
                dbus_uint32_t number = d->number;
                dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &number);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &name);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &l);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &r);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &p1);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &p2c);
                dbus_message_iter_close_container(&arr, &st);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void tmd_handle_match(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const char *local, *remote;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &local, DBUS_TYPE_STRING, &remote,
                              DBUS_TYPE_INVALID);
        BhAddr l, r;
        if (bh_addr_parse(local, false, &l) < 0 || bh_addr_parse(remote, false, &r) < 0) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "invalid address");
                return;
        }
        /* A tunnel naming the peer comes before one open to %any. */
        char lb[BH_ADDR_STRLEN], rb[BH_ADDR_STRLEN];
        g_autofree char *exact = g_strdup_printf("%s %s", bh_addr_to_string(&l, lb), bh_addr_to_string(&r, rb));
        g_autofree char *any = g_strdup_printf("%s %%any", lb);
        const BhTunnel *found = g_hash_table_lookup(tmd->by_peer, exact);
        if (!found)
                found = g_hash_table_lookup(tmd->by_peer, any);
        if (!found) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no IKE tunnel from %s to %s is defined", local, remote);
                return;
        }
        g_autofree char *text = bh_tunnel_format(found);
        const char *name = found->name, *tx = text;
        bh_log_tunnel(BH_LOG_DEBUG, found->name, "matches the peer %s", remote);
        bh_call_return(call, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &tx, DBUS_TYPE_INVALID);
}

static void tmd_handle_tunnel_up(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const char *name;
        DBusMessageIter it, arr, e;
        dbus_message_iter_init(bh_call_message(call), &it);
        dbus_message_iter_get_basic(&it, &name);
        dbus_message_iter_next(&it);
        const BhTunnel *d = find_def(tmd, call, name);
        if (!d)
                return;
        Tunnel *t = tunnel_state(tmd, d->name);
        g_hash_table_remove_all(t->info);
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                const char *k, *v;
                dbus_message_iter_recurse(&arr, &e);
                dbus_message_iter_get_basic(&e, &k);
                dbus_message_iter_next(&e);
                dbus_message_iter_get_basic(&e, &v);
                g_hash_table_replace(t->info, g_strdup(k), g_strdup(v));
        }
        tunnel_changed(t, "Info");
        set_phase1(t, "active");
        bh_call_return_empty(call);
        if (!g_hash_table_contains(t->info, "esp_spi_in"))
                return;         /* the IKE SA alone, rekeyed while phase 2 is down */
        Step *s = t->negotiating;
        t->negotiating = NULL;
        if (!s && t->tearing) {
                /* The policy and routes are on their way out: they go in
                 * again once they are out (teardown_reply), if this is a
                 * new IKE SA, not a rekey of the one being terminated. */
                if (!t->terminating)
                        t->up_pending = true;
                return;
        }
        if (!s) {
                /* As responder: the peer started it. */
                if (t->state == TUNNEL_ACTIVE) {
                        bh_log_tunnel(BH_LOG_INFORMATION, d->name, "SAs renewed: ESP %s in, %s out",
                                      (const char *) g_hash_table_lookup(t->info, "esp_spi_in"),
                                      (const char *) g_hash_table_lookup(t->info, "esp_spi_out"));
                        return;
                }
                bh_log_tunnel(BH_LOG_EVENTS, d->name, "negotiated by the peer (%s)",
                              (const char *) g_hash_table_lookup(t->info, "remote_endpoint"));
                set_state(tmd, t, TUNNEL_ACTIVATING, NULL);
                s = step_new(tmd, NULL, d);
        }
        if (s->phase1_only) {
                /* IKEv2 made a CHILD SA with the IKE SA (RFC 7296 1.2); the
                 * operator asked for phase 1 alone: it goes before any
                 * policy or route, as ike cmd=remove phase=2 would. */
                bh_log_tunnel(BH_LOG_EVENTS, d->name, "phase 1 up: %s; phase 2 taken down again (phase=1 asked)",
                              (const char *) g_hash_table_lookup(t->info, "ike_proposal"));
                set_state(tmd, t, TUNNEL_REMOVING, NULL);
                s->child_only = true;
                teardown(s);
                return;
        }
        bh_log_tunnel(BH_LOG_EVENTS, d->name, "phase 1 and phase 2 up: %s, %s",
                      (const char *) g_hash_table_lookup(t->info, "ike_proposal"),
                      (const char *) g_hash_table_lookup(t->info, "esp_proposal"));
        set_policy(s);
}

/* TunnelDown, ChildDown, NegotiationFailed: the tunnel (answered at once)
 * and the cause in words; NULL when no such tunnel is defined. */
static Tunnel *isakmpd_report(Tmd *tmd, BhCall *call, const BhTunnel **def, const char **cause) {
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, cause,
                              DBUS_TYPE_INVALID);
        *def = find_def(tmd, call, name);
        if (!*def)
                return NULL;
        bh_call_return_empty(call);
        return tunnel_state(tmd, (*def)->name);
}

static void tmd_handle_tunnel_down(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const BhTunnel *d;
        const char *cause;
        Tunnel *t = isakmpd_report(tmd, call, &d, &cause);
        if (!t)
                return;
        Step *s = t->negotiating;
        t->negotiating = NULL;
        set_phase1(t, "inactive");
        if (t->tearing) {
                /* Already on its way down; an SA that came up meanwhile is gone again. */
                t->up_pending = false;
        } else if (s) {
                step_note(s, "negotiation", cause);
                teardown(s);
        } else if (t->state == TUNNEL_ACTIVE || t->state == TUNNEL_ACTIVATING) {
                set_state(tmd, t, TUNNEL_REMOVING, cause);
                teardown(step_new(tmd, NULL, d));
        } else if (t->state == TUNNEL_INACTIVE) {
                set_failure(t, cause);  /* phase 1 alone was up: why it ended */
        } else if (t->state != TUNNEL_REMOVING) {
                set_state(tmd, t, TUNNEL_FAILED, cause);
        }
}

static void tmd_handle_child_down(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const BhTunnel *d;
        const char *cause;
        Tunnel *t = isakmpd_report(tmd, call, &d, &cause);
        if (!t)
                return;
        Step *s = t->negotiating;
        t->negotiating = NULL;
        if (t->tearing)
                return;
        if (s) {
                step_note(s, "phase 2", cause);
        } else if (t->state == TUNNEL_ACTIVE || t->state == TUNNEL_ACTIVATING) {
                set_state(tmd, t, TUNNEL_REMOVING, cause);
                s = step_new(tmd, NULL, d);
        } else {
                return;
        }
        s->child_only = true;
        s->child_gone = true;
        teardown(s);
}

static void tmd_handle_negotiation_failed(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const BhTunnel *d;
        const char *cause;
        Tunnel *t = isakmpd_report(tmd, call, &d, &cause);
        if (!t)
                return;
        if (t->state == TUNNEL_INACTIVE || t->state == TUNNEL_FAILED) {
                set_state(tmd, t, TUNNEL_FAILED, cause);
                set_phase1(t, "failed");
                return;
        }
        /* Up or on its way: the peer's failed attempt changes nothing. */
        set_failure(t, cause);
        bh_log_tunnel(BH_LOG_ERRORS, d->name, "a negotiation from the peer failed (the tunnel stays %s): %s",
                      state_names[t->state], cause);
}

/* Everything known of one tunnel, for ike cmd=list verbose. */
static void tmd_handle_get_tunnel(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        const BhTunnel *d = find_def(tmd, call, name);
        if (!d)
                return;
        Tunnel *t = tunnel_state(tmd, d->name);
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, e;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{ss}", &arr);
        g_autofree char *number = g_strdup_printf("%u", d->number);
        g_autofree char *lid = bh_identity_to_string(&d->local_id), *rid = bh_identity_to_string(&d->remote_id);
        g_autofree char *ike = bh_proposal_list_to_string(d->ike_proposals, d->n_ike_proposals);
        g_autofree char *esp = bh_proposal_list_to_string(d->esp_proposals, d->n_esp_proposals);
        g_autofree char *manual_esp = d->type == BH_TUNNEL_MANUAL && d->has_esp ? transforms_describe(&d->esp, NULL)
                                                                               : g_strdup("");
        g_autofree char *manual_ah = d->type == BH_TUNNEL_MANUAL && d->has_ah ? transforms_describe(&d->ah, NULL)
                                                                             : g_strdup("");
        char l[BH_ADDR_STRLEN], r[BH_ADDR_STRLEN];
        const char *pairs[][2] = {
                { "number", number },
                { "name", d->name },
                { "type", bh_tunnel_type_to_string(d->type) },
                { "local", bh_addr_to_string(&d->local, l) },
                { "remote", bh_addr_to_string(&d->remote, r) },
                { "state", state_names[t->state] },
                { "phase1", d->type == BH_TUNNEL_IKE ? t->phase1 : "-" },
                { "failure", t->failure ? t->failure : "" },
                { "local_id", d->type == BH_TUNNEL_IKE ? lid : "" },
                { "remote_id_configured", d->type == BH_TUNNEL_IKE ? rid : "" },
                { "ike_proposals", d->type == BH_TUNNEL_IKE ? ike : "" },
                { "esp_proposals", d->type == BH_TUNNEL_IKE ? esp : "" },
                { "esp", manual_esp },
                { "ah", manual_ah },
                { "start", bh_start_to_string(d->start) },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(pairs); i++) {
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &e);
                dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &pairs[i][0]);
                dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &pairs[i][1]);
                dbus_message_iter_close_container(&arr, &e);
        }
        GHashTableIter hi;
        gpointer k, v;
        g_hash_table_iter_init(&hi, t->info);
        while (g_hash_table_iter_next(&hi, &k, &v)) {
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &e);
                dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &k);
                dbus_message_iter_append_basic(&e, DBUS_TYPE_STRING, &v);
                dbus_message_iter_close_container(&arr, &e);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

/* filterd's Filter1.Acquire: a packet met the trap of a tunnel with
 * start = trap. It is negotiated as by Activate, unless it is up or on
 * its way already (filterd says it once per negotiation, but a negotiation
 * the peer started or an operator's may be under way). Only filterd's
 * word counts: anyone on the bus may emit a signal. */
static void acquire(DBusMessage *signal, void *userdata) {
        Tmd *tmd = userdata;
        const char *owner = bh_ipc_owner(tmd->svc->ipc, BH_SERVICE_FILTERD);
        const char *tunnel, *src, *dst;
        if (!owner || g_strcmp0(dbus_message_get_sender(signal), owner) != 0 ||
            !dbus_message_get_args(signal, NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_STRING, &src, DBUS_TYPE_STRING,
                                   &dst, DBUS_TYPE_INVALID))
                return;
        const BhTunnel *d = bh_tunnel_set_find(tmd->defs, tunnel);
        if (!trapped(d))
                return;         /* a trap its definition no longer has */
        Tunnel *t = tunnel_state(tmd, d->name);
        if (!trap_idle(t)) {
                bh_log_tunnel(BH_LOG_DEBUG, d->name, "traffic to %s met the trap while the tunnel is %s", dst,
                              state_names[t->state]);
                return;
        }
        bh_log_tunnel(BH_LOG_EVENTS, d->name, "traffic to %s (from %s), starting", dst, src);
        negotiate(tmd, NULL, d, false);
}

/* filterd's SALimit for a manual tunnel. Its keys never change: the soft
 * limit tells the operator that new keys are due, and the hard one, where
 * filterd stops carrying the SA, takes the tunnel down with the cause. The
 * SAs of IKE tunnels are isakmpd's: it rekeys them. */
static void sa_limit(DBusMessage *signal, void *userdata) {
        Tmd *tmd = userdata;
        const char *owner = bh_ipc_owner(tmd->svc->ipc, BH_SERVICE_FILTERD);
        const char *tunnel, *dir, *what;
        dbus_uint32_t spi;
        dbus_bool_t hard;
        if (!owner || g_strcmp0(dbus_message_get_sender(signal), owner) != 0 ||
            !dbus_message_get_args(signal, NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_STRING, &dir, DBUS_TYPE_UINT32,
                                   &spi, DBUS_TYPE_STRING, &what, DBUS_TYPE_BOOLEAN, &hard, DBUS_TYPE_INVALID))
                return;
        const BhTunnel *d = bh_tunnel_set_find(tmd->defs, tunnel);
        if (!d || d->type != BH_TUNNEL_MANUAL)
                return;
        Tunnel *t = tunnel_state(tmd, d->name);
        if (t->state != TUNNEL_ACTIVE)
                return;
        if (!hard) {
                bh_log_tunnel(BH_LOG_EVENTS, d->name, "SA %08x (%s) reached its soft limit of %s: it needs new keys "
                              "and SPIs before its hard limit, a tenth further on", spi, dir, what);
                return;
        }
        g_autofree char *cause = g_strdup_printf("SA %08x (%s) reached its hard limit of %s", spi, dir, what);
        set_state(tmd, t, TUNNEL_REMOVING, cause);
        teardown(step_new(tmd, NULL, d));
}

static void get_tunnel_count(DBusMessageIter *it, void *userdata) {
        Tmd *tmd = userdata;
        dbus_uint32_t n = bh_tunnel_set_size(tmd->defs);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static const BhMethodImpl tmd_methods[] = {
        { "ListTunnels", tmd_handle_list_tunnels },
        { "Activate", tmd_handle_activate },
        { "ActivatePhase1", tmd_handle_activate_phase1 },
        { "Remove", tmd_handle_remove },
        { "RemovePhase2", tmd_handle_remove_phase2 },
        { "Reload", tmd_handle_reload },
        { "Match", tmd_handle_match },
        { "TunnelUp", tmd_handle_tunnel_up },
        { "TunnelDown", tmd_handle_tunnel_down },
        { "ChildDown", tmd_handle_child_down },
        { "NegotiationFailed", tmd_handle_negotiation_failed },
        { "GetTunnel", tmd_handle_get_tunnel },
        {},
};

static const BhPropertyImpl tmd_properties[] = {
        { "TunnelCount", get_tunnel_count, NULL },
        {},
};

Tmd *tmd_new(BhService *svc) {
        Tmd *tmd = g_new0(Tmd, 1);
        tmd->svc = svc;
        tmd->dir = bh_service_config_path(svc, "tunnels.d");
        tmd->tunnels = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, tunnel_free);
        tmd->by_peer = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        load(tmd, NULL, errors);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_tmd1, tmd_methods, tmd_properties, tmd);
        bh_ipc_watch_owners(svc->ipc, owner_changed, tmd);
        bh_ipc_watch_signal(svc->ipc, bh_iface_filter1.name, "Acquire", acquire, tmd);
        bh_ipc_watch_signal(svc->ipc, bh_iface_filter1.name, "SALimit", sa_limit, tmd);
        sync_once(tmd);
        return tmd;
}

void tmd_free(Tmd *tmd) {
        if (!tmd)
                return;
        g_hash_table_destroy(tmd->by_peer);
        bh_tunnel_set_free(tmd->defs);
        g_hash_table_destroy(tmd->tunnels);
        g_free(tmd->dir);
        g_free(tmd);
}
