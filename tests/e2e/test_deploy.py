"""
End-to-end tests of deploy/: the files an operator copies onto a server, checked with the real
tools that read them.

- nginx (deploy/nginx/): the example, with its placeholders replaced by test ports, host names
  and a self-signed certificate, runs in a real nginx (its own prefix, pid file and logs in a temp
  dir, 127.0.0.1 only) in front of a real `mcpgw echo`, asking a real `mcpgw auth` (with its
  redis-server) at /verify: no token -> 401 with auth's WWW-Authenticate passed on; a token auth
  issued -> the MCP call goes through with the X-User-* headers auth vouched for, and without the
  token (seen by a stand-in MCP server that records headers).
- logrotate (deploy/logrotate/mcpgw): `logrotate --debug` parses it and selects the log files;
  a forced real rotation against a running `mcpgw up` makes every process reopen its log (the
  postrotate signal).
- systemd (deploy/systemd/): `systemd-analyze verify` and `systemd-analyze security --offline`
  on the units; `systemd-sysusers --root` creates the user they run as. systemd is not PID 1
  here, so the units are not started; `mcpgw up` runs instead as far as mcpgw.service confines
  it (read-only file system but DATA_DIR and LOG_DIR, an unprivileged user, no_new_privs).
- Traefik (deploy/traefik/): not packaged by Debian; the YAML is parsed and its references are
  checked (structure only).
"""
import grp
import http.client
import http.server
import json
import os
import pwd
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse

import pytest
import yaml

from conftest import ROOT, bare_env, free_port, mcpgw_bin
from test_auth_api import (Auth, DOMAIN, ECHO_RESOURCE, FETCH_RESOURCE, ISSUER, code_tokens, forged_claims,
                           public_client)
from test_echo import decode_body, start_echo, text_of
from test_ops import Stack

DEPLOY = os.path.join(ROOT, "deploy")
MCP_HOST = f"mcp-echo.{DOMAIN}"
AUTH_HOST = f"auth.{DOMAIN}"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "pytest", "version": "1"}}}
MCP_HEADERS = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": "2025-06-18"}


def render(path, replacements, out_path):
    """Copy a deploy/ file with its placeholders replaced; every placeholder must be there, so the
    example and this test cannot drift apart silently."""
    with open(os.path.join(DEPLOY, path)) as f:
        text = f.read()
    for old, new in replacements:
        assert old in text, f"{path}: placeholder {old!r} not found"
        text = text.replace(old, new)
    with open(out_path, "w") as f:
        f.write(text)
    return out_path


def wait_for_port(port, proc, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not proc.alive():
            raise AssertionError(f"{proc.name} exited early:\n{proc.stderr()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


# ---- nginx auth_request in front of mcpgw echo, asking mcpgw auth ------------------------------


def self_signed_certificate(directory):
    """A certificate for both host names and 127.0.0.1, which the client trusts as its own CA."""
    cert, key = os.path.join(directory, "fullchain.pem"), os.path.join(directory, "privkey.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN={MCP_HOST}",
                        "-addext", f"subjectAltName=DNS:{MCP_HOST},DNS:{AUTH_HOST},IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return cert, key


class Nginx:
    """The deploy/nginx example in a real nginx on 127.0.0.1, stopped by PID with the others."""

    def __init__(self, procs, workdir, auth_port, mcp_port):
        self.dir = os.path.join(workdir, "nginx")
        os.makedirs(os.path.join(self.dir, "logs"))
        cert, key = self_signed_certificate(self.dir)
        self.cafile = cert
        self.tls_port, self.http_port = free_port(), free_port()
        site = render("nginx/mcpgw-forwardauth.conf", [
            ("server 127.0.0.1:8000;", f"server 127.0.0.1:{auth_port};"),
            ("server 127.0.0.1:3001;", f"server 127.0.0.1:{mcp_port};"),
            ("listen 443 ssl;", f"listen 127.0.0.1:{self.tls_port} ssl;"),
            ("listen 80;", f"listen 127.0.0.1:{self.http_port};"),
            ("/etc/letsencrypt/live/example.com/fullchain.pem", cert),
            ("/etc/letsencrypt/live/example.com/privkey.pem", key),
            ("example.com", DOMAIN),
        ], os.path.join(self.dir, "mcpgw.conf"))
        # What Debian's /etc/nginx/nginx.conf would be around conf.d/, with everything of its own
        # in the temp dir (nginx -p), so that it needs nothing of the machine's nginx.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        main = os.path.join(self.dir, "nginx.conf")
        with open(main, "w") as f:
            f.write(f"{user}daemon off;\nworker_processes 1;\npid {self.dir}/nginx.pid;\n"
                    f"error_log {self.dir}/logs/error.log info;\n"
                    "events { worker_connections 256; }\n"
                    "http {\n"
                    f"  access_log {self.dir}/logs/access.log;\n"
                    + "".join(f"  {k}_temp_path {self.dir}/{k}_temp;\n"
                              for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")) +
                    f"  include {site};\n"
                    "}\n")
        argv = ["nginx", "-p", self.dir, "-c", main, "-e", os.path.join(self.dir, "logs", "error.log")]
        r = subprocess.run(argv + ["-t"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        self.proc = procs.start(argv, name="nginx")
        wait_for_port(self.tls_port, self.proc)

    def request(self, method, path, host=MCP_HOST, body=None, headers=None):
        """Over TLS, certificate checked, with the public host name in Host."""
        ctx = ssl.create_default_context(cafile=self.cafile)
        conn = http.client.HTTPSConnection("127.0.0.1", self.tls_port, context=ctx, timeout=15)
        try:
            h = {"Host": host}
            h.update(headers or {})
            data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            self.last_headers = r.getheaders()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def mcp(self, body, token=None, headers=None):
        h = dict(MCP_HEADERS)
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        status, rh, raw = self.request("POST", "/mcp", body=body, headers=h)
        return status, rh, (decode_body(rh, raw) if status == 200 else raw)

    def error_log(self):
        with open(os.path.join(self.dir, "logs", "error.log")) as f:
            return f.read()


def single(body):
    """The one JSON-RPC answer, whether it came as JSON or as one SSE event."""
    return body[0] if isinstance(body, list) else body


@pytest.fixture
def nginx_stack(procs, workdir, redis_server):
    auth = Auth(procs, workdir, redis_server)
    echo = start_echo(procs)
    return auth, echo, Nginx(procs, workdir, auth.port, echo.port)


def test_nginx_without_a_token_gets_auths_401_and_can_discover_the_server(nginx_stack):
    auth, echo, nginx = nginx_stack
    metadata_url = f"https://{MCP_HOST}/.well-known/oauth-protected-resource/mcp"
    status, headers, _ = nginx.mcp(INIT)
    assert status == 401, nginx.error_log()[-2000:]
    assert headers.get("www-authenticate") == f'Bearer resource_metadata="{metadata_url}"'
    assert [k.lower() for k, _ in nginx.last_headers].count("www-authenticate") == 1, nginx.last_headers
    # a token auth refuses: its reason comes through too
    status, headers, _ = nginx.mcp(INIT, token="not.a.token")
    assert status == 401
    assert 'error="invalid_token"' in headers["www-authenticate"]
    assert f'resource_metadata="{metadata_url}"' in headers["www-authenticate"]
    # a signed token for another service is refused for this one
    status, headers, _ = nginx.mcp(INIT, token=auth.sign(forged_claims(aud=FETCH_RESOURCE)))
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]

    # what the 401 points at is served on the MCP host without a token, and names auth
    status, _, body = nginx.request("GET", urllib.parse.urlsplit(metadata_url).path)
    assert status == 200, body
    doc = json.loads(body)
    assert doc["resource"] == ECHO_RESOURCE and doc["authorization_servers"] == [ISSUER]
    status, _, body = nginx.request("GET", "/.well-known/oauth-authorization-server", host=AUTH_HOST)
    assert status == 200 and json.loads(body)["issuer"] == ISSUER
    # plain HTTP only redirects to HTTPS
    conn = http.client.HTTPConnection("127.0.0.1", nginx.http_port, timeout=15)
    conn.request("GET", "/mcp", headers={"Host": MCP_HOST})
    r = conn.getresponse()
    assert r.status == 301 and r.getheader("Location") == f"https://{MCP_HOST}/mcp"
    conn.close()

    # auth down: nginx answers 500 (deploy/README.md says so), even for a token auth accepted
    accepted = auth.sign(forged_claims())
    assert nginx.mcp(INIT, token=accepted)[0] == 200
    auth.stop()
    status, _, _ = nginx.mcp(INIT, token=accepted)
    assert status == 500


def test_nginx_with_a_token_reaches_the_mcp_server_as_the_verified_user(nginx_stack):
    auth, echo, nginx = nginx_stack
    client = public_client(auth)
    tokens = code_tokens(auth, client)
    token = tokens["access_token"]

    status, _, body = nginx.mcp(INIT, token=token)
    assert status == 200, (body, nginx.error_log()[-2000:])
    assert single(body)["result"]["serverInfo"]["name"] == "mcp-echo-stateless"

    def header_seen_by_echo(name, extra=None):
        status, _, body = nginx.mcp({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                     "params": {"name": "printHeader", "arguments": {"header_name": name}}},
                                    token=token, headers=extra)
        assert status == 200, body
        result = single(body)["result"]
        return None if result.get("isError") else text_of(result)

    # the identity comes from auth's answer, and a client cannot claim another one
    spoof = {"X-User-Id": "github:1", "X-User-Name": "mallory", "X-Client-Id": "evil"}
    assert header_seen_by_echo("X-User-Id", spoof) == "github:4242"
    assert header_seen_by_echo("X-User-Name", spoof) == "octocat"
    assert header_seen_by_echo("X-Client-Id", spoof) == client["client_id"]
    assert header_seen_by_echo("X-Forwarded-Host") == MCP_HOST
    assert header_seen_by_echo("X-Forwarded-Proto") == "https"

    # other methods are checked as well (the check itself is a GET, which /verify accepts): with
    # the token, the stateless echo's own 405 for DELETE comes back
    status, _, _ = nginx.request("DELETE", "/mcp", headers={"MCP-Protocol-Version": "2025-06-18"})
    assert status == 401
    status, _, _ = nginx.request("DELETE", "/mcp", headers={"Authorization": "Bearer " + token,
                                                           "MCP-Protocol-Version": "2025-06-18"})
    assert status == 405, nginx.error_log()[-2000:]

    # revoked through auth's own endpoint on the auth host: refused at once
    status, _, body = nginx.request("POST", "/revoke", host=AUTH_HOST,
                                    body=urllib.parse.urlencode({"client_id": client["client_id"],
                                                                 "token": token}).encode(),
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    status, headers, _ = nginx.mcp(INIT, token=token)
    assert status == 401 and 'error="invalid_token"' in headers["www-authenticate"]
    assert token not in auth.proc.stderr()


class HeaderRecorder:
    """A stand-in MCP server that answers every POST with an empty JSON-RPC result and keeps the
    headers it was sent."""

    def __init__(self):
        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                seen.append({k.lower(): v for k, v in self.headers.items()})
                body = b'{"jsonrpc":"2.0","id":1,"result":{}}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_nginx_never_hands_the_token_to_the_mcp_server(procs, workdir, redis_server):
    auth = Auth(procs, workdir, redis_server)
    recorder = HeaderRecorder()
    try:
        nginx = Nginx(procs, workdir, auth.port, recorder.port)
        token = code_tokens(auth, public_client(auth))["access_token"]
        status, _, body = nginx.mcp(INIT, token=token)
        assert status == 200, body
        seen = recorder.seen[-1]
        assert "authorization" not in seen, seen
        assert not [k for k, v in seen.items() if token in v or token.split(".")[2] in v], seen
        assert seen["x-user-name"] == "octocat" and seen["x-user-id"] == "github:4242"
    finally:
        recorder.close()


# ---- logrotate -------------------------------------------------------------------------------


def logrotate_config(workdir, log_dir, run_dir, user=None, group=None):
    """deploy/logrotate/mcpgw for this machine: our directories, and rotating as the user that owns
    the logs (the example's `su mcpgw mcpgw` names a user this machine does not have)."""
    user = user or pwd.getpwuid(os.geteuid()).pw_name
    group = group or grp.getgrgid(os.getegid()).gr_name
    return render("logrotate/mcpgw", [("/var/log/mcpgw", log_dir), ("/var/lib/mcpgw/run", run_dir),
                                      ("su mcpgw mcpgw", f"su {user} {group}")],
                  os.path.join(workdir, "logrotate.conf"))


def test_logrotate_config_parses_and_selects_every_log(workdir):
    log_dir = os.path.join(workdir, "logs")
    os.makedirs(log_dir, mode=0o750)
    for name in ("auth.log", "router.log", "redis.log", "supervisor.out", "notes.txt", "auth.log.1"):
        with open(os.path.join(log_dir, name), "w") as f:
            f.write('{"message":"x"}\n')
    conf = logrotate_config(workdir, log_dir, os.path.join(workdir, "run"))
    state = os.path.join(workdir, "logrotate.state")
    r = subprocess.run(["logrotate", "--debug", "--force", "--state", state, conf], capture_output=True, text=True,
                       timeout=30)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "error:" not in out, out  # logrotate exits 0 on unknown directives too, and only says so
    for name in ("auth.log", "router.log", "redis.log", "supervisor.out"):
        assert f"rotating log {log_dir}/{name}," in out, out
        assert f"renaming {log_dir}/{name} to {log_dir}/{name}.1" in out, out
    assert "notes.txt" not in out and f"considering log {log_dir}/auth.log.1" not in out
    assert "running postrotate script" in out
    assert sorted(os.listdir(log_dir)) == sorted(["auth.log", "router.log", "redis.log", "supervisor.out",
                                                  "notes.txt", "auth.log.1"])  # --debug changes nothing


NOBODY = 65534


def start_confined(procs, stack):
    """`mcpgw up` as far as mcpgw.service confines it, without systemd: in its own mount namespace
    where everything is read-only (ProtectSystem=strict; the working directory with .env too)
    except DATA_DIR and LOG_DIR (ReadWritePaths), as an unprivileged user (User=) with
    no_new_privs (NoNewPrivileges=). The supervisor keeps the PID we started (exec all the way)."""
    data, logs = stack.env["DATA_DIR"], stack.env["LOG_DIR"]
    for d in (data, logs):
        os.makedirs(d, exist_ok=True)
        os.chown(d, NOBODY, NOBODY)
    os.chmod(stack.dir, 0o755)
    os.chmod(os.path.join(stack.dir, ".env"), 0o644)
    # (a bind mount starts with the flags of the mount it comes from: the writable ones first)
    script = ('mount --bind "$1" "$1" && mount --bind "$2" "$2" && mount --bind "$3" "$3" && '
              'mount -o remount,bind,ro "$1" && mount -o remount,bind,ro / && '
              'shift 3 && exec setpriv --reuid=%d --regid=%d --clear-groups --no-new-privs "$@"' % (NOBODY, NOBODY))
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "confine", stack.dir, data, logs,
            mcpgw_bin(), "up"]
    stack.supervisor = procs.start(argv, bare_env(), name="supervisor", cwd=stack.dir)
    stack.seen_pids.add(stack.supervisor.pid)
    stack.wait(stack.all_healthy, "every service healthy")


@pytest.mark.skipif(os.geteuid() != 0, reason="a mount namespace and another user need root")
def test_confined_stack_runs_and_logrotate_makes_it_reopen_its_logs(procs, workdir):
    stack = Stack(workdir)
    try:
        start_confined(procs, stack)
        log_dir = stack.env["LOG_DIR"]
        before = {n for n in os.listdir(log_dir) if n.endswith(".log")}
        assert {"supervisor.log", "redis.log", "auth.log", "mcp-echo.log"} <= before
        with open(f"/proc/{stack.supervisor.pid}/status") as f:
            status = f.read()
        assert re.search(r"^Uid:\s+%d\s" % NOBODY, status, re.M) and re.search(r"^NoNewPrivs:\s+1$", status, re.M)
        with open(f"/proc/{stack.supervisor.pid}/comm") as f:
            assert f.read().strip() == "mcpgw"  # what the postrotate script checks before signalling

        conf = logrotate_config(workdir, log_dir, stack.run_dir, "nobody", grp.getgrgid(NOBODY).gr_name)
        r = subprocess.run(["logrotate", "--force", "--state", os.path.join(workdir, "logrotate.state"), conf],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "error" not in r.stderr, r.stdout + r.stderr
        for name in before:
            assert os.path.exists(os.path.join(log_dir, name + ".1")), name

        def reopened():
            for name in before - {"redis.log"}:  # Redis's lines are written by the supervisor
                path = os.path.join(log_dir, name)
                if not os.path.exists(path) or '"message":"Log files reopened"' not in open(path).read():
                    return None
            return True

        stack.wait(reopened, "every process writing a new log file after the postrotate signal")
        assert stack.all_healthy()
        assert stack.supervisor.stop() == 0  # SIGTERM (systemd's stop): every service stopped, exit 0
    finally:
        stack.kill_leftovers()


# ---- systemd ---------------------------------------------------------------------------------


UNITS = ("mcpgw.service", "mcpgw-auth.service")


def unit_settings(name):
    """[Service] of a unit as key -> list of values (systemd keys may repeat)."""
    settings, section = {}, None
    with open(os.path.join(DEPLOY, "systemd", name)) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line.strip("[]")
                continue
            key, _, value = line.partition("=")
            settings.setdefault((section, key), []).append(value)
    return settings


def rendered_units(workdir):
    """The units with ExecStart on the binary under test (verify checks that it is executable)."""
    out = os.path.join(workdir, "units")
    os.makedirs(out)
    binary = os.path.abspath(os.environ.get("MCPGW_BIN", os.path.join(ROOT, "mcpgw")))
    return [render(os.path.join("systemd", u), [("/usr/local/bin/mcpgw", binary)], os.path.join(out, u))
            for u in UNITS]


def test_systemd_units_verify_cleanly(workdir):
    units = rendered_units(workdir)
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60)
    # verify exits 0 on unknown keys and bad values too, and only says so: nothing must be said
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr
    for unit in units:
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", unit],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", r.stdout).group(1))
        assert exposure < 3.0, r.stdout  # systemd's "OK" band; the default for a unit is 9.6


def test_systemd_units_fit_how_mcpgw_runs():
    stack, auth = unit_settings("mcpgw.service"), unit_settings("mcpgw-auth.service")
    for s, role in ((stack, "up"), (auth, "auth")):
        assert s[("Service", "ExecStart")] == [f"/usr/local/bin/mcpgw {role}"]  # foreground, no -d
        assert s[("Service", "Type")] == ["exec"]
        assert s[("Service", "User")] == ["mcpgw"]
        assert s[("Service", "RestartPreventExitStatus")] == ["78"]  # configuration errors
        # the .env directory is read-only to the service; DATA_DIR and LOG_DIR are not
        assert s[("Service", "ProtectSystem")] == ["strict"]
        assert s[("Service", "ReadWritePaths")] == ["/var/lib/mcpgw /var/log/mcpgw"]
        assert s[("Service", "StateDirectory")] == ["mcpgw"] and s[("Service", "LogsDirectory")] == ["mcpgw"]
        assert s[("Service", "WorkingDirectory")] == ["/etc/mcpgw"]
        assert s[("Service", "NoNewPrivileges")] == ["yes"]
    # the supervisor stops its services itself, in order: SIGTERM to it alone
    assert stack[("Service", "KillMode")] == ["mixed"]
    assert stack[("Service", "ExecReload")] == ["/bin/kill -HUP $MAINPID"]
    assert stack[("Service", "AmbientCapabilities")] == ["CAP_NET_BIND_SERVICE"]
    assert ("Service", "ExecReload") not in auth  # auth ignores SIGHUP
    assert stack[("Unit", "Conflicts")] == ["mcpgw-auth.service"]
    assert auth[("Unit", "Conflicts")] == ["mcpgw.service"]


def test_sysusers_creates_the_user_the_units_run_as(workdir):
    root = os.path.join(workdir, "root")
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(DEPLOY, "systemd", "mcpgw.sysusers")) as f:
        r = subprocess.run(["systemd-sysusers", f"--root={root}", "--replace=/etc/sysusers.d/mcpgw.conf", "-"],
                           stdin=f, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(root, "etc", "passwd")) as f:
        entry = next(line.split(":") for line in f if line.startswith("mcpgw:"))
    assert entry[5] == "/var/lib/mcpgw" and entry[6].strip() == "/usr/sbin/nologin"


# ---- Traefik (structure only: Debian has no traefik package) ----------------------------------


def test_traefik_configuration_is_consistent():
    with open(os.path.join(DEPLOY, "traefik", "traefik.yml")) as f:
        static = yaml.safe_load(f)
    with open(os.path.join(DEPLOY, "traefik", "mcpgw.yml")) as f:
        dynamic = yaml.safe_load(f)
    assert static["providers"]["file"]["filename"] == "/etc/traefik/mcpgw.yml"
    entry_points, resolvers = set(static["entryPoints"]), set(static["certificatesResolvers"])
    assert static["entryPoints"]["web"]["http"]["redirections"]["entryPoint"]["to"] in entry_points
    assert static["certificatesResolvers"]["letsencrypt"]["acme"]["httpChallenge"]["entryPoint"] in entry_points
    routers, middlewares, services = (dynamic["http"][k] for k in ("routers", "middlewares", "services"))
    for name, router in routers.items():
        assert set(router["entryPoints"]) <= entry_points, name
        assert router["service"] in services, name
        assert set(router.get("middlewares", [])) <= set(middlewares), name
        assert router["tls"]["certResolver"] in resolvers, name
    for name, service in services.items():
        assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+", s["url"]) for s in service["loadBalancer"]["servers"])

    verify = middlewares["mcpgw-verify"]["forwardAuth"]
    auth_url = services["mcpgw-auth"]["loadBalancer"]["servers"][0]["url"]
    assert verify["address"] == auth_url + "/verify"
    assert verify["authResponseHeaders"] == ["X-User-Id", "X-User-Name", "X-Client-Id"]
    assert not verify.get("trustForwardHeader")  # /verify must see what Traefik saw, not the client's claim
    mcp = routers["mcp-echo"]
    assert mcp["rule"] == "Host(`mcp-echo.example.com`) && PathPrefix(`/mcp`)"
    # checked with the token first, then the token removed
    assert mcp["middlewares"] == ["mcpgw-verify", "drop-authorization"]
    assert middlewares["drop-authorization"]["headers"]["customRequestHeaders"] == {"Authorization": ""}
    discovery = routers["mcp-echo-discovery"]
    assert discovery["service"] == "mcpgw-auth" and "middlewares" not in discovery
    assert "PathPrefix(`/.well-known/oauth-`)" in discovery["rule"]
    assert routers["mcpgw-auth"]["rule"] == "Host(`auth.example.com`)"
