#!/usr/bin/env bash
# The supervisor runs confined too: no_new_privs, the seccomp filter of its
# profile on every thread, five capabilities left of root (bounding set
# included). The bus daemon and the services it starts inherit the filter
# (each service stacks its own on top), and the suite still does its work
# under it: services restarted after kill -9 and on request, a clean stop.
source "$(dirname "$0")/../lib.sh"
getent passwd bulkhead-filter >/dev/null || fail "the service users do not exist (scripts/users.sh)"
suite_start
suite_wait_ready

# CAP_KILL 5, CAP_SETGID 6, CAP_SETUID 7, CAP_SETPCAP 8, CAP_NET_ADMIN 12.
KEPT=00000000000011e0

field() {
        sed -n "s/^$2:[[:space:]]*//p" "/proc/$1/status"
}

status=/proc/$SUP_PID/status
[ "$(field "$SUP_PID" NoNewPrivs)" = 1 ] || fail "bulkheadd: no_new_privs not set"
[ "$(field "$SUP_PID" Seccomp)" = 2 ] || fail "bulkheadd: no seccomp filter (Seccomp: $(field "$SUP_PID" Seccomp))"
for c in CapEff CapPrm CapBnd; do
        [ "$(field "$SUP_PID" $c)" = $KEPT ] || fail "bulkheadd: $c is $(field "$SUP_PID" $c), expected $KEPT"
done
[ "$(field "$SUP_PID" CapInh)" = 0000000000000000 ] || fail "bulkheadd: CapInh is $(field "$SUP_PID" CapInh)"
[ "$(field "$SUP_PID" CapAmb)" = 0000000000000000 ] || fail "bulkheadd: CapAmb is $(field "$SUP_PID" CapAmb)"
pass "bulkheadd: no_new_privs, seccomp filter, capabilities $KEPT (kill, setgid, setuid, setpcap, net_admin)"

# Every thread: GLib's worker thread as well as the main one.
every_thread_filtered() {
        local pid=$1 name=$2 n=0 t
        for t in /proc/"$pid"/task/*; do
                [ "$(sed -n 's/^Seccomp:[[:space:]]*//p' "$t/status")" = 2 ] ||
                        fail "$name: thread $(basename "$t") has no seccomp filter"
                n=$((n + 1))
        done
        echo "$n"
}
n=$(every_thread_filtered "$SUP_PID" bulkheadd)
[ "$n" -ge 2 ] || fail "bulkheadd has $n threads, expected GLib's worker besides the main one"
pass "bulkheadd: all $n threads filtered"

# The private bus daemon runs under the supervisor's filter alone.
bus_pid=$(pgrep -P "$SUP_PID" -x dbus-daemon) || fail "no dbus-daemon child of bulkheadd"
[ "$(field "$bus_pid" Seccomp)" = 2 ] && [ "$(field "$bus_pid" Seccomp_filters)" = 1 ] ||
        fail "dbus-daemon: Seccomp $(field "$bus_pid" Seccomp), $(field "$bus_pid" Seccomp_filters) filters"
[ "$(field "$bus_pid" NoNewPrivs)" = 1 ] || fail "dbus-daemon: no_new_privs not set"
for c in CapEff CapPrm CapBnd; do
        [ "$(field "$bus_pid" $c)" = 0000000000000000 ] || fail "dbus-daemon: $c is $(field "$bus_pid" $c)"
done
pass "dbus-daemon: the supervisor's filter, no_new_privs, no capabilities"

# Each service: the inherited filter and its own, on every thread.
for entry in $SERVICES; do
        svc=${entry%%:*}
        obj=${entry#*:}
        pid=$(service_pid "$obj" "$obj")
        [ "$(field "$pid" Seccomp_filters)" = 2 ] ||
                fail "$svc: $(field "$pid" Seccomp_filters) seccomp filters, expected 2 (the supervisor's and its own)"
        n=$(every_thread_filtered "$pid" "$svc")
done
pass "every service: two filters stacked (the supervisor's and its own) on every thread"

# A service built with AddressSanitizer dies of SIGSYS as it exits:
# LeakSanitizer's calls are not in its own profile (bulkheadd's are, in such
# a build). Its stops then leave "forbidden" lines behind.
asan=false
grep -q libasan "/proc/$SUP_PID/maps" && asan=true

# The suite still works under the filter: restarts after a crash and on
# request (fork, change of user, exec), every service running.
fpid=$(service_pid Filter Filter)
restarts=$(service_row filterd | cut -f3)
kill -9 "$fpid"
wait_for 5 owner_changed Filter "$fpid" || fail "filterd did not come back after kill -9"
[ "$(service_row filterd | cut -f3)" -gt "$restarts" ] || fail "the filterd restart was not counted"
links=$(ls -l "/proc/$(service_pid Filter Filter)/fd")
grep -q /dev/net/tun <<<"$links" || fail "the restarted filterd has no TUN descriptor"
pass "filterd restarted after kill -9, with its TUN descriptor"

tpid=$(service_pid Tmd Tmd)
bctl call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 RestartService s tmd
wait_for 5 owner_changed Tmd "$tpid" || fail "tmd did not come back after RestartService"
running() { [ "$(service_row "$1" | cut -f1)" = running ]; }
for entry in $SERVICES; do
        wait_for 5 running "${entry%%:*}" || fail "${entry%%:*} is not running: $(service_row "${entry%%:*}")"
done
pass "RestartService works; every service running"

if ! $asan; then
        ! grep -q "forbidden" "$WORK/out" || fail "a sandbox refused a call: $(grep forbidden "$WORK/out")"
        pass "no process of the suite met its filter"
fi

# A clean stop: everything down, status 0.
kill -TERM "$SUP_PID"
end=$((SECONDS + 10))
while kill -0 "$SUP_PID" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
kill -0 "$SUP_PID" 2>/dev/null && fail "bulkheadd still runs 10 s after SIGTERM"
rc=0
wait "$SUP_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "bulkheadd exited $rc after SIGTERM"
left=$(suite_pids)
[ -z "$left" ] || fail "processes of the suite left: $left"
$asan || ! grep -q "forbidden" "$WORK/out" || fail "a sandbox refused a call while stopping: $(grep forbidden "$WORK/out")"
pass "SIGTERM stops the confined suite cleanly"
