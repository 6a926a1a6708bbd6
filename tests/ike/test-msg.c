/* SPDX-License-Identifier: ISC */
/* The IKEv2 message layer (services/isakmpd/msg.c): known-good messages of
 * every exchange built by the builder and parsed back equal; then each
 * payload of IKE_SA_INIT and IKE_AUTH malformed in turn, each with the error
 * and the notification it must give; the tests named after a CVE reproduce
 * that published bug's class. Every input is parsed from a heap block of
 * exactly its size, so that a sanitizer build (-Db_sanitize=address,undefined)
 * catches any read past it. Last, random mutations of valid messages with a
 * fixed seed: no crash, and whatever the parser accepts decodes cleanly. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "msg.h"

#define OK(expr) g_assert_cmpint((expr), ==, 0)
#define BUF 4096
#define SEED 0x1e2f3a4bu
#define MUTATION_ROUNDS 20000

static const uint64_t SPI_I = UINT64_C(0x0102030405060708);
static const uint64_t SPI_R = UINT64_C(0x1112131415161718);
static const uint8_t ESP_SPI[4] = { 0xc0, 0x01, 0xd0, 0x0d };
static const uint8_t IKE_SPI8[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* ------------------------------------------------------------ helpers */

/* A nonzero pattern. */
static void fill(uint8_t *p, size_t n, uint8_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed + i * 7u) | 1u;
}

/* An exact-size heap copy: a read one byte past it is a sanitizer error.
 * Not inlined, so that the compiler does not second-guess test lengths. */
G_GNUC_NO_INLINE static uint8_t *dup_exact(const uint8_t *p, size_t n) {
        if (n == 0)
                return NULL;
        uint8_t *c = g_malloc(n);
        memcpy(c, p, n);
        return c;
}

static void put32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) (v >> 24);
        p[1] = (uint8_t) (v >> 16);
        p[2] = (uint8_t) (v >> 8);
        p[3] = (uint8_t) v;
}

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static uint16_t get16(const uint8_t *p) {
        return (uint16_t) (p[0] << 8 | p[1]);
}

static BhProposal proposal(BhProtocolId proto, const char *s) {
        BhProposal p;
        g_autofree char *reason = NULL;

        if (bh_proposal_parse(proto, s, &p, &reason) < 0)
                g_error("bad test proposal %s: %s", s, reason);
        return p;
}

typedef struct Parsed {
        IkeMsg m;
        uint8_t *copy;
        uint8_t *plain;
} Parsed;

static IkeErr parse(Parsed *p, const uint8_t *buf, size_t len) {
        memset(p, 0, sizeof *p);
        p->copy = dup_exact(buf, len);
        return ike_msg_parse(p->copy, len, &p->m);
}

static IkeErr parse_inner(Parsed *p, uint8_t first, const uint8_t *plain, size_t len) {
        p->plain = dup_exact(plain, len);
        return ike_msg_parse_inner(&p->m, first, p->plain, len);
}

static void parsed_clear(Parsed *p) {
        g_free(p->copy);
        g_free(p->plain);
        p->copy = p->plain = NULL;
}

/* Every payload of an accepted message decodes: the parser validated each
 * body with these same decoders. */
static void decode_all(const IkeMsg *m) {
        bool response = ike_header_is_response(&m->hdr);

        for (size_t i = 0; i < m->n; i++) {
                const IkePayload *p = &m->pl[i];
                IkeErr e = IKE_OK;

                switch (p->type) {
                case IKE_PL_SA: {
                        IkeSa sa;
                        e = ike_sa_decode(p->body, p->len, IKE_SA_CTX_ANY, response, &sa);
                        break;
                }
                case IKE_PL_KE: {
                        IkeKe ke;
                        e = ike_ke_decode(p->body, p->len, &ke);
                        break;
                }
                case IKE_PL_IDI:
                case IKE_PL_IDR: {
                        IkeId id;
                        e = ike_id_decode(p->body, p->len, &id);
                        break;
                }
                case IKE_PL_AUTH: {
                        IkeAuth a;
                        e = ike_auth_decode(p->body, p->len, &a);
                        break;
                }
                case IKE_PL_NONCE: {
                        IkeNonce n;
                        e = ike_nonce_decode(p->body, p->len, &n);
                        break;
                }
                case IKE_PL_NOTIFY: {
                        IkeNotify n;
                        e = ike_notify_decode(p->body, p->len, &n);
                        break;
                }
                case IKE_PL_TSI:
                case IKE_PL_TSR: {
                        IkeTsList ts;
                        e = ike_ts_decode(p->body, p->len, &ts);
                        break;
                }
                case IKE_PL_DELETE: {
                        IkeDelete d;
                        e = ike_delete_decode(p->body, p->len, &d);
                        break;
                }
                case IKE_PL_CP: {
                        IkeCp cp;
                        e = ike_cp_decode(p->body, p->len, &cp);
                        break;
                }
                case IKE_PL_CERT:
                case IKE_PL_CERTREQ: {
                        IkeCert c;
                        e = ike_cert_decode(p->body, p->len, p->type == IKE_PL_CERTREQ, &c);
                        break;
                }
                case IKE_PL_VENDOR_ID:
                        e = ike_vendor_decode(p->body, p->len);
                        break;
                case IKE_PL_EAP:
                        e = ike_eap_decode(p->body, p->len);
                        break;
                default:
                        break;
                }
                g_assert_cmpstr(ike_err_name(e), ==, "OK");
        }
}

/* ------------------------------------------------------------ test messages */

/* Extra payloads a test appends as they are (unchecked), and the standard
 * payloads it leaves out (by type). */
typedef struct Raw {
        uint8_t type;
        bool critical;
        const uint8_t *body;
        size_t len;
} Raw;

typedef struct Spec {
        uint64_t omit;                  /* bit (type - 32) */
        const Raw *raw;
        size_t n_raw;
        bool raw_first;
} Spec;

#define OMIT(t) ((uint64_t) 1 << ((t) - 32))

static bool keep(const Spec *s, uint8_t type) {
        return !s || !(s->omit & OMIT(type));
}

static void add_raws(IkeBuilder *b, const Spec *s) {
        for (size_t i = 0; s && i < s->n_raw; i++)
                OK(ike_build_raw(b, s->raw[i].type, s->raw[i].critical, s->raw[i].body, s->raw[i].len));
}

static uint8_t ke_x25519[32], ke_modp2048[256], nonce_i[32], nonce_r[48], natd_src[20], natd_dst[20], vid[16],
        psk_auth[32];

static void init_data(void) {
        fill(ke_x25519, sizeof ke_x25519, 1);
        fill(ke_modp2048, sizeof ke_modp2048, 2);
        fill(nonce_i, sizeof nonce_i, 3);
        fill(nonce_r, sizeof nonce_r, 4);
        fill(natd_src, sizeof natd_src, 5);
        fill(natd_dst, sizeof natd_dst, 6);
        fill(vid, sizeof vid, 7);
        fill(psk_auth, sizeof psk_auth, 8);
}

static const char *const init_proposals[] = { "aes256gcm16-prfsha256-x25519-ecp256", "aes128-sha256-modp2048" };
static const uint8_t sig_hash[] = { 0, 2, 0, 3, 0, 4 };

/* HDR, SAi1, KEi, Ni, N(NATD_S), N(NATD_D), N(FRAG_SUPPORTED),
 * N(SIGNATURE_HASH_ALGORITHMS), V */
static size_t init_request(uint8_t *out, size_t size, const Spec *s) {
        IkeBuilder b;
        IkeHeader h = { .spi_i = SPI_I, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_INITIATOR };
        BhProposal p[2] = { proposal(BH_PROTO_IKE, init_proposals[0]), proposal(BH_PROTO_IKE, init_proposals[1]) };
        size_t len;

        ike_builder_init(&b, out, size);
        OK(ike_build_header(&b, &h));
        if (s && s->raw_first)
                add_raws(&b, s);
        if (keep(s, IKE_PL_SA))
                OK(ike_build_sa(&b, p, 2, 1, NULL, 0));
        if (keep(s, IKE_PL_KE))
                OK(ike_build_ke(&b, BH_CURVE_25519, ke_x25519, sizeof ke_x25519));
        if (keep(s, IKE_PL_NONCE))
                OK(ike_build_nonce(&b, nonce_i, sizeof nonce_i));
        if (keep(s, IKE_PL_NOTIFY)) {
                OK(ike_build_nat_detection(&b, false, natd_src));
                OK(ike_build_nat_detection(&b, true, natd_dst));
                OK(ike_build_notify(&b, 0, NULL, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0));
                OK(ike_build_notify(&b, 0, NULL, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, sig_hash, sizeof sig_hash));
        }
        if (keep(s, IKE_PL_VENDOR_ID))
                OK(ike_build_vendor(&b, vid, sizeof vid));
        if (!s || !s->raw_first)
                add_raws(&b, s);
        OK(ike_build_finish(&b, &len));
        return len;
}

/* HDR, SAr1, KEr, Nr, N(NATD_S), N(NATD_D), CERTREQ */
static size_t init_response(uint8_t *out, size_t size, const Spec *s) {
        IkeBuilder b;
        IkeHeader h = { .spi_i = SPI_I, .spi_r = SPI_R, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_RESPONSE };
        BhProposal p = proposal(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519");
        uint8_t ca[20];
        size_t len;

        fill(ca, sizeof ca, 9);
        ike_builder_init(&b, out, size);
        OK(ike_build_header(&b, &h));
        if (keep(s, IKE_PL_SA))
                OK(ike_build_sa(&b, &p, 1, 1, NULL, 0));
        if (keep(s, IKE_PL_KE))
                OK(ike_build_ke(&b, BH_CURVE_25519, ke_x25519, sizeof ke_x25519));
        if (keep(s, IKE_PL_NONCE))
                OK(ike_build_nonce(&b, nonce_r, sizeof nonce_r));
        if (keep(s, IKE_PL_NOTIFY)) {
                OK(ike_build_nat_detection(&b, false, natd_src));
                OK(ike_build_nat_detection(&b, true, natd_dst));
        }
        if (keep(s, IKE_PL_CERTREQ))
                OK(ike_build_cert(&b, IKE_PL_CERTREQ, IKE_CERT_X509_SIGNATURE, ca, sizeof ca));
        add_raws(&b, s);
        OK(ike_build_finish(&b, &len));
        return len;
}

static IkeTs ts_v4(const char *sel) {
        BhTs bh;
        IkeTs ts;
        g_autofree char *reason = NULL;

        if (bh_ts_parse(sel, &bh, &reason) < 0)
                g_error("bad test selector %s: %s", sel, reason);
        OK(ike_ts_from_bh(&bh, &ts));
        return ts;
}

static const char fqdn_i[] = "initiator.example";
static const char fqdn_r[] = "responder.example";

/* The inner chain of an IKE_AUTH request: IDi, IDr, AUTH, CP, SAi2, TSi,
 * TSr, N(INITIAL_CONTACT), N(USE_TRANSPORT_MODE) */
static size_t auth_request_inner(uint8_t *out, size_t size, uint8_t *ret_first, const Spec *s) {
        IkeBuilder b;
        BhProposal p[2] = { proposal(BH_PROTO_ESP, "aes256gcm16"), proposal(BH_PROTO_ESP, "aes128-sha256-esn") };
        IkeTs tsi[2] = { ts_v4("10.0.0.0/24"), ts_v4("2001:db8::/64") };
        IkeTs tsr[2] = { ts_v4("10.1.0.0/16[tcp/80-443]"), ts_v4("2001:db8:1::/48[udp]") };
        IkeCpAttr cp[2] = { { IKE_CFG_INTERNAL_IP4_ADDRESS, NULL, 0 }, { IKE_CFG_INTERNAL_IP4_DNS, NULL, 0 } };
        size_t len;

        ike_builder_init(&b, out, size);
        if (s && s->raw_first)
                add_raws(&b, s);
        if (keep(s, IKE_PL_IDI))
                OK(ike_build_id(&b, IKE_PL_IDI, IKE_ID_FQDN, (const uint8_t *) fqdn_i, strlen(fqdn_i)));
        if (keep(s, IKE_PL_IDR))
                OK(ike_build_id(&b, IKE_PL_IDR, IKE_ID_FQDN, (const uint8_t *) fqdn_r, strlen(fqdn_r)));
        if (keep(s, IKE_PL_AUTH))
                OK(ike_build_auth(&b, IKE_AUTH_SHARED_KEY_MIC, psk_auth, sizeof psk_auth));
        if (keep(s, IKE_PL_CP))
                OK(ike_build_cp(&b, IKE_CFG_REQUEST, cp, 2));
        if (keep(s, IKE_PL_SA))
                OK(ike_build_sa(&b, p, 2, 1, ESP_SPI, 4));
        if (keep(s, IKE_PL_TSI))
                OK(ike_build_ts(&b, IKE_PL_TSI, tsi, 2));
        if (keep(s, IKE_PL_TSR))
                OK(ike_build_ts(&b, IKE_PL_TSR, tsr, 2));
        if (keep(s, IKE_PL_NOTIFY)) {
                OK(ike_build_notify(&b, 0, NULL, 0, IKE_N_INITIAL_CONTACT, NULL, 0));
                OK(ike_build_notify(&b, 0, NULL, 0, IKE_N_USE_TRANSPORT_MODE, NULL, 0));
        }
        if (!s || !s->raw_first)
                add_raws(&b, s);
        OK(ike_build_finish(&b, &len));
        *ret_first = ike_builder_first_type(&b);
        return len;
}

/* IDr, AUTH, CP(REPLY), SAr2, TSi, TSr */
static size_t auth_response_inner(uint8_t *out, size_t size, uint8_t *ret_first, const Spec *s) {
        IkeBuilder b;
        BhProposal p = proposal(BH_PROTO_ESP, "aes256gcm16");
        IkeTs tsi = ts_v4("10.0.0.0/24"), tsr = ts_v4("10.1.0.0/16[tcp/80-443]");
        uint8_t addr[4] = { 10, 9, 8, 7 };
        IkeCpAttr cp = { IKE_CFG_INTERNAL_IP4_ADDRESS, addr, 4 };
        size_t len;

        ike_builder_init(&b, out, size);
        if (keep(s, IKE_PL_IDR))
                OK(ike_build_id(&b, IKE_PL_IDR, IKE_ID_FQDN, (const uint8_t *) fqdn_r, strlen(fqdn_r)));
        if (keep(s, IKE_PL_AUTH))
                OK(ike_build_auth(&b, IKE_AUTH_SHARED_KEY_MIC, psk_auth, sizeof psk_auth));
        if (keep(s, IKE_PL_CP))
                OK(ike_build_cp(&b, IKE_CFG_REPLY, &cp, 1));
        if (keep(s, IKE_PL_SA))
                OK(ike_build_sa(&b, &p, 1, 2, ESP_SPI, 4));
        if (keep(s, IKE_PL_TSI))
                OK(ike_build_ts(&b, IKE_PL_TSI, &tsi, 1));
        if (keep(s, IKE_PL_TSR))
                OK(ike_build_ts(&b, IKE_PL_TSR, &tsr, 1));
        add_raws(&b, s);
        OK(ike_build_finish(&b, &len));
        *ret_first = ike_builder_first_type(&b);
        return len;
}

/* The SK body a suite with an 8-octet IV and a 16-octet ICV makes around a
 * plaintext of plain_len octets (and one octet of Pad Length). */
#define SK_BODY(plain_len) (8u + (plain_len) + 1u + 16u)

/* HDR, SK{...}: the body is left as the builder zeroed it; the tests hand
 * the plaintext to ike_msg_parse_inner() as cryptod would after opening. */
static size_t sk_message(uint8_t *out, size_t size, uint8_t exchange, uint8_t flags, uint32_t msg_id, uint8_t first,
                         size_t plain_len, const Raw *outer, size_t n_outer) {
        IkeBuilder b;
        IkeHeader h = { .spi_i = SPI_I, .spi_r = SPI_R, .exchange = exchange, .flags = flags, .msg_id = msg_id };
        uint8_t *body;
        size_t aad_len, len;

        ike_builder_init(&b, out, size);
        OK(ike_build_header(&b, &h));
        for (size_t i = 0; i < n_outer; i++)
                OK(ike_build_raw(&b, outer[i].type, outer[i].critical, outer[i].body, outer[i].len));
        OK(ike_build_sk(&b, first, SK_BODY(plain_len), 0, 0, &body, &aad_len));
        OK(ike_build_finish(&b, &len));
        g_assert_true(body == out + aad_len);
        g_assert_cmpuint(len, ==, aad_len + SK_BODY(plain_len));
        return len;
}

/* A whole encrypted exchange message: outer in out, inner chain in plain. */
typedef struct Enc {
        uint8_t out[BUF];
        size_t len;
        uint8_t plain[BUF];
        size_t plain_len;
        uint8_t first;
} Enc;

static void auth_request(Enc *e, const Spec *s) {
        e->plain_len = auth_request_inner(e->plain, sizeof e->plain, &e->first, s);
        e->len = sk_message(e->out, sizeof e->out, IKE_EXCH_IKE_AUTH, IKE_FLAG_INITIATOR, 1, e->first, e->plain_len,
                            NULL, 0);
}

static void auth_response(Enc *e, const Spec *s) {
        e->plain_len = auth_response_inner(e->plain, sizeof e->plain, &e->first, s);
        e->len = sk_message(e->out, sizeof e->out, IKE_EXCH_IKE_AUTH, IKE_FLAG_RESPONSE, 1, e->first, e->plain_len,
                            NULL, 0);
}

/* CREATE_CHILD_SA: a child SA with PFS (SA, Ni, KEi, TSi, TSr,
 * N(REKEY_SA)), or a rekey of the IKE SA (SA with an 8-octet SPI, Ni, KEi). */
static void create_child(Enc *e, bool rekey_ike, const Spec *s) {
        IkeBuilder b;
        IkeTs tsi = ts_v4("10.0.0.0/24"), tsr = ts_v4("10.1.0.0/16");

        ike_builder_init(&b, e->plain, sizeof e->plain);
        if (rekey_ike) {
                BhProposal p = proposal(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519");
                if (keep(s, IKE_PL_SA))
                        OK(ike_build_sa(&b, &p, 1, 1, IKE_SPI8, 8));
        } else {
                BhProposal p = proposal(BH_PROTO_ESP, "aes256gcm16-modp2048");
                if (keep(s, IKE_PL_SA))
                        OK(ike_build_sa(&b, &p, 1, 1, ESP_SPI, 4));
        }
        if (keep(s, IKE_PL_NONCE))
                OK(ike_build_nonce(&b, nonce_i, sizeof nonce_i));
        if (keep(s, IKE_PL_KE)) {
                if (rekey_ike)
                        OK(ike_build_ke(&b, BH_CURVE_25519, ke_x25519, sizeof ke_x25519));
                else
                        OK(ike_build_ke(&b, BH_MODP_2048, ke_modp2048, sizeof ke_modp2048));
        }
        if (!rekey_ike) {
                if (keep(s, IKE_PL_TSI))
                        OK(ike_build_ts(&b, IKE_PL_TSI, &tsi, 1));
                if (keep(s, IKE_PL_TSR))
                        OK(ike_build_ts(&b, IKE_PL_TSR, &tsr, 1));
                if (keep(s, IKE_PL_NOTIFY))
                        OK(ike_build_notify(&b, BH_PROTO_ESP, ESP_SPI, 4, IKE_N_REKEY_SA, NULL, 0));
        }
        add_raws(&b, s);
        OK(ike_build_finish(&b, &e->plain_len));
        e->first = ike_builder_first_type(&b);
        e->len = sk_message(e->out, sizeof e->out, IKE_EXCH_CREATE_CHILD_SA, IKE_FLAG_INITIATOR, 2, e->first,
                            e->plain_len, NULL, 0);
}

/* INFORMATIONAL: D(ESP, two SPIs), D(IKE), N(UPDATE_SA_ADDRESSES), V */
static void informational(Enc *e, const Spec *s) {
        IkeBuilder b;
        uint32_t spis[2] = { 0xc001d00d, 0x12345678 };

        ike_builder_init(&b, e->plain, sizeof e->plain);
        if (keep(s, IKE_PL_DELETE)) {
                OK(ike_build_delete(&b, BH_PROTO_ESP, spis, 2));
                OK(ike_build_delete(&b, BH_PROTO_IKE, NULL, 0));
        }
        if (keep(s, IKE_PL_NOTIFY))
                OK(ike_build_notify(&b, 0, NULL, 0, IKE_N_UPDATE_SA_ADDRESSES, NULL, 0));
        if (keep(s, IKE_PL_VENDOR_ID))
                OK(ike_build_vendor(&b, vid, sizeof vid));
        add_raws(&b, s);
        OK(ike_build_finish(&b, &e->plain_len));
        e->first = ike_builder_first_type(&b);
        e->len = sk_message(e->out, sizeof e->out, IKE_EXCH_INFORMATIONAL, IKE_FLAG_INITIATOR, 3, e->first,
                            e->plain_len, NULL, 0);
}

/* Parses an encrypted message and its inner chain; returns the first error. */
static IkeErr parse_enc(Parsed *p, const Enc *e) {
        IkeErr r = parse(p, e->out, e->len);
        if (r != IKE_OK)
                return r;
        r = ike_msg_check_exchange(&p->m, NULL);
        if (r != IKE_OK)
                return r;
        return parse_inner(p, p->m.sk.next, e->plain, e->plain_len);
}

/* Parse + inner + exchange rules; returns the first error. */
static IkeErr full_enc(const Enc *e, uint8_t *ret_type) {
        Parsed p;
        IkeErr r = parse_enc(&p, e);
        if (r == IKE_OK)
                r = ike_msg_check_exchange(&p.m, ret_type);
        parsed_clear(&p);
        return r;
}

static IkeErr full_plain(const uint8_t *buf, size_t len, uint8_t *ret_type) {
        Parsed p;
        IkeErr r = parse(&p, buf, len);
        if (r == IKE_OK)
                r = ike_msg_check_exchange(&p.m, ret_type);
        parsed_clear(&p);
        return r;
}

#define assert_err(got, want) g_assert_cmpstr(ike_err_name(got), ==, ike_err_name(want))

/* ------------------------------------------------------------ names */

static void test_names(void) {
        char buf[IKE_FLAGS_STRLEN];

        g_assert_cmpstr(ike_exchange_name(IKE_EXCH_IKE_SA_INIT), ==, "IKE_SA_INIT");
        g_assert_cmpstr(ike_exchange_name(35), ==, "IKE_AUTH");
        g_assert_cmpstr(ike_exchange_name(36), ==, "CREATE_CHILD_SA");
        g_assert_cmpstr(ike_exchange_name(37), ==, "INFORMATIONAL");
        g_assert_cmpstr(ike_exchange_name(38), ==, "IKE_SESSION_RESUME");
        g_assert_cmpstr(ike_exchange_name(99), ==, "UNKNOWN");
        g_assert_cmpstr(ike_payload_name(33), ==, "SA");
        g_assert_cmpstr(ike_payload_name(46), ==, "SK");
        g_assert_cmpstr(ike_payload_name(53), ==, "SKF");
        g_assert_cmpstr(ike_payload_name(5), ==, "IKEv1 payload");
        g_assert_cmpstr(ike_payload_name(200), ==, "UNKNOWN");
        g_assert_cmpstr(ike_notify_name(1), ==, "UNSUPPORTED_CRITICAL_PAYLOAD");
        g_assert_cmpstr(ike_notify_name(14), ==, "NO_PROPOSAL_CHOSEN");
        g_assert_cmpstr(ike_notify_name(44), ==, "CHILD_SA_NOT_FOUND");
        g_assert_cmpstr(ike_notify_name(16388), ==, "NAT_DETECTION_SOURCE_IP");
        g_assert_cmpstr(ike_notify_name(16390), ==, "COOKIE");
        g_assert_cmpstr(ike_notify_name(16430), ==, "IKEV2_FRAGMENTATION_SUPPORTED");
        g_assert_cmpstr(ike_notify_name(16431), ==, "SIGNATURE_HASH_ALGORITHMS");
        g_assert_true(ike_notify_is_error(IKE_N_INVALID_SYNTAX));
        g_assert_false(ike_notify_is_error(IKE_N_COOKIE));
        g_assert_cmpstr(ike_id_type_name(IKE_ID_FQDN), ==, "ID_FQDN");
        g_assert_cmpstr(ike_auth_method_name(2), ==, "SHARED_KEY_MESSAGE_INTEGRITY_CODE");
        g_assert_cmpstr(ike_ts_type_name(8), ==, "TS_IPV6_ADDR_RANGE");
        g_assert_cmpstr(ike_cfg_attr_name(1), ==, "INTERNAL_IP4_ADDRESS");
        g_assert_cmpstr(ike_dh_name(31), ==, "CURVE_25519");
        g_assert_cmpstr(ike_flags_string(IKE_FLAG_INITIATOR | IKE_FLAG_RESPONSE, buf), ==, "INITIATOR|RESPONSE");
        g_assert_cmpstr(ike_flags_string(0, buf), ==, "none");
        g_assert_cmpstr(ike_flags_string(0xff, buf), ==, "INITIATOR|VERSION|RESPONSE|0xc7");
        for (unsigned e = 0; e < _IKE_ERR_MAX; e++)
                g_assert_cmpstr(ike_err_name((IkeErr) e), !=, "UNKNOWN");
        g_assert_cmpuint(ike_err_notify(IKE_ERR_CRITICAL), ==, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_KE_GROUP), ==, IKE_N_INVALID_KE_PAYLOAD);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_PROPOSAL_NO_DH), ==, IKE_N_NO_PROPOSAL_CHOSEN);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_MAJOR_VERSION), ==, IKE_N_INVALID_MAJOR_VERSION);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_SPI_I_ZERO), ==, 0);
        g_assert_cmpuint(ike_dh_ke_len(BH_CURVE_25519), ==, 32);
        g_assert_cmpuint(ike_dh_ke_len(BH_ECP_256), ==, 64);
        g_assert_cmpuint(ike_dh_ke_len(BH_ECP_384), ==, 96);
        g_assert_cmpuint(ike_dh_ke_len(BH_ECP_521), ==, 132);
        g_assert_cmpuint(ike_dh_ke_len(BH_MODP_2048), ==, 256);
        g_assert_cmpuint(ike_dh_ke_len(BH_MODP_3072), ==, 384);
        g_assert_cmpuint(ike_dh_ke_len(BH_MODP_4096), ==, 512);
        g_assert_cmpuint(ike_dh_ke_len(2), ==, 0);
}

/* ------------------------------------------------------------ round trips */

static void assert_header(const IkeHeader *h, uint8_t exchange, uint8_t flags, uint32_t msg_id, uint64_t spi_r) {
        g_assert_cmpuint(h->spi_i, ==, SPI_I);
        g_assert_cmpuint(h->spi_r, ==, spi_r);
        g_assert_cmpuint(h->major, ==, 2);
        g_assert_cmpuint(h->minor, ==, 0);
        g_assert_cmpuint(h->exchange, ==, exchange);
        g_assert_cmpuint(h->flags, ==, flags);
        g_assert_cmpuint(h->msg_id, ==, msg_id);
}

static void test_roundtrip_init_request(void) {
        uint8_t buf[BUF];
        size_t len = init_request(buf, sizeof buf, NULL);
        Parsed p;

        assert_err(parse(&p, buf, len), IKE_OK);
        assert_header(&p.m.hdr, IKE_EXCH_IKE_SA_INIT, IKE_FLAG_INITIATOR, 0, 0);
        g_assert_cmpuint(p.m.hdr.length, ==, len);
        g_assert_cmpuint(p.m.n, ==, 8);
        g_assert_cmpuint(p.m.n_skipped, ==, 0);
        g_assert_false(p.m.sk.present);
        assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
        decode_all(&p.m);

        IkeSa sa;
        const IkePayload *pl = ike_msg_find(&p.m, IKE_PL_SA);
        g_assert_nonnull(pl);
        assert_err(ike_sa_decode(pl->body, pl->len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_OK);
        g_assert_cmpuint(sa.n, ==, 2);
        g_assert_cmpuint(sa.n_sent, ==, 2);
        for (size_t i = 0; i < 2; i++) {
                BhProposal want = proposal(BH_PROTO_IKE, init_proposals[i]);
                g_assert_cmpuint(sa.prop[i].num, ==, i + 1);
                g_assert_cmpuint(sa.prop[i].proto, ==, BH_PROTO_IKE);
                g_assert_cmpuint(sa.prop[i].spi_size, ==, 0);
                g_assert_cmpuint(sa.prop[i].n_skipped, ==, 0);
                assert_err(sa.prop[i].verdict, IKE_OK);
                g_assert_true(bh_proposal_equal(&sa.prop[i].p, &want));
        }
        size_t idx = 99;
        assert_err(ike_sa_acceptable(&sa, &idx), IKE_OK);
        g_assert_cmpuint(idx, ==, 0);

        IkeKe ke;
        pl = ike_msg_find(&p.m, IKE_PL_KE);
        assert_err(ike_ke_decode(pl->body, pl->len, &ke), IKE_OK);
        g_assert_cmpuint(ke.group, ==, BH_CURVE_25519);
        g_assert_cmpmem(ke.data, ke.len, ke_x25519, sizeof ke_x25519);

        IkeNonce n;
        pl = ike_msg_find(&p.m, IKE_PL_NONCE);
        assert_err(ike_nonce_decode(pl->body, pl->len, &n), IKE_OK);
        g_assert_cmpmem(n.data, n.len, nonce_i, sizeof nonce_i);

        IkeNotify nt;
        pl = ike_msg_find_notify(&p.m, IKE_N_NAT_DETECTION_DESTINATION_IP);
        g_assert_nonnull(pl);
        assert_err(ike_notify_decode(pl->body, pl->len, &nt), IKE_OK);
        g_assert_cmpuint(nt.type, ==, IKE_N_NAT_DETECTION_DESTINATION_IP);
        g_assert_cmpuint(nt.spi_size, ==, 0);
        g_assert_cmpmem(nt.data, nt.data_len, natd_dst, sizeof natd_dst);
        pl = ike_msg_find_notify(&p.m, IKE_N_SIGNATURE_HASH_ALGORITHMS);
        assert_err(ike_notify_decode(pl->body, pl->len, &nt), IKE_OK);
        g_assert_cmpmem(nt.data, nt.data_len, sig_hash, sizeof sig_hash);
        g_assert_nonnull(ike_msg_find_notify(&p.m, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED));
        g_assert_null(ike_msg_find_notify(&p.m, IKE_N_COOKIE));
        g_assert_cmpuint(ike_msg_count(&p.m, IKE_PL_NOTIFY), ==, 4);

        pl = ike_msg_find(&p.m, IKE_PL_VENDOR_ID);
        g_assert_cmpmem(pl->body, pl->len, vid, sizeof vid);
        parsed_clear(&p);
}

static void test_roundtrip_init_response(void) {
        uint8_t buf[BUF];
        size_t len = init_response(buf, sizeof buf, NULL);
        Parsed p;
        IkeSa sa;
        IkeCert c;

        assert_err(parse(&p, buf, len), IKE_OK);
        assert_header(&p.m.hdr, IKE_EXCH_IKE_SA_INIT, IKE_FLAG_RESPONSE, 0, SPI_R);
        assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
        decode_all(&p.m);
        const IkePayload *pl = ike_msg_find(&p.m, IKE_PL_SA);
        assert_err(ike_sa_decode(pl->body, pl->len, IKE_SA_CTX_IKE_SA_INIT, true, &sa), IKE_OK);
        g_assert_cmpuint(sa.n, ==, 1);
        BhProposal want = proposal(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519");
        g_assert_true(bh_proposal_equal(&sa.prop[0].p, &want));
        pl = ike_msg_find(&p.m, IKE_PL_CERTREQ);
        assert_err(ike_cert_decode(pl->body, pl->len, true, &c), IKE_OK);
        g_assert_cmpuint(c.encoding, ==, IKE_CERT_X509_SIGNATURE);
        g_assert_cmpuint(c.len, ==, 20);
        parsed_clear(&p);

        /* An answer with a cookie only (2.6), the responder SPI zero. */
        IkeBuilder b;
        IkeHeader h = { .spi_i = SPI_I, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_RESPONSE };
        uint8_t cookie[IKE_COOKIE_MAX];
        fill(cookie, sizeof cookie, 11);
        ike_builder_init(&b, buf, sizeof buf);
        OK(ike_build_header(&b, &h));
        OK(ike_build_cookie(&b, cookie, sizeof cookie));
        OK(ike_build_finish(&b, &len));
        assert_err(parse(&p, buf, len), IKE_OK);
        assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
        IkeNotify nt;
        pl = ike_msg_find_notify(&p.m, IKE_N_COOKIE);
        assert_err(ike_notify_decode(pl->body, pl->len, &nt), IKE_OK);
        g_assert_cmpmem(nt.data, nt.data_len, cookie, sizeof cookie);
        parsed_clear(&p);
}

static void assert_ts_equal(const IkeTs *a, const IkeTs *b) {
        size_t alen = a->type == IKE_TS_IPV4_ADDR_RANGE ? 4 : 16;

        g_assert_cmpuint(a->type, ==, b->type);
        g_assert_cmpuint(a->proto, ==, b->proto);
        g_assert_cmpuint(a->port_start, ==, b->port_start);
        g_assert_cmpuint(a->port_end, ==, b->port_end);
        g_assert_cmpmem(a->start, alen, b->start, alen);
        g_assert_cmpmem(a->end, alen, b->end, alen);
}

static void test_roundtrip_auth(void) {
        Enc e;
        Parsed p;

        auth_request(&e, NULL);
        assert_err(parse(&p, e.out, e.len), IKE_OK);
        assert_header(&p.m.hdr, IKE_EXCH_IKE_AUTH, IKE_FLAG_INITIATOR, 1, SPI_R);
        g_assert_true(p.m.sk.present);
        g_assert_cmpuint(p.m.sk.type, ==, IKE_PL_SK);
        g_assert_cmpuint(p.m.sk.next, ==, IKE_PL_IDI);
        g_assert_cmpuint(p.m.sk.off, ==, IKE_HEADER_LEN);
        g_assert_cmpuint(p.m.sk.aad_len, ==, IKE_HEADER_LEN + 4);
        g_assert_cmpuint(p.m.sk.len, ==, 4 + SK_BODY(e.plain_len));
        g_assert_true(p.m.sk.body == p.copy + IKE_HEADER_LEN + 4);
        g_assert_cmpuint(p.m.sk.body_len, ==, SK_BODY(e.plain_len));
        /* Outer rules first, before anything is decrypted. */
        assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
        assert_err(parse_inner(&p, p.m.sk.next, e.plain, e.plain_len), IKE_OK);
        assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
        g_assert_cmpuint(p.m.n_outer, ==, 1);
        g_assert_cmpuint(p.m.n, ==, 10);
        decode_all(&p.m);

        IkeId id;
        const IkePayload *pl = ike_msg_find(&p.m, IKE_PL_IDI);
        g_assert_true(pl->encrypted);
        assert_err(ike_id_decode(pl->body, pl->len, &id), IKE_OK);
        g_assert_cmpuint(id.type, ==, IKE_ID_FQDN);
        g_assert_cmpmem(id.data, id.len, fqdn_i, strlen(fqdn_i));

        IkeAuth a;
        pl = ike_msg_find(&p.m, IKE_PL_AUTH);
        assert_err(ike_auth_decode(pl->body, pl->len, &a), IKE_OK);
        g_assert_cmpuint(a.method, ==, IKE_AUTH_SHARED_KEY_MIC);
        g_assert_cmpmem(a.data, a.len, psk_auth, sizeof psk_auth);

        IkeSa sa;
        pl = ike_msg_find(&p.m, IKE_PL_SA);
        assert_err(ike_sa_decode(pl->body, pl->len, IKE_SA_CTX_CHILD, false, &sa), IKE_OK);
        g_assert_cmpuint(sa.n, ==, 2);
        BhProposal want0 = proposal(BH_PROTO_ESP, "aes256gcm16"), want1 = proposal(BH_PROTO_ESP, "aes128-sha256-esn");
        g_assert_true(bh_proposal_equal(&sa.prop[0].p, &want0));
        g_assert_true(bh_proposal_equal(&sa.prop[1].p, &want1));
        g_assert_cmpuint(sa.prop[1].spi_size, ==, 4);
        g_assert_cmpmem(sa.prop[1].spi, 4, ESP_SPI, 4);
        assert_err(ike_sa_acceptable(&sa, NULL), IKE_OK);

        IkeTsList ts;
        IkeTs tsr[2] = { ts_v4("10.1.0.0/16[tcp/80-443]"), ts_v4("2001:db8:1::/48[udp]") };
        pl = ike_msg_find(&p.m, IKE_PL_TSR);
        assert_err(ike_ts_decode(pl->body, pl->len, &ts), IKE_OK);
        g_assert_cmpuint(ts.n, ==, 2);
        assert_ts_equal(&ts.ts[0], &tsr[0]);
        assert_ts_equal(&ts.ts[1], &tsr[1]);
        g_assert_cmpuint(ts.ts[0].start[1], ==, 1);
        g_assert_cmpuint(ts.ts[0].end[2], ==, 255);
        g_assert_cmpuint(ts.ts[0].port_start, ==, 80);
        g_assert_cmpuint(ts.ts[0].port_end, ==, 443);

        IkeCp cp;
        pl = ike_msg_find(&p.m, IKE_PL_CP);
        assert_err(ike_cp_decode(pl->body, pl->len, &cp), IKE_OK);
        g_assert_cmpuint(cp.cfg_type, ==, IKE_CFG_REQUEST);
        g_assert_cmpuint(cp.n, ==, 2);
        g_assert_cmpuint(cp.attr[1].type, ==, IKE_CFG_INTERNAL_IP4_DNS);
        g_assert_cmpuint(cp.attr[1].len, ==, 0);
        parsed_clear(&p);

        auth_response(&e, NULL);
        assert_err(full_enc(&e, NULL), IKE_OK);
        assert_err(parse_enc(&p, &e), IKE_OK);
        pl = ike_msg_find(&p.m, IKE_PL_SA);
        assert_err(ike_sa_decode(pl->body, pl->len, IKE_SA_CTX_CHILD, true, &sa), IKE_OK);
        g_assert_cmpuint(sa.n, ==, 1);
        g_assert_cmpuint(sa.prop[0].num, ==, 2);
        pl = ike_msg_find(&p.m, IKE_PL_CP);
        assert_err(ike_cp_decode(pl->body, pl->len, &cp), IKE_OK);
        g_assert_cmpuint(cp.cfg_type, ==, IKE_CFG_REPLY);
        g_assert_cmpuint(cp.attr[0].len, ==, 4);
        g_assert_cmpuint(cp.attr[0].value[0], ==, 10);
        parsed_clear(&p);
}

static void test_roundtrip_create_child(void) {
        Enc e;
        Parsed p;
        IkeSa sa;
        IkeNotify nt;

        create_child(&e, false, NULL);
        assert_err(full_enc(&e, NULL), IKE_OK);
        assert_err(parse_enc(&p, &e), IKE_OK);
        decode_all(&p.m);
        const IkePayload *pl = ike_msg_find(&p.m, IKE_PL_SA);
        assert_err(ike_sa_decode(pl->body, pl->len, IKE_SA_CTX_CHILD, false, &sa), IKE_OK);
        BhProposal want = proposal(BH_PROTO_ESP, "aes256gcm16-modp2048");
        g_assert_true(bh_proposal_equal(&sa.prop[0].p, &want));
        pl = ike_msg_find_notify(&p.m, IKE_N_REKEY_SA);
        assert_err(ike_notify_decode(pl->body, pl->len, &nt), IKE_OK);
        g_assert_cmpuint(nt.proto, ==, BH_PROTO_ESP);
        g_assert_cmpmem(nt.spi, nt.spi_size, ESP_SPI, 4);
        g_assert_null(nt.data);
        parsed_clear(&p);

        create_child(&e, true, NULL);
        assert_err(full_enc(&e, NULL), IKE_OK);
        assert_err(parse_enc(&p, &e), IKE_OK);
        pl = ike_msg_find(&p.m, IKE_PL_SA);
        assert_err(ike_sa_decode(pl->body, pl->len, IKE_SA_CTX_REKEY_IKE, false, &sa), IKE_OK);
        g_assert_cmpuint(sa.prop[0].spi_size, ==, 8);
        g_assert_cmpmem(sa.prop[0].spi, 8, IKE_SPI8, 8);
        assert_err(sa.prop[0].verdict, IKE_OK);
        parsed_clear(&p);
}

static void test_roundtrip_informational(void) {
        Enc e;
        Parsed p;
        IkeDelete d;

        informational(&e, NULL);
        assert_err(full_enc(&e, NULL), IKE_OK);
        assert_err(parse_enc(&p, &e), IKE_OK);
        g_assert_cmpuint(ike_msg_count(&p.m, IKE_PL_DELETE), ==, 2);
        const IkePayload *pl = ike_msg_find(&p.m, IKE_PL_DELETE);
        assert_err(ike_delete_decode(pl->body, pl->len, &d), IKE_OK);
        g_assert_cmpuint(d.proto, ==, BH_PROTO_ESP);
        g_assert_cmpuint(d.n, ==, 2);
        g_assert_cmpuint(ike_delete_spi(&d, 0), ==, 0xc001d00d);
        g_assert_cmpuint(ike_delete_spi(&d, 1), ==, 0x12345678);
        g_assert_cmpuint(ike_delete_spi(&d, 2), ==, 0);
        parsed_clear(&p);

        /* An empty INFORMATIONAL is a liveness check (1.4). */
        uint8_t buf[BUF];
        size_t len = sk_message(buf, sizeof buf, IKE_EXCH_INFORMATIONAL, IKE_FLAG_RESPONSE, 7, IKE_PL_NONE, 0, NULL, 0);
        assert_err(parse(&p, buf, len), IKE_OK);
        assert_err(parse_inner(&p, p.m.sk.next, NULL, 0), IKE_OK);
        assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
        g_assert_cmpuint(p.m.n, ==, 1);
        parsed_clear(&p);
}

/* One payload in a chain of its own, parsed back through ike_msg_parse()
 * inside a minimal INFORMATIONAL-shaped carrier: the first payload's body. */
typedef int (*BuildFn)(IkeBuilder *b, const void *arg);

static void build_one(uint8_t *buf, size_t size, size_t *ret_len, uint8_t *ret_type,
                      int (*fn)(IkeBuilder *, const void *), const void *arg) {
        IkeBuilder b;

        ike_builder_init(&b, buf, size);
        OK(fn(&b, arg));
        OK(ike_build_finish(&b, ret_len));
        *ret_type = ike_builder_first_type(&b);
}

typedef struct KeArg {
        uint16_t group;
        size_t len;
} KeArg;

static int build_ke_arg(IkeBuilder *b, const void *arg) {
        const KeArg *k = arg;
        uint8_t data[600];
        fill(data, k->len, (uint8_t) k->group);
        return ike_build_ke(b, k->group, data, k->len);
}

static void test_roundtrip_payloads(void) {
        static const KeArg groups[] = {
                { BH_CURVE_25519, 32 }, { BH_ECP_256, 64 },    { BH_ECP_384, 96 },    { BH_ECP_521, 132 },
                { BH_MODP_2048, 256 },  { BH_MODP_3072, 384 }, { BH_MODP_4096, 512 },
        };
        uint8_t buf[BUF];
        size_t len;
        uint8_t type;

        /* KE of every group implemented, exactly its length. */
        for (size_t i = 0; i < G_N_ELEMENTS(groups); i++) {
                IkeKe ke;
                uint8_t data[600];

                build_one(buf, sizeof buf, &len, &type, build_ke_arg, &groups[i]);
                g_assert_cmpuint(type, ==, IKE_PL_KE);
                fill(data, groups[i].len, (uint8_t) groups[i].group);
                uint8_t *c = dup_exact(buf + 4, len - 4);
                assert_err(ike_ke_decode(c, len - 4, &ke), IKE_OK);
                g_assert_cmpuint(ke.group, ==, groups[i].group);
                g_assert_cmpmem(ke.data, ke.len, data, groups[i].len);
                g_free(c);
        }

        /* Everything else through one chain, parsed back payload by payload. */
        IkeBuilder b;
        uint8_t n16[16], n256[256], cookie1[1], cert[300], eap[9] = { 2, 7, 0, 9, 1, 'u', 's', 'e', 'r' };
        uint8_t v4[4] = { 192, 0, 2, 1 }, v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 }, dn[40], spi8[8];
        uint8_t sig[256];
        uint32_t spis[3] = { 1, 0xffffffff, 0x01020304 };
        IkeTs opaque = ts_v4("0.0.0.0/0[icmp]");
        opaque.port_start = IKE_TS_OPAQUE_START;
        opaque.port_end = IKE_TS_OPAQUE_END;
        uint8_t sub6[17] = { 0x20, 0x01, 0x0d, 0xb8, [16] = 64 };
        IkeCpAttr cp[3] = { { IKE_CFG_INTERNAL_IP6_SUBNET, sub6, 17 },
                            { IKE_CFG_APPLICATION_VERSION, (const uint8_t *) "bulkhead", 8 },
                            { 0x4242, (const uint8_t *) "x", 1 } };
        fill(n16, sizeof n16, 20);
        fill(n256, sizeof n256, 21);
        fill(cookie1, 1, 22);
        fill(cert, sizeof cert, 23);
        fill(dn, sizeof dn, 24);
        fill(spi8, sizeof spi8, 25);
        fill(sig, sizeof sig, 26);

        ike_builder_init(&b, buf, sizeof buf);
        OK(ike_build_nonce(&b, n16, 16));
        OK(ike_build_nonce(&b, n256, 256));
        OK(ike_build_cookie(&b, cookie1, 1));
        OK(ike_build_notify(&b, BH_PROTO_IKE, spi8, 8, IKE_N_INVALID_SPI, v4, 4));
        OK(ike_build_id(&b, IKE_PL_IDI, IKE_ID_IPV4_ADDR, v4, 4));
        OK(ike_build_id(&b, IKE_PL_IDR, IKE_ID_IPV6_ADDR, v6, 16));
        OK(ike_build_id(&b, IKE_PL_IDI, IKE_ID_DER_ASN1_DN, dn, sizeof dn));
        OK(ike_build_id(&b, IKE_PL_IDI, IKE_ID_NULL, NULL, 0));
        OK(ike_build_auth(&b, IKE_AUTH_DIGITAL_SIGNATURE, sig, sizeof sig));
        OK(ike_build_ts(&b, IKE_PL_TSI, &opaque, 1));
        OK(ike_build_delete(&b, BH_PROTO_AH, spis, 3));
        OK(ike_build_cert(&b, IKE_PL_CERT, IKE_CERT_X509_SIGNATURE, cert, sizeof cert));
        OK(ike_build_cert(&b, IKE_PL_CERTREQ, IKE_CERT_X509_SIGNATURE, NULL, 0));
        OK(ike_build_cp(&b, IKE_CFG_SET, cp, 3));
        OK(ike_build_eap(&b, eap, sizeof eap));
        OK(ike_build_finish(&b, &len));

        /* The chain repeats types that a message allows once (two nonces,
         * four IDs), so it is walked here, with the lengths the builder
         * wrote, and each body decoded from an exact-size copy. */
        IkePayload pl[16] = {};
        uint8_t *chain = dup_exact(buf, len);
        {
                uint8_t t = ike_builder_first_type(&b);
                size_t off = 0, k = 1;
                while (t != IKE_PL_NONE) {
                        g_assert_cmpuint(k, <, G_N_ELEMENTS(pl));
                        uint16_t plen = get16(chain + off + 2);
                        pl[k++] = (IkePayload) { t, false, false, off, chain + off + 4, plen - 4u };
                        t = chain[off];
                        off += plen;
                }
                g_assert_cmpuint(off, ==, len);
                g_assert_cmpuint(k, ==, 16);
        }

        IkeNonce n;
        assert_err(ike_nonce_decode(pl[1].body, pl[1].len, &n), IKE_OK);
        g_assert_cmpmem(n.data, n.len, n16, 16);
        assert_err(ike_nonce_decode(pl[2].body, pl[2].len, &n), IKE_OK);
        g_assert_cmpmem(n.data, n.len, n256, 256);
        IkeNotify nt;
        assert_err(ike_notify_decode(pl[3].body, pl[3].len, &nt), IKE_OK);
        g_assert_cmpuint(nt.type, ==, IKE_N_COOKIE);
        g_assert_cmpmem(nt.data, nt.data_len, cookie1, 1);
        assert_err(ike_notify_decode(pl[4].body, pl[4].len, &nt), IKE_OK);
        g_assert_cmpuint(nt.proto, ==, BH_PROTO_IKE);
        g_assert_cmpmem(nt.spi, nt.spi_size, spi8, 8);
        g_assert_cmpmem(nt.data, nt.data_len, v4, 4);
        IkeId id;
        assert_err(ike_id_decode(pl[5].body, pl[5].len, &id), IKE_OK);
        g_assert_cmpmem(id.data, id.len, v4, 4);
        assert_err(ike_id_decode(pl[6].body, pl[6].len, &id), IKE_OK);
        g_assert_cmpuint(id.type, ==, IKE_ID_IPV6_ADDR);
        g_assert_cmpmem(id.data, id.len, v6, 16);
        assert_err(ike_id_decode(pl[7].body, pl[7].len, &id), IKE_OK);
        g_assert_cmpmem(id.data, id.len, dn, sizeof dn);
        assert_err(ike_id_decode(pl[8].body, pl[8].len, &id), IKE_OK);
        g_assert_cmpuint(id.type, ==, IKE_ID_NULL);
        g_assert_cmpuint(id.len, ==, 0);
        IkeAuth a;
        assert_err(ike_auth_decode(pl[9].body, pl[9].len, &a), IKE_OK);
        g_assert_cmpuint(a.method, ==, IKE_AUTH_DIGITAL_SIGNATURE);
        g_assert_cmpmem(a.data, a.len, sig, sizeof sig);
        IkeTsList ts;
        assert_err(ike_ts_decode(pl[10].body, pl[10].len, &ts), IKE_OK);
        assert_ts_equal(&ts.ts[0], &opaque);
        IkeDelete d;
        assert_err(ike_delete_decode(pl[11].body, pl[11].len, &d), IKE_OK);
        g_assert_cmpuint(d.proto, ==, BH_PROTO_AH);
        for (size_t i = 0; i < 3; i++)
                g_assert_cmpuint(ike_delete_spi(&d, i), ==, spis[i]);
        IkeCert c;
        assert_err(ike_cert_decode(pl[12].body, pl[12].len, false, &c), IKE_OK);
        g_assert_cmpmem(c.data, c.len, cert, sizeof cert);
        assert_err(ike_cert_decode(pl[13].body, pl[13].len, true, &c), IKE_OK);
        g_assert_cmpuint(c.len, ==, 0);
        IkeCp cpd;
        assert_err(ike_cp_decode(pl[14].body, pl[14].len, &cpd), IKE_OK);
        g_assert_cmpuint(cpd.cfg_type, ==, IKE_CFG_SET);
        g_assert_cmpuint(cpd.n, ==, 3);
        for (size_t i = 0; i < 3; i++) {
                g_assert_cmpuint(cpd.attr[i].type, ==, cp[i].type);
                g_assert_cmpmem(cpd.attr[i].value, cpd.attr[i].len, cp[i].value, cp[i].len);
        }
        g_assert_cmpmem(pl[15].body, pl[15].len, eap, sizeof eap);
        g_free(chain);

        /* AH and ESP with ESN, IKE rekey with an 8-octet SPI: SA payloads
         * of every protocol round trip. */
        static const struct {
                BhProtocolId proto;
                const char *s;
                const uint8_t *spi;
                size_t spi_size;
        } sas[] = {
                { BH_PROTO_AH, "sha256-esn", ESP_SPI, 4 },
                { BH_PROTO_ESP, "chacha20poly1305-x25519-esn", ESP_SPI, 4 },
                { BH_PROTO_ESP, "null-sha512", ESP_SPI, 4 },
                { BH_PROTO_IKE, "aes256-sha512-sha384-prfsha512-modp4096-ecp521", IKE_SPI8, 8 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(sas); i++) {
                BhProposal want = proposal(sas[i].proto, sas[i].s);
                IkeSa sa;

                ike_builder_init(&b, buf, sizeof buf);
                OK(ike_build_sa(&b, &want, 1, 1, sas[i].spi, sas[i].spi_size));
                OK(ike_build_finish(&b, &len));
                uint8_t *cpy = dup_exact(buf + 4, len - 4);
                assert_err(ike_sa_decode(cpy, len - 4, IKE_SA_CTX_ANY, false, &sa), IKE_OK);
                g_assert_true(bh_proposal_equal(&sa.prop[0].p, &want));
                g_assert_cmpmem(sa.prop[0].spi, sa.prop[0].spi_size, sas[i].spi, sas[i].spi_size);
                assert_err(sa.prop[0].verdict, IKE_OK);
                g_free(cpy);
        }
}

static void test_roundtrip_skf(void) {
        IkeBuilder b;
        IkeHeader h = { .spi_i = SPI_I, .spi_r = SPI_R, .exchange = IKE_EXCH_IKE_AUTH, .flags = IKE_FLAG_INITIATOR,
                        .msg_id = 1 };
        uint8_t buf[BUF], *body;
        size_t aad, len;
        Parsed p;

        for (uint16_t k = 1; k <= 3; k++) {
                ike_builder_init(&b, buf, sizeof buf);
                OK(ike_build_header(&b, &h));
                OK(ike_build_sk(&b, IKE_PL_IDI, 200, k, 3, &body, &aad));
                OK(ike_build_finish(&b, &len));
                g_assert_cmpuint(aad, ==, IKE_HEADER_LEN + 8);
                assert_err(parse(&p, buf, len), IKE_OK);
                g_assert_cmpuint(p.m.sk.type, ==, IKE_PL_SKF);
                g_assert_cmpuint(p.m.sk.frag_number, ==, k);
                g_assert_cmpuint(p.m.sk.frag_total, ==, 3);
                g_assert_cmpuint(p.m.sk.aad_len, ==, aad);
                g_assert_cmpuint(p.m.sk.body_len, ==, 200);
                g_assert_cmpuint(p.m.sk.next, ==, k == 1 ? IKE_PL_IDI : IKE_PL_NONE);
                assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
                parsed_clear(&p);
        }
}

/* ------------------------------------------------------------ header */

static IkeErr header_only(const uint8_t *buf, size_t len) {
        IkeHeader h;
        uint8_t *c = dup_exact(buf, len);
        IkeErr e = ike_header_parse(c, len, &h);
        g_free(c);
        return e;
}

static void test_header(void) {
        uint8_t buf[BUF], m[BUF];
        size_t len = init_request(buf, sizeof buf, NULL);
        Enc e;

        for (size_t n = 0; n < IKE_HEADER_LEN; n++)
                assert_err(header_only(buf, n), IKE_ERR_SHORT);
        assert_err(header_only(buf, len), IKE_OK);

        memcpy(m, buf, len);
        m[17] = 0x10;
        assert_err(header_only(m, len), IKE_ERR_IKEV1);
        m[17] = 0x30;
        assert_err(header_only(m, len), IKE_ERR_MAJOR_VERSION);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_MAJOR_VERSION), ==, IKE_N_INVALID_MAJOR_VERSION);
        m[17] = 0x00;
        assert_err(header_only(m, len), IKE_ERR_MAJOR_VERSION);
        /* 3.1: the minor version is ignored. */
        m[17] = 0x21;
        assert_err(header_only(m, len), IKE_OK);

        memcpy(m, buf, len);
        put32(m + 24, 27);
        assert_err(header_only(m, len), IKE_ERR_LENGTH_SMALL);
        put32(m + 24, 0);
        assert_err(header_only(m, len), IKE_ERR_LENGTH_SMALL);
        put32(m + 24, (uint32_t) len + 1);
        assert_err(header_only(m, len), IKE_ERR_LENGTH_TRUNCATED);
        put32(m + 24, (uint32_t) len - 1);
        assert_err(header_only(m, len), IKE_ERR_LENGTH_TRAILING);
        put32(m + 24, 0xffffffff);
        assert_err(header_only(m, len), IKE_ERR_TOO_BIG);
        put32(m + 24, IKE_MSG_MAX_LEN + 1);
        assert_err(header_only(m, len), IKE_ERR_TOO_BIG);
        /* A datagram one byte short of what the header says. */
        assert_err(header_only(buf, len - 1), IKE_ERR_LENGTH_TRUNCATED);

        memcpy(m, buf, len);
        for (unsigned x = 0; x < 256; x++) {
                m[18] = (uint8_t) x;
                IkeErr r = header_only(m, len);
                if (x == 34)
                        assert_err(r, IKE_OK);
                else if (x == 38 || x == 43 || x == 44)
                        assert_err(r, IKE_ERR_EXCHANGE_UNSUPPORTED);
                else if (x < 34 || x > 37)
                        assert_err(r, IKE_ERR_EXCHANGE);
        }

        memcpy(m, buf, len);
        memset(m, 0, 8);
        assert_err(header_only(m, len), IKE_ERR_SPI_I_ZERO);
        memcpy(m, buf, len);
        m[15] = 1;
        assert_err(header_only(m, len), IKE_ERR_SPI_R_NONZERO);
        memcpy(m, buf, len);
        put32(m + 20, 1);
        assert_err(header_only(m, len), IKE_ERR_MESSAGE_ID);
        memcpy(m, buf, len);
        m[19] = 0;
        assert_err(header_only(m, len), IKE_ERR_FLAGS);
        m[19] = IKE_FLAG_INITIATOR | IKE_FLAG_RESPONSE;
        assert_err(header_only(m, len), IKE_ERR_FLAGS);
        /* Version and reserved bits are ignored (3.1). */
        m[19] = IKE_FLAG_INITIATOR | IKE_FLAG_VERSION | 0x07 | 0xc0;
        assert_err(header_only(m, len), IKE_OK);

        auth_request(&e, NULL);
        memcpy(m, e.out, e.len);
        memset(m + 8, 0, 8);
        assert_err(header_only(m, e.len), IKE_ERR_SPI_R_ZERO);
        memcpy(m, e.out, e.len);
        put32(m + 20, 0x7fffffff);
        assert_err(header_only(m, e.len), IKE_OK);
}

/* ------------------------------------------------------------ payload chain */

/* Each Payload Length of a valid message changed in turn: -4, -1, +1, +4,
 * 0, 1, 3, 0xffff. None may be accepted or read out of bounds; below 4 and
 * past the end give PAYLOAD_LENGTH exactly. inner: the chain is the
 * decrypted part of e. */
static void lengths_malformed(const uint8_t *msg, size_t len, const Enc *e) {
        Parsed p;
        const uint8_t *chain = e ? e->plain : msg;
        size_t chain_len = e ? e->plain_len : len;

        if (e)
                assert_err(parse_enc(&p, e), IKE_OK);
        else
                assert_err(parse(&p, msg, len), IKE_OK);
        size_t from = e ? p.m.n_outer : 0;
        size_t n = p.m.n;
        size_t offs[IKE_MSG_PAYLOADS_MAX];
        for (size_t i = from; i < n; i++)
                offs[i] = p.m.pl[i].off;
        parsed_clear(&p);

        static const int deltas[] = { -4, -1, 1, 4 };
        static const uint16_t values[] = { 0, 1, 3, 0xffff };
        for (size_t i = from; i < n; i++) {
                uint8_t m[BUF];
                size_t at = offs[i];
                uint16_t orig = get16(chain + at + 2);

                for (size_t k = 0; k < G_N_ELEMENTS(deltas) + G_N_ELEMENTS(values); k++) {
                        uint16_t v = k < G_N_ELEMENTS(deltas) ? (uint16_t) (orig + deltas[k])
                                                              : values[k - G_N_ELEMENTS(deltas)];
                        bool past = at + v > chain_len;
                        IkeErr r;

                        memcpy(m, chain, chain_len);
                        put16(m + at + 2, v);
                        if (e) {
                                assert_err(parse(&p, e->out, e->len), IKE_OK);
                                r = parse_inner(&p, p.m.sk.next, m, chain_len);
                        } else
                                r = parse(&p, m, chain_len);
                        if (r == IKE_OK)
                                r = ike_msg_check_exchange(&p.m, NULL);
                        if (v < 4 || past)
                                assert_err(r, IKE_ERR_PAYLOAD_LENGTH);
                        else
                                g_assert_cmpint(r, !=, IKE_OK);
                        parsed_clear(&p);
                }
        }
}

static void test_chain_lengths(void) {
        uint8_t buf[BUF];
        size_t len;
        Enc e;

        len = init_request(buf, sizeof buf, NULL);
        lengths_malformed(buf, len, NULL);
        len = init_response(buf, sizeof buf, NULL);
        lengths_malformed(buf, len, NULL);
        auth_request(&e, NULL);
        lengths_malformed(NULL, 0, &e);
        auth_response(&e, NULL);
        lengths_malformed(NULL, 0, &e);
        create_child(&e, false, NULL);
        lengths_malformed(NULL, 0, &e);

        /* Truncated datagrams, the header's Length following: every cut
         * inside the payloads fails, none reads past the cut. */
        len = init_request(buf, sizeof buf, NULL);
        for (size_t cut = IKE_HEADER_LEN + 1; cut < len; cut++) {
                uint8_t m[BUF];
                Parsed p;

                memcpy(m, buf, cut);
                put32(m + 24, (uint32_t) cut);
                g_assert_cmpint(parse(&p, m, cut), !=, IKE_OK);
                parsed_clear(&p);
        }
        /* A header that promises payloads and has none. */
        {
                uint8_t m[IKE_HEADER_LEN];
                Parsed p;
                memcpy(m, buf, IKE_HEADER_LEN);
                put32(m + 24, IKE_HEADER_LEN);
                assert_err(parse(&p, m, IKE_HEADER_LEN), IKE_ERR_PAYLOAD_TRUNCATED);
                g_assert_cmpuint(p.m.err_type, ==, IKE_PL_SA);
                parsed_clear(&p);
        }
        /* Bytes after a chain that says it ended. */
        {
                uint8_t m[BUF];
                Parsed p;
                memcpy(m, buf, len);
                memset(m + len, 0, 4);
                put32(m + 24, (uint32_t) len + 4);
                assert_err(parse(&p, m, len + 4), IKE_ERR_TRAILING);
                parsed_clear(&p);
        }
}

static void test_chain_unknown(void) {
        uint8_t buf[BUF], body[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
        size_t len;
        Parsed p;

        /* RFC 7296 3.2: unrecognized and critical: refused, and the type
         * is the data of UNSUPPORTED_CRITICAL_PAYLOAD. */
        static const uint8_t unknown[] = { 14, 32, 49, 50, 51, 52, 54, 55, 128, 255 };
        for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++) {
                Raw raw = { unknown[i], true, body, sizeof body };
                Spec s = { .raw = &raw, .n_raw = 1 };

                len = init_request(buf, sizeof buf, &s);
                assert_err(parse(&p, buf, len), IKE_ERR_CRITICAL);
                g_assert_cmpuint(p.m.err_type, ==, unknown[i]);
                g_assert_cmpuint(ike_err_notify(IKE_ERR_CRITICAL), ==, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD);
                parsed_clear(&p);

                /* Not critical: skipped, wherever it is. */
                raw.critical = false;
                for (int first = 0; first < 2; first++) {
                        s.raw_first = first;
                        len = init_request(buf, sizeof buf, &s);
                        assert_err(parse(&p, buf, len), IKE_OK);
                        g_assert_cmpuint(p.m.n_skipped, ==, 1);
                        g_assert_cmpuint(p.m.n, ==, 8);
                        assert_err(ike_msg_check_exchange(&p.m, NULL), IKE_OK);
                        parsed_clear(&p);
                }
        }

        /* The critical bit of a recognized payload is ignored. */
        {
                uint8_t m[BUF];
                len = init_request(m, sizeof m, NULL);
                assert_err(parse(&p, m, len), IKE_OK);
                size_t off = p.m.pl[1].off;
                parsed_clear(&p);
                m[off + 1] = IKE_PAYLOAD_CRITICAL | 0x7f;
                assert_err(parse(&p, m, len), IKE_OK);
                g_assert_true(p.m.pl[1].critical);
                parsed_clear(&p);
        }

        /* Inside SK too. */
        Raw raw = { 60, true, body, sizeof body };
        Spec s = { .raw = &raw, .n_raw = 1 };
        Enc e;
        auth_request(&e, &s);
        assert_err(parse(&p, e.out, e.len), IKE_OK);
        assert_err(parse_inner(&p, p.m.sk.next, e.plain, e.plain_len), IKE_ERR_CRITICAL);
        g_assert_cmpuint(p.m.err_type, ==, 60);
        parsed_clear(&p);
}

static void test_chain_sk(void) {
        uint8_t buf[BUF], body[64];
        size_t len;
        Parsed p;
        Enc e;

        fill(body, sizeof body, 30);
        auth_request(&e, NULL);

        /* SK not last: a payload after it. */
        {
                uint8_t m[BUF];
                memcpy(m, e.out, e.len);
                /* SK says its length is 8 less than it is: the rest looks
                 * like bytes after SK. */
                put16(m + IKE_HEADER_LEN + 2, (uint16_t) (get16(m + IKE_HEADER_LEN + 2) - 8));
                assert_err(parse(&p, m, e.len), IKE_ERR_SK_NOT_LAST);
                parsed_clear(&p);
        }
        /* A truncated SK: its length points past the end. */
        {
                uint8_t m[BUF];
                memcpy(m, e.out, e.len);
                put32(m + 24, (uint32_t) e.len - 10);
                assert_err(parse(&p, m, e.len - 10), IKE_ERR_PAYLOAD_LENGTH);
                g_assert_cmpuint(p.m.err_type, ==, IKE_PL_SK);
                parsed_clear(&p);
        }
        /* SK too short for an IV and an ICV, down to empty. */
        for (size_t n = 0; n < IKE_SK_BODY_MIN; n++) {
                Raw raw = { IKE_PL_SK, false, body, n };
                IkeBuilder b;
                IkeHeader h = { .spi_i = SPI_I, .spi_r = SPI_R, .exchange = IKE_EXCH_IKE_AUTH, .msg_id = 1 };

                ike_builder_init(&b, buf, sizeof buf);
                OK(ike_build_header(&b, &h));
                OK(ike_build_raw(&b, raw.type, false, raw.body, raw.len));
                OK(ike_build_finish(&b, &len));
                assert_err(parse(&p, buf, len), IKE_ERR_SK_SHORT);
                parsed_clear(&p);
        }
        /* SK (or SKF) inside SK. */
        for (uint8_t t = IKE_PL_SK; t <= IKE_PL_SKF; t += IKE_PL_SKF - IKE_PL_SK) {
                Raw raw = { t, false, body, sizeof body };
                Spec s = { .raw = &raw, .n_raw = 1 };
                Enc e2;
                auth_request(&e2, &s);
                assert_err(parse(&p, e2.out, e2.len), IKE_OK);
                assert_err(parse_inner(&p, p.m.sk.next, e2.plain, e2.plain_len), IKE_ERR_SK_NESTED);
                parsed_clear(&p);
        }
        /* SKF numbers (RFC 7383 2.5). */
        static const uint16_t bad[][2] = { { 0, 3 }, { 4, 3 }, { 1, 0 }, { 0, 0 }, { 0xffff, 1 } };
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                uint8_t skf[40];
                fill(skf, sizeof skf, 31);
                put16(skf, bad[i][0]);
                put16(skf + 2, bad[i][1]);
                Raw raw = { IKE_PL_SKF, false, skf, sizeof skf };
                IkeBuilder b;
                IkeHeader h = { .spi_i = SPI_I, .spi_r = SPI_R, .exchange = IKE_EXCH_IKE_AUTH, .msg_id = 1 };

                ike_builder_init(&b, buf, sizeof buf);
                OK(ike_build_header(&b, &h));
                OK(ike_build_raw(&b, raw.type, false, raw.body, raw.len));
                OK(ike_build_finish(&b, &len));
                assert_err(parse(&p, buf, len), IKE_ERR_SKF_NUMBER);
                parsed_clear(&p);
        }
        /* parse_inner without SK, or twice. */
        len = init_request(buf, sizeof buf, NULL);
        assert_err(parse(&p, buf, len), IKE_OK);
        assert_err(ike_msg_parse_inner(&p.m, IKE_PL_NONE, NULL, 0), IKE_ERR_MISSING_SK);
        parsed_clear(&p);
        assert_err(parse_enc(&p, &e), IKE_OK);
        assert_err(ike_msg_parse_inner(&p.m, p.m.sk.next, p.plain, e.plain_len), IKE_ERR_MISSING_SK);
        parsed_clear(&p);
}

static void test_chain_counts(void) {
        uint8_t buf[BUF], nonce[32];
        size_t len;
        Parsed p;

        fill(nonce, sizeof nonce, 40);
        /* Types allowed once: a second one is refused. */
        {
                uint8_t ke_body[36] = { 0, BH_CURVE_25519, 0, 0 };
                fill(ke_body + 4, 32, 41);
                Raw raws[] = {
                        { IKE_PL_KE, false, ke_body, sizeof ke_body },
                        { IKE_PL_NONCE, false, nonce, sizeof nonce },
                };
                for (size_t i = 0; i < G_N_ELEMENTS(raws); i++) {
                        Spec s = { .raw = &raws[i], .n_raw = 1 };
                        len = init_request(buf, sizeof buf, &s);
                        assert_err(parse(&p, buf, len), IKE_ERR_DUPLICATE);
                        g_assert_cmpuint(p.m.err_type, ==, raws[i].type);
                        parsed_clear(&p);
                }
                Raw auth2 = { IKE_PL_AUTH, false, (const uint8_t[]) { 2, 0, 0, 0, 1, 2, 3 }, 7 };
                Spec s = { .raw = &auth2, .n_raw = 1 };
                Enc e;
                auth_request(&e, &s);
                assert_err(parse_enc(&p, &e), IKE_ERR_DUPLICATE);
                parsed_clear(&p);
        }
        /* Notifications may repeat, up to the payload limit. */
        {
                uint8_t n_body[4] = { 0, 0, 0x40, 0x00 }; /* INITIAL_CONTACT */
                Raw raws[IKE_MSG_PAYLOADS_MAX];
                for (size_t i = 0; i < G_N_ELEMENTS(raws); i++)
                        raws[i] = (Raw) { IKE_PL_NOTIFY, false, n_body, sizeof n_body };
                /* 8 standard payloads + 56 = 64: accepted. */
                Spec s = { .raw = raws, .n_raw = IKE_MSG_PAYLOADS_MAX - 8 };
                len = init_request(buf, sizeof buf, &s);
                assert_err(parse(&p, buf, len), IKE_OK);
                g_assert_cmpuint(p.m.n, ==, IKE_MSG_PAYLOADS_MAX);
                parsed_clear(&p);
                s.n_raw++;
                len = init_request(buf, sizeof buf, &s);
                assert_err(parse(&p, buf, len), IKE_ERR_TOO_MANY_PAYLOADS);
                parsed_clear(&p);
                /* Skipped payloads count too. */
                for (size_t i = 0; i < G_N_ELEMENTS(raws); i++)
                        raws[i] = (Raw) { 200, false, NULL, 0 };
                len = init_request(buf, sizeof buf, &s);
                assert_err(parse(&p, buf, len), IKE_ERR_TOO_MANY_PAYLOADS);
                parsed_clear(&p);
        }
}

/* ------------------------------------------------------------ exchange rules */

static void test_exchange_rules(void) {
        uint8_t buf[BUF], body[32];
        size_t len;
        uint8_t type;
        Enc e;

        fill(body, sizeof body, 50);
        uint8_t id_body[8] = { IKE_ID_FQDN, 0, 0, 0, 'a', '.', 'b', 'c' };
        uint8_t auth_body[8] = { IKE_AUTH_SHARED_KEY_MIC, 0, 0, 0, 1, 2, 3, 4 };
        uint8_t ts_body[20] = { 1, 0, 0, 0, IKE_TS_IPV4_ADDR_RANGE, 0, 0, 16, 0, 0, 0xff, 0xff, 10, 0, 0, 0, 10, 0, 0, 255 };
        uint8_t del_body[4] = { BH_PROTO_IKE, 0, 0, 0 };
        uint8_t n_body[4] = { 0, 0, 0x40, 0x00 };

        /* IKE_SA_INIT: identities, AUTH, selectors, deletes only inside
         * SK; SK itself cannot be there. */
        struct {
                Raw raw;
                IkeErr want;
        } init_cases[] = {
                { { IKE_PL_IDI, false, id_body, sizeof id_body }, IKE_ERR_NOT_ENCRYPTED },
                { { IKE_PL_IDR, false, id_body, sizeof id_body }, IKE_ERR_NOT_ENCRYPTED },
                { { IKE_PL_AUTH, false, auth_body, sizeof auth_body }, IKE_ERR_NOT_ENCRYPTED },
                { { IKE_PL_TSI, false, ts_body, sizeof ts_body }, IKE_ERR_NOT_ENCRYPTED },
                { { IKE_PL_TSR, false, ts_body, sizeof ts_body }, IKE_ERR_NOT_ENCRYPTED },
                { { IKE_PL_DELETE, false, del_body, sizeof del_body }, IKE_ERR_NOT_ENCRYPTED },
                { { IKE_PL_SK, false, body, sizeof body }, IKE_ERR_NOT_ALLOWED },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(init_cases); i++) {
                Spec s = { .raw = &init_cases[i].raw, .n_raw = 1 };
                len = init_request(buf, sizeof buf, &s);
                assert_err(full_plain(buf, len, &type), init_cases[i].want);
                g_assert_cmpuint(type, ==, init_cases[i].raw.type);
        }
        /* SKF in IKE_SA_INIT: RFC 7383 never fragments it. */
        {
                uint8_t skf[40];
                fill(skf, sizeof skf, 51);
                put16(skf, 1);
                put16(skf + 2, 1);
                Raw raw = { IKE_PL_SKF, false, skf, sizeof skf };
                Spec s = { .raw = &raw, .n_raw = 1 };
                len = init_request(buf, sizeof buf, &s);
                assert_err(full_plain(buf, len, &type), IKE_ERR_NOT_ALLOWED);
        }
        /* Response without SA: notifications only. */
        {
                Spec s = { .omit = OMIT(IKE_PL_SA) | OMIT(IKE_PL_KE) | OMIT(IKE_PL_NONCE) | OMIT(IKE_PL_NOTIFY) };
                len = init_response(buf, sizeof buf, &s);
                assert_err(full_plain(buf, len, &type), IKE_ERR_MISSING_PAYLOAD);
                g_assert_cmpuint(type, ==, IKE_PL_NOTIFY);
                s.omit = OMIT(IKE_PL_SA) | OMIT(IKE_PL_KE) | OMIT(IKE_PL_NONCE);
                len = init_response(buf, sizeof buf, &s);
                assert_err(full_plain(buf, len, &type), IKE_OK);
                s.omit = OMIT(IKE_PL_KE);
                len = init_response(buf, sizeof buf, &s);
                assert_err(full_plain(buf, len, &type), IKE_ERR_MISSING_PAYLOAD);
                g_assert_cmpuint(type, ==, IKE_PL_KE);
        }
        /* IKE_SA_INIT with IKE proposals of SPI size 8: 3.3.1 says 0. */
        {
                BhProposal p = proposal(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519");
                IkeBuilder b;
                uint8_t sa[BUF];
                size_t sa_len;
                ike_builder_init(&b, sa, sizeof sa);
                OK(ike_build_sa(&b, &p, 1, 1, IKE_SPI8, 8));
                OK(ike_build_finish(&b, &sa_len));
                Raw raw = { IKE_PL_SA, false, sa + 4, sa_len - 4 };
                Spec s = { .omit = OMIT(IKE_PL_SA), .raw = &raw, .n_raw = 1 };
                len = init_request(buf, sizeof buf, &s);
                assert_err(full_plain(buf, len, &type), IKE_ERR_SA_SPI_SIZE);
                g_assert_cmpuint(type, ==, IKE_PL_SA);
        }

        /* IKE_AUTH, INFORMATIONAL, CREATE_CHILD_SA without SK. */
        for (uint8_t x = IKE_EXCH_IKE_AUTH; x <= IKE_EXCH_INFORMATIONAL; x++) {
                IkeBuilder b;
                IkeHeader h = { .spi_i = SPI_I, .spi_r = SPI_R, .exchange = x, .msg_id = 1 };
                ike_builder_init(&b, buf, sizeof buf);
                OK(ike_build_header(&b, &h));
                OK(ike_build_finish(&b, &len));
                assert_err(full_plain(buf, len, &type), IKE_ERR_MISSING_SK);
                /* ... or with cleartext payloads before SK. */
                Raw outer = { IKE_PL_NOTIFY, false, n_body, sizeof n_body };
                len = sk_message(buf, sizeof buf, x, 0, 1, IKE_PL_NONE, 0, &outer, 1);
                assert_err(full_plain(buf, len, &type), IKE_ERR_NOT_ENCRYPTED);
                g_assert_cmpuint(type, ==, IKE_PL_NOTIFY);
                outer = (Raw) { IKE_PL_IDI, false, id_body, sizeof id_body };
                len = sk_message(buf, sizeof buf, x, 0, 1, IKE_PL_NONE, 0, &outer, 1);
                assert_err(full_plain(buf, len, &type), IKE_ERR_NOT_ENCRYPTED);
        }

        /* Inside SK: what each exchange allows. */
        uint8_t ke_body[36] = { 0, BH_CURVE_25519, 0, 0 };
        fill(ke_body + 4, 32, 52);
        {
                Raw raw = { IKE_PL_KE, false, ke_body, sizeof ke_body };
                Spec s = { .raw = &raw, .n_raw = 1 };
                auth_request(&e, &s);
                assert_err(full_enc(&e, &type), IKE_ERR_NOT_ALLOWED);
                g_assert_cmpuint(type, ==, IKE_PL_KE);
                Raw idi = { IKE_PL_IDI, false, id_body, sizeof id_body };
                s.raw = &idi;
                auth_response(&e, &s);
                assert_err(full_enc(&e, &type), IKE_ERR_NOT_ALLOWED);
                g_assert_cmpuint(type, ==, IKE_PL_IDI);
                Raw del = { IKE_PL_DELETE, false, del_body, sizeof del_body };
                s.raw = &del;
                auth_request(&e, &s);
                assert_err(full_enc(&e, &type), IKE_ERR_NOT_ALLOWED);
                create_child(&e, false, &s);
                assert_err(full_enc(&e, &type), IKE_ERR_NOT_ALLOWED);
                s.raw = &idi;
                informational(&e, &s);
                assert_err(full_enc(&e, &type), IKE_ERR_NOT_ALLOWED);
        }
        /* SA, TSi, TSr together or not at all. */
        {
                static const uint8_t part[] = { IKE_PL_SA, IKE_PL_TSI, IKE_PL_TSR };
                for (size_t i = 0; i < G_N_ELEMENTS(part); i++) {
                        Spec s = { .omit = OMIT(part[i]) };
                        auth_request(&e, &s);
                        assert_err(full_enc(&e, &type), IKE_ERR_MISSING_PAYLOAD);
                        g_assert_cmpuint(type, ==, part[i]);
                        auth_response(&e, &s);
                        assert_err(full_enc(&e, &type), IKE_ERR_MISSING_PAYLOAD);
                        create_child(&e, false, &s);
                        assert_err(full_enc(&e, &type), IKE_ERR_MISSING_PAYLOAD);
                }
                /* Childless IKE_AUTH (RFC 6023) has none of them. */
                Spec s = { .omit = OMIT(IKE_PL_SA) | OMIT(IKE_PL_TSI) | OMIT(IKE_PL_TSR) };
                auth_request(&e, &s);
                assert_err(full_enc(&e, &type), IKE_OK);
        }
        /* CREATE_CHILD_SA needs SA and Nonce; its rekey of the IKE SA needs
         * an 8-octet SPI. */
        {
                Spec s = { .omit = OMIT(IKE_PL_NONCE) };
                create_child(&e, true, &s);
                assert_err(full_enc(&e, &type), IKE_ERR_MISSING_PAYLOAD);
                g_assert_cmpuint(type, ==, IKE_PL_NONCE);

                BhProposal p = proposal(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519");
                IkeBuilder b;
                uint8_t sa[BUF];
                size_t sa_len;
                ike_builder_init(&b, sa, sizeof sa);
                OK(ike_build_sa(&b, &p, 1, 1, NULL, 0));
                OK(ike_build_finish(&b, &sa_len));
                Raw raw = { IKE_PL_SA, false, sa + 4, sa_len - 4 };
                s = (Spec) { .omit = OMIT(IKE_PL_SA), .raw = &raw, .n_raw = 1 };
                create_child(&e, true, &s);
                assert_err(full_enc(&e, &type), IKE_ERR_SA_SPI_SIZE);
        }
}

/* ------------------------------------------------------------ SA payload */

/* The body of an SA payload for one proposal string. */
static size_t sa_body(uint8_t *out, BhProtocolId proto, const char *s, const uint8_t *spi, size_t spi_size) {
        BhProposal p = proposal(proto, s);
        IkeBuilder b;
        uint8_t buf[BUF];
        size_t len;

        ike_builder_init(&b, buf, sizeof buf);
        OK(ike_build_sa(&b, &p, 1, 1, spi, spi_size));
        OK(ike_build_finish(&b, &len));
        memcpy(out, buf + 4, len - 4);
        return len - 4;
}

static IkeErr sa_exact(const uint8_t *body, size_t len, IkeSaCtx ctx, bool response, IkeSa *sa) {
        uint8_t *c = dup_exact(body, len);
        IkeErr e = ike_sa_decode(c, len, ctx, response, sa);
        g_free(c);
        return e;
}

static void test_sa_malformed(void) {
        uint8_t ok[512], m[512];
        IkeSa sa;
        /* aes256gcm16-prfsha256-x25519 (IKE, no SPI):
         *   0 proposal header (8)
         *   8 ENCR transform (12, Key Length attribute at 16)
         *  20 PRF transform (8)
         *  28 DH transform (8)            36 octets */
        size_t len = sa_body(ok, BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519", NULL, 0);
        g_assert_cmpuint(len, ==, 36);
        assert_err(sa_exact(ok, len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_OK);

#define MUTATE(stmt, want)                                                                                             \
        do {                                                                                                           \
                memcpy(m, ok, len);                                                                                    \
                stmt;                                                                                                  \
                assert_err(sa_exact(m, len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), want);                                \
        } while (0)

        assert_err(sa_exact(ok, 0, IKE_SA_CTX_ANY, false, &sa), IKE_ERR_SA_EMPTY);
        for (size_t n = 1; n < len; n++)
                g_assert_cmpint(sa_exact(ok, n, IKE_SA_CTX_ANY, false, &sa), !=, IKE_OK);
        /* Proposal Length: each value around the right one. */
        MUTATE(put16(m + 2, 0), IKE_ERR_SA_PROPOSAL_LENGTH);
        MUTATE(put16(m + 2, 7), IKE_ERR_SA_PROPOSAL_LENGTH);
        MUTATE(put16(m + 2, 37), IKE_ERR_SA_PROPOSAL_LENGTH);
        MUTATE(put16(m + 2, 0xffff), IKE_ERR_SA_PROPOSAL_LENGTH);
        MUTATE(put16(m + 2, 35), IKE_ERR_SA_TRANSFORM_LENGTH);
        MUTATE(put16(m + 2, 28), IKE_ERR_SA_TRANSFORM_COUNT);
        /* Last Substruc: 2 says more proposals follow, none does. */
        MUTATE(m[0] = IKE_SUBSTRUC_PROPOSAL, IKE_ERR_SA_LAST_SUBSTRUC);
        MUTATE(m[0] = IKE_SUBSTRUC_TRANSFORM, IKE_ERR_SA_LAST_SUBSTRUC);
        MUTATE(m[0] = 1, IKE_ERR_SA_LAST_SUBSTRUC);
        MUTATE(m[8] = IKE_SUBSTRUC_LAST, IKE_ERR_SA_LAST_SUBSTRUC);
        MUTATE(m[8] = IKE_SUBSTRUC_PROPOSAL, IKE_ERR_SA_LAST_SUBSTRUC);
        MUTATE(m[28] = IKE_SUBSTRUC_TRANSFORM, IKE_ERR_SA_LAST_SUBSTRUC);
        /* Proposal numbers start at 1. */
        MUTATE(m[4] = 0, IKE_ERR_SA_PROPOSAL_NUMBER);
        MUTATE(m[4] = 2, IKE_ERR_SA_PROPOSAL_NUMBER);
        /* SPI Size: 0 for IKE in IKE_SA_INIT. */
        MUTATE(m[6] = 8, IKE_ERR_SA_SPI_SIZE);
        MUTATE(m[6] = 4, IKE_ERR_SA_SPI_SIZE);
        MUTATE(m[6] = 255, IKE_ERR_SA_SPI_SIZE);
        /* Num Transforms: 0, one too many, one too few. */
        MUTATE(m[7] = 0, IKE_ERR_SA_TRANSFORM_COUNT);
        MUTATE(m[7] = 4, IKE_ERR_SA_LAST_SUBSTRUC);
        MUTATE((m[7] = 4, m[28] = IKE_SUBSTRUC_TRANSFORM), IKE_ERR_SA_TRANSFORM_COUNT);
        MUTATE(m[7] = 2, IKE_ERR_SA_LAST_SUBSTRUC);
        MUTATE((m[7] = 2, m[20] = IKE_SUBSTRUC_LAST), IKE_ERR_SA_TRANSFORM_COUNT);
        MUTATE(m[7] = 255, IKE_ERR_SA_LAST_SUBSTRUC);
        /* Transform Length. */
        MUTATE(put16(m + 10, 0), IKE_ERR_SA_TRANSFORM_LENGTH);
        MUTATE(put16(m + 10, 7), IKE_ERR_SA_TRANSFORM_LENGTH);
        MUTATE(put16(m + 10, 11), IKE_ERR_SA_ATTRIBUTE);
        MUTATE(put16(m + 10, 13), IKE_ERR_SA_ATTRIBUTE);
        MUTATE(put16(m + 30, 9), IKE_ERR_SA_TRANSFORM_LENGTH);
        MUTATE(put16(m + 30, 0xffff), IKE_ERR_SA_TRANSFORM_LENGTH);
        MUTATE(put16(m + 30, 7), IKE_ERR_SA_TRANSFORM_LENGTH);
        /* Key Length: TLV form (its "value" then a length of 256). */
        MUTATE(put16(m + 16, IKE_ATTR_KEY_LENGTH), IKE_ERR_SA_ATTRIBUTE);
        {
                /* Key Length on PRF, and twice on ENCR. */
                uint8_t big[64];
                memcpy(big, ok, len);
                /* PRF transform with a Key Length: move DH 4 later. */
                memmove(big + 32, big + 28, 8);
                put16(big + 22, 12);
                put16(big + 28, IKE_ATTR_FORMAT_TV | IKE_ATTR_KEY_LENGTH);
                put16(big + 30, 128);
                put16(big + 2, 40);
                assert_err(sa_exact(big, 40, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_ATTRIBUTE);
                memcpy(big, ok, 20);
                memcpy(big + 24, ok + 20, 16);
                put16(big + 10, 16);
                put16(big + 20, IKE_ATTR_FORMAT_TV | IKE_ATTR_KEY_LENGTH);
                put16(big + 22, 256);
                put16(big + 2, 40);
                assert_err(sa_exact(big, 40, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_ATTRIBUTE);
                /* A TLV attribute whose length runs past the transform. */
                memcpy(big, ok, 20);
                memcpy(big + 24, ok + 20, 16);
                put16(big + 10, 16);
                put16(big + 20, 0x0042);
                put16(big + 22, 1);
                put16(big + 2, 40);
                assert_err(sa_exact(big, 40, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_ATTRIBUTE);
                /* An unknown TLV attribute that fits: the proposal is only
                 * unacceptable. */
                put16(big + 22, 0);
                assert_err(sa_exact(big, 40, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_OK);
                assert_err(sa.prop[0].verdict, IKE_ERR_PROPOSAL_ATTRIBUTE);
                /* A truncated attribute header. */
                put16(big + 10, 14);
                memmove(big + 22, big + 24, 16);
                put16(big + 2, 38);
                assert_err(sa_exact(big, 38, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_ATTRIBUTE);
        }
        /* ESP: SPI Size 4 only. */
        {
                uint8_t esp[64];
                size_t elen = sa_body(esp, BH_PROTO_ESP, "aes256gcm16", ESP_SPI, 4);
                assert_err(sa_exact(esp, elen, IKE_SA_CTX_CHILD, false, &sa), IKE_OK);
                esp[6] = 0;
                assert_err(sa_exact(esp, elen, IKE_SA_CTX_CHILD, false, &sa), IKE_ERR_SA_SPI_SIZE);
                esp[6] = 8;
                assert_err(sa_exact(esp, elen, IKE_SA_CTX_CHILD, false, &sa), IKE_ERR_SA_SPI_SIZE);
                esp[6] = 5;
                assert_err(sa_exact(esp, elen, IKE_SA_CTX_ANY, false, &sa), IKE_ERR_SA_SPI_SIZE);
        }
        /* Two proposals: numbering, Last Substruc of the first, a response
         * with two. */
        {
                uint8_t two[128];
                memcpy(two, ok, len);
                memcpy(two + len, ok, len);
                two[0] = IKE_SUBSTRUC_PROPOSAL;
                two[len + 4] = 2;
                assert_err(sa_exact(two, 2 * len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_OK);
                g_assert_cmpuint(sa.n, ==, 2);
                assert_err(sa_exact(two, 2 * len, IKE_SA_CTX_IKE_SA_INIT, true, &sa), IKE_ERR_SA_RESPONSE);
                two[len + 4] = 3;
                assert_err(sa_exact(two, 2 * len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_PROPOSAL_NUMBER);
                two[len + 4] = 1;
                assert_err(sa_exact(two, 2 * len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_PROPOSAL_NUMBER);
                two[len + 4] = 2;
                two[0] = IKE_SUBSTRUC_LAST;
                assert_err(sa_exact(two, 2 * len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_LAST_SUBSTRUC);
                two[0] = IKE_SUBSTRUC_PROPOSAL;
                two[len] = IKE_SUBSTRUC_PROPOSAL;
                assert_err(sa_exact(two, 2 * len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_LAST_SUBSTRUC);
        }
        /* A response with two transforms of a type. */
        {
                uint8_t r[128];
                size_t rlen = sa_body(r, BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519-ecp256", NULL, 0);
                assert_err(sa_exact(r, rlen, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_OK);
                assert_err(sa_exact(r, rlen, IKE_SA_CTX_IKE_SA_INIT, true, &sa), IKE_ERR_SA_RESPONSE);
                /* ... and a response may carry the number chosen. */
                r[4] = 7;
                rlen = sa_body(r, BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519", NULL, 0);
                r[4] = 7;
                assert_err(sa_exact(r, rlen, IKE_SA_CTX_IKE_SA_INIT, true, &sa), IKE_OK);
                g_assert_cmpuint(sa.prop[0].num, ==, 7);
        }
#undef MUTATE
}

static void test_sa_verdicts(void) {
        uint8_t ok[512], m[512];
        IkeSa sa;
        size_t len = sa_body(ok, BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519", NULL, 0);

#define VERDICT(stmt, ctx, want)                                                                                       \
        do {                                                                                                           \
                memcpy(m, ok, len);                                                                                    \
                stmt;                                                                                                  \
                assert_err(sa_exact(m, len, ctx, false, &sa), IKE_OK);                                                 \
                assert_err(sa.prop[0].verdict, want);                                                                  \
                assert_err(ike_sa_acceptable(&sa, NULL), want);                                                        \
        } while (0)

        /* 3.3.6: unknown protocol or transform type, the proposal only. */
        VERDICT(m[5] = 9, IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_PROTOCOL);
        VERDICT(m[24] = 6, IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_TRANSFORM_TYPE);
        VERDICT(m[24] = 200, IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_TRANSFORM_TYPE);
        VERDICT(m[24] = BH_TRANSFORM_ESN, IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_TRANSFORM_TYPE);
        /* An IKE proposal where a child SA is negotiated. */
        VERDICT((void) 0, IKE_SA_CTX_CHILD, IKE_ERR_PROPOSAL_PROTOCOL);
        /* PRF replaced by INTEG: no PRF. */
        VERDICT((m[24] = BH_TRANSFORM_INTEG, put16(m + 26, BH_AUTH_HMAC_SHA2_256_128)), IKE_SA_CTX_ANY,
                IKE_ERR_PROPOSAL_INCOMPLETE);
        /* An ENCR id nobody implements here (Camellia CBC, 23), with a Key
         * Length: a type left without a transform we run. */
        VERDICT(put16(m + 14, 23), IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_INCOMPLETE);
        VERDICT(put16(m + 14, BH_ENCR_AES_CBC), IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_INCOMPLETE);
        VERDICT((put16(m + 14, BH_ENCR_AES_CBC), m[24] = BH_TRANSFORM_INTEG, put16(m + 26, 12)), IKE_SA_CTX_ANY,
                IKE_ERR_PROPOSAL_INCOMPLETE);
        /* AES-GCM with a key size not offered here (AES-192 is), or none. */
        VERDICT(put16(m + 18, 100), IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_UNSUPPORTED);
        VERDICT(put16(m + 14, 16), IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_UNSUPPORTED);
        /* A D-H group not implemented here (MODP 1024). */
        VERDICT(put16(m + 34, 2), IKE_SA_CTX_ANY, IKE_ERR_PROPOSAL_UNSUPPORTED);
        /* ESP proposals where an IKE SA is negotiated. */
        {
                uint8_t esp[64];
                size_t elen = sa_body(esp, BH_PROTO_ESP, "aes256gcm16", ESP_SPI, 4);
                assert_err(sa_exact(esp, elen, IKE_SA_CTX_REKEY_IKE, false, &sa), IKE_OK);
                assert_err(sa.prop[0].verdict, IKE_ERR_PROPOSAL_PROTOCOL);
                /* A ChaCha20 proposal with a Key Length it must not have
                 * (RFC 7634 2). */
                elen = sa_body(esp, BH_PROTO_ESP, "chacha20poly1305", ESP_SPI, 4);
                assert_err(sa_exact(esp, elen, IKE_SA_CTX_CHILD, false, &sa), IKE_OK);
                assert_err(sa.prop[0].verdict, IKE_OK);
                uint8_t kl[64];
                /* header 8, SPI 4, ENCR transform at 12 (8), ESN at 20 */
                memcpy(kl, esp, 20);
                put16(kl + 20, IKE_ATTR_FORMAT_TV | IKE_ATTR_KEY_LENGTH);
                put16(kl + 22, 256);
                memcpy(kl + 24, esp + 20, elen - 20);
                put16(kl + 14, 12);
                put16(kl + 2, (uint16_t) (elen + 4));
                assert_err(sa_exact(kl, elen + 4, IKE_SA_CTX_CHILD, false, &sa), IKE_OK);
                assert_err(sa.prop[0].verdict, IKE_ERR_PROPOSAL_UNSUPPORTED);
                g_assert_cmpuint(sa.prop[0].n_skipped, ==, 1);
        }
        /* Transforms sent out of order come back in policy order. */
        {
                uint8_t r[128];
                size_t rlen = sa_body(r, BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519", NULL, 0);
                uint8_t swapped[128];
                memcpy(swapped, r, 8);
                memcpy(swapped + 8, r + 28, 8);   /* DH first */
                memcpy(swapped + 16, r + 20, 8);  /* PRF */
                memcpy(swapped + 24, r + 8, 12);  /* ENCR last */
                swapped[8] = swapped[16] = IKE_SUBSTRUC_TRANSFORM;
                swapped[24] = IKE_SUBSTRUC_LAST;
                assert_err(sa_exact(swapped, rlen, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_OK);
                BhProposal want = proposal(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519");
                g_assert_true(bh_proposal_equal(&sa.prop[0].p, &want));
        }
        /* More proposals than kept: all validated, the first ones kept. */
        {
                uint8_t many[36 * 20];
                for (size_t i = 0; i < 20; i++) {
                        memcpy(many + i * len, ok, len);
                        many[i * len] = i + 1 < 20 ? IKE_SUBSTRUC_PROPOSAL : IKE_SUBSTRUC_LAST;
                        many[i * len + 4] = (uint8_t) (i + 1);
                }
                assert_err(sa_exact(many, 20 * len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_OK);
                g_assert_cmpuint(sa.n, ==, IKE_SA_PROPOSALS_MAX);
                g_assert_cmpuint(sa.n_sent, ==, 20);
                many[19 * len + 7] = 0;
                assert_err(sa_exact(many, 20 * len, IKE_SA_CTX_IKE_SA_INIT, false, &sa), IKE_ERR_SA_TRANSFORM_COUNT);
        }
#undef VERDICT
}

/* ------------------------------------------------------------ other payloads */

typedef IkeErr (*Decoder)(const uint8_t *body, size_t len);

static IkeErr dec_nonce(const uint8_t *b, size_t n) {
        IkeNonce x;
        return ike_nonce_decode(b, n, &x);
}
static IkeErr dec_notify(const uint8_t *b, size_t n) {
        IkeNotify x;
        return ike_notify_decode(b, n, &x);
}
static IkeErr dec_id(const uint8_t *b, size_t n) {
        IkeId x;
        return ike_id_decode(b, n, &x);
}
static IkeErr dec_auth(const uint8_t *b, size_t n) {
        IkeAuth x;
        return ike_auth_decode(b, n, &x);
}
static IkeErr dec_delete(const uint8_t *b, size_t n) {
        IkeDelete x;
        return ike_delete_decode(b, n, &x);
}
static IkeErr dec_cp(const uint8_t *b, size_t n) {
        IkeCp x;
        return ike_cp_decode(b, n, &x);
}
static IkeErr dec_ts(const uint8_t *b, size_t n) {
        IkeTsList x;
        return ike_ts_decode(b, n, &x);
}
static IkeErr dec_ke(const uint8_t *b, size_t n) {
        IkeKe x;
        return ike_ke_decode(b, n, &x);
}

static IkeErr run_exact(Decoder d, const uint8_t *body, size_t len) {
        uint8_t *c = dup_exact(body, len);
        IkeErr e = d(c, len);
        g_free(c);
        return e;
}

static void test_nonce(void) {
        uint8_t n[300];
        fill(n, sizeof n, 60);
        for (size_t len = 0; len <= sizeof n; len++)
                assert_err(run_exact(dec_nonce, n, len),
                           len >= IKE_NONCE_MIN && len <= IKE_NONCE_MAX ? IKE_OK : IKE_ERR_NONCE_LENGTH);
}

static void test_notify(void) {
        uint8_t b[128];
        fill(b, sizeof b, 61);
        for (size_t len = 0; len < 4; len++)
                assert_err(run_exact(dec_notify, b, len), IKE_ERR_PAYLOAD_LENGTH);

#define N(proto, spi, type, data_len, want)                                                                            \
        do {                                                                                                           \
                b[0] = (proto);                                                                                        \
                b[1] = (spi);                                                                                          \
                put16(b + 2, (type));                                                                                  \
                assert_err(run_exact(dec_notify, b, 4u + (spi) + (data_len)), want);                                   \
        } while (0)

        N(0, 3, IKE_N_INVALID_SPI, 0, IKE_ERR_NOTIFY_SPI);
        N(0, 16, IKE_N_INVALID_SPI, 0, IKE_ERR_NOTIFY_SPI);
        N(BH_PROTO_IKE, 4, IKE_N_INVALID_SPI, 0, IKE_ERR_NOTIFY_PROTOCOL);
        N(BH_PROTO_ESP, 8, IKE_N_INVALID_SPI, 0, IKE_ERR_NOTIFY_PROTOCOL);
        N(0, 4, IKE_N_INVALID_SPI, 0, IKE_ERR_NOTIFY_PROTOCOL);
        N(BH_PROTO_ESP, 4, IKE_N_INVALID_SPI, 0, IKE_OK);
        N(BH_PROTO_IKE, 8, IKE_N_INVALID_SPI, 0, IKE_OK);
        /* Protocol ID without SPI: ignored (3.10). */
        N(77, 0, IKE_N_INITIAL_CONTACT, 0, IKE_OK);
        /* SPI Size beyond the payload. */
        b[0] = BH_PROTO_ESP;
        b[1] = 4;
        assert_err(run_exact(dec_notify, b, 7), IKE_ERR_NOTIFY_SPI);
        /* Per type. */
        N(0, 0, IKE_N_COOKIE, 0, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_COOKIE, 1, IKE_OK);
        N(0, 0, IKE_N_COOKIE, 64, IKE_OK);
        N(0, 0, IKE_N_COOKIE, 65, IKE_ERR_NOTIFY_DATA);
        N(BH_PROTO_ESP, 4, IKE_N_COOKIE, 8, IKE_ERR_NOTIFY_SPI);
        N(0, 0, IKE_N_NAT_DETECTION_SOURCE_IP, 19, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_NAT_DETECTION_SOURCE_IP, 21, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_NAT_DETECTION_DESTINATION_IP, 20, IKE_OK);
        N(0, 0, IKE_N_INVALID_KE_PAYLOAD, 2, IKE_OK);
        N(0, 0, IKE_N_INVALID_KE_PAYLOAD, 3, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_UNSUPPORTED_CRITICAL_PAYLOAD, 0, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_SET_WINDOW_SIZE, 4, IKE_OK);
        N(0, 0, IKE_N_SET_WINDOW_SIZE, 2, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_REKEY_SA, 0, IKE_ERR_NOTIFY_SPI);
        N(BH_PROTO_AH, 4, IKE_N_REKEY_SA, 0, IKE_OK);
        N(0, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, 1, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_USE_TRANSPORT_MODE, 4, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, 0, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, 3, IKE_ERR_NOTIFY_DATA);
        N(0, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, 8, IKE_OK);
        /* Unknown types are opaque. */
        N(0, 0, 12345, 100, IKE_OK);
#undef N
}

static void test_id_auth(void) {
        uint8_t b[IKE_AUTH_DATA_MAX + 8];
        fill(b, sizeof b, 62);
        for (size_t len = 0; len < 4; len++) {
                assert_err(run_exact(dec_id, b, len), IKE_ERR_PAYLOAD_LENGTH);
                assert_err(run_exact(dec_auth, b, len), IKE_ERR_PAYLOAD_LENGTH);
        }
        static const struct {
                uint8_t type;
                size_t len;
                IkeErr want;
        } ids[] = {
                { IKE_ID_IPV4_ADDR, 4, IKE_OK },        { IKE_ID_IPV4_ADDR, 3, IKE_ERR_ID_LENGTH },
                { IKE_ID_IPV4_ADDR, 5, IKE_ERR_ID_LENGTH }, { IKE_ID_IPV6_ADDR, 16, IKE_OK },
                { IKE_ID_IPV6_ADDR, 15, IKE_ERR_ID_LENGTH }, { IKE_ID_IPV6_ADDR, 4, IKE_ERR_ID_LENGTH },
                { IKE_ID_FQDN, 0, IKE_ERR_ID_LENGTH },  { IKE_ID_FQDN, 1, IKE_OK },
                { IKE_ID_FQDN, IKE_ID_DATA_MAX, IKE_OK }, { IKE_ID_FQDN, IKE_ID_DATA_MAX + 1, IKE_ERR_ID_LENGTH },
                { IKE_ID_KEY_ID, 0, IKE_ERR_ID_LENGTH }, { IKE_ID_NULL, 0, IKE_OK },
                { IKE_ID_NULL, 1, IKE_ERR_ID_LENGTH },  { 0, 4, IKE_ERR_ID_TYPE },
                { 4, 4, IKE_ERR_ID_TYPE },              { 6, 4, IKE_ERR_ID_TYPE },
                { 14, 4, IKE_ERR_ID_TYPE },             { 255, 4, IKE_ERR_ID_TYPE },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(ids); i++) {
                b[0] = ids[i].type;
                assert_err(run_exact(dec_id, b, 4 + ids[i].len), ids[i].want);
        }
        static const struct {
                uint8_t method;
                size_t len;
                IkeErr want;
        } auths[] = {
                { IKE_AUTH_SHARED_KEY_MIC, 32, IKE_OK },   { IKE_AUTH_SHARED_KEY_MIC, 0, IKE_ERR_AUTH_LENGTH },
                { IKE_AUTH_DIGITAL_SIGNATURE, IKE_AUTH_DATA_MAX, IKE_OK },
                { IKE_AUTH_DIGITAL_SIGNATURE, IKE_AUTH_DATA_MAX + 1, IKE_ERR_AUTH_LENGTH },
                { 0, 32, IKE_ERR_AUTH_METHOD },            { 4, 32, IKE_ERR_AUTH_METHOD },
                { 15, 32, IKE_ERR_AUTH_METHOD },           { 255, 32, IKE_ERR_AUTH_METHOD },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(auths); i++) {
                b[0] = auths[i].method;
                assert_err(run_exact(dec_auth, b, 4 + auths[i].len), auths[i].want);
        }
        g_assert_cmpuint(ike_err_notify(IKE_ERR_AUTH_METHOD), ==, IKE_N_AUTHENTICATION_FAILED);
}

static void test_delete_cp_opaque(void) {
        uint8_t b[64];
        fill(b, sizeof b, 63);

        for (size_t len = 0; len < 4; len++)
                assert_err(run_exact(dec_delete, b, len), IKE_ERR_PAYLOAD_LENGTH);
#define D(proto, spi, n, rest, want)                                                                                   \
        do {                                                                                                           \
                b[0] = (proto);                                                                                        \
                b[1] = (spi);                                                                                          \
                put16(b + 2, (n));                                                                                     \
                assert_err(run_exact(dec_delete, b, 4u + (rest)), want);                                               \
        } while (0)
        D(BH_PROTO_ESP, 4, 2, 8, IKE_OK);
        D(BH_PROTO_ESP, 4, 2, 7, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_ESP, 4, 2, 9, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_ESP, 4, 3, 8, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_ESP, 4, 1, 8, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_ESP, 4, 0, 0, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_ESP, 4, 0xffff, 8, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_ESP, 8, 1, 8, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_ESP, 0, 1, 0, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_AH, 4, 1, 4, IKE_OK);
        D(BH_PROTO_IKE, 0, 0, 0, IKE_OK);
        D(BH_PROTO_IKE, 8, 1, 8, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_IKE, 0, 1, 0, IKE_ERR_DELETE_SPI);
        D(BH_PROTO_IKE, 0, 0, 4, IKE_ERR_DELETE_SPI);
        D(0, 4, 1, 4, IKE_ERR_DELETE_PROTOCOL);
        D(4, 4, 1, 4, IKE_ERR_DELETE_PROTOCOL);
#undef D

        for (size_t len = 0; len < 4; len++)
                assert_err(run_exact(dec_cp, b, len), IKE_ERR_PAYLOAD_LENGTH);
        memset(b, 0, sizeof b);
        for (unsigned t = 0; t < 8; t++) {
                b[0] = (uint8_t) t;
                assert_err(run_exact(dec_cp, b, 4), t >= 1 && t <= 4 ? IKE_OK : IKE_ERR_CP_TYPE);
        }
        b[0] = IKE_CFG_REPLY;
        put16(b + 4, IKE_CFG_INTERNAL_IP4_ADDRESS);
        put16(b + 6, 4);
        assert_err(run_exact(dec_cp, b, 12), IKE_OK);
        assert_err(run_exact(dec_cp, b, 11), IKE_ERR_CP_ATTRIBUTE);
        assert_err(run_exact(dec_cp, b, 13), IKE_ERR_CP_ATTRIBUTE);
        assert_err(run_exact(dec_cp, b, 7), IKE_ERR_CP_ATTRIBUTE);
        put16(b + 6, 3);
        assert_err(run_exact(dec_cp, b, 11), IKE_ERR_CP_ATTRIBUTE);
        put16(b + 6, 0xffff);
        assert_err(run_exact(dec_cp, b, 12), IKE_ERR_CP_ATTRIBUTE);
        put16(b + 4, 0x8000 | IKE_CFG_INTERNAL_IP6_ADDRESS); /* R bit ignored */
        put16(b + 6, 17);
        assert_err(run_exact(dec_cp, b, 25), IKE_OK);
        put16(b + 6, 16);
        assert_err(run_exact(dec_cp, b, 24), IKE_ERR_CP_ATTRIBUTE);
        {
                uint8_t many[4 + 4 * (IKE_CP_ATTRS_MAX + 1)] = { IKE_CFG_REQUEST };
                for (size_t i = 0; i <= IKE_CP_ATTRS_MAX; i++)
                        put16(many + 4 + 4 * i, IKE_CFG_INTERNAL_IP4_DNS);
                assert_err(run_exact(dec_cp, many, sizeof many - 4), IKE_OK);
                assert_err(run_exact(dec_cp, many, sizeof many), IKE_ERR_CP_TOO_MANY);
        }

        IkeCert c;
        assert_err(ike_cert_decode(b, 0, true, &c), IKE_ERR_OPAQUE_LENGTH);
        assert_err(ike_cert_decode(b, 1, false, &c), IKE_ERR_OPAQUE_LENGTH);
        assert_err(ike_vendor_decode(b, 0), IKE_ERR_OPAQUE_LENGTH);
        uint8_t eap[8] = { 1, 1, 0, 8, 1, 'a', 'b', 'c' };
        assert_err(ike_eap_decode(eap, 8), IKE_OK);
        assert_err(ike_eap_decode(eap, 7), IKE_ERR_OPAQUE_LENGTH);
        assert_err(ike_eap_decode(eap, 3), IKE_ERR_OPAQUE_LENGTH);
        eap[3] = 9;
        assert_err(ike_eap_decode(eap, 8), IKE_ERR_OPAQUE_LENGTH);
}

/* ------------------------------------------------------------ CVE classes */

/* CVE-2014-9221 (strongSwan): a KE payload whose group the code did not
 * check indexed a table with it. Every group not implemented here is
 * refused before its data is looked at, and answered INVALID_KE_PAYLOAD;
 * the rest of the message stays readable so that the answer can name the
 * group the SA payload asks for. */
static void test_cve_2014_9221_ke_unchecked_group(void) {
        uint8_t ke[4 + 600], buf[BUF];

        fill(ke + 4, 600, 70);
        for (unsigned g = 0; g <= 0xffff; g += (g < 64 ? 1 : 97)) {
                size_t want = ike_dh_ke_len(g);
                put16(ke, (uint16_t) g);
                ke[2] = ke[3] = 0;
                IkeErr r = run_exact(dec_ke, ke, 4 + (want ? want : 32));
                if (want)
                        assert_err(r, IKE_OK);
                else
                        assert_err(r, IKE_ERR_KE_GROUP);
        }
        put16(ke, 1025);
        assert_err(run_exact(dec_ke, ke, 4 + 32), IKE_ERR_KE_GROUP);
        assert_err(run_exact(dec_ke, ke, 4), IKE_ERR_KE_GROUP);
        for (size_t n = 0; n < 4; n++)
                assert_err(run_exact(dec_ke, ke, n), IKE_ERR_PAYLOAD_LENGTH);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_KE_GROUP), ==, IKE_N_INVALID_KE_PAYLOAD);

        Raw raw = { IKE_PL_KE, false, ke, 4 + 32 };
        Spec s = { .omit = OMIT(IKE_PL_KE), .raw = &raw, .n_raw = 1 };
        size_t len = init_request(buf, sizeof buf, &s);
        Parsed p;
        assert_err(parse(&p, buf, len), IKE_ERR_KE_GROUP);
        g_assert_cmpuint(p.m.err_type, ==, IKE_PL_KE);
        g_assert_nonnull(ike_msg_find(&p.m, IKE_PL_SA));
        parsed_clear(&p);
}

/* CVE-2015-3991 (strongSwan): IKEv1 payload types inside an IKEv2 message
 * were parsed with IKEv1 rules. Types 1..13 are refused, critical or not,
 * in the cleartext part and inside SK. */
static void test_cve_2015_3991_ikev1_payload_types(void) {
        uint8_t buf[BUF], body[24];
        Parsed p;

        fill(body, sizeof body, 71);
        for (uint8_t t = IKE_PL_IKEV1_FIRST; t <= IKE_PL_IKEV1_LAST; t++)
                for (int crit = 0; crit < 2; crit++) {
                        Raw raw = { t, crit, body, sizeof body };
                        Spec s = { .raw = &raw, .n_raw = 1 };
                        size_t len = init_request(buf, sizeof buf, &s);

                        assert_err(parse(&p, buf, len), IKE_ERR_IKEV1_PAYLOAD);
                        g_assert_cmpuint(p.m.err_type, ==, t);
                        parsed_clear(&p);
                        s.raw_first = true;
                        len = init_request(buf, sizeof buf, &s);
                        assert_err(parse(&p, buf, len), IKE_ERR_IKEV1_PAYLOAD);
                        parsed_clear(&p);

                        Enc e;
                        auth_request(&e, &s);
                        assert_err(parse_enc(&p, &e), IKE_ERR_IKEV1_PAYLOAD);
                        parsed_clear(&p);
                }
        g_assert_cmpuint(ike_err_notify(IKE_ERR_IKEV1_PAYLOAD), ==, IKE_N_INVALID_SYNTAX);
}

/* CVE-2013-6467 (libreswan): an IKE_SA_INIT without KE reached code that
 * dereferenced the missing payload. The exchange rules refuse every message
 * that lacks a payload its exchange requires, and say which. */
static void test_cve_2013_6467_missing_payload(void) {
        uint8_t buf[BUF];
        uint8_t type;
        Parsed p;

        static const uint8_t core[] = { IKE_PL_SA, IKE_PL_KE, IKE_PL_NONCE };
        for (size_t i = 0; i < G_N_ELEMENTS(core); i++) {
                Spec s = { .omit = OMIT(core[i]) };
                size_t len = init_request(buf, sizeof buf, &s);

                assert_err(parse(&p, buf, len), IKE_OK);
                g_assert_null(ike_msg_find(&p.m, core[i]));
                assert_err(ike_msg_check_exchange(&p.m, &type), IKE_ERR_MISSING_PAYLOAD);
                g_assert_cmpuint(type, ==, core[i]);
                parsed_clear(&p);
        }
        /* An IKE_SA_INIT request of nothing but a header. */
        {
                IkeBuilder b;
                IkeHeader h = { .spi_i = SPI_I, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_INITIATOR };
                size_t len;
                ike_builder_init(&b, buf, sizeof buf);
                OK(ike_build_header(&b, &h));
                OK(ike_build_finish(&b, &len));
                assert_err(full_plain(buf, len, &type), IKE_ERR_MISSING_PAYLOAD);
                g_assert_cmpuint(type, ==, IKE_PL_SA);
        }
        /* IKE_AUTH: a request with neither IDi, AUTH nor EAP; a response
         * with neither AUTH, EAP nor a notification. */
        Enc e;
        Spec s = { .omit = OMIT(IKE_PL_IDI) | OMIT(IKE_PL_AUTH) };
        auth_request(&e, &s);
        assert_err(full_enc(&e, &type), IKE_ERR_MISSING_PAYLOAD);
        g_assert_cmpuint(type, ==, IKE_PL_IDI);
        /* IDi without AUTH is the EAP way (2.16): accepted. */
        s.omit = OMIT(IKE_PL_AUTH);
        auth_request(&e, &s);
        assert_err(full_enc(&e, &type), IKE_OK);
        s.omit = OMIT(IKE_PL_AUTH) | OMIT(IKE_PL_IDR) | OMIT(IKE_PL_CP) | OMIT(IKE_PL_SA) | OMIT(IKE_PL_TSI) |
                 OMIT(IKE_PL_TSR);
        auth_response(&e, &s);
        assert_err(full_enc(&e, &type), IKE_ERR_MISSING_PAYLOAD);
        g_assert_cmpuint(type, ==, IKE_PL_AUTH);
        /* CREATE_CHILD_SA without SA. */
        s.omit = OMIT(IKE_PL_SA);
        create_child(&e, false, &s);
        assert_err(full_enc(&e, &type), IKE_ERR_MISSING_PAYLOAD);
        g_assert_cmpuint(type, ==, IKE_PL_SA);
}

/* CVE-2015-3240 (Libreswan): a KE value of 0 (g^x = 0) was accepted. An
 * all-zero value is refused for every group, MODP and ECP alike. */
static void test_cve_2015_3240_ke_zero(void) {
        static const uint16_t groups[] = { BH_MODP_2048, BH_MODP_3072, BH_MODP_4096, BH_ECP_256,
                                           BH_ECP_384,   BH_ECP_521,   BH_CURVE_25519 };
        uint8_t ke[4 + 600];

        for (size_t i = 0; i < G_N_ELEMENTS(groups); i++) {
                size_t n = ike_dh_ke_len(groups[i]);
                if (n == 0 || n > 600)
                        g_assert_not_reached();
                memset(ke, 0, sizeof ke);
                put16(ke, groups[i]);
                assert_err(run_exact(dec_ke, ke, 4 + n), IKE_ERR_KE_ZERO);
                /* One bit anywhere makes it a value cryptod judges. */
                ke[4 + n - 1] = 1;
                assert_err(run_exact(dec_ke, ke, 4 + n), IKE_OK);
                ke[4 + n - 1] = 0;
                ke[4] = 0x80;
                assert_err(run_exact(dec_ke, ke, 4 + n), IKE_OK);
        }
        /* Through a whole message. */
        uint8_t buf[BUF], zero[36] = { 0, BH_CURVE_25519, 0, 0 };
        Raw raw = { IKE_PL_KE, false, zero, sizeof zero };
        Spec s = { .omit = OMIT(IKE_PL_KE), .raw = &raw, .n_raw = 1 };
        size_t len = init_request(buf, sizeof buf, &s);
        assert_err(full_plain(buf, len, NULL), IKE_ERR_KE_ZERO);
        /* The builder will not send one either. */
        IkeBuilder b;
        ike_builder_init(&b, buf, sizeof buf);
        g_assert_cmpint(ike_build_ke(&b, BH_CURVE_25519, zero + 4, 32), ==, -EINVAL);
}

/* CVE-2016-5391 (libreswan): an IKE proposal without a D-H transform
 * reached code that assumed one. Such a proposal is unacceptable, the other
 * proposals stay in play, and with none left the exchange rules report
 * PROPOSAL_NO_DH, which the caller answers NO_PROPOSAL_CHOSEN. */
static void test_cve_2016_5391_proposal_without_dh(void) {
        BhProposal no_dh = proposal(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519");
        BhProposal with_dh = proposal(BH_PROTO_IKE, "aes128-sha256-ecp256");
        uint8_t buf[BUF], sa[BUF];
        IkeBuilder b;
        size_t len, sa_len;
        uint8_t type;
        IkeSa d;

        /* Take the group out. */
        g_assert_cmpuint(no_dh.t[no_dh.n - 1].type, ==, BH_TRANSFORM_DH);
        no_dh.n--;

        ike_builder_init(&b, sa, sizeof sa);
        OK(ike_build_sa(&b, &no_dh, 1, 1, NULL, 0));
        OK(ike_build_finish(&b, &sa_len));
        assert_err(sa_exact(sa + 4, sa_len - 4, IKE_SA_CTX_IKE_SA_INIT, false, &d), IKE_OK);
        assert_err(d.prop[0].verdict, IKE_ERR_PROPOSAL_NO_DH);
        assert_err(ike_sa_acceptable(&d, NULL), IKE_ERR_PROPOSAL_NO_DH);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_PROPOSAL_NO_DH), ==, IKE_N_NO_PROPOSAL_CHOSEN);
        /* A child SA needs no group. */
        assert_err(sa_exact(sa + 4, sa_len - 4, IKE_SA_CTX_REKEY_IKE, false, &d), IKE_ERR_SA_SPI_SIZE);

        Raw raw = { IKE_PL_SA, false, sa + 4, sa_len - 4 };
        Spec s = { .omit = OMIT(IKE_PL_SA), .raw = &raw, .n_raw = 1 };
        len = init_request(buf, sizeof buf, &s);
        assert_err(full_plain(buf, len, &type), IKE_ERR_PROPOSAL_NO_DH);
        g_assert_cmpuint(type, ==, IKE_PL_SA);

        /* The same as a response: the peer chose a suite without a group. */
        len = init_response(buf, sizeof buf, &s);
        assert_err(full_plain(buf, len, &type), IKE_ERR_PROPOSAL_NO_DH);

        /* Next to a good proposal: the good one is chosen. */
        BhProposal both[2] = { no_dh, with_dh };
        ike_builder_init(&b, sa, sizeof sa);
        OK(ike_build_sa(&b, both, 2, 1, NULL, 0));
        OK(ike_build_finish(&b, &sa_len));
        size_t idx = 99;
        assert_err(sa_exact(sa + 4, sa_len - 4, IKE_SA_CTX_IKE_SA_INIT, false, &d), IKE_OK);
        assert_err(ike_sa_acceptable(&d, &idx), IKE_OK);
        g_assert_cmpuint(idx, ==, 1);
        raw.len = sa_len - 4;
        len = init_request(buf, sizeof buf, &s);
        assert_err(full_plain(buf, len, &type), IKE_OK);

        /* Rekeying the IKE SA needs a group too. */
        uint8_t spi8[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
        ike_builder_init(&b, sa, sizeof sa);
        OK(ike_build_sa(&b, &no_dh, 1, 1, spi8, 8));
        OK(ike_build_finish(&b, &sa_len));
        assert_err(sa_exact(sa + 4, sa_len - 4, IKE_SA_CTX_REKEY_IKE, false, &d), IKE_OK);
        assert_err(d.prop[0].verdict, IKE_ERR_PROPOSAL_NO_DH);
}

/* CVE-2023-23009 (libreswan): a TS payload whose lengths did not add up was
 * read past its end. Every Selector Length, Number of TSs and type is
 * checked against the payload before a byte of the selector is read. */
static void test_cve_2023_23009_malformed_ts(void) {
        IkeTs v4 = ts_v4("10.0.0.0/8[tcp/1-1024]"), v6 = ts_v4("2001:db8::/32");
        IkeTs list[2] = { v4, v6 };
        IkeBuilder b;
        uint8_t buf[BUF], m[BUF];
        size_t len;

        ike_builder_init(&b, buf, sizeof buf);
        OK(ike_build_ts(&b, IKE_PL_TSI, list, 2));
        OK(ike_build_finish(&b, &len));
        const uint8_t *ok = buf + 4;
        size_t n = len - 4; /* 4 + 16 + 40 */
        g_assert_cmpuint(n, ==, 60);
        assert_err(run_exact(dec_ts, ok, n), IKE_OK);

#define TS(stmt, size, want)                                                                                           \
        do {                                                                                                           \
                memcpy(m, ok, n);                                                                                      \
                stmt;                                                                                                  \
                assert_err(run_exact(dec_ts, m, size), want);                                                          \
        } while (0)

        /* Every truncation. */
        for (size_t k = 0; k < n; k++)
                g_assert_cmpint(run_exact(dec_ts, ok, k), !=, IKE_OK);
        /* Number of TSs: 0, one more than there are, one less. */
        TS(m[0] = 0, n, IKE_ERR_TS_COUNT);
        TS(m[0] = 3, n, IKE_ERR_TS_COUNT);
        TS(m[0] = 255, n, IKE_ERR_TS_COUNT);
        TS(m[0] = 1, n, IKE_ERR_TS_LENGTH);
        /* Selector Length: each value that points past the end or short. */
        static const uint16_t v4_lens[] = { 0, 1, 3, 4, 8, 15, 17, 40, 0xffff };
        for (size_t i = 0; i < G_N_ELEMENTS(v4_lens); i++)
                TS(put16(m + 6, v4_lens[i]), n, IKE_ERR_TS_LENGTH);
        static const uint16_t v6_lens[] = { 0, 3, 16, 39, 41, 44, 0xffff };
        for (size_t i = 0; i < G_N_ELEMENTS(v6_lens); i++)
                TS(put16(m + 22, v6_lens[i]), n, IKE_ERR_TS_LENGTH);
        /* Type 7 with the IPv6 length, and the reverse. */
        TS(m[20] = IKE_TS_IPV4_ADDR_RANGE, n, IKE_ERR_TS_LENGTH);
        TS(m[4] = IKE_TS_IPV6_ADDR_RANGE, n, IKE_ERR_TS_LENGTH);
        /* Unknown types (TS_FC_ADDR_RANGE 9, TS_SECLABEL 10...). */
        TS(m[4] = 9, n, IKE_ERR_TS_TYPE);
        TS(m[20] = 10, n, IKE_ERR_TS_TYPE);
        TS(m[4] = 0, n, IKE_ERR_TS_TYPE);
        g_assert_cmpuint(ike_err_notify(IKE_ERR_TS_TYPE), ==, IKE_N_TS_UNACCEPTABLE);
        /* A last selector cut short: count and length promise more. */
        TS((void) 0, n - 1, IKE_ERR_TS_LENGTH);
        TS((void) 0, n - 39, IKE_ERR_TS_LENGTH);
        TS((void) 0, n - 40, IKE_ERR_TS_COUNT);
        /* Ranges: start after end. */
        TS(put16(m + 8, 2000), n, IKE_ERR_TS_RANGE);
        TS((put16(m + 8, 0xffff), put16(m + 10, 0)), n, IKE_OK); /* OPAQUE */
        TS((put16(m + 8, 0xffff), put16(m + 10, 1)), n, IKE_ERR_TS_RANGE);
        TS(m[12] = 11, n, IKE_ERR_TS_RANGE);
        TS(m[28 + 3] = 0xb9, n, IKE_ERR_TS_RANGE); /* 2001:db9:: > 2001:db8:ffff:... */
        TS(memcpy(m + 28, m + 44, 16), n, IKE_OK); /* one address: start == end */
#undef TS
        /* More selectors than kept. */
        {
                uint8_t many[4 + 16 * (IKE_TS_MAX + 1)];
                many[0] = IKE_TS_MAX + 1;
                many[1] = many[2] = many[3] = 0;
                for (size_t i = 0; i <= IKE_TS_MAX; i++)
                        memcpy(many + 4 + 16 * i, ok + 4, 16);
                assert_err(run_exact(dec_ts, many, sizeof many), IKE_ERR_TS_TOO_MANY);
                many[0] = IKE_TS_MAX;
                assert_err(run_exact(dec_ts, many, sizeof many - 16), IKE_OK);
        }
        /* Through IKE_AUTH: a TSr whose first selector claims 0xffff. */
        {
                uint8_t bad[60];
                memcpy(bad, ok, n);
                put16(bad + 6, 0xffff);
                Raw raw = { IKE_PL_TSR, false, bad, sizeof bad };
                Spec s = { .omit = OMIT(IKE_PL_TSR), .raw = &raw, .n_raw = 1 };
                Enc e;
                Parsed p;
                auth_request(&e, &s);
                assert_err(parse_enc(&p, &e), IKE_ERR_TS_LENGTH);
                g_assert_cmpuint(p.m.err_type, ==, IKE_PL_TSR);
                parsed_clear(&p);
        }
        /* The builder refuses a reversed range. */
        IkeTs rev = v4;
        rev.port_start = 9;
        rev.port_end = 8;
        ike_builder_init(&b, buf, sizeof buf);
        g_assert_cmpint(ike_build_ts(&b, IKE_PL_TSI, &rev, 1), ==, -EINVAL);
}

/* CVE-2023-41913 (strongSwan charon-tkm): a DH public value longer than the
 * group's was copied into a fixed buffer. The KE data must be exactly the
 * group's length: one octet more or less, or the whole payload, is refused. */
static void test_cve_2023_41913_oversized_ke(void) {
        static const uint16_t groups[] = { BH_MODP_2048, BH_MODP_3072, BH_MODP_4096, BH_ECP_256,
                                           BH_ECP_384,   BH_ECP_521,   BH_CURVE_25519 };
        static uint8_t ke[4 + 0xffff];
        uint8_t buf[IKE_MSG_MAX_LEN + 1];

        fill(ke + 4, sizeof ke - 4, 72);
        for (size_t i = 0; i < G_N_ELEMENTS(groups); i++) {
                size_t n = ike_dh_ke_len(groups[i]);
                put16(ke, groups[i]);
                assert_err(run_exact(dec_ke, ke, 4 + n), IKE_OK);
                assert_err(run_exact(dec_ke, ke, 4 + n + 1), IKE_ERR_KE_LENGTH);
                assert_err(run_exact(dec_ke, ke, 4 + n - 1), IKE_ERR_KE_LENGTH);
                assert_err(run_exact(dec_ke, ke, 4 + 2 * n), IKE_ERR_KE_LENGTH);
                assert_err(run_exact(dec_ke, ke, 4), IKE_ERR_KE_LENGTH);
                assert_err(run_exact(dec_ke, ke, 0xffff - 4), IKE_ERR_KE_LENGTH);
        }
        /* The largest KE payload a message can hold, in IKE_SA_INIT. */
        put16(ke, BH_CURVE_25519);
        Raw raw = { IKE_PL_KE, false, ke, 0xffff - 4 - 1000 };
        Spec s = { .omit = OMIT(IKE_PL_KE), .raw = &raw, .n_raw = 1 };
        size_t len = init_request(buf, sizeof buf, &s);
        Parsed p;
        assert_err(parse(&p, buf, len), IKE_ERR_KE_LENGTH);
        parsed_clear(&p);
        /* The builder will not write one. */
        IkeBuilder b;
        ike_builder_init(&b, buf, sizeof buf);
        g_assert_cmpint(ike_build_ke(&b, BH_CURVE_25519, ke + 4, 33), ==, -EINVAL);
}

/* ------------------------------------------------------------ builder */

static void test_builder_small(void) {
        uint8_t full[BUF];
        size_t want = init_request(full, sizeof full, NULL);

        /* Every buffer size short of the message: -ENOBUFS, never a write
         * past the end (each buffer is a heap block of exactly that size). */
        for (size_t size = 0; size < want; size++) {
                uint8_t *buf = size ? g_malloc(size) : NULL;
                IkeBuilder b;
                IkeHeader h = { .spi_i = SPI_I, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_INITIATOR };
                BhProposal p[2] = { proposal(BH_PROTO_IKE, init_proposals[0]),
                                    proposal(BH_PROTO_IKE, init_proposals[1]) };
                size_t len = 0;

                ike_builder_init(&b, buf, size);
                ike_build_header(&b, &h);
                ike_build_sa(&b, p, 2, 1, NULL, 0);
                ike_build_ke(&b, BH_CURVE_25519, ke_x25519, sizeof ke_x25519);
                ike_build_nonce(&b, nonce_i, sizeof nonce_i);
                ike_build_nat_detection(&b, false, natd_src);
                ike_build_nat_detection(&b, true, natd_dst);
                ike_build_notify(&b, 0, NULL, 0, IKE_N_IKEV2_FRAGMENTATION_SUPPORTED, NULL, 0);
                ike_build_notify(&b, 0, NULL, 0, IKE_N_SIGNATURE_HASH_ALGORITHMS, sig_hash, sizeof sig_hash);
                ike_build_vendor(&b, vid, sizeof vid);
                g_assert_cmpint(ike_build_finish(&b, &len), ==, -ENOBUFS);
                g_assert_cmpuint(b.len, <=, size);
                g_free(buf);
        }
        /* The exact size is enough. */
        uint8_t *buf = g_malloc(want);
        size_t len;
        g_assert_cmpuint(init_request(buf, want, NULL), ==, want);
        g_assert_cmpmem(buf, want, full, want);
        g_free(buf);

        /* The SK room too. */
        for (size_t size = 0; size < IKE_HEADER_LEN + 4 + IKE_SK_BODY_MIN; size++) {
                uint8_t *sb = g_malloc(size + 1);
                IkeBuilder b;
                IkeHeader h = { .spi_i = SPI_I, .spi_r = SPI_R, .exchange = IKE_EXCH_INFORMATIONAL };
                uint8_t *body = NULL;
                ike_builder_init(&b, sb, size);
                ike_build_header(&b, &h);
                ike_build_sk(&b, IKE_PL_NONE, IKE_SK_BODY_MIN, 0, 0, &body, NULL);
                g_assert_cmpint(ike_build_finish(&b, &len), ==, -ENOBUFS);
                g_assert_null(body);
                g_free(sb);
        }
}

static void test_builder_invalid(void) {
        uint8_t buf[BUF], data[300];
        IkeBuilder b;
        size_t len;
        IkeHeader h = { .spi_i = SPI_I, .exchange = IKE_EXCH_IKE_SA_INIT, .flags = IKE_FLAG_INITIATOR };
        BhProposal p = proposal(BH_PROTO_ESP, "aes256gcm16");

        fill(data, sizeof data, 80);
#define REFUSED(call)                                                                                                  \
        do {                                                                                                           \
                ike_builder_init(&b, buf, sizeof buf);                                                                 \
                g_assert_cmpint((call), ==, -EINVAL);                                                                  \
                g_assert_cmpint(ike_build_finish(&b, &len), ==, -EINVAL);                                              \
                g_assert_cmpint(ike_build_vendor(&b, data, 4), ==, -EINVAL); /* sticky */                            \
        } while (0)

        REFUSED(ike_build_nonce(&b, data, 15));
        REFUSED(ike_build_nonce(&b, data, 257));
        REFUSED(ike_build_ke(&b, BH_CURVE_25519, data, 31));
        REFUSED(ike_build_ke(&b, 1025, data, 32));
        REFUSED(ike_build_cookie(&b, data, 0));
        REFUSED(ike_build_cookie(&b, data, 65));
        REFUSED(ike_build_notify(&b, BH_PROTO_IKE, data, 4, IKE_N_INVALID_SPI, NULL, 0));
        REFUSED(ike_build_notify(&b, BH_PROTO_ESP, data, 9, IKE_N_INVALID_SPI, NULL, 0));
        REFUSED(ike_build_id(&b, IKE_PL_IDI, IKE_ID_IPV4_ADDR, data, 5));
        REFUSED(ike_build_id(&b, IKE_PL_AUTH, IKE_ID_FQDN, data, 5));
        REFUSED(ike_build_id(&b, IKE_PL_IDI, 77, data, 5));
        REFUSED(ike_build_auth(&b, 77, data, 5));
        REFUSED(ike_build_auth(&b, IKE_AUTH_SHARED_KEY_MIC, data, 0));
        REFUSED(ike_build_ts(&b, IKE_PL_TSI, NULL, 0));
        REFUSED(ike_build_delete(&b, BH_PROTO_ESP, NULL, 0));
        REFUSED(ike_build_delete(&b, 9, (const uint32_t[]) { 1 }, 1));
        REFUSED(ike_build_vendor(&b, data, 0));
        REFUSED(ike_build_cert(&b, IKE_PL_CERT, IKE_CERT_X509_SIGNATURE, data, 0));
        REFUSED(ike_build_cp(&b, 9, NULL, 0));
        REFUSED(ike_build_eap(&b, data, 5));
        REFUSED(ike_build_sa(&b, &p, 1, 1, ESP_SPI, 0));
        REFUSED(ike_build_sa(&b, &p, 1, 1, IKE_SPI8, 8));
        REFUSED(ike_build_sa(&b, &p, 0, 1, ESP_SPI, 4));
        REFUSED(ike_build_sa(&b, &p, 1, 0, ESP_SPI, 4));
        REFUSED(ike_build_sk(&b, IKE_PL_NONE, 100, 0, 0, NULL, NULL)); /* no header */
#undef REFUSED
        /* A header only first; nothing after SK. */
        ike_builder_init(&b, buf, sizeof buf);
        OK(ike_build_nonce(&b, data, 16));
        g_assert_cmpint(ike_build_header(&b, &h), ==, -EINVAL);
        ike_builder_init(&b, buf, sizeof buf);
        h.exchange = IKE_EXCH_IKE_AUTH;
        OK(ike_build_header(&b, &h));
        OK(ike_build_sk(&b, IKE_PL_NONE, 100, 0, 0, NULL, NULL));
        g_assert_cmpint(ike_build_nonce(&b, data, 16), ==, -EINVAL);
        ike_builder_init(&b, buf, sizeof buf);
        OK(ike_build_header(&b, &h));
        g_assert_cmpint(ike_build_sk(&b, IKE_PL_NONE, 100, 4, 3, NULL, NULL), ==, -EINVAL);
        /* A response SA with alternatives is refused... */
        h.flags = IKE_FLAG_RESPONSE;
        BhProposal two = proposal(BH_PROTO_ESP, "aes256gcm16-aes128gcm16");
        ike_builder_init(&b, buf, sizeof buf);
        OK(ike_build_header(&b, &h));
        g_assert_cmpint(ike_build_sa(&b, &two, 1, 1, ESP_SPI, 4), ==, -EINVAL);
        /* ... a payload over 64 KiB too. */
        static uint8_t huge[70000], src[65532];
        ike_builder_init(&b, huge, sizeof huge);
        g_assert_cmpint(ike_build_vendor(&b, src, 65532), ==, -EMSGSIZE);
        ike_builder_init(&b, huge, sizeof huge);
        OK(ike_build_vendor(&b, src, 65531));
}

/* ------------------------------------------------------------ mutations */

typedef struct Corpus {
        uint8_t msg[BUF];
        size_t len;
        const uint8_t *plain;           /* inner chain, when the message has SK */
        size_t plain_len;
        uint8_t first;
        size_t offs[IKE_MSG_PAYLOADS_MAX]; /* payload offsets (outer, or inner) */
        size_t n_offs;
} Corpus;

static size_t mutate(GRand *r, uint8_t *m, size_t len, size_t cap, const size_t *offs, size_t n_offs) {
        unsigned rounds = (unsigned) g_rand_int_range(r, 1, 5);

        for (unsigned k = 0; k < rounds; k++) {
                size_t at = len ? (size_t) g_rand_int_range(r, 0, (gint32) len) : 0;

                switch (g_rand_int_range(r, 0, 9)) {
                case 0:
                        if (len)
                                m[at] ^= (uint8_t) (1u << g_rand_int_range(r, 0, 8));
                        break;
                case 1:
                        if (len)
                                m[at] = (uint8_t) g_rand_int(r);
                        break;
                case 2:
                        if (len)
                                m[at] = g_rand_boolean(r) ? 0 : 0xff;
                        break;
                case 3:
                        len = at;
                        break;
                case 4:
                case 5:
                        /* A generic payload length, or a length just after
                         * one (Proposal, Transform, Selector lengths). */
                        if (n_offs) {
                                size_t o = offs[g_rand_int_range(r, 0, (gint32) n_offs)] + 2;
                                if (g_rand_boolean(r))
                                        o += (size_t) g_rand_int_range(r, 0, 40);
                                if (o + 2 <= len) {
                                        uint16_t v = get16(m + o);
                                        static const int d[] = { -2, -1, 1, 2, 4 };
                                        v = g_rand_boolean(r) ? (uint16_t) g_rand_int(r)
                                                              : (uint16_t) (v + d[g_rand_int_range(r, 0, 5)]);
                                        put16(m + o, v);
                                }
                        }
                        break;
                case 6: {
                        size_t n = (size_t) g_rand_int_range(r, 1, 9);
                        if (len + n <= cap) {
                                memmove(m + at + n, m + at, len - at);
                                for (size_t i = 0; i < n; i++)
                                        m[at + i] = (uint8_t) g_rand_int(r);
                                len += n;
                        }
                        break;
                }
                case 7: {
                        size_t n = (size_t) g_rand_int_range(r, 1, 9);
                        if (at + n <= len) {
                                memmove(m + at, m + at + n, len - at - n);
                                len -= n;
                        }
                        break;
                }
                default:
                        /* A type byte: a Next Payload field. */
                        if (n_offs) {
                                size_t o = offs[g_rand_int_range(r, 0, (gint32) n_offs)];
                                static const uint8_t types[] = { 0, 1, 5, 13, 14, 33, 34, 35, 41, 44, 46, 48, 53, 99 };
                                if (o < len)
                                        m[o] = types[g_rand_int_range(r, 0, G_N_ELEMENTS(types))];
                        }
                        break;
                }
        }
        return len;
}

static void check_accepted(Parsed *p) {
        uint8_t type;
        /* Whatever the rules say, nothing may crash, and what was accepted
         * decodes. */
        (void) ike_msg_check_exchange(&p->m, &type);
        decode_all(&p->m);
        for (size_t i = 0; i < p->m.n; i++) {
                g_assert_cmpuint(p->m.pl[i].len, <=, IKE_MSG_MAX_LEN);
                (void) ike_payload_name(p->m.pl[i].type);
        }
}

static void test_mutation(void) {
        g_autoptr(GRand) r = g_rand_new_with_seed(SEED);
        static Corpus corpus[7];
        static Enc encs[5];
        size_t n_corpus = 0;
        Parsed p;

        corpus[n_corpus].len = init_request(corpus[n_corpus].msg, BUF, NULL);
        n_corpus++;
        corpus[n_corpus].len = init_response(corpus[n_corpus].msg, BUF, NULL);
        n_corpus++;
        auth_request(&encs[0], NULL);
        auth_response(&encs[1], NULL);
        create_child(&encs[2], false, NULL);
        create_child(&encs[3], true, NULL);
        informational(&encs[4], NULL);
        for (size_t i = 0; i < G_N_ELEMENTS(encs); i++) {
                Corpus *c = &corpus[n_corpus++];
                memcpy(c->msg, encs[i].out, encs[i].len);
                c->len = encs[i].len;
                c->plain = encs[i].plain;
                c->plain_len = encs[i].plain_len;
                c->first = encs[i].first;
        }
        for (size_t i = 0; i < n_corpus; i++) {
                Corpus *c = &corpus[i];
                if (c->plain)
                        assert_err(parse_enc(&p, &encs[i - 2]), IKE_OK);
                else
                        assert_err(parse(&p, c->msg, c->len), IKE_OK);
                for (size_t k = c->plain ? p.m.n_outer : 0; k < p.m.n; k++)
                        c->offs[c->n_offs++] = p.m.pl[k].off;
                parsed_clear(&p);
        }

        static const size_t sk_off[1] = { IKE_HEADER_LEN };
        size_t accepted = 0, total = 0;
        for (size_t i = 0; i < n_corpus; i++) {
                const Corpus *c = &corpus[i];

                for (unsigned round = 0; round < MUTATION_ROUNDS; round++) {
                        uint8_t m[BUF + 64];
                        IkeErr e;

                        total++;
                        if (!c->plain || g_rand_boolean(r)) {
                                /* The cleartext message. */
                                memcpy(m, c->msg, c->len);
                                size_t len = c->plain ? mutate(r, m, c->len, sizeof m, sk_off, 1)
                                                      : mutate(r, m, c->len, sizeof m, c->offs, c->n_offs);
                                /* Mostly keep the header's Length true, so
                                 * that the payloads are reached. */
                                if (len >= IKE_HEADER_LEN && g_rand_int_range(r, 0, 4) != 0)
                                        put32(m + 24, (uint32_t) len);
                                e = parse(&p, m, len);
                                if (e == IKE_OK) {
                                        accepted++;
                                        check_accepted(&p);
                                        if (p.m.sk.present && c->plain) {
                                                if (parse_inner(&p, p.m.sk.next, c->plain, c->plain_len) == IKE_OK)
                                                        check_accepted(&p);
                                        }
                                }
                                parsed_clear(&p);
                        } else {
                                /* The decrypted chain: an authentic message
                                 * from a hostile peer. */
                                memcpy(m, c->plain, c->plain_len);
                                size_t len = mutate(r, m, c->plain_len, sizeof m, c->offs, c->n_offs);
                                uint8_t first = c->first;
                                if (g_rand_int_range(r, 0, 8) == 0)
                                        first = (uint8_t) g_rand_int(r);
                                assert_err(parse(&p, c->msg, c->len), IKE_OK);
                                e = parse_inner(&p, first, m, len);
                                if (e == IKE_OK) {
                                        accepted++;
                                        check_accepted(&p);
                                }
                                parsed_clear(&p);
                        }
                }
        }
        g_test_message("%zu mutated messages, %zu accepted", total, accepted);
        g_assert_cmpuint(total, ==, n_corpus * MUTATION_ROUNDS);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        init_data();

        g_test_add_func("/ike/names", test_names);
        g_test_add_func("/ike/roundtrip/ike-sa-init-request", test_roundtrip_init_request);
        g_test_add_func("/ike/roundtrip/ike-sa-init-response", test_roundtrip_init_response);
        g_test_add_func("/ike/roundtrip/ike-auth", test_roundtrip_auth);
        g_test_add_func("/ike/roundtrip/create-child-sa", test_roundtrip_create_child);
        g_test_add_func("/ike/roundtrip/informational", test_roundtrip_informational);
        g_test_add_func("/ike/roundtrip/payloads", test_roundtrip_payloads);
        g_test_add_func("/ike/roundtrip/skf", test_roundtrip_skf);
        g_test_add_func("/ike/header", test_header);
        g_test_add_func("/ike/chain/lengths", test_chain_lengths);
        g_test_add_func("/ike/chain/unknown-payloads", test_chain_unknown);
        g_test_add_func("/ike/chain/sk", test_chain_sk);
        g_test_add_func("/ike/chain/counts", test_chain_counts);
        g_test_add_func("/ike/exchange-rules", test_exchange_rules);
        g_test_add_func("/ike/sa/malformed", test_sa_malformed);
        g_test_add_func("/ike/sa/verdicts", test_sa_verdicts);
        g_test_add_func("/ike/nonce", test_nonce);
        g_test_add_func("/ike/notify", test_notify);
        g_test_add_func("/ike/id-auth", test_id_auth);
        g_test_add_func("/ike/delete-cp-opaque", test_delete_cp_opaque);
        g_test_add_func("/ike/cve-2014-9221/ke-unchecked-group", test_cve_2014_9221_ke_unchecked_group);
        g_test_add_func("/ike/cve-2015-3991/ikev1-payload-types", test_cve_2015_3991_ikev1_payload_types);
        g_test_add_func("/ike/cve-2013-6467/missing-payload", test_cve_2013_6467_missing_payload);
        g_test_add_func("/ike/cve-2015-3240/ke-zero", test_cve_2015_3240_ke_zero);
        g_test_add_func("/ike/cve-2016-5391/proposal-without-dh", test_cve_2016_5391_proposal_without_dh);
        g_test_add_func("/ike/cve-2023-23009/malformed-ts", test_cve_2023_23009_malformed_ts);
        g_test_add_func("/ike/cve-2023-41913/oversized-ke", test_cve_2023_41913_oversized_ke);
        g_test_add_func("/ike/builder/too-small", test_builder_small);
        g_test_add_func("/ike/builder/invalid", test_builder_invalid);
        g_test_add_func("/ike/mutation", test_mutation);
        return g_test_run();
}
