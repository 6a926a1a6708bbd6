/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "cryptod.h"
#include "secrets.h"
#include "transform.h"

/* A manual tunnel's SAs on their way to filterd: the tmd call waits until
 * filterd has answered for every one. */
typedef struct Install {
        Cryptod *c;
        BhCall *call;
        char *tunnel;
        unsigned waiting;
        unsigned installed;
        char *error;
        char *error_name;
} Install;

typedef void (*PeerTask)(Cryptod *c, BhConn *filterd, void *userdata);

struct Cryptod {
        BhService *svc;
        char *secrets_path;
        BhSecrets *secrets;
        GHashTable *manual;     /* tunnel -> SAs installed (a count) */
        /* The direct connection to filterd: keys never cross the bus daemon. */
        BhConn *filterd;
        bool opening;
        GQueue *tasks;          /* PeerTask + userdata waiting for it */
};

typedef struct Task {
        PeerTask func;
        void *userdata;
} Task;

/* ---------------------------------------------------------------- secrets */

static void load_secrets(Cryptod *c) {
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        BhSecrets *s = bh_secrets_new();
        /* The file must be ours (or root's) and closed to everyone else. */
        BhSecretsOwner owner = { getuid(), getgid() };
        int r = bh_secrets_load(s, c->secrets_path, &owner, errors);
        for (guint i = 0; i < errors->len; i++)
                bh_log_error("%s", (const char *) g_ptr_array_index(errors, i));
        if (r == -ENOENT) {
                bh_log_info("%s: none; manual tunnels and pre-shared keys cannot be used", c->secrets_path);
        } else if (r < 0 && errors->len == 0) {
                bh_log_error("%s: %s", c->secrets_path, g_strerror(-r));
        }
        bh_secrets_free(c->secrets);
        c->secrets = s;
        bh_log_info("%zu secrets loaded", bh_secrets_size(s));
}

/* ---------------------------------------------------------------- filterd */

static void run_tasks(Cryptod *c, BhConn *conn) {
        Task *t;
        while ((t = g_queue_pop_head(c->tasks))) {
                t->func(c, conn, t->userdata);
                g_free(t);
        }
}

static void peer_opened(BhConn *peer, const char *error, void *userdata) {
        Cryptod *c = userdata;
        c->opening = false;
        if (!peer)
                bh_log_error("no direct connection to filterd: %s", error);
        c->filterd = peer;
        run_tasks(c, peer);
}

/* Runs func with an open connection to filterd (NULL if none can be had). */
static void with_filterd(Cryptod *c, PeerTask func, void *userdata) {
        if (c->filterd && !bh_conn_is_open(c->filterd)) {
                bh_conn_close(c->filterd);      /* filterd restarted: open anew */
                c->filterd = NULL;
        }
        if (c->filterd) {
                func(c, c->filterd, userdata);
                return;
        }
        Task *t = g_new0(Task, 1);
        t->func = func;
        t->userdata = userdata;
        g_queue_push_tail(c->tasks, t);
        if (!c->opening) {
                c->opening = true;
                bh_ipc_open_peer(c->svc->ipc, BH_SERVICE_FILTERD, peer_opened, c);
        }
}

/* ---------------------------------------------------------------- manual SAs */

typedef struct SaArgs {
        const char *tunnel, *dir, *proto, *mode, *encap, *local, *remote;
        dbus_uint32_t spi;
        dbus_uint16_t encr, bits, integ;
        dbus_bool_t esn, replay;
} SaArgs;

static void read_sa(DBusMessageIter *st, SaArgs *a) {
        dbus_message_iter_get_basic(st, &a->tunnel);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->dir);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->proto);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->spi);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->encr);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->bits);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->integ);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->esn);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->replay);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->mode);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->encap);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->local);
        dbus_message_iter_next(st);
        dbus_message_iter_get_basic(st, &a->remote);
}

static DBusMessage *install_message(const SaArgs *a, const BhSecret *key) {
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "InstallSA");
        DBusMessageIter it, st, arr;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_STRUCT, NULL, &st);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &a->tunnel);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &a->dir);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &a->proto);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &a->spi);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &a->encr);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &a->bits);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT16, &a->integ);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &a->esn);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_BOOLEAN, &a->replay);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &a->mode);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &a->encap);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &a->local);
        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &a->remote);
        dbus_message_iter_close_container(&it, &st);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "y", &arr);
        const uint8_t *bytes = key->data;
        dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_BYTE, &bytes, (int) key->len);
        dbus_message_iter_close_container(&it, &arr);
        return m;
}

static void install_finish(Install *in) {
        Cryptod *c = in->c;
        if (in->error) {
                /* All or nothing: take back what did get in. */
                DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "RemoveSAs");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &in->tunnel, DBUS_TYPE_INVALID);
                if (c->filterd)
                        bh_conn_call(c->filterd, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
                dbus_message_unref(m);
                bh_log_tunnel(BH_LOG_ERRORS, in->tunnel, "manual SAs not installed: %s", in->error);
                bh_call_error(in->call, in->error_name, "%s", in->error);
        } else {
                g_hash_table_replace(c->manual, g_strdup(in->tunnel), GUINT_TO_POINTER(in->installed));
                bh_log_tunnel(BH_LOG_EVENTS, in->tunnel, "%u manual SAs installed in filterd", in->installed);
                bh_call_return_empty(in->call);
        }
        bh_call_unref(in->call);
        g_free(in->tunnel);
        g_free(in->error);
        g_free(in->error_name);
        g_free(in);
}

static void install_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Install *in = userdata;
        if (reply)
                in->installed++;
        else if (!in->error) {
                in->error = g_strdup_printf("filterd: %s", error_message);
                in->error_name = g_strdup(error_name);
        }
        if (--in->waiting == 0)
                install_finish(in);
}

static void fail_install(Install *in, const char *name, char *message) {
        if (!in->error) {
                in->error = message;
                in->error_name = g_strdup(name);
        } else {
                g_free(message);
        }
}

static void install_with(Cryptod *c, BhConn *filterd, void *userdata) {
        Install *in = userdata;
        DBusMessageIter it, arr, st;
        dbus_message_iter_init(bh_call_message(in->call), &it);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &arr);
        in->waiting = 1;        /* held until every SA is sent */
        for (; !in->error && dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr)) {
                SaArgs a;
                dbus_message_iter_recurse(&arr, &st);
                read_sa(&st, &a);
                if (strcmp(a.tunnel, in->tunnel) != 0) {
                        fail_install(in, DBUS_ERROR_INVALID_ARGS, g_strdup("an SA names another tunnel"));
                        break;
                }
                BhSecretKind kind = strcmp(a.proto, "ah") == 0 ? BH_SECRET_AH : BH_SECRET_ESP;
                BhSecretDir dir = strcmp(a.dir, "in") == 0 ? BH_SECRET_IN : BH_SECRET_OUT;
                const BhSecretEntry *e = bh_secrets_find(c->secrets, kind, in->tunnel, dir);
                if (!e) {
                        fail_install(in, BH_ERROR_NOT_FOUND,
                                     g_strdup_printf("no %s %s key for tunnel %s in %s", a.proto, a.dir, in->tunnel,
                                                     c->secrets_path));
                        break;
                }
                size_t want = 0;
                if (bh_transform_check(a.encr, a.bits, a.integ, &want) < 0 || want != e->key->len) {
                        fail_install(in, DBUS_ERROR_INVALID_ARGS,
                                     g_strdup_printf("the %s %s key of tunnel %s is %zu bytes, its transforms need %zu",
                                                     a.proto, a.dir, in->tunnel, e->key->len, want));
                        break;
                }
                if (!filterd) {
                        fail_install(in, BH_ERROR_UNAVAILABLE, g_strdup("filterd cannot be reached"));
                        break;
                }
                DBusMessage *m = install_message(&a, e->key);
                in->waiting++;
                bh_conn_call(filterd, m, BH_CALL_TIMEOUT_MS, install_reply, in);
                dbus_message_unref(m);
        }
        if (--in->waiting == 0)
                install_finish(in);
}

static void cryptod_handle_install_manual(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        const char *tunnel;
        DBusMessageIter it;
        dbus_message_iter_init(bh_call_message(call), &it);
        dbus_message_iter_get_basic(&it, &tunnel);
        if (!bh_tunnel_name_valid(tunnel)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "invalid tunnel name");
                return;
        }
        Install *in = g_new0(Install, 1);
        in->c = c;
        in->call = bh_call_ref(call);
        in->tunnel = g_strdup(tunnel);
        with_filterd(c, install_with, in);
}

static void removed(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        BhCall *call = userdata;
        if (reply)
                bh_call_return_empty(call);
        else
                bh_call_error(call, error_name, "filterd: %s", error_message);
        bh_call_unref(call);
}

static void remove_with(Cryptod *c, BhConn *filterd, void *userdata) {
        BhCall *call = userdata;
        const char *tunnel;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_INVALID);
        g_hash_table_remove(c->manual, tunnel);
        if (!filterd) {
                bh_call_error(call, BH_ERROR_UNAVAILABLE, "filterd cannot be reached");
                bh_call_unref(call);
                return;
        }
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "RemoveSAs");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_INVALID);
        bh_conn_call(filterd, m, BH_CALL_TIMEOUT_MS, removed, call);
        dbus_message_unref(m);
}

static void cryptod_handle_remove_manual(BhCall *call, void *userdata) {
        with_filterd(userdata, remove_with, bh_call_ref(call));
}

static void cryptod_handle_reload(BhCall *call, void *userdata) {
        load_secrets(userdata);
        bh_call_return_empty(call);
}

static void get_handles(DBusMessageIter *it, void *userdata) {
        Cryptod *c = userdata;
        dbus_uint32_t n = 0;
        GHashTableIter hi;
        gpointer value;
        g_hash_table_iter_init(&hi, c->manual);
        while (g_hash_table_iter_next(&hi, NULL, &value))
                n += GPOINTER_TO_UINT(value);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static const BhMethodImpl cryptod_methods[] = {
        { "InstallManual", cryptod_handle_install_manual },
        { "RemoveManual", cryptod_handle_remove_manual },
        { "Reload", cryptod_handle_reload },
        {},
};

static const BhPropertyImpl cryptod_properties[] = {
        { "Handles", get_handles, NULL },
        {},
};

Cryptod *cryptod_new(BhService *svc) {
        Cryptod *c = g_new0(Cryptod, 1);
        c->svc = svc;
        c->manual = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        c->tasks = g_queue_new();
        c->secrets_path = bh_service_config_path(svc, "secrets.conf");
        load_secrets(c);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_crypto1, cryptod_methods, cryptod_properties, c);
        return c;
}

void cryptod_free(Cryptod *c) {
        if (!c)
                return;
        run_tasks(c, NULL);
        g_queue_free(c->tasks);
        if (c->filterd)
                bh_conn_close(c->filterd);
        bh_secrets_free(c->secrets);
        g_hash_table_destroy(c->manual);
        g_free(c->secrets_path);
        g_free(c);
}
