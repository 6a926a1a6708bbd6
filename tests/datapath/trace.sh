#!/usr/bin/env bash
# The trace hooks: the seed's categories set at run time by level and by
# name, events in the ring that ipsectrcbuf dumps and follows, nothing
# traced in a category that is off, and never a key.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/../netns.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
trap 'rc=$?; netns_cleanup; rm -rf "$WORK"; exit $rc' EXIT
netns_setup
manual_pair
TRC=$BUILD/cli/ipsectrcbuf
trc() { "$TRC" --run-dir "$WORK/a/run" "$@"; }
ping_b() { in_host a ping -c "${1:-3}" -i 0.2 -W 2 -I 10.1.0.1 10.2.0.1 >/dev/null; }

# By default only errors are traced: a clean ping leaves nothing.
ping_b 3 || fail "ping"
[ -z "$(trc -d)" ] || fail "events traced with the default level: $(trc -d | head -3)"
pass "level 0 (the default) traces nothing for clean traffic"

trc -l 2 | grep -q "trace categories: error,filter,filter-info,tunnel,tunnel-info,capsulation,capsulation-info,crypto,crypto-info" ||
        fail "ipsectrcbuf -l 2: $(trc -l 2)"
ping_b 3 || fail "ping"
trc -d >"$WORK/trace-2"
[ "$(grep -c "Capsulation Information .*encapsulated" "$WORK/trace-2")" -ge 3 ] || fail "no encapsulation events: $(cat "$WORK/trace-2")"
[ "$(grep -c "Capsulation Information .*decapsulated" "$WORK/trace-2")" -ge 3 ] || fail "no decapsulation events"
[ "$(grep -c "Filter Information .*permit out 10.1.0.1 -> 10.2.0.1" "$WORK/trace-2")" -ge 3 ] || fail "no filter events"
pass "level 2 traces filter, capsulation and crypto information ($(wc -l <"$WORK/trace-2") events)"

# Only the Filter category: traffic no tunnel claims is denied and traced,
# tunnel traffic is not.
trc -c filter >/dev/null
in_host a ip route add 10.9.0.0/24 dev bulkhead0 src 10.1.0.1
in_host a ping -c 1 -W 1 -I 10.1.0.1 10.9.0.5 >/dev/null 2>&1 || true
ping_b 2 || fail "ping"
trc -d >"$WORK/trace-f"
new=$(sed -n "$(($(wc -l <"$WORK/trace-2") + 1)),\$p" "$WORK/trace-f")
grep -q "Filter .*deny out 10.1.0.1 -> 10.9.0.5" <<<"$new" || fail "the denied packet was not traced: $new"
! grep -qv " Filter " <<<"$new" || fail "categories that are off were traced: $(grep -v " Filter " <<<"$new" | head -3)"
pass "-c filter: the denied packet is traced, nothing of the categories that are off"

# Follow: events as they come, bounded by count and time.
trc -l 2 >/dev/null
( sleep 0.5; ping_b 2 ) &
pinger=$!
out=$(trc -f -n 2 -t 10) || fail "ipsectrcbuf -f failed"
wait "$pinger" || fail "ping while following"
[ "$(wc -l <<<"$out")" -ge 2 ] || fail "-f -n 2 printed: $out"
pass "-f follows the buffer"

trc --json -d | python3 -c 'import json, sys; e = json.load(sys.stdin); assert len(e) > 0 and "category" in e[0]' ||
        fail "--json -d is not a JSON list of events"

# Only administrators read or set traces.
rc=0
su nobody -s /bin/sh -c "'$TRC' --run-dir '$WORK/a/run' -d" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 4 ] || fail "an unprivileged ipsectrcbuf -d exited $rc, expected 4"
rc=0
su nobody -s /bin/sh -c "'$TRC' --run-dir '$WORK/a/run' -l 0" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 4 ] || fail "an unprivileged ipsectrcbuf -l exited $rc, expected 4"
pass "unprivileged users can neither read nor set traces"

no_key_in_logs "$K1" "$K2"
pass "no key in any trace"
