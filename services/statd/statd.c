/* SPDX-License-Identifier: ISC */
#include "statd.h"

struct Statd {
        BhService *svc;
        GHashTable *counters;   /* name -> guint64 total */
};

static void statd_handle_get_counters(BhCall *call, void *userdata) {
        Statd *s = userdata;
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr, ent;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{st}", &arr);
        GHashTableIter hi;
        gpointer key, value;
        g_hash_table_iter_init(&hi, s->counters);
        while (g_hash_table_iter_next(&hi, &key, &value)) {
                const char *name = key;
                dbus_uint64_t v = *(guint64 *) value;
                dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &ent);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_STRING, &name);
                dbus_message_iter_append_basic(&ent, DBUS_TYPE_UINT64, &v);
                dbus_message_iter_close_container(&arr, &ent);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void statd_handle_reset(BhCall *call, void *userdata) {
        Statd *s = userdata;
        char who[128];
        g_hash_table_remove_all(s->counters);
        bh_log_event("counters reset by %s", bh_caller_describe(bh_call_caller(call), who, sizeof who));
        bh_call_return_empty(call);
}

static const BhMethodImpl statd_methods[] = {
        { "GetCounters", statd_handle_get_counters },
        { "Reset", statd_handle_reset },
        {},
};

Statd *statd_new(BhService *svc) {
        Statd *s = g_new0(Statd, 1);
        s->svc = svc;
        s->counters = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_stats1, statd_methods, NULL, s);
        return s;
}

void statd_free(Statd *s) {
        if (!s)
                return;
        g_hash_table_destroy(s->counters);
        g_free(s);
}
