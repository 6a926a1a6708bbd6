/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/dh.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "ike-sa.h"
#include "prf.h"
#include "transform.h"

/* ------------------------------------------------------------ groups */

typedef enum DhKind {
        DH_MODP,
        DH_ECP,
        DH_X25519,
} DhKind;

/* The Diffie-Hellman groups implemented: IANA "IKEv2 Parameters", Transform
 * Type 4. A public value travels as public_len octets (RFC 7296 3.4, RFC
 * 5903 7, RFC 8031 2); g^ir is secret_len octets: the whole prime for MODP
 * (left-padded, RFC 7296 2.14), the x coordinate for ECP (RFC 5903 7). */
typedef struct DhGroup {
        uint16_t id;
        const char *name;
        DhKind kind;
        const char *ossl_type;  /* OpenSSL key type */
        const char *ossl_group; /* OpenSSL group name; NULL: the type says it */
        size_t public_len;
        size_t secret_len;
} DhGroup;

static const DhGroup dh_groups[] = {
        { 14, "MODP_2048", DH_MODP, "DH", "modp_2048", 256, 256 },
        { 15, "MODP_3072", DH_MODP, "DH", "modp_3072", 384, 384 },
        { 16, "MODP_4096", DH_MODP, "DH", "modp_4096", 512, 512 },
        { 19, "ECP_256", DH_ECP, "EC", "prime256v1", 64, 32 },
        { 20, "ECP_384", DH_ECP, "EC", "secp384r1", 96, 48 },
        { 21, "ECP_521", DH_ECP, "EC", "secp521r1", 132, 66 },
        { 31, "CURVE_25519", DH_X25519, "X25519", NULL, 32, 32 },
};

/* The 0x04 octet that marks an uncompressed point (SEC 1 2.3.3), which
 * OpenSSL wants and the KE payload leaves out. */
#define ECP_UNCOMPRESSED 0x04

static const DhGroup *dh_group(uint16_t id) {
        for (size_t i = 0; i < sizeof dh_groups / sizeof dh_groups[0]; i++)
                if (dh_groups[i].id == id)
                        return &dh_groups[i];
        return NULL;
}

bool bh_ike_dh_supported(uint16_t group) {
        return dh_group(group) != NULL;
}

const char *bh_ike_dh_name(uint16_t group) {
        const DhGroup *g = dh_group(group);
        return g ? g->name : "UNKNOWN";
}

size_t bh_ike_dh_public_len(uint16_t group) {
        const DhGroup *g = dh_group(group);
        return g ? g->public_len : 0;
}

static bool all_zero(const uint8_t *p, size_t len) {
        uint8_t acc = 0;
        for (size_t i = 0; i < len; i++)
                acc |= p[i];
        return acc == 0;
}

/* A new key pair of group g. */
static int dh_generate(const DhGroup *g, EVP_PKEY **ret) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, g->ossl_type, NULL);
        EVP_PKEY *pkey = NULL;
        int r = -EIO;

        if (!ctx || EVP_PKEY_keygen_init(ctx) <= 0)
                goto out;
        if (g->ossl_group) {
                OSSL_PARAM params[] = {
                        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                         (char *) g->ossl_group, 0),
                        OSSL_PARAM_construct_end(),
                };
                if (EVP_PKEY_CTX_set_params(ctx, params) <= 0)
                        goto out;
        }
        if (EVP_PKEY_generate(ctx, &pkey) <= 0)
                goto out;
        *ret = pkey;
        r = 0;
out:
        ERR_clear_error();
        EVP_PKEY_CTX_free(ctx);
        return r;
}

/* Our public value as the KE payload carries it: ret holds public_len. */
static int dh_public(const DhGroup *g, EVP_PKEY *pkey, uint8_t *ret) {
        uint8_t point[1 + 2 * 66];
        size_t len = 0;
        BIGNUM *y = NULL;
        int r = -EIO;

        switch (g->kind) {
        case DH_X25519:
                len = g->public_len;
                if (EVP_PKEY_get_raw_public_key(pkey, ret, &len) == 1 && len == g->public_len)
                        r = 0;
                break;
        case DH_ECP:
                if (EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                    sizeof point, &len) == 1 &&
                    len == 1 + g->public_len && point[0] == ECP_UNCOMPRESSED) {
                        memcpy(ret, point + 1, g->public_len);
                        r = 0;
                }
                break;
        case DH_MODP:
                /* Big-endian, left-padded to the prime's length (3.4). */
                if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, &y) == 1 &&
                    BN_bn2binpad(y, ret, (int) g->public_len) == (int) g->public_len)
                        r = 0;
                BN_free(y);
                break;
        }
        ERR_clear_error();
        return r;
}

/* Untrusted: ke, from the network. A public key of group g from the peer's
 * KE value, after every check a public value allows: the length, not all
 * zero, and OpenSSL's full public key check (ECP: on the curve, not the
 * point at infinity, of the group's order; MODP: 1 < y < p-1 and
 * y^q = 1 mod p). -EINVAL for a value that fails any of them. */
static int dh_peer_key(const DhGroup *g, const uint8_t *ke, size_t len, EVP_PKEY **ret) {
        uint8_t point[1 + 2 * 66];
        OSSL_PARAM_BLD *bld = NULL;
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx = NULL;
        EVP_PKEY *pkey = NULL;
        BIGNUM *y = NULL;
        int r = -EINVAL;

        if (!ke || len != g->public_len || all_zero(ke, len))
                return -EINVAL;

        if (g->kind == DH_X25519) {
                /* Any 32 octets decode to a u coordinate (RFC 7748 5); the
                 * low-order ones show in the shared secret, see dh_agree(). */
                pkey = EVP_PKEY_new_raw_public_key_ex(NULL, g->ossl_type, NULL, ke, len);
        } else {
                bld = OSSL_PARAM_BLD_new();
                if (!bld || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                                             g->ossl_group, 0)) {
                        r = -ENOMEM;
                        goto out;
                }
                if (g->kind == DH_ECP) {
                        point[0] = ECP_UNCOMPRESSED;
                        memcpy(point + 1, ke, len);
                        if (!OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                              1 + len)) {
                                r = -ENOMEM;
                                goto out;
                        }
                } else {
                        y = BN_bin2bn(ke, (int) len, NULL);
                        if (!y || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PUB_KEY, y)) {
                                r = -ENOMEM;
                                goto out;
                        }
                }
                params = OSSL_PARAM_BLD_to_param(bld);
                ctx = EVP_PKEY_CTX_new_from_name(NULL, g->ossl_type, NULL);
                if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0) {
                        r = -ENOMEM;
                        goto out;
                }
                /* Refuses a point that does not decode or is off the curve. */
                if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
                        goto out;
        }
        if (!pkey)
                goto out;

        EVP_PKEY_CTX_free(ctx);
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (!ctx) {
                r = -ENOMEM;
                goto out;
        }
        if (EVP_PKEY_public_check(ctx) != 1)
                goto out;
        *ret = pkey;
        pkey = NULL;
        r = 0;
out:
        ERR_clear_error();
        EVP_PKEY_free(pkey);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        BN_free(y);
        return r;
}

/* g^ir from our key pair and the peer's KE value, secret_len octets in a
 * BhSecret. Validates the peer's value first (dh_peer_key()); -EINVAL also
 * for a shared secret of zeros, which only a low-order X25519 point gives. */
static int dh_agree(const DhGroup *g, EVP_PKEY *ours, const uint8_t *peer_ke, size_t peer_ke_len,
                    BhSecret **ret) {
        EVP_PKEY *peer = NULL;
        EVP_PKEY_CTX *ctx = NULL;
        BhSecret *secret = NULL;
        size_t len;
        int r;

        r = dh_peer_key(g, peer_ke, peer_ke_len, &peer);
        if (r < 0)
                return r;

        r = -EIO;
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, ours, NULL);
        if (!ctx || EVP_PKEY_derive_init(ctx) <= 0)
                goto out;
        /* g^ir keeps its leading zeros: it is as long as the prime. */
        if (g->kind == DH_MODP && EVP_PKEY_CTX_set_dh_pad(ctx, 1) <= 0)
                goto out;
        /* Already validated in full by dh_peer_key(). */
        if (EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) <= 0)
                goto out;
        secret = bh_secret_new(g->secret_len);
        if (!secret) {
                r = -ENOMEM;
                goto out;
        }
        len = secret->len;
        if (EVP_PKEY_derive(ctx, secret->data, &len) <= 0) {
                /* OpenSSL's X25519 refuses to output the all-zero secret of
                 * a low-order point (RFC 7748 6.1); nothing else fails here
                 * with a public value that passed the checks. */
                if (g->kind == DH_X25519)
                        r = -EINVAL;
                goto out;
        }
        if (len != g->secret_len)
                goto out;
        if (all_zero(secret->data, secret->len)) {
                r = -EINVAL;
                goto out;
        }
        *ret = secret;
        secret = NULL;
        r = 0;
out:
        ERR_clear_error();
        bh_secret_free(secret);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(peer);
        return r;
}

/* ------------------------------------------------------------ suites */

/* How an SK payload body is laid out for a suite. */
typedef struct SkLayout {
        bool aead;
        size_t iv_len;
        size_t block; /* the ciphertext's alignment: 1 for the AEAD stream ciphers */
        size_t icv_len;
} SkLayout;

static bool encr_bits_ok(const BhIkeSuite *s) {
        switch (s->encr) {
        case BH_ENCR_AES_GCM_16:
        case BH_ENCR_AES_CBC:
                return s->encr_bits == 128 || s->encr_bits == 256;
        case BH_ENCR_CHACHA20_POLY1305:
                return s->encr_bits == 0 || s->encr_bits == 256;
        default:
                return false;
        }
}

static bool prf_ok(uint16_t prf) {
        return prf == PRF_HMAC_SHA2_256 || prf == PRF_HMAC_SHA2_384 || prf == PRF_HMAC_SHA2_512;
}

static bool integ_ok(const BhIkeSuite *s) {
        if (s->encr != BH_ENCR_AES_CBC)
                return s->integ == BH_AUTH_NONE;
        return s->integ == BH_AUTH_HMAC_SHA2_256_128 || s->integ == BH_AUTH_HMAC_SHA2_384_192 ||
               s->integ == BH_AUTH_HMAC_SHA2_512_256;
}

bool bh_ike_suite_supported(const BhIkeSuite *s) {
        return s && encr_bits_ok(s) && prf_ok(s->prf) && integ_ok(s) && bh_ike_dh_supported(s->dh);
}

/* Sizes from the data path's tables (crypto/transform.c), which name the
 * same transforms for ESP. */
static bool sk_layout(const BhIkeSuite *s, SkLayout *ret) {
        const BhEncrInfo *e;

        if (!bh_ike_suite_supported(s) || !(e = bh_encr_lookup(s->encr)))
                return false;
        ret->aead = e->aead;
        ret->iv_len = e->iv_len;
        if (e->aead) {
                /* No alignment for a stream cipher; Pad Length 0 (RFC 5282 3). */
                ret->block = 1;
                ret->icv_len = e->icv_len;
        } else {
                const BhIntegInfo *i = bh_integ_lookup(s->integ);
                if (!i)
                        return false;
                ret->block = e->block_size;
                ret->icv_len = i->icv_len;
        }
        return true;
}

size_t bh_ike_sk_body_len(const BhIkeSuite *s, size_t plain_len) {
        SkLayout l;
        size_t ct, body;

        if (!sk_layout(s, &l) || plain_len > BH_IKE_SK_BODY_MAX)
                return 0;
        /* The inner payloads, the padding and the Pad Length octet. */
        ct = (plain_len + 1 + l.block - 1) / l.block * l.block;
        body = l.iv_len + ct + l.icv_len;
        return body > BH_IKE_SK_BODY_MAX ? 0 : body;
}

size_t bh_ike_sk_plain_max(const BhIkeSuite *s, size_t body_len) {
        SkLayout l;
        size_t ct;

        if (!sk_layout(s, &l) || body_len > BH_IKE_SK_BODY_MAX ||
            body_len < l.iv_len + l.block + l.icv_len)
                return 0;
        ct = body_len - l.iv_len - l.icv_len;
        ct -= ct % l.block;
        return ct - 1;
}

/* ------------------------------------------------------------ state */

struct BhIkeSa {
        bool initiator;
        const DhGroup *group;
        EVP_PKEY *dh; /* our key pair; NULL once it has been used */
        uint8_t public[BH_IKE_DH_MAX_PUBLIC];
        uint8_t nonce[BH_IKE_NONCE_LEN];

        /* From bh_ike_sa_derive() on. */
        bool derived;
        BhIkeSuite suite;
        SkLayout layout;
        uint8_t spi_i[BH_IKE_SPI_LEN];
        uint8_t peer_public[BH_IKE_DH_MAX_PUBLIC];
        uint8_t peer_nonce[BH_IKE_NONCE_MAX];
        size_t peer_nonce_len;
        BhSecret *sk_d, *sk_pi, *sk_pr;
        /* SK_e and SK_a live in these only. The AEAD suites have no MAC
         * transforms; the CBC suites use one transform for encryption only
         * and one for the HMAC, whose input (aad || IV || ciphertext) is not
         * what ESP's encrypt-then-MAC covers. */
        BhTransform *out_encr, *out_mac; /* ours: SK_ei/SK_ai when we initiate */
        BhTransform *in_encr, *in_mac;   /* the peer's */
        uint64_t next_iv;                /* AEAD: the next IV, a counter */
        bool iv_spent;

        bool auth_signed;
        bool auth_verify_done;
        bool auth_verified;
        bool child_done;
};

int bh_ike_sa_new(bool initiator, uint16_t group, BhIkeSa **ret) {
        const DhGroup *g = dh_group(group);
        BhIkeSa *sa;
        int r;

        if (!ret)
                return -EINVAL;
        if (!g)
                return -EOPNOTSUPP;
        sa = calloc(1, sizeof *sa);
        if (!sa)
                return -ENOMEM;
        sa->initiator = initiator;
        sa->group = g;

        r = dh_generate(g, &sa->dh);
        if (r < 0)
                goto fail;
        r = dh_public(g, sa->dh, sa->public);
        if (r < 0)
                goto fail;
        if (RAND_bytes(sa->nonce, sizeof sa->nonce) != 1) {
                ERR_clear_error();
                r = -EIO;
                goto fail;
        }
        *ret = sa;
        return 0;
fail:
        bh_ike_sa_free(sa);
        return r;
}

void bh_ike_sa_free(BhIkeSa *sa) {
        if (!sa)
                return;
        /* OpenSSL clears a private key when it frees it, and the transforms
         * wipe their key schedules. */
        EVP_PKEY_free(sa->dh);
        bh_secret_free(sa->sk_d);
        bh_secret_free(sa->sk_pi);
        bh_secret_free(sa->sk_pr);
        bh_transform_free(sa->out_encr);
        bh_transform_free(sa->out_mac);
        bh_transform_free(sa->in_encr);
        bh_transform_free(sa->in_mac);
        bh_secure_wipe(sa, sizeof *sa);
        free(sa);
}

bool bh_ike_sa_initiator(const BhIkeSa *sa) {
        return sa->initiator;
}

uint16_t bh_ike_sa_group(const BhIkeSa *sa) {
        return sa->group->id;
}

void bh_ike_sa_public(const BhIkeSa *sa, const uint8_t **ret, size_t *ret_len) {
        *ret = sa->public;
        *ret_len = sa->group->public_len;
}

void bh_ike_sa_nonce(const BhIkeSa *sa, const uint8_t **ret, size_t *ret_len) {
        *ret = sa->nonce;
        *ret_len = sizeof sa->nonce;
}

bool bh_ike_sa_derived(const BhIkeSa *sa) {
        return sa->derived;
}

bool bh_ike_sa_authenticated(const BhIkeSa *sa) {
        return sa->auth_signed && sa->auth_verified;
}

/* Ni | Nr of IKE_SA_INIT: ours is Ni when we initiate. */
static BhIkeNonces sa_nonces(const BhIkeSa *sa) {
        if (sa->initiator)
                return (BhIkeNonces) { sa->nonce, sizeof sa->nonce, sa->peer_nonce,
                                       sa->peer_nonce_len };
        return (BhIkeNonces) { sa->peer_nonce, sa->peer_nonce_len, sa->nonce, sizeof sa->nonce };
}

static void put_be64(uint8_t *p, uint64_t v) {
        for (size_t i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (56 - 8 * i));
}

static bool nonce_len_ok(const uint8_t *nonce, size_t len) {
        return nonce && len >= BH_IKE_NONCE_MIN && len <= BH_IKE_NONCE_MAX;
}

/* The SK payload transforms of one direction, keyed from its SK_e and SK_a. */
static int sk_transforms(const BhIkeSuite *s, const BhSecret *sk_e, const BhSecret *sk_a,
                         BhTransform **ret_encr, BhTransform **ret_mac) {
        unsigned bits = s->encr_bits ? s->encr_bits : 256; /* ChaCha20: 0 says 256 */
        int r;

        r = bh_transform_new(s->encr, bits, BH_AUTH_NONE, sk_e, ret_encr);
        if (r < 0 || s->integ == BH_AUTH_NONE)
                return r;
        return bh_transform_new(BH_ENCR_NONE, 0, s->integ, sk_a, ret_mac);
}

/* SKEYSEED from g^ir alone (IKE_SA_INIT) or, with old, from the old IKE
 * SA's SK_d and PRF too (a rekey, RFC 7296 2.18); then the SK keys. */
static int derive(BhIkeSa *sa, const BhIkeSa *old, const uint8_t *peer_ke, size_t peer_ke_len,
                  const uint8_t *peer_nonce, size_t peer_nonce_len, uint64_t spi_i, uint64_t spi_r,
                  const BhIkeSuite *suite) {
        BhSecret *g_ir = NULL, *skeyseed = NULL;
        BhIkeKeys *keys = NULL;
        BhIkeKeyLengths lengths;
        uint8_t spi_i_octets[BH_IKE_SPI_LEN], spi_r_octets[BH_IKE_SPI_LEN];
        size_t prf_len, sk_e_len = 0, sk_a_len = 0;
        int r;

        if (!sa || !suite)
                return -EINVAL;
        if (sa->derived || !sa->dh)
                return -EALREADY; /* !sa->dh: the key pair went into a rekey */
        if (!bh_ike_suite_supported(suite))
                return -EOPNOTSUPP;
        if (suite->dh != sa->group->id || !nonce_len_ok(peer_nonce, peer_nonce_len))
                return -EINVAL;
        /* Key lengths as the data path's tables give them: SK_e is the key
         * and, for an AEAD, its salt; SK_a the HMAC key (RFC 4868: the
         * hash's output length); SK_d and SK_p the PRF's preferred length. */
        prf_len = bh_prf_output_len(suite->prf);
        if (bh_transform_check(suite->encr, suite->encr_bits ? suite->encr_bits : 256,
                               BH_AUTH_NONE, &sk_e_len) < 0 ||
            (suite->integ != BH_AUTH_NONE &&
             bh_transform_check(BH_ENCR_NONE, 0, suite->integ, &sk_a_len) < 0))
                return -EINVAL; /* broken invariant: a supported suite */

        /* Untrusted: the peer's value. Checked in full before it is used;
         * on any failure the state stays as it was. */
        r = dh_agree(sa->group, sa->dh, peer_ke, peer_ke_len, &g_ir);
        if (r < 0)
                return r;

        memcpy(sa->peer_nonce, peer_nonce, peer_nonce_len);
        sa->peer_nonce_len = peer_nonce_len;
        BhIkeNonces nonces = sa_nonces(sa);
        put_be64(spi_i_octets, spi_i);
        put_be64(spi_r_octets, spi_r);
        lengths = (BhIkeKeyLengths) {
                .sk_d = prf_len, .sk_a = sk_a_len, .sk_e = sk_e_len, .sk_p = prf_len,
        };

        /* RFC 7296 2.14; 2.18: the rekeying exchange belongs to the old SA,
         * whose PRF makes the new SKEYSEED. */
        r = old ? bh_ikev2_skeyseed_rekey(old->suite.prf, old->sk_d, g_ir, &nonces, &skeyseed)
                : bh_ikev2_skeyseed(suite->prf, g_ir, &nonces, &skeyseed);
        if (r < 0)
                goto out;
        r = bh_ikev2_ike_keys(suite->prf, skeyseed, &nonces, spi_i_octets, spi_r_octets, &lengths,
                              &keys);
        if (r < 0)
                goto out;
        r = sk_transforms(suite, sa->initiator ? keys->sk_ei : keys->sk_er,
                          sa->initiator ? keys->sk_ai : keys->sk_ar, &sa->out_encr, &sa->out_mac);
        if (r < 0)
                goto out;
        r = sk_transforms(suite, sa->initiator ? keys->sk_er : keys->sk_ei,
                          sa->initiator ? keys->sk_ar : keys->sk_ai, &sa->in_encr, &sa->in_mac);
        if (r < 0)
                goto out;

        sa->suite = *suite;
        (void) sk_layout(suite, &sa->layout);
        memcpy(sa->spi_i, spi_i_octets, sizeof spi_i_octets);
        memcpy(sa->peer_public, peer_ke, peer_ke_len);
        sa->sk_d = keys->sk_d;
        sa->sk_pi = keys->sk_pi;
        sa->sk_pr = keys->sk_pr;
        keys->sk_d = keys->sk_pi = keys->sk_pr = NULL;
        /* The private key has done its work: forget it now, not when the SA
         * ends (forward secrecy against a later compromise of cryptod). */
        EVP_PKEY_free(sa->dh);
        sa->dh = NULL;
        sa->derived = true;
out:
        if (r < 0) {
                /* Back to the state before the call. */
                bh_transform_free(sa->out_encr);
                bh_transform_free(sa->out_mac);
                bh_transform_free(sa->in_encr);
                bh_transform_free(sa->in_mac);
                sa->out_encr = sa->out_mac = sa->in_encr = sa->in_mac = NULL;
                bh_secure_wipe(sa->peer_nonce, sizeof sa->peer_nonce);
                sa->peer_nonce_len = 0;
        }
        bh_ike_keys_free(keys); /* SK_e and SK_a: now in the transforms only */
        bh_secret_free(skeyseed);
        bh_secret_free(g_ir);
        return r;
}

int bh_ike_sa_derive(BhIkeSa *sa, const uint8_t *peer_ke, size_t peer_ke_len,
                     const uint8_t *peer_nonce, size_t peer_nonce_len, uint64_t spi_i,
                     uint64_t spi_r, const BhIkeSuite *suite) {
        return derive(sa, NULL, peer_ke, peer_ke_len, peer_nonce, peer_nonce_len, spi_i, spi_r, suite);
}

int bh_ike_sa_rekey_ike(BhIkeSa *fresh, const BhIkeSa *old, const uint8_t *peer_ke, size_t peer_ke_len,
                        const uint8_t *peer_nonce, size_t peer_nonce_len, uint64_t spi_i, uint64_t spi_r,
                        const BhIkeSuite *suite) {
        if (!fresh || !old)
                return -EINVAL;
        if (!bh_ike_sa_authenticated(old) || !old->sk_d)
                return -EPERM;
        int r = derive(fresh, old, peer_ke, peer_ke_len, peer_nonce, peer_nonce_len, spi_i, spi_r, suite);
        if (r < 0)
                return r;
        /* The new SA carries on the old one's authentication: no AUTH, and
         * its CHILD SAs come from rekeys (bh_ike_sa_rekey_child_keys). */
        fresh->auth_signed = fresh->auth_verify_done = fresh->auth_verified = true;
        fresh->child_done = true;
        return 0;
}

/* ------------------------------------------------------------ SK payload */

int bh_ike_sa_seal(BhIkeSa *sa, const uint8_t *aad, size_t aad_len, const uint8_t *plain,
                   size_t plain_len, uint8_t *body, size_t body_len) {
        const SkLayout *l;
        uint8_t *ct;
        size_t ct_len, pad_len;

        if (!sa)
                return -EINVAL;
        if (!sa->derived)
                return -EPERM;
        l = &sa->layout;
        if ((aad_len && !aad) || (plain_len && !plain) || !body ||
            body_len != bh_ike_sk_body_len(&sa->suite, plain_len) || body_len == 0)
                return -EINVAL;

        ct = body + l->iv_len;
        ct_len = body_len - l->iv_len - l->icv_len;
        pad_len = ct_len - plain_len - 1;

        if (l->aead && sa->iv_spent)
                return -EOVERFLOW;
        /* The plaintext first: it may already sit inside body. */
        if (plain_len)
                memmove(ct, plain, plain_len);
        memset(ct + plain_len, 0, pad_len);
        ct[ct_len - 1] = (uint8_t) pad_len;
        return bh_ike_sa_seal_padded(sa, aad, aad_len, body, body_len);
}

int bh_ike_sa_seal_padded(BhIkeSa *sa, const uint8_t *aad, size_t aad_len, uint8_t *body, size_t body_len) {
        const SkLayout *l;
        uint8_t *iv, *ct, *icv;
        size_t ct_len;
        int r;

        if (!sa)
                return -EINVAL;
        if (!sa->derived)
                return -EPERM;
        l = &sa->layout;
        if ((aad_len && !aad) || !body || body_len < l->iv_len + l->icv_len + 1 ||
            (l->block > 1 && (body_len - l->iv_len - l->icv_len) % l->block))
                return -EINVAL;
        iv = body;
        ct = body + l->iv_len;
        ct_len = body_len - l->iv_len - l->icv_len;
        icv = ct + ct_len;
        if (l->aead && sa->iv_spent)
                return -EOVERFLOW;

        if (l->aead) {
                /* A counter: an AEAD nonce must never repeat under a key, and
                 * need not be unpredictable (RFC 5282 3.1, RFC 7634 2). */
                put_be64(iv, sa->next_iv);
                if (sa->next_iv == UINT64_MAX)
                        sa->iv_spent = true;
                else
                        sa->next_iv++;
                r = bh_transform_seal(sa->out_encr, iv, aad, aad_len, NULL, 0, ct, ct_len, icv);
        } else {
                /* CBC wants an IV nobody can predict (RFC 7296 3.14). */
                if (RAND_bytes(iv, (int) l->iv_len) != 1) {
                        ERR_clear_error();
                        r = -EIO;
                        goto out;
                }
                r = bh_transform_seal(sa->out_encr, iv, NULL, 0, NULL, 0, ct, ct_len, NULL);
                if (r < 0)
                        goto out;
                /* The checksum covers the message from the IKE header through
                 * the ciphertext (3.14). */
                const BhIov iov[] = { { aad, aad_len }, { iv, l->iv_len }, { ct, ct_len } };
                r = bh_transform_mac(sa->out_mac, iov, 3, icv);
        }
out:
        if (r < 0)
                bh_secure_wipe(body, body_len); /* no plaintext left behind */
        return r;
}

int bh_ike_sa_open(BhIkeSa *sa, const uint8_t *aad, size_t aad_len, const uint8_t *body,
                   size_t body_len, uint8_t *ret_plain, size_t *ret_plain_len) {
        const SkLayout *l;
        const uint8_t *iv, *ct, *icv;
        uint8_t *scratch;
        size_t ct_len, pad_len;
        int r;

        if (!sa)
                return -EINVAL;
        if (!sa->derived)
                return -EPERM;
        l = &sa->layout;
        if ((aad_len && !aad) || !body || !ret_plain_len)
                return -EINVAL;
        /* Untrusted: the body. Room for the IV, at least one block (the Pad
         * Length octet needs one) and the ICV; CBC takes whole blocks. */
        if (body_len > BH_IKE_SK_BODY_MAX || body_len < l->iv_len + l->block + l->icv_len)
                return -EINVAL;
        iv = body;
        ct = body + l->iv_len;
        ct_len = body_len - l->iv_len - l->icv_len;
        icv = ct + ct_len;
        if (ct_len % l->block != 0)
                return -EINVAL;
        /* ret_plain may be NULL only where no plaintext fits. */
        if (!ret_plain && ct_len > 1)
                return -EINVAL;

        /* Decrypted apart from ret_plain: nothing reaches the caller before
         * the ICV has been checked (an AEAD decrypts before it knows). */
        scratch = malloc(ct_len);
        if (!scratch)
                return -ENOMEM;
        memcpy(scratch, ct, ct_len);

        if (l->aead) {
                r = bh_transform_open(sa->in_encr, iv, aad, aad_len, NULL, 0, scratch, ct_len, icv);
        } else {
                /* Verify (constant time), then decrypt. */
                const BhIov iov[] = { { aad, aad_len }, { iv, l->iv_len }, { ct, ct_len } };
                r = bh_transform_mac_verify(sa->in_mac, iov, 3, icv);
                if (r == 0)
                        r = bh_transform_open(sa->in_encr, iv, NULL, 0, NULL, 0, scratch, ct_len,
                                              NULL);
        }
        if (r < 0)
                goto out;

        /* The sender chose the padding; its length must fit (3.14). The
         * padding octets themselves may hold anything. */
        pad_len = scratch[ct_len - 1];
        if (pad_len >= ct_len) {
                r = -EBADMSG;
                goto out;
        }
        *ret_plain_len = ct_len - 1 - pad_len;
        if (*ret_plain_len)
                memcpy(ret_plain, scratch, *ret_plain_len);
out:
        bh_secure_wipe(scratch, ct_len);
        free(scratch);
        return r;
}

/* ------------------------------------------------------------ AUTH */

/* "Key Pad for IKEv2", 17 ASCII octets without a terminator (2.15). */
static const char key_pad[] = "Key Pad for IKEv2";
#define KEY_PAD_LEN (sizeof key_pad - 1)

/* The IKE header's length: a RealMessage starts with one. */
#define IKE_HEADER_LEN 28u

/* Whether msg can be the IKE_SA_INIT message of this SA sent with this KE
 * value and nonce: it starts with our IKE header (SPIi) and contains both.
 * Without this, AUTH could be computed over any octets a caller likes. */
static bool init_msg_ok(const BhIkeSa *sa, const uint8_t *msg, size_t len, const uint8_t *ke,
                        const uint8_t *nonce, size_t nonce_len) {
        return msg && len >= IKE_HEADER_LEN && memcmp(msg, sa->spi_i, BH_IKE_SPI_LEN) == 0 &&
               memmem(msg, len, ke, sa->group->public_len) &&
               memmem(msg, len, nonce, nonce_len);
}

/* The AUTH value of one side (signer_initiator: the initiator's), over that
 * side's IKE_SA_INIT message: prf(prf(PSK, key pad), msg | the other side's
 * nonce | prf(SK_p, ID body)). ret_auth holds the PRF's output length. */
static int auth_compute(const BhIkeSa *sa, bool signer_initiator, const uint8_t *msg,
                        size_t msg_len, const uint8_t *id_body, size_t id_len, const BhSecret *psk,
                        uint8_t *ret_auth) {
        BhPrfAlg prf = (BhPrfAlg) sa->suite.prf;
        const BhSecret *sk_p = signer_initiator ? sa->sk_pi : sa->sk_pr;
        BhIkeNonces n = sa_nonces(sa);
        uint8_t maced_id[BH_PRF_MAX_OUTPUT], psk_key[BH_PRF_MAX_OUTPUT];
        size_t prf_len = bh_prf_output_len(prf);
        int r;

        r = bh_prf(prf, sk_p->data, sk_p->len, id_body, id_len, maced_id);
        if (r < 0)
                goto out;
        r = bh_prf(prf, psk->data, psk->len, key_pad, KEY_PAD_LEN, psk_key);
        if (r < 0)
                goto out;
        const BhPrfChunk signed_octets[] = {
                { msg, msg_len },
                /* The initiator signs the responder's nonce, and back. */
                { signer_initiator ? n.nr : n.ni, signer_initiator ? n.nr_len : n.ni_len },
                { maced_id, prf_len },
        };
        r = bh_prf_chunks(prf, psk_key, prf_len, signed_octets, 3, ret_auth);
out:
        bh_secure_wipe(psk_key, sizeof psk_key);
        bh_secure_wipe(maced_id, sizeof maced_id);
        return r;
}

static bool auth_args_ok(const uint8_t *id_body, size_t id_len, const BhSecret *psk) {
        /* ID Type and three reserved octets at least (3.5). */
        return id_body && id_len >= 4 && psk && psk->data && psk->len > 0;
}

int bh_ike_sa_auth_sign(BhIkeSa *sa, const uint8_t *init_msg, size_t init_len,
                        const uint8_t *id_body, size_t id_len, const BhSecret *psk,
                        uint8_t *ret_auth, size_t *ret_auth_len) {
        size_t prf_len;
        int r;

        if (!sa)
                return -EINVAL;
        if (!sa->derived)
                return -EPERM;
        if (sa->auth_signed)
                return -EALREADY;
        if (!auth_args_ok(id_body, id_len, psk) || !ret_auth || !ret_auth_len)
                return -EINVAL;
        prf_len = bh_prf_output_len((BhPrfAlg) sa->suite.prf);
        if (*ret_auth_len < prf_len)
                return -ENOBUFS;
        if (!init_msg_ok(sa, init_msg, init_len, sa->public, sa->nonce, sizeof sa->nonce))
                return -EPERM;

        r = auth_compute(sa, sa->initiator, init_msg, init_len, id_body, id_len, psk, ret_auth);
        if (r < 0)
                return r;
        *ret_auth_len = prf_len;
        sa->auth_signed = true;
        return 0;
}

int bh_ike_sa_auth_verify(BhIkeSa *sa, const uint8_t *init_msg, size_t init_len,
                          const uint8_t *id_body, size_t id_len, const BhSecret *psk,
                          const uint8_t *auth, size_t auth_len) {
        uint8_t want[BH_PRF_MAX_OUTPUT];
        size_t prf_len;
        int r;

        if (!sa)
                return -EINVAL;
        if (!sa->derived)
                return -EPERM;
        if (sa->auth_verify_done)
                return -EALREADY;
        if (!auth_args_ok(id_body, id_len, psk) || (auth_len && !auth))
                return -EINVAL;
        if (!init_msg_ok(sa, init_msg, init_len, sa->peer_public, sa->peer_nonce,
                         sa->peer_nonce_len))
                return -EPERM;

        /* Untrusted: all of it. The peer signed as the other role. */
        r = auth_compute(sa, !sa->initiator, init_msg, init_len, id_body, id_len, psk, want);
        if (r < 0)
                goto out;
        prf_len = bh_prf_output_len((BhPrfAlg) sa->suite.prf);
        sa->auth_verify_done = true;
        if (auth_len == prf_len && CRYPTO_memcmp(want, auth, prf_len) == 0) {
                sa->auth_verified = true;
                r = 0;
        } else
                r = -EACCES;
out:
        bh_secure_wipe(want, sizeof want);
        return r;
}

/* ------------------------------------------------------------ Child SAs */

int bh_ike_sa_child_keys(BhIkeSa *sa, size_t encr_len, size_t integ_len, BhChildKeys **ret) {
        int r;

        if (!sa || !ret)
                return -EINVAL;
        if (!bh_ike_sa_authenticated(sa))
                return -EPERM;
        if (sa->child_done)
                return -EALREADY;
        BhIkeNonces nonces = sa_nonces(sa);
        r = bh_ikev2_child_keys((BhPrfAlg) sa->suite.prf, sa->sk_d, NULL, &nonces, encr_len,
                                integ_len, ret);
        if (r == 0)
                sa->child_done = true;
        return r;
}

int bh_ike_sa_rekey_child_keys(BhIkeSa *sa, BhIkeSa *pfs, const uint8_t *peer_ke,
                               size_t peer_ke_len, const uint8_t *ni, size_t ni_len,
                               const uint8_t *nr, size_t nr_len, size_t encr_len,
                               size_t integ_len, BhChildKeys **ret) {
        BhSecret *g_ir = NULL;
        int r;

        if (!sa || !ret)
                return -EINVAL;
        if (!bh_ike_sa_authenticated(sa))
                return -EPERM;
        if (!nonce_len_ok(ni, ni_len) || !nonce_len_ok(nr, nr_len))
                return -EINVAL;
        if (pfs) {
                if (pfs == sa)
                        return -EINVAL;
                if (!pfs->dh)
                        return -EALREADY;
                /* Untrusted: the peer's new KE value, checked as at the
                 * IKE SA's derivation. */
                r = dh_agree(pfs->group, pfs->dh, peer_ke, peer_ke_len, &g_ir);
                if (r < 0)
                        return r;
        } else if (peer_ke || peer_ke_len)
                return -EINVAL;

        const BhIkeNonces nonces = { ni, ni_len, nr, nr_len };
        r = bh_ikev2_child_keys((BhPrfAlg) sa->suite.prf, sa->sk_d, g_ir, &nonces, encr_len,
                                integ_len, ret);
        if (r == 0 && pfs) {
                EVP_PKEY_free(pfs->dh);
                pfs->dh = NULL;
        }
        bh_secret_free(g_ir);
        return r;
}
