/* SPDX-License-Identifier: ISC */
#pragma once

/* One logging API for every service. The level is checked before anything
 * is formatted; lines then go into a bounded ring that is sent to logd in
 * batches. A service never blocks on logging: when logd is slow, restarting
 * or gone, the ring fills and further lines are dropped and counted. */

#include <stdint.h>

#include "loglevel.h"

typedef struct BhIpc BhIpc;

/* Longest text and tunnel name kept per line; longer ones are cut. */
#define BH_LOG_TEXT_MAX 480
#define BH_LOG_TUNNEL_MAX 64
/* Lines held while logd cannot take them. */
#define BH_LOG_RING 1024

extern BhLogLevel bh_log_level;

#define bh_log(level, ...)                                                              \
        do {                                                                            \
                if ((level) <= bh_log_level && (level) > BH_LOG_NONE)                   \
                        bh_log_submit((level), NULL, __VA_ARGS__);                      \
        } while (0)
#define bh_log_tunnel(level, tunnel, ...)                                               \
        do {                                                                            \
                if ((level) <= bh_log_level && (level) > BH_LOG_NONE)                   \
                        bh_log_submit((level), (tunnel), __VA_ARGS__);                  \
        } while (0)

#define bh_log_error(...) bh_log(BH_LOG_ERRORS, __VA_ARGS__)
#define bh_log_event(...) bh_log(BH_LOG_EVENTS, __VA_ARGS__)
#define bh_log_info(...) bh_log(BH_LOG_INFORMATION, __VA_ARGS__)
#define bh_log_debug(...) bh_log(BH_LOG_DEBUG, __VA_ARGS__)

/* Names the process in stderr lines (before it reaches the bus). */
void bh_log_init(const char *service, BhLogLevel level);
/* From now on, lines go to logd over this bus connection. */
void bh_log_attach(BhIpc *ipc);
void bh_log_detach(void);
/* logd delivers its own lines in-process instead. */
typedef void (*BhLogSink)(int64_t usec, BhLogLevel level, const char *tunnel, const char *text);
void bh_log_set_sink(BhLogSink sink);

void bh_log_submit(BhLogLevel level, const char *tunnel, const char *format, ...) __attribute__((format(printf, 3, 4)));
/* Lines dropped so far because the ring was full. */
uint64_t bh_log_dropped(void);
/* Lines waiting in the ring. */
unsigned bh_log_pending(void);
