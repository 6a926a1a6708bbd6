#!/usr/bin/env bash
# The second lock: with a bus that lets everyone call everything, each
# service's own dispatcher still refuses callers without the right identity.
source "$(dirname "$0")/../lib.sh"

WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
chmod 755 "$WORK"
RUN=$WORK/run
CONF=$WORK/etc
mkdir -p "$RUN" "$CONF"
cat >"$WORK/permissive.conf" <<CONFIG
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>test</type>
  <listen>unix:path=$WORK/permissive.sock</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
CONFIG
dbus-daemon --config-file="$WORK/permissive.conf" --nofork --nopidfile --nosyslog --print-address=1 >"$WORK/address" &
DAEMON=$!
trap 'rc=$?; kill $DAEMON 2>/dev/null; (exit $rc); suite_cleanup' EXIT
wait_for 5 test -s "$WORK/address" || fail "the permissive bus did not start"
BUS=$(head -n1 "$WORK/address")
export BULKHEAD_BUS_ADDRESS=$BUS

unshare --net -- "$BULKHEADD" --bus "$BUS" --run-dir "$RUN" --config-dir "$CONF" >"$WORK/out" 2>&1 &
SUP_PID=$!
suite_wait_ready
[ "$(cat "$RUN/bus")" = "$BUS" ] || fail "RUN/bus does not hold the bus address in non-embedded mode"

as_nobody() {
        su nobody -s /bin/sh -c "$*"
}
# denied DEST PATH IFACE.MEMBER ARGS...: refused by the service itself.
denied() {
        local dest=$1 path=$2 method=$3
        shift 3
        local out
        out=$(as_nobody "dbus-send --bus='$BUS' --print-reply --dest=$dest $path $method $*" 2>&1) &&
                fail "nobody could call $method on $dest: $out"
        grep -q "^Error org.freedesktop.DBus.Error.AccessDenied: .*may not" <<<"$out" ||
                fail "$method by nobody: not refused by the dispatcher: $out"
}
denied org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1.Shutdown
denied org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1.RestartService string:tmd
denied org.bulkhead.Logger /org/bulkhead/Logger org.bulkhead.Logger1.Reload
# Identity before signature: a wrong argument from a refused caller is
# still "may not", never a hint about the arguments.
denied org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1.RestartService uint32:1
for entry in $SERVICES; do
        obj=${entry#*:}
        denied "org.bulkhead.$obj" "/org/bulkhead/$obj" org.bulkhead.Service1.Mark string:errors string:x
        denied "org.bulkhead.$obj" "/org/bulkhead/$obj" org.bulkhead.Service1.OpenPeer
        denied "org.bulkhead.$obj" "/org/bulkhead/$obj" org.freedesktop.DBus.Properties.Set \
                string:org.bulkhead.Service1 string:LogLevel variant:string:debug
done
kill -0 "$SUP_PID" || fail "the supervisor died"
pass "with a permissive bus, every dispatcher refuses an unprivileged caller by itself"

# A suite name taken by an impostor on this permissive bus does not make
# it the service: the dispatchers trust the name only from its owner... the
# name is owned by the real tmd already, so the impostor cannot take it.
out=$(as_nobody "busctl --address='$BUS' call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su org.bulkhead.Tmd 4" 2>&1) || true
[ "$(bctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus GetConnectionUnixProcessID s org.bulkhead.Tmd | cut -d' ' -f2)" = "$(service_pid Tmd Tmd)" ] ||
        fail "org.bulkhead.Tmd changed hands"
pass "a running service's name cannot be taken over"
