/* SPDX-License-Identifier: ISC */
#include "filterd.h"

struct Filterd {
        BhService *svc;
        GHashTable *sad;        /* SAs by SPI; the ESP/AH data path fills it */
};

static void filterd_handle_get_counters(BhCall *call, void *userdata) {
        /* No data path yet, hence no counters: an empty set, not zeros. */
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{st}", &arr);
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void get_sas(DBusMessageIter *it, void *userdata) {
        Filterd *f = userdata;
        dbus_uint32_t n = g_hash_table_size(f->sad);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static const BhMethodImpl filterd_methods[] = {
        { "GetCounters", filterd_handle_get_counters },
        {},
};

static const BhPropertyImpl filterd_properties[] = {
        { "SAs", get_sas, NULL },
        {},
};

Filterd *filterd_new(BhService *svc) {
        Filterd *f = g_new0(Filterd, 1);
        f->svc = svc;
        f->sad = g_hash_table_new(g_int_hash, g_int_equal);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_filter1, filterd_methods, filterd_properties, f);
        return f;
}

void filterd_free(Filterd *f) {
        if (!f)
                return;
        g_hash_table_destroy(f->sad);
        g_free(f);
}
