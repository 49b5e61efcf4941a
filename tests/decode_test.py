#!/usr/bin/python3
"""System test: `updproxy decode --json` against independent decoders.

Usage: decode_test.py UPDPROXY CORPUS_DIR

Every valid corpus message is decoded again with dnspython and compared
(header, flags, counts, and per record: owner name, type, TTL, cache-flush).
Malformed messages must give an error object and exit status 1. For every
capture, scapy finds the UDP datagrams to or from port 53/5353 (frame
numbers included) and their payloads are compared with dnspython in the
same way. Prints one line per failed check; exit status 0 only when all pass.
"""

import json
import pathlib
import subprocess
import sys

import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment
from scapy.utils import PcapReader

DNS_PORTS = {53, 5353}
failures = []


def fail(where, what):
    failures.append(f"{where}: {what}")


def check(cond, where, what):
    if not cond:
        fail(where, what)
    return cond


def decode(exe, *args):
    return subprocess.run([exe, "decode", *args], capture_output=True, text=True, timeout=120)


def json_lines(proc, where):
    out = []
    for n, line in enumerate(proc.stdout.splitlines(), 1):
        try:
            out.append(json.loads(line))
        except ValueError as e:
            fail(where, f"line {n} is not JSON ({e}): {line[:120]}")
    return out


# The TSIG MAC is not what this test is about (codec_tsig checks it against
# known answers and BIND); dnspython refuses a signed message whose key it
# does not have, so it gets a dummy key and a validator that accepts.
def _any_key(_message, name):
    return dns.tsig.Key(name, b"\0" * 16)


dns.tsig.validate = lambda *args, **kwargs: None


def dnspython_parse(wire):
    return dns.message.from_wire(wire, keyring=_any_key, one_rr_per_rrset=True)


def compare(ours, wire, where):
    """Compares one of our JSON objects with dnspython's reading of `wire`."""
    try:
        ref = dnspython_parse(wire)
    except Exception as e:  # noqa: BLE001 - any dnspython failure is reported
        fail(where, f"dnspython cannot parse it ({type(e).__name__}: {e})")
        return
    if "error" in ours:
        fail(where, f"updproxy reports {ours['error']} at {ours.get('offset')}, dnspython parses it")
        return
    flags = ref.flags
    check(ours["id"] == ref.id, where, f"id {ours['id']} != {ref.id}")
    check(ours["opcode"] == int(dns.opcode.from_flags(flags)), where, "opcode")
    for key, bit in (("qr", 0x8000), ("aa", 0x0400), ("tc", 0x0200), ("rd", 0x0100), ("ra", 0x0080)):
        check(ours[key] == bool(flags & bit), where, f"flag {key}")
    check(ours["rcode"] == int(ref.rcode()), where, f"rcode {ours['rcode']} != {int(ref.rcode())}")

    # Questions.
    if check(len(ours["question"]) == len(ref.question), where,
             f"question count {len(ours['question'])} != {len(ref.question)}"):
        for i, (q, r) in enumerate(zip(ours["question"], ref.question)):
            at = f"{where} question {i}"
            check(dns.name.from_text(q["name"]) == r.name, at, f"name {q['name']} != {r.name}")
            check(dns.rdatatype.from_text(q["type"]) == r.rdtype, at, f"type {q['type']}")
            check(q["qu"] == bool(r.rdclass & 0x8000), at, "QU bit")
            check(dns.rdataclass.from_text(q["class"]) == r.rdclass & 0x7FFF, at, f"class {q['class']}")

    # Records. dnspython keeps OPT and TSIG out of its additional section.
    sections = [("answer", ref.sections[1]), ("authority", ref.sections[2]),
                ("additional", ref.sections[3])]
    for key, ref_rrsets in sections:
        mine = ours[key]
        if key == "additional":
            opt = [r for r in mine if r["type"] == "OPT"]
            tsig = [r for r in mine if r["type"] == "TSIG"]
            check(len(opt) == (1 if ref.edns >= 0 else 0), where, "OPT presence")
            check(len(tsig) == (1 if ref.had_tsig else 0), where, "TSIG presence")
            if opt and ref.edns >= 0:
                check(opt[0]["class"] == str(ref.payload), where, f"OPT UDP size {opt[0]['class']}")
            mine = [r for r in mine if r["type"] not in ("OPT", "TSIG")]
        # With one_rr_per_rrset each RRset holds one record, or none for
        # RFC 2136 meta-records, whose class dnspython moves to `deleting`.
        ref_rrs = [(rs.name, rs.rdtype, getattr(rs, "deleting", None) or rs.rdclass, rs.ttl)
                   for rs in ref_rrsets for _ in range(max(len(rs), 1))]
        if not check(len(mine) == len(ref_rrs), where,
                     f"{key} count {len(mine)} != dnspython {len(ref_rrs)}"):
            continue
        for i, (rr, (name, rdtype, rdclass, ttl)) in enumerate(zip(mine, ref_rrs)):
            at = f"{where} {key} {i}"
            check(dns.name.from_text(rr["name"]) == name, at, f"owner {rr['name']} != {name}")
            check(dns.rdatatype.from_text(rr["type"]) == rdtype, at, f"type {rr['type']} != {rdtype}")
            check(rr["ttl"] == ttl, at, f"ttl {rr['ttl']} != {ttl}")
            check(rr["cache_flush"] == bool(rdclass & 0x8000), at, "cache-flush bit")
            check(dns.rdataclass.from_text(rr["class"]) == rdclass & 0x7FFF, at, f"class {rr['class']}")


def test_corpus_files(exe, corpus, manifest):
    proc = decode(exe, "--json", str(corpus))
    check(proc.returncode == 1, "corpus dir", f"exit {proc.returncode}, expected 1 (malformed files)")
    by_source = {}
    for obj in json_lines(proc, "corpus dir"):
        by_source.setdefault(obj["source"], []).append(obj)

    counted = {"valid": 0, "malformed": 0, "quirks": 0, "semantic": 0}
    for f in manifest["files"]:
        rel, category = f["file"], f["category"]
        path = str(corpus / rel)
        objs = by_source.get(path, [])
        if not check(len(objs) == 1, rel, f"{len(objs)} output lines, expected 1"):
            continue
        ours = objs[0]
        counted[category] += 1
        if category == "valid":
            compare(ours, (corpus / rel).read_bytes(), rel)
        elif category == "malformed":
            check("error" in ours and isinstance(ours["error"], str) and ours["error"], rel,
                  "no error reason")
            check(isinstance(ours.get("offset"), int), rel, "no error offset")
            alone = decode(exe, "--json", path)
            check(alone.returncode == 1, rel, f"exit {alone.returncode} alone, expected 1")
        elif category == "quirks" and "nsec" in rel:
            # RFC 6762 §6.1: a bad NSEC next-name costs that record only.
            if check("error" not in ours, rel, f"rejected: {ours.get('error')}"):
                damaged = [r for s in ("answer", "authority", "additional") for r in ours[s]
                           if r.get("damaged")]
                check(len(damaged) >= 1 and all(r["type"] == "NSEC" for r in damaged), rel,
                      "expected damaged NSEC records only")
    print(f"corpus: {counted}")
    check(counted["valid"] > 100, "corpus", "too few valid files found")

    # The text form covers the same messages.
    text = decode(exe, str(corpus))
    check(text.returncode == 1, "corpus dir (text)", f"exit {text.returncode}")
    check(text.stdout.count(";; source: ") == len(proc.stdout.splitlines()), "corpus dir (text)",
          "text and JSON disagree on the number of messages")


def scapy_dns_frames(path):
    """(1-based frame number, UDP payload) for each UDP datagram on a DNS port."""
    frames = []
    with PcapReader(str(path)) as reader:
        for n, pkt in enumerate(reader, 1):
            if UDP not in pkt:
                continue
            if IP in pkt and (pkt[IP].flags.MF or pkt[IP].frag):
                continue
            if IPv6ExtHdrFragment in pkt:
                continue
            udp = pkt[UDP]
            if udp.sport not in DNS_PORTS and udp.dport not in DNS_PORTS:
                continue
            # The bytes as captured (scapy would re-serialize its DNS layer).
            raw = bytes(udp.original)
            frames.append((n, raw[8:udp.len]))
    return frames


def test_pcaps(exe, corpus):
    pcaps = sorted(p for p in (corpus / "pcap").rglob("*") if p.is_file())
    check(len(pcaps) > 0, "pcap", "no captures found")
    total = 0
    for path in pcaps:
        where = str(path.relative_to(corpus))
        proc = decode(exe, "--json", str(path))
        ours = json_lines(proc, where)
        expected = scapy_dns_frames(path)
        errors = [o for o in ours if "error" in o]
        check(proc.returncode == (1 if errors else 0), where, f"exit {proc.returncode}")
        got = [int(o["source"].rsplit("#", 1)[1]) for o in ours]
        want = [n for n, _ in expected]
        if not check(got == want, where, f"frames {got[:10]}... != scapy {want[:10]}... "
                                         f"({len(got)} vs {len(want)})"):
            continue
        for o, (n, payload) in zip(ours, expected):
            check(o["source"] == f"{path}#{n}", where, f"source {o['source']}")
            compare(o, payload, f"{where}#{n}")
        total += len(want)
        print(f"{where}: {len(want)} DNS datagrams")
    check(total > 400, "pcap", f"only {total} DNS datagrams in all captures")


def test_usage(exe, corpus):
    r = subprocess.run([exe], capture_output=True, text=True)
    check(r.returncode == 2 and "decode" in r.stdout, "usage", f"no subcommand: exit {r.returncode}")
    r = subprocess.run([exe, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "decode" in r.stdout, "usage", f"--help: exit {r.returncode}")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("updproxy "), "usage", f"--version: {r.stdout!r}")
    r = decode(exe)
    check(r.returncode == 2, "usage", f"decode without PATH: exit {r.returncode}")
    r = decode(exe, "--timeout-type", "nope", str(corpus))
    check(r.returncode == 2, "usage", f"bad --timeout-type: exit {r.returncode}")
    missing = str(corpus / "no-such-file.bin")
    r = decode(exe, "--json", missing)
    check(r.returncode == 2 and missing in r.stderr and len(r.stderr.splitlines()) == 1 and not r.stdout,
          "usage", f"missing path: exit {r.returncode}, stderr {r.stderr!r}")
    valid = corpus / "mdns/python-zeroconf/shelly-pro4pm_services_announce_1.bin"
    r = decode(exe, str(valid))
    check(r.returncode == 0 and r.stdout.startswith(f";; source: {valid}\n;; ->>HEADER<<-"), "usage",
          f"text decode: exit {r.returncode}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    exe, corpus = sys.argv[1], pathlib.Path(sys.argv[2]).resolve()
    manifest = json.loads((corpus / "manifest.json").read_text())
    test_usage(exe, corpus)
    test_corpus_files(exe, corpus, manifest)
    test_pcaps(exe, corpus)
    for f in failures:
        print("FAIL", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
