#!/usr/bin/env bash
# The demo: two hosts in network namespaces, each running the whole suite in
# embedded mode on a private bus. It shows the services as busctl sees them,
# brings up a manual ESP tunnel between the hosts with ike, sends traffic
# through it, shows ike cmd=list and ipsecstat, changes a log level at run
# time, lets the supervisor heal a killed filterd, and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
        echo "demo: run as root (it installs packages, creates network namespaces and service users)" >&2
        exit 1
fi
scripts/deps.sh
scripts/users.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null

export BULKHEAD_BUILD=$PWD/build
# shellcheck source=../tests/lib.sh
source tests/lib.sh
# shellcheck source=../tests/netns.sh
source tests/netns.sh
set +e +o pipefail

WORK=$(mktemp -d /tmp/bulkhead-demo.XXXXXX)
chmod 755 "$WORK"
trap 'netns_cleanup; rm -rf "$WORK"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "Two hosts: a (192.0.2.1, inner 10.1.0.1) and b (192.0.2.2, inner 10.2.0.1)"
netns_setup
for h in a b; do
        if [ $h = a ]; then l=192.0.2.1 r=192.0.2.2 lt=10.1.0.1 rt=10.2.0.1 out=0x1001 in=0x2001
        else l=192.0.2.2 r=192.0.2.1 lt=10.2.0.1 rt=10.1.0.1 out=0x2001 in=0x1001; fi
        mkdir -p "$WORK/$h/etc/tunnels.d" "$WORK/$h/log"
        chown bulkhead-log: "$WORK/$h/log"
        cat >"$WORK/$h/etc/tunnels.d/demo.conf" <<CONF
[tunnel lab]
number = 1
type = manual
local = $l
remote = $r
local_ts = $lt
remote_ts = $rt
encap = udp
esp = aes256gcm16
esp_spi_out = $out
esp_spi_in = $in
CONF
        cat >"$WORK/$h/etc/isakmpd.conf" <<CONF
level information
information $WORK/$h/log/isakmpd.log
CONF
done
K1=$(random_key 36)
K2=$(random_key 36)
write_secrets a "esp lab out $K1" "esp lab in $K2"
write_secrets b "esp lab out $K2" "esp lab in $K1"
echo "tunnel definitions in $WORK/{a,b}/etc/tunnels.d, keys in secrets.conf (mode 0600, cryptod's user)"

step "Start a suite on each host (embedded mode, private bus)"
start=$(date +%s%N)
host_suite_start a
host_suite_start b
echo "both ready in $((($(date +%s%N) - start) / 1000000)) ms"
head -n 3 "$WORK/a/out"

step "The services of host a on its private bus"
show bctl_on a list --acquired --no-pager
for obj in Supervisor Tmd Isakmpd Crypto Filter Logger Stats; do
        bctl_on a tree --no-pager "org.bulkhead.$obj"
done
show bctl_on a introspect --no-pager org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1

step "Tunnels before activation"
show ike_on a cmd=list

step "Activate the manual tunnel on both hosts"
show ike_on a cmd=activate namelist=lab
show ike_on b cmd=activate numlist=1
show ike_on a cmd=list
show bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 ListSAs

step "Traffic through the tunnel"
show in_host a ping -c 3 -i 0.2 -I 10.1.0.1 10.2.0.1
head -c $((50 * 1024 * 1024)) /dev/urandom >"$WORK/data"
in_host b python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.2.0.1", 5001)); s.listen(1); s.settimeout(30)
c, _ = s.accept(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    n += len(b)
print("b received %d bytes" % n)
' &
server=$!
sleep 0.5
t0=$(date +%s%N)
in_host a python3 -c '
import socket
s = socket.create_connection(("10.2.0.1", 5001), timeout=30, source_address=("10.1.0.1", 0))
s.sendall(open("'"$WORK/data"'", "rb").read()); s.close()
'
wait $server
ms=$((($(date +%s%N) - t0) / 1000000))
echo "50 MB over TCP through the tunnel in $ms ms ($((50 * 8 * 1000 / (ms > 0 ? ms : 1))) Mbit/s)"

step "Statistics"
if [ -x build/cli/ipsecstat ]; then
        show build/cli/ipsecstat --run-dir "$WORK/a/run"
else
        show bctl_on a call org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 GetCounters
fi

step "Log levels at run time: isakmpd logging on (isakmpd.conf level), tmd at debug"
show ike_on a cmd=log
show ike_on a cmd=log service=tmd level=debug

step "The supervisor heals a killed filterd; tmd installs the tunnel again"
pid=$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Service1 Pid | cut -d' ' -f2)
show kill -9 "$pid"
for _ in $(seq 100); do
        n=$(bctl_on a get-property org.bulkhead.Filter /org/bulkhead/Filter org.bulkhead.Filter1 SAs 2>/dev/null)
        [ "$n" = "u 2" ] && break
        sleep 0.05
done
show bctl_on a call org.bulkhead.Supervisor /org/bulkhead/Supervisor org.bulkhead.Supervisor1 ListServices
show in_host a ping -c 2 -i 0.2 -I 10.1.0.1 10.2.0.1

step "Remove the tunnel and stop"
show ike_on a cmd=remove namelist=lab
show ike_on b cmd=remove namelist=lab
show ike_on a cmd=list
netns_cleanup
left=$(pgrep -f -- "$WORK" || true)
[ -z "$left" ] && echo "no process left" || { echo "left: $left"; exit 1; }
