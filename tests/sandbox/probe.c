/* SPDX-License-Identifier: ISC */
/* Tries what the supervisor profile must refuse, and a little of what it
 * must allow, each attempt in a child of its own: a refused call kills that
 * child with SIGSYS. Two ways to run it:
 *
 *   probe --enter supervisor   enters the profile itself first (a test of
 *                              policy/sandbox.c alone); exits 1 on a failed
 *                              check
 *   as a service of the suite  started by bulkheadd in place of a service
 *                              (tests/sandbox/inherited.sh), under the
 *                              filter it inherits from the real supervisor;
 *                              prints its findings, then waits to be stopped
 *
 * Each finding is a line "probe ok: ..." or "probe FAIL: ...", and the last
 * one "probe done: N checks, M failed". */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"

typedef enum Expect {
        REFUSED,        /* the child dies of SIGSYS */
        ALLOWED,        /* the call returns (success or an ordinary error) */
        NOT_THERE,      /* the call returns -1 with ENOSYS */
} Expect;

static unsigned checks, failed;

/* Runs attempt() in a child and judges how the child ended: exit status 0
 * means the call returned, 1 that it failed with ENOSYS, 2 any other
 * return; death by SIGSYS (or the sandbox handler's exit 128 + SIGSYS)
 * means the filter refused it. */
static void check(const char *what, Expect expect, long (*attempt)(void)) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) {
                printf("probe FAIL: %s: fork: %s\n", what, strerror(errno));
                checks++;
                failed++;
                return;
        }
        if (pid == 0) {
                errno = 0;
                long r = attempt();
                _exit(r < 0 && errno == ENOSYS ? 1 : r < 0 ? 2 : 0);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
        bool sigsys = (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS) ||
                      (WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGSYS);
        const char *seen = sigsys                                       ? "refused (SIGSYS)"
                           : WIFEXITED(status) && WEXITSTATUS(status) == 1 ? "answered ENOSYS"
                           : WIFEXITED(status)                             ? "allowed"
                                                                           : "died otherwise";
        bool ok = expect == REFUSED   ? sigsys
                  : expect == ALLOWED ? WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2)
                                      : WIFEXITED(status) && WEXITSTATUS(status) == 1;
        checks++;
        if (!ok)
                failed++;
        printf("probe %s: %s: %s\n", ok ? "ok" : "FAIL", what, seen);
}

static long try_ptrace(void) {
        return ptrace(PTRACE_TRACEME, 0, NULL, NULL);
}
static long try_unshare_user(void) {
        return unshare(CLONE_NEWUSER);
}
static long try_unshare_net(void) {
        return unshare(CLONE_NEWNET);
}
static long try_setns(void) {
        return setns(-1, CLONE_NEWNET);
}
static long try_clone_newnet(void) {
        /* Raw: the child of a successful call must not go on here. */
        long r = syscall(SYS_clone, (unsigned long) (CLONE_NEWNET | SIGCHLD), NULL, NULL, NULL, NULL);
        if (r == 0)
                _exit(0);
        return r;
}
static long try_clone3(void) {
        return syscall(SYS_clone3, NULL, 0);
}
static long try_fork(void) {
        pid_t pid = fork();
        if (pid == 0)
                _exit(0);
        return pid < 0 ? -1 : waitpid(pid, NULL, 0);
}
static long try_inet_socket(void) {
        return socket(AF_INET, SOCK_DGRAM, 0);
}
static long try_raw_socket(void) {
        return socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
}
static long try_packet_socket(void) {
        return socket(AF_PACKET, SOCK_RAW, 0);
}
static long try_route_socket(void) {
        return socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
}
static long try_audit_socket(void) {
        return socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
}
static long try_unix_socket(void) {
        return socket(AF_UNIX, SOCK_STREAM, 0);
}
static long try_kill_all(void) {
        return kill(-1, 0);
}
static long try_kill_group(void) {
        return kill(-getpid(), 0);
}
static long try_kill_high_bits(void) {
        /* -1 to the kernel, but not sign-extended: the filter must look at
         * bit 31 too. */
        return syscall(SYS_kill, 0xffffffffUL, 0);
}
static long try_kill_self(void) {
        return kill(getpid(), 0);
}
static long try_tiocsti(void) {
        char c = 'x';
        return ioctl(STDIN_FILENO, TIOCSTI, &c);
}
static long try_tcgets(void) {
        struct termios t;
        return ioctl(STDIN_FILENO, TCGETS, &t);
}
static long try_mount(void) {
        return mount("none", "/", "tmpfs", 0, NULL);
}
static long try_bpf(void) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
}
static long try_setresuid(void) {
        return setresuid(0, 0, 0);
}
static long try_setgroups(void) {
        gid_t g = 0;
        return syscall(SYS_setgroups, 1, &g);
}
static long try_prctl_mm(void) {
        return prctl(PR_SET_MM, PR_SET_MM_START_CODE, 0, 0, 0);
}
static long try_prctl_name(void) {
        return prctl(PR_SET_NAME, "probe", 0, 0, 0);
}
static long try_process_vm_readv(void) {
        char buf[8];
        struct iovec local = { buf, sizeof buf }, remote = { buf, sizeof buf };
        return process_vm_readv(getppid(), &local, 1, &remote, 1, 0);
}
static long try_io_uring(void) {
        return syscall(SYS_io_uring_setup, 1, NULL);
}
static long try_keyctl(void) {
        return syscall(SYS_keyctl, 0, 0, 0, 0, 0);
}
static long try_perf_event(void) {
        return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}
static long try_init_module(void) {
        return syscall(SYS_init_module, NULL, 0, "");
}
static long try_memfd(void) {
        return syscall(SYS_memfd_create, "x", 0);
}
static long try_execveat(void) {
        return syscall(SYS_execveat, -1, "", NULL, NULL, 0);
}
static long try_prlimit_other(void) {
        struct rlimit rl;
        return prlimit(getppid(), RLIMIT_NOFILE, NULL, &rl);
}
static long try_prlimit_self(void) {
        struct rlimit rl;
        return prlimit(0, RLIMIT_NOFILE, NULL, &rl);
}

static const struct {
        const char *what;
        Expect expect;
        long (*attempt)(void);
        bool sanitizer_allows;          /* LeakSanitizer needs it in such builds */
} attempts[] = {
        { "ptrace", REFUSED, try_ptrace, true },
        { "unshare a user namespace", REFUSED, try_unshare_user },
        { "unshare a network namespace", REFUSED, try_unshare_net },
        { "setns", REFUSED, try_setns },
        { "clone into a new network namespace", REFUSED, try_clone_newnet },
        { "clone3 (flags out of sight)", NOT_THERE, try_clone3 },
        { "fork", ALLOWED, try_fork },
        { "an IPv4 UDP socket", REFUSED, try_inet_socket },
        { "a raw IP socket", REFUSED, try_raw_socket },
        { "a packet socket", REFUSED, try_packet_socket },
        { "an audit netlink socket", REFUSED, try_audit_socket },
        { "an rtnetlink socket (routes)", ALLOWED, try_route_socket },
        { "a local socket (the bus)", ALLOWED, try_unix_socket },
        { "kill(-1) (every process)", REFUSED, try_kill_all },
        { "kill of a process group", REFUSED, try_kill_group },
        { "kill with -1 hidden in the low half", REFUSED, try_kill_high_bits },
        { "kill of one process", ALLOWED, try_kill_self },
        { "ioctl TIOCSTI", REFUSED, try_tiocsti },
        { "ioctl TCGETS (isatty)", ALLOWED, try_tcgets },
        { "mount", REFUSED, try_mount },
        { "bpf", REFUSED, try_bpf },
        { "setresuid", REFUSED, try_setresuid },
        { "setgroups with a group", REFUSED, try_setgroups },
        { "prctl PR_SET_MM", REFUSED, try_prctl_mm },
        { "prctl PR_SET_NAME", ALLOWED, try_prctl_name },
        { "process_vm_readv", REFUSED, try_process_vm_readv },
        { "io_uring_setup", REFUSED, try_io_uring },
        { "keyctl", REFUSED, try_keyctl },
        { "perf_event_open", REFUSED, try_perf_event },
        { "init_module", REFUSED, try_init_module },
        { "memfd_create", REFUSED, try_memfd },
        { "execveat", REFUSED, try_execveat },
        { "prlimit of another process", REFUSED, try_prlimit_other },
        { "prlimit of itself", ALLOWED, try_prlimit_self },
};

int main(int argc, char **argv) {
        const char *enter = NULL;
        for (int i = 1; i + 1 < argc; i++)
                if (strcmp(argv[i], "--enter") == 0)
                        enter = argv[i + 1];
        /* The children that die of SIGSYS leave no core behind. */
        setrlimit(RLIMIT_CORE, &(struct rlimit){ 0, 0 });
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (enter) {
                int r = bh_sandbox_enter_keeping(enter, -1, 0);
                if (r < 0) {
                        printf("probe FAIL: cannot enter the %s profile: %s\n", enter, strerror(-r));
                        return 1;
                }
        }
        for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
                if (BH_SANITIZER_RUNTIME && attempts[i].sanitizer_allows)
                        continue;
                check(attempts[i].what, attempts[i].expect, attempts[i].attempt);
        }
        printf("probe done: %u checks, %u failed\n", checks, failed);
        if (enter)
                return failed ? 1 : 0;
        /* Started by bulkheadd: stay until it stops the suite. */
        for (;;) {
                struct timespec t = { 3600, 0 };
                nanosleep(&t, NULL);
        }
}
