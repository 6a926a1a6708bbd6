/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

void fuzz_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "fuzz: check failed at %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        abort();
}

void fuzz_glib_fatal(void) {
        g_log_set_always_fatal(G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

void fuzz_check_reports(const GPtrArray *reports, const char *what) {
        for (guint i = 0; reports && i < reports->len; i++) {
                const char *r = g_ptr_array_index(reports, i);
                FUZZ_CHECK(r != NULL, "%s: report %u is NULL", what, i);
                size_t n = 0;
                for (const char *c = r; *c; c++, n++)
                        FUZZ_CHECK(*c >= 0x20 && *c < 0x7f, "%s: report %u has byte 0x%02x at %zu: %s", what, i,
                                   (unsigned) (unsigned char) *c, n, r);
                FUZZ_CHECK(n > 0 && n <= 1024, "%s: report %u is %zu bytes long", what, i, n);
        }
}
