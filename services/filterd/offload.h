/* SPDX-License-Identifier: ISC */
#pragma once

/* TUN offloads: what lets one read or write of the TUN device carry up to
 * 64 KiB of TCP instead of one MTU-sized packet.
 *
 * The TUN device is opened with IFF_VNET_HDR, so a virtio-net header
 * precedes every packet in both directions, and with TCP segmentation
 * offload, so the local TCP stack may hand over a "super packet": one IP and
 * TCP header before many MSS-sized pieces of payload, its TCP checksum only
 * partly computed. ESP protects single datagrams, so outbound the engine cuts
 * such a packet into the segments the wire would have carried
 * (offload_tso_plan, offload_tso_segment), each with its own IP and TCP
 * header and a full checksum.
 *
 * Inbound it is the reverse: consecutive decapsulated TCP segments of one
 * connection are joined into one super packet for one write
 * (OffloadGro), the way the kernel's own GRO joins what a NIC receives.
 * Only segments that GRO itself would join are joined (same headers but for
 * the sequence number and lengths, consecutive, full-sized but the last, with
 * valid checksums), so that the receiving stack sees exactly the byte
 * stream it would have seen.
 *
 * Pure packet code: no I/O and no allocation. The packets are untrusted
 * (the local stack outbound, the peer inbound): every field is checked
 * before use. */

#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pkt.h"

#define OFFLOAD_VNET_HDR_LEN sizeof(struct virtio_net_hdr)
/* The largest IP packet a TUN read or write carries with offloads. */
#define OFFLOAD_MAX_PACKET 65535u

/* ------------------------------------------------------------ outbound */

/* How a super packet is cut. */
typedef struct OffloadTso {
        size_t l4_off;          /* where the TCP header starts */
        size_t hdr_len;         /* IP and TCP headers, copied into every segment */
        size_t mss;             /* payload per segment (the last may be shorter) */
        size_t payload_len;
        unsigned count;         /* segments */
        int family;
} OffloadTso;

/* A packet read from the TUN device (p, len: after the virtio-net header
 * vh). For a packet without GSO whose checksum the stack left to us
 * (VIRTIO_NET_HDR_F_NEEDS_CSUM), completes it in place and sets *ret_tso to
 * a plan of one segment that is the packet itself. For a TCP super packet,
 * fills in the plan. PKT_OK, or the reason to drop it (BAD_OUTER: a header
 * that is not what the virtio-net header says; UNSUPPORTED: a GSO type other
 * than TCP over IPv4/IPv6, or an IPv6 routing header). */
PktDrop offload_tso_plan(const struct virtio_net_hdr *vh, uint8_t *p, size_t len, OffloadTso *ret_tso);

/* Writes segment k (< tso->count) of the super packet p into out, which has
 * room for tso->hdr_len + tso->mss bytes; returns its length. Each segment
 * gets the IPv4 identification of the first plus k, its own lengths and
 * checksums, the sequence number advanced by k * mss, FIN and PSH only on the
 * last segment and CWR only on the first. */
size_t offload_tso_segment(const OffloadTso *tso, const uint8_t *p, unsigned k, uint8_t *out);

/* ------------------------------------------------------------ inbound */

#define OFFLOAD_GRO_MAX 64      /* packets in one batch */
#define OFFLOAD_GRO_OPEN 8      /* flows joined at once */

typedef struct OffloadGroItem {
        uint8_t *data;          /* the packet; rewritten in place when first of a group */
        size_t len;
        size_t payload_off;     /* TCP payload start (joinable packets) */
        unsigned next;          /* the next packet of this group, or OFFLOAD_GRO_MAX */
        unsigned tag;           /* the caller's (e.g. which protocol carried it) */
        bool head;              /* starts a group (the only kind written) */
} OffloadGroItem;

typedef struct OffloadGroOpen {
        unsigned head, tail;    /* first and last item */
        size_t total;           /* the group's IP packet length so far */
        size_t mss;             /* payload of its first segment */
        bool closed;            /* nothing may follow (PSH, or shorter than mss) */
} OffloadGroOpen;

/* The inbound packets of one batch, in arrival order. */
typedef struct OffloadGro {
        OffloadGroItem items[OFFLOAD_GRO_MAX];
        unsigned n;
        OffloadGroOpen open[OFFLOAD_GRO_OPEN];
        unsigned n_open;
        unsigned n_open_next;   /* which open slot a new flow replaces */
} OffloadGro;

void offload_gro_reset(OffloadGro *g);
static inline bool offload_gro_full(const OffloadGro *g) {
        return g->n == OFFLOAD_GRO_MAX;
}
/* Adds a decapsulated IP packet (the caller checked it is one: the SA's
 * selectors matched). Joins it to an earlier TCP packet of the same
 * connection when the result is what GRO would make; otherwise it starts a
 * group of its own. The packet must stay where it is until the group is
 * written. Call only when !offload_gro_full(). */
void offload_gro_add(OffloadGro *g, uint8_t *data, size_t len, unsigned tag);

/* Prepares group head h for writing: fills vh and iov (at most
 * OFFLOAD_GRO_MAX + 1 entries, the virtio-net header first) and returns the
 * number of iovecs; *ret_packets tells how many packets it joins. A group of
 * several becomes one TCP super packet (lengths and IPv4 checksum rewritten,
 * PSH of the last kept, the TCP checksum left to the stack). */
struct iovec;
unsigned offload_gro_prepare(OffloadGro *g, unsigned h, struct virtio_net_hdr *vh, struct iovec *iov,
                             unsigned *ret_packets);

/* ------------------------------------------------------------ UDP GRO */

/* A UDP socket with UDP_GRO may hand over several datagrams that one peer
 * sent as one of up to 64 KiB, with a control message that gives the size
 * of the datagrams it joined: every one gso_size octets, the last one
 * maybe shorter. Returns how many a datagram of len octets holds (segment k
 * starts at k * gso_size), or 0 when gso_size cannot be right: 0,
 * negative, or larger than the datagram (the kernel sends the size only
 * with more than one segment). The caller drops such a datagram. */
unsigned offload_udp_segments(size_t len, int gso_size);

/* The checksum of a TCP or UDP segment with its pseudo-header, complemented,
 * as it goes into the header (l4 is the TCP/UDP header, l4_len bytes to the
 * end of the packet; ip the IP header). */
uint16_t offload_l4_checksum(const uint8_t *ip, int family, uint8_t proto, const uint8_t *l4, size_t l4_len);
