"""A TCP forwarder across network namespaces: accepts on a listening socket
it inherits (made in the root namespace, fd given by --fd) and connects,
from the namespace it runs in (`ip netns exec NS`), to --to HOST:PORT.
The demo uses it to show the proxy's metrics, served on the core
namespace's loopback, at a URL on this machine's own loopback.
"""
import argparse
import socket
import threading


def pipe(a, b):
    try:
        while True:
            data = a.recv(65536)
            if not data:
                break
            b.sendall(data)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(conn, to):
    try:
        up = socket.create_connection(to, timeout=5)
        up.settimeout(None)
    except OSError:
        conn.close()
        return
    threading.Thread(target=pipe, args=(conn, up), daemon=True).start()
    pipe(up, conn)
    conn.close()
    up.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fd", type=int, required=True)
    ap.add_argument("--to", required=True)
    a = ap.parse_args()
    host, port = a.to.rsplit(":", 1)
    listener = socket.socket(fileno=a.fd)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, (host, int(port))), daemon=True).start()


if __name__ == "__main__":
    main()
