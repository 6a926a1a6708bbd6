/* SPDX-License-Identifier: ISC */
#pragma once

/* What every fuzz target shares. Each fuzz-<name>.c defines
 * LLVMFuzzerTestOneInput(); it is linked either with libFuzzer (the fuzz
 * build) or with replay.c (every build), which feeds it the files of
 * corpus/<name>/ and regressions/<name>/. */

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: a target that needs one-time set-up defines it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken property of the code under test: print why and abort(), which
 * libFuzzer (and the replay runner) report as a crash. */
G_NORETURN void fuzz_fail(const char *file, int line, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
#define FUZZ_CHECK(cond, ...)                                                                                \
        do {                                                                                                 \
                if (!(cond))                                                                                 \
                        fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                                          \
        } while (0)

/* Warnings and criticals from GLib or the code under test (g_warning,
 * g_return_if_fail) become crashes: each one is a broken invariant. */
void fuzz_glib_fatal(void);

/* Every report of a policy/ parser is one line of printable ASCII, and
 * short: a hostile file must not reach a log with control characters or
 * megabytes of text (bh_quote() cuts words at 64 bytes). */
void fuzz_check_reports(const GPtrArray *reports, const char *what);

/* Input reader for the targets that take a few parameter bytes before the
 * payload: a byte past the end reads as 0. */
typedef struct FuzzInput {
        const uint8_t *p;
        size_t len;
} FuzzInput;

static inline uint8_t fuzz_u8(FuzzInput *in) {
        if (in->len == 0)
                return 0;
        uint8_t v = in->p[0];
        in->p++;
        in->len--;
        return v;
}

static inline uint64_t fuzz_be64(FuzzInput *in) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | fuzz_u8(in);
        return v;
}
