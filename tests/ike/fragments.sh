#!/usr/bin/env bash
# IKE fragmentation (RFC 7383) between two suites: both announce it in
# IKE_SA_INIT, and with Isakmpd1.FragmentSize at 200 octets every protected
# message above it (IKE_AUTH both ways, the CHILD SA rekeys with a PFS KE
# value, the IKE SA rekeys) goes in fragments that the other side
# reassembles. The tunnel comes up, carries traffic and rekeys.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
ike_define a gw aes256gcm16-prfsha256-x25519 aes256gcm16-ecp256 "child_rekey_time = 3s" "rekey_time = 7s"
ike_define b gw aes256gcm16-prfsha256-x25519 aes256gcm16-ecp256
for h in a b; do write_secrets $h 'psk gw "in pieces"'; done
host_suite_start a
host_suite_start b

prop() { bctl_on "$1" get-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 "$2" | cut -d' ' -f2; }
[ "$(prop a FragmentSize)" = 1280 ] || fail "FragmentSize by default: $(prop a FragmentSize), want 1280"
! bctl_on a set-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 FragmentSize u 100 2>/dev/null ||
        fail "a FragmentSize of 100 octets was accepted"
for h in a b; do
        bctl_on $h set-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Isakmpd1 FragmentSize u 200 ||
                fail "FragmentSize could not be set on $h"
done

ike_on a cmd=activate namelist=gw >/dev/null || fail "activation in fragments failed: $(ike_on a cmd=list verbose namelist=gw)"
b_active() { [ "$(tunnel_field b gw phase2)" = active ]; }
wait_for 5 b_active || fail "b did not bring the tunnel up: $(ike_on b cmd=list verbose namelist=gw)"
[ "$(tunnel_field a gw fragmentation)" = yes ] && [ "$(tunnel_field b gw fragmentation)" = yes ] ||
        fail "fragmentation not agreed: a $(tunnel_field a gw fragmentation), b $(tunnel_field b gw fragmentation)"
for h in a b; do
        [ "$(prop $h FragmentsSent)" -ge 2 ] && [ "$(prop $h FragmentsReceived)" -ge 2 ] ||
                fail "$h sent $(prop $h FragmentsSent) and received $(prop $h FragmentsReceived) fragments for IKE_AUTH"
done
grep -q "IKE_AUTH request sent in [0-9]* fragments" "$WORK/a/out" && grep -q "IKE_AUTH reassembled from" "$WORK/b/out" ||
        fail "the logs do not show IKE_AUTH in fragments"
in_host a ping -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping through the tunnel failed"
pass "IKE_AUTH in fragments both ways (a sent $(prop a FragmentsSent), b sent $(prop b FragmentsSent)); tunnel up, ping through it"

# Rekeys under traffic: CREATE_CHILD_SA with a KE value, in fragments.
first_in=$(tunnel_field a gw esp_spi_in)
first_ike=$(tunnel_field a gw ike_spis)
sent=$(prop a FragmentsSent)
ms=$(tcp_transfer a b 10.1.0.1 10.2.0.1 16 9)
[ "$(tunnel_field a gw esp_spi_in)" != "$first_in" ] || fail "the CHILD SA was not rekeyed"
[ "$(tunnel_field a gw ike_spis)" != "$first_ike" ] || fail "the IKE SA was not rekeyed"
grep -q "CREATE_CHILD_SA request sent in [0-9]* fragments" "$WORK/a/out" ||
        fail "no CREATE_CHILD_SA went in fragments"
[ "$(prop a FragmentsSent)" -gt "$sent" ] || fail "no fragments sent during the rekeys"
in_host a ping -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "ping after the rekeys failed"
pass "CHILD SA and IKE SA rekeyed in fragments under traffic; 16 MB over TCP intact ($ms ms)"
ike_on a cmd=remove namelist=gw >/dev/null || fail "remove failed"
b_gone() { [ "$(tunnel_field b gw phase2)" = inactive ]; }
wait_for 5 b_gone || fail "b kept the tunnel after a removed it"
grep -h "killed by signal" "$WORK/a/out" "$WORK/b/out" && fail "a service died"
pass "removed; no service died"
