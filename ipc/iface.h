/* SPDX-License-Identifier: ISC */
#pragma once

/* The shape of an interface as ipc/gen-ipc.py reads it from the XML: the
 * dispatcher checks callers and signatures against these rows, and
 * Introspect answers with the same XML text. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Who may call a method or set a property (org.bulkhead.Access). */
enum {
        BH_ACCESS_ANY = 1u << 0,        /* any local user */
        BH_ACCESS_ADMIN = 1u << 1,      /* root or a member of the bulkhead group */
        BH_ACCESS_SUITE = 1u << 2,      /* any service of the suite */
        BH_ACCESS_SUPERVISOR = 1u << 3, /* one service, by the bus name it owns */
        BH_ACCESS_TMD = 1u << 4,
        BH_ACCESS_ISAKMPD = 1u << 5,
        BH_ACCESS_CRYPTOD = 1u << 6,
        BH_ACCESS_FILTERD = 1u << 7,
        BH_ACCESS_LOGD = 1u << 8,
        BH_ACCESS_STATD = 1u << 9,
};

typedef struct BhMethodInfo {
        const char *name;
        const char *in_sig;
        const char *out_sig;
        uint32_t access;
        bool no_reply;
} BhMethodInfo;

typedef struct BhPropertyInfo {
        const char *name;
        const char *type;
        bool writable;
        uint32_t access;        /* who may set it; anyone may read */
} BhPropertyInfo;

typedef struct BhSignalInfo {
        const char *name;
        const char *sig;
} BhSignalInfo;

typedef struct BhInterfaceInfo {
        const char *name;
        const char *xml;
        const BhMethodInfo *methods;    /* terminated by a NULL name */
        const BhPropertyInfo *properties;
        const BhSignalInfo *signals;
} BhInterfaceInfo;
