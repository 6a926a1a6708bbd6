/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "fileread.h"
#include "isakmpd-conf.h"

/* Longest piece of an offending word quoted back in a report: enough to
 * recognise it, short enough that a hostile line cannot flood the log. */
#define QUOTE_MAX 64

#define LEVEL_CHOICES "none, errors, events, information or debug"

/* Untrusted: everything below reads isakmpd.conf text. Lines are bounded,
 * copied into a stack buffer and split there; no byte of the text is trusted
 * to be printable, NUL-free or newline-terminated. */

typedef struct ParseState {
        BhIsakmpdConf *conf;
        const char *filename;
        GPtrArray *errors;              /* may be NULL */
        size_t line;                    /* 1-based number of the current line */
        int n_bad;
        /* Line that last set each setting, 0 = not yet: for duplicate warnings. */
        size_t level_line;
        size_t syslog_line;
        size_t file_line[_BH_LOG_MAX + 1];
} ParseState;

void bh_isakmpd_conf_init(BhIsakmpdConf *conf) {
        g_return_if_fail(conf);

        *conf = (BhIsakmpdConf) {
                .level = BH_LOG_EVENTS,
                .syslog = true,
        };
}

void bh_isakmpd_conf_clear(BhIsakmpdConf *conf) {
        if (!conf)
                return;

        for (size_t i = 0; i < G_N_ELEMENTS(conf->file); i++)
                g_clear_pointer(&conf->file[i], g_free);
        bh_isakmpd_conf_init(conf);
}

bool bh_isakmpd_conf_routes(BhLogLevel line_level, BhLogLevel file_level) {
        return bh_log_level_enabled(line_level, file_level);
}

/* A word as it can safely appear in a report: quoted, non-printable bytes
 * escaped (a terminal must not interpret them), long words cut. */
static char *quote_word(const char *w) {
        GString *s = g_string_new("\"");
        size_t i;

        for (i = 0; w[i] != '\0' && i < QUOTE_MAX; i++) {
                unsigned char c = (unsigned char) w[i];

                if (c == '"' || c == '\\')
                        g_string_append_printf(s, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        g_string_append_printf(s, "\\x%02x", c);
                else
                        g_string_append_c(s, (char) c);
        }
        g_string_append_c(s, '"');
        if (w[i] != '\0')
                g_string_append(s, "...");

        return g_string_free(s, FALSE);
}

G_GNUC_PRINTF(3, 0)
static void report_valist(ParseState *st, const char *kind, const char *format, va_list ap) {
        g_autofree char *msg = NULL;

        if (!st->errors)
                return;

        msg = g_strdup_vprintf(format, ap);
        g_ptr_array_add(st->errors, g_strdup_printf("%s:%zu: %s%s", st->filename, st->line, kind, msg));
}

/* The line is skipped: counts towards the return value. */
G_GNUC_PRINTF(2, 3)
static void bad_line(ParseState *st, const char *format, ...) {
        va_list ap;

        if (st->n_bad < INT_MAX)
                st->n_bad++;

        va_start(ap, format);
        report_valist(st, "", format, ap);
        va_end(ap);
}

/* The line took effect, but probably not as its author meant. */
G_GNUC_PRINTF(2, 3)
static void warn_line(ParseState *st, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        report_valist(st, "warning: ", format, ap);
        va_end(ap);
}

/* '\r' counts as a blank so that files edited on other systems still parse. */
static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* Splits p in place into at most `max` words. A '#' that begins a word starts
 * a comment; inside a word (a path) it is an ordinary character. Every
 * setting takes one value, so callers ask for one word more than they accept
 * and treat a last word as "extra". */
static size_t split_words(char *p, char **words, size_t max) {
        size_t n = 0;

        while (n < max) {
                while (is_blank(*p))
                        p++;
                if (*p == '\0' || *p == '#')
                        break;

                words[n++] = p;
                while (*p != '\0' && !is_blank(*p))
                        p++;
                if (*p == '\0')
                        break;
                *p++ = '\0';
        }

        return n;
}

/* Returns why `path` cannot name a log file, or NULL if it can. */
static const char *path_problem(const char *path) {
        size_t n = strlen(path);

        /* Relative to what? logd's working directory is nobody's business. */
        if (path[0] != '/')
                return "is not an absolute path";
        if (path[n - 1] == '/')
                return "ends with '/' (that is a directory, not a file)";
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) path[i] < 0x20 || path[i] == 0x7f)
                        return "contains a control character";

        return NULL;
}

/* yes|no, plus the spellings other configuration files have taught people. */
static int parse_yes_no(const char *s, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on" };
        static const char *const no[] = { "no", "false", "off" };

        for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
                if (g_ascii_strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (g_ascii_strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }

        return -EINVAL;
}

static void parse_level_setting(ParseState *st, char **words, size_t n_words) {
        g_autofree char *q = NULL;
        BhLogLevel level;

        if (n_words < 2) {
                bad_line(st, "\"level\" needs a value (" LEVEL_CHOICES ")");
                return;
        }
        if (bh_log_level_from_string(words[1], &level) < 0) {
                q = quote_word(words[1]);
                bad_line(st, "unknown level %s (expected " LEVEL_CHOICES ")", q);
                return;
        }
        if (n_words > 2) {
                q = quote_word(words[2]);
                bad_line(st, "unexpected %s after the level (\"level\" takes one value)", q);
                return;
        }

        if (st->level_line > 0)
                warn_line(st, "\"level\" is set again; this line overrides line %zu", st->level_line);
        st->conf->level = level;
        st->level_line = st->line;
}

static void parse_syslog_setting(ParseState *st, char **words, size_t n_words) {
        g_autofree char *q = NULL;
        bool on;

        if (n_words < 2) {
                bad_line(st, "\"syslog\" needs a value (yes or no)");
                return;
        }
        if (parse_yes_no(words[1], &on) < 0) {
                q = quote_word(words[1]);
                bad_line(st, "\"syslog\" takes yes or no, not %s", q);
                return;
        }
        if (n_words > 2) {
                q = quote_word(words[2]);
                bad_line(st, "unexpected %s after the value (\"syslog\" takes one value)", q);
                return;
        }

        if (st->syslog_line > 0)
                warn_line(st, "\"syslog\" is set again; this line overrides line %zu", st->syslog_line);
        st->conf->syslog = on;
        st->syslog_line = st->line;
}

static void parse_file_setting(ParseState *st, BhLogLevel level, char **words, size_t n_words) {
        g_autofree char *q = NULL;
        const char *name = bh_log_level_to_string(level);
        const char *problem;

        if (level == BH_LOG_NONE) {
                bad_line(st, "level \"none\" cannot have a file (nothing is logged at it)");
                return;
        }
        if (n_words < 2) {
                q = quote_word(words[0]);
                bad_line(st, "%s needs the absolute path of a file", q);
                return;
        }
        problem = path_problem(words[1]);
        if (problem) {
                q = quote_word(words[1]);
                bad_line(st, "%s file %s %s", name, q, problem);
                return;
        }
        if (n_words > 2) {
                q = quote_word(words[2]);
                bad_line(st, "unexpected %s after the path (one file per level; paths cannot contain blanks)", q);
                return;
        }

        if (st->file_line[level] > 0)
                warn_line(st, "the %s file is set again; this line overrides line %zu", name, st->file_line[level]);

        /* Legal, but with the routing rule every line both levels take would
         * land in that file twice. Checked against the settings in force now;
         * an override further down is not foreseen. */
        for (int other = BH_LOG_ERRORS; other <= _BH_LOG_MAX; other++) {
                if (other == (int) level || g_strcmp0(st->conf->file[other], words[1]) != 0)
                        continue;

                q = quote_word(words[1]);
                warn_line(st, "%s is also the %s file (line %zu); lines at both levels would be written to it twice",
                          q, bh_log_level_to_string((BhLogLevel) other), st->file_line[other]);
                break;
        }

        g_free(st->conf->file[level]);
        st->conf->file[level] = g_strdup(words[1]);
        st->file_line[level] = st->line;
}

static void parse_line(ParseState *st, const char *line, size_t n) {
        char buf[BH_ISAKMPD_CONF_LINE_MAX + 1];
        char *words[3];
        size_t n_words;
        BhLogLevel level;

        if (n > BH_ISAKMPD_CONF_LINE_MAX) {
                bad_line(st, "line is longer than %d bytes", BH_ISAKMPD_CONF_LINE_MAX);
                return;
        }
        /* A NUL would silently cut the line (and a path) short once split. */
        if (memchr(line, '\0', n)) {
                bad_line(st, "line contains a NUL byte");
                return;
        }

        memcpy(buf, line, n);
        buf[n] = '\0';
        n_words = split_words(buf, words, G_N_ELEMENTS(words));
        if (n_words == 0)
                return;

        if (g_ascii_strcasecmp(words[0], "level") == 0)
                parse_level_setting(st, words, n_words);
        else if (g_ascii_strcasecmp(words[0], "syslog") == 0)
                parse_syslog_setting(st, words, n_words);
        else if (bh_log_level_from_string(words[0], &level) >= 0)
                parse_file_setting(st, level, words, n_words);
        else {
                g_autofree char *q = quote_word(words[0]);

                bad_line(st, "unknown keyword %s (expected level, syslog, errors, events, information or debug)", q);
        }
}

int bh_isakmpd_conf_parse(
                BhIsakmpdConf *conf,
                const char *text,
                size_t len,
                const char *filename,
                GPtrArray *ret_errors) {

        ParseState st = {
                .conf = conf,
                .filename = filename ? filename : "isakmpd.conf",
                .errors = ret_errors,
        };
        size_t off = 0;

        g_return_val_if_fail(conf, -EINVAL);
        g_return_val_if_fail(text || len == 0, -EINVAL);

        bh_isakmpd_conf_clear(conf);

        while (off < len) {
                const char *line = text + off;
                const char *nl = memchr(line, '\n', len - off);
                size_t n = nl ? (size_t) (nl - line) : len - off;

                off += nl ? n + 1 : n;
                st.line++;
                parse_line(&st, line, n);
        }

        return st.n_bad;
}

int bh_isakmpd_conf_load(BhIsakmpdConf *conf, const char *path, GPtrArray *ret_errors) {
        g_autofree char *text = NULL;
        size_t len = 0;
        int r;

        g_return_val_if_fail(conf, -EINVAL);
        g_return_val_if_fail(path, -EINVAL);

        bh_isakmpd_conf_clear(conf);

        r = bh_read_bounded(path, BH_ISAKMPD_CONF_SIZE_MAX, &text, &len);
        if (r == -ENOENT)
                return 0;       /* no file: the defaults are the configuration */
        if (r < 0)
                return r;

        return bh_isakmpd_conf_parse(conf, text, len, path, ret_errors);
}
