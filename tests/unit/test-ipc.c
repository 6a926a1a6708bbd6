/* SPDX-License-Identifier: ISC */
/* The IPC layer without a bus: who may call what (bh_caller_allowed), the
 * interface tables generated from the XML, the suite table's look-ups, and
 * bh_ipc_add_object() refusing a C table that does not match the XML. */
#include <dbus/dbus.h>
#include <glib.h>
#include <string.h>

#include "ipc.h"

#define ALL_ACCESS_BITS                                                                                      \
        (BH_ACCESS_ANY | BH_ACCESS_ADMIN | BH_ACCESS_SUITE | BH_ACCESS_SUPERVISOR | BH_ACCESS_TMD |            \
         BH_ACCESS_ISAKMPD | BH_ACCESS_CRYPTOD | BH_ACCESS_FILTERD | BH_ACCESS_LOGD | BH_ACCESS_STATD)

/* ------------------------------------------------------------ bh_caller_allowed */

static const struct {
        const char *what;
        BhCaller caller;
        uint32_t access;
        bool allowed;
} caller_cases[] = {
        /* Nobody in particular: a local user the bus could not identify. */
        { "unknown, any", { BH_SERVICE_NONE, false, 0, false, ":1.1" }, BH_ACCESS_ANY, true },
        { "unknown, admin", { BH_SERVICE_NONE, false, 0, false, ":1.1" }, BH_ACCESS_ADMIN, false },
        { "unknown, suite", { BH_SERVICE_NONE, false, 0, false, ":1.1" }, BH_ACCESS_SUITE, false },
        { "unknown, tmd", { BH_SERVICE_NONE, false, 0, false, ":1.1" }, BH_ACCESS_TMD, false },
        { "unknown, suite admin", { BH_SERVICE_NONE, false, 0, false, ":1.1" }, BH_ACCESS_SUITE | BH_ACCESS_ADMIN,
          false },
        { "unknown, nothing", { BH_SERVICE_NONE, false, 0, false, ":1.1" }, 0, false },
        /* An admin flag without a known uid must not count. */
        { "admin flag, uid unknown, admin", { BH_SERVICE_NONE, false, 0, true, ":1.2" }, BH_ACCESS_ADMIN, false },
        { "admin flag, uid unknown, suite admin", { BH_SERVICE_NONE, false, 0, true, ":1.2" },
          BH_ACCESS_SUITE | BH_ACCESS_ADMIN, false },
        /* A plain local user. */
        { "user, any", { BH_SERVICE_NONE, true, 1000, false, ":1.3" }, BH_ACCESS_ANY, true },
        { "user, admin", { BH_SERVICE_NONE, true, 1000, false, ":1.3" }, BH_ACCESS_ADMIN, false },
        { "user, suite", { BH_SERVICE_NONE, true, 1000, false, ":1.3" }, BH_ACCESS_SUITE, false },
        { "user, statd", { BH_SERVICE_NONE, true, 1000, false, ":1.3" }, BH_ACCESS_STATD, false },
        { "user, suite admin", { BH_SERVICE_NONE, true, 1000, false, ":1.3" }, BH_ACCESS_SUITE | BH_ACCESS_ADMIN,
          false },
        { "user, nothing", { BH_SERVICE_NONE, true, 1000, false, ":1.3" }, 0, false },
        /* Root, and a member of the bulkhead group. */
        { "root, any", { BH_SERVICE_NONE, true, 0, true, ":1.4" }, BH_ACCESS_ANY, true },
        { "root, admin", { BH_SERVICE_NONE, true, 0, true, ":1.4" }, BH_ACCESS_ADMIN, true },
        { "root, suite admin", { BH_SERVICE_NONE, true, 0, true, ":1.4" }, BH_ACCESS_SUITE | BH_ACCESS_ADMIN,
          true },
        { "root, suite", { BH_SERVICE_NONE, true, 0, true, ":1.4" }, BH_ACCESS_SUITE, false },
        { "root, cryptod", { BH_SERVICE_NONE, true, 0, true, ":1.4" }, BH_ACCESS_CRYPTOD, false },
        { "root, isakmpd cryptod", { BH_SERVICE_NONE, true, 0, true, ":1.4" },
          BH_ACCESS_ISAKMPD | BH_ACCESS_CRYPTOD, false },
        { "root, nothing", { BH_SERVICE_NONE, true, 0, true, ":1.4" }, 0, false },
        { "group member, admin", { BH_SERVICE_NONE, true, 1000, true, ":1.5" }, BH_ACCESS_ADMIN, true },
        { "group member, filterd admin", { BH_SERVICE_NONE, true, 1000, true, ":1.5" },
          BH_ACCESS_FILTERD | BH_ACCESS_ADMIN, true },
        /* A peer connection: no sender, identity from the token. */
        { "peer isakmpd, isakmpd", { BH_SERVICE_ISAKMPD, false, 0, false, NULL }, BH_ACCESS_ISAKMPD,
          true },
        { "peer isakmpd, cryptod", { BH_SERVICE_ISAKMPD, false, 0, false, NULL }, BH_ACCESS_CRYPTOD, false },
        { "peer root, admin", { BH_SERVICE_NONE, true, 0, true, NULL }, BH_ACCESS_ADMIN, true },
};

static void test_caller_table(void) {
        for (size_t i = 0; i < G_N_ELEMENTS(caller_cases); i++) {
                bool got = bh_caller_allowed(&caller_cases[i].caller, caller_cases[i].access);
                if (got != caller_cases[i].allowed)
                        g_test_message("case \"%s\": access 0x%x: allowed %d, expected %d", caller_cases[i].what,
                                       caller_cases[i].access, got, caller_cases[i].allowed);
                g_assert_cmpint(got, ==, caller_cases[i].allowed);
        }
}

static const uint32_t service_bits[] = {
        BH_ACCESS_SUPERVISOR, BH_ACCESS_TMD,     BH_ACCESS_ISAKMPD, BH_ACCESS_CRYPTOD,
        BH_ACCESS_FILTERD,    BH_ACCESS_LOGD,    BH_ACCESS_STATD,
};

/* Every service as the caller, uid unknown, a plain uid, an admin uid:
 * against each single principal and a few combinations. */
static void test_caller_services(void) {
        const struct {
                bool uid_known;
                uid_t uid;
                bool admin;
        } ids[] = { { false, 0, false }, { true, 991, false }, { true, 0, true } };
        for (int s = 0; s < _BH_SERVICE_MAX; s++) {
                for (size_t k = 0; k < G_N_ELEMENTS(ids); k++) {
                        BhCaller c = { (BhServiceId) s, ids[k].uid_known, ids[k].uid, ids[k].admin, ":1.9" };
                        bool is_admin = ids[k].uid_known && ids[k].admin;
                        g_test_message("%s, uid %s%s", bh_suite[s].name, ids[k].uid_known ? "known" : "unknown",
                                       ids[k].admin ? " (admin)" : "");
                        g_assert_true(bh_caller_allowed(&c, BH_ACCESS_ANY));
                        g_assert_true(bh_caller_allowed(&c, BH_ACCESS_SUITE));
                        g_assert_true(bh_caller_allowed(&c, BH_ACCESS_SUITE | BH_ACCESS_ADMIN));
                        g_assert_cmpint(bh_caller_allowed(&c, BH_ACCESS_ADMIN), ==, is_admin);
                        g_assert_false(bh_caller_allowed(&c, 0));
                        for (size_t b = 0; b < G_N_ELEMENTS(service_bits); b++) {
                                bool own = service_bits[b] == bh_suite[s].access_bit;
                                g_assert_cmpint(bh_caller_allowed(&c, service_bits[b]), ==, own);
                                g_assert_cmpint(bh_caller_allowed(&c, service_bits[b] | BH_ACCESS_ADMIN), ==,
                                                own || is_admin);
                        }
                        /* Every service bit but its own. */
                        uint32_t others = 0;
                        for (size_t b = 0; b < G_N_ELEMENTS(service_bits); b++)
                                if (service_bits[b] != bh_suite[s].access_bit)
                                        others |= service_bits[b];
                        g_assert_false(bh_caller_allowed(&c, others));
                }
        }
}

static void test_caller_describe(void) {
        char buf[128];
        BhCaller tmd = { BH_SERVICE_TMD, true, 991, false, ":1.7" };
        bh_caller_describe(&tmd, buf, sizeof buf);
        g_assert_nonnull(strstr(buf, "tmd"));
        g_assert_nonnull(strstr(buf, ":1.7"));
        g_assert_nonnull(strstr(buf, "991"));
        BhCaller peer = { BH_SERVICE_NONE, false, 0, false, NULL };
        bh_caller_describe(&peer, buf, sizeof buf);
        g_assert_nonnull(strstr(buf, "peer"));
        /* Cut, never overrun. */
        char small[8];
        memset(small, 'x', sizeof small);
        bh_caller_describe(&tmd, small, sizeof small);
        g_assert_cmpuint(strlen(small), ==, sizeof small - 1);
}

/* ------------------------------------------------------------ the interface tables */

static const char *const known_interfaces[] = {
        "org.bulkhead.Service1", "org.bulkhead.Supervisor1", "org.bulkhead.Tmd1",   "org.bulkhead.Isakmpd1",
        "org.bulkhead.Crypto1",  "org.bulkhead.Filter1",     "org.bulkhead.Logger1", "org.bulkhead.Stats1",
};

static const BhInterfaceInfo *find_interface(const char *name) {
        for (const BhInterfaceInfo *const *i = bh_interfaces; *i; i++)
                if (strcmp((*i)->name, name) == 0)
                        return *i;
        return NULL;
}

static void test_interfaces(void) {
        size_t n = 0;
        for (const BhInterfaceInfo *const *i = bh_interfaces; *i; i++, n++) {
                const BhInterfaceInfo *iface = *i;
                const char *name = iface->name;
                g_test_message("interface %s", name);
                g_assert_nonnull(name);
                g_assert_true(dbus_validate_interface(name, NULL));
                g_assert_true(g_str_has_prefix(name, "org.bulkhead."));
                size_t len = strlen(name);
                g_assert_true(g_ascii_isdigit(name[len - 1]));
                /* Listed once. */
                for (const BhInterfaceInfo *const *j = i + 1; *j; j++)
                        g_assert_cmpstr((*j)->name, !=, name);
                /* Introspect answers with the same XML. */
                g_autofree char *open = g_strdup_printf("<interface name=\"%s\">", name);
                g_assert_nonnull(iface->xml);
                g_assert_nonnull(strstr(iface->xml, open));
                g_assert_nonnull(iface->methods);
                g_assert_nonnull(iface->properties);
                g_assert_nonnull(iface->signals);

                for (const BhMethodInfo *m = iface->methods; m->name; m++) {
                        g_test_message("  method %s (%s) -> (%s), access 0x%x", m->name, m->in_sig, m->out_sig,
                                       m->access);
                        g_assert_true(dbus_validate_member(m->name, NULL));
                        g_assert_true(dbus_signature_validate(m->in_sig, NULL));
                        g_assert_true(dbus_signature_validate(m->out_sig, NULL));
                        g_assert_cmpuint(m->access, !=, 0);
                        g_assert_cmpuint(m->access & ~(uint32_t) ALL_ACCESS_BITS, ==, 0);
                        /* A method nobody waits for cannot answer anything. */
                        if (m->no_reply)
                                g_assert_cmpstr(m->out_sig, ==, "");
                        g_autofree char *decl = g_strdup_printf("<method name=\"%s\">", m->name);
                        g_assert_nonnull(strstr(iface->xml, decl));
                        for (const BhMethodInfo *o = m + 1; o->name; o++)
                                g_assert_cmpstr(o->name, !=, m->name);
                }
                for (const BhPropertyInfo *p = iface->properties; p->name; p++) {
                        g_test_message("  property %s %s%s, access 0x%x", p->name, p->type,
                                       p->writable ? " writable" : "", p->access);
                        g_assert_true(dbus_validate_member(p->name, NULL));
                        g_assert_true(dbus_signature_validate_single(p->type, NULL));
                        g_assert_cmpuint(p->access & ~(uint32_t) ALL_ACCESS_BITS, ==, 0);
                        if (p->writable)
                                g_assert_cmpuint(p->access, !=, 0);
                        for (const BhPropertyInfo *o = p + 1; o->name; o++)
                                g_assert_cmpstr(o->name, !=, p->name);
                }
                for (const BhSignalInfo *s = iface->signals; s->name; s++) {
                        g_assert_true(dbus_validate_member(s->name, NULL));
                        g_assert_true(dbus_signature_validate(s->sig, NULL));
                }
        }
        g_assert_cmpuint(n, >=, G_N_ELEMENTS(known_interfaces));
        for (size_t k = 0; k < G_N_ELEMENTS(known_interfaces); k++)
                g_assert_nonnull(find_interface(known_interfaces[k]));
        g_assert_true(find_interface("org.bulkhead.Service1") == &bh_iface_service1);
}

/* Service1 is what the CLI and busctl count on in every service. */
static void test_service1_shape(void) {
        static const char *const methods[] = { "Ping", "Mark", "OpenPeer", "BindPeer" };
        for (size_t i = 0; i < G_N_ELEMENTS(methods); i++) {
                const BhMethodInfo *m = bh_iface_service1.methods;
                while (m->name && strcmp(m->name, methods[i]) != 0)
                        m++;
                g_assert_nonnull(m->name);
        }
        const BhMethodInfo *m = bh_iface_service1.methods;
        while (strcmp(m->name, "Ping") != 0)
                m++;
        g_assert_cmpuint(m->access, ==, BH_ACCESS_ANY);
        const BhPropertyInfo *p = bh_iface_service1.properties;
        while (p->name && strcmp(p->name, "LogLevel") != 0)
                p++;
        g_assert_nonnull(p->name);
        g_assert_true(p->writable);
        g_assert_false(p->access & BH_ACCESS_ANY);
}

/* ------------------------------------------------------------ the suite table */

static void test_suite_lookup(void) {
        static const uint32_t bits[_BH_SERVICE_MAX] = {
                [BH_SERVICE_SUPERVISOR] = BH_ACCESS_SUPERVISOR, [BH_SERVICE_LOGD] = BH_ACCESS_LOGD,
                [BH_SERVICE_STATD] = BH_ACCESS_STATD,           [BH_SERVICE_CRYPTOD] = BH_ACCESS_CRYPTOD,
                [BH_SERVICE_FILTERD] = BH_ACCESS_FILTERD,       [BH_SERVICE_ISAKMPD] = BH_ACCESS_ISAKMPD,
                [BH_SERVICE_TMD] = BH_ACCESS_TMD,
        };
        uint32_t seen_bits = 0;
        for (int i = 0; i < _BH_SERVICE_MAX; i++) {
                const BhSuiteEntry *e = &bh_suite[i];
                g_test_message("%s %s %s", e->name, e->bus_name, e->path);
                g_assert_cmpint(e->id, ==, i);
                g_assert_true(bh_suite_by_name(e->name) == e);
                g_assert_true(bh_suite_by_name(e->bus_name) == e);
                g_assert_true(bh_suite_by_bus_name(e->bus_name) == e);
                g_assert_null(bh_suite_by_bus_name(e->name));
                g_assert_true(dbus_validate_bus_name(e->bus_name, NULL));
                g_assert_true(g_str_has_prefix(e->bus_name, "org.bulkhead."));
                g_assert_true(dbus_validate_path(e->path, NULL));
                g_assert_true(g_str_has_prefix(e->path, "/org/bulkhead/"));
                /* /org/bulkhead/<Service> for org.bulkhead.<Service>. */
                g_assert_cmpstr(e->path + strlen("/org/bulkhead/"), ==, e->bus_name + strlen("org.bulkhead."));
                g_assert_cmpuint(e->access_bit, ==, bits[i]);
                g_assert_cmpuint(e->access_bit & seen_bits, ==, 0);
                seen_bits |= e->access_bit;
                /* Case and decoration matter: names are compared exactly. */
                g_autofree char *upper = g_ascii_strup(e->name, -1);
                g_assert_null(bh_suite_by_name(upper));
                g_autofree char *spaced = g_strdup_printf("%s ", e->name);
                g_assert_null(bh_suite_by_name(spaced));
                g_autofree char *prefix = g_strndup(e->bus_name, strlen(e->bus_name) - 1);
                g_assert_null(bh_suite_by_name(prefix));
                g_assert_null(bh_suite_by_bus_name(prefix));
                g_autofree char *longer = g_strdup_printf("%s1", e->bus_name);
                g_assert_null(bh_suite_by_bus_name(longer));
                g_assert_null(bh_suite_by_name(e->path));
        }
        static const char *const unknown[] = { "", "nope", "org.bulkhead", "org.bulkhead.", "org.bulkhead.Nope",
                                               "org.freedesktop.DBus", "bulkhead-tmd", ":1.1" };
        for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++) {
                g_assert_null(bh_suite_by_name(unknown[i]));
                g_assert_null(bh_suite_by_bus_name(unknown[i]));
        }
        g_assert_null(bh_suite_by_name(NULL));
        g_assert_null(bh_suite_by_bus_name(NULL));
}

/* ------------------------------------------------------------ bh_ipc_add_object */

static void handler(BhCall *call, void *userdata) {
        bh_call_return_empty(call);
}

static void getter(DBusMessageIter *iter, void *userdata) {
}

static void setter(BhCall *call, DBusMessageIter *value, void *userdata) {
        bh_call_return_empty(call);
}

static const BhMethodImpl stats_exact[] = { { "GetCounters", handler }, { "Reset", handler }, {} };
static const BhMethodImpl stats_reordered[] = { { "Reset", handler }, { "GetCounters", handler }, {} };
static const BhMethodImpl stats_missing[] = { { "GetCounters", handler }, {} };
static const BhMethodImpl stats_extra[] = {
        { "GetCounters", handler }, { "Reset", handler }, { "Bogus", handler }, {},
};
static const BhMethodImpl stats_no_func[] = { { "GetCounters", handler }, { "Reset", NULL }, {} };
static const BhMethodImpl stats_twice[] = { { "GetCounters", handler }, { "GetCounters", handler }, {} };
static const BhMethodImpl stats_none[] = { {} };

static const BhMethodImpl service_methods[] = {
        { "Ping", handler }, { "Mark", handler }, { "OpenPeer", handler }, { "BindPeer", handler }, {},
};
static const BhPropertyImpl service_exact[] = {
        { "Name", getter, NULL },           { "Version", getter, NULL },   { "Pid", getter, NULL },
        { "LogLevel", getter, setter },     { "LogDropped", getter, NULL }, {},
};
static const BhPropertyImpl service_readonly[] = {
        { "Name", getter, NULL },           { "Version", getter, NULL },   { "Pid", getter, NULL },
        { "LogLevel", getter, NULL },       { "LogDropped", getter, NULL }, {},
};
static const BhPropertyImpl service_writable[] = {
        { "Name", getter, setter },         { "Version", getter, NULL },   { "Pid", getter, NULL },
        { "LogLevel", getter, setter },     { "LogDropped", getter, NULL }, {},
};
static const BhPropertyImpl service_prop_missing[] = {
        { "Name", getter, NULL }, { "Version", getter, NULL }, { "Pid", getter, NULL },
        { "LogLevel", getter, setter }, {},
};
static const BhPropertyImpl service_prop_extra[] = {
        { "Name", getter, NULL },       { "Version", getter, NULL },    { "Pid", getter, NULL },
        { "LogLevel", getter, setter }, { "LogDropped", getter, NULL }, { "Bogus", getter, NULL },
        {},
};
static const BhPropertyImpl service_no_getter[] = {
        { "Name", NULL, NULL },         { "Version", getter, NULL },    { "Pid", getter, NULL },
        { "LogLevel", getter, setter }, { "LogDropped", getter, NULL }, {},
};
static const BhPropertyImpl service_prop_twice[] = {
        { "Name", getter, NULL },       { "Version", getter, NULL }, { "Pid", getter, NULL },
        { "LogLevel", getter, setter }, { "Name", getter, NULL },    {},
};
/* An interface that declares no method at all (properties only). */
static const BhMethodInfo bare_methods[] = { { NULL } };
static const BhPropertyInfo bare_properties[] = { { "Handles", "u", false, BH_ACCESS_ANY }, { NULL } };
static const BhSignalInfo bare_signals[] = { { NULL } };
static const BhInterfaceInfo bare_iface = {
        .name = "org.bulkhead.Bare1",
        .xml = "<interface name=\"org.bulkhead.Bare1\"/>\n",
        .methods = bare_methods,
        .properties = bare_properties,
        .signals = bare_signals,
};
static const BhPropertyImpl crypto_exact[] = { { "Handles", getter, NULL }, {} };
static const BhMethodImpl crypto_extra[] = { { "Ping", handler }, {} };

typedef struct AddCase {
        const char *path;       /* of the GTest case */
        const BhInterfaceInfo *iface;
        const BhMethodImpl *methods;
        const BhPropertyImpl *properties;
        const char *stderr_pattern;     /* NULL: must be accepted */
} AddCase;

static const AddCase add_cases[] = {
        { "/ipc/add-object/exact", &bh_iface_stats1, stats_exact, NULL, NULL },
        { "/ipc/add-object/reordered", &bh_iface_stats1, stats_reordered, NULL, NULL },
        { "/ipc/add-object/properties-exact", &bh_iface_service1, service_methods, service_exact, NULL },
        { "/ipc/add-object/no-methods-declared", &bare_iface, NULL, crypto_exact, NULL },
        { "/ipc/add-object/method-missing", &bh_iface_stats1, stats_missing, NULL, "*org.bulkhead.Stats1*" },
        { "/ipc/add-object/methods-empty", &bh_iface_stats1, stats_none, NULL, "*org.bulkhead.Stats1*" },
        { "/ipc/add-object/methods-null", &bh_iface_stats1, NULL, NULL, "*org.bulkhead.Stats1*" },
        { "/ipc/add-object/method-extra", &bh_iface_stats1, stats_extra, NULL, "*org.bulkhead.Stats1*Bogus*" },
        { "/ipc/add-object/method-no-handler", &bh_iface_stats1, stats_no_func, NULL, "*org.bulkhead.Stats1*Reset*" },
        /* Two rows for one method hide the one that is missing. */
        { "/ipc/add-object/method-twice", &bh_iface_stats1, stats_twice, NULL, "*org.bulkhead.Stats1*" },
        { "/ipc/add-object/method-on-interface-without", &bare_iface, crypto_extra, crypto_exact,
          "*org.bulkhead.Bare1*Ping*" },
        { "/ipc/add-object/property-not-writable", &bh_iface_service1, service_methods, service_readonly,
          "*org.bulkhead.Service1*LogLevel*" },
        { "/ipc/add-object/property-not-read-only", &bh_iface_service1, service_methods, service_writable,
          "*org.bulkhead.Service1*Name*" },
        { "/ipc/add-object/property-missing", &bh_iface_service1, service_methods, service_prop_missing,
          "*org.bulkhead.Service1*" },
        { "/ipc/add-object/properties-null", &bh_iface_service1, service_methods, NULL, "*org.bulkhead.Service1*" },
        { "/ipc/add-object/property-extra", &bh_iface_service1, service_methods, service_prop_extra,
          "*org.bulkhead.Service1*Bogus*" },
        { "/ipc/add-object/property-no-getter", &bh_iface_service1, service_methods, service_no_getter,
          "*org.bulkhead.Service1*Name*" },
        { "/ipc/add-object/property-twice", &bh_iface_service1, service_methods, service_prop_twice,
          "*org.bulkhead.Service1*" },
};

static void add_object(const AddCase *c) {
        BhIpc *ipc = bh_ipc_new(NULL);
        bh_ipc_add_object(ipc, "/org/bulkhead/Test", c->iface, c->methods, c->properties, NULL);
        bh_ipc_free(ipc);
}

static void test_add_object(gconstpointer data) {
        const AddCase *c = data;
        if (!c->stderr_pattern) {
                add_object(c);
                return;
        }
        if (g_test_subprocess()) {
                add_object(c);
                /* Still here: the mismatch was accepted. */
                g_printerr("bh_ipc_add_object accepted the table\n");
                return;
        }
        g_test_trap_subprocess(NULL, 10 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_DEFAULT);
        if (g_test_trap_has_passed())
                g_test_message("%s: bh_ipc_add_object() accepted a C table that does not match %s", c->path,
                               c->iface->name);
        g_test_trap_assert_failed();
        g_test_trap_assert_stderr(c->stderr_pattern);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        /* Report every mismatch, not only the first. */
        g_test_set_nonfatal_assertions();
        g_test_add_func("/ipc/caller/table", test_caller_table);
        g_test_add_func("/ipc/caller/services", test_caller_services);
        g_test_add_func("/ipc/caller/describe", test_caller_describe);
        g_test_add_func("/ipc/interfaces/tables", test_interfaces);
        g_test_add_func("/ipc/interfaces/service1", test_service1_shape);
        g_test_add_func("/ipc/suite/lookup", test_suite_lookup);
        for (size_t i = 0; i < G_N_ELEMENTS(add_cases); i++)
                g_test_add_data_func(add_cases[i].path, &add_cases[i], test_add_object);
        return g_test_run();
}
