/* SPDX-License-Identifier: ISC */
#include <sys/socket.h>

#include "pkt.h"

static const char *const drop_names[_PKT_DROP_MAX] = {
        [PKT_OK] = "OK",
        [PKT_DROP_BAD_LENGTH] = "BAD_LENGTH",
        [PKT_DROP_NO_ROOM] = "NO_ROOM",
        [PKT_DROP_SPI] = "SPI",
        [PKT_DROP_REPLAY] = "REPLAY",
        [PKT_DROP_TOO_OLD] = "TOO_OLD",
        [PKT_DROP_ICV] = "ICV",
        [PKT_DROP_PADDING] = "PADDING",
        [PKT_DROP_NEXT_HEADER] = "NEXT_HEADER",
        [PKT_DROP_BAD_INNER] = "BAD_INNER",
        [PKT_DROP_BAD_OUTER] = "BAD_OUTER",
        [PKT_DROP_FRAGMENT] = "FRAGMENT",
        [PKT_DROP_UNSUPPORTED] = "UNSUPPORTED",
        [PKT_DROP_SEQ_EXHAUSTED] = "SEQ_EXHAUSTED",
        [PKT_DROP_CRYPTO] = "CRYPTO",
        [PKT_DROP_INVALID_SA] = "INVALID_SA",
        [PKT_DROP_DUMMY] = "DUMMY",
};

const char *pkt_drop_name(PktDrop drop) {
        if ((unsigned) drop >= _PKT_DROP_MAX || !drop_names[drop])
                return "UNKNOWN";
        return drop_names[drop];
}

const char *pkt_proto_name(unsigned proto) {
        switch (proto) {
        case PKT_PROTO_HOPOPTS: return "HOPOPT";
        case PKT_PROTO_ICMP: return "ICMP";
        case PKT_PROTO_IPIP: return "IPv4";
        case PKT_PROTO_TCP: return "TCP";
        case PKT_PROTO_UDP: return "UDP";
        case PKT_PROTO_IPV6: return "IPv6";
        case PKT_PROTO_ROUTING: return "IPv6-Route";
        case PKT_PROTO_FRAGMENT: return "IPv6-Frag";
        case PKT_PROTO_ESP: return "ESP";
        case PKT_PROTO_AH: return "AH";
        case PKT_PROTO_ICMPV6: return "IPv6-ICMP";
        case PKT_PROTO_NONE: return "IPv6-NoNxt";
        case PKT_PROTO_DSTOPTS: return "IPv6-Opts";
        default: return "UNKNOWN";
        }
}

/* ------------------------------------------------------------ checksums */

/* The one's complement sum does not depend on byte order (RFC 1071 §2(B)):
 * sum native 32-bit words, fold, and swap to network order once at the end. */
uint32_t pkt_csum_add(uint32_t sum, const uint8_t *p, size_t len) {
        uint64_t s = 0;
        for (; len >= 16; p += 16, len -= 16) {
                uint32_t w[4];
                memcpy(w, p, sizeof w);
                s += (uint64_t) w[0] + w[1] + w[2] + w[3];
        }
        for (; len >= 4; p += 4, len -= 4) {
                uint32_t w;
                memcpy(&w, p, sizeof w);
                s += w;
        }
        uint8_t tail[4] = { 0 };
        memcpy(tail, p, len); /* an odd last byte is the high half of a word */
        uint32_t w;
        memcpy(&w, tail, sizeof w);
        s += w;
        while (s >> 16)
                s = (s & 0xffffu) + (s >> 16);
        uint16_t native = (uint16_t) s, be;
        uint8_t *b = (uint8_t *) &native;
        be = (uint16_t) (b[0] << 8 | b[1]);
        uint64_t t = (uint64_t) sum + be;
        return (uint32_t) ((t & 0xffffffffu) + (t >> 32));
}

uint16_t pkt_csum_fold(uint32_t sum) {
        while (sum >> 16)
                sum = (sum & 0xffffu) + (sum >> 16);
        return (uint16_t) sum;
}

void pkt_ipv4_set_checksum(uint8_t *hdr, size_t hdr_len) {
        hdr[10] = hdr[11] = 0;
        pkt_store_be16(hdr + 10, (uint16_t) ~pkt_csum_fold(pkt_csum_add(0, hdr, hdr_len)));
}

/* ------------------------------------------------------------ parsing */

static PktDrop parse_ipv4(const uint8_t *p, size_t len, PktIpInfo *ret) {
        PktReader r = pkt_reader(p, len);
        uint8_t vihl, proto;
        uint16_t total, frag;

        if (!pkt_read_u8(&r, &vihl) || !pkt_skip(&r, 1) || !pkt_read_be16(&r, &total) || !pkt_skip(&r, 2) ||
            !pkt_read_be16(&r, &frag) || !pkt_skip(&r, 1) || !pkt_read_u8(&r, &proto))
                return PKT_DROP_BAD_LENGTH;
        size_t ihl = (size_t) (vihl & 0x0f) * 4;
        if (ihl < PKT_IPV4_HDR_LEN || ihl > total)
                return PKT_DROP_BAD_OUTER;
        if (total > len)
                return PKT_DROP_BAD_LENGTH;

        *ret = (PktIpInfo) {
                .family = AF_INET,
                .hdr_len = ihl,
                .nh_off = 9,
                .proto = proto,
                .total_len = total,
                /* MF set or a nonzero offset; DF (0x4000) is fine. */
                .fragment = (frag & 0x3fff) != 0,
        };

        /* Options: only to know whether a source route is present, which
         * AH must treat as "mutable but predictable". */
        PktReader o = pkt_reader(p + PKT_IPV4_HDR_LEN, ihl - PKT_IPV4_HDR_LEN);
        for (;;) {
                uint8_t type, olen;
                if (!pkt_read_u8(&o, &type) || type == 0)
                        break;
                if (type == 1)
                        continue;
                if (!pkt_read_u8(&o, &olen) || olen < 2 || !pkt_skip(&o, olen - 2u))
                        return PKT_DROP_BAD_OUTER;
                if ((type & 0x1f) == 3 || (type & 0x1f) == 9)
                        ret->has_routing = true;
        }
        return PKT_OK;
}

static PktDrop parse_ipv6(const uint8_t *p, size_t len, PktIpInfo *ret) {
        PktReader r = pkt_reader(p, len);
        uint16_t plen;
        uint8_t nh;

        if (!pkt_skip(&r, 4) || !pkt_read_be16(&r, &plen) || !pkt_read_u8(&r, &nh) || !pkt_skip(&r, 33))
                return PKT_DROP_BAD_LENGTH;
        /* Jumbograms (payload length 0 and a hop-by-hop jumbo option,
         * RFC 2675) are not for a tunnel. */
        if (plen == 0 && nh == PKT_PROTO_HOPOPTS)
                return PKT_DROP_UNSUPPORTED;
        if (plen > len - PKT_IPV6_HDR_LEN)
                return PKT_DROP_BAD_LENGTH;

        *ret = (PktIpInfo) {
                .family = AF_INET6,
                .nh_off = 6,
                .total_len = PKT_IPV6_HDR_LEN + (size_t) plen,
        };

        /* Walk the extension headers IPsec sits behind (RFC 4303 §3.1.1,
         * RFC 4302 §3.1.1), within the payload length. */
        r = pkt_reader(p, ret->total_len);
        r.off = PKT_IPV6_HDR_LEN;
        for (unsigned n = 0;; n++) {
                if (nh == PKT_PROTO_FRAGMENT)
                        ret->fragment = true;
                if (nh != PKT_PROTO_HOPOPTS && nh != PKT_PROTO_ROUTING && nh != PKT_PROTO_DSTOPTS)
                        break;
                /* Hop-by-hop only first (RFC 8200 §4.1); and a bound on the walk. */
                if ((nh == PKT_PROTO_HOPOPTS && n != 0) || n >= 8)
                        return PKT_DROP_BAD_OUTER;
                if (nh == PKT_PROTO_ROUTING)
                        ret->has_routing = true;
                size_t at = r.off;
                uint8_t next, hlen;
                if (!pkt_read_u8(&r, &next) || !pkt_read_u8(&r, &hlen) || !pkt_skip(&r, (size_t) hlen * 8 + 6))
                        return PKT_DROP_BAD_LENGTH;
                ret->nh_off = at;
                nh = next;
        }
        ret->hdr_len = r.off;
        ret->proto = nh;
        return PKT_OK;
}

PktDrop pkt_ip_parse(const uint8_t *p, size_t len, PktIpInfo *ret) {
        if (len < 1)
                return PKT_DROP_BAD_LENGTH;
        switch (p[0] >> 4) {
        case 4: return parse_ipv4(p, len, ret);
        case 6: return parse_ipv6(p, len, ret);
        default: return PKT_DROP_BAD_OUTER;
        }
}

/* ------------------------------------------------------------ building */

void pkt_write_ip_header(uint8_t *h, const PktOuter *o, uint8_t proto, size_t total_len, uint16_t ip_id) {
        uint8_t ttl = o->ttl ? o->ttl : 64;

        if (o->family == AF_INET) {
                h[0] = 0x45;
                h[1] = o->tos;
                pkt_store_be16(h + 2, (uint16_t) total_len);
                pkt_store_be16(h + 4, ip_id);
                pkt_store_be16(h + 6, 0);
                h[8] = ttl;
                h[9] = proto;
                memcpy(h + 12, &o->src.v4, 4);
                memcpy(h + 16, &o->dst.v4, 4);
                pkt_ipv4_set_checksum(h, PKT_IPV4_HDR_LEN);
        } else {
                pkt_store_be32(h, 6u << 28 | (uint32_t) o->tos << 20 | (o->flow & 0xfffffu));
                pkt_store_be16(h + 4, (uint16_t) (total_len - PKT_IPV6_HDR_LEN));
                h[6] = proto;
                h[7] = ttl;
                memcpy(h + 8, &o->src.v6, 16);
                memcpy(h + 24, &o->dst.v6, 16);
        }
}

static uint16_t udp6_checksum(const uint8_t *ip6, const uint8_t *udp, size_t udp_len) {
        uint8_t pseudo[8];
        pkt_store_be32(pseudo, (uint32_t) udp_len);
        pseudo[4] = pseudo[5] = pseudo[6] = 0;
        pseudo[7] = PKT_PROTO_UDP;
        uint32_t sum = pkt_csum_add(0, ip6 + 8, 32);
        sum = pkt_csum_add(sum, pseudo, sizeof pseudo);
        sum = pkt_csum_add(sum, udp, udp_len);
        uint16_t c = (uint16_t) ~pkt_csum_fold(sum);
        return c ? c : 0xffff;
}

PktDrop pkt_push_outer(PktBuf *pkt, const PktOuter *o, uint8_t proto, uint16_t ip_id) {
        bool udp = o->udp_sport && o->udp_dport;
        size_t ip_len;

        if (o->family == AF_INET)
                ip_len = PKT_IPV4_HDR_LEN;
        else if (o->family == AF_INET6)
                ip_len = PKT_IPV6_HDR_LEN;
        else
                return PKT_DROP_INVALID_SA;

        size_t hdrs = ip_len + (udp ? PKT_UDP_HDR_LEN : 0);
        if (hdrs > pkt_headroom(pkt))
                return PKT_DROP_NO_ROOM;
        /* IPv4 total length / IPv6 payload length are 16 bits. */
        if (pkt->len > 65535 - hdrs + (o->family == AF_INET6 ? PKT_IPV6_HDR_LEN : 0))
                return PKT_DROP_BAD_LENGTH;

        if (udp) {
                uint8_t *u = pkt_push(pkt, PKT_UDP_HDR_LEN);
                pkt_store_be16(u, o->udp_sport);
                pkt_store_be16(u + 2, o->udp_dport);
                pkt_store_be16(u + 4, (uint16_t) pkt->len);
                pkt_store_be16(u + 6, 0);
        }
        uint8_t *h = pkt_push(pkt, ip_len);
        pkt_write_ip_header(h, o, udp ? PKT_PROTO_UDP : proto, pkt->len, ip_id);
        if (udp && o->family == AF_INET6)
                pkt_store_be16(h + ip_len + 6, udp6_checksum(h, h + ip_len, pkt->len - ip_len));
        return PKT_OK;
}

/* ------------------------------------------------------------ after decapsulation */

/* The inner packet of tunnel mode: its version must be what the next
 * header said, and its own length must fit; what follows it is TFC padding
 * (RFC 4303 §2.4) and goes. untrusted: decrypted, but from the peer. */
PktDrop pkt_inner_trim(PktBuf *pkt, uint8_t nh) {
        const uint8_t *p = pkt_data(pkt);
        PktReader r = pkt_reader(p, pkt->len);
        uint8_t vihl;
        uint16_t len;

        if (!pkt_read_u8(&r, &vihl))
                return PKT_DROP_BAD_INNER;
        if (nh == PKT_PROTO_IPIP) {
                size_t total;
                if ((vihl >> 4) != 4 || !pkt_skip(&r, 1) || !pkt_read_be16(&r, &len))
                        return PKT_DROP_BAD_INNER;
                total = len;
                if ((size_t) (vihl & 0x0f) * 4 < PKT_IPV4_HDR_LEN || (size_t) (vihl & 0x0f) * 4 > total ||
                    total > pkt->len)
                        return PKT_DROP_BAD_INNER;
                pkt->len = total;
                return PKT_OK;
        }
        if ((vihl >> 4) != 6 || !pkt_skip(&r, 3) || !pkt_read_be16(&r, &len) || pkt->len < PKT_IPV6_HDR_LEN ||
            len > pkt->len - PKT_IPV6_HDR_LEN)
                return PKT_DROP_BAD_INNER;
        pkt->len = PKT_IPV6_HDR_LEN + (size_t) len;
        return PKT_OK;
}

void pkt_ip_set_lengths(uint8_t *h, const PktIpInfo *ip, size_t total) {
        if (ip->family == AF_INET) {
                pkt_store_be16(h + 2, (uint16_t) total);
                pkt_ipv4_set_checksum(h, ip->hdr_len);
        } else
                pkt_store_be16(h + 4, (uint16_t) (total - PKT_IPV6_HDR_LEN));
}
