/* SPDX-License-Identifier: ISC */
#pragma once

/* Buffers for secrets: locked in memory (never swapped), kept out of core
 * dumps, and wiped before they are freed. */

#include <stddef.h>
#include <stdint.h>

typedef struct BhSecret {
        size_t len;
        uint8_t *data;
} BhSecret;

/* A zeroed secret of len bytes; NULL only on allocation failure. Secrets
 * share locked mappings (see secmem.c): a secret costs no mapping of its
 * own up to 4096 bytes. Thread-safe. */
BhSecret *bh_secret_new(size_t len);
BhSecret *bh_secret_new_copy(const void *data, size_t len);
/* Wipes and frees; accepts NULL. */
void bh_secret_free(BhSecret *secret);
/* Wipes any buffer (OPENSSL_cleanse: not optimised away). */
void bh_secure_wipe(void *p, size_t len);
/* Constant-time comparison: 0 when equal. */
int bh_secure_memcmp(const void *a, const void *b, size_t len);

/* What the secret memory holds, for a service to report: a mapping that
 * could not be locked (RLIMIT_MEMLOCK without CAP_IPC_LOCK) or kept out of
 * core dumps is counted, with the last errno of mlock. */
typedef struct BhSecmemStats {
        size_t live;                    /* secrets allocated */
        size_t mappings;                /* locked mappings made */
        size_t lock_failures;
        int last_lock_errno;
        size_t dontdump_failures;
} BhSecmemStats;

BhSecmemStats bh_secmem_stats(void);
