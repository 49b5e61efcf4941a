#!/usr/bin/python3
"""The campus demo (scripts/demo.sh runs it): builds the simulated campus of
tests/campus/ (the system test's), runs the proxy on it, shows what it
discovered on each subnet and a unicast DNS-SD browse from the client
namespace reaching those services through the campus DNS server, then keeps
running -- metrics URL printed -- until Ctrl-C or --for SECONDS.

    scripts/campus.py [--binary build/control/updproxy] [--primary bind|knot|embedded]
                      [--for SECONDS] [--metrics-port PORT] [--scenario FILE] [--keep]

Root (network namespaces). Nothing is added to this machine's own network
namespace except, when free, a TCP listener on 127.0.0.1:PORT that forwards
to the proxy's metrics; everything is removed on exit.
"""
import argparse
import os
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "campus"))

import dns.name  # noqa: E402

from fixture import Campus  # noqa: E402
from scenario import Scenario  # noqa: E402

TTY = sys.stdout.isatty()


def bold(s):
    return f"\033[1m{s}\033[0m" if TTY else s


def dim(s):
    return f"\033[2m{s}\033[0m" if TTY else s


def say(s=""):
    print(s, flush=True)


def label(name_text):
    """First label of a presentation-format name, decoded (UTF-8)."""
    n = dns.name.from_text(name_text)
    return n.labels[0].decode("utf-8", "replace")


def stype_of(name_text):
    n = dns.name.from_text(name_text)
    return ".".join(l.decode() for l in n.labels[1:3])


def width(s):
    import unicodedata
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def pad(s, n):
    return s + " " * max(0, n - width(s))


def short_txt(txt, width=60):
    t = " ".join(txt)
    return t if len(t) <= width else t[:width - 3] + "..."


def show_discovered(c):
    """The proxy's live table (updproxyctl services), per subnet."""
    # The control socket answers from a snapshot the daemon refreshes twice a
    # second: wait until it holds every service the campus announced.
    want = sum(len(h.live_services()) for h in c.scenario.hosts) * 2
    deadline = time.time() + 5
    while True:
        recs = c.proxy.request("services")
        if sum(1 for r in recs if r["type"] == "SRV") >= want or time.time() > deadline:
            break
        time.sleep(0.2)
    by_link = {}
    for r in recs:
        by_link.setdefault(r["link"], []).append(r)
    say(bold("Services the proxy discovered, per subnet") + dim("   (updproxyctl services)"))
    for s in c.scenario.subnets:
        say(f"  {bold(s.name)}  {s.v4}  {s.v6}   ->  "
            + "  ".join(l.subdomain for l in s.links))
        seen = {}
        for l in s.links:
            rs = by_link.get(l.name, [])
            addrs = {}
            for r in rs:
                if r["type"] in ("A", "AAAA"):
                    addrs.setdefault(r["name"].lower(), set()).add(r["rdata"])
            for r in rs:
                if r["type"] != "SRV":
                    continue
                _prio, _w, port, target = r["rdata"].split()
                key = (label(r["name"]), stype_of(r["name"]))
                e = seen.setdefault(key, {"target": target, "port": port, "fam": [],
                                          "addrs": set()})
                e["fam"].append(f"IPv{l.family}")
                e["addrs"] |= addrs.get(target.lower(), set())
        for (inst, st), e in sorted(seen.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            host = e["target"].split(".local.")[0]
            ll_only = all(a.startswith("169.254.") or a.lower().startswith("fe80:")
                          for a in e["addrs"])
            note = dim("  link-local only: not published") if ll_only else ""
            say(f"    {pad(inst, 34)} {st:<22} {pad(host + ':' + e['port'], 18)} "
                f"{pad(' '.join(sorted(e['addrs'])), 32)} {'+'.join(e['fam'])}{note}")
    say()


def show_walk(c):
    sc = c.scenario
    ns = sc.dns["server4"]
    kind = c.primary.kind if c.primary else "updproxy"
    say(bold("Unicast DNS-SD browse from the client namespace") +
        dim(f"   (resolver {ns} = {kind}; {c.dig}, level by level)"))
    w = c.client.walk(sc.domain)
    say(f"  {c.dig} b._dns-sd._udp.{sc.domain} PTR  ->  {len(w['domains'])} browse domains")
    by_dom = {}
    for (d, st, inst), (port, target, txt, addrs) in w["services"].items():
        by_dom.setdefault(d, []).append((st, inst, port, target, txt, addrs))
    for d in w["domains"]:
        say(f"  {bold(d)}")
        for st, inst, port, target, txt, addrs in sorted(by_dom.get(d, [])):
            say(f"    {st:<22} {pad(inst, 34)} -> {target}:{port}  {' '.join(sorted(addrs))}")
            say(dim(f"    {'':<22} TXT {short_txt(txt)}"))
    say()
    first = w["domains"][0] if w["domains"] else sc.domain
    sub = next((l.subdomain for l in sc.links if l.family == 4), first)
    say(bold("A wide-area DNS-SD client (avahi-daemon with enable-wide-area=yes) in the client "
             "namespace") + dim(f"   (avahi-browse -d {sub.rstrip('.')} -a -r -t)"))
    out = c.client.run(["timeout", "20", "avahi-browse", "-d", sub.rstrip("."), "-a", "-r", "-t",
                        "-k"], timeout=30, check=False, env=dict(os.environ, LC_ALL="C.UTF-8"))
    lines = [l for l in out.splitlines() if l.strip()]
    for l in lines[:40]:
        say("  " + (l if len(l) < 160 else l[:157] + "..."))
    if len(lines) > 40:
        say(dim(f"  ... {len(lines) - 40} more lines"))
    say(dim("  (avahi asks over UDP without EDNS and has no TCP fallback: a service whose answer "
            "exceeds 512 bytes,\n   like a printer with a full IPP TXT record, is listed (+) but "
            "not resolved (=))"))
    say()


def metrics_forward(c, port):
    """127.0.0.1:PORT in this namespace -> the proxy's metrics in the core
    namespace. Returns the URL, or None."""
    target = c.proxy.status().get("metrics")
    if not target:
        return None, None
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for p in (port, 0):
        try:
            lst.bind(("127.0.0.1", p))
            break
        except OSError:
            continue
    lst.listen(16)
    proc = c.core.popen(["/usr/bin/python3", os.path.join(ROOT, "tests", "campus", "forward.py"),
                         "--fd", str(lst.fileno()), "--to", target],
                        pass_fds=(lst.fileno(),), stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
    c.extra_procs.append(proc)
    url = f"http://127.0.0.1:{lst.getsockname()[1]}/metrics"
    lst.close()
    return url, target


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "control", "updproxy"))
    ap.add_argument("--primary", choices=["bind", "knot", "embedded"], default="embedded",
                    help="who answers the campus's DNS: the proxy itself (its dns: service, "
                         "the default), or BIND or Knot taking the proxy's UPDATEs")
    ap.add_argument("--for", dest="for_s", type=float, default=0,
                    help="stop after SECONDS of running (default: until Ctrl-C)")
    ap.add_argument("--metrics-port", type=int, default=9464)
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("scripts/campus.py: run as root (it creates network namespaces)")
    if not os.access(a.binary, os.X_OK):
        sys.exit(f"scripts/campus.py: {a.binary} not built (ninja -C build)")
    signal.signal(signal.SIGTERM, lambda *x: sys.exit(0))
    sc = Scenario.load(a.scenario) if a.scenario else Scenario.load()
    say(bold("updproxy on a simulated campus"))
    say(dim("Network namespaces stand in for the campus: each subnet is a bridge with real mDNS "
            "hosts on it,\nreaching one DPDK port of the proxy; this machine's own network is "
            "not touched."))
    say()
    c = Campus(a.binary, scenario=sc, primary=a.primary, log=lambda m: say(dim("  " + m)),
               remove_workdir=not a.keep)
    rc = 0
    try:
        with c:
            c.start_proxy()
            c.start_responders()
            c.start_client()
            try:
                t = c.wait_zone(30, "publication")
                say(dim(f"  campus: every service published into {len(sc.zones)} zones "
                        f"({t:.1f} s)"))
            except AssertionError as e:
                say(f"  warning: {str(e).splitlines()[0]}")
            say()
            show_discovered(c)
            show_walk(c)
            url, target = metrics_forward(c, a.metrics_port)
            say(bold("Running.") + f" Metrics: {url or 'off'}" +
                (dim(f"  (the proxy serves {target} in namespace {c.core.name})") if url else ""))
            say(dim("Try, as root, while it runs:"))
            say(dim(f"  nsenter -t {c.client.proc.pid} -m -n avahi-browse -a -r -t -d "
                    f"{sc.links[0].subdomain.rstrip('.')}"))
            say(dim(f"  ip netns exec {c.clientns.name} dig @{sc.dns['server4']} "
                    f"_services._dns-sd._udp.{sc.links[0].subdomain} PTR"))
            say(dim(f"  {os.path.join(os.path.dirname(a.binary), 'updproxyctl')} -s "
                    f"{c.proxy.sock} status"))
            say(dim("Ctrl-C stops it and removes every namespace." if not a.for_s else
                    f"Stopping after {a.for_s:g} s."))
            t_end = time.time() + a.for_s if a.for_s else None
            last = None
            while t_end is None or time.time() < t_end:
                st = c.proxy.status()
                now = (st.get("records"), st.get("published"), st.get("failed_changes"))
                if now != last:
                    say(f"  {time.strftime('%H:%M:%S')}  table {now[0]} records, published "
                        f"{now[1]}, failed changes {now[2]}")
                    last = now
                time.sleep(min(2.0, max(0.05, (t_end - time.time()) if t_end else 2.0)))
    except KeyboardInterrupt:
        say()
    except Exception as e:
        say(f"campus demo: {type(e).__name__}: {e}")
        if c.proxy:
            say(c.proxy.read_log()[-2000:])
        rc = 1
    say(dim("Stopped: the proxy, the DNS server and every responder; all namespaces removed."))
    return rc


if __name__ == "__main__":
    sys.exit(main())
