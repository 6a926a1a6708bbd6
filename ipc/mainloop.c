/* SPDX-License-Identifier: ISC */
/* libdbus on the GLib main loop: each DBusWatch becomes a unix-fd source,
 * each DBusTimeout a timeout source, and one source per connection drains
 * its incoming queue. Nothing here blocks. */
#include <dbus/dbus.h>
#include <glib-unix.h>
#include <glib.h>

#include "ipc.h"

typedef struct {
        GSource source;
        DBusConnection *conn;
} ConnSource;

static gboolean conn_prepare(GSource *source, gint *timeout) {
        ConnSource *cs = (ConnSource *) source;
        *timeout = -1;
        return dbus_connection_get_dispatch_status(cs->conn) == DBUS_DISPATCH_DATA_REMAINS;
}

static gboolean conn_check(GSource *source) {
        return conn_prepare(source, &(gint){ 0 });
}

static gboolean conn_dispatch(GSource *source, GSourceFunc cb, gpointer ud) {
        ConnSource *cs = (ConnSource *) source;
        /* One message per iteration keeps other sources (signals, timers)
         * served while a peer floods us. */
        dbus_connection_ref(cs->conn);
        dbus_connection_dispatch(cs->conn);
        dbus_connection_unref(cs->conn);
        return G_SOURCE_CONTINUE;
}

static GSourceFuncs conn_funcs = {
        .prepare = conn_prepare,
        .check = conn_check,
        .dispatch = conn_dispatch,
};

typedef struct {
        GSource *source;
        DBusWatch *watch;
        GMainContext *ctx;
} WatchData;

static GIOCondition watch_condition(DBusWatch *watch) {
        unsigned flags = dbus_watch_get_flags(watch);
        GIOCondition cond = G_IO_HUP | G_IO_ERR;
        if (flags & DBUS_WATCH_READABLE)
                cond |= G_IO_IN;
        if (flags & DBUS_WATCH_WRITABLE)
                cond |= G_IO_OUT;
        return cond;
}

static gboolean watch_ready(gint fd, GIOCondition cond, gpointer ud) {
        WatchData *wd = ud;
        unsigned flags = 0;
        if (cond & G_IO_IN)
                flags |= DBUS_WATCH_READABLE;
        if (cond & G_IO_OUT)
                flags |= DBUS_WATCH_WRITABLE;
        if (cond & G_IO_HUP)
                flags |= DBUS_WATCH_HANGUP;
        if (cond & G_IO_ERR)
                flags |= DBUS_WATCH_ERROR;
        dbus_watch_handle(wd->watch, flags);
        return G_SOURCE_CONTINUE;
}

/* A disabled watch keeps its data but polls for nothing. */
static void watch_rearm(WatchData *wd) {
        if (wd->source) {
                g_source_destroy(wd->source);
                g_source_unref(wd->source);
                wd->source = NULL;
        }
        if (!dbus_watch_get_enabled(wd->watch))
                return;
        wd->source = g_unix_fd_source_new(dbus_watch_get_unix_fd(wd->watch), watch_condition(wd->watch));
        g_source_set_callback(wd->source, (GSourceFunc) (void (*)(void)) watch_ready, wd, NULL);
        g_source_attach(wd->source, wd->ctx);
}

static void watch_free(void *p) {
        WatchData *wd = p;
        if (wd->source) {
                g_source_destroy(wd->source);
                g_source_unref(wd->source);
        }
        g_free(wd);
}

static dbus_bool_t watch_add(DBusWatch *watch, void *ud) {
        WatchData *wd = g_new0(WatchData, 1);
        wd->watch = watch;
        wd->ctx = ud;
        dbus_watch_set_data(watch, wd, watch_free);
        watch_rearm(wd);
        return TRUE;
}

static void watch_remove(DBusWatch *watch, void *ud) {
        dbus_watch_set_data(watch, NULL, NULL);
}

static void watch_toggled(DBusWatch *watch, void *ud) {
        WatchData *wd = dbus_watch_get_data(watch);
        if (wd)
                watch_rearm(wd);
}

typedef struct {
        GSource *source;
        DBusTimeout *timeout;
} TimeoutData;

static gboolean timeout_fired(gpointer ud) {
        TimeoutData *td = ud;
        dbus_timeout_handle(td->timeout);
        return G_SOURCE_CONTINUE;
}

static void timeout_stop(TimeoutData *td) {
        if (td->source) {
                g_source_destroy(td->source);
                g_source_unref(td->source);
                td->source = NULL;
        }
}

static void timeout_start(TimeoutData *td, GMainContext *ctx) {
        timeout_stop(td);
        if (!dbus_timeout_get_enabled(td->timeout))
                return;
        td->source = g_timeout_source_new(dbus_timeout_get_interval(td->timeout));
        g_source_set_callback(td->source, timeout_fired, td, NULL);
        g_source_attach(td->source, ctx);
}

static void timeout_free(void *p) {
        TimeoutData *td = p;
        timeout_stop(td);
        g_free(td);
}

static dbus_bool_t timeout_add(DBusTimeout *timeout, void *ud) {
        TimeoutData *td = g_new0(TimeoutData, 1);
        td->timeout = timeout;
        dbus_timeout_set_data(timeout, td, timeout_free);
        timeout_start(td, ud);
        return TRUE;
}

static void timeout_remove(DBusTimeout *timeout, void *ud) {
        dbus_timeout_set_data(timeout, NULL, NULL);
}

static void timeout_toggled(DBusTimeout *timeout, void *ud) {
        TimeoutData *td = dbus_timeout_get_data(timeout);
        if (td)
                timeout_start(td, ud);
}

static void wakeup(void *ud) {
        g_main_context_wakeup(ud);
}

GSource *bh_mainloop_attach_connection(DBusConnection *conn, GMainContext *ctx) {
        ConnSource *cs = (ConnSource *) g_source_new(&conn_funcs, sizeof(ConnSource));
        cs->conn = conn;        /* the owner of the source holds the connection */
        g_source_attach(&cs->source, ctx);
        dbus_connection_set_watch_functions(conn, watch_add, watch_remove, watch_toggled, ctx, NULL);
        dbus_connection_set_timeout_functions(conn, timeout_add, timeout_remove, timeout_toggled, ctx, NULL);
        dbus_connection_set_wakeup_main_function(conn, wakeup, ctx, NULL);
        return &cs->source;
}

void bh_mainloop_detach_connection(DBusConnection *conn, GSource *source) {
        dbus_connection_set_watch_functions(conn, NULL, NULL, NULL, NULL, NULL);
        dbus_connection_set_timeout_functions(conn, NULL, NULL, NULL, NULL, NULL);
        dbus_connection_set_wakeup_main_function(conn, NULL, NULL, NULL);
        if (source) {
                g_source_destroy(source);
                g_source_unref(source);
        }
}

void bh_mainloop_attach_server(DBusServer *server, GMainContext *ctx) {
        dbus_server_set_watch_functions(server, watch_add, watch_remove, watch_toggled, ctx, NULL);
        dbus_server_set_timeout_functions(server, timeout_add, timeout_remove, timeout_toggled, ctx, NULL);
}

void bh_mainloop_detach_server(DBusServer *server) {
        dbus_server_set_watch_functions(server, NULL, NULL, NULL, NULL, NULL);
        dbus_server_set_timeout_functions(server, NULL, NULL, NULL, NULL, NULL);
}
