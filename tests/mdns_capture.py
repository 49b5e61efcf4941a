"""mDNS announcement captures for system tests and benchmarks, and the records
the service model is expected to publish for them.

Names are tuples of labels (str, encoded as UTF-8, or bytes), so a label may
hold spaces, dots and UTF-8 ("Living Room TV.2 — Küche"). Messages are
encoded here byte by byte (no compression), wrapped with scapy into
Ethernet / IPv4 or IPv6 / UDP 5353 -> 224.0.0.251 or ff02::fb frames with
IP TTL / hop limit 255, and written with their timestamps by scapy.

    cap = Capture(start=time.time() - 30)
    host = Host("printer", "192.0.2.10", ["192.0.2.10", "2001:db8:1::10"])
    svc = Service("Lab Printer", "_ipp._tcp", host, 631, [b"txtvers=1"], subtypes=["_printer"])
    cap.announce(host, [svc])              # at the current capture time
    cap.advance(1.0); cap.announce(host, [svc])   # RFC 6762 §8.3: twice, 1 s apart
    cap.write("x.pcap")
    expected_records(LinkPub("lab.example.test.", "example.test."), [svc])
"""
import ipaddress
import struct

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

A, NS, PTR, TXT, AAAA, SRV, NSEC = 1, 2, 12, 16, 28, 33, 47
IN, FLUSH = 1, 0x8000

MDNS4 = "224.0.0.251"
MDNS6 = "ff02::fb"


def labels_of(name):
    """'a.b.local' or ('a.b', 'local') -> tuple of bytes labels."""
    if isinstance(name, str):
        name = tuple(name.rstrip(".").split(".")) if name not in ("", ".") else ()
    return tuple(l.encode() if isinstance(l, str) else bytes(l) for l in name)


def wire_name(name):
    out = b""
    for l in labels_of(name):
        assert 0 < len(l) < 64, l
        out += bytes([len(l)]) + l
    return out + b"\0"


def rr(owner, rtype, ttl, rdata, flush=False):
    return (wire_name(owner) + struct.pack("!HHIH", rtype, IN | (FLUSH if flush else 0), ttl,
                                           len(rdata)) + rdata)


def rd_name(name):
    return wire_name(name)


def rd_srv(prio, weight, port, target):
    return struct.pack("!HHH", prio, weight, port) + wire_name(target)


def rd_txt(strings):
    out = b""
    for s in strings or [b""]:
        s = s.encode() if isinstance(s, str) else s
        out += bytes([len(s)]) + s
    return out


def rd_addr(addr):
    return ipaddress.ip_address(addr).packed


def rd_nsec(owner, types):
    bitmap = bytearray(32)
    for t in types:
        bitmap[t // 8] |= 0x80 >> (t % 8)
    n = max(i for i, b in enumerate(bitmap) if b) + 1
    return wire_name(owner) + bytes([0, n]) + bytes(bitmap[:n])


def response(answers, additionals=()):
    """An mDNS response: ID 0, QR and AA set, no questions (RFC 6762 §18)."""
    return (struct.pack("!HHHHHH", 0, 0x8400, 0, len(answers), 0, len(additionals))
            + b"".join(answers) + b"".join(additionals))


class Host:
    def __init__(self, name, source, addrs, ttl=120, mac=None):
        self.name = labels_of(name) + (b"local",)   # "printer" -> printer.local.
        self.source = source            # the address it sends from
        self.addrs = list(addrs)        # A/AAAA it announces
        self.ttl = ttl
        n = int(ipaddress.ip_address(source)) & 0xFFFFFFFF
        self.mac = mac or "02:00:%02x:%02x:%02x:%02x" % (n >> 24, (n >> 16) & 255, (n >> 8) & 255,
                                                          n & 255)

    def host_label(self):
        return self.name[:-1]   # without "local"

    def address_records(self, ttl=None):
        ttl = self.ttl if ttl is None else ttl
        return [rr(self.name, AAAA if ":" in a else A, ttl, rd_addr(a), flush=True)
                for a in self.addrs]


class Service:
    def __init__(self, instance, stype, host, port, txt=(), subtypes=(), ttl=4500, srv_ttl=120):
        self.instance = instance.encode() if isinstance(instance, str) else instance
        self.stype = labels_of(stype)      # ("_ipp", "_tcp")
        self.host = host
        self.port = port
        self.txt = [t.encode() if isinstance(t, str) else t for t in txt]
        self.subtypes = [labels_of(s) for s in subtypes]   # ("_printer",)
        self.ttl = ttl          # PTR and TXT (RFC 6762 §10: 75 minutes)
        self.srv_ttl = srv_ttl  # SRV (host name records: 120 s)

    def instance_name(self):
        return (self.instance,) + self.stype + (b"local",)

    def records(self, ttl=None, srv_ttl=None, txt_ttl=None):
        """The answers of its announcement: PTRs (shared), SRV and TXT (unique)."""
        ttl = self.ttl if ttl is None else ttl
        srv_ttl = self.srv_ttl if srv_ttl is None else srv_ttl
        txt_ttl = ttl if txt_ttl is None else txt_ttl
        inst = self.instance_name()
        out = [rr(self.stype + (b"local",), PTR, ttl, rd_name(inst))]
        for st in self.subtypes:
            out.append(rr(st + (b"_sub",) + self.stype + (b"local",), PTR, ttl, rd_name(inst)))
        out.append(rr(inst, SRV, srv_ttl, rd_srv(0, 0, self.port, self.host.name), flush=True))
        out.append(rr(inst, TXT, txt_ttl, rd_txt(self.txt), flush=True))
        # What responders add: the service type enumeration (never published
        # as such: the proxy makes its own).
        out.append(rr((b"_services", b"_dns-sd", b"_udp", b"local"), PTR, ttl,
                      rd_name(self.stype + (b"local",))))
        return out


class Capture:
    """Frames with timestamps, written with scapy's PcapWriter."""

    def __init__(self, start):
        self.t = float(start)
        self.frames = []
        self.marks = []

    def mark(self):
        """Ends a phase: write(path, upto=i) writes the frames before the
        i-th mark (a capture of the state at that point)."""
        self.marks.append(len(self.frames))

    def advance(self, seconds):
        self.t += seconds

    def send(self, source, payload, mac="02:00:00:00:00:01", ttl=255, dport=5353):
        from scapy.all import IP, IPv6, UDP, Ether, Raw
        if ":" in source:
            p = (Ether(src=mac, dst="33:33:00:00:00:fb") / IPv6(src=source, dst=MDNS6, hlim=ttl)
                 / UDP(sport=5353, dport=dport) / Raw(payload))
        else:
            p = (Ether(src=mac, dst="01:00:5e:00:00:fb") / IP(src=source, dst=MDNS4, ttl=ttl)
                 / UDP(sport=5353, dport=dport) / Raw(payload))
        p.time = self.t
        self.frames.append(p)
        self.t += 0.001   # frames of one burst a millisecond apart

    def announce(self, host, services=(), ttl=None, srv_ttl=None, txt_ttl=None, host_ttl=None,
                 nsec=True):
        """One announcement message from `host`: its services and addresses,
        the host's NSEC in the additional section (as Apple devices send)."""
        answers = []
        for s in services:
            answers += s.records(ttl, srv_ttl, txt_ttl)
        answers += host.address_records(host_ttl)
        extra = []
        if nsec and host.addrs:
            types = sorted({AAAA if ":" in a else A for a in host.addrs})
            extra.append(rr(host.name, NSEC, host.ttl if host_ttl is None else host_ttl,
                            rd_nsec(host.name, types), flush=True))
        self.send(host.source, response(answers, extra), mac=host.mac)

    def goodbye(self, host, services=(), addresses=True):
        """TTL 0 for the services' records (and the host's addresses)."""
        answers = []
        for s in services:
            answers += [r for r in s.records(ttl=0, srv_ttl=0)][:-1]  # not the enumeration
        if addresses:
            answers += host.address_records(0)
        self.send(host.source, response(answers), mac=host.mac)

    def write(self, path, upto=None):
        from scapy.utils import PcapWriter
        w = PcapWriter(path, linktype=1, sync=False)
        for p in self.frames[:None if upto is None else self.marks[upto]]:
            w.write(p)
        w.close()
        return path


# ---- the expected publication (an independent statement of the model) ----

def dname(labels, origin=None):
    """labels (tuple) + origin ('lab.example.test.') -> dns.name.Name."""
    ls = [l if isinstance(l, bytes) else l.encode() for l in labels]
    if origin is not None:
        ls += [l for l in labels_of(origin)]
    return dns.name.Name(ls + [b""])


def rdata(rtype, text_or_name, origin=None):
    if isinstance(text_or_name, dns.name.Name):
        return dns.rdata.from_text(dns.rdataclass.IN, rtype, text_or_name.to_text())
    return dns.rdata.from_text(dns.rdataclass.IN, rtype, text_or_name)


class LinkPub:
    """A link's publication: its subdomain and the parent domain."""

    def __init__(self, sub, parent=None, browse_ttl=3600):
        self.sub = sub if sub.endswith(".") else sub + "."
        self.parent = parent
        self.browse_ttl = browse_ttl


def browse_records(link):
    sub = dns.name.from_text(link.sub)
    out = [(dname((b"b", b"_dns-sd", b"_udp"), link.sub), link.browse_ttl, PTR, rdata(PTR, sub))]
    if link.parent:
        for l in (b"b", b"lb"):
            out.append((dname((l, b"_dns-sd", b"_udp"), link.parent), link.browse_ttl, PTR,
                        rdata(PTR, sub)))
    return out


def is_link_local(a):
    ip = ipaddress.ip_address(a)
    return ip.is_link_local


def service_records(link, svc, ttl=None, srv_ttl=None, txt_ttl=None, host_ttl=None):
    """What the proxy publishes for one service instance on `link`
    (nothing when its host has no routable address: draft §4.4)."""
    ttl = svc.ttl if ttl is None else ttl
    srv_ttl = svc.srv_ttl if srv_ttl is None else srv_ttl
    txt_ttl = ttl if txt_ttl is None else txt_ttl
    host_ttl = svc.host.ttl if host_ttl is None else host_ttl
    routable = [a for a in svc.host.addrs if not is_link_local(a)]
    if not routable:
        return []
    sub = link.sub
    inst = dname((svc.instance,) + svc.stype, sub)
    stype = dname(svc.stype, sub)
    target = dname(svc.host.host_label(), sub)
    out = [(stype, ttl, PTR, rdata(PTR, inst))]
    for st in svc.subtypes:
        out.append((dname(st + (b"_sub",) + svc.stype, sub), ttl, PTR, rdata(PTR, inst)))
    out.append((inst, srv_ttl, SRV, rdata(SRV, f"0 0 {svc.port} {target.to_text()}")))
    txt = " ".join('"' + "".join(chr(c) if 32 < c < 127 and c not in (34, 92) else f"\\{c:03d}"
                                 for c in t) + '"' for t in (svc.txt or [b""]))
    out.append((inst, txt_ttl, TXT, rdata(TXT, txt)))
    for a in routable:
        out.append((dname(svc.host.host_label(), sub), host_ttl, AAAA if ":" in a else A,
                    rdata(AAAA if ":" in a else A, a)))
    out.append((dname((b"_services", b"_dns-sd", b"_udp"), sub), ttl, PTR, rdata(PTR, stype)))
    return out


def key_of(owner, rtype, rd):
    """Comparison key: canonical owner and RDATA (RFC 4034 §6.2)."""
    return (owner.canonicalize().to_wire(), int(rtype), rd.to_digestable())


def show(owner, ttl, rtype, rd):
    return f"{owner.to_text()} {ttl} {dns.rdatatype.to_text(rtype)} {rd.to_text()}"
