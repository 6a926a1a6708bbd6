#!/usr/bin/env python3
# A bounded TCP transfer through a tunnel, for tcp_transfer in netns.sh.
#   xfer.py recv ADDR PORT OUT                accept one connection, write
#                                             "SHA256 LENGTH" to OUT; OUT.ready
#                                             appears once it listens
#   xfer.py send ADDR PORT SRC FILE [SECONDS] send FILE to ADDR:PORT from
#                                             address SRC, spread evenly over
#                                             SECONDS if given; prints the
#                                             milliseconds until the receiver
#                                             had it all
# Every socket operation times out after 60 s.
import hashlib
import os
import socket
import sys
import time

TIMEOUT = 60


def recv(addr, port, out):
    s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(1)
    s.settimeout(TIMEOUT)
    open(out + ".ready", "w").close()
    c, _ = s.accept()
    c.settimeout(TIMEOUT)
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(1 << 16)
        if not b:
            break
        h.update(b)
        n += len(b)
    with open(out, "w") as f:
        f.write("%s %d\n" % (h.hexdigest(), n))
    c.close()


def send(addr, port, src, path, spread):
    s = socket.create_connection((addr, port), timeout=TIMEOUT, source_address=(src, 0))
    size = os.path.getsize(path)
    start = time.monotonic()
    sent = 0
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 16)
            if not b:
                break
            s.sendall(b)
            sent += len(b)
            if spread > 0:
                ahead = start + spread * sent / size - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
    s.shutdown(socket.SHUT_WR)
    # Wait for the receiver to close: everything sent was read.
    while s.recv(1 << 16):
        pass
    s.close()
    print("%.0f" % ((time.monotonic() - start) * 1000))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "recv":
        recv(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) in (6, 7) and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6]) if len(sys.argv) == 7 else 0)
    else:
        sys.exit("usage: xfer.py recv ADDR PORT OUT | send ADDR PORT SRC FILE [SECONDS]")
