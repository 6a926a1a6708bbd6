/* SPDX-License-Identifier: ISC */
#pragma once

/* Per-SA cipher state for ESP and AH: the OpenSSL contexts are created and
 * keyed once, when the SA is installed, and reused for every packet (only the
 * IV is reset), so that sealing or opening a packet allocates nothing and
 * takes no lock. A transform is not thread-safe: one SA is driven by one
 * worker at a time.
 *
 * Key material comes in as a BhSecret laid out as RFC 7296 §2.17 draws
 * KEYMAT for one direction: the encryption key, then (AEAD) the 4-byte salt,
 * then the integrity key. It is copied into the OpenSSL contexts; the
 * transform wipes everything it keeps when it is freed. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "secmem.h"

/* IKEv2 Transform Type 1 (encryption algorithm) ids, IANA registry. */
enum {
        BH_ENCR_NONE = 0, /* not an IANA id: integrity only (AH) */
        BH_ENCR_3DES = 3,
        BH_ENCR_NULL = 11,
        BH_ENCR_AES_CBC = 12,
        BH_ENCR_AES_GCM_16 = 20,
        BH_ENCR_CHACHA20_POLY1305 = 28,
};

/* IKEv2 Transform Type 3 (integrity algorithm) ids, IANA registry. */
enum {
        BH_AUTH_NONE = 0,
        BH_AUTH_HMAC_MD5_96 = 1,
        BH_AUTH_HMAC_SHA1_96 = 2,
        BH_AUTH_HMAC_SHA2_256_128 = 12,
        BH_AUTH_HMAC_SHA2_384_192 = 13,
        BH_AUTH_HMAC_SHA2_512_256 = 14,
};

#define BH_TRANSFORM_MAX_ICV 32u
#define BH_TRANSFORM_MAX_IV 16u
#define BH_TRANSFORM_MAX_BLOCK 16u

/* One row of the encryption table. `legacy` rows are used only when a
 * configuration names them explicitly, never in a default proposal. */
typedef struct BhEncrInfo {
        uint16_t id;
        const char *name;   /* IANA name, as logs print it */
        const char *rfc;
        bool aead;
        bool legacy;
        uint16_t key_bits[3]; /* accepted key sizes; [0] is the default; 0 ends */
        uint8_t salt_len;     /* AEAD: implicit nonce part, from KEYMAT */
        uint8_t iv_len;       /* explicit IV in each packet */
        uint8_t block_size;   /* ESP padding alignment (at least 4) */
        uint8_t icv_len;      /* AEAD tag; 0 for the others */
} BhEncrInfo;

typedef struct BhIntegInfo {
        uint16_t id;
        const char *name;
        const char *rfc;
        bool legacy;
        uint8_t key_len;
        uint8_t icv_len; /* truncated output */
} BhIntegInfo;

/* The name tables: look-up by IANA id or by name (case-insensitive, with or
 * without the ENCR_/AUTH_ prefix); NULL when unknown. */
const BhEncrInfo *bh_encr_lookup(unsigned id);
const BhEncrInfo *bh_encr_from_name(const char *name);
const BhIntegInfo *bh_integ_lookup(unsigned id);
const BhIntegInfo *bh_integ_from_name(const char *name);
/* Never NULL: "UNKNOWN" for an id outside the table. */
const char *bh_encr_name(unsigned id);
const char *bh_integ_name(unsigned id);
/* The whole tables, for listings and tests. */
const BhEncrInfo *bh_encr_table(size_t *ret_n);
const BhIntegInfo *bh_integ_table(size_t *ret_n);

/* Checks a combination and tells how long its KEYMAT is: 0 on success or
 * -EINVAL (unknown id, key size not offered, AEAD with an integrity
 * transform, NULL encryption without integrity). enc_key_bits 0 takes the
 * default size. ENCR_NONE + an integrity transform is AH; AES-CBC or 3DES
 * with AUTH_NONE is encryption-only ESP, which RFC 4303 §3.2 allows but
 * which is legacy here (bh_transform_legacy() says so). */
int bh_transform_check(unsigned enc, unsigned enc_key_bits, unsigned integ, size_t *ret_keymat_len);
/* Whether the combination uses a legacy row (or is encryption-only). */
bool bh_transform_legacy(unsigned enc, unsigned integ);

typedef struct BhTransform BhTransform;

/* Creates the per-SA state: keymat must be exactly the length
 * bh_transform_check() gives. Returns 0, -EINVAL (combination or key
 * length), -ENOMEM, or -EIO (OpenSSL refused). */
int bh_transform_new(unsigned enc, unsigned enc_key_bits, unsigned integ, const BhSecret *keymat,
                     BhTransform **ret);
/* Wipes and frees; accepts NULL. */
void bh_transform_free(BhTransform *t);

unsigned bh_transform_encr(const BhTransform *t);
unsigned bh_transform_integ(const BhTransform *t);
size_t bh_transform_icv_len(const BhTransform *t);
size_t bh_transform_iv_len(const BhTransform *t);
/* ESP padding alignment: the cipher block size, at least 4. */
size_t bh_transform_block_size(const BhTransform *t);
bool bh_transform_is_aead(const BhTransform *t);

/* The explicit IV for the packet with sequence number seq (iv_len bytes).
 * AEAD: seq itself, big-endian (RFC 4106 §3.1, RFC 7634 §2: a counter,
 * unique per key because a sequence number never repeats on an SA). CBC:
 * the encryption of seq under a random per-SA key (AES-ECB), which is
 * unpredictable to anyone without that key, as RFC 3602 §3 requires, and
 * needs no random number per packet. */
int bh_transform_make_iv(BhTransform *t, uint64_t seq, uint8_t *iv);

/* Encrypts data[0, len) in place and writes the ICV (icv_len bytes).
 *  AEAD: the AAD is aad[0, aad_len); aad_tail must be empty.
 *  Encrypt-then-MAC (CBC/NULL with HMAC): the ICV covers aad, then the
 *  ciphertext, then aad_tail (RFC 4303 §2.2.1: the high ESN bits go after
 *  the payload). For ESP, aad is the packet from SPI to the end of the IV.
 * For ciphers with blocks, len must be a multiple of the block size.
 * Returns 0, -EINVAL or -EIO. */
int bh_transform_seal(BhTransform *t, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                      const uint8_t *aad_tail, size_t aad_tail_len, uint8_t *data, size_t len, uint8_t *icv);

/* The reverse: verifies the ICV, then decrypts in place. Encrypt-then-MAC
 * checks the HMAC (in constant time) before it decrypts anything; AEAD
 * checks the tag in the same pass (OpenSSL's final step), so on -EBADMSG
 * the buffer holds unauthenticated bytes that the caller must drop.
 * Returns 0, -EBADMSG (ICV mismatch), -EINVAL or -EIO. */
int bh_transform_open(BhTransform *t, const uint8_t *iv, const uint8_t *aad, size_t aad_len,
                      const uint8_t *aad_tail, size_t aad_tail_len, uint8_t *data, size_t len,
                      const uint8_t *icv);

/* Integrity only (AH, and the HMAC known-answer tests): the truncated HMAC
 * of the concatenation of n pieces. */
typedef struct BhIov {
        const void *base;
        size_t len;
} BhIov;

int bh_transform_mac(BhTransform *t, const BhIov *iov, size_t n, uint8_t *icv);
/* 0 when the ICV matches (constant-time compare), -EBADMSG otherwise. */
int bh_transform_mac_verify(BhTransform *t, const BhIov *iov, size_t n, const uint8_t *icv);

/* Loads OpenSSL's configuration and every algorithm the transforms use, so
 * that nothing is read from disk after a service enters its sandbox. */
int bh_transform_preload(void);
