"""Starting and talking to an `updproxy run` daemon in system tests."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time


class Daemon:
    def __init__(self, binary, config_text, workdir=None):
        self.binary = binary
        self.dir = workdir or tempfile.mkdtemp(prefix="updproxy-test-")
        self.config = os.path.join(self.dir, "updproxy.yaml")
        self.sock = os.path.join(self.dir, "ctl.sock")
        self.log = os.path.join(self.dir, "daemon.log")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.proc = None

    def start(self, extra=()):
        self.logf = open(self.log, "w")
        self.proc = subprocess.Popen(
            [self.binary, "run", "--config", self.config, "--control-socket", self.sock, *extra],
            stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"updproxy exited {self.proc.returncode}: {self.read_log()}")
            if os.path.exists(self.sock):
                try:
                    self.request("status")
                    return self
                except OSError:
                    pass
            time.sleep(0.1)
        raise RuntimeError("updproxy did not come up: " + self.read_log())

    def request(self, line):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall((line + "\n").encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        return [json.loads(l) for l in data.decode().splitlines() if l.strip()]

    def services(self, link=None):
        return self.request("services" + (f" {link}" if link else ""))

    def wait_for(self, predicate, timeout, what):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.services()
            if predicate(last):
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; table: {json.dumps(last, indent=1)}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            self.logf.close()
            return rc
        return self.proc.returncode if self.proc else None

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""
