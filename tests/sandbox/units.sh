#!/usr/bin/env bash
# The hardened deployment's systemd units: each at or below 2.0 exposure in
# systemd-analyze security, each service as its own user without
# capabilities, the supervisor with the three network capabilities only.
set -euo pipefail
BUILD=${BULKHEAD_BUILD:?}
UNITS=$BUILD/policy/systemd
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "SKIP: systemd-analyze not installed"; exit 77; }
n=0
for unit in "$UNITS"/bulkhead*.service; do
        name=$(basename "$unit")
        out=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
        score=$(grep -o 'Overall exposure level for [^:]*: [0-9.]*' <<<"$out" | awk '{print $NF}')
        [ -n "$score" ] || fail "$name: no exposure level: $out"
        systemd-analyze security --offline=true --threshold=20 "$unit" >/dev/null 2>&1 ||
                fail "$name: exposure $score is above 2.0: $(grep '✗' <<<"$out" | head -10)"
        echo "ok: $name exposure $score"
        n=$((n + 1))
done
[ "$n" -eq 7 ] || fail "expected 7 units (bulkheadd and six services), found $n"
for svc in logd statd cryptod filterd isakmpd tmd; do
        u=$UNITS/bulkhead-$svc.service
        grep -q '^User=bulkhead-' "$u" || fail "bulkhead-$svc.service has no user of its own"
        grep -q '^CapabilityBoundingSet=$' "$u" || fail "bulkhead-$svc.service keeps capabilities"
done
grep -q '^CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE$' "$UNITS/bulkheadd.service" ||
        fail "bulkheadd.service capabilities: $(grep CapabilityBoundingSet "$UNITS/bulkheadd.service")"
grep -q -- '--no-spawn' "$UNITS/bulkheadd.service" || fail "bulkheadd.service spawns services itself"
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$BUILD/org.bulkhead.conf" ||
        fail "the system bus policy is not well-formed"
echo "ok: 7 units at or below 2.0, the system bus policy generated"
