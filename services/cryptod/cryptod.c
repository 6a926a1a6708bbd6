/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "config.h"
#include "cryptod.h"
#include "ike-sa.h"
#include "ikev2-kdf.h"
#include "secrets.h"
#include "transform.h"

/* A manual tunnel's SAs on their way to filterd: the tmd call waits until
 * filterd has answered for every one. */
typedef struct Install {
        Cryptod *c;
        BhCall *call;
        char *tunnel;
        uint64_t handle;        /* IKE installs: the IKE SA; IkeChildOutbound: and the keys it kept */
        BhSecret *keymat;
        uint32_t spi_in;        /* IKE installs: the SAs to take back on failure */
        uint32_t spi_out;
        unsigned waiting;
        unsigned installed;
        char *error;
        char *error_name;
        /* IkeVerify: the answer carries this side's AUTH data (empty for
         * the initiator, who sent its own with IkeAuth). */
        bool return_auth;
        uint8_t auth[BH_PRF_MAX_OUTPUT];
        size_t auth_len;
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
        GHashTable *ike;        /* handle -> IkeHandle: isakmpd's IKE SAs */
        uint64_t next_handle;   /* from a random start: see cryptod_new */
        bool lock_failure_reported;
};

typedef struct SaArgs {
        const char *tunnel, *dir, *proto, *mode, *encap, *local, *remote;
        dbus_uint32_t spi;
        dbus_uint16_t encr, bits, integ;
        dbus_bool_t esn, replay;
} SaArgs;

/* One IKE SA's keys, bound to the tunnel whose pre-shared key it uses. */
typedef struct IkeHandle {
        uint64_t id;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        BhIkeSa *sa;
        BhIkeSuite suite;
        GArray *spis_in;        /* uint32_t: inbound SPIs of its CHILD SAs */
        uint32_t spi_out;       /* the outbound SA it installed last; 0 none */
        uint64_t rekey_of;      /* made by IkeRekeyNew for this IKE SA's rekey; 0 otherwise */
        GHashTable *exchanges;  /* xid -> ChildExchange: CREATE_CHILD_SA under way */
        uint32_t next_xid;
        /* A rekey's outbound SA kept back (IkeChildInstall with defer_out). */
        struct {
                uint32_t spi;
                SaArgs args;            /* strings in strings[] */
                char strings[7][BH_ADDR_STRLEN + BH_TUNNEL_NAME_MAX];
                BhSecret *keymat;
        } deferred;
} IkeHandle;

typedef struct Task {
        PeerTask func;
        void *userdata;
} Task;

/* ---------------------------------------------------------------- secrets */

/* Says once that key memory could not be locked (it may then be swapped
 * out; it is still wiped and left out of core dumps). */
static void report_secmem(Cryptod *c) {
        BhSecmemStats st = bh_secmem_stats();
        if (st.lock_failures == 0 || c->lock_failure_reported)
                return;
        c->lock_failure_reported = true;
        bh_log_error("key memory could not be locked in RAM (%s): raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK",
                     g_strerror(st.last_lock_errno));
}

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
        report_secmem(c);
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

/* ---------------------------------------------------------------- messages */

static void read_bytes(DBusMessageIter *it, const uint8_t **ret, size_t *ret_len) {
        DBusMessageIter arr;
        int n = 0;
        dbus_message_iter_recurse(it, &arr);
        dbus_message_iter_get_fixed_array(&arr, ret, &n);
        *ret_len = (size_t) n;
        dbus_message_iter_next(it);
}

static void append_bytes(DBusMessageIter *it, const uint8_t *data, size_t len) {
        DBusMessageIter arr;
        dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "y", &arr);
        dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_BYTE, &data, (int) len);
        dbus_message_iter_close_container(it, &arr);
}

/* Answers with one byte array. */
static void return_bytes(BhCall *call, const uint8_t *data, size_t len) {
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it;
        dbus_message_iter_init_append(reply, &it);
        append_bytes(&it, data, len);
        bh_call_return_message(call, reply);
}

/* ---------------------------------------------------------------- manual SAs */


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

static void remove_sa(Cryptod *c, BhCall *call, const char *tunnel, const char *dir, uint32_t spi);
static DBusMessage *remove_sas_message(const char *tunnel, GArray *keep);

static void install_finish(Install *in) {
        Cryptod *c = in->c;
        if (in->error) {
                /* All or nothing: take back what did get in. A negotiated
                 * CHILD SA takes back its own inbound SA only: the tunnel's
                 * current one (a rekey's predecessor) stays. */
                if (in->handle) {
                        if (in->spi_in)
                                remove_sa(c, NULL, in->tunnel, "in", in->spi_in);
                        if (in->spi_out)
                                remove_sa(c, NULL, in->tunnel, "out", in->spi_out);
                } else if (c->filterd) {
                        DBusMessage *m = remove_sas_message(in->tunnel, NULL);
                        bh_conn_call(c->filterd, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
                        dbus_message_unref(m);
                }
                bh_log_tunnel(BH_LOG_ERRORS, in->tunnel, "%s not installed: %s", in->handle ? "CHILD SA" : "manual SAs",
                              in->error);
                bh_call_error(in->call, in->error_name, "%s", in->error);
        } else {
                if (!in->handle)        /* manual SAs are counted as handles */
                        g_hash_table_replace(c->manual, g_strdup(in->tunnel), GUINT_TO_POINTER(in->installed));
                bh_log_tunnel(BH_LOG_EVENTS, in->tunnel, "%u SAs installed in filterd", in->installed);
                if (in->return_auth)
                        return_bytes(in->call, in->auth, in->auth_len);
                else
                        bh_call_return_empty(in->call);
        }
        bh_call_unref(in->call);
        bh_secret_free(in->keymat);
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

/* RemoveSAs for the tunnel, keeping the SAs in KEEP (NULL: none). */
static DBusMessage *remove_sas_message(const char *tunnel, GArray *keep) {
        DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "RemoveSAs");
        const uint32_t *spis = keep ? (const uint32_t *) keep->data : NULL;
        int n = keep ? (int) keep->len : 0;
        dbus_message_append_args(m, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_ARRAY, DBUS_TYPE_UINT32, &spis, n,
                                 DBUS_TYPE_INVALID);
        return m;
}

/* Every SA of the tunnel but the CHILD SAs of its live IKE SAs: a
 * negotiation that came up meanwhile keeps its SAs, whatever the order in
 * which this call and its installation arrived. */
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
        g_autoptr(GArray) keep = g_array_new(FALSE, FALSE, sizeof(uint32_t));
        GHashTableIter hi;
        gpointer value;
        g_hash_table_iter_init(&hi, c->ike);
        while (g_hash_table_iter_next(&hi, NULL, &value)) {
                const IkeHandle *h = value;
                if (strcmp(h->tunnel, tunnel) != 0)
                        continue;
                g_array_append_vals(keep, h->spis_in->data, h->spis_in->len);
                if (h->spi_out)
                        g_array_append_val(keep, h->spi_out);
        }
        DBusMessage *m = remove_sas_message(tunnel, keep);
        bh_conn_call(filterd, m, BH_CALL_TIMEOUT_MS, removed, call);
        dbus_message_unref(m);
}

static void cryptod_handle_remove_manual(BhCall *call, void *userdata) {
        with_filterd(userdata, remove_with, bh_call_ref(call));
}

/* ---------------------------------------------------------------- IKE SAs */

static void child_exchange_free(void *p);

static void ike_handle_free(void *p) {
        IkeHandle *h = p;
        bh_secret_free(h->deferred.keymat);
        g_array_free(h->spis_in, TRUE);
        g_hash_table_destroy(h->exchanges);
        bh_ike_sa_free(h->sa);
        g_free(h);
}

/* The handle named by the call's first argument, or an answered error. */
static IkeHandle *ike_lookup(Cryptod *c, BhCall *call, DBusMessageIter *it) {
        dbus_uint64_t id;
        dbus_message_iter_init(bh_call_message(call), it);
        dbus_message_iter_get_basic(it, &id);
        dbus_message_iter_next(it);
        IkeHandle *h = g_hash_table_lookup(c->ike, &id);
        if (!h)
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no IKE SA handle %" G_GUINT64_FORMAT, (guint64) id);
        return h;
}

/* A failure of the library in words, for the caller and the log. */
static void ike_error(BhCall *call, IkeHandle *h, const char *what, int r) {
        const char *name = r == -EPERM || r == -EALREADY ? BH_ERROR_INVALID_STATE
                           : r == -EACCES                ? BH_ERROR_AUTH_FAILED
                           : r == -EOPNOTSUPP            ? BH_ERROR_NOT_SUPPORTED
                                                         : DBUS_ERROR_INVALID_ARGS;
        const char *why = r == -EPERM      ? "not allowed in this state of the SA"
                          : r == -EALREADY ? "already done for this SA"
                          : r == -EACCES   ? "the peer's AUTH does not match the pre-shared key"
                          : r == -EBADMSG  ? "integrity check failed"
                                           : g_strerror(-r);
        if (r == -EPERM || r == -EALREADY)
                bh_log_tunnel(BH_LOG_ERRORS, h->tunnel, "refused %s on IKE SA handle %" G_GUINT64_FORMAT ": %s", what,
                              (guint64) h->id, why);
        bh_call_error(call, name, "%s: %s", what, why);
}

/* Whether cryptod can make IKE SAs for TUNNEL (answered with the error if not). */
static bool ike_tunnel_ok(Cryptod *c, BhCall *call, const char *tunnel) {
        if (!bh_tunnel_name_valid(tunnel)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "invalid tunnel name");
                return false;
        }
        if (!bh_secrets_find(c->secrets, BH_SECRET_PSK, tunnel, BH_SECRET_DIR_NONE)) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no pre-shared key for tunnel %s in %s", tunnel,
                              c->secrets_path);
                return false;
        }
        return true;
}

/* A new handle with a fresh key exchange value and nonce, or NULL (the
 * error answered). */
static IkeHandle *ike_handle_new(Cryptod *c, BhCall *call, const char *tunnel, bool initiator, uint16_t group) {
        BhIkeSa *sa = NULL;
        int r = bh_ike_sa_new(initiator, group, &sa);
        if (r < 0) {
                bh_call_error(call, r == -EOPNOTSUPP ? BH_ERROR_NOT_SUPPORTED : BH_ERROR_FAILED,
                              "key exchange group %u: %s", group, g_strerror(-r));
                return NULL;
        }
        report_secmem(c);
        IkeHandle *h = g_new0(IkeHandle, 1);
        h->id = ++c->next_handle;
        h->sa = sa;
        h->spis_in = g_array_new(FALSE, FALSE, sizeof(uint32_t));
        h->exchanges = g_hash_table_new_full(g_int_hash, g_int_equal, NULL, child_exchange_free);
        g_strlcpy(h->tunnel, tunnel, sizeof h->tunnel);
        g_hash_table_insert(c->ike, &h->id, h);
        return h;
}

/* Answers with the handle and its public values: IkeNew, IkeNewDerive,
 * IkeRekeyNew. */
static void ike_return_handle(BhCall *call, const IkeHandle *h) {
        const uint8_t *ke, *nonce;
        size_t ke_len, nonce_len;
        bh_ike_sa_public(h->sa, &ke, &ke_len);
        bh_ike_sa_nonce(h->sa, &nonce, &nonce_len);
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it;
        dbus_uint64_t id = h->id;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &id);
        append_bytes(&it, ke, ke_len);
        append_bytes(&it, nonce, nonce_len);
        bh_call_return_message(call, reply);
}

/* The initiator's IKE SA: the peer's values come later (IkeDerive). */
static void cryptod_handle_ike_new(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        const char *tunnel;
        dbus_uint16_t group;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &tunnel, DBUS_TYPE_UINT16, &group,
                              DBUS_TYPE_INVALID);
        if (!ike_tunnel_ok(c, call, tunnel))
                return;
        IkeHandle *h = ike_handle_new(c, call, tunnel, true, group);
        if (h)
                ike_return_handle(call, h);
}

/* What IkeDerive, IkeNewDerive and IkeRekeyDerive take: the peer's KE value
 * and nonce, the SPIs and the suite (answered NotSupported, false, when
 * this library does not implement it). */
typedef struct DeriveArgs {
        const uint8_t *ke, *nonce;
        size_t ke_len, nonce_len;
        dbus_uint64_t spi_i, spi_r;
        BhIkeSuite suite;
} DeriveArgs;

static bool read_derive_args(BhCall *call, DBusMessageIter *it, DeriveArgs *a) {
        DBusMessageIter st;
        read_bytes(it, &a->ke, &a->ke_len);
        read_bytes(it, &a->nonce, &a->nonce_len);
        dbus_message_iter_get_basic(it, &a->spi_i);
        dbus_message_iter_next(it);
        dbus_message_iter_get_basic(it, &a->spi_r);
        dbus_message_iter_next(it);
        dbus_uint16_t v[5];
        dbus_message_iter_recurse(it, &st);
        for (int i = 0; i < 5; i++, dbus_message_iter_next(&st))
                dbus_message_iter_get_basic(&st, &v[i]);
        a->suite = (BhIkeSuite){ .encr = v[0], .encr_bits = v[1], .prf = v[2], .integ = v[3], .dh = v[4] };
        if (!bh_ike_suite_supported(&a->suite)) {
                bh_call_error(call, BH_ERROR_NOT_SUPPORTED, "transforms %u/%u/%u/%u/%u are not implemented", v[0],
                              v[1], v[2], v[3], v[4]);
                return false;
        }
        return true;
}

/* The derivation step (once per handle, after its KE value was made). */
static bool ike_derive_step(BhCall *call, IkeHandle *h, const DeriveArgs *a) {
        int r = bh_ike_sa_derive(h->sa, a->ke, a->ke_len, a->nonce, a->nonce_len, a->spi_i, a->spi_r, &a->suite);
        if (r < 0) {
                ike_error(call, h, "key derivation", r);
                return false;
        }
        h->suite = a->suite;
        return true;
}

static void cryptod_handle_ike_derive(BhCall *call, void *userdata) {
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(userdata, call, &it);
        if (!h)
                return;
        DeriveArgs a;
        if (read_derive_args(call, &it, &a) && ike_derive_step(call, h, &a))
                bh_call_return_empty(call);
}

/* The responder's IKE SA: the IKE_SA_INIT request gave everything the keys
 * need, so IkeNew and IkeDerive in one call. A handle whose derivation
 * fails (the peer's value refused) is gone again: isakmpd never sees it. */
static void cryptod_handle_ike_new_derive(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        const char *tunnel;
        DBusMessageIter it;
        dbus_message_iter_init(bh_call_message(call), &it);
        dbus_message_iter_get_basic(&it, &tunnel);
        dbus_message_iter_next(&it);
        DeriveArgs a;
        if (!ike_tunnel_ok(c, call, tunnel) || !read_derive_args(call, &it, &a))
                return;
        IkeHandle *h = ike_handle_new(c, call, tunnel, false, a.suite.dh);
        if (!h)
                return;
        if (!ike_derive_step(call, h, &a)) {
                g_hash_table_remove(c->ike, &h->id);
                return;
        }
        ike_return_handle(call, h);
}

static void cryptod_handle_ike_rekey_new(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *old = ike_lookup(c, call, &it);
        if (!old)
                return;
        dbus_bool_t initiated;
        dbus_uint16_t group;
        dbus_message_iter_get_basic(&it, &initiated);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &group);
        if (!bh_ike_sa_authenticated(old->sa)) {
                ike_error(call, old, "an IKE SA rekey", -EPERM);
                return;
        }
        IkeHandle *h = ike_handle_new(c, call, old->tunnel, initiated, group);
        if (!h)
                return;
        h->rekey_of = old->id;
        ike_return_handle(call, h);
}

static void cryptod_handle_ike_rekey_derive(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        dbus_uint64_t old_id;
        dbus_message_iter_get_basic(&it, &old_id);
        dbus_message_iter_next(&it);
        IkeHandle *old = g_hash_table_lookup(c->ike, &old_id);
        /* Only a handle IkeRekeyNew made for this very rekey. */
        if (!old || old == h || h->rekey_of != old->id) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no IKE SA handle %" G_GUINT64_FORMAT " of tunnel %s",
                              (guint64) old_id, h->tunnel);
                return;
        }
        DeriveArgs a;
        if (!read_derive_args(call, &it, &a))
                return;
        int r = bh_ike_sa_rekey_ike(h->sa, old->sa, a.ke, a.ke_len, a.nonce, a.nonce_len, a.spi_i, a.spi_r, &a.suite);
        if (r < 0) {
                ike_error(call, h, "the rekeyed IKE SA's keys", r);
                return;
        }
        h->suite = a.suite;
        /* The CHILD SAs now belong to the new IKE SA. */
        g_array_append_vals(h->spis_in, old->spis_in->data, old->spis_in->len);
        g_array_set_size(old->spis_in, 0);
        h->spi_out = old->spi_out;
        old->spi_out = 0;
        bh_log_tunnel(BH_LOG_INFORMATION, h->tunnel, "IKE SA handle %" G_GUINT64_FORMAT " rekeyed as %" G_GUINT64_FORMAT,
                      (guint64) old->id, (guint64) h->id);
        bh_call_return_empty(call);
}

static void cryptod_handle_ike_seal(BhCall *call, void *userdata) {
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(userdata, call, &it);
        if (!h)
                return;
        const uint8_t *aad, *plain;
        size_t aad_len, plain_len;
        read_bytes(&it, &aad, &aad_len);
        read_bytes(&it, &plain, &plain_len);
        if (!bh_ike_sa_derived(h->sa)) {
                ike_error(call, h, "sealing", -EPERM);
                return;
        }
        size_t body_len = bh_ike_sk_body_len(&h->suite, plain_len);
        if (body_len == 0 || aad_len > 65535 || body_len > 65535) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "message too long");
                return;
        }
        g_autofree uint8_t *body = g_malloc(body_len);
        int r = bh_ike_sa_seal(h->sa, aad, aad_len, plain, plain_len, body, body_len);
        if (r < 0) {
                ike_error(call, h, "sealing", r);
                return;
        }
        return_bytes(call, body, body_len);
}

static void cryptod_handle_ike_open(BhCall *call, void *userdata) {
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(userdata, call, &it);
        if (!h)
                return;
        const uint8_t *aad, *body;
        size_t aad_len, body_len;
        read_bytes(&it, &aad, &aad_len);
        read_bytes(&it, &body, &body_len);
        g_autofree uint8_t *plain = g_malloc(body_len + 1);
        size_t plain_len = 0;
        int r = bh_ike_sa_open(h->sa, aad, aad_len, body, body_len, plain, &plain_len);
        if (r < 0) {
                ike_error(call, h, "opening", r);
                return;
        }
        return_bytes(call, plain, plain_len);
        OPENSSL_cleanse(plain, body_len);
}

/* The tunnel's pre-shared key, or NULL (answered NotFound: a Reload took it). */
static const BhSecret *ike_psk(Cryptod *c, BhCall *call, IkeHandle *h) {
        const BhSecretEntry *e = bh_secrets_find(c->secrets, BH_SECRET_PSK, h->tunnel, BH_SECRET_DIR_NONE);
        if (!e)
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no pre-shared key for tunnel %s", h->tunnel);
        return e ? e->key : NULL;
}

/* The AUTH steps (RFC 7296 2.15) with the tunnel's pre-shared key, each
 * once per handle (crypto/ike-sa.h): false when refused, the error answered.
 * IkeAuth runs the first alone; IkeVerify the second, then as it is asked
 * the first and the first CHILD SA. */
static bool ike_sign_step(Cryptod *c, BhCall *call, IkeHandle *h, const uint8_t *msg, size_t msg_len,
                          const uint8_t *id, size_t id_len, uint8_t *ret_auth, size_t *ret_auth_len) {
        const BhSecret *psk = ike_psk(c, call, h);
        if (!psk)
                return false;
        int r = bh_ike_sa_auth_sign(h->sa, msg, msg_len, id, id_len, psk, ret_auth, ret_auth_len);
        if (r < 0) {
                ike_error(call, h, "AUTH", r);
                return false;
        }
        return true;
}

static bool ike_verify_step(Cryptod *c, BhCall *call, IkeHandle *h, const uint8_t *msg, size_t msg_len,
                            const uint8_t *id, size_t id_len, const uint8_t *auth, size_t auth_len) {
        const BhSecret *psk = ike_psk(c, call, h);
        if (!psk)
                return false;
        int r = bh_ike_sa_auth_verify(h->sa, msg, msg_len, id, id_len, psk, auth, auth_len);
        if (r < 0) {
                ike_error(call, h, "verifying the peer's AUTH", r);
                return false;
        }
        return true;
}

static void cryptod_handle_ike_auth(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        const uint8_t *msg, *id;
        size_t msg_len, id_len;
        read_bytes(&it, &msg, &msg_len);
        read_bytes(&it, &id, &id_len);
        uint8_t auth[BH_PRF_MAX_OUTPUT];
        size_t auth_len = sizeof auth;
        if (ike_sign_step(c, call, h, msg, msg_len, id, id_len, auth, &auth_len))
                return_bytes(call, auth, auth_len);
}

/* A CHILD SA's two SAs on their way to filterd, with their keys. */
typedef struct ChildInstall {
        Install *in;
        uint64_t handle;        /* looked up again: IkeFree may come first */
        bool initiated;         /* we started the exchange: the i->r keys go out */
        bool defer_out;         /* keep the outbound SA for IkeChildOutbound */
        BhChildKeys *keys;
        SaArgs sa[2];
} ChildInstall;

/* One direction's keymat as filterd takes it; either part may be absent
 * (no integrity key with an AEAD cipher). */
static BhSecret *child_keymat(const BhSecret *encr, const BhSecret *integ) {
        size_t e = encr ? encr->len : 0, i = integ ? integ->len : 0;
        BhSecret *k = bh_secret_new(e + i);
        if (e)
                memcpy(k->data, encr->data, e);
        if (i)
                memcpy(k->data + e, integ->data, i);
        return k;
}

/* Keeps a rekey's outbound SA (its keys and a copy of its description)
 * until IkeChildOutbound; a newer one replaces an older one. */
static void defer_outbound(IkeHandle *h, const SaArgs *a, BhSecret *keymat) {
        bh_secret_free(h->deferred.keymat);
        h->deferred.keymat = keymat;
        h->deferred.spi = a->spi;
        h->deferred.args = *a;
        const char *src[7] = { a->tunnel, a->dir, a->proto, a->mode, a->encap, a->local, a->remote };
        const char **dst[7] = { &h->deferred.args.tunnel, &h->deferred.args.dir, &h->deferred.args.proto,
                                &h->deferred.args.mode, &h->deferred.args.encap, &h->deferred.args.local,
                                &h->deferred.args.remote };
        for (int i = 0; i < 7; i++) {
                g_strlcpy(h->deferred.strings[i], src[i], sizeof h->deferred.strings[i]);
                *dst[i] = h->deferred.strings[i];
        }
}

static void child_with(Cryptod *c, BhConn *filterd, void *userdata) {
        ChildInstall *ci = userdata;
        Install *in = ci->in;
        IkeHandle *h = g_hash_table_lookup(c->ike, &ci->handle);
        in->waiting = 1;
        if (!h)
                fail_install(in, BH_ERROR_NOT_FOUND, g_strdup("the IKE SA ended"));
        else if (!filterd)
                fail_install(in, BH_ERROR_UNAVAILABLE, g_strdup("filterd cannot be reached"));
        if (!in->error) {
                g_array_append_val(h->spis_in, ci->sa[1].spi);
                for (int k = 0; k < 2; k++) {
                        /* sa[0] goes out: with the initiator-to-responder keys
                         * when we started the exchange. */
                        bool i2r = (k == 0) == ci->initiated;
                        BhSecret *km = child_keymat(i2r ? ci->keys->encr_i : ci->keys->encr_r,
                                                    i2r ? ci->keys->integ_i : ci->keys->integ_r);
                        if (k == 0 && ci->defer_out) {
                                defer_outbound(h, &ci->sa[0], km);
                                continue;
                        }
                        if (k == 0)
                                h->spi_out = in->spi_out = ci->sa[0].spi;
                        DBusMessage *m = install_message(&ci->sa[k], km);
                        bh_secret_free(km);
                        in->waiting++;
                        bh_conn_call(filterd, m, BH_CALL_TIMEOUT_MS, install_reply, in);
                        dbus_message_unref(m);
                }
        }
        bh_child_keys_free(ci->keys);
        g_free(ci);
        if (--in->waiting == 0)
                install_finish(in);
}

/* Reads and checks the two SAs of a CHILD SA (out, then in) at *arr_it. */
static ChildInstall *child_read(BhCall *call, IkeHandle *h, DBusMessageIter *it, size_t *ret_encr, size_t *ret_integ) {
        DBusMessageIter arr, st;
        ChildInstall *ci = g_new0(ChildInstall, 1);
        ci->handle = h->id;
        size_t n = 0;
        dbus_message_iter_recurse(it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr), n++) {
                if (n < 2) {
                        dbus_message_iter_recurse(&arr, &st);
                        read_sa(&st, &ci->sa[n]);
                }
        }
        const char *why = NULL;
        size_t want = 0;
        /* KEYMAT per direction (RFC 7296 2.17): the cipher key with its salt
         * (the cipher's own size when no Key Length was negotiated), then
         * the integrity key; the two add up to what filterd checks. */
        const BhEncrInfo *e = n == 2 ? bh_encr_lookup(ci->sa[0].encr) : NULL;
        const BhIntegInfo *i = n == 2 && ci->sa[0].integ ? bh_integ_lookup(ci->sa[0].integ) : NULL;
        unsigned bits = e && ci->sa[0].bits == 0 ? e->key_bits[0] : ci->sa[0].bits;
        *ret_encr = e ? bits / 8u + e->salt_len : 0;
        *ret_integ = i ? i->key_len : 0;
        if (n != 2)
                why = "a CHILD SA is two SAs, out and in";
        else if (strcmp(ci->sa[0].dir, "out") != 0 || strcmp(ci->sa[1].dir, "in") != 0)
                why = "the SAs must be out, then in";
        else if (strcmp(ci->sa[0].tunnel, h->tunnel) != 0 || strcmp(ci->sa[1].tunnel, h->tunnel) != 0)
                why = "an SA names another tunnel than the IKE SA's";
        else if (strcmp(ci->sa[0].proto, "esp") != 0 || strcmp(ci->sa[1].proto, "esp") != 0)
                why = "negotiated CHILD SAs are ESP";
        else if (ci->sa[0].encr != ci->sa[1].encr || ci->sa[0].bits != ci->sa[1].bits ||
                 ci->sa[0].integ != ci->sa[1].integ ||
                 bh_transform_check(ci->sa[0].encr, ci->sa[0].bits, ci->sa[0].integ, &want) < 0 ||
                 want != *ret_encr + *ret_integ)
                why = "the two SAs' transforms differ or are not implemented";
        if (why) {
                g_free(ci);
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "%s", why);
                return NULL;
        }
        return ci;
}

/* Sends the CHILD SA to filterd; CALL is answered once filterd has (with
 * AUTH, when not NULL: IkeVerify's answer, AUTH_LEN octets of it). */
static void child_send(Cryptod *c, BhCall *call, IkeHandle *h, ChildInstall *ci, const uint8_t *auth,
                       size_t auth_len) {
        Install *in = g_new0(Install, 1);
        in->c = c;
        in->call = bh_call_ref(call);
        in->tunnel = g_strdup(h->tunnel);
        in->handle = h->id;
        in->spi_in = ci->sa[1].spi;
        if (auth) {
                in->return_auth = true;
                memcpy(in->auth, auth, auth_len);
                in->auth_len = auth_len;
        }
        ci->in = in;
        with_filterd(c, child_with, ci);
}

/* What IkeVerify does once the peer's AUTH matched (its THEN argument). */
typedef enum VerifyThen {
        THEN_NONE,              /* nothing: the responder refuses the CHILD SA */
        THEN_CHILD,             /* the first CHILD SA: the initiator, who signed with IkeAuth */
        THEN_AUTH_CHILD,        /* our AUTH, then the first CHILD SA: the responder */
} VerifyThen;

static bool verify_then(const char *word, VerifyThen *ret) {
        static const char *const words[] = { [THEN_NONE] = "none", [THEN_CHILD] = "child",
                                             [THEN_AUTH_CHILD] = "auth-child" };
        for (size_t i = 0; i < G_N_ELEMENTS(words); i++)
                if (strcmp(word, words[i]) == 0) {
                        *ret = (VerifyThen) i;
                        return true;
                }
        return false;
}

/* The peer's AUTH, and only when it matches what follows it: one round
 * trip for what took up to three (IkeVerify, IkeAuth, IkeChild). Every
 * argument is checked before the first step, so that a call refused for
 * its arguments uses up no step; then the steps run in their order, each
 * with the checks and the error it has alone, and the first refusal ends
 * the call. Our AUTH data is answered only once the CHILD SA is in
 * filterd: a failed call gives isakmpd nothing to send. */
static void cryptod_handle_ike_verify(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it, arr;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        const uint8_t *msg, *id, *peer_auth, *our_msg, *our_id;
        size_t msg_len, id_len, peer_auth_len, our_msg_len, our_id_len;
        const char *word;
        VerifyThen then;
        read_bytes(&it, &msg, &msg_len);
        read_bytes(&it, &id, &id_len);
        read_bytes(&it, &peer_auth, &peer_auth_len);
        dbus_message_iter_get_basic(&it, &word);
        dbus_message_iter_next(&it);
        read_bytes(&it, &our_msg, &our_msg_len);
        read_bytes(&it, &our_id, &our_id_len);
        if (!verify_then(word, &then)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "THEN is none, child or auth-child, not \"%s\"", word);
                return;
        }
        if (then != THEN_AUTH_CHILD && (our_msg_len || our_id_len)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "our IKE_SA_INIT and ID go with auth-child only");
                return;
        }
        ChildInstall *ci = NULL;
        size_t encr_len = 0, integ_len = 0;
        if (then == THEN_NONE) {
                dbus_message_iter_recurse(&it, &arr);
                if (dbus_message_iter_get_arg_type(&arr) != DBUS_TYPE_INVALID) {
                        bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "SAs go with child or auth-child only");
                        return;
                }
        } else if (!(ci = child_read(call, h, &it, &encr_len, &integ_len)))
                return;

        uint8_t auth[BH_PRF_MAX_OUTPUT];
        size_t auth_len = 0;
        if (!ike_verify_step(c, call, h, msg, msg_len, id, id_len, peer_auth, peer_auth_len))
                goto refused;
        if (then == THEN_AUTH_CHILD) {
                auth_len = sizeof auth;
                if (!ike_sign_step(c, call, h, our_msg, our_msg_len, our_id, our_id_len, auth, &auth_len))
                        goto refused;
        }
        if (then == THEN_NONE) {
                return_bytes(call, NULL, 0);
                return;
        }
        int r = bh_ike_sa_child_keys(h->sa, encr_len, integ_len, &ci->keys);
        if (r < 0) {
                ike_error(call, h, "the first CHILD SA", r);
                goto refused;
        }
        ci->initiated = bh_ike_sa_initiator(h->sa);
        child_send(c, call, h, ci, auth, auth_len);
        return;
refused:
        g_free(ci);
}

/* CREATE_CHILD_SA: our nonce (and KE value with PFS) made here, so that
 * no caller can make a CHILD SA's keys repeat. */
typedef struct ChildExchange {
        uint32_t xid;
        BhIkeSa *pfs;           /* NULL without PFS */
        uint8_t nonce[BH_IKE_NONCE_LEN];
} ChildExchange;

static void child_exchange_free(void *p) {
        ChildExchange *x = p;
        bh_ike_sa_free(x->pfs);
        g_free(x);
}

/* A handle keeps at most this many CREATE_CHILD_SA exchanges open. */
#define CHILD_EXCHANGES_MAX 4

static void cryptod_handle_ike_child_start(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        dbus_uint16_t group;
        dbus_message_iter_get_basic(&it, &group);
        if (!bh_ike_sa_authenticated(h->sa)) {
                ike_error(call, h, "a CREATE_CHILD_SA exchange", -EPERM);
                return;
        }
        if (g_hash_table_size(h->exchanges) >= CHILD_EXCHANGES_MAX) {
                /* isakmpd has at most two open (its own request, and its
                 * answer to the peer's), the newest; the others it gave up
                 * (refused, crossed, asked again with another group): the
                 * oldest goes, its keys wiped. */
                GHashTableIter hi;
                gpointer key;
                uint32_t oldest = UINT32_MAX;
                g_hash_table_iter_init(&hi, h->exchanges);
                while (g_hash_table_iter_next(&hi, &key, NULL))
                        oldest = MIN(oldest, *(uint32_t *) key);
                g_hash_table_remove(h->exchanges, &oldest);
        }
        ChildExchange *x = g_new0(ChildExchange, 1);
        if (group) {
                int r = bh_ike_sa_new(bh_ike_sa_initiator(h->sa), group, &x->pfs);
                if (r < 0) {
                        g_free(x);
                        bh_call_error(call, BH_ERROR_NOT_SUPPORTED, "key exchange group %u: %s", group, g_strerror(-r));
                        return;
                }
        }
        if (RAND_bytes(x->nonce, sizeof x->nonce) != 1) {
                child_exchange_free(x);
                bh_call_error(call, BH_ERROR_FAILED, "no randomness for a nonce");
                return;
        }
        x->xid = ++h->next_xid;
        g_hash_table_insert(h->exchanges, &x->xid, x);
        const uint8_t *ke = NULL;
        size_t ke_len = 0;
        if (x->pfs)
                bh_ike_sa_public(x->pfs, &ke, &ke_len);
        DBusMessage *reply = bh_call_new_return(call);
        dbus_uint32_t xid = x->xid;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT32, &xid);
        append_bytes(&it, x->nonce, sizeof x->nonce);
        append_bytes(&it, ke, ke_len);
        bh_call_return_message(call, reply);
}

static void cryptod_handle_ike_child_install(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        dbus_uint32_t xid;
        dbus_bool_t initiated, defer_out;
        const uint8_t *peer_nonce, *peer_ke;
        size_t nonce_len, ke_len, encr_len, integ_len;
        dbus_message_iter_get_basic(&it, &xid);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &initiated);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &defer_out);
        dbus_message_iter_next(&it);
        read_bytes(&it, &peer_nonce, &nonce_len);
        read_bytes(&it, &peer_ke, &ke_len);
        /* The exchange is used up whatever follows. */
        ChildExchange *x = g_hash_table_lookup(h->exchanges, &xid);
        if (!x) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no CREATE_CHILD_SA exchange %u on this IKE SA", xid);
                return;
        }
        g_hash_table_steal(h->exchanges, &xid);
        ChildInstall *ci = child_read(call, h, &it, &encr_len, &integ_len);
        if (!ci) {
                child_exchange_free(x);
                return;
        }
        if ((x->pfs != NULL) != (ke_len != 0)) {
                child_exchange_free(x);
                g_free(ci);
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "a key exchange value goes with PFS, and only then");
                return;
        }
        const uint8_t *ni = initiated ? x->nonce : peer_nonce, *nr = initiated ? peer_nonce : x->nonce;
        size_t ni_len = initiated ? sizeof x->nonce : nonce_len, nr_len = initiated ? nonce_len : sizeof x->nonce;
        int r = bh_ike_sa_rekey_child_keys(h->sa, x->pfs, peer_ke, ke_len, ni, ni_len, nr, nr_len, encr_len, integ_len,
                                           &ci->keys);
        child_exchange_free(x);
        if (r < 0) {
                g_free(ci);
                ike_error(call, h, "a CHILD SA's keys", r);
                return;
        }
        ci->initiated = initiated;
        ci->defer_out = defer_out;
        child_send(c, call, h, ci, NULL, 0);
}

static void outbound_with(Cryptod *c, BhConn *filterd, void *userdata) {
        Install *in = userdata;
        BhSecret *km = in->keymat;
        in->keymat = NULL;
        in->waiting = 1;
        IkeHandle *h = g_hash_table_lookup(c->ike, &in->handle);
        if (!h)
                fail_install(in, BH_ERROR_NOT_FOUND, g_strdup("the IKE SA ended"));
        else if (!filterd)
                fail_install(in, BH_ERROR_UNAVAILABLE, g_strdup("filterd cannot be reached"));
        else {
                h->spi_out = in->spi_out = h->deferred.args.spi;
                DBusMessage *m = install_message(&h->deferred.args, km);
                in->waiting++;
                bh_conn_call(filterd, m, BH_CALL_TIMEOUT_MS, install_reply, in);
                dbus_message_unref(m);
        }
        bh_secret_free(km);
        if (--in->waiting == 0)
                install_finish(in);
}

static void cryptod_handle_ike_child_outbound(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        dbus_uint32_t spi;
        dbus_message_iter_get_basic(&it, &spi);
        if (!h->deferred.keymat || h->deferred.spi != spi) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no outbound SA 0x%08x is waiting on this IKE SA", spi);
                return;
        }
        Install *in = g_new0(Install, 1);
        in->c = c;
        in->call = bh_call_ref(call);
        in->tunnel = g_strdup(h->tunnel);
        in->handle = h->id;
        in->keymat = g_steal_pointer(&h->deferred.keymat);
        with_filterd(c, outbound_with, in);
}

static void child_removed(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        BhCall *call = userdata;
        if (reply)
                bh_call_return_empty(call);
        else
                bh_call_error(call, error_name, "filterd: %s", error_message);
        bh_call_unref(call);
}

/* One SA of a negotiated CHILD SA leaving filterd; CALL, if any, is
 * answered with filterd's answer. */
typedef struct SaRemoval {
        BhCall *call;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        const char *dir;
        uint32_t spi;
} SaRemoval;

static void remove_sa_with(Cryptod *c, BhConn *filterd, void *userdata) {
        SaRemoval *r = userdata;
        if (!filterd) {
                if (r->call) {
                        bh_call_error(r->call, BH_ERROR_UNAVAILABLE, "filterd cannot be reached");
                        bh_call_unref(r->call);
                }
        } else {
                DBusMessage *m = bh_method_new_peer(BH_SERVICE_FILTERD, &bh_iface_filter1, "RemoveSA");
                const char *t = r->tunnel;
                dbus_uint32_t spi = r->spi;
                dbus_message_append_args(m, DBUS_TYPE_STRING, &t, DBUS_TYPE_STRING, &r->dir, DBUS_TYPE_UINT32, &spi,
                                         DBUS_TYPE_INVALID);
                bh_conn_call(filterd, m, BH_CALL_TIMEOUT_MS, r->call ? child_removed : NULL, r->call);
                dbus_message_unref(m);
        }
        g_free(r);
}

static void remove_sa(Cryptod *c, BhCall *call, const char *tunnel, const char *dir, uint32_t spi) {
        SaRemoval *r = g_new0(SaRemoval, 1);
        r->call = call ? bh_call_ref(call) : NULL;
        g_strlcpy(r->tunnel, tunnel, sizeof r->tunnel);
        r->dir = dir;
        r->spi = spi;
        with_filterd(c, remove_sa_with, r);
}

/* An IKE SA's CHILD SAs go with it: filterd no longer holds them (an
 * outbound SA that a newer one replaced is not touched). */
static void remove_children(Cryptod *c, IkeHandle *h) {
        for (guint i = 0; i < h->spis_in->len; i++)
                remove_sa(c, NULL, h->tunnel, "in", g_array_index(h->spis_in, uint32_t, i));
        if (h->spi_out)
                remove_sa(c, NULL, h->tunnel, "out", h->spi_out);
        g_array_set_size(h->spis_in, 0);
        h->spi_out = 0;
}

static bool spi_in_of(const IkeHandle *h, uint32_t spi, guint *ret_index) {
        for (guint i = 0; i < h->spis_in->len; i++)
                if (g_array_index(h->spis_in, uint32_t, i) == spi) {
                        *ret_index = i;
                        return true;
                }
        return false;
}

static void cryptod_handle_ike_child_remove(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        dbus_uint32_t spi, out;
        dbus_message_iter_get_basic(&it, &spi);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &out);
        /* Only SAs of this tunnel's IKE SAs: this one's, or the one an IKE
         * SA rekey under way has already moved them to (IkeRekeyDerive), which
         * isakmpd does not use yet. */
        guint i = 0;
        IkeHandle *owner = spi_in_of(h, spi, &i) ? h : NULL;
        GHashTableIter hi;
        gpointer value;
        g_hash_table_iter_init(&hi, c->ike);
        while (!owner && g_hash_table_iter_next(&hi, NULL, &value)) {
                IkeHandle *x = value;
                if (x != h && strcmp(x->tunnel, h->tunnel) == 0 && spi_in_of(x, spi, &i))
                        owner = x;
        }
        if (!owner) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "SPI 0x%08x is not a CHILD SA of this IKE SA", spi);
                return;
        }
        h = owner;
        if (out && out != h->spi_out) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "SPI 0x%08x is not this IKE SA's outbound SA", out);
                return;
        }
        g_array_remove_index_fast(h->spis_in, i);
        if (out) {
                h->spi_out = 0;
                remove_sa(c, NULL, h->tunnel, "out", out);
        }
        remove_sa(c, call, h->tunnel, "in", spi);
}

static void cryptod_handle_ike_free(BhCall *call, void *userdata) {
        Cryptod *c = userdata;
        DBusMessageIter it;
        IkeHandle *h = ike_lookup(c, call, &it);
        if (!h)
                return;
        remove_children(c, h);
        g_hash_table_remove(c->ike, &h->id);
        bh_call_return_empty(call);
}

/* isakmpd went away (a crash, a restart): the IKE SAs it held are gone
 * with it, and so are their keys and CHILD SAs. tmd negotiates again. */
static void owner_changed(BhServiceId service, const char *owner, void *userdata) {
        Cryptod *c = userdata;
        if (service != BH_SERVICE_ISAKMPD || owner || g_hash_table_size(c->ike) == 0)
                return;
        bh_log_event("isakmpd went away: its %u IKE SAs end, with their CHILD SAs", g_hash_table_size(c->ike));
        GHashTableIter hi;
        gpointer value;
        g_hash_table_iter_init(&hi, c->ike);
        while (g_hash_table_iter_next(&hi, NULL, &value)) {
                remove_children(c, value);
                g_hash_table_iter_remove(&hi);
        }
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
        n += g_hash_table_size(c->ike);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static const BhMethodImpl cryptod_methods[] = {
        { "InstallManual", cryptod_handle_install_manual },
        { "RemoveManual", cryptod_handle_remove_manual },
        { "IkeNew", cryptod_handle_ike_new },
        { "IkeNewDerive", cryptod_handle_ike_new_derive },
        { "IkeDerive", cryptod_handle_ike_derive },
        { "IkeSeal", cryptod_handle_ike_seal },
        { "IkeOpen", cryptod_handle_ike_open },
        { "IkeAuth", cryptod_handle_ike_auth },
        { "IkeVerify", cryptod_handle_ike_verify },
        { "IkeChildStart", cryptod_handle_ike_child_start },
        { "IkeChildInstall", cryptod_handle_ike_child_install },
        { "IkeChildRemove", cryptod_handle_ike_child_remove },
        { "IkeChildOutbound", cryptod_handle_ike_child_outbound },
        { "IkeRekeyNew", cryptod_handle_ike_rekey_new },
        { "IkeRekeyDerive", cryptod_handle_ike_rekey_derive },
        { "IkeFree", cryptod_handle_ike_free },
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
#if BULKHEAD_TEST_HOOKS
        /* The tests look for every derived key in the logs (Test1.Keys). */
        bh_ikev2_observe_keys(bh_test_hooks_note_key);
#endif
        c->manual = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        c->tasks = g_queue_new();
        c->ike = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, ike_handle_free);
        /* A restarted cryptod must not hand out the numbers that isakmpd's
         * SAs of the previous one still hold: an IkeFree or IkeSeal of
         * theirs would reach a new IKE SA. Numbers start anywhere in 2^62. */
        if (RAND_bytes((unsigned char *) &c->next_handle, sizeof c->next_handle) != 1)
                c->next_handle = (uint64_t) g_get_real_time() * 1000003u;
        c->next_handle &= (UINT64_C(1) << 62) - 1;
        c->secrets_path = bh_service_config_path(svc, "secrets.conf");
        load_secrets(c);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_crypto1, cryptod_methods, cryptod_properties, c);
        bh_ipc_watch_owners(svc->ipc, owner_changed, c);
        return c;
}

void cryptod_free(Cryptod *c) {
        if (!c)
                return;
        run_tasks(c, NULL);
        g_queue_free(c->tasks);
        if (c->filterd)
                bh_conn_close(c->filterd);
        g_hash_table_destroy(c->ike);
        bh_secrets_free(c->secrets);
        g_hash_table_destroy(c->manual);
        g_free(c->secrets_path);
        g_free(c);
}
