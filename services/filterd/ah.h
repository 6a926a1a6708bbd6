/* SPDX-License-Identifier: ISC */
#pragma once

/* AH (RFC 4302) with HMAC-SHA2 (RFC 4868), and HMAC-SHA1-96/MD5-96 when a
 * configuration names them. In place, in the caller's buffer, like esp.c.
 *
 * The ICV covers the IP header with its mutable fields zeroed (IPv4: TOS,
 * flags and fragment offset, TTL, checksum, and the options RFC 4302
 * Appendix A calls mutable; IPv6: traffic class, flow label, hop limit, and
 * the data of hop-by-hop/destination options marked as changing en route),
 * the AH header with the ICV field zeroed, the payload, and the high 32 ESN
 * bits appended at the end.
 *
 * Tunnel and transport mode; outer IPv4 and IPv6. Not done: IPv6 routing
 * headers and IPv4 source routes on output (dropped as UNSUPPORTED), AH over
 * UDP (NAT breaks AH anyway). */

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"
#include "replay.h"
#include "transform.h"

#define AH_HDR_LEN 12u /* next header, payload length, reserved, SPI, seq */

typedef enum AhMode {
        AH_MODE_TUNNEL,
        AH_MODE_TRANSPORT,
} AhMode;

typedef struct AhSa {
        uint32_t spi;
        AhMode mode;
        bool esn;
        BhTransform *transform; /* integrity only (ENCR_NONE); owned */
        uint64_t seq_out;
        uint64_t *seq_src;      /* &seq_out, or a shared counter (as EspSa's) */
        ReplayWindow replay;
        bool anti_replay;       /* check the window (ah_sa_init: on) */
        PktCounters counters;
} AhSa;

void ah_sa_init(AhSa *sa, uint32_t spi, AhMode mode, bool esn, uint32_t replay_window, BhTransform *transform);
/* Frees the transform and wipes the SA; accepts NULL. */
void ah_sa_clear(AhSa *sa);

/* Length of the AH header for this SA over an IPv4 (family AF_INET) or
 * IPv6 outer header: 12 + ICV, padded to 4 or 8 bytes (RFC 4302 §2.6). */
size_t ah_header_len(const AhSa *sa, int family);

/* Outbound. Tunnel: pkt holds the inner packet; outer (required, without
 * UDP ports) describes the outer header, and pkt becomes outer | AH | inner.
 * Transport: outer is NULL; pkt holds an IP packet and becomes its header |
 * AH | payload. ip_id: the outer IPv4 identification (tunnel mode). */
PktDrop ah_encap(AhSa *sa, PktBuf *pkt, const PktOuter *outer, uint16_t ip_id);

/* Inbound: pkt starts at the IP header that ip (pkt_ip_parse()) describes,
 * protocol AH. Order: SPI, lengths, replay pre-check, ICV (constant time),
 * next header, replay update. Tunnel: pkt becomes the inner packet;
 * transport: the header with the payload. */
PktDrop ah_decap(AhSa *sa, PktBuf *pkt, const PktIpInfo *ip);
