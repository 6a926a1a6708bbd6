#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every test
# suite, then builds again with AddressSanitizer and UndefinedBehaviorSanitizer
# and runs everything once more, then builds the libFuzzer targets with clang
# and runs each for a while (tests/fuzz/README.md). Needs root (private
# buses, other users, network namespaces). Extra arguments go to the first
# two `meson test` runs (e.g. --suite bus).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
        echo "test: run as root (the tests start suites, switch users and create network namespaces)" >&2
        exit 1
fi
scripts/deps.sh
scripts/users.sh

run() {
        local dir=$1
        shift
        if [ ! -f "$dir/build.ninja" ]; then
                meson setup "$dir" "$@" >/dev/null
        fi
        ninja -C "$dir"
        meson test -C "$dir" --print-errorlogs --num-processes 2 "${TEST_ARGS[@]}"
}

TEST_ARGS=("$@")
echo "== build and test (debugoptimized)"
run build-test -Dtest_hooks=true
echo "== build and test with ASan + UBSan"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run build-asan -Dtest_hooks=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
echo "== fuzz the parsers and decoders (clang, libFuzzer, ASan + UBSan)"
# Everything linked into a fuzzer carries the sanitizers and the fuzzer's
# coverage; werror is off because clang warns where gcc does not (the
# other builds keep it). Only the fuzz targets are built.
if [ ! -f build-fuzz/build.ninja ]; then
        CC=clang meson setup build-fuzz -Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false \
                -Dc_args=-fsanitize=fuzzer-no-link -Dwerror=false >/dev/null
fi
ninja -C build-fuzz fuzz
meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2
echo "== all tests passed"
