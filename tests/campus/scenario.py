"""The campus as data: subnets, hosts, services (scenarios/*.json), and what
the proxy should publish for them — the expected unicast DNS records per
zone and the services a wide-area browser should find.

A subnet is one L2 segment with an IPv4 and an IPv6 prefix; the proxy sees
them as two links (draft-pusateri-dnssd-update-proxy-01 §3.1, §4.6), each
with its own subdomain. A link without a configured subdomain gets the
algorithmic label under the domain (hex of the IPv4 network, or of the first
64 bits of the IPv6 prefix).
"""
import copy
import ipaddress
import json
import os

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
from dns.rdtypes.ANY.PTR import PTR
from dns.rdtypes.ANY.TXT import TXT
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA
from dns.rdtypes.IN.SRV import SRV

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "scenarios", "campus.json")
IN = dns.rdataclass.IN
T = dns.rdatatype


class Service:
    def __init__(self, d):
        self.name = d["name"]               # instance label (UTF-8, spaces, dots allowed)
        self.type = d["type"]               # "_ipp._tcp"
        self.port = int(d["port"])
        self.subtypes = list(d.get("subtypes", []))
        self.txt = list(d.get("txt", []))
        self.live = True

    @property
    def type_labels(self):
        return tuple(l.encode() for l in self.type.split("."))

    def __repr__(self):
        return f"{self.name!r}.{self.type}"


class Host:
    def __init__(self, d, subnet):
        self.name = d["name"]               # host label: NAME.local.
        self.responder = d["responder"]     # "avahi" or "zeroconf"
        self.v4 = list(d.get("v4", []))
        self.v6 = list(d.get("v6", []))
        self.ttl = d.get("ttl")             # zeroconf: host and service TTL
        self.services = [Service(s) for s in d.get("services", [])]
        self.subnet = subnet
        self.live = True

    def routable(self, addrs):
        return [a for a in addrs if not ipaddress.ip_address(a).is_link_local]

    @property
    def link_local_only(self):
        return not self.routable(self.v4 + self.v6)

    def announced(self, family):
        """Routable addresses this host's responder announces over IPv4 (4)
        or IPv6 (6) multicast. avahi: A and AAAA over IPv4
        (publish-aaaa-on-ipv4=yes), only AAAA over IPv6 (publish-a-on-ipv6=no);
        python-zeroconf: every address over both."""
        if self.responder == "avahi" and family == 6:
            return self.routable(self.v6)
        return self.routable(self.v4 + self.v6)

    def live_services(self):
        return [s for s in self.services if s.live] if self.live else []


class Link:
    def __init__(self, subnet, family, prefix, address, subdomain, domain):
        self.subnet = subnet
        self.family = family
        self.prefix = ipaddress.ip_network(prefix)
        self.address = address
        self.name = f"{subnet.name}-v{family}"
        if subdomain is None:
            subdomain = algorithmic_label(self.prefix) + "." + domain
        self.subdomain = subdomain if subdomain.endswith(".") else subdomain + "."


def algorithmic_label(net):
    """draft §3.1: the IPv4 network in hex; for IPv6 the first 64 bits."""
    if net.version == 4:
        return net.network_address.packed.hex()
    return net.network_address.packed[:8].hex()


class Subnet:
    def __init__(self, d, domain):
        self.name = d["name"]
        self.v4 = d["v4"]
        self.v6 = d["v6"]
        self.hosts = [Host(h, self) for h in d.get("hosts", [])]
        self.links = [Link(self, 4, d["v4"], d["proxy4"], d.get("subdomain4"), domain),
                      Link(self, 6, d["v6"], d["proxy6"], d.get("subdomain6"), domain)]

    def prefixlen(self, family):
        return ipaddress.ip_network(self.v4 if family == 4 else self.v6).prefixlen


class Scenario:
    def __init__(self, d):
        self.raw = d
        self.domain = d["domain"] if d["domain"].endswith(".") else d["domain"] + "."
        self.zones = [z if z.endswith(".") else z + "." for z in d.get("zones", [self.domain])]
        self.dns = d["dns"]
        self.subnets = [Subnet(s, self.domain) for s in d["subnets"]]

    @staticmethod
    def load(path=DEFAULT):
        with open(path, encoding="utf-8") as f:
            return Scenario(json.load(f))

    def copy(self):
        return Scenario(copy.deepcopy(self.raw))

    @property
    def links(self):
        return [l for s in self.subnets for l in s.links]

    @property
    def hosts(self):
        return [h for s in self.subnets for h in s.hosts]

    def host(self, name):
        return next(h for h in self.hosts if h.name == name)

    def service(self, instance, stype=None):
        for h in self.hosts:
            for s in h.services:
                if s.name == instance and (stype is None or s.type == stype):
                    return h, s
        raise KeyError(instance)

    def zone_of(self, owner):
        best = None
        for z in self.zones:
            zn = dns.name.from_text(z)
            if owner.is_subdomain(zn) and (best is None or len(zn) > len(best)):
                best = zn
        return best

    # ---- what the proxy should publish ----

    def expected_services(self):
        """{(subdomain, type, instance): (port, target, [txt], {addresses})}
        for every live service of a host with a routable address."""
        out = {}
        for l in self.links:
            for h in l.subnet.hosts:
                addrs = h.announced(l.family)
                if not addrs:
                    continue
                for s in h.live_services():
                    out[(l.subdomain, s.type, s.name)] = (
                        s.port, f"{h.name}.{l.subdomain}", list(s.txt), set(addrs))
        return out

    def expected_records(self):
        """{zone name: {key: Rec}} of everything the proxy should have
        published (browse records included), zone base records (SOA, NS,
        glue) excluded. Rec = (owner, rdtype, rdata, link name, host name or
        None for browse records)."""
        recs = []
        parent = dns.name.from_text(self.domain)
        for l in self.links:
            sub = dns.name.from_text(l.subdomain)
            recs.append((dname(("b", "_dns-sd", "_udp"), sub), T.PTR, PTR(IN, T.PTR, sub), l.name, None))
            for b in ("b", "lb"):
                recs.append((dname((b, "_dns-sd", "_udp"), parent), T.PTR, PTR(IN, T.PTR, sub),
                             l.name, None))
            for h in l.subnet.hosts:
                addrs = h.announced(l.family)
                services = h.live_services()
                if not addrs or not services:
                    continue
                target = dname((h.name,), sub)

                def add(owner, rtype, rd):
                    recs.append((owner, rtype, rd, l.name, h.name))
                for s in services:
                    stype = dname(s.type.split("."), sub)
                    inst = dname((s.name,) + tuple(s.type.split(".")), sub)
                    add(stype, T.PTR, PTR(IN, T.PTR, inst))
                    for st in s.subtypes:
                        add(dname((st, "_sub") + tuple(s.type.split(".")), sub), T.PTR,
                            PTR(IN, T.PTR, inst))
                    add(inst, T.SRV, SRV(IN, T.SRV, 0, 0, s.port, target))
                    add(inst, T.TXT, txt_rdata(s.txt))
                    add(dname(("_services", "_dns-sd", "_udp"), sub), T.PTR, PTR(IN, T.PTR, stype))
                for a in addrs:
                    if ":" in a:
                        add(target, T.AAAA, AAAA(IN, T.AAAA, a))
                    else:
                        add(target, T.A, A(IN, T.A, a))
        out = {z: {} for z in self.zones}
        for rec in recs:
            owner, rtype, rd = rec[:3]
            z = self.zone_of(owner)
            if z is None:
                raise ValueError(f"{owner} is in no zone of the scenario")
            k = record_key(owner, rtype, rd)
            # A record two hosts share (the _services PTR) is kept once.
            out[z.to_text()].setdefault(k, rec)
        return out


def dname(labels, origin):
    return dns.name.Name(tuple(l.encode("utf-8") if isinstance(l, str) else l for l in labels)
                         + origin.labels)


def txt_rdata(strings):
    return TXT(IN, T.TXT, [s.encode("utf-8") for s in strings] or [b""])


def record_key(owner, rtype, rd):
    """Comparison key: canonical owner and RDATA (RFC 4034 §6.2)."""
    return (owner.canonicalize().to_wire(), int(rtype), rd.to_digestable())


def show(owner, rtype, rd, *_):
    return f"{owner.to_text()} {dns.rdatatype.to_text(rtype)} {rd.to_text()}"
