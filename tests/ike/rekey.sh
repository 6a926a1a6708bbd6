#!/usr/bin/env bash
# CHILD SA rekeying under traffic between two suites, started by the side
# with the shorter child_rekey_time (a is the IKE SA's initiator, b its
# responder) while a TCP connection carries data for 12 s: the connection
# survives intact, that side reports the rekeys it started and the other
# the ones it answered, the old SAs leave filterd, the SPIs agree.
#   rekey.sh ESP_PROPOSAL A_TIME B_TIME   (a group in the proposal: PFS)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

ESP_P=${1:-aes256gcm16}
A_TIME=${2:-3s}
B_TIME=${3:-1h}
WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
ike_define a gw aes256gcm16-prfsha256-x25519 "$ESP_P" "child_rekey_time = $A_TIME"
ike_define b gw aes256gcm16-prfsha256-x25519 "$ESP_P" "child_rekey_time = $B_TIME"
for h in a b; do write_secrets $h 'psk gw "rekey under traffic"'; done
host_suite_start a
host_suite_start b

ike_on a cmd=activate namelist=gw >/dev/null || fail "activation failed: $(ike_on a cmd=list verbose namelist=gw)"
first_in=$(tunnel_field a gw esp_spi_in)
ms=$(tcp_transfer a b 10.1.0.1 10.2.0.1 24 12)
pass "24 MB over one TCP connection spread over 12 s arrived intact ($ms ms)"

count() { grep -c "isakmpd events tunnel=gw: CHILD SA rekeyed (.* by $2)" "$WORK/$1/out" || true; }
if [ "$B_TIME" = 1h ]; then starter=a other=b; else starter=b other=a; fi
started=$(count $starter us)
answered=$(count $other "the peer")
[ "$started" -ge 3 ] && [ "$answered" -eq "$started" ] ||
        fail "$starter started $started rekeys (3 or more expected), $other answered $answered"
[ "$(tunnel_field a gw esp_spi_in)" != "$first_in" ] || fail "the CHILD SA's SPI never changed"
pass "CHILD SA rekeyed $started times by $starter ($ESP_P), each answered by $other, during the transfer"

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
