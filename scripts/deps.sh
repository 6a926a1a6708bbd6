#!/usr/bin/env bash
# Installs what building, running and testing Bulkhead needs on Debian 12.
# Idempotent: packages already present are left alone.
set -euo pipefail

packages=(
        meson ninja-build pkg-config gcc python3
        libdbus-1-dev libglib2.0-dev libssl-dev libseccomp-dev
        dbus-daemon dbus-bin systemd       # private bus, dbus-send, dbus-monitor, busctl
        procps psmisc iproute2 util-linux  # pgrep, netns, su
        iputils-ping                       # ping through the tunnels
        iptables                           # the exchange tests' queued wire (tests/ike/wire.py)
        python3-cryptography               # the IKEv2 test peer (tests/ike/ikepeer.py)
        strongswan-charon strongswan-swanctl # the interop peer (tests/interop)
        libstrongswan-standard-plugins     # with its openssl and gcm,
        libstrongswan-extra-plugins        # curve25519 and chapoly,
        libcharon-extra-plugins            # and kernel-libipsec plugins
        groff-base man-db                  # man page checks
        clang libclang-rt-dev llvm         # the fuzz build: libFuzzer, llvm-symbolizer
)

missing=()
for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
        exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
        echo "deps: missing packages: ${missing[*]}; run as root to install them" >&2
        exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
