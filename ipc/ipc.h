/* SPDX-License-Identifier: ISC */
#pragma once

/* The typed message layer over libdbus and the GLib main loop.
 *
 * A BhIpc is one process's view of the suite: its objects (each bound to an
 * interface declared in the interface XML (ipc/interfaces)), its connection to the bus, the
 * peer-to-peer connections it serves or uses, and what it knows of who owns
 * which suite name. Incoming calls go through one dispatcher that checks the
 * caller, then the signature, then hands the call to the handler; outgoing
 * calls are asynchronous and time out. */

#include <dbus/dbus.h>
#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

#include "iface.h"
#include "ipc-interfaces.h"
#include "suite.h"

/* Documented error names (docs/dbus-api.md) besides the standard ones. */
#define BH_ERROR_FAILED "org.bulkhead.Error.Failed"
#define BH_ERROR_NOT_FOUND "org.bulkhead.Error.NotFound"
#define BH_ERROR_EXISTS "org.bulkhead.Error.Exists"
#define BH_ERROR_INVALID_STATE "org.bulkhead.Error.InvalidState"
#define BH_ERROR_NOT_SUPPORTED "org.bulkhead.Error.NotSupported"
#define BH_ERROR_UNAVAILABLE "org.bulkhead.Error.Unavailable"
#define BH_ERROR_AUTH_FAILED "org.bulkhead.Error.AuthenticationFailed"

#define BH_CALL_TIMEOUT_MS 5000

/* GError domain of this layer; codes are errno values or 0. */
#define BH_IPC_ERROR (bh_ipc_error_quark())
GQuark bh_ipc_error_quark(void);

typedef struct BhIpc BhIpc;
typedef struct BhConn BhConn;
typedef struct BhCall BhCall;

/* Who is calling. On the bus the service comes from the well-known name the
 * sender owns; on a peer connection from the BindPeer token; the uid from
 * the bus daemon's credentials or the peer socket. */
typedef struct BhCaller {
        BhServiceId service;    /* BH_SERVICE_NONE: not a service of the suite */
        bool uid_known;
        uid_t uid;
        bool admin;             /* root or a member of the bulkhead group */
        const char *sender;     /* unique bus name; NULL on a peer connection */
} BhCaller;

typedef void (*BhMethodFunc)(BhCall *call, void *userdata);
typedef struct BhMethodImpl {
        const char *member;
        BhMethodFunc func;
} BhMethodImpl;

/* get appends one value of the declared type; set must answer the call
 * (bh_call_return_empty() or bh_call_error()) and may reply later. */
typedef void (*BhPropGetFunc)(DBusMessageIter *iter, void *userdata);
typedef void (*BhPropSetFunc)(BhCall *call, DBusMessageIter *value, void *userdata);
typedef struct BhPropertyImpl {
        const char *name;
        BhPropGetFunc get;
        BhPropSetFunc set;
} BhPropertyImpl;

/* reply is a method return, or NULL with error_name set (a D-Bus error,
 * org.freedesktop.DBus.Error.NoReply on timeout). */
typedef void (*BhReplyFunc)(DBusMessage *reply, const char *error_name, const char *error_message,
                            void *userdata);

typedef void (*BhOwnerFunc)(BhServiceId service, const char *owner, void *userdata);
typedef void (*BhSignalFunc)(DBusMessage *signal, void *userdata);
typedef void (*BhPeerFunc)(BhConn *peer, const char *error, void *userdata);

/* --- the process's IPC context --- */
BhIpc *bh_ipc_new(GMainContext *ctx);
void bh_ipc_free(BhIpc *ipc);
/* address NULL: the system bus. Also learns who owns each suite name. */
int bh_ipc_connect(BhIpc *ipc, const char *address, GError **error);
int bh_ipc_request_name(BhIpc *ipc, const char *name, GError **error);
BhConn *bh_ipc_bus(BhIpc *ipc);
const char *bh_ipc_unique_name(BhIpc *ipc);
GMainContext *bh_ipc_context(BhIpc *ipc);
/* Called when the bus connection is lost. */
void bh_ipc_on_disconnect(BhIpc *ipc, void (*func)(void *userdata), void *userdata);

/* Registers an object's interface. The methods and properties must be exactly
 * those of the XML: a mismatch is a programming error and aborts. */
void bh_ipc_add_object(BhIpc *ipc, const char *path, const BhInterfaceInfo *iface,
                       const BhMethodImpl *methods, const BhPropertyImpl *properties, void *userdata);
void bh_ipc_remove_object(BhIpc *ipc, const char *path);
/* A name as one object path element: letters and digits stay, any other
 * octet becomes _ and two lowercase hex digits ("branch-1" -> branch_2d1;
 * "" -> "_"). g_free() the result. */
char *bh_object_path_escape(const char *name);
/* The other way; NULL when elem is not such an escape. */
char *bh_object_path_unescape(const char *elem);

/* Who owns a suite name now (unique name), NULL when nobody. */
const char *bh_ipc_owner(BhIpc *ipc, BhServiceId service);
void bh_ipc_watch_owners(BhIpc *ipc, BhOwnerFunc func, void *userdata);
/* Subscribes to a signal on the bus (match rule added for you). */
void bh_ipc_watch_signal(BhIpc *ipc, const char *interface, const char *member, BhSignalFunc func,
                         void *userdata);

/* Announces that a property changed: the object's changes made in this
 * round of the main loop go out together afterwards, as one
 * PropertiesChanged per interface with the values they have then (and at
 * once if the object is removed first). */
void bh_ipc_property_changed(BhIpc *ipc, const char *path, const char *interface, const char *property);
/* Emits a signal declared in the XML; arguments as for dbus_message_append_args. */
void bh_ipc_emit(BhIpc *ipc, const char *path, const BhInterfaceInfo *iface, const char *signal,
                 int first_type, ...);

/* --- outgoing calls --- */
/* Calls a method asynchronously on a connection (the bus or a peer). Takes a
 * reference to msg. cb may be NULL: the call then goes out marked NO_REPLY_EXPECTED, and
 * the callee answers nothing. */
void bh_conn_call(BhConn *conn, DBusMessage *msg, int timeout_ms, BhReplyFunc cb, void *userdata);
/* Calls a method of a suite service (msg from bh_method_new_peer(), or
 * bh_method_new(), which costs a little more) over a
 * direct connection to it: opened on the first call, and again after the
 * service restarted; calls made meanwhile wait for it, and take the bus
 * while none can be had. Calls to one service keep their order. Takes a
 * reference to msg. */
void bh_ipc_call(BhIpc *ipc, BhServiceId service, DBusMessage *msg, int timeout_ms, BhReplyFunc cb, void *userdata);
/* Waits for the answer: only at start-up, before the main loop runs. */
DBusMessage *bh_ipc_call_sync(BhIpc *ipc, DBusMessage *msg, int timeout_ms, DBusError *error);
/* Sends without waiting for a reply. */
bool bh_conn_send(BhConn *conn, DBusMessage *msg);
/* Bytes waiting to be written on this connection. */
long bh_conn_outgoing_size(BhConn *conn);
bool bh_conn_is_peer(BhConn *conn);
/* False once the connection was closed by either end. */
bool bh_conn_is_open(BhConn *conn);
/* A new method call to a suite service's object. On a peer connection pass
 * the BhConn of the peer: the destination is then left out. */
DBusMessage *bh_method_new(BhServiceId service, const BhInterfaceInfo *iface, const char *member);
DBusMessage *bh_method_new_peer(BhServiceId service, const BhInterfaceInfo *iface, const char *member);

/* --- peer-to-peer --- */
/* Opens a direct connection to a suite service: asks it with OpenPeer over
 * the bus, connects, binds with BindPeer, then calls func. Same typed
 * messages and the same caller checks as on the bus, without the daemon hop. */
void bh_ipc_open_peer(BhIpc *ipc, BhServiceId service, BhPeerFunc func, void *userdata);
void bh_conn_close(BhConn *conn);
/* The Service1 handlers behind OpenPeer and BindPeer (used by service.c). */
void bh_ipc_handle_open_peer(BhCall *call);
void bh_ipc_handle_bind_peer(BhCall *call);

/* --- incoming calls --- */
DBusMessage *bh_call_message(BhCall *call);
const BhCaller *bh_call_caller(BhCall *call);
BhConn *bh_call_conn(BhCall *call);
BhIpc *bh_call_ipc(BhCall *call);
BhCall *bh_call_ref(BhCall *call);
void bh_call_unref(BhCall *call);
/* Answers with arguments as for dbus_message_append_args. */
void bh_call_return(BhCall *call, int first_type, ...);
void bh_call_return_empty(BhCall *call);
/* Answers with a prepared reply (from bh_call_new_return()). Takes it. */
DBusMessage *bh_call_new_return(BhCall *call);
void bh_call_return_message(BhCall *call, DBusMessage *reply);
void bh_call_error(BhCall *call, const char *name, const char *format, ...) G_GNUC_PRINTF(3, 4);
bool bh_call_answered(BhCall *call);

/* True when the caller may use something with this access mask. */
bool bh_caller_allowed(const BhCaller *caller, uint32_t access);
const char *bh_caller_describe(const BhCaller *caller, char *buf, size_t size);

/* libdbus on the GLib main loop (mainloop.c). */
GSource *bh_mainloop_attach_connection(DBusConnection *conn, GMainContext *ctx);
void bh_mainloop_detach_connection(DBusConnection *conn, GSource *source);
void bh_mainloop_attach_server(DBusServer *server, GMainContext *ctx);
void bh_mainloop_detach_server(DBusServer *server);
