/* SPDX-License-Identifier: ISC */
#include "tmd.h"

struct Tmd {
        BhService *svc;
        GPtrArray *tunnels;     /* tunnel definitions arrive with the data path and IKE work */
};

static void tmd_handle_list_tunnels(BhCall *call, void *userdata) {
        Tmd *tmd = userdata;
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(usssss)", &arr);
        (void) tmd;
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static void get_tunnel_count(DBusMessageIter *it, void *userdata) {
        Tmd *tmd = userdata;
        dbus_uint32_t n = tmd->tunnels->len;
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static const BhMethodImpl tmd_methods[] = {
        { "ListTunnels", tmd_handle_list_tunnels },
        {},
};

static const BhPropertyImpl tmd_properties[] = {
        { "TunnelCount", get_tunnel_count, NULL },
        {},
};

Tmd *tmd_new(BhService *svc) {
        Tmd *tmd = g_new0(Tmd, 1);
        tmd->svc = svc;
        tmd->tunnels = g_ptr_array_new();
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_tmd1, tmd_methods, tmd_properties, tmd);
        return tmd;
}

void tmd_free(Tmd *tmd) {
        if (!tmd)
                return;
        g_ptr_array_free(tmd->tunnels, TRUE);
        g_free(tmd);
}
