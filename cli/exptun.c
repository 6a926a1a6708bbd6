/* SPDX-License-Identifier: ISC */
/* exptun(8): writes tunnel definitions as the partner of each tunnel needs
 * them, with their keys, for imptun(8) on the partner. It reads the
 * configuration files and talks to no service. */
#include <errno.h>
#include <getopt.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "tunxfer.h"

#define PROG "exptun"

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: exptun [OPTION...] (-t NAME[,NAME...] | --all) [-f FILE|-]\n"
                "Writes tunnel definitions as their partners see them (local and remote,\n"
                "selectors, identities and manual SPIs exchanged), with their keys, for\n"
                "imptun(8) on the partner.\n\n"
                "  -t, --tunnels NAME,...  the tunnels to export\n"
                "      --all               every tunnel defined\n"
                "  -f, --file FILE         the export file, created with mode 0600 (default\n"
                "                          and -: standard output)\n"
                "      --force             replace FILE if it exists\n"
                "      --config-dir DIR    the configuration (default " BULKHEAD_SYSCONFDIR ")\n"
                "      --secrets FILE      the keys (default DIR/secrets.conf)\n"
                "      --json              a summary in JSON (with -f FILE only)\n"
                "      --help, --version\n\n"
                "The file holds keys: keep it secret and delete it once imported.\n"
                "Exit status: 0 success, 1 failed, 2 usage error, 4 permission denied.\n"
                "See exptun(8).\n");
        exit(code);
}

typedef struct Options {
        char *config_dir;
        char *secrets;
        char *tunnels;
        bool all;
        char *file;
        bool force;
        bool json;
} Options;

static void options_clear(Options *o) {
        g_free(o->config_dir);
        g_free(o->secrets);
        g_free(o->tunnels);
        g_free(o->file);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static void parse_options(Options *o, int argc, char **argv) {
        enum { OPT_ALL = 0x100, OPT_FORCE, OPT_CONFIG_DIR, OPT_SECRETS, OPT_JSON, OPT_VERSION };
        static const struct option long_options[] = {
                { "tunnels", required_argument, NULL, 't' },
                { "all", no_argument, NULL, OPT_ALL },
                { "file", required_argument, NULL, 'f' },
                { "force", no_argument, NULL, OPT_FORCE },
                { "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
                { "secrets", required_argument, NULL, OPT_SECRETS },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { NULL, 0, NULL, 0 },
        };
        const char *what = NULL;
        char **slot;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":t:f:h", long_options, NULL)) != -1) {
                slot = NULL;
                switch (c) {
                case 't':
                        slot = &o->tunnels;
                        what = "-t";
                        break;
                case 'f':
                        slot = &o->file;
                        what = "-f";
                        break;
                case OPT_CONFIG_DIR:
                        slot = &o->config_dir;
                        what = "--config-dir";
                        break;
                case OPT_SECRETS:
                        slot = &o->secrets;
                        what = "--secrets";
                        break;
                case OPT_ALL:
                        o->all = true;
                        break;
                case OPT_FORCE:
                        o->force = true;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case 'h':
                        usage(0);
                case OPT_VERSION:
                        printf("%s %s\n", PROG, BULKHEAD_VERSION);
                        exit(0);
                case ':':
                        cli_usage_error(PROG, "%s needs a value", argv[optind - 1]);
                default:
                        cli_usage_error(PROG, "unknown option %s", argv[optind - 1]);
                }
                if (slot) {
                        if (*slot)
                                cli_usage_error(PROG, "%s given twice", what);
                        *slot = g_strdup(optarg);
                }
        }
        if (optind < argc)
                cli_usage_error(PROG, "unexpected argument \"%s\"", argv[optind]);
        if (!o->tunnels == !o->all)
                cli_usage_error(PROG, "name the tunnels with -t NAME[,NAME...], or give --all");
        if (!o->file)
                o->file = g_strdup("-");
        if (o->json && strcmp(o->file, "-") == 0)
                cli_usage_error(PROG, "--json needs -f FILE: standard output carries the export");
        if (o->force && strcmp(o->file, "-") == 0)
                cli_usage_error(PROG, "--force goes with -f FILE");
        if (!o->config_dir)
                o->config_dir = g_strdup(BULKHEAD_SYSCONFDIR);
        if (!o->secrets)
                o->secrets = g_build_filename(o->config_dir, "secrets.conf", NULL);
}

/* The tunnels asked for, each once, in the order of the definitions. */
static int select_tunnels(const Options *o, const BhTunnelSet *set, const char *dir, const GPtrArray *reports,
                          GPtrArray *ret) {
        g_auto(GStrv) names = NULL;
        g_autofree char *bad = NULL;

        if (o->all) {
                int n_bad = 0;

                for (guint i = 0; i < reports->len; i++)
                        n_bad += !xfer_report_is_warning(reports->pdata[i]);
                if (n_bad > 0) {
                        xfer_print_reports(reports, false);
                        return xfer_fail(CLI_EXIT_FAILED,
                                         "%s has errors (above): --all would leave tunnels out; fix them, "
                                         "or name the tunnels with -t", dir);
                }
                if (bh_tunnel_set_size(set) == 0)
                        return xfer_fail(CLI_EXIT_FAILED, "no tunnels are defined in %s", dir);
                for (guint i = 0; i < bh_tunnel_set_size(set); i++)
                        g_ptr_array_add(ret, (gpointer) bh_tunnel_set_get(set, i));
                return 0;
        }

        names = xfer_split_names(o->tunnels, &bad);
        if (!names)
                cli_usage_error(PROG, "-t: \"%s\" is not a tunnel name", bad);
        for (char **n = names; *n; n++)
                if (!bh_tunnel_set_find(set, *n)) {
                        /* The reports may say why: a definition in error. */
                        xfer_print_reports(reports, false);
                        return xfer_fail(CLI_EXIT_FAILED, "no tunnel named \"%s\" is defined in %s", *n, dir);
                }
        for (guint i = 0; i < bh_tunnel_set_size(set); i++) {
                const BhTunnel *t = bh_tunnel_set_get(set, i);

                for (char **n = names; *n; n++)
                        if (g_ascii_strcasecmp(*n, t->name) == 0) {
                                g_ptr_array_add(ret, (gpointer) t);
                                break;
                        }
        }
        return 0;
}

static int load_keys(const Options *o, const GPtrArray *tunnels, BhSecrets *s) {
        g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
        BhSecretsOwner owner;
        int n_bad = 0, r;

        if (access(o->secrets, R_OK) < 0 && errno == EACCES)
                return xfer_fail(CLI_EXIT_DENIED, "%s cannot be read: %s (root and the cryptod user may read it)",
                                 o->secrets, g_strerror(EACCES));

        /* The file cryptod would refuse gives no keys here either. */
        xfer_cryptod_owner(&owner);
        r = bh_secrets_load(s, o->secrets, &owner, reports);
        if (r == -ENOENT)
                return xfer_fail(CLI_EXIT_FAILED, "%s does not exist: the keys of the tunnels are needed", o->secrets);
        if (r < 0) {
                /* -EACCES here is cryptod's permission check refusing the file
                 * (access() above said the caller may read it): a refusal. */
                xfer_print_reports(reports, false);
                return xfer_fail(CLI_EXIT_FAILED, "no keys read from %s; nothing exported", o->secrets);
        }

        for (guint i = 0; i < tunnels->len; i++)
                n_bad += bh_secrets_check_tunnel(s, tunnels->pdata[i], o->secrets, reports);
        if (n_bad > 0) {
                /* The parser's reports only name lines, never what is on them. */
                xfer_print_reports(reports, false);
                return xfer_fail(CLI_EXIT_FAILED, "the keys in %s are not complete (above); nothing exported",
                                 o->secrets);
        }
        return 0;
}

static char *header(void) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();
        g_autofree char *stamp = g_date_time_format(now, "%Y-%m-%d %H:%M:%S %z");

        return g_strdup_printf("# Bulkhead tunnel export, written by exptun(8) on %s, %s.\n"
                               "# The tunnels as their partner sees them (local and remote exchanged), and\n"
                               "# their keys. Import it on the partner with imptun(8), then delete it:\n"
                               "# whoever reads it can read and forge the tunnels' traffic.\n",
                               g_get_host_name(), stamp);
}

/* The partners' definitions, refused before any key is read. */
static int mirror_all(const GPtrArray *tunnels, GPtrArray *ret) {
        for (guint i = 0; i < tunnels->len; i++) {
                g_autofree char *reason = NULL;
                BhTunnel *m = NULL;

                if (xfer_mirror(tunnels->pdata[i], &m, &reason) < 0)
                        return xfer_fail(CLI_EXIT_FAILED, "%s; nothing exported", reason);
                g_ptr_array_add(ret, m);
        }
        return 0;
}

/*
 * The export, in one locked buffer that is wiped when freed: the text of
 * the definitions, then the key lines written straight into it. Each key
 * goes to the partner's direction: our outbound key is its inbound one.
 */
static int build_export(const GPtrArray *tunnels, const GPtrArray *mirrored, const BhSecrets *s, BhSecret **ret_buf,
                        size_t *ret_len, size_t *ret_keys) {
        g_autoptr(GString) text = g_string_new(NULL);
        g_autofree char *head = header();
        size_t size, off, n_keys = 0;
        BhSecret *buf;

        g_string_append(text, head);
        for (guint i = 0; i < mirrored->len; i++) {
                g_autofree char *def = bh_tunnel_format(mirrored->pdata[i]);

                g_string_append_printf(text, "\n%s", def);
        }
        g_string_append(text, "\n" XFER_SECRETS_LINE "\n"
                              "# bulkhead-secrets(5) lines, each direction as the partner uses it.\n");

        /* load_keys() checked that every key is there. */
        size = text->len;
        for (guint i = 0; i < tunnels->len; i++) {
                const BhTunnel *t = tunnels->pdata[i];
                BhSecretKind kinds[4];
                BhSecretDir dirs[4];
                size_t n = xfer_tunnel_keys(t, kinds, dirs);

                for (size_t k = 0; k < n; k++)
                        size += xfer_key_line_max(bh_secrets_find(s, kinds[k], t->name, dirs[k])->key->len);
        }

        buf = bh_secret_new(size);
        if (!buf)
                return xfer_fail(CLI_EXIT_FAILED, "out of memory");
        memcpy(buf->data, text->str, text->len);
        off = text->len;
        for (guint i = 0; i < tunnels->len; i++) {
                const BhTunnel *t = tunnels->pdata[i];
                BhSecretKind kinds[4];
                BhSecretDir dirs[4];
                size_t n = xfer_tunnel_keys(t, kinds, dirs);

                /* In the partner's terms: its out key (our in key) first. */
                for (size_t k = 0; k < n; k++) {
                        const BhSecretEntry *e = bh_secrets_find(s, kinds[k], t->name, xfer_swap_dir(dirs[k]));

                        xfer_put_key_line(buf, &off, kinds[k], t->name, dirs[k], e->key);
                        n_keys++;
                }
        }

        *ret_buf = buf;
        *ret_len = off;
        *ret_keys = n_keys;
        return 0;
}

static int write_export(const Options *o, const BhSecret *buf, size_t len) {
        XferOut out = { 0 };
        int r;

        if (strcmp(o->file, "-") == 0) {
                r = xfer_write_all(STDOUT_FILENO, buf->data, len);
                if (r < 0)
                        return xfer_fail(CLI_EXIT_FAILED, "cannot write to standard output: %s", g_strerror(-r));
                return 0;
        }

        r = xfer_out_write(&out, o->file, buf->data, len, 0600, (uid_t) -1, (gid_t) -1);
        if (r == 0)
                r = xfer_out_commit(&out, o->force);
        xfer_out_abort(&out);
        if (r == -EEXIST)
                return xfer_fail(CLI_EXIT_FAILED, "%s exists (--force replaces it)", o->file);
        if (r < 0)
                return xfer_fail(xfer_exit_code(r), "cannot write %s: %s", o->file, g_strerror(-r));
        return 0;
}

static void print_summary(const Options *o, const GPtrArray *tunnels, size_t n_keys) {
        g_autoptr(GString) out = g_string_new(NULL);

        if (o->json) {
                g_string_append(out, "{\"file\":");
                cli_json_string(out, o->file);
                g_string_append(out, ",\"tunnels\":[");
                for (guint i = 0; i < tunnels->len; i++) {
                        if (i)
                                g_string_append_c(out, ',');
                        cli_json_string(out, ((const BhTunnel *) tunnels->pdata[i])->name);
                }
                g_string_append_printf(out, "],\"keys\":%zu}\n", n_keys);
        } else {
                g_string_append_printf(out, "exported %u tunnel%s (", tunnels->len, tunnels->len == 1 ? "" : "s");
                for (guint i = 0; i < tunnels->len; i++)
                        g_string_append_printf(out, "%s%s", i ? ", " : "",
                                               ((const BhTunnel *) tunnels->pdata[i])->name);
                g_string_append_printf(out, ") and %zu key%s to %s\n", n_keys, n_keys == 1 ? "" : "s", o->file);
        }
        fputs(out->str, stdout);
}

int main(int argc, char **argv) {
        g_auto(Options) o = { 0 };
        g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) tunnels = g_ptr_array_new();
        g_autoptr(GPtrArray) mirrored = g_ptr_array_new_with_free_func((GDestroyNotify) bh_tunnel_free);
        g_autoptr(BhTunnelSet) set = NULL;
        g_autoptr(BhSecrets) secrets = bh_secrets_new();
        g_autofree char *dir = NULL;
        BhSecret *buf = NULL;
        size_t len = 0, n_keys = 0;
        struct stat st;
        int r;

        g_set_prgname(PROG);
        parse_options(&o, argc, argv);

        /* Before anything is read: the answer does not depend on it. */
        if (strcmp(o.file, "-") != 0 && !o.force && lstat(o.file, &st) == 0)
                return xfer_fail(CLI_EXIT_FAILED, "%s exists (--force replaces it)", o.file);

        dir = g_build_filename(o.config_dir, "tunnels.d", NULL);
        r = bh_tunnel_set_load(dir, NULL, reports, &set);
        if (r < 0)
                return xfer_fail(xfer_exit_code(r), "cannot read %s: %s", dir, g_strerror(-r));

        r = select_tunnels(&o, set, dir, reports, tunnels);
        if (r != 0)
                return r;
        r = mirror_all(tunnels, mirrored);
        if (r != 0)
                return r;
        r = load_keys(&o, tunnels, secrets);
        if (r != 0)
                return r;
        r = build_export(tunnels, mirrored, secrets, &buf, &len, &n_keys);
        if (r != 0)
                return r;
        r = write_export(&o, buf, len);
        bh_secret_free(buf);
        if (r != 0)
                return r;

        if (strcmp(o.file, "-") != 0)
                print_summary(&o, tunnels, n_keys);
        return CLI_EXIT_OK;
}
