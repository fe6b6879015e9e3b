"""
End-to-end tests of ACME certificates against a real ACME server: Debian's pebble (Let's
Encrypt's test CA) on 127.0.0.1 with its own HTTPS certificate from a throw-away CA (so
ACME_CA_BUNDLE is exercised), pebble-challtestsrv as its DNS server answering 127.0.0.1 for
every name, and pebble's HTTP-01 validation pointed at the router's HTTP port.

Covered: the supervisor issues the first certificates as soon as the router is up and the
router serves them; a client that trusts pebble's root (from pebble's management API) completes
HTTPS requests; `renew-certs` renews when due, skips when not, renews with --force while a
keep-alive HTTPS connection keeps working across the reload; the guide's
`mcpgw logs router | grep -i acme` (and traefik) finds every step; failures in plain words with
exit 1 (nothing on port 80; a server on port 80 that does not serve the challenge); renew-certs
refuses when ACME is not in use.
"""
import contextlib
import hashlib
import http.server
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import bare_env, free_port, mcpgw_bin
from test_ops import Stack

DOMAIN = "gw.example.test"
AUTH_HOST = "auth." + DOMAIN
ECHO_HOST = "mcp-echo." + DOMAIN

pytestmark = pytest.mark.skipif(not (shutil.which("pebble") and shutil.which("pebble-challtestsrv")
                                     and shutil.which("uacme")),
                                reason="needs Debian's pebble and uacme (scripts/setup installs them)")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pebble:
    """pebble + pebble-challtestsrv on free loopback ports, validating HTTP-01 on http_port."""

    def __init__(self, procs, workdir, http_port, validity_s=None):
        self.dir = os.path.join(workdir, "pebble")
        os.makedirs(self.dir)
        # pebble's own HTTPS certificate, from a CA that only ACME_CA_BUNDLE trusts
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                "ca.key", "-out", "ca.crt", "-subj", "/CN=pebble listener CA", "-days", "2", cwd=self.dir)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tls.key",
                "-out", "tls.csr", "-subj", "/CN=localhost", cwd=self.dir)
        with open(os.path.join(self.dir, "ext"), "w") as f:
            f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days",
                "2", "-extfile", "ext", "-out", "tls.crt", cwd=self.dir)
        self.ca_bundle = os.path.join(self.dir, "ca.crt")
        self.port, self.mgmt_port, self.dns_port = free_port(), free_port(), free_port()
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": os.path.join(self.dir, "tls.crt"), "privateKey": os.path.join(self.dir, "tls.key"),
            "httpPort": int(http_port), "tlsPort": free_port(), "ocspResponderURL": "",
            "externalAccountBindingRequired": False}}
        if validity_s:
            config["pebble"]["certificateValidityPeriod"] = validity_s
        with open(os.path.join(self.dir, "pebble.json"), "w") as f:
            json.dump(config, f)
        self.dns = procs.start(["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                                "-dns01", f"127.0.0.1:{self.dns_port}", "-http01", "", "-https01", "",
                                "-tlsalpn01", "", "-management", f"127.0.0.1:{free_port()}"],
                               bare_env(), name="challtestsrv", cwd=self.dir)
        # every validation is done afresh (no authorization reuse), at once, no nonce rejected
        env = bare_env(PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
        self.proc = procs.start(["pebble", "-config", os.path.join(self.dir, "pebble.json"), "-dnsserver",
                                 f"127.0.0.1:{self.dns_port}"], env, name="pebble", cwd=self.dir)
        self.directory = f"https://127.0.0.1:{self.port}/dir"
        ctx = ssl.create_default_context(cafile=self.ca_bundle)
        deadline = time.time() + 20
        while True:
            assert self.proc.alive(), self.proc.stderr()[-2000:]
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(self.directory, context=ctx, timeout=2) as r:
                    if r.status == 200:
                        break
            assert time.time() < deadline, "pebble did not start:\n" + self.proc.stderr()[-2000:]
            time.sleep(0.1)

    def root_pem(self):
        """The root of pebble's issuance chain, from its management API."""
        ctx = ssl.create_default_context(cafile=self.ca_bundle)
        with urllib.request.urlopen(f"https://127.0.0.1:{self.mgmt_port}/roots/0", context=ctx, timeout=5) as r:
            return r.read().decode()


def run_mcpgw(args, env, cwd=None, timeout=120):
    r = subprocess.run([mcpgw_bin(), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
        assert marker not in r.stderr, f"mcpgw {' '.join(args)}: sanitizer report:\n{r.stderr[-4000:]}"
    return r


def acme_env(pebble, https_port, **extra):
    env = dict(BASE_DOMAIN=DOMAIN, ROUTING="subdomain", HTTPS_PORT=str(https_port), ACME_EMAIL="ops@example.com",
               ACME_DIRECTORY_URL=pebble.directory, ACME_CA_BUNDLE=pebble.ca_bundle)
    env.update(extra)
    return env


class TlsConn:
    """A keep-alive HTTPS connection to 127.0.0.1:port with SNI host, verified against root."""

    def __init__(self, root_file, port, host):
        ctx = ssl.create_default_context(cafile=root_file)
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname=host)
        self.host = host
        self.fingerprint = hashlib.sha256(self.sock.getpeercert(binary_form=True)).hexdigest()

    def get(self, path):
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            data += chunk
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            chunk = self.sock.recv(65536)
            assert chunk, "connection closed"
            body += chunk
        return int(head.split()[1]), body

    def close(self):
        self.sock.close()


def fingerprint(root_file, port, host):
    c = TlsConn(root_file, port, host)
    c.close()
    return c.fingerprint


@pytest.fixture
def acme_stack(workdir):
    https_port = free_port()
    s = Stack(workdir, BASE_DOMAIN=DOMAIN, ROUTING="subdomain", HTTPS_PORT=str(https_port))
    s.https_port = https_port
    yield s
    s.kill_leftovers()


def test_supervisor_issues_router_serves_renewals_keep_connections(procs, acme_stack, workdir):
    stack = acme_stack
    # certificates valid for 10 days: inside the 30-day renewal window, so a plain run renews
    pebble = Pebble(procs, workdir, stack.ports["HTTP_PORT"], validity_s=10 * 86400)
    stack.env.update(acme_env(pebble, stack.https_port))
    stack.write_env()
    stack.start_foreground(procs)
    certs = os.path.join(stack.env["DATA_DIR"], "acme", "certs")
    router_log = os.path.join(stack.env["LOG_DIR"], "router.log")

    # the supervisor ran renew-certs once the router was up; the router reloaded
    stack.wait(lambda: all(os.path.exists(os.path.join(certs, h + ".crt")) for h in (AUTH_HOST, ECHO_HOST)),
               "certificates issued by the supervisor's run")
    stack.wait(lambda: "TLS certificates reloaded (ACME)" in open(router_log).read(), "router reloaded")
    sup_log = open(os.path.join(stack.env["LOG_DIR"], "supervisor.log")).read()
    assert "ACME: certificate check started" in sup_log

    root_file = os.path.join(workdir, "pebble-root.pem")
    with open(root_file, "w") as f:
        f.write(pebble.root_pem())
    # a client that trusts only pebble's root: HTTPS to each host with its own certificate
    for host in (AUTH_HOST, ECHO_HOST):
        c = TlsConn(root_file, stack.https_port, host)
        status, body = c.get("/health" if host == ECHO_HOST else "/.well-known/oauth-authorization-server")
        assert status == 200, body
        c.close()
    # plain HTTP now redirects (certificates exist), except the challenge path
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: {AUTH_HOST}",
                        f"http://127.0.0.1:{stack.ports['HTTP_PORT']}/authorize"], capture_output=True, text=True)
    assert r.stdout == "308"
    # the expiry gauge for each host
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.ports['ADMIN_PORT']}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    expiry = float(re.search(r'tls_certificate_expiry_seconds\{host="%s"\} (\S+)' % re.escape(ECHO_HOST),
                             metrics).group(1))
    assert 9 * 86400 < expiry - time.time() <= 10 * 86400

    # the guide's command finds every ACME step in the router's log (traefik is an alias)
    for name in ("router", "traefik"):
        hits = stack.shell(f"mcpgw logs {name} | grep -i acme")
        assert hits.returncode == 0, hits.stderr
        lines = [json.loads(line) for line in hits.stdout.splitlines()]
        messages = [line["message"] for line in lines]
        assert "ACME: certificate check started" in messages
        assert "ACME: HTTP-01 challenge file published" in messages
        assert "ACME: HTTP-01 challenge passed; file removed" in messages
        assert [m for m in messages if m.startswith("ACME: finalizing order")]
        issued = [line for line in lines if line["message"] == "ACME: certificate issued and installed"]
        assert {line["host"] for line in issued} == {AUTH_HOST, ECHO_HOST}
        assert all(line["service"] == "router" and line["component"] == "acme" for line in issued)

    # renewal while serving: a keep-alive connection opened before keeps working after the reload
    before = TlsConn(root_file, stack.https_port, ECHO_HOST)
    assert before.get("/health")[0] == 200
    r = stack.run("renew-certs")  # due: the certificates expire within 30 days
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(rf"{re.escape(ECHO_HOST)} +issued, valid until", r.stdout), r.stdout
    assert "2 issued, 0 still valid, 0 failed" in r.stdout
    assert "reloads its certificates" in r.stdout
    stack.wait(lambda: fingerprint(root_file, stack.https_port, ECHO_HOST) != before.fingerprint,
               "the renewed certificate served to new connections")
    status, body = before.get("/health")  # the connection from before the reload still works
    assert status == 200 and json.loads(body)["status"] == "healthy"
    after = TlsConn(root_file, stack.https_port, ECHO_HOST)  # verified against pebble's root
    assert after.fingerprint != before.fingerprint
    status, body = after.get("/health")
    assert status == 200 and json.loads(body)["status"] == "healthy"
    after.close()
    before.close()

    # not due with a shorter window; --force renews anyway, one host with --host
    env = bare_env(ACME_RENEW_DAYS="5")
    r = run_mcpgw(["renew-certs"], env, cwd=stack.dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 issued, 2 still valid, 0 failed" in r.stdout and "not due" in r.stdout
    old = fingerprint(root_file, stack.https_port, AUTH_HOST)
    r = run_mcpgw(["renew-certs", "--force", "--host", AUTH_HOST], env, cwd=stack.dir)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 issued, 0 still valid, 0 failed" in r.stdout and ECHO_HOST not in r.stdout
    stack.wait(lambda: fingerprint(root_file, stack.https_port, AUTH_HOST) != old, "forced renewal served")
    assert not os.listdir(os.path.join(stack.env["DATA_DIR"], "acme-challenge"))  # challenge files removed


class WrongServer(http.server.BaseHTTPRequestHandler):
    """Something else on port 80: answers 404 to everything, the challenge included."""

    def do_GET(self):
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_failures_in_plain_words(procs, workdir):
    http_port = free_port()
    pebble = Pebble(procs, workdir, http_port)
    env = acme_env(pebble, free_port(), HTTP_PORT=str(http_port), DATA_DIR=os.path.join(workdir, "data"),
                   LOG_DIR=os.path.join(workdir, "logs"), MCP_ECHO_ENABLED="true")

    def renew(*args):
        return run_mcpgw(["renew-certs", *args], bare_env(**env))

    # nothing listens on the HTTP port (the router is not running): port 80 unreachable
    r = renew("--host", AUTH_HOST)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"{AUTH_HOST}" in r.stdout and "FAILED: port 80 unreachable" in r.stdout
    assert re.search(rf"ERROR: {re.escape(AUTH_HOST)}: port 80 unreachable: .*connection refused", r.stderr), r.stderr
    assert "urn:ietf:params:acme:error:connection" in r.stderr
    log = [json.loads(line) for line in open(os.path.join(env["LOG_DIR"], "router.log"))]
    failed = [line for line in log if line["message"] == "ACME: certificate not obtained"]
    assert failed and failed[0]["level"] == "ERROR" and failed[0]["reason"] == "port 80 unreachable"
    assert not os.path.exists(os.path.join(env["DATA_DIR"], "acme", "certs", AUTH_HOST + ".crt"))

    # another web server answers port 80 without the challenge (DNS pointing elsewhere)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", http_port), WrongServer)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        r = renew()
    finally:
        server.shutdown()
        server.server_close()
    assert r.returncode == 1, r.stdout + r.stderr
    assert "0 issued, 0 still valid, 2 failed" in r.stdout
    assert re.search(rf"ERROR: {re.escape(ECHO_HOST)}: challenge not served here \(DNS points elsewhere\?\)",
                     r.stderr), r.stderr

    # an ACME directory whose certificate nobody trusts (no ACME_CA_BUNDLE)
    env.pop("ACME_CA_BUNDLE")
    r = renew("--host", AUTH_HOST)
    assert r.returncode == 1
    assert "ACME server certificate not trusted" in r.stderr and "ACME_CA_BUNDLE" in r.stderr


def test_renew_certs_refuses_without_acme(workdir):
    base = dict(BASE_DOMAIN=DOMAIN, DATA_DIR=os.path.join(workdir, "data"), LOG_DIR="")

    def renew(*args, **env):
        return run_mcpgw(["renew-certs", *args], bare_env(**base, **env), timeout=30)

    r = renew("--help")
    assert r.returncode == 0 and r.stdout.startswith("Usage: mcpgw renew-certs")
    r = renew(HTTPS_PORT="0")
    assert r.returncode == 2 and "ACME is not in use: HTTPS is off" in r.stderr
    r = renew(TLS_CERT_FILE="/x.crt", TLS_KEY_FILE="/x.key")
    assert r.returncode == 2 and "come from files" in r.stderr and "kill -HUP" in r.stderr
    r = renew()
    assert r.returncode == 78 and "ACME_EMAIL" in r.stderr
    r = renew("--host", "elsewhere.example.org", ACME_EMAIL="ops@example.com")
    assert r.returncode == 2 and "not a host this gateway serves" in r.stderr and AUTH_HOST in r.stderr
    r = renew("--bogus")
    assert r.returncode == 2
