"""Configuration reload that adds and removes links, against real peers.

Two subnets, each a network namespace behind a veth with a real mDNS
responder (python-zeroconf): 198.51.100.0/24 (link `la`, subdomain
a.example.com.) and 203.0.113.0/24 (link `lb`, b.example.com.). The daemon
runs on one net_af_packet port per veth (ports cannot change at reload, so
both are configured from the start) and publishes with TSIG-signed UPDATEs
into a real BIND 9 primary for example.com.

1. start with `la` only: its service reaches BIND;
2. reload adding `lb`: its service reaches BIND (found by the new control
   plane's enumeration on the new link), `updproxyctl links` lists both,
   and BIND's log shows no UPDATE touching a.example.com. since the reload
   (the kept link's records are neither re-added nor removed);
3. reload removing `la`: its records leave BIND (service, host, browse
   records), `updproxyctl links`, DPDK telemetry and /metrics drop it, the
   shard records gauge drops to `lb`'s records, the UPDATE engine's desired
   state is exactly `lb`'s, and BIND's log shows no UPDATE touching
   b.example.com. since the reload;
4. reload adding `la` back: a new link id (the removed one's is not
   reused), its service back in BIND.

Before the feature, step 2 was refused ("links added or removed ... needs
a restart").

usage: link_reload_test.py UPDPROXY_BINARY UPDPROXYCTL_BINARY
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from metrics_util import (Named, http_get, metrics_port, parse_metrics, remove,  # noqa: E402
                          value, wait_until, workdir)
from metrics_control_test import telemetry  # noqa: E402
from netns import Subnet, subnets  # noqa: E402
from updproxy_proc import Daemon  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

LA = """  - name: la
    port: pa
    prefix: 198.51.100.0/24
    address: 198.51.100.1
    subdomain: a.example.com.
"""
LB = """  - name: lb
    port: pb
    prefix: 203.0.113.0/24
    address: 203.0.113.1
    subdomain: b.example.com.
"""


def config(prefix, net_a, net_b, named, links):
    return f"""
dpdk:
  lcores: [0, 1]
  memory_mb: 256
  no_huge: true
  file_prefix: {prefix}
  vdevs: ["net_af_packet0,iface={net_a.outer}", "net_af_packet1,iface={net_b.outer}"]
ports:
  - name: pa
    device: net_af_packet0
  - name: pb
    device: net_af_packet1
links:
{links}update:
  key_file: {named.keyfiles["key1"]}
  batch_ms: 20
  zones:
    - zone: example.com.
      server: 127.0.0.1
      port: {named.port}
metrics:
  listen: 127.0.0.1:0
log:
  level: debug
"""


class Responder:
    """python-zeroconf in a namespace (tests/zeroconf_responder.py)."""

    def __init__(self, net):
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", net.ns, "/usr/bin/python3",
             os.path.join(HERE, "zeroconf_responder.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ok":
            raise RuntimeError(f"responder: {line} failed")

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def updates_touching(log, suffix):
    """BIND's log lines of UPDATE operations on names under `suffix`
    (e.g. "a.example.com": at 'x.a.example.com', not 'x.b.example.com')."""
    pat = re.compile(r"updating zone .*(adding|deleting) an RR.* at '([^']*\.)?"
                     + re.escape(suffix) + r"'")
    return [l for l in log.splitlines() if pat.search(l)]


def main():
    binary, ctl = sys.argv[1], sys.argv[2]
    failures = []
    work = workdir("lreload")
    prefix = f"updlr{os.getpid()}"
    named = Named("example.com.", ["key1"], work)
    net_a = Subnet("la", "198.51.100.20", None)
    net_b = Subnet("lb", "203.0.113.20", None)
    d = None
    responders = []

    def check(what, ok, detail=""):
        if ok:
            print(f"ok   {what}")
        else:
            failures.append(f"{what}: {detail}")

    def updproxyctl(*args):
        r = subprocess.run([ctl, "-s", d.sock, *args], capture_output=True, text=True, timeout=30)
        return r.returncode, [json.loads(x) for x in r.stdout.splitlines() if x.strip()]

    def reload(links):
        with open(d.config, "w") as f:
            f.write(config(prefix, net_a, net_b, named, links))
        return updproxyctl("reload")

    def zone():
        return updproxyctl("zone", "example.com.")[1][0]

    def settled():
        """The previous control plane retired and nothing is pending."""
        z = zone()
        return (updproxyctl("status")[1][0]["reloading"] is False and z["pending"] == 0
                and z["confirmed"] == z["desired"])

    def metrics():
        s, _ = parse_metrics(http_get(f"http://127.0.0.1:{port}/metrics"))
        return s

    with subnets(net_a, net_b):
        try:
            named.start()
            ra, rb = Responder(net_a), Responder(net_b)
            responders += [ra, rb]
            ra.cmd("register PrinterA _ipp._tcp.local. 631 hosta.local. 198.51.100.20 rp=a")
            rb.cmd("register PrinterB _ipp._tcp.local. 632 hostb.local. 203.0.113.20 rp=b")
            d = Daemon(binary, config(prefix, net_a, net_b, named, LA), work)
            d.start()
            port = metrics_port(d)

            # 1. la only.
            wait_until(lambda: named.dig("_ipp._tcp.a.example.com.", "PTR")
                       == ["PrinterA._ipp._tcp.a.example.com."], 30, "la's service at BIND")
            wait_until(lambda: named.dig("hosta.a.example.com.", "A") == ["198.51.100.20"], 10,
                       "la's host at BIND")
            wait_until(settled, 20, "la's records confirmed")
            desired_a = zone()["desired"]
            print(f"ok   la's service published ({desired_a} records desired)")

            # 2. Add lb.
            mark = len(named.read_log())
            rc, out = reload(LA + LB)
            check("reload adding lb", rc == 0 and 'link "lb" added (id 1)' in out[0].get("applied", []),
                  out)
            wait_until(lambda: named.dig("_ipp._tcp.b.example.com.", "PTR")
                       == ["PrinterB._ipp._tcp.b.example.com."], 30, "lb's service at BIND")
            wait_until(lambda: named.dig("hostb.b.example.com.", "A") == ["203.0.113.20"], 10,
                       "lb's host at BIND")
            wait_until(settled, 60, "the reload to settle")
            rc, out = updproxyctl("links")
            check("updproxyctl links after adding lb",
                  [(l["name"], l["subdomain"]) for l in out]
                  == [("la", "a.example.com."), ("lb", "b.example.com.")]
                  and all(l["records"] > 0 for l in out), out)
            desired_ab = zone()["desired"]
            check("lb's records added to the desired state", desired_ab > desired_a,
                  (desired_a, desired_ab))
            touched = updates_touching(named.read_log()[mark:], "a.example.com")
            check("no UPDATE touched la's records while lb was added", touched == [], touched)
            check("la's service still at BIND",
                  named.dig("_ipp._tcp.a.example.com.", "PTR") == ["PrinterA._ipp._tcp.a.example.com."])
            added_b = updates_touching(named.read_log()[mark:], "b.example.com")
            check("BIND logged lb's additions", any("adding an RR" in l for l in added_b),
                  named.read_log()[mark:][-2000:])
            wait_until(lambda: value(metrics(), "updproxy_link_records", link="lb"), 10,
                       "lb in /metrics")

            # 3. Remove la.
            mark = len(named.read_log())
            rc, out = reload(LB)
            check("reload removing la", rc == 0 and 'link "la" removed' in out[0].get("applied", []), out)
            wait_until(lambda: named.dig("_ipp._tcp.a.example.com.", "PTR") == [], 30,
                       "la's service to leave BIND")
            wait_until(lambda: named.dig("hosta.a.example.com.", "A") == [], 10,
                       "la's host to leave BIND")
            wait_until(lambda: named.dig("b._dns-sd._udp.a.example.com.", "PTR") == [], 10,
                       "la's browse record to leave BIND")
            print("ok   la's records left BIND")
            wait_until(settled, 60, "the reload to settle")
            check("lb's service untouched at BIND",
                  named.dig("_ipp._tcp.b.example.com.", "PTR") == ["PrinterB._ipp._tcp.b.example.com."]
                  and named.dig("hostb.b.example.com.", "A") == ["203.0.113.20"])
            touched = updates_touching(named.read_log()[mark:], "b.example.com")
            check("no UPDATE touched lb's records while la was removed", touched == [], touched)
            z = zone()
            check("the desired state is lb's records only",
                  z["desired"] == desired_ab - desired_a and z["failed_changes"] == 0, (z, desired_a, desired_ab))
            rc, out = updproxyctl("links")
            check("updproxyctl links after removing la", [l["name"] for l in out] == ["lb"], out)
            rc, out = updproxyctl("status")
            check("status counts the live links", out[0]["links"] == 1, out)
            rc, out = updproxyctl("services", "la")
            check("updproxyctl services la fails", rc == 1 and "no link named la" in out[0].get("error", ""),
                  out)
            t = telemetry(prefix, "/updproxy/links", "/updproxy/links,lb", "/updproxy/links,la")
            check("telemetry /updproxy/links after removing la",
                  (t["/updproxy/links"] or {}).get("names") == ["lb"]
                  and (t["/updproxy/links,lb"] or {}).get("packets", 0) > 0
                  and not t["/updproxy/links,la"], t)
            rc, out = updproxyctl("services")
            check("no record of la left", out and all(r["link"] == "lb" for r in out), out)

            def gauges_dropped():
                s = metrics()
                lb_records = value(s, "updproxy_link_records", link="lb")
                return (value(s, "updproxy_link_records", link="la") is None
                        and value(s, "updproxy_link_packets_total", link="la") is None
                        and lb_records and value(s, "updproxy_records") == lb_records
                        and value(s, "updproxy_table_shard_records") == lb_records)
            wait_until(gauges_dropped, 10, "la to leave /metrics and the records gauges to drop")
            s = metrics()
            check("purged records counted", (value(s, "updproxy_table_changes_total",
                                                   kind="link_removed") or 0) > 0,
                  [(k, v) for k, v in s.items() if k[0] == "updproxy_table_changes_total"])
            print("ok   la left updproxyctl and /metrics; the records gauges dropped")

            # 4. la back: a new id, its service back.
            rc, out = reload(LB + LA)
            check("reload adding la back", rc == 0 and 'link "la" added (id 2)' in out[0].get("applied", []),
                  out)
            wait_until(lambda: named.dig("_ipp._tcp.a.example.com.", "PTR")
                       == ["PrinterA._ipp._tcp.a.example.com."], 30, "la's service back at BIND")
            print("ok   la re-added in a new slot, its service back at BIND")
            log = d.read_log()
            check("the reload log lines", 'link "lb" added (id 1)' in log and 'link "la" removed' in log,
                  log[-2000:])
        except Exception as e:  # noqa: BLE001 - report, then clean up below
            failures.append(f"{type(e).__name__}: {e}")
        finally:
            rc = d.stop() if d else 0
            for r in responders:
                r.stop()
            named.stop()
    if rc != 0:
        failures.append(f"daemon exit code {rc}")
    if failures:
        print("FAIL:\n  " + "\n  ".join(str(f) for f in failures))
        if d:
            print(d.read_log()[-6000:])
        print(named.read_log()[-3000:])
        print("1 failed")
        sys.exit(1)
    for line in log.splitlines():
        if "reload (" in line:
            print("     " + line)
    remove(work)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
