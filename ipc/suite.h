/* SPDX-License-Identifier: ISC */
#pragma once

/* The one table of what the suite is made of: every process, its bus name,
 * the system user it runs as, its sandbox profile and how the supervisor
 * restarts it. The supervisor starts from it, and the dispatcher uses it to
 * tell which service a caller is. */

#include <stdbool.h>
#include <stdint.h>

typedef enum BhServiceId {
        BH_SERVICE_NONE = -1,
        BH_SERVICE_SUPERVISOR = 0,
        BH_SERVICE_LOGD,
        BH_SERVICE_STATD,
        BH_SERVICE_CRYPTOD,
        BH_SERVICE_FILTERD,
        BH_SERVICE_ISAKMPD,
        BH_SERVICE_TMD,
        _BH_SERVICE_MAX,
} BhServiceId;

typedef enum BhRestart {
        BH_RESTART_NEVER,       /* the supervisor itself */
        BH_RESTART_ALWAYS,      /* restart with backoff, up to the crash-loop limit */
} BhRestart;

typedef struct BhSuiteEntry {
        BhServiceId id;
        const char *name;       /* short name: "tmd" */
        const char *bus_name;   /* "org.bulkhead.Tmd" */
        const char *path;       /* "/org/bulkhead/Tmd" */
        const char *binary;     /* "bulkhead-tmd" */
        const char *user;       /* system user when started as root */
        const char *sandbox;    /* seccomp profile name in policy/ */
        BhRestart restart;
        uint32_t access_bit;    /* its BH_ACCESS_* bit */
        /* Privileged descriptors the supervisor opens once, keeps, and
         * hands over at every start (--fd NAME=N): see
         * services/supervisor/resources.c. */
        const char *resources[20];
} BhSuiteEntry;

extern const BhSuiteEntry bh_suite[_BH_SERVICE_MAX];

const BhSuiteEntry *bh_suite_by_name(const char *name);        /* short name or bus name */
const BhSuiteEntry *bh_suite_by_bus_name(const char *bus_name);
