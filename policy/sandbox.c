/* SPDX-License-Identifier: ISC */
/* Per-service seccomp allowlists. Each group below says why its syscalls
 * are there; each profile lists the groups a service needs after its
 * initialisation (bus connected, name owned, files and sockets it keeps
 * already open). Adding a syscall is a change to review like code.
 *
 * Filters stack: whatever the supervisor starts inherits its filter and
 * adds its own, and a syscall must pass both. The supervisor profile is
 * therefore the widest one; it must hold every service profile (the unit
 * test tests/sandbox/test-profiles.c checks that) and what the programs it
 * starts do before they confine themselves. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox.h"

/* An argument condition: the syscall is allowed only when it holds. */
typedef enum Cond {
        COND_NONE,
        COND_NO_EXEC_ARG2,      /* (arg2 & PROT_EXEC) == 0: no new executable memory */
        COND_UNIX_DOMAIN,       /* arg0 == AF_UNIX: local sockets only */
        COND_READ_ONLY_ARG2,    /* (arg2 & O_ACCMODE) == O_RDONLY: openat for reading */
        COND_NETLINK_ROUTE,     /* arg0 == AF_NETLINK, arg2 == NETLINK_ROUTE: routing requests only */
        COND_ARG0_IS,           /* arg0 == value: one prctl option, setgroups(0, ...), prlimit64(0, ...) */
        COND_ARG1_IS,           /* arg1 == value: one ioctl request */
        COND_ONE_PROCESS,       /* arg0 is a pid from 0 to INT_MAX: never a process group, never -1 (all) */
        COND_NO_NAMESPACES,     /* arg0 holds no CLONE_NEW* flag: fork and threads, no new namespace */
        COND_ENOSYS,            /* not allowed, but answered ENOSYS rather than trapped, so that libc
                                 * falls back to an older call the filter can check */
} Cond;

typedef struct Rule {
        const char *name;
        Cond cond;
        uint64_t value;         /* for COND_ARG0_IS, COND_ARG1_IS */
} Rule;

typedef struct Group {
        const char *name;
        const Rule *rules;
} Group;

/* Builds with AddressSanitizer (BH_SANITIZER_RUNTIME, sandbox.h): its
 * run-time starts in every program before main, and at exit LeakSanitizer
 * stops the process's threads from a helper it clones and attaches with
 * ptrace. The supervisor profile gets what that takes, in such builds only,
 * so that a leak in bulkheadd is still found. (The services' own profiles
 * do not: a service built so dies of SIGSYS when it exits, unchecked.) */

/* Memory for malloc and GLib; never executable (W^X after start). */
static const Rule memory[] = {
        { "brk" }, { "mmap", COND_NO_EXEC_ARG2 }, { "munmap" }, { "mremap" },
        { "mprotect", COND_NO_EXEC_ARG2 }, { "madvise" }, { NULL },
};
/* Ending: normal exit, and returning from signal handlers. */
static const Rule lifecycle[] = {
        { "exit" }, { "exit_group" }, { "rt_sigreturn" }, { "restart_syscall" }, { NULL },
};
/* GLib's unix signal sources (SIGTERM/SIGINT/SIGHUP) install and mask. */
static const Rule signals[] = {
        { "rt_sigaction" }, { "rt_sigprocmask" }, { "sigaltstack" }, { NULL },
};
/* Clocks for timeouts and log timestamps (usually the vDSO, not a syscall). */
static const Rule timekeeping[] = {
        { "clock_gettime" }, { "clock_getres" }, { "gettimeofday" }, { "clock_nanosleep" }, { "nanosleep" },
        { NULL },
};
/* Who am I: libdbus authentication (EXTERNAL sends our uid) and log lines. */
static const Rule identity[] = {
        { "getpid" }, { "gettid" }, { "getuid" }, { "geteuid" }, { "getgid" }, { "getegid" }, { NULL },
};
/* Tokens for peer connections, nonces and IVs later. */
static const Rule randomness[] = {
        { "getrandom" }, { NULL },
};
/* GLib's worker thread (it watches unix signals) starts before the sandbox
 * and may still be starting when the filter, which covers every thread,
 * reaches it: libc registers the thread's robust futex list and
 * restartable sequence, GLib names it "gmain". Its signals are blocked, so
 * a trap there would kill the service without a report. */
static const Rule worker_thread[] = {
        { "rseq" }, { "set_robust_list" }, { "prctl", COND_ARG0_IS, PR_SET_NAME },
#if BH_SANITIZER_RUNTIME
        /* AddressSanitizer looks up each new thread's stack (with glibc's
         * pthread_getattr_np, which asks for its CPU set). */
        { "sched_getaffinity" },
#endif
        { NULL },
};
/* Locks inside libc, GLib and libdbus (single-threaded, but they lock). */
static const Rule locking[] = {
        { "futex" }, { "sched_yield" }, { NULL },
};
/* I/O on descriptors the service already holds. */
static const Rule descriptors[] = {
        { "read" }, { "write" }, { "readv" }, { "writev" }, { "close" }, { "fcntl" }, { "fstat" },
        { "newfstatat" }, { "statx" }, { "lseek" }, { "eventfd2" }, { "pipe2" }, { NULL },
};
/* The GLib main loop. */
static const Rule polling[] = {
        { "poll" }, { "ppoll" }, { NULL },
};
/* D-Bus messages on connected sockets, with credentials and fd passing. */
static const Rule bus[] = {
        { "sendmsg" }, { "recvmsg" }, { "sendto" }, { "recvfrom" }, { "getsockopt" }, { "setsockopt" },
        { "getsockname" }, { "getpeername" }, { "shutdown" }, { NULL },
};
/* Peer-to-peer D-Bus (OpenPeer): a local listening socket and connecting
 * to another service's; AF_UNIX only, never a network socket. */
static const Rule peers[] = {
        { "socket", COND_UNIX_DOMAIN }, { "connect" }, { "bind" }, { "listen" }, { "accept4" }, { "accept" },
        { NULL },
};
/* Reading configuration again on reload (isakmpd.conf, tunnel definitions,
 * secrets): open for reading only. */
static const Rule config_read[] = {
        { "openat", COND_READ_ONLY_ARG2 }, { "getdents64" }, { NULL },
};
/* logd's files: opened for appending, created when missing. */
static const Rule log_files[] = {
        { "openat" }, { NULL },
};
/* The data path's batches: many datagrams per system call. */
static const Rule batches[] = {
        { "recvmmsg" }, { "sendmmsg" }, { NULL },
};
/* Key memory kept out of swap (cryptod): arenas are locked once, when
 * made, and never unlocked (crypto/secmem.c). */
static const Rule key_memory[] = {
        { "mlock" }, { NULL },
};

/*
 * The supervisor's own groups. Its filter is inherited by every program it
 * starts (the bus daemon, the services) from fork to the end, so these
 * groups also cover what those programs do before their own sandbox: load
 * their libraries, start GLib's worker thread, drop their capabilities and
 * load their filter.
 */

/* Memory of any kind: the loader of each program started maps its code
 * executable. W^X comes back in each service with its own filter. */
static const Rule exec_memory[] = {
        { "brk" }, { "mmap" }, { "munmap" }, { "mremap" }, { "mprotect" }, { "madvise" }, { NULL },
};
/* Starting a program: exec, then the loader and libc's start-up (thread
 * pointer, the libraries read at an offset, the stack limit of the process
 * itself; robust futexes and restartable sequences are "worker-thread"),
 * and a shell's parent pid. */
static const Rule program_start[] = {
        { "execve" }, { "arch_prctl" }, { "set_tid_address" }, { "pread64" }, { "access" },
        { "prlimit64", COND_ARG0_IS, 0 }, { "getppid" }, { NULL },
};
/* Processes and threads: fork, and GLib's worker thread in every program
 * (its start is "worker-thread"). clone3 keeps its flags in memory, out of
 * the filter's sight: it answers ENOSYS, libc falls back to clone, and
 * clone may not make namespaces. */
static const Rule threads[] = {
        { "clone", COND_NO_NAMESPACES }, { "clone3", COND_ENOSYS }, { NULL },
};
/* libdbus reads the real, effective and saved ids when it connects (it
 * refuses to run setuid). */
static const Rule credentials[] = {
        { "getresuid" }, { "getresgid" }, { NULL },
};
/* Children: fork (see threads), a process group of their own, the change of
 * user with no supplementary groups, the parent-death signal, the
 * descriptors they get (GLib closes the others), waiting for them, and
 * signals to one process by pid (never to a group, never to all). */
static const Rule children[] = {
        { "setpgid" }, { "setgroups", COND_ARG0_IS, 0 }, { "setgid" }, { "setuid" },
        { "prctl", COND_ARG0_IS, PR_SET_PDEATHSIG }, { "dup2" }, { "dup3" }, { "close_range" },
        { "pidfd_open" }, { "waitid" }, { "wait4" }, { "kill", COND_ONE_PROCESS }, { NULL },
};
/* Confinement of what it starts: a child's bounding set is emptied before
 * exec; each service sets no_new_privs, clears its capabilities, turns off
 * dumping (cryptod, filterd) and loads its own filter (libseccomp probes
 * the kernel first); libdbus and the bus daemon read the capability state. */
static const Rule confinement[] = {
        { "prctl", COND_ARG0_IS, PR_CAPBSET_DROP }, { "prctl", COND_ARG0_IS, PR_CAPBSET_READ },
        { "prctl", COND_ARG0_IS, PR_CAP_AMBIENT }, { "prctl", COND_ARG0_IS, PR_GET_SECUREBITS },
        { "prctl", COND_ARG0_IS, PR_SET_NO_NEW_PRIVS }, { "prctl", COND_ARG0_IS, PR_GET_NO_NEW_PRIVS },
        { "prctl", COND_ARG0_IS, PR_SET_DUMPABLE }, { "capget" }, { "capset" }, { "seccomp" }, { NULL },
};
/* The run directory: the bus address and RUN_DIR/ready are written whole
 * (a temporary file, synced, renamed) and removed at the end. Opening for
 * writing is "log-files". (renameat and unlinkat here, dup3 in "children",
 * epoll_pwait in "bus-daemon": the same calls where the architecture or
 * libc has only those.) */
static const Rule run_files[] = {
        { "fallocate" }, { "fsync" }, { "rename" }, { "renameat" }, { "unlink" }, { "unlinkat" }, { NULL },
};
/* Routes through the TUN device (route.c): an rtnetlink socket, and the
 * device's index by name (if_nametoindex asks on a local socket). */
static const Rule routes[] = {
        { "socket", COND_NETLINK_ROUTE }, { "ioctl", COND_ARG1_IS, SIOCGIFINDEX }, { NULL },
};
/* Its standard output may be a terminal: stdio asks (isatty) when it
 * prints the first line, "ready". */
static const Rule terminal[] = {
        { "ioctl", COND_ARG1_IS, TCGETS }, { NULL },
};
/* The private bus daemon (embedded mode): its epoll loop and inotify
 * instance, a socket pair of its own, its listening socket opened to every
 * user (chmod), the paths of its configuration resolved, and a look for
 * SELinux. */
static const Rule bus_daemon[] = {
        { "epoll_create1" }, { "epoll_ctl" }, { "epoll_wait" }, { "epoll_pwait" }, { "inotify_init1" },
        { "socketpair" }, { "chmod" }, { "readlinkat" }, { "statfs" }, { "fstatfs" }, { NULL },
};

#if BH_SANITIZER_RUNTIME
/* The sanitizer run-time's own calls (it makes them itself, the older ones
 * on x86-64: open, readlink, getdents), a new thread's CPU set, and
 * LeakSanitizer at exit: whether the process may be dumped, leave for its
 * helper to trace it (Yama), ptrace of the threads. */
static const Rule sanitizer[] = {
        { "open" }, { "readlink" }, { "getdents" }, { "sched_getaffinity" }, { "ptrace" },
        { "prctl", COND_ARG0_IS, PR_GET_DUMPABLE },
        { "prctl", COND_ARG0_IS, PR_SET_PTRACER }, { NULL },
};
#define SANITIZER_GROUP , "sanitizer"
#else
#define SANITIZER_GROUP
#endif

static const Group groups[] = {
        { "memory", memory },
        { "lifecycle", lifecycle },
        { "signals", signals },
        { "time", timekeeping },
        { "identity", identity },
        { "random", randomness },
        { "worker-thread", worker_thread },
        { "locking", locking },
        { "descriptors", descriptors },
        { "polling", polling },
        { "bus", bus },
        { "peers", peers },
        { "config-read", config_read },
        { "log-files", log_files },
        { "key-memory", key_memory },
        { "batches", batches },
        { "exec-memory", exec_memory },
        { "program-start", program_start },
        { "threads", threads },
        { "credentials", credentials },
        { "children", children },
        { "confinement", confinement },
        { "run-files", run_files },
        { "routes", routes },
        { "terminal", terminal },
        { "bus-daemon", bus_daemon },
#if BH_SANITIZER_RUNTIME
        { "sanitizer", sanitizer },
#endif
};

#define BASE "memory", "lifecycle", "signals", "time", "identity", "random", "worker-thread", "locking", \
             "descriptors", "polling", "bus", "peers"

typedef struct Profile {
        const char *name;
        const char *groups[32];
} Profile;

static const Profile profiles[] = {
        /* Writes syslog (a datagram socket it reconnects when syslog
         * restarts: socket/connect in "peers") and the isakmpd.conf files. */
        { "logd", { BASE, "config-read", "log-files" } },
        { "statd", { BASE } },
        /* Reads its secrets on reload; locks key memory. */
        { "cryptod", { BASE, "config-read", "key-memory" } },
        /* Moves packets between descriptors it was handed; holds SA keys. */
        { "filterd", { BASE, "key-memory", "batches" } },
        /* The network parser: nothing beyond the base. */
        { "isakmpd", { BASE } },
        /* Reads tunnel definitions on reload. */
        { "tmd", { BASE, "config-read" } },
        /* bulkheadd once it holds the privileged descriptors: starts and
         * restarts the bus daemon and the services (which inherit this
         * filter, so every group of theirs is here too), sets routes,
         * writes its run directory. No raw or IP socket of its own, no
         * ioctl beyond two questions, no mount, namespace, module, BPF or
         * keyring call, no ptrace (but in sanitizer builds). */
        { "supervisor",
          { "exec-memory", "lifecycle", "signals", "time", "identity", "random", "worker-thread", "locking",
            "descriptors", "polling", "bus", "peers", "config-read", "log-files", "key-memory", "batches",
            "program-start", "threads", "credentials", "children", "confinement", "run-files", "routes",
            "terminal", "bus-daemon" SANITIZER_GROUP } },
};

const char *const bh_sandbox_profiles[] = { "logd", "statd", "cryptod", "filterd", "isakmpd", "tmd", "supervisor",
                                            NULL };

static const Profile *find_profile(const char *name) {
        for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
                if (strcmp(profiles[i].name, name) == 0)
                        return &profiles[i];
        return NULL;
}

static const Group *find_group(const char *name) {
        for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
                if (strcmp(groups[i].name, name) == 0)
                        return &groups[i];
        return NULL;
}

bool bh_sandbox_allows(const char *profile, const char *syscall_name) {
        const Profile *p = find_profile(profile);
        if (!p)
                return false;
        for (size_t g = 0; g < sizeof p->groups / sizeof p->groups[0] && p->groups[g]; g++) {
                const Group *grp = find_group(p->groups[g]);
                for (const Rule *r = grp ? grp->rules : NULL; r && r->name; r++)
                        if (r->cond != COND_ENOSYS && strcmp(r->name, syscall_name) == 0)
                                return true;
        }
        return false;
}

/* Does the outer profile let through every call the rule allows: a rule for
 * the same syscall with no condition, or with the same one? */
static bool profile_covers(const Profile *outer, const Rule *rule) {
        for (size_t g = 0; g < sizeof outer->groups / sizeof outer->groups[0] && outer->groups[g]; g++) {
                const Group *grp = find_group(outer->groups[g]);
                for (const Rule *r = grp ? grp->rules : NULL; r && r->name; r++) {
                        if (r->cond == COND_ENOSYS || strcmp(r->name, rule->name) != 0)
                                continue;
                        if (r->cond == COND_NONE || (r->cond == rule->cond && r->value == rule->value))
                                return true;
                }
        }
        return false;
}

const char *bh_sandbox_uncovered(const char *outer, const char *inner) {
        const Profile *o = find_profile(outer), *in = find_profile(inner);
        if (!o || !in)
                return o ? inner : outer;
        for (size_t g = 0; g < sizeof in->groups / sizeof in->groups[0] && in->groups[g]; g++) {
                const Group *grp = find_group(in->groups[g]);
                if (!grp)
                        return in->groups[g];
                for (const Rule *r = grp->rules; r->name; r++)
                        if (r->cond != COND_ENOSYS && !profile_covers(o, r))
                                return r->name;
        }
        return NULL;
}

const char *bh_sandbox_syscall_name(int nr) {
        /* libseccomp allocates the name; keep the last one. */
        static char *last;
        free(last);
        last = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        return last;
}

/* Every flag of clone that makes a new namespace (CLONE_NEWTIME is left
 * out: in clone's flags its bit is part of the exit signal). */
#define NAMESPACE_FLAGS                                                                                         \
        ((uint64_t) (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | \
                     CLONE_NEWNET))

static int add_rule(scmp_filter_ctx ctx, const Rule *r) {
        int nr = seccomp_syscall_resolve_name(r->name);
        if (nr == __NR_SCMP_ERROR)
                return 0;       /* not on this architecture */
        switch (r->cond) {
        case COND_NONE:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        case COND_NO_EXEC_ARG2:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
        case COND_UNIX_DOMAIN:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
        case COND_READ_ONLY_ARG2:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDONLY));
        case COND_NETLINK_ROUTE:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, AF_NETLINK),
                                        SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE));
        case COND_ARG0_IS:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, r->value));
        case COND_ARG1_IS:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A1(SCMP_CMP_EQ, r->value));
        case COND_ONE_PROCESS:
                /* The whole register: a pid with bit 31 set is negative to
                 * the kernel, whatever the upper half says. */
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                        SCMP_A0(SCMP_CMP_MASKED_EQ, UINT64_C(0xffffffff80000000), 0));
        case COND_NO_NAMESPACES:
                return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
                                        SCMP_A0(SCMP_CMP_MASKED_EQ, NAMESPACE_FLAGS, 0));
        case COND_ENOSYS:
                return seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0);
        }
        return -EINVAL;
}

static int report_fd = -1;

static size_t format_uint(char *buf, unsigned v) {
        char tmp[16];
        size_t n = 0, i = 0;
        do {
                tmp[n++] = (char) ('0' + v % 10);
                v /= 10;
        } while (v);
        while (n)
                buf[i++] = tmp[--n];
        return i;
}

/* Runs on a forbidden syscall: async-signal-safe calls only. */
static void on_sigsys(int sig, siginfo_t *si, void *context) {
        char line[48] = "SIGSYS ";
        size_t n = 7 + format_uint(line + 7, (unsigned) si->si_syscall);
        line[n++] = '\n';
        if (report_fd >= 0)
                (void) !write(report_fd, line, n);
        (void) !write(STDERR_FILENO, "bulkhead: forbidden ", 20);
        (void) !write(STDERR_FILENO, line, n);
        /* Repeat it: with SIGSYS blocked inside this handler the kernel
         * resets the action to the default and the process dies of SIGSYS,
         * which is what the supervisor must see. */
        syscall(si->si_syscall, 0, 0, 0, 0, 0, 0);
        _exit(128 + SIGSYS);
}

/* Drops every capability outside keep (bits 1 << CAP_*) from the bounding
 * set first (which takes CAP_SETPCAP: without it the set stays as it was),
 * then leaves the effective and permitted sets with what is kept of what
 * the process holds, and the inheritable set empty. */
static int drop_capabilities(uint64_t keep) {
        for (int cap = 0; cap <= 63; cap++)
                if (!(keep & UINT64_C(1) << cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL &&
                    errno != EPERM)
                        return -errno;
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        if (keep) {
                /* capset only takes away: keep no more than is there. */
                if (syscall(SYS_capget, &hdr, data) < 0)
                        return -errno;
                keep &= data[0].permitted | (uint64_t) data[1].permitted << 32;
                memset(data, 0, sizeof data);
                data[0].effective = data[0].permitted = (uint32_t) keep;
                data[1].effective = data[1].permitted = (uint32_t) (keep >> 32);
        }
        if (syscall(SYS_capset, &hdr, data) < 0)
                return -errno;
        return 0;
}

int bh_sandbox_drop_capabilities(void) {
        return drop_capabilities(0);
}

int bh_sandbox_enter(const char *profile, int fd) {
        return bh_sandbox_enter_keeping(profile, fd, 0);
}

int bh_sandbox_enter_keeping(const char *profile, int fd, uint64_t keep_caps) {
        const Profile *p = find_profile(profile);
        if (!p)
                return -ENOENT;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        int r = drop_capabilities(keep_caps);
        if (r < 0)
                return r;

        report_fd = fd;
        struct sigaction sa = { 0 };
        sa.sa_sigaction = on_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) < 0)
                return -errno;

        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
        if (!ctx)
                return -ENOMEM;
        /* On every thread of the process, GLib's worker too: a filter on the
         * calling thread alone would leave the others, in the same memory,
         * free. Where seccomp(2) itself is refused (under an outer filter
         * such as systemd's SystemCallFilter=, which covers every thread
         * already) libseccomp cannot do that, and the filter is loaded on
         * this thread only. */
        r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
        if (r == -EOPNOTSUPP)
                r = 0;
        for (size_t g = 0; r == 0 && g < sizeof p->groups / sizeof p->groups[0] && p->groups[g]; g++) {
                const Group *grp = find_group(p->groups[g]);
                if (!grp) {
                        r = -EINVAL;
                        break;
                }
                for (const Rule *rule = grp->rules; r == 0 && rule->name; rule++)
                        r = add_rule(ctx, rule);
        }
        if (r == 0)
                r = seccomp_load(ctx);
        seccomp_release(ctx);
        return r;
}
