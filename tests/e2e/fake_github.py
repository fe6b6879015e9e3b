"""
A faithful fake of GitHub's OAuth web flow and the few REST endpoints mcpgw uses, for end-to-end
tests (stdlib only; a ThreadingHTTPServer on a free 127.0.0.1 port).

What it does like github.com / api.github.com:
  GET  /login/oauth/authorize     checks client_id and redirect_uri, then (as if the user clicked
                                  "Authorize") redirects to redirect_uri with code and state; the
                                  user is `fake.login_as`. With fake.deny=True it redirects with
                                  error=access_denied like a user pressing "Cancel".
  POST /login/oauth/access_token  the code exchange. Errors come as HTTP 200 with an "error" field
                                  (bad_verification_code, incorrect_client_credentials,
                                  redirect_uri_mismatch), as GitHub does; JSON only when the
                                  request says Accept: application/json, else form-encoded. PKCE:
                                  a code issued with code_challenge needs the matching verifier.
  GET  /user, /user/emails, /user/orgs   with "Authorization: Bearer|token <access token>",
                                  401 {"message":"Bad credentials"} otherwise.
With fake.require_login=True it answers /login/oauth/authorize like github.com does for a browser
that is not signed in: a 200 "Sign in to GitHub" page, unless the request carries the cookie
gh_session=1 (a browser already signed in), which gets the redirect as above.
Fault switches: fake.fault = None | "down" (connections closed without an answer) | "slow"
(answers after fake.slow_seconds) | "5xx" (502 with an HTML body, like GitHub's unicorn page).
Every request is recorded in fake.requests as (method, path, headers dict, body bytes).
"""
import base64
import hashlib
import json
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FakeGitHub:
    def __init__(self, client_id="fake-client-id", client_secret="fake-client-secret"):
        self.client_id = client_id
        self.client_secret = client_secret
        self.users = {}
        self.add_user("octocat", 583231, email="octocat@github.example", orgs=["github"])
        self.add_user("private-mail", 1002, email=None, emails=[
            {"email": "hidden@users.example", "primary": True, "verified": True, "visibility": "private"},
            {"email": "other@users.example", "primary": False, "verified": True, "visibility": None}])
        self.add_user("mallory", 666, email="m@evil.example", orgs=["evilcorp"])
        self.login_as = "octocat"
        self.last_authorize_query = None
        self.deny = False
        self.require_login = False
        self.fault = None
        self.slow_seconds = 15
        self.codes = {}   # code -> dict
        self.tokens = {}  # access token -> login
        self.requests = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def add_user(self, login, uid, email=None, emails=None, orgs=None):
        self.users[login] = {"login": login, "id": uid, "email": email,
                             "emails": emails if emails is not None else
                             ([{"email": email, "primary": True, "verified": True, "visibility": "public"}]
                              if email else []),
                             "orgs": orgs or []}

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def requests_to(self, path):
        with self.lock:
            return [r for r in self.requests if r[1] == path]

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def _send(self, status, body, ctype="application/json; charset=utf-8", headers=None):
                data = body if isinstance(body, bytes) else (
                    json.dumps(body).encode() if not isinstance(body, str) else body.encode())
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _fault(self):
                if fake.fault == "down":
                    # As if nothing listened: the connection ends without an answer.
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return True
                if fake.fault == "slow":
                    time.sleep(fake.slow_seconds)
                if fake.fault == "5xx":
                    self._send(502, "<html><body><h1>Unicorn!</h1>This page is taking too long to load.</body></html>",
                               "text/html; charset=utf-8")
                    return True
                return False

            def _record(self, body=b""):
                path = urllib.parse.urlsplit(self.path).path
                with fake.lock:
                    fake.requests.append((self.command, path, {k.lower(): v for k, v in self.headers.items()}, body))

            def do_GET(self):
                self._record()
                if self._fault():
                    return
                u = urllib.parse.urlsplit(self.path)
                q = dict(urllib.parse.parse_qsl(u.query))
                if u.path == "/login/oauth/authorize":
                    return self.authorize(q)
                if u.path in ("/user", "/user/emails", "/user/orgs"):
                    return self.api(u.path)
                self._send(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

            def do_POST(self):
                body = self._body()
                self._record(body)
                if self._fault():
                    return
                u = urllib.parse.urlsplit(self.path)
                if u.path == "/login/oauth/access_token":
                    return self.access_token(dict(urllib.parse.parse_qsl(body.decode())))
                self._send(404, {"message": "Not Found"})

            def authorize(self, q):
                fake.last_authorize_query = q
                if q.get("client_id") != fake.client_id:
                    return self._send(404, "<html>Not Found</html>", "text/html")
                redirect_uri = q.get("redirect_uri", "")
                state = q.get("state", "")
                if fake.require_login and "gh_session=1" not in (self.headers.get("Cookie") or ""):
                    return self._send(200, "<!DOCTYPE html><html><head><title>Sign in to GitHub</title></head><body>"
                                           "<form action=\"/session\" method=\"post\"><input name=\"login\">"
                                           "<input type=\"password\" name=\"password\"></form></body></html>",
                                      "text/html; charset=utf-8")
                if fake.deny:
                    sep = "&" if "?" in redirect_uri else "?"
                    loc = redirect_uri + sep + urllib.parse.urlencode({
                        "error": "access_denied",
                        "error_description": "The user has denied your application access.",
                        "error_uri": "https://docs.github.com/apps/troubleshooting", "state": state})
                    return self._send(302, b"", "text/html", {"Location": loc})
                code = secrets.token_hex(10)
                with fake.lock:
                    fake.codes[code] = {"redirect_uri": redirect_uri, "challenge": q.get("code_challenge"),
                                        "method": q.get("code_challenge_method"), "login": fake.login_as,
                                        "scope": q.get("scope", ""), "expires": time.time() + 600}
                sep = "&" if "?" in redirect_uri else "?"
                loc = redirect_uri + sep + urllib.parse.urlencode({"code": code, "state": state})
                self._send(302, b"", "text/html", {"Location": loc})

            def _token_answer(self, obj):
                if "application/json" in (self.headers.get("Accept") or ""):
                    return self._send(200, obj)
                return self._send(200, urllib.parse.urlencode(obj), "application/x-www-form-urlencoded")

            def access_token(self, f):
                if f.get("client_id") != fake.client_id or f.get("client_secret") != fake.client_secret:
                    return self._token_answer({
                        "error": "incorrect_client_credentials",
                        "error_description": "The client_id and/or client_secret passed are incorrect.",
                        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials"})
                with fake.lock:
                    rec = fake.codes.pop(f.get("code", ""), None)
                bad_code = {"error": "bad_verification_code",
                            "error_description": "The code passed is incorrect or expired.",
                            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}
                if rec is None or rec["expires"] < time.time():
                    return self._token_answer(bad_code)
                if f.get("redirect_uri") and f["redirect_uri"] != rec["redirect_uri"]:
                    return self._token_answer({
                        "error": "redirect_uri_mismatch",
                        "error_description": "The redirect_uri MUST match the registered callback URL for this application.",
                        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2"})
                if rec["challenge"]:
                    verifier = f.get("code_verifier", "")
                    if rec["method"] == "S256":
                        computed = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                    else:
                        computed = verifier
                    if computed != rec["challenge"]:
                        return self._token_answer(bad_code)
                token = "gho_" + secrets.token_hex(18)
                with fake.lock:
                    fake.tokens[token] = rec["login"]
                self._token_answer({"access_token": token, "token_type": "bearer",
                                    "scope": rec["scope"].replace(" ", ",")})

            def api(self, path):
                auth = self.headers.get("Authorization") or ""
                parts = auth.split(" ", 1)
                login = fake.tokens.get(parts[1]) if len(parts) == 2 and parts[0].lower() in ("bearer", "token") else None
                if login is None:
                    return self._send(401, {"message": "Bad credentials",
                                            "documentation_url": "https://docs.github.com/rest", "status": "401"})
                u = fake.users[login]
                if path == "/user":
                    return self._send(200, {"login": u["login"], "id": u["id"], "node_id": "MDQ6VXNlcjE=",
                                            "type": "User", "site_admin": False, "name": u["login"].title(),
                                            "email": u["email"]})
                if path == "/user/emails":
                    return self._send(200, u["emails"])
                return self._send(200, [{"login": o, "id": 1000 + i, "url": f"{fake.url}/orgs/{o}"}
                                        for i, o in enumerate(u["orgs"])])

        return Handler


@pytest.fixture
def fake_github():
    fake = FakeGitHub().start()
    yield fake
    fake.stop()
