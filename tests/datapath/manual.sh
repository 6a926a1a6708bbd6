#!/usr/bin/env bash
# Two hosts, each running a whole suite in its own network namespace, with a
# manual tunnel between them: activated with ike on both sides, ping and a
# TCP transfer through it, counters that match, removed cleanly.
#   manual.sh [ENCAP [OUTER [INNER [ESP [MODE]]]]]: udp|esp, 4|6, 4|6, a
#   transform set, tunnel|transport (transport: INNER is OUTER, and the
#   traffic is the hosts' own, between their outer addresses)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

ENCAP=${1:-udp}
OUTER=${2:-4}
INNER=${3:-4}
ESP=${4:-aes256gcm16}
MANUAL_MODE=${5:-tunnel}
WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
manual_define "$ENCAP" "$OUTER" "$INNER" "$ESP"

host_suite_start a
host_suite_start b

list=$(ike_on a cmd=list)
grep -q "^7 .*lab .*inactive" <<<"$list" || fail "ike cmd=list before activation: $list"
ike_on a cmd=activate namelist=lab >/dev/null || fail "activate on a failed: $(ike_on a cmd=list)"
ike_on b cmd=activate numlist=7 >/dev/null || fail "activate on b failed: $(ike_on b cmd=list)"
grep -q "active" <<<"$(ike_on a cmd=list namelist=lab)" || fail "a: not active"
rc=0
ike_on a cmd=activate namelist=lab 2>/dev/null || rc=$?
[ "$rc" -ne 0 ] || fail "activating an active tunnel succeeded"
if [ "$MANUAL_MODE" = transport ]; then
        what="transport mode, IPv$OUTER"
else
        what="IPv$INNER in IPv$OUTER"
fi
pass "manual tunnel lab ($ESP, ${PROTO^^} ${ENCAP^^}, $what) active on both hosts"

# Legacy algorithms run only because the definition names them, and are
# said to be legacy wherever algorithms are shown; the others never are.
SET=${ESP#ah-}
case $SET in
*3des* | *sha1* | *md5*) LEGACY=yes ;;
*) LEGACY=no ;;
esac
verbose=$(ike_on a cmd=list verbose namelist=lab)
sas=$("$BUILD/cli/ipsecstat" --run-dir "$WORK/a/run" -s)
grep -Eq "^ +$PROTO +$SET: " <<<"$verbose" || fail "ike cmd=list verbose does not show the $PROTO transforms: $verbose"
if [ "$LEGACY" = yes ]; then
        grep -Eq "^ +$PROTO +$SET: .*\(legacy\)" <<<"$verbose" || fail "ike cmd=list verbose does not mark the legacy algorithms: $verbose"
        grep -q "^lab .*(legacy)" <<<"$sas" || fail "ipsecstat -s does not mark the legacy algorithms: $sas"
        for h in a b; do
                # Read before tmd is on the bus: on its standard error then.
                grep -Eq "tmd(\[events\]| events): .*lab\.conf:[0-9]+: warning: $PROTO uses the legacy algorithm" "$WORK/$h/out" ||
                        fail "$h: no warning at events level when the definition was read: $(grep -i legacy "$WORK/$h/out")"
                grep -q "tmd events tunnel=lab: warning: $PROTO uses legacy algorithms: $SET: .*(legacy)" "$WORK/$h/out" ||
                        fail "$h: no warning at events level on activation: $(grep -i legacy "$WORK/$h/out")"
        done
        pass "reported as legacy: when read and when activated (events), in ike cmd=list verbose, in ipsecstat -s"
else
        ! grep -qi legacy <<<"$verbose$sas" || fail "a modern transform set reported as legacy: $verbose $sas"
fi

PING=ping
in_host a $PING -c 3 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >"$WORK/ping" || { cat "$WORK/ping"; fail "ping through the tunnel failed"; }
pass "ping $A_IN -> $B_IN through the tunnel"

# A TCP transfer of 100 MB, checksummed at both ends.
SIZE=${BULKHEAD_TEST_MB:-100}
ms=$(tcp_transfer a b "$A_IN" "$B_IN" "$SIZE")
pass "$SIZE MB over TCP arrived intact in $ms ms ($((SIZE * 8 * 1000 / (ms > 0 ? ms : 1))) Mbit/s)"

# The counters agree: every ESP packet a sent, b received or the kernel
# dropped for a full socket buffer (counted in b's namespace); none dropped
# by the data path itself.
out_a=$(counter a out_$PROTO)
in_b=$(counter b in_$PROTO)
kernel_b=$(in_host b nstat -az UdpRcvbufErrors Udp6RcvbufErrors Ip6InDiscards IpInDiscards 2>/dev/null | awk '/Errors|Discards/ {n += $2} END {print n + 0}')
[ "$out_a" -gt 3 ] || fail "a counted $out_a ${PROTO^^} packets out"
[ "$(counter a in_dropped)" = 0 ] && [ "$(counter b in_dropped)" = 0 ] || fail "drops: a $(counter a in_dropped), b $(counter b in_dropped)"
[ "$((in_b + kernel_b))" -eq "$out_a" ] || fail "a sent $out_a ${PROTO^^} packets, b received $in_b (+ $kernel_b dropped by its kernel)"
sa=$(bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 ListSAs)
grep -q "\"lab\" \"out\" \"$PROTO\" 4097" <<<"$sa" || fail "ListSAs on a: $sa"
pass "counters match: a sent $out_a ${PROTO^^} packets, b received $in_b (+ $kernel_b lost to a full socket buffer), no data path drops"

# The TCP went through the TUN device in super packets both ways: a cut
# what its stack handed over, b joined what it decapsulated.
tso_a=$(counter a tso_super_packets)
gro_b=$(counter b gro_super_packets)
[ "$tso_a" -gt 0 ] || fail "a cut no TCP super packet (tso_super_packets $tso_a): no segmentation offload on the TUN device"
[ "$gro_b" -gt 0 ] || fail "b joined no segments (gro_super_packets $gro_b)"
pass "offloads at work: a cut $tso_a super packets, b wrote $gro_b joined ones"

# ESP in UDP: a sends runs of equal datagrams as one (UDP_SEGMENT), the
# veth carries them so, and b's sockets, with UDP_GRO, take each such run
# as one datagram that filterd cuts again.
if [ "$ENCAP" = udp ]; then
        joined_b=$(counter b udp_gro_datagrams)
        [ "$joined_b" -gt 0 ] || fail "b's UDP 4500 sockets took no joined datagram (udp_gro_datagrams $joined_b)"
        pass "UDP GRO at work: b read $joined_b joined datagrams, and cut them into the $in_b ESP packets counted"
fi

# The data path has a worker per CPU (at most 4), each with a queue of the
# TUN device; the kernel spreads flows over the queues, so 32 UDP flows
# from a keep every one of a's workers busy.
cpus=$(nproc)
want=$((cpus < 4 ? cpus : 4))
workers() { bctl_on "$1" get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 Workers; }
read -r _ n counts <<<"$(workers a)"
[ "$n" = "$want" ] || fail "a's filterd has $n workers, not $want: $(workers a)"
in_host a python3 -c '
import socket, sys
src, dst = sys.argv[1], sys.argv[2]
family = socket.AF_INET6 if ":" in dst else socket.AF_INET
for i in range(32):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.bind((src, 0))
    for _ in range(4):
        s.sendto(b"x" * 200, (dst, 9))
    s.close()
' "$A_IN" "$B_IN" || fail "sending the UDP flows failed"
read -r _ n counts <<<"$(workers a)"
for c in $counts; do [ "$c" -gt 0 ] || fail "a worker of a's filterd carried nothing: $(workers a)"; done
pass "$n workers in a's filterd, every one of them carried packets: $counts"

# filterd dies: the supervisor restarts it, tmd installs the tunnel again,
# and traffic flows again without the operator.
fpid=$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Service1 Pid | cut -d' ' -f2)
kill -9 "$fpid"
sas_back() {
        local n
        n=$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs 2>/dev/null) &&
                [ "$n" = "u 2" ] && [ "$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Service1 Pid | cut -d' ' -f2)" != "$fpid" ]
}
wait_for 10 sas_back || fail "the tunnel's SAs did not come back after filterd was killed"
in_host a ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no traffic after filterd's restart"
pass "filterd killed: restarted, the tunnel reinstalled, traffic flows again"

ike_on a cmd=remove namelist=lab >/dev/null || fail "remove on a failed"
grep -q "inactive" <<<"$(ike_on a cmd=list namelist=lab)" || fail "a: not inactive after remove"
[ "$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 0" ] || fail "SAs left in filterd after remove"
if [ "$MANUAL_MODE" = transport ]; then
        # Once b has removed it too, the hosts talk in the clear again, by
        # the route they had before (until then, b's ESP finds no SA on a).
        ike_on b cmd=remove namelist=lab >/dev/null || fail "remove on b failed"
        ! in_host a ip route get "$B_IN" from "$A_IN" | grep -q bulkhead0 || fail "$B_IN still routed through the TUN device"
        before=$(counter a out_total)
        in_host a ping -c 1 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no clear ping after remove"
        [ "$(counter a out_total)" = "$before" ] || fail "filterd still sends after remove"
        pass "removed: no SA left, the route went, the hosts talk in the clear"
else
        ! in_host a ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || fail "ping still works after remove"
        pass "removed: no SA left, traffic stops"
fi

# Nothing said at debug level, by any service, carries a key.
no_key_in_logs "$K1" "$K2"
pass "no key in any log at debug level"
