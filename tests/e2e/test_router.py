"""
End-to-end tests of `mcpgw router`: the real router binary in front of the real `mcpgw echo` and
a small Python upstream (which records what it is sent and can stream SSE step by step), with a
real redis-server. Tokens are HS256 JWTs minted here with GATEWAY_JWT_SECRET, so no auth process
is needed; the authorization server's port is left closed (its routes answer 502).
"""
import base64
import hashlib
import http.client as httpclient
import hmac
import json
import os
import re
import socket
import socketserver
import threading
import time

import pytest

from conftest import bare_env, free_port, http, mcpgw_bin, wait_for_http, with_hosts_file

SECRET = "router-e2e-secret-0123456789abcdef0123"
DOMAIN = "example.test"
ACCEPT = "application/json, text/event-stream"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(aud, iss, sub="github:4242", username="octocat", client_id="client-abc", scope="mcp",
         exp_in=3600, secret=SECRET, kid=None):
    now = int(time.time())
    if kid is None:
        kid = b64(hmac.new(secret.encode(), b"mcpgw HS256 key id v1", hashlib.sha256).digest()[:16])
    head = {"alg": "HS256", "typ": "JWT", "kid": kid}
    claims = {"iss": iss, "sub": sub, "aud": aud, "exp": now + exp_in, "iat": now, "nbf": now - 1,
              "jti": b64(os.urandom(16)), "client_id": client_id, "scope": scope, "username": username}
    signing_input = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(sig)


# ---- a Python upstream that records requests and streams on command ----

class Upstream:
    """HTTP/1.1 server on a free port. /mcp POST answers the request's headers as JSON; GET /mcp
    streams SSE events, one per release() call; /slow never answers; /health answers 200."""

    def __init__(self):
        self.requests = []
        self.release_event = threading.Semaphore(0)
        self.stream_closed = threading.Event()
        self.stream_started = threading.Event()
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    method, target, _ = line.decode().split(" ", 2)
                    headers = []
                    while True:
                        h = self.rfile.readline().decode()
                        if h in ("\r\n", "\n", ""):
                            break
                        name, value = h.split(":", 1)
                        headers.append((name.strip(), value.strip()))
                    length = int(next((v for n, v in headers if n.lower() == "content-length"), "0"))
                    body = self.rfile.read(length) if length else b""
                    outer.requests.append({"method": method, "target": target, "headers": headers, "body": body,
                                           "peer": self.client_address})
                    if not outer.respond(self, method, target, headers, body):
                        return

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def respond(self, h, method, target, headers, body):
        w = h.wfile
        if target.startswith("/slow"):
            time.sleep(5)
            return False
        if target.startswith("/mcp") and method == "GET":
            w.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                    b"Transfer-Encoding: chunked\r\nMcp-Session-Id: s-1\r\n\r\n")
            w.flush()
            self.stream_started.set()
            for i in range(3):
                if not self.release_event.acquire(timeout=20):
                    break
                event = f"id: {i}\ndata: {{\"n\": {i}}}\n\n".encode()
                try:
                    w.write(b"%x\r\n%s\r\n" % (len(event), event))
                    w.flush()
                except OSError:
                    self.stream_closed.set()
                    return False
            # wait to see whether the router hangs up (client left) or wants the end of the stream
            h.connection.settimeout(20)
            try:
                if self.ended_by_test:
                    w.write(b"0\r\n\r\n")
                    w.flush()
                    return True
                data = h.connection.recv(1)
                if not data:
                    self.stream_closed.set()
            except OSError:
                self.stream_closed.set()
            return False
        payload = json.dumps({"method": method, "target": target, "headers": headers,
                              "body": body.decode("utf-8", "replace")}).encode()
        w.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAccess-Control-Allow-Origin: *\r\n"
                b"Connection: keep-alive, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nContent-Length: %d\r\n\r\n%s"
                % (len(payload), payload))
        w.flush()
        return True

    ended_by_test = False

    def release(self):
        self.release_event.release()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- the stack ----

class Stack:
    def __init__(self, router, http_port, admin_port, path_mode):
        self.router = router
        self.port = http_port
        self.admin_port = admin_port
        self.path_mode = path_mode
        self.origin = f"http://{DOMAIN}:{http_port}"

    def host(self, svc):
        return f"{svc}.{DOMAIN}:{self.port}"

    def resource(self, svc):
        return f"{self.origin}/{svc}/mcp" if self.path_mode else f"http://{svc}.{DOMAIN}:{self.port}/mcp"

    def metadata_url(self, svc):
        if self.path_mode:
            return f"{self.origin}/.well-known/oauth-protected-resource/{svc}/mcp"
        return f"http://{svc}.{DOMAIN}:{self.port}/.well-known/oauth-protected-resource/mcp"

    def issuer(self):
        return self.origin if self.path_mode else f"http://auth.{DOMAIN}:{self.port}"

    def token(self, svc, **kw):
        kw.setdefault("aud", self.resource(svc))
        return mint(iss=self.issuer(), **kw)

    def request(self, method, svc, path="/mcp", body=None, headers=None, token=None, timeout=10):
        h = {"Host": f"127.0.0.1:{self.port}" if self.path_mode else self.host(svc)}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        url_path = f"/{svc}{path}" if self.path_mode and not path.startswith("/.well-known") else path
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        return http(method, f"http://127.0.0.1:{self.port}{url_path}", data, h, timeout=timeout)

    def mcp_post(self, svc, body, token=None, headers=None):
        h = {"Content-Type": "application/json", "Accept": ACCEPT}
        h.update(headers or {})
        return self.request("POST", svc, "/mcp", body, h, token)


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.close()


def start_stack(procs, redis_server, upstream, path_mode=False, wait_healthy=True, hosts_file=None, **extra):
    redis_port, redis_password = redis_server
    echo_port, http_port, admin_port, auth_port = free_port(), free_port(), free_port(), free_port()
    echo = procs.start([mcpgw_bin(), "echo", "--port", str(echo_port), "--workers", "1"],
                       bare_env(LOG_DIR="", MCP_CORS_ORIGINS="*"), name="echo")
    wait_for_http(f"http://127.0.0.1:{echo_port}/health", proc=echo)
    env = dict(BASE_DOMAIN=DOMAIN, HTTP_PORT=http_port, HTTPS_PORT=0, ADMIN_PORT=admin_port,
               AUTH_PORT=auth_port, MCP_ECHO_ENABLED="true", MCP_ECHO_PORT=echo_port,
               MCP_TEST_URL=f"http://127.0.0.1:{upstream.port}", JWT_ALGORITHM="HS256",
               GATEWAY_JWT_SECRET=SECRET, REDIS_URL=f"redis://:{redis_password}@127.0.0.1:{redis_port}/0",
               LOG_DIR="", WORKERS=2, MCP_CORS_ORIGINS="https://app.example.org",
               ROUTING="path" if path_mode else "subdomain")
    env.update(extra)
    argv = [mcpgw_bin(), "router"]
    router = procs.start(with_hosts_file(argv, hosts_file) if hosts_file else argv, bare_env(**env), name="router")
    deadline = time.time() + (15 if wait_healthy else 0)
    while True:  # healthy once the token checker has its key and the revocation list
        status = wait_for_http(f"http://127.0.0.1:{admin_port}/health", proc=router)
        if status == 200 or time.time() > deadline:
            break
        time.sleep(0.1)
    return Stack(router, http_port, admin_port, path_mode)


def header_map(recorded):
    out = {}
    for name, value in recorded["headers"]:
        out.setdefault(name.lower(), []).append(value)
    return out


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


# ---- routing and the token check ----

@pytest.mark.parametrize("path_mode", [False, True], ids=["subdomain", "path"])
def test_mcp_through_router_with_token(procs, redis_server, upstream, path_mode):
    s = start_stack(procs, redis_server, upstream, path_mode)
    status, headers, body = s.mcp_post("mcp-echo", INIT, token=s.token("mcp-echo"))
    assert status == 200, body
    assert json.loads(body)["result"]["serverInfo"]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "printHeader", "arguments": {"header_name": "X-User-Id"}}}
    status, _, body = s.mcp_post("mcp-echo", call, token=s.token("mcp-echo"))
    assert status == 200
    assert json.loads(body)["result"]["content"][0]["text"] == "github:4242"
    # the resource metadata, answered by the router itself
    status, headers, body = s.request("GET", "mcp-echo", "/.well-known/oauth-protected-resource"
                                      + ("/mcp-echo/mcp" if path_mode else "/mcp"))
    assert status == 200
    doc = json.loads(body)
    assert doc["resource"] == s.resource("mcp-echo")
    assert doc["authorization_servers"] == [s.issuer()]
    # a token for another service's resource is refused
    status, headers, _ = s.mcp_post("mcp-echo", INIT, token=s.token("mcp-test"))
    assert status == 401
    assert 'error="invalid_token"' in headers["www-authenticate"]
    # unknown service: 404 JSON (subdomain) / auth's territory (path: auth is down -> 502)
    status, headers, body = s.request("GET", "mcp-nothing", "/mcp")
    if path_mode:
        assert status == 502 and json.loads(body)["error"] == "upstream_unavailable"
    else:
        assert status == 404 and json.loads(body)["error"] == "not_found"


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_401_shape_on_every_method(procs, redis_server, upstream, method):
    s = start_stack(procs, redis_server, upstream)
    # resource_metadata first; scope= names what to ask for (SEP-835: PRM scopes_supported)
    expected = f'Bearer resource_metadata="{s.metadata_url("mcp-echo")}", scope="mcp"'
    status, headers, body = s.request(method, "mcp-echo", "/mcp", b"{}" if method == "POST" else None,
                                      {"Content-Type": "application/json", "Accept": ACCEPT})
    assert status == 401
    assert headers["www-authenticate"] == expected
    assert json.loads(body)["error"]
    for bad in ("garbage", s.token("mcp-echo", exp_in=-600), s.token("mcp-echo", secret="x" * 40)):
        status, headers, _ = s.request(method, "mcp-echo", "/mcp", b"{}" if method == "POST" else None,
                                       {"Content-Type": "application/json", "Accept": ACCEPT}, token=bad)
        assert status == 401
        assert headers["www-authenticate"] == expected + ', error="invalid_token"'
    # missing scope -> 403 insufficient_scope
    status, headers, _ = s.request(method, "mcp-echo", "/mcp", None, {"Accept": ACCEPT},
                                   token=s.token("mcp-echo", scope="other"))
    assert status == 403
    assert 'error="insufficient_scope"' in headers["www-authenticate"]
    assert 'scope="mcp"' in headers["www-authenticate"]


@pytest.mark.parametrize("path_mode", [False, True], ids=["subdomain", "path"])
def test_trailing_slash_mcp_is_the_same_endpoint(procs, redis_server, upstream, path_mode):
    """A client configured with .../mcp/ (the Python gateway took both) gets the same OAuth
    challenge, the same audience check and the same upstream as .../mcp."""
    s = start_stack(procs, redis_server, upstream, path_mode)
    expected = f'Bearer resource_metadata="{s.metadata_url("mcp-echo")}", scope="mcp"'
    for method in ("GET", "POST"):
        status, headers, body = s.request(method, "mcp-echo", "/mcp/", b"{}" if method == "POST" else None,
                                          {"Content-Type": "application/json", "Accept": ACCEPT})
        assert status == 401, body
        assert headers["www-authenticate"] == expected
    status, headers, _ = s.request("POST", "mcp-echo", "/mcp/", b"{}", {"Content-Type": "application/json"},
                                   token=s.token("mcp-test"))
    assert status == 401 and headers["www-authenticate"] == expected + ', error="invalid_token"'
    # a token for the canonical resource .../mcp is good at .../mcp/
    status, _, body = s.request("POST", "mcp-echo", "/mcp/", INIT, {"Content-Type": "application/json",
                                                                     "Accept": ACCEPT}, token=s.token("mcp-echo"))
    assert status == 200, body
    assert json.loads(body)["result"]["serverInfo"]
    # forwarded to the service's configured MCP path, with the query
    status, _, body = s.request("POST", "mcp-test", "/mcp/?x=1", {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                {"Content-Type": "application/json", "Accept": ACCEPT}, token=s.token("mcp-test"))
    assert status == 200, body
    assert json.loads(body)["target"] == "/mcp?x=1"
    # the metadata URL a client derives from .../mcp/ (RFC 9728 §3.1) answers the same document
    prefix = "/.well-known/oauth-protected-resource" + ("/mcp-echo" if path_mode else "")
    status, _, body = s.request("GET", "mcp-echo", prefix + "/mcp/")
    assert status == 200, body
    status, _, plain = s.request("GET", "mcp-echo", prefix + "/mcp")
    assert json.loads(body) == json.loads(plain) and json.loads(body)["resource"] == s.resource("mcp-echo")
    # only one trailing slash is the endpoint
    status, _, _ = s.request("POST", "mcp-echo", "/mcp//", b"{}", {"Content-Type": "application/json"},
                             token=s.token("mcp-echo"))
    assert status == 404


def test_path_mode_root_resource_metadata(procs, redis_server, upstream):
    """Path mode shares one origin: the root /.well-known/oauth-protected-resource (a client's
    fallback) answers the only service's document, as auth does; with several it names none."""
    s = start_stack(procs, redis_server, upstream, path_mode=True, MCP_TEST_ENABLED="false")
    status, headers, body = http("GET", f"http://127.0.0.1:{s.port}/.well-known/oauth-protected-resource",
                                 headers={"Origin": "https://inspector.example"})
    assert status == 200, body
    doc = json.loads(body)
    assert doc["resource"] == s.resource("mcp-echo") and doc["authorization_servers"] == [s.issuer()]
    assert headers["access-control-allow-origin"] == "*"
    s.router.stop()
    s = start_stack(procs, redis_server, upstream, path_mode=True)
    status, _, body = http("GET", f"http://127.0.0.1:{s.port}/.well-known/oauth-protected-resource")
    assert status == 404 and json.loads(body)["error"] == "not_found"
    status, _, body = http("GET", f"http://127.0.0.1:{s.port}/.well-known/oauth-protected-resource/mcp-test/mcp")
    assert status == 200 and json.loads(body)["resource"] == s.resource("mcp-test")


def test_metadata_and_health_need_no_token(procs, redis_server, upstream):
    s = start_stack(procs, redis_server, upstream)
    status, _, body = s.request("GET", "mcp-echo", "/health")
    assert status == 200 and json.loads(body)["service"] == "mcp-echo"
    status, _, body = s.request("GET", "mcp-echo", "/.well-known/oauth-protected-resource")
    assert status == 200 and json.loads(body)["resource"] == s.resource("mcp-echo")
    # AS metadata goes to auth on any host; auth is not running here -> 502 JSON, not 401
    status, _, body = s.request("GET", "mcp-echo", "/.well-known/oauth-authorization-server")
    assert status == 502 and json.loads(body)["error"] == "upstream_unavailable"
    assert "Upstream auth unavailable" in s.router.stderr()
    # unknown path on a service host
    status, _, body = s.request("GET", "mcp-echo", "/elsewhere")
    assert status == 404
    # the Host header is matched case-insensitively, port ignored
    status, _, _ = http("GET", f"http://127.0.0.1:{s.port}/health", headers={"Host": f"MCP-Echo.{DOMAIN.upper()}"})
    assert status == 200
    # admin port
    status, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/ping")
    assert status == 200 and body == b"OK"
    status, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    text = body.decode()
    assert 'router_upstream_requests_total{service="mcp-echo",method="GET",status="200"}' in text
    assert 'router_upstream_errors_total{service="auth",reason="connect_failed"}' in text
    # the same admin endpoints on the public port for the guide's traefik host (subdomain mode)
    traefik = {"Host": f"traefik.{DOMAIN}"}
    status, headers, body = http("GET", f"http://127.0.0.1:{s.port}/metrics", headers=traefik)
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'router_upstream_errors_total{service="auth",reason="connect_failed"}' in body.decode()
    status, _, body = http("GET", f"http://127.0.0.1:{s.port}/ping", headers=traefik)
    assert status == 200 and body == b"OK"
    status, _, body = http("GET", f"http://127.0.0.1:{s.port}/mcp", headers=traefik)
    assert status == 404 and json.loads(body)["error"] == "not_found"


def test_metrics_allowed_ips(procs, redis_server, upstream):
    """METRICS_ALLOWED_IPS limits /metrics (admin port and the traefik host) to the listed
    networks and this machine. The test client is on loopback, so a remote client is played by a
    proxy on this machine that names it in X-Forwarded-For."""
    s = start_stack(procs, redis_server, upstream, METRICS_ALLOWED_IPS="192.0.2.0/24, 2001:db8::/32")
    admin = f"http://127.0.0.1:{s.admin_port}"
    status, _, body = http("GET", f"{admin}/metrics")
    assert status == 200 and b"http_requests_total" in body
    for remote in ["198.51.100.7", "2001:db9::1"]:
        status, headers, body = http("GET", f"{admin}/metrics", headers={"X-Forwarded-For": remote})
        assert status == 403 and headers["content-type"].startswith("application/json")
        assert json.loads(body)["error"] == "forbidden" and b"METRICS_ALLOWED_IPS" in body
        status, _, body = http("GET", f"http://127.0.0.1:{s.port}/metrics",
                               headers={"Host": f"traefik.{DOMAIN}", "X-Forwarded-For": remote})
        assert status == 403 and b"http_requests_total" not in body
        # only /metrics is limited: /ping and /health stay public
        assert http("GET", f"{admin}/ping", headers={"X-Forwarded-For": remote})[0] == 200
        assert http("GET", f"{admin}/health", headers={"X-Forwarded-For": remote})[0] == 200
    for listed in ["192.0.2.9", "2001:db8:1::5", "10.0.0.1, 192.0.2.200"]:
        status, _, body = http("GET", f"http://127.0.0.1:{s.port}/metrics",
                               headers={"Host": f"traefik.{DOMAIN}", "X-Forwarded-For": listed})
        assert status == 200 and b"http_requests_total" in body
    # the refusals are counted like any request
    _, _, body = http("GET", f"{admin}/metrics")
    assert 'http_requests_total{service="router",method="GET",status="403"}' in body.decode()


def metric_samples(text, name):
    """{labels text: value} for one metric family of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1:].rsplit("} ", 1)
            out[labels] = float(value)
    return out


def test_requests_by_client_and_user_capped_at_100_labels(procs, redis_server, upstream):
    # The guide's "API usage by client": the first 100 distinct clients (and users) get their own
    # label, later ones are counted as "other", and nothing is lost from the totals.
    s = start_stack(procs, redis_server, upstream)
    sent = [(f"client-{i:03d}", f"github:{i % 3}") for i in range(104)]
    sent += [("client-000", "github:0"), ("client-103", "github:1")] * 2
    for client_id, sub in sent:
        status, _, body = s.mcp_post("mcp-echo", INIT, token=s.token("mcp-echo", client_id=client_id, sub=sub))
        assert status == 200, body
    _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    by_client = metric_samples(body.decode(), "router_requests_by_client_total")
    expected = {f'service="mcp-echo",client_id="client-{i:03d}"': 1.0 for i in range(100)}
    expected['service="mcp-echo",client_id="client-000"'] = 3.0
    expected['service="mcp-echo",client_id="other"'] = 6.0  # client-100..103, then client-103 twice
    assert by_client == expected
    by_user = metric_samples(body.decode(), "router_requests_by_user_total")
    assert by_user == {'service="mcp-echo",user="github:0"': 37.0, 'service="mcp-echo",user="github:1"': 37.0,
                       'service="mcp-echo",user="github:2"': 34.0}


# ---- what the upstream sees ----

def test_upstream_sees_identity_not_token(procs, redis_server, upstream):
    s = start_stack(procs, redis_server, upstream)
    token = s.token("mcp-test", username="octocat", client_id="client-abc")
    # http.client, not urllib: urllib replaces the Connection header with "close"
    conn = httpclient.HTTPConnection("127.0.0.1", s.port, timeout=10)
    conn.request("POST", "/mcp", json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode(),
                 headers={"Host": s.host("mcp-test"), "Authorization": f"Bearer {token}",
                          "Content-Type": "application/json", "Accept": ACCEPT,
                          "X-User-Id": "admin", "X-User-Name": "root", "x-user-role": "admin",
                          "X-Forwarded-For": "6.6.6.6", "Mcp-Session-Id": "sess-1",
                          "MCP-Protocol-Version": "2025-06-18", "Last-Event-ID": "ev-9",
                          "Mcp-Method": "ping", "Mcp-Name": "n", "Mcp-Param-Foo": "bar",
                          "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "1",
                          "X-Request-Id": "req-12345"})
    r = conn.getresponse()
    status, headers, body = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    conn.close()
    assert status == 200, body
    seen = json.loads(body)
    h = {}
    for name, value in seen["headers"]:
        h.setdefault(name.lower(), []).append(value)
    assert "authorization" not in h
    assert h["x-user-id"] == ["github:4242"]
    assert h["x-user-name"] == ["octocat"]
    assert h["x-client-id"] == ["client-abc"]
    assert "x-user-role" not in h
    assert h["x-forwarded-for"] == ["127.0.0.1"]
    assert h["x-forwarded-proto"] == ["http"]
    assert h["x-forwarded-host"] == [s.host("mcp-test")]
    assert h["x-request-id"] == ["req-12345"]
    for name, value in (("mcp-session-id", "sess-1"), ("mcp-protocol-version", "2025-06-18"),
                        ("last-event-id", "ev-9"), ("mcp-method", "ping"), ("mcp-name", "n"),
                        ("mcp-param-foo", "bar")):
        assert h[name] == [value]
    assert "x-drop-me" not in h and "connection" not in h
    assert h["host"] == [f"127.0.0.1:{upstream.port}"]
    assert seen["target"] == "/mcp"
    # response: hop-by-hop fields named by the upstream's Connection are not relayed; CORS is the router's
    assert "x-secret-hop" not in headers
    assert "access-control-allow-origin" not in headers
    assert headers["x-request-id"] == "req-12345"


def test_keepalive_pool_reuses_upstream_connections(procs, redis_server, upstream):
    s = start_stack(procs, redis_server, upstream, WORKERS=1)
    token = s.token("mcp-test")
    for _ in range(5):
        status, _, _ = s.mcp_post("mcp-test", {"jsonrpc": "2.0", "id": 1, "method": "ping"}, token=token)
        assert status == 200
    assert len(upstream.requests) == 5
    # one worker, one request at a time: one pooled upstream connection carries all five
    assert len({r["peer"] for r in upstream.requests}) == 1


def test_pipelined_and_split_requests_through_the_router(procs, redis_server, upstream):
    """Three requests in one write (answered in order, each after its upstream round trip), then
    one whose head and body arrive in separate writes: the whole-message path and llhttp's path
    on one keep-alive connection."""
    s = start_stack(procs, redis_server, upstream, WORKERS=1)
    token = s.token("mcp-echo")

    def post(n):
        body = json.dumps({"jsonrpc": "2.0", "id": n, "method": "tools/call",
                           "params": {"name": "echo", "arguments": {"message": f"m{n}"}}}).encode()
        head = (f"POST /mcp HTTP/1.1\r\nHost: {s.host('mcp-echo')}\r\nContent-Type: application/json\r\n"
                f"Accept: {ACCEPT}\r\nAuthorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n")
        return head.encode(), body

    def read_answers(sock, buf, count):
        answers = []
        while len(answers) < count:
            buf = read_until(sock, buf, b"\r\n\r\n")
            head, rest = buf.split(b"\r\n\r\n", 1)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            while len(rest) < length:
                chunk = sock.recv(65536)
                assert chunk, "connection closed mid-answer"
                rest += chunk
            answers.append((head.split(b"\r\n")[0], json.loads(rest[:length])))
            buf = rest[length:]
        return answers, buf

    with socket.create_connection(("127.0.0.1", s.port), timeout=20) as sock:
        sock.sendall(b"".join(h + b for h, b in (post(1), post(2), post(3))))
        answers, buf = read_answers(sock, b"", 3)
        assert [a[0] for a in answers] == [b"HTTP/1.1 200 OK"] * 3
        assert [a[1]["id"] for a in answers] == [1, 2, 3]
        assert [a[1]["result"]["content"][0]["text"] for a in answers] == ["m1", "m2", "m3"]
        head, body = post(4)
        sock.sendall(head[:40])
        time.sleep(0.1)
        sock.sendall(head[40:])
        time.sleep(0.1)
        sock.sendall(body)
        answers, _ = read_answers(sock, buf, 1)
        assert answers[0][0] == b"HTTP/1.1 200 OK" and answers[0][1]["id"] == 4


# ---- streaming ----

def open_sse(s, svc, token, extra=b""):
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    sock.sendall(f"GET /mcp HTTP/1.1\r\nHost: {s.host(svc)}\r\nAccept: text/event-stream\r\n"
                 f"Authorization: Bearer {token}\r\n".encode() + extra + b"\r\n")
    return sock


def read_until(sock, buf, marker):
    while marker not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before {marker!r}; got {buf!r}")
        buf += chunk
    return buf


def test_sse_events_relayed_one_by_one(procs, redis_server, upstream):
    s = start_stack(procs, redis_server, upstream)
    sock = open_sse(s, "mcp-test", s.token("mcp-test"))
    buf = read_until(sock, b"", b"\r\n\r\n")
    head = buf.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 200")
    assert "content-type: text/event-stream" in head
    assert "x-accel-buffering: no" in head
    assert "mcp-session-id: s-1" in head
    # each event reaches the client before the upstream sends the next one
    for i in range(3):
        upstream.release()
        buf = read_until(sock, buf, f'data: {{"n": {i}}}'.encode())
        assert f'data: {{"n": {i + 1}}}'.encode() not in buf
    upstream.ended_by_test = True
    sock.close()


def test_client_disconnect_cancels_upstream(procs, redis_server, upstream):
    s = start_stack(procs, redis_server, upstream)
    sock = open_sse(s, "mcp-test", s.token("mcp-test"))
    upstream.release()
    read_until(sock, b"", b'data: {"n": 0}')
    sock.close()
    upstream.release()
    upstream.release()
    assert upstream.stream_closed.wait(15), "the router did not close the upstream connection"
    deadline = time.time() + 10
    while time.time() < deadline:
        _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
        if 'router_active_streams{service="mcp-test"} 0' in body.decode():
            break
        time.sleep(0.1)
    assert 'router_active_streams{service="mcp-test"} 0' in body.decode()


# ---- failures ----

def test_upstream_down_is_502_and_slow_is_504(procs, redis_server, upstream):
    dead_port = free_port()
    s = start_stack(procs, redis_server, upstream, UPSTREAM_TIMEOUT=1,
                    MCP_DEAD_URL=f"http://127.0.0.1:{dead_port}",
                    MCP_SLOW_URL=f"http://127.0.0.1:{upstream.port}/slow")
    status, headers, body = s.mcp_post("mcp-dead", INIT, token=s.token("mcp-dead"))
    assert status == 502
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body)["error"] == "upstream_unavailable"
    status, headers, body = s.mcp_post("mcp-slow", INIT, token=s.token("mcp-slow"))
    assert status == 504
    assert json.loads(body)["error"] == "upstream_timeout"
    log = s.router.stderr()
    assert "Upstream mcp-dead unavailable" in log
    assert "Upstream mcp-slow timed out" in log
    # the event line and the access-log line both name the service as "route" (in subdomain
    # mode every access line's path is /mcp, so the route is how an operator tells them apart)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    event = [e for e in lines if e["message"] == "Upstream mcp-dead unavailable"]
    assert event and event[0]["route"] == "mcp-dead" and "field_service" not in event[0]
    access = [e for e in lines if e.get("status") in (502, 504) and e.get("path") == "/mcp"]
    assert sorted((e["status"], e["route"]) for e in access) == [(502, "mcp-dead"), (504, "mcp-slow")]


def test_upstream_by_host_name(procs, redis_server, upstream):
    """An upstream named by host name (MCP_<NAME>_URL on another machine) is resolved by the
    router's resolver, not by the workers: here "localhost", which /etc/hosts answers."""
    s = start_stack(procs, redis_server, upstream, MCP_NAMED_URL=f"http://localhost:{upstream.port}")
    seen = len(upstream.requests)
    status, _, body = s.mcp_post("mcp-named", INIT, token=s.token("mcp-named"))
    assert status == 200, body
    posts = [r for r in upstream.requests[seen:] if r["method"] == "POST"]
    assert posts and posts[-1]["target"] == "/mcp" and json.loads(posts[-1]["body"]) == INIT


# ---- CORS and Origin ----

def test_cors_preflight_and_origin(procs, redis_server, upstream):
    s = start_stack(procs, redis_server, upstream)
    status, headers, _ = s.request("OPTIONS", "mcp-echo", "/mcp", None,
                                   {"Origin": "https://app.example.org", "Access-Control-Request-Method": "POST",
                                    "Access-Control-Request-Headers": "authorization, content-type"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://app.example.org"
    assert "POST" in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"].lower()
    # allowed origin on a real request: exposed headers for browser clients
    status, headers, _ = s.mcp_post("mcp-echo", INIT, token=s.token("mcp-echo"),
                                    headers={"Origin": "https://app.example.org"})
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example.org"
    exposed = headers["access-control-expose-headers"].lower()
    assert "mcp-session-id" in exposed and "www-authenticate" in exposed
    # a 401 also carries CORS headers, so a browser can read WWW-Authenticate
    status, headers, _ = s.mcp_post("mcp-echo", INIT, headers={"Origin": "https://app.example.org"})
    assert status == 401 and headers["access-control-allow-origin"] == "https://app.example.org"
    # a foreign origin is refused even with a valid token, and its preflight too
    status, _, body = s.mcp_post("mcp-echo", INIT, token=s.token("mcp-echo"), headers={"Origin": "https://evil.example"})
    assert status == 403 and json.loads(body)["error"] == "origin_not_allowed"
    status, _, _ = s.request("OPTIONS", "mcp-echo", "/mcp", None,
                             {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert status == 403


# ---- rate limits ----

def test_rate_limit_trips(procs, redis_server, upstream):
    s = start_stack(procs, redis_server, upstream, RATE_LIMIT_MCP="3/minute")
    token = s.token("mcp-echo", client_id="client-rl")
    statuses = []
    for _ in range(6):
        status, headers, body = s.mcp_post("mcp-echo", INIT, token=token)
        statuses.append(status)
        if status == 429:
            assert int(headers["retry-after"]) >= 1
            assert headers["ratelimit-limit"] == "3"
            assert headers["ratelimit-remaining"] == "0"
            assert json.loads(body)["error"] == "rate_limit_exceeded"
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses
    # another client of the same user has its own budget
    status, _, _ = s.mcp_post("mcp-echo", INIT, token=s.token("mcp-echo", client_id="client-other"))
    assert status == 200
    log = s.router.stderr()
    assert "rate limit" in log
    # the refusal and its access-log line name the service as "route"
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    refused = [e for e in lines if e["message"] == "Request refused: rate limit exceeded"]
    assert refused and all(e["route"] == "mcp-echo" for e in refused)
    access = [e for e in lines if e.get("status") == 429]
    assert len(access) == statuses.count(429) and all(e["route"] == "mcp-echo" for e in access)


def test_service_limit_replaces_the_mcp_limit(procs, redis_server, upstream):
    """RATE_LIMIT_<NAME> limits the service of MCP_<NAME>_* (RATE_LIMIT_ECHO: mcp-echo) per user
    and client, in a bucket of its own and instead of RATE_LIMIT_MCP. The services without a limit
    of their own (mcp-test, mcp-other) share one RATE_LIMIT_MCP bucket per user and client, as
    before. A RATE_LIMIT_<NAME> for no service is named in a warning."""
    s = start_stack(procs, redis_server, upstream, RATE_LIMIT_ECHO="3/minute", RATE_LIMIT_MCP="5/minute",
                    MCP_OTHER_URL=f"http://127.0.0.1:{upstream.port}", RATE_LIMIT_NOPE="1/minute")
    token = s.token("mcp-echo", client_id="client-svc")
    answers = [s.mcp_post("mcp-echo", INIT, token=token) for _ in range(4)]
    assert [a[0] for a in answers] == [200, 200, 200, 429]
    _, headers, body = answers[3]
    assert headers["ratelimit-limit"] == "3" and headers["ratelimit-policy"] == "3;w=60"
    assert int(headers["retry-after"]) >= 1 and json.loads(body)["error"] == "rate_limit_exceeded"
    # mcp-echo's requests did not count against RATE_LIMIT_MCP: the same user and client still has
    # all 5 of it, shared by mcp-test and mcp-other
    statuses = [s.mcp_post("mcp-test", INIT, token=s.token("mcp-test", client_id="client-svc"))[0]
                for _ in range(3)]
    first_other = s.mcp_post("mcp-other", INIT, token=s.token("mcp-other", client_id="client-svc"))
    statuses.append(first_other[0])
    statuses += [s.mcp_post("mcp-other", INIT, token=s.token("mcp-other", client_id="client-svc"))[0]
                 for _ in range(2)]
    assert statuses == [200, 200, 200, 200, 200, 429]
    assert first_other[1]["ratelimit-limit"] == "5" and first_other[1]["ratelimit-remaining"] == "1"
    # and mcp-echo's own bucket is still empty
    assert s.mcp_post("mcp-echo", INIT, token=token)[0] == 429
    _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    text = body.decode()
    assert 'router_rate_limit_hits_total{limit="echo"} 2' in text
    assert 'router_rate_limit_hits_total{limit="mcp"} 1' in text
    lines = [json.loads(line) for line in s.router.stderr().splitlines() if line.startswith("{")]
    refused = [(e["limit"], e["route"]) for e in lines if e["message"] == "Request refused: rate limit exceeded"]
    assert sorted(refused) == [("echo", "mcp-echo"), ("echo", "mcp-echo"), ("mcp", "mcp-other")]
    routes = {e["route"]: e for e in lines if e["message"] == "Route"}
    assert routes["mcp-echo"]["rate_limit"] == "RATE_LIMIT_ECHO"
    assert routes["mcp-test"]["rate_limit"] == "RATE_LIMIT_MCP"
    unused = [e for e in lines if e["message"] == "Rate limit for no routed MCP service; ignored"]
    assert [e["variable"] for e in unused] == ["RATE_LIMIT_NOPE"]


# ---- upstream reachability: router_upstream_up and /health ----

def upstream_gauges(s):
    _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    return dict(re.findall(r'^router_upstream_up\{service="([^"]+)"\} (\S+)$', body.decode(), re.M))


def wait_gauges(s, wanted, timeout=40):
    """Poll /metrics until every service in wanted has that router_upstream_up value."""
    deadline = time.time() + timeout
    seen = {}
    while time.time() < deadline:
        seen = upstream_gauges(s)
        if all(seen.get(k) == v for k, v in wanted.items()):
            return seen
        time.sleep(0.2)
    raise AssertionError(f"router_upstream_up never became {wanted}; last {seen}")


def test_upstream_name_with_an_address_that_refuses(procs, workdir, redis_server, upstream):
    """An upstream named by a host whose first address refuses (dual.test: ::1 first, as
    localhost is on most machines, while the service listens on 127.0.0.1 only): the router
    tries the next address, so the very first request succeeds and later ones go straight to
    the address that answers. Before, the first answer of getaddrinfo was the only one tried:
    502 on every request."""
    hosts = os.path.join(workdir, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n::1 dual.test\n127.0.0.1 dual.test\n")
    s = start_stack(procs, redis_server, upstream, hosts_file=hosts, MCP_DUAL_URL=f"http://dual.test:{upstream.port}")
    for _ in range(6):  # both workers, fresh and pooled connections
        status, _, body = s.mcp_post("mcp-dual", INIT, token=s.token("mcp-dual"))
        assert status == 200, body
    wait_gauges(s, {"mcp-dual": "1"})
    assert '"status":502' not in s.router.stderr()


def test_upstream_up_gauge_and_health(procs, redis_server, upstream):
    """router_upstream_up{service} says whether the router reaches each upstream, from its own
    probe without any traffic, and from requests; /health lists them without turning unhealthy.
    An upstream that goes away, and one that comes up, are noticed by the probe alone."""
    dead_port = free_port()
    s = start_stack(procs, redis_server, upstream, MCP_DEAD_URL=f"http://127.0.0.1:{dead_port}")
    # no request was made: the probe alone (auth is not running in this stack)
    wait_gauges(s, {"mcp-echo": "1", "mcp-test": "1", "mcp-dead": "0", "auth": "0"})
    status, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/health")
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "healthy"  # informational: no restart for a down service
    assert doc["upstreams"] == {"auth": "down", "mcp-echo": "up", "mcp-test": "up", "mcp-dead": "down"}
    assert "upstreams" not in doc["checks"]
    # traffic to a dead upstream: 502, and the gauge stays 0
    assert s.mcp_post("mcp-dead", INIT, token=s.token("mcp-dead"))[0] == 502
    assert s.mcp_post("mcp-test", INIT, token=s.token("mcp-test"))[0] == 200
    assert upstream_gauges(s)["mcp-dead"] == "0"
    # mcp-dead starts listening: up again within a probe or two
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", dead_port))
    listener.listen(16)
    try:
        wait_gauges(s, {"mcp-dead": "1"})
    finally:
        listener.close()
    # mcp-test's server goes away without any request to it: the probe notices
    upstream.close()
    wait_gauges(s, {"mcp-test": "0", "mcp-echo": "1"})
    status, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/health")
    assert status == 200 and json.loads(body)["upstreams"]["mcp-test"] == "down"
    lines = [json.loads(line) for line in s.router.stderr().splitlines() if line.startswith("{")]
    assert any(e["message"] == "Upstream unreachable" and e["route"] == "mcp-test" for e in lines)
    assert any(e["message"] == "Upstream reachable" and e["route"] == "mcp-dead" for e in lines)


# ---- TLS listener, HTTP -> HTTPS redirect, ACME challenge files ----

def test_https_listener_redirect_and_acme(procs, redis_server, upstream, workdir):
    import signal
    import ssl
    import subprocess
    cert, key = os.path.join(workdir, "router.crt"), os.path.join(workdir, "router.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=*.{DOMAIN}",
                    "-addext", f"subjectAltName=DNS:*.{DOMAIN},DNS:{DOMAIN}"], check=True, capture_output=True)
    acme_dir = os.path.join(workdir, "acme")
    os.makedirs(acme_dir)
    with open(os.path.join(acme_dir, "tok-123_abc"), "w") as f:
        f.write("tok-123_abc.thumbprint")
    https_port = free_port()
    s = start_stack(procs, redis_server, upstream, HTTPS_PORT=https_port, TLS_CERT_FILE=cert, TLS_KEY_FILE=key,
                    ACME_CHALLENGE_DIR=acme_dir)
    resource = f"https://mcp-test.{DOMAIN}:{https_port}/mcp"
    token = mint(aud=resource, iss=f"https://auth.{DOMAIN}:{https_port}")
    ctx = ssl.create_default_context(cafile=cert)
    ctx.check_hostname = False  # we connect to 127.0.0.1; the certificate names the domain

    def https_post(host, tok):
        conn = httpclient.HTTPSConnection("127.0.0.1", https_port, context=ctx, timeout=10)
        conn.request("POST", "/mcp", json.dumps(INIT).encode(),
                     headers={"Host": host, "Authorization": f"Bearer {tok}", "Content-Type": "application/json",
                              "Accept": ACCEPT})
        r = conn.getresponse()
        out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        conn.close()
        return out

    status, headers, body = https_post(f"mcp-test.{DOMAIN}:{https_port}", token)
    assert status == 200, body
    seen = {n.lower(): v for n, v in json.loads(body)["headers"]}
    assert seen["x-forwarded-proto"] == "https"
    # the 401 over HTTPS names the https metadata URL
    status, headers, _ = https_post(f"mcp-test.{DOMAIN}:{https_port}", "garbage")
    assert status == 401
    assert f'resource_metadata="https://mcp-test.{DOMAIN}:{https_port}/.well-known/' in headers["www-authenticate"]
    # plain HTTP: a 308 to the same URL on HTTPS, except ACME challenges
    status, headers, _ = http("POST", f"http://127.0.0.1:{s.port}/mcp?x=1", b"{}",
                              {"Host": f"mcp-test.{DOMAIN}:{s.port}", "Content-Type": "application/json"})
    assert status == 308
    assert headers["location"] == f"https://mcp-test.{DOMAIN}:{https_port}/mcp?x=1"
    status, _, body = http("GET", f"http://127.0.0.1:{s.port}/.well-known/acme-challenge/tok-123_abc",
                           headers={"Host": f"mcp-test.{DOMAIN}"})
    assert status == 200 and body == b"tok-123_abc.thumbprint"
    status, _, _ = http("GET", f"http://127.0.0.1:{s.port}/.well-known/acme-challenge/..%2Fsecret",
                        headers={"Host": f"mcp-test.{DOMAIN}"})
    assert status == 404
    # SIGHUP reloads the certificates; the router keeps serving
    os.kill(s.router.pid, signal.SIGHUP)
    deadline = time.time() + 10
    while "SIGHUP" not in s.router.stderr() and time.time() < deadline:
        time.sleep(0.05)
    assert "SIGHUP" in s.router.stderr()
    status, _, _ = https_post(f"mcp-test.{DOMAIN}:{https_port}", token)
    assert status == 200


def test_per_ip_limit_on_registration(procs, redis_server, upstream):
    # auth is not running: allowed requests are forwarded (502), the third within the minute is refused
    s = start_stack(procs, redis_server, upstream, RATE_LIMIT_REGISTER="2/minute")
    statuses = []
    for _ in range(3):
        status, headers, body = http("POST", f"http://127.0.0.1:{s.port}/register", b"{}",
                                     {"Host": f"auth.{DOMAIN}:{s.port}", "Content-Type": "application/json"})
        statuses.append(status)
    assert statuses[:2] == [502, 502]
    assert statuses[2] == 429
    assert int(headers["retry-after"]) >= 1
    assert json.loads(body)["error"] == "rate_limit_exceeded"
    # other endpoints of the authorization server are not counted against it
    status, _, _ = http("GET", f"http://127.0.0.1:{s.port}/jwks", headers={"Host": f"auth.{DOMAIN}:{s.port}"})
    assert status == 502
    _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    assert 'router_rate_limit_hits_total{limit="register"} 1' in body.decode()


def test_registration_trusted_networks_skip_the_register_limit(procs, redis_server, upstream):
    """Peers in REGISTRATION_TRUSTED_NETWORKS (hosted connectors' egress; here the test client's
    loopback address) are not held to RATE_LIMIT_REGISTER; the other per-IP limits still apply, and
    with the variable empty so does the register limit. auth is not running: forwarded is 502."""
    def post(stack, path):
        return http("POST", f"http://127.0.0.1:{stack.port}{path}", b"{}",
                    {"Host": f"auth.{DOMAIN}:{stack.port}", "Content-Type": "application/json"})

    s = start_stack(procs, redis_server, upstream, RATE_LIMIT_REGISTER="2/minute", RATE_LIMIT_TOKEN="2/minute",
                    REGISTRATION_TRUSTED_NETWORKS="160.79.104.0/21, 127.0.0.0/8")
    assert [post(s, "/register")[0] for _ in range(5)] == [502] * 5
    assert [post(s, "/token")[0] for _ in range(3)] == [502, 502, 429]
    _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    assert 'router_rate_limit_hits_total{limit="register"}' not in body.decode()
    assert 'router_rate_limit_hits_total{limit="token"} 1' in body.decode()
    s.router.stop()
    s = start_stack(procs, redis_server, upstream, RATE_LIMIT_REGISTER="2/minute", REGISTRATION_TRUSTED_NETWORKS="")
    assert [post(s, "/register")[0] for _ in range(3)] == [502, 502, 429]


def test_shutdown_ends_streams_cleanly(procs, redis_server, upstream):
    import signal
    s = start_stack(procs, redis_server, upstream, SHUTDOWN_TIMEOUT=30)
    sock = open_sse(s, "mcp-test", s.token("mcp-test"))
    upstream.release()
    buf = read_until(sock, b"", b'data: {"n": 0}')
    os.kill(s.router.pid, signal.SIGTERM)
    # the stream is ended with the chunked terminator (a complete response), not cut off
    buf = read_until(sock, buf, b"\r\n0\r\n\r\n")
    sock.close()
    assert s.router.proc.wait(timeout=25) == 0
    upstream.release()  # the upstream notices the closed connection when it next writes
    upstream.release()
    assert upstream.stream_closed.wait(15)
