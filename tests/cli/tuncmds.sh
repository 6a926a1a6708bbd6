#!/usr/bin/env bash
# mktun, rmtun and lstun against a real suite: three tunnels (manual IPv4
# "lab" number 7, manual IPv6 "lab6" number 8, an IKE tunnel "hq" number 9
# that only answers); -v chooses by the endpoints' IP version, -t by
# number (lists and ranges); activation and removal show in ike cmd=list;
# an unknown number, a number of the other version and bad options are
# refused before anything is done; nobody gets exit 4 as from ike.
source "$(dirname "$0")/../lib.sh"

MKTUN=$BUILD/cli/mktun
RMTUN=$BUILD/cli/rmtun
LSTUN=$BUILD/cli/lstun

lab_config
cat >"$CONF/tunnels.d/lab6.conf" <<'CONF'
[tunnel lab6]
number = 8
type = manual
local = 2001:db8::1
remote = 2001:db8::2
local_ts = fd01::/64
remote_ts = fd02::1
mode = tunnel
encap = udp
esp = aes256gcm16
esp_spi_out = 0x1002
esp_spi_in = 0x2002

[tunnel hq]
number = 9
type = ike
local = 192.0.2.1
remote = %any
remote_ts = 10.9.0.0/16
CONF
K3=0x$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n')
K4=0x$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf 'esp lab6 out %s\nesp lab6 in %s\n' "$K3" "$K4" >>"$CONF/secrets.conf"

suite_start
suite_wait_ready

# run EXPECTED-STATUS COMMAND...: the output (both streams) in OUT.
run() {
        local want=$1 rc=0
        shift
        OUT=$("$@" 2>&1) || rc=$?
        [ "$rc" = "$want" ] || fail "$(basename "$1") ${*:2}: exit $rc ($want expected): $OUT"
}
state() {
        "$IKE" --run-dir "$RUN" --json cmd=list numlist="$1" |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["tunnels"][0]["phase2"])'
}
names() { awk 'NR > 1 { print $2 }' <<<"$OUT" | sort | tr '\n' ' '; }

# --help, and what is refused before the suite is asked.
for c in "$MKTUN" "$RMTUN" "$LSTUN"; do
        run 0 "$c" --help
        grep -q "^Usage: $(basename "$c") " <<<"$OUT" || fail "$(basename "$c") --help: $OUT"
        grep -q "permission denied" <<<"$OUT" || fail "$(basename "$c") --help names no exit status: $OUT"
done
run 2 "$MKTUN" --run-dir "$RUN" -x
grep -q "unknown option -x" <<<"$OUT" || fail "mktun -x: $OUT"
run 2 "$MKTUN" --run-dir "$RUN" -v 5
run 2 "$MKTUN" --run-dir "$RUN" -t 0
run 2 "$MKTUN" --run-dir "$RUN" -t 3-1
run 2 "$MKTUN" --run-dir "$RUN" -t
run 2 "$MKTUN" --run-dir "$RUN" -t 7 extra
run 2 "$RMTUN" --run-dir "$RUN" -t 7
grep -q -- "-v 4|6 is required" <<<"$OUT" || fail "rmtun without -v: $OUT"
run 2 "$RMTUN" --run-dir "$RUN" -v 4
run 2 "$RMTUN" --run-dir "$RUN" -v 4 -t 7 -d
grep -q -- "-d is not supported" <<<"$OUT" || fail "rmtun -d: $OUT"
run 2 "$LSTUN" --run-dir "$RUN" -p manual -a
run 2 "$LSTUN" --run-dir "$RUN" -p other
run 2 "$MKTUN" --run-dir "$RUN" -p manual
ln -s "$MKTUN" "$WORK/tun"
run 2 "$WORK/tun" --help
pass "--help exits 0; bad options, values and words, rmtun without -v or -t, and rmtun -d exit 2"

# lstun: the IP version and the type choose.
run 0 "$LSTUN" --run-dir "$RUN"
[ "$(names)" = "hq lab lab6 " ] || fail "lstun: $OUT"
run 0 "$LSTUN" --run-dir "$RUN" -v 4
[ "$(names)" = "hq lab " ] || fail "lstun -v 4: $OUT"
run 0 "$LSTUN" --run-dir "$RUN" -v 6
[ "$(names)" = "lab6 " ] || fail "lstun -v 6: $OUT"
run 0 "$LSTUN" --run-dir "$RUN" -v 4 -p manual
[ "$(names)" = "lab " ] || fail "lstun -v 4 -p manual: $OUT"
run 0 "$LSTUN" --run-dir "$RUN" -p ibm
[ "$(names)" = "hq " ] || fail "lstun -p ibm: $OUT"
run 0 "$LSTUN" --run-dir "$RUN" -t 1-100 -v 6
[ "$(names)" = "lab6 " ] || fail "lstun -t 1-100 -v 6: $OUT"
run 0 "$LSTUN" --run-dir "$RUN" -a
grep -q "^No defined tunnel matches the selection.$" <<<"$OUT" || fail "lstun -a with nothing active: $OUT"
[ "$("$LSTUN" --run-dir "$RUN" --json -v 6 | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["tunnels"][0]["name"])')" = "1 lab6" ] ||
        fail "lstun --json -v 6: $("$LSTUN" --run-dir "$RUN" --json -v 6)"
# The same table as ike cmd=list.
[ "$("$LSTUN" --run-dir "$RUN" -t 7)" = "$("$IKE" --run-dir "$RUN" cmd=list numlist=7)" ] ||
        fail "lstun -t 7 and ike cmd=list numlist=7 differ"
pass "lstun: -v 4 shows hq and lab, -v 6 lab6 alone; -p, -a, ranges, --json; the table of ike cmd=list"

# Refusals before anything is done.
run 1 "$MKTUN" --run-dir "$RUN" -v 4 -t 99
grep -q "no tunnel number 99 is defined" <<<"$OUT" || fail "mktun -t 99: $OUT"
run 1 "$MKTUN" --run-dir "$RUN" -v 6 -t 8,7
grep -q "tunnel 7 (lab) is an IPv4 tunnel, not IPv6" <<<"$OUT" || fail "mktun -v 6 -t 8,7: $OUT"
run 1 "$MKTUN" --run-dir "$RUN" -t 20-30
grep -q "no tunnel is defined with a number from 20 to 30" <<<"$OUT" || fail "mktun -t 20-30: $OUT"
run 1 "$RMTUN" --run-dir "$RUN" -v 6 -t 7
run 1 "$LSTUN" --run-dir "$RUN" -v 4 -t 8
[ "$(state 7)" = inactive ] && [ "$(state 8)" = inactive ] || fail "a refused mktun changed a tunnel"
pass "an unknown number, a range with none, a number of the other IP version: exit 1, nothing changed"

# As a user outside the bulkhead group: the same refusal as ike's.
if su nobody -s /bin/sh -c "test -x '$MKTUN'" 2>/dev/null; then
        as_nobody() {
                local cmd
                printf -v cmd '%q ' "$@"
                su nobody -s /bin/sh -c "$cmd"
        }
        run 4 as_nobody "$IKE" --run-dir "$RUN" cmd=activate numlist=7
        run 4 as_nobody "$MKTUN" --run-dir "$RUN" -v 4 -t 7
        grep -q "permission denied" <<<"$OUT" || fail "mktun as nobody: $OUT"
        run 0 as_nobody "$LSTUN" --run-dir "$RUN" -v 4
        [ "$(state 7)" = inactive ] || fail "nobody's mktun changed the tunnel"
        pass "nobody: mktun refused with exit 4 as ike cmd=activate, lstun allowed"
else
        echo "skipped: the build directory is not reachable for nobody"
fi

# mktun and rmtun by number.
run 0 "$MKTUN" --run-dir "$RUN" -v 4 -t 7
[ "$OUT" = "tunnel lab activated" ] || fail "mktun -v 4 -t 7: $OUT"
[ "$(state 7)" = active ] || fail "after mktun, ike cmd=list shows lab $(state 7)"
[ "$(state 8)" = inactive ] || fail "mktun -t 7 touched lab6"
run 0 "$LSTUN" --run-dir "$RUN" -a
[ "$(names)" = "lab " ] || fail "lstun -a: $OUT"
run 1 "$MKTUN" --run-dir "$RUN" -v 4 -t 7
grep -q "already active" <<<"$OUT" || fail "mktun of an active tunnel: $OUT"
if su nobody -s /bin/sh -c "test -x '$RMTUN'" 2>/dev/null; then
        run 4 as_nobody "$RMTUN" --run-dir "$RUN" -v 4 -t 7
        [ "$(state 7)" = active ] || fail "nobody's rmtun changed the tunnel"
fi
run 0 "$RMTUN" --run-dir "$RUN" -v 4 -t 7
[ "$OUT" = "tunnel lab removed" ] || fail "rmtun -v 4 -t 7: $OUT"
[ "$(state 7)" = inactive ] || fail "after rmtun, ike cmd=list shows lab $(state 7)"
run 1 "$RMTUN" --run-dir "$RUN" -v 4 -t 7
pass "mktun -v 4 -t 7: active in ike cmd=list; again: exit 1; rmtun -v 4 -t 7: inactive; again: exit 1"

# Without numbers: every tunnel of the version that can be started or
# stopped; an IKE tunnel that only answers is left alone.
run 0 "$MKTUN" --run-dir "$RUN" -v 4
[ "$OUT" = "tunnel lab activated" ] || fail "mktun -v 4: $OUT"
[ "$(state 9)" = inactive ] || fail "mktun -v 4 touched hq"
run 0 "$MKTUN" --run-dir "$RUN" -v 4
[ "$OUT" = "No tunnel to activate." ] || fail "mktun -v 4 with lab up: $OUT"
run 0 "$MKTUN" --run-dir "$RUN" -v 6 -t 5-8 --json
[ "$OUT" = '{"tunnel":"lab6","result":"activated"}' ] || fail "mktun -v 6 -t 5-8 --json: $OUT"
[ "$(state 8)" = active ] || fail "after mktun -v 6 -t 5-8, lab6 is $(state 8)"
run 0 "$RMTUN" --run-dir "$RUN" -v 4 -t all
[ "$OUT" = "tunnel lab removed" ] || fail "rmtun -v 4 -t all: $OUT"
[ "$(state 8)" = active ] || fail "rmtun -v 4 -t all took lab6 down"
run 0 "$RMTUN" --run-dir "$RUN" -v 6 all
[ "$OUT" = "tunnel lab6 removed" ] || fail "rmtun -v 6 all: $OUT"
run 0 "$RMTUN" --run-dir "$RUN" -v 6 -t all
[ "$OUT" = "No tunnel to deactivate." ] || fail "rmtun -v 6 -t all with nothing up: $OUT"
[ "$(state 7)" = inactive ] && [ "$(state 8)" = inactive ] || fail "tunnels left up"
pass "mktun -v 4 and -v 6 -t 5-8, rmtun -t all: each version alone, hq (remote %any) left alone"
