#!/usr/bin/env bash
# Bulkhead and charon with different PSKs. Bulkhead initiating: ike
# cmd=activate fails and says why, ike cmd=list shows AUTHENTICATION_FAILED
# as the failure, the isakmpd log says it, and isakmpd is still the same
# process and still answers. Charon initiating: Bulkhead refuses it with
# AUTHENTICATION_FAILED and activates nothing.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"
source "$(dirname "$0")/charon.sh"

IKE_P=aes256gcm16-prfsha256-x25519 ESP_P=aes256gcm16
AUTH_FAILED='AUTHENTICATION_FAILED|authentication failed'
# A line of isakmpd's in the suite's output, through logd ("TIME isakmpd
# errors: ..." or "TIME isakmpd errors tunnel=ss: ...") or straight to stderr
# before logd is there ("isakmpd[errors]: ...").
ISAKMPD_LINE='isakmpd( [a-z]+[^:]*|\[[a-z]+\]): '
interop_begin

bulkhead_define a ss "$IKE_P" "$ESP_P" "$(random_psk)"
host_suite_start a
charon_start b
charon_load b ss "$IKE_P" "$ESP_P" "$(random_psk)"
[ -n "$(list_field a ss phase1)" ] || fail "the tunnel definition was not loaded: $(ike_t a cmd=list 2>&1)"
pid=$(isakmpd_pid a)
[ -n "$pid" ] || fail "no isakmpd pid"

rc=0
ike_t a cmd=activate namelist=ss >"$WORK/activate.out" 2>"$WORK/activate.err" || rc=$?
[ "$rc" -ne 0 ] || fail "ike cmd=activate succeeded with a PSK that charon does not have"
[ "$rc" -lt 124 ] || fail "ike cmd=activate did not return within $T_CMD s"
grep -qiE "$AUTH_FAILED" "$WORK/activate.err" ||
        fail "ike cmd=activate failed (exit $rc), but not for the PSK: $(cat "$WORK/activate.err")"
pass "ike cmd=activate fails (exit $rc): $(head -n 1 "$WORK/activate.err")"

failure=$(list_field a ss failure)
grep -qiE "$AUTH_FAILED" <<<"$failure" ||
        fail "ike cmd=list shows failure \"$failure\": $(ike_t a --json cmd=list namelist=ss)"
! bulkhead_active a ss || fail "the tunnel is active after a failed authentication"
# Charon's side: it rejected the AUTH payload, so that was what went wrong.
wait_for 5 grep -q "but MAC mismatched" "$WORK/b/charon/charon.log" ||
        fail "charon's log does not show a rejected PSK"
wait_for "$T_SETTLE" charon_no_sa b || { charon_sas b >&2; fail "charon keeps an SA after the failure"; }
pass "ike cmd=list shows failure \"$failure\"; no SA on either side"

wait_for 5 grep -qiE "$ISAKMPD_LINE.*($AUTH_FAILED)" "$WORK/a/out" ||
        fail "the isakmpd log does not say the authentication failed"
pass "isakmpd's log: $(grep -iE -m1 "$ISAKMPD_LINE.*($AUTH_FAILED)" "$WORK/a/out" | cut -c1-160)"

[ "$(isakmpd_pid a)" = "$pid" ] || fail "isakmpd is not the same process any more (was $pid, now $(isakmpd_pid a))"
ike_t a cmd=list namelist=ss >/dev/null || fail "ike cmd=list no longer answers"
pass "isakmpd still runs (pid $pid) and answers"

# The other way round: Bulkhead is the one that checks charon's AUTH.
! charon_initiate b ss || fail "charon's initiation succeeded with a PSK that Bulkhead does not have"
grep -q "received AUTHENTICATION_FAILED notify" "$WORK/b/charon/initiate.log" ||
        fail "charon's initiation failed, but Bulkhead did not answer AUTHENTICATION_FAILED: $(tail -n 5 "$WORK/b/charon/initiate.log")"
! bulkhead_active a ss || fail "the tunnel is active after charon failed to authenticate"
wait_for "$T_SETTLE" charon_no_sa b || { charon_sas b >&2; fail "charon keeps an SA after the failure"; }
[ "$(isakmpd_pid a)" = "$pid" ] || fail "isakmpd is not the same process after charon's attempt"
pass "charon initiating with another PSK: refused with AUTHENTICATION_FAILED, nothing active, isakmpd unchanged"
