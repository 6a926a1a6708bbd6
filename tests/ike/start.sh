#!/usr/bin/env bash
# start = start: an IKE tunnel negotiates by itself when the suite starts;
# nobody runs ike cmd=activate, and traffic flows. Then the AIX selections
# of ike cmd=activate and cmd=remove other than by name or number:
# autostart, remid= and ipaddr=, with their errors, and phase= (phase 2
# removed alone and activated again).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
ike_define a gw aes256gcm16-prfsha256-x25519 aes256gcm16 "start = start"
ike_define b gw aes256gcm16-prfsha256-x25519 aes256gcm16
for h in a b; do write_secrets $h 'psk gw "start at start"'; done
host_suite_start b
host_suite_start a

up() { [ "$(tunnel_field a gw phase2)" = active ] && [ "$(tunnel_field b gw phase2)" = active ]; }
wait_for 15 up || fail "the tunnel did not come up by itself: a $(tunnel_field a gw phase2) ($(tunnel_field a gw failure)), b $(tunnel_field b gw phase2)"
grep -q "negotiating (start = start)" "$WORK/a/out" || fail "a's log does not say why it negotiated"
in_host a ping -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no traffic through the tunnel"
pass "start = start: the tunnel came up when a's suite started, and carries traffic"

# The other selections, each taking the tunnel down or up again.
down() { [ "$(tunnel_field a gw phase2)" = inactive ] && [ "$(tunnel_field b gw phase2)" = inactive ]; }
out=$(ike_on a cmd=remove autostart) || fail "cmd=remove autostart failed: $out"
[ "$out" = "tunnel gw removed" ] || fail "cmd=remove autostart: $out"
wait_for 5 down || fail "the tunnel stayed up after cmd=remove autostart"
ike_on a cmd=activate remid=b.bulkhead.test >/dev/null || fail "cmd=activate remid=b.bulkhead.test failed"
wait_for 5 up || fail "remid=: the tunnel did not come up"
ike_on a cmd=remove phase=1 ipaddr=192.0.2.1,192.0.2.2 >/dev/null || fail "cmd=remove phase=1 ipaddr= failed"
wait_for 5 down || fail "ipaddr=: the tunnel stayed up"
ike_on a cmd=activate phase=2 remid=FQDN:B.bulkhead.test >/dev/null || fail "cmd=activate phase=2 remid=FQDN:... failed"
wait_for 5 up || fail "phase=2 remid=TYPE:VALUE: the tunnel did not come up"
in_host a ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no traffic after activating by remid="
pass "autostart, remid= (by value and by TYPE:VALUE, any case), ipaddr= and phase= select the tunnel"

# Their errors, before anything is done.
expect_error() {
        local code=$1 want=$2 out rc
        shift 2
        out=$(ike_on a "$@" 2>&1) && fail "ike $*: succeeded ($out)"
        rc=$?
        [ "$rc" = "$code" ] && grep -q "$want" <<<"$out" || fail "ike $*: exit $rc, said: $out (want $code, $want)"
}
expect_error 1 'no tunnel has the remote ID "nobody.test"' cmd=activate remid=nobody.test
expect_error 1 "no tunnel is defined from 192.0.2.9,192.0.2.2" cmd=remove ipaddr=192.0.2.9,192.0.2.2
expect_error 2 '"300.1.1.1" is not an IP address' cmd=activate ipaddr=192.0.2.1,300.1.1.1
expect_error 2 "two addresses" cmd=activate ipaddr=192.0.2.1
expect_error 1 "already active" cmd=activate phase=1 namelist=gw
expect_error 1 "already" cmd=activate autostart
[ "$(tunnel_field a gw phase2)" = active ] || fail "an error took the tunnel down"
pass "an unknown remote ID or address pair, an invalid address, an active tunnel (phase=1 too): clear errors, nothing changed"

# Phase 2 alone goes, and cannot go twice; phase 1 stays.
out=$(ike_on a cmd=remove phase=2 namelist=gw) || fail "cmd=remove phase=2 failed: $out"
[ "$out" = "tunnel gw phase 2 removed" ] || fail "cmd=remove phase=2: $out"
[ "$(tunnel_field a gw phase1)" = active ] && [ "$(tunnel_field a gw phase2)" = inactive ] ||
        fail "after remove phase=2: phase 1 $(tunnel_field a gw phase1), phase 2 $(tunnel_field a gw phase2)"
expect_error 1 "phase 2 is inactive" cmd=remove phase=2 namelist=gw
ike_on a cmd=activate namelist=gw >/dev/null || fail "phase 2 again failed: $(ike_on a cmd=list verbose namelist=gw)"
in_host a ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no traffic after phase 2 came again"
pass "remove phase=2 keeps phase 1 and refuses a second time; activate brings phase 2 back"

# Phase 1 alone: the IKE SA comes up, and the CHILD SA IKE_AUTH made with it
# is deleted at once, on both sides; no SA in filterd, no traffic. Activate
# then makes phase 2 over the same IKE SA.
ike_on a cmd=remove namelist=gw >/dev/null || fail "cmd=remove failed"
wait_for 5 down || fail "the tunnel stayed up after cmd=remove"
out=$(ike_on a cmd=activate phase=1 namelist=gw) || fail "cmd=activate phase=1 failed: $out"
[ "$out" = "tunnel gw phase 1 activated" ] || fail "cmd=activate phase=1: $out"
p1only() {
        local h
        for h in a b; do
                [ "$(tunnel_field $h gw phase1)" = active ] && [ "$(tunnel_field $h gw phase2)" = inactive ] &&
                        [ "$(bctl_on $h get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 0" ] ||
                        return 1
        done
}
wait_for 5 p1only || fail "after activate phase=1: a $(tunnel_field a gw phase1)/$(tunnel_field a gw phase2), b $(tunnel_field b gw phase1)/$(tunnel_field b gw phase2)"
! in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1 || fail "traffic flows with phase 1 alone"
grep -q "phase 2 taken down again (phase=1 asked)" "$WORK/a/out" || fail "a's log does not say phase 2 went as asked"
expect_error 1 "phase 1 is already active" cmd=activate phase=1 namelist=gw
ike_spis=$(tunnel_field a gw ike_spis)
ike_on a cmd=activate namelist=gw >/dev/null || fail "phase 2 after phase 1 alone failed: $(ike_on a cmd=list verbose namelist=gw)"
wait_for 5 up || fail "phase 2 did not come up after phase 1 alone"
[ "$(tunnel_field a gw ike_spis)" = "$ike_spis" ] || fail "a new IKE SA was made for phase 2"
in_host a ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no traffic once phase 2 came"
pass "activate phase=1 brings the IKE SA alone up on both sides (no SA, no traffic), refuses a second time; activate then makes phase 2 over it"
