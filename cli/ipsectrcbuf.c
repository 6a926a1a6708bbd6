/* SPDX-License-Identifier: ISC */
/* ipsectrcbuf(8): the data path's trace buffer, as on AIX: set the trace
 * level or categories, dump the buffer, or follow it. */
#include <dbus/dbus.h>
#include <glib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ipc-interfaces.h"
#include "suite.h"

static const char *const words[] = {
        "error", "filter", "filter-info", "tunnel", "tunnel-info", "capsulation", "capsulation-info", "crypto",
        "crypto-info",
};

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: ipsectrcbuf [OPTION...]\n"
                "Sets and shows the trace hooks of the Bulkhead data path (filterd).\n\n"
                "  -l LEVEL        trace level: 0 Error; 1 adds Filter, Tunnel,\n"
                "                  Capsulation/Decapsulation and Crypto; 2 every category\n"
                "  -c CATEGORIES   the categories, comma-separated: error, filter, filter-info,\n"
                "                  tunnel, tunnel-info, capsulation, capsulation-info, crypto,\n"
                "                  crypto-info; or all, or none\n"
                "  -d              dump the trace buffer (what it does without -l or -c)\n"
                "  -f              follow the buffer: print events as they come\n"
                "  -n COUNT        with -f: stop after COUNT events\n"
                "  -t SECONDS      with -f: stop after SECONDS\n"
                "  --bus ADDRESS, --run-dir DIR, --json, --help, --version\n\n"
                "Exit status: 0 success, 1 refused or failed, 2 usage error, 3 the suite cannot\n"
                "be reached, 4 permission denied. See ipsectrcbuf(8).\n");
        exit(code);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) {
        stop = 1;
}

static char *mask_words(uint32_t mask) {
        GString *s = g_string_new(NULL);
        for (unsigned i = 0; i < G_N_ELEMENTS(words); i++)
                if (mask & (1u << i))
                        g_string_append_printf(s, "%s%s", s->len ? "," : "", words[i]);
        if (!s->len)
                g_string_append(s, "none");
        return g_string_free(s, FALSE);
}

static int parse_categories(const char *arg, uint32_t *ret) {
        if (strcmp(arg, "all") == 0) {
                *ret = (1u << G_N_ELEMENTS(words)) - 1;
                return 0;
        }
        if (strcmp(arg, "none") == 0) {
                *ret = 0;
                return 0;
        }
        uint32_t m = 0;
        g_auto(GStrv) parts = g_strsplit(arg, ",", -1);
        for (char **p = parts; *p; p++) {
                unsigned i;
                for (i = 0; i < G_N_ELEMENTS(words); i++)
                        if (g_ascii_strcasecmp(*p, words[i]) == 0)
                                break;
                if (i == G_N_ELEMENTS(words))
                        cli_usage_error("ipsectrcbuf", "unknown category \"%s\"", *p);
                m |= 1u << i;
        }
        *ret = m;
        return 0;
}

/* Prints what came after *after; returns the number printed or -exit code. */
static int read_once(Cli *cli, uint64_t *after, bool print, bool json, bool *first) {
        DBusMessage *reply = NULL;
        dbus_uint64_t a = *after;
        dbus_uint32_t max = 1024;
        int r = cli_call(cli, BH_SERVICE_FILTERD, &bh_iface_filter1, "ReadTrace", &reply, DBUS_TYPE_UINT64, &a,
                         DBUS_TYPE_UINT32, &max, DBUS_TYPE_INVALID);
        if (r != 0)
                return -r;
        DBusMessageIter it, arr, st;
        dbus_message_iter_init(reply, &it);
        dbus_uint64_t next, lost;
        dbus_message_iter_get_basic(&it, &next);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &lost);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &arr);
        int n = 0;
        if (lost && print && !json)
                printf("(%llu events overwritten before they were read)\n", (unsigned long long) lost);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr), n++) {
                dbus_uint64_t seq;
                dbus_int64_t usec;
                const char *cat, *text;
                dbus_message_iter_recurse(&arr, &st);
                dbus_message_iter_get_basic(&st, &seq);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &usec);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &cat);
                dbus_message_iter_next(&st);
                dbus_message_iter_get_basic(&st, &text);
                if (!print) {
                        continue;
                } else if (json) {
                        g_autoptr(GString) out = g_string_new(NULL);
                        g_string_append_printf(out, "%s{\"seq\":%llu,\"usec\":%lld,\"category\":", *first ? "" : ",",
                                               (unsigned long long) seq, (long long) usec);
                        cli_json_string(out, cat);
                        g_string_append(out, ",\"text\":");
                        cli_json_string(out, text);
                        g_string_append(out, "}\n");
                        fputs(out->str, stdout);
                        *first = false;
                } else {
                        time_t sec = (time_t) (usec / 1000000);
                        struct tm tm;
                        char when[32];
                        localtime_r(&sec, &tm);
                        strftime(when, sizeof when, "%H:%M:%S", &tm);
                        printf("%s.%06lld %-26s %s\n", when, (long long) (usec % 1000000), cat, text);
                }
        }
        fflush(stdout);
        *after = next;
        dbus_message_unref(reply);
        return n;
}

int main(int argc, char **argv) {
        Cli cli = { 0 };
        int n = cli_parse_options(&cli, "ipsectrcbuf", argc, argv, usage);
        const char *level = NULL, *cats = NULL;
        bool dump = false, follow = false;
        long count = -1, seconds = -1;
        for (int i = 1; i < n; i++) {
                const char *a = argv[i];
                const char *v = i + 1 < n ? argv[i + 1] : NULL;
                if (strcmp(a, "-d") == 0)
                        dump = true;
                else if (strcmp(a, "-f") == 0)
                        follow = true;
                else if (strcmp(a, "-l") == 0 || strcmp(a, "-c") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "-t") == 0) {
                        if (!v)
                                cli_usage_error("ipsectrcbuf", "%s needs a value", a);
                        if (a[1] == 'l')
                                level = v;
                        else if (a[1] == 'c')
                                cats = v;
                        else {
                                char *end;
                                long x = strtol(v, &end, 10);
                                if (*end || x < 0)
                                        cli_usage_error("ipsectrcbuf", "%s needs a number", a);
                                *(a[1] == 'n' ? &count : &seconds) = x;
                        }
                        i++;
                } else
                        cli_usage_error("ipsectrcbuf", "unknown argument \"%s\"", a);
        }
        if (level && (strlen(level) != 1 || level[0] < '0' || level[0] > '2'))
                cli_usage_error("ipsectrcbuf", "-l takes 0, 1 or 2");
        if (level && cats)
                cli_usage_error("ipsectrcbuf", "-l and -c exclude each other");
        if (!level && !cats && !follow)
                dump = true;

        int r = cli_connect(&cli);
        if (r == 0 && (level || cats)) {
                if (level) {
                        dbus_uint32_t l = (dbus_uint32_t) (level[0] - '0');
                        r = cli_call(&cli, BH_SERVICE_FILTERD, &bh_iface_filter1, "SetTraceLevel", NULL, DBUS_TYPE_UINT32,
                                     &l, DBUS_TYPE_INVALID);
                } else {
                        uint32_t m = 0;
                        parse_categories(cats, &m);
                        r = cli_set_property_u32(&cli, BH_SERVICE_FILTERD, bh_iface_filter1.name, "TraceMask", m);
                }
                DBusMessage *reply = NULL;
                if (r == 0)
                        r = cli_get_property(&cli, BH_SERVICE_FILTERD, bh_iface_filter1.name, "TraceMask", &reply);
                if (r == 0) {
                        DBusMessageIter it, var;
                        dbus_uint32_t m = 0;
                        dbus_message_iter_init(reply, &it);
                        dbus_message_iter_recurse(&it, &var);
                        if (dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_UINT32)
                                dbus_message_iter_get_basic(&var, &m);
                        g_autofree char *w = mask_words(m);
                        if (cli.json)
                                printf("{\"mask\":%u,\"categories\":\"%s\"}\n", m, w);
                        else
                                printf("trace categories: %s\n", w);
                        dbus_message_unref(reply);
                }
        }
        uint64_t after = 0;
        bool first = true;
        if (r == 0 && dump) {
                if (cli.json)
                        printf("[");
                int k;
                do {
                        k = read_once(&cli, &after, true, cli.json, &first);
                } while (k > 0);
                if (k < 0)
                        r = -k;
                if (cli.json)
                        printf("]\n");
        }
        if (r == 0 && follow) {
                /* From now on: what is already in the buffer was dumped or
                 * is not wanted. */
                if (!dump) {
                        int k;
                        do {
                                k = read_once(&cli, &after, false, false, &first);
                        } while (k > 0);
                        (void) k;
                }
                signal(SIGINT, on_signal);
                signal(SIGTERM, on_signal);
                gint64 end = seconds >= 0 ? g_get_monotonic_time() + seconds * G_USEC_PER_SEC : G_MAXINT64;
                long seen = 0;
                while (!stop && g_get_monotonic_time() < end && (count < 0 || seen < count)) {
                        int k = read_once(&cli, &after, true, cli.json, &first);
                        if (k < 0) {
                                r = -k;
                                break;
                        }
                        seen += k;
                        if (k == 0)
                                g_usleep(200 * 1000);
                }
        }
        cli_done(&cli);
        return r;
}
