"""The embedded DNS service driven the way a user drives it: `updproxy run`
on a configuration with a `dns:` section, a DPDK net_af_packet port behind a
veth, a real python-zeroconf responder in a network namespace, then
dnspython against the listen address:

  - browse: PTR for the service type (RFC 6763 §12 additionals: SRV, TXT, A),
    the service enumeration PTR, the parent's b._dns-sd._udp browse PTR;
  - SRV, TXT, A of the instance and its host, mapped into the subdomain;
  - NXDOMAIN vs NODATA (SOA in the authority section), REFUSED outside the
    served zones, AA on answers, a TCP query;
  - AXFR over TCP signed with the configured TSIG key (refused unsigned);
  - a responder's goodbye: the records leave the served zone, the serial
    grows;
  - a query sent over the DPDK port to the proxy's link address, port 53,
    from inside the namespace, is answered (the query ring -> the control
    thread -> the tx ring);
  - the `updproxy_dns_*` metrics count what was asked and pass
    `promtool check metrics`;
  - reloads: one that rebuilds the control plane (browse_ttl) keeps every
    record and applies the new TTL; one that moves the link's subdomain
    (the zones are listed, so they stay) moves its records from one served
    zone to the other.

usage: dns_daemon_test.py UPDPROXY_BINARY
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from netns import Subnet, subnets  # noqa: E402
from updproxy_proc import Daemon  # noqa: E402

import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.tsigkeyring  # noqa: E402
import dns.xfr  # noqa: E402
import dns.zone  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "2Tsqe7k9VmVXJPpdKD2YUXtWk8T6vBdJmpy/EJhqZ6U="
KEYRING = dns.tsigkeyring.from_text({"xfr-key.": ("hmac-sha256", SECRET)})
SUB = "lab.example.test."
PARENT = "example.test."


SUB2 = "lab2.example.test."


def config(net, prefix, keyfile, sub=SUB, browse_ttl=3600):
    return f"""
{net.dpdk_yaml(prefix)}links:
  - name: lab-v4
    port: trunk
    prefix: 192.0.2.0/24
    address: 192.0.2.1
    subdomain: {sub}
publish:
  domain: {PARENT}
  browse_ttl: {browse_ttl}
dns:
  listen: ["127.0.0.1:0"]
  zones: [{PARENT}, {SUB}, {SUB2}]
  soa:
    mname: ns.{PARENT}
    rname: hostmaster.{PARENT}
    minimum: 30
  key_file: {keyfile}
  transfer_keys: [xfr-key]
metrics:
  listen: 127.0.0.1:0
log:
  level: info
"""


def main():
    binary = sys.argv[1]
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            failures.append(what)
        return cond

    net = Subnet("q", "192.0.2.10", None)
    work = tempfile.mkdtemp(prefix="updproxy-dns-")
    keyfile = os.path.join(work, "xfr.key")
    with open(keyfile, "w") as f:
        f.write(f'key "xfr-key" {{\n\talgorithm hmac-sha256;\n\tsecret "{SECRET}";\n}};\n')
    with subnets(net):
        prefix = f"upddns{os.getpid()}"
        d = Daemon(binary, config(net, prefix, keyfile), work)
        responder = None
        try:
            d.start()
            log = d.read_log()
            m = re.search(r"dns: serving ([^;]*); udp 127\.0\.0\.1#(\d+) tcp 127\.0\.0\.1#(\d+);",
                          log)
            if not m:
                raise AssertionError("no 'dns: serving' line: " + log)
            zones, port, tcp_port = m.group(1).split(), int(m.group(2)), int(m.group(3))
            check(sorted(zones) == sorted([SUB, SUB2, PARENT]), f"serves the listed zones: {zones}")
            mm = re.search(r"metrics: http://([\d.]+:\d+)/metrics", log)
            server = ("127.0.0.1", port)

            def q(name, rdtype, tcp=False, where=server, timeout=3):
                msg = dns.message.make_query(name, rdtype)
                msg.flags &= ~0x0100  # no RD: an authoritative server
                if tcp:
                    return dns.query.tcp(msg, where[0], port=tcp_port, timeout=timeout)
                return dns.query.udp(msg, where[0], port=where[1], timeout=timeout)

            def rrs(resp, section, rdtype=None):
                out = []
                for rrset in getattr(resp, section):
                    if rdtype is None or rrset.rdtype == dns.rdatatype.from_text(rdtype):
                        out += [(rrset.name.to_text(), dns.rdatatype.to_text(rrset.rdtype),
                                 r.to_text()) for r in rrset]
                return out

            soa0 = q(SUB, "SOA").answer[0][0].serial
            responder = subprocess.Popen(
                ["ip", "netns", "exec", net.ns, "/usr/bin/python3",
                 os.path.join(HERE, "zeroconf_responder.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

            def cmd(line):
                responder.stdin.write(line + "\n")
                responder.stdin.flush()
                assert responder.stdout.readline().strip() == "ok"

            cmd("register Lab_Printer _ipp._tcp.local. 631 printer1.local. "
                "192.0.2.10 txtvers=1 rp=ipp/print")
            cmd("register Kitchen_Speaker _raop._tcp.local. 7000 speaker.local. 192.0.2.10")

            # Both instances reach the served zone (bounded wait).
            deadline = time.time() + 40
            ipp = raop = None
            while time.time() < deadline:
                ipp = q("_ipp._tcp." + SUB, "PTR")
                raop = q("_raop._tcp." + SUB, "PTR")
                if ipp.answer and raop.answer:
                    break
                time.sleep(0.3)
            inst = "Lab\\032Printer._ipp._tcp." + SUB
            check(rrs(ipp, "answer") == [("_ipp._tcp." + SUB, "PTR", inst)],
                  f"browse PTR _ipp._tcp: {rrs(ipp, 'answer')}")
            check(bool(ipp.flags & 0x0400), "AA on the answer")
            add = rrs(ipp, "additional")
            check((inst, "SRV", "0 0 631 printer1." + SUB) in add and
                  any(t == "TXT" and "rp=ipp/print" in v for n, t, v in add if n == inst) and
                  ("printer1." + SUB, "A", "192.0.2.10") in add,
                  f"RFC 6763 §12 additionals SRV, TXT, A: {add}")
            check(bool(raop.answer), "the second service type browses too")

            enum = rrs(q("_services._dns-sd._udp." + SUB, "PTR"), "answer")
            check({v for _, _, v in enum} >= {"_ipp._tcp." + SUB, "_raop._tcp." + SUB},
                  f"service enumeration PTR: {enum}")
            b = rrs(q("b._dns-sd._udp." + PARENT, "PTR"), "answer")
            check(("b._dns-sd._udp." + PARENT, "PTR", SUB) in b, f"parent browse PTR: {b}")
            lb = rrs(q("lb._dns-sd._udp." + PARENT, "PTR"), "answer")
            check(("lb._dns-sd._udp." + PARENT, "PTR", SUB) in lb, f"parent lb PTR: {lb}")

            srv = rrs(q(inst, "SRV"), "answer")
            check(srv == [(inst, "SRV", "0 0 631 printer1." + SUB)], f"SRV: {srv}")
            txt = rrs(q(inst, "TXT"), "answer")
            check(len(txt) == 1 and '"rp=ipp/print"' in txt[0][2] and '"txtvers=1"' in txt[0][2],
                  f"TXT: {txt}")
            a = rrs(q("printer1." + SUB, "A"), "answer")
            check(a == [("printer1." + SUB, "A", "192.0.2.10")], f"A: {a}")

            nx = q("nosuch." + SUB, "A")
            check(nx.rcode() == dns.rcode.NXDOMAIN and rrs(nx, "authority", "SOA")
                  and rrs(nx, "authority", "SOA")[0][0] == SUB,
                  f"NXDOMAIN with the zone's SOA: {dns.rcode.to_text(nx.rcode())} "
                  f"{rrs(nx, 'authority')}")
            nd = q("printer1." + SUB, "MX")
            check(nd.rcode() == dns.rcode.NOERROR and not nd.answer and rrs(nd, "authority", "SOA"),
                  f"NODATA (name exists, other type): {dns.rcode.to_text(nd.rcode())} "
                  f"answer={rrs(nd, 'answer')} authority={rrs(nd, 'authority')}")
            ref = q("www.example.org.", "A")
            check(ref.rcode() == dns.rcode.REFUSED and not (ref.flags & 0x0400),
                  f"REFUSED without AA outside the zones: {dns.rcode.to_text(ref.rcode())}")
            tcp = q(inst, "SRV", tcp=True)
            check(rrs(tcp, "answer") == srv, "the same SRV over TCP")

            # AXFR: TSIG-signed with the allowed key; unsigned is refused.
            try:
                z = dns.zone.from_xfr(dns.query.xfr(server[0], SUB, port=tcp_port, keyring=KEYRING,
                                                     keyname="xfr-key.", timeout=5))
                names = {n.to_text() for n in z.nodes}
                check("Lab\\032Printer._ipp._tcp" in names and "printer1" in names and "@" in names,
                      f"AXFR with TSIG holds the live records: {sorted(names)}")
            except Exception as e:  # noqa: BLE001
                check(False, f"AXFR with TSIG: {e!r}")
            try:
                list(dns.query.xfr(server[0], SUB, port=tcp_port, timeout=5))
                check(False, "unsigned AXFR refused")
            except dns.xfr.TransferError as e:
                check(e.rcode == dns.rcode.REFUSED, f"unsigned AXFR refused ({e})")
            except Exception as e:  # noqa: BLE001
                check(False, f"unsigned AXFR refused: {e!r}")

            # A query over the DPDK port, to the proxy's address on the link.
            probe = ("import dns.message, dns.query, sys\n"
                     "m = dns.message.make_query(sys.argv[1], 'PTR')\n"
                     "r = dns.query.udp(m, '192.0.2.1', port=53, timeout=3)\n"
                     "print(dns.rcode.to_text(r.rcode()), r.flags & 0x0400 != 0,"
                     " ' '.join(str(x) for rr in r.answer for x in rr))\n")
            out = ""
            for _ in range(5):  # the first one may wait for ARP
                p = subprocess.run(["ip", "netns", "exec", net.ns, "/usr/bin/python3", "-c", probe,
                                    "_ipp._tcp." + SUB], capture_output=True, text=True, timeout=20)
                out = (p.stdout + p.stderr).strip()
                if p.returncode == 0:
                    break
            check(out == f"NOERROR True {inst}", f"query over the DPDK link answered: {out!r}")
            st = d.request("status")[0]
            check(st.get("dns_queries_dpdk_worker", 0) >= 1,
                  f"the worker answered it: {st.get('dns_queries_dpdk_worker')}")
            # IXFR over UDP is the control thread's (punted through the query
            # ring): its transfer ACL refuses it unsigned, over the same link.
            ixfr = ("import dns.message, dns.query, dns.rdatatype, sys\n"
                    "m = dns.message.make_query(sys.argv[1], 'IXFR')\n"
                    "r = dns.query.udp(m, '192.0.2.1', port=53, timeout=3)\n"
                    "print(dns.rcode.to_text(r.rcode()),"
                    " [dns.rdatatype.to_text(rr.rdtype) for rr in r.answer])\n")
            p = subprocess.run(["ip", "netns", "exec", net.ns, "/usr/bin/python3", "-c", ixfr, SUB],
                               capture_output=True, text=True, timeout=20)
            out = (p.stdout + p.stderr).strip()
            check(out == "REFUSED []", f"unsigned IXFR over UDP on the link refused: {out!r}")
            # TCP to the link address: the control thread's TCP endpoint
            # (control/link_tcp.*) behind the worker. A query, then a signed
            # AXFR streamed over it, from the kernel TCP stack of the client.
            tcp_probe = ("import dns.message, dns.query, dns.tsigkeyring, dns.zone, sys\n"
                         "m = dns.message.make_query(sys.argv[1], 'PTR')\n"
                         "r = dns.query.tcp(m, '192.0.2.1', port=53, timeout=5)\n"
                         "print(dns.rcode.to_text(r.rcode()), r.flags & 0x0400 != 0,"
                         " ' '.join(str(x) for rr in r.answer for x in rr))\n"
                         "kr = dns.tsigkeyring.from_text({'xfr-key.': ('hmac-sha256', sys.argv[3])})\n"
                         "z = dns.zone.from_xfr(dns.query.xfr('192.0.2.1', sys.argv[2], keyring=kr,"
                         " keyname='xfr-key.', timeout=5))\n"
                         "print(' '.join(sorted(n.to_text() for n in z.nodes)))\n")
            p = subprocess.run(["ip", "netns", "exec", net.ns, "/usr/bin/python3", "-c", tcp_probe,
                                "_ipp._tcp." + SUB, SUB, SECRET],
                               capture_output=True, text=True, timeout=30)
            lines = (p.stdout + p.stderr).strip().splitlines()
            check(len(lines) >= 1 and lines[0] == f"NOERROR True {inst}",
                  f"query over TCP to the link address answered: {lines[:1]!r}")
            check(len(lines) == 2 and "Lab\\032Printer._ipp._tcp" in lines[1].split()
                  and "printer1" in lines[1].split(),
                  f"signed AXFR over TCP to the link address: {lines[1:]!r}")
            st = d.request("status")[0]
            check(st.get("dns_link_tcp_queries", 0) >= 2,
                  f"status counts the link's TCP queries: {st.get('dns_link_tcp_queries')}")
            check(st.get("dns_queries_dpdk", 0) >= st.get("dns_queries_dpdk_worker", 0) + 1,
                  f"status counts both paths: {st.get('dns_queries_dpdk')} "
                  f"{st.get('dns_queries_dpdk_worker')}")

            # Goodbye: the records leave the zone, the serial grows.
            soa1 = q(SUB, "SOA").answer[0][0].serial
            cmd("unregister Kitchen_Speaker _raop._tcp.local.")
            deadline = time.time() + 15
            gone = None
            while time.time() < deadline:
                gone = q("_raop._tcp." + SUB, "PTR")
                if gone.rcode() == dns.rcode.NXDOMAIN:
                    break
                time.sleep(0.3)
            check(gone.rcode() == dns.rcode.NXDOMAIN,
                  f"after the goodbye _raop._tcp is NXDOMAIN: {dns.rcode.to_text(gone.rcode())}")
            enum = rrs(q("_services._dns-sd._udp." + SUB, "PTR"), "answer")
            check({v for _, _, v in enum} == {"_ipp._tcp." + SUB},
                  f"enumeration lists only the remaining type: {enum}")
            soa2 = q(SUB, "SOA").answer[0][0].serial
            check(soa0 < soa1 < soa2, f"serial grows with each change: {soa0} {soa1} {soa2}")
            check(bool(q("_ipp._tcp." + SUB, "PTR").answer), "the other service stays")

            # Metrics: the service's counters, in a format promtool accepts.
            time.sleep(0.7)  # the control loop publishes its snapshot every 0.5 s
            text = urllib.request.urlopen(f"http://{mm.group(1)}/metrics", timeout=5).read().decode()

            def metric(name, labels=""):
                mt = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", text, re.M)
                return float(mt.group(1)) if mt else -1

            check(metric("updproxy_dns_responses_total", '{rcode="NXDOMAIN"}') >= 2,
                  "updproxy_dns_responses_total{rcode=NXDOMAIN}")
            check(metric("updproxy_dns_responses_total", '{rcode="REFUSED"}') >= 1,
                  "updproxy_dns_responses_total{rcode=REFUSED}")
            check(metric("updproxy_dns_queries_total", '{transport="tcp"}') >= 1,
                  "updproxy_dns_queries_total{transport=tcp}")
            check(metric("updproxy_dns_queries_total", '{transport="udp"}') >= 10,
                  "updproxy_dns_queries_total{transport=udp}")
            check(metric("updproxy_dns_dpdk_queries_total") >= 1, "updproxy_dns_dpdk_queries_total")
            check(metric("updproxy_dns_transfers_total", '{type="axfr"}') >= 1,
                  "updproxy_dns_transfers_total{type=axfr}")
            check(metric("updproxy_dns_transfers_refused_total") >= 1,
                  "updproxy_dns_transfers_refused_total")
            check(metric("updproxy_dns_zones") == 3, "updproxy_dns_zones 3")
            check(metric("updproxy_dns_query_duration_seconds_count", '{path="kernel_udp"}') >= 10,
                  "updproxy_dns_query_duration_seconds{path=kernel_udp}")
            check(metric("updproxy_dns_query_duration_seconds_count", '{path="dpdk"}') >= 1,
                  "updproxy_dns_query_duration_seconds{path=dpdk}")
            check(metric("updproxy_dns_query_duration_seconds_count", '{path="dpdk_worker"}') >= 1,
                  "updproxy_dns_query_duration_seconds{path=dpdk_worker}")
            check(metric("updproxy_dns_worker_answers_total") >= 1, "updproxy_dns_worker_answers_total")
            if shutil.which("promtool"):
                p = subprocess.run(["promtool", "check", "metrics"], input=text,
                                   capture_output=True, text=True)
                check(p.returncode == 0, f"promtool check metrics: {p.stdout}{p.stderr}".strip())

            # Reload that rebuilds the control plane (browse_ttl): the zones
            # are re-fed from the re-read table, nothing lost, the new TTL.
            def reload(text):
                with open(d.config, "w") as f:
                    f.write(text)
                return d.request("reload")[0]

            r = reload(config(net, prefix, keyfile, browse_ttl=600))
            check(r.get("ok") is True, f"reload (browse_ttl 600): {r}")
            deadline = time.time() + 15
            bttl = None
            while time.time() < deadline:
                b = q("b._dns-sd._udp." + PARENT, "PTR")
                bttl = b.answer[0].ttl if b.answer else None
                if bttl == 600:
                    break
                time.sleep(0.3)
            check(bttl == 600, f"browse PTR TTL after the reload: {bttl}")
            time.sleep(1)
            check(rrs(q(inst, "SRV"), "answer") == srv, "the instance survives the reload")

            # A link's subdomain moves (the zones stay: they are listed): the
            # records leave the old zone and appear in the new one.
            r = reload(config(net, prefix, keyfile, sub=SUB2, browse_ttl=600))
            check(r.get("ok") is True, f"reload (subdomain {SUB2}): {r}")
            inst2 = "Lab\\032Printer._ipp._tcp." + SUB2
            deadline = time.time() + 20
            old = new = None
            while time.time() < deadline:
                old = q("_ipp._tcp." + SUB, "PTR")
                new = q("_ipp._tcp." + SUB2, "PTR")
                if old.rcode() == dns.rcode.NXDOMAIN and new.answer:
                    break
                time.sleep(0.3)
            check(rrs(new, "answer") == [("_ipp._tcp." + SUB2, "PTR", inst2)],
                  f"after the move: browse PTR in {SUB2}: {rrs(new, 'answer')}")
            check(old.rcode() == dns.rcode.NXDOMAIN,
                  f"after the move: {SUB} no longer holds it: {dns.rcode.to_text(old.rcode())}")
            b = {v for _, _, v in rrs(q("b._dns-sd._udp." + PARENT, "PTR"), "answer")}
            check(b == {SUB2}, f"parent browse PTR names only the new subdomain: {b}")
        finally:
            if responder:
                try:
                    responder.stdin.write("quit\n")
                    responder.stdin.flush()
                    responder.wait(timeout=10)
                except Exception:  # noqa: BLE001
                    responder.kill()
            rc = d.stop()
        check(rc == 0, f"daemon exit code {rc} on SIGTERM")
    if failures:
        print("daemon log:\n" + d.read_log())
        print(f"{len(failures)} FAILED")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("all passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
