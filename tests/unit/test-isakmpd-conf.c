/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "isakmpd-conf.h"

#define FUZZ_ROUNDS 5000
#define FUZZ_SEED 0xb01c4eadu

static const char full_file[] =
        "# isakmpd.conf for the tests\n"
        "\n"
        "level information            # what `ike cmd=log` turns on\n"
        "errors      /var/log/bulkhead/isakmpd.errors\n"
        "events\t/var/log/bulkhead/isakmpd.events\n"
        "   information /var/log/bulkhead/isakmpd.log   \n"
        "debug       /var/log/bulkhead/isakmpd.debug\n"
        "syslog no\n";

/* Parses a NUL-terminated string with a fresh errors array. */
static int parse_str(BhIsakmpdConf *conf, const char *text, GPtrArray **ret_errors) {
        *ret_errors = g_ptr_array_new_with_free_func(g_free);
        return bh_isakmpd_conf_parse(conf, text, strlen(text), "test.conf", *ret_errors);
}

static void dump_errors(const GPtrArray *errors) {
        for (guint i = 0; i < errors->len; i++)
                g_test_message("report: %s", (const char *) errors->pdata[i]);
}

static void assert_defaults(const BhIsakmpdConf *conf) {
        g_assert_cmpint(conf->level, ==, BH_LOG_EVENTS);
        g_assert_true(conf->syslog);
        for (size_t i = 0; i < G_N_ELEMENTS(conf->file); i++)
                g_assert_null(conf->file[i]);
}

static void test_full(void) {
        g_auto(BhIsakmpdConf) conf = { 0 };
        g_autoptr(GPtrArray) errors = NULL;

        g_assert_cmpint(parse_str(&conf, full_file, &errors), ==, 0);
        dump_errors(errors);
        g_assert_cmpuint(errors->len, ==, 0);

        g_assert_cmpint(conf.level, ==, BH_LOG_INFORMATION);
        g_assert_false(conf.syslog);
        g_assert_null(conf.file[BH_LOG_NONE]);
        g_assert_cmpstr(conf.file[BH_LOG_ERRORS], ==, "/var/log/bulkhead/isakmpd.errors");
        g_assert_cmpstr(conf.file[BH_LOG_EVENTS], ==, "/var/log/bulkhead/isakmpd.events");
        g_assert_cmpstr(conf.file[BH_LOG_INFORMATION], ==, "/var/log/bulkhead/isakmpd.log");
        g_assert_cmpstr(conf.file[BH_LOG_DEBUG], ==, "/var/log/bulkhead/isakmpd.debug");
}

static void test_defaults(void) {
        static const char *const texts[] = {
                "", "\n", "\n\n\n", "# nothing\n", "   \t \n", "#", "  # comment only",
                "\r\n", "#level debug\n#syslog no\n",
        };
        g_auto(BhIsakmpdConf) conf = { 0 };

        bh_isakmpd_conf_init(&conf);
        assert_defaults(&conf);

        g_assert_cmpint(bh_isakmpd_conf_parse(&conf, NULL, 0, NULL, NULL), ==, 0);
        assert_defaults(&conf);

        for (size_t i = 0; i < G_N_ELEMENTS(texts); i++) {
                g_autoptr(GPtrArray) errors = NULL;

                g_test_message("text \"%s\"", texts[i]);
                g_assert_cmpint(parse_str(&conf, texts[i], &errors), ==, 0);
                g_assert_cmpuint(errors->len, ==, 0);
                assert_defaults(&conf);
        }
}

static void test_syntax(void) {
        static const struct {
                const char *text;
                BhLogLevel level;
                bool syslog;
                BhLogLevel file_level;
                const char *file;
        } cases[] = {
                /* Keywords and level words are case-insensitive, aliases and digits work. */
                { "LEVEL DEBUG\n",                       BH_LOG_DEBUG,       true,  BH_LOG_NONE,        NULL },
                { "Level err\n",                         BH_LOG_ERRORS,      true,  BH_LOG_NONE,        NULL },
                { "level 3\n",                           BH_LOG_INFORMATION, true,  BH_LOG_NONE,        NULL },
                { "level none\n",                        BH_LOG_NONE,        true,  BH_LOG_NONE,        NULL },
                { "SYSLOG No\n",                         BH_LOG_EVENTS,      false, BH_LOG_NONE,        NULL },
                { "syslog off\n",                        BH_LOG_EVENTS,      false, BH_LOG_NONE,        NULL },
                { "syslog false\n",                      BH_LOG_EVENTS,      false, BH_LOG_NONE,        NULL },
                { "syslog YES\n",                        BH_LOG_EVENTS,      true,  BH_LOG_NONE,        NULL },
                { "syslog on\n",                         BH_LOG_EVENTS,      true,  BH_LOG_NONE,        NULL },
                { "syslog true\n",                       BH_LOG_EVENTS,      true,  BH_LOG_NONE,        NULL },
                { "error /e\n",                          BH_LOG_EVENTS,      true,  BH_LOG_ERRORS,      "/e" },
                { "ERR /e\n",                            BH_LOG_EVENTS,      true,  BH_LOG_ERRORS,      "/e" },
                { "1 /e\n",                              BH_LOG_EVENTS,      true,  BH_LOG_ERRORS,      "/e" },
                { "event /v\n",                          BH_LOG_EVENTS,      true,  BH_LOG_EVENTS,      "/v" },
                { "Info /i\n",                           BH_LOG_EVENTS,      true,  BH_LOG_INFORMATION, "/i" },
                { "DEBUG /d\n",                          BH_LOG_EVENTS,      true,  BH_LOG_DEBUG,       "/d" },
                /* Blanks: tabs, several, leading, trailing, CRLF line ends. */
                { "\t debug \t /d \t\n",                 BH_LOG_EVENTS,      true,  BH_LOG_DEBUG,       "/d" },
                { "level debug\r\ndebug /d\r\n",         BH_LOG_DEBUG,       true,  BH_LOG_DEBUG,       "/d" },
                /* Last line without a newline. */
                { "level debug\ndebug /d",               BH_LOG_DEBUG,       true,  BH_LOG_DEBUG,       "/d" },
                /* A comment begins a word; a '#' inside a path belongs to it. */
                { "debug /d#1 # comment /x\n",           BH_LOG_EVENTS,      true,  BH_LOG_DEBUG,       "/d#1" },
                { "debug /d #/x\n",                      BH_LOG_EVENTS,      true,  BH_LOG_DEBUG,       "/d" },
                /* Non-ASCII bytes are legal in a path. */
                { "debug /var/log/\xc3\xa9t\xc3\xa9\n",  BH_LOG_EVENTS,      true,  BH_LOG_DEBUG,       "/var/log/\xc3\xa9t\xc3\xa9" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(BhIsakmpdConf) conf = { 0 };
                g_autoptr(GPtrArray) errors = NULL;
                int r;

                g_test_message("case %zu: %s", i, cases[i].text);
                r = parse_str(&conf, cases[i].text, &errors);
                dump_errors(errors);
                g_assert_cmpint(r, ==, 0);
                g_assert_cmpuint(errors->len, ==, 0);
                g_assert_cmpint(conf.level, ==, cases[i].level);
                g_assert_cmpint(conf.syslog, ==, cases[i].syslog);
                for (int l = BH_LOG_NONE; l <= _BH_LOG_MAX; l++)
                        g_assert_cmpstr(conf.file[l], ==, l == (int) cases[i].file_level ? cases[i].file : NULL);
        }
}

/* Each bad line is put between good ones, as line 3 of 5. */
#define GOOD_BEFORE "level debug\nerrors /var/log/e\n"
#define GOOD_AFTER  "information /var/log/i\nsyslog no\n"

static const struct {
        const char *line;
        size_t len;             /* 0: strlen(line) */
        const char *reason;
} bad_lines[] = {
        /* unknown keyword */
        { "verbose /var/log/x", 0,
          "unknown keyword \"verbose\" (expected level, syslog, errors, events, information or debug)" },
        { "level=events", 0,
          "unknown keyword \"level=events\" (expected level, syslog, errors, events, information or debug)" },
        { "warnings /var/log/w", 0,
          "unknown keyword \"warnings\" (expected level, syslog, errors, events, information or debug)" },
        { "5 /var/log/x", 0,
          "unknown keyword \"5\" (expected level, syslog, errors, events, information or debug)" },
        /* Non-printable bytes come back escaped, long words cut. */
        { "\x1b[31mred /x", 0,
          "unknown keyword \"\\x1b[31mred\" (expected level, syslog, errors, events, information or debug)" },
        { "a\"b\\c /x", 0,
          "unknown keyword \"a\\\"b\\\\c\" (expected level, syslog, errors, events, information or debug)" },
        { "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 0,
          "unknown keyword \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"... "
          "(expected level, syslog, errors, events, information or debug)" },
        /* unknown level */
        { "level verbose", 0,
          "unknown level \"verbose\" (expected none, errors, events, information or debug)" },
        /* A '#' inside a word is no comment. */
        { "level errors#no", 0,
          "unknown level \"errors#no\" (expected none, errors, events, information or debug)" },
        { "level 7", 0,
          "unknown level \"7\" (expected none, errors, events, information or debug)" },
        /* bad syslog value */
        { "syslog maybe", 0, "\"syslog\" takes yes or no, not \"maybe\"" },
        /* relative path, directory, control character */
        { "events var/log/x", 0, "events file \"var/log/x\" is not an absolute path" },
        { "debug ./x", 0, "debug file \"./x\" is not an absolute path" },
        { "info ~/x", 0, "information file \"~/x\" is not an absolute path" },
        { "debug /var/log/", 0, "debug file \"/var/log/\" ends with '/' (that is a directory, not a file)" },
        { "debug /", 0, "debug file \"/\" ends with '/' (that is a directory, not a file)" },
        { "debug /var/log/a\x01" "b", 0, "debug file \"/var/log/a\\x01b\" contains a control character" },
        { "debug /var/log/a\x7f", 0, "debug file \"/var/log/a\\x7f\" contains a control character" },
        /* missing argument */
        { "level", 0, "\"level\" needs a value (none, errors, events, information or debug)" },
        { "syslog   # yes", 0, "\"syslog\" needs a value (yes or no)" },
        { "debug", 0, "\"debug\" needs the absolute path of a file" },
        { "  Err  ", 0, "\"Err\" needs the absolute path of a file" },
        /* extra argument */
        { "level events errors", 0, "unexpected \"errors\" after the level (\"level\" takes one value)" },
        { "syslog yes please", 0, "unexpected \"please\" after the value (\"syslog\" takes one value)" },
        { "events /var/log/my events", 0,
          "unexpected \"events\" after the path (one file per level; paths cannot contain blanks)" },
        /* none cannot have a file */
        { "none /var/log/x", 0, "level \"none\" cannot have a file (nothing is logged at it)" },
        { "NONE", 0, "level \"none\" cannot have a file (nothing is logged at it)" },
        { "0 /var/log/x", 0, "level \"none\" cannot have a file (nothing is logged at it)" },
        /* NUL bytes, in a setting or in a comment */
        { "events /var/log/a\0b", sizeof("events /var/log/a\0b") - 1, "line contains a NUL byte" },
        { "# a comment \0 with a NUL", sizeof("# a comment \0 with a NUL") - 1, "line contains a NUL byte" },
        { "\0", 1, "line contains a NUL byte" },
};

static void test_bad_lines(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(bad_lines); i++) {
                g_auto(BhIsakmpdConf) conf = { 0 };
                g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
                g_autoptr(GByteArray) text = g_byte_array_new();
                g_autofree char *expect = g_strconcat("test.conf:3: ", bad_lines[i].reason, NULL);
                size_t len = bad_lines[i].len > 0 ? bad_lines[i].len : strlen(bad_lines[i].line);

                g_byte_array_append(text, (const guint8 *) GOOD_BEFORE, strlen(GOOD_BEFORE));
                g_byte_array_append(text, (const guint8 *) bad_lines[i].line, len);
                g_byte_array_append(text, (const guint8 *) "\n" GOOD_AFTER, strlen("\n" GOOD_AFTER));

                g_test_message("case %zu: %s", i, bad_lines[i].reason);
                g_assert_cmpint(bh_isakmpd_conf_parse(&conf, (const char *) text->data, text->len, "test.conf", errors), ==, 1);
                dump_errors(errors);
                g_assert_cmpuint(errors->len, ==, 1);
                g_assert_cmpstr(errors->pdata[0], ==, expect);

                /* The lines around it took effect, the bad one did not. */
                g_assert_cmpint(conf.level, ==, BH_LOG_DEBUG);
                g_assert_false(conf.syslog);
                g_assert_null(conf.file[BH_LOG_NONE]);
                g_assert_cmpstr(conf.file[BH_LOG_ERRORS], ==, "/var/log/e");
                g_assert_null(conf.file[BH_LOG_EVENTS]);
                g_assert_cmpstr(conf.file[BH_LOG_INFORMATION], ==, "/var/log/i");
                g_assert_null(conf.file[BH_LOG_DEBUG]);

                /* Same count without a place to report to. */
                g_assert_cmpint(bh_isakmpd_conf_parse(&conf, (const char *) text->data, text->len, "test.conf", NULL), ==, 1);
        }
}

static void test_example_message(void) {
        static const char text[] =
                "# line 1\n\nlevel events\n\nerrors /var/log/bulkhead/isakmpd.errors\n\nlevel verbose\n";
        g_auto(BhIsakmpdConf) conf = { 0 };
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);

        /* NULL filename reads as "isakmpd.conf". */
        g_assert_cmpint(bh_isakmpd_conf_parse(&conf, text, strlen(text), NULL, errors), ==, 1);
        g_assert_cmpuint(errors->len, ==, 1);
        g_assert_cmpstr(errors->pdata[0], ==,
                        "isakmpd.conf:7: unknown level \"verbose\" (expected none, errors, events, information or debug)");
}

static void test_many_bad_lines(void) {
        static const char text[] =
                "level loud\n"                  /* 1 bad */
                "errors /var/log/e\n"           /* 2 */
                "events rel\n"                  /* 3 bad */
                "bogus\n"                       /* 4 bad */
                "syslog no\n"                   /* 5 */
                "none /x\n"                     /* 6 bad */
                "debug /var/log/d extra\n"      /* 7 bad */
                "level info\n";                 /* 8 */
        static const char *const prefixes[] = {
                "test.conf:1: ", "test.conf:3: ", "test.conf:4: ", "test.conf:6: ", "test.conf:7: ",
        };
        g_auto(BhIsakmpdConf) conf = { 0 };
        g_autoptr(GPtrArray) errors = NULL;

        g_assert_cmpint(parse_str(&conf, text, &errors), ==, 5);
        dump_errors(errors);
        g_assert_cmpuint(errors->len, ==, G_N_ELEMENTS(prefixes));
        for (size_t i = 0; i < G_N_ELEMENTS(prefixes); i++)
                g_assert_true(g_str_has_prefix(errors->pdata[i], prefixes[i]));

        g_assert_cmpint(conf.level, ==, BH_LOG_INFORMATION);
        g_assert_false(conf.syslog);
        g_assert_cmpstr(conf.file[BH_LOG_ERRORS], ==, "/var/log/e");
        g_assert_null(conf.file[BH_LOG_EVENTS]);
        g_assert_null(conf.file[BH_LOG_DEBUG]);
}

static void test_line_length(void) {
        const size_t max = BH_ISAKMPD_CONF_LINE_MAX;
        g_autoptr(GString) text = g_string_new(NULL);
        g_autofree char *long_path = NULL;
        g_auto(BhIsakmpdConf) conf = { 0 };
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *expect = NULL;
        GString *path;

        /* Line 1: exactly at the limit ("debug " + path), accepted. */
        path = g_string_new("/");
        while (path->len < max - strlen("debug "))
                g_string_append_c(path, 'p');
        long_path = g_string_free(path, FALSE);
        g_string_append_printf(text, "debug %s\n", long_path);
        /* Line 2: one byte over, even as a comment, rejected. */
        g_string_append_c(text, '#');
        for (size_t i = 1; i < max + 1; i++)
                g_string_append_c(text, 'c');
        g_string_append_c(text, '\n');
        /* Line 3: far over, with a setting that must not apply. */
        g_string_append(text, "errors /");
        for (size_t i = 0; i < 100000; i++)
                g_string_append_c(text, 'x');
        g_string_append_c(text, '\n');
        /* Line 4: still parsed after all that. */
        g_string_append(text, "level errors\n");

        g_assert_cmpint(bh_isakmpd_conf_parse(&conf, text->str, text->len, "test.conf", errors), ==, 2);
        g_assert_cmpuint(errors->len, ==, 2);
        expect = g_strdup_printf("test.conf:2: line is longer than %d bytes", BH_ISAKMPD_CONF_LINE_MAX);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_free(g_steal_pointer(&expect));
        expect = g_strdup_printf("test.conf:3: line is longer than %d bytes", BH_ISAKMPD_CONF_LINE_MAX);
        g_assert_cmpstr(errors->pdata[1], ==, expect);

        g_assert_cmpstr(conf.file[BH_LOG_DEBUG], ==, long_path);
        g_assert_null(conf.file[BH_LOG_ERRORS]);
        g_assert_cmpint(conf.level, ==, BH_LOG_ERRORS);
}

static void test_duplicates(void) {
        static const struct {
                const char *text;
                int bad;
                const char *report;     /* the only one expected; NULL: none */
                BhLogLevel level;
                bool syslog;
                const char *debug_file;
                const char *events_file;
        } cases[] = {
                { "level errors\nlevel debug\n", 0,
                  "test.conf:2: warning: \"level\" is set again; this line overrides line 1",
                  BH_LOG_DEBUG, true, NULL, NULL },
                { "syslog no\n\n# x\nsyslog yes\n", 0,
                  "test.conf:4: warning: \"syslog\" is set again; this line overrides line 1",
                  BH_LOG_EVENTS, true, NULL, NULL },
                { "debug /a\ndebug /b\n", 0,
                  "test.conf:2: warning: the debug file is set again; this line overrides line 1",
                  BH_LOG_EVENTS, true, "/b", NULL },
                /* An alias names the same setting. */
                { "event /a\n4 /d\nEVENTS /b\n", 0,
                  "test.conf:3: warning: the events file is set again; this line overrides line 1",
                  BH_LOG_EVENTS, true, "/d", "/b" },
                /* One file for two levels: legal, but lines would be doubled. */
                { "events /same\ndebug /same\n", 0,
                  "test.conf:2: warning: \"/same\" is also the events file (line 1); "
                  "lines at both levels would be written to it twice",
                  BH_LOG_EVENTS, true, "/same", "/same" },
                /* A bad line is no setting: nothing is overridden, nothing duplicated. */
                { "level errors\nlevel bogus\n", 1,
                  "test.conf:2: unknown level \"bogus\" (expected none, errors, events, information or debug)",
                  BH_LOG_ERRORS, true, NULL, NULL },
                { "level bogus\nlevel errors\n", 1,
                  "test.conf:1: unknown level \"bogus\" (expected none, errors, events, information or debug)",
                  BH_LOG_ERRORS, true, NULL, NULL },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_auto(BhIsakmpdConf) conf = { 0 };
                g_autoptr(GPtrArray) errors = NULL;

                g_test_message("case %zu: %s", i, cases[i].text);
                g_assert_cmpint(parse_str(&conf, cases[i].text, &errors), ==, cases[i].bad);
                dump_errors(errors);
                g_assert_cmpuint(errors->len, ==, cases[i].report ? 1 : 0);
                if (cases[i].report)
                        g_assert_cmpstr(errors->pdata[0], ==, cases[i].report);
                g_assert_cmpint(conf.level, ==, cases[i].level);
                g_assert_cmpint(conf.syslog, ==, cases[i].syslog);
                g_assert_cmpstr(conf.file[BH_LOG_DEBUG], ==, cases[i].debug_file);
                g_assert_cmpstr(conf.file[BH_LOG_EVENTS], ==, cases[i].events_file);
        }
}

static void test_reparse_resets(void) {
        g_auto(BhIsakmpdConf) conf = { 0 };
        g_autoptr(GPtrArray) errors = NULL;

        g_assert_cmpint(parse_str(&conf, full_file, &errors), ==, 0);
        g_assert_nonnull(conf.file[BH_LOG_DEBUG]);

        /* The second text says nothing about files: none must survive. */
        g_clear_pointer(&errors, g_ptr_array_unref);
        g_assert_cmpint(parse_str(&conf, "level debug\n", &errors), ==, 0);
        g_assert_cmpint(conf.level, ==, BH_LOG_DEBUG);
        g_assert_true(conf.syslog);
        for (size_t i = 0; i < G_N_ELEMENTS(conf.file); i++)
                g_assert_null(conf.file[i]);

        bh_isakmpd_conf_clear(&conf);
        assert_defaults(&conf);
        bh_isakmpd_conf_clear(&conf);   /* twice is fine */
        bh_isakmpd_conf_clear(NULL);
}

static void test_routes(void) {
        /* Row: line level; column: file level. The "information" file holds
         * errors, events and information lines; the "errors" file errors only. */
        static const bool expect[_BH_LOG_MAX + 1][_BH_LOG_MAX + 1] = {
                /*                         none   errors events info   debug */
                [BH_LOG_NONE]        = { false, false, false, false, false },
                [BH_LOG_ERRORS]      = { false, true,  true,  true,  true  },
                [BH_LOG_EVENTS]      = { false, false, true,  true,  true  },
                [BH_LOG_INFORMATION] = { false, false, false, true,  true  },
                [BH_LOG_DEBUG]       = { false, false, false, false, true  },
        };

        for (int line = 0; line <= _BH_LOG_MAX; line++)
                for (int file = 0; file <= _BH_LOG_MAX; file++) {
                        g_test_message("line %d, file %d", line, file);
                        g_assert_cmpint(bh_isakmpd_conf_routes((BhLogLevel) line, (BhLogLevel) file), ==, expect[line][file]);
                }

        g_assert_false(bh_isakmpd_conf_routes((BhLogLevel) -1, BH_LOG_DEBUG));
        g_assert_false(bh_isakmpd_conf_routes(BH_LOG_ERRORS, (BhLogLevel) 5));
        g_assert_false(bh_isakmpd_conf_routes((BhLogLevel) 5, (BhLogLevel) 6));
}

static void test_load(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("bh-isakmpd-conf-XXXXXX", &error);
        g_autofree char *missing = NULL, *good = NULL, *bad = NULL, *big = NULL, *expect = NULL;
        g_autofree char *huge = NULL;
        g_auto(BhIsakmpdConf) conf = { 0 };
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);

        g_assert_no_error(error);
        missing = g_build_filename(dir, "missing.conf", NULL);
        good = g_build_filename(dir, "good.conf", NULL);
        bad = g_build_filename(dir, "bad.conf", NULL);
        big = g_build_filename(dir, "big.conf", NULL);

        /* Missing file: the defaults, even over earlier settings. */
        g_assert_cmpint(bh_isakmpd_conf_parse(&conf, full_file, strlen(full_file), NULL, NULL), ==, 0);
        g_assert_cmpint(bh_isakmpd_conf_load(&conf, missing, errors), ==, 0);
        g_assert_cmpuint(errors->len, ==, 0);
        assert_defaults(&conf);

        g_assert_true(g_file_set_contents(good, full_file, -1, &error));
        g_assert_no_error(error);
        g_assert_cmpint(bh_isakmpd_conf_load(&conf, good, errors), ==, 0);
        g_assert_cmpuint(errors->len, ==, 0);
        g_assert_cmpint(conf.level, ==, BH_LOG_INFORMATION);
        g_assert_cmpstr(conf.file[BH_LOG_DEBUG], ==, "/var/log/bulkhead/isakmpd.debug");

        /* Reports name the file by its path. */
        g_assert_true(g_file_set_contents(bad, "level debug\nlevel verbose\n", -1, &error));
        g_assert_no_error(error);
        g_assert_cmpint(bh_isakmpd_conf_load(&conf, bad, errors), ==, 1);
        g_assert_cmpuint(errors->len, ==, 1);
        expect = g_strdup_printf("%s:2: unknown level \"verbose\" (expected none, errors, events, information or debug)", bad);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_assert_cmpint(conf.level, ==, BH_LOG_DEBUG);

        /* Not a regular file, or too big: an error, and the defaults. */
        g_assert_cmpint(bh_isakmpd_conf_load(&conf, dir, errors), ==, -EISDIR);
        assert_defaults(&conf);
        if (g_file_test("/dev/null", G_FILE_TEST_EXISTS))
                g_assert_cmpint(bh_isakmpd_conf_load(&conf, "/dev/null", errors), ==, -EBADFD);

        huge = g_malloc(BH_ISAKMPD_CONF_SIZE_MAX + 1);
        memset(huge, '\n', BH_ISAKMPD_CONF_SIZE_MAX + 1);
        g_assert_true(g_file_set_contents(big, huge, BH_ISAKMPD_CONF_SIZE_MAX + 1, &error));
        g_assert_no_error(error);
        g_assert_cmpint(bh_isakmpd_conf_load(&conf, good, errors), ==, 0);
        g_assert_cmpint(bh_isakmpd_conf_load(&conf, big, errors), ==, -EFBIG);
        assert_defaults(&conf);
        g_assert_cmpuint(errors->len, ==, 1);

        g_assert_cmpint(g_unlink(good), ==, 0);
        g_assert_cmpint(g_unlink(bad), ==, 0);
        g_assert_cmpint(g_unlink(big), ==, 0);
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* Everything the parser promises about its output, whatever the input. */
static void assert_sane(const BhIsakmpdConf *conf, int r, const GPtrArray *errors) {
        g_assert_cmpint(r, >=, 0);
        g_assert_cmpuint(errors->len, >=, (guint) r);
        for (guint i = 0; i < errors->len; i++)
                g_assert_true(g_str_has_prefix(errors->pdata[i], "fuzz.conf:"));

        g_assert_cmpint(conf->level, >=, BH_LOG_NONE);
        g_assert_cmpint(conf->level, <=, _BH_LOG_MAX);
        g_assert_null(conf->file[BH_LOG_NONE]);
        for (int l = BH_LOG_ERRORS; l <= _BH_LOG_MAX; l++) {
                const char *f = conf->file[l];

                if (!f)
                        continue;
                g_assert_cmpint(f[0], ==, '/');
                g_assert_cmpint(f[strlen(f) - 1], !=, '/');
                g_assert_cmpuint(strlen(f), <=, BH_ISAKMPD_CONF_LINE_MAX);
                for (const char *p = f; *p; p++)
                        g_assert_false((unsigned char) *p < 0x20 || *p == 0x7f);
        }
}

/* GByteArray has no insert of its own. */
static void insert_bytes(GByteArray *b, guint pos, const guint8 *data, guint n) {
        guint old = b->len;

        g_assert_cmpuint(pos, <=, old);
        g_byte_array_set_size(b, old + n);
        memmove(b->data + pos + n, b->data + pos, old - pos);
        if (n > 0)
                memcpy(b->data + pos, data, n);
}

static void mutate(GRand *rand, GByteArray *b) {
        static const guint8 interesting[] = { '\0', '\n', '\r', '\t', ' ', '#', '/', '"', '\\', 0x7f, 0xff, 0x80 };
        guint8 c;
        guint n;
        guint pos = b->len ? (guint) g_rand_int_range(rand, 0, (gint32) b->len) : 0;

        switch (g_rand_int_range(rand, 0, 7)) {
        case 0: /* flip a bit */
                if (b->len)
                        b->data[pos] ^= (guint8) (1u << g_rand_int_range(rand, 0, 8));
                break;
        case 1: /* overwrite with a byte that means something to the parser */
                if (b->len)
                        b->data[pos] = interesting[g_rand_int_range(rand, 0, G_N_ELEMENTS(interesting))];
                break;
        case 2: /* insert random bytes */
                for (int k = g_rand_int_range(rand, 1, 9); k > 0; k--) {
                        c = (guint8) g_rand_int_range(rand, 0, 256);
                        insert_bytes(b, pos, &c, 1);
                }
                break;
        case 3: /* delete a range */
                n = (guint) g_rand_int_range(rand, 1, 40);
                if (b->len)
                        g_byte_array_remove_range(b, pos, MIN(b->len - pos, n));
                break;
        case 4: { /* copy a range elsewhere */
                n = (guint) g_rand_int_range(rand, 1, 80);
                n = MIN(b->len - pos, n);
                g_autofree guint8 *copy = g_memdup2(b->data + pos, n);
                guint to = (guint) g_rand_int_range(rand, 0, (gint32) b->len + 1);

                insert_bytes(b, to, copy, n);
                break;
        }
        case 5: { /* a run around the line length limit */
                guint8 run[BH_ISAKMPD_CONF_LINE_MAX + 8];

                memset(run, g_rand_boolean(rand) ? 'a' : ' ', sizeof run);
                insert_bytes(b, pos, run, (guint) g_rand_int_range(rand, BH_ISAKMPD_CONF_LINE_MAX - 8, sizeof run + 1));
                break;
        }
        case 6: /* truncate */
                g_byte_array_set_size(b, pos);
                break;
        }
}

static void test_fuzz(void) {
        g_autoptr(GRand) rand = g_rand_new_with_seed(FUZZ_SEED);

        for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
                g_autoptr(GByteArray) b = g_byte_array_new();
                g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
                g_auto(BhIsakmpdConf) conf = { 0 };
                g_autofree char *exact = NULL;
                int r;

                g_byte_array_append(b, (const guint8 *) full_file, strlen(full_file));
                for (int n = g_rand_int_range(rand, 1, 6); n > 0; n--)
                        mutate(rand, b);

                /* An exact-size copy, no terminating NUL: a sanitizer build
                 * catches any read past `len`. */
                exact = g_memdup2(b->data, b->len);
                r = bh_isakmpd_conf_parse(&conf, exact, b->len, "fuzz.conf", errors);
                assert_sane(&conf, r, errors);
                g_assert_cmpint(bh_isakmpd_conf_parse(&conf, exact, b->len, "fuzz.conf", NULL), ==, r);
        }
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/isakmpd-conf/full", test_full);
        g_test_add_func("/isakmpd-conf/defaults", test_defaults);
        g_test_add_func("/isakmpd-conf/syntax", test_syntax);
        g_test_add_func("/isakmpd-conf/bad-lines", test_bad_lines);
        g_test_add_func("/isakmpd-conf/example-message", test_example_message);
        g_test_add_func("/isakmpd-conf/many-bad-lines", test_many_bad_lines);
        g_test_add_func("/isakmpd-conf/line-length", test_line_length);
        g_test_add_func("/isakmpd-conf/duplicates", test_duplicates);
        g_test_add_func("/isakmpd-conf/reparse-resets", test_reparse_resets);
        g_test_add_func("/isakmpd-conf/routes", test_routes);
        g_test_add_func("/isakmpd-conf/load", test_load);
        g_test_add_func("/isakmpd-conf/fuzz", test_fuzz);

        return g_test_run();
}
