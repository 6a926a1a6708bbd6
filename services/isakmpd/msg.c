/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "msg.h"

/* Untrusted: everything parsed here comes from the network, before any
 * integrity check for the cleartext part, after cryptod's for the inner
 * chain (authenticated, but written by a peer that may be hostile). */

/* ------------------------------------------------------------ cursor reader */

/* The one reader for untrusted bytes, the same contract as filterd's
 * PktReader (services/filterd/pkt.h): every getter checks the remaining
 * length first (`n > len - off`, off <= len always) and fails without
 * moving the cursor. A sub-reader covers the next n bytes of its parent, so
 * that a length field can never let a nested structure read past its own
 * end. */
typedef struct Reader {
        const uint8_t *p;
        size_t len;
        size_t off;
} Reader;

static Reader reader(const uint8_t *p, size_t len) {
        return (Reader) { p, len, 0 };
}

static size_t left(const Reader *r) {
        return r->len - r->off;
}

static bool read_bytes(Reader *r, size_t n, const uint8_t **ret) {
        if (n > r->len - r->off)
                return false;
        *ret = r->p + r->off;
        r->off += n;
        return true;
}

/* Takes the next n bytes as a reader of their own. */
static bool read_sub(Reader *r, size_t n, Reader *ret) {
        const uint8_t *p;

        if (!read_bytes(r, n, &p))
                return false;
        *ret = reader(p, n);
        return true;
}

static bool skip(Reader *r, size_t n) {
        const uint8_t *unused;

        return read_bytes(r, n, &unused);
}

static bool read_u8(Reader *r, uint8_t *ret) {
        if (1 > r->len - r->off)
                return false;
        *ret = r->p[r->off++];
        return true;
}

static uint16_t load_be16(const uint8_t *b) {
        return (uint16_t) (b[0] << 8 | b[1]);
}

static uint32_t load_be32(const uint8_t *b) {
        return (uint32_t) b[0] << 24 | (uint32_t) b[1] << 16 | (uint32_t) b[2] << 8 | b[3];
}

static bool read_be16(Reader *r, uint16_t *ret) {
        const uint8_t *b;

        if (!read_bytes(r, 2, &b))
                return false;
        *ret = load_be16(b);
        return true;
}

static bool read_be32(Reader *r, uint32_t *ret) {
        const uint8_t *b;

        if (!read_bytes(r, 4, &b))
                return false;
        *ret = load_be32(b);
        return true;
}

static bool read_be64(Reader *r, uint64_t *ret) {
        const uint8_t *b;

        if (!read_bytes(r, 8, &b))
                return false;
        *ret = (uint64_t) load_be32(b) << 32 | load_be32(b + 4);
        return true;
}

static bool all_zero(const uint8_t *p, size_t n) {
        uint8_t acc = 0;

        for (size_t i = 0; i < n; i++)
                acc |= p[i];
        return acc == 0;
}

/* ------------------------------------------------------------ errors */

static const struct {
        const char *name;
        uint16_t notify;
} errors[_IKE_ERR_MAX] = {
        [IKE_OK] = { "OK", 0 },
        /* Header errors come before any state: RFC 7296 2.21.1 has them
         * dropped, with INVALID_MAJOR_VERSION the one answer (1.5). */
        [IKE_ERR_SHORT] = { "SHORT", 0 },
        [IKE_ERR_IKEV1] = { "IKEV1", 0 },
        [IKE_ERR_MAJOR_VERSION] = { "MAJOR_VERSION", IKE_N_INVALID_MAJOR_VERSION },
        [IKE_ERR_LENGTH_SMALL] = { "LENGTH_SMALL", 0 },
        [IKE_ERR_LENGTH_TRUNCATED] = { "LENGTH_TRUNCATED", 0 },
        [IKE_ERR_LENGTH_TRAILING] = { "LENGTH_TRAILING", 0 },
        [IKE_ERR_TOO_BIG] = { "TOO_BIG", 0 },
        [IKE_ERR_EXCHANGE] = { "EXCHANGE", 0 },
        [IKE_ERR_EXCHANGE_UNSUPPORTED] = { "EXCHANGE_UNSUPPORTED", 0 },
        [IKE_ERR_SPI_I_ZERO] = { "SPI_I_ZERO", 0 },
        [IKE_ERR_SPI_R_NONZERO] = { "SPI_R_NONZERO", 0 },
        [IKE_ERR_SPI_R_ZERO] = { "SPI_R_ZERO", 0 },
        [IKE_ERR_MESSAGE_ID] = { "MESSAGE_ID", 0 },
        [IKE_ERR_FLAGS] = { "FLAGS", 0 },
        [IKE_ERR_PAYLOAD_TRUNCATED] = { "PAYLOAD_TRUNCATED", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_PAYLOAD_LENGTH] = { "PAYLOAD_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_CRITICAL] = { "CRITICAL", IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD },
        [IKE_ERR_IKEV1_PAYLOAD] = { "IKEV1_PAYLOAD", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SK_NOT_LAST] = { "SK_NOT_LAST", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SK_NESTED] = { "SK_NESTED", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SK_SHORT] = { "SK_SHORT", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_TRAILING] = { "TRAILING", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_TOO_MANY_PAYLOADS] = { "TOO_MANY_PAYLOADS", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_DUPLICATE] = { "DUPLICATE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_EMPTY] = { "SA_EMPTY", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_PROPOSAL_LENGTH] = { "SA_PROPOSAL_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_LAST_SUBSTRUC] = { "SA_LAST_SUBSTRUC", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_PROPOSAL_NUMBER] = { "SA_PROPOSAL_NUMBER", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_SPI_SIZE] = { "SA_SPI_SIZE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_TRANSFORM_COUNT] = { "SA_TRANSFORM_COUNT", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_TRANSFORM_LENGTH] = { "SA_TRANSFORM_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_ATTRIBUTE] = { "SA_ATTRIBUTE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SA_RESPONSE] = { "SA_RESPONSE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_PROPOSAL_PROTOCOL] = { "PROPOSAL_PROTOCOL", IKE_N_NO_PROPOSAL_CHOSEN },
        [IKE_ERR_PROPOSAL_TRANSFORM_TYPE] = { "PROPOSAL_TRANSFORM_TYPE", IKE_N_NO_PROPOSAL_CHOSEN },
        [IKE_ERR_PROPOSAL_ATTRIBUTE] = { "PROPOSAL_ATTRIBUTE", IKE_N_NO_PROPOSAL_CHOSEN },
        [IKE_ERR_PROPOSAL_NO_DH] = { "PROPOSAL_NO_DH", IKE_N_NO_PROPOSAL_CHOSEN },
        [IKE_ERR_PROPOSAL_INCOMPLETE] = { "PROPOSAL_INCOMPLETE", IKE_N_NO_PROPOSAL_CHOSEN },
        [IKE_ERR_PROPOSAL_UNSUPPORTED] = { "PROPOSAL_UNSUPPORTED", IKE_N_NO_PROPOSAL_CHOSEN },
        [IKE_ERR_KE_GROUP] = { "KE_GROUP", IKE_N_INVALID_KE_PAYLOAD },
        [IKE_ERR_KE_LENGTH] = { "KE_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_KE_ZERO] = { "KE_ZERO", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_NONCE_LENGTH] = { "NONCE_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_NOTIFY_SPI] = { "NOTIFY_SPI", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_NOTIFY_PROTOCOL] = { "NOTIFY_PROTOCOL", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_NOTIFY_DATA] = { "NOTIFY_DATA", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_ID_TYPE] = { "ID_TYPE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_ID_LENGTH] = { "ID_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_AUTH_METHOD] = { "AUTH_METHOD", IKE_N_AUTHENTICATION_FAILED },
        [IKE_ERR_AUTH_LENGTH] = { "AUTH_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_TS_COUNT] = { "TS_COUNT", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_TS_LENGTH] = { "TS_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_TS_TYPE] = { "TS_TYPE", IKE_N_TS_UNACCEPTABLE },
        [IKE_ERR_TS_RANGE] = { "TS_RANGE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_TS_TOO_MANY] = { "TS_TOO_MANY", IKE_N_TS_UNACCEPTABLE },
        [IKE_ERR_DELETE_PROTOCOL] = { "DELETE_PROTOCOL", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_DELETE_SPI] = { "DELETE_SPI", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_OPAQUE_LENGTH] = { "OPAQUE_LENGTH", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_CP_TYPE] = { "CP_TYPE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_CP_ATTRIBUTE] = { "CP_ATTRIBUTE", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_CP_TOO_MANY] = { "CP_TOO_MANY", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_SKF_NUMBER] = { "SKF_NUMBER", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_NOT_ALLOWED] = { "NOT_ALLOWED", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_NOT_ENCRYPTED] = { "NOT_ENCRYPTED", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_MISSING_SK] = { "MISSING_SK", IKE_N_INVALID_SYNTAX },
        [IKE_ERR_MISSING_PAYLOAD] = { "MISSING_PAYLOAD", IKE_N_INVALID_SYNTAX },
};

const char *ike_err_name(IkeErr err) {
        if ((unsigned) err >= _IKE_ERR_MAX || !errors[err].name)
                return "UNKNOWN";
        return errors[err].name;
}

uint16_t ike_err_notify(IkeErr err) {
        if ((unsigned) err >= _IKE_ERR_MAX)
                return IKE_N_INVALID_SYNTAX;
        return errors[err].notify;
}

/* ------------------------------------------------------------ header */

IkeErr ike_header_parse(const uint8_t *buf, size_t len, IkeHeader *ret) {
        Reader r = reader(buf, len);
        IkeHeader h = {};
        uint8_t version;

        if (len < IKE_HEADER_LEN)
                return IKE_ERR_SHORT;
        /* Cannot fail: 28 bytes are there. */
        if (!read_be64(&r, &h.spi_i) || !read_be64(&r, &h.spi_r) || !read_u8(&r, &h.next_payload) ||
            !read_u8(&r, &version) || !read_u8(&r, &h.exchange) || !read_u8(&r, &h.flags) ||
            !read_be32(&r, &h.msg_id) || !read_be32(&r, &h.length))
                return IKE_ERR_SHORT;
        h.major = version >> 4;
        h.minor = version & 0x0f;
        *ret = h;

        /* 3.1: the minor version of a received message is ignored; a major
         * version above 2 is answered with INVALID_MAJOR_VERSION (1.5). */
        if (h.major == 1)
                return IKE_ERR_IKEV1;
        if (h.major != IKE_MAJOR_VERSION)
                return IKE_ERR_MAJOR_VERSION;
        if (h.length < IKE_HEADER_LEN)
                return IKE_ERR_LENGTH_SMALL;
        if (h.length > IKE_MSG_MAX_LEN)
                return IKE_ERR_TOO_BIG;
        if (h.length > len)
                return IKE_ERR_LENGTH_TRUNCATED;
        if (h.length < len)
                return IKE_ERR_LENGTH_TRAILING;

        switch (h.exchange) {
        case IKE_EXCH_IKE_SA_INIT:
        case IKE_EXCH_IKE_AUTH:
        case IKE_EXCH_CREATE_CHILD_SA:
        case IKE_EXCH_INFORMATIONAL:
                break;
        case IKE_EXCH_IKE_SESSION_RESUME:
        case IKE_EXCH_IKE_INTERMEDIATE:
        case IKE_EXCH_IKE_FOLLOWUP_KE:
                return IKE_ERR_EXCHANGE_UNSUPPORTED;
        default:
                return IKE_ERR_EXCHANGE;
        }

        /* 3.1: "This value MUST NOT be zero." */
        if (h.spi_i == 0)
                return IKE_ERR_SPI_I_ZERO;
        if (h.exchange == IKE_EXCH_IKE_SA_INIT) {
                /* 2.2: the first pair of messages has message ID 0, retries
                 * with a cookie or another KE group too. */
                if (h.msg_id != 0)
                        return IKE_ERR_MESSAGE_ID;
                if (ike_header_is_response(&h)) {
                        /* Only the original responder answers IKE_SA_INIT. */
                        if (ike_header_is_initiator(&h))
                                return IKE_ERR_FLAGS;
                } else {
                        if (!ike_header_is_initiator(&h))
                                return IKE_ERR_FLAGS;
                        /* 3.1: zero in the first message, repeats included. */
                        if (h.spi_r != 0)
                                return IKE_ERR_SPI_R_NONZERO;
                }
        } else if (h.spi_r == 0)
                return IKE_ERR_SPI_R_ZERO;
        return IKE_OK;
}

/* ------------------------------------------------------------ SA payload */

/* IANA ENCR ids of combined-mode ciphers (CCM, GCM, GMAC, Camellia-CCM,
 * ChaCha20-Poly1305): a proposal of those needs no INTEG transform
 * (RFC 5282 8). Known for ids Bulkhead does not implement too, so that a
 * peer's AEAD-only proposal is judged right. */
static bool encr_is_aead(uint16_t id) {
        return (id >= 14 && id <= 16) || (id >= 18 && id <= 21) || (id >= 25 && id <= 28);
}

/* The rank of policy/proposal.h's transform order: ENCR, INTEG, PRF, DH, ESN. */
static int type_rank(uint8_t type) {
        switch (type) {
        case BH_TRANSFORM_ENCR:
                return 0;
        case BH_TRANSFORM_INTEG:
                return 1;
        case BH_TRANSFORM_PRF:
                return 2;
        case BH_TRANSFORM_DH:
                return 3;
        default:
                return 4;
        }
}

/* Stable: within a type the peer's order is its preference. */
static void sort_transforms(BhProposal *p) {
        for (size_t i = 1; i < p->n; i++) {
                BhProposalTransform t = p->t[i];
                size_t j = i;

                while (j > 0 && type_rank(p->t[j - 1].type) > type_rank(t.type)) {
                        p->t[j] = p->t[j - 1];
                        j--;
                }
                p->t[j] = t;
        }
}

/* Is (type, id, key_bits) a transform this suite implements, the Key
 * Length attribute present exactly when the cipher has a variable key size
 * (RFC 7296 3.3.5: mandatory for AES, RFC 7634 2: absent for ChaCha20)? */
static bool transform_implemented(uint8_t type, uint16_t id, uint16_t key_bits, bool has_key_len) {
        if (!bh_proposal_transform_name(type, id))
                return false;
        if (type != BH_TRANSFORM_ENCR)
                return !has_key_len;
        const BhEncrInfo *e = bh_encr_lookup(id);
        if (!e)
                return false;
        bool variable = e->key_bits[1] != 0;
        if (!variable)
                return !has_key_len;
        if (!has_key_len)
                return false;
        for (size_t i = 0; i < G_N_ELEMENTS(e->key_bits) && e->key_bits[i]; i++)
                if (e->key_bits[i] == key_bits)
                        return true;
        return false;
}

#define TYPE_BIT(t) (1u << (t))

typedef struct TransformCtx {
        uint8_t proto;
        bool response;
        unsigned types_seen;            /* types on the wire (1..5), NONE ids left out */
        unsigned types_implemented;     /* types with at least one transform kept */
        unsigned type_count[6];         /* for a response: one of each type */
        bool all_encr_aead;             /* no ENCR transform needs an INTEG one */
} TransformCtx;

/* Decodes one Transform Substructure (3.3.2) from tr (exactly its bytes
 * after the 4-byte substructure header) into the proposal. */
static IkeErr transform_decode(Reader *tr, TransformCtx *c, IkeProposal *prop) {
        uint8_t type, reserved;
        uint16_t id, key_bits = 0;
        bool has_key_len = false, unknown_attr = false;

        if (!read_u8(tr, &type) || !read_u8(tr, &reserved) || !read_be16(tr, &id))
                return IKE_ERR_SA_TRANSFORM_LENGTH;

        /* Attributes (3.3.5): TV is type + 2-octet value, TLV type + length
         * + value, each within this transform. */
        while (left(tr) > 0) {
                uint16_t af_type, v;

                if (!read_be16(tr, &af_type) || !read_be16(tr, &v))
                        return IKE_ERR_SA_ATTRIBUTE;
                bool tv = af_type & IKE_ATTR_FORMAT_TV;
                uint16_t atype = af_type & (uint16_t) ~IKE_ATTR_FORMAT_TV;
                if (!tv && !skip(tr, v))
                        return IKE_ERR_SA_ATTRIBUTE;
                if (atype == IKE_ATTR_KEY_LENGTH) {
                        /* 3.3.5: Key Length is fixed size, hence TV; and
                         * it only has a meaning for encryption. */
                        if (!tv || type != BH_TRANSFORM_ENCR || has_key_len)
                                return IKE_ERR_SA_ATTRIBUTE;
                        has_key_len = true;
                        key_bits = v;
                } else
                        unknown_attr = true;
        }

        if (type >= BH_TRANSFORM_ENCR && type <= BH_TRANSFORM_ESN) {
                c->type_count[type]++;
                /* 2.7: the accepted suite holds one transform of each type. */
                if (c->response && c->type_count[type] > 1)
                        return IKE_ERR_SA_RESPONSE;
        }

        /* Not fatal from here on: this proposal only becomes unacceptable. */
        if (unknown_attr && prop->verdict == IKE_OK)
                prop->verdict = IKE_ERR_PROPOSAL_ATTRIBUTE;

        bool known_type = type >= BH_TRANSFORM_ENCR && type <= BH_TRANSFORM_ESN;
        /* 3.3.3: PRF is IKE's alone, ESN is AH's and ESP's alone, AH does
         * not encrypt. */
        if (known_type && c->proto == BH_PROTO_IKE && type == BH_TRANSFORM_ESN)
                known_type = false;
        if (known_type && (c->proto == BH_PROTO_ESP || c->proto == BH_PROTO_AH) && type == BH_TRANSFORM_PRF)
                known_type = false;
        if (known_type && c->proto == BH_PROTO_AH && type == BH_TRANSFORM_ENCR)
                known_type = false;
        if (!known_type) {
                if (prop->verdict == IKE_OK)
                        prop->verdict = IKE_ERR_PROPOSAL_TRANSFORM_TYPE;
                prop->n_skipped++;
                return IKE_OK;
        }

        /* INTEG NONE and D-H NONE (id 0) say "none of this type", which a
         * combined-mode cipher or a child SA without PFS may send. */
        if ((type == BH_TRANSFORM_INTEG || type == BH_TRANSFORM_DH) && id == 0) {
                prop->n_skipped++;
                return IKE_OK;
        }
        c->types_seen |= TYPE_BIT(type);
        if (type == BH_TRANSFORM_ENCR && !encr_is_aead(id))
                c->all_encr_aead = false;

        if (!unknown_attr && transform_implemented(type, id, key_bits, has_key_len)) {
                if (prop->p.n >= BH_PROPOSAL_TRANSFORMS_MAX) {
                        prop->n_skipped++;
                        if (prop->verdict == IKE_OK)
                                prop->verdict = IKE_ERR_PROPOSAL_UNSUPPORTED;
                        return IKE_OK;
                }
                prop->p.t[prop->p.n++] = (BhProposalTransform) { type, id, key_bits };
                c->types_implemented |= TYPE_BIT(type);
        } else
                prop->n_skipped++;
        return IKE_OK;
}

/* The verdict on a structurally sound proposal (3.3.3, 3.3.6). */
static IkeErr proposal_verdict(const IkeProposal *prop, const TransformCtx *c, IkeSaCtx ctx) {
        bool dh_required = ctx == IKE_SA_CTX_IKE_SA_INIT || ctx == IKE_SA_CTX_REKEY_IKE;

        if (prop->verdict != IKE_OK)
                return prop->verdict;
        switch (prop->proto) {
        case BH_PROTO_IKE:
                if (ctx == IKE_SA_CTX_CHILD)
                        return IKE_ERR_PROPOSAL_PROTOCOL;
                if (!(c->types_seen & TYPE_BIT(BH_TRANSFORM_ENCR)) || !(c->types_seen & TYPE_BIT(BH_TRANSFORM_PRF)))
                        return IKE_ERR_PROPOSAL_INCOMPLETE;
                if (!(c->types_seen & TYPE_BIT(BH_TRANSFORM_INTEG)) && !c->all_encr_aead)
                        return IKE_ERR_PROPOSAL_INCOMPLETE;
                break;
        case BH_PROTO_ESP:
                if (dh_required)
                        return IKE_ERR_PROPOSAL_PROTOCOL;
                if (!(c->types_seen & TYPE_BIT(BH_TRANSFORM_ENCR)))
                        return IKE_ERR_PROPOSAL_INCOMPLETE;
                break;
        case BH_PROTO_AH:
                if (dh_required)
                        return IKE_ERR_PROPOSAL_PROTOCOL;
                if (!(c->types_seen & TYPE_BIT(BH_TRANSFORM_INTEG)))
                        return IKE_ERR_PROPOSAL_INCOMPLETE;
                break;
        default:
                return IKE_ERR_PROPOSAL_PROTOCOL;
        }
        /* CVE-2016-5391's class: a proposal without D-H where the exchange
         * needs one is refused here, not found missing later. */
        if (dh_required && !(c->types_seen & TYPE_BIT(BH_TRANSFORM_DH)))
                return IKE_ERR_PROPOSAL_NO_DH;
        /* Every type the peer offered needs one transform we run. */
        if ((c->types_seen & c->types_implemented) != c->types_seen)
                return IKE_ERR_PROPOSAL_UNSUPPORTED;
        return IKE_OK;
}

/* SPI Size by protocol and context (3.3.1): IKE 0 in IKE_SA_INIT, 8 when
 * rekeying the IKE SA, AH and ESP 4. An unknown protocol's SPI is skipped. */
static bool spi_size_ok(uint8_t proto, uint8_t spi_size, IkeSaCtx ctx) {
        switch (proto) {
        case BH_PROTO_IKE:
                if (ctx == IKE_SA_CTX_IKE_SA_INIT)
                        return spi_size == 0;
                if (ctx == IKE_SA_CTX_REKEY_IKE)
                        return spi_size == 8;
                return spi_size == 0 || spi_size == 8;
        case BH_PROTO_AH:
        case BH_PROTO_ESP:
                return spi_size == 4;
        default:
                return true;
        }
}

/* any_number: the builder's check, where the first proposal may carry the
 * number of the one chosen (a response) without the response rules. */
static IkeErr sa_decode(const uint8_t *body, size_t len, IkeSaCtx ctx, bool response, bool any_number, IkeSa *ret) {
        Reader r = reader(body, len);
        uint8_t last = IKE_SUBSTRUC_PROPOSAL, prev_num = 0;

        ret->n = ret->n_sent = 0;
        if (len == 0)
                return IKE_ERR_SA_EMPTY;
        while (left(&r) > 0) {
                uint8_t reserved, num, proto, spi_size, n_transforms;
                uint16_t plen;
                Reader pr;
                IkeProposal prop = {};
                TransformCtx c = { .response = response, .all_encr_aead = true };

                /* 3.3.1: only the last proposal says 0. */
                if (last == IKE_SUBSTRUC_LAST)
                        return IKE_ERR_SA_LAST_SUBSTRUC;
                if (!read_u8(&r, &last) || !read_u8(&r, &reserved) || !read_be16(&r, &plen))
                        return IKE_ERR_SA_PROPOSAL_LENGTH;
                if (last != IKE_SUBSTRUC_LAST && last != IKE_SUBSTRUC_PROPOSAL)
                        return IKE_ERR_SA_LAST_SUBSTRUC;
                if (plen < 8 || !read_sub(&r, plen - 4u, &pr))
                        return IKE_ERR_SA_PROPOSAL_LENGTH;
                if (!read_u8(&pr, &num) || !read_u8(&pr, &proto) || !read_u8(&pr, &spi_size) ||
                    !read_u8(&pr, &n_transforms))
                        return IKE_ERR_SA_PROPOSAL_LENGTH;

                /* 3.3.1: the first proposal is 1, each next one adds one;
                 * a response carries the number of the proposal chosen. */
                if (ret->n_sent == 0) {
                        if (num == 0 || (num != 1 && !response && !any_number))
                                return IKE_ERR_SA_PROPOSAL_NUMBER;
                } else {
                        if (response)
                                return IKE_ERR_SA_RESPONSE;
                        if (num != (uint8_t) (prev_num + 1) || prev_num == UINT8_MAX)
                                return IKE_ERR_SA_PROPOSAL_NUMBER;
                }
                prev_num = num;

                if (!spi_size_ok(proto, spi_size, ctx))
                        return IKE_ERR_SA_SPI_SIZE;
                const uint8_t *spi;
                if (!read_bytes(&pr, spi_size, &spi))
                        return IKE_ERR_SA_PROPOSAL_LENGTH;
                if (n_transforms == 0)
                        return IKE_ERR_SA_TRANSFORM_COUNT;

                prop.num = num;
                prop.proto = proto;
                prop.spi_size = spi_size;
                if (spi_size <= sizeof prop.spi)
                        memcpy(prop.spi, spi, spi_size);
                prop.p.proto = (BhProtocolId) proto;
                prop.n_sent = n_transforms;
                c.proto = proto;

                for (unsigned k = 0; k < n_transforms; k++) {
                        uint8_t t_last, t_reserved;
                        uint16_t tlen;
                        Reader tr;

                        if (left(&pr) == 0)
                                return IKE_ERR_SA_TRANSFORM_COUNT;
                        if (!read_u8(&pr, &t_last) || !read_u8(&pr, &t_reserved) || !read_be16(&pr, &tlen))
                                return IKE_ERR_SA_TRANSFORM_LENGTH;
                        /* 3.3.2: 3 before the last transform, 0 on it. */
                        if (t_last != (k + 1u == n_transforms ? IKE_SUBSTRUC_LAST : IKE_SUBSTRUC_TRANSFORM))
                                return IKE_ERR_SA_LAST_SUBSTRUC;
                        if (tlen < 8 || !read_sub(&pr, tlen - 4u, &tr))
                                return IKE_ERR_SA_TRANSFORM_LENGTH;
                        IkeErr e = transform_decode(&tr, &c, &prop);
                        if (e != IKE_OK)
                                return e;
                }
                /* Bytes after the last transform: more transforms than
                 * Num Transforms says, or garbage. */
                if (left(&pr) != 0)
                        return IKE_ERR_SA_TRANSFORM_COUNT;

                sort_transforms(&prop.p);
                prop.verdict = proposal_verdict(&prop, &c, ctx);
                if (ret->n < IKE_SA_PROPOSALS_MAX)
                        ret->prop[ret->n++] = prop;
                ret->n_sent++;
        }
        if (last != IKE_SUBSTRUC_LAST)
                return IKE_ERR_SA_LAST_SUBSTRUC;
        return IKE_OK;
}

IkeErr ike_sa_decode(const uint8_t *body, size_t len, IkeSaCtx ctx, bool response, IkeSa *ret) {
        return sa_decode(body, len, ctx, response, false, ret);
}

IkeErr ike_sa_acceptable(const IkeSa *sa, size_t *ret_index) {
        for (size_t i = 0; i < sa->n; i++)
                if (sa->prop[i].verdict == IKE_OK) {
                        if (ret_index)
                                *ret_index = i;
                        return IKE_OK;
                }
        return sa->n > 0 ? sa->prop[0].verdict : IKE_ERR_SA_EMPTY;
}

/* ------------------------------------------------------------ KE, Nonce */

IkeErr ike_ke_decode(const uint8_t *body, size_t len, IkeKe *ret) {
        Reader r = reader(body, len);
        uint16_t group, reserved;

        if (!read_be16(&r, &group) || !read_be16(&r, &reserved))
                return IKE_ERR_PAYLOAD_LENGTH;
        /* CVE-2014-9221's class: the group decides everything after it, so
         * it is checked before the data is looked at. */
        size_t want = ike_dh_ke_len(group);
        if (want == 0)
                return IKE_ERR_KE_GROUP;
        /* CVE-2023-41913's class: exactly the group's length, never more. */
        if (left(&r) != want)
                return IKE_ERR_KE_LENGTH;
        /* CVE-2015-3240's class: g^x = 0 (or the point at 0, 0). */
        if (all_zero(r.p + r.off, want))
                return IKE_ERR_KE_ZERO;
        *ret = (IkeKe) { group, r.p + r.off, want };
        return IKE_OK;
}

IkeErr ike_nonce_decode(const uint8_t *body, size_t len, IkeNonce *ret) {
        if (len < IKE_NONCE_MIN || len > IKE_NONCE_MAX)
                return IKE_ERR_NONCE_LENGTH;
        *ret = (IkeNonce) { body, len };
        return IKE_OK;
}

/* ------------------------------------------------------------ Notify */

/* What RFC 7296 and its extensions fix about some notifications: the SPI
 * they need (-1: whatever) and their data length range. */
typedef struct NotifyRule {
        uint16_t type;
        int spi_size;
        size_t data_min, data_max;
        bool list16;                    /* data is a list of 16-bit values */
} NotifyRule;

static const NotifyRule notify_rules[] = {
        { IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, 0, 1, 1, false },
        { IKE_N_INVALID_KE_PAYLOAD, 0, 2, 2, false },
        { IKE_N_INITIAL_CONTACT, 0, 0, 0, false },
        { IKE_N_SET_WINDOW_SIZE, 0, 4, 4, false },
        { IKE_N_NAT_DETECTION_SOURCE_IP, 0, IKE_NATD_HASH_LEN, IKE_NATD_HASH_LEN, false },
        { IKE_N_NAT_DETECTION_DESTINATION_IP, 0, IKE_NATD_HASH_LEN, IKE_NATD_HASH_LEN, false },
        { IKE_N_COOKIE, 0, 1, IKE_COOKIE_MAX, false },
        { IKE_N_USE_TRANSPORT_MODE, 0, 0, 0, false },
        { IKE_N_REKEY_SA, 4, 0, 0, false },
        { IKE_N_ESP_TFC_PADDING_NOT_SUPPORTED, 0, 0, 0, false },
        { IKE_N_NON_FIRST_FRAGMENTS_ALSO, 0, 0, 0, false },
        { IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, 0, 0, 0, false },
        { IKE_N_SIGNATURE_HASH_ALGORITHMS, 0, 2, SIZE_MAX, true },
};

IkeErr ike_notify_decode(const uint8_t *body, size_t len, IkeNotify *ret) {
        Reader r = reader(body, len);
        IkeNotify n = {};

        if (!read_u8(&r, &n.proto) || !read_u8(&r, &n.spi_size) || !read_be16(&r, &n.type))
                return IKE_ERR_PAYLOAD_LENGTH;
        switch (n.spi_size) {
        case 0:
                /* 3.10: Protocol ID is then ignored on receipt. */
                n.proto = 0;
                break;
        case 4:
                if (n.proto != BH_PROTO_AH && n.proto != BH_PROTO_ESP)
                        return IKE_ERR_NOTIFY_PROTOCOL;
                break;
        case 8:
                if (n.proto != BH_PROTO_IKE)
                        return IKE_ERR_NOTIFY_PROTOCOL;
                break;
        default:
                return IKE_ERR_NOTIFY_SPI;
        }
        if (!read_bytes(&r, n.spi_size, &n.spi))
                return IKE_ERR_NOTIFY_SPI;
        if (n.spi_size == 0)
                n.spi = NULL;
        n.data = r.p + r.off;
        n.data_len = left(&r);
        if (n.data_len == 0)
                n.data = NULL;

        for (size_t i = 0; i < G_N_ELEMENTS(notify_rules); i++) {
                const NotifyRule *rule = &notify_rules[i];

                if (rule->type != n.type)
                        continue;
                if (rule->spi_size >= 0 && n.spi_size != (unsigned) rule->spi_size)
                        return IKE_ERR_NOTIFY_SPI;
                if (n.data_len < rule->data_min || n.data_len > rule->data_max)
                        return IKE_ERR_NOTIFY_DATA;
                if (rule->list16 && n.data_len % 2 != 0)
                        return IKE_ERR_NOTIFY_DATA;
                break;
        }
        *ret = n;
        return IKE_OK;
}

/* ------------------------------------------------------------ ID, AUTH */

IkeErr ike_id_decode(const uint8_t *body, size_t len, IkeId *ret) {
        Reader r = reader(body, len);
        uint8_t type;
        size_t min = 1, max = IKE_ID_DATA_MAX;

        if (!read_u8(&r, &type) || !skip(&r, 3))
                return IKE_ERR_PAYLOAD_LENGTH;
        switch (type) {
        case IKE_ID_IPV4_ADDR:
                min = max = 4;
                break;
        case IKE_ID_IPV6_ADDR:
                min = max = 16;
                break;
        case IKE_ID_NULL:
                /* RFC 7619 3: the data are empty. */
                min = max = 0;
                break;
        case IKE_ID_FQDN:
        case IKE_ID_RFC822_ADDR:
        case IKE_ID_DER_ASN1_DN:
        case IKE_ID_DER_ASN1_GN:
        case IKE_ID_KEY_ID:
        case IKE_ID_FC_NAME:
                break;
        default:
                return IKE_ERR_ID_TYPE;
        }
        if (left(&r) < min || left(&r) > max)
                return IKE_ERR_ID_LENGTH;
        *ret = (IkeId) { type, left(&r) ? r.p + r.off : NULL, left(&r) };
        return IKE_OK;
}

IkeErr ike_auth_decode(const uint8_t *body, size_t len, IkeAuth *ret) {
        Reader r = reader(body, len);
        uint8_t method;

        if (!read_u8(&r, &method) || !skip(&r, 3))
                return IKE_ERR_PAYLOAD_LENGTH;
        switch (method) {
        case IKE_AUTH_RSA_DIGITAL_SIGNATURE:
        case IKE_AUTH_SHARED_KEY_MIC:
        case IKE_AUTH_DSS_DIGITAL_SIGNATURE:
        case IKE_AUTH_ECDSA_SHA256_P256:
        case IKE_AUTH_ECDSA_SHA384_P384:
        case IKE_AUTH_ECDSA_SHA512_P521:
        case IKE_AUTH_GENERIC_SECURE_PASSWORD:
        case IKE_AUTH_NULL_AUTHENTICATION:
        case IKE_AUTH_DIGITAL_SIGNATURE:
                break;
        default:
                return IKE_ERR_AUTH_METHOD;
        }
        if (left(&r) == 0 || left(&r) > IKE_AUTH_DATA_MAX)
                return IKE_ERR_AUTH_LENGTH;
        *ret = (IkeAuth) { method, r.p + r.off, left(&r) };
        return IKE_OK;
}

/* ------------------------------------------------------------ TS */

IkeErr ike_ts_decode(const uint8_t *body, size_t len, IkeTsList *ret) {
        Reader r = reader(body, len);
        uint8_t count;

        ret->n = 0;
        if (!read_u8(&r, &count) || !skip(&r, 3))
                return IKE_ERR_PAYLOAD_LENGTH;
        if (count == 0)
                return IKE_ERR_TS_COUNT;
        for (unsigned i = 0; i < count; i++) {
                uint8_t type, proto;
                uint16_t sel_len;
                Reader sr;
                IkeTs ts = {};

                if (left(&r) == 0)
                        return IKE_ERR_TS_COUNT;
                if (!read_u8(&r, &type) || !read_u8(&r, &proto) || !read_be16(&r, &sel_len))
                        return IKE_ERR_TS_LENGTH;
                /* CVE-2023-23009's class: the Selector Length must hold the
                 * 4 octets already read and must not reach past the
                 * payload, before the type says anything. */
                if (sel_len < 4 || !read_sub(&r, sel_len - 4u, &sr))
                        return IKE_ERR_TS_LENGTH;
                size_t alen;
                switch (type) {
                case IKE_TS_IPV4_ADDR_RANGE:
                        if (sel_len != IKE_TS_IPV4_LEN)
                                return IKE_ERR_TS_LENGTH;
                        alen = 4;
                        break;
                case IKE_TS_IPV6_ADDR_RANGE:
                        if (sel_len != IKE_TS_IPV6_LEN)
                                return IKE_ERR_TS_LENGTH;
                        alen = 16;
                        break;
                default:
                        return IKE_ERR_TS_TYPE;
                }
                const uint8_t *start, *end;
                if (!read_be16(&sr, &ts.port_start) || !read_be16(&sr, &ts.port_end) ||
                    !read_bytes(&sr, alen, &start) || !read_bytes(&sr, alen, &end))
                        return IKE_ERR_TS_LENGTH;
                ts.type = type;
                ts.proto = proto;
                /* 3.13.1: start <= end, except 65535-0, OPAQUE ports. */
                bool opaque = ts.port_start == IKE_TS_OPAQUE_START && ts.port_end == IKE_TS_OPAQUE_END;
                if (ts.port_start > ts.port_end && !opaque)
                        return IKE_ERR_TS_RANGE;
                if (memcmp(start, end, alen) > 0)
                        return IKE_ERR_TS_RANGE;
                memcpy(ts.start, start, alen);
                memcpy(ts.end, end, alen);
                if (ret->n >= IKE_TS_MAX)
                        return IKE_ERR_TS_TOO_MANY;
                ret->ts[ret->n++] = ts;
        }
        if (left(&r) != 0)
                return IKE_ERR_TS_LENGTH;
        return IKE_OK;
}

int ike_ts_from_bh(const BhTs *bh, IkeTs *ret) {
        size_t alen = bh_addr_len(bh->addr.family);
        IkeTs ts = {};

        if (alen == 0 || bh->prefix_len > alen * 8)
                return -EINVAL;
        ts.type = bh->addr.family == AF_INET ? IKE_TS_IPV4_ADDR_RANGE : IKE_TS_IPV6_ADDR_RANGE;
        ts.proto = bh->proto;
        ts.port_start = bh->port_from;
        ts.port_end = bh->port_to;
        for (size_t i = 0; i < alen; i++) {
                size_t bits = i * 8;
                uint8_t mask;

                if (bh->prefix_len >= bits + 8)
                        mask = 0xff;
                else if (bh->prefix_len <= bits)
                        mask = 0;
                else
                        mask = (uint8_t) (0xff << (8 - (bh->prefix_len - bits)));
                ts.start[i] = bh->addr.bytes[i] & mask;
                ts.end[i] = (uint8_t) (bh->addr.bytes[i] | (uint8_t) ~mask);
        }
        *ret = ts;
        return 0;
}

/* ------------------------------------------------------------ Delete, CERT, V, EAP */

IkeErr ike_delete_decode(const uint8_t *body, size_t len, IkeDelete *ret) {
        Reader r = reader(body, len);
        IkeDelete d = {};

        if (!read_u8(&r, &d.proto) || !read_u8(&r, &d.spi_size) || !read_be16(&r, &d.n))
                return IKE_ERR_PAYLOAD_LENGTH;
        switch (d.proto) {
        case BH_PROTO_IKE:
                /* 3.11: the IKE SA's SPIs are in the header. */
                if (d.spi_size != 0 || d.n != 0 || left(&r) != 0)
                        return IKE_ERR_DELETE_SPI;
                break;
        case BH_PROTO_AH:
        case BH_PROTO_ESP:
                if (d.spi_size != 4 || d.n == 0 || left(&r) != (size_t) d.n * 4u)
                        return IKE_ERR_DELETE_SPI;
                d.spis = r.p + r.off;
                break;
        default:
                return IKE_ERR_DELETE_PROTOCOL;
        }
        *ret = d;
        return IKE_OK;
}

uint32_t ike_delete_spi(const IkeDelete *d, size_t i) {
        if (d->spi_size != 4 || i >= d->n)
                return 0;
        return load_be32(d->spis + i * 4u);
}

IkeErr ike_cert_decode(const uint8_t *body, size_t len, bool is_req, IkeCert *ret) {
        Reader r = reader(body, len);
        uint8_t encoding;

        if (!read_u8(&r, &encoding))
                return IKE_ERR_OPAQUE_LENGTH;
        /* A certificate has data; a CERTREQ may name no CA (3.7). */
        if (!is_req && left(&r) == 0)
                return IKE_ERR_OPAQUE_LENGTH;
        *ret = (IkeCert) { encoding, left(&r) ? r.p + r.off : NULL, left(&r) };
        return IKE_OK;
}

IkeErr ike_vendor_decode(const uint8_t *body, size_t len) {
        (void) body;
        return len == 0 ? IKE_ERR_OPAQUE_LENGTH : IKE_OK;
}

IkeErr ike_eap_decode(const uint8_t *body, size_t len) {
        /* RFC 3748 4: Code, Identifier, Length (the whole EAP packet). */
        if (len < 4 || load_be16(body + 2) != len)
                return IKE_ERR_OPAQUE_LENGTH;
        return IKE_OK;
}

/* ------------------------------------------------------------ CP */

/* 3.15.1: the values' lengths (a request may send any attribute empty). */
static bool cp_attr_len_ok(uint16_t type, uint16_t len) {
        switch (type) {
        case IKE_CFG_INTERNAL_IP4_ADDRESS:
        case IKE_CFG_INTERNAL_IP4_NETMASK:
        case IKE_CFG_INTERNAL_IP4_DNS:
        case IKE_CFG_INTERNAL_IP4_NBNS:
        case IKE_CFG_INTERNAL_IP4_DHCP:
                return len == 0 || len == 4;
        case IKE_CFG_INTERNAL_IP4_SUBNET:
                return len == 0 || len == 8;
        case IKE_CFG_INTERNAL_IP6_DNS:
        case IKE_CFG_INTERNAL_IP6_DHCP:
                return len == 0 || len == 16;
        case IKE_CFG_INTERNAL_IP6_ADDRESS:
        case IKE_CFG_INTERNAL_IP6_SUBNET:
                return len == 0 || len == 17;
        case IKE_CFG_SUPPORTED_ATTRIBUTES:
                return len % 2 == 0;
        default:
                return true;
        }
}

IkeErr ike_cp_decode(const uint8_t *body, size_t len, IkeCp *ret) {
        Reader r = reader(body, len);
        uint8_t type;

        ret->n = 0;
        if (!read_u8(&r, &type) || !skip(&r, 3))
                return IKE_ERR_PAYLOAD_LENGTH;
        if (type < IKE_CFG_REQUEST || type > IKE_CFG_ACK)
                return IKE_ERR_CP_TYPE;
        ret->cfg_type = type;
        while (left(&r) > 0) {
                uint16_t atype, alen;
                const uint8_t *value;

                if (!read_be16(&r, &atype) || !read_be16(&r, &alen) || !read_bytes(&r, alen, &value))
                        return IKE_ERR_CP_ATTRIBUTE;
                atype &= 0x7fff; /* the R bit is reserved: ignored */
                if (!cp_attr_len_ok(atype, alen))
                        return IKE_ERR_CP_ATTRIBUTE;
                if (ret->n >= IKE_CP_ATTRS_MAX)
                        return IKE_ERR_CP_TOO_MANY;
                ret->attr[ret->n++] = (IkeCpAttr) { atype, alen ? value : NULL, alen };
        }
        return IKE_OK;
}

/* ------------------------------------------------------------ SKF */

IkeErr ike_skf_decode(const uint8_t *body, size_t len, uint16_t *ret_number, uint16_t *ret_total) {
        Reader r = reader(body, len);
        uint16_t number, total;

        if (!read_be16(&r, &number) || !read_be16(&r, &total))
                return IKE_ERR_SK_SHORT;
        if (number == 0 || total == 0 || number > total)
                return IKE_ERR_SKF_NUMBER;
        if (left(&r) < IKE_SK_BODY_MIN)
                return IKE_ERR_SK_SHORT;
        *ret_number = number;
        *ret_total = total;
        return IKE_OK;
}

/* ------------------------------------------------------------ payload chain */

/* The types a message may carry more than once: notifications, deletes,
 * vendor IDs, a certificate chain, several CA requests (3.6, 3.7, 3.10-3.12). */
static bool allowed_once(uint8_t type) {
        switch (type) {
        case IKE_PL_NOTIFY:
        case IKE_PL_DELETE:
        case IKE_PL_VENDOR_ID:
        case IKE_PL_CERT:
        case IKE_PL_CERTREQ:
                return false;
        default:
                return true;
        }
}

size_t ike_msg_count(const IkeMsg *m, uint8_t type) {
        size_t n = 0;

        for (size_t i = 0; i < m->n; i++)
                n += m->pl[i].type == type;
        return n;
}

const IkePayload *ike_msg_find(const IkeMsg *m, uint8_t type) {
        for (size_t i = 0; i < m->n; i++)
                if (m->pl[i].type == type)
                        return &m->pl[i];
        return NULL;
}

const IkePayload *ike_msg_find_notify(const IkeMsg *m, uint16_t notify_type) {
        for (size_t i = 0; i < m->n; i++) {
                const IkePayload *p = &m->pl[i];

                /* Bodies were validated: the type is there. */
                if (p->type == IKE_PL_NOTIFY && p->len >= 4 && load_be16(p->body + 2) == notify_type)
                        return p;
        }
        return NULL;
}

/* The body of one payload, with the decoder the state machines use later. */
static IkeErr body_check(uint8_t type, const uint8_t *body, size_t len, bool response, bool any_number) {
        switch (type) {
        case IKE_PL_SA: {
                IkeSa sa;
                return sa_decode(body, len, IKE_SA_CTX_ANY, response, any_number, &sa);
        }
        case IKE_PL_KE: {
                IkeKe ke;
                return ike_ke_decode(body, len, &ke);
        }
        case IKE_PL_IDI:
        case IKE_PL_IDR: {
                IkeId id;
                return ike_id_decode(body, len, &id);
        }
        case IKE_PL_CERT:
        case IKE_PL_CERTREQ: {
                IkeCert c;
                return ike_cert_decode(body, len, type == IKE_PL_CERTREQ, &c);
        }
        case IKE_PL_AUTH: {
                IkeAuth a;
                return ike_auth_decode(body, len, &a);
        }
        case IKE_PL_NONCE: {
                IkeNonce n;
                return ike_nonce_decode(body, len, &n);
        }
        case IKE_PL_NOTIFY: {
                IkeNotify n;
                return ike_notify_decode(body, len, &n);
        }
        case IKE_PL_DELETE: {
                IkeDelete d;
                return ike_delete_decode(body, len, &d);
        }
        case IKE_PL_VENDOR_ID:
                return ike_vendor_decode(body, len);
        case IKE_PL_TSI:
        case IKE_PL_TSR: {
                IkeTsList ts;
                return ike_ts_decode(body, len, &ts);
        }
        case IKE_PL_CP: {
                IkeCp cp;
                return ike_cp_decode(body, len, &cp);
        }
        case IKE_PL_EAP:
                return ike_eap_decode(body, len);
        case IKE_PL_SK:
                return len < IKE_SK_BODY_MIN ? IKE_ERR_SK_SHORT : IKE_OK;
        case IKE_PL_SKF: {
                uint16_t number, total;
                return ike_skf_decode(body, len, &number, &total);
        }
        default:
                return IKE_OK;
        }
}

static IkeErr fail(IkeMsg *m, IkeErr e, uint8_t type, size_t off) {
        m->err_type = type;
        m->err_off = off;
        return e;
}

/* Walks one chain of payloads, buf[start, end), the first of type `first`
 * (3.2). Structure only: bodies are checked once the whole chain is known
 * to be sound. */
static IkeErr walk(IkeMsg *m, uint8_t first, const uint8_t *buf, size_t start, size_t end, bool inner) {
        Reader r = reader(buf, end);
        uint8_t np = first;

        r.off = start;
        while (np != IKE_PL_NONE) {
                size_t at = r.off;
                uint8_t next, flags;
                uint16_t plen;
                const uint8_t *body;

                if (m->n + m->n_skipped >= IKE_MSG_PAYLOADS_MAX)
                        return fail(m, IKE_ERR_TOO_MANY_PAYLOADS, np, at);
                if (left(&r) < IKE_PAYLOAD_HEADER_LEN)
                        return fail(m, IKE_ERR_PAYLOAD_TRUNCATED, np, at);
                if (!read_u8(&r, &next) || !read_u8(&r, &flags) || !read_be16(&r, &plen))
                        return fail(m, IKE_ERR_PAYLOAD_TRUNCATED, np, at);
                if (plen < IKE_PAYLOAD_HEADER_LEN || !read_bytes(&r, plen - IKE_PAYLOAD_HEADER_LEN, &body))
                        return fail(m, IKE_ERR_PAYLOAD_LENGTH, np, at);
                size_t body_len = plen - IKE_PAYLOAD_HEADER_LEN;
                bool critical = flags & IKE_PAYLOAD_CRITICAL;

                /* CVE-2015-3991's class: IKEv1 payload types have no
                 * meaning in IKEv2, critical bit or not. */
                if (ike_payload_is_ikev1(np))
                        return fail(m, IKE_ERR_IKEV1_PAYLOAD, np, at);
                /* 3.2: an unrecognized payload is skipped, unless critical:
                 * then the message is refused with UNSUPPORTED_CRITICAL_
                 * PAYLOAD, whose data is the type. The critical bit of a
                 * recognized payload is ignored. */
                if (!ike_payload_is_supported(np)) {
                        if (critical)
                                return fail(m, IKE_ERR_CRITICAL, np, at);
                        m->n_skipped++;
                        np = next;
                        continue;
                }
                if (np == IKE_PL_SK || np == IKE_PL_SKF) {
                        if (inner)
                                return fail(m, IKE_ERR_SK_NESTED, np, at);
                        /* 3.14, RFC 7383 2.5: the last payload; its Next
                         * Payload names the first inner payload. */
                        if (left(&r) != 0)
                                return fail(m, IKE_ERR_SK_NOT_LAST, np, at);
                }
                if (allowed_once(np) && ike_msg_count(m, np) > 0)
                        return fail(m, IKE_ERR_DUPLICATE, np, at);

                m->pl[m->n++] = (IkePayload) { np, critical, inner, at, body, body_len };
                if (np == IKE_PL_SK || np == IKE_PL_SKF) {
                        /* SKF's Fragment Number and Total Fragments belong
                         * to its header: in the associated data, not in
                         * the body cryptod opens. A body too short for
                         * them is refused by check_bodies(). */
                        size_t extra = np == IKE_PL_SKF ? 4u : 0u;
                        size_t cut = body_len < extra ? body_len : extra;

                        m->sk = (IkeSk) {
                                .present = true,
                                .type = np,
                                .next = next,
                                .off = at,
                                .len = plen,
                                .aad_len = at + IKE_PAYLOAD_HEADER_LEN + extra,
                                .body = body + cut,
                                .body_len = body_len - cut,
                        };
                        if (np == IKE_PL_SKF && body_len >= 4) {
                                m->sk.frag_number = load_be16(body);
                                m->sk.frag_total = load_be16(body + 2);
                        }
                        return IKE_OK;
                }
                np = next;
        }
        if (left(&r) != 0)
                return fail(m, IKE_ERR_TRAILING, IKE_PL_NONE, r.off);
        return IKE_OK;
}

static IkeErr check_bodies(IkeMsg *m, size_t from) {
        bool response = ike_header_is_response(&m->hdr);

        for (size_t i = from; i < m->n; i++) {
                const IkePayload *p = &m->pl[i];
                IkeErr e = body_check(p->type, p->body, p->len, response, false);

                if (e != IKE_OK)
                        return fail(m, e, p->type, p->off);
        }
        return IKE_OK;
}

IkeErr ike_msg_parse(const uint8_t *buf, size_t len, IkeMsg *ret) {
        IkeErr e;

        ret->n = ret->n_outer = ret->n_skipped = 0;
        ret->sk = (IkeSk) {};
        ret->inner_parsed = false;
        ret->err_type = IKE_PL_NONE;
        ret->err_off = 0;
        ret->raw = buf;

        e = ike_header_parse(buf, len, &ret->hdr);
        if (e != IKE_OK)
                return fail(ret, e, IKE_PL_NONE, 0);
        e = walk(ret, ret->hdr.next_payload, buf, IKE_HEADER_LEN, ret->hdr.length, false);
        ret->n_outer = ret->n;
        if (e != IKE_OK)
                return e;
        return check_bodies(ret, 0);
}

IkeErr ike_msg_parse_inner(IkeMsg *m, uint8_t first_type, const uint8_t *plain, size_t len) {
        IkeErr e;
        size_t from = m->n;

        if (!m->sk.present || m->inner_parsed)
                return fail(m, IKE_ERR_MISSING_SK, IKE_PL_SK, 0);
        e = walk(m, first_type, plain, 0, len, true);
        if (e != IKE_OK)
                return e;
        e = check_bodies(m, from);
        if (e != IKE_OK)
                return e;
        m->inner_parsed = true;
        return IKE_OK;
}

/* ------------------------------------------------------------ exchange rules */

/* A set of payload types 33..54 as bits. */
typedef uint64_t PlSet;
#define PL(t) ((PlSet) 1 << ((t) - 32))

static PlSet pl_set(const IkeMsg *m, size_t from, size_t to) {
        PlSet s = 0;

        for (size_t i = from; i < to; i++)
                if (m->pl[i].type >= 33 && m->pl[i].type < 32 + 64)
                        s |= PL(m->pl[i].type);
        return s;
}

/* The lowest type in s (for reporting). */
static uint8_t pl_first(PlSet s) {
        for (unsigned t = 33; t < 32 + 64; t++)
                if (s & PL(t))
                        return (uint8_t) t;
        return IKE_PL_NONE;
}

/* What only travels inside SK (1.2-1.5: identities, credentials,
 * selectors, configuration, EAP, deletes). */
static const PlSet only_encrypted = PL(IKE_PL_IDI) | PL(IKE_PL_IDR) | PL(IKE_PL_CERT) | PL(IKE_PL_AUTH) |
                                    PL(IKE_PL_TSI) | PL(IKE_PL_TSR) | PL(IKE_PL_CP) | PL(IKE_PL_EAP) |
                                    PL(IKE_PL_DELETE);

static IkeErr report(uint8_t *ret_type, IkeErr e, uint8_t type) {
        if (ret_type)
                *ret_type = type;
        return e;
}

/* SA, TSi and TSr come together or not at all (1.3, 2.9). */
static IkeErr child_triple(PlSet s, uint8_t *ret_type) {
        PlSet triple = PL(IKE_PL_SA) | PL(IKE_PL_TSI) | PL(IKE_PL_TSR);

        if ((s & triple) != 0 && (s & triple) != triple)
                return report(ret_type, IKE_ERR_MISSING_PAYLOAD, pl_first(triple & ~s));
        return IKE_OK;
}

static IkeErr check_sa(const IkeMsg *m, IkeSaCtx ctx, bool judge, uint8_t *ret_type) {
        const IkePayload *p = ike_msg_find(m, IKE_PL_SA);
        bool response = ike_header_is_response(&m->hdr);
        IkeSa sa;

        if (!p)
                return IKE_OK;
        IkeErr e = ike_sa_decode(p->body, p->len, ctx, response, &sa);
        if (e == IKE_OK && judge)
                e = ike_sa_acceptable(&sa, NULL);
        return e == IKE_OK ? IKE_OK : report(ret_type, e, IKE_PL_SA);
}

static IkeErr check_ike_sa_init(const IkeMsg *m, PlSet outer, uint8_t *ret_type) {
        PlSet core = PL(IKE_PL_SA) | PL(IKE_PL_KE) | PL(IKE_PL_NONCE);

        if (!ike_header_is_response(&m->hdr)) {
                /* CVE-2013-6467's class: a request without SA, KE or Ni is
                 * refused here, so that no handler meets a missing one. */
                if ((outer & core) != core)
                        return report(ret_type, IKE_ERR_MISSING_PAYLOAD, pl_first(core & ~outer));
        } else if ((outer & core) != 0) {
                if ((outer & core) != core)
                        return report(ret_type, IKE_ERR_MISSING_PAYLOAD, pl_first(core & ~outer));
        } else if (!(outer & PL(IKE_PL_NOTIFY)))
                /* 1.2, 2.6, 1.3: an answer without SA is a COOKIE,
                 * INVALID_KE_PAYLOAD or error notification. */
                return report(ret_type, IKE_ERR_MISSING_PAYLOAD, IKE_PL_NOTIFY);
        /* 3.3.1: IKE proposals with SPI size 0; one acceptable at least, or
         * the answer is NO_PROPOSAL_CHOSEN (for the request), and the
         * chosen one must be sound (for the response). */
        return check_sa(m, IKE_SA_CTX_IKE_SA_INIT, true, ret_type);
}

static IkeErr check_inner(const IkeMsg *m, uint8_t *ret_type) {
        bool response = ike_header_is_response(&m->hdr);
        PlSet inner = pl_set(m, m->n_outer, m->n);
        PlSet allowed;
        IkeErr e;

        switch (m->hdr.exchange) {
        case IKE_EXCH_IKE_AUTH:
                allowed = PL(IKE_PL_IDR) | PL(IKE_PL_CERT) | PL(IKE_PL_AUTH) | PL(IKE_PL_EAP) | PL(IKE_PL_CP) |
                          PL(IKE_PL_SA) | PL(IKE_PL_TSI) | PL(IKE_PL_TSR) | PL(IKE_PL_NOTIFY) | PL(IKE_PL_VENDOR_ID);
                if (!response)
                        allowed |= PL(IKE_PL_IDI) | PL(IKE_PL_CERTREQ);
                break;
        case IKE_EXCH_CREATE_CHILD_SA:
                allowed = PL(IKE_PL_SA) | PL(IKE_PL_NONCE) | PL(IKE_PL_KE) | PL(IKE_PL_TSI) | PL(IKE_PL_TSR) |
                          PL(IKE_PL_NOTIFY) | PL(IKE_PL_VENDOR_ID);
                break;
        case IKE_EXCH_INFORMATIONAL:
                allowed = PL(IKE_PL_NOTIFY) | PL(IKE_PL_DELETE) | PL(IKE_PL_CP) | PL(IKE_PL_VENDOR_ID);
                break;
        default:
                allowed = 0;
                break;
        }
        if (inner & ~allowed)
                return report(ret_type, IKE_ERR_NOT_ALLOWED, pl_first(inner & ~allowed));

        switch (m->hdr.exchange) {
        case IKE_EXCH_IKE_AUTH:
                if (!response && !(inner & (PL(IKE_PL_IDI) | PL(IKE_PL_AUTH) | PL(IKE_PL_EAP))))
                        return report(ret_type, IKE_ERR_MISSING_PAYLOAD, IKE_PL_IDI);
                if (response && !(inner & (PL(IKE_PL_AUTH) | PL(IKE_PL_EAP) | PL(IKE_PL_NOTIFY))))
                        return report(ret_type, IKE_ERR_MISSING_PAYLOAD, IKE_PL_AUTH);
                e = child_triple(inner, ret_type);
                if (e != IKE_OK)
                        return e;
                return check_sa(m, IKE_SA_CTX_CHILD, false, ret_type);
        case IKE_EXCH_CREATE_CHILD_SA: {
                PlSet ts_pair = PL(IKE_PL_TSI) | PL(IKE_PL_TSR);
                bool ts = inner & ts_pair;

                if (!response || (inner & PL(IKE_PL_SA))) {
                        if (!(inner & PL(IKE_PL_SA)))
                                return report(ret_type, IKE_ERR_MISSING_PAYLOAD, IKE_PL_SA);
                        if (!(inner & PL(IKE_PL_NONCE)))
                                return report(ret_type, IKE_ERR_MISSING_PAYLOAD, IKE_PL_NONCE);
                        /* TSi and TSr together (a child SA) or neither (a
                         * rekey of the IKE SA). */
                        if (ts && (inner & ts_pair) != ts_pair)
                                return report(ret_type, IKE_ERR_MISSING_PAYLOAD, pl_first(ts_pair & ~inner));
                } else if (!(inner & PL(IKE_PL_NOTIFY)))
                        return report(ret_type, IKE_ERR_MISSING_PAYLOAD, IKE_PL_NOTIFY);
                /* 1.3.1 vs 1.3.2: with selectors a child SA, without them a
                 * rekey of the IKE SA, whose proposals carry an 8-octet SPI
                 * and a D-H group. */
                return check_sa(m, ts ? IKE_SA_CTX_CHILD : IKE_SA_CTX_REKEY_IKE, false, ret_type);
        }
        default:
                return IKE_OK;
        }
}

IkeErr ike_msg_check_exchange(const IkeMsg *m, uint8_t *ret_type) {
        PlSet outer = pl_set(m, 0, m->n_outer);
        PlSet sk = PL(IKE_PL_SK) | PL(IKE_PL_SKF);

        if (ret_type)
                *ret_type = IKE_PL_NONE;
        if (m->hdr.exchange == IKE_EXCH_IKE_SA_INIT) {
                PlSet allowed = PL(IKE_PL_SA) | PL(IKE_PL_KE) | PL(IKE_PL_NONCE) | PL(IKE_PL_NOTIFY) |
                                PL(IKE_PL_VENDOR_ID) | PL(IKE_PL_CERTREQ);

                if (outer & only_encrypted)
                        return report(ret_type, IKE_ERR_NOT_ENCRYPTED, pl_first(outer & only_encrypted));
                /* No key exists yet: SK and SKF cannot be there (RFC 7383
                 * 2.5.3: IKE_SA_INIT is never fragmented). */
                if (outer & ~allowed)
                        return report(ret_type, IKE_ERR_NOT_ALLOWED, pl_first(outer & ~allowed));
                return check_ike_sa_init(m, outer, ret_type);
        }

        /* After IKE_SA_INIT everything travels inside SK or SKF. */
        if (outer & ~sk)
                return report(ret_type, IKE_ERR_NOT_ENCRYPTED, pl_first(outer & ~sk));
        if (!(outer & sk))
                return report(ret_type, IKE_ERR_MISSING_SK, IKE_PL_SK);
        if (!m->inner_parsed)
                return IKE_OK;
        return check_inner(m, ret_type);
}

/* ------------------------------------------------------------ builder */

void ike_builder_init(IkeBuilder *b, uint8_t *buf, size_t size) {
        *b = (IkeBuilder) { .buf = buf, .size = size, .np_off = SIZE_MAX };
}

uint8_t ike_builder_first_type(const IkeBuilder *b) {
        return b->first_type;
}

static uint8_t *put(IkeBuilder *b, size_t n) {
        if (b->err)
                return NULL;
        if (n > b->size - b->len) {
                b->err = -ENOBUFS;
                return NULL;
        }
        uint8_t *p = b->buf + b->len;
        b->len += n;
        return p;
}

static void put_u8(IkeBuilder *b, uint8_t v) {
        uint8_t *p = put(b, 1);
        if (p)
                p[0] = v;
}

static void store_be16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static void store_be32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static void put_be16(IkeBuilder *b, uint16_t v) {
        uint8_t *p = put(b, 2);
        if (p)
                store_be16(p, v);
}

static void put_be32(IkeBuilder *b, uint32_t v) {
        uint8_t *p = put(b, 4);
        if (p)
                store_be32(p, v);
}

static void put_bytes(IkeBuilder *b, const void *data, size_t n) {
        uint8_t *p = put(b, n);
        if (p && n)
                memcpy(p, data, n);
}

static void put_zero(IkeBuilder *b, size_t n) {
        uint8_t *p = put(b, n);
        if (p && n)
                memset(p, 0, n);
}

static int builder_error(IkeBuilder *b, int err) {
        if (!b->err)
                b->err = err;
        return b->err;
}

int ike_build_header(IkeBuilder *b, const IkeHeader *h) {
        if (b->err)
                return b->err;
        if (b->len != 0 || b->has_header)
                return builder_error(b, -EINVAL);
        uint8_t *p = put(b, IKE_HEADER_LEN);
        if (!p)
                return b->err;
        store_be32(p, (uint32_t) (h->spi_i >> 32));
        store_be32(p + 4, (uint32_t) h->spi_i);
        store_be32(p + 8, (uint32_t) (h->spi_r >> 32));
        store_be32(p + 12, (uint32_t) h->spi_r);
        p[16] = IKE_PL_NONE;
        p[17] = IKE_VERSION;
        p[18] = h->exchange;
        /* 3.1: the flags this implementation sends; Version never. */
        p[19] = h->flags & (IKE_FLAG_INITIATOR | IKE_FLAG_RESPONSE);
        store_be32(p + 20, h->msg_id);
        store_be32(p + 24, 0);
        b->has_header = true;
        b->np_off = 16;
        return 0;
}

/* Starts a payload: its generic header, Next Payload 0 and the Length to be
 * written by payload_end(). Returns its offset, or SIZE_MAX. */
static size_t payload_begin(IkeBuilder *b, bool critical) {
        if (b->err)
                return SIZE_MAX;
        if (b->closed) {
                builder_error(b, -EINVAL);
                return SIZE_MAX;
        }
        size_t start = b->len;
        put_u8(b, IKE_PL_NONE);
        put_u8(b, critical ? IKE_PAYLOAD_CRITICAL : 0);
        put_be16(b, 0);
        return b->err ? SIZE_MAX : start;
}

/* Ends the payload begun at start: writes its Length, checks its body with
 * the parser's decoder (unless raw), then links it into the chain. On
 * failure the payload is taken back out and the error sticks. */
static int payload_end(IkeBuilder *b, size_t start, uint8_t type, bool raw) {
        if (start == SIZE_MAX || b->err) {
                if (start != SIZE_MAX)
                        b->len = start;
                return b->err ? b->err : builder_error(b, -EINVAL);
        }
        size_t plen = b->len - start;
        if (plen > UINT16_MAX) {
                b->len = start;
                return builder_error(b, -EMSGSIZE);
        }
        store_be16(b->buf + start + 2, (uint16_t) plen);
        if (!raw) {
                bool response = b->has_header && (b->buf[19] & IKE_FLAG_RESPONSE);
                if (body_check(type, b->buf + start + IKE_PAYLOAD_HEADER_LEN, plen - IKE_PAYLOAD_HEADER_LEN,
                               response, true) != IKE_OK) {
                        b->len = start;
                        return builder_error(b, -EINVAL);
                }
        }
        if (b->np_off == SIZE_MAX) {
                if (b->first_type == IKE_PL_NONE)
                        b->first_type = type;
        } else
                b->buf[b->np_off] = type;
        b->np_off = start;
        return 0;
}

int ike_build_raw(IkeBuilder *b, uint8_t type, bool critical, const uint8_t *body, size_t len) {
        size_t start = payload_begin(b, critical);
        put_bytes(b, body, len);
        return payload_end(b, start, type, true);
}

/* A payload whose body is a fixed 4-octet head and opaque data. */
static int build_simple(IkeBuilder *b, uint8_t type, const uint8_t *head, size_t head_len, const uint8_t *data,
                        size_t len) {
        size_t start = payload_begin(b, false);
        put_bytes(b, head, head_len);
        put_bytes(b, data, len);
        return payload_end(b, start, type, false);
}

static int build_transform(IkeBuilder *b, const BhProposalTransform *t, bool last) {
        size_t start = b->len;

        put_u8(b, last ? IKE_SUBSTRUC_LAST : IKE_SUBSTRUC_TRANSFORM);
        put_u8(b, 0);
        put_be16(b, 0);
        put_u8(b, t->type);
        put_u8(b, 0);
        put_be16(b, t->id);
        if (t->key_bits) {
                put_be16(b, IKE_ATTR_FORMAT_TV | IKE_ATTR_KEY_LENGTH);
                put_be16(b, t->key_bits);
        }
        if (b->err)
                return b->err;
        store_be16(b->buf + start + 2, (uint16_t) (b->len - start));
        return 0;
}

int ike_build_sa(IkeBuilder *b, const BhProposal *p, size_t n, uint8_t first_num, const uint8_t *spi,
                 size_t spi_size) {
        if (b->err)
                return b->err;
        if (n == 0 || first_num == 0 || n > (size_t) (UINT8_MAX - first_num + 1) || spi_size > 8 ||
            (spi_size && !spi))
                return builder_error(b, -EINVAL);
        for (size_t i = 0; i < n; i++)
                if (!spi_size_ok((uint8_t) p[i].proto, (uint8_t) spi_size, IKE_SA_CTX_ANY))
                        return builder_error(b, -EINVAL);
        size_t start = payload_begin(b, false);
        for (size_t i = 0; i < n && !b->err; i++) {
                size_t pstart = b->len;

                if (p[i].n == 0 || p[i].n > BH_PROPOSAL_TRANSFORMS_MAX) {
                        builder_error(b, -EINVAL);
                        break;
                }
                put_u8(b, i + 1 == n ? IKE_SUBSTRUC_LAST : IKE_SUBSTRUC_PROPOSAL);
                put_u8(b, 0);
                put_be16(b, 0);
                put_u8(b, (uint8_t) (first_num + i));
                put_u8(b, (uint8_t) p[i].proto);
                put_u8(b, (uint8_t) spi_size);
                put_u8(b, p[i].n);
                put_bytes(b, spi, spi_size);
                for (size_t k = 0; k < p[i].n; k++)
                        build_transform(b, &p[i].t[k], k + 1 == p[i].n);
                if (b->err)
                        break;
                if (b->len - pstart > UINT16_MAX) {
                        builder_error(b, -EMSGSIZE);
                        break;
                }
                store_be16(b->buf + pstart + 2, (uint16_t) (b->len - pstart));
        }
        return payload_end(b, start, IKE_PL_SA, false);
}

int ike_build_ke(IkeBuilder *b, uint16_t group, const uint8_t *data, size_t len) {
        uint8_t head[4] = { (uint8_t) (group >> 8), (uint8_t) group, 0, 0 };
        return build_simple(b, IKE_PL_KE, head, 4, data, len);
}

int ike_build_nonce(IkeBuilder *b, const uint8_t *data, size_t len) {
        return build_simple(b, IKE_PL_NONCE, NULL, 0, data, len);
}

int ike_build_notify(IkeBuilder *b, uint8_t proto, const uint8_t *spi, size_t spi_size, uint16_t type,
                     const uint8_t *data, size_t len) {
        if (b->err)
                return b->err;
        if (spi_size > 8 || (spi_size && !spi))
                return builder_error(b, -EINVAL);
        size_t start = payload_begin(b, false);
        put_u8(b, spi_size ? proto : 0);
        put_u8(b, (uint8_t) spi_size);
        put_be16(b, type);
        put_bytes(b, spi, spi_size);
        put_bytes(b, data, len);
        return payload_end(b, start, IKE_PL_NOTIFY, false);
}

int ike_build_cookie(IkeBuilder *b, const uint8_t *cookie, size_t len) {
        return ike_build_notify(b, 0, NULL, 0, IKE_N_COOKIE, cookie, len);
}

int ike_build_nat_detection(IkeBuilder *b, bool destination, const uint8_t hash[IKE_NATD_HASH_LEN]) {
        return ike_build_notify(b, 0, NULL, 0,
                                destination ? IKE_N_NAT_DETECTION_DESTINATION_IP : IKE_N_NAT_DETECTION_SOURCE_IP, hash,
                                IKE_NATD_HASH_LEN);
}

int ike_build_id(IkeBuilder *b, uint8_t payload_type, uint8_t id_type, const uint8_t *data, size_t len) {
        uint8_t head[4] = { id_type, 0, 0, 0 };

        if (payload_type != IKE_PL_IDI && payload_type != IKE_PL_IDR)
                return builder_error(b, -EINVAL);
        return build_simple(b, payload_type, head, 4, data, len);
}

int ike_build_auth(IkeBuilder *b, uint8_t method, const uint8_t *data, size_t len) {
        uint8_t head[4] = { method, 0, 0, 0 };
        return build_simple(b, IKE_PL_AUTH, head, 4, data, len);
}

int ike_build_ts(IkeBuilder *b, uint8_t payload_type, const IkeTs *ts, size_t n) {
        if (b->err)
                return b->err;
        if ((payload_type != IKE_PL_TSI && payload_type != IKE_PL_TSR) || n == 0 || n > IKE_TS_MAX)
                return builder_error(b, -EINVAL);
        size_t start = payload_begin(b, false);
        put_u8(b, (uint8_t) n);
        put_zero(b, 3);
        for (size_t i = 0; i < n; i++) {
                size_t alen = ts[i].type == IKE_TS_IPV4_ADDR_RANGE ? 4 : 16;

                /* An unknown type is written as IPv6-sized and refused by
                 * the check in payload_end(). */
                put_u8(b, ts[i].type);
                put_u8(b, ts[i].proto);
                put_be16(b, (uint16_t) (8 + 2 * alen));
                put_be16(b, ts[i].port_start);
                put_be16(b, ts[i].port_end);
                put_bytes(b, ts[i].start, alen);
                put_bytes(b, ts[i].end, alen);
        }
        return payload_end(b, start, payload_type, false);
}

int ike_build_delete(IkeBuilder *b, uint8_t proto, const uint32_t *spis, size_t n) {
        if (b->err)
                return b->err;
        if (n > UINT16_MAX || (n && !spis))
                return builder_error(b, -EINVAL);
        size_t start = payload_begin(b, false);
        put_u8(b, proto);
        put_u8(b, proto == BH_PROTO_IKE ? 0 : 4);
        put_be16(b, (uint16_t) n);
        for (size_t i = 0; i < n; i++)
                put_be32(b, spis[i]);
        return payload_end(b, start, IKE_PL_DELETE, false);
}

int ike_build_vendor(IkeBuilder *b, const uint8_t *data, size_t len) {
        return build_simple(b, IKE_PL_VENDOR_ID, NULL, 0, data, len);
}

int ike_build_cert(IkeBuilder *b, uint8_t payload_type, uint8_t encoding, const uint8_t *data, size_t len) {
        if (payload_type != IKE_PL_CERT && payload_type != IKE_PL_CERTREQ)
                return builder_error(b, -EINVAL);
        return build_simple(b, payload_type, &encoding, 1, data, len);
}

int ike_build_cp(IkeBuilder *b, uint8_t cfg_type, const IkeCpAttr *attrs, size_t n) {
        if (b->err)
                return b->err;
        if (n > IKE_CP_ATTRS_MAX)
                return builder_error(b, -EINVAL);
        size_t start = payload_begin(b, false);
        put_u8(b, cfg_type);
        put_zero(b, 3);
        for (size_t i = 0; i < n; i++) {
                put_be16(b, attrs[i].type & 0x7fff);
                put_be16(b, attrs[i].len);
                put_bytes(b, attrs[i].value, attrs[i].len);
        }
        return payload_end(b, start, IKE_PL_CP, false);
}

int ike_build_eap(IkeBuilder *b, const uint8_t *data, size_t len) {
        return build_simple(b, IKE_PL_EAP, NULL, 0, data, len);
}

int ike_build_sk(IkeBuilder *b, uint8_t first_inner, size_t body_len, uint16_t frag_number, uint16_t frag_total,
                 uint8_t **ret_body, size_t *ret_aad_len) {
        bool skf = frag_total != 0;
        uint8_t type = skf ? IKE_PL_SKF : IKE_PL_SK;

        if (b->err)
                return b->err;
        if (!b->has_header || body_len < IKE_SK_BODY_MIN || (skf && (frag_number == 0 || frag_number > frag_total)))
                return builder_error(b, -EINVAL);
        size_t start = payload_begin(b, false);
        if (start == SIZE_MAX)
                return b->err;
        /* RFC 7383 2.5: only fragment 1 names the first inner payload. */
        b->buf[start] = skf && frag_number != 1 ? IKE_PL_NONE : first_inner;
        if (skf) {
                put_be16(b, frag_number);
                put_be16(b, frag_total);
        }
        size_t aad_len = b->len;
        uint8_t *body = put(b, body_len);
        if (body)
                memset(body, 0, body_len);
        int r = payload_end(b, start, type, false);
        if (r < 0)
                return r;
        b->closed = true;
        if (ret_body)
                *ret_body = b->buf + aad_len;
        if (ret_aad_len)
                *ret_aad_len = aad_len;
        return 0;
}

int ike_build_finish(IkeBuilder *b, size_t *ret_len) {
        if (b->err)
                return b->err;
        if (b->has_header) {
                if (b->len > IKE_MSG_MAX_LEN)
                        return builder_error(b, -EMSGSIZE);
                store_be32(b->buf + 24, (uint32_t) b->len);
        }
        if (ret_len)
                *ret_len = b->len;
        return 0;
}
