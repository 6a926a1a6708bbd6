/* SPDX-License-Identifier: ISC */
#pragma once

/* IKEv2 key derivation (RFC 7296 sections 2.14, 2.17 and 2.18), as cryptod
 * runs it. Every key goes in and out in a BhSecret: a caller never holds raw
 * key bytes of its own. Only the HMAC PRFs are in scope, which take the whole
 * of Ni | Nr as the SKEYSEED key (the AES-based PRFs would take 64 bits of
 * each nonce instead).
 *
 * Inputs are not checked against protocol limits (nonce sizes, SPI values):
 * the exchange code validates what came from the network before it gets
 * here. g^ir is the shared secret as the Diffie-Hellman code produced it: big
 * endian, left-padded with zeros to the length of the modulus. */

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "prf.h"
#include "secmem.h"

#define BH_IKE_SPI_LEN 8

/* The nonces of the exchange in progress (IKE_SA_INIT, or CREATE_CHILD_SA for
 * a rekey or a further Child SA), without their payload headers. Public. */
typedef struct BhIkeNonces {
        const uint8_t *ni;
        size_t ni_len;
        const uint8_t *nr;
        size_t nr_len;
} BhIkeNonces;

/* Lengths in bytes of the keys taken from the IKE SA's prf+ stream. */
typedef struct BhIkeKeyLengths {
        size_t sk_d; /* the PRF's preferred key length: bh_prf_output_len() */
        size_t sk_a; /* SK_ai and SK_ar: 0 with an AEAD cipher */
        size_t sk_e; /* SK_ei and SK_er, salt included (GCM, CCM, ChaCha20-Poly1305) */
        size_t sk_p; /* SK_pi and SK_pr: the PRF's preferred key length too */
} BhIkeKeyLengths;

/* The IKE SA's keys; a key of length 0 (SK_ai and SK_ar with AEAD) is NULL. */
/* Test builds only (-Dtest_hooks=true): FUNC sees every key stream
 * derived from here on (SK_d | SK_ai | ... | SK_pr, and each CHILD SA's
 * KEYMAT), so that the tests can look for the keys in the logs. */
typedef void (*BhKeyObserver)(const uint8_t *key, size_t len);
void bh_ikev2_observe_keys(BhKeyObserver func);

typedef struct BhIkeKeys {
        BhSecret *sk_d;
        BhSecret *sk_ai, *sk_ar;
        BhSecret *sk_ei, *sk_er;
        BhSecret *sk_pi, *sk_pr;
} BhIkeKeys;

/* A Child SA's keys for ESP or AH, in KEYMAT order: all of the initiator to
 * responder SA first, and within an SA the encryption key before the
 * integrity key (RFC 7296 section 2.17). A key of length 0 is NULL. */
typedef struct BhChildKeys {
        BhSecret *encr_i, *integ_i; /* initiator to responder */
        BhSecret *encr_r, *integ_r; /* responder to initiator */
} BhChildKeys;

/* SKEYSEED = prf(Ni | Nr, g^ir) (section 2.14). */
int bh_ikev2_skeyseed(BhPrfAlg prf, const BhSecret *g_ir, const BhIkeNonces *nonces,
                      BhSecret **ret_skeyseed);

/* SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) (section 2.18), for the IKE
 * SA that replaces the one SK_d belongs to. prf is the old IKE SA's PRF (the
 * rekeying exchange belongs to it); the new SA's keys then come from
 * bh_ikev2_ike_keys() with the new SA's PRF, nonces and SPIs. */
int bh_ikev2_skeyseed_rekey(BhPrfAlg prf, const BhSecret *sk_d_old, const BhSecret *g_ir_new,
                            const BhIkeNonces *nonces, BhSecret **ret_skeyseed);

/* {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}
 *         = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr) (section 2.14),
 * cut in that order by the lengths given. The SPIs are the IKE header's
 * octets as sent. sk_d and sk_p must not be 0, and the total must fit in 255
 * PRF blocks (-EINVAL). */
int bh_ikev2_ike_keys(BhPrfAlg prf, const BhSecret *skeyseed, const BhIkeNonces *nonces,
                      const uint8_t spi_i[BH_IKE_SPI_LEN], const uint8_t spi_r[BH_IKE_SPI_LEN],
                      const BhIkeKeyLengths *lengths, BhIkeKeys **ret_keys);

/* KEYMAT = prf+(SK_d, Ni | Nr), or with PFS (g_ir_new not NULL)
 * KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr) (section 2.17), cut into
 * encr_i | integ_i | encr_r | integ_r. encr_len includes the salt for AEAD
 * ciphers; integ_len is 0 with AEAD, encr_len 0 for AH or ENCR_NULL. */
int bh_ikev2_child_keys(BhPrfAlg prf, const BhSecret *sk_d, const BhSecret *g_ir_new,
                        const BhIkeNonces *nonces, size_t encr_len, size_t integ_len,
                        BhChildKeys **ret_keys);

/* Wipe and free every key, then the struct; accept NULL. */
void bh_ike_keys_free(BhIkeKeys *keys);
void bh_child_keys_free(BhChildKeys *keys);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BhIkeKeys, bh_ike_keys_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BhChildKeys, bh_child_keys_free)
