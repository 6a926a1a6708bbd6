#!/usr/bin/env bash
# ipsecstat(8) against real traffic: two hosts, each running a whole suite in
# its own network namespace, with a manual tunnel between them (as
# manual.sh). After a ping of exactly N packets each side reports N ESP
# packets in and out, in the text report and in --json; -c resets (only for
# root: nobody gets exit status 4); the totals never go backwards when
# filterd is killed and restarted.
#   ipsecstat.sh [ENCAP [OUTER [INNER [ESP]]]]: udp|esp, 4|6, 4|6, a transform set
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

ENCAP=${1:-udp}
OUTER=${2:-4}
INNER=${3:-4}
ESP=${4:-aes256gcm16}
N=5
IPSECSTAT=$BUILD/cli/ipsecstat

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup

manual_pair "$ENCAP" "$OUTER" "$INNER" "$ESP"

ipsecstat_on() {
        local h=$1
        shift
        "$IPSECSTAT" --run-dir "$WORK/$h/run" "$@"
}

# stat_text H LABEL: the number on one line of the text report.
stat_text() {
        ipsecstat_on "$1" | awk -v label="$2" '{ line = $0; sub(/^[ \t]+/, "", line) }
                index(line, label ": ") == 1 { print substr(line, length(label) + 3); found = 1 }
                END { if (!found) print "missing" }'
}

# stat_json H NAME: one counter of the --json report.
stat_json() {
        ipsecstat_on "$1" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["statistics"].get(sys.argv[1], "missing"))' "$2"
}

# expect_esp H IN OUT: the ESP lines and totals of both reports.
expect_esp() {
        local h=$1 in=$2 out=$3 got
        for pair in "Incoming ESP packets:$in" "Total incoming packets:$in" "Outgoing ESP packets:$out" \
                "Total outgoing packets:$out"; do
                got=$(stat_text "$h" "${pair%%:*}")
                [ "$got" = "${pair#*:}" ] || fail "$h: \"${pair%%:*}\" is $got, expected ${pair#*:}: $(ipsecstat_on "$h")"
        done
        for pair in in_esp:$in in_total:$in out_esp:$out out_total:$out; do
                got=$(stat_json "$h" "${pair%%:*}")
                [ "$got" = "${pair#*:}" ] || fail "$h: --json ${pair%%:*} is $got, expected ${pair#*:}: $(ipsecstat_on "$h" --json)"
        done
}

ping_n() { # count: exactly that many requests and replies, or fail
        in_host a ping -c "$1" -i 0.2 -W 2 -I "$A_IN" "$B_IN" >"$WORK/ping" 2>&1 || { cat "$WORK/ping"; fail "ping through the tunnel failed"; }
        grep -q " $1 received" "$WORK/ping" || { cat "$WORK/ping"; fail "not all $1 pings came back"; }
}

# ---------------------------------------------------------------- the report

for h in a b; do
        report=$(ipsecstat_on $h) || fail "$h: ipsecstat failed"
        for line in "IP Security Devices:" "ipsec_v4 Available" "ipsec_v6 Available" "Authentication Algorithm:" \
                "Encryption Algorithm:" "AES_GCM_16 -- " "3DES -- .*(legacy)" "HMAC_MD5_96 -- .*(legacy)" \
                "IP Security Statistics -" "Tunnel cache entries added: 2"; do
                grep -q "^$line" <<<"$report" || fail "$h: no line \"$line\" in the report: $report"
        done
        [ "$(ipsecstat_on $h -d)" = "$(printf 'IP Security Devices:\nipsec_v4 Available\nipsec_v6 Available')" ] ||
                fail "$h: ipsecstat -d: $(ipsecstat_on $h -d)"
done
ipsecstat_on a -A | grep -q "^HMAC_SHA2_256_128 -- " || fail "ipsecstat -A: $(ipsecstat_on a -A)"
! ipsecstat_on a -A | grep -q "AES_GCM" || fail "ipsecstat -A shows encryption algorithms"
ipsecstat_on a -E | grep -q "^CHACHA20_POLY1305 -- " || fail "ipsecstat -E: $(ipsecstat_on a -E)"
rc=0
ipsecstat_on a -x >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "ipsecstat -x: exit status $rc, expected 2"
pass "report: devices Available, algorithms, statistics; -d, -A, -E"

expect_esp a 0 0
expect_esp b 0 0
ping_n $N
expect_esp a $N $N
expect_esp b $N $N
sa=$(ipsecstat_on a -s)
grep -q "^lab  *out  *ESP  *0x00001001  *$N  *[0-9][0-9]*  *0  *[A-Z]" <<<"$sa" || fail "ipsecstat -s on a: $sa"
grep -q "^lab  *in  *ESP  *0x00002001  *$N  *[0-9][0-9]*  *0  *[A-Z]" <<<"$sa" || fail "ipsecstat -s on a: $sa"
ipsecstat_on b -s --json | python3 -c '
import json, sys
sas = json.load(sys.stdin)["sas"]
n = int(sys.argv[1])
out = [s for s in sas if s["direction"] == "out"][0]
assert out["spi"] == 0x2001 and out["packets"] == n and out["drops"] == 0, sas
assert all("key" not in k for s in sas for k in s), sas
' $N || fail "ipsecstat -s --json on b: $(ipsecstat_on b -s --json)"
pass "after $N pings: $N ESP packets in and out on both sides (text and --json), -s shows the SAs"

# ---------------------------------------------------------------- -c

# Run as nobody: the binary must be reachable for that user.
if ! su nobody -s /bin/sh -c "test -x '$IPSECSTAT'" 2>/dev/null; then
        mkdir -p "$WORK/bin"
        cp "$IPSECSTAT" "$WORK/bin/"
        chmod 755 "$WORK/bin" "$WORK/bin/ipsecstat"
        NOBODY_IPSECSTAT=$WORK/bin/ipsecstat
else
        NOBODY_IPSECSTAT=$IPSECSTAT
fi
as_nobody() {
        su nobody -s /bin/sh -c "'$NOBODY_IPSECSTAT' --run-dir '$WORK/a/run' $*"
}
out=$(as_nobody) || fail "nobody cannot run ipsecstat: $out"
grep -q "^Incoming ESP packets: $N$" <<<"$out" || fail "ipsecstat as nobody: $out"
rc=0
err=$(as_nobody -c 2>&1 >/dev/null) || rc=$?
[ "$rc" = 4 ] || fail "ipsecstat -c as nobody: exit status $rc, expected 4 ($err)"
grep -qi "permission denied" <<<"$err" || fail "ipsecstat -c as nobody: no clear error: $err"
expect_esp a $N $N
pass "nobody may read the counters; ipsecstat -c as nobody fails with exit status 4 and resets nothing"

out=$(ipsecstat_on a -c) || fail "ipsecstat -c failed"
grep -q "^Incoming ESP packets: $N$" <<<"$out" || fail "ipsecstat -c did not show the counters before the reset: $out"
grep -q "^The counters were reset.$" <<<"$out" || fail "ipsecstat -c: $out"
expect_esp a 0 0
expect_esp b $N $N
ping_n 2
expect_esp a 2 2
expect_esp b $((N + 2)) $((N + 2))
ipsecstat_on b -c --json | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["reset"] is True and r["statistics"]["in_esp"] == int(sys.argv[1]), r
' $((N + 2)) || fail "ipsecstat -c --json on b"
expect_esp b 0 0
pass "ipsecstat -c shows the counters, then they read 0 until new traffic; the other host keeps its own"

# ---------------------------------------------------------------- filterd restarts

ping_n 3
expect_esp a 5 5
before=$(ipsecstat_on a --json)
fpid=$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Service1 Pid | cut -d' ' -f2)
kill -9 "$fpid"
# While it is away, and after it is back: never lower than before.
never_lower() {
        python3 -c '
import json, sys
before = json.loads(sys.argv[1])["statistics"]
now = json.loads(sys.argv[2])["statistics"]
low = {k: (v, now.get(k)) for k, v in before.items() if now.get(k, -1) < v}
sys.exit("went backwards: %s" % low if low else 0)
' "$before" "$1"
}
never_lower "$(ipsecstat_on a --json)" || fail "the totals went backwards while filterd was away"
filterd_back() {
        local p
        p=$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Service1 Pid 2>/dev/null | cut -d' ' -f2) &&
                [ -n "$p" ] && [ "$p" != "$fpid" ]
}
wait_for 10 filterd_back || fail "filterd did not come back after kill -9"
never_lower "$(ipsecstat_on a --json)" || fail "the totals went backwards after filterd's restart"
expect_esp a 5 5
# What the new filterd counts comes on top of what the old one had: traffic
# from a (whatever becomes of it) moves its outgoing counters.
in_host a ping -c 2 -i 0.2 -W 1 -I "$A_IN" "$B_IN" >/dev/null 2>&1 || true
own_out=$(counter a out_total)
own_drop=$(counter a out_dropped)
never_lower "$(ipsecstat_on a --json)" || fail "the totals went backwards after traffic through the new filterd"
[ "$(stat_json a out_total)" = $((5 + own_out)) ] ||
        fail "out_total is $(stat_json a out_total), expected 5 + the new filterd's $own_out"
[ "$(stat_json a out_dropped)" -ge "$own_drop" ] || fail "out_dropped lost the new filterd's $own_drop"
pass "filterd killed and restarted: no total went backwards, the new filterd's counts add on top"

# A reset after the restart sets the zero point on the totals, not on
# filterd's own counters.
ipsecstat_on a -c >/dev/null || fail "ipsecstat -c after the restart failed"
[ "$(stat_json a out_total)" = 0 ] && [ "$(stat_json a in_esp)" = 0 ] || fail "not 0 after -c: $(ipsecstat_on a)"
pass "ipsecstat -c after filterd's restart: 0"

# Neither what ipsecstat shows nor what the suites logged carries a key.
for h in a b; do
        ipsecstat_on $h -s --json >"$WORK/$h/ipsecstat-s.json"
        ipsecstat_on $h -s >"$WORK/$h/ipsecstat-s.txt"
done
no_key_in_logs "$K1" "$K2"
pass "no key in ipsecstat's output nor in any log"
