/* SPDX-License-Identifier: ISC */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "trace.h"

uint32_t trace_mask = TRACE_ERROR;

/* The workers of the data path write events from their threads; the lock
 * is taken only for an event of a category that is on. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
        TraceEvent ring[TRACE_RING];
        uint64_t next_seq;      /* of the next event; events [next - n, next) are kept */
        TraceEvent out[TRACE_RING];
} T = { .next_seq = 1 };

static const char *const names[] = {
        "Error", "Filter", "Filter Information", "Tunnel", "Tunnel Information", "Capsulation/Decapsulation",
        "Capsulation Information", "Crypto", "Crypto Information",
};
/* One word each for the command line. */
static const char *const words[] = {
        "error", "filter", "filter-info", "tunnel", "tunnel-info", "capsulation", "capsulation-info", "crypto",
        "crypto-info",
};

const char *trace_category_name(TraceCategory cat) {
        for (unsigned i = 0; i < 9; i++)
                if (cat == 1u << i)
                        return names[i];
        return "?";
}

uint32_t trace_category_from_name(const char *name) {
        for (unsigned i = 0; i < 9; i++)
                if (strcasecmp(name, words[i]) == 0 || strcasecmp(name, names[i]) == 0)
                        return 1u << i;
        return 0;
}

uint32_t trace_mask_for_level(unsigned level) {
        if (level == 0)
                return TRACE_ERROR;
        if (level == 1)
                return TRACE_ERROR | TRACE_FILTER | TRACE_TUNNEL | TRACE_CAPS | TRACE_CRYPTO;
        return TRACE_ALL;
}

void trace_emit(TraceCategory cat, const char *format, ...) {
        char text[TRACE_TEXT_MAX];
        va_list ap;
        va_start(ap, format);
        vsnprintf(text, sizeof text, format, ap);
        va_end(ap);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        pthread_mutex_lock(&lock);
        TraceEvent *e = &T.ring[T.next_seq % TRACE_RING];
        e->seq = T.next_seq++;
        e->usec = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        e->category = cat;
        memcpy(e->text, text, sizeof text);
        pthread_mutex_unlock(&lock);
}

unsigned trace_read(uint64_t after, unsigned max, const TraceEvent **ret_events, uint64_t *ret_next,
                    uint64_t *ret_lost) {
        pthread_mutex_lock(&lock);
        uint64_t oldest = T.next_seq > TRACE_RING ? T.next_seq - TRACE_RING : 1;
        uint64_t from = after + 1;
        *ret_lost = from < oldest ? oldest - from : 0;
        if (from < oldest)
                from = oldest;
        unsigned n = 0;
        for (uint64_t s = from; s < T.next_seq && n < max && n < TRACE_RING; s++)
                T.out[n++] = T.ring[s % TRACE_RING];
        *ret_events = T.out;
        *ret_next = n ? T.out[n - 1].seq : (from > 1 ? from - 1 : after);
        if (*ret_next < after)
                *ret_next = after;
        pthread_mutex_unlock(&lock);
        return n;
}
