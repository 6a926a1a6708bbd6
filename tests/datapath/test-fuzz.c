/* SPDX-License-Identifier: ISC */
/* Random mutations of valid packets (fixed seed, so a failure reproduces):
 * every input must give PKT_OK or a drop reason, never a crash, a read past
 * the buffer (each input sits in a heap block of exactly its size, for the
 * sanitizer build) or an output outside the buffer. The inbound paths get
 * mutated ESP and AH packets with every outer header; the outbound paths
 * get mutated plain packets. */
#include <string.h>
#include <sys/socket.h>

#include "dp-util.h"

#define SEED 0xb01c4eadu
#define ROUNDS_PER_PACKET 1000

typedef struct Target {
        const char *name;
        bool ah;
        unsigned enc, bits, integ;
        int mode; /* ESP_MODE_* / AH_MODE_* */
} Target;

static const Target targets[] = {
        { "esp aes256gcm16 tunnel", false, BH_ENCR_AES_GCM_16, 256, 0, ESP_MODE_TUNNEL },
        { "esp chacha20poly1305 tunnel", false, BH_ENCR_CHACHA20_POLY1305, 256, 0, ESP_MODE_TUNNEL },
        { "esp aes128-sha256 tunnel", false, BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_SHA2_256_128, ESP_MODE_TUNNEL },
        { "esp null-sha256 tunnel", false, BH_ENCR_NULL, 0, BH_AUTH_HMAC_SHA2_256_128, ESP_MODE_TUNNEL },
        /* Encryption only: garbage decrypts to garbage that the padding,
         * next header and inner checks have to survive. */
        { "esp aes128 (no integrity) tunnel", false, BH_ENCR_AES_CBC, 128, 0, ESP_MODE_TUNNEL },
        { "esp null-sha512 transport", false, BH_ENCR_NULL, 0, BH_AUTH_HMAC_SHA2_512_256, ESP_MODE_TRANSPORT },
        { "esp aes128 (no integrity) transport", false, BH_ENCR_AES_CBC, 128, 0, ESP_MODE_TRANSPORT },
        { "ah sha256 tunnel", true, BH_ENCR_NONE, 0, BH_AUTH_HMAC_SHA2_256_128, AH_MODE_TUNNEL },
        { "ah sha1 transport", true, BH_ENCR_NONE, 0, BH_AUTH_HMAC_SHA1_96, AH_MODE_TRANSPORT },
};

typedef struct Sa {
        const Target *t;
        EspSa esp;
        AhSa ah;
} Sa;

static void sa_init(Sa *sa, const Target *t, bool esn) {
        sa->t = t;
        if (t->ah)
                ah_sa_init(&sa->ah, 0x51, t->mode, esn, 64, dp_transform_seeded(t->enc, t->bits, t->integ, 9));
        else
                esp_sa_init(&sa->esp, 0x51, t->mode, esn, 64, dp_transform_seeded(t->enc, t->bits, t->integ, 9));
}

static void sa_clear(Sa *sa) {
        if (sa->t->ah)
                ah_sa_clear(&sa->ah);
        else
                esp_sa_clear(&sa->esp);
}

static size_t inner_packet(GRand *r, uint8_t *out) {
        size_t payload = (size_t) g_rand_int_range(r, 0, 300);
        uint8_t proto = g_rand_boolean(r) ? PKT_PROTO_UDP : PKT_PROTO_TCP;
        return g_rand_boolean(r) ? dp_ipv4_packet(out, proto, payload, g_rand_int(r))
                                 : dp_ipv6_packet(out, proto, payload, g_rand_int(r));
}

/* A valid protected packet, outer header included (or ESP alone); the
 * packet it protects goes to inner. */
static size_t valid_packet(GRand *r, Sa *sa, uint8_t *out, bool *ret_bare, uint8_t *inner, size_t *ret_inner_len) {
        DpBuf b;
        size_t il = inner_packet(r, inner);
        *ret_inner_len = il;
        dp_load(&b, inner, il);
        int fam = g_rand_boolean(r) ? AF_INET : AF_INET6;
        *ret_bare = false;
        if (sa->t->ah) {
                PktOuter o = dp_outer(fam, false);
                g_assert_cmpint(ah_encap(&sa->ah, &b.pkt, sa->t->mode == AH_MODE_TUNNEL ? &o : NULL, 1), ==, PKT_OK);
        } else {
                g_assert_cmpint(esp_encap(&sa->esp, &b.pkt), ==, PKT_OK);
                if (sa->t->mode == ESP_MODE_TUNNEL) {
                        int kind = g_rand_int_range(r, 0, 3);
                        if (kind == 0)
                                *ret_bare = true;
                        else {
                                PktOuter o = dp_outer(fam, kind == 2);
                                g_assert_cmpint(esp_push_outer(&b.pkt, &o, 1), ==, PKT_OK);
                        }
                }
        }
        memcpy(out, pkt_data(&b.pkt), b.pkt.len);
        return b.pkt.len;
}

/* Damages p[0, len) in place (capacity cap); returns the new length. */
static size_t mutate(GRand *r, uint8_t *p, size_t len, size_t cap) {
        int n = g_rand_int_range(r, 1, 4);
        for (int i = 0; i < n; i++) {
                switch (g_rand_int_range(r, 0, 9)) {
                case 0: /* flip bits */
                        for (int k = g_rand_int_range(r, 1, 9); k > 0 && len; k--)
                                p[g_rand_int_range(r, 0, (gint32) len)] ^= (uint8_t) (1u << g_rand_int_range(r, 0, 8));
                        break;
                case 1: /* a random byte */
                        if (len)
                                p[g_rand_int_range(r, 0, (gint32) len)] = (uint8_t) g_rand_int(r);
                        break;
                case 2: /* truncate */
                        len = (size_t) g_rand_int_range(r, 0, (gint32) len + 1);
                        break;
                case 3: /* garbage appended */
                        for (int k = g_rand_int_range(r, 1, 40); k > 0 && len < cap; k--)
                                p[len++] = (uint8_t) g_rand_int(r);
                        break;
                case 4: /* a length field (IPv4 total, IPv6 payload, UDP, AH) set at random */
                        if (len >= 28) {
                                static const size_t at[] = { 2, 4, 24, 21, 41, 45 };
                                size_t o = at[g_rand_int_range(r, 0, G_N_ELEMENTS(at))];
                                if (o + 2 <= len)
                                        pkt_store_be16(p + o, (uint16_t) g_rand_int(r));
                        }
                        break;
                case 5: /* a small number in a length field */
                        if (len >= 28) {
                                static const size_t at[] = { 0, 2, 4, 6, 9, 21, 24, 44, 61 };
                                size_t o = at[g_rand_int_range(r, 0, G_N_ELEMENTS(at))];
                                if (o < len)
                                        p[o] = (uint8_t) g_rand_int_range(r, 0, 70);
                        }
                        break;
                case 6: /* cut bytes out of the middle */
                        if (len > 2) {
                                size_t at = (size_t) g_rand_int_range(r, 0, (gint32) len - 1);
                                size_t n_cut = (size_t) g_rand_int_range(r, 1, (gint32) (len - at));
                                memmove(p + at, p + at + n_cut, len - at - n_cut);
                                len -= n_cut;
                        }
                        break;
                case 7: /* insert bytes */
                        if (len + 16 <= cap && len) {
                                size_t at = (size_t) g_rand_int_range(r, 0, (gint32) len);
                                size_t n_in = (size_t) g_rand_int_range(r, 1, 16);
                                memmove(p + at + n_in, p + at, len - at);
                                for (size_t k = 0; k < n_in; k++)
                                        p[at + k] = (uint8_t) g_rand_int(r);
                                len += n_in;
                        }
                        break;
                default: /* the pad length / next header region: the last bytes before an ICV */
                        if (len > 40)
                                p[len - 1 - (size_t) g_rand_int_range(r, 0, 40)] = (uint8_t) g_rand_int(r);
                        break;
                }
        }
        return len;
}

static uint64_t results[_PKT_DROP_MAX];

/* Feeds one input, from an exact-size heap block, through the inbound path;
 * what came out is copied to got. */
static PktDrop feed(Sa *sa, const uint8_t *data, size_t len, bool bare, uint8_t *got, size_t *ret_got_len) {
        uint8_t *mem = g_malloc(len ? len : 1);
        memcpy(mem, data, len);
        PktBuf p;
        pkt_init(&p, mem, len, 0, len);
        PktDrop d;

        if (sa->t->ah) {
                PktIpInfo ip;
                d = pkt_ip_parse(mem, len, &ip);
                if (d == PKT_OK)
                        d = ah_decap(&sa->ah, &p, &ip);
        } else if (bare) {
                (void) esp_udp_classify(mem, len);
                d = esp_decap(&sa->esp, &p, NULL);
        } else {
                PktIpInfo ip;
                size_t off;
                EspUdpKind kind;
                d = esp_locate(mem, len, &ip, &off, &kind);
                if (d == PKT_OK) {
                        g_assert_cmpuint(off, <=, len);
                        d = esp_decap(&sa->esp, &p, &ip);
                }
        }
        if ((unsigned) d >= _PKT_DROP_MAX)
                g_error("not a drop reason: %d", (int) d);
        results[d]++;
        if (d == PKT_OK) {
                g_assert_cmpuint(p.off, <=, len);
                g_assert_cmpuint(p.len, <=, len - p.off);
                g_assert_true(p.buf == mem);
                memcpy(got, pkt_data(&p), p.len);
                *ret_got_len = p.len;
        }
        g_free(mem);
        return d;
}

static void test_inbound(gconstpointer data) {
        const Target *t = data;
        GRand *r = g_rand_new_with_seed(SEED);
        uint64_t ok = 0, total = 0;
        bool integrity = t->integ || t->enc == BH_ENCR_AES_GCM_16 || t->enc == BH_ENCR_CHACHA20_POLY1305;
        memset(results, 0, sizeof results);

        for (int esn = 0; esn <= 1; esn++) {
                Sa out, in;
                sa_init(&out, t, esn);
                sa_init(&in, t, esn);
                for (int k = 0; k < 12; k++) {
                        uint8_t pkt[2048], work[2048], inner[512], got[2048];
                        size_t il, gl;
                        bool bare;
                        size_t len = valid_packet(r, &out, pkt, &bare, inner, &il);
                        /* The untouched packet passes once. (A fresh window:
                         * without integrity, a mutated sequence number can
                         * get through and move it far ahead.) */
                        if (t->ah)
                                replay_init(&in.ah.replay, 64, esn);
                        else
                                replay_init(&in.esp.replay, 64, esn);
                        g_assert_cmpint(feed(&in, pkt, len, bare, got, &gl), ==, PKT_OK);
                        g_assert_cmpuint(results[PKT_OK], ==, ++ok);
                        for (int i = 0; i < ROUNDS_PER_PACKET; i++) {
                                memcpy(work, pkt, len);
                                size_t wl = mutate(r, work, len, sizeof work);
                                /* Now and then a fresh window, so that a
                                 * mutation that keeps the packet valid gets
                                 * all the way through. */
                                if (i % 50 == 0) {
                                        if (t->ah)
                                                replay_init(&in.ah.replay, 64, esn);
                                        else
                                                replay_init(&in.esp.replay, 64, esn);
                                }
                                PktDrop d = feed(&in, work, wl, bare, got, &gl);
                                total++;
                                /* With integrity, nothing but the packet that
                                 * was sent gets through in tunnel mode: damage
                                 * is caught, or was outside what is protected
                                 * (outer TTL, checksums, bytes past the IP
                                 * length). */
                                if (d == PKT_OK && integrity && t->mode == ESP_MODE_TUNNEL)
                                        dp_assert_mem(t->name, got, gl, inner, il);
                        }
                        ok = results[PKT_OK];
                }
                /* Pure garbage of every small length. */
                for (size_t l = 0; l < 200; l++) {
                        uint8_t junk[200];
                        for (size_t i = 0; i < l; i++)
                                junk[i] = (uint8_t) g_rand_int(r);
                        if (l)
                                junk[0] = (uint8_t) (g_rand_boolean(r) ? 0x45 : 0x60);
                        uint8_t got[256];
                        size_t gl;
                        (void) feed(&in, junk, l, false, got, &gl);
                        (void) feed(&in, junk, l, true, got, &gl);
                }
                ok = results[PKT_OK];
                sa_clear(&out);
                sa_clear(&in);
        }
        GString *s = g_string_new(NULL);
        for (int d = 0; d < _PKT_DROP_MAX; d++)
                if (results[d])
                        g_string_append_printf(s, " %s=%" G_GUINT64_FORMAT, pkt_drop_name((PktDrop) d), results[d]);
        g_test_message("%s: %" G_GUINT64_FORMAT " mutations:%s", t->name, total, s->str);
        g_string_free(s, TRUE);
        g_rand_free(r);
}

/* Outbound: mutated plain packets, with room to spare or none. */
static void test_outbound(gconstpointer data) {
        const Target *t = data;
        GRand *r = g_rand_new_with_seed(SEED ^ 0x0f0f);
        Sa out;
        sa_init(&out, t, false);
        uint64_t counts[_PKT_DROP_MAX] = { 0 };
        for (int i = 0; i < 6000; i++) {
                uint8_t pkt[1024];
                size_t len = inner_packet(r, pkt);
                len = mutate(r, pkt, len, sizeof pkt);
                size_t head = (size_t) g_rand_int_range(r, 0, 100), tail = (size_t) g_rand_int_range(r, 0, 100);
                uint8_t *mem = g_malloc(head + len + tail + 1);
                memcpy(mem + head, pkt, len);
                PktBuf p;
                pkt_init(&p, mem, head + len + tail, head, len);
                PktDrop d;
                PktOuter o = dp_outer(g_rand_boolean(r) ? AF_INET : AF_INET6, false);
                if (t->ah)
                        d = ah_encap(&out.ah, &p, t->mode == AH_MODE_TUNNEL ? &o : NULL, 1);
                else {
                        d = esp_encap(&out.esp, &p);
                        if (d == PKT_OK && t->mode == ESP_MODE_TUNNEL)
                                d = esp_push_outer(&p, &o, 1);
                }
                if ((unsigned) d >= _PKT_DROP_MAX)
                        g_error("not a drop reason: %d", (int) d);
                counts[d]++;
                if (d == PKT_OK)
                        g_assert_cmpuint(p.off + p.len, <=, head + len + tail);
                g_free(mem);
        }
        g_test_message("%s outbound: ok %" G_GUINT64_FORMAT " no-room %" G_GUINT64_FORMAT " bad-inner %" G_GUINT64_FORMAT,
                       t->name, counts[PKT_OK], counts[PKT_DROP_NO_ROOM], counts[PKT_DROP_BAD_INNER]);
        g_assert_cmpuint(counts[PKT_OK], >, 0);
        sa_clear(&out);
        g_rand_free(r);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(targets); i++) {
                g_autofree char *in = g_strdup_printf("/fuzz/inbound/%s", targets[i].name);
                g_autofree char *out = g_strdup_printf("/fuzz/outbound/%s", targets[i].name);
                g_test_add_data_func(in, &targets[i], test_inbound);
                g_test_add_data_func(out, &targets[i], test_outbound);
        }
        return g_test_run();
}
