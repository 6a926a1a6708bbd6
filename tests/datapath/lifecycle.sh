#!/usr/bin/env bash
# A tunnel's life across the suite's: start = start brings it up without
# an operator, a restarted tmd finds it up in filterd, a reload that changes
# its definition takes it down, and a broken definition file does not stop
# the good tunnels from loading. Legacy algorithms: refused in an IKE
# tunnel with file, line and reason; in a manual tunnel, a 3DES key of the
# wrong length is refused at activation with the lengths.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup

manual_define udp 4 4 aes256gcm16 "start = start"
for h in a b; do
        # A file with a broken tunnel next to it: reported, not fatal.
        cat >"$WORK/$h/etc/tunnels.d/broken.conf" <<CONF
[tunnel broken]
type = manual
local = $([ $h = a ] && echo "$A_OUT" || echo "$B_OUT")
remote = not-an-address
CONF
done
cat >"$WORK/a/etc/tunnels.d/legacy.conf" <<CONF
[tunnel old-ike]
type = ike
local = $A_OUT
remote = 192.0.2.77
ike_proposals = 3des-sha1-modp2048

[tunnel old-key]
type = manual
local = $A_OUT
remote = 192.0.2.78
esp = 3des-sha1
esp_spi_out = 0x5001
esp_spi_in = 0x5002
CONF
# 20 octets where 3DES (24) and HMAC-SHA1-96 (20) need 44.
printf '%s\n' "esp old-key out $(random_key 20)" "esp old-key in $(random_key 44)" >>"$WORK/a/etc/secrets.conf"
host_suite_start a
host_suite_start b

up() { ike_on "$1" cmd=list namelist=lab | grep -q " active"; }
wait_for 10 up a && wait_for 10 up b || fail "start = start did not bring the tunnel up: $(ike_on a cmd=list)"
! ike_on a cmd=list | grep -q broken || fail "the broken tunnel was loaded"
in_host a ping -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no traffic through the started tunnel"
pass "start = start: up on both hosts without an operator, next to a broken definition"

# A reload with nothing changed reports the broken file with file and line
# and leaves the active tunnel alone.
reports=$(bctl_on a call org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Tmd1 Reload) || fail "Reload failed"
grep -q "broken.conf:4: .*not-an-address" <<<"$reports" || fail "Reload did not report the broken line: $reports"
up a || fail "an unchanged tunnel went down on reload"
in_host a ping -c 1 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no traffic after a reload that changed nothing"
pass "reload: the bad line reported ($(grep -o 'broken.conf:4:[^"]*' <<<"$reports" | head -1)), the unchanged tunnel untouched"

grep -q 'legacy.conf:5: ike_proposals: proposal \\"3des-sha1-modp2048\\": \\"3des\\" is a legacy algorithm, for manual tunnels only' <<<"$reports" ||
        fail "Reload did not refuse the IKE tunnel with a legacy algorithm: $reports"
! ike_on a cmd=list | grep -q old-ike || fail "an IKE tunnel naming 3des was loaded"
rc=0
err=$(ike_on a cmd=activate namelist=old-key 2>&1) || rc=$?
[ "$rc" -ne 0 ] && grep -q "the esp out key of tunnel old-key is 20 bytes, its transforms need 44" <<<"$err" ||
        fail "a 3DES key of the wrong length was not refused clearly (exit $rc): $err"
grep -q "old-key .*failed" <<<"$(ike_on a cmd=list namelist=old-key)" || fail "old-key not failed: $(ike_on a cmd=list)"
pass "legacy: an IKE tunnel naming 3des refused with file and line; a 3DES key of the wrong length refused at activation"

tpid=$(bctl_on a get-property org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Service1 Pid | cut -d' ' -f2)
kill -9 "$tpid"
tmd_back() {
        local p
        p=$(bctl_on a get-property org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Service1 Pid 2>/dev/null | cut -d' ' -f2)
        [ -n "$p" ] && [ "$p" != "$tpid" ] && up a
}
wait_for 10 tmd_back || fail "after tmd's restart the tunnel is not shown up: $(ike_on a cmd=list)"
pass "a restarted tmd finds the tunnel up in filterd"

# Reload: the definition changes, the tunnel goes down (and keys are wiped).
sed -i 's/^remote_ts = .*/remote_ts = 10.2.0.0\/24/' "$WORK/a/etc/tunnels.d/lab.conf"
bctl_on a call org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Tmd1 Reload >/dev/null || fail "Reload failed"
down() { ike_on a cmd=list namelist=lab | grep -q "inactive"; }
wait_for 10 down || fail "a changed definition left the tunnel up: $(ike_on a cmd=list)"
[ "$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs)" = "u 0" ] ||
        fail "SAs left in filterd after the reload"
ike_on a cmd=activate namelist=lab >/dev/null || fail "activating the changed tunnel failed"
in_host a ping -c 2 -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no traffic through the changed tunnel"
pass "a reload that changes the definition takes the tunnel down; activated again it carries traffic"

no_key_in_logs "$K1" "$K2"

# RFC 3948 NAT keepalives: every 20 s on an ESP-in-UDP tunnel, counted by
# the peer and ignored otherwise.
ka_seen() { [ "$(counter b keepalives_in)" -gt 0 ] && [ "$(counter a keepalives_out)" -gt 0 ]; }
wait_for 30 ka_seen || fail "no NAT keepalive seen in 30 s: out $(counter a keepalives_out), in $(counter b keepalives_in)"
[ "$(counter b in_dropped)" = 0 ] || fail "keepalives counted as drops"
pass "NAT keepalives: a sent $(counter a keepalives_out), b received $(counter b keepalives_in), no drop"
