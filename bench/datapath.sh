#!/usr/bin/env bash
# SPDX-License-Identifier: ISC
# The data path benchmark: iperf3 TCP, iperf3 UDP (packets per second, with
# IP packets of 1400 and 256 bytes) and ping RTT between two network
# namespaces joined by a veth pair, in clear, through a Bulkhead manual ESP
# tunnel (ESP in UDP and raw ESP, AES-256-GCM), through strongSwan's charon
# with kernel-libipsec (the same transform), and through wireguard-go when
# Debian has it. The rows run one after another, in namespaces made anew for
# each. Prints two tables, where filterd's time goes (perf), one line of JSON,
# and last ratio_vs_libipsec= (Bulkhead ESP-in-UDP TCP / strongSwan TCP).
#
#   bench/datapath.sh [--build-dir DIR] [--no-build] [--no-install] [--time S] [--runs N]
#                     [--rows clear,bulkhead_udp,bulkhead_esp,strongswan,wireguard_go]
#                     [--tests tcp,udp1400,udp256,ping] [--no-perf] [--perf-data FILE]
#
# As root. Installs iperf3, strongSwan and wireguard-go from Debian if they are
# missing. Every wait is bounded; whatever this script started is stopped, and
# its namespaces and interfaces are gone, when it exits.
set -euo pipefail

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$src_dir/build}
build=1
install=1
secs=5
runs=3
rows=clear,bulkhead_udp,bulkhead_esp,strongswan,wireguard_go
tests=tcp,udp1400,udp256,ping
profile=1
perf_keep=
while (($#)); do
        case $1 in
        --build-dir) build_dir=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --no-install) install=0; shift ;;
        --time) secs=$2; shift 2 ;;
        --runs) runs=$2; shift 2 ;;
        --rows) rows=$2; shift 2 ;;
        --tests) tests=$2; shift 2 ;;
        --no-perf) profile=0; shift ;;
        --perf-data) perf_keep=$2; shift 2 ;;
        -h | --help) sed -n '3,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "datapath.sh: unknown option: $1" >&2; exit 2 ;;
        esac
done
[[ $secs =~ ^[0-9]+$ ]] && ((secs >= 1 && secs <= 120)) || { echo "datapath.sh: --time takes 1..120 s" >&2; exit 2; }
[[ $runs =~ ^[0-9]+$ ]] && ((runs >= 1 && runs <= 20)) || { echo "datapath.sh: --runs takes 1..20" >&2; exit 2; }
for t in ${tests//,/ }; do
        [[ ,tcp,udp1400,udp256,ping, == *,$t,* ]] || { echo "datapath.sh: --tests takes tcp,udp1400,udp256,ping" >&2; exit 2; }
done
[[ -n ${tests//,/} ]] || { echo "datapath.sh: --tests is empty" >&2; exit 2; }
want() { [[ ,$tests, == *,$1,* ]]; }
[[ $(id -u) = 0 ]] || { echo "datapath.sh: run it as root (namespaces, TUN devices)" >&2; exit 1; }

# Bounds (seconds).
INSTALL_TIMEOUT=900
START_TIMEOUT=15
IPERF_TIMEOUT=$((secs + 30))
PING_TIMEOUT=30
STOP_TIMEOUT=15

say() { echo "datapath.sh: $*" >&2; }

# --- packages: only what is missing, from Debian
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
wg_note=
if ((install)); then
        # kernel-libipsec is in libcharon-extra-plugins, curve25519 in
        # libstrongswan-extra-plugins, openssl and gcm in the standard plugins.
        apt_install iperf3 strongswan-charon strongswan-swanctl libstrongswan-standard-plugins \
                libcharon-extra-plugins libstrongswan-extra-plugins ||
                say "could not install iperf3 or strongSwan"
        command -v perf >/dev/null || apt_install linux-perf || say "could not install linux-perf"
        if [[ ,$rows, == *,wireguard_go,* ]]; then
                apt_install wireguard-go wireguard-tools || wg_note="wireguard-go or wireguard-tools not installable from Debian"
        fi
fi
command -v iperf3 >/dev/null || { say "iperf3 is missing"; exit 1; }

if ((build)); then
        [[ -f $build_dir/build.ninja ]] || meson setup "$build_dir" "$src_dir" >/dev/null
        ninja -C "$build_dir" >/dev/null
fi
export BULKHEAD_BUILD=$build_dir
# shellcheck source=../tests/lib.sh
source "$src_dir/tests/lib.sh"
# shellcheck source=../tests/netns.sh
source "$src_dir/tests/netns.sh"
for p in "$BULKHEADD" "$IKE" "$BUILD/bulkhead-filterd"; do
        [[ -x $p ]] || { say "$p is missing (build first)"; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-bench-dp.XXXXXX")
chmod 755 "$WORK" # the services run as their own users
RESULTS=$WORK/results.tsv # row run mbps dp_ticks host_ticks wall_ms (TCP)
UDP=$WORK/udp.tsv         # row test run rx_pps lost_pct tx_pps rx_mbps
PING=$WORK/ping.tsv       # row run median_us min_us avg_us max_us lost_pct
NOTES=$WORK/notes.tsv     # row note
: >"$RESULTS"
: >"$UDP"
: >"$PING"
: >"$NOTES"
PERF_OUT=$WORK/perf.txt
WG_A=bhwga$$ WG_B=bhwgb$$ # wireguard-go's interfaces, and its sockets in /var/run/wireguard
WG_DIR_MADE=0
[[ -d /var/run/wireguard ]] || WG_DIR_MADE=1
HZ=$(getconf CLK_TCK)

# Stopped gently (SIGTERM) before a row's namespaces go.
STOP_PIDS=()

# The end of a row: its daemons stopped, its namespaces and everything in
# them gone. Run by the row itself and again by the main cleanup.
row_teardown() {
        local pid end
        for pid in ${STOP_PIDS[@]+"${STOP_PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
        end=$((SECONDS + STOP_TIMEOUT))
        for pid in ${STOP_PIDS[@]+"${STOP_PIDS[@]}"}; do
                while kill -0 "$pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.05; done
        done
        STOP_PIDS=()
        netns_cleanup # TERM to the suites, KILL to whatever is left in the namespaces
        unset SUP_a SUP_b NETNS_MADE
        rm -f "/var/run/wireguard/$WG_A.sock" "/var/run/wireguard/$WG_B.sock"
        rm -rf "${WORK:?}/a" "$WORK/b"
}

row_pid=
cleanup() {
        local rc=$?
        trap - EXIT INT TERM
        if [[ -n $row_pid ]] && kill -0 "$row_pid" 2>/dev/null; then
                # The row's foreground child (iperf3, swanctl...) first, then
                # the row, which tears itself down.
                local c
                for c in $(cat /proc/"$row_pid"/task/*/children 2>/dev/null); do kill -TERM "$c" 2>/dev/null || true; done
                kill -TERM "$row_pid" 2>/dev/null || true
                local end=$((SECONDS + STOP_TIMEOUT + 15))
                while kill -0 "$row_pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
                kill -KILL "$row_pid" 2>/dev/null || true
                ((rc)) || rc=1
        fi
        NETNS_MADE=1 row_teardown 2>/dev/null || true
        ((WG_DIR_MADE == 0)) || rmdir /var/run/wireguard 2>/dev/null || true
        # Nothing of ours may be left: processes, namespaces, interfaces.
        local left
        left=$(pgrep -f -- "$WORK" || true)
        [[ -z $left ]] || { say "processes left behind: $left; killing them"; kill -KILL $left 2>/dev/null || true; rc=1; }
        if ip netns list | awk '{ print $1 }' | grep -qxE "bh-[ab]-$$"; then say "namespaces left behind"; rc=1; fi
        local dev
        for dev in "va$$" "vb$$" "$WG_A" "$WG_B"; do
                ! ip link show dev "$dev" >/dev/null 2>&1 || { say "interface $dev left behind"; rc=1; }
        done
        rm -rf "$WORK"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- measuring

# CPU time in clock ticks (user + system, every thread) of the processes
# given, summed.
proc_cpu() {
        local pid ticks=0 stat rest
        local -a f
        for pid in "$@"; do
                stat=$(<"/proc/$pid/stat") || continue
                rest=${stat##*) } # the name may hold spaces; fields from 3 on
                read -r -a f <<<"$rest"
                ticks=$((ticks + f[11] + f[12])) # utime, stime (fields 14, 15)
        done
        echo "$ticks"
}
# The whole machine's busy CPU ticks (all cores, softirq included).
host_cpu() {
        local user nice system irq softirq steal
        read -r _ user nice system _ _ irq softirq steal _ </proc/stat
        echo $((user + nice + system + irq + softirq + steal))
}
now_ns() { date +%s%N; }
ticks_s() { awk -v t="$1" -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }'; }

IPERF_PORT=5201
iperf_server_start() { # iperf_server_start ADDR: in host b, until the row ends
        ip netns exec "$NS_B" iperf3 -s -B "$1" -p "$IPERF_PORT" >"$WORK/iperf3-server.log" 2>&1 &
        STOP_PIDS+=("$!")
        wait_for "$START_TIMEOUT" listening "$IPERF_PORT" || fail "the iperf3 server does not listen"
}
listening() { [[ -n $(ip netns exec "$NS_B" ss -Hltn "sport = :$1") ]]; }

# iperf_once SRC DST OUT: one TCP run of $secs seconds from host a to host b;
# prints the receiver's Mbit/s.
iperf_once() {
        timeout -k 5 "$IPERF_TIMEOUT" ip netns exec "$NS_A" \
                iperf3 -c "$2" -B "$1" -p "$IPERF_PORT" -t "$secs" --connect-timeout 5000 -J >"$3" 2>&1 ||
                { cat "$3" >&2; fail "iperf3 $1 -> $2 failed"; }
        python3 -c 'import json,sys; print("%.1f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"] / 1e6))' "$3"
}

# The sizes of the UDP tests are those of the inner IP packet (IPv4 header
# 20 + UDP header 8 + payload): the issue's "1400" is the largest packet that
# the Bulkhead and kernel-libipsec TUN devices (MTU 1400) carry whole.
declare -A UDP_IP_BYTES=([udp1400]=1400 [udp256]=256)

# udp_once SRC DST IP_BYTES OUT: one UDP run of $secs seconds from host a to
# host b, sending as fast as the sender can (-b 0), with DF set, so that a
# datagram too big for the path fails instead of being fragmented. Prints
# the receiver's packets per second, its loss in %, the sender's packets per
# second, and the receiver's Mbit/s (of UDP payload).
udp_once() {
        timeout -k 5 "$IPERF_TIMEOUT" ip netns exec "$NS_A" \
                iperf3 -c "$2" -B "$1" -p "$IPERF_PORT" -u -b 0 -l $(($3 - 28)) --dont-fragment -t "$secs" \
                --connect-timeout 5000 -J >"$4" 2>"$4.err" ||
                { cat "$4" "$4.err" >&2; fail "iperf3 -u $1 -> $2 ($3-byte packets) failed"; }
        # (iperf3 warns on stderr when the datagram is longer than the TCP
        # MSS of its control connection: 1348 in a 1400 MTU tunnel. DF makes
        # sure that nothing is fragmented all the same.)
        # end.sum_received is what the server counted and sent back: packets
        # is the highest sequence number it saw, lost_packets the gaps in
        # them (less those that came late), so packets - lost_packets is what
        # arrived.
        python3 - "$4" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))["end"]
r, s = e["sum_received"], e["sum_sent"]
got = r["packets"] - r["lost_packets"]
print("%.0f %.2f %.0f %.1f" % (got / r["seconds"], r["lost_percent"], s["packets"] / s["seconds"],
                               r["bits_per_second"] / 1e6))
PY
}

# ping_once SRC DST OUT: 100 echo requests, 10 ms apart, with no other
# traffic; prints the median, min, mean and max of the round trip times (µs,
# from the per-packet times) and the loss in %.
ping_once() {
        timeout -k 5 "$PING_TIMEOUT" ip netns exec "$NS_A" ping -n -c 100 -i 0.01 -W 1 -I "$1" "$2" >"$3" 2>&1 ||
                { cat "$3" >&2; fail "ping $1 -> $2 failed"; }
        python3 - "$3" <<'PY'
import re, statistics, sys
text = open(sys.argv[1]).read()
t = [float(x) * 1000 for x in re.findall(r"time=([0-9.]+) ms", text)]
sent = int(re.search(r"(\d+) packets transmitted", text).group(1))
print("%.0f %.0f %.0f %.0f %.1f" % (statistics.median(t), min(t), statistics.mean(t), max(t),
                                    100 * (sent - len(t)) / sent))
PY
}

# path_mtu SRC DST: the device that carries SRC -> DST in host a, and its MTU.
path_mtu() {
        local dev
        dev=$(ip -n "$NS_A" route get "$2" from "$1" | grep -oP '\bdev \K\S+' | head -n 1)
        [[ -n $dev ]] || fail "no route from $1 to $2 in host a"
        echo "$dev $(ip -n "$NS_A" -o link show dev "$dev" | grep -oP '\bmtu \K[0-9]+')"
}
# IP datagrams host b reassembled (/proc/net/snmp is per namespace).
reasm_ok() {
        # shellcheck disable=SC2016 # awk's own fields
        ip netns exec "$NS_B" awk '$1 == "Ip:" && !h { for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next }
                $1 == "Ip:" { print $c["ReasmOKs"] }' /proc/net/snmp
}

# measure ROW SRC DST [PID...]: $runs runs of each test asked for. For TCP,
# with the CPU time of the given data path processes (both ends) and of the
# whole machine around each run.
measure() {
        local row=$1 src=$2 dst=$3 i c0 c1 h0 h1 t0 t1 mbps cpu t out f dev mtu r0
        shift 3
        out=$(path_mtu "$src" "$dst")
        read -r dev mtu <<<"$out"
        echo "  $src -> $dst leaves host a by $dev, MTU $mtu"
        r0=$(reasm_ok)
        iperf_server_start "$dst"
        if want tcp; then
                for ((i = 1; i <= runs; i++)); do
                        c0=$(proc_cpu "$@") h0=$(host_cpu) t0=$(now_ns)
                        mbps=$(iperf_once "$src" "$dst" "$WORK/iperf-$row-$i.json")
                        c1=$(proc_cpu "$@") h1=$(host_cpu) t1=$(now_ns)
                        printf '%s\t%d\t%s\t%s\t%s\t%s\n' "$row" "$i" "$mbps" \
                                "$(($# ? c1 - c0 : -1))" "$((h1 - h0))" "$(((t1 - t0) / 1000000))" >>"$RESULTS"
                        cpu=
                        (($# == 0)) || cpu=", data path CPU $(ticks_s $((c1 - c0))) s"
                        printf '  tcp run %d: %8.1f Mbit/s%s\n' "$i" "$mbps" "$cpu"
                done
        fi
        for t in udp1400 udp256; do
                want "$t" || continue
                if ((UDP_IP_BYTES[$t] > mtu)); then
                        note "$row" "$t skipped: ${UDP_IP_BYTES[$t]}-byte packets do not fit $dev (MTU $mtu)"
                        continue
                fi
                for ((i = 1; i <= runs; i++)); do
                        out=$(udp_once "$src" "$dst" "${UDP_IP_BYTES[$t]}" "$WORK/iperf-$row-$t-$i.json")
                        read -r -a f <<<"$out"
                        printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$row" "$t" "$i" "${f[@]}" >>"$UDP"
                        printf '  %s run %d: %8.1f kpps received, %5.1f %% lost, %8.1f kpps sent\n' "$t" "$i" \
                                "$(awk -v p="${f[0]}" 'BEGIN { print p / 1000 }')" "${f[1]}" \
                                "$(awk -v p="${f[2]}" 'BEGIN { print p / 1000 }')"
                done
        done
        if want ping; then
                for ((i = 1; i <= runs; i++)); do
                        out=$(ping_once "$src" "$dst" "$WORK/ping-$row-$i.txt")
                        read -r -a f <<<"$out"
                        printf '%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$row" "$i" "${f[@]}" >>"$PING"
                        printf '  ping run %d: median %s µs, min/avg/max %s/%s/%s µs, %s %% lost\n' "$i" "${f[@]}"
                done
        fi
        r0=$(($(reasm_ok) - r0))
        ((r0 == 0)) || note "$row" "host b reassembled $r0 fragmented IP datagrams"
}

note() { printf '%s\t%s\n' "$1" "$2" >>"$NOTES"; echo "  note: $2"; }

# --- the rows

row_clear() {
        netns_setup
        in_host a ping -c 1 -W 2 192.0.2.2 >/dev/null || fail "no ping over the veth"
        measure clear 192.0.2.1 192.0.2.2
}

filterd_pid() {
        bctl_on "$1" get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Service1 Pid | cut -d' ' -f2
}

# The tunnel of tests/datapath/manual.sh: tunnel mode, IPv4 in IPv4, manual keys.
bulkhead_define() { # host local remote local_ts remote_ts spi_out spi_in encap
        mkdir -p "$WORK/$1/etc/tunnels.d"
        cat >"$WORK/$1/etc/tunnels.d/bench.conf" <<CONF
# The data path benchmark's tunnel: the keys are in secrets.conf.
[tunnel bench]
number = 7
type = manual
local = $2
remote = $3
local_ts = $4
remote_ts = $5
mode = tunnel
encap = $8
esp = aes256gcm16
esp_spi_out = $6
esp_spi_in = $7
CONF
}

row_bulkhead() { # row_bulkhead udp|esp
        local encap=$1 row=bulkhead_$1
        netns_setup
        bulkhead_define a 192.0.2.1 192.0.2.2 10.1.0.1 10.2.0.1 0x1001 0x2001 "$encap"
        bulkhead_define b 192.0.2.2 192.0.2.1 10.2.0.1 10.1.0.1 0x2001 0x1001 "$encap"
        local k1 k2
        k1=$(random_key 36) k2=$(random_key 36)
        write_secrets a "esp bench out $k1" "esp bench in $k2"
        write_secrets b "esp bench out $k2" "esp bench in $k1"
        host_suite_start a
        host_suite_start b
        # SUP_a and SUP_b are the shells that host_suite_start left in the
        # background; stop their bulkheadd (its child) with SIGTERM.
        local h c
        for h in a b; do
                local sup=SUP_$h
                for c in $(cat /proc/"${!sup}"/task/*/children 2>/dev/null); do STOP_PIDS+=("$c"); done
        done
        ike_on a cmd=activate namelist=bench >/dev/null || fail "activate on a: $(ike_on a cmd=list)"
        ike_on b cmd=activate namelist=bench >/dev/null || fail "activate on b: $(ike_on b cmd=list)"
        wait_for 5 in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no ping through the tunnel"
        local pa pb
        pa=$(filterd_pid a) pb=$(filterd_pid b)
        [[ -n $pa && -n $pb ]] || fail "no filterd pid"
        measure "$row" 10.1.0.1 10.2.0.1 "$pa" "$pb"
        local drops
        drops="a $(counter a in_dropped), b $(counter b in_dropped)"
        [[ $drops == "a 0, b 0" ]] || note "$row" "filterd dropped packets: $drops"
        if ((profile)) && [[ $encap == udp ]] && want tcp; then
                profile_filterd "$pa" "$pb"
        fi
}

# perf_top DATA N OPTIONS...: the first N lines of a flat perf report
# (self time only).
perf_top() {
        local data=$1 n=$2
        shift 2
        perf report -i "$data" --no-children --stdio -g none "$@" 2>/dev/null |
                awk -v n="$n" '/^ +[0-9.]+%/ && k++ < n'
}

# One more run, not counted, with perf recording both filterds.
profile_filterd() {
        local pa=$1 pb=$2 data=$WORK/perf.data perf_pid ev
        if ! command -v perf >/dev/null; then
                echo "perf is not installed" >"$PERF_OUT"
                return 0
        fi
        for ev in "" "-e cpu-clock"; do
                # In host a's namespace, so that a sweep of the namespaces stops it too.
                # shellcheck disable=SC2086
                ip netns exec "$NS_A" perf record -g $ev -o "$data" -p "$pa,$pb" >"$WORK/perf-record.log" 2>&1 &
                perf_pid=$!
                sleep 1
                kill -0 "$perf_pid" 2>/dev/null && break
                wait "$perf_pid" 2>/dev/null || true
                perf_pid=
        done
        if [[ -z $perf_pid ]]; then
                { echo "perf record does not work here:"; tail -n 5 "$WORK/perf-record.log"; } >"$PERF_OUT"
                return 0
        fi
        STOP_PIDS+=("$perf_pid")
        local mbps c0 c1
        c0=$(proc_cpu "$pa" "$pb")
        mbps=$(iperf_once 10.1.0.1 10.2.0.1 "$WORK/iperf-perf.json")
        c1=$(proc_cpu "$pa" "$pb")
        kill -INT "$perf_pid" 2>/dev/null || true
        local end=$((SECONDS + 30))
        while kill -0 "$perf_pid" 2>/dev/null && ((SECONDS < end)); do sleep 0.1; done
        wait "$perf_pid" 2>/dev/null || true
        [[ -z $perf_keep ]] || cp "$data" "$perf_keep"
        local samples
        samples=$(grep -o '([0-9]* samples)' "$WORK/perf-record.log" | tr -dc 0-9 || true)
        local event
        event=$(perf evlist -i "$data" 2>/dev/null | head -n 1)
        # perf report's --pid filter mixes the two processes up (perf 6.1):
        # the pid is a sort key instead.
        perf_top "$data" 12 --sort pid,dso >"$WORK/perf-objects.txt"
        perf_top "$data" 15 --sort dso,sym >"$WORK/perf-symbols.txt"
        perf_top "$data" 10000 --sort pid,dso,sym >"$WORK/perf-pid-symbols.txt"
        # Where the kernel's time is entered from: the libc calls (the first
        # user frame of every sample taken in a system call, so no unwinding
        # is needed), with all that the kernel runs below them.
        perf report -i "$data" --children --stdio -g none --sort dso,sym 2>/dev/null |
                awk '/^ +[0-9.]+%/ && $3 == "libc.so.6" && k++ < 6 { print $1, $5 }' >"$WORK/perf-syscalls.txt"
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$event" "$mbps" "$(ticks_s $((c1 - c0)))" "${samples:-0}" "$pa" "$pb" \
                >"$WORK/perf-run.tsv"
        {
                printf 'perf record -g (event %s) on filterd in host a (encrypts, sends) and host b (decrypts, receives)\n' "$event"
                printf 'during one more %d s run, not counted: %s Mbit/s, filterd CPU %s s, %s samples.\n' "$secs" "$mbps" \
                        "$(ticks_s $((c1 - c0)))" "${samples:-?}"
                echo "Percent of all the samples of both filterds, perf report --no-children --stdio -g none."
                echo
                echo "by process and object (--sort pid,dso; $pa is host a's, $pb host b's):"
                cat "$WORK/perf-objects.txt"
                echo
                echo "top 15 symbols, both filterds (--sort dso,sym):"
                cat "$WORK/perf-symbols.txt"
                local pid
                for pid in "$pa" "$pb"; do
                        echo
                        echo "top 10 symbols of filterd in host $([[ $pid = "$pa" ]] && echo a || echo b) (--sort pid,dso,sym):"
                        awk -v p=" $pid:" 'index($0, p) && k++ < 10' "$WORK/perf-pid-symbols.txt"
                done
                echo
                echo "libc calls, with all that the kernel runs below them (--children --sort dso,sym, libc only):"
                awk '{ printf "    %7s  %s\n", $1, $2 }' "$WORK/perf-syscalls.txt"
        } >"$PERF_OUT" 2>&1 || echo "perf report failed" >>"$PERF_OUT"
}

# strongSwan: one charon per namespace, with a private /run (its pid file)
# and its own strongswan.conf and vici socket.
charon_start() { # charon_start HOST LOCAL REMOTE LOCAL_TS REMOTE_TS PSK
        local h=$1 dir=$WORK/$1/charon
        mkdir -p "$dir"
        sed "s|@DIR@|$dir|g" "$src_dir/bench/strongswan/strongswan.conf.in" >"$dir/strongswan.conf"
        sed -e "s|@LOCAL@|$2|g" -e "s|@REMOTE@|$3|g" -e "s|@LOCAL_TS@|$4|g" -e "s|@REMOTE_TS@|$5|g" \
                -e "s|@PSK@|$6|g" "$src_dir/bench/strongswan/swanctl.conf.in" >"$dir/swanctl.conf"
        chmod 600 "$dir/swanctl.conf"
        STRONGSWAN_CONF=$dir/strongswan.conf ip netns exec "$(ns_of "$h")" \
                unshare -m sh -c 'mount -t tmpfs none /run && exec /usr/lib/ipsec/charon' >"$dir/out" 2>&1 &
        STOP_PIDS+=("$!")
        wait_for "$START_TIMEOUT" test -S "$dir/charon.vici" || { cat "$dir/out" "$dir/charon.log" >&2; fail "host $h: no charon"; }
        timeout 30 swanctl --load-all --noprompt --file "$dir/swanctl.conf" --uri "unix://$dir/charon.vici" >"$dir/load.log" 2>&1 ||
                { cat "$dir/load.log" >&2; fail "host $h: swanctl --load-all failed"; }
}

row_strongswan() {
        [[ -x /usr/lib/ipsec/charon ]] && command -v swanctl >/dev/null || fail "strongSwan is not installed"
        netns_setup
        local psk pa pb
        psk=$(random_key 32)
        charon_start a 192.0.2.1 192.0.2.2 10.1.0.1/32 10.2.0.1/32 "$psk"
        charon_start b 192.0.2.2 192.0.2.1 10.2.0.1/32 10.1.0.1/32 "$psk"
        local dir=$WORK/a/charon
        timeout 30 swanctl --initiate --child bench --timeout 20 --uri "unix://$dir/charon.vici" >"$dir/initiate.log" 2>&1 ||
                { cat "$dir/initiate.log" "$dir/charon.log" >&2; fail "swanctl --initiate failed"; }
        timeout 10 swanctl --list-sas --uri "unix://$dir/charon.vici" >"$dir/sas.log" 2>&1 || true
        grep -q "TUNNEL-in-UDP" "$dir/sas.log" || note strongswan "the CHILD_SA is not TUNNEL-in-UDP: $(tr '\n' ' ' <"$dir/sas.log")"
        grep -q "AES_GCM_16-256" "$dir/sas.log" || note strongswan "the CHILD_SA is not AES_GCM_16-256"
        echo "  IKE_SA $(grep -m1 -oE '[A-Z0-9_-]+/PRF_[A-Z0-9_/-]+' "$dir/sas.log" || echo '?'); CHILD_SA" \
                "$(grep -m1 -E '^ +bench: #' "$dir/sas.log" | sed 's/^ *//')"
        wait_for 5 in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no ping through the strongSwan tunnel"
        pa=${STOP_PIDS[0]} pb=${STOP_PIDS[1]}
        [[ $(cat /proc/"$pa"/comm) = charon && $(cat /proc/"$pb"/comm) = charon ]] || fail "charon pids"
        measure strongswan 10.1.0.1 10.2.0.1 "$pa" "$pb"
}

row_wireguard_go() {
        if [[ -n $wg_note ]] || ! command -v wireguard-go >/dev/null || ! command -v wg >/dev/null; then
                note wireguard_go "skipped: ${wg_note:-wireguard-go or wg is not installed}"
                return 0
        fi
        netns_setup
        local h dev pid pids=()
        for h in a b; do
                (umask 077 && wg genkey >"$WORK/wg-$h.key")
                wg pubkey <"$WORK/wg-$h.key" >"$WORK/wg-$h.pub"
        done
        for h in a b; do
                dev=$([[ $h = a ]] && echo "$WG_A" || echo "$WG_B")
                ip netns exec "$(ns_of "$h")" env WG_PROCESS_FOREGROUND=1 WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 \
                        wireguard-go "$dev" >"$WORK/wg-$h.out" 2>&1 &
                pid=$!
                STOP_PIDS+=("$pid")
                pids+=("$pid")
                wait_for "$START_TIMEOUT" test -S "/var/run/wireguard/$dev.sock" || { cat "$WORK/wg-$h.out" >&2; fail "no wireguard-go in $h"; }
        done
        in_host a wg set "$WG_A" private-key "$WORK/wg-a.key" listen-port 51820 \
                peer "$(<"$WORK/wg-b.pub")" allowed-ips 10.2.0.1/32 endpoint 192.0.2.2:51820
        in_host b wg set "$WG_B" private-key "$WORK/wg-b.key" listen-port 51820 \
                peer "$(<"$WORK/wg-a.pub")" allowed-ips 10.1.0.1/32 endpoint 192.0.2.1:51820
        ip -n "$NS_A" link set "$WG_A" up
        ip -n "$NS_B" link set "$WG_B" up
        ip -n "$NS_A" route add 10.2.0.1/32 dev "$WG_A" src 10.1.0.1
        ip -n "$NS_B" route add 10.1.0.1/32 dev "$WG_B" src 10.2.0.1
        wait_for 5 in_host a ping -c 1 -W 1 -I 10.1.0.1 10.2.0.1 >/dev/null || fail "no ping through wireguard-go"
        measure wireguard_go 10.1.0.1 10.2.0.1 "${pids[@]}"
}

failed=()
# run_row KEY TITLE FUNCTION [ARGS...]: in a subshell of its own, so that a
# row that fails is noted and the others still run.
run_row() {
        local key=$1 title=$2 rc=0
        shift 2
        [[ ,$rows, == *,$key,* ]] || return 0
        echo "== $title"
        (
                # (SIGINT is ignored in a background job: the main shell
                # gets it, and stops the row with SIGTERM.)
                trap 'exit 143' TERM
                trap 'rc=$?; trap - EXIT; row_teardown; exit $rc' EXIT
                "$@"
        ) &
        row_pid=$!
        wait "$row_pid" || rc=$?
        row_pid=
        ((rc == 0)) || { note "$key" "failed (exit $rc); see above"; failed+=("$key"); }
}

commit=$(git -C "$src_dir" describe --always --dirty 2>/dev/null || echo unknown)
versions="iperf3 $(dpkg-query -W -f='${Version}' iperf3 2>/dev/null), strongSwan $(dpkg-query -W -f='${Version}' strongswan-charon 2>/dev/null || echo -)"
versions+=", wireguard-go $(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null || echo -)"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== Bulkhead data path benchmark, $started, commit $commit, $(nproc) cores, $(uname -r), load $load"
echo "   $versions; tests $tests, $runs runs of each per row, host a -> host b:"
echo "   iperf3 TCP 1 stream ${secs} s; iperf3 UDP -b 0 ${secs} s, IP packets of 1400 and 256 bytes (DF);"
echo "   ping -c 100 -i 0.01 with nothing else running"

run_row clear "clear: iperf3 over the veth, 192.0.2.1 -> 192.0.2.2" row_clear
run_row bulkhead_udp "Bulkhead: manual tunnel, aes256gcm16, ESP in UDP 4500, 10.1.0.1 -> 10.2.0.1" row_bulkhead udp
run_row bulkhead_esp "Bulkhead: manual tunnel, aes256gcm16, raw ESP, 10.1.0.1 -> 10.2.0.1" row_bulkhead esp
run_row strongswan "strongSwan: charon + kernel-libipsec, IKEv2 PSK, esp aes256gcm16 (in UDP 4500)" row_strongswan
run_row wireguard_go "wireguard-go (Debian), 10.1.0.1 -> 10.2.0.1" row_wireguard_go

echo
python3 - "$WORK" "$HZ" "$secs" "$runs" "$commit" "$(nproc)" "$(uname -r)" "$started" "$load" "$versions" "$tests" \
        "${failed[*]+${failed[*]}}" <<'PY'
import json, os, statistics, sys
work, hz, secs, runs, commit, cores, kernel, started, load, versions, tests, failed = sys.argv[1:]
hz, secs, runs, failed = int(hz), int(secs), int(runs), failed.split()
order = ["clear", "bulkhead_udp", "bulkhead_esp", "strongswan", "wireguard_go"]
title = {"clear": "clear (veth)", "bulkhead_udp": "Bulkhead ESP-in-UDP", "bulkhead_esp": "Bulkhead raw ESP",
         "strongswan": "strongSwan libipsec", "wireguard_go": "wireguard-go"}
def tsv(name):
    return [l.rstrip("\n").split("\t") for l in open(os.path.join(work, name)) if l.strip()]
data = {}
for row, _, mbps, dp, host, wall in tsv("results.tsv"):
    data.setdefault(row, []).append((float(mbps), int(dp), int(host), int(wall)))
udp = {}
for row, test, _, rx, lost, tx, mbps in tsv("udp.tsv"):
    udp.setdefault(row, {}).setdefault(test, []).append((float(rx), float(lost), float(tx), float(mbps)))
ping = {}
for row, _, med, lo, avg, hi, lost in tsv("ping.tsv"):
    ping.setdefault(row, []).append((float(med), float(lo), float(avg), float(hi), float(lost)))
note = {}
for row, text in tsv("notes.tsv"):
    note.setdefault(row, []).append(text)
med = statistics.median
out = {}
for row in order:
    if row not in data and row not in udp and row not in ping:
        continue
    r = out[row] = {}
    if row in failed:
        r["failed"] = True
    if row in data:
        d = data[row]
        mb = [x[0] for x in d]
        wall = sum(x[3] for x in d) / 1000
        r.update({"mbps_median": round(med(mb), 1), "mbps_min": min(mb), "mbps_max": max(mb), "mbps_runs": mb})
        if d[0][1] >= 0:
            cpu = sum(x[1] for x in d) / hz
            r["dp_cpu_s_per_run"] = round(cpu / len(d), 2)
            r["dp_cores"] = round(cpu / wall, 2)
            r["mbit_per_dp_cpu_s"] = round(sum(x[0] for x in d) * secs / cpu) if cpu else None
        r["host_cores"] = round(sum(x[2] for x in d) / hz / wall, 2)
    for test, d in udp.get(row, {}).items():
        rx = [x[0] for x in d]
        r[test] = {"ip_bytes": int(test[3:]), "rx_pps_median": round(med(rx)), "rx_pps_min": round(min(rx)),
                   "rx_pps_max": round(max(rx)), "rx_pps_runs": [round(x) for x in rx],
                   "lost_pct_median": round(med(x[1] for x in d), 2), "tx_pps_median": round(med(x[2] for x in d)),
                   "rx_mbps_median": round(med(x[3] for x in d), 1)}
    if row in ping:
        d = ping[row]
        r["ping"] = {"rtt_us_median": med(x[0] for x in d), "rtt_us_min": min(x[1] for x in d),
                     "rtt_us_avg": round(statistics.mean(x[2] for x in d)), "rtt_us_max": max(x[3] for x in d),
                     "rtt_us_runs": [x[0] for x in d], "lost_pct": round(statistics.mean(x[4] for x in d), 1)}
# Each measurement against strongSwan's row (and TCP against clear too).
# For the ping RTT the ratio is the row's RTT over strongSwan's: below 1 is faster.
metric = {"tcp": lambda r: r.get("mbps_median"),
          "udp1400": lambda r: r.get("udp1400", {}).get("rx_pps_median"),
          "udp256": lambda r: r.get("udp256", {}).get("rx_pps_median"),
          "ping": lambda r: r.get("ping", {}).get("rtt_us_median")}
sref = out.get("strongswan", {})
for r in out.values():
    for m, f in metric.items():
        v, ref = f(r), f(sref)
        x = round(v / ref, 3) if v is not None and ref else None
        if m == "tcp":
            r["vs_strongswan"] = x
            r["vs_clear"] = round(v / out["clear"]["mbps_median"], 4) if v and out.get("clear", {}).get("mbps_median") else None
        elif m in r:
            r[m]["vs_strongswan"] = x
ratio = None
if "bulkhead_udp" not in failed and "strongswan" not in failed:
    ratio = out.get("bulkhead_udp", {}).get("vs_strongswan")

def cell(v, f):
    return f % v if v is not None else "-"
fmt = "%-20s %7s %6s  %9s %6s %6s  %9s %6s %6s  %9s %6s"
print(fmt % ("", "TCP", "x", "UDP 1400", "x", "lost", "UDP 256", "x", "lost", "ping RTT", "x"))
print(fmt % ("row", "Mbit/s", "sSwan", "kpps", "sSwan", "%", "kpps", "sSwan", "%", "median µs", "sSwan"))
for row, r in out.items():
    u1, u2, p = r.get("udp1400", {}), r.get("udp256", {}), r.get("ping", {})
    kpps = lambda u: cell(u.get("rx_pps_median") and u["rx_pps_median"] / 1000, "%.1f")
    print(fmt % (title[row] + (" FAILED" if r.get("failed") else ""), cell(r.get("mbps_median"), "%.0f"),
                 cell(r.get("vs_strongswan"), "%.2f"), kpps(u1), cell(u1.get("vs_strongswan"), "%.2f"),
                 cell(u1.get("lost_pct_median"), "%.1f"), kpps(u2), cell(u2.get("vs_strongswan"), "%.2f"),
                 cell(u2.get("lost_pct_median"), "%.1f"), cell(p.get("rtt_us_median"), "%.0f"),
                 cell(p.get("vs_strongswan"), "%.2f")))
if any("mbps_median" in r for r in out.values()):
    print()
    print("TCP in detail:")
    fmt = "%-20s %7s %13s %11s %8s %9s %8s %11s %10s"
    print(fmt % ("", "Mbit/s", "Mbit/s", "x", "x", "dp CPU-s", "dp", "Mbit per", "host"))
    print(fmt % ("row", "median", "min-max", "strongSwan", "clear", "per run", "cores", "dp CPU-s", "cores"))
    for row, r in out.items():
        if "mbps_median" not in r:
            continue
        g = lambda k, f: (f % r[k]) if r.get(k) is not None else "-"
        print(fmt % (title[row], "%.0f" % r["mbps_median"], "%.0f-%.0f" % (r["mbps_min"], r["mbps_max"]),
                     g("vs_strongswan", "%.2f"), g("vs_clear", "%.3f"), g("dp_cpu_s_per_run", "%.2f"),
                     g("dp_cores", "%.2f"), g("mbit_per_dp_cpu_s", "%.0f"), g("host_cores", "%.2f")))
if any(m in r for r in out.values() for m in ("udp1400", "udp256", "ping")):
    print()
    print("UDP and ping in detail (kpps received: min-max of the runs; sent: median):")
    for row, r in out.items():
        for m in ("udp1400", "udp256"):
            if m in r:
                u = r[m]
                print("  %-20s %-8s received %7.1f kpps (%.1f-%.1f), sent %7.1f kpps, %5.1f %% lost, %7.1f Mbit/s of payload"
                      % (title[row], m, u["rx_pps_median"] / 1000, u["rx_pps_min"] / 1000, u["rx_pps_max"] / 1000,
                         u["tx_pps_median"] / 1000, u["lost_pct_median"], u["rx_mbps_median"]))
        if "ping" in r:
            p = r["ping"]
            print("  %-20s ping     RTT median %.0f µs (runs: %s), min %.0f, mean %.0f, max %.0f µs, %.1f %% lost"
                  % (title[row], p["rtt_us_median"], " ".join("%.0f" % x for x in p["rtt_us_runs"]), p["rtt_us_min"],
                     p["rtt_us_avg"], p["rtt_us_max"], p["lost_pct"]))
for row in order:
    for text in note.get(row, []):
        print("note, %s: %s" % (title[row], text))
    if row in note:
        out.setdefault(row, {})["notes"] = note[row]

def lines(name):
    p = os.path.join(work, name)
    return [l.strip().split(None, 3) for l in open(p)] if os.path.exists(p) else []
perf = None
if os.path.exists(os.path.join(work, "perf-run.tsv")):
    event, mbps, cpu, samples, pa, pb = open(os.path.join(work, "perf-run.tsv")).read().rstrip("\n").split("\t")
    host = {pa: "a", pb: "b"}
    perf = {"event": event, "mbps": float(mbps), "filterd_cpu_s": float(cpu), "samples": int(samples),
            "objects": [{"host": host.get(f[1].split(":")[0], "?"), "dso": f[2], "pct": float(f[0].rstrip("%"))}
                        for f in lines("perf-objects.txt") if len(f) >= 3],
            "symbols": [{"dso": f[1], "sym": f[3], "pct": float(f[0].rstrip("%"))}
                        for f in lines("perf-symbols.txt") if len(f) >= 4],
            "libc_children": [{"sym": f[1], "pct": float(f[0].rstrip("%"))}
                                  for f in lines("perf-syscalls.txt") if len(f) >= 2]}
elif os.path.exists(os.path.join(work, "perf.txt")):
    perf = {"error": open(os.path.join(work, "perf.txt")).read().strip()}
json.dump({"datapath": {"date": started, "commit": commit, "cores": int(cores), "kernel": kernel, "load": load,
                        "versions": versions, "secs": secs, "runs": runs, "tests": tests.split(","), "rows": out,
                        "perf_filterd": perf, "ratio_vs_libipsec": ratio}},
          open(os.path.join(work, "result.json"), "w"), separators=(",", ":"))
# Bulkhead ESP-in-UDP's TCP median over strongSwan's; "none" when either row
# failed or did not measure TCP.
open(os.path.join(work, "ratio"), "w").write("none" if ratio is None else "%.3f" % ratio)
PY
if [[ -s $PERF_OUT ]]; then
        echo
        cat "$PERF_OUT"
fi
echo
cat "$WORK/result.json"
echo
((${#failed[@]} == 0)) || say "rows that failed: ${failed[*]}"
echo "ratio_vs_libipsec=$(cat "$WORK/ratio" 2>/dev/null || echo none)"
((${#failed[@]} == 0)) || exit 1
