/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>

/*
 * One log level scale for the whole suite.
 *
 * The words come from AIX: isakmpd.conf speaks of none / errors / events /
 * information, tmd's syslog levels are debug / event / information. Both map
 * onto this scale, and the scale maps onto syslog priorities. A message of
 * level L is emitted when 0 < L <= the configured level, so a higher level
 * means more output.
 */
typedef enum {
        BH_LOG_NONE = 0,        /* nothing */
        BH_LOG_ERRORS = 1,      /* isakmpd "errors";  syslog LOG_ERR    */
        BH_LOG_EVENTS = 2,      /* isakmpd "events", tmd "event"; LOG_NOTICE */
        BH_LOG_INFORMATION = 3, /* "information"; LOG_INFO */
        BH_LOG_DEBUG = 4,       /* tmd "debug"; LOG_DEBUG */
        _BH_LOG_MAX = BH_LOG_DEBUG,
} BhLogLevel;

/* Parses a level word, case-insensitively: none, errors|error|err,
 * events|event, information|info, debug, or one of the digits 0..4.
 * Returns 0 or -EINVAL (also for NULL). ret_level may be NULL to only validate. */
int bh_log_level_from_string(const char *s, BhLogLevel *ret_level);

/* Canonical word: "none", "errors", "events", "information", "debug";
 * "invalid" for a value outside the scale. Never NULL. */
const char *bh_log_level_to_string(BhLogLevel level);

/* LOG_ERR, LOG_NOTICE, LOG_INFO or LOG_DEBUG; -1 for BH_LOG_NONE and for a
 * value outside the scale (nothing to send). */
int bh_log_level_to_syslog(BhLogLevel level);

/* The one emission rule: is a message of message_level shown when the
 * configured level is `configured`? True when 0 < message_level <= configured;
 * false for anything outside the scale. */
bool bh_log_level_enabled(BhLogLevel message_level, BhLogLevel configured);
