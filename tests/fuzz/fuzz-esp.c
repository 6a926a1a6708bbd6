/* SPDX-License-Identifier: ISC */
/* ESP inbound (RFC 4303, RFC 3948), as filterd runs it on what arrives from
 * the network: pkt_ip_parse(), esp_locate(), esp_udp_classify() and
 * esp_decap() on a fixed SA per transform (untrusted: any packet).
 *
 * Input:
 *   byte 0   transform, an index into fuzz_esp_transforms[] (fuzz-shared.h)
 *   byte 1   flags: 0x01 ESN, 0x02 transport mode, 0x04 forge, 0x08 bare
 *            (the packet starts at the ESP header, as from the UDP 4500
 *            socket), 0x10 a window position follows, 0x20 anti-replay
 *            off (EspSa.anti_replay, as for a manual SA without it)
 *   8 bytes  (with 0x10) the highest sequence number seen so far
 *   rest     the packet
 *
 * Random bytes never pass the ICV. With "forge", the harness encrypts and
 * authenticates the packet's ESP payload as it stands (the fuzzer's bytes
 * are the plaintext: padding, pad length and next header included) with the
 * SA's own keys, so that everything behind the ICV check is reached too;
 * the decapsulated payload must then be that plaintext.
 *
 * The packet lies in a heap block of exactly its size: decapsulation works
 * in place and only shrinks the packet, so it needs no headroom or tailroom,
 * and any access outside the packet is a sanitizer error. Checks besides
 * the sanitizers: a result is PKT_OK or a drop reason, counted once in the
 * SA; what comes out lies inside the buffer; a tunnel-mode result is an
 * IPv4/IPv6 packet of its own length; parser results are consistent. */
#include <string.h>
#include <sys/socket.h>

#include "esp.h"
#include "fuzz-shared.h"
#include "fuzz.h"

#define N_TRANSFORMS FUZZ_N_ESP_TRANSFORMS

/* Per transform: the inbound SA's transform and a second one with the same
 * key, to forge packets with. */
static BhTransform *in_t[N_TRANSFORMS], *forge_t[N_TRANSFORMS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        for (size_t i = 0; i < N_TRANSFORMS; i++) {
                in_t[i] = fuzz_esp_transform(i);
                forge_t[i] = fuzz_esp_transform(i);
                if (!in_t[i] || !forge_t[i])
                        fuzz_fail(__FILE__, __LINE__, "transform %s refused", fuzz_esp_transforms[i].name);
        }
        return 0;
}

static void check_ip(const PktIpInfo *ip, size_t len) {
        FUZZ_CHECK(ip->family == AF_INET || ip->family == AF_INET6, "family %d", ip->family);
        FUZZ_CHECK(ip->total_len <= len, "total_len %zu > %zu", ip->total_len, len);
        FUZZ_CHECK(ip->hdr_len <= ip->total_len, "hdr_len %zu > total_len %zu", ip->hdr_len, ip->total_len);
        FUZZ_CHECK(ip->nh_off < ip->hdr_len, "nh_off %zu >= hdr_len %zu", ip->nh_off, ip->hdr_len);
        FUZZ_CHECK(ip->hdr_len >= (ip->family == AF_INET ? PKT_IPV4_HDR_LEN : PKT_IPV6_HDR_LEN), "short header");
}

/* Encrypts and authenticates esp[0, len) in place as the SA's peer would,
 * with the SPI and sequence number written in it: the plaintext (padding
 * and trailer included) is what the fuzzer wrote. Copies the plaintext to
 * *ret_plain. False when the packet cannot be ESP of this SA at all. */
static bool forge(EspSa *sa, BhTransform *t, uint8_t *esp, size_t len, uint8_t **ret_plain, size_t *ret_plain_len) {
        size_t iv_len = bh_transform_iv_len(t), icv_len = bh_transform_icv_len(t);
        size_t block = bh_transform_block_size(t);
        if (len < ESP_HDR_LEN + iv_len + icv_len)
                return false;
        size_t ct_len = len - ESP_HDR_LEN - iv_len - icv_len;
        if (ct_len < 2 || ct_len % block != 0)
                return false;
        pkt_store_be32(esp, sa->spi);
        uint64_t seq;
        uint32_t seq_low = pkt_load_be32(esp + 4);
        if (!sa->anti_replay)
                /* The high half as the receiver takes it without a window. */
                seq = sa->esn ? (sa->replay.top & 0xffffffff00000000ull) | seq_low : seq_low;
        else if (replay_check(&sa->replay, seq_low, &seq) != PKT_OK)
                return false;
        uint8_t *data = esp + ESP_HDR_LEN + iv_len, hi[4];
        pkt_store_be32(hi, (uint32_t) (seq >> 32));
        *ret_plain = g_memdup2(data, ct_len);
        *ret_plain_len = ct_len;
        int r;
        if (bh_transform_is_aead(t)) {
                uint8_t aad[12];
                size_t aad_len = sa->esn ? 12 : 8;
                memcpy(aad, esp, 4);
                if (sa->esn)
                        memcpy(aad + 4, hi, 4);
                memcpy(aad + aad_len - 4, esp + 4, 4);
                r = bh_transform_seal(t, esp + ESP_HDR_LEN, aad, aad_len, NULL, 0, data, ct_len, data + ct_len);
        } else
                r = bh_transform_seal(t, esp + ESP_HDR_LEN, esp, ESP_HDR_LEN + iv_len, hi, sa->esn ? 4 : 0, data, ct_len,
                                      data + ct_len);
        FUZZ_CHECK(r == 0, "forging failed: %d", r);
        return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!in_t[0])
                LLVMFuzzerInitialize(NULL, NULL);
        FuzzInput in = { data, size };
        size_t ti = fuzz_u8(&in) % N_TRANSFORMS;
        uint8_t flags = fuzz_u8(&in);
        uint64_t top = flags & FUZZ_ESP_WINDOW ? fuzz_be64(&in) : 0;
        bool esn = flags & FUZZ_ESP_ESN, bare = flags & FUZZ_ESP_BARE;
        EspMode mode = flags & FUZZ_ESP_TRANSPORT ? ESP_MODE_TRANSPORT : ESP_MODE_TUNNEL;

        EspSa sa;
        esp_sa_init(&sa, FUZZ_ESP_SPI, mode, esn, 0, in_t[ti]);
        if (flags & FUZZ_ESP_NO_REPLAY)
                sa.anti_replay = false;
        if (top) {
                /* Where the window stands after earlier packets. */
                if (!esn)
                        top &= 0xffffffffu;
                if (top)
                        (void) replay_update(&sa.replay, top);
        }

        size_t len = in.len;
        uint8_t *buf = g_malloc(len ? len : 1);
        memcpy(buf, in.p, len);

        (void) esp_udp_classify(buf, len);
        PktIpInfo ip;
        size_t esp_off = 0, esp_len = len;
        EspUdpKind kind;
        PktDrop located = PKT_OK;
        if (!bare) {
                located = esp_locate(buf, len, &ip, &esp_off, &kind);
                FUZZ_CHECK((unsigned) located < _PKT_DROP_MAX, "esp_locate: %d", (int) located);
                FUZZ_CHECK(kind <= ESP_UDP_INVALID, "esp_locate: kind %d", (int) kind);
                if (located == PKT_OK) {
                        check_ip(&ip, len);
                        FUZZ_CHECK(kind == ESP_UDP_ESP, "located ESP of kind %d", (int) kind);
                        FUZZ_CHECK(esp_off >= ip.hdr_len && esp_off <= ip.total_len, "ESP at %zu", esp_off);
                        if (ip.proto == PKT_PROTO_UDP)
                                esp_len = ip.hdr_len + pkt_load_be16(buf + ip.hdr_len + 4) - esp_off;
                        else
                                esp_len = ip.total_len - esp_off;
                } else if (pkt_ip_parse(buf, len, &ip) == PKT_OK)
                        check_ip(&ip, len);
        }

        uint8_t *plain = NULL;
        size_t plain_len = 0;
        bool forged = false;
        if ((flags & FUZZ_ESP_FORGE) && located == PKT_OK)
                forged = forge(&sa, forge_t[ti], buf + esp_off, esp_len, &plain, &plain_len);

        PktBuf pkt;
        pkt_init(&pkt, buf, len, 0, len);
        PktDrop d;
        if (bare)
                d = esp_decap(&sa, &pkt, NULL);
        else if (located == PKT_OK)
                d = esp_decap(&sa, &pkt, &ip);
        else
                d = located;
        FUZZ_CHECK((unsigned) d < _PKT_DROP_MAX, "esp_decap: %d", (int) d);
        if (bare || located == PKT_OK) {
                uint64_t counted = sa.counters.packets_in;
                for (int i = 0; i < _PKT_DROP_MAX; i++)
                        counted += sa.counters.drops[i];
                FUZZ_CHECK(counted == 1, "one packet counted %llu times", (unsigned long long) counted);
                FUZZ_CHECK(d == PKT_OK ? sa.counters.packets_in == 1 : sa.counters.drops[d] == 1,
                           "result not counted");
        }
        if (d == PKT_OK) {
                FUZZ_CHECK(pkt.buf == buf && pkt.size == len, "buffer replaced");
                FUZZ_CHECK(pkt.off <= len && pkt.len <= len - pkt.off, "result outside the buffer");
                FUZZ_CHECK(sa.replay.top != 0 || !sa.anti_replay, "window did not move");
                const uint8_t *out = pkt_data(&pkt);
                if (mode == ESP_MODE_TUNNEL) {
                        PktIpInfo inner;
                        FUZZ_CHECK(pkt.len >= 1 && (out[0] >> 4 == 4 || out[0] >> 4 == 6), "inner is not IP");
                        if (pkt_ip_parse(out, pkt.len, &inner) == PKT_OK)
                                FUZZ_CHECK(inner.total_len == pkt.len, "inner of %zu bytes, trimmed to %zu",
                                           inner.total_len, pkt.len);
                        if (forged)
                                FUZZ_CHECK(pkt.len <= plain_len && memcmp(out, plain, pkt.len) == 0,
                                           "tunnel payload is not the plaintext");
                } else {
                        FUZZ_CHECK(!bare, "transport mode without an IP header");
                        FUZZ_CHECK(pkt.len >= ip.hdr_len, "transport result shorter than its header");
                        if (forged) {
                                size_t n = pkt.len - ip.hdr_len;
                                FUZZ_CHECK(n <= plain_len && memcmp(out + ip.hdr_len, plain, n) == 0,
                                           "transport payload is not the plaintext");
                        }
                }
        } else if (forged) {
                /* Authentic: only what lies behind the ICV may fail. */
                FUZZ_CHECK(d != PKT_DROP_ICV && d != PKT_DROP_SPI, "forged packet dropped as %s", pkt_drop_name(d));
        }
        (void) pkt_drop_name(d);

        g_free(plain);
        g_free(buf);
        /* The transform belongs to in_t[]: esp_sa_clear() would free it. */
        return 0;
}
