/* SPDX-License-Identifier: ISC */
/* Addresses and traffic selectors of bulkhead-tunnels(5) (untrusted text),
 * and bh_quote(), which every policy/ report uses to show a word.
 *
 * Input: one byte of flags (bit 0: address rather than selector; bit 1:
 * %any allowed), then the text. Checks besides the sanitizers:
 *  - addresses: one of the two families (or %any when allowed), no bytes
 *    set past the family's length, text form parses back equal;
 *  - selectors: prefix within the family, host bits zero, ports only with a
 *    protocol that has them and in order, the selector contains its own
 *    network address, text form (and that of bh_ts_from_addr()) parses
 *    back equal and fits BH_TS_STRLEN;
 *  - a refusal has a reason, one printable line;
 *  - bh_quote(): printable, quoted, cut after 64 bytes of the word. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "ts.h"

static bool proto_has_ports(uint8_t proto) {
        return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

static void check_reason(int r, char *reason) {
        FUZZ_CHECK(r == 0 || r == -EINVAL, "returned %d", r);
        if (r == 0)
                return;
        FUZZ_CHECK(reason, "refused without a reason");
        g_autoptr(GPtrArray) reports = g_ptr_array_new();
        g_ptr_array_add(reports, reason);
        fuzz_check_reports(reports, "ts");
        g_free(reason);
}

static void check_addr(const BhAddr *a, bool allow_any) {
        size_t n = bh_addr_len(a->family);
        FUZZ_CHECK(a->family == AF_INET || a->family == AF_INET6 || (allow_any && a->family == AF_UNSPEC),
                   "family %d", a->family);
        for (size_t i = n; i < sizeof a->bytes; i++)
                FUZZ_CHECK(a->bytes[i] == 0, "byte %zu set past the address", i);
        char buf[BH_ADDR_STRLEN];
        const char *s = bh_addr_to_string(a, buf);
        FUZZ_CHECK(s == buf && strlen(buf) < BH_ADDR_STRLEN, "address text");
        BhAddr back;
        FUZZ_CHECK(bh_addr_parse(buf, true, &back) == 0, "address text \"%s\" refused", buf);
        FUZZ_CHECK(bh_addr_equal(a, &back), "address text \"%s\" reads back different", buf);
        FUZZ_CHECK(bh_addr_is_any(a) == (a->family == AF_UNSPEC), "is_any");
        if (bh_addr_is_unicast(a))
                FUZZ_CHECK(a->family != AF_UNSPEC, "%%any is unicast");
        (void) bh_family_name(a->family);
}

static void check_ts_round_trip(const BhTs *ts) {
        char buf[BH_TS_STRLEN];
        FUZZ_CHECK(bh_ts_to_string(ts, buf) == buf && strlen(buf) < BH_TS_STRLEN, "selector text");
        BhTs back;
        char *reason = NULL;
        int r = bh_ts_parse(buf, &back, &reason);
        FUZZ_CHECK(r == 0, "selector text \"%s\" refused: %s", buf, reason ? reason : "");
        FUZZ_CHECK(bh_ts_equal(ts, &back), "selector text \"%s\" reads back different", buf);
}

static void check_ts(const BhTs *ts) {
        size_t n = bh_addr_len(ts->addr.family);
        FUZZ_CHECK(n == 4 || n == 16, "selector of family %d", ts->addr.family);
        FUZZ_CHECK(ts->prefix_len <= n * 8, "prefix /%u", ts->prefix_len);
        for (size_t bit = ts->prefix_len; bit < 128; bit++)
                FUZZ_CHECK(!(ts->addr.bytes[bit / 8] & (0x80 >> (bit % 8))), "host bit %zu set", bit);
        FUZZ_CHECK(ts->port_from <= ts->port_to, "ports %u-%u", ts->port_from, ts->port_to);
        if (ts->port_from != 0 || ts->port_to != 65535)
                FUZZ_CHECK(proto_has_ports(ts->proto), "ports with protocol %u", ts->proto);
        FUZZ_CHECK(bh_ts_contains_addr(ts, &ts->addr), "selector does not contain its network");
        check_ts_round_trip(ts);

        BhTs host;
        bh_ts_from_addr(&ts->addr, &host);
        FUZZ_CHECK(host.prefix_len == n * 8 && host.proto == 0 && host.port_from == 0 && host.port_to == 65535,
                   "bh_ts_from_addr() is not one host");
        FUZZ_CHECK(bh_ts_contains_addr(&host, &ts->addr), "host selector does not contain its address");
        check_ts_round_trip(&host);
        (void) bh_ip_proto_name(ts->proto);
}

static void check_quote(const char *s) {
        g_autofree char *q = bh_quote(s);
        size_t n = strlen(q);
        FUZZ_CHECK(n >= 2 && q[0] == '"', "quote does not start with a quote");
        FUZZ_CHECK(n <= 2 + 64 * 4 + 3, "quote is %zu bytes long", n);
        for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(q[i] >= 0x20 && q[i] < 0x7f, "quote has byte 0x%02x", (unsigned) (unsigned char) q[i]);
        FUZZ_CHECK(g_str_has_suffix(q, "\"") == (strlen(s) <= 64), "quote cut wrongly: %s", q);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1)
                return 0;
        bool addr = data[0] & 1, allow_any = data[0] & 2;
        /* The parsers take C strings: the text up to the first NUL. */
        g_autofree char *s = g_strndup((const char *) data + 1, size - 1);

        if (addr) {
                BhAddr a;
                int r = bh_addr_parse(s, allow_any, &a);
                FUZZ_CHECK(r == 0 || r == -EINVAL, "addr_parse returned %d", r);
                if (r == 0)
                        check_addr(&a, allow_any);
        } else {
                BhTs ts;
                char *reason = NULL;
                int r = bh_ts_parse(s, &ts, &reason);
                check_reason(r, reason);
                if (r == 0)
                        check_ts(&ts);
        }
        check_quote(s);
        return 0;
}
