#!/usr/bin/env bash
# Every service's interfaces appear under busctl introspect, and busctl tree
# shows every object.
source "$(dirname "$0")/../lib.sh"
suite_start
suite_wait_ready

for entry in $SERVICES Supervisor:Supervisor; do
        obj=${entry#*:}
        name=org.bulkhead.$obj
        out=$(bctl introspect "$name" "/org/bulkhead/$obj") || fail "introspect $name failed"
        iface=$(bctl introspect --xml-interface "$name" "/org/bulkhead/$obj" | grep -o "org\.bulkhead\.$obj[0-9]*" | head -1)
        [ -n "$iface" ] || fail "$name: no versioned interface org.bulkhead.${obj}N in the introspection"
        for want in org.bulkhead.Service1 "$iface" org.freedesktop.DBus.Properties org.freedesktop.DBus.Introspectable; do
                grep -q "^$want " <<<"$out" || fail "$name: $want missing from introspection"
        done
        grep -q '^\.LogLevel ' <<<"$out" || fail "$name: no LogLevel property"
        # The introspection text is the XML the tables were generated from.
        src=$TESTS_DIR/../ipc/interfaces/$iface.xml
        [ -f "$src" ] || fail "$iface has no XML in ipc/interfaces"
        for m in $(grep -o '<method name="[A-Za-z]*"' "$src" | cut -d'"' -f2); do
                grep -q "^\.$m " <<<"$out" || fail "$name: method $m of $src missing"
        done
        tree=$(bctl tree "$name")
        grep -q "/org/bulkhead/$obj" <<<"$tree" || fail "busctl tree $name does not show /org/bulkhead/$obj"
        pass "$name introspects as $iface"
done
