#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""A minimal IKEv2 initiator (RFC 7296) for the tests: pre-shared keys,
one suite (AES-GCM-16/256, PRF_HMAC_SHA2_256, Curve25519), one CHILD SA.

It is a test tool, not an implementation: every field of what it sends can
be overridden, so that a test breaks exactly one thing ("mutations", named
below). Everything it receives is checked as strictly as a real initiator
would (the responder's AUTH included).

Each command is one exchange; the IKE SA's state (SPIs, nonces, keys, the
next message ID) lives in a JSON file between commands, so that a shell
script can look at the responder between two steps:

  ikepeer.py [--natt] [--state FILE] init [--mutate M]
  ikepeer.py --state FILE auth [--mutate M] [--msg-id N]
  ikepeer.py --state FILE info [--delete] [--clear] [--msg-id N]
  ikepeer.py --state FILE create-child [--rekey-ike] [--msg-id N]
  ikepeer.py --state FILE listen       (a request the responder sends)
  ikepeer.py --state FILE show FIELD   (child_spi_in, spi_r, ...: hex)
  ikepeer.py list init|auth            (the mutations)

One line on stdout tells what came back:
  none                     no answer within the timeout
  notify NAME [HEX]        an unprotected answer with an error notification
  sk-notify NAME           a protected answer with an error notification
  sk-answer [TYPES]        a protected answer without one (INFORMATIONAL)
  request EXCHANGE [TYPES] listen: a protected request from the responder
  ok                       IKE_SA_INIT: a complete answer, keys derived;
                           IKE_AUTH: the responder authenticated (AUTH
                           verified), CHILD SA and selectors as asked
  bad: WHY                 an answer no responder should send (exit 1)
"""

import argparse
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# ---------------------------------------------------------------- numbers (RFC 7296 3, IANA)

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37
FLAG_I, FLAG_R = 0x08, 0x20
VERSION = 0x20

PL_NONE, PL_SA, PL_KE, PL_IDI, PL_IDR, PL_AUTH, PL_NONCE, PL_N, PL_D, PL_V, PL_TSI, PL_TSR, PL_SK = (
    0, 33, 34, 35, 36, 39, 40, 41, 42, 43, 44, 45, 46)
PL_NAMES = {33: "SA", 34: "KE", 35: "IDi", 36: "IDr", 37: "CERT", 38: "CERTREQ", 39: "AUTH", 40: "N(once)",
            41: "N", 42: "D", 43: "V", 44: "TSi", 45: "TSr", 46: "SK", 47: "CP", 48: "EAP", 53: "SKF"}

PROTO_IKE, PROTO_ESP = 1, 3
T_ENCR, T_PRF, T_INTEG, T_DH, T_ESN = 1, 2, 3, 4, 5
ENCR_AES_GCM_16, PRF_HMAC_SHA2_256, DH_X25519, DH_ECP256, NO_ESN = 20, 5, 31, 19, 0
ATTR_KEY_LENGTH = 14

ID_FQDN = 2
AUTH_SHARED_KEY = 2
TS_IPV4_ADDR_RANGE = 7

N_NAMES = {
    1: "UNSUPPORTED_CRITICAL_PAYLOAD", 4: "INVALID_IKE_SPI", 5: "INVALID_MAJOR_VERSION", 7: "INVALID_SYNTAX",
    9: "INVALID_MESSAGE_ID", 11: "INVALID_SPI", 14: "NO_PROPOSAL_CHOSEN", 17: "INVALID_KE_PAYLOAD",
    24: "AUTHENTICATION_FAILED", 34: "SINGLE_PAIR_REQUIRED", 35: "NO_ADDITIONAL_SAS",
    36: "INTERNAL_ADDRESS_FAILURE", 37: "FAILED_CP_REQUIRED", 38: "TS_UNACCEPTABLE", 39: "INVALID_SELECTORS",
    43: "TEMPORARY_FAILURE", 44: "CHILD_SA_NOT_FOUND",
    16388: "NAT_DETECTION_SOURCE_IP", 16389: "NAT_DETECTION_DESTINATION_IP", 16390: "COOKIE",
}
N_NAT_SOURCE, N_NAT_DESTINATION, N_COOKIE, N_FRAGMENTATION_SUPPORTED = 16388, 16389, 16390, 16430
PL_SKF = 53
N_ERROR_MAX = 16383

KEY_PAD = b"Key Pad for IKEv2"
NONESP_MARKER = b"\0\0\0\0"


class Bad(Exception):
    """An answer that no correct responder sends."""


# ---------------------------------------------------------------- encoding

class Payload:
    """One payload: type and body, and what a test may override: the
    critical bit, the Payload Length and the Next Payload field."""

    def __init__(self, type, body, critical=False, length=None, next=None):
        self.type, self.body, self.critical, self.length, self.next = type, body, critical, length, next


def encode_chain(payloads, tail_type=PL_NONE):
    """The payloads with their generic headers; the last one's Next Payload
    is tail_type (SK's type when SK follows)."""
    out = b""
    for i, p in enumerate(payloads):
        nxt = p.next if p.next is not None else (payloads[i + 1].type if i + 1 < len(payloads) else tail_type)
        length = p.length if p.length is not None else 4 + len(p.body)
        out += struct.pack(">BBH", nxt, 0x80 if p.critical else 0, length & 0xffff) + p.body
    return out


class Message:
    """An IKE message: the 28-octet header (every field overridable) and
    its payloads."""

    def __init__(self, exchange, spi_i, spi_r=0, msg_id=0, flags=FLAG_I, payloads=()):
        self.exchange, self.spi_i, self.spi_r, self.msg_id, self.flags = exchange, spi_i, spi_r, msg_id, flags
        self.payloads = list(payloads)
        self.version = VERSION
        self.first = None       # the header's Next Payload, when not the first payload's type
        self.length = None      # the header's Length, when not the real one
        self.extra = b""        # octets after the last payload, inside Length
        self.trailing = b""     # octets after Length, in the same datagram

    def header(self, first, length):
        return struct.pack(">QQBBBBII", self.spi_i, self.spi_r, self.first if self.first is not None else first,
                           self.version, self.exchange, self.flags, self.msg_id, length)

    def encode(self, tail_type=PL_NONE, tail_len=0):
        """The message; tail_len octets of a last payload (SK) are to follow."""
        chain = encode_chain(self.payloads, tail_type) + self.extra
        first = self.payloads[0].type if self.payloads else tail_type
        length = self.length if self.length is not None else 28 + len(chain) + tail_len
        return self.header(first, length) + chain


def parse_chain(data, first):
    """[(type, critical, body)] of a payload chain; Bad when malformed."""
    out, off, nxt = [], 0, first
    while nxt != PL_NONE:
        if len(data) - off < 4:
            raise Bad("a generic payload header is cut short")
        n, flags, length = struct.unpack_from(">BBH", data, off)
        if length < 4 or length > len(data) - off:
            raise Bad("Payload Length %d out of range" % length)
        out.append((nxt, bool(flags & 0x80), data[off + 4:off + length]))
        off += length
        if nxt == PL_SK:
            break
        nxt = n
    if off != len(data):
        raise Bad("%d octets after the last payload" % (len(data) - off))
    return out


def parse_message(raw):
    if len(raw) < 28:
        raise Bad("a datagram of %d octets" % len(raw))
    spi_i, spi_r, first, version, exchange, flags, msg_id, length = struct.unpack_from(">QQBBBBII", raw)
    if version != VERSION or length != len(raw):
        raise Bad("header: version %#x, Length %d of %d" % (version, length, len(raw)))
    return dict(spi_i=spi_i, spi_r=spi_r, first=first, exchange=exchange, flags=flags, msg_id=msg_id,
                payloads=parse_chain(raw[28:], first))


# ---------------------------------------------------------------- payload bodies

def transform(type, id, key_bits=None, attrs=None):
    """A transform as a dict; attrs (raw octets) replaces the Key Length."""
    return dict(type=type, id=id, key_bits=key_bits, attrs=attrs)


def ike_proposal(num=1):
    return dict(num=num, proto=PROTO_IKE, spi=b"",
                transforms=[transform(T_ENCR, ENCR_AES_GCM_16, 256), transform(T_PRF, PRF_HMAC_SHA2_256),
                            transform(T_DH, DH_X25519)])


def esp_proposal(spi, num=1, key_bits=256):
    return dict(num=num, proto=PROTO_ESP, spi=spi,
                transforms=[transform(T_ENCR, ENCR_AES_GCM_16, key_bits), transform(T_ESN, NO_ESN)])


def sa_body(proposals):
    """3.3: proposals with their transforms. A proposal's num_transforms,
    if present, replaces the real count."""
    out = b""
    for i, p in enumerate(proposals):
        ts = b""
        for k, t in enumerate(p["transforms"]):
            attrs = t["attrs"] if t["attrs"] is not None else (
                struct.pack(">HH", 0x8000 | ATTR_KEY_LENGTH, t["key_bits"]) if t["key_bits"] else b"")
            ts += struct.pack(">BBHBBH", 0 if k + 1 == len(p["transforms"]) else 3, 0, 8 + len(attrs),
                              t["type"], 0, t["id"]) + attrs
        count = p.get("num_transforms", len(p["transforms"]))
        out += struct.pack(">BBHBBBB", 0 if i + 1 == len(proposals) else 2, 0, 8 + len(p["spi"]) + len(ts),
                           p["num"], p["proto"], len(p["spi"]), count) + p["spi"] + ts
    return out


def parse_sa(body):
    """The proposals of an SA payload: [dict(num, proto, spi, transforms=[(type, id, key_bits)])]."""
    out, off, last = [], 0, 2
    while last == 2:
        if len(body) - off < 8:
            raise Bad("SA: a proposal cut short")
        last, _, plen, num, proto, spi_size, n = struct.unpack_from(">BBHBBBB", body, off)
        if plen < 8 + spi_size or plen > len(body) - off:
            raise Bad("SA: Proposal Length %d" % plen)
        prop = body[off:off + plen]
        p = dict(num=num, proto=proto, spi=prop[8:8 + spi_size], transforms=[])
        toff = 8 + spi_size
        for _ in range(n):
            if len(prop) - toff < 8:
                raise Bad("SA: a transform cut short")
            _, _, tlen, ttype, _, tid = struct.unpack_from(">BBHBBH", prop, toff)
            if tlen < 8 or tlen > len(prop) - toff:
                raise Bad("SA: Transform Length %d" % tlen)
            bits = None
            if tlen == 12 and struct.unpack_from(">H", prop, toff + 8)[0] == 0x8000 | ATTR_KEY_LENGTH:
                bits = struct.unpack_from(">H", prop, toff + 10)[0]
            p["transforms"].append((ttype, tid, bits))
            toff += tlen
        if toff != plen:
            raise Bad("SA: Num Transforms %d does not fill the proposal" % n)
        out.append(p)
        off += plen
    if off != len(body):
        raise Bad("SA: octets after the last proposal")
    return out


def notify_body(type, data=b"", proto=0, spi=b""):
    return struct.pack(">BBH", proto, len(spi), type) + spi + data


def parse_notify(body):
    if len(body) < 4 or len(body) < 4 + body[1]:
        raise Bad("a Notify payload cut short")
    return struct.unpack_from(">H", body, 2)[0], body[4 + body[1]:]


def id_body(fqdn, id_type=ID_FQDN):
    return bytes([id_type, 0, 0, 0]) + fqdn


def ts_body(addr, proto=0, ports=(0, 65535)):
    a = socket.inet_aton(addr)
    return struct.pack(">B3x", 1) + struct.pack(">BBHHH", TS_IPV4_ADDR_RANGE, proto, 16, ports[0], ports[1]) + a + a


def natd(spi_i, spi_r, addr, port):
    """2.23: SHA-1(SPIi | SPIr | IP | port)."""
    return hashlib.sha1(struct.pack(">QQ", spi_i, spi_r) + socket.inet_aton(addr) + struct.pack(">H", port)).digest()


# ---------------------------------------------------------------- keys

def prf(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def prf_plus(key, seed, n):
    """2.13: T1 | T2 | ..., Tk = prf(K, Tk-1 | S | k)."""
    out, t, k = b"", b"", 1
    while len(out) < n:
        t = prf(key, t + seed + bytes([k]))
        out += t
        k += 1
    return out[:n]


def derive(ni, nr, shared, spi_i, spi_r):
    """2.14: SKEYSEED = prf(Ni | Nr, g^ir); SK_d | SK_ai | SK_ar | SK_ei |
    SK_er | SK_pi | SK_pr = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr). AES-GCM
    has no SK_a; each SK_e is the 32-octet key and the 4-octet salt
    (RFC 5282 7.1)."""
    skeyseed = prf(ni + nr, shared)
    k = prf_plus(skeyseed, ni + nr + struct.pack(">QQ", spi_i, spi_r), 32 + 36 + 36 + 32 + 32)
    return dict(sk_d=k[0:32], sk_ei=k[32:68], sk_er=k[68:104], sk_pi=k[104:136], sk_pr=k[136:168])


def psk_auth(psk, message, nonce, sk_p, id_payload_body):
    """2.15: prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>),
    SignedOctets = RealMessage | Nonce of the other side | prf(SK_p, ID')."""
    return prf(prf(psk, KEY_PAD), message + nonce + prf(sk_p, id_payload_body))


# ---------------------------------------------------------------- the peer

class Peer:
    def __init__(self, args):
        self.args = args
        self.local = (args.local, 4500 if args.natt else 500)
        self.remote = (args.remote, 4500 if args.natt else 500)
        self.natt = args.natt
        self.psk = args.psk.encode()
        self.st = {}
        if args.state and os.path.exists(args.state) and args.command != "init":
            with open(args.state) as f:
                self.st = {k: bytes.fromhex(v) if isinstance(v, str) else v for k, v in json.load(f).items()}
            self.natt = self.st.get("natt", self.natt)
            if self.natt:
                self.local, self.remote = (self.local[0], 4500), (self.remote[0], 4500)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(self.local)

    def save(self):
        if self.args.state:
            with open(self.args.state, "w") as f:
                json.dump({k: v.hex() if isinstance(v, bytes) else v for k, v in self.st.items()}, f)

    def log(self, what):
        print("ikepeer: " + what, file=sys.stderr)

    def send(self, raw, marker=True):
        self.sock.sendto((NONESP_MARKER if self.natt and marker else b"") + raw, self.remote)

    def receive(self, exchange, msg_id, timeout):
        """The response to our request exchange/msg_id, or None after
        timeout seconds. Anything else that comes (the responder's own
        requests, answers to older SAs) is passed over."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                raw, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            if self.natt:
                if raw[:4] != NONESP_MARKER:
                    continue
                raw = raw[4:]
            if len(raw) < 28:
                continue
            spi_i, _, _, _, exch, flags, mid, _ = struct.unpack_from(">QQBBBBII", raw)
            if spi_i == self.st["spi_i"] and exch == exchange and flags & FLAG_R and mid == msg_id:
                return raw
            self.log("passed over: exchange %d flags %#x message ID %d" % (exch, flags, mid))

    def listen(self):
        """A request the responder sends on this IKE SA within the timeout
        (not answered: the test only looks)."""
        end = time.monotonic() + self.args.timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return "none"
            self.sock.settimeout(left)
            try:
                raw, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return "none"
            if self.natt:
                raw = raw[4:] if raw[:4] == NONESP_MARKER else b""
            if len(raw) < 28:
                continue
            spi_i, spi_r, _, _, exch, flags, _, _ = struct.unpack_from(">QQBBBBII", raw)
            if spi_i != self.st["spi_i"] or spi_r != self.st["spi_r"] or flags & FLAG_R:
                continue
            _, inner = self.unprotect(raw)
            names = {IKE_AUTH: "IKE_AUTH", CREATE_CHILD_SA: "CREATE_CHILD_SA", INFORMATIONAL: "INFORMATIONAL"}
            return ("request %s %s" % (names.get(exch, str(exch)),
                                       " ".join(PL_NAMES.get(t, str(t)) for t, _, _ in inner))).rstrip()

    # -------------------------------------------------------- IKE_SA_INIT

    def init_message(self):
        """The IKE_SA_INIT request as a Message, with the private key."""
        spi_i = int.from_bytes(os.urandom(8), "big") | 1
        priv = X25519PrivateKey.generate()
        pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ni = os.urandom(32)
        m = Message(IKE_SA_INIT, spi_i, payloads=[
            Payload(PL_SA, sa_body([ike_proposal()])),
            Payload(PL_KE, struct.pack(">HH", DH_X25519, 0) + pub),
            Payload(PL_NONCE, ni),
            Payload(PL_N, notify_body(N_NAT_SOURCE, natd(spi_i, 0, *self.local))),
            Payload(PL_N, notify_body(N_NAT_DESTINATION, natd(spi_i, 0, *self.remote))),
        ])
        return m, priv, ni

    def init(self, mutation, cookie=None, retry_cookie=False, fragments=False):
        """IKE_SA_INIT; with COOKIE (bytes) as its first payload. An answer
        with a COOKIE is "cookie HEX", or with RETRY_COOKIE the same
        request again with that COOKIE first, answered "cookie, then ..."."""
        m, priv, ni = self.init_message()
        marker = True
        if mutation:
            marker = INIT_MUTATIONS[mutation][1](m) is not False
        if cookie is not None:
            m.payloads.insert(0, Payload(PL_N, notify_body(N_COOKIE, cookie)))
        if fragments:
            m.payloads.append(Payload(PL_N, notify_body(N_FRAGMENTATION_SUPPORTED)))
        # The CHILD SA's SPI is chosen once, so that IKE_AUTH sent again has
        # the same plaintext (as a retransmission would).
        self.st = dict(spi_i=m.spi_i, natt=self.natt, child_spi=os.urandom(4))
        raw = m.encode() + m.trailing
        self.send(raw, marker)
        answer = self.receive(IKE_SA_INIT, m.msg_id, self.args.timeout)
        if answer is None:
            return "none"
        r = parse_message(answer)
        cookies = [parse_notify(b)[1] for t, _, b in r["payloads"] if t == PL_N and parse_notify(b)[0] == N_COOKIE]
        if cookies:
            if r["spi_r"] != 0 or len(r["payloads"]) != 1:
                raise Bad("a COOKIE answer with a responder SPI or other payloads")
            if not retry_cookie:
                return "cookie %s" % cookies[0].hex()
            m.payloads.insert(0, Payload(PL_N, notify_body(N_COOKIE, cookies[0])))
            raw = m.encode() + m.trailing
            self.send(raw, marker)
            answer = self.receive(IKE_SA_INIT, m.msg_id, self.args.timeout)
            if answer is None:
                return "cookie, then none"
            r = parse_message(answer)
            if any(t == PL_N and parse_notify(b)[0] == N_COOKIE for t, _, b in r["payloads"]):
                return "cookie, then cookie again"
        errors = [parse_notify(b) for t, _, b in r["payloads"] if t == PL_N and parse_notify(b)[0] <= N_ERROR_MAX]
        if errors:
            if r["spi_r"] != 0:
                raise Bad("an error answer to IKE_SA_INIT with a responder SPI")
            t, data = errors[0]
            return ("notify %s %s" % (N_NAMES.get(t, str(t)), data.hex())).rstrip()
        # A complete answer: one proposal, ours; KE of our group; Nr.
        by = {}
        for t, crit, body in r["payloads"]:
            by.setdefault(t, body)
        if not all(t in by for t in (PL_SA, PL_KE, PL_NONCE)) or r["spi_r"] == 0:
            raise Bad("IKE_SA_INIT answered without SA, KE, Nr or SPIr")
        props = parse_sa(by[PL_SA])
        want = [(T_ENCR, ENCR_AES_GCM_16, 256), (T_PRF, PRF_HMAC_SHA2_256, None), (T_DH, DH_X25519, None)]
        if len(props) != 1 or props[0]["num"] != 1 or props[0]["proto"] != PROTO_IKE or \
                sorted(props[0]["transforms"]) != sorted(want):
            raise Bad("the responder chose %r" % props)
        group = struct.unpack_from(">H", by[PL_KE])[0]
        if group != DH_X25519 or len(by[PL_KE]) != 4 + 32:
            raise Bad("KE of group %d, %d octets" % (group, len(by[PL_KE]) - 4))
        nr = by[PL_NONCE]
        if not 16 <= len(nr) <= 256:
            raise Bad("Nr of %d octets" % len(nr))
        shared = priv.exchange(X25519PublicKey.from_public_bytes(by[PL_KE][4:]))
        self.st.update(frag=any(t == PL_N and parse_notify(b)[0] == N_FRAGMENTATION_SUPPORTED
                                for t, _, b in r["payloads"]))
        self.st.update(spi_r=r["spi_r"], ni=ni, nr=nr, init_req=raw, init_resp=answer, next_id=1,
                       **derive(ni, nr, shared, m.spi_i, r["spi_r"]))
        self.save()
        return "cookie, then ok" if retry_cookie and cookies else "ok"

    # -------------------------------------------------------- protected messages

    def protect(self, m, inner, pad=b"", pad_len=None, tamper=None):
        """m with SK appended around the inner payloads (3.14, RFC 5282):
        IV (8 octets) | AES-GCM(payloads | padding | Pad Length) | ICV (16);
        the associated data are the message up to SK's generic header."""
        plain = encode_chain(inner) + pad + bytes([len(pad) if pad_len is None else pad_len])
        iv = os.urandom(8)
        body_len = 8 + len(plain) + 16
        first_inner = inner[0].type if inner else PL_NONE
        head = m.encode(tail_type=PL_SK, tail_len=4 + body_len)
        aad = head + struct.pack(">BBH", first_inner, 0, 4 + body_len)
        key = self.st["sk_ei"]
        body = iv + AESGCM(key[:32]).encrypt(key[32:] + iv, plain, aad)
        raw = aad + body
        return tamper(raw) if tamper else raw

    def protect_fragments(self, m, inner, n, mode):
        """m's inner payloads in n SKF fragments (RFC 7383 2.5), each
        protected as SK is, with the IKE header and the SKF header (Fragment
        Number, Total Fragments) as associated data; then arranged as MODE
        says: in-order, reverse, duplicate (the first twice), missing-last,
        bad-icv (the second's ICV broken), number-zero, above-total."""
        chain = encode_chain(inner)
        per = -(-len(chain) // n)
        pieces = [chain[i * per:(i + 1) * per] for i in range(n)]
        key = self.st["sk_ei"]
        out = []
        for k, piece in enumerate(pieces, 1):
            number = {"number-zero": 0, "above-total": n + 1}.get(mode, k) if k == 1 else k
            plain = piece + b"\x00"
            iv = os.urandom(8)
            body_len = 8 + len(plain) + 16
            head = m.encode(tail_type=PL_SKF, tail_len=8 + body_len)
            aad = head + struct.pack(">BBHHH", inner[0].type if k == 1 else PL_NONE, 0, 8 + body_len, number, n)
            raw = aad + iv + AESGCM(key[:32]).encrypt(key[32:] + iv, plain, aad)
            if mode == "bad-icv" and k == 2:
                raw = raw[:-1] + bytes([raw[-1] ^ 1])
            out.append(raw)
        if mode == "reverse":
            out.reverse()
        elif mode == "duplicate":
            out.insert(1, out[0])
        elif mode == "missing-last":
            out.pop()
        return out

    def unprotect(self, raw):
        """The inner payloads of a protected response, decrypted with SK_er."""
        r = parse_message(raw)
        if not r["payloads"] or r["payloads"][-1][0] != PL_SK:
            raise Bad("a response after IKE_SA_INIT without SK: %s" %
                      " ".join(PL_NAMES.get(t, str(t)) for t, _, _ in r["payloads"]))
        if len(r["payloads"]) > 1:
            raise Bad("cleartext payloads before SK in a response")
        body = r["payloads"][-1][2]
        sk_off = len(raw) - len(body) - 4
        first_inner = raw[sk_off]       # SK's Next Payload: the first inner payload
        key = self.st["sk_er"]
        if len(body) < 8 + 1 + 16:
            raise Bad("SK body of %d octets" % len(body))
        try:
            plain = AESGCM(key[:32]).decrypt(key[32:] + body[:8], body[8:], raw[:sk_off + 4])
        except Exception:
            raise Bad("the responder's SK does not verify")
        pad_len = plain[-1]
        if pad_len >= len(plain):
            raise Bad("Pad Length %d of %d" % (pad_len, len(plain)))
        return r, parse_chain(plain[:len(plain) - 1 - pad_len], first_inner)

    def next_id(self):
        mid = self.args.msg_id if getattr(self.args, "msg_id", None) is not None else self.st["next_id"]
        self.st["next_id"] = max(self.st["next_id"], mid + 1)
        return mid

    def protected_answer(self, exchange, msg_id):
        answer = self.receive(exchange, msg_id, self.args.timeout)
        self.save()
        if answer is None:
            return None, "none"
        r, inner = self.unprotect(answer)
        if r["spi_r"] != self.st["spi_r"]:
            raise Bad("a response with another responder SPI")
        errors = [parse_notify(b)[0] for t, _, b in inner if t == PL_N and parse_notify(b)[0] <= N_ERROR_MAX]
        if errors:
            return inner, "sk-notify %s" % N_NAMES.get(errors[0], str(errors[0]))
        return inner, None

    # -------------------------------------------------------- IKE_AUTH

    def auth(self, mutation):
        st = self.st
        a = dict(idi=self.args.idi.encode(), idr=self.args.idr.encode(), psk=self.psk, tsi="10.1.0.1",
                 tsr="10.2.0.1", esp_bits=256, child_spi=st["child_spi"], drop=(), cleartext=(), pad=b"",
                 pad_len=None, tamper=None, lengths={})
        if mutation:
            AUTH_MUTATIONS[mutation][1](a)
        idi = id_body(a["idi"])
        auth = psk_auth(a["psk"], st["init_req"], st["nr"], st["sk_pi"], idi)
        payloads = [
            Payload(PL_IDI, idi),
            Payload(PL_IDR, id_body(a["idr"])),
            Payload(PL_AUTH, bytes([AUTH_SHARED_KEY, 0, 0, 0]) + auth),
            Payload(PL_SA, sa_body([esp_proposal(a["child_spi"], key_bits=a["esp_bits"])])),
            Payload(PL_TSI, ts_body(a["tsi"])),
            Payload(PL_TSR, ts_body(a["tsr"])),
        ]
        payloads = [p for p in payloads if p.type not in a["drop"]]
        for p in payloads:
            p.length = a["lengths"].get(p.type)
        outer = [p for p in payloads if p.type in a["cleartext"]]
        inner = [p for p in payloads if p.type not in a["cleartext"]]
        mid = self.next_id()
        m = Message(IKE_AUTH, st["spi_i"], st["spi_r"], mid, payloads=outer)
        if getattr(self.args, "fragments", None):
            for raw in self.protect_fragments(m, inner, self.args.fragments, self.args.frag_mode):
                self.send(raw)
        else:
            if a.get("sk_body") is not None:
                raw = m.encode(tail_type=PL_SK, tail_len=4 + len(a["sk_body"]))
                raw += struct.pack(">BBH", inner[0].type, 0, 4 + len(a["sk_body"])) + a["sk_body"]
            else:
                raw = self.protect(m, inner, pad=a["pad"], pad_len=a["pad_len"], tamper=a["tamper"])
            self.send(raw)
        inner, result = self.protected_answer(IKE_AUTH, mid)
        if result:
            return result
        # The responder's side (2.15): IDr as we expect, its AUTH over its
        # IKE_SA_INIT message, our nonce and its ID; the CHILD SA we asked.
        by = {}
        for t, _, body in inner:
            by.setdefault(t, body)
        for t in (PL_IDR, PL_AUTH, PL_SA, PL_TSI, PL_TSR):
            if t not in by:
                raise Bad("IKE_AUTH answered without %s" % PL_NAMES[t])
        if by[PL_IDR] != id_body(self.args.idr.encode()):
            raise Bad("the responder is %r" % by[PL_IDR])
        if by[PL_AUTH][0] != AUTH_SHARED_KEY:
            raise Bad("AUTH method %d" % by[PL_AUTH][0])
        want = psk_auth(self.psk, st["init_resp"], st["ni"], st["sk_pr"], by[PL_IDR])
        if not hmac.compare_digest(by[PL_AUTH][4:], want):
            raise Bad("the responder's AUTH does not verify")
        props = parse_sa(by[PL_SA])
        if len(props) != 1 or props[0]["proto"] != PROTO_ESP or len(props[0]["spi"]) != 4 or \
                sorted(props[0]["transforms"]) != sorted([(T_ENCR, ENCR_AES_GCM_16, 256), (T_ESN, NO_ESN, None)]):
            raise Bad("the responder's CHILD SA: %r" % props)
        if by[PL_TSI] != ts_body(a["tsi"]) or by[PL_TSR] != ts_body(a["tsr"]):
            raise Bad("the responder narrowed the selectors to %s / %s" % (by[PL_TSI].hex(), by[PL_TSR].hex()))
        st["child_spi_in"], st["child_spi_out"] = a["child_spi"], props[0]["spi"]
        self.save()
        return "ok"

    # -------------------------------------------------------- INFORMATIONAL, CREATE_CHILD_SA

    def info(self):
        st = self.st
        inner = [Payload(PL_D, struct.pack(">BBH", PROTO_IKE, 0, 0))] if self.args.delete else []
        mid = self.next_id()
        m = Message(INFORMATIONAL, st["spi_i"], st["spi_r"], mid, payloads=inner if self.args.clear else [])
        raw = m.encode() if self.args.clear else self.protect(m, inner)
        self.send(raw)
        inner, result = self.protected_answer(INFORMATIONAL, mid)
        return result or ("sk-answer " + " ".join(PL_NAMES.get(t, str(t)) for t, _, _ in inner)).rstrip()

    def create_child(self):
        """A CREATE_CHILD_SA request (1.3): an IKE SA rekey (SA with an IKE
        proposal and a new SPI, Ni, KE) or a new CHILD SA (SA, Ni, TSi, TSr)."""
        st = self.st
        if self.args.rekey_ike:
            p = ike_proposal()
            p["spi"] = os.urandom(8)
            pub = X25519PrivateKey.generate().public_key().public_bytes(serialization.Encoding.Raw,
                                                                       serialization.PublicFormat.Raw)
            inner = [Payload(PL_SA, sa_body([p])), Payload(PL_NONCE, os.urandom(32)),
                     Payload(PL_KE, struct.pack(">HH", DH_X25519, 0) + pub)]
        else:
            inner = [Payload(PL_SA, sa_body([esp_proposal(os.urandom(4))])), Payload(PL_NONCE, os.urandom(32)),
                     Payload(PL_TSI, ts_body("10.1.0.1")), Payload(PL_TSR, ts_body("10.2.0.1"))]
        mid = self.next_id()
        m = Message(CREATE_CHILD_SA, st["spi_i"], st["spi_r"], mid)
        self.send(self.protect(m, inner))
        inner, result = self.protected_answer(CREATE_CHILD_SA, mid)
        return result or ("sk-answer " + " ".join(PL_NAMES.get(t, str(t)) for t, _, _ in inner)).rstrip()


# ---------------------------------------------------------------- mutations of IKE_SA_INIT
# Each breaks one thing of the well-formed request (SA, KE, Ni, N(NAT_D src),
# N(NAT_D dst)). Returning False sends it without the non-ESP marker.

def pl(m, type):
    return next(p for p in m.payloads if p.type == type)


def set_body(m, type, body):
    pl(m, type).body = body


def x25519_ke(value):
    return struct.pack(">HH", DH_X25519, 0) + value


def m_sa(props):
    return lambda m: set_body(m, PL_SA, sa_body(props))


def with_proposal(change):
    def f(m):
        p = ike_proposal()
        change(p)
        set_body(m, PL_SA, sa_body([p]))
    return f


def insert(payload, at=1):
    return lambda m: m.payloads.insert(at, payload)


def drop(type):
    return lambda m: m.payloads.remove(pl(m, type))


def length_of(type, length):
    def f(m):
        pl(m, type).length = length
    return f


def header(**fields):
    def f(m):
        for k, v in fields.items():
            setattr(m, k, v)
    return f


def cut_header(m):
    m.payloads[-1].next = PL_V      # "a Vendor ID follows", of which 2 octets come
    m.extra = b"\0\0"


INIT_MUTATIONS = {
    "len-small": ("header Length 27, below the header's own", header(length=27)),
    "len-big": ("header Length 4 beyond the datagram", lambda m: setattr(m, "length", len(m.encode()) + 4)),
    "trailing": ("4 octets after Length in the datagram", header(trailing=b"\0\0\0\0")),
    "version-3": ("major version 3", header(version=0x30)),
    "spi-i-zero": ("initiator SPI zero", header(spi_i=0)),
    "spi-r-nonzero": ("a responder SPI in the request", header(spi_r=0x1122334455667788)),
    "msg-id-1": ("message ID 1", header(msg_id=1)),
    "no-initiator-flag": ("the Initiator flag off", header(flags=0)),
    "response-flag": ("the Response flag on", header(flags=FLAG_I | FLAG_R)),
    "gph-truncated": ("the chain ends in half a generic payload header", cut_header),
    "plen-0": ("KE with Payload Length 0", length_of(PL_KE, 0)),
    "plen-3": ("KE with Payload Length 3", length_of(PL_KE, 3)),
    "plen-beyond": ("the last payload's Length 10 beyond the message",
                    lambda m: setattr(m.payloads[-1], "length", 4 + len(m.payloads[-1].body) + 10)),
    "unknown-critical": ("payload type 120 with the critical bit", insert(Payload(120, b"\1\2\3\4", critical=True))),
    "unknown-noncritical": ("payload type 120 without the critical bit", insert(Payload(120, b"\1\2\3\4"))),
    "ikev1-payload": ("an IKEv1 payload type (13, Vendor ID)", insert(Payload(13, b"\1\2\3\4"))),
    "sa-no-proposal": ("SA without a proposal", lambda m: set_body(m, PL_SA, b"")),
    "sa-proposal-number": ("the one proposal numbered 2", m_sa([ike_proposal(num=2)])),
    "sa-proposals-1-1": ("two proposals both numbered 1", m_sa([ike_proposal(1), ike_proposal(1)])),
    "sa-transform-count": ("Num Transforms 4 for 3 transforms", with_proposal(lambda p: p.update(num_transforms=4))),
    "sa-transform-count-0": ("Num Transforms 0", with_proposal(lambda p: p.update(num_transforms=0))),
    "keylen-tlv": ("Key Length in TLV form", with_proposal(lambda p: p["transforms"][0].update(
        attrs=struct.pack(">HHH", ATTR_KEY_LENGTH, 2, 256)))),
    "keylen-twice": ("Key Length twice", with_proposal(lambda p: p["transforms"][0].update(
        attrs=struct.pack(">HHHH", 0x8000 | ATTR_KEY_LENGTH, 256, 0x8000 | ATTR_KEY_LENGTH, 256)))),
    "keylen-512": ("Key Length 512 for AES-GCM", with_proposal(lambda p: p["transforms"][0].update(key_bits=512))),
    "keylen-missing": ("AES-GCM without Key Length", with_proposal(lambda p: p["transforms"][0].update(key_bits=None))),
    "ke-group-19": ("KE of group 19 (ECP-256, 64 octets) for the 31 proposed",
                    lambda m: set_body(m, PL_KE, struct.pack(">HH", DH_ECP256, 0) + os.urandom(64))),
    "ke-group-unknown": ("KE of group 0x7777", lambda m: set_body(m, PL_KE, struct.pack(">HH", 0x7777, 0) + os.urandom(32))),
    "ke-short": ("a 31-octet X25519 value", lambda m: set_body(m, PL_KE, x25519_ke(os.urandom(31)))),
    "ke-long": ("a 33-octet X25519 value", lambda m: set_body(m, PL_KE, x25519_ke(os.urandom(33)))),
    "ke-zero": ("an all-zero X25519 value", lambda m: set_body(m, PL_KE, x25519_ke(bytes(32)))),
    "ke-low-order": ("X25519 u = 1, a low-order point: the shared secret is all zero (RFC 8031 2)",
                     lambda m: set_body(m, PL_KE, x25519_ke(b"\1" + bytes(31)))),
    "nonce-15": ("a 15-octet nonce", lambda m: set_body(m, PL_NONCE, os.urandom(15))),
    "nonce-257": ("a 257-octet nonce", lambda m: set_body(m, PL_NONCE, os.urandom(257))),
    "no-sa": ("no SA", drop(PL_SA)),
    "no-ke": ("no KE", drop(PL_KE)),
    "no-nonce": ("no Ni", drop(PL_NONCE)),
    "ke-twice": ("KE twice", lambda m: m.payloads.insert(2, Payload(PL_KE, pl(m, PL_KE).body))),
    "idi-cleartext": ("IDi in cleartext", insert(Payload(PL_IDI, id_body(b"a.bulkhead.test")), at=3)),
    "auth-cleartext": ("AUTH in cleartext", insert(Payload(PL_AUTH, bytes([AUTH_SHARED_KEY, 0, 0, 0]) + bytes(32)), at=3)),
    "sk-in-init": ("an SK payload in IKE_SA_INIT", lambda m: m.payloads.append(Payload(PL_SK, os.urandom(40), next=PL_NONE))),
    "no-marker": ("on UDP 4500 without the non-ESP marker", lambda m: False),
}


# ---------------------------------------------------------------- mutations of IKE_AUTH
# Each changes one thing of the well-formed request (IDi, IDr, AUTH, SA, TSi,
# TSr inside SK).

def flip_icv(raw):
    return raw[:-1] + bytes([raw[-1] ^ 0x01])


AUTH_MUTATIONS = {
    "sk-short": ("an SK body of 20 octets, shorter than IV and ICV", lambda a: a.update(sk_body=os.urandom(20))),
    "icv-flip": ("one bit of the ICV flipped", lambda a: a.update(tamper=flip_icv)),
    "ciphertext-flip": ("one bit of the ciphertext flipped",
                        lambda a: a.update(tamper=lambda r: r[:-20] + bytes([r[-20] ^ 0x80]) + r[-19:])),
    "pad-length": ("Pad Length 255, beyond the plaintext", lambda a: a.update(pad_len=255)),
    "chain-broken": ("IDi's Payload Length 40 beyond the decrypted chain",
                     lambda a: a["lengths"].update({PL_IDI: 4 + 4 + len(a["idi"]) + 40})),
    "chain-short": ("AUTH's Payload Length 3", lambda a: a["lengths"].update({PL_AUTH: 3})),
    "no-auth": ("no AUTH", lambda a: a.update(drop=(PL_AUTH,))),
    "no-idi": ("no IDi", lambda a: a.update(drop=(PL_IDI,))),
    "psk-wrong": ("AUTH with another pre-shared key", lambda a: a.update(psk=b"some other passphrase")),
    "idi-wrong": ("IDi fqdn:mallory.bulkhead.test (AUTH made over it)",
                  lambda a: a.update(idi=b"mallory.bulkhead.test")),
    "ts-outside": ("TSi 10.9.0.1, outside the tunnel's", lambda a: a.update(tsi="10.9.0.1")),
    "esp-unoffered": ("ESP AES-GCM-16 with 128-bit keys only", lambda a: a.update(esp_bits=128)),
    "cleartext-sa-ts": ("SA, TSi and TSr in cleartext before SK",
                        lambda a: a.update(cleartext=(PL_SA, PL_TSI, PL_TSR))),
}


# ---------------------------------------------------------------- command line

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--local", default="192.0.2.1")
    ap.add_argument("--remote", default="192.0.2.2")
    ap.add_argument("--natt", action="store_true", help="UDP 4500 with the non-ESP marker")
    ap.add_argument("--psk", default="some passphrase")
    ap.add_argument("--idi", default="a.bulkhead.test")
    ap.add_argument("--idr", default="b.bulkhead.test")
    ap.add_argument("--state", help="the IKE SA's state between commands")
    ap.add_argument("--timeout", type=float, default=1.0, help="seconds to wait for an answer (at most 2)")
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init")
    p.add_argument("--mutate", choices=sorted(INIT_MUTATIONS))
    p.add_argument("--cookie", help="a COOKIE (hex) to send first")
    p.add_argument("--retry-cookie", action="store_true", help="send again with the COOKIE the responder asks for")
    p.add_argument("--fragments", action="store_true", help="announce IKEV2_FRAGMENTATION_SUPPORTED")
    # Requests after IKE_SA_INIT: the next message ID unless told.
    after = argparse.ArgumentParser(add_help=False)
    after.add_argument("--msg-id", type=int, help="the request's message ID instead of the next one")
    p = sub.add_parser("auth", parents=[after])
    p.add_argument("--mutate", choices=sorted(AUTH_MUTATIONS))
    p.add_argument("--fragments", type=int, help="send IKE_AUTH in this many SKF fragments")
    p.add_argument("--frag-mode", default="in-order",
                   choices=["in-order", "reverse", "duplicate", "missing-last", "bad-icv", "number-zero", "above-total"])
    p = sub.add_parser("info", parents=[after])
    p.add_argument("--delete", action="store_true", help="a Delete of the IKE SA")
    p.add_argument("--clear", action="store_true", help="without SK: the payloads in cleartext")
    p = sub.add_parser("create-child", parents=[after])
    p.add_argument("--rekey-ike", action="store_true")
    sub.add_parser("listen")
    p = sub.add_parser("show")
    p.add_argument("field")
    p = sub.add_parser("list")
    p.add_argument("which", choices=["init", "auth"])
    args = ap.parse_args()
    args.timeout = min(args.timeout, 2.0)

    if args.command == "list":
        for name, (doc, _) in (INIT_MUTATIONS if args.which == "init" else AUTH_MUTATIONS).items():
            print("%s\t%s" % (name, doc))
        return 0
    if args.command == "show":
        with open(args.state) as f:
            print(json.load(f)[args.field])
        return 0
    peer = Peer(args)
    try:
        if args.command == "init":
            result = peer.init(args.mutate, bytes.fromhex(args.cookie) if args.cookie else None, args.retry_cookie,
                               args.fragments)
        elif args.command == "auth":
            result = peer.auth(args.mutate)
        elif args.command == "info":
            result = peer.info()
        elif args.command == "listen":
            result = peer.listen()
        else:
            result = peer.create_child()
    except Bad as e:
        print("bad: %s" % e)
        return 1
    print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
