/* SPDX-License-Identifier: ISC */
#pragma once

/* Anti-replay for ESP and AH (RFC 4303 §3.4.3 and Appendix A, RFC 4302
 * §3.4.3), with 64-bit extended sequence numbers, and the sender's sequence
 * counter.
 *
 * The receive window is a ring bitmap of REPLAY_BITMAP_BITS bits that never
 * shifts (the layout of RFC 6479): one 64-bit word per 64 sequence numbers,
 * and moving the window forward only clears the words it enters. One word is
 * kept as slack, so the usable window is REPLAY_WINDOW_MAX packets.
 *
 * The receiver splits its work in two, in the data path order: check()
 * before the ICV is verified (no state change, so that a forged packet
 * cannot move the window) and update() once the ICV verified. */

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"

#define REPLAY_BITMAP_BITS 4096u
#define REPLAY_BITMAP_WORDS (REPLAY_BITMAP_BITS / 64u)
#define REPLAY_WINDOW_MAX (REPLAY_BITMAP_BITS - 64u)
#define REPLAY_WINDOW_DEFAULT REPLAY_WINDOW_MAX

typedef struct ReplayWindow {
        uint64_t top;    /* highest authenticated sequence number; 0: none yet */
        uint32_t size;   /* window size W in packets, 1..REPLAY_WINDOW_MAX */
        bool esn;        /* 64-bit sequence numbers, 32 on the wire */
        uint64_t bits[REPLAY_BITMAP_WORDS];
} ReplayWindow;

/* size 0 takes REPLAY_WINDOW_DEFAULT; larger than REPLAY_WINDOW_MAX is
 * clamped. */
void replay_init(ReplayWindow *w, uint32_t size, bool esn);

/* Before the ICV check: infers the full sequence number from the 32 bits on
 * the wire (with ESN: the high half from the window, RFC 4303 A2.2), and
 * tells whether it could be new. *ret_seq is the value to authenticate with
 * (its high half goes into the ICV) and to hand to replay_update().
 * Returns PKT_OK, PKT_DROP_REPLAY (seen), or PKT_DROP_TOO_OLD (left of the
 * window, or 0, which is never sent). Changes nothing. */
PktDrop replay_check(const ReplayWindow *w, uint32_t seq_low, uint64_t *ret_seq);

/* After the ICV verified: marks seq as seen, moving the window forward if it
 * is the highest so far. Checks again (a batch may hold two copies of one
 * packet that both passed replay_check()): PKT_DROP_REPLAY/TOO_OLD then,
 * and nothing changes. */
PktDrop replay_update(ReplayWindow *w, uint64_t seq);

/* Sender: the next sequence number after *last (0: none sent yet). Fails
 * with PKT_DROP_SEQ_EXHAUSTED, leaving *last alone, when the counter would
 * cycle: after 2^32-1 without ESN, after 2^64-1 with it (RFC 4303 §3.3.3:
 * the SA must then be rekeyed). */
PktDrop replay_next_seq(uint64_t *last, bool esn, uint64_t *ret_seq);
