"""End to end on a simulated campus (issue 8): real mDNS responders
(avahi-daemon, python-zeroconf) in network namespaces on three subnets
(IPv4 + IPv6 each), the proxy on one DPDK port (net_af_packet) per subnet,
a real authoritative primary (BIND 9 or Knot DNS) receiving its
TSIG-signed UPDATEs, and a real wide-area DNS-SD client (avahi-browse
through a wide-area avahi-daemon, dig/kdig walking the browse tree) in a
client namespace. The campus is tests/campus/ (scenarios/campus.json); the
demo (scripts/campus.py) runs the same one.

Checks, in order, for either primary:
  publication      every zone holds exactly the live set (AXFR; every record
                   compared: browse PTRs, PTR and subtype PTRs, SRV, TXT,
                   A/AAAA, _services enumeration) under the right subdomain;
                   the host with only link-local addresses appears nowhere
  unicast walk     from the client, dig (BIND) or kdig (Knot):
                   b._dns-sd._udp -> _services -> types -> instances ->
                   SRV/TXT -> A/AAAA finds exactly the expected services
  wide-area client avahi-browse -D lists every subdomain; avahi-browse -a -r
                   in each lists every service and resolves it (host, port,
                   TXT, address) -- except answers over 512 bytes, which
                   avahi cannot fetch (no TCP fallback; checked: TC=1 without
                   EDNS), noted
  TXT change       the new TXT replaces the old one
  goodbye          avahi-daemon stopped: its records leave within 5 s
  killed           SIGKILL, TTL 15 s: the records leave when the TTL runs out
  primary reset    the primary restarted with its zones reset: restored
  proxy restart    nothing changed meanwhile: the zones stay exactly the live
                   set through its enumeration and a reconciliation
  changes while    a TXT changed, a service added and one withdrawn while the
  down             proxy was down: the zones should return to the live set
  relearned        the primary reset again: what the restarted proxy knows
With the proxy's own zones (embedded), the last two report the one known
limitation as XFAIL (ISSUES: subtype PTRs after a restart); any other
difference fails. Every namespace, veth, bridge and process is
removed, pass or fail.

usage: campus_test.py UPDPROXY_BINARY [--primary bind|knot|embedded] [--keep]
Root. Exit 77 (skip) for --primary embedded until the daemon serves zones
itself (the hook: tests/campus/fixture.py embedded_query_section).
"""
import argparse
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "campus"))

import dns.rdatatype  # noqa: E402

from client import split_parsable  # noqa: E402
from fixture import Campus, embedded_query_section  # noqa: E402
from scenario import dname  # noqa: E402

SKIP = 77


def fold(s):
    """DNS names compare case-insensitively, ASCII letters only (RFC 4343);
    Knot DNS hands names back in lower case."""
    return s.encode("utf-8").lower().decode("utf-8") if isinstance(s, str) else s


def fold_services(services):
    return {tuple(fold(x) for x in k): (v[0], fold(v[1]), v[2], v[3]) for k, v in services.items()}


class Run:
    def __init__(self):
        self.failures = []
        self.known = []
        self.timings = []

    def ok(self, msg):
        print(f"ok    {msg}", flush=True)

    def fail(self, msg):
        print(f"FAIL  {msg}", flush=True)
        self.failures.append(msg)

    def note(self, msg):
        print(f"note  {msg}", flush=True)

    def xfail(self, msg):
        print(f"XFAIL {msg}", flush=True)
        self.known.append(msg)

    def step(self, name, fn):
        t = time.time()
        try:
            fn()
        except AssertionError as e:
            self.fail(f"{name}: {e}")
        except Exception as e:  # a helper broke: report it, go on with the rest
            self.fail(f"{name}: {type(e).__name__}: {e}")
        self.timings.append((name, time.time() - t))


def check_publication(c, run):
    t = c.wait_zone(30, "initial publication")
    sc = c.scenario
    n = len(sc.expected_services())
    run.ok(f"publication: {n} services on {len(sc.links)} links, every zone exactly the live set "
           f"({sum(len(z) for z in sc.expected_records().values())} records) {t:.1f} s after the "
           f"responders finished announcing")
    # The link-local-only host: nowhere, under any name.
    hidden = [h for h in sc.hosts if h.link_local_only]
    for h in hidden:
        words = [h.name.encode()] + [s.name.encode() for s in h.services]
        for z in sc.zones:
            for owner, rtype, rd in c.axfr(z):
                text = owner.to_wire() + rd.to_digestable()
                if any(w.lower() in text.lower() for w in words):
                    raise AssertionError(f"link-local-only host {h.name} appears in {z}: "
                                         f"{owner} {dns.rdatatype.to_text(rtype)} {rd}")
    if hidden:
        run.ok(f"link-local only host ({', '.join(h.name for h in hidden)}: "
               f"{', '.join(a for h in hidden for a in h.v4 + h.v6)}) not published")


def check_walk(c, run):
    sc = c.scenario
    t = time.time()
    w = c.client.walk(sc.domain)
    exp_domains = sorted({l.subdomain for l in sc.links})
    if sorted(w["domains"]) != exp_domains:
        raise AssertionError(f"b._dns-sd._udp.{sc.domain} lists {w['domains']}, expected {exp_domains}")
    exp = fold_services(sc.expected_services())
    got = fold_services(w["services"])
    cased = sum(1 for (_d, _t, n) in w["services"] if n != fold(n))
    problems = []
    for k in sorted(exp.keys() - got.keys()):
        problems.append(f"not found by the walk: {k}")
    for k in sorted(got.keys() - exp.keys()):
        problems.append(f"found but not expected: {k} -> {got[k]}")
    for k in sorted(exp.keys() & got.keys()):
        if got[k] != exp[k]:
            problems.append(f"{k}: walk found {got[k]}, expected {exp[k]}")
    if problems:
        raise AssertionError("unicast walk:\n    " + "\n    ".join(problems))
    run.ok(f"unicast DNS-SD walk from the client ({c.dig}): {len(w['domains'])} browse domains, "
           f"{sum(len(v) for v in w['types'].values())} service types, {len(got)} instances with "
           f"the right SRV/TXT/addresses ({time.time() - t:.1f} s)")
    if not cased and any(n != fold(n) for (d, t, n) in sc.expected_services()):
        run.note(f"{c.primary.kind if c.primary else 'the server'} answers every instance name "
               f"in lower case (e.g. {sorted(w['services'])[0][2]!r}): DNS-SD browsers show it so")


def check_avahi(c, run):
    sc = c.scenario
    t = time.time()
    out = c.client.run(["timeout", "20", "avahi-browse", "-D", "-d", sc.domain.rstrip("."),
                        "-t", "-p", "-k"], timeout=30, check=False)
    listed = {l.split(";")[-1].strip() + "." for l in out.splitlines() if l.startswith("+;")}
    missing = {l.subdomain for l in sc.links} - listed
    if missing:
        raise AssertionError(f"avahi-browse -D -d {sc.domain} misses {sorted(missing)}: {out!r}")
    exp = sc.expected_services()
    problems, resolved, browse_only = [], 0, []
    for sub in sorted({l.subdomain for l in sc.links}):
        found, raw = c.client.avahi_browse(sub)
        browsed = set()
        for line in raw.splitlines():
            f = split_parsable(line)
            if f and f[0] == "+" and len(f) >= 6:
                browsed.add((fold(f[4]), fold(f[3])))
        found = {(fold(t), fold(n)): e for (t, n), e in found.items()}
        for (d, stype, name), (port, target, txt, addrs) in exp.items():
            if d != sub:
                continue
            if (fold(stype), fold(name)) not in browsed:
                problems.append(f"{sub}: avahi-browse did not list {name!r} ({stype})")
                continue
            e = found.get((fold(stype), fold(name)))
            if e is None:
                # avahi's wide-area resolver asks over UDP without EDNS and
                # has no TCP fallback: an answer over 512 bytes is truncated.
                inst = dname((name,) + tuple(stype.split(".")), dns.name.from_text(sub))
                hdr = c.client.run(["dig", "+noedns", "+ignore", "+noall", "+comments",
                                    inst.to_text(), "TXT"])
                if " tc" in hdr.split("flags:", 1)[-1].split(";", 1)[0]:
                    browse_only.append(f"{name} ({stype}, {sub})")
                    continue
                problems.append(f"{sub}: avahi-browse listed but did not resolve {name!r} ({stype})")
                continue
            resolved += 1
            if fold(e["host"]) + "." != fold(target) or e["port"] != port or sorted(e["txt"]) != sorted(txt) \
                    or not e["addrs"] <= addrs:
                problems.append(f"{sub}: avahi resolved {name!r} ({stype}) as {e}, expected "
                                f"host {target} port {port} txt {txt} addresses {addrs}")
    if problems:
        raise AssertionError("wide-area client (avahi-browse):\n    " + "\n    ".join(problems))
    run.ok(f"wide-area client: avahi-browse -D lists all {len(sc.links)} subdomains; avahi-browse "
           f"-a -r found all {len(exp)} services, resolved {resolved} with the right host, port, "
           f"TXT and address ({time.time() - t:.1f} s)")
    if browse_only:
        run.note(f"wide-area client: {len(browse_only)} listed but not resolvable by avahi: their TXT "
               f"answer exceeds 512 bytes (TC=1 without EDNS) and avahi has no TCP fallback: "
               + "; ".join(browse_only[:4]) + (" ..." if len(browse_only) > 4 else ""))


def check_txt_change(c, run):
    host, svc = c.scenario.service("Lesesaal Süd — Chromecast")
    new = [("st=1" if t == "st=0" else "rs=YouTube" if t == "rs=" else t) for t in svc.txt]
    t0 = time.time()
    c.responders[host.name].set_txt(svc, new)
    t_call = time.time() - t0
    c.wait_zone(10, "TXT change")
    run.ok(f"TXT change ({svc.name}: st=1 rs=YouTube): the new TXT, and only it, in both "
           f"subdomains {time.time() - t0:.1f} s after the responder's update (its "
           f"announcements took {t_call:.1f} s)")


def check_goodbye(c, run):
    r = c.responders["lib-server"]
    names = ", ".join(s.name for s in r.host.services)
    t0 = time.time()
    r.stop()   # avahi-daemon SIGTERM: goodbye (TTL 0) for every record
    c.wait_zone(10, "goodbye")
    dt = time.time() - t0
    if dt > 5:
        raise AssertionError(f"records left {dt:.1f} s after the goodbye (limit 5 s)")
    run.ok(f"goodbye: avahi-daemon on {r.host.name} stopped ({names}): its records left "
           f"{c.primary.kind if c.primary else 'the zones'} {dt:.1f} s later")


def check_killed(c, run):
    r = c.responders["dorm-speaker"]
    ttl = r.host.ttl
    t0 = time.time()
    r.kill()   # SIGKILL: no goodbye
    time.sleep(1)
    still = [d for d in c.zone_diff() if d[0] == "unexpected"]
    if not still:
        raise AssertionError("the killed host's records left within 1 s, as if it had said goodbye")
    c.wait_zone(ttl + 15, "killed responder's records expire")
    dt = time.time() - t0
    run.ok(f"killed without goodbye ({r.host.name}, TTL {ttl} s): its {len(still)} records were "
           f"still there 1 s later and left {dt:.1f} s after the kill (TTL expiry)")


def check_primary_reset(c, run, when=""):
    c.primary.restart(reset=True)
    if not any(d[0] == "missing" for d in c.zone_diff()):
        run.fail("the restarted primary's zones were not empty")
    dt = c.wait_zone(3 * c.reconcile_interval + 20, f"{c.primary.kind} restarted with reset zones")
    run.ok(f"{c.primary.kind} restarted with its zones reset{when}: every record restored by the "
           f"proxy {dt:.1f} s later (reconcile_interval {c.reconcile_interval} s)")


def check_proxy_restart(c, run):
    """Restarted with nothing changed: the zones stay exactly the live set
    through its enumeration and a reconciliation (nothing removed, nothing
    doubled), and it reports no failure."""
    t0 = time.time()
    rc = c.stop_proxy()
    if rc != 0:
        run.fail(f"proxy exit code {rc} on SIGTERM")
    c.start_proxy()
    down = time.time() - t0
    if c.primary is None:
        # The embedded service: the zones went away with the process, so
        # they cannot stay; they must come back to exactly the live set
        # from the restarted proxy's enumeration.
        try:
            dt = c.wait_zone(12, "the embedded zones after a restart")
            run.ok(f"proxy restarted ({down:.1f} s): its own zones back to exactly the live set "
                   f"{dt:.1f} s later (enumeration)")
            return
        except AssertionError:
            pass
        known, other = classify(c, c.zone_diff())
        report_known(run, "embedded zones after a restart", known, other)
        return
    watch = 8 + c.reconcile_interval
    deadline = time.time() + watch
    while time.time() < deadline:
        problems = c.zone_problems()
        if problems:
            raise AssertionError("zones changed after the restart:\n    " + "\n    ".join(problems))
        time.sleep(0.5)
    st = c.proxy.status()
    if st.get("failed_changes"):
        raise AssertionError(f"failed_changes after the restart: {st}")
    run.ok(f"proxy restarted ({down:.1f} s): every zone stayed exactly the live set through its "
           f"enumeration and a reconciliation ({watch} s), no duplicates, no failed changes")


def classify(c, diff):
    """Sorts zone differences after a restart into the known issues (ISSUES);
    returns ({issue: [text]}, [text of anything else])."""
    embedded = c.primary is None
    known, other = {}, []
    for d in diff:
        kind, zone, owner, rtype, rd, origin = d
        text = c.describe(d)
        # Only with the proxy's own zones (no external primary): they live in
        # the process, so a restart loses subtype PTRs until the host's next
        # announcement. With BIND or Knot the read-back keeps them, and any
        # difference fails.
        if embedded and kind == "missing" and b"_sub" in owner.labels:
            known.setdefault("S", []).append(text)
        else:
            other.append(text)
    return known, other


ISSUES = {
    "S": "subtype PTRs (_x._sub._type) are not relearned after a restart: enumeration cannot find "
         "subtypes; only the host's next announcement brings them back",
}


def report_known(run, what, known, other):
    for issue, texts in sorted(known.items()):
        run.xfail(f"{what}: known issue {issue}: {ISSUES[issue]} ({len(texts)} records, e.g. "
                  f"{texts[0]})")
    if other:
        raise AssertionError(f"{what}:\n    " + "\n    ".join(other[:30]))


def check_changes_while_down(c, run):
    """Stopped; meanwhile an avahi service changes its TXT, a zeroconf host
    registers a service and another withdraws one (goodbye); started: the
    zones should return to the live set."""
    sc = c.scenario
    from scenario import Service
    c.stop_proxy()
    host, pdl = sc.service("Eng Color LaserJet 4.0 (Süd)", "_pdl-datastream._tcp")
    c.responders[host.name].set_txt(pdl, [("priority=50" if t == "priority=40" else t)
                                         for t in pdl.txt])
    new = Service({"name": "Lobby Display", "type": "_airplay._tcp", "port": 7000,
                   "txt": ["deviceid=A8:51:AB:99:00:01", "model=AppleTV14,1", "srcvers=770.8.1"]})
    c.responders["eng-appletv"].add(new)
    h2, gone = sc.service("Zimmer 3-14 Lautsprecher (Sonos)")
    c.responders[h2.name].withdraw(gone)
    c.start_proxy()
    try:
        # Enumeration takes three steps 2 s apart: 12 s is ample.
        dt = c.wait_zone(12, "after a restart with changes while down")
        run.ok(f"proxy restarted after a TXT change, a new service and a withdrawn one while it "
               f"was down: every zone exactly the live set {dt:.1f} s later")
        return
    except AssertionError:
        pass
    known, other = classify(c, c.zone_diff())
    report_known(run, "restart with changes while down", known, other)


def check_relearned(c, run):
    """What the restarted proxy knows: the primary's zones, reset once more,
    get back only what it re-publishes."""
    c.primary.restart(reset=True)
    try:
        dt = c.wait_zone(2 * c.reconcile_interval + 5, "reset after the proxy restarted")
        run.ok(f"{c.primary.kind} reset after the proxy restarted: every record restored "
               f"{dt:.1f} s later (the restarted proxy relearned the whole campus)")
        return
    except AssertionError:
        pass
    known, other = classify(c, c.zone_diff())
    report_known(run, f"{c.primary.kind} reset after the proxy restarted", known, other)


def check_demo(binary, script):
    """The README's demo, bounded: it must show every subnet's services, the
    client's unicast browse and the metrics URL, exit 0 and leave nothing."""
    import re
    import subprocess
    import ns as nsmod
    from scenario import Scenario
    before = set(nsmod.list_namespaces())
    t = time.time()
    r = subprocess.run(["/usr/bin/python3", script, "--binary", binary, "--for", "3",
                        "--metrics-port", "0"], text=True, encoding="utf-8",
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=150)
    out = r.stdout
    problems = []
    if r.returncode != 0:
        problems.append(f"exit code {r.returncode}")
    sc = Scenario.load()
    for s in sc.subnets:
        if not re.search(rf"^  \S*{re.escape(s.name)}\S*\s+{re.escape(s.v4)}", out, re.M):
            problems.append(f"no section for subnet {s.name}")
    for h in sc.hosts:
        for svc in h.services:
            if svc.name not in out:
                problems.append(f"service {svc.name!r} not shown")
    if f"b._dns-sd._udp.{sc.domain} PTR  ->  {len(sc.links)} browse domains" not in out:
        problems.append("no unicast browse from the client")
    if not re.search(r"Metrics: http://127\.0\.0\.1:\d+/metrics", out):
        problems.append("no metrics URL")
    # Only the campus's own (cmp<pid>-...): other tests may be running.
    left = {n for n in set(nsmod.list_namespaces()) - before if nsmod.PREFIX_RE.match(n)}
    if left:
        problems.append(f"namespaces left: {sorted(left)}")
    if problems:
        print(out)
        print("demo: FAIL\n  " + "\n  ".join(problems))
        return 1
    print(f"ok    demo (scripts/campus.py --for 3): every subnet's services, the client's unicast "
          f"browse and the metrics URL shown; exit 0; nothing left ({time.time() - t:.1f} s)")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--primary", choices=["bind", "knot", "embedded"], default="bind")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--demo", metavar="CAMPUS_PY",
                    help="instead: run the demo (scripts/campus.py --for 3) and check its output")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("SKIP: needs root (network namespaces)")
        sys.exit(SKIP)
    # SIGTERM (a test timeout) unwinds through the finally blocks.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *a: sys.exit(129))
    t_start = time.time()
    if args.demo:
        sys.exit(check_demo(args.binary, args.demo))
    run = Run()
    c = Campus(args.binary, primary=args.primary)
    if args.primary == "embedded" and embedded_query_section(c) is None:
        print("SKIP: the embedded query service is not wired into the daemon yet; "
              "hook: tests/campus/fixture.py embedded_query_section()")
        shutil.rmtree(c.workdir, ignore_errors=True)
        sys.exit(SKIP)

    def on_signal(signo, _frame):
        print(f"campus test: signal {signo}: tearing down", flush=True)
        c.abort()
        os._exit(128 + signo)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        with c:
            c.start_proxy()
            c.start_responders()
            c.start_client()
            run.step("publication", lambda: check_publication(c, run))
            run.step("unicast walk", lambda: check_walk(c, run))
            run.step("wide-area client", lambda: check_avahi(c, run))
            run.step("TXT change", lambda: check_txt_change(c, run))
            run.step("goodbye", lambda: check_goodbye(c, run))
            run.step("killed", lambda: check_killed(c, run))
            if c.primary:   # BIND or Knot; the embedded service has no server to reset
                run.step("primary reset", lambda: check_primary_reset(c, run))
            run.step("proxy restart", lambda: check_proxy_restart(c, run))
            run.step("changes while down", lambda: check_changes_while_down(c, run))
            if c.primary:
                run.step("relearned", lambda: check_relearned(c, run))
            st = c.proxy.status()
            if st.get("failed_changes", 0):
                run.fail(f"failed_changes {st['failed_changes']} (status {st})")
            rc = c.stop_proxy()
            if rc != 0:
                run.fail(f"proxy exit code {rc} on SIGTERM")
            if run.failures:
                print("---- updproxy log (tail)\n" + c.proxy.read_log()[-3000:])
                if c.primary:
                    print(f"---- {c.primary.kind} log (tail)\n" + c.primary.log_tail(2000))
    except Exception as e:
        run.fail(f"{type(e).__name__}: {e}")
        if c.proxy:
            print("---- updproxy log (tail)\n" + c.proxy.read_log()[-3000:])
    # After teardown: nothing of ours is left.
    import ns as nsmod
    left = [n for n in nsmod.list_namespaces() if n.startswith(c.prefix + "-")]
    if left:
        run.fail(f"namespaces left behind: {left}")
    else:
        run.ok(f"teardown: all {len(c.namespaces)} namespaces (and their veths, bridges and "
               f"processes) removed")
    print("timings: " + ", ".join(f"{n} {t:.1f} s" for n, t in run.timings)
          + f"; total {time.time() - t_start:.1f} s")
    if run.failures or args.keep:
        print(f"work directory kept: {c.workdir}")
    else:
        shutil.rmtree(c.workdir, ignore_errors=True)
    if run.failures:
        print(f"campus test ({args.primary}): FAIL\n  " + "\n  ".join(run.failures))
        sys.exit(1)
    print(f"campus test ({args.primary}): ok" + (f" ({len(run.known)} known issues)" if run.known else ""))


if __name__ == "__main__":
    main()
