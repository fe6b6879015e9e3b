"""
End-to-end tests of the router's TLS pieces in a real process (the tlsserver fixture wires
src/router/tls.c and acme_challenge.c into the core server exactly as a role does): a test CA
and host certificates made with the openssl CLI; SNI picks each host's certificate; SIGHUP
reloads renewed certificates for new connections while a keep-alive connection opened before
keeps working; a broken reload keeps serving; TLS 1.1 is refused; the expiry gauge; the plain
HTTP listener serves ACME challenge files and redirects the rest to HTTPS.
"""
import hashlib
import os
import signal
import socket
import ssl
import subprocess
import time
import warnings

import pytest

from conftest import ROOT, bare_env, free_port, http, mcpgw_bin


def tlsserver_bin():
    if os.environ.get("TLSSERVER_BIN"):
        return os.environ["TLSSERVER_BIN"]
    variant = "asan" if "build/asan" in mcpgw_bin() else "release"
    return os.path.join(ROOT, "build", variant, "tests", "e2e_tlsserver")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_cert(d, cn, base):
    """A P-256 certificate for cn (CN and DNS SAN) signed by d/ca.crt, written to base.crt/.key."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + ".key",
            "-out", base + ".csr", "-subj", "/CN=" + cn, cwd=d)
    with open(os.path.join(d, base + ".ext"), "w") as f:
        f.write(f"subjectAltName=DNS:{cn}\n")
    openssl("x509", "-req", "-in", base + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days",
            "3", "-extfile", base + ".ext", "-out", base + ".crt", cwd=d)
    os.unlink(os.path.join(d, base + ".csr"))
    os.unlink(os.path.join(d, base + ".ext"))


@pytest.fixture
def pki(workdir):
    d = os.path.join(workdir, "pki")
    os.makedirs(os.path.join(d, "certs"))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-subj", "/CN=mcpgw e2e CA", "-days", "3", cwd=d)
    make_cert(d, "default.test", "default")
    make_cert(d, "auth.example.test", "certs/auth.example.test")
    make_cert(d, "mcp-echo.example.test", "certs/mcp-echo.example.test")
    return d


def start(procs, pki, workdir):
    http_port, https_port = free_port(), free_port()
    challenges = os.path.join(workdir, "acme")
    os.makedirs(challenges)
    env = bare_env(HTTP_PORT=http_port, HTTPS_PORT=https_port, TLS_CERT_FILE=os.path.join(pki, "default.crt"),
                   TLS_KEY_FILE=os.path.join(pki, "default.key"), TLS_CERT_DIR=os.path.join(pki, "certs"),
                   ACME_CHALLENGE_DIR=challenges, LOG_DIR="", WORKERS=2)
    p = procs.start([tlsserver_bin(), "--bind", "127.0.0.1"], env, name="tlsserver")
    deadline = time.time() + 15
    while True:  # the plain listener answers 404 for an unknown challenge once it is up
        assert p.alive(), p.stderr()[-3000:]
        try:
            if http("GET", f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/x", timeout=2)[0] == 404:
                break
        except OSError:
            pass
        assert time.time() < deadline, "tlsserver did not start"
        time.sleep(0.05)
    return p, http_port, https_port, challenges


def client_context(pki, **kw):
    ctx = ssl.create_default_context(cafile=os.path.join(pki, "ca.crt"))
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class TlsConn:
    def __init__(self, pki, port, sni, check_name=True):
        ctx = client_context(pki)
        ctx.check_hostname = check_name
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = ctx.wrap_socket(raw, server_hostname=sni)
        der = self.sock.getpeercert(binary_form=True)
        self.fingerprint = hashlib.sha256(der).hexdigest()
        cert = self.sock.getpeercert() if check_name else None
        self.cn = dict(x[0] for x in cert["subject"])["commonName"] if cert else None

    def get(self, host):
        self.sock.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data

    def close(self):
        self.sock.close()


def test_sni_reload_and_refusals(procs, pki, workdir):
    p, http_port, https_port, _ = start(procs, pki, workdir)
    for host in ("auth.example.test", "mcp-echo.example.test", "default.test"):
        c = TlsConn(pki, https_port, host)
        assert c.cn == host
        assert c.get(host).startswith(b"HTTP/1.1 200")
        c.close()
    # unknown name: the default certificate (so name verification must be off to look at it)
    c = TlsConn(pki, https_port, "nobody.example.test", check_name=False)
    assert c.fingerprint == TlsConn(pki, https_port, "default.test").fingerprint
    c.close()
    # TLS 1.1 is refused by the server (its protocol_version alert, not a client-side refusal)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = client_context(pki)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw:
            ctx.wrap_socket(raw, server_hostname="auth.example.test")

    before = TlsConn(pki, https_port, "mcp-echo.example.test")
    assert before.get("mcp-echo.example.test").startswith(b"HTTP/1.1 200")
    # renew mcp-echo's certificate, add a host, SIGHUP
    make_cert(pki, "mcp-echo.example.test", "certs/mcp-echo.example.test")
    make_cert(pki, "mcp-fetch.example.test", "certs/mcp-fetch.example.test")
    p.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while time.time() < deadline:
        after = TlsConn(pki, https_port, "mcp-echo.example.test")
        renewed = after.fingerprint != before.fingerprint
        after.close()
        if renewed:
            break
        time.sleep(0.1)
    assert renewed
    assert "TLS certificates reloaded" in p.stderr()
    c = TlsConn(pki, https_port, "mcp-fetch.example.test")
    assert c.cn == "mcp-fetch.example.test"
    c.close()
    # the connection opened before the reload is still served, with its old certificate
    assert before.get("mcp-echo.example.test").startswith(b"HTTP/1.1 200")
    before.close()

    # a broken reload (certificate without key) keeps the current certificates
    make_cert(pki, "broken.example.test", "certs/broken.example.test")
    os.unlink(os.path.join(pki, "certs", "broken.example.test.key"))
    p.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + 10
    while "keeping the current ones" not in p.stderr() and time.time() < deadline:
        time.sleep(0.1)
    assert "keeping the current ones" in p.stderr()
    c = TlsConn(pki, https_port, "mcp-fetch.example.test")
    assert c.get("mcp-fetch.example.test").startswith(b"HTTP/1.1 200")
    c.close()
    assert p.alive()

    # the expiry gauge, over HTTPS
    ctx = client_context(pki)
    with socket.create_connection(("127.0.0.1", https_port), timeout=5) as raw:
        s = ctx.wrap_socket(raw, server_hostname="default.test")
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: default.test\r\nConnection: close\r\n\r\n")
        text = b""
        while chunk := s.recv(65536):
            text += chunk
    text = text.decode()
    line = next(l for l in text.splitlines()
                if l.startswith('tls_certificate_expiry_seconds{host="mcp-fetch.example.test"}'))
    expiry = float(line.split()[-1])
    assert time.time() < expiry < time.time() + 4 * 86400


def test_http_listener_acme_and_redirect(procs, pki, workdir):
    p, http_port, https_port, challenges = start(procs, pki, workdir)
    with open(os.path.join(challenges, "Tok_en-1"), "w") as f:
        f.write("Tok_en-1.keyauth")
    status, headers, body = http("GET", f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/Tok_en-1",
                                 headers={"Host": "mcp-echo.example.test"})
    assert status == 200 and body == b"Tok_en-1.keyauth"
    for bad in ("../pki/ca.key", "..%2Fpki%2Fca.key", "missing", "a.b"):
        status, _, body = http("GET", f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/{bad}",
                               headers={"Host": "x.example.test"})
        assert status in (400, 404), bad
        assert b"PRIVATE KEY" not in body
    # everything else: 308 to https with the same path and query
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(f"http://127.0.0.1:{http_port}/mcp?a=1", method="POST", data=b"{}",
                                 headers={"Host": "mcp-echo.example.test"})
    try:
        opener.open(req, timeout=5)
        assert False, "expected a redirect"
    except urllib.error.HTTPError as e:
        assert e.code == 308
        assert e.headers["Location"] == f"https://mcp-echo.example.test:{https_port}/mcp?a=1"
