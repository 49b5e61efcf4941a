"""Real mDNS responders for the campus hosts, each in its host's namespace:

- AvahiHost: avahi-daemon with enable-dbus=no, allow-interfaces=eth0, its
  services from XML files in a directory bind-mounted over
  /etc/avahi/services inside a private mount namespace (`unshare -m`), with
  a private tmpfs /run (pid file, socket);
- ZeroconfHost: python-zeroconf (tests/campus/zc_agent.py) driven over a pipe.

stop() is a clean exit (goodbye packets, TTL 0); kill() is SIGKILL (no goodbye).
"""
import json
import os
import queue
import signal
import subprocess
import threading
import time
from xml.sax.saxutils import escape

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(HERE, "zc_agent.py")
PYTHON = "/usr/bin/python3"

AVAHI_HOST_CONF = """[server]
host-name={host}
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces={iface}
enable-dbus=no
ratelimit-interval-usec=1000000
ratelimit-burst=1000

[wide-area]
enable-wide-area=no

[publish]
publish-hinfo=no
publish-workstation=no
publish-addresses=yes

[reflector]
enable-reflector=no

[rlimits]
"""

# A private mount namespace with its own /run: the daemon's pid file and
# socket stay out of the host's /run; `$1` is mounted over /etc/avahi/services.
MOUNT_SCRIPT = r"""
set -e
resolv=$(readlink -f /etc/resolv.conf)
mount -t tmpfs campus-run /run
mkdir -p /run/avahi-daemon /run/dbus
if [ -n "$2" ]; then
  case "$resolv" in
    /run/*) mkdir -p "$(dirname "$resolv")"; cp "$2" "$resolv" ;;
    *) mount --bind "$2" /etc/resolv.conf ;;
  esac
fi
mount --bind "$1" /etc/avahi/services
shift 2
exec "$@"
"""


def private_mounts_cmd(services_dir, resolv, cmd):
    """`unshare -m` + MOUNT_SCRIPT, then exec `cmd`."""
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", MOUNT_SCRIPT,
            "campus-mounts", services_dir, resolv or ""] + list(cmd)


def avahi_service_xml(svc):
    subtypes = "".join(f"    <subtype>{escape(st)}._sub.{escape(svc.type)}</subtype>\n"
                       for st in svc.subtypes)
    txt = "".join(f"    <txt-record>{escape(t)}</txt-record>\n" for t in svc.txt)
    return ("<?xml version=\"1.0\" standalone='no'?>\n"
            "<!DOCTYPE service-group SYSTEM \"avahi-service.dtd\">\n"
            "<service-group>\n"
            f"  <name replace-wildcards=\"no\">{escape(svc.name)}</name>\n"
            "  <service>\n"
            f"    <type>{escape(svc.type)}</type>\n"
            f"{subtypes}"
            f"    <port>{svc.port}</port>\n"
            f"{txt}"
            "  </service>\n"
            "</service-group>\n")


class AvahiHost:
    def __init__(self, ns, host, workdir, iface="eth0"):
        self.ns = ns
        self.host = host
        self.dir = os.path.join(workdir, f"avahi-{host.name}")
        self.svcdir = os.path.join(self.dir, "services")
        os.makedirs(self.svcdir, exist_ok=True)
        self.conf = os.path.join(self.dir, "avahi-daemon.conf")
        with open(self.conf, "w") as f:
            f.write(AVAHI_HOST_CONF.format(host=host.name, iface=iface))
        self.log = os.path.join(self.dir, "avahi.log")
        self.proc = None
        self.write_services()

    def write_services(self):
        """Writes one file per live service, leaving unchanged files alone
        (avahi reloads only the files that changed); returns how many were
        written."""
        want = {f"s{i}.service": avahi_service_xml(s)
                for i, s in enumerate(self.host.services) if s.live}
        for f in os.listdir(self.svcdir):
            if f not in want:
                os.remove(os.path.join(self.svcdir, f))
        written = 0
        for f, text in want.items():
            path = os.path.join(self.svcdir, f)
            try:
                with open(path, encoding="utf-8") as old:
                    if old.read() == text:
                        continue
            except FileNotFoundError:
                pass
            with open(path, "w", encoding="utf-8") as out:
                out.write(text)
            written += 1
        return written

    def start(self, wait=True):
        self.logf = open(self.log, "a")
        self.proc = self.ns.popen(
            private_mounts_cmd(self.svcdir, None,
                               ["avahi-daemon", "-f", self.conf, "--no-drop-root", "--no-chroot",
                                "--no-rlimits"]),
            stdout=self.logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_established()
        return self

    def wait_established(self, timeout=20):
        want = sum(1 for s in self.host.services if s.live)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"avahi-daemon ({self.host.name}) exited: {self.read_log()[-1500:]}")
            log = self.read_log()
            if "Server startup complete" in log and log.count("successfully established") >= want:
                return
            time.sleep(0.1)
        raise RuntimeError(f"avahi-daemon ({self.host.name}) did not establish its services: "
                           + self.read_log()[-1500:])

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def reload(self, timeout=20):
        """Rewrites the service files and SIGHUPs the daemon, which withdraws
        the old service groups (goodbye) and announces the new ones."""
        before = self.read_log().count("successfully established")
        reloads = self.read_log().count("Got SIGHUP")
        want = self.write_services()
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + timeout
        while time.time() < deadline:
            log = self.read_log()
            if log.count("Got SIGHUP") > reloads and \
                    log.count("successfully established") >= before + want:
                return
            time.sleep(0.1)
        raise RuntimeError(f"avahi-daemon ({self.host.name}) did not re-establish its services "
                           "after SIGHUP: " + self.read_log()[-1500:])

    def set_txt(self, svc, txt):
        svc.txt = list(txt)
        self.reload()

    def withdraw(self, svc):
        svc.live = False
        self.reload()

    def add(self, svc):
        self.host.services.append(svc)
        self.reload()

    def stop(self):
        """SIGTERM: avahi sends goodbyes for every record, then exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.host.live = False

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.host.live = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


class ZeroconfHost:
    def __init__(self, ns, host, workdir):
        self.ns = ns
        self.host = host
        self.log = os.path.join(workdir, f"zeroconf-{host.name}.log")
        self.proc = None

    def start(self, wait=True):
        self.logf = open(self.log, "a")
        self.proc = self.ns.popen([PYTHON, AGENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.logf, text=True, encoding="utf-8")
        self._pending = 0
        self._replies = queue.Queue()
        threading.Thread(target=self._reader, daemon=True).start()
        for s in self.host.services:
            if s.live:
                self.send(self.register_cmd(s))
        if wait:
            self.wait_established()
        return self

    def register_cmd(self, s, txt=None):
        c = {"op": "register", "name": s.name, "type": s.type, "port": s.port,
             "host": self.host.name, "addresses": self.host.v4 + self.host.v6,
             "txt": s.txt if txt is None else txt}
        if self.host.ttl:
            c["ttl"] = self.host.ttl
        return c

    def send(self, obj):
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        self._pending += 1

    def _reader(self):
        for line in self.proc.stdout:
            self._replies.put(line)
        self._replies.put("")

    def read_reply(self, timeout=30):
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"zeroconf ({self.host.name}): no reply in {timeout} s") from None
        if not line:
            raise RuntimeError(f"zeroconf ({self.host.name}) exited: {self.read_log()[-1500:]}")
        self._pending -= 1
        rep = json.loads(line)
        if not rep.get("ok"):
            raise RuntimeError(f"zeroconf ({self.host.name}): {rep.get('error')}")
        return rep

    def wait_established(self, timeout=30):
        out = []
        while self._pending > 0:
            out.append(self.read_reply(timeout))
        return out

    def call(self, obj, timeout=60):
        self.send(obj)
        return self.wait_established(timeout)[-1]

    def set_txt(self, svc, txt):
        self.call({"op": "update", "name": svc.name, "type": svc.type, "txt": txt})
        svc.txt = list(txt)

    def withdraw(self, svc):
        self.call({"op": "unregister", "name": svc.name, "type": svc.type})
        svc.live = False

    def add(self, svc):
        self.host.services.append(svc)
        self.call(self.register_cmd(svc))

    def read_log(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """Goodbyes for every service, then exit."""
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write('{"op": "quit"}\n')
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.host.live = False

    def kill(self):
        """SIGKILL: no goodbye; the records stay in caches until their TTL."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.host.live = False

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def responder_for(ns, host, workdir):
    if host.responder == "avahi":
        return AvahiHost(ns, host, workdir)
    if host.responder == "zeroconf":
        return ZeroconfHost(ns, host, workdir)
    raise ValueError(f"{host.name}: unknown responder {host.responder!r}")
