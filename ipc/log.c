/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ipc.h"
#include "log.h"

/* Above this many bytes waiting on the bus connection we stop handing
 * batches to libdbus and let the ring absorb (then drop) the excess. */
#define OUTGOING_LIMIT (512 * 1024)
#define BATCH_MAX 256
#define RETRY_MS 20

typedef struct Line {
        int64_t usec;
        uint8_t level;
        char tunnel[BH_LOG_TUNNEL_MAX];
        char text[BH_LOG_TEXT_MAX];
} Line;

BhLogLevel bh_log_level = BH_LOG_EVENTS;

static struct {
        const char *service;
        BhIpc *ipc;
        BhLogSink sink;
        Line ring[BH_LOG_RING];
        unsigned head, count;
        uint64_t dropped;
        GSource *flush_source;
        bool watching;
} L = { .service = "bulkhead" };

void bh_log_init(const char *service, BhLogLevel level) {
        L.service = service;
        bh_log_level = level;
}

void bh_log_set_sink(BhLogSink sink) {
        L.sink = sink;
}

uint64_t bh_log_dropped(void) {
        return L.dropped;
}

unsigned bh_log_pending(void) {
        return L.count;
}

static int64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void to_stderr(int64_t usec, BhLogLevel level, const char *tunnel, const char *text) {
        fprintf(stderr, "%s[%s]%s%s: %s\n", L.service, bh_log_level_to_string(level), *tunnel ? " tunnel=" : "",
                tunnel, text);
}

/* Hands as many batches to libdbus as the connection takes; true when the
 * ring is empty. */
static bool flush(void) {
        if (!L.ipc || !bh_ipc_owner(L.ipc, BH_SERVICE_LOGD))
                return L.count == 0;
        BhConn *bus = bh_ipc_bus(L.ipc);
        while (L.count > 0 && bh_conn_outgoing_size(bus) < OUTGOING_LIMIT) {
                unsigned batch = 0;
                DBusMessage *m = bh_method_new(BH_SERVICE_LOGD, &bh_iface_logger1, "Log");
                dbus_message_set_no_reply(m, TRUE);
                DBusMessageIter it, arr, st;
                dbus_message_iter_init_append(m, &it);
                dbus_uint64_t dropped = L.dropped;
                dbus_message_iter_append_basic(&it, DBUS_TYPE_UINT64, &dropped);
                dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(tyss)", &arr);
                for (unsigned n = 0; n < BATCH_MAX && L.count > 0; n++) {
                        Line *l = &L.ring[L.head];
                        dbus_uint64_t usec = (dbus_uint64_t) l->usec;
                        const char *tunnel = l->tunnel, *text = l->text;
                        dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st);
                        dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT64, &usec);
                        dbus_message_iter_append_basic(&st, DBUS_TYPE_BYTE, &l->level);
                        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &tunnel);
                        dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &text);
                        dbus_message_iter_close_container(&arr, &st);
                        L.head = (L.head + 1) % BH_LOG_RING;
                        L.count--;
                        batch++;
                }
                dbus_message_iter_close_container(&it, &arr);
                bool sent = bh_conn_send(bus, m);
                dbus_message_unref(m);
                if (!sent) {
                        /* Out of the ring but not on the wire: lost, and counted. */
                        L.dropped += batch;
                        break;
                }
        }
        return L.count == 0;
}

static void arm_flush(GSource *source);

static gboolean flush_cb(gpointer data) {
        L.flush_source = NULL;
        /* Empty, or logd absent (the owner watch starts us again): done. */
        if (flush() || !L.ipc || !bh_ipc_owner(L.ipc, BH_SERVICE_LOGD))
                return G_SOURCE_REMOVE;
        /* The connection is backed up: try again a little later. */
        arm_flush(g_timeout_source_new(RETRY_MS));
        return G_SOURCE_REMOVE;
}

static void arm_flush(GSource *source) {
        L.flush_source = source;
        g_source_set_callback(source, flush_cb, NULL, NULL);
        g_source_attach(source, bh_ipc_context(L.ipc));
        g_source_unref(source);
}

static void schedule_flush(void) {
        if (!L.flush_source && L.ipc)
                arm_flush(g_idle_source_new());
}

static void owner_changed(BhServiceId service, const char *owner, void *userdata) {
        if (service == BH_SERVICE_LOGD && owner && L.count > 0)
                schedule_flush();
}

void bh_log_attach(BhIpc *ipc) {
        L.ipc = ipc;
        if (!L.watching) {
                bh_ipc_watch_owners(ipc, owner_changed, NULL);
                L.watching = true;
        }
        if (L.count > 0)
                schedule_flush();
}

void bh_log_detach(void) {
        if (L.flush_source) {
                g_source_destroy(L.flush_source);
                L.flush_source = NULL;
        }
        L.ipc = NULL;
}

void bh_log_submit(BhLogLevel level, const char *tunnel, const char *format, ...) {
        char text[BH_LOG_TEXT_MAX];
        va_list ap;
        va_start(ap, format);
        vsnprintf(text, sizeof text, format, ap);
        va_end(ap);
        if (!tunnel)
                tunnel = "";
        int64_t usec = now_usec();

        if (L.sink) {
                L.sink(usec, level, tunnel, text);
                return;
        }
        if (!L.ipc) {
                to_stderr(usec, level, tunnel, text);
                return;
        }
        if (L.count == BH_LOG_RING) {
                /* Full: make room by handing a batch to the connection if it
                 * takes one now, else drop this line and count it. */
                flush();
                if (L.count == BH_LOG_RING) {
                        L.dropped++;
                        return;
                }
        }
        Line *l = &L.ring[(L.head + L.count) % BH_LOG_RING];
        l->usec = usec;
        l->level = (uint8_t) level;
        g_strlcpy(l->tunnel, tunnel, sizeof l->tunnel);
        memcpy(l->text, text, sizeof text);
        L.count++;
        schedule_flush();
}
