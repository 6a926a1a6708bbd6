/* SPDX-License-Identifier: ISC */
/* peer-test: peer-to-peer connections to suite services, against a running
 * suite.
 *
 *   peer-test --bus ADDRESS
 *
 * First the way the services use them (bh_ipc_open_peer(), then typed calls
 * built with bh_method_new_peer()), to statd and to tmd. Then the checks a
 * peer connection must enforce, from raw libdbus as a hostile or clumsy
 * client would call them: nothing but org.freedesktop.DBus.Peer and BindPeer
 * answers before BindPeer; a wrong token, a token from another user and a
 * token already used are refused; the right token opens the interface. Last,
 * closing peer connections (bound, unbound, with a call in flight) must not
 * hurt the service: it still answers on the bus with the same pid, and the
 * supervisor saw no restart. And a call nobody answers ends with NoReply at
 * its timeout, one whose callee left at once.
 *
 * Exits 0 when every check passed, 1 otherwise, 2 on a usage error or when
 * the run exceeds its time budget. */
#include <dbus/dbus.h>
#include <errno.h>
#include <glib.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"

#define CALL_MS 5000
#define WATCHDOG_S 60
#define NOBODY_UID 65534

#define SERVICE_IFACE "org.bulkhead.Service1"
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"
#define PEER_IFACE "org.freedesktop.DBus.Peer"

static int failures, checks;

static void G_GNUC_PRINTF(1, 2) fail(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fflush(stdout);
        fputs("peer-test: FAIL: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        failures++;
}

static void G_GNUC_PRINTF(1, 2) ok(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fflush(stdout);
        fputs("peer-test: ok: ", stdout);
        vfprintf(stdout, format, ap);
        fputc('\n', stdout);
        va_end(ap);
}

static G_NORETURN void G_GNUC_PRINTF(1, 2) die(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fflush(stdout);
        fputs("peer-test: FAIL: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static void watchdog(int sig) {
        static const char msg[] = "peer-test: FAIL: did not finish within the time budget; giving up\n";
        (void) !write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(2);
}

/* The service-specific call tried over each connection: "any" may call it,
 * so only the state of the peer connection decides. */
typedef struct Target {
        BhServiceId id;
        const BhInterfaceInfo *iface;
        const char *method;
        const char *out_sig;
} Target;

static const Target targets[] = {
        { BH_SERVICE_STATD, &bh_iface_stats1, "GetCounters", "a{st}" },
        { BH_SERVICE_TMD, &bh_iface_tmd1, "ListTunnels", "a(usssss)" },
};

/* ------------------------------------------------------------ part 1: the project's API */

typedef struct Reply {
        bool done;
        DBusMessage *msg;
        char *error_name;
        char *error_message;
} Reply;

static void reply_clear(Reply *r) {
        if (r->msg)
                dbus_message_unref(r->msg);
        g_free(r->error_name);
        g_free(r->error_message);
        *r = (Reply){ 0 };
}

static void on_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Reply *r = userdata;
        r->done = true;
        if (reply)
                r->msg = dbus_message_ref(reply);
        else {
                r->error_name = g_strdup(error_name);
                r->error_message = g_strdup(error_message);
        }
}

static gboolean tick(gpointer data) {
        return G_SOURCE_CONTINUE;
}

static bool run_until(bool (*done)(void *), void *data, int timeout_ms) {
        guint t = g_timeout_add(10, tick, NULL);
        gint64 deadline = g_get_monotonic_time() + (gint64) timeout_ms * 1000;
        while ((!done || !done(data)) && g_get_monotonic_time() < deadline)
                g_main_context_iteration(NULL, TRUE);
        g_source_remove(t);
        return done ? done(data) : true;
}

static bool reply_done(void *data) {
        return ((Reply *) data)->done;
}

static void call_sync(BhConn *conn, DBusMessage *msg, Reply *r) {
        *r = (Reply){ 0 };
        bh_conn_call(conn, msg, CALL_MS, on_reply, r);
        if (!run_until(reply_done, r, CALL_MS + 1000))
                die("%s.%s: no answer, not even a timeout", dbus_message_get_interface(msg),
                    dbus_message_get_member(msg));
}

/* Calls iface.member with no arguments; true when it answers with out_sig. */
static bool typed_call(BhConn *conn, BhServiceId id, const BhInterfaceInfo *iface, const char *member,
                       const char *out_sig, const char *what) {
        checks++;
        DBusMessage *m = bh_conn_is_peer(conn) ? bh_method_new_peer(id, iface, member)
                                               : bh_method_new(id, iface, member);
        Reply r;
        call_sync(conn, m, &r);
        dbus_message_unref(m);
        bool good = false;
        if (!r.msg)
                fail("%s: %s.%s: %s: %s", what, iface->name, member, r.error_name, r.error_message);
        else if (strcmp(dbus_message_get_signature(r.msg), out_sig) != 0)
                fail("%s: %s.%s answered with signature '%s', expected '%s'", what, iface->name, member,
                     dbus_message_get_signature(r.msg), out_sig);
        else {
                ok("%s: %s.%s answers", what, iface->name, member);
                good = true;
        }
        reply_clear(&r);
        return good;
}

/* Service1.Pid over a connection (bus or peer); 0 on failure. */
static uint32_t get_pid(BhConn *conn, BhServiceId id) {
        const char *iface = SERVICE_IFACE, *prop = "Pid";
        DBusMessage *m = dbus_message_new_method_call(bh_conn_is_peer(conn) ? NULL : bh_suite[id].bus_name,
                                                      bh_suite[id].path, PROPERTIES_IFACE, "Get");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop, DBUS_TYPE_INVALID);
        Reply r;
        call_sync(conn, m, &r);
        dbus_message_unref(m);
        uint32_t pid = 0;
        DBusMessageIter it, var;
        if (r.msg && dbus_message_has_signature(r.msg, "v")) {
                dbus_message_iter_init(r.msg, &it);
                dbus_message_iter_recurse(&it, &var);
                if (dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_UINT32)
                        dbus_message_iter_get_basic(&var, &pid);
        }
        if (!pid)
                fail("%s: cannot read Service1.Pid: %s", bh_suite[id].name, r.error_name ? r.error_name : "bad reply");
        reply_clear(&r);
        return pid;
}

typedef struct PeerResult {
        bool done;
        BhConn *conn;
        char *error;
} PeerResult;

static void on_peer(BhConn *peer, const char *error, void *userdata) {
        PeerResult *p = userdata;
        p->done = true;
        p->conn = peer;
        p->error = g_strdup(error);
}

static bool peer_done(void *data) {
        return ((PeerResult *) data)->done;
}

static void api_peer(BhIpc *ipc, const Target *t, uint32_t bus_pid) {
        const char *name = bh_suite[t->id].name;
        g_autofree char *what = g_strdup_printf("bh_ipc_open_peer(%s)", name);
        PeerResult p = { 0 };
        checks++;
        bh_ipc_open_peer(ipc, t->id, on_peer, &p);
        if (!run_until(peer_done, &p, 3 * CALL_MS))
                die("%s: the callback never came", what);
        if (!p.conn || p.error) {
                fail("%s: %s", what, p.error ? p.error : "no connection and no error");
                g_free(p.error);
                return;
        }
        if (!bh_conn_is_peer(p.conn))
                fail("%s: the connection handed out is not a peer connection", what);
        else
                ok("%s: connected and bound", what);

        typed_call(p.conn, t->id, &bh_iface_service1, "Ping", "", what);
        typed_call(p.conn, t->id, t->iface, t->method, t->out_sig, what);
        checks++;
        uint32_t pid = get_pid(p.conn, t->id);
        if (pid && pid != bus_pid)
                fail("%s: Pid over the peer is %u, on the bus %u: not the same process", what, pid, bus_pid);
        else if (pid)
                ok("%s: Properties.Get Pid over the peer = %u, as on the bus", what, pid);

        bh_conn_close(p.conn);
        run_until(NULL, NULL, 100);
}

/* ------------------------------------------------------------ part 2: raw libdbus */

typedef struct RawReply {
        DBusMessage *msg;
        char error_name[128];
        char error_message[256];
} RawReply;

static void raw_clear(RawReply *r) {
        if (r->msg)
                dbus_message_unref(r->msg);
        r->msg = NULL;
}

/* A blocking call; arg is one string argument or NULL. */
static void raw_call(DBusConnection *c, const char *dest, const char *path, const char *iface, const char *member,
                     const char *arg, RawReply *r) {
        *r = (RawReply){ 0 };
        DBusMessage *m = dbus_message_new_method_call(dest, path, iface, member);
        if (arg)
                dbus_message_append_args(m, DBUS_TYPE_STRING, &arg, DBUS_TYPE_INVALID);
        DBusError err;
        dbus_error_init(&err);
        r->msg = dbus_connection_send_with_reply_and_block(c, m, CALL_MS, &err);
        dbus_message_unref(m);
        if (!r->msg) {
                g_strlcpy(r->error_name, err.name ? err.name : "?", sizeof r->error_name);
                g_strlcpy(r->error_message, err.message ? err.message : "", sizeof r->error_message);
        }
        dbus_error_free(&err);
}

static void raw_get_pid(DBusConnection *c, const char *dest, const char *path, RawReply *r) {
        *r = (RawReply){ 0 };
        const char *iface = SERVICE_IFACE, *prop = "Pid";
        DBusMessage *m = dbus_message_new_method_call(dest, path, PROPERTIES_IFACE, "Get");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop, DBUS_TYPE_INVALID);
        DBusError err;
        dbus_error_init(&err);
        r->msg = dbus_connection_send_with_reply_and_block(c, m, CALL_MS, &err);
        dbus_message_unref(m);
        if (!r->msg) {
                g_strlcpy(r->error_name, err.name ? err.name : "?", sizeof r->error_name);
                g_strlcpy(r->error_message, err.message ? err.message : "", sizeof r->error_message);
        }
        dbus_error_free(&err);
}

static void expect_ok(RawReply *r, const char *sig, const char *format, ...) G_GNUC_PRINTF(3, 4);
static void expect_ok(RawReply *r, const char *sig, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        g_autofree char *what = g_strdup_vprintf(format, ap);
        va_end(ap);
        checks++;
        if (!r->msg)
                fail("%s: expected an answer, got %s: %s", what, r->error_name, r->error_message);
        else if (sig && strcmp(dbus_message_get_signature(r->msg), sig) != 0)
                fail("%s: answered with signature '%s', expected '%s'", what, dbus_message_get_signature(r->msg), sig);
        else
                ok("%s: answered", what);
        raw_clear(r);
}

/* error NULL: any error will do, but an answer is a failure. */
static void expect_error(RawReply *r, const char *error, const char *format, ...) G_GNUC_PRINTF(3, 4);
static void expect_error(RawReply *r, const char *error, const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        g_autofree char *what = g_strdup_vprintf(format, ap);
        va_end(ap);
        checks++;
        if (r->msg)
                fail("%s: answered (signature '%s') but must be refused with %s", what,
                     dbus_message_get_signature(r->msg), error ? error : "an error");
        else if (error && strcmp(r->error_name, error) != 0)
                fail("%s: refused with %s (%s), expected %s", what, r->error_name, r->error_message, error);
        else
                ok("%s: refused with %s (%s)", what, r->error_name, r->error_message);
        raw_clear(r);
}

static DBusConnection *raw_open(const char *address, bool bus) {
        DBusError err;
        dbus_error_init(&err);
        DBusConnection *c = dbus_connection_open_private(address, &err);
        if (c && bus && !dbus_bus_register(c, &err)) {
                dbus_connection_close(c);
                dbus_connection_unref(c);
                c = NULL;
        }
        if (!c) {
                fail("cannot connect to %s: %s", address, err.message);
                dbus_error_free(&err);
                return NULL;
        }
        dbus_connection_set_exit_on_disconnect(c, FALSE);
        return c;
}

static void raw_close(DBusConnection *c) {
        if (!c)
                return;
        dbus_connection_close(c);
        dbus_connection_unref(c);
}

/* OpenPeer over the bus; false (and a failure) when it did not answer. */
static bool open_peer(DBusConnection *bus, const Target *t, char **ret_address, char **ret_token) {
        const BhSuiteEntry *e = &bh_suite[t->id];
        RawReply r;
        raw_call(bus, e->bus_name, e->path, SERVICE_IFACE, "OpenPeer", NULL, &r);
        const char *address, *token;
        checks++;
        if (!r.msg || !dbus_message_get_args(r.msg, NULL, DBUS_TYPE_STRING, &address, DBUS_TYPE_STRING, &token,
                                             DBUS_TYPE_INVALID)) {
                fail("%s: OpenPeer over the bus: %s: %s", e->name, r.msg ? "bad reply" : r.error_name,
                     r.msg ? dbus_message_get_signature(r.msg) : r.error_message);
                raw_clear(&r);
                return false;
        }
        if (strlen(token) < 32)
                fail("%s: OpenPeer handed out a token of %zu characters: too short to be unguessable", e->name,
                     strlen(token));
        *ret_address = g_strdup(address);
        *ret_token = g_strdup(token);
        raw_clear(&r);
        return true;
}

/* In a child running as another user: BindPeer with a token root asked for.
 * Exit status 0: refused (AccessDenied, or not even let in); 1: accepted;
 * 3: could not even try; 4: refused with another error. */
static int bind_as_other_user(const char *address, const char *path, const char *token) {
        /* Nothing buffered may be written twice. */
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
                fail("fork: %s", g_strerror(errno));
                return -1;
        }
        if (pid == 0) {
                alarm(10);
                if (setgroups(0, NULL) < 0 || setgid(NOBODY_UID) < 0 || setuid(NOBODY_UID) < 0)
                        _exit(3);
                DBusError err;
                dbus_error_init(&err);
                DBusConnection *c = dbus_connection_open_private(address, &err);
                if (!c) {
                        printf("peer-test: uid %d could not connect: %s\n", NOBODY_UID, err.message);
                        fflush(stdout);
                        _exit(0);
                }
                DBusMessage *m = dbus_message_new_method_call(NULL, path, SERVICE_IFACE, "BindPeer");
                dbus_message_append_args(m, DBUS_TYPE_STRING, &token, DBUS_TYPE_INVALID);
                DBusMessage *rep = dbus_connection_send_with_reply_and_block(c, m, CALL_MS, &err);
                if (rep)
                        _exit(1);
                printf("peer-test: uid %d: BindPeer refused with %s (%s)\n", NOBODY_UID, err.name, err.message);
                fflush(stdout);
                /* Refused for the right reason, not for a wrong path: by
                 * BindPeer, or already at authentication (this uid holds
                 * no token), which closes the connection. */
                _exit(strcmp(err.name, DBUS_ERROR_ACCESS_DENIED) == 0 ||
                                      strcmp(err.name, DBUS_ERROR_NO_REPLY) == 0 ||
                                      strcmp(err.name, DBUS_ERROR_DISCONNECTED) == 0
                              ? 0
                              : 4);
        }
        int status = 0;
        for (int i = 0; i < 150; i++) {
                pid_t w = waitpid(pid, &status, WNOHANG);
                if (w == pid)
                        return WIFEXITED(status) ? WEXITSTATUS(status) : 3;
                g_usleep(100 * 1000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail("the child binding as uid %d did not finish", NOBODY_UID);
        return -1;
}

static void raw_peer(DBusConnection *bus, const Target *t) {
        const BhSuiteEntry *e = &bh_suite[t->id];
        const char *iface = t->iface->name;
        g_autofree char *address = NULL, *token = NULL;
        if (!open_peer(bus, t, &address, &token))
                return;
        ok("%s: OpenPeer over the bus: %s", e->name, address);

        DBusConnection *p1 = raw_open(address, false);
        if (!p1)
                return;
        RawReply r;

        /* Before BindPeer: only org.freedesktop.DBus.Peer answers. */
        raw_call(p1, NULL, e->path, PEER_IFACE, "Ping", NULL, &r);
        expect_ok(&r, "", "%s unbound peer: org.freedesktop.DBus.Peer.Ping", e->name);
        raw_call(p1, NULL, e->path, iface, t->method, NULL, &r);
        expect_error(&r, DBUS_ERROR_ACCESS_DENIED, "%s unbound peer: %s.%s", e->name, iface, t->method);
        raw_get_pid(p1, NULL, e->path, &r);
        expect_error(&r, DBUS_ERROR_ACCESS_DENIED, "%s unbound peer: Properties.Get Pid", e->name);
        raw_call(p1, NULL, e->path, SERVICE_IFACE, "Mark", NULL, &r);
        expect_error(&r, DBUS_ERROR_ACCESS_DENIED, "%s unbound peer: Service1.Mark", e->name);

        /* Wrong tokens. */
        g_autofree char *wrong = g_strdup(token);
        wrong[0] = wrong[0] == '0' ? '1' : '0';
        raw_call(p1, NULL, e->path, SERVICE_IFACE, "BindPeer", wrong, &r);
        expect_error(&r, DBUS_ERROR_ACCESS_DENIED, "%s: BindPeer with a wrong token", e->name);
        raw_call(p1, NULL, e->path, SERVICE_IFACE, "BindPeer", "", &r);
        expect_error(&r, DBUS_ERROR_ACCESS_DENIED, "%s: BindPeer with an empty token", e->name);
        raw_call(p1, NULL, e->path, iface, t->method, NULL, &r);
        expect_error(&r, DBUS_ERROR_ACCESS_DENIED, "%s: %s.%s after a refused BindPeer", e->name, iface, t->method);

        /* The right token. */
        raw_call(p1, NULL, e->path, SERVICE_IFACE, "BindPeer", token, &r);
        expect_ok(&r, "", "%s: BindPeer with the token from OpenPeer", e->name);
        raw_call(p1, NULL, e->path, iface, t->method, NULL, &r);
        expect_ok(&r, t->out_sig, "%s bound peer: %s.%s", e->name, iface, t->method);
        raw_call(p1, NULL, e->path, SERVICE_IFACE, "Ping", NULL, &r);
        expect_ok(&r, "", "%s bound peer: Service1.Ping", e->name);
        raw_get_pid(p1, NULL, e->path, &r);
        expect_ok(&r, "v", "%s bound peer: Properties.Get Pid", e->name);
        raw_call(p1, NULL, e->path, SERVICE_IFACE, "BindPeer", token, &r);
        expect_error(&r, NULL, "%s: a second BindPeer on a bound connection", e->name);
        raw_call(p1, NULL, e->path, SERVICE_IFACE, "OpenPeer", NULL, &r);
        expect_error(&r, NULL, "%s: OpenPeer over a peer connection", e->name);

        /* The token is one-time: a second connection cannot use it. */
        DBusConnection *p2 = raw_open(address, false);
        if (p2) {
                raw_call(p2, NULL, e->path, SERVICE_IFACE, "BindPeer", token, &r);
                /* Refused either at authentication (no unused token is
                 * left for this uid) or by BindPeer itself. */
                expect_error(&r, NULL, "%s: BindPeer with a token already used", e->name);
                raw_call(p2, NULL, e->path, iface, t->method, NULL, &r);
                expect_error(&r, NULL, "%s: %s.%s on the connection that reused the token",
                             e->name, iface, t->method);
        }

        /* BindPeer belongs on a peer connection, not on the bus. */
        raw_call(bus, e->bus_name, e->path, SERVICE_IFACE, "BindPeer", token, &r);
        expect_error(&r, NULL, "%s: BindPeer over the bus", e->name);

        /* A token is bound to the uid that asked for it. */
        g_autofree char *address2 = NULL, *token2 = NULL;
        if (geteuid() != 0)
                printf("peer-test: note: not root: the check of a token used by another uid is skipped\n");
        else if (open_peer(bus, t, &address2, &token2)) {
                checks++;
                int st = bind_as_other_user(address2, e->path, token2);
                if (st == 1)
                        fail("%s: uid %d could bind a peer connection with root's token", e->name, NOBODY_UID);
                else if (st == 3)
                        fail("%s: could not run the check as uid %d", e->name, NOBODY_UID);
                else if (st == 4)
                        fail("%s: BindPeer as uid %d was refused for another reason", e->name, NOBODY_UID);
                else if (st == 0)
                        ok("%s: root's token refused to uid %d", e->name, NOBODY_UID);
                else if (st > 0)
                        fail("%s: the check as uid %d ended with status %d", e->name, NOBODY_UID, st);
        }

        /* Closing: a call in flight on the bound connection, then close;
         * the unbound one just goes away. */
        DBusMessage *m = dbus_message_new_method_call(NULL, e->path, iface, t->method);
        dbus_connection_send(p1, m, NULL);
        dbus_message_unref(m);
        dbus_connection_flush(p1);
        raw_close(p1);
        raw_close(p2);
        /* A connection that goes away in the middle of authenticating. */
        DBusConnection *p3 = raw_open(address, false);
        raw_close(p3);
}

/* ------------------------------------------------------------ the service survived */

/* restarts of each service in Supervisor1.ListServices; -1 when unknown. */
static void list_restarts(DBusConnection *bus, long ret[_BH_SERVICE_MAX]) {
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                ret[i] = -1;
        const BhSuiteEntry *s = &bh_suite[BH_SERVICE_SUPERVISOR];
        RawReply r;
        raw_call(bus, s->bus_name, s->path, "org.bulkhead.Supervisor1", "ListServices", NULL, &r);
        if (!r.msg || !dbus_message_has_signature(r.msg, "a(sssuus)")) {
                fail("Supervisor1.ListServices: %s", r.msg ? dbus_message_get_signature(r.msg) : r.error_name);
                raw_clear(&r);
                return;
        }
        DBusMessageIter it, arr, st;
        dbus_message_iter_init(r.msg, &it);
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr)) {
                const char *name, *bus_name, *state;
                dbus_uint32_t pid, restarts;
                dbus_message_iter_recurse(&arr, &st);
                dbus_message_iter_get_basic(&st, &name);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &bus_name);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &state);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &pid);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &restarts);
                const BhSuiteEntry *e = bh_suite_by_name(name);
                if (e)
                        ret[e->id] = restarts;
        }
        raw_clear(&r);
}

/* ------------------------------------------------------------ answers that never come */

/* A call that nobody answers ends with NoReply at its timeout, not before
 * and not much later; one whose callee leaves the bus ends at once. The
 * callee is a raw connection of ours that reads nothing. */
static void unanswered(BhIpc *ipc, const char *address) {
        DBusConnection *mute = raw_open(address, true);
        if (!mute)
                return;
        const char *name = dbus_bus_get_unique_name(mute);
        DBusMessage *m = dbus_message_new_method_call(name, "/", "org.bulkhead.Test", "Silence");
        Reply r = { 0 };
        gint64 t0 = g_get_monotonic_time();
        bh_conn_call(bh_ipc_bus(ipc), m, 300, on_reply, &r);
        run_until(reply_done, &r, 3000);
        gint64 ms = (g_get_monotonic_time() - t0) / 1000;
        if (!r.done || g_strcmp0(r.error_name, DBUS_ERROR_NO_REPLY) != 0 || ms < 300 || ms > 1500)
                fail("a call nobody answers, timeout 300 ms: %s after %" G_GINT64_FORMAT " ms",
                     r.done ? (r.error_name ? r.error_name : "a reply") : "nothing", ms);
        else
                ok("a call nobody answers ended with NoReply after %" G_GINT64_FORMAT " ms (timeout 300 ms)", ms);
        reply_clear(&r);

        t0 = g_get_monotonic_time();
        bh_conn_call(bh_ipc_bus(ipc), m, CALL_MS, on_reply, &r);
        run_until(NULL, NULL, 100);
        raw_close(mute);
        run_until(reply_done, &r, CALL_MS + 1000);
        ms = (g_get_monotonic_time() - t0) / 1000;
        if (!r.done || !r.error_name || ms > CALL_MS / 2)
                fail("a call whose callee left: %s after %" G_GINT64_FORMAT " ms",
                     r.done ? (r.error_name ? r.error_name : "a reply") : "nothing", ms);
        else
                ok("a call whose callee left the bus ended with %s after %" G_GINT64_FORMAT " ms", r.error_name, ms);
        reply_clear(&r);
        dbus_message_unref(m);
}

static void check_alive(BhIpc *ipc, const Target *t, uint32_t pid_before, long restarts_before,
                        long restarts_after) {
        const char *name = bh_suite[t->id].name;
        typed_call(bh_ipc_bus(ipc), t->id, &bh_iface_service1, "Ping", "", "after the peers closed, on the bus");
        checks++;
        uint32_t pid = get_pid(bh_ipc_bus(ipc), t->id);
        if (pid && pid != pid_before)
                fail("%s: pid %u before the peer tests, %u after: it was restarted", name, pid_before, pid);
        else if (pid)
                ok("%s: same pid %u before and after the peer tests", name, pid);
        checks++;
        if (restarts_after != restarts_before)
                fail("%s: the supervisor counted %ld restarts before the peer tests, %ld after", name,
                     restarts_before, restarts_after);
        else
                ok("%s: no restart (%ld)", name, restarts_after);
}

int main(int argc, char **argv) {
        const char *address = getenv("BULKHEAD_BUS_ADDRESS");
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--help") == 0) {
                        printf("Usage: peer-test --bus ADDRESS\n"
                               "Checks peer-to-peer connections to statd and tmd: the project's API, the\n"
                               "refusals before and around BindPeer, and that closing them hurts nobody.\n");
                        return 0;
                }
                if (strcmp(argv[i], "--bus") == 0 && i + 1 < argc)
                        address = argv[++i];
                else {
                        fprintf(stderr, "Usage: peer-test --bus ADDRESS\n");
                        return 2;
                }
        }
        if (!address || !*address) {
                fprintf(stderr, "Usage: peer-test --bus ADDRESS\n");
                return 2;
        }
        signal(SIGALRM, watchdog);
        alarm(WATCHDOG_S);

        BhIpc *ipc = bh_ipc_new(NULL);
        g_autoptr(GError) error = NULL;
        if (bh_ipc_connect(ipc, address, &error) < 0)
                die("cannot join the bus: %s", error->message);
        DBusConnection *bus = raw_open(address, true);
        if (!bus)
                die("cannot join the bus with a second connection");

        uint32_t pids[G_N_ELEMENTS(targets)];
        long restarts0[_BH_SERVICE_MAX], restarts1[_BH_SERVICE_MAX];
        for (size_t i = 0; i < G_N_ELEMENTS(targets); i++) {
                if (!bh_ipc_owner(ipc, targets[i].id))
                        die("%s is not on the bus: is the suite ready?", bh_suite[targets[i].id].bus_name);
                pids[i] = get_pid(bh_ipc_bus(ipc), targets[i].id);
                if (!pids[i])
                        die("cannot read %s's pid", bh_suite[targets[i].id].name);
        }
        list_restarts(bus, restarts0);

        for (size_t i = 0; i < G_N_ELEMENTS(targets); i++)
                api_peer(ipc, &targets[i], pids[i]);
        for (size_t i = 0; i < G_N_ELEMENTS(targets); i++)
                raw_peer(bus, &targets[i]);

        unanswered(ipc, address);

        /* Give the services a moment to see the closed connections go. */
        run_until(NULL, NULL, 200);
        list_restarts(bus, restarts1);
        for (size_t i = 0; i < G_N_ELEMENTS(targets); i++)
                check_alive(ipc, &targets[i], pids[i], restarts0[targets[i].id], restarts1[targets[i].id]);

        raw_close(bus);
        bh_ipc_free(ipc);
        printf("peer-test: %d checks, %d failed\n", checks, failures);
        if (failures) {
                fprintf(stderr, "peer-test: %d of %d checks failed\n", failures, checks);
                return 1;
        }
        printf("peer-test: OK\n");
        return 0;
}
