/* SPDX-License-Identifier: ISC */
#pragma once

/* What every service's main.c shares: options, the bus connection, the
 * org.bulkhead.Service1 object, logging, signals and the main loop. */

#include <glib.h>

#include "ipc.h"
#include "log.h"

typedef struct BhService {
        const BhSuiteEntry *entry;
        GMainLoop *loop;
        BhIpc *ipc;
        char *bus_address;      /* NULL: the system bus */
        char *run_dir;
        char *config_dir;
        BhLogLevel initial_level;
        int report_fd;          /* -1, or where the sandbox reports a refused syscall */
        /* Descriptors handed over by the supervisor (--fd NAME=N): as
         * many as a suite entry names (BhSuiteEntry.resources). */
        struct {
                char *name;
                int fd;
        } fds[20];
        unsigned n_fds;
        int exit_code;
} BhService;

/* Parses the common options (--bus, --run-dir, --config-dir, --log-level,
 * --help, --version), connects to the bus and publishes Service1 at the
 * service's object path. Exits the process with a message on failure. */
void bh_service_init(BhService *svc, BhServiceId id, int argc, char **argv);
/* The part of init after the options: joins svc->bus_address and publishes
 * Service1 (for the supervisor, which has options of its own). */
void bh_service_connect(BhService *svc);
/* Takes the service's bus name and runs until SIGTERM, SIGINT, the bus going
 * away or bh_service_quit(). Returns the exit code. */
int bh_service_run(BhService *svc);
void bh_service_quit(BhService *svc, int exit_code);
/* Frees what init allocated. */
void bh_service_done(BhService *svc);
/* org.bulkhead.Test1 on the service's object (test builds only). */
void bh_test_hooks_register(BhService *svc);
/* Keeps KEY for Test1.Keys (hex). */
void bh_test_hooks_note_key(const uint8_t *key, size_t len);
/* A descriptor the supervisor handed over under this name, or -1. */
int bh_service_fd(BhService *svc, const char *name);
/* A path in the configuration directory (caller frees). */
char *bh_service_config_path(BhService *svc, const char *name);
