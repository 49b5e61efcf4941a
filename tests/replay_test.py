#!/usr/bin/python3
"""System test: `updproxy replay` (the DPDK dataplane over net_pcap) against an
independent model of the mDNS cache rules.

Usage: replay_test.py UPDPROXY CORPUS_DIR

1. corpus: every Ethernet mDNS capture under CORPUS_DIR/pcap is replayed with
   `--json --stats`; the final service table is computed again here from the
   capture (scapy for frames and timestamps, dnspython's wire parser for DNS)
   by a small model of the rules below, and the two tables are compared
   record by record, with the learned links and the drop counters.
2. vlan: the captures with records are re-tagged with scapy (802.1Q 10, and
   802.1ad 100 + 802.1Q 20); the tables must be the untagged table with the
   link names prefixed "vlan10-" / "vlan100-vlan20-", and a capture mixing
   the three must hold all three, apart.
3. rules: a crafted capture (announcements, TTL-1, unicast to a foreign
   address, goodbyes, cache-flush, expiry, fragments, queries, bad ports,
   link-local sources) checks each rule against hand-written expectations,
   and the drop counters from --stats; the same capture re-tagged; the
   goodbye delay just before and after its 1 s.
   messages: every mDNS message file of the corpus (valid, quirks, malformed)
   framed into one capture, alternately over IPv4 and IPv6: refusals and
   parse-error counts, the NSEC quirks, the table against the model.
4. errors: missing file, non-Ethernet capture, unreadable file, comma in path.

The model (written from RFC 6762 and the brief, not from the C++):
- frames: Ethernet with up to two 802.1Q/802.1ad tags, IPv4 (no fragments) or
  IPv6 (extension headers walked, Fragment header = fragment), UDP.
- path, in this order: dst port 53 -> dns_not_service (a learned link has no
  address of its own); neither port 5353 -> not_dns_port; link lookup
  (no_link / off_link_source); TTL or hop limit != 255 -> ttl_not_255;
  destination not 224.0.0.251 / ff02::fb -> not_for_us; then the DNS parse.
- links learned from every UDP frame to or from port 5353: one per (VLAN tags,
  family, /24 or /64 of a non-link-local source); a link-local source joins
  the lowest-numbered link of its VLAN tags and family, or, when there is
  none, the segment gets 169.254.0.0/16 or fe80::/10.
- records only from responses (QR=1, opcode 0) from port 5353 to port 5353,
  answer and additional sections, OPT and TSIG skipped, NSEC records whose
  next-domain name has a bad compression pointer skipped (RFC 6762 §6.1: the
  rest of the message still counts).
- cache: key (link, owner, type, class, RDATA), names and the name inside
  PTR/CNAME/NS/SOA/MX/SRV RDATA case-insensitive; new -> add; again -> refresh
  (TTL, cache-flush bit and source updated, first-seen RDATA case kept);
  TTL 0 -> removed 1 s later unless announced again before (a goodbye of a
  record already leaving does not move its deadline); cache-flush bit ->
  every other record of the (link, owner, type, class) RRset last seen at
  least 1000 ms ago is removed 1 s later; expiry at last_seen + TTL.
- clock: the capture's timestamps in ms (microseconds / 1000, floored);
  before each frame whose ms differs from the previous one, and once more at
  the end, deadlines that are due are applied. Deadlines are rounded up to
  64 ms ticks counted from (first frame - 128 ms) and are due once
  floor((now - base) / 64) reaches the deadline's tick.

The DNS parse uses dnspython's wire Parser, name and rdata decoders record by
record rather than dns.message.from_wire, because from_wire rejects a whole
message for one NSEC with a bad next-name pointer (the Android TV and Roborock
quirks under mdns/python-zeroconf/quirks/) and would look RDATA up under the
cache-flush class (0x8001) instead of IN. Messages from_wire refuses are
counted and printed for information.

Prints one line per failed check and exit status 0 only when all pass. A check
listed in KNOWN is a reported discrepancy of the binary: it prints "KNOWN" and
does not fail the run, and prints "FIXED?" when it starts to pass.
"""

import collections
import ipaddress
import json
import pathlib
import struct
import subprocess
import sys
import tempfile
import time

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.wire
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert, fragment
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                                IPv6ExtHdrRouting, RouterAlert)
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.packet import Padding, Raw
from scapy.utils import PcapWriter, RawPcapReader

IN = dns.rdataclass.IN
T = dns.rdatatype
MDNS_V4 = ipaddress.ip_address("224.0.0.251")
MDNS_V6 = ipaddress.ip_address("ff02::fb")
TICK_MS = 64
# Types whose RDATA name compares case-insensitively (RFC 4343 via RFC 6762 §16).
NAME_RDATA_TYPES = {T.PTR, T.CNAME, T.NS, T.SOA, T.MX, T.SRV}

# Ethernet mDNS captures of the corpus (the others are unicast DNS or not Ethernet).
CORPUS_CAPTURES = [
    "pcap/ndpi/anyconnect-vpn_mdns-only.pcap",
    "pcap/ndpi/gnutella_mdns-only.pcap",
    "pcap/ndpi/iphone_mdns-only.pcap",
    "pcap/ndpi/telegram_mdns-only.pcap",
    "pcap/zeek/mdns.pcap",
    "pcap/zeek/mdns-no-assoc.pcap",
    "pcap/wireshark/dns-mdns.pcap",
]
NON_ETHERNET = "pcap/suricata-verify/dns-answer-emptydata.pcap"

# Sub-checks where the binary is known to differ from what is expected; see
# the report. Each prints KNOWN instead of failing.
# Sub-checks where the binary is known to differ from what is expected: none
# now (a missing file's one-line error and --config were fixed).
KNOWN = {}

failures = []
known_hits = []


def fail(where, what):
    failures.append(f"{where}: {what}")


def check(cond, where, what, known=None):
    if known is not None:
        if not cond:
            known_hits.append(f"{where}: {what} [{KNOWN[known]}]")
        else:
            print(f"FIXED? {where}: known issue '{known}' no longer shows")
        return cond
    if not cond:
        fail(where, what)
    return cond


# ---- running the binary ------------------------------------------------------------------

class Replay:
    def __init__(self, proc):
        self.proc = proc
        self.rc = proc.returncode
        self.records = []
        self.bad_lines = []
        for line in proc.stdout.splitlines():
            try:
                self.records.append(json.loads(line))
            except ValueError:
                self.bad_lines.append(line)
        self.frames = self.messages = self.clock = None
        self.drops = collections.Counter()
        self.parse_errors = collections.Counter()
        for line in proc.stderr.splitlines():
            words = line.split()
            if line.startswith(";; replay: "):
                # ;; replay: N frames, M mDNS messages, clock at the last packet T ms (Unix time)
                self.frames = int(words[2])
                self.messages = int(words[4])
                self.clock = int(words[words.index("packet") + 1])
            elif line.startswith(";;   dropped "):
                self.drops[words[3]] += int(words[2])
            elif line.startswith(";;   parse error "):
                self.parse_errors[words[4]] += int(words[3])


def run(exe, *args, timeout=60):
    return subprocess.run([exe, "replay", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


def replay(exe, path, where):
    r = Replay(run(exe, "--json", "--stats", path))
    check(r.rc == 0, where, f"exit {r.rc}: {r.proc.stderr.strip()[-300:]}")
    check(not r.bad_lines, where, f"non-JSON output lines: {r.bad_lines[:3]}")
    check(r.frames is not None, where, "no ';; replay:' line from --stats")
    return r


# ---- DNS parsing (dnspython, record by record) ------------------------------------------

class Rejected(Exception):
    pass


DAMAGED = object()


def nsec_next_name_damaged(wire, rdstart, rdlen):
    """True when an NSEC that dnspython refused is the RFC 6762 §6.1 quirk: its
    next-domain name, in place, ends in a compression pointer that does not
    decode, and the rest of the RDATA (type bitmaps) is valid."""
    end = rdstart + rdlen
    p = rdstart
    while p < end:
        n = wire[p]
        if n == 0:
            return False  # ends in place: not a pointer problem
        if n >= 0xC0:
            if p + 2 > end:
                return False
            tail = wire[p + 2:end]
            try:
                dns.rdata.from_wire(IN, T.NSEC, b"\x00" + tail, 0, 1 + len(tail))
            except Exception:  # noqa: BLE001 - bitmap bad too: the message is bad
                return False
            return True
        if n >= 0x40:
            return False
        p += 1 + n
    return False


def parse_message(wire):
    """Header fields and records [(section, name, type, raw class, ttl, rdata)],
    rdata being a dnspython Rdata or DAMAGED. Raises Rejected when the message
    as a whole is not valid DNS."""
    try:
        p = dns.wire.Parser(wire)
        msg_id, flags, qd, an, ns, ar = p.get_struct("!HHHHHH")
        for _ in range(qd):
            p.get_name()
            p.get_struct("!HH")
        records = []
        have_opt = False
        for section, count in ((1, an), (2, ns), (3, ar)):
            for i in range(count):
                owner = p.get_name()
                rtype, rclass, ttl, rdlen = p.get_struct("!HHIH")
                if rdlen > p.remaining():
                    raise Rejected("RDATA past the end")
                rdstart = p.current
                if rtype == T.OPT:
                    if section != 3 or owner != dns.name.root or have_opt:
                        raise Rejected("misplaced OPT")
                    have_opt = True
                if rtype == T.TSIG and (section != 3 or i + 1 != count):
                    raise Rejected("misplaced TSIG")
                if rdlen == 0 and rclass in (dns.rdataclass.ANY, dns.rdataclass.NONE):
                    rd = None  # RFC 2136 meta-record
                else:
                    cls = rclass if rtype == T.OPT else (dns.rdataclass.ANY if rtype == T.TSIG
                                                         else IN)
                    try:
                        with p.restrict_to(rdlen):
                            rd = dns.rdata.from_wire_parser(cls, rtype, p)
                    except Exception as e:  # noqa: BLE001
                        if rtype == T.NSEC and nsec_next_name_damaged(wire, rdstart, rdlen):
                            rd = DAMAGED
                        else:
                            raise Rejected(f"{T.to_text(rtype)} RDATA: {type(e).__name__} {e}")
                p.seek(rdstart + rdlen)
                records.append((section, owner, rtype, rclass, ttl, rd))
        if p.remaining() != 0:
            raise Rejected(f"{p.remaining()} trailing bytes")
    except dns.exception.DNSException as e:
        raise Rejected(f"{type(e).__name__}: {e}")
    except struct.error as e:
        raise Rejected(f"struct: {e}")
    return {"id": msg_id, "flags": flags, "records": records}


def rdata_key(rdtype, rd):
    """RDATA as the table compares it: names in PTR/CNAME/NS/SOA/MX/SRV
    lowercased, everything else byte for byte (NSEC's next name keeps its case,
    RFC 6840 §5.1)."""
    if rdtype in NAME_RDATA_TYPES:
        return rd.to_digestable()
    return rd.to_wire()


def name_key(name):
    return name.canonicalize().to_text()


# ---- frames (scapy) --------------------------------------------------------------------

IPV6_EXT = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt)


class Frame:
    """What the model needs of one frame; `drop` is None or a frame-level reason."""
    __slots__ = ("ms", "drop", "vlans", "v6", "src", "dst", "ttl", "sport", "dport", "payload")

    def __init__(self, ms):
        self.ms = ms
        self.drop = None
        self.vlans = ()
        self.v6 = False
        self.src = self.dst = None
        self.ttl = self.sport = self.dport = None
        self.payload = None


def classify(data, ms):
    f = Frame(ms)
    eth = Ether(data)
    layer = eth.payload
    vlans = []
    while isinstance(layer, (Dot1Q, Dot1AD)):
        vlans.append(layer.vlan)
        layer = layer.payload
    f.vlans = tuple(vlans)
    if len(vlans) > 2:
        f.drop = "too_many_vlans"
        return f
    if isinstance(layer, IP):
        f.src, f.dst, f.ttl = ipaddress.ip_address(layer.src), ipaddress.ip_address(layer.dst), \
            layer.ttl
        if layer.flags.MF or layer.frag:
            f.drop = "fragment"
            return f
        if layer.proto != 17 or not isinstance(layer.payload, UDP):
            f.drop = "not_udp"
            return f
        udp = layer.payload
    elif isinstance(layer, IPv6):
        f.v6 = True
        f.src, f.dst, f.ttl = ipaddress.ip_address(layer.src), ipaddress.ip_address(layer.dst), \
            layer.hlim
        nxt = layer.payload
        while isinstance(nxt, IPV6_EXT):
            nxt = nxt.payload
        if isinstance(nxt, IPv6ExtHdrFragment):
            f.drop = "fragment"
            return f
        if type(nxt) is not UDP:  # not UDPerror inside an ICMPv6 error either
            f.drop = "not_udp"
            return f
        udp = nxt
    else:
        f.drop = "not_ip"
        return f
    raw = bytes(udp.original)  # as captured; scapy would re-serialize its DNS layer
    if udp.len is None or udp.len < 8 or udp.len > len(raw):
        f.drop = "bad_udp_length"
        return f
    f.sport, f.dport = udp.sport, udp.dport
    f.payload = raw[8:udp.len]
    return f


def read_capture(path):
    """[(ms, bytes)] and the link type."""
    out = []
    reader = RawPcapReader(str(path))
    try:
        linktype = reader.linktype
        nano = getattr(reader, "nano", False)
        for data, meta in reader:
            frac = meta.usec // (1_000_000 if nano else 1000)
            out.append((meta.sec * 1000 + frac, data))
    finally:
        reader.close()
    return out, linktype


# ---- the model ---------------------------------------------------------------------------

def is_link_local(addr):
    return addr.is_link_local  # 169.254/16, fe80::/10


def network_of(addr):
    return ipaddress.ip_network(f"{addr}/{64 if addr.version == 6 else 24}", strict=False)


def link_name(vlans, net):
    return "".join(f"vlan{v}-" for v in vlans) + f"{net.network_address}/{net.prefixlen}"


class Links:
    """Links learned from a capture: {(vlans, v6): [networks, lowest first]}."""

    def __init__(self, frames):
        nets = collections.defaultdict(set)
        link_local = set()
        for f in frames:
            if f.drop or (f.sport != 5353 and f.dport != 5353):
                continue
            seg = (f.vlans, f.v6)
            if is_link_local(f.src):
                link_local.add(seg)
            else:
                nets[seg].add(network_of(f.src))
        self.by_segment = {seg: sorted(n, key=lambda x: int(x.network_address))
                           for seg, n in nets.items()}
        for seg in link_local:
            if seg not in self.by_segment:
                self.by_segment[seg] = [ipaddress.ip_network("fe80::/10" if seg[1]
                                                             else "169.254.0.0/16")]

    def names(self):
        return {link_name(seg[0], n) for seg, nets in self.by_segment.items() for n in nets}

    def lookup(self, f):
        """(link name, None) or (None, drop reason)."""
        nets = self.by_segment.get((f.vlans, f.v6))
        if not nets:
            return None, "no_link"
        for n in nets:
            if f.src in n:
                return link_name(f.vlans, n), None
        if is_link_local(f.src):
            return link_name(f.vlans, nets[0]), None
        return None, "off_link_source"


class Rec:
    __slots__ = ("ttl", "last_seen", "pending", "cache_flush", "source", "rdata", "owner")


class Model:
    def __init__(self, frames):
        self.links = Links(frames)
        self.table = {}  # (link, owner key, type, class, rdata key) -> Rec
        self.drops = collections.Counter()
        self.messages = 0
        self.rejected = []  # (frame number, reason): messages the DNS parse refuses
        self.from_wire_refuses = []  # frame numbers dns.message.from_wire refuses
        self.damaged = 0
        self.events = collections.Counter()  # rules that fired, for the log
        self.base = None
        last = 0
        for n, f in enumerate(frames, 1):
            if f.ms != last:
                self.advance(f.ms)
                last = f.ms
            self.handle(n, f)
        self.advance(last)
        self.clock = last

    # timers
    def set_base(self, now):
        if self.base is None:
            self.base = now - 2 * TICK_MS if now > 2 * TICK_MS else 0

    def to_tick(self, ms):
        if ms <= self.base:
            return 1
        return max(1, -(-(ms - self.base) // TICK_MS))

    @staticmethod
    def expire_ms(r):
        return r.last_seen + (1000 if r.pending else r.ttl * 1000)

    def advance(self, now):
        self.set_base(now)
        now_tick = (now - self.base) // TICK_MS if now > self.base else 0
        for k in [k for k, r in self.table.items() if now_tick >= self.to_tick(self.expire_ms(r))]:
            self.events["removed" if self.table[k].pending else "expired"] += 1
            del self.table[k]

    # one frame
    def handle(self, n, f):
        if f.drop:
            self.drops[f.drop] += 1
            return
        if f.dport == 53:
            self.drops["dns_not_service"] += 1
            return
        if f.sport != 5353 and f.dport != 5353:
            self.drops["not_dns_port"] += 1
            return
        link, why = self.links.lookup(f)
        if link is None:
            self.drops[why] += 1
            return
        if f.ttl != 255:
            self.drops["ttl_not_255"] += 1
            return
        if f.dst != (MDNS_V6 if f.v6 else MDNS_V4):
            self.drops["not_for_us"] += 1
            return
        # The dataplane looks at the QR bit before parsing: queries are counted
        # and never parsed (they are never a source of records).
        if len(f.payload) >= 12 and not f.payload[2] & 0x80:
            self.messages += 1
            return
        try:
            m = parse_message(f.payload)
        except Rejected as e:
            self.rejected.append((n, str(e)))
            return
        try:
            dns.message.from_wire(f.payload, one_rr_per_rrset=True)
        except Exception:  # noqa: BLE001 - for information only
            self.from_wire_refuses.append(n)
        self.set_base(f.ms)
        self.messages += 1
        flags = m["flags"]
        if not flags & 0x8000 or (flags >> 11) & 0xF != 0:
            return  # queries and probes are never a source; opcode must be QUERY
        if f.sport != 5353 or f.dport != 5353:
            return  # not from 5353, or legacy unicast
        for section, owner, rtype, rclass, ttl, rd in m["records"]:
            if section == 2 or rtype in (T.OPT, T.TSIG):
                continue
            if rd is DAMAGED:
                self.damaged += 1
                continue
            if rd is None:
                continue  # zero-length meta-record: not an mDNS announcement
            self.ingest(link, owner, rtype, rclass, ttl, rd, f)

    def ingest(self, link, owner, rtype, rclass, ttl, rd, f):
        now = f.ms
        cls = rclass & 0x7FFF
        flush = bool(rclass & 0x8000)
        key = (link, name_key(owner), rtype, cls, rdata_key(rtype, rd))
        r = self.table.get(key)
        if ttl == 0:  # goodbye, RFC 6762 §10.1
            if r is not None and not r.pending:
                self.events["goodbye"] += 1
                r.pending = True
                r.last_seen = now
            return
        self.events["refresh" if r else "add"] += 1
        if r is None:
            r = Rec()
            r.rdata = rd.to_wire()
            r.owner = owner
            self.table[key] = r
        r.ttl = ttl
        r.last_seen = now
        r.pending = False
        r.cache_flush = flush
        r.source = f.src
        if flush:  # RFC 6762 §10.2
            for k2, r2 in self.table.items():
                if (k2[:4] == key[:4] and k2 != key and not r2.pending
                        and r2.last_seen + 1000 < now):
                    self.events["flushed"] += 1
                    r2.pending = True
                    r2.last_seen = now

    def expected(self):
        """{(link, owner, type, rdata key): (ttl, cache_flush, source, rdata wire)}"""
        out = {}
        for (link, owner, rtype, cls, rdk), r in self.table.items():
            out[(link, owner, rtype, rdk)] = (r.ttl, r.cache_flush, r.source, r.rdata)
        return out


def model_of(path):
    captured, linktype = read_capture(path)
    assert linktype == 1, f"{path}: link type {linktype}"
    frames = [classify(data, ms) for ms, data in captured]
    return Model(frames), len(captured)


# ---- comparing ---------------------------------------------------------------------------

def ours_table(records, where):
    out = {}
    for o in records:
        at = f"{where}: {o.get('link')} {o.get('name')} {o.get('type')} {o.get('rdata')!r}"
        try:
            rtype = T.from_text(o["type"])
            rd = dns.rdata.from_text(IN, rtype, o["rdata"])
            key = (o["link"], name_key(dns.name.from_text(o["name"])), rtype, rdata_key(rtype, rd))
            val = (o["ttl"], o["cache_flush"], ipaddress.ip_address(o["source"]), rd.to_wire())
        except Exception as e:  # noqa: BLE001
            fail(at, f"cannot read our record ({type(e).__name__}: {e})")
            continue
        if key in out:
            fail(at, "record listed twice")
        out[key] = val
    return out


def show(key, val=None):
    link, owner, rtype, rdk = key
    try:
        text = dns.rdata.from_wire(IN, rtype, rdk, 0, len(rdk)).to_text()
    except Exception:  # noqa: BLE001
        text = rdk.hex()
    s = f"[{link}] {owner} {T.to_text(rtype)} {text}"
    if val:
        s += f" ttl={val[0]} flush={val[1]} from {val[2]}"
    return s


def compare_tables(ours, want, where):
    ok = True
    for k in sorted(set(want) - set(ours), key=str):
        ok = check(False, where, f"missing: {show(k, want[k])}")
    for k in sorted(set(ours) - set(want), key=str):
        ok = check(False, where, f"unexpected: {show(k, ours[k])}")
    for k in sorted(set(ours) & set(want), key=str):
        o, w = ours[k], want[k]
        names = ("ttl", "cache_flush", "source", "RDATA (case as first seen)")
        for name, a, b in zip(names, o, w):
            if a != b:
                ok = check(False, where, f"{show(k)}: {name} {a} != expected {b}")
    return ok


PATH_DROPS = ("dns_not_service", "not_dns_port", "no_link", "off_link_source", "ttl_not_255",
              "not_for_us", "fragment")


def path_drops(counter):
    return {k: v for k, v in counter.items() if k in PATH_DROPS and v}


def compare_with_model(r, model, nframes, where):
    check(r.frames == nframes, where, f"{r.frames} frames replayed, capture has {nframes}")
    check(r.clock == model.clock, where, f"clock {r.clock} ms != last frame {model.clock} ms")
    for reason in PATH_DROPS:
        check(r.drops[reason] == model.drops[reason], where,
              f"dropped {reason}: {r.drops[reason]} != expected {model.drops[reason]}")
    check(r.messages == model.messages, where,
          f"{r.messages} mDNS messages != expected {model.messages} "
          f"(model rejects {model.rejected[:3]}, ours {dict(r.parse_errors)})")
    ours = ours_table(r.records, where)
    want = model.expected()
    compare_tables(ours, want, where)
    got_links = {k[0] for k in ours}
    check(got_links <= model.links.names(), where,
          f"records on links not learned here: {sorted(got_links - model.links.names())}")
    return ours


# ---- 1. corpus ---------------------------------------------------------------------------

def test_corpus(exe, corpus):
    results = {}
    for rel in CORPUS_CAPTURES:
        path = corpus / rel
        r = replay(exe, path, rel)
        model, nframes = model_of(path)
        compare_with_model(r, model, nframes, rel)
        extra = ""
        if model.damaged:
            extra += f", {model.damaged} damaged NSEC skipped"
        if model.from_wire_refuses:
            extra += (f", dns.message.from_wire refuses {len(model.from_wire_refuses)} "
                      f"(frames {model.from_wire_refuses[:5]}...)")
        if model.rejected:
            extra += f", {len(model.rejected)} rejected {model.rejected[:2]}"
        print(f"{rel}: {len(r.records)} records on {len({o['link'] for o in r.records})} links "
              f"(learned {sorted(model.links.names())}), {model.messages} messages, "
              f"drops {path_drops(model.drops)}, rules fired {dict(model.events)}{extra}")
        results[rel] = r
    # The captures the brief relies on must not be trivially empty.
    for rel in ("pcap/ndpi/telegram_mdns-only.pcap", "pcap/ndpi/iphone_mdns-only.pcap",
                "pcap/zeek/mdns.pcap"):
        check(len(results[rel].records) >= 5, rel, "fewer than 5 records in the table")
    check(any(":" in o["link"] and not o["link"].startswith("fe80")
              for o in results["pcap/zeek/mdns.pcap"].records),
          "pcap/zeek/mdns.pcap", "no record on a global IPv6 link")
    check(any(o["link"] == "fe80::/10" for o in results["pcap/zeek/mdns-no-assoc.pcap"].records),
          "pcap/zeek/mdns-no-assoc.pcap", "no record on the link-local-only IPv6 link")

    # The text form lists the same records under '; link NAME' headers.
    for rel in ("pcap/ndpi/telegram_mdns-only.pcap", "pcap/zeek/mdns.pcap"):
        p = run(exe, corpus / rel)
        heads = [line[len("; link "):] for line in p.stdout.splitlines() if line.startswith("; link ")]
        body = [line for line in p.stdout.splitlines() if line and not line.startswith(";")]
        js = results[rel].records
        check(p.returncode == 0, f"{rel} (text)", f"exit {p.returncode}")
        check(sorted(heads) == sorted({o["link"] for o in js}) and len(heads) == len(set(heads)),
              f"{rel} (text)", f"link headers {heads}")
        check(len(body) == len(js), f"{rel} (text)", f"{len(body)} record lines, JSON has {len(js)}")
    return results


# ---- 2. VLAN and QinQ --------------------------------------------------------------------

def write_pcap(path, frames):
    """frames: [(ms or (sec, usec), scapy packet or bytes)]"""
    w = PcapWriter(str(path), linktype=1, sync=True)
    try:
        w.write_header(None)  # write_packet() alone leaves the file header out
        for ts, pkt in frames:
            sec, usec = ts if isinstance(ts, tuple) else divmod(ts * 1000, 1_000_000)
            data = bytes(pkt)
            w.write_packet(data, sec=sec, usec=usec, caplen=len(data), wirelen=len(data))
    finally:
        w.close()


def tag(data, vlans):
    """The same frame with 802.1Q (one tag) or 802.1ad + 802.1Q (two) inserted.
    The tags carry a priority (PCP 5) as trunks do: only the 12-bit VLAN ID
    names the link."""
    eth = Ether(data[:14])
    inner_type = eth.type
    if len(vlans) == 1:
        pkt = Ether(dst=eth.dst, src=eth.src, type=0x8100) / Dot1Q(prio=5, vlan=vlans[0], type=inner_type)
    else:
        pkt = (Ether(dst=eth.dst, src=eth.src, type=0x88A8) / Dot1AD(prio=5, vlan=vlans[0], type=0x8100)
               / Dot1Q(prio=5, vlan=vlans[1], type=inner_type))
    return bytes(pkt) + data[14:]


def raw_frames(path):
    out = []
    reader = RawPcapReader(str(path))
    try:
        for data, meta in reader:
            out.append(((meta.sec, meta.usec), data))
    finally:
        reader.close()
    return out


def prefixed(records, prefix):
    return sorted((dict(o, link=prefix + o["link"]) for o in records), key=json.dumps)


def test_vlans(exe, corpus, tmp, results):
    sources = [rel for rel in CORPUS_CAPTURES if results.get(rel) and results[rel].records]
    check(len(sources) >= 4, "vlan", f"only {len(sources)} captures with records to re-tag")
    for rel in sources:
        base = results[rel].records
        frames = raw_frames(corpus / rel)
        for vlans in ((10,), (100, 20)):
            prefix = "".join(f"vlan{v}-" for v in vlans)
            out = tmp / f"{pathlib.Path(rel).stem}-{prefix}tagged.pcap"
            write_pcap(out, [(ts, tag(d, vlans)) for ts, d in frames])
            where = f"{rel} tagged {prefix[:-1]}"
            r = replay(exe, out, where)
            check(sorted(r.records, key=json.dumps) == prefixed(base, prefix), where,
                  f"table differs from the untagged one with '{prefix}' links: "
                  f"{len(r.records)} vs {len(base)} records, links "
                  f"{sorted({o['link'] for o in r.records})}")
            model, nframes = model_of(out)
            compare_with_model(r, model, nframes, where + " (model)")
            check(r.drops == results[rel].drops, where,
                  f"drops {dict(r.drops)} != untagged {dict(results[rel].drops)}")
        print(f"{rel}: 802.1Q and QinQ tables equal the untagged one ({len(base)} records)")

    # One capture carrying all three copies: three separate sets of links.
    for rel in ("pcap/ndpi/telegram_mdns-only.pcap", "pcap/zeek/mdns.pcap"):
        if rel not in sources:
            continue
        mixed = []
        for ts, d in raw_frames(corpus / rel):
            mixed += [(ts, d), (ts, tag(d, (10,))), (ts, tag(d, (100, 20)))]
        out = tmp / f"{pathlib.Path(rel).stem}-mixed.pcap"
        write_pcap(out, mixed)
        where = f"{rel} mixed untagged+vlan10+QinQ"
        r = replay(exe, out, where)
        base = results[rel].records
        want = sorted(prefixed(base, "") + prefixed(base, "vlan10-") + prefixed(base, "vlan100-vlan20-"),
                      key=json.dumps)
        check(sorted(r.records, key=json.dumps) == want, where,
              f"{len(r.records)} records, expected {len(want)} (3 x {len(base)})")
        model, nframes = model_of(out)
        compare_with_model(r, model, nframes, where + " (model)")


# ---- 3. crafted capture: the rules one by one --------------------------------------------

T0 = 1_700_000_000_000  # ms
MAC_A = "02:00:00:00:00:0a"


def rr(name, rtype, ttl, rdtext, flush=False):
    rtype = T.from_text(rtype)
    n = dns.name.from_text(name).to_wire()
    rd = dns.rdata.from_text(IN, rtype, rdtext).to_wire()
    return n + struct.pack("!HHIH", rtype, IN | (0x8000 if flush else 0), ttl, len(rd)) + rd


def message(answers=(), authority=(), additional=(), questions=(), qr=True, msg_id=0):
    flags = 0x8400 if qr else 0
    out = struct.pack("!HHHHHH", msg_id, flags, len(questions), len(answers), len(authority),
                      len(additional))
    for q in questions:
        out += dns.name.from_text(q).to_wire() + struct.pack("!HH", T.ANY, IN)
    return out + b"".join(answers) + b"".join(authority) + b"".join(additional)


def v4(src, payload, dst="224.0.0.251", ttl=255, sport=5353, dport=5353, mac=MAC_A):
    dmac = "01:00:5e:00:00:fb" if dst == "224.0.0.251" else "02:00:00:00:00:ff"
    return (Ether(src=mac, dst=dmac) / IP(src=src, dst=dst, ttl=ttl)
            / UDP(sport=sport, dport=dport) / Raw(payload))


def v6(src, payload, hlim=255):
    return (Ether(src=MAC_A, dst="33:33:00:00:00:fb") / IPv6(src=src, dst="ff02::fb", hlim=hlim)
            / UDP(sport=5353, dport=5353) / Raw(payload))


def crafted_frames():
    """[(ms, packet)], expected table {(link, name, type, rdata text): (ttl, flush, source)},
    names that must be absent, expected counters."""
    f = []

    def at(sec, pkt):
        f.append((T0 + round(sec * 1000), pkt))

    def announce(sec, src, *records, **kw):
        at(sec, v4(src, message(answers=records), **kw))

    def query(sec, src, name="_services._dns-sd._udp.local."):
        at(sec, v4(src, message(questions=[name], qr=False)))

    # An ordinary announcement; a record in the authority section is not taken.
    at(0.0, v4("192.0.2.10", message(
        answers=[rr("host-a.local.", "A", 120, "192.0.2.10", True),
                 rr("_http._tcp.local.", "PTR", 4500, "web._http._tcp.local.")],
        authority=[rr("auth-only.local.", "A", 120, "192.0.2.99")],
        additional=[rr("web._http._tcp.local.", "SRV", 120, "0 0 80 host-a.local.", True),
                    rr("web._http._tcp.local.", "TXT", 4500, '"path=/"', True)])))
    # IP TTL 1 (RFC 6762 §11: receivers check for 255).
    announce(0.1, "192.0.2.66", rr("ttl1.local.", "A", 120, "192.0.2.66"), ttl=1)
    # To a unicast address that is not the proxy's.
    announce(0.2, "192.0.2.10", rr("unicast.local.", "A", 120, "192.0.2.10"), dst="192.0.2.200")
    # A query's known answers are never a source (draft §4.3).
    at(0.3, v4("192.0.2.11", message(questions=["known-answer.local."], qr=False,
                                     answers=[rr("known-answer.local.", "A", 120, "192.0.2.11")])))
    # A response not from port 5353, and one to a port other than 5353.
    announce(0.4, "192.0.2.12", rr("badport.local.", "A", 120, "192.0.2.12"), sport=40000)
    announce(0.5, "192.0.2.13", rr("legacy.local.", "A", 120, "192.0.2.13"), dport=40000)
    # Link-local IPv4 joins the segment's first link; another subnet is its own link;
    # IPv6 link-local alone gets fe80::/10.
    announce(0.6, "169.254.1.1", rr("ll.local.", "A", 120, "169.254.1.1"))
    announce(0.7, "198.51.100.7", rr("other.local.", "A", 120, "198.51.100.7"))
    at(0.8, v6("fe80::1", message(answers=[rr("v6-ll.local.", "AAAA", 120, "fe80::1")])))
    # IPv4 fragments (the first, with MF, and the rest) and an IPv6 Fragment header.
    big = message(answers=[rr("frag.local.", "TXT", 120, " ".join(['"' + "x" * 60 + '"'] * 4))])
    frags = fragment(IP(src="192.0.2.10", dst="224.0.0.251", ttl=255) / UDP(sport=5353, dport=5353)
                     / Raw(big), fragsize=128)
    for i, fr in enumerate(frags):
        at(0.9 + i * 0.01, Ether(src=MAC_A, dst="01:00:5e:00:00:fb") / fr)
    at(0.95, Ether(src=MAC_A, dst="33:33:00:00:00:fb") / IPv6(src="fe80::1", dst="ff02::fb", hlim=255)
       / IPv6ExtHdrFragment(nh=17, m=1, id=7) / UDP(sport=5353, dport=5353)
       / Raw(message(answers=[rr("frag6.local.", "AAAA", 120, "fe80::1")])))
    # Headers a trunk may carry: an IPv4 option (Router Alert), an IPv6
    # Hop-by-Hop header, Ethernet padding after the IP packet.
    at(0.96, Ether(src=MAC_A, dst="01:00:5e:00:00:fb")
       / IP(src="192.0.2.14", dst="224.0.0.251", ttl=255, options=[IPOption_Router_Alert()])
       / UDP(sport=5353, dport=5353) / Raw(message(answers=[rr("opt4.local.", "A", 120, "192.0.2.14")])))
    at(0.97, Ether(src=MAC_A, dst="33:33:00:00:00:fb") / IPv6(src="fe80::2", dst="ff02::fb", hlim=255)
       / IPv6ExtHdrHopByHop(options=[RouterAlert()]) / UDP(sport=5353, dport=5353)
       / Raw(message(answers=[rr("hbh6.local.", "AAAA", 120, "fe80::2")])))
    at(0.98, v4("192.0.2.15", message(answers=[rr("padded.local.", "A", 120, "192.0.2.15")]))
       / Padding(b"\0" * 18))
    # Goodbye: removed 1 s later.
    announce(1.0, "192.0.2.20", rr("gone.local.", "A", 120, "192.0.2.20"))
    announce(2.5, "192.0.2.20", rr("gone.local.", "A", 0, "192.0.2.20"))
    # Cache-flush: the older record is removed 1 s after the new one arrives...
    announce(3.0, "192.0.2.30", rr("flush.local.", "A", 120, "192.0.2.30", True))
    # ...but records of the RRset seen within the last second stay (§10.2).
    announce(4.0, "192.0.2.40", rr("multi.local.", "A", 120, "192.0.2.40", True))
    announce(4.3, "192.0.2.40", rr("multi.local.", "A", 120, "192.0.2.41", True))
    # Goodbye then announced again within the second: stays.
    announce(5.0, "192.0.2.60", rr("reborn.local.", "A", 120, "192.0.2.60"))
    announce(6.0, "192.0.2.60", rr("reborn.local.", "A", 0, "192.0.2.60"))
    announce(6.5, "192.0.2.60", rr("reborn.local.", "A", 120, "192.0.2.60"))
    # Names compare case-insensitively, in PTR RDATA too; the new TTL is kept.
    announce(7.0, "192.0.2.70", rr("_printer._tcp.local.", "PTR", 4500,
                                   "Office-Printer._printer._tcp.local."))
    announce(7.5, "192.0.2.70", rr("_PRINTER._tcp.LOCAL.", "PTR", 3000,
                                   "office-printer._PRINTER._tcp.local."))
    # A goodbye for a record never seen changes nothing.
    announce(8.0, "192.0.2.80", rr("never.local.", "A", 0, "192.0.2.80"))
    # TTL 2: expires while the capture goes on.
    announce(10.0, "192.0.2.50", rr("short.local.", "A", 2, "192.0.2.50"))
    announce(13.0, "192.0.2.31", rr("flush.local.", "A", 120, "192.0.2.31", True))
    for s in (15.0, 16.0, 17.0):
        query(s, "192.0.2.11")
    # Goodbye 0.5 s before the capture ends: still there at the end.
    announce(18.0, "192.0.2.21", rr("pending.local.", "A", 120, "192.0.2.21"))
    announce(19.6, "192.0.2.21", rr("pending.local.", "A", 0, "192.0.2.21"))
    query(20.1, "192.0.2.11")

    L4, L4B, L6 = "192.0.2.0/24", "198.51.100.0/24", "fe80::/10"
    want = {
        (L4, "host-a.local.", "A", "192.0.2.10"): (120, True, "192.0.2.10"),
        (L4, "_http._tcp.local.", "PTR", "web._http._tcp.local."): (4500, False, "192.0.2.10"),
        (L4, "web._http._tcp.local.", "SRV", "0 0 80 host-a.local."): (120, True, "192.0.2.10"),
        (L4, "web._http._tcp.local.", "TXT", '"path=/"'): (4500, True, "192.0.2.10"),
        (L4, "ll.local.", "A", "169.254.1.1"): (120, False, "169.254.1.1"),
        (L4B, "other.local.", "A", "198.51.100.7"): (120, False, "198.51.100.7"),
        (L6, "v6-ll.local.", "AAAA", "fe80::1"): (120, False, "fe80::1"),
        (L4, "opt4.local.", "A", "192.0.2.14"): (120, False, "192.0.2.14"),
        (L6, "hbh6.local.", "AAAA", "fe80::2"): (120, False, "fe80::2"),
        (L4, "padded.local.", "A", "192.0.2.15"): (120, False, "192.0.2.15"),
        (L4, "flush.local.", "A", "192.0.2.31"): (120, True, "192.0.2.31"),
        (L4, "multi.local.", "A", "192.0.2.40"): (120, True, "192.0.2.40"),
        (L4, "multi.local.", "A", "192.0.2.41"): (120, True, "192.0.2.40"),
        (L4, "reborn.local.", "A", "192.0.2.60"): (120, False, "192.0.2.60"),
        (L4, "_printer._tcp.local.", "PTR", "office-printer._printer._tcp.local."):
            (3000, False, "192.0.2.70"),
        (L4, "pending.local.", "A", "192.0.2.21"): (120, False, "192.0.2.21"),
    }
    absent = ["auth-only", "ttl1", "unicast", "known-answer", "badport", "legacy", "frag",
              "frag6", "gone", "never", "short"]
    dropped_frames = 2 + len(frags) + 1  # TTL 1, unicast, fragments
    counters = {"ttl_not_255": 1, "not_for_us": 1, "fragment": len(frags) + 1,
                "off_link_source": 0, "no_link": 0, "messages": len(f) - dropped_frames,
                "frames": len(f)}
    return f, want, absent, counters


def crafted_table(records):
    out = {}
    for o in records:
        rtype = T.from_text(o["type"])
        rdk = rdata_key(rtype, dns.rdata.from_text(IN, rtype, o["rdata"]))
        out[(o["link"], name_key(dns.name.from_text(o["name"])), rtype, rdk)] = (
            o["ttl"], o["cache_flush"], ipaddress.ip_address(o["source"]))
    return out


def test_crafted(exe, tmp):
    frames, want_text, absent, counters = crafted_frames()
    path = tmp / "rules.pcap"
    write_pcap(path, frames)
    where = "rules"
    r = replay(exe, path, where)

    want = {}
    for (link, name, rtype, text), (ttl, flush, src) in want_text.items():
        t = T.from_text(rtype)
        want[(link, name_key(dns.name.from_text(name)), t,
              rdata_key(t, dns.rdata.from_text(IN, t, text)))] = (ttl, flush, ipaddress.ip_address(src))
    ours = crafted_table(r.records)
    compare_tables(ours, want, where)
    for label in absent:
        hits = [o for o in r.records if o["name"].lower().split(".")[0] == label]
        check(not hits, where, f"'{label}.local.' must be absent: {hits}")
    # The printer PTR was refreshed in another case: one record, first-seen RDATA case.
    ptr = [o for o in r.records if o["type"] == "PTR" and "printer" in o["name"].lower()]
    check(len(ptr) == 1 and ptr[0]["rdata"] == "Office-Printer._printer._tcp.local.", where,
          f"case-insensitive PTR refresh: {ptr}")
    check(r.frames == counters["frames"], where, f"{r.frames} frames, sent {counters['frames']}")
    check(r.messages == counters["messages"], where,
          f"{r.messages} mDNS messages, expected {counters['messages']}")
    for reason in ("ttl_not_255", "not_for_us", "fragment", "off_link_source", "no_link"):
        check(r.drops[reason] == counters[reason], where,
              f"dropped {reason}: {r.drops[reason]}, expected {counters[reason]}")
    check(r.clock == frames[-1][0], where, f"clock {r.clock} != last frame {frames[-1][0]}")

    # The model agrees with the hand-written expectations (and so checks itself).
    model, nframes = model_of(path)
    compare_with_model(r, model, nframes, where + " (model)")
    mt = {k: v[:3] for k, v in model.expected().items()}
    check(mt == want, where, f"model and hand-written table differ: "
                             f"{sorted(map(str, set(mt) ^ set(want)))[:4]}")

    # Timing edges around the 1 s goodbye delay (deadlines round up to 64 ms
    # ticks: the brief allows that much lateness, never earliness).
    for gap_ms, present in ((900, True), (1200, False)):
        fr = [(T0, v4("192.0.2.20", message(answers=[rr("edge.local.", "A", 120, "192.0.2.20")]))),
              (T0 + 1000, v4("192.0.2.20", message(answers=[rr("edge.local.", "A", 0, "192.0.2.20")]))),
              (T0 + 1000 + gap_ms, v4("192.0.2.11", message(questions=["x.local."], qr=False)))]
        p = tmp / f"goodbye-{gap_ms}.pcap"
        write_pcap(p, fr)
        rr_ = replay(exe, p, f"goodbye +{gap_ms} ms")
        has = any(o["name"] == "edge.local." for o in rr_.records)
        check(has == present, f"goodbye +{gap_ms} ms",
              f"edge.local. {'absent' if present else 'present'}; removal is due 1000 ms after the goodbye")
    # The same capture on VLAN 10 and QinQ: same table, prefixed links.
    for vlans in ((10,), (100, 20)):
        prefix = "".join(f"vlan{v}-" for v in vlans)
        p = tmp / f"rules-{prefix}.pcap"
        write_pcap(p, [(ms, tag(bytes(pk), vlans)) for ms, pk in frames])
        rv = replay(exe, p, f"rules {prefix[:-1]}")
        check(sorted(rv.records, key=json.dumps) == prefixed(r.records, prefix), f"rules {prefix[:-1]}",
              "tagged table differs from the untagged one")
        check(rv.drops == r.drops, f"rules {prefix[:-1]}", f"drops {dict(rv.drops)} != {dict(r.drops)}")
    print(f"rules: {len(r.records)} records, drops {dict(r.drops)}, {r.messages} messages")


def test_jumbo(exe, tmp):
    """Responses larger than an mbuf (net_pcap chains them: multi-segment
    frames, which the worker reads into buffers of their own) in one RX burst
    with ordinary ones: every record of each reaches the table intact, though
    the burst's messages are all ingested together after the last is parsed."""
    where = "jumbo"

    def txt(tag_, n):  # n strings of 250 bytes, distinct per host
        return " ".join(f'"{tag_}{i:02d}=' + tag_ * 245 + '"' for i in range(n))

    frames = [
        (T0, v4("192.0.2.30", message(answers=[rr("small-a.local.", "A", 120, "192.0.2.30", True)]))),
        (T0, v4("192.0.2.31", message(answers=[
            rr("big-b._http._tcp.local.", "TXT", 4500, txt("b", 16), True),
            rr("big-b._http._tcp.local.", "SRV", 120, "0 0 80 host-b.local.", True)]))),
        (T0, v6("2001:db8:1::32", message(answers=[
            rr("big-c._http._tcp.local.", "TXT", 4500, txt("c", 30), True)]))),
        (T0, v4("192.0.2.33", message(answers=[
            rr("big-d._http._tcp.local.", "TXT", 4500, txt("d", 12), True),
            rr("host-d.local.", "A", 120, "192.0.2.33", True)]))),
        (T0, v4("192.0.2.34", message(answers=[rr("small-e.local.", "A", 120, "192.0.2.34", True)]))),
    ]
    sizes = [len(bytes(p)) for _, p in frames]
    check(max(sizes) > 7000 and sum(s > 2048 for s in sizes) == 3, where,
          f"frame sizes {sizes}: want three larger than an mbuf")
    path = tmp / "jumbo.pcap"
    write_pcap(path, frames)
    r = replay(exe, path, where)
    check(r.frames == len(frames), where, f"{r.frames} frames, sent {len(frames)}")
    check(r.messages == len(frames), where, f"{r.messages} mDNS messages, expected {len(frames)}")
    check(not r.drops and not r.parse_errors, where,
          f"drops {dict(r.drops)}, parse errors {dict(r.parse_errors)}")
    model, nframes = model_of(path)
    compare_with_model(r, model, nframes, where)
    names = sorted(o["name"] for o in r.records)
    check(names == sorted(["small-a.local.", "big-b._http._tcp.local.", "big-b._http._tcp.local.",
                           "big-c._http._tcp.local.", "big-d._http._tcp.local.", "host-d.local.",
                           "small-e.local."]), where, f"records {names}")
    for o in r.records:
        if o["type"] == "TXT":
            tag_ = o["name"][4]
            check(o["rdata"].count(tag_ * 245) == {"b": 16, "c": 30, "d": 12}[tag_], where,
                  f"{o['name']} TXT came back damaged ({len(o['rdata'])} characters)")
    print(f"jumbo: frames of {sizes} bytes, {len(r.records)} records")


# ---- 3b. the corpus's single mDNS messages, framed --------------------------------------

def test_messages(exe, corpus, tmp):
    """Every mDNS message file of the corpus (valid, quirks, malformed) in one
    capture, 50 ms apart, alternately from IPv4 and IPv6 sources: real devices'
    records of every type, their goodbyes and cache-flushes, the NSEC quirks
    (a bad next-name pointer costs that record only) and messages that must
    be refused whole."""
    manifest = json.loads((corpus / "manifest.json").read_text())
    files = sorted(f["file"] for f in manifest["files"] if f["file"].startswith("mdns/"))
    frames = []
    for i, rel in enumerate(files):
        wire = (corpus / rel).read_bytes()
        ms = T0 + 50 * i
        if i % 2 == 0:
            frames.append((ms, v4(f"192.0.2.{i % 250 + 1}", wire)))
        else:
            frames.append((ms, v6(f"2001:db8::{i:x}", wire)))
    path = tmp / "messages.pcap"
    write_pcap(path, frames)
    where = "corpus messages"
    r = replay(exe, path, where)
    model, nframes = model_of(path)
    compare_with_model(r, model, nframes, where + " (model)")
    # The manifest records which messages a strict reading refuses (all of
    # malformed/, one probe under quirks/ whose record overruns the packet).
    # Queries are not parsed by the dataplane, so only malformed responses
    # (QR=1) are refused there.
    def is_query(f):
        data = (corpus / f["file"]).read_bytes()
        return len(data) >= 12 and not data[2] & 0x80
    refused = sum(1 for f in manifest["files"] if f["file"].startswith("mdns/")
                  and (f["category"] == "malformed" or f["category"] == "quirks" and f["parse_errors"])
                  and not is_query(f))
    check(refused >= 5, where, f"manifest lists only {refused} refused responses")
    check(sum(r.parse_errors.values()) == refused, where,
          f"{sum(r.parse_errors.values())} parse errors, manifest says {refused}")
    check(r.messages == len(files) - refused, where,
          f"{r.messages} messages, expected {len(files) - refused}")
    check(model.damaged == 2, where,
          f"{model.damaged} damaged NSEC records skipped, expected 2 (Android TV, Roborock)")
    # The Android TV announcement keeps all but its damaged NSEC.
    tv = [o for o in r.records if o["name"] == "Android-3.local."]
    check(sorted(o["type"] for o in tv) == ["A"], where, f"Android-3.local. records: {tv}")
    tv = [o for o in r.records if "androidtvremote" in o["name"] or "androidtvremote" in o["rdata"]]
    check(len(tv) == 5, where, f"{len(tv)} Android TV service records, expected 5 (PTR x2, SRV, TXT, NSEC)")
    check(not any(o["name"].startswith("roborock") for o in r.records), where,
          "the Roborock's damaged NSEC is in the table")
    print(f"{where}: {len(files)} files, {len(r.records)} records on "
          f"{len({o['link'] for o in r.records})} links, {r.messages} messages, "
          f"{model.damaged} damaged NSEC skipped, parse errors {dict(r.parse_errors)}, "
          f"rules fired {dict(model.events)}")


# ---- 4. errors ---------------------------------------------------------------------------

def test_errors(exe, corpus, tmp):
    missing = tmp / "no-such-capture.pcap"
    p = run(exe, missing)
    lines = p.stderr.splitlines()
    check(p.returncode == 2 and not p.stdout and lines and str(missing) in lines[0], "errors/missing",
          f"exit {p.returncode}, stderr {p.stderr!r}")
    check(len(lines) == 1, "errors/missing", f"{len(lines)} stderr lines: {p.stderr!r}",
          )

    p = run(exe, corpus / NON_ETHERNET)
    lines = p.stderr.splitlines()
    check(p.returncode == 2 and not p.stdout and len(lines) == 1 and "not Ethernet" in lines[0]
          and "link type 0" in lines[0], "errors/non-ethernet",
          f"exit {p.returncode}, stderr {p.stderr!r}")

    comma = tmp / "a,b.pcap"
    one = [(T0, v4("192.0.2.10", message(answers=[rr("c.local.", "A", 120, "192.0.2.10")])))]
    write_pcap(comma, one)
    write_pcap(comma.with_name("ok.pcap"), one)
    p = run(exe, comma)
    lines = p.stderr.splitlines()
    check(p.returncode == 2 and not p.stdout and len(lines) == 1 and "','" in lines[0], "errors/comma",
          f"exit {p.returncode}, stderr {p.stderr!r}")

    p = run(exe, "--config", tmp / "no-such-config.yaml", comma.with_name("ok.pcap"))
    check(p.returncode == 2 and str(tmp / "no-such-config.yaml") in p.stderr, "errors/config",
          f"missing --config file: exit {p.returncode}, stderr {p.stderr!r}",
          )

    junk = tmp / "junk.pcap"
    junk.write_bytes(b"this is not a capture\n")
    p = run(exe, junk)
    lines = p.stderr.splitlines()
    check(p.returncode == 2 and not p.stdout and len(lines) == 1 and str(junk) in lines[0],
          "errors/not-a-capture", f"exit {p.returncode}, stderr {p.stderr!r}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    exe, corpus = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="replay_test.") as d:
        tmp = pathlib.Path(d)
        test_errors(exe, corpus, tmp)
        results = test_corpus(exe, corpus)
        test_vlans(exe, corpus, tmp, results)
        test_crafted(exe, tmp)
        test_jumbo(exe, tmp)
        test_messages(exe, corpus, tmp)
    for k in known_hits:
        print("KNOWN", k)
    for f in failures:
        print("FAIL", f)
    print(f"{len(failures)} failures, {len(known_hits)} known discrepancies, "
          f"{time.monotonic() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
