/* SPDX-License-Identifier: ISC */
/* ipsecstat(8): the AIX report of the IP Security devices, the algorithms
 * and the data path's statistics. The counters come from statd (totals that
 * survive restarts of filterd), the devices' state and the SAs from filterd
 * itself, the algorithms from the transform tables filterd runs. */
#include <dbus/dbus.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ipc-interfaces.h"
#include "suite.h"
#include "transform.h"

/* How long the devices' probe waits for filterd before it says Defined. */
#define PROBE_TIMEOUT_MS 3000

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: ipsecstat [OPTION...] [-c] [-d] [-A] [-E] [-s]\n"
                "Shows the IP Security devices, algorithms and statistics of the Bulkhead\n"
                "IPsec suite.\n\n"
                "Without -d, -A, -E or -s: the devices, the algorithms and the statistics.\n"
                "  -c              reset the counters after showing them (root or the bulkhead\n"
                "                  group only)\n"
                "  -d              the devices only\n"
                "  -A              the authentication algorithms only\n"
                "  -E              the encryption algorithms only\n"
                "  -s              the security associations of the data path, with their\n"
                "                  packet, byte and drop counts\n"
                "The letters combine: -AE shows both algorithm lists.\n\n"
                "Options:\n"
                "  --bus ADDRESS   the suite's bus (default: $BULKHEAD_BUS_ADDRESS, else the\n"
                "                  system bus)\n"
                "  --run-dir DIR   use the bus of the embedded suite running in DIR\n"
                "  --json          print machine-readable JSON\n"
                "  --help, --version\n\n"
                "Exit status: 0 success, 1 the suite refused or failed, 2 usage error,\n"
                "3 the suite cannot be reached, 4 permission denied. See ipsecstat(8).\n");
        exit(code);
}

typedef struct Args {
        bool reset, devices, auth, encr, sas;
} Args;

/* AIX style: single letters, alone or together (-cd). */
static void parse_flags(int argc, char **argv, Args *a) {
        for (int i = 1; i < argc; i++) {
                const char *w = argv[i];
                if (w[0] != '-' || !w[1])
                        cli_usage_error("ipsecstat", "unexpected argument \"%s\"", w);
                for (const char *p = w + 1; *p; p++) {
                        switch (*p) {
                        case 'c':
                                a->reset = true;
                                break;
                        case 'd':
                                a->devices = true;
                                break;
                        case 'A':
                                a->auth = true;
                                break;
                        case 'E':
                                a->encr = true;
                                break;
                        case 's':
                                a->sas = true;
                                break;
                        case 'h':
                                usage(0);
                        default:
                                cli_usage_error("ipsecstat", "unknown option -%c", *p);
                        }
                }
        }
}

/* ---------------------------------------------------------------- devices */

/* The data path runs when filterd owns its name and answers: then it holds
 * the TUN device and the ESP sockets of both families. The probe is sent
 * first and collected last, so that a hung filterd costs its timeout once,
 * not on top of statd's. */
static DBusPendingCall *probe_send(Cli *cli) {
        const BhSuiteEntry *e = &bh_suite[BH_SERVICE_FILTERD];
        DBusMessage *m = dbus_message_new_method_call(e->bus_name, e->path, bh_iface_filter1.name, "GetCounters");
        DBusPendingCall *pending = NULL;
        if (m && !dbus_connection_send_with_reply(cli->conn, m, &pending, PROBE_TIMEOUT_MS))
                pending = NULL;
        if (m)
                dbus_message_unref(m);
        return pending;
}

/* Waits for the probe until PROBE_TIMEOUT_MS after it was sent (the
 * deadline is ours: libdbus's own timeout would start again here). */
static bool probe_running(Cli *cli, DBusPendingCall *pending, gint64 deadline) {
        if (!pending)
                return false;
        while (!dbus_pending_call_get_completed(pending)) {
                gint64 left_ms = (deadline - g_get_monotonic_time()) / 1000;
                if (left_ms <= 0 || !dbus_connection_read_write_dispatch(cli->conn, (int) left_ms))
                        break;
        }
        DBusMessage *reply = NULL;
        if (dbus_pending_call_get_completed(pending))
                reply = dbus_pending_call_steal_reply(pending);
        else
                dbus_pending_call_cancel(pending);
        dbus_pending_call_unref(pending);
        bool ok = reply && dbus_message_has_signature(reply, "a{st}");
        if (reply)
                dbus_message_unref(reply);
        return ok;
}

static const char *const device_names[] = { "ipsec_v4", "ipsec_v6" };

static void show_devices(Cli *cli, GString *out, bool running) {
        const char *state = running ? "Available" : "Defined";
        if (cli->json) {
                g_string_append(out, "\"devices\":[");
                for (size_t i = 0; i < G_N_ELEMENTS(device_names); i++)
                        g_string_append_printf(out, "%s{\"name\":\"%s\",\"state\":\"%s\"}", i ? "," : "",
                                               device_names[i], state);
                g_string_append(out, "]");
                return;
        }
        g_string_append(out, "IP Security Devices:\n");
        for (size_t i = 0; i < G_N_ELEMENTS(device_names); i++)
                g_string_append_printf(out, "%s %s\n", device_names[i], state);
}

/* ---------------------------------------------------------------- algorithms */

/* Whether OpenSSL here runs the transform: keyed once with zeros, as
 * filterd keys an SA. The tables say what the code knows; this says what
 * the library on this machine provides. */
static bool transform_runs(unsigned enc, unsigned integ) {
        size_t len;
        if (bh_transform_check(enc, 0, integ, &len) < 0)
                return false;
        BhSecret *key = bh_secret_new(len);
        BhTransform *t = NULL;
        bool ok = key && bh_transform_new(enc, 0, integ, key, &t) == 0;
        bh_transform_free(t);
        bh_secret_free(key);
        return ok;
}

/* "AUTH_HMAC_SHA2_256_128" -> "HMAC_SHA2_256_128", as AIX names modules. */
static const char *short_name(const char *name, const char *prefix) {
        size_t n = strlen(prefix);
        return strncmp(name, prefix, n) == 0 ? name + n : name;
}

static int cmp_bits(const void *a, const void *b) {
        return (int) *(const uint16_t *) a - (int) *(const uint16_t *) b;
}

/* "128, 192 or 256-bit keys": the table lists the default first. */
static void key_sizes(GString *s, const uint16_t *table_bits, size_t max) {
        uint16_t bits[8];
        size_t n = 0;
        while (n < max && n < G_N_ELEMENTS(bits) && table_bits[n]) {
                bits[n] = table_bits[n];
                n++;
        }
        if (n == 0) {
                g_string_append(s, "no key");
                return;
        }
        qsort(bits, n, sizeof bits[0], cmp_bits);
        for (size_t i = 0; i < n; i++)
                g_string_append_printf(s, "%s%u", i == 0 ? "" : i + 1 == n ? " or " : ", ", bits[i]);
        g_string_append(s, n == 1 ? "-bit key" : "-bit keys");
}

static void show_auth(Cli *cli, GString *out) {
        size_t n;
        const BhIntegInfo *tab = bh_integ_table(&n);
        if (cli->json)
                g_string_append(out, "\"authentication_algorithms\":[");
        else
                g_string_append(out, "Authentication Algorithm:\n");
        for (size_t i = 0; i < n; i++) {
                const BhIntegInfo *x = &tab[i];
                /* Integrity alone (ENCR_NONE): what AH would run. */
                bool runs = transform_runs(BH_ENCR_NONE, x->id);
                const char *name = short_name(x->name, "AUTH_");
                if (cli->json) {
                        g_string_append_printf(out, "%s{\"name\":", i ? "," : "");
                        cli_json_string(out, name);
                        g_string_append_printf(out, ",\"id\":%u,\"rfc\":", x->id);
                        cli_json_string(out, x->rfc);
                        g_string_append_printf(out, ",\"key_bits\":%u,\"icv_bits\":%u,\"legacy\":%s,\"available\":%s}",
                                               x->key_len * 8u, x->icv_len * 8u, x->legacy ? "true" : "false",
                                               runs ? "true" : "false");
                        continue;
                }
                g_string_append_printf(out, "%s -- %s, %u-bit key, %u-bit ICV", name, x->rfc, x->key_len * 8u,
                                       x->icv_len * 8u);
                if (x->legacy)
                        g_string_append(out, " (legacy)");
                if (!runs)
                        g_string_append(out, " (not available: the crypto library refuses it)");
                g_string_append_c(out, '\n');
        }
        if (cli->json)
                g_string_append(out, "]");
}

static void show_encr(Cli *cli, GString *out) {
        size_t n;
        const BhEncrInfo *tab = bh_encr_table(&n);
        if (cli->json)
                g_string_append(out, "\"encryption_algorithms\":[");
        else
                g_string_append(out, "Encryption Algorithm:\n");
        for (size_t i = 0; i < n; i++) {
                const BhEncrInfo *x = &tab[i];
                /* NULL encryption needs an integrity transform (RFC 4303 3.2). */
                unsigned integ = !x->aead && x->id == BH_ENCR_NULL ? BH_AUTH_HMAC_SHA2_256_128 : BH_AUTH_NONE;
                bool runs = transform_runs(x->id, integ);
                const char *name = short_name(x->name, "ENCR_");
                if (cli->json) {
                        g_string_append_printf(out, "%s{\"name\":", i ? "," : "");
                        cli_json_string(out, name);
                        g_string_append_printf(out, ",\"id\":%u,\"rfc\":", x->id);
                        cli_json_string(out, x->rfc);
                        g_string_append(out, ",\"key_bits\":[");
                        for (size_t k = 0; k < G_N_ELEMENTS(x->key_bits) && x->key_bits[k]; k++)
                                g_string_append_printf(out, "%s%u", k ? "," : "", x->key_bits[k]);
                        g_string_append_printf(out, "],\"aead\":%s,\"legacy\":%s,\"available\":%s}",
                                               x->aead ? "true" : "false", x->legacy ? "true" : "false",
                                               runs ? "true" : "false");
                        continue;
                }
                g_string_append_printf(out, "%s -- %s, ", name, x->rfc);
                key_sizes(out, x->key_bits, G_N_ELEMENTS(x->key_bits));
                if (x->aead)
                        g_string_append_printf(out, ", authenticated (%u-bit ICV)", x->icv_len * 8u);
                if (x->id == BH_ENCR_NULL)
                        g_string_append(out, ", no confidentiality");
                if (x->legacy)
                        g_string_append(out, " (legacy)");
                if (!runs)
                        g_string_append(out, " (not available: the crypto library refuses it)");
                g_string_append_c(out, '\n');
        }
        if (cli->json)
                g_string_append(out, "]");
}

/* ---------------------------------------------------------------- statistics */

/* The seed's lines, in the seed's order, over filterd's counter names
 * (services/filterd/datapath.h, DpCounters). */
static const struct {
        const char *label;
        const char *name;
        bool detail;    /* indented under the line before */
} stat_lines[] = {
        { "Total incoming packets", "in_total", false },
        { "Incoming AH packets", "in_ah", false },
        { "Incoming ESP packets", "in_esp", false },
        { "Total incoming packets dropped", "in_dropped", false },
        { "Filter denies on input", "in_filter_deny", true },
        { "AH did not compute", "in_ah_compute", true },
        { "ESP did not compute", "in_esp_compute", true },
        { "AH replay violation", "in_ah_replay", true },
        { "ESP replay violation", "in_esp_replay", true },
        { "Total outgoing packets", "out_total", false },
        { "Outgoing AH packets", "out_ah", false },
        { "Outgoing ESP packets", "out_esp", false },
        { "Total outgoing packets dropped", "out_dropped", false },
        { "Filter denies on output", "out_filter_deny", true },
        { "Tunnel cache entries added", "cache_added", false },
        { "Tunnel cache entries expired", "cache_expired", false },
        { "Tunnel cache entries deleted", "cache_deleted", false },
};

/* The detail behind those lines: in --json, 0 when statd does not know
 * them yet (filterd never answered it). */
static const char *const detail_names[] = {
        "in_unknown_spi", "in_wrong_source", "in_selector_mismatch", "in_malformed", "in_not_esp",
        "in_write_failed", "out_no_sa",      "out_encap_failed",     "out_send_failed",
        "in_sa_expired",   "out_sa_expired",  "out_trapped",          "in_misrouted",     "in_handoff_full",
        "in_handed_off",
};

typedef struct Counters {
        GHashTable *values;     /* name -> guint64 *, from the reply */
        GPtrArray *order;       /* names as statd sent them */
} Counters;

static void counters_clear(Counters *c) {
        if (c->values)
                g_hash_table_destroy(c->values);
        if (c->order)
                g_ptr_array_free(c->order, TRUE);
}

static uint64_t counter(const Counters *c, const char *name) {
        const uint64_t *v = g_hash_table_lookup(c->values, name);
        return v ? *v : 0;
}

/* statd's answer to GetCounters or Reset. */
static int get_counters(Cli *cli, bool reset, Counters *ret) {
        DBusMessage *reply = NULL;
        int r = cli_call(cli, BH_SERVICE_STATD, &bh_iface_stats1, reset ? "Reset" : "GetCounters", &reply,
                         DBUS_TYPE_INVALID);
        if (r != 0)
                return r;
        if (!dbus_message_has_signature(reply, "a{st}")) {
                dbus_message_unref(reply);
                return cli_fail(cli, CLI_EXIT_FAILED, "statd answered with an unexpected signature");
        }
        ret->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        ret->order = g_ptr_array_new_with_free_func(g_free);
        DBusMessageIter it, arr, ent;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                const char *name;
                dbus_uint64_t v;
                dbus_message_iter_recurse(&arr, &ent);
                dbus_message_iter_get_basic(&ent, &name);
                dbus_message_iter_next(&ent);
                dbus_message_iter_get_basic(&ent, &v);
                if (g_hash_table_contains(ret->values, name))
                        continue;
                g_hash_table_insert(ret->values, g_strdup(name), g_memdup2(&v, sizeof v));
                g_ptr_array_add(ret->order, g_strdup(name));
        }
        dbus_message_unref(reply);
        return 0;
}

static void json_counter(GString *out, GHashTable *done, const Counters *c, const char *name) {
        if (!g_hash_table_add(done, (gpointer) name))
                return;
        g_string_append_printf(out, "%s", g_hash_table_size(done) > 1 ? "," : "");
        cli_json_string(out, name);
        g_string_append_printf(out, ":%" G_GUINT64_FORMAT, counter(c, name));
}

static void show_stats(Cli *cli, GString *out, const Counters *c) {
        if (cli->json) {
                /* Every name, the seed's first: the detail too, and any a
                 * newer filterd counts that this ipsecstat has no line for. */
                g_autoptr(GHashTable) done = g_hash_table_new(g_str_hash, g_str_equal);
                g_string_append(out, "\"statistics\":{");
                for (size_t i = 0; i < G_N_ELEMENTS(stat_lines); i++)
                        json_counter(out, done, c, stat_lines[i].name);
                for (size_t i = 0; i < G_N_ELEMENTS(detail_names); i++)
                        json_counter(out, done, c, detail_names[i]);
                for (guint i = 0; i < c->order->len; i++)
                        json_counter(out, done, c, g_ptr_array_index(c->order, i));
                g_string_append(out, "}");
                return;
        }
        g_string_append(out, "IP Security Statistics -\n");
        for (size_t i = 0; i < G_N_ELEMENTS(stat_lines); i++)
                g_string_append_printf(out, "%s%s: %" G_GUINT64_FORMAT "\n", stat_lines[i].detail ? "\t" : "",
                                       stat_lines[i].label, counter(c, stat_lines[i].name));
}

/* ---------------------------------------------------------------- SAs */

/* Is one of filterd's transform names ("ENCR_3DES_192", "AUTH_HMAC_MD5_96")
 * a legacy algorithm of the tables? The encryption names carry the key
 * size after the table's name. */
static bool transform_legacy(const char *part) {
        const BhIntegInfo *in = bh_integ_from_name(part);
        if (in)
                return in->legacy;
        size_t n;
        const BhEncrInfo *tab = bh_encr_table(&n);
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(tab[i].name);
                if (strncmp(part, tab[i].name, len) == 0 && (part[len] == '\0' || part[len] == '_'))
                        return tab[i].legacy;
        }
        return false;
}

static bool transforms_legacy(const char *transforms) {
        g_auto(GStrv) parts = g_strsplit(transforms, "/", -1);
        for (char **p = parts; *p; p++)
                if (transform_legacy(*p))
                        return true;
        return false;
}

/* "ENCR_AES_CBC_256/AUTH_HMAC_SHA2_256_128" -> "AES_CBC_256/HMAC_SHA2_256_128",
 * the names of -A and -E, legacy ones marked as there:
 * "3DES_192 (legacy)/HMAC_SHA1_96 (legacy)". */
static char *transforms_short(const char *transforms) {
        g_auto(GStrv) parts = g_strsplit(transforms, "/", -1);
        for (char **p = parts; *p; p++) {
                bool legacy = transform_legacy(*p);
                const char *rest = short_name(short_name(*p, "ENCR_"), "AUTH_");
                char *shorter = g_strconcat(rest, legacy ? " (legacy)" : "", NULL);
                g_free(*p);
                *p = shorter;
        }
        return g_strjoinv("/", parts);
}

static int show_sas(Cli *cli, GString *out) {
        DBusMessage *reply = NULL;
        int r = cli_call(cli, BH_SERVICE_FILTERD, &bh_iface_filter1, "ListSAs", &reply, DBUS_TYPE_INVALID);
        if (r != 0)
                return r;
        if (!dbus_message_has_signature(reply, "a(sssusttt)")) {
                dbus_message_unref(reply);
                return cli_fail(cli, CLI_EXIT_FAILED, "filterd answered with an unexpected signature");
        }
        g_autoptr(GString) s = g_string_new(NULL);
        DBusMessageIter it, arr, st;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &arr);
        unsigned shown = 0;
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr)) {
                const char *tunnel, *dir, *proto, *transforms;
                dbus_uint32_t spi;
                dbus_uint64_t packets, bytes, drops;
                dbus_message_iter_recurse(&arr, &st);
                dbus_message_iter_get_basic(&st, &tunnel);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &dir);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &proto);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &spi);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &transforms);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &packets);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &bytes);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &drops);
                if (cli->json) {
                        g_string_append_printf(s, "%s{\"tunnel\":", shown ? "," : "");
                        cli_json_string(s, tunnel);
                        g_string_append(s, ",\"direction\":");
                        cli_json_string(s, dir);
                        g_string_append(s, ",\"protocol\":");
                        cli_json_string(s, proto);
                        g_string_append_printf(s, ",\"spi\":%u,\"transforms\":", spi);
                        cli_json_string(s, transforms);
                        g_string_append_printf(s, ",\"legacy\":%s", transforms_legacy(transforms) ? "true" : "false");
                        g_string_append_printf(s,
                                               ",\"packets\":%" G_GUINT64_FORMAT ",\"bytes\":%" G_GUINT64_FORMAT
                                               ",\"drops\":%" G_GUINT64_FORMAT "}",
                                               packets, bytes, drops);
                } else {
                        if (shown == 0)
                                g_string_append_printf(s, "%-16s %-3s %-5s %-10s %10s %12s %6s %s\n", "Tunnel", "Dir",
                                                       "Proto", "SPI", "Packets", "Bytes", "Drops", "Transforms");
                        g_autofree char *proto_up = g_ascii_strup(proto, -1);
                        g_autofree char *short_transforms = transforms_short(transforms);
                        g_string_append_printf(s,
                                               "%-16s %-3s %-5s 0x%08x %10" G_GUINT64_FORMAT " %12" G_GUINT64_FORMAT
                                               " %6" G_GUINT64_FORMAT " %s\n",
                                               tunnel, dir, proto_up, spi, packets, bytes, drops, short_transforms);
                }
                shown++;
        }
        dbus_message_unref(reply);
        if (cli->json) {
                g_string_append_printf(out, "\"sas\":[%s]", s->str);
        } else {
                g_string_append(out, "Security Associations:\n");
                g_string_append(out, shown ? s->str : "No security association is installed.\n");
        }
        return 0;
}

/* ---------------------------------------------------------------- main */

/* Sections in the order of the report; blank lines between them. */
static void section(Cli *cli, GString *out, bool *first) {
        if (!*first)
                g_string_append(out, cli->json ? "," : "\n");
        *first = false;
}

int main(int argc, char **argv) {
        Cli cli = { 0 };
        int n = cli_parse_options(&cli, "ipsecstat", argc, argv, usage);
        Args a = { 0 };
        parse_flags(n, argv, &a);
        /* No selection: the seed's whole report (the SAs only on demand). */
        bool all = !a.devices && !a.auth && !a.encr && !a.sas;
        bool devices = all || a.devices, auth = all || a.auth, encr = all || a.encr, stats = all, sas = a.sas;

        int r = 0;
        bool running = false;
        Counters counters = { 0 };
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GString) sa_part = g_string_new(NULL);
        /* The algorithms alone need no bus: they are this build's tables. */
        if (devices || stats || sas || a.reset)
                r = cli_connect(&cli);
        /* Everything is fetched before anything is printed, so that a
         * failure leaves no half report (and -c by a user who may not reset
         * prints nothing); the counters come last, so that -c resets only
         * once everything else has worked. */
        gint64 probe_deadline = g_get_monotonic_time() + PROBE_TIMEOUT_MS * G_GINT64_CONSTANT(1000);
        DBusPendingCall *probe = r == 0 && devices ? probe_send(&cli) : NULL;
        if (r == 0 && sas)
                r = show_sas(&cli, sa_part);
        if (r == 0 && (stats || a.reset)) {
                r = get_counters(&cli, a.reset, &counters);
                if (r == CLI_EXIT_DENIED && a.reset)
                        fprintf(stderr, "ipsecstat: only root and the members of the bulkhead group may reset "
                                        "the counters (-c)\n");
        }
        if (probe) {
                if (r == 0) {
                        running = probe_running(&cli, probe, probe_deadline);
                } else {
                        dbus_pending_call_cancel(probe);
                        dbus_pending_call_unref(probe);
                }
        }
        if (r != 0) {
                counters_clear(&counters);
                cli_done(&cli);
                return r;
        }

        bool first = true;
        if (cli.json)
                g_string_append_c(out, '{');
        if (devices) {
                section(&cli, out, &first);
                show_devices(&cli, out, running);
        }
        if (auth) {
                section(&cli, out, &first);
                show_auth(&cli, out);
        }
        if (encr) {
                section(&cli, out, &first);
                show_encr(&cli, out);
        }
        if (stats) {
                section(&cli, out, &first);
                show_stats(&cli, out, &counters);
        }
        if (sas) {
                section(&cli, out, &first);
                g_string_append(out, sa_part->str);
        }
        if (cli.json) {
                if (a.reset) {
                        section(&cli, out, &first);
                        g_string_append(out, "\"reset\":true");
                }
                g_string_append(out, "}\n");
        } else if (a.reset) {
                if (!first)
                        g_string_append_c(out, '\n');
                g_string_append(out, "The counters were reset.\n");
        }
        fputs(out->str, stdout);
        counters_clear(&counters);
        cli_done(&cli);
        return CLI_EXIT_OK;
}
