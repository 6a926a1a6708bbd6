#!/usr/bin/env bash
# Every service runs confined: its own user, no capabilities, no new
# privileges, its seccomp profile. From inside its real sandbox (test hooks),
# isakmpd cannot open the secrets file or the TUN device, open a raw socket,
# ptrace cryptod or read its memory; a forbidden syscall kills it with
# SIGSYS, and the supervisor says which syscall and restarts it.
source "$(dirname "$0")/../lib.sh"
suite_start
suite_wait_ready

bctl introspect org.bulkhead.Isakmpd /org/bulkhead/Isakmpd | grep -q '^org.bulkhead.Test1 ' || {
        echo "SKIP: this build has no test hooks (configure with -Dtest_hooks=true)"
        exit 77
}
getent passwd bulkhead-isakmpd >/dev/null || fail "the service users do not exist (scripts/users.sh)"

declare -A user=([logd]=bulkhead-log [statd]=bulkhead-stat [cryptod]=bulkhead-crypto [filterd]=bulkhead-filter
        [isakmpd]=bulkhead-isakmpd [tmd]=bulkhead-tmd)
for entry in $SERVICES; do
        svc=${entry%%:*}
        obj=${entry#*:}
        pid=$(service_pid "$obj" "$obj")
        owner=$(ps -o user= -p "$pid")
        [ "$owner" = "${user[$svc]}" ] || fail "$svc runs as $owner, expected ${user[$svc]}"
        status=/proc/$pid/status
        grep -q '^NoNewPrivs:[[:space:]]*1$' "$status" || fail "$svc: no_new_privs not set"
        grep -q '^Seccomp:[[:space:]]*2$' "$status" || fail "$svc: no seccomp filter"
        for c in CapEff CapPrm CapInh CapBnd; do
                grep -q "^$c:[[:space:]]*0000000000000000$" "$status" || fail "$svc: $c is not empty: $(grep "^$c" "$status")"
        done
        pass "$svc: user $owner, no capabilities, no_new_privs, seccomp filter"
done

# The key holder cannot be dumped or attached to.
cpid=$(service_pid Crypto Crypto)
[ "$(stat -c %U "/proc/$cpid/mem" 2>/dev/null)" = root ] || fail "cryptod is dumpable (its /proc files are not root's)"
pass "cryptod is not dumpable"

secrets=$CONF/secrets.conf
echo "psk test 0x00112233445566778899aabbccddeeff" >"$secrets"
chown bulkhead-crypto: "$secrets"
chmod 600 "$secrets"

ISA=(org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Test1)
O_RDONLY=0
O_RDWR=2
AF_INET=2
SOCK_RAW=3
IPPROTO_UDP=17

# try LABEL METHOD SIGNATURE ARGS...: the attempt must fail, either with an
# errno (returned) or by the sandbox killing isakmpd (SIGSYS, then restarted).
try() {
        local label=$1
        shift
        local pid out restarts_before
        pid=$(service_pid Isakmpd Isakmpd)
        restarts_before=$(service_row isakmpd | cut -f3)
        if out=$(bctl call --timeout=5 "${ISA[@]}" "$@" 2>&1); then
                local err=${out#i }
                [ "$err" != 0 ] || fail "isakmpd could $label"
                pass "isakmpd cannot $label (errno $err)"
                return
        fi
        # It died: by SIGSYS, reported, and it comes back.
        wait_for 5 restarted_since isakmpd "$restarts_before" ||
                fail "isakmpd could not $label ($out) but was not restarted"
        local reason
        reason=$(service_row isakmpd | cut -f4)
        [[ "$reason" == *"signal 31 (SIGSYS)"*"forbidden syscall"* ]] || fail "$label: isakmpd exit reason: $reason"
        wait_for 2 owner_changed Isakmpd "$pid" || fail "isakmpd did not come back after $label"
        pass "isakmpd cannot $label: $reason"
        fresh_isakmpd
}

# Each death counts towards the crash-loop limit; an operator's restart
# starts the count over, so that every attempt below meets a live isakmpd.
fresh_isakmpd() {
        local pid
        pid=$(service_pid Isakmpd Isakmpd)
        bctl call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 RestartService s isakmpd
        wait_for 5 owner_changed Isakmpd "$pid" || fail "isakmpd did not come back after RestartService"
}

try "open the secrets file" TryOpen si "$secrets" $O_RDONLY
try "open /dev/net/tun" TryOpen si /dev/net/tun $O_RDWR
try "open a raw socket" TrySocket iii $AF_INET $SOCK_RAW 255
try "open a UDP socket of its own" TrySocket iii $AF_INET 2 $IPPROTO_UDP
try "ptrace cryptod" TryPtrace u "$cpid"
try "read cryptod's memory" TryOpen si "/proc/$cpid/mem" $O_RDONLY

# Behind seccomp, the users hold too: tmd may open files for reading (to
# reload its definitions) but not the secrets, nor cryptod's memory.
TMD=(org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Test1)
out=$(bctl call "${TMD[@]}" TryOpen si "$secrets" $O_RDONLY) || fail "tmd TryOpen failed: $out"
[ "$out" = "i 13" ] || fail "tmd opening the secrets file: $out (expected EACCES, i 13)"
out=$(bctl call "${TMD[@]}" TryOpen si "/proc/$cpid/mem" $O_RDONLY) || fail "tmd TryOpen failed: $out"
[ "$out" = "i 13" ] || fail "tmd opening cryptod's memory: $out (expected EACCES, i 13)"
pass "file permissions and separate users hold behind the filters"

# A forbidden syscall: death by SIGSYS, named by the supervisor, restarted.
pid=$(service_pid Isakmpd Isakmpd)
restarts=$(service_row isakmpd | cut -f3)
bctl call --timeout=5 "${ISA[@]}" ForbiddenSyscall 2>/dev/null && fail "ForbiddenSyscall returned"
wait_for 5 restarted_since isakmpd "$restarts" || fail "isakmpd not restarted after SIGSYS"
reason=$(service_row isakmpd | cut -f4)
[[ "$reason" == "killed by signal 31 (SIGSYS): forbidden syscall ptrace (101)" ]] || fail "exit reason: $reason"
wait_for 2 owner_changed Isakmpd "$pid" || fail "isakmpd did not own its name again"
pass "a forbidden syscall kills with SIGSYS; the supervisor reports \"$reason\" and restarts it"
