/* SPDX-License-Identifier: ISC */
/* ipc-bench: what a control message costs.
 *
 * Bus mode (the default) joins a running suite's bus and calls
 * org.bulkhead.Service1.Ping on one service (statd unless told otherwise):
 *
 *   bus-pingpong   bh_conn_call() through dbus-daemon, one call outstanding
 *   bus-pipelined  the same with DEPTH calls outstanding
 *   p2p-pingpong   bh_conn_call() on a bh_ipc_open_peer() connection
 *   p2p-pipelined  the same with DEPTH calls outstanding
 *   bus-blocking   dbus_connection_send_with_reply_and_block() in a loop on a
 *                  connection of its own, what a naive libdbus client gets
 *
 * The asynchronous modes run on the GLib main loop through the project's own
 * layer (ipc/ipc.c, ipc/mainloop.c), the code every service runs. Each mode
 * warms up, then makes RUNS runs of CALLS calls; a run's latencies are the
 * time from building the call to its reply callback, and its rate is CALLS
 * over the run's wall time. The figures printed are medians over the runs.
 *
 * Startup mode (--startup BULKHEADD) starts `bulkheadd --embedded` STARTS
 * times in fresh run directories and times the start to RUN_DIR/ready
 * (watched with inotify) and SIGTERM to the process's exit (a pidfd).
 *
 * Every clock is CLOCK_MONOTONIC; every wait has a deadline; an alarm bounds
 * the whole program. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"

#define BENCH_DEFAULT_CALLS 20000
#define BENCH_DEFAULT_RUNS 5
#define BENCH_DEFAULT_WARMUP 2000
#define BENCH_DEFAULT_DEPTH 64
#define BENCH_DEFAULT_STARTS 7
#define BENCH_DEFAULT_LIMIT_S 600
/* A single run, a peer connection being opened, one start or one stop. */
#define BENCH_RUN_TIMEOUT_MS 120000
#define BENCH_STEP_TIMEOUT_MS 15000
#define BENCH_MAX_RUNS 101

/* ---------------------------------------------------------------- time and statistics */

static uint64_t bench_now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

/* Nearest rank on a sorted array. */
static uint64_t pct_u64(const uint64_t *sorted, size_t n, double p) {
        return sorted[(size_t) (p * (double) (n - 1) + 0.5)];
}

/* Median of a few values (sorts them in place). */
static double median(double *v, size_t n) {
        qsort(v, n, sizeof *v, cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---------------------------------------------------------------- results */

typedef struct RunResult {
        double p10_us, p50_us, p90_us;
        double calls_per_s;
} RunResult;

typedef struct ModeResult {
        const char *name;
        bool done;
        unsigned depth;
        unsigned n_runs;
        RunResult runs[BENCH_MAX_RUNS];
        /* Medians over the runs. */
        double p10_us, p50_us, p90_us, calls_per_s;
        double cps_min, cps_max;
} ModeResult;

/* Median over the runs of one field of RunResult; with ret_min/ret_max. */
static double runs_median(const ModeResult *m, size_t offset, double *ret_min, double *ret_max) {
        double v[BENCH_MAX_RUNS];
        for (unsigned i = 0; i < m->n_runs; i++)
                memcpy(&v[i], (const char *) &m->runs[i] + offset, sizeof v[i]);
        double med = median(v, m->n_runs);
        if (ret_min)
                *ret_min = v[0];
        if (ret_max)
                *ret_max = v[m->n_runs - 1];
        return med;
}

static void mode_summarize(ModeResult *m) {
        m->p10_us = runs_median(m, offsetof(RunResult, p10_us), NULL, NULL);
        m->p50_us = runs_median(m, offsetof(RunResult, p50_us), NULL, NULL);
        m->p90_us = runs_median(m, offsetof(RunResult, p90_us), NULL, NULL);
        m->calls_per_s = runs_median(m, offsetof(RunResult, calls_per_s), &m->cps_min, &m->cps_max);
        m->done = true;
}

static void run_result_from(RunResult *r, uint64_t *lat_ns, size_t n, uint64_t elapsed_ns) {
        qsort(lat_ns, n, sizeof *lat_ns, cmp_u64);
        r->p10_us = (double) pct_u64(lat_ns, n, 0.10) / 1e3;
        r->p50_us = (double) pct_u64(lat_ns, n, 0.50) / 1e3;
        r->p90_us = (double) pct_u64(lat_ns, n, 0.90) / 1e3;
        r->calls_per_s = (double) n * 1e9 / (double) elapsed_ns;
}

/* ---------------------------------------------------------------- options */

enum { M_BUS_PP, M_BUS_PIPE, M_P2P_PP, M_P2P_PIPE, M_BUS_BLOCK, M_MAX };
static const char *const mode_names[M_MAX] = {
        [M_BUS_PP] = "bus-pingpong", [M_BUS_PIPE] = "bus-pipelined", [M_P2P_PP] = "p2p-pingpong",
        [M_P2P_PIPE] = "p2p-pipelined", [M_BUS_BLOCK] = "bus-blocking",
};

typedef struct Options {
        const char *bus;
        const char *service;
        unsigned calls, runs, warmup, depth;
        const char *startup;    /* path of bulkheadd: startup mode */
        const char *run_base;   /* where startup mode makes its run directories */
        unsigned starts;
        unsigned limit_s;
        bool quiet;
        bool want[M_MAX];       /* modes to measure */
} Options;

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: ipc-bench [--bus ADDRESS] [OPTION...]\n"
                "       ipc-bench --startup BULKHEADD [--run-base DIR] [--starts N]\n"
                "Measures D-Bus round trips to a running Bulkhead suite (through the bus daemon\n"
                "and peer to peer), or how long bulkheadd --embedded takes to start and stop.\n"
                "Prints a table, then one line of JSON.\n\n"
                "  --bus ADDRESS      the suite's bus (default: $BULKHEAD_BUS_ADDRESS, else the\n"
                "                     system bus)\n"
                "  --service NAME     service to ping (default: statd)\n"
                "  --calls N          calls per run (default: %d)\n"
                "  --runs N           runs per mode (default: %d, at most %d)\n"
                "  --warmup N         unmeasured calls before each mode (default: %d)\n"
                "  --depth N          calls outstanding in the pipelined modes (default: %d)\n"
                "  --modes LIST       comma-separated subset of bus-pingpong, bus-pipelined,\n"
                "                     p2p-pingpong, p2p-pipelined, bus-blocking (default: all)\n"
                "  --startup PATH     startup mode: start and stop bulkheadd at PATH\n"
                "  --run-base DIR     startup mode: parent of the run directories (default: a\n"
                "                     new directory under $TMPDIR, removed afterwards)\n"
                "  --starts N         startup mode: how many starts (default: %d)\n"
                "  --limit SECONDS    abort the whole program after this long (default: %d)\n"
                "  --quiet            print only the JSON line\n",
                BENCH_DEFAULT_CALLS, BENCH_DEFAULT_RUNS, BENCH_MAX_RUNS, BENCH_DEFAULT_WARMUP,
                BENCH_DEFAULT_DEPTH, BENCH_DEFAULT_STARTS, BENCH_DEFAULT_LIMIT_S);
        exit(code);
}

static unsigned parse_count(const char *opt, const char *v, unsigned min, unsigned max) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || end == v || n < min || n > max) {
                fprintf(stderr, "ipc-bench: %s needs a number from %u to %u\n", opt, min, max);
                exit(2);
        }
        return (unsigned) n;
}

static void parse_modes(Options *o, const char *list) {
        g_auto(GStrv) names = g_strsplit(list, ",", -1);
        for (int m = 0; m < M_MAX; m++)
                o->want[m] = false;
        for (char **n = names; *n; n++) {
                int m = 0;
                while (m < M_MAX && strcmp(*n, mode_names[m]) != 0)
                        m++;
                if (m == M_MAX) {
                        fprintf(stderr, "ipc-bench: unknown mode: %s\n", *n);
                        exit(2);
                }
                o->want[m] = true;
        }
}

static void parse_options(Options *o, int argc, char **argv) {
        *o = (Options){
                .service = "statd",
                .calls = BENCH_DEFAULT_CALLS,
                .runs = BENCH_DEFAULT_RUNS,
                .warmup = BENCH_DEFAULT_WARMUP,
                .depth = BENCH_DEFAULT_DEPTH,
                .starts = BENCH_DEFAULT_STARTS,
                .limit_s = BENCH_DEFAULT_LIMIT_S,
        };
        for (int m = 0; m < M_MAX; m++)
                o->want[m] = true;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
                        usage(0);
                if (strcmp(a, "--quiet") == 0) {
                        o->quiet = true;
                        continue;
                }
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                if (!v) {
                        fprintf(stderr, "ipc-bench: unknown option or missing value: %s\n", a);
                        usage(2);
                }
                i++;
                if (strcmp(a, "--bus") == 0)
                        o->bus = v;
                else if (strcmp(a, "--service") == 0)
                        o->service = v;
                else if (strcmp(a, "--calls") == 0)
                        o->calls = parse_count(a, v, 1, 10000000);
                else if (strcmp(a, "--runs") == 0)
                        o->runs = parse_count(a, v, 1, BENCH_MAX_RUNS);
                else if (strcmp(a, "--warmup") == 0)
                        o->warmup = parse_count(a, v, 0, 10000000);
                else if (strcmp(a, "--depth") == 0)
                        o->depth = parse_count(a, v, 1, 1024);
                else if (strcmp(a, "--modes") == 0)
                        parse_modes(o, v);
                else if (strcmp(a, "--startup") == 0)
                        o->startup = v;
                else if (strcmp(a, "--run-base") == 0)
                        o->run_base = v;
                else if (strcmp(a, "--starts") == 0)
                        o->starts = parse_count(a, v, 1, BENCH_MAX_RUNS);
                else if (strcmp(a, "--limit") == 0)
                        o->limit_s = parse_count(a, v, 1, 86400);
                else {
                        fprintf(stderr, "ipc-bench: unknown option: %s\n", a);
                        usage(2);
                }
        }
        if (!o->bus && getenv("BULKHEAD_BUS_ADDRESS") && *getenv("BULKHEAD_BUS_ADDRESS"))
                o->bus = getenv("BULKHEAD_BUS_ADDRESS");
}

/* ---------------------------------------------------------------- asynchronous runs (bh_conn_call) */

typedef struct Run Run;

/* One per call of a run: what the reply callback gets as userdata. */
typedef struct Slot {
        Run *run;
        uint64_t sent_ns;
} Slot;

struct Run {
        GMainLoop *loop;
        BhConn *conn;
        BhServiceId service;
        bool peer;
        size_t total, sent, done;
        Slot *slots;
        uint64_t *lat_ns;
        char *error;            /* set when a call failed or the run timed out */
};

static void run_send_one(Run *r);

static void run_fail(Run *r, char *error) {
        if (!r->error)
                r->error = error;
        else
                g_free(error);
        g_main_loop_quit(r->loop);
}

static void run_reply(DBusMessage *reply, const char *error_name, const char *error_message, void *userdata) {
        Slot *s = userdata;
        Run *r = s->run;
        uint64_t now = bench_now_ns();
        if (!reply) {
                run_fail(r, g_strdup_printf("Ping failed: %s: %s", error_name, error_message));
                return;
        }
        r->lat_ns[s - r->slots] = now - s->sent_ns;
        if (++r->done == r->total) {
                g_main_loop_quit(r->loop);
                return;
        }
        if (r->sent < r->total && !r->error)
                run_send_one(r);
}

static void run_send_one(Run *r) {
        Slot *s = &r->slots[r->sent++];
        s->run = r;
        s->sent_ns = bench_now_ns();
        DBusMessage *m = r->peer ? bh_method_new_peer(r->service, &bh_iface_service1, "Ping")
                                 : bh_method_new(r->service, &bh_iface_service1, "Ping");
        bh_conn_call(r->conn, m, BH_CALL_TIMEOUT_MS, run_reply, s);
        dbus_message_unref(m);
}

static gboolean run_timed_out(gpointer userdata) {
        Run *r = userdata;
        run_fail(r, g_strdup_printf("run timed out after %d ms (%zu of %zu replies)", BENCH_RUN_TIMEOUT_MS, r->done,
                                    r->total));
        return G_SOURCE_REMOVE;
}

/* Makes CALLS calls with DEPTH outstanding; fills ret (may be NULL for a
 * warm-up). A failure ends the program: calls may still be outstanding and
 * would come back to a run that no longer exists. */
static void run_async(GMainLoop *loop, BhConn *conn, BhServiceId service, bool peer, size_t calls, unsigned depth,
                      RunResult *ret) {
        if (calls == 0)
                return;
        Run r = {
                .loop = loop, .conn = conn, .service = service, .peer = peer, .total = calls,
                .slots = g_new0(Slot, calls), .lat_ns = g_new0(uint64_t, calls),
        };
        GSource *timer = g_timeout_source_new(BENCH_RUN_TIMEOUT_MS);
        g_source_set_callback(timer, run_timed_out, &r, NULL);
        g_source_attach(timer, g_main_loop_get_context(loop));
        uint64_t start = bench_now_ns();
        for (unsigned i = 0; i < depth && r.sent < r.total; i++)
                run_send_one(&r);
        g_main_loop_run(loop);
        uint64_t elapsed = bench_now_ns() - start;
        g_source_destroy(timer);
        g_source_unref(timer);
        if (r.error) {
                fprintf(stderr, "ipc-bench: %s over %s\n", r.error, peer ? "the peer connection" : "the bus");
                exit(1);
        }
        if (ret)
                run_result_from(ret, r.lat_ns, r.total, elapsed);
        g_free(r.slots);
        g_free(r.lat_ns);
}

static void measure_async(ModeResult *m, const Options *o, GMainLoop *loop, BhConn *conn, BhServiceId service,
                          bool peer, unsigned depth) {
        m->depth = depth;
        run_async(loop, conn, service, peer, o->warmup, depth, NULL);
        for (unsigned i = 0; i < o->runs; i++)
                run_async(loop, conn, service, peer, o->calls, depth, &m->runs[m->n_runs++]);
        mode_summarize(m);
}

/* ---------------------------------------------------------------- blocking runs (plain libdbus) */

static DBusConnection *blocking_connect(const char *address) {
        DBusError err;
        dbus_error_init(&err);
        DBusConnection *c = address ? dbus_connection_open_private(address, &err)
                                    : dbus_bus_get_private(DBUS_BUS_SYSTEM, &err);
        if (c && address && !dbus_bus_register(c, &err)) {
                dbus_connection_close(c);
                dbus_connection_unref(c);
                c = NULL;
        }
        if (!c) {
                fprintf(stderr, "ipc-bench: blocking connection: %s\n", err.message);
                dbus_error_free(&err);
                exit(1);
        }
        dbus_connection_set_exit_on_disconnect(c, FALSE);
        return c;
}

static void run_blocking(DBusConnection *c, BhServiceId service, size_t calls, RunResult *ret) {
        if (calls == 0)
                return;
        g_autofree uint64_t *lat = g_new0(uint64_t, calls);
        uint64_t start = bench_now_ns();
        for (size_t i = 0; i < calls; i++) {
                uint64_t t0 = bench_now_ns();
                DBusMessage *m = bh_method_new(service, &bh_iface_service1, "Ping");
                DBusError err;
                dbus_error_init(&err);
                DBusMessage *reply = dbus_connection_send_with_reply_and_block(c, m, BH_CALL_TIMEOUT_MS, &err);
                dbus_message_unref(m);
                if (!reply) {
                        fprintf(stderr, "ipc-bench: Ping failed (blocking): %s: %s\n", err.name, err.message);
                        exit(1);
                }
                dbus_message_unref(reply);
                lat[i] = bench_now_ns() - t0;
        }
        uint64_t elapsed = bench_now_ns() - start;
        if (ret)
                run_result_from(ret, lat, calls, elapsed);
}

static void measure_blocking(ModeResult *m, const Options *o, BhServiceId service) {
        m->depth = 1;
        DBusConnection *c = blocking_connect(o->bus);
        run_blocking(c, service, o->warmup, NULL);
        for (unsigned i = 0; i < o->runs; i++)
                run_blocking(c, service, o->calls, &m->runs[m->n_runs++]);
        dbus_connection_close(c);
        dbus_connection_unref(c);
        mode_summarize(m);
}

/* ---------------------------------------------------------------- the peer connection */

typedef struct PeerWait {
        GMainLoop *loop;
        bool finished;
        BhConn *conn;
        char *error;
} PeerWait;

static void peer_ready(BhConn *peer, const char *error, void *userdata) {
        PeerWait *w = userdata;
        w->finished = true;
        w->conn = peer;
        w->error = g_strdup(error);
        g_main_loop_quit(w->loop);
}

static gboolean peer_timed_out(gpointer userdata) {
        PeerWait *w = userdata;
        w->error = g_strdup_printf("no answer within %d ms", BENCH_STEP_TIMEOUT_MS);
        g_main_loop_quit(w->loop);
        return G_SOURCE_REMOVE;
}

/* NULL with *ret_error set when the service will not give us one. */
static BhConn *open_peer(BhIpc *ipc, GMainLoop *loop, BhServiceId service, uint64_t *ret_ns, char **ret_error) {
        PeerWait w = { .loop = loop };
        GSource *timer = g_timeout_source_new(BENCH_STEP_TIMEOUT_MS);
        g_source_set_callback(timer, peer_timed_out, &w, NULL);
        g_source_attach(timer, g_main_loop_get_context(loop));
        uint64_t t0 = bench_now_ns();
        bh_ipc_open_peer(ipc, service, peer_ready, &w);
        g_main_loop_run(loop);
        *ret_ns = bench_now_ns() - t0;
        g_source_destroy(timer);
        g_source_unref(timer);
        if (!w.finished) {
                /* The callback would still come, to a PeerWait that is gone. */
                fprintf(stderr, "ipc-bench: opening a peer connection: %s\n", w.error);
                exit(1);
        }
        *ret_error = w.error;
        return w.conn;
}

/* ---------------------------------------------------------------- output */

static void print_mode_row(const ModeResult *m) {
        if (!m->done)
                return;
        printf("%-14s %5u %9.1f %9.1f %9.1f %10.0f  %8.0f-%-8.0f\n", m->name, m->depth, m->p10_us, m->p50_us,
               m->p90_us, m->calls_per_s, m->cps_min, m->cps_max);
}

static void json_mode(GString *j, const ModeResult *m) {
        g_string_append_printf(j, "\"%s\":", m->name);
        if (!m->done) {
                g_string_append(j, "null");
                return;
        }
        g_string_append_printf(j,
                               "{\"depth\":%u,\"p10_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
                               "\"calls_per_s\":%.0f,\"calls_per_s_min\":%.0f,\"calls_per_s_max\":%.0f,\"runs\":[",
                               m->depth, m->p10_us, m->p50_us, m->p90_us, m->calls_per_s, m->cps_min, m->cps_max);
        for (unsigned i = 0; i < m->n_runs; i++)
                g_string_append_printf(j, "%s{\"p50_us\":%.1f,\"calls_per_s\":%.0f}", i ? "," : "",
                                       m->runs[i].p50_us, m->runs[i].calls_per_s);
        g_string_append(j, "]}");
}

static void json_string(GString *j, const char *s) {
        g_string_append_c(j, '"');
        for (; *s; s++) {
                if (*s == '"' || *s == '\\')
                        g_string_append_printf(j, "\\%c", *s);
                else if ((unsigned char) *s < 0x20)
                        g_string_append_printf(j, "\\u%04x", *s);
                else
                        g_string_append_c(j, *s);
        }
        g_string_append_c(j, '"');
}

/* ---------------------------------------------------------------- bus mode */

static int bench_bus(const Options *o) {
        const BhSuiteEntry *e = bh_suite_by_name(o->service);
        if (!e) {
                fprintf(stderr, "ipc-bench: no service named \"%s\"\n", o->service);
                return 2;
        }
        GMainLoop *loop = g_main_loop_new(NULL, FALSE);
        BhIpc *ipc = bh_ipc_new(NULL);
        g_autoptr(GError) error = NULL;
        if (bh_ipc_connect(ipc, o->bus, &error) < 0) {
                fprintf(stderr, "ipc-bench: cannot join the bus: %s\n", error->message);
                return 1;
        }
        if (!bh_ipc_owner(ipc, e->id)) {
                fprintf(stderr, "ipc-bench: %s (%s) is not on the bus %s\n", e->name, e->bus_name,
                        o->bus ? o->bus : "(system)");
                return 1;
        }

        static ModeResult modes[M_MAX];
        for (int m = 0; m < M_MAX; m++)
                modes[m].name = mode_names[m];
        if (o->want[M_BUS_PP])
                measure_async(&modes[M_BUS_PP], o, loop, bh_ipc_bus(ipc), e->id, false, 1);
        if (o->want[M_BUS_PIPE])
                measure_async(&modes[M_BUS_PIPE], o, loop, bh_ipc_bus(ipc), e->id, false, o->depth);

        uint64_t open_ns = 0;
        g_autofree char *peer_error = NULL;
        BhConn *peer = NULL;
        if (o->want[M_P2P_PP] || o->want[M_P2P_PIPE]) {
                peer = open_peer(ipc, loop, e->id, &open_ns, &peer_error);
                if (!peer)
                        fprintf(stderr, "ipc-bench: no peer connection to %s (%s); peer-to-peer figures skipped%s\n",
                                e->name, peer_error,
                                geteuid() != 0 ? " (OpenPeer needs root or the bulkhead group)" : "");
        }
        if (peer && o->want[M_P2P_PP])
                measure_async(&modes[M_P2P_PP], o, loop, peer, e->id, true, 1);
        if (peer && o->want[M_P2P_PIPE])
                measure_async(&modes[M_P2P_PIPE], o, loop, peer, e->id, true, o->depth);
        if (peer)
                bh_conn_close(peer);
        if (o->want[M_BUS_BLOCK])
                measure_blocking(&modes[M_BUS_BLOCK], o, e->id);

        /* p2p over bus: below 1 for latency, above 1 for the rate is p2p winning. */
        bool have_pp = modes[M_P2P_PP].done && modes[M_BUS_PP].done;
        bool have_pipe = modes[M_P2P_PIPE].done && modes[M_BUS_PIPE].done;
        double lat_ratio = have_pp ? modes[M_P2P_PP].p50_us / modes[M_BUS_PP].p50_us : 0;
        double pp_rate_ratio = have_pp ? modes[M_P2P_PP].calls_per_s / modes[M_BUS_PP].calls_per_s : 0;
        double pipe_rate_ratio = have_pipe ? modes[M_P2P_PIPE].calls_per_s / modes[M_BUS_PIPE].calls_per_s : 0;

        if (!o->quiet) {
                printf("Ping %s (%s.Ping at %s): %u runs of %u calls after %u warm-up calls, medians of the runs\n",
                       e->bus_name, bh_iface_service1.name, e->path, o->runs, o->calls, o->warmup);
                printf("%-14s %5s %9s %9s %9s %10s  %s\n", "mode", "depth", "p10 us", "p50 us", "p90 us", "calls/s",
                       "calls/s min-max");
                for (int i = 0; i < M_MAX; i++)
                        print_mode_row(&modes[i]);
                if (peer)
                        printf("peer connection opened in %.1f us (OpenPeer + connect + BindPeer)\n",
                               (double) open_ns / 1e3);
                if (have_pp)
                        printf("p2p/bus ping-pong: p50 latency %.2f, calls/s %.2f\n", lat_ratio, pp_rate_ratio);
                if (have_pipe)
                        printf("p2p/bus pipelined: calls/s %.2f\n", pipe_rate_ratio);
        }

        GString *j = g_string_new("{\"bench\":\"ipc\",\"service\":");
        json_string(j, e->name);
        g_string_append_printf(j, ",\"calls\":%u,\"runs\":%u,\"warmup\":%u,\"depth\":%u,\"modes\":{", o->calls,
                               o->runs, o->warmup, o->depth);
        for (int i = 0; i < M_MAX; i++) {
                if (i)
                        g_string_append_c(j, ',');
                json_mode(j, &modes[i]);
        }
        g_string_append(j, "}");
        if (peer)
                g_string_append_printf(j, ",\"peer_open_us\":%.1f", (double) open_ns / 1e3);
        if (peer_error) {
                g_string_append(j, ",\"p2p_error\":");
                json_string(j, peer_error);
        }
        g_string_append(j, ",\"p2p_over_bus\":{");
        if (have_pp)
                g_string_append_printf(j, "\"p50_latency\":%.3f,\"calls_per_s_pingpong\":%.3f", lat_ratio,
                                       pp_rate_ratio);
        if (have_pipe)
                g_string_append_printf(j, "%s\"calls_per_s_pipelined\":%.3f", have_pp ? "," : "", pipe_rate_ratio);
        g_string_append(j, "}");
        g_string_append(j, "}");
        printf("%s\n", j->str);
        g_string_free(j, TRUE);
        fflush(stdout);

        /* Let the closed peer connection be freed, then leave the bus. */
        while (g_main_context_iteration(NULL, FALSE))
                ;
        bh_ipc_free(ipc);
        g_main_loop_unref(loop);
        return 0;
}

/* ---------------------------------------------------------------- startup mode */

/* Startup mode holds TERM, INT, HUP and ALRM blocked except inside ppoll(),
 * so that a signal always interrupts a wait and the suite being measured is
 * stopped before we go (instead of being left to its PDEATHSIG). */
static volatile sig_atomic_t bench_stop_signal;
static sigset_t bench_wait_mask;

static void on_stop_signal(int sig) {
        bench_stop_signal = sig;
}

static void stop_signals_setup(void) {
        sigset_t block;
        sigemptyset(&block);
        int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGALRM };
        struct sigaction sa = { .sa_handler = on_stop_signal };
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++) {
                sigaction(sigs[i], &sa, NULL);
                sigaddset(&block, sigs[i]);
        }
        sigprocmask(SIG_BLOCK, &block, &bench_wait_mask);
        for (size_t i = 0; i < G_N_ELEMENTS(sigs); i++)
                sigdelset(&bench_wait_mask, sigs[i]);
}

static uint64_t deadline_in(int ms) {
        return bench_now_ns() + (uint64_t) ms * 1000000u;
}

/* ppoll() up to the deadline; -EINTR when a stop signal came. */
static int wait_fds(struct pollfd *p, nfds_t n, uint64_t deadline) {
        for (;;) {
                if (bench_stop_signal)
                        return -EINTR;
                uint64_t now = bench_now_ns();
                uint64_t left = now >= deadline ? 0 : deadline - now;
                struct timespec ts = { (time_t) (left / 1000000000u), (long) (left % 1000000000u) };
                int r = ppoll(p, n, &ts, &bench_wait_mask);
                if (r < 0 && errno == EINTR)
                        continue;
                return r < 0 ? -errno : r;
        }
}

/* Waits for the process behind pidfd to exit, up to the deadline, whatever
 * signal comes meanwhile. */
static bool wait_exit(int pidfd, pid_t pid, uint64_t deadline, int *ret_status) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        for (;;) {
                int r = wait_fds(&p, 1, deadline);
                if (r == -EINTR) {
                        /* Already stopping it: finish that, within the bound. */
                        int sig = bench_stop_signal;
                        bench_stop_signal = 0;
                        r = wait_fds(&p, 1, deadline);
                        bench_stop_signal = sig;
                }
                if (r == -EINTR)
                        continue;
                if (r <= 0)
                        return false;
                return waitpid(pid, ret_status, 0) == pid;
        }
}

/* SIGTERM, then SIGKILL if it does not go in time. */
static void stop_and_reap(int pidfd, pid_t pid) {
        int status;
        kill(pid, SIGTERM);
        if (wait_exit(pidfd, pid, deadline_in(BENCH_STEP_TIMEOUT_MS), &status))
                return;
        kill(pid, SIGKILL);
        wait_exit(pidfd, pid, deadline_in(BENCH_STEP_TIMEOUT_MS), &status);
}

/* Kills every process whose parent is us, but for the one given. */
static void kill_children_except(pid_t keep) {
        g_autoptr(GDir) d = g_dir_open("/proc", 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
                pid_t p = (pid_t) atoi(name);
                if (p <= 0 || p == keep)
                        continue;
                g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int) p);
                g_autofree char *stat = NULL;
                if (!g_file_get_contents(path, &stat, NULL, NULL))
                        continue;
                /* "pid (comm) state ppid ...": comm may hold anything but ')'. */
                const char *rp = strrchr(stat, ')');
                int ppid = 0;
                if (rp && sscanf(rp + 1, " %*c %d", &ppid) == 1 && ppid == (int) getpid())
                        kill(p, SIGKILL);
        }
}

/* After bulkheadd exited: whatever it left behind was reparented to us (a
 * subreaper). Kills and reaps it; returns how many there were. */
static unsigned reap_orphans(void) {
        unsigned n = 0;
        uint64_t deadline = deadline_in(BENCH_STEP_TIMEOUT_MS);
        for (;;) {
                int status;
                pid_t pid = waitpid(-1, &status, WNOHANG);
                if (pid > 0) {
                        n++;
                        continue;
                }
                if (pid < 0 || bench_now_ns() >= deadline)
                        break;  /* ECHILD: nothing left */
                kill_children_except(0);
                struct timespec ts = { 0, 10000000 };
                nanosleep(&ts, NULL);
        }
        return n;
}

typedef struct StartResult {
        double ready_ms;
        double stop_ms;
} StartResult;

/* Waits for RUN/ready (created or renamed into place) or the process's exit.
 * Returns the time ready appeared, 0 otherwise. */
static uint64_t wait_ready(int ino, int pidfd, uint64_t deadline, bool *ret_exited, bool *ret_interrupted) {
        for (;;) {
                struct pollfd p[2] = { { .fd = ino, .events = POLLIN }, { .fd = pidfd, .events = POLLIN } };
                int r = wait_fds(p, 2, deadline);
                if (r == -EINTR)
                        *ret_interrupted = true;
                if (r <= 0)
                        return 0;
                if (p[0].revents & POLLIN) {
                        uint64_t now = bench_now_ns();
                        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
                        ssize_t n = read(ino, buf, sizeof buf);
                        for (ssize_t off = 0; n > 0 && off < n;) {
                                const struct inotify_event *ev = (const struct inotify_event *) (buf + off);
                                if (ev->len && strcmp(ev->name, "ready") == 0)
                                        return now;
                                off += (ssize_t) (sizeof *ev + ev->len);
                        }
                }
                if (p[1].revents & POLLIN) {
                        *ret_exited = true;
                        return 0;
                }
        }
}

/* One start: fork and exec bulkheadd, wait for RUN/ready, SIGTERM, wait for
 * the exit. 0, or -1 after saying why (and with nothing left running). */
static int start_once(const char *bulkheadd, const char *run_dir, const char *log_path, StartResult *ret) {
        if (mkdir(run_dir, 0755) < 0 || chmod(run_dir, 0755) < 0) {
                fprintf(stderr, "ipc-bench: %s: %s\n", run_dir, strerror(errno));
                return -1;
        }
        int ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
        if (ino < 0 || inotify_add_watch(ino, run_dir, IN_CREATE | IN_MOVED_TO) < 0) {
                fprintf(stderr, "ipc-bench: inotify: %s\n", strerror(errno));
                if (ino >= 0)
                        close(ino);
                return -1;
        }
        int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
                fprintf(stderr, "ipc-bench: %s: %s\n", log_path, strerror(errno));
                close(ino);
                return -1;
        }
        pid_t parent = getpid();
        uint64_t t0 = bench_now_ns();
        pid_t pid = fork();
        if (pid == 0) {
                /* If the benchmark dies anyway, the suite stops (SIGTERM). */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (getppid() != parent)
                        _exit(127);
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_DFL);
                signal(SIGHUP, SIG_DFL);
                signal(SIGALRM, SIG_DFL);
                sigset_t none;
                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                dup2(log_fd, STDOUT_FILENO);
                dup2(log_fd, STDERR_FILENO);
                int null = open("/dev/null", O_RDONLY);
                if (null >= 0)
                        dup2(null, STDIN_FILENO);
                execl(bulkheadd, bulkheadd, "--embedded", "--run-dir", run_dir, (char *) NULL);
                _exit(127);
        }
        close(log_fd);
        if (pid < 0) {
                fprintf(stderr, "ipc-bench: fork: %s\n", strerror(errno));
                close(ino);
                return -1;
        }
        int pidfd = pidfd_open(pid, 0);
        if (pidfd < 0) {
                fprintf(stderr, "ipc-bench: pidfd_open: %s\n", strerror(errno));
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                close(ino);
                return -1;
        }

        bool exited = false, interrupted = false;
        uint64_t t_ready = wait_ready(ino, pidfd, t0 + (uint64_t) BENCH_STEP_TIMEOUT_MS * 1000000u, &exited,
                                      &interrupted);
        close(ino);
        if (!t_ready) {
                if (interrupted)
                        fprintf(stderr, "ipc-bench: interrupted by signal %d; stopping bulkheadd\n",
                                (int) bench_stop_signal);
                else
                        fprintf(stderr, "ipc-bench: bulkheadd %s (see %s)\n",
                                exited ? "exited before it was ready" : "was not ready in time", log_path);
                stop_and_reap(pidfd, pid);
                close(pidfd);
                reap_orphans();
                return -1;
        }

        uint64_t t_term = bench_now_ns();
        kill(pid, SIGTERM);
        int status = 0;
        bool ok = wait_exit(pidfd, pid, t_term + (uint64_t) BENCH_STEP_TIMEOUT_MS * 1000000u, &status);
        uint64_t t_exit = bench_now_ns();
        if (!ok) {
                fprintf(stderr, "ipc-bench: bulkheadd did not exit within %d ms of SIGTERM; killing it\n",
                        BENCH_STEP_TIMEOUT_MS);
                kill(pid, SIGKILL);
                wait_exit(pidfd, pid, deadline_in(BENCH_STEP_TIMEOUT_MS), &status);
                close(pidfd);
                reap_orphans();
                return -1;
        }
        close(pidfd);
        unsigned orphans = reap_orphans();
        if (orphans)
                fprintf(stderr, "ipc-bench: %u process(es) outlived bulkheadd\n", orphans);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "ipc-bench: bulkheadd ended with wait status 0x%x (see %s)\n", status, log_path);
                return -1;
        }
        g_autofree char *ready = g_build_filename(run_dir, "ready", NULL);
        if (access(ready, F_OK) == 0)
                fprintf(stderr, "ipc-bench: %s is still there after bulkheadd exited\n", ready);
        ret->ready_ms = (double) (t_ready - t0) / 1e6;
        ret->stop_ms = (double) (t_exit - t_term) / 1e6;
        return orphans ? -1 : 0;
}

static int rm_tree(const char *path) {
        /* Only what start_once made: run directories with a few plain files. */
        g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
        const char *name;
        while (d && (name = g_dir_read_name(d))) {
                g_autofree char *p = g_build_filename(path, name, NULL);
                if (g_file_test(p, G_FILE_TEST_IS_DIR) && !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
                        rm_tree(p);
                else
                        unlink(p);
        }
        return rmdir(path);
}

static int bench_startup(const Options *o) {
        if (access(o->startup, X_OK) < 0) {
                fprintf(stderr, "ipc-bench: %s: %s\n", o->startup, strerror(errno));
                return 2;
        }
        /* Services that bulkheadd fails to reap come to us, not to init. */
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        stop_signals_setup();
        g_autofree char *base = NULL;
        bool own_base = !o->run_base;
        if (own_base) {
                g_autoptr(GError) error = NULL;
                base = g_dir_make_tmp("ipc-bench-XXXXXX", &error);
                if (!base) {
                        fprintf(stderr, "ipc-bench: %s\n", error->message);
                        return 1;
                }
                /* As root the services run as their own users: they must
                 * reach the bus socket below. */
                chmod(base, 0755);
        } else {
                base = g_strdup(o->run_base);
        }
        g_autofree char *log_path = g_build_filename(base, "bulkheadd.log", NULL);
        StartResult res[BENCH_MAX_RUNS];
        unsigned n = 0;
        int rc = 0;
        for (unsigned i = 0; i < o->starts && !bench_stop_signal; i++) {
                g_autofree char *dir = g_strdup_printf("%s/run-%u", base, i);
                if (start_once(o->startup, dir, log_path, &res[n]) < 0) {
                        rc = 1;
                        break;
                }
                n++;
        }
        if (bench_stop_signal) {
                fprintf(stderr, "ipc-bench: interrupted by signal %d\n", (int) bench_stop_signal);
                rc = 1;
        }
        if (rc == 0) {
                double ready[BENCH_MAX_RUNS], stop[BENCH_MAX_RUNS];
                for (unsigned i = 0; i < n; i++) {
                        ready[i] = res[i].ready_ms;
                        stop[i] = res[i].stop_ms;
                }
                double ready_med = median(ready, n), stop_med = median(stop, n);
                if (!o->quiet) {
                        printf("bulkheadd --embedded: %u starts, each to RUN/ready then SIGTERM to exit\n", n);
                        printf("%-18s %9s %9s %9s\n", "", "median ms", "min ms", "max ms");
                        printf("%-18s %9.1f %9.1f %9.1f\n", "start to ready", ready_med, ready[0], ready[n - 1]);
                        printf("%-18s %9.1f %9.1f %9.1f\n", "SIGTERM to exit", stop_med, stop[0], stop[n - 1]);
                }
                GString *j = g_string_new("{\"bench\":\"startup\",\"starts\":");
                g_string_append_printf(j,
                                       "%u,\"ready_ms\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f},"
                                       "\"stop_ms\":{\"median\":%.1f,\"min\":%.1f,\"max\":%.1f},\"runs\":[",
                                       n, ready_med, ready[0], ready[n - 1], stop_med, stop[0], stop[n - 1]);
                for (unsigned i = 0; i < n; i++)
                        g_string_append_printf(j, "%s{\"ready_ms\":%.1f,\"stop_ms\":%.1f}", i ? "," : "",
                                               res[i].ready_ms, res[i].stop_ms);
                g_string_append(j, "]}");
                printf("%s\n", j->str);
                g_string_free(j, TRUE);
        }
        if (own_base) {
                if (rc == 0)
                        rm_tree(base);
                else
                        fprintf(stderr, "ipc-bench: kept %s for inspection\n", base);
        }
        return rc;
}

int main(int argc, char **argv) {
        Options o;
        parse_options(&o, argc, argv);
        /* The hard bound: whatever hangs, the program ends (SIGALRM's default
         * action), and a suite started in startup mode follows (PDEATHSIG). */
        alarm(o.limit_s);
        return o.startup ? bench_startup(&o) : bench_bus(&o);
}
