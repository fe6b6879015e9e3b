"""
End-to-end token matrix and revocation through the real `mcpgw router` (with real redis-server and
`mcpgw echo` behind it): not-yet-valid, alg=none, garbage, another key; a revocation written to
Redis the way auth writes it is refused after a few 250 ms polls (no per-request Redis); with
ES256 keys fetched from a fake auth's /jwks, an unknown kid makes the router refetch the key set
(the first request fails, later ones succeed) at most once per 10 s; a rate limit of 2/second
resets after the period. Needs python3-cryptography for the ES256 test (skipped without it). The stack and HS256 token minting come from test_router.py.
"""
import base64
import hashlib
import hmac
import http.server as http_server
import json
import os
import socket
import threading
import time

import pytest

from conftest import bare_env, free_port, http
from test_router import INIT, SECRET, start_stack, upstream  # noqa: F401  (upstream is a fixture)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims, head=None, secret=SECRET):
    head = head or {"alg": "HS256", "typ": "JWT",
                    "kid": b64(hmac.new(secret.encode(), b"mcpgw HS256 key id v1", hashlib.sha256).digest()[:16])}
    signing_input = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
    return signing_input + "." + b64(hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest())


def claims_for(stack, svc="mcp-echo", **over):
    now = int(time.time())
    c = {"iss": stack.issuer(), "sub": "github:7", "aud": stack.resource(svc), "exp": now + 600, "iat": now,
         "nbf": now - 1, "jti": b64(os.urandom(16)), "client_id": "c-tokens", "scope": "mcp", "username": "u"}
    c.update(over)
    return c


def redis_command(redis_server, *args):
    """One command over RESP (with AUTH first); returns the raw reply bytes."""
    port, password = redis_server
    def enc(parts):
        out = b"*%d\r\n" % len(parts)
        for p in parts:
            p = p if isinstance(p, bytes) else str(p).encode()
            out += b"$%d\r\n%s\r\n" % (len(p), p)
        return out
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(enc(["AUTH", password]) + enc(list(args)))
        data = s.recv(65536)
        s.settimeout(0.3)
        try:
            while True:
                more = s.recv(65536)
                if not more:
                    break
                data += more
        except socket.timeout:
            pass
        return data


def status_of(stack, token):
    status, headers, _ = stack.mcp_post("mcp-echo", INIT, token=token)
    return status, headers.get("www-authenticate", "")


def test_token_matrix(procs, redis_server, upstream):  # noqa: F811
    s = start_stack(procs, redis_server, upstream)
    now = int(time.time())
    assert status_of(s, hs256(claims_for(s)))[0] == 200
    refused = {
        "not yet valid": hs256(claims_for(s, nbf=now + 600, iat=now)),
        "issued in the future": hs256(claims_for(s, iat=now + 600)),
        "expired beyond leeway": hs256(claims_for(s, exp=now - 120)),
        "wrong issuer": hs256(claims_for(s, iss="https://evil.example")),
        "other service": hs256(claims_for(s, aud=s.resource("mcp-test"))),
        "no jti": hs256({k: v for k, v in claims_for(s).items() if k != "jti"}),
        "alg none": b64(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "."
                    + b64(json.dumps(claims_for(s)).encode()) + ".",
        "alg none, no dot": b64(json.dumps({"alg": "none"}).encode()) + "."
                            + b64(json.dumps(claims_for(s)).encode()),
        "other secret": hs256(claims_for(s), secret="another-secret-0123456789abcdef-xyz"),
        "unknown kid": hs256(claims_for(s), head={"alg": "HS256", "typ": "JWT", "kid": "nope"}),
        "garbage": "garbage",
        "three dots": "a.b.c.d",
    }
    for name, token in refused.items():
        status, www = status_of(s, token)
        assert status == 401, name
        assert 'error="invalid_token"' in www, name
    # a bearer credential that is not a b64token at all
    status, headers, _ = s.mcp_post("mcp-echo", INIT, headers={"Authorization": "Bearer a,b"})
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    status, www = status_of(s, hs256(claims_for(s, scope="read write")))
    assert status == 403 and 'error="insufficient_scope"' in www
    _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    text = body.decode()
    assert 'router_token_checks_total{result="ok"}' in text
    assert 'router_token_checks_total{result="invalid"}' in text
    assert 'router_token_checks_total{result="insufficient_scope"}' in text
    # no token ever reaches the log
    log = s.router.stderr()
    for token in refused.values():
        if len(token) > 20:
            assert token not in log


def test_revocation_honoured_quickly(procs, redis_server, upstream):  # noqa: F811
    s = start_stack(procs, redis_server, upstream, WORKERS=2)
    doomed = claims_for(s)
    token, other = hs256(doomed), hs256(claims_for(s))
    for _ in range(4):  # both workers have it verified and cached
        assert status_of(s, token)[0] == 200
    # what auth's /revoke does (docs/internals/tokens.md)
    now_ms = int(time.time() * 1000)
    redis_command(redis_server, "SET", f"oauth:revoked:{doomed['jti']}", "1", "EX", "600")
    assert redis_command(redis_server, "ZADD", "oauth:revocations", now_ms, doomed["jti"]).endswith(b":1\r\n")
    # Refused within a few 250 ms polls; the bound here is generous (no timing assertion).
    deadline = time.time() + 5
    while status_of(s, token)[0] != 401 and time.time() < deadline:
        time.sleep(0.05)
    statuses = [status_of(s, token)[0] for _ in range(6)]  # spread over both workers
    assert statuses == [401] * 6, statuses
    assert status_of(s, other)[0] == 200
    _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    assert 'router_token_checks_total{result="revoked"}' in body.decode()


def test_router_started_later_refuses_a_token_revoked_hours_ago(procs, redis_server, upstream):  # noqa: F811
    """A token revoked two hours ago that is still valid: a router that starts now loads the
    revocation from Redis (auth keeps it until the token expires) and refuses the token."""
    now = int(time.time())
    doomed = {"jti": b64(os.urandom(16))}
    redis_command(redis_server, "ZADD", "oauth:revocations", (now - 7200) * 1000, doomed["jti"])
    redis_command(redis_server, "ZADD", "oauth:revocation_expiry", now + 3600, doomed["jti"])
    s = start_stack(procs, redis_server, upstream)
    token = hs256(claims_for(s, jti=doomed["jti"], iat=now - 7300, nbf=now - 7300, exp=now + 3600))
    for _ in range(4):  # /health answered from one worker; the other may still be loading (503)
        status, www = status_of(s, token)
        deadline = time.time() + 10
        while status == 503 and time.time() < deadline:
            time.sleep(0.05)
            status, www = status_of(s, token)
        assert status == 401 and 'error="invalid_token"' in www
    assert status_of(s, hs256(claims_for(s)))[0] == 200


def wait_for_status(stack, token, want, seconds=10):
    deadline = time.time() + seconds
    status = status_of(stack, token)[0]
    while status != want and time.time() < deadline:
        time.sleep(0.05)
        status = status_of(stack, token)[0]
    return status


def test_revoked_long_lived_token_stays_refused_beyond_access_token_lifetime(procs, redis_server, upstream):  # noqa: F811
    """A token that lives longer than ACCESS_TOKEN_LIFETIME (generate-token --ttl, or the
    lifetime lowered since it was issued) stays refused until its own exp, whether the router
    reads the revocation at start-up or from a poll. The router used to forget a revocation
    ACCESS_TOKEN_LIFETIME + 31 s after it was made, so a restart brought the token back."""
    now = int(time.time())
    early = {"jti": b64(os.urandom(16))}
    # revoked 10 minutes ago, before the router starts; the token is valid for another hour
    redis_command(redis_server, "ZADD", "oauth:revocations", (now - 600) * 1000, early["jti"])
    redis_command(redis_server, "ZADD", "oauth:revocation_expiry", now + 3600, early["jti"])
    s = start_stack(procs, redis_server, upstream, ACCESS_TOKEN_LIFETIME=60, WORKERS=2)
    token = hs256(claims_for(s, jti=early["jti"], exp=now + 3600))
    statuses = []
    for _ in range(6):  # both workers
        statuses.append(wait_for_status(s, token, 401))
    assert statuses == [401] * 6, statuses
    # read by a poll: a revocation whose time is already more than the lifetime ago (auth's clock
    # behind, or the lifetime lowered) must still be kept until the token's exp
    late = claims_for(s, exp=now + 3600)
    late_token = hs256(late)
    assert status_of(s, late_token)[0] == 200
    redis_command(redis_server, "ZADD", "oauth:revocation_expiry", now + 3600, late["jti"])
    redis_command(redis_server, "ZADD", "oauth:revocations", (now - 600) * 1000, late["jti"])
    statuses = [wait_for_status(s, late_token, 401) for _ in range(6)]
    assert statuses == [401] * 6, statuses
    assert status_of(s, hs256(claims_for(s)))[0] == 200


def test_router_just_started_holds_requests_until_its_revocation_list_is_in(procs, redis_server, upstream):  # noqa: F811
    """Requests right after start-up, spread over both workers before either has to be healthy: a
    worker still reading the revocation list holds them a moment; nobody gets a 503."""
    s = start_stack(procs, redis_server, upstream, wait_healthy=False)
    token = hs256(claims_for(s))
    assert [status_of(s, token)[0] for _ in range(8)] == [200] * 8


def test_router_without_its_revocation_list_asks_clients_to_retry(procs, workdir, upstream):  # noqa: F811
    """A router whose Redis is not up yet cannot know which tokens were revoked: after holding it
    for up to 2 s, a valid token gets 503 with Retry-After (not 401, which would make the client
    drop its token), a bad one is still 401; once Redis is up and the list is loaded, the same
    token passes."""
    port, password = free_port(), "e2e-redis-password"
    s = start_stack(procs, (port, password), upstream, wait_healthy=False)
    token = hs256(claims_for(s))
    status, headers, body = s.mcp_post("mcp-echo", INIT, token=token)
    assert status == 503, body
    assert headers.get("retry-after") == "1"
    assert json.loads(body)["error"] == "temporarily_unavailable"
    assert status_of(s, hs256(claims_for(s), secret="another-secret-0123456789abcdef0123"))[0] == 401
    datadir = os.path.join(workdir, "late-redis")
    os.makedirs(datadir)
    procs.start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--requirepass", password, "--dir", datadir], bare_env(), name="late-redis")
    # each worker reconnects on its own backoff schedule, so one may load the list seconds after
    # the other: wait until both answer (four in a row spread over them), then require it
    deadline = time.time() + 30
    statuses = []
    while time.time() < deadline:
        statuses = [status_of(s, token)[0] for _ in range(4)]
        if statuses == [200] * 4:
            break
        time.sleep(0.1)
    assert statuses == [200] * 4, statuses  # both workers loaded it
    _, _, metrics = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
    assert 'router_token_checks_total{result="unavailable"}' in metrics.decode()


# ---- ES256 keys from a fake auth /jwks ----

class FakeAuth:
    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import ec
        self.ec = ec
        self.keys = {}
        self.published = []
        self.fetches = 0
        outer = self

        class Handler(http_server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path != "/jwks":
                    self.send_error(404)
                    return
                outer.fetches += 1
                body = json.dumps({"keys": [outer.jwk(k) for k in outer.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.server = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_key(self, kid, publish=True):
        self.keys[kid] = self.ec.generate_private_key(self.ec.SECP256R1())
        if publish:
            self.published.append(kid)

    def jwk(self, kid):
        n = self.keys[kid].public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
                "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}

    def sign(self, kid, claims):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        signing_input = b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": kid}).encode()) + "." \
            + b64(json.dumps(claims).encode())
        r, s_ = decode_dss_signature(self.keys[kid].sign(signing_input.encode(), self.ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + b64(r.to_bytes(32, "big") + s_.to_bytes(32, "big"))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_unknown_kid_refreshes_jwks(procs, redis_server, upstream):  # noqa: F811
    pytest.importorskip("cryptography")
    auth = FakeAuth()
    try:
        auth.add_key("k1")
        s = start_stack(procs, redis_server, upstream, WORKERS=1, JWT_ALGORITHM="ES256",
                        AUTH_INTERNAL_URL=f"http://127.0.0.1:{auth.port}")
        assert status_of(s, auth.sign("k1", claims_for(s)))[0] == 200
        start_fetches = auth.fetches
        # auth rotates to k2: the first token fails and triggers one refetch; later ones pass
        auth.add_key("k2")
        rotated = auth.sign("k2", claims_for(s))
        assert status_of(s, rotated)[0] == 401
        deadline = time.time() + 10
        while status_of(s, rotated)[0] != 200 and time.time() < deadline:
            time.sleep(0.05)
        assert status_of(s, rotated)[0] == 200
        assert auth.fetches == start_fetches + 1
        # a key auth never published: refused, and no new fetch within 10 s of the last one
        auth.add_key("rogue", publish=False)
        rogue = auth.sign("rogue", claims_for(s))
        for _ in range(5):
            assert status_of(s, rogue)[0] == 401
        time.sleep(0.3)
        assert auth.fetches == start_fetches + 1
        _, _, body = http("GET", f"http://127.0.0.1:{s.admin_port}/metrics")
        assert 'router_jwks_refreshes_total{result="success"}' in body.decode()
    finally:
        auth.close()


def test_rate_limit_resets_after_period(procs, redis_server, upstream):  # noqa: F811
    s = start_stack(procs, redis_server, upstream, RATE_LIMIT_MCP="2/second")
    token = hs256(claims_for(s, client_id="c-reset"))
    first = [status_of(s, token)[0] for _ in range(3)]
    assert first[:2] == [200, 200] and first[2] == 429
    time.sleep(1.0)  # one period
    deadline, allowed = time.time() + 5, False
    while not allowed and time.time() < deadline:
        allowed = status_of(s, token)[0] == 200
        time.sleep(0.2)
    assert allowed
    # the counter lives in Redis under the prefix, with a TTL
    keys = redis_command(redis_server, "KEYS", "oauth:ratelimit:*")
    assert b"oauth:ratelimit:" in keys
