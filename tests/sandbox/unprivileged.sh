#!/usr/bin/env bash
# What a local user who is neither root nor in the bulkhead group may do,
# with the real commands: read (ike cmd=list, ipsecstat, ike cmd=log
# service=NAME showing a level), and nothing else: ike cmd=activate,
# cmd=remove, cmd=log (setting isakmpd's level from isakmpd.conf, or one
# given) and ipsecstat -c are refused with exit status 4 (permission
# denied), and nothing changes.
source "$(dirname "$0")/../lib.sh"
! id -nG nobody | grep -qw bulkhead || fail "nobody is in the bulkhead group"

lab_config
suite_start
suite_wait_ready

IKE_CLI=$BUILD/cli/ike
IPSECSTAT=$BUILD/cli/ipsecstat
su nobody -s /bin/sh -c "test -x '$IKE_CLI' && test -x '$IPSECSTAT'" 2>/dev/null ||
        { echo "SKIP: the build directory is not reachable for nobody"; exit 77; }
as_nobody() {
        local cmd
        printf -v cmd '%q ' "$@"
        su nobody -s /bin/sh -c "$cmd"
}

out=$(as_nobody "$IKE_CLI" --run-dir "$RUN" cmd=list) || fail "ike cmd=list as nobody: $out"
grep -q "lab" <<<"$out" || fail "ike cmd=list as nobody does not show the tunnel: $out"
out=$(as_nobody "$IPSECSTAT" --run-dir "$RUN") || fail "ipsecstat as nobody: $out"
grep -q "^Total incoming packets" <<<"$out" || fail "ipsecstat as nobody: $out"
out=$(as_nobody "$IKE_CLI" --run-dir "$RUN" cmd=log service=isakmpd) || fail "ike cmd=log service=isakmpd as nobody: $out"
grep -qE "none|errors|events|information|debug" <<<"$out" || fail "ike cmd=log service=isakmpd as nobody: $out"
pass "nobody may list tunnels, read ipsecstat and isakmpd's log level"

refused() {
        local out rc=0
        out=$(as_nobody "$@" 2>&1) || rc=$?
        [ "$rc" = 4 ] || fail "as nobody, $(basename "$1") ${*:2}: exit $rc (4 expected): $out"
}
refused "$IKE_CLI" --run-dir "$RUN" cmd=activate namelist=lab
refused "$IKE_CLI" --run-dir "$RUN" cmd=log
refused "$IKE_CLI" --run-dir "$RUN" cmd=log service=isakmpd level=debug
refused "$IPSECSTAT" --run-dir "$RUN" -c
"$IKE_CLI" --run-dir "$RUN" cmd=activate namelist=lab >/dev/null || fail "root cannot activate"
refused "$IKE_CLI" --run-dir "$RUN" cmd=remove namelist=lab
[ "$("$IKE_CLI" --run-dir "$RUN" --json cmd=list namelist=lab | python3 -c 'import json,sys; print(json.load(sys.stdin)["tunnels"][0]["phase2"])')" = active ] ||
        fail "the refused remove changed the tunnel"
pass "nobody may not activate, remove, set a log level or reset ipsecstat (exit 4); nothing changed"
