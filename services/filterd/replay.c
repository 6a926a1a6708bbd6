/* SPDX-License-Identifier: ISC */
#include <string.h>

#include "replay.h"

void replay_init(ReplayWindow *w, uint32_t size, bool esn) {
        memset(w, 0, sizeof *w);
        if (size == 0)
                size = REPLAY_WINDOW_DEFAULT;
        w->size = size > REPLAY_WINDOW_MAX ? REPLAY_WINDOW_MAX : size;
        w->esn = esn;
}

/* RFC 4303 Appendix A2.2: the high half of the sequence number of a packet,
 * from the low half on the wire and the window [T - W + 1, T]. */
static uint64_t infer_esn(const ReplayWindow *w, uint32_t seql) {
        uint32_t th = (uint32_t) (w->top >> 32);
        uint32_t tl = (uint32_t) w->top;
        uint32_t bottom = tl - (w->size - 1); /* Bl, modulo 2^32 */
        uint32_t seqh;

        if (tl >= w->size - 1) {
                /* Case A: the window lies within one 2^32 subspace. A low
                 * half under the bottom can only be from the next one. */
                seqh = seql >= bottom ? th : th + 1;
        } else {
                /* Case B: the window spans two subspaces. A low half at or
                 * above Bl is in the previous one; below T's subspace start
                 * there is nothing (Th = 0), so it can only be a jump ahead. */
                seqh = seql >= bottom ? (th ? th - 1 : th) : th;
        }
        return (uint64_t) seqh << 32 | seql;
}

static PktDrop check_full(const ReplayWindow *w, uint64_t seq) {
        if (seq == 0)
                return PKT_DROP_TOO_OLD;
        if (seq > w->top)
                return PKT_OK;
        if (w->top - seq >= w->size)
                return PKT_DROP_TOO_OLD;
        uint64_t word = w->bits[(seq / 64) % REPLAY_BITMAP_WORDS];
        return word >> (seq % 64) & 1 ? PKT_DROP_REPLAY : PKT_OK;
}

PktDrop replay_check(const ReplayWindow *w, uint32_t seq_low, uint64_t *ret_seq) {
        uint64_t seq = w->esn ? infer_esn(w, seq_low) : seq_low;
        *ret_seq = seq;
        return check_full(w, seq);
}

PktDrop replay_update(ReplayWindow *w, uint64_t seq) {
        PktDrop d = check_full(w, seq);
        if (d != PKT_OK)
                return d;
        if (!w->esn && seq > UINT32_MAX)
                return PKT_DROP_TOO_OLD; /* cannot come from replay_check() */

        if (seq > w->top) {
                /* Clear the words the window moves into; after a jump of a
                 * whole bitmap or more, all of them. */
                uint64_t from = w->top / 64, to = seq / 64;
                uint64_t n = to - from;
                if (n > REPLAY_BITMAP_WORDS)
                        n = REPLAY_BITMAP_WORDS;
                for (uint64_t i = 1; i <= n; i++)
                        w->bits[(from + i) % REPLAY_BITMAP_WORDS] = 0;
                w->top = seq;
        }
        w->bits[(seq / 64) % REPLAY_BITMAP_WORDS] |= UINT64_C(1) << (seq % 64);
        return PKT_OK;
}

PktDrop replay_next_seq(uint64_t *last, bool esn, uint64_t *ret_seq) {
        uint64_t max = esn ? UINT64_MAX : UINT32_MAX;
        /* Atomic: the data path's workers may share one SA's numbers. */
        uint64_t cur = __atomic_load_n(last, __ATOMIC_RELAXED);
        do {
                if (cur >= max)
                        return PKT_DROP_SEQ_EXHAUSTED;
        } while (!__atomic_compare_exchange_n(last, &cur, cur + 1, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
        *ret_seq = cur + 1;
        return PKT_OK;
}
