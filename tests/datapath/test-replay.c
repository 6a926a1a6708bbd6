/* SPDX-License-Identifier: ISC */
/* services/filterd/replay.c: the window (check before, update after the
 * ICV), extended sequence number inference (RFC 4303 Appendix A2.2) across
 * 2^32, and the sender's exhaustion; then a random walk against a plain
 * reference model. */
#include <glib.h>
#include <string.h>

#include "replay.h"

#define W 1024u

static PktDrop take(ReplayWindow *w, uint32_t low, uint64_t *ret) {
        uint64_t seq = 0;
        PktDrop d = replay_check(w, low, &seq);
        if (ret)
                *ret = seq;
        if (d != PKT_OK)
                return d;
        return replay_update(w, seq);
}

static void test_init(void) {
        ReplayWindow w;
        replay_init(&w, 0, false);
        g_assert_cmpuint(w.size, ==, REPLAY_WINDOW_DEFAULT);
        g_assert_cmpuint(REPLAY_WINDOW_MAX, >=, 1024);
        replay_init(&w, 1u << 20, true);
        g_assert_cmpuint(w.size, ==, REPLAY_WINDOW_MAX);
        g_assert_true(w.esn);
        replay_init(&w, 64, false);
        g_assert_cmpuint(w.size, ==, 64);
}

static void test_basic(void) {
        ReplayWindow w;
        uint64_t seq;
        replay_init(&w, W, false);

        /* 0 is never sent. */
        g_assert_cmpint(replay_check(&w, 0, &seq), ==, PKT_DROP_TOO_OLD);
        g_assert_cmpint(take(&w, 1, NULL), ==, PKT_OK);
        g_assert_cmpint(take(&w, 1, NULL), ==, PKT_DROP_REPLAY);
        g_assert_cmpint(take(&w, 3, NULL), ==, PKT_OK);
        g_assert_cmpint(take(&w, 2, NULL), ==, PKT_OK); /* late but in the window */
        g_assert_cmpint(take(&w, 2, NULL), ==, PKT_DROP_REPLAY);

        /* check() changes nothing: a forged packet cannot move the window. */
        g_assert_cmpint(replay_check(&w, 100000, &seq), ==, PKT_OK);
        g_assert_cmpuint(seq, ==, 100000);
        g_assert_cmpuint(w.top, ==, 3);
        g_assert_cmpint(replay_check(&w, 4, &seq), ==, PKT_OK);

        /* update() checks again: two copies in one batch. */
        g_assert_cmpint(replay_update(&w, 4), ==, PKT_OK);
        g_assert_cmpint(replay_update(&w, 4), ==, PKT_DROP_REPLAY);

        /* The edges of the window: [T - W + 1, T]. */
        g_assert_cmpint(take(&w, 5000, NULL), ==, PKT_OK);
        g_assert_cmpint(take(&w, 5000 - W, NULL), ==, PKT_DROP_TOO_OLD);
        g_assert_cmpint(take(&w, 5000 - W + 1, NULL), ==, PKT_OK);
        g_assert_cmpint(take(&w, 5000 - W + 1, NULL), ==, PKT_DROP_REPLAY);
        g_assert_cmpint(take(&w, 4999, NULL), ==, PKT_OK);
        g_assert_cmpint(take(&w, 3, NULL), ==, PKT_DROP_TOO_OLD);

        /* Numbers skipped over by a jump are still acceptable once. */
        g_assert_cmpint(take(&w, 5100, NULL), ==, PKT_OK);
        for (uint32_t s = 5001; s < 5100; s++)
                g_assert_cmpint(take(&w, s, NULL), ==, PKT_OK);
        for (uint32_t s = 5001; s <= 5100; s++)
                g_assert_cmpint(take(&w, s, NULL), ==, PKT_DROP_REPLAY);

        /* A jump by more than the whole bitmap clears it. */
        g_assert_cmpint(take(&w, 5100 + 3 * REPLAY_BITMAP_BITS + 17, NULL), ==, PKT_OK);
        for (uint32_t s = 5100 + 3 * REPLAY_BITMAP_BITS + 17 - W + 1; s < 5100 + 3 * REPLAY_BITMAP_BITS + 17; s++)
                g_assert_cmpint(take(&w, s, NULL), ==, PKT_OK);

        /* Without ESN, the top of the 32-bit space is just a number. */
        g_assert_cmpint(take(&w, UINT32_MAX, NULL), ==, PKT_OK);
        g_assert_cmpint(take(&w, UINT32_MAX, NULL), ==, PKT_DROP_REPLAY);
        g_assert_cmpint(take(&w, 1, NULL), ==, PKT_DROP_TOO_OLD);
}

static void test_full_window(void) {
        /* The largest window: every number in it stays remembered. */
        ReplayWindow w;
        replay_init(&w, REPLAY_WINDOW_MAX, false);
        uint32_t top = 100000;
        for (uint32_t s = top; s > top - REPLAY_WINDOW_MAX; s--)
                g_assert_cmpint(take(&w, s, NULL), ==, PKT_OK);
        for (uint32_t s = top; s > top - REPLAY_WINDOW_MAX; s--)
                g_assert_cmpint(take(&w, s, NULL), ==, PKT_DROP_REPLAY);
        g_assert_cmpint(take(&w, top - REPLAY_WINDOW_MAX, NULL), ==, PKT_DROP_TOO_OLD);
        /* Sliding by one word at a time keeps the older ones. */
        for (uint32_t s = top + 1; s < top + 3 * 64; s++) {
                g_assert_cmpint(take(&w, s, NULL), ==, PKT_OK);
                g_assert_cmpint(take(&w, s - REPLAY_WINDOW_MAX + 1, NULL), ==, PKT_DROP_REPLAY);
        }
}

/* RFC 4303 A2.2, both cases, at the 2^32 boundaries. */
static void test_esn_inference(void) {
        static const struct {
                uint64_t top;
                uint32_t low;
                uint64_t want;
        } cases[] = {
                /* Case A: Tl >= W - 1. */
                { 0x100000500, 0x500, 0x100000500 },
                { 0x100000500, 0x501, 0x100000501 },
                { 0x100000500, 0x500 - W + 1, 0x100000500 - W + 1 },
                { 0x100000500, 0x500 - W, 0x200000000 + 0x500 - W }, /* below the window: next subspace */
                { 0x1fffffff0, 0x00000003, 0x200000003 },             /* wrapped */
                { 0x1fffffff0, 0xfffffff5, 0x1fffffff5 },
                /* Case B: Tl < W - 1: the window reaches into the previous subspace. */
                { 0x200000005, 0xfffffff0, 0x1fffffff0 },
                { 0x200000005, 0x00000004, 0x200000004 },
                { 0x200000005, 0x00000100, 0x200000100 },
                { 0x200000005, 0x80000000, 0x280000000 },
                /* Nothing below 0: a high low half early on is a jump ahead. */
                { 0x5, 0xfffffff0, 0xfffffff0 },
                { 0x0, 0x1, 0x1 },
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                ReplayWindow w;
                uint64_t seq;
                replay_init(&w, W, true);
                w.top = cases[i].top;
                (void) replay_check(&w, cases[i].low, &seq);
                g_test_message("top %#" G_GINT64_MODIFIER "x low %#x -> %#" G_GINT64_MODIFIER "x", cases[i].top,
                               cases[i].low, seq);
                g_assert_cmphex(seq, ==, cases[i].want);
        }
}

static void test_esn_wrap(void) {
        /* A stream across 2^32, with reordering on both sides of the wrap. */
        ReplayWindow w;
        uint64_t seq;
        replay_init(&w, W, true);
        w.top = UINT32_MAX - 10;
        static const uint64_t order[] = {
                0xfffffff6, 0xfffffff8, 0xfffffff7, 0x100000001, 0xffffffff, 0x100000000, 0xfffffffe,
                0x100000003, 0x100000002, 0xfffffffd,
        };
        for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
                g_assert_cmpint(take(&w, (uint32_t) order[i], &seq), ==, PKT_OK);
                g_assert_cmphex(seq, ==, order[i]);
        }
        for (size_t i = 0; i < G_N_ELEMENTS(order); i++)
                g_assert_cmpint(take(&w, (uint32_t) order[i], NULL), ==, PKT_DROP_REPLAY);
        g_assert_cmphex(w.top, ==, 0x100000003);
        /* The lost ones between are still welcome, the old side too. */
        g_assert_cmpint(take(&w, 0xfffffffc, &seq), ==, PKT_OK);
        g_assert_cmphex(seq, ==, 0xfffffffc);
}

static void test_sender(void) {
        uint64_t last = 0, seq;
        g_assert_cmpint(replay_next_seq(&last, false, &seq), ==, PKT_OK);
        g_assert_cmpuint(seq, ==, 1);

        last = UINT32_MAX - 1;
        g_assert_cmpint(replay_next_seq(&last, false, &seq), ==, PKT_OK);
        g_assert_cmpuint(seq, ==, UINT32_MAX);
        g_assert_cmpint(replay_next_seq(&last, false, &seq), ==, PKT_DROP_SEQ_EXHAUSTED);
        g_assert_cmpint(replay_next_seq(&last, false, &seq), ==, PKT_DROP_SEQ_EXHAUSTED);
        g_assert_cmpuint(last, ==, UINT32_MAX);

        /* With ESN the counter goes on past 2^32, up to 2^64 - 1. */
        last = UINT32_MAX;
        g_assert_cmpint(replay_next_seq(&last, true, &seq), ==, PKT_OK);
        g_assert_cmpuint(seq, ==, (uint64_t) UINT32_MAX + 1);
        last = UINT64_MAX - 1;
        g_assert_cmpint(replay_next_seq(&last, true, &seq), ==, PKT_OK);
        g_assert_cmpuint(seq, ==, UINT64_MAX);
        g_assert_cmpint(replay_next_seq(&last, true, &seq), ==, PKT_DROP_SEQ_EXHAUSTED);
}

/* A random walk: the window against a set of every number accepted. */
static void test_model(gconstpointer data) {
        bool esn = GPOINTER_TO_INT(data);
        GRand *rand = g_rand_new_with_seed(0x5eed1234);
        GHashTable *seen = g_hash_table_new(g_int64_hash, g_int64_equal);
        uint64_t *store = g_new(uint64_t, 60000);
        size_t n_store = 0;
        ReplayWindow w;
        replay_init(&w, W, esn);
        uint64_t top = esn ? UINT32_MAX - 20000 : 1000;

        for (int i = 0; i < 60000; i++) {
                int64_t delta = g_rand_int_range(rand, -1500, 700);
                if (g_rand_int_range(rand, 0, 1000) == 0)
                        delta = g_rand_int_range(rand, 0, 10000); /* now and then a jump */
                if ((int64_t) top + delta <= 0)
                        continue;
                uint64_t s = (uint64_t) ((int64_t) top + delta);

                uint64_t got;
                PktDrop d = replay_check(&w, (uint32_t) s, &got);
                bool too_old = w.top >= W && s <= w.top - W;
                if (too_old) {
                        /* Without ESN it is reported too old. With ESN, far
                         * enough left it reads as the next subspace; then the
                         * ICV would fail: either way not accepted as s. */
                        g_assert_true(d == PKT_DROP_TOO_OLD || got != s);
                        continue;
                }
                g_assert_cmphex(got, ==, s);
                bool dup = g_hash_table_contains(seen, &s);
                g_assert_cmpint(d, ==, dup ? PKT_DROP_REPLAY : PKT_OK);
                if (d == PKT_OK) {
                        g_assert_cmpint(replay_update(&w, s), ==, PKT_OK);
                        store[n_store] = s;
                        g_hash_table_add(seen, &store[n_store++]);
                        if (s > top)
                                top = s;
                }
        }
        g_assert_cmpuint(n_store, >, 20000);
        if (esn)
                g_assert_cmpuint(w.top, >, UINT32_MAX);
        g_hash_table_unref(seen);
        g_free(store);
        g_rand_free(rand);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/replay/init", test_init);
        g_test_add_func("/replay/basic", test_basic);
        g_test_add_func("/replay/full-window", test_full_window);
        g_test_add_func("/replay/esn-inference", test_esn_inference);
        g_test_add_func("/replay/esn-wrap", test_esn_wrap);
        g_test_add_func("/replay/sender", test_sender);
        g_test_add_data_func("/replay/model/32", GINT_TO_POINTER(0), test_model);
        g_test_add_data_func("/replay/model/esn", GINT_TO_POINTER(1), test_model);
        return g_test_run();
}
