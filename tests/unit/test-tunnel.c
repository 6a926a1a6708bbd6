/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "tunnel.h"

#define FUZZ_ROUNDS 3000
#define FUZZ_SEED 0x7e11e1u

/* bulkhead-tunnels(5)'s example, every key written. */
static const char example_file[] =
        "# comments with '#'\n"
        "[tunnel branch-office]          # name: [A-Za-z0-9._-]{1,32}\n"
        "number = 1\n"
        "type = ike\n"
        "local = 192.0.2.1\n"
        "remote = 198.51.100.7\n"
        "local_ts = 10.1.0.0/16, 10.1.9.0/24\n"
        "remote_ts = 10.2.0.0/16\n"
        "mode = tunnel\n"
        "encap = udp\n"
        "local_id = fqdn:gw1.example.org\n"
        "remote_id = fqdn:gw2.example.org\n"
        "ike_proposals = aes256gcm16-prfsha256-x25519, aes256-sha256-modp2048\n"
        "esp_proposals = aes256gcm16, chacha20poly1305\n"
        "start = trap\n"
        "dpd_delay = 30s\n"
        "rekey_time = 4h\n"
        "child_rekey_time = 1h\n"
        "lifetime_bytes = 500M\n"
        "lifetime_packets = 2k\n"
        "\n"
        "[tunnel manual-a]\n"
        "number = 2\n"
        "type = manual\n"
        "local = 192.0.2.1\n"
        "remote = 198.51.100.9\n"
        "local_ts = 10.1.0.0/16[tcp/80-443]\n"
        "remote_ts = 10.3.0.0/16\n"
        "mode = tunnel\n"
        "encap = esp\n"
        "start = start\n"
        "esp = aes256gcm16\n"
        "esp_spi_out = 0x1001\n"
        "esp_spi_in = 0x1002\n"
        "ah = sha256\n"
        "ah_spi_out = 0x2001\n"
        "ah_spi_in = 8194\n"
        "lifetime = 8h\n"
        "lifetime_packets = 1M\n";

static GPtrArray *new_errors(void) {
        return g_ptr_array_new_with_free_func(g_free);
}

static void dump_errors(const GPtrArray *errors) {
        for (guint i = 0; i < errors->len; i++)
                g_test_message("report: %s", (const char *) errors->pdata[i]);
}

/* Parses one text as "test.conf" into a new, finished set. */
static BhTunnelSet *parse_text(const char *text, GPtrArray *errors, int *ret) {
        BhTunnelSet *set = bh_tunnel_set_new();
        int r = bh_tunnel_set_parse(set, text, strlen(text), "test.conf", errors);

        g_assert_cmpint(r, >=, 0);
        g_assert_cmpint(bh_tunnel_set_finish(set, NULL, errors), ==, 0);
        if (ret)
                *ret = r;
        return set;
}

static BhAddr addr(const char *s) {
        BhAddr a;

        g_assert_cmpint(bh_addr_parse(s, true, &a), ==, 0);
        return a;
}

static void assert_ts(const BhTs *ts, size_t n, const char *expect) {
        g_autoptr(GString) s = g_string_new(NULL);
        char buf[BH_TS_STRLEN];

        for (size_t i = 0; i < n; i++)
                g_string_append_printf(s, "%s%s", i ? ", " : "", bh_ts_to_string(&ts[i], buf));
        g_assert_cmpstr(s->str, ==, expect);
}

static void assert_id(const BhIdentity *id, const char *expect) {
        g_autofree char *s = bh_identity_to_string(id);

        g_assert_cmpstr(s, ==, expect);
}

static void assert_proposals(const BhProposal *p, size_t n, const char *expect) {
        g_autofree char *s = bh_proposal_list_to_string(p, n);

        g_assert_cmpstr(s, ==, expect);
}

/* format -> parse -> equal: the canonical text says everything. */
static void assert_round_trip(const BhTunnel *t) {
        g_autofree char *text = bh_tunnel_format(t);
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
        g_autoptr(GPtrArray) errors = new_errors();
        g_autofree char *changes = NULL;
        const BhTunnel *back;

        g_assert_cmpint(bh_tunnel_set_parse(set, text, strlen(text), "format.conf", errors), ==, 0);
        dump_errors(errors);
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 1);
        back = bh_tunnel_set_get(set, 0);
        changes = bh_tunnel_changes(t, back);
        if (changes)
                g_test_message("round trip of:\n%s\nchanged: %s", text, changes);
        g_assert_null(changes);
        g_assert_true(bh_tunnel_equal(t, back));
}

static void test_example(void) {
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = NULL;
        const BhTunnel *t;
        BhAddr a;
        int r;

        set = parse_text(example_file, errors, &r);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(errors->len, ==, 0);
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);

        t = bh_tunnel_set_find(set, "branch-office");
        g_assert_nonnull(t);
        g_assert_true(t == bh_tunnel_set_get(set, 0));
        g_assert_true(t == bh_tunnel_set_find(set, "BRANCH-Office"));
        g_assert_true(t == bh_tunnel_set_find_number(set, 1));
        g_assert_cmpstr(t->name, ==, "branch-office");
        g_assert_cmpstr(t->file, ==, "test.conf");
        g_assert_cmpuint(t->line, ==, 2);
        g_assert_cmpuint(t->number, ==, 1);
        g_assert_true(t->number_given);
        g_assert_cmpint(t->type, ==, BH_TUNNEL_IKE);
        a = addr("192.0.2.1");
        g_assert_true(bh_addr_equal(&t->local, &a));
        a = addr("198.51.100.7");
        g_assert_true(bh_addr_equal(&t->remote, &a));
        assert_ts(t->local_ts, t->n_local_ts, "10.1.0.0/16, 10.1.9.0/24");
        assert_ts(t->remote_ts, t->n_remote_ts, "10.2.0.0/16");
        g_assert_cmpint(t->mode, ==, BH_MODE_TUNNEL);
        g_assert_cmpint(t->encap, ==, BH_ENCAP_UDP);
        g_assert_cmpint(t->start, ==, BH_START_TRAP);
        assert_id(&t->local_id, "fqdn:gw1.example.org");
        g_assert_cmpint(t->local_id.type, ==, BH_ID_FQDN);
        g_assert_cmpuint(t->local_id.len, ==, strlen("gw1.example.org"));
        assert_id(&t->remote_id, "fqdn:gw2.example.org");
        assert_proposals(t->ike_proposals, t->n_ike_proposals,
                         "aes256gcm16-prfsha256-curve25519, aes256-sha256-prfsha256-modp2048");
        assert_proposals(t->esp_proposals, t->n_esp_proposals, "aes256gcm16, chacha20poly1305");
        g_assert_cmpuint(t->dpd_delay, ==, 30);
        g_assert_cmpuint(t->rekey_time, ==, 4 * 3600);
        g_assert_cmpuint(t->child_rekey_time, ==, 3600);
        g_assert_cmpuint(t->lifetime_bytes, ==, 500ull * 1024 * 1024);
        g_assert_cmpuint(t->lifetime_packets, ==, 2048);
        g_assert_false(t->has_esp);
        g_assert_false(t->has_ah);
        assert_round_trip(t);

        t = bh_tunnel_set_get(set, 1);
        g_assert_cmpstr(t->name, ==, "manual-a");
        g_assert_true(t == bh_tunnel_set_find_number(set, 2));
        g_assert_cmpuint(t->line, ==, 22);
        g_assert_cmpint(t->type, ==, BH_TUNNEL_MANUAL);
        assert_ts(t->local_ts, t->n_local_ts, "10.1.0.0/16[tcp/80-443]");
        assert_ts(t->remote_ts, t->n_remote_ts, "10.3.0.0/16");
        g_assert_cmpint(t->encap, ==, BH_ENCAP_ESP);
        g_assert_cmpint(t->start, ==, BH_START_START);
        g_assert_true(t->has_esp);
        {
                g_autofree char *esp = bh_proposal_to_string(&t->esp);
                g_autofree char *ah = bh_proposal_to_string(&t->ah);

                g_assert_cmpstr(esp, ==, "aes256gcm16");
                g_assert_cmpstr(ah, ==, "sha256");
        }
        g_assert_cmpuint(t->esp_spi_out, ==, 0x1001);
        g_assert_cmpuint(t->esp_spi_in, ==, 0x1002);
        g_assert_true(t->has_ah);
        g_assert_cmpuint(t->ah_spi_out, ==, 0x2001);
        g_assert_cmpuint(t->ah_spi_in, ==, 0x2002);
        g_assert_cmpuint(t->lifetime, ==, 8 * 3600);
        g_assert_cmpuint(t->lifetime_packets, ==, 1024 * 1024);
        g_assert_cmpuint(t->lifetime_bytes, ==, 0);
        /* No IKE field is set on a manual tunnel. */
        g_assert_null(t->ike_proposals);
        g_assert_cmpuint(t->n_esp_proposals, ==, 0);
        g_assert_cmpint(t->local_id.type, ==, BH_ID_ANY);
        g_assert_cmpuint(t->rekey_time, ==, 0);
        assert_round_trip(t);

        g_assert_null(bh_tunnel_set_find(set, "nope"));
        g_assert_null(bh_tunnel_set_find_number(set, 3));
        g_assert_null(bh_tunnel_set_find_number(set, 0));
}

static void test_defaults(void) {
        static const char text[] =
                "[tunnel ike-min]\n"
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.7\n"
                "[tunnel manual-min]\n"
                "type = manual\n"
                "local = 2001:db8::1\n"
                "remote = 2001:db8::2\n"
                "esp = aes128-sha256\n"
                "esp_spi_out = 256\n"
                "esp_spi_in = 0xffffffff\n"
                "[tunnel responder]\n"
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = %any\n";
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = NULL;
        BhProposal *def = NULL;
        size_t n_def = 0;
        const BhTunnel *t;
        int r;

        set = parse_text(text, errors, &r);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 3);

        t = bh_tunnel_set_find(set, "ike-min");
        g_assert_cmpuint(t->number, ==, 1);
        g_assert_false(t->number_given);
        g_assert_cmpint(t->mode, ==, BH_MODE_TUNNEL);
        g_assert_cmpint(t->encap, ==, BH_ENCAP_AUTO);
        g_assert_cmpint(t->start, ==, BH_START_NONE);
        assert_ts(t->local_ts, t->n_local_ts, "192.0.2.1/32");
        assert_ts(t->remote_ts, t->n_remote_ts, "198.51.100.7/32");
        assert_id(&t->local_id, "ipv4:192.0.2.1");
        assert_id(&t->remote_id, "ipv4:198.51.100.7");
        g_assert_cmpint(bh_proposal_list_parse(BH_PROTO_IKE, BH_TUNNEL_DEFAULT_IKE_PROPOSALS, &def, &n_def, NULL), ==, 0);
        g_assert_true(bh_proposal_list_equal(t->ike_proposals, t->n_ike_proposals, def, n_def));
        g_clear_pointer(&def, g_free);
        assert_proposals(t->ike_proposals, t->n_ike_proposals,
                         "aes256gcm16-chacha20poly1305-prfsha256-curve25519-ecp256-modp3072, "
                         "aes256-sha256-prfsha256-curve25519-ecp256-modp3072");
        assert_proposals(t->esp_proposals, t->n_esp_proposals, "aes256gcm16-chacha20poly1305, aes256-sha256");
        g_assert_cmpuint(t->dpd_delay, ==, 0);
        g_assert_cmpuint(t->rekey_time, ==, 4 * 3600);
        g_assert_cmpuint(t->child_rekey_time, ==, 3600);
        g_assert_cmpuint(t->lifetime_bytes, ==, 0);
        g_assert_cmpuint(t->lifetime_packets, ==, 0);
        assert_round_trip(t);

        t = bh_tunnel_set_find(set, "manual-min");
        g_assert_cmpuint(t->number, ==, 2);
        g_assert_cmpint(t->encap, ==, BH_ENCAP_ESP);
        g_assert_cmpint(t->start, ==, BH_START_NONE);
        assert_ts(t->local_ts, t->n_local_ts, "2001:db8::1/128");
        assert_ts(t->remote_ts, t->n_remote_ts, "2001:db8::2/128");
        g_assert_cmpuint(t->esp_spi_out, ==, 256);
        g_assert_cmpuint(t->esp_spi_in, ==, 0xffffffff);
        g_assert_false(t->has_ah);
        assert_round_trip(t);

        t = bh_tunnel_set_find(set, "responder");
        g_assert_cmpuint(t->number, ==, 3);
        g_assert_true(bh_addr_is_any(&t->remote));
        g_assert_cmpuint(t->n_remote_ts, ==, 0);            /* the peer's address, once known */
        g_assert_cmpint(t->remote_id.type, ==, BH_ID_ANY);
        assert_id(&t->remote_id, "%any");
        assert_round_trip(t);
}

static void test_syntax(void) {
        /* Blanks, CRLF, case, comments, '#' inside a word, identities. */
        static const char text[] =
                "  # leading comment\r\n"
                "[TUNNEL Mixed.Case_1]   # trailing comment\r\n"
                "\tTYPE\t=\tIKE\t\r\n"
                "local=2001:db8::1\n"
                "remote = 2001:db8::2 # comment\n"
                "local_ts = 10.0.0.0/8 , fd00::/8[ipv6-icmp], 0.0.0.0/0[udp/53]\n"
                "remote_ts = 10.9.0.0/16, ::/0[tcp]\n"
                "mode = TUNNEL\n"
                "encap = ESP\n"
                "start = Start\n"
                "local_id = keyid:ab#cd\n"
                "remote_id = email:peer@example.org\n"
                "dpd_delay = 2m\n"
                "rekey_time = 1d\n"
                "child_rekey_time = 0\n"
                "lifetime_bytes = 4G\n"
                "lifetime_packets = 1000\n"
                "[tunnel six]\n"
                "type = ike\n"
                "local = 2001:db8::1\n"
                "remote = 2001:db8::3\n"
                "local_id = ipv6:2001:db8::1\n"
                "remote_id = keyid:0x0102ff\n"
                "[tunnel four]\n"
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = 192.0.2.2\n"
                "local_id = ipv4:192.0.2.1\n"
                "remote_id = keyid:0xAbCd\n"
                "mode = transport\n"
                "local_ts = 192.0.2.1/32[tcp/22], 192.0.2.0/24[udp]\n"
                "[tunnel last]\n"
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = 192.0.2.9";       /* no newline at the end */
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = NULL;
        const BhTunnel *t;
        int r;

        set = parse_text(text, errors, &r);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 4);

        t = bh_tunnel_set_find(set, "mixed.case_1");
        g_assert_nonnull(t);
        g_assert_cmpstr(t->name, ==, "Mixed.Case_1");
        g_assert_cmpint(t->type, ==, BH_TUNNEL_IKE);
        assert_ts(t->local_ts, t->n_local_ts, "10.0.0.0/8, fd00::/8[ipv6-icmp], 0.0.0.0/0[udp/53]");
        assert_ts(t->remote_ts, t->n_remote_ts, "10.9.0.0/16, ::/0[tcp]");
        g_assert_cmpint(t->encap, ==, BH_ENCAP_ESP);
        g_assert_cmpint(t->start, ==, BH_START_START);
        assert_id(&t->local_id, "keyid:ab#cd");
        assert_id(&t->remote_id, "email:peer@example.org");
        g_assert_cmpuint(t->dpd_delay, ==, 120);
        g_assert_cmpuint(t->rekey_time, ==, 86400);
        g_assert_cmpuint(t->child_rekey_time, ==, 0);
        g_assert_cmpuint(t->lifetime_bytes, ==, 4ull << 30);
        g_assert_cmpuint(t->lifetime_packets, ==, 1000);
        assert_round_trip(t);

        t = bh_tunnel_set_find(set, "six");
        assert_id(&t->local_id, "ipv6:2001:db8::1");
        g_assert_cmpuint(t->local_id.len, ==, 16);
        assert_id(&t->remote_id, "keyid:0x0102ff");
        g_assert_cmpuint(t->remote_id.len, ==, 3);
        g_assert_cmpuint(t->remote_id.data[2], ==, 0xff);
        assert_round_trip(t);

        t = bh_tunnel_set_find(set, "four");
        g_assert_cmpint(t->mode, ==, BH_MODE_TRANSPORT);
        assert_id(&t->remote_id, "keyid:0xabcd");
        assert_ts(t->remote_ts, t->n_remote_ts, "192.0.2.2/32");
        assert_round_trip(t);

        t = bh_tunnel_set_find(set, "last");
        g_assert_nonnull(t);
        g_assert_cmpuint(t->number, ==, 4);
}

/* Every bad section sits between two good tunnels, which must load. */
#define GOOD_BEFORE                             \
        "[tunnel good1]\n"                      \
        "type = ike\n"                          \
        "local = 192.0.2.1\n"                   \
        "remote = 198.51.100.1\n"               \
        "\n"                                    \
        "[tunnel bad]\n"                        /* line 6; the body starts at line 7 */
#define GOOD_AFTER                              \
        "\n[tunnel good2]\n"                    \
        "type = manual\n"                       \
        "local = 192.0.2.1\n"                   \
        "remote = 198.51.100.2\n"               \
        "esp = aes128gcm16\n"                   \
        "esp_spi_out = 300\n"                   \
        "esp_spi_in = 301\n"

/* Lines 7-9; a line after it is line 10. */
#define IKE_BASE "type = ike\nlocal = 192.0.2.1\nremote = 198.51.100.7\n"
/* Lines 7-12; a line after it is line 13. */
#define MANUAL_BASE "type = manual\nlocal = 192.0.2.1\nremote = 198.51.100.7\nesp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n"
/* Lines 7-9, then line 10 is esp (the value follows), then the SPIs. */
#define MANUAL_ESP(value) "type = manual\nlocal = 192.0.2.1\nremote = 198.51.100.7\nesp = " value "\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n"
#define MANUAL_SPI_OUT(value) "type = manual\nlocal = 192.0.2.1\nremote = 198.51.100.7\nesp = aes256gcm16\nesp_spi_out = " value "\nesp_spi_in = 0x1002\n"

static const struct {
        const char *body;
        const char *reports[4];         /* without the final "is not loaded" */
} bad_sections[] = {
        /* Lines and keys */
        { IKE_BASE "foo = bar", { "test.conf:10: unknown key \"foo\"" } },
        { IKE_BASE "Local_TS", { "test.conf:10: expected KEY = VALUE" } },
        { IKE_BASE "= 10.0.0.0/8", { "test.conf:10: expected KEY = VALUE" } },
        { IKE_BASE "mode =", { "test.conf:10: \"mode\" needs a value" } },
        { IKE_BASE "mode = # only a comment", { "test.conf:10: \"mode\" needs a value" } },
        { IKE_BASE "local = 192.0.2.2", { "test.conf:10: \"local\" is already set on line 8" } },
        { IKE_BASE "LOCAL = 192.0.2.2", { "test.conf:10: \"local\" is already set on line 8" } },
        { IKE_BASE "x\x1b[2J = 1", { "test.conf:10: unknown key \"x\\x1b[2J\"" } },
        /* Values */
        { IKE_BASE "number = 0", { "test.conf:10: number must be from 1 to 65535, not \"0\"" } },
        { IKE_BASE "number = 65536", { "test.conf:10: number must be from 1 to 65535, not \"65536\"" } },
        { IKE_BASE "number = -1", { "test.conf:10: number must be from 1 to 65535, not \"-1\"" } },
        { IKE_BASE "number = 0x10", { "test.conf:10: number must be from 1 to 65535, not \"0x10\"" } },
        { IKE_BASE "number = 99999999999999999999999", { "test.conf:10: number must be from 1 to 65535, not \"99999999999999999999999\"" } },
        { "type = vpn\nlocal = 192.0.2.1\nremote = 198.51.100.7\n", { "test.conf:7: type must be ike or manual, not \"vpn\"" } },
        { IKE_BASE "mode = tunel", { "test.conf:10: mode must be tunnel or transport, not \"tunel\"" } },
        { IKE_BASE "encap = nat", { "test.conf:10: encap must be udp, esp or auto, not \"nat\"" } },
        { IKE_BASE "start = always", { "test.conf:10: start must be none, start or trap, not \"always\"" } },
        { "type = ike\nlocal = 192.0.2.1\nremote = 198.51.100\n",
          { "test.conf:9: remote \"198.51.100\" is not an IPv4 or IPv6 address (or %any)" } },
        { "type = ike\nlocal = %any\nremote = 198.51.100.7\n", { "test.conf:8: local must be an address of this host, not %any" } },
        { "type = ike\nlocal = 0.0.0.0\nremote = 198.51.100.7\n", { "test.conf:8: local \"0.0.0.0\" is not a unicast address" } },
        { "type = ike\nlocal = 192.0.2.1%eth0\nremote = 198.51.100.7\n",
          { "test.conf:8: local \"192.0.2.1%eth0\" is not an IPv4 or IPv6 address" } },
        { "type = ike\nlocal = 2001:db8::1\nremote = ff02::1\n", { "test.conf:9: remote \"ff02::1\" is not a unicast address" } },
        { "type = ike\nlocal = 192.0.2.1\nremote = 255.255.255.255\n",
          { "test.conf:9: remote \"255.255.255.255\" is not a unicast address" } },
        /* Selectors */
        { IKE_BASE "local_ts = 10.0.0.0/33",
          { "test.conf:10: local_ts \"10.0.0.0/33\": the prefix length must be a number from 0 to 32 for IPv4" } },
        { IKE_BASE "local_ts = 2001:db8::/129",
          { "test.conf:10: local_ts \"2001:db8::/129\": the prefix length must be a number from 0 to 128 for IPv6" } },
        { IKE_BASE "local_ts = 10.0.0.0/",
          { "test.conf:10: local_ts \"10.0.0.0/\": the prefix length must be a number from 0 to 32 for IPv4" } },
        { IKE_BASE "local_ts = 10.1.2.3/16",
          { "test.conf:10: local_ts \"10.1.2.3/16\": host bits are set (the network is 10.1.0.0/16)" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8, , 10.1.0.0/16",
          { "test.conf:10: remote_ts has an empty entry (two ',' in a row, or a ',' at an end)" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8,", { "test.conf:10: remote_ts has an empty entry (two ',' in a row, or a ',' at an end)" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[tcp/80-20]", { "test.conf:10: remote_ts \"10.0.0.0/8[tcp/80-20]\": port range 80-20 is backwards" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[tcp/65536]",
          { "test.conf:10: remote_ts \"10.0.0.0/8[tcp/65536]\": a port must be a number from 0 to 65535, or a range such as 80-443" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[foo]",
          { "test.conf:10: remote_ts \"10.0.0.0/8[foo]\": unknown protocol (expected tcp, udp, icmp, ipv6-icmp, sctp, udplite, "
            "dccp, gre, any or a number from 0 to 255)" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[256]",
          { "test.conf:10: remote_ts \"10.0.0.0/8[256]\": unknown protocol (expected tcp, udp, icmp, ipv6-icmp, sctp, udplite, "
            "dccp, gre, any or a number from 0 to 255)" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[icmp/8]",
          { "test.conf:10: remote_ts \"10.0.0.0/8[icmp/8]\": protocol 1 has no ports (only tcp, udp, sctp, udplite and dccp do)" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[any/53]",
          { "test.conf:10: remote_ts \"10.0.0.0/8[any/53]\": a port needs a protocol that has ports (tcp, udp, sctp, udplite or dccp)" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[]", { "test.conf:10: remote_ts \"10.0.0.0/8[]\": the protocol is missing inside [...]" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[tcp][udp]", { "test.conf:10: remote_ts \"10.0.0.0/8[tcp][udp]\": more than one [...]" } },
        { IKE_BASE "remote_ts = 2001:db8::/32[icmp]",
          { "test.conf:10: remote_ts \"2001:db8::/32[icmp]\": icmp is IPv4's ICMP: IPv6 selectors take ipv6-icmp" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[ipv6-icmp]",
          { "test.conf:10: remote_ts \"10.0.0.0/8[ipv6-icmp]\": ipv6-icmp belongs to IPv6: IPv4 selectors take icmp" } },
        { IKE_BASE "remote_ts = 10.0.0.0/8[tcp/80", { "test.conf:10: remote_ts \"10.0.0.0/8[tcp/80\": [ without a closing ] at the end" } },
        { IKE_BASE "remote_ts = host.example.org", { "test.conf:10: remote_ts \"host.example.org\": not an IPv4 or IPv6 prefix" } },
        { IKE_BASE "remote_ts = /8", { "test.conf:10: remote_ts \"/8\": the address is missing" } },
        { IKE_BASE "local_ts = 10.0.0.0/8, 10.0.0.0/8", { "test.conf:10: local_ts lists \"10.0.0.0/8\" twice" } },
        /* Selectors that can never pair (tunnel mode), or that leave the hosts (transport mode). */
        { IKE_BASE "local_ts = 10.1.0.0/16, 2001:db8:1::/48\nremote_ts = 10.2.0.0/16",
          { "test.conf:10: local_ts has IPv6 selectors but remote_ts has none (selectors pair up by family)" } },
        { IKE_BASE "remote_ts = 2001:db8:2::/48",
          { "test.conf:6: local_ts has IPv4 selectors but remote_ts has none (selectors pair up by family)",
            "test.conf:10: remote_ts has IPv6 selectors but local_ts has none (selectors pair up by family)" } },
        { IKE_BASE "mode = transport\nlocal_ts = 10.1.0.0/16",
          { "test.conf:11: local_ts 10.1.0.0/16 does not contain local 192.0.2.1 (transport mode protects the two hosts' own traffic)" } },
        { IKE_BASE "mode = transport\nremote_ts = 198.51.100.0/24, 10.0.0.0/8",
          { "test.conf:11: remote_ts 10.0.0.0/8 does not contain remote 198.51.100.7 (transport mode protects the two hosts' own traffic)" } },
        /* Addresses of two families */
        { "type = ike\nlocal = 192.0.2.1\nremote = 2001:db8::7\n",
          { "test.conf:9: remote 2001:db8::7 is IPv6 but local 192.0.2.1 is IPv4 (both ends of a tunnel use one family)" } },
        /* Identities */
        { IKE_BASE "local_id = gw1.example.org",
          { "test.conf:10: local_id \"gw1.example.org\" needs a type prefix: ipv4:, ipv6:, fqdn:, email: or keyid:" } },
        { IKE_BASE "local_id = ipv4:1.2.3", { "test.conf:10: local_id \"ipv4:1.2.3\": not an IPv4 address" } },
        { IKE_BASE "remote_id = ipv6:10.0.0.1", { "test.conf:10: remote_id \"ipv6:10.0.0.1\": not an IPv6 address" } },
        { IKE_BASE "local_id = fqdn:", { "test.conf:10: local_id \"fqdn:\": a DNS name is 1 to 253 printable characters without blanks" } },
        { IKE_BASE "local_id = fqdn:a b", { "test.conf:10: local_id \"fqdn:a b\": a DNS name is 1 to 253 printable characters without blanks" } },
        { IKE_BASE "local_id = email:gw.example.org",
          { "test.conf:10: local_id \"email:gw.example.org\": not an e-mail address (user@domain, printable, without blanks)" } },
        { IKE_BASE "local_id = email:@example.org",
          { "test.conf:10: local_id \"email:@example.org\": not an e-mail address (user@domain, printable, without blanks)" } },
        { IKE_BASE "local_id = keyid:0x123",
          { "test.conf:10: local_id \"keyid:0x123\": a hex key id takes an even number of hex digits (at most 255 bytes)" } },
        { IKE_BASE "local_id = keyid:0xzz",
          { "test.conf:10: local_id \"keyid:0xzz\": a hex key id takes an even number of hex digits (at most 255 bytes)" } },
        { IKE_BASE "local_id = keyid:",
          { "test.conf:10: local_id \"keyid:\": a key id is 0x and hex digits, or 1 to 255 printable characters without blanks" } },
        { IKE_BASE "local_id = %any", { "test.conf:10: local_id cannot be %any: this end must say who it is" } },
        /* Proposals */
        { IKE_BASE "ike_proposals = aes256gcm16-x25519",
          { "test.conf:10: ike_proposals: proposal \"aes256gcm16-x25519\": an IKE proposal with an AEAD algorithm needs "
            "an explicit PRF (such as prfsha256)" } },
        { IKE_BASE "ike_proposals = aes256-sha256",
          { "test.conf:10: ike_proposals: proposal \"aes256-sha256\": an IKE proposal needs a Diffie-Hellman group (such as curve25519)" } },
        { IKE_BASE "esp_proposals = aes256gcm16, aes256-md4",
          { "test.conf:10: esp_proposals: proposal \"aes256-md4\": unknown algorithm \"md4\"" } },
        { IKE_BASE "esp_proposals = aes256gcm16-prfsha256",
          { "test.conf:10: esp_proposals: proposal \"aes256gcm16-prfsha256\": \"prfsha256\": a PRF belongs in IKE proposals only" } },
        /* Durations and counts */
        { IKE_BASE "dpd_delay = 30x", { "test.conf:10: dpd_delay must be a duration such as 30s, 10m, 4h or 1d (0 = off), not \"30x\"" } },
        { IKE_BASE "dpd_delay = 30 s", { "test.conf:10: dpd_delay must be a duration such as 30s, 10m, 4h or 1d (0 = off), not \"30 s\"" } },
        { IKE_BASE "child_rekey_time = h", { "test.conf:10: child_rekey_time must be a duration such as 30s, 10m, 4h or 1d (0 = off), not \"h\"" } },
        { IKE_BASE "rekey_time = 50000d", { "test.conf:10: rekey_time \"50000d\" is too long (at most 4294967295 seconds)" } },
        { IKE_BASE "lifetime_bytes = 5T",
          { "test.conf:10: lifetime_bytes must be a number with an optional k, M or G (such as 500M; 0 = no limit), not \"5T\"" } },
        { IKE_BASE "lifetime_packets = 99999999999999999999", { "test.conf:10: lifetime_packets \"99999999999999999999\" is too large" } },
        { IKE_BASE "lifetime_bytes = 20000000000G", { "test.conf:10: lifetime_bytes \"20000000000G\" is too large" } },
        /* Keys of the other type */
        { IKE_BASE "esp = aes256gcm16", { "test.conf:10: \"esp\" belongs to manual tunnels, not to IKE tunnels" } },
        { IKE_BASE "esp_spi_in = 0x1002", { "test.conf:10: \"esp_spi_in\" belongs to manual tunnels, not to IKE tunnels" } },
        { IKE_BASE "ah_spi_out = 0x1002", { "test.conf:10: \"ah_spi_out\" belongs to manual tunnels, not to IKE tunnels" } },
        { MANUAL_BASE "ike_proposals = aes256gcm16-prfsha256-x25519",
          { "test.conf:13: \"ike_proposals\" belongs to IKE tunnels, not to manual tunnels" } },
        { MANUAL_BASE "dpd_delay = 30s", { "test.conf:13: \"dpd_delay\" belongs to IKE tunnels, not to manual tunnels" } },
        { MANUAL_BASE "local_id = fqdn:a.example", { "test.conf:13: \"local_id\" belongs to IKE tunnels, not to manual tunnels" } },
        { IKE_BASE "lifetime = 1h", { "test.conf:10: \"lifetime\" belongs to manual tunnels, not to IKE tunnels" } },
        { MANUAL_BASE "lifetime = forever", { "test.conf:13: lifetime must be a duration such as 30s, 10m, 4h or 1d (0 = off), not \"forever\"" } },
        /* Missing keys */
        { "local = 192.0.2.1\nremote = 198.51.100.7\n", { "test.conf:6: \"type\" is missing (ike or manual)" } },
        { "type = ike\nremote = 198.51.100.7\n", { "test.conf:6: \"local\" is missing (the address of this end)" } },
        { "type = ike\nlocal = 192.0.2.1\n", { "test.conf:6: \"remote\" is missing (the address of the other end, or %any)" } },
        { "type = manual\nlocal = 192.0.2.1\nesp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n",
          { "test.conf:6: \"remote\" is missing (the address of the other end)" } },
        { "", { "test.conf:6: \"type\" is missing (ike or manual)", "test.conf:6: \"local\" is missing (the address of this end)",
                "test.conf:6: \"remote\" is missing (the address of the other end, or %any)" } },
        /* IKE specifics */
        { "type = ike\nlocal = 192.0.2.1\nremote = %any\nstart = trap\n",
          { "test.conf:10: start = trap needs a remote address to initiate to, and remote is %any" } },
        { "type = ike\nlocal = 192.0.2.1\nremote = %any\nstart = start\n",
          { "test.conf:10: start = start needs a remote address to initiate to, and remote is %any" } },
        /* Manual specifics */
        { "type = manual\nlocal = 192.0.2.1\nremote = 198.51.100.7\n", { "test.conf:6: a manual tunnel needs esp, ah or both" } },
        { "type = manual\nlocal = 192.0.2.1\nremote = %any\nesp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n",
          { "test.conf:9: a manual tunnel needs the remote address (%any is for IKE responders)" } },
        { MANUAL_BASE "start = trap", { "test.conf:13: start = trap needs IKE (a manual tunnel takes none or start)" } },
        { MANUAL_BASE "encap = auto", { "test.conf:13: encap = auto needs IKE's NAT detection (a manual tunnel takes udp or esp)" } },
        { MANUAL_BASE "ah = sha256\nah_spi_out = 0x2001\nah_spi_in = 0x2002\nencap = udp",
          { "test.conf:16: encap = udp cannot carry AH (RFC 3948 encapsulates ESP only): use encap = esp" } },
        { MANUAL_BASE "esp_spi_in = 0x1003", { "test.conf:13: \"esp_spi_in\" is already set on line 12" } },
        { MANUAL_BASE "ah = sha256", { "test.conf:6: \"ah_spi_out\" is missing (ah is set on line 13)",
                                       "test.conf:6: \"ah_spi_in\" is missing (ah is set on line 13)" } },
        { MANUAL_BASE "ah_spi_in = 0x2002", { "test.conf:13: ah_spi_in without ah" } },
        { "type = manual\nlocal = 192.0.2.1\nremote = 198.51.100.7\nesp = aes256gcm16\nesp_spi_in = 0x1002\n",
          { "test.conf:6: \"esp_spi_out\" is missing (esp is set on line 10)" } },
        { MANUAL_ESP("aes256gcm16-x25519"),
          { "test.conf:10: esp \"aes256gcm16-x25519\": \"curve25519\": a manual SA has no key exchange, so no group" } },
        { MANUAL_ESP("aes256gcm16, aes128gcm16"), { "test.conf:10: esp takes one transform set, not a list of proposals" } },
        { MANUAL_ESP("aes256"), { "test.conf:10: esp \"aes256\": \"aes256\" needs an integrity algorithm (such as sha256)" } },
        { MANUAL_ESP("aes256-aes128-sha256"), { "test.conf:10: esp \"aes256-aes128-sha256\": a manual SA takes exactly one encryption algorithm" } },
        { MANUAL_ESP("aes256-sha1024"), { "test.conf:10: esp \"aes256-sha1024\": unknown algorithm \"sha1024\"" } },
        { MANUAL_BASE "ah = aes256\nah_spi_out = 0x2001\nah_spi_in = 0x2002",
          { "test.conf:13: ah \"aes256\": \"aes256\": AH does not encrypt; AH proposals take integrity algorithms only" } },
        { MANUAL_BASE "ah = sha256-sha512\nah_spi_out = 0x2001\nah_spi_in = 0x2002",
          { "test.conf:13: ah \"sha256-sha512\": a manual SA takes at most one integrity algorithm" } },
        /* SPIs */
        { MANUAL_SPI_OUT("255"), { "test.conf:11: esp_spi_out \"255\" is reserved (SPIs 0 to 255 are, RFC 4303)" } },
        { MANUAL_SPI_OUT("0x0"), { "test.conf:11: esp_spi_out \"0x0\" is reserved (SPIs 0 to 255 are, RFC 4303)" } },
        { MANUAL_SPI_OUT("0x100000000"),
          { "test.conf:11: esp_spi_out must be an SPI from 256 to 0xffffffff (decimal or 0x hex), not \"0x100000000\"" } },
        { MANUAL_SPI_OUT("4294967296"),
          { "test.conf:11: esp_spi_out must be an SPI from 256 to 0xffffffff (decimal or 0x hex), not \"4294967296\"" } },
        { MANUAL_SPI_OUT("0x"), { "test.conf:11: esp_spi_out must be an SPI from 256 to 0xffffffff (decimal or 0x hex), not \"0x\"" } },
        { MANUAL_SPI_OUT("1k"), { "test.conf:11: esp_spi_out must be an SPI from 256 to 0xffffffff (decimal or 0x hex), not \"1k\"" } },
        /* Lines */
        { IKE_BASE "mode = tunnel\0", { "test.conf:10: line contains a NUL byte" } },
};

static void test_bad_sections(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(bad_sections); i++) {
                g_autoptr(GPtrArray) errors = new_errors();
                g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
                g_autoptr(GByteArray) text = g_byte_array_new();
                const char *body = bad_sections[i].body;
                size_t body_len = strlen(body);
                size_t n = 0;
                int r;

                /* The NUL case: the body goes on past its first NUL. */
                if (g_str_has_suffix(body, "mode = tunnel"))
                        body_len++;

                g_byte_array_append(text, (const guint8 *) GOOD_BEFORE, strlen(GOOD_BEFORE));
                g_byte_array_append(text, (const guint8 *) body, (guint) body_len);
                g_byte_array_append(text, (const guint8 *) GOOD_AFTER, strlen(GOOD_AFTER));

                g_test_message("case %zu: %s", i, bad_sections[i].reports[0] ? bad_sections[i].reports[0] : "?");
                r = bh_tunnel_set_parse(set, (const char *) text->data, text->len, "test.conf", errors);
                dump_errors(errors);

                while (n < G_N_ELEMENTS(bad_sections[i].reports) && bad_sections[i].reports[n])
                        n++;
                g_assert_cmpint(r, ==, (int) n + 1);
                g_assert_cmpuint(errors->len, ==, n + 1);
                for (size_t k = 0; k < n; k++)
                        g_assert_cmpstr(errors->pdata[k], ==, bad_sections[i].reports[k]);
                {
                        g_autofree char *last = g_strdup_printf("test.conf:6: tunnel \"bad\" is not loaded (%zu error%s)", n,
                                                                n == 1 ? "" : "s");

                        g_assert_cmpstr(errors->pdata[n], ==, last);
                }

                /* The neighbours loaded, the bad tunnel did not. */
                g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);
                g_assert_nonnull(bh_tunnel_set_find(set, "good1"));
                g_assert_nonnull(bh_tunnel_set_find(set, "good2"));
                g_assert_null(bh_tunnel_set_find(set, "bad"));

                /* The same count without a place to report to. */
                {
                        g_autoptr(BhTunnelSet) set2 = bh_tunnel_set_new();

                        g_assert_cmpint(bh_tunnel_set_parse(set2, (const char *) text->data, text->len, "test.conf", NULL), ==, r);
                        g_assert_cmpuint(bh_tunnel_set_size(set2), ==, 2);
                }
        }
}

static void test_too_many_selectors(void) {
        g_autoptr(GString) text = g_string_new(GOOD_BEFORE IKE_BASE "local_ts = ");
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = NULL;
        int r;

        for (int i = 0; i < BH_TUNNEL_TS_MAX + 1; i++)
                g_string_append_printf(text, "%s10.%d.0.0/16", i ? ", " : "", i);
        g_string_append(text, GOOD_AFTER);
        set = parse_text(text->str, errors, &r);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 2);
        g_assert_cmpstr(errors->pdata[0], ==, "test.conf:10: local_ts has more than 32 selectors");
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);

        /* Exactly the maximum is fine. */
        g_string_assign(text, IKE_BASE);
        g_string_prepend(text, "[tunnel max]\n");
        g_string_append(text, "local_ts = ");
        for (int i = 0; i < BH_TUNNEL_TS_MAX; i++)
                g_string_append_printf(text, "%s10.%d.0.0/16", i ? ", " : "", i);
        g_string_append(text, "\nremote_ts = 0.0.0.0/0\n");
        g_clear_pointer(&set, bh_tunnel_set_free);
        g_ptr_array_set_size(errors, 0);
        set = parse_text(text->str, errors, &r);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 0);
        g_assert_cmpuint(bh_tunnel_set_get(set, 0)->n_local_ts, ==, BH_TUNNEL_TS_MAX);
        assert_round_trip(bh_tunnel_set_get(set, 0));
}

static void test_headers(void) {
        static const struct {
                const char *header;
                const char *reason;
        } cases[] = {
                { "[tunnel]", "[tunnel] needs a name" },
                { "[ tunnel ]", "[tunnel] needs a name" },
                { "[tunnel a b]", "unexpected \"b\" after the tunnel name (names cannot contain blanks)" },
                { "[tunnel bad/name]", "invalid tunnel name \"bad/name\" (1 to 32 of A-Z a-z 0-9 . _ -)" },
                { "[tunnel aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]",
                  "invalid tunnel name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" (1 to 32 of A-Z a-z 0-9 . _ -)" },
                { "[tunnel caf\xc3\xa9]", "invalid tunnel name \"caf\\xc3\\xa9\" (1 to 32 of A-Z a-z 0-9 . _ -)" },
                { "[peer x]", "unknown section \"peer\" (expected [tunnel NAME])" },
                { "[tunnel x", "malformed section header (expected [tunnel NAME])" },
                { "[tunnel x] y", "malformed section header (expected [tunnel NAME])" },
                { "[]", "malformed section header (expected [tunnel NAME])" },
                { "[   ]", "malformed section header (expected [tunnel NAME])" },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(GPtrArray) errors = new_errors();
                g_autoptr(BhTunnelSet) set = NULL;
                g_autofree char *text = NULL, *expect = NULL;
                int r;

                /* The bad header on line 5; its settings (even bad ones) are
                 * skipped without more reports; good2 loads. */
                text = g_strconcat("[tunnel good1]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.1\n", cases[i].header,
                                   "\ntype = nonsense\nfoo = bar\n", GOOD_AFTER, NULL);
                g_test_message("header %s", cases[i].header);
                set = parse_text(text, errors, &r);
                dump_errors(errors);
                g_assert_cmpint(r, ==, 1);
                g_assert_cmpuint(errors->len, ==, 1);
                expect = g_strconcat("test.conf:5: ", cases[i].reason, NULL);
                g_assert_cmpstr(errors->pdata[0], ==, expect);
                g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);
                g_assert_nonnull(bh_tunnel_set_find(set, "good1"));
                g_assert_nonnull(bh_tunnel_set_find(set, "good2"));
        }

        /* Settings before any section; a 32-character name is fine. */
        {
                static const char text[] = "type = ike\nlocal = 192.0.2.1\n[tunnel aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n" IKE_BASE;
                g_autoptr(GPtrArray) errors = new_errors();
                g_autoptr(BhTunnelSet) set = NULL;
                int r;

                set = parse_text(text, errors, &r);
                dump_errors(errors);
                g_assert_cmpint(r, ==, 2);
                g_assert_cmpstr(errors->pdata[0], ==, "test.conf:1: settings must follow a [tunnel NAME] line");
                g_assert_cmpstr(errors->pdata[1], ==, "test.conf:2: settings must follow a [tunnel NAME] line");
                g_assert_cmpuint(bh_tunnel_set_size(set), ==, 1);
        }
}

/* Legacy algorithms: a warning in a manual tunnel, which names them
 * explicitly; an error, with file, line and reason, in an IKE tunnel, which
 * would offer them to any peer; and in no default. */
static void test_legacy_warnings(void) {
        static const char text[] =
                "[tunnel old-ike]\n"
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.7\n"
                "ike_proposals = aes256-sha256-modp2048, 3des-sha1-modp2048\n"         /* line 5 */
                "esp_proposals = aes256-md5\n"                                         /* line 6 */
                "[tunnel old-manual]\n"
                "type = manual\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.8\n"
                "esp = 3des-sha1\n"                                                    /* line 11 */
                "esp_spi_out = 0x1001\n"
                "esp_spi_in = 0x1002\n"
                "ah = md5\n"                                                           /* line 14 */
                "ah_spi_out = 0x2001\n"
                "ah_spi_in = 0x2002\n"
                "replay = yes\n"
                "[tunnel old-child]\n"                                                 /* line 18 */
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.9\n"
                "esp_proposals = aes256gcm16, 3des-sha1\n"                             /* line 22 */
                "[tunnel old-ah]\n"
                "type = manual\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.10\n"
                "ah = sha1\n"                                                          /* line 27 */
                "ah_spi_out = 0x3001\n"
                "ah_spi_in = 0x3002\n";
        static const char *const expect[] = {
                "test.conf:5: ike_proposals: proposal \"3des-sha1-modp2048\": \"3des\" is a legacy algorithm, "
                "for manual tunnels only: IKE proposals do not take it",
                "test.conf:6: esp_proposals: proposal \"aes256-md5\": \"md5\" is a legacy algorithm, for manual "
                "tunnels only: a negotiated tunnel does not take it",
                "test.conf:1: tunnel \"old-ike\" is not loaded (2 errors)",
                "test.conf:11: warning: esp uses the legacy algorithm \"3des\"",
                "test.conf:14: warning: ah uses the legacy algorithm \"md5\"",
                "test.conf:22: esp_proposals: proposal \"3des-sha1\": \"3des\" is a legacy algorithm, for manual "
                "tunnels only: a negotiated tunnel does not take it",
                "test.conf:18: tunnel \"old-child\" is not loaded (1 error)",
                "test.conf:27: warning: ah uses the legacy algorithm \"sha1\"",
        };
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = NULL;
        int r;

        set = parse_text(text, errors, &r);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 5);            /* warnings do not count */
        g_assert_cmpuint(errors->len, ==, G_N_ELEMENTS(expect));
        for (size_t i = 0; i < G_N_ELEMENTS(expect); i++)
                g_assert_cmpstr(errors->pdata[i], ==, expect[i]);
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);
        g_assert_null(bh_tunnel_set_find(set, "old-ike"));
        g_assert_null(bh_tunnel_set_find(set, "old-child"));
        const BhTunnel *m = bh_tunnel_set_find(set, "old-manual");
        g_assert_cmpstr(bh_proposal_legacy(&m->esp), ==, "3des");
        g_assert_cmpstr(bh_proposal_legacy(&m->ah), ==, "md5");
        assert_round_trip(m);
        assert_round_trip(bh_tunnel_set_find(set, "old-ah"));

        /* What an IKE tunnel takes when it names nothing: no legacy
         * algorithm, in either list. */
        g_autoptr(GPtrArray) none = new_errors();
        g_autoptr(BhTunnelSet) defaults = parse_text("[tunnel plain]\n" IKE_BASE, none, &r);
        g_assert_cmpint(r, ==, 0);
        const BhTunnel *d = bh_tunnel_set_find(defaults, "plain");
        g_assert_cmpuint(d->n_ike_proposals, >, 0);
        g_assert_cmpuint(d->n_esp_proposals, >, 0);
        for (size_t i = 0; i < d->n_ike_proposals; i++)
                g_assert_null(bh_proposal_legacy(&d->ike_proposals[i]));
        for (size_t i = 0; i < d->n_esp_proposals; i++)
                g_assert_null(bh_proposal_legacy(&d->esp_proposals[i]));
}

static void test_line_length(void) {
        g_autoptr(GString) text = g_string_new("[tunnel long]\n" IKE_BASE);
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = NULL;
        g_autofree char *expect = NULL;
        int r;

        /* Line 5: exactly the limit, a comment: fine. */
        g_string_append_c(text, '#');
        for (int i = 1; i < BH_TUNNEL_LINE_MAX; i++)
                g_string_append_c(text, 'c');
        g_string_append_c(text, '\n');
        g_string_append(text, "[tunnel longer]\n" IKE_BASE);
        /* Line 10: one byte over. */
        g_string_append_c(text, '#');
        for (int i = 0; i < BH_TUNNEL_LINE_MAX; i++)
                g_string_append_c(text, 'c');
        g_string_append_c(text, '\n');
        g_string_append(text, "[tunnel after]\n" IKE_BASE);

        set = parse_text(text->str, errors, &r);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 2);
        expect = g_strdup_printf("test.conf:10: line is longer than %d bytes", BH_TUNNEL_LINE_MAX);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_assert_cmpstr(errors->pdata[1], ==, "test.conf:6: tunnel \"longer\" is not loaded (1 error)");
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);
        g_assert_nonnull(bh_tunnel_set_find(set, "long"));
        g_assert_nonnull(bh_tunnel_set_find(set, "after"));
}

/* Two files into one set: names (case-insensitively), numbers and inbound
 * SPIs stay unique, and the first definition wins. */
static void test_duplicates(void) {
        static const char first[] =
                "[tunnel alpha]\n"
                "number = 7\n"
                "type = manual\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.1\n"
                "esp = aes256gcm16\n"
                "esp_spi_out = 0x1001\n"
                "esp_spi_in = 0x1002\n"
                "ah = sha256\n"
                "ah_spi_out = 0x2001\n"
                "ah_spi_in = 0x2002\n";
        static const char second[] =
                "[tunnel ALPHA]\n"                      /* 1: name taken */
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.2\n"
                "[tunnel beta]\n"                       /* 5 */
                "number = 7\n"                          /* 6: number taken */
                "type = ike\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.3\n"
                "[tunnel gamma]\n"                      /* 10 */
                "type = manual\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.4\n"
                "esp = aes256gcm16\n"
                "esp_spi_out = 0x1002\n"                /* an outbound SPI may repeat */
                "esp_spi_in = 0x1002\n"                 /* 16: inbound SPI taken */
                "[tunnel delta]\n"                      /* 17 */
                "type = manual\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.5\n"
                "ah = sha256\n"
                "ah_spi_out = 0x1002\n"
                "ah_spi_in = 0x2002\n"                  /* 23: inbound AH SPI taken */
                "[tunnel epsilon]\n"                    /* 24: an ESP SPI equal to an AH one is fine */
                "type = manual\n"
                "local = 192.0.2.1\n"
                "remote = 198.51.100.6\n"
                "esp = aes256gcm16\n"
                "esp_spi_out = 0x2002\n"
                "esp_spi_in = 0x2002\n";
        static const char *const expect[] = {
                "second.conf:1: tunnel \"alpha\" is already defined at first.conf:1",
                "second.conf:1: tunnel \"ALPHA\" is not loaded (1 error)",
                "second.conf:6: number 7 is already taken by tunnel \"alpha\" (first.conf:1)",
                "second.conf:5: tunnel \"beta\" is not loaded (1 error)",
                "second.conf:16: esp_spi_in 0x1002 is already the inbound ESP SPI of tunnel \"alpha\" (first.conf:1)",
                "second.conf:10: tunnel \"gamma\" is not loaded (1 error)",
                "second.conf:23: ah_spi_in 0x2002 is already the inbound AH SPI of tunnel \"alpha\" (first.conf:1)",
                "second.conf:17: tunnel \"delta\" is not loaded (1 error)",
        };
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();

        g_assert_cmpint(bh_tunnel_set_parse(set, first, strlen(first), "first.conf", errors), ==, 0);
        g_assert_cmpint(bh_tunnel_set_parse(set, second, strlen(second), "second.conf", errors), ==, 8);
        g_assert_cmpint(bh_tunnel_set_finish(set, NULL, errors), ==, 0);
        dump_errors(errors);
        g_assert_cmpuint(errors->len, ==, G_N_ELEMENTS(expect));
        for (size_t i = 0; i < G_N_ELEMENTS(expect); i++)
                g_assert_cmpstr(errors->pdata[i], ==, expect[i]);

        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);
        g_assert_cmpstr(bh_tunnel_set_find(set, "Alpha")->file, ==, "first.conf");
        g_assert_cmpuint(bh_tunnel_set_find(set, "alpha")->number, ==, 7);
        g_assert_cmpuint(bh_tunnel_set_find(set, "epsilon")->number, ==, 1);
}

static void test_numbers(void) {
        static const char old_text[] =
                "[tunnel a]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.1\n"
                "[tunnel b]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.2\n"
                "[tunnel c]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.3\n";
        /* New tunnels before and between, an explicit number taking c's. */
        static const char new_text[] =
                "[tunnel first]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.9\n"
                "[tunnel a]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.1\n"
                "[tunnel x]\nnumber = 3\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.8\n"
                "[tunnel b]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.2\n"
                "[tunnel c]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.3\n";
        g_autoptr(BhTunnelSet) old_set = bh_tunnel_set_new();
        g_autoptr(BhTunnelSet) new_set = bh_tunnel_set_new();

        g_assert_cmpint(bh_tunnel_set_parse(old_set, old_text, strlen(old_text), "t.conf", NULL), ==, 0);
        /* Before finishing, no numbers. */
        g_assert_cmpuint(bh_tunnel_set_find(old_set, "a")->number, ==, 0);
        g_assert_cmpint(bh_tunnel_set_finish(old_set, NULL, NULL), ==, 0);
        g_assert_cmpuint(bh_tunnel_set_find(old_set, "a")->number, ==, 1);
        g_assert_cmpuint(bh_tunnel_set_find(old_set, "b")->number, ==, 2);
        g_assert_cmpuint(bh_tunnel_set_find(old_set, "c")->number, ==, 3);

        g_assert_cmpint(bh_tunnel_set_parse(new_set, new_text, strlen(new_text), "t.conf", NULL), ==, 0);
        g_assert_cmpint(bh_tunnel_set_finish(new_set, old_set, NULL), ==, 0);
        /* a and b keep theirs; x took 3 explicitly, so c and the newcomer get the lowest free. */
        g_assert_cmpuint(bh_tunnel_set_find(new_set, "a")->number, ==, 1);
        g_assert_cmpuint(bh_tunnel_set_find(new_set, "b")->number, ==, 2);
        g_assert_cmpuint(bh_tunnel_set_find(new_set, "x")->number, ==, 3);
        g_assert_cmpuint(bh_tunnel_set_find(new_set, "first")->number, ==, 4);
        g_assert_cmpuint(bh_tunnel_set_find(new_set, "c")->number, ==, 5);
        g_assert_true(bh_tunnel_set_find_number(new_set, 5) == bh_tunnel_set_find(new_set, "c"));

        /* Without the previous set, plain lowest-free in definition order. */
        {
                g_autoptr(BhTunnelSet) fresh = bh_tunnel_set_new();

                g_assert_cmpint(bh_tunnel_set_parse(fresh, new_text, strlen(new_text), "t.conf", NULL), ==, 0);
                g_assert_cmpint(bh_tunnel_set_finish(fresh, NULL, NULL), ==, 0);
                g_assert_cmpuint(bh_tunnel_set_find(fresh, "first")->number, ==, 1);
                g_assert_cmpuint(bh_tunnel_set_find(fresh, "a")->number, ==, 2);
                g_assert_cmpuint(bh_tunnel_set_find(fresh, "b")->number, ==, 4);
                g_assert_cmpuint(bh_tunnel_set_find(fresh, "c")->number, ==, 5);
        }
}

/* When every number is taken, the tunnels without one are dropped and reported. */
static void test_numbers_exhausted(void) {
        g_autoptr(GString) text = g_string_new(NULL);
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();

        for (int i = 1; i <= BH_TUNNEL_NUMBER_MAX; i++)
                g_string_append_printf(text, "[tunnel t%d]\nnumber = %d\ntype = ike\nlocal = 192.0.2.1\nremote = %%any\n", i, i);
        g_string_append(text, "[tunnel one-too-many]\ntype = ike\nlocal = 192.0.2.1\nremote = %any\n");

        g_assert_cmpint(bh_tunnel_set_parse(set, text->str, text->len, "big.conf", errors), ==, 0);
        g_assert_cmpint(bh_tunnel_set_finish(set, NULL, errors), ==, 1);
        g_assert_cmpuint(errors->len, ==, 1);
        {
                g_autofree char *expect = g_strdup_printf(
                        "big.conf:%d: tunnel \"one-too-many\" is not loaded: every number from 1 to 65535 is taken",
                        BH_TUNNEL_NUMBER_MAX * 5 + 1);

                g_assert_cmpstr(errors->pdata[0], ==, expect);
        }
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, BH_TUNNEL_NUMBER_MAX);
        g_assert_null(bh_tunnel_set_find(set, "one-too-many"));
}

static BhTunnelSet *set_from(const char *text) {
        g_autoptr(GPtrArray) errors = new_errors();
        BhTunnelSet *set = bh_tunnel_set_new();

        g_assert_cmpint(bh_tunnel_set_parse(set, text, strlen(text), "diff.conf", errors), ==, 0);
        g_assert_cmpint(bh_tunnel_set_finish(set, NULL, errors), ==, 0);
        dump_errors(errors);
        g_assert_cmpuint(errors->len, ==, 0);
        return set;
}

static void assert_names(const GPtrArray *tunnels, const char *expect) {
        g_autoptr(GString) s = g_string_new(NULL);

        for (guint i = 0; i < tunnels->len; i++)
                g_string_append_printf(s, "%s%s", i ? " " : "", ((const BhTunnel *) tunnels->pdata[i])->name);
        g_assert_cmpstr(s->str, ==, expect);
}

static void test_diff(void) {
        static const char old_text[] =
                "[tunnel same]\nnumber = 1\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.1\n"
                "[tunnel moved]\nnumber = 2\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.2\n"
                "[tunnel peer]\nnumber = 3\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.3\n"
                "[tunnel gone]\nnumber = 4\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.4\n"
                "[tunnel keys]\nnumber = 5\ntype = manual\nlocal = 192.0.2.1\nremote = 198.51.100.5\n"
                "esp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n"
                "[tunnel Case]\nnumber = 6\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.6\n";
        /* Same meaning written differently is no change; a default written
         * out is no change; moving between lines is no change. */
        static const char new_text[] =
                "[tunnel new]\nnumber = 9\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.9\n"
                "[tunnel moved]\nnumber = 2\nTYPE = IKE\nlocal = 192.0.2.1\nremote = 198.51.100.2\n"
                "mode = tunnel\nencap = auto\nlocal_ts = 192.0.2.1/32\nrekey_time = 240m\n"
                "ike_proposals = " BH_TUNNEL_DEFAULT_IKE_PROPOSALS "\n"
                "[tunnel same]\nnumber = 1\ntype = ike\nremote = 198.51.100.1\nlocal = 192.0.2.1\n"
                "[tunnel peer]\nnumber = 3\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.33\n"
                "[tunnel keys]\nnumber = 5\ntype = manual\nlocal = 192.0.2.1\nremote = 198.51.100.5\n"
                "esp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1003\n"
                "[tunnel case]\nnumber = 6\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.6\n";
        g_autoptr(BhTunnelSet) old_set = set_from(old_text);
        g_autoptr(BhTunnelSet) new_set = set_from(new_text);
        g_auto(BhTunnelDiff) diff = { 0 };
        g_autofree char *changes = NULL;

        bh_tunnel_diff(old_set, new_set, &diff);
        assert_names(diff.added, "new");
        assert_names(diff.changed, "peer keys case");
        assert_names(diff.removed, "gone");
        assert_names(diff.unchanged, "moved same");

        /* The arrays point into the sets. */
        g_assert_true(diff.added->pdata[0] == bh_tunnel_set_find(new_set, "new"));
        g_assert_true(diff.removed->pdata[0] == bh_tunnel_set_find(old_set, "gone"));

        changes = bh_tunnel_changes(bh_tunnel_set_find(old_set, "peer"), bh_tunnel_set_find(new_set, "peer"));
        g_assert_cmpstr(changes, ==, "remote, remote_ts, remote_id");
        g_clear_pointer(&changes, g_free);
        changes = bh_tunnel_changes(bh_tunnel_set_find(old_set, "keys"), bh_tunnel_set_find(new_set, "keys"));
        g_assert_cmpstr(changes, ==, "esp_spi_in");
        g_clear_pointer(&changes, g_free);
        changes = bh_tunnel_changes(bh_tunnel_set_find(old_set, "case"), bh_tunnel_set_find(new_set, "case"));
        g_assert_cmpstr(changes, ==, "name");
        g_clear_pointer(&changes, g_free);
        g_assert_null(bh_tunnel_changes(bh_tunnel_set_find(old_set, "moved"), bh_tunnel_set_find(new_set, "moved")));

        bh_tunnel_diff_clear(&diff);
        bh_tunnel_diff_clear(&diff);    /* twice is fine */

        /* First load: everything is added. */
        bh_tunnel_diff(NULL, old_set, &diff);
        g_assert_cmpuint(diff.added->len, ==, 6);
        g_assert_cmpuint(diff.changed->len + diff.removed->len + diff.unchanged->len, ==, 0);
        bh_tunnel_diff_clear(&diff);

        /* Against itself: all unchanged. */
        bh_tunnel_diff(old_set, old_set, &diff);
        g_assert_cmpuint(diff.unchanged->len, ==, 6);
        g_assert_cmpuint(diff.added->len + diff.changed->len + diff.removed->len, ==, 0);
}

/* Every field counts for equality: change one key at a time. */
static void test_equal_every_key(void) {
        static const char base[] =
                "[tunnel t]\nnumber = 1\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.7\n"
                "local_ts = 10.1.0.0/16\nremote_ts = 10.2.0.0/16\nmode = tunnel\nencap = auto\nstart = none\n"
                "local_id = fqdn:a.example\nremote_id = fqdn:b.example\n"
                "ike_proposals = aes256gcm16-prfsha256-x25519\nesp_proposals = aes256gcm16\n"
                "dpd_delay = 30s\nrekey_time = 4h\nchild_rekey_time = 1h\nlifetime_bytes = 1G\nlifetime_packets = 1M\n";
        static const char manual_base[] =
                "[tunnel t]\nnumber = 1\ntype = manual\nlocal = 192.0.2.1\nremote = 198.51.100.7\n"
                "esp = aes256gcm16\nesp_spi_out = 0x1001\nesp_spi_in = 0x1002\n"
                "ah = sha256\nah_spi_out = 0x2001\nah_spi_in = 0x2002\nlifetime = 1h\n";
        static const struct {
                bool manual;
                const char *key, *value, *changes;
        } cases[] = {
                { false, "number", "2", "number" },
                { false, "local", "192.0.2.2", "local" },
                { false, "remote", "198.51.100.8", "remote" },
                { false, "local_ts", "10.1.0.0/24", "local_ts" },
                { false, "remote_ts", "10.2.0.0/16[tcp]", "remote_ts" },
                { false, "encap", "udp", "encap" },
                { false, "start", "trap", "start" },
                { false, "local_id", "fqdn:c.example", "local_id" },
                { false, "remote_id", "email:x@b.example", "remote_id" },
                { false, "ike_proposals", "aes256gcm16-prfsha384-x25519", "ike_proposals" },
                { false, "esp_proposals", "aes256gcm16-x25519", "esp_proposals" },
                { false, "dpd_delay", "31s", "dpd_delay" },
                { false, "rekey_time", "5h", "rekey_time" },
                { false, "child_rekey_time", "2h", "child_rekey_time" },
                { false, "lifetime_bytes", "2G", "lifetime_bytes" },
                { false, "lifetime_packets", "2M", "lifetime_packets" },
                { true, "esp", "aes128gcm16", "esp" },
                { true, "esp_spi_out", "0x1003", "esp_spi_out" },
                { true, "esp_spi_in", "0x1004", "esp_spi_in" },
                { true, "ah", "sha512", "ah" },
                { true, "ah_spi_out", "0x2003", "ah_spi_out" },
                { true, "ah_spi_in", "0x2004", "ah_spi_in" },
                { true, "lifetime", "2h", "lifetime" },
        };
        g_autoptr(BhTunnelSet) ike = set_from(base);
        g_autoptr(BhTunnelSet) manual = set_from(manual_base);

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                const BhTunnelSet *orig = cases[i].manual ? manual : ike;
                g_autofree char *text = NULL, *pattern = NULL, *changes = NULL, *line = NULL;
                g_autoptr(GRegex) re = NULL;
                g_autoptr(BhTunnelSet) set = NULL;

                pattern = g_strdup_printf("(?m)^%s = .*$", cases[i].key);
                re = g_regex_new(pattern, 0, 0, NULL);
                line = g_strdup_printf("%s = %s", cases[i].key, cases[i].value);
                text = g_regex_replace_literal(re, cases[i].manual ? manual_base : base, -1, 0, line, 0, NULL);
                g_test_message("%s", cases[i].key);
                set = set_from(text);
                g_assert_false(bh_tunnel_equal(bh_tunnel_set_get(orig, 0), bh_tunnel_set_get(set, 0)));
                changes = bh_tunnel_changes(bh_tunnel_set_get(orig, 0), bh_tunnel_set_get(set, 0));
                g_assert_cmpstr(changes, ==, cases[i].changes);
        }

        /* A copy is equal, and independent. */
        {
                g_autoptr(BhTunnel) copy = bh_tunnel_copy(bh_tunnel_set_get(ike, 0));

                g_assert_true(bh_tunnel_equal(copy, bh_tunnel_set_get(ike, 0)));
                copy->local_ts[0].prefix_len = 24;
                g_assert_false(bh_tunnel_equal(copy, bh_tunnel_set_get(ike, 0)));
                g_assert_true(bh_tunnel_equal(copy, copy));
                g_assert_false(bh_tunnel_equal(copy, NULL));
        }
        /* Types differ: every key of both types shows. */
        {
                g_autofree char *changes = bh_tunnel_changes(bh_tunnel_set_get(ike, 0), bh_tunnel_set_get(manual, 0));

                g_assert_true(g_str_has_prefix(changes, "type, local_ts, remote_ts, encap, local_id"));
        }
}

static void write_file(const char *dir, const char *name, const char *text, gssize len) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autoptr(GError) error = NULL;

        g_assert_true(g_file_set_contents(path, text, len, &error));
        g_assert_no_error(error);
}

static void test_load(void) {
        g_autoptr(GError) error = NULL;
        g_autofree char *dir = g_dir_make_tmp("bh-tunnels-XXXXXX", &error);
        g_autofree char *missing = NULL, *sub = NULL, *big_path = NULL, *huge = NULL;
        g_autoptr(GPtrArray) errors = new_errors();
        g_autoptr(BhTunnelSet) set = NULL;
        g_autoptr(BhTunnelSet) reloaded = NULL;
        g_autofree char *expect = NULL;
        int r;

        g_assert_no_error(error);

        /* A missing directory: no tunnels, no error. */
        missing = g_build_filename(dir, "missing", NULL);
        g_assert_cmpint(bh_tunnel_set_load(missing, NULL, errors, &set), ==, 0);
        g_assert_nonnull(set);
        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 0);
        g_clear_pointer(&set, bh_tunnel_set_free);

        /* Files are read in name order; only *.conf, no hidden files. */
        write_file(dir, "20-b.conf", "[tunnel b]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.2\n", -1);
        write_file(dir, "10-a.conf", "[tunnel a]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.1\n"
                                     "[tunnel a2]\ntype = bogus\nlocal = 192.0.2.1\nremote = 198.51.100.1\n", -1);
        write_file(dir, ".30-hidden.conf", "[tunnel hidden]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.3\n", -1);
        write_file(dir, "40-notes.txt", "[tunnel notes]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.4\n", -1);
        write_file(dir, "50-c.conf.bak", "[tunnel bak]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.5\n", -1);
        write_file(dir, ".conf", "[tunnel dot]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.6\n", -1);
        sub = g_build_filename(dir, "60-dir.conf", NULL);
        g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
        huge = g_malloc(BH_TUNNEL_FILE_SIZE_MAX + 1);
        memset(huge, '\n', BH_TUNNEL_FILE_SIZE_MAX + 1);
        write_file(dir, "70-big.conf", huge, BH_TUNNEL_FILE_SIZE_MAX + 1);
        big_path = g_build_filename(dir, "70-big.conf", NULL);

        r = bh_tunnel_set_load(dir, NULL, errors, &set);
        dump_errors(errors);
        g_assert_cmpint(r, ==, 4);
        g_assert_cmpuint(errors->len, ==, 4);
        expect = g_strdup_printf("%s/10-a.conf:6: type must be ike or manual, not \"bogus\"", dir);
        g_assert_cmpstr(errors->pdata[0], ==, expect);
        g_clear_pointer(&expect, g_free);
        expect = g_strdup_printf("%s/10-a.conf:5: tunnel \"a2\" is not loaded (1 error)", dir);
        g_assert_cmpstr(errors->pdata[1], ==, expect);
        g_clear_pointer(&expect, g_free);
        expect = g_strdup_printf("%s: cannot be read: %s", sub, g_strerror(EISDIR));
        g_assert_cmpstr(errors->pdata[2], ==, expect);
        g_clear_pointer(&expect, g_free);
        expect = g_strdup_printf("%s: larger than %d bytes; not read", big_path, BH_TUNNEL_FILE_SIZE_MAX);
        g_assert_cmpstr(errors->pdata[3], ==, expect);
        g_clear_pointer(&expect, g_free);

        g_assert_cmpuint(bh_tunnel_set_size(set), ==, 2);
        g_assert_cmpstr(bh_tunnel_set_get(set, 0)->name, ==, "a");
        g_assert_cmpstr(bh_tunnel_set_get(set, 1)->name, ==, "b");
        g_assert_cmpuint(bh_tunnel_set_find(set, "a")->number, ==, 1);
        g_assert_cmpuint(bh_tunnel_set_find(set, "b")->number, ==, 2);
        expect = g_build_filename(dir, "20-b.conf", NULL);
        g_assert_cmpstr(bh_tunnel_set_find(set, "b")->file, ==, expect);
        g_clear_pointer(&expect, g_free);

        /* Reload with a new tunnel in a file read first: a and b keep their numbers. */
        write_file(dir, "05-new.conf", "[tunnel new]\ntype = ike\nlocal = 192.0.2.1\nremote = 198.51.100.9\n", -1);
        g_ptr_array_set_size(errors, 0);
        r = bh_tunnel_set_load(dir, set, errors, &reloaded);
        g_assert_cmpint(r, ==, 4);
        g_assert_cmpuint(bh_tunnel_set_find(reloaded, "a")->number, ==, 1);
        g_assert_cmpuint(bh_tunnel_set_find(reloaded, "b")->number, ==, 2);
        g_assert_cmpuint(bh_tunnel_set_find(reloaded, "new")->number, ==, 3);
        {
                g_auto(BhTunnelDiff) diff = { 0 };

                bh_tunnel_diff(set, reloaded, &diff);
                assert_names(diff.added, "new");
                assert_names(diff.unchanged, "a b");
                g_assert_cmpuint(diff.changed->len + diff.removed->len, ==, 0);
        }

        /* Not a directory. */
        {
                BhTunnelSet *none = (BhTunnelSet *) 1;

                g_assert_cmpint(bh_tunnel_set_load(big_path, NULL, NULL, &none), ==, -ENOTDIR);
                g_assert_null(none);
        }

        g_assert_cmpint(g_rmdir(sub), ==, 0);
        {
                static const char *const names[] = { "20-b.conf", "10-a.conf", ".30-hidden.conf", "40-notes.txt",
                                                     "50-c.conf.bak", ".conf", "70-big.conf", "05-new.conf" };

                for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
                        g_autofree char *p = g_build_filename(dir, names[i], NULL);

                        g_assert_cmpint(g_unlink(p), ==, 0);
                }
        }
        g_assert_cmpint(g_rmdir(dir), ==, 0);
}

/* ---- fuzz ------------------------------------------------------------- */

/* Everything the loader promises, whatever the input. */
static void assert_sane(const BhTunnelSet *set, int r, const GPtrArray *errors) {
        g_assert_cmpint(r, >=, 0);
        g_assert_cmpuint(errors->len, >=, (guint) r);
        for (guint i = 0; i < errors->len; i++)
                g_assert_true(g_str_has_prefix(errors->pdata[i], "fuzz.conf:"));

        for (guint i = 0; i < bh_tunnel_set_size(set); i++) {
                const BhTunnel *t = bh_tunnel_set_get(set, i);

                g_assert_true(bh_tunnel_name_valid(t->name));
                g_assert_true(bh_tunnel_set_find(set, t->name) == t);
                g_assert_cmpuint(t->number, >=, 1);
                g_assert_cmpuint(t->number, <=, BH_TUNNEL_NUMBER_MAX);
                g_assert_true(bh_tunnel_set_find_number(set, t->number) == t);
                g_assert_true(t->type == BH_TUNNEL_IKE || t->type == BH_TUNNEL_MANUAL);
                g_assert_true(bh_addr_is_unicast(&t->local));
                g_assert_true(bh_addr_is_any(&t->remote) || t->remote.family == t->local.family);
                g_assert_cmpuint(t->n_local_ts, >=, 1);
                g_assert_cmpuint(t->n_local_ts, <=, BH_TUNNEL_TS_MAX);
                g_assert_cmpuint(t->n_remote_ts, <=, BH_TUNNEL_TS_MAX);
                if (t->type == BH_TUNNEL_IKE) {
                        g_assert_cmpuint(t->n_ike_proposals, >=, 1);
                        g_assert_cmpuint(t->n_esp_proposals, >=, 1);
                } else {
                        g_assert_true(t->has_esp || t->has_ah);
                        g_assert_false(bh_addr_is_any(&t->remote));
                        if (t->has_esp)
                                g_assert_cmpuint(t->esp_spi_in, >=, 256);
                        if (t->has_ah)
                                g_assert_cmpuint(t->ah_spi_in, >=, 256);
                }
                assert_round_trip(t);
        }
}

static void insert_bytes(GByteArray *b, guint pos, const guint8 *data, guint n) {
        guint old = b->len;

        g_assert_cmpuint(pos, <=, old);
        g_byte_array_set_size(b, old + n);
        memmove(b->data + pos + n, b->data + pos, old - pos);
        if (n > 0)
                memcpy(b->data + pos, data, n);
}

static void mutate(GRand *rand, GByteArray *b) {
        static const guint8 interesting[] = { '\0', '\n', '\r', '\t', ' ', '#', '[', ']', '=', ',', '-', '/', ':', '%', 0xff, 0x80 };
        static const char *const words[] = {
                "type = manual", "type = ike", "remote = %any", "mode = transport", "encap = auto", "start = trap",
                "esp = aes256gcm16", "ah = md5", "esp_spi_in = 0x1002", "number = 1", "[tunnel x]", "local = ::1",
                "remote_ts = ::/0", "local_ts = 0.0.0.0/0[tcp/1-2]",
        };
        guint8 c;
        guint n;
        guint pos = b->len ? (guint) g_rand_int_range(rand, 0, (gint32) b->len) : 0;

        switch (g_rand_int_range(rand, 0, 8)) {
        case 0:
                if (b->len)
                        b->data[pos] ^= (guint8) (1u << g_rand_int_range(rand, 0, 8));
                break;
        case 1:
                if (b->len)
                        b->data[pos] = interesting[g_rand_int_range(rand, 0, G_N_ELEMENTS(interesting))];
                break;
        case 2:
                for (int k = g_rand_int_range(rand, 1, 9); k > 0; k--) {
                        c = (guint8) g_rand_int_range(rand, 0, 256);
                        insert_bytes(b, pos, &c, 1);
                }
                break;
        case 3:
                n = (guint) g_rand_int_range(rand, 1, 40);
                if (b->len)
                        g_byte_array_remove_range(b, pos, MIN(b->len - pos, n));
                break;
        case 4: {
                n = (guint) g_rand_int_range(rand, 1, 200);
                n = MIN(b->len - pos, n);
                g_autofree guint8 *copy = g_memdup2(b->data + pos, n);
                guint to = (guint) g_rand_int_range(rand, 0, (gint32) b->len + 1);

                insert_bytes(b, to, copy, n);
                break;
        }
        case 5: {
                guint8 run[BH_TUNNEL_LINE_MAX + 8];

                memset(run, g_rand_boolean(rand) ? 'a' : ' ', sizeof run);
                insert_bytes(b, pos, run, (guint) g_rand_int_range(rand, BH_TUNNEL_LINE_MAX - 8, sizeof run + 1));
                break;
        }
        case 6: {
                const char *w = words[g_rand_int_range(rand, 0, G_N_ELEMENTS(words))];
                g_autofree char *line = g_strdup_printf("\n%s\n", w);

                insert_bytes(b, pos, (const guint8 *) line, (guint) strlen(line));
                break;
        }
        case 7:
                g_byte_array_set_size(b, pos);
                break;
        }
}

static void test_fuzz(void) {
        g_autoptr(GRand) rand = g_rand_new_with_seed(FUZZ_SEED);
        unsigned loaded = 0;

        for (unsigned round = 0; round < FUZZ_ROUNDS; round++) {
                g_autoptr(GByteArray) b = g_byte_array_new();
                g_autoptr(GPtrArray) errors = new_errors();
                g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
                g_autoptr(BhTunnelSet) again = bh_tunnel_set_new();
                g_autofree char *exact = NULL;
                int r;

                g_byte_array_append(b, (const guint8 *) example_file, strlen(example_file));
                for (int n = g_rand_int_range(rand, 1, 6); n > 0; n--)
                        mutate(rand, b);

                /* An exact-size copy, no NUL after it: a sanitizer build
                 * catches any read past `len`. */
                exact = g_memdup2(b->data, b->len);
                r = bh_tunnel_set_parse(set, exact, b->len, "fuzz.conf", errors);
                r += bh_tunnel_set_finish(set, NULL, errors);
                assert_sane(set, r, errors);
                loaded += bh_tunnel_set_size(set);

                /* Deterministic: the same bytes, the same answer. */
                g_assert_cmpint(bh_tunnel_set_parse(again, exact, b->len, "fuzz.conf", NULL) +
                                bh_tunnel_set_finish(again, NULL, NULL), ==, r);
                {
                        g_auto(BhTunnelDiff) diff = { 0 };

                        bh_tunnel_diff(set, again, &diff);
                        g_assert_cmpuint(diff.unchanged->len, ==, bh_tunnel_set_size(set));
                }
        }
        g_assert_cmpuint(loaded, >, FUZZ_ROUNDS / 4);
}

int main(int argc, char *argv[]) {
        g_test_init(&argc, &argv, NULL);

        g_test_add_func("/tunnel/example", test_example);
        g_test_add_func("/tunnel/defaults", test_defaults);
        g_test_add_func("/tunnel/syntax", test_syntax);
        g_test_add_func("/tunnel/bad-sections", test_bad_sections);
        g_test_add_func("/tunnel/too-many-selectors", test_too_many_selectors);
        g_test_add_func("/tunnel/headers", test_headers);
        g_test_add_func("/tunnel/legacy-warnings", test_legacy_warnings);
        g_test_add_func("/tunnel/line-length", test_line_length);
        g_test_add_func("/tunnel/duplicates", test_duplicates);
        g_test_add_func("/tunnel/numbers", test_numbers);
        g_test_add_func("/tunnel/numbers-exhausted", test_numbers_exhausted);
        g_test_add_func("/tunnel/diff", test_diff);
        g_test_add_func("/tunnel/equal-every-key", test_equal_every_key);
        g_test_add_func("/tunnel/load", test_load);
        g_test_add_func("/tunnel/fuzz", test_fuzz);

        return g_test_run();
}
