/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "proposal.h"
#include "ts.h"

/* Untrusted: proposal strings come from bulkhead-tunnels(5) files. They are
 * NUL-terminated by the caller, otherwise arbitrary bytes. */

/* What a proposal needs to know about a transform. Encryption and integrity
 * come from the data path's table (crypto/transform.h), so that a proposal
 * never offers what filterd cannot run; PRFs, groups and ESN are here. */
typedef struct Algorithm {
        uint8_t type;
        uint16_t id;
        const char *iana;
        bool aead;
        bool legacy;
        size_t key;                     /* key bytes when there is no Key Length attribute */
        size_t salt;                    /* implicit nonce bytes taken from the key material */
} Algorithm;

static const Algorithm ike_algorithms[] = {
        { BH_TRANSFORM_PRF, BH_PRF_HMAC_MD5,      "PRF_HMAC_MD5",      false, true,  0, 0 },
        { BH_TRANSFORM_PRF, BH_PRF_HMAC_SHA1,     "PRF_HMAC_SHA1",     false, true,  0, 0 },
        { BH_TRANSFORM_PRF, BH_PRF_HMAC_SHA2_256, "PRF_HMAC_SHA2_256", false, false, 0, 0 },
        { BH_TRANSFORM_PRF, BH_PRF_HMAC_SHA2_384, "PRF_HMAC_SHA2_384", false, false, 0, 0 },
        { BH_TRANSFORM_PRF, BH_PRF_HMAC_SHA2_512, "PRF_HMAC_SHA2_512", false, false, 0, 0 },
        { BH_TRANSFORM_DH,  BH_MODP_2048,         "MODP_2048",         false, false, 0, 0 },
        { BH_TRANSFORM_DH,  BH_MODP_3072,         "MODP_3072",         false, false, 0, 0 },
        { BH_TRANSFORM_DH,  BH_MODP_4096,         "MODP_4096",         false, false, 0, 0 },
        { BH_TRANSFORM_DH,  BH_ECP_256,           "ECP_256",           false, false, 0, 0 },
        { BH_TRANSFORM_DH,  BH_ECP_384,           "ECP_384",           false, false, 0, 0 },
        { BH_TRANSFORM_DH,  BH_ECP_521,           "ECP_521",           false, false, 0, 0 },
        { BH_TRANSFORM_DH,  BH_CURVE_25519,       "CURVE_25519",       false, false, 0, 0 },
        { BH_TRANSFORM_ESN, BH_NO_ESN,            "NO_ESN",            false, false, 0, 0 },
        { BH_TRANSFORM_ESN, BH_ESN,               "ESN",               false, false, 0, 0 },
};

/* Fills *ret for (type, id); false when Bulkhead does not implement it. */
static bool find_algorithm(uint8_t type, uint16_t id, Algorithm *ret) {
        if (type == BH_TRANSFORM_ENCR) {
                const BhEncrInfo *e = bh_encr_lookup(id);

                if (!e || id == BH_ENCR_NONE)
                        return false;
                *ret = (Algorithm) { type, id, e->name, e->aead, e->legacy, e->key_bits[0] / 8u, e->salt_len };
                return true;
        }
        if (type == BH_TRANSFORM_INTEG) {
                const BhIntegInfo *i = bh_integ_lookup(id);

                if (!i || id == BH_AUTH_NONE)
                        return false;
                *ret = (Algorithm) { type, id, i->name, false, i->legacy, i->key_len, 0 };
                return true;
        }
        for (size_t i = 0; i < G_N_ELEMENTS(ike_algorithms); i++)
                if (ike_algorithms[i].type == type && ike_algorithms[i].id == id) {
                        *ret = ike_algorithms[i];
                        return true;
                }
        return false;
}

/* strongSwan's keywords for them. The first spelling of each transform is
 * the canonical one. The legacy algorithms have one spelling each, on
 * purpose: whoever uses them writes their name. */
static const struct {
        const char *keyword;
        BhProposalTransform t;
} keywords[] = {
        { "aes128gcm16",      { BH_TRANSFORM_ENCR,  BH_ENCR_AES_GCM_16,        128 } },
        { "aes128gcm128",     { BH_TRANSFORM_ENCR,  BH_ENCR_AES_GCM_16,        128 } },
        { "aes128gcm",        { BH_TRANSFORM_ENCR,  BH_ENCR_AES_GCM_16,        128 } },
        { "aes256gcm16",      { BH_TRANSFORM_ENCR,  BH_ENCR_AES_GCM_16,        256 } },
        { "aes256gcm128",     { BH_TRANSFORM_ENCR,  BH_ENCR_AES_GCM_16,        256 } },
        { "aes256gcm",        { BH_TRANSFORM_ENCR,  BH_ENCR_AES_GCM_16,        256 } },
        { "chacha20poly1305", { BH_TRANSFORM_ENCR,  BH_ENCR_CHACHA20_POLY1305, 0 } },
        { "aes128",           { BH_TRANSFORM_ENCR,  BH_ENCR_AES_CBC,           128 } },
        { "aes256",           { BH_TRANSFORM_ENCR,  BH_ENCR_AES_CBC,           256 } },
        { "3des",             { BH_TRANSFORM_ENCR,  BH_ENCR_3DES,              0 } },
        { "null",             { BH_TRANSFORM_ENCR,  BH_ENCR_NULL,              0 } },
        { "sha256",           { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_SHA2_256_128, 0 } },
        { "sha2_256",         { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_SHA2_256_128, 0 } },
        { "sha384",           { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_SHA2_384_192, 0 } },
        { "sha2_384",         { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_SHA2_384_192, 0 } },
        { "sha512",           { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_SHA2_512_256, 0 } },
        { "sha2_512",         { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_SHA2_512_256, 0 } },
        { "sha1",             { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_SHA1_96,      0 } },
        { "md5",              { BH_TRANSFORM_INTEG, BH_AUTH_HMAC_MD5_96,       0 } },
        { "prfsha256",        { BH_TRANSFORM_PRF,   BH_PRF_HMAC_SHA2_256,      0 } },
        { "prfsha384",        { BH_TRANSFORM_PRF,   BH_PRF_HMAC_SHA2_384,      0 } },
        { "prfsha512",        { BH_TRANSFORM_PRF,   BH_PRF_HMAC_SHA2_512,      0 } },
        { "prfsha1",          { BH_TRANSFORM_PRF,   BH_PRF_HMAC_SHA1,          0 } },
        { "prfmd5",           { BH_TRANSFORM_PRF,   BH_PRF_HMAC_MD5,           0 } },
        { "curve25519",       { BH_TRANSFORM_DH,    BH_CURVE_25519,            0 } },
        { "x25519",           { BH_TRANSFORM_DH,    BH_CURVE_25519,            0 } },
        { "ecp256",           { BH_TRANSFORM_DH,    BH_ECP_256,                0 } },
        { "ecp384",           { BH_TRANSFORM_DH,    BH_ECP_384,                0 } },
        { "ecp521",           { BH_TRANSFORM_DH,    BH_ECP_521,                0 } },
        { "modp2048",         { BH_TRANSFORM_DH,    BH_MODP_2048,              0 } },
        { "modp3072",         { BH_TRANSFORM_DH,    BH_MODP_3072,              0 } },
        { "modp4096",         { BH_TRANSFORM_DH,    BH_MODP_4096,              0 } },
        { "esn",              { BH_TRANSFORM_ESN,   BH_ESN,                    0 } },
        { "noesn",            { BH_TRANSFORM_ESN,   BH_NO_ESN,                 0 } },
};

/* strongSwan keywords Bulkhead does not implement: a clearer report than
 * "unknown" for someone who pasted a working strongSwan proposal. */
static const char *const unsupported_prefixes[] = {
        "aes192", "aes128ccm", "aes192ccm", "aes256ccm", "aes128ctr", "aes192ctr", "aes256ctr",
        "aes128gcm8", "aes128gcm12", "aes256gcm8", "aes256gcm12", "aes128gcm64", "aes128gcm96",
        "aes256gcm64", "aes256gcm96", "aes128gmac", "aes192gmac", "aes256gmac", "aesxcbc", "aescmac",
        "camellia", "cast128", "blowfish", "des", "twofish", "serpent", "sha256_96", "sha1_160",
        "prfaesxcbc", "prfaescmac", "prfcamellia", "modp768", "modp1024", "modp1536", "modp6144",
        "modp8192", "ecp192", "ecp224", "ecp256bp", "ecp384bp", "ecp512bp", "curve448", "x448",
        "ntru", "newhope", "mlkem", "ke1_", "ke2_",
};

/* Whole strongSwan keywords with a spelling Bulkhead does not take. */
static const char *const unsupported_words[] = { "aes", "sha", "sha2_256_96" };

static bool transform_equal(const BhProposalTransform *a, const BhProposalTransform *b) {
        return a->type == b->type && a->id == b->id && a->key_bits == b->key_bits;
}

const char *bh_proposal_transform_keyword(const BhProposalTransform *t) {
        for (size_t i = 0; i < G_N_ELEMENTS(keywords); i++)
                if (transform_equal(&keywords[i].t, t))
                        return keywords[i].keyword;
        return NULL;
}

const char *bh_proposal_transform_name(uint8_t type, uint16_t id) {
        Algorithm a;

        return find_algorithm(type, id, &a) ? a.iana : NULL;
}

const char *bh_proposal_transform_type_name(uint8_t type) {
        switch (type) {
        case BH_TRANSFORM_ENCR:
                return "ENCR";
        case BH_TRANSFORM_PRF:
                return "PRF";
        case BH_TRANSFORM_INTEG:
                return "INTEG";
        case BH_TRANSFORM_DH:
                return "DH";
        case BH_TRANSFORM_ESN:
                return "ESN";
        default:
                return "UNKNOWN";
        }
}

const char *bh_protocol_id_name(BhProtocolId proto) {
        switch (proto) {
        case BH_PROTO_IKE:
                return "IKE";
        case BH_PROTO_AH:
                return "AH";
        case BH_PROTO_ESP:
                return "ESP";
        default:
                return "UNKNOWN";
        }
}

/* The order strongSwan prints the types in. */
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

static size_t count_type(const BhProposal *p, uint8_t type) {
        size_t n = 0;

        for (size_t i = 0; i < p->n; i++)
                n += p->t[i].type == type;
        return n;
}

static const BhProposalTransform *first_of(const BhProposal *p, uint8_t type, bool aead) {
        for (size_t i = 0; i < p->n; i++) {
                Algorithm a;

                if (p->t[i].type == type && find_algorithm(p->t[i].type, p->t[i].id, &a) && a.aead == aead)
                        return &p->t[i];
        }
        return NULL;
}

static const BhProposalTransform *first_type(const BhProposal *p, uint8_t type) {
        for (size_t i = 0; i < p->n; i++)
                if (p->t[i].type == type)
                        return &p->t[i];
        return NULL;
}

/* A transform's keyword, quoted, for a reason. */
static char *quote_transform(const BhProposalTransform *t) {
        const char *k = bh_proposal_transform_keyword(t);

        return bh_quote(k ? k : "?");
}

static int fail(char **ret_reason, char *reason) {
        if (ret_reason)
                *ret_reason = reason;
        else
                g_free(reason);
        return -EINVAL;
}

static bool add_transform(BhProposal *p, const BhProposalTransform *t) {
        if (p->n >= BH_PROPOSAL_TRANSFORMS_MAX)
                return false;
        p->t[p->n++] = *t;
        return true;
}

static void sort_by_type(BhProposal *p) {
        /* Insertion sort: stable, so preference within a type survives. */
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

static int lookup_keyword(const char *token, BhProposalTransform *ret, char **ret_reason) {
        g_autofree char *q = bh_quote(token);
        Algorithm a;

        for (size_t i = 0; i < G_N_ELEMENTS(keywords); i++)
                if (g_ascii_strcasecmp(token, keywords[i].keyword) == 0) {
                        /* Only what the data path's table implements. */
                        if (!find_algorithm(keywords[i].t.type, keywords[i].t.id, &a))
                                return fail(ret_reason, g_strdup_printf("algorithm %s is not supported by Bulkhead", q));
                        *ret = keywords[i].t;
                        return 0;
                }

        for (size_t i = 0; i < G_N_ELEMENTS(unsupported_words); i++)
                if (g_ascii_strcasecmp(token, unsupported_words[i]) == 0)
                        return fail(ret_reason, g_strdup_printf("algorithm %s is not supported by Bulkhead", q));
        for (size_t i = 0; i < G_N_ELEMENTS(unsupported_prefixes); i++)
                if (g_ascii_strncasecmp(token, unsupported_prefixes[i], strlen(unsupported_prefixes[i])) == 0)
                        return fail(ret_reason, g_strdup_printf("algorithm %s is not supported by Bulkhead", q));

        return fail(ret_reason, g_strdup_printf("unknown algorithm %s", q));
}

static const BhProposalTransform *first_legacy(const BhProposal *p) {
        for (size_t i = 0; i < p->n; i++) {
                Algorithm a;

                if (find_algorithm(p->t[i].type, p->t[i].id, &a) && a.legacy)
                        return &p->t[i];
        }
        return NULL;
}

/* strongSwan's rules (proposal.c, check_proposal()), and three of our own. */
static int check_rules(BhProposal *p, char **ret_reason) {
        const BhProposalTransform *aead = first_of(p, BH_TRANSFORM_ENCR, true);
        const BhProposalTransform *classic = first_of(p, BH_TRANSFORM_ENCR, false);
        const BhProposalTransform *integ = first_type(p, BH_TRANSFORM_INTEG);
        const BhProposalTransform *t;
        g_autofree char *q1 = NULL, *q2 = NULL;

        /* The legacy algorithms are there for the manual tunnels of old
         * peers, keyed by hand. A negotiation would offer them to any peer
         * and let an attacker in the path pick the weakest; the IKE SA code
         * (crypto/ike-sa.c) does not run them either. */
        if (p->proto == BH_PROTO_IKE && (t = first_legacy(p))) {
                q1 = quote_transform(t);
                return fail(ret_reason, g_strdup_printf("%s is a legacy algorithm, for manual tunnels only: "
                                                        "IKE proposals do not take it", q1));
        }
        if (p->proto == BH_PROTO_IKE && (t = first_type(p, BH_TRANSFORM_ESN))) {
                q1 = quote_transform(t);
                return fail(ret_reason, g_strdup_printf("%s belongs in ESP and AH proposals, not in IKE proposals", q1));
        }
        if (p->proto != BH_PROTO_IKE && (t = first_type(p, BH_TRANSFORM_PRF))) {
                q1 = quote_transform(t);
                return fail(ret_reason, g_strdup_printf("%s: a PRF belongs in IKE proposals only", q1));
        }

        if (p->proto == BH_PROTO_AH) {
                if ((t = first_type(p, BH_TRANSFORM_ENCR))) {
                        q1 = quote_transform(t);
                        return fail(ret_reason, g_strdup_printf("%s: AH does not encrypt; AH proposals take integrity algorithms only", q1));
                }
                if (!integ)
                        return fail(ret_reason, g_strdup("an AH proposal needs an integrity algorithm (such as sha256)"));
        } else {
                if (!aead && !classic)
                        return fail(ret_reason, p->proto == BH_PROTO_IKE ?
                                    g_strdup("an IKE proposal needs an encryption algorithm") :
                                    g_strdup("an ESP proposal needs an encryption algorithm (null for integrity protection only)"));

                if (p->proto == BH_PROTO_IKE) {
                        for (size_t i = 0; i < p->n; i++)
                                if (p->t[i].type == BH_TRANSFORM_ENCR && p->t[i].id == BH_ENCR_NULL)
                                        return fail(ret_reason, g_strdup("\"null\" encryption is not allowed in IKE proposals (RFC 7296)"));
                }
                if (aead && classic) {
                        q1 = quote_transform(aead);
                        q2 = quote_transform(classic);
                        return fail(ret_reason, g_strdup_printf("%s (AEAD) and %s (not AEAD) cannot share a proposal: "
                                                                "write two proposals separated by ','", q1, q2));
                }
                /* strongSwan drops the integrity algorithm silently; an
                 * administrator who wrote one probably expects it to be used. */
                if (aead && integ) {
                        q1 = quote_transform(aead);
                        q2 = quote_transform(integ);
                        return fail(ret_reason, g_strdup_printf("%s is an AEAD algorithm and protects integrity itself: remove %s", q1, q2));
                }
                /* strongSwan accepts ESP without integrity; RFC 8221 does not
                 * recommend it and nothing here needs it. */
                if (classic && !integ) {
                        q1 = quote_transform(classic);
                        return fail(ret_reason, g_strdup_printf("%s needs an integrity algorithm (such as sha256)", q1));
                }
        }

        if (p->proto == BH_PROTO_IKE) {
                if (!first_type(p, BH_TRANSFORM_PRF)) {
                        if (aead)
                                return fail(ret_reason, g_strdup("an IKE proposal with an AEAD algorithm needs an explicit PRF "
                                                                 "(such as prfsha256)"));
                        /* As strongSwan: the PRF of each integrity algorithm. */
                        for (size_t i = 0, n = p->n; i < n; i++) {
                                static const uint16_t integ_prf[][2] = {
                                        { BH_AUTH_HMAC_MD5_96,       BH_PRF_HMAC_MD5 },
                                        { BH_AUTH_HMAC_SHA1_96,      BH_PRF_HMAC_SHA1 },
                                        { BH_AUTH_HMAC_SHA2_256_128, BH_PRF_HMAC_SHA2_256 },
                                        { BH_AUTH_HMAC_SHA2_384_192, BH_PRF_HMAC_SHA2_384 },
                                        { BH_AUTH_HMAC_SHA2_512_256, BH_PRF_HMAC_SHA2_512 },
                                };

                                if (p->t[i].type != BH_TRANSFORM_INTEG)
                                        continue;
                                for (size_t k = 0; k < G_N_ELEMENTS(integ_prf); k++)
                                        if (integ_prf[k][0] == p->t[i].id) {
                                                BhProposalTransform prf = { BH_TRANSFORM_PRF, integ_prf[k][1], 0 };

                                                if (!add_transform(p, &prf))
                                                        return fail(ret_reason, g_strdup_printf(
                                                                "more than %d algorithms once the PRFs are derived",
                                                                BH_PROPOSAL_TRANSFORMS_MAX));
                                        }
                        }
                }
                if (!first_type(p, BH_TRANSFORM_DH))
                        return fail(ret_reason, g_strdup("an IKE proposal needs a Diffie-Hellman group (such as curve25519)"));
        } else if (!first_type(p, BH_TRANSFORM_ESN)) {
                BhProposalTransform no_esn = { BH_TRANSFORM_ESN, BH_NO_ESN, 0 };

                /* As strongSwan: ESN not given means not supported. */
                if (!add_transform(p, &no_esn))
                        return fail(ret_reason, g_strdup_printf("more than %d algorithms", BH_PROPOSAL_TRANSFORMS_MAX));
        }

        return 0;
}

int bh_proposal_parse(BhProtocolId proto, const char *s, BhProposal *ret, char **ret_reason) {
        g_autofree char *copy = NULL;
        BhProposal p = { .proto = proto };
        char *token, *next;
        int r;

        g_return_val_if_fail(ret, -EINVAL);
        if (proto != BH_PROTO_IKE && proto != BH_PROTO_AH && proto != BH_PROTO_ESP)
                return fail(ret_reason, g_strdup("unknown protocol"));
        if (!s)
                return fail(ret_reason, g_strdup("empty proposal"));

        copy = g_strstrip(g_strdup(s));
        if (*copy == '\0')
                return fail(ret_reason, g_strdup("empty proposal"));

        for (token = copy; token; token = next) {
                BhProposalTransform t;

                next = strchr(token, '-');
                if (next)
                        *next++ = '\0';
                if (*token == '\0')
                        return fail(ret_reason, g_strdup("empty algorithm name (two '-' in a row, or a '-' at an end)"));

                r = lookup_keyword(token, &t, ret_reason);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < p.n; i++)
                        if (transform_equal(&p.t[i], &t)) {
                                g_autofree char *q = bh_quote(token);

                                return fail(ret_reason, g_strdup_printf("%s is listed twice", q));
                        }
                if (!add_transform(&p, &t))
                        return fail(ret_reason, g_strdup_printf("more than %d algorithms", BH_PROPOSAL_TRANSFORMS_MAX));
        }

        r = check_rules(&p, ret_reason);
        if (r < 0)
                return r;

        sort_by_type(&p);
        *ret = p;
        return 0;
}

int bh_proposal_list_parse(BhProtocolId proto, const char *s, BhProposal **ret, size_t *ret_n, char **ret_reason) {
        g_auto(GStrv) items = NULL;
        g_autofree BhProposal *list = NULL;
        size_t n = 0;

        g_return_val_if_fail(ret, -EINVAL);
        g_return_val_if_fail(ret_n, -EINVAL);
        if (!s)
                return fail(ret_reason, g_strdup("no proposal"));

        items = g_strsplit(s, ",", BH_PROPOSALS_MAX + 2);
        if (!items[0])
                return fail(ret_reason, g_strdup("no proposal"));
        if (g_strv_length(items) > BH_PROPOSALS_MAX)
                return fail(ret_reason, g_strdup_printf("more than %d proposals", BH_PROPOSALS_MAX));

        list = g_new0(BhProposal, BH_PROPOSALS_MAX);
        for (char **item = items; *item; item++) {
                g_autofree char *reason = NULL;
                g_autofree char *q = NULL;

                g_strstrip(*item);
                if (**item == '\0')
                        return fail(ret_reason, g_strdup("empty proposal (two ',' in a row, or a ',' at an end)"));

                q = bh_quote(*item);
                if (bh_proposal_parse(proto, *item, &list[n], &reason) < 0)
                        return fail(ret_reason, g_strdup_printf("proposal %s: %s", q, reason));
                for (size_t i = 0; i < n; i++)
                        if (bh_proposal_equal(&list[i], &list[n]))
                                return fail(ret_reason, g_strdup_printf("proposal %s repeats proposal %zu", q, i + 1));
                n++;
        }

        *ret = g_renew(BhProposal, g_steal_pointer(&list), n);
        *ret_n = n;
        return 0;
}

static bool only_default_esn(const BhProposal *p) {
        const BhProposalTransform *esn = first_type(p, BH_TRANSFORM_ESN);

        return esn && esn->id == BH_NO_ESN && count_type(p, BH_TRANSFORM_ESN) == 1;
}

char *bh_proposal_to_string(const BhProposal *p) {
        GString *s = g_string_new(NULL);

        for (size_t i = 0; i < p->n; i++) {
                const char *k = bh_proposal_transform_keyword(&p->t[i]);

                if (p->t[i].type == BH_TRANSFORM_ESN && only_default_esn(p))
                        continue;
                if (s->len > 0)
                        g_string_append_c(s, '-');
                if (k)
                        g_string_append(s, k);
                else
                        g_string_append_printf(s, "unknown%u_%u", p->t[i].type, p->t[i].id);
        }

        return g_string_free(s, FALSE);
}

char *bh_proposal_list_to_string(const BhProposal *p, size_t n) {
        GString *s = g_string_new(NULL);

        for (size_t i = 0; i < n; i++) {
                g_autofree char *one = bh_proposal_to_string(&p[i]);

                if (i > 0)
                        g_string_append(s, ", ");
                g_string_append(s, one);
        }

        return g_string_free(s, FALSE);
}

char *bh_proposal_describe(const BhProposal *p) {
        GString *s = g_string_new(bh_protocol_id_name(p->proto));

        g_string_append_c(s, ':');
        for (size_t i = 0; i < p->n; i++) {
                const char *name = bh_proposal_transform_name(p->t[i].type, p->t[i].id);

                if (i > 0)
                        g_string_append_c(s, '/');
                if (name)
                        g_string_append(s, name);
                else
                        g_string_append_printf(s, "UNKNOWN_%u_%u", p->t[i].type, p->t[i].id);
                if (p->t[i].key_bits)
                        g_string_append_printf(s, "_%u", p->t[i].key_bits);
        }

        return g_string_free(s, FALSE);
}

bool bh_proposal_equal(const BhProposal *a, const BhProposal *b) {
        if (a->proto != b->proto || a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (!transform_equal(&a->t[i], &b->t[i]))
                        return false;
        return true;
}

bool bh_proposal_list_equal(const BhProposal *a, size_t n_a, const BhProposal *b, size_t n_b) {
        if (n_a != n_b)
                return false;
        for (size_t i = 0; i < n_a; i++)
                if (!bh_proposal_equal(&a[i], &b[i]))
                        return false;
        return true;
}

bool bh_proposal_is_aead(const BhProposal *p) {
        return first_of(p, BH_TRANSFORM_ENCR, true) != NULL;
}

const char *bh_proposal_legacy(const BhProposal *p) {
        const BhProposalTransform *t = first_legacy(p);

        return t ? bh_proposal_transform_keyword(t) : NULL;
}

int bh_proposal_check_single(const BhProposal *p, char **ret_reason) {
        const BhProposalTransform *t;
        g_autofree char *q = NULL;

        if (p->proto != BH_PROTO_ESP && p->proto != BH_PROTO_AH)
                return fail(ret_reason, g_strdup("a manual SA is ESP or AH"));
        if ((t = first_type(p, BH_TRANSFORM_DH))) {
                q = quote_transform(t);
                return fail(ret_reason, g_strdup_printf("%s: a manual SA has no key exchange, so no group", q));
        }
        if ((t = first_type(p, BH_TRANSFORM_PRF))) {
                q = quote_transform(t);
                return fail(ret_reason, g_strdup_printf("%s: a manual SA has no PRF", q));
        }
        if (p->proto == BH_PROTO_ESP && count_type(p, BH_TRANSFORM_ENCR) != 1)
                return fail(ret_reason, g_strdup("a manual SA takes exactly one encryption algorithm"));
        if (p->proto == BH_PROTO_AH && count_type(p, BH_TRANSFORM_ENCR) != 0)
                return fail(ret_reason, g_strdup("AH does not encrypt"));
        if (count_type(p, BH_TRANSFORM_INTEG) > 1)
                return fail(ret_reason, g_strdup("a manual SA takes at most one integrity algorithm"));
        if (count_type(p, BH_TRANSFORM_ESN) > 1)
                return fail(ret_reason, g_strdup("a manual SA takes esn or noesn, not both"));

        return 0;
}

int bh_proposal_key_len(const BhProposal *p, BhKeyLen *ret) {
        BhKeyLen k = { 0 };

        g_return_val_if_fail(ret, -EINVAL);
        if (bh_proposal_check_single(p, NULL) < 0)
                return -EINVAL;

        for (size_t i = 0; i < p->n; i++) {
                Algorithm a;

                if (!find_algorithm(p->t[i].type, p->t[i].id, &a))
                        return -EINVAL;
                if (a.type == BH_TRANSFORM_ENCR) {
                        /* The Key Length attribute when there is one (AES),
                         * else the cipher's one size (ChaCha20, 3DES). */
                        k.encr = p->t[i].key_bits ? p->t[i].key_bits / 8u : a.key;
                        k.salt = a.salt;
                } else if (a.type == BH_TRANSFORM_INTEG)
                        k.integ = a.key;
        }
        k.total = k.encr + k.salt + k.integ;

        *ret = k;
        return 0;
}
