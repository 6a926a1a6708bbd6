/* SPDX-License-Identifier: ISC */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "ipc-interfaces.h"
#include "tunnels.h"

void cli_tunnel_free(CliTunnel *t) {
        if (!t)
                return;
        g_free(t->name);
        g_free(t->local);
        g_free(t->remote);
        g_free(t->phase1);
        g_free(t->phase2);
        g_free(t);
}

int cli_tunnels_get(Cli *cli, GPtrArray **ret_rows) {
        DBusMessage *reply = NULL;
        int r = cli_call(cli, BH_SERVICE_TMD, &bh_iface_tmd1, "ListTunnels", &reply, DBUS_TYPE_INVALID);
        if (r != 0)
                return r;
        if (!dbus_message_has_signature(reply, "a(usssss)")) {
                dbus_message_unref(reply);
                return cli_fail(cli, CLI_EXIT_FAILED, "tmd answered with an unexpected signature");
        }
        GPtrArray *rows = g_ptr_array_new_with_free_func((GDestroyNotify) cli_tunnel_free);
        DBusMessageIter it, arr, st;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr)) {
                dbus_uint32_t number;
                const char *s[5];
                dbus_message_iter_recurse(&arr, &st);
                dbus_message_iter_get_basic(&st, &number);
                for (int i = 0; i < 5; i++) {
                        dbus_message_iter_next(&st);
                        dbus_message_iter_get_basic(&st, &s[i]);
                }
                CliTunnel *t = g_new0(CliTunnel, 1);
                t->number = number;
                t->name = g_strdup(s[0]);
                t->local = g_strdup(s[1]);
                t->remote = g_strdup(s[2]);
                t->phase1 = g_strdup(s[3]);
                t->phase2 = g_strdup(s[4]);
                g_ptr_array_add(rows, t);
        }
        dbus_message_unref(reply);
        *ret_rows = rows;
        return 0;
}

char *cli_tunnel_info(Cli *cli, const char *name, const char *field) {
        DBusMessage *reply = NULL;
        if (cli_call(cli, BH_SERVICE_TMD, &bh_iface_tmd1, "GetTunnel", &reply, DBUS_TYPE_STRING, &name,
                     DBUS_TYPE_INVALID) != 0)
                return NULL;
        if (!dbus_message_has_signature(reply, "a{ss}")) {
                dbus_message_unref(reply);
                return NULL;
        }
        char *value = NULL;
        DBusMessageIter it, arr, e;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &arr);
        for (; !value && dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                const char *k, *v;
                dbus_message_iter_recurse(&arr, &e);
                dbus_message_iter_get_basic(&e, &k);
                dbus_message_iter_next(&e);
                dbus_message_iter_get_basic(&e, &v);
                if (strcmp(k, field) == 0)
                        value = g_strdup(v);
        }
        dbus_message_unref(reply);
        return value;
}

bool cli_parse_addr(const char *text, struct in6_addr *ret) {
        struct in_addr v4;
        if (inet_pton(AF_INET, text, &v4) == 1) {
                memset(ret, 0, sizeof *ret);
                ret->s6_addr[10] = ret->s6_addr[11] = 0xff;
                memcpy(&ret->s6_addr[12], &v4, 4);
                return true;
        }
        return inet_pton(AF_INET6, text, ret) == 1;
}

int cli_tunnel_family(const CliTunnel *t) {
        const char *ends[] = { t->local, t->remote };
        for (size_t i = 0; i < G_N_ELEMENTS(ends); i++) {
                struct in6_addr a;
                if (cli_parse_addr(ends[i], &a))
                        return IN6_IS_ADDR_V4MAPPED(&a) ? AF_INET : AF_INET6;
        }
        return AF_UNSPEC;
}

/* verbose: what tmd knows of one tunnel, key by key (JSON: a "details"
 * object). Nothing is printed for a tunnel tmd cannot describe. */
static void append_details(Cli *cli, GString *out, const char *name) {
        DBusMessage *reply = NULL;
        if (cli_call(cli, BH_SERVICE_TMD, &bh_iface_tmd1, "GetTunnel", &reply, DBUS_TYPE_STRING, &name,
                     DBUS_TYPE_INVALID) != 0)
                return;
        if (!dbus_message_has_signature(reply, "a{ss}")) {
                dbus_message_unref(reply);
                return;
        }
        g_autoptr(GPtrArray) keys = g_ptr_array_new();
        g_autoptr(GHashTable) values = g_hash_table_new(g_str_hash, g_str_equal);
        DBusMessageIter it, arr, e;
        dbus_message_iter_init(reply, &it);
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                const char *k, *v;
                dbus_message_iter_recurse(&arr, &e);
                dbus_message_iter_get_basic(&e, &k);
                dbus_message_iter_next(&e);
                dbus_message_iter_get_basic(&e, &v);
                if (!*v || g_hash_table_contains(values, k))
                        continue;
                g_ptr_array_add(keys, (gpointer) k);
                g_hash_table_insert(values, (gpointer) k, (gpointer) v);
        }
        if (cli->json)
                g_string_append(out, ",\"details\":{");
        for (guint i = 0; i < keys->len; i++) {
                const char *k = g_ptr_array_index(keys, i), *v = g_hash_table_lookup(values, k);
                if (cli->json) {
                        if (i)
                                g_string_append_c(out, ',');
                        cli_json_string(out, k);
                        g_string_append_c(out, ':');
                        cli_json_string(out, v);
                } else {
                        g_string_append_printf(out, "       %-22s %s\n", k, v);
                }
        }
        if (cli->json)
                g_string_append_c(out, '}');
        dbus_message_unref(reply);
}

void cli_tunnels_print(Cli *cli, GPtrArray *rows, const char *phase, bool verbose, bool selection) {
        g_autoptr(GString) out = g_string_new(NULL);
        if (cli->json)
                g_string_append(out, "{\"tunnels\":[");
        for (guint i = 0; i < rows->len; i++) {
                const CliTunnel *t = g_ptr_array_index(rows, i);
                bool failed = g_str_has_prefix(t->phase2, "failed: ");
                if (cli->json) {
                        g_string_append_printf(out, "%s{\"number\":%u,\"name\":", i ? "," : "", t->number);
                        cli_json_string(out, t->name);
                        g_string_append(out, ",\"local\":");
                        cli_json_string(out, t->local);
                        g_string_append(out, ",\"remote\":");
                        cli_json_string(out, t->remote);
                        g_string_append(out, ",\"phase1\":");
                        cli_json_string(out, t->phase1);
                        g_string_append(out, ",\"phase2\":");
                        cli_json_string(out, failed ? "failed" : t->phase2);
                        if (failed) {
                                g_string_append(out, ",\"failure\":");
                                cli_json_string(out, t->phase2 + strlen("failed: "));
                        }
                        if (verbose)
                                append_details(cli, out, t->name);
                        g_string_append(out, "}");
                } else {
                        if (i == 0)
                                g_string_append_printf(out, "%-6s %-16s %-20s %-20s %-12s %-12s\n", "Tunnel", "Name",
                                                       "Local", "Remote", "Phase 1", "Phase 2");
                        g_string_append_printf(out, "%-6u %-16s %-20s %-20s %-12s %-12s\n", t->number, t->name,
                                               t->local, t->remote, phase && strcmp(phase, "2") == 0 ? "-" : t->phase1,
                                               phase && strcmp(phase, "1") == 0 ? "-" : t->phase2);
                        if (verbose)
                                append_details(cli, out, t->name);
                }
        }
        if (cli->json)
                g_string_append_printf(out, "],\"count\":%u}\n", rows->len);
        else if (rows->len == 0)
                g_string_append(out, selection ? "No defined tunnel matches the selection.\n"
                                               : "No tunnels are defined.\n");
        fputs(out->str, stdout);
}

int cli_tunnels_each(Cli *cli, GPtrArray *names, const char *member, const char *done) {
        int worst = 0;
        for (guint i = 0; i < names->len; i++) {
                const char *name = g_ptr_array_index(names, i);
                int r = cli_call(cli, BH_SERVICE_TMD, &bh_iface_tmd1, member, NULL, DBUS_TYPE_STRING, &name,
                                 DBUS_TYPE_INVALID);
                if (r == 0) {
                        if (cli->json) {
                                g_autoptr(GString) out = g_string_new("{\"tunnel\":");
                                cli_json_string(out, name);
                                g_string_append_printf(out, ",\"result\":\"%s\"}\n", done);
                                fputs(out->str, stdout);
                        } else {
                                printf("tunnel %s %s\n", name, done);
                        }
                }
                worst = MAX(worst, r);
        }
        return worst;
}
