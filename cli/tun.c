/* SPDX-License-Identifier: ISC */
/* mktun(8), rmtun(8) and lstun(8): the tunnel commands of AIX IP Security,
 * in front of the calls and the code that ike cmd=activate, cmd=remove and
 * cmd=list use (tunnels.c). They only choose the tunnels their own way: by
 * number (-t 1,3,5-7) and by the IP version of their endpoints (-v 4|6).
 * One program, three names: what it does comes from argv[0]. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"
#include "tunnels.h"

typedef enum Command {
        CMD_MKTUN,
        CMD_RMTUN,
        CMD_LSTUN,
} Command;

static const struct {
        const char *name;
        const char *flags;      /* getopt; a leading ":" reports a missing value as ":" */
        const char *synopsis;
        const char *help;
} commands[] = {
        [CMD_MKTUN] = {
                "mktun", ":v:t:iI", "[-v 4|6] [-t TID_LIST] [-i] [-I]",
                "Activates tunnels of the Bulkhead IPsec suite, as ike cmd=activate does.\n\n"
                "  -v 4|6       only the tunnels whose endpoints are IPv4 (4) or IPv6 (6)\n"
                "  -t TID_LIST  only these tunnel numbers: N[,N...], with ranges N-M (1,3,5-7);\n"
                "               without -t, every tunnel of the version(s) that is not up and\n"
                "               can be started from here\n"
                "  -i           only the tunnels with start = start\n"
                "  -I           only manual tunnels\n",
        },
        [CMD_RMTUN] = {
                "rmtun", ":v:t:d", "-v 4|6 -t TID_LIST|all",
                "Deactivates tunnels of the Bulkhead IPsec suite, as ike cmd=remove does.\n\n"
                "  -v 4|6       the IP version of the tunnels' endpoints (required)\n"
                "  -t TID_LIST  these tunnel numbers: N[,N...], with ranges N-M (1,3,5-7)\n"
                "  -t all       every tunnel of that version that is up or failed\n"
                "  -d           (delete the definitions) not supported: see rmtun(8)\n",
        },
        [CMD_LSTUN] = {
                "lstun", ":v:t:p:a", "[-v 4|6] [-t TID_LIST] [-p manual|ibm|all | -a]",
                "Lists tunnels of the Bulkhead IPsec suite, as ike cmd=list does.\n\n"
                "  -v 4|6       only the tunnels whose endpoints are IPv4 (4) or IPv6 (6)\n"
                "  -t TID_LIST  only these tunnel numbers: N[,N...], with ranges N-M (1,3,5-7)\n"
                "  -p TYPE      manual: manual tunnels; ibm (or ike): IKE tunnels; all: both\n"
                "  -a           only the tunnels that are active (phase 2)\n",
        },
};

static Command command;

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: %s [OPTION...] %s\n%s\n"
                "Options:\n"
                "  --bus ADDRESS   the suite's bus (default: $BULKHEAD_BUS_ADDRESS, else the\n"
                "                  system bus)\n"
                "  --run-dir DIR   use the bus of the embedded suite running in DIR\n"
                "  --json          print machine-readable JSON\n"
                "  --help, --version\n\n"
                "Exit status: 0 success, 1 the suite refused or failed (or no such tunnel),\n"
                "2 usage error, 3 the suite cannot be reached, 4 permission denied.\n"
                "See %s(8).\n",
                commands[command].name, commands[command].synopsis, commands[command].help,
                commands[command].name);
        exit(code);
}

/* One element of -t: a number (single) or a range N-M; found once a tunnel
 * it names was taken. */
typedef struct TidRange {
        uint32_t lo, hi;
        bool single;
        bool found;
} TidRange;

typedef struct Options {
        int family;             /* AF_UNSPEC: both */
        GArray *tids;           /* TidRange; NULL: every tunnel */
        bool start_only;        /* mktun -i */
        bool manual_only;       /* mktun -I; lstun -p manual */
        bool ike_only;          /* lstun -p ibm */
        bool active_only;       /* lstun -a */
} Options;

static bool parse_u32(const char *text, uint32_t *ret) {
        if (!g_ascii_isdigit(*text))
                return false;
        char *end;
        unsigned long long v = strtoull(text, &end, 10);
        if (*end || v == 0 || v > UINT32_MAX)
                return false;
        *ret = (uint32_t) v;
        return true;
}

/* -t 1,3,5-7 (AIX writes "1, 3, 5-7" too: blanks around the numbers are
 * allowed). */
static GArray *parse_tids(const char *prog, const char *text) {
        GArray *tids = g_array_new(FALSE, TRUE, sizeof(TidRange));
        g_auto(GStrv) parts = g_strsplit(text, ",", -1);
        for (char **p = parts; *p; p++) {
                g_autofree char *element = g_strdup(g_strstrip(*p));
                TidRange r = { 0 };
                char *dash = strchr(*p, '-');
                if (dash)
                        *dash = '\0';
                bool ok = parse_u32(g_strstrip(*p), &r.lo);
                if (ok && dash)
                        ok = parse_u32(g_strstrip(dash + 1), &r.hi) && r.lo <= r.hi;
                else
                        r.hi = r.lo;
                if (!ok)
                        cli_usage_error(prog, "-t: \"%s\" is not a tunnel number or a range N-M of them (numbers start "
                                        "at 1)", element);
                r.single = !dash;
                g_array_append_val(tids, r);
        }
        return tids;
}

static void parse_flags(int argc, char **argv, Options *o) {
        const char *prog = commands[command].name;
        const char *t = NULL, *v = NULL, *p = NULL;
        opterr = 0;
        int c;
        while ((c = getopt(argc, argv, commands[command].flags)) != -1) {
                switch (c) {
                case 'v':
                case 't':
                case 'p': {
                        const char **slot = c == 'v' ? &v : c == 't' ? &t : &p;
                        if (*slot)
                                cli_usage_error(prog, "-%c given twice", c);
                        *slot = optarg;
                        break;
                }
                case 'i':
                        o->start_only = true;
                        break;
                case 'I':
                        o->manual_only = true;
                        break;
                case 'a':
                        o->active_only = true;
                        break;
                case 'd':
                        /* The definitions are files that tmd reads (tunnels.d); no
                         * command writes them but imptun. */
                        cli_usage_error(prog, "-d is not supported: a definition is deleted by removing its [tunnel "
                                        "NAME] section from tunnels.d (and its keys from secrets.conf), then "
                                        "imptun --reload; rmtun without -d deactivates");
                case ':':
                        cli_usage_error(prog, "-%c needs a value", optopt);
                default:
                        cli_usage_error(prog, "unknown option -%c", optopt);
                }
        }
        for (int i = optind; i < argc; i++) {
                /* rmtun -v 4 all, as AIX writes "-t tid_list | all". */
                if (command == CMD_RMTUN && strcmp(argv[i], "all") == 0 && !t)
                        t = "all";
                else
                        cli_usage_error(prog, "unexpected argument \"%s\"", argv[i]);
        }

        if (v) {
                if (strcmp(v, "4") == 0)
                        o->family = AF_INET;
                else if (strcmp(v, "6") == 0)
                        o->family = AF_INET6;
                else
                        cli_usage_error(prog, "-v takes 4 or 6, not \"%s\"", v);
        }
        if (p) {
                if (strcmp(p, "manual") == 0)
                        o->manual_only = true;
                else if (strcmp(p, "ibm") == 0 || strcmp(p, "ike") == 0)
                        o->ike_only = true;
                else if (strcmp(p, "all") != 0)
                        cli_usage_error(prog, "-p takes manual, ibm (IKE tunnels) or all, not \"%s\"", p);
                /* AIX: -p picks definitions, -a what runs; not both. */
                if (o->active_only)
                        cli_usage_error(prog, "-p and -a cannot be given together");
        }
        if (command == CMD_RMTUN) {
                if (!v)
                        cli_usage_error(prog, "-v 4|6 is required: the IP version of the tunnels to deactivate");
                if (!t)
                        cli_usage_error(prog, "-t TID_LIST or -t all is required: the tunnels to deactivate");
        }
        /* -t all: every tunnel, as without -t where -t may be left out. */
        if (t && strcmp(t, "all") != 0)
                o->tids = parse_tids(prog, t);
}

static const char *family_name(int family) {
        return family == AF_INET ? "IPv4" : family == AF_INET6 ? "IPv6" : "unknown";
}

/* What -i, -I, -p and -a leave, and, when no number was named (mktun
 * without -t, rmtun -t all), only the tunnels the command can act on:
 * mktun leaves out the tunnels that are up or on their way, and IKE
 * tunnels that only answer (remote %any); rmtun -t all those that are
 * down. A number named with -t goes to tmd, which says why it refuses. */
static bool keep(Cli *cli, const Options *o, const CliTunnel *t) {
        if (!o->tids) {
                if (command == CMD_MKTUN &&
                    (strcmp(t->phase2, "active") == 0 || strcmp(t->phase2, "activating") == 0 ||
                     strcmp(t->phase2, "removing") == 0 || strcmp(t->remote, "%any") == 0))
                        return false;
                if (command == CMD_RMTUN && strcmp(t->phase2, "active") != 0 &&
                    !g_str_has_prefix(t->phase2, "failed") && strcmp(t->phase1, "active") != 0)
                        return false;
        }
        if (o->active_only && strcmp(t->phase2, "active") != 0)
                return false;
        if (o->manual_only || o->ike_only) {
                g_autofree char *type = cli_tunnel_info(cli, t->name, "type");
                if (g_strcmp0(type, o->manual_only ? "manual" : "ike") != 0)
                        return false;
        }
        if (o->start_only) {
                g_autofree char *start = cli_tunnel_info(cli, t->name, "start");
                if (g_strcmp0(start, "start") != 0)
                        return false;
        }
        return true;
}

/* The tunnels the options choose, in tmd's order. A number named alone
 * must be a defined tunnel of the version -v gives; a range must take at
 * least one; either is an error before anything is done. */
static int select_tunnels(Cli *cli, const Options *o, GPtrArray *rows, GPtrArray *ret) {
        for (guint k = 0; k < rows->len; k++) {
                CliTunnel *t = g_ptr_array_index(rows, k);
                int family = cli_tunnel_family(t);
                bool family_ok = o->family == AF_UNSPEC || family == o->family;
                bool named = !o->tids;
                for (guint i = 0; o->tids && i < o->tids->len; i++) {
                        TidRange *r = &g_array_index(o->tids, TidRange, i);
                        if (t->number < r->lo || t->number > r->hi)
                                continue;
                        if (r->single && !family_ok)
                                return cli_fail(cli, CLI_EXIT_FAILED, "tunnel %u (%s) is an %s tunnel, not %s (-v %c)",
                                                t->number, t->name, family_name(family), family_name(o->family),
                                                o->family == AF_INET ? '4' : '6');
                        if (family_ok)
                                named = r->found = true;
                }
                if (named && family_ok && keep(cli, o, t))
                        g_ptr_array_add(ret, t);
        }
        for (guint i = 0; o->tids && i < o->tids->len; i++) {
                const TidRange *r = &g_array_index(o->tids, TidRange, i);
                if (r->found)
                        continue;
                if (r->single)
                        return cli_fail(cli, CLI_EXIT_FAILED, "no tunnel number %u is defined", r->lo);
                return cli_fail(cli, CLI_EXIT_FAILED, "no %stunnel is defined with a number from %u to %u",
                                o->family == AF_INET ? "IPv4 " : o->family == AF_INET6 ? "IPv6 " : "", r->lo, r->hi);
        }
        return 0;
}

static int run(Cli *cli, const Options *o) {
        g_autoptr(GPtrArray) rows = NULL;
        int r = cli_tunnels_get(cli, &rows);
        if (r != 0)
                return r;
        g_autoptr(GPtrArray) chosen = g_ptr_array_new();
        r = select_tunnels(cli, o, rows, chosen);
        if (r != 0)
                return r;
        if (command == CMD_LSTUN) {
                bool selection = o->family != AF_UNSPEC || o->tids || o->manual_only || o->ike_only || o->active_only;
                cli_tunnels_print(cli, chosen, NULL, false, selection);
                return CLI_EXIT_OK;
        }
        if (chosen->len == 0) {
                if (!cli->json)
                        printf("No tunnel to %s.\n", command == CMD_MKTUN ? "activate" : "deactivate");
                return CLI_EXIT_OK;
        }
        g_autoptr(GPtrArray) names = g_ptr_array_new();
        for (guint i = 0; i < chosen->len; i++)
                g_ptr_array_add(names, ((CliTunnel *) g_ptr_array_index(chosen, i))->name);
        if (command == CMD_MKTUN)
                return cli_tunnels_each(cli, names, "Activate", "activated");
        return cli_tunnels_each(cli, names, "Remove", "removed");
}

int main(int argc, char **argv) {
        g_autofree char *base = g_path_get_basename(argc > 0 ? argv[0] : "");
        size_t c;
        for (c = 0; c < G_N_ELEMENTS(commands); c++)
                if (strcmp(base, commands[c].name) == 0)
                        break;
        if (c == G_N_ELEMENTS(commands)) {
                fprintf(stderr, "%s: run this program as mktun, rmtun or lstun\n", base);
                return CLI_EXIT_USAGE;
        }
        command = (Command) c;

        Cli cli = { 0 };
        int n = cli_parse_options(&cli, commands[command].name, argc, argv, usage);
        Options o = { .family = AF_UNSPEC };
        parse_flags(n, argv, &o);
        int r = cli_connect(&cli);
        if (r == 0)
                r = run(&cli, &o);
        if (o.tids)
                g_array_unref(o.tids);
        cli_done(&cli);
        return r;
}
