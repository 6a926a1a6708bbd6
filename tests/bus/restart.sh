#!/usr/bin/env bash
# kill -9 of each service in turn: it owns its name again within 2 s, the
# restart is counted and its cause is visible on the supervisor.
source "$(dirname "$0")/../lib.sh"
suite_start
suite_wait_ready

for entry in $SERVICES; do
        svc=${entry%%:*}
        obj=${entry#*:}
        name=org.bulkhead.$obj
        pid=$(service_pid "$obj" "$obj")
        read -r state _ restarts _ < <(service_row "$svc")
        [ "$state" = running ] || fail "$svc is $state before the kill"
        start=$(date +%s%N)
        kill -9 "$pid"
        newpid=
        new_owner() {
                newpid=$(service_pid "$obj" "$obj") && [ -n "$newpid" ] && [ "$newpid" != "$pid" ]
        }
        wait_for 5 new_owner || fail "$svc does not own $name again after kill -9"
        ms=$((($(date +%s%N) - start) / 1000000))
        [ "$ms" -le 2000 ] || fail "$svc took $ms ms to own $name again (limit 2000)"
        running_again() {
                local st
                st=$(service_row "$svc" | cut -f1)
                [ "$st" = running ]
        }
        wait_for 2 running_again || fail "$svc not shown running again"
        IFS=$'\t' read -r state spid nrestarts last < <(service_row "$svc")
        [ "$nrestarts" -eq $((restarts + 1)) ] || fail "$svc: restarts $restarts -> $nrestarts, expected +1"
        [ "$spid" = "$newpid" ] || fail "$svc: supervisor shows pid $spid, the bus $newpid"
        [[ "$last" == *"signal 9"* ]] || fail "$svc: last exit reason is \"$last\""
        pass "$svc back in $ms ms as pid $newpid (restarts=$nrestarts, last: $last)"
done
