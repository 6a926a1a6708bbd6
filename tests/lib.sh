# Shared helpers of the multi-process tests: start a real suite in embedded
# mode in a directory of its own, talk to it with busctl and ike, and always
# stop it and remove what it left. Sourced by tests/*/*.sh.
set -euo pipefail

BUILD=${BULKHEAD_BUILD:?BULKHEAD_BUILD must point at the build directory}
BULKHEADD=$BUILD/bulkheadd
IKE=$BUILD/cli/ike
TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

fail() {
        echo "FAIL: $*" >&2
        if [ -n "${WORK:-}" ] && [ -f "$WORK/out" ]; then
                echo "--- bulkheadd output:" >&2
                tail -n 40 "$WORK/out" >&2
        fi
        exit 1
}

pass() {
        echo "ok: $*"
}

# Waits up to $1 seconds for a command to succeed.
wait_for() {
        local timeout=$1
        shift
        local end=$((SECONDS + timeout))
        while ! "$@" 2>/dev/null; do
                [ "$SECONDS" -lt "$end" ] || return 1
                sleep 0.05
        done
}

# Starts a suite; extra arguments go to bulkheadd. Sets WORK, RUN, CONF,
# BUS, SUP_PID.
suite_start() {
        WORK=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
        chmod 755 "$WORK"      # unprivileged callers must reach the bus socket
        RUN=$WORK/run
        CONF=${CONF:-$WORK/etc}
        mkdir -p "$CONF"
        trap suite_cleanup EXIT
        # A network namespace of its own: the TUN device and the ESP sockets
        # the supervisor opens stay out of the host's (and out of the way of
        # suites of other tests running at the same time).
        unshare --net -- "$BULKHEADD" --embedded --run-dir "$RUN" --config-dir "$CONF" "$@" >"$WORK/out" 2>&1 &
        SUP_PID=$!
        wait_for 15 test -f "$RUN/bus" || fail "no bus address after 15 s"
        BUS=$(cat "$RUN/bus")
        export BULKHEAD_BUS_ADDRESS=$BUS
}

suite_wait_ready() {
        wait_for 15 test -f "$RUN/ready" || fail "suite not ready after 15 s"
}

# Processes of this suite: every service gets --run-dir $RUN on its
# command line, the bus daemon its configuration from $RUN.
suite_pids() {
        pgrep -f -- "$RUN" || true
}

suite_stop() {
        if [ -n "${SUP_PID:-}" ] && kill -0 "$SUP_PID" 2>/dev/null; then
                kill -TERM "$SUP_PID"
                local end=$((SECONDS + 15))
                while kill -0 "$SUP_PID" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
                if kill -0 "$SUP_PID" 2>/dev/null; then
                        kill -KILL "$SUP_PID" 2>/dev/null || true
                        return 1
                fi
                wait "$SUP_PID" 2>/dev/null || true
        fi
        return 0
}

# Extra directories a test made, removed with the suite's own.
CLEANUP_DIRS=()

# lab_config: sets CONF to a new configuration directory (removed with the
# suite) with one manual ESP tunnel "lab" (number 7, 192.0.2.1 to
# 192.0.2.2, no route source needed) and its keys in secrets.conf, as
# cryptod demands the file; the keys in K1 (out) and K2 (in), 0x hex.
lab_config() {
        CONF=$(mktemp -d /tmp/bulkhead-test.XXXXXX)
        CLEANUP_DIRS+=("$CONF")
        chmod 755 "$CONF"
        mkdir -p "$CONF/tunnels.d"
        cat >"$CONF/tunnels.d/lab.conf" <<'CONF'
[tunnel lab]
number = 7
type = manual
local = 192.0.2.1
remote = 192.0.2.2
local_ts = 10.1.0.0/24
remote_ts = 10.2.0.1
mode = tunnel
encap = udp
esp = aes256gcm16
esp_spi_out = 0x1001
esp_spi_in = 0x2001
CONF
        K1=0x$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n')
        K2=0x$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n')
        printf 'esp lab out %s\nesp lab in %s\n' "$K1" "$K2" >"$CONF/secrets.conf"
        chmod 600 "$CONF/secrets.conf"
        ! getent passwd bulkhead-crypto >/dev/null || chown bulkhead-crypto: "$CONF/secrets.conf"
}

suite_cleanup() {
        local rc=$?
        suite_stop || true
        if [ -n "${RUN:-}" ]; then
                local left
                left=$(suite_pids)
                [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
        fi
        # Under ASan/UBSan a service's report lands in bulkheadd's output,
        # which the services inherit: any report fails the test.
        if [ -n "${WORK:-}" ] && grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK/out" 2>/dev/null; then
                echo "FAIL: a sanitizer reported an error in the suite:" >&2
                grep -E -A25 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK/out" | head -60 >&2
                rc=1
        fi
        [ -z "${WORK:-}" ] || rm -rf "$WORK"
        [ "${#CLEANUP_DIRS[@]}" -eq 0 ] || rm -rf "${CLEANUP_DIRS[@]}"
        exit $rc
}

# Runs a command in the suite's network namespace (peer-to-peer D-Bus uses
# abstract sockets, which belong to a namespace).
in_suite_netns() {
        nsenter --net="/proc/$SUP_PID/ns/net" -- "$@"
}

bctl() {
        busctl --address="$BUS" "$@"
}

# prop SERVICE-BUS-NAME PATH INTERFACE PROPERTY: the value only.
prop() {
        bctl get-property "$1" "$2" "$3" "$4" | cut -d' ' -f2- | tr -d '"'
}

service_pid() {
        local name=$1 obj=$2
        prop "org.bulkhead.$name" "/org/bulkhead/$obj" org.bulkhead.Service1 Pid
}

# The supervisor's view of one service: state pid restarts last_exit.
service_row() {
        bctl --json=short call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 \
                ListServices | python3 -c '
import json, sys
name = sys.argv[1]
for row in json.load(sys.stdin)["data"][0]:
    if row[0] == name:
        print(row[2], row[3], row[4], row[5], sep="\t")
' "$1"
}

# restarted_since SERVICE COUNT: the supervisor has restarted it more than
# COUNT times (a function, so that wait_for asks again each time).
restarted_since() {
        local n
        n=$(service_row "$1" | cut -f3)
        [ -n "$n" ] && [ "$n" -gt "$2" ]
}

# owner_changed OBJ OLDPID: the service's name is owned by another process.
owner_changed() {
        local p
        p=$(service_pid "$1" "$1" 2>/dev/null) || return 1
        [ -n "$p" ] && [ "$p" != "$2" ]
}

# Short names, bus names and object names of the six services.
SERVICES="logd:Logger statd:Stats cryptod:Crypto filterd:Filter isakmpd:Isakmpd tmd:Tmd"
