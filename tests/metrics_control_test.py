"""Introspection and control of a running daemon: DPDK telemetry
(dpdk-telemetry.py), updproxyctl, and configuration reload.

The daemon (net_null) publishes its browse records with TSIG-signed
UPDATEs into a real BIND 9 primary that knows two keys. Then:
  - dpdk-telemetry.py -f PREFIX answers /updproxy/links, /updproxy/services,
    /updproxy/zones, /updproxy/stats (and their parameter forms) with JSON;
  - updproxyctl status, links, services, stats, zones, zone, resync;
  - updproxyctl reload / SIGHUP:
      log level changed                      applied, daemon keeps running
      a file with a YAML error               refused, old configuration kept
      a link's prefix changed                refused: that is a new link, and
                                             table.spare_link_slots is 0 here
                                             (tests/link_reload_test.py adds and
                                             removes links)
      the TSIG key rotated (key1 -> key2)    applied; BIND sees UPDATEs signed with key2
      the link's subdomain changed           applied; the old browse record is removed
                                             from BIND, the new one added
      metrics moved to another port (SIGHUP) applied; the new port serves /metrics
    and the reload counters in /metrics say so.

usage: metrics_control_test.py UPDPROXY_BINARY UPDPROXYCTL_BINARY
"""
import json
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from metrics_util import (Named, free_port, http_get, metrics_port, parse_metrics,  # noqa: E402
                          remove, value, wait_until, workdir)
from updproxy_proc import Daemon  # noqa: E402


def config(prefix, named, key="key1", subdomain="lab.example.com.", level="info",
           prefix_v4="192.0.2.0/24", metrics="127.0.0.1:0", broken=False):
    text = f"""
dpdk:
  lcores: [0, 1]
  memory_mb: 256
  file_prefix: {prefix}
  vdevs: [net_null0]
ports:
  - name: null0
    device: net_null0
links:
  - name: lab-v4
    port: null0
    prefix: {prefix_v4}
    address: {prefix_v4.split("/")[0][:-1]}1
    subdomain: {subdomain}
update:
  key_file: {named.keyfiles[key]}
  batch_ms: 20
  zones:
    - zone: example.com.
      server: 127.0.0.1
      port: {named.port}
table:
  spare_link_slots: 0
metrics:
  listen: {metrics}
log:
  level: {level}
"""
    return text + ("links: [\n" if broken else "")


def telemetry(prefix, *cmds):
    """{command: reply} from dpdk-telemetry.py (one connection, several commands;
    the replies come in order, keyed by the command without its parameter)."""
    r = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="\n".join(cmds) + "\n",
                       capture_output=True, text=True, timeout=30)
    replies = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if line.startswith("--> "):
            line = line[4:]
        if not line.startswith("{"):
            continue
        d = json.loads(line)
        if "version" in d and "pid" in d:
            continue
        replies.append(d)
    out = {}
    for c, d in zip(cmds, replies):
        out[c] = d.get(c.split(",")[0])
    if len(replies) != len(cmds):
        raise AssertionError(f"dpdk-telemetry.py: rc {r.returncode}: {r.stdout}{r.stderr}")
    return out


def main():
    binary, ctl = sys.argv[1], sys.argv[2]
    failures = []
    work = workdir("mctl")
    prefix = f"updctl{os.getpid()}"
    named = Named("example.com.", ["key1", "key2"], work)
    d = None

    def check(what, ok, detail=""):
        if ok:
            print(f"ok   {what}")
        else:
            failures.append(f"{what}: {detail}")

    def updproxyctl(*args):
        r = subprocess.run([ctl, "-s", d.sock, *args], capture_output=True, text=True, timeout=30)
        lines = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        return r.returncode, lines

    def rewrite(**kw):
        with open(d.config, "w") as f:
            f.write(config(prefix, named, **kw))

    try:
        named.start()
        d = Daemon(binary, config(prefix, named), work)
        d.start()
        wait_until(lambda: named.dig("b._dns-sd._udp.lab.example.com.", "PTR") == ["lab.example.com."],
                   20, "the browse record at the server")
        print("ok   browse record published with key1")

        # ---- DPDK telemetry ----
        # (the snapshot it reads is at most 0.5 s old: wait for the answer to show)
        wait_until(lambda: (telemetry(prefix, "/updproxy/zones")["/updproxy/zones"] or {})
                   .get("reachable") == [1], 10, "telemetry to show the zone reachable")
        t = telemetry(prefix, "/updproxy/links", "/updproxy/links,lab-v4", "/updproxy/services",
                      "/updproxy/services,lab-v4", "/updproxy/zones", "/updproxy/zones,example.com.",
                      "/updproxy/stats")
        check("telemetry /updproxy/links", t.get("/updproxy/links", {}).get("names") == ["lab-v4"],
              t.get("/updproxy/links"))
        link = t.get("/updproxy/links,lab-v4") or {}
        check("telemetry /updproxy/links,lab-v4",
              link.get("subdomain") == "lab.example.com." and link.get("prefix") == "192.0.2.0/24"
              and link.get("port") == "null0", link)
        svc = t.get("/updproxy/services,lab-v4") or {}
        check("telemetry /updproxy/services,lab-v4",
              svc.get("link") == "lab-v4" and svc.get("count") == 0 and svc.get("services") == [], svc)
        check("telemetry /updproxy/services", t.get("/updproxy/services", {}).get("links") == ["lab-v4"],
              t.get("/updproxy/services"))
        zones = t.get("/updproxy/zones") or {}
        check("telemetry /updproxy/zones",
              zones.get("zones") == ["example.com."] and zones.get("reachable") == [1], zones)
        zone = t.get("/updproxy/zones,example.com.") or {}
        check("telemetry /updproxy/zones,example.com.",
              zone.get("reachable") == 1 and zone.get("pending") == 0 and zone.get("desired", 0) >= 1
              and zone.get("server", "").startswith("127.0.0.1:"), zone)
        st = t.get("/updproxy/stats") or {}
        check("telemetry /updproxy/stats", st.get("workers") == 1 and "rx_packets" in st
              and st.get("update_messages", 0) >= 1, st)

        # ---- updproxyctl ----
        rc, out = updproxyctl("status")
        check("updproxyctl status", rc == 0 and out[0]["links"] == 1 and out[0]["metrics"]
              and out[0]["log_level"] == "info", out)
        rc, out = updproxyctl("links")
        check("updproxyctl links", rc == 0 and out[0]["name"] == "lab-v4"
              and out[0]["subdomain"] == "lab.example.com.", out)
        rc, out = updproxyctl("services", "lab-v4")
        check("updproxyctl services lab-v4", rc == 0 and out == [], out)
        rc, out = updproxyctl("services", "nosuch")
        check("updproxyctl services nosuch fails", rc == 1 and "error" in out[0], out)
        rc, out = updproxyctl("zones")
        check("updproxyctl zones", rc == 0 and out[0]["zone"] == "example.com.", out)
        rc, out = updproxyctl("zone", "example.com")
        check("updproxyctl zone example.com", rc == 0 and out[0]["reachable"] is True
              and out[0]["pending"] == 0 and out[0]["responses"].get("0 NOERROR", 0) >= 1, out)
        rc, out = updproxyctl("zone", "nosuch.example.")
        check("updproxyctl zone nosuch fails", rc == 1 and "example.com." in out[0]["error"], out)
        rc, out = updproxyctl("stats")
        check("updproxyctl stats", rc == 0 and out[0]["worker"] == 0, out)
        rc, out = updproxyctl("resync")
        check("updproxyctl resync", rc == 0 and out == [{"ok": True}], out)

        # ---- reload ----
        rewrite(level="debug")
        rc, out = updproxyctl("reload")
        check("reload: log level", rc == 0 and out[0].get("applied") == ["log.level info -> debug"], out)
        rc, out = updproxyctl("status")
        check("status after reload", out[0]["log_level"] == "debug" and out[0]["reloads"] == 1, out)

        rewrite(level="debug", broken=True)
        rc, out = updproxyctl("reload")
        check("reload: bad file refused", rc == 1 and "YAML syntax error" in out[0].get("error", ""), out)
        rc, out = updproxyctl("status")
        check("still running the old configuration after a bad file",
              rc == 0 and out[0]["log_level"] == "debug" and out[0]["reloads_failed"] == 1, out)

        rewrite(level="debug", prefix_v4="198.51.100.0/24")
        rc, out = updproxyctl("reload")
        check("reload: a new link without a spare slot refused",
              rc == 1 and "table.spare_link_slots" in out[0].get("error", "")
              and "restart" in out[0].get("error", ""), out)

        rewrite(level="debug", key="key2")
        rc, out = updproxyctl("reload")
        check("reload: key rotated", rc == 0 and any("update key" in a for a in out[0].get("applied", [])),
              out)
        # The rebuilt engine first reads the zone back (AXFR signed with the
        # new key); it has nothing to send when the zone already holds the
        # records, so the signed transfer is what shows the key in use here.
        wait_until(lambda: any("/key key2" in line and ("updating zone" in line or "transfer of" in line)
                               for line in named.read_log().splitlines()), 20,
                   "a transfer or UPDATE signed with key2 at the server")
        print("ok   BIND saw requests signed with key2")
        wait_until(lambda: updproxyctl("status")[1][0]["reloading"] is False, 30,
                   "the previous control plane to retire")
        rc, out = updproxyctl("zone", "example.com.")
        check("zone after the key rotation", out[0]["reachable"] is True and out[0]["failed_changes"] == 0,
              out)

        rewrite(level="debug", key="key2", subdomain="lab2.example.com.")
        rc, out = updproxyctl("reload")
        check("reload: subdomain changed", rc == 0 and any("links[0].subdomain" in a
                                                            for a in out[0].get("applied", [])), out)
        wait_until(lambda: named.dig("b._dns-sd._udp.lab2.example.com.", "PTR") == ["lab2.example.com."],
                   20, "the new browse record at the server")
        wait_until(lambda: named.dig("b._dns-sd._udp.lab.example.com.", "PTR") == [], 30,
                   "the old browse record removed from the server")
        print("ok   subdomain moved at the server (old record removed, new one added)")
        check("the move's UPDATEs are signed with key2", "/key key2: updating zone" in named.read_log(),
              named.read_log()[-2000:])

        new_port = free_port()
        rewrite(level="debug", key="key2", subdomain="lab2.example.com.", metrics=f"127.0.0.1:{new_port}")
        os.kill(d.proc.pid, signal.SIGHUP)
        wait_until(lambda: metrics_port(d) == new_port, 10, "metrics on the new port")
        text = http_get(f"http://127.0.0.1:{new_port}/metrics")
        s, _ = parse_metrics(text)
        check("reload counters in /metrics",
              value(s, "updproxy_config_reloads_total", result="success") == 4
              and value(s, "updproxy_config_reloads_total", result="failure") == 2
              and value(s, "updproxy_config_last_reload_successful") == 1,
              [(k, v) for k, v in s.items() if "reload" in k[0]])
        check("UPDATE counters survive the rebuilds",
              (value(s, "updproxy_update_messages_total", zone="example.com.") or 0) >= 3, text[-500:])
        log = d.read_log()
        for want in ["reload (updproxyctl): log.level info -> debug",
                     "warning: reload (updproxyctl) refused: ", "reload (SIGHUP): metrics 127.0.0.1:"]:
            check(f"log line {want!r}", want in log, log[-2000:])
    except Exception as e:  # noqa: BLE001 - report, then clean up below
        failures.append(f"{type(e).__name__}: {e}")
    finally:
        rc = d.stop() if d else 0
        named.stop()
    if rc != 0:
        failures.append(f"daemon exit code {rc}")
    if failures:
        print("FAIL:\n  " + "\n  ".join(str(f) for f in failures))
        if d:
            print(d.read_log()[-4000:])
        print(named.read_log()[-2000:])
        print("1 failed")
        sys.exit(1)
    remove(work)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
