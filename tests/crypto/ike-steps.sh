#!/usr/bin/env bash
# cryptod's IKE SA handles, step by step and out of order, over the bus
# (tests/crypto/ike-steps.c). The suite runs without isakmpd: bulkheadd
# --no-spawn, the other services started here as their own users in the
# suite's network namespace, and the test program as isakmpd's user owns
# org.bulkhead.Isakmpd, so that cryptod takes it for isakmpd.
#   ike-steps.sh PROGRAM
source "$(dirname "$0")/../lib.sh"
program=${1:?the ike-steps program}
getent passwd bulkhead-isakmpd >/dev/null || fail "no user bulkhead-isakmpd (scripts/deps.sh)"

CONF=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
CLEANUP_DIRS+=("$CONF")
chmod 755 "$CONF"
mkdir -p "$CONF/tunnels.d"
# Two tunnels with one key: the two ends of the test's IKE SAs.
key="ike-steps $$ $RANDOM$RANDOM"
printf 'psk ini "%s"\npsk res "%s"\n' "$key" "$key" >"$CONF/secrets.conf"
chmod 600 "$CONF/secrets.conf"
chown bulkhead-crypto: "$CONF/secrets.conf"

suite_start --no-spawn
declare -A user=([logd]=bulkhead-log [statd]=bulkhead-stat [cryptod]=bulkhead-crypto [filterd]=bulkhead-filter)
pids=()
for svc in logd statd cryptod filterd; do
        in_suite_netns setpriv --reuid="${user[$svc]}" --regid="${user[$svc]}" --clear-groups --inh-caps=-all \
                "$BUILD/bulkhead-$svc" --bus "$BUS" --run-dir "$RUN" --config-dir "$CONF" >>"$WORK/out" 2>&1 &
        pids+=($!)
done
trap 'rc=$?; kill ${pids[*]} 2>/dev/null; (exit $rc); suite_cleanup' EXIT
for obj in Crypto Filter; do
        wait_for 15 bctl call "org.bulkhead.$obj" "/org/bulkhead/$obj" org.bulkhead.Service1 Ping >/dev/null ||
                fail "org.bulkhead.$obj does not answer"
done

in_suite_netns setpriv --reuid=bulkhead-isakmpd --regid=bulkhead-isakmpd --clear-groups --inh-caps=-all \
        "$program" --bus "$BUS" || fail "ike-steps failed"
grep -q "killed by signal\|SIGSEGV\|SIGSYS" "$WORK/out" && fail "a service died: $(grep killed "$WORK/out")"
grep -qF -- "$key" "$WORK/out" && fail "the pre-shared key is in a log"
pass "cryptod's IKE SA steps: in order, out of order, refused whole"
