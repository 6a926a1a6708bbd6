/* SPDX-License-Identifier: ISC */
#include "cryptod.h"

struct Cryptod {
        BhService *svc;
        GHashTable *handles;    /* key handles; key work comes with the IKEv2 and data path work */
};

static void get_handles(DBusMessageIter *it, void *userdata) {
        Cryptod *c = userdata;
        dbus_uint32_t n = g_hash_table_size(c->handles);
        dbus_message_iter_append_basic(it, DBUS_TYPE_UINT32, &n);
}

static const BhPropertyImpl cryptod_properties[] = {
        { "Handles", get_handles, NULL },
        {},
};

Cryptod *cryptod_new(BhService *svc) {
        Cryptod *c = g_new0(Cryptod, 1);
        c->svc = svc;
        c->handles = g_hash_table_new(g_int64_hash, g_int64_equal);
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_crypto1, NULL, cryptod_properties, c);
        return c;
}

void cryptod_free(Cryptod *c) {
        if (!c)
                return;
        g_hash_table_destroy(c->handles);
        g_free(c);
}
