/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ikev2-kdf.h"

#if BULKHEAD_TEST_HOOKS
static BhKeyObserver observer;

void bh_ikev2_observe_keys(BhKeyObserver func) {
        observer = func;
}

static void observe(const BhSecret *s) {
        if (observer)
                observer(s->data, s->len);
}
#else
static void observe(const BhSecret *s) {
        (void) s;
}
#endif

/* No single key or stream may be longer than 255 blocks of the largest PRF:
 * this bounds every length before it is summed, so no sum can overflow. */
#define KDF_MAX_LEN ((size_t) BH_PRF_PLUS_MAX_BLOCKS * BH_PRF_MAX_OUTPUT)

static bool secret_valid(const BhSecret *s) {
        return s && s->data && s->len > 0;
}

static bool nonces_valid(const BhIkeNonces *n) {
        return n && n->ni && n->nr && n->ni_len > 0 && n->nr_len > 0 &&
               n->ni_len <= KDF_MAX_LEN && n->nr_len <= KDF_MAX_LEN;
}

/* A new secret holding a prf() output. */
static int prf_to_secret(BhPrfAlg prf, const void *key, size_t key_len, const BhPrfChunk *chunks,
                         size_t n_chunks, BhSecret **ret_secret) {
        size_t len = bh_prf_output_len(prf);
        BhSecret *s;
        int r;

        if (len == 0)
                return -EOPNOTSUPP;
        s = bh_secret_new(len);
        if (!s)
                return -ENOMEM;
        r = bh_prf_chunks(prf, key, key_len, chunks, n_chunks, s->data);
        if (r < 0) {
                bh_secret_free(s);
                return r;
        }
        *ret_secret = s;
        return 0;
}

int bh_ikev2_skeyseed(BhPrfAlg prf, const BhSecret *g_ir, const BhIkeNonces *nonces,
                      BhSecret **ret_skeyseed) {
        BhPrfChunk data;
        uint8_t *key;
        size_t key_len;
        int r;

        if (!secret_valid(g_ir) || !nonces_valid(nonces) || !ret_skeyseed)
                return -EINVAL;

        /* The key is Ni | Nr in one piece: HMAC takes it whole, whatever its
         * length (a key longer than the hash block is hashed first). */
        key_len = nonces->ni_len + nonces->nr_len;
        key = malloc(key_len);
        if (!key)
                return -ENOMEM;
        memcpy(key, nonces->ni, nonces->ni_len);
        memcpy(key + nonces->ni_len, nonces->nr, nonces->nr_len);

        data = (BhPrfChunk) { g_ir->data, g_ir->len };
        r = prf_to_secret(prf, key, key_len, &data, 1, ret_skeyseed);

        bh_secure_wipe(key, key_len);
        free(key);
        return r;
}

int bh_ikev2_skeyseed_rekey(BhPrfAlg prf, const BhSecret *sk_d_old, const BhSecret *g_ir_new,
                            const BhIkeNonces *nonces, BhSecret **ret_skeyseed) {
        if (!secret_valid(sk_d_old) || !secret_valid(g_ir_new) || !nonces_valid(nonces) ||
            !ret_skeyseed)
                return -EINVAL;

        const BhPrfChunk data[] = {
                { g_ir_new->data, g_ir_new->len },
                { nonces->ni, nonces->ni_len },
                { nonces->nr, nonces->nr_len },
        };
        return prf_to_secret(prf, sk_d_old->data, sk_d_old->len, data, 3, ret_skeyseed);
}

/* Cuts the next len bytes of a prf+ stream into a secret of its own; a
 * length of 0 leaves *ret_secret NULL. */
static int take_key(const BhSecret *stream, size_t *offset, size_t len, BhSecret **ret_secret) {
        *ret_secret = NULL;
        if (len == 0)
                return 0;
        if (len > stream->len - *offset)
                return -EINVAL; /* broken invariant: the caller sized the stream */
        *ret_secret = bh_secret_new_copy(stream->data + *offset, len);
        if (!*ret_secret)
                return -ENOMEM;
        *offset += len;
        return 0;
}

/* The prf+ stream of total bytes, in a secret (wiped by bh_secret_free()). */
static int prf_plus_to_secret(BhPrfAlg prf, const BhSecret *key, const BhPrfChunk *seed,
                              size_t n_seed, size_t total, BhSecret **ret_stream) {
        BhSecret *s;
        int r;

        if (bh_prf_output_len(prf) == 0)
                return -EOPNOTSUPP;
        s = bh_secret_new(total);
        if (!s)
                return -ENOMEM;
        r = bh_prf_plus_chunks(prf, key->data, key->len, seed, n_seed, s->data, total);
        if (r < 0) {
                bh_secret_free(s);
                return r;
        }
        *ret_stream = s;
        return 0;
}

int bh_ikev2_ike_keys(BhPrfAlg prf, const BhSecret *skeyseed, const BhIkeNonces *nonces,
                      const uint8_t spi_i[BH_IKE_SPI_LEN], const uint8_t spi_r[BH_IKE_SPI_LEN],
                      const BhIkeKeyLengths *lengths, BhIkeKeys **ret_keys) {
        BhSecret *dkm = NULL;
        BhIkeKeys *keys = NULL;
        size_t offset = 0, total;
        int r;

        if (!secret_valid(skeyseed) || !nonces_valid(nonces) || !spi_i || !spi_r || !lengths ||
            !ret_keys)
                return -EINVAL;
        if (lengths->sk_d == 0 || lengths->sk_p == 0 || lengths->sk_d > KDF_MAX_LEN ||
            lengths->sk_a > KDF_MAX_LEN || lengths->sk_e > KDF_MAX_LEN ||
            lengths->sk_p > KDF_MAX_LEN)
                return -EINVAL;
        total = lengths->sk_d + 2 * (lengths->sk_a + lengths->sk_e + lengths->sk_p);

        const BhPrfChunk seed[] = {
                { nonces->ni, nonces->ni_len },
                { nonces->nr, nonces->nr_len },
                { spi_i, BH_IKE_SPI_LEN },
                { spi_r, BH_IKE_SPI_LEN },
        };
        /* prf+ refuses a total beyond 255 blocks with -EINVAL. */
        r = prf_plus_to_secret(prf, skeyseed, seed, 4, total, &dkm);
        if (r < 0)
                return r;
        observe(dkm);

        keys = calloc(1, sizeof *keys);
        if (!keys) {
                r = -ENOMEM;
                goto out;
        }
        /* Taken in order from the stream (section 2.14). */
        if ((r = take_key(dkm, &offset, lengths->sk_d, &keys->sk_d)) < 0 ||
            (r = take_key(dkm, &offset, lengths->sk_a, &keys->sk_ai)) < 0 ||
            (r = take_key(dkm, &offset, lengths->sk_a, &keys->sk_ar)) < 0 ||
            (r = take_key(dkm, &offset, lengths->sk_e, &keys->sk_ei)) < 0 ||
            (r = take_key(dkm, &offset, lengths->sk_e, &keys->sk_er)) < 0 ||
            (r = take_key(dkm, &offset, lengths->sk_p, &keys->sk_pi)) < 0 ||
            (r = take_key(dkm, &offset, lengths->sk_p, &keys->sk_pr)) < 0)
                goto out;

        *ret_keys = keys;
        keys = NULL;
out:
        bh_ike_keys_free(keys);
        bh_secret_free(dkm);
        return r;
}

int bh_ikev2_child_keys(BhPrfAlg prf, const BhSecret *sk_d, const BhSecret *g_ir_new,
                        const BhIkeNonces *nonces, size_t encr_len, size_t integ_len,
                        BhChildKeys **ret_keys) {
        BhSecret *keymat = NULL;
        BhChildKeys *keys = NULL;
        BhPrfChunk seed[3];
        size_t n_seed = 0, offset = 0;
        int r;

        if (!secret_valid(sk_d) || (g_ir_new && !secret_valid(g_ir_new)) ||
            !nonces_valid(nonces) || !ret_keys)
                return -EINVAL;
        if ((encr_len == 0 && integ_len == 0) || encr_len > KDF_MAX_LEN || integ_len > KDF_MAX_LEN)
                return -EINVAL;

        /* With PFS the new shared secret comes first. */
        if (g_ir_new)
                seed[n_seed++] = (BhPrfChunk) { g_ir_new->data, g_ir_new->len };
        seed[n_seed++] = (BhPrfChunk) { nonces->ni, nonces->ni_len };
        seed[n_seed++] = (BhPrfChunk) { nonces->nr, nonces->nr_len };

        r = prf_plus_to_secret(prf, sk_d, seed, n_seed, 2 * (encr_len + integ_len), &keymat);
        if (r < 0)
                return r;
        observe(keymat);

        keys = calloc(1, sizeof *keys);
        if (!keys) {
                r = -ENOMEM;
                goto out;
        }
        if ((r = take_key(keymat, &offset, encr_len, &keys->encr_i)) < 0 ||
            (r = take_key(keymat, &offset, integ_len, &keys->integ_i)) < 0 ||
            (r = take_key(keymat, &offset, encr_len, &keys->encr_r)) < 0 ||
            (r = take_key(keymat, &offset, integ_len, &keys->integ_r)) < 0)
                goto out;

        *ret_keys = keys;
        keys = NULL;
out:
        bh_child_keys_free(keys);
        bh_secret_free(keymat);
        return r;
}

void bh_ike_keys_free(BhIkeKeys *keys) {
        if (!keys)
                return;
        bh_secret_free(keys->sk_d);
        bh_secret_free(keys->sk_ai);
        bh_secret_free(keys->sk_ar);
        bh_secret_free(keys->sk_ei);
        bh_secret_free(keys->sk_er);
        bh_secret_free(keys->sk_pi);
        bh_secret_free(keys->sk_pr);
        free(keys);
}

void bh_child_keys_free(BhChildKeys *keys) {
        if (!keys)
                return;
        bh_secret_free(keys->encr_i);
        bh_secret_free(keys->integ_i);
        bh_secret_free(keys->encr_r);
        bh_secret_free(keys->integ_r);
        free(keys);
}
