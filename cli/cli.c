/* SPDX-License-Identifier: ISC */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

void cli_usage_error(const char *prog, const char *format, ...) {
        va_list ap;
        fprintf(stderr, "%s: ", prog);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fprintf(stderr, "\nTry '%s --help'.\n", prog);
        exit(CLI_EXIT_USAGE);
}

int cli_fail(Cli *cli, int code, const char *format, ...) {
        va_list ap;
        fprintf(stderr, "%s: ", cli->prog);
        va_start(ap, format);
        vfprintf(stderr, format, ap);
        va_end(ap);
        fputc('\n', stderr);
        return code;
}

static char *read_bus_file(Cli *cli, const char *run_dir) {
        g_autofree char *path = g_build_filename(run_dir, "bus", NULL);
        g_autofree char *text = NULL;
        if (!g_file_get_contents(path, &text, NULL, NULL))
                return NULL;
        return g_strdup(g_strstrip(text));
}

int cli_parse_options(Cli *cli, const char *prog, int argc, char **argv, void (*usage)(int code)) {
        cli->prog = prog;
        int n = 1;      /* options anywhere; the other words move to argv[1..n) */
        bool words_only = false;
        for (int i = 1; i < argc; i++) {
                const char *a = argv[i];
                if (words_only || a[0] != '-' || (a[1] != '-' && a[1] != 'h')) {
                        argv[n++] = argv[i];
                } else if (strcmp(a, "--") == 0) {
                        words_only = true;
                } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
                        usage(0);
                } else if (strcmp(a, "--version") == 0) {
                        printf("%s %s\n", prog, BULKHEAD_VERSION);
                        exit(0);
                } else if (strcmp(a, "--json") == 0) {
                        cli->json = true;
                } else if (strcmp(a, "--bus") == 0 || strcmp(a, "--run-dir") == 0) {
                        if (i + 1 >= argc)
                                cli_usage_error(prog, "%s needs a value", a);
                        char **slot = strcmp(a, "--bus") == 0 ? &cli->address : &cli->run_dir;
                        g_free(*slot);
                        *slot = g_strdup(argv[++i]);
                } else {
                        cli_usage_error(prog, "unknown option %s", a);
                }
        }
        argv[n] = NULL;
        return n;
}

int cli_connect(Cli *cli) {
        DBusError err;
        dbus_error_init(&err);
        if (!cli->address && cli->run_dir) {
                cli->address = read_bus_file(cli, cli->run_dir);
                if (!cli->address)
                        return cli_fail(cli, CLI_EXIT_UNREACHABLE, "no suite runs in %s (no %s/bus)", cli->run_dir,
                                        cli->run_dir);
        }
        if (!cli->address && getenv("BULKHEAD_BUS_ADDRESS") && *getenv("BULKHEAD_BUS_ADDRESS"))
                cli->address = g_strdup(getenv("BULKHEAD_BUS_ADDRESS"));
        if (cli->address) {
                cli->conn = dbus_connection_open_private(cli->address, &err);
                if (cli->conn && !dbus_bus_register(cli->conn, &err)) {
                        dbus_connection_close(cli->conn);
                        dbus_connection_unref(cli->conn);
                        cli->conn = NULL;
                }
        } else {
                cli->conn = dbus_bus_get_private(DBUS_BUS_SYSTEM, &err);
        }
        if (!cli->conn) {
                int r = cli_fail(cli, CLI_EXIT_UNREACHABLE, "cannot reach the suite's bus %s: %s",
                                 cli->address ? cli->address : "(system bus)", err.message);
                dbus_error_free(&err);
                return r;
        }
        dbus_connection_set_exit_on_disconnect(cli->conn, FALSE);
        return 0;
}

void cli_done(Cli *cli) {
        if (cli->conn) {
                dbus_connection_close(cli->conn);
                dbus_connection_unref(cli->conn);
        }
        g_free(cli->address);
        g_free(cli->run_dir);
}

static int send_and_check(Cli *cli, DBusMessage *m, const char *what, DBusMessage **ret_reply) {
        DBusError err;
        dbus_error_init(&err);
        DBusMessage *reply = dbus_connection_send_with_reply_and_block(cli->conn, m, CLI_TIMEOUT_MS, &err);
        dbus_message_unref(m);
        if (reply) {
                if (ret_reply)
                        *ret_reply = reply;
                else
                        dbus_message_unref(reply);
                return 0;
        }
        int code = CLI_EXIT_FAILED;
        if (dbus_error_has_name(&err, DBUS_ERROR_ACCESS_DENIED))
                code = CLI_EXIT_DENIED;
        else if (dbus_error_has_name(&err, DBUS_ERROR_SERVICE_UNKNOWN) ||
                 dbus_error_has_name(&err, DBUS_ERROR_NAME_HAS_NO_OWNER) ||
                 dbus_error_has_name(&err, DBUS_ERROR_NO_REPLY) || dbus_error_has_name(&err, DBUS_ERROR_DISCONNECTED))
                code = CLI_EXIT_UNREACHABLE;
        int r;
        if (code == CLI_EXIT_DENIED)
                r = cli_fail(cli, code, "%s: permission denied: %s", what, err.message);
        else if (dbus_error_has_name(&err, DBUS_ERROR_SERVICE_UNKNOWN) ||
                 dbus_error_has_name(&err, DBUS_ERROR_NAME_HAS_NO_OWNER))
                r = cli_fail(cli, code, "%s: the service is not running (is the suite started?)", what);
        else
                r = cli_fail(cli, code, "%s: %s (%s)", what, err.message, err.name);
        dbus_error_free(&err);
        return r;
}

int cli_call(Cli *cli, BhServiceId service, const BhInterfaceInfo *iface, const char *member,
             DBusMessage **ret_reply, int first_type, ...) {
        const BhSuiteEntry *e = &bh_suite[service];
        DBusMessage *m = dbus_message_new_method_call(e->bus_name, e->path, iface->name, member);
        va_list ap;
        va_start(ap, first_type);
        dbus_message_append_args_valist(m, first_type, ap);
        va_end(ap);
        g_autofree char *what = g_strdup_printf("%s %s", e->name, member);
        return send_and_check(cli, m, what, ret_reply);
}

int cli_get_property(Cli *cli, BhServiceId service, const char *interface, const char *property,
                     DBusMessage **ret_reply) {
        const BhSuiteEntry *e = &bh_suite[service];
        DBusMessage *m = dbus_message_new_method_call(e->bus_name, e->path, DBUS_INTERFACE_PROPERTIES, "Get");
        dbus_message_append_args(m, DBUS_TYPE_STRING, &interface, DBUS_TYPE_STRING, &property, DBUS_TYPE_INVALID);
        g_autofree char *what = g_strdup_printf("%s %s", e->name, property);
        return send_and_check(cli, m, what, ret_reply);
}

int cli_set_property_string(Cli *cli, BhServiceId service, const char *interface, const char *property,
                            const char *value) {
        const BhSuiteEntry *e = &bh_suite[service];
        DBusMessage *m = dbus_message_new_method_call(e->bus_name, e->path, DBUS_INTERFACE_PROPERTIES, "Set");
        DBusMessageIter it, var;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &interface);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &property);
        dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, "s", &var);
        dbus_message_iter_append_basic(&var, DBUS_TYPE_STRING, &value);
        dbus_message_iter_close_container(&it, &var);
        g_autofree char *what = g_strdup_printf("setting %s %s", e->name, property);
        return send_and_check(cli, m, what, NULL);
}

int cli_set_property_u32(Cli *cli, BhServiceId service, const char *interface, const char *property, uint32_t value) {
        const BhSuiteEntry *e = &bh_suite[service];
        DBusMessage *m = dbus_message_new_method_call(e->bus_name, e->path, DBUS_INTERFACE_PROPERTIES, "Set");
        DBusMessageIter it, var;
        dbus_uint32_t v = value;
        dbus_message_iter_init_append(m, &it);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &interface);
        dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &property);
        dbus_message_iter_open_container(&it, DBUS_TYPE_VARIANT, "u", &var);
        dbus_message_iter_append_basic(&var, DBUS_TYPE_UINT32, &v);
        dbus_message_iter_close_container(&it, &var);
        g_autofree char *what = g_strdup_printf("setting %s %s", e->name, property);
        return send_and_check(cli, m, what, NULL);
}

void cli_json_string(GString *out, const char *s) {
        g_string_append_c(out, '"');
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                switch (*p) {
                case '"':
                        g_string_append(out, "\\\"");
                        break;
                case '\\':
                        g_string_append(out, "\\\\");
                        break;
                case '\n':
                        g_string_append(out, "\\n");
                        break;
                case '\t':
                        g_string_append(out, "\\t");
                        break;
                default:
                        if (*p < 0x20)
                                g_string_append_printf(out, "\\u%04x", *p);
                        else
                                g_string_append_c(out, (char) *p);
                }
        }
        g_string_append_c(out, '"');
}
