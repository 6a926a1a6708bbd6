/* SPDX-License-Identifier: ISC */
/* bulkhead-secrets(5), as cryptod reads secrets.conf (untrusted, and
 * secret: no report may ever carry a key).
 *
 * Checks besides the sanitizers:
 *  - the return value is the number of reports, each one printable line
 *    naming the file and an existing line; the entries are well formed and
 *    found again by bh_secrets_find() regardless of case;
 *  - no key shows in any report, of the parser or of the checks against
 *    the tunnels: no 8-byte run of any parsed key, raw or in hex (either
 *    case), appears in a report
 *    (unless that run is fixed text of the reports itself);
 *  - no report quotes the file at all: every 12-byte window of a report
 *    (digits aside) is fixed text, or a tunnel name from the definitions,
 *    which the parser and the checks produced at start-up for files with
 *    every kind of mistake. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "secrets.h"

#define FILENAME "secrets.conf"
#define KEY_RUN 8
#define WINDOW 12

/* Tunnels to check the keys against: IKE, ESP, AH, and both. */
static const char tunnels_text[] =
        "[tunnel head-office]\ntype = ike\nlocal = 192.0.2.1\nremote = 203.0.113.5\n"
        "[tunnel branch-manual]\ntype = manual\nlocal = 192.0.2.1\nremote = 198.51.100.7\n"
        "esp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n"
        "[tunnel old-router]\ntype = manual\nlocal = 192.0.2.1\nremote = 198.51.100.99\n"
        "ah = sha1\nah_spi_out = 600\nah_spi_in = 601\n"
        "[tunnel both]\ntype = manual\nlocal = 192.0.2.1\nremote = 198.51.100.98\n"
        "esp = aes128-sha256\nesp_spi_out = 0x2001\nesp_spi_in = 0x2002\n"
        "ah = sha256\nah_spi_out = 0x2003\nah_spi_in = 0x2004\n";

static BhTunnelSet *tunnels;
/* Every report text the parser can produce, numbers replaced by "0"; and
 * its substrings of KEY_RUN and of WINDOW bytes, for quick look-ups. */
static GString *vocabulary;
static GHashTable *runs, *windows;

/* Numbers (line numbers, lengths) vary: each run of digits becomes "0". */
static char *normalize(const char *s) {
        char *n = g_strdup(s), *o = n;
        for (const char *c = s; *c; c++) {
                if (g_ascii_isdigit(*c)) {
                        if (o > n && o[-1] == '0' && c > s && g_ascii_isdigit(c[-1]))
                                continue;
                        *o++ = '0';
                } else
                        *o++ = *c;
        }
        *o = '\0';
        return n;
}

/* The report without "FILENAME:LINE: ". */
static const char *report_text(const char *r) {
        const char *c = strchr(r, ':');
        c = c ? strchr(c + 1, ':') : NULL;
        return c && c[1] == ' ' ? c + 2 : r;
}

static void learn(const char *text, size_t len) {
        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        bh_secrets_parse(s, text, len, FILENAME, errors);
        for (guint i = 0; i < errors->len; i++) {
                g_autofree char *n = normalize(report_text(g_ptr_array_index(errors, i)));
                g_string_append(vocabulary, n);
                g_string_append_c(vocabulary, '\n');
        }
}

/* The reports of the checks against the tunnels: fixed text, numbers and
 * the names of the test tunnels. */
static void learn_checks(const char *text) {
        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        bh_secrets_parse(s, text, strlen(text), FILENAME, NULL);
        for (guint i = 0; i < bh_tunnel_set_size(tunnels); i++)
                bh_secrets_check_tunnel(s, bh_tunnel_set_get(tunnels, i), FILENAME, errors);
        bh_secrets_check_unused(s, tunnels, FILENAME, errors);
        for (guint i = 0; i < errors->len; i++) {
                g_autofree char *n = normalize(report_text(g_ptr_array_index(errors, i)));
                g_string_append(vocabulary, n);
                g_string_append_c(vocabulary, '\n');
        }
}

static void learn_text(const char *text) {
        g_autofree char *n = normalize(text);
        g_string_append(vocabulary, n);
        g_string_append_c(vocabulary, '\n');
}

/* One line for each report of secrets.c. */
static const char mistakes[] =
        "bogus\n"
        "psk\npsk a b c d\nesp a in\nesp a in 0x00 extra\nah a in\nah a in 0x00 extra\n"
        "psk bad/name 0x00\nesp t sideways 0x00\nah t up 0x00\n"
        "psk t nothex\nesp t in nothex\nah t in \"quoted\"\n"
        "psk t 0x\npsk t 0xzz\npsk t 0x123\n"
        "psk t \"unclosed\npsk t \"x\"y\npsk t \"\\q\"\npsk t \"\x01\"\npsk t \"\"\n"
        "psk d 0x00\npsk d 0x00\n"
        "esp d in 0x00\nesp d in 0x00\nesp d out 0x00\nesp d out 0x00\n"
        "ah d in 0x00\nah d in 0x00\nah d out 0x00\nah d out 0x00\n"
        "a line with a \0 NUL byte\n";

static void learn_vocabulary(void) {
        vocabulary = g_string_new(NULL);
        learn(mistakes, sizeof mistakes - 1);
        GString *s = g_string_new("psk t 0x");
        for (int i = 0; i < BH_SECRETS_KEY_MAX + 1; i++)
                g_string_append(s, "00");
        g_string_append(s, "\npsk t \"");
        for (int i = 0; i < BH_SECRETS_KEY_MAX + 1; i++)
                g_string_append_c(s, 'x');
        g_string_append(s, "\"\n");
        for (int i = 0; i < BH_SECRETS_LINE_MAX + 1; i++)
                g_string_append_c(s, '#');
        g_string_append_c(s, '\n');
        learn(s->str, s->len);
        g_string_free(s, TRUE);
        /* Not provoked here (too slow, or impossible on demand), written as
         * secrets.c has them. */
        g_autofree char *full = g_strdup_printf("more than %d entries: this line and the ones after it are ignored",
                                                BH_SECRETS_ENTRIES_MAX);
        learn_text(full);
        learn_text("out of memory for the key");

        /* Nothing: every key missing. Then keys of the wrong length, and
         * keys no tunnel uses. */
        learn_checks("");
        learn_checks("psk head-office 0x00\nesp branch-manual in 0x00\nesp branch-manual out 0x00\n"
                     "ah old-router in 0x00\nah old-router out 0x00\nesp both in 0x00\nesp both out 0x00\n"
                     "ah both in 0x00\nah both out 0x00\n");
        learn_checks("psk branch-manual 0x00\nesp head-office in 0x00\nah head-office out 0x00\n"
                     "ah branch-manual in 0x00\nesp old-router out 0x00\npsk both 0x00\npsk nobody 0x00\n");

        runs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        windows = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        for (size_t i = 0; i < vocabulary->len; i++) {
                if (i + KEY_RUN <= vocabulary->len)
                        g_hash_table_add(runs, g_strndup(vocabulary->str + i, KEY_RUN));
                if (i + WINDOW <= vocabulary->len)
                        g_hash_table_add(windows, g_strndup(vocabulary->str + i, WINDOW));
        }
}

static bool memmem_ci(const char *hay, size_t hay_len, const char *needle, size_t n) {
        for (size_t i = 0; n <= hay_len && i <= hay_len - n; i++)
                if (g_ascii_strncasecmp(hay + i, needle, n) == 0)
                        return true;
        return false;
}

static bool fixed_text(const uint8_t *run, size_t n) {
        g_autofree char *text = g_strndup((const char *) run, n);
        if (strlen(text) != n)
                return false;
        g_autofree char *norm = normalize(text);
        return strlen(norm) == KEY_RUN ? g_hash_table_contains(runs, norm) : strstr(vocabulary->str, norm) != NULL;
}

/* No KEY_RUN-byte run of any key, raw or in hex, in any report; unless the
 * run is fixed text itself (a passphrase may contain "manual tunnel"). */
static void check_no_key(const BhSecrets *s, const GPtrArray *reports) {
        static const char hexdigits[] = "0123456789abcdef";
        for (size_t e = 0; e < bh_secrets_size(s); e++) {
                const BhSecret *key = bh_secrets_get(s, e)->key;
                if (key->len < KEY_RUN)
                        continue;
                for (guint i = 0; i < reports->len; i++) {
                        const char *r = g_ptr_array_index(reports, i);
                        size_t rl = strlen(r);
                        for (size_t k = 0; k + KEY_RUN <= key->len; k++) {
                                char hex[2 * KEY_RUN];
                                for (size_t j = 0; j < KEY_RUN; j++) {
                                        hex[2 * j] = hexdigits[key->data[k + j] >> 4];
                                        hex[2 * j + 1] = hexdigits[key->data[k + j] & 15];
                                }
                                FUZZ_CHECK(!memmem(r, rl, key->data + k, KEY_RUN) || fixed_text(key->data + k, KEY_RUN),
                                           "bytes %zu..%zu of the key of entry %zu (line %zu) are in a report: %s", k,
                                           k + KEY_RUN, e, bh_secrets_get(s, e)->line, r);
                                FUZZ_CHECK(!memmem_ci(r, rl, hex, sizeof hex),
                                           "bytes %zu..%zu of the key of entry %zu (line %zu) are in a report, in hex: %s",
                                           k, k + KEY_RUN, e, bh_secrets_get(s, e)->line, r);
                        }
                }
        }
}

/* Every window of every parser report is fixed text. */
static void check_no_quote(const GPtrArray *reports) {
        for (guint i = 0; i < reports->len; i++) {
                g_autofree char *n = normalize(report_text(g_ptr_array_index(reports, i)));
                size_t len = strlen(n);
                if (len < WINDOW) {
                        FUZZ_CHECK(strstr(vocabulary->str, n), "report is not fixed text: %s",
                                   (const char *) g_ptr_array_index(reports, i));
                        continue;
                }
                for (size_t k = 0; k + WINDOW <= len; k++) {
                        char w[WINDOW + 1];
                        memcpy(w, n + k, WINDOW);
                        w[WINDOW] = '\0';
                        FUZZ_CHECK(g_hash_table_contains(windows, w),
                                   "report quotes the file (\"%s\" is not fixed text): %s", w,
                                   (const char *) g_ptr_array_index(reports, i));
                }
        }
}

static void check_entries(const BhSecrets *s, size_t n_lines) {
        for (size_t i = 0; i < bh_secrets_size(s); i++) {
                const BhSecretEntry *e = bh_secrets_get(s, i);
                FUZZ_CHECK(e->kind == BH_SECRET_PSK || e->kind == BH_SECRET_ESP || e->kind == BH_SECRET_AH,
                           "entry %zu: kind %d", i, (int) e->kind);
                FUZZ_CHECK(e->kind == BH_SECRET_PSK ? e->dir == BH_SECRET_DIR_NONE
                                                    : e->dir == BH_SECRET_IN || e->dir == BH_SECRET_OUT,
                           "entry %zu: direction %d", i, (int) e->dir);
                FUZZ_CHECK(bh_tunnel_name_valid(e->tunnel), "entry %zu: invalid tunnel name", i);
                FUZZ_CHECK(e->line >= 1 && e->line <= n_lines, "entry %zu: line %zu of %zu", i, e->line, n_lines);
                FUZZ_CHECK(e->key && e->key->data && e->key->len >= 1 && e->key->len <= BH_SECRETS_KEY_MAX,
                           "entry %zu: bad key", i);
                g_autofree char *upper = g_ascii_strup(e->tunnel, -1);
                FUZZ_CHECK(bh_secrets_find(s, e->kind, upper, e->dir) == e, "entry %zu not found", i);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        tunnels = bh_tunnel_set_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        bh_tunnel_set_parse(tunnels, tunnels_text, strlen(tunnels_text), "tunnels.conf", errors);
        bh_tunnel_set_finish(tunnels, NULL, errors);
        for (guint i = 0; i < errors->len; i++)
                if (!strstr(g_ptr_array_index(errors, i), ": warning: "))
                        fuzz_fail(__FILE__, __LINE__, "test tunnels: %s", (const char *) g_ptr_array_index(errors, i));
        if (bh_tunnel_set_size(tunnels) != 4)
                fuzz_fail(__FILE__, __LINE__, "test tunnels do not load");
        learn_vocabulary();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!tunnels)
                LLVMFuzzerInitialize(NULL, NULL);
        size_t n_lines = 1;
        for (size_t i = 0; i < size; i++)
                n_lines += data[i] == '\n';

        g_autoptr(BhSecrets) s = bh_secrets_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        int r = bh_secrets_parse(s, (const char *) data, size, FILENAME, errors);
        FUZZ_CHECK(r >= 0 && (guint) r == errors->len, "returned %d for %u reports", r, errors->len);
        fuzz_check_reports(errors, "secrets");
        for (guint i = 0; i < errors->len; i++) {
                const char *rep = g_ptr_array_index(errors, i);
                char *end;
                FUZZ_CHECK(g_str_has_prefix(rep, FILENAME ":"), "report without the file name: %s", rep);
                unsigned long line = strtoul(rep + strlen(FILENAME ":"), &end, 10);
                FUZZ_CHECK(g_str_has_prefix(end, ": ") && line >= 1 && line <= n_lines, "report line: %s", rep);
        }
        check_entries(s, n_lines);
        check_no_quote(errors);

        /* The checks against the tunnels name tunnels, never keys. */
        g_autoptr(GPtrArray) checks = g_ptr_array_new_with_free_func(g_free);
        for (guint i = 0; i < bh_tunnel_set_size(tunnels); i++)
                FUZZ_CHECK(bh_secrets_check_tunnel(s, bh_tunnel_set_get(tunnels, i), FILENAME, checks) >= 0,
                           "check_tunnel failed");
        FUZZ_CHECK(bh_secrets_check_unused(s, tunnels, FILENAME, checks) >= 0, "check_unused failed");
        fuzz_check_reports(checks, "secrets checks");
        check_no_key(s, errors);
        check_no_key(s, checks);
        check_no_quote(checks);

        /* Parsing again replaces the entries. */
        size_t n = bh_secrets_size(s);
        FUZZ_CHECK(bh_secrets_parse(s, (const char *) data, size, NULL, NULL) == r && bh_secrets_size(s) == n,
                   "second parse disagrees");
        return 0;
}
