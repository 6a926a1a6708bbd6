/* SPDX-License-Identifier: ISC */
/* org.bulkhead.Test1: compiled only into builds configured with
 * -Dtest_hooks=true. They let the sandbox tests make a confined service try
 * what it must never be able to do, from inside its real sandbox. */
#include "config.h"

#if BULKHEAD_TEST_HOOKS
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "service.h"

static void forbidden_syscall(BhCall *call, void *userdata) {
        bh_log_event("test hook: making a forbidden syscall");
        /* No profile allows ptrace: this does not return. */
        syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
        bh_call_error(call, BH_ERROR_FAILED, "the forbidden syscall returned");
}

static void try_open(BhCall *call, void *userdata) {
        const char *path;
        dbus_int32_t flags;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_STRING, &path, DBUS_TYPE_INT32, &flags,
                              DBUS_TYPE_INVALID);
        int fd = open(path, flags | O_CLOEXEC | O_NOCTTY);
        dbus_int32_t err = fd < 0 ? errno : 0;
        if (fd >= 0)
                close(fd);
        bh_call_return(call, DBUS_TYPE_INT32, &err, DBUS_TYPE_INVALID);
}

static void try_socket(BhCall *call, void *userdata) {
        dbus_int32_t domain, type, protocol;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_INT32, &domain, DBUS_TYPE_INT32, &type,
                              DBUS_TYPE_INT32, &protocol, DBUS_TYPE_INVALID);
        int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
        dbus_int32_t err = fd < 0 ? errno : 0;
        if (fd >= 0)
                close(fd);
        bh_call_return(call, DBUS_TYPE_INT32, &err, DBUS_TYPE_INVALID);
}

static void try_ptrace(BhCall *call, void *userdata) {
        dbus_uint32_t pid;
        dbus_message_get_args(bh_call_message(call), NULL, DBUS_TYPE_UINT32, &pid, DBUS_TYPE_INVALID);
        long r = syscall(SYS_ptrace, PTRACE_ATTACH, (pid_t) pid, 0, 0);
        dbus_int32_t err = r < 0 ? errno : 0;
        if (r == 0)
                syscall(SYS_ptrace, PTRACE_DETACH, (pid_t) pid, 0, 0);
        bh_call_return(call, DBUS_TYPE_INT32, &err, DBUS_TYPE_INVALID);
}

/* Keys a service noted (cryptod: every key stream it derived), in hex,
 * the last KEYS_KEPT of them. */
#define KEYS_KEPT 4096
static GPtrArray *noted_keys;

void bh_test_hooks_note_key(const uint8_t *key, size_t len) {
        if (!noted_keys)
                noted_keys = g_ptr_array_new_with_free_func(g_free);
        if (noted_keys->len == KEYS_KEPT)
                g_ptr_array_remove_index(noted_keys, 0);
        char *hex = g_malloc(2 * len + 1);
        for (size_t i = 0; i < len; i++)
                snprintf(hex + 2 * i, 3, "%02x", key[i]);
        g_ptr_array_add(noted_keys, hex);
}

static void keys(BhCall *call, void *userdata) {
        DBusMessage *reply = bh_call_new_return(call);
        DBusMessageIter it, arr;
        dbus_message_iter_init_append(reply, &it);
        dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &arr);
        for (guint i = 0; noted_keys && i < noted_keys->len; i++) {
                const char *k = g_ptr_array_index(noted_keys, i);
                dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &k);
        }
        dbus_message_iter_close_container(&it, &arr);
        bh_call_return_message(call, reply);
}

static const BhMethodImpl test_methods[] = {
        { "ForbiddenSyscall", forbidden_syscall },
        { "TryOpen", try_open },
        { "TrySocket", try_socket },
        { "TryPtrace", try_ptrace },
        { "Keys", keys },
        {},
};

void bh_test_hooks_register(BhService *svc) {
        bh_ipc_add_object(svc->ipc, svc->entry->path, &bh_iface_test1, test_methods, NULL, svc);
}
#endif
