"""The dashboard and the alert rules use only metrics the daemon exports.

Starts `updproxy run` (net_null, an UPDATE zone so the per-zone families
exist), reads /metrics, and checks every metric name in
deploy/grafana/updproxy.json and deploy/prometheus/*.rules.yml against the
exported families (recording rules count as defined by the rules file).
Then `promtool check rules`, `promtool test rules` and `promtool check
config` on deploy/prometheus/.

usage: metrics_names_test.py UPDPROXY_BINARY SOURCE_ROOT
"""
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from metrics_util import (exported_names, free_port, http_get, metrics_port,  # noqa: E402
                          parse_metrics, promql_names, remove, workdir)
from updproxy_proc import Daemon  # noqa: E402

# Series Prometheus makes itself for every target.
SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
             "scrape_samples_post_metric_relabeling", "scrape_series_added"}


def config(prefix, dead_port):
    return f"""
dpdk:
  lcores: [0, 1]
  memory_mb: 256
  file_prefix: {prefix}
  vdevs: [net_null0]
  extra_args: [--no-shconf]
ports:
  - name: null0
    device: net_null0
links:
  - name: lab-v4
    port: null0
    prefix: 192.0.2.0/24
    address: 192.0.2.1
    subdomain: lab.example.com.
update:
  allow_unsigned: true
  zones:
    - zone: example.com.
      server: 127.0.0.1
      port: {dead_port}
dns:
  listen: ["127.0.0.1:0"]
metrics:
  listen: 127.0.0.1:0
log:
  level: info
"""


def dashboard_exprs(path):
    d = json.load(open(path))
    exprs = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    exprs.append((p.get("title"), t["expr"]))
            walk(p.get("panels", []))
    walk(d["panels"])
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            exprs.append(("variable " + v["name"], q))
    for a in d.get("annotations", {}).get("list", []):
        if a.get("expr"):
            exprs.append(("annotation " + a["name"], a["expr"]))
    return d, exprs


def rule_exprs(path):
    import yaml  # python3-yaml
    doc = yaml.safe_load(open(path))
    exprs, recorded = [], set()
    for g in doc["groups"]:
        for r in g["rules"]:
            name = r.get("alert") or r.get("record")
            exprs.append((name, r["expr"]))
            if "record" in r:
                recorded.add(r["record"])
    return exprs, recorded


def main():
    binary, root = sys.argv[1], sys.argv[2]
    failures = []
    work = workdir("mnames")
    d = Daemon(binary, config(f"updnames{os.getpid()}", free_port()), work)
    try:
        d.start()
        port = metrics_port(d)
        text = http_get(f"http://127.0.0.1:{port}/metrics")
    finally:
        rc = d.stop()
    if rc != 0:
        failures.append(f"daemon exit {rc}: {d.read_log()}")
    _, types = parse_metrics(text)
    exported = exported_names(types) | SYNTHETIC

    # ---- the dashboard ----
    dash_path = os.path.join(root, "deploy", "grafana", "updproxy.json")
    dash, dexprs = dashboard_exprs(dash_path)
    if len(dexprs) < 20:
        failures.append(f"dashboard: only {len(dexprs)} queries")
    used = set()
    for where, e in dexprs:
        for n in promql_names(e):
            used.add(n)
            if n not in exported:
                failures.append(f"dashboard {where!r}: {n} is not exported ({e})")
    titles = " ".join(p.get("title", "") for p in dash["panels"]).lower()
    for want in ("services per link", "announcements", "drops", "update", "queue depth",
                 "queries", "load"):
        if want not in titles:
            failures.append(f"dashboard: no panel about {want!r}")

    # ---- the rules ----
    rule_files = sorted(glob.glob(os.path.join(root, "deploy", "prometheus", "*.rules.yml")))
    if not rule_files:
        failures.append("no deploy/prometheus/*.rules.yml")
    alerts = set()
    for path in rule_files:
        rexprs, recorded = rule_exprs(path)
        for name, e in rexprs:
            if name and not name.count(":"):
                alerts.add(name)
            for n in promql_names(e):
                used.add(n)
                if n not in exported and n not in recorded:
                    failures.append(f"{os.path.basename(path)} {name}: {n} is not exported ({e})")
    for want in ("UpdproxyUpdateServerUnreachable", "UpdproxyUpdateErrorsRising",
                 "UpdproxyRingOverflows", "UpdproxyParseErrorsSpiking"):
        if want not in alerts:
            failures.append(f"no alert {want}")

    # ---- promtool ----
    prom = os.path.join(root, "deploy", "prometheus")
    checks = [["promtool", "check", "rules", *rule_files],
              ["promtool", "check", "config", os.path.join(prom, "prometheus.yml")]]
    checks += [["promtool", "test", "rules", t]
               for t in sorted(glob.glob(os.path.join(prom, "*.rules.test.yml")))]
    for cmd in checks:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=prom)
        if r.returncode != 0:
            failures.append(f"{' '.join(cmd[:3])}: {r.stdout}{r.stderr}")
        else:
            print(f"ok   {' '.join(cmd[:3])} {os.path.basename(cmd[-1])}")

    remove(work)
    print(f"{len(used)} metric names used by the dashboard and rules; {len(types)} families exported")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        print("1 failed")
        sys.exit(1)
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
