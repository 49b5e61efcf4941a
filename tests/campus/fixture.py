"""The simulated campus: network namespaces, the proxy, real responders, a
real DNS primary and a real wide-area DNS-SD client. Shared by the system
test (tests/campus_test.py), the demo (scripts/campus.py) and the benchmark
(perf/campus_bench.py).

Layout (every name below is a namespace `cmp<pid>-<role>`; the root
namespace gets nothing: no interface, address or route):

    host namespaces            switch namespaces        core namespace
    (one responder each)       (a bridge per subnet)
    eng-printer  eth0 ─┐
    eng-appletv  eth0 ─┼─ br0 ─ uplink ═══ veth ═══ eng      DPDK port (net_af_packet), no address
                       │                          library    DPDK port
    ...                                           dorms      DPDK port
                                                  svc 203.0.113.129/26, 2001:db8:53::53
                                                   │   named / knotd on :53 (and 127.0.0.1:53)
                                                   │   updproxy run (UPDATEs to 127.0.0.1:53)
    client  eth0 203.0.113.130/26 ─────────────────┘
            resolver -> 203.0.113.129; dbus + avahi-daemon (wide-area); dig/kdig

    with Campus(binary, primary="bind") as c:    # or "knot"; "embedded": see below
        c.start_proxy()
        c.start_responders()
        c.wait_zone(30)                          # the zones hold exactly the live set
        c.client.walk(c.scenario.domain)

Everything is stopped and every namespace removed on exit, pass or fail
(also from atexit, and a later run removes namespaces of a run that was
SIGKILLed).

The embedded query service (the proxy answering DNS itself, no BIND/Knot):
see embedded_query_section() — the one place to wire it.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import json

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import dns.name  # noqa: E402
import dns.rdatatype  # noqa: E402

import ns as nsmod  # noqa: E402
from client import Client  # noqa: E402
from dnsserver import PRIMARIES, TsigKey  # noqa: E402
from responders import responder_for  # noqa: E402
from scenario import Scenario, record_key, show  # noqa: E402


def embedded_query_section(campus):
    """HOOK — the proxy's embedded query service (control/zone/ served by
    the daemon). Return the YAML text that makes `updproxy run` answer DNS
    itself, or None while the daemon cannot (the `embedded` primary is then
    skipped: exit 77 in the test).

    What the campus expects from it, once wired:
      * the proxy serves every zone of `campus.scenario.zones` (SOA, NS at
        the apex, the parent's delegations optional) from its live model;
      * it listens on port 53 of 127.0.0.1 and of the services link
        (campus.scenario.dns["server4"], ["server6"]) inside the core
        namespace, UDP and TCP;
      * it allows AXFR from 127.0.0.1 without TSIG (the zone checks read
        the zones by AXFR, as they do from BIND and Knot); the comparison
        ignores SOA and NS records and the A/AAAA of ns.<domain>, anything
        else beyond the live set counts as unexpected.
    Then no update section is written and no BIND/Knot is started; the
    client's resolver points at the proxy; tests/campus_test.py --primary
    embedded (meson test campus_embedded) runs the whole scenario except
    the steps that restart an external server. For example (key names are
    the wiring engineer's choice; `updproxy run --check` must accept it):

        query:
          listen: ["127.0.0.1:53", "203.0.113.129:53", "[2001:db8:53::53]:53"]
          allow_unsigned_transfer: true
          zones: [campus.example., eng.campus.example., ...]

    Wired: the daemon's `dns:` section (docs/configuration.md).
    """
    sc = campus.scenario
    d = sc.dns
    listen = ", ".join(f'"{a}"' for a in
                       ("127.0.0.1:53", f"{d['server4']}:53", f"[{d['server6']}]:53"))
    zones = ", ".join(sc.zones)
    return (f"dns:\n  listen: [{listen}]\n  zones: [{zones}]\n"
            f"  soa:\n    mname: ns.{sc.domain}\n    rname: hostmaster.{sc.domain}\n"
            f"  allow_unsigned_transfer: true\n")


class ProxyProc:
    """`updproxy run` inside the core namespace."""

    def __init__(self, core, binary, workdir, config_text, name="updproxy"):
        self.core = core
        self.binary = binary
        self.dir = workdir
        self.config = os.path.join(workdir, f"{name}.yaml")
        self.sock = os.path.join(workdir, f"{name}.sock")
        self.log = os.path.join(workdir, f"{name}.log")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc = None
        self.starts = 0

    def check(self):
        r = subprocess.run(self.core.exec_prefix + [self.binary, "run", "--config", self.config,
                                                    "--check"],
                           text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return r.returncode == 0, r.stdout.strip()

    def start(self, timeout=30):
        self.logf = open(self.log, "a")
        self.logf.write(f"==== start {self.starts + 1} at {time.strftime('%H:%M:%S')}\n")
        self.logf.flush()
        self.starts += 1
        try:
            os.unlink(self.sock)
        except FileNotFoundError:
            pass
        self.proc = self.core.popen([self.binary, "run", "--config", self.config,
                                     "--control-socket", self.sock],
                                    stdout=self.logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"updproxy exited {self.proc.returncode}: {self.read_log()[-3000:]}")
            if os.path.exists(self.sock):
                try:
                    self.request("status")
                    return self
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("updproxy did not come up: " + self.read_log()[-3000:])

    def request(self, line, timeout=10):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.sock)
            s.sendall((line + "\n").encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        return [json.loads(l) for l in data.decode().splitlines() if l.strip()]

    def status(self):
        return self.request("status")[0]

    def stop(self, timeout=20):
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None
        return rc

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def metrics_url(self):
        for line in reversed(self.read_log().splitlines()):
            if "metrics: http://" in line:
                return line.split("metrics: ", 1)[1].strip()
        return None


class Campus:
    def __init__(self, binary, scenario=None, primary="bind", workdir=None, log=None,
                 reconcile_interval=5, client=True, lease=3600, log_level="info",
                 dig=None, remove_workdir=False):
        if primary not in ("bind", "knot", "embedded"):
            raise ValueError(f"unknown primary {primary!r}")
        self.binary = os.path.abspath(binary)
        self.scenario = scenario or Scenario.load()
        self.primary_kind = primary
        self.prefix = f"cmp{os.getpid()}"
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="updproxy-campus-")
        os.makedirs(self.workdir, exist_ok=True)
        self.say = log or (lambda m: print(m, flush=True))
        self.reconcile_interval = reconcile_interval
        self.lease = lease
        self.log_level = log_level
        self.want_client = client
        # Remove the work directory (logs, configs, zone files) at teardown;
        # the test keeps it when something failed and removes it itself.
        self.remove_workdir = remove_workdir and self.own_workdir
        self.dig = dig or ("kdig" if primary == "knot" else "dig")
        self.namespaces = []
        self.hostns = {}
        self.responders = {}
        self.primary = None
        self.proxy = None
        self.client = None
        self.key = None
        self.extra_procs = []
        self._down = False
        self.t0 = time.time()
        atexit.register(self.down)

    # ---- context ----

    def __enter__(self):
        try:
            self.up()
        except BaseException:
            self.down()
            raise
        return self

    def __exit__(self, *exc):
        self.down()

    def elapsed(self):
        return time.time() - self.t0

    # ---- building ----

    def _ns(self, role):
        n = nsmod.Netns(f"{self.prefix}-{role}")
        self.namespaces.append(n)
        n.create()
        return n

    def up(self):
        nsmod.remove_stale(log=self.say)
        t = time.time()
        sc = self.scenario
        self.core = self._ns("core")
        for s in sc.subnets:
            sw = self._ns(s.name)
            # The switch has no addresses and sends nothing of its own.
            sw.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
            sw.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
            nsmod.veth(self.core, s.name, sw, "uplink")
            self.core.sysctl(f"net.ipv6.conf.{s.name}.disable_ipv6", 1)
            self.core.ip("link", "set", s.name, "up")
            try:
                sw.ip("link", "add", "br0", "type", "bridge", "mcast_snooping", "0",
                      "forward_delay", "0")
            except RuntimeError as e:
                raise RuntimeError("campus: cannot create a bridge (each subnet is one; the "
                                   f"kernel needs CONFIG_BRIDGE): {e}") from None
            sw.ip("link", "set", "uplink", "master", "br0")
            sw.ip("link", "set", "uplink", "up")
            for i, h in enumerate(s.hosts):
                hn = self._ns(h.name)
                self.hostns[h.name] = hn
                hn.sysctl("net.ipv6.conf.all.accept_dad", 0)
                hn.sysctl("net.ipv6.conf.default.accept_dad", 0)
                port = f"p{i}"
                nsmod.veth(sw, port, hn, "eth0")
                sw.ip("link", "set", port, "master", "br0")
                sw.ip("link", "set", port, "up")
                hn.ip("link", "set", "eth0", "addrgenmode", "none")
                for a in h.v4:
                    plen = 16 if a.startswith("169.254.") else s.prefixlen(4)
                    hn.ip("addr", "add", f"{a}/{plen}", "dev", "eth0")
                v6 = list(h.v6)
                if not any(a.lower().startswith("fe80:") for a in v6):
                    v6.append(f"fe80::{i + 1:x}:{h.v4[-1].split('.')[-1] if h.v4 else 1}")
                for a in v6:
                    plen = 64 if a.lower().startswith("fe80:") else s.prefixlen(6)
                    hn.ip("-6", "addr", "add", f"{a}/{plen}", "dev", "eth0", "nodad")
                hn.ip("link", "set", "eth0", "up")
                hn.ip("route", "add", "224.0.0.0/4", "dev", "eth0", check=False)
            sw.ip("link", "set", "br0", "up")
        d = sc.dns
        self.clientns = self._ns("client")
        self.clientns.sysctl("net.ipv6.conf.all.accept_dad", 0)
        self.clientns.sysctl("net.ipv6.conf.default.accept_dad", 0)
        self.core.sysctl("net.ipv6.conf.all.accept_dad", 0)
        self.core.sysctl("net.ipv6.conf.default.accept_dad", 0)
        nsmod.veth(self.core, "svc", self.clientns, "eth0")
        p4 = d["v4"].split("/")[1]
        p6 = d["v6"].split("/")[1]
        self.core.ip("addr", "add", f"{d['server4']}/{p4}", "dev", "svc")
        self.core.ip("-6", "addr", "add", f"{d['server6']}/{p6}", "dev", "svc", "nodad")
        self.core.ip("link", "set", "svc", "up")
        self.clientns.ip("addr", "add", f"{d['client4']}/{p4}", "dev", "eth0")
        self.clientns.ip("-6", "addr", "add", f"{d['client6']}/{p6}", "dev", "eth0", "nodad")
        self.clientns.ip("link", "set", "eth0", "up")
        self.say(f"campus: {len(self.namespaces)} namespaces, {len(sc.subnets)} subnets, "
                 f"{len(sc.hosts)} hosts ({time.time() - t:.1f} s)")

        if self.primary_kind != "embedded":
            self.key = TsigKey.generate(self.workdir, name="campus-update")
            self.primary = PRIMARIES[self.primary_kind](
                self.core, self.workdir, sc, self.key,
                ["127.0.0.1", d["server4"]], [d["server6"]])
            t = time.time()
            self.primary.start()
            self.say(f"campus: {self.primary.kind} is the primary for {len(sc.zones)} zones "
                     f"on {d['server4']}:53 ({time.time() - t:.1f} s)")
        self.proxy = ProxyProc(self.core, self.binary, self.workdir, self.proxy_config())
        ok, msg = self.proxy.check()
        if not ok:
            raise RuntimeError(f"the proxy refuses the campus configuration: {msg}")
        return self

    # ---- the proxy ----

    def proxy_config(self):
        sc = self.scenario
        vdevs = ", ".join(f'"net_af_packet{i},iface={s.name}"' for i, s in enumerate(sc.subnets))
        ports = "".join(f"  - name: {s.name}\n    device: net_af_packet{i}\n"
                        for i, s in enumerate(sc.subnets))
        links = ""
        raw = {s["name"]: s for s in sc.raw["subnets"]}
        for l in sc.links:
            links += (f"  - name: {l.name}\n    port: {l.subnet.name}\n"
                      f"    prefix: {l.prefix}\n    address: {l.address}\n")
            configured = raw[l.subnet.name].get(f"subdomain{l.family}")
            if configured:
                links += f"    subdomain: {configured}\n"
        text = (f"# The simulated campus (tests/campus/fixture.py), generated.\n"
                f"dpdk:\n  lcores: [0, 1]\n  memory_mb: 256\n  no_huge: true\n"
                f"  file_prefix: {self.prefix}\n  vdevs: [{vdevs}]\n"
                f"ports:\n{ports}"
                f"links:\n{links}"
                f"publish:\n  domain: {sc.domain}\n")
        if self.primary_kind == "embedded":
            section = embedded_query_section(self)
            if section is None:
                raise NotImplementedError(
                    "the embedded query service is not wired into the daemon yet "
                    "(tests/campus/fixture.py: embedded_query_section)")
            text += section
        else:
            zones = "".join(f"    - zone: {z}\n      server: 127.0.0.1\n      port: 53\n"
                            for z in sc.zones)
            text += (f"update:\n  key_file: {self.key.path}\n  lease: {self.lease}\n"
                     f"  batch_ms: 50\n  reconcile_interval: {self.reconcile_interval}\n"
                     f"  zones:\n{zones}")
        text += f"log:\n  level: {self.log_level}\n"
        return text

    def start_proxy(self):
        t = time.time()
        self.proxy.start()
        self.say(f"campus: updproxy running on {len(self.scenario.subnets)} DPDK ports "
                 f"(net_af_packet), {len(self.scenario.links)} links ({time.time() - t:.1f} s)")
        return self.proxy

    def stop_proxy(self):
        return self.proxy.stop() if self.proxy else None

    # ---- responders and client ----

    def start_responders(self, hosts=None):
        t = time.time()
        started = []
        for h in self.scenario.hosts:
            if hosts is not None and h.name not in hosts:
                continue
            r = responder_for(self.hostns[h.name], h, self.workdir)
            self.responders[h.name] = r
            r.start(wait=False)
            started.append(r)
        for r in started:
            r.wait_established()
        n = sum(len(r.host.services) for r in started)
        self.say(f"campus: {len(started)} responders announced {n} services "
                 f"({time.time() - t:.1f} s)")
        return started

    def start_client(self):
        sc = self.scenario
        browse = [sc.domain] + [l.subdomain for l in sc.links]
        self.client = Client(self.clientns, self.workdir, sc.dns["server4"], sc.domain.rstrip("."),
                             browse, dig=self.dig)
        t = time.time()
        self.client.start()
        self.say(f"campus: client namespace up: resolver {sc.dns['server4']}, dbus + avahi-daemon "
                 f"(wide-area) ({time.time() - t:.1f} s)")
        return self.client

    # ---- checks ----

    def zone_diff(self):
        """Differences between every zone (AXFR) and the live set:
        [(kind, zone, owner, rdtype, rdata, origin)] with kind "missing",
        "unexpected", "duplicate" or "axfr" (a failed transfer) and origin
        the expected Rec (missing) or None."""
        expected = self.scenario.expected_records()
        diff = []
        nsname = dns.name.from_text("ns." + self.scenario.domain)
        for zone, exp in expected.items():
            try:
                got = self.axfr(zone)
            except Exception as e:
                diff.append(("axfr", zone, None, None, str(e), None))
                continue
            have = {}
            for owner, rtype, rd in got:
                if rtype in (dns.rdatatype.SOA, dns.rdatatype.NS) or owner == nsname:
                    continue
                k = record_key(owner, rtype, rd)
                if k in have:
                    diff.append(("duplicate", zone, owner, rtype, rd, None))
                have[k] = (owner, rtype, rd)
            for k in exp.keys() - have.keys():
                diff.append(("missing", zone) + tuple(exp[k][:3]) + (exp[k],))
            for k in have.keys() - exp.keys():
                diff.append(("unexpected", zone) + tuple(have[k]) + (None,))
        return diff

    @staticmethod
    def describe(d):
        kind, zone, owner, rtype, rd = d[:5]
        if kind == "axfr":
            return f"{zone}: AXFR failed: {rd}"
        return f"{zone}: {kind} {show(owner, rtype, rd)}"

    def zone_problems(self):
        return [self.describe(d) for d in self.zone_diff()]

    def axfr(self, zone):
        if self.primary is not None:
            return self.primary.axfr(zone)
        from dnsserver import _axfr
        return self.core.call(_axfr, zone)

    def wait_zone(self, timeout, what="the zones hold the live set"):
        """Polls until every zone holds exactly the live set; returns seconds
        taken, or raises AssertionError naming the differences."""
        t0 = time.time()
        problems = []
        while True:
            problems = self.zone_problems()
            if not problems:
                return time.time() - t0
            if time.time() - t0 > timeout:
                break
            time.sleep(0.25)
        raise AssertionError(f"{what}: not so after {timeout:.0f} s:\n    "
                             + "\n    ".join(problems[:40])
                             + (f"\n    ... {len(problems) - 40} more" if len(problems) > 40 else ""))

    # ---- teardown ----

    def abort(self):
        """The fast teardown for a signal (a test runner's timeout gives half
        a second before SIGKILL): SIGKILL everything in every namespace and
        delete the namespaces; anything left is removed by the next run."""
        if self._down:
            return
        self._down = True
        for n in reversed(self.namespaces):
            try:
                n.kill_now()
            except Exception:
                pass
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)

    def down(self):
        if self._down:
            return
        self._down = True
        errors = []
        for name, fn in [("client", lambda: self.client and self.client.stop()),
                         ("proxy", lambda: self.proxy and self.proxy.stop()),
                         ("responders", lambda: [r.kill() for r in self.responders.values()]),
                         ("primary", lambda: self.primary and self.primary.stop())]:
            try:
                fn()
            except Exception as e:  # keep going: everything must go
                errors.append(f"{name}: {e}")
        for p in self.extra_procs:
            try:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=5)
            except Exception as e:
                errors.append(f"extra process: {e}")
        for n in reversed(self.namespaces):
            try:
                n.delete()
            except Exception as e:
                errors.append(f"namespace {n.name}: {e}")
        shutil.rmtree(f"/var/run/dpdk/{self.prefix}", ignore_errors=True)
        left = [n for n in nsmod.list_namespaces() if n.startswith(self.prefix + "-")]
        if left:
            errors.append(f"namespaces left: {left}")
        if errors:
            self.say("campus: teardown problems: " + "; ".join(errors))
        if self.remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        try:
            atexit.unregister(self.down)
        except Exception:
            pass
