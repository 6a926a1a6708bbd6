#!/usr/bin/env bash
# Dead peer detection: a checks the peer's liveness every second
# (dpd_delay = 1s); while b answers the tunnel stays up, and when b vanishes
# (its link goes down) a's checks go unanswered and a takes the tunnel down
# by itself, saying why.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
ike_define a gw aes256gcm16-prfsha256-x25519 aes256gcm16 "dpd_delay = 1s"
ike_define b gw aes256gcm16-prfsha256-x25519 aes256gcm16
for h in a b; do write_secrets $h 'psk gw "dead peer detection"'; done
host_suite_start a
host_suite_start b

ike_on a cmd=activate namelist=gw >/dev/null || fail "activation failed: $(ike_on a cmd=list verbose namelist=gw)"
sleep 3
[ "$(tunnel_field a gw phase2)" = active ] || fail "the tunnel went down while the peer answered"
checks=$(grep -c "liveness check from the peer answered" "$WORK/b/out" || true)
[ "$checks" -ge 2 ] || fail "b answered $checks liveness checks in 3 s (dpd_delay = 1s)"
pass "the tunnel stays up while the peer answers ($checks liveness checks answered by b)"

ip -n "$NS_B" link set "vb$$" down
start=$SECONDS
a_down() { [ "$(tunnel_field a gw phase2)" != active ]; }
wait_for 40 a_down || fail "a still shows the tunnel active 40 s after the peer vanished"
cause=$(tunnel_field a gw failure)
grep -q "no answer from the peer" <<<"$cause" || fail "a took the tunnel down, but says: $cause"
[ "$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 0" ] ||
        fail "SAs left in a's filterd"
pass "the peer vanished: a took the tunnel down after $((SECONDS - start)) s ($cause)"
