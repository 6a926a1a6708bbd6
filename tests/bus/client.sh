#!/usr/bin/env bash
# Runs one of the C test programs of this folder against a freshly started
# suite: client.sh PROGRAM [ARGS...]; the program gets --bus ADDRESS.
source "$(dirname "$0")/../lib.sh"
program=$1
shift
suite_start
suite_wait_ready
in_suite_netns "$program" --bus "$BUS" "$@" || fail "$(basename "$program") failed"
# The suite survived it: every service still answers.
for entry in $SERVICES; do
        obj=${entry#*:}
        bctl call "org.bulkhead.$obj" "/org/bulkhead/$obj" org.bulkhead.Service1 Ping ||
                fail "org.bulkhead.$obj does not answer after $(basename "$program")"
done
pass "$(basename "$program") passed; every service still answers"
