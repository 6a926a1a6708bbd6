/* SPDX-License-Identifier: ISC */
/* Per-service seccomp allowlists. Each group below says why its syscalls
 * are there; each profile lists the groups a service needs after its
 * initialisation (bus connected, name owned, files and sockets it keeps
 * already open). Adding a syscall is a change to review like code. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
} Cond;

typedef struct Rule {
        const char *name;
        Cond cond;
} Rule;

typedef struct Group {
        const char *name;
        const Rule *rules;
} Group;

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

static const Group groups[] = {
        { "memory", memory },
        { "lifecycle", lifecycle },
        { "signals", signals },
        { "time", timekeeping },
        { "identity", identity },
        { "random", randomness },
        { "locking", locking },
        { "descriptors", descriptors },
        { "polling", polling },
        { "bus", bus },
        { "peers", peers },
        { "config-read", config_read },
        { "log-files", log_files },
        { "key-memory", key_memory },
        { "batches", batches },
};

#define BASE "memory", "lifecycle", "signals", "time", "identity", "random", "locking", "descriptors", \
             "polling", "bus", "peers"

typedef struct Profile {
        const char *name;
        const char *groups[20];
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
};

const char *const bh_sandbox_profiles[] = { "logd", "statd", "cryptod", "filterd", "isakmpd", "tmd", NULL };

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
                        if (strcmp(r->name, syscall_name) == 0)
                                return true;
        }
        return false;
}

const char *bh_sandbox_syscall_name(int nr) {
        /* libseccomp allocates the name; keep the last one. */
        static char *last;
        free(last);
        last = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        return last;
}

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

int bh_sandbox_drop_capabilities(void) {
        /* The bounding set first (needs CAP_SETPCAP, which root still has),
         * then the process's own sets. */
        for (int cap = 0; cap <= 63; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL && errno != EPERM)
                        return -errno;
        struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
        struct __user_cap_data_struct data[2];
        memset(data, 0, sizeof data);
        if (syscall(SYS_capset, &hdr, data) < 0)
                return -errno;
        return 0;
}

int bh_sandbox_enter(const char *profile, int fd) {
        const Profile *p = find_profile(profile);
        if (!p)
                return -ENOENT;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;
        int r = bh_sandbox_drop_capabilities();
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
