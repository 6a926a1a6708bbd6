#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The foundation benchmark: starts a suite in embedded mode in a temporary run
# directory, measures D-Bus round trips to it with ipc-bench (through the bus
# daemon and peer to peer), stops it, then measures how long bulkheadd takes
# to start and to stop. Prints the tables, then one line of JSON.
#
#   bench/run-ipc.sh [--build-dir DIR] [--no-build] [--starts N] [-- IPC_BENCH_OPTIONS...]
#
# Every wait is bounded; whatever this script started is stopped on exit.
set -euo pipefail

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$src_dir/build}
build=1
starts=7
bench_args=()
while (($#)); do
        case $1 in
        --build-dir) build_dir=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --starts) starts=$2; shift 2 ;;
        --) shift; bench_args=("$@"); break ;;
        -h | --help) sed -n '3,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run-ipc.sh: unknown option: $1" >&2; exit 2 ;;
        esac
done

# Bounds (seconds).
READY_TIMEOUT=15
STOP_TIMEOUT=15
BENCH_TIMEOUT=600

if ((build)); then
        if [[ ! -f $build_dir/build.ninja ]]; then
                meson setup "$build_dir" "$src_dir" >/dev/null
        fi
        ninja -C "$build_dir" >/dev/null
fi
bulkheadd=$build_dir/bulkheadd
ipc_bench=$build_dir/bench/ipc-bench
for p in "$bulkheadd" "$ipc_bench"; do
        [[ -x $p ]] || { echo "run-ipc.sh: $p is missing (build first)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-bench-XXXXXX")
# As root the services run as their own users: they must reach the bus socket.
chmod 755 "$tmp"
sup_pid=
descendants=()

# Every process below pid, depth first (from /proc/PID/task/*/children).
list_descendants() {
        local pid=$1 task child
        for task in /proc/"$pid"/task/*; do
                [[ -r $task/children ]] || continue
                for child in $(<"$task/children"); do
                        echo "$child"
                        list_descendants "$child"
                done
        done
}

# Waits up to $2 seconds for pid $1 to be gone.
wait_gone() {
        local pid=$1 i
        for ((i = 0; i < $2 * 20; i++)); do
                kill -0 "$pid" 2>/dev/null || return 0
                sleep 0.05
        done
        ! kill -0 "$pid" 2>/dev/null
}

stop_suite() {
        [[ -n $sup_pid ]] || return 0
        local pid=$sup_pid status=0
        sup_pid=
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" "$STOP_TIMEOUT"; then
                echo "run-ipc.sh: bulkheadd did not stop within ${STOP_TIMEOUT}s; killing it" >&2
                kill -KILL "$pid" 2>/dev/null || true
                wait_gone "$pid" 5 || true
                status=1
        fi
        wait "$pid" 2>/dev/null || status=$?
        # Its services and bus daemon die with it (PDEATHSIG); make sure.
        local left=() d
        for d in "${descendants[@]}"; do
                kill -0 "$d" 2>/dev/null && left+=("$d")
        done
        if ((${#left[@]})); then
                echo "run-ipc.sh: processes left behind by bulkheadd: ${left[*]}; killing them" >&2
                for d in "${left[@]}"; do kill -KILL "$d" 2>/dev/null || true; done
                status=1
        fi
        return "$status"
}

# Runs ipc-bench in the background (so that a signal reaches our trap at
# once) with its output to $1, then prints that output.
bench_pid=
run_bench() {
        local out=$1 status=0
        shift
        "$ipc_bench" --limit "$BENCH_TIMEOUT" "$@" >"$out" &
        bench_pid=$!
        wait "$bench_pid" || status=$?
        bench_pid=
        cat "$out"
        return "$status"
}

cleanup() {
        local rc=$?
        if [[ -n $bench_pid ]]; then
                # On SIGTERM it stops whatever suite it started, within bounds.
                kill -TERM "$bench_pid" 2>/dev/null || true
                wait_gone "$bench_pid" 40 || kill -KILL "$bench_pid" 2>/dev/null || true
                rc=1
        fi
        stop_suite || rc=1
        rm -rf "$tmp"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. round trips, against a suite started for the purpose
run=$tmp/run
"$bulkheadd" --embedded --run-dir "$run" >"$tmp/bulkheadd.log" 2>&1 &
sup_pid=$!
for ((i = 0; i < READY_TIMEOUT * 20; i++)); do
        [[ -e $run/ready ]] && break
        kill -0 "$sup_pid" 2>/dev/null || break
        sleep 0.05
done
if [[ ! -e $run/ready ]]; then
        echo "run-ipc.sh: the suite did not get ready within ${READY_TIMEOUT}s:" >&2
        cat "$tmp/bulkheadd.log" >&2
        exit 1
fi
mapfile -t descendants < <(list_descendants "$sup_pid")
bus=$(<"$run/bus")

commit=$(git -C "$src_dir" describe --always --dirty 2>/dev/null || echo unknown)
echo "== Bulkhead IPC benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit, $(nproc) cores, $(uname -r)," \
        "load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
run_bench "$tmp/ipc.out" --bus "$bus" ${bench_args[@]+"${bench_args[@]}"}
ipc_json=$(tail -n 1 "$tmp/ipc.out")
if ! stop_suite; then
        cat "$tmp/bulkheadd.log" >&2
        exit 1
fi

# --- 2. start to ready, SIGTERM to exit (no other suite running)
echo
mkdir "$tmp/startup"
run_bench "$tmp/startup.out" --startup "$bulkheadd" --run-base "$tmp/startup" --starts "$starts"
startup_json=$(tail -n 1 "$tmp/startup.out")

echo
echo "{\"ipc\":$ipc_json,\"startup\":$startup_json}"
