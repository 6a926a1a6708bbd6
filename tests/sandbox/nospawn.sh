#!/usr/bin/env bash
# The systemd way: bulkheadd --no-spawn opens the privileged descriptors and
# hands them out; each service, started on its own as its own user (as its
# unit does), asks for them with TakeResources. Nobody else gets any.
source "$(dirname "$0")/../lib.sh"
getent passwd bulkhead-filter >/dev/null || fail "the service users do not exist (scripts/users.sh)"
suite_start --no-spawn
wait_for 10 bctl call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 ListServices >/dev/null ||
        fail "the supervisor does not answer"
[ ! -e "$RUN/ready" ] || fail "ready without any service"
children=$(pgrep -P "$SUP_PID" | xargs -r ps -o comm= -p | grep '^bulkhead-' || true)
[ -z "$children" ] || fail "--no-spawn spawned services: $children"
# Confined as when it spawns, with less kept: CAP_NET_ADMIN for routes and
# CAP_SETPCAP for emptying the bus daemon's bounding set (0x1100).
grep -q '^Seccomp:[[:space:]]*2$' "/proc/$SUP_PID/status" || fail "bulkheadd --no-spawn has no seccomp filter"
for c in CapEff CapBnd; do
        grep -q "^$c:[[:space:]]*0000000000001100$" "/proc/$SUP_PID/status" ||
                fail "bulkheadd --no-spawn: $(grep "^$c" "/proc/$SUP_PID/status"), expected 0000000000001100"
done
pass "bulkheadd --no-spawn: seccomp filter, capabilities net_admin and setpcap only"

declare -A user=([logd]=bulkhead-log [statd]=bulkhead-stat [cryptod]=bulkhead-crypto [filterd]=bulkhead-filter
        [isakmpd]=bulkhead-isakmpd [tmd]=bulkhead-tmd)
declare -a pids=()
for svc in logd statd cryptod filterd isakmpd tmd; do
        setpriv --reuid="${user[$svc]}" --regid="${user[$svc]}" --clear-groups --inh-caps=-all \
                "$BUILD/bulkhead-$svc" --bus "$BUS" --run-dir "$RUN" --config-dir "$CONF" >>"$WORK/out" 2>&1 &
        pids+=($!)
done
trap 'rc=$?; kill ${pids[*]} 2>/dev/null; (exit $rc); suite_cleanup' EXIT
suite_wait_ready
pass "services started on their own, each as its own user: the supervisor follows them and says ready"

fpid=$(service_pid Filter Filter)
[ "$(ps -o user= -p "$fpid")" = bulkhead-filter ] || fail "filterd is not its own user"
links=$(ls -l "/proc/$fpid/fd" | grep -c -e /dev/net/tun -e 'socket:' || true)
ls -l "/proc/$fpid/fd" | grep -q /dev/net/tun || fail "filterd has no TUN descriptor"
[ "$(bctl get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 0" ] || fail "filterd not answering"
grep -q "privileged descriptors from the supervisor" "$WORK/out" || true
pass "filterd got the TUN device and its sockets from the supervisor ($links descriptors)"

# Nobody but a service's user gets descriptors.
out=$(su nobody -s /bin/sh -c "busctl --address='$BUS' call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 TakeResources" 2>&1) &&
        fail "nobody got resources: $out"
out=$(bctl call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 TakeResources 2>&1) &&
        fail "root (no service user) got resources: $out"
pass "TakeResources refuses callers that are not a service's user"

# systemd restarts what dies, not the supervisor.
kill -9 "$fpid"
stopped() { [ "$(service_row filterd | cut -f1)" = stopped ]; }
wait_for 5 stopped || fail "the supervisor does not show filterd stopped"
sleep 0.5
[ "$(service_row filterd | cut -f1)" = stopped ] || fail "the supervisor restarted filterd under --no-spawn"
pass "under --no-spawn a dead service is shown stopped and left to systemd"
