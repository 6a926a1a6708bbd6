# Two hosts for data path tests: network namespaces joined by a veth pair,
# each with a whole Bulkhead suite of its own. Sourced after lib.sh.
#
#   netns_setup          makes hosts a and b (192.0.2.1, 192.0.2.2; 2001:db8::1, ::2)
#                        with inner addresses 10.1.0.1 / 10.2.0.1 and fd01::1 / fd02::1
#   host_suite_start H   starts a suite in host H with config in $WORK/H/etc
#   in_host H CMD...     runs CMD in host H
#   ike_on H ARGS...     runs ike against host H's suite

NS_A=bh-a-$$
NS_B=bh-b-$$

netns_setup() {
        ip netns add "$NS_A"
        ip netns add "$NS_B"
        NETNS_MADE=1
        ip link add "va$$" type veth peer name "vb$$"
        ip link set "va$$" netns "$NS_A"
        ip link set "vb$$" netns "$NS_B"
        local h ns dev n
        for h in a b; do
                ns=$([ $h = a ] && echo "$NS_A" || echo "$NS_B")
                dev=$([ $h = a ] && echo "va$$" || echo "vb$$")
                n=$([ $h = a ] && echo 1 || echo 2)
                ip -n "$ns" link set lo up
                ip -n "$ns" link set "$dev" up
                ip -n "$ns" addr add "192.0.2.$n/24" dev "$dev"
                ip -n "$ns" addr add "2001:db8::$n/64" dev "$dev" nodad
                ip -n "$ns" addr add "10.$n.0.1/32" dev lo
                ip -n "$ns" addr add "fd0$n::1/128" dev lo
        done
}

netns_cleanup() {
        local h
        for h in a b; do
                local pidvar=SUP_$h
                local pid=${!pidvar:-}
                if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                        kill -TERM "$pid"
                        local end=$((SECONDS + 10))
                        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
                        kill -KILL "$pid" 2>/dev/null || true
                fi
        done
        if [ -n "${NETNS_MADE:-}" ]; then
                ip netns pids "$NS_A" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
                ip netns pids "$NS_B" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
                ip netns del "$NS_A" 2>/dev/null || true
                ip netns del "$NS_B" 2>/dev/null || true
        fi
}

ns_of() {
        [ "$1" = a ] && echo "$NS_A" || echo "$NS_B"
}

in_host() {
        local h=$1
        shift
        ip netns exec "$(ns_of "$h")" "$@"
}

host_suite_start() {
        local h=$1
        local dir=$WORK/$h
        mkdir -p "$dir/etc/tunnels.d"
        chmod 755 "$dir" "$dir/etc" "$dir/etc/tunnels.d"
        # Every service at its most verbose: the tests search what they say
        # for the keys they used.
        # ip netns exec execs bulkheadd: $! is the supervisor itself, so that
        # netns_cleanup's SIGTERM stops the suite cleanly. BULKHEAD_SUITE_ARGS
        # adds options (bench/datapath.sh: --dp-workers 1 to compare).
        # shellcheck disable=SC2086
        ip netns exec "$(ns_of "$h")" "$BULKHEADD" --embedded --run-dir "$dir/run" --config-dir "$dir/etc" \
                --log-level debug ${BULKHEAD_SUITE_ARGS:-} >"$dir/out" 2>&1 &
        eval "SUP_$h=$!"
        wait_for 15 test -f "$dir/run/ready" || { cat "$dir/out" >&2; fail "host $h: suite not ready"; }
}

ike_on() {
        local h=$1
        shift
        "$IKE" --run-dir "$WORK/$h/run" "$@"
}

bctl_on() {
        local h=$1
        shift
        busctl --address="$(cat "$WORK/$h/run/bus")" "$@"
}

# counter H NAME: one of filterd's counters in host H.
counter() {
        bctl_on "$1" --json=short call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 GetCounters |
                python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0].get(sys.argv[1], "missing"))' "$2"
}

# write_secrets H LINES...: the secrets file, as cryptod demands it.
write_secrets() {
        local h=$1
        shift
        local f=$WORK/$h/etc/secrets.conf
        printf '%s\n' "$@" >"$f"
        chmod 600 "$f"
        ! getent passwd bulkhead-crypto >/dev/null || chown bulkhead-crypto: "$f"
}

# A random key of N bytes as 0x hex.
random_key() {
        echo "0x$(head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n')"
}

# no_key_in_logs KEY...: none of the keys (0x hex), nor any 8-byte piece of
# one, appears in anything the suites wrote: their output (logd writes there
# without syslog) and every file under the hosts' directories but secrets.conf
# (tests/keysearch.py).
no_key_in_logs() {
        printf '%s\n' "$@" | python3 "$TESTS_DIR/keysearch.py" "$WORK" || fail "a key is in what the suites wrote"
}

# derived_keys H: the key streams host H's cryptod derived (SK_d to SK_pr
# of each IKE SA, each CHILD SA's KEYMAT), as hex, one per line: from the
# Test1.Keys hook of test builds; nothing without it.
derived_keys() {
        bctl_on "$1" --json=short call org.bulkhead.Crypto /org/bulkhead/Crypto org.bulkhead.Test1 Keys 2>/dev/null |
                python3 -c 'import json, sys; print("\n".join(json.load(sys.stdin)["data"][0]))' 2>/dev/null || true
}

# no_derived_key_in_logs [TRACE]: every key the suites' cryptod derived,
# and every 8-octet piece of one, is absent from everything the Bulkhead
# hosts wrote (their output, logs, run directories); with TRACE, filterd's
# trace buffer of each host is dumped first and searched too. Fails in a
# build without the hook (-Dtest_hooks=true), which could prove nothing.
no_derived_key_in_logs() {
        local h keys="" n hosts=()
        for h in a b; do
                [ -f "$WORK/$h/run/bus" ] || continue      # a Bulkhead host (not charon's)
                hosts+=("$h")
                bctl_on $h call org.bulkhead.Crypto /org/bulkhead/Crypto org.bulkhead.Test1 Keys >/dev/null ||
                        fail "host $h: cryptod has no Test1.Keys (a build without -Dtest_hooks=true?)"
                keys+=$(derived_keys $h)$'\n'
                [ -z "${1:-}" ] || "$BUILD/cli/ipsectrcbuf" --run-dir "$WORK/$h/run" -d >"$WORK/$h/trace.txt" 2>&1 || true
        done
        n=$(grep -c . <<<"$keys" || true)
        printf '%s\n' "$keys" | python3 "$TESTS_DIR/keysearch.py" "${hosts[@]/#/$WORK/}" ||
                fail "a derived key is in what the suites wrote"
        pass "none of the $n key streams cryptod derived is in any log${1:+ or trace}"
}

# manual_define [ENCAP [OUTER [INNER [SET [LINES...]]]]]: the definitions and
# keys of a manual tunnel "lab" (number 7) between a and b: encapsulation
# udp|esp (default udp), outer and inner family 4|6 (default 4), transform
# set (default aes256gcm16; ah-sha256, ah-sha384, ah-sha512 and the legacy
# ah-sha1, ah-md5 make it AH).
# Extra definition lines (such as "replay = yes") go into both sides. Sets
# A_OUT B_OUT A_IN B_IN (the addresses), PROTO (esp or ah), K1 K2 (the keys).
# With MANUAL_MODE=transport, the tunnel protects the two hosts' own traffic
# (INNER does not count: A_IN, B_IN are A_OUT, B_OUT).
manual_define() {
        local encap=${1:-udp} outer=${2:-4} inner=${3:-4} set=${4:-aes256gcm16} keylen h l r lt rt out in extra
        local mode=${MANUAL_MODE:-tunnel}
        shift $(($# < 4 ? $# : 4))
        extra=$(printf '%s\n' "$@")
        PROTO=esp
        case $set in
        ah-sha256) PROTO=ah keylen=32 ;;
        ah-sha384) PROTO=ah keylen=48 ;;
        ah-sha512) PROTO=ah keylen=64 ;;
        ah-sha1) PROTO=ah keylen=20 ;;
        ah-md5) PROTO=ah keylen=16 ;;
        aes256gcm16 | chacha20poly1305) keylen=36 ;;
        aes128gcm16) keylen=20 ;;
        aes256-sha256) keylen=64 ;;
        aes128-sha256) keylen=48 ;;
        3des-sha1) keylen=44 ;;         # 24 (RFC 2451) + 20 (RFC 2404)
        3des-md5) keylen=40 ;;          # 24 + 16 (RFC 2403)
        *) fail "no key length known for $set" ;;
        esac
        if [ "$outer" = 4 ]; then A_OUT=192.0.2.1 B_OUT=192.0.2.2; else A_OUT=2001:db8::1 B_OUT=2001:db8::2; fi
        if [ "$inner" = 4 ]; then A_IN=10.1.0.1 B_IN=10.2.0.1; else A_IN=fd01::1 B_IN=fd02::1; fi
        [ "$mode" = tunnel ] || { A_IN=$A_OUT B_IN=$B_OUT; }
        for h in a b; do
                if [ $h = a ]; then l=$A_OUT r=$B_OUT lt=$A_IN rt=$B_IN out=0x1001 in=0x2001
                else l=$B_OUT r=$A_OUT lt=$B_IN rt=$A_IN out=0x2001 in=0x1001; fi
                mkdir -p "$WORK/$h/etc/tunnels.d"
                cat >"$WORK/$h/etc/tunnels.d/lab.conf" <<CONF
# A manual tunnel: the keys are in secrets.conf.
[tunnel lab]
number = 7
type = manual
local = $l
remote = $r
local_ts = $lt
remote_ts = $rt
mode = $mode
encap = $encap
$PROTO = ${set#ah-}
${PROTO}_spi_out = $out
${PROTO}_spi_in = $in
$extra
CONF
        done
        K1=$(random_key $keylen)
        K2=$(random_key $keylen)
        write_secrets a "$PROTO lab out $K1" "$PROTO lab in $K2"
        write_secrets b "$PROTO lab out $K2" "$PROTO lab in $K1"
}

# manual_pair [as manual_define]: the tunnel defined, both suites started,
# activated on both.
manual_pair() {
        manual_define "$@"
        host_suite_start a
        host_suite_start b
        ike_on a cmd=activate namelist=lab >/dev/null || fail "activate on a: $(ike_on a cmd=list)"
        ike_on b cmd=activate namelist=lab >/dev/null || fail "activate on b: $(ike_on b cmd=list)"
}

# tcp_transfer FROM TO SRC DST MB [SECONDS]: MB megabytes of random data
# over one TCP connection from host FROM (address SRC) to host TO (address
# DST), compared by SHA-256 at the far end; with SECONDS, spread evenly over
# that long (a connection that lives through events). Prints the
# milliseconds it took; fails otherwise.
tcp_transfer() {
        local from=$1 to=$2 src=$3 dst=$4 mb=$5 spread=${6:-0} server ms want got n
        head -c $((mb * 1024 * 1024)) /dev/urandom >"$WORK/data"
        want=$(sha256sum <"$WORK/data" | cut -d' ' -f1)
        rm -f "$WORK/received" "$WORK/received.ready"
        in_host "$to" python3 "$TESTS_DIR/xfer.py" recv "$dst" 5001 "$WORK/received" &
        server=$!
        wait_for 15 test -f "$WORK/received.ready" || fail "the TCP receiver in $to did not start"
        ms=$(in_host "$from" python3 "$TESTS_DIR/xfer.py" send "$dst" 5001 "$src" "$WORK/data" "$spread") ||
                { kill "$server" 2>/dev/null || true; fail "the TCP transfer failed"; }
        wait "$server" || fail "the receiving side of the TCP transfer failed"
        read -r got n <"$WORK/received"
        [ "$got" = "$want" ] && [ "$n" -eq $((mb * 1024 * 1024)) ] || fail "the transfer arrived damaged: $n bytes, $got"
        rm -f "$WORK/data" "$WORK/received" "$WORK/received.ready"
        echo "$ms"
}

# ike_define H NAME IKE_PROPOSALS ESP_PROPOSALS [LINES...]: an IKE tunnel
# NAME from host H to the other (outer IPv4, inner 10.x.0.1/32; with
# IKE_OUTER=6, outer 2001:db8::x and inner fd0x::1/128), identities
# fqdn:a.bulkhead.test and fqdn:b.bulkhead.test. Extra lines go in as they are.
# With IKE_MODE=transport, the selectors are the outer addresses themselves
# and the CHILD SA is in transport mode.
ike_define() {
        local h=$1 name=$2 ike=$3 esp=$4 o l r lt rt n m
        shift 4
        o=$([ "$h" = a ] && echo b || echo a)
        n=$([ "$h" = a ] && echo 1 || echo 2)
        m=$([ "$h" = a ] && echo 2 || echo 1)
        if [ "${IKE_OUTER:-4}" = 6 ]; then
                l=2001:db8::$n r=2001:db8::$m lt=fd0$n::1/128 rt=fd0$m::1/128
        else
                l=192.0.2.$n r=192.0.2.$m lt=10.$n.0.1/32 rt=10.$m.0.1/32
        fi
        [ "${IKE_MODE:-tunnel}" = tunnel ] || { lt=$l rt=$r; }
        mkdir -p "$WORK/$h/etc/tunnels.d"
        chmod 755 "$WORK/$h" "$WORK/$h/etc" "$WORK/$h/etc/tunnels.d"
        {
                printf '[tunnel %s]\ntype = ike\nlocal = %s\nremote = %s\n' "$name" "$l" "$r"
                printf 'local_ts = %s\nremote_ts = %s\n' "$lt" "$rt"
                printf 'local_id = fqdn:%s.bulkhead.test\nremote_id = fqdn:%s.bulkhead.test\n' "$h" "$o"
                printf 'ike_proposals = %s\nesp_proposals = %s\n' "$ike" "$esp"
                [ "${IKE_MODE:-tunnel}" = tunnel ] || printf 'mode = %s\n' "$IKE_MODE"
                printf '%s\n' "$@"
        } >"$WORK/$h/etc/tunnels.d/$name.conf"
}

# tunnel_field H NAME FIELD: one field of ike cmd=list verbose --json.
tunnel_field() {
        ike_on "$1" --json cmd=list verbose namelist="$2" |
                python3 -c 'import json,sys; t=json.load(sys.stdin)["tunnels"][0]; print(t.get(sys.argv[1], t.get("details", {}).get(sys.argv[1], "")))' "$3"
}
