/* SPDX-License-Identifier: ISC */
/* log-burst: 100 000 log lines sent in one burst against a running suite.
 *
 *   log-burst --bus ADDRESS [--lines N]
 *
 * What an operator would check when a service suddenly logs a flood:
 *   - the logging service never blocks: every bh_log_*() call returns at
 *     once, the whole burst takes well under a second or two;
 *   - nothing is lost silently: every line is either delivered to logd or
 *     counted as dropped, and logd's LinesDropped says how many;
 *   - logd's memory stays bounded;
 *   - every service of the suite keeps answering Ping within a second,
 *     during the burst and right after it.
 *
 * The lines go through exactly the path the services use (bh_log_attach()
 * on a BhIpc bus connection); as root this process is "admin", which may
 * call Logger1.Log. A child process pings every service over a connection of
 * its own, so that the burst (which never returns to the main loop) does not
 * delay the pings. Exits 0 when every check passed, 1 otherwise, 2 on a
 * usage error or when the whole run exceeds its time budget. */
#include <dbus/dbus.h>
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"

#define LINES_DEFAULT 100000
/* Bounds asserted; see the file comment. */
#define CALL_MAX_NS (5 * 1000 * 1000ull)        /* one bh_log_*() call */
#define BURST_MAX_NS (2000 * 1000 * 1000ull)    /* the whole burst */
#define PING_MAX_MS 1000                        /* each service's Ping */
#define RSS_MAX_KIB (64 * 1024)                 /* logd's resident memory, at any sample */
#define RSS_GROWTH_MAX_KIB (32 * 1024)          /* logd's growth, before to after */
/* Time budgets: the run can never hang. */
#define DRAIN_MS 20000
#define BARRIER_MS 20000
#define WATCHDOG_S 120

#define LOGGER_IFACE "org.bulkhead.Logger1"
#define SERVICE_IFACE "org.bulkhead.Service1"
#define PROPERTIES_IFACE "org.freedesktop.DBus.Properties"

static int failures;

static void G_GNUC_PRINTF(1, 2) fail(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fflush(stdout);
        fputs("log-burst: FAIL: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        failures++;
}

static G_NORETURN void G_GNUC_PRINTF(1, 2) die(const char *format, ...) {
        va_list ap;
        va_start(ap, format);
        fflush(stdout);
        fputs("log-burst: FAIL: ", stderr);
        vfprintf(stderr, format, ap);
        fputc('\n', stderr);
        va_end(ap);
        exit(1);
}

static void watchdog(int sig) {
        static const char msg[] = "log-burst: FAIL: did not finish within the time budget; giving up\n";
        (void) !write(STDERR_FILENO, msg, sizeof msg - 1);
        _exit(2);
}

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

static double ms(uint64_t ns) {
        return (double) ns / 1e6;
}

/* ------------------------------------------------------------ /proc */

/* A "Name:   1234 kB" field of /proc/PID/status, in KiB; -1 when unreadable. */
static long proc_status_kib(pid_t pid, const char *field) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return -1;
        char line[256];
        long v = -1;
        size_t flen = strlen(field);
        while (fgets(line, sizeof line, f)) {
                if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
                        v = strtol(line + flen + 1, NULL, 10);
                        break;
                }
        }
        fclose(f);
        return v;
}

/* True when the process runs under AddressSanitizer: its quarantine keeps
 * freed memory resident, so its RSS says nothing about leaks or bounds. */
static bool process_has_asan(pid_t pid) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/maps", (int) pid);
        g_autofree char *maps = NULL;
        if (!g_file_get_contents(path, &maps, NULL, NULL))
                return false;
        return strstr(maps, "libasan") || strstr(maps, "clang_rt.asan");
}

/* ------------------------------------------------------------ calls on the main loop */

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

/* Runs the main loop until done(data) or timeout_ms; returns done(data). */
static bool run_until(bool (*done)(void *), void *data, int timeout_ms) {
        guint t = g_timeout_add(10, tick, NULL);
        uint64_t deadline = now_ns() + (uint64_t) timeout_ms * 1000000ull;
        while (!done(data) && now_ns() < deadline)
                g_main_context_iteration(NULL, TRUE);
        g_source_remove(t);
        return done(data);
}

static bool reply_done(void *data) {
        return ((Reply *) data)->done;
}

/* Sends msg and waits for its answer; the call's own timeout guarantees an
 * answer (NoReply at worst), the extra second is slack for the loop. */
static void call_sync(BhIpc *ipc, DBusMessage *msg, int timeout_ms, Reply *r) {
        *r = (Reply){ 0 };
        bh_conn_call(bh_ipc_bus(ipc), msg, timeout_ms, on_reply, r);
        if (!run_until(reply_done, r, timeout_ms + 1000))
                die("%s.%s: no answer, not even a timeout, after %d ms", dbus_message_get_interface(msg),
                    dbus_message_get_member(msg), timeout_ms + 1000);
}

/* Reads a property of type 'u' or 't' of a suite service. */
static bool get_number(BhIpc *ipc, BhServiceId id, const char *iface, const char *name, uint64_t *ret) {
        DBusMessage *m =
                dbus_message_new_method_call(bh_suite[id].bus_name, bh_suite[id].path, PROPERTIES_IFACE, "Get");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID);
        Reply r;
        call_sync(ipc, m, 5000, &r);
        dbus_message_unref(m);
        bool ok = false;
        if (!r.msg) {
                fail("%s: Get %s.%s: %s: %s", bh_suite[id].name, iface, name, r.error_name, r.error_message);
        } else {
                DBusMessageIter it, var;
                dbus_message_iter_init(r.msg, &it);
                if (dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_VARIANT) {
                        dbus_message_iter_recurse(&it, &var);
                        int t = dbus_message_iter_get_arg_type(&var);
                        if (t == DBUS_TYPE_UINT64) {
                                dbus_uint64_t v;
                                dbus_message_iter_get_basic(&var, &v);
                                *ret = v;
                                ok = true;
                        } else if (t == DBUS_TYPE_UINT32) {
                                dbus_uint32_t v;
                                dbus_message_iter_get_basic(&var, &v);
                                *ret = v;
                                ok = true;
                        }
                }
                if (!ok)
                        fail("%s: Get %s.%s: unexpected reply signature '%s'", bh_suite[id].name, iface, name,
                             dbus_message_get_signature(r.msg));
        }
        reply_clear(&r);
        return ok;
}

/* ------------------------------------------------------------ the pinger process */

/* The pinger is a child process, not a thread: the burst then runs alone in
 * its process, so that any voluntary context switch during it can only mean
 * that a log call waited (on a socket, a lock, anything), never that it
 * contended with the pinger for a lock inside libdbus. The two share one
 * anonymous mapping. */

enum { PHASE_BEFORE, PHASE_BURST, PHASE_DRAIN, PHASE_AFTER, N_PHASES };
static const char *const phase_names[N_PHASES] = { "before", "burst", "drain", "after" };

typedef struct PingStats {
        unsigned n[N_PHASES];
        uint64_t max_ns[N_PHASES];
        unsigned failed;
        char first_error[256];
} PingStats;

typedef struct Shared {
        /* Written by the parent. */
        gint logd_pid;          /* atomic; 0: not known yet */
        gint phase;             /* atomic */
        gint stop;              /* atomic */
        /* Written by the pinger. */
        gint setup_done;        /* atomic */
        gint rounds[N_PHASES];  /* atomic: complete rounds, by the phase they started in */
        char setup_error[256];
        PingStats stats[_BH_SERVICE_MAX];
        gint rss_peak_kib;      /* atomic: logd's largest VmRSS sampled */
        gint rss_samples;       /* atomic */
} Shared;

static Shared *P;

static void ping_one(DBusConnection *c, BhServiceId id, int phase) {
        PingStats *s = &P->stats[id];
        DBusMessage *m = dbus_message_new_method_call(bh_suite[id].bus_name, bh_suite[id].path, SERVICE_IFACE, "Ping");
        DBusError err;
        dbus_error_init(&err);
        uint64_t t0 = now_ns();
        DBusMessage *r = dbus_connection_send_with_reply_and_block(c, m, PING_MAX_MS, &err);
        uint64_t dt = now_ns() - t0;
        dbus_message_unref(m);
        s->n[phase]++;
        if (dt > s->max_ns[phase])
                s->max_ns[phase] = dt;
        if (!r || dt > PING_MAX_MS * 1000000ull) {
                if (!s->failed++)
                        snprintf(s->first_error, sizeof s->first_error, "in the %s phase after %.1f ms: %s",
                                 phase_names[phase], ms(dt), r ? "answered too late" : err.message);
        }
        if (r)
                dbus_message_unref(r);
        dbus_error_free(&err);
}

static G_NORETURN void pinger_main(const char *address, pid_t parent) {
        /* Never outlive the test, whatever happens to it. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
                _exit(0);
        signal(SIGALRM, SIG_DFL);
        alarm(WATCHDOG_S + 30);
        DBusError err;
        dbus_error_init(&err);
        DBusConnection *c = dbus_connection_open_private(address, &err);
        if (c && !dbus_bus_register(c, &err)) {
                dbus_connection_close(c);
                dbus_connection_unref(c);
                c = NULL;
        }
        if (!c) {
                snprintf(P->setup_error, sizeof P->setup_error, "pinger: %s", err.message);
                g_atomic_int_set(&P->setup_done, 1);
                _exit(1);
        }
        dbus_connection_set_exit_on_disconnect(c, FALSE);
        g_atomic_int_set(&P->setup_done, 1);
        while (!g_atomic_int_get(&P->stop)) {
                int phase = g_atomic_int_get(&P->phase);
                for (int i = 0; i < _BH_SERVICE_MAX; i++)
                        ping_one(c, (BhServiceId) i, phase);
                pid_t logd = (pid_t) g_atomic_int_get(&P->logd_pid);
                long rss = logd > 0 ? proc_status_kib(logd, "VmRSS") : -1;
                if (rss > g_atomic_int_get(&P->rss_peak_kib))
                        g_atomic_int_set(&P->rss_peak_kib, (gint) rss);
                if (rss >= 0)
                        g_atomic_int_inc(&P->rss_samples);
                g_atomic_int_inc(&P->rounds[phase]);
                g_usleep(5000);
        }
        dbus_connection_close(c);
        dbus_connection_unref(c);
        _exit(0);
}

static pid_t pinger_start(const char *address) {
        P = mmap(NULL, sizeof *P, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (P == MAP_FAILED)
                die("mmap: %s", g_strerror(errno));
        memset(P, 0, sizeof *P);
        fflush(stdout);
        fflush(stderr);
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0)
                die("fork: %s", g_strerror(errno));
        if (pid == 0)
                pinger_main(address, parent);
        return pid;
}

/* Stops the pinger and reaps it; false when it had to be killed. */
static bool pinger_stop(pid_t pid) {
        g_atomic_int_set(&P->stop, 1);
        int status;
        for (int i = 0; i < 500; i++) {
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
                g_usleep(10000);
        }
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return false;
}

static bool wait_rounds(int phase, int n, int timeout_ms) {
        uint64_t deadline = now_ns() + (uint64_t) timeout_ms * 1000000ull;
        while (g_atomic_int_get(&P->rounds[phase]) < n && now_ns() < deadline)
                g_usleep(2000);
        return g_atomic_int_get(&P->rounds[phase]) >= n;
}

/* ------------------------------------------------------------ main */

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static bool ring_empty(void *data) {
        return bh_log_pending() == 0;
}

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: log-burst --bus ADDRESS [--lines N]\n"
                "Sends N (default %d) log lines in one burst through the services' logging path and\n"
                "checks that no call blocks, that every line is delivered or counted as dropped,\n"
                "that logd's memory stays bounded and that every service answers Ping meanwhile.\n",
                LINES_DEFAULT);
        exit(code);
}

int main(int argc, char **argv) {
        const char *address = getenv("BULKHEAD_BUS_ADDRESS");
        unsigned n_lines = LINES_DEFAULT;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--help") == 0)
                        usage(0);
                if (i + 1 >= argc)
                        usage(2);
                if (strcmp(argv[i], "--bus") == 0)
                        address = argv[++i];
                else if (strcmp(argv[i], "--lines") == 0) {
                        char *end;
                        unsigned long v = strtoul(argv[++i], &end, 10);
                        if (*end || v == 0 || v > 10000000)
                                usage(2);
                        n_lines = (unsigned) v;
                } else
                        usage(2);
        }
        if (!address || !*address)
                usage(2);
        signal(SIGALRM, watchdog);
        alarm(WATCHDOG_S);
        /* Before anything else touches libdbus: the child starts clean. */
        pid_t pinger = pinger_start(address);

        BhIpc *ipc = bh_ipc_new(NULL);
        g_autoptr(GError) error = NULL;
        if (bh_ipc_connect(ipc, address, &error) < 0)
                die("cannot join the bus: %s", error->message);
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                if (!bh_ipc_owner(ipc, (BhServiceId) i))
                        die("%s (%s) is not on the bus: is the suite ready?", bh_suite[i].name, bh_suite[i].bus_name);
        bh_log_init("log-burst", BH_LOG_INFORMATION);
        bh_log_attach(ipc);

        /* ---- before */
        uint64_t logd_pid = 0, recv0 = 0, drop0 = 0, recv1 = 0, drop1 = 0, logd_pid_after = 0;
        uint64_t svc_drop0[_BH_SERVICE_MAX] = { 0 }, svc_drop1[_BH_SERVICE_MAX] = { 0 };
        if (!get_number(ipc, BH_SERVICE_LOGD, SERVICE_IFACE, "Pid", &logd_pid) || logd_pid == 0)
                die("cannot read logd's pid");
        if (!get_number(ipc, BH_SERVICE_LOGD, LOGGER_IFACE, "LinesReceived", &recv0) ||
            !get_number(ipc, BH_SERVICE_LOGD, LOGGER_IFACE, "LinesDropped", &drop0))
                die("cannot read logd's counters");
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                get_number(ipc, (BhServiceId) i, SERVICE_IFACE, "LogDropped", &svc_drop0[i]);
        long rss0 = proc_status_kib((pid_t) logd_pid, "VmRSS");
        if (rss0 < 0)
                die("cannot read /proc/%" PRIu64 "/status (logd): %s", logd_pid, g_strerror(errno));

        g_atomic_int_set(&P->logd_pid, (gint) logd_pid);
        for (int i = 0; i < 5000 && !g_atomic_int_get(&P->setup_done); i++)
                g_usleep(1000);
        if (!g_atomic_int_get(&P->setup_done))
                die("the pinger did not connect to the bus within 5 s");
        if (P->setup_error[0])
                die("%s", P->setup_error);
        if (!wait_rounds(PHASE_BEFORE, 1, 5000))
                fail("the pinger did not complete a round of pings before the burst");

        /* ---- the burst: never back to the main loop in between */
        uint64_t *call_ns = g_new(uint64_t, n_lines);
        static const char filler[] = "SA 0x1f2e3d4c: inbound seq 4242, window 64, rekey in 3600 s";
        bh_log_level = BH_LOG_INFORMATION;
        g_atomic_int_set(&P->phase, PHASE_BURST);
        struct rusage ru0, ru1;
        getrusage(RUSAGE_THREAD, &ru0);
        uint64_t burst0 = now_ns();
        for (unsigned i = 0; i < n_lines; i++) {
                uint64_t t0 = now_ns();
                if (i % 10 == 9)
                        bh_log_event("burst line %u of %u (event): %s", i + 1, n_lines, filler);
                else
                        bh_log_info("burst line %u of %u: %s", i + 1, n_lines, filler);
                call_ns[i] = now_ns() - t0;
        }
        uint64_t burst_ns = now_ns() - burst0;
        getrusage(RUSAGE_THREAD, &ru1);
        uint64_t dropped_burst = bh_log_dropped();
        unsigned pending_burst = bh_log_pending();
        g_atomic_int_set(&P->phase, PHASE_DRAIN);

        /* ---- drain: the main loop hands the ring to the bus */
        uint64_t drain0 = now_ns();
        if (!run_until(ring_empty, NULL, DRAIN_MS))
                fail("%u lines still in the ring %d ms after the burst", bh_log_pending(), DRAIN_MS);
        uint64_t drain_ns = now_ns() - drain0;

        /* logd learns a sender's drop total from its next batch: one more line. */
        uint64_t dropped = bh_log_dropped();
        bh_log_event("log-burst: burst done, %" PRIu64 " of %u lines dropped", dropped, n_lines);
        if (!run_until(ring_empty, NULL, DRAIN_MS))
                fail("the final line is still in the ring after %d ms", DRAIN_MS);
        if (bh_log_dropped() != dropped)
                fail("the final line was dropped although the ring was empty");
        dropped = bh_log_dropped();
        uint64_t sent = (uint64_t) n_lines + 1 - dropped;

        /* Barrier: logd handles a sender's messages in order, so once it has
         * answered this Ping it has handled every batch sent before it. */
        uint64_t barrier0 = now_ns();
        DBusMessage *m = bh_method_new(BH_SERVICE_LOGD, &bh_iface_service1, "Ping");
        Reply r;
        call_sync(ipc, m, BARRIER_MS, &r);
        dbus_message_unref(m);
        uint64_t barrier_ns = now_ns() - barrier0;
        if (!r.msg)
                fail("logd did not answer the Ping sent after the last batch within %d ms: %s: %s", BARRIER_MS,
                     r.error_name, r.error_message);
        reply_clear(&r);

        get_number(ipc, BH_SERVICE_LOGD, SERVICE_IFACE, "Pid", &logd_pid_after);
        get_number(ipc, BH_SERVICE_LOGD, LOGGER_IFACE, "LinesReceived", &recv1);
        get_number(ipc, BH_SERVICE_LOGD, LOGGER_IFACE, "LinesDropped", &drop1);
        uint64_t others_dropped = 0;
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                get_number(ipc, (BhServiceId) i, SERVICE_IFACE, "LogDropped", &svc_drop1[i]);
                if (svc_drop1[i] > svc_drop0[i])
                        others_dropped += svc_drop1[i] - svc_drop0[i];
        }
        long rss1 = proc_status_kib((pid_t) logd_pid, "VmRSS");
        long hwm1 = proc_status_kib((pid_t) logd_pid, "VmHWM");
        bool logd_asan = process_has_asan((pid_t) logd_pid);

        /* ---- right after: every service still answers */
        g_atomic_int_set(&P->phase, PHASE_AFTER);
        if (!wait_rounds(PHASE_AFTER, 2, 10000))
                fail("the pinger did not complete two rounds of pings after the burst");
        if (!pinger_stop(pinger))
                fail("the pinger did not end cleanly");
        long rss_peak = MAX(MAX(rss0, rss1), (long) g_atomic_int_get(&P->rss_peak_kib));

        /* ---- report */
        qsort(call_ns, n_lines, sizeof *call_ns, cmp_u64);
        uint64_t call_max = call_ns[n_lines - 1], call_med = call_ns[n_lines / 2];
        uint64_t call_p999 = call_ns[(size_t) ((double) n_lines * 0.999)];
        unsigned over_1ms = 0;
        for (unsigned i = 0; i < n_lines; i++)
                over_1ms += call_ns[i] > 1000000ull;
        g_free(call_ns);
        uint64_t d_recv = recv1 - recv0, d_drop = drop1 - drop0;

        printf("log-burst: lines sent in the burst: %u (+1 final line)\n", n_lines);
        printf("log-burst: dropped by the sender: %" PRIu64 " (%" PRIu64 " during the burst, %u left in the ring"
               " when it ended)\n",
               dropped, dropped_burst, pending_burst);
        printf("log-burst: handed to the bus (not dropped): %" PRIu64 "\n", sent);
        printf("log-burst: logd LinesReceived +%" PRIu64 " (%s %" PRIu64 " from other senders), LinesDropped +%" PRIu64
               " (other services' LogDropped +%" PRIu64 ")\n",
               d_recv, d_recv >= sent ? "of which" : "short by", d_recv >= sent ? d_recv - sent : sent - d_recv,
               d_drop, others_dropped);
        printf("log-burst: call time: median %.4f ms, p99.9 %.4f ms, max %.3f ms, %u calls over 1 ms\n", ms(call_med),
               ms(call_p999), ms(call_max), over_1ms);
        printf("log-burst: burst %.1f ms (%.0f lines/s), context switches during it: %ld voluntary, %ld"
               " involuntary\n",
               ms(burst_ns), (double) n_lines / ((double) burst_ns / 1e9), ru1.ru_nvcsw - ru0.ru_nvcsw,
               ru1.ru_nivcsw - ru0.ru_nivcsw);
        printf("log-burst: ring drained in %.1f ms, logd caught up %.1f ms later\n", ms(drain_ns), ms(barrier_ns));
        printf("log-burst: logd pid %" PRIu64 ", VmRSS before %ld KiB, after %ld KiB, peak sampled %ld KiB"
               " (%d samples), VmHWM %ld KiB\n",
               logd_pid, rss0, rss1, rss_peak, g_atomic_int_get(&P->rss_samples), hwm1);
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                PingStats *s = &P->stats[i];
                printf("log-burst: ping %-10s", bh_suite[i].name);
                for (int ph = 0; ph < N_PHASES; ph++)
                        printf(" %s %ux max %.2f ms%s", phase_names[ph], s->n[ph], ms(s->max_ns[ph]),
                               ph + 1 < N_PHASES ? "," : "");
                printf("\n");
        }

        /* ---- checks */
        /* A call that waited for anything (a socket, a lock, a timeout) makes
         * the thread give up the CPU: a voluntary context switch. A call that
         * was only preempted on a busy machine makes none, and is not one
         * that blocked. */
        long voluntary = ru1.ru_nvcsw - ru0.ru_nvcsw;
        if (call_max >= CALL_MAX_NS && voluntary > 0)
                fail("a single log call took %.3f ms (bound %.1f ms) and the burst waited %ld times (voluntary"
                     " context switches): the caller blocked",
                     ms(call_max), ms(CALL_MAX_NS), voluntary);
        else if (call_max >= CALL_MAX_NS)
                printf("log-burst: note: the slowest call took %.3f ms, over the %.1f ms bound, but the burst never"
                       " waited (no voluntary context switch): it was preempted, it did not block\n",
                       ms(call_max), ms(CALL_MAX_NS));
        if (burst_ns >= BURST_MAX_NS)
                fail("the burst of %u lines took %.1f ms (bound %.0f ms)", n_lines, ms(burst_ns), ms(BURST_MAX_NS));
        if (logd_pid_after != logd_pid)
                fail("logd's pid changed from %" PRIu64 " to %" PRIu64 ": it died during the burst", logd_pid,
                     logd_pid_after);
        if (d_recv < sent)
                fail("logd received %" PRIu64 " lines but %" PRIu64 " were sent (and %" PRIu64
                     " counted as dropped): %" PRIu64 " lines lost without being counted",
                     d_recv, sent, dropped, sent - d_recv);
        if (d_drop != dropped + others_dropped)
                fail("logd's LinesDropped grew by %" PRIu64 " but the senders dropped %" PRIu64 " (this one %" PRIu64
                     ", the services %" PRIu64 ")",
                     d_drop, dropped + others_dropped, dropped, others_dropped);
        if (rss1 < 0)
                fail("cannot read logd's VmRSS after the burst");
        if (logd_asan)
                printf("log-burst: note: logd runs under AddressSanitizer, whose quarantine keeps freed memory"
                       " resident: its memory bounds are not checked\n");
        else if (rss_peak >= RSS_MAX_KIB)
                fail("logd's VmRSS reached %ld KiB (bound %d KiB)", rss_peak, RSS_MAX_KIB);
        if (!logd_asan && rss1 >= 0 && rss1 - rss0 >= RSS_GROWTH_MAX_KIB)
                fail("logd's VmRSS grew by %ld KiB (bound %d KiB)", rss1 - rss0, RSS_GROWTH_MAX_KIB);
        if (g_atomic_int_get(&P->rounds[PHASE_BURST]) + g_atomic_int_get(&P->rounds[PHASE_DRAIN]) < 1)
                fail("no round of pings ran while the burst was being sent or drained");
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                if (P->stats[i].failed)
                        fail("%s did not answer %u of its pings within %d ms; first: %s", bh_suite[i].name,
                             P->stats[i].failed, PING_MAX_MS, P->stats[i].first_error);

        bh_log_detach();
        bh_ipc_free(ipc);
        if (failures) {
                fprintf(stderr, "log-burst: %d check(s) failed\n", failures);
                return 1;
        }
        printf("log-burst: OK\n");
        return 0;
}
