#!/usr/bin/env bash
# Rekeying under traffic between two suites, started by the side with the
# shorter time (a is the first IKE SA's initiator, b its responder) while a
# TCP connection carries data for 12 s: the connection survives intact,
# that side reports the rekeys it started and the other the ones it
# answered, the old SAs leave filterd, the SPIs agree. KIND child rekeys
# the CHILD SA (child_rekey_time), ike the IKE SA (rekey_time), after
# which the CHILD SA must still rekey on the new IKE SA. KIND packets
# rekeys the CHILD SA by its soft lifetime (lifetime_packets A_TIME on a,
# B_TIME 0: none on b): filterd tells isakmpd, no SA reaches the hard limit.
#   rekey.sh ESP_PROPOSAL A_TIME B_TIME [child|ike|packets]   (a group in the ESP proposal: PFS)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

ESP_P=${1:-aes256gcm16}
A_TIME=${2:-3s}
B_TIME=${3:-1h}
KIND=${4:-child}
case $KIND in
ike) KEY=rekey_time WHAT="IKE SA" ;;
packets) KEY=lifetime_packets WHAT="CHILD SA" ;;
*) KEY=child_rekey_time WHAT="CHILD SA" ;;
esac
WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
# With IKE SA rekeys, the CHILD SA rekeys too (every 5 s, on a): its keys
# then come from the newest IKE SA.
extra=$([ "$KIND" = ike ] && echo "child_rekey_time = 5s" || true)
ike_define a gw aes256gcm16-prfsha256-x25519 "$ESP_P" "$KEY = $A_TIME" "$extra"
ike_define b gw aes256gcm16-prfsha256-x25519 "$ESP_P" "$KEY = $B_TIME"
for h in a b; do write_secrets $h 'psk gw "rekey under traffic"'; done
host_suite_start a
host_suite_start b

ike_on a cmd=activate namelist=gw >/dev/null || fail "activation failed: $(ike_on a cmd=list verbose namelist=gw)"
first_in=$(tunnel_field a gw esp_spi_in)
first_ike=$(tunnel_field a gw ike_spis)
ms=$(tcp_transfer a b 10.1.0.1 10.2.0.1 24 12)
pass "24 MB over one TCP connection spread over 12 s arrived intact ($ms ms)"

count() { grep -c "isakmpd events tunnel=gw: $WHAT rekeyed (.* by $2)" "$WORK/$1/out" || true; }
if [ "$B_TIME" = 1h ] || [ "$B_TIME" = 0 ]; then starter=a other=b; else starter=b other=a; fi
started=$(count $starter us)
answered=$(count $other "the peer")
# One rekey may be under way while the two logs are read.
[ "$started" -ge 3 ] && [ "$answered" -ge $((started - 1)) ] && [ "$answered" -le $((started + 1)) ] ||
        fail "$starter started $started rekeys (3 or more expected), $other answered $answered"
if [ "$KIND" = ike ]; then
        [ "$(tunnel_field a gw ike_spis)" != "$first_ike" ] || fail "the IKE SA's SPIs never changed"
        [ "$(tunnel_field a gw ike_spis)" = "$(tunnel_field b gw ike_spis)" ] ||
                fail "the two sides name different IKE SAs: a $(tunnel_field a gw ike_spis), b $(tunnel_field b gw ike_spis)"
        isa() { bctl_on "$1" call org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 ListSAs | cut -d' ' -f2; }
        one_ike_sa() { [ "$(isa a)" = 1 ] && [ "$(isa b)" = 1 ]; }
        wait_for 10 one_ike_sa || fail "old IKE SAs left: a has $(isa a), b $(isa b)"
        children=$(grep -c "CHILD SA rekeyed (.* by us)" "$WORK/a/out" || true)
        [ "$children" -ge 1 ] || fail "no CHILD SA rekey between the IKE SA rekeys"
        grep -q "IKE SA rekeyed.*\n*" "$WORK/a/out" && awk '/IKE SA rekeyed/ { ike = 1 } /CHILD SA rekeyed \(.* by us\)/ && ike { ok = 1 } END { exit !ok }' "$WORK/a/out" ||
                fail "no CHILD SA rekey after an IKE SA rekey"
else
        [ "$(tunnel_field a gw esp_spi_in)" != "$first_in" ] || fail "the CHILD SA's SPI never changed"
fi
pass "$WHAT rekeyed $started times by $starter ($ESP_P), each answered by $other, during the transfer"
if [ "$KIND" = packets ]; then
        soft=$(grep -c "reached its soft limit of packets: rekeying" "$WORK/a/out" || true)
        [ "$soft" -ge 3 ] || fail "a's isakmpd heard of $soft soft limits"
        ! grep -q "reached its hard limit" "$WORK/a/out" "$WORK/b/out" || fail "an SA reached its hard limit: $(grep -h "hard limit" "$WORK"/*/out)"
        [ "$(counter a out_sa_expired)" = 0 ] && [ "$(counter a in_sa_expired)" = 0 ] || fail "packets dropped as expired"
        over=$(bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 ListSAs | grep -oE '"(in|out)" "esp" [0-9]+ "[^"]*" [0-9]+' | awk '$5 >= 3300' | wc -l)
        [ "$over" = 0 ] || fail "an SA of a carried more than the hard limit: $(bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 ListSAs)"
        pass "filterd told isakmpd of $soft soft limits (lifetime_packets = $A_TIME); no SA reached the hard limit"
fi

# Once the exchanges settle: one SA each way on each side, the same SPIs.
settled() {
        [ "$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 2" ] &&
                [ "$(bctl_on b get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 2" ] &&
                [ "$(tunnel_field a gw esp_spi_in)" = "$(tunnel_field b gw esp_spi_out)" ] &&
                [ "$(tunnel_field a gw esp_spi_out)" = "$(tunnel_field b gw esp_spi_in)" ]
}
ike_on a cmd=list verbose >/dev/null
wait_for 10 settled || fail "after the rekeys: a has $(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs) SAs, b $(bctl_on b get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs); SPIs a $(tunnel_field a gw esp_spi_in)/$(tunnel_field a gw esp_spi_out), b $(tunnel_field b gw esp_spi_in)/$(tunnel_field b gw esp_spi_out)"
pass "old SAs removed from filterd on both sides; both agree on the current SPIs"
[ "$(counter a in_dropped)" = 0 ] && [ "$(counter b in_dropped)" = 0 ] || fail "data path drops: a $(counter a in_dropped), b $(counter b in_dropped): $(bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 GetCounters)"
grep -q "killed" "$WORK/a/out" "$WORK/b/out" && fail "a service died"
pass "no data path drop, no service died"
no_derived_key_in_logs
