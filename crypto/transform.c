/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "transform.h"

/* ------------------------------------------------------------ name tables */

static const BhEncrInfo encr_table[] = {
        { BH_ENCR_AES_GCM_16, "ENCR_AES_GCM_16", "RFC 4106", true, false, { 256, 128, 192 }, 4, 8, 4, 16 },
        { BH_ENCR_CHACHA20_POLY1305, "ENCR_CHACHA20_POLY1305", "RFC 7634", true, false, { 256 }, 4, 8, 4, 16 },
        { BH_ENCR_AES_CBC, "ENCR_AES_CBC", "RFC 3602", false, false, { 256, 128, 192 }, 0, 16, 16, 0 },
        /* No key: RFC 2410. Alignment 4 (RFC 4303 §2.4). */
        { BH_ENCR_NULL, "ENCR_NULL", "RFC 2410", false, false, { 0 }, 0, 0, 4, 0 },
        { BH_ENCR_3DES, "ENCR_3DES", "RFC 2451", false, true, { 192 }, 0, 8, 8, 0 },
};

static const BhIntegInfo integ_table[] = {
        { BH_AUTH_HMAC_SHA2_256_128, "AUTH_HMAC_SHA2_256_128", "RFC 4868", false, 32, 16 },
        { BH_AUTH_HMAC_SHA2_384_192, "AUTH_HMAC_SHA2_384_192", "RFC 4868", false, 48, 24 },
        { BH_AUTH_HMAC_SHA2_512_256, "AUTH_HMAC_SHA2_512_256", "RFC 4868", false, 64, 32 },
        { BH_AUTH_HMAC_SHA1_96, "AUTH_HMAC_SHA1_96", "RFC 2404", true, 20, 12 },
        { BH_AUTH_HMAC_MD5_96, "AUTH_HMAC_MD5_96", "RFC 2403", true, 16, 12 },
};

const BhEncrInfo *bh_encr_table(size_t *ret_n) {
        *ret_n = sizeof encr_table / sizeof encr_table[0];
        return encr_table;
}

const BhIntegInfo *bh_integ_table(size_t *ret_n) {
        *ret_n = sizeof integ_table / sizeof integ_table[0];
        return integ_table;
}

const BhEncrInfo *bh_encr_lookup(unsigned id) {
        for (size_t i = 0; i < sizeof encr_table / sizeof encr_table[0]; i++)
                if (encr_table[i].id == id)
                        return &encr_table[i];
        return NULL;
}

const BhIntegInfo *bh_integ_lookup(unsigned id) {
        for (size_t i = 0; i < sizeof integ_table / sizeof integ_table[0]; i++)
                if (integ_table[i].id == id)
                        return &integ_table[i];
        return NULL;
}

/* "ENCR_AES_CBC" matches "ENCR_AES_CBC" and "aes_cbc". */
static bool name_matches(const char *table_name, const char *prefix, const char *name) {
        if (strcasecmp(table_name, name) == 0)
                return true;
        size_t n = strlen(prefix);
        return strncmp(table_name, prefix, n) == 0 && strcasecmp(table_name + n, name) == 0;
}

const BhEncrInfo *bh_encr_from_name(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < sizeof encr_table / sizeof encr_table[0]; i++)
                if (name_matches(encr_table[i].name, "ENCR_", name))
                        return &encr_table[i];
        return NULL;
}

const BhIntegInfo *bh_integ_from_name(const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < sizeof integ_table / sizeof integ_table[0]; i++)
                if (name_matches(integ_table[i].name, "AUTH_", name))
                        return &integ_table[i];
        return NULL;
}

const char *bh_encr_name(unsigned id) {
        if (id == BH_ENCR_NONE)
                return "NONE";
        const BhEncrInfo *e = bh_encr_lookup(id);
        return e ? e->name : "UNKNOWN";
}

const char *bh_integ_name(unsigned id) {
        if (id == BH_AUTH_NONE)
                return "NONE";
        const BhIntegInfo *i = bh_integ_lookup(id);
        return i ? i->name : "UNKNOWN";
}

/* ------------------------------------------------------------ combinations */

static bool key_size_offered(const BhEncrInfo *e, unsigned bits) {
        if (e->key_bits[0] == 0)
                return bits == 0;
        for (size_t i = 0; i < sizeof e->key_bits / sizeof e->key_bits[0] && e->key_bits[i]; i++)
                if (e->key_bits[i] == bits)
                        return true;
        return false;
}

int bh_transform_check(unsigned enc, unsigned enc_key_bits, unsigned integ, size_t *ret_keymat_len) {
        const BhEncrInfo *e = NULL;
        const BhIntegInfo *i = NULL;
        size_t len = 0;

        if (enc != BH_ENCR_NONE && !(e = bh_encr_lookup(enc)))
                return -EINVAL;
        if (integ != BH_AUTH_NONE && !(i = bh_integ_lookup(integ)))
                return -EINVAL;
        /* AEAD carries its own integrity; nothing at all protects nothing. */
        if ((e && e->aead && i) || (!e && !i))
                return -EINVAL;
        /* NULL encryption needs integrity (RFC 4303 §3.2). */
        if ((!e || e->id == BH_ENCR_NULL) && !i)
                return -EINVAL;
        if (e) {
                if (enc_key_bits == 0)
                        enc_key_bits = e->key_bits[0];
                if (!key_size_offered(e, enc_key_bits))
                        return -EINVAL;
                len += enc_key_bits / 8 + e->salt_len;
        }
        if (i)
                len += i->key_len;
        if (ret_keymat_len)
                *ret_keymat_len = len;
        return 0;
}

bool bh_transform_legacy(unsigned enc, unsigned integ) {
        const BhEncrInfo *e = bh_encr_lookup(enc);
        const BhIntegInfo *i = bh_integ_lookup(integ);
        if ((e && e->legacy) || (i && i->legacy))
                return true;
        /* Encryption without integrity. */
        return e && !e->aead && e->id != BH_ENCR_NULL && !i;
}

/* ------------------------------------------------------------ state */

struct BhTransform {
        const BhEncrInfo *encr;   /* NULL: no encryption (AH) */
        const BhIntegInfo *integ; /* NULL: AEAD, or encryption only */
        EVP_CIPHER_CTX *enc;      /* keyed for encryption */
        EVP_CIPHER_CTX *dec;      /* keyed for decryption (CBC key schedules differ) */
        EVP_CIPHER_CTX *ivgen;    /* CBC: AES-128-ECB under a random key */
        EVP_MAC_CTX *mac;         /* HMAC, keyed */
        size_t icv_len;
        size_t iv_len;
        size_t block_size;
        uint8_t salt[4];
};

static const EVP_CIPHER *cipher_for(unsigned enc, unsigned bits) {
        switch (enc) {
        case BH_ENCR_AES_GCM_16:
                return bits == 128 ? EVP_aes_128_gcm() : bits == 192 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
        case BH_ENCR_AES_CBC:
                return bits == 128 ? EVP_aes_128_cbc() : bits == 192 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
        case BH_ENCR_CHACHA20_POLY1305: return EVP_chacha20_poly1305();
        case BH_ENCR_3DES: return EVP_des_ede3_cbc();
        default: return NULL;
        }
}

static const char *digest_for(unsigned integ) {
        switch (integ) {
        case BH_AUTH_HMAC_SHA2_256_128: return "SHA256";
        case BH_AUTH_HMAC_SHA2_384_192: return "SHA384";
        case BH_AUTH_HMAC_SHA2_512_256: return "SHA512";
        case BH_AUTH_HMAC_SHA1_96: return "SHA1";
        case BH_AUTH_HMAC_MD5_96: return "MD5";
        default: return NULL;
        }
}

static EVP_CIPHER_CTX *cipher_ctx_new(const EVP_CIPHER *cipher, const uint8_t *key, bool aead, int enc) {
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (!ctx)
                return NULL;
        if (!EVP_CipherInit_ex(ctx, cipher, NULL, NULL, NULL, enc) ||
            (aead && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL)) ||
            !EVP_CipherInit_ex(ctx, NULL, NULL, key, NULL, enc) ||
            /* Block ciphers only (ESP pads itself): on an AEAD context it
             * would cost a parameter round trip at every IV reset. */
            (!aead && !EVP_CIPHER_CTX_set_padding(ctx, 0))) {
                EVP_CIPHER_CTX_free(ctx);
                return NULL;
        }
        return ctx;
}

int bh_transform_new(unsigned enc, unsigned enc_key_bits, unsigned integ, const BhSecret *keymat,
                     BhTransform **ret) {
        size_t need;
        int r = bh_transform_check(enc, enc_key_bits, integ, &need);
        if (r < 0)
                return r;
        if (!keymat || keymat->len != need || (need && !keymat->data))
                return -EINVAL;

        BhTransform *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->encr = enc == BH_ENCR_NONE ? NULL : bh_encr_lookup(enc);
        t->integ = integ == BH_AUTH_NONE ? NULL : bh_integ_lookup(integ);
        t->block_size = 4;

        const uint8_t *k = keymat->data;
        if (t->encr) {
                if (enc_key_bits == 0)
                        enc_key_bits = t->encr->key_bits[0];
                t->iv_len = t->encr->iv_len;
                t->block_size = t->encr->block_size;
                t->icv_len = t->encr->icv_len;

                const EVP_CIPHER *cipher = cipher_for(enc, enc_key_bits);
                if (cipher) {
                        t->enc = cipher_ctx_new(cipher, k, t->encr->aead, 1);
                        t->dec = cipher_ctx_new(cipher, k, t->encr->aead, 0);
                        if (!t->enc || !t->dec)
                                goto fail;
                }
                k += enc_key_bits / 8;
                memcpy(t->salt, k, t->encr->salt_len);
                k += t->encr->salt_len;

                if (!t->encr->aead && t->iv_len) {
                        uint8_t ivkey[16];
                        if (RAND_bytes(ivkey, sizeof ivkey) != 1) {
                                bh_secure_wipe(ivkey, sizeof ivkey);
                                goto fail;
                        }
                        t->ivgen = cipher_ctx_new(EVP_aes_128_ecb(), ivkey, false, 1);
                        bh_secure_wipe(ivkey, sizeof ivkey);
                        if (!t->ivgen)
                                goto fail;
                }
        }
        if (t->integ) {
                EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
                if (!mac)
                        goto fail;
                t->mac = EVP_MAC_CTX_new(mac);
                EVP_MAC_free(mac);
                OSSL_PARAM params[] = {
                        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) digest_for(integ), 0),
                        OSSL_PARAM_construct_end(),
                };
                if (!t->mac || !EVP_MAC_init(t->mac, k, t->integ->key_len, params))
                        goto fail;
                t->icv_len = t->integ->icv_len;
        }
        *ret = t;
        return 0;
fail:
        ERR_clear_error();
        bh_transform_free(t);
        return -EIO;
}

void bh_transform_free(BhTransform *t) {
        if (!t)
                return;
        /* OpenSSL wipes the key schedules and HMAC pads it frees. */
        EVP_CIPHER_CTX_free(t->enc);
        EVP_CIPHER_CTX_free(t->dec);
        EVP_CIPHER_CTX_free(t->ivgen);
        EVP_MAC_CTX_free(t->mac);
        bh_secure_wipe(t, sizeof *t);
        free(t);
}

unsigned bh_transform_encr(const BhTransform *t) {
        return t->encr ? t->encr->id : BH_ENCR_NONE;
}

unsigned bh_transform_integ(const BhTransform *t) {
        return t->integ ? t->integ->id : BH_AUTH_NONE;
}

size_t bh_transform_icv_len(const BhTransform *t) {
        return t->icv_len;
}

size_t bh_transform_iv_len(const BhTransform *t) {
        return t->iv_len;
}

size_t bh_transform_block_size(const BhTransform *t) {
        return t->block_size;
}

bool bh_transform_is_aead(const BhTransform *t) {
        return t->encr && t->encr->aead;
}

/* ------------------------------------------------------------ per packet */

int bh_transform_make_iv(BhTransform *t, uint64_t seq, uint8_t *iv) {
        if (t->iv_len == 0)
                return 0;
        if (bh_transform_is_aead(t)) {
                for (size_t i = 0; i < 8; i++)
                        iv[i] = (uint8_t) (seq >> (56 - 8 * i));
                return 0;
        }
        uint8_t block[16] = { 0 }, out[16];
        int outl;
        for (size_t i = 0; i < 8; i++)
                block[8 + i] = (uint8_t) (seq >> (56 - 8 * i));
        if (!EVP_CipherUpdate(t->ivgen, out, &outl, block, sizeof block) || outl != (int) sizeof out) {
                ERR_clear_error();
                return -EIO;
        }
        memcpy(iv, out, t->iv_len);
        return 0;
}

static int aead_run(BhTransform *t, EVP_CIPHER_CTX *ctx, int enc, const uint8_t *iv, const uint8_t *aad,
                    size_t aad_len, uint8_t *data, size_t len, uint8_t *tag) {
        uint8_t nonce[12], fin[BH_TRANSFORM_MAX_BLOCK];
        int outl;

        memcpy(nonce, t->salt, 4);
        memcpy(nonce + 4, iv, 8);
        if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, enc))
                goto io;
        if (!enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int) t->icv_len, tag))
                goto io;
        if (aad_len && !EVP_CipherUpdate(ctx, NULL, &outl, aad, (int) aad_len))
                goto io;
        if (len && (!EVP_CipherUpdate(ctx, data, &outl, data, (int) len) || (size_t) outl != len))
                goto io;
        if (!EVP_CipherFinal_ex(ctx, fin, &outl)) {
                ERR_clear_error();
                return enc ? -EIO : -EBADMSG;
        }
        if (enc && !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, (int) t->icv_len, tag))
                goto io;
        return 0;
io:
        ERR_clear_error();
        return -EIO;
}

static int cbc_run(BhTransform *t, EVP_CIPHER_CTX *ctx, const uint8_t *iv, uint8_t *data, size_t len) {
        int outl;
        if (!ctx || len == 0)
                return 0; /* ENCR_NULL; or nothing to do */
        if (!EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, -1) ||
            !EVP_CipherUpdate(ctx, data, &outl, data, (int) len) || (size_t) outl != len) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

/* The full HMAC output into out (at least 64 bytes). */
static int mac_run(BhTransform *t, const BhIov *iov, size_t n, uint8_t *out) {
        size_t outl;
        /* A NULL key re-initialises with the key set at creation. */
        if (!EVP_MAC_init(t->mac, NULL, 0, NULL))
                goto io;
        for (size_t i = 0; i < n; i++)
                if (iov[i].len && !EVP_MAC_update(t->mac, iov[i].base, iov[i].len))
                        goto io;
        if (!EVP_MAC_final(t->mac, out, &outl, 64) || outl < t->icv_len)
                goto io;
        return 0;
io:
        ERR_clear_error();
        return -EIO;
}

static bool sizes_ok(const BhTransform *t, size_t aad_len, size_t tail_len, size_t len) {
        if (len > INT_MAX || aad_len > INT_MAX || tail_len > INT_MAX)
                return false;
        if (t->encr && t->encr->aead)
                return tail_len == 0;
        return len % t->block_size == 0 || !t->enc;
}

int bh_transform_seal(BhTransform *t, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                      const uint8_t *aad_tail, size_t aad_tail_len, uint8_t *data, size_t len, uint8_t *icv) {
        if (!t->encr || !sizes_ok(t, aad_len, aad_tail_len, len))
                return -EINVAL;
        if (t->encr->aead)
                return aead_run(t, t->enc, 1, iv, aad, aad_len, data, len, icv);

        int r = cbc_run(t, t->enc, iv, data, len);
        if (r < 0 || !t->mac)
                return r;
        uint8_t full[64];
        BhIov iov[] = { { aad, aad_len }, { data, len }, { aad_tail, aad_tail_len } };
        r = mac_run(t, iov, 3, full);
        if (r == 0)
                memcpy(icv, full, t->icv_len);
        return r;
}

int bh_transform_open(BhTransform *t, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                      const uint8_t *aad_tail, size_t aad_tail_len, uint8_t *data, size_t len,
                      const uint8_t *icv) {
        if (!t->encr || !sizes_ok(t, aad_len, aad_tail_len, len))
                return -EINVAL;
        if (t->encr->aead) {
                /* OpenSSL wants a writable tag; copy it off the packet. */
                uint8_t tag[16];
                memcpy(tag, icv, sizeof tag);
                return aead_run(t, t->dec, 0, iv, aad, aad_len, data, len, tag);
        }
        if (t->mac) {
                BhIov iov[] = { { aad, aad_len }, { data, len }, { aad_tail, aad_tail_len } };
                int r = bh_transform_mac_verify(t, iov, 3, icv);
                if (r < 0)
                        return r;
        }
        return cbc_run(t, t->dec, iv, data, len);
}

int bh_transform_mac(BhTransform *t, const BhIov *iov, size_t n, uint8_t *icv) {
        uint8_t full[64];
        if (!t->mac)
                return -EINVAL;
        int r = mac_run(t, iov, n, full);
        if (r == 0)
                memcpy(icv, full, t->icv_len);
        return r;
}

int bh_transform_mac_verify(BhTransform *t, const BhIov *iov, size_t n, const uint8_t *icv) {
        uint8_t full[64];
        if (!t->mac)
                return -EINVAL;
        int r = mac_run(t, iov, n, full);
        if (r < 0)
                return r;
        return CRYPTO_memcmp(full, icv, t->icv_len) == 0 ? 0 : -EBADMSG;
}

int bh_transform_preload(void) {
        /* OpenSSL reads its configuration and resolves algorithms on first
         * use. Do that now, while the process may still open files: a
         * sandboxed data path must not find out later. */
        if (!OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL))
                return -EIO;
        static const struct {
                unsigned enc, bits, integ;
        } sets[] = {
                { BH_ENCR_AES_GCM_16, 128, 0 },        { BH_ENCR_AES_GCM_16, 256, 0 },
                { BH_ENCR_CHACHA20_POLY1305, 256, 0 }, { BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_SHA2_256_128 },
                { BH_ENCR_AES_CBC, 256, BH_AUTH_HMAC_SHA2_512_256 }, { BH_ENCR_NULL, 0, BH_AUTH_HMAC_SHA2_384_192 },
                /* The legacy ones too: a manual tunnel may name them at any
                 * time. MD5 and DES-EDE3-CBC are in the default provider. */
                { BH_ENCR_3DES, 192, BH_AUTH_HMAC_SHA1_96 }, { BH_ENCR_NONE, 0, BH_AUTH_HMAC_MD5_96 },
        };
        for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
                size_t len;
                if (bh_transform_check(sets[i].enc, sets[i].bits, sets[i].integ, &len) < 0)
                        return -EINVAL;
                BhSecret *k = bh_secret_new(len);
                BhTransform *t = NULL;
                int r = k ? bh_transform_new(sets[i].enc, sets[i].bits, sets[i].integ, k, &t) : -ENOMEM;
                bh_transform_free(t);
                bh_secret_free(k);
                if (r < 0)
                        return r;
        }
        return 0;
}
