"""The daemon on a DPDK net_af_packet port, a real mDNS responder behind a
veth in a network namespace: services appear in the table, a withdrawn one
disappears, the proxy's enumeration query leaves with the right bytes, and
the proxy answers ARP for its own address.

usage: live_af_packet_test.py UPDPROXY_BINARY
"""
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from netns import Subnet, sh, subnets  # noqa: E402
from updproxy_proc import Daemon  # noqa: E402

from scapy.all import DNS, IP, UDP, Ether, rdpcap  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def config(net, prefix):
    return f"""
{net.dpdk_yaml(prefix)}links:
  - name: lab-v4
    port: trunk
    prefix: 192.0.2.0/24
    address: 192.0.2.1
  - name: lab-v6
    port: trunk
    prefix: 2001:db8:1::/64
    address: 2001:db8:1::1
log:
  level: debug
"""


def main():
    binary = sys.argv[1]
    failures = []
    net = Subnet("a", "192.0.2.10", "2001:db8:1::10")
    with subnets(net):
        work = tempfile.mkdtemp(prefix="updproxy-live-")
        cap = os.path.join(work, "ns.pcap")
        tcpdump = subprocess.Popen(["ip", "netns", "exec", net.ns, "tcpdump", "-i", net.inner,
                                    "-U", "-w", cap, "udp port 5353 or arp"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        d = Daemon(binary, config(net, f"updlive{os.getpid()}"), work)
        responder = None
        try:
            d.start()
            responder = subprocess.Popen(
                ["ip", "netns", "exec", net.ns, "/usr/bin/python3",
                 os.path.join(HERE, "zeroconf_responder.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

            def cmd(line):
                responder.stdin.write(line + "\n")
                responder.stdin.flush()
                assert responder.stdout.readline().strip() == "ok"

            cmd("register Lab_Printer _ipp._tcp.local. 631 printer1.local. "
                "192.0.2.10,2001:db8:1::10 txtvers=1 rp=ipp/print")
            cmd("register Kitchen_Speaker _raop._tcp.local. 7000 speaker.local. 192.0.2.10")

            table = d.wait_for(
                lambda t: any(r["type"] == "SRV" and r["name"].startswith("Lab\\032Printer")
                              and r["link"] == "lab-v4" for r in t)
                and any(r["type"] == "SRV" and r["name"].startswith("Kitchen") for r in t),
                30, "both services on lab-v4")
            srv = [r for r in table if r["type"] == "SRV" and r["name"].startswith("Lab")][0]
            if srv["rdata"] != "0 0 631 printer1.local.":
                failures.append(f"SRV rdata {srv['rdata']!r}")
            if srv["source"] != "192.0.2.10":
                failures.append(f"SRV source {srv['source']!r}")
            if not any(r["type"] == "A" and r["rdata"] == "192.0.2.10" for r in table):
                failures.append("no A 192.0.2.10")
            if not any(r["type"] == "TXT" and "rp=ipp/print" in r["rdata"] for r in table):
                failures.append("no TXT with rp=ipp/print")

            # Withdraw one service: its goodbye removes it (1 s after).
            cmd("unregister Kitchen_Speaker _raop._tcp.local.")
            d.wait_for(lambda t: not any(r["name"].startswith("Kitchen") for r in t), 10,
                       "the withdrawn service to disappear")
            if not any(r["name"].startswith("Lab") for r in d.services()):
                failures.append("the remaining service went too")

            # ARP: the namespace resolves the proxy's address to the port's MAC.
            # Any datagram to it makes the kernel resolve it by ARP.
            sh("/usr/bin/python3", "-c",
               "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
               ".sendto(b'x', ('192.0.2.1', 9))", ns=net.ns)
            neigh = ""
            for _ in range(30):
                neigh = sh("ip", "neigh", "show", "192.0.2.1", ns=net.ns, capture=True)
                if "lladdr" in neigh:
                    break
                time.sleep(0.1)
            mac = open(f"/sys/class/net/{net.outer}/address").read().strip()
            if mac not in neigh.lower():
                failures.append(f"ARP: neighbour entry {neigh.strip()!r}, expected {mac}")
            stats = d.request("stats")
            if not any(s.get("arp_replies", 0) >= 1 for s in stats):
                failures.append(f"no ARP reply counted: {stats}")
        finally:
            if responder:
                try:
                    responder.stdin.write("quit\n")
                    responder.stdin.flush()
                    responder.wait(timeout=10)
                except Exception:
                    responder.kill()
            rc = d.stop()
            time.sleep(0.5)
            tcpdump.terminate()
            tcpdump.wait(timeout=10)
        if rc != 0:
            failures.append(f"daemon exit code {rc} on SIGTERM; log:\n{d.read_log()}")

        # The enumeration query the proxy sent at start, as the host saw it.
        found = False
        for p in rdpcap(cap):
            if IP in p and UDP in p and p[IP].src == "192.0.2.1" and p[UDP].sport == 5353:
                dns = p[DNS]
                q = dns.qd
                if (dns.qr == 0 and q is not None and q.qname == b"_services._dns-sd._udp.local."
                        and q.qtype == 12 and (int(q.qclass) & 0x8000) != 0):
                    found = True
                    if p[IP].ttl != 255:
                        failures.append(f"enumeration query IP TTL {p[IP].ttl}")
                    if p[IP].dst != "224.0.0.251" or p[Ether].dst != "01:00:5e:00:00:fb":
                        failures.append(f"enumeration query to {p[IP].dst} / {p[Ether].dst}")
                    # Checksums as sent: scapy recomputes when the field is deleted.
                    raw = bytes(p)
                    q2 = Ether(raw)
                    del q2[IP].chksum
                    del q2[UDP].chksum
                    q2 = Ether(bytes(q2))
                    if q2[IP].chksum != p[IP].chksum or q2[UDP].chksum != p[UDP].chksum:
                        failures.append("enumeration query checksums wrong")
        if not found:
            failures.append("no _services._dns-sd._udp.local PTR QU query from 192.0.2.1 captured")

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        print(d.read_log()[-3000:])
        sys.exit(1)
    print("live af_packet test: ok")


if __name__ == "__main__":
    main()
