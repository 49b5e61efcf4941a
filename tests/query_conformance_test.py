#!/usr/bin/python3
"""Conformance of the embedded authoritative service against Knot DNS.

Writes two zone files (a subdomain full of DNS-SD services, with escaped
names, and its parent domain with the browse records), loads them into
updproxy-zone-server and into knotd, sends both the same queries (UDP with and
without EDNS, DO bit, TCP, odd case, names that do not exist, empty
non-terminals, other classes, zones served by neither, a truncated answer)
and compares rcode, flags, EDNS and the answer/authority/additional sections
record by record (names case-insensitively, RDATA in canonical form).

One difference is expected and checked rather than tolerated: for a PTR
answer the proxy adds the RFC 6763 §12.1 additional records (the instances'
SRV and TXT, the SRV targets' A/AAAA), which Knot does not. There the test
requires Knot's additional section to be a subset of ours and ours to be
exactly the §12.1 set computed from the zone file.

usage: query_conformance_test.py PATH/TO/updproxy-zone-server
Needs knotd (Debian: knot) and dnspython (python3-dnspython). Loopback only.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
from dns_servers import free_port

LAB = "lab.example.edu."
PARENT = "example.edu."


def lab_zone_text():
    lines = [
        "$ORIGIN lab.example.edu.",
        "$TTL 120",
        "@ 3600 IN SOA ns1 hostmaster 2024010101 3600 600 86400 60",
        "@ 3600 IN NS ns1",
        "@ 3600 IN NS ns2.example.edu.",
        "ns1 IN A 127.0.0.1",
        "ns1 IN AAAA ::1",
        "b._dns-sd._udp IN PTR @",
        "lb._dns-sd._udp IN PTR @",
        "_services._dns-sd._udp IN PTR _ipp._tcp",
        "_services._dns-sd._udp IN PTR _http._tcp",
        "_services._dns-sd._udp IN PTR _airplay._tcp",
        # Instances with spaces, dots and non-ASCII in their labels.
        "_ipp._tcp IN PTR Lab\\032Printer._ipp._tcp",
        "_ipp._tcp IN PTR Color\\.Printer\\0322._ipp._tcp",
        "_universal._sub._ipp._tcp IN PTR Lab\\032Printer._ipp._tcp",
        "Lab\\032Printer._ipp._tcp IN SRV 0 0 631 printer1",
        'Lab\\032Printer._ipp._tcp IN TXT "txtvers=1" "rp=ipp/print" "ty=Lab Printer" "pdl=application/pdf"',
        "Color\\.Printer\\0322._ipp._tcp IN SRV 10 5 631 printer2",
        'Color\\.Printer\\0322._ipp._tcp IN TXT "txtvers=1"',
        "_http._tcp IN PTR Web\\032Config._http._tcp",
        "Web\\032Config._http._tcp IN SRV 0 0 80 printer1",
        'Web\\032Config._http._tcp IN TXT "path=/admin"',
        "_airplay._tcp IN PTR Caf\\195\\169\\032TV._airplay._tcp",
        "Caf\\195\\169\\032TV._airplay._tcp IN SRV 0 0 7000 appletv",
        'Caf\\195\\169\\032TV._airplay._tcp IN TXT ""',
        "printer1 IN A 192.0.2.10",
        "printer1 IN AAAA 2001:db8::10",
        "printer1 IN AAAA 2001:db8::11",
        "printer2 IN A 192.0.2.20",
        "appletv IN AAAA 2001:db8::30",
        # A deep name: empty non-terminals above it.
        "host.deep.a.b IN A 192.0.2.40",
    ]
    # An RRset too large for 512 bytes of UDP.
    for i in range(8):
        lines.append('big IN TXT "%02d%s"' % (i, "x" * 100))
    return "\n".join(lines) + "\n"


def parent_zone_text():
    return "\n".join([
        "$ORIGIN example.edu.",
        "$TTL 300",
        "@ 3600 IN SOA ns2 hostmaster 77 7200 900 604800 30",
        "@ 3600 IN NS ns2",
        "ns2 IN A 127.0.0.1",
        "b._dns-sd._udp IN PTR lab",
        "lb._dns-sd._udp IN PTR lab",
        "db._dns-sd._udp IN PTR lab",
        "www IN A 192.0.2.80",
    ]) + "\n"


def wait_for(port, name, deadline_s=15):
    q = dns.message.make_query(name, "SOA")
    end = time.time() + deadline_s
    while time.time() < end:
        try:
            r = dns.query.udp(q, "127.0.0.1", port=port, timeout=0.5)
            if r.rcode() == dns.rcode.NOERROR and r.answer:
                return True
        except Exception:
            pass
        time.sleep(0.1)
    return False


def start_knot(tmp, port, zones):
    conf = os.path.join(tmp, "knot.conf")
    with open(conf, "w") as f:
        f.write("server:\n    listen: 127.0.0.1@%d\n    rundir: %s\n" % (port, tmp))
        f.write("    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n")
        f.write("database:\n    storage: %s\n" % os.path.join(tmp, "knotdb"))
        f.write("log:\n  - target: stderr\n    any: warning\n")
        f.write("template:\n  - id: default\n    storage: %s\n    zonefile-sync: -1\n"
                "    journal-content: none\n" % tmp)
        f.write("zone:\n")
        for apex, path in zones:
            f.write("  - domain: %s\n    file: %s\n" % (apex, path))
    log = open(os.path.join(tmp, "knot.log"), "w")
    return subprocess.Popen(["knotd", "-c", conf, "-s", os.path.join(tmp, "knot.sock")],
                            stdout=log, stderr=subprocess.STDOUT)


def start_ours(exe, tmp, port, zones):
    log = open(os.path.join(tmp, "ours.log"), "w")
    args = [exe, "--listen", "127.0.0.1#%d" % port]
    for _, path in zones:
        args += ["--zone", path]
    return subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)


def canon(rrset_list):
    """A section as a set of (owner, ttl, class, type, canonical rdata)."""
    out = set()
    for rrset in rrset_list:
        for rd in rrset:
            out.add((rrset.name.canonicalize().to_text(), rrset.ttl, rrset.rdclass,
                     rrset.rdtype, rd.to_digestable()))
    return out


def show(s):
    return "\n      ".join(sorted("%s %d %s %s" % (o, ttl, dns.rdatatype.to_text(t), d.hex())
                                  for o, ttl, _, t, d in s))


def rfc6763_additional(zone, answer):
    """§12.1: for each PTR target, its SRV and TXT; for each SRV target, A/AAAA."""
    want = set()
    for rrset in answer:
        if rrset.rdtype != dns.rdatatype.PTR:
            continue
        for rd in rrset:
            inst = rd.target
            node = zone.get_node(inst)
            if node is None:
                continue
            for t in (dns.rdatatype.SRV, dns.rdatatype.TXT):
                rs = node.get_rdataset(dns.rdataclass.IN, t)
                if rs is None:
                    continue
                for r in rs:
                    want.add((inst.canonicalize().to_text(), rs.ttl, dns.rdataclass.IN, t,
                              r.to_digestable()))
                if t == dns.rdatatype.SRV:
                    for r in rs:
                        tnode = zone.get_node(r.target)
                        if tnode is None:
                            continue
                        for at in (dns.rdatatype.A, dns.rdatatype.AAAA):
                            ars = tnode.get_rdataset(dns.rdataclass.IN, at)
                            if ars is None:
                                continue
                            for a in ars:
                                want.add((r.target.canonicalize().to_text(), ars.ttl,
                                          dns.rdataclass.IN, at, a.to_digestable()))
    return want


def build_queries(zones):
    """(label, qname, qtype, kwargs for make_query, transport, class)."""
    qs = []
    types = ["A", "AAAA", "PTR", "SRV", "TXT", "SOA", "NS"]
    names = set()
    for z in zones.values():
        for name in z.nodes.keys():
            names.add(name.derelativize(z.origin))
    for name in sorted(names):
        n = name.to_text()
        for t in types:
            qs.append(("plain", n, t, {}, "udp"))
        qs.append(("edns", n, "A", {"use_edns": 0, "payload": 1232}, "udp"))
        qs.append(("do", n, "TXT", {"use_edns": 0, "want_dnssec": True}, "udp"))
        qs.append(("tcp", n, "SRV", {}, "tcp"))
        qs.append(("any", n, "ANY", {}, "udp"))
    specials = [
        "nope.lab.example.edu.", "x.printer1.lab.example.edu.", "_tcp.lab.example.edu.",
        "a.b.lab.example.edu.", "deep.a.b.lab.example.edu.", "b.lab.example.edu.",
        "_dns-sd._udp.lab.example.edu.", "_sub._ipp._tcp.lab.example.edu.",
        "PRINTER1.Lab.Example.EDU.", "lab\\032printer._IPP._tcp.lab.example.edu.",
        "nope.example.edu.", "example.com.", "edu.", ".", "lab.example.edu.",
        "Color.Printer\\0322._ipp._tcp.lab.example.edu.",  # the dot as a separator: another name
    ]
    for n in specials:
        for t in ["A", "PTR", "SOA", "TXT", "SRV"]:
            qs.append(("special", n, t, {}, "udp"))
            qs.append(("special-edns", n, t, {"use_edns": 0}, "udp"))
    qs.append(("tc-udp", "big.lab.example.edu.", "TXT", {}, "udp"))
    qs.append(("tc-edns", "big.lab.example.edu.", "TXT", {"use_edns": 0, "payload": 4096}, "udp"))
    qs.append(("tc-tcp", "big.lab.example.edu.", "TXT", {}, "tcp"))
    qs.append(("class-ch", "printer1.lab.example.edu.", "A", {"rdclass": "CH"}, "udp"))
    return qs


def ask(port, q, transport):
    if transport == "tcp":
        return dns.query.tcp(q, "127.0.0.1", port=port, timeout=3)
    return dns.query.udp(q, "127.0.0.1", port=port, timeout=3, ignore_trailing=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    if shutil.which("knotd") is None:
        print("FAIL: knotd not found (Debian package knot; scripts/install-deps.sh installs it)")
        return 1
    tmp = tempfile.mkdtemp(prefix="updproxy-conf-")
    procs = []
    try:
        zones = []
        for apex, text in ((LAB, lab_zone_text()), (PARENT, parent_zone_text())):
            path = os.path.join(tmp, apex.rstrip(".") + ".zone")
            with open(path, "w") as f:
                f.write(text)
            zones.append((apex, path))
        parsed = {apex: dns.zone.from_file(path, origin=apex, relativize=False)
                  for apex, path in zones}
        kport, oport = free_port(), free_port()
        procs.append(start_knot(tmp, kport, zones))
        procs.append(start_ours(exe, tmp, oport, zones))
        for port, who in ((kport, "knotd"), (oport, "updproxy-zone-server")):
            for apex, _ in zones:
                if not wait_for(port, apex):
                    print("FAIL: %s does not answer for %s" % (who, apex))
                    for p in ("knot.log", "ours.log"):
                        print(open(os.path.join(tmp, p)).read())
                    return 1

        failures = []
        counts = {"same": 0, "ptr-additional": 0}
        queries = build_queries(parsed)
        for label, name, qtype, kw, transport in queries:
            kw = dict(kw)
            rdclass = kw.pop("rdclass", "IN")
            q = dns.message.make_query(name, qtype, rdclass=rdclass, **kw)
            try:
                rk = ask(kport, q, transport)
                ro = ask(oport, q, transport)
            except Exception as e:  # a timeout is a failure, whoever it was
                failures.append("%s %s %s: %s" % (label, name, qtype, e))
                continue
            what = "%s %s %s/%s" % (label, name, qtype, transport)
            problems = []
            if rk.rcode() != ro.rcode():
                problems.append("rcode knot=%s ours=%s" % (dns.rcode.to_text(rk.rcode()),
                                                           dns.rcode.to_text(ro.rcode())))
            fk, fo = rk.flags, ro.flags
            if fk != fo:
                problems.append("flags knot=%s ours=%s" % (dns.flags.to_text(fk),
                                                           dns.flags.to_text(fo)))
            if (rk.edns, rk.payload if rk.edns >= 0 else 0, rk.ednsflags) != \
                    (ro.edns, ro.payload if ro.edns >= 0 else 0, ro.ednsflags):
                problems.append("edns knot=%s/%s/%s ours=%s/%s/%s" % (
                    rk.edns, rk.payload, rk.ednsflags, ro.edns, ro.payload, ro.ednsflags))
            if not (fk & dns.flags.TC):
                for sec in ("answer", "authority"):
                    a, b = canon(getattr(rk, sec)), canon(getattr(ro, sec))
                    if a != b:
                        problems.append("%s differs\n    knot: %s\n    ours: %s" % (
                            sec, show(a), show(b)))
                ak, ao = canon(rk.additional), canon(ro.additional)
                is_ptr = any(r.rdtype == dns.rdatatype.PTR for r in ro.answer)
                if is_ptr and ak != ao:
                    zone = parsed[LAB] if name.lower().endswith(LAB) else parsed[PARENT]
                    want = rfc6763_additional(zone, ro.answer)
                    if not ak <= ao or ao != want:
                        problems.append("PTR additional\n    knot: %s\n    ours: %s\n    "
                                        "RFC 6763: %s" % (show(ak), show(ao), show(want)))
                    elif not problems:
                        counts["ptr-additional"] += 1
                        continue
                elif ak != ao:
                    problems.append("additional differs\n    knot: %s\n    ours: %s" % (
                        show(ak), show(ao)))
            if problems:
                failures.append(what + ":\n  " + "\n  ".join(problems))
            else:
                counts["same"] += 1

        total = len(queries)
        print("queries: %d; identical to knotd: %d; PTR answers with RFC 6763 §12.1 "
              "additionals (knotd adds none): %d; failures: %d" % (
                  total, counts["same"], counts["ptr-additional"], len(failures)))
        for f in failures[:40]:
            print("FAIL", f)
        print("%d passed, %d failed" % (total - len(failures), len(failures)))
        return 0 if not failures else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
