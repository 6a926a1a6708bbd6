/* SPDX-License-Identifier: ISC */
/* filterd's traps (start = trap) through the real data path: IPv4 packets
 * written to a stand-in for the TUN device (a datagram socket pair) meet a
 * trap and are dropped and counted; however many come, the acquire
 * function hears of them once per hold-down, and not at all once the
 * trap is an ordinary policy. And transport mode's own check of the
 * addresses, which needs the same stand-in. */
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "datapath.h"
#include "offload.h"
#include "secmem.h"
#include "pkt.h"

typedef struct Heard {
        unsigned n;
        char tunnel[BH_TUNNEL_NAME_MAX + 1];
        char src[BH_ADDR_STRLEN], dst[BH_ADDR_STRLEN];
} Heard;

static void heard(const char *tunnel, const BhAddr *src, const BhAddr *dst, void *userdata) {
        Heard *h = userdata;
        h->n++;
        g_strlcpy(h->tunnel, tunnel, sizeof h->tunnel);
        bh_addr_to_string(src, h->src);
        bh_addr_to_string(dst, h->dst);
}

typedef struct Fixture {
        int sp[2];
        Datapath *dp;
        Heard heard;
} Fixture;

/* The data path's counters as they are now. */
#define COUNTER(f, name) (counters(f).name)
static DpCounters counters(Fixture *f) {
        DpCounters c;
        dp_counters(f->dp, &c);
        return c;
}

static void ts(const char *s, BhTs *ret) {
        g_autofree char *why = NULL;
        g_assert_cmpint(bh_ts_parse(s, ret, &why), ==, 0);
}

static void fixture_set_up(Fixture *f, gconstpointer data) {
        memset(f, 0, sizeof *f);
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, f->sp), ==, 0);
        /* One worker: the packets are handled on this thread's context. */
        DpFds fds = { .tun = { f->sp[0], -1, -1, -1 }, .udp4 = { -1, -1, -1, -1 }, .udp6 = { -1, -1, -1, -1 },
                      .raw4 = -1, .raw6 = -1, .ah4 = -1, .ah6 = -1, .ip4 = -1, .ip6 = -1 };
        f->dp = dp_new(NULL, &fds);
        dp_on_acquire(f->dp, heard, &f->heard);
}

static void fixture_tear_down(Fixture *f, gconstpointer data) {
        dp_free(f->dp);
        close(f->sp[0]);
        close(f->sp[1]);
}

/* N ICMP echo requests from 10.1.0.1 to DST, each behind the virtio-net
 * header the TUN device puts first (all zero: no offload), then the loop
 * runs until the data path has read them all. */
static void send_packets(Fixture *f, const char *dst, unsigned n) {
        uint8_t p[OFFLOAD_VNET_HDR_LEN + 28] = { 0 };
        uint8_t *ip = p + OFFLOAD_VNET_HDR_LEN;
        memcpy(ip, (const uint8_t[]) { 0x45, 0, 0, 28, 0, 1, 0, 0, 64, IPPROTO_ICMP, 0, 0, 10, 1, 0, 1 }, 16);
        BhAddr d;
        g_assert_cmpint(bh_addr_parse(dst, false, &d), ==, 0);
        memcpy(ip + 16, d.bytes, 4);
        pkt_ipv4_set_checksum(ip, 20);
        ip[20] = 8;     /* echo request */
        for (unsigned i = 0; i < n; i++)
                g_assert_cmpint(write(f->sp[1], p, sizeof p), ==, (ssize_t) sizeof p);
        while (g_main_context_iteration(NULL, FALSE))
                ;
}

static void set_trap(Fixture *f, unsigned holddown) {
        BhTs l, r;
        ts("10.1.0.1/32", &l);
        ts("10.2.0.0/24", &r);
        dp_set_trap(f->dp, "gw", &l, 1, &r, 1, holddown);
}

static void test_once(Fixture *f, gconstpointer data) {
        set_trap(f, 0);
        send_packets(f, "10.2.0.1", 200);
        g_assert_cmpuint(COUNTER(f, out_trapped), ==, 200);
        g_assert_cmpuint(COUNTER(f, out_dropped), ==, 200);
        g_assert_cmpuint(COUNTER(f, out_no_sa), ==, 0);
        g_assert_cmpuint(f->heard.n, ==, 1);
        g_assert_cmpstr(f->heard.tunnel, ==, "gw");
        g_assert_cmpstr(f->heard.src, ==, "10.1.0.1");
        g_assert_cmpstr(f->heard.dst, ==, "10.2.0.1");
        /* Traffic the trap does not claim is a filter deny, and silent. */
        send_packets(f, "10.3.0.1", 3);
        g_assert_cmpuint(COUNTER(f, out_filter_deny), ==, 3);
        g_assert_cmpuint(f->heard.n, ==, 1);
}

static void test_holddown(Fixture *f, gconstpointer data) {
        set_trap(f, 1);
        send_packets(f, "10.2.0.7", 5);
        g_assert_cmpuint(f->heard.n, ==, 0);
        g_assert_cmpuint(COUNTER(f, out_trapped), ==, 5);
        g_usleep(1100 * 1000);
        send_packets(f, "10.2.0.7", 5);
        g_assert_cmpuint(f->heard.n, ==, 1);
        /* Set again (a failed negotiation): it may ask again after its
         * hold-down, not only after the 30 s of a pending negotiation. */
        set_trap(f, 0);
        send_packets(f, "10.2.0.7", 1);
        g_assert_cmpuint(f->heard.n, ==, 2);
}

static void test_policy_replaces(Fixture *f, gconstpointer data) {
        set_trap(f, 0);
        BhTs l, r;
        ts("10.1.0.1/32", &l);
        ts("10.2.0.0/24", &r);
        dp_set_policy(f->dp, "gw", &l, 1, &r, 1);
        send_packets(f, "10.2.0.1", 4);
        g_assert_cmpuint(COUNTER(f, out_no_sa), ==, 4);
        g_assert_cmpuint(COUNTER(f, out_trapped), ==, 0);
        g_assert_cmpuint(f->heard.n, ==, 0);
        set_trap(f, 0);
        g_assert_true(dp_remove_policy(f->dp, "gw"));
        send_packets(f, "10.2.0.1", 2);
        g_assert_cmpuint(COUNTER(f, out_filter_deny), ==, 2);
        g_assert_cmpuint(f->heard.n, ==, 0);
}

/* Transport mode carries the two hosts' own packets only: one to another
 * address that the selectors contain is a filter deny; one between the
 * SA's addresses is encapsulated (and, with no socket here, not sent). */
static void test_transport_addresses(Fixture *f, gconstpointer data) {
        BhTs l, r;
        ts("10.1.0.0/24", &l);
        ts("10.2.0.0/24", &r);
        dp_set_policy(f->dp, "host", &l, 1, &r, 1);
        DpSaSpec spec = { .tunnel = "host", .direction = DP_OUT, .protocol = IPPROTO_ESP, .spi = 0x1001,
                          .encr = BH_ENCR_AES_GCM_16, .encr_bits = 256, .mode = BH_MODE_TRANSPORT,
                          .encap = BH_ENCAP_ESP };
        g_assert_cmpint(bh_addr_parse("10.1.0.1", false, &spec.local), ==, 0);
        g_assert_cmpint(bh_addr_parse("10.2.0.1", false, &spec.remote), ==, 0);
        uint8_t key[36] = { 1, 2, 3 };
        BhSecret *keymat = bh_secret_new_copy(key, sizeof key);
        g_autofree char *why = NULL;
        g_assert_cmpint(dp_install_sa(f->dp, &spec, keymat, &why), ==, 0);
        bh_secret_free(keymat);
        send_packets(f, "10.2.0.7", 3);
        g_assert_cmpuint(COUNTER(f, out_filter_deny), ==, 3);
        g_assert_cmpuint(COUNTER(f, out_send_failed), ==, 0);
        send_packets(f, "10.2.0.1", 2);
        g_assert_cmpuint(COUNTER(f, out_filter_deny), ==, 3);
        g_assert_cmpuint(COUNTER(f, out_encap_failed), ==, 0);
        g_assert_cmpuint(COUNTER(f, out_send_failed), ==, 2);
}

/* An inbound SA is removed by tunnel and SPI, whether ESP or AH. */
static void install(Fixture *f, uint8_t protocol, uint32_t spi) {
        DpSaSpec spec = { .tunnel = "t", .direction = DP_IN, .protocol = protocol, .spi = spi,
                          .mode = BH_MODE_TUNNEL, .encap = BH_ENCAP_ESP };
        if (protocol == IPPROTO_ESP) {
                spec.encr = BH_ENCR_AES_GCM_16;
                spec.encr_bits = 256;
        } else {
                spec.integ = BH_AUTH_HMAC_SHA2_256_128;
        }
        g_assert_cmpint(bh_addr_parse("192.0.2.1", false, &spec.local), ==, 0);
        g_assert_cmpint(bh_addr_parse("192.0.2.2", false, &spec.remote), ==, 0);
        uint8_t key[36] = { 4, 5, 6 };
        BhSecret *keymat = bh_secret_new_copy(key, protocol == IPPROTO_ESP ? 36 : 32);
        g_autofree char *why = NULL;
        g_assert_cmpint(dp_install_sa(f->dp, &spec, keymat, &why), ==, 0);
        bh_secret_free(keymat);
}

static void test_remove_inbound(Fixture *f, gconstpointer data) {
        install(f, IPPROTO_ESP, 0x2001);
        install(f, IPPROTO_AH, 0x3001);
        g_assert_cmpuint(dp_sa_count(f->dp), ==, 2);
        g_assert_false(dp_remove_sa(f->dp, "other", DP_IN, 0x3001));
        g_assert_true(dp_remove_sa(f->dp, "t", DP_IN, 0x3001));
        g_assert_false(dp_remove_sa(f->dp, "t", DP_IN, 0x3001));
        g_assert_true(dp_remove_sa(f->dp, "t", DP_IN, 0x2001));
        g_assert_cmpuint(dp_sa_count(f->dp), ==, 0);
        g_assert_cmpuint(COUNTER(f, cache_deleted), ==, 2);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add("/trap/once", Fixture, NULL, fixture_set_up, test_once, fixture_tear_down);
        g_test_add("/trap/holddown", Fixture, NULL, fixture_set_up, test_holddown, fixture_tear_down);
        g_test_add("/trap/policy-replaces", Fixture, NULL, fixture_set_up, test_policy_replaces, fixture_tear_down);
        g_test_add("/trap/transport-addresses", Fixture, NULL, fixture_set_up, test_transport_addresses,
                   fixture_tear_down);
        g_test_add("/sad/remove-inbound", Fixture, NULL, fixture_set_up, test_remove_inbound, fixture_tear_down);
        return g_test_run();
}
