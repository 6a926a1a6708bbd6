/* SPDX-License-Identifier: ISC */
#pragma once

/* What the command-line tools share: finding the suite's bus, synchronous
 * calls (a command may wait; a service never does), errors mapped to exit
 * codes, and JSON strings. */

#include <dbus/dbus.h>
#include <glib.h>
#include <stdbool.h>

#include "iface.h"
#include "suite.h"

enum {
        CLI_EXIT_OK = 0,
        CLI_EXIT_FAILED = 1,            /* the suite refused or failed */
        CLI_EXIT_USAGE = 2,
        CLI_EXIT_UNREACHABLE = 3,       /* no bus, or the service is not running */
        CLI_EXIT_DENIED = 4,
};

#define CLI_TIMEOUT_MS 30000

typedef struct Cli {
        const char *prog;
        char *address;          /* NULL: the system bus */
        char *run_dir;          /* read RUN_DIR/bus when connecting */
        bool json;
        DBusConnection *conn;
} Cli;

/* Parses --bus, --run-dir, --json, --help, --version wherever they are and
 * moves the other words to argv[1..n); returns n. */
int cli_parse_options(Cli *cli, const char *prog, int argc, char **argv, void (*usage)(int code));
G_NORETURN void cli_usage_error(const char *prog, const char *format, ...) G_GNUC_PRINTF(2, 3);
int cli_connect(Cli *cli);
void cli_done(Cli *cli);
/* Prints "prog: message" and returns code. */
int cli_fail(Cli *cli, int code, const char *format, ...) G_GNUC_PRINTF(3, 4);

/* Calls a method of a suite service; arguments as for
 * dbus_message_append_args. On success *ret_reply holds the reply. Errors are
 * printed and returned as exit codes. */
int cli_call(Cli *cli, BhServiceId service, const BhInterfaceInfo *iface, const char *member,
             DBusMessage **ret_reply, int first_type, ...);
int cli_get_property(Cli *cli, BhServiceId service, const char *interface, const char *property,
                     DBusMessage **ret_reply);
int cli_set_property_string(Cli *cli, BhServiceId service, const char *interface, const char *property,
                            const char *value);

int cli_set_property_u32(Cli *cli, BhServiceId service, const char *interface, const char *property, uint32_t value);

void cli_json_string(GString *out, const char *s);
