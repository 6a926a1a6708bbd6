#!/usr/bin/env bash
# start = trap: an IKE tunnel negotiates on its first packet. Nobody runs
# ike cmd=activate: the trap's route takes a's ping to filterd, which drops
# the first packets (out_trapped) and asks tmd once (Filter1.Acquire); the
# tunnel comes up on both sides and the ping goes through. An Acquire
# forged by another sender is ignored. After cmd=remove, after a restart of
# filterd or of tmd, the trap is back; after a failed negotiation it stays,
# and holds the traffic down a few seconds before it asks again.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

A_IN=10.1.0.1 B_IN=10.2.0.1
WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
PSK="trap test $$ $RANDOM$RANDOM"
ike_define a gw aes256gcm16-prfsha256-x25519 aes256gcm16 "start = trap"
ike_define b gw aes256gcm16-prfsha256-x25519 aes256gcm16
# A second trap on a, to the same peer, whose negotiation always fails:
# its key is not the one b has for a (AUTHENTICATION_FAILED, before b
# changes anything).
ike_define a bad aes256gcm16-prfsha256-x25519 aes256gcm16 "start = trap"
sed -i -e 's|^remote_ts = .*|remote_ts = 10.2.0.2/32|' "$WORK/a/etc/tunnels.d/bad.conf"
write_secrets a "psk gw \"$PSK\"" "psk bad \"not $PSK\""
write_secrets b "psk gw \"$PSK\""
host_suite_start b
host_suite_start a

state() { echo "a: $(ike_on a cmd=list verbose namelist=gw)
b: $(ike_on b cmd=list verbose namelist=gw)"; }
up() {
        [ "$(tunnel_field a gw phase1)" = active ] && [ "$(tunnel_field a gw phase2)" = active ] &&
                [ "$(tunnel_field b gw phase1)" = active ] && [ "$(tunnel_field b gw phase2)" = active ]
}
down() { [ "$(tunnel_field a gw phase2)" = inactive ] && [ "$(tunnel_field b gw phase2)" = inactive ]; }
routed() { in_host a ip route get "$B_IN" from "$A_IN" 2>/dev/null | grep -q "dev bulkhead0"; }
starts() { grep -c "tunnel=$1: traffic to .*, starting" "$WORK/a/out" || true; }
acquires() { grep -c "tunnel=$1: traffic from .* held by the trap: Acquire" "$WORK/a/out" || true; }
service_pid() { bctl_on "$1" get-property "org.bulkhead.$2" "/org/bulkhead/$2" org.bulkhead.Service1 Pid | cut -d' ' -f2; }

# The trap is set, nothing is negotiated yet.
wait_for 10 routed || fail "no route to $B_IN through the TUN device on a: $(in_host a ip route)"
sleep 1
[ "$(tunnel_field a gw phase1)" = inactive ] && [ "$(tunnel_field a gw phase2)" = inactive ] ||
        fail "the trap tunnel did not wait for traffic: $(state)"
[ "$(counter a out_trapped)" = 0 ] || fail "out_trapped is $(counter a out_trapped) before any traffic"
pass "start = trap: the trap's route is set through the TUN device, the tunnel waits for traffic"

# Only filterd's word counts: the same signal from root's connection is
# ignored.
bctl_on a emit /org/bulkhead/Filter org.bulkhead.Filter1 Acquire sss gw "$A_IN" "$B_IN" ||
        fail "busctl could not emit the forged Acquire"
sleep 2
[ "$(tunnel_field a gw phase1)" = inactive ] && [ "$(tunnel_field a gw phase2)" = inactive ] &&
        [ "$(starts gw)" = 0 ] || fail "a forged Acquire started the tunnel: $(state)"
pass "an Acquire from a sender that is not filterd is ignored"

# Traffic: a burst of pings while the negotiation runs; the first are
# dropped, one Acquire, one negotiation.
in_host a ping -c 10 -i 0.01 -W 1 -I "$A_IN" "$B_IN" >"$WORK/ping1" 2>&1 || true
wait_for 15 up || fail "the tunnel did not come up on traffic: $(state)"
in_host a ping -c 3 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no traffic through the tunnel: $(state)"
trapped=$(counter a out_trapped)
[ "$trapped" -ge 1 ] || fail "out_trapped is $trapped after the first packets"
[ "$(starts gw)" = 1 ] && [ "$(acquires gw)" = 1 ] ||
        fail "want one Acquire and one start, got $(acquires gw) and $(starts gw): $(grep 'tunnel=gw' "$WORK/a/out" | tail -20)"
grep -q "tmd events tunnel=gw: traffic to $B_IN (from $A_IN), starting" "$WORK/a/out" ||
        fail "a's tmd did not log why it negotiated"
"$BUILD/cli/ipsecstat" --run-dir "$WORK/a/run" --json | python3 -c '
import json, sys
n = json.load(sys.stdin)["statistics"]["out_trapped"]
sys.exit(0 if n >= 1 else 1)' || fail "ipsecstat does not report out_trapped"
pass "the first packet started the tunnel ($trapped packets held, one Acquire): phase 1 and 2 active on both sides, ping through"

# cmd=remove takes the SAs down and leaves the trap: the next packet
# starts the tunnel again.
ike_on a cmd=remove namelist=gw >/dev/null || fail "cmd=remove failed: $(state)"
wait_for 10 down || fail "the tunnel stayed up after cmd=remove: $(state)"
routed || fail "the route went with cmd=remove"
in_host a ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
wait_for 15 up || fail "the trap did not start the tunnel again after cmd=remove: $(state)"
in_host a ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no traffic after the second start"
[ "$(starts gw)" = 2 ] || fail "want 2 starts, got $(starts gw)"
pass "after cmd=remove the trap stays: the next packet starts the tunnel again"

# A restarted filterd gets the trap back (its SPD starts empty).
ike_on a cmd=remove namelist=gw >/dev/null || fail "cmd=remove failed: $(state)"
wait_for 10 down || fail "the tunnel stayed up after cmd=remove: $(state)"
pid=$(service_pid a Filter)
kill -9 "$pid"
new_filterd() { p=$(service_pid a Filter) && [ -n "$p" ] && [ "$p" != "$pid" ]; }
wait_for 15 new_filterd || fail "filterd did not come back"
sleep 1
in_host a ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
wait_for 15 up || fail "no trap after filterd's restart: $(state)"
in_host a ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no traffic after filterd's restart"
pass "filterd restarted: the trap is set again, the next packet starts the tunnel"

# So does a restarted tmd, which learns the traps from its definitions.
ike_on a cmd=remove namelist=gw >/dev/null || fail "cmd=remove failed: $(state)"
wait_for 10 down || fail "the tunnel stayed up after cmd=remove: $(state)"
pid=$(service_pid a Filter)
kill -9 "$pid"
wait_for 15 new_filterd || fail "filterd did not come back"
tpid=$(service_pid a Tmd)
kill -9 "$tpid"
new_tmd() { p=$(service_pid a Tmd) && [ -n "$p" ] && [ "$p" != "$tpid" ]; }
wait_for 15 new_tmd || fail "tmd did not come back"
sleep 1
in_host a ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
wait_for 15 up || fail "no trap after the restarts of filterd and tmd: $(state)"
in_host a ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no traffic after tmd's restart"
pass "filterd, then tmd restarted: the new tmd sets the trap, the next packet starts the tunnel"

# A negotiation that fails leaves the trap; the traffic is held down 5 s
# before it asks again.
in_host a ping -c 1 -W 1 -I "$A_IN" 10.2.0.2 >/dev/null 2>&1 || true
bad_failed() { tunnel_field a bad phase2 | grep -q "^failed"; }
wait_for 15 bad_failed || fail "the bad tunnel did not fail: $(ike_on a cmd=list verbose namelist=bad)"
[ "$(starts bad)" = 1 ] || fail "want one start of bad, got $(starts bad)"
held=$(counter a out_trapped)
in_host a ping -c 3 -i 0.2 -W 1 -I "$A_IN" 10.2.0.2 >/dev/null 2>&1 || true
[ "$(counter a out_trapped)" -ge $((held + 3)) ] || fail "the failed tunnel's trap did not hold the packets"
[ "$(starts bad)" = 1 ] || fail "the trap asked again within the hold-down: $(starts bad) starts"
sleep 5
in_host a ping -c 1 -W 1 -I "$A_IN" 10.2.0.2 >/dev/null 2>&1 || true
again() { [ "$(starts bad)" = 2 ]; }
wait_for 5 again || fail "the trap did not ask again after the hold-down: $(starts bad) starts"
up || fail "the failed tunnel disturbed gw: $(state)"
pass "a failed negotiation leaves the trap: packets held, asked again only after the hold-down"

grep "killed by signal\|SIGSEGV\|SIGSYS" "$WORK/a/out" "$WORK/b/out" | grep -v "killed by signal 9" | grep -q . &&
        fail "a service died: $(grep -h 'killed by signal' "$WORK"/*/out)"
no_derived_key_in_logs
