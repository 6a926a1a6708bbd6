/* SPDX-License-Identifier: ISC */
#pragma once

/* IKEv2 message fragmentation (RFC 7383): reassembly of the decrypted
 * plaintexts of SKF fragments (2.6) and the arithmetic of splitting an inner
 * plaintext for sending (2.5). Pure code: no I/O, no crypto.
 *
 * Trust: every fragment handed to ike_frag_add() has passed its ICV (cryptod
 * decrypts each one alone, 2.6), so it comes from the peer that holds the
 * IKE SA's keys, which in IKE_AUTH has not proven who it is yet. It is still
 * bounded like untrusted input: no peer makes us hold more than
 * IKE_FRAG_MAX_FRAGMENTS pieces or IKE_FRAG_MAX_BYTES octets. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bounds no legitimate peer reaches: an IKE_AUTH with a certificate chain is
 * a few kilobytes, a dozen fragments at the smallest fragment size. */
#define IKE_FRAG_MAX_FRAGMENTS 32u
#define IKE_FRAG_MAX_BYTES 65536u

/* ------------------------------------------------------------ reassembly */

typedef enum IkeFragResult {
        IKE_FRAG_STORED,             /* kept; more fragments needed */
        IKE_FRAG_COMPLETE,           /* kept, and the message is whole: ike_frag_message() */
        IKE_FRAG_DUPLICATE,          /* that number is already held: ignored */
        IKE_FRAG_STALE,              /* older message ID, or lower Total Fragments: ignored */
        IKE_FRAG_INVALID,            /* number or total out of range, empty piece, or above the limits: ignored */
        _IKE_FRAG_RESULT_MAX,
} IkeFragResult;

/* "STORED" style names, for logs. */
const char *ike_frag_result_name(IkeFragResult r);

/* The fragments of one message. The fields are for reading only. */
typedef struct IkeFragBuf {
        uint32_t msg_id;
        uint16_t total;              /* Total Fragments; 0: collecting nothing */
        uint16_t n;                  /* fragments held */
        uint8_t first_next;          /* Next Payload of fragment 1, once held */
        size_t bytes;                /* octets held, all fragments together */
        bool have[IKE_FRAG_MAX_FRAGMENTS]; /* by Fragment Number - 1 */
        uint8_t *piece[IKE_FRAG_MAX_FRAGMENTS];
        size_t piece_len[IKE_FRAG_MAX_FRAGMENTS];
        uint8_t *message;            /* the concatenation, once complete */
} IkeFragBuf;

void ike_frag_init(IkeFragBuf *f);
/* Frees what is held and forgets the message ID; f may be NULL. */
void ike_frag_clear(IkeFragBuf *f);

/*
 * Adds the decrypted plaintext plain[0, len) of fragment number of total of
 * message msg_id; first_next is the fragment's SKF Next Payload, which only
 * fragment 1 carries (2.5: the others send 0, and it is not checked).
 *
 * INVALID, whatever is being collected: number 0 or above total, total 0 or
 * above IKE_FRAG_MAX_FRAGMENTS, an empty plaintext in a message of more than
 * one fragment (only a one-fragment message may be empty), len above
 * IKE_FRAG_MAX_BYTES or above what the collected message has room for.
 * Then, against the message being collected (2.6.2): an older message ID or
 * a lower Total Fragments is STALE; a newer message ID or a higher Total
 * Fragments discards what was collected and starts over with this fragment;
 * a number already held is a DUPLICATE (its content is not compared). Only
 * STORED and COMPLETE change the buffer.
 *
 * Which message IDs are acceptable at all (window, retransmissions of a
 * message already answered) is the caller's to decide before the call:
 * after ike_frag_clear() the buffer remembers none.
 */
IkeFragResult ike_frag_add(IkeFragBuf *f, uint32_t msg_id, uint16_t number, uint16_t total, uint8_t first_next,
                           const uint8_t *plain, size_t len);

/* After COMPLETE: the plaintexts in fragment order (the inner payload chain
 * for ike_msg_parse_inner()), valid until the next ike_frag_add() or
 * ike_frag_clear(), with its length and fragment 1's Next Payload. NULL when
 * the message is not complete. */
const uint8_t *ike_frag_message(const IkeFragBuf *f, size_t *ret_len, uint8_t *ret_first_next);

/* ------------------------------------------------------------ splitting */

/* Fragments for a plaintext of plain_len octets, at most max_per_fragment
 * each: 1 for an empty plaintext; 0 when max_per_fragment is 0 or more
 * than IKE_FRAG_MAX_FRAGMENTS would be needed (a peer running this code
 * would refuse them: send it unfragmented or not at all). */
size_t ike_frag_count(size_t plain_len, size_t max_per_fragment);

/* Where fragment number (1..ike_frag_count()) is in the plaintext: all
 * max_per_fragment octets but the last. -EINVAL when number is out of
 * range. */
int ike_frag_piece(size_t plain_len, size_t max_per_fragment, size_t number, size_t *ret_off, size_t *ret_len);
