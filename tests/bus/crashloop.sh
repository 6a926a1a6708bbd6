#!/usr/bin/env bash
# A service that crashes at start is restarted with growing delays, then
# left "failed" after the crash-loop limit; the supervisor says so on stdout
# and on the bus, writes no ready file, and keeps the others running.
source "$(dirname "$0")/../lib.sh"

LIBEXEC=$(mktemp -d /tmp/bulkhead-libexec.XXXXXX)
for b in logd statd cryptod filterd isakmpd; do
        ln -s "$BUILD/bulkhead-$b" "$LIBEXEC/bulkhead-$b"
done
# tmd dies of SIGSEGV as soon as it starts.
printf '#!/bin/sh\nkill -SEGV $$\n' >"$LIBEXEC/bulkhead-tmd"
chmod +x "$LIBEXEC/bulkhead-tmd"

suite_start --libexec-dir "$LIBEXEC"
trap 'rm -rf "$LIBEXEC"; suite_cleanup' EXIT

# Follow the restart counter to see the delays between restarts grow.
declare -a at=()
last=0
end=$((SECONDS + 20))
while [ "$SECONDS" -lt "$end" ]; do
        IFS=$'\t' read -r state _ restarts reason < <(service_row tmd) || true
        if [ -n "${restarts:-}" ] && [ "$restarts" -gt "$last" ]; then
                at+=("$(date +%s%3N)")
                last=$restarts
        fi
        [ "${state:-}" = failed ] && break
        sleep 0.02
done
[ "${state:-}" = failed ] || fail "tmd is \"${state:-?}\" after 20 s of crashing, not failed"
[ "$restarts" -eq 5 ] || fail "tmd restarted $restarts times before being left failed (limit 5)"
[[ "$reason" == *"signal 11"* ]] || fail "last exit reason: $reason"
pass "tmd left failed after $restarts restarts ($reason)"

# Delays double: each gap is longer than the one before.
for ((i = 2; i < ${#at[@]}; i++)); do
        prev=$((at[i - 1] - at[i - 2]))
        gap=$((at[i] - at[i - 1]))
        [ "$gap" -gt "$prev" ] || fail "restart gaps do not grow: ${prev} ms then ${gap} ms"
done
[ "${#at[@]}" -ge 4 ] || fail "saw only ${#at[@]} restarts while polling"
pass "restart gaps grow"

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
wait_for 5 test "$(service_row tmd | cut -f3)" -gt "$restarts" || fail "RestartService did not restart tmd"
pass "RestartService restarts a failed service"
