#!/usr/bin/env bash
# Log levels set at run time with ike cmd=log reach the isakmpd log files as
# isakmpd.conf routes them; at "none" nothing does.
source "$(dirname "$0")/../lib.sh"
CONF=$(mktemp -d /tmp/bulkhead-conf.XXXXXX)
CLEANUP_DIRS+=("$CONF")
chmod 755 "$CONF"
LOGS=$CONF/logs
mkdir -p "$LOGS"
# logd writes them: as its own user when the service users exist.
! getent passwd bulkhead-log >/dev/null || chown bulkhead-log: "$LOGS"
cat >"$CONF/isakmpd.conf" <<CONFIG
# test configuration
level information
errors      $LOGS/isakmpd.errors
information $LOGS/isakmpd.log
CONFIG
suite_start
suite_wait_ready

ISA=(org.bulkhead.Isakmpd /org/bulkhead/Isakmpd)
level() { prop "${ISA[@]}" org.bulkhead.Service1 LogLevel; }
mark() { bctl call "${ISA[@]}" org.bulkhead.Service1 Mark ss "$1" "$2"; }
in_log() { grep -q -- "$1" "$LOGS/${2:-isakmpd.log}" 2>/dev/null; }

[ "$(level)" = events ] || fail "isakmpd starts at $(level), expected events"

"$IKE" cmd=log service=isakmpd level=information >/dev/null || fail "ike cmd=log level=information failed"
[ "$(level)" = information ] || fail "LogLevel is $(level) after ike cmd=log level=information"
mark information "info-line-1"
wait_for 5 in_log info-line-1 || fail "an information line did not reach the information file"
line=$(grep -- info-line-1 "$LOGS/isakmpd.log")
[[ "$line" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}Z\ isakmpd\ information:\ mark ]] ||
        fail "line lacks time, service or level: $line"
! in_log info-line-1 isakmpd.errors || fail "an information line reached the errors file"
mark errors "error-line-1"
wait_for 5 in_log error-line-1 isakmpd.errors || fail "an errors line did not reach the errors file"
wait_for 5 in_log error-line-1 || fail "an errors line did not reach the information file"
pass "information and errors lines are routed by level, with time, service and level"

"$IKE" cmd=log service=isakmpd level=none >/dev/null
[ "$(level)" = none ] || fail "LogLevel is $(level) after level=none"
mark errors "hidden-error"
mark information "hidden-info"
"$IKE" cmd=log service=isakmpd level=information >/dev/null
mark information "sync-line"
wait_for 5 in_log sync-line || fail "sync line missing"
! in_log hidden- && ! in_log hidden- isakmpd.errors || fail "a line logged at level none reached a file"
pass "at level none nothing reaches the files"

# Another service's lines stay out of the isakmpd files.
bctl call org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Service1 Mark ss errors "tmd-line"
mark information "sync-2"
wait_for 5 in_log sync-2 || fail "sync line 2 missing"
! in_log tmd-line && ! in_log tmd-line isakmpd.errors || fail "a tmd line reached the isakmpd files"
pass "only isakmpd's lines go to the isakmpd files"

# Plain cmd=log turns isakmpd logging on at the isakmpd.conf level.
"$IKE" cmd=log service=isakmpd level=errors >/dev/null
"$IKE" cmd=log >/dev/null || fail "plain ike cmd=log failed"
[ "$(level)" = information ] || fail "ike cmd=log set $(level), isakmpd.conf says information"
"$IKE" --json cmd=log service=tmd level=debug | grep -q '"level":"debug"' || fail "ike --json cmd=log"
[ "$(prop org.bulkhead.Tmd /org/bulkhead/Tmd org.bulkhead.Service1 LogLevel)" = debug ] || fail "tmd level not set"
pass "ike cmd=log uses the isakmpd.conf level; service= sets any service"

# Only administrators change levels; anyone may read them.
rc=0
su nobody -s /bin/sh -c "BULKHEAD_BUS_ADDRESS='$BUS' '$IKE' cmd=log service=isakmpd level=debug" 2>/dev/null || rc=$?
[ "$rc" -eq 4 ] || fail "an unprivileged ike cmd=log exited $rc, expected 4 (permission denied)"
[ "$(level)" = information ] || fail "an unprivileged user changed the level"
su nobody -s /bin/sh -c "BULKHEAD_BUS_ADDRESS='$BUS' '$IKE' cmd=log service=isakmpd" | grep -q information ||
        fail "an unprivileged user cannot read the level"
pass "unprivileged users read levels but cannot change them"

# Bad words are refused with a usage error and change nothing.
rc=0
"$IKE" cmd=log service=isakmpd level=loud 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "level=loud exited $rc, expected 2"
rc=0
"$IKE" cmd=log service=nosuch level=debug 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || fail "service=nosuch exited $rc, expected 2"
pass "bad levels and services are usage errors"
