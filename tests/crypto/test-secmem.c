/* SPDX-License-Identifier: ISC */
/* Secret memory (crypto/secmem.c): what the kernel says of the mappings
 * that hold secrets (locked, left out of core dumps), that many secrets
 * cost few mappings, that freed secrets are wiped, and that every size
 * keeps its bytes apart. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include <glib.h>

#include "secmem.h"

/* The VmFlags of the mapping of /proc/self/smaps that holds ADDR; NULL if
 * none does. */
static char *vm_flags_of(const void *addr) {
        g_autofree char *smaps = NULL;
        g_assert_true(g_file_get_contents("/proc/self/smaps", &smaps, NULL, NULL));
        uintptr_t a = (uintptr_t) addr;
        bool inside = false;
        g_auto(GStrv) lines = g_strsplit(smaps, "\n", -1);
        for (char **l = lines; *l; l++) {
                unsigned long lo, hi;
                if (sscanf(*l, "%lx-%lx ", &lo, &hi) == 2 && strchr(*l, '-') == *l + strspn(*l, "0123456789abcdef")) {
                        inside = a >= lo && a < hi;
                        continue;
                }
                if (inside && g_str_has_prefix(*l, "VmFlags:"))
                        return g_strdup(*l + strlen("VmFlags:"));
        }
        return NULL;
}

static bool has_flag(const char *flags, const char *flag) {
        g_auto(GStrv) f = g_strsplit_set(flags, " ", -1);
        return g_strv_contains((const char *const *) f, flag);
}

static size_t map_count(void) {
        g_autofree char *maps = NULL;
        g_assert_true(g_file_get_contents("/proc/self/maps", &maps, NULL, NULL));
        size_t n = 0;
        for (const char *p = maps; *p; p++)
                n += *p == '\n';
        return n;
}

/* Secrets of every class and a large one lie in mappings the kernel keeps
 * out of core dumps ("dd"), and locked ("lo") when RLIMIT_MEMLOCK allows
 * (always as root, as in CI). */
static void test_locked_and_dontdump(void) {
        size_t sizes[] = { 1, 32, 33, 100, 512, 4096, 4097, 70000 };
        struct rlimit rl;
        g_assert_cmpint(getrlimit(RLIMIT_MEMLOCK, &rl), ==, 0);
        bool can_lock = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= 4u * 1024 * 1024;
#if defined(__SANITIZE_ADDRESS__)
        /* AddressSanitizer's mlock does nothing (and says it succeeded). */
        can_lock = false;
        g_test_message("AddressSanitizer: mlock is a no-op, locking not checked");
#endif
        for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
                BhSecret *s = bh_secret_new(sizes[i]);
                g_assert_nonnull(s);
                g_autofree char *flags = vm_flags_of(s->data);
                g_assert_nonnull(flags);
                g_assert_true(has_flag(flags, "dd"));
                if (can_lock)
                        g_assert_true(has_flag(flags, "lo"));
                bh_secret_free(s);
        }
        if (!can_lock)
                g_test_message("RLIMIT_MEMLOCK %llu or a sanitizer: locking not checked", (unsigned long long) rl.rlim_cur);
        else
                g_assert_cmpuint(bh_secmem_stats().lock_failures, ==, 0);
}

/* 20000 IKE SAs' worth of keys (8 secrets each) must not take a mapping
 * per secret: vm.max_map_count is 65530 by default. */
static void test_few_mappings(void) {
        enum { N = 160000 };
        size_t before = map_count();
        BhSecret **s = g_new(BhSecret *, N);
        for (size_t i = 0; i < N; i++) {
                s[i] = bh_secret_new(16 + i % 64);
                g_assert_nonnull(s[i]);
                memset(s[i]->data, 0xa5, s[i]->len);
        }
        size_t during = map_count();
        g_assert_cmpuint(bh_secmem_stats().live, >=, N);
        for (size_t i = 0; i < N; i++)
                bh_secret_free(s[i]);
        g_free(s);
        g_test_message("%u secrets: %zu mappings before, %zu with them", N, before, during);
        g_assert_cmpuint(during, <, before + 200);
}

/* Neighbouring secrets do not overlap, and a freed one is wiped before its
 * slot is handed out again (zeroed on allocation too). */
static void test_apart_and_wiped(void) {
        enum { N = 300 };
        BhSecret *s[N];
        for (size_t i = 0; i < N; i++) {
                size_t len = 1 + (i * 37) % 300;
                s[i] = bh_secret_new(len);
                for (size_t k = 0; k < len; k++)
                        g_assert_cmpuint(s[i]->data[k], ==, 0);
                memset(s[i]->data, (int) (i & 0xff), len);
        }
        for (size_t i = 0; i < N; i++)
                for (size_t k = 0; k < s[i]->len; k++)
                        g_assert_cmpuint(s[i]->data[k], ==, i & 0xff);
        uint8_t *where = s[7]->data;
        size_t len = s[7]->len;
        bh_secret_free(s[7]);
        /* The slot stays mapped (arenas are never returned): read it. */
        for (size_t k = sizeof(void *); k < len; k++)
                g_assert_cmpuint(where[k], ==, 0);
        for (size_t i = 0; i < N; i++)
                if (i != 7)
                        bh_secret_free(s[i]);
}

static void test_copy(void) {
        BhSecret *s = bh_secret_new_copy("secret", 6);
        g_assert_cmpmem(s->data, s->len, "secret", 6);
        bh_secret_free(s);
        bh_secret_free(NULL);
        s = bh_secret_new(0);
        g_assert_nonnull(s);
        bh_secret_free(s);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/secmem/locked-and-dontdump", test_locked_and_dontdump);
        g_test_add_func("/secmem/few-mappings", test_few_mappings);
        g_test_add_func("/secmem/apart-and-wiped", test_apart_and_wiped);
        g_test_add_func("/secmem/copy", test_copy);
        return g_test_run();
}
