/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "dp-util.h"
#include "secmem.h"

void dp_load(DpBuf *b, const void *data, size_t len) {
        g_assert_cmpuint(len, <=, DP_BUF_SIZE - DP_HEADROOM);
        memset(b->mem, 0xee, sizeof b->mem);
        memcpy(b->mem + DP_HEADROOM, data, len);
        pkt_init(&b->pkt, b->mem, sizeof b->mem, DP_HEADROOM, len);
}

uint8_t *dp_unhex(const char *hex, size_t *ret_len) {
        size_t n = 0, cap = strlen(hex) / 2 + 1;
        uint8_t *out = g_malloc0(cap);
        int hi = -1;
        for (const char *c = hex; *c; c++) {
                if (g_ascii_isspace(*c))
                        continue;
                int v = g_ascii_xdigit_value(*c);
                g_assert_cmpint(v, >=, 0);
                if (hi < 0)
                        hi = v;
                else {
                        out[n++] = (uint8_t) (hi << 4 | v);
                        hi = -1;
                }
        }
        g_assert_cmpint(hi, ==, -1);
        *ret_len = n;
        return out;
}

BhTransform *dp_transform(unsigned enc, unsigned bits, unsigned integ, const uint8_t *keymat, size_t len) {
        BhSecret *s = bh_secret_new_copy(keymat, len);
        BhTransform *t = NULL;
        g_assert_nonnull(s);
        int r = bh_transform_new(enc, bits, integ, s, &t);
        bh_secret_free(s);
        if (r < 0)
                g_error("bh_transform_new(%s/%u, %s): %s", bh_encr_name(enc), bits, bh_integ_name(integ), g_strerror(-r));
        return t;
}

BhTransform *dp_transform_seeded(unsigned enc, unsigned bits, unsigned integ, uint8_t seed) {
        size_t len;
        uint8_t km[256];
        g_assert_cmpint(bh_transform_check(enc, bits, integ, &len), ==, 0);
        g_assert_cmpuint(len, <=, sizeof km);
        for (size_t i = 0; i < len; i++)
                km[i] = (uint8_t) (seed + i);
        return dp_transform(enc, bits, integ, km, len);
}

const DpCombo dp_esp_combos[] = {
        { "aes128gcm16", BH_ENCR_AES_GCM_16, 128, BH_AUTH_NONE },
        { "aes192gcm16", BH_ENCR_AES_GCM_16, 192, BH_AUTH_NONE },
        { "aes256gcm16", BH_ENCR_AES_GCM_16, 256, BH_AUTH_NONE },
        { "chacha20poly1305", BH_ENCR_CHACHA20_POLY1305, 256, BH_AUTH_NONE },
        { "aes128-sha256", BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_SHA2_256_128 },
        { "aes256-sha256", BH_ENCR_AES_CBC, 256, BH_AUTH_HMAC_SHA2_256_128 },
        { "aes192-sha384", BH_ENCR_AES_CBC, 192, BH_AUTH_HMAC_SHA2_384_192 },
        { "aes256-sha512", BH_ENCR_AES_CBC, 256, BH_AUTH_HMAC_SHA2_512_256 },
        { "null-sha256", BH_ENCR_NULL, 0, BH_AUTH_HMAC_SHA2_256_128 },
        { "null-sha512", BH_ENCR_NULL, 0, BH_AUTH_HMAC_SHA2_512_256 },
        /* legacy, only when named */
        { "aes128-sha1", BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_SHA1_96 },
        { "aes128-md5", BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_MD5_96 },
        { "3des-sha256", BH_ENCR_3DES, 192, BH_AUTH_HMAC_SHA2_256_128 },
        { "3des-sha1", BH_ENCR_3DES, 192, BH_AUTH_HMAC_SHA1_96 },
        { "aes128 (no integrity)", BH_ENCR_AES_CBC, 128, BH_AUTH_NONE },
};
const size_t dp_n_esp_combos = G_N_ELEMENTS(dp_esp_combos);

const unsigned dp_ah_integs[] = {
        BH_AUTH_HMAC_SHA2_256_128, BH_AUTH_HMAC_SHA2_384_192, BH_AUTH_HMAC_SHA2_512_256,
        BH_AUTH_HMAC_SHA1_96,      BH_AUTH_HMAC_MD5_96,
};
const size_t dp_n_ah_integs = G_N_ELEMENTS(dp_ah_integs);

static void fill(uint8_t *p, size_t n, uint32_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed * 31 + i * 7 + (i >> 8));
}

size_t dp_ipv4_packet(uint8_t *out, uint8_t proto, size_t payload_len, uint32_t seed) {
        size_t total = PKT_IPV4_HDR_LEN + payload_len;
        g_assert_cmpuint(total, <=, 65535);
        memset(out, 0, PKT_IPV4_HDR_LEN);
        out[0] = 0x45;
        out[1] = 0x10;
        pkt_store_be16(out + 2, (uint16_t) total);
        pkt_store_be16(out + 4, (uint16_t) seed);
        pkt_store_be16(out + 6, 0x4000); /* DF */
        out[8] = 64;
        out[9] = proto;
        pkt_store_be32(out + 12, 0xc0a80001); /* 192.168.0.1 */
        pkt_store_be32(out + 16, 0xc0a80102); /* 192.168.1.2 */
        pkt_ipv4_set_checksum(out, PKT_IPV4_HDR_LEN);
        fill(out + PKT_IPV4_HDR_LEN, payload_len, seed);
        return total;
}

size_t dp_ipv6_packet(uint8_t *out, uint8_t proto, size_t payload_len, uint32_t seed) {
        g_assert_cmpuint(payload_len, <=, 65535);
        memset(out, 0, PKT_IPV6_HDR_LEN);
        pkt_store_be32(out, 6u << 28 | 0x2a << 20 | (seed & 0xfffff));
        pkt_store_be16(out + 4, (uint16_t) payload_len);
        out[6] = proto;
        out[7] = 64;
        inet_pton(AF_INET6, "2001:db8::1", out + 8);
        inet_pton(AF_INET6, "2001:db8:1::2", out + 24);
        fill(out + PKT_IPV6_HDR_LEN, payload_len, seed);
        return PKT_IPV6_HDR_LEN + payload_len;
}

PktOuter dp_outer(int family, bool udp) {
        PktOuter o = { .family = family, .ttl = 64, .tos = 0 };
        if (family == AF_INET) {
                inet_pton(AF_INET, "198.51.100.1", &o.src.v4);
                inet_pton(AF_INET, "203.0.113.9", &o.dst.v4);
        } else {
                inet_pton(AF_INET6, "2001:db8:ffff::1", &o.src.v6);
                inet_pton(AF_INET6, "2001:db8:eeee::9", &o.dst.v6);
                o.flow = 0x12345;
        }
        if (udp) {
                o.udp_sport = 4500;
                o.udp_dport = 4500;
        }
        return o;
}

static char *hexdump(const uint8_t *p, size_t n) {
        GString *s = g_string_new(NULL);
        for (size_t i = 0; i < n; i++)
                g_string_append_printf(s, "%02x%s", p[i], i % 16 == 15 ? "\n" : " ");
        return g_string_free(s, FALSE);
}

void dp_assert_mem(const char *what, const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len) {
        if (got_len == want_len && memcmp(got, want, got_len) == 0)
                return;
        g_autofree char *g = hexdump(got, got_len);
        g_autofree char *w = hexdump(want, want_len);
        g_error("%s: mismatch\ngot (%zu bytes):\n%s\nwant (%zu bytes):\n%s", what, got_len, g, want_len, w);
}
