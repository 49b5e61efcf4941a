"""Active discovery against a real responder (python-zeroconf) in a network
namespace, the daemon on net_af_packet:

1. the proxy starts after the responder finished announcing: its enumeration
   finds the services within one cycle;
2. with a 20 s TTL and a responder that never re-announces by itself, the
   services stay for several TTL periods (the proxy's unicast refresh queries
   keep them), and the refresh queries leave from the proxy's address with
   IP TTL 255, unicast to the host;
3. a responder that disappears without a goodbye loses its records at expiry;
4. the enumeration query is repeated with a doubling interval (RFC 6762 §5.2).

usage: discovery_live_test.py UPDPROXY_BINARY
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from netns import Subnet, subnets  # noqa: E402
from updproxy_proc import Daemon  # noqa: E402

from scapy.all import DNS, IP, UDP, rdpcap  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TTL = 20


def config(net, prefix):
    return f"""
{net.dpdk_yaml(prefix, no_huge=False)}links:
  - name: lab
    port: trunk
    prefix: 198.51.100.0/24
    address: 198.51.100.1
log:
  level: debug
"""


def main():
    binary = sys.argv[1]
    failures = []
    net = Subnet("d", "198.51.100.20", None)
    with subnets(net):
        work = tempfile.mkdtemp(prefix="updproxy-disc-")
        cap = os.path.join(work, "ns.pcap")
        tcpdump = subprocess.Popen(["ip", "netns", "exec", net.ns, "tcpdump", "-i", net.inner,
                                    "-U", "-w", cap, "udp port 5353"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        responder = subprocess.Popen(
            ["ip", "netns", "exec", net.ns, "/usr/bin/python3",
             os.path.join(HERE, "zeroconf_responder.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

        def cmd(line):
            responder.stdin.write(line + "\n")
            responder.stdin.flush()
            assert responder.stdout.readline().strip() == "ok"

        d = Daemon(binary, config(net, f"upddisc{os.getpid()}"), work)
        try:
            cmd(f"register Quiet_Printer _ipp._tcp.local. 631 quiet.local. 198.51.100.20 {TTL} rp=ipp")
            cmd(f"register Quiet_Speaker _raop._tcp.local. 7000 quiet.local. 198.51.100.20 {TTL}")
            time.sleep(5)  # the responder's own announcements are over
            d.start()
            t0 = time.time()

            # 1. Found by enumeration, not by announcement.
            d.wait_for(lambda t: sum(1 for r in t if r["type"] == "SRV") == 2, 15,
                       "both services found by enumeration")
            print(f"ok   found by enumeration after {time.time() - t0:.1f} s")

            # 2. Kept alive across several TTL periods by refresh queries.
            deadline = t0 + 3 * TTL + 5
            while time.time() < deadline:
                srvs = [r for r in d.services() if r["type"] == "SRV"]
                if len(srvs) != 2:
                    failures.append(f"at +{time.time() - t0:.0f} s only {len(srvs)} SRV left")
                    break
                time.sleep(1)
            else:
                print(f"ok   services kept for {3 * TTL + 5} s with TTL {TTL}")

            # 3. Gone without a goodbye: removed at expiry.
            responder.send_signal(signal.SIGKILL)
            responder.wait(timeout=10)
            responder = None
            t1 = time.time()
            d.wait_for(lambda t: not any(r["type"] == "SRV" for r in t), TTL + 10,
                       "records of the silent host to expire")
            print(f"ok   silent host's records removed {time.time() - t1:.1f} s after it died")
        except AssertionError as e:
            failures.append(str(e)[:500])
            try:
                failures.append(f"stats: {d.request('stats')}")
            except OSError:
                pass
        finally:
            if responder:
                responder.kill()
            d.stop()
            time.sleep(0.5)
            tcpdump.terminate()
            tcpdump.wait(timeout=10)

        # The refresh queries as the host saw them.
        refresh = 0
        enum_times = []
        for p in rdpcap(cap):
            if IP in p and UDP in p and p[IP].src == "198.51.100.1" and p[IP].dst == "224.0.0.251":
                if DNS in p and p[DNS].qr == 0 and p[DNS].qdcount >= 1 and \
                        p[DNS].qd.qname == b"_services._dns-sd._udp.local.":
                    enum_times.append(float(p.time))
            if IP in p and UDP in p and p[IP].src == "198.51.100.1" and p[IP].dst == "198.51.100.20":
                if p[DNS].qr == 0:
                    refresh += 1
                    if p[IP].ttl != 255 or p[UDP].sport != 5353 or p[UDP].dport != 5353:
                        failures.append(f"refresh query ttl {p[IP].ttl} ports {p[UDP].sport}->{p[UDP].dport}")
        # RFC 6762 §5.2: the enumeration query is repeated, the interval at
        # least 1 s and doubling.
        gaps = [b - a for a, b in zip(enum_times, enum_times[1:])]
        if len(enum_times) < 3 or not (0.9 <= gaps[0] and gaps[1] >= 1.8 * gaps[0] * 0.9):
            failures.append(f"enumeration retransmissions: times {enum_times[:4]}")
        else:
            print(f"ok   enumeration query repeated after {gaps[0]:.1f} s and {gaps[1]:.1f} s")
        if refresh == 0:
            failures.append("no unicast refresh query from 198.51.100.1 to the host was captured")
        else:
            print(f"ok   {refresh} unicast refresh queries from 198.51.100.1, IP TTL 255, port 5353")

    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        print(d.read_log()[-4000:])
        sys.exit(1)
    print("discovery live test: ok")


if __name__ == "__main__":
    main()
