#!/usr/bin/env bash
# An IKE tunnel outlives a restart of each service that holds part of it.
# filterd, cryptod and isakmpd are killed in turn on the initiator's side
# and on the responder's: each time tmd negotiates the tunnel again by
# itself, traffic flows, and neither side keeps a stale SA or IKE SA handle
# (the peer's old CHILD SA leaves with its IKE SA, the new one stays however
# the Delete and the new negotiation cross).
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

A_IN=10.1.0.1 B_IN=10.2.0.1
WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
PSK="restart test $$ $RANDOM$RANDOM"
for h in a b; do
        ike_define $h gw aes256gcm16-prfsha256-x25519 aes256gcm16
        write_secrets $h "psk gw \"$PSK\""
done
host_suite_start a
host_suite_start b

ike_on a cmd=activate namelist=gw >/dev/null || fail "activation failed: $(ike_on a cmd=list verbose namelist=gw)"
b_active() { [ "$(tunnel_field b gw phase2)" = active ]; }
wait_for 5 b_active || fail "b did not bring the tunnel up: $(ike_on b cmd=list verbose namelist=gw)"
in_host a ping -c 2 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "ping through the tunnel failed"
pass "tunnel up, ping through it"

bus_of() {
        case $1 in
        filterd) echo org.bulkhead.Filter ;;
        cryptod) echo org.bulkhead.Crypto ;;
        isakmpd) echo org.bulkhead.Isakmpd ;;
        esac
}
service_pid() { bctl_on "$1" get-property "$(bus_of "$2")" "/$(bus_of "$2" | tr . /)" org.bulkhead.Service1 Pid | cut -d' ' -f2; }
sa_count() { bctl_on "$1" get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs | cut -d' ' -f2; }
handles() { bctl_on "$1" get-property org.bulkhead.Crypto /org/bulkhead/Crypto org.bulkhead.Crypto1 Handles | cut -d' ' -f2; }

killed=()
for host in a b; do
        for svc in filterd cryptod isakmpd; do
                pid=$(service_pid $host $svc)
                [ -n "$pid" ] || fail "no pid for $svc on $host"
                old_a=$(tunnel_field a gw esp_spi_in)
                old_b=$(tunnel_field b gw esp_spi_in)
                kill -9 "$pid"
                killed+=("$svc")
                # Both sides on a new CHILD SA, and the restarted service up.
                renewed() {
                        [ "$(tunnel_field a gw phase2)" = active ] && [ "$(tunnel_field b gw phase2)" = active ] &&
                                [ "$(tunnel_field a gw esp_spi_in)" != "$old_a" ] &&
                                [ "$(tunnel_field b gw esp_spi_in)" != "$old_b" ] &&
                                [ "$(tunnel_field a gw esp_spi_out)" = "$(tunnel_field b gw esp_spi_in)" ]
                }
                wait_for 20 renewed || fail "$svc killed on $host: the tunnel did not come back on both sides:
a: $(ike_on a cmd=list verbose namelist=gw)
b: $(ike_on b cmd=list verbose namelist=gw)"
                flows() { in_host a ping -c 1 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1; }
                wait_for 10 flows || fail "$svc killed on $host: no traffic through the renegotiated tunnel"
                # One CHILD SA (in and out) and one IKE SA handle on each side.
                settled() {
                        [ "$(sa_count a)" = 2 ] && [ "$(sa_count b)" = 2 ] && [ "$(handles a)" = 1 ] &&
                                [ "$(handles b)" = 1 ]
                }
                wait_for 10 settled || fail "$svc killed on $host: SAs a $(sa_count a), b $(sa_count b); handles a $(handles a), b $(handles b) (want 2 SAs and 1 handle each):
$(bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 ListSAs)
$(bctl_on b call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 ListSAs)"
                in_host a ping -c 3 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >/dev/null || fail "$svc killed on $host: ping lost"
                pass "$svc killed on $host: negotiated again by itself, traffic flows, 2 SAs and 1 IKE SA handle on each side"
        done
done

# The tmd logs say why; nothing died but what was killed.
grep -q "isakmpd restarted: negotiating the tunnel again" "$WORK/a/out" ||
        fail "a's tmd did not say why it negotiated again"
grep "killed by signal\|SIGSEGV\|SIGSYS" "$WORK/a/out" "$WORK/b/out" | grep -v "killed by signal 9" | grep -q . &&
        fail "a service died: $(grep -h 'killed by signal' "$WORK"/*/out)"
n9=$(cat "$WORK/a/out" "$WORK/b/out" | grep -c "killed by signal 9" || true)
[ "$n9" -eq "${#killed[@]}" ] || fail "$n9 services died of SIGKILL, ${#killed[@]} were killed"
hex=0x$(printf '%s' "$PSK" | od -An -tx1 | tr -d ' \n')
grep -rqF -- "$PSK" "$WORK"/a/out "$WORK"/b/out 2>/dev/null && fail "the pre-shared key is in a log"
no_key_in_logs "$hex"
no_derived_key_in_logs
pass "the restarts are logged with their cause; no other service died; no pre-shared key in a log"
