/* SPDX-License-Identifier: ISC */
/* The TUN offloads of filterd (services/filterd/offload.c), on packets the
 * local stack hands over and on packets the peer sent (untrusted: any
 * bytes).
 *
 * Input:
 *   byte 0   0x01: inbound, else outbound
 *   outbound:
 *     10 bytes  the virtio-net header: flags, GSO type, header length,
 *               GSO size, checksum start and offset (16-bit little-endian)
 *     rest      the packet read from the TUN device
 *   inbound:
 *     records   2-byte big-endian length, then that many bytes: the
 *               decapsulated packets of one batch (at most OFFLOAD_GRO_MAX)
 *
 * Checks besides the sanitizers (every packet lies in a heap block of
 * exactly its size):
 *   outbound: a result is PKT_OK or a drop reason; each segment is an IP
 *   packet of exactly its length with a valid TCP checksum; the segments'
 *   payloads, in order, are the super packet's payload.
 *   inbound: every packet is written once, in one group; a group of several
 *   is a TCP super packet whose IP header gives its length, whose segments
 *   but the last are as long as the GSO size says, and whose checksum,
 *   finished as the kernel finishes it, is valid. */
#include <endian.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "fuzz.h"
#include "offload.h"

static bool tcp_valid(const uint8_t *p, size_t len, const PktIpInfo *ip) {
        return offload_l4_checksum(p, ip->family, PKT_PROTO_TCP, p + ip->hdr_len, len - ip->hdr_len) == 0;
}

static void outbound(FuzzInput *in) {
        struct virtio_net_hdr vh;
        vh.flags = fuzz_u8(in);
        vh.gso_type = fuzz_u8(in);
        uint16_t f[4];
        for (int i = 0; i < 4; i++)
                f[i] = (uint16_t) (fuzz_u8(in) | fuzz_u8(in) << 8);
        vh.hdr_len = htole16(f[0]);
        vh.gso_size = htole16(f[1]);
        vh.csum_start = htole16(f[2]);
        vh.csum_offset = htole16(f[3]);
        if (in->len > OFFLOAD_MAX_PACKET)
                return;
        size_t len = in->len;
        /* A block of exactly the packet's size (one octet for none). */
        uint8_t *p = g_malloc(len ? len : 1);
        memcpy(p, in->p, len);
        OffloadTso tso;
        PktDrop d = offload_tso_plan(&vh, p, len, &tso);
        FUZZ_CHECK((unsigned) d < _PKT_DROP_MAX, "offload_tso_plan: %d", (int) d);
        if (d != PKT_OK) {
                g_free(p);
                return;
        }
        FUZZ_CHECK(tso.count >= 1, "no segment");
        if (tso.mss == 0) {
                FUZZ_CHECK(tso.count == 1 && tso.hdr_len == len, "a plain packet is one segment of itself");
                uint8_t *out = g_malloc(len ? len : 1);
                FUZZ_CHECK(offload_tso_segment(&tso, p, 0, out) == len && memcmp(out, p, len) == 0,
                           "a plain packet comes out as it went in");
                g_free(out);
                g_free(p);
                return;
        }
        FUZZ_CHECK(tso.hdr_len <= len && tso.payload_len <= len - tso.hdr_len, "plan beyond the packet");
        FUZZ_CHECK(tso.count == (tso.payload_len ? (tso.payload_len + tso.mss - 1) / tso.mss : 1), "count");
        size_t room = tso.hdr_len + tso.mss;
        uint8_t *seg = g_malloc(room);
        size_t at = 0;
        for (unsigned k = 0; k < tso.count; k++) {
                size_t n = offload_tso_segment(&tso, p, k, seg);
                FUZZ_CHECK(n >= tso.hdr_len && n <= room, "segment %u: %zu bytes", k, n);
                PktIpInfo ip;
                FUZZ_CHECK(pkt_ip_parse(seg, n, &ip) == PKT_OK && ip.total_len == n && ip.proto == PKT_PROTO_TCP,
                           "segment %u is not the IP packet it should be", k);
                FUZZ_CHECK(tcp_valid(seg, n, &ip), "segment %u: TCP checksum", k);
                FUZZ_CHECK(memcmp(seg + tso.hdr_len, p + tso.hdr_len + at, n - tso.hdr_len) == 0,
                           "segment %u: payload", k);
                at += n - tso.hdr_len;
        }
        FUZZ_CHECK(at == tso.payload_len, "segments carry %zu of %zu payload bytes", at, tso.payload_len);
        g_free(seg);
        g_free(p);
}

static void inbound(FuzzInput *in) {
        OffloadGro *g = g_new0(OffloadGro, 1);
        uint8_t *pkts[OFFLOAD_GRO_MAX];
        size_t lens[OFFLOAD_GRO_MAX];
        unsigned n = 0;
        while (in->len >= 2 && n < OFFLOAD_GRO_MAX) {
                size_t len = (size_t) fuzz_u8(in) << 8;
                len |= fuzz_u8(in);
                if (len > in->len)
                        len = in->len;
                pkts[n] = g_malloc(len ? len : 1);
                memcpy(pkts[n], in->p, len);
                lens[n] = len;
                in->p += len;
                in->len -= len;
                offload_gro_add(g, pkts[n], len, n);
                n++;
        }
        FUZZ_CHECK(g->n == n, "%u packets added, %u kept", n, g->n);
        unsigned seen[OFFLOAD_GRO_MAX] = { 0 }, written = 0;
        struct iovec iov[OFFLOAD_GRO_MAX + 1];
        uint8_t *flat = g_malloc(OFFLOAD_MAX_PACKET);
        for (unsigned h = 0; h < n; h++) {
                if (!g->items[h].head)
                        continue;
                struct virtio_net_hdr vh;
                unsigned packets, k = offload_gro_prepare(g, h, &vh, iov, &packets);
                FUZZ_CHECK(k == packets + 1 && iov[0].iov_base == &vh, "group %u: %u iovecs for %u packets", h, k,
                           packets);
                for (unsigned j = h; j != OFFLOAD_GRO_MAX; j = g->items[j].next) {
                        FUZZ_CHECK(j < n && seen[j]++ == 0, "packet %u in two groups", j);
                        written++;
                }
                if (packets == 1) {
                        FUZZ_CHECK(vh.gso_type == VIRTIO_NET_HDR_GSO_NONE && vh.flags == 0, "a single packet as GSO");
                        FUZZ_CHECK(iov[1].iov_base == pkts[h] && iov[1].iov_len == lens[h], "a single packet changed");
                        continue;
                }
                size_t total = 0, mss = le16toh(vh.gso_size);
                for (unsigned i = 1; i < k; i++) {
                        FUZZ_CHECK(total + iov[i].iov_len <= OFFLOAD_MAX_PACKET, "group %u beyond 64 KiB", h);
                        if (i > 1)
                                FUZZ_CHECK(iov[i].iov_len == mss || (i == k - 1 && iov[i].iov_len <= mss),
                                           "group %u: a %zu-byte segment, GSO size %zu", h, iov[i].iov_len, mss);
                        memcpy(flat + total, iov[i].iov_base, iov[i].iov_len);
                        total += iov[i].iov_len;
                }
                PktIpInfo ip;
                FUZZ_CHECK(pkt_ip_parse(flat, total, &ip) == PKT_OK && ip.total_len == total &&
                                   ip.proto == PKT_PROTO_TCP,
                           "group %u is not the IP packet it should be", h);
                FUZZ_CHECK(vh.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && le16toh(vh.csum_start) == ip.hdr_len &&
                                   le16toh(vh.csum_offset) == 16 && le16toh(vh.hdr_len) + mss == iov[1].iov_len,
                           "group %u: virtio-net header", h);
                size_t start = ip.hdr_len;
                pkt_store_be16(flat + start + 16, (uint16_t) ~pkt_csum_fold(pkt_csum_add(0, flat + start, total - start)));
                FUZZ_CHECK(tcp_valid(flat, total, &ip), "group %u: the finished checksum is wrong", h);
        }
        FUZZ_CHECK(written == n, "%u of %u packets written", written, n);
        g_free(flat);
        for (unsigned i = 0; i < n; i++)
                g_free(pkts[i]);
        g_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzInput in = { data, size };
        if (fuzz_u8(&in) & 0x01)
                inbound(&in);
        else
                outbound(&in);
        return 0;
}
