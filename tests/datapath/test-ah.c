/* SPDX-License-Identifier: ISC */
/* services/filterd/ah.c: round trips of every integrity transform x mode x
 * family; the ICV checked against HMAC computed here with OpenSSL directly
 * over the packet with its mutable fields zeroed (RFC 4302 §3.3.3.1);
 * mutable fields that may change in transit and immutable ones that may
 * not; IPv4 options and IPv6 options; every flipped bit, every truncation;
 * replay, exhaustion, misuse. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/evp.h>

#include "dp-util.h"

#define SPI 0xa1b2c3d4u
#define SEED 0x60

static const char *digest_of(unsigned integ) {
        switch (integ) {
        case BH_AUTH_HMAC_SHA2_256_128: return "SHA256";
        case BH_AUTH_HMAC_SHA2_384_192: return "SHA384";
        case BH_AUTH_HMAC_SHA2_512_256: return "SHA512";
        case BH_AUTH_HMAC_SHA1_96: return "SHA1";
        default: return "MD5";
        }
}

static void ah_pair(unsigned integ, AhMode mode, bool esn, AhSa *out, AhSa *in) {
        ah_sa_init(out, SPI, mode, esn, 0, dp_transform_seeded(BH_ENCR_NONE, 0, integ, SEED));
        ah_sa_init(in, SPI, mode, esn, 0, dp_transform_seeded(BH_ENCR_NONE, 0, integ, SEED));
}

static PktDrop receive(AhSa *in, PktBuf *p) {
        PktIpInfo ip;
        PktDrop d = pkt_ip_parse(pkt_data(p), p->len, &ip);
        if (d != PKT_OK)
                return d;
        return ah_decap(in, p, &ip);
}

/* The ICV recomputed from scratch: OpenSSL's one-shot HMAC over a copy of
 * the packet with TOS/flags/TTL/checksum (IPv4) or class/flow/hop limit
 * (IPv6) and the ICV field zeroed, then the high ESN bits. Plain headers
 * only (no options): the option rules have their own test. */
static void check_icv(AhSa *sa, const uint8_t *pkt, size_t len, int family, uint64_t seq) {
        const BhIntegInfo *info = bh_integ_lookup(bh_transform_integ(sa->transform));
        size_t ip = family == AF_INET ? 20 : 40;
        size_t ah_len = ah_header_len(sa, family);
        uint8_t copy[2048], key[64], mac[64];
        size_t mac_len = 0;

        memcpy(copy, pkt, len);
        if (family == AF_INET) {
                copy[1] = 0;
                copy[6] = copy[7] = 0;
                copy[8] = 0;
                copy[10] = copy[11] = 0;
        } else {
                copy[0] &= 0xf0;
                copy[1] = copy[2] = copy[3] = 0;
                copy[7] = 0;
        }
        memset(copy + ip + AH_HDR_LEN, 0, ah_len - AH_HDR_LEN);
        if (sa->esn)
                pkt_store_be32(copy + len, (uint32_t) (seq >> 32));
        for (size_t i = 0; i < info->key_len; i++)
                key[i] = (uint8_t) (SEED + i);
        g_assert_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, digest_of(info->id), NULL, key, info->key_len, copy,
                                   len + (sa->esn ? 4 : 0), mac, sizeof mac, &mac_len));
        dp_assert_mem("ICV", pkt + ip + AH_HDR_LEN, info->icv_len, mac, info->icv_len);
        /* The padding of the ICV field is zero. */
        for (size_t i = AH_HDR_LEN + info->icv_len; i < ah_len; i++)
                g_assert_cmpuint(pkt[ip + i], ==, 0);
}

/* ------------------------------------------------------------ round trips */

typedef struct AhTrip {
        unsigned integ;
        AhMode mode;
        int inner, outer;
        bool esn;
} AhTrip;

static void test_round_trip(gconstpointer data) {
        const AhTrip *t = data;
        static const size_t sizes[] = { 0, 1, 7, 100, 1400 };
        AhSa out, in;
        ah_pair(t->integ, t->mode, t->esn, &out, &in);
        if (t->esn) {
                out.seq_out = UINT32_MAX - 2;
                in.replay.top = UINT32_MAX - 2;
        }
        PktOuter o = dp_outer(t->outer, false);
        size_t ah_len = ah_header_len(&out, t->outer);
        g_assert_cmpuint(ah_len % (t->outer == AF_INET6 ? 8 : 4), ==, 0);

        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                uint8_t orig[1600];
                DpBuf b;
                size_t len = t->inner == AF_INET ? dp_ipv4_packet(orig, PKT_PROTO_UDP, sizes[i], (uint32_t) i)
                                                 : dp_ipv6_packet(orig, PKT_PROTO_UDP, sizes[i], (uint32_t) i);
                dp_load(&b, orig, len);
                if (t->mode == AH_MODE_TUNNEL) {
                        g_assert_cmpint(ah_encap(&out, &b.pkt, &o, 77), ==, PKT_OK);
                        size_t ip = t->outer == AF_INET ? 20 : 40;
                        g_assert_cmpuint(b.pkt.len, ==, ip + ah_len + len);
                        const uint8_t *p = pkt_data(&b.pkt);
                        g_assert_cmpuint(p[ip], ==, t->inner == AF_INET ? PKT_PROTO_IPIP : PKT_PROTO_IPV6);
                        if (t->outer == AF_INET)
                                g_assert_cmpuint(pkt_csum_fold(pkt_csum_add(0, p, 20)), ==, 0xffff);
                } else {
                        g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_OK);
                        g_assert_cmpuint(b.pkt.len, ==, len + ah_len);
                        const uint8_t *p = pkt_data(&b.pkt);
                        size_t ip = t->inner == AF_INET ? 20 : 40;
                        g_assert_cmpuint(p[ip], ==, PKT_PROTO_UDP);
                        g_assert_cmpuint(p[t->inner == AF_INET ? 9 : 6], ==, PKT_PROTO_AH);
                        if (t->inner == AF_INET)
                                g_assert_cmpuint(pkt_csum_fold(pkt_csum_add(0, p, 20)), ==, 0xffff);
                }
                const uint8_t *p = pkt_data(&b.pkt);
                size_t ip = (t->mode == AH_MODE_TUNNEL ? t->outer : t->inner) == AF_INET ? 20 : 40;
                g_assert_cmpuint(p[ip + 1], ==, ah_len / 4 - 2);
                g_assert_cmphex(pkt_load_be32(p + ip + 4), ==, SPI);
                g_assert_cmphex(pkt_load_be32(p + ip + 8), ==, (uint32_t) out.seq_out);
                check_icv(&out, p, b.pkt.len, t->mode == AH_MODE_TUNNEL ? t->outer : t->inner, out.seq_out);

                g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_OK);
                dp_assert_mem("AH round trip", pkt_data(&b.pkt), b.pkt.len, orig, len);
        }
        g_assert_cmpuint(in.counters.packets_in, ==, G_N_ELEMENTS(sizes));
        g_assert_cmpuint(out.counters.packets_out, ==, G_N_ELEMENTS(sizes));
        g_assert_cmpuint(in.counters.bytes_in, ==, out.counters.bytes_out);
        if (t->esn)
                g_assert_cmpuint(in.replay.top, >, UINT32_MAX);
        ah_sa_clear(&out);
        ah_sa_clear(&in);
}

/* ------------------------------------------------------------ mutable fields */

static void test_mutable_fields(void) {
        AhSa out, in;
        uint8_t orig[256], sent[512];
        DpBuf b;

        /* IPv4 transport: what routers may change, and what they may not. */
        ah_pair(BH_AUTH_HMAC_SHA2_256_128, AH_MODE_TRANSPORT, false, &out, &in);
        size_t len = dp_ipv4_packet(orig, PKT_PROTO_TCP, 40, 1);
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_OK);
        size_t sl = b.pkt.len;
        memcpy(sent, pkt_data(&b.pkt), sl);
        static const struct {
                size_t at;
                uint8_t xor;
                PktDrop want;
        } v4[] = {
                { 1, 0xff, PKT_OK },  /* TOS */
                { 6, 0x40, PKT_OK },  /* DF set on the way */
                { 6, 0x80, PKT_OK },  /* the reserved flag too */
                { 8, 0x3f, PKT_OK },  /* TTL */
                { 10, 0x12, PKT_OK }, /* checksum */
                { 4, 0x01, PKT_DROP_ICV },  /* identification */
                { 12, 0x01, PKT_DROP_ICV }, /* source */
                { 19, 0x80, PKT_DROP_ICV }, /* destination */
                { 6, 0x20, PKT_DROP_FRAGMENT },
                { 7, 0x01, PKT_DROP_FRAGMENT },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(v4); i++) {
                replay_init(&in.replay, 0, false);
                dp_load(&b, sent, sl);
                pkt_data(&b.pkt)[v4[i].at] ^= v4[i].xor;
                PktDrop d = receive(&in, &b.pkt);
                if (d != v4[i].want)
                        g_error("IPv4 byte %zu ^ %#x: %s", v4[i].at, v4[i].xor, pkt_drop_name(d));
                if (d == PKT_OK) {
                        /* What arrives is what came, mutable fields as received. */
                        orig[v4[i].at] ^= v4[i].xor;
                        pkt_ipv4_set_checksum(orig, 20);
                        dp_assert_mem("IPv4 after a mutable change", pkt_data(&b.pkt), b.pkt.len, orig, len);
                        orig[v4[i].at] ^= v4[i].xor;
                        pkt_ipv4_set_checksum(orig, 20);
                }
        }
        ah_sa_clear(&out);
        ah_sa_clear(&in);

        /* IPv6 tunnel: class, flow label, hop limit of the outer header. */
        ah_pair(BH_AUTH_HMAC_SHA2_512_256, AH_MODE_TUNNEL, true, &out, &in);
        len = dp_ipv4_packet(orig, PKT_PROTO_UDP, 40, 2);
        dp_load(&b, orig, len);
        PktOuter o = dp_outer(AF_INET6, false);
        g_assert_cmpint(ah_encap(&out, &b.pkt, &o, 0), ==, PKT_OK);
        sl = b.pkt.len;
        memcpy(sent, pkt_data(&b.pkt), sl);
        static const struct {
                size_t at;
                uint8_t xor;
                PktDrop want;
        } v6[] = {
                { 0, 0x0f, PKT_OK },  { 1, 0xff, PKT_OK },  { 2, 0x55, PKT_OK },       { 3, 0x01, PKT_OK },
                { 7, 0x20, PKT_OK },  { 8, 0x01, PKT_DROP_ICV }, { 39, 0x01, PKT_DROP_ICV },
                { 40 + 2, 0x01, PKT_DROP_ICV }, /* AH reserved field is immutable */
        };
        for (size_t i = 0; i < G_N_ELEMENTS(v6); i++) {
                replay_init(&in.replay, 0, true);
                dp_load(&b, sent, sl);
                pkt_data(&b.pkt)[v6[i].at] ^= v6[i].xor;
                PktDrop d = receive(&in, &b.pkt);
                if (d != v6[i].want)
                        g_error("IPv6 byte %zu ^ %#x: %s", v6[i].at, v6[i].xor, pkt_drop_name(d));
                if (d == PKT_OK)
                        dp_assert_mem("inner", pkt_data(&b.pkt), b.pkt.len, orig, len);
        }
        ah_sa_clear(&out);
        ah_sa_clear(&in);
}

/* IPv4 options (RFC 4302 Appendix A.1) and IPv6 options (§3.3.3.1.2.2). */
static void test_options(void) {
        AhSa out, in;
        uint8_t orig[256], sent[512];
        DpBuf b;
        ah_pair(BH_AUTH_HMAC_SHA2_256_128, AH_MODE_TRANSPORT, false, &out, &in);

        /* IPv4 | Router Alert (immutable) | Record Route (mutable) | EOL */
        uint8_t body[40];
        size_t len = dp_ipv4_packet(orig, PKT_PROTO_UDP, 40, 3);
        memcpy(body, orig + 20, 40);
        static const uint8_t opts[12] = { 148, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0 };
        memcpy(orig + 20, opts, sizeof opts);
        memcpy(orig + 32, body, 40);
        len += 12;
        orig[0] = 0x48;
        pkt_store_be16(orig + 2, (uint16_t) len);
        pkt_ipv4_set_checksum(orig, 32);
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_OK);
        size_t sl = b.pkt.len;
        memcpy(sent, pkt_data(&b.pkt), sl);
        g_assert_cmpuint(sent[9], ==, PKT_PROTO_AH);
        g_assert_cmpuint(sent[32], ==, PKT_PROTO_UDP);

        /* A router records its address: fine. */
        replay_init(&in.replay, 0, false);
        dp_load(&b, sent, sl);
        pkt_store_be32(pkt_data(&b.pkt) + 27, 0x0a000001);
        pkt_data(&b.pkt)[26] = 8;
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_OK);
        /* Someone changes the router alert value: not fine. */
        replay_init(&in.replay, 0, false);
        dp_load(&b, sent, sl);
        pkt_data(&b.pkt)[23] = 1;
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_ICV);
        /* Options that run past the header. */
        replay_init(&in.replay, 0, false);
        dp_load(&b, sent, sl);
        pkt_data(&b.pkt)[25] = 40;
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_BAD_OUTER);
        /* A source route on output is not done. */
        orig[24] = 131;
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_DROP_UNSUPPORTED);

        /* IPv6 | hop-by-hop [opt 0x3e: may change; opt 0x1e: may not] | UDP */
        len = dp_ipv6_packet(orig, PKT_PROTO_HOPOPTS, 16 + 20, 4);
        static const uint8_t hbh[16] = { PKT_PROTO_UDP, 1, 0x3e, 4, 1, 2, 3, 4, 0x1e, 4, 5, 6, 7, 8, 1, 0 };
        memcpy(orig + 40, hbh, sizeof hbh);
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_OK);
        sl = b.pkt.len;
        memcpy(sent, pkt_data(&b.pkt), sl);
        g_assert_cmpuint(sent[40], ==, PKT_PROTO_AH);
        g_assert_cmpuint(sent[56], ==, PKT_PROTO_UDP);
        replay_init(&in.replay, 0, false);
        dp_load(&b, sent, sl);
        pkt_data(&b.pkt)[45] ^= 0xff;
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_OK);
        replay_init(&in.replay, 0, false);
        dp_load(&b, sent, sl);
        pkt_data(&b.pkt)[51] ^= 0xff;
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_ICV);
        /* A mutable option's type is still covered. */
        replay_init(&in.replay, 0, false);
        dp_load(&b, sent, sl);
        pkt_data(&b.pkt)[42] ^= 0x01;
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_ICV);
        /* Routing headers are refused both ways. */
        orig[6] = PKT_PROTO_ROUTING;
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_DROP_UNSUPPORTED);
        ah_sa_clear(&out);
        ah_sa_clear(&in);
}

/* ------------------------------------------------------------ negative cases */

/* What flipping one bit of an IPv4 transport-mode AH packet (20 | 24 or 28
 * | payload) must give. */
static bool flip_ok(size_t byte, unsigned bit, PktDrop d, size_t ah_len) {
        switch (byte) {
        case 1: case 8: case 10: case 11: return d == PKT_OK;      /* mutable */
        case 6: return bit >= 6 ? d == PKT_OK : d == PKT_DROP_FRAGMENT;
        case 7: return d == PKT_DROP_FRAGMENT;
        default: break;
        }
        if (byte < 20)
                return d != PKT_OK;
        if (byte == 21)
                return d == PKT_DROP_BAD_LENGTH;
        if (byte >= 24 && byte < 28)
                return d == PKT_DROP_SPI;
        if (byte == 31 && bit == 0)
                return d == PKT_DROP_TOO_OLD;
        return d == PKT_DROP_ICV;
}

static void test_flips_and_truncation(void) {
        for (size_t k = 0; k < dp_n_ah_integs; k++) {
                AhSa out, in;
                uint8_t orig[128], sent[256];
                DpBuf b;
                ah_pair(dp_ah_integs[k], AH_MODE_TRANSPORT, false, &out, &in);
                size_t len = dp_ipv4_packet(orig, PKT_PROTO_UDP, 24, 5);
                dp_load(&b, orig, len);
                g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_OK);
                size_t sl = b.pkt.len;
                memcpy(sent, pkt_data(&b.pkt), sl);
                size_t ah_len = ah_header_len(&out, AF_INET);

                for (size_t bit = 0; bit < sl * 8; bit++) {
                        replay_init(&in.replay, 0, false);
                        dp_load(&b, sent, sl);
                        pkt_data(&b.pkt)[bit / 8] ^= (uint8_t) (1u << (bit % 8));
                        PktDrop d = receive(&in, &b.pkt);
                        if (!flip_ok(bit / 8, bit % 8, d, ah_len))
                                g_error("%s: byte %zu bit %zu: %s", bh_integ_name(dp_ah_integs[k]), bit / 8, bit % 8,
                                        pkt_drop_name(d));
                }
                for (size_t l = 0; l < sl; l++) {
                        replay_init(&in.replay, 0, false);
                        uint8_t *copy = g_malloc(l ? l : 1);
                        memcpy(copy, sent, l);
                        PktBuf p;
                        pkt_init(&p, copy, l, 0, l);
                        g_assert_cmpint(receive(&in, &p), !=, PKT_OK);
                        g_free(copy);
                }
                /* The header says shorter: that is a different packet. */
                replay_init(&in.replay, 0, false);
                dp_load(&b, sent, sl);
                pkt_store_be16(pkt_data(&b.pkt) + 2, (uint16_t) (sl - 4));
                g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_ICV);
                ah_sa_clear(&out);
                ah_sa_clear(&in);
        }
}

static void test_replay_and_misuse(void) {
        AhSa out, in;
        uint8_t orig[128], sent[256];
        DpBuf b;
        ah_pair(BH_AUTH_HMAC_SHA2_384_192, AH_MODE_TUNNEL, false, &out, &in);
        PktOuter o = dp_outer(AF_INET, false);
        size_t len = dp_ipv6_packet(orig, PKT_PROTO_UDP, 24, 5);
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, &o, 9), ==, PKT_OK);
        size_t sl = b.pkt.len;
        memcpy(sent, pkt_data(&b.pkt), sl);
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_OK);
        dp_load(&b, sent, sl);
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_REPLAY);
        g_assert_cmpuint(in.counters.drops[PKT_DROP_REPLAY], ==, 1);

        /* Next header says IPv4, the inner packet is IPv6: authentic but bad. */
        /* (covered for ESP; for AH the next header is under the ICV.) */

        /* Exhaustion. */
        out.seq_out = UINT32_MAX;
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, &o, 9), ==, PKT_DROP_SEQ_EXHAUSTED);
        g_assert_cmpuint(out.counters.drops[PKT_DROP_SEQ_EXHAUSTED], ==, 1);
        out.seq_out = 1;

        /* Misuse. */
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, NULL, 0), ==, PKT_DROP_INVALID_SA);
        PktOuter udp = dp_outer(AF_INET, true);
        g_assert_cmpint(ah_encap(&out, &b.pkt, &udp, 0), ==, PKT_DROP_INVALID_SA);
        g_assert_cmpint(ah_decap(&in, &b.pkt, NULL), ==, PKT_DROP_BAD_OUTER);
        memcpy(b.mem + 10, orig, len);
        pkt_init(&b.pkt, b.mem, sizeof b.mem, 10, len);
        g_assert_cmpint(ah_encap(&out, &b.pkt, &o, 0), ==, PKT_DROP_NO_ROOM);

        AhSa bad;
        ah_sa_init(&bad, SPI, AH_MODE_TRANSPORT, false, 0, dp_transform_seeded(BH_ENCR_AES_GCM_16, 128, 0, 1));
        dp_load(&b, orig, len);
        g_assert_cmpint(ah_encap(&bad, &b.pkt, NULL, 0), ==, PKT_DROP_INVALID_SA);
        ah_sa_clear(&bad);
        ah_sa_init(&bad, SPI, AH_MODE_TRANSPORT, false, 0, dp_transform_seeded(BH_ENCR_NONE, 0,
                                                                               BH_AUTH_HMAC_SHA2_256_128, 1));
        dp_load(&b, orig, len);
        pkt_store_be16(pkt_data(&b.pkt) + 4, 100); /* IPv6 payload length beyond the packet */
        g_assert_cmpint(ah_encap(&bad, &b.pkt, NULL, 0), ==, PKT_DROP_BAD_INNER);
        ah_sa_clear(&bad);
        ah_sa_clear(NULL);

        /* ESP is not AH; another SPI is not this SA. */
        len = dp_ipv4_packet(orig, PKT_PROTO_ESP, 24, 5);
        dp_load(&b, orig, len);
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_BAD_OUTER);
        dp_load(&b, sent, sl);
        pkt_data(&b.pkt)[20 + 7] ^= 1;
        g_assert_cmpint(receive(&in, &b.pkt), ==, PKT_DROP_SPI);
        ah_sa_clear(&out);
        ah_sa_clear(&in);
}

static void test_header_lengths(void) {
        static const struct {
                unsigned integ;
                size_t v4, v6;
        } cases[] = {
                { BH_AUTH_HMAC_SHA2_256_128, 28, 32 }, { BH_AUTH_HMAC_SHA2_384_192, 36, 40 },
                { BH_AUTH_HMAC_SHA2_512_256, 44, 48 }, { BH_AUTH_HMAC_SHA1_96, 24, 24 },
                { BH_AUTH_HMAC_MD5_96, 24, 24 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                AhSa sa;
                ah_sa_init(&sa, 1, AH_MODE_TUNNEL, false, 0, dp_transform_seeded(BH_ENCR_NONE, 0, cases[i].integ, 1));
                g_assert_cmpuint(ah_header_len(&sa, AF_INET), ==, cases[i].v4);
                g_assert_cmpuint(ah_header_len(&sa, AF_INET6), ==, cases[i].v6);
                ah_sa_clear(&sa);
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        static AhTrip trips[256];
        size_t n = 0;
        for (size_t k = 0; k < dp_n_ah_integs; k++)
                for (int esn = 0; esn <= 1; esn++)
                        for (int i = 0; i < 2; i++) {
                                int inner = i ? AF_INET6 : AF_INET;
                                trips[n++] = (AhTrip) { dp_ah_integs[k], AH_MODE_TUNNEL, inner, AF_INET, esn };
                                trips[n++] = (AhTrip) { dp_ah_integs[k], AH_MODE_TUNNEL, inner, AF_INET6, esn };
                                trips[n++] = (AhTrip) { dp_ah_integs[k], AH_MODE_TRANSPORT, inner, inner, esn };
                        }
        for (size_t i = 0; i < n; i++) {
                const AhTrip *t = &trips[i];
                g_autofree char *path = g_strdup_printf("/ah/round-trip/%s/%s/inner-%s/outer-%s%s",
                                                        bh_integ_name(t->integ),
                                                        t->mode == AH_MODE_TUNNEL ? "tunnel" : "transport",
                                                        t->inner == AF_INET ? "v4" : "v6",
                                                        t->outer == AF_INET ? "v4" : "v6", t->esn ? "/esn" : "");
                g_test_add_data_func(path, t, test_round_trip);
        }
        g_test_add_func("/ah/header-lengths", test_header_lengths);
        g_test_add_func("/ah/mutable-fields", test_mutable_fields);
        g_test_add_func("/ah/options", test_options);
        g_test_add_func("/ah/negative/flips-and-truncation", test_flips_and_truncation);
        g_test_add_func("/ah/negative/replay-and-misuse", test_replay_and_misuse);
        return g_test_run();
}
