#!/usr/bin/env bash
# Exchange tests: two suites in two network namespaces, and every IKE
# message between them queued through the test (tests/ike/wire.py), which
# delivers, drops or holds each one as the scenario says and checks what was
# exchanged (tests/ike/exchange.py has the scenarios).
#   exchange.sh SCENARIO
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

SCENARIO=${1:?a scenario}
command -v iptables >/dev/null || fail "iptables is not installed (scripts/deps.sh)"
WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup

IKE_P=aes256gcm16-prfsha256-x25519
ESP_P=aes256gcm16
PSK_A="exchange $$ $RANDOM$RANDOM"
PSK_B=$PSK_A
A_EXTRA=() B_EXTRA=()
case $SCENARIO in
exchanges) B_EXTRA=("dpd_delay = 1s" "child_rekey_time = 4s") A_EXTRA=("rekey_time = 7s") ;;
retransmit | timeout | phase2) ;;
child-collision) A_EXTRA=("child_rekey_time = 3s") B_EXTRA=("child_rekey_time = 3s") ;;
ike-collision) A_EXTRA=("rekey_time = 3s") B_EXTRA=("rekey_time = 3s") ;;
lifetime) A_EXTRA=("lifetime_packets = 500") ;;
phase2-busy) A_EXTRA=("child_rekey_time = 5s") ;;
phase2-collision) ;;
child-invalid-ke) ESP_A="aes256gcm16-x25519, aes256gcm16-ecp256" ESP_B=aes256gcm16-ecp256 A_EXTRA=("child_rekey_time = 3s") ;;
invalid-ke) IKE_A=aes256gcm16-prfsha256-x25519-ecp256 IKE_B=aes256gcm16-prfsha256-ecp256 ;;
no-proposal) IKE_B=aes128-sha256-prfsha256-modp2048 ;;
auth-failed) PSK_B="not the same $RANDOM" ;;
ts-unacceptable) ;;
*) fail "no scenario $SCENARIO" ;;
esac
ike_define a gw "${IKE_A:-$IKE_P}" "${ESP_A:-$ESP_P}" "${A_EXTRA[@]}"
ike_define b gw "${IKE_B:-$IKE_P}" "${ESP_B:-$ESP_P}" "${B_EXTRA[@]}"
# b does not accept a's side of the traffic.
[ "$SCENARIO" != ts-unacceptable ] || sed -i 's|^remote_ts = .*|remote_ts = 10.9.0.0/16|' "$WORK/b/etc/tunnels.d/gw.conf"
write_secrets a "psk gw \"$PSK_A\""
write_secrets b "psk gw \"$PSK_B\""
host_suite_start a
host_suite_start b

WORK=$WORK IKE=$IKE NS_B=$NS_B A_ADDR=192.0.2.1 PYTHONPATH=$TESTS_DIR/ike \
        in_host a python3 "$TESTS_DIR/ike/exchange.py" "$SCENARIO" ||
        fail "scenario $SCENARIO; the wire:
$(cat "$WORK/transcript" 2>/dev/null)"

grep -q "killed by signal\|SIGSEGV\|SIGSYS" "$WORK/a/out" "$WORK/b/out" &&
        fail "a service died: $(grep -h 'killed' "$WORK"/*/out)"
hex_a=0x$(printf '%s' "$PSK_A" | od -An -tx1 | tr -d ' \n')
hex_b=0x$(printf '%s' "$PSK_B" | od -An -tx1 | tr -d ' \n')
grep -rqF -- "$PSK_A" "$WORK"/a/out "$WORK"/b/out && fail "a pre-shared key is in a log"
no_key_in_logs "$hex_a" "$hex_b"
pass "no service died; no pre-shared key in any log"
no_derived_key_in_logs
# SHOW_WIRE=1 prints what went over the wire.
[ -z "${SHOW_WIRE:-}" ] || cat "$WORK/transcript"
