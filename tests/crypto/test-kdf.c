/* SPDX-License-Identifier: ISC */
/* Known-answer tests of the IKEv2 PRFs and key derivation: the NIST CAVP
 * SP 800-135 IKEv2 vectors (read at run time from $BULKHEAD_VECTORS), RFC 4231
 * for HMAC-SHA-2, and prf+ edge cases. Everything goes through the functions
 * cryptod calls. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "ikev2-kdf.h"
#include "prf.h"
#include "secmem.h"

static const BhPrfAlg implemented[] = {
        PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512,
};

/* ---- helpers ---- */

/* Decodes lowercase or uppercase hex; NULL if the text is not hex. */
static GBytes *hex_decode(const char *hex) {
        size_t n = strlen(hex);
        guint8 *out;

        if (n % 2)
                return NULL;
        out = g_malloc(n / 2 + 1);
        for (size_t i = 0; i < n / 2; i++) {
                int hi = g_ascii_xdigit_value(hex[2 * i]);
                int lo = g_ascii_xdigit_value(hex[2 * i + 1]);
                if (hi < 0 || lo < 0) {
                        g_free(out);
                        return NULL;
                }
                out[i] = (guint8) (hi << 4 | lo);
        }
        return g_bytes_new_take(out, n / 2);
}

static char *hex_encode(const guint8 *p, size_t n) {
        GString *s = g_string_sized_new(2 * n);
        for (size_t i = 0; i < n; i++)
                g_string_append_printf(s, "%02x", p[i]);
        return g_string_free(s, FALSE);
}

/* true if equal; otherwise says what differed, and where, and fails the
 * test without stopping it, so that one run reports every bad case. */
static gboolean bytes_check(const char *where, const char *what, const guint8 *got,
                            size_t got_len, GBytes *want) {
        size_t want_len;
        const guint8 *w = g_bytes_get_data(want, &want_len);

        if (got_len == want_len && memcmp(got, w, want_len) == 0)
                return TRUE;

        g_autofree char *got_hex = hex_encode(got, got_len);
        g_autofree char *want_hex = hex_encode(w, want_len);
        g_test_message("%s: %s differs", where, what);
        g_test_message("  got  %s", got_hex);
        g_test_message("  want %s", want_hex);
        g_test_fail();
        return FALSE;
}

/* Appends each non-NULL secret's bytes, in order, to a new array. */
static GByteArray *concat_secrets(BhSecret *const *secrets, size_t n) {
        GByteArray *a = g_byte_array_new();
        for (size_t i = 0; i < n; i++)
                if (secrets[i])
                        g_byte_array_append(a, secrets[i]->data, (guint) secrets[i]->len);
        return a;
}

static BhSecret *secret_from_bytes(GBytes *b) {
        size_t len;
        const void *p = g_bytes_get_data(b, &len);
        BhSecret *s = bh_secret_new_copy(p, len);
        g_assert_nonnull(s);
        return s;
}

/* ---- NIST CAVP SP 800-135 IKEv2 KDF vectors ---- */

#define CAVP_FILE "cavp-ikev2-kdf.fax"
#define CAVP_EXPECTED_CASES 900

enum {
        F_NI,
        F_NR,
        F_G_IR,
        F_G_IR_NEW,
        F_SPI_I,
        F_SPI_R,
        F_SKEYSEED,
        F_DKM,
        F_DKM_CHILD,
        F_DKM_CHILD_DH,
        F_SKEYSEED_REKEY,
        N_FIELDS,
};

static const char *const field_names[N_FIELDS] = {
        [F_NI] = "Ni",
        [F_NR] = "Nr",
        [F_G_IR] = "g^ir",
        [F_G_IR_NEW] = "g^ir (new)",
        [F_SPI_I] = "SPIi",
        [F_SPI_R] = "SPIr",
        [F_SKEYSEED] = "SKEYSEED",
        [F_DKM] = "DKM",
        [F_DKM_CHILD] = "DKM(Child SA)",
        [F_DKM_CHILD_DH] = "DKM(Child SA D-H)",
        [F_SKEYSEED_REKEY] = "SKEYSEED(Rekey)",
};

static const struct {
        const char *header;
        BhPrfAlg prf;
} cavp_hashes[] = {
        { "SHA-1", PRF_HMAC_SHA1 },
        { "SHA-256", PRF_HMAC_SHA2_256 },
        { "SHA-384", PRF_HMAC_SHA2_384 },
        { "SHA-512", PRF_HMAC_SHA2_512 },
};

/* The bracketed headers in force; lengths in bits, 0 until given. */
typedef struct {
        BhPrfAlg prf; /* 0 until a hash header */
        unsigned g_ir_bits, ni_bits, nr_bits, dkm_bits, child_dkm_bits;
} CavpSection;

typedef struct {
        int count; /* -1: no case open */
        unsigned line;
        GBytes *f[N_FIELDS];
} CavpCase;

typedef struct {
        CavpSection section;
        CavpCase c;
        unsigned n_sections;
        unsigned checked, passed;
        GPtrArray *summary; /* cases per section, for the log */
        unsigned section_cases;
} CavpRun;

static void cavp_case_clear(CavpCase *c) {
        for (size_t i = 0; i < N_FIELDS; i++)
                g_clear_pointer(&c->f[i], g_bytes_unref);
        c->count = -1;
}

static gboolean length_check(const char *where, const char *what, GBytes *b, size_t want) {
        if (g_bytes_get_size(b) == want)
                return TRUE;
        g_test_message("%s: %s is %zu bytes, the section header says %zu", where, what,
                       g_bytes_get_size(b), want);
        g_test_fail();
        return FALSE;
}

/* The IKE SA split: SK_d of the PRF's length (as cryptod cuts it, and as the
 * child and rekey derivations of the vectors use it), the rest shared so that
 * the seven keys cover the whole DKM. aead leaves SK_ai/SK_ar empty. */
static BhIkeKeyLengths cavp_ike_split(size_t dkm_len, size_t prf_len, gboolean aead) {
        size_t half;
        BhIkeKeyLengths l = { .sk_d = prf_len };

        g_assert_cmpuint(dkm_len, >=, prf_len + 6);
        g_assert_cmpuint((dkm_len - prf_len) % 2, ==, 0);
        half = (dkm_len - prf_len) / 2; /* one of each pair */
        if (aead) {
                l.sk_p = half / 2;
                l.sk_e = half - l.sk_p;
        } else {
                l.sk_a = half / 3;
                l.sk_p = half / 3;
                l.sk_e = half - l.sk_a - l.sk_p;
        }
        g_assert_cmpuint(l.sk_d + 2 * (l.sk_a + l.sk_e + l.sk_p), ==, dkm_len);
        return l;
}

static gboolean cavp_check_child(const char *where, const char *what, BhPrfAlg prf,
                                 const BhSecret *sk_d, const BhSecret *g_ir_new,
                                 const BhIkeNonces *nonces, GBytes *want) {
        size_t len = g_bytes_get_size(want);
        gboolean ok = TRUE;

        g_assert_cmpuint(len % 2, ==, 0);
        /* Two cuts of the same KEYMAT: an AEAD cipher (no integrity key) and
         * an encryption key followed by an integrity key. */
        const size_t cuts[][2] = { { len / 2, 0 }, { len / 4, len / 2 - len / 4 } };
        for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
                g_autoptr(BhChildKeys) keys = NULL;
                int r = bh_ikev2_child_keys(prf, sk_d, g_ir_new, nonces, cuts[i][0], cuts[i][1],
                                            &keys);
                g_assert_cmpint(r, ==, 0);
                BhSecret *const order[] = { keys->encr_i, keys->integ_i, keys->encr_r,
                                            keys->integ_r };
                g_autoptr(GByteArray) keymat = concat_secrets(order, G_N_ELEMENTS(order));
                ok &= bytes_check(where, what, keymat->data, keymat->len, want);
        }
        return ok;
}

static void cavp_check_case(CavpRun *run) {
        const CavpSection *s = &run->section;
        CavpCase *c = &run->c;
        size_t prf_len = bh_prf_output_len(s->prf);
        g_autofree char *where = g_strdup_printf("line %u, [%s] [g^ir length = %u] "
                                                 "[Ni length = %u] COUNT = %d",
                                                 c->line, bh_prf_name(s->prf), s->g_ir_bits,
                                                 s->ni_bits, c->count);
        gboolean ok = TRUE;

        for (size_t i = 0; i < N_FIELDS; i++)
                if (!c->f[i])
                        g_error("%s: no \"%s\" in this case", where, field_names[i]);
        if (!s->prf || !s->g_ir_bits || !s->ni_bits || !s->nr_bits || !s->dkm_bits ||
            !s->child_dkm_bits)
                g_error("%s: a section header is missing", where);
        run->checked++;

        ok &= length_check(where, "Ni", c->f[F_NI], s->ni_bits / 8);
        ok &= length_check(where, "Nr", c->f[F_NR], s->nr_bits / 8);
        ok &= length_check(where, "g^ir", c->f[F_G_IR], s->g_ir_bits / 8);
        ok &= length_check(where, "g^ir (new)", c->f[F_G_IR_NEW], s->g_ir_bits / 8);
        ok &= length_check(where, "SPIi", c->f[F_SPI_I], BH_IKE_SPI_LEN);
        ok &= length_check(where, "SPIr", c->f[F_SPI_R], BH_IKE_SPI_LEN);
        ok &= length_check(where, "DKM", c->f[F_DKM], s->dkm_bits / 8);
        ok &= length_check(where, "DKM(Child SA)", c->f[F_DKM_CHILD], s->child_dkm_bits / 8);
        ok &= length_check(where, "DKM(Child SA D-H)", c->f[F_DKM_CHILD_DH],
                           s->child_dkm_bits / 8);
        if (!ok)
                return;

        BhIkeNonces nonces;
        nonces.ni = g_bytes_get_data(c->f[F_NI], &nonces.ni_len);
        nonces.nr = g_bytes_get_data(c->f[F_NR], &nonces.nr_len);
        BhSecret *g_ir = secret_from_bytes(c->f[F_G_IR]);
        BhSecret *g_ir_new = secret_from_bytes(c->f[F_G_IR_NEW]);
        BhSecret *skeyseed = NULL, *skeyseed_rekey = NULL;
        BhIkeKeys *keys[2] = { NULL, NULL };

        /* Section 2.14: SKEYSEED = prf(Ni | Nr, g^ir) */
        g_assert_cmpint(bh_ikev2_skeyseed(s->prf, g_ir, &nonces, &skeyseed), ==, 0);
        ok &= bytes_check(where, "SKEYSEED", skeyseed->data, skeyseed->len, c->f[F_SKEYSEED]);

        /* Section 2.14: the seven keys, cut two ways, give back the whole DKM. */
        for (int aead = 0; aead < 2; aead++) {
                BhIkeKeyLengths l = cavp_ike_split(g_bytes_get_size(c->f[F_DKM]), prf_len, aead);
                g_assert_cmpint(bh_ikev2_ike_keys(s->prf, skeyseed, &nonces,
                                                  g_bytes_get_data(c->f[F_SPI_I], NULL),
                                                  g_bytes_get_data(c->f[F_SPI_R], NULL), &l,
                                                  &keys[aead]),
                                ==, 0);
                BhIkeKeys *k = keys[aead];
                g_assert_true(aead ? !k->sk_ai && !k->sk_ar : k->sk_ai && k->sk_ar);
                BhSecret *const order[] = { k->sk_d,  k->sk_ai, k->sk_ar, k->sk_ei,
                                            k->sk_er, k->sk_pi, k->sk_pr };
                g_autoptr(GByteArray) dkm = concat_secrets(order, G_N_ELEMENTS(order));
                ok &= bytes_check(where, aead ? "DKM (AEAD cut)" : "DKM", dkm->data, dkm->len,
                                  c->f[F_DKM]);
        }

        /* Section 2.17, with SK_d as the split hands it to cryptod. */
        ok &= cavp_check_child(where, "DKM(Child SA)", s->prf, keys[0]->sk_d, NULL, &nonces,
                               c->f[F_DKM_CHILD]);
        ok &= cavp_check_child(where, "DKM(Child SA D-H)", s->prf, keys[0]->sk_d, g_ir_new,
                               &nonces, c->f[F_DKM_CHILD_DH]);

        /* Section 2.18: SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) */
        g_assert_cmpint(bh_ikev2_skeyseed_rekey(s->prf, keys[0]->sk_d, g_ir_new, &nonces,
                                                &skeyseed_rekey),
                        ==, 0);
        ok &= bytes_check(where, "SKEYSEED(Rekey)", skeyseed_rekey->data, skeyseed_rekey->len,
                          c->f[F_SKEYSEED_REKEY]);

        bh_secret_free(skeyseed_rekey);
        bh_ike_keys_free(keys[0]);
        bh_ike_keys_free(keys[1]);
        bh_secret_free(skeyseed);
        bh_secret_free(g_ir_new);
        bh_secret_free(g_ir);
        if (ok)
                run->passed++;
}

static void cavp_flush_case(CavpRun *run) {
        if (run->c.count < 0)
                return;
        cavp_check_case(run);
        run->section_cases++;
        cavp_case_clear(&run->c);
}

/* Called at each header line: a new section begins at the first header
 * after a case. */
static void cavp_section_boundary(CavpRun *run) {
        if (run->section_cases == 0)
                return;
        g_ptr_array_add(run->summary,
                        g_strdup_printf("  [%s] [g^ir length = %u] [Ni length = %u]: %u cases",
                                        bh_prf_name(run->section.prf), run->section.g_ir_bits,
                                        run->section.ni_bits, run->section_cases));
        run->section_cases = 0;
        run->n_sections++;
}

static void cavp_header(CavpRun *run, const char *line, unsigned lineno) {
        size_t n = strlen(line);
        g_autofree char *inner = NULL;
        char *eq;

        if (n < 2 || line[n - 1] != ']')
                g_error("line %u: bad section header \"%s\"", lineno, line);
        cavp_flush_case(run);
        cavp_section_boundary(run);

        inner = g_strndup(line + 1, n - 2);
        eq = strchr(inner, '=');
        if (!eq) {
                for (size_t i = 0; i < G_N_ELEMENTS(cavp_hashes); i++)
                        if (strcmp(inner, cavp_hashes[i].header) == 0) {
                                run->section.prf = cavp_hashes[i].prf;
                                return;
                        }
                g_error("line %u: unknown hash \"%s\"", lineno, inner);
        }

        *eq = '\0';
        const char *key = g_strstrip(inner);
        const char *value = g_strstrip(eq + 1);
        guint64 bits;
        if (!g_ascii_string_to_unsigned(value, 10, 8, 1 << 20, &bits, NULL) || bits % 8)
                g_error("line %u: bad length \"%s\"", lineno, value);

        if (strcmp(key, "g^ir length") == 0)
                run->section.g_ir_bits = (unsigned) bits;
        else if (strcmp(key, "Ni length") == 0)
                run->section.ni_bits = (unsigned) bits;
        else if (strcmp(key, "Nr length") == 0)
                run->section.nr_bits = (unsigned) bits;
        else if (strcmp(key, "DKM length") == 0)
                run->section.dkm_bits = (unsigned) bits;
        else if (strcmp(key, "Child SA DKM length") == 0)
                run->section.child_dkm_bits = (unsigned) bits;
        else
                g_error("line %u: unknown header \"%s\"", lineno, key);
}

static void cavp_field(CavpRun *run, char *line, unsigned lineno) {
        char *eq = strchr(line, '=');
        if (!eq)
                g_error("line %u: neither a header nor \"name = value\": \"%s\"", lineno, line);
        *eq = '\0';
        const char *key = g_strstrip(line);
        const char *value = g_strstrip(eq + 1);

        if (strcmp(key, "COUNT") == 0) {
                guint64 count;
                cavp_flush_case(run);
                if (!g_ascii_string_to_unsigned(value, 10, 0, G_MAXINT, &count, NULL))
                        g_error("line %u: bad COUNT \"%s\"", lineno, value);
                run->c.count = (int) count;
                run->c.line = lineno;
                return;
        }
        if (run->c.count < 0)
                g_error("line %u: \"%s\" outside a COUNT case", lineno, key);
        for (size_t i = 0; i < N_FIELDS; i++) {
                if (strcmp(key, field_names[i]) != 0)
                        continue;
                if (run->c.f[i])
                        g_error("line %u: \"%s\" twice in one case", lineno, key);
                run->c.f[i] = hex_decode(value);
                if (!run->c.f[i])
                        g_error("line %u: \"%s\" is not hex", lineno, key);
                return;
        }
        g_error("line %u: unknown field \"%s\"", lineno, key);
}

static void test_cavp_vectors(void) {
        const char *dir = g_getenv("BULKHEAD_VECTORS");
        g_autofree char *path = NULL;
        g_autofree char *text = NULL;
        size_t text_len = 0;
        g_autoptr(GError) error = NULL;
        CavpRun run = { .c = { .count = -1 } };

        if (!dir || !*dir) {
                g_test_message("BULKHEAD_VECTORS is not set: skipping the NIST CAVP IKEv2 "
                               "KDF vectors (meson test sets it)");
                g_test_skip("BULKHEAD_VECTORS not set");
                return;
        }
        path = g_build_filename(dir, CAVP_FILE, NULL);
        if (!g_file_test(dir, G_FILE_TEST_IS_DIR) || !g_file_test(path, G_FILE_TEST_EXISTS)) {
                g_test_message("The vectors folder is absent (no %s): skipping the NIST CAVP "
                               "IKEv2 KDF vectors",
                               path);
                g_test_skip("vectors folder absent");
                return;
        }
        if (!g_file_get_contents(path, &text, &text_len, &error))
                g_error("%s: %s", path, error->message);

        run.summary = g_ptr_array_new_with_free_func(g_free);
        /* Lines cut in place with memchr(): g_strsplit()'s strstr() rescans
         * the rest of the file per line under ASan, which takes seconds. */
        char *p = text, *end = text + text_len;
        for (unsigned lineno = 1; p < end; lineno++) {
                char *nl = memchr(p, '\n', (size_t) (end - p));
                char *line = p;

                if (nl)
                        *nl = '\0';
                p = nl ? nl + 1 : end;
                if (memchr(line, '\0', (size_t) ((nl ? nl : end) - line)))
                        g_error("line %u: NUL byte", lineno);
                /* The file has CRLF line ends; strip also drops the CR. */
                line = g_strstrip(line);

                if (*line == '#')
                        continue;
                if (*line == '\0')
                        cavp_flush_case(&run);
                else if (*line == '[')
                        cavp_header(&run, line, lineno);
                else
                        cavp_field(&run, line, lineno);
        }
        cavp_flush_case(&run);
        cavp_section_boundary(&run);

        g_test_message("%s: %u sections", path, run.n_sections);
        for (unsigned i = 0; i < run.summary->len; i++)
                g_test_message("%s", (const char *) run.summary->pdata[i]);
        g_test_message("%u cases checked, %u passed", run.checked, run.passed);
        g_ptr_array_free(run.summary, TRUE);
        g_assert_cmpuint(run.checked, ==, CAVP_EXPECTED_CASES);
        g_assert_cmpuint(run.passed, ==, CAVP_EXPECTED_CASES);
}

/* ---- RFC 4231 HMAC-SHA-2 through bh_prf() ---- */

/* A test input: text, hex, or n copies of one byte. */
typedef struct {
        const char *text;
        const char *hex;
        guint8 fill;
        size_t n;
} TestInput;

static GBytes *test_input_bytes(const TestInput *in) {
        if (in->text)
                return g_bytes_new_static(in->text, strlen(in->text));
        if (in->hex)
                return hex_decode(in->hex);
        guint8 *p = g_malloc(in->n);
        memset(p, in->fill, in->n);
        return g_bytes_new_take(p, in->n);
}

static const struct {
        int test_case;
        TestInput key, data;
        const char *sha256, *sha384, *sha512;
} rfc4231[] = {
        {
                1,
                { .fill = 0x0b, .n = 20 },
                { .text = "Hi There" },
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
                "faea9ea9076ede7f4af152e8b2fa9cb6",
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
                "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
        },
        {
                /* A key shorter than the output. */
                2,
                { .text = "Jefe" },
                { .text = "what do ya want for nothing?" },
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                "8e2240ca5e69e2c78b3239ecfab21649",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
                "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        },
        {
                /* Key and data together longer than a SHA-256 block. */
                3,
                { .fill = 0xaa, .n = 20 },
                { .fill = 0xdd, .n = 50 },
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b"
                "2a5ab39dc13814b94e3ab6e101a34f27",
                "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39"
                "bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
        },
        {
                4,
                { .hex = "0102030405060708090a0b0c0d0e0f10111213141516171819" },
                { .fill = 0xcd, .n = 50 },
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e"
                "6801dd23c4a7d679ccf8a386c674cffb",
                "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3db"
                "a91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
        },
        /* Test case 5 checks a truncated output: no PRF truncates. */
        {
                /* A key longer than a SHA-512 block: hashed first. */
                6,
                { .fill = 0xaa, .n = 131 },
                { .text = "Test Using Larger Than Block-Size Key - Hash Key First" },
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c6"
                "0c2ef6ab4030fe8296248df163f44952",
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f352"
                "6b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
        },
        {
                7,
                { .fill = 0xaa, .n = 131 },
                { .text = "This is a test using a larger than block-size key and a larger "
                          "than block-size data. The key needs to be hashed before being "
                          "used by the HMAC algorithm." },
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
                "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5"
                "a678cc31e799176d3860e6110c46523e",
                "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944"
                "b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
        },
};

static void test_rfc4231(void) {
        unsigned checked = 0;

        for (size_t i = 0; i < G_N_ELEMENTS(rfc4231); i++) {
                g_autoptr(GBytes) key = test_input_bytes(&rfc4231[i].key);
                g_autoptr(GBytes) data = test_input_bytes(&rfc4231[i].data);
                const struct {
                        BhPrfAlg prf;
                        const char *hex;
                } want[] = {
                        { PRF_HMAC_SHA2_256, rfc4231[i].sha256 },
                        { PRF_HMAC_SHA2_384, rfc4231[i].sha384 },
                        { PRF_HMAC_SHA2_512, rfc4231[i].sha512 },
                };

                for (size_t j = 0; j < G_N_ELEMENTS(want); j++) {
                        g_autoptr(GBytes) expected = hex_decode(want[j].hex);
                        g_autofree char *where = g_strdup_printf(
                                "RFC 4231 test case %d, %s", rfc4231[i].test_case,
                                bh_prf_name(want[j].prf));
                        guint8 out[BH_PRF_MAX_OUTPUT];
                        size_t key_len, data_len;
                        const void *k = g_bytes_get_data(key, &key_len);
                        const void *d = g_bytes_get_data(data, &data_len);

                        g_assert_nonnull(expected);
                        g_assert_cmpint(bh_prf(want[j].prf, k, key_len, d, data_len, out), ==, 0);
                        if (bytes_check(where, "HMAC", out, bh_prf_output_len(want[j].prf),
                                        expected))
                                checked++;
                }
        }
        g_assert_cmpuint(checked, ==, 3 * G_N_ELEMENTS(rfc4231));
}

/* ---- PRF table and prf+ edge cases ---- */

static void test_prf_names(void) {
        static const struct {
                BhPrfAlg alg;
                int iana;
                const char *name;
                size_t len;
        } table[] = {
                { PRF_HMAC_SHA1, 2, "PRF_HMAC_SHA1", 20 },
                { PRF_HMAC_SHA2_256, 5, "PRF_HMAC_SHA2_256", 32 },
                { PRF_HMAC_SHA2_384, 6, "PRF_HMAC_SHA2_384", 48 },
                { PRF_HMAC_SHA2_512, 7, "PRF_HMAC_SHA2_512", 64 },
                /* Named for the logs, not implemented. */
                { PRF_HMAC_MD5, 1, "PRF_HMAC_MD5", 0 },
                { PRF_HMAC_TIGER, 3, "PRF_HMAC_TIGER", 0 },
                { PRF_AES128_XCBC, 4, "PRF_AES128_XCBC", 0 },
                { PRF_AES128_CMAC, 8, "PRF_AES128_CMAC", 0 },
                { (BhPrfAlg) 0, 0, NULL, 0 },
                { (BhPrfAlg) 9, 9, NULL, 0 },
                { (BhPrfAlg) 1024, 1024, NULL, 0 },
                { (BhPrfAlg) -1, -1, NULL, 0 },
        };
        guint8 out[BH_PRF_MAX_OUTPUT];

        for (size_t i = 0; i < G_N_ELEMENTS(table); i++) {
                g_assert_cmpint((int) table[i].alg, ==, table[i].iana);
                g_assert_cmpstr(bh_prf_name(table[i].alg), ==, table[i].name);
                g_assert_cmpuint(bh_prf_output_len(table[i].alg), ==, table[i].len);
                g_assert_cmpuint(table[i].len, <=, BH_PRF_MAX_OUTPUT);
                if (table[i].len == 0) {
                        g_assert_cmpint(bh_prf(table[i].alg, "k", 1, "d", 1, out), ==,
                                        -EOPNOTSUPP);
                        g_assert_cmpint(bh_prf_plus(table[i].alg, "k", 1, "d", 1, out, 1), ==,
                                        -EOPNOTSUPP);
                }
        }
}

/* prf+ written out from the RFC text with single bh_prf() calls, to check
 * the one-context implementation against. */
static GByteArray *reference_prf_plus(BhPrfAlg prf, GBytes *key, GBytes *seed, size_t out_len) {
        size_t hlen = bh_prf_output_len(prf), key_len, seed_len;
        const guint8 *k = g_bytes_get_data(key, &key_len);
        const guint8 *s = g_bytes_get_data(seed, &seed_len);
        GByteArray *stream = g_byte_array_new();
        guint8 t[BH_PRF_MAX_OUTPUT];

        for (unsigned n = 1; stream->len < out_len; n++) {
                g_autoptr(GByteArray) input = g_byte_array_new();
                guint8 counter = (guint8) n;

                g_assert_cmpuint(n, <=, 255);
                if (n > 1)
                        g_byte_array_append(input, t, (guint) hlen);
                g_byte_array_append(input, s, (guint) seed_len);
                g_byte_array_append(input, &counter, 1);
                g_assert_cmpint(bh_prf(prf, k, key_len, input->data, input->len, t), ==, 0);
                g_byte_array_append(stream, t, (guint) MIN(hlen, out_len - stream->len));
        }
        return stream;
}

static void test_prf_plus_edges(void) {
        static const struct {
                const char *what;
                TestInput key, seed;
                size_t blocks; /* whole PRF blocks requested */
                gssize extra; /* bytes added to them (may be negative) */
                int ret;
        } cases[] = {
                { "one byte", { .fill = 0x01, .n = 32 }, { .text = "seed" }, 0, 1, 0 },
                { "one block", { .fill = 0x02, .n = 32 }, { .text = "seed" }, 1, 0, 0 },
                { "a block and a byte", { .fill = 0x03, .n = 16 }, { .text = "s" }, 1, 1, 0 },
                { "zero-length seed", { .fill = 0x04, .n = 32 }, { .text = "" }, 3, -1, 0 },
                { "zero-length key", { .text = "" }, { .text = "seed" }, 2, 0, 0 },
                { "long key", { .fill = 0x05, .n = 300 }, { .fill = 0x06, .n = 600 }, 4, 3, 0 },
                { "255 blocks", { .fill = 0x07, .n = 32 }, { .text = "seed" }, 255, 0, 0 },
                { "255 blocks, no seed", { .fill = 0x08, .n = 32 }, { .text = "" }, 255, 0, 0 },
                { "255 blocks and a byte", { .fill = 0x09, .n = 32 }, { .text = "x" }, 255, 1,
                  -EINVAL },
                { "256 blocks", { .fill = 0x0a, .n = 32 }, { .text = "x" }, 256, 0, -EINVAL },
        };

        for (size_t a = 0; a < G_N_ELEMENTS(implemented); a++) {
                BhPrfAlg prf = implemented[a];
                size_t hlen = bh_prf_output_len(prf);

                for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                        g_autoptr(GBytes) key = test_input_bytes(&cases[i].key);
                        g_autoptr(GBytes) seed = test_input_bytes(&cases[i].seed);
                        size_t out_len = cases[i].blocks * hlen + (size_t) cases[i].extra;
                        size_t key_len, seed_len;
                        const void *k = g_bytes_get_data(key, &key_len);
                        const void *s = g_bytes_get_data(seed, &seed_len);
                        /* One guard byte past the end must stay untouched. */
                        g_autofree guint8 *out = g_malloc(out_len + 1);
                        g_autofree char *where = g_strdup_printf("%s, %s", bh_prf_name(prf),
                                                                 cases[i].what);

                        memset(out, 0xee, out_len + 1);
                        g_test_message("prf+ %s: %zu bytes", where, out_len);
                        g_assert_cmpint(bh_prf_plus(prf, k, key_len, seed_len ? s : NULL,
                                                    seed_len, out, out_len),
                                        ==, cases[i].ret);
                        g_assert_cmpuint(out[out_len], ==, 0xee);
                        if (cases[i].ret < 0)
                                continue;

                        g_autoptr(GByteArray) want = reference_prf_plus(prf, key, seed, out_len);
                        g_autoptr(GBytes) want_bytes = g_bytes_new(want->data, want->len);
                        bytes_check(where, "prf+", out, out_len, want_bytes);

                        /* The seed in pieces, one of them empty, gives the same stream. */
                        BhPrfChunk chunks[] = {
                                { s, seed_len / 2 },
                                { NULL, 0 },
                                { (const guint8 *) s + seed_len / 2, seed_len - seed_len / 2 },
                        };
                        memset(out, 0, out_len);
                        g_assert_cmpint(bh_prf_plus_chunks(prf, k, key_len, chunks, 3, out,
                                                           out_len),
                                        ==, 0);
                        bytes_check(where, "prf+ over chunks", out, out_len, want_bytes);
                }

                /* T1 of an empty seed is prf(K, 0x01). */
                guint8 t1[BH_PRF_MAX_OUTPUT], p[BH_PRF_MAX_OUTPUT];
                g_assert_cmpint(bh_prf_plus(prf, "key", 3, NULL, 0, t1, hlen), ==, 0);
                g_assert_cmpint(bh_prf(prf, "key", 3, "\x01", 1, p), ==, 0);
                g_assert_cmpmem(t1, hlen, p, hlen);

                /* Nothing asked, nothing written, even with no buffer. */
                guint8 guard = 0x5a;
                g_assert_cmpint(bh_prf_plus(prf, "key", 3, "s", 1, &guard, 0), ==, 0);
                g_assert_cmpuint(guard, ==, 0x5a);
                g_assert_cmpint(bh_prf_plus(prf, "key", 3, "s", 1, NULL, 0), ==, 0);

                /* Bad arguments. */
                g_assert_cmpint(bh_prf(prf, NULL, 3, "d", 1, p), ==, -EINVAL);
                g_assert_cmpint(bh_prf(prf, "key", 3, NULL, 1, p), ==, -EINVAL);
                g_assert_cmpint(bh_prf(prf, "key", 3, "d", 1, NULL), ==, -EINVAL);
                g_assert_cmpint(bh_prf_plus(prf, NULL, 3, "s", 1, p, 1), ==, -EINVAL);
                g_assert_cmpint(bh_prf_plus(prf, "key", 3, NULL, 1, p, 1), ==, -EINVAL);
                g_assert_cmpint(bh_prf_plus(prf, "key", 3, "s", 1, NULL, 1), ==, -EINVAL);
                g_assert_cmpint(bh_prf_chunks(prf, "key", 3, NULL, 1, p), ==, -EINVAL);
                g_assert_cmpint(bh_prf(prf, NULL, 0, NULL, 0, p), ==, 0); /* empty is valid */
        }
}

/* ---- the KDF's own argument checks ---- */

static void test_kdf_arguments(void) {
        static const guint8 ni[16] = { 1 }, nr[16] = { 2 }, spi_i[8] = { 3 }, spi_r[8] = { 4 };
        const BhIkeNonces nonces = { ni, sizeof ni, nr, sizeof nr };
        const BhIkeNonces no_nr = { ni, sizeof ni, NULL, 0 };
        BhSecret *g_ir = bh_secret_new_copy("shared secret", 13);
        BhSecret *empty = bh_secret_new(0);
        BhSecret *skeyseed = NULL, *out = NULL;
        BhIkeKeys *ike = NULL;
        BhChildKeys *child = NULL;

        g_assert_cmpint(bh_ikev2_skeyseed(PRF_HMAC_SHA2_256, g_ir, &nonces, &skeyseed), ==, 0);
        g_assert_cmpuint(skeyseed->len, ==, 32);

        g_assert_cmpint(bh_ikev2_skeyseed(PRF_AES128_XCBC, g_ir, &nonces, &out), ==, -EOPNOTSUPP);
        g_assert_cmpint(bh_ikev2_skeyseed(PRF_HMAC_SHA2_256, NULL, &nonces, &out), ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_skeyseed(PRF_HMAC_SHA2_256, empty, &nonces, &out), ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_skeyseed(PRF_HMAC_SHA2_256, g_ir, &no_nr, &out), ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_skeyseed(PRF_HMAC_SHA2_256, g_ir, NULL, &out), ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_skeyseed_rekey(PRF_HMAC_SHA2_256, empty, g_ir, &nonces, &out), ==,
                        -EINVAL);
        g_assert_null(out);

        /* AES-256-GCM with PRF_HMAC_SHA2_256: 32-byte key + 4-byte salt, no SK_a. */
        const BhIkeKeyLengths gcm = { .sk_d = 32, .sk_a = 0, .sk_e = 36, .sk_p = 32 };
        g_assert_cmpint(bh_ikev2_ike_keys(PRF_HMAC_SHA2_256, skeyseed, &nonces, spi_i, spi_r, &gcm,
                                          &ike),
                        ==, 0);
        g_assert_null(ike->sk_ai);
        g_assert_null(ike->sk_ar);
        g_assert_cmpuint(ike->sk_d->len, ==, 32);
        g_assert_cmpuint(ike->sk_ei->len, ==, 36);
        g_assert_cmpuint(ike->sk_er->len, ==, 36);
        g_assert_cmpuint(ike->sk_pr->len, ==, 32);
        /* The two directions differ. */
        g_assert_cmpint(memcmp(ike->sk_ei->data, ike->sk_er->data, 36), !=, 0);

        const BhIkeKeyLengths no_d = { .sk_d = 0, .sk_a = 32, .sk_e = 16, .sk_p = 32 };
        const BhIkeKeyLengths no_p = { .sk_d = 32, .sk_a = 32, .sk_e = 16, .sk_p = 0 };
        /* 32 + 2 * (2100 + 2100 + 32) > 255 * 32 */
        const BhIkeKeyLengths too_long = { .sk_d = 32, .sk_a = 2100, .sk_e = 2100, .sk_p = 32 };
        const BhIkeKeyLengths huge = { .sk_d = 32, .sk_a = SIZE_MAX / 2, .sk_e = 16, .sk_p = 32 };
        BhIkeKeys *bad = NULL;
        g_assert_cmpint(bh_ikev2_ike_keys(PRF_HMAC_SHA2_256, skeyseed, &nonces, spi_i, spi_r, &no_d,
                                          &bad),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_ike_keys(PRF_HMAC_SHA2_256, skeyseed, &nonces, spi_i, spi_r, &no_p,
                                          &bad),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_ike_keys(PRF_HMAC_SHA2_256, skeyseed, &nonces, spi_i, spi_r,
                                          &too_long, &bad),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_ike_keys(PRF_HMAC_SHA2_256, skeyseed, &nonces, spi_i, spi_r, &huge,
                                          &bad),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_ike_keys(PRF_HMAC_SHA2_256, skeyseed, &nonces, NULL, spi_r, &gcm,
                                          &bad),
                        ==, -EINVAL);
        g_assert_null(bad);

        /* Child SA: AES-GCM-16 with a 256-bit key (36 bytes with salt). */
        g_assert_cmpint(bh_ikev2_child_keys(PRF_HMAC_SHA2_256, ike->sk_d, NULL, &nonces, 36, 0,
                                            &child),
                        ==, 0);
        g_assert_nonnull(child->encr_i);
        g_assert_nonnull(child->encr_r);
        g_assert_null(child->integ_i);
        g_assert_null(child->integ_r);
        bh_child_keys_free(child);
        child = NULL;
        /* AH: integrity only. */
        g_assert_cmpint(bh_ikev2_child_keys(PRF_HMAC_SHA2_256, ike->sk_d, g_ir, &nonces, 0, 32,
                                            &child),
                        ==, 0);
        g_assert_null(child->encr_i);
        g_assert_cmpuint(child->integ_r->len, ==, 32);
        bh_child_keys_free(child);
        child = NULL;
        g_assert_cmpint(bh_ikev2_child_keys(PRF_HMAC_SHA2_256, ike->sk_d, NULL, &nonces, 0, 0,
                                            &child),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_child_keys(PRF_HMAC_SHA2_256, ike->sk_d, empty, &nonces, 16, 16,
                                            &child),
                        ==, -EINVAL);
        g_assert_cmpint(bh_ikev2_child_keys(PRF_HMAC_SHA2_256, ike->sk_d, NULL, &nonces, 4096, 0,
                                            &child),
                        ==, -EINVAL);
        g_assert_null(child);

        bh_ike_keys_free(NULL);
        bh_child_keys_free(NULL);
        bh_ike_keys_free(ike);
        bh_secret_free(skeyseed);
        bh_secret_free(empty);
        bh_secret_free(g_ir);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/kdf/prf/names", test_prf_names);
        g_test_add_func("/kdf/prf/rfc4231", test_rfc4231);
        g_test_add_func("/kdf/prf-plus/edges", test_prf_plus_edges);
        g_test_add_func("/kdf/ikev2/arguments", test_kdf_arguments);
        g_test_add_func("/kdf/ikev2/cavp", test_cavp_vectors);
        return g_test_run();
}
