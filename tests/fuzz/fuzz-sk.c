/* SPDX-License-Identifier: ISC */
/* SK payload decryption as cryptod does it (crypto/ike-sa.c,
 * bh_ike_sa_open()), with keys the target knows: two IKE SA states, an
 * initiator and a responder, derived against each other once per suite at
 * start-up. After IKE_SA_INIT anyone who ran it holds such keys, so both
 * what comes before the integrity check and what comes after it (the
 * padding, the Pad Length) are reachable from the network.
 *
 * Input: one byte: the suite (low 2 bits: AES-GCM-16 256, ChaCha20-Poly1305,
 * AES-CBC-128 with HMAC-SHA2-256-128, AES-CBC-256 with HMAC-SHA2-512-256)
 * and the mode (bit 2); one byte: how many octets of associated data
 * follow; that many; then
 *   mode 0  the SK body as it arrives (IV, ciphertext, ICV): opened by the
 *           responder as it is;
 *   mode 1  the ciphertext's plaintext with whatever padding and Pad Length
 *           octet the input says (cut to whole blocks for CBC): sealed as it
 *           is by the initiator (bh_ike_sa_seal_padded), then opened.
 *
 * Checks besides the sanitizers:
 *  - open returns 0, -EINVAL or -EBADMSG, and writes no more than
 *    bh_ike_sk_plain_max() octets;
 *  - mode 0: a body that does not come from the initiator never opens
 *    (the ICV would have been forged);
 *  - mode 1: a body the initiator sealed opens exactly when its Pad Length
 *    fits, and then gives back the plaintext before the padding. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ike-sa.h"

#define N_SUITES 4

static const BhIkeSuite suites[N_SUITES] = {
        { 20, 256, 5, 0, 31 },  /* ENCR_AES_GCM_16, PRF_HMAC_SHA2_256, Curve25519 */
        { 28, 0, 5, 0, 31 },    /* ENCR_CHACHA20_POLY1305 */
        { 12, 128, 5, 12, 31 }, /* ENCR_AES_CBC, AUTH_HMAC_SHA2_256_128 */
        { 12, 256, 7, 14, 31 }, /* AUTH_HMAC_SHA2_512_256, PRF_HMAC_SHA2_512 */
};

typedef struct {
        BhIkeSa *i, *r;
} Pair;

static Pair pairs[N_SUITES];

static void pair_make(Pair *p, const BhIkeSuite *s) {
        const uint8_t *ke_i, *ke_r, *n_i, *n_r;
        size_t ke_i_len, ke_r_len, n_i_len, n_r_len;
        FUZZ_CHECK(bh_ike_sa_new(true, s->dh, &p->i) == 0 && bh_ike_sa_new(false, s->dh, &p->r) == 0,
                   "cannot make the IKE SA states");
        bh_ike_sa_public(p->i, &ke_i, &ke_i_len);
        bh_ike_sa_public(p->r, &ke_r, &ke_r_len);
        bh_ike_sa_nonce(p->i, &n_i, &n_i_len);
        bh_ike_sa_nonce(p->r, &n_r, &n_r_len);
        FUZZ_CHECK(bh_ike_sa_derive(p->i, ke_r, ke_r_len, n_r, n_r_len, 0x0102030405060708, 0x1112131415161718, s) ==
                           0 &&
                           bh_ike_sa_derive(p->r, ke_i, ke_i_len, n_i, n_i_len, 0x0102030405060708,
                                            0x1112131415161718, s) == 0,
                   "cannot derive suite %u", s->encr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        for (int k = 0; k < N_SUITES; k++)
                pair_make(&pairs[k], &suites[k]);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!pairs[0].i)
                LLVMFuzzerInitialize(NULL, NULL);
        FuzzInput in = { data, size };
        uint8_t sel = fuzz_u8(&in);
        const BhIkeSuite *s = &suites[sel & 3];
        Pair *p = &pairs[sel & 3];
        bool forge = sel & 4;
        size_t aad_len = fuzz_u8(&in);
        if (aad_len > in.len)
                aad_len = in.len;
        const uint8_t *aad = in.p;
        in.p += aad_len;
        in.len -= aad_len;

        /* ike-sa.h: an 8-octet IV for the AEAD suites, 16 for CBC, whose
         * ciphertext is whole 16-octet blocks; the rest of the overhead is
         * the ICV. */
        size_t iv_len = s->integ ? 16 : 8, block = s->integ ? 16 : 1;
        size_t overhead = bh_ike_sk_body_len(s, 0) - block;
        uint8_t *body;
        size_t body_len, ct_len = 0;
        if (!forge) {
                body_len = in.len;
                body = malloc(body_len ? body_len : 1);
                if (body_len)
                        memcpy(body, in.p, body_len);
        } else {
                ct_len = in.len - in.len % block;
                if (ct_len == 0)
                        return 0;
                body_len = overhead + ct_len;
                body = calloc(1, body_len);
                memcpy(body + iv_len, in.p, ct_len);
                int r = bh_ike_sa_seal_padded(p->i, aad, aad_len, body, body_len);
                FUZZ_CHECK(r == 0, "seal_padded refused %zu octets of ciphertext: %d", ct_len, r);
        }
        size_t max = bh_ike_sk_plain_max(s, body_len);
        uint8_t *plain = malloc(max ? max : 1);
        size_t plain_len = (size_t) -1;
        int r = bh_ike_sa_open(p->r, aad, aad_len, body, body_len, plain, &plain_len);
        FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EBADMSG, "open returned %d", r);
        if (r == 0)
                FUZZ_CHECK(plain_len <= max, "open wrote %zu octets, at most %zu", plain_len, max);
        if (!forge) {
                FUZZ_CHECK(r != 0, "a body nobody sealed opened (%zu octets)", body_len);
        } else {
                uint8_t pad = in.p[ct_len - 1];
                bool fits = pad < ct_len;
                FUZZ_CHECK((r == 0) == fits, "Pad Length %u of %zu octets: open returned %d", pad, ct_len, r);
                if (r == 0) {
                        FUZZ_CHECK(plain_len == ct_len - 1 - pad, "%zu octets out, %zu expected", plain_len,
                                   ct_len - 1 - pad);
                        FUZZ_CHECK(memcmp(plain, in.p, plain_len) == 0, "the plaintext changed");
                }
        }
        free(plain);
        free(body);
        return 0;
}
