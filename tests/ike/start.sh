#!/usr/bin/env bash
# start = start: an IKE tunnel negotiates by itself when the suite starts;
# nobody runs ike cmd=activate, and traffic flows.
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
