"""Network namespaces for the simulated campus, and running things in them.

Everything the campus creates lives in namespaces named `<prefix>-<role>`
(prefix `cmp<pid>`), so nothing is added to the root namespace: no address,
no route, no interface. Veths are created directly inside their namespaces
(`ip link add NAME netns A type veth peer name PEER netns B`), so their
names only need to be unique per namespace. Deleting the namespaces, after
the processes in them are stopped, removes every veth and bridge.

Run with /usr/bin/python3 as root.
"""
import concurrent.futures
import ctypes
import os
import re
import signal
import subprocess
import time

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


# Children get SIGKILL when the process that started them dies (setpriv
# --pdeathsig, util-linux, then exec), so a test killed outright (a test
# runner's timeout ends with SIGKILL) leaves no daemon running; the next run
# removes its namespaces.
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]

PREFIX_RE = re.compile(r"^cmp(\d+)-")


def run(cmd, check=True, timeout=30, input=None):
    """Runs a command; returns stdout (text). Raises with stderr on failure."""
    r = subprocess.run(cmd, input=input, text=True, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class Netns:
    """One network namespace. `exec_prefix` runs a command in it;
    `call(fn)` runs a Python function on a thread that entered it (sockets
    made there belong to the namespace)."""

    def __init__(self, name):
        self.name = name
        self._pool = None

    @property
    def exec_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def create(self):
        run(["ip", "netns", "add", self.name])
        self.ip("link", "set", "lo", "up")
        return self

    def ip(self, *args, check=True):
        return run(["ip", "-n", self.name, *args], check=check)

    def sysctl(self, key, value, check=False):
        return run(self.exec_prefix + ["sysctl", "-qw", f"{key}={value}"], check=check)

    def sh(self, *cmd, check=True, timeout=30):
        return run(self.exec_prefix + list(cmd), check=check, timeout=timeout)

    def popen(self, cmd, **kw):
        kw.setdefault("start_new_session", True)
        return subprocess.Popen(DIE_WITH_PARENT + self.exec_prefix + list(cmd), **kw)

    def _enter(self):
        fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, f"setns {self.name}: {os.strerror(e)}")
        finally:
            os.close(fd)

    def call(self, fn, *args, timeout=60, **kw):
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(1, initializer=self._enter)
        return self._pool.submit(fn, *args, **kw).result(timeout=timeout)

    def pids(self):
        out = run(["ip", "netns", "pids", self.name], check=False)
        return [int(p) for p in out.split() if p.isdigit()]

    def kill_all(self, grace=3.0):
        """Stops every process left in the namespace (all started by the
        campus): SIGTERM, then SIGKILL after `grace` seconds."""
        pids = self.pids()
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.time() + grace
        while pids and time.time() < deadline:
            pids = [p for p in pids if pid_alive(p) and p in self.pids()]
            time.sleep(0.05)
        for p in self.pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_now(self):
        """SIGKILL to everything in the namespace, then delete it: for an
        abort, when there is no time for a clean stop."""
        for p in self.pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        run(["ip", "netns", "del", self.name], check=False, timeout=5)

    def delete(self):
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.kill_all()
        run(["ip", "netns", "del", self.name], check=False)

    def exists(self):
        return os.path.exists(f"/run/netns/{self.name}")


def veth(a, a_name, b, b_name):
    """A veth pair with one end in namespace `a` and the other in `b`."""
    run(["ip", "-n", a.name, "link", "add", a_name, "type", "veth",
         "peer", "name", b_name, "netns", b.name])


def list_namespaces():
    out = run(["ip", "netns", "list"], check=False)
    return [l.split()[0] for l in out.splitlines() if l.strip()]


def remove_stale(prefix_re=PREFIX_RE, log=print):
    """Removes campus namespaces left by a run that died without cleaning up
    (its pid is gone): the processes in them are stopped first."""
    removed = []
    for name in list_namespaces():
        m = prefix_re.match(name)
        if not m or pid_alive(int(m.group(1))):
            continue
        Netns(name).delete()
        removed.append(name)
    if removed and log:
        log(f"campus: removed {len(removed)} namespaces left by a dead run: {' '.join(removed)}")
    return removed
