/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "proposal.h"
#include "transform.h"

#define FUZZ_ROUNDS 20000
#define FUZZ_SEED 0x9a0905a1u

static const char *proto_word(BhProtocolId proto) {
        return bh_protocol_id_name(proto);
}

/* Parses, checks the canonical string and the IANA description, and that
 * the canonical string reads back equal. */
static void check_good(BhProtocolId proto, const char *in, const char *canonical, const char *describe, const char *legacy) {
        g_autofree char *reason = NULL, *text = NULL, *desc = NULL, *text2 = NULL;
        BhProposal p, p2;

        g_test_message("%s %s", proto_word(proto), in);
        g_assert_cmpint(bh_proposal_parse(proto, in, &p, &reason), ==, 0);
        g_assert_null(reason);
        g_assert_cmpint(p.proto, ==, proto);

        text = bh_proposal_to_string(&p);
        g_assert_cmpstr(text, ==, canonical);
        desc = bh_proposal_describe(&p);
        g_assert_cmpstr(desc, ==, describe);
        g_assert_cmpstr(bh_proposal_legacy(&p), ==, legacy);

        g_assert_cmpint(bh_proposal_parse(proto, text, &p2, &reason), ==, 0);
        g_assert_true(bh_proposal_equal(&p, &p2));
        text2 = bh_proposal_to_string(&p2);
        g_assert_cmpstr(text2, ==, canonical);
}

static void test_good(void) {
        static const struct {
                BhProtocolId proto;
                const char *in, *canonical, *describe, *legacy;
        } cases[] = {
                /* IKE, AEAD: the PRF is explicit. */
                { BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519", "aes256gcm16-prfsha256-curve25519",
                  "IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519", NULL },
                { BH_PROTO_IKE, "aes128gcm-prfsha384-ecp384", "aes128gcm16-prfsha384-ecp384",
                  "IKE:ENCR_AES_GCM_16_128/PRF_HMAC_SHA2_384/ECP_384", NULL },
                { BH_PROTO_IKE, "aes256gcm128-prfsha512-ecp521", "aes256gcm16-prfsha512-ecp521",
                  "IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_512/ECP_521", NULL },
                { BH_PROTO_IKE, "chacha20poly1305-prfsha256-modp3072", "chacha20poly1305-prfsha256-modp3072",
                  "IKE:ENCR_CHACHA20_POLY1305/PRF_HMAC_SHA2_256/MODP_3072", NULL },
                /* Case does not matter; order of types does not either. */
                { BH_PROTO_IKE, "X25519-PRFSHA256-AES256GCM16", "aes256gcm16-prfsha256-curve25519",
                  "IKE:ENCR_AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519", NULL },
                /* IKE, classic: the PRF follows from the integrity algorithm. */
                { BH_PROTO_IKE, "aes256-sha256-modp2048", "aes256-sha256-prfsha256-modp2048",
                  "IKE:ENCR_AES_CBC_256/AUTH_HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048", NULL },
                { BH_PROTO_IKE, "aes256-aes128-sha512-sha256-ecp521-modp4096",
                  "aes256-aes128-sha512-sha256-prfsha512-prfsha256-ecp521-modp4096",
                  "IKE:ENCR_AES_CBC_256/ENCR_AES_CBC_128/AUTH_HMAC_SHA2_512_256/AUTH_HMAC_SHA2_256_128/"
                  "PRF_HMAC_SHA2_512/PRF_HMAC_SHA2_256/ECP_521/MODP_4096", NULL },
                { BH_PROTO_IKE, "aes128-sha2_384-prfsha256-ecp256", "aes128-sha384-prfsha256-ecp256",
                  "IKE:ENCR_AES_CBC_128/AUTH_HMAC_SHA2_384_192/PRF_HMAC_SHA2_256/ECP_256", NULL },
                /* ESP: no group (PFS optional), noesn by default and left out. */
                { BH_PROTO_ESP, "aes256gcm16", "aes256gcm16", "ESP:ENCR_AES_GCM_16_256/NO_ESN", NULL },
                { BH_PROTO_ESP, " aes256gcm16 ", "aes256gcm16", "ESP:ENCR_AES_GCM_16_256/NO_ESN", NULL },
                { BH_PROTO_ESP, "aes256gcm16-x25519", "aes256gcm16-curve25519",
                  "ESP:ENCR_AES_GCM_16_256/CURVE_25519/NO_ESN", NULL },
                { BH_PROTO_ESP, "chacha20poly1305", "chacha20poly1305", "ESP:ENCR_CHACHA20_POLY1305/NO_ESN", NULL },
                { BH_PROTO_ESP, "aes256gcm16-chacha20poly1305-aes128gcm16", "aes256gcm16-chacha20poly1305-aes128gcm16",
                  "ESP:ENCR_AES_GCM_16_256/ENCR_CHACHA20_POLY1305/ENCR_AES_GCM_16_128/NO_ESN", NULL },
                { BH_PROTO_ESP, "aes128-sha256-esn", "aes128-sha256-esn",
                  "ESP:ENCR_AES_CBC_128/AUTH_HMAC_SHA2_256_128/ESN", NULL },
                { BH_PROTO_ESP, "aes128-sha256-noesn", "aes128-sha256",
                  "ESP:ENCR_AES_CBC_128/AUTH_HMAC_SHA2_256_128/NO_ESN", NULL },
                { BH_PROTO_ESP, "esn-noesn-aes128-sha256", "aes128-sha256-esn-noesn",
                  "ESP:ENCR_AES_CBC_128/AUTH_HMAC_SHA2_256_128/ESN/NO_ESN", NULL },
                { BH_PROTO_ESP, "null-sha256", "null-sha256", "ESP:ENCR_NULL/AUTH_HMAC_SHA2_256_128/NO_ESN", NULL },
                { BH_PROTO_ESP, "aes256-sha512-ecp384-modp3072", "aes256-sha512-ecp384-modp3072",
                  "ESP:ENCR_AES_CBC_256/AUTH_HMAC_SHA2_512_256/ECP_384/MODP_3072/NO_ESN", NULL },
                { BH_PROTO_ESP, "3des-md5", "3des-md5", "ESP:ENCR_3DES/AUTH_HMAC_MD5_96/NO_ESN", "3des" },
                { BH_PROTO_ESP, "3des-sha1", "3des-sha1", "ESP:ENCR_3DES/AUTH_HMAC_SHA1_96/NO_ESN", "3des" },
                { BH_PROTO_ESP, "aes128-sha1-esn", "aes128-sha1-esn", "ESP:ENCR_AES_CBC_128/AUTH_HMAC_SHA1_96/ESN",
                  "sha1" },
                { BH_PROTO_ESP, "null-md5", "null-md5", "ESP:ENCR_NULL/AUTH_HMAC_MD5_96/NO_ESN", "md5" },
                /* AH: integrity only. */
                { BH_PROTO_AH, "sha256", "sha256", "AH:AUTH_HMAC_SHA2_256_128/NO_ESN", NULL },
                { BH_PROTO_AH, "sha2_384", "sha384", "AH:AUTH_HMAC_SHA2_384_192/NO_ESN", NULL },
                { BH_PROTO_AH, "sha512-esn", "sha512-esn", "AH:AUTH_HMAC_SHA2_512_256/ESN", NULL },
                { BH_PROTO_AH, "md5", "md5", "AH:AUTH_HMAC_MD5_96/NO_ESN", "md5" },
                { BH_PROTO_AH, "sha1", "sha1", "AH:AUTH_HMAC_SHA1_96/NO_ESN", "sha1" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
                check_good(cases[i].proto, cases[i].in, cases[i].canonical, cases[i].describe, cases[i].legacy);
}

static void test_bad(void) {
        static const struct {
                BhProtocolId proto;
                const char *in, *reason;
        } cases[] = {
                /* strongSwan: "a PRF algorithm is mandatory in IKE proposals" when nothing derives one. */
                { BH_PROTO_IKE, "aes256gcm16-x25519",
                  "an IKE proposal with an AEAD algorithm needs an explicit PRF (such as prfsha256)" },
                { BH_PROTO_IKE, "chacha20poly1305-modp2048",
                  "an IKE proposal with an AEAD algorithm needs an explicit PRF (such as prfsha256)" },
                { BH_PROTO_IKE, "aes256-sha256", "an IKE proposal needs a Diffie-Hellman group (such as curve25519)" },
                { BH_PROTO_IKE, "aes256gcm16-prfsha256", "an IKE proposal needs a Diffie-Hellman group (such as curve25519)" },
                { BH_PROTO_IKE, "aes256gcm16-sha256-prfsha256-x25519",
                  "\"aes256gcm16\" is an AEAD algorithm and protects integrity itself: remove \"sha256\"" },
                { BH_PROTO_ESP, "aes256gcm16-sha256",
                  "\"aes256gcm16\" is an AEAD algorithm and protects integrity itself: remove \"sha256\"" },
                { BH_PROTO_IKE, "aes256gcm16-aes256-sha256-prfsha256-x25519",
                  "\"aes256gcm16\" (AEAD) and \"aes256\" (not AEAD) cannot share a proposal: write two proposals separated by ','" },
                { BH_PROTO_ESP, "aes128-chacha20poly1305-sha256",
                  "\"chacha20poly1305\" (AEAD) and \"aes128\" (not AEAD) cannot share a proposal: write two proposals separated by ','" },
                { BH_PROTO_IKE, "aes256-x25519", "\"aes256\" needs an integrity algorithm (such as sha256)" },
                { BH_PROTO_ESP, "aes256", "\"aes256\" needs an integrity algorithm (such as sha256)" },
                { BH_PROTO_ESP, "null", "\"null\" needs an integrity algorithm (such as sha256)" },
                { BH_PROTO_IKE, "null-sha256-x25519", "\"null\" encryption is not allowed in IKE proposals (RFC 7296)" },
                { BH_PROTO_IKE, "sha256-x25519", "an IKE proposal needs an encryption algorithm" },
                { BH_PROTO_ESP, "sha256", "an ESP proposal needs an encryption algorithm (null for integrity protection only)" },
                { BH_PROTO_ESP, "aes256gcm16-prfsha256", "\"prfsha256\": a PRF belongs in IKE proposals only" },
                { BH_PROTO_AH, "sha256-prfsha256", "\"prfsha256\": a PRF belongs in IKE proposals only" },
                { BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519-esn", "\"esn\" belongs in ESP and AH proposals, not in IKE proposals" },
                { BH_PROTO_AH, "aes256-sha256", "\"aes256\": AH does not encrypt; AH proposals take integrity algorithms only" },
                { BH_PROTO_AH, "x25519", "an AH proposal needs an integrity algorithm (such as sha256)" },
                /* Legacy algorithms: manual tunnels only, never negotiated. */
                { BH_PROTO_IKE, "3des-sha1-modp2048",
                  "\"3des\" is a legacy algorithm, for manual tunnels only: IKE proposals do not take it" },
                { BH_PROTO_IKE, "aes256-md5-prfsha256-modp2048",
                  "\"md5\" is a legacy algorithm, for manual tunnels only: IKE proposals do not take it" },
                { BH_PROTO_IKE, "aes256-sha1-x25519",
                  "\"sha1\" is a legacy algorithm, for manual tunnels only: IKE proposals do not take it" },
                { BH_PROTO_IKE, "aes256-sha256-prfmd5-modp2048",
                  "\"prfmd5\" is a legacy algorithm, for manual tunnels only: IKE proposals do not take it" },
                { BH_PROTO_IKE, "aes256gcm16-prfsha1-x25519",
                  "\"prfsha1\" is a legacy algorithm, for manual tunnels only: IKE proposals do not take it" },
                /* Only the one spelling: "sha" is strongSwan's too, but
                 * whoever uses a legacy algorithm writes its name. */
                { BH_PROTO_ESP, "3des-sha", "algorithm \"sha\" is not supported by Bulkhead" },
                { BH_PROTO_ESP, "des-sha1", "algorithm \"des\" is not supported by Bulkhead" },
                { BH_PROTO_ESP, "3des", "\"3des\" needs an integrity algorithm (such as sha256)" },
                { BH_PROTO_AH, "3des-md5", "\"3des\": AH does not encrypt; AH proposals take integrity algorithms only" },
                /* Tokens. */
                { BH_PROTO_IKE, "aes257-sha256-x25519", "unknown algorithm \"aes257\"" },
                { BH_PROTO_IKE, "aes256-sha256-x2551", "unknown algorithm \"x2551\"" },
                { BH_PROTO_IKE, "aes192-sha256-x25519", "algorithm \"aes192\" is not supported by Bulkhead" },
                { BH_PROTO_IKE, "aes256-sha256-modp1024", "algorithm \"modp1024\" is not supported by Bulkhead" },
                { BH_PROTO_ESP, "aes128ccm16", "algorithm \"aes128ccm16\" is not supported by Bulkhead" },
                { BH_PROTO_ESP, "aes-sha256", "algorithm \"aes\" is not supported by Bulkhead" },
                { BH_PROTO_AH, "sha", "algorithm \"sha\" is not supported by Bulkhead" },
                { BH_PROTO_AH, "hmac-md5", "unknown algorithm \"hmac\"" },
                { BH_PROTO_ESP, "aes256--sha256", "empty algorithm name (two '-' in a row, or a '-' at an end)" },
                { BH_PROTO_ESP, "-aes256gcm16", "empty algorithm name (two '-' in a row, or a '-' at an end)" },
                { BH_PROTO_ESP, "aes256gcm16-", "empty algorithm name (two '-' in a row, or a '-' at an end)" },
                { BH_PROTO_ESP, "", "empty proposal" },
                { BH_PROTO_ESP, " \t ", "empty proposal" },
                { BH_PROTO_ESP, "aes256 gcm16", "unknown algorithm \"aes256 gcm16\"" },
                { BH_PROTO_ESP, "aes\x01-sha256", "unknown algorithm \"aes\\x01\"" },
                { BH_PROTO_IKE, "aes256-aes256-sha256-x25519", "\"aes256\" is listed twice" },
                { BH_PROTO_IKE, "aes256gcm16-aes256gcm-prfsha256-x25519", "\"aes256gcm\" is listed twice" },
                { BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519-curve25519", "\"curve25519\" is listed twice" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *reason = NULL;
                BhProposal p;

                g_test_message("%s \"%s\"", proto_word(cases[i].proto), cases[i].in);
                g_assert_cmpint(bh_proposal_parse(cases[i].proto, cases[i].in, &p, &reason), ==, -EINVAL);
                g_assert_cmpstr(reason, ==, cases[i].reason);
                /* Without a place for the reason, the same answer. */
                g_assert_cmpint(bh_proposal_parse(cases[i].proto, cases[i].in, &p, NULL), ==, -EINVAL);
        }

        g_assert_cmpint(bh_proposal_parse((BhProtocolId) 9, "aes256gcm16", &(BhProposal) { 0 }, NULL), ==, -EINVAL);
        g_assert_cmpint(bh_proposal_parse(BH_PROTO_ESP, NULL, &(BhProposal) { 0 }, NULL), ==, -EINVAL);
}

static void test_list(void) {
        g_autofree BhProposal *list = NULL;
        g_autofree char *reason = NULL, *text = NULL;
        size_t n = 0;

        g_assert_cmpint(bh_proposal_list_parse(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519,  aes256-sha256-modp2048 ",
                                               &list, &n, &reason), ==, 0);
        g_assert_cmpuint(n, ==, 2);
        text = bh_proposal_list_to_string(list, n);
        g_assert_cmpstr(text, ==, "aes256gcm16-prfsha256-curve25519, aes256-sha256-prfsha256-modp2048");
        g_assert_true(bh_proposal_is_aead(&list[0]));
        g_assert_false(bh_proposal_is_aead(&list[1]));
        g_assert_true(bh_proposal_list_equal(list, n, list, n));
        g_assert_false(bh_proposal_list_equal(list, n, list, 1));
        g_assert_false(bh_proposal_list_equal(list, 1, list + 1, 1));

        {
                static const struct {
                        const char *in, *reason;
                } bad[] = {
                        { "aes256gcm16,,aes128gcm16", "empty proposal (two ',' in a row, or a ',' at an end)" },
                        { "", "no proposal" },
                        { "aes256gcm16,", "empty proposal (two ',' in a row, or a ',' at an end)" },
                        { ",aes256gcm16", "empty proposal (two ',' in a row, or a ',' at an end)" },
                        { "aes256gcm16, aes256gcm", "proposal \"aes256gcm\" repeats proposal 1" },
                        { "aes256gcm16, aes256-md4", "proposal \"aes256-md4\": unknown algorithm \"md4\"" },
                        { "aes256gcm16, aes256", "proposal \"aes256\": \"aes256\" needs an integrity algorithm (such as sha256)" },
                };

                for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                        g_autofree BhProposal *l = NULL;
                        g_autofree char *r = NULL;
                        size_t k = 99;

                        g_test_message("list \"%s\"", bad[i].in);
                        g_assert_cmpint(bh_proposal_list_parse(BH_PROTO_ESP, bad[i].in, &l, &k, &r), ==, -EINVAL);
                        g_assert_cmpstr(r, ==, bad[i].reason);
                        g_assert_null(l);
                        g_assert_cmpuint(k, ==, 99);
                }
        }

        /* At most BH_PROPOSALS_MAX proposals. */
        {
                static const char *const sets[] = {
                        "aes128gcm16", "aes256gcm16", "chacha20poly1305", "aes128-sha256", "aes256-sha256", "aes128-sha384",
                        "aes256-sha384", "aes128-sha512", "aes256-sha512", "null-sha256", "null-sha384", "null-sha512",
                        "aes128gcm16-x25519", "aes256gcm16-x25519", "chacha20poly1305-x25519", "aes128gcm16-ecp256",
                        "aes256gcm16-ecp256",
                };
                g_autofree char *sixteen = NULL, *seventeen = NULL;
                g_autofree BhProposal *l = NULL;
                g_autofree char *r = NULL;
                g_autoptr(GString) s = g_string_new(NULL);
                size_t k;

                G_STATIC_ASSERT(G_N_ELEMENTS(sets) == BH_PROPOSALS_MAX + 1);
                for (size_t i = 0; i < BH_PROPOSALS_MAX; i++)
                        g_string_append_printf(s, "%s%s", i ? "," : "", sets[i]);
                sixteen = g_strdup(s->str);
                g_string_append_printf(s, ",%s", sets[BH_PROPOSALS_MAX]);
                seventeen = g_strdup(s->str);

                g_assert_cmpint(bh_proposal_list_parse(BH_PROTO_ESP, sixteen, &l, &k, &r), ==, 0);
                g_assert_cmpuint(k, ==, BH_PROPOSALS_MAX);
                g_clear_pointer(&l, g_free);
                g_assert_cmpint(bh_proposal_list_parse(BH_PROTO_ESP, seventeen, &l, &k, &r), ==, -EINVAL);
                g_assert_cmpstr(r, ==, "more than 16 proposals");
        }
}

/* The key lengths a manual SA needs, checked against the data path's own
 * table (bh_transform_check()): secrets.conf and filterd must agree. */
static void test_key_len(void) {
        static const struct {
                BhProtocolId proto;
                const char *in;
                size_t encr, salt, integ;
        } cases[] = {
                { BH_PROTO_ESP, "aes256gcm16",      32, 4, 0 },
                { BH_PROTO_ESP, "aes128gcm16",      16, 4, 0 },
                { BH_PROTO_ESP, "chacha20poly1305", 32, 4, 0 },
                { BH_PROTO_ESP, "aes128-sha256",    16, 0, 32 },
                { BH_PROTO_ESP, "aes256-sha384",    32, 0, 48 },
                { BH_PROTO_ESP, "aes256-sha512",    32, 0, 64 },
                { BH_PROTO_ESP, "3des-sha1",        24, 0, 20 },
                { BH_PROTO_ESP, "aes128-md5-esn",   16, 0, 16 },
                { BH_PROTO_ESP, "null-sha256",      0,  0, 32 },
                { BH_PROTO_AH,  "sha256",           0,  0, 32 },
                { BH_PROTO_AH,  "sha384",           0,  0, 48 },
                { BH_PROTO_AH,  "sha512",           0,  0, 64 },
                { BH_PROTO_AH,  "sha1",             0,  0, 20 },
                { BH_PROTO_AH,  "md5",              0,  0, 16 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                BhProposal p;
                BhKeyLen k;
                unsigned enc = BH_ENCR_NONE, bits = 0, integ = BH_AUTH_NONE;
                size_t keymat = 0;

                g_test_message("%s %s", proto_word(cases[i].proto), cases[i].in);
                g_assert_cmpint(bh_proposal_parse(cases[i].proto, cases[i].in, &p, NULL), ==, 0);
                g_assert_cmpint(bh_proposal_check_single(&p, NULL), ==, 0);
                g_assert_cmpint(bh_proposal_key_len(&p, &k), ==, 0);
                g_assert_cmpuint(k.encr, ==, cases[i].encr);
                g_assert_cmpuint(k.salt, ==, cases[i].salt);
                g_assert_cmpuint(k.integ, ==, cases[i].integ);
                g_assert_cmpuint(k.total, ==, cases[i].encr + cases[i].salt + cases[i].integ);

                for (size_t t = 0; t < p.n; t++) {
                        if (p.t[t].type == BH_TRANSFORM_ENCR) {
                                enc = p.t[t].id;
                                bits = p.t[t].key_bits;
                        } else if (p.t[t].type == BH_TRANSFORM_INTEG)
                                integ = p.t[t].id;
                }
                g_assert_cmpint(bh_transform_check(enc, bits, integ, &keymat), ==, 0);
                g_assert_cmpuint(keymat, ==, k.total);
        }
}

static void test_single(void) {
        static const struct {
                BhProtocolId proto;
                const char *in, *reason;
        } cases[] = {
                { BH_PROTO_ESP, "aes256gcm16-x25519", "\"curve25519\": a manual SA has no key exchange, so no group" },
                { BH_PROTO_ESP, "aes256-aes128-sha256", "a manual SA takes exactly one encryption algorithm" },
                { BH_PROTO_ESP, "aes256gcm16-chacha20poly1305", "a manual SA takes exactly one encryption algorithm" },
                { BH_PROTO_ESP, "aes256-sha256-sha384", "a manual SA takes at most one integrity algorithm" },
                { BH_PROTO_ESP, "aes256gcm16-esn-noesn", "a manual SA takes esn or noesn, not both" },
                { BH_PROTO_AH, "sha256-sha384", "a manual SA takes at most one integrity algorithm" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *reason = NULL;
                BhProposal p;
                BhKeyLen k;

                g_test_message("%s %s", proto_word(cases[i].proto), cases[i].in);
                g_assert_cmpint(bh_proposal_parse(cases[i].proto, cases[i].in, &p, NULL), ==, 0);
                g_assert_cmpint(bh_proposal_check_single(&p, &reason), ==, -EINVAL);
                g_assert_cmpstr(reason, ==, cases[i].reason);
                g_assert_cmpint(bh_proposal_key_len(&p, &k), ==, -EINVAL);
        }

        /* An IKE proposal is no transform set for a manual SA. */
        {
                g_autofree char *reason = NULL;
                BhProposal p;

                g_assert_cmpint(bh_proposal_parse(BH_PROTO_IKE, "aes256gcm16-prfsha256-x25519", &p, NULL), ==, 0);
                g_assert_cmpint(bh_proposal_check_single(&p, &reason), ==, -EINVAL);
                g_assert_cmpstr(reason, ==, "a manual SA is ESP or AH");
        }
}

static void test_names(void) {
        static const struct {
                uint8_t type;
                uint16_t id;
                const char *name;
        } names[] = {
                { BH_TRANSFORM_ENCR, 20, "ENCR_AES_GCM_16" },
                { BH_TRANSFORM_ENCR, 28, "ENCR_CHACHA20_POLY1305" },
                { BH_TRANSFORM_ENCR, 12, "ENCR_AES_CBC" },
                { BH_TRANSFORM_ENCR, 3, "ENCR_3DES" },
                { BH_TRANSFORM_ENCR, 11, "ENCR_NULL" },
                { BH_TRANSFORM_PRF, 5, "PRF_HMAC_SHA2_256" },
                { BH_TRANSFORM_PRF, 6, "PRF_HMAC_SHA2_384" },
                { BH_TRANSFORM_PRF, 7, "PRF_HMAC_SHA2_512" },
                { BH_TRANSFORM_INTEG, 12, "AUTH_HMAC_SHA2_256_128" },
                { BH_TRANSFORM_INTEG, 13, "AUTH_HMAC_SHA2_384_192" },
                { BH_TRANSFORM_INTEG, 14, "AUTH_HMAC_SHA2_512_256" },
                { BH_TRANSFORM_INTEG, 2, "AUTH_HMAC_SHA1_96" },
                { BH_TRANSFORM_INTEG, 1, "AUTH_HMAC_MD5_96" },
                { BH_TRANSFORM_DH, 31, "CURVE_25519" },
                { BH_TRANSFORM_DH, 19, "ECP_256" },
                { BH_TRANSFORM_DH, 20, "ECP_384" },
                { BH_TRANSFORM_DH, 21, "ECP_521" },
                { BH_TRANSFORM_DH, 14, "MODP_2048" },
                { BH_TRANSFORM_DH, 15, "MODP_3072" },
                { BH_TRANSFORM_DH, 16, "MODP_4096" },
                { BH_TRANSFORM_ESN, 0, "NO_ESN" },
                { BH_TRANSFORM_ESN, 1, "ESN" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                g_assert_cmpstr(bh_proposal_transform_name(names[i].type, names[i].id), ==, names[i].name);
        g_assert_null(bh_proposal_transform_name(BH_TRANSFORM_ENCR, 0));
        g_assert_null(bh_proposal_transform_name(BH_TRANSFORM_DH, 2));
        g_assert_null(bh_proposal_transform_name(9, 1));

        g_assert_cmpstr(bh_proposal_transform_type_name(BH_TRANSFORM_ENCR), ==, "ENCR");
        g_assert_cmpstr(bh_proposal_transform_type_name(BH_TRANSFORM_PRF), ==, "PRF");
        g_assert_cmpstr(bh_proposal_transform_type_name(BH_TRANSFORM_INTEG), ==, "INTEG");
        g_assert_cmpstr(bh_proposal_transform_type_name(BH_TRANSFORM_DH), ==, "DH");
        g_assert_cmpstr(bh_proposal_transform_type_name(BH_TRANSFORM_ESN), ==, "ESN");
        g_assert_cmpstr(bh_proposal_transform_type_name(0), ==, "UNKNOWN");
        g_assert_cmpstr(bh_protocol_id_name(BH_PROTO_IKE), ==, "IKE");
        g_assert_cmpstr(bh_protocol_id_name(BH_PROTO_AH), ==, "AH");
        g_assert_cmpstr(bh_protocol_id_name(BH_PROTO_ESP), ==, "ESP");
        g_assert_cmpstr(bh_protocol_id_name((BhProtocolId) 0), ==, "UNKNOWN");

        /* Canonical keywords: the first spelling of each transform. */
        g_assert_cmpstr(bh_proposal_transform_keyword(&(BhProposalTransform) { BH_TRANSFORM_ENCR, 20, 128 }), ==, "aes128gcm16");
        g_assert_cmpstr(bh_proposal_transform_keyword(&(BhProposalTransform) { BH_TRANSFORM_DH, 31, 0 }), ==, "curve25519");
        g_assert_cmpstr(bh_proposal_transform_keyword(&(BhProposalTransform) { BH_TRANSFORM_INTEG, 12, 0 }), ==, "sha256");
        g_assert_null(bh_proposal_transform_keyword(&(BhProposalTransform) { BH_TRANSFORM_ENCR, 20, 192 }));
}

/* Proposals made of real keywords, garbage and separators: never a crash,
 * and whatever parses prints back to a string that parses equal. */
static void test_fuzz(void) {
        static const char *const words[] = {
                "aes128gcm16", "aes256gcm16", "aes128gcm", "chacha20poly1305", "aes128", "aes256", "3des", "null",
                "sha256", "sha384", "sha512", "sha1", "md5", "prfsha256", "prfsha384", "prfsha512", "prfsha1", "prfmd5",
                "x25519", "curve25519", "ecp256", "ecp384", "ecp521", "modp2048", "modp3072", "modp4096", "esn", "noesn",
                "aes192", "", " ", "-", ",", "\xff", "\x01", "#", "aes256gcm16-prfsha256-x25519",
        };
        g_autoptr(GRand) rand = g_rand_new_with_seed(FUZZ_SEED);
        unsigned parsed = 0;

        for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
                g_autoptr(GString) s = g_string_new(NULL);
                BhProtocolId proto = (BhProtocolId) g_rand_int_range(rand, 1, 4);
                g_autofree char *reason = NULL;
                g_autofree BhProposal *list = NULL;
                size_t n = 0;
                BhProposal p;
                int r;

                for (int k = g_rand_int_range(rand, 1, 8); k > 0; k--) {
                        if (s->len && g_rand_int_range(rand, 0, 4))
                                g_string_append_c(s, g_rand_int_range(rand, 0, 8) ? '-' : ',');
                        if (g_rand_int_range(rand, 0, 16) == 0)
                                g_string_append_c(s, (char) g_rand_int_range(rand, 1, 256));
                        else
                                g_string_append(s, words[g_rand_int_range(rand, 0, G_N_ELEMENTS(words))]);
                }

                r = bh_proposal_parse(proto, s->str, &p, &reason);
                if (r == 0) {
                        g_autofree char *text = bh_proposal_to_string(&p);
                        BhProposal p2;

                        parsed++;
                        g_assert_null(reason);
                        g_assert_cmpuint(p.n, <=, BH_PROPOSAL_TRANSFORMS_MAX);
                        g_assert_cmpint(bh_proposal_parse(proto, text, &p2, NULL), ==, 0);
                        g_assert_true(bh_proposal_equal(&p, &p2));
                } else {
                        g_assert_cmpint(r, ==, -EINVAL);
                        g_assert_nonnull(reason);
                }

                g_clear_pointer(&reason, g_free);
                r = bh_proposal_list_parse(proto, s->str, &list, &n, &reason);
                if (r == 0) {
                        g_autofree char *text = bh_proposal_list_to_string(list, n);
                        g_autofree BhProposal *list2 = NULL;
                        size_t n2;

                        g_assert_cmpint(bh_proposal_list_parse(proto, text, &list2, &n2, NULL), ==, 0);
                        g_assert_true(bh_proposal_list_equal(list, n, list2, n2));
                }
        }
        /* The generator must reach the success path, or the test tests little. */
        g_assert_cmpuint(parsed, >, FUZZ_ROUNDS / 100);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/proposal/good", test_good);
        g_test_add_func("/proposal/bad", test_bad);
        g_test_add_func("/proposal/list", test_list);
        g_test_add_func("/proposal/key-len", test_key_len);
        g_test_add_func("/proposal/single", test_single);
        g_test_add_func("/proposal/names", test_names);
        g_test_add_func("/proposal/fuzz", test_fuzz);

        return g_test_run();
}
