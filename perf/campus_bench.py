"""perf/run campus: how long after a responder's first announcement a
service can be found, on the simulated campus of tests/campus/.

Ours:  the proxy (updproxy run on one net_af_packet port per subnet)
       publishing into BIND by TSIG-signed UPDATE; "found" = BIND answers
       the instance in its type's PTR RRset under the subnet's IPv4
       subdomain (polled from the core namespace every ~10 ms).
Peer:  an avahi reflector (avahi-daemon enable-reflector=yes) bridging the
       same subnets and the client's link; "found" = a multicast browse in
       the client namespace (avahi-browse -p TYPE, one per service type,
       through the client's avahi-daemon) prints the instance.
Both:  N services (default 240) appear over a short interval (default
       10 s): python-zeroconf hosts, two per subnet, each registering its
       share concurrently (probing overlaps), each a new instance name. The
       first announcement of each instance is taken from tcpdump on the
       subnet's port in the core namespace (kernel timestamps; IPv4 copy).

Prints per-phase p50/p90/p99/max and ends with one JSON line:
  {"bench": "campus", "metric": "announce_to_found_p50", "unit": "ms",
   "value": OURS, "peer": ..., "peer_value": THEIRS, "ratio": THEIRS/OURS}

usage: campus_bench.py --binary build-perf/control/updproxy [--services N]
                       [--interval S] [--keep]
Root (namespaces, tcpdump). About a minute.
"""
import argparse
import copy
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "campus"))

import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402

from client import split_parsable  # noqa: E402
from fixture import Campus  # noqa: E402
from ns import Netns  # noqa: E402
from responders import private_mounts_cmd  # noqa: E402
from scenario import Scenario  # noqa: E402

TYPES = ["_ipp._tcp", "_airplay._tcp", "_googlecast._tcp"]
HOSTS_PER_SUBNET = 2

REFLECTOR_CONF = """[server]
host-name=campus-reflector
use-ipv4=yes
use-ipv6=no
allow-interfaces={ifaces}
enable-dbus=no
ratelimit-interval-usec=1000000
ratelimit-burst=10000

[wide-area]
enable-wide-area=no

[publish]
disable-publishing=yes

[reflector]
enable-reflector=yes
reflect-ipv=no

[rlimits]
"""


def bench_scenario():
    """The campus's subnets and zones, with plain zeroconf hosts (no
    services yet: the waves register them)."""
    base = Scenario.load().raw
    d = copy.deepcopy(base)
    for s in d["subnets"]:
        net4 = s["v4"].split("/")[0].rsplit(".", 1)[0]
        net6 = s["v6"].split("::/")[0]
        s["hosts"] = [{"name": f"{s['name']}-b{i}", "responder": "zeroconf",
                       "v4": [f"{net4}.{100 + i}"], "v6": [f"{net6}::{100 + i:x}"],
                       "services": []} for i in range(HOSTS_PER_SUBNET)]
    return Scenario(d)


def plan(sc, n, tag):
    """n services spread over the hosts: {host name: [register objects]}."""
    hosts = sc.hosts
    out = {h.name: [] for h in hosts}
    for i in range(n):
        h = hosts[i % len(hosts)]
        t = TYPES[i % len(TYPES)]
        out[h.name].append({"op": "register", "name": f"{tag} {i:04d} {h.name}", "type": t,
                            "port": 8000 + i % 1000, "host": h.name,
                            "addresses": h.v4 + h.v6, "txt": [f"n={i}", "bench=campus"]})
    return out


def run_wave(c, waves, interval_s):
    """Starts every host's wave at once; returns when all replied."""
    per_host = max(len(v) for v in waves.values())
    gap_ms = 1000.0 * interval_s / max(1, per_host)
    for name, svcs in waves.items():
        if svcs:
            c.responders[name].send({"op": "wave", "services": svcs, "interval_ms": gap_ms})
    for name, svcs in waves.items():
        if svcs:
            c.responders[name].read_reply(timeout=120)


def start_captures(c, workdir, tag, lo=False):
    """tcpdump on every subnet's port (mDNS) and, with `lo`, on the core
    namespace's loopback (the UPDATEs to BIND); the last file is lo's."""
    procs, files = [], []
    ifaces = [(s.name, "udp port 5353") for s in c.scenario.subnets]
    if lo:
        ifaces.append(("lo", "udp port 53 or tcp port 53"))
    for iface, flt in ifaces:
        f = os.path.join(workdir, f"{tag}-{iface}.pcap")
        p = c.core.popen(["tcpdump", "-i", iface, "-U", "-n", "-w", f, flt],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(p)
        files.append(f)
    # tcpdump says "listening on" once its socket is open.
    for p in procs:
        line = p.stderr.readline()
        if "listening" not in line:
            raise RuntimeError(f"tcpdump: {line}")
    return procs, files


def stop_captures(procs):
    """SIGTERM after a pause: on a busy machine tcpdump lags behind the
    kernel's buffer, and what it has not read when it stops is lost."""
    time.sleep(2)
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            _, err = p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            continue
        m = re.search(r"(\d+) packets dropped by kernel", err or "")
        if m and int(m.group(1)):
            print(f"  tcpdump: {m.group(1)} packets dropped by the kernel", flush=True)


def update_times(lo_pcap, names, subs4):
    """From the loopback capture: for each instance, when the first UPDATE
    adding its records under an IPv4 subdomain left the proxy and when BIND
    answered it. UDP messages only (a message over the UDP limit goes over
    TCP and is not matched here)."""
    from scapy.all import DNS, IP, UDP, PcapReader
    want = {n.encode() for n in names}
    subs = [s.encode() for s in subs4]
    sent, answered, pending = {}, {}, {}
    with PcapReader(lo_pcap) as rd:
        for p in rd:
            if IP not in p or UDP not in p or DNS not in p:
                continue
            d = p[DNS]
            if d.opcode != 5:
                continue
            t = float(p.time)
            if not d.qr:
                insts = set()
                rr, i = d.ns, 0
                while rr is not None and i < d.nscount:
                    owner = rr.rrname if isinstance(rr.rrname, bytes) else str(rr.rrname).encode()
                    inst = owner.split(b".", 1)[0]
                    if inst in want and any(owner.endswith(x) for x in subs):
                        insts.add(inst.decode())
                    rr = rr.payload if rr.payload.name != "NoPayload" else None
                    i += 1
                for n in insts:
                    sent.setdefault(n, t)
                pending.setdefault((p[UDP].sport, d.id), set()).update(insts)
            else:
                for n in pending.pop((p[UDP].dport, d.id), ()):
                    answered.setdefault(n, t)
    return sent, answered


def first_announcements(files, names):
    """{instance label: kernel timestamp of its first IPv4 mDNS response}."""
    from scapy.all import DNS, IP, UDP, PcapReader
    want = {n.encode() for n in names}
    first = {}
    for f in files:
        with PcapReader(f) as rd:
            for p in rd:
                if IP not in p or UDP not in p or p[UDP].sport != 5353 or DNS not in p:
                    continue
                d = p[DNS]
                if not d.qr or not d.ancount:
                    continue
                rr = d.an
                i = 0
                while rr is not None and i < d.ancount:
                    owner = rr.rrname if isinstance(rr.rrname, bytes) else str(rr.rrname).encode()
                    inst = owner.split(b".", 1)[0]
                    if rr.type == 12:  # PTR: the instance is in the RDATA
                        rdata = rr.rdata if isinstance(rr.rdata, bytes) else str(rr.rdata).encode()
                        inst = rdata.split(b".", 1)[0]
                    if inst in want:
                        t = float(p.time)
                        key = inst.decode()
                        if key not in first or t < first[key]:
                            first[key] = t
                    rr = rr.payload if hasattr(rr, "payload") and rr.payload.name != "NoPayload" else None
                    i += 1
    return first


class BindPoller:
    """Polls BIND (inside the core namespace) for the PTR RRsets of the
    bench types under every IPv4 subdomain; records when each instance is
    first answered."""

    def __init__(self, core_name, subdomains):
        self.ns = Netns(core_name)   # its own thread in the namespace
        self.qnames = [dns.name.from_text(f"{t}.{s}") for s in subdomains for t in TYPES]
        self.seen = {}
        self.stop_flag = False
        self.rounds = 0

    def loop(self):
        """Each round sends every question at once on one UDP socket and
        reads the answers as they come (a round takes about a millisecond),
        then sleeps 2 ms; a truncated answer is asked again over TCP."""
        import socket
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.connect(("127.0.0.1", 53))
        sock.settimeout(0.5)
        queries = {}
        for i, qn in enumerate(self.qnames):
            q = dns.message.make_query(qn, "PTR", use_edns=0, payload=4096)
            q.id = 1000 + i
            queries[q.id] = (q, q.to_wire())
        last = {}   # id -> the previous answer's bytes after the ID: parse only changes
        while not self.stop_flag:
            pending = set(queries)
            for qid, (q, wire) in queries.items():
                sock.send(wire)
            while pending:
                try:
                    wire = sock.recv(65535)
                except socket.timeout:
                    break
                now = time.time()
                qid = int.from_bytes(wire[:2], "big")
                if qid not in pending:
                    continue
                pending.discard(qid)
                # An unchanged answer says nothing new; a truncated one
                # (BIND sends at most 1232 bytes over UDP) is always
                # fetched again over TCP.
                tc = len(wire) > 3 and wire[2] & 0x02
                if not tc and last.get(qid) == wire[2:]:
                    continue
                last[qid] = wire[2:]
                try:
                    r = dns.message.from_wire(wire)
                except Exception:
                    continue
                q = queries[qid][0]
                if r.flags & dns.flags.TC:
                    try:
                        r = dns.query.tcp(q, "127.0.0.1", timeout=1)
                        now = time.time()
                    except Exception:
                        continue
                for rrset in r.answer:
                    for rd in rrset:
                        label = rd.target.labels[0].decode("utf-8", "replace")
                        self.seen.setdefault(label, now)
            self.rounds += 1
            time.sleep(0.002)
        sock.close()

    def start(self):
        self.t = threading.Thread(target=lambda: self.ns.call(self.loop, timeout=3600), daemon=True)
        self.t.start()

    def stop(self):
        self.stop_flag = True
        self.t.join(timeout=10)


class BrowseWatcher:
    """avahi-browse -p -k TYPE (one per type) in the client namespace;
    records when each instance is first listed."""

    def __init__(self, client):
        self.client = client
        self.seen = {}
        self.procs = []

    def start(self):
        for t in TYPES:
            p = subprocess.Popen(["setpriv", "--pdeathsig", "KILL", "--",
                                  "nsenter", "-t", str(self.client.proc.pid), "-m", "-n",
                                  "stdbuf", "-oL", "avahi-browse", "-p", "-k", t],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                 encoding="utf-8", errors="replace")
            self.procs.append(p)
            threading.Thread(target=self.read, args=(p,), daemon=True).start()

    def read(self, p):
        for line in p.stdout:
            now = time.time()
            f = split_parsable(line.rstrip("\n"))
            if f and f[0] == "+" and len(f) >= 5:
                self.seen.setdefault(f[3], now)

    def stop(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_all(seen, names, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if all(n in seen for n in names):
            return True
        time.sleep(0.1)
    return False


def stats_ms(lat):
    lat = sorted(lat)
    if not lat:
        return {}

    def pct(p):
        k = min(len(lat) - 1, max(0, int(round(p / 100.0 * (len(lat) - 1)))))
        return lat[k] * 1000.0
    return {"n": len(lat), "p50": pct(50), "p90": pct(90), "p99": pct(99),
            "max": lat[-1] * 1000.0, "mean": statistics.mean(lat) * 1000.0}


def latencies(first, seen, names):
    out, missing = [], []
    for n in names:
        if n in first and n in seen:
            out.append(max(0.0, seen[n] - first[n]))
        else:
            missing.append(n)
    no_first = [n for n in names if n not in first]
    if no_first:
        print(f"  no announcement captured for {len(no_first)}: {no_first[:5]}", flush=True)
    return out, missing


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--services", type=int, default=240)
    ap.add_argument("--interval", type=float, default=10.0,
                    help="seconds over which the services appear")
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("campus bench: run as root (namespaces, tcpdump)")
    sc = bench_scenario()
    t_all = time.time()
    results = {}
    with Campus(a.binary, scenario=sc, primary="bind", log=lambda m: print(m, flush=True),
                remove_workdir=not a.keep) as c:
        # Bench hosts: zeroconf agents with nothing registered yet.
        c.start_responders()
        subs4 = [l.subdomain for l in sc.links if l.family == 4]

        # ---- ours: the proxy into BIND ----
        c.start_proxy()
        time.sleep(2)   # its start-up enumeration is over
        waves = plan(sc, a.services, "p")
        names = [s["name"] for v in waves.values() for s in v]
        poller = BindPoller(c.core.name, subs4)
        poller.start()
        procs, files = start_captures(c, c.workdir, "proxy", lo=True)
        t0 = time.time()
        run_wave(c, waves, a.interval)
        complete = wait_all(poller.seen, names, 60)
        t_wave = time.time() - t0
        stop_captures(procs)
        poller.stop()
        first = first_announcements(files[:-1], names)
        lat, missing = latencies(first, poller.seen, names)
        results["ours"] = stats_ms(lat)
        sent, answered = update_times(files[-1], names, subs4)
        legs = {"announced -> UPDATE sent": [sent[n] - first[n] for n in names
                                             if n in sent and n in first],
                "UPDATE sent -> BIND's answer": [answered[n] - sent[n] for n in names
                                                 if n in sent and n in answered],
                "BIND's answer -> seen by the poll": [poller.seen[n] - answered[n] for n in names
                                                      if n in answered and n in poller.seen]}
        results["legs"] = {k: stats_ms([max(0.0, x) for x in v]) for k, v in legs.items()}
        st = c.proxy.status()
        print(f"proxy: {len(lat)}/{len(names)} services answerable by BIND "
              f"(wave {t_wave:.1f} s, {poller.rounds} poll rounds of {len(poller.qnames)} "
              f"queries, one every {1000 * t_wave / max(1, poller.rounds):.1f} ms); status published {st.get('published')}, failed {st.get('failed_changes')}"
              + ("" if complete else f"; {len(missing)} never answered"), flush=True)
        c.stop_proxy()
        c.primary.stop()

        # ---- peer: an avahi reflector, multicast browse in the client ----
        for r in c.responders.values():
            r.kill()
        for h in sc.hosts:
            h.live = True
        c.start_responders()
        for s in sc.subnets:
            net4 = s.v4.split("/")[0].rsplit(".", 1)[0]
            c.core.ip("addr", "add", f"{net4}.2/{s.prefixlen(4)}", "dev", s.name)
        rdir = os.path.join(c.workdir, "reflector")
        os.makedirs(os.path.join(rdir, "services"), exist_ok=True)
        conf = os.path.join(rdir, "avahi-daemon.conf")
        with open(conf, "w") as f:
            f.write(REFLECTOR_CONF.format(ifaces=",".join([s.name for s in sc.subnets] + ["svc"])))
        rlog = open(os.path.join(rdir, "avahi.log"), "w")
        refl = c.core.popen(private_mounts_cmd(os.path.join(rdir, "services"), None,
                                               ["avahi-daemon", "-f", conf, "--no-drop-root",
                                                "--no-chroot", "--no-rlimits"]),
                            stdout=rlog, stderr=subprocess.STDOUT)
        c.extra_procs.append(refl)
        deadline = time.time() + 20
        while "Server startup complete" not in open(rlog.name).read():
            if time.time() > deadline or refl.poll() is not None:
                raise RuntimeError("reflector did not start: " + open(rlog.name).read()[-1000:])
            time.sleep(0.1)
        c.start_client()
        watcher = BrowseWatcher(c.client)
        watcher.start()
        time.sleep(2)
        waves = plan(sc, a.services, "r")
        names = [s["name"] for v in waves.values() for s in v]
        procs, files = start_captures(c, c.workdir, "reflector")
        t0 = time.time()
        run_wave(c, waves, a.interval)
        complete = wait_all(watcher.seen, names, 60)
        t_wave = time.time() - t0
        stop_captures(procs)
        watcher.stop()
        first = first_announcements(files, names)
        lat, missing = latencies(first, watcher.seen, names)
        results["peer"] = stats_ms(lat)
        print(f"reflector: {len(lat)}/{len(names)} services listed by the client's multicast "
              f"browse (wave {t_wave:.1f} s)" + ("" if complete else
                                                 f"; {len(missing)} never listed"), flush=True)
        if a.keep:
            print(f"kept: {c.workdir}")

    o, p = results["ours"], results["peer"]
    print()
    print(f"campus: {a.services} services over {a.interval:g} s on {len(sc.subnets)} subnets "
          f"({len(sc.hosts)} python-zeroconf hosts); time from the first announcement (IPv4, "
          f"tcpdump) to found, ms")
    print(f"{'':44} {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for label, s in (("updproxy -> BIND (PTR answered, polled)", o),
                     ("avahi reflector -> client multicast browse", p)):
        if s:
            print(f"{label:44} {s['n']:>5} {s['p50']:>8.1f} {s['p90']:>8.1f} {s['p99']:>8.1f} "
                  f"{s['max']:>8.1f}")
        else:
            print(f"{label:44} {'0':>5}   (nothing measured)")
    for k, st in results.get("legs", {}).items():
        if st:
            print(f"  {k:42} {st['n']:>5} {st['p50']:>8.1f} {st['p90']:>8.1f} {st['p99']:>8.1f} "
                  f"{st['max']:>8.1f}")
    print(f"p99: updproxy {o.get('p99', float('nan')):.1f} ms, reflector "
          f"{p.get('p99', float('nan')):.1f} ms; total {time.time() - t_all:.0f} s")
    ratio = (p["p50"] / o["p50"]) if o and p and o["p50"] > 0 else None
    print(json.dumps({"bench": "campus", "metric": "announce_to_found_p50", "unit": "ms",
                      "value": round(o["p50"], 1) if o else None,
                      "peer": "avahi reflector (multicast browse in the client namespace)",
                      "peer_value": round(p["p50"], 1) if p else None,
                      "ratio": round(ratio, 3) if ratio else None}))


if __name__ == "__main__":
    main()
