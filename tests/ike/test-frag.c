/* SPDX-License-Identifier: ISC */
/* IKEv2 fragmentation (services/isakmpd/frag.c, RFC 7383): reassembly in
 * and out of order, every rule of 2.6.2 (duplicates, a higher or lower
 * Total Fragments, newer and older message IDs), every invalid fragment and
 * the limits, each refusal leaving the buffer exactly as it was; then the
 * fragment size arithmetic, and split → reassemble round trips. Every
 * plaintext is handed over in a heap block of exactly its size, so that a
 * sanitizer build catches any read past it. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "frag.h"
#include "ikev2.h"

/* ------------------------------------------------------------ helpers */

/* A pattern that differs by seed and by position. */
static void fill(uint8_t *p, size_t n, uint8_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed * 31u + i * 7u + (i >> 8));
}

/* Adds plain[0, len) from an exact-size heap copy. Not inlined, so that the
 * compiler does not second-guess test lengths. */
G_GNUC_NO_INLINE static IkeFragResult add(IkeFragBuf *f, uint32_t msg_id, uint16_t number, uint16_t total,
                                          uint8_t next, const uint8_t *plain, size_t len) {
        uint8_t *copy = len ? g_malloc(len) : NULL;
        if (len)
                memcpy(copy, plain, len);
        IkeFragResult r = ike_frag_add(f, msg_id, number, total, next, copy, len);
        g_free(copy);
        return r;
}

/* Fragment number of total of a message whose fragments are each len
 * octets of the pattern seed + number. */
static IkeFragResult add_pattern(IkeFragBuf *f, uint32_t msg_id, uint16_t number, uint16_t total, size_t len,
                                 uint8_t seed) {
        g_autofree uint8_t *p = g_malloc(len ? len : 1);
        fill(p, len, (uint8_t) (seed + number));
        return add(f, msg_id, number, total, number == 1 ? IKE_PL_IDI : IKE_PL_NONE, p, len);
}

#define assert_result(expr, want)                                                                            \
        do {                                                                                                 \
                IkeFragResult r_ = (expr);                                                                   \
                if (r_ != (want))                                                                            \
                        g_error("%s: %s, want %s", #expr, ike_frag_result_name(r_), ike_frag_result_name(want)); \
        } while (0)

/* The message of a completed buffer equals the concatenation of the
 * pattern pieces of add_pattern(). */
static void assert_pattern_message(const IkeFragBuf *f, uint16_t total, size_t len, uint8_t seed) {
        size_t got_len = 0;
        uint8_t next = 0;
        const uint8_t *m = ike_frag_message(f, &got_len, &next);
        g_assert_nonnull(m);
        g_assert_cmpuint(got_len, ==, total * len);
        g_assert_cmpuint(next, ==, IKE_PL_IDI);
        g_autofree uint8_t *want = g_malloc(len ? len : 1);
        for (uint16_t i = 1; i <= total; i++) {
                fill(want, len, (uint8_t) (seed + i));
                g_assert_cmpmem(m + (i - 1) * len, len, want, len);
        }
}

static void assert_incomplete(const IkeFragBuf *f) {
        size_t len = 0;
        uint8_t next = 0;
        g_assert_null(ike_frag_message(f, &len, &next));
}

/* Nothing in the buffer moved (pointers included). */
static void assert_same(const IkeFragBuf *a, const IkeFragBuf *b) {
        g_assert_true(memcmp(a, b, sizeof *a) == 0);
}

/* ------------------------------------------------------------ reassembly */

static void test_names(void) {
        for (int r = 0; r < _IKE_FRAG_RESULT_MAX; r++)
                g_assert_cmpstr(ike_frag_result_name(r), !=, "UNKNOWN");
        g_assert_cmpstr(ike_frag_result_name(IKE_FRAG_STALE), ==, "STALE");
        g_assert_cmpstr(ike_frag_result_name(_IKE_FRAG_RESULT_MAX), ==, "UNKNOWN");
        g_assert_cmpstr(ike_frag_result_name((IkeFragResult) -1), ==, "UNKNOWN");
}

static void test_in_order(void) {
        IkeFragBuf f;
        ike_frag_init(&f);
        assert_incomplete(&f);
        assert_result(add_pattern(&f, 7, 1, 3, 100, 0), IKE_FRAG_STORED);
        assert_incomplete(&f);
        assert_result(add_pattern(&f, 7, 2, 3, 100, 0), IKE_FRAG_STORED);
        assert_result(add_pattern(&f, 7, 3, 3, 57, 0), IKE_FRAG_COMPLETE);

        size_t len = 0;
        uint8_t next = 0;
        const uint8_t *m = ike_frag_message(&f, &len, &next);
        g_assert_nonnull(m);
        g_assert_cmpuint(len, ==, 257);
        g_assert_cmpuint(next, ==, IKE_PL_IDI);
        uint8_t want[100];
        fill(want, 100, 1);
        g_assert_cmpmem(m, 100, want, 100);
        fill(want, 100, 2);
        g_assert_cmpmem(m + 100, 100, want, 100);
        fill(want, 57, 3);
        g_assert_cmpmem(m + 200, 57, want, 57);
        ike_frag_clear(&f);
        assert_incomplete(&f);

        /* One fragment is a whole message. */
        assert_result(add_pattern(&f, 8, 1, 1, 40, 9), IKE_FRAG_COMPLETE);
        assert_pattern_message(&f, 1, 40, 9);
        ike_frag_clear(&f);
        ike_frag_clear(NULL);
}

/* Every order of five fragments, fragment 1 (the only one with a Next
 * Payload) anywhere among them; the others' Next Payload is ignored. */
static void test_out_of_order(void) {
        enum { N = 5 };
        unsigned perm[N] = { 0, 1, 2, 3, 4 };
        size_t n_orders = 0;

        for (;;) {
                IkeFragBuf f;
                ike_frag_init(&f);
                for (size_t i = 0; i < N; i++) {
                        uint16_t number = (uint16_t) (perm[i] + 1);
                        uint8_t p[33];
                        fill(p, sizeof p, (uint8_t) (5 + number));
                        uint8_t next = number == 1 ? IKE_PL_IDI : (uint8_t) (0xf0 + i);
                        assert_result(add(&f, 1, number, N, next, p, sizeof p),
                                      i + 1 < N ? IKE_FRAG_STORED : IKE_FRAG_COMPLETE);
                }
                assert_pattern_message(&f, N, 33, 5);
                ike_frag_clear(&f);
                n_orders++;

                /* Next permutation, lexicographic. */
                int i = N - 2;
                while (i >= 0 && perm[i] > perm[i + 1])
                        i--;
                if (i < 0)
                        break;
                int j = N - 1;
                while (perm[j] < perm[i])
                        j--;
                unsigned t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
                for (int a = i + 1, b = N - 1; a < b; a++, b--) {
                        t = perm[a];
                        perm[a] = perm[b];
                        perm[b] = t;
                }
        }
        g_assert_cmpuint(n_orders, ==, 120);
}

static void test_duplicate(void) {
        IkeFragBuf f, before;
        ike_frag_init(&f);
        assert_result(add_pattern(&f, 3, 2, 3, 50, 0), IKE_FRAG_STORED);

        /* Same number, other content and length: the first one stays. */
        before = f;
        uint8_t other[80];
        memset(other, 0xee, sizeof other);
        assert_result(add(&f, 3, 2, 3, 0, other, sizeof other), IKE_FRAG_DUPLICATE);
        assert_result(add_pattern(&f, 3, 2, 3, 50, 0), IKE_FRAG_DUPLICATE);
        assert_same(&f, &before);

        assert_result(add_pattern(&f, 3, 1, 3, 50, 0), IKE_FRAG_STORED);
        assert_result(add(&f, 3, 1, 3, IKE_PL_AUTH, other, 10), IKE_FRAG_DUPLICATE);
        assert_result(add_pattern(&f, 3, 3, 3, 50, 0), IKE_FRAG_COMPLETE);

        /* After completion (a retransmission before the caller cleared):
         * still a duplicate, the message untouched. */
        before = f;
        assert_result(add_pattern(&f, 3, 3, 3, 50, 0), IKE_FRAG_DUPLICATE);
        assert_result(add(&f, 3, 1, 3, IKE_PL_AUTH, other, 20), IKE_FRAG_DUPLICATE);
        assert_same(&f, &before);
        assert_pattern_message(&f, 3, 50, 0);
        ike_frag_clear(&f);
}

static void test_missing(void) {
        IkeFragBuf f;
        ike_frag_init(&f);
        for (int round = 0; round < 10; round++)
                for (uint16_t number = 1; number <= 4; number++) {
                        if (number == 3)
                                continue;
                        assert_result(add_pattern(&f, 9, number, 4, 20, 0),
                                      round == 0 ? IKE_FRAG_STORED : IKE_FRAG_DUPLICATE);
                        assert_incomplete(&f);
                }
        g_assert_cmpuint(f.n, ==, 3);
        g_assert_cmpuint(f.bytes, ==, 60);
        assert_result(add_pattern(&f, 9, 3, 4, 20, 0), IKE_FRAG_COMPLETE);
        assert_pattern_message(&f, 4, 20, 0);
        ike_frag_clear(&f);
}

/* 2.6.2: a higher Total Fragments (the peer re-fragmented the message
 * smaller after a timeout) throws away what was collected. */
static void test_higher_total(void) {
        IkeFragBuf f;
        ike_frag_init(&f);
        assert_result(add_pattern(&f, 4, 1, 2, 300, 0), IKE_FRAG_STORED);
        assert_result(add_pattern(&f, 4, 2, 4, 150, 20), IKE_FRAG_STORED);
        g_assert_cmpuint(f.total, ==, 4);
        g_assert_cmpuint(f.n, ==, 1);
        g_assert_cmpuint(f.bytes, ==, 150);
        /* Fragment 1 of the old split must not count for the new one. */
        assert_result(add_pattern(&f, 4, 3, 4, 150, 20), IKE_FRAG_STORED);
        assert_result(add_pattern(&f, 4, 4, 4, 150, 20), IKE_FRAG_STORED);
        assert_incomplete(&f);
        assert_result(add_pattern(&f, 4, 1, 4, 150, 20), IKE_FRAG_COMPLETE);
        assert_pattern_message(&f, 4, 150, 20);

        /* Even a complete message starts over. */
        assert_result(add_pattern(&f, 4, 5, 5, 10, 40), IKE_FRAG_STORED);
        assert_incomplete(&f);
        g_assert_cmpuint(f.n, ==, 1);
        ike_frag_clear(&f);
}

static void test_lower_total(void) {
        IkeFragBuf f, before;
        ike_frag_init(&f);
        assert_result(add_pattern(&f, 4, 1, 4, 150, 0), IKE_FRAG_STORED);
        before = f;
        assert_result(add_pattern(&f, 4, 2, 2, 300, 0), IKE_FRAG_STALE);
        assert_result(add_pattern(&f, 4, 1, 3, 200, 0), IKE_FRAG_STALE);
        assert_result(add_pattern(&f, 4, 1, 1, 600, 0), IKE_FRAG_STALE);
        assert_same(&f, &before);
        for (uint16_t number = 2; number <= 4; number++)
                assert_result(add_pattern(&f, 4, number, 4, 150, 0),
                              number < 4 ? IKE_FRAG_STORED : IKE_FRAG_COMPLETE);
        assert_pattern_message(&f, 4, 150, 0);
        ike_frag_clear(&f);
}

static void test_newer_id(void) {
        IkeFragBuf f;
        ike_frag_init(&f);
        assert_result(add_pattern(&f, 10, 1, 3, 100, 0), IKE_FRAG_STORED);
        assert_result(add_pattern(&f, 10, 2, 3, 100, 0), IKE_FRAG_STORED);
        /* A lower total with a newer ID is a new message, not stale. */
        assert_result(add_pattern(&f, 11, 2, 2, 70, 50), IKE_FRAG_STORED);
        g_assert_cmpuint(f.msg_id, ==, 11);
        g_assert_cmpuint(f.total, ==, 2);
        g_assert_cmpuint(f.n, ==, 1);
        g_assert_cmpuint(f.bytes, ==, 70);
        assert_result(add_pattern(&f, 11, 1, 2, 70, 50), IKE_FRAG_COMPLETE);
        assert_pattern_message(&f, 2, 70, 50);

        /* And after a complete one. */
        assert_result(add_pattern(&f, UINT32_MAX, 1, 2, 5, 60), IKE_FRAG_STORED);
        g_assert_cmpuint(f.msg_id, ==, UINT32_MAX);
        assert_incomplete(&f);
        ike_frag_clear(&f);
}

static void test_stale_id(void) {
        IkeFragBuf f, before;
        ike_frag_init(&f);
        assert_result(add_pattern(&f, 6, 1, 2, 100, 0), IKE_FRAG_STORED);
        before = f;
        assert_result(add_pattern(&f, 5, 2, 2, 100, 0), IKE_FRAG_STALE);
        assert_result(add_pattern(&f, 5, 1, 8, 100, 0), IKE_FRAG_STALE);
        assert_result(add_pattern(&f, 0, 1, 1, 100, 0), IKE_FRAG_STALE);
        assert_same(&f, &before);
        assert_result(add_pattern(&f, 6, 2, 2, 100, 0), IKE_FRAG_COMPLETE);
        before = f;
        assert_result(add_pattern(&f, 5, 1, 1, 100, 0), IKE_FRAG_STALE);
        assert_same(&f, &before);

        /* The caller's clear forgets the ID: the window is its business. */
        ike_frag_clear(&f);
        assert_result(add_pattern(&f, 5, 1, 1, 100, 0), IKE_FRAG_COMPLETE);
        ike_frag_clear(&f);
}

/* Each invalid fragment, against an empty buffer and against one that is
 * collecting (it must not disturb it, even with a newer ID). */
static void test_invalid(void) {
        static const uint8_t p[16] = { 1, 2, 3 };
        const struct {
                const char *what;
                uint32_t msg_id;
                uint16_t number, total;
                bool null_plain;
                size_t len;
        } cases[] = {
                { "number 0", 2, 0, 2, false, 16 },
                { "number 0, total 0", 2, 0, 0, false, 16 },
                { "total 0", 2, 1, 0, false, 16 },
                { "number above total", 2, 3, 2, false, 16 },
                { "number 65535 of 1", 2, UINT16_MAX, 1, false, 16 },
                { "total above the limit", 2, 1, IKE_FRAG_MAX_FRAGMENTS + 1, false, 16 },
                { "total 65535", 2, 1, UINT16_MAX, false, 16 },
                { "empty of 2", 2, 1, 2, false, 0 },
                { "empty of 2, newer ID", 3, 2, 2, true, 0 },
                { "NULL with a length", 2, 1, 2, true, 16 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                for (int collecting = 0; collecting < 2; collecting++) {
                        IkeFragBuf f, before;
                        ike_frag_init(&f);
                        if (collecting)
                                assert_result(add_pattern(&f, 2, 2, 2, 10, 0), IKE_FRAG_STORED);
                        before = f;
                        IkeFragResult r = ike_frag_add(&f, cases[i].msg_id, cases[i].number, cases[i].total, 0,
                                                       cases[i].null_plain ? NULL : p, cases[i].len);
                        if (r != IKE_FRAG_INVALID)
                                g_error("%s: %s", cases[i].what, ike_frag_result_name(r));
                        assert_same(&f, &before);
                        ike_frag_clear(&f);
                }
        }

        /* A one-fragment message may be empty (NULL or not): an empty
         * INFORMATIONAL. */
        IkeFragBuf f;
        ike_frag_init(&f);
        assert_result(ike_frag_add(&f, 1, 1, 1, IKE_PL_NONE, NULL, 0), IKE_FRAG_COMPLETE);
        size_t len = 1;
        uint8_t next = 1;
        g_assert_nonnull(ike_frag_message(&f, &len, &next));
        g_assert_cmpuint(len, ==, 0);
        g_assert_cmpuint(next, ==, IKE_PL_NONE);
        ike_frag_clear(&f);
        assert_result(ike_frag_add(&f, 1, 1, 1, IKE_PL_NONE, p, 0), IKE_FRAG_COMPLETE);
        ike_frag_clear(&f);
}

static void test_fragment_limit(void) {
        IkeFragBuf f;
        ike_frag_init(&f);
        for (uint16_t number = IKE_FRAG_MAX_FRAGMENTS; number >= 1; number--)
                assert_result(add_pattern(&f, 1, number, IKE_FRAG_MAX_FRAGMENTS, 17, 0),
                              number > 1 ? IKE_FRAG_STORED : IKE_FRAG_COMPLETE);
        assert_pattern_message(&f, IKE_FRAG_MAX_FRAGMENTS, 17, 0);
        /* One more than the limit is refused, even as a higher total. */
        assert_result(add_pattern(&f, 1, 1, IKE_FRAG_MAX_FRAGMENTS + 1, 17, 0), IKE_FRAG_INVALID);
        assert_pattern_message(&f, IKE_FRAG_MAX_FRAGMENTS, 17, 0);
        ike_frag_clear(&f);
}

static void test_byte_limit(void) {
        enum { PIECE = IKE_FRAG_MAX_BYTES / IKE_FRAG_MAX_FRAGMENTS };
        g_autofree uint8_t *big = g_malloc(IKE_FRAG_MAX_BYTES + 1);
        fill(big, IKE_FRAG_MAX_BYTES + 1, 3);
        IkeFragBuf f, before;
        ike_frag_init(&f);

        /* Exactly the limit, in one fragment or in the most. */
        assert_result(add(&f, 1, 1, 1, IKE_PL_SA, big, IKE_FRAG_MAX_BYTES), IKE_FRAG_COMPLETE);
        ike_frag_clear(&f);
        assert_result(add(&f, 1, 1, 1, IKE_PL_SA, big, IKE_FRAG_MAX_BYTES + 1), IKE_FRAG_INVALID);
        for (uint16_t number = 1; number <= IKE_FRAG_MAX_FRAGMENTS; number++)
                assert_result(add_pattern(&f, 2, number, IKE_FRAG_MAX_FRAGMENTS, PIECE, 0),
                              number < IKE_FRAG_MAX_FRAGMENTS ? IKE_FRAG_STORED : IKE_FRAG_COMPLETE);
        g_assert_cmpuint(f.bytes, ==, IKE_FRAG_MAX_BYTES);
        assert_pattern_message(&f, IKE_FRAG_MAX_FRAGMENTS, PIECE, 0);
        ike_frag_clear(&f);

        /* One octet over, by the last fragment to arrive: refused, the
         * rest kept; the message never completes that way. */
        for (uint16_t number = 1; number < IKE_FRAG_MAX_FRAGMENTS; number++)
                assert_result(add_pattern(&f, 3, number, IKE_FRAG_MAX_FRAGMENTS, PIECE, 0), IKE_FRAG_STORED);
        before = f;
        assert_result(add(&f, 3, IKE_FRAG_MAX_FRAGMENTS, IKE_FRAG_MAX_FRAGMENTS, 0, big, PIECE + 1), IKE_FRAG_INVALID);
        assert_same(&f, &before);
        assert_incomplete(&f);
        /* A fragment that fits still completes it. */
        assert_result(add_pattern(&f, 3, IKE_FRAG_MAX_FRAGMENTS, IKE_FRAG_MAX_FRAGMENTS, PIECE, 0),
                      IKE_FRAG_COMPLETE);
        ike_frag_clear(&f);

        /* Two large fragments: the second one overflows. */
        assert_result(add(&f, 4, 1, 2, IKE_PL_SA, big, IKE_FRAG_MAX_BYTES - 10), IKE_FRAG_STORED);
        assert_result(add(&f, 4, 2, 2, 0, big, 11), IKE_FRAG_INVALID);
        assert_result(add(&f, 4, 2, 2, 0, big, 10), IKE_FRAG_COMPLETE);
        g_assert_cmpuint(f.bytes, ==, IKE_FRAG_MAX_BYTES);
        ike_frag_clear(&f);
}

/* ------------------------------------------------------------ splitting */

static void test_count_piece(void) {
        g_assert_cmpuint(ike_frag_count(0, 100), ==, 1);
        g_assert_cmpuint(ike_frag_count(1, 100), ==, 1);
        g_assert_cmpuint(ike_frag_count(100, 100), ==, 1);
        g_assert_cmpuint(ike_frag_count(101, 100), ==, 2);
        g_assert_cmpuint(ike_frag_count(100, 0), ==, 0);
        g_assert_cmpuint(ike_frag_count(0, 0), ==, 0);
        g_assert_cmpuint(ike_frag_count(IKE_FRAG_MAX_FRAGMENTS * 100, 100), ==, IKE_FRAG_MAX_FRAGMENTS);
        g_assert_cmpuint(ike_frag_count(IKE_FRAG_MAX_FRAGMENTS * 100 + 1, 100), ==, 0);
        g_assert_cmpuint(ike_frag_count(SIZE_MAX, 1), ==, 0);
        g_assert_cmpuint(ike_frag_count(SIZE_MAX, SIZE_MAX), ==, 1);

        size_t off = 7, len = 7;
        g_assert_cmpint(ike_frag_piece(250, 100, 0, &off, &len), ==, -EINVAL);
        g_assert_cmpint(ike_frag_piece(250, 100, 4, &off, &len), ==, -EINVAL);
        g_assert_cmpint(ike_frag_piece(250, 0, 1, &off, &len), ==, -EINVAL);
        g_assert_cmpint(ike_frag_piece(IKE_FRAG_MAX_FRAGMENTS * 100 + 1, 100, 1, &off, &len), ==, -EINVAL);
        g_assert_cmpuint(off, ==, 7);
        g_assert_cmpuint(len, ==, 7);
        g_assert_cmpint(ike_frag_piece(250, 100, 3, &off, &len), ==, 0);
        g_assert_cmpuint(off, ==, 200);
        g_assert_cmpuint(len, ==, 50);
        g_assert_cmpint(ike_frag_piece(0, 100, 1, &off, &len), ==, 0);
        g_assert_cmpuint(off, ==, 0);
        g_assert_cmpuint(len, ==, 0);
        g_assert_cmpint(ike_frag_piece(SIZE_MAX, SIZE_MAX, 1, &off, &len), ==, 0);
        g_assert_cmpuint(len, ==, SIZE_MAX);
}

/* Split with count/piece, hand the pieces over in order or backwards as
 * the peer would receive them, and get the original back. */
static void test_split_round_trip(void) {
        static const size_t sizes[] = { 1, 2, 3, 7, 16, 100, 463, 483, 1171, 2048, 4000 };
        g_autofree uint8_t *plain = g_malloc(IKE_FRAG_MAX_BYTES);
        fill(plain, IKE_FRAG_MAX_BYTES, 77);
        size_t n_trips = 0;

        for (size_t s = 0; s < G_N_ELEMENTS(sizes); s++) {
                size_t max = sizes[s];
                for (size_t plain_len = 0; plain_len <= IKE_FRAG_MAX_BYTES;
                     plain_len += plain_len < 300 ? 1 : 997) {
                        size_t n = ike_frag_count(plain_len, max);
                        if (n == 0) {
                                g_assert_cmpuint(plain_len, >, max * IKE_FRAG_MAX_FRAGMENTS);
                                continue;
                        }
                        g_assert_cmpuint(n, <=, IKE_FRAG_MAX_FRAGMENTS);
                        for (int backwards = 0; backwards < 2; backwards++) {
                                IkeFragBuf f;
                                ike_frag_init(&f);
                                size_t next_off = 0;
                                for (size_t i = 0; i < n; i++) {
                                        size_t number = backwards ? n - i : i + 1, off, len;
                                        g_assert_cmpint(ike_frag_piece(plain_len, max, number, &off, &len), ==, 0);
                                        g_assert_cmpuint(len, <=, max);
                                        g_assert_true(len > 0 || plain_len == 0);
                                        g_assert_cmpuint(off, <=, plain_len);
                                        g_assert_cmpuint(len, <=, plain_len - off);
                                        if (!backwards) {
                                                /* Contiguous, all full but the last. */
                                                g_assert_cmpuint(off, ==, next_off);
                                                next_off += len;
                                                if (number < n)
                                                        g_assert_cmpuint(len, ==, max);
                                        }
                                        assert_result(add(&f, 42, (uint16_t) number, (uint16_t) n,
                                                          number == 1 ? IKE_PL_SA : IKE_PL_NONE, plain + off, len),
                                                      i + 1 < n ? IKE_FRAG_STORED : IKE_FRAG_COMPLETE);
                                }
                                if (!backwards)
                                        g_assert_cmpuint(next_off, ==, plain_len);
                                g_assert_cmpint(ike_frag_piece(plain_len, max, n + 1, &(size_t){ 0 },
                                                               &(size_t){ 0 }), ==, -EINVAL);
                                size_t len = 0;
                                uint8_t first = 0;
                                const uint8_t *m = ike_frag_message(&f, &len, &first);
                                g_assert_nonnull(m);
                                g_assert_cmpmem(m, len, plain, plain_len);
                                g_assert_cmpuint(first, ==, IKE_PL_SA);
                                ike_frag_clear(&f);
                                n_trips++;
                        }
                }
        }
        g_test_message("%zu round trips", n_trips);
        g_assert_cmpuint(n_trips, >, 1000);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/ike/frag/names", test_names);
        g_test_add_func("/ike/frag/in-order", test_in_order);
        g_test_add_func("/ike/frag/out-of-order", test_out_of_order);
        g_test_add_func("/ike/frag/duplicate", test_duplicate);
        g_test_add_func("/ike/frag/missing", test_missing);
        g_test_add_func("/ike/frag/higher-total", test_higher_total);
        g_test_add_func("/ike/frag/lower-total", test_lower_total);
        g_test_add_func("/ike/frag/newer-id", test_newer_id);
        g_test_add_func("/ike/frag/stale-id", test_stale_id);
        g_test_add_func("/ike/frag/invalid", test_invalid);
        g_test_add_func("/ike/frag/limit/fragments", test_fragment_limit);
        g_test_add_func("/ike/frag/limit/bytes", test_byte_limit);
        g_test_add_func("/ike/frag/count-piece", test_count_piece);
        g_test_add_func("/ike/frag/split-round-trip", test_split_round_trip);
        return g_test_run();
}
