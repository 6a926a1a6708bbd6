#!/usr/bin/env bash
# Wrong signatures, unknown methods, objects, interfaces and properties, wrong
# property types and callers without the right get D-Bus errors; the service
# stays up (same pid, still answering).
source "$(dirname "$0")/../lib.sh"
suite_start
suite_wait_ready

# dbus-send prints "Error org.freedesktop.DBus.Error.X: message".
dsend_error() {
        local want=$1
        shift
        local out
        out=$(dbus-send --bus="$BUS" --print-reply "$@" 2>&1) && fail "dbus-send $* succeeded; expected $want"
        grep -q "^Error $want" <<<"$out" || fail "dbus-send $*: expected $want, got: $out"
}

for entry in $SERVICES; do
        obj=${entry#*:}
        name=org.bulkhead.$obj
        path=/org/bulkhead/$obj
        pid=$(service_pid "$obj" "$obj")
        dsend_error org.freedesktop.DBus.Error.InvalidArgs --dest="$name" "$path" org.bulkhead.Service1.Ping string:extra
        dsend_error org.freedesktop.DBus.Error.InvalidArgs --dest="$name" "$path" org.bulkhead.Service1.Mark uint32:3 string:x
        dsend_error org.freedesktop.DBus.Error.UnknownMethod --dest="$name" "$path" org.bulkhead.Service1.NoSuchMethod
        dsend_error org.freedesktop.DBus.Error.UnknownInterface --dest="$name" "$path" org.bulkhead.Nothing1.Ping
        dsend_error org.freedesktop.DBus.Error.UnknownObject --dest="$name" /org/bulkhead/Nowhere org.bulkhead.Service1.Ping
        dsend_error org.freedesktop.DBus.Error.UnknownProperty --dest="$name" "$path" \
                org.freedesktop.DBus.Properties.Get string:org.bulkhead.Service1 string:NoSuchProperty
        dsend_error org.freedesktop.DBus.Error.InvalidArgs --dest="$name" "$path" \
                org.freedesktop.DBus.Properties.Set string:org.bulkhead.Service1 string:LogLevel variant:uint32:3
        dsend_error org.freedesktop.DBus.Error.InvalidArgs --dest="$name" "$path" \
                org.freedesktop.DBus.Properties.Set string:org.bulkhead.Service1 string:LogLevel variant:string:loud
        dsend_error org.freedesktop.DBus.Error.PropertyReadOnly --dest="$name" "$path" \
                org.freedesktop.DBus.Properties.Set string:org.bulkhead.Service1 string:Pid variant:uint32:1
        dsend_error org.freedesktop.DBus.Error.InvalidArgs --dest="$name" "$path" \
                org.freedesktop.DBus.Properties.Get string:only-one-arg
        # An unprivileged user may read but not administer.
        out=$(su nobody -s /bin/sh -c "dbus-send --bus='$BUS' --print-reply --dest=$name $path org.freedesktop.DBus.Properties.Set string:org.bulkhead.Service1 string:LogLevel variant:string:debug" 2>&1) &&
                fail "$name: nobody could set LogLevel"
        grep -q "^Error org.freedesktop.DBus.Error.AccessDenied" <<<"$out" || fail "$name: nobody got: $out"
        su nobody -s /bin/sh -c "dbus-send --bus='$BUS' --print-reply --dest=$name $path org.bulkhead.Service1.Ping" \
                >/dev/null || fail "$name: nobody cannot Ping"
        [ "$(prop "$name" "$path" org.bulkhead.Service1 LogLevel)" = events ] || fail "$name: LogLevel changed by a refused call"
        # Still the same process, still answering.
        bctl call "$name" "$path" org.bulkhead.Service1 Ping || fail "$name stopped answering"
        [ "$(service_pid "$obj" "$obj")" = "$pid" ] || fail "$name restarted after bad calls"
        pass "$name: bad calls get errors, the service stays up"
done

# A method the caller is not allowed to use is refused before its arguments
# are looked at: nobody gets AccessDenied, not InvalidArgs.
out=$(su nobody -s /bin/sh -c "dbus-send --bus='$BUS' --print-reply --dest=org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1.RestartService uint32:1" 2>&1) &&
        fail "nobody could call RestartService"
grep -q "^Error org.freedesktop.DBus.Error.AccessDenied" <<<"$out" || fail "RestartService by nobody: $out"
pass "caller identity is checked before the signature"
