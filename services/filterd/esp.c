/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "esp.h"
#include "secmem.h"

const char *esp_mode_name(EspMode mode) {
        switch (mode) {
        case ESP_MODE_TUNNEL: return "tunnel";
        case ESP_MODE_TRANSPORT: return "transport";
        default: return "unknown";
        }
}

const char *esp_udp_kind_name(EspUdpKind kind) {
        switch (kind) {
        case ESP_UDP_ESP: return "ESP";
        case ESP_UDP_IKE: return "IKE";
        case ESP_UDP_KEEPALIVE: return "NAT-keepalive";
        case ESP_UDP_INVALID: return "invalid";
        default: return "unknown";
        }
}

void esp_sa_init(EspSa *sa, uint32_t spi, EspMode mode, bool esn, uint32_t replay_window,
                 BhTransform *transform) {
        memset(sa, 0, sizeof *sa);
        sa->spi = spi;
        sa->mode = mode;
        sa->esn = esn;
        sa->transform = transform;
        sa->seq_src = &sa->seq_out;
        replay_init(&sa->replay, replay_window, esn);
        sa->anti_replay = true;
}

void esp_sa_clear(EspSa *sa) {
        if (!sa)
                return;
        bh_transform_free(sa->transform);
        bh_secure_wipe(sa, sizeof *sa);
}

static PktDrop count(EspSa *sa, PktDrop d) {
        if (d != PKT_OK && (unsigned) d < _PKT_DROP_MAX)
                sa->counters.drops[d]++;
        return d;
}

static bool usable(const EspSa *sa) {
        return sa->transform && bh_transform_encr(sa->transform) != BH_ENCR_NONE;
}

/* Padding, pad length and next header for payload_len bytes: the payload
 * and these two bytes end on a block boundary (RFC 4303 §2.4). */
static size_t trailer_len(const BhTransform *t, size_t payload_len) {
        size_t block = bh_transform_block_size(t);
        return block - payload_len % block < 2 ? 2 * block - payload_len % block
                                                  : block - payload_len % block;
}

void esp_overhead(const EspSa *sa, size_t payload_len, size_t *ret_head, size_t *ret_tail) {
        *ret_head = ESP_HDR_LEN + bh_transform_iv_len(sa->transform);
        *ret_tail = trailer_len(sa->transform, payload_len) + bh_transform_icv_len(sa->transform);
}

/* ------------------------------------------------------------ seal / open */

/* seq NULL: the SA's next sequence number. */
static PktDrop seal(EspSa *sa, PktBuf *pkt, uint8_t next_header, const uint64_t *seq_given,
                    const uint8_t *iv_given) {
        BhTransform *t = sa->transform;
        size_t head, tail;
        uint64_t seq;

        if (!usable(sa))
                return PKT_DROP_INVALID_SA;
        /* An IP packet at most: keeps every sum below far from wrapping. */
        if (pkt->len > 65535)
                return PKT_DROP_BAD_LENGTH;
        esp_overhead(sa, pkt->len, &head, &tail);
        if (head > pkt_headroom(pkt) || tail > pkt_tailroom(pkt))
                return PKT_DROP_NO_ROOM;
        if (seq_given)
                seq = *seq_given;
        else {
                PktDrop d = replay_next_seq(sa->seq_src, sa->esn, &seq);
                if (d != PKT_OK)
                        return d;
        }

        size_t iv_len = bh_transform_iv_len(t), icv_len = bh_transform_icv_len(t);
        size_t trailer = trailer_len(t, pkt->len), pad = trailer - 2;
        uint8_t *tr = pkt_put(pkt, trailer);
        for (size_t i = 0; i < pad; i++)
                tr[i] = (uint8_t) (i + 1);
        tr[pad] = (uint8_t) pad;
        tr[pad + 1] = next_header;

        uint8_t *data = pkt_data(pkt);
        size_t data_len = pkt->len;
        uint8_t *esp = pkt_push(pkt, head);
        pkt_store_be32(esp, sa->spi);
        pkt_store_be32(esp + 4, (uint32_t) seq);
        if (iv_given)
                memcpy(esp + ESP_HDR_LEN, iv_given, iv_len);
        else if (bh_transform_make_iv(t, seq, esp + ESP_HDR_LEN) < 0)
                return PKT_DROP_CRYPTO;
        uint8_t *icv = pkt_put(pkt, icv_len);

        uint8_t hi[4];
        pkt_store_be32(hi, (uint32_t) (seq >> 32));
        int r;
        if (bh_transform_is_aead(t)) {
                /* AAD: SPI | [seq high |] seq low (RFC 4106 §5, RFC 7634 §2.1). */
                uint8_t aad[12];
                size_t aad_len = sa->esn ? 12 : 8;
                memcpy(aad, esp, 4);
                if (sa->esn)
                        memcpy(aad + 4, hi, 4);
                memcpy(aad + aad_len - 4, esp + 4, 4);
                r = bh_transform_seal(t, esp + ESP_HDR_LEN, aad, aad_len, NULL, 0, data, data_len, icv);
        } else
                r = bh_transform_seal(t, esp + ESP_HDR_LEN, esp, head, hi, sa->esn ? 4 : 0, data, data_len, icv);
        return r < 0 ? PKT_DROP_CRYPTO : PKT_OK;
}

static PktDrop check_next_header(EspMode mode, uint8_t nh) {
        if (nh == PKT_PROTO_NONE)
                return PKT_OK;
        if (mode == ESP_MODE_TUNNEL)
                return nh == PKT_PROTO_IPIP || nh == PKT_PROTO_IPV6 ? PKT_OK : PKT_DROP_NEXT_HEADER;
        /* Transport: any upper layer, but not hop-by-hop options (only ever
         * right behind the IPv6 header) nor the reserved 255. */
        return nh == PKT_PROTO_HOPOPTS || nh == 255 ? PKT_DROP_NEXT_HEADER : PKT_OK;
}

static PktDrop open_(EspSa *sa, PktBuf *pkt, uint8_t *ret_next_header) {
        BhTransform *t = sa->transform;
        const uint8_t *iv;
        uint32_t spi, seq_low;
        uint64_t seq;

        if (!usable(sa))
                return PKT_DROP_INVALID_SA;
        size_t iv_len = bh_transform_iv_len(t), icv_len = bh_transform_icv_len(t);
        size_t block = bh_transform_block_size(t);

        /* untrusted: from the network */
        PktReader r = pkt_reader(pkt_data(pkt), pkt->len);
        if (!pkt_read_be32(&r, &spi) || !pkt_read_be32(&r, &seq_low) || !pkt_read_bytes(&r, iv_len, &iv))
                return PKT_DROP_BAD_LENGTH;
        if (spi != sa->spi)
                return PKT_DROP_SPI;
        size_t rest = pkt_reader_left(&r);
        if (icv_len > rest)
                return PKT_DROP_BAD_LENGTH;
        size_t ct_len = rest - icv_len;
        /* At least pad length and next header; whole blocks (4 bytes for
         * AEAD and NULL: the alignment RFC 4303 §2.4 requires). */
        if (ct_len < 2 || ct_len % block != 0 || ct_len > 65535)
                return PKT_DROP_BAD_LENGTH;

        PktDrop d = PKT_OK;
        if (sa->anti_replay) {
                d = replay_check(&sa->replay, seq_low, &seq);
                if (d != PKT_OK)
                        return d;
        } else {
                /* No window to refuse from (a manual SA without replay
                 * prevention); with ESN the high half still comes from it. */
                seq = sa->esn ? (sa->replay.top & 0xffffffff00000000ull) | seq_low : seq_low;
        }

        uint8_t *esp = pkt_data(pkt);
        uint8_t *data = esp + r.off;
        const uint8_t *icv = data + ct_len;
        uint8_t hi[4];
        pkt_store_be32(hi, (uint32_t) (seq >> 32));
        int k;
        if (bh_transform_is_aead(t)) {
                uint8_t aad[12];
                size_t aad_len = sa->esn ? 12 : 8;
                memcpy(aad, esp, 4);
                if (sa->esn)
                        memcpy(aad + 4, hi, 4);
                memcpy(aad + aad_len - 4, esp + 4, 4);
                k = bh_transform_open(t, iv, aad, aad_len, NULL, 0, data, ct_len, icv);
        } else
                k = bh_transform_open(t, iv, esp, r.off, hi, sa->esn ? 4 : 0, data, ct_len, icv);
        if (k == -EBADMSG)
                return PKT_DROP_ICV;
        if (k < 0)
                return PKT_DROP_CRYPTO;

        /* Authentic from here on. */
        size_t pad = data[ct_len - 2];
        uint8_t nh = data[ct_len - 1];
        if (pad > ct_len - 2)
                return PKT_DROP_PADDING;
        const uint8_t *padding = data + ct_len - 2 - pad;
        for (size_t i = 0; i < pad; i++)
                if (padding[i] != (uint8_t) (i + 1))
                        return PKT_DROP_PADDING;
        d = check_next_header(sa->mode, nh);
        if (d != PKT_OK)
                return d;
        if (sa->anti_replay) {
                d = replay_update(&sa->replay, seq);
                if (d != PKT_OK)
                        return d;
        } else if (seq > sa->replay.top) {
                sa->replay.top = seq;
        }
        if (nh == PKT_PROTO_NONE)
                return PKT_DROP_DUMMY;

        pkt_pull(pkt, r.off);
        pkt->len = ct_len - 2 - pad;
        *ret_next_header = nh;
        return PKT_OK;
}

PktDrop esp_seal(EspSa *sa, PktBuf *pkt, uint8_t next_header) {
        return count(sa, seal(sa, pkt, next_header, NULL, NULL));
}

PktDrop esp_seal_with(EspSa *sa, PktBuf *pkt, uint8_t next_header, uint64_t seq, const uint8_t *iv) {
        return count(sa, seal(sa, pkt, next_header, &seq, iv));
}

PktDrop esp_open(EspSa *sa, PktBuf *pkt, uint8_t *ret_next_header) {
        return count(sa, open_(sa, pkt, ret_next_header));
}

/* ------------------------------------------------------------ modes */

static PktDrop encap(EspSa *sa, PktBuf *pkt) {
        if (!usable(sa))
                return PKT_DROP_INVALID_SA;

        if (sa->mode == ESP_MODE_TUNNEL) {
                if (pkt->len < 1)
                        return PKT_DROP_BAD_INNER;
                uint8_t v = pkt_data(pkt)[0] >> 4;
                if (v != 4 && v != 6)
                        return PKT_DROP_BAD_INNER;
                return seal(sa, pkt, v == 4 ? PKT_PROTO_IPIP : PKT_PROTO_IPV6, NULL, NULL);
        }

        /* Transport: ESP goes between the IP header (with the extension
         * headers that precede it) and the upper layer, and only on whole
         * datagrams (RFC 4303 §3.1.1, §3.3). */
        PktIpInfo ip;
        PktDrop d = pkt_ip_parse(pkt_data(pkt), pkt->len, &ip);
        if (d != PKT_OK)
                return d == PKT_DROP_UNSUPPORTED ? d : PKT_DROP_BAD_INNER;
        if (ip.fragment)
                return PKT_DROP_FRAGMENT;
        pkt->len = ip.total_len;

        size_t head, tail;
        esp_overhead(sa, ip.total_len - ip.hdr_len, &head, &tail);
        if (head > pkt_headroom(pkt) || tail > pkt_tailroom(pkt))
                return PKT_DROP_NO_ROOM;
        if (head + tail > 65535 - ip.total_len)
                return PKT_DROP_BAD_LENGTH;

        uint8_t *old = pkt_data(pkt);
        uint8_t *h = old - head;
        memmove(h, old, ip.hdr_len);
        PktBuf sub;
        pkt_init(&sub, pkt->buf, pkt->size, pkt->off + ip.hdr_len, ip.total_len - ip.hdr_len);
        d = seal(sa, &sub, ip.proto, NULL, NULL);
        if (d != PKT_OK)
                return d;
        h[ip.nh_off] = PKT_PROTO_ESP;
        pkt->off -= head;
        pkt->len = ip.hdr_len + sub.len;
        pkt_ip_set_lengths(h, &ip, pkt->len);
        return PKT_OK;
}

PktDrop esp_encap(EspSa *sa, PktBuf *pkt) {
        size_t len = pkt->len;
        PktDrop d = encap(sa, pkt);
        if (d == PKT_OK) {
                sa->counters.packets_out++;
                sa->counters.bytes_out += len;
        }
        return count(sa, d);
}

static PktDrop decap(EspSa *sa, PktBuf *pkt, const PktIpInfo *ip) {
        size_t esp_off = 0;
        uint8_t nh;

        if (!usable(sa))
                return PKT_DROP_INVALID_SA;
        if (ip) {
                if (ip->total_len > pkt->len || ip->hdr_len > ip->total_len || ip->nh_off >= ip->hdr_len)
                        return PKT_DROP_BAD_OUTER;
                if (ip->fragment)
                        return PKT_DROP_FRAGMENT;
                pkt->len = ip->total_len;
                esp_off = ip->hdr_len;
                if (ip->proto == PKT_PROTO_UDP) {
                        /* untrusted: RFC 3948 UDP header */
                        PktReader r = pkt_reader(pkt_data(pkt) + esp_off, pkt->len - esp_off);
                        uint16_t ulen;
                        if (!pkt_skip(&r, 4) || !pkt_read_be16(&r, &ulen) || !pkt_skip(&r, 2))
                                return PKT_DROP_BAD_LENGTH;
                        if (ulen < PKT_UDP_HDR_LEN || ulen > pkt->len - esp_off)
                                return PKT_DROP_BAD_OUTER;
                        if (esp_udp_classify(pkt_data(pkt) + esp_off + PKT_UDP_HDR_LEN, ulen - PKT_UDP_HDR_LEN) !=
                            ESP_UDP_ESP)
                                return PKT_DROP_BAD_OUTER;
                        pkt->len = esp_off + ulen;
                        esp_off += PKT_UDP_HDR_LEN;
                } else if (ip->proto != PKT_PROTO_ESP)
                        return PKT_DROP_BAD_OUTER;
        } else if (sa->mode == ESP_MODE_TRANSPORT)
                return PKT_DROP_BAD_OUTER; /* nothing to keep as the header */

        PktBuf sub;
        pkt_init(&sub, pkt->buf, pkt->size, pkt->off + esp_off, pkt->len - esp_off);
        PktDrop d = open_(sa, &sub, &nh);
        if (d != PKT_OK)
                return d;

        if (sa->mode == ESP_MODE_TUNNEL) {
                d = pkt_inner_trim(&sub, nh);
                if (d != PKT_OK)
                        return d;
                *pkt = sub;
                return PKT_OK;
        }

        /* Transport: the header moves up to the payload, says what the
         * payload is, and gets its lengths back. */
        uint8_t *h = pkt_data(&sub) - ip->hdr_len;
        memmove(h, pkt_data(pkt), ip->hdr_len);
        h[ip->nh_off] = nh;
        pkt->off = sub.off - ip->hdr_len;
        pkt->len = ip->hdr_len + sub.len;
        pkt_ip_set_lengths(h, ip, pkt->len);
        return PKT_OK;
}

PktDrop esp_decap(EspSa *sa, PktBuf *pkt, const PktIpInfo *ip) {
        PktDrop d = decap(sa, pkt, ip);
        if (d == PKT_OK) {
                sa->counters.packets_in++;
                sa->counters.bytes_in += pkt->len;
        }
        return count(sa, d);
}

/* ------------------------------------------------------------ outer headers */

EspUdpKind esp_udp_classify(const uint8_t *payload, size_t len) {
        if (len == 1 && payload[0] == 0xff)
                return ESP_UDP_KEEPALIVE;
        if (len < 4)
                return ESP_UDP_INVALID;
        if (payload[0] == 0 && payload[1] == 0 && payload[2] == 0 && payload[3] == 0)
                return ESP_UDP_IKE;
        return ESP_UDP_ESP;
}

PktDrop esp_locate(const uint8_t *p, size_t len, PktIpInfo *ret_ip, size_t *ret_esp_off, EspUdpKind *ret_kind) {
        *ret_kind = ESP_UDP_INVALID;
        PktDrop d = pkt_ip_parse(p, len, ret_ip);
        if (d != PKT_OK)
                return d;
        if (ret_ip->fragment)
                return PKT_DROP_FRAGMENT;
        if (ret_ip->proto == PKT_PROTO_ESP) {
                *ret_kind = ESP_UDP_ESP;
                *ret_esp_off = ret_ip->hdr_len;
                return PKT_OK;
        }
        if (ret_ip->proto != PKT_PROTO_UDP)
                return PKT_DROP_NEXT_HEADER;

        /* untrusted: the UDP header */
        PktReader r = pkt_reader(p + ret_ip->hdr_len, ret_ip->total_len - ret_ip->hdr_len);
        uint16_t dport, ulen;
        if (!pkt_skip(&r, 2) || !pkt_read_be16(&r, &dport) || !pkt_read_be16(&r, &ulen) || !pkt_skip(&r, 2))
                return PKT_DROP_BAD_LENGTH;
        if (dport != PKT_NATT_PORT)
                return PKT_DROP_NEXT_HEADER;
        if (ulen < PKT_UDP_HDR_LEN || ulen > ret_ip->total_len - ret_ip->hdr_len)
                return PKT_DROP_BAD_OUTER;
        *ret_kind = esp_udp_classify(p + ret_ip->hdr_len + PKT_UDP_HDR_LEN, ulen - PKT_UDP_HDR_LEN);
        *ret_esp_off = ret_ip->hdr_len + PKT_UDP_HDR_LEN;
        if (*ret_kind == ESP_UDP_INVALID)
                return PKT_DROP_BAD_LENGTH;
        return *ret_kind == ESP_UDP_ESP ? PKT_OK : PKT_DROP_NEXT_HEADER;
}

PktDrop esp_push_outer(PktBuf *pkt, const PktOuter *o, uint16_t ip_id) {
        return pkt_push_outer(pkt, o, PKT_PROTO_ESP, ip_id);
}
