#!/usr/bin/env bash
# The interop harness checked on itself: charon in both hosts, with the same
# helpers, plugins and checks as the Bulkhead tests. a initiates to b: both
# list the SA with the expected algorithms, ping and a TCP transfer pass
# through it, a's terminate makes b's SA go. Then b is given another PSK: the
# initiation fails with AUTHENTICATION_FAILED and nothing is left up.
#   charon-pair.sh IKE ESP IKE_ALGS ESP_ALGS
#     (aes256gcm16-prfsha256-x25519 aes256gcm16
#      AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519 AES_GCM_16-256)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"
source "$(dirname "$0")/charon.sh"

[ $# -eq 4 ] || { echo "usage: charon-pair.sh IKE ESP IKE_ALGS ESP_ALGS" >&2; exit 2; }
IKE_P=$1 ESP_P=$2 IKE_ALGS=$3 ESP_ALGS=$4
interop_begin

PSK=$(random_psk)
charon_start a
charon_start b
charon_load a ss "$IKE_P" "$ESP_P" "$PSK"
charon_load b ss "$IKE_P" "$ESP_P" "$PSK"
no_ping_through || fail "10.2.0.1 answers before any tunnel is up: the checks would prove nothing"

charon_initiate a ss || { cat "$WORK/a/charon/initiate.log" >&2; fail "swanctl --initiate on a failed"; }
charon_child_up a ss "$IKE_ALGS" "$ESP_ALGS" || { charon_sas a >&2; fail "a: no SA with $IKE_ALGS, ESP:$ESP_ALGS"; }
wait_for "$T_SETTLE" charon_child_up b ss "$IKE_ALGS" "$ESP_ALGS" ||
        { charon_sas b >&2; fail "b: no SA with $IKE_ALGS, ESP:$ESP_ALGS"; }
pass "charon a -> charon b: $IKE_P / $ESP_P up, $IKE_ALGS, ESP:$ESP_ALGS in UDP on both"

ping_through
pass "ping 10.1.0.1 -> 10.2.0.1 through the tunnel"
ms=$(tcp_transfer a b 10.1.0.1 10.2.0.1 "${BULKHEAD_INTEROP_MB:-4}")
pass "TCP a -> b intact (sha256): ${BULKHEAD_INTEROP_MB:-4} MB in $ms ms"

swan a --terminate --ike ss --timeout "$T_SETTLE" >"$WORK/a/charon/terminate.log" 2>&1 ||
        { cat "$WORK/a/charon/terminate.log" >&2; fail "swanctl --terminate on a failed"; }
wait_for "$T_SETTLE" charon_no_sa b || { charon_sas b >&2; fail "b still has an SA $T_SETTLE s after a's Delete"; }
grep -q "received DELETE for IKE_SA ss\[" "$WORK/b/charon/charon.log" || fail "b's log shows no Delete from a"
charon_no_sa a || fail "a still has an SA after its terminate"
wait_for "$T_SETTLE" no_ping_through || fail "10.2.0.1 still answers after the tunnel went"
pass "terminated on a: b's SA gone, traffic stops"

# The negative control: the same checks must see a failure.
charon_load b ss "$IKE_P" "$ESP_P" "$(random_psk)"
! charon_initiate a ss || fail "the initiation succeeded with two different PSKs"
grep -q "received AUTHENTICATION_FAILED notify" "$WORK/a/charon/initiate.log" ||
        fail "a's initiation failed, but not with AUTHENTICATION_FAILED: $(cat "$WORK/a/charon/initiate.log")"
wait_for "$T_SETTLE" charon_no_sa a || { charon_sas a >&2; fail "a keeps an SA after the failure"; }
charon_no_sa b || { charon_sas b >&2; fail "b keeps an SA after the failure"; }
no_ping_through || fail "10.2.0.1 answers after a failed negotiation"
pass "another PSK in b: the initiation fails with AUTHENTICATION_FAILED, no SA, no traffic"
