/* SPDX-License-Identifier: ISC */
/* The IKEv2 message layer of isakmpd (services/isakmpd/msg.c), which reads
 * every datagram that arrives on UDP 500 and 4500 (untrusted: anyone on the
 * network, before any authentication).
 *
 * Input: one byte that chooses what to fuzz, then
 *   FUZZ_IKE_MESSAGE  two bytes (big-endian) of datagram length L, the
 *                     datagram (L bytes, or what is left), then what the
 *                     SK payload decrypts to (its inner payload chain):
 *                     ike_msg_parse(), ike_msg_check_exchange(),
 *                     ike_msg_parse_inner(), the look-ups
 *   FUZZ_IKE_DECODER  one byte: the decoder (low 4 bits; for SA, the context
 *                     in bits 4-5 and "response" in bit 6), then the body
 *   FUZZ_IKE_HEADER   the datagram: ike_header_parse() and the name tables
 *
 * Checks besides the sanitizers:
 *  - every IkeErr is one of the enum and has a name;
 *  - msg.h's promise: the decoders cannot fail on a payload that
 *    ike_msg_parse() (or ike_msg_parse_inner()) accepted; every stored
 *    pointer lies inside the caller's buffer;
 *  - a parsed message rebuilt with the builder (header, the same payloads
 *    raw, SK with the same body) parses back to the same header and
 *    payloads, with the same associated data length;
 *  - what a decoder accepted, built again with the typed builder (which
 *    checks it with the same decoder), decodes back equal.
 * Every buffer is a heap block of exactly its size. */
#include <string.h>

#include "fuzz.h"
#include "msg.h"

enum {
        FUZZ_IKE_MESSAGE = 0,
        FUZZ_IKE_DECODER = 1,
        FUZZ_IKE_HEADER = 2,
        FUZZ_IKE_MODES = 3,
};

enum {
        DEC_SA, DEC_KE, DEC_NONCE, DEC_NOTIFY, DEC_ID, DEC_AUTH, DEC_TS, DEC_DELETE, DEC_CERT, DEC_CERTREQ,
        DEC_CP, DEC_VENDOR, DEC_EAP, DEC_SKF, N_DECODERS,
};

/* An exact-size heap copy (one byte for an empty one, never read). */
static uint8_t *dup_exact(const uint8_t *p, size_t n) {
        uint8_t *c = g_malloc(n ? n : 1);
        if (n)
                memcpy(c, p, n);
        return c;
}

static void check_err(IkeErr e, const char *what) {
        FUZZ_CHECK((unsigned) e < _IKE_ERR_MAX, "%s returned %d", what, (int) e);
        FUZZ_CHECK(ike_err_name(e) != NULL, "%s: error %d has no name", what, (int) e);
        (void) ike_err_notify(e);
}

static const char *pl_name(unsigned type) {
        const char *n = ike_payload_name(type);
        return n ? n : "?";
}

/* p[0, n) within buf[0, len); an empty range may point anywhere (NULL). */
static bool inside(const uint8_t *p, size_t n, const uint8_t *buf, size_t len) {
        if (n == 0)
                return true;
        return p >= buf && (size_t) (p - buf) <= len && n <= len - (size_t) (p - buf);
}

/* ------------------------------------------------------------ decoders */

static IkeErr decode_payload(uint8_t type, const uint8_t *body, size_t len, bool response) {
        switch (type) {
        case IKE_PL_SA: {
                IkeSa sa;
                IkeErr e = ike_sa_decode(body, len, IKE_SA_CTX_ANY, response, &sa);
                if (e == IKE_OK) {
                        (void) ike_sa_acceptable(&sa, NULL);
                        FUZZ_CHECK(sa.n <= IKE_SA_PROPOSALS_MAX && sa.n <= sa.n_sent, "SA: %zu of %zu proposals", sa.n,
                                   sa.n_sent);
                }
                return e;
        }
        case IKE_PL_KE: {
                IkeKe ke;
                IkeErr e = ike_ke_decode(body, len, &ke);
                if (e == IKE_OK)
                        FUZZ_CHECK(inside(ke.data, ke.len, body, len) && ke.len == ike_dh_ke_len(ke.group), "KE data");
                return e;
        }
        case IKE_PL_IDI:
        case IKE_PL_IDR: {
                IkeId id;
                IkeErr e = ike_id_decode(body, len, &id);
                if (e == IKE_OK)
                        FUZZ_CHECK(inside(id.data, id.len, body, len), "ID data outside the payload");
                return e;
        }
        case IKE_PL_CERT:
        case IKE_PL_CERTREQ: {
                IkeCert c;
                IkeErr e = ike_cert_decode(body, len, type == IKE_PL_CERTREQ, &c);
                if (e == IKE_OK)
                        FUZZ_CHECK(inside(c.data, c.len, body, len), "CERT data outside the payload");
                return e;
        }
        case IKE_PL_AUTH: {
                IkeAuth a;
                IkeErr e = ike_auth_decode(body, len, &a);
                if (e == IKE_OK)
                        FUZZ_CHECK(inside(a.data, a.len, body, len), "AUTH data outside the payload");
                return e;
        }
        case IKE_PL_NONCE: {
                IkeNonce n;
                IkeErr e = ike_nonce_decode(body, len, &n);
                if (e == IKE_OK)
                        FUZZ_CHECK(inside(n.data, n.len, body, len) && n.len >= IKE_NONCE_MIN && n.len <= IKE_NONCE_MAX,
                                   "nonce");
                return e;
        }
        case IKE_PL_NOTIFY: {
                IkeNotify n;
                IkeErr e = ike_notify_decode(body, len, &n);
                if (e == IKE_OK) {
                        FUZZ_CHECK(inside(n.data, n.data_len, body, len), "notify data outside the payload");
                        FUZZ_CHECK(n.spi_size == 0 || inside(n.spi, n.spi_size, body, len), "notify SPI outside");
                        (void) ike_notify_name(n.type);
                }
                return e;
        }
        case IKE_PL_DELETE: {
                IkeDelete d;
                IkeErr e = ike_delete_decode(body, len, &d);
                if (e == IKE_OK) {
                        FUZZ_CHECK(d.n == 0 || inside(d.spis, (size_t) d.n * d.spi_size, body, len),
                                   "delete SPIs outside the payload");
                        if (d.spi_size == 4)
                                for (size_t i = 0; i < d.n; i++)
                                        (void) ike_delete_spi(&d, i);
                }
                return e;
        }
        case IKE_PL_VENDOR_ID:
                return ike_vendor_decode(body, len);
        case IKE_PL_TSI:
        case IKE_PL_TSR: {
                IkeTsList ts;
                IkeErr e = ike_ts_decode(body, len, &ts);
                if (e == IKE_OK)
                        FUZZ_CHECK(ts.n >= 1 && ts.n <= IKE_TS_MAX, "%zu selectors", ts.n);
                return e;
        }
        case IKE_PL_CP: {
                IkeCp cp;
                IkeErr e = ike_cp_decode(body, len, &cp);
                if (e == IKE_OK) {
                        FUZZ_CHECK(cp.n <= IKE_CP_ATTRS_MAX, "%zu CP attributes", cp.n);
                        for (size_t i = 0; i < cp.n; i++)
                                FUZZ_CHECK(cp.attr[i].len == 0 || inside(cp.attr[i].value, cp.attr[i].len, body, len),
                                           "CP attribute outside the payload");
                }
                return e;
        }
        case IKE_PL_EAP:
                return ike_eap_decode(body, len);
        case IKE_PL_SKF: {
                uint16_t number, total;
                IkeErr e = ike_skf_decode(body, len, &number, &total);
                if (e == IKE_OK)
                        FUZZ_CHECK(number >= 1 && number <= total, "fragment %u of %u", number, total);
                return e;
        }
        default:
                return IKE_OK;
        }
}

/* ------------------------------------------------------------ messages */

static void check_payloads(const IkeMsg *m, size_t from, const uint8_t *buf, size_t len) {
        bool response = ike_header_is_response(&m->hdr);
        for (size_t i = from; i < m->n; i++) {
                const IkePayload *p = &m->pl[i];
                FUZZ_CHECK(ike_payload_is_supported(p->type), "payload of type %u kept", p->type);
                FUZZ_CHECK(inside(p->body, p->len, buf, len), "payload %zu outside its buffer", i);
                FUZZ_CHECK(p->off <= len && p->off + IKE_PAYLOAD_HEADER_LEN <= len, "payload %zu: offset", i);
                if (p->type == IKE_PL_SK)
                        continue;
                IkeErr e = decode_payload(p->type, p->body, p->len, response);
                FUZZ_CHECK(e == IKE_OK, "payload %zu (%s) accepted by the parser, refused by its decoder: %s", i,
                           pl_name(p->type), ike_err_name(e));
                FUZZ_CHECK(ike_msg_find(m, p->type) != NULL && ike_msg_count(m, p->type) >= 1, "look-up of %s",
                           pl_name(p->type));
                if (p->type == IKE_PL_NOTIFY) {
                        IkeNotify n;
                        ike_notify_decode(p->body, p->len, &n);
                        FUZZ_CHECK(ike_msg_find_notify(m, n.type) != NULL, "notify %u not found", n.type);
                }
        }
}

static bool same_payloads(const IkeMsg *a, const IkeMsg *b, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const IkePayload *x = &a->pl[i], *y = &b->pl[i];
                /* ike_build_sk() has no critical bit to set (and the parser
                 * ignores it on a payload it knows). */
                bool sk = x->type == IKE_PL_SK || x->type == IKE_PL_SKF;
                if (x->type != y->type || (!sk && x->critical != y->critical) || x->len != y->len ||
                    (x->len && memcmp(x->body, y->body, x->len) != 0))
                        return false;
        }
        return true;
}

/* The message again, from what the parser understood. */
static void check_rebuild(const IkeMsg *m) {
        if (m->n_skipped > 0)
                return; /* skipped payloads are not kept: nothing to rebuild them from */
        size_t size = m->hdr.length;
        uint8_t *out = g_malloc(size);
        IkeBuilder b;
        ike_builder_init(&b, out, size);
        int r = ike_build_header(&b, &m->hdr);
        for (size_t i = 0; i < m->n_outer && r == 0; i++) {
                const IkePayload *p = &m->pl[i];
                if (p->type == IKE_PL_SK || p->type == IKE_PL_SKF) {
                        uint8_t *body = NULL;
                        size_t aad_len = 0;
                        r = ike_build_sk(&b, m->sk.next, m->sk.body_len, p->type == IKE_PL_SKF ? m->sk.frag_number : 0,
                                         p->type == IKE_PL_SKF ? m->sk.frag_total : 0, &body, &aad_len);
                        if (r == 0) {
                                memcpy(body, m->sk.body, m->sk.body_len);
                                FUZZ_CHECK(aad_len == m->sk.aad_len, "rebuilt SK: associated data %zu, parsed %zu",
                                           aad_len, m->sk.aad_len);
                        }
                } else
                        r = ike_build_raw(&b, p->type, p->critical, p->body, p->len);
        }
        size_t out_len = 0;
        if (r == 0)
                r = ike_build_finish(&b, &out_len);
        FUZZ_CHECK(r == 0, "the builder refuses to rebuild a message the parser accepted: %d", r);
        FUZZ_CHECK(out_len == size, "rebuilt message of %zu bytes, %zu parsed", out_len, size);

        IkeMsg *back = g_new0(IkeMsg, 1);
        IkeErr e = ike_msg_parse(out, out_len, back);
        FUZZ_CHECK(e == IKE_OK, "rebuilt message refused: %s at payload %s", ike_err_name(e),
                   pl_name(back->err_type));
        FUZZ_CHECK(back->hdr.spi_i == m->hdr.spi_i && back->hdr.spi_r == m->hdr.spi_r &&
                           back->hdr.exchange == m->hdr.exchange && back->hdr.msg_id == m->hdr.msg_id &&
                           back->hdr.major == m->hdr.major &&
                           (back->hdr.flags & (IKE_FLAG_INITIATOR | IKE_FLAG_RESPONSE)) ==
                                   (m->hdr.flags & (IKE_FLAG_INITIATOR | IKE_FLAG_RESPONSE)),
                   "rebuilt message has another header");
        FUZZ_CHECK(back->n == m->n_outer && same_payloads(m, back, back->n), "rebuilt message has other payloads");
        /* RFC 7383 2.5: fragments after the first carry no Next Payload;
         * the builder writes 0 there, whatever the parsed one said. */
        bool names_next = m->sk.type == IKE_PL_SK || m->sk.frag_number == 1;
        FUZZ_CHECK(back->sk.present == m->sk.present && back->sk.aad_len == m->sk.aad_len &&
                           back->sk.body_len == m->sk.body_len && (!names_next || back->sk.next == m->sk.next) &&
                           back->sk.frag_number == m->sk.frag_number && back->sk.frag_total == m->sk.frag_total,
                   "rebuilt message has another SK");
        g_free(back);
        g_free(out);
}

static void fuzz_message(const uint8_t *data, size_t size) {
        FuzzInput in = { data, size };
        size_t l = (size_t) fuzz_u8(&in) << 8;
        l |= fuzz_u8(&in);
        if (l > in.len)
                l = in.len;
        uint8_t *dgram = dup_exact(in.p, l);
        size_t plain_len = in.len - l;
        uint8_t *plain = dup_exact(in.p + l, plain_len);

        IkeMsg *m = g_new0(IkeMsg, 1);
        IkeErr e = ike_msg_parse(dgram, l, m);
        check_err(e, "ike_msg_parse");
        FUZZ_CHECK(m->n <= IKE_MSG_PAYLOADS_MAX && m->n_outer == m->n, "payload counts");
        if (e == IKE_OK) {
                FUZZ_CHECK(m->hdr.length == l && m->raw == dgram, "message length");
                check_payloads(m, 0, dgram, l);
                if (m->sk.present) {
                        FUZZ_CHECK(inside(m->sk.body, m->sk.body_len, dgram, l) && m->sk.aad_len <= l &&
                                           m->sk.aad_len <= (size_t) (m->sk.body - dgram),
                                   "SK body or associated data outside the message");
                        FUZZ_CHECK(m->n_outer >= 1 && (m->pl[m->n_outer - 1].type == IKE_PL_SK ||
                                                       m->pl[m->n_outer - 1].type == IKE_PL_SKF),
                                   "SK is not the last payload");
                }
                uint8_t type = 0;
                check_err(ike_msg_check_exchange(m, &type), "ike_msg_check_exchange");
                check_rebuild(m);

                if (m->sk.present) {
                        size_t n_before = m->n;
                        e = ike_msg_parse_inner(m, m->sk.next, plain, plain_len);
                        check_err(e, "ike_msg_parse_inner");
                        FUZZ_CHECK(m->n <= IKE_MSG_PAYLOADS_MAX && m->n_outer == n_before, "payload counts");
                        if (e == IKE_OK) {
                                FUZZ_CHECK(m->inner_parsed, "inner chain parsed but not marked");
                                for (size_t i = n_before; i < m->n; i++)
                                        FUZZ_CHECK(m->pl[i].encrypted, "inner payload %zu not marked encrypted", i);
                                check_payloads(m, n_before, plain, plain_len);
                                check_err(ike_msg_check_exchange(m, &type), "ike_msg_check_exchange");
                                e = ike_msg_parse_inner(m, m->sk.next, plain, plain_len);
                                FUZZ_CHECK(e == IKE_ERR_MISSING_SK, "inner chain parsed twice");
                        }
                }
        } else if (e >= IKE_ERR_SA_EMPTY) {
                /* A sound chain with a bad body: pl[] is complete. */
                for (size_t i = 0; i < m->n; i++)
                        FUZZ_CHECK(inside(m->pl[i].body, m->pl[i].len, dgram, l), "payload %zu outside", i);
        }
        g_free(m);
        g_free(plain);
        g_free(dgram);
}

/* ------------------------------------------------------------ decoders alone */

/* Builds one payload with the typed builder; returns its body (g_free) or
 * NULL when the builder refuses it. */
typedef int (*BuildFunc)(IkeBuilder *b, const void *arg);

static uint8_t *built_body(size_t room, BuildFunc build, const void *arg, size_t *ret_len) {
        uint8_t *buf = g_malloc(room);
        IkeBuilder b;
        size_t len = 0;
        ike_builder_init(&b, buf, room);
        if (build(&b, arg) != 0 || ike_build_finish(&b, &len) != 0) {
                g_free(buf);
                return NULL;
        }
        FUZZ_CHECK(len >= IKE_PAYLOAD_HEADER_LEN && len <= room, "built chain of %zu bytes", len);
        FUZZ_CHECK(((size_t) buf[2] << 8 | buf[3]) == len, "built payload length field");
        *ret_len = len - IKE_PAYLOAD_HEADER_LEN;
        uint8_t *body = dup_exact(buf + IKE_PAYLOAD_HEADER_LEN, *ret_len);
        g_free(buf);
        return body;
}

typedef struct SaArg {
        const IkeProposal *p;
        uint8_t num;
} SaArg;
static int build_sa_one(IkeBuilder *b, const void *arg) {
        const SaArg *a = arg;
        return ike_build_sa(b, &a->p->p, 1, a->num, a->p->spi, a->p->spi_size);
}
static int build_ke(IkeBuilder *b, const void *arg) {
        const IkeKe *k = arg;
        return ike_build_ke(b, k->group, k->data, k->len);
}
static int build_nonce(IkeBuilder *b, const void *arg) {
        const IkeNonce *n = arg;
        return ike_build_nonce(b, n->data, n->len);
}
static int build_notify(IkeBuilder *b, const void *arg) {
        const IkeNotify *n = arg;
        return ike_build_notify(b, n->proto, n->spi, n->spi_size, n->type, n->data, n->data_len);
}
static int build_id(IkeBuilder *b, const void *arg) {
        const IkeId *id = arg;
        return ike_build_id(b, IKE_PL_IDI, id->type, id->data, id->len);
}
static int build_auth(IkeBuilder *b, const void *arg) {
        const IkeAuth *a = arg;
        return ike_build_auth(b, a->method, a->data, a->len);
}
static int build_ts(IkeBuilder *b, const void *arg) {
        const IkeTsList *t = arg;
        return ike_build_ts(b, IKE_PL_TSR, t->ts, t->n);
}
typedef struct DeleteArg {
        const IkeDelete *d;
        uint32_t *spis;
} DeleteArg;
static int build_delete(IkeBuilder *b, const void *arg) {
        const DeleteArg *a = arg;
        return ike_build_delete(b, a->d->proto, a->d->spi_size == 4 ? a->spis : NULL, a->d->spi_size == 4 ? a->d->n : 0);
}
typedef struct CertArg {
        const IkeCert *c;
        bool req;
} CertArg;
static int build_cert(IkeBuilder *b, const void *arg) {
        const CertArg *a = arg;
        return ike_build_cert(b, a->req ? IKE_PL_CERTREQ : IKE_PL_CERT, a->c->encoding, a->c->data, a->c->len);
}
static int build_cp(IkeBuilder *b, const void *arg) {
        const IkeCp *cp = arg;
        return ike_build_cp(b, cp->cfg_type, cp->attr, cp->n);
}
typedef struct BytesArg {
        const uint8_t *p;
        size_t len;
} BytesArg;
static int build_vendor(IkeBuilder *b, const void *arg) {
        const BytesArg *a = arg;
        return ike_build_vendor(b, a->p, a->len);
}
static int build_eap(IkeBuilder *b, const void *arg) {
        const BytesArg *a = arg;
        return ike_build_eap(b, a->p, a->len);
}

static bool ts_equal(const IkeTs *a, const IkeTs *b) {
        size_t n = a->type == IKE_TS_IPV4_ADDR_RANGE ? 4 : 16;
        return a->type == b->type && a->proto == b->proto && a->port_start == b->port_start &&
               a->port_end == b->port_end && memcmp(a->start, b->start, n) == 0 && memcmp(a->end, b->end, n) == 0;
}

static void fuzz_decoder(const uint8_t *data, size_t size) {
        if (size < 1)
                return;
        unsigned which = (data[0] & 15) % N_DECODERS;
        IkeSaCtx ctx = (IkeSaCtx) ((data[0] >> 4) & 3);
        bool response = data[0] & 0x40;
        size_t len = size - 1, blen = 0;
        uint8_t *body = dup_exact(data + 1, len);
        size_t room = len + 1024;
        IkeErr e;

        switch (which) {
        case DEC_SA: {
                IkeSa *sa = g_new0(IkeSa, 1);
                e = ike_sa_decode(body, len, ctx, response, sa);
                check_err(e, "ike_sa_decode");
                if (e == IKE_OK) {
                        size_t idx = 0;
                        IkeErr a = ike_sa_acceptable(sa, &idx);
                        check_err(a, "ike_sa_acceptable");
                        if (a == IKE_OK)
                                FUZZ_CHECK(idx < sa->n && sa->prop[idx].verdict == IKE_OK, "acceptable index");
                        for (size_t i = 0; i < sa->n; i++) {
                                const IkeProposal *p = &sa->prop[i];
                                FUZZ_CHECK(p->p.n <= BH_PROPOSAL_TRANSFORMS_MAX, "proposal with %u transforms", p->p.n);
                                if (p->p.n == 0)
                                        continue;
                                /* Alone: number 1 in a request; a response keeps
                                 * the number of the proposal it chose. */
                                SaArg arg = { p, response ? p->num : 1 };
                                g_autofree uint8_t *b = built_body(room, build_sa_one, &arg, &blen);
                                if (!b)
                                        continue;
                                IkeSa *back = g_new0(IkeSa, 1);
                                IkeErr e2 = ike_sa_decode(b, blen, IKE_SA_CTX_ANY, response, back);
                                FUZZ_CHECK(e2 == IKE_OK && back->n == 1, "built SA proposal %zu refused: %s", i,
                                           ike_err_name(e2));
                                FUZZ_CHECK(bh_proposal_equal(&back->prop[0].p, &p->p) && back->prop[0].proto == p->proto &&
                                                   back->prop[0].spi_size == p->spi_size &&
                                                   memcmp(back->prop[0].spi, p->spi, p->spi_size) == 0,
                                           "SA proposal %zu built and decoded differs", i);
                                g_free(back);
                        }
                }
                g_free(sa);
                break;
        }
        case DEC_KE: {
                IkeKe ke, back;
                e = ike_ke_decode(body, len, &ke);
                check_err(e, "ike_ke_decode");
                if (e == IKE_OK) {
                        (void) ike_dh_name(ke.group);
                        g_autofree uint8_t *b = built_body(room, build_ke, &ke, &blen);
                        FUZZ_CHECK(b && ike_ke_decode(b, blen, &back) == IKE_OK && back.group == ke.group &&
                                           back.len == ke.len && memcmp(back.data, ke.data, ke.len) == 0,
                                   "KE round trip");
                }
                break;
        }
        case DEC_NONCE: {
                IkeNonce n, back;
                e = ike_nonce_decode(body, len, &n);
                check_err(e, "ike_nonce_decode");
                if (e == IKE_OK) {
                        g_autofree uint8_t *b = built_body(room, build_nonce, &n, &blen);
                        FUZZ_CHECK(b && ike_nonce_decode(b, blen, &back) == IKE_OK && back.len == n.len &&
                                           memcmp(back.data, n.data, n.len) == 0,
                                   "nonce round trip");
                }
                break;
        }
        case DEC_NOTIFY: {
                IkeNotify n, back;
                e = ike_notify_decode(body, len, &n);
                check_err(e, "ike_notify_decode");
                if (e == IKE_OK) {
                        g_autofree uint8_t *b = built_body(room, build_notify, &n, &blen);
                        FUZZ_CHECK(b, "notify %u accepted by the decoder, refused by the builder", n.type);
                        FUZZ_CHECK(ike_notify_decode(b, blen, &back) == IKE_OK && back.type == n.type &&
                                           back.proto == n.proto && back.spi_size == n.spi_size &&
                                           back.data_len == n.data_len &&
                                           (n.spi_size == 0 || memcmp(back.spi, n.spi, n.spi_size) == 0) &&
                                           (n.data_len == 0 || memcmp(back.data, n.data, n.data_len) == 0),
                                   "notify round trip");
                }
                break;
        }
        case DEC_ID: {
                IkeId id, back;
                e = ike_id_decode(body, len, &id);
                check_err(e, "ike_id_decode");
                if (e == IKE_OK) {
                        (void) ike_id_type_name(id.type);
                        g_autofree uint8_t *b = built_body(room, build_id, &id, &blen);
                        FUZZ_CHECK(b && ike_id_decode(b, blen, &back) == IKE_OK && back.type == id.type &&
                                           back.len == id.len && (id.len == 0 || memcmp(back.data, id.data, id.len) == 0),
                                   "ID round trip");
                }
                break;
        }
        case DEC_AUTH: {
                IkeAuth a, back;
                e = ike_auth_decode(body, len, &a);
                check_err(e, "ike_auth_decode");
                if (e == IKE_OK) {
                        (void) ike_auth_method_name(a.method);
                        g_autofree uint8_t *b = built_body(room, build_auth, &a, &blen);
                        FUZZ_CHECK(b && ike_auth_decode(b, blen, &back) == IKE_OK && back.method == a.method &&
                                           back.len == a.len && memcmp(back.data, a.data, a.len) == 0,
                                   "AUTH round trip");
                }
                break;
        }
        case DEC_TS: {
                IkeTsList ts, back;
                e = ike_ts_decode(body, len, &ts);
                check_err(e, "ike_ts_decode");
                if (e == IKE_OK) {
                        g_autofree uint8_t *b = built_body(room, build_ts, &ts, &blen);
                        FUZZ_CHECK(b && ike_ts_decode(b, blen, &back) == IKE_OK && back.n == ts.n, "TS round trip");
                        for (size_t i = 0; i < ts.n; i++)
                                FUZZ_CHECK(ts_equal(&ts.ts[i], &back.ts[i]), "TS %zu round trip", i);
                }
                break;
        }
        case DEC_DELETE: {
                IkeDelete d, back;
                e = ike_delete_decode(body, len, &d);
                check_err(e, "ike_delete_decode");
                if (e == IKE_OK) {
                        DeleteArg *a = g_new0(DeleteArg, 1);
                        a->d = &d;
                        a->spis = g_new0(uint32_t, d.n + 1u);
                        for (size_t i = 0; d.spi_size == 4 && i < d.n; i++)
                                a->spis[i] = ike_delete_spi(&d, i);
                        g_autofree uint8_t *b = built_body(room, build_delete, a, &blen);
                        FUZZ_CHECK(b && ike_delete_decode(b, blen, &back) == IKE_OK && back.proto == d.proto &&
                                           back.n == d.n && back.spi_size == d.spi_size &&
                                           (d.n == 0 || memcmp(back.spis, d.spis, (size_t) d.n * d.spi_size) == 0),
                                   "delete round trip");
                        g_free(a->spis);
                        g_free(a);
                }
                break;
        }
        case DEC_CERT:
        case DEC_CERTREQ: {
                IkeCert c, back;
                bool req = which == DEC_CERTREQ;
                e = ike_cert_decode(body, len, req, &c);
                check_err(e, "ike_cert_decode");
                if (e == IKE_OK) {
                        (void) ike_cert_encoding_name(c.encoding);
                        CertArg a = { &c, req };
                        g_autofree uint8_t *b = built_body(room, build_cert, &a, &blen);
                        FUZZ_CHECK(b && ike_cert_decode(b, blen, req, &back) == IKE_OK && back.encoding == c.encoding &&
                                           back.len == c.len && (c.len == 0 || memcmp(back.data, c.data, c.len) == 0),
                                   "CERT round trip");
                }
                break;
        }
        case DEC_CP: {
                IkeCp *cp = g_new0(IkeCp, 1), *back = g_new0(IkeCp, 1);
                e = ike_cp_decode(body, len, cp);
                check_err(e, "ike_cp_decode");
                if (e == IKE_OK) {
                        (void) ike_cfg_type_name(cp->cfg_type);
                        g_autofree uint8_t *b = built_body(room, build_cp, cp, &blen);
                        FUZZ_CHECK(b && ike_cp_decode(b, blen, back) == IKE_OK && back->cfg_type == cp->cfg_type &&
                                           back->n == cp->n,
                                   "CP round trip");
                        for (size_t i = 0; i < cp->n; i++) {
                                (void) ike_cfg_attr_name(cp->attr[i].type);
                                FUZZ_CHECK(back->attr[i].type == cp->attr[i].type && back->attr[i].len == cp->attr[i].len &&
                                                   (cp->attr[i].len == 0 ||
                                                    memcmp(back->attr[i].value, cp->attr[i].value, cp->attr[i].len) == 0),
                                           "CP attribute %zu round trip", i);
                        }
                }
                g_free(back);
                g_free(cp);
                break;
        }
        case DEC_VENDOR:
        case DEC_EAP: {
                bool eap = which == DEC_EAP;
                e = eap ? ike_eap_decode(body, len) : ike_vendor_decode(body, len);
                check_err(e, eap ? "ike_eap_decode" : "ike_vendor_decode");
                if (e == IKE_OK) {
                        BytesArg a = { body, len };
                        g_autofree uint8_t *b = built_body(room, eap ? build_eap : build_vendor, &a, &blen);
                        FUZZ_CHECK(b && blen == len && memcmp(b, body, len) == 0, "%s round trip", eap ? "EAP" : "V");
                }
                break;
        }
        default: {
                uint16_t number, total;
                check_err(ike_skf_decode(body, len, &number, &total), "ike_skf_decode");
                break;
        }
        }
        g_free(body);
}

static void fuzz_header(const uint8_t *data, size_t size) {
        uint8_t *buf = dup_exact(data, size);
        IkeHeader h;
        IkeErr e = ike_header_parse(buf, size, &h);
        check_err(e, "ike_header_parse");
        if (e == IKE_OK) {
                char flags[IKE_FLAGS_STRLEN];
                FUZZ_CHECK(h.length == size && h.length >= IKE_HEADER_LEN, "header length %u of %zu", h.length, size);
                FUZZ_CHECK(h.major == IKE_MAJOR_VERSION && h.spi_i != 0, "header fields");
                FUZZ_CHECK(ike_exchange_name(h.exchange) != NULL, "exchange %u has no name", h.exchange);
                (void) ike_flags_string(h.flags, flags);
                (void) ike_payload_name(h.next_payload);
                (void) ike_header_is_response(&h);
                (void) ike_header_is_initiator(&h);
        }
        g_free(buf);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        switch (data[0] % FUZZ_IKE_MODES) {
        case FUZZ_IKE_MESSAGE:
                fuzz_message(data + 1, size - 1);
                break;
        case FUZZ_IKE_DECODER:
                fuzz_decoder(data + 1, size - 1);
                break;
        default:
                fuzz_header(data + 1, size - 1);
                break;
        }
        return 0;
}
