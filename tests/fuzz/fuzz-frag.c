/* SPDX-License-Identifier: ISC */
/* Reassembly of IKEv2 fragments (services/isakmpd/frag.c, RFC 7383 2.6):
 * a sequence of decrypted fragments, as a peer holding the keys may send
 * them, into one IkeFragBuf.
 *
 * Input: records of 7 bytes, then the plaintext:
 *   flags     bit 0: do not clear after COMPLETE (more fragments arrive
 *             before the caller clears); bit 1: the plaintext is not in the
 *             input but length octets of a pattern; bits 2-3: add that many
 *             times 32768 to a pattern's length (to cross IKE_FRAG_MAX_BYTES)
 *   msg_id    1 byte (small, so that IDs meet)
 *   number    1 byte
 *   total     1 byte
 *   next      1 byte, the SKF Next Payload
 *   length    2 bytes, big-endian; from the input, cut to what is left
 * Checks besides the sanitizers, after every fragment:
 *  - the result is the one a model of 2.6.2 kept here expects;
 *  - never more than IKE_FRAG_MAX_FRAGMENTS pieces nor IKE_FRAG_MAX_BYTES
 *    octets held, n and bytes what the held pieces say;
 *  - a message exactly when complete: the model's pieces joined in
 *    fragment order (so its length is the sum of theirs), with fragment
 *    1's Next Payload. */
#include <string.h>

#include "fuzz.h"
#include "frag.h"

/* What the buffer should hold: the fragments of the message being
 * collected, as they were accepted. */
typedef struct Model {
        bool active;
        bool complete;
        uint32_t msg_id;
        uint16_t total;
        uint8_t first_next;
        size_t n, bytes;
        bool have[IKE_FRAG_MAX_FRAGMENTS];
        uint8_t *piece[IKE_FRAG_MAX_FRAGMENTS];
        size_t len[IKE_FRAG_MAX_FRAGMENTS];
} Model;

static void model_reset(Model *m) {
        for (size_t i = 0; i < IKE_FRAG_MAX_FRAGMENTS; i++)
                g_free(m->piece[i]);
        memset(m, 0, sizeof *m);
}

/* RFC 7383 2.6.2 and the limits of frag.h, written from the rules rather
 * than from frag.c. */
static IkeFragResult model_add(Model *m, uint32_t msg_id, uint16_t number, uint16_t total, uint8_t next,
                               const uint8_t *plain, size_t len) {
        if (number < 1 || number > total || total > IKE_FRAG_MAX_FRAGMENTS || len > IKE_FRAG_MAX_BYTES ||
            (len == 0 && total != 1))
                return IKE_FRAG_INVALID;
        bool same = m->active && msg_id == m->msg_id && total == m->total;
        if (m->active && (msg_id < m->msg_id || (msg_id == m->msg_id && total < m->total)))
                return IKE_FRAG_STALE;
        if (same && m->have[number - 1])
                return IKE_FRAG_DUPLICATE;
        if (same && m->bytes + len > IKE_FRAG_MAX_BYTES)
                return IKE_FRAG_INVALID;
        if (!same) {
                model_reset(m);
                m->active = true;
                m->msg_id = msg_id;
                m->total = total;
        }
        m->have[number - 1] = true;
        if (len > 0) {
                m->piece[number - 1] = g_malloc(len);
                memcpy(m->piece[number - 1], plain, len);
        }
        m->len[number - 1] = len;
        m->bytes += len;
        m->n++;
        if (number == 1)
                m->first_next = next;
        m->complete = m->n == m->total;
        return m->complete ? IKE_FRAG_COMPLETE : IKE_FRAG_STORED;
}

static void check(const IkeFragBuf *f, const Model *m) {
        FUZZ_CHECK(f->total <= IKE_FRAG_MAX_FRAGMENTS && f->n <= f->total, "%u of %u held", f->n, f->total);
        FUZZ_CHECK(f->bytes <= IKE_FRAG_MAX_BYTES, "%zu octets held", f->bytes);
        FUZZ_CHECK(f->total == m->total && f->n == m->n && f->bytes == m->bytes,
                   "holds %u of %u, %zu octets; model %zu of %u, %zu", f->n, f->total, f->bytes, m->n, m->total,
                   m->bytes);
        if (m->active)
                FUZZ_CHECK(f->msg_id == m->msg_id, "message ID %u, model %u", f->msg_id, m->msg_id);
        size_t n = 0;
        for (size_t i = 0; i < IKE_FRAG_MAX_FRAGMENTS; i++)
                n += f->have[i];
        FUZZ_CHECK(n == f->n, "%zu pieces marked, n %u", n, f->n);

        size_t len = 0;
        uint8_t next = 0;
        const uint8_t *msg = ike_frag_message(f, &len, &next);
        FUZZ_CHECK(!msg == !m->complete, "message %s, model %s", msg ? "given" : "none",
                   m->complete ? "complete" : "not");
        if (!msg)
                return;
        FUZZ_CHECK(len == m->bytes, "message of %zu octets, pieces %zu", len, m->bytes);
        FUZZ_CHECK(next == m->first_next, "Next Payload %u, fragment 1 had %u", next, m->first_next);
        size_t off = 0;
        for (size_t i = 0; i < m->total; i++) {
                FUZZ_CHECK(m->len[i] <= len - off, "pieces longer than the message");
                FUZZ_CHECK(m->len[i] == 0 || memcmp(msg + off, m->piece[i], m->len[i]) == 0,
                           "fragment %zu differs in the message", i + 1);
                off += m->len[i];
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        FuzzInput in = { data, size };
        IkeFragBuf f;
        Model m = { 0 };
        ike_frag_init(&f);

        while (in.len >= 7) {
                uint8_t flags = fuzz_u8(&in);
                uint32_t msg_id = fuzz_u8(&in);
                uint16_t number = fuzz_u8(&in), total = fuzz_u8(&in);
                uint8_t next = fuzz_u8(&in);
                size_t len = (size_t) fuzz_u8(&in) << 8;
                len |= fuzz_u8(&in);

                g_autofree uint8_t *pattern = NULL;
                const uint8_t *plain;
                if (flags & 2) {
                        len += (size_t) (flags >> 2 & 3) * 32768;
                        pattern = g_malloc(len ? len : 1);
                        memset(pattern, next ^ number, len);
                        plain = pattern;
                } else {
                        if (len > in.len)
                                len = in.len;
                        plain = in.p;
                        in.p += len;
                        in.len -= len;
                }

                IkeFragResult want = model_add(&m, msg_id, number, total, next, plain, len);
                IkeFragResult r = ike_frag_add(&f, msg_id, number, total, next, plain, len);
                FUZZ_CHECK(r == want, "fragment %u/%u of %u, %zu octets: %s, model %s", number, total, msg_id, len,
                           ike_frag_result_name(r), ike_frag_result_name(want));
                check(&f, &m);
                if (r == IKE_FRAG_COMPLETE && !(flags & 1)) {
                        ike_frag_clear(&f);
                        model_reset(&m);
                        check(&f, &m);
                }
        }
        ike_frag_clear(&f);
        model_reset(&m);
        return 0;
}
