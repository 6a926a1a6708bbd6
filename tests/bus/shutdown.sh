#!/usr/bin/env bash
# SIGTERM to bulkheadd leaves no process of the suite and no socket behind;
# a second supervisor refuses a run directory that is in use.
source "$(dirname "$0")/../lib.sh"
suite_start
suite_wait_ready

pids=$(suite_pids)
[ "$(wc -w <<<"$pids")" -ge 8 ] || fail "expected the supervisor, the bus daemon and 6 services, found: $pids"
# The services are the supervisor's children; the bus daemon too.
children=$(pgrep -P "$SUP_PID" | wc -l)
[ "$children" -eq 7 ] || fail "bulkheadd has $children children, expected 7 (bus daemon + 6 services)"

rc=0
"$BULKHEADD" --embedded --run-dir "$RUN" >"$WORK/second" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a second bulkheadd started in a run directory in use"
grep -q "already runs" "$WORK/second" || fail "second bulkheadd: $(cat "$WORK/second")"
[ -S "$RUN/bus.sock" ] && [ -f "$RUN/ready" ] || fail "the refused second start damaged the first"
pass "a second supervisor is refused: $(cat "$WORK/second")"

kill -TERM "$SUP_PID"
end=$((SECONDS + 10))
while kill -0 "$SUP_PID" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
kill -0 "$SUP_PID" 2>/dev/null && fail "bulkheadd still runs 10 s after SIGTERM"
rc=0
wait "$SUP_PID" || rc=$?
[ "$rc" -eq 0 ] || fail "bulkheadd exited $rc after SIGTERM"
for p in $pids; do
        if kill -0 "$p" 2>/dev/null; then
                fail "process $p ($(tr '\0' ' ' </proc/$p/cmdline)) survived"
        fi
done
left=$(suite_pids)
[ -z "$left" ] || fail "processes of the suite left: $left"
sockets=$(find "$RUN" -type s)
[ -z "$sockets" ] || fail "sockets left: $sockets"
for f in bus ready lock bus.conf; do
        [ ! -e "$RUN/$f" ] || fail "$RUN/$f left behind"
done
# No abstract peer socket of ours left either (they carry the owner's pid).
for p in $pids; do
        ! grep -q "@bulkhead-peer-$p-" /proc/net/unix || fail "a peer socket of process $p is left"
done
pass "SIGTERM stops everything: no process, no socket, no file left"
