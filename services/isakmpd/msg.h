/* SPDX-License-Identifier: ISC */
#pragma once

/* The IKEv2 message layer: parse and build IKE messages (RFC 7296 3,
 * RFC 7383 2.5). Pure code over caller buffers: no I/O, no crypto, no
 * allocation.
 *
 * Untrusted: every byte handed to a parse or decode function comes from the
 * network. The order is always the same:
 *
 *   1. ike_msg_parse(): the header, then the payload chain of the cleartext
 *      part (each generic payload header, the critical bit, SK last), then
 *      the body of every payload the chain holds, each validated in full
 *      (lengths, counts, values) before anything reads it.
 *   2. ike_msg_check_exchange(): which payloads the exchange and direction
 *      allow, which only inside SK, which are required, how many.
 *   3. cryptod verifies and decrypts the SK body (ike_msg_sk() says where it
 *      is and what the associated data are); ike_msg_parse_inner() walks and
 *      validates the decrypted chain; ike_msg_check_exchange() again, now
 *      with the inner payloads.
 *   4. Only then a state machine reads payloads, through the decoders
 *      (ike_sa_decode(), ike_ke_decode(), ...), which cannot fail on a
 *      payload that step 1 accepted.
 *
 * Every failure has its own IkeErr; ike_err_notify() says which notification
 * (if any) RFC 7296 lets the caller answer with. Remember 2.21: before the
 * IKE SA is authenticated, most errors are answered by dropping the message;
 * INVALID_SYNTAX may only be returned in a message protected by a valid SK.
 *
 * Every pointer a parse or decode function stores points into the caller's
 * buffer (message or decrypted plaintext), which must outlive the result.
 * Bounds are written `n > len - off`, with off <= len kept as an invariant,
 * so that no sum can wrap. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ikev2.h"
#include "proposal.h"
#include "ts.h"

/* ------------------------------------------------------------ errors */

typedef enum IkeErr {
        IKE_OK = 0,

        /* header (ike_header_parse) */
        IKE_ERR_SHORT,               /* datagram shorter than the 28-byte header */
        IKE_ERR_IKEV1,               /* major version 1: an IKEv1 message */
        IKE_ERR_MAJOR_VERSION,       /* major version 0 or above 2 */
        IKE_ERR_LENGTH_SMALL,        /* Length field below 28 */
        IKE_ERR_LENGTH_TRUNCATED,    /* Length field beyond the datagram */
        IKE_ERR_LENGTH_TRAILING,     /* bytes after Length in the datagram */
        IKE_ERR_TOO_BIG,             /* Length above IKE_MSG_MAX_LEN */
        IKE_ERR_EXCHANGE,            /* reserved or unassigned exchange type */
        IKE_ERR_EXCHANGE_UNSUPPORTED, /* a named exchange this suite does not run */
        IKE_ERR_SPI_I_ZERO,          /* initiator SPI zero */
        IKE_ERR_SPI_R_NONZERO,       /* responder SPI set in an IKE_SA_INIT request */
        IKE_ERR_SPI_R_ZERO,          /* responder SPI zero after IKE_SA_INIT */
        IKE_ERR_MESSAGE_ID,          /* IKE_SA_INIT with a message ID other than 0 */
        IKE_ERR_FLAGS,               /* Initiator flag wrong for an IKE_SA_INIT message */

        /* payload chain (ike_msg_parse, ike_msg_parse_inner) */
        IKE_ERR_PAYLOAD_TRUNCATED,   /* a generic payload header does not fit */
        IKE_ERR_PAYLOAD_LENGTH,      /* Payload Length below 4, or beyond what remains */
        IKE_ERR_CRITICAL,            /* unrecognized payload with the critical bit */
        IKE_ERR_IKEV1_PAYLOAD,       /* IKEv1 payload type (1..13) in an IKEv2 message */
        IKE_ERR_SK_NOT_LAST,         /* bytes after SK/SKF */
        IKE_ERR_SK_NESTED,           /* SK/SKF inside SK */
        IKE_ERR_SK_SHORT,            /* SK/SKF body too short for any IV and ICV */
        IKE_ERR_TRAILING,            /* bytes after the last payload of the chain */
        IKE_ERR_TOO_MANY_PAYLOADS,   /* more than IKE_MSG_PAYLOADS_MAX */
        IKE_ERR_DUPLICATE,           /* a second payload of a type allowed once */

        /* SA payload */
        IKE_ERR_SA_EMPTY,            /* no proposal */
        IKE_ERR_SA_PROPOSAL_LENGTH,  /* Proposal Length below 8 or beyond the payload */
        IKE_ERR_SA_LAST_SUBSTRUC,    /* Last Substruc not 0/2 (3) or not matching the end */
        IKE_ERR_SA_PROPOSAL_NUMBER,  /* numbers not 1, 2, 3, ... */
        IKE_ERR_SA_SPI_SIZE,         /* SPI Size wrong for the protocol or the exchange */
        IKE_ERR_SA_TRANSFORM_COUNT,  /* Num Transforms not the transforms present, or 0 */
        IKE_ERR_SA_TRANSFORM_LENGTH, /* Transform Length below 8 or beyond the proposal */
        IKE_ERR_SA_ATTRIBUTE,        /* attribute truncated, Key Length TLV / twice / not on ENCR */
        IKE_ERR_SA_RESPONSE,         /* response with other than one proposal, or alternatives */
        /* ... why one proposal cannot be chosen (IkeProposal.verdict; all
         * answered with NO_PROPOSAL_CHOSEN when no proposal is left) */
        IKE_ERR_PROPOSAL_PROTOCOL,   /* Protocol ID unknown or not for this exchange */
        IKE_ERR_PROPOSAL_TRANSFORM_TYPE, /* a Transform Type not understood (3.3.6) */
        IKE_ERR_PROPOSAL_ATTRIBUTE,  /* an attribute type not understood */
        IKE_ERR_PROPOSAL_NO_DH,      /* no D-H transform where one is required */
        IKE_ERR_PROPOSAL_INCOMPLETE, /* a mandatory type missing (ENCR, PRF, INTEG) */
        IKE_ERR_PROPOSAL_UNSUPPORTED, /* a type with no transform this suite implements */

        /* other payloads */
        IKE_ERR_KE_GROUP,            /* a group this suite does not implement */
        IKE_ERR_KE_LENGTH,           /* key data not exactly the group's length */
        IKE_ERR_KE_ZERO,             /* key data all zero */
        IKE_ERR_NONCE_LENGTH,        /* nonce outside 16..256 octets */
        IKE_ERR_NOTIFY_SPI,          /* SPI Size not 0/4/8, beyond the payload, or wrong for the type */
        IKE_ERR_NOTIFY_PROTOCOL,     /* Protocol ID wrong for the SPI */
        IKE_ERR_NOTIFY_DATA,         /* data length wrong for the notification type */
        IKE_ERR_ID_TYPE,             /* unknown ID Type */
        IKE_ERR_ID_LENGTH,           /* identification data length wrong for the type */
        IKE_ERR_AUTH_METHOD,         /* unknown Auth Method */
        IKE_ERR_AUTH_LENGTH,         /* authentication data empty or too long */
        IKE_ERR_TS_COUNT,            /* Number of TSs zero, or more than the selectors present */
        IKE_ERR_TS_LENGTH,           /* Selector Length wrong for the type, beyond the payload, or bytes after the last */
        IKE_ERR_TS_TYPE,             /* TS Type other than 7 and 8 */
        IKE_ERR_TS_RANGE,            /* start port or address after the end one */
        IKE_ERR_TS_TOO_MANY,         /* more than IKE_TS_MAX selectors */
        IKE_ERR_DELETE_PROTOCOL,     /* Protocol ID not IKE, AH or ESP */
        IKE_ERR_DELETE_SPI,          /* SPI Size / Num of SPIs wrong for the protocol, or not the rest */
        IKE_ERR_OPAQUE_LENGTH,         /* CERT/CERTREQ/Vendor ID/EAP body empty or malformed */
        IKE_ERR_CP_TYPE,             /* CFG Type not 1..4 */
        IKE_ERR_CP_ATTRIBUTE,        /* attribute truncated or of the wrong length */
        IKE_ERR_CP_TOO_MANY,         /* more than IKE_CP_ATTRS_MAX attributes */
        IKE_ERR_SKF_NUMBER,          /* Fragment Number 0 or above Total Fragments */

        /* exchange rules (ike_msg_check_exchange) */
        IKE_ERR_NOT_ALLOWED,         /* payload not allowed in this exchange and direction */
        IKE_ERR_NOT_ENCRYPTED,       /* payload that belongs inside SK found outside */
        IKE_ERR_MISSING_SK,          /* exchange after IKE_SA_INIT without SK/SKF */
        IKE_ERR_MISSING_PAYLOAD,     /* a payload the exchange requires is absent */
        _IKE_ERR_MAX,
} IkeErr;

/* "IKE_ERR_KE_LENGTH" style names without the prefix: "KE_LENGTH". */
const char *ike_err_name(IkeErr err);
/* The notification RFC 7296 says answers this failure (INVALID_SYNTAX,
 * UNSUPPORTED_CRITICAL_PAYLOAD with the type as data, INVALID_MAJOR_VERSION,
 * INVALID_KE_PAYLOAD with the group the responder wants, NO_PROPOSAL_CHOSEN,
 * TS_UNACCEPTABLE, AUTHENTICATION_FAILED), or 0: drop without answering. */
uint16_t ike_err_notify(IkeErr err);

/* ------------------------------------------------------------ limits */

/* An IKE message travels in one UDP datagram. */
#define IKE_MSG_MAX_LEN 65535u
/* Payloads in one message, cleartext and decrypted together, skipped ones
 * included: RFC 7296 sets no limit, a real message has about 15. */
#define IKE_MSG_PAYLOADS_MAX 64u
/* Proposals kept from one SA payload (the others are validated, counted in
 * n_sent, and dropped: the first ones are the preferred ones). */
#define IKE_SA_PROPOSALS_MAX BH_PROPOSALS_MAX
/* Nonce length (2.10). */
#define IKE_NONCE_MIN 16u
#define IKE_NONCE_MAX 256u
/* Bounds that no legitimate peer reaches. */
#define IKE_ID_DATA_MAX 2048u
#define IKE_AUTH_DATA_MAX 4096u
#define IKE_TS_MAX 16u
#define IKE_CP_ATTRS_MAX 32u
/* The smallest SK body a suite implemented here can produce: an 8-octet IV
 * (AES-GCM, ChaCha20-Poly1305), the Pad Length octet and a 16-octet ICV. */
#define IKE_SK_BODY_MIN 25u

/* ------------------------------------------------------------ header */

typedef struct IkeHeader {
        uint64_t spi_i;              /* the 8 octets in network order, as a number */
        uint64_t spi_r;
        uint8_t next_payload;
        uint8_t major, minor;
        uint8_t exchange;            /* IkeExchange */
        uint8_t flags;               /* IKE_FLAG_* */
        uint32_t msg_id;
        uint32_t length;
} IkeHeader;

static inline bool ike_header_is_response(const IkeHeader *h) {
        return h->flags & IKE_FLAG_RESPONSE;
}

static inline bool ike_header_is_initiator(const IkeHeader *h) {
        return h->flags & IKE_FLAG_INITIATOR;
}

/*
 * Parses the 28-byte header of the datagram buf[0, len) (after the non-ESP
 * marker on port 4500): major version 2 (the minor version is ignored, 3.1),
 * Length between 28 and IKE_MSG_MAX_LEN and exactly len, an exchange this
 * suite runs, initiator SPI nonzero, and for IKE_SA_INIT message ID 0, the
 * Initiator flag on requests and off on responses, a zero responder SPI in
 * requests; after IKE_SA_INIT both SPIs nonzero. The Version flag and the
 * reserved flag bits are ignored, as 3.1 says.
 */
IkeErr ike_header_parse(const uint8_t *buf, size_t len, IkeHeader *ret);

/* ------------------------------------------------------------ message */

typedef struct IkePayload {
        uint8_t type;                /* IkePayloadType */
        bool critical;
        bool encrypted;              /* found inside SK (ike_msg_parse_inner) */
        size_t off;                  /* its generic header in its buffer (message or plaintext) */
        const uint8_t *body;         /* after the generic header */
        size_t len;                  /* of the body */
} IkePayload;

/* Where the SK or SKF payload is, for cryptod: the body is IV || ciphertext
 * || ICV (their lengths depend on the negotiated transform), the associated
 * data of an AEAD (RFC 5282 5.1) are msg[0, aad_len): the IKE header, any
 * payload before SK, and the SK generic header (for SKF, RFC 7383 2.5, also
 * the Fragment Number and Total Fragments fields). */
typedef struct IkeSk {
        bool present;
        uint8_t type;                /* IKE_PL_SK or IKE_PL_SKF */
        uint8_t next;                /* first inner payload type (SKF: in fragment 1 only) */
        size_t off;                  /* generic header offset in the message */
        size_t len;                  /* Payload Length: generic header included */
        size_t aad_len;
        const uint8_t *body;         /* IV || encrypted || ICV */
        size_t body_len;
        uint16_t frag_number;        /* SKF only */
        uint16_t frag_total;
} IkeSk;

typedef struct IkeMsg {
        IkeHeader hdr;
        const uint8_t *raw;          /* the message, hdr.length bytes */
        IkePayload pl[IKE_MSG_PAYLOADS_MAX]; /* in message order, outer then inner */
        size_t n;
        size_t n_outer;              /* pl[0, n_outer) are the cleartext payloads */
        size_t n_skipped;            /* unrecognized non-critical payloads, not in pl[] */
        IkeSk sk;
        bool inner_parsed;
        /* on failure: the payload type concerned (for IKE_ERR_CRITICAL the
         * notification data of UNSUPPORTED_CRITICAL_PAYLOAD) and where */
        uint8_t err_type;
        size_t err_off;
} IkeMsg;

/*
 * Parses the datagram buf[0, len): ike_header_parse(), then the chain of
 * cleartext payloads (RFC 7296 3.2): each generic header complete, Payload
 * Length at least 4 and within what remains, an unrecognized payload skipped
 * unless critical (IKE_ERR_CRITICAL, err_type its type), IKEv1 payload types
 * refused whatever the critical bit, SK or SKF last and its body left
 * opaque, no byte after the chain, at most IKE_MSG_PAYLOADS_MAX payloads,
 * the types allowed once (all but CERT, CERTREQ, N, D, V) at most once.
 * Then the body of every payload is validated with its decoder (SA in
 * IKE_SA_CTX_ANY). When the chain was sound but a body was not (say KE of an
 * unknown group), ret->pl[] is still complete, so that the caller can read
 * the SA payload to answer INVALID_KE_PAYLOAD.
 */
IkeErr ike_msg_parse(const uint8_t *buf, size_t len, IkeMsg *ret);

/*
 * After cryptod has verified and decrypted the SK body: walks the inner
 * chain plain[0, len) (the payloads only: IV, padding, Pad Length and ICV
 * removed) that starts with first_type (m->sk.next for SK; for SKF the Next
 * Payload of fragment 1 over the reassembled plaintext), with the rules of
 * ike_msg_parse() and the counts of both parts together; SK/SKF inside are
 * refused. plain must outlive m. IKE_ERR_MISSING_SK when m has no SK/SKF or
 * its inner chain was already parsed.
 */
IkeErr ike_msg_parse_inner(IkeMsg *m, uint8_t first_type, const uint8_t *plain, size_t len);

/*
 * Which payloads the exchange allows (RFC 7296 1.2-1.5, 2.6, 2.21, RFC 7383):
 *   IKE_SA_INIT      SA, KE, Nonce, N, V, CERTREQ in cleartext; request: SA,
 *                    KE and Ni required, IKE proposals with SPI size 0 and
 *                    one at least acceptable (else NO_PROPOSAL_CHOSEN);
 *                    response: SA, KE, Nr, or only notifications.
 *   IKE_AUTH         everything inside SK/SKF; request: IDi, IDr, CERT,
 *                    CERTREQ, AUTH, EAP, CP, SA, TSi, TSr, N, V with IDi,
 *                    AUTH or EAP; response: the same without IDi, CERTREQ;
 *                    SA, TSi and TSr all or none; ESP/AH proposals.
 *   CREATE_CHILD_SA  inside SK/SKF: SA, Nonce, KE, TSi, TSr, N, V; request:
 *                    SA and Nonce; response: SA and Nonce, or only
 *                    notifications; with TS: ESP/AH proposals, SPI size 4;
 *                    without: an IKE SA rekey, IKE proposals, SPI size 8.
 *   INFORMATIONAL    inside SK/SKF: N, D, CP, V (empty is a liveness check).
 * Before ike_msg_parse_inner() only the cleartext part and the presence of
 * SK are checked; call it again after. Whether a child SA proposal is
 * acceptable is the caller's call (ike_sa_acceptable()): a child SA that
 * fails does not fail the message. On failure *ret_type (if not NULL) names
 * the payload type concerned (the missing one for IKE_ERR_MISSING_PAYLOAD).
 */
IkeErr ike_msg_check_exchange(const IkeMsg *m, uint8_t *ret_type);

/* The first payload of a type (cleartext or decrypted), NULL if none. */
const IkePayload *ike_msg_find(const IkeMsg *m, uint8_t type);
size_t ike_msg_count(const IkeMsg *m, uint8_t type);
/* The first Notify payload of a notification type, NULL if none. */
const IkePayload *ike_msg_find_notify(const IkeMsg *m, uint16_t notify_type);

/* ------------------------------------------------------------ SA */

/* What an SA payload is for, which decides the protocols and SPI sizes it
 * may carry and whether D-H is mandatory. */
typedef enum IkeSaCtx {
        IKE_SA_CTX_ANY,              /* structure only: IKE SPI 0 or 8, ESP/AH SPI 4 */
        IKE_SA_CTX_IKE_SA_INIT,      /* IKE proposals, SPI size 0, D-H required */
        IKE_SA_CTX_CHILD,            /* ESP/AH proposals, SPI size 4 */
        IKE_SA_CTX_REKEY_IKE,        /* CREATE_CHILD_SA: IKE proposals, SPI size 8, D-H required */
} IkeSaCtx;

typedef struct IkeProposal {
        uint8_t num;                 /* Proposal Num */
        uint8_t proto;               /* Protocol ID as sent (BhProtocolId when known) */
        uint8_t spi_size;
        uint8_t spi[8];              /* spi_size octets */
        /* The transforms this suite implements, in the order of
         * policy/proposal.h (by type, then as sent); p.proto = proto. A
         * transform ID or key length not implemented here is left out. */
        BhProposal p;
        uint8_t n_sent;              /* Num Transforms */
        uint8_t n_skipped;           /* transforms left out of p */
        IkeErr verdict;              /* IKE_OK, or why it cannot be chosen (IKE_ERR_PROPOSAL_*) */
} IkeProposal;

typedef struct IkeSa {
        size_t n;                    /* proposals kept */
        size_t n_sent;               /* proposals in the payload */
        IkeProposal prop[IKE_SA_PROPOSALS_MAX];
} IkeSa;

/*
 * Decodes an SA payload body (RFC 7296 3.3). Fatal (INVALID_SYNTAX):
 * lengths that do not nest exactly (payload > proposals > transforms >
 * attributes), Last Substruc other than 2 (proposals) / 3 (transforms)
 * before the last and 0 on it, proposal numbers other than 1, 2, 3, ...,
 * Num Transforms zero or not the transforms present, SPI Size not 0/8 for
 * IKE (0 only in IKE_SA_INIT, 8 only for a rekey) and not 4 for ESP/AH, the
 * Key Length attribute in TLV form, twice, or on another type than ENCR; a
 * response (response = true) with more than one proposal or more than one
 * transform of a type. Not fatal, recorded in the proposal's verdict (3.3.6:
 * other proposals are processed as usual): unknown Protocol ID or one the
 * context excludes, unknown Transform Type (ESN in IKE included), unknown
 * attribute type, a mandatory type missing (D-H where ctx requires it),
 * Key Length missing for AES or present for a fixed-length cipher, a type
 * none of whose transforms is implemented here.
 */
IkeErr ike_sa_decode(const uint8_t *body, size_t len, IkeSaCtx ctx, bool response, IkeSa *ret);

/* The first proposal whose verdict is IKE_OK (its index in *ret_index, may
 * be NULL): IKE_OK; or, when none is, the verdict of the first proposal
 * (ike_err_notify() gives NO_PROPOSAL_CHOSEN for each). */
IkeErr ike_sa_acceptable(const IkeSa *sa, size_t *ret_index);

/* ------------------------------------------------------------ other payloads */

typedef struct IkeKe {
        uint16_t group;
        const uint8_t *data;
        size_t len;                  /* == ike_dh_ke_len(group) */
} IkeKe;

/* 3.4: group implemented here (IKE_ERR_KE_GROUP otherwise: answer
 * INVALID_KE_PAYLOAD), data exactly its length (so neither short nor
 * oversized), not all zero. Values 1 and p-1 and points off the curve are
 * cryptod's to refuse. */
IkeErr ike_ke_decode(const uint8_t *body, size_t len, IkeKe *ret);

typedef struct IkeNonce {
        const uint8_t *data;
        size_t len;
} IkeNonce;

/* 3.9, 2.10: 16..256 octets. */
IkeErr ike_nonce_decode(const uint8_t *body, size_t len, IkeNonce *ret);

typedef struct IkeNotify {
        uint8_t proto;               /* Protocol ID (0 when no SPI) */
        uint8_t spi_size;
        const uint8_t *spi;
        uint16_t type;
        const uint8_t *data;
        size_t data_len;
} IkeNotify;

/* 3.10: SPI Size 0, 4 (AH/ESP) or 8 (IKE), within the payload; the types
 * whose format RFC 7296 or its extensions fix are checked: COOKIE 1..64
 * octets, NAT_DETECTION_* 20, INVALID_KE_PAYLOAD 2, UNSUPPORTED_CRITICAL_
 * PAYLOAD 1, SET_WINDOW_SIZE 4, REKEY_SA with an AH/ESP SPI, the flags
 * (INITIAL_CONTACT, USE_TRANSPORT_MODE, ESP_TFC_PADDING_NOT_SUPPORTED,
 * NON_FIRST_FRAGMENTS_ALSO, IKEV2_FRAGMENTATION_SUPPORTED) empty,
 * SIGNATURE_HASH_ALGORITHMS a list of 16-bit numbers. Others are kept
 * opaque. */
IkeErr ike_notify_decode(const uint8_t *body, size_t len, IkeNotify *ret);

typedef struct IkeId {
        uint8_t type;                /* IKE_ID_* */
        const uint8_t *data;
        size_t len;
} IkeId;

/* 3.5: a known ID Type; IPv4 4 octets, IPv6 16, ID_NULL empty (RFC 7619),
 * the others 1..IKE_ID_DATA_MAX. The RESERVED octets are ignored. */
IkeErr ike_id_decode(const uint8_t *body, size_t len, IkeId *ret);

typedef struct IkeAuth {
        uint8_t method;              /* IKE_AUTH_* */
        const uint8_t *data;
        size_t len;
} IkeAuth;

/* 3.8: a known method, data 1..IKE_AUTH_DATA_MAX octets. */
IkeErr ike_auth_decode(const uint8_t *body, size_t len, IkeAuth *ret);

/* One selector (3.13.1), an address range and a port range. */
typedef struct IkeTs {
        uint8_t type;                /* IKE_TS_IPV4_ADDR_RANGE, IKE_TS_IPV6_ADDR_RANGE */
        uint8_t proto;               /* IP protocol, 0 = any */
        uint16_t port_start, port_end; /* 0-65535 any, 65535-0 OPAQUE */
        uint8_t start[16], end[16];  /* 4 or 16 octets used */
} IkeTs;

typedef struct IkeTsList {
        size_t n;
        IkeTs ts[IKE_TS_MAX];
} IkeTsList;

/* 3.13: Number of TSs 1..IKE_TS_MAX and exactly that many selectors filling
 * the payload, each of type 7 with length 16 or 8 with length 40 (others:
 * IKE_ERR_TS_TYPE, answered with TS_UNACCEPTABLE), start <= end for ports
 * (or OPAQUE) and addresses. Never reads past the payload, whatever the
 * Selector Length says. */
IkeErr ike_ts_decode(const uint8_t *body, size_t len, IkeTsList *ret);
/* The range a policy selector (prefix and ports) covers; -EINVAL for %any. */
int ike_ts_from_bh(const BhTs *bh, IkeTs *ret);

typedef struct IkeDelete {
        uint8_t proto;
        uint8_t spi_size;
        uint16_t n;                  /* Num of SPIs */
        const uint8_t *spis;         /* n * spi_size octets */
} IkeDelete;

/* 3.11: IKE with SPI Size 0 and no SPI; AH/ESP with SPI Size 4, at least
 * one SPI, Num of SPIs * 4 exactly the rest of the payload. */
IkeErr ike_delete_decode(const uint8_t *body, size_t len, IkeDelete *ret);
/* The i-th SPI of an AH/ESP Delete (i < n). */
uint32_t ike_delete_spi(const IkeDelete *d, size_t i);

typedef struct IkeCert {
        uint8_t encoding;            /* IKE_CERT_* */
        const uint8_t *data;
        size_t len;
} IkeCert;

/* 3.6, 3.7: CERT and CERTREQ are kept opaque: the encoding octet and data
 * (CERT: at least one octet of data). is_req selects CERTREQ. */
IkeErr ike_cert_decode(const uint8_t *body, size_t len, bool is_req, IkeCert *ret);

typedef struct IkeCpAttr {
        uint16_t type;               /* IKE_CFG_INTERNAL_* (R bit cleared) */
        const uint8_t *value;
        uint16_t len;
} IkeCpAttr;

typedef struct IkeCp {
        uint8_t cfg_type;            /* IKE_CFG_REQUEST .. IKE_CFG_ACK */
        size_t n;
        IkeCpAttr attr[IKE_CP_ATTRS_MAX];
} IkeCp;

/* 3.15: CFG Type 1..4, attributes each complete, the known ones with their
 * lengths (3.15.1: empty in a request, or 4 / 8 / 16 / 17 octets). */
IkeErr ike_cp_decode(const uint8_t *body, size_t len, IkeCp *ret);

/* 3.12: Vendor ID, 1 octet at least. 3.16: EAP, an EAP message whose own
 * Length field is the payload's (RFC 3748 4). */
IkeErr ike_vendor_decode(const uint8_t *body, size_t len);
IkeErr ike_eap_decode(const uint8_t *body, size_t len);

/* RFC 7383 2.5: Fragment Number 1..Total Fragments, and a body. */
IkeErr ike_skf_decode(const uint8_t *body, size_t len, uint16_t *ret_number, uint16_t *ret_total);

/* ------------------------------------------------------------ builder */

/*
 * Builds a message (or a chain of payloads to encrypt) into a caller buffer,
 * writing each Next Payload and Length field as it goes. It never writes
 * outside buf[0, size): a payload that does not fit fails with -ENOBUFS.
 * Each payload is checked with the decoder the parser uses before it is
 * linked in (-EINVAL otherwise), so that what it builds parses back equal.
 * Errors are sticky: after the first one, every call returns it, and
 * ike_build_finish() too.
 *
 * A message:  ike_builder_init(); ike_build_header(); payloads;
 *             [ike_build_sk()]; ike_build_finish() (writes the Length).
 * An SK chain: ike_builder_init(); payloads; ike_build_finish();
 *             ike_builder_first_type() gives SK's Next Payload.
 */
typedef struct IkeBuilder {
        uint8_t *buf;
        size_t size;
        size_t len;
        size_t np_off;               /* where the next payload's type goes; SIZE_MAX: first_type */
        uint8_t first_type;
        bool has_header;
        bool closed;                 /* SK/SKF appended: nothing may follow */
        int err;
} IkeBuilder;

void ike_builder_init(IkeBuilder *b, uint8_t *buf, size_t size);
/* Writes the 28-byte header (h->next_payload and h->length are filled in
 * later). Only as the first thing. */
int ike_build_header(IkeBuilder *b, const IkeHeader *h);

/* SA with proposals p[0, n), numbered first_num, first_num + 1, ... (1 in a
 * request; the number of the chosen proposal in a response), each with the
 * SPI spi[0, spi_size) (0 or 8 for IKE, 4 for ESP/AH). A Key Length
 * attribute goes with every transform whose key_bits is not 0. */
int ike_build_sa(IkeBuilder *b, const BhProposal *p, size_t n, uint8_t first_num, const uint8_t *spi,
                 size_t spi_size);
int ike_build_ke(IkeBuilder *b, uint16_t group, const uint8_t *data, size_t len);
int ike_build_nonce(IkeBuilder *b, const uint8_t *data, size_t len);
/* Notify; proto 0 and spi_size 0 for one about the IKE SA or none. */
int ike_build_notify(IkeBuilder *b, uint8_t proto, const uint8_t *spi, size_t spi_size, uint16_t type,
                     const uint8_t *data, size_t len);
int ike_build_cookie(IkeBuilder *b, const uint8_t *cookie, size_t len);
/* N(NAT_DETECTION_DESTINATION_IP) when destination, else _SOURCE_IP. */
int ike_build_nat_detection(IkeBuilder *b, bool destination, const uint8_t hash[IKE_NATD_HASH_LEN]);
/* payload_type IKE_PL_IDI or IKE_PL_IDR. */
int ike_build_id(IkeBuilder *b, uint8_t payload_type, uint8_t id_type, const uint8_t *data, size_t len);
int ike_build_auth(IkeBuilder *b, uint8_t method, const uint8_t *data, size_t len);
/* payload_type IKE_PL_TSI or IKE_PL_TSR. */
int ike_build_ts(IkeBuilder *b, uint8_t payload_type, const IkeTs *ts, size_t n);
/* Delete: proto IKE with n == 0, or AH/ESP with n >= 1 SPIs. */
int ike_build_delete(IkeBuilder *b, uint8_t proto, const uint32_t *spis, size_t n);
int ike_build_vendor(IkeBuilder *b, const uint8_t *data, size_t len);
/* payload_type IKE_PL_CERT or IKE_PL_CERTREQ. */
int ike_build_cert(IkeBuilder *b, uint8_t payload_type, uint8_t encoding, const uint8_t *data, size_t len);
int ike_build_cp(IkeBuilder *b, uint8_t cfg_type, const IkeCpAttr *attrs, size_t n);
int ike_build_eap(IkeBuilder *b, const uint8_t *data, size_t len);

/*
 * Appends SK (or with frag_total != 0, SKF fragment frag_number of
 * frag_total) with Next Payload first_inner and body_len octets of room for
 * IV || ciphertext || ICV, which cryptod fills in after ike_build_finish():
 * *ret_body points at the room, *ret_aad_len is the associated data length
 * (buf[0, *ret_aad_len)). Nothing may be appended after it.
 */
int ike_build_sk(IkeBuilder *b, uint8_t first_inner, size_t body_len, uint16_t frag_number,
                 uint16_t frag_total, uint8_t **ret_body, size_t *ret_aad_len);

/* Any payload as given, critical bit included, without checking the body:
 * for tests and for relaying an unrecognized payload. */
int ike_build_raw(IkeBuilder *b, uint8_t type, bool critical, const uint8_t *body, size_t len);

/* Writes the header's Length; the message (or chain) length in *ret_len. */
int ike_build_finish(IkeBuilder *b, size_t *ret_len);
/* Type of the first payload appended (IKE_PL_NONE if none). */
uint8_t ike_builder_first_type(const IkeBuilder *b);
