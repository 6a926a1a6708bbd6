#!/usr/bin/env bash
# exptun and imptun between two hosts, each running a whole suite in its own
# network namespace: a manual tunnel defined on host a only, exported with
# its keys, imported on host b (empty until then) into the running suite
# with --reload, activated on both sides, pinged through; then exported
# from b again, which gives a's definition back. Needs root.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

EXPTUN=$BUILD/cli/exptun
IMPTUN=$BUILD/cli/imptun

if [ "$(id -u)" != 0 ]; then
        echo "network namespaces need root: skipped"
        exit 77
fi

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup

# The tunnel and keys of both sides, as the other datapath tests use them;
# b's side is thrown away: exptun and imptun must make it.
manual_define udp 4 4 aes256gcm16
rm -f "$WORK/b/etc/tunnels.d/lab.conf" "$WORK/b/etc/secrets.conf"

host_suite_start a
host_suite_start b
grep -q "No tunnels are defined" <<<"$(ike_on b cmd=list)" || fail "b has tunnels before the import: $(ike_on b cmd=list)"

# One pipe, no copy on disk.
out=$("$EXPTUN" --config-dir "$WORK/a/etc" -t lab -f - |
        "$IMPTUN" --config-dir "$WORK/b/etc" --reload --run-dir "$WORK/b/run" - 2>"$WORK/imptun.err") ||
        fail "exptun | imptun: $out $(cat "$WORK/imptun.err")"
grep -q "imported manual tunnel lab" <<<"$out" || fail "imptun said: $out"
[ "$(stat -c %a "$WORK/b/etc/secrets.conf")" = 600 ] || fail "b's secrets.conf: mode $(stat -c %a "$WORK/b/etc/secrets.conf")"
[ "$(stat -c %a "$WORK/b/etc/tunnels.d/lab.conf")" = 644 ] || fail "b's lab.conf: mode $(stat -c %a "$WORK/b/etc/tunnels.d/lab.conf")"
list=$(ike_on b cmd=list namelist=lab)
grep -q "lab .*192.0.2.2 .*192.0.2.1 .*inactive" <<<"$list" || fail "b after the import: $list"
pass "lab defined on a only; exptun | imptun --reload gave b its side (192.0.2.2 to 192.0.2.1), in the running suite"

ike_on a cmd=activate namelist=lab >/dev/null || fail "activate on a: $(ike_on a cmd=list)"
ike_on b cmd=activate namelist=lab >/dev/null || fail "activate on b: $(ike_on b cmd=list)"
in_host a ping -c 3 -i 0.2 -W 2 -I "$A_IN" "$B_IN" >"$WORK/ping" || { cat "$WORK/ping"; fail "ping a -> b through the tunnel failed"; }
in_host b ping -c 3 -i 0.2 -W 2 -I "$B_IN" "$A_IN" >"$WORK/ping" || { cat "$WORK/ping"; fail "ping b -> a through the tunnel failed"; }
[ "$(counter b in_esp)" -ge 3 ] || fail "b counted $(counter b in_esp) ESP packets in"
pass "activated on both hosts; ping $A_IN <-> $B_IN through the imported tunnel"

# Exported from b again: a's definition, in canonical form and without its
# number, and a's keys in a's directions.
"$EXPTUN" --config-dir "$WORK/b/etc" -t lab -f "$WORK/back" >/dev/null || fail "exptun on b failed"
for line in "local = $A_OUT" "remote = $B_OUT" "local_ts = $A_IN/32" "remote_ts = $B_IN/32" "encap = udp" \
        "esp = aes256gcm16" "esp_spi_out = 0x1001" "esp_spi_in = 0x2001" "esp lab out $K1" "esp lab in $K2"; do
        grep -qx -- "$line" "$WORK/back" || fail "b's export lacks \"${line:0:40}\""
done
! grep -q "^number" "$WORK/back" || fail "b's export has a number"
rm -f "$WORK/back"
pass "exported from b again: a's definition and keys"

# Nothing the suites or imptun wrote carries a key.
no_key_in_logs "$K1" "$K2"
pass "no key in any log, nor in what imptun said"
