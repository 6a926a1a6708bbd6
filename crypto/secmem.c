/* SPDX-License-Identifier: ISC */
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "secmem.h"

void bh_secure_wipe(void *p, size_t len) {
        if (p && len)
                OPENSSL_cleanse(p, len);
}

int bh_secure_memcmp(const void *a, const void *b, size_t len) {
        return CRYPTO_memcmp(a, b, len);
}

/* Whole pages of their own: mlock and MADV_DONTDUMP then cover the secret
 * and nothing else. */
static size_t span(size_t len) {
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        return ((len ? len : 1) + page - 1) / page * page;
}

BhSecret *bh_secret_new(size_t len) {
        BhSecret *s = calloc(1, sizeof *s);
        void *p = NULL;
        if (!s || posix_memalign(&p, (size_t) sysconf(_SC_PAGESIZE), span(len)) != 0) {
                free(s);
                return NULL;
        }
        memset(p, 0, span(len));
        s->data = p;
        s->len = len;
        /* Best effort: without CAP_IPC_LOCK, RLIMIT_MEMLOCK may refuse; the
         * buffer is still wiped on free and left out of core dumps. */
        (void) mlock(s->data, span(len));
        (void) madvise(s->data, span(len), MADV_DONTDUMP);
        return s;
}

BhSecret *bh_secret_new_copy(const void *data, size_t len) {
        BhSecret *s = bh_secret_new(len);
        if (s && len)
                memcpy(s->data, data, len);
        return s;
}

void bh_secret_free(BhSecret *s) {
        if (!s)
                return;
        bh_secure_wipe(s->data, s->len);
        (void) munlock(s->data, span(s->len));
        free(s->data);
        free(s);
}
