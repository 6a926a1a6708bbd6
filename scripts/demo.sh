#!/usr/bin/env bash
# The demo: builds Bulkhead, starts the suite in embedded mode on a private
# bus, shows its services and interfaces as busctl sees them, lists tunnels
# with ike, changes a log level at run time, shows the supervisor healing a
# killed service, and stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
        echo "demo: run as root (it installs packages and starts services as their own users)" >&2
        exit 1
fi
scripts/deps.sh
scripts/users.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

WORK=$(mktemp -d /tmp/bulkhead-demo.XXXXXX)
chmod 755 "$WORK"
RUN=$WORK/run
CONF=$WORK/etc
mkdir -p "$CONF" "$WORK/log"
chown bulkhead-log: "$WORK/log"      # logd runs as its own user
cat >"$CONF/isakmpd.conf" <<CONFIG
level information
information $WORK/log/isakmpd.log
CONFIG
SUP=
cleanup() {
        if [ -n "$SUP" ] && kill -0 "$SUP" 2>/dev/null; then
                kill -TERM "$SUP"
                wait "$SUP" 2>/dev/null || true
        fi
        rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Start the suite in embedded mode"
start=$(date +%s%N)
# In a network namespace of its own: the TUN device and ESP sockets the
# supervisor opens stay out of the host.
unshare --net -- build/bulkheadd --embedded --run-dir "$RUN" --config-dir "$CONF" >"$WORK/out" 2>&1 &
SUP=$!
for _ in $(seq 300); do [ -f "$RUN/ready" ] && break; sleep 0.05; done
[ -f "$RUN/ready" ] || { cat "$WORK/out"; echo "demo: the suite did not start" >&2; exit 1; }
echo "ready in $((($(date +%s%N) - start) / 1000000)) ms: $(head -n1 "$WORK/out" | grep ready || true)"
BUS=$(cat "$RUN/bus")
export BULKHEAD_BUS_ADDRESS=$BUS
IKE=build/cli/ike

step "The services on the private bus"
show busctl --address="$BUS" list --acquired --no-pager

step "Their objects and interfaces"
for obj in Supervisor Tmd Isakmpd Crypto Filter Logger Stats; do
        busctl --address="$BUS" tree --no-pager "org.bulkhead.$obj"
done
show busctl --address="$BUS" introspect --no-pager org.bulkhead.Isakmpd /org/bulkhead/Isakmpd

step "Tunnels (none are defined yet)"
show $IKE cmd=list
show $IKE --json cmd=list

step "Turn isakmpd logging on (the level of isakmpd.conf) and write a mark"
show $IKE cmd=log
show busctl --address="$BUS" call org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Service1 Mark ss information "hello from the demo"
for _ in $(seq 100); do grep -q "hello from the demo" "$WORK/log/isakmpd.log" 2>/dev/null && break; sleep 0.05; done
show cat "$WORK/log/isakmpd.log"
show $IKE cmd=log service=tmd level=debug

step "The supervisor heals a killed service"
pid=$(busctl --address="$BUS" get-property org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Service1 Pid | cut -d' ' -f2)
show kill -9 "$pid"
for _ in $(seq 100); do
        new=$(busctl --address="$BUS" get-property org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Service1 Pid 2>/dev/null | cut -d' ' -f2 || true)
        [ -n "$new" ] && [ "$new" != "$pid" ] && break
        sleep 0.05
done
echo "tmd was pid $pid, now pid $new"
show busctl --address="$BUS" call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 ListServices

step "Stop cleanly"
kill -TERM "$SUP"
wait "$SUP"
SUP=
left=$(pgrep -f -- "$RUN" || true)
[ -z "$left" ] && echo "no process left" || { echo "left: $left"; exit 1; }
[ -z "$(find "$RUN" -type s)" ] && echo "no socket left"
