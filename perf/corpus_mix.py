#!/usr/bin/python3
"""The corpus mixes perf/dataplane_bench.sh and perf/metrics_bench.sh replay:
raw records of the corpus's mDNS captures, byte for byte (scapy's raw
reader/writer: nothing re-encoded), concatenated into one Ethernet pcap.

    perf/corpus_mix.py CORPUS_PCAP_DIR MIX OUT.pcap

MIX: mdns (every UDP-5353 frame), link (those plus every multicast/broadcast
frame of wireshark/dns-mdns.pcap), telegram (the largest capture alone).
Prints the frames taken per file. Debian's /usr/bin/python3 (python3-scapy).
"""
import sys, struct
from scapy.utils import RawPcapReader, RawPcapWriter
pcap, mix, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mix not in ("mdns", "link", "telegram"):
    sys.exit("corpus_mix: MIX is mdns, link or telegram")
if mix == "telegram":
    files = ["ndpi/telegram_mdns-only.pcap"]
else:
    files = ["ndpi/telegram_mdns-only.pcap", "ndpi/anyconnect-vpn_mdns-only.pcap",
             "ndpi/iphone_mdns-only.pcap", "ndpi/gnutella_mdns-only.pcap",
             "zeek/mdns.pcap", "zeek/mdns-no-assoc.pcap"]
    if mix == "link":
        files.append("wireshark/dns-mdns.pcap")

def udp_ports(b):
    # Ethernet, up to two VLAN tags, IPv4 or IPv6 (no extension headers) + UDP
    off, et = 12, struct.unpack_from("!H", b, 12)[0]
    while et in (0x8100, 0x88a8, 0x9100) and len(b) >= off + 6:
        off += 4
        et = struct.unpack_from("!H", b, off)[0]
    off += 2
    if et == 0x0800 and len(b) >= off + 20 and b[off + 9] == 17:
        l4 = off + (b[off] & 0xF) * 4
    elif et == 0x86DD and len(b) >= off + 40 and b[off + 6] == 17:
        l4 = off + 40
    else:
        return None
    return struct.unpack_from("!HH", b, l4) if len(b) >= l4 + 4 else None

w = RawPcapWriter(out, linktype=1, sync=True)
total = 0
for f in files:
    r = RawPcapReader(f"{pcap}/{f}")
    if r.linktype != 1:
        continue
    n = other = 0
    for data, _meta in r:
        p = udp_ports(data)
        mdns = p is not None and 5353 in p
        group = len(data) >= 6 and (data[0] & 1) == 1   # multicast/broadcast MAC
        if mdns or (mix == "link" and group):
            w.write(data)
            n += 1
            other += 0 if mdns else 1
    total += n
    print(f"  {f}: {n} frames" + (f" ({other} non-mDNS multicast/broadcast)" if other else ""))
w.close()
print(f"  total {total} frames")
