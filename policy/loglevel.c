/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <syslog.h>

#include <glib.h>

#include "loglevel.h"

/* Every word either configuration dialect uses, aliases included. The first
 * entry for a level is not necessarily canonical: level_names[] is. */
static const struct {
        const char *word;
        BhLogLevel level;
} level_words[] = {
        { "none",        BH_LOG_NONE },
        { "errors",      BH_LOG_ERRORS },
        { "error",       BH_LOG_ERRORS },
        { "err",         BH_LOG_ERRORS },
        { "events",      BH_LOG_EVENTS },
        { "event",       BH_LOG_EVENTS },       /* tmd's word */
        { "information", BH_LOG_INFORMATION },
        { "info",        BH_LOG_INFORMATION },
        { "debug",       BH_LOG_DEBUG },
};

static const char *const level_names[_BH_LOG_MAX + 1] = {
        [BH_LOG_NONE]        = "none",
        [BH_LOG_ERRORS]      = "errors",
        [BH_LOG_EVENTS]      = "events",
        [BH_LOG_INFORMATION] = "information",
        [BH_LOG_DEBUG]       = "debug",
};

/* "events" are the things an administrator wants to see without asking for
 * detail (a tunnel came up, a peer went away), hence NOTICE rather than INFO. */
static const int level_syslog[_BH_LOG_MAX + 1] = {
        [BH_LOG_NONE]        = -1,
        [BH_LOG_ERRORS]      = LOG_ERR,
        [BH_LOG_EVENTS]      = LOG_NOTICE,
        [BH_LOG_INFORMATION] = LOG_INFO,
        [BH_LOG_DEBUG]       = LOG_DEBUG,
};

/* The enum's underlying type is implementation-defined, so compare as int:
 * callers may hand us any integer cast to BhLogLevel (a D-Bus property, say). */
static bool level_is_valid(BhLogLevel level) {
        return (int) level >= BH_LOG_NONE && (int) level <= _BH_LOG_MAX;
}

int bh_log_level_from_string(const char *s, BhLogLevel *ret_level) {
        if (!s)
                return -EINVAL;

        /* Exactly one digit: "01" or "+2" are more likely typos than intent. */
        if (s[0] >= '0' && s[0] <= '0' + _BH_LOG_MAX && s[1] == '\0') {
                if (ret_level)
                        *ret_level = (BhLogLevel) (s[0] - '0');
                return 0;
        }

        for (size_t i = 0; i < G_N_ELEMENTS(level_words); i++)
                if (g_ascii_strcasecmp(s, level_words[i].word) == 0) {
                        if (ret_level)
                                *ret_level = level_words[i].level;
                        return 0;
                }

        return -EINVAL;
}

const char *bh_log_level_to_string(BhLogLevel level) {
        if (!level_is_valid(level))
                return "invalid";
        return level_names[level];
}

int bh_log_level_to_syslog(BhLogLevel level) {
        if (!level_is_valid(level))
                return -1;
        return level_syslog[level];
}

bool bh_log_level_enabled(BhLogLevel message_level, BhLogLevel configured) {
        if (!level_is_valid(message_level) || !level_is_valid(configured))
                return false;
        return message_level > BH_LOG_NONE && message_level <= configured;
}
