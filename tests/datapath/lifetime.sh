#!/usr/bin/env bash
# Lifetimes of a manual tunnel's SAs, whose keys never change: at the soft
# limit tmd tells the operator that new keys are due; at the hard one, a
# tenth further on, filterd stops carrying the SA and tmd takes the tunnel
# down with the cause, on both hosts. First in packets, then in time.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
manual_define udp 4 4 aes256gcm16 "lifetime_packets = 20"
host_suite_start a
host_suite_start b

activate_both() {
        ike_on a cmd=activate namelist=lab >/dev/null || fail "activate on a failed: $(ike_on a cmd=list)"
        ike_on b cmd=activate namelist=lab >/dev/null || fail "activate on b failed: $(ike_on b cmd=list)"
}
down_for() { # down_for LIMIT: the tunnel down on both hosts, for that cause
        local h
        for h in a b; do
                [ "$(tunnel_field $h lab phase2)" = inactive ] &&
                        [[ $(tunnel_field $h lab failure) == *"reached its hard limit of $1"* ]] || return 1
        done
}

activate_both
# 20 echo requests, and as many replies: every SA carries 20 packets, the
# soft limit, and all of them pass (the hard limit is 22).
in_host a ping -c 20 -i 0.05 -W 2 -I "$A_IN" "$B_IN" >"$WORK/ping" || { cat "$WORK/ping"; fail "ping within the soft limit failed"; }
soft() { grep -q "reached its soft limit of packets: it needs new keys" "$WORK/a/out" &&
        grep -q "reached its soft limit of packets: it needs new keys" "$WORK/b/out"; }
wait_for 5 soft || fail "no soft-limit warning in the logs"
[ "$(tunnel_field a lab phase2)" = active ] && [ "$(tunnel_field b lab phase2)" = active ] ||
        fail "the soft limit took the tunnel down"
pass "lifetime_packets 20: all 20 pings pass, tmd warns on both hosts at the soft limit, the tunnel stays"

in_host a ping -c 5 -i 0.05 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
wait_for 5 down_for packets ||
        fail "past the hard limit: a $(tunnel_field a lab phase2) ($(tunnel_field a lab failure)), b $(tunnel_field b lab phase2) ($(tunnel_field b lab failure))"
[ "$(counter a cache_expired)" -ge 1 ] || fail "a counted no expired SA (cache_expired $(counter a cache_expired))"
! in_host a ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || fail "traffic passes after the hard limit"
pass "past 22 packets (the hard limit) the tunnel is down on both hosts, the cause in ike cmd=list: $(tunnel_field a lab failure)"

# In time: lifetime = 2s, so the soft limit 2 s after the SAs went in and
# the hard one at 3 s (the timer looks once a second).
manual_define udp 4 4 aes256gcm16 "lifetime = 2s"
for h in a b; do
        bctl_on $h call org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Tmd1 Reload >/dev/null || fail "reload on $h failed"
done
start=$(date +%s%N)
activate_both
in_host a ping -c 1 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no traffic through the tunnel with lifetime = 2s"
wait_for 8 down_for time ||
        fail "lifetime 2s: a $(tunnel_field a lab phase2) ($(tunnel_field a lab failure)), b $(tunnel_field b lab phase2) ($(tunnel_field b lab failure))"
ms=$((($(date +%s%N) - start) / 1000000))
[ "$ms" -ge 2500 ] || fail "the tunnel went after $ms ms, before its hard limit of 3 s"
grep -q "reached its soft limit of time" "$WORK/a/out" || fail "no soft-limit warning in time on a"
pass "lifetime 2s: warned at the soft limit, down on both hosts after $ms ms (hard limit 3 s)"

# Activated again, the SAs start a new life.
activate_both
in_host a ping -c 1 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no traffic after activating again"
pass "activated again after its lifetime, the tunnel carries traffic"
