"""Metrics end to end, with real peers.

A python-zeroconf responder in a network namespace announces two services on
a veth; the daemon receives them on net_af_packet and publishes them with
TSIG-signed UPDATEs into a real BIND 9 primary on loopback. Then:
  - GET /metrics: the counters say what happened (services per link,
    messages parsed, UPDATEs answered NOERROR, server up, port statistics,
    build info) and `promtool check metrics` accepts the text;
  - a real Prometheus server on 127.0.0.1 (its own storage directory, 1 s
    scrapes) scrapes the daemon, and /api/v1/query gives the counters back.
Everything started is stopped, also on failure.

usage: metrics_test.py UPDPROXY_BINARY   (root: network namespaces)
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from metrics_util import (Named, Prometheus, http_get, metrics_port, parse_metrics,  # noqa: E402
                          remove, value, wait_until, workdir)
from netns import Subnet, subnets  # noqa: E402
from updproxy_proc import Daemon  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def config(net, prefix, named):
    return f"""
{net.dpdk_yaml(prefix, no_huge=False)}links:
  - name: lab-v4
    port: trunk
    prefix: 192.0.2.0/24
    address: 192.0.2.1
    subdomain: lab.example.com.
update:
  key_file: {named.keyfiles["updproxy"]}
  batch_ms: 20
  zones:
    - zone: example.com.
      server: 127.0.0.1
      port: {named.port}
metrics:
  listen: 127.0.0.1:0
log:
  level: info
"""


def main():
    binary = sys.argv[1]
    failures = []
    work = workdir("metrics")
    net = Subnet("m", "192.0.2.10", None)
    named = Named("example.com.", ["updproxy"], work)
    prom = None
    responder = None
    d = None
    try:
        named.start()
        with subnets(net):
            d = Daemon(binary, config(net, f"updmetrics{os.getpid()}", named), work)
            d.start()
            port = metrics_port(d)
            url = f"http://127.0.0.1:{port}/metrics"
            responder = subprocess.Popen(
                ["ip", "netns", "exec", net.ns, "/usr/bin/python3",
                 os.path.join(HERE, "zeroconf_responder.py")],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

            def cmd(line):
                responder.stdin.write(line + "\n")
                responder.stdin.flush()
                assert responder.stdout.readline().strip() == "ok"

            cmd("register Lab_Printer _ipp._tcp.local. 631 printer1.local. 192.0.2.10 txtvers=1")
            cmd("register Lab_Screen _airplay._tcp.local. 7000 screen.local. 192.0.2.10 model=x")

            # Both services discovered, published, and the server said NOERROR.
            def settled():
                s, _ = parse_metrics(http_get(url))
                ok = (value(s, "updproxy_link_services", link="lab-v4") == 2
                      and (value(s, "updproxy_update_responses_total", zone="example.com.",
                                 rcode="NOERROR") or 0) > 0
                      and value(s, "updproxy_update_pending_changes", zone="example.com.") == 0)
                return s if ok else None
            try:
                s = wait_until(settled, 40, "two services published (metrics)")
            except AssertionError:
                print(http_get(url))
                print(d.request("status"), d.services())
                raise
            text = http_get(url)
            s, types = parse_metrics(text)
            checks = {
                "mDNS responses parsed": (value(s, "updproxy_mdns_messages_total") or 0) > 0,
                "packets on the link": (value(s, "updproxy_link_packets_total", link="lab-v4") or 0) > 0,
                "records on the link": (value(s, "updproxy_link_records", link="lab-v4") or 0) >= 6,
                "server up": value(s, "updproxy_update_server_up", zone="example.com.") == 1,
                "UPDATE messages": (value(s, "updproxy_update_messages_total", zone="example.com.") or 0) > 0,
                "last success recent": time.time() - (value(
                    s, "updproxy_update_last_success_timestamp_seconds", zone="example.com.") or 0) < 60,
                "port ipackets": (value(s, "updproxy_port_rx_packets_total", port="trunk") or 0) > 0,
                "port rx_nombuf exported": value(s, "updproxy_port_rx_nombuf_total", port="trunk") is not None,
                "worker busy time": value(s, "updproxy_worker_seconds_total", worker="0", state="busy") is not None,
                "enumeration queries sent": (value(s, "updproxy_enumeration_queries_total") or 0) >= 1,
                "process start time": abs(time.time() - (value(s, "process_start_time_seconds") or 0)) < 600,
                "counter types": types.get("updproxy_rx_packets_total") == "counter"
                and types.get("updproxy_link_services") == "gauge",
            }
            build = [k for k in s if k[0] == "updproxy_build_info"]
            checks["build info"] = len(build) == 1 and {"version", "dpdk_version"} <= {
                n for n, _ in build[0][1]}
            for what, ok in checks.items():
                if not ok:
                    failures.append(f"/metrics: {what}")
            # The records are really at the server.
            if not named.dig("Lab\\032Printer._ipp._tcp.lab.example.com.", "SRV"):
                failures.append("the printer's SRV is not at the server")

            # promtool's linter.
            r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                               text=True)
            if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
                failures.append(f"promtool check metrics: rc {r.returncode}: {r.stdout}{r.stderr}")
            else:
                print(f"ok   promtool check metrics ({len(types)} families, {len(s)} samples)")

            # A real Prometheus scrapes the daemon; the HTTP API gives the numbers back.
            prom = Prometheus([f"127.0.0.1:{port}"], work).start()

            def scraped():
                r = prom.query('updproxy_mdns_messages_total{job="updproxy"}')
                return r if r and float(r[0]["value"][1]) > 0 else None
            r = wait_until(scraped, 30, "Prometheus to scrape updproxy_mdns_messages_total")
            print(f"ok   Prometheus: updproxy_mdns_messages_total = {r[0]['value'][1]}")
            svc = prom.query('updproxy_link_services{link="lab-v4"}')
            if not svc or float(svc[0]["value"][1]) != 2:
                failures.append(f"Prometheus: updproxy_link_services {svc}")
            up = prom.query('up{job="updproxy"}')
            if not up or up[0]["value"][1] != "1":
                failures.append(f"Prometheus: up {up}; targets {prom.targets()}")
            rate = wait_until(lambda: prom.query('rate(updproxy_port_rx_packets_total[5s])'), 15,
                              "a rate over the scrapes")
            print(f"ok   Prometheus: rate(updproxy_port_rx_packets_total[5s]) = {rate[0]['value'][1]}")
            responder.stdin.write("quit\n")
            responder.stdin.flush()
            responder.wait(timeout=10)
            responder = None
    except Exception as e:  # noqa: BLE001 - report, then clean up below
        failures.append(f"{type(e).__name__}: {e}")
    finally:
        if responder:
            responder.kill()
        if prom:
            prom.stop()
        rc = d.stop() if d else 0
        named.stop()
    if rc != 0:
        failures.append(f"daemon exit code {rc}")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        if d:
            print(d.read_log()[-3000:])
        if prom:
            print(prom.read_log()[-2000:])
        print("1 failed")
        sys.exit(1)
    remove(work)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
