/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "ah.h"
#include "secmem.h"

/* The IP header (and the IPv6 extension headers before AH) is copied to the
 * stack to zero its mutable fields for the ICV; longer ones are refused. */
#define AH_MAX_HDR_COPY 512u

void ah_sa_init(AhSa *sa, uint32_t spi, AhMode mode, bool esn, uint32_t replay_window, BhTransform *transform) {
        memset(sa, 0, sizeof *sa);
        sa->spi = spi;
        sa->mode = mode;
        sa->esn = esn;
        sa->transform = transform;
        sa->seq_src = &sa->seq_out;
        replay_init(&sa->replay, replay_window, esn);
        sa->anti_replay = true;
}

void ah_sa_clear(AhSa *sa) {
        if (!sa)
                return;
        bh_transform_free(sa->transform);
        bh_secure_wipe(sa, sizeof *sa);
}

static PktDrop count(AhSa *sa, PktDrop d) {
        if (d != PKT_OK && (unsigned) d < _PKT_DROP_MAX)
                sa->counters.drops[d]++;
        return d;
}

static bool usable(const AhSa *sa) {
        return sa->transform && bh_transform_integ(sa->transform) != BH_AUTH_NONE &&
               bh_transform_encr(sa->transform) == BH_ENCR_NONE;
}

size_t ah_header_len(const AhSa *sa, int family) {
        size_t n = AH_HDR_LEN + bh_transform_icv_len(sa->transform);
        size_t align = family == AF_INET6 ? 8 : 4;
        return (n + align - 1) / align * align;
}

/* RFC 4302 Appendix A.1: the IPv4 options that stay as they are: End of
 * Options List, No Operation, Security, Extended Security, Commercial
 * Security, Router Alert, Sender Directed Multi-Destination Delivery. All
 * others are zeroed whole (type and length included, §3.3.3.1.1.2). */
static bool ipv4_option_immutable(uint8_t type) {
        switch (type) {
        case 0: case 1: case 130: case 133: case 134: case 148: case 149: return true;
        default: return false;
        }
}

/* Copies the header region p[0, len) to out with the mutable fields zeroed.
 * untrusted: parsed again here, every length checked. */
static PktDrop zero_mutable(const uint8_t *p, size_t len, int family, uint8_t *out) {
        memcpy(out, p, len);
        if (family == AF_INET) {
                if (len < PKT_IPV4_HDR_LEN)
                        return PKT_DROP_BAD_OUTER;
                out[1] = 0;             /* TOS */
                out[6] = out[7] = 0;    /* flags, fragment offset */
                out[8] = 0;             /* TTL */
                out[10] = out[11] = 0;  /* header checksum */
                PktReader r = pkt_reader(out, len);
                r.off = PKT_IPV4_HDR_LEN;
                for (;;) {
                        size_t at = r.off;
                        uint8_t type, olen;
                        if (!pkt_read_u8(&r, &type) || type == 0)
                                return PKT_OK;
                        if (type == 1)
                                continue;
                        if (!pkt_read_u8(&r, &olen) || olen < 2 || !pkt_skip(&r, olen - 2u))
                                return PKT_DROP_BAD_OUTER;
                        if (!ipv4_option_immutable(type))
                                memset(out + at, 0, olen);
                }
        }

        if (len < PKT_IPV6_HDR_LEN)
                return PKT_DROP_BAD_OUTER;
        out[0] &= 0xf0;                 /* traffic class (high half) */
        out[1] = out[2] = out[3] = 0;   /* traffic class, flow label */
        out[7] = 0;                     /* hop limit */
        uint8_t nh = out[6];
        size_t off = PKT_IPV6_HDR_LEN;
        while (off < len) {
                /* RFC 4302 §3.3.3.1.2.2: in hop-by-hop and destination
                 * options, the data of an option whose type has the
                 * "may change en route" bit (0x20) is zeroed. Routing
                 * headers (mutable but predictable) are not done here. */
                if (nh != PKT_PROTO_HOPOPTS && nh != PKT_PROTO_DSTOPTS)
                        return PKT_DROP_UNSUPPORTED;
                if (2 > len - off)
                        return PKT_DROP_BAD_OUTER;
                size_t hlen = ((size_t) out[off + 1] + 1) * 8;
                if (hlen > len - off)
                        return PKT_DROP_BAD_OUTER;
                PktReader r = pkt_reader(out + off, hlen);
                r.off = 2;
                for (;;) {
                        uint8_t type, olen;
                        if (!pkt_read_u8(&r, &type))
                                break;
                        if (type == 0) /* Pad1 */
                                continue;
                        size_t data_at = r.off + 1;
                        if (!pkt_read_u8(&r, &olen) || !pkt_skip(&r, olen))
                                return PKT_DROP_BAD_OUTER;
                        if (type & 0x20)
                                memset(out + off + data_at, 0, olen);
                }
                nh = out[off];
                off += hlen;
        }
        return PKT_OK;
}

/* The ICV of the packet p[0, total) whose AH header is at ah_off, ah_len
 * bytes long: computed into icv, or checked against expect. */
static PktDrop compute_icv(AhSa *sa, const uint8_t *p, size_t total, int family, size_t ah_off, size_t ah_len,
                           uint64_t seq, uint8_t *icv, const uint8_t *expect) {
        static const uint8_t zeros[64];
        uint8_t hdr[AH_MAX_HDR_COPY], hi[4];

        if (ah_off > sizeof hdr)
                return PKT_DROP_UNSUPPORTED;
        if (ah_len < AH_HDR_LEN || ah_len - AH_HDR_LEN > sizeof zeros || ah_len > total - ah_off)
                return PKT_DROP_BAD_LENGTH;
        PktDrop d = zero_mutable(p, ah_off, family, hdr);
        if (d != PKT_OK)
                return d;
        pkt_store_be32(hi, (uint32_t) (seq >> 32));
        BhIov iov[] = {
                { hdr, ah_off },
                { p + ah_off, AH_HDR_LEN },
                { zeros, ah_len - AH_HDR_LEN },
                { p + ah_off + ah_len, total - ah_off - ah_len },
                { hi, sa->esn ? 4 : 0 }, /* RFC 4302 §3.3.3.3: appended, not sent */
        };
        int r = expect ? bh_transform_mac_verify(sa->transform, iov, 5, expect)
                       : bh_transform_mac(sa->transform, iov, 5, icv);
        if (r == -EBADMSG)
                return PKT_DROP_ICV;
        return r < 0 ? PKT_DROP_CRYPTO : PKT_OK;
}

static void write_ah(uint8_t *ah, const AhSa *sa, uint8_t nh, size_t ah_len, uint64_t seq) {
        ah[0] = nh;
        ah[1] = (uint8_t) (ah_len / 4 - 2);
        ah[2] = ah[3] = 0;
        pkt_store_be32(ah + 4, sa->spi);
        pkt_store_be32(ah + 8, (uint32_t) seq);
        memset(ah + AH_HDR_LEN, 0, ah_len - AH_HDR_LEN);
}

static PktDrop encap(AhSa *sa, PktBuf *pkt, const PktOuter *outer, uint16_t ip_id) {
        uint64_t seq;
        PktDrop d;

        if (!usable(sa))
                return PKT_DROP_INVALID_SA;

        if (sa->mode == AH_MODE_TUNNEL) {
                if (!outer || (outer->family != AF_INET && outer->family != AF_INET6) || outer->udp_sport ||
                    outer->udp_dport)
                        return PKT_DROP_INVALID_SA;
                if (pkt->len < 1 || ((pkt_data(pkt)[0] >> 4) != 4 && (pkt_data(pkt)[0] >> 4) != 6))
                        return PKT_DROP_BAD_INNER;
                uint8_t nh = (pkt_data(pkt)[0] >> 4) == 4 ? PKT_PROTO_IPIP : PKT_PROTO_IPV6;
                size_t ah_len = ah_header_len(sa, outer->family);
                size_t ip_len = outer->family == AF_INET ? PKT_IPV4_HDR_LEN : PKT_IPV6_HDR_LEN;
                if (ah_len + ip_len > pkt_headroom(pkt))
                        return PKT_DROP_NO_ROOM;
                if (pkt->len > 65535 - ah_len - (outer->family == AF_INET ? ip_len : 0))
                        return PKT_DROP_BAD_LENGTH;
                d = replay_next_seq(sa->seq_src, sa->esn, &seq);
                if (d != PKT_OK)
                        return d;
                write_ah(pkt_push(pkt, ah_len), sa, nh, ah_len, seq);
                uint8_t *h = pkt_push(pkt, ip_len);
                pkt_write_ip_header(h, outer, PKT_PROTO_AH, pkt->len, ip_id);
                return compute_icv(sa, h, pkt->len, outer->family, ip_len, ah_len, seq, h + ip_len + AH_HDR_LEN,
                                   NULL);
        }

        /* Transport: AH after the IP header, on whole datagrams only. */
        if (outer)
                return PKT_DROP_INVALID_SA;
        PktIpInfo ip;
        d = pkt_ip_parse(pkt_data(pkt), pkt->len, &ip);
        if (d != PKT_OK)
                return d == PKT_DROP_UNSUPPORTED ? d : PKT_DROP_BAD_INNER;
        if (ip.fragment)
                return PKT_DROP_FRAGMENT;
        if (ip.has_routing || ip.hdr_len > AH_MAX_HDR_COPY)
                return PKT_DROP_UNSUPPORTED;
        pkt->len = ip.total_len;
        size_t ah_len = ah_header_len(sa, ip.family);
        if (ah_len > pkt_headroom(pkt))
                return PKT_DROP_NO_ROOM;
        if (ip.total_len > 65535 - ah_len)
                return PKT_DROP_BAD_LENGTH;
        d = replay_next_seq(sa->seq_src, sa->esn, &seq);
        if (d != PKT_OK)
                return d;

        uint8_t *old = pkt_data(pkt);
        uint8_t *h = pkt_push(pkt, ah_len);
        memmove(h, old, ip.hdr_len);
        write_ah(h + ip.hdr_len, sa, ip.proto, ah_len, seq);
        h[ip.nh_off] = PKT_PROTO_AH;
        pkt_ip_set_lengths(h, &ip, pkt->len);
        return compute_icv(sa, h, pkt->len, ip.family, ip.hdr_len, ah_len, seq, h + ip.hdr_len + AH_HDR_LEN, NULL);
}

PktDrop ah_encap(AhSa *sa, PktBuf *pkt, const PktOuter *outer, uint16_t ip_id) {
        size_t len = pkt->len;
        PktDrop d = encap(sa, pkt, outer, ip_id);
        if (d == PKT_OK) {
                sa->counters.packets_out++;
                sa->counters.bytes_out += len;
        }
        return count(sa, d);
}

static PktDrop decap(AhSa *sa, PktBuf *pkt, const PktIpInfo *ip) {
        uint8_t nh, plen;
        uint32_t spi, seq_low;
        uint64_t seq;

        if (!usable(sa))
                return PKT_DROP_INVALID_SA;
        if (!ip || ip->total_len > pkt->len || ip->hdr_len > ip->total_len || ip->nh_off >= ip->hdr_len ||
            ip->proto != PKT_PROTO_AH)
                return PKT_DROP_BAD_OUTER;
        if (ip->fragment)
                return PKT_DROP_FRAGMENT;
        if (ip->family == AF_INET6 && ip->has_routing)
                return PKT_DROP_UNSUPPORTED;
        pkt->len = ip->total_len;

        /* untrusted: from the network */
        const uint8_t *p = pkt_data(pkt);
        size_t ah_off = ip->hdr_len;
        PktReader r = pkt_reader(p + ah_off, pkt->len - ah_off);
        if (!pkt_read_u8(&r, &nh) || !pkt_read_u8(&r, &plen) || !pkt_skip(&r, 2) || !pkt_read_be32(&r, &spi) ||
            !pkt_read_be32(&r, &seq_low))
                return PKT_DROP_BAD_LENGTH;
        size_t ah_len = ((size_t) plen + 2) * 4;
        if (ah_len != ah_header_len(sa, ip->family) || ah_len > pkt->len - ah_off)
                return PKT_DROP_BAD_LENGTH;
        if (spi != sa->spi)
                return PKT_DROP_SPI;

        PktDrop d = PKT_OK;
        if (sa->anti_replay) {
                d = replay_check(&sa->replay, seq_low, &seq);
                if (d != PKT_OK)
                        return d;
        } else {
                /* No window to refuse from (as esp.c): the high ESN half
                 * still comes from the highest number seen. */
                seq = sa->esn ? (sa->replay.top & 0xffffffff00000000ull) | seq_low : seq_low;
        }
        d = compute_icv(sa, p, pkt->len, ip->family, ah_off, ah_len, seq, NULL, p + ah_off + AH_HDR_LEN);
        if (d != PKT_OK)
                return d;

        /* Authentic from here on. */
        if (sa->mode == AH_MODE_TUNNEL ? nh != PKT_PROTO_IPIP && nh != PKT_PROTO_IPV6
                                       : nh == PKT_PROTO_HOPOPTS || nh == 255)
                return PKT_DROP_NEXT_HEADER;
        if (sa->anti_replay) {
                d = replay_update(&sa->replay, seq);
                if (d != PKT_OK)
                        return d;
        } else if (seq > sa->replay.top) {
                sa->replay.top = seq;
        }

        if (sa->mode == AH_MODE_TUNNEL) {
                PktBuf sub;
                pkt_init(&sub, pkt->buf, pkt->size, pkt->off + ah_off + ah_len, pkt->len - ah_off - ah_len);
                d = pkt_inner_trim(&sub, nh);
                if (d != PKT_OK)
                        return d;
                *pkt = sub;
                return PKT_OK;
        }

        uint8_t *h = pkt_data(pkt) + ah_len;
        memmove(h, pkt_data(pkt), ah_off);
        h[ip->nh_off] = nh;
        pkt_pull(pkt, ah_len);
        pkt_ip_set_lengths(h, ip, pkt->len);
        return PKT_OK;
}

PktDrop ah_decap(AhSa *sa, PktBuf *pkt, const PktIpInfo *ip) {
        PktDrop d = decap(sa, pkt, ip);
        if (d == PKT_OK) {
                sa->counters.packets_in++;
                sa->counters.bytes_in += pkt->len;
        }
        return count(sa, d);
}
