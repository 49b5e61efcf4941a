"""A real mDNS responder host for the campus: python-zeroconf, one process
per simulated host, inside that host's network namespace.

Commands on stdin, one JSON object per line; one JSON reply per line:
  {"op": "register", "name": INSTANCE, "type": "_ipp._tcp", "port": 631,
   "host": "eng-appletv", "addresses": ["192.0.2.20", "2001:db8:10::20"],
   "txt": ["k=v", ...], "ttl": 120}           ttl: host and service TTL (optional)
  {"op": "update", "name": ..., "type": ..., "txt": [...]}    new TXT, announced
  {"op": "unregister", "name": ..., "type": ...}              goodbye
  {"op": "wave", "services": [register objects...], "interval_ms": 40}
      registers all of them, one starting every interval, concurrently
      (probing overlaps); replies when every one is announced, with the
      time each registration started
  {"op": "quit"}                                              goodbye for all, exit
Replies: {"ok": true, ...} or {"ok": false, "error": "..."}.

Run with /usr/bin/python3 (python3-zeroconf).
"""
import asyncio
import json
import socket
import sys
import time

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf


def txt_bytes(strings):
    out = b""
    for s in strings:
        b = s.encode() if isinstance(s, str) else bytes(s)
        out += bytes([len(b)]) + b
    return out or b"\x00"


def make_info(c):
    stype = c["type"].rstrip(".") + ".local."
    addrs = [socket.inet_pton(socket.AF_INET6 if ":" in a else socket.AF_INET, a)
             for a in c["addresses"]]
    kw = {}
    if c.get("ttl"):
        kw = {"host_ttl": int(c["ttl"]), "other_ttl": int(c["ttl"])}
    return ServiceInfo(stype, f"{c['name']}.{stype}", addresses=addrs, port=int(c["port"]),
                       properties=txt_bytes(c.get("txt", [])),
                       server=c["host"].rstrip(".") + ".local.", **kw)


async def main():
    aiozc = AsyncZeroconf(ip_version=IPVersion.All)
    infos = {}
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def reply(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    while True:
        line = await reader.readline()
        if not line:
            break
        if not line.strip():
            continue
        try:
            c = json.loads(line)
            op = c["op"]
            if op == "quit":
                break
            if op == "register":
                info = make_info(c)
                task = await aiozc.async_register_service(info, allow_name_change=False)
                await task
                infos[(c["name"], c["type"])] = info
                reply({"ok": True})
            elif op == "update":
                old = infos[(c["name"], c["type"])]
                info = make_info({"name": c["name"], "type": c["type"], "port": old.port,
                                  "host": old.server[:-len(".local.")],
                                  "addresses": old.parsed_addresses(),
                                  "txt": c["txt"], "ttl": c.get("ttl") or None})
                info.host_ttl, info.other_ttl = old.host_ttl, old.other_ttl
                task = await aiozc.async_update_service(info)
                await task
                infos[(c["name"], c["type"])] = info
                reply({"ok": True})
            elif op == "unregister":
                info = infos.pop((c["name"], c["type"]))
                task = await aiozc.async_unregister_service(info)
                await task
                reply({"ok": True})
            elif op == "wave":
                # One registration starting every interval, each probing and
                # announcing on its own (RFC 6762 §8): they overlap.
                interval = c.get("interval_ms", 40) / 1000.0
                tasks, started = [], []

                async def one(info):
                    await (await aiozc.async_register_service(info, allow_name_change=False))
                t0 = loop.time()
                for i, s in enumerate(c["services"]):
                    info = make_info(s)
                    started.append(time.time())
                    tasks.append(asyncio.create_task(one(info)))
                    infos[(s["name"], s["type"])] = info
                    await asyncio.sleep(max(0.0, t0 + (i + 1) * interval - loop.time()))
                await asyncio.gather(*tasks)
                reply({"ok": True, "started": started})
            else:
                reply({"ok": False, "error": f"unknown op {op}"})
        except Exception as e:  # report and keep serving
            reply({"ok": False, "error": f"{type(e).__name__}: {e}"})
    await aiozc.async_unregister_all_services()
    await aiozc.async_close()


if __name__ == "__main__":
    asyncio.run(main())
