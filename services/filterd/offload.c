/* SPDX-License-Identifier: ISC */
#include <endian.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "offload.h"

#define TCP_HDR_MIN 20u
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* The pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1), not folded. */
static uint32_t pseudo_sum(const uint8_t *ip, int family, uint8_t proto, size_t l4_len) {
        uint8_t tail[8] = { 0 };
        uint32_t sum;
        if (family == AF_INET) {
                sum = pkt_csum_add(0, ip + 12, 8);
                tail[1] = proto;
                pkt_store_be16(tail + 2, (uint16_t) l4_len);
                return pkt_csum_add(sum, tail, 4);
        }
        sum = pkt_csum_add(0, ip + 8, 32);
        pkt_store_be32(tail, (uint32_t) l4_len);
        tail[7] = proto;
        return pkt_csum_add(sum, tail, 8);
}

uint16_t offload_l4_checksum(const uint8_t *ip, int family, uint8_t proto, const uint8_t *l4, size_t l4_len) {
        uint32_t sum = pkt_csum_add(pseudo_sum(ip, family, proto, l4_len), l4, l4_len);
        return (uint16_t) ~pkt_csum_fold(sum);
}

/* ------------------------------------------------------------ outbound */

/* Completes a checksum the stack left partial: the field holds the
 * pseudo-header sum, and the sum runs from csum_start to the end. */
static PktDrop finish_csum(const struct virtio_net_hdr *vh, uint8_t *p, size_t len) {
        size_t start = le16toh(vh->csum_start), at = start + le16toh(vh->csum_offset);
        if (len < 2 || start >= len || at > len - 2)
                return PKT_DROP_BAD_OUTER;
        uint16_t c = (uint16_t) ~pkt_csum_fold(pkt_csum_add(0, p + start, len - start));
        /* 0 would mean "no checksum" to UDP; the same value in one's
         * complement (what the kernel writes too). */
        pkt_store_be16(p + at, c ? c : 0xffff);
        return PKT_OK;
}

PktDrop offload_tso_plan(const struct virtio_net_hdr *vh, uint8_t *p, size_t len, OffloadTso *ret) {
        uint8_t gso = vh->gso_type & (uint8_t) ~VIRTIO_NET_HDR_GSO_ECN;
        if (gso == VIRTIO_NET_HDR_GSO_NONE) {
                if (vh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
                        PktDrop r = finish_csum(vh, p, len);
                        if (r != PKT_OK)
                                return r;
                }
                *ret = (OffloadTso) { .hdr_len = len, .count = 1 };
                return PKT_OK;
        }
        if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6)
                return PKT_DROP_UNSUPPORTED;
        PktIpInfo ip;
        PktDrop r = pkt_ip_parse(p, len, &ip);
        if (r != PKT_OK)
                return r;
        if (ip.family != (gso == VIRTIO_NET_HDR_GSO_TCPV4 ? AF_INET : AF_INET6) || ip.proto != PKT_PROTO_TCP ||
            ip.fragment)
                return PKT_DROP_BAD_OUTER;
        /* The pseudo-header would need the routing header's last address. */
        if (ip.has_routing)
                return PKT_DROP_UNSUPPORTED;
        len = ip.total_len;
        if (len - ip.hdr_len < TCP_HDR_MIN)
                return PKT_DROP_BAD_LENGTH;
        size_t thl = (size_t) (p[ip.hdr_len + 12] >> 4) * 4;
        if (thl < TCP_HDR_MIN || thl > len - ip.hdr_len)
                return PKT_DROP_BAD_OUTER;
        size_t mss = le16toh(vh->gso_size);
        if (mss == 0)
                return PKT_DROP_BAD_OUTER;
        *ret = (OffloadTso) {
                .l4_off = ip.hdr_len,
                .hdr_len = ip.hdr_len + thl,
                .mss = mss,
                .payload_len = len - ip.hdr_len - thl,
                .family = ip.family,
        };
        ret->count = (unsigned) ((ret->payload_len + mss - 1) / mss);
        if (ret->count == 0)
                ret->count = 1;
        return PKT_OK;
}

size_t offload_tso_segment(const OffloadTso *t, const uint8_t *p, unsigned k, uint8_t *out) {
        if (t->mss == 0) {
                /* Not a super packet: the plan is the packet itself. */
                if (t->hdr_len)
                        memcpy(out, p, t->hdr_len);
                return t->hdr_len;
        }
        size_t at = (size_t) k * t->mss;
        size_t n = t->payload_len - at < t->mss ? t->payload_len - at : t->mss;
        size_t len = t->hdr_len + n;
        memcpy(out, p, t->hdr_len);
        memcpy(out + t->hdr_len, p + t->hdr_len + at, n);
        if (t->family == AF_INET) {
                pkt_store_be16(out + 2, (uint16_t) len);
                pkt_store_be16(out + 4, (uint16_t) (pkt_load_be16(p + 4) + k));
                pkt_ipv4_set_checksum(out, t->l4_off);
        } else {
                pkt_store_be16(out + 4, (uint16_t) (len - PKT_IPV6_HDR_LEN));
        }
        uint8_t *th = out + t->l4_off;
        pkt_store_be32(th + 4, pkt_load_be32(p + t->l4_off + 4) + (uint32_t) at);
        if (k + 1 < t->count)
                th[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
        if (k > 0)
                th[13] &= (uint8_t) ~TCP_CWR;
        th[16] = th[17] = 0;
        pkt_store_be16(th + 16, offload_l4_checksum(out, t->family, PKT_PROTO_TCP, th, len - t->l4_off));
        return len;
}

/* ------------------------------------------------------------ inbound */

void offload_gro_reset(OffloadGro *g) {
        g->n = 0;
        g->n_open = 0;
        g->n_open_next = 0;
}

/* A TCP segment GRO may join: IPv4 without options or fragmentation, or
 * IPv6 with TCP right after the fixed header; only ACK and PSH set; some
 * payload; a valid checksum. Returns the payload offset, or 0. */
static size_t joinable(const uint8_t *p, size_t len) {
        size_t l4;
        if (len < PKT_IPV4_HDR_LEN + TCP_HDR_MIN)
                return 0;
        if (p[0] == 0x45) {
                if (p[9] != PKT_PROTO_TCP || pkt_load_be16(p + 2) != len || (pkt_load_be16(p + 6) & 0x3fff))
                        return 0;
                l4 = PKT_IPV4_HDR_LEN;
        } else if (p[0] >> 4 == 6) {
                if (len < PKT_IPV6_HDR_LEN + TCP_HDR_MIN || p[6] != PKT_PROTO_TCP ||
                    pkt_load_be16(p + 4) != len - PKT_IPV6_HDR_LEN)
                        return 0;
                l4 = PKT_IPV6_HDR_LEN;
        } else {
                return 0;
        }
        size_t thl = (size_t) (p[l4 + 12] >> 4) * 4;
        if (thl < TCP_HDR_MIN || thl >= len - l4)
                return 0;
        if ((p[l4 + 13] & (uint8_t) ~TCP_PSH) != TCP_ACK)
                return 0;
        int family = l4 == PKT_IPV4_HDR_LEN ? AF_INET : AF_INET6;
        if (pkt_csum_fold(pkt_csum_add(pseudo_sum(p, family, PKT_PROTO_TCP, len - l4), p + l4, len - l4)) != 0xffff)
                return 0;
        return l4 + thl;
}

/* Whether b may follow a (the group's last packet) in one super packet:
 * the same connection and every header field the same but the lengths, the
 * IPv4 identification and checksum, the sequence number (which must go on
 * where a's payload ends) and the TCP checksum and PSH. */
static bool follows(const OffloadGroItem *a, const OffloadGroItem *b) {
        const uint8_t *p = a->data, *q = b->data;
        if (a->payload_off != b->payload_off)
                return false;
        size_t l4;
        if (p[0] == 0x45) {
                if (q[0] != 0x45 || p[1] != q[1] || memcmp(p + 6, q + 6, 4) != 0 || memcmp(p + 12, q + 12, 8) != 0)
                        return false;
                l4 = PKT_IPV4_HDR_LEN;
        } else {
                if (q[0] >> 4 != 6 || memcmp(p, q, 4) != 0 || memcmp(p + 6, q + 6, 34) != 0)
                        return false;
                l4 = PKT_IPV6_HDR_LEN;
        }
        const uint8_t *s = p + l4, *t = q + l4;
        size_t a_payload = a->len - a->payload_off;
        return memcmp(s, t, 4) == 0 &&                                  /* ports */
               pkt_load_be32(t + 4) == pkt_load_be32(s + 4) + (uint32_t) a_payload &&
               memcmp(s + 8, t + 8, 5) == 0 &&                          /* ack, data offset */
               (s[13] & TCP_PSH) == 0 &&
               memcmp(s + 14, t + 14, 2) == 0 &&                        /* window */
               memcmp(s + 18, t + 18, a->payload_off - l4 - 18) == 0;   /* urgent pointer, options */
}

/* Of a joinable packet. */
static uint8_t tcp_flags(const OffloadGroItem *it) {
        return it->data[(it->data[0] == 0x45 ? PKT_IPV4_HDR_LEN : PKT_IPV6_HDR_LEN) + 13];
}

static bool same_flow(const OffloadGroItem *a, const OffloadGroItem *b) {
        const uint8_t *p = a->data, *q = b->data;
        if ((p[0] >> 4) != (q[0] >> 4))
                return false;
        if (p[0] >> 4 == 4)
                return memcmp(p + 12, q + 12, 8) == 0 && memcmp(p + 20, q + 20, 4) == 0;
        return memcmp(p + 8, q + 8, 32) == 0 && memcmp(p + 40, q + 40, 4) == 0;
}

void offload_gro_add(OffloadGro *g, uint8_t *data, size_t len, unsigned tag) {
        unsigned i = g->n++;
        OffloadGroItem *it = &g->items[i];
        *it = (OffloadGroItem) { .data = data, .len = len, .next = OFFLOAD_GRO_MAX, .tag = tag, .head = true };
        it->payload_off = joinable(data, len);
        if (!it->payload_off)
                return;
        size_t payload = len - it->payload_off;
        for (unsigned o = 0; o < g->n_open; o++) {
                OffloadGroOpen *open = &g->open[o];
                OffloadGroItem *last = &g->items[open->tail];
                if (!same_flow(last, it))
                        continue;
                if (open->closed || payload > open->mss || open->total + payload > OFFLOAD_MAX_PACKET ||
                    !follows(last, it)) {
                        /* The connection goes on in a new group. */
                        *open = (OffloadGroOpen) { .head = i, .tail = i, .total = len, .mss = payload };
                } else {
                        last->next = i;
                        it->head = false;
                        open->tail = i;
                        open->total += payload;
                }
                open->closed = payload < open->mss || (tcp_flags(it) & TCP_PSH);
                return;
        }
        OffloadGroOpen *open;
        if (g->n_open < OFFLOAD_GRO_OPEN) {
                open = &g->open[g->n_open++];
        } else {
                open = &g->open[g->n_open_next];
                g->n_open_next = (g->n_open_next + 1) % OFFLOAD_GRO_OPEN;
        }
        *open = (OffloadGroOpen) { .head = i, .tail = i, .total = len, .mss = payload,
                                   .closed = (tcp_flags(it) & TCP_PSH) != 0 };
}

unsigned offload_gro_prepare(OffloadGro *g, unsigned h, struct virtio_net_hdr *vh, struct iovec *iov,
                             unsigned *ret_packets) {
        OffloadGroItem *first = &g->items[h];
        *vh = (struct virtio_net_hdr) { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
        iov[0] = (struct iovec) { vh, sizeof *vh };
        iov[1] = (struct iovec) { first->data, first->len };
        unsigned n = 2, packets = 1;
        if (first->next == OFFLOAD_GRO_MAX) {
                *ret_packets = 1;
                return n;
        }
        uint8_t *p = first->data;
        bool v4 = p[0] == 0x45;
        size_t l4 = v4 ? PKT_IPV4_HDR_LEN : PKT_IPV6_HDR_LEN;
        size_t total = first->len;
        bool psh = false;
        for (unsigned j = first->next; j != OFFLOAD_GRO_MAX; j = g->items[j].next) {
                const OffloadGroItem *it = &g->items[j];
                iov[n++] = (struct iovec) { it->data + it->payload_off, it->len - it->payload_off };
                total += it->len - it->payload_off;
                psh = (it->data[l4 + 13] & TCP_PSH) != 0;
                packets++;
        }
        if (v4) {
                pkt_store_be16(p + 2, (uint16_t) total);
                pkt_ipv4_set_checksum(p, l4);
        } else {
                pkt_store_be16(p + 4, (uint16_t) (total - l4));
        }
        if (psh)
                p[l4 + 13] |= TCP_PSH;
        /* The stack completes the checksum from the pseudo-header sum. */
        pkt_store_be16(p + l4 + 16, pkt_csum_fold(pseudo_sum(p, v4 ? AF_INET : AF_INET6, PKT_PROTO_TCP, total - l4)));
        *vh = (struct virtio_net_hdr) {
                .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                .gso_type = v4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
                .hdr_len = htole16((uint16_t) first->payload_off),
                .gso_size = htole16((uint16_t) (first->len - first->payload_off)),
                .csum_start = htole16((uint16_t) l4),
                .csum_offset = htole16(16),
        };
        *ret_packets = packets;
        return n;
}

/* ------------------------------------------------------------ UDP GRO */

unsigned offload_udp_segments(size_t len, int gso_size) {
        if (gso_size <= 0 || len == 0 || (size_t) gso_size > len)
                return 0;
        size_t seg = (size_t) gso_size;
        return (unsigned) (len / seg + (len % seg != 0));
}
