/* SPDX-License-Identifier: ISC */
#pragma once

#include <glib.h>

#include "ipc.h"

typedef enum BhBusPolicyMode {
        BH_BUS_POLICY_EMBEDDED, /* a whole configuration for the private bus */
        BH_BUS_POLICY_SYSTEM,   /* a system.d fragment for the system bus */
} BhBusPolicyMode;

/* The bus configuration made from the process table and the interface
 * XML (who owns which name, who may call which method). listen_address is
 * used in embedded mode only. The caller frees the text. */
char *bh_bus_policy(BhBusPolicyMode mode, const char *listen_address);
