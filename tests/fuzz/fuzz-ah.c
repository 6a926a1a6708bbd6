/* SPDX-License-Identifier: ISC */
/* AH inbound (RFC 4302), as filterd runs it on what arrives from the
 * network: pkt_ip_parse() and ah_decap() on a fixed SA per integrity
 * algorithm (untrusted: any packet).
 *
 * Input:
 *   byte 0   integrity algorithm, an index into fuzz_ah_integs[] (fuzz-shared.h)
 *   byte 1   flags: 0x01 ESN, 0x02 transport mode, 0x04 round trip,
 *            0x08 a window position follows, 0x10 IPv6 outer header
 *            (round trip, tunnel mode), 0x20 change the mutable fields
 *            in transit (round trip)
 *   8 bytes  (with 0x08) the highest sequence number seen so far
 *   rest     the packet; with "round trip", the packet to protect
 *
 * Random bytes never pass the ICV. With "round trip", the harness protects
 * the fuzzer's packet with ah_encap() of the peer's SA first (for transport
 * mode the fuzzer's IP header, options and extension headers included) and
 * decapsulates the result, optionally after changing what routers may
 * change (TTL, TOS, checksum; hop limit, traffic class, flow label): it
 * must come back authentic and equal to what went in.
 *
 * Each packet lies in a heap block of exactly its size (encapsulation gets
 * exactly the headroom it needs): any access outside is a sanitizer error.
 * Checks besides the sanitizers: a result is PKT_OK or a drop reason,
 * counted once; what comes out lies inside the buffer. */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "ah.h"
#include "fuzz-shared.h"
#include "fuzz.h"

#define N_INTEGS FUZZ_N_AH_INTEGS

/* Per algorithm: the inbound SA's transform and the peer's, same key. */
static BhTransform *in_t[N_INTEGS], *out_t[N_INTEGS];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        for (size_t i = 0; i < N_INTEGS; i++) {
                in_t[i] = fuzz_ah_transform(i);
                out_t[i] = fuzz_ah_transform(i);
                if (!in_t[i] || !out_t[i])
                        fuzz_fail(__FILE__, __LINE__, "integrity %s refused", fuzz_ah_integs[i].name);
        }
        return 0;
}

static PktOuter outer(int family) {
        PktOuter o = { .family = family, .ttl = 64 };
        if (family == AF_INET) {
                o.src.v4.s_addr = htonl(0xc0000201); /* 192.0.2.1 */
                o.dst.v4.s_addr = htonl(0xc6336407); /* 198.51.100.7 */
        } else {
                o.src.v6.s6_addr[0] = 0x20, o.src.v6.s6_addr[1] = 0x01, o.src.v6.s6_addr[15] = 1;
                o.dst.v6.s6_addr[0] = 0x20, o.dst.v6.s6_addr[1] = 0x01, o.dst.v6.s6_addr[15] = 2;
        }
        return o;
}

/* What a router may change on the way (RFC 4302 §3.3.3.1). */
static void mutate(uint8_t *p, size_t len) {
        if (len >= PKT_IPV4_HDR_LEN && p[0] >> 4 == 4) {
                p[1] ^= 0xfc;   /* DSCP */
                p[8]--;         /* TTL */
                p[10] ^= 0x5a;  /* checksum */
                p[11] ^= 0xa5;
        } else if (len >= PKT_IPV6_HDR_LEN && p[0] >> 4 == 6) {
                p[1] ^= 0xff;   /* traffic class and flow label */
                p[3] ^= 0x42;
                p[7]--;         /* hop limit */
        }
}

static PktDrop decap(AhSa *sa, uint8_t *buf, size_t len, PktBuf *ret) {
        PktIpInfo ip;
        pkt_init(ret, buf, len, 0, len);
        PktDrop d = pkt_ip_parse(buf, len, &ip);
        FUZZ_CHECK((unsigned) d < _PKT_DROP_MAX, "pkt_ip_parse: %d", (int) d);
        if (d != PKT_OK)
                return d;
        FUZZ_CHECK(ip.hdr_len <= ip.total_len && ip.total_len <= len && ip.nh_off < ip.hdr_len,
                   "pkt_ip_parse: inconsistent lengths");
        d = ah_decap(sa, ret, &ip);
        FUZZ_CHECK((unsigned) d < _PKT_DROP_MAX, "ah_decap: %d", (int) d);
        uint64_t counted = sa->counters.packets_in;
        for (int i = 0; i < _PKT_DROP_MAX; i++)
                counted += sa->counters.drops[i];
        FUZZ_CHECK(counted == 1, "one packet counted %llu times", (unsigned long long) counted);
        if (d == PKT_OK) {
                FUZZ_CHECK(ret->buf == buf && ret->size == len, "buffer replaced");
                FUZZ_CHECK(ret->off <= len && ret->len <= len - ret->off, "result outside the buffer");
                FUZZ_CHECK(sa->replay.top != 0, "window did not move");
        }
        return d;
}

static void round_trip(AhSa *in, size_t ti, uint8_t flags, uint64_t top, const uint8_t *data, size_t len) {
        bool tunnel = !(flags & FUZZ_AH_TRANSPORT);
        AhSa out;
        ah_sa_init(&out, FUZZ_AH_SPI, in->mode, in->esn, 0, out_t[ti]);
        out.seq_out = top;

        PktOuter o = outer(flags & FUZZ_AH_OUTER6 ? AF_INET6 : AF_INET);
        int family = tunnel ? o.family : len && data[0] >> 4 == 6 ? AF_INET6 : AF_INET;
        size_t head = ah_header_len(&out, family) + (tunnel ? (family == AF_INET ? PKT_IPV4_HDR_LEN : PKT_IPV6_HDR_LEN) : 0);
        uint8_t *buf = g_malloc(head + len);
        memcpy(buf + head, data, len);
        PktBuf pkt;
        pkt_init(&pkt, buf, head + len, head, len);
        PktDrop e = ah_encap(&out, &pkt, tunnel ? &o : NULL, 7);
        FUZZ_CHECK((unsigned) e < _PKT_DROP_MAX, "ah_encap: %d", (int) e);
        if (e != PKT_OK) {
                FUZZ_CHECK(e != PKT_DROP_NO_ROOM, "ah_encap wants more than ah_header_len() of headroom");
                g_free(buf);
                return;
        }
        FUZZ_CHECK(pkt.buf == buf && pkt.off <= head + len && pkt.len <= head + len - pkt.off,
                   "ah_encap: result outside the buffer");

        /* On the wire: a block of its own size. */
        size_t wire_len = pkt.len;
        uint8_t *wire = g_memdup2(pkt_data(&pkt), wire_len ? wire_len : 1);
        if (flags & FUZZ_AH_MUTATE)
                mutate(wire, wire_len);
        PktBuf res;
        PktDrop d = decap(in, wire, wire_len, &res);

        if (tunnel) {
                FUZZ_CHECK(d == PKT_OK || d == PKT_DROP_BAD_INNER, "own tunnel packet dropped as %s",
                           pkt_drop_name(d));
                if (d == PKT_OK)
                        FUZZ_CHECK(res.len <= len && memcmp(pkt_data(&res), data, res.len) == 0,
                                   "tunnel: the inner packet comes back different");
        } else {
                PktIpInfo ip;
                FUZZ_CHECK(pkt_ip_parse(data, len, &ip) == PKT_OK, "ah_encap took a packet pkt_ip_parse() refuses");
                FUZZ_CHECK(d == PKT_OK || (d == PKT_DROP_NEXT_HEADER && (ip.proto == 0 || ip.proto == 255)),
                           "own transport packet dropped as %s", pkt_drop_name(d));
                if (d == PKT_OK) {
                        FUZZ_CHECK(res.len == ip.total_len, "transport: %zu bytes come back for %zu", res.len,
                                   ip.total_len);
                        FUZZ_CHECK(memcmp(pkt_data(&res) + ip.hdr_len, data + ip.hdr_len, ip.total_len - ip.hdr_len) == 0,
                                   "transport: the payload comes back different");
                        FUZZ_CHECK(pkt_data(&res)[ip.nh_off] == ip.proto, "transport: next header not restored");
                }
        }
        g_free(wire);
        g_free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!in_t[0])
                LLVMFuzzerInitialize(NULL, NULL);
        FuzzInput in = { data, size };
        size_t ti = fuzz_u8(&in) % N_INTEGS;
        uint8_t flags = fuzz_u8(&in);
        uint64_t top = flags & FUZZ_AH_WINDOW ? fuzz_be64(&in) : 0;
        bool esn = flags & FUZZ_AH_ESN;
        if (!esn)
                top &= 0xffffffffu;

        AhSa sa;
        ah_sa_init(&sa, FUZZ_AH_SPI, flags & FUZZ_AH_TRANSPORT ? AH_MODE_TRANSPORT : AH_MODE_TUNNEL, esn, 0, in_t[ti]);
        if (top)
                (void) replay_update(&sa.replay, top);

        if (flags & FUZZ_AH_ROUND_TRIP) {
                round_trip(&sa, ti, flags, top, in.p, in.len);
                return 0;
        }
        uint8_t *buf = g_malloc(in.len ? in.len : 1);
        memcpy(buf, in.p, in.len);
        PktBuf res;
        (void) decap(&sa, buf, in.len, &res);
        g_free(buf);
        return 0;
}
