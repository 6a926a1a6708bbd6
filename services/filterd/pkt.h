/* SPDX-License-Identifier: ISC */
#pragma once

/* Packet basics for the data path engine (esp.c, ah.c): a buffer with
 * headroom and tailroom that the engine grows and shrinks in place, one
 * bounds-checked cursor reader for untrusted bytes, the IP header helpers
 * both protocols share, and the drop reasons with their name table.
 *
 * Every bound is written `n > len - off` with off <= len kept as an
 * invariant, so that no sum can wrap. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* IP protocol numbers the engine deals in (IANA "Assigned Internet Protocol
 * Numbers"); pkt_proto_name() names them. */
enum {
        PKT_PROTO_HOPOPTS = 0,
        PKT_PROTO_ICMP = 1,
        PKT_PROTO_IPIP = 4, /* IPv4 in a tunnel: ESP/AH next header */
        PKT_PROTO_TCP = 6,
        PKT_PROTO_UDP = 17,
        PKT_PROTO_IPV6 = 41, /* IPv6 in a tunnel */
        PKT_PROTO_ROUTING = 43,
        PKT_PROTO_FRAGMENT = 44,
        PKT_PROTO_ESP = 50,
        PKT_PROTO_AH = 51,
        PKT_PROTO_ICMPV6 = 58,
        PKT_PROTO_NONE = 59, /* IPv6 No Next Header: ESP dummy packets (RFC 4303 §2.6) */
        PKT_PROTO_DSTOPTS = 60,
};

const char *pkt_proto_name(unsigned proto);

#define PKT_IPV4_HDR_LEN 20u
#define PKT_IPV6_HDR_LEN 40u
#define PKT_UDP_HDR_LEN 8u
/* RFC 3948 §2.2: UDP-encapsulated ESP and IKE share port 4500. */
#define PKT_NATT_PORT 4500u

/* ------------------------------------------------------------ drop reasons */

/* Why the engine refused a packet. Each failure has its own reason, counted
 * per SA and named by pkt_drop_name(). PKT_OK is not a drop. */
typedef enum PktDrop {
        PKT_OK = 0,
        PKT_DROP_BAD_LENGTH,     /* shorter than its headers, or misaligned */
        PKT_DROP_NO_ROOM,        /* the caller's buffer lacks headroom/tailroom */
        PKT_DROP_SPI,            /* SPI does not match the SA */
        PKT_DROP_REPLAY,         /* sequence number already seen */
        PKT_DROP_TOO_OLD,        /* sequence number left of the window */
        PKT_DROP_ICV,            /* integrity check failed */
        PKT_DROP_PADDING,        /* ESP padding not 1, 2, 3, ... or too long */
        PKT_DROP_NEXT_HEADER,    /* next header not allowed in this mode */
        PKT_DROP_BAD_INNER,      /* decapsulated packet is not the IP packet it claims */
        PKT_DROP_BAD_OUTER,      /* outer IP/UDP header malformed */
        PKT_DROP_FRAGMENT,       /* IP fragment: IPsec applies to whole datagrams */
        PKT_DROP_UNSUPPORTED,    /* option or extension header this engine does not do */
        PKT_DROP_SEQ_EXHAUSTED,  /* sender: sequence number would cycle, rekey */
        PKT_DROP_CRYPTO,         /* the crypto library failed (internal error) */
        PKT_DROP_INVALID_SA,     /* the SA is not usable (no transform, wrong kind) */
        PKT_DROP_DUMMY,          /* authentic ESP dummy packet (next header 59): discard */
        _PKT_DROP_MAX,
} PktDrop;

const char *pkt_drop_name(PktDrop drop);

/* Per-SA counters. One SA is driven by one worker at a time, so plain
 * integers; statd sums them. Bytes are IP packet bytes before encapsulation
 * (out) and after decapsulation (in). */
typedef struct PktCounters {
        uint64_t packets_in, bytes_in;
        uint64_t packets_out, bytes_out;
        uint64_t drops[_PKT_DROP_MAX];
} PktCounters;

/* ------------------------------------------------------------ buffers */

/* A packet in a caller-owned buffer: data is buf[off, off + len), with
 * off bytes of headroom before it and size - off - len of tailroom after.
 * The engine never allocates: it pushes headers into the headroom and
 * trailers into the tailroom, and fails with PKT_DROP_NO_ROOM instead. */
typedef struct PktBuf {
        uint8_t *buf;
        size_t size;
        size_t off;
        size_t len;
} PktBuf;

/* Headroom and tailroom the engine may need for one ESP or AH packet, with
 * outer IPv6 + UDP headers: what an I/O layer should reserve. */
#define PKT_HEADROOM 128u
#define PKT_TAILROOM 128u

static inline void pkt_init(PktBuf *p, uint8_t *buf, size_t size, size_t off, size_t len) {
        p->buf = buf;
        p->size = size;
        p->off = off <= size ? off : size;
        p->len = len <= size - p->off ? len : size - p->off;
}

static inline uint8_t *pkt_data(const PktBuf *p) {
        return p->buf + p->off;
}

static inline size_t pkt_headroom(const PktBuf *p) {
        return p->off;
}

static inline size_t pkt_tailroom(const PktBuf *p) {
        return p->size - p->off - p->len;
}

/* Prepends n bytes; returns their start, or NULL without headroom. */
static inline uint8_t *pkt_push(PktBuf *p, size_t n) {
        if (n > p->off)
                return NULL;
        p->off -= n;
        p->len += n;
        return p->buf + p->off;
}

/* Removes n bytes from the front; returns the new start, or NULL. */
static inline uint8_t *pkt_pull(PktBuf *p, size_t n) {
        if (n > p->len)
                return NULL;
        p->off += n;
        p->len -= n;
        return p->buf + p->off;
}

/* Appends n bytes; returns their start, or NULL without tailroom. */
static inline uint8_t *pkt_put(PktBuf *p, size_t n) {
        if (n > pkt_tailroom(p))
                return NULL;
        uint8_t *t = p->buf + p->off + p->len;
        p->len += n;
        return t;
}

/* Removes n bytes from the end. */
static inline bool pkt_trim(PktBuf *p, size_t n) {
        if (n > p->len)
                return false;
        p->len -= n;
        return true;
}

/* ------------------------------------------------------------ cursor reader */

/* The one reader for untrusted bytes: every getter checks the remaining
 * length first and fails without moving the cursor. */
typedef struct PktReader {
        const uint8_t *p;
        size_t len;
        size_t off;
} PktReader;

static inline PktReader pkt_reader(const uint8_t *p, size_t len) {
        return (PktReader) { p, len, 0 };
}

static inline size_t pkt_reader_left(const PktReader *r) {
        return r->len - r->off;
}

static inline bool pkt_read_bytes(PktReader *r, size_t n, const uint8_t **ret) {
        if (n > r->len - r->off)
                return false;
        *ret = r->p + r->off;
        r->off += n;
        return true;
}

static inline bool pkt_skip(PktReader *r, size_t n) {
        const uint8_t *unused;
        return pkt_read_bytes(r, n, &unused);
}

static inline bool pkt_read_u8(PktReader *r, uint8_t *ret) {
        if (1 > r->len - r->off)
                return false;
        *ret = r->p[r->off++];
        return true;
}

static inline bool pkt_read_be16(PktReader *r, uint16_t *ret) {
        if (2 > r->len - r->off)
                return false;
        const uint8_t *b = r->p + r->off;
        *ret = (uint16_t) (b[0] << 8 | b[1]);
        r->off += 2;
        return true;
}

static inline bool pkt_read_be32(PktReader *r, uint32_t *ret) {
        if (4 > r->len - r->off)
                return false;
        const uint8_t *b = r->p + r->off;
        *ret = (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
        r->off += 4;
        return true;
}

/* Stores into space the caller has already bounds-checked (pkt_push/put). */
static inline void pkt_store_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static inline void pkt_store_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static inline void pkt_store_be64(uint8_t *p, uint64_t v) {
        pkt_store_be32(p, (uint32_t) (v >> 32));
        pkt_store_be32(p + 4, (uint32_t) v);
}

static inline uint16_t pkt_load_be16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

static inline uint32_t pkt_load_be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* ------------------------------------------------------------ IP headers */

/* The Internet checksum (RFC 1071) of a buffer, folded, not complemented;
 * sum continues a previous partial sum (0 to start). */
uint32_t pkt_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t pkt_csum_fold(uint32_t sum);
/* Recomputes the IPv4 header checksum of hdr (hdr_len bytes). */
void pkt_ipv4_set_checksum(uint8_t *hdr, size_t hdr_len);

/* What pkt_ip_parse() found in an IP packet (untrusted: from the network
 * or the TUN device). */
typedef struct PktIpInfo {
        int family;          /* AF_INET or AF_INET6 */
        size_t hdr_len;      /* IPv4 header with options, or IPv6 header and the
                              * extension headers before proto */
        size_t nh_off;       /* offset of the byte that holds proto (IPv4
                              * protocol, or the last IPv6 next header field) */
        uint8_t proto;       /* upper-layer protocol after hdr_len */
        size_t total_len;    /* from the header: the packet without link padding */
        bool fragment;       /* IPv4 MF or offset, or an IPv6 fragment header */
        bool has_routing;    /* IPv6 routing header, IPv4 source route option */
} PktIpInfo;

/* Parses the IPv4 or IPv6 header at p (len bytes): version, lengths,
 * checksum is not verified (the kernel did). IPv6 extension headers
 * hop-by-hop, routing and destination options are walked; the walk stops at
 * a fragment header, ESP, AH or any other protocol. Returns PKT_OK or the
 * drop reason (BAD_OUTER for a malformed header, BAD_LENGTH when shorter
 * than its length fields). */
PktDrop pkt_ip_parse(const uint8_t *p, size_t len, PktIpInfo *ret);

/* How to build an outer header: tunnel-mode ESP and AH. */
typedef struct PktOuter {
        int family; /* AF_INET or AF_INET6 */
        union {
                struct in_addr v4;
                struct in6_addr v6;
        } src, dst;
        uint8_t ttl;       /* TTL / hop limit; 0: 64 */
        uint8_t tos;       /* TOS / traffic class (DSCP+ECN copied by the caller) */
        uint32_t flow;     /* IPv6 flow label (20 bits) */
        uint16_t udp_sport, udp_dport; /* both nonzero: UDP encapsulation (RFC 3948) */
} PktOuter;

/* Prepends the outer IPv4 or IPv6 header to pkt (and a UDP header when the
 * ports are set); proto is the protocol that follows (ESP or AH; UDP when
 * encapsulating). ip_id is the IPv4 identification (the caller's counter).
 * IPv4: DF clear, header checksum set; UDP checksum zero over IPv4 (RFC 3948
 * §2.1) and computed over IPv6 (RFC 8200 forbids zero). */
PktDrop pkt_push_outer(PktBuf *pkt, const PktOuter *o, uint8_t proto, uint16_t ip_id);

/* Writes the IPv4/IPv6 header described by o at hdr (20 or 40 bytes) for a
 * packet of total_len bytes: what pkt_push_outer() and AH tunnel mode use. */
void pkt_write_ip_header(uint8_t *hdr, const PktOuter *o, uint8_t proto, size_t total_len, uint16_t ip_id);

/* Tunnel mode, after decapsulation: the inner packet's version must be what
 * the next header (4 or 41) said and its own length must fit; what follows
 * it (TFC padding, RFC 4303 §2.4) is trimmed. PKT_DROP_BAD_INNER otherwise. */
PktDrop pkt_inner_trim(PktBuf *pkt, uint8_t nh);

/* Transport mode: rewrites the length fields of the header at h (described
 * by ip) for a packet of total bytes, and the IPv4 checksum. */
void pkt_ip_set_lengths(uint8_t *h, const PktIpInfo *ip, size_t total);
