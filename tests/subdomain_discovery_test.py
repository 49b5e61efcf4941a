"""Subdomain and update-server discovery from DNS alone (draft §3.1, §5.1),
against a real BIND and a real responder:

- BIND serves the reverse zone of the link's subnet and two candidate
  subdomains; the proxy's configuration names neither a subdomain nor a zone
  nor a server, only the resolver (BIND itself) and the TSIG key;
- b._dns-sd._udp.0.100.51.198.in-addr.arpa. PTR one.example.test. and
  _dns-update._udp.one.example.test. SRV -> BIND: the proxy publishes the
  python-zeroconf service (in a namespace, seen through net_af_packet on the
  veth) into one.example.test.;
- the test then changes the PTR to two.example.test. and adds
  _dns-update._tcp.two.example.test. SRV with nsupdate: the proxy follows,
  withdrawing the service from one.example.test. and publishing it in
  two.example.test. (by TCP, as the SRV says);
- the SRV then names a server that refuses (NOTAUTH): the link is marked
  unpublishable; back on the right server, the whole desired state is re-sent;
- second scenario: a configured subdomain and register_reverse: the proxy
  registers b/db/lb._dns-sd._udp.<reverse> PTRs in the reverse zone, does not
  mistake them for DNS answers later, and withdraws them once the operator
  answers with a dr PTR.

usage: subdomain_discovery_test.py UPDPROXY_BINARY
"""
import os
import subprocess
import sys
import tempfile
import time

import dns.rdatatype

sys.path.insert(0, os.path.dirname(__file__))
from dns_servers import Named, TsigKey  # noqa: E402
from metrics_util import http_get, metrics_port, parse_metrics, value  # noqa: E402
from netns import Subnet, subnets  # noqa: E402
from updproxy_proc import Daemon  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REVERSE = "100.51.198.in-addr.arpa."
ONE = "one.example.test."
TWO = "two.example.test."


def config(net, prefix, key, port):
    return f"""
{net.dpdk_yaml(prefix, no_huge=False)}links:
  - name: lab
    port: trunk
    prefix: 198.51.100.0/24
    address: 198.51.100.1
update:
  key_file: {key.path}
  batch_ms: 20
  reconcile_interval: 0
discovery:
  enumerate_interval: 30
  resolvers: ["127.0.0.1:{port}"]
  resolver_timeout_ms: 500
  subdomain_interval: 3
  subdomain_jitter: 10
  subdomain_retry: 2
log:
  level: debug
metrics:
  listen: 127.0.0.1:0
"""


def service_records(named, zone):
    """(owner, type, rdata) in `zone` that the proxy published (not the base zone)."""
    out = set()
    for owner, _ttl, rdtype, rdata in named.axfr(zone):
        o = owner.to_text()
        t = dns.rdatatype.to_text(rdtype)
        if o.startswith("_dns-update") or o.startswith("ns.") or o == zone:
            continue
        out.add((o, t, rdata.to_text()))
    return out


def wait(what, timeout, pred):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
        except Exception as e:  # noqa: BLE001  (BIND restarting, AXFR refused: try again)
            last = e
        if last is True:
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out ({timeout} s) waiting for {what}; last: {last}")


def nsupdate(named, key, script):
    text = f"server 127.0.0.1 {named.port}\n{script}\nsend\n"
    r = subprocess.run(["nsupdate", "-k", key.path], input=text, text=True,
                       capture_output=True, timeout=20)
    if r.returncode != 0:
        raise RuntimeError(f"nsupdate failed: {r.stderr}")


def scenario_move(binary, failures):
    work = tempfile.mkdtemp(prefix="updproxy-subdisc-")
    key = TsigKey.generate(work)
    named = Named(work, [REVERSE, ONE, TWO], key)
    with open(named.zone_file(REVERSE), "a") as f:
        f.write(f"b._dns-sd._udp.0 IN PTR {ONE}\n")
    with open(named.zone_file(ONE), "a") as f:
        f.write(f"_dns-update._udp IN SRV 0 0 {named.port} ns\n")
    net = Subnet("s", "198.51.100.20", None)
    d = None
    responder = None
    with named, subnets(net):
        try:
            responder = subprocess.Popen(
                ["ip", "netns", "exec", net.ns, "/usr/bin/python3",
                 os.path.join(HERE, "zeroconf_responder.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            responder.stdin.write("register Lab_Printer _ipp._tcp.local. 631 labprn.local. "
                                  "198.51.100.20 120 rp=ipp\n")
            responder.stdin.flush()
            assert responder.stdout.readline().strip() == "ok"
            d = Daemon(binary, config(net, f"updsub{os.getpid()}", key, named.port), work)
            d.start()
            t0 = time.time()

            want_one = {
                ("Lab\\032Printer._ipp._tcp.one.example.test.", "SRV",
                 "0 0 631 labprn.one.example.test."),
                ("labprn.one.example.test.", "A", "198.51.100.20"),
                ("_ipp._tcp.one.example.test.", "PTR", "Lab\\032Printer._ipp._tcp.one.example.test."),
                ("b._dns-sd._udp.one.example.test.", "PTR", "one.example.test."),
            }
            wait("the service in one.example.test. (subdomain and server from DNS)", 40,
                 lambda: want_one <= service_records(named, ONE) or service_records(named, ONE))
            print(f"ok   published in {ONE} {time.time() - t0:.1f} s after start, "
                  "found from the reverse PTR and the SRV alone")
            log = d.read_log()
            if "subdomain one.example.test. (dns)" not in log or "(srv-subdomain)" not in log:
                failures.append("the log does not say where the subdomain and server came from")

            # The network's operator moves the subnet to another subdomain,
            # whose update server is announced over TCP.
            nsupdate(named, key,
                     f"zone {TWO}\nupdate add _dns-update._tcp.{TWO} 300 IN SRV 0 0 {named.port} ns.{TWO}\nsend\n"
                     f"zone {REVERSE}\n"
                     f"update delete b._dns-sd._udp.0.{REVERSE} PTR\n"
                     f"update add b._dns-sd._udp.0.{REVERSE} 300 IN PTR {TWO}")
            t1 = time.time()
            want_two = {(o.replace(ONE, TWO), t, r.replace(ONE, TWO)) for o, t, r in want_one}
            wait("the service to move to two.example.test.", 40,
                 lambda: (want_two <= service_records(named, TWO) and not service_records(named, ONE))
                 or (service_records(named, ONE), service_records(named, TWO)))
            print(f"ok   moved to {TWO} {time.time() - t1:.1f} s after the PTR and SRV changed; "
                  f"{ONE} holds none of its records any more")
            if f"zone {TWO} via 127.0.0.1:{named.port}/tcp" not in d.read_log():
                failures.append("the move did not use the TCP server the new SRV names")
            else:
                print("ok   the new zone's server was taken from _dns-update._tcp (TCP)")

            # The SRV now names a server that does not hold the zone (a second
            # BIND): it refuses the UPDATEs, the link is unpublishable (logged);
            # once the SRV names the right server again, the proxy re-sends.
            with Named(work, ["elsewhere.test."], key) as other:
                nsupdate(named, key,
                         f"zone {TWO}\nupdate delete _dns-update._tcp.{TWO} SRV\n"
                         f"update add _dns-update._udp.{TWO} 300 IN SRV 0 0 {other.port} ns.{TWO}")
                wait("the refusal to be noticed", 30,
                     lambda: "is unpublishable: its server refuses UPDATEs" in d.read_log())
                print("ok   a server that refuses the UPDATEs made the link unpublishable (logged)")
                # Meanwhile a record disappears from the right server: only a
                # proxy that re-sends its whole desired state when the server
                # changes back puts it there again.
                nsupdate(named, key, f"zone {TWO}\nupdate delete labprn.{TWO} A")
                nsupdate(named, key,
                         f"zone {TWO}\nupdate delete _dns-update._udp.{TWO} SRV\n"
                         f"update add _dns-update._udp.{TWO} 300 IN SRV 0 0 {named.port} ns.{TWO}")
                mark = len(d.read_log())
                wait("the proxy to return to the right server", 30,
                     lambda: f"zone {TWO} via 127.0.0.1:{named.port}/udp" in d.read_log()[mark:])
                wait("the records to be restored", 40,
                     lambda: want_two <= service_records(named, TWO) or service_records(named, TWO))
                print("ok   back on the right server, the service is published in full")
            port = metrics_port(d)
            m, _types = parse_metrics(http_get(f"http://127.0.0.1:{port}/metrics"))
            got = {n: value(m, n) or 0 for n in ("updproxy_subdomain_lookups_total",
                                            "updproxy_subdomain_changes_total",
                                            "updproxy_subdomain_unpublishable_total",
                                            "updproxy_enumeration_retransmissions_total")}
            if not (got["updproxy_subdomain_lookups_total"] >= 10
                    and got["updproxy_subdomain_changes_total"] >= 2
                    and got["updproxy_subdomain_unpublishable_total"] >= 1
                    and got["updproxy_enumeration_retransmissions_total"] >= 2):
                failures.append(f"metrics: {got}")
            else:
                print(f"ok   metrics: {got}")
        except (AssertionError, RuntimeError) as e:
            failures.append(str(e)[:1500])
        finally:
            if responder:
                responder.kill()
                responder.wait(timeout=10)
            if d:
                d.stop()

    if failures and d:
        print(d.read_log()[-5000:])
        print(named.log_tail())


CFG = "cfg.example.test."


def scenario_register(binary, failures):
    """The subdomain comes from configuration (no PTR in the reverse zone):
    with register_reverse the proxy registers b/db/lb._dns-sd._udp.<reverse>
    PTR <subdomain> in the reverse zone, whose update server it finds by SRV
    in that zone; when the operator later answers in DNS (a dr PTR), those
    registrations are withdrawn and the services stay."""
    work = tempfile.mkdtemp(prefix="updproxy-subreg-")
    key = TsigKey.generate(work)
    named = Named(work, [REVERSE, CFG], key)
    with open(named.zone_file(REVERSE), "a") as f:
        f.write(f"_dns-update._udp IN SRV 0 0 {named.port} ns.{CFG}\n")
    with open(named.zone_file(CFG), "a") as f:
        f.write(f"_dns-update._udp IN SRV 0 0 {named.port} ns\n")
    net = Subnet("r", "198.51.100.20", None)
    d = None
    responder = None
    rev = f"0.{REVERSE}"
    registered = {(f"{p}._dns-sd._udp.{rev}", "PTR", CFG) for p in ("b", "db", "lb")}

    def reverse_ptrs():
        return {(o.to_text(), dns.rdatatype.to_text(t), r.to_text())
                for o, _ttl, t, r in named.axfr(REVERSE) if t == dns.rdatatype.PTR}

    with named, subnets(net):
        try:
            responder = subprocess.Popen(
                ["ip", "netns", "exec", net.ns, "/usr/bin/python3",
                 os.path.join(HERE, "zeroconf_responder.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            responder.stdin.write("register Lab_Printer _ipp._tcp.local. 631 labprn.local. "
                                  "198.51.100.20 120 rp=ipp\n")
            responder.stdin.flush()
            assert responder.stdout.readline().strip() == "ok"
            text = config(net, f"updreg{os.getpid()}", key, named.port)
            text = text.replace("    address: 198.51.100.1\n",
                                f"    address: 198.51.100.1\n    subdomain: {CFG}\n")
            text = text.replace("  subdomain_retry: 2\n", "  subdomain_retry: 2\n  register_reverse: true\n")
            d = Daemon(binary, text, work)
            d.start()
            srv = ("Lab\\032Printer._ipp._tcp.cfg.example.test.", "SRV", "0 0 631 labprn.cfg.example.test.")
            wait("the service in the configured subdomain", 40,
                 lambda: srv in service_records(named, CFG) or service_records(named, CFG))
            wait("the address-derived PTRs in the reverse zone", 20,
                 lambda: registered <= reverse_ptrs() or reverse_ptrs())
            print(f"ok   configured subdomain: b, db, lb._dns-sd._udp.{rev} PTR {CFG} registered "
                  "by UPDATE (reverse zone's server found by SRV)")
            # Several rediscoveries later nothing flaps: the registrations read
            # back are recognised as the proxy's own.
            time.sleep(8)
            if not registered <= reverse_ptrs() or "(dns)" in d.read_log():
                failures.append("the proxy took its own registration for an operator's answer")
            else:
                print("ok   its own registrations read back are not taken for DNS answers")
            nsupdate(named, key, f"zone {REVERSE}\nupdate add dr._dns-sd._udp.{rev} 300 IN PTR {CFG}")
            want = {(f"dr._dns-sd._udp.{rev}", "PTR", CFG)}
            wait("the registrations to be withdrawn once DNS answers", 30,
                 lambda: reverse_ptrs() == want or reverse_ptrs())
            if srv not in service_records(named, CFG):
                failures.append("the service left the subdomain when only the source changed")
            else:
                print("ok   the operator's dr PTR answers now: registrations withdrawn, service stays")
        except (AssertionError, RuntimeError) as e:
            failures.append(str(e)[:1500])
        finally:
            if responder:
                responder.kill()
                responder.wait(timeout=10)
            if d:
                d.stop()
    if failures and d:
        print(d.read_log()[-5000:])
        print(named.log_tail())


def main():
    binary = sys.argv[1]
    failures = []
    scenario_move(binary, failures)
    scenario_register(binary, failures)
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print("subdomain discovery test: ok")


if __name__ == "__main__":
    main()
