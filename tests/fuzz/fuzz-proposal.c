/* SPDX-License-Identifier: ISC */
/* IKEv2 proposals in strongSwan's syntax, as the ike_proposals, esp_proposals,
 * esp and ah keys of bulkhead-tunnels(5) give them (untrusted text).
 *
 * Input: one byte that chooses the protocol (IKE, AH, ESP), then the text.
 * Checks besides the sanitizers:
 *  - a refusal comes with a reason, one printable line;
 *  - an accepted list has 1..BH_PROPOSALS_MAX proposals of that protocol,
 *    each with its transforms sorted by type, each transform named;
 *  - bh_proposal_to_string() of every proposal parses back equal, and so
 *    does bh_proposal_list_to_string() of the list;
 *  - a single transform set (bh_proposal_check_single()) has key lengths,
 *    and for ESP and AH the data path accepts it with exactly that much
 *    key material (bh_transform_check()): what tmd accepts, filterd runs. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "proposal.h"

static const BhProtocolId protos[] = { BH_PROTO_IKE, BH_PROTO_AH, BH_PROTO_ESP };

/* The order proposal.h promises: ENCR, INTEG, PRF, DH, ESN. */
static int type_rank(uint8_t type) {
        switch (type) {
        case BH_TRANSFORM_ENCR: return 0;
        case BH_TRANSFORM_INTEG: return 1;
        case BH_TRANSFORM_PRF: return 2;
        case BH_TRANSFORM_DH: return 3;
        case BH_TRANSFORM_ESN: return 4;
        default: return -1;
        }
}

static void check_reason(int r, char *reason, const char *what) {
        FUZZ_CHECK(r == 0 || r == -EINVAL, "%s returned %d", what, r);
        if (r == 0) {
                FUZZ_CHECK(reason == NULL, "%s: reason given on success", what);
                return;
        }
        FUZZ_CHECK(reason != NULL, "%s refused without a reason", what);
        g_autoptr(GPtrArray) reports = g_ptr_array_new();
        g_ptr_array_add(reports, reason);
        fuzz_check_reports(reports, what);
        g_free(reason);
}

static void check_key_len(const BhProposal *p) {
        char *reason = NULL;
        BhKeyLen k;
        int single = bh_proposal_check_single(p, &reason);
        check_reason(single, reason, "check_single");
        int r = bh_proposal_key_len(p, &k);
        if (single != 0 || p->proto == BH_PROTO_IKE)
                return;
        FUZZ_CHECK(r == 0, "single transform set without key lengths");
        FUZZ_CHECK(k.total == k.encr + k.salt + k.integ, "key lengths do not add up");

        unsigned enc = p->proto == BH_PROTO_AH ? BH_ENCR_NONE : 0, bits = 0, integ = BH_AUTH_NONE;
        bool have_enc = p->proto == BH_PROTO_AH;
        for (unsigned i = 0; i < p->n; i++) {
                if (p->t[i].type == BH_TRANSFORM_ENCR) {
                        FUZZ_CHECK(!have_enc, "two encryption transforms in a single set");
                        enc = p->t[i].id;
                        bits = p->t[i].key_bits;
                        have_enc = true;
                } else if (p->t[i].type == BH_TRANSFORM_INTEG)
                        integ = p->t[i].id;
        }
        FUZZ_CHECK(have_enc, "ESP transform set without encryption");
        size_t keymat = 0;
        int c = bh_transform_check(enc, bits, integ, &keymat);
        g_autofree char *s = bh_proposal_to_string(p);
        FUZZ_CHECK(c == 0, "%s: the data path refuses %s/%u + %s (%d)", s, bh_encr_name(enc), bits,
                   bh_integ_name(integ), c);
        FUZZ_CHECK(keymat == k.total, "%s: the data path wants %zu bytes of key, secrets.conf %zu", s, keymat,
                   k.total);
}

static void check_proposal(BhProtocolId proto, const BhProposal *p) {
        FUZZ_CHECK(p->proto == proto, "proposal for protocol %d, asked %d", (int) p->proto, (int) proto);
        FUZZ_CHECK(p->n >= 1 && p->n <= BH_PROPOSAL_TRANSFORMS_MAX, "%u transforms", p->n);
        for (unsigned i = 0; i < p->n; i++) {
                const BhProposalTransform *t = &p->t[i];
                FUZZ_CHECK(type_rank(t->type) >= 0, "transform type %u", t->type);
                if (i)
                        FUZZ_CHECK(type_rank(p->t[i - 1].type) <= type_rank(t->type), "transforms not sorted by type");
                FUZZ_CHECK(bh_proposal_transform_name(t->type, t->id), "transform %u/%u has no name", t->type, t->id);
                FUZZ_CHECK(bh_proposal_transform_keyword(t), "transform %u/%u has no keyword", t->type, t->id);
                FUZZ_CHECK(strcmp(bh_proposal_transform_type_name(t->type), "UNKNOWN") != 0, "type %u unknown",
                           t->type);
        }

        g_autofree char *s = bh_proposal_to_string(p);
        g_autofree char *d = bh_proposal_describe(p);
        FUZZ_CHECK(s && d, "a printer failed");
        BhProposal back;
        char *reason = NULL;
        int r = bh_proposal_parse(proto, s, &back, &reason);
        FUZZ_CHECK(r == 0, "canonical form \"%s\" refused: %s", s, reason ? reason : "");
        FUZZ_CHECK(bh_proposal_equal(p, &back), "canonical form \"%s\" reads back different", s);
        g_autofree char *s2 = bh_proposal_to_string(&back);
        FUZZ_CHECK(strcmp(s, s2) == 0, "canonical form not stable: \"%s\" then \"%s\"", s, s2);

        (void) bh_proposal_is_aead(p);
        (void) bh_proposal_legacy(p);
        check_key_len(p);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        BhProtocolId proto = protos[data[0] % G_N_ELEMENTS(protos)];
        /* The parsers take C strings: the text up to the first NUL. */
        g_autofree char *s = g_strndup((const char *) data + 1, size - 1);

        g_autofree BhProposal *list = NULL;
        size_t n = 0;
        char *reason = NULL;
        int r = bh_proposal_list_parse(proto, s, &list, &n, &reason);
        check_reason(r, reason, "list_parse");
        if (r == 0) {
                FUZZ_CHECK(list && n >= 1 && n <= BH_PROPOSALS_MAX, "list of %zu proposals", n);
                for (size_t i = 0; i < n; i++)
                        check_proposal(proto, &list[i]);
                g_autofree char *text = bh_proposal_list_to_string(list, n);
                g_autofree BhProposal *back = NULL;
                size_t n_back = 0;
                reason = NULL;
                int r2 = bh_proposal_list_parse(proto, text, &back, &n_back, &reason);
                FUZZ_CHECK(r2 == 0, "canonical list \"%s\" refused: %s", text, reason ? reason : "");
                FUZZ_CHECK(bh_proposal_list_equal(list, n, back, n_back), "canonical list \"%s\" reads back different",
                           text);
        }

        BhProposal one;
        reason = NULL;
        r = bh_proposal_parse(proto, s, &one, &reason);
        check_reason(r, reason, "parse");
        if (r == 0)
                check_proposal(proto, &one);
        return 0;
}
