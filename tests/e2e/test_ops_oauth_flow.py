"""
End-to-end tests of `mcpgw test-oauth-flow` (the guide's "Test OAuth flow") and of show-config's
"JWT secret matches across services" check, against a real stack started with `mcpgw up` (real
redis-server, auth, router, mcp-echo on 127.0.0.1) and the fake GitHub of fake_github.py.

The person who logs in in a browser, when the flow needs one, is played by the minimal cookie
browser of test_auth_browser.py: it opens the printed URL, approves, logs in, and is redirected
to the command's loopback listener.
"""
import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import bare_env, free_port, mcpgw_bin, wait_for_http
from fake_github import fake_github  # noqa: F401 (fixture)
from test_auth_browser import Browser, form_fields
from test_ops import Stack, just_binary

STEPS = 13
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]+")


def github_env(fake):
    return dict(GITHUB_CLIENT_ID=fake.client_id, GITHUB_CLIENT_SECRET=fake.client_secret,
                GITHUB_BASE_URL=fake.url, GITHUB_API_URL=fake.url, ALLOWED_GITHUB_USERS="octocat")


@pytest.fixture
def make_stack(workdir):
    stacks = []

    def make(**overrides):
        s = Stack(workdir, **overrides)
        stacks.append(s)
        return s
    yield make
    for s in stacks:
        s.kill_leftovers()


def flow(stack, *args, password=None, timeout=120):
    r = stack.run("test-oauth-flow", *args, input=password + "\n" if password is not None else "", timeout=timeout)
    return r


def step_lines(out):
    return [line for line in out.splitlines() if re.match(r"^(OK|FAIL|SKIP) +\[", line)]


def assert_all_ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    lines = step_lines(r.stdout)
    assert len(lines) == STEPS, r.stdout
    assert all(line.startswith("OK ") for line in lines), r.stdout
    assert f"PASS: all {STEPS} steps" in r.stdout
    assert not JWT.search(r.stdout + r.stderr), "a token was printed in full"


def failed_step(r, number, name):
    assert r.returncode == 1, r.stdout + r.stderr
    line = next((x for x in step_lines(r.stdout) if x.startswith("FAIL")), None)
    assert line is not None and line.startswith(f"FAIL [{number:2d}/{STEPS}] {name}: "), r.stdout
    assert f"FAILED at step {number} of {STEPS} ({name})" in r.stdout
    return line


def registered_clients(stack):
    r = stack.run("redis-cli", "--scan", "--pattern", "oauth:client:*")
    assert r.returncode == 0, r.stderr
    return [k for k in r.stdout.split() if k]


def add_user(stack, name, password):
    r = stack.run("add-user", name, input=password + "\n")
    assert r.returncode == 0, r.stderr


class Running:
    """test-oauth-flow started in the background, its stdout read line by line."""

    def __init__(self, stack, *args):
        self.proc = subprocess.Popen([mcpgw_bin(), "test-oauth-flow", *args], cwd=stack.dir, env=bare_env(),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.lines = queue.Queue()
        self.out = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_url(self, timeout=60):
        deadline = time.time() + timeout
        saw_prompt = False
        while time.time() < deadline:
            try:
                line = self.lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            if line is None:
                break
            if "open this URL in a browser" in line:
                saw_prompt = True
            elif saw_prompt and line.strip().startswith("http"):
                return line.strip()
        raise AssertionError("no URL printed:\n" + "".join(self.out))

    def finish(self, timeout=60):
        try:
            self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        err = self.proc.stderr.read()
        time.sleep(0.1)  # the reader thread drains the rest
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            assert marker not in err, f"test-oauth-flow: sanitizer report:\n{err[-4000:]}"
        return self.proc.returncode, "".join(self.out), err


def person_logs_in(url, user=None, password=None, github_signed_in=False):
    """A person's browser: from the authorization URL to the loopback redirect (which it follows)."""
    b = Browser()
    if github_signed_in:
        b.cookies["gh_session"] = "1"
    method, target, form = "GET", url, None
    for _ in range(15):
        status, h, page = b.request(method, target, body=form)
        if status in (301, 302, 303):
            target = urllib.parse.urljoin(target, h["location"])
            method, form = "GET", None
            if urllib.parse.urlsplit(target).path == "/callback" and target.startswith("http://127.0.0.1:"):
                status, _, page = b.get(target)  # arrives at test-oauth-flow's listener
                assert status == 200 and "You can close this tab" in page, page
                return
            continue
        assert status == 200, (status, page)
        fields = form_fields(page)
        action = re.search(r'<form method="post" action="([^"]+)"', page).group(1)
        if 'value="approve"' in page:
            form = {"req": fields["req"], "csrf": fields["csrf"], "action": "approve"}
        elif 'name="password"' in page and user:
            form = {"req": fields["req"], "csrf": fields["csrf"], "action": "local", "username": user,
                    "password": password}
        elif 'value="github"' in page:
            form = {"req": fields["req"], "csrf": fields["csrf"], "action": "github"}
        else:
            raise AssertionError(page)
        method, target = "POST", urllib.parse.urljoin(target, action)
    raise AssertionError("too many steps")


def test_help_and_usage_errors(workdir):
    r = subprocess.run([mcpgw_bin(), "test-oauth-flow", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("Usage: mcpgw test-oauth-flow")
    for args in (["--bogus"], ["--timeout", "0"], ["--browser", "--no-browser"], ["--password-stdin"]):
        r = subprocess.run([mcpgw_bin(), "test-oauth-flow", *args], capture_output=True, text=True, cwd=workdir,
                           env=bare_env())
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert r.stderr.startswith("ERROR: "), (args, r.stderr)
    r = subprocess.run([mcpgw_bin(), "show-config", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "JWT_SECRET check" in r.stdout and "--no-check" in r.stdout


def test_flow_against_fake_github_local_users_and_a_person(procs, make_stack, fake_github):  # noqa: F811
    stack = make_stack(**github_env(fake_github))
    stack.start_foreground(procs)

    # The guide's check: the same signing key everywhere (RS256, generated by auth).
    r = stack.shell("mcpgw show-config | grep JWT_SECRET")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^# JWT_SECRET check: signing key same across this configuration, auth, router "
                     r"\(RS256 from DATA_DIR/keys/jwt-rs256.pem, kid [\w-]{43}\)$", r.stdout, re.M), r.stdout

    # GitHub (the fake redirects straight back): every step by itself.
    r = flow(stack, "--no-browser")
    assert_all_ok(r)
    assert "login: via GitHub at " + fake_github.url in r.stdout
    assert "for octocat (github:583231)" in r.stdout
    assert "MCP tools/call: echo answered" in r.stdout
    assert "the router refuses the revoked token (401)" in r.stdout
    assert len(fake_github.requests_to("/login/oauth/access_token")) == 1
    for token in fake_github.tokens:
        assert token not in r.stdout
    assert registered_clients(stack) == [], "the test client was not deleted"
    # The tokens it was issued are revoked: every token record is gone.
    assert stack.run("redis-cli", "--scan", "--pattern", "oauth:token:*").stdout.split() == []

    # A local user: the login form, password from stdin, never printed.
    add_user(stack, "alice", "alice-pw-Secret1")
    r = flow(stack, "--user", "alice", "--password-stdin", password="alice-pw-Secret1")
    assert_all_ok(r)
    assert "login: via local user alice" in r.stdout and "for alice (local:alice)" in r.stdout
    assert "alice-pw-Secret1" not in r.stdout + r.stderr
    r = flow(stack, "--user", "alice", "--password-stdin", password="wrong")
    line = failed_step(r, 6, "login")
    assert "401" in line and "Invalid user name or password." in line
    assert registered_clients(stack) == [], "a failed run leaves its client behind"

    # The same through just, as the guide writes it.
    just = just_binary()
    if just:
        env = bare_env(MCPGW=os.path.abspath(mcpgw_bin()))
        env["PATH"] = os.path.dirname(just) + ":" + env["PATH"]
        root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        j = subprocess.run([just, "--justfile", os.path.join(root, "justfile"), "--working-directory", stack.dir,
                            "test-oauth-flow", "--no-browser"], env=env, capture_output=True, text=True, timeout=120)
        assert_all_ok(j)

    # GitHub that wants a person (as github.com does): the URL is printed, a person logs in.
    fake_github.require_login = True
    r = flow(stack, "--no-browser")
    line = failed_step(r, 6, "login")
    assert f"{fake_github.url} shows a login page (--no-browser: not waiting for a person)" in line
    run = Running(stack, "--timeout", "60")
    url = run.wait_for_url()
    assert url.startswith(f"http://localhost:{stack.ports['HTTP_PORT']}/authorize?")
    assert "code_challenge_method=S256" in url
    person_logs_in(url, github_signed_in=True)
    code, out, err = run.finish()
    assert code == 0, out + err
    assert "login: via a person in a browser" in out and "PASS" in out
    # Nobody comes: the wait ends at --timeout with a clear line.
    run = Running(stack, "--timeout", "2")
    run.wait_for_url()
    code, out, err = run.finish()
    assert code == 1
    assert re.search(r"FAIL \[ 6/13\] login: no redirect arrived on http://127\.0\.0\.1:\d+/callback within 2 s",
                     out), out
    fake_github.require_login = False

    # A service that does not exist: a clear error, nothing done.
    r = flow(stack, "--service", "mcp-nope")
    assert r.returncode == 2
    assert "ERROR: no enabled MCP service named 'mcp-nope' (enabled: mcp-echo)" in r.stderr
    assert flow(stack, "--service", "echo", "--no-browser").returncode == 0

    # auth down: the step that needs it fails, with the router's answer.
    assert stack.run("down", "auth").returncode == 0
    r = flow(stack, "--no-browser")
    line = failed_step(r, 3, "authorization server metadata")
    assert "HTTP 502" in line and "auth is unavailable" in line
    # router down: discovery fails and says what to look at.
    assert stack.run("down", "router").returncode == 0
    r = flow(stack, "--no-browser")
    line = failed_step(r, 1, "discovery")
    assert "is the router running?" in line


def test_signing_key_check_and_mismatch_drill(procs, make_stack):
    secret = "s3cret-" + os.urandom(20).hex()
    other = "other-" + os.urandom(20).hex()
    stack = make_stack(JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=secret)
    # Nothing runs yet: the configured key alone, exit 0.
    r = stack.run("show-config")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^# JWT_SECRET check: signing key HS256 from GATEWAY_JWT_SECRET, kid [\w-]{22}; auth and "
                     r"router are not running, nothing to compare with$", r.stdout, re.M), r.stdout
    kid = re.search(r"kid ([\w-]{22})", r.stdout).group(1)

    stack.start_foreground(procs)
    r = stack.shell("mcpgw show-config | grep JWT_SECRET")
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines() == [
        "GATEWAY_JWT_SECRET=**** (47 chars)",
        f"# JWT_SECRET check: signing key same across this configuration, auth, router "
        f"(HS256 from GATEWAY_JWT_SECRET, kid {kid})"]
    assert stack.run("show-config", "--no-check").stdout.count("JWT_SECRET check") == 0

    # This shell has another secret than the running services: auth differs from it.
    r = subprocess.run([mcpgw_bin(), "show-config"], cwd=stack.dir, env=bare_env(GATEWAY_JWT_SECRET=other),
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert f"MISMATCH: auth signs with kid {kid} (HS256) from GATEWAY_JWT_SECRET, but this configuration" in r.stdout
    assert secret not in r.stdout and other not in r.stdout

    # Local users without --user: the walk stops at the login form and says what to give.
    add_user(stack, "bob", "bob-pw-Secret2")
    r = flow(stack, "--no-browser")
    line = failed_step(r, 6, "login")
    assert "the login page asks for a local user (give --user NAME --password-stdin)" in line
    # ... or a person logs in in a browser.
    run = Running(stack, "--timeout", "60")
    person_logs_in(run.wait_for_url(), user="bob", password="bob-pw-Secret2")
    code, out, err = run.finish()
    assert code == 0, out + err
    assert "for bob (local:bob)" in out

    # The drill: a router started by hand with another secret.
    assert stack.run("down", "router").returncode == 0
    env = bare_env(GATEWAY_JWT_SECRET=other)
    router = procs.start([mcpgw_bin(), "router"], env, name="router-other-secret", cwd=stack.dir)
    wait_for_http(f"http://127.0.0.1:{stack.ports['ADMIN_PORT']}/health", proc=router)
    r = stack.shell("mcpgw show-config | grep JWT_SECRET")
    assert r.returncode == 1, r.stdout
    assert "# JWT_SECRET check: MISMATCH: the router verifies with kid " in r.stdout
    assert f"but auth signs with kid {kid}: the router refuses every token auth issues" in r.stdout
    assert secret not in r.stdout and other not in r.stdout
    # ... and the flow shows the symptom, pointing at the check.
    r = flow(stack, "--user", "bob", "--password-stdin", password="bob-pw-Secret2")
    line = failed_step(r, 9, "MCP initialize")
    assert "HTTP 401 invalid_token" in line and "mcpgw show-config | grep JWT_SECRET" in line

    # Back to the supervised router: the same key again.
    router.stop()
    router.assert_no_sanitizer_report()
    assert stack.run("restart", "router").returncode == 0
    r = stack.run("show-config")
    assert r.returncode == 0, r.stdout
    assert "signing key same across this configuration, auth, router" in r.stdout
