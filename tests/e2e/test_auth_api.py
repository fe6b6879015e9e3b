"""
End-to-end tests of the non-browser half of `mcpgw auth`: discovery metadata, JWKS, dynamic
client registration (RFC 7591/7592) with its abuse controls, the token endpoint (codes seeded
into Redis in the docs/internals/tokens.md format), refresh rotation and replay, revocation,
introspection, /verify (ForwardAuth) against forged and stale tokens, and a Redis outage.

Real redis-server and mcpgw processes on loopback ports; codes are written with redis-cli.
"""
import base64
import hashlib
import http.client as httpclient
import json
import os
import secrets
import subprocess
import time
import urllib.parse

import pytest

from conftest import metric_value, Process, bare_env, free_port, http, mcpgw_bin, wait_for_http

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import padding

DOMAIN = "example.test"
ISSUER = f"https://auth.{DOMAIN}"
ECHO_RESOURCE = f"https://mcp-echo.{DOMAIN}/mcp"
FETCH_RESOURCE = f"https://mcp-fetch.{DOMAIN}/mcp"
PREFIX = "oauth:"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON_CT = {"Content-Type": "application/json"}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sha256_b64url(text):
    return b64url(hashlib.sha256(text.encode()).digest())


def jwt_parts(token):
    h, p, _ = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p))


class Auth:
    """A running `mcpgw auth` with its own redis-server."""

    def __init__(self, procs, workdir, redis_server, extra_env=None):
        self.procs = procs
        self.workdir = workdir
        self.redis_port, self.redis_password = redis_server
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env_lines = {
            "BASE_DOMAIN": DOMAIN,
            "REDIS_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "REDIS_PASSWORD": self.redis_password,
            "DATA_DIR": os.path.join(workdir, "data"),
            "LOG_DIR": os.path.join(workdir, "logs"),
            "AUTH_PORT": str(self.port),
            "WORKERS": "2",
            "MCP_ECHO_ENABLED": "true",
            "MCP_FETCH_ENABLED": "true",
            "DEBUG": "true",
            "GITHUB_CLIENT_ID": "e2e-github-app",
            "GITHUB_CLIENT_SECRET": "e2e-github-secret",
            "ALLOWED_GITHUB_USERS": "*",
        }
        env_lines.update(extra_env or {})
        with open(os.path.join(workdir, ".env"), "w") as f:
            for k, v in env_lines.items():
                f.write(f"{k}='{v}'\n")
        self.start()

    def start(self):
        self.proc = self.procs.start([mcpgw_bin(), "auth"], env=bare_env(), name=f"auth-{self.port}")
        wait_for_http(self.url + "/health", proc=self.proc)

    def stop(self):
        self.proc.stop()

    def redis(self, *args):
        out = subprocess.run(["redis-cli", "-p", str(self.redis_port), "-a", self.redis_password, "--no-auth-warning",
                              *args], capture_output=True, text=True, timeout=10)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    def post_form(self, path, fields, headers=None):
        h = dict(FORM)
        h.update(headers or {})
        status, rh, body = http("POST", self.url + path, urllib.parse.urlencode(fields).encode(), h)
        return status, rh, (json.loads(body) if body else None)

    def register(self, metadata, headers=None):
        h = dict(JSON_CT)
        h.update(headers or {})
        data = metadata if isinstance(metadata, bytes) else json.dumps(metadata).encode()
        status, rh, body = http("POST", self.url + "/register", data, h)
        return status, rh, (json.loads(body) if body else None)

    def seed_code(self, client_id, redirect_uri, verifier, resource=ECHO_RESOURCE, scope="mcp",
                  sub="github:4242", username="octocat"):
        """Store an authorization code exactly as auth_code_store does (tokens.md)."""
        code = secrets.token_urlsafe(32)
        challenge = b64url(hashlib.sha256(verifier.encode()).digest())
        record = {"client_id": client_id, "redirect_uri": redirect_uri, "code_challenge": challenge,
                  "resource": resource, "scope": scope, "sub": sub, "username": username,
                  "email": "octocat@example.test", "created_at": int(time.time())}
        self.redis("SET", PREFIX + "code:" + sha256_b64url(code), json.dumps(record), "EX", "600")
        return code

    def metric(self, line_prefix):
        return metric_value(self.url, line_prefix)

    def private_key(self):
        with open(os.path.join(self.workdir, "data", "keys", "jwt-rs256.pem"), "rb") as f:
            return serialization.load_pem_private_key(f.read(), None)

    def kid(self):
        _, _, body = http("GET", self.url + "/jwks")
        return json.loads(body)["keys"][0]["kid"]

    def sign(self, claims, header=None):
        """An RS256 token signed with the server's own key (to test claim checks)."""
        h = {"alg": "RS256", "typ": "JWT", "kid": self.kid()}
        h.update(header or {})
        signing_input = (b64url(json.dumps(h).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        sig = self.private_key().sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64url(sig)

    def verify(self, token, host=f"mcp-echo.{DOMAIN}", uri="/mcp"):
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": host, "X-Forwarded-Uri": uri}
        if token is not None:
            headers["Authorization"] = "Bearer " + token
        return http("GET", self.url + "/verify", None, headers)


@pytest.fixture
def auth(procs, workdir, redis_server):
    return Auth(procs, workdir, redis_server)


def public_client(auth, redirect="http://127.0.0.1:33418/callback", name="pytest"):
    status, _, body = auth.register({"client_name": name, "redirect_uris": [redirect],
                                     "token_endpoint_auth_method": "none"})
    assert status == 201, body
    return body


def code_tokens(auth, client, redirect="http://127.0.0.1:33418/callback", extra=None):
    verifier = secrets.token_urlsafe(48)
    code = auth.seed_code(client["client_id"], redirect, verifier)
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
              "code_verifier": verifier, "client_id": client["client_id"], "resource": ECHO_RESOURCE}
    fields.update(extra or {})
    status, headers, body = auth.post_form("/token", fields)
    assert status == 200, body
    assert headers.get("cache-control") == "no-store"
    return body


# ---- metadata ----

def test_authorization_server_metadata_fields_and_cors(auth):
    status, headers, body = http("GET", auth.url + "/.well-known/oauth-authorization-server")
    assert status == 200
    assert headers["access-control-allow-origin"] == "*"
    doc = json.loads(body)
    assert doc["issuer"] == ISSUER
    for name, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                       ("registration_endpoint", "/register"), ("revocation_endpoint", "/revoke"),
                       ("introspection_endpoint", "/introspect"), ("jwks_uri", "/jwks")]:
        assert doc[name] == ISSUER + path
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert set(doc["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert set(doc["token_endpoint_auth_methods_supported"]) == {"none", "client_secret_post", "client_secret_basic",
                                                                 "private_key_jwt"}
    assert set(doc["token_endpoint_auth_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert doc["scopes_supported"] == ["mcp"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["client_id_metadata_document_supported"] is True
    status, _, oidc = http("GET", auth.url + "/.well-known/openid-configuration")
    assert status == 200 and json.loads(oidc)["issuer"] == ISSUER

    status, headers, _ = http("OPTIONS", auth.url + "/.well-known/oauth-authorization-server", None,
                              {"Origin": "https://inspector.example", "Access-Control-Request-Method": "GET",
                               "Access-Control-Request-Headers": "mcp-protocol-version"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "*"
    assert "mcp-protocol-version" in headers["access-control-allow-headers"].lower()
    status, _, _ = http("POST", auth.url + "/.well-known/oauth-authorization-server", b"x")
    assert status == 405
    # browser-based clients register and exchange codes with fetch()
    for path in ["/register", "/token", "/revoke"]:
        status, headers, _ = http("OPTIONS", auth.url + path, None,
                                  {"Origin": "https://inspector.example", "Access-Control-Request-Method": "POST",
                                   "Access-Control-Request-Headers": "content-type"})
        assert status == 204 and headers["access-control-allow-origin"] == "*"
        assert "content-type" in headers["access-control-allow-headers"].lower()
    status, headers, _ = http("POST", auth.url + "/token", b"grant_type=x", FORM)
    assert status == 400 and headers["access-control-allow-origin"] == "*"


def test_protected_resource_metadata_per_service(auth):
    for host, resource, svc in [(f"mcp-echo.{DOMAIN}", ECHO_RESOURCE, "mcp-echo"),
                                (f"mcp-fetch.{DOMAIN}", FETCH_RESOURCE, "mcp-fetch")]:
        for path in ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"]:
            status, headers, body = http("GET", auth.url + path, None, {"Host": host})
            assert status == 200, (path, body)
            doc = json.loads(body)
            assert doc["resource"] == resource
            assert doc["authorization_servers"] == [ISSUER]
            assert doc["scopes_supported"] == ["mcp"]
            assert headers["access-control-allow-origin"] == "*"
        # path-routing style: the service named in the path
        status, _, body = http("GET", auth.url + f"/.well-known/oauth-protected-resource/{svc}/mcp")
        assert status == 200 and json.loads(body)["resource"] == resource
    status, _, _ = http("GET", auth.url + "/.well-known/oauth-protected-resource/nothing-here")
    assert status == 404


def test_jwks_publishes_the_signing_key_and_it_survives_a_restart(auth):
    status, headers, body = http("GET", auth.url + "/jwks")
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    keys = json.loads(body)["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "RSA" and keys[0]["alg"] == "RS256"
    assert "d" not in keys[0] and "p" not in keys[0]
    kid = keys[0]["kid"]
    mode = os.stat(os.path.join(auth.workdir, "data", "keys", "jwt-rs256.pem")).st_mode & 0o777
    assert mode == 0o600
    auth.stop()
    auth.start()
    assert auth.kid() == kid


# ---- registration ----

def test_register_public_and_confidential_clients(auth):
    status, headers, body = auth.register({"client_name": "Claude", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"],
                                           "token_endpoint_auth_method": "none", "application_type": "web",
                                           "some_future_field": {"x": 1}})
    assert status == 201, body
    assert headers["cache-control"] == "no-store"
    assert body["redirect_uris"] == ["https://claude.ai/api/mcp/auth_callback"]
    assert body["token_endpoint_auth_method"] == "none"
    assert "authorization_code" in body["grant_types"]
    assert isinstance(body["client_id_issued_at"], int) and isinstance(body["client_secret_expires_at"], int)
    assert "client_secret" not in body
    assert body["registration_access_token"]
    assert body["registration_client_uri"] == f"{ISSUER}/register/{body['client_id']}"
    assert "secret_hash" not in body and "registration_token_hash" not in body

    status, _, conf = auth.register({"redirect_uris": ["https://chatgpt.com/connector/oauth/abc"],
                                     "token_endpoint_auth_method": "client_secret_post"})
    assert status == 201 and conf["client_secret"] and conf["client_id"] != body["client_id"]
    # secrets are stored only as hashes
    stored = auth.redis("GET", PREFIX + "client:" + conf["client_id"])
    assert conf["client_secret"] not in stored and conf["registration_access_token"] not in stored
    assert json.loads(stored)["secret_hash"] == sha256_b64url(conf["client_secret"])
    # never-used clients expire sooner than CLIENT_LIFETIME
    ttl = int(auth.redis("TTL", PREFIX + "client:" + conf["client_id"]))
    assert 0 < ttl <= 86400


@pytest.mark.parametrize("uris,error", [
    (["http://evil.example/cb"], "invalid_redirect_uri"),
    (["https://app.example/cb#frag"], "invalid_redirect_uri"),
    (["javascript:alert(1)"], "invalid_redirect_uri"),
    (["https://user:pw@app.example/cb"], "invalid_redirect_uri"),
    (["/relative/cb"], "invalid_redirect_uri"),
    ([], "invalid_redirect_uri"),
    ([f"https://app.example/{i}" for i in range(11)], "invalid_redirect_uri"),
    (["https://app.example/" + "a" * 2100], "invalid_redirect_uri"),
    ("https://app.example/cb", "invalid_redirect_uri"),
])
def test_register_rejects_bad_redirect_uris(auth, uris, error):
    status, _, body = auth.register({"redirect_uris": uris})
    assert status == 400 and body["error"] == error


def test_register_accepts_loopback_and_private_use_schemes(auth):
    status, _, body = auth.register({"redirect_uris": ["http://localhost/callback", "http://127.0.0.1/cb",
                                                       "http://[::1]/cb", "cursor://anysphere.cursor-retrieval/oauth"],
                                     "token_endpoint_auth_method": "none"})
    assert status == 201, body
    assert len(body["redirect_uris"]) == 4


def test_register_rejects_bad_bodies(auth):
    assert auth.register(b"{not json")[0] == 400
    assert auth.register(b"[1,2]")[2]["error"] == "invalid_client_metadata"
    status, _, body = auth.register({"redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]})
    assert status == 400 and body["error"] == "invalid_client_metadata"
    status, _, body = auth.register({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"})
    assert status == 400 and body["error"] == "invalid_client_metadata"
    status, _, _ = http("POST", auth.url + "/register", json.dumps({"redirect_uris": ["https://a.example/cb"]}).encode(),
                        {"Content-Type": "text/plain"})
    assert status == 400
    big = json.dumps({"redirect_uris": ["https://a.example/cb"], "client_name": "x" * 40000}).encode()
    status, _, body = auth.register(big)
    assert status == 413 and body["error"] == "invalid_client_metadata"


def test_identical_public_registration_returns_the_same_client(auth):
    meta = {"client_name": "Claude Code", "redirect_uris": ["http://localhost:5555/callback"],
            "token_endpoint_auth_method": "none"}
    first = auth.register(meta)[2]
    status, _, second = auth.register(meta)
    assert status == 201 and second["client_id"] == first["client_id"]
    # the newest registration token manages it, the old one no longer does
    status, _, _ = http("GET", second["registration_client_uri"].replace(ISSUER, auth.url), None,
                        {"Authorization": "Bearer " + second["registration_access_token"]})
    assert status == 200
    other = auth.register(dict(meta, client_name="Other"))[2]
    assert other["client_id"] != first["client_id"]
    # confidential clients always get a new client
    conf = dict(meta, token_endpoint_auth_method="client_secret_basic")
    assert auth.register(conf)[2]["client_id"] != auth.register(conf)[2]["client_id"]


def test_client_management_rfc7592(auth):
    a = public_client(auth, name="a")
    b = public_client(auth, redirect="http://127.0.0.1:1/b", name="b")
    uri = auth.url + "/register/" + a["client_id"]
    bearer = {"Authorization": "Bearer " + a["registration_access_token"]}
    status, _, body = http("GET", uri, None, bearer)
    assert status == 200 and json.loads(body)["client_id"] == a["client_id"]
    # another client's token: 403; a made-up one: 401; none: 401
    assert http("GET", uri, None, {"Authorization": "Bearer " + b["registration_access_token"]})[0] == 403
    assert http("GET", uri, None, {"Authorization": "Bearer made-up"})[0] == 401
    assert http("GET", uri)[0] == 401
    # PUT replaces the metadata
    new = {"client_id": a["client_id"], "redirect_uris": ["http://127.0.0.1/new"], "client_name": "renamed",
           "token_endpoint_auth_method": "none"}
    status, _, body = http("PUT", uri, json.dumps(new).encode(), dict(JSON_CT, **bearer))
    assert status == 200, body
    body = json.loads(body)
    assert body["redirect_uris"] == ["http://127.0.0.1/new"] and body["client_name"] == "renamed"
    bad = dict(new, redirect_uris=["http://evil.example/"])
    assert http("PUT", uri, json.dumps(bad).encode(), dict(JSON_CT, **bearer))[0] == 400
    # DELETE removes it: its tokens stop working and the token endpoint says invalid_client
    assert http("DELETE", uri, None, bearer)[0] == 204
    assert http("GET", uri, None, bearer)[0] == 401
    status, _, body = auth.post_form("/token", {"grant_type": "refresh_token", "refresh_token": "x",
                                                "client_id": a["client_id"]})
    assert status == 401 and body["error"] == "invalid_client"


def test_registration_rate_limit_per_ip_and_global_cap(procs, workdir, redis_server):
    auth = Auth(procs, workdir, redis_server, {"REGISTRATION_RATE_LIMIT": "3", "REGISTRATION_MAX_CLIENTS": "100"})
    for i in range(3):
        assert auth.register({"redirect_uris": [f"https://a.example/{i}"]})[0] == 201
    status, headers, body = auth.register({"redirect_uris": ["https://a.example/x"]})
    assert status == 429 and body["error"] == "too_many_requests" and int(headers["retry-after"]) > 0
    # behind the router (a loopback peer) the limit is per forwarded client address
    other_ip = {"X-Forwarded-For": "203.0.113.7"}
    assert auth.register({"redirect_uris": ["https://a.example/y"]}, other_ip)[0] == 201
    assert auth.redis("GET", PREFIX + "ratelimit:register:203.0.113.7") == "1"
    # a malformed forwarded address falls back to the peer, which is over its limit
    assert auth.register({"redirect_uris": ["https://a.example/z"]}, {"X-Forwarded-For": "not-an-ip"})[0] == 429
    auth.stop()
    auth.redis("FLUSHALL")
    auth2 = Auth(procs, workdir, redis_server, {"REGISTRATION_RATE_LIMIT": "0", "REGISTRATION_MAX_CLIENTS": "2"})
    assert auth2.register({"redirect_uris": ["https://a.example/1"]})[0] == 201
    assert auth2.register({"redirect_uris": ["https://a.example/2"]})[0] == 201
    status, _, body = auth2.register({"redirect_uris": ["https://a.example/3"]})
    assert status == 503 and body["error"] == "temporarily_unavailable"
    _, _, metrics = http("GET", auth2.url + "/metrics")
    assert 'auth_client_registrations_total{result="capacity"} 1' in metrics.decode()


def test_registration_trusted_networks_skip_the_per_ip_limit(procs, workdir, redis_server):
    """Claude.ai registers a confidential client on every connect, for all its users from
    Anthropic's egress (160.79.104.0/21, the default REGISTRATION_TRUSTED_NETWORKS): those addresses
    are not held to REGISTRATION_RATE_LIMIT, other addresses are, and REGISTRATION_MAX_CLIENTS
    still caps everyone. Behind the router auth decides on the X-Forwarded-For address it adds."""
    auth = Auth(procs, workdir, redis_server, {"REGISTRATION_RATE_LIMIT": "2", "REGISTRATION_MAX_CLIENTS": "9"})
    claude = {"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"], "client_name": "Claude",
              "token_endpoint_auth_method": "client_secret_post"}
    for ip in ["160.79.104.10", "160.79.104.10", "160.79.104.10", "160.79.111.254", "160.79.104.10"]:
        status, _, body = auth.register(claude, {"X-Forwarded-For": ip})
        assert status == 201 and body["client_secret"], body
    assert auth.redis("EXISTS", PREFIX + "ratelimit:register:160.79.104.10") == "0"
    # next to the range, and anyone else, the per-IP limit applies
    for ip in ["160.79.112.1", "198.51.100.1"]:
        assert [auth.register(claude, {"X-Forwarded-For": ip})[0] for _ in range(3)] == [201, 201, 429]
    status, _, body = auth.register(claude, {"X-Forwarded-For": "198.51.100.1"})
    assert status == 429 and body["error"] == "too_many_requests"
    # 9 live clients: the global cap holds for the trusted range too
    status, _, body = auth.register(claude, {"X-Forwarded-For": "160.79.104.10"})
    assert status == 503 and body["error"] == "temporarily_unavailable"
    auth.stop()
    auth.redis("FLUSHALL")
    # empty: no exemption
    auth2 = Auth(procs, workdir, redis_server, {"REGISTRATION_RATE_LIMIT": "2", "REGISTRATION_TRUSTED_NETWORKS": ""})
    assert [auth2.register(claude, {"X-Forwarded-For": "160.79.104.10"})[0] for _ in range(3)] == [201, 201, 429]


# ---- token endpoint ----

def test_authorization_code_flow_issues_audience_bound_jwt(auth):
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] > 0 and tokens["refresh_token"]
    header, claims = jwt_parts(tokens["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == auth.kid() and header["typ"] == "JWT"
    assert claims["iss"] == ISSUER and claims["aud"] == ECHO_RESOURCE and claims["sub"] == "github:4242"
    assert claims["client_id"] == client["client_id"] and claims["scope"] == "mcp"
    assert claims["username"] == "octocat" and claims["email"] == "octocat@example.test"
    assert claims["exp"] > claims["iat"] and len(b64url_decode(claims["jti"])) == 16
    record = json.loads(auth.redis("GET", PREFIX + "token:" + claims["jti"]))
    assert record["client_id"] == client["client_id"] and record["resource"] == ECHO_RESOURCE
    assert int(auth.redis("TTL", PREFIX + "token:" + claims["jti"])) > 0
    assert auth.redis("ZSCORE", PREFIX + "user_tokens:github:4242", claims["jti"]) == str(claims["exp"])
    # the refresh token is stored only as a hash
    assert auth.redis("EXISTS", PREFIX + "refresh:" + sha256_b64url(tokens["refresh_token"])) == "1"
    # a used client is kept for CLIENT_LIFETIME
    assert json.loads(auth.redis("GET", PREFIX + "client:" + client["client_id"]))["used"] is True
    assert int(auth.redis("TTL", PREFIX + "client:" + client["client_id"])) > 86400  # CLIENT_LIFETIME now
    status, _, _ = auth.verify(tokens["access_token"])
    assert status == 200
    _, _, metrics = http("GET", auth.url + "/metrics")
    assert 'auth_tokens_issued_total{grant_type="authorization_code"} 1' in metrics.decode()


def test_pkce_missing_plain_and_wrong_verifier(auth):
    client = public_client(auth)
    redirect = "http://127.0.0.1:33418/callback"
    verifier = secrets.token_urlsafe(48)
    base = {"grant_type": "authorization_code", "redirect_uri": redirect, "client_id": client["client_id"]}
    code = auth.seed_code(client["client_id"], redirect, verifier)
    status, _, body = auth.post_form("/token", dict(base, code=code))
    assert status == 400 and body["error"] == "invalid_request"
    # "plain": sending the challenge itself as the verifier does not pass S256
    challenge = b64url(hashlib.sha256(verifier.encode()).digest())
    status, _, body = auth.post_form("/token", dict(base, code=code, code_verifier=challenge))
    assert status == 400 and body["error"] == "invalid_grant"
    # the failed attempt consumed the code: single use even on failure
    status, _, body = auth.post_form("/token", dict(base, code=code, code_verifier=verifier))
    assert status == 400 and body["error"] == "invalid_grant"
    code = auth.seed_code(client["client_id"], redirect, verifier)
    status, _, body = auth.post_form("/token", dict(base, code=code, code_verifier=secrets.token_urlsafe(48)))
    assert status == 400 and body["error"] == "invalid_grant"


def test_code_replay_other_client_redirect_and_resource_mismatch(auth):
    a = public_client(auth, name="a")
    b = public_client(auth, name="b", redirect="http://127.0.0.1:9/b")
    redirect = "http://127.0.0.1:33418/callback"
    verifier = secrets.token_urlsafe(48)
    code = auth.seed_code(a["client_id"], redirect, verifier)
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier,
              "client_id": a["client_id"]}
    assert auth.post_form("/token", fields)[0] == 200
    status, _, body = auth.post_form("/token", fields)
    assert status == 400 and body["error"] == "invalid_grant"
    code = auth.seed_code(a["client_id"], redirect, verifier)
    status, _, body = auth.post_form("/token", dict(fields, code=code, client_id=b["client_id"]))
    assert status == 400 and body["error"] == "invalid_grant"
    code = auth.seed_code(a["client_id"], redirect, verifier)
    status, _, body = auth.post_form("/token", dict(fields, code=code, redirect_uri=redirect + "x"))
    assert status == 400 and body["error"] == "invalid_grant"
    code = auth.seed_code(a["client_id"], redirect, verifier)
    status, _, body = auth.post_form("/token", dict(fields, code=code, resource=FETCH_RESOURCE))
    assert status == 400 and body["error"] == "invalid_target"
    status, _, body = auth.post_form("/token", dict(fields, code=code, resource=FETCH_RESOURCE))
    assert status == 400 and body["error"] == "invalid_grant"  # consumed


# Spellings of the echo service's resource that clients send (RFC 8707 asks for the canonical
# form, but "accept uppercase for robustness"; clients configured with .../mcp/ send that).
ECHO_SPELLINGS = [f"https://mcp-echo.{DOMAIN}/mcp/", f"https://MCP-Echo.{DOMAIN.upper()}/mcp",
                  f"HTTPS://mcp-echo.{DOMAIN}:443/mcp/"]


@pytest.mark.parametrize("spelling", ECHO_SPELLINGS)
def test_token_resource_spellings_get_the_canonical_audience(auth, spelling):
    """/token compares resources in canonical form, for codes with and without a resource and
    for refresh; the token's aud is always the canonical resource the router checks."""
    client = public_client(auth)
    tokens = code_tokens(auth, client, extra={"resource": spelling})
    assert jwt_parts(tokens["access_token"])[1]["aud"] == ECHO_RESOURCE
    refresh = {"grant_type": "refresh_token", "client_id": client["client_id"], "resource": spelling,
               "refresh_token": tokens["refresh_token"]}
    status, _, refreshed = auth.post_form("/token", refresh)
    assert status == 200, refreshed
    assert jwt_parts(refreshed["access_token"])[1]["aud"] == ECHO_RESOURCE
    # a code without a resource: the service the token request names
    redirect = "http://127.0.0.1:33418/callback"
    verifier = secrets.token_urlsafe(48)
    code = auth.seed_code(client["client_id"], redirect, verifier, resource=None)
    status, _, body = auth.post_form("/token", {"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": redirect, "code_verifier": verifier,
                                                "client_id": client["client_id"],
                                                "resource": spelling.replace("mcp-echo", "mcp-fetch")
                                                .replace("MCP-Echo", "MCP-Fetch")})
    assert status == 200, body
    assert jwt_parts(body["access_token"])[1]["aud"] == FETCH_RESOURCE


@pytest.mark.parametrize("other", [f"https://mcp-echo.{DOMAIN}/MCP", f"https://mcp-echo.{DOMAIN}/mcp//",
                                   f"http://mcp-echo.{DOMAIN}/mcp", f"https://mcp-echo.{DOMAIN}:8443/mcp",
                                   f"https://mcp-echo.{DOMAIN}/mcp#x", FETCH_RESOURCE + "/"])
def test_token_resource_still_has_to_be_the_granted_one(auth, other):
    client = public_client(auth)
    redirect = "http://127.0.0.1:33418/callback"
    verifier = secrets.token_urlsafe(48)
    code = auth.seed_code(client["client_id"], redirect, verifier)
    status, _, body = auth.post_form("/token", {"grant_type": "authorization_code", "code": code,
                                                "redirect_uri": redirect, "code_verifier": verifier,
                                                "client_id": client["client_id"], "resource": other})
    assert status == 400 and body["error"] == "invalid_target", body
    tokens = code_tokens(auth, client)
    status, _, body = auth.post_form("/token", {"grant_type": "refresh_token", "client_id": client["client_id"],
                                                "refresh_token": tokens["refresh_token"], "resource": other})
    assert status == 400 and body["error"] == "invalid_target", body


def authorize(auth, client_id, redirect, resource=ECHO_RESOURCE):
    """GET /authorize without following the redirect: (status, headers, body)."""
    challenge = b64url(hashlib.sha256(secrets.token_urlsafe(48).encode()).digest())
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "state": "st-1",
             "code_challenge": challenge, "code_challenge_method": "S256", "scope": "mcp", "resource": resource}
    conn = httpclient.HTTPConnection("127.0.0.1", auth.port, timeout=10)
    try:
        conn.request("GET", "/authorize?" + urllib.parse.urlencode(query))
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.mark.parametrize("spelling", ECHO_SPELLINGS)
def test_authorize_records_the_canonical_resource(auth, spelling):
    client = public_client(auth)
    status, headers, body = authorize(auth, client["client_id"], "http://127.0.0.1:33418/callback", spelling)
    assert status == 302 and headers["location"].startswith("/consent?req="), (headers, body)
    req = urllib.parse.parse_qs(urllib.parse.urlsplit(headers["location"]).query)["req"][0]
    assert json.loads(auth.redis("GET", PREFIX + "authreq:" + req))["resource"] == ECHO_RESOURCE


def test_loopback_redirect_empty_path_is_root(auth):
    """VS Code registers http://127.0.0.1 and http://127.0.0.1:33418/ and comes back on any port:
    an empty http path equals "/" (RFC 3986), any loopback port matches (RFC 8252 §7.3)."""
    for registered, requested in [("http://127.0.0.1", "http://127.0.0.1:54321/"),
                                  ("http://127.0.0.1:33418", "http://127.0.0.1:54321/"),
                                  ("http://127.0.0.1/", "http://127.0.0.1:54321")]:
        client = public_client(auth, redirect=registered, name=registered)
        status, headers, body = authorize(auth, client["client_id"], requested)
        assert status == 302 and headers["location"].startswith("/consent?"), (registered, requested, body)
        # no prefix match, and non-loopback URIs stay exact
        status, headers, _ = authorize(auth, client["client_id"], "http://127.0.0.1:54321/cb")
        assert status == 400 and "location" not in headers
    client = public_client(auth, redirect="https://app.example", name="https")
    status, headers, _ = authorize(auth, client["client_id"], "https://app.example/")
    assert status == 400 and "location" not in headers


def test_token_endpoint_client_authentication(auth):
    status, _, conf = auth.register({"redirect_uris": ["https://app.example/cb"],
                                     "token_endpoint_auth_method": "client_secret_basic"})
    assert status == 201
    redirect = "https://app.example/cb"
    verifier = secrets.token_urlsafe(48)
    fields = {"grant_type": "authorization_code", "redirect_uri": redirect, "code_verifier": verifier}
    basic = "Basic " + base64.b64encode(f"{conf['client_id']}:{conf['client_secret']}".encode()).decode()
    # client_secret_basic
    status, _, body = auth.post_form("/token", dict(fields, code=auth.seed_code(conf["client_id"], redirect, verifier)),
                                     {"Authorization": basic})
    assert status == 200, body
    # client_secret_post
    status, _, body = auth.post_form("/token", dict(fields, code=auth.seed_code(conf["client_id"], redirect, verifier),
                                                    client_id=conf["client_id"], client_secret=conf["client_secret"]))
    assert status == 200, body
    # wrong secret, no secret, unknown client: 401 invalid_client
    wrong = "Basic " + base64.b64encode(f"{conf['client_id']}:nope".encode()).decode()
    status, headers, body = auth.post_form("/token", dict(fields, code="x"), {"Authorization": wrong})
    assert status == 401 and body["error"] == "invalid_client" and "basic" in headers["www-authenticate"].lower()
    status, _, body = auth.post_form("/token", dict(fields, code="x", client_id=conf["client_id"]))
    assert status == 401 and body["error"] == "invalid_client"
    status, _, body = auth.post_form("/token", dict(fields, code="x", client_id="no-such-client"))
    assert status == 401 and body["error"] == "invalid_client"
    # bad requests
    status, _, body = auth.post_form("/token", {"grant_type": "password", "client_id": conf["client_id"]})
    assert status == 400 and body["error"] == "unsupported_grant_type"
    status, _, body = auth.post_form("/token", {"client_id": conf["client_id"]})
    assert status == 400 and body["error"] == "invalid_request"
    status, _, body = http("POST", auth.url + "/token", b"grant_type=authorization_code&grant_type=refresh_token", FORM)
    assert status == 400 and json.loads(body)["error"] == "invalid_request"
    status, _, body = http("POST", auth.url + "/token", b'{"grant_type":"authorization_code"}', JSON_CT)
    assert status == 400
    _, _, metrics = http("GET", auth.url + "/metrics")
    assert 'auth_failures_total{reason="unknown_client"}' in metrics.decode()
    # every counted failure has its ERROR line with the same reason (the AuthFailureSpike runbook)
    failures = [json.loads(line) for line in auth.proc.stderr().splitlines()
                if line.startswith("{") and json.loads(line)["message"].startswith("authentication failed: ")]
    assert all(f["level"] == "ERROR" for f in failures)
    counted = {labels.split('"')[1]: value for labels, value in
               (line[len("auth_failures_total{"):].rsplit("} ", 1) for line in metrics.decode().splitlines()
                if line.startswith("auth_failures_total{"))}
    logged = {}
    for f in failures:
        logged[f["reason"]] = logged.get(f["reason"], 0) + 1
    assert logged == {reason: int(float(n)) for reason, n in counted.items() if float(n) > 0}
    assert {"bad_client_secret", "missing_client_secret", "unknown_client"} <= set(logged)
    unknown = next(f for f in failures if f["reason"] == "unknown_client")
    assert unknown["client_id"] == "no-such-client" and unknown["path"] == "/token"
    assert conf["client_secret"] not in auth.proc.stderr()


# ---- refresh ----

def test_refresh_rotation_grace_window_and_family_revocation(auth):
    client = public_client(auth)
    first = code_tokens(auth, client)
    refresh = {"grant_type": "refresh_token", "client_id": client["client_id"]}
    status, _, second = auth.post_form("/token", dict(refresh, refresh_token=first["refresh_token"]))
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert jwt_parts(second["access_token"])[1]["aud"] == ECHO_RESOURCE
    # concurrent refresh with the old token inside the grace window: still answered
    status, _, parallel = auth.post_form("/token", dict(refresh, refresh_token=first["refresh_token"]))
    assert status == 200, parallel
    # another client may not use it
    other = public_client(auth, name="other", redirect="http://127.0.0.1:7/o")
    status, _, body = auth.post_form("/token", {"grant_type": "refresh_token", "client_id": other["client_id"],
                                                "refresh_token": second["refresh_token"]})
    assert status == 400 and body["error"] == "invalid_grant"
    # scope may only shrink
    status, _, body = auth.post_form("/token", dict(refresh, refresh_token=second["refresh_token"], scope="mcp admin"))
    assert status == 400 and body["error"] == "invalid_scope"
    # move the first token's rotation out of the grace window, then replay it
    key = PREFIX + "refresh:" + sha256_b64url(first["refresh_token"])
    rec = json.loads(auth.redis("GET", key))
    rec["replaced_at"] -= 3600
    auth.redis("SET", key, json.dumps(rec), "KEEPTTL")
    assert auth.verify(second["access_token"])[0] == 200
    status, _, body = auth.post_form("/token", dict(refresh, refresh_token=first["refresh_token"]))
    assert status == 400 and body["error"] == "invalid_grant"
    # the whole family is gone: newer refresh tokens and access tokens
    status, _, body = auth.post_form("/token", dict(refresh, refresh_token=second["refresh_token"]))
    assert status == 400 and body["error"] == "invalid_grant"
    status, headers, _ = auth.verify(second["access_token"])
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    assert auth.verify(parallel["access_token"])[0] == 401
    jti = jwt_parts(second["access_token"])[1]["jti"]
    assert auth.redis("ZSCORE", PREFIX + "revocations", jti) != ""
    assert "Refresh token reuse detected" in auth.proc.stderr()


def test_clients_in_use_stay_registered_and_idle_ones_expire(procs, workdir, redis_server):
    """CLIENT_LIFETIME runs from a client's last token, not its first: every token issued to a
    registered client extends it. Here 5 s: refreshing every 1.5 s keeps the client well past
    that; left unused for longer than the lifetime, it is unknown."""
    lifetime = 5
    auth = Auth(procs, workdir, redis_server, {"CLIENT_LIFETIME": str(lifetime),
                                               "UNUSED_CLIENT_LIFETIME": str(lifetime)})
    client = public_client(auth)
    registered_at = time.time()
    tokens = code_tokens(auth, client)
    refresh = {"grant_type": "refresh_token", "client_id": client["client_id"]}
    end = time.monotonic() + 3 * lifetime
    while time.monotonic() < end:
        time.sleep(1.5)
        status, _, tokens = auth.post_form("/token", dict(refresh, refresh_token=tokens["refresh_token"]))
        assert status == 200, tokens
    # the registration cap counts it until its new expiry, and RFC 7592 reports that expiry
    assert float(auth.redis("ZSCORE", PREFIX + "clients", client["client_id"])) > registered_at + lifetime
    status, _, body = http("GET", auth.url + "/register/" + client["client_id"], None,
                           {"Authorization": "Bearer " + client["registration_access_token"]})
    assert status == 200, body
    assert json.loads(body)["client_secret_expires_at"] > registered_at + lifetime
    time.sleep(lifetime + 3)
    status, _, body = auth.post_form("/token", dict(refresh, refresh_token=tokens["refresh_token"]))
    assert status == 401 and body["error"] == "invalid_client", body


# ---- revoke and introspect ----

def test_revoke_and_introspect(procs, workdir, redis_server):
    rs_secret = "resource-server-secret"
    auth = Auth(procs, workdir, redis_server, {"AUTH_STATIC_CLIENTS": json.dumps([
        {"client_id": "resource-server", "client_secret_hash": sha256_b64url(rs_secret),
         "redirect_uris": ["https://rs.example/cb"]}])})
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    status, _, conf = auth.register({"redirect_uris": ["https://rs.example/cb"],
                                     "token_endpoint_auth_method": "client_secret_post"})
    # a registered confidential client sees only its own tokens
    own = {"client_id": conf["client_id"], "client_secret": conf["client_secret"]}
    assert auth.post_form("/introspect", dict(own, token=tokens["access_token"]))[2] == {"active": False}
    assert auth.post_form("/introspect", dict(own, token=tokens["refresh_token"]))[2] == {"active": False}
    verifier = secrets.token_urlsafe(48)
    code = auth.seed_code(conf["client_id"], "https://rs.example/cb", verifier)
    status, _, own_tokens = auth.post_form("/token", dict(own, grant_type="authorization_code", code=code,
                                                          redirect_uri="https://rs.example/cb",
                                                          code_verifier=verifier))
    assert status == 200, own_tokens
    assert auth.post_form("/introspect", dict(own, token=own_tokens["access_token"]))[2]["active"] is True
    # a pre-registered resource server sees any token
    creds = {"client_id": "resource-server", "client_secret": rs_secret}
    status, _, body = auth.post_form("/introspect", dict(creds, token=tokens["access_token"]))
    assert status == 200 and body["active"] is True and body["client_id"] == client["client_id"]
    assert body["aud"] == ECHO_RESOURCE and body["sub"] == "github:4242"
    status, _, body = auth.post_form("/introspect", dict(creds, token=tokens["refresh_token"]))
    assert status == 200 and body["active"] is True and body["token_type"] == "refresh_token"
    # public clients cannot introspect; a wrong secret cannot either
    assert auth.post_form("/introspect", {"client_id": client["client_id"], "token": tokens["access_token"]})[0] == 401
    assert auth.post_form("/introspect", dict(creds, client_secret="bad", token=tokens["access_token"]))[0] == 401
    # another client's revocation is ignored (still 200)
    status, _, _ = auth.post_form("/revoke", dict(creds, token=tokens["access_token"]))
    assert status == 200
    assert auth.verify(tokens["access_token"])[0] == 200
    status, _, _ = auth.post_form("/revoke", {"client_id": client["client_id"], "token": tokens["access_token"]})
    assert status == 200
    jti = jwt_parts(tokens["access_token"])[1]["jti"]
    assert auth.redis("EXISTS", PREFIX + "revoked:" + jti) == "1"
    assert auth.redis("EXISTS", PREFIX + "token:" + jti) == "0"
    assert auth.redis("ZSCORE", PREFIX + "revocations", jti) != ""
    assert int(auth.redis("ZSCORE", PREFIX + "revocation_expiry", jti)) == jwt_parts(tokens["access_token"])[1]["exp"]
    assert auth.post_form("/introspect", dict(creds, token=tokens["access_token"]))[2] == {"active": False}
    assert auth.verify(tokens["access_token"])[0] == 401
    # revoking the refresh token ends the grant
    assert auth.post_form("/revoke", {"client_id": client["client_id"], "token": tokens["refresh_token"]})[0] == 200
    assert auth.post_form("/introspect", dict(creds, token=tokens["refresh_token"]))[2] == {"active": False}
    status, _, body = auth.post_form("/token", {"grant_type": "refresh_token", "client_id": client["client_id"],
                                                "refresh_token": tokens["refresh_token"]})
    assert status == 400 and body["error"] == "invalid_grant"
    # unknown tokens: 200 (RFC 7009 §2.2); missing token: 400
    assert auth.post_form("/revoke", {"client_id": client["client_id"], "token": "garbage"})[0] == 200
    assert auth.post_form("/revoke", {"client_id": client["client_id"]})[0] == 400


def test_revocation_entries_stay_until_their_tokens_expire(auth):
    """Routers load `revocations` when they start: an entry must outlive the hour after the
    revocation for as long as its token could still be presented (here: revoked 2 h ago, valid
    for another hour), and goes once the token has expired."""
    now = int(time.time())
    auth.redis("ZADD", PREFIX + "revocations", str((now - 7200) * 1000), "old-but-live")
    auth.redis("ZADD", PREFIX + "revocation_expiry", str(now + 3600), "old-but-live")
    auth.redis("ZADD", PREFIX + "revocations", str((now - 7200) * 1000), "expired")
    auth.redis("ZADD", PREFIX + "revocation_expiry", str(now - 120), "expired")
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    assert auth.post_form("/revoke", {"client_id": client["client_id"], "token": tokens["access_token"]})[0] == 200
    assert auth.redis("ZSCORE", PREFIX + "revocations", "old-but-live") != ""
    assert auth.redis("ZSCORE", PREFIX + "revocations", "expired") == ""
    assert auth.redis("ZSCORE", PREFIX + "revocation_expiry", "expired") == ""
    assert auth.redis("ZSCORE", PREFIX + "revocations", jwt_parts(tokens["access_token"])[1]["jti"]) != ""


# ---- /verify ----

def test_verify_without_token_points_at_resource_metadata(auth):
    status, headers, _ = auth.verify(None)
    assert status == 401
    assert headers["www-authenticate"] == \
        f'Bearer resource_metadata="https://mcp-echo.{DOMAIN}/.well-known/oauth-protected-resource/mcp"'
    status, headers, _ = auth.verify("abc.def.ghi")
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    assert "resource_metadata=" in headers["www-authenticate"]


def test_verify_success_headers_and_wrong_audience(auth):
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    status, headers, _ = auth.verify(tokens["access_token"])
    assert status == 200
    assert headers["x-user-id"] == "github:4242" and headers["x-user-name"] == "octocat"
    assert headers["x-client-id"] == client["client_id"]
    # the guide's example log line, never with the token
    log = auth.proc.stderr()
    validated = [json.loads(line) for line in log.splitlines()
                 if line.startswith("{") and json.loads(line)["message"] == "Token validated successfully"]
    assert len(validated) == 1 and validated[0]["level"] == "INFO" and validated[0]["service"] == "auth"
    assert validated[0]["user"] == "octocat" and validated[0]["client_id"] == client["client_id"]
    assert isinstance(validated[0]["duration_ms"], int)
    assert tokens["access_token"] not in log and tokens["access_token"].split(".")[2] not in log
    status, headers, _ = auth.verify(tokens["access_token"], host=f"mcp-fetch.{DOMAIN}")
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    assert f"mcp-fetch.{DOMAIN}/.well-known/oauth-protected-resource/mcp" in headers["www-authenticate"]
    status, _, _ = auth.verify(tokens["access_token"], host="elsewhere.example")
    assert status == 401


def forged_claims(**overrides):
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "github:1", "aud": ECHO_RESOURCE, "iat": now, "nbf": now, "exp": now + 600,
              "jti": b64url(os.urandom(16)), "client_id": "c", "scope": "mcp", "username": "mallory"}
    claims.update(overrides)
    return claims


def test_verify_refuses_forged_and_stale_tokens(auth):
    # our own key, right claims: accepted (shows the harness signs correctly)
    assert auth.verify(auth.sign(forged_claims()))[0] == 200
    # alg=none
    unsigned = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "." + \
        b64url(json.dumps(forged_claims()).encode()) + "."
    assert auth.verify(unsigned)[0] == 401
    # HS256 "signed" with the RSA public key (algorithm confusion)
    pub_pem = auth.private_key().public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    header = {"alg": "HS256", "typ": "JWT", "kid": auth.kid()}
    signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(forged_claims()).encode())).encode()
    mac = hmac.HMAC(pub_pem, hashes.SHA256())
    mac.update(signing_input)
    assert auth.verify(signing_input.decode() + "." + b64url(mac.finalize()))[0] == 401
    now = int(time.time())
    status, headers, _ = auth.verify(auth.sign(forged_claims(exp=now - 3600, iat=now - 7200, nbf=now - 7200)))
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    assert auth.verify(auth.sign(forged_claims(nbf=now + 3600, iat=now + 3600, exp=now + 7200)))[0] == 401
    assert auth.verify(auth.sign(forged_claims(aud=FETCH_RESOURCE)))[0] == 401
    assert auth.verify(auth.sign(forged_claims(iss="https://evil.example")))[0] == 401
    # tampered payload
    good = auth.sign(forged_claims())
    h, p, s = good.split(".")
    tampered = h + "." + b64url(json.dumps(forged_claims(sub="github:0")).encode()) + "." + s
    assert auth.verify(tampered)[0] == 401
    # revoked through Redis (as the operator commands and the router see it)
    claims = forged_claims()
    token = auth.sign(claims)
    assert auth.verify(token)[0] == 200
    auth.redis("SET", PREFIX + "revoked:" + claims["jti"], "1", "EX", "600")
    assert auth.verify(token)[0] == 401
    _, _, metrics = http("GET", auth.url + "/metrics")
    assert 'auth_failures_total{reason="expired"}' in metrics.decode()


# ---- debug ----

def test_debug_endpoints_show_no_secrets(auth):
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    status, _, body = http("GET", auth.url + "/debug")
    assert status == 200 and json.loads(body)["issuer"] == ISSUER
    jti = jwt_parts(tokens["access_token"])[1]["jti"]
    status, _, body = http("GET", auth.url + "/debug/token/" + jti)
    assert status == 200
    doc = json.loads(body)
    assert doc["record"]["client_id"] == client["client_id"] and doc["revoked"] is False
    assert tokens["access_token"] not in body.decode() and tokens["refresh_token"] not in body.decode()


def test_debug_endpoints_refuse_proxied_requests(auth):
    # the router connects from loopback too: a relayed request is not a local one
    for headers in [{"X-Forwarded-For": "198.51.100.1"}, {"X-Forwarded-Host": "auth.example.test"}]:
        status, _, body = http("GET", auth.url + "/debug", None, headers)
        assert status == 404 and "issuer" not in json.loads(body)
        # the guide curls https://auth.…/debug: the answer says where it is served instead
        port = auth.url.rsplit(":", 1)[1]
        assert json.loads(body)["error_description"] == (
            f"Debug endpoints answer only on this machine: curl http://127.0.0.1:{port}/debug")
        status, _, body = http("GET", auth.url + "/debug/token/abc", None, headers)
        assert status == 404 and "record" not in json.loads(body)


def test_metrics_allowed_ips_through_a_local_proxy(procs, workdir, redis_server):
    """auth sees the router as a loopback peer, so METRICS_ALLOWED_IPS is decided on the
    X-Forwarded-For address the router adds for its client (the router's own side is tested in
    test_router.py)."""
    auth = Auth(procs, workdir, redis_server, {"METRICS_ALLOWED_IPS": "203.0.113.0/24"})
    assert http("GET", auth.url + "/metrics")[0] == 200  # this machine
    assert http("GET", auth.url + "/metrics", None, {"X-Forwarded-For": "127.0.0.1"})[0] == 200
    status, _, body = http("GET", auth.url + "/metrics", None, {"X-Forwarded-For": "198.51.100.1"})
    assert status == 403 and json.loads(body)["error"] == "forbidden"
    status, _, body = http("GET", auth.url + "/metrics", None, {"X-Forwarded-For": "203.0.113.40"})
    assert status == 200 and b"auth_tokens_issued_total" in body
    # /health stays public
    assert http("GET", auth.url + "/health", None, {"X-Forwarded-For": "198.51.100.1"})[0] == 200


def test_debug_endpoints_absent_without_debug(procs, workdir, redis_server):
    auth = Auth(procs, workdir, redis_server, {"DEBUG": "false"})
    assert http("GET", auth.url + "/debug")[0] == 404


# ---- Redis outage ----

def test_redis_outage_gives_503_and_recovers(procs, workdir, redis_server):
    auth = Auth(procs, workdir, redis_server, {"REGISTRATION_RATE_LIMIT": "0"})
    client = public_client(auth)
    # stop the redis-server fixture's process by its PID (found through its port)
    pid = int(auth.redis("INFO", "server").split("process_id:")[1].split()[0])
    os.kill(pid, 15)
    deadline = time.time() + 10
    while time.time() < deadline and http("GET", auth.url + "/health")[0] != 503:
        time.sleep(0.1)
    status, _, body = http("GET", auth.url + "/health")
    assert status == 503 and json.loads(body)["checks"]["redis"]["status"] != "healthy"
    status, headers, body = auth.post_form("/token", {"grant_type": "refresh_token", "refresh_token": "x",
                                                      "client_id": client["client_id"]})
    assert status == 503 and body["error"] == "temporarily_unavailable"
    status, _, body = auth.register({"redirect_uris": ["https://a.example/cb"]})
    assert status == 503
    status, _, _ = auth.verify(auth.sign(forged_claims()))
    assert status == 503
    assert "Could not connect to Redis" in auth.proc.stderr()
    # Redis comes back on the same port: the service recovers by itself
    redis = Process(["redis-server", "--port", str(auth.redis_port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--requirepass", auth.redis_password,
                     "--dir", os.path.join(workdir, "redis")], bare_env(), workdir, "redis-again")
    try:
        # each worker reconnects on its own (jittered backoff) schedule: wait until several
        # requests in a row, spread over the workers, succeed
        deadline = time.time() + 30
        results = []
        while time.time() < deadline and results[-6:] != [(200, 201)] * 6:
            results.append((http("GET", auth.url + "/health")[0],
                             auth.register({"redirect_uris": ["https://a.example/cb"]})[0]))
            time.sleep(0.05)
        assert results[-6:] == [(200, 201)] * 6, results[-10:]
    finally:
        redis.stop()


# ---- static clients, metadata documents, settings from the environment ----

def test_static_client_and_settings_from_environment(procs, workdir, redis_server):
    secret = "static-secret-value"
    static = json.dumps([{"client_id": "ops-tool", "client_secret_hash": sha256_b64url(secret),
                          "redirect_uris": ["https://ops.example/cb"], "client_name": "Ops"},
                         {"client_id": "cli", "redirect_uris": ["http://127.0.0.1/cb"]}])
    auth = Auth(procs, workdir, redis_server, {"AUTH_STATIC_CLIENTS": static})
    # the environment overrides .env (the variables are in the schema)
    auth.stop()
    auth.proc = procs.start([mcpgw_bin(), "auth"], env=bare_env(REGISTRATION_MAX_CLIENTS="1",
                                                               AUTH_STATIC_CLIENTS=static),
                            name="auth-env")
    wait_for_http(auth.url + "/health", proc=auth.proc)
    assert auth.register({"redirect_uris": ["https://a.example/1"]})[0] == 201
    assert auth.register({"redirect_uris": ["https://a.example/2"]})[0] == 503
    verifier = secrets.token_urlsafe(48)
    code = auth.seed_code("ops-tool", "https://ops.example/cb", verifier)
    fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": "https://ops.example/cb",
              "code_verifier": verifier}
    wrong = "Basic " + base64.b64encode(b"ops-tool:nope").decode()
    assert auth.post_form("/token", fields, {"Authorization": wrong})[0] == 401
    right = "Basic " + base64.b64encode(f"ops-tool:{secret}".encode()).decode()
    status, _, body = auth.post_form("/token", fields, {"Authorization": right})
    assert status == 200, body
    assert jwt_parts(body["access_token"])[1]["client_id"] == "ops-tool"
    # a public static client with a loopback redirect on another port
    code = auth.seed_code("cli", "http://127.0.0.1:4567/cb", verifier)
    status, _, body = auth.post_form("/token", dict(fields, code=code, redirect_uri="http://127.0.0.1:4567/cb",
                                                    client_id="cli"))
    assert status == 200, body


def test_client_id_metadata_document_on_a_private_address_is_refused(auth):
    for client_id in ["https://127.0.0.1:9/oauth/client.json", "https://[::1]:9/client.json",
                      "https://169.254.169.254/latest/meta-data"]:
        status, _, body = auth.post_form("/revoke", {"client_id": client_id, "token": "x"})
        assert status == 401 and body["error"] == "invalid_client"
        assert "private address" in body["error_description"]
    # not a metadata URL (no path): an ordinary unknown client
    status, _, body = auth.post_form("/revoke", {"client_id": "https://client.example", "token": "x"})
    assert status == 401 and body["error"] == "invalid_client"


def test_browser_routes_are_dispatched(auth):
    # the browser half answers these (an error page for an empty request), never a 404
    for method, path in [("GET", "/authorize"), ("GET", "/consent"), ("POST", "/consent"), ("GET", "/login"),
                         ("GET", "/callback")]:
        status, _, _ = http(method, auth.url + path, b"" if method == "POST" else None,
                            FORM if method == "POST" else None)
        assert status not in (404, 405, 500), (method, path, status)
    assert http("DELETE", auth.url + "/authorize")[0] == 405
    assert http("GET", auth.url + "/no-such-endpoint")[0] == 404


def test_missing_github_app_is_a_configuration_error(workdir):
    with open(os.path.join(workdir, ".env"), "w") as f:
        f.write(f"BASE_DOMAIN={DOMAIN}\nDATA_DIR={workdir}/data\nAUTH_PORT={free_port()}\n")
    out = subprocess.run([mcpgw_bin(), "auth"], env=bare_env(), cwd=workdir, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 78
    assert "ERROR: Required variable GITHUB_CLIENT_ID not set" in out.stderr + out.stdout


def test_active_tokens_gauge_and_client_request_metrics(auth):
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    deadline = time.time() + 20
    text = ""
    while time.time() < deadline:
        text = http("GET", auth.url + "/metrics")[2].decode()
        if "auth_active_tokens 1" in text:
            break
        time.sleep(0.2)
    assert "auth_active_tokens 1" in text
    assert f'auth_client_requests_total{{client_id="{client["client_id"]}"}} 1' in text
    assert 'auth_client_registrations_total{result="created"} 1' in text
    # revocation takes the token out of the active set
    auth.post_form("/revoke", {"client_id": client["client_id"], "token": tokens["access_token"]})
    assert auth.redis("ZCARD", PREFIX + "active_tokens") == "0"
    status = subprocess.run(["promtool", "check", "metrics"], input=text.encode(), capture_output=True)
    assert status.returncode == 0, status.stdout + status.stderr


def test_stalled_redis_answers_503_instead_of_hanging(procs, workdir, redis_server):
    auth = Auth(procs, workdir, redis_server)
    client = public_client(auth)
    pid = int(auth.redis("INFO", "server").split("process_id:")[1].split()[0])
    os.kill(pid, 19)  # SIGSTOP: connected but silent
    try:
        status, _, body = auth.post_form("/token", {"grant_type": "refresh_token", "refresh_token": "x",
                                                    "client_id": client["client_id"]})
        assert status == 503 and body["error"] == "temporarily_unavailable"
    finally:
        os.kill(pid, 18)  # SIGCONT
    assert "Could not connect to Redis" in auth.proc.stderr()


@pytest.mark.parametrize("alg", ["HS256", "ES256"])
def test_other_signing_algorithms(procs, workdir, redis_server, alg):
    extra = {"JWT_ALGORITHM": alg}
    if alg == "HS256":
        extra["GATEWAY_JWT_SECRET"] = "an-hs256-secret-that-is-long-enough-0123456789"
    auth = Auth(procs, workdir, redis_server, extra)
    keys = json.loads(http("GET", auth.url + "/jwks")[2])["keys"]
    if alg == "HS256":
        assert keys == []  # a shared secret is never published
    else:
        assert len(keys) == 1 and keys[0]["kty"] == "EC" and keys[0]["crv"] == "P-256"
        assert os.path.exists(os.path.join(workdir, "data", "keys", "jwt-es256.pem"))
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    assert jwt_parts(tokens["access_token"])[0]["alg"] == alg
    assert auth.verify(tokens["access_token"])[0] == 200
    meta = json.loads(http("GET", auth.url + "/.well-known/oauth-authorization-server")[2])
    assert meta["issuer"] == ISSUER


# ---- client ID metadata documents over HTTPS (private CA, loopback allowed for the test) ----

def make_tls_files(directory):
    """A private CA and a server certificate for 127.0.0.1; returns (ca.pem, cert.pem, key.pem)."""
    import datetime
    import ipaddress
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.utcnow()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mcpgw e2e CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = [os.path.join(directory, n) for n in ("ca.pem", "cert.pem", "key.pem")]
    with open(paths[0], "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(paths[1], "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths[2], "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return paths


class MetadataServer:
    """An HTTPS server on 127.0.0.1 serving client metadata documents from a dict path -> (body, headers)."""

    def __init__(self, cert, key):
        import http.server
        import ssl
        import threading
        self.documents = {}
        self.hits = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits[self.path] = outer.hits.get(self.path, 0) + 1
                body, headers = outer.documents.get(self.path, (None, {}))
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_client_id_metadata_documents(procs, workdir, redis_server):
    ca, cert, key = make_tls_files(workdir)
    server = MetadataServer(cert, key)
    try:
        auth = Auth(procs, workdir, redis_server, {"CIMD_ALLOW_PRIVATE": "true", "CIMD_CA_FILE": ca})
        redirect = "https://app.example/oauth/callback"
        good = server.base + "/oauth/client.json"
        server.documents["/oauth/client.json"] = ({"client_id": good, "client_name": "Doc client",
                                                   "redirect_uris": [redirect],
                                                   "token_endpoint_auth_method": "none"},
                                                  {"Cache-Control": "max-age=300"})
        verifier = secrets.token_urlsafe(48)
        fields = {"grant_type": "authorization_code", "redirect_uri": redirect, "code_verifier": verifier,
                  "client_id": good}
        for _ in range(2):
            status, _, body = auth.post_form("/token", dict(fields, code=auth.seed_code(good, redirect, verifier)))
            assert status == 200, body
            assert jwt_parts(body["access_token"])[1]["client_id"] == good
        # cached per worker for max-age: at most one fetch per worker (WORKERS=2)
        assert 1 <= server.hits["/oauth/client.json"] <= 2
        # client_id in the document must equal its URL
        wrong = server.base + "/wrong.json"
        server.documents["/wrong.json"] = ({"client_id": good, "redirect_uris": [redirect]}, {})
        status, _, body = auth.post_form("/token", dict(fields, client_id=wrong, code="x"))
        assert status == 401 and body["error"] == "invalid_client" and "does not equal" in body["error_description"]
        # documents must be public clients with registrable redirect URIs
        bad = server.base + "/bad.json"
        server.documents["/bad.json"] = ({"client_id": bad, "redirect_uris": ["http://evil.example/cb"]}, {})
        assert auth.post_form("/token", dict(fields, client_id=bad, code="x"))[0] == 401
        secret_doc = server.base + "/secret.json"
        server.documents["/secret.json"] = ({"client_id": secret_doc, "redirect_uris": [redirect],
                                             "token_endpoint_auth_method": "client_secret_basic"}, {})
        assert auth.post_form("/token", dict(fields, client_id=secret_doc, code="x"))[0] == 401
        # too large, not found, not JSON
        big = server.base + "/big.json"
        server.documents["/big.json"] = ({"client_id": big, "redirect_uris": [redirect], "pad": "x" * 10000}, {})
        assert auth.post_form("/token", dict(fields, client_id=big, code="x"))[0] == 401
        assert auth.post_form("/token", dict(fields, client_id=server.base + "/missing.json", code="x"))[0] == 401
        server.documents["/junk.json"] = (b"<html>", {})
        assert auth.post_form("/token", dict(fields, client_id=server.base + "/junk.json", code="x"))[0] == 401
    finally:
        server.close()


class AssertionSigner:
    """A client's own key pair and RFC 7523 client assertions signed with it."""

    def __init__(self, kid, alg="RS256"):
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        self.kid, self.alg = kid, alg
        if alg == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            numbers = self.key.public_key().public_numbers()
            n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64url(n),
                        "e": b64url(numbers.e.to_bytes(3, "big"))}
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            numbers = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
                        "y": b64url(numbers.y.to_bytes(32, "big"))}

    def assertion(self, client_id, aud, **overrides):
        from cryptography.hazmat.primitives.asymmetric import ec, utils
        now = int(time.time())
        claims = {"iss": client_id, "sub": client_id, "aud": aud, "jti": secrets.token_urlsafe(16),
                  "iat": now, "exp": now + 300}
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        header = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        if self.alg == "RS256":
            sig = self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        else:
            r, s_ = utils.decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            sig = r.to_bytes(32, "big") + s_.to_bytes(32, "big")
        return signing_input.decode() + "." + b64url(sig)


JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def test_private_key_jwt_clients(procs, workdir, redis_server):
    """ChatGPT's connectors identify themselves with a metadata document that says
    token_endpoint_auth_method private_key_jwt and a jwks_uri, and sign a client_assertion at the
    token endpoint (RFC 7523); they do not fall back to none."""
    ca, cert, key = make_tls_files(workdir)
    server = MetadataServer(cert, key)
    try:
        auth = Auth(procs, workdir, redis_server, {"CIMD_ALLOW_PRIVATE": "true", "CIMD_CA_FILE": ca})
        token_endpoint = ISSUER + "/token"
        redirect = "https://chatgpt.example/connector/oauth/AbC123"
        signer, other = AssertionSigner("cimd-1"), AssertionSigner("cimd-1")
        server.documents["/oauth/jwks.json"] = ({"keys": [signer.jwk]}, {"Cache-Control": "no-store"})
        client_id = server.base + "/oauth/AbC123/client.json"
        server.documents["/oauth/AbC123/client.json"] = (
            {"client_id": client_id, "client_name": "ChatGPT", "redirect_uris": [redirect],
             "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
             "token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "RS256",
             "jwks_uri": server.base + "/oauth/jwks.json"}, {"Cache-Control": "max-age=300"})

        def code_fields(assertion=None, **extra):
            verifier = secrets.token_urlsafe(48)
            fields = {"grant_type": "authorization_code", "redirect_uri": redirect, "code_verifier": verifier,
                      "client_id": client_id, "code": auth.seed_code(client_id, redirect, verifier)}
            if assertion:
                fields.update(client_assertion_type=JWT_BEARER, client_assertion=assertion)
            fields.update(extra)
            return {k: v for k, v in fields.items() if v is not None}

        good = signer.assertion(client_id, token_endpoint)
        status, _, tokens = auth.post_form("/token", code_fields(good))
        assert status == 200, tokens
        assert jwt_parts(tokens["access_token"])[1]["client_id"] == client_id
        # an assertion is single use (jti)
        status, _, body = auth.post_form("/token", code_fields(good))
        assert status == 401 and body["error"] == "invalid_client" and "jti" in body["error_description"]
        # the refresh grant authenticates the same way; client_id may be left out (RFC 7521 §4.2)
        status, _, refreshed = auth.post_form("/token", {
            "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
            "client_assertion_type": JWT_BEARER, "client_assertion": signer.assertion(client_id, ISSUER)})
        assert status == 200, refreshed
        # what must be refused: no assertion, another key, and each claim wrong
        refused = [
            (None, "client_assertion"),
            (other.assertion(client_id, token_endpoint), "signature"),
            (signer.assertion(client_id, "https://elsewhere.example/token"), "aud"),
            (signer.assertion(client_id, token_endpoint, sub="someone-else"), "sub"),
            (signer.assertion(client_id, token_endpoint, iss="someone-else"), "issuer"),
            (signer.assertion(client_id, token_endpoint, exp=int(time.time()) - 120), "expired"),
            (signer.assertion(client_id, token_endpoint, exp=int(time.time()) + 7200), "too far"),
            (signer.assertion(client_id, token_endpoint, jti=None), "jti"),
            (signer.assertion(client_id, token_endpoint, exp=None), "malformed"),
        ]
        for assertion, why in refused:
            status, _, body = auth.post_form("/token", code_fields(assertion))
            assert status == 401 and body["error"] == "invalid_client", (why, body)
            assert why in body["error_description"].lower(), (why, body)
        # one method only, and the assertion type must be the JWT bearer one
        status, _, body = auth.post_form("/token", code_fields(good, client_secret="x"))
        assert status == 400 and body["error"] == "invalid_request"
        status, _, body = auth.post_form("/token", code_fields(signer.assertion(client_id, token_endpoint),
                                                               client_assertion_type="urn:example:saml"))
        assert status == 400 and body["error"] == "invalid_request"
        # refused assertions are counted and logged with their reason, never with the assertion
        assert auth.metric('auth_failures_total{reason="bad_client_assertion"}') >= 7
        assert auth.metric('auth_failures_total{reason="assertion_replayed"}') == 1
        assert auth.metric('auth_failures_total{reason="missing_client_assertion"}') == 1
        assert good not in auth.proc.stderr()
        # a rotated key: the new kid is fetched from jwks_uri
        rotated = AssertionSigner("cimd-2", alg="ES256")
        server.documents["/oauth/jwks.json"] = ({"keys": [rotated.jwk]}, {"Cache-Control": "no-store"})
        status, _, body = auth.post_form("/token", code_fields(rotated.assertion(client_id, token_endpoint)))
        assert status == 200, body
        # revocation accepts an assertion whose aud is the revocation endpoint
        status, _, _ = auth.post_form("/revoke", {"token": refreshed["refresh_token"],
                                                  "client_assertion_type": JWT_BEARER,
                                                  "client_assertion": rotated.assertion(client_id, ISSUER + "/revoke")})
        assert status == 200
        assert auth.post_form("/token", {"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"],
                                         "client_assertion_type": JWT_BEARER,
                                         "client_assertion": rotated.assertion(client_id, ISSUER)})[0] == 400

        # ChatGPT's other document shape also lists none: without an assertion it is a public client
        lenient = server.base + "/oauth/client.json"
        server.documents["/oauth/client.json"] = (
            {"client_id": lenient, "redirect_uris": [redirect], "token_endpoint_auth_method": "private_key_jwt",
             "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
             "jwks_uri": server.base + "/oauth/jwks.json"}, {})
        fields = code_fields(client_id=lenient)
        fields["code"] = auth.seed_code(lenient, redirect, fields["code_verifier"])
        status, _, body = auth.post_form("/token", fields)
        assert status == 200, body
        fields = code_fields(rotated.assertion(lenient, token_endpoint), client_id=lenient)
        fields["code"] = auth.seed_code(lenient, redirect, fields["code_verifier"])
        assert auth.post_form("/token", fields)[0] == 200
        # private_key_jwt without keys, or with a shared-secret method, is refused at lookup
        for name, doc in [("nokeys", {"token_endpoint_auth_method": "private_key_jwt"}),
                          ("hs", {"token_endpoint_auth_method": "private_key_jwt",
                                  "token_endpoint_auth_signing_alg": "HS256",
                                  "jwks_uri": server.base + "/oauth/jwks.json"})]:
            url = f"{server.base}/{name}.json"
            server.documents[f"/{name}.json"] = (dict(doc, client_id=url, redirect_uris=[redirect]), {})
            status, _, body = auth.post_form("/token", code_fields(client_id=url))
            assert status == 401 and body["error"] == "invalid_client", body
    finally:
        server.close()


def test_private_key_jwt_registered_clients(auth):
    """Dynamic registration of a private_key_jwt client with its keys inline (RFC 7591 jwks)."""
    signer = AssertionSigner("reg-1", alg="ES256")
    redirect = "https://app.example/cb"
    status, _, client = auth.register({"redirect_uris": [redirect], "token_endpoint_auth_method": "private_key_jwt",
                                       "jwks": {"keys": [signer.jwk]}})
    assert status == 201, client
    assert "client_secret" not in client and client["token_endpoint_auth_method"] == "private_key_jwt"
    assert client["jwks"] == {"keys": [signer.jwk]}
    verifier = secrets.token_urlsafe(48)
    fields = {"grant_type": "authorization_code", "redirect_uri": redirect, "code_verifier": verifier,
              "code": auth.seed_code(client["client_id"], redirect, verifier),
              "client_assertion_type": JWT_BEARER,
              "client_assertion": signer.assertion(client["client_id"], ISSUER + "/token")}
    status, _, tokens = auth.post_form("/token", fields)
    assert status == 200, tokens
    # no public fallback for a registered private_key_jwt client
    fields = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client["client_id"]}
    status, _, body = auth.post_form("/token", fields)
    assert status == 401 and body["error"] == "invalid_client"
    for bad in [{}, {"jwks": {"keys": []}}, {"jwks_uri": "http://keys.example/jwks"},
                {"jwks": {"keys": [signer.jwk]}, "jwks_uri": "https://keys.example/jwks"},
                {"jwks": {"keys": [signer.jwk]}, "token_endpoint_auth_signing_alg": "HS256"}]:
        status, _, body = auth.register(dict(bad, redirect_uris=[redirect], token_endpoint_auth_method="private_key_jwt"))
        assert status == 400 and body["error"] == "invalid_client_metadata", (bad, body)


# ---- auth and router together: tokens issued here are honoured there, revocation reaches it ----

def test_router_accepts_auth_tokens_and_sees_revocation(procs, workdir, redis_server):
    from test_router import ACCEPT, INIT, Upstream, start_stack
    http_port = free_port()
    auth = Auth(procs, workdir, redis_server, {"HTTP_PORT": str(http_port), "HTTPS_PORT": "0"})
    issuer = f"http://auth.{DOMAIN}:{http_port}"
    resource = f"http://mcp-echo.{DOMAIN}:{http_port}/mcp"
    meta = json.loads(http("GET", auth.url + "/.well-known/oauth-authorization-server")[2])
    assert meta["issuer"] == issuer
    upstream = Upstream()
    try:
        stack = start_stack(procs, redis_server, upstream, HTTP_PORT=http_port, JWT_ALGORITHM="RS256",
                    AUTH_INTERNAL_URL=auth.url)
        client = public_client(auth)
        redirect = "http://127.0.0.1:33418/callback"
        verifier = secrets.token_urlsafe(48)
        code = auth.seed_code(client["client_id"], redirect, verifier, resource=resource)
        status, _, tokens = auth.post_form("/token", {"grant_type": "authorization_code", "code": code,
                                                      "redirect_uri": redirect, "code_verifier": verifier,
                                                      "client_id": client["client_id"], "resource": resource})
        assert status == 200, tokens

        def mcp(token):
            return http("POST", f"http://127.0.0.1:{http_port}/mcp", json.dumps(INIT).encode(),
                        {"Host": f"mcp-echo.{DOMAIN}:{http_port}", "Content-Type": "application/json",
                         "Accept": ACCEPT, "Authorization": "Bearer " + token})

        deadline = time.time() + 15
        status = None
        while time.time() < deadline:  # the router fetches auth's JWKS in the background
            status = mcp(tokens["access_token"])[0]
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200
        # revoked at auth: the router's 250 ms revocation poll refuses it shortly after
        assert auth.post_form("/revoke", {"client_id": client["client_id"], "token": tokens["access_token"]})[0] == 200
        deadline = time.time() + 10
        while time.time() < deadline and mcp(tokens["access_token"])[0] != 401:
            time.sleep(0.1)
        statuses = [mcp(tokens["access_token"]) for _ in range(6)]  # spread over both router workers
        # (Failed once in CI under load, never alone: say what Redis and both logs held.)
        assert all(st == 401 and 'error="invalid_token"' in h["www-authenticate"] for st, h, _ in statuses), (
            [st for st, _, _ in statuses], auth.redis("ZRANGE", PREFIX + "revocations", "0", "-1", "WITHSCORES"),
            [line for line in auth.proc.stderr().splitlines() if "revok" in line.lower()][-5:],
            [line for line in stack.router.stderr().splitlines()
             if "Revocation" in line or "Redis" in line][-10:])
    finally:
        upstream.close()
