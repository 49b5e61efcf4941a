"""Network namespaces and veth pairs for system tests, always removed.

Only documentation prefixes are used (192.0.2.0/24, 198.51.100.0/24,
203.0.113.0/24, 2001:db8::/32). Run with /usr/bin/python3 as root.
"""
import contextlib
import os
import subprocess


def sh(*args, check=True, ns=None, capture=False, timeout=None):
    cmd = [str(a) for a in args]
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, check=False, text=True, timeout=timeout,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout if capture else r.returncode


def dpdk_yaml(iface, file_prefix, no_huge=True, extra_args=None):
    """The daemon configuration's `dpdk:` and `ports:` sections for one
    net_af_packet port (`trunk`) on the veth `iface`."""
    extra = f"  extra_args: [{', '.join(extra_args)}]\n" if extra_args else ""
    return (f"dpdk:\n"
            f"  lcores: [0, 1]\n"
            f"  memory_mb: 256\n"
            + ("  no_huge: true\n" if no_huge else "") +
            f"  file_prefix: {file_prefix}\n"
            f"  vdevs: [\"net_af_packet0,iface={iface}\"]\n"
            + extra +
            f"ports:\n"
            f"  - name: trunk\n"
            f"    device: net_af_packet0\n")


class Subnet:
    """One namespace `ns` whose veth `inner` (with addresses) faces `outer`
    in the root namespace (no addresses: the proxy's DPDK port)."""

    def __init__(self, tag, v4, v6, prefix_len4=24):
        pid = os.getpid() % 100000
        self.ns = f"upd{tag}{pid}"
        self.outer = f"u{tag}{pid}"[:15]
        self.inner = f"u{tag}{pid}p"[:15]
        self.v4 = v4
        self.v6 = v6
        self.prefix_len4 = prefix_len4

    def up(self):
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.outer, "type", "veth", "peer", "name", self.inner)
        sh("ip", "link", "set", self.inner, "netns", self.ns)
        # The root side carries no addresses and no IPv6 chatter of its own.
        sh("sysctl", "-qw", f"net.ipv6.conf.{self.outer}.disable_ipv6=1", check=False)
        sh("ip", "link", "set", self.outer, "up")
        sh("ip", "link", "set", "lo", "up", ns=self.ns)
        sh("ip", "addr", "add", f"{self.v4}/{self.prefix_len4}", "dev", self.inner, ns=self.ns)
        if self.v6:
            sh("ip", "-6", "addr", "add", f"{self.v6}/64", "dev", self.inner, "nodad", ns=self.ns)
        sh("ip", "link", "set", self.inner, "up", ns=self.ns)
        sh("ip", "route", "add", "224.0.0.0/4", "dev", self.inner, ns=self.ns, check=False)
        return self

    def dpdk_yaml(self, file_prefix, no_huge=True, extra_args=None):
        """dpdk_yaml() for this subnet's root-side veth."""
        return dpdk_yaml(self.outer, file_prefix, no_huge, extra_args)

    def down(self):
        sh("ip", "link", "del", self.outer, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


@contextlib.contextmanager
def subnets(*specs):
    made = []
    try:
        for s in specs:
            made.append(s)
            s.up()
        yield made
    finally:
        for s in reversed(made):
            s.down()
