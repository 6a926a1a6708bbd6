#!/usr/bin/env bash
# Two Bulkhead suites in two network namespaces negotiate an IKEv2 tunnel
# with a pre-shared key: activated from one side, ping and a TCP transfer
# through it, what both sides report, removal from the responder's side,
# and activation again.
#   pair.sh [IKE_PROPOSAL [ESP_PROPOSAL [4|6 [tunnel|transport]]]]
# (transport: the CHILD SA protects the hosts' own traffic between their
# outer addresses, which talk in the clear again once it is removed)
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

IKE_P=${1:-aes256gcm16-prfsha256-x25519}
ESP_P=${2:-aes256gcm16}
# IPv6 outside and inside with a third argument of 6.
export IKE_OUTER=${3:-4}
if [ "$IKE_OUTER" = 6 ]; then A_IN=fd01::1 B_IN=fd02::1; else A_IN=10.1.0.1 B_IN=10.2.0.1; fi
export IKE_MODE=${4:-tunnel}
if [ "$IKE_MODE" = transport ]; then
        if [ "$IKE_OUTER" = 6 ]; then A_IN=2001:db8::1 B_IN=2001:db8::2; else A_IN=192.0.2.1 B_IN=192.0.2.2; fi
fi
WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
PSK="pair test $$ $RANDOM$RANDOM"
for h in a b; do
        ike_define $h gw "$IKE_P" "$ESP_P"
        write_secrets $h "psk gw \"$PSK\""
done
host_suite_start a
host_suite_start b
# The data path's trace hooks at their most verbose: searched for keys at the end.
for h in a b; do "$BUILD/cli/ipsectrcbuf" --run-dir "$WORK/$h/run" -l 2 >/dev/null || fail "ipsectrcbuf -l 2 on $h"; done

# The tunnel is an object on the bus, and its changes can be followed.
bctl_on a tree org.bulkhead.Tmd | grep -q "/org/bulkhead/Tmd/tunnel/gw" || fail "busctl tree does not show the tunnel object"
[ "$(bctl_on a get-property org.bulkhead.Tmd /org/bulkhead/Tmd/tunnel/gw org.bulkhead.Tunnel1 Phase2)" = 's "inactive"' ] ||
        fail "Tunnel1.Phase2 before activation: $(bctl_on a get-property org.bulkhead.Tmd /org/bulkhead/Tmd/tunnel/gw org.bulkhead.Tunnel1 Phase2)"
ike_on a cmd=list follow seconds=8 namelist=gw >"$WORK/follow" 2>&1 &
follower=$!
# What passes the two bus daemons while the tunnel comes up (checked below).
for h in a b; do
        timeout 20 dbus-monitor --address "$(cat "$WORK/$h/run/bus")" --monitor >"$WORK/monitor.$h" 2>&1 &
        eval "monitor_$h=\$!"
done
following() { grep -q "^1 *gw" "$WORK/follow"; }
wait_for 5 following || fail "ike cmd=list follow printed no list: $(cat "$WORK/follow")"

ike_on a cmd=activate namelist=gw >/dev/null || fail "activation failed: $(ike_on a cmd=list verbose namelist=gw)"
[ "$(tunnel_field a gw phase1)" = active ] && [ "$(tunnel_field a gw phase2)" = active ] ||
        fail "a after activation: $(ike_on a cmd=list verbose namelist=gw)"
b_active() { [ "$(tunnel_field b gw phase2)" = active ]; }
wait_for 5 b_active || fail "b did not bring the tunnel up: $(ike_on b cmd=list verbose namelist=gw)"
pass "IKE SA and CHILD SA up ($IKE_P, $ESP_P), a initiator, b responder"
b_announced() { grep -q 'string "active"' "$WORK/monitor.b"; }
wait_for 5 b_announced || true
sleep 0.5
kill "$monitor_a" "$monitor_b" 2>/dev/null || true
wait "$monitor_a" "$monitor_b" 2>/dev/null || true
# The services called each other directly (bh_ipc_call): none of the calls
# that bring a tunnel up passed a bus daemon, only the announcements did.
for h in a b; do
        grep -q "member=PropertiesChanged" "$WORK/monitor.$h" || fail "dbus-monitor on $h saw nothing: $(head -5 "$WORK/monitor.$h")"
        if grep -E "^method call .*member=(Match|TunnelUp|Initiate|SetPolicy|AddRoute|InstallSA|Ike[A-Za-z]+)$" "$WORK/monitor.$h"; then
                fail "calls between the services of $h went through the bus daemon (above)"
        fi
done
# A tunnel's changes made while tmd handles one message are announced
# together: one PropertiesChanged with each of them.
props_per_signal() {
        awk '/^signal .*path=\/org\/bulkhead\/Tmd\/tunnel\/gw; .*member=PropertiesChanged/ { if (n) print n; n = 0; on = 1; next }
             /^(signal|method|error)/ { if (on && n) print n; on = 0; n = 0; next }
             on && /^         string "(Phase1|Phase2|Failure|Info)"$/ { n++ }
             END { if (on && n) print n }' "$1"
}
signals_b=$(props_per_signal "$WORK/monitor.b" | wc -l)
most_b=$(props_per_signal "$WORK/monitor.b" | sort -n | tail -1)
[ "$signals_b" -ge 1 ] && [ "$signals_b" -le 3 ] && [ "${most_b:-0}" -ge 2 ] ||
        fail "responder b announced the tunnel in $signals_b PropertiesChanged, at most ${most_b:-0} properties in one"
pass "calls between the services went direct; b announced the tunnel's changes in $signals_b signals"
wait "$follower" || fail "ike cmd=list follow failed: $(cat "$WORK/follow")"
for change in "Phase1 *negotiating" "Phase2 *activating" "Phase1 *active" "Phase2 *active"; do
        grep -qE "^[0-9:]+ gw +$change" "$WORK/follow" || fail "ike cmd=list follow did not show $change: $(cat "$WORK/follow")"
done
[ "$(bctl_on a get-property org.bulkhead.Tmd /org/bulkhead/Tmd/tunnel/gw org.bulkhead.Tunnel1 Phase1)" = 's "active"' ] ||
        fail "Tunnel1.Phase1 after activation"
pass "the tunnel's object and ike cmd=list follow showed it negotiating, then active"

# What each side says was negotiated.
[ "$(tunnel_field a gw role)" = initiator ] && [ "$(tunnel_field b gw role)" = responder ] || fail "roles"
# The one proposal each offered, in the canonical spelling tmd prints it in.
want_ike=$(tunnel_field a gw ike_proposals)
want_esp=$(tunnel_field a gw esp_proposals)
[ "$(tunnel_field a gw ike_proposal)" = "$want_ike" ] && [ "$(tunnel_field b gw ike_proposal)" = "$want_ike" ] ||
        fail "IKE proposal: a $(tunnel_field a gw ike_proposal), b $(tunnel_field b gw ike_proposal), want $want_ike"
[ "$(tunnel_field a gw esp_proposal)" = "$want_esp" ] && [ "$(tunnel_field b gw esp_proposal)" = "$want_esp" ] ||
        fail "ESP proposal: a $(tunnel_field a gw esp_proposal), b $(tunnel_field b gw esp_proposal), want $want_esp"
[ "$(tunnel_field a gw esp_spi_in)" = "$(tunnel_field b gw esp_spi_out)" ] &&
        [ "$(tunnel_field a gw esp_spi_out)" = "$(tunnel_field b gw esp_spi_in)" ] || fail "the two sides disagree on the SPIs"
[ "$(tunnel_field a gw remote_id)" = fqdn:b.bulkhead.test ] && [ "$(tunnel_field b gw remote_id)" = fqdn:a.bulkhead.test ] ||
        fail "identities: a sees $(tunnel_field a gw remote_id), b sees $(tunnel_field b gw remote_id)"
sas=$(bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 ListSAs)
grep -q "\"gw\" \"out\" \"esp\" $((16#$(tunnel_field a gw esp_spi_out)))" <<<"$sas" || fail "a's filterd has not the CHILD SA: $sas"
pass "both sides report the same proposal, SPIs and each other's identity; the CHILD SA is in filterd"

in_host a ping -c 3 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping through the negotiated tunnel failed"
ms=$(tcp_transfer a b "$A_IN" "$B_IN" 20)
[ "$(counter a out_esp)" -gt 3 ] && [ "$(counter b in_esp)" -gt 3 ] || fail "the traffic did not go through filterd"
pass "ping and 20 MB over TCP through the tunnel ($ms ms)"

# An active tunnel cannot be activated again; an unknown one is an error.
! ike_on a cmd=activate namelist=gw 2>/dev/null || fail "activating an active tunnel succeeded"
out=$(ike_on a cmd=activate namelist=nosuch 2>&1) && fail "activating an unknown tunnel succeeded"
grep -q 'no tunnel named "nosuch"' <<<"$out" || fail "unknown tunnel: $out"
pass "clear errors for an active and an unknown tunnel"

# Removed by the responder: it deletes the IKE SA, the initiator follows.
ike_on b cmd=remove namelist=gw >/dev/null || fail "remove on b failed"
a_down() { [ "$(tunnel_field a gw phase2)" = inactive ]; }
wait_for 5 a_down || fail "a still has the tunnel after b removed it: $(ike_on a cmd=list verbose namelist=gw)"
[ "$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 0" ] ||
        fail "SAs left in a's filterd"
grep -q "IKE SA deleted by the peer" "$WORK/a/out" || fail "a's log does not say the peer deleted the IKE SA"
if [ "$IKE_MODE" = transport ]; then
        ! in_host a ip route get "$B_IN" from "$A_IN" | grep -q bulkhead0 || fail "$B_IN still routed through the TUN device"
        before=$(counter a out_total)
        in_host a ping -c 1 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "no clear ping after remove"
        [ "$(counter a out_total)" = "$before" ] || fail "filterd still sends after remove"
else
        ! in_host a ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || fail "ping still works after remove"
fi
pass "removed from the responder's side: the initiator's tunnel went down with it, no SA left"

ike_on a cmd=activate namelist=gw >/dev/null || fail "activation again failed: $(ike_on a cmd=list verbose namelist=gw)"
in_host a ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping after activating again failed"
ike_on a cmd=remove namelist=gw >/dev/null || fail "remove on a failed"
b_down() { [ "$(tunnel_field b gw phase2)" = inactive ]; }
wait_for 5 b_down || fail "b kept the tunnel after a removed it"
pass "activated again, then removed from the initiator's side"

# No service died, no key or pre-shared key in any log.
grep -q "killed by signal\|SIGSEGV\|SIGSYS" "$WORK/a/out" "$WORK/b/out" &&
        fail "a service died: $(grep -h 'killed' "$WORK"/*/out)"
hex=0x$(printf '%s' "$PSK" | od -An -tx1 | tr -d ' \n')
grep -rqF -- "$PSK" "$WORK"/a/out "$WORK"/b/out "$WORK"/a/run "$WORK"/b/run 2>/dev/null && fail "the pre-shared key is in a log"
no_key_in_logs "$hex"
pass "no service died; the pre-shared key is in no log"
[ -n "$(derived_keys a)" ] && [ -n "$(derived_keys b)" ] || fail "cryptod noted no derived key on a or b"
no_derived_key_in_logs trace
