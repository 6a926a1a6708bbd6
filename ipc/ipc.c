/* SPDX-License-Identifier: ISC */
/* The dispatcher: objects, caller identity, signature checks, properties,
 * introspection, outgoing calls and peer-to-peer connections. */
#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

#define DBUS_NAME "org.freedesktop.DBus"
#define DBUS_PATH "/org/freedesktop/DBus"
#define IFACE_PROPERTIES "org.freedesktop.DBus.Properties"
#define IFACE_INTROSPECTABLE "org.freedesktop.DBus.Introspectable"
#define IFACE_PEER "org.freedesktop.DBus.Peer"
#define IFACE_LOCAL "org.freedesktop.DBus.Local"

/* How long a token from OpenPeer stays valid, and how many may wait. */
#define PEER_TOKEN_USEC (30 * G_USEC_PER_SEC)
#define PEER_TOKENS_MAX 64
/* Peer connections not yet bound: how many at once, and for how long. */
#define PEER_UNBOUND_MAX 16
#define PEER_BIND_SECONDS 5

typedef struct Binding {
        const BhInterfaceInfo *iface;
        const BhMethodImpl *methods;
        const BhPropertyImpl *properties;
        void *userdata;
} Binding;

/* A property whose change is still to be announced. */
typedef struct Changed {
        guint binding;          /* index in the object's bindings */
        const BhPropertyInfo *info;
        const BhPropertyImpl *impl;
} Changed;

typedef struct Object {
        char *path;
        GArray *bindings;       /* of Binding */
        GArray *changed;        /* of Changed, in the order they changed; NULL: none */
} Object;

typedef struct Creds {
        uid_t uid;
        bool admin;
} Creds;

typedef struct PeerGrant {
        BhServiceId service;
        bool uid_known;
        uid_t uid;
        bool admin;
        gint64 expires;
} PeerGrant;

typedef struct Watcher {
        char *interface;
        char *member;
        BhSignalFunc signal_func;
        BhOwnerFunc owner_func;
        void *userdata;
} Watcher;

struct BhConn {
        int ref;                /* the owner's, plus one per call and timer */
        GHashTable *pendings;   /* serial -> Pending: outgoing calls waiting for an answer */
        GSource *expiry;        /* fails the calls past their deadline */
        gint64 expiry_at;       /* monotonic µs it fires at */
        BhIpc *ipc;
        DBusConnection *dbus;
        GSource *source;
        bool peer;
        bool closed;
        /* Peer connections: who is at the other end, once known. */
        bool bound;
        BhCaller peer_caller;
};

struct BhCall {
        int ref;
        BhConn *conn;
        DBusMessage *msg;
        BhCaller caller;
        char *sender;
        bool answered;
};

typedef struct Queued {
        DBusMessage *msg;
        int timeout_ms;
        BhReplyFunc cb;
        void *userdata;
} Queued;

/* The direct connection to one service, and the calls that wait for it
 * while it opens: so calls to a service keep their order, whichever way
 * they go. */
typedef struct Link {
        BhIpc *ipc;
        BhServiceId service;
        BhConn *conn;           /* open and bound, or NULL */
        bool opening;
        gint64 retry_at;        /* monotonic µs: no attempt before */
        GQueue waiting;         /* of Queued */
} Link;

struct BhIpc {
        GMainContext *ctx;
        BhConn *bus;
        char *unique_name;
        GHashTable *objects;            /* path -> Object */
        char *owners[_BH_SERVICE_MAX];  /* unique name owning each suite name */
        GHashTable *creds;              /* sender -> Creds */
        GHashTable *waiting;            /* sender -> GQueue of DBusMessage waiting for Creds */
        bool have_admin_gid;
        gid_t admin_gid;
        GPtrArray *watchers;            /* of Watcher */
        GPtrArray *changed;             /* of Object with properties to announce, in order */
        GSource *announce;              /* announces them once this round of the main loop is done */
        Link *links[_BH_SERVICE_MAX];   /* bh_ipc_call()'s direct connections */
        bool closing;
        void (*disconnect_func)(void *);
        void *disconnect_userdata;
        DBusServer *server;
        GHashTable *tokens;             /* token -> PeerGrant */
        GPtrArray *peers;               /* BhConn accepted by our server */
};

static const char standard_xml[] =
        "  <interface name=\"org.freedesktop.DBus.Introspectable\">\n"
        "    <method name=\"Introspect\"><arg name=\"xml\" type=\"s\" direction=\"out\"/></method>\n"
        "  </interface>\n"
        "  <interface name=\"org.freedesktop.DBus.Peer\">\n"
        "    <method name=\"Ping\"/>\n"
        "    <method name=\"GetMachineId\"><arg name=\"machine_uuid\" type=\"s\" direction=\"out\"/></method>\n"
        "  </interface>\n"
        "  <interface name=\"org.freedesktop.DBus.Properties\">\n"
        "    <method name=\"Get\"><arg name=\"interface\" type=\"s\" direction=\"in\"/>"
        "<arg name=\"property\" type=\"s\" direction=\"in\"/><arg name=\"value\" type=\"v\" direction=\"out\"/></method>\n"
        "    <method name=\"GetAll\"><arg name=\"interface\" type=\"s\" direction=\"in\"/>"
        "<arg name=\"properties\" type=\"a{sv}\" direction=\"out\"/></method>\n"
        "    <method name=\"Set\"><arg name=\"interface\" type=\"s\" direction=\"in\"/>"
        "<arg name=\"property\" type=\"s\" direction=\"in\"/><arg name=\"value\" type=\"v\" direction=\"in\"/></method>\n"
        "    <signal name=\"PropertiesChanged\"><arg name=\"interface\" type=\"s\"/>"
        "<arg name=\"changed\" type=\"a{sv}\"/><arg name=\"invalidated\" type=\"as\"/></signal>\n"
        "  </interface>\n";

static DBusHandlerResult conn_filter(DBusConnection *dbus, DBusMessage *msg, void *userdata);
static void dispatch(BhConn *conn, DBusMessage *msg);
static void conn_unref(BhConn *conn);

/* ---------------------------------------------------------------- callers */

bool bh_caller_allowed(const BhCaller *caller, uint32_t access) {
        if (access & BH_ACCESS_ANY)
                return true;
        if (caller->service != BH_SERVICE_NONE) {
                if (access & BH_ACCESS_SUITE)
                        return true;
                if (access & bh_suite[caller->service].access_bit)
                        return true;
        }
        if ((access & BH_ACCESS_ADMIN) && caller->uid_known && caller->admin)
                return true;
        return false;
}

const char *bh_caller_describe(const BhCaller *caller, char *buf, size_t size) {
        char uid[32] = "uid unknown";
        if (caller->uid_known)
                snprintf(uid, sizeof uid, "uid %u", (unsigned) caller->uid);
        snprintf(buf, size, "%s%s%s (%s)", caller->service != BH_SERVICE_NONE ? bh_suite[caller->service].name : "",
                 caller->service != BH_SERVICE_NONE ? " " : "", caller->sender ? caller->sender : "peer", uid);
        return buf;
}

static BhServiceId service_of_sender(BhIpc *ipc, const char *sender) {
        if (!sender)
                return BH_SERVICE_NONE;
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                if (ipc->owners[i] && strcmp(ipc->owners[i], sender) == 0)
                        return i;
        return BH_SERVICE_NONE;
}

static bool uid_is_admin(BhIpc *ipc, uid_t uid, const gid_t *gids, size_t n_gids) {
        if (uid == 0)
                return true;
        if (!ipc->have_admin_gid)
                return false;
        for (size_t i = 0; i < n_gids; i++)
                if (gids[i] == ipc->admin_gid)
                        return true;
        return false;
}

/* ---------------------------------------------------------------- calls */

static BhCall *call_new(BhConn *conn, DBusMessage *msg) {
        BhCall *call = g_new0(BhCall, 1);
        call->ref = 1;
        call->conn = conn;
        conn->ref++;
        call->msg = dbus_message_ref(msg);
        if (conn->peer) {
                call->caller = conn->peer_caller;
                call->caller.sender = NULL;
        } else {
                call->sender = g_strdup(dbus_message_get_sender(msg));
                call->caller.sender = call->sender;
                call->caller.service = service_of_sender(conn->ipc, call->sender);
                Creds *cr = call->sender ? g_hash_table_lookup(conn->ipc->creds, call->sender) : NULL;
                if (cr) {
                        call->caller.uid_known = true;
                        call->caller.uid = cr->uid;
                        call->caller.admin = cr->admin;
                }
        }
        return call;
}

BhCall *bh_call_ref(BhCall *call) {
        call->ref++;
        return call;
}

void bh_call_unref(BhCall *call) {
        if (!call || --call->ref > 0)
                return;
        if (!call->answered && !dbus_message_get_no_reply(call->msg)) {
                /* A handler that forgets to answer is a bug; the caller still
                 * gets an answer instead of waiting for its timeout. */
                g_warning("%s.%s: handler did not answer", dbus_message_get_interface(call->msg),
                          dbus_message_get_member(call->msg));
                DBusMessage *err = dbus_message_new_error(call->msg, BH_ERROR_FAILED, "internal error: no answer");
                if (err && !call->conn->closed)
                        dbus_connection_send(call->conn->dbus, err, NULL);
                if (err)
                        dbus_message_unref(err);
        }
        dbus_message_unref(call->msg);
        conn_unref(call->conn);
        g_free(call->sender);
        g_free(call);
}

DBusMessage *bh_call_message(BhCall *call) {
        return call->msg;
}
const BhCaller *bh_call_caller(BhCall *call) {
        return &call->caller;
}
BhConn *bh_call_conn(BhCall *call) {
        return call->conn;
}
BhIpc *bh_call_ipc(BhCall *call) {
        return call->conn->ipc;
}
bool bh_call_answered(BhCall *call) {
        return call->answered;
}

DBusMessage *bh_call_new_return(BhCall *call) {
        DBusMessage *reply = dbus_message_new_method_return(call->msg);
        if (!reply)
                g_error("out of memory");
        return reply;
}

void bh_call_return_message(BhCall *call, DBusMessage *reply) {
        g_return_if_fail(!call->answered);
        call->answered = true;
        if (!dbus_message_get_no_reply(call->msg) && !call->conn->closed)
                dbus_connection_send(call->conn->dbus, reply, NULL);
        dbus_message_unref(reply);
}

void bh_call_return(BhCall *call, int first_type, ...) {
        DBusMessage *reply = bh_call_new_return(call);
        va_list ap;
        va_start(ap, first_type);
        if (!dbus_message_append_args_valist(reply, first_type, ap))
                g_error("out of memory");
        va_end(ap);
        bh_call_return_message(call, reply);
}

void bh_call_return_empty(BhCall *call) {
        bh_call_return_message(call, bh_call_new_return(call));
}

void bh_call_error(BhCall *call, const char *name, const char *format, ...) {
        g_return_if_fail(!call->answered);
        va_list ap;
        va_start(ap, format);
        g_autofree char *text = g_strdup_vprintf(format, ap);
        va_end(ap);
        call->answered = true;
        if (dbus_message_get_no_reply(call->msg) || call->conn->closed)
                return;
        DBusMessage *err = dbus_message_new_error(call->msg, name, text);
        if (!err)
                g_error("out of memory");
        dbus_connection_send(call->conn->dbus, err, NULL);
        dbus_message_unref(err);
}

/* ---------------------------------------------------------------- objects */

static void object_free(void *p) {
        Object *o = p;
        g_free(o->path);
        g_array_unref(o->bindings);
        if (o->changed)
                g_array_unref(o->changed);
        g_free(o);
}

void bh_ipc_add_object(BhIpc *ipc, const char *path, const BhInterfaceInfo *iface, const BhMethodImpl *methods,
                       const BhPropertyImpl *properties, void *userdata) {
        /* The C table must be exactly what the XML declares: checked once here
         * so that a missing handler is found at start, not by a caller. */
        size_t n_impl = 0, n_decl = 0;
        for (const BhMethodImpl *m = methods; m && m->member; m++, n_impl++) {
                for (const BhMethodImpl *o = methods; o != m; o++)
                        if (strcmp(o->member, m->member) == 0)
                                g_error("%s: method %s implemented twice", iface->name, m->member);
                const BhMethodInfo *info = iface->methods;
                while (info->name && strcmp(info->name, m->member) != 0)
                        info++;
                if (!info->name || !m->func)
                        g_error("%s: method %s is not in the interface XML (or has no handler)", iface->name,
                                m->member);
        }
        for (const BhMethodInfo *info = iface->methods; info->name; info++)
                n_decl++;
        if (n_impl != n_decl)
                g_error("%s: %zu methods declared but %zu implemented", iface->name, n_decl, n_impl);
        n_impl = n_decl = 0;
        for (const BhPropertyImpl *p = properties; p && p->name; p++, n_impl++) {
                for (const BhPropertyImpl *o = properties; o != p; o++)
                        if (strcmp(o->name, p->name) == 0)
                                g_error("%s: property %s implemented twice", iface->name, p->name);
                const BhPropertyInfo *info = iface->properties;
                while (info->name && strcmp(info->name, p->name) != 0)
                        info++;
                if (!info->name || !p->get || (info->writable != (p->set != NULL)))
                        g_error("%s: property %s does not match the interface XML", iface->name, p->name);
        }
        for (const BhPropertyInfo *info = iface->properties; info->name; info++)
                n_decl++;
        if (n_impl != n_decl)
                g_error("%s: %zu properties declared but %zu implemented", iface->name, n_decl, n_impl);

        Object *o = g_hash_table_lookup(ipc->objects, path);
        if (!o) {
                o = g_new0(Object, 1);
                o->path = g_strdup(path);
                o->bindings = g_array_new(FALSE, TRUE, sizeof(Binding));
                g_hash_table_insert(ipc->objects, o->path, o);
        }
        Binding b = { iface, methods, properties, userdata };
        g_array_append_val(o->bindings, b);
}

static void announce_object(BhIpc *ipc, Object *o);

void bh_ipc_remove_object(BhIpc *ipc, const char *path) {
        Object *o = g_hash_table_lookup(ipc->objects, path);
        if (o && o->changed) {
                /* Its last changes go out before it does. */
                announce_object(ipc, o);
                g_ptr_array_remove(ipc->changed, o);
        }
        g_hash_table_remove(ipc->objects, path);
}

static const Binding *object_binding(Object *o, const char *iface) {
        for (guint i = 0; i < o->bindings->len; i++) {
                const Binding *b = &g_array_index(o->bindings, Binding, i);
                if (strcmp(b->iface->name, iface) == 0)
                        return b;
        }
        return NULL;
}

static const BhMethodInfo *binding_method(const Binding *b, const char *member, BhMethodFunc *ret_func) {
        for (const BhMethodInfo *info = b->iface->methods; info->name; info++) {
                if (strcmp(info->name, member) != 0)
                        continue;
                for (const BhMethodImpl *m = b->methods; m && m->member; m++)
                        if (strcmp(m->member, member) == 0) {
                                *ret_func = m->func;
                                return info;
                        }
        }
        return NULL;
}

static const BhPropertyInfo *binding_property(const Binding *b, const char *name, const BhPropertyImpl **ret_impl) {
        for (const BhPropertyInfo *info = b->iface->properties; info->name; info++) {
                if (strcmp(info->name, name) != 0)
                        continue;
                for (const BhPropertyImpl *p = b->properties; p && p->name; p++)
                        if (strcmp(p->name, name) == 0) {
                                *ret_impl = p;
                                return info;
                        }
        }
        return NULL;
}

/* ---------------------------------------------------------------- introspection */

static char *introspect(BhIpc *ipc, const char *path) {
        GString *s = g_string_new(DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE "<node>\n");
        Object *o = g_hash_table_lookup(ipc->objects, path);
        if (o) {
                g_string_append(s, standard_xml);
                for (guint i = 0; i < o->bindings->len; i++) {
                        const Binding *b = &g_array_index(o->bindings, Binding, i);
                        g_string_append(s, b->iface->xml);
                }
        }
        /* Children: the next path element of every object below this path. */
        size_t plen = strcmp(path, "/") == 0 ? 0 : strlen(path);
        g_autoptr(GHashTable) seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        GHashTableIter it;
        gpointer key;
        g_hash_table_iter_init(&it, ipc->objects);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
                const char *p = key;
                if (strncmp(p, path, plen) != 0 || p[plen] != '/' || p[plen + 1] == '\0')
                        continue;
                const char *child = p + plen + 1;
                size_t clen = strcspn(child, "/");
                char *name = g_strndup(child, clen);
                if (g_hash_table_contains(seen, name)) {
                        g_free(name);
                        continue;
                }
                g_hash_table_add(seen, name);
                g_string_append_printf(s, "  <node name=\"%s\"/>\n", name);
        }
        g_string_append(s, "</node>\n");
        return g_string_free(s, FALSE);
}

/* ---------------------------------------------------------------- properties */

static void append_property(DBusMessageIter *iter, const BhPropertyInfo *info, const BhPropertyImpl *impl,
                            void *userdata) {
        DBusMessageIter var;
        dbus_message_iter_open_container(iter, DBUS_TYPE_VARIANT, info->type, &var);
        impl->get(&var, userdata);
        dbus_message_iter_close_container(iter, &var);
}

static void handle_properties(BhCall *call, Object *o, const char *member) {
        DBusMessage *msg = call->msg;
        const char *iface = NULL, *name = NULL;
        if (strcmp(member, "Get") == 0) {
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
                                           DBUS_TYPE_INVALID) ||
                    !dbus_message_has_signature(msg, "ss")) {
                        bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "Get expects signature 'ss', got '%s'",
                                      dbus_message_get_signature(msg));
                        return;
                }
        } else if (strcmp(member, "GetAll") == 0) {
                if (!dbus_message_has_signature(msg, "s") ||
                    !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID)) {
                        bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "GetAll expects signature 's', got '%s'",
                                      dbus_message_get_signature(msg));
                        return;
                }
        } else if (strcmp(member, "Set") == 0) {
                if (!dbus_message_has_signature(msg, "ssv")) {
                        bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "Set expects signature 'ssv', got '%s'",
                                      dbus_message_get_signature(msg));
                        return;
                }
                dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
                                      DBUS_TYPE_INVALID);
        } else {
                bh_call_error(call, DBUS_ERROR_UNKNOWN_METHOD, "no method %s in %s", member, IFACE_PROPERTIES);
                return;
        }

        const Binding *b = object_binding(o, iface);
        if (!b) {
                bh_call_error(call, DBUS_ERROR_UNKNOWN_INTERFACE, "no interface %s at %s", iface, o->path);
                return;
        }
        if (strcmp(member, "GetAll") == 0) {
                DBusMessage *reply = bh_call_new_return(call);
                DBusMessageIter it, arr, ent;
                dbus_message_iter_init_append(reply, &it);
                dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &arr);
                for (const BhPropertyImpl *p = b->properties; p && p->name; p++) {
                        const BhPropertyImpl *impl;
                        const BhPropertyInfo *info = binding_property(b, p->name, &impl);
                        dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                        dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &info->name);
                        append_property(&ent, info, impl, b->userdata);
                        dbus_message_iter_close_container(&arr, &ent);
                }
                dbus_message_iter_close_container(&it, &arr);
                bh_call_return_message(call, reply);
                return;
        }

        const BhPropertyImpl *impl = NULL;
        const BhPropertyInfo *info = binding_property(b, name, &impl);
        if (!info) {
                bh_call_error(call, DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s in %s", name, iface);
                return;
        }
        if (strcmp(member, "Get") == 0) {
                DBusMessage *reply = bh_call_new_return(call);
                DBusMessageIter it;
                dbus_message_iter_init_append(reply, &it);
                append_property(&it, info, impl, b->userdata);
                bh_call_return_message(call, reply);
                return;
        }

        /* Set: who, then whether it can be set, then the value's type. */
        if (!bh_caller_allowed(&call->caller, info->access)) {
                char who[128];
                bh_call_error(call, DBUS_ERROR_ACCESS_DENIED, "%s may not set %s.%s",
                              bh_caller_describe(&call->caller, who, sizeof who), iface, name);
                return;
        }
        if (!info->writable) {
                bh_call_error(call, DBUS_ERROR_PROPERTY_READ_ONLY, "%s.%s is read-only", iface, name);
                return;
        }
        DBusMessageIter it, var;
        dbus_message_iter_init(msg, &it);
        dbus_message_iter_next(&it);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &var);
        char *sig = dbus_message_iter_get_signature(&var);
        bool ok = sig && strcmp(sig, info->type) == 0;
        if (!ok) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "%s.%s has type '%s', got '%s'", iface, name,
                              info->type, sig ? sig : "");
                dbus_free(sig);
                return;
        }
        dbus_free(sig);
        impl->set(call, &var, b->userdata);
}

/* One PropertiesChanged for each interface of the object with changes,
 * with the values they have now. */
static void announce_object(BhIpc *ipc, Object *o) {
        g_autoptr(GArray) changed = g_steal_pointer(&o->changed);
        for (guint k = 0; k < o->bindings->len; k++) {
                const Binding *b = &g_array_index(o->bindings, Binding, k);
                DBusMessage *sig = NULL;
                DBusMessageIter it, arr, ent;
                for (guint i = 0; i < changed->len; i++) {
                        const Changed *c = &g_array_index(changed, Changed, i);
                        if (c->binding != k)
                                continue;
                        if (!sig) {
                                sig = dbus_message_new_signal(o->path, IFACE_PROPERTIES, "PropertiesChanged");
                                dbus_message_iter_init_append(sig, &it);
                                dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &b->iface->name);
                                dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &arr);
                        }
                        dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                        dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &c->info->name);
                        append_property(&ent, c->info, c->impl, b->userdata);
                        dbus_message_iter_close_container(&arr, &ent);
                }
                if (!sig)
                        continue;
                dbus_message_iter_close_container(&it, &arr);
                dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &arr);
                dbus_message_iter_close_container(&it, &arr);
                if (ipc->bus && !ipc->bus->closed)
                        dbus_connection_send(ipc->bus->dbus, sig, NULL);
                dbus_message_unref(sig);
        }
}

static gboolean announce_changes(void *userdata) {
        BhIpc *ipc = userdata;
        g_autoptr(GPtrArray) objects = g_steal_pointer(&ipc->changed);
        ipc->changed = g_ptr_array_new();
        g_clear_pointer(&ipc->announce, g_source_unref);
        for (guint i = 0; i < objects->len; i++)
                announce_object(ipc, g_ptr_array_index(objects, i));
        return G_SOURCE_REMOVE;
}

char *bh_object_path_escape(const char *name) {
        if (!*name)
                return g_strdup("_");
        GString *s = g_string_new(NULL);
        for (const unsigned char *c = (const unsigned char *) name; *c; c++) {
                if (g_ascii_isalnum(*c))
                        g_string_append_c(s, (char) *c);
                else
                        g_string_append_printf(s, "_%02x", *c);
        }
        return g_string_free(s, FALSE);
}

char *bh_object_path_unescape(const char *elem) {
        if (strcmp(elem, "_") == 0)
                return g_strdup("");
        GString *s = g_string_new(NULL);
        for (const char *c = elem; *c; c++) {
                if (g_ascii_isalnum(*c)) {
                        g_string_append_c(s, *c);
                } else if (*c == '_' && g_ascii_isxdigit(c[1]) && g_ascii_isxdigit(c[2])) {
                        g_string_append_c(s, (char) (g_ascii_xdigit_value(c[1]) << 4 | g_ascii_xdigit_value(c[2])));
                        c += 2;
                } else {
                        g_string_free(s, TRUE);
                        return NULL;
                }
        }
        return g_string_free(s, FALSE);
}

void bh_ipc_property_changed(BhIpc *ipc, const char *path, const char *interface, const char *property) {
        Object *o = g_hash_table_lookup(ipc->objects, path);
        guint k = 0;
        while (o && k < o->bindings->len && strcmp(g_array_index(o->bindings, Binding, k).iface->name, interface) != 0)
                k++;
        const BhPropertyImpl *impl = NULL;
        const BhPropertyInfo *info =
                o && k < o->bindings->len ? binding_property(&g_array_index(o->bindings, Binding, k), property, &impl)
                                          : NULL;
        g_return_if_fail(info);
        if (!o->changed) {
                o->changed = g_array_new(FALSE, FALSE, sizeof(Changed));
                g_ptr_array_add(ipc->changed, o);
        }
        for (guint i = 0; i < o->changed->len; i++) {
                const Changed *c = &g_array_index(o->changed, Changed, i);
                if (c->binding == k && c->info == info)
                        return;
        }
        Changed c = { k, info, impl };
        g_array_append_val(o->changed, c);
        if (!ipc->announce) {
                /* At the priority of the messages: changes made while one is
                 * handled go out together, and a busy loop does not hold them. */
                ipc->announce = g_idle_source_new();
                g_source_set_priority(ipc->announce, G_PRIORITY_DEFAULT);
                g_source_set_callback(ipc->announce, announce_changes, ipc, NULL);
                g_source_attach(ipc->announce, ipc->ctx);
        }
}

void bh_ipc_emit(BhIpc *ipc, const char *path, const BhInterfaceInfo *iface, const char *signal, int first_type,
                 ...) {
        const BhSignalInfo *info = iface->signals;
        while (info->name && strcmp(info->name, signal) != 0)
                info++;
        g_return_if_fail(info->name);
        DBusMessage *sig = dbus_message_new_signal(path, iface->name, signal);
        va_list ap;
        va_start(ap, first_type);
        dbus_message_append_args_valist(sig, first_type, ap);
        va_end(ap);
        if (!dbus_message_has_signature(sig, info->sig))
                g_error("%s.%s emitted with signature '%s', declared '%s'", iface->name, signal,
                        dbus_message_get_signature(sig), info->sig);
        if (ipc->bus && !ipc->bus->closed)
                dbus_connection_send(ipc->bus->dbus, sig, NULL);
        dbus_message_unref(sig);
}

/* ---------------------------------------------------------------- dispatch */

static void dispatch_method(BhCall *call) {
        BhIpc *ipc = call->conn->ipc;
        DBusMessage *msg = call->msg;
        const char *path = dbus_message_get_path(msg);
        const char *iface = dbus_message_get_interface(msg);
        const char *member = dbus_message_get_member(msg);
        char who[128];

        if (iface && strcmp(iface, IFACE_INTROSPECTABLE) == 0 && strcmp(member, "Introspect") == 0) {
                g_autofree char *xml = introspect(ipc, path);
                bh_call_return(call, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID);
                return;
        }
        if (iface && strcmp(iface, IFACE_PEER) == 0) {
                if (strcmp(member, "Ping") == 0) {
                        bh_call_return_empty(call);
                } else if (strcmp(member, "GetMachineId") == 0) {
                        char *id = dbus_get_local_machine_id();
                        bh_call_return(call, DBUS_TYPE_STRING, &id, DBUS_TYPE_INVALID);
                        dbus_free(id);
                } else {
                        bh_call_error(call, DBUS_ERROR_UNKNOWN_METHOD, "no method %s in %s", member, iface);
                }
                return;
        }

        /* An unbound peer connection may only bind. */
        bool binding = iface && strcmp(iface, bh_iface_service1.name) == 0 && strcmp(member, "BindPeer") == 0;
        if (call->conn->peer && !call->conn->bound && !binding) {
                bh_call_error(call, DBUS_ERROR_ACCESS_DENIED, "peer connection is not bound: call BindPeer first");
                return;
        }

        Object *o = g_hash_table_lookup(ipc->objects, path);
        if (!o) {
                bh_call_error(call, DBUS_ERROR_UNKNOWN_OBJECT, "no object at %s", path);
                return;
        }
        if (iface && strcmp(iface, IFACE_PROPERTIES) == 0) {
                handle_properties(call, o, member);
                return;
        }

        const Binding *b = NULL;
        const BhMethodInfo *info = NULL;
        BhMethodFunc func = NULL;
        if (iface) {
                b = object_binding(o, iface);
                if (!b) {
                        bh_call_error(call, DBUS_ERROR_UNKNOWN_INTERFACE, "no interface %s at %s", iface, path);
                        return;
                }
                info = binding_method(b, member, &func);
        } else {
                for (guint i = 0; i < o->bindings->len && !info; i++) {
                        b = &g_array_index(o->bindings, Binding, i);
                        info = binding_method(b, member, &func);
                }
        }
        if (!info) {
                bh_call_error(call, DBUS_ERROR_UNKNOWN_METHOD, "no method %s in %s at %s", member,
                              iface ? iface : "any interface", path);
                return;
        }
        /* Who, then what, then the handler checks its own preconditions. */
        if (!bh_caller_allowed(&call->caller, info->access)) {
                bh_call_error(call, DBUS_ERROR_ACCESS_DENIED, "%s may not call %s.%s",
                              bh_caller_describe(&call->caller, who, sizeof who), b->iface->name, member);
                return;
        }
        if (!dbus_message_has_signature(msg, info->in_sig)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "%s.%s expects signature '%s', got '%s'",
                              b->iface->name, member, info->in_sig, dbus_message_get_signature(msg));
                return;
        }
        func(call, b->userdata);
}

static void dispatch(BhConn *conn, DBusMessage *msg) {
        BhCall *call = call_new(conn, msg);
        dispatch_method(call);
        bh_call_unref(call);
}

/* ---------------------------------------------------------------- outgoing calls */

/* A call waiting for its answer: matched by serial in the connection's
 * filter, without a DBusPendingCall (which costs a timeout source and a
 * prepared error message for every call). */
typedef struct Pending {
        BhReplyFunc cb;
        void *userdata;
        GDestroyNotify destroy;
        gint64 deadline;        /* monotonic µs */
} Pending;

static void pending_free(void *p) {
        Pending *pd = p;
        if (pd->destroy)
                pd->destroy(pd->userdata);
        g_free(pd);
}

static void deliver_reply(Pending *pd, DBusMessage *reply) {
        if (!pd->cb)
                return;
        if (!reply) {
                pd->cb(NULL, DBUS_ERROR_NO_REPLY, "no reply", pd->userdata);
        } else if (dbus_message_get_type(reply) == DBUS_MESSAGE_TYPE_ERROR) {
                const char *text = "";
                if (!dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &text, DBUS_TYPE_INVALID))
                        text = "";
                pd->cb(NULL, dbus_message_get_error_name(reply), text, pd->userdata);
        } else {
                pd->cb(reply, NULL, NULL, pd->userdata);
        }
}

/* The answer to one of our calls, if it is one. */
static bool take_reply(BhConn *conn, DBusMessage *msg) {
        gpointer key = GUINT_TO_POINTER(dbus_message_get_reply_serial(msg));
        Pending *pd = g_hash_table_lookup(conn->pendings, key);
        if (!pd)
                return false;
        g_hash_table_steal(conn->pendings, key);
        deliver_reply(pd, msg);
        pending_free(pd);
        return true;
}

static void expiry_arm(BhConn *conn, gint64 deadline);

/* The calls past their deadline get NoReply; the timer is set again for
 * the next deadline. */
static gboolean expiry_fired(gpointer userdata) {
        BhConn *conn = userdata;
        g_clear_pointer(&conn->expiry, g_source_unref);
        gint64 now = g_get_monotonic_time(), next = G_MAXINT64;
        GPtrArray *late = g_ptr_array_new();
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, conn->pendings);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                Pending *pd = value;
                if (pd->deadline <= now) {
                        g_hash_table_iter_steal(&it);
                        g_ptr_array_add(late, pd);
                } else if (pd->deadline < next) {
                        next = pd->deadline;
                }
        }
        if (next != G_MAXINT64)
                expiry_arm(conn, next);
        for (guint i = 0; i < late->len; i++) {
                deliver_reply(g_ptr_array_index(late, i), NULL);
                pending_free(g_ptr_array_index(late, i));
        }
        g_ptr_array_free(late, TRUE);
        return G_SOURCE_REMOVE;
}

static void expiry_arm(BhConn *conn, gint64 deadline) {
        if (conn->expiry) {
                if (conn->expiry_at <= deadline)
                        return;
                g_source_destroy(conn->expiry);
                g_source_unref(conn->expiry);
        }
        gint64 wait_ms = (deadline - g_get_monotonic_time() + 999) / 1000;
        conn->expiry = g_timeout_source_new(wait_ms > 0 ? (guint) MIN(wait_ms, G_MAXUINT) : 0);
        conn->expiry_at = deadline;
        g_source_set_callback(conn->expiry, expiry_fired, conn, NULL);
        g_source_attach(conn->expiry, conn->ipc->ctx);
}

static void expiry_stop(BhConn *conn) {
        if (conn->expiry) {
                g_source_destroy(conn->expiry);
                g_clear_pointer(&conn->expiry, g_source_unref);
        }
}

static gboolean pending_failed(gpointer userdata) {
        Pending *pd = userdata;
        if (pd->cb)
                pd->cb(NULL, DBUS_ERROR_DISCONNECTED, "not connected", pd->userdata);
        return G_SOURCE_REMOVE;
}

static void call_full(BhConn *conn, DBusMessage *msg, int timeout_ms, BhReplyFunc cb, void *userdata,
                      GDestroyNotify destroy) {
        Pending *pd = g_new0(Pending, 1);
        pd->cb = cb;
        pd->userdata = userdata;
        pd->destroy = destroy;
        dbus_uint32_t serial = 0;
        if (!conn || conn->closed || !dbus_connection_send(conn->dbus, msg, &serial)) {
                /* Answer on the next loop iteration, never from inside the call. */
                GSource *s = g_idle_source_new();
                g_source_set_callback(s, pending_failed, pd, pending_free);
                g_source_attach(s, conn ? conn->ipc->ctx : g_main_context_get_thread_default());
                g_source_unref(s);
                return;
        }
        pd->deadline = g_get_monotonic_time() + (gint64) (timeout_ms > 0 ? timeout_ms : BH_CALL_TIMEOUT_MS) * 1000;
        g_hash_table_insert(conn->pendings, GUINT_TO_POINTER(serial), pd);
        expiry_arm(conn, pd->deadline);
}

/* The connection goes away with calls still waiting: each gets its answer
 * (Disconnected) now, as ipc.h promises, instead of never. */
static void fail_pendings(BhConn *conn) {
        expiry_stop(conn);
        while (g_hash_table_size(conn->pendings) > 0) {
                GHashTableIter it;
                gpointer key, value;
                g_hash_table_iter_init(&it, conn->pendings);
                g_hash_table_iter_next(&it, &key, &value);
                g_hash_table_iter_steal(&it);
                Pending *pd = value;
                if (pd->cb)
                        pd->cb(NULL, DBUS_ERROR_DISCONNECTED, "connection closed", pd->userdata);
                pending_free(pd);
        }
}

void bh_conn_call(BhConn *conn, DBusMessage *msg, int timeout_ms, BhReplyFunc cb, void *userdata) {
        if (!cb) {
                /* Nobody waits for the answer: the callee sends none. */
                dbus_message_set_no_reply(msg, TRUE);
                bh_conn_send(conn, msg);
                return;
        }
        call_full(conn, msg, timeout_ms, cb, userdata, NULL);
}

DBusMessage *bh_ipc_call_sync(BhIpc *ipc, DBusMessage *msg, int timeout_ms, DBusError *error) {
        if (!ipc->bus || ipc->bus->closed) {
                dbus_set_error(error, DBUS_ERROR_DISCONNECTED, "not connected");
                return NULL;
        }
        return dbus_connection_send_with_reply_and_block(ipc->bus->dbus, msg, timeout_ms, error);
}

bool bh_conn_send(BhConn *conn, DBusMessage *msg) {
        if (!conn || conn->closed)
                return false;
        return dbus_connection_send(conn->dbus, msg, NULL);
}

long bh_conn_outgoing_size(BhConn *conn) {
        return conn && !conn->closed ? dbus_connection_get_outgoing_size(conn->dbus) : 0;
}

bool bh_conn_is_peer(BhConn *conn) {
        return conn->peer;
}

bool bh_conn_is_open(BhConn *conn) {
        return conn && !conn->closed && dbus_connection_get_is_connected(conn->dbus);
}

DBusMessage *bh_method_new(BhServiceId service, const BhInterfaceInfo *iface, const char *member) {
        DBusMessage *m = dbus_message_new_method_call(bh_suite[service].bus_name, bh_suite[service].path, iface->name,
                                                      member);
        if (!m)
                g_error("out of memory");
        return m;
}

DBusMessage *bh_method_new_peer(BhServiceId service, const BhInterfaceInfo *iface, const char *member) {
        DBusMessage *m = dbus_message_new_method_call(NULL, bh_suite[service].path, iface->name, member);
        if (!m)
                g_error("out of memory");
        return m;
}

/* ---------------------------------------------------------------- caller credentials */

typedef struct CredsRequest {
        BhIpc *ipc;
        char *sender;
} CredsRequest;

static void creds_request_free(void *p) {
        CredsRequest *r = p;
        g_free(r->sender);
        g_free(r);
}

static void creds_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        CredsRequest *r = userdata;
        BhIpc *ipc = r->ipc;
        Creds cr = { .uid = (uid_t) -1 };
        bool ok = false;
        gid_t gids[256];
        size_t n_gids = 0;
        DBusMessageIter it, arr, ent, var, g;
        if (reply && dbus_message_has_signature(reply, "a{sv}")) {
                dbus_message_iter_init(reply, &it);
                dbus_message_iter_recurse(&it, &arr);
                for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                        const char *key;
                        dbus_message_iter_recurse(&arr, &ent);
                        dbus_message_iter_get_basic(&ent, &key);
                        dbus_message_iter_next(&ent);
                        dbus_message_iter_recurse(&ent, &var);
                        if (strcmp(key, "UnixUserID") == 0 && dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_UINT32) {
                                uint32_t u;
                                dbus_message_iter_get_basic(&var, &u);
                                cr.uid = u;
                                ok = true;
                        } else if (strcmp(key, "UnixGroupIDs") == 0 &&
                                   dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_ARRAY) {
                                dbus_message_iter_recurse(&var, &g);
                                for (; dbus_message_iter_get_arg_type(&g) == DBUS_TYPE_UINT32 &&
                                       n_gids < G_N_ELEMENTS(gids);
                                     dbus_message_iter_next(&g)) {
                                        uint32_t gid;
                                        dbus_message_iter_get_basic(&g, &gid);
                                        gids[n_gids++] = gid;
                                }
                        }
                }
        }
        if (ok) {
                cr.admin = uid_is_admin(ipc, cr.uid, gids, n_gids);
                g_hash_table_insert(ipc->creds, g_strdup(r->sender), g_memdup2(&cr, sizeof cr));
        }
        /* Dispatch what waited, in order. Without credentials the calls still
         * run with an unknown uid: only "any" and service access can pass. */
        gpointer key, value;
        if (!g_hash_table_steal_extended(ipc->waiting, r->sender, &key, &value))
                return;
        g_free(key);
        GQueue *q = value;
        DBusMessage *m;
        while ((m = g_queue_pop_head(q))) {
                if (ipc->bus && !ipc->bus->closed)
                        dispatch(ipc->bus, m);
                dbus_message_unref(m);
        }
        g_queue_free(q);
}

static void waiting_free(void *p) {
        g_queue_free_full(p, (GDestroyNotify) dbus_message_unref);
}

static void dispatch_from_bus(BhConn *conn, DBusMessage *msg) {
        BhIpc *ipc = conn->ipc;
        const char *sender = dbus_message_get_sender(msg);
        if (!sender || g_hash_table_contains(ipc->creds, sender)) {
                dispatch(conn, msg);
                return;
        }
        GQueue *q = g_hash_table_lookup(ipc->waiting, sender);
        if (q) {
                g_queue_push_tail(q, dbus_message_ref(msg));
                return;
        }
        /* First call from this sender: ask the bus daemon for its uid and
         * groups once, holding its calls (in order) until the answer. */
        q = g_queue_new();
        g_queue_push_tail(q, dbus_message_ref(msg));
        g_hash_table_insert(ipc->waiting, g_strdup(sender), q);
        CredsRequest *r = g_new0(CredsRequest, 1);
        r->ipc = ipc;
        r->sender = g_strdup(sender);
        DBusMessage *m = dbus_message_new_method_call(DBUS_NAME, DBUS_PATH, DBUS_NAME, "GetConnectionCredentials");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &sender, DBUS_TYPE_INVALID);
        call_full(conn, m, BH_CALL_TIMEOUT_MS, creds_reply, r, creds_request_free);
        dbus_message_unref(m);
}

/* ---------------------------------------------------------------- names and signals */

static void set_owner(BhIpc *ipc, BhServiceId id, const char *owner) {
        if (owner && !*owner)
                owner = NULL;
        if (g_strcmp0(ipc->owners[id], owner) == 0)
                return;
        g_free(ipc->owners[id]);
        ipc->owners[id] = g_strdup(owner);
        if (ipc->links[id])
                ipc->links[id]->retry_at = 0;  /* a new process: try it at once */
        for (guint i = 0; i < ipc->watchers->len; i++) {
                Watcher *w = g_ptr_array_index(ipc->watchers, i);
                if (w->owner_func)
                        w->owner_func(id, owner, w->userdata);
        }
}

static void name_owner_changed(BhIpc *ipc, DBusMessage *msg) {
        const char *name, *old_owner, *new_owner;
        if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &old_owner, DBUS_TYPE_STRING,
                                   &new_owner, DBUS_TYPE_INVALID))
                return;
        if (name[0] == ':' && !*new_owner) {
                /* A client left: unique names are never reused on a bus. */
                g_hash_table_remove(ipc->creds, name);
                g_hash_table_remove(ipc->waiting, name);
                return;
        }
        const BhSuiteEntry *e = bh_suite_by_bus_name(name);
        if (e)
                set_owner(ipc, e->id, new_owner);
}

const char *bh_ipc_owner(BhIpc *ipc, BhServiceId service) {
        return ipc->owners[service];
}

void bh_ipc_watch_owners(BhIpc *ipc, BhOwnerFunc func, void *userdata) {
        Watcher *w = g_new0(Watcher, 1);
        w->owner_func = func;
        w->userdata = userdata;
        g_ptr_array_add(ipc->watchers, w);
}

static void add_match(BhIpc *ipc, const char *rule) {
        /* Fire and forget: AddMatch only fails on a malformed rule or when
         * out of the bus's limits, both of which would be bugs here. */
        DBusMessage *m = dbus_message_new_method_call(DBUS_NAME, DBUS_PATH, DBUS_NAME, "AddMatch");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &rule, DBUS_TYPE_INVALID);
        bh_conn_call(ipc->bus, m, BH_CALL_TIMEOUT_MS, NULL, NULL);
        dbus_message_unref(m);
}

void bh_ipc_watch_signal(BhIpc *ipc, const char *interface, const char *member, BhSignalFunc func, void *userdata) {
        Watcher *w = g_new0(Watcher, 1);
        w->interface = g_strdup(interface);
        w->member = g_strdup(member);
        w->signal_func = func;
        w->userdata = userdata;
        g_ptr_array_add(ipc->watchers, w);
        g_autofree char *rule = g_strdup_printf("type='signal',interface='%s',member='%s'", interface, member);
        add_match(ipc, rule);
}

static void watcher_free(void *p) {
        Watcher *w = p;
        g_free(w->interface);
        g_free(w->member);
        g_free(w);
}

/* ---------------------------------------------------------------- connections */

static BhConn *conn_new(BhIpc *ipc, DBusConnection *dbus, bool peer) {
        BhConn *conn = g_new0(BhConn, 1);
        conn->ref = 1;
        conn->ipc = ipc;
        conn->pendings = g_hash_table_new(g_direct_hash, g_direct_equal);
        conn->dbus = dbus;      /* takes the reference */
        conn->peer = peer;
        conn->peer_caller.service = BH_SERVICE_NONE;
        dbus_connection_set_exit_on_disconnect(dbus, FALSE);
        if (!dbus_connection_add_filter(dbus, conn_filter, conn, NULL))
                g_error("out of memory");
        conn->source = bh_mainloop_attach_connection(dbus, ipc->ctx);
        return conn;
}

/* Off the main loop and closed; the memory stays while calls refer to it. */
static void conn_shutdown(BhConn *conn) {
        if (conn->source) {
                /* Closed locally: let libdbus finish what is queued, so that
                 * every outstanding call gets its answer (Disconnected). */
                if (!dbus_connection_get_is_connected(conn->dbus) || conn->closed) {
                        dbus_connection_close(conn->dbus);
                        conn->ref++;
                        while (dbus_connection_dispatch(conn->dbus) == DBUS_DISPATCH_DATA_REMAINS)
                                ;
                        conn->ref--;
                }
                fail_pendings(conn);
                dbus_connection_remove_filter(conn->dbus, conn_filter, conn);
                bh_mainloop_detach_connection(conn->dbus, conn->source);
                conn->source = NULL;
        }
        if (!conn->closed) {
                dbus_connection_close(conn->dbus);
                conn->closed = true;
        }
}

static void conn_unref(BhConn *conn) {
        if (!conn || --conn->ref > 0)
                return;
        conn_shutdown(conn);
        fail_pendings(conn);
        g_hash_table_destroy(conn->pendings);
        dbus_connection_unref(conn->dbus);
        g_free(conn);
}

/* Drops the owner's reference on the next iteration: never from inside the
 * connection's own dispatch. */
static gboolean conn_release_idle(gpointer p) {
        BhConn *conn = p;
        conn_shutdown(conn);
        conn_unref(conn);
        return G_SOURCE_REMOVE;
}

void bh_conn_close(BhConn *conn) {
        if (!conn)
                return;
        /* A peer our server accepted: the list's reference is the one we
         * release, and its Disconnected must not release it again. */
        g_ptr_array_remove(conn->ipc->peers, conn);
        if (!conn->closed) {
                dbus_connection_close(conn->dbus);
                conn->closed = true;
        }
        g_idle_add(conn_release_idle, conn);
}

static DBusHandlerResult conn_filter(DBusConnection *dbus, DBusMessage *msg, void *userdata) {
        BhConn *conn = userdata;
        BhIpc *ipc = conn->ipc;
        int type = dbus_message_get_type(msg);

        if (type == DBUS_MESSAGE_TYPE_SIGNAL) {
                if (dbus_message_is_signal(msg, IFACE_LOCAL, "Disconnected")) {
                        conn->closed = true;
                        if (conn == ipc->bus) {
                                if (ipc->disconnect_func)
                                        ipc->disconnect_func(ipc->disconnect_userdata);
                        } else if (g_ptr_array_remove(ipc->peers, conn)) {
                                g_idle_add(conn_release_idle, conn);
                        }
                        return DBUS_HANDLER_RESULT_HANDLED;
                }
                if (conn == ipc->bus && dbus_message_is_signal(msg, DBUS_NAME, "NameOwnerChanged") &&
                    g_strcmp0(dbus_message_get_sender(msg), DBUS_NAME) == 0) {
                        name_owner_changed(ipc, msg);
                        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                }
                const char *iface = dbus_message_get_interface(msg);
                const char *member = dbus_message_get_member(msg);
                for (guint i = 0; i < ipc->watchers->len; i++) {
                        Watcher *w = g_ptr_array_index(ipc->watchers, i);
                        if (w->signal_func && g_strcmp0(w->interface, iface) == 0 && g_strcmp0(w->member, member) == 0)
                                w->signal_func(msg, w->userdata);
                }
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        }
        if (type == DBUS_MESSAGE_TYPE_METHOD_RETURN || type == DBUS_MESSAGE_TYPE_ERROR)
                return take_reply(conn, msg) ? DBUS_HANDLER_RESULT_HANDLED : DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (type != DBUS_MESSAGE_TYPE_METHOD_CALL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (conn->peer)
                dispatch(conn, msg);
        else
                dispatch_from_bus(conn, msg);
        return DBUS_HANDLER_RESULT_HANDLED;
}

BhIpc *bh_ipc_new(GMainContext *ctx) {
        BhIpc *ipc = g_new0(BhIpc, 1);
        ipc->ctx = ctx ? g_main_context_ref(ctx) : g_main_context_ref(g_main_context_default());
        ipc->objects = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, object_free);
        ipc->creds = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        ipc->waiting = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, waiting_free);
        ipc->tokens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        ipc->watchers = g_ptr_array_new_with_free_func(watcher_free);
        ipc->changed = g_ptr_array_new();
        ipc->peers = g_ptr_array_new();
        /* Members of this group may administer the suite (activate, remove,
         * log levels, traces). Without the group only root may. */
        struct group *gr = getgrnam("bulkhead");
        if (gr) {
                ipc->have_admin_gid = true;
                ipc->admin_gid = gr->gr_gid;
        }
        return ipc;
}

static void links_free(BhIpc *ipc);

void bh_ipc_free(BhIpc *ipc) {
        if (!ipc)
                return;
        ipc->closing = true;
        if (ipc->server) {
                bh_mainloop_detach_server(ipc->server);
                dbus_server_disconnect(ipc->server);
                dbus_server_unref(ipc->server);
        }
        for (guint i = 0; i < ipc->peers->len; i++)
                conn_unref(g_ptr_array_index(ipc->peers, i));
        g_ptr_array_free(ipc->peers, TRUE);
        links_free(ipc);
        if (ipc->bus)
                conn_unref(ipc->bus);
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                g_free(ipc->owners[i]);
        if (ipc->announce) {
                g_source_destroy(ipc->announce);
                g_source_unref(ipc->announce);
        }
        g_ptr_array_free(ipc->changed, TRUE);
        g_hash_table_destroy(ipc->objects);
        g_hash_table_destroy(ipc->creds);
        g_hash_table_destroy(ipc->waiting);
        g_hash_table_destroy(ipc->tokens);
        g_ptr_array_free(ipc->watchers, TRUE);
        g_free(ipc->unique_name);
        g_main_context_unref(ipc->ctx);
        g_free(ipc);
}

G_DEFINE_QUARK(bh-ipc-error-quark, bh_ipc_error)

static void set_dbus_error(GError **error, DBusError *err, const char *what) {
        g_set_error(error, BH_IPC_ERROR, 0, "%s: %s", what, err->message ? err->message : "failed");
        dbus_error_free(err);
}

int bh_ipc_connect(BhIpc *ipc, const char *address, GError **error) {
        DBusError err;
        dbus_error_init(&err);
        DBusConnection *dbus;
        if (address) {
                dbus = dbus_connection_open_private(address, &err);
                if (!dbus) {
                        set_dbus_error(error, &err, address);
                        return -ECONNREFUSED;
                }
                if (!dbus_bus_register(dbus, &err)) {
                        dbus_connection_close(dbus);
                        dbus_connection_unref(dbus);
                        set_dbus_error(error, &err, "registering on the bus");
                        return -ECONNREFUSED;
                }
        } else {
                dbus = dbus_bus_get_private(DBUS_BUS_SYSTEM, &err);
                if (!dbus) {
                        set_dbus_error(error, &err, "system bus");
                        return -ECONNREFUSED;
                }
        }
        ipc->unique_name = g_strdup(dbus_bus_get_unique_name(dbus));
        ipc->bus = conn_new(ipc, dbus, false);

        /* Learn who owns each suite name now and follow the changes: the
         * dispatcher tells services apart by the names they own. Done once
         * at start, synchronously, so that no call is judged before. */
        dbus_bus_add_match(dbus, "type='signal',sender='" DBUS_NAME "',interface='" DBUS_NAME
                                 "',member='NameOwnerChanged'", &err);
        if (dbus_error_is_set(&err)) {
                set_dbus_error(error, &err, "AddMatch");
                return -EIO;
        }
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                DBusMessage *m = dbus_message_new_method_call(DBUS_NAME, DBUS_PATH, DBUS_NAME, "GetNameOwner");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &bh_suite[i].bus_name, DBUS_TYPE_INVALID);
                DBusMessage *r = dbus_connection_send_with_reply_and_block(dbus, m, BH_CALL_TIMEOUT_MS, NULL);
                dbus_message_unref(m);
                const char *owner = NULL;
                if (r && dbus_message_get_args(r, NULL, DBUS_TYPE_STRING, &owner, DBUS_TYPE_INVALID))
                        set_owner(ipc, i, owner);
                if (r)
                        dbus_message_unref(r);
        }
        return 0;
}

int bh_ipc_request_name(BhIpc *ipc, const char *name, GError **error) {
        DBusError err;
        dbus_error_init(&err);
        int r = dbus_bus_request_name(ipc->bus->dbus, name, DBUS_NAME_FLAG_DO_NOT_QUEUE, &err);
        if (r < 0) {
                set_dbus_error(error, &err, name);
                return -EACCES;
        }
        if (r != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER && r != DBUS_REQUEST_NAME_REPLY_ALREADY_OWNER) {
                g_set_error(error, BH_IPC_ERROR, EEXIST, "%s is already owned by another process", name);
                return -EEXIST;
        }
        const BhSuiteEntry *e = bh_suite_by_bus_name(name);
        if (e)
                set_owner(ipc, e->id, ipc->unique_name);
        return 0;
}

BhConn *bh_ipc_bus(BhIpc *ipc) {
        return ipc->bus;
}
const char *bh_ipc_unique_name(BhIpc *ipc) {
        return ipc->unique_name;
}
GMainContext *bh_ipc_context(BhIpc *ipc) {
        return ipc->ctx;
}

void bh_ipc_on_disconnect(BhIpc *ipc, void (*func)(void *userdata), void *userdata) {
        ipc->disconnect_func = func;
        ipc->disconnect_userdata = userdata;
}

/* ---------------------------------------------------------------- peer-to-peer: server side */

static void expire_tokens(BhIpc *ipc);

static dbus_bool_t peer_allow_uid(DBusConnection *c, unsigned long uid, void *data) {
        /* Only a uid that holds an unused token from OpenPeer may connect;
         * binding with the token itself comes next. */
        BhIpc *ipc = data;
        expire_tokens(ipc);
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, ipc->tokens);
        while (g_hash_table_iter_next(&it, NULL, &value)) {
                PeerGrant *g = value;
                if (!g->uid_known || g->uid == (uid_t) uid)
                        return TRUE;
        }
        return FALSE;
}

static gboolean peer_bind_timeout(gpointer data) {
        BhConn *conn = data;
        if (!conn->bound && !conn->closed) {
                dbus_connection_close(conn->dbus);      /* Disconnected follows */
        }
        conn_unref(conn);
        return G_SOURCE_REMOVE;
}

static void server_new_connection(DBusServer *server, DBusConnection *dbus, void *userdata) {
        BhIpc *ipc = userdata;
        unsigned unbound = 0;
        for (guint i = 0; i < ipc->peers->len; i++)
                if (!((BhConn *) g_ptr_array_index(ipc->peers, i))->bound)
                        unbound++;
        if (unbound >= PEER_UNBOUND_MAX) {
                /* Not referenced: libdbus closes and drops it. */
                dbus_connection_close(dbus);
                return;
        }
        dbus_connection_ref(dbus);
        dbus_connection_set_unix_user_function(dbus, peer_allow_uid, ipc, NULL);
        BhConn *conn = conn_new(ipc, dbus, true);
        g_ptr_array_add(ipc->peers, conn);
        conn->ref++;
        g_timeout_add_seconds(PEER_BIND_SECONDS, peer_bind_timeout, conn);
}

static void expire_tokens(BhIpc *ipc) {
        gint64 now = g_get_monotonic_time();
        GHashTableIter it;
        gpointer value;
        g_hash_table_iter_init(&it, ipc->tokens);
        while (g_hash_table_iter_next(&it, NULL, &value))
                if (((PeerGrant *) value)->expires < now)
                        g_hash_table_iter_remove(&it);
}

void bh_ipc_handle_open_peer(BhCall *call) {
        BhIpc *ipc = bh_call_ipc(call);
        if (bh_call_conn(call)->peer) {
                bh_call_error(call, BH_ERROR_INVALID_STATE, "OpenPeer is a bus call");
                return;
        }
        if (!ipc->server) {
                unsigned char rnd[12];
                if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
                        bh_call_error(call, BH_ERROR_FAILED, "no randomness: %s", g_strerror(errno));
                        return;
                }
                g_autofree char *hex = g_malloc(sizeof rnd * 2 + 1);
                for (size_t i = 0; i < sizeof rnd; i++)
                        sprintf(hex + 2 * i, "%02x", rnd[i]);
                /* Abstract: nothing on disk to clean, gone with the process. */
                g_autofree char *listen = g_strdup_printf("unix:abstract=bulkhead-peer-%d-%s", (int) getpid(), hex);
                DBusError err;
                dbus_error_init(&err);
                ipc->server = dbus_server_listen(listen, &err);
                if (!ipc->server) {
                        bh_call_error(call, BH_ERROR_FAILED, "cannot listen for peers: %s", err.message);
                        dbus_error_free(&err);
                        return;
                }
                const char *mechs[] = { "EXTERNAL", NULL };
                dbus_server_set_auth_mechanisms(ipc->server, mechs);
                dbus_server_set_new_connection_function(ipc->server, server_new_connection, ipc, NULL);
                bh_mainloop_attach_server(ipc->server, ipc->ctx);
        }
        expire_tokens(ipc);
        if (g_hash_table_size(ipc->tokens) >= PEER_TOKENS_MAX) {
                bh_call_error(call, BH_ERROR_UNAVAILABLE, "too many peer connections being opened");
                return;
        }
        unsigned char rnd[16];
        if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
                bh_call_error(call, BH_ERROR_FAILED, "no randomness: %s", g_strerror(errno));
                return;
        }
        char *token = g_malloc(sizeof rnd * 2 + 1);
        for (size_t i = 0; i < sizeof rnd; i++)
                sprintf(token + 2 * i, "%02x", rnd[i]);
        const BhCaller *c = bh_call_caller(call);
        PeerGrant *g = g_new0(PeerGrant, 1);
        g->service = c->service;
        g->uid_known = c->uid_known;
        g->uid = c->uid;
        g->admin = c->admin;
        g->expires = g_get_monotonic_time() + PEER_TOKEN_USEC;
        g_hash_table_insert(ipc->tokens, token, g);
        char *address = dbus_server_get_address(ipc->server);
        bh_call_return(call, DBUS_TYPE_STRING, &address, DBUS_TYPE_STRING, &token, DBUS_TYPE_INVALID);
        dbus_free(address);
}

void bh_ipc_handle_bind_peer(BhCall *call) {
        BhIpc *ipc = bh_call_ipc(call);
        BhConn *conn = bh_call_conn(call);
        const char *token;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &token, DBUS_TYPE_INVALID);
        if (!conn->peer || conn->bound) {
                bh_call_error(call, BH_ERROR_INVALID_STATE, "BindPeer is the first call on a peer connection");
                return;
        }
        expire_tokens(ipc);
        gpointer key, value;
        if (!g_hash_table_steal_extended(ipc->tokens, token, &key, &value)) {
                bh_call_error(call, DBUS_ERROR_ACCESS_DENIED, "unknown or expired peer token");
                return;
        }
        g_free(key);
        g_autofree PeerGrant *g = value;
        unsigned long uid;
        bool have_uid = dbus_connection_get_unix_user(conn->dbus, &uid);
        /* The token must be used by the uid that asked for it. */
        if (g->uid_known && (!have_uid || uid != g->uid)) {
                bh_call_error(call, DBUS_ERROR_ACCESS_DENIED, "peer token belongs to another user");
                return;
        }
        conn->bound = true;
        conn->peer_caller.service = g->service;
        conn->peer_caller.uid_known = have_uid;
        conn->peer_caller.uid = have_uid ? (uid_t) uid : (uid_t) -1;
        conn->peer_caller.admin = g->admin;
        bh_call_return_empty(call);
}

/* ---------------------------------------------------------------- peer-to-peer: client side */

typedef struct PeerOpen {
        BhIpc *ipc;
        BhServiceId service;
        BhPeerFunc func;
        void *userdata;
        BhConn *conn;
} PeerOpen;

static void peer_bound(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        PeerOpen *po = userdata;
        if (!reply) {
                g_autofree char *why = g_strdup_printf("BindPeer: %s", error_message);
                bh_conn_close(po->conn);
                po->func(NULL, why, po->userdata);
        } else {
                po->func(po->conn, NULL, po->userdata);
        }
        g_free(po);
}

static void peer_opened(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        PeerOpen *po = userdata;
        const char *address, *token;
        if (!reply || !dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &address, DBUS_TYPE_STRING, &token,
                                             DBUS_TYPE_INVALID)) {
                g_autofree char *why = g_strdup_printf("OpenPeer: %s", reply ? "bad reply" : error_message);
                po->func(NULL, why, po->userdata);
                g_free(po);
                return;
        }
        DBusError err;
        dbus_error_init(&err);
        /* A local socket: connect() returns at once; authentication then
         * runs on the main loop like any other I/O. */
        DBusConnection *dbus = dbus_connection_open_private(address, &err);
        if (!dbus) {
                g_autofree char *why = g_strdup_printf("connecting to %s: %s", address, err.message);
                dbus_error_free(&err);
                po->func(NULL, why, po->userdata);
                g_free(po);
                return;
        }
        BhConn *conn = conn_new(po->ipc, dbus, true);
        /* Calls coming back on this connection are from the service we asked. */
        conn->bound = true;
        conn->peer_caller.service = po->service;
        po->conn = conn;
        DBusMessage *m = bh_method_new_peer(po->service, &bh_iface_service1, "BindPeer");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &token, DBUS_TYPE_INVALID);
        bh_conn_call(conn, m, BH_CALL_TIMEOUT_MS, peer_bound, po);
        dbus_message_unref(m);
}

void bh_ipc_open_peer(BhIpc *ipc, BhServiceId service, BhPeerFunc func, void *userdata) {
        PeerOpen *po = g_new0(PeerOpen, 1);
        po->ipc = ipc;
        po->service = service;
        po->func = func;
        po->userdata = userdata;
        DBusMessage *m = bh_method_new(service, &bh_iface_service1, "OpenPeer");
        bh_conn_call(ipc->bus, m, BH_CALL_TIMEOUT_MS, peer_opened, po);
        dbus_message_unref(m);
}

/* ---------------------------------------------------------------- calls to suite services */

/* How long calls to a service take the bus after a direct connection to it
 * could not be opened, before the next attempt. */
#define LINK_RETRY_USEC (5 * G_USEC_PER_SEC)

static void link_send(Link *l, Queued *q) {
        /* Built without a destination (bh_method_new_peer) it needs none on
         * the direct connection, where taking one out costs a new header. */
        bool named = dbus_message_get_destination(q->msg) != NULL;
        if (l->conn) {
                if (named)
                        dbus_message_set_destination(q->msg, NULL);
                bh_conn_call(l->conn, q->msg, q->timeout_ms, q->cb, q->userdata);
        } else {
                if (!named)
                        dbus_message_set_destination(q->msg, bh_suite[l->service].bus_name);
                bh_conn_call(l->ipc->bus, q->msg, q->timeout_ms, q->cb, q->userdata);
        }
        dbus_message_unref(q->msg);
        g_free(q);
}

static void link_opened(BhConn *peer, const char *error, void *userdata) {
        Link *l = userdata;
        l->opening = false;
        if (l->ipc->closing) {
                if (peer)
                        bh_conn_close(peer);
                return;
        }
        if (peer) {
                l->conn = peer;
        } else {
                bh_log_info("no direct connection to %s (%s): calls go through the bus", bh_suite[l->service].name,
                            error);
                l->retry_at = g_get_monotonic_time() + LINK_RETRY_USEC;
        }
        Queued *q;
        while ((q = g_queue_pop_head(&l->waiting)))
                link_send(l, q);
}

void bh_ipc_call(BhIpc *ipc, BhServiceId service, DBusMessage *msg, int timeout_ms, BhReplyFunc cb, void *userdata) {
        g_return_if_fail(service < _BH_SERVICE_MAX);
        Link *l = ipc->links[service];
        if (!l) {
                l = ipc->links[service] = g_new0(Link, 1);
                l->ipc = ipc;
                l->service = service;
                g_queue_init(&l->waiting);
        }
        if (l->conn && !bh_conn_is_open(l->conn)) {
                /* The service restarted: a new connection for the new one. */
                bh_conn_close(l->conn);
                l->conn = NULL;
        }
        /* Nobody to open one to: the bus answers (ServiceUnknown), and the
         * service's arrival on it allows the next attempt (set_owner). */
        if (!l->conn && !l->opening && ipc->owners[service] && g_get_monotonic_time() >= l->retry_at && ipc->bus &&
            !ipc->bus->closed) {
                l->opening = true;
                bh_ipc_open_peer(ipc, service, link_opened, l);
        }
        Queued *q = g_new(Queued, 1);
        *q = (Queued) { dbus_message_ref(msg), timeout_ms, cb, userdata };
        if (l->opening)
                g_queue_push_tail(&l->waiting, q);
        else
                link_send(l, q);
}

static void links_free(BhIpc *ipc) {
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                Link *l = ipc->links[i];
                if (!l)
                        continue;
                Queued *q;
                while ((q = g_queue_pop_head(&l->waiting))) {
                        dbus_message_unref(q->msg);
                        g_free(q);
                }
                conn_unref(l->conn);
                if (!l->opening)
                        g_free(l);
                /* else link_opened() still comes (the bus fails its call) and
                 * finds ipc->closing; the Link is left to the process's end. */
        }
}
