/* SPDX-License-Identifier: ISC */
#pragma once

/* The data path's trace hooks, in the seed's nine categories. A trace point
 * costs one predictable branch while its category is off; when on, its
 * event goes into a bounded ring that ipsectrcbuf(8) dumps or follows. Trace
 * text never carries key material: SPIs, addresses, lengths and reasons. */

#include <stdint.h>

typedef enum TraceCategory {
        TRACE_ERROR = 1u << 0,          /* Error */
        TRACE_FILTER = 1u << 1,         /* Filter: policy decisions */
        TRACE_FILTER_INFO = 1u << 2,    /* Filter Information */
        TRACE_TUNNEL = 1u << 3,         /* Tunnel: SAs and policies in and out */
        TRACE_TUNNEL_INFO = 1u << 4,    /* Tunnel Information */
        TRACE_CAPS = 1u << 5,           /* Capsulation/Decapsulation */
        TRACE_CAPS_INFO = 1u << 6,      /* Capsulation Information: per packet */
        TRACE_CRYPTO = 1u << 7,         /* Crypto: integrity and cipher failures */
        TRACE_CRYPTO_INFO = 1u << 8,    /* Crypto Information */
        TRACE_ALL = (1u << 9) - 1,
} TraceCategory;

/* Events kept; older ones are overwritten (and counted as lost). */
#define TRACE_RING 4096
#define TRACE_TEXT_MAX 160

extern uint32_t trace_mask;

#define TRACE(cat, ...)                                                 \
        do {                                                            \
                if (__builtin_expect((__atomic_load_n(&trace_mask, __ATOMIC_RELAXED) & (cat)) != 0, 0)) \
                        trace_emit((cat), __VA_ARGS__);                 \
        } while (0)

void trace_emit(TraceCategory cat, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* AIX ipsectrcbuf levels: 0 Error; 1 adds Filter, Tunnel,
 * Capsulation/Decapsulation and Crypto; 2 adds the Information categories. */
uint32_t trace_mask_for_level(unsigned level);

const char *trace_category_name(TraceCategory cat);
/* Category by name (case-insensitive, as ipsectrcbuf writes them); 0 if unknown. */
uint32_t trace_category_from_name(const char *name);

typedef struct TraceEvent {
        uint64_t seq;           /* 1, 2, 3, ... never reused */
        int64_t usec;           /* wall clock */
        uint32_t category;
        char text[TRACE_TEXT_MAX];
} TraceEvent;

/* Events after seq `after`, oldest first, at most max; *ret_next is what to
 * ask for next time and *ret_lost how many were overwritten unread. */
unsigned trace_read(uint64_t after, unsigned max, const TraceEvent **ret_events, uint64_t *ret_next,
                    uint64_t *ret_lost);
