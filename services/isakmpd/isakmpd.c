/* SPDX-License-Identifier: ISC */
#include "isakmpd.h"

struct Isakmpd {
        BhService *svc;
        GHashTable *sas;        /* IKE SAs by local SPI; negotiation comes with the IKEv2 work */
        unsigned half_open;
};

static void isakmpd_handle_list_sas(BhCall *call, void *userdata) {
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ttsss)", &arr);
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void get_half_open(DBusMessageIter *it, void *userdata) {
        Isakmpd *isakmpd = userdata;
        dbus_uint32_t n = isakmpd->half_open;
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static const BhMethodImpl isakmpd_methods[] = {
        { "ListSAs", isakmpd_handle_list_sas },
        {},
};

static const BhPropertyImpl isakmpd_properties[] = {
        { "HalfOpen", get_half_open, NULL },
        {},
};

Isakmpd *isakmpd_new(BhService *svc) {
        Isakmpd *isakmpd = g_new0(Isakmpd, 1);
        isakmpd->svc = svc;
        isakmpd->sas = g_hash_table_new(g_int64_hash, g_int64_equal);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_isakmpd1, isakmpd_methods, isakmpd_properties,
                          isakmpd);
        return isakmpd;
}

void isakmpd_free(Isakmpd *isakmpd) {
        if (!isakmpd)
                return;
        g_hash_table_destroy(isakmpd->sas);
        g_free(isakmpd);
}
