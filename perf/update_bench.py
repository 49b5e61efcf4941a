#!/usr/bin/python3
"""perf/run update: convergence of 10,000 services (50,000 records) into BIND.

Ours: `updproxy replay CAPTURE --config` (the whole chain: DPDK net_pcap ->
service table -> service model -> batched, TSIG-signed UPDATEs) over a
capture of 10,000 service announcements, into a fresh zone of a real
`named` on 127.0.0.1. The time is taken on the wire (tcpdump on lo): from
the first UPDATE packet minus the batching window (the first announcement
is processed at most batch_ms before it) to the server's last answer; the
replay exits when every UPDATE is answered, and one AXFR then counts the
zone. The UPDATE messages come from the replay's summary.

Peers, in the same run, against the same named (each into its own empty
zone, so no run finds the records of another):
  - one record per UPDATE, the nsupdate way: `nsupdate -k` with a script of
    one `update add` per `send`, over a subset (--peer-records, default
    2,000, drawn evenly from the same records) -> records/s;
  - the ceiling: `dnsperf -u` (dynamic update mode) with TSIG over TCP,
    4 messages in flight, --ceiling-records (default 10,000) of the same
    records in the densest messages dnsperf can always build (its update
    buffer is 512 bytes with the TSIG: about 4 records) -> records/s; and
    `dnsperf -u` one record per message (UDP, 20 in flight) on the subset,
    for scale.

The population (documentation prefixes only): three IPv4 links
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) with 240 dual-stack hosts
each (A + AAAA, one instance: PTR, SRV, TXT) and 39 IPv6 links
(2001:db8:10::/64 ...) with 240 hosts each, 9,280 in all (AAAA, one
instance: PTR, subtype PTR, SRV, TXT): 10,000 instances, 5 records each, in
four service types, plus the _services enumeration and the browse records
(42 subdomains under example.test., all in that one zone). One announcement
per host. 240 hosts per link keeps every RRset under BIND's default limits
(max-records-per-type 100 since 9.18.28; an RRset must fit 64 KB).

Prints a table, the goals (ours >= 10x one-per-UPDATE; within 2x of dnsperf
-u), and one JSON line (perf/README.md).

usage: update_bench.py --binary build-perf/control/updproxy [--services N]
       [--peer-records N] [--keep]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from dns_servers import Named, TsigKey  # noqa: E402
from mdns_capture import Capture, Host, LinkPub, Service, browse_records, service_records  # noqa: E402

ZONE = "example.test."
BATCH_MS = 50
V4_LINKS = [("v4a", "192.0.2", "2001:db8:1"), ("v4b", "198.51.100", "2001:db8:2"),
            ("v4c", "203.0.113", "2001:db8:3")]
HOSTS_PER_LINK = 240
# Service types and the subtype each IPv6-link instance also announces.
TYPES = [("_ipp._tcp", "_universal"), ("_airplay._tcp", "_mirror"), ("_raop._tcp", "_speaker"),
         ("_googlecast._tcp", "_display")]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def population(n_services):
    """[(link name, subdomain, prefix, host, service)], one service per host,
    240 hosts per link, four service types: every RRset stays well under
    BIND's defaults (max-records-per-type 100; 64 KB per RRset)."""
    out = []
    i = 0
    for name, v4, v6 in V4_LINKS:
        for h in range(HOSTS_PER_LINK):
            if i >= n_services:
                return out
            addr = f"{v4}.{10 + h}"
            host = Host(f"dev-{h:03d}", addr, [addr, f"{v6}::{10 + h:x}"])
            svc = Service(f"Device {name} {h:03d}", TYPES[h % len(TYPES)][0], host, 631 + h % 4,
                          [b"txtvers=1", f"id={i:05d}".encode(), b"note=bench"])
            out.append((name, f"{name}.{ZONE}", f"{v4}.0/24", host, svc))
            i += 1
    k = 0x10
    while i < n_services:
        name, v6 = f"v6-{k:x}", f"2001:db8:{k:x}"
        for h in range(HOSTS_PER_LINK):
            if i >= n_services:
                break
            addr = f"{v6}::{0x100 + h:x}"
            stype, sub = TYPES[h % len(TYPES)]
            host = Host(f"host-{h:03d}", addr, [addr])
            svc = Service(f"Thing {k:x}-{h:03d}", stype, host, 8000 + h % 4,
                          [b"txtvers=1", f"id={i:05d}".encode(), b"rp=bench"], subtypes=[sub])
            out.append((name, f"{name}.{ZONE}", f"{v6}::/64", host, svc))
            i += 1
        k += 1
    return out


def links_of(pop):
    seen = {}
    for name, sub, prefix, _, _ in pop:
        seen.setdefault(name, (sub, prefix))
    return seen


def config_text(key, port, links):
    ls = "".join(f"  - name: {n}\n    port: p0\n    prefix: {p}\n    subdomain: {s}\n"
                 for n, (s, p) in links.items())
    return f"""dpdk:
  lcores: [0, 1]
  memory_mb: 512
  vdevs: [net_null0]
ports:
  - name: p0
    device: net_null0
links:
{ls}publish:
  domain: {ZONE}
update:
  key_file: {key.path}
  batch_ms: {BATCH_MS}
  zones:
    - zone: {ZONE}
      server: 127.0.0.1
      port: {port}
log:
  level: info
"""


def record_lines(pop, links):
    """Presentation lines 'owner ttl IN type rdata' of every record the
    model publishes for the population (enumeration and browse included)."""
    recs = {}
    pubs = {n: LinkPub(s, ZONE) for n, (s, _) in links.items()}

    def add(owner, ttl, t, rd):
        recs.setdefault((owner.to_text(), t, rd.to_text()), ttl)

    for name, _, _, _, svc in pop:
        for r in service_records(pubs[name], svc):
            add(*r)
    for lp in pubs.values():
        for r in browse_records(lp):
            add(*r)
    import dns.rdatatype
    return [f"{o} {ttl} IN {dns.rdatatype.to_text(t)} {rd}" for (o, t, rd), ttl in recs.items()]


def record_size(line):
    """Uncompressed wire size of a presentation line's record."""
    import dns.rrset
    owner, ttl, cls, rtype, rdata = line.split(" ", 4)
    rrset = dns.rrset.from_text(owner, int(ttl), cls, rtype, rdata)
    return len(rrset.name.to_wire()) + 10 + len(rrset[0].to_wire())


# dnsperf 2.10 builds an update in a 512-byte buffer that also takes the
# TSIG record; a message whose records fit this many bytes uncompressed fits
# whatever dnsperf's compression does.
DNSPERF_BUFFER = 512


def dnsperf_budget(zone, key):
    tsig = len(key.name) + 2 + 10 + len(key.algorithm) + 2 + 6 + 2 + 2 + 32 + 2 + 2 + 2
    return DNSPERF_BUFFER - 12 - (len(zone) + 1 + 4) - tsig


def pack(lines, budget):
    """Consecutive records in messages of at most `budget` record bytes."""
    msgs, cur, used = [], [], 0
    for l in lines:
        n = record_size(l)
        if cur and used + n > budget:
            msgs.append(cur)
            cur, used = [], 0
        cur.append(l)
        used += n
    if cur:
        msgs.append(cur)
    return msgs


def rename(line, zone):
    return line.replace("." + ZONE, "." + zone)


def axfr_count(port, zone):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+noall", "+answer", "+nocmd",
                          "+time=30", "AXFR", zone], text=True, stdout=subprocess.PIPE).stdout
    return sum(1 for l in out.splitlines() if l.strip() and not l.startswith(";")) - 2


class Tcpdump:
    """Packets to and from the server's port on lo, with kernel timestamps."""

    def __init__(self, path, port):
        self.path = path
        self.port = port
        self.p = subprocess.Popen(["tcpdump", "-i", "lo", "-n", "-U", "-w", path,
                                   f"port {port}"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        line = self.p.stderr.readline()   # "listening on lo, ..." once it captures
        if "listening" not in line:
            raise RuntimeError("tcpdump: " + line + self.p.stderr.read())

    def stop(self):
        time.sleep(0.2)
        self.p.send_signal(signal.SIGINT)
        self.p.wait(timeout=10)

    def span(self):
        """(first packet to the server, last packet from it carrying data)."""
        out = subprocess.run(["tcpdump", "-r", self.path, "-n", "-tt", "-q"], text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
        first = last = None
        srv = f"127.0.0.1.{self.port}"
        for l in out.splitlines():
            m = re.match(r"(\d+\.\d+) IP (\S+) > (\S+?): (?:UDP, length|tcp) (\d+)", l)
            if not m:
                continue
            t, src, dst, n = float(m.group(1)), m.group(2), m.group(3), int(m.group(4))
            if dst == srv and first is None:
                first = t
            if src == srv and n > 0:
                last = t
        return first, last


def run_nsupdate(key, port, zone, lines):
    script = f"server 127.0.0.1 {port}\nzone {zone}\n" + "".join(
        f"update add {l}\nsend\n" for l in lines)
    t = time.monotonic()
    r = subprocess.run(["nsupdate", "-k", key.path], input=script, text=True,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError("nsupdate failed: " + r.stderr[-500:])
    return dt


def write_dnsperf_input(path, zone, lines, budget):
    """budget: record bytes per message (pack()); 0: one record per message."""
    msgs = pack(lines, budget) if budget else [[l] for l in lines]
    with open(path, "w") as f:
        for m in msgs:
            f.write(zone.rstrip(".") + "\n")
            for l in m:
                owner, ttl, _cls, rest = l.split(" ", 3)
                f.write(f"add {owner} {ttl} {rest}\n")
            f.write("send\n")
    return len(msgs)


def run_dnsperf(key, port, zone, lines, budget, work, transport, outstanding):
    path = os.path.join(work, f"dnsperf-{zone}txt")
    write_dnsperf_input(path, zone, lines, budget)
    r = subprocess.run(["dnsperf", "-u", "-s", "127.0.0.1", "-p", str(port), "-d", path,
                        "-y", f"{key.algorithm}:{key.name}:{key.secret}", "-n", "1",
                        "-m", transport, "-q", str(outstanding), "-t", "30"],
                       text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout
    if "out of space" in out + r.stderr:
        raise RuntimeError(f"dnsperf: messages of {budget} record bytes do not fit its buffer")
    sent = re.search(r"Updates sent:\s+(\d+)", out)
    done = re.search(r"Updates completed:\s+(\d+)", out)
    rt = re.search(r"Run time \(s\):\s+([\d.]+)", out)
    codes = re.search(r"Response codes:\s+(.*)", out)
    if not (sent and done and rt) or sent.group(1) != done.group(1) or \
            (codes and "NOERROR" not in codes.group(1)):
        raise RuntimeError("dnsperf: " + out[-1500:] + r.stderr[-500:])
    if codes and codes.group(1).strip() != f"NOERROR {done.group(1)} (100.00%)":
        raise RuntimeError("dnsperf: not every update NOERROR: " + codes.group(1))
    return float(rt.group(1)), int(done.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    ap.add_argument("--services", type=int, default=10000)
    ap.add_argument("--peer-records", type=int, default=2000)
    ap.add_argument("--ceiling-records", type=int, default=10000,
                    help="records dnsperf -u sends in its densest messages")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    for tool in ("named", "nsupdate", "dnsperf", "tcpdump", "dig"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"update bench: {tool} not installed (scripts/install-deps.sh)")
    t_start = time.monotonic()
    work = tempfile.mkdtemp(prefix="updproxy-update-bench-")
    named = None
    try:
        pop = population(args.services)
        links = links_of(pop)
        log(f"update bench: {len(pop)} services on {len(links)} links; building the capture")
        cap = Capture(start=time.time() - 120)
        for _, _, _, host, svc in pop:
            cap.announce(host, [svc], nsec=False)
            cap.advance(0.002)
        capture = cap.write(os.path.join(work, "announce.pcap"))
        lines = record_lines(pop, links)
        step = max(1, len(lines) // args.peer_records)
        subset = lines[::step][:args.peer_records]
        log(f"update bench: {len(lines)} records expected; capture {os.path.getsize(capture)} "
            f"bytes ({time.monotonic() - t_start:.1f} s)")

        key = TsigKey.generate(work)
        zones = [ZONE, "nsup.test.", "dnsperf.test.", "dnsperf1.test."]
        named = Named(work, zones, key, log_updates=False)
        named.start()
        cfg = os.path.join(work, "updproxy.yaml")
        with open(cfg, "w") as f:
            f.write(config_text(key, named.port, links))

        # ---- ours ----
        dump = Tcpdump(os.path.join(work, "lo.pcap"), named.port)
        t0 = time.monotonic()
        r = subprocess.run([args.binary, "replay", capture, "--config", cfg], text=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.monotonic() - t0
        dump.stop()
        summary = re.search(r";; published (\d+) records; (\d+) changes (?:failed|refused)", r.stderr)
        zl = re.search(r";;   zone \S+: (\d+) UPDATEs, (\d+) records, (\d+) NOERROR, (\d+) timeouts, "
                       r"confirmed (\d+)/(\d+)", r.stderr)
        if r.returncode != 0 or not summary or not zl or summary.group(2) != "0":
            raise RuntimeError(f"replay exit {r.returncode}:\n{r.stderr[-2000:]}\n"
                               f"named: {named.log_tail(1500)}")
        updates, sent_records = int(zl.group(1)), int(zl.group(2))
        first, last = dump.span()
        in_zone = axfr_count(named.port, ZONE) - 2   # NS and ns A of the base zone
        if in_zone != len(lines):
            raise RuntimeError(f"zone holds {in_zone} records, expected {len(lines)}")
        ours_s = (last - first) + BATCH_MS / 1000
        ours = in_zone / ours_s
        log(f"update bench: ours {in_zone} records in {ours_s:.2f} s, {updates} UPDATEs "
            f"carrying {sent_records} records "
            f"(replay wall {wall:.1f} s)")

        # ---- one record per UPDATE, the nsupdate way ----
        ns_lines = [rename(l, "nsup.test.") for l in subset]
        ns_s = run_nsupdate(key, named.port, "nsup.test.", ns_lines)
        if axfr_count(named.port, "nsup.test.") - 2 != len(ns_lines):
            raise RuntimeError("nsupdate: records missing from nsup.test.")
        ns = len(ns_lines) / ns_s
        log(f"update bench: nsupdate {len(ns_lines)} records in {ns_s:.2f} s")

        # ---- the ceiling: dnsperf -u ----
        # A bounded share of the records (drawn evenly): at ~6 records per
        # message dnsperf needs thousands of messages, each a journal sync.
        cstep = max(1, len(lines) // args.ceiling_records)
        dp_lines = [rename(l, "dnsperf.test.") for l in lines[::cstep][:args.ceiling_records]]
        # dnsperf's message buffer is fixed: records are packed as densely
        # as it can always send them (ours are 16 KB messages).
        dp_s, dp_msgs = run_dnsperf(key, named.port, "dnsperf.test.", dp_lines,
                                    dnsperf_budget("dnsperf.test.", key), work, "tcp", 4)
        if axfr_count(named.port, "dnsperf.test.") - 2 != len(dp_lines):
            raise RuntimeError("dnsperf: records missing from dnsperf.test.")
        dp = len(dp_lines) / dp_s
        dp1_lines = [rename(l, "dnsperf1.test.") for l in subset]
        dp1_s, _ = run_dnsperf(key, named.port, "dnsperf1.test.", dp1_lines, 0, work, "udp", 20)
        dp1 = len(dp1_lines) / dp1_s
        log(f"update bench: dnsperf {len(dp_lines)} records in {dp_s:.2f} s; "
            f"1/message {len(dp1_lines)} in {dp1_s:.2f} s")
    finally:
        if named:
            named.stop()
        if args.keep:
            log(f"update bench: work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(f"update: {len(pop)} services, {len(lines)} records into BIND "
          f"{subprocess.run(['/usr/sbin/named', '-v'], text=True, stdout=subprocess.PIPE).stdout.split()[1]}"
          f" (127.0.0.1, TSIG hmac-sha256), same named for every row")
    print(f"{'':38} {'records':>8} {'messages':>9} {'rec/msg':>8} {'seconds':>8} {'records/s':>10}")
    rows = [
        ("ours: updproxy replay (whole chain)", in_zone, updates, in_zone / updates, ours_s, ours),
        ("one record per UPDATE (nsupdate)", len(ns_lines), len(ns_lines), 1, ns_s, ns),
        ("dnsperf -u, max batch, tcp, 4 in flight", len(dp_lines), dp_msgs,
         len(dp_lines) / dp_msgs, dp_s, dp),
        ("dnsperf -u, 1 rec/msg, udp, 20 in flight", len(dp1_lines), len(dp1_lines), 1, dp1_s, dp1),
    ]
    for name, n, m, rpm, s, rate in rows:
        print(f"{name:38} {n:8d} {m:9d} {rpm:8.1f} {s:8.2f} {rate:10.0f}")
    print(f"ours / one-per-UPDATE: {ours / ns:.1f}x (goal >= 10x: "
          f"{'met' if ours >= 10 * ns else 'NOT met'})")
    print(f"ours / dnsperf -u ceiling: {ours / dp:.2f} (goal >= 0.5, within 2x: "
          f"{'met' if ours >= 0.5 * dp else 'NOT met'})")
    print(f"ours: replay wall time {wall:.1f} s (EAL start, capture, table print included); "
          f"on the wire {last - first:.2f} s + {BATCH_MS} ms batching window; bench "
          f"{time.monotonic() - t_start:.0f} s")
    print(json.dumps({"bench": "update", "metric": "records_per_second", "unit": "records/s",
                      "value": round(ours, 1), "peer": "one record per UPDATE (nsupdate way)",
                      "peer_value": round(ns, 1), "ratio": round(ours / ns, 2)}))


if __name__ == "__main__":
    main()
