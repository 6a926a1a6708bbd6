"""The wire between two suites, held by the test: every IKE datagram that
host a sends or receives passes through a netfilter queue (NFQUEUE) that
this module reads, so that a test decides when each message is delivered,
dropped or held back, and sees what was exchanged, in order.

Only IKE is queued (UDP port 500, and 4500 with the non-ESP marker); the
data path's ESP goes by untouched. Use as a context manager inside host a's
network namespace: the iptables rules are added on entry and removed on
exit. No library beyond Python's own: the netlink messages of
nfnetlink_queue are built and parsed here.
"""

import select
import socket
import struct
import subprocess
import time

from ikepeer import N_NAMES, PL_KE, PL_N, PL_SK, PL_SKF, parse_message, parse_notify

EXCHANGES = {34: "IKE_SA_INIT", 35: "IKE_AUTH", 36: "CREATE_CHILD_SA", 37: "INFORMATIONAL"}

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET = 0
NFQNL_MSG_VERDICT = 1
NFQNL_MSG_CONFIG = 2
NFQA_CFG_CMD = 1
NFQA_CFG_PARAMS = 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_PACKET = 2
NFQA_PACKET_HDR = 1
NFQA_VERDICT_HDR = 2
NFQA_PAYLOAD = 10
NF_DROP = 0
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLM_F_ACK = 4
NLMSG_ERROR = 2

QUEUE = 7
# iptables rule bodies (after -A CHAIN): IKE on 500, and on 4500 when the
# four octets after the UDP header are zero (the non-ESP marker).
MARKER = ["-m", "u32", "--u32", "0>>22&0x3C@8=0"]
RULES = [
    ("OUTPUT", ["-p", "udp", "--dport", "500"]),
    ("INPUT", ["-p", "udp", "--sport", "500"]),
    ("OUTPUT", ["-p", "udp", "--dport", "4500"] + MARKER),
    ("INPUT", ["-p", "udp", "--sport", "4500"] + MARKER),
]


def _attr(type, data):
    n = 4 + len(data)
    return struct.pack("=HH", n, type) + data + b"\0" * ((4 - n % 4) % 4)


def _attrs(data):
    out = {}
    while len(data) >= 4:
        n, type = struct.unpack_from("=HH", data)
        if n < 4:
            break
        out[type & 0x7FFF] = data[4:n]
        data = data[(n + 3) & ~3:]
    return out


class Packet:
    """One queued IKE datagram: who sent it, its header, when it came."""

    def __init__(self, wire, pid, ip):
        self.wire = wire
        self.pid = pid
        self.time = time.monotonic()
        self.ip = ip
        v = ip[0] >> 4
        if v == 4:
            ihl = (ip[0] & 15) * 4
            src, dst, udp = ip[12:16], ip[16:20], ip[ihl:]
        else:
            src, dst, udp = ip[8:24], ip[24:40], ip[40:]
        self.src = socket.inet_ntop(socket.AF_INET if v == 4 else socket.AF_INET6, src)
        self.dst = socket.inet_ntop(socket.AF_INET if v == 4 else socket.AF_INET6, dst)
        self.sport, self.dport = struct.unpack_from("!HH", udp)
        data = udp[8:]
        if self.sport == 4500 or self.dport == 4500:
            data = data[4:]
        self.ike = data
        self.frm = "a" if self.src == wire.a_addr else "b"
        self.to = "b" if self.frm == "a" else "a"
        try:
            self.msg = parse_message(data)
        except Exception:
            self.msg = None
        m = self.msg or dict(exchange=0, flags=0, msg_id=-1, payloads=[])
        self.exchange = EXCHANGES.get(m["exchange"], str(m["exchange"]))
        self.response = bool(m["flags"] & 0x20)
        self.initiator = bool(m["flags"] & 0x08)
        self.msg_id = m["msg_id"]
        self.spis = (m.get("spi_i"), m.get("spi_r"))
        self.payloads = m["payloads"]
        self.verdict = None

    def notifies(self):
        """The names of the notifies in the clear part of the message."""
        types = [parse_notify(body)[0] for type, _, body in self.payloads if type == PL_N]
        return [N_NAMES.get(t, str(t)) for t in types]

    def ke_group(self):
        for type, _, body in self.payloads:
            if type == PL_KE:
                return struct.unpack_from("!H", body)[0]
        return None

    def encrypted(self):
        return any(type in (PL_SK, PL_SKF) for type, _, _ in self.payloads)

    def __str__(self):
        kind = "response" if self.response else "request"
        extra = ""
        if self.notifies():
            extra += " " + ",".join(self.notifies())
        if self.ke_group():
            extra += " KE %d" % self.ke_group()
        return "%s->%s %s %s %d (%d octets)%s" % (self.frm, self.to, self.exchange, kind, self.msg_id,
                                                  len(self.ike), extra)

    def accept(self):
        self.wire._verdict(self, NF_ACCEPT)

    def drop(self):
        self.wire._verdict(self, NF_DROP)


class Wire:
    """Queued IKE between host a (a_addr, where this runs) and host b.

    log lists every packet seen, in order, with the verdict it got. A test
    either takes packets one at a time (next) or lets a rule decide (run)."""

    def __init__(self, a_addr):
        self.a_addr = a_addr
        self.log = []
        self.seq = 0

    def __enter__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.bind((0, 0))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._config(_attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0)))
        self._config(_attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0xFFFF, NFQNL_COPY_PACKET)))
        for chain, rule in RULES:
            self._iptables("-A", chain, rule)
        return self

    def __exit__(self, *exc):
        for chain, rule in RULES:
            self._iptables("-D", chain, rule)
        # Whatever is still held goes through: the suites then wind down
        # by themselves.
        for p in self.log:
            if p.verdict is None:
                p.accept()
        self.sock.close()

    @staticmethod
    def _iptables(op, chain, rule):
        for tool in ("iptables", "ip6tables"):
            # IPv6's header has a fixed length: the marker is at 40 + 8.
            body = [x if tool == "iptables" or x != MARKER[-1] else "48=0" for x in rule]
            subprocess.run([tool, op, chain] + body + ["-j", "NFQUEUE", "--queue-num", str(QUEUE)],
                           check=(op == "-A"))

    def _send(self, msg_type, payload, flags=NLM_F_REQUEST):
        self.seq += 1
        nfgen = struct.pack("!BBH", socket.AF_UNSPEC, 0, QUEUE)
        body = nfgen + payload
        hdr = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, flags, self.seq, 0)
        self.sock.send(hdr + body)

    def _config(self, attr):
        self._send(NFQNL_MSG_CONFIG, attr, NLM_F_REQUEST | NLM_F_ACK)
        # The acknowledgement (an NLMSG_ERROR with error 0) or a refusal.
        data = self.sock.recv(65536)
        n, type = struct.unpack_from("=IH", data)
        if type == NLMSG_ERROR:
            err = struct.unpack_from("=i", data, 16)[0]
            if err:
                raise OSError(-err, "nfnetlink_queue configuration refused")

    def _verdict(self, p, verdict):
        if p.verdict is not None:
            return
        p.verdict = "accepted" if verdict == NF_ACCEPT else "dropped"
        self._send(NFQNL_MSG_VERDICT, _attr(NFQA_VERDICT_HDR, struct.pack("!II", verdict, p.pid)))

    def next(self, timeout):
        """The next queued packet (its verdict not yet given), or None."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            data = self.sock.recv(1 << 17)
            while len(data) >= 16:
                n, type = struct.unpack_from("=IH", data)
                msg, data = data[:n], data[(n + 3) & ~3:]
                if type != (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
                    continue
                a = _attrs(msg[20:])
                if NFQA_PACKET_HDR not in a or NFQA_PAYLOAD not in a:
                    continue
                pid = struct.unpack_from("!I", a[NFQA_PACKET_HDR])[0]
                p = Packet(self, pid, a[NFQA_PAYLOAD])
                self.log.append(p)
                return p

    def run(self, seconds, rule=None, until=None):
        """Gives every packet for SECONDS its verdict: rule(packet) returns
        "accept", "drop" or "hold" (kept back until the rule, or the end of
        the test, accepts it). Stops early once until() is true, checked
        after each packet and at least every 0.2 s. Returns whether until()
        held."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            p = self.next(min(0.2, max(0.0, end - time.monotonic())))
            if p is not None:
                what = rule(p) if rule else "accept"
                if what == "accept":
                    p.accept()
                elif what == "drop":
                    p.drop()
            if until and until():
                return True
        return bool(until and until())

    def cross(self, seconds, exchange):
        """Makes the two sides' requests of EXCHANGE cross: the first is
        held back (its retransmissions dropped) until the other side's
        comes, then both go. Returns {"a": request, "b": request}, or None
        when that did not happen within SECONDS."""
        held = {}

        def rule(p):
            if p.exchange != exchange or p.response or len(held) == 2:
                return "accept"
            if p.frm in held:
                return "drop"  # a retransmission of the held request
            held[p.frm] = p
            if len(held) == 2:
                for q in held.values():
                    q.accept()
                return "accept"
            return "hold"
        self.run(seconds, rule, until=lambda: len(held) == 2)
        return held if len(held) == 2 else None

    def seen(self, frm=None, exchange=None, response=None):
        return [p for p in self.log if (frm is None or p.frm == frm) and (exchange is None or p.exchange == exchange)
                and (response is None or p.response == response)]

    def transcript(self):
        return "\n".join("  %6.3f %s [%s]" % (p.time - self.log[0].time, p, p.verdict or "held")
                         for p in self.log)
