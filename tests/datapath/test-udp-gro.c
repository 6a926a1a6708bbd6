/* SPDX-License-Identifier: ISC */
/* UDP GRO through the real data path (datapath.c), in a network namespace
 * of the test's own (root: skipped otherwise) with filterd's UDP 4500
 * socket on 127.0.0.1 and a datagram socket pair standing in for the TUN
 * device. Loopback keeps a UDP_SEGMENT send together, so the socket, with
 * UDP_GRO, takes it as one joined datagram:
 *   - packets that the data path itself sends to 127.0.0.1 come back to it
 *     in runs, each run one datagram, are cut, decapsulated and written to
 *     the TUN device intact and in order; a run holds one SA's packets;
 *   - ESP sent by the test in joined datagrams, more segments in one batch
 *     than the batch has slots, arrives intact and in order;
 *   - segments larger than a slot, and keepalives joined, are counted. */
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath.h"
#include "esp.h"
#include "offload.h"
#include "pkt.h"
#include "secmem.h"
#include "transform.h"

#define SPI1 0x1001
#define SPI2 0x2002
static const uint8_t key[36] = { 7, 8, 9 };
static bool netns_ok;

typedef struct Fixture {
        int sp[2];      /* the TUN device: sp[0] the data path's, sp[1] the stack's */
        int udp;        /* the data path's UDP 4500 socket */
        Datapath *dp;
} Fixture;

#define COUNTER(f, name) (counters(f).name)
static DpCounters counters(Fixture *f) {
        DpCounters c;
        dp_counters(f->dp, &c);
        return c;
}

static struct sockaddr_in loopback(uint16_t port) {
        return (struct sockaddr_in) { .sin_family = AF_INET, .sin_port = htons(port),
                                      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

static void fixture_set_up(Fixture *f, gconstpointer data) {
        memset(f, 0, sizeof *f);
        f->udp = f->sp[0] = f->sp[1] = -1;
        if (!netns_ok)
                return;
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, f->sp), ==, 0);
        f->udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = loopback(PKT_NATT_PORT);
        g_assert_cmpint(bind(f->udp, (struct sockaddr *) &a, sizeof a), ==, 0);
        DpFds fds = { .tun = { f->sp[0], -1, -1, -1 }, .udp4 = { f->udp, -1, -1, -1 }, .udp6 = { -1, -1, -1, -1 },
                      .raw4 = -1, .raw6 = -1, .ah4 = -1, .ah6 = -1, .ip4 = -1, .ip6 = -1 };
        f->dp = dp_new(NULL, &fds);
}

static void fixture_tear_down(Fixture *f, gconstpointer data) {
        dp_free(f->dp);
        for (int i = 0; i < 2; i++)
                if (f->sp[i] >= 0)
                        close(f->sp[i]);
        if (f->udp >= 0)
                close(f->udp);
}

/* Skips the test without a network namespace of its own. */
static bool have_netns(void) {
        if (!netns_ok)
                g_test_skip("needs a network namespace of its own (root)");
        return netns_ok;
}

static void ts(const char *s, BhTs *ret) {
        g_autofree char *why = NULL;
        g_assert_cmpint(bh_ts_parse(s, ret, &why), ==, 0);
}

/* Tunnel NAME between 10.1.0.0/24 and REMOTE, both ways on each side (the
 * packets come back to the host that sent them), its SAs to and from
 * 127.0.0.1 in UDP with SPI, in and out. */
static void tunnel(Fixture *f, const char *name, const char *remote, uint32_t spi) {
        BhTs l[2], r[2];
        ts("10.1.0.0/24", &l[0]);
        ts(remote, &l[1]);
        r[0] = l[1];
        r[1] = l[0];
        dp_set_policy(f->dp, name, l, 2, r, 2);
        for (int d = DP_IN; d <= DP_OUT; d++) {
                DpSaSpec spec = { .direction = d, .protocol = IPPROTO_ESP, .spi = spi, .encr = BH_ENCR_AES_GCM_16,
                                  .encr_bits = 256, .replay = true, .mode = BH_MODE_TUNNEL, .encap = BH_ENCAP_UDP };
                g_strlcpy(spec.tunnel, name, sizeof spec.tunnel);
                g_assert_cmpint(bh_addr_parse("127.0.0.1", false, &spec.local), ==, 0);
                spec.remote = spec.local;
                BhSecret *keymat = bh_secret_new_copy(key, sizeof key);
                g_autofree char *why = NULL;
                g_assert_cmpint(dp_install_sa(f->dp, &spec, keymat, &why), ==, 0);
                bh_secret_free(keymat);
        }
}

/* An ICMP echo request of LEN octets from 10.1.0.1 to DST, numbered N. */
static size_t echo(uint8_t *ip, size_t len, const char *dst, uint16_t n) {
        memset(ip, 0, len);
        memcpy(ip, (const uint8_t[]) { 0x45, 0, 0, 0, 0, 1, 0, 0, 64, IPPROTO_ICMP, 0, 0, 10, 1, 0, 1 }, 16);
        pkt_store_be16(ip + 2, (uint16_t) len);
        BhAddr d;
        g_assert_cmpint(bh_addr_parse(dst, false, &d), ==, 0);
        memcpy(ip + 16, d.bytes, 4);
        pkt_ipv4_set_checksum(ip, 20);
        ip[20] = 8;
        pkt_store_be16(ip + 26, n);     /* the echo's sequence number */
        for (size_t i = 28; i < len; i++)
                ip[i] = (uint8_t) (n + i);
        return len;
}

/* Runs the loop until the stack's end of the TUN device has N packets;
 * checks each against echo(LENS[k], DSTS[k], k). */
static void expect_back(Fixture *f, unsigned n, const size_t *lens, const char *const *dsts) {
        uint8_t got[OFFLOAD_VNET_HDR_LEN + 2048], want[2048];
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        for (unsigned k = 0; k < n;) {
                ssize_t r = read(f->sp[1], got, sizeof got);
                if (r < 0) {
                        g_assert_cmpint(g_get_monotonic_time(), <, end);
                        g_main_context_iteration(NULL, FALSE);
                        continue;
                }
                size_t len = echo(want, lens[k], dsts[k], (uint16_t) k);
                g_assert_cmpmem(got + OFFLOAD_VNET_HDR_LEN, (size_t) r - OFFLOAD_VNET_HDR_LEN, want, len);
                k++;
        }
        while (g_main_context_iteration(NULL, FALSE))
                ;
        g_assert_cmpint(read(f->sp[1], got, sizeof got), <, 0);
}

/* Packets written to the TUN device, all before the data path reads: one
 * batch out, then back in. */
static void send_through(Fixture *f, unsigned n, const size_t *lens, const char *const *dsts) {
        uint8_t p[OFFLOAD_VNET_HDR_LEN + 2048] = { 0 };
        for (unsigned k = 0; k < n; k++) {
                size_t len = echo(p + OFFLOAD_VNET_HDR_LEN, lens[k], dsts[k], (uint16_t) k);
                g_assert_cmpint(write(f->sp[1], p, OFFLOAD_VNET_HDR_LEN + len), ==,
                                (ssize_t) (OFFLOAD_VNET_HDR_LEN + len));
        }
        expect_back(f, n, lens, dsts);
}

static void test_round_trip(Fixture *f, gconstpointer data) {
        if (!have_netns())
                return;
        tunnel(f, "gw", "10.2.0.0/24", SPI1);
        /* Eight of one size, then seven and a shorter last one: each run
         * leaves as one send and comes back as one datagram. */
        size_t lens[8] = { 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000 };
        const char *dsts[8] = { "10.2.0.1", "10.2.0.1", "10.2.0.1", "10.2.0.1",
                                "10.2.0.1", "10.2.0.1", "10.2.0.1", "10.2.0.1" };
        send_through(f, 8, lens, dsts);
        g_assert_cmpuint(COUNTER(f, udp_gro_datagrams), ==, 1);
        g_assert_cmpuint(COUNTER(f, in_esp), ==, 8);
        lens[7] = 600;
        send_through(f, 8, lens, dsts);
        g_assert_cmpuint(COUNTER(f, udp_gro_datagrams), ==, 2);
        g_assert_cmpuint(COUNTER(f, in_esp), ==, 16);
        g_assert_cmpuint(COUNTER(f, in_dropped), ==, 0);
}

/* Two tunnels to one peer: the peer's selector would give a joined run
 * to the worker of its first SPI, so a run never holds both SAs. */
static void test_one_sa_per_run(Fixture *f, gconstpointer data) {
        if (!have_netns())
                return;
        tunnel(f, "gw1", "10.2.0.0/24", SPI1);
        tunnel(f, "gw2", "10.3.0.0/24", SPI2);
        size_t lens[8] = { 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000 };
        const char *dsts[8] = { "10.2.0.1", "10.2.0.1", "10.2.0.1", "10.2.0.1",
                                "10.3.0.1", "10.3.0.1", "10.3.0.1", "10.3.0.1" };
        send_through(f, 8, lens, dsts);
        g_assert_cmpuint(COUNTER(f, udp_gro_datagrams), ==, 2);
        g_assert_cmpuint(COUNTER(f, in_esp), ==, 8);
        g_assert_cmpuint(COUNTER(f, in_dropped), ==, 0);
}

/* A socket of the test's that sends to the data path's, and joined sends. */
static int sender(void) {
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in a = loopback(0);
        g_assert_cmpint(bind(s, (struct sockaddr *) &a, sizeof a), ==, 0);
        return s;
}

static void send_joined(int s, const uint8_t *p, size_t len, uint16_t seg) {
        struct sockaddr_in to = loopback(PKT_NATT_PORT);
        struct iovec iov = { (void *) p, len };
        uint8_t control[CMSG_SPACE(sizeof seg)] = { 0 };
        struct msghdr h = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = control, .msg_controllen = sizeof control };
        struct cmsghdr *c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof seg);
        memcpy(CMSG_DATA(c), &seg, sizeof seg);
        g_assert_cmpint(sendmsg(s, &h, 0), ==, (ssize_t) len);
}

/* Two joined datagrams of 50 ESP packets each, read in one batch: more
 * segments than the batch has slots, so that the slots are written to the
 * TUN device and taken again halfway. */
static void test_more_than_slots(Fixture *f, gconstpointer data) {
        if (!have_netns())
                return;
        tunnel(f, "gw", "10.2.0.0/24", SPI1);
        BhTransform *t = NULL;
        BhSecret *keymat = bh_secret_new_copy(key, sizeof key);
        g_assert_cmpint(bh_transform_new(BH_ENCR_AES_GCM_16, 256, 0, keymat, &t), ==, 0);
        bh_secret_free(keymat);
        EspSa esp;
        esp_sa_init(&esp, SPI1, ESP_MODE_TUNNEL, false, 0, t);
        enum { N = 100, PER = 50, LEN = 500 };
        size_t lens[N];
        const char *dsts[N];
        uint8_t buf[PKT_HEADROOM + LEN + PKT_TAILROOM];
        g_autofree uint8_t *joined = NULL;
        size_t seg = 0;
        int s = sender();
        for (unsigned k = 0; k < N; k++) {
                lens[k] = LEN;
                dsts[k] = "10.2.0.1";
                PktBuf pkt;
                pkt_init(&pkt, buf, sizeof buf, PKT_HEADROOM, echo(buf + PKT_HEADROOM, LEN, dsts[k], (uint16_t) k));
                g_assert_cmpint(esp_encap(&esp, &pkt), ==, PKT_OK);
                if (!joined) {
                        seg = pkt.len;
                        joined = g_malloc(seg * PER);
                }
                g_assert_cmpuint(pkt.len, ==, seg);
                memcpy(joined + (k % PER) * seg, pkt_data(&pkt), seg);
                if (k % PER == PER - 1)
                        send_joined(s, joined, seg * PER, (uint16_t) seg);
        }
        expect_back(f, N, lens, dsts);
        g_assert_cmpuint(COUNTER(f, udp_gro_datagrams), ==, 2);
        g_assert_cmpuint(COUNTER(f, in_esp), ==, N);
        g_assert_cmpuint(COUNTER(f, in_dropped), ==, 0);
        esp_sa_clear(&esp);
        close(s);
}

/* What a joined datagram may hold besides ESP: NAT keepalives (one octet
 * each: the smallest segments there are), and segments no slot holds. */
static void test_odd_segments(Fixture *f, gconstpointer data) {
        if (!have_netns())
                return;
        int s = sender();
        uint8_t ff[60];
        memset(ff, 0xff, sizeof ff);
        send_joined(s, ff, sizeof ff, 1);
        g_autofree uint8_t *big = g_malloc0(2 * 9300);
        send_joined(s, big, 2 * 9300, 9300);
        while (g_main_context_iteration(NULL, FALSE))
                ;
        g_assert_cmpuint(COUNTER(f, udp_gro_datagrams), ==, 2);
        g_assert_cmpuint(COUNTER(f, keepalives_in), ==, 60);
        g_assert_cmpuint(COUNTER(f, in_malformed), ==, 2);
        g_assert_cmpuint(COUNTER(f, in_dropped), ==, 2);
        close(s);
}

/* The test's own network namespace, its loopback up. */
static bool own_netns(void) {
        if (unshare(CLONE_NEWNET) < 0)
                return false;
        int s = socket(AF_INET, SOCK_DGRAM, 0);
        struct ifreq ifr = { .ifr_name = "lo" };
        bool ok = s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0;
        ifr.ifr_flags |= IFF_UP;
        ok = ok && ioctl(s, SIOCSIFFLAGS, &ifr) == 0;
        if (s >= 0)
                close(s);
        return ok;
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        netns_ok = own_netns();
        g_assert_cmpint(bh_transform_preload(), ==, 0);
        g_test_add("/udp-gro/round-trip", Fixture, NULL, fixture_set_up, test_round_trip, fixture_tear_down);
        g_test_add("/udp-gro/one-sa-per-run", Fixture, NULL, fixture_set_up, test_one_sa_per_run, fixture_tear_down);
        g_test_add("/udp-gro/more-than-slots", Fixture, NULL, fixture_set_up, test_more_than_slots,
                   fixture_tear_down);
        g_test_add("/udp-gro/odd-segments", Fixture, NULL, fixture_set_up, test_odd_segments, fixture_tear_down);
        return g_test_run();
}
