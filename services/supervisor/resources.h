/* SPDX-License-Identifier: ISC */
#pragma once

/* The privileged descriptors of the suite. The supervisor opens each once
 * (it is root; the services are not), keeps it for the life of the suite so
 * that a restarted service gets the same device and sockets back, and hands
 * it to the service at every start. */

#include <stdbool.h>

typedef struct ResourceSettings {
        const char *tun_name;   /* default "bulkhead0" */
        unsigned tun_mtu;       /* default 1400 */
} ResourceSettings;

/* Opens the named resource; returns the descriptor or a negative errno. */
int resource_open(const char *name, const ResourceSettings *options, char **ret_error);
/* Is this a name the supervisor knows? */
bool resource_known(const char *name);
