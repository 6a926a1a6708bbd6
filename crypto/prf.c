/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <glib.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "prf.h"
#include "secmem.h"

static const struct {
        BhPrfAlg alg;
        const char *name;
        const char *digest; /* OpenSSL digest name; NULL: not implemented */
        size_t len;
} prf_table[] = {
        { PRF_HMAC_MD5,      "PRF_HMAC_MD5",      NULL,      0 },
        { PRF_HMAC_SHA1,     "PRF_HMAC_SHA1",     "SHA1",    20 },
        { PRF_HMAC_TIGER,    "PRF_HMAC_TIGER",    NULL,      0 },
        { PRF_AES128_XCBC,   "PRF_AES128_XCBC",   NULL,      0 },
        { PRF_HMAC_SHA2_256, "PRF_HMAC_SHA2_256", "SHA2-256", 32 },
        { PRF_HMAC_SHA2_384, "PRF_HMAC_SHA2_384", "SHA2-384", 48 },
        { PRF_HMAC_SHA2_512, "PRF_HMAC_SHA2_512", "SHA2-512", 64 },
        { PRF_AES128_CMAC,   "PRF_AES128_CMAC",   NULL,      0 },
};

/* alg comes from a negotiated transform: any int may show up here. */
static int prf_index(BhPrfAlg alg) {
        for (size_t i = 0; i < sizeof prf_table / sizeof prf_table[0]; i++)
                if (prf_table[i].alg == alg)
                        return (int) i;
        return -1;
}

const char *bh_prf_name(BhPrfAlg alg) {
        int i = prf_index(alg);
        return i < 0 ? NULL : prf_table[i].name;
}

size_t bh_prf_output_len(BhPrfAlg alg) {
        int i = prf_index(alg);
        return i < 0 || !prf_table[i].digest ? 0 : prf_table[i].len;
}

static bool chunks_valid(const BhPrfChunk *chunks, size_t n_chunks) {
        if (n_chunks > 0 && !chunks)
                return false;
        for (size_t i = 0; i < n_chunks; i++)
                if (chunks[i].len > 0 && !chunks[i].data)
                        return false;
        return true;
}

/* Checks the common arguments; on success *ret_len is the PRF's output length
 * and *ret_index its row in prf_table. */
static int prf_check(BhPrfAlg alg, const void *key, size_t key_len, const BhPrfChunk *chunks,
                     size_t n_chunks, size_t *ret_len, int *ret_index) {
        int i = prf_index(alg);

        if (i < 0 || !prf_table[i].digest)
                return -EOPNOTSUPP;
        if ((key_len > 0 && !key) || !chunks_valid(chunks, n_chunks))
                return -EINVAL;
        *ret_len = prf_table[i].len;
        *ret_index = i;
        return 0;
}

/* EVP_MAC_init() treats a NULL key as "keep the previous key". */
static const uint8_t empty_key[1];

/* An HMAC context of row i's digest, keyed with the empty key, made once
 * and never freed: each PRF call copies it and sets its own key. Fetching
 * "HMAC" and the digest by name at every call costs OpenSSL 3 a look-up
 * under its locks each time, and cryptod makes a dozen PRF calls per IKE
 * SA. (A context can only be copied once keyed.) NULL if OpenSSL fails. */
static EVP_MAC_CTX *prf_template(int i) {
        static EVP_MAC_CTX *templates[sizeof prf_table / sizeof prf_table[0]];
        static gsize made[sizeof prf_table / sizeof prf_table[0]];

        if (g_once_init_enter(&made[i])) {
                OSSL_PARAM params[] = {
                        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) prf_table[i].digest, 0),
                        OSSL_PARAM_construct_end(),
                };
                EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
                /* The context holds its own reference to the algorithm. */
                EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
                EVP_MAC_free(mac);
                if (ctx && !EVP_MAC_init(ctx, empty_key, 0, params)) {
                        EVP_MAC_CTX_free(ctx);
                        ctx = NULL;
                }
                templates[i] = ctx;
                g_once_init_leave(&made[i], 1);
        }
        return templates[i];
}

/* One keyed HMAC context for a whole call: the key schedule is done once, and
 * each further block only re-initialises the context with the same key. */
static int prf_ctx_new(int i, const void *key, size_t key_len, EVP_MAC_CTX **ret_ctx) {
        EVP_MAC_CTX *template = prf_template(i), *ctx;

        if (!template)
                return -EIO;
        ctx = EVP_MAC_CTX_dup(template);
        if (!ctx)
                return -ENOMEM;
        if (!EVP_MAC_init(ctx, key_len > 0 ? key : empty_key, key_len, NULL)) {
                EVP_MAC_CTX_free(ctx); /* cleanses the key schedule */
                return -EIO;
        }
        *ret_ctx = ctx;
        return 0;
}

static int prf_update_chunks(EVP_MAC_CTX *ctx, const BhPrfChunk *chunks, size_t n_chunks) {
        for (size_t i = 0; i < n_chunks; i++)
                if (chunks[i].len > 0 && !EVP_MAC_update(ctx, chunks[i].data, chunks[i].len))
                        return -EIO;
        return 0;
}

static int prf_final(EVP_MAC_CTX *ctx, uint8_t *out, size_t len) {
        size_t written = 0;

        if (!EVP_MAC_final(ctx, out, &written, len) || written != len)
                return -EIO;
        return 0;
}

int bh_prf_chunks(BhPrfAlg alg, const void *key, size_t key_len, const BhPrfChunk *chunks,
                  size_t n_chunks, uint8_t *ret_out) {
        EVP_MAC_CTX *ctx = NULL;
        int i;
        size_t len;
        int r;

        r = prf_check(alg, key, key_len, chunks, n_chunks, &len, &i);
        if (r < 0)
                return r;
        if (!ret_out)
                return -EINVAL;

        r = prf_ctx_new(i, key, key_len, &ctx);
        if (r < 0)
                return r;
        r = prf_update_chunks(ctx, chunks, n_chunks);
        if (r >= 0)
                r = prf_final(ctx, ret_out, len);
        if (r < 0)
                bh_secure_wipe(ret_out, len);
        EVP_MAC_CTX_free(ctx);
        return r;
}

int bh_prf(BhPrfAlg alg, const void *key, size_t key_len, const void *data, size_t data_len,
           uint8_t *ret_out) {
        BhPrfChunk chunk = { data, data_len };
        return bh_prf_chunks(alg, key, key_len, &chunk, 1, ret_out);
}

int bh_prf_plus_chunks(BhPrfAlg alg, const void *key, size_t key_len, const BhPrfChunk *chunks,
                       size_t n_chunks, uint8_t *ret_out, size_t out_len) {
        EVP_MAC_CTX *ctx = NULL;
        uint8_t t[BH_PRF_MAX_OUTPUT]; /* T(n): keying material, wiped below */
        int i;
        size_t len, done = 0;
        int r;

        r = prf_check(alg, key, key_len, chunks, n_chunks, &len, &i);
        if (r < 0)
                return r;
        if (out_len > BH_PRF_PLUS_MAX_BLOCKS * len)
                return -EINVAL;
        if (out_len == 0)
                return 0;
        if (!ret_out)
                return -EINVAL;

        r = prf_ctx_new(i, key, key_len, &ctx);
        if (r < 0)
                return r;

        for (unsigned n = 1; done < out_len; n++) {
                uint8_t counter = (uint8_t) n; /* n <= 255: checked above */
                size_t take = out_len - done < len ? out_len - done : len;

                /* T1 = prf(K, S | 0x01); Tn = prf(K, T(n-1) | S | n) */
                if (n > 1 && (!EVP_MAC_init(ctx, NULL, 0, NULL) || !EVP_MAC_update(ctx, t, len))) {
                        r = -EIO;
                        break;
                }
                r = prf_update_chunks(ctx, chunks, n_chunks);
                if (r < 0)
                        break;
                if (!EVP_MAC_update(ctx, &counter, 1)) {
                        r = -EIO;
                        break;
                }
                r = prf_final(ctx, t, len);
                if (r < 0)
                        break;
                memcpy(ret_out + done, t, take);
                done += take;
        }

        bh_secure_wipe(t, sizeof t);
        if (r < 0)
                bh_secure_wipe(ret_out, out_len);
        EVP_MAC_CTX_free(ctx);
        return r;
}

int bh_prf_plus(BhPrfAlg alg, const void *key, size_t key_len, const void *seed, size_t seed_len,
                uint8_t *ret_out, size_t out_len) {
        BhPrfChunk chunk = { seed, seed_len };
        return bh_prf_plus_chunks(alg, key, key_len, &chunk, 1, ret_out, out_len);
}
