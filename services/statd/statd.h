/* SPDX-License-Identifier: ISC */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "service.h"

/* Counter aggregation for ipsecstat(8): filterd's counters, kept across
 * restarts of filterd so that no total ever goes backwards. */
typedef struct Statd Statd;

Statd *statd_new(BhService *svc);
void statd_free(Statd *statd);

/* ------------------------------------------------------------ the totals
 *
 * The arithmetic, apart from the bus so that a test can drive it. Per
 * counter name:
 *   last  filterd's own value at the latest reading;
 *   base  what earlier filterd instances counted before they went away;
 *   zero  the total when Reset was last called.
 * total = base + last never decreases; what is reported is total - zero.
 * A new filterd instance (another unique bus name) or a counter lower than
 * at the reading before means filterd started again from zero: the last
 * values move into the base. */

/* Bounds on what a reading may hold (filterd has about 30 counters). */
#define STATD_COUNTERS_MAX 256
#define STATD_NAME_MAX 63

typedef struct StatdTotals StatdTotals;

StatdTotals *statd_totals_new(void);
void statd_totals_free(StatdTotals *t);
/* Takes one reading of n counters. instance is the unique bus name of the
 * filterd that answered, NULL when unknown (then only a counter going down
 * tells a restart). Names must pass statd_counter_name_valid(); a name
 * beyond STATD_COUNTERS_MAX distinct ones is ignored. Returns true when the
 * reading came from a new filterd instance (not for the very first one). */
bool statd_totals_apply(StatdTotals *t, const char *instance, const char *const *names, const uint64_t *values,
                        size_t n);
/* Sets the zero point at the current totals. */
void statd_totals_reset(StatdTotals *t);
/* The reported value (total - zero); 0 for a name never seen. */
uint64_t statd_totals_get(const StatdTotals *t, const char *name);
/* Every name seen, in the order first seen (the caller frees the array,
 * not the strings). */
const char **statd_totals_names(const StatdTotals *t, size_t *ret_n);
/* How many new filterd instances the totals have seen. */
unsigned statd_totals_restarts(const StatdTotals *t);
/* Lower-case letters, digits and '_', 1 to STATD_NAME_MAX of them. */
bool statd_counter_name_valid(const char *name);
