#!/usr/bin/env bash
# The bus policy made from the process table and the interface XML: nobody
# but a service's user (or root) owns a suite name, unprivileged users reach
# only what "any" may call, and the system bus policy is the same rules.
source "$(dirname "$0")/../lib.sh"
suite_start
suite_wait_ready

as_nobody() {
        su nobody -s /bin/sh -c "$*"
}

# A name squatter: while tmd restarts its name is free, and must stay so.
pid=$(service_pid Tmd Tmd)
kill -STOP "$pid"
kill -9 "$pid"
out=$(as_nobody "busctl --address='$BUS' call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su org.bulkhead.Tmd 4" 2>&1) &&
        fail "an unprivileged user could own org.bulkhead.Tmd: $out"
grep -qi "denied\|not allowed" <<<"$out" || fail "RequestName by nobody: $out"
wait_for 5 owner_changed Tmd "$pid" || fail "tmd did not come back"
pass "an unprivileged user cannot own a suite name: $out"

if getent passwd bulkhead-isakmpd >/dev/null; then
        # A service's user owns its own name only.
        out=$(su bulkhead-isakmpd -s /bin/sh -c "busctl --address='$BUS' call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus RequestName su org.bulkhead.Crypto 4" 2>&1) &&
                fail "isakmpd's user could own org.bulkhead.Crypto: $out"
        pass "isakmpd's user cannot own cryptod's name"
fi

# What "any" may call passes; admin methods are stopped by the bus already.
as_nobody "busctl --address='$BUS' call org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Tmd1 ListTunnels" >/dev/null ||
        fail "nobody cannot list tunnels"
as_nobody "busctl --address='$BUS' get-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Service1 LogLevel" >/dev/null ||
        fail "nobody cannot read a property"
as_nobody "busctl --address='$BUS' introspect org.bulkhead.Tmd /org/bulkhead/Tmd" >/dev/null || fail "nobody cannot introspect"
out=$(as_nobody "dbus-send --bus='$BUS' --print-reply --dest=org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1.Shutdown" 2>&1) &&
        fail "nobody could shut the suite down"
grep -q "AccessDenied" <<<"$out" || fail "Shutdown by nobody: $out"
grep -q "Rejected send message" <<<"$out" || fail "Shutdown by nobody was not stopped by the bus policy: $out"
out=$(as_nobody "dbus-send --bus='$BUS' --print-reply --dest=org.bulkhead.Logger /org/bulkhead/Logger org.bulkhead.Logger1.Reload" 2>&1) || true
grep -q "Rejected send message" <<<"$out" || fail "Logger1.Reload by nobody was not stopped by the bus policy: $out"
pass "unprivileged users reach what any may call, and the bus stops the rest"

# The system bus gets the same rules from the same tables.
"$BULKHEADD" --print-bus-policy >"$WORK/system.conf"
grep -q '<policy user="bulkhead-tmd">' "$WORK/system.conf" || fail "system policy lacks tmd's user"
grep -q '<allow own="org.bulkhead.Tmd"/>' "$WORK/system.conf" || fail "system policy: tmd cannot own its name"
grep -q 'send_destination="org.bulkhead.Tmd" send_interface="org.bulkhead.Tmd1" send_member="ListTunnels"' "$WORK/system.conf" ||
        fail "system policy: ListTunnels not open to all"
! grep -q '<listen>' "$WORK/system.conf" || fail "system policy carries a listen address"
if command -v xmllint >/dev/null; then xmllint --noout "$WORK/system.conf" || fail "system policy is not well-formed"; fi
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$WORK/system.conf" ||
        fail "system policy is not well-formed XML"
pass "bulkheadd --print-bus-policy gives the system bus the same rules"
