# Helpers of the interop tests: strongSwan's charon as the IKEv2 peer, in the
# two hosts of netns.sh (a = 192.0.2.1, inner 10.1.0.1; b = 192.0.2.2, inner
# 10.2.0.1). Sourced after lib.sh and netns.sh.
#
#   interop_begin           exit 77 unless root with charon and swanctl; makes WORK,
#                           hosts a and b, and the cleanup that undoes all of it
#   charon_start H          a charon in host H: its own /run, strongswan.conf, vici socket
#   charon_load H NAME IKE ESP PSK
#                           one connection NAME (and its CHILD_SA NAME) to the other host
#   swan H ARGS...          swanctl against host H's charon, bounded
#   charon_child_up H NAME IKE_ALGS ESP_ALGS
#                           H's charon has NAME ESTABLISHED and INSTALLED with these
#                           algorithms, in strongSwan's words
#   charon_no_sa H          H's charon has no SA at all
#   bulkhead_define H NAME IKE ESP PSK
#                           an IKE tunnel NAME in host H's suite, and its PSK
#   ike_t H ARGS...         ike against host H's suite, bounded
#   list_field H NAME F     a field of ike --json cmd=list for NAME
#   ping_through / no_ping_through: traffic from a to b (tcp_transfer: netns.sh)
#
# Every host's identity is fqdn:H.bulkhead.test; every wait is bounded.

INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CHARON=${CHARON:-/usr/lib/ipsec/charon}
CHARON_PLUGINS=/usr/lib/ipsec/plugins

# Bounds, in seconds.
T_START=15  # a daemon, until it answers
T_CMD=60    # one swanctl or ike command, exchanges and retransmissions included
T_SETTLE=15 # an SA to appear or go once the other side is done

skip() {
        echo "SKIP: $*"
        exit 77
}

# host_n H: 1 for a, 2 for b; peer_of H: the other host.
host_n() { if [ "$1" = a ]; then echo 1; else echo 2; fi; }
peer_of() { if [ "$1" = a ]; then echo b; else echo a; fi; }
outer_of() { echo "192.0.2.$(host_n "$1")"; }
inner_of() { echo "10.$(host_n "$1").0.1"; }
id_of() { echo "fqdn:$1.bulkhead.test"; }

# A passphrase of 32 letters and digits: nothing to quote in either file.
random_psk() {
        head -c 64 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 32
}

interop_begin() {
        [ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, TUN devices)"
        [ -x "$CHARON" ] || skip "strongSwan's charon is not installed ($CHARON); scripts/deps.sh installs it"
        command -v swanctl >/dev/null || skip "swanctl is not installed (strongswan-swanctl); scripts/deps.sh installs it"
        local p
        for p in kernel-libipsec openssl kdf vici; do
                [ -f "$CHARON_PLUGINS/libstrongswan-$p.so" ] ||
                        skip "charon's $p plugin is missing; scripts/deps.sh installs the plugin packages"
        done
        WORK=$(mktemp -d /tmp/bulkhead-interop.XXXXXX)
        chmod 755 "$WORK" # the suite's services run as their own users
        trap interop_cleanup EXIT
        trap 'exit 143' TERM # meson's timeout: the cleanup still runs
        trap 'exit 130' INT
        netns_setup
}

# What each side said, when a test fails.
interop_dump() {
        local f
        for f in "$WORK"/a/out "$WORK"/*/charon/charon.log "$WORK"/*/charon/out; do
                [ -s "$f" ] || continue
                echo "--- ${f#"$WORK"/} (last 40 lines):" >&2
                tail -n 40 "$f" >&2
        done
}

charon_stop() {
        local var=CHARON_$1
        local pid=${!var:-}
        [ -n "$pid" ] || return 0
        if kill -0 "$pid" 2>/dev/null; then
                kill -TERM "$pid" 2>/dev/null || true
                local end=$((SECONDS + T_START))
                while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
                kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        eval "CHARON_$1="
}

interop_cleanup() {
        local rc=$?
        trap - EXIT TERM INT
        trap '' PIPE # a reader that went away must not cut the cleanup short
        [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || interop_dump
        charon_stop a || true
        charon_stop b || true
        netns_cleanup || true # the suites (SIGTERM), then whatever is left in the namespaces
        # Under ASan/UBSan a service's report lands in the suite's output.
        if [ -f "$WORK/a/out" ] && grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK/a/out"; then
                echo "FAIL: a sanitizer reported an error in the suite:" >&2
                grep -E -A25 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK/a/out" | head -60 >&2
                rc=1
        fi
        if ip netns list | awk '{ print $1 }' | grep -qxE "bh-[ab]-$$"; then
                echo "FAIL: network namespaces left behind" >&2
                rc=1
        fi
        rm -rf "$WORK"
        exit "$rc"
}

# ------------------------------------------------------------------ charon

charon_start() {
        local h=$1 dir=$WORK/$1/charon
        mkdir -p "$dir"
        sed -e "s|@DIR@|$dir|g" -e "s|@FRAGMENT_SIZE@|${FRAGMENT_SIZE:-1280}|g" \
                "$INTEROP_DIR/strongswan.conf.in" >"$dir/strongswan.conf"
        # A mount namespace of its own with a private /run, for its pid file;
        # ip netns exec and unshare exec, so $! is charon itself.
        STRONGSWAN_CONF=$dir/strongswan.conf ip netns exec "$(ns_of "$h")" \
                unshare -m sh -c 'mount -t tmpfs none /run && exec "$0"' "$CHARON" >"$dir/out" 2>&1 &
        eval "CHARON_$h=$!"
        wait_for "$T_START" test -S "$dir/charon.vici" || fail "host $h: charon has no vici socket after $T_START s"
}

swan() {
        local h=$1
        shift
        timeout -k 5 "$T_CMD" swanctl "$@" --uri "unix://$WORK/$h/charon/charon.vici"
}

# charon_load H NAME IKE ESP PSK: loads (or replaces) connection NAME.
charon_load() {
        local h=$1 name=$2 ike=$3 esp=$4 psk=$5 p dir=$WORK/$1/charon
        p=$(peer_of "$h")
        sed -e "s|@NAME@|$name|g" -e "s|@LOCAL@|$(outer_of "$h")|g" -e "s|@REMOTE@|$(outer_of "$p")|g" \
                -e "s|@LOCAL_ID@|$(id_of "$h")|g" -e "s|@REMOTE_ID@|$(id_of "$p")|g" \
                -e "s|@LOCAL_TS@|$(inner_of "$h")/32|g" -e "s|@REMOTE_TS@|$(inner_of "$p")/32|g" \
                -e "s|@IKE@|$ike|g" -e "s|@ESP@|$esp|g" -e "s|@PSK@|$psk|g" \
                -e "s|@CHILD_REKEY@|${CHARON_CHILD_REKEY:-0}|g" -e "s|@CHILD_LIFE@|${CHARON_CHILD_LIFE:-0}|g" \
                -e "s|@IKE_REKEY@|${CHARON_IKE_REKEY:-0}|g" \
                "$INTEROP_DIR/swanctl.conf.in" >"$dir/swanctl.conf"
        chmod 600 "$dir/swanctl.conf"
        swan "$h" --load-all --noprompt --file "$dir/swanctl.conf" >"$dir/load.log" 2>&1 ||
                { cat "$dir/load.log" >&2; fail "host $h: swanctl --load-all failed"; }
}

# charon_initiate H NAME: 0 once the CHILD_SA is up, else swanctl's error.
charon_initiate() {
        local dir=$WORK/$1/charon
        swan "$1" --initiate --child "$2" --timeout "$T_SETTLE" >"$dir/initiate.log" 2>&1
}

charon_sas() {
        swan "$1" --list-sas 2>&1
}

# charon_child_up H NAME IKE_ALGS ESP_ALGS: the IKE SA is ESTABLISHED with
# exactly IKE_ALGS (AES_GCM_16-256/PRF_HMAC_SHA2_256/CURVE_25519), its
# CHILD_SA INSTALLED in UDP with exactly ESP_ALGS (AES_GCM_16-256).
charon_child_up() {
        local sas
        sas=$(charon_sas "$1") || return 1
        grep -qE "^$2: #[0-9]+, ESTABLISHED, IKEv2" <<<"$sas" &&
                grep -qxE " +$3" <<<"$sas" &&
                grep -qE "^ +$2: #[0-9]+, reqid [0-9]+, INSTALLED, TUNNEL-in-UDP, ESP:$4\$" <<<"$sas"
}

# charon_child_gone H NAME: the IKE SA is still ESTABLISHED, without a CHILD_SA.
charon_child_gone() {
        local sas
        sas=$(charon_sas "$1") || return 1
        grep -qE "^$2: #[0-9]+, ESTABLISHED, IKEv2" <<<"$sas" && ! grep -qE "^ +$2: #[0-9]+, reqid" <<<"$sas"
}

charon_no_sa() {
        local sas
        sas=$(charon_sas "$1") || return 1
        ! grep -qE ': #[0-9]+, ' <<<"$sas"
}

# --------------------------------------------------------------- Bulkhead

# bulkhead_define H NAME IKE ESP PSK: the IKE tunnel NAME from H to the
# other host, its PSK in secrets.conf, as bulkhead-tunnels(5) and
# bulkhead-secrets(5) say.
bulkhead_define() {
        local h=$1 name=$2 p
        p=$(peer_of "$h")
        mkdir -p "$WORK/$h/etc/tunnels.d"
        cat >"$WORK/$h/etc/tunnels.d/$name.conf" <<CONF
# An IKEv2 tunnel to strongSwan's charon; the PSK is in secrets.conf.
[tunnel $name]
type = ike
local = $(outer_of "$h")
remote = $(outer_of "$p")
local_ts = $(inner_of "$h")/32
remote_ts = $(inner_of "$p")/32
local_id = $(id_of "$h")
remote_id = $(id_of "$p")
ike_proposals = $3
esp_proposals = $4
encap = auto
${BULKHEAD_EXTRA:-}
CONF
        write_secrets "$h" "psk $name \"$5\""
}

ike_t() {
        local h=$1
        shift
        timeout -k 5 "$T_CMD" "$IKE" --run-dir "$WORK/$h/run" "$@"
}

# list_field H NAME FIELD: phase1, phase2, failure... of ike --json
# cmd=list; empty when the field is missing.
list_field() {
        local json
        json=$(ike_t "$1" --json cmd=list namelist="$2") || return 1
        python3 -c '
import json, sys
for t in json.load(sys.stdin)["tunnels"]:
    if t["name"] == sys.argv[1]:
        print(t.get(sys.argv[2], ""))
' "$2" "$3" <<<"$json"
}

bulkhead_active() {
        [ "$(list_field "$1" "$2" phase1)" = active ] && [ "$(list_field "$1" "$2" phase2)" = active ]
}

isakmpd_pid() {
        bctl_on "$1" get-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd org.bulkhead.Service1 Pid | cut -d' ' -f2
}

# ----------------------------------------------------------------- traffic

# ping_through: three pings from a's inner address to b's, all answered
# (the first may wait for the SA to settle).
ping_through() {
        wait_for "$T_SETTLE" in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null ||
                fail "no ping from 10.1.0.1 to 10.2.0.1 through the tunnel"
        in_host a ping -c 3 -i 0.2 -w 5 -I 10.1.0.1 10.2.0.1 >"$WORK/ping" 2>&1 ||
                { cat "$WORK/ping" >&2; fail "pings lost through the tunnel"; }
}

no_ping_through() {
        ! in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null 2>&1
}

