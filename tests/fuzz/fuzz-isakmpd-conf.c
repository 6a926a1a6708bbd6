/* SPDX-License-Identifier: ISC */
/* isakmpd.conf(5), as logd reads it (untrusted: an operator's file, and a
 * parser that must never stop at a bad line).
 *
 * Checks besides the sanitizers: the return value counts the reports that
 * are not warnings; every report names the file and an existing line and is
 * one printable line; the result obeys the man page (paths absolute, no
 * trailing '/', no blanks or control characters, none has no file); parsing
 * again over a used struct gives the same result; and the result written
 * back as a file parses back equal and clean. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "isakmpd-conf.h"

#define FILENAME "isakmpd.conf"

static size_t count_lines(const uint8_t *data, size_t size) {
        size_t n = 1;
        for (size_t i = 0; i < size; i++)
                if (data[i] == '\n')
                        n++;
        return n;
}

static int check_reports(const GPtrArray *errors, size_t n_lines) {
        int n_bad = 0;
        fuzz_check_reports(errors, "isakmpd.conf");
        for (guint i = 0; i < errors->len; i++) {
                const char *r = g_ptr_array_index(errors, i);
                FUZZ_CHECK(g_str_has_prefix(r, FILENAME ":"), "report without the file name: %s", r);
                char *end;
                unsigned long line = strtoul(r + strlen(FILENAME ":"), &end, 10);
                FUZZ_CHECK(end != r + strlen(FILENAME ":") && g_str_has_prefix(end, ": "), "report without a line: %s",
                           r);
                FUZZ_CHECK(line >= 1 && line <= n_lines, "report names line %lu of %zu: %s", line, n_lines, r);
                if (!g_str_has_prefix(end, ": warning: "))
                        n_bad++;
        }
        return n_bad;
}

static void check_conf(const BhIsakmpdConf *conf) {
        FUZZ_CHECK(conf->level >= BH_LOG_NONE && conf->level <= _BH_LOG_MAX, "level %d", (int) conf->level);
        FUZZ_CHECK(conf->file[BH_LOG_NONE] == NULL, "level none has a file");
        for (int l = 1; l <= _BH_LOG_MAX; l++) {
                const char *f = conf->file[l];
                if (!f)
                        continue;
                size_t n = strlen(f);
                FUZZ_CHECK(f[0] == '/', "relative path accepted: %s", f);
                FUZZ_CHECK(f[n - 1] != '/', "path ending in / accepted: %s", f);
                for (size_t i = 0; i < n; i++)
                        FUZZ_CHECK((unsigned char) f[i] > 0x20 && f[i] != 0x7f,
                                   "path with a blank or control character accepted (byte %zu)", i);
        }
}

static bool conf_equal(const BhIsakmpdConf *a, const BhIsakmpdConf *b) {
        if (a->level != b->level || a->syslog != b->syslog)
                return false;
        for (int l = 0; l <= _BH_LOG_MAX; l++)
                if (g_strcmp0(a->file[l], b->file[l]) != 0)
                        return false;
        return true;
}

static bool reports_equal(const GPtrArray *a, const GPtrArray *b) {
        if (a->len != b->len)
                return false;
        for (guint i = 0; i < a->len; i++)
                if (strcmp(g_ptr_array_index(a, i), g_ptr_array_index(b, i)) != 0)
                        return false;
        return true;
}

/* The configuration as a file, in the words of the man page. */
static char *format_conf(const BhIsakmpdConf *conf) {
        GString *s = g_string_new(NULL);
        g_string_append_printf(s, "level %s\n", bh_log_level_to_string(conf->level));
        for (int l = 1; l <= _BH_LOG_MAX; l++)
                if (conf->file[l])
                        g_string_append_printf(s, "%s %s\n", bh_log_level_to_string(l), conf->file[l]);
        g_string_append_printf(s, "syslog %s\n", conf->syslog ? "yes" : "no");
        return g_string_free(s, FALSE);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_auto(BhIsakmpdConf) conf = { 0 };
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);

        bh_isakmpd_conf_init(&conf);
        int r = bh_isakmpd_conf_parse(&conf, (const char *) data, size, FILENAME, errors);
        FUZZ_CHECK(r >= 0, "parse returned %d", r);
        FUZZ_CHECK(r == check_reports(errors, count_lines(data, size)), "returned %d for %u reports", r, errors->len);
        check_conf(&conf);

        /* Again over the used struct, without reports: the same result. */
        g_auto(BhIsakmpdConf) again = { 0 };
        g_autoptr(GPtrArray) errors2 = g_ptr_array_new_with_free_func(g_free);
        bh_isakmpd_conf_init(&again);
        again.file[BH_LOG_DEBUG] = g_strdup("/left/over");
        again.syslog = false;
        FUZZ_CHECK(bh_isakmpd_conf_parse(&again, (const char *) data, size, FILENAME, errors2) == r,
                   "second parse disagrees");
        FUZZ_CHECK(conf_equal(&conf, &again) && reports_equal(errors, errors2), "second parse gives another result");
        FUZZ_CHECK(bh_isakmpd_conf_parse(&again, (const char *) data, size, NULL, NULL) == r,
                   "parse without reports disagrees");

        /* What was understood, written back, reads back the same. */
        g_autofree char *text = format_conf(&conf);
        g_auto(BhIsakmpdConf) back = { 0 };
        g_autoptr(GPtrArray) errors3 = g_ptr_array_new_with_free_func(g_free);
        bh_isakmpd_conf_init(&back);
        int r3 = bh_isakmpd_conf_parse(&back, text, strlen(text), FILENAME, errors3);
        FUZZ_CHECK(r3 == 0, "canonical form rejected (%d): %s", r3,
                   errors3->len ? (const char *) g_ptr_array_index(errors3, 0) : "");
        FUZZ_CHECK(conf_equal(&conf, &back), "canonical form reads back different:\n%s", text);

        for (int f = 0; f <= _BH_LOG_MAX; f++)
                for (int l = 0; l <= _BH_LOG_MAX; l++)
                        FUZZ_CHECK(bh_isakmpd_conf_routes(l, f) == (l > 0 && l <= f), "routes(%d, %d)", l, f);
        return 0;
}
