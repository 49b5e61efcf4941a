"""A real mDNS responder (python-zeroconf) for system tests.

Reads commands on stdin, one per line:
  register NAME TYPE PORT HOST IPV4[,IPV4...] [TTL] [key=value ...]
  unregister NAME TYPE
  quit
and prints "ok" after each. Runs inside a network namespace.
"""
import socket
import sys

from zeroconf import IPVersion, ServiceInfo, Zeroconf


def main():
    zc = Zeroconf(ip_version=IPVersion.All)
    infos = {}
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "quit":
            break
        if parts[0] == "register":
            name, stype, port, host, addrs = parts[1:6]
            ttl = int(parts[6]) if len(parts) > 6 and parts[6].isdigit() else None
            props = dict(p.split("=", 1) for p in parts[7 if ttl else 6:])
            addresses = [socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)
                         for a in addrs.split(",")]
            kwargs = {}
            if ttl:
                kwargs = {"host_ttl": ttl, "other_ttl": ttl}
            full = f"{name.replace('_', ' ')}.{stype}"
            info = ServiceInfo(stype, full, addresses=addresses, port=int(port),
                               properties=props, server=host, **kwargs)
            zc.register_service(info, allow_name_change=False)
            infos[(name, stype)] = info
        elif parts[0] == "unregister":
            zc.unregister_service(infos.pop((parts[1], parts[2])))
        print("ok", flush=True)
    zc.close()


if __name__ == "__main__":
    main()
