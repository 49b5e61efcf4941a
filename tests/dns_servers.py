"""Real authoritative servers for system tests: BIND 9 (`named`) and Knot DNS
(`knotd`), each on 127.0.0.1 at a free port, with a TSIG key that may update
its zones and transfers open to 127.0.0.1 (unsigned, and signed with that
key: the proxy reads its zones back with it).

    key = TsigKey.generate(workdir, "upd-key")        # tsig-keygen, hmac-sha256
    with Named(workdir, ["example.test."], key) as srv:   # or Knot(...)
        srv.port                        # where it listens (UDP and TCP)
        srv.axfr("example.test.")       # [(owner Name, ttl, rdtype, Rdata)]
        srv.restart(empty=True)         # zone file rewritten, journal deleted
    # stopped on exit, whatever happened; its directory is left for logs

Both are started in the foreground as children of the test and killed with
it. Run with /usr/bin/python3 (dnspython: python3-dnspython).
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring

NAMED = "/usr/sbin/named"
KNOTD = "/usr/sbin/knotd"
KEYGEN = "/usr/sbin/tsig-keygen"

# The records every fresh zone holds besides its SOA.
def base_zone_text(zone):
    return (f"$TTL 300\n"
            f"@ IN SOA ns.{zone} hostmaster.{zone} 1 3600 600 86400 300\n"
            f"@ IN NS ns.{zone}\n"
            f"ns IN A 127.0.0.1\n")


def base_records(zone):
    """(owner, rdtype, rdata text) of a fresh zone besides the SOA."""
    return {(dns.name.from_text(zone), dns.rdatatype.NS, f"ns.{zone}"),
            (dns.name.from_text("ns." + zone), dns.rdatatype.A, "127.0.0.1")}


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        port = u.getsockname()[1]
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            t.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


class TsigKey:
    def __init__(self, path, name, algorithm, secret):
        self.path = path          # BIND key file (what update.key_file names)
        self.name = name
        self.algorithm = algorithm
        self.secret = secret

    @staticmethod
    def generate(workdir, name="upd-key", algorithm="hmac-sha256", filename=None):
        path = os.path.join(workdir, filename or f"{name}.key")
        out = subprocess.run([KEYGEN, "-a", algorithm, name], check=True, text=True,
                             stdout=subprocess.PIPE).stdout
        with open(path, "w") as f:
            f.write(out)
        os.chmod(path, 0o600)
        secret = re.search(r'secret\s+"([^"]+)"', out).group(1)
        return TsigKey(path, name, algorithm, secret)

    def keyring(self):
        return dns.tsigkeyring.from_text({self.name: (self.algorithm, self.secret)})


class _Server:
    kind = "?"

    def __init__(self, workdir, zones, key, port=None, log_updates=True, extra_options=""):
        self.log_updates = log_updates
        self.extra_options = extra_options
        self.dir = os.path.join(workdir, f"{self.kind}-{os.getpid()}-{id(self) & 0xffff:x}")
        os.makedirs(self.dir, exist_ok=True)
        self.zones = [z if z.endswith(".") else z + "." for z in zones]
        self.key = key
        self.port = port or free_port()
        self.proc = None
        self.logf = None
        self.log = os.path.join(self.dir, f"{self.kind}.log")
        for z in self.zones:
            self.write_zone(z)
        self.write_config()

    def zone_file(self, zone):
        return os.path.join(self.dir, zone.rstrip(".") + ".zone")

    def write_zone(self, zone):
        with open(self.zone_file(zone), "w") as f:
            f.write(base_zone_text(zone))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            return self
        self.logf = open(self.log, "a")
        self.proc = subprocess.Popen(self.command(), stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)
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

    def answers_soa(self, zone):
        q = dns.message.make_query(zone, "SOA")
        try:
            r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.3)
        except Exception:
            return False
        return r.rcode() == 0 and len(r.answer) == 1

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

    def restart(self, empty=False):
        """Stops the server; with `empty`, every zone goes back to its base
        records (zone file rewritten, journal deleted); starts it again on
        the same port."""
        self.stop()
        if empty:
            for z in self.zones:
                self.write_zone(z)
            self.drop_journals()
        return self.start()

    def log_tail(self, n=3000):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def axfr(self, zone):
        """Every record of the zone but the SOA: [(owner, ttl, rdtype, rdata)]."""
        zone = zone if zone.endswith(".") else zone + "."
        q = dns.message.make_query(zone, "AXFR")
        out = []
        soa = 0
        # dnspython's xfr generator, by hand: framed messages until the second SOA.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            wire = q.to_wire()
            s.sendall(len(wire).to_bytes(2, "big") + wire)
            buf = b""
            while soa < 2:
                while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
                    chunk = s.recv(65536)
                    if not chunk:
                        raise RuntimeError(f"AXFR of {zone} from {self.kind} ended early")
                    buf += chunk
                n = int.from_bytes(buf[:2], "big")
                m = dns.message.from_wire(buf[2:2 + n], xfr=True, origin=None,
                                          one_rr_per_rrset=True)
                buf = buf[2 + n:]
                if m.rcode() != 0:
                    raise RuntimeError(f"AXFR of {zone} from {self.kind}: rcode {m.rcode()}")
                for rrset in m.answer:
                    for rd in rrset:
                        if rrset.rdtype == dns.rdatatype.SOA:
                            soa += 1
                            continue
                        out.append((rrset.name, rrset.ttl, rrset.rdtype, rd))
        return out


    def axfr_text(self, zone, client=None):
        """The zone's records but the SOA as `dig` / `kdig` print them
        (presentation lines), for a check by the server family's own client."""
        client = client or self.client
        if client == "kdig":
            cmd = ["kdig", "@127.0.0.1", "-p", str(self.port), "+noall", "+answer", "AXFR", zone]
        else:
            cmd = ["dig", "@127.0.0.1", "-p", str(self.port), "+noall", "+answer", "+nocmd",
                   "AXFR", zone]
        out = subprocess.run(cmd, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=30).stdout
        lines = [l for l in out.splitlines() if l.strip() and not l.startswith(";")]
        return [l for l in lines if l.split()[3:4] != ["SOA"]]


class Named(_Server):
    kind = "named"
    client = "dig"

    def write_config(self):
        d = self.dir
        zones = "".join(
            f'zone "{z}" {{\n  type primary;\n  file "{self.zone_file(z)}";\n'
            f'  update-policy {{ grant {self.key.name} zonesub ANY; }};\n}};\n'
            for z in self.zones)
        with open(os.path.join(d, "named.conf"), "w") as f:
            f.write(f'include "{self.key.path}";\n'
                    f"options {{\n"
                    f'  directory "{d}";\n'
                    f'  pid-file "{d}/named.pid";\n'
                    f'  session-keyfile "{d}/session.key";\n'
                    f'  managed-keys-directory "{d}";\n'
                    f"  listen-on port {self.port} {{ 127.0.0.1; }};\n"
                    f"  listen-on-v6 {{ none; }};\n"
                    f"  recursion no;\n"
                    f"  dnssec-validation no;\n"
                    f"  notify no;\n"
                    f"  allow-transfer {{ 127.0.0.1; }};\n"
                    f"{self.extra_options}"
                    f"}};\n"
                    f"controls {{ }};\n"
                    f"logging {{\n"
                    f'  channel main {{ file "{d}/named.run"; print-time yes; severity info; }};\n'
                    f"  category default {{ main; }};\n"
                    f"  category update {{ {'main' if self.log_updates else 'null'}; }};\n"
                    f"  category xfer-out {{ null; }};\n"
                    f"}};\n"
                    + zones)

    def command(self):
        return [NAMED, "-c", os.path.join(self.dir, "named.conf"), "-u", "root", "-f", "-n", "2"]

    def log_tail(self, n=3000):
        # Start-up errors go to stderr (self.log), the rest to named.run.
        out = super().log_tail(n)
        try:
            with open(os.path.join(self.dir, "named.run"), errors="replace") as f:
                out += f.read()[-n:]
        except OSError:
            pass
        return out

    def drop_journals(self):
        for z in self.zones:
            for suffix in (".jnl",):
                try:
                    os.remove(self.zone_file(z) + suffix)
                except FileNotFoundError:
                    pass


class Knot(_Server):
    kind = "knot"
    client = "kdig"

    def write_config(self):
        d = self.dir
        zones = "".join(f"  - domain: {z}\n    file: \"{self.zone_file(z)}\"\n"
                        f"    acl: [update, transfer, transfer-key]\n" for z in self.zones)
        with open(os.path.join(d, "knot.conf"), "w") as f:
            f.write(f"server:\n"
                    f"  rundir: \"{d}\"\n"
                    f"  listen: 127.0.0.1@{self.port}\n"
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
                    # The proxy reads its zones back with its UPDATE key
                    # (a signed AXFR matches only a rule naming the key).
                    f"  - id: transfer-key\n"
                    f"    key: {self.key.name}\n"
                    f"    action: transfer\n"
                    f"  - id: transfer\n"
                    f"    address: 127.0.0.1\n"
                    f"    action: transfer\n"
                    f"template:\n"
                    f"  - id: default\n"
                    f"    storage: \"{d}\"\n"
                    # The zone file is never rewritten: changes live in the journal.
                    f"    zonefile-sync: -1\n"
                    f"    zonefile-load: whole\n"
                    f"    journal-content: changes\n"
                    f"    semantic-checks: off\n"
                    f"zone:\n" + zones)

    def command(self):
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        return [KNOTD, "-c", os.path.join(self.dir, "knot.conf")]

    def drop_journals(self):
        shutil.rmtree(os.path.join(self.dir, "db"), ignore_errors=True)


SERVERS = {"bind": Named, "knot": Knot}
