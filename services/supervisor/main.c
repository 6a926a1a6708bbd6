/* SPDX-License-Identifier: ISC */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buspolicy.h"
#include "config.h"
#include "supervisor.h"

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: bulkheadd [--embedded] [OPTION...]\n"
                "Starts and supervises the Bulkhead IPsec suite: logd, statd, cryptod, filterd,\n"
                "isakmpd and tmd, each its own process, talking over D-Bus.\n\n"
                "  --embedded          start a private dbus-daemon for the suite (no system bus,\n"
                "                      no installation needed); its address goes to RUN_DIR/bus\n"
                "  --run-dir DIR       run-time directory (default: /run/bulkhead)\n"
                "  --config-dir DIR    configuration directory (default: %s)\n"
                "  --libexec-dir DIR   where the service programs are (default: next to\n"
                "                      bulkheadd if they are there, else %s)\n"
                "  --bus ADDRESS       without --embedded: a bus other than the system bus\n"
                "  --tun-name NAME     the data path's TUN device (default: bulkhead0)\n"
                "  --dp-workers N      filterd's workers, each with a queue of the TUN device\n"
                "                      and a UDP 4500 socket (1 to 4; default: one per CPU)\n"
                "  --log-level LEVEL   initial level of every service: none, errors, events,\n"
                "                      information or debug (default: events)\n"
                "  --no-spawn          systemd starts the services (bulkhead-*.service): only\n"
                "                      open the privileged descriptors and hand them out\n"
                "                      (TakeResources), and follow the services' bus names\n"
                "  --print-bus-policy  print the system bus policy (system.d/org.bulkhead.conf)\n"
                "                      made from the process table and the interface XML\n"
                "  --help, --version\n\n"
                "When every service owns its bus name, RUN_DIR/ready is written and\n"
                "\"bulkheadd: ready: N services on ADDRESS\" is printed; if start-up ends with\n"
                "services left failed, \"bulkheadd: not ready: failed: ...\" instead.\n"
                "SIGTERM, SIGINT or SIGHUP stops the suite (logd last).\n"
                "See bulkheadd(8).\n",
                BULKHEAD_SYSCONFDIR, BULKHEAD_LIBEXECDIR);
        exit(code);
}

int main(int argc, char **argv) {
        SupervisorOptions opt = { .service_level = BH_LOG_EVENTS };
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
                        usage(0);
                if (strcmp(a, "--version") == 0) {
                        printf("bulkheadd %s\n", BULKHEAD_VERSION);
                        return 0;
                }
                if (strcmp(a, "--print-bus-policy") == 0) {
                        /* For the system bus: install as system.d/org.bulkhead.conf. */
                        g_autofree char *policy = bh_bus_policy(BH_BUS_POLICY_SYSTEM, NULL);
                        fputs(policy, stdout);
                        return 0;
                }
                if (strcmp(a, "--no-spawn") == 0) {
                        opt.no_spawn = true;
                        continue;
                }
                if (strcmp(a, "--embedded") == 0) {
                        opt.embedded = true;
                        continue;
                }
                const char *v = i + 1 < argc ? argv[i + 1] : NULL;
                char **slot = NULL;
                if (strcmp(a, "--run-dir") == 0)
                        slot = &opt.run_dir;
                else if (strcmp(a, "--config-dir") == 0)
                        slot = &opt.config_dir;
                else if (strcmp(a, "--libexec-dir") == 0)
                        slot = &opt.libexec_dir;
                else if (strcmp(a, "--bus") == 0)
                        slot = &opt.bus_address;
                else if (strcmp(a, "--tun-name") == 0)
                        slot = &opt.tun_name;
                else if (strcmp(a, "--dp-workers") == 0) {
                        char *end = NULL;
                        unsigned long n = v ? strtoul(v, &end, 10) : 0;
                        if (!v || !*v || *end || n < 1 || n > 4) {
                                fprintf(stderr, "bulkheadd: --dp-workers needs a number from 1 to 4\n");
                                return 2;
                        }
                        opt.dp_workers = (unsigned) n;
                        i++;
                        continue;
                } else if (strcmp(a, "--log-level") == 0) {
                        if (!v || bh_log_level_from_string(v, &opt.service_level) < 0) {
                                fprintf(stderr, "bulkheadd: --log-level needs none, errors, events, information "
                                                "or debug\n");
                                return 2;
                        }
                        i++;
                        continue;
                } else {
                        fprintf(stderr, "bulkheadd: unknown option: %s\n", a);
                        usage(2);
                }
                if (!v) {
                        fprintf(stderr, "bulkheadd: %s needs a value\n", a);
                        return 2;
                }
                g_free(*slot);
                /* Absolute paths: the services start in another directory. */
                *slot = slot == &opt.bus_address || slot == &opt.tun_name ? g_strdup(v) : g_canonicalize_filename(v, NULL);
                i++;
        }
        if (opt.tun_name && (strlen(opt.tun_name) == 0 || strlen(opt.tun_name) > 15 || strchr(opt.tun_name, '/'))) {
                fprintf(stderr, "bulkheadd: --tun-name needs an interface name of 1 to 15 characters\n");
                return 2;
        }
        if (opt.embedded && opt.bus_address) {
                fprintf(stderr, "bulkheadd: --bus and --embedded exclude each other\n");
                return 2;
        }
        bh_log_init("bulkheadd", opt.service_level);

        GMainLoop *loop = g_main_loop_new(NULL, FALSE);
        Supervisor *sup = supervisor_start(&opt, loop);
        if (!sup)
                return 1;
        g_main_loop_run(loop);
        int code = supervisor_exit_code(sup);
        supervisor_free(sup);
        g_main_loop_unref(loop);
        g_free(opt.run_dir);
        g_free(opt.config_dir);
        g_free(opt.libexec_dir);
        g_free(opt.bus_address);
        g_free(opt.tun_name);
        return code;
}
