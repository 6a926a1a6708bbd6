/* SPDX-License-Identifier: ISC */
#pragma once

/* The privileged descriptors of the suite. The supervisor opens each once
 * (it is root; the services are not), keeps it for the life of the suite so
 * that a restarted service gets the same device and sockets back, and hands
 * it to the service at every start. */

#include <stdbool.h>

/* Workers of the data path at most: each has a queue of the TUN device and
 * a socket of UDP 4500 of each family ("tun.1", "esp-udp4.1", ...). */
#define RESOURCE_MAX_WORKERS 4

typedef struct ResourceSettings {
        const char *tun_name;   /* default "bulkhead0" */
        unsigned tun_mtu;       /* default 1400 */
        unsigned workers;       /* 1 to RESOURCE_MAX_WORKERS */
} ResourceSettings;

/* Opens the named resource; returns the descriptor or a negative errno. */
int resource_open(const char *name, const ResourceSettings *options, char **ret_error);
/* Is this a name the supervisor knows? */
bool resource_known(const char *name);
/* Is it wanted with these settings (a worker's "NAME.K" only for K < workers)? */
bool resource_wanted(const char *name, const ResourceSettings *options);
