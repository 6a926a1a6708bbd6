/* SPDX-License-Identifier: ISC */
/* The profiles of policy/sandbox.c as tables: filters stack, so every
 * service profile must fit inside the supervisor's, and some calls belong
 * in none of them. */
#include <string.h>

#include <glib.h>

#include "sandbox.h"

/* Nothing in the suite needs these, the supervisor included: each would
 * reach another process, the kernel's configuration, a namespace or a
 * user, or hide a call from the filter. */
static const char *const never[] = {
        "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "bpf", "perf_event_open",
        "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
        "swapon", "swapoff", "keyctl", "add_key", "request_key", "process_vm_readv", "process_vm_writev",
        "userfaultfd", "io_uring_setup", "io_uring_enter", "open_by_handle_at", "name_to_handle_at",
        "settimeofday", "clock_settime", "adjtimex", "iopl", "ioperm", "personality", "memfd_create",
        "execveat", "fanotify_init", "quotactl", "acct", "mknod", "mknodat", "syslog", "vhangup",
        "setresuid", "setreuid", "setfsuid", "setresgid", "setregid", "setfsgid", "sethostname",
        "setdomainname", "kcmp", "pidfd_getfd", "move_mount", "fsopen", "fsmount", "open_tree",
        "lookup_dcookie", "uselib", "vm86", "modify_ldt", "clone3",
};

/* A service needs none of these once confined: it starts nothing, opens no
 * network socket of its own and traces nobody. */
static const char *const never_in_a_service[] = {
        "execve", "clone", "fork", "vfork", "ptrace", "kill", "setuid", "setgid", "capset", "seccomp", "ioctl",
        "chmod", "rename", "unlink",
};

static void test_listed(void) {
        bool supervisor = false;
        for (const char *const *p = bh_sandbox_profiles; *p; p++) {
                g_test_message("profile %s", *p);
                /* Every profile allows at least reading a descriptor. */
                g_assert_true(bh_sandbox_allows(*p, "read"));
                if (strcmp(*p, "supervisor") == 0)
                        supervisor = true;
        }
        g_assert_true(supervisor);
        g_assert_false(bh_sandbox_allows("no-such-profile", "read"));
}

/* A service starts under the supervisor's filter and adds its own: a call
 * its profile allows and the supervisor's does not would kill it. */
static void test_services_fit_in_supervisor(void) {
        for (const char *const *p = bh_sandbox_profiles; *p; p++) {
                if (strcmp(*p, "supervisor") == 0)
                        continue;
                const char *missing = bh_sandbox_uncovered("supervisor", *p);
                if (missing)
                        g_test_message("%s allows %s, the supervisor profile does not", *p, missing);
                g_assert_null(missing);
        }
        /* The check itself can say no. */
        g_assert_nonnull(bh_sandbox_uncovered("isakmpd", "supervisor"));
        g_assert_nonnull(bh_sandbox_uncovered("statd", "logd"));
        g_assert_cmpstr(bh_sandbox_uncovered("supervisor", "no-such-profile"), ==, "no-such-profile");
}

static void test_never(void) {
        for (const char *const *p = bh_sandbox_profiles; *p; p++)
                for (size_t i = 0; i < G_N_ELEMENTS(never); i++) {
                        if (bh_sandbox_allows(*p, never[i]))
                                g_test_message("%s allows %s", *p, never[i]);
                        g_assert_false(bh_sandbox_allows(*p, never[i]));
                }
        /* LeakSanitizer stops threads with ptrace: the supervisor profile
         * of a sanitizer build allows it, no other build. */
        g_assert_true(bh_sandbox_allows("supervisor", "ptrace") == BH_SANITIZER_RUNTIME);
}

static void test_services_start_nothing(void) {
        for (const char *const *p = bh_sandbox_profiles; *p; p++) {
                if (strcmp(*p, "supervisor") == 0)
                        continue;
                for (size_t i = 0; i < G_N_ELEMENTS(never_in_a_service); i++) {
                        if (bh_sandbox_allows(*p, never_in_a_service[i]))
                                g_test_message("%s allows %s", *p, never_in_a_service[i]);
                        g_assert_false(bh_sandbox_allows(*p, never_in_a_service[i]));
                }
        }
        /* What the supervisor is for. */
        static const char *const supervisor_needs[] = { "execve", "clone", "wait4", "waitid", "kill", "setuid",
                                                        "setgid", "setgroups", "socket", "sendto", "recvfrom",
                                                        "ioctl", "rename", "unlink" };
        for (size_t i = 0; i < G_N_ELEMENTS(supervisor_needs); i++)
                g_assert_true(bh_sandbox_allows("supervisor", supervisor_needs[i]));
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/sandbox/listed", test_listed);
        g_test_add_func("/sandbox/services-fit-in-supervisor", test_services_fit_in_supervisor);
        g_test_add_func("/sandbox/never", test_never);
        g_test_add_func("/sandbox/services-start-nothing", test_services_start_nothing);
        return g_test_run();
}
