/* SPDX-License-Identifier: ISC */
/* imptun(8): reads an export of exptun(8), checks it with the parsers the
 * services use, and writes each tunnel to tunnels.d and its keys to
 * secrets.conf, all or nothing. With --reload it asks cryptod and tmd to
 * read them. */
#include <dbus/dbus.h>
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
#include "fileread.h"
#include "ipc-interfaces.h"
#include "suite.h"
#include "tunxfer.h"

#define PROG "imptun"

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: imptun [OPTION...] FILE|-\n"
                "       imptun --reload [--bus ADDRESS | --run-dir DIR]\n"
                "Imports the tunnels of an exptun(8) file: each definition goes to\n"
                "DIR/tunnels.d/NAME.conf (mode 0644), its keys to secrets.conf, all or nothing.\n\n"
                "  -t, --tunnels NAME,...  import these tunnels of the file only\n"
                "      --replace           replace tunnels (and their keys) already defined\n"
                "      --dry-run           check everything, say what would be done, write\n"
                "                          nothing\n"
                "      --reload            then have the running suite read them (cryptod and\n"
                "                          tmd Reload); alone, only that\n"
                "      --config-dir DIR    the configuration (default " BULKHEAD_SYSCONFDIR ")\n"
                "      --secrets FILE      the keys (default DIR/secrets.conf)\n"
                "      --bus ADDRESS, --run-dir DIR\n"
                "                          the suite's bus, for --reload\n"
                "      --json              print machine-readable JSON\n"
                "      --help, --version\n\n"
                "Exit status: 0 success, 1 bad input or refused, 2 usage error, 3 the suite\n"
                "cannot be reached (--reload), 4 permission denied. See imptun(8).\n");
        exit(code);
}

typedef struct Options {
        char *config_dir;
        char *secrets;
        char *tunnels;
        bool replace;
        bool dry_run;
        bool reload;
        bool json;
        char *bus;
        char *run_dir;
        char *file;
        char *tunnels_dir;
} Options;

static void options_clear(Options *o) {
        g_free(o->config_dir);
        g_free(o->secrets);
        g_free(o->tunnels);
        g_free(o->bus);
        g_free(o->run_dir);
        g_free(o->file);
        g_free(o->tunnels_dir);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

static void parse_options(Options *o, int argc, char **argv) {
        enum {
                OPT_REPLACE = 0x100,
                OPT_DRY_RUN,
                OPT_RELOAD,
                OPT_CONFIG_DIR,
                OPT_SECRETS,
                OPT_BUS,
                OPT_RUN_DIR,
                OPT_JSON,
                OPT_VERSION
        };
        static const struct option long_options[] = {
                { "tunnels", required_argument, NULL, 't' },
                { "replace", no_argument, NULL, OPT_REPLACE },
                { "dry-run", no_argument, NULL, OPT_DRY_RUN },
                { "reload", no_argument, NULL, OPT_RELOAD },
                { "config-dir", required_argument, NULL, OPT_CONFIG_DIR },
                { "secrets", required_argument, NULL, OPT_SECRETS },
                { "bus", required_argument, NULL, OPT_BUS },
                { "run-dir", required_argument, NULL, OPT_RUN_DIR },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, OPT_VERSION },
                { NULL, 0, NULL, 0 },
        };
        const char *what = NULL;
        char **slot;
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":t:h", long_options, NULL)) != -1) {
                slot = NULL;
                switch (c) {
                case 't':
                        slot = &o->tunnels;
                        what = "-t";
                        break;
                case OPT_CONFIG_DIR:
                        slot = &o->config_dir;
                        what = "--config-dir";
                        break;
                case OPT_SECRETS:
                        slot = &o->secrets;
                        what = "--secrets";
                        break;
                case OPT_BUS:
                        slot = &o->bus;
                        what = "--bus";
                        break;
                case OPT_RUN_DIR:
                        slot = &o->run_dir;
                        what = "--run-dir";
                        break;
                case OPT_REPLACE:
                        o->replace = true;
                        break;
                case OPT_DRY_RUN:
                        o->dry_run = true;
                        break;
                case OPT_RELOAD:
                        o->reload = true;
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
                o->file = g_strdup(argv[optind++]);
        if (optind < argc)
                cli_usage_error(PROG, "one export file at a time (unexpected \"%s\")", argv[optind]);
        if (!o->file && !o->reload)
                cli_usage_error(PROG, "no export file given (- reads standard input)");
        if (!o->file && (o->tunnels || o->replace || o->dry_run))
                cli_usage_error(PROG, "-t, --replace and --dry-run go with an export file");
        if (o->dry_run && o->reload)
                cli_usage_error(PROG, "--dry-run writes nothing, so there is nothing to reload");
        if ((o->bus || o->run_dir) && !o->reload)
                cli_usage_error(PROG, "--bus and --run-dir go with --reload");
        if (!o->config_dir)
                o->config_dir = g_strdup(BULKHEAD_SYSCONFDIR);
        if (!o->secrets)
                o->secrets = g_build_filename(o->config_dir, "secrets.conf", NULL);
        o->tunnels_dir = g_build_filename(o->config_dir, "tunnels.d", NULL);
}

/* ---- the export file -------------------------------------------------- */

typedef struct Export {
        const char *name;               /* for reports */
        BhSecret *buf;                  /* the whole file */
        size_t len;
        BhTunnelSet *set;
        BhSecrets *secrets;
} Export;

static void export_clear(Export *e) {
        bh_secret_free(e->buf);
        bh_tunnel_set_free(e->set);
        bh_secrets_free(e->secrets);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Export, export_clear)

/* The number of the [secrets] line, or 0 when there is none. The
 * definitions are the bytes before *ret_end, the keys those from *ret_start
 * on (none without the line). */
static size_t find_secrets_line(const uint8_t *p, size_t len, size_t *ret_end, size_t *ret_start) {
        size_t off = 0, line = 0;

        while (off < len) {
                const uint8_t *nl = memchr(p + off, '\n', len - off);
                size_t n = nl ? (size_t) (nl - (p + off)) : len - off;
                size_t a = off, b = off + n;

                line++;
                while (a < b && g_ascii_isspace(p[a]))
                        a++;
                while (b > a && g_ascii_isspace(p[b - 1]))
                        b--;
                if (b - a == strlen(XFER_SECRETS_LINE) &&
                    g_ascii_strncasecmp((const char *) p + a, XFER_SECRETS_LINE, b - a) == 0) {
                        *ret_end = off;
                        *ret_start = nl ? off + n + 1 : len;
                        return line;
                }
                off += nl ? n + 1 : n;
        }
        *ret_end = *ret_start = len;
        return 0;
}

static int read_export(const Options *o, Export *e) {
        g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
        size_t end, start, above, keys_len;
        BhSecret *keys;
        int r, n_bad;

        e->name = strcmp(o->file, "-") == 0 ? "(standard input)" : o->file;
        r = xfer_read_secret(o->file, XFER_FILE_MAX, &e->buf, &e->len, NULL);
        if (r == -EFBIG)
                return xfer_fail(CLI_EXIT_FAILED, "%s: larger than %d bytes; not read", e->name, XFER_FILE_MAX);
        if (r == -EBADFD)
                return xfer_fail(CLI_EXIT_FAILED, "%s: not a regular file or a pipe; not read", e->name);
        if (r < 0)
                return xfer_fail(xfer_exit_code(r), "%s: cannot be read: %s", e->name, g_strerror(-r));

        above = find_secrets_line(e->buf->data, e->len, &end, &start);

        /* The definitions: with the parser tmd uses, line numbers those of
         * the file. */
        e->set = bh_tunnel_set_new();
        n_bad = bh_tunnel_set_parse(e->set, (const char *) e->buf->data, end, e->name, reports);
        if (n_bad > 0) {
                xfer_print_reports(reports, true);
                return xfer_fail(CLI_EXIT_FAILED, "%s: %d error%s in the tunnel definitions; nothing imported", e->name,
                                 n_bad, n_bad == 1 ? "" : "s");
        }
        xfer_print_reports(reports, true);      /* warnings: legacy algorithms */
        g_ptr_array_set_size(reports, 0);
        if (bh_tunnel_set_size(e->set) == 0)
                return xfer_fail(CLI_EXIT_FAILED, "%s defines no tunnel; nothing imported", e->name);

        /* The keys: with cryptod's parser, in a locked copy that starts with
         * one empty line for each line above them, so that reports give
         * the file's line numbers. */
        e->secrets = bh_secrets_new();
        keys_len = above + (e->len - start);
        keys = bh_secret_new(keys_len + 1);
        if (!keys)
                return xfer_fail(CLI_EXIT_FAILED, "out of memory");
        memset(keys->data, '\n', above);
        memcpy(keys->data + above, e->buf->data + start, e->len - start);
        n_bad = bh_secrets_parse(e->secrets, (const char *) keys->data, keys_len, e->name, reports);
        bh_secret_free(keys);
        if (n_bad > 0) {
                /* Reports of the secrets parser never quote the file. */
                xfer_print_reports(reports, true);
                return xfer_fail(CLI_EXIT_FAILED, "%s: %d error%s in the keys; nothing imported", e->name, n_bad,
                                 n_bad == 1 ? "" : "s");
        }
        return 0;
}

/* ---- what goes where -------------------------------------------------- */

typedef struct Import {
        const BhTunnel *t;              /* in the export */
        char *target;                   /* the tunnels.d file it goes to */
        bool replaces;                  /* a tunnel of the same name is defined */
        bool target_exists;
        char *text;
        size_t n_keys;
        XferOut out;
} Import;

static void import_free(Import *imp) {
        if (!imp)
                return;
        xfer_out_abort(&imp->out);
        g_free(imp->target);
        g_free(imp->text);
        g_free(imp);
}

static int select_imports(const Options *o, const Export *e, GPtrArray *ret) {
        g_auto(GStrv) names = NULL;
        g_autofree char *bad = NULL;

        if (o->tunnels) {
                names = xfer_split_names(o->tunnels, &bad);
                if (!names)
                        cli_usage_error(PROG, "-t: \"%s\" is not a tunnel name", bad);
                for (char **n = names; *n; n++)
                        if (!bh_tunnel_set_find(e->set, *n))
                                return xfer_fail(CLI_EXIT_FAILED, "%s defines no tunnel named \"%s\"", e->name, *n);
        }
        for (guint i = 0; i < bh_tunnel_set_size(e->set); i++) {
                const BhTunnel *t = bh_tunnel_set_get(e->set, i);
                bool take = !names;
                Import *imp;

                for (char **n = names; n && *n && !take; n++)
                        take = g_ascii_strcasecmp(*n, t->name) == 0;
                if (!take)
                        continue;
                imp = g_new0(Import, 1);
                imp->t = t;
                g_ptr_array_add(ret, imp);
        }
        return 0;
}

/* Each tunnel must come with exactly the keys it needs. */
static int check_keys(const Export *e, const GPtrArray *imports) {
        g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
        int n_bad = 0;

        for (guint i = 0; i < imports->len; i++) {
                Import *imp = imports->pdata[i];
                BhSecretKind kinds[4];
                BhSecretDir dirs[4];

                n_bad += bh_secrets_check_tunnel(e->secrets, imp->t, e->name, reports);
                imp->n_keys = xfer_tunnel_keys(imp->t, kinds, dirs);
        }
        xfer_print_reports(reports, true);
        if (n_bad > 0)
                return xfer_fail(CLI_EXIT_FAILED, "%s: keys are missing or of the wrong length; nothing imported",
                                 e->name);
        return 0;
}

static int count_in_file(const BhTunnelSet *set, const char *file) {
        int n = 0;

        for (guint i = 0; i < bh_tunnel_set_size(set); i++)
                n += g_strcmp0(bh_tunnel_set_get(set, i)->file, file) == 0;
        return n;
}

/* Does a report that is not a warning concern this file? */
static bool file_has_errors(const GPtrArray *reports, const char *file) {
        size_t n = strlen(file);

        for (guint i = 0; i < reports->len; i++) {
                const char *r = reports->pdata[i];

                if (strncmp(r, file, n) == 0 && r[n] == ':' && !xfer_report_is_warning(r))
                        return true;
        }
        return false;
}

/*
 * The file of each tunnel: the file of the definition it replaces, when
 * that file holds it alone; else tunnels.d/NAME.conf, which must not exist
 * unless --replace. A name starting with '.' would make a hidden file,
 * which tmd skips: such a tunnel goes to tunnelNAME.conf (".x":
 * tunnel.x.conf).
 */
static int plan_targets(const Options *o, const BhTunnelSet *old, const GPtrArray *old_reports, GPtrArray *imports) {
        for (guint i = 0; i < imports->len; i++) {
                Import *imp = imports->pdata[i];
                const BhTunnel *t = imp->t;
                const BhTunnel *existing = bh_tunnel_set_find(old, t->name);
                g_autofree char *q = bh_quote(t->name);
                struct stat st;

                if (existing) {
                        if (!o->replace)
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "tunnel %s is already defined at %s:%zu (--replace replaces "
                                                 "it); nothing imported", q, existing->file, existing->line);
                        if (count_in_file(old, existing->file) > 1)
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "tunnel %s is defined in %s with other tunnels: move it to a "
                                                 "file of its own, or remove it there, first; nothing imported",
                                                 q, existing->file);
                        if (file_has_errors(old_reports, existing->file))
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "%s, which defines tunnel %s, also has lines in error that "
                                                 "replacing it would lose: fix them first; nothing imported",
                                                 existing->file, q);
                        imp->target = g_strdup(existing->file);
                        imp->replaces = true;
                } else {
                        g_autofree char *base =
                                g_strdup_printf("%s%s.conf", t->name[0] == '.' ? "tunnel" : "", t->name);

                        imp->target = g_build_filename(o->tunnels_dir, base, NULL);
                }

                if (lstat(imp->target, &st) == 0) {
                        imp->target_exists = true;
                        if (!S_ISREG(st.st_mode))
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "%s exists and is not a regular file; nothing imported", imp->target);
                        if (!imp->replaces && !o->replace)
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "%s exists, without a definition of tunnel %s that loads "
                                                 "(--replace replaces the file); nothing imported", imp->target, q);
                        if (!imp->replaces && count_in_file(old, imp->target) > 0)
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "%s holds other tunnels: tunnel %s cannot go there; nothing "
                                                 "imported", imp->target, q);
                } else if (errno != ENOENT) {
                        int r = -errno;

                        return xfer_fail(xfer_exit_code(r), "%s: %s; nothing imported", imp->target, g_strerror(-r));
                }

                for (guint j = 0; j < i; j++)
                        if (strcmp(((Import *) imports->pdata[j])->target, imp->target) == 0)
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "tunnels %s and %s would both go to %s; nothing imported",
                                                 ((Import *) imports->pdata[j])->t->name, t->name, imp->target);
        }
        return 0;
}

static char *stamp(void) {
        g_autoptr(GDateTime) now = g_date_time_new_now_local();

        return g_date_time_format(now, "%Y-%m-%d %H:%M:%S %z");
}

static void make_texts(GPtrArray *imports) {
        g_autofree char *when = stamp();

        for (guint i = 0; i < imports->len; i++) {
                Import *imp = imports->pdata[i];
                g_autofree char *def = bh_tunnel_format(imp->t);

                imp->text = g_strdup_printf("# Imported with imptun(8) on %s; the keys are in secrets.conf.\n%s", when,
                                            def);
        }
}

static gint compare_paths(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/*
 * tunnels.d as tmd will read it after the import, parsed with its parser:
 * the files there, with the imported ones in place. Every imported tunnel
 * must load as it is, and every tunnel that loads now (but those replaced)
 * must still load: a clash of inbound SPIs, say, drops the later one.
 */
static int check_final_tunnels(const Options *o, const BhTunnelSet *old, const GPtrArray *old_reports,
                               const GPtrArray *imports) {
        g_autoptr(GHashTable) overlay = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) known = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
        g_autoptr(GString) broken = g_string_new(NULL);
        GDir *d;

        for (guint i = 0; i < imports->len; i++) {
                const Import *imp = imports->pdata[i];

                g_hash_table_insert(overlay, imp->target, imp->text);
        }

        d = g_dir_open(o->tunnels_dir, 0, NULL);
        if (d) {
                const char *n;

                while ((n = g_dir_read_name(d)))
                        if (bh_tunnel_file_name_valid(n))
                                g_ptr_array_add(names, g_build_filename(o->tunnels_dir, n, NULL));
                g_dir_close(d);
        }
        for (guint i = 0; i < imports->len; i++) {
                const Import *imp = imports->pdata[i];

                if (!imp->target_exists)
                        g_ptr_array_add(names, g_strdup(imp->target));
        }
        /* The same order as bh_tunnel_set_load(): the names alone decide. */
        g_ptr_array_sort(names, compare_paths);
        if (names->len > BH_TUNNEL_FILES_MAX)
                return xfer_fail(CLI_EXIT_FAILED, "%s would hold more than %d *.conf files; nothing imported",
                                 o->tunnels_dir, BH_TUNNEL_FILES_MAX);

        for (guint i = 0; i < names->len; i++) {
                const char *path = names->pdata[i];
                const char *text = g_hash_table_lookup(overlay, path);
                g_autofree char *read = NULL;
                size_t len = 0;

                if (text)
                        len = strlen(text);
                else if (bh_read_bounded(path, BH_TUNNEL_FILE_SIZE_MAX, &read, &len) == 0)
                        text = read;
                else
                        continue;       /* reported by the load before */
                bh_tunnel_set_parse(set, text, len, path, reports);
        }
        bh_tunnel_set_finish(set, old, reports);

        for (guint i = 0; i < imports->len; i++) {
                const Import *imp = imports->pdata[i];
                const BhTunnel *f = bh_tunnel_set_find(set, imp->t->name);
                g_autofree char *changes = f ? bh_tunnel_changes(f, imp->t) : NULL;

                /* The number may have been assigned; nothing else differs. */
                if (!f || g_strcmp0(f->file, imp->target) != 0 ||
                    (changes && !(strcmp(changes, "number") == 0 && imp->t->number == 0)))
                        g_string_append_printf(broken, "%s%s", broken->len ? ", " : "", imp->t->name);
        }
        for (guint i = 0; i < bh_tunnel_set_size(old); i++) {
                const BhTunnel *t = bh_tunnel_set_get(old, i);
                bool replaced = false;

                for (guint j = 0; j < imports->len && !replaced; j++)
                        replaced = g_ascii_strcasecmp(((const Import *) imports->pdata[j])->t->name, t->name) == 0;
                if (!replaced && !bh_tunnel_set_find(set, t->name))
                        g_string_append_printf(broken, "%s%s", broken->len ? ", " : "", t->name);
        }
        if (broken->len == 0)
                return 0;

        /* What the import adds to what tmd reports today. */
        for (guint i = 0; i < old_reports->len; i++)
                g_hash_table_add(known, old_reports->pdata[i]);
        for (guint i = 0; i < reports->len; i++)
                if (!g_hash_table_contains(known, reports->pdata[i]))
                        fprintf(stderr, "%s\n", (const char *) reports->pdata[i]);
        return xfer_fail(CLI_EXIT_FAILED, "with the import, these tunnels would not load: %s; nothing imported",
                         broken->str);
}

/* ---- secrets.conf ----------------------------------------------------- */

typedef struct Keys {
        bool exists;
        struct stat st;
        BhSecret *old;                  /* the file as it is */
        size_t old_len;
        int old_bad;
        BhSecret *text;                 /* the file to write */
        size_t len;
        XferOut out;
} Keys;

static void keys_clear(Keys *k) {
        bh_secret_free(k->old);
        bh_secret_free(k->text);
        xfer_out_abort(&k->out);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Keys, keys_clear)

/* Reads secrets.conf, refusing it where cryptod would. */
static int read_keys(const Options *o, Keys *k, BhSecrets *s) {
        g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *reason = NULL;
        BhSecretsOwner owner;
        int r;

        r = xfer_read_secret(o->secrets, BH_SECRETS_SIZE_MAX, &k->old, &k->old_len, &k->st);
        if (r == -ENOENT)
                return 0;
        if (r == -EFBIG)
                return xfer_fail(CLI_EXIT_FAILED, "%s is larger than %d bytes; nothing imported", o->secrets,
                                 BH_SECRETS_SIZE_MAX);
        if (r < 0)
                return xfer_fail(xfer_exit_code(r), "%s cannot be read: %s; nothing imported", o->secrets,
                                 g_strerror(-r));
        k->exists = true;

        xfer_cryptod_owner(&owner);
        if (!S_ISREG(k->st.st_mode))
                return xfer_fail(CLI_EXIT_FAILED, "%s is not a regular file; nothing imported", o->secrets);
        if (bh_secrets_check_permissions(&k->st, &owner, &reason) < 0)
                return xfer_fail(CLI_EXIT_FAILED, "%s: %s: cryptod would not read it; nothing imported", o->secrets,
                                 reason);

        /* Lines in error stay as they are; they only must not grow. */
        k->old_bad = bh_secrets_parse(s, (const char *) k->old->data, k->old_len, o->secrets, reports);
        return 0;
}

/* The keys already there for the imported tunnels: refused, or replaced
 * with --replace. Returns the lines to leave out. */
static int plan_keys(const Options *o, const BhSecrets *s, const GPtrArray *imports, GHashTable *ret_drop) {
        for (size_t i = 0; i < bh_secrets_size(s); i++) {
                const BhSecretEntry *e = bh_secrets_get(s, i);

                for (guint j = 0; j < imports->len; j++) {
                        const BhTunnel *t = ((const Import *) imports->pdata[j])->t;
                        g_autofree char *q = NULL;

                        if (g_ascii_strcasecmp(e->tunnel, t->name) != 0)
                                continue;
                        if (!o->replace) {
                                q = bh_quote(t->name);
                                return xfer_fail(CLI_EXIT_FAILED,
                                                 "%s:%zu: already a key of tunnel %s (--replace replaces "
                                                 "its keys); nothing imported", o->secrets, e->line, q);
                        }
                        g_hash_table_add(ret_drop, GSIZE_TO_POINTER(e->line));
                }
        }
        return 0;
}

/* The new secrets.conf: its lines but those dropped, then the imported
 * keys, in one locked buffer. */
static int make_keys(const Export *e, const GPtrArray *imports, GHashTable *drop, Keys *k) {
        size_t size = k->old_len + 1, off = 0, line = 0, pos = 0;

        for (guint i = 0; i < imports->len; i++) {
                const BhTunnel *t = ((const Import *) imports->pdata[i])->t;
                BhSecretKind kinds[4];
                BhSecretDir dirs[4];
                size_t n = xfer_tunnel_keys(t, kinds, dirs);

                for (size_t j = 0; j < n; j++)
                        size += xfer_key_line_max(bh_secrets_find(e->secrets, kinds[j], t->name, dirs[j])->key->len);
        }
        k->text = bh_secret_new(size);
        if (!k->text)
                return xfer_fail(CLI_EXIT_FAILED, "out of memory");

        while (k->old && pos < k->old_len) {
                const uint8_t *p = k->old->data + pos;
                const uint8_t *nl = memchr(p, '\n', k->old_len - pos);
                size_t n = nl ? (size_t) (nl - p) + 1 : k->old_len - pos;

                line++;
                if (!g_hash_table_contains(drop, GSIZE_TO_POINTER(line))) {
                        memcpy(k->text->data + off, p, n);
                        off += n;
                        if (!nl)
                                k->text->data[off++] = '\n';
                }
                pos += n;
        }

        for (guint i = 0; i < imports->len; i++) {
                const BhTunnel *t = ((const Import *) imports->pdata[i])->t;
                BhSecretKind kinds[4];
                BhSecretDir dirs[4];
                size_t n = xfer_tunnel_keys(t, kinds, dirs);

                for (size_t j = 0; j < n; j++)
                        xfer_put_key_line(k->text, &off, kinds[j], t->name, dirs[j],
                                          bh_secrets_find(e->secrets, kinds[j], t->name, dirs[j])->key);
        }
        k->len = off;
        return 0;
}

/* The new file must read back with the imported keys in force: no earlier
 * line may shadow one, and no line may turn bad. */
static int check_final_keys(const Options *o, const Export *e, const GPtrArray *imports, const Keys *k) {
        g_autoptr(GPtrArray) reports = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(BhSecrets) s = bh_secrets_new();
        int n_bad = bh_secrets_parse(s, (const char *) k->text->data, k->len, o->secrets, reports);

        if (n_bad > k->old_bad) {
                xfer_print_reports(reports, false);
                return xfer_fail(CLI_EXIT_FAILED,
                                 "%s would not read back cleanly with the imported keys; nothing imported", o->secrets);
        }
        for (guint i = 0; i < imports->len; i++) {
                const BhTunnel *t = ((const Import *) imports->pdata[i])->t;
                BhSecretKind kinds[4];
                BhSecretDir dirs[4];
                size_t n = xfer_tunnel_keys(t, kinds, dirs);

                for (size_t j = 0; j < n; j++) {
                        const BhSecret *want = bh_secrets_find(e->secrets, kinds[j], t->name, dirs[j])->key;
                        const BhSecretEntry *got = bh_secrets_find(s, kinds[j], t->name, dirs[j]);

                        if (!got || got->key->len != want->len ||
                            bh_secure_memcmp(got->key->data, want->data, want->len) != 0)
                                return xfer_fail(
                                        CLI_EXIT_FAILED,
                                        "%s:%zu: this line would stand in for an imported key of "
                                        "tunnel \"%s\" (--replace replaces the tunnel's keys); nothing imported",
                                        o->secrets, got ? got->line : (size_t) 0, t->name);
                }
        }
        return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* Every file is written next to its place first; only when all are
 * written do they take their places, the keys first (keys nobody uses yet
 * are harmless; a tunnel without its keys would fail). */
static int write_all(const Options *o, GPtrArray *imports, Keys *k) {
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        mode_t mode = 0600;
        int r;

        if (g_mkdir_with_parents(o->tunnels_dir, 0755) < 0) {
                r = -errno;
                return xfer_fail(xfer_exit_code(r), "cannot make %s: %s; nothing imported", o->tunnels_dir,
                                 g_strerror(-r));
        }

        if (k->exists) {
                /* The owner and mode it has, which cryptod accepts. */
                mode = k->st.st_mode & 07777;
                if (k->st.st_uid != geteuid() || k->st.st_gid != getegid()) {
                        uid = k->st.st_uid;
                        gid = k->st.st_gid;
                }
        } else if (geteuid() == 0) {
                BhSecretsOwner owner;

                xfer_cryptod_owner(&owner);
                uid = owner.uid;
                gid = owner.gid;
        }
        r = xfer_out_write(&k->out, o->secrets, k->text->data, k->len, mode, uid, gid);
        if (r < 0)
                return xfer_fail(xfer_exit_code(r), "cannot write %s: %s; nothing imported", o->secrets,
                                 g_strerror(-r));

        for (guint i = 0; i < imports->len; i++) {
                Import *imp = imports->pdata[i];

                r = xfer_out_write(&imp->out, imp->target, imp->text, strlen(imp->text), 0644, (uid_t) -1, (gid_t) -1);
                if (r < 0)
                        return xfer_fail(xfer_exit_code(r), "cannot write %s: %s; nothing imported", imp->target,
                                         g_strerror(-r));
        }

        r = xfer_out_commit(&k->out, k->exists);
        if (r == -EEXIST)
                return xfer_fail(CLI_EXIT_FAILED, "%s appeared meanwhile; nothing imported", o->secrets);
        if (r < 0)
                return xfer_fail(xfer_exit_code(r), "cannot put %s in place: %s; nothing imported", o->secrets,
                                 g_strerror(-r));
        for (guint i = 0; i < imports->len; i++) {
                Import *imp = imports->pdata[i];

                r = xfer_out_commit(&imp->out, imp->target_exists);
                if (r < 0)
                        return xfer_fail(xfer_exit_code(r), "cannot put %s in place: %s (%s is written already)",
                                         imp->target, r == -EEXIST ? "it appeared meanwhile" : g_strerror(-r),
                                         o->secrets);
        }
        return 0;
}

static void print_result(const Options *o, const GPtrArray *imports, bool reloaded) {
        g_autoptr(GString) out = g_string_new(NULL);

        if (o->json) {
                g_string_append_printf(out, "{\"dry_run\":%s,\"tunnels\":[", o->dry_run ? "true" : "false");
                for (guint i = 0; i < imports->len; i++) {
                        const Import *imp = imports->pdata[i];

                        g_string_append(out, i ? ",{\"name\":" : "{\"name\":");
                        cli_json_string(out, imp->t->name);
                        g_string_append_printf(out,
                                               ",\"type\":\"%s\",\"file\":", bh_tunnel_type_to_string(imp->t->type));
                        cli_json_string(out, imp->target);
                        g_string_append_printf(out, ",\"replaced\":%s,\"keys\":%zu}", imp->replaces ? "true" : "false",
                                               imp->n_keys);
                }
                g_string_append(out, "],\"secrets\":");
                cli_json_string(out, o->secrets);
                g_string_append_printf(out, ",\"reloaded\":%s}\n", reloaded ? "true" : "false");
                fputs(out->str, stdout);
                return;
        }

        for (guint i = 0; i < imports->len; i++) {
                const Import *imp = imports->pdata[i];

                g_string_append_printf(out, "%s %s tunnel %s into %s, %zu key%s into %s\n",
                                       o->dry_run      ? "would import"
                                       : imp->replaces ? "replaced"
                                                       : "imported",
                                       bh_tunnel_type_to_string(imp->t->type), imp->t->name, imp->target, imp->n_keys,
                                       imp->n_keys == 1 ? "" : "s", o->secrets);
        }
        if (o->dry_run)
                g_string_append(out, "nothing written (--dry-run)\n");
        else if (!reloaded)
                g_string_append(out, "the running suite reads them on its next start, or now with: imptun --reload\n");
        fputs(out->str, stdout);
}

/* ---- reload ----------------------------------------------------------- */

/* cryptod first: a tunnel that tmd starts at once finds its keys there. */
static int reload(const Options *o) {
        Cli cli = { .prog = PROG, .address = g_strdup(o->bus), .run_dir = g_strdup(o->run_dir) };
        DBusMessage *reply = NULL;
        DBusMessageIter it, arr;
        int r;

        r = cli_connect(&cli);
        if (r == 0)
                r = cli_call(&cli, BH_SERVICE_CRYPTOD, &bh_iface_crypto1, "Reload", NULL, DBUS_TYPE_INVALID);
        if (r == 0)
                r = cli_call(&cli, BH_SERVICE_TMD, &bh_iface_tmd1, "Reload", &reply, DBUS_TYPE_INVALID);
        if (r == 0 && dbus_message_has_signature(reply, "as")) {
                dbus_message_iter_init(reply, &it);
                dbus_message_iter_recurse(&it, &arr);
                for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRING; dbus_message_iter_next(&arr)) {
                        const char *report;

                        dbus_message_iter_get_basic(&arr, &report);
                        fprintf(stderr, "%s: tmd: %s\n", PROG, report);
                }
        }
        if (reply)
                dbus_message_unref(reply);
        cli_done(&cli);
        return r;
}

int main(int argc, char **argv) {
        g_auto(Options) o = { 0 };
        g_auto(Export) e = { 0 };
        g_auto(Keys) k = { 0 };
        g_autoptr(GPtrArray) imports = g_ptr_array_new_with_free_func((GDestroyNotify) import_free);
        g_autoptr(GPtrArray) old_reports = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GHashTable) drop = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_autoptr(BhTunnelSet) old = NULL;
        g_autoptr(BhSecrets) old_keys = bh_secrets_new();
        int r;

        g_set_prgname(PROG);
        parse_options(&o, argc, argv);
        if (!o.file) {
                r = reload(&o);
                if (r == 0)
                        fputs(o.json ? "{\"reloaded\":true}\n" : "cryptod and tmd read their configuration again\n",
                              stdout);
                return r;
        }

        r = read_export(&o, &e);
        if (r != 0)
                return r;
        r = select_imports(&o, &e, imports);
        if (r != 0)
                return r;
        r = check_keys(&e, imports);
        if (r != 0)
                return r;

        r = bh_tunnel_set_load(o.tunnels_dir, NULL, old_reports, &old);
        if (r < 0)
                return xfer_fail(xfer_exit_code(r), "cannot read %s: %s; nothing imported", o.tunnels_dir,
                                 g_strerror(-r));
        r = plan_targets(&o, old, old_reports, imports);
        if (r != 0)
                return r;
        make_texts(imports);
        r = check_final_tunnels(&o, old, old_reports, imports);
        if (r != 0)
                return r;

        r = read_keys(&o, &k, old_keys);
        if (r != 0)
                return r;
        r = plan_keys(&o, old_keys, imports, drop);
        if (r != 0)
                return r;
        r = make_keys(&e, imports, drop, &k);
        if (r != 0)
                return r;
        r = check_final_keys(&o, &e, imports, &k);
        if (r != 0)
                return r;

        if (!o.dry_run) {
                r = write_all(&o, imports, &k);
                if (r != 0)
                        return r;
        }
        if (o.reload) {
                r = reload(&o);
                if (r != 0) {
                        fprintf(stderr, "%s: the files are written; the running suite has not read them\n", PROG);
                        return r;
                }
        }
        print_result(&o, imports, o.reload);
        return CLI_EXIT_OK;
}
