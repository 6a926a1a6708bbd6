/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Addresses and traffic selectors as bulkhead-tunnels(5) writes them.
 *
 *   address   192.0.2.1 | 2001:db8::1 | %any (where the caller allows it)
 *   selector  PREFIX[/LEN][[PROTO[/PORT[-PORT]]]]
 *             10.0.0.0/8   10.1.2.3   2001:db8::/32[tcp/80-443]   0.0.0.0/0[udp]
 *
 * A selector without /LEN is one host (/32, /128). PROTO is a name (tcp,
 * udp, icmp, ipv6-icmp, sctp, udplite, dccp, gre) or a number 0..255; 0 and
 * "any" mean every protocol. Ports are only accepted with protocols that have
 * them (tcp, udp, sctp, udplite, dccp).
 */

/* Room for the text of any address ("%any" included), NUL included. */
#define BH_ADDR_STRLEN 46
/* Room for the text of any selector, NUL included. */
#define BH_TS_STRLEN (BH_ADDR_STRLEN + 4 + 24)

typedef struct BhAddr {
        int family;                     /* AF_INET, AF_INET6; AF_UNSPEC = %any */
        uint8_t bytes[16];              /* network order; IPv4 in the first 4, the rest zero */
} BhAddr;

typedef struct BhTs {
        BhAddr addr;                    /* the network: host bits are always zero */
        uint8_t prefix_len;             /* 0..32 or 0..128 */
        uint8_t proto;                  /* IP protocol number; 0 = any */
        uint16_t port_from;             /* inclusive range; 0-65535 = any port */
        uint16_t port_to;
} BhTs;

/* 4 for AF_INET, 16 for AF_INET6, 0 otherwise. */
size_t bh_addr_len(int family);

/* "IPv4", "IPv6", or "unspecified". Never NULL. */
const char *bh_family_name(int family);

/* Parses an IPv4 or IPv6 literal (no zone, no brackets), or "%any" when
 * allow_any. Returns 0 or -EINVAL. */
int bh_addr_parse(const char *s, bool allow_any, BhAddr *ret);

/* %any (AF_UNSPEC)? */
bool bh_addr_is_any(const BhAddr *a);

/* A unicast address a host can have: not unspecified (0.0.0.0, ::), not
 * multicast, not IPv4 broadcast. %any is not unicast. */
bool bh_addr_is_unicast(const BhAddr *a);

bool bh_addr_equal(const BhAddr *a, const BhAddr *b);

/* Writes the text form into buf and returns buf: "%any" for AF_UNSPEC. */
const char *bh_addr_to_string(const BhAddr *a, char buf[static BH_ADDR_STRLEN]);

/*
 * Parses one selector. On error returns -EINVAL and, if ret_reason is not
 * NULL, a g_free'd sentence saying why (without quoting the input: the caller
 * names the value it came from).
 */
int bh_ts_parse(const char *s, BhTs *ret, char **ret_reason);

/* The selector that covers exactly `a`, every protocol and port. */
void bh_ts_from_addr(const BhAddr *a, BhTs *ret);

/* Canonical text ("10.0.0.0/8[tcp/80-443]"; the prefix length always
 * written) into buf; returns buf. bh_ts_parse() reads it back equal. */
const char *bh_ts_to_string(const BhTs *ts, char buf[static BH_TS_STRLEN]);

bool bh_ts_equal(const BhTs *a, const BhTs *b);

/* Is `a` inside the selector's prefix (same family)? */
bool bh_ts_contains_addr(const BhTs *ts, const BhAddr *a);

/* Canonical name of an IP protocol ("tcp", "ipv6-icmp"), NULL if it has none here. */
const char *bh_ip_proto_name(uint8_t proto);

/*
 * A word as it can safely appear in a report of the policy/ parsers: in
 * double quotes, non-printable bytes escaped as \xNN, '"' and '\' escaped,
 * cut after 64 bytes with "..." so that a hostile line cannot flood a log.
 * g_free() the result.
 */
char *bh_quote(const char *word);
