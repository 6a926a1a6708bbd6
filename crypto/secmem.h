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

/* A zeroed secret of len bytes; NULL only on allocation failure. */
BhSecret *bh_secret_new(size_t len);
BhSecret *bh_secret_new_copy(const void *data, size_t len);
/* Wipes and frees; accepts NULL. */
void bh_secret_free(BhSecret *secret);
/* Wipes any buffer (OPENSSL_cleanse: not optimised away). */
void bh_secure_wipe(void *p, size_t len);
/* Constant-time comparison: 0 when equal. */
int bh_secure_memcmp(const void *a, const void *b, size_t len);
