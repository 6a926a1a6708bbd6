/* SPDX-License-Identifier: ISC */
#pragma once

/* The IKEv2 pseudo-random functions (RFC 7296 section 2.13) over OpenSSL 3's
 * EVP_MAC "HMAC". Only the HMAC PRFs are implemented: they take keys of any
 * length, and their preferred key size is their output length. */

#include <stddef.h>
#include <stdint.h>

/* IKEv2 Transform Type 2 (PRF) IDs, IANA "IKEv2 Parameters". The whole
 * registry is named so that logs can name what a peer proposes; the
 * implemented ones are those with a non-zero bh_prf_output_len(). */
typedef enum BhPrfAlg {
        PRF_HMAC_MD5 = 1,
        PRF_HMAC_SHA1 = 2, /* implemented for the NIST vectors only */
        PRF_HMAC_TIGER = 3,
        PRF_AES128_XCBC = 4,
        PRF_HMAC_SHA2_256 = 5,
        PRF_HMAC_SHA2_384 = 6,
        PRF_HMAC_SHA2_512 = 7,
        PRF_AES128_CMAC = 8,
} BhPrfAlg;

/* The largest output of an implemented PRF (HMAC-SHA-512), in bytes. */
#define BH_PRF_MAX_OUTPUT 64
/* prf+ counts its blocks in one octet (RFC 7296 section 2.13). */
#define BH_PRF_PLUS_MAX_BLOCKS 255

/* A piece of a concatenated input: the IKEv2 formulas feed the PRF with
 * "Ni | Nr | SPIi | SPIr" and the like, and passing the pieces avoids copying
 * secrets (g^ir) into a temporary buffer. len 0 is allowed with data NULL. */
typedef struct BhPrfChunk {
        const void *data;
        size_t len;
} BhPrfChunk;

/* The RFC name ("PRF_HMAC_SHA2_256"), or NULL for an unassigned number. */
const char *bh_prf_name(BhPrfAlg alg);

/* Output length in bytes, which is also the preferred key length (the length
 * of SK_d, SK_pi and SK_pr); 0 if the PRF is not implemented. */
size_t bh_prf_output_len(BhPrfAlg alg);

/* ret_out = prf(key, data): bh_prf_output_len(alg) bytes.
 * -EOPNOTSUPP for a PRF that is not implemented, -EINVAL for bad arguments,
 * -ENOMEM or -EIO when OpenSSL fails (then ret_out is wiped). */
int bh_prf(BhPrfAlg alg, const void *key, size_t key_len, const void *data, size_t data_len,
           uint8_t *ret_out);
/* The same over the concatenation of n_chunks pieces. */
int bh_prf_chunks(BhPrfAlg alg, const void *key, size_t key_len, const BhPrfChunk *chunks,
                  size_t n_chunks, uint8_t *ret_out);

/* ret_out = the first out_len bytes of prf+(key, seed) (RFC 7296 section 2.13):
 *   T1 = prf(K, S | 0x01), Tn = prf(K, T(n-1) | S | n).
 * -EINVAL when out_len needs more than 255 blocks; other errors as bh_prf(),
 * and an OpenSSL failure midway wipes ret_out. ret_out must not overlap the
 * seed, which is read again for every block; out_len 0 writes nothing. */
int bh_prf_plus(BhPrfAlg alg, const void *key, size_t key_len, const void *seed, size_t seed_len,
                uint8_t *ret_out, size_t out_len);
/* The same with the seed as the concatenation of n_chunks pieces. */
int bh_prf_plus_chunks(BhPrfAlg alg, const void *key, size_t key_len, const BhPrfChunk *chunks,
                       size_t n_chunks, uint8_t *ret_out, size_t out_len);
