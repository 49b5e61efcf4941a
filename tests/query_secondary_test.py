#!/usr/bin/python3
"""A BIND 9 secondary follows the embedded authoritative service.

updproxy-zone-server serves lab.example.edu. as a hidden primary with a TSIG
key; a BIND named (a secondary of that zone, same key) transfers it by AXFR.
Then a service is added (the zone file rewritten, SIGHUP: the server applies
the difference, bumps the serial, records it for IXFR and sends NOTIFY), and
`dig` against the secondary must show it; then it is removed and `dig` must
show it gone. Each change must reach BIND by IXFR (the server logs each
transfer as incremental or full), and after each step the secondary's whole
zone (AXFR from BIND) must equal the primary's, record by record.

usage: query_secondary_test.py PATH/TO/updproxy-zone-server
Needs named, tsig-keygen, dig (bind9, bind9-utils, bind9-dnsutils) and
dnspython. Loopback only.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.zone
from dns_servers import free_port

ZONE = "lab.example.edu."
SERVICE = [
    "_ipp._tcp IN PTR New\\032Printer._ipp._tcp",
    "New\\032Printer._ipp._tcp IN SRV 0 0 631 newprinter",
    'New\\032Printer._ipp._tcp IN TXT "txtvers=1" "ty=New Printer"',
    "newprinter IN A 192.0.2.77",
    "newprinter IN AAAA 2001:db8::77",
]


def zone_text(with_service):
    lines = [
        "$ORIGIN lab.example.edu.",
        "$TTL 120",
        "@ 3600 IN SOA ns1 hostmaster 100 3600 600 86400 60",
        "@ 3600 IN NS ns1",
        "ns1 IN A 127.0.0.1",
        "b._dns-sd._udp IN PTR @",
        "_services._dns-sd._udp IN PTR _ipp._tcp",
        "_ipp._tcp IN PTR Old\\032Printer._ipp._tcp",
        "Old\\032Printer._ipp._tcp IN SRV 0 0 631 oldprinter",
        'Old\\032Printer._ipp._tcp IN TXT "txtvers=1"',
        "oldprinter IN A 192.0.2.10",
    ]
    if with_service:
        lines += SERVICE
    return "\n".join(lines) + "\n"


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        return ok


def dig(port, name, qtype):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+norec", "+noall", "+answer",
                        "+comments", name, qtype], capture_output=True, text=True, timeout=10)
    return r.stdout


def soa_serial(port, keyring=None):
    q = dns.message.make_query(ZONE, "SOA")
    if keyring:
        q.use_tsig(keyring, keyname="xfr-key.")
    try:
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=1)
    except Exception:
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def axfr_set(port, keyring=None):
    z = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", ZONE, port=port, keyring=keyring,
                                        keyname="xfr-key." if keyring else None, timeout=5, relativize=False,
                                        lifetime=10), relativize=False)
    out = set()
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            for rd in rds:
                out.add((name.canonicalize().to_text(), rds.ttl, rds.rdtype, rd.to_digestable()))
    return out


def wait_until(pred, seconds):
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.2)
    return False


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    exe = sys.argv[1]
    for tool in ("named", "tsig-keygen", "dig"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            print("FAIL: %s not found (bind9, bind9-utils, bind9-dnsutils)" % tool)
            return 1
    named = shutil.which("named") or "/usr/sbin/named"
    keygen = shutil.which("tsig-keygen") or "/usr/sbin/tsig-keygen"
    tmp = tempfile.mkdtemp(prefix="updproxy-sec-")
    procs = []
    c = Checks()
    try:
        keyfile = os.path.join(tmp, "key.conf")
        with open(keyfile, "w") as f:
            f.write(subprocess.run([keygen, "-a", "hmac-sha256", "xfr-key"], capture_output=True,
                                   text=True, check=True).stdout)
        secret = re.search(r'secret "([^"]+)"', open(keyfile).read()).group(1)
        keyring = dns.tsigkeyring.from_text({"xfr-key.": ("hmac-sha256", secret)})
        zfile = os.path.join(tmp, "lab.zone")
        with open(zfile, "w") as f:
            f.write(zone_text(False))
        pport, sport = free_port(), free_port()

        ours_log = open(os.path.join(tmp, "ours.log"), "w")
        ours = subprocess.Popen([exe, "--zone", zfile, "--listen", "127.0.0.1#%d" % pport,
                                 "--key", keyfile, "--transfer-key", "xfr-key",
                                 "--notify", "127.0.0.1#%d" % sport, "--notify-key", "xfr-key"],
                                stdout=ours_log, stderr=subprocess.STDOUT)
        procs.append(ours)
        if not c.check(wait_until(lambda: soa_serial(pport) is not None, 10),
                       "updproxy-zone-server answers on 127.0.0.1#%d" % pport):
            return 1

        conf = os.path.join(tmp, "named.conf")
        with open(conf, "w") as f:
            f.write('options {\n directory "%s";\n pid-file "%s/named.pid";\n' % (tmp, tmp))
            f.write(' listen-on port %d { 127.0.0.1; };\n listen-on-v6 { none; };\n' % sport)
            f.write(' recursion no;\n dnssec-validation no;\n notify no;\n')
            f.write(' allow-transfer { any; };\n};\n')
            f.write('controls { };\ninclude "%s";\n' % keyfile)
            f.write('zone "lab.example.edu" {\n type secondary;\n file "%s/sec.db";\n' % tmp)
            f.write(' primaries { 127.0.0.1 port %d key xfr-key; };\n};\n' % pport)
        named_log = open(os.path.join(tmp, "named.log"), "w")
        bind = subprocess.Popen([named, "-g", "-n", "1", "-c", conf, "-u", "root"],
                                stdout=named_log, stderr=subprocess.STDOUT)
        procs.append(bind)

        primary = soa_serial(pport)
        c.check(wait_until(lambda: soa_serial(sport) == primary, 20),
                "BIND secondary transferred serial %s by AXFR" % primary)
        c.check(axfr_set(sport) == axfr_set(pport, keyring),
                "the secondary's zone equals the primary's, record by record")
        try:
            axfr_set(pport)
            refused = False
        except Exception:
            refused = True
        c.check(refused, "an AXFR without the TSIG key is refused by the primary")

        def log_has(pattern, after):
            text = open(os.path.join(tmp, "ours.log")).read()[after:]
            return re.search(pattern, text) is not None

        for step, with_service in (("added", True), ("removed", False)):
            mark = len(open(os.path.join(tmp, "ours.log")).read())
            with open(zfile, "w") as f:
                f.write(zone_text(with_service))
            ours.send_signal(signal.SIGHUP)
            c.check(wait_until(lambda: soa_serial(pport) == primary + 1, 5),
                    "primary serial %d -> %d after the service was %s" % (primary, primary + 1,
                                                                           step))
            primary += 1
            c.check(wait_until(lambda: soa_serial(sport) == primary, 20),
                    "NOTIFY: the secondary followed to serial %d" % primary)
            c.check(log_has(r"IXFR lab\.example\.edu\. to .*: incremental", mark),
                    "the change went by IXFR (incremental)")
            srv = dig(sport, "New\\032Printer._ipp._tcp.lab.example.edu.", "SRV")
            ptr = dig(sport, "_ipp._tcp.lab.example.edu.", "PTR")
            print("  dig @secondary SRV:\n    " + "\n    ".join(
                l for l in srv.splitlines() if l and not l.startswith(";;")) or "    (none)")
            print("  dig @secondary PTR:\n    " + "\n    ".join(
                l for l in ptr.splitlines() if l and not l.startswith(";")))
            if with_service:
                c.check("newprinter.lab.example.edu." in srv and "NOERROR" in srv,
                        "dig against the secondary shows the new service's SRV")
                c.check("New\\032Printer" in ptr, "..and its PTR next to the old one")
            else:
                c.check("NXDOMAIN" in srv, "dig against the secondary: the service is gone")
                c.check("New\\032Printer" not in ptr and "Old\\032Printer" in ptr,
                        "..from the PTR set too, the old one stays")
            c.check(axfr_set(sport) == axfr_set(pport, keyring),
                    "the secondary's zone equals the primary's, record by record")
        c.check(bind.poll() is None and ours.poll() is None, "both servers still running")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        if c.failed:
            for name in ("ours.log", "named.log"):
                path = os.path.join(tmp, name)
                if os.path.exists(path):
                    print("---- %s (last 40 lines)" % name)
                    print("\n".join(open(path).read().splitlines()[-40:]))
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (c.passed, c.failed))
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
