#!/usr/bin/env bash
# Every payload of IKE_SA_INIT and IKE_AUTH malformed in turn, against a
# real isakmpd. Host b runs a whole suite, responder of tunnel gw; host a
# runs no suite but ikepeer.py, a minimal IKEv2 initiator whose every field
# can be broken on purpose. After each case: what came back (no answer, or
# the notification RFC 7296 asks for), isakmpd's Dropped counter when
# nothing did, no state kept for an unauthenticated peer (isakmpd's
# HalfOpen, cryptod's Handles), nothing established that should not be,
# and isakmpd never restarted (its Pid).
#
# A failed check does not stop the run: every case is tried, the failures
# are listed at the end, and the test fails if there is any.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"
shopt -s extglob

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
ike_define b gw aes256gcm16-prfsha256-x25519 aes256gcm16
write_secrets b 'psk gw "some passphrase"'
host_suite_start b

# isakmpd's own bound for an IKE SA that does not complete IKE_AUTH
# (HALF_OPEN_TIMEOUT_S in services/isakmpd/isakmpd.c).
HALF_OPEN_TIMEOUT=30

FAILED=()
problem() {
        echo "FAIL: $*" >&2
        FAILED+=("$*")
}

# The peer, in host a, at 192.0.2.1, talking to b at 192.0.2.2. Its one
# line of output says what came back (see ikepeer.py). It waits 2 s for an
# answer, or WAIT seconds: 1 where none is expected (answers come in
# milliseconds; the wait is what a dropped message costs).
peer() {
        in_host a python3 "$TESTS_DIR/ike/ikepeer.py" --timeout "${WAIT:-2}" "$@" || true
}
# The wait for a step whose expected answer is $1.
wait_for_answer() { [ "$1" = none ] && echo 1 || echo 2; }
# peer_with STATE ARGS...: one step of the IKE SA kept in $WORK/STATE.
peer_with() {
        local s=$1
        shift
        peer --state "$WORK/$s" "$@"
}

b_prop() { bctl_on b get-property "$@" | cut -d' ' -f2-; }
half_open() { b_prop org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 HalfOpen; }
dropped() { b_prop org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 Dropped; }
isakmpd_pid() { b_prop org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Service1 Pid; }
handles() { b_prop org.bulkhead.Crypto /org/bulkhead/Crypto org.bulkhead.Crypto1 Handles; }
filter_sas() { b_prop org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs; }
phase2() { tunnel_field b gw phase2; }
is_active() { [ "$(phase2)" = active ]; }
not_active() { [ "$(phase2)" != active ]; }
no_handles() { [ "$(handles)" = 0 ]; }
state_now() { echo "HalfOpen $(half_open), Handles $(handles), filterd SAs $(filter_sas), phase2 $(phase2)"; }

# Each case starts with nothing held for the peer; H0 is HalfOpen then
# (0, unless an earlier case left its count wrong: that case failed, and
# the others are still judged on their own).
case_start() {
        H0=$(half_open)
        CASE_FAILS=${#FAILED[@]}
}
# case_pass MESSAGE: "ok" for a case none of whose checks failed.
case_pass() {
        [ "${#FAILED[@]}" != "$CASE_FAILS" ] || pass "$@"
}
# settled WHAT [SECONDS]: cryptod holds no key for the peer any more
# (isakmpd counts an SA out before it frees its handle), and HalfOpen is
# back where it was.
settled() {
        wait_for "${2:-5}" no_handles || problem "$1: cryptod still holds keys: $(state_now)"
        if [ -n "$H0" ] && [ "$(half_open)" != "$H0" ]; then
                problem "$1: HalfOpen $H0 before, $(half_open) after"
                H0=                 # said once per case
        fi
}

PID=$(isakmpd_pid)
[ -n "$PID" ] && [ "$PID" != 0 ] || fail "isakmpd has no Pid"
same_pid() {
        local now
        now=$(isakmpd_pid)
        [ "$now" = "$PID" ] || problem "$1: isakmpd's Pid was $PID, is now ${now:-gone}"
}

# finish STATE WHAT: the IKE SA was established: tmd says so, then the
# peer deletes it (INFORMATIONAL Delete) and nothing is left.
finish() {
        local s=$1 what=$2 got
        wait_for 5 is_active || problem "$what: IKE_AUTH answered, but b's tunnel is $(phase2)"
        got=$(peer_with "$s" info --delete)
        [ "$got" = sk-answer ] || problem "$what: the Delete was answered with: $got"
        wait_for 5 not_active || problem "$what: the tunnel is still active after the Delete"
        settled "$what: after the Delete"
}

# ---------------------------------------------------------------- sanity
# The peer itself first: a well-formed exchange on UDP 500, then on 4500
# with the non-ESP marker, each answered and authenticated both ways.

sanity() {
        local how=$1 got
        shift
        case_start
        got=$(peer_with sane "$@" init)
        [ "$got" = ok ] || fail "sanity ($how): IKE_SA_INIT answered with: $got"
        [ "$(half_open)" = $((H0 + 1)) ] && [ "$(handles)" = 1 ] ||
                problem "sanity ($how): one half-open IKE SA, one key handle, expected (HalfOpen was $H0): $(state_now)"
        got=$(peer_with sane auth)
        [ "$got" = ok ] || fail "sanity ($how): IKE_AUTH answered with: $got"
        wait_for 5 is_active || fail "sanity ($how): b's tunnel is $(phase2)"
        [ "$(half_open)" = "$H0" ] || problem "sanity ($how): HalfOpen $(half_open) once established (was $H0)"
        [ "$(tunnel_field b gw role)" = responder ] && [ "$(tunnel_field b gw remote_id)" = fqdn:a.bulkhead.test ] ||
                problem "sanity ($how): b reports role $(tunnel_field b gw role), peer $(tunnel_field b gw remote_id)"
        [ "$(tunnel_field b gw esp_spi_out)" = "$(peer_with sane show child_spi_in)" ] ||
                problem "sanity ($how): b sends with SPI $(tunnel_field b gw esp_spi_out), the peer asked for $(peer_with sane show child_spi_in)"
        [ "$(filter_sas)" = 2 ] || problem "sanity ($how): filterd has $(filter_sas) SAs, not the CHILD SA's 2"
        got=$(peer_with sane info)
        [ "$got" = sk-answer ] || problem "sanity ($how): a liveness check was answered with: $got"
        finish sane "sanity ($how)"
        same_pid "sanity ($how)"
        case_pass "sanity ($how): IKE_SA_INIT, IKE_AUTH (AUTH verified both ways), CHILD SA in filterd, liveness, Delete"
}
sanity "UDP 500"
sanity "UDP 4500, non-ESP marker" --natt

# ---------------------------------------------------------------- IKE_SA_INIT
# The request is SA, KE, Ni, N(NAT_DETECTION_SOURCE_IP),
# N(NAT_DETECTION_DESTINATION_IP); each case breaks one thing (ikepeer.py
# list init). The answer allowed: none, or the one notification RFC 7296
# gives for it. Before the IKE SA exists there is no key, so INVALID_SYNTAX
# may not be sent (3.10.1: "only ... in an encrypted packet"): a malformed
# request is dropped. Nothing may be kept for a refused request.
INIT_CASES=(
        "len-small none"
        "len-big none"
        "trailing none"
        "version-3 notify INVALID_MAJOR_VERSION"  # 1.5: SHOULD answer, and does
        "spi-i-zero none"
        "spi-r-nonzero none"
        "msg-id-1 none"
        "no-initiator-flag none"
        "response-flag none"
        "gph-truncated none"
        "plen-0 none"
        "plen-3 none"
        "plen-beyond none"
        "unknown-critical notify UNSUPPORTED_CRITICAL_PAYLOAD 78"   # 2.5: the type, 120
        "unknown-noncritical ok"                                   # 2.5: skipped
        "ikev1-payload none"
        "sa-no-proposal none"
        "sa-proposal-number none"
        "sa-proposals-1-1 none"
        "sa-transform-count none"
        "sa-transform-count-0 none"
        "keylen-tlv none"
        "keylen-twice none"
        "keylen-512 notify NO_PROPOSAL_CHOSEN"
        "keylen-missing notify NO_PROPOSAL_CHOSEN"
        "ke-group-19 notify INVALID_KE_PAYLOAD 001f"               # 1.2: the group we want
        "ke-group-unknown notify INVALID_KE_PAYLOAD 001f"
        "ke-short none"
        "ke-long none"
        "ke-zero none"
        "ke-low-order none"
        "nonce-15 none"
        "nonce-257 none"
        "no-sa none"
        "no-ke none"
        "no-nonce none"
        "ke-twice none"
        "idi-cleartext none"
        "auth-cleartext none"
        "sk-in-init none"
)

for c in "${INIT_CASES[@]}"; do
        m=${c%% *}
        want=${c#* }
        case_start
        d0=$(dropped)
        got=$(WAIT=$(wait_for_answer "$want") peer_with "init-$m" init --mutate "$m")
        # shellcheck disable=SC2053 # want is a pattern
        if [[ $got != $want ]]; then
                problem "IKE_SA_INIT $m: answered with '$got', want '$want'"
        elif [ "$got" = none ] && [ "$(dropped)" -le "$d0" ]; then
                problem "IKE_SA_INIT $m: no answer, and isakmpd's Dropped did not grow ($d0)"
        elif [ "$got" = ok ]; then
                # Skipped, as 2.5 says: the exchange goes on, and the AUTH
                # covers the message with the unknown payload in it.
                got=$(peer_with "init-$m" auth)
                if [ "$got" = ok ]; then
                        finish "init-$m" "IKE_SA_INIT $m"
                        case_pass "IKE_SA_INIT $m: skipped; the exchange went on to an established SA"
                else
                        problem "IKE_SA_INIT $m: IKE_AUTH answered with: $got"
                fi
        else
                case_pass "IKE_SA_INIT $m: ${got/#none/no answer (dropped: $d0 -> $(dropped))}"
        fi
        settled "IKE_SA_INIT $m"
        same_pid "IKE_SA_INIT $m"
done

# Without the non-ESP marker, a datagram on 4500 is ESP in UDP (RFC 3948
# 2.2): the data path's, which drops it (no SA has that SPI).
case_start
in0=$(counter b in_dropped)
got=$(WAIT=1 peer --natt init --mutate no-marker)
[ "$got" = none ] && [ "$(counter b in_dropped)" -gt "$in0" ] ||
        problem "IKE_SA_INIT on 4500 without the marker: '$got', filterd's in_dropped $in0 -> $(counter b in_dropped)"
settled "IKE_SA_INIT on 4500 without the marker"
case_pass "IKE_SA_INIT without the non-ESP marker on 4500 went to the data path, which dropped it"

# ---------------------------------------------------------------- IKE_AUTH
# After a good IKE_SA_INIT, the IKE_AUTH request (IDi, IDr, AUTH, SA, TSi,
# TSr inside SK) broken in one way (ikepeer.py list auth).
#  - No answer: the message failed the integrity check or could not be
#    decrypted, so it may come from anyone: dropped and counted, and the
#    half-open SA the real peer negotiates must still be there: the
#    well-formed IKE_AUTH (message ID 1) then completes it.
#  - An error answer (protected: SK verified): message ID 1 is answered and
#    the negotiation is over (2.21.2). The half-open SA goes at once, and a
#    second, well-formed IKE_AUTH with the same message ID 1 establishes
#    nothing (2.2: a message ID is answered once).
AUTH_CASES=(
        "sk-short none"
        "icv-flip none"
        "ciphertext-flip none"
        "pad-length @(none|sk-notify INVALID_SYNTAX)"
        "chain-broken sk-notify INVALID_SYNTAX"        # 3.10.1: MUST answer once SK verified
        "chain-short sk-notify INVALID_SYNTAX"
        "no-auth sk-notify @(INVALID_SYNTAX|AUTHENTICATION_FAILED)"
        "no-idi sk-notify @(INVALID_SYNTAX|AUTHENTICATION_FAILED)"
        "psk-wrong sk-notify AUTHENTICATION_FAILED"
        "idi-wrong sk-notify AUTHENTICATION_FAILED"
        "ts-outside sk-notify TS_UNACCEPTABLE"
        "esp-unoffered sk-notify NO_PROPOSAL_CHOSEN"
        "cleartext-sa-ts sk-notify INVALID_SYNTAX"     # 3.14: all of IKE_AUTH is inside SK
)

for c in "${AUTH_CASES[@]}"; do
        m=${c%% *}
        want=${c#* }
        s=auth-$m
        case_start
        got=$(peer_with "$s" init)
        if [ "$got" != ok ]; then
                problem "IKE_AUTH $m: the IKE_SA_INIT before it was answered with: $got"
                continue
        fi
        d0=$(dropped)
        got=$(WAIT=$(wait_for_answer "$want") peer_with "$s" auth --mutate "$m")
        # shellcheck disable=SC2053
        if [[ $got != $want ]]; then
                problem "IKE_AUTH $m: answered with '$got', want '$want'"
        elif [ "$got" = none ]; then
                [ "$(dropped)" -gt "$d0" ] || problem "IKE_AUTH $m: no answer, and isakmpd's Dropped did not grow ($d0)"
                not_active || problem "IKE_AUTH $m: no answer, yet b's tunnel is active"
                got=$(peer_with "$s" auth --msg-id 1)
                if [ "$got" = ok ]; then
                        finish "$s" "IKE_AUTH $m"
                        case_pass "IKE_AUTH $m: dropped ($d0 -> $(dropped)); the real IKE_AUTH then completed the SA"
                else
                        problem "IKE_AUTH $m: after it was dropped, the well-formed IKE_AUTH was answered with: $got"
                fi
        else
                notify=${got#sk-notify }
                settled "IKE_AUTH $m: answered $notify; then"
                failure=$(tunnel_field b gw failure)
                [ "$notify" = INVALID_SYNTAX ] || [[ $failure == *"$notify"* ]] ||
                        problem "IKE_AUTH $m: answered $notify, b's tunnel says: ${failure:-nothing}"
                again=$(WAIT=1 peer_with "$s" auth --msg-id 1)
                if [ "$again" = ok ] || ! not_active; then
                        problem "IKE_AUTH $m: answered $notify, then a second IKE_AUTH with message ID 1 established the tunnel ($again)"
                        [ "$again" != ok ] || peer_with "$s" info --delete >/dev/null
                        wait_for 5 not_active || true
                elif [ "$again" != none ] && [ "$again" != "$got" ]; then
                        problem "IKE_AUTH $m: message ID 1 again was answered with '$again' after '$got'"
                else
                        case_pass "IKE_AUTH $m: $notify${failure:+ (b: $failure)}; the SA is gone"
                fi
        fi
        settled "IKE_AUTH $m"
        same_pid "IKE_AUTH $m"
done

# ---------------------------------------------------------------- IKE_AUTH in fragments
# RFC 7383: the peer announces fragmentation and sends IKE_AUTH in SKF
# fragments. Any order and a duplicate reassemble; a fragment that fails
# its ICV or numbers itself 0 or above the total is dropped and counted; a
# missing one leaves the message incomplete. After each broken set the
# whole set again (same plaintext, as a retransmission) completes the SA.
fragments_received() { b_prop org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 FragmentsReceived; }
for c in "in-order ok" "reverse ok" "duplicate ok" "missing-last none" "bad-icv none" "number-zero none" "above-total none"; do
        mode=${c%% *}
        want=${c#* }
        s=frag-$mode
        case_start
        got=$(peer_with "$s" init --fragments)
        [ "$got" = ok ] || { problem "fragments $mode: IKE_SA_INIT answered with: $got"; continue; }
        [ "$(peer_with "$s" show frag)" = True ] || problem "fragments $mode: b did not announce fragmentation"
        d0=$(dropped)
        f0=$(fragments_received)
        got=$(WAIT=$(wait_for_answer "$want") peer_with "$s" auth --fragments 3 --frag-mode "$mode")
        if [ "$got" != "$want" ]; then
                problem "fragments $mode: IKE_AUTH answered with '$got', want '$want'"
        elif [ "$got" = none ]; then
                not_active || problem "fragments $mode: no answer, yet b's tunnel is active"
                if [ "$mode" != missing-last ] && [ "$(dropped)" -le "$d0" ]; then
                        problem "fragments $mode: no answer, and isakmpd's Dropped did not grow ($d0)"
                fi
                got=$(peer_with "$s" auth --fragments 3 --msg-id 1)
                if [ "$got" = ok ]; then
                        finish "$s" "fragments $mode"
                        case_pass "fragments $mode: nothing answered (Dropped $d0 -> $(dropped)); the whole set then completed the SA"
                else
                        problem "fragments $mode: the whole set after it was answered with: $got"
                fi
        else
                [ "$(fragments_received)" -ge $((f0 + 3)) ] ||
                        problem "fragments $mode: FragmentsReceived $f0 -> $(fragments_received)"
                finish "$s" "fragments $mode"
                case_pass "fragments $mode: reassembled, SA established (FragmentsReceived $f0 -> $(fragments_received))"
        fi
        settled "fragments $mode"
        same_pid "fragments $mode"
done

# ---------------------------------------------------------------- no state change before authentication
# An established tunnel, then from the same address a new IKE_SA_INIT and
# an IKE_AUTH with the wrong key: anyone can send these (the source address
# proves nothing). The established IKE SA must not be deleted by them, nor
# its CHILD SA taken down (2.4: an old IKE SA goes once the new one has
# authenticated, with INITIAL_CONTACT).
case_start
got=$(peer_with est init)
[ "$got" = ok ] && got=$(peer_with est auth)
[ "$got" = ok ] && wait_for 5 is_active || fail "establishing the tunnel before the unauthenticated messages: $got"
got=$(peer_with intruder init)
[ "$got" = ok ] || problem "a second IKE_SA_INIT while established was answered with: $got"
got=$(WAIT=1 peer_with est listen)
[ "$got" = none ] || problem "after an unauthenticated IKE_SA_INIT, b sent on the established IKE SA: $got"
got=$(peer_with est info)
[ "$got" = sk-answer ] || problem "after an unauthenticated IKE_SA_INIT, the established IKE SA answered a liveness check with: $got"
got=$(peer_with intruder auth --mutate psk-wrong)
[ "$got" = "sk-notify AUTHENTICATION_FAILED" ] || problem "the intruder's IKE_AUTH was answered with: $got"
sleep 0.5
if is_active && [ "$(filter_sas)" = 2 ] && [ "$(peer_with est info)" = sk-answer ]; then
        case_pass "an unauthenticated IKE_SA_INIT and a failed IKE_AUTH left the established tunnel alone"
else
        problem "after an unauthenticated IKE_SA_INIT and a failed IKE_AUTH, the established tunnel is $(phase2) ($(state_now))"
fi
got=$(peer_with est info --delete)
[ "$got" = sk-answer ] || problem "deleting the established IKE SA: $got"
wait_for 5 not_active || problem "the tunnel is still active after the Delete"
settled "established tunnel and unauthenticated messages"
same_pid "established tunnel and unauthenticated messages"

# ---------------------------------------------------------------- CVE-2019-12312
# libreswan's pluto crashed on an INFORMATIONAL (Delete) where IKE_AUTH
# belongs, after IKE_SA_INIT. Here: isakmpd stays up and establishes
# nothing; the half-open SA either ignores the request (then the real
# IKE_AUTH completes it) or ends.
for kind in delete liveness cleartext; do
        s=cve-2019-12312-$kind
        case_start
        got=$(peer_with "$s" init)
        [ "$got" = ok ] || { problem "CVE-2019-12312 ($kind): IKE_SA_INIT answered with: $got"; continue; }
        d0=$(dropped)
        case $kind in
        delete) got=$(WAIT=1 peer_with "$s" info --delete --msg-id 1) ;;
        liveness) got=$(WAIT=1 peer_with "$s" info --msg-id 1) ;;
        cleartext) got=$(WAIT=1 peer_with "$s" info --clear --delete --msg-id 1) ;;
        esac
        [[ $got == @(none|sk-answer*|sk-notify*) ]] || problem "CVE-2019-12312 ($kind): answered with: $got"
        [ "$got" != none ] || [ "$(dropped)" -gt "$d0" ] || problem "CVE-2019-12312 ($kind): no answer, Dropped did not grow"
        [ "$kind" != cleartext ] || [ "$got" = none ] || problem "CVE-2019-12312 (cleartext): an INFORMATIONAL without SK was answered: $got"
        not_active || problem "CVE-2019-12312 ($kind): the tunnel is active"
        same_pid "CVE-2019-12312 ($kind)"
        got=$(peer_with "$s" auth --msg-id 1)
        if [ "$got" = ok ]; then
                finish "$s" "CVE-2019-12312 ($kind)"
        elif [ "$got" = none ]; then
                not_active || problem "CVE-2019-12312 ($kind): IKE_AUTH got no answer, yet the tunnel is active"
        else
                problem "CVE-2019-12312 ($kind): the IKE_AUTH after it was answered with: $got"
        fi
        settled "CVE-2019-12312 ($kind)"
        same_pid "CVE-2019-12312 ($kind)"
        case_pass "CVE-2019-12312 ($kind): INFORMATIONAL before IKE_AUTH: isakmpd up, nothing established"
done

# ---------------------------------------------------------------- CVE-2014-2338
# strongSwan marked an IKE SA established when it was rekeyed before
# IKE_AUTH completed. Here: CREATE_CHILD_SA (an IKE SA rekey, or a CHILD
# SA) in place of IKE_AUTH establishes nothing: no CHILD SA, no keys but
# the IKE SA's, the SA does not answer as an established one (liveness),
# and if the peer then gets no answer to its IKE_AUTH, b has not
# established the tunnel behind its back.
for kind in rekey-ike child; do
        s=cve-2014-2338-$kind
        case_start
        got=$(peer_with "$s" init)
        [ "$got" = ok ] || { problem "CVE-2014-2338 ($kind): IKE_SA_INIT answered with: $got"; continue; }
        if [ $kind = rekey-ike ]; then
                got=$(peer_with "$s" create-child --rekey-ike --msg-id 1)
        else
                got=$(peer_with "$s" create-child --msg-id 1)
        fi
        [[ $got == @(none|sk-notify*) ]] || problem "CVE-2014-2338 ($kind): CREATE_CHILD_SA before IKE_AUTH answered with: $got"
        sleep 0.3
        not_active && [ "$(filter_sas)" = 0 ] && [ "$(handles)" -le 1 ] ||
                problem "CVE-2014-2338 ($kind): after CREATE_CHILD_SA: $(state_now)"
        id=$([ "$got" = none ] && echo 1 || echo 2)
        live=$(WAIT=1 peer_with "$s" info --msg-id "$id")
        [ "$live" = none ] || problem "CVE-2014-2338 ($kind): the SA answered a liveness check as an established one: $live"
        same_pid "CVE-2014-2338 ($kind)"
        got=$(peer_with "$s" auth --msg-id "$id")
        sleep 0.5
        if [ "$got" = ok ]; then
                finish "$s" "CVE-2014-2338 ($kind)"
        elif [ "$got" = none ]; then
                if ! not_active; then
                        problem "CVE-2014-2338 ($kind): IKE_AUTH (message ID $id) got no answer, yet b established the tunnel"
                        for i in $((id + 1)) 2 1; do
                                [ "$(WAIT=1 peer_with "$s" info --delete --msg-id $i)" = none ] || break
                        done
                        wait_for 5 not_active || true
                fi
        else
                problem "CVE-2014-2338 ($kind): the IKE_AUTH after it was answered with: $got"
        fi
        settled "CVE-2014-2338 ($kind)"
        same_pid "CVE-2014-2338 ($kind)"
        case_pass "CVE-2014-2338 ($kind): CREATE_CHILD_SA before IKE_AUTH established nothing"
done

# ---------------------------------------------------------------- a half-open SA alone
# Nothing after IKE_SA_INIT: isakmpd forgets it after its half-open time.
case_start
got=$(peer_with alone init)
[ "$got" = ok ] || problem "IKE_SA_INIT answered with: $got"
start=$SECONDS
settled "a half-open SA left alone, after $HALF_OPEN_TIMEOUT s" $((HALF_OPEN_TIMEOUT + 8))
case_pass "a half-open SA left alone was gone after $((SECONDS - start)) s"

# ---------------------------------------------------------------- the end
same_pid "the end"
[ "$(half_open)" = 0 ] || problem "HalfOpen is $(half_open) at the end, with no IKE SA left ($(state_now))"
[ "$(filter_sas)" = 0 ] || problem "filterd has $(filter_sas) SAs at the end"
if grep -qE "killed|SIGSEGV|SIGABRT|SIGSYS|ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK/b/out"; then
        problem "a service died or a sanitizer reported: $(grep -hE 'killed|SIG|Sanitizer|runtime error' "$WORK/b/out" | head -5)"
fi
if [ "${#FAILED[@]}" -gt 0 ]; then
        echo "--- isakmpd and tmd on b, last lines:" >&2
        grep -E "isakmpd|tmd" "$WORK/b/out" | tail -n 40 >&2
        echo "--- ${#FAILED[@]} failed checks:" >&2
        printf '  %s\n' "${FAILED[@]}" >&2
        exit 1
fi
pass "every malformed message was dropped or answered as RFC 7296 asks, isakmpd never restarted"
