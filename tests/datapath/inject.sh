#!/usr/bin/env bash
# Packets injected from the path: a replayed, a truncated, a corrupted, a
# wrong-ICV and an unknown-SPI ESP packet, and one of the tunnel's ESP-in-UDP
# packets sent as raw ESP, or in UDP to another worker than its SA's, are
# dropped and counted under the right ipsecstat line, and the tunnel keeps
# working.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup

# One worker per host: the raw ESP packet then meets the worker its SA
# belongs to, and only the SA's encapsulation can refuse it.
export BULKHEAD_SUITE_ARGS="--dp-workers 1"
manual_pair udp 4 4 aes256gcm16 "replay = yes"

INJECT=$(dirname "$0")/inject.py
# Catch one real ESP packet from a to b on b's side of the wire.
in_host b python3 "$INJECT" capture "vb$$" "$WORK/frame" &
catcher=$!
sleep 0.5
in_host a ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping before injection"
wait "$catcher" || fail "no ESP packet captured"

declare -A before
for c in in_esp in_esp_replay in_esp_compute in_filter_deny in_dropped in_unknown_spi in_misrouted; do
        before[$c]=$(counter b "$c")
done
expect() { # counter delta
        local now
        now=$(counter b "$1")
        [ "$((now - before[$1]))" -eq "$2" ] || fail "$1 moved by $((now - before[$1])), expected $2"
}

for kind in replay unknown-spi corrupt bad-icv truncated raw; do
        in_host a python3 "$INJECT" send "va$$" "$WORK/frame" "$kind" || fail "could not send $kind"
done
sleep 0.5
expect in_esp_replay 1
expect in_filter_deny 2
expect in_unknown_spi 1
expect in_misrouted 1
expect in_esp_compute 3
expect in_dropped 6
expect in_esp 0
pass "replayed (ESP replay violation), unknown SPI and raw ESP for an SA in UDP (filter denies), corrupted, wrong ICV, truncated (ESP did not compute): all dropped and counted"

if [ -x "$BUILD/cli/ipsecstat" ]; then
        report=$("$BUILD/cli/ipsecstat" --run-dir "$WORK/b/run")
        grep -q "ESP replay violation: $((before[in_esp_replay] + 1))" <<<"$report" || fail "ipsecstat: $report"
        grep -q "ESP did not compute: $((before[in_esp_compute] + 3))" <<<"$report" || fail "ipsecstat: $report"
        pass "ipsecstat reports them on the seed's lines"
fi

in_host a ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "the tunnel stopped working after the injection"
pass "the tunnel still works"

# ESP in UDP at another worker than its SA's. Both hosts again (a manual
# SA's sequence numbers start over with its host), b with two workers: its
# inbound SPI 0x1001 is worker 1's. The kernel keeps the two packets of one
# segmented send together, and the selector picks the worker from the first
# one's SPI (0x2000: worker 0) for both, so that the tunnel's own packet
# behind it reaches worker 0: refused before its SA is touched.
for h in a b; do
        pidvar=SUP_$h
        kill -TERM "${!pidvar}"
        wait "${!pidvar}" || true
done
host_suite_start a
BULKHEAD_SUITE_ARGS="--dp-workers 2" host_suite_start b
for h in a b; do
        ike_on $h cmd=activate namelist=lab >/dev/null || fail "activate on $h again: $(ike_on $h cmd=list)"
done
read -r _ n _ <<<"$(bctl_on b get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 Workers)"
[ "$n" = 2 ] || fail "b has $n workers, not 2"
for c in in_esp in_esp_replay in_filter_deny in_dropped in_unknown_spi in_misrouted udp_gro_datagrams; do
        before[$c]=$(counter b "$c")
done
in_host a python3 "$INJECT" joined "$WORK/frame" 192.0.2.1 192.0.2.2 2000 || fail "could not send the joined pair"
sleep 0.5
expect udp_gro_datagrams 1
expect in_unknown_spi 1
expect in_misrouted 1
expect in_filter_deny 2
expect in_dropped 2
expect in_esp_replay 0
expect in_esp 0
pass "the tunnel's ESP behind another SPI in one joined datagram, at the other worker: dropped as misrouted, its SA untouched"
in_host a ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "the tunnel does not work with two workers on b"
expect in_esp 3
pass "the tunnel works with two workers on b, its SA's window as it was"
