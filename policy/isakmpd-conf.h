/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <glib.h>

#include "loglevel.h"

/* isakmpd.conf(5): at which level `ike cmd=log` turns isakmpd logging on, and
 * which file takes which level. The format is documented in the man page. */

/* Longest line accepted, newline excluded. Longer lines are skipped and reported. */
#define BH_ISAKMPD_CONF_LINE_MAX 4096

/* bh_isakmpd_conf_load() refuses larger files with -EFBIG: a real one is a
 * few hundred bytes, and this bounds the memory and the number of reports. */
#define BH_ISAKMPD_CONF_SIZE_MAX (1024 * 1024)

typedef struct BhIsakmpdConf {
        BhLogLevel level;                       /* default BH_LOG_EVENTS */
        char *file[_BH_LOG_MAX + 1];            /* index by level; NULL = none; [BH_LOG_NONE] always NULL */
        bool syslog;                            /* default true */
} BhIsakmpdConf;

/* Sets the defaults. Does not free anything: use on a fresh struct. */
void bh_isakmpd_conf_init(BhIsakmpdConf *conf);

/* Frees the paths and goes back to the defaults. Accepts NULL and a zeroed struct. */
void bh_isakmpd_conf_clear(BhIsakmpdConf *conf);

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(BhIsakmpdConf, bh_isakmpd_conf_clear)

/*
 * Parses `len` bytes of isakmpd.conf text (untrusted; need not be
 * NUL-terminated; text may be NULL when len is 0).
 *
 * `conf` must be initialised or zeroed: it is reset to the defaults first, so
 * the result depends on the text alone. A bad line never stops the others:
 * it is skipped and reported as one string "FILENAME:LINE: reason" appended
 * to ret_errors (a GPtrArray of g_free'd strings; may be NULL). A duplicate
 * setting takes effect (the last one wins) and is reported as
 * "FILENAME:LINE: warning: ..."; so is a file named for two levels.
 * Warnings are not bad lines.
 *
 * filename is only used in the reports; NULL means "isakmpd.conf".
 * Returns the number of bad lines (0 = clean), or -EINVAL for NULL conf.
 */
int bh_isakmpd_conf_parse(
                BhIsakmpdConf *conf,
                const char *text,
                size_t len,
                const char *filename,
                GPtrArray *ret_errors);

/*
 * Reads the file at `path` and parses it, reporting with `path` as FILENAME.
 * A missing file leaves the defaults and returns 0. A file that cannot be
 * read returns -errno with conf at the defaults: -EISDIR for a directory,
 * -EBADFD for any other non-regular file, -EFBIG above
 * BH_ISAKMPD_CONF_SIZE_MAX. Otherwise returns what bh_isakmpd_conf_parse() does.
 */
int bh_isakmpd_conf_load(BhIsakmpdConf *conf, const char *path, GPtrArray *ret_errors);

/* Does a line at line_level go to the file configured for file_level?
 * Yes when 0 < line_level <= file_level: the "information" file holds errors,
 * events and information lines, the "errors" file errors only. */
bool bh_isakmpd_conf_routes(BhLogLevel line_level, BhLogLevel file_level);
