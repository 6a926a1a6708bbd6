/* SPDX-License-Identifier: ISC */
/* bulkhead-tunnels(5), as tmd reads tunnels.d/ *.conf (untrusted: any
 * operator's file, and one bad tunnel must never stop the others).
 *
 * The input is one file. It is parsed into a set, finished (numbers
 * assigned) against a fixed previous set, the tunnels of the man page, and
 * diffed against it as a reload would. Checks besides the sanitizers:
 *  - the return value counts the reports that are not warnings, every
 *    report is one printable line naming the file and an existing line;
 *  - names are valid and unique regardless of case, numbers 1..65535 and
 *    unique, the look-ups find every tunnel;
 *  - every tunnel, written out with bh_tunnel_format(), parses back alone,
 *    clean and equal (bh_tunnel_changes() then says nothing), and a copy
 *    is equal;
 *  - the diff partitions both sets, "unchanged" only for equal tunnels;
 *  - the same file read a second time into the set adds no tunnel (each
 *    collides with itself). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tunnel.h"

#define FILENAME "tunnels.conf"

/* The examples of bulkhead-tunnels(5), gateway A's side. */
static const char previous_text[] =
        "[tunnel branch-manual]\n"
        "number = 10\n"
        "type = manual\n"
        "local = 192.0.2.1\n"
        "remote = 198.51.100.7\n"
        "local_ts = 10.1.0.0/16\n"
        "remote_ts = 10.2.0.0/16\n"
        "encap = esp\n"
        "start = start\n"
        "esp = aes256gcm16\n"
        "esp_spi_out = 0x1001\n"
        "esp_spi_in = 0x1002\n"
        "[tunnel head-office]\n"
        "type = ike\n"
        "local = 192.0.2.1\n"
        "remote = 203.0.113.5\n"
        "local_ts = 10.1.0.0/16, 10.1.9.0/24[tcp/80-443]\n"
        "remote_ts = 10.0.0.0/8\n"
        "local_id = fqdn:gw1.example.org\n"
        "remote_id = fqdn:hq.example.org\n"
        "ike_proposals = aes256gcm16-prfsha256-x25519, aes256-sha256-modp3072\n"
        "esp_proposals = aes256gcm16, chacha20poly1305\n"
        "start = trap\n"
        "dpd_delay = 30s\n"
        "[tunnel branches]\n"
        "type = ike\n"
        "local = 203.0.113.5\n"
        "remote = %any\n"
        "local_ts = 10.0.0.0/8\n"
        "remote_ts = 10.0.0.0/8\n"
        "local_id = fqdn:hq.example.org\n"
        "[tunnel six-over-four]\n"
        "type = ike\n"
        "local = 192.0.2.1\n"
        "remote = 198.51.100.7\n"
        "local_ts = 2001:db8:1::/48\n"
        "remote_ts = 2001:db8:2::/48\n"
        "[tunnel db-sync]\n"
        "type = ike\n"
        "mode = transport\n"
        "local = 192.0.2.1\n"
        "remote = 192.0.2.20\n"
        "local_ts = 192.0.2.1[tcp/5432]\n"
        "[tunnel old-router]\n"
        "type = manual\n"
        "local = 192.0.2.1\n"
        "remote = 198.51.100.99\n"
        "ah = sha1\n"
        "ah_spi_out = 600\n"
        "ah_spi_in = 601\n";

static BhTunnelSet *previous;

static size_t count_lines(const uint8_t *data, size_t size) {
        size_t n = 1;
        for (size_t i = 0; i < size; i++)
                if (data[i] == '\n')
                        n++;
        return n;
}

/* Reports from index `from` on; returns how many are not warnings. */
static int check_reports(const GPtrArray *errors, guint from, const char *filename, size_t n_lines) {
        int n_bad = 0;
        fuzz_check_reports(errors, "tunnels");
        for (guint i = from; i < errors->len; i++) {
                const char *r = g_ptr_array_index(errors, i);
                size_t fl = strlen(filename);
                FUZZ_CHECK(strncmp(r, filename, fl) == 0 && r[fl] == ':', "report without the file name: %s", r);
                char *end;
                unsigned long line = strtoul(r + fl + 1, &end, 10);
                FUZZ_CHECK(end != r + fl + 1 && g_str_has_prefix(end, ": "), "report without a line: %s", r);
                FUZZ_CHECK(line >= 1 && line <= n_lines, "report names line %lu of %zu: %s", line, n_lines, r);
                if (!g_str_has_prefix(end, ": warning: "))
                        n_bad++;
        }
        return n_bad;
}

static void check_set(const BhTunnelSet *set) {
        guint n = bh_tunnel_set_size(set);
        for (guint i = 0; i < n; i++) {
                const BhTunnel *t = bh_tunnel_set_get(set, i);
                FUZZ_CHECK(bh_tunnel_name_valid(t->name), "invalid name loaded");
                FUZZ_CHECK(t->number >= 1 && t->number <= BH_TUNNEL_NUMBER_MAX, "tunnel %s has number %u", t->name,
                           t->number);
                FUZZ_CHECK(t->type == BH_TUNNEL_IKE || t->type == BH_TUNNEL_MANUAL, "tunnel %s: type %d", t->name,
                           (int) t->type);
                FUZZ_CHECK(t->n_local_ts <= BH_TUNNEL_TS_MAX && t->n_remote_ts <= BH_TUNNEL_TS_MAX,
                           "tunnel %s: too many selectors", t->name);
                FUZZ_CHECK(t->n_ike_proposals <= BH_PROPOSALS_MAX && t->n_esp_proposals <= BH_PROPOSALS_MAX,
                           "tunnel %s: too many proposals", t->name);
                g_autofree char *upper = g_ascii_strup(t->name, -1);
                FUZZ_CHECK(bh_tunnel_set_find(set, upper) == t, "tunnel %s not found by its name", t->name);
                FUZZ_CHECK(bh_tunnel_set_find_number(set, t->number) == t, "tunnel %s not found by its number",
                           t->name);
                for (guint j = 0; j < i; j++) {
                        const BhTunnel *u = bh_tunnel_set_get(set, j);
                        FUZZ_CHECK(g_ascii_strcasecmp(t->name, u->name) != 0, "two tunnels named %s", t->name);
                        FUZZ_CHECK(t->number != u->number, "two tunnels numbered %u", t->number);
                        if (t->type == BH_TUNNEL_MANUAL && u->type == BH_TUNNEL_MANUAL) {
                                FUZZ_CHECK(!(t->has_esp && u->has_esp && t->esp_spi_in == u->esp_spi_in),
                                           "two tunnels with ESP SPI in 0x%x", t->esp_spi_in);
                                FUZZ_CHECK(!(t->has_ah && u->has_ah && t->ah_spi_in == u->ah_spi_in),
                                           "two tunnels with AH SPI in 0x%x", t->ah_spi_in);
                        }
                }
        }
}

static void check_round_trip(const BhTunnel *t) {
        g_autofree char *text = bh_tunnel_format(t);
        FUZZ_CHECK(text, "bh_tunnel_format() failed");
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        int r = bh_tunnel_set_parse(set, text, strlen(text), "format", errors);
        FUZZ_CHECK(r == 0 && bh_tunnel_set_size(set) == 1, "canonical form of %s rejected (%d): %s\n%s", t->name, r,
                   errors->len ? (const char *) g_ptr_array_index(errors, 0) : "", text);
        const BhTunnel *back = bh_tunnel_set_get(set, 0);
        g_autofree char *changes = bh_tunnel_changes(t, back);
        FUZZ_CHECK(bh_tunnel_equal(t, back) && !changes, "canonical form of %s reads back different (%s):\n%s",
                   t->name, changes ? changes : "bh_tunnel_changes() says nothing", text);
        g_autoptr(BhTunnel) copy = bh_tunnel_copy(t);
        FUZZ_CHECK(bh_tunnel_equal(t, copy), "copy of %s differs", t->name);

        /* The other printers must not fail on anything the parser accepts. */
        g_autofree char *lid = bh_identity_to_string(&t->local_id);
        g_autofree char *rid = bh_identity_to_string(&t->remote_id);
        FUZZ_CHECK(lid && rid, "bh_identity_to_string() failed");
}

static void check_diff(const BhTunnelSet *old_set, const BhTunnelSet *new_set) {
        g_auto(BhTunnelDiff) diff = { 0 };
        bh_tunnel_diff(old_set, new_set, &diff);
        guint n_old = old_set ? bh_tunnel_set_size(old_set) : 0, n_new = bh_tunnel_set_size(new_set);
        FUZZ_CHECK(diff.added->len + diff.changed->len + diff.unchanged->len == n_new, "diff loses new tunnels");
        FUZZ_CHECK(diff.removed->len + diff.changed->len + diff.unchanged->len == n_old, "diff loses old tunnels");
        for (guint i = 0; i < diff.unchanged->len; i++) {
                const BhTunnel *t = g_ptr_array_index(diff.unchanged, i);
                const BhTunnel *old = bh_tunnel_set_find(old_set, t->name);
                g_autofree char *changes = bh_tunnel_changes(old, t);
                FUZZ_CHECK(old && bh_tunnel_equal(old, t) && !changes, "unchanged tunnel %s differs", t->name);
        }
        for (guint i = 0; i < diff.changed->len; i++) {
                const BhTunnel *t = g_ptr_array_index(diff.changed, i);
                const BhTunnel *old = bh_tunnel_set_find(old_set, t->name);
                g_autofree char *changes = bh_tunnel_changes(old, t);
                FUZZ_CHECK(old && !bh_tunnel_equal(old, t) && changes && *changes,
                           "changed tunnel %s: no change named", t->name);
        }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        fuzz_glib_fatal();
        previous = bh_tunnel_set_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);
        if (bh_tunnel_set_parse(previous, previous_text, strlen(previous_text), "previous.conf", errors) != 0 ||
            bh_tunnel_set_finish(previous, NULL, errors) != 0 || bh_tunnel_set_size(previous) != 6)
                fuzz_fail(__FILE__, __LINE__, "the man page's tunnels do not load: %s",
                          errors->len ? (const char *) g_ptr_array_index(errors, 0) : "");
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!previous)
                LLVMFuzzerInitialize(NULL, NULL);
        size_t n_lines = count_lines(data, size);
        g_autoptr(BhTunnelSet) set = bh_tunnel_set_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(g_free);

        int r = bh_tunnel_set_parse(set, (const char *) data, size, FILENAME, errors);
        FUZZ_CHECK(r >= 0, "parse returned %d", r);
        FUZZ_CHECK(r == check_reports(errors, 0, FILENAME, n_lines), "returned %d for %u reports", r, errors->len);
        guint n_parsed = bh_tunnel_set_size(set);

        guint n_reports = errors->len;
        int dropped = bh_tunnel_set_finish(set, previous, errors);
        FUZZ_CHECK(dropped >= 0 && (guint) dropped == errors->len - n_reports, "finish returned %d for %u reports",
                   dropped, errors->len - n_reports);
        fuzz_check_reports(errors, "finish");
        FUZZ_CHECK(bh_tunnel_set_size(set) + (guint) dropped == n_parsed, "finish lost tunnels");
        check_set(set);

        for (guint i = 0; i < bh_tunnel_set_size(set); i++) {
                const BhTunnel *t = bh_tunnel_set_get(set, i);
                check_round_trip(t);
                /* A tunnel that kept its number across the reload. */
                const BhTunnel *old = bh_tunnel_set_find(previous, t->name);
                if (old && !t->number_given && !bh_tunnel_set_find_number(set, old->number))
                        fuzz_fail(__FILE__, __LINE__, "tunnel %s lost its free number %u", t->name, old->number);
        }
        check_diff(previous, set);
        check_diff(NULL, set);

        /* The same file again, as a second file of the directory. */
        n_reports = errors->len;
        int r2 = bh_tunnel_set_parse(set, (const char *) data, size, "again.conf", errors);
        FUZZ_CHECK(r2 >= 0 && r2 == check_reports(errors, n_reports, "again.conf", n_lines), "second file: %d", r2);
        FUZZ_CHECK(bh_tunnel_set_size(set) == n_parsed - (guint) dropped, "the same file read twice added %u tunnels",
                   bh_tunnel_set_size(set) - (n_parsed - (guint) dropped));
        return 0;
}
