/* SPDX-License-Identifier: ISC */
/*
 * exptun(8) and imptun(8), run as programs on configuration directories of
 * two hosts, A and B, and judged with the parsers the services use: the
 * partner's view (addresses, selectors, identities, SPIs, key directions),
 * file modes, the round trip A -> B -> A, and every refusal leaving the
 * files as they were. No root needed.
 */
#include <errno.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "secrets.h"
#include "tunnel.h"

/* Random keys of the lengths their transforms take. */
#define LAB_OUT "0xd7ddf15bb2f66b163a87fb14a64687e4e25b8a1baad066e7b66334fc3967f878e77f806a"
#define LAB_IN "0x42219bf0ef92678c45563ad1056706e5b8a3ca30b847dfc3ddb36c41e698f9d0a44dc868"
#define BOTH_ESP_OUT "0x6a204016c88f26156931108db557c32e4bd63da079b69e15816f7b1591c26a4be7a7df475ac976f0c2e029c25bf180b6"
#define BOTH_ESP_IN "0xd7c2a3a0325d4f5691347edf335b375c57ad66a202e48485b80867e81bb601abffabc8141dd084eff7157c8e1338b8df"
#define BOTH_AH_OUT "0xe54dded584b9e046a6ad425a2ee5d660513eee3d3fa0951f257dfac2eb752ac9"
#define BOTH_AH_IN "0xb549ee0a8d5dcf37a8c4146493f6a57c4c9bf9a502cb3dca652e96bd4b286a3f"
#define NEW_LAB_OUT "0xee620c33f3c0ccc59b50e6578b350375b374445aeec7e7d68c7951acf0e2315df1b3f015"
#define NEW_LAB_IN "0xf201ca399949110c30f6f7495db297a8b8a926225c92a73fbbcab6462307f116cb427866"

/* Host A's definitions, written by hand: comments, a number, keys in
 * mixed case, defaults left out, an SPI in decimal. */
static const char lab_conf[] =
        "# The lab, a manual tunnel.\n"
        "[tunnel lab]\n"
        "number = 7\n"
        "Type = manual\n"
        "local = 192.0.2.1\n"
        "remote = 192.0.2.2          # host B\n"
        "local_ts = 10.1.0.0/16\n"
        "remote_ts = 10.2.0.0/16, 10.3.0.0/24[tcp/80-443]\n"
        "encap = udp\n"
        "esp = aes256gcm16\n"
        "esp_spi_out = 4097\n"
        "esp_spi_in = 0x2001\n"
        "replay = yes\n";

static const char office_conf[] =
        "[tunnel office]\n"
        "type = ike\n"
        "local = 2001:db8::1\n"
        "remote = 2001:db8::2\n"
        "remote_ts = 2001:db8:2::/48\n"
        "local_id = fqdn:a.bulkhead.test\n"
        "remote_id = email:b@bulkhead.test\n"
        "ike_proposals = aes256gcm16-prfsha256-x25519, aes256-sha256-modp3072\n"
        "esp_proposals = chacha20poly1305-x25519\n"
        "start = start\n"
        "dpd_delay = 30s\n"
        "lifetime_bytes = 500M\n"
        "\n"
        "[tunnel both]\n"
        "type = manual\n"
        "local = 192.0.2.1\n"
        "remote = 192.0.2.3\n"
        "mode = transport\n"
        "esp = aes128-sha256\n"
        "esp_spi_out = 0x3001\n"
        "esp_spi_in = 0x3002\n"
        "ah = sha256\n"
        "ah_spi_out = 0x4001\n"
        "ah_spi_in = 0x4002\n";

/* The passphrase as written, and as the bytes it stands for. */
#define OFFICE_PSK_TEXT "\"Zq \\\"quoted\\\" \\\\ back#slash\""
#define OFFICE_PSK "Zq \"quoted\" \\ back#slash"

static const char *const all_keys[] = {
        LAB_OUT, LAB_IN, BOTH_ESP_OUT, BOTH_ESP_IN, BOTH_AH_OUT, BOTH_AH_IN, NEW_LAB_OUT, NEW_LAB_IN,
};

static const char *exptun;
static const char *imptun;

typedef struct Fixture {
        char *root;
        char *a;                        /* config dirs */
        char *b;
        char *export;                   /* a path for the export file */
} Fixture;

/* ---- helpers ---------------------------------------------------------- */

static char *path(const char *dir, const char *name) {
        return g_build_filename(dir, name, NULL);
}

static void write_file(const char *p, const char *text, mode_t mode) {
        g_autofree char *dir = g_path_get_dirname(p);
        g_autoptr(GError) error = NULL;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(p, text, -1, &error));
        g_assert_cmpint(chmod(p, mode), ==, 0);
}

static char *read_file(const char *p) {
        g_autoptr(GError) error = NULL;
        char *text = NULL;

        if (!g_file_get_contents(p, &text, NULL, &error))
                g_error("%s: %s", p, error->message);
        return text;
}

static mode_t mode_of(const char *p) {
        struct stat st;

        g_assert_cmpint(stat(p, &st), ==, 0);
        return st.st_mode & 07777;
}

static bool exists(const char *p) {
        struct stat st;

        return lstat(p, &st) == 0;
}

static void remove_tree(const char *p) {
        GDir *d = g_dir_open(p, 0, NULL);
        const char *n;

        if (d) {
                while ((n = g_dir_read_name(d))) {
                        g_autofree char *c = path(p, n);

                        remove_tree(c);
                }
                g_dir_close(d);
                (void) g_rmdir(p);
        } else
                (void) g_unlink(p);
}

/* Host A: three tunnels and their keys. */
static void write_host_a(const char *dir) {
        g_autofree char *lab = path(dir, "tunnels.d/lab.conf");
        g_autofree char *office = path(dir, "tunnels.d/office.conf");
        g_autofree char *secrets = path(dir, "secrets.conf");
        g_autofree char *keys = g_strdup_printf("# host A\n"
                                                "esp lab out " LAB_OUT "\n"
                                                "esp lab in  " LAB_IN "\n"
                                                "psk office " OFFICE_PSK_TEXT "\n"
                                                "esp both out " BOTH_ESP_OUT "\n"
                                                "esp both in " BOTH_ESP_IN "\n"
                                                "ah  both out " BOTH_AH_OUT "\n"
                                                "ah  both in " BOTH_AH_IN "\n");

        write_file(lab, lab_conf, 0644);
        write_file(office, office_conf, 0644);
        write_file(secrets, keys, 0600);
}

static void fixture_set_up(Fixture *f, gconstpointer data) {
        g_autoptr(GError) error = NULL;

        f->root = g_dir_make_tmp("tunxfer-test-XXXXXX", &error);
        g_assert_no_error(error);
        f->a = path(f->root, "a");
        f->b = path(f->root, "b");
        f->export = path(f->root, "export");
        write_host_a(f->a);
}

static void fixture_tear_down(Fixture *f, gconstpointer data) {
        remove_tree(f->root);
        g_free(f->root);
        g_free(f->a);
        g_free(f->b);
        g_free(f->export);
}

typedef struct Run {
        int status;
        char *out;
        char *err;
} Run;

static void run_clear(Run *r) {
        g_free(r->out);
        g_free(r->err);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Run, run_clear)

/* No key, nor any 8-byte piece of one, nor the passphrase, in what a tool
 * says on its standard error. */
static void assert_no_key(const char *text) {
        for (size_t i = 0; i < G_N_ELEMENTS(all_keys); i++) {
                const char *hex = all_keys[i] + 2;

                for (size_t j = 0; j + 16 <= strlen(hex); j += 8) {
                        g_autofree char *piece = g_strndup(hex + j, 16);

                        if (strstr(text, piece))
                                g_error("a piece of a key is in: %s", text);
                }
        }
        g_assert_null(strstr(text, "back#slash"));
}

/* Runs argv (NULL-terminated, the program first) to its end. */
static Run run_argv(const char *const *argv) {
        g_autoptr(GError) error = NULL;
        Run r = { 0 };
        int wait_status;

        if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &r.out, &r.err, &wait_status,
                          &error))
                g_error("%s: %s", argv[0], error->message);
        g_assert_true(WIFEXITED(wait_status));
        r.status = WEXITSTATUS(wait_status);
        g_test_message("%s ...: %d\n%s%s", argv[0], r.status, r.out, r.err);
        assert_no_key(r.err);
        return r;
}

#define RUN(...) run_argv((const char *const[]) { __VA_ARGS__, NULL })

static BhTunnelSet *load_tunnels(const char *dir) {
        g_autofree char *d = path(dir, "tunnels.d");
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        BhTunnelSet *set = NULL;

        g_assert_cmpint(bh_tunnel_set_load(d, NULL, errors, &set), ==, 0);
        for (guint i = 0; i < errors->len; i++)
                g_assert_true(strstr(errors->pdata[i], ": warning: "));
        return set;
}

static BhSecrets *load_secrets(const char *file) {
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        BhSecrets *s = bh_secrets_new();

        g_assert_cmpint(bh_secrets_load(s, file, NULL, errors), ==, 0);
        return s;
}

/* An export file split as imptun splits it, each part parsed. */
static void parse_export(const char *file, BhTunnelSet **ret_set, BhSecrets **ret_secrets) {
        g_autofree char *text = read_file(file);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        char *mark = strstr(text, "\n[secrets]\n");

        g_assert_nonnull(mark);
        *ret_set = bh_tunnel_set_new();
        g_assert_cmpint(bh_tunnel_set_parse(*ret_set, text, (size_t) (mark - text) + 1, file, errors), ==, 0);
        *ret_secrets = bh_secrets_new();
        g_assert_cmpint(bh_secrets_parse(*ret_secrets, mark + 11, strlen(mark + 11), file, errors), ==, 0);
        bh_secure_wipe(text, strlen(text));
}

static void assert_key(const BhSecrets *s, BhSecretKind kind, const char *tunnel, BhSecretDir dir, const char *hex) {
        const BhSecretEntry *e = bh_secrets_find(s, kind, tunnel, dir);
        g_autofree char *got = NULL;

        g_assert_nonnull(e);
        got = g_malloc(2 * e->key->len + 3);
        strcpy(got, "0x");
        for (size_t i = 0; i < e->key->len; i++)
                g_snprintf(got + 2 + 2 * i, 3, "%02x", e->key->data[i]);
        g_assert_cmpstr(got, ==, hex);
}

static void assert_psk(const BhSecrets *s, const char *tunnel, const char *passphrase) {
        const BhSecretEntry *e = bh_secrets_find(s, BH_SECRET_PSK, tunnel, BH_SECRET_DIR_NONE);

        g_assert_nonnull(e);
        g_assert_cmpmem(e->key->data, e->key->len, passphrase, strlen(passphrase));
}

static void assert_ts_equal(const BhTs *a, size_t n_a, const BhTs *b, size_t n_b) {
        g_assert_cmpuint(n_a, ==, n_b);
        for (size_t i = 0; i < n_a; i++)
                g_assert_true(bh_ts_equal(&a[i], &b[i]));
}

/* b is a as seen from the other end. */
static void assert_mirrored(const BhTunnel *a, const BhTunnel *b) {
        g_autoptr(BhTunnel) back = bh_tunnel_copy(b);
        g_autofree char *changes = NULL;
        BhAddr addr;
        BhIdentity id;
        BhTs *ts;
        size_t n;
        uint32_t spi;

        g_assert_cmpstr(a->name, ==, b->name);
        g_assert_true(bh_addr_equal(&a->local, &b->remote));
        g_assert_true(bh_addr_equal(&a->remote, &b->local));
        assert_ts_equal(a->local_ts, a->n_local_ts, b->remote_ts, b->n_remote_ts);
        assert_ts_equal(a->remote_ts, a->n_remote_ts, b->local_ts, b->n_local_ts);
        if (a->type == BH_TUNNEL_IKE) {
                g_assert_cmpmem(a->local_id.data, a->local_id.len, b->remote_id.data, b->remote_id.len);
                g_assert_cmpint(a->local_id.type, ==, b->remote_id.type);
                g_assert_cmpmem(a->remote_id.data, a->remote_id.len, b->local_id.data, b->local_id.len);
                g_assert_cmpint(a->remote_id.type, ==, b->local_id.type);
        } else {
                g_assert_cmpuint(a->esp_spi_in, ==, b->esp_spi_out);
                g_assert_cmpuint(a->esp_spi_out, ==, b->esp_spi_in);
                g_assert_cmpuint(a->ah_spi_in, ==, b->ah_spi_out);
                g_assert_cmpuint(a->ah_spi_out, ==, b->ah_spi_in);
        }

        /* Everything else is the same: swap back and compare all but the
         * number, which B assigned itself. */
        addr = back->local, back->local = back->remote, back->remote = addr;
        ts = back->local_ts, back->local_ts = back->remote_ts, back->remote_ts = ts;
        n = back->n_local_ts, back->n_local_ts = back->n_remote_ts, back->n_remote_ts = n;
        id = back->local_id, back->local_id = back->remote_id, back->remote_id = id;
        spi = back->esp_spi_in, back->esp_spi_in = back->esp_spi_out, back->esp_spi_out = spi;
        spi = back->ah_spi_in, back->ah_spi_in = back->ah_spi_out, back->ah_spi_out = spi;
        back->number = a->number;
        changes = bh_tunnel_changes(a, back);
        g_assert_cmpstr(changes, ==, NULL);
}

/* Host B's tunnels and keys are host A's, mirrored; lab_out and lab_in are
 * A's keys of lab. */
static void assert_host_b(const Fixture *f, const char *lab_out, const char *lab_in) {
        g_autoptr(BhTunnelSet) a = load_tunnels(f->a);
        g_autoptr(BhTunnelSet) b = load_tunnels(f->b);
        g_autofree char *secrets = path(f->b, "secrets.conf");
        g_autoptr(BhSecrets) s = load_secrets(secrets);

        g_assert_cmpuint(bh_tunnel_set_size(b), ==, 3);
        for (guint i = 0; i < bh_tunnel_set_size(a); i++) {
                const BhTunnel *t = bh_tunnel_set_get(a, i);

                assert_mirrored(t, bh_tunnel_set_find(b, t->name));
        }

        assert_key(s, BH_SECRET_ESP, "lab", BH_SECRET_OUT, lab_in);
        assert_key(s, BH_SECRET_ESP, "lab", BH_SECRET_IN, lab_out);
        assert_key(s, BH_SECRET_ESP, "both", BH_SECRET_OUT, BOTH_ESP_IN);
        assert_key(s, BH_SECRET_ESP, "both", BH_SECRET_IN, BOTH_ESP_OUT);
        assert_key(s, BH_SECRET_AH, "both", BH_SECRET_OUT, BOTH_AH_IN);
        assert_key(s, BH_SECRET_AH, "both", BH_SECRET_IN, BOTH_AH_OUT);
        assert_psk(s, "office", OFFICE_PSK);
        g_assert_cmpuint(bh_secrets_size(s), >=, 7);
}

static void export_a(const Fixture *f) {
        g_auto(Run) r = RUN(exptun, "--config-dir", f->a, "--all", "-f", f->export);

        g_assert_cmpint(r.status, ==, 0);
}

static void import_b(const Fixture *f) {
        g_auto(Run) r = RUN(imptun, "--config-dir", f->b, f->export);

        g_assert_cmpint(r.status, ==, 0);
}

/* Replaces the first line that starts with `prefix`; returns its number. */
static size_t edit_line(const char *file, const char *prefix, const char *line) {
        g_autofree char *text = read_file(file);
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        g_autofree char *joined = NULL;
        size_t found = 0;

        for (size_t i = 0; lines[i] && !found; i++)
                if (g_str_has_prefix(lines[i], prefix)) {
                        g_free(lines[i]);
                        lines[i] = g_strdup(line);
                        found = i + 1;
                }
        g_assert_cmpuint(found, >, 0);
        joined = g_strjoinv("\n", lines);
        write_file(file, joined, 0600);
        return found;
}

/* ---- tests ------------------------------------------------------------ */

static void test_round_trip(Fixture *f, gconstpointer data) {
        g_autofree char *again = path(f->root, "again");
        g_autofree char *text = NULL;
        g_autoptr(BhTunnelSet) a = load_tunnels(f->a);
        g_autoptr(BhTunnelSet) exported = NULL;
        g_autoptr(BhSecrets) a_keys = NULL, b_keys = NULL, exported_keys = NULL;
        g_autofree char *a_secrets = path(f->a, "secrets.conf");
        g_autofree char *b_secrets = path(f->b, "secrets.conf");
        const char *files[] = { "tunnels.d/lab.conf", "tunnels.d/office.conf", "tunnels.d/both.conf" };

        export_a(f);
        g_assert_cmpuint(mode_of(f->export), ==, 0600);
        text = read_file(f->export);
        g_assert_null(strstr(text, "number"));
        g_assert_nonnull(strstr(text, "\n[secrets]\n"));
        /* A passphrase stays one. */
        g_assert_nonnull(strstr(text, "\npsk office " OFFICE_PSK_TEXT "\n"));

        /* B starts with nothing at all. */
        import_b(f);
        assert_host_b(f, LAB_OUT, LAB_IN);
        b_keys = load_secrets(b_secrets);
        g_assert_cmpuint(bh_secrets_size(b_keys), ==, 7);
        g_assert_cmpuint(mode_of(b_secrets), ==, 0600);
        /* A new secrets.conf belongs to the user cryptod runs as. */
        {
                const struct passwd *pw = getuid() == 0 ? getpwnam("bulkhead-crypto") : NULL;
                struct stat st;

                g_assert_cmpint(stat(b_secrets, &st), ==, 0);
                g_assert_cmpuint(st.st_uid, ==, pw ? pw->pw_uid : getuid());
        }
        for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
                g_autofree char *p = path(f->b, files[i]);

                g_assert_cmpuint(mode_of(p), ==, 0644);
        }

        /* Exported from B again, A's definitions and keys come back,
         * everything but A's number. */
        {
                g_auto(Run) r = RUN(exptun, "--config-dir", f->b, "-t", "office,LAB,both", "-f", again);

                g_assert_cmpint(r.status, ==, 0);
        }
        parse_export(again, &exported, &exported_keys);
        g_assert_cmpuint(bh_tunnel_set_size(exported), ==, 3);
        for (guint i = 0; i < bh_tunnel_set_size(a); i++) {
                const BhTunnel *t = bh_tunnel_set_get(a, i);
                const BhTunnel *e = bh_tunnel_set_find(exported, t->name);
                g_autofree char *changes = bh_tunnel_changes(t, e);
                g_autoptr(BhTunnel) numbered = bh_tunnel_copy(e);
                g_autofree char *want = NULL, *got = NULL;

                /* A's numbers were given or assigned; the export has none. */
                g_assert_cmpuint(e->number, ==, 0);
                g_assert_cmpstr(changes, ==, "number");
                /* And in the same words as A's canonical form. */
                numbered->number = t->number;
                want = bh_tunnel_format(t);
                got = bh_tunnel_format(numbered);
                g_assert_cmpstr(got, ==, want);
        }
        a_keys = load_secrets(a_secrets);
        g_assert_cmpuint(bh_secrets_size(exported_keys), ==, bh_secrets_size(a_keys));
        for (size_t i = 0; i < bh_secrets_size(a_keys); i++) {
                const BhSecretEntry *k = bh_secrets_get(a_keys, i);
                const BhSecretEntry *e = bh_secrets_find(exported_keys, k->kind, k->tunnel, k->dir);

                g_assert_nonnull(e);
                g_assert_cmpmem(e->key->data, e->key->len, k->key->data, k->key->len);
        }
        bh_secure_wipe(text, strlen(text));
}

static void test_stdin_and_select(Fixture *f, gconstpointer data) {
        g_autofree char *cmd =
                g_strdup_printf("'%s' --config-dir '%s' -t lab,office | '%s' --config-dir '%s' --json -t lab -", exptun,
                                f->a, imptun, f->b);
        g_auto(Run) r = RUN("sh", "-c", cmd);
        g_autoptr(BhTunnelSet) b = NULL;
        g_autofree char *secrets = path(f->b, "secrets.conf");
        g_autoptr(BhSecrets) s = NULL;

        g_assert_cmpint(r.status, ==, 0);
        g_assert_nonnull(strstr(r.out, "{\"dry_run\":false,\"tunnels\":[{\"name\":\"lab\",\"type\":\"manual\""));
        b = load_tunnels(f->b);
        g_assert_cmpuint(bh_tunnel_set_size(b), ==, 1);
        g_assert_nonnull(bh_tunnel_set_find(b, "lab"));
        s = load_secrets(secrets);
        g_assert_cmpuint(bh_secrets_size(s), ==, 2);
        assert_key(s, BH_SECRET_ESP, "lab", BH_SECRET_OUT, LAB_IN);
}

/* A broken definition line: its number in the report, nothing written. */
static void test_bad_definition(Fixture *f, gconstpointer data) {
        g_autofree char *want = NULL;
        size_t line;

        export_a(f);
        line = edit_line(f->export, "esp_spi_in = 0x1001", "esp_spi_in = 0x1g01");
        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, f->export);

                g_assert_cmpint(r.status, ==, 1);
                want = g_strdup_printf("%s:%zu: esp_spi_in must be an SPI", f->export, line);
                g_assert_nonnull(strstr(r.err, want));
                g_assert_nonnull(strstr(r.err, "nothing imported"));
        }
        g_assert_false(exists(f->b));
}

/* A broken key line: its number, never its text, nothing written. */
static void test_bad_key(Fixture *f, gconstpointer data) {
        g_autofree char *want = NULL;
        size_t line;

        export_a(f);
        /* An odd number of hex digits: the key minus its last digit. */
        {
                g_autofree char *bad = g_strdup_printf("esp lab in %.*s", (int) strlen(LAB_OUT) - 1, LAB_OUT);

                line = edit_line(f->export, "esp lab in ", bad);
        }
        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, f->export);

                g_assert_cmpint(r.status, ==, 1);
                want = g_strdup_printf("%s:%zu: the key has an odd number of hex digits", f->export, line);
                g_assert_nonnull(strstr(r.err, want));
        }
        g_assert_false(exists(f->b));

        /* A key of the wrong length for its transform. */
        {
                g_autofree char *shorter = g_strdup_printf("esp lab in %.*s", (int) strlen(LAB_OUT) - 2, LAB_OUT);
                g_auto(Run) r = { 0 };

                edit_line(f->export, "esp lab in ", shorter);
                r = RUN(imptun, "--config-dir", f->b, f->export);
                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "is 35 bytes, expected 36"));
        }
        g_assert_false(exists(f->b));
}

/* A tunnel that B has already: refused without --replace, the files as
 * they were; with it, the definition and the keys replaced, B's other
 * keys kept, its mode kept. */
static void test_existing(Fixture *f, gconstpointer data) {
        g_autofree char *secrets = path(f->b, "secrets.conf");
        g_autofree char *a_secrets = path(f->a, "secrets.conf");
        g_autofree char *lab = path(f->b, "tunnels.d/lab.conf");
        g_autofree char *keys_before = NULL, *lab_before = NULL, *keys_after = NULL, *lab_after = NULL;
        g_autofree char *new_keys = NULL;
        g_autoptr(BhSecrets) s = NULL;

        export_a(f);
        import_b(f);
        /* B's own keys, and a comment, must survive. */
        {
                g_autofree char *text = read_file(secrets);
                g_autofree char *more = g_strdup_printf("%s# B's own\npsk elsewhere \"unrelated key\"\n", text);

                write_file(secrets, more, 0400);
        }
        keys_before = read_file(secrets);
        lab_before = read_file(lab);

        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "already defined"));
                g_assert_nonnull(strstr(r.err, "--replace"));
        }
        keys_after = read_file(secrets);
        lab_after = read_file(lab);
        g_assert_cmpstr(keys_after, ==, keys_before);
        g_assert_cmpstr(lab_after, ==, lab_before);

        /* A changes lab's keys and SPIs and exports it again. */
        new_keys = g_strdup_printf("esp lab out " NEW_LAB_OUT "\n"
                                   "esp lab in " NEW_LAB_IN "\n"
                                   "psk office " OFFICE_PSK_TEXT "\n"
                                   "esp both out " BOTH_ESP_OUT "\n"
                                   "esp both in " BOTH_ESP_IN "\n"
                                   "ah both out " BOTH_AH_OUT "\n"
                                   "ah both in " BOTH_AH_IN "\n");
        write_file(a_secrets, new_keys, 0600);
        {
                g_autofree char *a_lab = path(f->a, "tunnels.d/lab.conf");

                edit_line(a_lab, "esp_spi_in", "esp_spi_in = 0x2222");
                g_assert_cmpint(g_unlink(f->export), ==, 0);
                export_a(f);
        }

        /* Keys of the tunnel without its definition are refused as well. */
        g_assert_cmpint(g_unlink(lab), ==, 0);
        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, "-t", "lab", f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "already a key of tunnel \"lab\""));
        }
        g_assert_false(exists(lab));

        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, "--replace", f->export);

                g_assert_cmpint(r.status, ==, 0);
                g_assert_nonnull(strstr(r.out, "imported manual tunnel lab"));
                g_assert_nonnull(strstr(r.out, "replaced ike tunnel office"));
        }
        assert_host_b(f, NEW_LAB_OUT, NEW_LAB_IN);
        s = load_secrets(secrets);
        g_assert_cmpuint(bh_secrets_size(s), ==, 8);
        assert_psk(s, "elsewhere", "unrelated key");
        g_assert_cmpuint(mode_of(secrets), ==, 0400);
        g_free(keys_after);
        keys_after = read_file(secrets);
        g_assert_nonnull(strstr(keys_after, "# B's own\n"));
        g_assert_null(strstr(keys_after, &LAB_OUT[2]));
        g_assert_null(strstr(keys_after, &LAB_IN[2]));
}

/* secrets.conf that cryptod would refuse: refused, nothing written. */
static void test_secrets_mode(Fixture *f, gconstpointer data) {
        g_autofree char *secrets = path(f->b, "secrets.conf");
        g_autofree char *a_secrets = path(f->a, "secrets.conf");
        g_autofree char *dir = path(f->b, "tunnels.d");
        static const char b_keys[] = "psk elsewhere \"unrelated key\"\n";
        g_autofree char *after = NULL;

        export_a(f);
        write_file(secrets, b_keys, 0644);
        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "mode 0644 lets other users read it"));
                g_assert_nonnull(strstr(r.err, "nothing imported"));
        }
        g_assert_false(exists(dir));
        after = read_file(secrets);
        g_assert_cmpstr(after, ==, b_keys);
        g_assert_cmpuint(mode_of(secrets), ==, 0644);

        /* exptun does not read keys from such a file either. */
        g_assert_cmpint(chmod(a_secrets, 0640 | S_IWGRP), ==, 0);
        {
                g_autofree char *other = path(f->root, "other");
                g_auto(Run) r = RUN(exptun, "--config-dir", f->a, "-t", "lab", "-f", other);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "lets group"));
                g_assert_false(exists(other));
        }
}

static void test_unknown_tunnel(Fixture *f, gconstpointer data) {
        {
                g_auto(Run) r = RUN(exptun, "--config-dir", f->a, "-t", "lab,nosuch", "-f", f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "no tunnel named \"nosuch\" is defined"));
                g_assert_false(exists(f->export));
        }
        export_a(f);
        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, "-t", "nosuch", f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "defines no tunnel named \"nosuch\""));
                g_assert_false(exists(f->b));
        }
}

/* The export file: never over another without --force; always 0600. */
static void test_output_file(Fixture *f, gconstpointer data) {
        g_autofree char *text = NULL;

        write_file(f->export, "not an export\n", 0644);
        {
                g_auto(Run) r = RUN(exptun, "--config-dir", f->a, "--all", "-f", f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "exists (--force replaces it)"));
        }
        text = read_file(f->export);
        g_assert_cmpstr(text, ==, "not an export\n");
        {
                g_auto(Run) r = RUN(exptun, "--config-dir", f->a, "--all", "--force", "--json", "-f", f->export);

                g_assert_cmpint(r.status, ==, 0);
                g_assert_nonnull(strstr(r.out, "\"tunnels\":[\"lab\",\"office\",\"both\"],\"keys\":7}"));
        }
        g_assert_cmpuint(mode_of(f->export), ==, 0600);
        import_b(f);
        assert_host_b(f, LAB_OUT, LAB_IN);
}

static void test_dry_run(Fixture *f, gconstpointer data) {
        g_auto(Run) r = { 0 };

        export_a(f);
        r = RUN(imptun, "--config-dir", f->b, "--dry-run", f->export);
        g_assert_cmpint(r.status, ==, 0);
        g_assert_nonnull(strstr(r.out, "would import manual tunnel lab"));
        g_assert_false(exists(f->b));
}

/* An inbound SPI that another of B's tunnels has: the import would drop a
 * tunnel, so it is refused with the parser's report. */
static void test_spi_clash(Fixture *f, gconstpointer data) {
        g_autofree char *other = path(f->b, "tunnels.d/zz-other.conf");
        g_autofree char *lab = path(f->b, "tunnels.d/lab.conf");

        export_a(f);
        write_file(other,
                   "[tunnel other]\ntype = manual\nlocal = 192.0.2.2\nremote = 192.0.2.9\n"
                   "esp = aes256gcm16\nesp_spi_out = 0x5000\nesp_spi_in = 0x1001\n", 0644);
        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b, f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "esp_spi_in 0x1001 is already the inbound ESP SPI of tunnel \"lab\""));
                g_assert_nonnull(strstr(r.err, "would not load: other"));
        }
        g_assert_false(exists(lab));
}

/* Tunnels whose partner cannot be derived, and usage errors. */
static void test_refusals(Fixture *f, gconstpointer data) {
        g_autofree char *any = path(f->a, "tunnels.d/any.conf");

        write_file(any, "[tunnel any]\ntype = ike\nlocal = 192.0.2.1\nremote = %any\nremote_ts = 10.0.0.0/8\n", 0644);
        {
                g_auto(Run) r = RUN(exptun, "--config-dir", f->a, "-t", "any", "-f", f->export);

                g_assert_cmpint(r.status, ==, 1);
                g_assert_nonnull(strstr(r.err, "tunnel \"any\" has remote %any"));
                g_assert_false(exists(f->export));
        }
        {
                g_auto(Run) r = RUN(exptun, "--config-dir", f->a);

                g_assert_cmpint(r.status, ==, 2);
        }
        {
                g_auto(Run) r = RUN(imptun, "--config-dir", f->b);

                g_assert_cmpint(r.status, ==, 2);
        }
        {
                g_auto(Run) r = RUN(exptun, "--help");

                g_assert_cmpint(r.status, ==, 0);
                g_assert_nonnull(strstr(r.out, "Usage: exptun"));
        }
        {
                g_auto(Run) r = RUN(imptun, "--help");

                g_assert_cmpint(r.status, ==, 0);
                g_assert_nonnull(strstr(r.out, "Usage: imptun"));
        }
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        exptun = g_getenv("EXPTUN");
        imptun = g_getenv("IMPTUN");
        if (!exptun || !imptun) {
                g_printerr("EXPTUN and IMPTUN must name the programs\n");
                return 1;
        }

#define ADD(name, func) g_test_add("/tunxfer/" name, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
        ADD("round-trip", test_round_trip);
        ADD("stdin-and-select", test_stdin_and_select);
        ADD("bad-definition", test_bad_definition);
        ADD("bad-key", test_bad_key);
        ADD("existing", test_existing);
        ADD("secrets-mode", test_secrets_mode);
        ADD("unknown-tunnel", test_unknown_tunnel);
        ADD("output-file", test_output_file);
        ADD("dry-run", test_dry_run);
        ADD("spi-clash", test_spi_clash);
        ADD("refusals", test_refusals);
        return g_test_run();
}
