/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "isakmpd-conf.h"
#include "logd.h"

/* Senders outside the suite whose drop totals we follow, at most. */
#define CLIENTS_MAX 256

struct Logd {
        BhService *svc;
        char *conf_path;
        BhIsakmpdConf conf;
        FILE *files[_BH_LOG_MAX + 1];
        bool syslog;            /* /dev/log exists: else stderr */
        uint64_t received, written, dropped;
        uint64_t service_dropped[_BH_SERVICE_MAX];
        GHashTable *client_dropped;     /* sender -> uint64_t last total */
};

static Logd *the_logd;          /* for the in-process sink */

/* Untrusted text (a peer's ID may end up in a line): no control character
 * may reach a file or syslog, so one line stays one line. */
static void escape(const char *in, char *out, size_t size) {
        size_t o = 0;
        for (const unsigned char *p = (const unsigned char *) in; *p && o + 5 < size; p++) {
                if (*p < 0x20 || *p == 0x7f)
                        o += (size_t) snprintf(out + o, size - o, "\\x%02x", *p);
                else
                        out[o++] = (char) *p;
        }
        out[o] = '\0';
}

static void format_time(int64_t usec, char *buf, size_t size) {
        time_t sec = (time_t) (usec / 1000000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(buf + n, size - n, ".%03dZ", (int) (usec / 1000 % 1000));
}

static FILE *level_file(Logd *logd, BhLogLevel level) {
        if (logd->files[level] || !logd->conf.file[level])
                return logd->files[level];
        int fd = open(logd->conf.file[level], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
        if (fd < 0 || !(logd->files[level] = fdopen(fd, "a"))) {
                int e = errno;
                if (fd >= 0)
                        close(fd);
                /* Said once per reload: the path stays configured but unused. */
                fprintf(stderr, "logd: cannot open %s: %s\n", logd->conf.file[level], strerror(e));
                g_free(logd->conf.file[level]);
                logd->conf.file[level] = NULL;
                return NULL;
        }
        return logd->files[level];
}

static void emit(Logd *logd, const char *service, bool is_isakmpd, int64_t usec, BhLogLevel level,
                 const char *tunnel, const char *text) {
        char clean[BH_LOG_TEXT_MAX * 4 + 1], clean_tunnel[BH_LOG_TUNNEL_MAX * 4 + 1], when[40];
        escape(text, clean, sizeof clean);
        escape(tunnel, clean_tunnel, sizeof clean_tunnel);
        format_time(usec, when, sizeof when);
        const char *lw = bh_log_level_to_string(level);
        bool sep = *clean_tunnel != '\0';

        if (is_isakmpd) {
                for (BhLogLevel f = BH_LOG_ERRORS; f <= _BH_LOG_MAX; f++) {
                        if (!bh_isakmpd_conf_routes(level, f))
                                continue;
                        FILE *fp = level_file(logd, f);
                        if (fp)
                                fprintf(fp, "%s %s %s%s%s: %s\n", when, service, lw, sep ? " tunnel=" : "",
                                        clean_tunnel, clean);
                }
                if (!logd->conf.syslog) {
                        logd->written++;
                        return;
                }
        }
        if (logd->syslog)
                syslog(LOG_DAEMON | bh_log_level_to_syslog(level), "%s %s%s%s: %s", service, lw,
                       sep ? " tunnel=" : "", clean_tunnel, clean);
        else
                fprintf(stderr, "%s %s %s%s%s: %s\n", when, service, lw, sep ? " tunnel=" : "", clean_tunnel, clean);
        logd->written++;
}

static void flush_files(Logd *logd) {
        for (int i = 0; i <= _BH_LOG_MAX; i++)
                if (logd->files[i])
                        fflush(logd->files[i]);
}

static void own_line(int64_t usec, BhLogLevel level, const char *tunnel, const char *text) {
        emit(the_logd, "logd", false, usec, level, tunnel, text);
}

static void note_dropped(Logd *logd, const BhCaller *caller, const char *name, uint64_t total) {
        uint64_t *last;
        if (caller->service != BH_SERVICE_NONE) {
                last = &logd->service_dropped[caller->service];
        } else {
                /* On a peer connection there is no bus name: one slot for all. */
                const char *key = caller->sender ? caller->sender : "(peer)";
                uint64_t *p = g_hash_table_lookup(logd->client_dropped, key);
                if (!p) {
                        if (g_hash_table_size(logd->client_dropped) >= CLIENTS_MAX)
                                g_hash_table_remove_all(logd->client_dropped);
                        p = g_new0(uint64_t, 1);
                        g_hash_table_insert(logd->client_dropped, g_strdup(key), p);
                }
                last = p;
        }
        /* A restarted service counts from zero again. */
        if (total < *last)
                *last = 0;
        if (total == *last)
                return;
        uint64_t lost = total - *last;
        *last = total;
        logd->dropped += lost;
        bh_log_event("%s dropped %" G_GUINT64_FORMAT " log lines (logd slow or away; %" G_GUINT64_FORMAT
                     " in all)", name, lost, total);
}

static void logd_handle_log(BhCall *call, void *userdata) {
        Logd *logd = userdata;
        const BhCaller *caller = bh_call_caller(call);
        char name[64];
        if (caller->service != BH_SERVICE_NONE)
                g_strlcpy(name, bh_suite[caller->service].name, sizeof name);
        else
                snprintf(name, sizeof name, "client%s", caller->sender ? caller->sender : "(peer)");
        bool is_isakmpd = caller->service == BH_SERVICE_ISAKMPD;

        DBusMessageIter it, arr, st;
        dbus_message_iter_init(bh_call_message(call), &it);
        dbus_uint64_t dropped;
        dbus_message_iter_get_basic(&it, &dropped);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr)) {
                dbus_uint64_t usec;
                unsigned char level;
                const char *tunnel, *text;
                dbus_message_iter_recurse(&arr, &st);
                dbus_message_iter_get_basic(&st, &usec);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &level);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &tunnel);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &text);
                logd->received++;
                if (level < BH_LOG_ERRORS || level > _BH_LOG_MAX)
                        continue;       /* the signature was right, the value not: skip the line */
                emit(logd, name, is_isakmpd, (int64_t) usec, level, tunnel, text);
        }
        flush_files(logd);
        note_dropped(logd, caller, name, dropped);
        bh_call_return_empty(call);
}

static void logd_handle_reload(BhCall *call, void *userdata) {
        logd_reload(userdata);
        bh_call_return_empty(call);
}

static void get_isakmpd_level(DBusMessageIter *it, void *userdata) {
        Logd *logd = userdata;
        const char *s = bh_log_level_to_string(logd->conf.level);
        dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &s);
}

static void get_u64(DBusMessageIter *it, uint64_t v) {
        dbus_uint64_t x = v;
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT64, &x);
}
static void get_received(DBusMessageIter *it, void *userdata) {
        get_u64(it, ((Logd *) userdata)->received);
}
static void get_written(DBusMessageIter *it, void *userdata) {
        get_u64(it, ((Logd *) userdata)->written);
}
static void get_dropped(DBusMessageIter *it, void *userdata) {
        get_u64(it, ((Logd *) userdata)->dropped);
}

static const BhMethodImpl logd_methods[] = {
        { "Log", logd_handle_log },
        { "Reload", logd_handle_reload },
        {},
};

static const BhPropertyImpl logd_properties[] = {
        { "IsakmpdLevel", get_isakmpd_level, NULL },
        { "LinesReceived", get_received, NULL },
        { "LinesWritten", get_written, NULL },
        { "LinesDropped", get_dropped, NULL },
        {},
};

static void close_files(Logd *logd) {
        for (int i = 0; i <= _BH_LOG_MAX; i++)
                if (logd->files[i]) {
                        fclose(logd->files[i]);
                        logd->files[i] = NULL;
                }
}

void logd_reload(Logd *logd) {
        close_files(logd);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        /* Parse into a fresh struct: a file that cannot be read leaves the
         * defaults, and we say so. */
        BhIsakmpdConf conf;
        bh_isakmpd_conf_init(&conf);
        int r = bh_isakmpd_conf_load(&conf, logd->conf_path, errors);
        bh_isakmpd_conf_clear(&logd->conf);
        logd->conf = conf;
        if (r < 0)
                bh_log_error("%s: %s; using the defaults", logd->conf_path, g_strerror(-r));
        for (guint i = 0; i < errors->len; i++)
                bh_log_error("%s", (const char *) g_ptr_array_index(errors, i));
        bh_log_info("isakmpd.conf: level %s, files:%s%s%s%s%s%s%s%s", bh_log_level_to_string(logd->conf.level),
                    logd->conf.file[BH_LOG_ERRORS] ? " errors=" : "",
                    logd->conf.file[BH_LOG_ERRORS] ? logd->conf.file[BH_LOG_ERRORS] : "",
                    logd->conf.file[BH_LOG_EVENTS] ? " events=" : "",
                    logd->conf.file[BH_LOG_EVENTS] ? logd->conf.file[BH_LOG_EVENTS] : "",
                    logd->conf.file[BH_LOG_INFORMATION] ? " information=" : "",
                    logd->conf.file[BH_LOG_INFORMATION] ? logd->conf.file[BH_LOG_INFORMATION] : "",
                    logd->conf.file[BH_LOG_DEBUG] ? " debug=" : "",
                    logd->conf.file[BH_LOG_DEBUG] ? logd->conf.file[BH_LOG_DEBUG] : "");
        bh_ipc_property_changed(logd->svc->ipc, logd->svc->entry->path, bh_iface_logger1.name, "IsakmpdLevel");
}

Logd *logd_new(BhService *svc) {
        Logd *logd = g_new0(Logd, 1);
        logd->svc = svc;
        logd->client_dropped = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        logd->conf_path = bh_service_config_path(svc, "isakmpd.conf");
        bh_isakmpd_conf_init(&logd->conf);
        struct stat st;
        logd->syslog = stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode);
        if (logd->syslog)
                openlog("bulkhead", LOG_NDELAY, LOG_DAEMON);
        the_logd = logd;
        bh_log_set_sink(own_line);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_logger1, logd_methods, logd_properties, logd);
        logd_reload(logd);
        return logd;
}

void logd_free(Logd *logd) {
        if (!logd)
                return;
        bh_log_set_sink(NULL);
        the_logd = NULL;
        close_files(logd);
        bh_isakmpd_conf_clear(&logd->conf);
        g_hash_table_destroy(logd->client_dropped);
        g_free(logd->conf_path);
        if (logd->syslog)
                closelog();
        g_free(logd);
}
