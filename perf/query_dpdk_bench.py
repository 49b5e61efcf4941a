#!/usr/bin/python3
"""perf/run query-dpdk: unicast DNS queries answered on the proxy's DPDK path
against Knot DNS over the identical network path, client and zone.

What runs (every part in network namespaces, removed at the end even on
failure; addresses only from the documentation prefixes):

  client ns (dnsperf)              root ns / knot ns
  veth 203.0.113.10/24  <------->  veth without a kernel address: the daemon's
                                   DPDK port (net_af_packet); its link owns
                                   203.0.113.1 (ARP answered by the worker)
  veth 198.51.100.10/24 <------->  knot ns: veth 198.51.100.1/24, knotd

  - ours: `updproxy run` with one DPDK port (net_af_packet on the root-side
    veth, framecnt --framecnt per ring; once the port has the veth's MAC,
    the kernel's side of the veth gets another, so the kernel drops the
    port's frames as PACKET_OTHERHOST before any routing), one link
    (203.0.113.0/24, address 203.0.113.1, subdomain lab.example.test.) and a
    `dns:` section serving
    lab.example.test. (kernel listener on 127.0.0.1 for the AXFR only).
    dpdk.lcores [0, 1]: the main (control) lcore on CPU 0, ONE worker lcore
    on CPU 1. Queries to 203.0.113.1:53 arrive on the worker; whatever the
    worker does not answer itself goes over a ring to the control thread
    (CPU 0) and the answer back over a ring to the worker. The worker
    busy-polls, so it holds CPU 1 whether or not it answers.
  - the peer: knotd 3.x, `udp-workers: 1` (tcp-workers 1, background-workers
    1), every thread re-pinned to CPU 1 after start (Knot pins its workers
    itself), listening on 198.51.100.1:53 in its namespace.
  - one worker core each: our worker lcore and Knot's UDP worker on CPU 1;
    dnsperf on CPU 0 with our control lcore (the control thread idles when
    the worker answers). While knotd is measured the daemon is stopped
    (SIGSTOP, SIGCONT after), so its polling worker does not take CPU 1 from
    Knot; knotd is idle while ours is measured. dnsperf, knotd and the daemon
    run at nice --nice (default -10, as root) against other load, and so
    does the session's scheduler autogroup (/proc/self/autogroup, restored
    at the end): with autogroups a nice value only counts within its
    session, and another session's build would take half of each CPU.
  - the zone: the daemon's live model, populated over mDNS: --services
    (default 200) hosts on the link each announce one instance (PTR, SRV,
    TXT, A, AAAA; 20 service types; scapy frames from the client namespace,
    IP TTL 255, every TTL 4500 s so that nothing needs refreshing or expires
    during the run) until an AXFR of the daemon's zone holds every instance;
    that AXFR, written as a zone file, is what knotd loads: identical zones
    by construction. A second AXFR at the end checks the zone did not change.
  - the query mix (from the AXFR's names, one file, shuffled once, the same
    for both): SRV 25 %, TXT 20 %, A 15 %, AAAA 15 %, PTR browse 10 %,
    NXDOMAIN 8 %, NODATA (TXT of a host) 5 %, SOA 2 %; EDNS(0) on (dnsperf -e),
    as perf/query_bench.sh. A PTR answer from the proxy carries the RFC 6763
    §12.1 additionals (SRV, TXT, A, AAAA), Knot's does not: ours are larger.
  - throughput: dnsperf (-c --clients -q --outstanding -e -t 2) for --seconds
    per server per round, --rounds (default 5) rounds, servers interleaved
    (which goes first alternates), median reported; queries lost counted
    (and the UDP RcvbufErrors of knotd's and the client's namespaces).
    Queries per CPU-second of server work, which does not depend on how
    fast the one-core client goes: knotd's CPU time (all threads; it sleeps
    when idle). Ours polls, so its CPU time is the wall time; its work is
    the lower of two estimates (the conservative one), plus the control
    thread's CPU time: (a) the worker's CPU time less its empty polls (at
    least polls - frames, each at the CPU cost of an empty poll measured
    for 1 s with no traffic; under load an empty poll costs more), (b) the
    time of its polls that received frames (its own TSC accounting,
    updproxy_worker_seconds_total{state="busy"}) x its share of CPU 1 (does
    not see answers sent in polls without frames: the control-thread path).
    --perf-record PREFIX profiles both cores during each server's first run.
  - latency: one run per server at a fixed --latency-qps (below both
    capacities) with per-query timing (dnsperf -v): p50, p90, p99, p99.9.
  - where ours answered: the daemon's metrics before and after its runs:
    answered by the worker itself (updproxy_dns_worker_answers_total, the
    query duration histogram's path="dpdk_worker") vs handed to the control
    thread (updproxy_dns_queries_received_total, path="dpdk");
    updproxy_dns_dpdk_queries_total counts both. Before commit 5e6f285 every
    query was handed over (worker share 0 %).

Ends with one JSON line (perf/README.md): q/s of ours vs knotd.
Run as root with /usr/bin/python3 (python3-scapy, python3-dnspython), dnsperf,
knot. usage: query_dpdk_bench.py --binary build/control/updproxy [options]
"""
import argparse
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
from mdns_capture import Capture, Host, Service  # noqa: E402
import netns  # noqa: E402

import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.zone  # noqa: E402

SUB = "lab.example.test."
OURS_NET, OURS_ADDR, OURS_CLIENT = "203.0.113.0/24", "203.0.113.1", "203.0.113.10"
KNOT_ADDR, KNOT_CLIENT = "198.51.100.1", "198.51.100.10"
TYPES = ["_ipp._tcp", "_ipps._tcp", "_printer._tcp", "_pdl-datastream._tcp", "_http._tcp",
         "_https._tcp", "_airplay._tcp", "_raop._tcp", "_googlecast._tcp", "_spotify-connect._tcp",
         "_smb._tcp", "_afpovertcp._tcp", "_ssh._tcp", "_sftp-ssh._tcp", "_scanner._tcp",
         "_uscan._tcp", "_companion-link._tcp", "_homekit._tcp", "_hap._tcp", "_daap._tcp"]


def log(msg):
    print("query_dpdk_bench: " + msg, file=sys.stderr, flush=True)


def sh(*args, timeout=60, **kw):
    """tests/netns.py's sh, bounded: every command here ends within `timeout` s."""
    return netns.sh(*args, timeout=timeout, **kw)


class Bench:
    def __init__(self, a):
        self.a = a
        pid = os.getpid() % 100000
        self.cns, self.kns = f"uqbc{pid}", f"uqbk{pid}"
        self.dev_ours, self.dev_ours_c = f"uqd{pid}", f"uqd{pid}c"
        self.dev_knot, self.dev_knot_c = f"uqk{pid}", f"uqk{pid}c"
        self.tmp = tempfile.mkdtemp(prefix="updproxy-qdbench-")
        self.procs = []        # (name, Popen) we started, stopped at the end
        self.made_ns = []
        self.made_links = []
        self.daemon = None
        self.daemon_stopped = False
        self.knot = None
        self.nice = a.nice
        self.hz = os.sysconf("SC_CLK_TCK")
        self.autogroup = False
        self.recorded = {}
        self.idle_poll_s = 0
        self.cps_busy = 0
        self.cps_sub = 0
        self.same = self.diff = 0

    # ---- namespaces ---------------------------------------------------------
    def net_up(self):
        for ns in (self.cns, self.kns):
            sh("ip", "netns", "add", ns)
            self.made_ns.append(ns)
            sh("ip", "link", "set", "lo", "up", ns=ns)
        # ours: root side (no address, no IPv6: only the DPDK port) <-> client
        sh("ip", "link", "add", self.dev_ours, "type", "veth", "peer", "name", self.dev_ours_c)
        self.made_links.append(self.dev_ours)
        sh("ip", "link", "set", self.dev_ours_c, "netns", self.cns)
        sh("sysctl", "-qw", f"net.ipv6.conf.{self.dev_ours}.disable_ipv6=1", check=False)
        sh("ip", "link", "set", self.dev_ours, "up")
        # knot: knot ns <-> client
        sh("ip", "link", "add", self.dev_knot, "type", "veth", "peer", "name", self.dev_knot_c)
        self.made_links.append(self.dev_knot)
        sh("ip", "link", "set", self.dev_knot, "netns", self.kns)
        sh("ip", "link", "set", self.dev_knot_c, "netns", self.cns)
        for ns, dev, addr in ((self.cns, self.dev_ours_c, OURS_CLIENT + "/24"),
                              (self.cns, self.dev_knot_c, KNOT_CLIENT + "/24"),
                              (self.kns, self.dev_knot, KNOT_ADDR + "/24")):
            sh("sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1", ns=ns, check=False)
            sh("ip", "addr", "add", addr, "dev", dev, ns=ns)
            sh("ip", "link", "set", dev, "up", ns=ns)
        sh("ip", "route", "add", "224.0.0.0/4", "dev", self.dev_ours_c, ns=self.cns, check=False)
        if self.a.rps:
            # Each side's receive on its own core: the servers' veths steer
            # received frames to CPU 1, the client's to CPU 0 (RPS), instead
            # of the sender's CPU.
            for ns, dev, mask in ((None, self.dev_ours, 2), (self.kns, self.dev_knot, 2),
                                  (self.cns, self.dev_ours_c, 1), (self.cns, self.dev_knot_c, 1)):
                sh("sh", "-c", f"echo {mask} > /sys/class/net/{dev}/queues/rx-0/rps_cpus", ns=ns)
        # No ARP in the measured path, either side: permanent neighbours.
        mac_ours = open(f"/sys/class/net/{self.dev_ours}/address").read().strip()
        mac_knot = sh("cat", f"/sys/class/net/{self.dev_knot}/address", ns=self.kns,
                      capture=True).strip()
        sh("ip", "neigh", "replace", OURS_ADDR, "lladdr", mac_ours, "dev", self.dev_ours_c,
           "nud", "permanent", ns=self.cns)
        sh("ip", "neigh", "replace", KNOT_ADDR, "lladdr", mac_knot, "dev", self.dev_knot_c,
           "nud", "permanent", ns=self.cns)
        mac_kc = sh("cat", f"/sys/class/net/{self.dev_knot_c}/address", ns=self.cns,
                    capture=True).strip()
        sh("ip", "neigh", "replace", KNOT_CLIENT, "lladdr", mac_kc, "dev", self.dev_knot,
           "nud", "permanent", ns=self.kns)

    def net_down(self):
        for dev in self.made_links:
            sh("ip", "link", "del", dev, check=False)
        for ns in reversed(self.made_ns):
            sh("ip", "netns", "del", ns, check=False)

    # ---- processes ------------------------------------------------------------
    def nice_prefix(self):
        return ["nice", "-n", str(self.nice)] if self.nice else []

    def start(self, name, cmd, ns=None, out=None):
        full = (["ip", "netns", "exec", ns] if ns else []) + cmd
        f = open(out or os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(full, stdout=f, stderr=subprocess.STDOUT)
        self.procs.append((name, p))
        return p

    def stop_all(self):
        if self.daemon and self.daemon_stopped:
            self.cont_daemon()
        for name, p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log(f"{name} (pid {p.pid}) ignored SIGTERM for 20 s: SIGKILL")
                p.kill()
                p.wait(timeout=10)

    def stop_daemon(self):
        os.kill(self.daemon.pid, signal.SIGSTOP)
        self.daemon_stopped = True
        # Every thread stopped before anything is measured (bounded: 2 s).
        for _ in range(200):
            states = []
            for tid in os.listdir(f"/proc/{self.daemon.pid}/task"):
                try:
                    st = open(f"/proc/{self.daemon.pid}/task/{tid}/stat").read()
                    states.append(st[st.rindex(")") + 2])
                except (OSError, ValueError, IndexError):
                    pass
            if states and all(x in "Tt" for x in states):
                return
            time.sleep(0.01)
        log("the daemon's threads did not all stop within 2 s")

    def cont_daemon(self):
        os.kill(self.daemon.pid, signal.SIGCONT)
        self.daemon_stopped = False
        time.sleep(0.2)

    # ---- the daemon ------------------------------------------------------------
    def daemon_up(self):
        a = self.a
        cfg = os.path.join(self.tmp, "updproxy.yaml")
        vdev = (f"net_af_packet0,iface={self.dev_ours},framecnt={a.framecnt}")
        with open(cfg, "w") as f:
            f.write(f"""dpdk:
  lcores: [0, 1]
  memory_mb: 512
  no_huge: true
  file_prefix: uqb{os.getpid()}
  vdevs: ["{vdev}"]
ports:
  - name: trunk
    device: net_af_packet0
links:
  - name: lab-v4
    port: trunk
    prefix: {OURS_NET}
    address: {OURS_ADDR}
    subdomain: {SUB}
dns:
  listen: ["127.0.0.1:0"]
  zones: [{SUB}]
  allow_unsigned_transfer: true
metrics:
  listen: 127.0.0.1:0
log:
  level: info
""" + (a.daemon_yaml.rstrip("\n") + "\n" if a.daemon_yaml else ""))
        self.ctl_sock = os.path.join(self.tmp, "ctl.sock")
        self.daemon_log = os.path.join(self.tmp, "daemon.log")
        self.daemon = self.start("updproxy", self.nice_prefix() + [
            a.binary, "run", "--config", cfg, "--control-socket", self.ctl_sock],
            out=self.daemon_log)
        deadline = time.time() + 30
        m = mm = None
        while time.time() < deadline:
            if self.daemon.poll() is not None:
                raise RuntimeError(f"updproxy exited {self.daemon.returncode}: "
                                   + open(self.daemon_log).read()[-3000:])
            text = open(self.daemon_log).read()
            m = re.search(r"dns: serving [^;]*; udp 127\.0\.0\.1#(\d+) tcp 127\.0\.0\.1#(\d+)", text)
            mm = re.search(r"metrics: http://([\d.]+:\d+)/metrics", text)
            if m and mm and os.path.exists(self.ctl_sock):
                break
            time.sleep(0.1)
        if not (m and mm):
            raise RuntimeError("updproxy did not come up (no 'dns: serving' / 'metrics:' line): "
                               + open(self.daemon_log).read()[-3000:])
        self.axfr_port = int(m.group(2))
        self.metrics_url = f"http://{mm.group(1)}/metrics"
        # The DPDK port took the veth's MAC when it was probed. The kernel's
        # side of the veth now gets another one, so that frames to the port
        # are PACKET_OTHERHOST for the kernel and dropped at the start of
        # ip_rcv, as a kernel never sees a DPDK NIC's traffic; the port is
        # promiscuous (af_packet still gets them). Otherwise the root
        # namespace's IP stack would route every query (no forwarding: an
        # IpInAddrErrors drop) on the client's CPU, a cost knotd's path lacks.
        sh("ip", "link", "set", "dev", self.dev_ours, "address", "02:00:5e:71:62:01")

    def threads(self, pid):
        """{tid: (comm, cpu ticks)} of every thread of pid."""
        out = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                comm = open(f"/proc/{pid}/task/{tid}/comm").read().strip()
                st = open(f"/proc/{pid}/task/{tid}/stat").read()
                f = st[st.rindex(")") + 2:].split()
                out[tid] = (comm, int(f[11]) + int(f[12]), int(f[36]))  # utime+stime, processor
            except (OSError, ValueError, IndexError):
                pass
        return out

    def metrics(self):
        text = urllib.request.urlopen(self.metrics_url, timeout=5).read().decode()
        vals = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            k, _, v = line.rpartition(" ")
            try:
                vals[k] = float(v)
            except ValueError:
                pass
        return vals

    # ---- the zone --------------------------------------------------------------
    def axfr(self):
        z = dns.zone.from_xfr(dns.query.xfr("127.0.0.1", SUB, port=self.axfr_port, timeout=10))
        return z

    def populate(self):
        """mDNS announcements from the client namespace until the daemon's
        zone holds every instance (bounded: 4 sends, 40 s)."""
        a = self.a
        cap = Capture(start=time.time())
        self.instances = []
        for i in range(a.services):
            src = f"203.0.113.{20 + i}"
            host = Host(f"host-{i:03d}", src, [src, f"2001:db8:1::{i + 1:x}"], ttl=4500)
            svc = Service(f"Device-{i:03d}", TYPES[i % len(TYPES)], host, 1000 + i,
                          txt=[b"txtvers=1", b"model=Model %d" % i, b"note=bench"],
                          ttl=4500, srv_ttl=4500)
            cap.announce(host, [svc])
            self.instances.append(f"Device-{i:03d}.{TYPES[i % len(TYPES)]}.{SUB}")
        pcap = cap.write(os.path.join(self.tmp, "announce.pcap"))
        sender = ("import sys\nfrom scapy.all import rdpcap, sendp\n"
                  "sendp(rdpcap(sys.argv[1]), iface=sys.argv[2], inter=0.002, verbose=False)\n")
        want = {dns.name.from_text(n) for n in self.instances}
        deadline = time.time() + 40
        for attempt in range(4):
            sh("/usr/bin/python3", "-c", sender, pcap, self.dev_ours_c, ns=self.cns, timeout=60)
            step = time.time() + 10
            have = set()
            while time.time() < min(step, deadline):
                try:
                    z = self.axfr()
                    have = {n.derelativize(z.origin) for n, node in z.nodes.items()
                            if node.get_rdataset(1, dns.rdatatype.SRV)}
                except Exception as e:  # noqa: BLE001 - the zone may be mid-commit
                    log(f"AXFR failed ({e!r}), retrying")
                if want <= have:
                    return z
                time.sleep(0.5)
            log(f"announcements sent {attempt + 1}x: zone holds {len(want & have)} of "
                f"{len(want)} instances")
            if time.time() >= deadline:
                break
        raise RuntimeError(f"the daemon's zone holds {len(want & have)} of {len(want)} instances "
                           f"after 40 s; log: {open(self.daemon_log).read()[-2000:]}")

    def write_zone(self, z):
        path = os.path.join(self.tmp, "lab.example.test.zone")
        with open(path, "w") as f:
            f.write(f"$ORIGIN {SUB}\n")
            z.to_file(f, relativize=True)
        return path

    def build_mix(self, z):
        inst, hosts, types = [], [], []
        for n, node in z.nodes.items():
            name = n.derelativize(z.origin).to_text()
            if node.get_rdataset(1, dns.rdatatype.SRV):
                inst.append(name)
            if node.get_rdataset(1, dns.rdatatype.A):
                hosts.append(name)
            ptr = node.get_rdataset(1, dns.rdatatype.PTR)
            if ptr and not name.startswith(("_services.", "b.", "lb.", "db.", "r.", "dr.")):
                types.append(name)
        inst.sort()
        hosts.sort()
        types.sort()
        if not (inst and hosts and types):
            raise RuntimeError(f"zone lacks instances/hosts/types: {len(inst)} {len(hosts)} "
                               f"{len(types)}")
        rnd = random.Random(6)
        mix = []
        for _ in range(20000):
            x = rnd.random()
            if x < 0.25:
                mix.append(f"{rnd.choice(inst)} SRV")
            elif x < 0.45:
                mix.append(f"{rnd.choice(inst)} TXT")
            elif x < 0.60:
                mix.append(f"{rnd.choice(hosts)} A")
            elif x < 0.75:
                mix.append(f"{rnd.choice(hosts)} AAAA")
            elif x < 0.85:
                mix.append(f"{rnd.choice(types)} PTR")
            elif x < 0.93:
                mix.append(f"nohost-{rnd.randrange(1000)}.{SUB} A")
            elif x < 0.98:
                mix.append(f"{rnd.choice(hosts)} TXT")
            else:
                mix.append(f"{SUB} SOA")
        path = os.path.join(self.tmp, "queries.txt")
        with open(path, "w") as f:
            f.write("\n".join(mix) + "\n")
        return path, len(inst), len(hosts), len(types)

    # ---- knotd -------------------------------------------------------------------
    def knot_up(self, zonefile):
        kd = os.path.join(self.tmp, "knot")
        os.makedirs(kd)
        conf = os.path.join(kd, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    listen: {KNOT_ADDR}@53
    rundir: {kd}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: {kd}/db
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: {kd}
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: {SUB}
    file: {zonefile}
""")
        self.knot = self.start("knotd", self.nice_prefix() + [
            self.a.knotd, "-c", conf, "-s", os.path.join(kd, "knot.sock")], ns=self.kns)

    def wait_answers(self, addr, what):
        for _ in range(50):
            r = sh("dig", f"@{addr}", "+time=1", "+tries=1", "+short", SUB, "SOA", ns=self.cns,
                   check=False, capture=True, timeout=10)
            if r.strip():
                return
            for name, p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited {p.returncode}")
            time.sleep(0.2)
        raise RuntimeError(f"{what} does not answer at {addr}")

    def compare_answers(self, n=200):
        """The first n queries of the mix to both servers (dnspython in the
        client namespace): rcode, flags and the answer section's records
        (in any order; names case-insensitively: Knot lowercases names in
        RDATA) compared; the additional section differs by design
        (RFC 6763 §12.1 additionals on PTR answers from ours only)."""
        prog = r"""
import sys, dns.message, dns.query, dns.flags, dns.rcode
a, b, path, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
same = diff = 0
for line in open(path).read().splitlines()[:n]:
    name, rdtype = line.split()
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    q.flags &= ~dns.flags.RD
    r = [dns.query.udp(q, s, port=53, timeout=3) for s in (a, b)]
    key = [(x.rcode(), x.flags & ~dns.flags.RA, sorted(l.lower() for rr in x.answer for l in rr.to_text().splitlines()))
       for x in r]
    if key[0] == key[1]:
        same += 1
    else:
        diff += 1
        if diff <= 3:
            print("differs:", line, [(dns.rcode.to_text(x.rcode()), dns.flags.to_text(x.flags),
                                      len(x.answer[0]) if x.answer else 0,
                                      sum(len(rr) for rr in x.additional), len(x.to_wire()))
                                     for x in r],
                  "only ours:", sorted(set(key[0][2]) - set(key[1][2]))[:2],
                  "only knotd:", sorted(set(key[1][2]) - set(key[0][2]))[:2], file=sys.stderr)
print(same, diff)
"""
        r = subprocess.run(["ip", "netns", "exec", self.cns, "/usr/bin/python3", "-c", prog,
                            OURS_ADDR, KNOT_ADDR, self.queries, str(n)],
                           capture_output=True, text=True, timeout=120)
        try:
            same, diff = (int(x) for x in r.stdout.split())
        except ValueError:
            raise RuntimeError("answer comparison failed: " + r.stdout + r.stderr)
        if r.stderr.strip():
            log(r.stderr.strip())
        return same, diff

    # ---- dnsperf -------------------------------------------------------------------
    def dnsperf(self, addr, seconds, extra=()):
        cmd = self.nice_prefix() + ["taskset", "-c", "0", "dnsperf", "-s", addr, "-p", "53",
                                    "-d", self.queries, "-l", str(seconds),
                                    "-c", str(self.a.clients), "-e", "-t", "2", *extra]
        r = subprocess.run(["ip", "netns", "exec", self.cns] + cmd, text=True,
                           capture_output=True, timeout=seconds + 30)
        return r.stdout + r.stderr

    @staticmethod
    def parse_dnsperf(out):
        def num(pat):
            m = re.search(pat, out)
            return float(m.group(1)) if m else None
        res = {"qps": num(r"Queries per second:\s+([\d.]+)"),
               "sent": num(r"Queries sent:\s+(\d+)"),
               "completed": num(r"Queries completed:\s+(\d+)"),
               "lost": num(r"Queries lost:\s+(\d+)"),
               "avg": num(r"Average Latency \(s\):\s+([\d.]+)"),
               "min": num(r"Average Latency \(s\):\s+[\d.]+ \(min ([\d.]+)"),
               "max": num(r"Average Latency \(s\):\s+[\d.]+ \(min [\d.]+, max ([\d.]+)")}
        m = re.search(r"Response codes:\s+(.*)", out)
        res["rcodes"] = m.group(1).strip() if m else ""
        m = re.search(r"Average packet size:\s+(.*)", out)
        res["sizes"] = m.group(1).strip() if m else ""
        if res["qps"] is None:
            raise RuntimeError("dnsperf gave no result:\n" + out)
        return res

    def udp_drops(self, ns):
        """The namespace's UDP RcvbufErrors (datagrams a full socket buffer dropped)."""
        try:
            lines = [l.split() for l in sh("cat", "/proc/net/snmp", ns=ns, capture=True)
                     .splitlines() if l.startswith("Udp:")]
            return int(lines[1][lines[0].index("RcvbufErrors")])
        except (RuntimeError, ValueError, IndexError):
            return 0

    def throughput(self, who):
        addr = OURS_ADDR if who == "ours" else KNOT_ADDR
        pid = self.daemon.pid if who == "ours" else self.knot.pid
        d0 = (self.udp_drops(self.cns), self.udp_drops(self.kns))
        m0 = self.metrics() if who == "ours" else {}
        d_t0 = self.threads(self.daemon.pid)
        t0 = self.threads(pid)
        rec = None
        if self.a.perf_record and not self.recorded.get(who):
            # Both CPUs while dnsperf runs, once per server (perf report --sort cpu,comm).
            self.recorded[who] = f"{self.a.perf_record}.{who}"
            rec = subprocess.Popen(["perf", "record", "-q", "-g", "-a", "-o",
                                    self.recorded[who], "--", "sleep",
                                    str(max(1.0, self.a.seconds - 1))],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        w0 = time.monotonic()
        out = self.dnsperf(addr, self.a.seconds, ["-q", str(self.a.outstanding)])
        res = {"wall": time.monotonic() - w0}
        if rec:
            rec.wait(timeout=60)
        t1 = self.threads(pid)
        d_t1 = self.threads(self.daemon.pid)
        m1 = self.metrics() if who == "ours" else {}
        d1 = (self.udp_drops(self.cns), self.udp_drops(self.kns))
        # The daemon's CPU while knotd is measured (should be 0: stopped).
        res_daemon_cpu = sum(v[1] - d_t0.get(k, v)[1] for k, v in d_t1.items()) / self.hz

        def md(name, label=""):
            return sum(v - m0.get(k, 0) for k, v in m1.items()
                       if k.startswith(name) and label in k)
        res.update(self.parse_dnsperf(out))
        res["daemon_cpu"] = res_daemon_cpu
        if who == "ours":
            # The worker's own load accounting: a poll that received frames
            # counts as busy until the next poll.
            res["busy"] = md("updproxy_worker_seconds_total", 'state="busy"')
            res["idle"] = md("updproxy_worker_seconds_total", 'state="idle"')
            res["polls"] = md("updproxy_worker_polls_total")
            res["rx"] = md("updproxy_worker_rx_packets_total")
        res["client_drops"] = d1[0] - d0[0]
        res["server_drops"] = d1[1] - d0[1] if who == "knotd" else 0
        cpu = {}
        for tid, (comm, ticks, _) in t1.items():
            d = ticks - t0.get(tid, (comm, ticks, 0))[1]
            cpu[comm] = cpu.get(comm, 0) + d / self.hz
        res["cpu"] = cpu          # CPU seconds per thread name over the run
        res["cpu_total"] = sum(cpu.values())
        return res

    def latency(self, addr):
        out = self.dnsperf(addr, 3, ["-Q", str(self.a.latency_qps), "-v"])
        lat = sorted(float(l.split()[-1]) * 1e6 for l in out.splitlines()
                     if l.startswith("> ") and re.match(r"^[\d.]+$", l.split()[-1]))
        if not lat:
            return None
        pick = [lat[min(len(lat) - 1, int(len(lat) * q))] for q in (0.5, 0.9, 0.99, 0.999)]
        return pick + [len(lat)]

    # ---- the whole run --------------------------------------------------------------
    def run(self):
        a = self.a
        self.net_up()
        self.daemon_up()
        z = self.populate()
        zonefile = self.write_zone(z)
        self.queries, n_inst, n_hosts, n_types = self.build_mix(z)
        nrec = sum(len(rds) for _, node in z.nodes.items() for rds in node.rdatasets)
        serial = z.find_rdataset("@", dns.rdatatype.SOA)[0].serial
        self.knot_up(zonefile)
        self.wait_answers(KNOT_ADDR, "knotd")
        self.wait_answers(OURS_ADDR, "updproxy (DPDK link)")
        # knotd is started through `ip netns exec` (exec'ed: same pid); its
        # pid is the Popen's.
        sh("taskset", "-a", "-p", "-c", "1", self.knot.pid)
        self.same, self.diff = self.compare_answers()
        log(f"the first {self.same + self.diff} queries of the mix to both: {self.same} with "
            f"the same rcode, flags and answer section, {self.diff} differ")
        placement = {comm: cpu for comm, _, cpu in self.threads(self.daemon.pid).values()}
        log(f"zone {SUB} serial {serial}: {nrec} records ({n_inst} instances, {n_hosts} hosts, "
            f"{n_types} service types); {a.rounds} rounds x {a.seconds}s per server, dnsperf "
            f"-c {a.clients} -q {a.outstanding} -e")
        log("daemon threads (name: CPU last run on): "
            + ", ".join(f"{k}: {v}" for k, v in sorted(placement.items())))

        self.idle_poll_s = self.calibrate_idle_poll()
        log(f"the worker's empty poll: {self.idle_poll_s * 1e9:.0f} ns of CPU (1 s with no "
            f"traffic)")
        m0 = self.metrics()
        runs = {"ours": [], "knotd": []}
        for r in range(a.rounds):
            # Which server goes first alternates from round to round.
            for who in (("ours", "knotd") if r % 2 == 0 else ("knotd", "ours")):
                if who == "ours":
                    runs["ours"].append(self.throughput("ours"))
                    continue
                self.stop_daemon()
                try:
                    runs["knotd"].append(self.throughput("knotd"))
                finally:
                    self.cont_daemon()
            log(f"round {r + 1}: ours {runs['ours'][-1]['qps']:.0f} q/s "
                f"(lost {runs['ours'][-1]['lost']:.0f}), knotd {runs['knotd'][-1]['qps']:.0f} q/s "
                f"(lost {runs['knotd'][-1]['lost']:.0f})")
        lat = {"ours": None, "knotd": None}
        if a.latency_qps > 0:
            lat["ours"] = self.latency(OURS_ADDR)
            self.stop_daemon()
            try:
                lat["knotd"] = self.latency(KNOT_ADDR)
            finally:
                self.cont_daemon()
        m2 = self.metrics()
        z2 = self.axfr()
        same = z2 == z
        self.report(runs, lat, m0, m2, same, nrec, serial)

    def worker_cpu(self, cpu):
        return sum(v for k, v in cpu.items() if k.startswith(("rte-worker", "lcore")))

    def calibrate_idle_poll(self, seconds=1.0):
        """CPU seconds of one empty poll of the worker: its CPU time over
        its polls in a window with no traffic."""
        t0, m0 = self.threads(self.daemon.pid), self.metrics()
        time.sleep(seconds)
        t1, m1 = self.threads(self.daemon.pid), self.metrics()
        cpu = self.worker_cpu({c: (v[1] - t0.get(k, v)[1]) / self.hz for k, v in t1.items()
                               for c in [v[0]]})
        polls = sum(v - m0.get(k, 0) for k, v in m1.items()
                    if k.startswith("updproxy_worker_polls_total"))
        return cpu / polls if polls > 0 else 0

    def per_cpu_second(self, who, rs):
        """Completed queries per second of server work, median over the
        rounds. knotd: its CPU time, all threads (it sleeps when idle). Ours:
        the worker polls, so its CPU time is the wall time; its work is its
        CPU time less its empty polls at the cost of an empty poll measured
        with no traffic (at least polls - frames of its polls are empty),
        plus the control thread's CPU time."""
        vals, alt = [], []
        for x in rs:
            if who == "knotd":
                t = x["cpu_total"]
            else:
                wcpu = self.worker_cpu(x["cpu"])
                empty = max(0.0, x["polls"] - x["rx"])
                t = max(0.0, wcpu - empty * self.idle_poll_s)
                x["work"] = t
                ctl = x["cpu"].get("updproxy", 0)
                t += ctl
                # The other estimate: the worker's own accounting of its
                # polls that received frames (TSC), times the share of CPU 1
                # it had (preemption lands in busy and idle polls alike).
                share = min(1.0, wcpu / x["wall"]) if x["wall"] > 0 else 1.0
                x["work_busy"] = x["busy"] * share
                if x["work_busy"] + ctl > 0:
                    alt.append(x["completed"] / (x["work_busy"] + ctl))
            if t > 0:
                vals.append(x["completed"] / t)
        v = statistics.median(vals) if vals else 0
        if who == "ours":
            self.cps_busy = statistics.median(alt) if alt else 0
            self.cps_sub = v
            if self.cps_busy:
                v = min(v, self.cps_busy)   # the conservative of the two estimates
        return v

    def report(self, runs, lat, m0, m2, same, nrec, serial):
        a = self.a
        med = {s: statistics.median(x["qps"] for x in runs[s]) for s in runs}
        knot_ver = subprocess.run([a.knotd, "-V"], capture_output=True, text=True).stdout.split()
        label = {"ours": "updproxy (DPDK worker)", "knotd": "knotd " + (knot_ver[-1] if knot_ver
                                                                       else "")}
        print()
        cpsv = {}
        print(f"{'server':<24} {'qps(median)':>12} {'vs ours':>8} {'lost':>7} {'avg(us)':>8} "
              f"{'min(us)':>8} {'max(us)':>9} {'p50':>6} {'p90':>6} {'p99':>6} {'p99.9':>6} "
              f"{'q/CPU-s':>9} {'vs ours':>7}")
        for s in ("ours", "knotd"):
            rs = runs[s]
            lost = sum(x["lost"] or 0 for x in rs)
            sent = sum(x["sent"] or 0 for x in rs)
            avg = statistics.median(x["avg"] for x in rs) * 1e6
            mn = min(x["min"] for x in rs) * 1e6
            mx = max(x["max"] for x in rs) * 1e6
            p = lat[s] or ["-"] * 4
            cps = self.per_cpu_second(s, rs)
            cpsv[s] = cps
            cps = f"{cps:,.0f}" if cps else "-"
            print(f"{label[s]:<24} {med[s]:>12,.0f} {med['ours'] / med[s]:>7.2f}x "
                  f"{100 * lost / max(sent, 1):>6.2f}% {avg:>8.0f} {mn:>8.0f} {mx:>9.0f} "
                  + " ".join(f"{x:>6.0f}" if isinstance(x, float) else f"{x:>6}" for x in p[:4])
                  + f" {cps:>9} {cpsv['ours'] / cpsv[s] if cpsv[s] else 0:>6.2f}x")
        print()
        print("CPU seconds per thread during each server's throughput runs (sum of the rounds; "
              "% of their wall time, dnsperf's start and end included; a polling worker below "
              "100 % lost CPU 1 to other load):")
        cpu = {}
        for x in runs["ours"]:
            for k, v in x["cpu"].items():
                cpu[k] = cpu.get(k, 0) + v
        wall = sum(x["wall"] for x in runs["ours"])
        print("  ours:  " + ", ".join(f"{k} {v:.2f} ({100 * v / wall:.0f} %)"
                                      for k, v in sorted(cpu.items(),
                                                                        key=lambda kv: -kv[1])
                                      if v > 0))
        wall = sum(x["wall"] for x in runs["knotd"])
        cpu = {}
        for x in runs["knotd"]:
            for k, v in x["cpu"].items():
                cpu[k] = cpu.get(k, 0) + v
        print("  knotd: " + ", ".join(f"{k} {v:.2f} ({100 * v / wall:.0f} %)"
                                      for k, v in sorted(cpu.items(),
                                                                        key=lambda kv: -kv[1])
                                      if v > 0))

        busy = sum(x.get("busy", 0) for x in runs["ours"])
        idle = sum(x.get("idle", 0) for x in runs["ours"])
        polls = sum(x.get("polls", 0) for x in runs["ours"])
        rx = sum(x.get("rx", 0) for x in runs["ours"])
        work = sum(x.get("work", 0) for x in runs["ours"])
        work_busy = sum(x.get("work_busy", 0) for x in runs["ours"])
        print(f"  ours' worker: {polls:,.0f} polls, {rx / polls if polls else 0:.3f} frames per "
              f"poll; work {work:.2f} CPU s (its CPU less >= {polls - rx:,.0f} empty polls at "
              f"{self.idle_poll_s * 1e9:.0f} ns) -> {self.cps_sub:,.0f} q/CPU-s "
              f"({self.cps_sub / cpsv['knotd'] if cpsv.get('knotd') else 0:.2f}x knotd). By its "
              f"own load accounting "
              f"(updproxy_worker_seconds_total: a poll that received frames is busy) busy "
              f"{busy:.2f} s, idle {idle:.2f} s; busy x its share of CPU 1 = {work_busy:.2f} CPU s "
              f"of work -> {self.cps_busy:,.0f} q/CPU-s "
              f"({self.cps_busy / cpsv['knotd'] if cpsv.get('knotd') else 0:.2f}x knotd). The "
              f"column is the lower of the two (an empty poll under load costs more than with no "
              f"traffic; answers sent in polls without frames, the control-thread path, are not "
              f"busy)")
        print(f"  the daemon (SIGSTOPped) during knotd's runs: "
              f"{sum(x['daemon_cpu'] for x in runs['knotd']):.2f} CPU s")
        print("UDP datagrams dropped by a full socket buffer (RcvbufErrors, sum of the rounds): "
              f"knotd's namespace {sum(x['server_drops'] for x in runs['knotd']):,}; the client's "
              f"(answers) during ours {sum(x['client_drops'] for x in runs['ours']):,}, during "
              f"knotd {sum(x['client_drops'] for x in runs['knotd']):,}")

        # Where ours answered: counter deltas over the whole measurement.
        def delta(name_re):
            out = {}
            for k, v in m2.items():
                if re.search(name_re, k):
                    d = v - m0.get(k, 0)
                    if d:
                        out[k] = d
            return out
        # The worker's own answers: updproxy_dns_worker_answers_total (or
        # any dns counter of answers with "worker" or "answered" in its name);
        # the queries it hands to the control thread:
        # updproxy_dns_queries_received_total. updproxy_dns_dpdk_queries_total
        # counts every DPDK-link query answered, by either.
        worker = sum(v for k, v in delta(r"^updproxy_dns_\w*(worker_answers|answered)\w*_total")
                     .items())
        handed = sum(delta(r"^updproxy_dns_queries_received_total").values())
        dpdk = sum(delta(r"^updproxy_dns_dpdk_queries_total").values())
        total = worker + handed
        print()
        print("where ours answered (daemon metrics, deltas over the throughput and latency runs):")
        print(f"  DPDK-link queries answered {dpdk:,.0f}: by the worker {worker:,.0f}, handed to "
              f"the control thread {handed:,.0f} -> worker share "
              f"{100 * worker / total if total else 0:.1f} %")
        for k, v in sorted(delta(r"^updproxy_(dns_|dropped_packets_total.*query|tx_failures|"
                                 r"port_.*(miss|err|drop)|rx_packets_total|tx_packets_total)")
                           .items()):
            if "bucket" in k:
                continue
            print(f"    {k} +{v:,.0f}")
        print()
        print(f"zone: {nrec} records, serial {serial}, identical in both servers (knotd loads the "
              f"daemon's AXFR); unchanged at the end: {'yes' if same else 'NO'}; the first "
              f"{self.same + self.diff} queries of the mix asked of both: {self.same} with the "
              f"same rcode, flags and answer section, {self.diff} differ")
        for s in ("ours", "knotd"):
            x = runs[s][-1]
            print(f"  {s:<6} last run: response codes {x['rcodes']}; average packet size "
                  f"{x['sizes']}")
        ag = " (the session's autogroup too)" if self.autogroup else ""
        print(f"""
qps: dnsperf's completed queries per second over the veth (median of {a.rounds} runs of
{a.seconds:g} s, dnsperf -c {a.clients} -q {a.outstanding} -e on CPU 0, servers interleaved);
"vs ours" is ours / theirs (> 1: we are faster). lost: share of the queries sent that got
no answer within 2 s. avg/min/max: dnsperf's latency figures (median avg, min and max over
the rounds); p50..p99.9 (us): per-query latency at a fixed {a.latency_qps} q/s (dnsperf -v).
q/CPU-s: completed queries per second of server work, the capacity of one fully busy core
whatever the client manages (dnsperf on one core limits the qps column): knotd's CPU time
(all threads); ours the control thread's CPU time plus the worker's work, the lower of two
estimates (both shown above): its CPU time less its empty polls at the cost of an empty
poll with no traffic, or its busy polls' time (its own accounting) x its share of CPU 1.
Cores: ours one DPDK worker lcore (CPU 1) and its main/control lcore on CPU 0 with dnsperf;
knotd one UDP worker (plus its tcp, background and main threads), all its threads on CPU 1.
That is the same number of worker cores as Knot's UDP worker threads; the control thread
answers only what the worker hands it. While knotd runs the daemon is SIGSTOPped (its
polling worker would take CPU 1 from Knot). nice {a.nice}{ag}. On a shared machine
compare the ratio.""")
        ratio = med["ours"] / med["knotd"]
        print(json.dumps({"bench": a.json_name, "metric": "qps", "unit": "queries/s",
                          "value": round(med["ours"]), "peer": "knotd",
                          "peer_value": round(med["knotd"]), "ratio": round(ratio, 3)}))
        if not same:
            log("the daemon's zone changed during the run (records expired or were refreshed?)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", required=True, help="the updproxy executable")
    ap.add_argument("--knotd", default=shutil.which("knotd") or "/usr/sbin/knotd")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--outstanding", type=int, default=1000)
    ap.add_argument("--latency-qps", type=int, default=20000,
                    help="fixed rate of the latency run (0: none)")
    ap.add_argument("--services", type=int, default=200, help="instances announced (<= 230)")
    ap.add_argument("--framecnt", type=int, default=2048,
                    help="net_af_packet frames per ring (more than --outstanding)")
    ap.add_argument("--rps", action="store_true",
                    help="receive packet steering: each side's veth receive on its own core")
    ap.add_argument("--nice", type=int, default=-10)
    ap.add_argument("--daemon-yaml", metavar="TEXT",
                    help="top-level YAML appended to the daemon's configuration "
                         "(e.g. 'tx_drain_us: 20', 'burst_size: 64')")
    ap.add_argument("--json-name", default="query-dpdk")
    ap.add_argument("--perf-record", metavar="PREFIX",
                    help="`perf record -g -a` (both cores) during each server's first "
                         "throughput run, into PREFIX.ours and PREFIX.knotd")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (config, logs, zone)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        log("needs root (network namespaces)")
        return 1
    if not 1 <= a.services <= 230 or a.rounds < 1 or a.seconds <= 0:
        log("--services 1..230, --rounds >= 1, --seconds > 0")
        return 2
    for t in ("dnsperf", "dig", a.knotd, a.binary):
        if not shutil.which(t):
            log(f"{t} not found (Debian: dnsperf, knot, bind9-dnsutils; perf/run builds updproxy)")
            return 1
    if os.cpu_count() < 2:
        log("needs two CPUs")
        return 1
    # With autogroup scheduling (sched_autogroup_enabled) a nice value only
    # counts within its session's group: other sessions' builds would still
    # get an equal share of each CPU. The session's group gets --nice as well
    # for the run (restored at the end), so that the servers, dnsperf and the
    # polling worker outweigh other work on the machine.
    autogroup_was = None
    if a.nice:
        try:
            with open("/proc/self/autogroup") as f:
                autogroup_was = int(f.read().split()[-1])
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(a.nice))
        except (OSError, ValueError, IndexError):
            autogroup_was = None
    b = Bench(a)
    b.autogroup = autogroup_was is not None

    def on_signal(signum, frame):
        raise SystemExit(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        b.run()
        return 0
    finally:
        b.stop_all()
        b.net_down()
        if autogroup_was is not None:
            try:
                with open("/proc/self/autogroup", "w") as f:
                    f.write(str(autogroup_was))
            except OSError:
                pass
        if a.keep:
            log(f"kept {b.tmp}")
        else:
            shutil.rmtree(b.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
