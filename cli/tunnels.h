/* SPDX-License-Identifier: ISC */
#pragma once

/* What the tunnel commands share: ike cmd=list, cmd=activate and
 * cmd=remove, and mktun, rmtun and lstun, which select tunnels their own
 * way and then list, activate or remove them the same way, with the same
 * calls to tmd and the same output. */

#include <glib.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* One row of Tmd1.ListTunnels. */
typedef struct CliTunnel {
        uint32_t number;
        char *name;
        char *local;
        char *remote;   /* "%any" for a responder-only IKE tunnel */
        char *phase1;   /* "-" for a manual tunnel */
        char *phase2;   /* "failed: CAUSE" after a failure */
} CliTunnel;

void cli_tunnel_free(CliTunnel *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CliTunnel, cli_tunnel_free)

/* Tmd1.ListTunnels: every defined tunnel, in tmd's order, as an array of
 * CliTunnel that frees them. Errors are printed and returned as exit
 * codes. */
int cli_tunnels_get(Cli *cli, GPtrArray **ret_rows);

/* One field of Tmd1.GetTunnel (type, start, remote_id_configured...);
 * NULL if the tunnel or the field does not exist. */
char *cli_tunnel_info(Cli *cli, const char *name, const char *field);

/* An address, IPv4 as IPv4-mapped IPv6, in one form for comparing; false
 * if TEXT is none. */
bool cli_parse_addr(const char *text, struct in6_addr *ret);

/* The family of a tunnel's endpoints: AF_INET or AF_INET6 from its local
 * address (its remote one if the local one is not an address), AF_UNSPEC
 * if neither is. */
int cli_tunnel_family(const CliTunnel *t);

/* ike cmd=list: the table (or JSON) of ROWS. PHASE ("1", "2" or NULL)
 * blanks the other phase's column; VERBOSE adds what GetTunnel says;
 * SELECTION says whether the rows were chosen, for the line printed when
 * there are none. */
void cli_tunnels_print(Cli *cli, GPtrArray *rows, const char *phase, bool verbose, bool selection);

/* ike cmd=activate and cmd=remove: MEMBER (Activate, Remove,
 * RemovePhase2) of tmd on each tunnel of NAMES in turn, each reported as
 * "tunnel NAME DONE"; goes on after a failure and returns the highest exit
 * code. */
int cli_tunnels_each(Cli *cli, GPtrArray *names, const char *member, const char *done);
