#!/usr/bin/env bash
# Packets injected from the path: a replayed, a truncated, a corrupted, a
# wrong-ICV and an unknown-SPI ESP packet, and one of the tunnel's ESP-in-UDP
# packets sent as raw ESP, are dropped and counted under the right ipsecstat
# line, and the tunnel keeps working. One of the tunnel's packets joined in
# one datagram behind another SPI's, which takes it to another worker than
# its SA's, is handed to its SA's worker and decapsulated there.
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

# ESP in UDP at another worker than its SA's, as when a NIC's GRO joins the
# packets of two SAs of one peer. Both hosts again (a manual SA's sequence
# numbers start over with its host), b with two workers: its inbound SPI
# 0x1001 is worker 1's. A fresh packet of a's, caught on b's wire while b's
# firewall keeps it from b's sockets, is new to b's SA. The kernel keeps the
# two packets of one segmented send together, and the selector picks the
# worker from the first one's SPI (0x2000, unknown: worker 0) for both:
# worker 0 hands the tunnel's packet behind it to worker 1, whose SA takes
# it.
command -v iptables >/dev/null || fail "iptables is not installed (scripts/deps.sh)"
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
workers() { # the packets each of b's workers carried: "W0 W1"
        local n w
        read -r _ n w <<<"$(bctl_on b get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 Workers)"
        [ "$n" = 2 ] || fail "b has $n workers, not 2"
        echo "$w"
}
in_host b iptables -A INPUT -p udp --dport 4500 -j DROP
in_host b python3 "$INJECT" capture "vb$$" "$WORK/fresh" &
catcher=$!
sleep 0.5
in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null && fail "a ping went through b's firewall"
wait "$catcher" || fail "no fresh ESP packet captured"
in_host b iptables -D INPUT -p udp --dport 4500 -j DROP
[ "$(counter b in_esp)" = 0 ] || fail "b took the fresh packet: in_esp $(counter b in_esp)"
for c in in_esp in_esp_replay in_esp_compute in_filter_deny in_dropped in_unknown_spi in_misrouted \
        in_handed_off in_handoff_full udp_gro_datagrams; do
        before[$c]=$(counter b "$c")
done
read -r w0 w1 <<<"$(workers)"
in_host a python3 "$INJECT" joined "$WORK/fresh" 192.0.2.1 192.0.2.2 2000 || fail "could not send the joined pair"
sleep 0.5
expect udp_gro_datagrams 1
expect in_unknown_spi 1
expect in_handed_off 1
expect in_handoff_full 0
expect in_misrouted 0
expect in_filter_deny 1
expect in_dropped 1
expect in_esp_replay 0
expect in_esp_compute 0
expect in_esp 1
read -r n0 n1 <<<"$(workers)"
# Worker 1 wrote it to the TUN device (b's echo reply may leave through
# either worker).
[ "$((n1 - w1))" -ge 1 ] || fail "worker 1 carried $((n1 - w1)) packets, worker 0 $((n0 - w0))"
pass "the tunnel's ESP behind another SPI in one joined datagram, at the other worker: handed to its SA's worker, decapsulated and delivered"

# The same pair again: the window that took the packet is worker 1's, where
# it is now a replay.
in_host a python3 "$INJECT" joined "$WORK/fresh" 192.0.2.1 192.0.2.2 2000 || fail "could not send the joined pair"
sleep 0.5
expect in_handed_off 2
expect in_esp_replay 1
expect in_misrouted 0
expect in_esp 1
pass "sent again, it is handed over again and refused by its SA's window as a replay"
in_host a ping -c 3 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "the tunnel does not work with two workers on b"
expect in_esp 4
expect in_handed_off 2
pass "the tunnel works with two workers on b, its packets on their SA's worker"
