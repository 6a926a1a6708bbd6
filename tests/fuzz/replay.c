/* SPDX-License-Identifier: ISC */
/* The replay runner: feeds every file named on the command line, or found
 * in a directory named on it (names starting with '.' and README* skipped),
 * to LLVMFuzzerTestOneInput(), each in a heap block of exactly its size as
 * libFuzzer does. Built in every configuration, so that the seeds and every
 * crash once found are replayed by the unit suite forever. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned n_run;

static void run_file(const char *path) {
        g_autofree char *text = NULL;
        gsize len = 0;
        g_autoptr(GError) error = NULL;
        if (!g_file_get_contents(path, &text, &len, &error)) {
                fprintf(stderr, "replay: %s\n", error->message);
                exit(1);
        }
        /* Exactly len bytes: a read past the input is a sanitizer error. */
        uint8_t *data = g_malloc(len ? len : 1);
        memcpy(data, text, len);
        fprintf(stderr, "replay: %s (%zu bytes)\n", path, (size_t) len);
        LLVMFuzzerTestOneInput(data, len);
        g_free(data);
        n_run++;
}

static int by_name(gconstpointer a, gconstpointer b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void run_dir(const char *dir) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GDir) d = g_dir_open(dir, 0, &error);
        if (!d) {
                /* A target without regressions yet has no directory. */
                if (g_error_matches(error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return;
                fprintf(stderr, "replay: %s\n", error->message);
                exit(1);
        }
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *name;
        while ((name = g_dir_read_name(d)))
                if (name[0] != '.' && !g_str_has_prefix(name, "README"))
                        g_ptr_array_add(names, g_strdup(name));
        g_ptr_array_sort(names, by_name);
        for (guint i = 0; i < names->len; i++) {
                g_autofree char *path = g_build_filename(dir, g_ptr_array_index(names, i), NULL);
                if (g_file_test(path, G_FILE_TEST_IS_DIR))
                        run_dir(path);
                else
                        run_file(path);
        }
}

int main(int argc, char **argv) {
        if (LLVMFuzzerInitialize)
                LLVMFuzzerInitialize(&argc, &argv);
        for (int i = 1; i < argc; i++) {
                if (g_file_test(argv[i], G_FILE_TEST_IS_DIR))
                        run_dir(argv[i]);
                else
                        run_file(argv[i]);
        }
        printf("replay: %u inputs, no crash\n", n_run);
        return 0;
}
