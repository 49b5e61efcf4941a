"""Start-up errors: each bad setting gives one line naming what and where,
and a non-zero exit; nothing is left running.

usage: startup_errors_test.py UPDPROXY_BINARY
"""
import os
import subprocess
import sys
import tempfile

BASE = """
dpdk:
  lcores: {lcores}
  memory_mb: 128
  file_prefix: upderr{pid}
  vdevs: [{vdev}]
ports:
  - name: p0
    device: {device}
links:
  - name: lab
    port: p0
    prefix: 192.0.2.0/24
"""

CASES = [
    # (what, lcores, vdev, device, expected exit, words the one line must hold)
    ("port that does not exist", "[0, 1]", '"net_null0"', "net_null7", 2,
     ["ports[0].device", "net_null7", ":9:"]),
    ("too few lcores", "[0]", '"net_null0"', "net_null0", 2, ["dpdk.lcores", ":3:"]),
    ("lcore the machine lacks", "[0, 77]", '"net_null0"', "net_null0", 1,
     ["dpdk", "lcore 77 unavailable"]),
    ("bad vdev string", "[0, 1]", '"net_bogus0,x=1"', "net_bogus0", 1,
     ["dpdk", "net_bogus0"]),
    ("vdev that fails to probe", "[0, 1]", '"net_null0,nosuchkey=1"', "net_null0", 1,
     ["ports.p0.device", "net_null0", "probe"]),
]


def main():
    binary = sys.argv[1]
    failures = []
    work = tempfile.mkdtemp(prefix="updproxy-err-")
    for what, lcores, vdev, device, code, words in CASES:
        path = os.path.join(work, "c.yaml")
        with open(path, "w") as f:
            f.write(BASE.format(lcores=lcores, vdev=vdev, device=device, pid=os.getpid()))
        r = subprocess.run([binary, "run", "--config", path, "--control-socket",
                            os.path.join(work, "s.sock")],
                           capture_output=True, text=True, timeout=60)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        if r.returncode != code:
            failures.append(f"{what}: exit {r.returncode}, expected {code}: {r.stderr!r}")
        if len(lines) != 1 or r.stdout.strip():
            failures.append(f"{what}: expected one line on stderr, got {r.stderr!r} / {r.stdout!r}")
        elif not all(w in lines[0] for w in words):
            failures.append(f"{what}: {lines[0]!r} lacks one of {words}")
        else:
            print(f"ok   {what}: {lines[0]}")
    # --check validates without starting anything.
    r = subprocess.run([binary, "run", "--check"], capture_output=True, text=True, timeout=30)
    if r.returncode != 0 or "OK" not in r.stdout:
        failures.append(f"--check of the embedded default: {r.returncode} {r.stdout!r} {r.stderr!r}")
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"{len(CASES) + 1} passed, 0 failed")


if __name__ == "__main__":
    main()
