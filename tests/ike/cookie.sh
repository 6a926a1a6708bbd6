#!/usr/bin/env bash
# COOKIEs (RFC 7296 2.6): above CookieThreshold half-open IKE SAs, b's
# isakmpd answers an IKE_SA_INIT without a valid COOKIE with one and keeps
# nothing (no half-open SA, no key handle); the same request with the
# COOKIE first gets through. First against ikepeer.py (tests/ike/ikepeer.py)
# in host a, which shows exactly what comes back; then a whole Bulkhead
# suite in a negotiates a tunnel with b while b asks for COOKIEs.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
for h in a b; do
        ike_define $h gw aes256gcm16-prfsha256-x25519 aes256gcm16
        write_secrets $h 'psk gw "some passphrase"'
done
host_suite_start b

peer() { in_host a python3 "$TESTS_DIR/ike/ikepeer.py" --timeout 2 --state "$WORK/peer" "$@" || true; }
b_prop() { bctl_on b get-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 "$1" | cut -d' ' -f2-; }
handles() { bctl_on b get-property org.bulkhead.Crypto /org/bulkhead/Crypto org.bulkhead.Crypto1 Handles | cut -d' ' -f2; }
threshold() {
        bctl_on b set-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 CookieThreshold u "$1" ||
                fail "CookieThreshold could not be set to $1"
}

[ "$(b_prop CookieThreshold)" = 10 ] || fail "CookieThreshold by default: $(b_prop CookieThreshold), want 10"

# Always: no state without a COOKIE, nor with a wrong one.
threshold 0
sent0=$(b_prop CookiesSent)
got=$(peer init)
[[ "$got" =~ ^cookie\ [0-9a-f]{34}$ ]] || fail "IKE_SA_INIT without COOKIE answered: $got"
got=$(peer init --cookie "${got#cookie }")
[[ "$got" =~ ^cookie\  ]] || fail "IKE_SA_INIT with another request's COOKIE answered: $got"
got=$(peer init --cookie 0102030405060708090a0b0c0d0e0f1011)
[[ "$got" =~ ^cookie\  ]] || fail "IKE_SA_INIT with a made-up COOKIE answered: $got"
[ "$(b_prop HalfOpen)" = 0 ] && [ "$(handles)" = 0 ] ||
        fail "state kept for requests without a valid COOKIE: HalfOpen $(b_prop HalfOpen), Handles $(handles)"
[ "$(b_prop CookiesSent)" = $((sent0 + 3)) ] || fail "CookiesSent $(b_prop CookiesSent), want $((sent0 + 3))"
pass "CookieThreshold 0: a request without COOKIE, with another request's and with a made-up one is answered with a COOKIE, and nothing is kept"

got=$(peer init --retry-cookie)
[ "$got" = "cookie, then ok" ] || fail "IKE_SA_INIT sent again with the COOKIE answered: $got"
[ "$(b_prop HalfOpen)" = 1 ] || fail "HalfOpen $(b_prop HalfOpen) after the COOKIE was sent back, want 1"
got=$(peer auth)
[ "$got" = ok ] || fail "IKE_AUTH after the COOKIE exchange answered: $got"
b_active() { [ "$(tunnel_field b gw phase2)" = active ]; }
wait_for 5 b_active || fail "b's tunnel after the COOKIE exchange: $(ike_on b cmd=list verbose namelist=gw)"
got=$(peer info --delete)
[ "$got" = sk-answer ] || fail "Delete answered: $got"
b_inactive() { [ "$(tunnel_field b gw phase2)" != active ] && [ "$(handles)" = 0 ]; }
wait_for 5 b_inactive || fail "the tunnel stayed after the Delete"
pass "the same request with the COOKIE first gets a full answer, and the IKE SA is established"

# The threshold: COOKIEs only once that many SAs are half-open.
threshold 2
for i in 1 2; do
        got=$(peer init)
        [ "$got" = ok ] || fail "request $i with $((i - 1)) half-open SA(s) and threshold 2 answered: $got"
done
got=$(peer init)
[[ "$got" =~ ^cookie\  ]] || fail "request 3 with 2 half-open SAs and threshold 2 answered: $got"
[ "$(b_prop HalfOpen)" = 2 ] || fail "HalfOpen $(b_prop HalfOpen), want 2"
pass "CookieThreshold 2: two requests answered in full, the third with a COOKIE"

# A whole suite as initiator sends the COOKIE back by itself.
threshold 0
host_suite_start a
ike_on a cmd=activate namelist=gw >/dev/null || fail "activation through the COOKIE failed: $(ike_on a cmd=list verbose namelist=gw)"
in_host a ping -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping through the tunnel failed"
grep -q "the peer asks for a cookie" "$WORK/a/out" || fail "a's log does not say b asked for a COOKIE"
pass "a Bulkhead initiator sends b's COOKIE back: tunnel up, ping through it"

# Only an administrator sets the threshold.
out=$(su nobody -s /bin/sh -c "busctl --address='$(cat "$WORK/b/run/bus")' set-property org.bulkhead.Isakmpd \
        /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 CookieThreshold u 99" 2>&1) && fail "nobody set CookieThreshold"
[ "$(b_prop CookieThreshold)" = 0 ] || fail "CookieThreshold changed by nobody: $(b_prop CookieThreshold)"
pass "an unprivileged user cannot change CookieThreshold ($out)"
