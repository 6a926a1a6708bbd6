/* SPDX-License-Identifier: ISC */
/* services/filterd/offload.c: the checksum against a plain reference; TCP
 * super packets from the TUN device cut into the segments the wire carries
 * (lengths, identifications, sequence numbers, flags, checksums, payload);
 * checksums the stack left partial; refusals; and the join of decapsulated
 * segments back into one super packet, only when GRO would join them. */
#include <endian.h>
#include <glib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "offload.h"

#define MAXPKT (OFFLOAD_MAX_PACKET + 64)

/* ------------------------------------------------------------ helpers */

static uint16_t ref_csum(const uint8_t *p, size_t len) {
        uint32_t s = 0;
        for (size_t i = 0; i < len; i++)
                s += i % 2 ? p[i] : (uint32_t) p[i] << 8;
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return (uint16_t) s;
}

static bool l4_valid(const uint8_t *ip, int family, uint8_t proto, const uint8_t *l4, size_t l4_len) {
        /* With the checksum in place, the sum over everything is all ones:
         * the header's own checksum, computed again, comes out 0. */
        return offload_l4_checksum(ip, family, proto, l4, l4_len) == 0;
}

typedef struct Tcp {
        int family;
        uint32_t seq, ack;
        uint8_t flags;
        uint8_t ttl;
        uint16_t id;
        uint16_t sport;          /* 0: 40000 */
        size_t opt_len;          /* TCP options, a multiple of 4 */
        size_t ip_opt_len;       /* IPv4 options, a multiple of 4 */
} Tcp;

static size_t l4_off(const Tcp *t) {
        return t->family == AF_INET ? 20 + t->ip_opt_len : 40;
}

/* A TCP packet with payload bytes payload[0..n), valid checksums. */
static size_t tcp_packet(uint8_t *out, const Tcp *t, const uint8_t *payload, size_t n) {
        size_t l4 = l4_off(t), thl = 20 + t->opt_len, len = l4 + thl + n;
        memset(out, 0, l4 + thl);
        if (t->family == AF_INET) {
                out[0] = (uint8_t) (0x40 | (l4 / 4));
                pkt_store_be16(out + 2, (uint16_t) len);
                pkt_store_be16(out + 4, t->id);
                out[6] = 0x40; /* DF */
                out[8] = t->ttl ? t->ttl : 64;
                out[9] = PKT_PROTO_TCP;
                memcpy(out + 12, "\x0a\x01\x00\x01\x0a\x02\x00\x01", 8);
                memset(out + 20, 1, t->ip_opt_len); /* NOP options */
                pkt_ipv4_set_checksum(out, l4);
        } else {
                out[0] = 0x60;
                pkt_store_be16(out + 4, (uint16_t) (len - 40));
                out[6] = PKT_PROTO_TCP;
                out[7] = t->ttl ? t->ttl : 64;
                out[8] = 0xfd;
                out[23] = 1;
                out[24] = 0xfd;
                out[25] = 2;
                out[39] = 1;
        }
        uint8_t *th = out + l4;
        pkt_store_be16(th, t->sport ? t->sport : 40000);
        pkt_store_be16(th + 2, 5201);
        pkt_store_be32(th + 4, t->seq);
        pkt_store_be32(th + 8, t->ack);
        th[12] = (uint8_t) ((thl / 4) << 4);
        th[13] = t->flags;
        pkt_store_be16(th + 14, 512);
        for (size_t i = 0; i < t->opt_len; i++)
                th[20 + i] = i % 4 == 0 ? 1 : (uint8_t) (0x10 + i); /* NOP then bytes standing for a timestamp */
        memcpy(th + thl, payload, n);
        pkt_store_be16(th + 16, offload_l4_checksum(out, t->family, PKT_PROTO_TCP, th, thl + n));
        return len;
}

static uint8_t *pattern(size_t n, uint32_t seed) {
        uint8_t *p = g_malloc(n);
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed + i * 7 + (i >> 8));
        return p;
}

/* A super packet as the stack hands it over: the TCP checksum field holds
 * the pseudo-header sum only. */
static size_t super_packet(uint8_t *out, const Tcp *t, const uint8_t *payload, size_t n, size_t mss,
                           struct virtio_net_hdr *vh) {
        size_t len = tcp_packet(out, t, payload, n), l4 = l4_off(t);
        uint8_t *th = out + l4;
        uint16_t full = offload_l4_checksum(out, t->family, PKT_PROTO_TCP, th, len - l4);
        th[16] = th[17] = 0;
        /* pseudo = ~full - sum(tcp segment with a zero checksum field) */
        uint16_t seg = ref_csum(th, len - l4);
        uint32_t pseudo = (uint16_t) ~full + (uint32_t) (uint16_t) ~seg;
        while (pseudo >> 16)
                pseudo = (pseudo & 0xffff) + (pseudo >> 16);
        pkt_store_be16(th + 16, (uint16_t) pseudo);
        *vh = (struct virtio_net_hdr) {
                .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                .gso_type = t->family == AF_INET ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6,
                .hdr_len = htole16((uint16_t) (l4 + 20 + t->opt_len)),
                .gso_size = htole16((uint16_t) mss),
                .csum_start = htole16((uint16_t) l4),
                .csum_offset = htole16(16),
        };
        return len;
}

/* ------------------------------------------------------------ checksum */

static void test_csum(void) {
        GRand *r = g_rand_new_with_seed(7);
        uint8_t buf[3000];
        for (int round = 0; round < 2000; round++) {
                size_t len = (size_t) g_rand_int_range(r, 0, sizeof buf);
                for (size_t i = 0; i < len; i++)
                        buf[i] = (uint8_t) g_rand_int(r);
                if (round % 3 == 0)
                        memset(buf, 0xff, len);
                g_assert_cmphex(pkt_csum_fold(pkt_csum_add(0, buf, len)), ==, ref_csum(buf, len));
                /* In pieces that start at even offsets, as the callers use it. */
                size_t cut = len / 2 * 2 > 0 ? (size_t) g_rand_int_range(r, 0, (gint32) (len / 2 + 1)) * 2 : 0;
                if (cut > len)
                        cut = len / 2 * 2;
                uint32_t s = pkt_csum_add(0, buf, cut);
                s = pkt_csum_add(s, buf + cut, len - cut);
                g_assert_cmphex(pkt_csum_fold(s), ==, ref_csum(buf, len));
        }
        /* Unaligned starts. */
        for (size_t off = 0; off < 8; off++) {
                for (size_t i = 0; i < 100; i++)
                        buf[off + i] = (uint8_t) (i * 31);
                g_assert_cmphex(pkt_csum_fold(pkt_csum_add(0, buf + off, 100)), ==, ref_csum(buf + off, 100));
        }
        g_rand_free(r);
}

/* ------------------------------------------------------------ outbound */

static void check_segments(int family, size_t payload_len, size_t mss, size_t opt_len) {
        uint8_t *in = g_malloc(MAXPKT), *seg = g_malloc(MAXPKT);
        uint8_t *payload = pattern(payload_len, (uint32_t) (payload_len + mss));
        Tcp t = { .family = family, .seq = 0xfffff000u, .ack = 77, .id = 0xfffe,
                  .flags = 0x10 | 0x08 | 0x01 | 0x80, /* ACK PSH FIN CWR */
                  .opt_len = opt_len };
        struct virtio_net_hdr vh;
        size_t len = super_packet(in, &t, payload, payload_len, mss, &vh);
        OffloadTso tso;
        g_assert_cmpint(offload_tso_plan(&vh, in, len, &tso), ==, PKT_OK);
        unsigned want = (unsigned) ((payload_len + mss - 1) / mss);
        g_assert_cmpuint(tso.count, ==, want ? want : 1);
        size_t l4 = l4_off(&t), hdr = l4 + 20 + opt_len, got_payload = 0;
        for (unsigned k = 0; k < tso.count; k++) {
                size_t n = offload_tso_segment(&tso, in, k, seg);
                size_t plen = n - hdr;
                g_assert_cmpuint(plen, ==, k + 1 < tso.count ? mss : payload_len - (size_t) k * mss);
                PktIpInfo ip;
                g_assert_cmpint(pkt_ip_parse(seg, n, &ip), ==, PKT_OK);
                g_assert_cmpuint(ip.total_len, ==, n);
                if (family == AF_INET) {
                        g_assert_cmphex(ref_csum(seg, l4), ==, 0xffff);
                        g_assert_cmphex(pkt_load_be16(seg + 4), ==, (uint16_t) (0xfffe + k));
                        g_assert_cmphex(seg[6], ==, 0x40);
                }
                const uint8_t *th = seg + l4;
                g_assert_true(l4_valid(seg, family, PKT_PROTO_TCP, th, n - l4));
                g_assert_cmphex(pkt_load_be32(th + 4), ==, (uint32_t) (0xfffff000u + k * mss));
                g_assert_cmphex(pkt_load_be32(th + 8), ==, 77);
                bool last = k + 1 == tso.count, first = k == 0;
                g_assert_cmphex(th[13], ==, 0x10 | (last ? 0x09 : 0) | (first ? 0x80 : 0));
                g_assert_cmpmem(th + 20, opt_len, in + l4 + 20, opt_len);
                g_assert_cmpmem(seg + hdr, plen, payload + got_payload, plen);
                got_payload += plen;
        }
        g_assert_cmpuint(got_payload, ==, payload_len);
        g_free(in);
        g_free(seg);
        g_free(payload);
}

static void test_tso(void) {
        check_segments(AF_INET, 10000, 1448, 12);
        check_segments(AF_INET, 1448 * 44, 1448, 12);  /* exact multiple */
        check_segments(AF_INET, 65535 - 20 - 20, 1460, 0);
        check_segments(AF_INET, 1, 1448, 0);
        check_segments(AF_INET6, 10000, 1428, 12);
        check_segments(AF_INET6, 65535 - 20, 536, 0);
        check_segments(AF_INET6, 7, 100, 8);
}

/* No GSO, checksum left partial: completed in place; the plan is the
 * packet itself. */
static void test_partial_csum(void) {
        uint8_t pkt[200] = { 0 };
        /* IPv4 UDP, 100 bytes of payload. */
        size_t len = 20 + 8 + 100;
        pkt[0] = 0x45;
        pkt_store_be16(pkt + 2, (uint16_t) len);
        pkt[8] = 64;
        pkt[9] = PKT_PROTO_UDP;
        memcpy(pkt + 12, "\x0a\x01\x00\x01\x0a\x02\x00\x01", 8);
        pkt_ipv4_set_checksum(pkt, 20);
        pkt_store_be16(pkt + 20, 1000);
        pkt_store_be16(pkt + 22, 2000);
        pkt_store_be16(pkt + 24, 108);
        for (int i = 0; i < 100; i++)
                pkt[28 + i] = (uint8_t) (i * 3);
        /* What the stack leaves: the pseudo-header sum in the field. */
        uint8_t pseudo[12];
        memcpy(pseudo, pkt + 12, 8);
        pseudo[8] = 0;
        pseudo[9] = PKT_PROTO_UDP;
        pkt_store_be16(pseudo + 10, 108);
        pkt_store_be16(pkt + 26, ref_csum(pseudo, 12));
        struct virtio_net_hdr vh = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_NONE,
                                     .csum_start = htole16(20), .csum_offset = htole16(6) };
        OffloadTso tso;
        g_assert_cmpint(offload_tso_plan(&vh, pkt, len, &tso), ==, PKT_OK);
        g_assert_cmpuint(tso.count, ==, 1);
        g_assert_true(l4_valid(pkt, AF_INET, PKT_PROTO_UDP, pkt + 20, 108));
        uint8_t out[200];
        g_assert_cmpuint(offload_tso_segment(&tso, pkt, 0, out), ==, len);
        g_assert_cmpmem(out, len, pkt, len);

        /* Where the checksum would go is outside the packet. */
        vh.csum_offset = htole16(200);
        g_assert_cmpint(offload_tso_plan(&vh, pkt, len, &tso), ==, PKT_DROP_BAD_OUTER);
        vh.csum_start = htole16((uint16_t) len);
        vh.csum_offset = 0;
        g_assert_cmpint(offload_tso_plan(&vh, pkt, len, &tso), ==, PKT_DROP_BAD_OUTER);
        /* Without the flag, nothing is touched. */
        vh = (struct virtio_net_hdr) { .gso_type = VIRTIO_NET_HDR_GSO_NONE };
        uint8_t copy[200];
        memcpy(copy, pkt, len);
        g_assert_cmpint(offload_tso_plan(&vh, pkt, len, &tso), ==, PKT_OK);
        g_assert_cmpmem(copy, len, pkt, len);
}

static void test_tso_refused(void) {
        uint8_t *in = g_malloc(MAXPKT);
        uint8_t *payload = pattern(5000, 1);
        Tcp t = { .family = AF_INET, .seq = 1, .flags = 0x10 };
        struct virtio_net_hdr vh, good;
        size_t len = super_packet(in, &t, payload, 5000, 1448, &good);
        OffloadTso tso;

        vh = good;
        vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6; /* says IPv6, is IPv4 */
        g_assert_cmpint(offload_tso_plan(&vh, in, len, &tso), ==, PKT_DROP_BAD_OUTER);
        vh = good;
        vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;
        g_assert_cmpint(offload_tso_plan(&vh, in, len, &tso), ==, PKT_DROP_UNSUPPORTED);
        vh = good;
        vh.gso_size = 0;
        g_assert_cmpint(offload_tso_plan(&vh, in, len, &tso), ==, PKT_DROP_BAD_OUTER);
        /* Shorter than its IP header says. */
        g_assert_cmpint(offload_tso_plan(&good, in, len - 1, &tso), ==, PKT_DROP_BAD_LENGTH);
        /* A TCP data offset past the end. */
        uint8_t *copy = g_memdup2(in, len);
        copy[20 + 12] = 0xf0;
        g_assert_cmpint(offload_tso_plan(&good, copy, 20 + 40, &tso), !=, PKT_OK);
        /* Not TCP. */
        memcpy(copy, in, len);
        copy[9] = PKT_PROTO_UDP;
        pkt_ipv4_set_checksum(copy, 20);
        g_assert_cmpint(offload_tso_plan(&good, copy, len, &tso), ==, PKT_DROP_BAD_OUTER);
        /* A fragment. */
        memcpy(copy, in, len);
        copy[6] = 0x20;
        pkt_ipv4_set_checksum(copy, 20);
        g_assert_cmpint(offload_tso_plan(&good, copy, len, &tso), ==, PKT_DROP_BAD_OUTER);
        /* Too short for a TCP header. */
        g_assert_cmpint(offload_tso_plan(&good, in, 30, &tso), !=, PKT_OK);
        g_free(copy);
        g_free(in);
        g_free(payload);
}

/* ------------------------------------------------------------ inbound */

typedef struct Batch {
        uint8_t *mem[OFFLOAD_GRO_MAX];
        size_t len[OFFLOAD_GRO_MAX];
        unsigned n;
} Batch;

static void batch_add(Batch *b, const Tcp *t, const uint8_t *payload, size_t n) {
        b->mem[b->n] = g_malloc(MAXPKT);
        b->len[b->n] = tcp_packet(b->mem[b->n], t, payload, n);
        b->n++;
}

/* Adds a packet and moves t's sequence number past its payload. */
static void add_next(Batch *b, Tcp *t, const uint8_t *payload, size_t n) {
        batch_add(b, t, payload, n);
        t->seq += (uint32_t) n;
}

static void batch_free(Batch *b) {
        for (unsigned i = 0; i < b->n; i++)
                g_free(b->mem[i]);
        b->n = 0;
}

/* Feeds the batch; returns the number of groups, and for each group how
 * many packets it joins (in order). */
static unsigned join(OffloadGro *g, Batch *b, unsigned *packets) {
        offload_gro_reset(g);
        for (unsigned i = 0; i < b->n; i++)
                offload_gro_add(g, b->mem[i], b->len[i], 0);
        unsigned groups = 0;
        for (unsigned h = 0; h < g->n; h++) {
                if (!g->items[h].head)
                        continue;
                unsigned count = 0;
                for (unsigned j = h; j != OFFLOAD_GRO_MAX; j = g->items[j].next)
                        count++;
                packets[groups++] = count;
        }
        return groups;
}

/* Segments joined back become the super packet they were cut from, with
 * what the kernel needs to finish it. */
static void check_round_trip(int family, size_t payload_len, size_t mss) {
        uint8_t *in = g_malloc(MAXPKT), *flat = g_malloc(MAXPKT + 64);
        uint8_t *payload = pattern(payload_len, 3);
        Tcp t = { .family = family, .seq = 1000, .ack = 5, .id = 9, .flags = 0x18, .opt_len = 12 };
        struct virtio_net_hdr vh;
        size_t len = super_packet(in, &t, payload, payload_len, mss, &vh);
        OffloadTso tso;
        g_assert_cmpint(offload_tso_plan(&vh, in, len, &tso), ==, PKT_OK);
        g_assert_cmpuint(tso.count, <=, OFFLOAD_GRO_MAX);
        Batch b = { .n = 0 };
        for (unsigned k = 0; k < tso.count; k++) {
                b.mem[k] = g_malloc(MAXPKT);
                b.len[k] = offload_tso_segment(&tso, in, k, b.mem[k]);
                b.n++;
        }
        OffloadGro *g = g_new0(OffloadGro, 1);
        unsigned packets[OFFLOAD_GRO_MAX];
        g_assert_cmpuint(join(g, &b, packets), ==, 1);
        g_assert_cmpuint(packets[0], ==, tso.count);

        struct virtio_net_hdr out;
        struct iovec iov[OFFLOAD_GRO_MAX + 1];
        unsigned n_packets, n = offload_gro_prepare(g, 0, &out, iov, &n_packets);
        g_assert_cmpuint(n_packets, ==, tso.count);
        g_assert_true(iov[0].iov_base == &out);
        size_t flat_len = 0;
        for (unsigned i = 1; i < n; i++) {
                memcpy(flat + flat_len, iov[i].iov_base, iov[i].iov_len);
                flat_len += iov[i].iov_len;
        }
        g_assert_cmpuint(flat_len, ==, len);
        size_t l4 = l4_off(&t);
        if (tso.count > 1) {
                g_assert_cmpuint(out.flags, ==, VIRTIO_NET_HDR_F_NEEDS_CSUM);
                g_assert_cmpuint(out.gso_type, ==,
                                 family == AF_INET ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6);
                g_assert_cmpuint(le16toh(out.gso_size), ==, mss);
                g_assert_cmpuint(le16toh(out.hdr_len), ==, l4 + 32);
                g_assert_cmpuint(le16toh(out.csum_start), ==, l4);
                g_assert_cmpuint(le16toh(out.csum_offset), ==, 16);
                /* The partial checksum, finished as the kernel does, is valid. */
                uint16_t c = (uint16_t) ~pkt_csum_fold(pkt_csum_add(0, flat + l4, flat_len - l4));
                pkt_store_be16(flat + l4 + 16, c);
        } else {
                g_assert_cmpuint(out.gso_type, ==, VIRTIO_NET_HDR_GSO_NONE);
                g_assert_cmpuint(out.flags, ==, 0);
        }
        g_assert_true(l4_valid(flat, family, PKT_PROTO_TCP, flat + l4, flat_len - l4));
        if (family == AF_INET)
                g_assert_cmphex(ref_csum(flat, 20), ==, 0xffff);
        /* Byte for byte the super packet, its finished checksum included
         * (the IPv4 identification is the first segment's, as the original). */
        uint8_t *want = g_malloc(MAXPKT);
        g_assert_cmpuint(tcp_packet(want, &t, payload, payload_len), ==, len);
        g_assert_cmpmem(flat, flat_len, want, len);
        g_free(want);
        g_free(g);
        batch_free(&b);
        g_free(in);
        g_free(flat);
        g_free(payload);
}

static void test_gro_round_trip(void) {
        check_round_trip(AF_INET, 20000, 1448);
        check_round_trip(AF_INET, 65535 - 20 - 32, 1448);
        check_round_trip(AF_INET6, 30000, 1428);
        check_round_trip(AF_INET, 900, 1448); /* one segment: written as it is */
}

static void test_gro_rules(void) {
        OffloadGro *g = g_new0(OffloadGro, 1);
        uint8_t *payload = pattern(1000, 5);
        unsigned packets[OFFLOAD_GRO_MAX];
        Batch b = { .n = 0 };
        Tcp t = { .family = AF_INET, .seq = 1, .flags = 0x10, .opt_len = 12 };

        /* A gap in the sequence numbers starts a new group. */
        for (int i = 0; i < 3; i++, t.seq += 1000)
                batch_add(&b, &t, payload, 1000);
        t.seq += 1;
        batch_add(&b, &t, payload, 1000);
        g_assert_cmpuint(join(g, &b, packets), ==, 2);
        g_assert_cmpuint(packets[0], ==, 3);
        g_assert_cmpuint(packets[1], ==, 1);
        batch_free(&b);

        /* A bad checksum is not joined and ends nothing else; the next
         * packet cannot follow the group's last one, so it starts anew. */
        t.seq = 1;
        for (int i = 0; i < 5; i++)
                add_next(&b, &t, payload, 1000);
        b.mem[2][b.len[2] - 1] ^= 1;
        g_assert_cmpuint(join(g, &b, packets), ==, 3);
        g_assert_cmpuint(packets[0], ==, 2);
        g_assert_cmpuint(packets[1], ==, 1);
        g_assert_cmpuint(packets[2], ==, 2);
        batch_free(&b);

        /* PSH ends a group; so does a segment shorter than the first. */
        t.seq = 1;
        add_next(&b, &t, payload, 1000);
        t.flags = 0x18;
        add_next(&b, &t, payload, 1000);
        t.flags = 0x10;
        add_next(&b, &t, payload, 500);
        add_next(&b, &t, payload, 500);
        add_next(&b, &t, payload, 1000);
        g_assert_cmpuint(join(g, &b, packets), ==, 3);
        g_assert_cmpuint(packets[0], ==, 2);
        g_assert_cmpuint(packets[1], ==, 2);
        g_assert_cmpuint(packets[2], ==, 1); /* larger than the group's first: a group of its own */
        batch_free(&b);

        /* Two connections interleaved: two groups, each in order. */
        Tcp u = t;
        u.seq = 50000;
        u.sport = 40001;
        t.seq = 1;
        for (int i = 0; i < 4; i++, t.seq += 1000, u.seq += 1000) {
                batch_add(&b, &t, payload, 1000);
                batch_add(&b, &u, payload, 1000);
        }
        g_assert_cmpuint(join(g, &b, packets), ==, 2);
        g_assert_cmpuint(packets[0], ==, 4);
        g_assert_cmpuint(packets[1], ==, 4);
        batch_free(&b);

        /* Headers that differ but for the sequence number are not joined:
         * TTL, acknowledgment, window, options. SYN, FIN, no payload and
         * IPv4 options are never joined. */
        t.seq = 1;
        add_next(&b, &t, payload, 1000);
        t.ttl = 63;
        add_next(&b, &t, payload, 1000);
        t.ack = 2;
        add_next(&b, &t, payload, 1000);
        t.opt_len = 8;
        add_next(&b, &t, payload, 1000);
        t.flags = 0x11;
        add_next(&b, &t, payload, 1000);
        t.flags = 0x10;
        add_next(&b, &t, payload, 0);
        t.ip_opt_len = 4;
        add_next(&b, &t, payload, 1000);
        add_next(&b, &t, payload, 1000);
        g_assert_cmpuint(join(g, &b, packets), ==, 8);
        /* The window too. */
        batch_free(&b);
        t = (Tcp) { .family = AF_INET6, .seq = 1, .flags = 0x10 };
        batch_add(&b, &t, payload, 1000);
        t.seq += 1000;
        batch_add(&b, &t, payload, 1000);
        pkt_store_be16(b.mem[1] + 40 + 14, 600);
        pkt_store_be16(b.mem[1] + 40 + 16, 0);
        pkt_store_be16(b.mem[1] + 40 + 16,
                       offload_l4_checksum(b.mem[1], AF_INET6, PKT_PROTO_TCP, b.mem[1] + 40, b.len[1] - 40));
        g_assert_cmpuint(join(g, &b, packets), ==, 2);
        batch_free(&b);

        /* Not TCP, or not IP at all: each on its own. */
        uint8_t junk[64] = { 0x45 };
        b.mem[0] = g_memdup2(junk, sizeof junk);
        b.len[0] = sizeof junk;
        b.mem[1] = g_memdup2(junk, 3);
        b.len[1] = 3;
        b.n = 2;
        g_assert_cmpuint(join(g, &b, packets), ==, 2);
        batch_free(&b);

        /* More connections than are followed at once: still correct, each
         * packet written once. */
        for (unsigned i = 0; i < OFFLOAD_GRO_MAX; i++) {
                Tcp v = { .family = AF_INET, .seq = 1 + (i / 20) * 100, .flags = 0x10,
                          .sport = (uint16_t) (1000 + i % 20) }; /* 20 connections */
                batch_add(&b, &v, payload, 100);
        }
        unsigned groups = join(g, &b, packets), total = 0;
        for (unsigned i = 0; i < groups; i++)
                total += packets[i];
        g_assert_cmpuint(total, ==, OFFLOAD_GRO_MAX);
        g_assert_true(offload_gro_full(g));
        batch_free(&b);
        g_free(payload);
        g_free(g);
}

/* UDP GRO: how a joined datagram is cut; every octet in one segment. */
static void test_udp_segments(void) {
        /* 0: no size; a size larger than the datagram or below 1 cannot be
         * right (the kernel gives one only for several segments). */
        g_assert_cmpuint(offload_udp_segments(1400, 0), ==, 0);
        g_assert_cmpuint(offload_udp_segments(1400, -1), ==, 0);
        g_assert_cmpuint(offload_udp_segments(1400, 1401), ==, 0);
        g_assert_cmpuint(offload_udp_segments(0, 1400), ==, 0);
        g_assert_cmpuint(offload_udp_segments(1400, G_MAXINT), ==, 0);
        /* One segment: the datagram itself. */
        g_assert_cmpuint(offload_udp_segments(1400, 1400), ==, 1);
        /* An exact multiple, and a shorter last segment. */
        g_assert_cmpuint(offload_udp_segments(44 * 1400, 1400), ==, 44);
        g_assert_cmpuint(offload_udp_segments(43 * 1400 + 1, 1400), ==, 44);
        g_assert_cmpuint(offload_udp_segments(2 * 1400 - 1, 1400), ==, 2);
        /* The smallest size: one octet each, 64 KiB of them at most. */
        g_assert_cmpuint(offload_udp_segments(65536, 1), ==, 65536);
        /* Whatever the sizes, the segments cover the datagram exactly. */
        for (size_t len = 1; len <= 3000; len += 7)
                for (int size = 1; size <= 3001; size += 13) {
                        unsigned n = offload_udp_segments(len, size);
                        if ((size_t) size > len) {
                                g_assert_cmpuint(n, ==, 0);
                                continue;
                        }
                        g_assert_cmpuint((size_t) (n - 1) * (size_t) size, <, len);
                        g_assert_cmpuint((size_t) n * (size_t) size, >=, len);
                }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/offload/csum", test_csum);
        g_test_add_func("/offload/tso", test_tso);
        g_test_add_func("/offload/partial-csum", test_partial_csum);
        g_test_add_func("/offload/tso-refused", test_tso_refused);
        g_test_add_func("/offload/gro-round-trip", test_gro_round_trip);
        g_test_add_func("/offload/gro-rules", test_gro_rules);
        g_test_add_func("/offload/udp-segments", test_udp_segments);
        return g_test_run();
}
