/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "config.h"
#include "sandbox.h"
#include "service.h"

static void ping(BhCall *call, void *userdata) {
        bh_call_return_empty(call);
}

static void mark(BhCall *call, void *userdata) {
        const char *word, *text;
        BhLogLevel level;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &word, DBUS_TYPE_STRING, &text,
                              DBUS_TYPE_INVALID);
        if (bh_log_level_from_string(word, &level) < 0 || level == BH_LOG_NONE) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS,
                              "level must be errors, events, information or debug");
                return;
        }
        char who[128];
        bh_log(level, "mark by %s: %s", bh_caller_describe(bh_call_caller(call), who, sizeof who), text);
        bh_call_return_empty(call);
}

static void open_peer(BhCall *call, void *userdata) {
        bh_ipc_handle_open_peer(call);
}

static void bind_peer(BhCall *call, void *userdata) {
        bh_ipc_handle_bind_peer(call);
}

static const BhMethodImpl service_methods[] = {
        { "Ping", ping },
        { "Mark", mark },
        { "OpenPeer", open_peer },
        { "BindPeer", bind_peer },
        {},
};

static void get_name(DBusMessageIter *it, void *userdata) {
        BhService *svc = userdata;
        dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &svc->entry->name);
}

static void get_version(DBusMessageIter *it, void *userdata) {
        const char *v = BULKHEAD_VERSION;
        dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &v);
}

static void get_pid(DBusMessageIter *it, void *userdata) {
        dbus_uint32_t pid = (dbus_uint32_t) getpid();
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &pid);
}

static void get_log_level(DBusMessageIter *it, void *userdata) {
        const char *s = bh_log_level_to_string(bh_log_level);
        dbus_message_iter_append_basic(it, DBUS_TYPE_STRING, &s);
}

static void set_log_level(BhCall *call, DBusMessageIter *value, void *userdata) {
        BhService *svc = userdata;
        const char *word;
        BhLogLevel level;
        dbus_message_iter_get_basic(value, &word);
        if (bh_log_level_from_string(word, &level) < 0) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS,
                              "unknown log level (expected none, errors, events, information or debug)");
                return;
        }
        BhLogLevel old = bh_log_level;
        char who[128];
        bh_caller_describe(bh_call_caller(call), who, sizeof who);
        /* Logged under the louder of the two levels, so that turning logging
         * on or off leaves a trace either way. */
        bh_log_level = MAX(old, level);
        if (level != old)
                bh_log_event("log level %s -> %s by %s", bh_log_level_to_string(old), bh_log_level_to_string(level),
                             who);
        bh_log_level = level;
        bh_call_return_empty(call);
        if (level != old)
                bh_ipc_property_changed(svc->ipc, svc->entry->path, bh_iface_service1.name, "LogLevel");
}

static void get_log_dropped(DBusMessageIter *it, void *userdata) {
        dbus_uint64_t n = bh_log_dropped();
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT64, &n);
}

static const BhPropertyImpl service_properties[] = {
        { "Name", get_name, NULL },
        { "Version", get_version, NULL },
        { "Pid", get_pid, NULL },
        { "LogLevel", get_log_level, set_log_level },
        { "LogDropped", get_log_dropped, NULL },
        {},
};

static gboolean on_signal(gpointer userdata) {
        BhService *svc = userdata;
        bh_log_info("stopping on signal");
        bh_service_quit(svc, 0);
        return G_SOURCE_CONTINUE;
}

static void on_disconnect(void *userdata) {
        BhService *svc = userdata;
        bh_log_detach();
        bh_log_error("lost the bus connection");
        bh_service_quit(svc, 1);
}

static G_NORETURN void usage_exit(const BhSuiteEntry *e, int code) {
        fprintf(code ? stderr : stdout,
                "Usage: %s [OPTION...]\n"
                "The %s service of the Bulkhead IPsec suite; normally started by bulkheadd(8).\n\n"
                "  --bus ADDRESS       bus to join (default: $BULKHEAD_BUS_ADDRESS, else the system bus)\n"
                "  --run-dir DIR       run-time directory of the suite\n"
                "  --config-dir DIR    configuration directory (default: %s)\n"
                "  --log-level LEVEL   none, errors, events, information or debug (default: events)\n"
                "  --report-fd FD      where to say which syscall the sandbox refused (the supervisor's)\n"
                "  --fd NAME=FD        a privileged descriptor handed over by the supervisor\n"
                "  --help              show this help\n"
                "  --version           show the version\n",
                e->binary, e->name, BULKHEAD_SYSCONFDIR);
        exit(code);
}

void bh_service_init(BhService *svc, BhServiceId id, int argc, char **argv) {
        const BhSuiteEntry *e = &bh_suite[id];
        *svc = (BhService){ .entry = e, .initial_level = BH_LOG_EVENTS, .report_fd = -1 };
        bh_log_init(e->name, BH_LOG_EVENTS);

        /* Every option takes a value: they come in pairs. */
        for (int i = 1; i < argc; i += 2) {
                const char *a = argv[i];
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
                        usage_exit(e, 0);
                if (strcmp(a, "--version") == 0) {
                        printf("%s %s\n", e->binary, BULKHEAD_VERSION);
                        exit(0);
                }
                if (!v) {
                        fprintf(stderr, "%s: unknown option or missing value: %s\n", e->binary, a);
                        usage_exit(e, 2);
                }
                if (strcmp(a, "--bus") == 0)
                        svc->bus_address = g_strdup(v);
                else if (strcmp(a, "--run-dir") == 0)
                        svc->run_dir = g_strdup(v);
                else if (strcmp(a, "--config-dir") == 0)
                        svc->config_dir = g_strdup(v);
                else if (strcmp(a, "--fd") == 0) {
                        /* NAME=N: a privileged descriptor from the supervisor. */
                        const char *eq = strchr(v, '=');
                        char *end = NULL;
                        long fd = eq ? strtol(eq + 1, &end, 10) : -1;
                        if (!eq || eq == v || !end || *end || fd < 3 || fd > 1024 ||
                            svc->n_fds == G_N_ELEMENTS(svc->fds)) {
                                fprintf(stderr, "%s: --fd needs NAME=NUMBER\n", e->binary);
                                exit(2);
                        }
                        svc->fds[svc->n_fds].name = g_strndup(v, (gsize) (eq - v));
                        svc->fds[svc->n_fds].fd = (int) fd;
                        svc->n_fds++;
                } else if (strcmp(a, "--report-fd") == 0) {
                        char *end;
                        long fd = strtol(v, &end, 10);
                        if (*end || fd < 3 || fd > 1024) {
                                fprintf(stderr, "%s: --report-fd needs a descriptor number\n", e->binary);
                                exit(2);
                        }
                        svc->report_fd = (int) fd;
                } else if (strcmp(a, "--log-level") == 0) {
                        if (bh_log_level_from_string(v, &svc->initial_level) < 0) {
                                fprintf(stderr, "%s: unknown log level: %s\n", e->binary, v);
                                exit(2);
                        }
                } else {
                        fprintf(stderr, "%s: unknown option: %s\n", e->binary, a);
                        usage_exit(e, 2);
                }
        }
        if (!svc->bus_address && getenv("BULKHEAD_BUS_ADDRESS") && *getenv("BULKHEAD_BUS_ADDRESS"))
                svc->bus_address = g_strdup(getenv("BULKHEAD_BUS_ADDRESS"));
        if (!svc->config_dir)
                svc->config_dir = g_strdup(BULKHEAD_SYSCONFDIR);
        bh_log_level = svc->initial_level;

        /* A hang-up is not a reason to die: services that reload on it
         * (logd) install their own handler over this. */
        signal(SIGHUP, SIG_IGN);

        /* Die with the supervisor rather than linger unsupervised. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);

        bh_service_connect(svc);
        g_unix_signal_add(SIGTERM, on_signal, svc);
        g_unix_signal_add(SIGINT, on_signal, svc);
}

/* Started by systemd rather than the supervisor, a service with privileged
 * descriptors asks the supervisor for them, once, before anything else. */
static void take_resources(BhService *svc) {
        if (svc->n_fds > 0 || !svc->entry->resources[0] || svc->entry->id == BH_SERVICE_SUPERVISOR)
                return;
        DBusMessage *m = bh_method_new(BH_SERVICE_SUPERVISOR, &bh_iface_supervisor1, "TakeResources");
        DBusError err;
        dbus_error_init(&err);
        DBusMessage *r = bh_ipc_call_sync(svc->ipc, m, BH_CALL_TIMEOUT_MS, &err);
        dbus_message_unref(m);
        if (!r) {
                bh_log_error("no privileged descriptors from the supervisor: %s", err.message);
                dbus_error_free(&err);
                return;
        }
        DBusMessageIter it, arr, ent;
        dbus_message_iter_init(r, &it);
        if (dbus_message_has_signature(r, "a{sh}")) {
                dbus_message_iter_recurse(&it, &arr);
                for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY && svc->n_fds < G_N_ELEMENTS(svc->fds);
                     dbus_message_iter_next(&arr)) {
                        const char *name;
                        int fd;
                        dbus_message_iter_recurse(&arr, &ent);
                        dbus_message_iter_get_basic(&ent, &name);
                        dbus_message_iter_next(&ent);
                        dbus_message_iter_get_basic(&ent, &fd);     /* a new descriptor, ours */
                        svc->fds[svc->n_fds].name = g_strdup(name);
                        svc->fds[svc->n_fds].fd = fd;
                        svc->n_fds++;
                }
        }
        bh_log_info("%u privileged descriptors from the supervisor", svc->n_fds);
        dbus_message_unref(r);
}

void bh_service_connect(BhService *svc) {
        if (!svc->loop)
                svc->loop = g_main_loop_new(NULL, FALSE);
        svc->ipc = bh_ipc_new(NULL);
        g_autoptr(GError) error = NULL;
        if (bh_ipc_connect(svc->ipc, svc->bus_address, &error) < 0) {
                bh_log_error("cannot join the bus: %s", error->message);
                exit(1);
        }
        bh_ipc_on_disconnect(svc->ipc, on_disconnect, svc);
        take_resources(svc);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_service1, service_methods, service_properties, svc);
#if BULKHEAD_TEST_HOOKS
        if (svc->entry->id != BH_SERVICE_SUPERVISOR)
                bh_test_hooks_register(svc);
#endif
}

int bh_service_run(BhService *svc) {
        g_autoptr(GError) error = NULL;
        /* Objects are in place before the name is taken: whoever sees the
         * name can call them. */
        if (bh_ipc_request_name(svc->ipc, svc->entry->bus_name, &error) < 0) {
                bh_log_error("cannot own %s: %s", svc->entry->bus_name, error->message);
                return 1;
        }
        bh_log_attach(svc->ipc);
        /* GLib's first g_strerror() opens the charset alias and iconv cache
         * files, which no sandbox allows: done once here, the error texts
         * of later failures need no file. */
        (void) g_strerror(EINVAL);
        /* Initialisation is over: from here on the service may only do what
         * its profile in policy/sandbox.c allows. */
        int r = bh_sandbox_enter(svc->entry->sandbox, svc->report_fd);
        if (r < 0) {
                bh_log_error("cannot enter the %s sandbox: %s", svc->entry->sandbox, g_strerror(-r));
                return 1;
        }
        bh_log_info("%s %s running as pid %d, uid %d, sandboxed", svc->entry->name, BULKHEAD_VERSION, (int) getpid(),
                    (int) getuid());
        g_main_loop_run(svc->loop);
        return svc->exit_code;
}

void bh_service_quit(BhService *svc, int exit_code) {
        svc->exit_code = exit_code;
        g_main_loop_quit(svc->loop);
}

void bh_service_done(BhService *svc) {
        bh_log_detach();
        bh_ipc_free(svc->ipc);
        g_main_loop_unref(svc->loop);
        g_free(svc->bus_address);
        g_free(svc->run_dir);
        g_free(svc->config_dir);
        for (unsigned i = 0; i < svc->n_fds; i++)
                g_free(svc->fds[i].name);
}

int bh_service_fd(BhService *svc, const char *name) {
        for (unsigned i = 0; i < svc->n_fds; i++)
                if (strcmp(svc->fds[i].name, name) == 0)
                        return svc->fds[i].fd;
        return -1;
}

char *bh_service_config_path(BhService *svc, const char *name) {
        return g_build_filename(svc->config_dir, name, NULL);
}
