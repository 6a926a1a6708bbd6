#!/usr/bin/env python3
"""Captures one ESP-in-UDP frame on an interface, or sends forged copies of
one from another: the packets an attacker on the path would inject.

  inject.py capture IFACE FILE           first IPv4 UDP/4500 frame seen
  inject.py send IFACE FILE KIND         KIND: replay, unknown-spi, corrupt,
                                         bad-icv, truncated, raw
  inject.py joined FILE SRC DST SPI      the frame's ESP behind a copy of it
                                         with SPI (hex), sent from SRC to
                                         DST:4500 as one UDP_SEGMENT send
"""
import socket
import struct
import sys
import time

ETH_P_IP = 0x0800


def ip_checksum(hdr):
    s = 0
    for i in range(0, len(hdr), 2):
        s += (hdr[i] << 8) + hdr[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def capture(iface, path):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
    s.bind((iface, 0))
    s.settimeout(15)
    deadline = time.time() + 15
    while time.time() < deadline:
        frame = s.recv(65535)
        ip = frame[14:]
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 15) * 4
        dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
        payload = ip[ihl + 8:]
        if dport == 4500 and len(payload) > 8 and payload[:4] != b"\0\0\0\0":
            open(path, "wb").write(frame)
            return 0
    print("no ESP-in-UDP frame seen", file=sys.stderr)
    return 1


def forge(frame, kind):
    eth, ip = bytearray(frame[:14]), bytearray(frame[14:])
    ihl = (ip[0] & 15) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    ip = ip[:total]
    udp = ihl
    esp = ihl + 8
    # The same ESP packet again. Its UDP checksum is cleared as for the others:
    # a frame captured on a veth may carry a partial (offloaded) one.
    if kind == "replay":
        pass
    elif kind == "unknown-spi":
        ip[esp:esp + 4] = b"\xde\xad\x00\x01"
    elif kind in ("corrupt", "bad-icv"):
        # A fresh sequence number, so that the replay pre-check lets it
        # through to the integrity check, which must refuse it.
        seq = struct.unpack("!I", ip[esp + 4:esp + 8])[0]
        struct.pack_into("!I", ip, esp + 4, seq + (100 if kind == "corrupt" else 200))
        if kind == "corrupt":
            ip[esp + 8 + 8 + 5] ^= 0x40   # inside the ciphertext
        else:
            ip[-1] ^= 0x01                # the last byte of the ICV
    elif kind == "truncated":
        ip = ip[:esp + 20]
    elif kind == "raw":
        # The same ESP packet without its UDP header, as raw ESP (IP
        # protocol 50): its SA is in UDP, so it must not reach it.
        ip = ip[:ihl] + ip[esp:]
        ip[9] = 50
        struct.pack_into("!H", ip, 2, len(ip))
        struct.pack_into("!H", ip, 10, 0)
        struct.pack_into("!H", ip, 10, ip_checksum(bytes(ip[:ihl])))
        return bytes(eth + ip)
    else:
        raise SystemExit("unknown kind " + kind)
    struct.pack_into("!H", ip, 2, len(ip))
    struct.pack_into("!H", ip, udp + 4, len(ip) - udp)
    struct.pack_into("!H", ip, udp + 6, 0)      # no UDP checksum (IPv4)
    struct.pack_into("!H", ip, 10, 0)
    struct.pack_into("!H", ip, 10, ip_checksum(bytes(ip[:ihl])))
    return bytes(eth + ip)


def send(iface, path, kind):
    frame = open(path, "rb").read()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    s.send(forge(frame, kind))
    return 0


SOL_UDP, UDP_SEGMENT = 17, 103


def joined(path, src, dst, spi):
    """Two ESP packets of equal length in one send with UDP segmentation
    offload: the kernel keeps them together across the veth, and the
    receiver's selector reads the first one's SPI for both."""
    frame = open(path, "rb").read()
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    total = struct.unpack("!H", ip[2:4])[0]
    esp = ip[ihl + 8:total]
    first = struct.pack("!I", int(spi, 16)) + esp[4:]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((src, 0))
    s.sendmsg([first + esp], [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", len(esp)))], 0, (dst, 4500))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "capture":
        sys.exit(capture(sys.argv[2], sys.argv[3]))
    if sys.argv[1] == "joined":
        sys.exit(joined(*sys.argv[2:6]))
    sys.exit(send(sys.argv[2], sys.argv[3], sys.argv[4]))
