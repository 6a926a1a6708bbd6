/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <glib.h>

#include "ts.h"

/* Longest piece of an offending word quoted back in a report. */
#define QUOTE_MAX 64

/* Untrusted: the strings below come from bulkhead-tunnels(5) files. They are
 * NUL-terminated by the line splitter but otherwise arbitrary bytes. */

static const struct {
        uint8_t number;
        const char *name;
        bool ports;                     /* has ports a selector may narrow */
} protocols[] = {
        { 1,   "icmp",      false },
        { 6,   "tcp",       true  },
        { 17,  "udp",       true  },
        { 33,  "dccp",      true  },
        { 47,  "gre",       false },
        { 58,  "ipv6-icmp", false },
        { 132, "sctp",      true  },
        { 136, "udplite",   true  },
};

char *bh_quote(const char *w) {
        GString *s = g_string_new("\"");
        size_t i;

        for (i = 0; w[i] != '\0' && i < QUOTE_MAX; i++) {
                unsigned char c = (unsigned char) w[i];

                if (c == '"' || c == '\\')
                        g_string_append_printf(s, "\\%c", c);
                else if (c < 0x20 || c >= 0x7f)
                        g_string_append_printf(s, "\\x%02x", c);
                else
                        g_string_append_c(s, (char) c);
        }
        g_string_append_c(s, '"');
        if (w[i] != '\0')
                g_string_append(s, "...");

        return g_string_free(s, FALSE);
}

size_t bh_addr_len(int family) {
        switch (family) {
        case AF_INET:
                return 4;
        case AF_INET6:
                return 16;
        default:
                return 0;
        }
}

const char *bh_family_name(int family) {
        switch (family) {
        case AF_INET:
                return "IPv4";
        case AF_INET6:
                return "IPv6";
        default:
                return "unspecified";
        }
}

int bh_addr_parse(const char *s, bool allow_any, BhAddr *ret) {
        BhAddr a = { 0 };

        if (!s || !ret)
                return -EINVAL;

        if (allow_any && strcmp(s, "%any") == 0) {
                a.family = AF_UNSPEC;
                *ret = a;
                return 0;
        }
        /* inet_pton() is strict: dotted quad only for IPv4 (no "10.1", no
         * octal), no zone index for IPv6. */
        if (inet_pton(AF_INET, s, a.bytes) == 1)
                a.family = AF_INET;
        else if (inet_pton(AF_INET6, s, a.bytes) == 1)
                a.family = AF_INET6;
        else
                return -EINVAL;

        *ret = a;
        return 0;
}

bool bh_addr_is_any(const BhAddr *a) {
        return a->family == AF_UNSPEC;
}

bool bh_addr_is_unicast(const BhAddr *a) {
        static const uint8_t zero[16] = { 0 };

        switch (a->family) {
        case AF_INET:
                if (memcmp(a->bytes, zero, 4) == 0)
                        return false;
                if (a->bytes[0] >= 224)         /* multicast, reserved, broadcast */
                        return false;
                return true;
        case AF_INET6:
                if (memcmp(a->bytes, zero, 16) == 0)
                        return false;
                if (a->bytes[0] == 0xff)        /* multicast */
                        return false;
                return true;
        default:
                return false;
        }
}

bool bh_addr_equal(const BhAddr *a, const BhAddr *b) {
        return a->family == b->family && memcmp(a->bytes, b->bytes, bh_addr_len(a->family)) == 0;
}

const char *bh_addr_to_string(const BhAddr *a, char buf[static BH_ADDR_STRLEN]) {
        if (a->family != AF_INET && a->family != AF_INET6) {
                g_strlcpy(buf, "%any", BH_ADDR_STRLEN);
                return buf;
        }
        if (!inet_ntop(a->family, a->bytes, buf, BH_ADDR_STRLEN))
                g_strlcpy(buf, "?", BH_ADDR_STRLEN);
        return buf;
}

static int find_protocol(uint8_t number) {
        for (size_t i = 0; i < G_N_ELEMENTS(protocols); i++)
                if (protocols[i].number == number)
                        return (int) i;
        return -1;
}

const char *bh_ip_proto_name(uint8_t proto) {
        int i = find_protocol(proto);

        return i < 0 ? NULL : protocols[i].name;
}

/* Plain decimal, no sign, no leading blanks, at most `max`. */
static int parse_uint(const char *s, size_t n, unsigned max, unsigned *ret) {
        unsigned v = 0;

        if (n == 0 || n > 10)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!g_ascii_isdigit(s[i]))
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
                if (v > max)
                        return -ERANGE;
        }
        *ret = v;
        return 0;
}

static void mask_prefix(BhAddr *a, unsigned prefix_len) {
        size_t n = bh_addr_len(a->family);

        for (size_t i = 0; i < n; i++) {
                unsigned bits = prefix_len > i * 8 ? prefix_len - (unsigned) i * 8 : 0;

                if (bits < 8)
                        a->bytes[i] &= (uint8_t) (0xff00u >> bits);
        }
}

static int fail(char **ret_reason, char *reason) {
        if (ret_reason)
                *ret_reason = reason;
        else
                g_free(reason);
        return -EINVAL;
}

/* The part inside [...]: PROTO[/PORT[-PORT]]. */
static int parse_proto_ports(const char *s, BhTs *ts, char **ret_reason) {
        const char *slash = strchr(s, '/');
        size_t n = slash ? (size_t) (slash - s) : strlen(s);
        unsigned v;
        int p;

        if (n == 0)
                return fail(ret_reason, g_strdup("the protocol is missing inside [...]"));

        ts->port_from = 0;
        ts->port_to = 65535;
        if ((n == 3 && strncmp(s, "any", 3) == 0) || (n == 4 && strncmp(s, "%any", 4) == 0))
                ts->proto = 0;
        else if (parse_uint(s, n, 255, &v) == 0)
                ts->proto = (uint8_t) v;
        else {
                bool found = false;

                for (size_t i = 0; i < G_N_ELEMENTS(protocols) && !found; i++)
                        if (strlen(protocols[i].name) == n && g_ascii_strncasecmp(s, protocols[i].name, n) == 0) {
                                ts->proto = protocols[i].number;
                                found = true;
                        }
                if (!found && n == 5 && g_ascii_strncasecmp(s, "icmp6", 5) == 0) {
                        ts->proto = 58;
                        found = true;
                }
                if (!found)
                        return fail(ret_reason, g_strdup("unknown protocol (expected tcp, udp, icmp, ipv6-icmp, sctp, "
                                                         "udplite, dccp, gre, any or a number from 0 to 255)"));
        }

        if (ts->proto == 1 && ts->addr.family == AF_INET6)
                return fail(ret_reason, g_strdup("icmp is IPv4's ICMP: IPv6 selectors take ipv6-icmp"));
        if (ts->proto == 58 && ts->addr.family == AF_INET)
                return fail(ret_reason, g_strdup("ipv6-icmp belongs to IPv6: IPv4 selectors take icmp"));

        if (!slash)
                return 0;

        p = find_protocol(ts->proto);
        if (p < 0 || !protocols[p].ports)
                return fail(ret_reason, ts->proto == 0 ?
                            g_strdup("a port needs a protocol that has ports (tcp, udp, sctp, udplite or dccp)") :
                            g_strdup_printf("protocol %u has no ports (only tcp, udp, sctp, udplite and dccp do)", ts->proto));

        s = slash + 1;
        {
                const char *dash = strchr(s, '-');
                unsigned from, to;

                if (parse_uint(s, dash ? (size_t) (dash - s) : strlen(s), 65535, &from) < 0)
                        return fail(ret_reason, g_strdup("a port must be a number from 0 to 65535, or a range such as 80-443"));
                to = from;
                if (dash && parse_uint(dash + 1, strlen(dash + 1), 65535, &to) < 0)
                        return fail(ret_reason, g_strdup("a port must be a number from 0 to 65535, or a range such as 80-443"));
                if (from > to)
                        return fail(ret_reason, g_strdup_printf("port range %u-%u is backwards", from, to));
                ts->port_from = (uint16_t) from;
                ts->port_to = (uint16_t) to;
        }

        return 0;
}

int bh_ts_parse(const char *s, BhTs *ret, char **ret_reason) {
        char addr[BH_ADDR_STRLEN];
        const char *bracket, *slash, *end;
        size_t n_addr;
        unsigned max_len, prefix_len;
        BhTs ts = { 0 };
        BhAddr masked;

        if (!s || !ret)
                return -EINVAL;

        bracket = strchr(s, '[');
        end = bracket ? bracket : s + strlen(s);
        slash = memchr(s, '/', (size_t) (end - s));
        n_addr = slash ? (size_t) (slash - s) : (size_t) (end - s);

        if (n_addr == 0)
                return fail(ret_reason, g_strdup("the address is missing"));
        if (n_addr >= sizeof addr)
                return fail(ret_reason, g_strdup("not an IPv4 or IPv6 prefix"));
        memcpy(addr, s, n_addr);
        addr[n_addr] = '\0';
        if (bh_addr_parse(addr, false, &ts.addr) < 0)
                return fail(ret_reason, g_strdup("not an IPv4 or IPv6 prefix"));

        max_len = (unsigned) bh_addr_len(ts.addr.family) * 8;
        prefix_len = max_len;
        if (slash) {
                int r = parse_uint(slash + 1, (size_t) (end - slash - 1), max_len, &prefix_len);

                if (r < 0)
                        return fail(ret_reason, g_strdup_printf("the prefix length must be a number from 0 to %u for %s",
                                                                max_len, bh_family_name(ts.addr.family)));
        }
        ts.prefix_len = (uint8_t) prefix_len;

        /* strongSwan masks silently; a set host bit more often means a typo
         * in the prefix length than a wish for the whole network. */
        masked = ts.addr;
        mask_prefix(&masked, prefix_len);
        if (!bh_addr_equal(&masked, &ts.addr)) {
                char buf[BH_ADDR_STRLEN];

                return fail(ret_reason, g_strdup_printf("host bits are set (the network is %s/%u)",
                                                        bh_addr_to_string(&masked, buf), prefix_len));
        }

        ts.proto = 0;
        ts.port_from = 0;
        ts.port_to = 65535;
        if (bracket) {
                size_t n = strlen(bracket);
                g_autofree char *inner = NULL;
                int r;

                if (n < 2 || bracket[n - 1] != ']')
                        return fail(ret_reason, g_strdup("[ without a closing ] at the end"));
                inner = g_strndup(bracket + 1, n - 2);
                if (strpbrk(inner, "[]"))
                        return fail(ret_reason, g_strdup("more than one [...]"));
                r = parse_proto_ports(inner, &ts, ret_reason);
                if (r < 0)
                        return r;
        }

        *ret = ts;
        return 0;
}

void bh_ts_from_addr(const BhAddr *a, BhTs *ret) {
        *ret = (BhTs) {
                .addr = *a,
                .prefix_len = (uint8_t) (bh_addr_len(a->family) * 8),
                .proto = 0,
                .port_from = 0,
                .port_to = 65535,
        };
}

const char *bh_ts_to_string(const BhTs *ts, char buf[static BH_TS_STRLEN]) {
        char addr[BH_ADDR_STRLEN];
        const char *name;
        int n;

        n = g_snprintf(buf, BH_TS_STRLEN, "%s/%u", bh_addr_to_string(&ts->addr, addr), ts->prefix_len);
        if (ts->proto == 0 && ts->port_from == 0 && ts->port_to == 65535)
                return buf;

        name = bh_ip_proto_name(ts->proto);
        if (ts->proto == 0)
                name = "any";
        if (name)
                n += g_snprintf(buf + n, BH_TS_STRLEN - (size_t) n, "[%s", name);
        else
                n += g_snprintf(buf + n, BH_TS_STRLEN - (size_t) n, "[%u", ts->proto);

        if (ts->port_from == 0 && ts->port_to == 65535)
                g_snprintf(buf + n, BH_TS_STRLEN - (size_t) n, "]");
        else if (ts->port_from == ts->port_to)
                g_snprintf(buf + n, BH_TS_STRLEN - (size_t) n, "/%u]", ts->port_from);
        else
                g_snprintf(buf + n, BH_TS_STRLEN - (size_t) n, "/%u-%u]", ts->port_from, ts->port_to);

        return buf;
}

bool bh_ts_equal(const BhTs *a, const BhTs *b) {
        return bh_addr_equal(&a->addr, &b->addr) && a->prefix_len == b->prefix_len && a->proto == b->proto &&
               a->port_from == b->port_from && a->port_to == b->port_to;
}

bool bh_ts_contains_addr(const BhTs *ts, const BhAddr *a) {
        BhAddr masked;

        if (a->family != ts->addr.family)
                return false;
        masked = *a;
        mask_prefix(&masked, ts->prefix_len);
        return bh_addr_equal(&masked, &ts->addr);
}
