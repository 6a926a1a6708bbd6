#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The IKE SA setup benchmark: how fast a responder brings up N IKE SAs, each
# with one CHILD SA (PSK, X25519, AES-256-GCM for IKE and ESP), and how much
# memory its processes take per tunnel: a Bulkhead suite against strongSwan's
# charon. bench/ike-load (our own load generator) opens the IKE SAs from
# one network namespace, --window of them in flight at once, each from an
# address of its own; the responder runs alone in another. Prints the
# tables, where the CPU time goes (per process, and a perf profile of one
# more Bulkhead run), the configuration, one line of JSON, and last
# ratio_vs_charon=<Bulkhead's tunnels/s / charon's, medians, at the first N>.
#
#   bench/ike-rate.sh [--quick] [--counts 1000,10000] [--runs N] [--window W]
#                     [--responders bulkhead,charon] [--log-level LEVEL]
#                     [--repeat-limit S] [--perf-count N] [--no-perf] [--perf-data FILE]
#                     [--build-dir DIR] [--no-build] [--no-install]
#
# As root. Installs strongSwan and perf from Debian if they are missing.
# Every wait is bounded; whatever this script started is stopped, and its
# namespaces and interfaces are gone, when it exits.
set -euo pipefail

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$src_dir/build}
build=1
install=1
counts=1000,10000
runs=3
window=64
responders=bulkhead,charon
log_level=events
repeat_limit=120
perf_count=1000
profile=1
perf_data=
while (($#)); do
        case $1 in
        --quick) counts=200 runs=1 perf_count=200; shift ;;
        --counts) counts=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --window) window=$2; shift 2 ;;
        --responders) responders=$2; shift 2 ;;
        --log-level) log_level=$2; shift 2 ;;
        --repeat-limit) repeat_limit=$2; shift 2 ;;
        --perf-count) perf_count=$2; shift 2 ;;
        --no-perf) profile=0; shift ;;
        --perf-data) perf_data=$2; shift 2 ;;
        --build-dir) build_dir=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-install) install=0; shift ;;
        -h | --help) sed -n '3,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "ike-rate.sh: unknown option: $1" >&2; exit 2 ;;
        esac
done
say() { echo "ike-rate.sh: $*" >&2; }
[[ $counts =~ ^[0-9]+(,[0-9]+)*$ ]] || { say "--counts takes a list of numbers"; exit 2; }
for n in ${counts//,/ }; do ((n >= 1 && n <= 10000)) || { say "--counts: 1..10000 each (one address and one tunnel each)"; exit 2; }; done
[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1 && runs <= 20)) || { say "--runs takes 1..20"; exit 2; }
[[ $window =~ ^[0-9]+$ ]] && ((window >= 1 && window <= 4096)) || { say "--window takes 1..4096"; exit 2; }
[[ $perf_count =~ ^[0-9]+$ ]] && ((perf_count >= 1 && perf_count <= 10000)) || { say "--perf-count takes 1..10000"; exit 2; }
[[ $repeat_limit =~ ^[0-9]+$ ]] || { say "--repeat-limit takes seconds"; exit 2; }
case $log_level in none | errors | events) ;; *) say "--log-level: none, errors or events (not the costlier levels)"; exit 2 ;; esac
for r in ${responders//,/ }; do [[ $r == bulkhead || $r == charon ]] || { say "--responders: bulkhead, charon"; exit 2; }; done
[[ $(id -u) = 0 ]] || { say "run it as root (namespaces, TUN devices)"; exit 1; }

# Bounds (seconds).
INSTALL_TIMEOUT=900
READY_TIMEOUT=180     # a suite with 10000 definitions and secrets to load
START_TIMEOUT=15
STOP_TIMEOUT=20
SETTLE_LIMIT=120      # routes of the tunnels that came up, after the last one
run_limit() { echo $((60 + $1 / 10)); } # a run: at least 10 tunnels/s
# PSS comes from smaps_rollup, which walks every mapping of a process under
# its mmap lock: about 70 ms for cryptod at 10000 tunnels (65530 mappings).
# Rss (statm, constant time) is read every 100 ms; PSS every second, every
# N ms above 1000 tunnels, and always at the end, when memory peaks.
pss_ms() { echo $(($1 > 1000 ? $1 : 1000)); }
BETWEEN_RUNS=2        # the kernel tears the last run's namespaces down meanwhile

# --- packages: only what is missing, from Debian (as bench/datapath.sh)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_updated=0
apt_install() { # apt_install PACKAGE...: 0 when all are installed afterwards
        local missing=() p
        for p in "$@"; do installed "$p" || missing+=("$p"); done
        ((${#missing[@]})) || return 0
        if ((!apt_updated)); then
                DEBIAN_FRONTEND=noninteractive timeout "$INSTALL_TIMEOUT" apt-get update -qq >/dev/null 2>&1 || true
                apt_updated=1
        fi
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive timeout "$INSTALL_TIMEOUT" \
                apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || true
        for p in "${missing[@]}"; do installed "$p" || return 1; done
}
if ((install)); then
        # kernel-libipsec is in libcharon-extra-plugins, curve25519 in
        # libstrongswan-extra-plugins, openssl and gcm in the standard plugins.
        if [[ ,$responders, == *,charon,* ]]; then
                apt_install strongswan-charon strongswan-swanctl libstrongswan-standard-plugins \
                        libcharon-extra-plugins libstrongswan-extra-plugins || say "could not install strongSwan"
        fi
        apt_install iproute2 python3 || say "could not install iproute2 or python3"
        if ((profile)) && ! command -v perf >/dev/null; then apt_install linux-perf || say "could not install linux-perf"; fi
fi

if ((build)); then
        [[ -f $build_dir/build.ninja ]] || meson setup "$build_dir" "$src_dir" >/dev/null
        ninja -C "$build_dir" >/dev/null
fi
BULKHEADD=$build_dir/bulkheadd
IKE=$build_dir/cli/ike
IKE_LOAD=$build_dir/bench/ike-load
CHARON=/usr/lib/ipsec/charon
for p in "$BULKHEADD" "$IKE" "$IKE_LOAD"; do
        [[ -x $p ]] || { say "$p is missing (build first)"; exit 1; }
done
if [[ ,$responders, == *,charon,* ]]; then
        [[ -x $CHARON ]] && command -v swanctl >/dev/null || { say "strongSwan's charon or swanctl is not installed"; exit 1; }
fi
((profile == 0)) || command -v perf >/dev/null || { say "perf is missing: no profile"; profile=0; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-bench-ike.XXXXXX")
chmod 755 "$WORK" # the services run as their own users
mkdir "$WORK/results"
NOTES=$WORK/notes.tsv # cell note
: >"$NOTES"
NS_G=bh-ikg-$$ # the load generator
NS_R=bh-ikr-$$ # the responder
VETH_G=ikg$$ VETH_R=ikr$$
# Addresses: the generator 192.0.2.1, the responder 192.0.2.2; IKE SA i
# comes from 198.18.0.1 + i (a local route in the generator's namespace)
# and asks for 10.128.0.1 + i === 10.1.0.1 (on the responder's lo).
GEN=192.0.2.1 RESP=192.0.2.2
SRC_RANGE=198.18.0.0/15 SRC_BASE=198.18.0.1
TS_RESP=10.1.0.1 TS_BASE=10.128.0.1 TS_RANGE=10.128.0.0/9
RESP_ID=resp.load

RESP_PID=   # bulkheadd or charon
LOAD_PID=   # ike-load (its ip netns exec, which execs it)
PERF_PID=

netns_up() {
        ip netns add "$NS_G"
        ip netns add "$NS_R"
        ip link add "$VETH_G" type veth peer name "$VETH_R"
        ip link set "$VETH_G" netns "$NS_G"
        ip link set "$VETH_R" netns "$NS_R"
        ip -n "$NS_G" link set lo up
        ip -n "$NS_R" link set lo up
        ip -n "$NS_G" link set "$VETH_G" up
        ip -n "$NS_R" link set "$VETH_R" up
        ip -n "$NS_G" addr add "$GEN/24" dev "$VETH_G"
        ip -n "$NS_R" addr add "$RESP/24" dev "$VETH_R"
        # Every address of the range is the generator's own.
        ip -n "$NS_G" route add local "$SRC_RANGE" dev lo
        ip -n "$NS_R" route add "$SRC_RANGE" via "$GEN"
        # The responder's protected host: the source of its tunnel routes.
        ip -n "$NS_R" addr add "$TS_RESP/32" dev lo
}

wait_gone() { # wait_gone PID SECONDS
        local end=$((SECONDS + $2))
        while kill -0 "$1" 2>/dev/null && ((SECONDS < end)); do sleep 0.05; done
        ! kill -0 "$1" 2>/dev/null
}

stop_pid() { # stop_pid PID: SIGTERM, a bounded wait, then SIGKILL
        [[ -n $1 ]] || return 0
        local name
        name=$(cat /proc/"$1"/comm 2>/dev/null || echo gone)
        kill -TERM "$1" 2>/dev/null || true
        if ! wait_gone "$1" "$STOP_TIMEOUT"; then
                # charon deletes every IKE SA on SIGTERM, which takes long
                # with thousands of them and nobody answering.
                say "$name ($1) did not stop within ${STOP_TIMEOUT}s of SIGTERM; killed"
                kill -KILL "$1" 2>/dev/null || true
        fi
        wait "$1" 2>/dev/null || true
}

# The end of a run: the generator, the responder (its processes stop with
# it), then whatever is left in the namespaces, and the namespaces.
teardown() {
        stop_pid "$PERF_PID"
        PERF_PID=
        stop_pid "$LOAD_PID"
        LOAD_PID=
        stop_pid "$RESP_PID"
        RESP_PID=
        local ns
        for ns in "$NS_G" "$NS_R"; do
                ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
                ip netns del "$ns" 2>/dev/null || true
        done
}

cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        teardown 2>/dev/null || true
        local left
        left=$(pgrep -f -- "$WORK" || true)
        [[ -z $left ]] || { say "processes left behind: $left; killing them"; kill -KILL $left 2>/dev/null || true; rc=1; }
        if ip netns list | awk '{ print $1 }' | grep -qxE "bh-ik[gr]-$$"; then say "namespaces left behind"; rc=1; fi
        ! ip link show dev "$VETH_G" >/dev/null 2>&1 || { say "interface $VETH_G left behind"; rc=1; }
        rm -rf "$WORK"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

note() { printf '%s\t%s\n' "$1" "$2" >>"$NOTES"; echo "  note: $2"; }

# Every process below pid (from /proc/PID/task/*/children), one a line.
descendants() {
        local task child
        for task in /proc/"$1"/task/*; do
                [[ -r $task/children ]] || continue
                for child in $(<"$task/children"); do
                        echo "$child"
                        descendants "$child"
                done
        done
}

random_psk() { head -c 256 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c "$1"; }

# Tunnel names l0000...: 4 digits up to 10000 tunnels.
digits() {
        local last=$(($1 - 1))
        ((${#last} > 4)) && echo "${#last}" || echo 4
}

# secrets.conf may hold 256 KiB (policy/secrets.h): 10000 lines of
# `psk l0000 "..."` leave room for 12 characters of passphrase. Longer ones
# (32) when there is room.
psk_len() {
        local n=$1 d room
        d=$(digits "$n")
        room=$((262144 / n - (4 + 1 + d + 1 + 2 + 1) - 1))
        ((room > 32)) && room=32
        echo "$room"
}

# --- Bulkhead: N tunnel definitions, one per initiator address, and N PSKs.
bulkhead_config() { # bulkhead_config N PSK DIR
        local n=$1 psk=$2 dir=$3
        mkdir -p "$dir/etc/tunnels.d"
        chmod 755 "$dir" "$dir/etc" "$dir/etc/tunnels.d"
        python3 - "$n" "$(digits "$n")" "$psk" "$dir/etc" "$RESP" "$SRC_BASE" "$TS_RESP" "$TS_BASE" "$RESP_ID" <<'PY'
import ipaddress, sys
n, d, psk, etc, resp, src, ts_resp, ts_base, resp_id = sys.argv[1:]
n, d = int(n), int(d)
src, ts_base = ipaddress.ip_address(src), ipaddress.ip_address(ts_base)
secrets = []
# tunnels.d takes files of 1 MiB at most: 1000 tunnels a file.
for f in range(0, n, 1000):
    with open("%s/tunnels.d/load-%02d.conf" % (etc, f // 1000), "w") as out:
        out.write("# bench/ike-rate.sh: one tunnel per initiator address; the PSKs are in secrets.conf.\n")
        for i in range(f, min(n, f + 1000)):
            name = "l%0*d" % (d, i)
            out.write("[tunnel %s]\ntype = ike\nlocal = %s\nremote = %s\nlocal_ts = %s/32\nremote_ts = %s/32\n"
                      "local_id = fqdn:%s\nremote_id = fqdn:%s.load\n"
                      "ike_proposals = aes256gcm16-prfsha256-x25519\nesp_proposals = aes256gcm16\n\n"
                      % (name, resp, src + i, ts_resp, ts_base + i, resp_id, name))
            secrets.append('psk %s "%s"\n' % (name, psk))
with open("%s/secrets.conf" % etc, "w") as out:
    out.write("".join(secrets))
PY
        chmod 600 "$dir/etc/secrets.conf"
        ! getent passwd bulkhead-crypto >/dev/null || chown bulkhead-crypto: "$dir/etc/secrets.conf"
}

bulkhead_start() { # bulkhead_start N DIR: sets RESP_PID, RESP_DEV
        local n=$1 dir=$2 run=$2/run i
        rm -rf "$run"
        # ip netns exec execs bulkheadd: $! is the supervisor itself.
        ip netns exec "$NS_R" "$BULKHEADD" --embedded --run-dir "$run" --config-dir "$dir/etc" \
                --log-level "$log_level" >"$dir/out" 2>&1 &
        RESP_PID=$!
        for ((i = 0; i < READY_TIMEOUT * 10; i++)); do
                [[ -e $run/ready ]] && break
                kill -0 "$RESP_PID" 2>/dev/null || break
                sleep 0.1
        done
        [[ -e $run/ready ]] || { tail -n 30 "$dir/out" >&2; say "the suite did not get ready within ${READY_TIMEOUT}s"; return 1; }
        local loaded
        loaded=$(timeout 60 "$IKE" --run-dir "$run" --json cmd=list 2>/dev/null |
                python3 -c 'import json,sys; print(len(json.load(sys.stdin)["tunnels"]))' || echo 0)
        [[ $loaded == "$n" ]] || { grep -m5 -i "not loaded\|error" "$dir/out" >&2 || true; say "tmd has $loaded tunnels, not $n"; return 1; }
        # No COOKIEs, as charon runs with dos_protection = no: the load
        # generator would answer them, at one more round trip per IKE SA.
        busctl --address="$(cat "$run/bus")" set-property org.bulkhead.Isakmpd /org/bulkhead/Isakmpd \
                org.bulkhead.Isakmpd1 CookieThreshold u 4294967295 ||
                { say "cannot raise isakmpd's CookieThreshold"; return 1; }
        RESP_DEV=bulkhead0
}

charon_start() { # charon_start PSK DIR: sets RESP_PID, RESP_DEV
        local dir=$2
        mkdir -p "$dir"
        sed "s|@DIR@|$dir|g" "$src_dir/bench/strongswan/ike-rate.strongswan.conf.in" >"$dir/strongswan.conf"
        sed -e "s|@LOCAL@|$RESP|g" -e "s|@REMOTES@|$SRC_RANGE|g" -e "s|@LOCAL_ID@|$RESP_ID|g" \
                -e "s|@LOCAL_TS@|$TS_RESP/32|g" -e "s|@REMOTE_TS@|$TS_RANGE|g" -e "s|@PSK@|$1|g" \
                "$src_dir/bench/strongswan/ike-rate.swanctl.conf.in" >"$dir/swanctl.conf"
        chmod 600 "$dir/swanctl.conf"
        rm -f "$dir/charon.vici" "$dir/charon.log"
        # Its own /run (the pid file); ip netns exec, unshare and sh exec,
        # so $! is charon itself.
        STRONGSWAN_CONF=$dir/strongswan.conf ip netns exec "$NS_R" \
                unshare -m sh -c 'mount -t tmpfs none /run && exec "$0"' "$CHARON" >"$dir/out" 2>&1 &
        RESP_PID=$!
        local i
        for ((i = 0; i < START_TIMEOUT * 20; i++)); do
                [[ -S $dir/charon.vici ]] && break
                sleep 0.05
        done
        [[ -S $dir/charon.vici ]] || { cat "$dir/out" >&2; say "charon has no vici socket after ${START_TIMEOUT}s"; return 1; }
        timeout 30 swanctl --load-all --noprompt --file "$dir/swanctl.conf" --uri "unix://$dir/charon.vici" \
                >"$dir/load.log" 2>&1 || { cat "$dir/load.log" >&2; say "swanctl --load-all failed"; return 1; }
        [[ $(cat /proc/"$RESP_PID"/comm) == charon ]] || { say "pid $RESP_PID is not charon"; return 1; }
        RESP_DEV=ipsec0
        ip -n "$NS_R" link show dev ipsec0 >/dev/null 2>&1 || { say "charon has no ipsec0"; return 1; }
}

# run_once RESPONDER N RUN [perf]: one run in fresh namespaces; the
# generator's JSON in results/RESPONDER-N-RUN.json. 0 when it produced one.
run_once() {
        local resp=$1 n=$2 run=$3 perf=${4:-} dir=$WORK/$1-$2 psk out status=0 t0 t1
        out=$WORK/results/$resp-$n-$run.json
        [[ -z $perf ]] || out=$WORK/perf-$resp-$n.json
        netns_up
        psk=$(random_psk "$(psk_len "$n")")
        printf '%s\n' "$psk" >"$WORK/psk"
        chmod 600 "$WORK/psk"
        if [[ $resp == bulkhead ]]; then
                bulkhead_config "$n" "$psk" "$dir"
                bulkhead_start "$n" "$dir" || { teardown; return 1; }
        else
                charon_start "$psk" "$dir" || { teardown; return 1; }
        fi
        if [[ -n $perf ]]; then
                # The responder's processes only (the machine may be running
                # other suites with the same names): bulkheadd, its bus
                # daemon and services, and the `ip` processes bulkheadd
                # starts later, which inherit the counters.
                local tree
                tree=$(descendants "$RESP_PID" | paste -sd, -)
                perf record -g -F 499 -p "$RESP_PID${tree:+,$tree}" -o "$WORK/perf.data" >"$WORK/perf-record.log" 2>&1 &
                PERF_PID=$!
                sleep 1
                kill -0 "$PERF_PID" 2>/dev/null || { PERF_PID=; cat "$WORK/perf-record.log" >&2; say "perf record does not work here"; }
        fi
        local limit
        limit=$(run_limit "$n")
        t0=$(date +%s%N)
        ip netns exec "$NS_G" timeout -k 10 $((limit + SETTLE_LIMIT + 60)) "$IKE_LOAD" --responder "$RESP" \
                --psk-file "$WORK/psk" --count "$n" --window "$window" --name-digits "$(digits "$n")" \
                --src-base "$SRC_BASE" --ts-base "$TS_BASE" --ts-remote "$TS_RESP" --idr "fqdn:$RESP_ID" \
                --watch "$RESP_PID" --routes-netns "/run/netns/$NS_R" --routes-dev "$RESP_DEV" \
                --limit "$limit" --settle-limit "$SETTLE_LIMIT" --progress-ms 10000 --pss-ms "$(pss_ms "$n")" \
                >"$out.tmp" 2> >(sed -u 's/^/  /' >&2) &
        LOAD_PID=$!
        wait "$LOAD_PID" || status=$?
        LOAD_PID=
        t1=$(date +%s%N)
        if [[ -n $PERF_PID ]]; then
                kill -INT "$PERF_PID" 2>/dev/null || true
                wait_gone "$PERF_PID" 60 || kill -KILL "$PERF_PID" 2>/dev/null || true
                wait "$PERF_PID" 2>/dev/null || true
                PERF_PID=
        fi
        if [[ $resp == bulkhead ]] && grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$dir/out"; then
                note "$resp-$n" "a sanitizer reported an error in the suite"
        fi
        # The responder's own account of failures.
        if [[ $resp == bulkhead ]]; then
                grep -E " errors " "$dir/out" | sed -E 's/^[^ ]+ //; s/tunnel=l[0-9]+/tunnel=l*/; s/[0-9a-f]{16}/SPI/g' |
                        sort | uniq -c | sort -rn | head -5 >"$out.errors" || true
        else
                grep -E "failed|error|retransmit" "$dir/charon.log" 2>/dev/null | sed -E 's/^[0-9:]+ +[0-9]+\[[A-Z]+\] //; s/\[[0-9]+\]/[#]/g' |
                        sort | uniq -c | sort -rn | head -5 >"$out.errors" || true
        fi
        teardown
        [[ -s $out.tmp ]] || { say "ike-load gave no result (exit $status)"; return 1; }
        printf '%s\n' "$(($((t1 - t0)) / 1000000))" >"$out.wall"
        mv "$out.tmp" "$out"
        ((status == 0 || status == 1)) || say "ike-load exited with $status"
        return 0
}

commit=$(git -C "$src_dir" describe --always --dirty 2>/dev/null || echo unknown)
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load=$(cut -d' ' -f1-3 /proc/loadavg)
ver() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo -; }
versions="strongSwan $(ver strongswan-charon), OpenSSL $(ver libssl3), GLib $(ver libglib2.0-0), libdbus $(ver libdbus-1-3), dbus-daemon $(ver dbus-daemon), iproute2 $(ver iproute2)"
echo "== Bulkhead IKE SA setup benchmark, $started, commit $commit, $(nproc) cores, $(uname -r), load $load"
echo "   $versions"
echo "   counts $counts, up to $runs runs per cell (one only when the first took more than ${repeat_limit}s), window $window," \
        "Bulkhead log level $log_level"

failed=0
for n in ${counts//,/ }; do
        for resp in ${responders//,/ }; do
                echo "== $resp responder, N = $n"
                for ((r = 1; r <= runs; r++)); do
                        sleep "$BETWEEN_RUNS"
                        if ! run_once "$resp" "$n" "$r"; then
                                note "$resp-$n" "run $r failed to run; see above"
                                failed=1
                                break
                        fi
                        wall=$(<"$WORK/results/$resp-$n-$r.json.wall")
                        python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print("  run %s: %d of %d up in %.2f s, %s tunnels/s (routes in); %d failed, %d retransmissions" % (
    sys.argv[2], d["up"], d["count"], d["t_ike_s"], d["rate_settled"], d["failed"], d["retransmissions"]))
for k, v in d["failures"].items():
    print("    %d x %s" % (v, k))' "$WORK/results/$resp-$n-$r.json" "$r"
                        if ((r == 1 && runs > 1 && wall / 1000 > repeat_limit)); then
                                note "$resp-$n" "1 run only: the first took $((wall / 1000)) s (more than ${repeat_limit} s)"
                                break
                        fi
                done
        done
done

perf_note=
if ((profile)) && [[ ,$responders, == *,bulkhead,* ]]; then
        echo "== profile: one more Bulkhead run, N = $perf_count, under perf record -g -p (the suite's processes; not counted)"
        if run_once bulkhead "$perf_count" 1 perf && [[ -s $WORK/perf.data ]]; then
                # Shares of the suite's samples: by program, then the top
                # symbols of its busiest programs.
                perf report -i "$WORK/perf.data" --no-children --stdio -g none --sort comm 2>/dev/null |
                        awk '/^ +[0-9.]+%/ && k++ < 14' >"$WORK/perf-comm.txt" || true
                for c in bulkhead-isakmp bulkhead-crypto dbus-daemon bulkhead-tmd ip bulkheadd bulkhead-filter; do
                        {
                                echo "-- $c"
                                perf report -i "$WORK/perf.data" --no-children --stdio -g none --comms "$c" \
                                        --percentage relative --sort dso,sym 2>/dev/null | awk '/^ +[0-9.]+%/ && k++ < 6'
                        } >>"$WORK/perf-sym.txt" || true
                done
                grep -o '([0-9]* samples)' "$WORK/perf-record.log" | tr -dc 0-9 >"$WORK/perf-samples.txt" || true
                [[ -z $perf_data ]] || cp "$WORK/perf.data" "$perf_data"
        else
                perf_note="the profile run failed"
        fi
fi

echo
python3 - "$WORK" "$counts" "$responders" "$commit" "$started" "$load" "$versions" "$window" "$log_level" \
        "$(nproc)" "$(uname -r)" "$perf_count" "$perf_note" <<'PY'
import glob, json, os, re, statistics, sys
work, counts, responders, commit, started, load, versions, window, log_level, cores, kernel, perf_count, perf_note = sys.argv[1:]
counts = [int(c) for c in counts.split(",")]
responders = responders.split(",")
res = {}
for p in glob.glob(os.path.join(work, "results", "*.json")):
    m = re.match(r"(\w+)-(\d+)-(\d+)\.json$", os.path.basename(p))
    d = json.load(open(p))
    d["wall_run_s"] = int(open(p + ".wall").read()) / 1000
    err = p + ".errors"
    d["responder_errors"] = [l.strip() for l in open(err)] if os.path.exists(err) else []
    res.setdefault((m.group(1), int(m.group(2))), []).append(d)
notes = {}
for line in open(os.path.join(work, "notes.tsv")):
    cell, text = line.rstrip("\n").split("\t", 1)
    notes.setdefault(cell, []).append(text)

def rate(d):
    return d["rate_settled"] if d.get("rate_settled") is not None else 0.0
def med(xs):
    return statistics.median(xs) if xs else None
def median_run(ds):
    s = sorted(ds, key=rate)
    return s[(len(s) - 1) // 2]
def resp_cpu(d):
    return sum(v["user_s"] + v["sys_s"] + v["reaped_children_s"] for v in d["cpu"]["procs"].values())

MiB = 1024.0
cells = []
print("Tunnels per second: N IKE SAs with one CHILD SA each, from the first IKE_SA_INIT until the last IKE_AUTH answer")
print("and the last tunnel route in the responder's namespace. Memory: all the responder's processes, PSS summed.")
fmt = "%-9s %6s %4s %9s %13s %8s %8s %7s %8s %13s %8s %8s %10s %10s %8s"
print(fmt % ("", "", "", "tunnels/s", "tunnels/s", "IKE/s", "time", "failed", "retrans", "setup ms", "idle", "peak", "KiB/tunnel", "KiB/tunnel", "resp CPU"))
print(fmt % ("responder", "N", "runs", "median", "min-max", "median", "s", "", "", "p50/p99", "PSS MiB", "PSS MiB", "peak/N", "(peak-idle)/N", "s/1000"))
summary = {}
for n in counts:
    for r in responders:
        ds = res.get((r, n), [])
        if not ds:
            print(fmt % (r, n, 0, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"))
            continue
        rates = [rate(d) for d in ds]
        m = median_run(ds)
        idle = med([d["mem"]["idle_pss_kb"] for d in ds])
        peak = med([d["mem"]["peak_pss_kb"] for d in ds])
        up = m["up"] or 1
        row = {
            "runs": len(ds), "rate_median": med(rates), "rate_min": min(rates), "rate_max": max(rates), "rates": rates,
            "rate_ike_median": med([d["rate_ike"] for d in ds]),
            "t_s_median": med([d["routes"]["t_settled_s"] or d["t_ike_s"] for d in ds]),
            "up": [d["up"] for d in ds], "failed": [d["failed"] for d in ds],
            "failures": {k: v for d in ds for k, v in d["failures"].items()},
            "retransmissions": [d["retransmissions"] for d in ds],
            "latency_ms": m["latency_ms"], "idle_pss_kib": idle, "peak_pss_kib": peak,
            "peak_rss_kib": med([d["mem"]["peak_rss_kb"] for d in ds]),
            "kib_per_tunnel": peak / up, "kib_per_tunnel_above_idle": (peak - idle) / up,
            "responder_cpu_s_per_1000": resp_cpu(m) / up * 1000,
            "median_run": m,
        }
        summary[(r, n)] = row
        print(fmt % (r, n, len(ds), "%.0f" % row["rate_median"], "%.0f-%.0f" % (row["rate_min"], row["rate_max"]),
                     "%.0f" % row["rate_ike_median"], "%.1f" % row["t_s_median"], "+".join(str(x) for x in row["failed"]),
                     "+".join(str(x) for x in row["retransmissions"]),
                     "%.0f/%.0f" % (m["latency_ms"]["p50"], m["latency_ms"]["p99"]),
                     "%.1f" % (idle / MiB), "%.1f" % (peak / MiB), "%.1f" % row["kib_per_tunnel"],
                     "%.1f" % row["kib_per_tunnel_above_idle"], "%.2f" % row["responder_cpu_s_per_1000"]))
for (r, n), row in summary.items():
    for k, v in row["failures"].items():
        print("failures, %s N=%d: %d x %s" % (r, n, v, k))
for cell, texts in notes.items():
    for t in texts:
        print("note, %s: %s" % (cell, t))

# Where the time goes: CPU seconds per process, in the median run of each cell.
print()
print("Where the time goes: CPU (user + system) of each process during the median run of each cell, in ms per")
print("tunnel; \"ip (reaped)\" is the `ip route` processes bulkheadd ran (its children's time, counted when reaped).")
keys = [k for k in summary]
hdr = "%-22s" + " %15s" * len(keys)
print(hdr % (("process",) + tuple("%s/%d" % k for k in keys)))
names = []
for k in keys:
    for name in summary[k]["median_run"]["cpu"]["procs"]:
        if name not in names:
            names.append(name)
def cpu_ms(k, name, what):
    d = summary[k]["median_run"]
    p = d["cpu"]["procs"].get(name)
    if not p:
        return None
    v = p["user_s"] + p["sys_s"] if what == "self" else p["reaped_children_s"]
    return v * 1000 / (d["up"] or 1)
rows = []
for name in names:
    rows.append((name, [cpu_ms(k, name, "self") for k in keys]))
    if any((summary[k]["median_run"]["cpu"]["procs"].get(name) or {}).get("reaped_children_s", 0) > 0.05 for k in keys):
        rows.append(("ip (reaped)" if name == "bulkheadd" else name + " (reaped)", [cpu_ms(k, name, "reaped") for k in keys]))
rows.append(("= responder, all", [resp_cpu(summary[k]["median_run"]) * 1000 / (summary[k]["median_run"]["up"] or 1) for k in keys]))
rows.append(("ike-load (generator)", [(summary[k]["median_run"]["cpu"]["generator_s"] - summary[k]["median_run"]["mem"]["sampler_cpu_s"]) * 1000 / (summary[k]["median_run"]["up"] or 1) for k in keys]))
rows.append(("ike-load's sampler", [summary[k]["median_run"]["mem"]["sampler_cpu_s"] * 1000 / (summary[k]["median_run"]["up"] or 1) for k in keys]))
for name, vals in rows:
    print(hdr % ((name,) + tuple("-" if v is None else "%.2f" % v for v in vals)))
print(hdr % (("host busy cores",) + tuple("%.2f of %s" % (summary[k]["median_run"]["cpu"]["host_busy_cores"], cores) for k in keys)))
print(hdr % (("wall s",) + tuple("%.1f" % summary[k]["median_run"]["cpu"]["wall_s"] for k in keys)))

print()
print("Memory by process, median run of each cell: PSS MiB idle (definitions and secrets loaded) -> at the peak")
print(hdr % (("process",) + tuple("%s/%d" % k for k in keys)))
mnames = []
for k in keys:
    for name in summary[k]["median_run"]["mem"]["by_name"]:
        if name == "?":
            continue    # a process caught between fork and exec, or exiting
        if name not in mnames:
            mnames.append(name)
for name in mnames:
    vals = []
    for k in keys:
        b = summary[k]["median_run"]["mem"]["by_name"].get(name)
        if b and b["peak_pss_kb"]:
            vals.append("%.1f -> %.1f" % (b["idle_pss_kb"] / MiB, b["peak_pss_kb"] / MiB))
        elif b and b["peak_rss_kb"]:
            vals.append("RSS %.1f at most" % (b["peak_rss_kb"] / MiB))   # short-lived: missed by the PSS samples
        else:
            vals.append("-")
    print(hdr % ((name,) + tuple(vals)))
print(hdr % (("mappings at the end",) + tuple(
    str(max(summary[k]["median_run"]["mem"]["maps_at_end"].values() or [0])) + " max" for k in keys)))
for k in keys:
    mp = summary[k]["median_run"]["mem"]["maps_at_end"]
    big = {p: v for p, v in mp.items() if v > 1000}
    if big:
        print("mappings, %s/%d: %s (vm.max_map_count is %s)" % (k[0], k[1], ", ".join("%s %d" % (p.split("[")[0], v) for p, v in big.items()),
                                                          open("/proc/sys/vm/max_map_count").read().strip()))
for k in keys:
    errs = summary[k]["median_run"]["responder_errors"]
    if errs:
        print("the responder's own error lines, %s/%d, median run (count, text):" % k)
        for e in errs:
            print("    " + e[:150])

perf = None
pc = os.path.join(work, "perf-comm.txt")
if os.path.exists(pc):
    samples = open(os.path.join(work, "perf-samples.txt")).read().strip() if os.path.exists(os.path.join(work, "perf-samples.txt")) else "?"
    pj = os.path.join(work, "perf-bulkhead-%s.json" % perf_count)
    pd = json.load(open(pj)) if os.path.exists(pj) else None
    print()
    print("perf record -g -F 499 -p <bulkheadd and every process below it> during one more Bulkhead run of N = %s"
          % perf_count)
    print("(not counted%s), %s samples; the `ip` processes bulkheadd starts inherit the counters."
          % ((": %.0f tunnels/s" % rate(pd)) if pd else "", samples))
    print("by program, percent of the suite's samples (perf report --no-children --sort comm; names cut at 15 characters):")
    for l in open(pc):
        print("  " + l.strip())
    print("top symbols of the busiest programs, percent of that program's samples (--comms NAME --percentage relative):")
    for l in open(os.path.join(work, "perf-sym.txt")):
        print("  " + l.rstrip())
    perf = {"count": int(perf_count), "samples": samples,
            "by_comm": [l.strip().split(None, 1) for l in open(pc)], "rate": rate(pd) if pd else None}
elif perf_note:
    print("\nprofile: " + perf_note)

print()
print("Configuration: generator and responder in two network namespaces joined by a veth pair (%s), on one machine"
      % ("192.0.2.1 - 192.0.2.2",))
print("  ike-load: window %s, retransmission after 2 s, 3 times; IKE SA i from 198.18.0.1+i, IDi fqdn:l<i>.load," % window)
print("  IDr fqdn:resp.load; IKE aes256gcm16-prfsha256-x25519, ESP aes256gcm16 (4-octet SPI), TSi 10.128.0.1+i/32,")
print("  TSr 10.1.0.1/32; moves to UDP 4500 when NAT detection says so (charon's kernel-libipsec fakes a NAT).")
print("  Bulkhead: bulkheadd --embedded --log-level %s, one [tunnel l<i>] per initiator (remote = its address)," % log_level)
print("  N psk lines in secrets.conf. charon: one connection, remote_addrs 198.18.0.0/15, remote_ts 10.128.0.0/9,")
print("  kernel-libipsec, ikesa_table_size 32768 in 16 segments, dos_protection no, unique never, 16 threads, log level 0.")
print("  Memory: RSS (statm) every 100 ms, PSS (smaps_rollup) every max(1, N/1000) s and at the end, all the")
print("  responder's processes (short-lived ones too).")
print("  %s; commit %s; %s cores; Linux %s; load %s at the start." % (versions, commit, cores, kernel, load))

ref_n = counts[0]
ratio = None
if ("bulkhead", ref_n) in summary and ("charon", ref_n) in summary and summary[("charon", ref_n)]["rate_median"]:
    ratio = summary[("bulkhead", ref_n)]["rate_median"] / summary[("charon", ref_n)]["rate_median"]
out = {"date": started, "commit": commit, "cores": int(cores), "kernel": kernel, "load": load, "versions": versions,
       "window": int(window), "log_level": log_level, "ratio_n": ref_n, "ratio_vs_charon": ratio,
       "cells": {"%s/%d" % k: {kk: vv for kk, vv in v.items() if kk != "median_run"} for k, v in summary.items()},
       "median_runs": {"%s/%d" % k: v["median_run"] for k, v in summary.items()}, "perf": perf}
print()
print(json.dumps(out, separators=(",", ":")))
print("ratio_vs_charon=%s" % ("%.3f" % ratio if ratio is not None else "none"))
PY
exit "$failed"
