"""Issue 5 acceptance at the system level: captures of mDNS announcements,
replayed through the whole chain (`updproxy replay --config`: DPDK net_pcap
-> service table -> service model -> UPDATE engine), published with
TSIG-signed UPDATEs into a real authoritative server, checked by AXFR
against the exact record set the scenario should leave.

Servers: BIND 9 (`named`) and Knot DNS (`knotd`), each on 127.0.0.1 at a
free port, zone `example.test.` with an update key (BIND: update-policy
grant KEY zonesub ANY; Knot: key + acl action update) and transfers open to
127.0.0.1. Every scenario gets a fresh server and a fresh zone.

Zone layout (the choice this test makes): one zone, `example.test.`. The
parent domain (publish.domain) is `example.test.` and the lab link's
subdomain `lab.example.test.` lies in the same zone, so one AXFR shows the
parent's browse records (b/lb) and the subdomain's records together. The
second link of scenario f has no configured subdomain and gets the
algorithmic label (c6336400.example.test. for 198.51.100.0/24), also in
the zone.

Each scenario runs in two modes, each with its own capture and a fresh
server:
  fresh   the whole capture, one replay, into the fresh zone: the final set.
  change  the capture up to the scenario's mark (the state before the
          change) is replayed and checked first, then the whole capture is
          replayed by a second process into the SAME zone, which must end
          exactly at the final set: the change itself (a TTL, a removal) has
          to reach a server that holds the old state. (A replay runs the
          capture as fast as it can, so within one replay the add and the
          change fall in one batching window and the old state never leaves
          the proxy; the `change` mode is what puts it on the server.)
Known product issues are listed in KNOWN_ISSUES: those cases print XFAIL
with what went wrong and do not fail the test; if one passes (XPASS) the
test fails, so the entry is removed with the fix.

Scenarios:
  a adds       two services (IPP printer with subtype and TXT; AirPlay with
               spaces, a dot and UTF-8 in the instance name) -> PTR, subtype
               PTR, SRV, TXT, A, AAAA, _services enumeration, browse. A probe
               (records in a query's authority section, draft §4.3) and an
               announcement that crossed a router (IP TTL 1, RFC 6762 §11)
               publish nothing.
  b ttl        the same records announced again with other TTLs -> the zone
               carries the new TTLs.
  c goodbye    one service and its host say goodbye (TTL 0); the printer says
               goodbye to one of its addresses -> removed, the rest stays.
  d flush      cache-flush replacement: the TV's address and the printer's
               TXT change (cache-flush bit) -> old A and old TXT removed,
               new ones present.
  e linklocal  a host with only 169.254/16 and fe80::/10 addresses -> its
               service absent; a host that gets a routable address later ->
               published with it; a host whose routable address says goodbye
               -> its service withdrawn; no link-local A/AAAA anywhere.
  f browse     three links (configured subdomain, algorithmic label, a link
               with no services): b and lb in the parent list every
               subdomain, b in each subdomain.

usage: publish_test.py UPDPROXY_BINARY [--server bind|knot|all] [--only a,b,...]
"""
import argparse
import ipaddress
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from dns_servers import SERVERS, TsigKey, base_records  # noqa: E402
from mdns_capture import (A, AAAA, SRV, TXT, Capture, Host, LinkPub,  # noqa: E402
                          Service, browse_records, key_of, response, rr, rd_addr, rd_srv,
                          rd_txt, service_records, show, wire_name)

import dns.name  # noqa: E402
import dns.rdata  # noqa: E402
import dns.rdataclass  # noqa: E402
import dns.rdatatype  # noqa: E402

ZONE = "example.test."
LAB = LinkPub("lab.example.test.", ZONE)


def replay_config(key, port, links, extra_update=""):
    """links: [(name, prefix, subdomain or None)]"""
    ls = "".join(f"  - name: {n}\n    port: p0\n    prefix: {p}\n"
                 + (f"    subdomain: {s}\n" if s else "") for n, p, s in links)
    return f"""dpdk:
  lcores: [0, 1]
  memory_mb: 256
  vdevs: [net_null0]
ports:
  - name: p0
    device: net_null0
links:
{ls}publish:
  domain: {ZONE}
update:
  key_file: {key.path}
  batch_ms: 20
{extra_update}  zones:
    - zone: {ZONE}
      server: 127.0.0.1
      port: {port}
log:
  level: debug
"""


SUMMARY = re.compile(r";; published (\d+) records; (\d+) changes refused")
ZONE_LINE = re.compile(r";;   zone (\S+): (\d+) UPDATEs, (\d+) records, (\d+) NOERROR, "
                       r"(\d+) timeouts, confirmed (\d+)/(\d+)")


def run_replay(binary, capture, config, timeout=60):
    r = subprocess.run([binary, "replay", capture, "--config", config], text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return r


def check_replay(r, problems, expect_ok=True):
    m = SUMMARY.search(r.stderr)
    zl = ZONE_LINE.findall(r.stderr)
    if expect_ok:
        if r.returncode != 0:
            problems.append(f"replay exit {r.returncode}")
        if not m or m.group(2) != "0":
            problems.append("summary: " + (m.group(0) if m else "missing"))
        for z in zl:
            if z[4] != "0" or z[5] != z[6]:
                problems.append(f"zone line: {z}")
        if not zl:
            problems.append("no per-zone summary line")
    return m, zl


def compare(got, expected, problems, check_ttl=True):
    """got: AXFR [(owner, ttl, type, rdata)]; expected: same, base records
    added here. Exact set equality on (owner, type, RDATA), canonical; the
    TTL of each expected record when its RRset's expected TTLs agree."""
    exp = {}
    for owner, ttl, t, rd in expected:
        exp[key_of(owner, t, rd)] = (owner, ttl, t, rd)
    for owner, t, text in base_records(ZONE):
        rd = dns.rdata.from_text(dns.rdataclass.IN, t, text)
        exp[key_of(owner, t, rd)] = (owner, 300, t, rd)
    seen = {}
    for rec in got:
        k = key_of(rec[0], rec[2], rec[3])
        if k in seen:
            problems.append("duplicate in zone: " + show(*rec))
        seen[k] = rec
    for k in sorted(set(seen) - set(exp)):
        problems.append("unexpected in zone: " + show(*seen[k]))
    for k in sorted(set(exp) - set(seen)):
        problems.append("missing from zone:  " + show(*exp[k]))
    if check_ttl:
        rrset_ttls = {}
        for k, (owner, ttl, t, rd) in exp.items():
            rrset_ttls.setdefault((k[0], k[1]), set()).add(ttl)
        for k in sorted(set(seen) & set(exp)):
            owner, ttl, t, rd = exp[k]
            if len(rrset_ttls[(k[0], k[1])]) == 1 and seen[k][1] != ttl:
                problems.append(f"TTL {seen[k][1]} instead of {ttl}: " + show(*exp[k]))
    # Draft §4.4: no link-local address is ever published.
    for owner, ttl, t, rd in got:
        if t in (A, AAAA) and ipaddress.ip_address(rd.address).is_link_local:
            problems.append("link-local address published: " + show(owner, ttl, t, rd))


# ---- the devices of the scenarios ----

def printer_host():
    return Host("printer", "192.0.2.10", ["192.0.2.10", "2001:db8:1::10", "fe80::10",
                                          "169.254.10.10"])


def printer(host):
    return Service("Lab Printer", "_ipp._tcp", host, 631,
                   [b"txtvers=1", b"rp=ipp/print", b"note=Room 2.14", b"pdl=application/pdf"],
                   subtypes=["_printer", "_universal"])


def tv_host(addr="192.0.2.20"):
    return Host("Living-Room-TV", addr, [addr])


def tv(host):
    # Spaces, a dot and UTF-8 (an em dash and an umlaut) in one label.
    return Service("Living Room TV.2 — Küche", "_airplay._tcp", host, 7000,
                   [b"model=AppleTV5,3", b"features=0x5A7FFFF7,0x1E", b"srcvers=220.68"])


def announce_twice(cap, host, services, **kw):
    """RFC 6762 §8.3: at least two announcements, one second apart."""
    cap.announce(host, services, **kw)
    cap.advance(1.0)
    cap.announce(host, services, **kw)


# ---- scenarios ----
# Each builds its capture and returns (links, expected at the mark, expected
# at the end). The mark ends the first phase: the state before the change
# the scenario is about (the whole capture when there is no change).

def scenario_a(cap):
    ph, th = printer_host(), tv_host()
    p, t = printer(ph), tv(th)
    announce_twice(cap, ph, [p])
    cap.advance(0.2)
    announce_twice(cap, th, [t])
    # A probe: the records are in a query's authority section (draft §4.3).
    probe_host = Host("prober", "192.0.2.50", ["192.0.2.50"])
    ps = Service("Probe Only", "_ipp._tcp", probe_host, 631, [b"x=1"])
    inst = ps.instance_name()
    q = struct.pack("!HHHHHH", 0, 0, 1, 0, 1, 0) + wire_name(inst) + struct.pack("!HH", 255, 0x8001)
    q += rr(inst, SRV, 120, rd_srv(0, 0, 631, probe_host.name))
    q += rr(inst, TXT, 4500, rd_txt([b"x=1"]))
    cap.send(probe_host.source, q, mac=probe_host.mac)
    # An announcement that crossed a router: IP TTL 1 (RFC 6762 §11).
    routed_host = Host("routed", "192.0.2.60", ["192.0.2.60"])
    rs = Service("Routed Thing", "_http._tcp", routed_host, 80, [b"path=/"])
    cap.send(routed_host.source, response(rs.records() + routed_host.address_records()),
             mac=routed_host.mac, ttl=1)
    cap.advance(0.5)
    cap.mark()
    expected = service_records(LAB, p) + service_records(LAB, t) + browse_records(LAB)
    return [("lab", "192.0.2.0/24", LAB.sub)], expected, expected


def scenario_b(cap):
    ph, th = printer_host(), tv_host()
    p, t = printer(ph), tv(th)
    announce_twice(cap, ph, [p])
    announce_twice(cap, th, [t])
    cap.mark()
    before = service_records(LAB, p) + service_records(LAB, t) + browse_records(LAB)
    cap.advance(10)
    # New TTLs for everything of the printer: PTR 4500 -> 1800, TXT 4500 ->
    # 900, SRV 120 -> 240, addresses 120 -> 60. The TV stays as it was.
    announce_twice(cap, ph, [p], ttl=1800, txt_ttl=900, srv_ttl=240, host_ttl=60)
    after = (service_records(LAB, p, ttl=1800, txt_ttl=900, srv_ttl=240, host_ttl=60)
             + service_records(LAB, t) + browse_records(LAB))
    return [("lab", "192.0.2.0/24", LAB.sub)], before, after


def scenario_c(cap):
    ph, th = printer_host(), tv_host()
    p, t = printer(ph), tv(th)
    announce_twice(cap, ph, [p])
    announce_twice(cap, th, [t])
    cap.mark()
    before = service_records(LAB, p) + service_records(LAB, t) + browse_records(LAB)
    cap.advance(5)
    cap.goodbye(th, [t], addresses=True)
    # The printer gives up one address (goodbye for that AAAA alone).
    cap.send(ph.source, response([rr(ph.name, AAAA, 0, rd_addr("2001:db8:1::10"), flush=True)]),
             mac=ph.mac)
    # Goodbyes take effect one second later (RFC 6762 §10.1): the table acts
    # on them at a later packet; the printer's next announcement is one.
    cap.advance(3)
    ph.addrs = [a for a in ph.addrs if a != "2001:db8:1::10"]
    cap.announce(ph, [p])
    after = service_records(LAB, p) + browse_records(LAB)
    return [("lab", "192.0.2.0/24", LAB.sub)], before, after


def scenario_d(cap):
    ph, th = printer_host(), tv_host("192.0.2.20")
    p, t = printer(ph), tv(th)
    announce_twice(cap, ph, [p])
    announce_twice(cap, th, [t])
    cap.mark()
    before = service_records(LAB, p) + service_records(LAB, t) + browse_records(LAB)
    cap.advance(20)
    # The TV comes back with another address (DHCP): cache-flush A.
    th2 = tv_host("192.0.2.21")
    th2.mac = th.mac
    t2 = tv(th2)
    announce_twice(cap, th2, [t2])
    # The printer's TXT changes (cache-flush TXT).
    p.txt = [b"txtvers=1", b"rp=ipp/print", b"note=Room 3.01", b"pdl=application/pdf"]
    announce_twice(cap, ph, [p])
    cap.advance(2)
    cap.announce(ph, [p])   # a later packet: the §10.2 flush (1 s) has run
    after = service_records(LAB, p) + service_records(LAB, t2) + browse_records(LAB)
    return [("lab", "192.0.2.0/24", LAB.sub)], before, after


def scenario_e(cap):
    ph = printer_host()   # has fe80::10 and 169.254.10.10 besides routable ones
    p = printer(ph)
    cam_h = Host("ll-cam", "169.254.7.7", ["169.254.7.7", "fe80::7"])
    cam = Service("Door Camera", "_rtsp._tcp", cam_h, 554, [b"path=/live"])
    late_h = Host("late-host", "169.254.8.8", ["169.254.8.8", "fe80::8"])
    late = Service("Late Speaker", "_raop._tcp", late_h, 7000, [b"am=Speaker"])
    old_h = Host("old-printer", "192.0.2.40", ["192.0.2.40", "fe80::40"])
    old = Service("Old Printer", "_pdl-datastream._tcp", old_h, 9100, [b"ty=Old"])
    announce_twice(cap, ph, [p])
    announce_twice(cap, cam_h, [cam])
    announce_twice(cap, late_h, [late])
    announce_twice(cap, old_h, [old])
    cap.mark()
    # The model's verdicts, stated independently: link-local-only hosts
    # publish nothing (draft §4.4).
    assert service_records(LAB, cam) == [] and service_records(LAB, late) == []
    before = service_records(LAB, p) + service_records(LAB, old) + browse_records(LAB)
    cap.advance(5)
    # late-host gets a routable address: cache-flush A replaces 169.254.8.8.
    late_h2 = Host("late-host", "192.0.2.88", ["192.0.2.88", "fe80::8"])
    late_h2.mac = late_h.mac
    late2 = Service("Late Speaker", "_raop._tcp", late_h2, 7000, [b"am=Speaker"])
    announce_twice(cap, late_h2, [late2])
    # old-printer loses its routable address (goodbye): only fe80 is left.
    cap.send(old_h.source, response([rr(old_h.name, A, 0, rd_addr("192.0.2.40"), flush=True)]),
             mac=old_h.mac)
    cap.advance(3)
    cap.announce(ph, [p])
    after = service_records(LAB, p) + service_records(LAB, late2) + browse_records(LAB)
    return [("lab", "192.0.2.0/24", LAB.sub)], before, after


def scenario_f(cap):
    ph = printer_host()
    p = printer(ph)
    dorm_h = Host("dorm-speaker", "198.51.100.7", ["198.51.100.7", "2001:db8:2::7"])
    dorm = Service("Dorm Speaker", "_raop._tcp", dorm_h, 7000, [b"am=AudioAccessory5,1"])
    announce_twice(cap, ph, [p])
    announce_twice(cap, dorm_h, [dorm])
    cap.mark()
    dorm_link = LinkPub("c6336400.example.test.", ZONE)   # algorithmic label (draft §3.1)
    empty_link = LinkPub("quiet.example.test.", ZONE)
    expected = (service_records(LAB, p) + service_records(dorm_link, dorm)
                + browse_records(LAB) + browse_records(dorm_link) + browse_records(empty_link))
    links = [("lab", "192.0.2.0/24", LAB.sub), ("dorm", "198.51.100.0/24", None),
             ("quiet", "203.0.113.0/24", empty_link.sub)]
    return links, expected, expected


SCENARIOS = {
    "a": ("adds", scenario_a),
    "b": ("ttl change", scenario_b),
    "c": ("goodbyes", scenario_c),
    "d": ("cache-flush replacement", scenario_d),
    "e": ("link-local exclusion", scenario_e),
    "f": ("browse records", scenario_f),
}

# Two modes per scenario:
#   fresh   the whole capture, one replay, into a fresh zone: the final set.
#   change  the first phase's capture replayed into a fresh zone (checked),
#           then the whole capture replayed by a new process into the SAME
#           zone: the change itself (TTL, removal) has to reach a server that
#           holds the old state.
MODES = ("fresh", "change")

# Known product issues, (server, scenario, mode) -> what goes wrong. A case
# listed here prints XFAIL and does not fail the test; if it passes, it
# prints XPASS and fails, so the entry is removed when the product is fixed.
# (Was: ("knot", "b", "change"), a TTL change across a restart not applied by
# Knot, which keeps the old TTL on a plain add of the same RR. The engine now
# reads the zone back at start (signed AXFR), knows the server holds the RR
# with another TTL, and sends delete RR + add RR.)
KNOWN_ISSUES = {}


def replay_and_check(binary, srv, d, tag, capture, config, expected, problems):
    r = run_replay(binary, capture, config)
    with open(os.path.join(d, f"replay-{tag}.out"), "w") as f:
        f.write(r.stdout + "\n---- stderr\n" + r.stderr)
    before = len(problems)
    check_replay(r, problems)
    got = srv.axfr(ZONE)
    compare(got, expected, problems)
    # The server family's own client (dig for BIND, kdig for Knot) sees the
    # same number of records.
    text = srv.axfr_text(ZONE)
    if len(text) != len(got):
        problems.append(f"{srv.client} AXFR shows {len(text)} records, dnspython {len(got)}")
    for i in range(before, len(problems)):
        problems[i] = f"[{tag}] {problems[i]}"
    return r


def run_scenario(binary, server_cls, work, letter, mode):
    title, build = SCENARIOS[letter]
    d = os.path.join(work, f"{server_cls.kind}-{letter}-{mode}")
    os.makedirs(d)
    cap = Capture(start=time.time() - 60)   # as if captured a minute ago
    links, expected_mark, expected = build(cap)
    whole = cap.write(os.path.join(d, "capture.pcap"))
    first = cap.write(os.path.join(d, "capture-phase1.pcap"), upto=0)
    key = TsigKey.generate(d)
    problems = []
    with server_cls(d, [ZONE], key) as srv:
        config = os.path.join(d, "updproxy.yaml")
        with open(config, "w") as f:
            f.write(replay_config(key, srv.port, links))
        if mode == "change":
            replay_and_check(binary, srv, d, "phase 1", first, config, expected_mark, problems)
        r = replay_and_check(binary, srv, d, "whole", whole, config, expected, problems)
        log = srv.log_tail(4000)
    return title, problems, r, log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--server", default="all", choices=["bind", "knot", "all"])
    ap.add_argument("--only", default="".join(SCENARIOS))
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    servers = ["bind", "knot"] if args.server == "all" else [args.server]
    work = tempfile.mkdtemp(prefix="updproxy-publish-")
    failed = 0
    t0 = time.time()
    try:
        for s in servers:
            cls = SERVERS[s]
            for letter in args.only.replace(",", ""):
              for mode in MODES:
                t = time.time()
                title, problems, r, log = run_scenario(args.binary, cls, work, letter, mode)
                known = KNOWN_ISSUES.get((s, letter, mode))
                if known and problems:
                    status = "XFAIL (known issue)"
                elif known:
                    status = "XPASS: fixed? remove it from KNOWN_ISSUES"
                    failed += 1
                else:
                    status = "ok" if not problems else "FAIL"
                print(f"{s:5} {letter} {title:24} {mode:6} {status} ({time.time() - t:.1f} s)")
                if known and problems:
                    print("      " + known)
                    for p in problems[:6]:
                        print("      " + p)
                    if len(problems) > 6:
                        print(f"      ... {len(problems) - 6} more")
                elif problems:
                    failed += 1
                    for p in problems:
                        print("      " + p)
                    print("      replay stderr (tail):\n" + "\n".join(
                        "        " + l for l in r.stderr.splitlines()[-12:]))
                    print(f"      {s} log (tail):\n" + "\n".join(
                        "        " + l for l in log.splitlines()[-12:]))
    finally:
        if args.keep or failed:
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"publish test: {failed} failed, {time.time() - t0:.1f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
