/* SPDX-License-Identifier: ISC */
/* The key state of an IKE SA (crypto/ike-sa.[ch]): two states, initiator and
 * responder, run IKE_SA_INIT's key exchange, the SK payload and PSK
 * authentication against each other in one process, for every group and
 * every suite; the peer's KE value is attacked with every invalid value the
 * checks name; and an independent peer written here with OpenSSL directly
 * (its own Diffie-Hellman, HMAC, prf+, ciphers) checks the key schedule, the
 * SK payload format, the AUTH formula and the Child SA KEYMAT octet for
 * octet. RFC 7296 has no known-answer vectors for these; the KDF under them
 * passes NIST's (test-kdf.c). */
#include <errno.h>
#include <string.h>

#include <glib.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "ike-sa.h"
#include "ikev2-kdf.h"
#include "secmem.h"

/* ---- the transforms, by their IANA numbers ---- */

typedef struct {
        uint16_t id;
        const char *name;
        size_t public_len; /* the KE payload's data */
        size_t secret_len; /* g^ir: x alone for ECP, the prime's length for MODP */
        const char *ossl;  /* for the independent peer: OpenSSL's name */
} Group;

static const Group groups[] = {
        { 31, "CURVE_25519", 32, 32, "X25519" },
        { 19, "ECP_256", 64, 32, "P-256" },
        { 20, "ECP_384", 96, 48, "P-384" },
        { 21, "ECP_521", 132, 66, "P-521" },
        { 14, "MODP_2048", 256, 256, "modp_2048" },
        { 15, "MODP_3072", 384, 384, "modp_3072" },
        { 16, "MODP_4096", 512, 512, "modp_4096" },
};

static const Group *group_of(uint16_t id) {
        for (size_t i = 0; i < G_N_ELEMENTS(groups); i++)
                if (groups[i].id == id)
                        return &groups[i];
        g_assert_not_reached();
}

static bool is_ecp(uint16_t id) {
        return id == 19 || id == 20 || id == 21;
}

static bool is_modp(uint16_t id) {
        return id == 14 || id == 15 || id == 16;
}

enum {
        ENCR_AES_CBC = 12,
        ENCR_AES_GCM_16 = 20,
        ENCR_CHACHA20_POLY1305 = 28,
        PRF_SHA2_256 = 5,
        PRF_SHA2_384 = 6,
        PRF_SHA2_512 = 7,
        AUTH_SHA2_256_128 = 12,
        AUTH_SHA2_384_192 = 13,
        AUTH_SHA2_512_256 = 14,
};

/* Every encryption and integrity combination; the PRFs vary along. dh is
 * filled in by the test. */
static const struct {
        const char *name;
        BhIkeSuite suite;
} suites[] = {
        { "AES-GCM-16-128", { ENCR_AES_GCM_16, 128, PRF_SHA2_256, 0, 0 } },
        { "AES-GCM-16-256", { ENCR_AES_GCM_16, 256, PRF_SHA2_384, 0, 0 } },
        { "CHACHA20-POLY1305", { ENCR_CHACHA20_POLY1305, 0, PRF_SHA2_512, 0, 0 } },
        { "AES-CBC-128/SHA2-256-128", { ENCR_AES_CBC, 128, PRF_SHA2_256, AUTH_SHA2_256_128, 0 } },
        { "AES-CBC-128/SHA2-384-192", { ENCR_AES_CBC, 128, PRF_SHA2_384, AUTH_SHA2_384_192, 0 } },
        { "AES-CBC-128/SHA2-512-256", { ENCR_AES_CBC, 128, PRF_SHA2_512, AUTH_SHA2_512_256, 0 } },
        { "AES-CBC-256/SHA2-256-128", { ENCR_AES_CBC, 256, PRF_SHA2_512, AUTH_SHA2_256_128, 0 } },
        { "AES-CBC-256/SHA2-384-192", { ENCR_AES_CBC, 256, PRF_SHA2_256, AUTH_SHA2_384_192, 0 } },
        { "AES-CBC-256/SHA2-512-256", { ENCR_AES_CBC, 256, PRF_SHA2_384, AUTH_SHA2_512_256, 0 } },
};

static BhIkeSuite suite_for(size_t i, uint16_t group) {
        BhIkeSuite s = suites[i].suite;
        s.dh = group;
        return s;
}

static size_t sk_iv_len(const BhIkeSuite *s) {
        return s->encr == ENCR_AES_CBC ? 16 : 8;
}

static size_t sk_icv_len(const BhIkeSuite *s) {
        switch (s->integ) {
        case AUTH_SHA2_256_128: return 16;
        case AUTH_SHA2_384_192: return 24;
        case AUTH_SHA2_512_256: return 32;
        default: return 16; /* the AEAD tags */
        }
}

static GByteArray *random_bytes(size_t n) {
        GByteArray *a = g_byte_array_sized_new((guint) n);
        g_byte_array_set_size(a, (guint) n);
        if (n)
                g_assert_cmpint(RAND_bytes(a->data, (int) n), ==, 1);
        return a;
}

static uint64_t random_spi(void) {
        uint64_t v = 0;
        while (v == 0)
                g_assert_cmpint(RAND_bytes((unsigned char *) &v, sizeof v), ==, 1);
        return v;
}

static void put_be64(uint8_t *p, uint64_t v) {
        for (size_t i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (56 - 8 * i));
}

/* ---- two states against each other ---- */

typedef struct {
        BhIkeSa *i, *r;
        uint64_t spi_i, spi_r;
        BhIkeSuite suite;
} Pair;

static void pair_new(Pair *p, const BhIkeSuite *suite) {
        const uint8_t *ke_i, *ke_r, *n_i, *n_r;
        size_t ke_i_len, ke_r_len, n_i_len, n_r_len;

        p->suite = *suite;
        p->spi_i = random_spi();
        p->spi_r = random_spi();
        g_assert_cmpint(bh_ike_sa_new(true, suite->dh, &p->i), ==, 0);
        g_assert_cmpint(bh_ike_sa_new(false, suite->dh, &p->r), ==, 0);
        bh_ike_sa_public(p->i, &ke_i, &ke_i_len);
        bh_ike_sa_public(p->r, &ke_r, &ke_r_len);
        bh_ike_sa_nonce(p->i, &n_i, &n_i_len);
        bh_ike_sa_nonce(p->r, &n_r, &n_r_len);
        g_assert_cmpuint(ke_i_len, ==, bh_ike_dh_public_len(suite->dh));
        g_assert_cmpuint(n_i_len, ==, BH_IKE_NONCE_LEN);
        g_assert_cmpint(bh_ike_sa_derive(p->i, ke_r, ke_r_len, n_r, n_r_len, p->spi_i, p->spi_r,
                                         suite),
                        ==, 0);
        g_assert_cmpint(bh_ike_sa_derive(p->r, ke_i, ke_i_len, n_i, n_i_len, p->spi_i, p->spi_r,
                                         suite),
                        ==, 0);
        g_assert_true(bh_ike_sa_derived(p->i));
        g_assert_true(bh_ike_sa_derived(p->r));
}

static void pair_clear(Pair *p) {
        g_clear_pointer(&p->i, bh_ike_sa_free);
        g_clear_pointer(&p->r, bh_ike_sa_free);
}

/* The IKE header and an SK generic header, as the associated data. */
static GByteArray *fake_aad(const Pair *p) {
        GByteArray *a = g_byte_array_sized_new(32);
        g_byte_array_set_size(a, 32);
        memset(a->data, 0, 32);
        put_be64(a->data, p->spi_i);
        put_be64(a->data + 8, p->spi_r);
        a->data[16] = 46; /* Next Payload: SK */
        a->data[17] = 0x20;
        a->data[18] = 35; /* IKE_AUTH */
        a->data[28] = 35; /* first inner payload: IDi */
        return a;
}

/* Seals plain_len random octets on `from`, opens them on `to`. */
static void sk_round_trip(BhIkeSa *from, BhIkeSa *to, const Pair *p, size_t plain_len,
                          const char *where) {
        g_autoptr(GByteArray) aad = fake_aad(p);
        g_autoptr(GByteArray) plain = random_bytes(plain_len);
        size_t body_len = bh_ike_sk_body_len(&p->suite, plain_len);
        size_t max = bh_ike_sk_plain_max(&p->suite, body_len);
        g_autofree uint8_t *body = g_malloc(body_len);
        g_autofree uint8_t *out = g_malloc(max + 1);
        size_t out_len = 0;

        g_assert_cmpuint(body_len, >, 0);
        g_assert_cmpuint(max, >=, plain_len);
        g_assert_cmpint(bh_ike_sa_seal(from, aad->data, aad->len, plain->data, plain_len, body,
                                       body_len),
                        ==, 0);
        int r = bh_ike_sa_open(to, aad->data, aad->len, body, body_len, out, &out_len);
        if (r != 0 || out_len != plain_len ||
            (plain_len && memcmp(out, plain->data, plain_len) != 0)) {
                g_test_message("%s: %zu octets: open says %d, %zu octets", where, plain_len, r,
                               out_len);
                g_test_fail();
        }
}

/* Every change to what the ICV covers is caught; a short body is refused. */
static void sk_tamper(BhIkeSa *from, BhIkeSa *to, const Pair *p, const char *where) {
        g_autoptr(GByteArray) aad = fake_aad(p);
        g_autoptr(GByteArray) plain = random_bytes(40);
        size_t body_len = bh_ike_sk_body_len(&p->suite, plain->len);
        size_t iv_len = sk_iv_len(&p->suite), icv_len = sk_icv_len(&p->suite);
        g_autofree uint8_t *body = g_malloc(body_len);
        g_autofree uint8_t *out = g_malloc(bh_ike_sk_plain_max(&p->suite, body_len));
        size_t out_len = 0;
        const struct {
                const char *what;
                uint8_t *octet;
        } flips[] = {
                { "AAD", &aad->data[5] },
                { "AAD (last octet)", &aad->data[aad->len - 1] },
                { "IV", &body[0] },
                { "IV (last octet)", &body[iv_len - 1] },
                { "ciphertext", &body[iv_len + 3] },
                { "ciphertext (Pad Length)", &body[body_len - icv_len - 1] },
                { "ICV", &body[body_len - icv_len] },
                { "ICV (last octet)", &body[body_len - 1] },
        };

        g_assert_cmpint(bh_ike_sa_seal(from, aad->data, aad->len, plain->data, plain->len, body,
                                       body_len),
                        ==, 0);
        g_assert_cmpint(bh_ike_sa_open(to, aad->data, aad->len, body, body_len, out, &out_len), ==, 0);

        for (size_t k = 0; k < G_N_ELEMENTS(flips); k++) {
                *flips[k].octet ^= 0x01;
                int r = bh_ike_sa_open(to, aad->data, aad->len, body, body_len, out, &out_len);
                *flips[k].octet ^= 0x01;
                if (r != -EBADMSG) {
                        g_test_message("%s: a flipped bit in the %s: open says %d, not -EBADMSG",
                                       where, flips[k].what, r);
                        g_test_fail();
                }
        }
        /* Shorter bodies: the last octet gone, the whole ICV gone, a block
         * gone, less than an IV. */
        const size_t shorter[] = { body_len - 1, body_len - icv_len, body_len - 16, iv_len, 0 };
        for (size_t k = 0; k < G_N_ELEMENTS(shorter); k++) {
                int r = bh_ike_sa_open(to, aad->data, aad->len, body, shorter[k], out, &out_len);
                if (r != -EBADMSG && r != -EINVAL) {
                        g_test_message("%s: a body cut to %zu octets: open says %d", where,
                                       shorter[k], r);
                        g_test_fail();
                }
        }
        g_assert_cmpint(bh_ike_sa_open(to, aad->data, aad->len, body, iv_len, out, &out_len), ==,
                        -EINVAL);
        /* Directions have keys of their own: we cannot open what we sealed. */
        g_assert_cmpint(bh_ike_sa_open(from, aad->data, aad->len, body, body_len, out, &out_len),
                        ==, -EBADMSG);
        /* seal wants exactly the body length for the plaintext. */
        g_assert_cmpint(bh_ike_sa_seal(from, aad->data, aad->len, plain->data, plain->len, body,
                                       body_len - 1),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_seal(from, aad->data, aad->len, plain->data, plain->len, body,
                                       body_len + 16),
                        ==, -EINVAL);
        /* The counter IVs of an AEAD never repeat; CBC's are random. */
        g_autofree uint8_t *body2 = g_malloc(body_len);
        g_assert_cmpint(bh_ike_sa_seal(from, aad->data, aad->len, plain->data, plain->len, body2,
                                       body_len),
                        ==, 0);
        g_assert_cmpint(memcmp(body, body2, iv_len), !=, 0);
}

/* For one group: a pair per suite, both directions, several lengths. */
static void test_exchange(gconstpointer data) {
        const Group *g = data;
        static const size_t lengths[] = { 0, 1, 15, 16, 17, 31, 100, 1000 };

        for (size_t s = 0; s < G_N_ELEMENTS(suites); s++) {
                BhIkeSuite suite = suite_for(s, g->id);
                g_autofree char *where = g_strdup_printf("%s, %s", g->name, suites[s].name);
                Pair p = { 0 };

                g_assert_true(bh_ike_suite_supported(&suite));
                pair_new(&p, &suite);
                for (size_t k = 0; k < G_N_ELEMENTS(lengths); k++) {
                        sk_round_trip(p.i, p.r, &p, lengths[k], where);
                        sk_round_trip(p.r, p.i, &p, lengths[k], where);
                }
                sk_tamper(p.i, p.r, &p, where);
                sk_tamper(p.r, p.i, &p, where);
                pair_clear(&p);
        }
}

/* ---- the peer's KE value ---- */

static GByteArray *bytes_of(const uint8_t *p, size_t n) {
        GByteArray *a = g_byte_array_sized_new((guint) n);
        g_byte_array_append(a, p, (guint) n);
        return a;
}

static GByteArray *hex_bytes(const char *hex) {
        size_t n = strlen(hex) / 2;
        GByteArray *a = g_byte_array_sized_new((guint) n);
        for (size_t i = 0; i < n; i++) {
                uint8_t b = (uint8_t) (g_ascii_xdigit_value(hex[2 * i]) << 4 |
                                       g_ascii_xdigit_value(hex[2 * i + 1]));
                g_byte_array_append(a, &b, 1);
        }
        return a;
}

/* p of a MODP group, from OpenSSL's copy of RFC 3526, len octets. */
static BIGNUM *modp_prime(uint16_t group) {
        const char *name = group == 14 ? "modp_2048" : group == 15 ? "modp_3072" : "modp_4096";
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *) name, 0),
                OSSL_PARAM_construct_end(),
        };
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
        EVP_PKEY *pkey = NULL;
        BIGNUM *p = NULL;

        g_assert_nonnull(ctx);
        g_assert_cmpint(EVP_PKEY_fromdata_init(ctx), ==, 1);
        g_assert_cmpint(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEY_PARAMETERS, params), ==, 1);
        g_assert_cmpint(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_FFC_P, &p), ==, 1);
        EVP_PKEY_free(pkey);
        EVP_PKEY_CTX_free(ctx);
        return p;
}

/* n + delta (delta -2..+1) as len big-endian octets. */
static GByteArray *bn_plus(const BIGNUM *n, int delta, size_t len) {
        BIGNUM *v = BN_dup(n);
        GByteArray *a = g_byte_array_sized_new((guint) len);

        g_assert_nonnull(v);
        if (delta >= 0)
                g_assert_cmpint(BN_add_word(v, (BN_ULONG) delta), ==, 1);
        else
                g_assert_cmpint(BN_sub_word(v, (BN_ULONG) -delta), ==, 1);
        g_byte_array_set_size(a, (guint) len);
        g_assert_cmpint(BN_bn2binpad(v, a->data, (int) len), ==, (int) len);
        BN_free(v);
        return a;
}

typedef struct {
        const char *what;
        GByteArray *value;
} BadValue;

static void bad_value_clear(gpointer p) {
        BadValue *b = p;
        g_byte_array_unref(b->value);
}

static void add_bad(GArray *bad, const char *what, GByteArray *value) {
        BadValue b = { what, value };
        g_array_append_val(bad, b);
}

/* Decision (documented in ike-sa.h): a rejected value leaves the state as
 * it was, and a good value still derives afterwards. */
static void test_peer_checks(gconstpointer data) {
        const Group *g = data;
        BhIkeSuite suite = suite_for(1, g->id);
        Pair p = { .suite = suite };
        const uint8_t *ke_r, *n_r, *ke_i, *n_i;
        size_t ke_len, n_len;
        g_autoptr(GArray) bad = g_array_new(FALSE, FALSE, sizeof(BadValue));

        g_array_set_clear_func(bad, bad_value_clear);
        p.spi_i = random_spi();
        p.spi_r = random_spi();
        g_assert_cmpint(bh_ike_sa_new(true, g->id, &p.i), ==, 0);
        g_assert_cmpint(bh_ike_sa_new(false, g->id, &p.r), ==, 0);
        g_assert_true(bh_ike_sa_initiator(p.i));
        g_assert_false(bh_ike_sa_initiator(p.r));
        g_assert_cmpuint(bh_ike_sa_group(p.i), ==, g->id);
        bh_ike_sa_public(p.r, &ke_r, &ke_len);
        bh_ike_sa_nonce(p.r, &n_r, &n_len);
        g_assert_cmpuint(ke_len, ==, g->public_len);

        /* Every group: all zero, one octet short, one octet long. */
        GByteArray *zero = g_byte_array_sized_new((guint) ke_len);
        g_byte_array_set_size(zero, (guint) ke_len);
        memset(zero->data, 0, ke_len);
        add_bad(bad, "all zero", zero);
        add_bad(bad, "one octet short", bytes_of(ke_r, ke_len - 1));
        GByteArray *longer = bytes_of(ke_r, ke_len);
        g_byte_array_append(longer, (const guint8 *) "", 1);
        add_bad(bad, "one octet long", longer);
        add_bad(bad, "empty", g_byte_array_new());

        if (g->id == 19 || g->id == 20 || g->id == 21) {
                /* y changed: for a given x only y and p - y are on the curve. */
                GByteArray *off = bytes_of(ke_r, ke_len);
                off->data[ke_len - 1] ^= 0x01;
                add_bad(bad, "off the curve (y + 1 bit)", off);
                GByteArray *x_only = bytes_of(ke_r, ke_len);
                memset(x_only->data + ke_len / 2, 0, ke_len / 2);
                add_bad(bad, "y = 0", x_only);
                GByteArray *ones = bytes_of(ke_r, ke_len);
                memset(ones->data, 0xff, ke_len);
                add_bad(bad, "coordinates beyond p", ones);
        } else if (g->id == 31) {
                /* Points of small order: a shared secret of zeros
                 * (RFC 7748 6.1). u = 0 is the "all zero" above. */
                add_bad(bad, "u = 1",
                        hex_bytes("0100000000000000000000000000000000000000000000000000000000000000"));
                add_bad(bad, "a point of order 8",
                        hex_bytes("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"));
                add_bad(bad, "u = p - 1",
                        hex_bytes("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"));
        } else {
                BIGNUM *prime = modp_prime(g->id);
                GByteArray *one = g_byte_array_sized_new((guint) ke_len);
                g_byte_array_set_size(one, (guint) ke_len);
                memset(one->data, 0, ke_len);
                one->data[ke_len - 1] = 1;
                add_bad(bad, "1", one);
                add_bad(bad, "p - 1", bn_plus(prime, -1, ke_len));
                add_bad(bad, "p", bn_plus(prime, 0, ke_len));
                add_bad(bad, "p + 1", bn_plus(prime, 1, ke_len));
                /* In [2, p-2] but -2 is not a square mod these primes: outside
                 * the subgroup of order q = (p-1)/2 that 2 generates. */
                add_bad(bad, "p - 2 (outside the subgroup)", bn_plus(prime, -2, ke_len));
                BN_free(prime);
        }

        for (guint k = 0; k < bad->len; k++) {
                const BadValue *b = &g_array_index(bad, BadValue, k);
                int r = bh_ike_sa_derive(p.i, b->value->data, b->value->len, n_r, n_len, p.spi_i,
                                         p.spi_r, &suite);
                if (r != -EINVAL) {
                        g_test_message("%s: peer value %s: derive says %d, not -EINVAL", g->name,
                                       b->what, r);
                        g_test_fail();
                }
                g_assert_false(bh_ike_sa_derived(p.i));
        }

        /* Other arguments, each refused without a trace. */
        BhIkeSuite other_group = suite;
        other_group.dh = g->id == 31 ? 19 : 31;
        g_assert_cmpint(bh_ike_sa_derive(p.i, ke_r, ke_len, n_r, n_len, p.spi_i, p.spi_r,
                                         &other_group),
                        ==, -EINVAL);
        BhIkeSuite no_integ = suite_for(3, g->id);
        no_integ.integ = 0;
        g_assert_cmpint(bh_ike_sa_derive(p.i, ke_r, ke_len, n_r, n_len, p.spi_i, p.spi_r,
                                         &no_integ),
                        ==, -EOPNOTSUPP);
        g_autoptr(GByteArray) big_nonce = random_bytes(BH_IKE_NONCE_MAX + 1);
        g_assert_cmpint(bh_ike_sa_derive(p.i, ke_r, ke_len, big_nonce->data, BH_IKE_NONCE_MIN - 1,
                                         p.spi_i, p.spi_r, &suite),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_derive(p.i, ke_r, ke_len, big_nonce->data, BH_IKE_NONCE_MAX + 1,
                                         p.spi_i, p.spi_r, &suite),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_derive(p.i, ke_r, ke_len, NULL, 32, p.spi_i, p.spi_r, &suite),
                        ==, -EINVAL);
        g_assert_false(bh_ike_sa_derived(p.i));

        /* Nothing works before the derivation. */
        uint8_t buf[128];
        size_t len = sizeof buf;
        BhChildKeys *child = NULL;
        BhSecret *psk = bh_secret_new_copy("psk", 3);
        g_assert_cmpint(bh_ike_sa_seal(p.i, NULL, 0, NULL, 0, buf, 25), ==, -EPERM);
        g_assert_cmpint(bh_ike_sa_open(p.i, NULL, 0, buf, 25, buf, &len), ==, -EPERM);
        g_assert_cmpint(bh_ike_sa_auth_sign(p.i, buf, sizeof buf, buf, 8, psk, buf, &len), ==,
                        -EPERM);
        g_assert_cmpint(bh_ike_sa_auth_verify(p.i, buf, sizeof buf, buf, 8, psk, buf, 32), ==,
                        -EPERM);
        g_assert_cmpint(bh_ike_sa_child_keys(p.i, 36, 0, &child), ==, -EPERM);
        g_assert_null(child);
        bh_secret_free(psk);

        /* Still possible with the real value; then once only. */
        g_assert_cmpint(bh_ike_sa_derive(p.i, ke_r, ke_len, n_r, n_len, p.spi_i, p.spi_r, &suite),
                        ==, 0);
        g_assert_cmpint(bh_ike_sa_derive(p.i, ke_r, ke_len, n_r, n_len, p.spi_i, p.spi_r, &suite),
                        ==, -EALREADY);
        bh_ike_sa_public(p.i, &ke_i, &ke_len);
        bh_ike_sa_nonce(p.i, &n_i, &n_len);
        g_assert_cmpint(bh_ike_sa_derive(p.r, ke_i, ke_len, n_i, n_len, p.spi_i, p.spi_r, &suite),
                        ==, 0);
        sk_round_trip(p.i, p.r, &p, 64, g->name);
        sk_round_trip(p.r, p.i, &p, 64, g->name);
        pair_clear(&p);
}

static void test_new(void) {
        BhIkeSa *a = NULL, *b = NULL;
        const uint8_t *ka, *kb, *na, *nb;
        size_t la, lb;
        static const uint16_t unsupported[] = { 0, 1, 2, 5, 17, 22, 24, 30, 32, 1024 };

        for (size_t k = 0; k < G_N_ELEMENTS(unsupported); k++) {
                g_assert_cmpint(bh_ike_sa_new(true, unsupported[k], &a), ==, -EOPNOTSUPP);
                g_assert_null(a);
                g_assert_false(bh_ike_dh_supported(unsupported[k]));
                g_assert_cmpuint(bh_ike_dh_public_len(unsupported[k]), ==, 0);
                g_assert_cmpstr(bh_ike_dh_name(unsupported[k]), ==, "UNKNOWN");
        }
        for (size_t k = 0; k < G_N_ELEMENTS(groups); k++) {
                g_assert_true(bh_ike_dh_supported(groups[k].id));
                g_assert_cmpuint(bh_ike_dh_public_len(groups[k].id), ==, groups[k].public_len);
                g_assert_cmpstr(bh_ike_dh_name(groups[k].id), ==, groups[k].name);
        }
        /* Two states never share a key pair or a nonce. */
        g_assert_cmpint(bh_ike_sa_new(true, 31, &a), ==, 0);
        g_assert_cmpint(bh_ike_sa_new(true, 31, &b), ==, 0);
        bh_ike_sa_public(a, &ka, &la);
        bh_ike_sa_public(b, &kb, &lb);
        g_assert_cmpuint(la, ==, 32);
        g_assert_cmpint(memcmp(ka, kb, la), !=, 0);
        bh_ike_sa_nonce(a, &na, &la);
        bh_ike_sa_nonce(b, &nb, &lb);
        g_assert_cmpuint(la, ==, BH_IKE_NONCE_LEN);
        g_assert_cmpint(memcmp(na, nb, la), !=, 0);
        bh_ike_sa_free(a);
        bh_ike_sa_free(b);
        bh_ike_sa_free(NULL);
}

/* ---- suites and SK lengths ---- */

static void test_suites(void) {
        for (size_t k = 0; k < G_N_ELEMENTS(suites); k++) {
                BhIkeSuite s = suite_for(k, 31);
                g_assert_true(bh_ike_suite_supported(&s));
        }
        static const BhIkeSuite refused[] = {
                { ENCR_AES_GCM_16, 128, PRF_SHA2_256, AUTH_SHA2_256_128, 31 }, /* AEAD + integ */
                { ENCR_AES_GCM_16, 192, PRF_SHA2_256, 0, 31 },
                { ENCR_AES_GCM_16, 0, PRF_SHA2_256, 0, 31 },
                { ENCR_CHACHA20_POLY1305, 128, PRF_SHA2_256, 0, 31 },
                { ENCR_AES_CBC, 128, PRF_SHA2_256, 0, 31 }, /* CBC without integ */
                { ENCR_AES_CBC, 128, PRF_SHA2_256, 2, 31 }, /* HMAC-SHA1-96 */
                { ENCR_AES_CBC, 192, PRF_SHA2_256, AUTH_SHA2_256_128, 31 },
                { 3, 192, PRF_SHA2_256, AUTH_SHA2_256_128, 31 },          /* 3DES */
                { ENCR_AES_GCM_16, 128, 2, 0, 31 },                       /* PRF-HMAC-SHA1 */
                { ENCR_AES_GCM_16, 128, 4, 0, 31 },                       /* AES-XCBC */
                { ENCR_AES_GCM_16, 128, PRF_SHA2_256, 0, 2 },             /* MODP-1024 */
                { ENCR_AES_GCM_16, 128, PRF_SHA2_256, 0, 0 },
                { 0, 0, 0, 0, 0 },
        };
        for (size_t k = 0; k < G_N_ELEMENTS(refused); k++) {
                if (bh_ike_suite_supported(&refused[k])) {
                        g_test_message("refused[%zu] is accepted", k);
                        g_test_fail();
                }
                g_assert_cmpuint(bh_ike_sk_body_len(&refused[k], 10), ==, 0);
        }
        g_assert_false(bh_ike_suite_supported(NULL));
}

static void test_sk_lengths(void) {
        const BhIkeSuite gcm = { ENCR_AES_GCM_16, 256, PRF_SHA2_256, 0, 31 };
        const BhIkeSuite chacha = { ENCR_CHACHA20_POLY1305, 0, PRF_SHA2_256, 0, 19 };
        const BhIkeSuite cbc256 = { ENCR_AES_CBC, 128, PRF_SHA2_256, AUTH_SHA2_256_128, 14 };
        const BhIkeSuite cbc384 = { ENCR_AES_CBC, 256, PRF_SHA2_256, AUTH_SHA2_384_192, 14 };
        const BhIkeSuite cbc512 = { ENCR_AES_CBC, 256, PRF_SHA2_512, AUTH_SHA2_512_256, 21 };
        const struct {
                const BhIkeSuite *s;
                size_t plain, body;
        } rows[] = {
                /* AEAD: IV 8 + plain + Pad Length 1 + ICV 16 */
                { &gcm, 0, 25 },
                { &gcm, 1, 26 },
                { &gcm, 100, 125 },
                { &chacha, 15, 40 },
                { &chacha, 1000, 1025 },
                /* CBC: IV 16 + (plain + 1) padded to 16 + truncated HMAC */
                { &cbc256, 0, 48 },
                { &cbc256, 14, 48 },
                { &cbc256, 15, 48 },
                { &cbc256, 16, 64 },
                { &cbc256, 100, 16 + 112 + 16 },
                { &cbc384, 31, 16 + 32 + 24 },
                { &cbc384, 32, 16 + 48 + 24 },
                { &cbc512, 47, 16 + 48 + 32 },
                { &cbc512, 1000, 16 + 1008 + 32 },
                /* The largest that fit an SK payload's 16-bit length. */
                { &gcm, BH_IKE_SK_BODY_MAX - 25, BH_IKE_SK_BODY_MAX },
                { &gcm, BH_IKE_SK_BODY_MAX - 24, 0 },
                { &cbc256, BH_IKE_SK_BODY_MAX, 0 },
                { &gcm, SIZE_MAX, 0 },
                { &cbc512, SIZE_MAX - 10, 0 },
        };

        for (size_t k = 0; k < G_N_ELEMENTS(rows); k++) {
                size_t got = bh_ike_sk_body_len(rows[k].s, rows[k].plain);
                if (got != rows[k].body) {
                        g_test_message("row %zu: %zu octets of plaintext: body %zu, want %zu", k,
                                       rows[k].plain, got, rows[k].body);
                        g_test_fail();
                }
        }
        /* The reverse: the largest plaintext for a body, exactly for AEAD,
         * the end of the last block for CBC. */
        g_assert_cmpuint(bh_ike_sk_plain_max(&gcm, 25), ==, 0);
        g_assert_cmpuint(bh_ike_sk_plain_max(&gcm, 125), ==, 100);
        g_assert_cmpuint(bh_ike_sk_plain_max(&gcm, 24), ==, 0);
        g_assert_cmpuint(bh_ike_sk_plain_max(&cbc256, 48), ==, 15);
        g_assert_cmpuint(bh_ike_sk_plain_max(&cbc256, 63), ==, 15);
        g_assert_cmpuint(bh_ike_sk_plain_max(&cbc256, 64), ==, 31);
        g_assert_cmpuint(bh_ike_sk_plain_max(&cbc256, 47), ==, 0);
        g_assert_cmpuint(bh_ike_sk_plain_max(&cbc512, 16 + 1008 + 32), ==, 1007);
        for (size_t n = 0; n < 300; n++) {
                const BhIkeSuite *all[] = { &gcm, &chacha, &cbc256, &cbc384, &cbc512 };
                for (size_t k = 0; k < G_N_ELEMENTS(all); k++) {
                        size_t body = bh_ike_sk_body_len(all[k], n);
                        g_assert_cmpuint(bh_ike_sk_plain_max(all[k], body), >=, n);
                        g_assert_cmpuint(bh_ike_sk_plain_max(all[k], body), <, n + 16);
                }
        }
}

/* ---- PSK authentication between two states ---- */

/* An IKE_SA_INIT message as isakmpd would hand it over: the header (SPIs),
 * then KE and Nonce payload bodies; enough for the containment checks. */
static GByteArray *fake_init_msg(const BhIkeSa *sa, uint64_t spi_i, uint64_t spi_r, bool with_ke,
                                 bool with_nonce) {
        const uint8_t *ke, *nonce;
        size_t ke_len, nonce_len;
        uint8_t header[28] = { 0 };
        uint8_t ke_header[8] = { 40, 0, 0, 0, 0, 0, 0, 0 };
        uint8_t nonce_header[4] = { 0, 0, 0, 0 };
        GByteArray *m = g_byte_array_new();

        bh_ike_sa_public(sa, &ke, &ke_len);
        bh_ike_sa_nonce(sa, &nonce, &nonce_len);
        put_be64(header, spi_i);
        put_be64(header + 8, spi_r);
        header[16] = 34; /* KE */
        header[17] = 0x20;
        header[18] = 34; /* IKE_SA_INIT */
        g_byte_array_append(m, header, sizeof header);
        if (with_ke) {
                g_byte_array_append(m, ke_header, sizeof ke_header);
                g_byte_array_append(m, ke, (guint) ke_len);
        }
        if (with_nonce) {
                g_byte_array_append(m, nonce_header, sizeof nonce_header);
                g_byte_array_append(m, nonce, (guint) nonce_len);
        }
        return m;
}

typedef struct {
        Pair p;
        GByteArray *msg_i, *msg_r; /* each side's IKE_SA_INIT message */
        uint8_t id_i[8], id_r[8];  /* ID_IPV4_ADDR bodies */
        BhSecret *psk;
        uint8_t auth_i[64], auth_r[64];
        size_t auth_i_len, auth_r_len;
} AuthFixture;

static void auth_setup(AuthFixture *f, uint16_t prf) {
        BhIkeSuite suite = { ENCR_AES_GCM_16, 256, prf, 0, 31 };
        static const uint8_t id_i[8] = { 1, 0, 0, 0, 192, 0, 2, 1 };
        static const uint8_t id_r[8] = { 1, 0, 0, 0, 198, 51, 100, 7 };

        memset(f, 0, sizeof *f);
        pair_new(&f->p, &suite);
        f->msg_i = fake_init_msg(f->p.i, f->p.spi_i, 0, true, true);
        f->msg_r = fake_init_msg(f->p.r, f->p.spi_i, f->p.spi_r, true, true);
        memcpy(f->id_i, id_i, sizeof id_i);
        memcpy(f->id_r, id_r, sizeof id_r);
        f->psk = bh_secret_new_copy("correct horse battery staple", 28);
        f->auth_i_len = sizeof f->auth_i;
        f->auth_r_len = sizeof f->auth_r;
}

static void auth_teardown(AuthFixture *f) {
        pair_clear(&f->p);
        g_byte_array_unref(f->msg_i);
        g_byte_array_unref(f->msg_r);
        bh_secret_free(f->psk);
}

static int sign_i(AuthFixture *f) {
        return bh_ike_sa_auth_sign(f->p.i, f->msg_i->data, f->msg_i->len, f->id_i, sizeof f->id_i,
                                   f->psk, f->auth_i, &f->auth_i_len);
}

static int sign_r(AuthFixture *f) {
        return bh_ike_sa_auth_sign(f->p.r, f->msg_r->data, f->msg_r->len, f->id_r, sizeof f->id_r,
                                   f->psk, f->auth_r, &f->auth_r_len);
}

static int verify_at_r(AuthFixture *f, const BhSecret *psk) {
        return bh_ike_sa_auth_verify(f->p.r, f->msg_i->data, f->msg_i->len, f->id_i,
                                     sizeof f->id_i, psk, f->auth_i, f->auth_i_len);
}

static int verify_at_i(AuthFixture *f, const BhSecret *psk) {
        return bh_ike_sa_auth_verify(f->p.i, f->msg_r->data, f->msg_r->len, f->id_r,
                                     sizeof f->id_r, psk, f->auth_r, f->auth_r_len);
}

static void test_auth_psk(void) {
        const uint16_t prfs[] = { PRF_SHA2_256, PRF_SHA2_384, PRF_SHA2_512 };
        const size_t prf_lens[] = { 32, 48, 64 };

        for (size_t k = 0; k < G_N_ELEMENTS(prfs); k++) {
                AuthFixture f;
                BhChildKeys *ck = NULL;
                auth_setup(&f, prfs[k]);

                /* No Child SA keys before both AUTHs. */
                g_assert_cmpint(bh_ike_sa_child_keys(f.p.i, 32, 32, &ck), ==, -EPERM);
                g_assert_cmpint(sign_i(&f), ==, 0);
                g_assert_cmpuint(f.auth_i_len, ==, prf_lens[k]);
                g_assert_cmpint(sign_i(&f), ==, -EALREADY);
                g_assert_false(bh_ike_sa_authenticated(f.p.i));
                g_assert_cmpint(bh_ike_sa_child_keys(f.p.i, 32, 32, &ck), ==, -EPERM);

                g_assert_cmpint(verify_at_r(&f, f.psk), ==, 0);
                g_assert_cmpint(verify_at_r(&f, f.psk), ==, -EALREADY);
                /* Verified but not signed yet. */
                g_assert_false(bh_ike_sa_authenticated(f.p.r));
                g_assert_cmpint(bh_ike_sa_child_keys(f.p.r, 32, 32, &ck), ==, -EPERM);
                g_assert_cmpint(sign_r(&f), ==, 0);
                g_assert_true(bh_ike_sa_authenticated(f.p.r));
                g_assert_cmpint(verify_at_i(&f, f.psk), ==, 0);
                g_assert_true(bh_ike_sa_authenticated(f.p.i));
                g_assert_null(ck);

                /* Both sides hold the same Child SA keys, each direction
                 * its own: AES-CBC-256 with HMAC-SHA2-256-128 here. */
                g_autoptr(BhChildKeys) ci = NULL;
                g_autoptr(BhChildKeys) cr = NULL;
                g_assert_cmpint(bh_ike_sa_child_keys(f.p.i, 32, 32, &ci), ==, 0);
                g_assert_cmpint(bh_ike_sa_child_keys(f.p.r, 32, 32, &cr), ==, 0);
                g_assert_cmpmem(ci->encr_i->data, 32, cr->encr_i->data, 32);
                g_assert_cmpmem(ci->integ_i->data, 32, cr->integ_i->data, 32);
                g_assert_cmpmem(ci->encr_r->data, 32, cr->encr_r->data, 32);
                g_assert_cmpmem(ci->integ_r->data, 32, cr->integ_r->data, 32);
                g_assert_cmpint(memcmp(ci->encr_i->data, ci->encr_r->data, 32), !=, 0);
                g_assert_cmpint(memcmp(ci->integ_i->data, ci->integ_r->data, 32), !=, 0);
                g_assert_cmpint(bh_ike_sa_child_keys(f.p.i, 32, 32, &ck), ==, -EALREADY);
                g_assert_null(ck);
                auth_teardown(&f);
        }
}

static void test_auth_refusals(void) {
        AuthFixture f;
        BhSecret *wrong = bh_secret_new_copy("correct horse battery stapl3", 28);
        BhSecret *empty = bh_secret_new(0);
        uint8_t small[16];
        size_t small_len = sizeof small;

        /* A wrong PSK: -EACCES, and no second try. */
        auth_setup(&f, PRF_SHA2_256);
        g_assert_cmpint(sign_i(&f), ==, 0);
        g_assert_cmpint(verify_at_r(&f, wrong), ==, -EACCES);
        g_assert_cmpint(verify_at_r(&f, f.psk), ==, -EALREADY);
        g_assert_cmpint(sign_r(&f), ==, 0);
        g_assert_false(bh_ike_sa_authenticated(f.p.r));
        auth_teardown(&f);

        /* A changed AUTH, a short AUTH, another ID: each -EACCES. */
        for (int k = 0; k < 3; k++) {
                auth_setup(&f, PRF_SHA2_384);
                g_assert_cmpint(sign_i(&f), ==, 0);
                if (k == 0)
                        f.auth_i[f.auth_i_len - 1] ^= 0x80;
                else if (k == 1)
                        f.auth_i_len--;
                else
                        f.id_i[7] ^= 1;
                g_assert_cmpint(verify_at_r(&f, f.psk), ==, -EACCES);
                g_assert_cmpint(verify_at_r(&f, f.psk), ==, -EALREADY);
                auth_teardown(&f);
        }

        /* sign refuses a message that is not our IKE_SA_INIT. */
        auth_setup(&f, PRF_SHA2_512);
        g_autoptr(GByteArray) no_ke = fake_init_msg(f.p.i, f.p.spi_i, 0, false, true);
        g_autoptr(GByteArray) no_nonce = fake_init_msg(f.p.i, f.p.spi_i, 0, true, false);
        g_autoptr(GByteArray) other_spi = fake_init_msg(f.p.i, f.p.spi_i ^ 1, 0, true, true);
        const GByteArray *not_ours[] = { no_ke, no_nonce, other_spi, f.msg_r };
        for (size_t k = 0; k < G_N_ELEMENTS(not_ours); k++)
                g_assert_cmpint(bh_ike_sa_auth_sign(f.p.i, not_ours[k]->data, not_ours[k]->len,
                                                    f.id_i, sizeof f.id_i, f.psk, f.auth_i,
                                                    &f.auth_i_len),
                                ==, -EPERM);
        g_assert_cmpint(bh_ike_sa_auth_sign(f.p.i, f.msg_i->data, 27, f.id_i, sizeof f.id_i, f.psk,
                                            f.auth_i, &f.auth_i_len),
                        ==, -EPERM);
        /* Bad arguments, a short buffer: refused, and nothing spent. */
        g_assert_cmpint(bh_ike_sa_auth_sign(f.p.i, f.msg_i->data, f.msg_i->len, f.id_i, sizeof f.id_i,
                                            f.psk, small, &small_len),
                        ==, -ENOBUFS);
        g_assert_cmpint(bh_ike_sa_auth_sign(f.p.i, f.msg_i->data, f.msg_i->len, f.id_i, 3, f.psk,
                                            f.auth_i, &f.auth_i_len),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_auth_sign(f.p.i, f.msg_i->data, f.msg_i->len, f.id_i, sizeof f.id_i,
                                            empty, f.auth_i, &f.auth_i_len),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_auth_sign(f.p.i, f.msg_i->data, f.msg_i->len, f.id_i, sizeof f.id_i,
                                            NULL, f.auth_i, &f.auth_i_len),
                        ==, -EINVAL);
        g_assert_cmpint(sign_i(&f), ==, 0);

        /* verify refuses a message without the peer's KE value or nonce
         * (here: the initiator's own), which does not spend the one try. */
        g_assert_cmpint(bh_ike_sa_auth_verify(f.p.r, f.msg_r->data, f.msg_r->len, f.id_i,
                                              sizeof f.id_i, f.psk, f.auth_i, f.auth_i_len),
                        ==, -EPERM);
        g_autoptr(GByteArray) i_no_ke = fake_init_msg(f.p.i, f.p.spi_i, 0, false, true);
        g_assert_cmpint(bh_ike_sa_auth_verify(f.p.r, i_no_ke->data, i_no_ke->len, f.id_i,
                                              sizeof f.id_i, f.psk, f.auth_i, f.auth_i_len),
                        ==, -EPERM);
        g_assert_cmpint(verify_at_r(&f, f.psk), ==, 0);
        auth_teardown(&f);

        bh_secret_free(empty);
        bh_secret_free(wrong);
}

/* ---- Child SAs of CREATE_CHILD_SA ---- */

static void authenticate(AuthFixture *f) {
        g_assert_cmpint(sign_i(f), ==, 0);
        g_assert_cmpint(sign_r(f), ==, 0);
        g_assert_cmpint(verify_at_r(f, f->psk), ==, 0);
        g_assert_cmpint(verify_at_i(f, f->psk), ==, 0);
}

static void assert_child_equal(const BhChildKeys *a, const BhChildKeys *b) {
        g_assert_cmpmem(a->encr_i->data, a->encr_i->len, b->encr_i->data, b->encr_i->len);
        g_assert_cmpmem(a->encr_r->data, a->encr_r->len, b->encr_r->data, b->encr_r->len);
        g_assert_cmpmem(a->integ_i->data, a->integ_i->len, b->integ_i->data, b->integ_i->len);
        g_assert_cmpmem(a->integ_r->data, a->integ_r->len, b->integ_r->data, b->integ_r->len);
}

static void test_rekey_child(void) {
        AuthFixture f;
        g_autoptr(GByteArray) ni = random_bytes(32);
        g_autoptr(GByteArray) nr = random_bytes(48);
        g_autoptr(BhChildKeys) plain_i = NULL;
        g_autoptr(BhChildKeys) plain_r = NULL;
        g_autoptr(BhChildKeys) pfs_i_keys = NULL;
        g_autoptr(BhChildKeys) pfs_r_keys = NULL;
        BhChildKeys *none = NULL;
        BhIkeSa *pfs_i = NULL, *pfs_r = NULL;
        const uint8_t *ke_i, *ke_r;
        size_t ke_i_len, ke_r_len;

        auth_setup(&f, PRF_SHA2_256);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, NULL, NULL, 0, ni->data, ni->len,
                                                   nr->data, nr->len, 32, 32, &none),
                        ==, -EPERM);
        authenticate(&f);

        /* Without PFS: prf+(SK_d, Ni | Nr) on both sides. */
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, NULL, NULL, 0, ni->data, ni->len,
                                                   nr->data, nr->len, 36, 0, &plain_i),
                        ==, 0);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.r, NULL, NULL, 0, ni->data, ni->len,
                                                   nr->data, nr->len, 36, 0, &plain_r),
                        ==, 0);
        g_assert_cmpmem(plain_i->encr_i->data, 36, plain_r->encr_i->data, 36);
        g_assert_cmpmem(plain_i->encr_r->data, 36, plain_r->encr_r->data, 36);

        /* With PFS on ECP-256, another group than the IKE SA's. */
        g_assert_cmpint(bh_ike_sa_new(true, 19, &pfs_i), ==, 0);
        g_assert_cmpint(bh_ike_sa_new(false, 19, &pfs_r), ==, 0);
        bh_ike_sa_public(pfs_i, &ke_i, &ke_i_len);
        bh_ike_sa_public(pfs_r, &ke_r, &ke_r_len);
        g_autoptr(GByteArray) off_curve = bytes_of(ke_r, ke_r_len);
        off_curve->data[ke_r_len - 1] ^= 0x01;
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, pfs_i, off_curve->data, off_curve->len,
                                                   ni->data, ni->len, nr->data, nr->len, 32, 32,
                                                   &none),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, pfs_i, ke_r, ke_r_len - 1, ni->data,
                                                   ni->len, nr->data, nr->len, 32, 32, &none),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, f.p.i, ke_r, ke_r_len, ni->data, ni->len,
                                                   nr->data, nr->len, 32, 32, &none),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, NULL, ke_r, ke_r_len, ni->data, ni->len,
                                                   nr->data, nr->len, 32, 32, &none),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, pfs_i, ke_r, ke_r_len, ni->data, 15,
                                                   nr->data, nr->len, 32, 32, &none),
                        ==, -EINVAL);
        g_assert_null(none);

        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, pfs_i, ke_r, ke_r_len, ni->data, ni->len,
                                                   nr->data, nr->len, 32, 32, &pfs_i_keys),
                        ==, 0);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.r, pfs_r, ke_i, ke_i_len, ni->data, ni->len,
                                                   nr->data, nr->len, 32, 32, &pfs_r_keys),
                        ==, 0);
        assert_child_equal(pfs_i_keys, pfs_r_keys);
        /* g^ir (new) went into KEYMAT: not the keys without PFS. */
        g_assert_cmpint(memcmp(pfs_i_keys->encr_i->data, plain_i->encr_i->data, 32), !=, 0);
        /* A PFS key pair serves once; it can no longer derive an IKE SA. */
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, pfs_i, ke_r, ke_r_len, ni->data, ni->len,
                                                   nr->data, nr->len, 32, 32, &none),
                        ==, -EALREADY);
        BhIkeSuite ecp = { ENCR_AES_GCM_16, 128, PRF_SHA2_256, 0, 19 };
        g_assert_cmpint(bh_ike_sa_derive(pfs_i, ke_r, ke_r_len, ni->data, ni->len, 1, 2, &ecp), ==,
                        -EALREADY);
        /* A derived IKE SA has no key pair left to lend. */
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(f.p.i, f.p.r, ke_r, ke_r_len, ni->data, ni->len,
                                                   nr->data, nr->len, 32, 32, &none),
                        ==, -EALREADY);
        g_assert_null(none);

        bh_ike_sa_free(pfs_i);
        bh_ike_sa_free(pfs_r);
        auth_teardown(&f);
}

/* ---- an independent peer: OpenSSL directly ---- */

/* An IKE SA rekey started by the old SA's responder: the new SAs agree
 * (SK payloads both ways, child keys), the rekey's starter is the new
 * initiator, the new SA needs no AUTH, and neither an unauthenticated old
 * SA nor a second derive is accepted. */
static void test_rekey_ike(void) {
        AuthFixture f;
        BhIkeSuite suite = { ENCR_AES_GCM_16, 128, 6, 0, 19 };  /* another PRF and group than the old SA's */
        BhIkeSa *ni = NULL, *nr = NULL, *early = NULL;
        const uint8_t *ke_i, *ke_r, *n_i, *n_r;
        size_t ke_i_len, ke_r_len, n_i_len, n_r_len;
        Pair np = { .suite = suite, .spi_i = random_spi(), .spi_r = random_spi() };

        auth_setup(&f, 5);
        /* Not before the old SA is authenticated. */
        g_assert_cmpint(bh_ike_sa_new(true, 19, &early), ==, 0);
        bh_ike_sa_public(f.p.i, &ke_i, &ke_i_len);
        bh_ike_sa_nonce(f.p.i, &n_i, &n_i_len);
        {
                const uint8_t *k;
                size_t kl;
                BhIkeSa *other = NULL;
                g_assert_cmpint(bh_ike_sa_new(false, 19, &other), ==, 0);
                bh_ike_sa_public(other, &k, &kl);
                g_assert_cmpint(bh_ike_sa_rekey_ike(early, f.p.r, k, kl, n_i, n_i_len, np.spi_i, np.spi_r, &suite), ==,
                                -EPERM);
                bh_ike_sa_free(other);
        }
        bh_ike_sa_free(early);
        authenticate(&f);

        /* The old responder (f.p.r) starts the rekey: it is the new initiator. */
        g_assert_cmpint(bh_ike_sa_new(true, 19, &ni), ==, 0);
        g_assert_cmpint(bh_ike_sa_new(false, 19, &nr), ==, 0);
        bh_ike_sa_public(ni, &ke_i, &ke_i_len);
        bh_ike_sa_public(nr, &ke_r, &ke_r_len);
        bh_ike_sa_nonce(ni, &n_i, &n_i_len);
        bh_ike_sa_nonce(nr, &n_r, &n_r_len);
        g_assert_cmpint(bh_ike_sa_rekey_ike(ni, f.p.r, ke_r, ke_r_len, n_r, n_r_len, np.spi_i, np.spi_r, &suite), ==, 0);
        g_assert_cmpint(bh_ike_sa_rekey_ike(nr, f.p.i, ke_i, ke_i_len, n_i, n_i_len, np.spi_i, np.spi_r, &suite), ==, 0);
        g_assert_cmpint(bh_ike_sa_rekey_ike(nr, f.p.i, ke_i, ke_i_len, n_i, n_i_len, np.spi_i, np.spi_r, &suite), ==,
                        -EALREADY);
        g_assert_true(bh_ike_sa_authenticated(ni));
        g_assert_true(bh_ike_sa_authenticated(nr));
        np.i = ni;
        np.r = nr;
        sk_round_trip(ni, nr, &np, 100, "rekeyed, new initiator to responder");
        sk_round_trip(nr, ni, &np, 33, "rekeyed, new responder to initiator");
        /* Keyed apart from the old SA: the old responder cannot open it. */
        {
                g_autoptr(GByteArray) aad = fake_aad(&np);
                uint8_t plain[16] = { 1 }, body[128], out[128];
                size_t body_len = bh_ike_sk_body_len(&suite, sizeof plain), out_len;
                g_assert_cmpint(bh_ike_sa_seal(ni, aad->data, aad->len, plain, sizeof plain, body, body_len), ==, 0);
                g_assert_cmpint(bh_ike_sa_open(f.p.r, aad->data, aad->len, body, body_len, out, &out_len), !=, 0);
        }
        /* CHILD SAs of the new IKE SA come from its SK_d. */
        g_autoptr(GByteArray) cn_i = random_bytes(32);
        g_autoptr(GByteArray) cn_r = random_bytes(32);
        g_autoptr(BhChildKeys) ci = NULL;
        g_autoptr(BhChildKeys) cr = NULL;
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(ni, NULL, NULL, 0, cn_i->data, cn_i->len, cn_r->data, cn_r->len, 20, 0,
                                                   &ci),
                        ==, 0);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(nr, NULL, NULL, 0, cn_i->data, cn_i->len, cn_r->data, cn_r->len, 20, 0,
                                                   &cr),
                        ==, 0);
        g_assert_cmpmem(ci->encr_i->data, ci->encr_i->len, cr->encr_i->data, cr->encr_i->len);
        g_assert_cmpmem(ci->encr_r->data, ci->encr_r->len, cr->encr_r->data, cr->encr_r->len);
        bh_ike_sa_free(ni);
        bh_ike_sa_free(nr);
        auth_teardown(&f);
}

static const EVP_MD *md_of_prf(uint16_t prf) {
        return prf == PRF_SHA2_256 ? EVP_sha256() : prf == PRF_SHA2_384 ? EVP_sha384() : EVP_sha512();
}

static const EVP_MD *md_of_integ(uint16_t integ) {
        return integ == AUTH_SHA2_256_128   ? EVP_sha256()
               : integ == AUTH_SHA2_384_192 ? EVP_sha384()
                                            : EVP_sha512();
}

/* HMAC(key, the pieces concatenated), the whole output. */
static GByteArray *hmac(const EVP_MD *md, const GByteArray *key, const GByteArray *const *pieces,
                        size_t n) {
        g_autoptr(GByteArray) data = g_byte_array_new();
        GByteArray *out = g_byte_array_sized_new(EVP_MAX_MD_SIZE);
        unsigned out_len = 0;

        for (size_t i = 0; i < n; i++)
                g_byte_array_append(data, pieces[i]->data, pieces[i]->len);
        g_byte_array_set_size(out, EVP_MAX_MD_SIZE);
        g_assert_nonnull(HMAC(md, key->data, (int) key->len, data->data, data->len, out->data,
                              &out_len));
        g_byte_array_set_size(out, out_len);
        return out;
}

static GByteArray *concat(const GByteArray *a, const GByteArray *b) {
        GByteArray *c = g_byte_array_new();
        g_byte_array_append(c, a->data, a->len);
        g_byte_array_append(c, b->data, b->len);
        return c;
}

/* prf+ (RFC 7296 2.13), written out again. */
static GByteArray *prf_plus(const EVP_MD *md, const GByteArray *key, const GByteArray *seed,
                            size_t len) {
        GByteArray *out = g_byte_array_new();
        g_autoptr(GByteArray) t = g_byte_array_new();

        for (uint8_t n = 1; out->len < len; n++) {
                g_autoptr(GByteArray) counter = g_byte_array_new();
                g_byte_array_append(counter, &n, 1);
                const GByteArray *pieces[] = { t, seed, counter };
                g_autoptr(GByteArray) block = hmac(md, key, pieces, 3);
                g_byte_array_set_size(t, 0);
                g_byte_array_append(t, block->data, block->len);
                g_byte_array_append(out, block->data, block->len);
        }
        g_byte_array_set_size(out, (guint) len);
        return out;
}

static GByteArray *slice(const GByteArray *a, size_t *off, size_t len) {
        GByteArray *s = g_byte_array_new();
        g_assert_cmpuint(*off + len, <=, a->len);
        g_byte_array_append(s, a->data + *off, (guint) len);
        *off += len;
        return s;
}

/* The peer's key pair and g^ir, with OpenSSL's encoded-public-key calls. */
typedef struct {
        EVP_PKEY *key;
        GByteArray *ke; /* as the KE payload carries it */
} XPeer;

static void xpeer_new(XPeer *x, uint16_t group) {
        const Group *g = group_of(group);
        unsigned char *enc = NULL;
        size_t enc_len;

        if (group == 31)
                x->key = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
        else if (is_ecp(group))
                x->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", g->ossl);
        else {
                EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "DH", NULL);
                OSSL_PARAM params[] = {
                        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                         (char *) g->ossl, 0),
                        OSSL_PARAM_construct_end(),
                };
                g_assert_cmpint(EVP_PKEY_keygen_init(ctx), ==, 1);
                g_assert_cmpint(EVP_PKEY_CTX_set_params(ctx, params), ==, 1);
                g_assert_cmpint(EVP_PKEY_generate(ctx, &x->key), ==, 1);
                EVP_PKEY_CTX_free(ctx);
        }
        g_assert_nonnull(x->key);
        enc_len = EVP_PKEY_get1_encoded_public_key(x->key, &enc);
        g_assert_cmpuint(enc_len, >, 0);
        x->ke = g_byte_array_new();
        if (is_ecp(group)) {
                /* SEC 1 uncompressed point: 0x04 || x || y; the wire has x || y. */
                g_assert_cmpuint(enc[0], ==, 0x04);
                g_byte_array_append(x->ke, enc + 1, (guint) enc_len - 1);
        } else
                g_byte_array_append(x->ke, enc, (guint) enc_len);
        OPENSSL_free(enc);
        g_assert_cmpuint(x->ke->len, ==, g->public_len);
}

static void xpeer_clear(XPeer *x) {
        g_clear_pointer(&x->key, EVP_PKEY_free);
        g_clear_pointer(&x->ke, g_byte_array_unref);
}

/* g^ir as RFC 7296 2.14 wants it: as long as the prime for MODP (OpenSSL's
 * DH drops leading zeros unless asked to pad: padded here by hand), the x
 * coordinate for ECP (OpenSSL pads it to the field's length itself). */
static GByteArray *xpeer_agree(XPeer *x, uint16_t group, const uint8_t *ke, size_t ke_len) {
        const Group *g = group_of(group);
        EVP_PKEY *peer;
        EVP_PKEY_CTX *ctx;
        GByteArray *secret = g_byte_array_new();
        size_t len = 0;

        if (group == 31)
                peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, ke, ke_len);
        else {
                g_autoptr(GByteArray) enc = g_byte_array_new();
                if (is_ecp(group))
                        g_byte_array_append(enc, (const guint8 *) "\x04", 1);
                g_byte_array_append(enc, ke, (guint) ke_len);
                peer = EVP_PKEY_new();
                g_assert_cmpint(EVP_PKEY_copy_parameters(peer, x->key), ==, 1);
                g_assert_cmpint(EVP_PKEY_set1_encoded_public_key(peer, enc->data, enc->len), ==, 1);
        }
        g_assert_nonnull(peer);
        ctx = EVP_PKEY_CTX_new(x->key, NULL);
        g_assert_cmpint(EVP_PKEY_derive_init(ctx), ==, 1);
        g_assert_cmpint(EVP_PKEY_derive_set_peer(ctx, peer), ==, 1);
        g_assert_cmpint(EVP_PKEY_derive(ctx, NULL, &len), ==, 1);
        g_byte_array_set_size(secret, (guint) len);
        g_assert_cmpint(EVP_PKEY_derive(ctx, secret->data, &len), ==, 1);
        g_byte_array_set_size(secret, (guint) len);
        g_assert_cmpuint(secret->len, <=, g->secret_len);
        if (is_modp(group) && secret->len < g->secret_len) {
                g_autoptr(GByteArray) zeros = g_byte_array_new();
                g_byte_array_set_size(zeros, (guint) (g->secret_len - secret->len));
                memset(zeros->data, 0, zeros->len);
                g_byte_array_prepend(secret, zeros->data, zeros->len);
        }
        g_assert_cmpuint(secret->len, ==, g->secret_len);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(peer);
        return secret;
}

/* The IKE SA's keys as the independent peer computes them. */
typedef struct {
        GByteArray *sk_d, *sk_ai, *sk_ar, *sk_ei, *sk_er, *sk_pi, *sk_pr;
} XKeys;

/* RFC 7296 2.14 written out again: SKEYSEED = prf(Ni | Nr, g^ir), then
 * prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) cut into the seven keys. */
static void xkeys_derive(XKeys *k, const BhIkeSuite *s, const GByteArray *g_ir,
                         const GByteArray *ni, const GByteArray *nr, uint64_t spi_i,
                         uint64_t spi_r) {
        const EVP_MD *md = md_of_prf(s->prf);
        size_t prf_len = (size_t) EVP_MD_get_size(md);
        size_t key_len = s->encr == ENCR_CHACHA20_POLY1305 ? 32 : s->encr_bits / 8;
        size_t e_len = key_len + (s->encr == ENCR_AES_CBC ? 0 : 4); /* AEAD: + salt */
        size_t a_len = s->integ ? (size_t) EVP_MD_get_size(md_of_integ(s->integ)) : 0;
        g_autoptr(GByteArray) ni_nr = concat(ni, nr);
        g_autoptr(GByteArray) spis = g_byte_array_new();
        const GByteArray *g_ir_piece[] = { g_ir };
        size_t off = 0;

        g_byte_array_set_size(spis, 16);
        put_be64(spis->data, spi_i);
        put_be64(spis->data + 8, spi_r);
        g_autoptr(GByteArray) seed = concat(ni_nr, spis);
        g_autoptr(GByteArray) skeyseed = hmac(md, ni_nr, g_ir_piece, 1);
        g_autoptr(GByteArray) dkm =
                prf_plus(md, skeyseed, seed, prf_len + 2 * (a_len + e_len + prf_len));
        k->sk_d = slice(dkm, &off, prf_len);
        k->sk_ai = slice(dkm, &off, a_len);
        k->sk_ar = slice(dkm, &off, a_len);
        k->sk_ei = slice(dkm, &off, e_len);
        k->sk_er = slice(dkm, &off, e_len);
        k->sk_pi = slice(dkm, &off, prf_len);
        k->sk_pr = slice(dkm, &off, prf_len);
}

static void xkeys_clear(XKeys *k) {
        GByteArray **all[] = { &k->sk_d, &k->sk_ai, &k->sk_ar, &k->sk_ei,
                               &k->sk_er, &k->sk_pi, &k->sk_pr };
        for (size_t i = 0; i < G_N_ELEMENTS(all); i++)
                g_clear_pointer(all[i], g_byte_array_unref);
}

/* The SK payload with OpenSSL's ciphers directly. enc: body = IV || E(plain
 * || padding || Pad Length) || ICV from plain with the given padding;
 * otherwise checks and decrypts body into *ret_inner (all of the decrypted
 * octets, padding included). Returns false on an ICV mismatch. */
static bool x_sk(const BhIkeSuite *s, const GByteArray *sk_e, const GByteArray *sk_a,
                 const GByteArray *aad, bool enc, GByteArray *body, GByteArray **ret_inner) {
        size_t iv_len = sk_iv_len(s), icv_len = sk_icv_len(s);
        size_t key_len = s->encr == ENCR_CHACHA20_POLY1305 ? 32 : s->encr_bits / 8;
        size_t ct_len = body->len - iv_len - icv_len;
        uint8_t *iv = body->data, *ct = body->data + iv_len, *icv = ct + ct_len;
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        GByteArray *inner = g_byte_array_new();
        bool ok = true;
        int outl;

        g_byte_array_set_size(inner, (guint) ct_len);
        if (s->encr == ENCR_AES_CBC) {
                const EVP_CIPHER *c = s->encr_bits == 128 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
                g_autoptr(GByteArray) head = g_byte_array_new();
                g_byte_array_append(head, aad->data, aad->len);
                g_byte_array_append(head, iv, (guint) iv_len);
                g_assert_cmpint(EVP_CipherInit_ex(ctx, c, NULL, sk_e->data, iv, enc), ==, 1);
                EVP_CIPHER_CTX_set_padding(ctx, 0);
                if (!enc) {
                        g_autoptr(GByteArray) cts = bytes_of(ct, ct_len);
                        const GByteArray *pieces[] = { head, cts };
                        g_autoptr(GByteArray) mac = hmac(md_of_integ(s->integ), sk_a, pieces, 2);
                        ok = memcmp(mac->data, icv, icv_len) == 0;
                }
                g_assert_cmpint(EVP_CipherUpdate(ctx, enc ? ct : inner->data, &outl, ct,
                                                 (int) ct_len),
                                ==, 1);
                if (enc) {
                        g_autoptr(GByteArray) cts = bytes_of(ct, ct_len);
                        const GByteArray *pieces[] = { head, cts };
                        g_autoptr(GByteArray) mac = hmac(md_of_integ(s->integ), sk_a, pieces, 2);
                        memcpy(icv, mac->data, icv_len);
                }
        } else {
                const EVP_CIPHER *c = s->encr == ENCR_CHACHA20_POLY1305 ? EVP_chacha20_poly1305()
                                      : s->encr_bits == 128            ? EVP_aes_128_gcm()
                                                                       : EVP_aes_256_gcm();
                uint8_t nonce[12];
                memcpy(nonce, sk_e->data + key_len, 4); /* the salt */
                memcpy(nonce + 4, iv, 8);
                g_assert_cmpuint(sk_e->len, ==, key_len + 4);
                g_assert_cmpint(EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, enc), ==, 1);
                g_assert_cmpint(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL), ==, 1);
                g_assert_cmpint(EVP_CipherInit_ex(ctx, NULL, NULL, sk_e->data, nonce, enc), ==, 1);
                if (!enc)
                        g_assert_cmpint(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, icv),
                                        ==, 1);
                g_assert_cmpint(EVP_CipherUpdate(ctx, NULL, &outl, aad->data, (int) aad->len), ==, 1);
                g_assert_cmpint(EVP_CipherUpdate(ctx, enc ? ct : inner->data, &outl, ct,
                                                 (int) ct_len),
                                ==, 1);
                ok = EVP_CipherFinal_ex(ctx, inner->data, &outl) == 1;
                if (enc)
                        g_assert_cmpint(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, icv),
                                        ==, 1);
        }
        EVP_CIPHER_CTX_free(ctx);
        if (ret_inner && ok)
                *ret_inner = inner;
        else
                g_byte_array_unref(inner);
        return ok;
}

/* A body from the independent peer: plain, pad_len padding octets of 0xa5
 * (a sender may put anything there), the Pad Length octet `pad_octet`. */
static GByteArray *x_seal(const BhIkeSuite *s, const GByteArray *sk_e, const GByteArray *sk_a,
                          const GByteArray *aad, const GByteArray *plain, size_t pad_len,
                          uint8_t pad_octet) {
        size_t iv_len = sk_iv_len(s), icv_len = sk_icv_len(s);
        GByteArray *body = random_bytes(iv_len);

        g_byte_array_append(body, plain->data, plain->len);
        for (size_t i = 0; i < pad_len; i++)
                g_byte_array_append(body, (const guint8 *) "\xa5", 1);
        g_byte_array_append(body, &pad_octet, 1);
        g_byte_array_set_size(body, body->len + (guint) icv_len);
        g_assert_true(x_sk(s, sk_e, sk_a, aad, true, body, NULL));
        return body;
}

typedef struct {
        const char *name;
        bool sa_initiates;
        BhIkeSuite suite;
} XCase;

static void test_cross_check(gconstpointer data) {
        const XCase *c = data;
        const BhIkeSuite *s = &c->suite;
        const EVP_MD *md = md_of_prf(s->prf);
        BhIkeSa *sa = NULL;
        XPeer x = { 0 };
        XKeys k = { 0 };
        const uint8_t *sa_ke, *sa_nonce;
        size_t sa_ke_len, sa_nonce_len;
        uint64_t spi_i = random_spi(), spi_r = random_spi();
        g_autoptr(GByteArray) x_nonce = random_bytes(24); /* a length of its own */

        g_assert_cmpint(bh_ike_sa_new(c->sa_initiates, s->dh, &sa), ==, 0);
        bh_ike_sa_public(sa, &sa_ke, &sa_ke_len);
        bh_ike_sa_nonce(sa, &sa_nonce, &sa_nonce_len);
        xpeer_new(&x, s->dh);
        g_assert_cmpint(bh_ike_sa_derive(sa, x.ke->data, x.ke->len, x_nonce->data, x_nonce->len,
                                         spi_i, spi_r, s),
                        ==, 0);

        /* The key schedule, from g^ir as the peer sees it. */
        g_autoptr(GByteArray) g_ir = xpeer_agree(&x, s->dh, sa_ke, sa_ke_len);
        g_autoptr(GByteArray) sa_n = bytes_of(sa_nonce, sa_nonce_len);
        GByteArray *ni = c->sa_initiates ? sa_n : x_nonce;
        GByteArray *nr = c->sa_initiates ? x_nonce : sa_n;
        g_autoptr(GByteArray) ni_nr = concat(ni, nr);
        xkeys_derive(&k, s, g_ir, ni, nr, spi_i, spi_r);

        GByteArray *sa_e = c->sa_initiates ? k.sk_ei : k.sk_er;
        GByteArray *sa_a = c->sa_initiates ? k.sk_ai : k.sk_ar;
        GByteArray *x_e = c->sa_initiates ? k.sk_er : k.sk_ei;
        GByteArray *x_a = c->sa_initiates ? k.sk_ar : k.sk_ai;
        Pair p = { .spi_i = spi_i, .spi_r = spi_r, .suite = *s };
        g_autoptr(GByteArray) aad = fake_aad(&p);

        /* What the SA seals, the peer opens: plaintext, zero padding, Pad
         * Length, all in place. */
        for (size_t n = 0; n < 40; n += 13) {
                g_autoptr(GByteArray) plain = random_bytes(n);
                g_autoptr(GByteArray) body = g_byte_array_new();
                GByteArray *inner = NULL;
                g_byte_array_set_size(body, (guint) bh_ike_sk_body_len(s, n));
                g_assert_cmpint(bh_ike_sa_seal(sa, aad->data, aad->len, plain->data, n, body->data,
                                               body->len),
                                ==, 0);
                if (!x_sk(s, sa_e, sa_a, aad, false, body, &inner)) {
                        g_test_message("%s: the peer cannot open what the SA sealed", c->name);
                        g_test_fail();
                        continue;
                }
                size_t pad = inner->len - n - 1;
                g_assert_cmpmem(inner->data, n, plain->data, n);
                g_assert_cmpuint(inner->data[inner->len - 1], ==, pad);
                for (size_t i = 0; i < pad; i++)
                        g_assert_cmpuint(inner->data[n + i], ==, 0);
                if (s->encr != ENCR_AES_CBC)
                        g_assert_cmpuint(pad, ==, 0);
                g_byte_array_unref(inner);
        }

        /* What the peer seals, the SA opens, whatever padding it chose. */
        const struct {
                size_t plain, pad;
        } pads[] = { { 0, 0 }, { 10, 5 }, { 30, 17 }, { 14, 49 } };
        for (size_t i = 0; i < G_N_ELEMENTS(pads); i++) {
                size_t n = pads[i].plain, pad = pads[i].pad;
                if (s->encr == ENCR_AES_CBC && (n + pad + 1) % 16 != 0)
                        pad += 16 - (n + pad + 1) % 16;
                g_autoptr(GByteArray) plain = random_bytes(n);
                g_autoptr(GByteArray) body = x_seal(s, x_e, x_a, aad, plain, pad, (uint8_t) pad);
                g_autofree uint8_t *out = g_malloc(bh_ike_sk_plain_max(s, body->len));
                size_t out_len = 0;
                g_assert_cmpint(bh_ike_sa_open(sa, aad->data, aad->len, body->data, body->len, out,
                                               &out_len),
                                ==, 0);
                g_assert_cmpmem(out, out_len, plain->data, n);
        }
        /* A Pad Length beyond the ciphertext, under a valid ICV: -EBADMSG. */
        {
                g_autoptr(GByteArray) plain = random_bytes(s->encr == ENCR_AES_CBC ? 15 : 20);
                g_autoptr(GByteArray) body = x_seal(s, x_e, x_a, aad, plain, 0, 200);
                uint8_t out[64];
                size_t out_len = 0;
                g_assert_cmpint(bh_ike_sa_open(sa, aad->data, aad->len, body->data, body->len, out,
                                               &out_len),
                                ==, -EBADMSG);
                g_autoptr(GByteArray) exact = x_seal(s, x_e, x_a, aad, plain, 0,
                                                     (uint8_t) plain->len);
                g_assert_cmpint(bh_ike_sa_open(sa, aad->data, aad->len, exact->data, exact->len,
                                               out, &out_len),
                                ==, 0);
                g_assert_cmpuint(out_len, ==, 0); /* Pad Length = all the rest: nothing left */
        }

        /* AUTH (RFC 7296 2.15) with HMAC directly. */
        static const uint8_t id_sa_octets[] = { 2, 0, 0, 0, 'g', 'w', '.', 'e', 'x',
                                                'a', 'm', 'p', 'l', 'e' };
        static const uint8_t id_x_octets[] = { 3, 0, 0, 0, 'p', 'e', 'e', 'r', '@', 'e', 'x' };
        g_autoptr(GByteArray) id_sa = bytes_of(id_sa_octets, sizeof id_sa_octets);
        g_autoptr(GByteArray) id_x = bytes_of(id_x_octets, sizeof id_x_octets);
        g_autoptr(GByteArray) psk = bytes_of((const uint8_t *) "a pre-shared key", 16);
        g_autoptr(GByteArray) key_pad = bytes_of((const uint8_t *) "Key Pad for IKEv2", 17);
        BhSecret *psk_secret = bh_secret_new_copy(psk->data, psk->len);
        const GByteArray *kp_piece[] = { key_pad };
        g_autoptr(GByteArray) auth_key = hmac(md, psk, kp_piece, 1);

        g_autoptr(GByteArray) msg_sa = fake_init_msg(sa, spi_i, c->sa_initiates ? 0 : spi_r, true,
                                                     true);
        g_autoptr(GByteArray) msg_x = g_byte_array_new();
        g_byte_array_append(msg_x, msg_sa->data, 28); /* a header with the same SPIi */
        g_byte_array_append(msg_x, (const guint8 *) "KE..", 4);
        g_byte_array_append(msg_x, x.ke->data, x.ke->len);
        g_byte_array_append(msg_x, (const guint8 *) "Ni..", 4);
        g_byte_array_append(msg_x, x_nonce->data, x_nonce->len);

        /* The SA's AUTH: its message | the peer's nonce | prf(SK_p(SA), IDsa) */
        const GByteArray *id_sa_piece[] = { id_sa };
        g_autoptr(GByteArray) maced_sa = hmac(md, c->sa_initiates ? k.sk_pi : k.sk_pr,
                                              id_sa_piece, 1);
        const GByteArray *signed_sa[] = { msg_sa, x_nonce, maced_sa };
        g_autoptr(GByteArray) want_sa = hmac(md, auth_key, signed_sa, 3);
        uint8_t auth[64];
        size_t auth_len = sizeof auth;
        g_assert_cmpint(bh_ike_sa_auth_sign(sa, msg_sa->data, msg_sa->len, id_sa->data, id_sa->len,
                                            psk_secret, auth, &auth_len),
                        ==, 0);
        g_assert_cmpmem(auth, auth_len, want_sa->data, want_sa->len);

        /* The peer's AUTH: its message | the SA's nonce | prf(SK_p(peer), IDx) */
        const GByteArray *id_x_piece[] = { id_x };
        g_autoptr(GByteArray) maced_x = hmac(md, c->sa_initiates ? k.sk_pr : k.sk_pi,
                                             id_x_piece, 1);
        const GByteArray *signed_x[] = { msg_x, sa_n, maced_x };
        g_autoptr(GByteArray) auth_x = hmac(md, auth_key, signed_x, 3);
        g_assert_cmpint(bh_ike_sa_auth_verify(sa, msg_x->data, msg_x->len, id_x->data, id_x->len,
                                              psk_secret, auth_x->data, auth_x->len),
                        ==, 0);
        g_assert_true(bh_ike_sa_authenticated(sa));

        /* The first Child SA: KEYMAT = prf+(SK_d, Ni | Nr) (2.17), cut as
         * AES-GCM-16-256 (key and salt) for ESP: i->r first. */
        g_autoptr(BhChildKeys) child = NULL;
        g_assert_cmpint(bh_ike_sa_child_keys(sa, 36, 0, &child), ==, 0);
        g_autoptr(GByteArray) keymat = prf_plus(md, k.sk_d, ni_nr, 72);
        g_assert_cmpmem(child->encr_i->data, child->encr_i->len, keymat->data, 36);
        g_assert_cmpmem(child->encr_r->data, child->encr_r->len, keymat->data + 36, 36);
        g_assert_null(child->integ_i);

        /* A CREATE_CHILD_SA with PFS: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr). */
        BhIkeSa *pfs = NULL;
        XPeer x2 = { 0 };
        const uint8_t *pfs_ke;
        size_t pfs_ke_len;
        g_autoptr(GByteArray) ni2 = random_bytes(32);
        g_autoptr(GByteArray) nr2 = random_bytes(16);
        g_autoptr(BhChildKeys) child2 = NULL;
        g_assert_cmpint(bh_ike_sa_new(c->sa_initiates, s->dh, &pfs), ==, 0);
        xpeer_new(&x2, s->dh);
        bh_ike_sa_public(pfs, &pfs_ke, &pfs_ke_len);
        g_autoptr(GByteArray) g_ir2 = xpeer_agree(&x2, s->dh, pfs_ke, pfs_ke_len);
        g_assert_cmpint(bh_ike_sa_rekey_child_keys(sa, pfs, x2.ke->data, x2.ke->len, ni2->data,
                                                   ni2->len, nr2->data, nr2->len, 16, 32, &child2),
                        ==, 0);
        g_autoptr(GByteArray) ni_nr2 = concat(ni2, nr2);
        g_autoptr(GByteArray) seed2 = concat(g_ir2, ni_nr2);
        g_autoptr(GByteArray) keymat2 = prf_plus(md, k.sk_d, seed2, 96);
        g_assert_cmpmem(child2->encr_i->data, 16, keymat2->data, 16);
        g_assert_cmpmem(child2->integ_i->data, 32, keymat2->data + 16, 32);
        g_assert_cmpmem(child2->encr_r->data, 16, keymat2->data + 48, 16);
        g_assert_cmpmem(child2->integ_r->data, 32, keymat2->data + 64, 32);

        bh_ike_sa_free(pfs);
        xpeer_clear(&x2);
        bh_secret_free(psk_secret);
        xkeys_clear(&k);
        xpeer_clear(&x);
        bh_ike_sa_free(sa);
}

/* g^ir keeps its leading zero octets (RFC 7296 2.14: for MODP as long as
 * the prime; RFC 5903 7: the x coordinate at the field's length). One
 * exchange in 256 has one: run exchanges until the independent peer sees
 * one, then check that the SA's keys are the peer's. */
static void test_leading_zero(gconstpointer data) {
        const Group *g = data;
        const BhIkeSuite s = { ENCR_AES_GCM_16, 128, PRF_SHA2_256, 0, g->id };
        const unsigned max_tries = 5000; /* (255/256)^5000: about 3e-9 */

        for (unsigned tries = 1; tries <= max_tries; tries++) {
                BhIkeSa *sa = NULL;
                XPeer x = { 0 };
                const uint8_t *sa_ke, *sa_nonce;
                size_t sa_ke_len, sa_nonce_len;

                g_assert_cmpint(bh_ike_sa_new(true, g->id, &sa), ==, 0);
                bh_ike_sa_public(sa, &sa_ke, &sa_ke_len);
                xpeer_new(&x, g->id);
                g_autoptr(GByteArray) g_ir = xpeer_agree(&x, g->id, sa_ke, sa_ke_len);
                if (g_ir->data[0] != 0) {
                        xpeer_clear(&x);
                        bh_ike_sa_free(sa);
                        continue;
                }
                g_test_message("%s: g^ir with a leading zero octet after %u exchanges", g->name,
                               tries);

                uint64_t spi_i = random_spi(), spi_r = random_spi();
                g_autoptr(GByteArray) x_nonce = random_bytes(32);
                bh_ike_sa_nonce(sa, &sa_nonce, &sa_nonce_len);
                g_autoptr(GByteArray) sa_n = bytes_of(sa_nonce, sa_nonce_len);
                g_assert_cmpint(bh_ike_sa_derive(sa, x.ke->data, x.ke->len, x_nonce->data,
                                                 x_nonce->len, spi_i, spi_r, &s),
                                ==, 0);
                XKeys k = { 0 };
                xkeys_derive(&k, &s, g_ir, sa_n, x_nonce, spi_i, spi_r);

                Pair p = { .spi_i = spi_i, .spi_r = spi_r, .suite = s };
                g_autoptr(GByteArray) aad = fake_aad(&p);
                g_autoptr(GByteArray) plain = random_bytes(20);
                g_autoptr(GByteArray) body = g_byte_array_new();
                GByteArray *inner = NULL;
                g_byte_array_set_size(body, (guint) bh_ike_sk_body_len(&s, plain->len));
                g_assert_cmpint(bh_ike_sa_seal(sa, aad->data, aad->len, plain->data, plain->len,
                                               body->data, body->len),
                                ==, 0);
                g_assert_true(x_sk(&s, k.sk_ei, k.sk_ai, aad, false, body, &inner));
                g_assert_cmpmem(inner->data, plain->len, plain->data, plain->len);
                g_byte_array_unref(inner);
                xkeys_clear(&k);
                xpeer_clear(&x);
                bh_ike_sa_free(sa);
                return;
        }
        g_test_message("%s: no g^ir with a leading zero in %u exchanges", g->name, max_tries);
        g_test_fail();
}

static const XCase xcases[] = {
        { "curve25519/aes-gcm-256/initiator", true, { ENCR_AES_GCM_16, 256, PRF_SHA2_256, 0, 31 } },
        { "curve25519/chacha20/responder", false,
          { ENCR_CHACHA20_POLY1305, 256, PRF_SHA2_512, 0, 31 } },
        { "ecp256/aes-cbc-128-sha256/responder", false,
          { ENCR_AES_CBC, 128, PRF_SHA2_384, AUTH_SHA2_256_128, 19 } },
        { "ecp256/aes-gcm-128/initiator", true, { ENCR_AES_GCM_16, 128, PRF_SHA2_384, 0, 19 } },
        { "ecp384/aes-gcm-256/responder", false, { ENCR_AES_GCM_16, 256, PRF_SHA2_384, 0, 20 } },
        { "ecp521/aes-cbc-256-sha512/initiator", true,
          { ENCR_AES_CBC, 256, PRF_SHA2_512, AUTH_SHA2_512_256, 21 } },
        { "modp2048/aes-cbc-256-sha512/initiator", true,
          { ENCR_AES_CBC, 256, PRF_SHA2_512, AUTH_SHA2_512_256, 14 } },
        { "modp2048/aes-cbc-256-sha384/responder", false,
          { ENCR_AES_CBC, 256, PRF_SHA2_256, AUTH_SHA2_384_192, 14 } },
        { "modp3072/chacha20/initiator", true, { ENCR_CHACHA20_POLY1305, 0, PRF_SHA2_256, 0, 15 } },
        { "modp4096/aes-cbc-128-sha384/responder", false,
          { ENCR_AES_CBC, 128, PRF_SHA2_512, AUTH_SHA2_384_192, 16 } },
};

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/ike-sa/new", test_new);
        g_test_add_func("/ike-sa/rekey-ike", test_rekey_ike);
        g_test_add_func("/ike-sa/suites", test_suites);
        g_test_add_func("/ike-sa/sk-lengths", test_sk_lengths);
        for (size_t i = 0; i < G_N_ELEMENTS(groups); i++) {
                g_autofree char *ex = g_strdup_printf("/ike-sa/exchange/%s", groups[i].name);
                g_autofree char *pc = g_strdup_printf("/ike-sa/peer-checks/%s", groups[i].name);
                g_test_add_data_func(ex, &groups[i], test_exchange);
                g_test_add_data_func(pc, &groups[i], test_peer_checks);
        }
        g_test_add_func("/ike-sa/auth/psk", test_auth_psk);
        g_test_add_func("/ike-sa/auth/refusals", test_auth_refusals);
        g_test_add_func("/ike-sa/child/rekey", test_rekey_child);
        for (size_t i = 0; i < G_N_ELEMENTS(xcases); i++) {
                g_autofree char *path = g_strdup_printf("/ike-sa/cross-check/%s", xcases[i].name);
                g_test_add_data_func(path, &xcases[i], test_cross_check);
        }
        g_test_add_data_func("/ike-sa/cross-check/leading-zero/ECP_256", group_of(19),
                             test_leading_zero);
        g_test_add_data_func("/ike-sa/cross-check/leading-zero/MODP_2048", group_of(14),
                             test_leading_zero);
        return g_test_run();
}
