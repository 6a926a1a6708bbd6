#!/usr/bin/env bash
# Bulkhead against strongSwan over IKEv2 with a PSK: a whole suite in host a,
# charon in host b. One side initiates, the tunnel comes up on both with the
# proposal asked for, ping and a TCP transfer pass through it, and
# ike cmd=remove takes it down on both (Bulkhead's Delete reaches charon).
# When charon initiates, Bulkhead asks it for a COOKIE (CookieThreshold 0,
# RFC 7296 2.6) and charon must send it back. With FRAGMENT_SIZE in the
# environment both sides send messages above that size in fragments
# (RFC 7383), and both must have sent and received some.
#   bulkhead.sh INITIATOR IKE ESP IKE_ALGS ESP_ALGS
#     INITIATOR  bulkhead (ike cmd=activate) or charon (swanctl --initiate)
#     IKE, ESP   the proposals of both sides (aes256gcm16-prfsha256-x25519 aes256gcm16)
#     IKE_ALGS, ESP_ALGS  what charon must then list, in its words
#                (AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519 AES_GCM_16-256)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"
source "$(dirname "$0")/charon.sh"

[ $# -eq 5 ] && [[ $1 == bulkhead || $1 == charon ]] ||
        { echo "usage: bulkhead.sh bulkhead|charon IKE ESP IKE_ALGS ESP_ALGS" >&2; exit 2; }
INITIATOR=$1 IKE_P=$2 ESP_P=$3 IKE_ALGS=$4 ESP_ALGS=$5
interop_begin

PSK=$(random_psk)
bulkhead_define a ss "$IKE_P" "$ESP_P" "$PSK"
host_suite_start a
isakmpd_prop() { bctl_on a get-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 "$1" | cut -d' ' -f2; }
if [ -n "${FRAGMENT_SIZE:-}" ]; then
        bctl_on a set-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 FragmentSize u "$FRAGMENT_SIZE" ||
                fail "FragmentSize could not be set"
fi
charon_start b
charon_load b ss "$IKE_P" "$ESP_P" "$PSK"

[ -n "$(list_field a ss phase1)" ] || fail "the tunnel definition was not loaded: $(ike_t a cmd=list 2>&1)"
! bulkhead_active a ss || fail "the tunnel is active before anyone started it"
no_ping_through || fail "10.2.0.1 answers before any tunnel is up: the checks would prove nothing"

if [ "$INITIATOR" = bulkhead ]; then
        ike_t a cmd=activate namelist=ss >"$WORK/activate.out" 2>"$WORK/activate.err" ||
                fail "ike cmd=activate failed: $(cat "$WORK/activate.err")"
        bulkhead_active a ss || fail "activation returned, but the list says: $(ike_t a --json cmd=list namelist=ss)"
        wait_for "$T_SETTLE" charon_child_up b ss "$IKE_ALGS" "$ESP_ALGS" ||
                { charon_sas b >&2; fail "charon: no SA with $IKE_ALGS, ESP:$ESP_ALGS"; }
else
        bctl_on a set-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 CookieThreshold u 0 ||
                fail "CookieThreshold could not be set"
        if ! charon_initiate b ss; then
                cat "$WORK/b/charon/initiate.log" >&2
                ! grep -q "retransmit 3 of request with message ID 0" "$WORK/b/charon/initiate.log" ||
                        fail "Bulkhead never answered charon's IKE_SA_INIT"
                fail "swanctl --initiate on charon failed"
        fi
        charon_child_up b ss "$IKE_ALGS" "$ESP_ALGS" || { charon_sas b >&2; fail "charon: no SA with $IKE_ALGS, ESP:$ESP_ALGS"; }
        wait_for "$T_SETTLE" bulkhead_active a ss ||
                fail "charon's SA is up, the list on Bulkhead's side says: $(ike_t a --json cmd=list namelist=ss)"
        cookies=$(bctl_on a get-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 CookiesSent | cut -d' ' -f2)
        [ "$cookies" -ge 1 ] || fail "Bulkhead sent charon no COOKIE (CookiesSent $cookies)"
        pass "charon sent Bulkhead's COOKIE back ($cookies COOKIE answer(s))"
fi
pass "$INITIATOR initiated: $IKE_P / $ESP_P active in Bulkhead; charon lists $IKE_ALGS, ESP:$ESP_ALGS in UDP"
if [ -n "${FRAGMENT_SIZE:-}" ]; then
        [ "$(tunnel_field a ss fragmentation)" = yes ] || fail "fragmentation not agreed with charon"
        [ "$(isakmpd_prop FragmentsSent)" -ge 2 ] && [ "$(isakmpd_prop FragmentsReceived)" -ge 2 ] ||
                fail "Bulkhead sent $(isakmpd_prop FragmentsSent) and received $(isakmpd_prop FragmentsReceived) fragments"
        pass "IKE_AUTH in fragments of $FRAGMENT_SIZE octets both ways: Bulkhead sent $(isakmpd_prop FragmentsSent), received $(isakmpd_prop FragmentsReceived)"
fi

ping_through
pass "ping 10.1.0.1 -> 10.2.0.1 through the tunnel"
ms=$(tcp_transfer a b 10.1.0.1 10.2.0.1 "${BULKHEAD_INTEROP_MB:-4}")
pass "TCP Bulkhead -> charon intact (sha256): ${BULKHEAD_INTEROP_MB:-4} MB in $ms ms"

# Phase 2 alone: charon keeps the IKE SA when Bulkhead deletes the CHILD
# SA, and makes a new one when Bulkhead asks with CREATE_CHILD_SA.
ike_spis=$(tunnel_field a ss ike_spis)
ike_t a cmd=remove phase=2 namelist=ss >/dev/null 2>"$WORK/remove.err" ||
        fail "ike cmd=remove phase=2 failed: $(cat "$WORK/remove.err")"
wait_for "$T_SETTLE" charon_child_gone b ss || { charon_sas b >&2; fail "charon did not keep the IKE SA alone"; }
wait_for "$T_SETTLE" no_ping_through || fail "10.2.0.1 still answers without a CHILD SA"
ike_t a cmd=activate namelist=ss >/dev/null 2>"$WORK/activate.err" ||
        fail "phase 2 again failed: $(cat "$WORK/activate.err")"
wait_for "$T_SETTLE" charon_child_up b ss "$IKE_ALGS" "$ESP_ALGS" || { charon_sas b >&2; fail "charon: no new CHILD_SA"; }
[ "$(tunnel_field a ss ike_spis)" = "$ike_spis" ] || fail "a new IKE SA was made for phase 2"
ping_through
pass "phase 2 removed alone and made again over the same IKE SA; charon follows both"

# Phase 1 alone, asked of Bulkhead: charon is left with the IKE SA and no
# CHILD SA (the one IKE_AUTH made is deleted at once); phase 2 then comes
# over that IKE SA.
if [ "$INITIATOR" = bulkhead ]; then
        ike_t a cmd=remove namelist=ss >/dev/null 2>"$WORK/remove.err" || fail "ike cmd=remove failed: $(cat "$WORK/remove.err")"
        wait_for "$T_SETTLE" charon_no_sa b || { charon_sas b >&2; fail "charon kept an SA after ike cmd=remove"; }
        out=$(ike_t a cmd=activate phase=1 namelist=ss 2>&1) || fail "ike cmd=activate phase=1 failed: $out"
        wait_for "$T_SETTLE" charon_child_gone b ss || { charon_sas b >&2; fail "charon: not the IKE SA alone after phase=1"; }
        [ "$(tunnel_field a ss phase1)" = active ] && [ "$(tunnel_field a ss phase2)" = inactive ] ||
                fail "Bulkhead after phase=1: phase 1 $(tunnel_field a ss phase1), phase 2 $(tunnel_field a ss phase2)"
        no_ping_through || fail "10.2.0.1 answers with phase 1 alone"
        ike_t a cmd=activate namelist=ss >/dev/null 2>"$WORK/activate.err" || fail "phase 2 failed: $(cat "$WORK/activate.err")"
        wait_for "$T_SETTLE" charon_child_up b ss "$IKE_ALGS" "$ESP_ALGS" || { charon_sas b >&2; fail "charon: no CHILD_SA after phase 1 alone"; }
        ping_through
        pass "phase 1 alone: charon keeps the IKE SA without a CHILD SA; phase 2 then comes over it"
fi

ike_t a cmd=remove namelist=ss >"$WORK/remove.out" 2>"$WORK/remove.err" ||
        fail "ike cmd=remove failed: $(cat "$WORK/remove.err")"
wait_for "$T_SETTLE" charon_no_sa b || { charon_sas b >&2; fail "charon still has an SA $T_SETTLE s after ike cmd=remove"; }
grep -q "received DELETE for IKE_SA ss\[" "$WORK/b/charon/charon.log" ||
        fail "charon's SA went, but its log shows no Delete from Bulkhead"
! bulkhead_active a ss || fail "the tunnel is still active after ike cmd=remove"
wait_for "$T_SETTLE" no_ping_through || fail "10.2.0.1 still answers after ike cmd=remove"
pass "ike cmd=remove: charon's SA gone (Delete received), traffic stops"

# Nothing Bulkhead wrote holds the pre-shared key or a key it derived.
! grep -rqF --exclude=secrets.conf -- "$PSK" "$WORK/a" || fail "the pre-shared key is in what Bulkhead wrote"
[ -n "$(derived_keys a)" ] || fail "cryptod noted no derived key"
no_derived_key_in_logs
