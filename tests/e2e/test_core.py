"""
End-to-end tests of the core runtime over real sockets: the coreserver fixture (core library +
role_main) and the real mcpgw binary for the configuration commands.

CORESERVER_BIN selects the fixture build (release or ASan), MCPGW_BIN the mcpgw build.
"""
import base64
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import ROOT, bare_env, free_port, http, mcpgw_bin, raw_request, wait_for_http


def coreserver_bin():
    return os.environ.get("CORESERVER_BIN", os.path.join(ROOT, "build", "release", "tests", "e2e_coreserver"))


@pytest.fixture
def server(procs, workdir):
    """A running coreserver; returns (port, process, log_dir)."""

    def start(extra_env=None, extra_args=None, workers=2):
        port = free_port()
        log_dir = os.path.join(workdir, "logs")
        env = bare_env(LOG_DIR=log_dir, **(extra_env or {}))
        p = procs.start([coreserver_bin(), "--port", str(port), "--bind", "127.0.0.1", "--workers", str(workers)]
                        + (extra_args or []), env=env, name="coreserver")
        scheme = "https" if extra_args and "--tls-cert" in extra_args else "http"
        if scheme == "http":
            wait_for_http(f"http://127.0.0.1:{port}/health", proc=p)
        else:
            deadline = time.time() + 15
            while time.time() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
        return port, p, log_dir

    return start


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1."), response[:200]
    return int(response.split(b" ", 2)[1])


def read_log_lines(log_dir, service="coreserver"):
    path = os.path.join(log_dir, "coretest.log")
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- health and metrics ------------------------------------------------------------------------

def test_health_reports_service_version_uptime(server):
    port, _, _ = server()
    status, headers, body = http("GET", f"http://127.0.0.1:{port}/health")
    assert status == 200
    doc = json.loads(body)
    assert doc["status"] == "healthy"
    assert doc["service"] == "coretest"
    assert doc["version"]
    assert doc["uptime_seconds"] >= 0
    assert headers["content-type"] == "application/json"
    assert len(headers["x-request-id"]) == 32


def test_metrics_pass_promtool_and_count_requests(server):
    port, _, _ = server()
    for _ in range(3):
        http("POST", f"http://127.0.0.1:{port}/echo", body=b"{}")
    http("DELETE", f"http://127.0.0.1:{port}/nothing-here")
    status, headers, body = http("GET", f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    text = body.decode()
    assert 'http_requests_total{service="coretest",method="POST",status="200"} 3' in text
    assert 'http_requests_total{service="coretest",method="DELETE",status="404"} 1' in text
    assert 'http_request_duration_seconds{service="coretest",method="POST",quantile="0.99"}' in text
    assert 'http_request_duration_seconds_count{service="coretest",method="POST"} 3' in text
    for name in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds"):
        assert f"\n{name} " in text or text.startswith(f"{name} "), name
    check = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True)
    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()


# ---- HTTP/1.1 behaviour ----------------------------------------------------------------------------

def test_keep_alive_and_pipelining(server):
    port, _, _ = server()
    req = b"GET /echo?a=1 HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /echo?a=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = raw_request(port, req + req + last)
    assert data.count(b"HTTP/1.1 200 OK") == 3
    bodies = [json.loads(part.split(b"\r\n\r\n", 1)[1].split(b"HTTP/1.1")[0]) for part in
              data.split(b"HTTP/1.1 200 OK")[1:]]
    assert [b["query"] for b in bodies] == ["a=1", "a=1", "a=2"]


def test_chunked_request_body_is_reassembled(server):
    port, _, _ = server()
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    data = raw_request(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                             b"Connection: close\r\n\r\n" + body)
    assert status_of(data) == 200
    doc = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert doc["body"] == "hello world"


def test_http10_without_keepalive_closes(server):
    port, _, _ = server()
    data = raw_request(port, b"GET /health HTTP/1.0\r\n\r\n")
    assert data.startswith(b"HTTP/1.0 200")
    assert b"Connection: close" in data


def test_request_id_honoured_when_sane_and_replaced_otherwise(server):
    port, _, _ = server()
    status, headers, _ = http("GET", f"http://127.0.0.1:{port}/echo", headers={"X-Request-Id": "abc-123.x"})
    assert headers["x-request-id"] == "abc-123.x"
    status, headers, _ = http("GET", f"http://127.0.0.1:{port}/echo", headers={"X-Request-Id": "bad id<script>"})
    assert headers["x-request-id"] != "bad id<script>"
    assert len(headers["x-request-id"]) == 32


def test_head_has_no_body(server):
    port, _, _ = server()
    data = raw_request(port, b"HEAD /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, rest = data.partition(b"\r\n\r\n")
    assert status_of(data) == 200
    assert b"Content-Length:" in head
    assert rest == b""


# ---- limits and bad input ----------------------------------------------------------------------------

def test_headers_too_large_gives_431(server):
    port, _, _ = server(extra_env={"MAX_HEADER_SIZE": "4096"})
    data = raw_request(port, b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000 + b"\r\n\r\n")
    assert status_of(data) == 431
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["error"] == "request_header_fields_too_large"


def test_body_too_large_by_content_length_gives_413(server):
    port, _, _ = server(extra_env={"MAX_BODY_SIZE": "1000"})
    data = raw_request(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" + b"x" * 5000)
    assert status_of(data) == 413


def test_body_too_large_chunked_gives_413(server):
    port, _, _ = server(extra_env={"MAX_BODY_SIZE": "1000"})
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    data = raw_request(port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3)
    assert status_of(data) == 413


def test_uri_too_long_gives_414(server):
    port, _, _ = server()
    data = raw_request(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status_of(data) in (414, 431)


@pytest.mark.parametrize("raw", [
    b"GARBAGE\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost : x\r\n\r\n",
    b"GET /echo HTTP/1.1\r\n\r\n",
    b"GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /echo HTTP/2.0\r\nHost: x\r\n\r\n",
    b"GET /echo HTTP/1.1\nHost: x\n\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /echo HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
])
def test_bad_syntax_gives_400_and_server_survives(server, raw):
    port, p, _ = server()
    data = raw_request(port, raw)
    assert status_of(data) == 400, data[:300]
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["error"] == "bad_request"
    assert b"Connection: close" in data
    assert http("GET", f"http://127.0.0.1:{port}/health")[0] == 200


def test_slow_client_gets_408(server):
    port, _, _ = server(extra_env={"REQUEST_TIMEOUT": "1"})
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert status_of(data) == 408


def test_idle_connection_without_request_is_closed_quietly(server):
    port, _, _ = server(extra_env={"REQUEST_TIMEOUT": "1"})
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        assert s.recv(100) == b""


# ---- streaming -------------------------------------------------------------------------------------------

def test_sse_events_are_flushed_one_by_one(server):
    port, _, _ = server()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /sse?n=3&ms=300 HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
        data = b""
        while b"data: {\"n\":0}" not in data:
            data += s.recv(65536)
        # the first event is readable while the stream is still open (not buffered to the end)
        assert b"data: {\"n\":1}" not in data
        assert b"\r\n0\r\n\r\n" not in data
        head = data.split(b"\r\n\r\n", 1)[0]
        assert b"Transfer-Encoding: chunked" in head
        assert b"Content-Type: text/event-stream" in head
        while not data.endswith(b"0\r\n\r\n"):
            chunk = s.recv(65536)
            assert chunk, "stream closed before the terminating chunk"
            data += chunk
    assert data.count(b"event: message") == 3


def test_client_disconnect_mid_stream_is_harmless(server):
    port, p, _ = server()
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /sse?n=50&ms=20 HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(1000)
    time.sleep(0.3)
    assert p.alive()
    assert http("GET", f"http://127.0.0.1:{port}/health")[0] == 200


def test_large_response(server):
    port, _, _ = server()
    status, _, body = http("GET", f"http://127.0.0.1:{port}/big?bytes=3000000")
    assert status == 200 and len(body) == 3000000


# ---- logs ------------------------------------------------------------------------------------------------

def test_access_log_lines_are_json_with_the_contract_fields(server):
    port, p, log_dir = server()
    http("GET", f"http://127.0.0.1:{port}/echo?token=SECRET-IN-QUERY", headers={"X-Request-Id": "trace-42"})
    http("GET", f"http://127.0.0.1:{port}/async-error")
    time.sleep(0.2)
    lines = read_log_lines(log_dir)
    access = [l for l in lines if l.get("request_id") == "trace-42"]
    assert len(access) == 1
    line = access[0]
    for key in ("timestamp", "level", "service", "message", "method", "path", "status", "duration_ms"):
        assert key in line, key
    assert line["service"] == "coretest" and line["level"] == "INFO"
    assert line["path"] == "/echo" and line["status"] == 200
    assert line["timestamp"].endswith("Z")
    errors = [l for l in lines if l.get("status") == 502]
    assert errors and errors[0]["level"] == "ERROR"
    with open(os.path.join(log_dir, "coretest.log")) as f:
        assert "SECRET-IN-QUERY" not in f.read()
    # the guide's jq filter works on these lines
    jq = subprocess.run(["jq", "-c", "select(.duration_ms >= 0) | {path, duration_ms}"],
                        input=open(os.path.join(log_dir, "coretest.log"), "rb").read(), capture_output=True)
    assert jq.returncode == 0 and b'"path":"/echo"' in jq.stdout


def test_sigusr1_reopens_log_file(server):
    port, p, log_dir = server()
    path = os.path.join(log_dir, "coretest.log")
    http("GET", f"http://127.0.0.1:{port}/echo")
    # the access-log line is written after the answer: rotate only once it is in the file
    deadline = time.time() + 5
    while '"path":"/echo"' not in open(path).read() and time.time() < deadline:
        time.sleep(0.05)
    os.rename(path, path + ".1")
    os.kill(p.pid, signal.SIGUSR1)
    deadline = time.time() + 5
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    http("GET", f"http://127.0.0.1:{port}/echo?after=rotation")
    deadline = time.time() + 5
    while not any(l.get("path") == "/echo" for l in read_log_lines(log_dir)) and time.time() < deadline:
        time.sleep(0.05)
    lines = read_log_lines(log_dir)  # the new file
    assert any(l.get("message") == "Log files reopened" for l in lines)
    assert any(l.get("path") == "/echo" for l in lines)
    with open(path + ".1") as f:  # the old file kept what came before
        assert '"path":"/echo"' in f.read()


# ---- process life ----------------------------------------------------------------------------------------

def test_graceful_shutdown_finishes_in_flight_requests(server):
    port, p, _ = server()
    result = {}

    def slow():
        result["r"] = http("GET", f"http://127.0.0.1:{port}/slow?ms=1500", timeout=10)

    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.4)
    os.kill(p.pid, signal.SIGTERM)
    t.join()
    assert result["r"][0] == 200
    assert json.loads(result["r"][2]) == {"slow": True}
    assert p.proc.wait(timeout=15) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_second_process_on_taken_port_fails_with_the_guides_message(server, procs):
    port, _, _ = server()
    second = procs.start([coreserver_bin(), "--port", str(port), "--bind", "127.0.0.1"], name="second")
    rc = second.proc.wait(timeout=15)
    assert rc != 0
    err = second.stderr()
    assert f"ERROR: bind: address already in use (127.0.0.1:{port})\n" in err
    # The JSON log carries the same words, without the "ERROR: " prefix or a newline in the field.
    (startup,) = [json.loads(line) for line in err.splitlines()
                  if line.startswith("{") and json.loads(line)["message"] == "Start-up failed"]
    assert startup["level"] == "ERROR"
    assert startup["error"] == f"bind: address already in use (127.0.0.1:{port})"


def test_claimed_port_refused_even_when_free(procs):
    """Two mcpgw processes starting at the same moment could both pass the plain-bind probe
    (one closes its probe before binding its SO_REUSEPORT sockets) and share a port. Each
    listener therefore claims the abstract Unix name "mcpgw-listen ADDR:PORT" for its life
    (core/server.c). Here the test holds the claim of a free port, as a racing mcpgw would: the
    server must refuse to start, with the guide's message."""
    port = free_port()
    claim = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    claim.bind(f"\0mcpgw-listen 127.0.0.1:{port}")
    try:
        second = procs.start([coreserver_bin(), "--port", str(port), "--bind", "127.0.0.1"], name="claimed")
        assert second.proc.wait(timeout=15) != 0
        assert f"ERROR: bind: address already in use (127.0.0.1:{port})\n" in second.stderr()
    finally:
        claim.close()
    # released: the same port now works, and the running server holds the claim itself
    third = procs.start([coreserver_bin(), "--port", str(port), "--bind", "127.0.0.1"], name="unclaimed")
    wait_for_http(f"http://127.0.0.1:{port}/health", proc=third)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with pytest.raises(OSError):
        probe.bind(f"\0mcpgw-listen 127.0.0.1:{port}")
    probe.close()


def test_tls_listener_serves_tls12_plus(server, workdir):
    cert = os.path.join(workdir, "cert.pem")
    key = os.path.join(workdir, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-keyout", key, "-out", cert, "-days", "1", "-nodes", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    port, _, _ = server(extra_args=["--tls-cert", cert, "--tls-key", key])
    ctx = ssl.create_default_context(cafile=cert)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() in ("TLSv1.2", "TLSv1.3")
            s.sendall(b"GET /echo HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
    assert status_of(data) == 200
    assert json.loads(data.split(b"\r\n\r\n", 1)[1])["tls"] is True
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.minimum_version = ssl.TLSVersion.TLSv1
    old.maximum_version = ssl.TLSVersion.TLSv1_1
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises((ssl.SSLError, OSError)):
            with old.wrap_socket(raw) as s:
                s.sendall(b"GET / HTTP/1.1\r\n\r\n")


# ---- configuration commands -----------------------------------------------------------------------------

def test_validate_env_in_empty_dir_lists_every_missing_variable(workdir):
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=bare_env(), capture_output=True, text=True)
    assert r.returncode == 78
    for name in ("BASE_DOMAIN", "GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"):
        assert f"ERROR: Required variable {name} not set" in r.stderr


def test_validate_env_reports_all_problems_at_once(workdir):
    with open(os.path.join(workdir, ".env"), "w") as f:
        f.write("BASE_DOMAIN=example.com\nACCESS_TOKEN_LIFETIME=abc\nJWT_ALGORITHM=none\n")
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=bare_env(), capture_output=True, text=True)
    assert r.returncode == 78
    assert "ACCESS_TOKEN_LIFETIME" in r.stderr and "JWT_ALGORITHM" in r.stderr
    assert "ERROR: Required variable GITHUB_CLIENT_ID not set" in r.stderr
    assert "BASE_DOMAIN not set" not in r.stderr


def test_validate_env_ok(workdir):
    env = bare_env(BASE_DOMAIN="example.com", GITHUB_CLIENT_ID="id", GITHUB_CLIENT_SECRET="s",
                   HTTPS_PORT="0")
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Configuration OK" in r.stdout


def test_validate_env_refuses_what_the_roles_refuse(workdir):
    """A REDIS_URL host that is no host name, and an MCP service turned on with nowhere to route it:
    validate-env used to say "Configuration OK", then auth ran unhealthy and the router exited 78.
    Now validate-env, `up` and the roles say so at once. A host name (the Python original's
    docker-compose `redis://redis:6379/0`) is fine: the client resolves it."""
    base = dict(BASE_DOMAIN="example.com", GITHUB_CLIENT_ID="id", GITHUB_CLIENT_SECRET="s", HTTPS_PORT="0",
                JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET="s" * 40, LOG_DIR="", DATA_DIR=os.path.join(workdir, "data"))
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=bare_env(**base, REDIS_URL="redis://redis:6379/0"),
                       capture_output=True, text=True)
    assert r.returncode == 0 and "Configuration OK" in r.stdout, r.stdout + r.stderr
    bad_url = "redis://redis!:6379/0"
    redis_line = (f'ERROR: Invalid value for REDIS_URL: "{bad_url}" host must be an IP address or a host name '
                  "(letters, digits, '-', '_' and '.')\n")
    env = bare_env(**base, REDIS_URL=bad_url)
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=env, capture_output=True, text=True)
    assert r.returncode == 78, r.stdout + r.stderr
    assert r.stderr == redis_line and "Configuration OK" not in r.stdout
    r = subprocess.run([mcpgw_bin(), "up"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 78 and redis_line in r.stderr, r.stdout + r.stderr
    for role in ("auth", "router"):  # exit 78 before listening, rather than run unhealthy
        r = subprocess.run([mcpgw_bin(), role, "--bind", "127.0.0.1", "--port", str(free_port())], cwd=workdir,
                           env=bare_env(**base, REDIS_URL=bad_url, ADMIN_PORT=str(free_port()),
                                        AUTH_PORT=str(free_port())),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 78, (role, r.stderr)
        assert redis_line in r.stderr, (role, r.stderr)

    foo_line = ("ERROR: Required variable MCP_FOO_PORT not set (MCP_FOO_ENABLED=true: mcp-foo needs MCP_FOO_URL, "
                "MCP_FOO_COMMAND, or the port it listens on at 127.0.0.1)\n")
    env = bare_env(**base, MCP_FOO_ENABLED="true")
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=env, capture_output=True, text=True)
    assert r.returncode == 78, r.stdout + r.stderr
    assert r.stderr == foo_line
    r = subprocess.run([mcpgw_bin(), "router", "--bind", "127.0.0.1", "--port", str(free_port())], cwd=workdir,
                       env=bare_env(**base, MCP_FOO_ENABLED="true", ADMIN_PORT=str(free_port()),
                                    REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 78 and foo_line in r.stderr, r.stderr  # the router's own words
    for fix in (dict(MCP_FOO_PORT="4100"), dict(MCP_FOO_URL="http://10.0.0.5:9000/mcp"),
                dict(MCP_FOO_COMMAND="true"), dict(MCP_FOO_ENABLED="false")):
        env = bare_env(**base, **dict(dict(MCP_FOO_ENABLED="true"), **fix))
        r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=env, capture_output=True, text=True)
        assert r.returncode == 0 and "Configuration OK" in r.stdout, (fix, r.stderr)


def test_validate_env_reports_an_unreadable_local_users_file(workdir):
    """auth cannot start without reading LOCAL_USERS_FILE, so validate-env (and up) say so."""
    env = bare_env(BASE_DOMAIN="example.com", HTTPS_PORT="0",
                   LOCAL_USERS_FILE=os.path.join(workdir, "no-such-users"))
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=env, capture_output=True, text=True)
    assert r.returncode == 78, r.stdout + r.stderr
    assert "ERROR: Invalid value for LOCAL_USERS_FILE: " in r.stderr and "cannot read it" in r.stderr
    assert "Configuration OK" not in r.stdout
    r = subprocess.run([mcpgw_bin(), "up"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 78 and "LOCAL_USERS_FILE" in r.stderr, r.stdout + r.stderr
    # readable but with lines auth would refuse at start: the first is named, with how many more
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("# comment\nalice:$2b$12$" + "a" * 53 + "\ncarol\nbad name:$2b$12$x\n")
    env["LOCAL_USERS_FILE"] = users
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=env, capture_output=True, text=True)
    assert r.returncode == 78, r.stdout + r.stderr
    assert (f'ERROR: Invalid value for LOCAL_USERS_FILE: "{users}" line 3: expected NAME:HASH with a valid '
            "user name (and 1 more)") in r.stderr, r.stderr
    with open(users, "w") as f:
        f.write("alice:$2b$12$" + "a" * 53 + "\n")
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=env, capture_output=True, text=True)
    assert r.returncode == 0 and "Configuration OK" in r.stdout, r.stdout + r.stderr


def test_validate_env_checks_the_signing_key_and_static_clients(workdir):
    """auth parses both at every start and refuses to run with a bad one: validate-env says so first."""
    env = dict(BASE_DOMAIN="example.com", GITHUB_CLIENT_ID="id", GITHUB_CLIENT_SECRET="s", HTTPS_PORT="0",
               JWT_ALGORITHM="RS256")
    bad = dict(env, JWT_PRIVATE_KEY_B64=base64.b64encode(b"-----BEGIN PRIVATE KEY-----\nnope\n").decode(),
               AUTH_STATIC_CLIENTS='[{"client_id": "cli"}]')
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=bare_env(**bad), capture_output=True, text=True)
    assert r.returncode == 78, r.stdout + r.stderr
    assert "ERROR: Invalid value for JWT_PRIVATE_KEY_B64: " in r.stderr
    assert "nope" not in r.stderr and bad["JWT_PRIVATE_KEY_B64"] not in r.stderr  # a secret is never echoed
    assert "ERROR: Invalid value for AUTH_STATIC_CLIENTS: " in r.stderr
    assert "every entry needs client_id and redirect_uris" in r.stderr
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=bare_env(**dict(env, AUTH_STATIC_CLIENTS="{}")),
                       capture_output=True, text=True)
    assert r.returncode == 78 and "AUTH_STATIC_CLIENTS" in r.stderr and "not a JSON array" in r.stderr
    # a real RSA key and a well-formed client list pass
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    good = dict(env, JWT_PRIVATE_KEY_B64=base64.b64encode(pem).decode(),
                AUTH_STATIC_CLIENTS='[{"client_id": "cli", "redirect_uris": ["http://127.0.0.1:9/cb"]}]')
    r = subprocess.run([mcpgw_bin(), "validate-env"], cwd=workdir, env=bare_env(**good), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Configuration OK" in r.stdout


def test_auth_refusing_its_users_file_says_which_line(workdir):
    """Started on its own (no validate-env first), auth checks its configuration the same way and
    stops with exit 78 naming the line, before it listens or touches Redis."""
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("carol\n")
    env = bare_env(BASE_DOMAIN="example.com", HTTPS_PORT="0", LOCAL_USERS_FILE=users, LOG_DIR="",
                   DATA_DIR=os.path.join(workdir, "data"), JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET="s" * 40,
                   AUTH_PORT=str(free_port()), REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    r = subprocess.run([mcpgw_bin(), "auth", "--bind", "127.0.0.1"], cwd=workdir, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 78, r.stderr
    assert (f'ERROR: Invalid value for LOCAL_USERS_FILE: "{users}" line 1: expected NAME:HASH with a valid '
            "user name\n") in r.stderr


def test_show_config_masks_secrets(workdir):
    with open(os.path.join(workdir, ".env"), "w") as f:
        f.write("GITHUB_CLIENT_SECRET=supersecretvalue123\nREDIS_URL=redis://:hunter2@127.0.0.1:6379/0\n"
                "BASE_DOMAIN=example.com\n")
    r = subprocess.run([mcpgw_bin(), "show-config"], cwd=workdir, env=bare_env(GATEWAY_JWT_SECRET="x" * 40),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "supersecretvalue123" not in r.stdout
    assert "hunter2" not in r.stdout
    assert "x" * 40 not in r.stdout
    assert "BASE_DOMAIN=example.com" in r.stdout
    assert "GATEWAY_JWT_SECRET=" in r.stdout


def test_cli_help_and_version():
    r = subprocess.run([mcpgw_bin(), "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for cmd in ("validate-env", "show-config", "version"):
        assert cmd in r.stdout
    r = subprocess.run([mcpgw_bin(), "version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("mcpgw ")
    r = subprocess.run([mcpgw_bin(), "no-such-command"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_configuration_reference_doc_is_current():
    r = subprocess.run([mcpgw_bin(), "show-config", "--reference"], capture_output=True, text=True)
    assert r.returncode == 0
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        assert f.read() == r.stdout, "docs/configuration.md is stale: run ./mcpgw show-config --reference > docs/configuration.md"
