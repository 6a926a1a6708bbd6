/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <syslog.h>

#include <glib.h>

#include "loglevel.h"

static const struct {
        const char *word;
        BhLogLevel level;
} good_words[] = {
        { "none",        BH_LOG_NONE },
        { "NONE",        BH_LOG_NONE },
        { "None",        BH_LOG_NONE },
        { "errors",      BH_LOG_ERRORS },
        { "ERRORS",      BH_LOG_ERRORS },
        { "Errors",      BH_LOG_ERRORS },
        { "error",       BH_LOG_ERRORS },
        { "ERROR",       BH_LOG_ERRORS },
        { "err",         BH_LOG_ERRORS },
        { "ErR",         BH_LOG_ERRORS },
        { "events",      BH_LOG_EVENTS },
        { "EVENTS",      BH_LOG_EVENTS },
        { "event",       BH_LOG_EVENTS },
        { "Event",       BH_LOG_EVENTS },
        { "information", BH_LOG_INFORMATION },
        { "INFORMATION", BH_LOG_INFORMATION },
        { "InFoRmAtIoN", BH_LOG_INFORMATION },
        { "info",        BH_LOG_INFORMATION },
        { "INFO",        BH_LOG_INFORMATION },
        { "debug",       BH_LOG_DEBUG },
        { "DEBUG",       BH_LOG_DEBUG },
        { "Debug",       BH_LOG_DEBUG },
        { "0",           BH_LOG_NONE },
        { "1",           BH_LOG_ERRORS },
        { "2",           BH_LOG_EVENTS },
        { "3",           BH_LOG_INFORMATION },
        { "4",           BH_LOG_DEBUG },
};

static const char *const bad_words[] = {
        "", " ", "5", "9", "-1", "00", "01", "+1", "1 ", " 1", "0x1",
        " events", "events ", "events\n", "eventss", "evnts", "e",
        "inf", "infos", "informations", "informational",
        "debugging", "dbg", "verbose", "warning", "notice", "all", "off",
        "err\t", "none!", "errors,events", "\xc4\xb1nfo", /* dotless i: not ASCII "info" */
};

static void test_from_string_good(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(good_words); i++) {
                BhLogLevel level = (BhLogLevel) 99;

                g_test_message("word \"%s\"", good_words[i].word);
                g_assert_cmpint(bh_log_level_from_string(good_words[i].word, &level), ==, 0);
                g_assert_cmpint(level, ==, good_words[i].level);
                /* ret_level is optional. */
                g_assert_cmpint(bh_log_level_from_string(good_words[i].word, NULL), ==, 0);
        }
}

static void test_from_string_bad(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(bad_words); i++) {
                BhLogLevel level = (BhLogLevel) 99;

                g_test_message("word \"%s\"", bad_words[i]);
                g_assert_cmpint(bh_log_level_from_string(bad_words[i], &level), ==, -EINVAL);
                /* Untouched on failure. */
                g_assert_cmpint(level, ==, 99);
        }

        g_assert_cmpint(bh_log_level_from_string(NULL, NULL), ==, -EINVAL);
}

static const struct {
        BhLogLevel level;
        const char *name;
        int priority;
} scale[] = {
        { BH_LOG_NONE,        "none",        -1 },
        { BH_LOG_ERRORS,      "errors",      LOG_ERR },
        { BH_LOG_EVENTS,      "events",      LOG_NOTICE },
        { BH_LOG_INFORMATION, "information", LOG_INFO },
        { BH_LOG_DEBUG,       "debug",       LOG_DEBUG },
        { (BhLogLevel) 5,     "invalid",     -1 },
        { (BhLogLevel) 100,   "invalid",     -1 },
        { (BhLogLevel) -1,    "invalid",     -1 },
};

static void test_to_string(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(scale); i++)
                g_assert_cmpstr(bh_log_level_to_string(scale[i].level), ==, scale[i].name);
}

static void test_round_trip(void) {
        for (int l = BH_LOG_NONE; l <= _BH_LOG_MAX; l++) {
                BhLogLevel back;

                g_assert_cmpint(bh_log_level_from_string(bh_log_level_to_string((BhLogLevel) l), &back), ==, 0);
                g_assert_cmpint(back, ==, l);
        }
        g_assert_cmpint(bh_log_level_from_string(bh_log_level_to_string((BhLogLevel) 7), NULL), ==, -EINVAL);
}

static void test_to_syslog(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(scale); i++)
                g_assert_cmpint(bh_log_level_to_syslog(scale[i].level), ==, scale[i].priority);

        /* More detail must mean a numerically higher (less urgent) priority. */
        for (int l = BH_LOG_ERRORS; l < _BH_LOG_MAX; l++)
                g_assert_cmpint(bh_log_level_to_syslog((BhLogLevel) l), <, bh_log_level_to_syslog((BhLogLevel) (l + 1)));
}

static void test_enabled(void) {
        /* Row: message level; column: configured level. */
        static const bool expect[_BH_LOG_MAX + 1][_BH_LOG_MAX + 1] = {
                /*                  none   errors events info   debug */
                [BH_LOG_NONE]        = { false, false, false, false, false },
                [BH_LOG_ERRORS]      = { false, true,  true,  true,  true  },
                [BH_LOG_EVENTS]      = { false, false, true,  true,  true  },
                [BH_LOG_INFORMATION] = { false, false, false, true,  true  },
                [BH_LOG_DEBUG]       = { false, false, false, false, true  },
        };

        for (int m = 0; m <= _BH_LOG_MAX; m++)
                for (int c = 0; c <= _BH_LOG_MAX; c++) {
                        g_test_message("message %d, configured %d", m, c);
                        g_assert_cmpint(bh_log_level_enabled((BhLogLevel) m, (BhLogLevel) c), ==, expect[m][c]);
                }

        g_assert_false(bh_log_level_enabled((BhLogLevel) 5, (BhLogLevel) 9));
        g_assert_false(bh_log_level_enabled((BhLogLevel) -1, BH_LOG_DEBUG));
        g_assert_false(bh_log_level_enabled(BH_LOG_ERRORS, (BhLogLevel) -1));
        g_assert_false(bh_log_level_enabled(BH_LOG_ERRORS, (BhLogLevel) 5));
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/loglevel/from-string/good", test_from_string_good);
        g_test_add_func("/loglevel/from-string/bad", test_from_string_bad);
        g_test_add_func("/loglevel/to-string", test_to_string);
        g_test_add_func("/loglevel/round-trip", test_round_trip);
        g_test_add_func("/loglevel/to-syslog", test_to_syslog);
        g_test_add_func("/loglevel/enabled", test_enabled);

        return g_test_run();
}
