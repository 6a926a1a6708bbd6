#!/usr/bin/env bash
# Key memory that cannot be locked: with RLIMIT_MEMLOCK at 0 for the whole
# suite, cryptod says once, at the error level, that its key memory could not
# be locked in RAM and how to fix that; the keys stay usable (a manual
# tunnel is activated with them), and the memory is still kept out of core
# dumps (cryptod is not dumpable at all).
source "$(dirname "$0")/../lib.sh"
getent passwd bulkhead-crypto >/dev/null || fail "the service users do not exist (scripts/users.sh)"
if ldd "$BUILD/bulkhead-cryptod" | grep -q libasan; then
        echo "SKIP: AddressSanitizer's mlock does nothing and says it succeeded (the plain build runs this test)"
        exit 77
fi

# Every process started from here on inherits the limit.
prlimit --pid $$ --memlock=0:0 || fail "cannot lower RLIMIT_MEMLOCK"
[ "$(ulimit -l)" = 0 ] || fail "RLIMIT_MEMLOCK is $(ulimit -l), not 0"

lab_config
suite_start
suite_wait_ready

cpid=$(service_pid Crypto Crypto)
grep -q '^Max locked memory *0 *0 ' "/proc/$cpid/limits" || fail "cryptod runs with $(grep 'locked memory' "/proc/$cpid/limits")"
# Before logd is there, cryptod writes "cryptod[errors]: ..." itself.
said() {
        grep "key memory could not be locked in RAM (.*): raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK" "$WORK/out" |
                grep -cE "^cryptod\[errors\]: |cryptod errors: " || true
}
wait_for 5 test "$(said)" -ge 1 || fail "cryptod did not say that its key memory is not locked: $(grep cryptod "$WORK/out")"
pass "cryptod says its key memory could not be locked, and what to do about it"

IKE_CLI=$BUILD/cli/ike
"$IKE_CLI" --run-dir "$RUN" cmd=activate namelist=lab >/dev/null || fail "activation failed: $("$IKE_CLI" --run-dir "$RUN" cmd=list)"
sas() { prop org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs; }
[ "$(sas)" = 2 ] || fail "filterd has $(sas) SAs"
"$IKE_CLI" --run-dir "$RUN" cmd=remove namelist=lab >/dev/null || fail "remove failed"
"$IKE_CLI" --run-dir "$RUN" cmd=activate namelist=lab >/dev/null || fail "second activation failed"
[ "$(said)" = 1 ] || fail "cryptod said it $(said) times, once expected"
[ "$(stat -c %U "/proc/$cpid/mem")" = root ] || fail "cryptod is dumpable"
no_key() { ! grep -rqi -- "${1#0x}" "$WORK/out" "$RUN" 2>/dev/null; }
no_key "$K1" && no_key "$K2" || fail "a key is in the output"
pass "the keys still work (a manual tunnel activated twice), cryptod said it once, stays undumpable, no key in any log"
