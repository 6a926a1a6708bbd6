#!/usr/bin/env bash
# Rekeying between Bulkhead (host a, the first IKE SA's initiator) and
# charon (host b) while one TCP connection carries data for 12 s: of the
# CHILD SA (every 3 s) or of the IKE SA (every 4 s), started by Bulkhead or
# by charon, each rekey answered by the other side, the connection intact,
# and at the end both sides on the same SAs with no old one left.
#   rekey.sh bulkhead|charon [child|ike]
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"
source "$(dirname "$0")/charon.sh"

[[ ${1:-} == bulkhead || ${1:-} == charon ]] || { echo "usage: rekey.sh bulkhead|charon" >&2; exit 2; }
BY=$1
KIND=${2:-child}
interop_begin

PSK=$(random_psk)
if [ "$KIND" = ike ]; then
        WHAT="IKE SA"
        if [ "$BY" = bulkhead ]; then
                BULKHEAD_EXTRA="rekey_time = 4s" CHARON_IKE_REKEY=0
        else
                BULKHEAD_EXTRA="rekey_time = 1h" CHARON_IKE_REKEY=4s
        fi
elif [ "$BY" = bulkhead ]; then
        WHAT="CHILD SA" BULKHEAD_EXTRA="child_rekey_time = 3s" CHARON_CHILD_REKEY=0
else
        # charon's CHILD_SA expires at 110 % of its rekey time unless told
        # otherwise: a rekey must come first.
        WHAT="CHILD SA" BULKHEAD_EXTRA="child_rekey_time = 1h" CHARON_CHILD_REKEY=3s CHARON_CHILD_LIFE=1h
fi
bulkhead_define a ss aes256gcm16-prfsha256-x25519 aes256gcm16 "$PSK"
host_suite_start a
charon_start b
charon_load b ss aes256gcm16-prfsha256-x25519 aes256gcm16 "$PSK"

ike_t a cmd=activate namelist=ss >/dev/null 2>"$WORK/activate.err" || fail "activation failed: $(cat "$WORK/activate.err")"
wait_for "$T_SETTLE" charon_child_up b ss AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519 AES_GCM_16-256 ||
        { charon_sas b >&2; fail "charon has no CHILD_SA"; }
first=$(tunnel_field a ss esp_spi_in)
first_ike=$(tunnel_field a ss ike_spis)
ms=$(tcp_transfer a b 10.1.0.1 10.2.0.1 24 12)
pass "24 MB over one TCP connection spread over 12 s arrived intact ($ms ms)"

if [ "$BY" = bulkhead ]; then
        n=$(grep -c "$WHAT rekeyed (.* by us)" "$WORK/a/out" || true)
else
        n=$(grep -c "$WHAT rekeyed (.* by the peer)" "$WORK/a/out" || true)
fi
[ "$n" -ge 2 ] || fail "$n $WHAT rekeys started by $BY during the transfer (2 or more expected)"
if [ "$KIND" = ike ]; then
        [ "$(tunnel_field a ss ike_spis)" != "$first_ike" ] || fail "Bulkhead's IKE SA SPIs never changed"
        one_ike() { [ "$(charon_sas b | grep -c 'ESTABLISHED')" -eq 1 ] && [ "$(bctl_on a call org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 ListSAs | cut -d' ' -f2)" = 1 ]; }
        wait_for 10 one_ike || { charon_sas b >&2; fail "old IKE SAs left after the rekeys"; }
        # Both read afresh each time: a rekey may come between the two.
        same_ike() {
                spis=$(tunnel_field a ss ike_spis)
                charon_sas b | grep -q "${spis%%_i*}_i\*\? ${spis#* }" || charon_sas b | grep -q "${spis%%_i*}"
        }
        wait_for 5 same_ike || { charon_sas b >&2; fail "charon does not list Bulkhead's IKE SA $spis"; }
else
        [ "$(tunnel_field a ss esp_spi_in)" != "$first" ] || fail "Bulkhead's inbound SPI never changed"
fi
pass "$n $WHAT rekeys started by $BY and answered by the other side"

# Settled: charon lists one CHILD_SA, with the SPIs Bulkhead lists.
agree() {
        local sas in out
        sas=$(charon_sas b 2>/dev/null) || return 1
        [ "$(grep -c "INSTALLED" <<<"$sas")" -eq 1 ] || return 1
        in=$(tunnel_field a ss esp_spi_in) out=$(tunnel_field a ss esp_spi_out)
        grep -qE "^ *in +$out," <<<"$sas" && grep -qE "^ *out +$in," <<<"$sas"
}
wait_for 15 agree || { charon_sas b >&2; fail "after the rekeys Bulkhead says in $(tunnel_field a ss esp_spi_in) out $(tunnel_field a ss esp_spi_out)"; }
settled() { [ "$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 2" ]; }
wait_for 10 settled || fail "old SAs left in Bulkhead's filterd: $(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)"
pass "one CHILD SA on each side with the same SPIs, no old SA left"
