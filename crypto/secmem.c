/* SPDX-License-Identifier: ISC */
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdbool.h>
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

/*
 * Secrets live in arenas: mappings of ARENA_SIZE bytes, locked and left out
 * of core dumps once, when they are made, and cut into slots of a few size
 * classes. A page of its own per secret would cost a mapping each (mlock
 * and MADV_DONTDUMP split the heap's), and the kernel's map count limit
 * (vm.max_map_count) would stop cryptod at a few thousand IKE SAs. A
 * secret above the largest class gets a mapping of its own. Freed slots are
 * wiped and kept on their class's free list; arenas are never returned.
 */
#define ARENA_SIZE (256u * 1024u)
static const size_t class_size[] = { 32, 64, 128, 256, 512, 1024, 2048, 4096 };
#define N_CLASSES (sizeof class_size / sizeof class_size[0])

typedef struct Slot {
        struct Slot *next;
} Slot;

static struct {
        pthread_mutex_t lock;
        Slot *free[N_CLASSES];
        uint8_t *arena;         /* the one being cut */
        size_t arena_used;
        BhSecmemStats stats;
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

static size_t page_round(size_t len) {
        size_t page = (size_t) sysconf(_SC_PAGESIZE);
        return ((len ? len : 1) + page - 1) / page * page;
}

/* A mapping locked and kept out of core dumps; NULL if none can be had. */
static void *map_locked(size_t len) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                return NULL;
        /* Best effort: without CAP_IPC_LOCK, RLIMIT_MEMLOCK may refuse. The
         * memory is still wiped on free and left out of core dumps; the
         * failure is counted for the service to report. */
        if (mlock(p, len) < 0) {
                pool.stats.lock_failures++;
                pool.stats.last_lock_errno = errno;
        }
        if (madvise(p, len, MADV_DONTDUMP) < 0)
                pool.stats.dontdump_failures++;
        pool.stats.mappings++;
        return p;
}

static int class_of(size_t len) {
        for (size_t i = 0; i < N_CLASSES; i++)
                if (len <= class_size[i])
                        return (int) i;
        return -1;
}

static void *slot_take(int c) {
        Slot *s = pool.free[c];
        if (s) {
                pool.free[c] = s->next;
                s->next = NULL;
                return s;
        }
        /* Slots are cut at multiples of their size: aligned for any use. */
        size_t at = (pool.arena_used + class_size[c] - 1) / class_size[c] * class_size[c];
        if (!pool.arena || at + class_size[c] > ARENA_SIZE) {
                pool.arena = map_locked(ARENA_SIZE);
                at = 0;
                if (!pool.arena)
                        return NULL;
        }
        pool.arena_used = at + class_size[c];
        return pool.arena + at;
}

BhSecret *bh_secret_new(size_t len) {
        BhSecret *s = calloc(1, sizeof *s);
        if (!s)
                return NULL;
        int c = class_of(len);
        pthread_mutex_lock(&pool.lock);
        void *p = c >= 0 ? slot_take(c) : map_locked(page_round(len));
        if (p)
                pool.stats.live++;
        pthread_mutex_unlock(&pool.lock);
        if (!p) {
                free(s);
                return NULL;
        }
        memset(p, 0, c >= 0 ? class_size[c] : page_round(len));
        s->data = p;
        s->len = len;
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
        int c = class_of(s->len);
        bh_secure_wipe(s->data, c >= 0 ? class_size[c] : s->len);
        pthread_mutex_lock(&pool.lock);
        if (c >= 0) {
                Slot *slot = (Slot *) (void *) s->data;
                slot->next = pool.free[c];
                pool.free[c] = slot;
        } else {
                (void) munmap(s->data, page_round(s->len));
                pool.stats.mappings--;
        }
        pool.stats.live--;
        pthread_mutex_unlock(&pool.lock);
        free(s);
}

BhSecmemStats bh_secmem_stats(void) {
        pthread_mutex_lock(&pool.lock);
        BhSecmemStats st = pool.stats;
        pthread_mutex_unlock(&pool.lock);
        return st;
}
