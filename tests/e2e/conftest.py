"""
Shared fixtures for the end-to-end tests: real mcpgw processes over real sockets on 127.0.0.1.

Every process a test starts is recorded by PID and stopped by PID (SIGTERM, then SIGKILL after a
grace period). A process started from the ASan build must not print a sanitizer report.

Environment:
  MCPGW_BIN   the binary under test (default: ./mcpgw at the repository root)
"""
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def mcpgw_bin():
    return os.environ.get("MCPGW_BIN", os.path.join(ROOT, "mcpgw"))


# Each pytest-xdist worker hands out ports from its own block below the kernel's ephemeral range
# (32768+), in order. A port the kernel picks at random could go to another worker's test in the
# moment between one of our servers stopping and starting again on it (a restart drill): then
# our checks would reach the other test's server.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_WORKER_INDEX = int(_WORKER[2:]) if _WORKER[2:].isdigit() else 0
_PORT_BLOCK = 3000
_PORT_BASE = 20000 + (_WORKER_INDEX % 4) * _PORT_BLOCK
_port_cursor = [int.from_bytes(os.urandom(2), "big") % _PORT_BLOCK]


def free_port():
    """A port of this worker's block that is free now on 127.0.0.1."""
    for _ in range(_PORT_BLOCK):
        port = _PORT_BASE + _port_cursor[0] % _PORT_BLOCK
        _port_cursor[0] += 1
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {_PORT_BASE}-{_PORT_BASE + _PORT_BLOCK - 1}")


def bare_env(**extra):
    """A minimal environment: no variables of the developer's leak into the process."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update({k: str(v) for k, v in extra.items()})
    return env


def http(method, url, body=None, headers=None, timeout=10):
    """(status, headers dict lower-cased, body bytes) without raising on HTTP errors."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def raw_request(port, data, timeout=5, read_all=True):
    """Send raw bytes, return everything the server sent until it closed (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        if data:
            s.sendall(data)
        chunks = []
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
                if not read_all:
                    break
        except socket.timeout:
            pass
        return b"".join(chunks)


class Process:
    """A started mcpgw (or other) process, stopped by PID."""

    def __init__(self, argv, env, cwd, name):
        self.name = name
        self.cwd = cwd
        self.stderr_path = os.path.join(cwd, f"{name}.stderr")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=self._stderr, stdin=subprocess.DEVNULL)
        self.pid = self.proc.pid

    def stderr(self):
        if not self._stderr.closed:
            self._stderr.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Stop by PID; returns the exit code."""
        if self.proc.poll() is None:
            os.kill(self.pid, sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait()
        self._stderr.close()
        return self.proc.returncode

    def assert_no_sanitizer_report(self):
        text = self.stderr()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            assert marker not in text, f"{self.name}: sanitizer report:\n{text[-4000:]}"


def wait_for_http(url, timeout=15, proc=None):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc is not None and not proc.alive():
            raise AssertionError(f"{proc.name} exited early ({proc.proc.returncode}):\n{proc.stderr()[-3000:]}")
        try:
            status, _, _ = http("GET", url, timeout=2)
            if status in (200, 503):
                return status
        except Exception as e:  # connection refused while starting
            last = e
        time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s: {last}")


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="mcpgw-e2e-") as d:
        yield d


@pytest.fixture
def procs(workdir):
    """Start processes with procs.start(...); all are stopped by PID at the end of the test."""
    started = []

    class Starter:
        def start(self, argv, env=None, name="mcpgw", cwd=None):
            p = Process(argv, env if env is not None else bare_env(), cwd or workdir, name)
            started.append(p)
            return p

    yield Starter()
    for p in started:
        p.stop()
    for p in started:
        p.assert_no_sanitizer_report()


@pytest.fixture
def redis_server(workdir):
    """A real redis-server on a free loopback port with a password; yields (port, password)."""
    port = free_port()
    password = "e2e-redis-password"
    datadir = os.path.join(workdir, "redis")
    os.makedirs(datadir)
    p = Process(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--requirepass", password, "--dir", datadir],
                bare_env(), workdir, "redis")
    deadline = time.time() + 10
    while time.time() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        time.sleep(0.05)
    yield port, password
    p.stop()


def with_hosts_file(argv, hosts_path):
    """argv run with hosts_path as its /etc/hosts: a private mount namespace (unshare -m) with the
    file bind-mounted over /etc/hosts, for that process alone; the machine's file is untouched.
    The process keeps the PID (unshare and sh exec), so it is stopped by PID like any other."""
    return ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', hosts_path, *argv]


def metric_value(base_url, line_prefix):
    """The value of the first line of base_url/metrics starting with line_prefix, or 0."""
    _, _, raw = http("GET", base_url + "/metrics")
    for line in raw.decode().splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0
