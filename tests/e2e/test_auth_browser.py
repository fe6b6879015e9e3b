"""
End-to-end tests of the browser half of `mcpgw auth`: /authorize, consent, GitHub login (against
tests/e2e/fake_github.py), local users, /callback and the authorization response, with a real
redis-server and the real binary. The code obtained is redeemed at the real /token.
"""
import base64
import hashlib
import html
import http.client as httpclient
import json
import os
import re
import secrets
import subprocess
import time
import urllib.parse

import pytest

from conftest import metric_value, bare_env, free_port, http, mcpgw_bin, wait_for_http
from fake_github import FakeGitHub, fake_github  # noqa: F401 (fixture)

REDIRECT = "http://127.0.0.1:9999/callback"


# ---- a minimal browser: cookies, no automatic redirects ----

class Browser:
    def __init__(self):
        self.cookies = {}
        self.set_cookie_headers = []

    def request(self, method, url, body=None, headers=None):
        u = urllib.parse.urlsplit(url)
        conn = httpclient.HTTPConnection(u.hostname, u.port, timeout=30)
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if isinstance(body, dict):
            body = urllib.parse.urlencode(body).encode()
            h.setdefault("Content-Type", "application/x-www-form-urlencoded")
        conn.request(method, u.path + (("?" + u.query) if u.query else ""), body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                self.set_cookie_headers.append(v)
                name, _, rest = v.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        headers_out = {k.lower(): v for k, v in r.getheaders()}
        conn.close()
        return r.status, headers_out, data.decode("utf-8", "replace")

    def get(self, url, headers=None):
        return self.request("GET", url, headers=headers)

    def post(self, url, form, headers=None):
        return self.request("POST", url, body=form, headers=headers)


def pkce():
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def jwt_claims(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def query_of(location):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(location).query))


def form_fields(page):
    return dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', page))


class Auth:
    def __init__(self, proc, port, fake, workdir, redis_server):
        self.proc = proc
        self.redis_server = redis_server
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.fake = fake
        self.workdir = workdir
        self.resource = f"{self.base}/mcp-echo/mcp"

    def register(self, name="Test Client", redirect_uris=None):
        body = {"redirect_uris": redirect_uris or [REDIRECT], "client_name": name,
                "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"]}
        status, _, raw = http("POST", self.base + "/register", json.dumps(body).encode(),
                              {"Content-Type": "application/json"})
        assert status == 201, raw
        return json.loads(raw)["client_id"]

    def authorize_url(self, client_id, challenge, drop=(), **params):
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT, "state": "st-123",
             "code_challenge": challenge, "code_challenge_method": "S256", "scope": "mcp",
             "resource": self.resource}
        q.update(params)
        for k in drop:
            q.pop(k, None)
        return self.base + "/authorize?" + urllib.parse.urlencode(q)

    def token(self, form):
        status, _, raw = http("POST", self.base + "/token", urllib.parse.urlencode(form).encode(),
                              {"Content-Type": "application/x-www-form-urlencoded"})
        return status, json.loads(raw) if raw else None

    def refresh(self, client_id, refresh_token):
        return self.token({"grant_type": "refresh_token", "client_id": client_id, "refresh_token": refresh_token})

    def verify(self, access_token):
        """/verify (ForwardAuth) for the echo service: 200 for a valid, unrevoked token."""
        headers = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": f"127.0.0.1:{self.port}",
                   "X-Forwarded-Uri": "/mcp-echo/mcp", "Authorization": "Bearer " + access_token}
        return http("GET", self.base + "/verify", None, headers)[0]

    def metric(self, line_prefix):
        return metric_value(self.base, line_prefix)


def redis_cli(auth, *args):
    """One Redis command against the server auth uses; its reply as text."""
    port, password = auth.redis_server
    r = subprocess.run(["redis-cli", "-p", str(port), "-a", password, "--no-auth-warning", *args],
                       capture_output=True, text=True, timeout=10, check=True)
    return r.stdout.strip()


@pytest.fixture
def start_auth(procs, redis_server, workdir, fake_github):  # noqa: F811
    def start(port=None, **extra):
        """port: the port of an earlier, stopped instance, so that a restart keeps the issuer."""
        port = port or free_port()
        rport, rpass = redis_server
        env = dict(BASE_DOMAIN="localhost", ROUTING="path", PUBLIC_ORIGIN=f"http://127.0.0.1:{port}",
                   HTTPS_PORT="0", AUTH_PORT=str(port), REDIS_URL=f"redis://127.0.0.1:{rport}/0",
                   REDIS_PASSWORD=rpass, GITHUB_CLIENT_ID=fake_github.client_id,
                   GITHUB_CLIENT_SECRET=fake_github.client_secret, GITHUB_BASE_URL=fake_github.url,
                   GITHUB_API_URL=fake_github.url, ALLOWED_GITHUB_USERS="octocat, Private-Mail",
                   DATA_DIR=os.path.join(workdir, "data"), MCP_ECHO_ENABLED="true")
        env.update(extra)
        env = {k: v for k, v in env.items() if v is not None}
        p = procs.start([mcpgw_bin(), "auth"], env=bare_env(**env), name=f"auth-{port}")
        wait_for_http(f"http://127.0.0.1:{port}/health", proc=p)
        return Auth(p, port, fake_github, workdir, redis_server)
    return start


def consent_and_approve(b, auth, location):
    """From the /consent redirect to the approval's answer."""
    assert location.startswith("/consent?"), location
    status, h, page = b.get(auth.base + location)
    assert status == 200, page
    fields = form_fields(page)
    status, h, page = b.post(auth.base + "/consent", {"req": fields["req"], "csrf": fields["csrf"],
                                                      "action": "approve"})
    return status, h, page


def github_flow(b, auth, client_id, challenge, **params):
    """/authorize -> consent -> fake GitHub -> /callback; returns the final (status, headers, body)."""
    status, h, page = b.get(auth.authorize_url(client_id, challenge, **params))
    assert status == 302, page
    status, h, page = consent_and_approve(b, auth, h["location"])
    assert status == 302, page
    assert h["location"].startswith(auth.fake.url + "/login/oauth/authorize?")
    status, h, page = b.get(h["location"])
    assert status == 302
    assert h["location"].startswith(auth.base + "/callback?")
    return b.get(h["location"])


# ---- the full flow ----

def test_full_github_flow_to_token(start_auth):
    auth = start_auth()
    client_id = auth.register()
    verifier, challenge = pkce()
    b = Browser()
    status, h, page = b.get(auth.authorize_url(client_id, challenge))
    assert status == 302 and h["location"].startswith("/consent?req=")
    # The session cookie: plain-http development form (no __Host- prefix, no Secure).
    cookie = b.set_cookie_headers[-1]
    assert cookie.startswith("mcpgw_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie
    status, h, page = b.get(auth.base + h["location"])
    assert status == 200
    assert h["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert h["cache-control"] == "no-store"
    assert "Test Client" in page and "127.0.0.1" in page and "mcp" in page
    assert not auth.fake.requests, "no upstream state or redirect before approval"
    fields = form_fields(page)
    status, h, page = b.post(auth.base + "/consent", {"req": fields["req"], "csrf": fields["csrf"],
                                                      "action": "approve"})
    assert status == 302
    gh = urllib.parse.urlsplit(h["location"])
    ghq = dict(urllib.parse.parse_qsl(gh.query))
    assert gh.path == "/login/oauth/authorize"
    assert ghq["client_id"] == auth.fake.client_id
    assert ghq["redirect_uri"] == auth.base + "/callback"
    assert ghq["code_challenge_method"] == "S256" and len(ghq["code_challenge"]) == 43
    assert len(ghq["state"]) >= 43
    status, h, _ = b.get(h["location"])
    callback_url = h["location"]
    status, h, page = b.get(callback_url)
    assert status == 302, page
    final = h["location"]
    assert final.startswith(REDIRECT + "?")
    q = query_of(final)
    assert q["state"] == "st-123"
    assert q["iss"] == auth.base
    # GitHub saw the exchange with Accept: application/json and the PKCE verifier.
    (_, _, headers, body), = auth.fake.requests_to("/login/oauth/access_token")
    assert headers["accept"] == "application/json"
    form = dict(urllib.parse.parse_qsl(body.decode()))
    assert base64.urlsafe_b64encode(hashlib.sha256(form["code_verifier"].encode()).digest()).rstrip(b"=").decode() \
        == ghq["code_challenge"]
    # The code is redeemed at /token.
    status, tok = auth.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT,
                              "client_id": client_id, "code_verifier": verifier, "resource": auth.resource})
    assert status == 200, tok
    claims = jwt_claims(tok["access_token"])
    assert claims["sub"] == "github:583231"
    assert claims["username"] == "octocat"
    assert claims["email"] == "octocat@github.example"
    assert claims["aud"] == auth.resource
    assert claims["client_id"] == client_id
    assert claims["iss"] == auth.base
    assert "refresh_token" in tok
    # Code replay is refused.
    status, tok = auth.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT,
                              "client_id": client_id, "code_verifier": verifier, "resource": auth.resource})
    assert status == 400 and tok["error"] == "invalid_grant"
    # The upstream state is single use: replaying GitHub's callback fails cleanly.
    status, _, page = b.get(callback_url)
    assert status == 400 and "expired or was already completed" in page
    # Logged in, counted.
    # The guide's `just logs auth | grep "GitHub OAuth"` shows the exchange from start to success.
    github_lines = [line for line in auth.proc.stderr().splitlines() if "GitHub OAuth" in line]
    assert any('"message":"GitHub OAuth login started"' in line for line in github_lines)
    assert any('"message":"GitHub OAuth login succeeded"' in line and '"user":"octocat"' in line
               for line in github_lines)
    assert auth.metric('auth_logins_total{provider="github",result="success"}') == 1


def test_approval_is_remembered_per_user_and_client(start_auth):
    auth = start_auth()
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    status, h, _ = github_flow(b, auth, client_id, challenge)
    assert status == 302 and "code=" in h["location"]
    # Same browser, same client: straight back with a code, no consent page, no GitHub.
    n = len(auth.fake.requests)
    status, h, _ = b.get(auth.authorize_url(client_id, challenge, state="second"))
    assert status == 302
    assert h["location"].startswith(REDIRECT + "?")
    assert query_of(h["location"])["state"] == "second"
    assert len(auth.fake.requests) == n
    # Another client: consent again.
    other = auth.register(name="Other")
    status, h, _ = b.get(auth.authorize_url(other, challenge))
    assert status == 302 and h["location"].startswith("/consent?")
    # The signed-in user approves without a GitHub round trip.
    status, h, page = consent_and_approve(b, auth, h["location"])
    assert status == 302 and h["location"].startswith(REDIRECT + "?code=")
    assert len(auth.fake.requests) == n


def test_consent_deny_redirects_access_denied(start_auth):
    auth = start_auth()
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    _, h, _ = b.get(auth.authorize_url(client_id, challenge))
    _, _, page = b.get(auth.base + h["location"])
    fields = form_fields(page)
    status, h, _ = b.post(auth.base + "/consent", {"req": fields["req"], "csrf": fields["csrf"], "action": "deny"})
    assert status == 302
    q = query_of(h["location"])
    assert h["location"].startswith(REDIRECT + "?")
    assert q["error"] == "access_denied" and q["state"] == "st-123" and q["iss"] == auth.base
    # The request is spent.
    status, _, _ = b.post(auth.base + "/consent", {"req": fields["req"], "csrf": fields["csrf"], "action": "approve"})
    assert status == 400


# ---- /authorize errors ----

def assert_error_page(status, h, page, code=400):
    assert status == code, page
    assert "location" not in h
    assert h["content-type"].startswith("text/html")
    assert h["x-frame-options"] == "DENY"


def test_errors_before_the_redirect_uri_is_trusted_never_redirect(start_auth):
    auth = start_auth()
    client_id = auth.register(redirect_uris=[REDIRECT, "https://app.example.com/cb?x=1"])
    _, challenge = pkce()
    b = Browser()
    cases = [
        auth.authorize_url("no-such-client", challenge),
        auth.authorize_url(client_id, challenge, drop=("client_id",)),
        auth.authorize_url(client_id, challenge, redirect_uri="https://evil.example/cb"),
        auth.authorize_url(client_id, challenge, redirect_uri=REDIRECT + "/extra"),          # prefix
        auth.authorize_url(client_id, challenge, redirect_uri="http://127.0.0.1:9999/callbac"),
        auth.authorize_url(client_id, challenge, redirect_uri="http://evil@127.0.0.1:9999/callback"),  # userinfo
        auth.authorize_url(client_id, challenge, redirect_uri="http://127.0.0.1:9999/CALLBACK"),  # case
        auth.authorize_url(client_id, challenge, redirect_uri="http://localhost:9999/callback"),  # loopback swap
        auth.authorize_url(client_id, challenge, redirect_uri=REDIRECT + "#frag"),
        auth.authorize_url(client_id, challenge, redirect_uri="https://app.example.com/cb?x=2"),
        auth.authorize_url(client_id, challenge, redirect_uri="https://app.example.com/cb"),
        auth.authorize_url(client_id, challenge) + "&redirect_uri=" + urllib.parse.quote(REDIRECT, safe=""),
        auth.authorize_url(client_id, challenge) + "&client_id=" + client_id,
        auth.authorize_url(client_id, challenge, drop=("redirect_uri",)),  # two registered URIs
        auth.base + "/authorize?client_id=%ZZ",
    ]
    for url in cases:
        status, h, page = b.get(url)
        assert_error_page(status, h, page)
    # Wrong method.
    status, h, page = b.post(auth.base + "/authorize", {"client_id": client_id})
    assert status == 405 and "location" not in h


@pytest.mark.parametrize("at_authorize,at_token", [("/", None), ("/", "/"), ("", "/"), ("/", ""),
                                                   ("HTTP:/", "HTTP:/")])
def test_resource_is_canonicalised(start_auth, at_authorize, at_token):
    """A client configured with .../mcp/ sends that spelling at /authorize and again at /token
    (and on refresh): both compare in canonical form, and the aud is the canonical resource."""
    auth = start_auth()

    def spelled(how):
        if how is None:
            return None
        r = "HTTP" + auth.resource[4:] if how.startswith("HTTP:") else auth.resource
        return r + "/" if how.endswith("/") else r

    client_id = auth.register()
    verifier, challenge = pkce()
    status, h, _ = github_flow(Browser(), auth, client_id, challenge, resource=spelled(at_authorize))
    assert status == 302
    form = {"grant_type": "authorization_code", "code": query_of(h["location"])["code"],
            "redirect_uri": REDIRECT, "client_id": client_id, "code_verifier": verifier}
    if at_token is not None:
        form["resource"] = spelled(at_token)
    status, tok = auth.token(form)
    assert status == 200, tok
    assert jwt_claims(tok["access_token"])["aud"] == auth.resource
    status, tok = auth.token({"grant_type": "refresh_token", "refresh_token": tok["refresh_token"],
                              "client_id": client_id, "resource": spelled(at_token or "/")})
    assert status == 200, tok
    assert jwt_claims(tok["access_token"])["aud"] == auth.resource


def test_loopback_redirect_any_port(start_auth):
    auth = start_auth()
    client_id = auth.register()
    _, challenge = pkce()
    status, h, _ = Browser().get(auth.authorize_url(client_id, challenge,
                                                    redirect_uri="http://127.0.0.1:43210/callback"))
    assert status == 302 and h["location"].startswith("/consent?")


@pytest.mark.parametrize("params,drop,error", [
    ({"response_type": "token"}, (), "unsupported_response_type"),
    ({}, ("response_type",), "invalid_request"),
    ({}, ("code_challenge", "code_challenge_method"), "invalid_request"),   # PKCE missing
    ({}, ("code_challenge_method",), "invalid_request"),                   # defaults to plain
    ({"code_challenge_method": "plain"}, (), "invalid_request"),
    ({"code_challenge": "too-short"}, (), "invalid_request"),
    ({"scope": "admin"}, (), "invalid_scope"),
    ({"resource": "not a uri"}, (), "invalid_target"),
    ({"resource": "https://x.example/mcp#f"}, (), "invalid_target"),
    ({"resource": "https://evil.example/mcp"}, (), "invalid_target"),  # not served by this gateway
])
def test_errors_after_trust_redirect_with_state_and_iss(start_auth, params, drop, error):
    auth = start_auth()
    client_id = auth.register()
    _, challenge = pkce()
    status, h, _ = Browser().get(auth.authorize_url(client_id, challenge, drop=drop, **params))
    assert status == 302
    assert h["location"].startswith(REDIRECT + "?")
    q = query_of(h["location"])
    assert q["error"] == error
    assert q["state"] == "st-123"
    assert q["iss"] == auth.base


# ---- CSRF and sessions ----

def test_consent_csrf(start_auth):
    auth = start_auth()
    client_id = auth.register()
    _, challenge = pkce()
    victim = Browser()
    _, h, _ = victim.get(auth.authorize_url(client_id, challenge))
    _, _, page = victim.get(auth.base + h["location"])
    fields = form_fields(page)
    url = auth.base + "/consent"
    # No token, a wrong token, a token for another request: 403.
    for csrf in ("", "x" * 43, fields["csrf"][:-1] + ("A" if fields["csrf"][-1] != "A" else "B")):
        status, h2, page2 = victim.post(url, {"req": fields["req"], "csrf": csrf, "action": "approve"})
        assert_error_page(status, h2, page2, 403)
    # A cross-site POST carries no session cookie (SameSite=Lax): refused.
    status, h2, page2 = Browser().post(url, {"req": fields["req"], "csrf": fields["csrf"], "action": "approve"})
    assert_error_page(status, h2, page2, 400)
    # Another browser with its own session and token cannot act on the victim's request.
    attacker = Browser()
    _, h3, _ = attacker.get(auth.authorize_url(client_id, challenge))
    _, _, page3 = attacker.get(auth.base + h3["location"])
    status, h4, page4 = attacker.post(url, {"req": fields["req"], "csrf": form_fields(page3)["csrf"],
                                            "action": "approve"})
    assert_error_page(status, h4, page4, 403)
    status, h4, page4 = attacker.get(url + "?req=" + fields["req"])
    assert_error_page(status, h4, page4, 403)
    # A forged session cookie is ignored.
    forged = Browser()
    forged.cookies["mcpgw_session"] = victim.cookies["mcpgw_session"][:-2] + "xx"
    status, h5, page5 = forged.post(url, {"req": fields["req"], "csrf": fields["csrf"], "action": "approve"})
    assert_error_page(status, h5, page5, 400)
    # The victim's own approval still works.
    status, h6, _ = victim.post(url, {"req": fields["req"], "csrf": fields["csrf"], "action": "approve"})
    assert status == 302 and h6["location"].startswith(auth.fake.url)


def test_callback_from_another_browser_is_refused(start_auth):
    auth = start_auth()
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    _, h, _ = b.get(auth.authorize_url(client_id, challenge))
    _, h, _ = consent_and_approve(b, auth, h["location"])
    _, h, _ = b.get(h["location"])
    status, h2, page = Browser().get(h["location"])  # login CSRF: someone else's callback URL
    assert_error_page(status, h2, page)
    status, h2, page = b.get(auth.base + "/callback?state=unknown&code=x")
    assert_error_page(status, h2, page)


# ---- XSS ----

XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def test_reflected_values_are_escaped(start_auth):
    auth = start_auth()
    client_id = auth.register(name=XSS, redirect_uris=[REDIRECT, "https://x.example/cb?q=%3Cscript%3E"])
    _, challenge = pkce()
    b = Browser()
    status, h, _ = b.get(auth.authorize_url(client_id, challenge, state=XSS, scope="mcp"))
    assert status == 302
    status, _, page = b.get(auth.base + h["location"])
    assert status == 200
    assert "<script>" not in page and "<img" not in page
    assert html.escape(XSS, quote=True).replace("&#x27;", "&#39;") in page
    # Unknown client id and bad values on error pages.
    for url in (auth.authorize_url(XSS, challenge),
                auth.authorize_url(client_id, challenge, redirect_uri="https://x.example/<script>alert(1)</script>"),
                auth.base + "/consent?req=" + urllib.parse.quote(XSS),
                auth.base + "/callback?state=" + urllib.parse.quote(XSS) + "&code=" + urllib.parse.quote(XSS)):
        status, h, page = b.get(url)
        assert status in (400, 403), page
        assert "<script>" not in page and "<img" not in page
    # The state comes back unchanged (percent-encoded) in the redirect, never in a page.
    status, h, _ = b.get(auth.authorize_url(client_id, challenge, state=XSS, response_type="token"))
    assert status == 302 and query_of(h["location"])["state"] == XSS


# ---- GitHub users and faults ----

def test_denied_user(start_auth):
    auth = start_auth()
    auth.fake.login_as = "mallory"
    client_id = auth.register()
    _, challenge = pkce()
    status, h, page = github_flow(Browser(), auth, client_id, challenge)
    assert status == 403
    assert "mallory" in page and "not allowed" in page
    link = html.unescape(re.search(r'href="([^"]+)"', page).group(1))
    assert link.startswith(REDIRECT + "?")
    q = query_of(link)
    assert q["error"] == "access_denied" and q["state"] == "st-123" and q["iss"] == auth.base
    log = [json.loads(line) for line in auth.proc.stderr().splitlines() if line.startswith("{")]
    denied = [e for e in log if e.get("message") == "authentication failed: GitHub OAuth login refused: user not allowed"]
    assert denied and denied[0]["user"] == "mallory" and "ALLOWED_GITHUB_USERS" in denied[0]["detail"]
    assert denied[0]["level"] == "ERROR" and denied[0]["reason"] == "github_user_not_allowed"
    assert auth.metric('auth_failures_total{reason="github_user_not_allowed"}') == 1
    assert auth.metric('auth_logins_total{provider="github",result="denied"}') == 1


def test_private_email_is_read_from_user_emails(start_auth):
    auth = start_auth()
    auth.fake.login_as = "private-mail"
    client_id = auth.register()
    verifier, challenge = pkce()
    status, h, _ = github_flow(Browser(), auth, client_id, challenge)
    assert status == 302
    assert auth.fake.requests_to("/user/emails")
    status, tok = auth.token({"grant_type": "authorization_code", "code": query_of(h["location"])["code"],
                              "redirect_uri": REDIRECT, "client_id": client_id, "code_verifier": verifier,
                              "resource": auth.resource})
    assert status == 200, tok
    claims = jwt_claims(tok["access_token"])
    assert claims["email"] == "hidden@users.example"
    assert claims["username"] == "private-mail"


def test_allowed_orgs(start_auth):
    auth = start_auth(ALLOWED_GITHUB_USERS="*", ALLOWED_GITHUB_ORGS="GitHub")
    client_id = auth.register()
    _, challenge = pkce()
    status, h, _ = github_flow(Browser(), auth, client_id, challenge)
    assert status == 302 and "code=" in h["location"]
    assert "read:org" in auth.fake.last_authorize_query["scope"].split()
    (_, _, _, _), = auth.fake.requests_to("/user/orgs")
    auth.fake.login_as = "mallory"
    status, h, page = github_flow(Browser(), auth, client_id, challenge)
    assert status == 403 and "mallory" in page


def test_github_cancel_sends_access_denied(start_auth):
    auth = start_auth()
    auth.fake.deny = True
    client_id = auth.register()
    _, challenge = pkce()
    status, h, _ = github_flow(Browser(), auth, client_id, challenge)
    assert status == 302
    q = query_of(h["location"])
    assert h["location"].startswith(REDIRECT) and q["error"] == "access_denied" and q["state"] == "st-123"


@pytest.mark.parametrize("fault,code", [("down", 502), ("5xx", 502), ("slow", 504)])
def test_github_faults_give_a_clear_page(start_auth, fault, code):
    auth = start_auth()
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    _, h, _ = b.get(auth.authorize_url(client_id, challenge))
    _, h, _ = consent_and_approve(b, auth, h["location"])
    _, h, _ = b.get(h["location"])
    auth.fake.fault = fault
    status, h2, page = b.get(h["location"])
    assert_error_page(status, h2, page, code)
    assert "GitHub" in page
    failed = [json.loads(line) for line in auth.proc.stderr().splitlines()
              if line.startswith("{") and "GitHub OAuth login failed" in line]
    assert failed and failed[0]["level"] == "ERROR" and failed[0]["reason"] == "github_unavailable"
    assert auth.metric('auth_failures_total{reason="github_unavailable"}') == 1
    assert auth.metric('auth_logins_total{provider="github",result="upstream_error"}') == 1
    auth.fake.fault = None
    # The server is still fine.
    assert http("GET", auth.base + "/health")[0] == 200


def test_bad_github_credentials_are_reported(start_auth):
    auth = start_auth(GITHUB_CLIENT_SECRET="wrong-secret")
    client_id = auth.register()
    _, challenge = pkce()
    status, h, page = github_flow(Browser(), auth, client_id, challenge)
    assert_error_page(status, h, page, 502)
    assert "incorrect_client_credentials" in auth.proc.stderr()
    assert "wrong-secret" not in auth.proc.stderr()


def test_empty_allowed_users_warns_at_start(start_auth):
    auth = start_auth(ALLOWED_GITHUB_USERS=None)
    assert "ALLOWED_GITHUB_USERS is empty" in auth.proc.stderr()
    client_id = auth.register()
    _, challenge = pkce()
    status, _, page = github_flow(Browser(), auth, client_id, challenge)
    assert status == 403


# ---- local users ----

def add_user(workdir, path, name, password):
    r = subprocess.run([mcpgw_bin(), "add-user", name, "--file", path], input=password + "\n", text=True,
                       capture_output=True, env=bare_env(), cwd=workdir, timeout=60)
    return r


def local_flow_to_login(b, auth, client_id, challenge):
    _, h, _ = b.get(auth.authorize_url(client_id, challenge))
    status, h, _ = consent_and_approve(b, auth, h["location"])
    assert status == 302 and h["location"].startswith("/login?req="), h
    status, h, page = b.get(auth.base + h["location"])
    assert status == 200
    return page


def test_local_users_login(start_auth, workdir):
    users = os.path.join(workdir, "users")
    r = add_user(workdir, users, "alice", "correct horse battery")
    assert r.returncode == 0, r.stderr
    r = add_user(workdir, users, "alice", "again")  # no duplicates: a failed step, exit 1
    assert r.returncode == 1 and 'ERROR: user "alice" already exists' in r.stderr, r.stderr
    assert add_user(workdir, users, "bob", "").returncode == 1  # no password read
    assert add_user(workdir, users, "bad:name", "x").returncode == 2  # a usage error
    line = open(users).read().strip()
    assert line.startswith("alice:$2b$12$") and "correct horse" not in line
    assert oct(os.stat(users).st_mode & 0o777) == "0o600"
    auth = start_auth(LOCAL_USERS_FILE=users, GITHUB_CLIENT_ID=None, GITHUB_CLIENT_SECRET=None)
    client_id = auth.register()
    verifier, challenge = pkce()
    b = Browser()
    page = local_flow_to_login(b, auth, client_id, challenge)
    assert 'name="password"' in page and 'value="github"' not in page
    fields = form_fields(page)
    # Wrong password and unknown user: the same generic answer.
    answers = []
    for user, pw in (("alice", "wrong"), ("nobody", "correct horse battery")):
        status, _, page2 = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"],
                                                         "action": "local", "username": user, "password": pw})
        assert status == 401
        answers.append(re.search(r'role="alert"><strong>([^<]*)<', page2).group(1))
    assert answers[0] == answers[1] == "Invalid user name or password."
    # CSRF on the login form.
    status, _, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": "bad", "action": "local",
                                                 "username": "alice", "password": "correct horse battery"})
    assert status == 403
    status, h, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                                 "username": "alice", "password": "correct horse battery"})
    assert status == 302 and h["location"].startswith(REDIRECT + "?code=")
    status, tok = auth.token({"grant_type": "authorization_code", "code": query_of(h["location"])["code"],
                              "redirect_uri": REDIRECT, "client_id": client_id, "code_verifier": verifier,
                              "resource": auth.resource})
    assert status == 200, tok
    assert jwt_claims(tok["access_token"])["sub"] == "local:alice"
    assert "correct horse" not in auth.proc.stderr()


def test_local_users_argon2id_hashes(start_auth, workdir):
    """A users file brought from elsewhere with argon2id hashes (PHC strings, here from the
    reference argon2 CLI): the right password logs in, a wrong one does not."""
    users = os.path.join(workdir, "users")
    made = subprocess.run(["argon2", secrets.token_hex(8), "-id", "-t", "2", "-m", "12", "-p", "1", "-e"],
                          input=b"tr0ub4dor&3", capture_output=True, check=True)
    hashed = made.stdout.decode().strip()
    assert hashed.startswith("$argon2id$v=19$")
    with open(users, "w") as f:
        f.write(f"# brought from another system\ndave:{hashed}\n")
    os.chmod(users, 0o600)
    auth = start_auth(LOCAL_USERS_FILE=users, GITHUB_CLIENT_ID=None, GITHUB_CLIENT_SECRET=None)
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    fields = form_fields(local_flow_to_login(b, auth, client_id, challenge))
    status, _, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                                 "username": "dave", "password": "tr0ub4dor&4"})
    assert status == 401
    status, h, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                                 "username": "dave", "password": "tr0ub4dor&3"})
    assert status == 302 and h["location"].startswith(REDIRECT + "?code="), status


def test_local_login_rate_limit(start_auth, workdir):
    users = os.path.join(workdir, "users")
    assert add_user(workdir, users, "bob", "secret-pass").returncode == 0
    auth = start_auth(LOCAL_USERS_FILE=users, GITHUB_CLIENT_ID=None, GITHUB_CLIENT_SECRET=None)
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    fields = form_fields(local_flow_to_login(b, auth, client_id, challenge))
    statuses = []
    for _ in range(12):
        status, _, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                                     "username": "bob", "password": "nope"})
        statuses.append(status)
    assert statuses[:10] == [401] * 10
    assert statuses[10:] == [429, 429]
    # Even the right password is refused while limited.
    status, _, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                                 "username": "bob", "password": "secret-pass"})
    assert status == 429
    # The budget is per client address: behind the router (a proxy on this machine naming the
    # client in X-Forwarded-For) another client is not locked out by this one's attempts.
    status, h, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                                 "username": "bob", "password": "secret-pass"},
                          headers={"X-Forwarded-For": "198.51.100.9"})
    assert status == 302 and h["location"].startswith(REDIRECT + "?code="), status
    # and every counter has its window as TTL
    keys = redis_cli(auth, "KEYS", "*ratelimit:login:*").split()
    assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["127.0.0.1", "198.51.100.9"]
    assert all(0 < int(redis_cli(auth, "TTL", k)) <= 300 for k in keys)


def test_both_providers_offered(start_auth, workdir):
    users = os.path.join(workdir, "users")
    assert add_user(workdir, users, "carol", "pw-carol-1").returncode == 0
    auth = start_auth(LOCAL_USERS_FILE=users)
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    page = local_flow_to_login(b, auth, client_id, challenge)
    assert 'value="github"' in page and 'name="password"' in page
    fields = form_fields(page)
    status, h, _ = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "github"})
    assert status == 302 and h["location"].startswith(auth.fake.url + "/login/oauth/authorize?")
    status, h, _ = b.get(h["location"])
    status, h, _ = b.get(h["location"])
    assert status == 302 and h["location"].startswith(REDIRECT + "?code=")


# ---- the allow-list is checked again at every refresh ----

def redeem(auth, client_id, location, verifier):
    """The code in the final redirect, exchanged at /token: the user's first token pair."""
    assert location.startswith(REDIRECT + "?code="), location
    status, tok = auth.token({"grant_type": "authorization_code", "code": query_of(location)["code"],
                              "redirect_uri": REDIRECT, "client_id": client_id, "code_verifier": verifier,
                              "resource": auth.resource})
    assert status == 200, tok
    return tok


def github_tokens(auth, client_id, login):
    auth.fake.login_as = login
    verifier, challenge = pkce()
    status, h, page = github_flow(Browser(), auth, client_id, challenge)
    assert status == 302, page
    return redeem(auth, client_id, h["location"], verifier)


def local_tokens(auth, client_id, name, password):
    verifier, challenge = pkce()
    b = Browser()
    fields = form_fields(local_flow_to_login(b, auth, client_id, challenge))
    status, h, page = b.post(auth.base + "/login", {"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                                    "username": name, "password": password})
    assert status == 302, page
    return redeem(auth, client_id, h["location"], verifier)


def assert_grant_revoked(auth, client_id, token_pairs):
    """Every access token of the grant is refused (/verify; the router polls `revocations`) and
    its refresh token is gone."""
    for tok in token_pairs:
        assert auth.verify(tok["access_token"]) == 401
        assert redis_cli(auth, "ZSCORE", "oauth:revocations", jwt_claims(tok["access_token"])["jti"]) != ""
    status, body = auth.refresh(client_id, token_pairs[-1]["refresh_token"])
    assert status == 400 and body["error"] == "invalid_grant"


def test_refresh_checks_allowed_github_users_again(start_auth):
    """A GitHub user taken off ALLOWED_GITHUB_USERS (auth restarted with the new list) loses the
    grant at its next refresh, with every token it led to; a user still listed refreshes as before."""
    auth = start_auth(ALLOWED_GITHUB_USERS="octocat, Private-Mail")
    client_id = auth.register()
    octo = github_tokens(auth, client_id, "octocat")
    other = github_tokens(auth, client_id, "private-mail")
    status, octo2 = auth.refresh(client_id, octo["refresh_token"])
    assert status == 200, octo2
    assert auth.verify(octo["access_token"]) == 200 and auth.verify(octo2["access_token"]) == 200
    assert auth.proc.stop() == 0
    auth = start_auth(port=auth.port, ALLOWED_GITHUB_USERS="Private-MAIL")
    status, body = auth.refresh(client_id, octo2["refresh_token"])
    assert status == 400, body
    assert body["error"] == "invalid_grant" and "no longer allowed" in body["error_description"]
    assert_grant_revoked(auth, client_id, [octo, octo2])
    log = [json.loads(line) for line in auth.proc.stderr().splitlines() if line.startswith("{")]
    refused = [e for e in log if e.get("reason") == "user_not_allowed"]
    assert refused and refused[0]["level"] == "ERROR" and refused[0]["user"] == "octocat"
    assert "ALLOWED_GITHUB_USERS" in refused[0]["detail"] and refused[0]["client_id"] == client_id
    assert auth.metric('auth_failures_total{reason="user_not_allowed"}') == 1
    # still listed (case-insensitively, as at login): refreshes, and its tokens stay valid
    status, other2 = auth.refresh(client_id, other["refresh_token"])
    assert status == 200, other2
    assert auth.verify(other["access_token"]) == 200 and auth.verify(other2["access_token"]) == 200
    # GitHub login no longer configured at all: nobody who signed in with it may refresh
    assert auth.proc.stop() == 0
    users = os.path.join(auth.workdir, "users")
    assert add_user(auth.workdir, users, "frank", "pw-frank-1").returncode == 0
    auth = start_auth(port=auth.port, LOCAL_USERS_FILE=users, GITHUB_CLIENT_ID=None, GITHUB_CLIENT_SECRET=None)
    status, body = auth.refresh(client_id, other2["refresh_token"])
    assert status == 400 and "no longer allowed" in body["error_description"], body
    assert_grant_revoked(auth, client_id, [other, other2])


def test_refresh_checks_the_local_users_file_again(start_auth, workdir):
    """A local user removed from LOCAL_USERS_FILE loses the grant at its next refresh. auth reads
    the file at every login and every refresh, so this needs no restart. A file that cannot be
    read is the server's problem: 503, and the grant survives."""
    users = os.path.join(workdir, "users")
    assert add_user(workdir, users, "alice", "pw-alice-1").returncode == 0
    assert add_user(workdir, users, "bob", "pw-bob-1").returncode == 0
    auth = start_auth(LOCAL_USERS_FILE=users, GITHUB_CLIENT_ID=None, GITHUB_CLIENT_SECRET=None)
    client_id = auth.register()
    alice = local_tokens(auth, client_id, "alice", "pw-alice-1")
    bob = local_tokens(auth, client_id, "bob", "pw-bob-1")
    with open(users) as f:
        lines = f.readlines()
    with open(users, "w") as f:
        f.writelines(line for line in lines if not line.startswith("alice:"))
    status, body = auth.refresh(client_id, alice["refresh_token"])
    assert status == 400, body
    assert body["error"] == "invalid_grant" and "no longer allowed" in body["error_description"]
    assert_grant_revoked(auth, client_id, [alice])
    assert auth.metric('auth_failures_total{reason="user_not_allowed"}') == 1
    status, bob2 = auth.refresh(client_id, bob["refresh_token"])
    assert status == 200, bob2
    assert auth.verify(bob2["access_token"]) == 200
    # the file is missing for a moment: no decision, no revocation
    os.rename(users, users + ".away")
    status, body = auth.refresh(client_id, bob2["refresh_token"])
    assert status == 503 and body["error"] == "temporarily_unavailable", body
    assert "LOCAL_USERS_FILE" in auth.proc.stderr()
    assert auth.verify(bob2["access_token"]) == 200
    os.rename(users + ".away", users)
    status, bob3 = auth.refresh(client_id, bob2["refresh_token"])  # a retry, within REFRESH_GRACE_PERIOD
    assert status == 200, bob3
    assert auth.verify(bob3["access_token"]) == 200


def test_bad_local_users_file_stops_start(procs, workdir):
    users = os.path.join(workdir, "users")
    with open(users, "w") as f:
        f.write("dave:$1$md5salt$notsupported\n")  # MD5-crypt: too weak to accept
    port = free_port()
    p = procs.start([mcpgw_bin(), "auth"], env=bare_env(BASE_DOMAIN="localhost", HTTPS_PORT="0",
                                                       AUTH_PORT=str(port), LOCAL_USERS_FILE=users,
                                                       DATA_DIR=os.path.join(workdir, "data"),
                                                       REDIS_URL="redis://127.0.0.1:1/0"))
    deadline = time.time() + 30
    while p.alive() and time.time() < deadline:
        time.sleep(0.05)
    assert not p.alive()
    assert p.proc.returncode == 78
    assert "line 1: unsupported hash" in p.stderr()


# ---- a real browser and the official SDK client ----

NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


def run_node(*args, timeout=120):
    if not os.path.exists("/usr/bin/chromium"):
        pytest.fail("chromium is not installed (apt-get install chromium)")
    r = subprocess.run(["node", os.path.join(NODE_DIR, "oauth_browser.mjs"), *args], capture_output=True, text=True,
                       timeout=timeout, cwd=NODE_DIR)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_consent_in_headless_chromium(start_auth):
    auth = start_auth()
    client_id = auth.register(name="Chromium <b>Client</b>")
    verifier, challenge = pkce()
    out = run_node("consent", auth.authorize_url(client_id, challenge), REDIRECT)
    assert "Chromium <b>Client</b>" in out["consent"]["text"]  # shown as text, not markup
    assert "127.0.0.1" in out["consent"]["text"]
    cookie, = [c for c in out["cookies"] if c["name"] == "mcpgw_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    q = query_of(out["location"])
    assert q["state"] == "st-123" and q["iss"] == auth.base
    status, tok = auth.token({"grant_type": "authorization_code", "code": q["code"], "redirect_uri": REDIRECT,
                              "client_id": client_id, "code_verifier": verifier, "resource": auth.resource})
    assert status == 200, tok
    assert jwt_claims(tok["access_token"])["username"] == "octocat"


def test_official_sdk_client_discovery_registration_authorization_refresh(start_auth):
    auth = start_auth()
    out = run_node("sdk", auth.resource, "http://127.0.0.1:9998/oauth/callback")
    assert out["first"] == "REDIRECT"
    assert out["second"] == "AUTHORIZED"
    assert out["third"] == "AUTHORIZED"
    authz = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(out["authorizationUrl"]).query))
    assert authz["code_challenge_method"] == "S256"
    assert authz["resource"] == auth.resource
    assert authz["client_id"] == out["client_id"]
    assert query_of(out["redirect"])["iss"] == auth.base
    claims = jwt_claims(out["access_token"])
    assert claims["aud"] == auth.resource and claims["client_id"] == out["client_id"]
    assert claims["sub"] == "github:583231"
    assert out["refreshed_access_token"] and out["refreshed_access_token"] != out["access_token"]
    assert out["refreshed_refresh_token"] != out["refresh_token"]
    assert jwt_claims(out["refreshed_access_token"])["aud"] == auth.resource


def test_stopping_during_a_password_check_is_clean(start_auth, workdir):
    users = os.path.join(workdir, "users")
    assert add_user(workdir, users, "erin", "pw-erin-1").returncode == 0
    auth = start_auth(LOCAL_USERS_FILE=users, GITHUB_CLIENT_ID=None, GITHUB_CLIENT_SECRET=None)
    client_id = auth.register()
    _, challenge = pkce()
    b = Browser()
    fields = form_fields(local_flow_to_login(b, auth, client_id, challenge))
    body = urllib.parse.urlencode({"req": fields["req"], "csrf": fields["csrf"], "action": "local",
                                   "username": "erin", "password": "pw-erin-1"}).encode()
    conn = httpclient.HTTPConnection("127.0.0.1", auth.port, timeout=30)
    conn.request("POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": "; ".join(f"{k}={v}" for k, v in b.cookies.items())})
    time.sleep(0.02)  # the bcrypt check (cost 12) is now running on its helper thread
    assert auth.proc.stop() == 0
    conn.close()
    auth.proc.assert_no_sanitizer_report()
