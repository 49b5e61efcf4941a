"""The campus client: a namespace on the services link whose resolver
(/etc/resolv.conf, in its private mount namespace) points at the campus's
DNS server, with the real wide-area DNS-SD client stack:

- dbus-daemon --system and avahi-daemon with [wide-area] enable-wide-area=yes
  and browse-domains, in a private mount namespace (tmpfs /run, resolv.conf
  bind-mounted); `avahi-browse -d DOMAIN -a -t -r -p` runs inside it;
- dig / kdig walking b._dns-sd._udp -> _services._dns-sd._udp -> service
  types -> instances -> SRV/TXT -> A/AAAA, as a unicast DNS-SD browser does.
"""
import os
import subprocess
import time

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from responders import private_mounts_cmd

AVAHI_CLIENT_CONF = """[server]
host-name=campus-client
domain-name=local
browse-domains={browse}
use-ipv4=yes
use-ipv6=yes
allow-interfaces={iface}
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=yes

[publish]
disable-publishing=yes

[reflector]
enable-reflector=no

[rlimits]
"""

# The session's process is `sleep` in the end (this shell exec'ed): the bus
# and avahi die with it (setpriv --pdeathsig), however it ends.
SESSION = r"""
setpriv --pdeathsig KILL -- dbus-daemon --system --nofork --nopidfile &
i=0
while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
setpriv --pdeathsig KILL -- avahi-daemon -f "$0" --no-drop-root --no-chroot --no-rlimits &
exec sleep infinity
"""


class Client:
    def __init__(self, ns, workdir, nameserver, search, browse_domains, iface="eth0",
                 dig="dig"):
        self.ns = ns
        self.dir = os.path.join(workdir, "client")
        os.makedirs(os.path.join(self.dir, "services"), exist_ok=True)
        self.resolv = os.path.join(self.dir, "resolv.conf")
        with open(self.resolv, "w") as f:
            f.write(f"nameserver {nameserver}\nsearch {search}\noptions timeout:2 attempts:2\n")
        self.conf = os.path.join(self.dir, "avahi-daemon.conf")
        with open(self.conf, "w") as f:
            f.write(AVAHI_CLIENT_CONF.format(browse=",".join(d.rstrip(".") for d in browse_domains),
                                             iface=iface))
        self.log = os.path.join(self.dir, "session.log")
        self.dig = dig
        self.proc = None

    def start(self, timeout=20):
        self.logf = open(self.log, "a")
        self.proc = self.ns.popen(
            private_mounts_cmd(os.path.join(self.dir, "services"), self.resolv,
                               ["sh", "-c", SESSION, self.conf]),
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("client session exited: " + self.read_log()[-1500:])
            if "Server startup complete" in self.read_log():
                return self
            time.sleep(0.1)
        raise RuntimeError("client avahi-daemon did not start: " + self.read_log()[-1500:])

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def run(self, cmd, timeout=30, check=True, env=None):
        """Runs `cmd` inside the client's network and mount namespaces."""
        r = subprocess.run(["nsenter", "-t", str(self.proc.pid), "-m", "-n"] + list(cmd),
                           text=True, encoding="utf-8", errors="replace", env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} (client): exit {r.returncode}: {r.stderr.strip()}")
        return r.stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # dbus-daemon and avahi-daemon die with it (SIGKILL); the fixture
        # also stops every process left in the namespace before deleting it.

    # ---- unicast DNS-SD walk with dig / kdig ----

    def query(self, questions):
        """One dig/kdig run for many (name, type) questions, through the
        client's resolver; returns {(owner, rdtype): [rdata]}."""
        if not questions:
            return {}
        # kdig would apply IDNA to UTF-8 labels: names are DNS-SD's raw UTF-8.
        opts = ["+retry=1", "+noidn"] if self.dig == "kdig" else ["+tries=2"]
        args = [self.dig, "+noall", "+answer", "+time=2"] + opts
        for name, rtype in questions:
            args += [name.to_text() if hasattr(name, "to_text") else name, rtype]
        out = self.run(args)
        res = {}
        for line in out.splitlines():
            line = line.strip()
            if not line or line.startswith(";"):
                continue
            parts = line.split(None, 4)
            if len(parts) < 5 or parts[2] != "IN":
                continue
            owner, _ttl, _cls, rtype, rdtext = parts
            rt = dns.rdatatype.from_text(rtype)
            rd = dns.rdata.from_text(dns.rdataclass.IN, rt, rdtext)
            res.setdefault((dns.name.from_text(owner), rt), []).append(rd)
        return res

    def walk(self, domain):
        """The unicast DNS-SD browse, level by level:
        {"domains": [...], "services": {(sub, type, instance): (port, target, [txt], {addrs})}}"""
        T = dns.rdatatype
        parent = dns.name.from_text(domain)
        b = dns.name.Name((b"b", b"_dns-sd", b"_udp") + parent.labels)
        r = self.query([(b, "PTR")])
        domains = sorted({rd.target for rd in r.get((b, T.PTR), [])})
        enum = {d: dns.name.Name((b"_services", b"_dns-sd", b"_udp") + d.labels) for d in domains}
        r = self.query([(e, "PTR") for e in enum.values()])
        types = {d: sorted({rd.target for rd in r.get((e, T.PTR), [])}) for d, e in enum.items()}
        tq = [(t, "PTR") for d in domains for t in types[d]]
        r = self.query(tq)
        inst = {}
        for d in domains:
            for t in types[d]:
                for rd in r.get((t, T.PTR), []):
                    inst[rd.target] = (d, t)
        r = self.query([q for i in inst for q in ((i, "SRV"), (i, "TXT"))])
        srv = {i: r.get((i, T.SRV), []) for i in inst}
        txt = {i: r.get((i, T.TXT), []) for i in inst}
        targets = {s.target for ss in srv.values() for s in ss}
        r = self.query([q for t in targets for q in ((t, "A"), (t, "AAAA"))])
        addrs = {t: {rd.address for k in ((t, T.A), (t, T.AAAA)) for rd in r.get(k, [])}
                 for t in targets}
        services = {}
        for i, (d, t) in inst.items():
            label = i.labels[0].decode("utf-8", "replace")
            stype = ".".join(l.decode() for l in t.labels[:2])
            s = srv[i][0] if srv[i] else None
            tx = [x.decode("utf-8", "replace") for x in txt[i][0].strings] if txt[i] else None
            if tx == [""]:
                tx = []
            services[(d.to_text(), stype, label)] = (
                s.port if s else None, s.target.to_text() if s else None, tx,
                addrs.get(s.target, set()) if s else set())
        return {"domains": [d.to_text() for d in domains], "types": types, "services": services}

    # ---- avahi-browse (wide-area) ----

    def avahi_browse(self, domain, timeout=30):
        """`avahi-browse -d DOMAIN -a -t -r -p`: the resolved services,
        {(type, instance): {"host", "addrs", "port", "txt"}} (decoded)."""
        out = self.run(["timeout", str(timeout), "avahi-browse", "-d", domain.rstrip("."),
                        "-a", "-t", "-r", "-p", "-k"], timeout=timeout + 5, check=False)
        found = {}
        for line in out.splitlines():
            f = split_parsable(line)
            if not f or f[0] != "=" or len(f) < 10:
                continue
            _, _iface, _proto, name, stype, dom, host, addr, port, txt = f[:10]
            e = found.setdefault((stype, name), {"host": host, "addrs": set(), "port": int(port),
                                                 "txt": parse_avahi_txt(txt), "domain": dom})
            e["addrs"].add(addr)
        return found, out


def unescape_avahi(s):
    """avahi-browse -p escapes '.', '\\', ';' and non-printables as \\DDD or \\c."""
    out = bytearray()
    i = 0
    b = s.encode("utf-8", "surrogateescape")
    while i < len(b):
        c = b[i]
        if c == 0x5C and i + 3 < len(b) + 0 and b[i + 1:i + 4].isdigit():
            out.append(int(b[i + 1:i + 4]))
            i += 4
        elif c == 0x5C and i + 1 < len(b):
            out.append(b[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "replace")


def split_parsable(line):
    """Splits an avahi-browse -p line on unescaped ';' and unescapes fields."""
    fields, cur, i = [], "", 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            cur += line[i:i + 2]
            i += 2
            continue
        if c == ";":
            fields.append(cur)
            cur = ""
        else:
            cur += c
        i += 1
    fields.append(cur)
    if len(fields) >= 10:
        # The TXT field keeps its quoting; every other field is a plain string.
        fields = [unescape_avahi(x) for x in fields[:9]] + [";".join(fields[9:])]
    else:
        fields = [unescape_avahi(x) for x in fields]
    return fields


def parse_avahi_txt(s):
    """'"a=1" "b=2"' -> ["a=1", "b=2"] (avahi-browse lists TXT strings in
    reverse order of the record; the caller compares as sets/sorted)."""
    out, cur, inq, i = [], "", False, 0
    while i < len(s):
        c = s[i]
        if c == '"':
            if inq:
                out.append(unescape_avahi(cur))
                cur = ""
            inq = not inq
        elif inq:
            if c == "\\" and i + 1 < len(s):
                cur += s[i:i + 2]
                i += 1
            else:
                cur += c
        i += 1
    return out
