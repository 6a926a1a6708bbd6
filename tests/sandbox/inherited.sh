#!/usr/bin/env bash
# From inside the real supervisor's filter: bulkheadd starts the probe
# (tests/sandbox/probe.c) in place of statd, as statd's user, and the probe,
# which enters no sandbox of its own, finds what the filter it inherited
# refuses: ptrace, namespaces, network sockets, kill(-1), mount, bpf,
# TIOCSTI... and what it allows (fork, rtnetlink, a local socket).
source "$(dirname "$0")/../lib.sh"
PROBE=${1:?usage: inherited.sh PROBE}
getent passwd bulkhead-stat >/dev/null || fail "the service users do not exist (scripts/users.sh)"

LIBEXEC=$(mktemp -d /tmp/bulkhead-libexec.XXXXXX)
CLEANUP_DIRS+=("$LIBEXEC")
chmod 755 "$LIBEXEC"    # the services run as their own users
for b in logd cryptod filterd isakmpd tmd; do
        ln -s "$BUILD/bulkhead-$b" "$LIBEXEC/bulkhead-$b"
done
cp "$PROBE" "$LIBEXEC/bulkhead-statd"
chmod 755 "$LIBEXEC/bulkhead-statd"

suite_start --libexec-dir "$LIBEXEC"
wait_for 30 grep -q "^probe done:" "$WORK/out" || fail "the probe did not finish"

grep "^probe " "$WORK/out" | sed 's/^/  /'
probe_pid=$(pgrep -P "$SUP_PID" -x bulkhead-statd) || fail "the probe does not run as a child of bulkheadd"
[ "$(ps -o user= -p "$probe_pid")" = bulkhead-stat ] || fail "the probe runs as $(ps -o user= -p "$probe_pid"), not bulkhead-stat"
[ "$(sed -n 's/^Seccomp_filters:[[:space:]]*//p' "/proc/$probe_pid/status")" = 1 ] ||
        fail "the probe does not hold exactly the inherited filter"
! grep -q "^probe FAIL" "$WORK/out" || fail "the inherited filter let through or refused the wrong calls"
summary=$(grep "^probe done:" "$WORK/out")
[[ "$summary" == *", 0 failed" ]] || fail "$summary"
checks=${summary#probe done: }
checks=${checks%% checks*}
[ "$checks" -ge 30 ] || fail "only $checks checks ran"
pass "under the filter bulkheadd passes on: $summary"

# The supervisor keeps running beside the probe (it is not ready: no statd).
kill -0 "$SUP_PID" || fail "bulkheadd died"
[ ! -e "$RUN/ready" ] || fail "ready without statd"
