"""Exchange tests between two real suites, with the wire in the test's hand.

Run by exchange.sh inside host a's network namespace, once both suites are
up with the scenario's tunnel "gw". Every IKE datagram between a and b
passes through wire.Wire: the scenario decides which are delivered, dropped
or held back, and checks what the two sides exchanged as well as what they
then report (ike cmd=list, the bus, filterd, the logs).

  exchange.py SCENARIO      (environment: WORK, IKE, NS_B, A_ADDR)
"""

import json
import os
import subprocess
import sys
import time

from wire import Wire

WORK = os.environ["WORK"]
IKE = os.environ["IKE"]
NS_B = os.environ["NS_B"]
A_ADDR = os.environ.get("A_ADDR", "192.0.2.1")
A_IN, B_IN = "10.1.0.1", "10.2.0.1"


class Failed(Exception):
    pass


def fail(what):
    raise Failed(what)


def passed(what):
    print("ok: " + what, flush=True)


def ike(h, *args, timeout=60):
    return subprocess.run([IKE, "--run-dir", "%s/%s/run" % (WORK, h)] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def ike_bg(h, *args):
    return subprocess.Popen([IKE, "--run-dir", "%s/%s/run" % (WORK, h)] + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def tunnel(h):
    out = ike(h, "--json", "cmd=list", "verbose", "namelist=gw").stdout
    t = json.loads(out)["tunnels"][0]
    t.update(t.pop("details", {}))
    return t


def busctl(h, *args):
    with open("%s/%s/run/bus" % (WORK, h)) as f:
        address = f.read().strip()
    return subprocess.run(["busctl", "--address=" + address] + list(args), capture_output=True, text=True,
                          timeout=10).stdout.strip()


def prop(h, service, name):
    """A numeric property of org.bulkhead.SERVICE, as an int."""
    out = busctl(h, "get-property", "org.bulkhead." + service, "/org/bulkhead/" + service,
                 "org.bulkhead.%s1" % service, name)
    return int(out.split()[1])


def counter(h, name):
    with open("%s/%s/run/bus" % (WORK, h)) as f:
        address = f.read().strip()
    out = subprocess.run(["busctl", "--address=" + address, "--json=short", "call", "org.bulkhead.Filter",
                          "/org/bulkhead/Filter", "org.bulkhead.Filter1", "GetCounters"], capture_output=True,
                         text=True, timeout=10).stdout
    return json.loads(out)["data"][0][name]


def ike_sas(h):
    out = busctl(h, "call", "org.bulkhead.Isakmpd", "/org/bulkhead/Isakmpd", "org.bulkhead.Isakmpd1", "ListSAs")
    return int(out.split()[1])


def ping(h, count=2):
    src, dst = (A_IN, B_IN) if h == "a" else (B_IN, A_IN)
    cmd = ["ping", "-c", str(count), "-i", "0.2", "-W", "2", "-I", src, dst]
    if h == "b":
        cmd = ["ip", "netns", "exec", NS_B] + cmd
    return subprocess.run(cmd, capture_output=True).returncode == 0


def log(h):
    with open("%s/%s/out" % (WORK, h), errors="replace") as f:
        return f.read()


WIRE = None


def wait(seconds, cond):
    """Waits for cond(), delivering what goes over the wire meanwhile."""
    return WIRE.run(seconds, until=cond)


def settled():
    """One CHILD SA each way on each side, one IKE SA each, SPIs agreeing."""
    try:
        ta, tb = tunnel("a"), tunnel("b")
    except Exception:
        return False
    return (prop("a", "Filter", "SAs") == 2 and prop("b", "Filter", "SAs") == 2 and ike_sas("a") == 1
            and ike_sas("b") == 1 and ta.get("esp_spi_in") == tb.get("esp_spi_out")
            and ta.get("esp_spi_out") == tb.get("esp_spi_in") and ta.get("phase2") == "active")


def state():
    out = []
    for h in "ab":
        try:
            t = tunnel(h)
            out.append("%s: phase1 %s phase2 %s, %d SAs in filterd, %d IKE SAs, failure %r" % (
                h, t.get("phase1"), t.get("phase2"), prop(h, "Filter", "SAs"), ike_sas(h), t.get("failure")))
        except Exception as e:
            out.append("%s: %s" % (h, e))
    return "; ".join(out)


def no_state_left(h):
    return ike_sas(h) == 0 and prop(h, "Crypto", "Handles") == 0 and prop(h, "Isakmpd", "HalfOpen") == 0


def check_ids(wire):
    """RFC 7296 2.2: per IKE SA and per sender, requests are numbered 0, 1,
    2, ... (a retransmission repeats its number), each is answered by the
    other side with the same number, and the I flag is set exactly on the
    messages of the IKE SA's original initiator."""
    sas = {}
    for p in wire.log:
        if p.msg is None:
            fail("an IKE datagram that does not parse: %s" % p)
        # An IKE_SA_INIT request has no SPIr yet: it belongs with the SA
        # its response names.
        key = p.spis[0]
        sa = sas.setdefault(key, {"initiator": None, "next": {"a": 0, "b": 0}, "open": {}})
        if p.exchange == "IKE_SA_INIT" and not p.response and sa["initiator"] is None:
            sa["initiator"] = p.frm
        if sa["initiator"] is not None and p.initiator != (p.frm == sa["initiator"]):
            fail("the I flag is wrong on %s" % p)
        if not p.response:
            n = sa["next"][p.frm]
            if p.msg_id == n:
                sa["next"][p.frm] = n + 1
                sa["open"][(p.frm, n)] = p
            elif p.msg_id != n - 1:
                fail("%s: expected message ID %d (or %d again)" % (p, n, n - 1))
        else:
            req = sa["open"].get((p.to, p.msg_id))
            if req is None:
                fail("%s answers no request of %s" % (p, p.to))
            if req.exchange != p.exchange:
                fail("%s answers a %s request" % (p, req.exchange))
    return sas


# ---------------------------------------------------------------- scenarios

def exchanges(wire):
    """Every exchange, in both roles, on a clean wire: IKE_SA_INIT and
    IKE_AUTH from a, DPD and a CHILD SA rekey from b (the responder), an IKE
    SA rekey from a, a Delete from a; then the same tunnel from b."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation from a: %s %s" % (act.stdout.read(), state()))
    first = [(p.frm, p.exchange, p.response, p.msg_id) for p in wire.log[:4]]
    want = [("a", "IKE_SA_INIT", False, 0), ("b", "IKE_SA_INIT", True, 0), ("a", "IKE_AUTH", False, 1),
            ("b", "IKE_AUTH", True, 1)]
    if first != want:
        fail("the exchanges that set up the tunnel:\n" + wire.transcript())
    if wire.log[0].encrypted() or not wire.log[2].encrypted() or not wire.log[3].encrypted():
        fail("IKE_SA_INIT must be in the clear and IKE_AUTH protected:\n" + wire.transcript())
    passed("a initiates: IKE_SA_INIT and IKE_AUTH, message IDs 0 and 1, answered once each")

    # b has dpd_delay 1s and child_rekey_time 4s; a has rekey_time 7s.
    def done():
        return (any(p.frm == "b" and p.exchange == "CREATE_CHILD_SA" and not p.response for p in wire.log)
                and len(set(p.spis[0] for p in wire.log)) >= 2 and settled())
    wire.run(25, until=done)
    if not done():
        fail("in 25 s, no CHILD SA rekey from b and IKE SA rekey from a that settled: %s\n%s" % (
            state(), wire.transcript()))
    dpd = [p for p in wire.log if p.frm == "b" and p.exchange == "INFORMATIONAL" and not p.response]
    if not dpd:
        fail("no liveness check from b (dpd_delay = 1s):\n" + wire.transcript())
    sas = check_ids(wire)
    if len(sas) < 2:
        fail("the IKE SA was not rekeyed:\n" + wire.transcript())
    if not ping("a"):
        fail("no ping after the rekeys: " + state())
    passed("b (the responder) sends liveness checks and rekeys the CHILD SA, a rekeys the IKE SA; "
           "message IDs count per IKE SA and per side (%d IKE SAs, %d messages)" % (len(sas), len(wire.log)))

    mark = len(wire.log)
    rem = ike_bg("a", "cmd=remove", "namelist=gw")
    wire.run(10, until=lambda: rem.poll() is not None and tunnel("b").get("phase1") == "inactive")
    tail = [p for p in wire.log[mark:] if p.frm == "a" and not p.response]
    if not tail or tail[0].exchange != "INFORMATIONAL":
        fail("remove on a did not start with a Delete from a:\n" + wire.transcript())
    if not any(p.frm == "b" and p.response and p.msg_id == tail[0].msg_id for p in wire.log[mark:]):
        fail("b did not answer a's Delete:\n" + wire.transcript())
    if not wait(5, lambda: no_state_left("a") and no_state_left("b")):
        fail("state left after remove: " + state())
    passed("remove on a: a Delete, answered; no IKE SA, handle or half-open SA left on either side")

    mark = len(wire.log)
    act = ike_bg("b", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation from b: %s %s" % (act.stdout.read(), state()))
    first = [(p.frm, p.exchange, p.response, p.msg_id, p.initiator) for p in wire.log[mark:mark + 4]]
    want = [("b", "IKE_SA_INIT", False, 0, True), ("a", "IKE_SA_INIT", True, 0, False),
            ("b", "IKE_AUTH", False, 1, True), ("a", "IKE_AUTH", True, 1, False)]
    if first != want:
        fail("b initiating:\n" + wire.transcript())
    if not (wait(5, lambda: tunnel("a").get("role") == "responder") and ping("b")):
        fail("the tunnel b initiated does not carry traffic: " + state())
    passed("b initiates: a answers as responder, with the I flag on b's messages only; ping works")


def retransmit(wire):
    """Lost messages: a's first two IKE_SA_INIT requests and b's first
    IKE_AUTH response are dropped. a retransmits with a growing interval,
    the same octets each time; b answers a retransmitted request with its
    first answer again and keeps one IKE SA."""
    dropped = {"init": 0, "auth": 0}

    def rule(p):
        if p.frm == "a" and p.exchange == "IKE_SA_INIT" and not p.response and dropped["init"] < 2:
            dropped["init"] += 1
            return "drop"
        if p.frm == "b" and p.exchange == "IKE_AUTH" and p.response and dropped["auth"] < 1:
            dropped["auth"] += 1
            return "drop"
        return "accept"
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(20, rule, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation: %s %s\n%s" % (act.stdout.read(), state(), wire.transcript()))
    inits = wire.seen("a", "IKE_SA_INIT", False)
    if len(inits) != 3 or len(set(p.ike for p in inits)) != 1:
        fail("a's IKE_SA_INIT requests (3 expected, all equal):\n" + wire.transcript())
    gap1, gap2 = inits[1].time - inits[0].time, inits[2].time - inits[1].time
    if not (0.3 < gap1 < 1.5 and gap2 > 1.5 * gap1):
        fail("retransmission intervals %.2f s then %.2f s: not backing off" % (gap1, gap2))
    passed("IKE_SA_INIT retransmitted unchanged after %.2f s, then %.2f s" % (gap1, gap2))
    auths = wire.seen("a", "IKE_AUTH", False)
    answers = wire.seen("b", "IKE_AUTH", True)
    if len(auths) != 2 or auths[0].ike != auths[1].ike:
        fail("a's IKE_AUTH requests (2 expected, equal):\n" + wire.transcript())
    if len(answers) != 2 or answers[0].ike != answers[1].ike:
        fail("b's IKE_AUTH answers (2 expected, the second a copy of the first):\n" + wire.transcript())
    check_ids(wire)
    if not wait(5, settled) or not ping("a"):
        fail("after the losses: " + state())
    passed("IKE_AUTH retransmitted; b answered it again with the same octets, one IKE SA, one CHILD SA, ping works")


def timeout(wire):
    """A peer that never answers: a gives up after its retransmissions and
    keeps nothing; b, whose answer was lost, drops its half-open SA when
    the half-open timeout expires."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    start = time.monotonic()
    wire.run(45, lambda p: "drop" if p.frm == "b" else "accept",
             until=lambda: act.poll() is not None and tunnel("a").get("phase1") != "negotiating")
    took = time.monotonic() - start
    requests = wire.seen("a", "IKE_SA_INIT", False)
    if act.poll() is None:
        fail("a still negotiating after 45 s: " + state())
    cause = tunnel("a").get("failure", "")
    if "no answer from the peer" not in cause:
        fail("a's failure cause: %r" % cause)
    if len(requests) != 6 or len(set(p.ike for p in requests)) != 1:
        fail("a sent %d IKE_SA_INIT requests (1 and 5 retransmissions expected):\n%s" % (
            len(requests), wire.transcript()))
    if not wait(3, lambda: no_state_left("a")):
        fail("a kept state after giving up: " + state())
    passed("a gave up after %d requests in %.1f s (%s) and kept no state" % (len(requests), took, cause))
    if prop("b", "Isakmpd", "HalfOpen") != 1:
        fail("b has %d half-open SAs, 1 expected" % prop("b", "Isakmpd", "HalfOpen"))
    if not wait(40, lambda: no_state_left("b")):
        fail("b kept its half-open SA: HalfOpen %d, Handles %d" % (prop("b", "Isakmpd", "HalfOpen"),
                                                                     prop("b", "Crypto", "Handles")))
    passed("b dropped its half-open SA %.1f s after it answered" % (time.monotonic() - requests[0].time))


def collision(kind):
    """Both sides start the same rekey at once: the first request is held
    on the wire until the other side's request comes, then both go. Each
    side sees the other's request while its own is out; afterwards the
    tunnel settles on one SA pair that both agree on, and carries traffic."""
    def scenario(wire):
        act = ike_bg("a", "cmd=activate", "namelist=gw")
        wire.run(15, until=lambda: act.poll() is not None)
        if act.returncode != 0:
            fail("activation: %s %s" % (act.stdout.read(), state()))
        # Both kinds of rekey are a CREATE_CHILD_SA request, protected:
        # the definitions make only one kind due, and the logs tell which.
        held = wire.cross(20, "CREATE_CHILD_SA")
        if not held:
            fail("no two rekey requests at once: %s\n%s" % (state(), wire.transcript()))
        a_req, b_req = held["a"], held["b"]
        passed("%s rekey requests from a (ID %d) and b (ID %d) crossed on the wire" % (
            kind, a_req.msg_id, b_req.msg_id))
        what = "IKE SA" if kind == "IKE" else "CHILD SA"

        def answered(req):
            return any(p.response and p.frm == req.to and p.msg_id == req.msg_id and p.spis == req.spis
                       for p in wire.log)

        def noticed(h):
            return "%s rekey collides" % what in log(h)
        if not wait(20, lambda: noticed("a") and noticed("b") and answered(a_req) and answered(b_req)):
            fail("the collision: noticed by a %s, by b %s; a's request answered %s, b's %s:\n%s" % (
                noticed("a"), noticed("b"), answered(a_req), answered(b_req), wire.transcript()))
        rekeyed = "%s rekeyed" % what
        before = log("a").count(rekeyed) + log("b").count(rekeyed)
        wire.run(20, until=lambda: log("a").count(rekeyed) + log("b").count(rekeyed) > before + 1 and settled())
        if not settled():
            fail("after the collision: %s\n%s" % (state(), wire.transcript()))
        check_ids(wire)
        if not ping("a") or not ping("b"):
            fail("no traffic after the collision: " + state())
        passed("%s rekey collision resolved: both sides rekeyed again, one SA pair agreed, ping both ways "
               "after both requests were answered" % what)
    return scenario


def invalid_ke(wire):
    """a offers X25519 first and P-256 second; b accepts only P-256: b
    answers INVALID_KE_PAYLOAD naming group 19, a retries with a P-256 KE,
    and the SA is established."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation: %s %s\n%s" % (act.stdout.read(), state(), wire.transcript()))
    init = [p for p in wire.log if p.exchange == "IKE_SA_INIT"]
    if len(init) != 4:
        fail("4 IKE_SA_INIT messages expected:\n" + wire.transcript())
    if init[0].ke_group() != 31 or "INVALID_KE_PAYLOAD" not in init[1].notifies() or init[1].ke_group():
        fail("the first round:\n" + wire.transcript())
    if init[2].ke_group() != 19 or init[3].ke_group() != 19 or init[2].frm != "a":
        fail("the second round:\n" + wire.transcript())
    if not wait(5, settled) or not ping("a"):
        fail("after the retry: " + state())
    passed("INVALID_KE_PAYLOAD, then a retried with group 19 and the tunnel carries traffic")


def refused(notify, in_clear, a_cause, b_cause, ike_up=False):
    """a's activation is refused by b with NOTIFY: a shows it as the cause,
    b says why it refused, and neither side keeps an SA (with ike_up, the
    IKE SA stays but no CHILD SA is installed)."""
    def scenario(wire):
        act = ike_bg("a", "cmd=activate", "namelist=gw")
        wire.run(20, until=lambda: act.poll() is not None)
        if act.poll() is None:
            fail("activation did not end: " + state())
        out = act.stdout.read()
        if act.returncode == 0:
            fail("activation succeeded: " + state())
        if in_clear:
            answer = [p for p in wire.log if p.frm == "b" and p.response]
            if not answer or notify not in answer[0].notifies():
                fail("b's answer does not carry %s:\n%s" % (notify, wire.transcript()))
        if not any(p.frm == "b" for p in wire.log):
            fail("b never answered:\n" + wire.transcript())
        cause = tunnel("a").get("failure", "")
        if a_cause not in cause:
            fail("a's failure cause: %r (want %r); ike said: %s" % (cause, a_cause, out.strip()))
        if not wait(5, lambda: b_cause in log("b")):
            fail("b's log does not say %r" % b_cause)
        if ike_up:
            ok = lambda: prop("a", "Filter", "SAs") == 0 and prop("b", "Filter", "SAs") == 0
        else:
            ok = lambda: no_state_left("a") and no_state_left("b")
        if not wait(5, ok):
            fail("state left after %s: %s" % (notify, state()))
        check_ids(wire)
        passed("%s: a says %r, b logs %r; %s" % (notify, cause, b_cause,
                                                    "no CHILD SA on either side" if ike_up else "no state left"))
    return scenario


def phase2(wire):
    """Phase 2 alone: ike cmd=remove phase=2 ends the CHILD SA with a
    Delete and keeps the IKE SA; ike cmd=activate makes a new CHILD SA over
    it with CREATE_CHILD_SA (no new IKE_SA_INIT), from either side; a full
    remove then ends both."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation: %s %s" % (act.stdout.read(), state()))
    ike_spis = tunnel("a").get("ike_spis")
    for h, other in (("a", "b"), ("b", "a")):
        mark = len(wire.log)
        rem = ike_bg(h, "cmd=remove", "phase=2", "namelist=gw")

        def down():
            ta, tb = tunnel("a"), tunnel("b")
            answered = any(p.frm == other and p.response and p.exchange == "INFORMATIONAL" for p in wire.log[mark:])
            return (answered and rem.poll() is not None and ta.get("phase2") == "inactive"
                    and tb.get("phase2") == "inactive"
                    and prop("a", "Filter", "SAs") == 0 and prop("b", "Filter", "SAs") == 0)
        if not wait(10, down):
            fail("phase 2 removed on %s: %s %s\n%s" % (h, rem.stdout.read() if rem.poll() is not None else "",
                                                         state(), wire.transcript()))
        if rem.returncode != 0:
            fail("ike cmd=remove phase=2 on %s: %s" % (h, rem.stdout.read()))
        sent = [p for p in wire.log[mark:] if p.frm == h and not p.response]
        if [p.exchange for p in sent] != ["INFORMATIONAL"] or not any(
                p.frm == other and p.response and p.msg_id == sent[0].msg_id for p in wire.log[mark:]):
            fail("remove phase=2 on %s: one Delete, answered, expected:\n%s" % (h, wire.transcript()))
        if tunnel("a").get("phase1") != "active" or tunnel("b").get("phase1") != "active" or ike_sas("a") != 1 \
                or ike_sas("b") != 1:
            fail("the IKE SA did not stay: " + state())
        if "CHILD SA deleted by the peer" not in tunnel(other).get("failure", ""):
            fail("%s does not say why phase 2 went: %r" % (other, tunnel(other).get("failure")))
        if ping("a", 1):
            fail("ping works without a CHILD SA")
        passed("remove phase=2 on %s: a Delete, answered; phase 1 stays active on both, no SA in filterd, "
               "%s says %r" % (h, other, tunnel(other).get("failure")))

        mark = len(wire.log)
        act = ike_bg(h, "cmd=activate", "phase=2", "namelist=gw")
        wire.run(15, until=lambda: act.poll() is not None and settled())
        if act.poll() is None or act.returncode != 0 or not settled():
            fail("phase 2 again from %s: %s %s\n%s" % (h, act.stdout.read() if act.poll() is not None else "",
                                                        state(), wire.transcript()))
        exchanges = [(p.frm, p.exchange, p.response) for p in wire.log[mark:] if p.exchange != "INFORMATIONAL"]
        if exchanges != [(h, "CREATE_CHILD_SA", False), (other, "CREATE_CHILD_SA", True)]:
            fail("phase 2 again from %s: one CREATE_CHILD_SA exchange expected:\n%s" % (h, wire.transcript()))
        if tunnel("a").get("ike_spis") != ike_spis:
            fail("the IKE SA changed: %s, was %s" % (tunnel("a").get("ike_spis"), ike_spis))
        if not ping("a") or not ping("b"):
            fail("no traffic over the new CHILD SA: " + state())
        passed("activate phase=2 on %s: one CREATE_CHILD_SA over the same IKE SA, SPIs agree, ping both ways" % h)
    check_ids(wire)
    rem = ike_bg("b", "cmd=remove", "namelist=gw")
    if not wait(10, lambda: rem.poll() is not None and no_state_left("a") and no_state_left("b")):
        fail("full remove after phase 2 came again: " + state())
    passed("remove on b ends the IKE SA too; no state left on either side")


def lifetime(wire):
    """The lifetime in packets (lifetime_packets = 500 on a): at the soft
    limit filterd tells isakmpd, which asks for a rekey; the wire drops that
    request, so the SAs pass their hard limit (550) and carry nothing more,
    counted; once the request gets through (retransmitted), the new SAs
    carry the traffic."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation: %s %s" % (act.stdout.read(), state()))
    first_in = tunnel("a").get("esp_spi_in")
    blocking = {"on": True}

    def rule(p):
        if blocking["on"] and p.frm == "a" and p.exchange == "CREATE_CHILD_SA" and not p.response:
            return "drop"
        return "accept"
    pinger = subprocess.Popen(["ping", "-q", "-c", "700", "-i", "0.002", "-W", "1", "-I", A_IN, B_IN],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wire.run(20, rule, until=lambda: pinger.poll() is not None)
    summary = pinger.stdout.read().strip().splitlines()[-2:]
    dropped = [p for p in wire.log if p.verdict == "dropped"]
    if not dropped:
        fail("a asked for no rekey at its soft limit: %s\n%s" % (state(), wire.transcript()))
    if "reached its soft limit of packets" not in log("a") or "reached its hard limit (packets)" not in log("a"):
        fail("a's logs do not show both limits: %s" % [l for l in log("a").splitlines() if "limit" in l])
    expired = counter("a", "out_sa_expired") + counter("a", "in_sa_expired")
    if expired == 0:
        fail("no packet counted as expired on a: ping said %s" % summary)
    passed("soft limit: a asked for a rekey (dropped on the wire %d times); hard limit: %d packets dropped as "
           "expired (ping: %s)" % (len(dropped), expired, summary[-1] if summary else "?"))
    blocking["on"] = False
    if not wait(20, lambda: settled() and tunnel("a").get("esp_spi_in") != first_in):
        fail("the rekey did not get through: %s\n%s" % (state(), wire.transcript()))
    if not ping("a") or not ping("b"):
        fail("no traffic on the new SAs: " + state())
    passed("the retransmitted rekey got through: new SAs, ping both ways")


def remove_phase2(h, other, wire):
    """ike cmd=remove phase=2 on H, run until both sides have no CHILD SA."""
    mark = len(wire.log)
    rem = ike_bg(h, "cmd=remove", "phase=2", "namelist=gw")

    def down():
        return (rem.poll() is not None and tunnel("a").get("phase2") == "inactive"
                and tunnel("b").get("phase2") == "inactive" and prop("a", "Filter", "SAs") == 0
                and prop("b", "Filter", "SAs") == 0
                and any(p.frm == other and p.response for p in wire.log[mark:]))
    if not wait(10, down) or rem.returncode != 0:
        fail("remove phase=2 on %s: %s %s\n%s" % (h, rem.stdout.read() if rem.poll() is not None else "", state(),
                                                   wire.transcript()))


def phase2_busy(wire):
    """ike cmd=remove phase=2 while a CHILD SA rekey is out (held on the
    wire) is refused with the reason, and the tunnel stays up; once the
    rekey is through, the removal works, and the removed CHILD SA does not
    come back by itself (a has child_rekey_time 5s)."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation: %s %s" % (act.stdout.read(), state()))
    held = []

    def rule(p):
        if p.frm == "a" and p.exchange == "CREATE_CHILD_SA" and not p.response and not held:
            held.append(p)
            return "hold"
        return "accept"
    wire.run(10, rule, until=lambda: bool(held))
    if not held:
        fail("no CHILD SA rekey from a in 10 s (child_rekey_time 5s)")
    rem = ike("a", "cmd=remove", "phase=2", "namelist=gw")
    if rem.returncode == 0 or "rekeyed" not in rem.stderr:
        fail("remove phase=2 during a rekey: exit %d, %s%s" % (rem.returncode, rem.stdout, rem.stderr))
    if tunnel("a").get("phase2") != "active":
        fail("the refused removal changed the tunnel: " + state())
    passed("remove phase=2 during a CHILD SA rekey refused (%s); the tunnel stays active" % rem.stderr.strip())
    held[0].accept()
    if not wait(10, settled):
        fail("the held rekey did not complete: %s\n%s" % (state(), wire.transcript()))
    remove_phase2("a", "b", wire)
    mark = len(wire.log)
    wire.run(5)
    if tunnel("a").get("phase2") != "inactive" or prop("a", "Filter", "SAs") != 0:
        fail("the CHILD SA came back by itself: " + state())
    if any(p.exchange == "CREATE_CHILD_SA" for p in wire.log[mark:]):
        fail("a CREATE_CHILD_SA after phase 2 was removed:\n" + wire.transcript())
    passed("after the rekey, remove phase=2 works, and no CHILD SA is made again within 5 s")


def phase2_collision(wire):
    """Both ends activate phase 2 at once over the IKE SA that stayed: the
    two CREATE_CHILD_SA requests cross on the wire, each is answered
    TEMPORARY_FAILURE, each end tries again after a random delay, and the
    tunnel ends with one CHILD SA that both agree on; both activations
    succeed."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation: %s %s" % (act.stdout.read(), state()))
    remove_phase2("a", "b", wire)
    acts = [ike_bg(h, "cmd=activate", "phase=2", "namelist=gw") for h in "ab"]
    if not wire.cross(10, "CREATE_CHILD_SA"):
        fail("the two requests did not cross: %s\n%s" % (state(), wire.transcript()))
    if not wait(25, lambda: all(x.poll() is not None for x in acts) and settled()):
        fail("after the crossing: %s\n%s" % (state(), wire.transcript()))
    for h, x in zip("ab", acts):
        if x.returncode != 0:
            fail("activate phase=2 on %s: %s" % (h, x.stdout.read()))
    if "TEMPORARY_FAILURE from the peer, trying again" not in log("a") + log("b"):
        fail("nobody tried again after TEMPORARY_FAILURE")
    if not ping("a") or not ping("b"):
        fail("no traffic: " + state())
    check_ids(wire)
    passed("both ends asked at once: TEMPORARY_FAILURE, a retry, one CHILD SA both agree on; both activations "
           "succeeded, ping both ways")


def child_invalid_ke(wire):
    """A CHILD SA rekey with PFS where the groups differ: a offers
    aes256gcm16-x25519 first and aes256gcm16-ecp256 second, b takes only
    ecp256. b answers a's first request INVALID_KE_PAYLOAD; a asks again
    with group 19 (two requests, one rekey), and remembers it: its next
    rekey needs one request."""
    act = ike_bg("a", "cmd=activate", "namelist=gw")
    wire.run(15, until=lambda: act.poll() is not None)
    if act.returncode != 0:
        fail("activation: %s %s" % (act.stdout.read(), state()))

    def rekeyed(n):
        return lambda: log("a").count("CHILD SA rekeyed") >= n and settled()
    if not wait(20, rekeyed(1)):
        fail("no CHILD SA rekey: %s\n%s" % (state(), wire.transcript()))
    said = [l for l in log("a").splitlines() if "INVALID_KE_PAYLOAD, the peer wants" in l]
    if len(said) != 1:
        fail("a's log about INVALID_KE_PAYLOAD: %s" % said)
    first = [p for p in wire.log if p.frm == "a" and p.exchange == "CREATE_CHILD_SA" and not p.response]
    if len(first) < 2:
        fail("a did not ask twice:\n" + wire.transcript())
    passed("INVALID_KE_PAYLOAD in CREATE_CHILD_SA: a asked again with the peer's group (%s)" % said[0].split(": ", 1)[-1])
    mark = len(wire.log)
    if not wait(20, rekeyed(2)):
        fail("no second CHILD SA rekey: %s\n%s" % (state(), wire.transcript()))
    again = [p for p in wire.log[mark:] if p.frm == "a" and p.exchange == "CREATE_CHILD_SA" and not p.response]
    if len(again) != 1 or log("a").count("INVALID_KE_PAYLOAD, the peer wants") != 1:
        fail("the second rekey did not start with group 19:\n" + wire.transcript())
    check_ids(wire)
    if not ping("a") or not ping("b"):
        fail("no traffic: " + state())
    passed("the next rekey used group 19 at once (one request); ping both ways")


SCENARIOS = {
    "child-invalid-ke": child_invalid_ke,
    "phase2-busy": phase2_busy,
    "phase2-collision": phase2_collision,
    "lifetime": lifetime,
    "phase2": phase2,
    "exchanges": exchanges,
    "retransmit": retransmit,
    "timeout": timeout,
    "child-collision": collision("CHILD"),
    "ike-collision": collision("IKE"),
    "invalid-ke": invalid_ke,
    "no-proposal": refused("NO_PROPOSAL_CHOSEN", True, "NO_PROPOSAL_CHOSEN", "none of the peer's 1 IKE proposals"),
    "auth-failed": refused("AUTHENTICATION_FAILED", False, "AUTHENTICATION_FAILED", "AUTH"),
    "ts-unacceptable": refused("TS_UNACCEPTABLE", False, "TS_UNACCEPTABLE", "traffic selector", ike_up=True),
}


def main():
    global WIRE
    scenario = SCENARIOS[sys.argv[1]]
    with Wire(A_ADDR) as wire:
        WIRE = wire
        try:
            scenario(wire)
        except Failed as e:
            print("FAIL: %s" % e, flush=True)
            with open("%s/transcript" % WORK, "w") as f:
                f.write(wire.transcript() + "\n")
            return 1
        with open("%s/transcript" % WORK, "w") as f:
            f.write(wire.transcript() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
