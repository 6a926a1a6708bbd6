/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "secrets.h"

#define LEAK_ROUNDS 200
#define LEAK_SEED 0x5ec2e75u
#define FUZZ_ROUNDS 1500
#define FUZZ_SEED 0xc0ffee5u
/* A report that contains this many consecutive characters of a key leaks it. */
#define LEAK_WINDOW 6

static GPtrArray *new_errors(void) {
        return g_ptr_array_new_with_free_func(g_free);
}

static void dump_errors(const GPtrArray *errors) {
        for (guint i = 0; i < errors->len; i++)
                g_test_message("report: %s", (const char *) errors->pdata[i]);
}

static void assert_key(const BhSecrets *s, BhSecretKind kind, const char *tunnel, BhSecretDir dir, const void *bytes, size_t len) {
        const BhSecretEntry *e = bh_secrets_find(s, kind, tunnel, dir);

        g_assert_nonnull(e);
        g_assert_nonnull(e->key);
        g_assert_cmpmem(e->key->data, e->key->len, bytes, len);
}

static const char good_file[] =
        "# secrets.conf\n"
        "psk  branch-office  \"Kx7 v0rtex Qw9 j4m\"     # IKE pre-shared key\n"
        "psk  hq 0x0123456789abcdefABCDEF\n"
        "PSK  quoting \"Zt5 \\\"hi\\\" \\\\ # Yv8\"\n"
        "esp  manual-a  out  0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223\n"
        "esp  manual-a  in   0x" "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff" "\n"
        "\tah\tmanual-a\tOUT\t0x1111111111111111111111111111111111111111111111111111111111111111\r\n"
        "ah   Manual-A  in   0x2222222222222222222222222222222222222222222222222222222222222222\n"
        "\n"
        "   # indented comment\n";

static void test_good(void) {
        static const uint8_t hq[] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xab, 0xcd, 0xef };
        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = new_errors();
        uint8_t out[36], in[36], ah[32];

        g_assert_cmpint(bh_secrets_parse(s, good_file, strlen(good_file), "test.conf", errors), ==, 0);
        dump_errors(errors);
        g_assert_cmpuint(errors->len, ==, 0);
        g_assert_cmpuint(bh_secrets_size(s), ==, 7);

        assert_key(s, BH_SECRET_PSK, "branch-office", BH_SECRET_DIR_NONE, "Kx7 v0rtex Qw9 j4m", 18);
        assert_key(s, BH_SECRET_PSK, "hq", BH_SECRET_DIR_NONE, hq, sizeof hq);
        assert_key(s, BH_SECRET_PSK, "quoting", BH_SECRET_DIR_NONE, "Zt5 \"hi\" \\ # Yv8", 16);
        for (size_t i = 0; i < sizeof out; i++)
                out[i] = (uint8_t) i;
        memset(in, 0xff, sizeof in);
        assert_key(s, BH_SECRET_ESP, "manual-a", BH_SECRET_OUT, out, sizeof out);
        assert_key(s, BH_SECRET_ESP, "MANUAL-A", BH_SECRET_IN, in, sizeof in);
        memset(ah, 0x11, sizeof ah);
        assert_key(s, BH_SECRET_AH, "manual-a", BH_SECRET_OUT, ah, sizeof ah);
        memset(ah, 0x22, sizeof ah);
        assert_key(s, BH_SECRET_AH, "manual-a", BH_SECRET_IN, ah, sizeof ah);

        g_assert_null(bh_secrets_find(s, BH_SECRET_PSK, "nope", BH_SECRET_DIR_NONE));
        g_assert_null(bh_secrets_find(s, BH_SECRET_ESP, "branch-office", BH_SECRET_OUT));
        g_assert_null(bh_secrets_find(s, BH_SECRET_PSK, "manual-a", BH_SECRET_DIR_NONE));
        g_assert_cmpuint(bh_secrets_find(s, BH_SECRET_AH, "manual-a", BH_SECRET_IN)->line, ==, 8);
        g_assert_cmpstr(bh_secrets_find(s, BH_SECRET_AH, "manual-a", BH_SECRET_IN)->tunnel, ==, "Manual-A");

        /* Parsing again replaces everything. */
        g_assert_cmpint(bh_secrets_parse(s, "psk x \"y\"\n", 10, NULL, errors), ==, 0);
        g_assert_cmpuint(bh_secrets_size(s), ==, 1);
        g_assert_cmpint(bh_secrets_parse(s, NULL, 0, NULL, errors), ==, 0);
        g_assert_cmpuint(bh_secrets_size(s), ==, 0);

        g_assert_cmpstr(bh_secret_kind_to_string(BH_SECRET_PSK), ==, "psk");
        g_assert_cmpstr(bh_secret_kind_to_string(BH_SECRET_ESP), ==, "esp");
        g_assert_cmpstr(bh_secret_kind_to_string(BH_SECRET_AH), ==, "ah");
        g_assert_cmpstr(bh_secret_dir_to_string(BH_SECRET_IN), ==, "in");
        g_assert_cmpstr(bh_secret_dir_to_string(BH_SECRET_OUT), ==, "out");
}

/* Each bad line is line 3 of 4; the others still load. The key material in
 * these lines must never come back in the reason. */
static const struct {
        const char *line;
        size_t len;                     /* 0: strlen */
        const char *reason;
} bad_lines[] = {
        { "pks t \"Zq9secret\"", 0, "unknown entry (a line starts with psk, esp or ah)" },
        { "\"Zq9secret\"", 0, "unknown entry (a line starts with psk, esp or ah)" },
        { "0xdeadbeefcafe", 0, "unknown entry (a line starts with psk, esp or ah)" },
        { "psk \"Zq9secret\"", 0, "fewer words where a psk entry has 3: psk TUNNEL KEY (a passphrase with blanks goes in double quotes)" },
        { "psk Zq9secret", 0, "fewer words where a psk entry has 3: psk TUNNEL KEY (a passphrase with blanks goes in double quotes)" },
        { "psk t Zq9 secret", 0, "more words where a psk entry has 3: psk TUNNEL KEY (a passphrase with blanks goes in double quotes)" },
        { "psk t Zq9secret", 0, "a psk is written in double quotes or as 0x and hex digits" },
        { "psk \"Zq9\" \"secret\"", 0, "the second word must be a tunnel name (1 to 32 of A-Z a-z 0-9 . _ -)" },
        { "psk Zq9:secret \"x\"", 0, "the second word must be a tunnel name (1 to 32 of A-Z a-z 0-9 . _ -)" },
        { "psk t \"Zq9secret", 0, "a quote is not closed" },
        { "psk t \"Zq9secret\\\"", 0, "a quote is not closed" },
        { "psk t \"Zq9\"secret", 0, "a closing quote must be followed by a blank or the end of the line" },
        { "psk t \"Zq9\\secret\"", 0, "the passphrase has an unknown escape (only \\\" and \\\\ are known)" },
        { "psk t \"Zq9\tsecret\"", 0, "the passphrase has a control character (write such a key in hex)" },
        { "psk t \"\"", 0, "the passphrase is empty" },
        { "psk t 0x", 0, "the key is empty (0x and no hex digits)" },
        { "psk t 0xdeadbeefcafe1", 0, "the key has an odd number of hex digits (two per byte)" },
        { "psk t 0xdeadbeefcafeZZ", 0, "the key has a character that is not a hex digit" },
        { "esp t out", 0, "fewer words where an esp entry has 4: esp TUNNEL in|out 0xKEY" },
        { "esp t 0xdeadbeefcafe", 0, "fewer words where an esp entry has 4: esp TUNNEL in|out 0xKEY" },
        { "esp t out 0xdeadbeef cafe", 0, "more words where an esp entry has 4: esp TUNNEL in|out 0xKEY" },
        { "esp t up 0xdeadbeefcafe", 0, "the third word of an esp entry must be in or out" },
        { "ah t 0xdeadbeefcafe out", 0, "the third word of an ah entry must be in or out" },
        { "esp t in \"Zq9secret\"", 0, "an esp key is written as 0x and hex digits" },
        { "ah t in deadbeefcafe", 0, "an ah key is written as 0x and hex digits" },
        { "ah t in 0xdeadbeefcafeq", 0, "the key has a character that is not a hex digit" },
        { "esp aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa in 0x00", 0, "the second word must be a tunnel name (1 to 32 of A-Z a-z 0-9 . _ -)" },
        { "psk t \"Zq9\0secret\"", sizeof("psk t \"Zq9\0secret\"") - 1, "line contains a NUL byte" },
        /* A repeated entry: the first one stays. */
        { "psk good \"Zq9secret\"", 0, "line 1 already gives this tunnel's psk; this line is ignored" },
        { "esp good in 0xdeadbeefcafe", 0, "line 2 already gives this tunnel's esp in key; this line is ignored" },
};

static void test_bad_lines(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(bad_lines); i++) {
                g_autoptr(BhSecrets) s = bh_secrets_new();
                g_autoptr(GPtrArray) errors = new_errors();
                g_autoptr(GByteArray) text = g_byte_array_new();
                g_autofree char *expect = g_strconcat("test.conf:3: ", bad_lines[i].reason, NULL);
                size_t len = bad_lines[i].len ? bad_lines[i].len : strlen(bad_lines[i].line);
                static const char before[] = "psk good \"first\"\nesp good in 0x0102\n";
                static const char after[] = "\nah good out 0x0304\n";

                g_byte_array_append(text, (const guint8 *) before, strlen(before));
                g_byte_array_append(text, (const guint8 *) bad_lines[i].line, (guint) len);
                g_byte_array_append(text, (const guint8 *) after, strlen(after));

                g_test_message("case %zu: %s", i, bad_lines[i].reason);
                g_assert_cmpint(bh_secrets_parse(s, (const char *) text->data, text->len, "test.conf", errors), ==, 1);
                dump_errors(errors);
                g_assert_cmpuint(errors->len, ==, 1);
                g_assert_cmpstr(errors->pdata[0], ==, expect);
                g_assert_null(strstr(errors->pdata[0], "Zq9"));
                g_assert_null(strstr(errors->pdata[0], "secret"));
                g_assert_null(strstr(errors->pdata[0], "deadbeef"));

                g_assert_cmpuint(bh_secrets_size(s), ==, 3);
                assert_key(s, BH_SECRET_PSK, "good", BH_SECRET_DIR_NONE, "first", 5);
                assert_key(s, BH_SECRET_ESP, "good", BH_SECRET_IN, "\x01\x02", 2);
                assert_key(s, BH_SECRET_AH, "good", BH_SECRET_OUT, "\x03\x04", 2);
        }
}

static void test_limits(void) {
        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(GString) text = g_string_new("psk max 0x");
        g_autofree char *expect = NULL;

        /* Line 1: a key of exactly BH_SECRETS_KEY_MAX bytes. */
        for (int i = 0; i < BH_SECRETS_KEY_MAX; i++)
                g_string_append(text, "ab");
        /* Line 2: one byte more. */
        g_string_append(text, "\npsk over 0x");
        for (int i = 0; i < BH_SECRETS_KEY_MAX + 1; i++)
                g_string_append(text, "ab");
        /* Line 3: a passphrase one byte too long. */
        g_string_append(text, "\npsk long \"");
        for (int i = 0; i < BH_SECRETS_KEY_MAX + 1; i++)
                g_string_append_c(text, 'p');
        /* Line 4: longer than a line may be. */
        g_string_append(text, "\"\npsk line \"");
        for (int i = 0; i < BH_SECRETS_LINE_MAX; i++)
                g_string_append_c(text, 'q');
        g_string_append(text, "\"\n");

        g_assert_cmpint(bh_secrets_parse(s, text->str, text->len, "test.conf", errors), ==, 3);
        dump_errors(errors);
        expect = g_strdup_printf("test.conf:2: the key is longer than %d bytes", BH_SECRETS_KEY_MAX);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_clear_pointer(&expect, g_free);
        expect = g_strdup_printf("test.conf:3: the passphrase is longer than %d bytes", BH_SECRETS_KEY_MAX);
        g_assert_cmpstr(errors->pdata[1], ==, expect);
        g_clear_pointer(&expect, g_free);
        expect = g_strdup_printf("test.conf:4: line is longer than %d bytes", BH_SECRETS_LINE_MAX);
        g_assert_cmpstr(errors->pdata[2], ==, expect);
        g_assert_cmpuint(bh_secrets_size(s), ==, 1);
        g_assert_cmpuint(bh_secrets_find(s, BH_SECRET_PSK, "max", BH_SECRET_DIR_NONE)->key->len, ==, BH_SECRETS_KEY_MAX);
}

static void test_entries_max(void) {
        g_autoptr(GString) text = g_string_new(NULL);
        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = new_errors();
        g_autofree char *expect = NULL;

        for (int i = 0; i < BH_SECRETS_ENTRIES_MAX + 2; i++)
                g_string_append_printf(text, "psk t%d 0x01\n", i);
        g_assert_cmpint(bh_secrets_parse(s, text->str, text->len, "test.conf", errors), ==, 1);
        g_assert_cmpuint(bh_secrets_size(s), ==, BH_SECRETS_ENTRIES_MAX);
        expect = g_strdup_printf("test.conf:%d: more than %d entries: this line and the ones after it are ignored",
                                 BH_SECRETS_ENTRIES_MAX + 1, BH_SECRETS_ENTRIES_MAX);
        g_assert_cmpuint(errors->len, ==, 1);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
}

static struct stat make_stat(mode_t mode, uid_t uid, gid_t gid) {
        struct stat st = { 0 };

        st.st_mode = mode;
        st.st_uid = uid;
        st.st_gid = gid;
        return st;
}

static void test_permissions(void) {
        static const BhSecretsOwner owner = { .uid = 990, .gid = 991 };
        static const BhSecretsOwner no_group = { .uid = 990, .gid = (gid_t) -1 };
        static const struct {
                mode_t mode;
                uid_t uid;
                gid_t gid;
                const BhSecretsOwner *owner;
                const char *reason;             /* NULL: accepted */
        } cases[] = {
                { S_IFREG | 0600, 0, 0, &owner, NULL },
                { S_IFREG | 0400, 0, 0, &owner, NULL },
                { S_IFREG | 0600, 990, 5, &owner, NULL },
                { S_IFREG | 0640, 0, 991, &owner, NULL },
                { S_IFREG | 0440, 990, 991, &owner, NULL },
                { S_IFREG | 0600, 1000, 0, &owner, "is owned by uid 1000, not by root or the cryptod user (uid 990)" },
                { S_IFREG | 0644, 0, 0, &owner, "mode 0644 lets other users read it (chmod 600)" },
                { S_IFREG | 0604, 0, 991, &owner, "mode 0604 lets other users read it (chmod 600)" },
                { S_IFREG | 0602, 0, 0, &owner, "mode 0602 lets other users write it (chmod 600)" },
                { S_IFREG | 0601, 0, 0, &owner, "mode 0601 lets other users execute it (chmod 600)" },
                { S_IFREG | 0666, 0, 0, &owner, "mode 0666 lets other users read it (chmod 600)" },
                { S_IFREG | 0620, 0, 991, &owner, "mode 0620 lets group 991 write it (chmod 600)" },
                { S_IFREG | 0660, 0, 991, &owner, "mode 0660 lets group 991 write it (chmod 600)" },
                { S_IFREG | 0640, 0, 100, &owner, "mode 0640 lets group 100 read it, and only cryptod's group may (chmod 600)" },
                { S_IFREG | 0640, 0, 991, &no_group, "mode 0640 lets group 991 read it, and only cryptod's group may (chmod 600)" },
                { S_IFREG | 0700, 0, 0, &owner, "mode 0700 has execute or set-id bits (a secrets file is 0600, or 0640 with cryptod's group)" },
                { S_IFREG | 04600, 0, 0, &owner, "mode 4600 has execute or set-id bits (a secrets file is 0600, or 0640 with cryptod's group)" },
                { S_IFREG | 0650, 0, 991, &owner, "mode 0650 has execute or set-id bits (a secrets file is 0600, or 0640 with cryptod's group)" },
                { S_IFDIR | 0700, 0, 0, &owner, "is not a regular file" },
                { S_IFIFO | 0600, 0, 0, &owner, "is not a regular file" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                struct stat st = make_stat(cases[i].mode, cases[i].uid, cases[i].gid);
                g_autofree char *reason = NULL;
                int r = bh_secrets_check_permissions(&st, cases[i].owner, &reason);

                g_test_message("mode %o uid %u gid %u", (unsigned) cases[i].mode, (unsigned) cases[i].uid, (unsigned) cases[i].gid);
                if (!cases[i].reason) {
                        g_assert_cmpint(r, ==, 0);
                        g_assert_null(reason);
                } else {
                        g_assert_cmpint(r, ==, -EPERM);
                        g_assert_cmpstr(reason, ==, cases[i].reason);
                        g_assert_cmpint(bh_secrets_check_permissions(&st, cases[i].owner, NULL), ==, -EPERM);
                }
        }
}

static void test_load(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("bh-secrets-XXXXXX", &error);
        g_autofree char *path = NULL, *missing = NULL, *big = NULL, *expect = NULL, *huge = NULL;
        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = new_errors();
        BhSecretsOwner me = { .uid = getuid(), .gid = getgid() };
        BhSecretsOwner other = { .uid = getuid() + 1, .gid = (gid_t) -1 };

        g_assert_no_error(error);
        path = g_build_filename(dir, "secrets.conf", NULL);
        missing = g_build_filename(dir, "missing.conf", NULL);
        big = g_build_filename(dir, "big.conf", NULL);

        /* Missing: -ENOENT and no report (the caller decides). */
        g_assert_cmpint(bh_secrets_load(s, missing, &me, errors), ==, -ENOENT);
        g_assert_cmpuint(errors->len, ==, 0);

        g_assert_true(g_file_set_contents(path, good_file, -1, &error));
        g_assert_no_error(error);
        g_assert_cmpint(g_chmod(path, 0600), ==, 0);
        g_assert_cmpint(bh_secrets_load(s, path, &me, errors), ==, 0);
        dump_errors(errors);
        g_assert_cmpuint(errors->len, ==, 0);
        g_assert_cmpuint(bh_secrets_size(s), ==, 7);
        assert_key(s, BH_SECRET_PSK, "branch-office", BH_SECRET_DIR_NONE, "Kx7 v0rtex Qw9 j4m", 18);

        /* Group-readable: only by cryptod's group. */
        g_assert_cmpint(g_chmod(path, 0640), ==, 0);
        g_assert_cmpint(bh_secrets_load(s, path, &me, errors), ==, 0);
        g_assert_cmpuint(bh_secrets_size(s), ==, 7);

        /* World-readable: refused whole, with the reason, and nothing kept. */
        g_assert_cmpint(g_chmod(path, 0644), ==, 0);
        g_assert_cmpint(bh_secrets_load(s, path, &me, errors), ==, -EACCES);
        g_assert_cmpuint(bh_secrets_size(s), ==, 0);
        g_assert_cmpuint(errors->len, ==, 1);
        expect = g_strdup_printf("%s: mode 0644 lets other users read it (chmod 600); not read", path);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_clear_pointer(&expect, g_free);

        /* Not the cryptod user's, and not root's (unless the test runs as root). */
        g_assert_cmpint(g_chmod(path, 0600), ==, 0);
        g_ptr_array_set_size(errors, 0);
        if (getuid() != 0) {
                g_assert_cmpint(bh_secrets_load(s, path, &other, errors), ==, -EACCES);
                expect = g_strdup_printf("%s: is owned by uid %u, not by root or the cryptod user (uid %u); not read", path,
                                         (unsigned) getuid(), (unsigned) other.uid);
                g_assert_cmpstr(errors->pdata[0], ==, expect);
                g_clear_pointer(&expect, g_free);
        } else
                g_assert_cmpint(bh_secrets_load(s, path, &other, errors), ==, 0);

        /* The caller may skip the check. */
        g_assert_cmpint(g_chmod(path, 0644), ==, 0);
        g_ptr_array_set_size(errors, 0);
        g_assert_cmpint(bh_secrets_load(s, path, NULL, errors), ==, 0);
        g_assert_cmpuint(bh_secrets_size(s), ==, 7);

        /* Not a regular file; too big. */
        g_assert_cmpint(bh_secrets_load(s, dir, &me, errors), ==, -EBADFD);
        expect = g_strdup_printf("%s: is not a regular file", dir);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_clear_pointer(&expect, g_free);
        g_assert_cmpuint(bh_secrets_size(s), ==, 0);

        huge = g_malloc(BH_SECRETS_SIZE_MAX + 1);
        memset(huge, '\n', BH_SECRETS_SIZE_MAX + 1);
        g_assert_true(g_file_set_contents(big, huge, BH_SECRETS_SIZE_MAX + 1, &error));
        g_assert_no_error(error);
        g_assert_cmpint(g_chmod(big, 0600), ==, 0);
        g_ptr_array_set_size(errors, 0);
        g_assert_cmpint(bh_secrets_load(s, big, &me, errors), ==, -EFBIG);
        expect = g_strdup_printf("%s: is larger than %d bytes; not read", big, BH_SECRETS_SIZE_MAX);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_clear_pointer(&expect, g_free);

        /* Bad lines are reported with the path. */
        g_assert_true(g_file_set_contents(path, "psk a \"x\"\npsk b\n", -1, &error));
        g_assert_cmpint(g_chmod(path, 0600), ==, 0);
        g_ptr_array_set_size(errors, 0);
        g_assert_cmpint(bh_secrets_load(s, path, &me, errors), ==, 1);
        expect = g_strdup_printf("%s:2: fewer words where a psk entry has 3: psk TUNNEL KEY "
                                 "(a passphrase with blanks goes in double quotes)", path);
        g_assert_cmpstr(errors->pdata[0], ==, expect);

        g_assert_cmpint(g_unlink(path), ==, 0);
        g_assert_cmpint(g_unlink(big), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static const char tunnels[] =
        "[tunnel gcm]\n"
        "type = manual\nlocal = 192.0.2.1\nremote = 198.51.100.1\n"
        "esp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n"
        "[tunnel cbc]\n"
        "type = manual\nlocal = 192.0.2.1\nremote = 198.51.100.2\n"
        "esp = aes128-sha256\nesp_spi_out = 0x1003\nesp_spi_in = 0x1004\n"
        "ah = sha512\nah_spi_out = 0x2001\nah_spi_in = 0x2002\n"
        "[tunnel ike]\n"
        "type = ike\nlocal = 192.0.2.1\nremote = 198.51.100.3\n"
        "[tunnel ike2]\n"
        "type = ike\nlocal = 192.0.2.1\nremote = 198.51.100.4\n";

static char *hex_key(size_t len, uint8_t fill) {
        GString *s = g_string_new("0x");

        for (size_t i = 0; i < len; i++)
                g_string_append_printf(s, "%02x", (unsigned) (uint8_t) (fill + i));
        return g_string_free(s, FALSE);
}

static void test_check_tunnel(void) {
        g_autofree char *k36 = hex_key(36, 0x10), *k31 = hex_key(31, 0x20), *k48 = hex_key(48, 0x30), *k64 = hex_key(64, 0x40);
        g_autofree char *k32 = hex_key(32, 0x50);
        g_autofree char *text = g_strdup_printf(
                "esp gcm out %s\n"              /* 1: right */
                "esp gcm in %s\n"               /* 2: 31 bytes, expected 36 */
                "esp cbc out %s\n"              /* 3: right (16 + 32) */
                "ah cbc out %s\n"               /* 4: right */
                "ah cbc in %s\n"                /* 5: 32, expected 64 */
                "psk ike \"a good long passphrase\"\n"
                "psk gcm \"for a manual tunnel\"\n"     /* 7: unused */
                "esp ike in %s\n"               /* 8: unused */
                "ah gcm in %s\n"                /* 9: unused (no ah) */
                "psk nobody \"x\"\n",           /* 10: no such tunnel */
                k36, k31, k48, k64, k32, k36, k64);
        g_autoptr(GPtrArray) terrors = new_errors();
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = new_errors();

        g_assert_cmpint(bh_tunnel_set_parse(set, tunnels, strlen(tunnels), "tunnels.conf", terrors), ==, 0);
        g_assert_cmpint(bh_tunnel_set_finish(set, NULL, terrors), ==, 0);
        g_assert_cmpint(bh_secrets_parse(s, text, strlen(text), "secrets.conf", errors), ==, 0);

        g_assert_cmpint(bh_secrets_check_tunnel(s, bh_tunnel_set_find(set, "gcm"), NULL, errors), ==, 1);
        g_assert_cmpint(bh_secrets_check_tunnel(s, bh_tunnel_set_find(set, "cbc"), NULL, errors), ==, 2);
        g_assert_cmpint(bh_secrets_check_tunnel(s, bh_tunnel_set_find(set, "ike"), NULL, errors), ==, 0);
        g_assert_cmpint(bh_secrets_check_tunnel(s, bh_tunnel_set_find(set, "ike2"), "S", errors), ==, 1);
        g_assert_cmpint(bh_secrets_check_unused(s, set, NULL, errors), ==, 1);
        dump_errors(errors);
        {
                static const char *const expect[] = {
                        "secrets.conf:2: esp in key for tunnel \"gcm\" is 31 bytes, expected 36 (aes256gcm16: 32-byte key + 4-byte salt)",
                        "secrets.conf:7: warning: this psk key is not used: tunnel \"gcm\" is a manual tunnel; a psk is for IKE tunnels",
                        "secrets.conf:9: warning: this ah key is not used: tunnel \"gcm\" has no ah",
                        "secrets.conf: tunnel \"cbc\" has no esp in key",
                        "secrets.conf:5: ah in key for tunnel \"cbc\" is 32 bytes, expected 64 (sha512: 64-byte integrity key)",
                        "secrets.conf:8: warning: this esp key is not used: tunnel \"ike\" is an IKE tunnel, whose keys are negotiated",
                        "S: tunnel \"ike2\" has no psk",
                        "secrets.conf:10: warning: no tunnel of the name on this line is defined",
                };

                g_assert_cmpuint(errors->len, ==, G_N_ELEMENTS(expect));
                for (size_t i = 0; i < G_N_ELEMENTS(expect); i++)
                        g_assert_cmpstr(errors->pdata[i], ==, expect[i]);
        }
        /* None of the keys in any report. */
        for (guint i = 0; i < errors->len; i++) {
                const char *keys[] = { k36 + 2, k31 + 2, k48 + 2, k64 + 2, k32 + 2 };

                for (size_t k = 0; k < G_N_ELEMENTS(keys); k++)
                        g_assert_null(strstr(errors->pdata[i], keys[k]));
        }
}

/* ---- no key ever in a report ------------------------------------------ */

/* Does `msg` contain LEAK_WINDOW consecutive characters of `key`? */
static bool leaks(const char *msg, const char *key) {
        size_t n = strlen(key);

        for (size_t i = 0; i + LEAK_WINDOW <= n; i++) {
                char window[LEAK_WINDOW + 1];

                memcpy(window, key + i, LEAK_WINDOW);
                window[LEAK_WINDOW] = '\0';
                if (strstr(msg, window))
                        return true;
        }
        return false;
}

static char *random_hex(GRand *rand, size_t bytes) {
        GString *s = g_string_new(NULL);

        for (size_t i = 0; i < bytes; i++)
                g_string_append_printf(s, "%02x", (unsigned) g_rand_int_range(rand, 0, 256));
        return g_string_free(s, FALSE);
}

static char *random_passphrase(GRand *rand, size_t n) {
        static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!$%&*+/:;<>?@^_~";
        GString *s = g_string_new(NULL);

        for (size_t i = 0; i < n; i++)
                g_string_append_c(s, chars[g_rand_int_range(rand, 0, sizeof chars - 1)]);
        return g_string_free(s, FALSE);
}

/* Generated keys put in every way a line can go wrong, and the right way
 * with lengths the tunnels do not expect; grep every report for them. */
static void test_no_key_in_reports(void) {
        /* {H}: a hex key without 0x; {P}: a passphrase; {H30}, {P20}: their
         * first 30 and 20 characters; {NUL}: a NUL byte. */
        static const char *const templates[] = {
                "psk t 0x{H}\n",                        /* good */
                "psk t \"{P}\"\n",                      /* good */
                "psk 0x{H}\n",                          /* tunnel name forgotten */
                "psk {P}\n",
                "psk {P} \"x\"\n",                      /* key where the name goes */
                "psk {H} 0x00\n",
                "psk t {P}\n",                          /* quotes forgotten */
                "psk t {H}\n",                          /* 0x forgotten */
                "psk t \"{P}\n",                        /* quote not closed */
                "psk t \"{P}\\q\"\n",                   /* unknown escape */
                "psk t \"{P}\"x\n",
                "psk t 0x{H}0\n",                       /* odd */
                "psk t 0x{H}g\n",                       /* not hex */
                "psk t 0x{H} extra\n",
                "psk t \"{P}\" \"{P}\"\n",
                "{P}\n",                                /* a key alone on a line */
                "0x{H}\n",
                "\"{P}\"\n",
                "esp t out 0x{H}\n",                    /* good, wrong length for the tunnel */
                "esp t in 0x{H}\n",
                "ah t out 0x{H}\n",
                "ah t in 0x{H}\n",
                "esp t 0x{H}\n",                        /* direction forgotten */
                "esp t 0x{H} out\n",
                "esp t sideways 0x{H}\n",
                "esp 0x{H} out 0x00\n",
                "esp t out {H}\n",
                "esp t out \"{P}\"\n",
                "ah t in 0x{H} 0x{H}\n",
                "esp t out 0x{H}\n",                    /* again: a duplicate */
                "psk t 0x{H}\n",
                "psk {P20} \"x\"\n",                    /* a piece that may be a valid name */
                "esp {H30} in 0x00\n",                  /* hex that is a valid name */
                "psk t \"{P}{NUL}\"\n",
                "psk t \"{P}\n\"\n",                    /* a newline inside quotes */
        };
        static const char tunnels_t[] =
                "[tunnel t]\ntype = manual\nlocal = 192.0.2.1\nremote = 198.51.100.1\n"
                "esp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n"
                "ah = sha256\nah_spi_out = 0x2001\nah_spi_in = 0x2002\n"
                "[tunnel ike]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.2\n";
        g_autoptr(GRand) rand = g_rand_new_with_seed(LEAK_SEED);
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
        unsigned reports = 0;

        g_assert_cmpint(bh_tunnel_set_parse(set, tunnels_t, strlen(tunnels_t), "t.conf", NULL), ==, 0);

        for (unsigned round = 0; round < LEAK_ROUNDS; round++) {
                /* Lengths that are never right for aes256gcm16 (36) or sha256 (32). */
                size_t bytes = (size_t) g_rand_int_range(rand, 8, 64);
                g_autofree char *hex = random_hex(rand, bytes == 32 || bytes == 36 ? bytes + 1 : bytes);
                g_autofree char *pass = random_passphrase(rand, (size_t) g_rand_int_range(rand, 8, 40));
                g_autoptr(GString) text = g_string_new(NULL);
                g_autoptr(BhSecrets) s = bh_secrets_new();
                g_autoptr(GPtrArray) errors = new_errors();

                g_autofree char *h30 = g_strndup(hex, 30), *p20 = g_strndup(pass, 20);

                for (size_t i = 0; i < G_N_ELEMENTS(templates); i++)
                        for (const char *p = templates[i]; *p; p++) {
                                if (g_str_has_prefix(p, "{H}")) {
                                        g_string_append(text, hex);
                                        p += 2;
                                } else if (g_str_has_prefix(p, "{P}")) {
                                        g_string_append(text, pass);
                                        p += 2;
                                } else if (g_str_has_prefix(p, "{H30}")) {
                                        g_string_append(text, h30);
                                        p += 4;
                                } else if (g_str_has_prefix(p, "{P20}")) {
                                        g_string_append(text, p20);
                                        p += 4;
                                } else if (g_str_has_prefix(p, "{NUL}")) {
                                        g_string_append_c(text, '\0');
                                        p += 4;
                                } else
                                        g_string_append_c(text, *p);
                        }

                g_assert_cmpint(bh_secrets_parse(s, text->str, text->len, "leak.conf", errors), >, 0);
                for (guint i = 0; i < bh_tunnel_set_size(set); i++)
                        bh_secrets_check_tunnel(s, bh_tunnel_set_get(set, i), "leak.conf", errors);
                bh_secrets_check_unused(s, set, "leak.conf", errors);

                for (guint i = 0; i < errors->len; i++) {
                        const char *msg = errors->pdata[i];

                        if (leaks(msg, hex) || leaks(msg, pass)) {
                                g_test_message("key %s / passphrase %s leaked in: %s", hex, pass, msg);
                                g_assert_not_reached();
                        }
                }
                reports += errors->len;
        }
        g_assert_cmpuint(reports, >, LEAK_ROUNDS * 20);
}

/* ---- fuzz ------------------------------------------------------------- */

static void insert_bytes(GByteArray *b, guint pos, const guint8 *data, guint n) {
        guint old = b->len;

        g_byte_array_set_size(b, old + n);
        memmove(b->data + pos + n, b->data + pos, old - pos);
        if (n > 0)
                memcpy(b->data + pos, data, n);
}

static void mutate(GRand *rand, GByteArray *b) {
        static const guint8 interesting[] = { '\0', '\n', '\r', '\t', ' ', '#', '"', '\\', 'x', '0', 0xff, 0x80 };
        guint pos = b->len ? (guint) g_rand_int_range(rand, 0, (gint32) b->len) : 0;
        guint n;
        guint8 c;

        switch (g_rand_int_range(rand, 0, 7)) {
        case 0:
                if (b->len)
                        b->data[pos] ^= (guint8) (1u << g_rand_int_range(rand, 0, 8));
                break;
        case 1:
                if (b->len)
                        b->data[pos] = interesting[g_rand_int_range(rand, 0, G_N_ELEMENTS(interesting))];
                break;
        case 2:
                for (int k = g_rand_int_range(rand, 1, 9); k > 0; k--) {
                        c = (guint8) g_rand_int_range(rand, 0, 256);
                        insert_bytes(b, pos, &c, 1);
                }
                break;
        case 3:
                n = (guint) g_rand_int_range(rand, 1, 40);
                if (b->len)
                        g_byte_array_remove_range(b, pos, MIN(b->len - pos, n));
                break;
        case 4: {
                n = MIN(b->len - pos, (guint) g_rand_int_range(rand, 1, 120));
                g_autofree guint8 *copy = g_memdup2(b->data + pos, n);

                insert_bytes(b, (guint) g_rand_int_range(rand, 0, (gint32) b->len + 1), copy, n);
                break;
        }
        case 5: {
                guint8 run[BH_SECRETS_LINE_MAX + 8];

                memset(run, g_rand_boolean(rand) ? 'a' : '"', sizeof run);
                insert_bytes(b, pos, run, (guint) g_rand_int_range(rand, BH_SECRETS_LINE_MAX - 8, sizeof run + 1));
                break;
        }
        case 6:
                g_byte_array_set_size(b, pos);
                break;
        }
}

static void test_fuzz(void) {
        g_autoptr(GRand) rand = g_rand_new_with_seed(FUZZ_SEED);
        /* The secret parts of good_file, as they appear in it. */
        static const char *const secrets[] = {
                "Kx7 v0rtex Qw9 j4m", "0123456789abcdefABCDEF", "Zt5 \\\"hi\\\" \\\\ # Yv8",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223",
                "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                "1111111111111111111111111111111111111111111111111111111111111111",
                "2222222222222222222222222222222222222222222222222222222222222222",
        };
        unsigned entries = 0;

        for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
                g_autoptr(GByteArray) b = g_byte_array_new();
                g_autoptr(GPtrArray) errors = new_errors();
                g_autoptr(BhSecrets) s = bh_secrets_new();
                g_autofree char *exact = NULL;
                int r;

                g_byte_array_append(b, (const guint8 *) good_file, strlen(good_file));
                for (int n = g_rand_int_range(rand, 1, 6); n > 0; n--)
                        mutate(rand, b);

                exact = g_memdup2(b->data, b->len);
                r = bh_secrets_parse(s, exact, b->len, "fuzz.conf", errors);
                g_assert_cmpint(r, >=, 0);
                g_assert_cmpuint(errors->len, ==, (guint) r);
                for (guint i = 0; i < errors->len; i++) {
                        const char *msg = errors->pdata[i];

                        g_assert_true(g_str_has_prefix(msg, "fuzz.conf:"));
                        for (size_t k = 0; k < G_N_ELEMENTS(secrets); k++)
                                if (leaks(msg, secrets[k])) {
                                        g_test_message("secret %zu leaked in: %s", k, msg);
                                        g_assert_not_reached();
                                }
                }
                for (size_t i = 0; i < bh_secrets_size(s); i++) {
                        const BhSecretEntry *e = bh_secrets_get(s, i);

                        g_assert_nonnull(e->key);
                        g_assert_cmpuint(e->key->len, >=, 1);
                        g_assert_cmpuint(e->key->len, <=, BH_SECRETS_KEY_MAX);
                        g_assert_true(bh_tunnel_name_valid(e->tunnel));
                        g_assert_true((e->kind == BH_SECRET_PSK) == (e->dir == BH_SECRET_DIR_NONE));
                        g_assert_true(bh_secrets_find(s, e->kind, e->tunnel, e->dir) == e);
                }
                entries += (unsigned) bh_secrets_size(s);
                g_assert_cmpint(bh_secrets_parse(s, exact, b->len, "fuzz.conf", NULL), ==, r);
        }
        g_assert_cmpuint(entries, >, FUZZ_ROUNDS);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/secrets/good", test_good);
        g_test_add_func("/secrets/bad-lines", test_bad_lines);
        g_test_add_func("/secrets/limits", test_limits);
        g_test_add_func("/secrets/entries-max", test_entries_max);
        g_test_add_func("/secrets/permissions", test_permissions);
        g_test_add_func("/secrets/load", test_load);
        g_test_add_func("/secrets/check-tunnel", test_check_tunnel);
        g_test_add_func("/secrets/no-key-in-reports", test_no_key_in_reports);
        g_test_add_func("/secrets/fuzz", test_fuzz);

        return g_test_run();
}
