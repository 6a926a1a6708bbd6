/* SPDX-License-Identifier: ISC */
#pragma once

/* The key state of one IKEv2 SA, as cryptod keeps it behind an opaque
 * handle: the Diffie-Hellman key pair and nonce of IKE_SA_INIT, the SK_*
 * keys (RFC 7296 sections 2.13 and 2.14), the SK payload (3.14, and RFC
 * 5282 / RFC 7634 for the AEAD ciphers), PSK authentication (2.15) and the
 * Child SA keys (2.17).
 *
 * No key ever leaves this state except the Child SA keys, which cryptod
 * installs in the data path. Every operation that could turn cryptod into
 * an oracle for a less trusted caller runs once per SA: the derivation, the
 * AUTH signature, the AUTH verification, the first Child SA's keys.
 *
 * Trust boundary: every byte string passed in (KE values, nonces, messages,
 * SK bodies, ID payloads) came from isakmpd, which got most of it from the
 * network: all of it is checked here before use.
 *
 * A state is not thread-safe: one SA is driven by one caller at a time. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "ikev2-kdf.h"
#include "secmem.h"

/* The negotiated IKE SA transforms, as IANA "IKEv2 Parameters" numbers them
 * (the names are in crypto/transform.h, crypto/prf.h and bh_ike_dh_name()). */
typedef struct BhIkeSuite {
        /* 20 ENCR_AES_GCM_16, 28 ENCR_CHACHA20_POLY1305, 12 ENCR_AES_CBC */
        uint16_t encr;
        /* 128 or 256 for AES; 0 or 256 for ChaCha20-Poly1305 */
        uint16_t encr_bits;
        /* 5, 6, 7: PRF_HMAC_SHA2_256, _384, _512 */
        uint16_t prf;
        /* 0 with an AEAD; 12, 13, 14: AUTH_HMAC_SHA2_256_128, _384_192, _512_256 */
        uint16_t integ;
        /* 31 CURVE_25519; 19, 20, 21 ECP_256, _384, _521;
         * 14, 15, 16 MODP_2048, _3072, _4096 */
        uint16_t dh;
} BhIkeSuite;

/* The largest public value of an implemented group (MODP-4096). */
#define BH_IKE_DH_MAX_PUBLIC 512u
/* The nonce this library makes: 32 octets, at least half the key size of
 * any PRF it implements (RFC 7296 2.10). */
#define BH_IKE_NONCE_LEN 32u
/* Nonces a peer may send (RFC 7296 3.9). */
#define BH_IKE_NONCE_MIN 16u
#define BH_IKE_NONCE_MAX 256u
/* An SK payload's length field has 16 bits and counts its 4-octet generic
 * header: no body is longer than this. */
#define BH_IKE_SK_BODY_MAX (65535u - 4u)

/* Every field is one this library implements, and they go together: an
 * AEAD has no integrity transform, AES-CBC has one. */
bool bh_ike_suite_supported(const BhIkeSuite *s);
bool bh_ike_dh_supported(uint16_t group);
/* The IANA name ("MODP_2048", "ECP_256", "CURVE_25519"); "UNKNOWN" for a
 * group this library does not implement. Never NULL. */
const char *bh_ike_dh_name(uint16_t group);
/* The KE payload's data length: the prime's length for MODP, x || y for ECP
 * (without the 0x04 octet, RFC 5903 section 7), 32 for Curve25519 (RFC 8031).
 * 0 for a group not implemented. */
size_t bh_ike_dh_public_len(uint16_t group);

/* The length of an SK payload body (IV || ciphertext, including the Padding
 * and the Pad Length octet, || ICV) that carries plain_len octets of inner
 * payloads. AEAD: 8-octet IV, no padding (Pad Length 0), 16-octet ICV. CBC:
 * 16-octet IV, padded to 16 octets, the truncated HMAC as ICV. 0 if the suite
 * is not supported or the body would exceed BH_IKE_SK_BODY_MAX. isakmpd lays
 * out messages with it before cryptod seals them. */
size_t bh_ike_sk_body_len(const BhIkeSuite *s, size_t plain_len);
/* The largest plaintext an SK body of body_len octets can carry, which is
 * the buffer bh_ike_sa_open() needs; 0 also when the body is too short (or
 * the suite not supported). */
size_t bh_ike_sk_plain_max(const BhIkeSuite *s, size_t body_len);

typedef struct BhIkeSa BhIkeSa;

/* A new key state: a Diffie-Hellman key pair of `group` and a 32-octet
 * nonce, both from OpenSSL's random generator. -EOPNOTSUPP for a group not
 * implemented, -ENOMEM, -EIO when OpenSSL fails. */
int bh_ike_sa_new(bool initiator, uint16_t group, BhIkeSa **ret);
/* Wipes every key and frees; accepts NULL. */
void bh_ike_sa_free(BhIkeSa *sa);

bool bh_ike_sa_initiator(const BhIkeSa *sa);
uint16_t bh_ike_sa_group(const BhIkeSa *sa);
/* Our KE value (bh_ike_dh_public_len() octets, as the KE payload carries it)
 * and our nonce: pointers into the state, valid until it is freed. */
void bh_ike_sa_public(const BhIkeSa *sa, const uint8_t **ret, size_t *ret_len);
void bh_ike_sa_nonce(const BhIkeSa *sa, const uint8_t **ret, size_t *ret_len);

/* Computes g^ir from the peer's KE value, then SKEYSEED and SK_d, SK_ai,
 * SK_ar, SK_ei, SK_er, SK_pi, SK_pr (RFC 7296 2.14) for `suite`. The nonces
 * go in as Ni | Nr: ours is Ni when we initiate. spi_i and spi_r are the
 * IKE header's SPIs as numbers (the octets in network order).
 *
 * Untrusted: peer_ke and peer_nonce. The peer's value is checked before
 * anything is computed: exactly the group's length, not all zero; ECP: a
 * point on the curve, not the point at infinity, of the group's order; MODP:
 * in [2, p-2] and in the prime-order subgroup; X25519: a shared secret that
 * is not all zero (a low-order point). Each failure is -EINVAL.
 *
 * A rejected call leaves the state as it was, so a later call with a good
 * value may still succeed: an attacker who races a bogus IKE_SA_INIT reply
 * to the initiator must not be able to kill the exchange, and a rejection
 * tells nothing about the private key (every check runs on public values).
 * The first call that succeeds wipes the private key; after it, -EALREADY
 * (also for a state whose key pair served a rekey, see below).
 *
 * Other errors: -EINVAL for a suite whose dh is not this state's group or a
 * peer nonce outside 16..256 octets, -EOPNOTSUPP for a suite not supported,
 * -ENOMEM, -EIO. */
int bh_ike_sa_derive(BhIkeSa *sa, const uint8_t *peer_ke, size_t peer_ke_len,
                     const uint8_t *peer_nonce, size_t peer_nonce_len, uint64_t spi_i,
                     uint64_t spi_r, const BhIkeSuite *suite);
/* The new IKE SA of a rekey (RFC 7296 2.18), in `fresh` (made with
 * bh_ike_sa_new for this exchange: its DH key pair and nonce; initiator =
 * whether we started the rekey, which makes us the new SA's initiator):
 * SKEYSEED = prf_old(SK_d(old), g^ir(new) | Ni | Nr), then SK_* with the new
 * SPIs and suite. old must be authenticated (-EPERM); the peer's value is
 * checked as in bh_ike_sa_derive. The new SA counts as authenticated: it
 * inherits the old one's peer. */
int bh_ike_sa_rekey_ike(BhIkeSa *fresh, const BhIkeSa *old, const uint8_t *peer_ke, size_t peer_ke_len,
                        const uint8_t *peer_nonce, size_t peer_nonce_len, uint64_t spi_i, uint64_t spi_r,
                        const BhIkeSuite *suite);
bool bh_ike_sa_derived(const BhIkeSa *sa);

/* The SK payload body (RFC 7296 3.14). aad[0, aad_len) is the message from
 * the IKE header through the SK payload's generic header: the associated
 * data of an AEAD (RFC 5282 5.1, RFC 7634 4; the nonce is the 4-octet salt
 * at the end of SK_e, then the 8-octet IV), and the start of what the
 * CBC suites' HMAC covers (aad || IV || ciphertext, truncated).
 *
 * seal protects with our direction's keys (SK_ei and SK_ai when we
 * initiate): body_len must be bh_ike_sk_body_len(plain_len) (-EINVAL). The
 * IV is a per-SA 64-bit counter for the AEAD ciphers (a nonce must never
 * repeat under a key; -EOVERFLOW once it is spent) and random for CBC. The
 * padding octets are 0. plain may lie inside body (it is moved first).
 *
 * open checks with the peer's keys. Untrusted: the whole body. -EINVAL for a
 * body too short for its IV, one octet and its ICV (or, CBC, not whole
 * blocks), -EBADMSG when the ICV does not match or the Pad Length does not
 * fit. Only authenticated plaintext is written to ret_plain, which must hold
 * bh_ike_sk_plain_max(body_len) octets (it may be NULL when that is 0, and
 * may be body itself); *ret_plain_len is its length.
 *
 * Both: -EPERM before the derivation. */
int bh_ike_sa_seal(BhIkeSa *sa, const uint8_t *aad, size_t aad_len, const uint8_t *plain,
                   size_t plain_len, uint8_t *body, size_t body_len);
int bh_ike_sa_open(BhIkeSa *sa, const uint8_t *aad, size_t aad_len, const uint8_t *body,
                   size_t body_len, uint8_t *ret_plain, size_t *ret_plain_len);
/* seal without the padding: the ciphertext part of body (after the IV's
 * room, before the ICV's) already holds the plaintext, its padding and the
 * Pad Length octet, and is sealed as it is (whole blocks for CBC, else
 * -EINVAL). For the fuzz target that forges any padding with known keys. */
int bh_ike_sa_seal_padded(BhIkeSa *sa, const uint8_t *aad, size_t aad_len, uint8_t *body, size_t body_len);

/* PSK authentication (RFC 7296 2.15):
 *   AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <SignedOctets>)
 *   SignedOctets = RealMessage | the other side's nonce | prf(SK_p, ID body)
 * where the ID body is the ID payload after its generic header (ID Type,
 * three reserved octets, the identification data), RealMessage the signer's
 * IKE_SA_INIT message, SK_p the signer's (SK_pi for the initiator).
 *
 * sign computes our AUTH: init_msg is our IKE_SA_INIT message as sent, and
 * must contain our KE value and our nonce (else -EPERM: a caller cannot
 * have cryptod compute the PRF over data of its choice). ret_auth_len gives
 * the buffer's size (-ENOBUFS when short) and receives the PRF's output
 * length. Once per SA: -EALREADY after a success; a call refused for its
 * arguments computed nothing and does not count.
 *
 * verify checks the peer's AUTH (untrusted: all of the arguments) over the
 * peer's IKE_SA_INIT message, which must contain the KE value and nonce the
 * peer gave at the derivation (else -EPERM). 0 on a match, -EACCES otherwise
 * (a wrong length too), compared in constant time. One comparison per SA,
 * whatever its result: after it, -EALREADY, so that nobody can try PSKs
 * through it.
 *
 * Both: -EPERM before the derivation, -EINVAL for an empty PSK or an ID
 * body shorter than its 4-octet header. */
int bh_ike_sa_auth_sign(BhIkeSa *sa, const uint8_t *init_msg, size_t init_len,
                        const uint8_t *id_body, size_t id_len, const BhSecret *psk,
                        uint8_t *ret_auth, size_t *ret_auth_len);
int bh_ike_sa_auth_verify(BhIkeSa *sa, const uint8_t *init_msg, size_t init_len,
                          const uint8_t *id_body, size_t id_len, const BhSecret *psk,
                          const uint8_t *auth, size_t auth_len);
/* We signed and the peer's AUTH verified. */
bool bh_ike_sa_authenticated(const BhIkeSa *sa);

/* The first Child SA's keys (RFC 7296 2.17, set up by IKE_AUTH: the nonces
 * of IKE_SA_INIT, no new Diffie-Hellman): KEYMAT = prf+(SK_d, Ni | Nr), cut
 * as bh_ikev2_child_keys() cuts it (encr_len includes an AEAD's salt).
 * -EPERM unless bh_ike_sa_authenticated(); once per SA (-EALREADY). */
int bh_ike_sa_child_keys(BhIkeSa *sa, size_t encr_len, size_t integ_len, BhChildKeys **ret);

/* A Child SA made or rekeyed by CREATE_CHILD_SA: ni and nr are that
 * exchange's nonces (16..256 octets, initiator's first, untrusted). With PFS,
 * pfs is a second state from bh_ike_sa_new() whose key pair only is used
 * (its group is the one the exchange negotiated), peer_ke the peer's KE
 * value, checked as bh_ike_sa_derive() checks it; the private key is wiped
 * after one use (-EALREADY for a second one), and
 * KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr). Without PFS, pfs and peer_ke
 * are NULL and KEYMAT = prf+(SK_d, Ni | Nr).
 * -EPERM unless bh_ike_sa_authenticated(); -EINVAL for bad arguments. */
int bh_ike_sa_rekey_child_keys(BhIkeSa *sa, BhIkeSa *pfs, const uint8_t *peer_ke,
                               size_t peer_ke_len, const uint8_t *ni, size_t ni_len,
                               const uint8_t *nr, size_t nr_len, size_t encr_len,
                               size_t integ_len, BhChildKeys **ret);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BhIkeSa, bh_ike_sa_free)
