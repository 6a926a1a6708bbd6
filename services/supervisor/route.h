/* SPDX-License-Identifier: ISC */
#pragma once

/* Routes through the TUN device, set with one rtnetlink request each (no
 * `ip` process per tunnel).
 *
 * They live in a routing table of their own (ROUTE_TABLE), which a rule
 * consults before the main table for every packet that does not carry
 * ROUTE_MARK. The supervisor marks every socket it opens for the suite
 * (ESP, AH, IKE), so that what Bulkhead itself sends to a peer leaves by
 * the main table's route even when the peer's own address is routed
 * through the TUN device (transport mode, or a remote selector that
 * contains the peer), as wg-quick does with its fwmark. */

#include <stdbool.h>

#include "ts.h"

/* The table, the rule's priority (before main's 32766) and the socket
 * mark: 4500 each, after the port of ESP in UDP. */
#define ROUTE_TABLE 4500u
#define ROUTE_RULE_PRIORITY 4500u
#define ROUTE_MARK 4500u

/* Adds (replacing one there) or deletes the route to prefix through the
 * interface ifname, from the source address src when src is not NULL
 * (adding only). Returns 0, or a negative errno with the kernel's reason in
 * *ret_error (g_free). */
int route_change(bool add, const BhTs *prefix, const BhAddr *src, const char *ifname, char **ret_error);

/* Adds or deletes the rule "not fwmark ROUTE_MARK lookup ROUTE_TABLE" of
 * family (AF_INET, AF_INET6). Adding a rule that is there already (left
 * by a suite that was killed) succeeds; so does deleting one that is not. */
int route_rule_change(bool add, int family, char **ret_error);
