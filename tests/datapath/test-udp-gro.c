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
 *   - segments larger than a slot, and keepalives joined, are counted;
 *   - with two workers, a joined datagram that mixes two SAs of different
 *     workers (as a NIC's GRO may join them): each segment reaches its
 *     SA's worker, which writes it to its own queue of the TUN device,
 *     intact and in order; a full hand-off queue drops and counts. */
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
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

/* The second worker's UDP socket (the first one's: PKT_NATT_PORT). */
#define PORT1 4501

typedef struct Fixture {
        int sp[2];      /* the TUN device: sp[0] the data path's, sp[1] the stack's */
        int udp;        /* the data path's UDP 4500 socket */
        int sp1[2], udp1;       /* with two workers (data 2): the second's */
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

/* A worker's TUN queue (a socket pair) and UDP socket on 127.0.0.1:PORT. */
static void worker_fds(int sp[2], int *udp, uint16_t port) {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sp), ==, 0);
        *udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = loopback(port);
        g_assert_cmpint(bind(*udp, (struct sockaddr *) &a, sizeof a), ==, 0);
}

/* One worker, or two (data: 2), the second on a thread of its own. */
static void fixture_set_up(Fixture *f, gconstpointer data) {
        memset(f, 0, sizeof *f);
        f->udp = f->sp[0] = f->sp[1] = f->udp1 = f->sp1[0] = f->sp1[1] = -1;
        if (!netns_ok)
                return;
        worker_fds(f->sp, &f->udp, PKT_NATT_PORT);
        if (GPOINTER_TO_UINT(data) == 2)
                worker_fds(f->sp1, &f->udp1, PORT1);
        DpFds fds = { .tun = { f->sp[0], f->sp1[0], -1, -1 }, .udp4 = { f->udp, f->udp1, -1, -1 },
                      .udp6 = { -1, -1, -1, -1 }, .raw4 = -1, .raw6 = -1, .ah4 = -1, .ah6 = -1, .ip4 = -1, .ip6 = -1 };
        f->dp = dp_new(NULL, &fds);
        g_assert_cmpuint(dp_worker_count(f->dp), ==, GPOINTER_TO_UINT(data) == 2 ? 2 : 1);
}

static void fixture_tear_down(Fixture *f, gconstpointer data) {
        dp_free(f->dp);
        int fds[] = { f->sp[0], f->sp[1], f->udp, f->sp1[0], f->sp1[1], f->udp1 };
        for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
                if (fds[i] >= 0)
                        close(fds[i]);
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

/* The test's end of an inbound SA of tunnel() (its key). */
static void sealer(EspSa *esp, uint32_t spi) {
        BhTransform *t = NULL;
        BhSecret *keymat = bh_secret_new_copy(key, sizeof key);
        g_assert_cmpint(bh_transform_new(BH_ENCR_AES_GCM_16, 256, 0, keymat, &t), ==, 0);
        bh_secret_free(keymat);
        esp_sa_init(esp, spi, ESP_MODE_TUNNEL, false, 0, t);
}

/* echo(LEN, DST, N) in ESP of the SA, into OUT; returns its length. */
static size_t seal(EspSa *esp, size_t len, const char *dst, uint16_t n, uint8_t *out) {
        uint8_t buf[PKT_HEADROOM + 2048 + PKT_TAILROOM];
        PktBuf pkt;
        pkt_init(&pkt, buf, sizeof buf, PKT_HEADROOM, echo(buf + PKT_HEADROOM, len, dst, n));
        g_assert_cmpint(esp_encap(esp, &pkt), ==, PKT_OK);
        memcpy(out, pkt_data(&pkt), pkt.len);
        return pkt.len;
}

static void send_joined_to(int s, uint16_t port, const uint8_t *p, size_t len, uint16_t seg) {
        struct sockaddr_in to = loopback(port);
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

static void send_joined(int s, const uint8_t *p, size_t len, uint16_t seg) {
        send_joined_to(s, PKT_NATT_PORT, p, len, seg);
}

/* Two joined datagrams of 50 ESP packets each, read in one batch: more
 * segments than the batch has slots, so that the slots are written to the
 * TUN device and taken again halfway. */
static void test_more_than_slots(Fixture *f, gconstpointer data) {
        if (!have_netns())
                return;
        tunnel(f, "gw", "10.2.0.0/24", SPI1);
        EspSa esp;
        sealer(&esp, SPI1);
        enum { N = 100, PER = 50, LEN = 500 };
        size_t lens[N];
        const char *dsts[N];
        uint8_t p[2048];
        g_autofree uint8_t *joined = NULL;
        size_t seg = 0;
        int s = sender();
        for (unsigned k = 0; k < N; k++) {
                lens[k] = LEN;
                dsts[k] = "10.2.0.1";
                size_t len = seal(&esp, LEN, dsts[k], (uint16_t) k, p);
                if (!joined) {
                        seg = len;
                        joined = g_malloc(seg * PER);
                }
                g_assert_cmpuint(len, ==, seg);
                memcpy(joined + (k % PER) * seg, p, seg);
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

/* Two tunnels to one peer whose inbound SAs two workers own: A (SPI2,
 * to 10.3.0.1: SPI2 mod 2, worker 0) and B (SPI1, to 10.2.0.1: worker
 * 1). The test seals each SA's packets, numbered from 0 on each. */
enum { SA_A, SA_B, MIX_LEN = 500 };
static const char *const mix_dst[2] = { "10.3.0.1", "10.2.0.1" };

typedef struct Mix {
        EspSa esp[2];
        uint16_t next[2];
        int s;
} Mix;

static void mix_init(Fixture *f, Mix *m) {
        _Static_assert(SPI2 % 2 == 0 && SPI1 % 2 == 1, "SA A is worker 0's, SA B worker 1's");
        tunnel(f, "gw1", "10.2.0.0/24", SPI1);
        tunnel(f, "gw2", "10.3.0.0/24", SPI2);
        memset(m, 0, sizeof *m);
        sealer(&m->esp[SA_A], SPI2);
        sealer(&m->esp[SA_B], SPI1);
        m->s = sender();
}

static void mix_clear(Mix *m) {
        esp_sa_clear(&m->esp[SA_A]);
        esp_sa_clear(&m->esp[SA_B]);
        close(m->s);
}

/* One joined datagram to the worker's socket at PORT: a segment for each
 * letter of RUN, the next packet of SA A or B. */
static void mix_send(Mix *m, uint16_t port, const char *run) {
        size_t n = strlen(run), seg = 0;
        g_autofree uint8_t *joined = g_malloc(n * 2048);
        for (size_t i = 0; i < n; i++) {
                unsigned sa = run[i] == 'A' ? SA_A : SA_B;
                size_t len = seal(&m->esp[sa], MIX_LEN, mix_dst[sa], m->next[sa]++, joined + i * seg);
                g_assert_cmpuint(len, ==, seg ? seg : len);
                seg = len;
        }
        send_joined_to(m->s, port, joined, n * seg, (uint16_t) seg);
}

/* Reads N packets from the stack's end of a TUN queue (FD), running the
 * main loop (worker 0) meanwhile: SA's packets FIRST onwards, in order and
 * intact; then nothing more. */
static void expect_on(int fd, unsigned n, unsigned sa, uint16_t first) {
        uint8_t got[OFFLOAD_VNET_HDR_LEN + 2048], want[2048];
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        for (unsigned k = 0; k < n;) {
                ssize_t r = read(fd, got, sizeof got);
                if (r < 0) {
                        g_assert_cmpint(g_get_monotonic_time(), <, end);
                        g_main_context_iteration(NULL, FALSE);
                        poll(&(struct pollfd) { .fd = fd, .events = POLLIN }, 1, 1);
                        continue;
                }
                size_t len = echo(want, MIX_LEN, mix_dst[sa], (uint16_t) (first + k));
                g_assert_cmpmem(got + OFFLOAD_VNET_HDR_LEN, (size_t) r - OFFLOAD_VNET_HDR_LEN, want, len);
                k++;
        }
        while (g_main_context_iteration(NULL, FALSE))
                ;
        g_assert_cmpint(poll(&(struct pollfd) { .fd = fd, .events = POLLIN }, 1, 50), ==, 0);
}

/* Runs the main loop (worker 0) until the workers have read N joined
 * datagrams in all, and each segment has gone its way. */
static void wait_joined(Fixture *f, uint64_t n) {
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        while (COUNTER(f, udp_gro_datagrams) < n) {
                g_assert_cmpint(g_get_monotonic_time(), <, end);
                if (!g_main_context_iteration(NULL, FALSE))
                        g_usleep(1000);
        }
}

/* A NIC's GRO joins the ESP of two SAs of one peer into one datagram, and
 * the selector gives it to the worker of the first segment's SA: the
 * other SA's segments are handed to their worker, which decapsulates them
 * in its own thread and writes them to its own TUN queue; each SA's
 * packets arrive in order. Both ways: worker 0 (the main loop) to the
 * thread of worker 1, and back. */
static void test_handed_off(Fixture *f, gconstpointer data) {
        if (!have_netns())
                return;
        Mix m;
        mix_init(f, &m);
        mix_send(&m, PKT_NATT_PORT, "ABBABAABBB");
        wait_joined(f, 1);
        g_assert_cmpuint(COUNTER(f, in_handed_off), ==, 6);
        expect_on(f->sp[1], 4, SA_A, 0);
        expect_on(f->sp1[1], 6, SA_B, 0);
        mix_send(&m, PORT1, "BAABAAB");
        wait_joined(f, 2);
        g_assert_cmpuint(COUNTER(f, in_handed_off), ==, 10);
        expect_on(f->sp1[1], 3, SA_B, 6);
        expect_on(f->sp[1], 4, SA_A, 4);
        g_assert_cmpuint(COUNTER(f, in_esp), ==, 17);
        g_assert_cmpuint(COUNTER(f, in_dropped), ==, 0);
        g_assert_cmpuint(COUNTER(f, in_misrouted), ==, 0);
        g_assert_cmpuint(COUNTER(f, in_handoff_full), ==, 0);
        g_assert_cmpuint(dp_worker_packets(f->dp, 0), ==, 8);
        g_assert_cmpuint(dp_worker_packets(f->dp, 1), ==, 9);
        mix_clear(&m);
}

/* Waits (without running the main loop: worker 0 takes nothing) until
 * the workers have handed or dropped N packets in all. */
static void wait_handed(Fixture *f, uint64_t n) {
        gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
        while (COUNTER(f, in_handed_off) + COUNTER(f, in_handoff_full) < n) {
                g_assert_cmpint(g_get_monotonic_time(), <, end);
                g_usleep(1000);
        }
}

/* Worker 1 hands worker 0 more than its queue holds while worker 0 (the
 * main loop, not run) takes none: the first 64 wait and then arrive in
 * order, the rest are dropped and counted. A queue that still holds
 * packets when the data path ends goes with it (nothing leaks, nothing is
 * used after it is freed: the sanitizers' build). */
static void test_handoff_full(Fixture *f, gconstpointer data) {
        if (!have_netns())
                return;
        Mix m;
        mix_init(f, &m);
        char run[52] = "B";
        memset(run + 1, 'A', 50);
        mix_send(&m, PORT1, run);
        mix_send(&m, PORT1, run);
        wait_handed(f, 100);
        g_assert_cmpuint(COUNTER(f, in_handed_off), ==, 64);
        g_assert_cmpuint(COUNTER(f, in_handoff_full), ==, 36);
        g_assert_cmpuint(COUNTER(f, in_dropped), ==, 36);
        expect_on(f->sp1[1], 2, SA_B, 0);
        expect_on(f->sp[1], 64, SA_A, 0);
        g_assert_cmpuint(COUNTER(f, in_esp), ==, 66);
        g_assert_cmpuint(COUNTER(f, in_misrouted), ==, 0);
        /* Queued again, never taken. */
        mix_send(&m, PORT1, run);
        wait_handed(f, 150);
        g_assert_cmpuint(COUNTER(f, in_handed_off), ==, 114);
        mix_clear(&m);
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
        g_test_add("/udp-gro/handed-off", Fixture, GUINT_TO_POINTER(2), fixture_set_up, test_handed_off,
                   fixture_tear_down);
        g_test_add("/udp-gro/handoff-full", Fixture, GUINT_TO_POINTER(2), fixture_set_up, test_handoff_full,
                   fixture_tear_down);
        return g_test_run();
}
