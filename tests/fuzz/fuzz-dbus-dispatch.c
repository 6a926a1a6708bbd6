/* SPDX-License-Identifier: ISC */
/* The D-Bus dispatcher of ipc/ipc.c against arbitrary messages (untrusted:
 * any local user can send a service anything through the bus, and a peer
 * connection carries whatever the peer writes).
 *
 * ipc.c has no entry point that dispatches a message without a connection,
 * so the dispatcher runs for real, over sockets, in one process:
 *
 *   fake bus daemon (bus_end) <--unix socket--> BhIpc "bus" connection
 *   peer client ends          <--unix socket--> BhIpc peer connections
 *
 * A DBusServer stands in for the bus daemon: it answers Hello, GetNameOwner
 * (every suite name has an owner, :1.10 to :1.16), AddMatch and
 * GetConnectionCredentials (root, a user, the suite's own uids, or nobody
 * known). bh_ipc_connect() blocks on the first of those, so the fake bus
 * runs in a thread until the connection is up and is then moved onto the
 * main context, where everything else happens without threads. Then the
 * BhIpc asks for peer connections (OpenPeer, as isakmpd) and one is bound
 * with BindPeer while the other stays unbound.
 *
 * One object is registered for every interface of bh_interfaces[] (at the
 * path of the service that implements it; Service1 at every service's
 * path) with trivial handlers that read every argument and answer, except
 * Service1.OpenPeer and BindPeer, which are ipc.c's own.
 *
 * Input: one byte that chooses who sends (a bus client: root, a user, a
 * client whose credentials the bus does not give, or one of the suite's
 * services; or the bound or the unbound peer connection), then a
 * marshalled D-Bus message (dbus_message_demarshal(); what does not
 * demarshal is skipped). On the bus the sender field is set as the daemon
 * would. Each message is followed by a Service1.Ping from the same sender,
 * whose answer tells that the message went through the dispatcher; then the
 * sender "leaves the bus" (NameOwnerChanged) so that every input starts
 * with no credentials cached.
 *
 * Checks besides the sanitizers: every method call that wants a reply gets
 * exactly one (an answer or an error, never silence), other messages get
 * none, and the connections stay up. */
#include <dbus/dbus.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fuzz-shared.h"
#include "fuzz.h"
#include "ipc.h"

#define DBUS_NAME "org.freedesktop.DBus"
#define CLIENT_NAME ":1.1"     /* the unique name the fake bus gives the BhIpc */
#define FUZZ_SERIAL 0x7ffffff0u
#define STALL_USEC (5 * G_USEC_PER_SEC)

typedef struct Sender {
        const char *name;
        bool creds;
        uint32_t uid;
} Sender;

/* Bus clients, in the order of FUZZ_DBUS_* (fuzz-shared.h); the suite's
 * services follow as :1.10 + service id. */
static const Sender plain_senders[] = {
        [FUZZ_DBUS_ROOT] = { ":1.2", true, 0 },
        [FUZZ_DBUS_USER] = { ":1.3", true, 1000 },
        [FUZZ_DBUS_NO_CREDS] = { ":1.4", false, 0 },
};
#define N_PLAIN G_N_ELEMENTS(plain_senders)
G_STATIC_ASSERT(N_PLAIN == FUZZ_DBUS_SERVICE);
G_STATIC_ASSERT(FUZZ_DBUS_SERVICE + _BH_SERVICE_MAX == FUZZ_DBUS_PEER_BOUND);

static char suite_names[_BH_SERVICE_MAX][16];

static BhIpc *ipc;
static DBusServer *bus_server;
static DBusConnection *bus_end;
static GSource *bus_end_source;
static GMainContext *bus_ctx;
static GMainLoop *bus_loop;

typedef struct Peer {
        DBusConnection *conn;
        GSource *source;
        gint64 opened;
} Peer;
static Peer peer_bound, peer_unbound;

/* What the filters watch for. */
static DBusConnection *watch_conn;
static dbus_uint32_t watch_serial;      /* the fuzz message */
static unsigned n_watch_replies;
static dbus_uint32_t wait_serial;       /* a call of our own */
static DBusMessage *wait_reply;

/* ------------------------------------------------------------ the fake bus */

static Sender sender_by_name(const char *name) {
        for (size_t i = 0; i < N_PLAIN; i++)
                if (strcmp(plain_senders[i].name, name) == 0)
                        return plain_senders[i];
        /* isakmpd has this process's uid: ipc.c lets only the uid that
         * asked OpenPeer for a token connect to the peer server. */
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                if (strcmp(suite_names[i], name) == 0)
                        return (Sender) { suite_names[i], true,
                                          i == BH_SERVICE_ISAKMPD ? (uint32_t) getuid() : 100u + (uint32_t) i };
        return (Sender) { name, false, 0 };
}

static void bus_reply(DBusConnection *c, DBusMessage *reply) {
        dbus_message_set_sender(reply, DBUS_NAME);
        dbus_message_set_destination(reply, CLIENT_NAME);
        dbus_connection_send(c, reply, NULL);
        dbus_message_unref(reply);
}

static void bus_error(DBusConnection *c, DBusMessage *m, const char *name, const char *text) {
        bus_reply(c, dbus_message_new_error(m, name, text));
}

/* The calls a BhIpc makes to the bus daemon. */
static void answer_bus_call(DBusConnection *c, DBusMessage *m) {
        const char *member = dbus_message_get_member(m), *arg = NULL;
        DBusMessage *r;

        if (dbus_message_get_args(m, NULL, DBUS_TYPE_STRING, &arg, DBUS_TYPE_INVALID) == FALSE)
                arg = NULL;
        if (strcmp(member, "Hello") == 0) {
                const char *name = CLIENT_NAME;
                r = dbus_message_new_method_return(m);
                dbus_message_append_args(r, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
                bus_reply(c, r);
        } else if (strcmp(member, "GetNameOwner") == 0 && arg) {
                const BhSuiteEntry *e = bh_suite_by_bus_name(arg);
                if (!e) {
                        bus_error(c, m, "org.freedesktop.DBus.Error.NameHasNoOwner", "no owner");
                        return;
                }
                const char *owner = suite_names[e->id];
                r = dbus_message_new_method_return(m);
                dbus_message_append_args(r, DBUS_TYPE_STRING, &owner, DBUS_TYPE_INVALID);
                bus_reply(c, r);
        } else if (strcmp(member, "AddMatch") == 0 || strcmp(member, "RemoveMatch") == 0) {
                bus_reply(c, dbus_message_new_method_return(m));
        } else if (strcmp(member, "GetConnectionCredentials") == 0 && arg) {
                Sender s = sender_by_name(arg);
                if (!s.creds) {
                        bus_error(c, m, "org.freedesktop.DBus.Error.NameHasNoOwner", "no credentials");
                        return;
                }
                DBusMessageIter it, arr, ent, var, gids;
                const char *k_uid = "UnixUserID", *k_gids = "UnixGroupIDs";
                dbus_uint32_t gid = s.uid;
                r = dbus_message_new_method_return(m);
                dbus_message_iter_init_append(r, &it);
                dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &arr);
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &k_uid);
                dbus_message_iter_open_container(&ent, DBUS_TYPE_VARIANT, "u", &var);
                dbus_message_iter_append_basic(&var, DBUS_TYPE_UINT32, &s.uid);
                dbus_message_iter_close_container(&ent, &var);
                dbus_message_iter_close_container(&arr, &ent);
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &k_gids);
                dbus_message_iter_open_container(&ent, DBUS_TYPE_VARIANT, "au", &var);
                dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "u", &gids);
                dbus_message_iter_append_basic(&gids, DBUS_TYPE_UINT32, &gid);
                dbus_message_iter_close_container(&var, &gids);
                dbus_message_iter_close_container(&ent, &var);
                dbus_message_iter_close_container(&arr, &ent);
                dbus_message_iter_close_container(&it, &arr);
                bus_reply(c, r);
        } else {
                bus_error(c, m, DBUS_ERROR_UNKNOWN_METHOD, "the fake bus does not do that");
        }
}

static void note_reply(DBusConnection *c, DBusMessage *m) {
        dbus_uint32_t rs = dbus_message_get_reply_serial(m);
        if (c == watch_conn && rs == watch_serial)
                n_watch_replies++;
        if (c == watch_conn && wait_serial && rs == wait_serial && !wait_reply)
                wait_reply = dbus_message_ref(m);
}

/* The daemon's side of the BhIpc's bus connection. */
static DBusHandlerResult bus_filter(DBusConnection *c, DBusMessage *m, void *userdata) {
        switch (dbus_message_get_type(m)) {
        case DBUS_MESSAGE_TYPE_METHOD_CALL:
                if (g_strcmp0(dbus_message_get_destination(m), DBUS_NAME) == 0)
                        answer_bus_call(c, m);
                else if (!dbus_message_get_no_reply(m))
                        /* A call to another service: nobody is there. */
                        bus_error(c, m, DBUS_ERROR_SERVICE_UNKNOWN, "not on the fake bus");
                break;
        case DBUS_MESSAGE_TYPE_METHOD_RETURN:
        case DBUS_MESSAGE_TYPE_ERROR:
                note_reply(c, m);
                break;
        default:
                break;
        }
        return DBUS_HANDLER_RESULT_HANDLED;
}

static void bus_new_connection(DBusServer *server, DBusConnection *c, void *userdata) {
        if (bus_end)
                return; /* one client only; libdbus drops the others */
        bus_end = dbus_connection_ref(c);
        dbus_connection_set_exit_on_disconnect(c, FALSE);
        dbus_connection_add_filter(c, bus_filter, NULL, NULL);
        bus_end_source = bh_mainloop_attach_connection(c, bus_ctx);
}

static gpointer bus_thread(gpointer data) {
        g_main_context_push_thread_default(bus_ctx);
        g_main_loop_run(bus_loop);
        g_main_context_pop_thread_default(bus_ctx);
        return NULL;
}

/* ------------------------------------------------------------ the objects */

/* Reads every value, as a handler that takes its arguments apart would. */
static void walk(DBusMessageIter *it, unsigned depth) {
        FUZZ_CHECK(depth <= 64, "values nested %u deep", depth);
        for (int type; (type = dbus_message_iter_get_arg_type(it)) != DBUS_TYPE_INVALID; dbus_message_iter_next(it)) {
                if (dbus_type_is_container(type)) {
                        DBusMessageIter sub;
                        dbus_message_iter_recurse(it, &sub);
                        walk(&sub, depth + 1);
                } else if (type == DBUS_TYPE_UNIX_FD) {
                        /* Never on these connections: not negotiated. */
                        fuzz_fail(__FILE__, __LINE__, "a unix fd arrived");
                } else if (dbus_type_is_basic(type)) {
                        DBusBasicValue v;
                        dbus_message_iter_get_basic(it, &v);
                        if (type == DBUS_TYPE_STRING || type == DBUS_TYPE_OBJECT_PATH || type == DBUS_TYPE_SIGNATURE)
                                FUZZ_CHECK(v.str && g_utf8_validate(v.str, -1, NULL), "string not UTF-8");
                }
        }
}

static void trivial_method(BhCall *call, void *userdata) {
        DBusMessageIter it;
        if (dbus_message_iter_init(bh_call_message(call), &it))
                walk(&it, 0);
        bh_call_return_empty(call);
}

static void trivial_set(BhCall *call, DBusMessageIter *value, void *userdata) {
        walk(value, 0);
        bh_call_return_empty(call);
}

static void open_peer(BhCall *call, void *userdata) {
        bh_ipc_handle_open_peer(call);
}

static void bind_peer(BhCall *call, void *userdata) {
        bh_ipc_handle_bind_peer(call);
}

/* A value of type sig, every part zero or empty. */
static void append_zero(DBusMessageIter *it, DBusSignatureIter *sig) {
        int type = dbus_signature_iter_get_current_type(sig);
        DBusMessageIter sub;
        DBusSignatureIter inner;
        if (type == DBUS_TYPE_ARRAY) {
                dbus_signature_iter_recurse(sig, &inner);
                char *elem = dbus_signature_iter_get_signature(&inner);
                dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, elem, &sub);
                dbus_message_iter_close_container(it, &sub);
                dbus_free(elem);
        } else if (type == DBUS_TYPE_STRUCT) {
                dbus_signature_iter_recurse(sig, &inner);
                dbus_message_iter_open_container(it, DBUS_TYPE_STRUCT, NULL, &sub);
                do
                        append_zero(&sub, &inner);
                while (dbus_signature_iter_next(&inner));
                dbus_message_iter_close_container(it, &sub);
        } else if (type == DBUS_TYPE_VARIANT) {
                const char *empty = "";
                dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, "s", &sub);
                dbus_message_iter_append_basic(&sub, DBUS_TYPE_STRING, &empty);
                dbus_message_iter_close_container(it, &sub);
        } else if (type == DBUS_TYPE_STRING || type == DBUS_TYPE_SIGNATURE) {
                const char *empty = "";
                dbus_message_iter_append_basic(it, type, &empty);
        } else if (type == DBUS_TYPE_OBJECT_PATH) {
                const char *root = "/";
                dbus_message_iter_append_basic(it, type, &root);
        } else {
                DBusBasicValue zero;
                memset(&zero, 0, sizeof zero);
                dbus_message_iter_append_basic(it, type, &zero);
        }
}

/* Property getters know nothing but the iterator, so each distinct type
 * gets a getter of its own from this pool. */
#define N_GETTERS 16
static const char *getter_type[N_GETTERS];
static void get_typed(DBusMessageIter *it, int slot) {
        DBusSignatureIter sig;
        dbus_signature_iter_init(&sig, getter_type[slot]);
        append_zero(it, &sig);
}
#define GETTER(n) \
        static void get_##n(DBusMessageIter *it, void *userdata) { get_typed(it, n); }
GETTER(0) GETTER(1) GETTER(2) GETTER(3) GETTER(4) GETTER(5) GETTER(6) GETTER(7)
GETTER(8) GETTER(9) GETTER(10) GETTER(11) GETTER(12) GETTER(13) GETTER(14) GETTER(15)
static const BhPropGetFunc getters[N_GETTERS] = {
        get_0, get_1, get_2,  get_3,  get_4,  get_5,  get_6,  get_7,
        get_8, get_9, get_10, get_11, get_12, get_13, get_14, get_15,
};

static BhPropGetFunc getter_for(const char *type) {
        for (int i = 0; i < N_GETTERS; i++) {
                if (!getter_type[i])
                        getter_type[i] = type;
                if (strcmp(getter_type[i], type) == 0)
                        return getters[i];
        }
        fuzz_fail(__FILE__, __LINE__, "more than %d property types: enlarge the getter pool", N_GETTERS);
}

static void register_interface(const BhInterfaceInfo *iface) {
        size_t n_m = 0, n_p = 0;
        while (iface->methods[n_m].name)
                n_m++;
        while (iface->properties[n_p].name)
                n_p++;
        /* Kept for the life of the process, like a service's static tables. */
        BhMethodImpl *methods = g_new0(BhMethodImpl, n_m + 1);
        BhPropertyImpl *props = g_new0(BhPropertyImpl, n_p + 1);
        bool service1 = strcmp(iface->name, bh_iface_service1.name) == 0;
        for (size_t i = 0; i < n_m; i++) {
                const char *m = iface->methods[i].name;
                methods[i].member = m;
                methods[i].func = service1 && strcmp(m, "OpenPeer") == 0   ? open_peer
                                  : service1 && strcmp(m, "BindPeer") == 0 ? bind_peer
                                                                           : trivial_method;
        }
        for (size_t i = 0; i < n_p; i++) {
                props[i].name = iface->properties[i].name;
                props[i].get = getter_for(iface->properties[i].type);
                props[i].set = iface->properties[i].writable ? trivial_set : NULL;
        }

        /* org.bulkhead.Tmd1 lives at the path of org.bulkhead.Tmd; an
         * interface no service owns alone (Service1) at every service's. */
        g_autofree char *bus_name = g_strdup(iface->name);
        for (char *e = bus_name + strlen(bus_name); e > bus_name && g_ascii_isdigit(e[-1]); e--)
                e[-1] = '\0';
        const BhSuiteEntry *owner = bh_suite_by_bus_name(bus_name);
        for (int s = 0; s < _BH_SERVICE_MAX; s++)
                if (!owner || owner->id == (BhServiceId) s)
                        bh_ipc_add_object(ipc, bh_suite[s].path, iface, methods, props, NULL);
}

/* ------------------------------------------------------------ driving */

static gboolean tick(gpointer data) {
        return G_SOURCE_CONTINUE; /* only wakes the loop up */
}

/* Sends m on c (setting a serial) and runs the main loop until its answer
 * arrives. Returns the answer (unref it). */
static DBusMessage *call_and_wait(DBusConnection *c, DBusMessage *m) {
        dbus_uint32_t serial = 0;
        watch_conn = c;
        wait_reply = NULL;
        if (!dbus_connection_send(c, m, &serial))
                fuzz_fail(__FILE__, __LINE__, "cannot send");
        wait_serial = serial;
        gint64 deadline = g_get_monotonic_time() + STALL_USEC;
        while (!wait_reply) {
                if (!dbus_connection_get_is_connected(c))
                        fuzz_fail(__FILE__, __LINE__, "%s connection closed",
                                  c == bus_end ? "the bus" : c == peer_bound.conn ? "the bound peer" : "a peer");
                if (g_get_monotonic_time() > deadline)
                        fuzz_fail(__FILE__, __LINE__, "no answer for %d s: the dispatcher stalled",
                                  (int) (STALL_USEC / G_USEC_PER_SEC));
                g_main_context_iteration(NULL, TRUE);
        }
        wait_serial = 0;
        DBusMessage *r = wait_reply;
        wait_reply = NULL;
        return r;
}

static DBusMessage *service_call(BhServiceId service, const char *member, const char *sender) {
        DBusMessage *m = dbus_message_new_method_call(CLIENT_NAME, bh_suite[service].path, bh_iface_service1.name,
                                                      member);
        if (sender)
                dbus_message_set_sender(m, sender);
        return m;
}

/* OpenPeer on the bus, as isakmpd: a token and the address to use it at.
 * False when ipc.c has handed out all the tokens it may (the inputs call
 * OpenPeer too). */
static bool open_peer_token(char **ret_address, char **ret_token) {
        DBusMessage *m = service_call(BH_SERVICE_CRYPTOD, "OpenPeer", suite_names[BH_SERVICE_ISAKMPD]);
        DBusMessage *r = call_and_wait(bus_end, m);
        const char *address, *token;
        bool ok = dbus_message_get_args(r, NULL, DBUS_TYPE_STRING, &address, DBUS_TYPE_STRING, &token,
                                        DBUS_TYPE_INVALID);
        if (ok) {
                *ret_address = g_strdup(address);
                *ret_token = g_strdup(token);
        } else
                FUZZ_CHECK(g_strcmp0(dbus_message_get_error_name(r), BH_ERROR_UNAVAILABLE) == 0, "OpenPeer failed: %s",
                           dbus_message_get_error_name(r));
        dbus_message_unref(r);
        dbus_message_unref(m);
        return ok;
}

static DBusHandlerResult peer_filter(DBusConnection *c, DBusMessage *m, void *userdata) {
        int type = dbus_message_get_type(m);
        if (type == DBUS_MESSAGE_TYPE_METHOD_RETURN || type == DBUS_MESSAGE_TYPE_ERROR)
                note_reply(c, m);
        return DBUS_HANDLER_RESULT_HANDLED;
}

static void peer_close(Peer *p) {
        if (!p->conn)
                return;
        bh_mainloop_detach_connection(p->conn, p->source);
        dbus_connection_close(p->conn);
        dbus_connection_unref(p->conn);
        *p = (Peer) { 0 };
}

/* Connects to the BhIpc's peer server; with a token, binds. */
static void peer_open(Peer *p, const char *address, const char *bind_token) {
        DBusError err;
        dbus_error_init(&err);
        p->conn = dbus_connection_open_private(address, &err);
        if (!p->conn)
                fuzz_fail(__FILE__, __LINE__, "peer connection: %s", err.message);
        dbus_connection_set_exit_on_disconnect(p->conn, FALSE);
        dbus_connection_add_filter(p->conn, peer_filter, NULL, NULL);
        p->source = bh_mainloop_attach_connection(p->conn, g_main_context_default());
        p->opened = g_get_monotonic_time();
        DBusMessage *m = service_call(BH_SERVICE_CRYPTOD, bind_token ? "BindPeer" : "Ping", NULL);
        if (bind_token)
                dbus_message_append_args(m, DBUS_TYPE_STRING, &bind_token, DBUS_TYPE_INVALID);
        DBusMessage *r = call_and_wait(p->conn, m);
        if (dbus_message_get_type(r) != DBUS_MESSAGE_TYPE_METHOD_RETURN && bind_token)
                fuzz_fail(__FILE__, __LINE__, "BindPeer failed: %s", dbus_message_get_error_name(r));
        dbus_message_unref(r);
        dbus_message_unref(m);
}

/* ipc.c closes a peer connection that is not bound within 5 seconds
 * (PEER_BIND_SECONDS, a g_timeout_add_seconds(), which may fire up to a
 * second early): use one for 3 at most, then open another. False when no
 * token can be had for now. */
static bool ensure_unbound_peer(void) {
        if (peer_unbound.conn && g_get_monotonic_time() - peer_unbound.opened < 3 * G_USEC_PER_SEC) {
                FUZZ_CHECK(dbus_connection_get_is_connected(peer_unbound.conn),
                           "the unbound peer connection was closed early");
                return true;
        }
        peer_close(&peer_unbound);
        g_autofree char *address = NULL, *token = NULL;
        if (!open_peer_token(&address, &token))
                return false;
        peer_open(&peer_unbound, address, NULL);
        return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                snprintf(suite_names[i], sizeof suite_names[i], ":1.%d", 10 + i);

        /* The fake bus, in a thread while bh_ipc_connect() blocks. */
        DBusError err;
        dbus_error_init(&err);
        bus_ctx = g_main_context_new();
        bus_loop = g_main_loop_new(bus_ctx, FALSE);
        bus_server = dbus_server_listen("unix:tmpdir=/tmp", &err);
        if (!bus_server)
                fuzz_fail(__FILE__, __LINE__, "cannot listen: %s", err.message);
        dbus_server_set_new_connection_function(bus_server, bus_new_connection, NULL, NULL);
        bh_mainloop_attach_server(bus_server, bus_ctx);
        GThread *thread = g_thread_new("fake-bus", bus_thread, NULL);

        ipc = bh_ipc_new(NULL);
        char *address = dbus_server_get_address(bus_server);
        g_autoptr(GError) error = NULL;
        if (bh_ipc_connect(ipc, address, &error) < 0)
                fuzz_fail(__FILE__, __LINE__, "bh_ipc_connect: %s", error->message);
        dbus_free(address);
        g_main_loop_quit(bus_loop);
        g_thread_join(thread);

        /* From here on, one thread and the default main context. */
        bh_mainloop_detach_server(bus_server);
        dbus_server_disconnect(bus_server);
        bh_mainloop_detach_connection(bus_end, bus_end_source);
        bus_end_source = bh_mainloop_attach_connection(bus_end, g_main_context_default());
        g_timeout_add(100, tick, NULL);

        for (const BhInterfaceInfo *const *i = bh_interfaces; *i; i++)
                register_interface(*i);

        g_autofree char *peer_address = NULL, *token = NULL;
        if (!open_peer_token(&peer_address, &token))
                fuzz_fail(__FILE__, __LINE__, "no peer token at start");
        peer_open(&peer_bound, peer_address, token);
        ensure_unbound_peer();
        return 0;
}


/* ------------------------------------------------------------ the mutator */

/* Byte mutations of a marshalled message rarely survive
 * dbus_message_demarshal() (lengths, alignment, the signature of the
 * body), so libFuzzer gets a mutator that takes the message apart and
 * changes what the dispatcher looks at: who sends, the type and flags, the
 * path, interface and member (often ones that exist), and the body (the
 * signature a method declares, or another one, with random values). Byte
 * mutations still happen one time in four. */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

static uint64_t rng;

static unsigned rnd(unsigned n) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        return n ? (unsigned) ((rng >> 33) % n) : 0;
}

static const char *const random_words[] = {
        "", "x", "errors", "events", "information", "debug", "none", "branch-manual", "head-office",
        "org.bulkhead.Service1", "192.0.2.1", "aes256gcm16", "0123456789abcdef0123456789abcdef",
        "\xc3\xa9t\xc3\xa9", "a much longer string than the others, to see lengths that are not tiny at all",
};

static const char *random_member(const BhInterfaceInfo **ret_iface, const BhMethodInfo **ret_method) {
        size_t n_ifaces = 0;
        while (bh_interfaces[n_ifaces])
                n_ifaces++;
        const BhInterfaceInfo *iface = bh_interfaces[rnd((unsigned) n_ifaces)];
        size_t n = 0;
        while (iface->methods[n].name)
                n++;
        *ret_iface = iface;
        *ret_method = n ? &iface->methods[rnd((unsigned) n)] : NULL;
        return *ret_method ? (*ret_method)->name : "Ping";
}

static const char *random_path(void) {
        switch (rnd(4)) {
        case 0: return "/";
        case 1: return "/org/bulkhead";
        default: return bh_suite[rnd(_BH_SERVICE_MAX)].path;
        }
}

/* A word, or the name of an interface or of a property: what
 * Properties.Get/Set/GetAll take. */
static const char *random_string(void) {
        const BhInterfaceInfo *iface;
        const BhMethodInfo *method;
        unsigned n = 0;
        switch (rnd(3)) {
        case 0:
                return random_words[rnd(G_N_ELEMENTS(random_words))];
        case 1:
                random_member(&iface, &method);
                return iface->name;
        default:
                random_member(&iface, &method);
                while (iface->properties[n].name)
                        n++;
                return n ? iface->properties[rnd(n)].name : "LogLevel";
        }
}

static void random_value(DBusMessageIter *it, DBusSignatureIter *sig, unsigned depth);

static void random_basic(DBusMessageIter *it, int type) {
        DBusBasicValue v;
        memset(&v, 0, sizeof v);
        const char *str;
        switch (type) {
        case DBUS_TYPE_STRING:
                str = random_string();
                dbus_message_iter_append_basic(it, type, &str);
                return;
        case DBUS_TYPE_OBJECT_PATH:
                str = random_path();
                dbus_message_iter_append_basic(it, type, &str);
                return;
        case DBUS_TYPE_SIGNATURE: {
                static const char *const sigs[] = { "", "s", "a{sv}", "(ss)", "v", "ay" };
                str = sigs[rnd(G_N_ELEMENTS(sigs))];
                dbus_message_iter_append_basic(it, type, &str);
                return;
        }
        case DBUS_TYPE_BOOLEAN:
                v.bool_val = rnd(2);
                break;
        case DBUS_TYPE_DOUBLE:
                v.dbl = (double) rnd(1000) / 7.0;
                break;
        default:
                v.u64 = rnd(4) == 0 ? ~0ull : rnd(70000);
                break;
        }
        dbus_message_iter_append_basic(it, type, &v);
}

static void random_value(DBusMessageIter *it, DBusSignatureIter *sig, unsigned depth) {
        int type = dbus_signature_iter_get_current_type(sig);
        DBusMessageIter sub;
        DBusSignatureIter inner;
        if (type == DBUS_TYPE_ARRAY) {
                dbus_signature_iter_recurse(sig, &inner);
                char *elem = dbus_signature_iter_get_signature(&inner);
                dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, elem, &sub);
                for (unsigned i = depth < 4 ? rnd(4) : 0; i > 0; i--) {
                        DBusSignatureIter e;
                        dbus_signature_iter_recurse(sig, &e);
                        random_value(&sub, &e, depth + 1);
                }
                dbus_message_iter_close_container(it, &sub);
                dbus_free(elem);
        } else if (type == DBUS_TYPE_STRUCT || type == DBUS_TYPE_DICT_ENTRY) {
                dbus_signature_iter_recurse(sig, &inner);
                dbus_message_iter_open_container(it, type, NULL, &sub);
                do
                        random_value(&sub, &inner, depth + 1);
                while (dbus_signature_iter_next(&inner));
                dbus_message_iter_close_container(it, &sub);
        } else if (type == DBUS_TYPE_VARIANT) {
                static const char *const types[] = { "s", "u", "t", "b", "as", "a{st}", "(su)", "v" };
                const char *t = depth < 4 ? types[rnd(G_N_ELEMENTS(types))] : "s";
                DBusSignatureIter vs;
                dbus_signature_iter_init(&vs, t);
                dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, t, &sub);
                random_value(&sub, &vs, depth + 1);
                dbus_message_iter_close_container(it, &sub);
        } else {
                random_basic(it, type);
        }
}

/* No unix fds ('h'): none can pass on these connections. */
static const char *random_signature(void) {
        static const char *const sigs[] = {
                "", "s", "ss", "ssv", "u", "b", "t", "i", "su", "ay", "as", "a{sv}", "a{st}", "(ss)",
                "v", "sv", "ssu", "o", "g", "a(sssuqqqbssss)", "aay", "a{sa{sv}}", "sa{sv}as", "d", "yn",
        };
        return sigs[rnd(G_N_ELEMENTS(sigs))];
}

/* A declared signature with every unix fd made a uint32. */
static char *without_fds(const char *sig) {
        char *s = g_strdup(sig);
        for (char *c = s; *c; c++)
                if (*c == DBUS_TYPE_UNIX_FD)
                        *c = DBUS_TYPE_UINT32;
        return s;
}

static void append_random_body(DBusMessage *m, const char *declared) {
        DBusMessageIter it;
        DBusSignatureIter s;
        g_autofree char *sig = without_fds(declared);
        dbus_message_iter_init_append(m, &it);
        if (!*sig || !dbus_signature_validate(sig, NULL))
                return;
        dbus_signature_iter_init(&s, sig);
        do
                random_value(&it, &s, 0);
        while (dbus_signature_iter_next(&s));
}

/* Deep copy of the values at `from` into `to`. */
static void copy_values(DBusMessageIter *from, DBusMessageIter *to) {
        for (int type; (type = dbus_message_iter_get_arg_type(from)) != DBUS_TYPE_INVALID; dbus_message_iter_next(from)) {
                if (!dbus_type_is_container(type)) {
                        DBusBasicValue v;
                        dbus_message_iter_get_basic(from, &v);
                        dbus_message_iter_append_basic(to, type, &v);
                        continue;
                }
                DBusMessageIter fs, ts;
                char *sig = NULL;
                dbus_message_iter_recurse(from, &fs);
                if (type == DBUS_TYPE_ARRAY) {
                        char *full = dbus_message_iter_get_signature(from);
                        sig = g_strdup(full + 1); /* the element's */
                        dbus_free(full);
                } else if (type == DBUS_TYPE_VARIANT) {
                        char *inner = dbus_message_iter_get_signature(&fs);
                        sig = g_strdup(inner);
                        dbus_free(inner);
                }
                dbus_message_iter_open_container(to, type, sig, &ts);
                copy_values(&fs, &ts);
                dbus_message_iter_close_container(to, &ts);
                g_free(sig);
        }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
        rng = seed;
        DBusMessage *m = NULL;
        if (size >= 1 && rnd(4) != 0)
                m = dbus_message_demarshal((const char *) data + 1, (int) MIN(size - 1, (size_t) INT_MAX), NULL);
        if (!m)
                return LLVMFuzzerMutate ? LLVMFuzzerMutate(data, size, max_size) : size;

        uint8_t channel = data[0];
        int type = dbus_message_get_type(m);
        g_autofree char *path = g_strdup(dbus_message_get_path(m));
        g_autofree char *iface = g_strdup(dbus_message_get_interface(m));
        g_autofree char *member = g_strdup(dbus_message_get_member(m));
        g_autofree char *sig = NULL;
        bool no_reply = dbus_message_get_no_reply(m), keep_body = true;
        g_autofree char *prop_iface = NULL, *prop_name = NULL, *prop_type = NULL;
        int prop_op = -1; /* 0 GetAll, 1 Get, 2 Set: the body is made below */

        for (unsigned n = 1 + rnd(3); n > 0; n--) {
                const BhInterfaceInfo *bi;
                const BhMethodInfo *mi;
                switch (rnd(10)) {
                case 0:
                        channel = (uint8_t) rnd(FUZZ_DBUS_CHANNELS);
                        break;
                case 1:
                        g_free(path);
                        path = g_strdup(random_path());
                        break;
                case 2: {
                        static const char *const std[] = { DBUS_INTERFACE_PROPERTIES, DBUS_INTERFACE_INTROSPECTABLE,
                                                           DBUS_INTERFACE_PEER, NULL };
                        g_free(iface);
                        iface = g_strdup(rnd(2) ? random_member(&bi, &mi), bi->name : std[rnd(G_N_ELEMENTS(std))]);
                        break;
                }
                case 3: {
                        static const char *const std[] = { "Get", "GetAll", "Set", "Introspect", "Ping",
                                                           "GetMachineId", "BindPeer", "OpenPeer" };
                        g_free(member);
                        member = g_strdup(rnd(2) ? random_member(&bi, &mi) : std[rnd(G_N_ELEMENTS(std))]);
                        break;
                }
                case 4:
                        g_free(sig);
                        sig = g_strdup(random_signature());
                        keep_body = false;
                        break;
                case 5:
                        no_reply = !no_reply;
                        break;
                case 6:
                        type = rnd(3) ? DBUS_MESSAGE_TYPE_METHOD_CALL : DBUS_MESSAGE_TYPE_SIGNAL;
                        break;
                case 7: {
                        /* Properties.Get, Set or GetAll of an interface at its
                         * path, for a property that exists (mostly). */
                        random_member(&bi, &mi);
                        unsigned np = 0;
                        while (bi->properties[np].name)
                                np++;
                        const BhPropertyInfo *pi = np ? &bi->properties[rnd(np)] : NULL;
                        static const char *const ops[] = { "Get", "Set", "GetAll" };
                        const char *op = ops[rnd(3)];
                        g_free(member);
                        member = g_strdup(op);
                        g_free(iface);
                        iface = g_strdup(DBUS_INTERFACE_PROPERTIES);
                        g_free(path);
                        g_autofree char *bus_name = g_strdup(bi->name);
                        for (char *e = bus_name + strlen(bus_name); e > bus_name && g_ascii_isdigit(e[-1]); e--)
                                e[-1] = '\0';
                        const BhSuiteEntry *owner = bh_suite_by_bus_name(bus_name);
                        path = g_strdup(owner ? owner->path : bh_suite[rnd(_BH_SERVICE_MAX)].path);
                        type = DBUS_MESSAGE_TYPE_METHOD_CALL;
                        keep_body = false;
                        g_free(sig);
                        sig = NULL;
                        g_free(prop_iface);
                        prop_iface = g_strdup(bi->name);
                        g_free(prop_name);
                        prop_name = g_strdup(pi && rnd(8) ? pi->name : "NoSuchProperty");
                        g_free(prop_type);
                        prop_type = without_fds(pi && rnd(3) ? pi->type : random_signature());
                        prop_op = strcmp(op, "Set") == 0 ? 2 : strcmp(op, "Get") == 0 ? 1 : 0;
                        break;
                }
                default: {
                        /* A call that exists, with its own signature. */
                        g_free(member);
                        member = g_strdup(random_member(&bi, &mi));
                        g_free(iface);
                        iface = rnd(5) ? g_strdup(bi->name) : NULL;
                        g_free(sig);
                        sig = g_strdup(mi ? mi->in_sig : "");
                        keep_body = false;
                        type = DBUS_MESSAGE_TYPE_METHOD_CALL;
                        break;
                }
                }
        }

        DBusMessage *out = NULL;
        if (type == DBUS_MESSAGE_TYPE_SIGNAL && path && iface && member)
                out = dbus_message_new_signal(path, iface, member);
        else if (path && member)
                out = dbus_message_new_method_call(NULL, path, iface, member);
        if (!out) {
                dbus_message_unref(m);
                return LLVMFuzzerMutate ? LLVMFuzzerMutate(data, size, max_size) : size;
        }
        dbus_message_set_no_reply(out, no_reply);
        if (keep_body) {
                DBusMessageIter from, to;
                dbus_message_iter_init_append(out, &to);
                if (dbus_message_iter_init(m, &from))
                        copy_values(&from, &to);
        } else if (!sig && prop_op >= 0) {
                DBusMessageIter it, var;
                dbus_message_iter_init_append(out, &it);
                dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &prop_iface);
                if (prop_op >= 1)
                        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &prop_name);
                if (prop_op == 2 && *prop_type && dbus_signature_validate_single(prop_type, NULL)) {
                        DBusSignatureIter vs;
                        dbus_signature_iter_init(&vs, prop_type);
                        dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, prop_type, &var);
                        random_value(&var, &vs, 1);
                        dbus_message_iter_close_container(&it, &var);
                }
        } else
                append_random_body(out, sig ? sig : "");
        dbus_message_unref(m);

        dbus_message_set_serial(out, 1);
        char *bytes = NULL;
        int len = 0;
        size_t result = size;
        if (dbus_message_marshal(out, &bytes, &len) && (size_t) len + 1 <= max_size) {
                data[0] = channel;
                memcpy(data + 1, bytes, (size_t) len);
                result = (size_t) len + 1;
        } else if (LLVMFuzzerMutate)
                result = LLVMFuzzerMutate(data, size, max_size);
        dbus_free(bytes);
        dbus_message_unref(out);
        return result;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!ipc)
                LLVMFuzzerInitialize(NULL, NULL);
        if (size < 1)
                return 0;
        unsigned channel = data[0] % FUZZ_DBUS_CHANNELS;
        DBusError err;
        dbus_error_init(&err);
        DBusMessage *m = dbus_message_demarshal((const char *) data + 1, (int) MIN(size - 1, (size_t) INT_MAX), &err);
        if (!m) {
                dbus_error_free(&err);
                return 0;
        }

        DBusConnection *c;
        const char *sender = NULL;
        if (channel < FUZZ_DBUS_SERVICE) {
                c = bus_end;
                sender = plain_senders[channel].name;
        } else if (channel < FUZZ_DBUS_PEER_BOUND) {
                c = bus_end;
                sender = suite_names[channel - FUZZ_DBUS_SERVICE];
        } else if (channel == FUZZ_DBUS_PEER_BOUND) {
                c = peer_bound.conn;
        } else {
                if (!ensure_unbound_peer()) {
                        dbus_message_unref(m);
                        return 0;
                }
                c = peer_unbound.conn;
        }
        /* The daemon writes who sent a message; a peer writes what it likes. */
        if (sender)
                dbus_message_set_sender(m, sender);
        dbus_message_set_serial(m, FUZZ_SERIAL);
        bool wants_reply = dbus_message_get_type(m) == DBUS_MESSAGE_TYPE_METHOD_CALL && !dbus_message_get_no_reply(m);
        /* libdbus answers org.freedesktop.DBus.Peer itself, before any
         * filter, and also messages of other types that name it. */
        bool libdbus_peer = dbus_message_has_interface(m, DBUS_INTERFACE_PEER);

        watch_conn = c;
        watch_serial = FUZZ_SERIAL;
        n_watch_replies = 0;
        if (!dbus_connection_send(c, m, NULL))
                fuzz_fail(__FILE__, __LINE__, "cannot send");
        dbus_message_unref(m);

        /* Behind it, from the same sender: answered once it went through. */
        DBusMessage *ping = service_call(BH_SERVICE_CRYPTOD, "Ping", sender);
        DBusMessage *r = call_and_wait(c, ping);
        dbus_message_unref(r);
        dbus_message_unref(ping);
        watch_serial = 0;
        if (wants_reply)
                FUZZ_CHECK(n_watch_replies == 1, "a method call got %u answers", n_watch_replies);
        else if (libdbus_peer)
                FUZZ_CHECK(n_watch_replies <= 1, "a Peer message got %u answers", n_watch_replies);
        else
                FUZZ_CHECK(n_watch_replies == 0, "a message that wants no reply got %u", n_watch_replies);

        if (sender) {
                /* The client leaves the bus: its credentials are forgotten. */
                DBusMessage *s = dbus_message_new_signal(DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS, "NameOwnerChanged");
                const char *empty = "";
                dbus_message_append_args(s, DBUS_TYPE_STRING, &sender, DBUS_TYPE_STRING, &sender, DBUS_TYPE_STRING,
                                         &empty, DBUS_TYPE_INVALID);
                dbus_message_set_sender(s, DBUS_NAME);
                dbus_connection_send(bus_end, s, NULL);
                dbus_message_unref(s);
        }
        return 0;
}
