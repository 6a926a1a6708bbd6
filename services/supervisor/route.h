/* SPDX-License-Identifier: ISC */
#pragma once

/* Routes through the TUN device, set with one rtnetlink request each (no
 * `ip` process per tunnel). */

#include <stdbool.h>

#include "ts.h"

/* Adds (replacing one there) or deletes the route to prefix through the
 * interface ifname, from the source address src when src is not NULL
 * (adding only). Returns 0, or a negative errno with the kernel's reason in
 * *ret_error (g_free). */
int route_change(bool add, const BhTs *prefix, const BhAddr *src, const char *ifname, char **ret_error);
