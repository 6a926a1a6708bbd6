/* SPDX-License-Identifier: ISC */
#pragma once

/* Helpers shared by the data path tests and the benchmark: hex, transforms
 * from hex or from a pattern, test IP packets, buffers with headroom. */

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ah.h"
#include "esp.h"
#include "pkt.h"
#include "transform.h"

#define DP_BUF_SIZE 4096
#define DP_HEADROOM 256

typedef struct DpBuf {
        uint8_t mem[DP_BUF_SIZE];
        PktBuf pkt;
} DpBuf;

/* Places data at DP_HEADROOM in b. */
void dp_load(DpBuf *b, const void *data, size_t len);

/* Decodes hex (whitespace ignored) into a new GByteArray-like buffer. */
uint8_t *dp_unhex(const char *hex, size_t *ret_len);

/* A transform over the given KEYMAT, asserting success. */
BhTransform *dp_transform(unsigned enc, unsigned bits, unsigned integ, const uint8_t *keymat, size_t len);
/* KEYMAT bytes seed, seed + 1, ... */
BhTransform *dp_transform_seeded(unsigned enc, unsigned bits, unsigned integ, uint8_t seed);

/* Every ESP combination the engine supports, for round trips. */
typedef struct DpCombo {
        const char *name;
        unsigned enc, bits, integ;
} DpCombo;
extern const DpCombo dp_esp_combos[];
extern const size_t dp_n_esp_combos;
extern const unsigned dp_ah_integs[];
extern const size_t dp_n_ah_integs;

/* A valid IPv4 or IPv6 packet (proto UDP/ICMP/...) with payload_len bytes
 * of pattern payload, written to out; returns its length. */
size_t dp_ipv4_packet(uint8_t *out, uint8_t proto, size_t payload_len, uint32_t seed);
size_t dp_ipv6_packet(uint8_t *out, uint8_t proto, size_t payload_len, uint32_t seed);

/* An outer header description: IPv4 or IPv6 addresses, UDP ports or not. */
PktOuter dp_outer(int family, bool udp);

/* Byte-for-byte comparison with a hex dump of both on mismatch. */
void dp_assert_mem(const char *what, const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len);
