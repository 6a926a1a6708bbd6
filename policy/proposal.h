/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "transform.h"

/*
 * IKEv2 proposals, written in strongSwan's syntax ("aes256gcm16-prfsha256-x25519")
 * and held as lists of transforms with their IANA numbers (RFC 7296 3.3.2,
 * IANA "Internet Key Exchange Version 2 (IKEv2) Parameters").
 *
 * A proposal is a '-'-separated list of keywords; several algorithms of one
 * type in one proposal are alternatives, in order of preference. A list of
 * proposals is ','-separated. The keywords, the rules and their reasons are
 * in bulkhead-tunnels(5).
 */

/* Protocol ID (RFC 7296 3.3.1). */
typedef enum BhProtocolId {
        BH_PROTO_IKE = 1,
        BH_PROTO_AH = 2,
        BH_PROTO_ESP = 3,
} BhProtocolId;

/* Transform Type (RFC 7296 3.3.2). */
typedef enum BhTransformType {
        BH_TRANSFORM_ENCR = 1,
        BH_TRANSFORM_PRF = 2,
        BH_TRANSFORM_INTEG = 3,
        BH_TRANSFORM_DH = 4,            /* "Key Exchange Method" since RFC 9370 */
        BH_TRANSFORM_ESN = 5,
} BhTransformType;

/* Transform IDs. Encryption (BH_ENCR_*) and integrity (BH_AUTH_*) come with
 * their properties from crypto/transform.h, the data path's table; the types
 * only IKE uses are here. */
enum {
        /* Type 2, pseudorandom function */
        BH_PRF_HMAC_MD5 = 1,                    /* legacy */
        BH_PRF_HMAC_SHA1 = 2,                   /* legacy */
        BH_PRF_HMAC_SHA2_256 = 5,
        BH_PRF_HMAC_SHA2_384 = 6,
        BH_PRF_HMAC_SHA2_512 = 7,
        /* Type 4, Diffie-Hellman group */
        BH_MODP_2048 = 14,
        BH_MODP_3072 = 15,
        BH_MODP_4096 = 16,
        BH_ECP_256 = 19,
        BH_ECP_384 = 20,
        BH_ECP_521 = 21,
        BH_CURVE_25519 = 31,
        /* Type 5, extended sequence numbers */
        BH_NO_ESN = 0,
        BH_ESN = 1,
};

/* More alternatives than this in one proposal is a mistake, not a policy. */
#define BH_PROPOSAL_TRANSFORMS_MAX 32
/* Proposals in one list. */
#define BH_PROPOSALS_MAX 16

typedef struct BhProposalTransform {
        uint8_t type;                   /* BhTransformType */
        uint16_t id;                    /* transform ID of that type */
        uint16_t key_bits;              /* Key Length attribute; 0 = none sent */
} BhProposalTransform;

/* Transforms are kept sorted by type (ENCR, INTEG, PRF, DH, ESN, the order
 * strongSwan prints them in), in order of preference within a type. */
typedef struct BhProposal {
        BhProtocolId proto;
        uint8_t n;
        BhProposalTransform t[BH_PROPOSAL_TRANSFORMS_MAX];
} BhProposal;

/* Key material one manual SA needs, in the order secrets.conf writes it:
 * encryption key, salt, integrity key. */
typedef struct BhKeyLen {
        size_t encr;                    /* cipher key */
        size_t salt;                    /* GCM, ChaCha20-Poly1305: 4 (RFC 4106, 7634) */
        size_t integ;                   /* HMAC key */
        size_t total;
} BhKeyLen;

/*
 * Parses one proposal for `proto`. Derives what strongSwan derives: for IKE
 * without a PRF, one PRF per integrity algorithm (sha256 -> prfsha256); for
 * ESP and AH without esn/noesn, noesn. Refuses (with the reason, naming the
 * offending keyword) what strongSwan refuses, and also an integrity algorithm
 * next to an AEAD and ESP without integrity protection, which strongSwan
 * accepts, and a legacy algorithm in an IKE proposal (legacy algorithms are
 * for manual tunnels only). Returns 0, or -EINVAL with a g_free'd reason in *ret_reason (if
 * not NULL).
 */
int bh_proposal_parse(BhProtocolId proto, const char *s, BhProposal *ret, char **ret_reason);

/* A ','-separated list of proposals, blanks around each allowed, at most
 * BH_PROPOSALS_MAX. *ret gets a g_new'd array of *ret_n proposals. */
int bh_proposal_list_parse(BhProtocolId proto, const char *s, BhProposal **ret, size_t *ret_n, char **ret_reason);

/* Canonical strongSwan syntax, which bh_proposal_parse() reads back equal:
 * keywords in type order, the first spelling of each ("aes128gcm16", not
 * "aes128gcm"), derived PRFs written out, a lone default noesn left out. */
char *bh_proposal_to_string(const BhProposal *p);
/* The proposals joined with ", ". */
char *bh_proposal_list_to_string(const BhProposal *p, size_t n);

/* The IANA names, as logs show them: "ESP:ENCR_AES_GCM_16_256/NO_ESN". */
char *bh_proposal_describe(const BhProposal *p);

bool bh_proposal_equal(const BhProposal *a, const BhProposal *b);
bool bh_proposal_list_equal(const BhProposal *a, size_t n_a, const BhProposal *b, size_t n_b);

/* Does the proposal use an AEAD (combined-mode) cipher? */
bool bh_proposal_is_aead(const BhProposal *p);

/* The keyword of the first legacy algorithm (3des, sha1, md5, prfsha1,
 * prfmd5) in the proposal, or NULL. */
const char *bh_proposal_legacy(const BhProposal *p);

/*
 * Is this one transform set, as a manual SA needs: one encryption algorithm
 * (ESP) or none (AH), at most one integrity algorithm, no group, no PRF, at
 * most one ESN setting? Returns 0 or -EINVAL with a reason.
 */
int bh_proposal_check_single(const BhProposal *p, char **ret_reason);

/* Key lengths for a single transform set (see bh_proposal_check_single()).
 * Returns 0, or -EINVAL for anything else. */
int bh_proposal_key_len(const BhProposal *p, BhKeyLen *ret);

/* "IKE", "AH", "ESP"; "UNKNOWN" otherwise. */
const char *bh_protocol_id_name(BhProtocolId proto);
/* "ENCR", "PRF", "INTEG", "DH", "ESN"; "UNKNOWN" otherwise. */
const char *bh_proposal_transform_type_name(uint8_t type);
/* IANA name of a transform ID: "ENCR_AES_GCM_16", "AUTH_HMAC_SHA2_256_128",
 * "CURVE_25519"; NULL for one Bulkhead does not implement. */
const char *bh_proposal_transform_name(uint8_t type, uint16_t id);
/* The strongSwan keyword for a transform: "aes256gcm16"; NULL if none. */
const char *bh_proposal_transform_keyword(const BhProposalTransform *t);
