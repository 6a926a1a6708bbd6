#!/usr/bin/env bash
# A service that crashes at start is restarted with growing delays, then
# left "failed" after the crash-loop limit; the supervisor says so on stdout
# and on the bus, writes no ready file, and keeps the others running.
source "$(dirname "$0")/../lib.sh"

LIBEXEC=$(mktemp -d /tmp/bulkhead-libexec.XXXXXX)
CLEANUP_DIRS+=("$LIBEXEC")
chmod 755 "$LIBEXEC"    # the services run as their own users
for b in logd statd cryptod filterd isakmpd; do
        ln -s "$BUILD/bulkhead-$b" "$LIBEXEC/bulkhead-$b"
done
# tmd dies of SIGSEGV as soon as it starts.
printf '#!/bin/sh\nkill -SEGV $$\n' >"$LIBEXEC/bulkhead-tmd"
chmod +x "$LIBEXEC/bulkhead-tmd"

suite_start --libexec-dir "$LIBEXEC"

# Follow the restart counter to see the delays between restarts grow. A
# restart seen in one poll happened after the previous poll began (lo) and
# before this one ended (hi).
declare -a lo=() hi=()
last=0
prev_begin=$(date +%s%3N)
end=$((SECONDS + 20))
while [ "$SECONDS" -lt "$end" ]; do
        begin=$(date +%s%3N)
        IFS=$'\t' read -r state _ restarts reason < <(service_row tmd) || true
        now=$(date +%s%3N)
        if [ -n "${restarts:-}" ] && [ "$restarts" -gt "$last" ]; then
                lo[$restarts]=$prev_begin
                hi[$restarts]=$now
                last=$restarts
        fi
        prev_begin=$begin
        [ "${state:-}" = failed ] && break
        sleep 0.02
done
[ "${state:-}" = failed ] || fail "tmd is \"${state:-?}\" after 20 s of crashing, not failed"
[ "$restarts" -eq 5 ] || fail "tmd restarted $restarts times before being left failed (limit 5)"
[[ "$reason" == *"signal 11"* ]] || fail "last exit reason: $reason"
pass "tmd left failed after $restarts restarts ($reason)"

# Delays double: restart n+1 comes at least 100 * 2^n ms after restart n
# (start-up time only adds to that). The longest the gap can have been is
# hi(n+1) - lo(n): that must reach the delay. Under load a poll may miss a
# short step; the long ones at the end must be seen.
checked=0
gaps=
for n in 1 2 3 4; do
        [ -n "${lo[n]:-}" ] && [ -n "${hi[n + 1]:-}" ] || continue
        gap=$((hi[n + 1] - lo[n]))
        delay=$((100 << n))
        [ "$gap" -ge "$delay" ] || fail "restart $((n + 1)) came at most $gap ms after restart $n; the backoff is $delay ms"
        checked=$((checked + 1))
        gaps="$gaps $gap"
done
[ -n "${hi[5]:-}" ] && [ -n "${lo[4]:-}" ] && [ "$checked" -ge 2 ] || fail "too few restarts seen while polling: ${!hi[*]}"
pass "restart delays double (gaps at most:$gaps ms)"

wait_for 5 grep -q "bulkheadd: not ready: failed: tmd (killed by signal 11" "$WORK/out" ||
        fail "bulkheadd did not report the failure on stdout"
[ ! -e "$RUN/ready" ] || fail "ready written although tmd failed"
[ "$(prop org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 Ready)" = false ] ||
        fail "Supervisor1.Ready is true"
sleep 1
IFS=$'\t' read -r state _ restarts2 _ < <(service_row tmd)
[ "$state" = failed ] && [ "$restarts2" -eq "$restarts" ] || fail "a failed service was restarted again"
for svc in logd statd cryptod filterd isakmpd; do
        [ "$(service_row "$svc" | cut -f1)" = running ] || fail "$svc is not running beside the failed tmd"
done
pass "the failure is reported and the other services keep running"

# An operator's restart gives it another chance (and it crashes again).
bctl call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 RestartService s tmd
wait_for 5 restarted_since tmd "$restarts" || fail "RestartService did not restart tmd"
pass "RestartService restarts a failed service"
