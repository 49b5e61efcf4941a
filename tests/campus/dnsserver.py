"""The campus's authoritative primary: BIND 9 (`named`) or Knot DNS
(`knotd`), run inside the campus's core namespace on port 53 of the
loopback (where the proxy sends its UPDATEs) and of the services link
(where the client's resolver points), with a TSIG key the fixture made.
The parent zone delegates each subdomain zone (NS + glue) to itself.

Both are children of the fixture (own session), stopped with it.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import dns.message
import dns.name
import dns.query
import dns.rdatatype

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from dns_servers import TsigKey  # noqa: E402,F401 (the fixture imports it from here)


class Primary:
    kind = "?"

    def __init__(self, core, workdir, scenario, key, listen4, listen6):
        self.core = core                      # ns.Netns
        self.scenario = scenario
        self.key = key
        self.listen4 = listen4                # ["127.0.0.1", "203.0.113.129"]
        self.listen6 = listen6                # ["2001:db8:53::53"]
        self.dir = os.path.join(workdir, self.kind)
        os.makedirs(self.dir, exist_ok=True)
        self.zones = list(scenario.zones)
        self.proc = None
        self.logf = None
        self.log = os.path.join(self.dir, f"{self.kind}.log")
        for z in self.zones:
            self.write_zone(z)
        self.write_config()

    # ---- zone files ----

    def zone_file(self, zone):
        return os.path.join(self.dir, zone.rstrip(".") + ".zone")

    def base_text(self, zone):
        d = self.scenario.domain
        dnsd = self.scenario.dns
        lines = ["$TTL 300",
                 f"@ IN SOA ns.{d} hostmaster.{d} 1 3600 600 86400 60",
                 f"@ IN NS ns.{d}"]
        if zone == d:
            lines += [f"ns IN A {dnsd['server4']}", f"ns IN AAAA {dnsd['server6']}"]
            for z in self.zones:
                if z != d and z.endswith("." + d):
                    lines.append(f"{z} IN NS ns.{d}")
        return "\n".join(lines) + "\n"

    def write_zone(self, zone):
        with open(self.zone_file(zone), "w") as f:
            f.write(self.base_text(zone))

    # ---- process ----

    def start(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            return self
        self.logf = open(self.log, "a")
        self.proc = self.core.popen(self.command(), stdout=self.logf, stderr=subprocess.STDOUT,
                                    cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited {self.proc.returncode} at start:\n"
                                   + self.log_tail())
            if all(self.answers_soa(z) for z in self.zones):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not answer SOA within {timeout} s:\n" + self.log_tail())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.logf:
            self.logf.close()
            self.logf = None

    def restart(self, reset=False):
        """Stops the server; with `reset`, every zone goes back to its base
        records (zone files rewritten, journals deleted); starts it again."""
        self.stop()
        if reset:
            for z in self.zones:
                self.write_zone(z)
            self.drop_journals()
        return self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=3000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    # ---- queries, from inside the core namespace ----

    def answers_soa(self, zone):
        def q():
            m = dns.message.make_query(zone, "SOA")
            try:
                r = dns.query.udp(m, "127.0.0.1", port=53, timeout=0.3)
            except Exception:
                return False
            return r.rcode() == 0 and len(r.answer) == 1
        return self.core.call(q)

    def axfr(self, zone):
        """[(owner, rdtype, rdata)] of the zone without its SOA."""
        return self.core.call(_axfr, zone)


def _axfr(zone):
    q = dns.message.make_query(zone, "AXFR")
    out = []
    soa = 0
    with socket.create_connection(("127.0.0.1", 53), timeout=10) as s:
        wire = q.to_wire()
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        buf = b""
        while soa < 2:
            while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
                chunk = s.recv(65536)
                if not chunk:
                    raise RuntimeError(f"AXFR of {zone} ended early")
                buf += chunk
            n = int.from_bytes(buf[:2], "big")
            m = dns.message.from_wire(buf[2:2 + n], xfr=True, origin=None, one_rr_per_rrset=True)
            buf = buf[2 + n:]
            if m.rcode() != 0:
                raise RuntimeError(f"AXFR of {zone}: rcode {dns.rcode.to_text(m.rcode())}")
            if not m.answer:
                raise RuntimeError(f"AXFR of {zone}: empty answer")
            for rrset in m.answer:
                for rd in rrset:
                    if rrset.rdtype == dns.rdatatype.SOA:
                        soa += 1
                        continue
                    out.append((rrset.name, rrset.rdtype, rd))
    return out


class Named(Primary):
    kind = "named"

    def write_config(self):
        d = self.dir
        zones = "".join(
            f'zone "{z}" {{\n  type primary;\n  file "{self.zone_file(z)}";\n'
            f'  update-policy {{ grant {self.key.name} zonesub ANY; }};\n}};\n'
            for z in self.zones)
        v4 = " ".join(f"{a};" for a in self.listen4)
        v6 = " ".join(f"{a};" for a in self.listen6) or "none;"
        with open(os.path.join(d, "named.conf"), "w") as f:
            f.write(f'include "{self.key.path}";\n'
                    f"options {{\n"
                    f'  directory "{d}";\n'
                    f'  pid-file none;\n'
                    f'  session-keyfile "{d}/session.key";\n'
                    f'  managed-keys-directory "{d}";\n'
                    f"  listen-on port 53 {{ {v4} }};\n"
                    f"  listen-on-v6 port 53 {{ {v6} }};\n"
                    f"  recursion no;\n"
                    f"  dnssec-validation no;\n"
                    f"  notify no;\n"
                    f"  allow-transfer {{ any; }};\n"
                    f"}};\n"
                    f"controls {{ }};\n"
                    f"logging {{\n"
                    f'  channel main {{ file "{d}/named.run"; print-time yes; severity info; }};\n'
                    f"  category default {{ main; }};\n"
                    f"  category update {{ main; }};\n"
                    f"  category xfer-out {{ null; }};\n"
                    f"}};\n" + zones)

    def command(self):
        return ["/usr/sbin/named", "-c", os.path.join(self.dir, "named.conf"), "-u", "root",
                "-f", "-n", "1"]

    def drop_journals(self):
        for z in self.zones:
            try:
                os.remove(self.zone_file(z) + ".jnl")
            except FileNotFoundError:
                pass

    def log_tail(self, n=3000):
        out = super().log_tail(n)
        try:
            with open(os.path.join(self.dir, "named.run"), errors="replace") as f:
                out += f.read()[-n:]
        except OSError:
            pass
        return out


class Knot(Primary):
    kind = "knot"

    def write_config(self):
        d = self.dir
        listen = ", ".join([f"{a}@53" for a in self.listen4 + self.listen6])
        zones = "".join(f"  - domain: {z}\n    file: \"{self.zone_file(z)}\"\n"
                        f"    acl: [update, transfer, transfer-key]\n" for z in self.zones)
        with open(os.path.join(d, "knot.conf"), "w") as f:
            f.write(f"server:\n"
                    f"  rundir: \"{d}\"\n"
                    f"  listen: [{listen}]\n"
                    f"log:\n"
                    f"  - target: stderr\n"
                    f"    any: info\n"
                    f"database:\n"
                    f"  storage: \"{d}/db\"\n"
                    f"key:\n"
                    f"  - id: {self.key.name}\n"
                    f"    algorithm: {self.key.algorithm}\n"
                    f"    secret: {self.key.secret}\n"
                    f"acl:\n"
                    f"  - id: update\n"
                    f"    key: {self.key.name}\n"
                    f"    action: update\n"
                    f"  - id: transfer\n"
                    f"    action: transfer\n"
                    # The proxy reads its zones back with its UPDATE key; a
                    # signed AXFR matches only a rule that names the key.
                    f"  - id: transfer-key\n"
                    f"    key: {self.key.name}\n"
                    f"    action: transfer\n"
                    f"template:\n"
                    f"  - id: default\n"
                    f"    storage: \"{d}\"\n"
                    f"    zonefile-sync: -1\n"
                    f"    zonefile-load: whole\n"
                    f"    journal-content: changes\n"
                    f"    semantic-checks: off\n"
                    f"zone:\n" + zones)

    def command(self):
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        return ["/usr/sbin/knotd", "-c", os.path.join(self.dir, "knot.conf")]

    def drop_journals(self):
        shutil.rmtree(os.path.join(self.dir, "db"), ignore_errors=True)


PRIMARIES = {"bind": Named, "knot": Knot}
