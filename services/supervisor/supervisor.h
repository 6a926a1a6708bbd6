/* SPDX-License-Identifier: ISC */
#pragma once

#include "service.h"

/* bulkheadd: starts the suite from the process table in ipc/suite.c, keeps
 * it running (restarts with backoff, a crash-loop limit) and stops it. */

/* Restart delays: the first after BACKOFF_FIRST_MS, doubling up to
 * BACKOFF_MAX_MS; a service that ran STABLE_USEC starts over. More than
 * CRASH_LIMIT exits within CRASH_WINDOW_USEC and it is left failed. */
#define SUPERVISOR_BACKOFF_FIRST_MS 100
#define SUPERVISOR_BACKOFF_MAX_MS 10000
#define SUPERVISOR_STABLE_USEC (30 * G_USEC_PER_SEC)
#define SUPERVISOR_CRASH_LIMIT 5
#define SUPERVISOR_CRASH_WINDOW_USEC (60 * G_USEC_PER_SEC)
/* How long services get to stop on SIGTERM before SIGKILL. */
#define SUPERVISOR_STOP_TIMEOUT_MS 5000

typedef struct SupervisorOptions {
        bool embedded;
        char *run_dir;
        char *config_dir;
        char *libexec_dir;
        char *bus_address;      /* non-embedded: a bus other than the system bus */
        BhLogLevel service_level;
        bool no_spawn;          /* systemd starts the services: only hand out resources */
        char *tun_name;         /* the data path's TUN device (default bulkhead0) */
        unsigned tun_mtu;       /* its MTU (default 1400) */
        unsigned dp_workers;    /* the data path's workers (0: one per CPU, at most 4) */
} SupervisorOptions;

typedef struct Supervisor Supervisor;

/* Brings the suite up; on failure says why on stderr and returns NULL. */
Supervisor *supervisor_start(SupervisorOptions *options, GMainLoop *loop);
/* Stops every service (SIGTERM, then SIGKILL), the private bus, and removes
 * what it put in the run directory; the loop quits when all is down. */
void supervisor_stop(Supervisor *sup);
int supervisor_exit_code(Supervisor *sup);
void supervisor_free(Supervisor *sup);
