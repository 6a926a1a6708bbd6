/* SPDX-License-Identifier: ISC */
/* ike(8): the AIX-style command line of the suite. It talks to tmd, logd
 * and the other services over D-Bus; it holds no state of its own. */
#include <dbus/dbus.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "ipc-interfaces.h"
#include "ipc.h"
#include "loglevel.h"
#include "suite.h"
#include "tunnels.h"

static G_NORETURN void usage(int code) {
        fprintf(code ? stderr : stdout,
                "Usage: ike [OPTION...] cmd=COMMAND [PARAMETER=VALUE...] [KEYWORD...]\n"
                "Manages the IKE tunnels of the Bulkhead IPsec suite.\n\n"
                "Commands:\n"
                "  cmd=activate [phase=1|2] SELECTION\n"
                "          bring tunnels up (manual tunnels: both directions at once; IKE\n"
                "          tunnels: phase 1 and phase 2 together, or phase 2 alone over a\n"
                "          phase 1 that is still up; phase=1: the IKE SA alone)\n"
                "  cmd=remove [phase=1|2] SELECTION\n"
                "          take tunnels down; their keys are wiped (phase=2: the CHILD SA\n"
                "          alone, the IKE SA stays up)\n"
                "  cmd=list [phase=1|2] [numlist=N,...] [namelist=NAME,...] [verbose]\n"
                "          [follow [seconds=N]]\n"
                "          list tunnels and their phase 1 and phase 2 states\n"
                "  cmd=log\n"
                "          turn isakmpd logging on at the level of isakmpd.conf(5)\n"
                "  cmd=log [service=NAME] level=LEVEL\n"
                "          set a service's log level at run time (service defaults to isakmpd);\n"
                "          LEVEL is none, errors, events, information or debug\n"
                "  cmd=log service=NAME\n"
                "          show a service's log level\n\n"
                "SELECTION: any of numlist=N,... namelist=NAME,... remid=ID\n"
                "ipaddr=LOCAL,REMOTE autostart (the tunnels with start = start); a tunnel\n"
                "is taken when one of them names it.\n\n"
                "Options:\n"
                "  --bus ADDRESS   the suite's bus (default: $BULKHEAD_BUS_ADDRESS, else the\n"
                "                  system bus)\n"
                "  --run-dir DIR   use the bus of the embedded suite running in DIR\n"
                "  --json          print machine-readable JSON\n"
                "  --help, --version\n\n"
                "Exit status: 0 success, 1 the suite refused or failed, 2 usage error,\n"
                "3 the suite cannot be reached, 4 permission denied. See ike(8).\n");
        exit(code);
}

typedef struct Args {
        const char *cmd;
        const char *phase;
        const char *numlist;
        const char *namelist;
        const char *remid;
        const char *ipaddr;
        bool autostart;
        const char *service;
        const char *level;
        bool verbose;
        bool follow;
        const char *seconds;
} Args;

/* AIX style: PARAMETER=VALUE pairs and bare keywords, in any order. */
static void parse_words(int argc, char **argv, int first, Args *a) {
        for (int i = first; i < argc; i++) {
                char *w = argv[i];
                char *eq = strchr(w, '=');
                if (!eq) {
                        if (strcmp(w, "verbose") == 0)
                                a->verbose = true;
                        else if (strcmp(w, "follow") == 0)
                                a->follow = true;
                        else if (strcmp(w, "autostart") == 0)
                                a->autostart = true;
                        else
                                cli_usage_error("ike", "unknown keyword \"%s\"", w);
                        continue;
                }
                *eq = '\0';
                const char *v = eq + 1;
                const char **slot = NULL;
                if (strcmp(w, "cmd") == 0)
                        slot = &a->cmd;
                else if (strcmp(w, "phase") == 0)
                        slot = &a->phase;
                else if (strcmp(w, "numlist") == 0)
                        slot = &a->numlist;
                else if (strcmp(w, "namelist") == 0)
                        slot = &a->namelist;
                else if (strcmp(w, "remid") == 0)
                        slot = &a->remid;
                else if (strcmp(w, "ipaddr") == 0)
                        slot = &a->ipaddr;
                else if (strcmp(w, "seconds") == 0)
                        slot = &a->seconds;
                else if (strcmp(w, "service") == 0)
                        slot = &a->service;
                else if (strcmp(w, "level") == 0)
                        slot = &a->level;
                else
                        cli_usage_error("ike", "unknown parameter \"%s\"", w);
                if (*slot)
                        cli_usage_error("ike", "%s= given twice", w);
                if (!*v)
                        cli_usage_error("ike", "%s= needs a value", w);
                *slot = v;
        }
}

/* numlist=1,3,5 and namelist=a,b: a tunnel is shown when either names it. */
static bool selected(const Args *a, uint32_t number, const char *name) {
        if (!a->numlist && !a->namelist)
                return true;
        if (a->numlist) {
                g_auto(GStrv) nums = g_strsplit(a->numlist, ",", -1);
                for (char **n = nums; *n; n++)
                        if (strtoul(*n, NULL, 10) == number)
                                return true;
        }
        if (a->namelist) {
                g_auto(GStrv) names = g_strsplit(a->namelist, ",", -1);
                for (char **n = names; *n; n++)
                        if (g_ascii_strcasecmp(*n, name) == 0)
                                return true;
        }
        return false;
}

static void check_numlist(const char *numlist) {
        if (!numlist)
                return;
        g_auto(GStrv) nums = g_strsplit(numlist, ",", -1);
        for (char **n = nums; *n; n++) {
                char *end;
                unsigned long v = strtoul(*n, &end, 10);
                if (!**n || *end || v == 0 || v > UINT32_MAX)
                        cli_usage_error("ike", "numlist: \"%s\" is not a tunnel number", *n);
        }
}

static int cmd_list(Cli *cli, const Args *a) {
        if (a->phase && strcmp(a->phase, "1") != 0 && strcmp(a->phase, "2") != 0)
                cli_usage_error("ike", "phase= must be 1 or 2");
        check_numlist(a->numlist);
        g_autoptr(GPtrArray) rows = NULL;
        int r = cli_tunnels_get(cli, &rows);
        if (r != 0)
                return r;
        g_autoptr(GPtrArray) shown = g_ptr_array_new();
        for (guint i = 0; i < rows->len; i++) {
                CliTunnel *t = g_ptr_array_index(rows, i);
                if (selected(a, t->number, t->name))
                        g_ptr_array_add(shown, t);
        }
        cli_tunnels_print(cli, shown, a->phase, a->verbose, a->numlist || a->namelist);
        return CLI_EXIT_OK;
}

/* cmd=list follow: after the list, one line per change of a tunnel's
 * state, as tmd announces it (PropertiesChanged of org.bulkhead.Tunnel1),
 * until interrupted or, with seconds=N, for N seconds. */
static int cmd_follow(Cli *cli, const Args *a) {
        long limit = -1;
        if (a->seconds) {
                char *end;
                limit = strtol(a->seconds, &end, 10);
                if (*end || limit <= 0 || limit > 86400)
                        cli_usage_error("ike", "seconds= must be 1 to 86400");
        }
        DBusError err = DBUS_ERROR_INIT;
        const BhSuiteEntry *tmd = &bh_suite[BH_SERVICE_TMD];
        g_autofree char *rule = g_strdup_printf("type='signal',sender='%s',interface='org.freedesktop.DBus.Properties',"
                                                "member='PropertiesChanged',path_namespace='/org/bulkhead/Tmd/tunnel',"
                                                "arg0='%s'",
                                                tmd->bus_name, bh_iface_tunnel1.name);
        dbus_bus_add_match(cli->conn, rule, &err);
        if (dbus_error_is_set(&err)) {
                int r = cli_fail(cli, CLI_EXIT_FAILED, "cannot follow the tunnels: %s", err.message);
                dbus_error_free(&err);
                return r;
        }
        int r = cmd_list(cli, a);
        if (r != 0)
                return r;
        fflush(stdout);
        gint64 end = limit > 0 ? g_get_monotonic_time() + limit * G_USEC_PER_SEC : G_MAXINT64;
        while (g_get_monotonic_time() < end) {
                gint64 left_ms = (end - g_get_monotonic_time()) / 1000;
                if (!dbus_connection_read_write(cli->conn, (int) MIN(left_ms, 1000)))
                        return cli_fail(cli, CLI_EXIT_UNREACHABLE, "the bus connection closed");
                DBusMessage *m;
                while ((m = dbus_connection_pop_message(cli->conn))) {
                        const char *path = dbus_message_get_path(m);
                        if (!dbus_message_is_signal(m, "org.freedesktop.DBus.Properties", "PropertiesChanged") || !path ||
                            !g_str_has_prefix(path, "/org/bulkhead/Tmd/tunnel/")) {
                                dbus_message_unref(m);
                                continue;
                        }
                        g_autofree char *name = bh_object_path_unescape(path + strlen("/org/bulkhead/Tmd/tunnel/"));
                        DBusMessageIter it, arr, ent, var;
                        dbus_message_iter_init(m, &it);
                        dbus_message_iter_next(&it);
                        if (!name || dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY ||
                            (a->namelist && !selected(a, 0, name))) {
                                dbus_message_unref(m);
                                continue;
                        }
                        g_autoptr(GDateTime) now = g_date_time_new_now_local();
                        g_autofree char *stamp = g_date_time_format(now, "%H:%M:%S");
                        dbus_message_iter_recurse(&it, &arr);
                        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                                const char *prop;
                                dbus_message_iter_recurse(&arr, &ent);
                                dbus_message_iter_get_basic(&ent, &prop);
                                dbus_message_iter_next(&ent);
                                dbus_message_iter_recurse(&ent, &var);
                                if (dbus_message_iter_get_arg_type(&var) != DBUS_TYPE_STRING)
                                        continue;       /* Info: see verbose */
                                const char *value;
                                dbus_message_iter_get_basic(&var, &value);
                                if (cli->json) {
                                        g_autoptr(GString) out = g_string_new("{\"time\":");
                                        cli_json_string(out, stamp);
                                        g_string_append(out, ",\"tunnel\":");
                                        cli_json_string(out, name);
                                        g_string_append(out, ",\"property\":");
                                        cli_json_string(out, prop);
                                        g_string_append(out, ",\"value\":");
                                        cli_json_string(out, value);
                                        g_string_append(out, "}\n");
                                        fputs(out->str, stdout);
                                } else {
                                        printf("%s %-16s %-8s %s\n", stamp, name, prop, *value ? value : "(none)");
                                }
                        }
                        fflush(stdout);
                        dbus_message_unref(m);
                }
        }
        return CLI_EXIT_OK;
}

static int get_level(Cli *cli, const BhSuiteEntry *e, char **ret) {
        DBusMessage *reply = NULL;
        int r = cli_get_property(cli, e->id, bh_iface_service1.name, "LogLevel", &reply);
        if (r != 0)
                return r;
        DBusMessageIter it, var;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &var);
        const char *s = "";
        if (dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_STRING)
                dbus_message_iter_get_basic(&var, &s);
        *ret = g_strdup(s);
        dbus_message_unref(reply);
        return 0;
}

static int cmd_log(Cli *cli, const Args *a) {
        const BhSuiteEntry *e = bh_suite_by_name(a->service ? a->service : "isakmpd");
        if (!e) {
                fprintf(stderr, "ike: unknown service \"%s\" (expected one of:", a->service);
                for (int i = 0; i < _BH_SERVICE_MAX; i++)
                        fprintf(stderr, " %s", bh_suite[i].name);
                fprintf(stderr, ")\n");
                return CLI_EXIT_USAGE;
        }
        g_autofree char *level = NULL;
        if (a->level) {
                BhLogLevel l;
                if (bh_log_level_from_string(a->level, &l) < 0)
                        cli_usage_error("ike", "unknown level \"%s\" (expected none, errors, events, information "
                                               "or debug)", a->level);
                level = g_strdup(bh_log_level_to_string(l));
        } else if (a->service) {
                /* service= alone: show the level. */
                int r = get_level(cli, e, &level);
                if (r != 0)
                        return r;
                if (cli->json) {
                        g_autoptr(GString) out = g_string_new("{\"service\":");
                        cli_json_string(out, e->name);
                        g_string_append(out, ",\"level\":");
                        cli_json_string(out, level);
                        g_string_append(out, "}\n");
                        fputs(out->str, stdout);
                } else {
                        printf("%s log level: %s\n", e->name, level);
                }
                return CLI_EXIT_OK;
        } else {
                /* Plain cmd=log: the level isakmpd.conf asks for, as logd read it. */
                DBusMessage *reply = NULL;
                int r = cli_get_property(cli, BH_SERVICE_LOGD, bh_iface_logger1.name, "IsakmpdLevel", &reply);
                if (r != 0)
                        return r;
                DBusMessageIter it, var;
                const char *s = "events";
                dbus_message_iter_init(reply, &it);
                dbus_message_iter_recurse(&it, &var);
                if (dbus_message_iter_get_arg_type(&var) == DBUS_TYPE_STRING)
                        dbus_message_iter_get_basic(&var, &s);
                level = g_strdup(s);
                dbus_message_unref(reply);
        }
        g_autofree char *old = NULL;
        int r = get_level(cli, e, &old);
        if (r != 0)
                return r;
        r = cli_set_property_string(cli, e->id, bh_iface_service1.name, "LogLevel", level);
        if (r != 0)
                return r;
        if (cli->json) {
                g_autoptr(GString) out = g_string_new("{\"service\":");
                cli_json_string(out, e->name);
                g_string_append(out, ",\"previous\":");
                cli_json_string(out, old);
                g_string_append(out, ",\"level\":");
                cli_json_string(out, level);
                g_string_append(out, "}\n");
                fputs(out->str, stdout);
        } else {
                printf("%s log level: %s (was %s)\n", e->name, level, old);
        }
        return CLI_EXIT_OK;
}

/* ipaddr=LOCAL,REMOTE, checked before anything is asked. */
static void parse_ipaddr(const char *ipaddr, struct in6_addr ret[2]) {
        g_auto(GStrv) parts = g_strsplit(ipaddr, ",", -1);
        if (g_strv_length(parts) != 2)
                cli_usage_error("ike", "ipaddr= takes two addresses, LOCAL,REMOTE");
        for (int i = 0; i < 2; i++)
                if (!cli_parse_addr(parts[i], &ret[i]))
                        cli_usage_error("ike", "ipaddr=: \"%s\" is not an IP address", parts[i]);
}

/* remid=ID matches a configured remote ID written TYPE:VALUE, in full or
 * by its value alone; regardless of case. */
static bool remid_matches(const char *remid, const char *configured) {
        if (!*configured)
                return false;
        if (g_ascii_strcasecmp(remid, configured) == 0)
                return true;
        const char *value = strchr(configured, ':');
        return !strchr(remid, ':') && value && g_ascii_strcasecmp(remid, value + 1) == 0;
}

/* The tunnels the selection names, as tmd knows them (see SELECTION in
 * usage); a number, name, remote ID or address pair that matches no
 * tunnel is an error before anything is done. */
static int selected_names(Cli *cli, const Args *a, GPtrArray *ret_names) {
        if (!a->numlist && !a->namelist && !a->remid && !a->ipaddr && !a->autostart)
                cli_usage_error("ike", "cmd=%s needs numlist=, namelist=, remid=, ipaddr= or autostart", a->cmd);
        check_numlist(a->numlist);
        struct in6_addr pair[2];
        if (a->ipaddr)
                parse_ipaddr(a->ipaddr, pair);
        g_autoptr(GPtrArray) rows = NULL;
        int r = cli_tunnels_get(cli, &rows);
        if (r != 0)
                return r;
        g_auto(GStrv) nums = a->numlist ? g_strsplit(a->numlist, ",", -1) : g_new0(char *, 1);
        g_auto(GStrv) names = a->namelist ? g_strsplit(a->namelist, ",", -1) : g_new0(char *, 1);
        g_autofree bool *num_found = g_new0(bool, g_strv_length(nums) + 1);
        g_autofree bool *name_found = g_new0(bool, g_strv_length(names) + 1);
        bool remid_found = false, ipaddr_found = false, autostart_found = false;
        for (guint k = 0; k < rows->len; k++) {
                const CliTunnel *t = g_ptr_array_index(rows, k);
                bool take = false;
                for (guint i = 0; nums[i]; i++)
                        if (strtoul(nums[i], NULL, 10) == t->number)
                                take = num_found[i] = true;
                for (guint i = 0; names[i]; i++)
                        if (g_ascii_strcasecmp(names[i], t->name) == 0)
                                take = name_found[i] = true;
                struct in6_addr l, rm;
                if (a->ipaddr && cli_parse_addr(t->local, &l) && cli_parse_addr(t->remote, &rm) &&
                    memcmp(&l, &pair[0], sizeof l) == 0 && memcmp(&rm, &pair[1], sizeof rm) == 0)
                        take = ipaddr_found = true;
                if (a->remid) {
                        g_autofree char *rid = cli_tunnel_info(cli, t->name, "remote_id_configured");
                        if (rid && remid_matches(a->remid, rid))
                                take = remid_found = true;
                }
                if (a->autostart) {
                        g_autofree char *start = cli_tunnel_info(cli, t->name, "start");
                        if (g_strcmp0(start, "start") == 0)
                                take = autostart_found = true;
                }
                if (take)
                        g_ptr_array_add(ret_names, g_strdup(t->name));
        }
        for (guint i = 0; nums[i]; i++)
                if (!num_found[i])
                        return cli_fail(cli, CLI_EXIT_FAILED, "no tunnel number %s is defined", nums[i]);
        for (guint i = 0; names[i]; i++)
                if (!name_found[i])
                        return cli_fail(cli, CLI_EXIT_FAILED, "no tunnel named \"%s\" is defined", names[i]);
        if (a->remid && !remid_found)
                return cli_fail(cli, CLI_EXIT_FAILED, "no tunnel has the remote ID \"%s\"", a->remid);
        if (a->ipaddr && !ipaddr_found)
                return cli_fail(cli, CLI_EXIT_FAILED, "no tunnel is defined from %s", a->ipaddr);
        if (a->autostart && !autostart_found)
                return cli_fail(cli, CLI_EXIT_FAILED, "no tunnel has start = start");
        return 0;
}

/* cmd=activate and cmd=remove: one call to tmd per tunnel, each reported. */
static int cmd_each(Cli *cli, const Args *a, const char *member, const char *done) {
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        int r = selected_names(cli, a, names);
        if (r != 0)
                return r;
        return cli_tunnels_each(cli, names, member, done);
}

int main(int argc, char **argv) {
        Cli cli = { 0 };
        int n = cli_parse_options(&cli, "ike", argc, argv, usage);
        Args a = { 0 };
        parse_words(n, argv, 1, &a);
        if (!a.cmd)
                cli_usage_error("ike", "no cmd= given");

        int r;
        if (strcmp(a.cmd, "list") == 0) {
                if (a.service || a.level || a.remid || a.ipaddr || a.autostart)
                        cli_usage_error("ike", "cmd=list takes phase=, numlist=, namelist= and verbose");
                if (a.seconds && !a.follow)
                        cli_usage_error("ike", "seconds= goes with follow");
                r = cli_connect(&cli);
                if (r == 0)
                        r = a.follow ? cmd_follow(&cli, &a) : cmd_list(&cli, &a);
        } else if (strcmp(a.cmd, "log") == 0) {
                if (a.phase || a.numlist || a.namelist || a.remid || a.ipaddr || a.autostart || a.verbose || a.follow ||
                    a.seconds)
                        cli_usage_error("ike", "cmd=log takes service= and level=");
                r = cli_connect(&cli);
                if (r == 0)
                        r = cmd_log(&cli, &a);
        } else if (strcmp(a.cmd, "activate") == 0 || strcmp(a.cmd, "remove") == 0) {
                if (a.service || a.level || a.verbose || a.follow || a.seconds)
                        cli_usage_error("ike", "cmd=%s takes phase=, numlist=, namelist=, remid=, ipaddr= and autostart",
                                        a.cmd);
                bool up = strcmp(a.cmd, "activate") == 0;
                if (!a.numlist && !a.namelist && !a.remid && !a.ipaddr && !a.autostart)
                        cli_usage_error("ike", "cmd=%s needs numlist=, namelist=, remid=, ipaddr= or autostart", a.cmd);
                if (a.phase && strcmp(a.phase, "1") != 0 && strcmp(a.phase, "2") != 0)
                        cli_usage_error("ike", "phase= must be 1 or 2");
                /* IKEv2 brings the IKE SA up with the first CHILD SA (RFC
                 * 7296 1.2): phase 1 alone is that, with the CHILD SA
                 * deleted at once (tmd). A CHILD SA can go alone, and come
                 * again. */
                bool phase1 = up && a.phase && strcmp(a.phase, "1") == 0;
                bool phase2 = !up && a.phase && strcmp(a.phase, "2") == 0;
                check_numlist(a.numlist);
                if (a.ipaddr) {
                        struct in6_addr pair[2];
                        parse_ipaddr(a.ipaddr, pair);
                }
                r = cli_connect(&cli);
                if (r == 0)
                        r = cmd_each(&cli, &a,
                                     phase1 ? "ActivatePhase1" : up ? "Activate" : phase2 ? "RemovePhase2" : "Remove",
                                     phase1 ? "phase 1 activated" : up ? "activated" : phase2 ? "phase 2 removed" : "removed");
        } else {
                cli_usage_error("ike", "unknown command \"%s\" (expected activate, remove, list or log)", a.cmd);
        }
        cli_done(&cli);
        return r;
}
