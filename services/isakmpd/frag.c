/* SPDX-License-Identifier: ISC */
/* IKEv2 fragmentation (RFC 7383): see frag.h. */
#include <errno.h>
#include <string.h>

#include <glib.h>

#include "frag.h"
#include "ikev2.h"

G_STATIC_ASSERT(IKE_FRAG_MAX_FRAGMENTS <= UINT16_MAX);

/* ------------------------------------------------------------ reassembly */

static const char *const result_names[_IKE_FRAG_RESULT_MAX] = {
        [IKE_FRAG_STORED] = "STORED",
        [IKE_FRAG_COMPLETE] = "COMPLETE",
        [IKE_FRAG_DUPLICATE] = "DUPLICATE",
        [IKE_FRAG_STALE] = "STALE",
        [IKE_FRAG_INVALID] = "INVALID",
};

const char *ike_frag_result_name(IkeFragResult r) {
        if ((unsigned) r >= _IKE_FRAG_RESULT_MAX)
                return "UNKNOWN";
        return result_names[r];
}

void ike_frag_init(IkeFragBuf *f) {
        memset(f, 0, sizeof *f);
}

void ike_frag_clear(IkeFragBuf *f) {
        if (!f)
                return;
        for (size_t i = 0; i < IKE_FRAG_MAX_FRAGMENTS; i++)
                g_free(f->piece[i]);
        g_free(f->message);
        ike_frag_init(f);
}

/* All pieces are held: join them into one buffer, so that the caller parses
 * one contiguous chain, and give the pieces back. */
static void assemble(IkeFragBuf *f) {
        /* Never NULL, even for an empty message: NULL means "not complete". */
        f->message = g_malloc(f->bytes ? f->bytes : 1);
        size_t off = 0;
        for (size_t i = 0; i < f->total; i++) {
                if (f->piece_len[i] > 0)
                        memcpy(f->message + off, f->piece[i], f->piece_len[i]);
                off += f->piece_len[i];
                g_free(f->piece[i]);
                f->piece[i] = NULL;
        }
        g_assert(off == f->bytes);
}

IkeFragResult ike_frag_add(IkeFragBuf *f, uint32_t msg_id, uint16_t number, uint16_t total, uint8_t first_next,
                           const uint8_t *plain, size_t len) {
        /* number >= 1 and number <= total exclude total 0 as well. */
        if (number == 0 || number > total || total > IKE_FRAG_MAX_FRAGMENTS)
                return IKE_FRAG_INVALID;
        /* An empty piece would let a peer raise Total Fragments for free. */
        if ((len == 0 && total > 1) || (len > 0 && !plain) || len > IKE_FRAG_MAX_BYTES)
                return IKE_FRAG_INVALID;

        if (f->total != 0) {
                /* 2.6.2. Message IDs never wrap: the IKE SA is rekeyed
                 * long before (RFC 7296 2.2). */
                if (msg_id < f->msg_id || (msg_id == f->msg_id && total < f->total))
                        return IKE_FRAG_STALE;
                if (msg_id == f->msg_id && total == f->total) {
                        if (f->have[number - 1])
                                return IKE_FRAG_DUPLICATE;
                        if (len > IKE_FRAG_MAX_BYTES - f->bytes)
                                return IKE_FRAG_INVALID;
                } else {
                        /* A newer message, or the peer re-fragmented this
                         * one smaller (2.6.2: start over). */
                        ike_frag_clear(f);
                }
        }

        if (f->total == 0) {
                f->msg_id = msg_id;
                f->total = total;
        }
        if (len > 0) {
                f->piece[number - 1] = g_malloc(len);
                memcpy(f->piece[number - 1], plain, len);
        }
        f->piece_len[number - 1] = len;
        f->have[number - 1] = true;
        f->bytes += len;
        f->n++;
        if (number == 1)
                f->first_next = first_next;

        if (f->n < f->total)
                return IKE_FRAG_STORED;
        assemble(f);
        return IKE_FRAG_COMPLETE;
}

const uint8_t *ike_frag_message(const IkeFragBuf *f, size_t *ret_len, uint8_t *ret_first_next) {
        if (!f->message)
                return NULL;
        *ret_len = f->bytes;
        *ret_first_next = f->first_next;
        return f->message;
}

/* ------------------------------------------------------------ splitting */

size_t ike_frag_count(size_t plain_len, size_t max_per_fragment) {
        if (max_per_fragment == 0)
                return 0;
        /* An empty message still travels, as one empty fragment. */
        size_t n = plain_len == 0 ? 1 : plain_len / max_per_fragment + (plain_len % max_per_fragment != 0);
        return n <= IKE_FRAG_MAX_FRAGMENTS ? n : 0;
}

int ike_frag_piece(size_t plain_len, size_t max_per_fragment, size_t number, size_t *ret_off, size_t *ret_len) {
        size_t n = ike_frag_count(plain_len, max_per_fragment);

        if (number == 0 || number > n)
                return -EINVAL;
        /* number <= n <= IKE_FRAG_MAX_FRAGMENTS and (number - 1) pieces of
         * max_per_fragment fit in plain_len: no overflow. */
        size_t off = (number - 1) * max_per_fragment;
        size_t rest = plain_len - off;
        *ret_off = off;
        *ret_len = rest < max_per_fragment ? rest : max_per_fragment;
        return 0;
}
