#!/usr/bin/env bash
# start = trap against strongSwan: Bulkhead in host a holds a trap for a
# tunnel to charon in host b; nobody initiates. A ping from a's inner
# address is held by the trap (out_trapped), Bulkhead negotiates with
# charon, and the ping goes through. After ike cmd=remove the trap stays,
# and the next packet negotiates again.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"
source "$(dirname "$0")/charon.sh"

IKE_P=aes256gcm16-prfsha256-x25519 ESP_P=aes256gcm16
IKE_ALGS=AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519 ESP_ALGS=AES_GCM_16-256
interop_begin

PSK=$(random_psk)
BULKHEAD_EXTRA="start = trap" bulkhead_define a ss "$IKE_P" "$ESP_P" "$PSK"
host_suite_start a
charon_start b
charon_load b ss "$IKE_P" "$ESP_P" "$PSK"

[ -n "$(list_field a ss phase1)" ] || fail "the tunnel definition was not loaded: $(ike_t a cmd=list 2>&1)"
sleep 1
! bulkhead_active a ss || fail "the trap tunnel is active before any traffic"
charon_no_sa b || { charon_sas b >&2; fail "charon has an SA before any traffic"; }

in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1 || true
wait_for "$T_SETTLE" bulkhead_active a ss || fail "the trap did not start the tunnel: $(ike_t a --json cmd=list namelist=ss)"
wait_for "$T_SETTLE" charon_child_up b ss "$IKE_ALGS" "$ESP_ALGS" ||
        { charon_sas b >&2; fail "charon: no SA with $IKE_ALGS, ESP:$ESP_ALGS"; }
ping_through
trapped=$(counter a out_trapped)
[ "$trapped" -ge 1 ] || fail "out_trapped is $trapped"
pass "the first packet started the tunnel with charon ($trapped held); ping through"

ike_t a cmd=remove namelist=ss >/dev/null 2>"$WORK/remove.err" || fail "ike cmd=remove failed: $(cat "$WORK/remove.err")"
wait_for "$T_SETTLE" charon_no_sa b || { charon_sas b >&2; fail "charon still has an SA after ike cmd=remove"; }
in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1 || true
wait_for "$T_SETTLE" bulkhead_active a ss || fail "the trap did not start the tunnel again after cmd=remove"
wait_for "$T_SETTLE" charon_child_up b ss "$IKE_ALGS" "$ESP_ALGS" || { charon_sas b >&2; fail "charon: no new SA"; }
ping_through
pass "after ike cmd=remove the trap stays: the next packet negotiates with charon again"
no_derived_key_in_logs
