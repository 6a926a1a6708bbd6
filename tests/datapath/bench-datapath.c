/* SPDX-License-Identifier: ISC */
/* Single-core throughput of the ESP engine: tunnel-mode seal (esp_encap)
 * and open (esp_decap) of 1400-byte IPv4 packets, in place. Each seal
 * starts from a fresh copy of the inner packet and each open from a fresh
 * copy of a sealed one (as a receive buffer would be filled), so the
 * figures include one 1.4 kB memcpy per packet. Each figure is measured
 * in five slices; the best and the median slice are printed (the machines
 * here are shared: the best is the closest to what the code can do).
 * Prints, asserts nothing.
 *   bench-datapath [seconds per figure, default 2] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "dp-util.h"

#define PKT_SIZE 1400
#define RING 1024

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

#define SLICES 5

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;
        return x < y ? -1 : x > y;
}

static void report(const char *algo, const char *what, double *pps) {
        qsort(pps, SLICES, sizeof *pps, cmp_double);
        double best = pps[SLICES - 1], median = pps[SLICES / 2];
        printf("%-30s %-5s best %9.0f packets/s %6.2f Gbit/s (%4.0f ns/packet); median %9.0f packets/s %6.2f Gbit/s\n",
               algo, what, best, best * PKT_SIZE * 8 / 1e9, 1e9 / best, median, median * PKT_SIZE * 8 / 1e9);
}

static void bench(const char *algo, unsigned enc, unsigned bits, unsigned integ, double secs) {
        EspSa out, in;
        esp_sa_init(&out, 0x1234, ESP_MODE_TUNNEL, true, 0, dp_transform_seeded(enc, bits, integ, 1));
        esp_sa_init(&in, 0x1234, ESP_MODE_TUNNEL, true, 0, dp_transform_seeded(enc, bits, integ, 1));
        uint8_t inner[PKT_SIZE];
        dp_ipv4_packet(inner, PKT_PROTO_UDP, PKT_SIZE - 20, 1);
        static DpBuf b;

        double pps[SLICES];
        secs /= SLICES;

        /* Seal. */
        for (int s = 0; s < SLICES; s++) {
                uint64_t n = 0;
                double t0 = now(), t;
                do {
                        for (int i = 0; i < 256; i++, n++) {
                                memcpy(b.mem + DP_HEADROOM, inner, PKT_SIZE);
                                pkt_init(&b.pkt, b.mem, sizeof b.mem, DP_HEADROOM, PKT_SIZE);
                                if (esp_encap(&out, &b.pkt) != PKT_OK)
                                        abort();
                        }
                } while ((t = now() - t0) < secs);
                pps[s] = (double) n / t;
        }
        report(algo, "seal", pps);

        /* Open: a ring of sealed packets with consecutive numbers; the
         * window starts over with each lap. */
        static uint8_t ring[RING][PKT_SIZE + 128];
        size_t lens[RING];
        out.seq_out = 0;
        for (int i = 0; i < RING; i++) {
                dp_load(&b, inner, PKT_SIZE);
                if (esp_encap(&out, &b.pkt) != PKT_OK)
                        abort();
                lens[i] = b.pkt.len;
                memcpy(ring[i], pkt_data(&b.pkt), b.pkt.len);
        }
        for (int s = 0; s < SLICES; s++) {
                uint64_t n = 0;
                double t0 = now(), t;
                do {
                        replay_init(&in.replay, 0, true);
                        for (int i = 0; i < RING; i++, n++) {
                                memcpy(b.mem + DP_HEADROOM, ring[i], lens[i]);
                                pkt_init(&b.pkt, b.mem, sizeof b.mem, DP_HEADROOM, lens[i]);
                                if (esp_decap(&in, &b.pkt, NULL) != PKT_OK || b.pkt.len != PKT_SIZE)
                                        abort();
                        }
                } while ((t = now() - t0) < secs);
                pps[s] = (double) n / t;
        }
        report(algo, "open", pps);
        esp_sa_clear(&out);
        esp_sa_clear(&in);
}

int main(int argc, char **argv) {
        double secs = argc > 1 ? atof(argv[1]) : 2.0;
        if (secs <= 0)
                secs = 2.0;
        printf("ESP tunnel mode, %d-byte inner IPv4 packets, one core, ESN on\n", PKT_SIZE);
        bench("ENCR_AES_GCM_16 (256)", BH_ENCR_AES_GCM_16, 256, BH_AUTH_NONE, secs);
        bench("ENCR_CHACHA20_POLY1305", BH_ENCR_CHACHA20_POLY1305, 256, BH_AUTH_NONE, secs);
        bench("ENCR_AES_GCM_16 (128)", BH_ENCR_AES_GCM_16, 128, BH_AUTH_NONE, secs);
        bench("AES_CBC(128)+HMAC_SHA2_256_128", BH_ENCR_AES_CBC, 128, BH_AUTH_HMAC_SHA2_256_128, secs);
        return 0;
}
