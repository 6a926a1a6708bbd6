/* SPDX-License-Identifier: ISC */
/* The bus policy, made from the same tables the dispatchers check: who may
 * own each suite name (the process table) and who may call each method (the
 * org.bulkhead.Access annotations of the interface XML). One source, two
 * outputs: the embedded bus's configuration and the system bus's system.d
 * file. The dispatcher checks again behind it. */
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "buspolicy.h"
#include "config.h"

/* org.bulkhead.Tmd1 lives at org.bulkhead.Tmd; Service1 (and Test1) on
 * every service. */
static bool iface_on_service(const BhInterfaceInfo *iface, const BhSuiteEntry *e) {
        if (strcmp(iface->name, bh_iface_service1.name) == 0)
                return true;
#if BULKHEAD_TEST_HOOKS
        if (strcmp(iface->name, bh_iface_test1.name) == 0)
                return e->id != BH_SERVICE_SUPERVISOR;
#endif
        size_t n = strlen(e->bus_name);
        if (strncmp(iface->name, e->bus_name, n) != 0)
                return false;
        const char *rest = iface->name + n;
        if (!*rest)
                return false;
        for (; *rest; rest++)
                if (*rest < '0' || *rest > '9')
                        return false;
        return true;
}

static void allow_send(GString *s, const BhSuiteEntry *e, const char *iface, const char *member) {
        g_string_append_printf(s, "    <allow send_destination=\"%s\" send_interface=\"%s\"", e->bus_name, iface);
        if (member)
                g_string_append_printf(s, " send_member=\"%s\"", member);
        g_string_append(s, "/>\n");
}

/* Every method whose access mask shares a bit with `mask`, on every service. */
static void allow_methods(GString *s, uint32_t mask) {
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                const BhSuiteEntry *e = &bh_suite[i];
                for (const BhInterfaceInfo *const *ip = bh_interfaces; *ip; ip++) {
                        if (!iface_on_service(*ip, e))
                                continue;
                        for (const BhMethodInfo *m = (*ip)->methods; m->name; m++)
                                if (m->access & mask)
                                        allow_send(s, e, (*ip)->name, m->name);
                }
        }
}

static void default_policy(GString *s, bool embedded) {
        g_string_append(s, "  <policy context=\"default\">\n");
        if (embedded)
                /* What the system bus's own system.conf gives everyone. */
                g_string_append(s, "    <!-- Any local user may connect: to list tunnels, read counters. -->\n"
                                   "    <allow user=\"*\"/>\n"
                                   "    <allow send_destination=\"*\"/>\n"
                                   "    <allow send_type=\"signal\"/>\n"
                                   "    <allow send_requested_reply=\"true\" send_type=\"method_return\"/>\n"
                                   "    <allow send_requested_reply=\"true\" send_type=\"error\"/>\n"
                                   "    <allow receive_type=\"method_call\"/>\n"
                                   "    <allow receive_type=\"method_return\"/>\n"
                                   "    <allow receive_type=\"error\"/>\n"
                                   "    <allow receive_type=\"signal\"/>\n");
        g_string_append(s, "    <!-- Nobody owns a suite name but its service's user (below). -->\n"
                           "    <deny own_prefix=\"org.bulkhead\"/>\n"
                           "    <!-- Nothing reaches a service unless a rule below allows it. -->\n");
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                g_string_append_printf(s, "    <deny send_destination=\"%s\"/>\n", bh_suite[i].bus_name);
        g_string_append(s, "    <!-- Reading is open: introspection, properties, ping. -->\n");
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                const BhSuiteEntry *e = &bh_suite[i];
                allow_send(s, e, "org.freedesktop.DBus.Introspectable", NULL);
                allow_send(s, e, "org.freedesktop.DBus.Peer", NULL);
                allow_send(s, e, "org.freedesktop.DBus.Properties", "Get");
                allow_send(s, e, "org.freedesktop.DBus.Properties", "GetAll");
        }
        g_string_append(s, "    <!-- Methods any local user may call. -->\n");
        allow_methods(s, BH_ACCESS_ANY);
        g_string_append(s, "  </policy>\n");
}

static void admin_policy(GString *s, const char *attr, const char *who) {
        g_string_append_printf(s, "  <policy %s=\"%s\">\n", attr, who);
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                allow_send(s, &bh_suite[i], "org.freedesktop.DBus.Properties", "Set");
        allow_methods(s, BH_ACCESS_ADMIN);
        g_string_append(s, "  </policy>\n");
}

static void service_policy(GString *s, const BhSuiteEntry *e) {
        g_string_append_printf(s, "  <policy user=\"%s\">\n", e->user);
        g_string_append_printf(s, "    <allow own=\"%s\"/>\n", e->bus_name);
        allow_methods(s, BH_ACCESS_SUITE | e->access_bit);
        /* Its own signals reach the other services too: the default
         * policy's deny rules name them as destinations, and a broadcast
         * is checked against each receiver's names. */
        for (const BhInterfaceInfo *const *ip = bh_interfaces; *ip; ip++) {
                if (!iface_on_service(*ip, e) || !(*ip)->signals || !(*ip)->signals->name)
                        continue;
                for (int i = 0; i < _BH_SERVICE_MAX; i++)
                        g_string_append_printf(s, "    <allow send_type=\"signal\" send_interface=\"%s\" "
                                                  "send_destination=\"%s\"/>\n",
                                               (*ip)->name, bh_suite[i].bus_name);
        }
        g_string_append(s, "  </policy>\n");
}

char *bh_bus_policy(BhBusPolicyMode mode, const char *listen_address) {
        bool embedded = mode == BH_BUS_POLICY_EMBEDDED;
        GString *s = g_string_new("<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
                                  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
                                  "<!-- Generated from Bulkhead's process table and interface XML. -->\n"
                                  "<busconfig>\n");
        if (embedded) {
                g_autofree char *escaped = g_markup_escape_text(listen_address, -1);
                g_string_append_printf(s,
                                       "  <type>bulkhead</type>\n"
                                       "  <listen>%s</listen>\n"
                                       "  <auth>EXTERNAL</auth>\n",
                                       escaped);
        }
        default_policy(s, embedded);
        /* Administrators: root, and members of the bulkhead group. */
        if (!embedded || getgrnam("bulkhead"))
                admin_policy(s, "group", "bulkhead");
        g_string_append(s, "  <policy user=\"root\">\n"
                           "    <allow own_prefix=\"org.bulkhead\"/>\n");
        for (int i = 0; i < _BH_SERVICE_MAX; i++)
                g_string_append_printf(s, "    <allow send_destination=\"%s\"/>\n", bh_suite[i].bus_name);
        g_string_append(s, "  </policy>\n");
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                const BhSuiteEntry *e = &bh_suite[i];
                if (strcmp(e->user, "root") == 0)
                        continue;
                /* The embedded bus names only users that exist, as the
                 * supervisor falls back to running services as root. */
                if (embedded && !getpwnam(e->user))
                        continue;
                service_policy(s, e);
        }
        if (embedded)
                g_string_append(s, "  <limit name=\"max_incoming_bytes\">16777216</limit>\n"
                                   "  <limit name=\"max_outgoing_bytes\">16777216</limit>\n"
                                   "  <limit name=\"max_message_size\">4194304</limit>\n"
                                   "  <limit name=\"max_replies_per_connection\">4096</limit>\n"
                                   "  <limit name=\"max_match_rules_per_connection\">512</limit>\n");
        g_string_append(s, "</busconfig>\n");
        return g_string_free(s, FALSE);
}
