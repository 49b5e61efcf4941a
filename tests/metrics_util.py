"""Helpers for the metrics_* system tests: free ports, the Prometheus text
format, a BIND 9 primary taking TSIG-signed UPDATEs, a real Prometheus
server, and the metric names a PromQL expression uses.

Everything listens on 127.0.0.1 and is stopped by the caller's `finally`
(each class has stop(), safe to call twice).
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from dns_servers import free_port


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metrics_port(daemon, timeout=10):
    """The daemon's metrics port, from `updproxyctl status` (listen 127.0.0.1:0)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = daemon.request("status")[0]
        if st.get("metrics"):
            return int(st["metrics"].rsplit(":", 1)[1])
        time.sleep(0.2)
    raise AssertionError("the daemon reports no metrics listener: " + daemon.read_log())


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels.items())): value} and {family: type}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            continue
        labels = dict(LABEL.findall(m.group(3) or ""))
        value = m.group(4)
        samples[(m.group(1), frozenset(labels.items()))] = float(value.replace("Nan", "nan"))
    return samples, types


def value(samples, name, **labels):
    """The sample with exactly these labels (None when absent)."""
    return samples.get((name, frozenset(labels.items())))


def exported_names(types):
    """Every series name the families expose (histograms: _bucket/_sum/_count)."""
    names = set()
    for fam, kind in types.items():
        names.add(fam)
        if kind in ("histogram", "summary"):
            names.update({fam + "_sum", fam + "_count"})
        if kind == "histogram":
            names.add(fam + "_bucket")
    return names


# PromQL words that are not metric names.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "by", "without", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "offset", "bool", "rate", "irate", "increase", "delta", "idelta",
    "changes", "resets", "deriv", "predict_linear", "time", "vector", "scalar", "abs", "ceil",
    "floor", "round", "clamp", "clamp_min", "clamp_max", "histogram_quantile", "label_replace",
    "label_join", "absent", "absent_over_time", "avg_over_time", "max_over_time",
    "min_over_time", "sum_over_time", "count_over_time", "last_over_time", "timestamp",
    "sort", "sort_desc", "label_values", "inf", "nan", "e",
}


def promql_names(expr):
    """Metric names an expression reads (and recording-rule names)."""
    e = re.sub(r"label_values\(\s*([^,]+),\s*\w+\s*\)", r"\1", expr)  # (metric, label)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)              # strings
    e = re.sub(r"\$\{?\w+\}?", "", e)                       # dashboard variables
    e = re.sub(r"\{[^}]*\}", "", e)                         # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                        # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\boffset\s+\w+", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", e):
        w = m.group(1)
        if w.lower() in PROMQL_WORDS or re.fullmatch(r"\d+\w*", w):
            continue
        names.add(w)
    return names


class Named:
    """BIND 9 primary for `zone` on 127.0.0.1:port, UPDATEs allowed for the given keys."""

    def __init__(self, zone, key_names, workdir):
        self.zone = zone.rstrip(".") + "."
        self.dir = os.path.join(workdir, "named")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.proc = None
        self.keyfiles = {}
        for k in key_names:
            path = os.path.join(self.dir, f"{k}.key")
            with open(path, "w") as f:
                f.write(subprocess.run(["tsig-keygen", "-a", "hmac-sha256", k], check=True,
                                       capture_output=True, text=True).stdout)
            self.keyfiles[k] = path
        with open(os.path.join(self.dir, "zone.db"), "w") as f:
            f.write(f"$TTL 300\n@ IN SOA ns.{self.zone} admin.{self.zone} 1 3600 600 86400 300\n"
                    f"@ IN NS ns.{self.zone}\nns IN A 127.0.0.1\n")
        grants = " ".join(f"grant {k} zonesub ANY;" for k in key_names)
        includes = "".join(f'include "{p}";\n' for p in self.keyfiles.values())
        with open(os.path.join(self.dir, "named.conf"), "w") as f:
            f.write(f"""{includes}options {{
  directory "{self.dir}";
  pid-file "{self.dir}/named.pid";
  session-keyfile "{self.dir}/session.key";
  managed-keys-directory "{self.dir}";
  listen-on port {self.port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  notify no;
}};
controls {{ }};
zone "{self.zone}" {{
  type primary;
  file "{self.dir}/zone.db";
  update-policy {{ {grants} }};
}};
""")
        self.log = os.path.join(self.dir, "named.log")

    def start(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(["/usr/sbin/named", "-c", os.path.join(self.dir, "named.conf"),
                                      "-u", "root", "-g", "-n", "1"],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 15
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("named exited: " + open(self.log).read()[-2000:])
            if self.dig(self.zone, "SOA"):
                return self
            time.sleep(0.1)
        raise RuntimeError("named did not answer: " + open(self.log).read()[-2000:])

    def dig(self, name, rtype):
        r = subprocess.run(["dig", "@127.0.0.1", "-p", str(self.port), "+short", "+time=1",
                            "+tries=1", name, rtype], capture_output=True, text=True)
        return [l for l in r.stdout.splitlines() if l and not l.startswith(";")]

    def read_log(self):
        try:
            return open(self.log).read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()


class Prometheus:
    """A real Prometheus server on 127.0.0.1 scraping `targets` every second."""

    def __init__(self, targets, workdir, rule_files=()):
        self.dir = os.path.join(workdir, "prometheus")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        rules = "".join(f"  - {r}\n" for r in rule_files)
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
{"rule_files:" + chr(10) + rules if rules else ""}scrape_configs:
  - job_name: updproxy
    static_configs:
      - targets: {json.dumps(list(targets))}
""")
        self.proc = None
        self.log = os.path.join(self.dir, "prometheus.log")

    def start(self):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            ["prometheus", "--config.file", os.path.join(self.dir, "prometheus.yml"),
             "--storage.tsdb.path", os.path.join(self.dir, "data"),
             "--web.listen-address", f"127.0.0.1:{self.port}",
             "--storage.tsdb.retention.time", "1h"],
            stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prometheus exited: " + self.read_log()[-2000:])
            try:
                http_get(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus not ready: " + self.read_log()[-2000:])

    def query(self, q):
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        r = json.loads(http_get(url))
        if r.get("status") != "success":
            raise AssertionError(f"query {q}: {r}")
        return r["data"]["result"]

    def targets(self):
        return json.loads(http_get(f"http://127.0.0.1:{self.port}/api/v1/targets"))["data"]

    def read_log(self):
        try:
            return open(self.log).read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()


def wait_until(pred, timeout, what, interval=0.25):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, AssertionError, KeyError, IndexError, ValueError) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def workdir(tag):
    return tempfile.mkdtemp(prefix=f"updproxy-{tag}-")


def remove(path):
    shutil.rmtree(path, ignore_errors=True)
