/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buspolicy.h"
#include "config.h"
#include "resources.h"
#include "route.h"
#include "ts.h"
#include "sandbox.h"
#include "supervisor.h"

typedef enum ChildState {
        CHILD_STOPPED,
        CHILD_STARTING,         /* spawned, its bus name not yet owned */
        CHILD_RUNNING,
        CHILD_BACKOFF,          /* exited; waiting to be restarted */
        CHILD_FAILED,           /* over the crash-loop limit: left down */
        CHILD_STOPPING,
} ChildState;

static const char *const state_names[] = {
        [CHILD_STOPPED] = "stopped",   [CHILD_STARTING] = "starting", [CHILD_RUNNING] = "running",
        [CHILD_BACKOFF] = "backoff",   [CHILD_FAILED] = "failed",     [CHILD_STOPPING] = "stopping",
};

typedef struct Child {
        Supervisor *sup;
        const BhSuiteEntry *entry;
        ChildState state;
        GPid pid;
        guint watch;
        guint backoff_timer;
        unsigned backoff_ms;
        unsigned restarts;
        char *last_exit;
        gint64 started;                         /* monotonic */
        gint64 exits[SUPERVISOR_CRASH_LIMIT + 1]; /* recent exit times, newest last */
        unsigned n_exits;
        bool drop_user;
        uid_t uid;
        gid_t gid;
        int report_fd;                          /* read end: the sandbox's last words */
        int resource_fds[G_N_ELEMENTS(((BhSuiteEntry *) 0)->resources)]; /* -1: not open */
} Child;

struct Supervisor {
        SupervisorOptions *opt;
        GMainLoop *loop;
        BhService svc;
        Child children[_BH_SERVICE_MAX];        /* [BH_SERVICE_SUPERVISOR] unused */
        GPid bus_pid;
        guint bus_watch;
        char *bus_address;
        int lock_fd;
        bool ready;             /* every service runs now */
        bool ready_file;        /* RUN_DIR/ready written */
        bool announced;         /* start-up's outcome said */
        bool stopping;
        guint stop_timer;
        int exit_code;
};

/* ---------------------------------------------------------------- helpers */

static char *run_path(Supervisor *sup, const char *name) {
        return g_build_filename(sup->opt->run_dir, name, NULL);
}

/* Written whole or not at all: readers never see half an address. */
static int write_file_atomic(const char *path, const char *contents) {
        g_autoptr(GError) error = NULL;
        if (!g_file_set_contents_full(path, contents, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644, &error)) {
                fprintf(stderr, "bulkheadd: %s\n", error->message);
                return -EIO;
        }
        return 0;
}

static char *describe_status(int status) {
        if (WIFEXITED(status))
                return g_strdup_printf("exited with status %d", WEXITSTATUS(status));
        if (WIFSIGNALED(status)) {
                int sig = WTERMSIG(status);
                const char *abbrev = sigabbrev_np(sig);
                return g_strdup_printf("killed by signal %d (SIG%s)%s", sig, abbrev ? abbrev : "?",
                                       WCOREDUMP(status) ? ", core dumped" : "");
        }
        return g_strdup_printf("ended with wait status 0x%x", status);
}

static void child_announce(Child *c) {
        Supervisor *sup = c->sup;
        const char *state = state_names[c->state];
        dbus_uint32_t pid = c->pid > 0 ? (dbus_uint32_t) c->pid : 0;
        dbus_uint32_t restarts = c->restarts;
        const char *last = c->last_exit ? c->last_exit : "";
        if (!sup->svc.ipc || !bh_ipc_bus(sup->svc.ipc))
                return;
        bh_ipc_emit(sup->svc.ipc, bh_suite[BH_SERVICE_SUPERVISOR].path, &bh_iface_supervisor1, "ServiceChanged",
                    DBUS_TYPE_STRING, &c->entry->name, DBUS_TYPE_STRING, &state, DBUS_TYPE_UINT32, &pid,
                    DBUS_TYPE_UINT32, &restarts, DBUS_TYPE_STRING, &last, DBUS_TYPE_INVALID);
}

static void check_ready(Supervisor *sup);

static void child_set_state(Child *c, ChildState state) {
        if (c->state == state)
                return;
        c->state = state;
        child_announce(c);
        check_ready(c->sup);
}

/* ---------------------------------------------------------------- spawning */

static char *find_libexec_dir(void) {
        /* Next to bulkheadd when the services are there (a build tree or a
         * relocated install), else the configured libexec directory. */
        g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
        if (self) {
                g_autofree char *dir = g_path_get_dirname(self);
                g_autofree char *probe = g_build_filename(dir, bh_suite[BH_SERVICE_LOGD].binary, NULL);
                if (g_file_test(probe, G_FILE_TEST_IS_EXECUTABLE))
                        return g_steal_pointer(&dir);
        }
        return g_strdup(BULKHEAD_LIBEXECDIR);
}

typedef struct SetupData {
        bool drop_user;
        uid_t uid;
        gid_t gid;
} SetupData;

/* Runs in the child between fork and exec: async-signal-safe calls only. */
static void child_setup(gpointer data) {
        SetupData *sd = data;
        /* Its own process group: a terminal's ^C reaches the supervisor,
         * which then stops the services in order. */
        setpgid(0, 0);
        /* No capability can come back, whatever the service later execs:
         * empty the bounding set while we still may. */
        for (int cap = 0; cap <= 63; cap++)
                prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
        if (sd->drop_user) {
                if (setgroups(0, NULL) < 0 || setgid(sd->gid) < 0 || setuid(sd->uid) < 0)
                        _exit(126);
        }
        /* After the change of user, which clears it. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void child_exited(GPid pid, gint status, gpointer data);

/* The descriptor number a service finds its report pipe at; resources
 * follow from the next one up. */
#define REPORT_FD 3
#define MAX_RESOURCES G_N_ELEMENTS(((BhSuiteEntry *) 0)->resources)

static bool child_spawn(Child *c) {
        Supervisor *sup = c->sup;
        g_autofree char *path = g_build_filename(sup->opt->libexec_dir, c->entry->binary, NULL);
        const char *level = bh_log_level_to_string(sup->opt->service_level);
        g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);
        const char *fixed[] = {
                path, "--bus", sup->bus_address, "--run-dir", sup->opt->run_dir, "--config-dir",
                sup->opt->config_dir, "--log-level", level, "--report-fd", G_STRINGIFY(REPORT_FD),
        };
        for (size_t i = 0; i < G_N_ELEMENTS(fixed); i++)
                g_ptr_array_add(argv, g_strdup(fixed[i]));
        int source_fds[1 + MAX_RESOURCES], target_fds[1 + MAX_RESOURCES];
        size_t n_fds = 1;
        for (size_t i = 0; i < MAX_RESOURCES && c->entry->resources[i]; i++) {
                if (c->resource_fds[i] < 0)
                        continue;
                source_fds[n_fds] = c->resource_fds[i];
                target_fds[n_fds] = REPORT_FD + (int) n_fds;
                g_ptr_array_add(argv, g_strdup("--fd"));
                g_ptr_array_add(argv, g_strdup_printf("%s=%d", c->entry->resources[i], target_fds[n_fds]));
                n_fds++;
        }
        g_ptr_array_add(argv, NULL);
        int report[2];
        if (pipe2(report, O_CLOEXEC) < 0) {
                g_free(c->last_exit);
                c->last_exit = g_strdup_printf("could not start: pipe: %s", strerror(errno));
                bh_log_error("%s: %s", c->entry->name, c->last_exit);
                return false;
        }
        SetupData sd = { c->drop_user, c->uid, c->gid };
        source_fds[0] = report[1];
        target_fds[0] = REPORT_FD;
        g_autoptr(GError) error = NULL;
        GPid pid;
        bool ok = g_spawn_async_with_pipes_and_fds(NULL, (const char *const *) argv->pdata, NULL,
                                                   G_SPAWN_DO_NOT_REAP_CHILD, child_setup, &sd, -1, -1, -1,
                                                   source_fds, target_fds, n_fds, &pid, NULL, NULL, NULL, &error);
        close(report[1]);
        if (!ok) {
                close(report[0]);
                g_free(c->last_exit);
                c->last_exit = g_strdup_printf("could not start: %s", error->message);
                bh_log_error("%s: %s", c->entry->name, c->last_exit);
                return false;
        }
        c->report_fd = report[0];
        c->pid = pid;
        c->started = g_get_monotonic_time();
        c->watch = g_child_watch_add(pid, child_exited, c);
        bh_log_info("%s started as pid %d%s%s", c->entry->name, (int) pid, c->drop_user ? " as user " : "",
                    c->drop_user ? c->entry->user : "");
        child_set_state(c, CHILD_STARTING);
        /* The name may already be ours if it was taken before the watch. */
        if (bh_ipc_owner(sup->svc.ipc, c->entry->id))
                child_set_state(c, CHILD_RUNNING);
        return true;
}

/* What the sandbox said before the process died: "SIGSYS <nr>". */
static char *read_report(Child *c) {
        char buf[128];
        ssize_t n = c->report_fd >= 0 ? read(c->report_fd, buf, sizeof buf - 1) : -1;
        if (c->report_fd >= 0)
                close(c->report_fd);
        c->report_fd = -1;
        if (n <= 0)
                return NULL;
        buf[n] = '\0';
        int nr;
        if (sscanf(buf, "SIGSYS %d", &nr) != 1)
                return NULL;
        const char *name = bh_sandbox_syscall_name(nr);
        return g_strdup_printf("forbidden syscall %s (%d)", name ? name : "?", nr);
}

static void child_failed_to_spawn(Child *c);

static gboolean backoff_expired(gpointer data) {
        Child *c = data;
        c->backoff_timer = 0;
        if (c->sup->stopping)
                return G_SOURCE_REMOVE;
        c->restarts++;
        if (!child_spawn(c))
                child_failed_to_spawn(c);
        return G_SOURCE_REMOVE;
}

/* Decides what follows an exit (or a failed spawn): another try after the
 * backoff delay, or "failed" once the crash-loop limit is passed. */
static void child_schedule_restart(Child *c) {
        gint64 now = g_get_monotonic_time();
        if (c->n_exits == G_N_ELEMENTS(c->exits)) {
                memmove(c->exits, c->exits + 1, sizeof c->exits - sizeof c->exits[0]);
                c->n_exits--;
        }
        c->exits[c->n_exits++] = now;
        unsigned recent = 0;
        for (unsigned i = 0; i < c->n_exits; i++)
                if (now - c->exits[i] <= SUPERVISOR_CRASH_WINDOW_USEC)
                        recent++;
        if (recent > SUPERVISOR_CRASH_LIMIT) {
                bh_log_error("%s exited %u times within %d s (last: %s); not restarting it", c->entry->name, recent,
                             (int) (SUPERVISOR_CRASH_WINDOW_USEC / G_USEC_PER_SEC), c->last_exit);
                child_set_state(c, CHILD_FAILED);
                return;
        }
        if (c->started && now - c->started >= SUPERVISOR_STABLE_USEC)
                c->backoff_ms = 0;
        c->backoff_ms = c->backoff_ms ? MIN(c->backoff_ms * 2, SUPERVISOR_BACKOFF_MAX_MS)
                                      : SUPERVISOR_BACKOFF_FIRST_MS;
        bh_log_event("%s %s; restarting in %u ms", c->entry->name, c->last_exit, c->backoff_ms);
        child_set_state(c, CHILD_BACKOFF);
        c->backoff_timer = g_timeout_add(c->backoff_ms, backoff_expired, c);
}

static void child_failed_to_spawn(Child *c) {
        c->pid = 0;
        c->started = 0;
        child_schedule_restart(c);
}

static bool all_down(Supervisor *sup) {
        for (int i = 1; i < _BH_SERVICE_MAX; i++)
                if (sup->children[i].pid > 0)
                        return false;
        return true;
}

static void finish_stop(Supervisor *sup);

/* logd goes last, so that what the others say while stopping is written. */
static void stop_logd_last(Supervisor *sup) {
        Child *logd = &sup->children[BH_SERVICE_LOGD];
        if (logd->pid <= 0 || logd->state == CHILD_STOPPING)
                return;
        for (int i = 1; i < _BH_SERVICE_MAX; i++)
                if (i != BH_SERVICE_LOGD && sup->children[i].pid > 0)
                        return;
        child_set_state(logd, CHILD_STOPPING);
        kill(logd->pid, SIGTERM);
}

static void child_exited(GPid pid, gint status, gpointer data) {
        Child *c = data;
        Supervisor *sup = c->sup;
        g_spawn_close_pid(pid);
        c->watch = 0;
        c->pid = 0;
        g_free(c->last_exit);
        c->last_exit = describe_status(status);
        g_autofree char *report = read_report(c);
        if (report) {
                char *full = g_strdup_printf("%s: %s", c->last_exit, report);
                g_free(c->last_exit);
                c->last_exit = full;
                bh_log_error("%s was killed by its sandbox: %s", c->entry->name, report);
        }
        if (sup->stopping) {
                bh_log_info("%s stopped (%s)", c->entry->name, c->last_exit);
                child_set_state(c, CHILD_STOPPED);
                stop_logd_last(sup);
                if (all_down(sup))
                        finish_stop(sup);
                return;
        }
        child_schedule_restart(c);
}

/* ---------------------------------------------------------------- readiness */

/* Called on every change of state. Ready (the property) means every
 * service runs now; RUN_DIR/ready and the "ready" line come the first time
 * that is so. When start-up ends with services left failed, that is said
 * once instead (an operator's RestartService may still bring them up). */
static void check_ready(Supervisor *sup) {
        unsigned running = 0, failed = 0;
        g_autoptr(GString) failures = g_string_new(NULL);
        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                if (c->state == CHILD_RUNNING)
                        running++;
                else if (c->state == CHILD_FAILED) {
                        failed++;
                        g_string_append_printf(failures, " %s (%s)", c->entry->name, c->last_exit);
                }
        }
        bool all = running == _BH_SERVICE_MAX - 1 && !sup->stopping;
        if (all != sup->ready) {
                sup->ready = all;
                bh_ipc_property_changed(sup->svc.ipc, bh_suite[BH_SERVICE_SUPERVISOR].path,
                                        bh_iface_supervisor1.name, "Ready");
        }
        if (all && !sup->ready_file) {
                g_autofree char *ready = run_path(sup, "ready");
                g_autofree char *pid = g_strdup_printf("%d\n", (int) getpid());
                write_file_atomic(ready, pid);
                sup->ready_file = true;
                sup->announced = true;
                printf("bulkheadd: ready: %u services on %s\n", running, sup->bus_address);
                fflush(stdout);
                bh_log_event("ready: %u services", running);
        } else if (!sup->announced && failed > 0 && running + failed == _BH_SERVICE_MAX - 1) {
                sup->announced = true;
                printf("bulkheadd: not ready: failed:%s\n", failures->str);
                fflush(stdout);
                bh_log_error("not ready: failed:%s", failures->str);
        }
}

static void owner_changed(BhServiceId service, const char *owner, void *userdata) {
        Supervisor *sup = userdata;
        if (service <= BH_SERVICE_SUPERVISOR)
                return;
        Child *c = &sup->children[service];
        if (owner && c->state == CHILD_STARTING)
                child_set_state(c, CHILD_RUNNING);
        /* Started by systemd: the bus name is all there is to follow. */
        if (sup->opt->no_spawn && !sup->stopping)
                child_set_state(c, owner ? CHILD_RUNNING : CHILD_STOPPED);
}

/* ---------------------------------------------------------------- the bus object */

static void supervisor_handle_list_services(BhCall *call, void *userdata) {
        Supervisor *sup = userdata;
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, st;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(sssuus)", &arr);
        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                const char *state = state_names[c->state];
                const char *last = c->last_exit ? c->last_exit : "";
                dbus_uint32_t pid = c->pid > 0 ? (dbus_uint32_t) c->pid : 0, restarts = c->restarts;
                dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &c->entry->name);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &c->entry->bus_name);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &state);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &pid);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_UINT32, &restarts);
                dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &last);
                dbus_message_iter_close_container(&arr, &st);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

/* A service systemd started asks for its descriptors. Before it owns its
 * bus name it is known by its uid alone: one system user per service. */
static void supervisor_handle_take_resources(BhCall *call, void *userdata) {
        Supervisor *sup = userdata;
        const BhCaller *caller = bh_call_caller(call);
        Child *c = NULL;
        for (int i = 1; i < _BH_SERVICE_MAX && caller->uid_known; i++)
                if (sup->children[i].drop_user && sup->children[i].uid == caller->uid)
                        c = &sup->children[i];
        if (!c) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "the caller is no service of the suite (by its user)");
                return;
        }
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, ent;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sh}", &arr);
        unsigned n = 0;
        for (size_t r = 0; r < MAX_RESOURCES && c->entry->resources[r]; r++) {
                if (c->resource_fds[r] < 0)
                        continue;
                /* libdbus duplicates the descriptor into the message. */
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &c->entry->resources[r]);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_UNIX_FD, &c->resource_fds[r]);
                dbus_message_iter_close_container(&arr, &ent);
                n++;
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_log_info("%u resources handed to %s", n, c->entry->name);
        bh_call_return_message(call, reply);
}

static void supervisor_handle_restart_service(BhCall *call, void *userdata) {
        Supervisor *sup = userdata;
        const char *name;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        const BhSuiteEntry *e = bh_suite_by_name(name);
        if (!e || e->id == BH_SERVICE_SUPERVISOR) {
                bh_call_error(call, BH_ERROR_NOT_FOUND, "no service named \"%s\"", name);
                return;
        }
        if (sup->stopping) {
                bh_call_error(call, BH_ERROR_INVALID_STATE, "the suite is stopping");
                return;
        }
        Child *c = &sup->children[e->id];
        if (sup->opt->no_spawn) {
                bh_call_error(call, BH_ERROR_NOT_SUPPORTED, "systemd starts %s: use systemctl restart bulkhead-%s",
                              e->name, e->name);
                return;
        }
        char who[128];
        bh_log_event("restart of %s asked by %s", e->name,
                     bh_caller_describe(bh_call_caller(call), who, sizeof who));
        /* An operator's restart starts the crash history over. */
        c->n_exits = 0;
        c->backoff_ms = 0;
        if (c->pid > 0) {
                kill(c->pid, SIGTERM);  /* its exit schedules the restart */
        } else {
                if (c->backoff_timer)
                        g_source_remove(c->backoff_timer);
                c->backoff_timer = 0;
                c->restarts++;
                if (!child_spawn(c))
                        child_failed_to_spawn(c);
        }
        bh_call_return_empty(call);
}

/* Routes through the TUN device (route.c: one rtnetlink request each), with
 * arguments checked first (tmd may ask, nobody else). */
static void change_route(BhCall *call, bool add, const BhTs *prefix, const BhAddr *src, const char *tun) {
        char p[BH_TS_STRLEN], a[BH_ADDR_STRLEN] = "";
        bh_ts_to_string(prefix, p);
        if (src)
                bh_addr_to_string(src, a);
        g_autofree char *why = NULL;
        if (route_change(add, prefix, src, tun, &why) < 0) {
                bh_log_error("route %s via %s: %s", p, tun, why);
                bh_call_error(call, BH_ERROR_FAILED, "route %s via %s: %s", p, tun, why);
                return;
        }
        bh_log_info("route %s via %s%s%s%s", p, tun, *a ? " from " : "", a, add ? "" : " removed");
        bh_call_return_empty(call);
}

static bool parse_prefix(BhCall *call, const char *prefix, BhTs *ret) {
        g_autofree char *why = NULL;
        if (bh_ts_parse(prefix, ret, &why) < 0 || ret->proto != 0 || ret->port_from != 0 || ret->port_to != 65535) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "not a prefix: %s", why ? why : "protocol or ports given");
                return false;
        }
        return true;
}

static void supervisor_handle_add_route(BhCall *call, void *userdata) {
        Supervisor *sup = userdata;
        const char *prefix, *source;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &prefix, DBUS_TYPE_STRING, &source,
                              DBUS_TYPE_INVALID);
        BhTs p;
        BhAddr a;
        if (!parse_prefix(call, prefix, &p))
                return;
        if (*source && (bh_addr_parse(source, false, &a) < 0 || a.family != p.addr.family)) {
                bh_call_error(call, DBUS_ERROR_INVALID_ARGS, "not an address of the prefix's family: %s", source);
                return;
        }
        const char *tun = sup->opt->tun_name ? sup->opt->tun_name : "bulkhead0";
        change_route(call, true, &p, *source ? &a : NULL, tun);
}

static void supervisor_handle_del_route(BhCall *call, void *userdata) {
        Supervisor *sup = userdata;
        const char *prefix;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &prefix, DBUS_TYPE_INVALID);
        BhTs p;
        if (!parse_prefix(call, prefix, &p))
                return;
        const char *tun = sup->opt->tun_name ? sup->opt->tun_name : "bulkhead0";
        change_route(call, false, &p, NULL, tun);
}

static void supervisor_handle_shutdown(BhCall *call, void *userdata) {
        Supervisor *sup = userdata;
        char who[128];
        bh_log_event("shutdown asked by %s", bh_caller_describe(bh_call_caller(call), who, sizeof who));
        bh_call_return_empty(call);
        supervisor_stop(sup);
}

static void get_embedded(DBusMessageIter *it, void *userdata) {
        Supervisor *sup = userdata;
        dbus_bool_t b = sup->opt->embedded;
        dbus_message_iter_append_basic(it, DBUS_TYPE_BOOLEAN, &b);
}

static void get_ready(DBusMessageIter *it, void *userdata) {
        Supervisor *sup = userdata;
        dbus_bool_t b = sup->ready;
        dbus_message_iter_append_basic(it, DBUS_TYPE_BOOLEAN, &b);
}

static const BhMethodImpl supervisor_methods[] = {
        { "ListServices", supervisor_handle_list_services },
        { "RestartService", supervisor_handle_restart_service },
        { "Shutdown", supervisor_handle_shutdown },
        { "AddRoute", supervisor_handle_add_route },
        { "DelRoute", supervisor_handle_del_route },
        { "TakeResources", supervisor_handle_take_resources },
        {},
};

static const BhPropertyImpl supervisor_properties[] = {
        { "Embedded", get_embedded, NULL },
        { "Ready", get_ready, NULL },
        {},
};

/* ---------------------------------------------------------------- the private bus */

static void bus_exited(GPid pid, gint status, gpointer data) {
        Supervisor *sup = data;
        g_spawn_close_pid(pid);
        sup->bus_watch = 0;
        sup->bus_pid = 0;
        if (sup->stopping) {
                if (all_down(sup))
                        finish_stop(sup);
                return;
        }
        g_autofree char *why = describe_status(status);
        fprintf(stderr, "bulkheadd: the private bus daemon %s; stopping the suite\n", why);
        sup->exit_code = 1;
        supervisor_stop(sup);
}

static int start_private_bus(Supervisor *sup) {
        g_autofree char *conf_path = run_path(sup, "bus.conf");
        g_autofree char *socket_path = run_path(sup, "bus.sock");
        g_autofree char *listen = g_strdup_printf("unix:path=%s", socket_path);
        g_autofree char *conf = bh_bus_policy(BH_BUS_POLICY_EMBEDDED, listen);
        unlink(socket_path);
        if (write_file_atomic(conf_path, conf) < 0)
                return -EIO;
        g_autofree char *daemon = g_find_program_in_path("dbus-daemon");
        if (!daemon) {
                fprintf(stderr, "bulkheadd: dbus-daemon not found (Debian package dbus-daemon)\n");
                return -ENOENT;
        }
        g_autofree char *conf_arg = g_strdup_printf("--config-file=%s", conf_path);
        const char *argv[] = { daemon, conf_arg, "--nofork", "--nopidfile", "--nosyslog", "--print-address=1",
                               NULL };
        SetupData sd = { 0 };
        int out_fd = -1;
        g_autoptr(GError) error = NULL;
        if (!g_spawn_async_with_pipes(NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD, child_setup, &sd,
                                      &sup->bus_pid, NULL, &out_fd, NULL, &error)) {
                fprintf(stderr, "bulkheadd: cannot start dbus-daemon: %s\n", error->message);
                return -EIO;
        }
        sup->bus_watch = g_child_watch_add(sup->bus_pid, bus_exited, sup);
        /* The daemon prints its address once it listens: read that line. */
        char buf[1024];
        size_t n = 0;
        while (n < sizeof buf - 1) {
                ssize_t r = read(out_fd, buf + n, sizeof buf - 1 - n);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break;
                n += (size_t) r;
                if (memchr(buf, '\n', n))
                        break;
        }
        close(out_fd);
        buf[n] = '\0';
        g_strstrip(buf);
        if (!*buf) {
                fprintf(stderr, "bulkheadd: dbus-daemon did not start (see its messages above)\n");
                return -EIO;
        }
        sup->bus_address = g_strdup(buf);
        g_autofree char *bus_file = run_path(sup, "bus");
        g_autofree char *line = g_strdup_printf("%s\n", sup->bus_address);
        return write_file_atomic(bus_file, line);
}

/* ---------------------------------------------------------------- start and stop */

static void on_bus_lost(void *userdata) {
        Supervisor *sup = userdata;
        bh_log_detach();
        if (sup->stopping)
                return;
        fprintf(stderr, "bulkheadd: lost the bus connection; stopping the suite\n");
        sup->exit_code = 1;
        supervisor_stop(sup);
}

static gboolean on_signal(gpointer userdata) {
        Supervisor *sup = userdata;
        if (!sup->stopping)
                bh_log_event("stopping on signal");
        supervisor_stop(sup);
        return G_SOURCE_CONTINUE;
}

static int take_lock(Supervisor *sup) {
        g_autofree char *path = run_path(sup, "lock");
        sup->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (sup->lock_fd < 0) {
                fprintf(stderr, "bulkheadd: %s: %s\n", path, strerror(errno));
                return -errno;
        }
        if (flock(sup->lock_fd, LOCK_EX | LOCK_NB) < 0) {
                fprintf(stderr, "bulkheadd: a suite already runs in %s\n", sup->opt->run_dir);
                close(sup->lock_fd);
                sup->lock_fd = -1;
                return -EBUSY;
        }
        return 0;
}

/* Opened once, kept for the suite's life: a restarted service gets the same
 * device back (and the TUN device with its routes survives the restart). A
 * resource that cannot be opened is said once; the service starts without
 * it and reports what it lacks. */
static void open_resources(Supervisor *sup) {
        /* One worker per CPU the suite may run on, at most RESOURCE_MAX_WORKERS. */
        unsigned workers = sup->opt->dp_workers;
        if (!workers) {
                long cpus = sysconf(_SC_NPROCESSORS_ONLN);
                workers = cpus < 1 ? 1 : cpus > RESOURCE_MAX_WORKERS ? RESOURCE_MAX_WORKERS : (unsigned) cpus;
        }
        ResourceSettings ro = { sup->opt->tun_name ? sup->opt->tun_name : "bulkhead0",
                               sup->opt->tun_mtu ? sup->opt->tun_mtu : 1400, workers };
        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                for (size_t r = 0; r < MAX_RESOURCES && c->entry->resources[r]; r++) {
                        g_autofree char *why = NULL;
                        if (!resource_wanted(c->entry->resources[r], &ro))
                                continue;
                        int fd = resource_open(c->entry->resources[r], &ro, &why);
                        if (fd < 0) {
                                fprintf(stderr, "bulkheadd: %s for %s: %s\n", c->entry->resources[r], c->entry->name,
                                        why);
                                continue;
                        }
                        fcntl(fd, F_SETFD, FD_CLOEXEC);
                        c->resource_fds[r] = fd;
                }
        }
        /* The rule that sends what is not the suite's own traffic to the
         * table of the TUN device's routes (route.h). */
        static const int families[] = { AF_INET, AF_INET6 };
        for (size_t i = 0; i < G_N_ELEMENTS(families); i++) {
                g_autofree char *why = NULL;
                if (route_rule_change(true, families[i], &why) < 0)
                        fprintf(stderr, "bulkheadd: the %s routing rule to table %u: %s\n",
                                families[i] == AF_INET ? "IPv4" : "IPv6", ROUTE_TABLE, why);
        }
}

/* The rules go with the suite; the routes in their table went with the
 * TUN device. */
static void remove_rules(void) {
        route_rule_change(false, AF_INET, NULL);
        route_rule_change(false, AF_INET6, NULL);
}

/* What bulkheadd keeps of root once confined; every other capability leaves
 * its bounding set too. The TUN device and the raw and UDP sockets are open
 * by then (CAP_NET_RAW and CAP_NET_BIND_SERVICE were for them); the files it
 * writes are in its own run directory, so no CAP_DAC_OVERRIDE, CAP_CHOWN or
 * CAP_FOWNER either. */
static uint64_t kept_capabilities(const SupervisorOptions *opt) {
        /* Routes through the TUN device, as tmd asks (rtnetlink). */
        uint64_t keep = UINT64_C(1) << CAP_NET_ADMIN;
        /* Each child's bounding set is emptied before exec (child_setup),
         * the bus daemon's too. */
        if (!opt->no_spawn || opt->embedded)
                keep |= UINT64_C(1) << CAP_SETPCAP;
        /* Services start as their own users, and are signalled as such. */
        if (!opt->no_spawn)
                keep |= UINT64_C(1) << CAP_SETUID | UINT64_C(1) << CAP_SETGID | UINT64_C(1) << CAP_KILL;
        return keep;
}

static void prepare_children(Supervisor *sup) {
        bool root = geteuid() == 0;
        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                c->sup = sup;
                c->entry = &bh_suite[i];
                c->state = CHILD_STOPPED;
                c->report_fd = -1;
                for (size_t r = 0; r < MAX_RESOURCES; r++)
                        c->resource_fds[r] = -1;
                /* As root, each service runs as its own system user when that
                 * user exists (created at install); otherwise as we do. */
                struct passwd *pw = root ? getpwnam(c->entry->user) : NULL;
                if (pw && pw->pw_uid != 0) {
                        c->drop_user = true;
                        c->uid = pw->pw_uid;
                        c->gid = pw->pw_gid;
                }
        }
}

Supervisor *supervisor_start(SupervisorOptions *opt, GMainLoop *loop) {
        /* Before the first goto: the cleanup frees it on every path. */
        g_autoptr(GError) error = NULL;
        Supervisor *sup = g_new0(Supervisor, 1);
        sup->opt = opt;
        sup->loop = loop;
        sup->lock_fd = -1;
        if (!opt->libexec_dir)
                opt->libexec_dir = find_libexec_dir();
        if (!opt->config_dir)
                opt->config_dir = g_strdup(BULKHEAD_SYSCONFDIR);
        if (!opt->run_dir)
                opt->run_dir = g_strdup("/run/bulkhead");
        if (g_mkdir_with_parents(opt->run_dir, 0755) < 0) {
                fprintf(stderr, "bulkheadd: cannot create %s: %s\n", opt->run_dir, strerror(errno));
                goto fail;
        }
        if (take_lock(sup) < 0)
                goto fail;
        prepare_children(sup);
        open_resources(sup);

        /* What needed more than the supervisor profile (policy/sandbox.c)
         * is done: the lock, the users, the privileged descriptors. The
         * filter goes on here, before the bus daemon and the services
         * start, so that they inherit it (and each service adds its own);
         * it could not be kept from them anyway, as filters pass on through
         * fork and exec. */
        int r = bh_sandbox_enter_keeping(bh_suite[BH_SERVICE_SUPERVISOR].sandbox, -1, kept_capabilities(opt));
        if (r < 0) {
                fprintf(stderr, "bulkheadd: cannot enter the %s sandbox: %s\n", bh_suite[BH_SERVICE_SUPERVISOR].sandbox,
                        strerror(-r));
                goto fail;
        }

        if (opt->embedded) {
                if (start_private_bus(sup) < 0)
                        goto fail;
        } else {
                sup->bus_address = g_strdup(opt->bus_address);
        }

        sup->svc.entry = &bh_suite[BH_SERVICE_SUPERVISOR];
        sup->svc.loop = loop;
        sup->svc.bus_address = g_strdup(sup->bus_address);
        sup->svc.run_dir = g_strdup(opt->run_dir);
        sup->svc.config_dir = g_strdup(opt->config_dir);
        bh_service_connect(&sup->svc);
        if (!sup->bus_address)
                sup->bus_address = g_strdup(getenv("DBUS_SYSTEM_BUS_ADDRESS") ? getenv("DBUS_SYSTEM_BUS_ADDRESS")
                                                                            : "unix:path=/run/dbus/system_bus_socket");
        if (!opt->embedded) {
                /* Clients find the bus here in both modes (ike --run-dir). */
                g_autofree char *bus_file = run_path(sup, "bus");
                g_autofree char *line = g_strdup_printf("%s\n", sup->bus_address);
                if (write_file_atomic(bus_file, line) < 0)
                        goto fail;
        }
        bh_ipc_on_disconnect(sup->svc.ipc, on_bus_lost, sup);
        bh_ipc_add_object(sup->svc.ipc, sup->svc.entry->path, &bh_iface_supervisor1, supervisor_methods,
                          supervisor_properties, sup);
        bh_ipc_watch_owners(sup->svc.ipc, owner_changed, sup);
        if (bh_ipc_request_name(sup->svc.ipc, sup->svc.entry->bus_name, &error) < 0) {
                fprintf(stderr, "bulkheadd: %s\n", error->message);
                goto fail;
        }
        bh_log_attach(sup->svc.ipc);
        g_unix_signal_add(SIGTERM, on_signal, sup);
        g_unix_signal_add(SIGINT, on_signal, sup);
        g_unix_signal_add(SIGHUP, on_signal, sup);

        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                if (opt->no_spawn) {
                        /* systemd starts them; what already runs is running. */
                        if (bh_ipc_owner(sup->svc.ipc, c->entry->id))
                                child_set_state(c, CHILD_RUNNING);
                } else if (!child_spawn(c)) {
                        child_failed_to_spawn(c);
                }
        }
        return sup;

fail:
        sup->stopping = true;
        if (sup->bus_pid > 0) {
                kill(sup->bus_pid, SIGTERM);
                waitpid(sup->bus_pid, NULL, 0);
                if (sup->bus_watch)
                        g_source_remove(sup->bus_watch);
                sup->bus_pid = 0;
        }
        finish_stop(sup);
        supervisor_free(sup);
        return NULL;
}

static gboolean stop_timeout(gpointer userdata) {
        Supervisor *sup = userdata;
        sup->stop_timer = 0;
        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                if (c->pid > 0) {
                        fprintf(stderr, "bulkheadd: %s did not stop within %d ms; killing it\n", c->entry->name,
                                SUPERVISOR_STOP_TIMEOUT_MS);
                        kill(c->pid, SIGKILL);
                }
        }
        return G_SOURCE_REMOVE;
}

void supervisor_stop(Supervisor *sup) {
        if (sup->stopping)
                return;
        sup->stopping = true;
        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                if (c->backoff_timer) {
                        g_source_remove(c->backoff_timer);
                        c->backoff_timer = 0;
                }
                if (c->pid > 0 && i != BH_SERVICE_LOGD) {
                        child_set_state(c, CHILD_STOPPING);
                        kill(c->pid, SIGTERM);
                } else if (c->pid <= 0) {
                        c->state = CHILD_STOPPED;
                }
        }
        stop_logd_last(sup);
        if (all_down(sup)) {
                finish_stop(sup);
                return;
        }
        sup->stop_timer = g_timeout_add(SUPERVISOR_STOP_TIMEOUT_MS, stop_timeout, sup);
}

/* Every service is down: stop the private bus, then clean the run dir. */
static void finish_stop(Supervisor *sup) {
        if (sup->stop_timer) {
                g_source_remove(sup->stop_timer);
                sup->stop_timer = 0;
        }
        bh_log_detach();
        if (sup->bus_pid > 0) {
                kill(sup->bus_pid, SIGTERM);
                return;         /* bus_exited() comes back here */
        }
        /* Only a supervisor that took the run directory's lock cleans it. */
        if (sup->lock_fd >= 0) {
                remove_rules();
                static const char *const embedded_files[] = { "bus.sock", "bus.conf" };
                g_autofree char *ready = run_path(sup, "ready");
                g_autofree char *bus = run_path(sup, "bus");
                g_autofree char *lock = run_path(sup, "lock");
                unlink(ready);
                unlink(bus);
                for (size_t i = 0; sup->opt->embedded && i < G_N_ELEMENTS(embedded_files); i++) {
                        g_autofree char *p = run_path(sup, embedded_files[i]);
                        unlink(p);
                }
                unlink(lock);
                close(sup->lock_fd);
                sup->lock_fd = -1;
        }
        if (sup->loop)
                g_main_loop_quit(sup->loop);
}

int supervisor_exit_code(Supervisor *sup) {
        return sup->exit_code;
}

void supervisor_free(Supervisor *sup) {
        if (!sup)
                return;
        for (int i = 1; i < _BH_SERVICE_MAX; i++) {
                Child *c = &sup->children[i];
                if (c->watch)
                        g_source_remove(c->watch);
                if (c->backoff_timer)
                        g_source_remove(c->backoff_timer);
                if (c->report_fd >= 0)
                        close(c->report_fd);
                for (size_t r = 0; r < MAX_RESOURCES; r++)
                        if (c->resource_fds[r] >= 0)
                                close(c->resource_fds[r]);
                g_free(c->last_exit);
        }
        if (sup->svc.ipc)
                bh_ipc_free(sup->svc.ipc);
        g_free(sup->svc.bus_address);
        g_free(sup->svc.run_dir);
        g_free(sup->svc.config_dir);
        g_free(sup->bus_address);
        g_free(sup);
}
