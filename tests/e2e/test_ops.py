"""
End-to-end tests of the supervisor (`mcpgw up`) and the operator commands of the guide:
ps/status, health-check, logs, stats, restart, down, emergency-restart, and the guide's
failure drills (a missing variable, a port in use, Redis stopped, a service killed with SIGKILL).

Everything runs on 127.0.0.1 in a temporary directory with a generated .env that points every
port at a free one (Redis included: the supervisor starts its own redis-server there). Every
process seen (supervisor and children, from `ps --json` and the pid files) is killed by PID at
the end, even when a test fails.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, bare_env, free_port, http, mcpgw_bin

HAVE = None


def have_command(name):
    global HAVE
    if HAVE is None:
        out = subprocess.run([mcpgw_bin(), "--help"], capture_output=True, text=True).stdout
        HAVE = {line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()}
    return name in HAVE


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


class Stack:
    """A generated configuration in a temp dir, and the commands run against it."""

    def __init__(self, workdir, **overrides):
        self.dir = workdir
        self.ports = {k: free_port() for k in ("HTTP_PORT", "ADMIN_PORT", "AUTH_PORT", "MCP_ECHO_PORT", "REDIS")}
        self.password = "ops-e2e-" + os.urandom(8).hex()
        users = os.path.join(workdir, "users")
        open(users, "a").close()
        self.env = {
            "BASE_DOMAIN": "localhost",
            "ROUTING": "path",
            "HTTPS_PORT": "0",
            "HTTP_PORT": self.ports["HTTP_PORT"],
            "ADMIN_PORT": self.ports["ADMIN_PORT"],
            "AUTH_PORT": self.ports["AUTH_PORT"],
            "MCP_ECHO_ENABLED": "true",
            "MCP_ECHO_PORT": self.ports["MCP_ECHO_PORT"],
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['REDIS']}/0",
            "REDIS_PASSWORD": self.password,
            "LOCAL_USERS_FILE": users,
            "DATA_DIR": os.path.join(workdir, "data"),
            "LOG_DIR": os.path.join(workdir, "logs"),
            "BIND_ADDRESS": "127.0.0.1",
            "HEALTH_CHECK_INTERVAL": "1",
            "HEALTH_CHECK_RETRIES": "3",
            "SHUTDOWN_TIMEOUT": "3",
            "WORKERS": "2",
        }
        self.env.update(overrides)
        self.write_env()
        self.seen_pids = set()
        self.supervisor = None

    def write_env(self, drop=()):
        with open(os.path.join(self.dir, ".env"), "w") as f:
            for k, v in self.env.items():
                if k not in drop:
                    f.write(f"{k}={v}\n")

    @property
    def run_dir(self):
        return os.path.join(self.env["DATA_DIR"], "run")

    def expected_services(self):
        names = ["redis"]
        names += [n for n in ("auth", "router") if have_command(n)]
        names.append("mcp-echo")
        return names

    def run(self, *args, timeout=120, input=None):
        r = subprocess.run([mcpgw_bin(), *args], cwd=self.dir, env=bare_env(), capture_output=True, text=True,
                           timeout=timeout, input=input)
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            assert marker not in r.stderr, f"mcpgw {' '.join(args)}: sanitizer report:\n{r.stderr[-4000:]}"
        return r

    def shell(self, pipeline, timeout=60):
        """Run a shell pipeline with mcpgw on PATH as in the guide (`mcpgw logs | jq ...`)."""
        env = bare_env()
        env["PATH"] = os.path.dirname(os.path.abspath(mcpgw_bin())) + ":" + env["PATH"]
        return subprocess.run(["bash", "-o", "pipefail", "-c", pipeline], cwd=self.dir, env=env,
                               capture_output=True, text=True, timeout=timeout)

    def status(self):
        r = self.run("ps", "--json")
        if not r.stdout.strip().startswith("{"):
            return None
        st = json.loads(r.stdout)
        for s in st.get("services", []):
            if s.get("pid"):
                self.seen_pids.add(s["pid"])
        if st.get("pid"):
            self.seen_pids.add(st["pid"])
        return st

    def service(self, name):
        st = self.status()
        return next(s for s in st["services"] if s["name"] == name)

    def wait(self, predicate, what, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            if self.supervisor is not None and not self.supervisor.alive():
                raise AssertionError(f"supervisor exited:\n{self.supervisor.stderr()[-3000:]}")
            last = predicate()
            if last:
                return last
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}; last: {last}\n{self.run('ps').stdout}")

    def all_healthy(self):
        st = self.status()
        if not st:
            return False
        names = [s["name"] for s in st["services"]]
        return (names == self.expected_services() and
                all(s["state"] == "running" and s["health"] == "healthy" for s in st["services"]))

    def start_foreground(self, procs):
        self.supervisor = procs.start([mcpgw_bin(), "up"], bare_env(), name="supervisor", cwd=self.dir)
        self.seen_pids.add(self.supervisor.pid)
        self.wait(self.all_healthy, "every service healthy")

    def kill_leftovers(self):
        """By PID: everything we saw, and whatever the pid files still name."""
        pids = set(self.seen_pids)
        if os.path.isdir(self.run_dir):
            for name in os.listdir(self.run_dir):
                if name.endswith(".pid"):
                    with contextlib.suppress(OSError, ValueError), open(os.path.join(self.run_dir, name)) as f:
                        pids.add(int(f.read().strip()))
        for pid in pids:
            if pid_alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def stack(workdir):
    s = Stack(workdir)
    yield s
    s.kill_leftovers()


def test_every_command_has_help():
    for cmd in ("up", "down", "restart", "emergency-restart", "ps", "status", "health-check", "logs", "stats"):
        r = subprocess.run([mcpgw_bin(), cmd, "--help"], capture_output=True, text=True)
        assert r.returncode == 0, cmd
        assert r.stdout.startswith("Usage: mcpgw "), (cmd, r.stdout)


def test_every_command_refuses_an_unknown_option_with_exit_2(workdir):
    """docs/operations.md: exit 2 is a usage error, for every command, naming what was refused.
    redis-cli hands its arguments to Debian's redis-cli unchanged."""
    listing = subprocess.run([mcpgw_bin(), "--help"], capture_output=True, text=True).stdout
    commands = [line.split()[0] for line in listing.split("Commands:\n")[1].split("\n\n")[0].splitlines()]
    assert "add-user" in commands and "decode-token" in commands
    for cmd in commands:
        if cmd == "redis-cli":
            continue
        r = subprocess.run([mcpgw_bin(), cmd, "--bogus-opt"], cwd=workdir, env=bare_env(), capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=30)
        assert r.returncode == 2, (cmd, r.returncode, r.stderr)
        assert r.stderr.startswith("ERROR: "), (cmd, r.stderr)
        assert "usage" in r.stderr.lower() or "--help" in r.stderr, (cmd, r.stderr)
        assert "--bogus-opt" in r.stderr, (cmd, r.stderr)
    # `mcpgw help COMMAND` is that command's --help
    r = subprocess.run([mcpgw_bin(), "help", "logs"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("Usage: mcpgw logs"), r.stdout + r.stderr


def test_up_ps_health_kill_restart_down(procs, stack):
    stack.start_foreground(procs)

    r = stack.run("ps")
    assert r.returncode == 0, r.stdout + r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[2:] if line.strip()}
    assert r.stdout.splitlines()[1].split() == ["SERVICE", "STATE", "PID", "UPTIME", "HEALTH", "RESTARTS", "DETAIL"]
    for name in stack.expected_services():
        assert rows[name][1] == "running" and rows[name][4] == "healthy", r.stdout
    assert stack.run("status").stdout.splitlines()[1] == r.stdout.splitlines()[1]  # same table header

    r = stack.run("health-check")
    assert r.returncode == 0, r.stdout
    table = {line.split()[0]: line for line in r.stdout.splitlines()[1:-1]}
    assert sorted(table) == sorted(stack.expected_services())
    assert all(" healthy" in line for line in table.values())
    assert f"http://127.0.0.1:{stack.ports['MCP_ECHO_PORT']}/health" in table["mcp-echo"]
    assert "All " in r.stdout

    # SIGKILL a child: the supervisor restarts it and counts the restart
    echo = stack.service("mcp-echo")
    assert echo["restarts"] == 0
    os.kill(echo["pid"], signal.SIGKILL)
    again = stack.wait(lambda: (lambda s: s if s["pid"] not in (0, echo["pid"]) and s["health"] == "healthy" else None)(
        stack.service("mcp-echo")), "mcp-echo restarted")
    assert again["restarts"] == 1
    assert again["state"] == "running"
    status, _, body = http("GET", f"http://127.0.0.1:{stack.ports['MCP_ECHO_PORT']}/health")
    assert status == 200 and json.loads(body)["status"] == "healthy"
    sup_log = open(os.path.join(stack.env["LOG_DIR"], "supervisor.log")).read()
    assert '"message":"Service exited"' in sup_log and '"signal":9' in sup_log

    # restart one service by its guide name: traefik = router
    if have_command("router"):
        before = stack.service("router")["pid"]
        r = stack.run("restart", "traefik")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "Restarted: router" in r.stdout
        assert stack.service("router")["pid"] != before

    # down stops everything: the supervisor exits 0 and every pid is gone
    pids = [s["pid"] for s in stack.status()["services"] if s["pid"]]
    r = stack.run("down")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "All services stopped" in r.stdout
    assert stack.supervisor.proc.wait(timeout=30) == 0
    for pid in pids:
        assert not pid_alive(pid), pid
    assert not os.path.exists(os.path.join(stack.run_dir, "supervisor.sock"))
    assert not [n for n in os.listdir(stack.run_dir) if n.endswith(".pid")]
    r = stack.run("ps")
    assert r.returncode == 1 and "not running" in r.stderr
    r = stack.run("health-check")
    assert r.returncode == 1 and "unhealthy" in r.stdout


def listening_addresses(port):
    """The local addresses something listens on at TCP port, from the kernel (ss -ltnH)."""
    out = subprocess.run(["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    return {line.split()[3].rsplit(":", 1)[0].strip("[]") for line in out.splitlines() if line.strip()}


# Only the router checks tokens, so only it may face the network: the services behind it listen on
# INTERNAL_BIND_ADDRESS (default 127.0.0.1), not on BIND_ADDRESS. Every address here is loopback
# (127.0.0.0/8 needs no configuration on Linux); the router's is made to differ from the others'
# so that each listener shows which setting it followed.
@pytest.mark.parametrize("addresses", [
    {"BIND_ADDRESS": "127.0.0.3"},                                       # internal: the default
    {"BIND_ADDRESS": "127.0.0.1", "INTERNAL_BIND_ADDRESS": "127.0.0.2"},
], ids=["internal-default", "internal-127.0.0.2"])
def test_only_the_router_listens_on_bind_address(procs, workdir, addresses):
    crashy = os.path.join(ROOT, "tests", "e2e", "stdio_crashy.py")
    stack = Stack(workdir, MCP_FETCH_ENABLED="true", MCP_FETCH_PORT=free_port(),
                  MCP_CRASHY_COMMAND=f"{sys.executable} {crashy}", MCP_CRASHY_PORT=free_port(), **addresses)
    names = ["redis", "auth", "router", "mcp-fetch", "mcp-echo", "mcp-crashy"]
    if not all(have_command(c) for c in ("auth", "router", "fetch", "stdio-proxy")):
        pytest.skip("this build lacks a role")
    stack.expected_services = lambda: names
    router_addr = addresses["BIND_ADDRESS"]
    internal = addresses.get("INTERNAL_BIND_ADDRESS", "127.0.0.1")
    try:
        r = stack.run("validate-env")
        assert r.returncode == 0, r.stderr
        # every service healthy: the supervisor's checks reach each one where it listens, and the
        # router's (its token check fetched auth's JWKS) reaches auth
        stack.start_foreground(procs)
        env = stack.env
        for var in ("HTTP_PORT", "ADMIN_PORT"):
            assert listening_addresses(env[var]) == {router_addr}, var
        for var in ("AUTH_PORT", "MCP_FETCH_PORT", "MCP_ECHO_PORT", "MCP_CRASHY_PORT"):
            assert listening_addresses(env[var]) == {internal}, var

        r = stack.run("health-check")
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"http://{internal}:{env['AUTH_PORT']}/health" in r.stdout
        assert f"http://{internal}:{env['MCP_CRASHY_PORT']}/health" in r.stdout
        assert f"http://{router_addr}:{env['ADMIN_PORT']}/health" in r.stdout
        assert stack.service("mcp-echo")["health_url"] == f"http://{internal}:{env['MCP_ECHO_PORT']}/health"

        # the router proxies to them there
        base = f"http://{router_addr}:{env['HTTP_PORT']}"
        host = {"Host": f"localhost:{env['HTTP_PORT']}"}
        status, _, body = http("GET", f"{base}/.well-known/oauth-authorization-server", headers=host)
        assert status == 200 and b"token_endpoint" in body, body
        for service in ("mcp-echo", "mcp-fetch", "mcp-crashy"):
            status, _, body = http("GET", f"{base}/{service}/health", headers=host)
            assert status == 200 and json.loads(body)["status"] == "healthy", (service, body)
        if router_addr == "127.0.0.1":  # the public URL (localhost) reaches the router: a whole flow
            r = stack.run("add-user", "alice", input="alice-pw-Secret1\n")
            assert r.returncode == 0, r.stderr
            for service in ("mcp-echo", "mcp-crashy"):
                r = stack.run("test-oauth-flow", "--service", service, "--user", "alice", "--password-stdin",
                              "--no-browser", input="alice-pw-Secret1\n")
                assert r.returncode == 0, r.stdout + r.stderr
                assert "MCP initialize" in r.stdout
    finally:
        stack.kill_leftovers()


def test_redis_stopped_then_back(procs, stack):
    stack.start_foreground(procs)
    r = stack.run("down", "redis")
    assert r.returncode == 0, r.stderr
    r = stack.run("health-check")
    assert r.returncode == 1
    redis_row = next(line for line in r.stdout.splitlines() if line.startswith("redis "))
    assert "unhealthy" in redis_row and "Could not connect to Redis" in redis_row
    r = stack.run("ps")
    assert r.returncode == 1
    assert next(line for line in r.stdout.splitlines() if line.startswith("redis ")).split()[1] == "stopped"
    if have_command("auth"):
        stack.wait(lambda: "unhealthy" in next(line for line in stack.run("health-check").stdout.splitlines()
                                               if line.startswith("auth ")), "auth unhealthy")
        stack.wait(lambda: "Could not connect to Redis" in stack.run("logs", "auth").stdout,
                   "auth logs Could not connect to Redis")
        hits = stack.shell("mcpgw logs auth | jq -c 'select(.message | contains(\"Could not connect to Redis\"))'")
        assert hits.returncode == 0 and hits.stdout.strip(), hits.stderr
        assert all(json.loads(line)["level"] == "ERROR" for line in hits.stdout.splitlines())
        # Let more than HEALTH_CHECK_RETRIES (3) rounds of 1 s fail, so a supervisor that kept
        # counting them would restart auth as soon as Redis answers again.
        time.sleep(4)
        # while Redis is down, auth is not restarted in a loop: the cause is Redis
        assert stack.service("auth")["restarts"] == 0
    r = stack.run("restart", "redis")
    assert r.returncode == 0, r.stdout + r.stderr
    stack.wait(lambda: stack.run("health-check").returncode == 0, "health-check healthy again")
    assert stack.service("redis")["state"] == "running"
    # auth reconnects on its own (docs/operations.md: a restart would not help): same process
    stack.wait(stack.all_healthy, "every service healthy again")
    for name in ("auth", "router"):
        if have_command(name):
            assert stack.service(name)["restarts"] == 0, stack.run("logs", "supervisor").stdout[-3000:]
    assert "restarting it" not in stack.run("logs", "supervisor").stdout


def hang_until_replaced(stack, name, see_unhealthy=False):
    """SIGSTOP the service's process and wait until the supervisor has replaced it with a healthy
    one; returns (the old service entry, the new one). The old process is let go at the end."""
    old = stack.service(name)
    os.kill(old["pid"], signal.SIGSTOP)
    try:
        if see_unhealthy:
            stack.wait(lambda: stack.service(name)["health"] == "unhealthy", f"{name} unhealthy")
        new = stack.wait(lambda: (lambda s: s if s["pid"] not in (0, old["pid"]) and s["health"] == "healthy"
                                  else None)(stack.service(name)), f"{name} replaced", timeout=90)
    finally:
        with contextlib.suppress(OSError):
            os.kill(old["pid"], signal.SIGCONT)
    return old, new


def test_hung_auth_is_restarted_though_the_router_depends_on_it(procs, stack):
    """A hung auth (SIGSTOP) is replaced while Redis is healthy; the router, whose /health fails
    with auth, is left alone."""
    if not have_command("auth"):
        pytest.skip("no auth in this build")
    stack.start_foreground(procs)
    _, again = hang_until_replaced(stack, "auth")
    assert again["restarts"] == 1
    stack.wait(stack.all_healthy, "every service healthy again", timeout=90)
    if have_command("router"):
        assert stack.service("router")["restarts"] == 0


def test_port_in_use_is_refused(stack):
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", stack.ports["MCP_ECHO_PORT"]))
    holder.listen(1)
    try:
        r = stack.run("up", timeout=60)
        # a service started by hand on the taken port says the guide's words too
        echo = stack.run("echo", "--bind", "127.0.0.1", "--port", str(stack.ports["MCP_ECHO_PORT"]), timeout=30)
    finally:
        holder.close()
    assert echo.returncode == 1
    assert f"ERROR: bind: address already in use (127.0.0.1:{stack.ports['MCP_ECHO_PORT']})\n" in echo.stderr
    assert r.returncode == 1
    assert "ERROR: bind: address already in use" in r.stderr
    assert f"127.0.0.1:{stack.ports['MCP_ECHO_PORT']}, MCP_ECHO_PORT of mcp-echo" in r.stderr
    # nothing was started
    assert not os.path.exists(os.path.join(stack.run_dir, "redis.pid"))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", stack.ports["REDIS"]), timeout=1).close()


def test_missing_variables_all_at_once(stack):
    stack.write_env(drop=("BASE_DOMAIN", "LOCAL_USERS_FILE"))
    r = stack.run("up")
    assert r.returncode == 78
    lines = r.stderr.splitlines()
    assert "ERROR: Required variable BASE_DOMAIN not set" in lines
    assert "ERROR: Required variable GITHUB_CLIENT_ID not set" in lines
    assert not os.path.exists(os.path.join(stack.run_dir, "supervisor.sock"))


def test_logs_tail_follow_and_guide_jq_filters(procs, stack):
    stack.start_foreground(procs)
    r = stack.run("logs", "--tail", "5")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert len(lines) == 5
    stamps = [json.loads(line)["timestamp"] for line in lines]
    assert stamps == sorted(stamps)

    every = [json.loads(line) for line in stack.run("logs").stdout.splitlines()]
    services = {entry["service"] for entry in every}
    assert {"supervisor", "redis", "mcp-echo"} <= services
    assert [e["timestamp"] for e in every] == sorted(e["timestamp"] for e in every)

    if have_command("router"):
        a = stack.run("logs", "traefik", "--tail", "100").stdout.splitlines()
        assert a and all(json.loads(line)["service"] == "router" for line in a)
    echo = stack.run("logs", "mcp-echo", "--tail", "100").stdout.splitlines()
    assert echo and all(json.loads(line)["service"] == "mcp-echo" for line in echo)
    r = stack.run("logs", "no-such-service")
    assert r.returncode == 1 and "no log file" in r.stderr

    # -f prints lines written after it started
    out_path = os.path.join(stack.dir, "follow.out")
    with open(out_path, "w") as out:
        p = subprocess.Popen([mcpgw_bin(), "logs", "mcp-echo", "-f", "--tail", "0"], cwd=stack.dir, env=bare_env(),
                             stdout=out, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        marker = "/follow-" + os.urandom(4).hex()
        http("GET", f"http://127.0.0.1:{stack.ports['MCP_ECHO_PORT']}{marker}")
        stack.wait(lambda: marker in open(out_path).read(), "the followed line")
        followed = [json.loads(line) for line in open(out_path).read().splitlines()]
        assert any(e.get("path") == marker for e in followed)
    finally:
        p.kill()
        p.wait()

    # the guide's filters, as written
    if shutil.which("jq"):
        r = stack.shell("mcpgw logs | jq 'select(.duration_ms > 1000)'")
        assert r.returncode == 0, r.stderr
        r = stack.shell("mcpgw logs | jq 'select(.message | contains(\"rate limit\"))'")
        assert r.returncode == 0, r.stderr
        r = stack.shell("mcpgw logs | jq -c 'select(.duration_ms > 500) | {path, duration_ms}'")
        assert r.returncode == 0, r.stderr
        r = stack.shell("mcpgw logs mcp-echo --tail 100 | grep -c '\"service\":\"mcp-echo\"'")
        assert r.returncode == 0 and int(r.stdout) > 0
        # the guide's error filter needs parentheses to be valid jq (see docs/operations.md)
        r = stack.shell("mcpgw logs auth | jq 'select(.level==\"ERROR\" and (.message | contains(\"auth\")))'"
                        if have_command("auth") else "true")
        assert r.returncode == 0, r.stderr
        if have_command("auth"):
            assert_client_auth_failure_is_found_by_the_runbook_filters(stack)


def assert_client_auth_failure_is_found_by_the_runbook_filters(stack):
    """An unknown client at /token: the guide's "Authentication failures" filter (parenthesised)
    and the AuthFailureSpike runbook's `select(.reason == "REASON")` both find its log line."""
    status, _, _ = http("POST", f"http://127.0.0.1:{stack.ports['AUTH_PORT']}/token",
                        body=b"grant_type=authorization_code&code=nothing&redirect_uri=https%3A%2F%2Fapp.example%2Fcb"
                             b"&code_verifier=" + b"v" * 43 + b"&client_id=nobody-registered",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 401
    stack.wait(lambda: "nobody-registered" in stack.run("logs", "auth").stdout, "the refused client in the log")
    r = stack.shell("mcpgw logs auth | jq -c 'select(.level==\"ERROR\" and (.message | contains(\"auth\")))'")
    assert r.returncode == 0, r.stderr
    failures = [json.loads(line) for line in r.stdout.splitlines()]
    assert any(f["reason"] == "unknown_client" and f["client_id"] == "nobody-registered" for f in failures)
    r = stack.shell("mcpgw logs auth | jq -c 'select(.reason == \"unknown_client\")'")
    assert r.returncode == 0, r.stderr
    (line,) = [json.loads(line) for line in r.stdout.splitlines()]
    assert line["level"] == "ERROR" and line["message"] == "authentication failed: client authentication refused"
    assert line["path"] == "/token"


def test_stats_json(procs, stack):
    stack.start_foreground(procs)
    r = stack.run("stats", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [row["service"] for row in rows] == stack.expected_services()
    for row in rows:
        assert row["pid"] > 0
        assert row["rss_bytes"] > 0
        assert row["open_fds"] > 0
        assert row["cpu_percent"] >= 0
        assert row["disk_read_bytes"] >= 0 and row["disk_write_bytes"] >= 0
    r = stack.run("stats")
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].split()[:3] == ["SERVICE", "PID", "CPU"]


def test_detached_up_emergency_restart_down(stack):
    try:
        r = stack.run("up", "-d", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "supervisor started in the background" in r.stdout
        first = stack.status()
        assert first and [s["name"] for s in first["services"]] == stack.expected_services()
        r = stack.run("up")
        assert r.returncode == 1 and "already running" in r.stderr

        old = {s["pid"] for s in first["services"]} | {first["pid"]}
        r = stack.run("emergency-restart", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "killed" in r.stdout
        for pid in old:
            stack.wait(lambda: not pid_alive(pid), f"pid {pid} gone", timeout=10)
        second = stack.status()
        assert second["pid"] not in old
        assert all(s["pid"] not in old and s["state"] == "running" for s in second["services"])
        stack.wait(stack.all_healthy, "healthy after emergency restart")

        pids = [s["pid"] for s in second["services"]] + [second["pid"]]
        r = stack.run("down")
        assert r.returncode == 0, r.stdout + r.stderr
        for pid in pids:
            stack.wait(lambda: not pid_alive(pid), f"pid {pid} gone", timeout=10)
    finally:
        stack.kill_leftovers()


def just_binary():
    """`just` from PATH, from JUST, or from tests/e2e/node (npm rust-just); None when absent."""
    candidates = [os.environ.get("JUST"), shutil.which("just"),
                  os.path.join(os.path.dirname(__file__), "node", "node_modules", ".bin", "just")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def test_justfile_maps_guide_commands(procs, stack):
    just = just_binary()
    if not just:
        pytest.skip("just is not installed (npm: rust-just)")
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    env = bare_env(MCPGW=os.path.abspath(mcpgw_bin()))
    env["PATH"] = os.path.dirname(just) + ":" + env["PATH"]

    def j(*args):
        return subprocess.run([just, "--justfile", os.path.join(root, "justfile"), "--working-directory", stack.dir,
                               *args], env=env, capture_output=True, text=True, timeout=120)

    listed = j("--summary").stdout.split()
    out = subprocess.run([mcpgw_bin(), "--help"], capture_output=True, text=True).stdout
    commands = [line.split()[0] for line in out.splitlines() if line.startswith("  ") and line.split()]
    missing = [c for c in commands if c not in listed and c not in ("help",)]
    assert not missing, f"justfile lacks recipes for: {missing}"

    r = j("ps")
    assert r.returncode != 0 and "not running" in r.stderr
    stack.start_foreground(procs)
    r = j("ps")
    assert r.returncode == 0, r.stderr
    assert "mcp-echo" in r.stdout
    r = j("health-check")
    assert r.returncode == 0 and "All " in r.stdout
    r = j("logs", "mcp-echo", "--tail", "1")
    assert r.returncode == 0
    assert [json.loads(line)["service"] for line in r.stdout.splitlines()] == ["mcp-echo"]
    if have_command("router"):
        r = j("logs", "traefik", "--tail", "1")
        assert json.loads(r.stdout)["service"] == "router"


def test_hung_service_is_restarted_after_failed_checks(procs, stack):
    """A process that stops answering (SIGSTOP) fails HEALTH_CHECK_RETRIES checks, then is replaced."""
    stack.start_foreground(procs)
    echo, again = hang_until_replaced(stack, "mcp-echo", see_unhealthy=True)
    assert again["restarts"] == 1
    assert not pid_alive(echo["pid"])
    log = stack.run("logs", "supervisor").stdout
    assert "Service unhealthy too long; restarting it" in log


def test_restart_all_rereads_env_and_refuses_a_broken_one(procs, stack):
    stack.start_foreground(procs)
    before = {s["name"]: s["pid"] for s in stack.status()["services"]}

    # a broken .env: refused with the guide's line, nothing restarted
    stack.write_env(drop=("BASE_DOMAIN",))
    r = stack.run("restart")
    assert r.returncode == 78, r.stdout + r.stderr
    assert "ERROR: Required variable BASE_DOMAIN not set" in r.stderr
    assert {s["name"]: s["pid"] for s in stack.status()["services"]} == before

    # the guide: change a setting in .env, then `restart`
    stack.env["LOG_LEVEL"] = "DEBUG"
    stack.write_env()
    r = stack.run("restart")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Restarted: " + " ".join(stack.expected_services()))
    after = {s["name"]: s["pid"] for s in stack.status()["services"]}
    assert set(after) == set(before)
    assert all(after[n] != before[n] for n in before)
    stack.wait(stack.all_healthy, "every service healthy after the restart")
    # a manual restart is not an automatic one
    assert all(s["restarts"] == 0 for s in stack.status()["services"])


def test_redis_killed_is_restarted_with_its_data(procs, stack):
    """Redis runs with AOF in DATA_DIR/redis: a key written before a SIGKILL is there after the restart."""
    if not shutil.which("redis-cli"):
        pytest.skip("redis-cli not installed")
    stack.start_foreground(procs)

    def cli(*args):
        env = bare_env(REDISCLI_AUTH=stack.password)
        return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(stack.ports["REDIS"]), *args], env=env,
                              capture_output=True, text=True, timeout=10).stdout.strip()

    assert cli("SET", "ops-e2e:survives", "yes") == "OK"
    assert cli("CONFIG", "GET", "appendonly").split() == ["appendonly", "yes"]
    redis = stack.service("redis")
    os.kill(redis["pid"], signal.SIGKILL)
    again = stack.wait(lambda: (lambda s: s if s["pid"] not in (0, redis["pid"]) and s["health"] == "healthy"
                                else None)(stack.service("redis")), "redis restarted")
    assert again["restarts"] == 1
    assert cli("GET", "ops-e2e:survives") == "yes"
    stack.wait(lambda: stack.run("health-check").returncode == 0, "every service healthy again")
    assert os.path.isdir(os.path.join(stack.env["DATA_DIR"], "redis"))
    redis_log = [json.loads(line) for line in stack.run("logs", "redis").stdout.splitlines()]
    assert redis_log and all(e["service"] == "redis" for e in redis_log)
    assert any("Ready to accept connections" in e["message"] for e in redis_log)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_in_reverse_order(procs, stack, sig):
    stack.start_foreground(procs)
    pids = [s["pid"] for s in stack.status()["services"]]
    os.kill(stack.supervisor.pid, sig)
    assert stack.supervisor.proc.wait(timeout=60) == 0
    for pid in pids:
        assert not pid_alive(pid), pid
    stopped = [e["svc"] for e in map(json.loads, stack.run("logs", "supervisor").stdout.splitlines())
               if e["message"] == "Service stopped"]
    assert stopped == list(reversed(stack.expected_services()))
    assert not os.path.exists(os.path.join(stack.run_dir, "supervisor.sock"))


def test_down_without_supervisor_uses_pid_files(procs, stack):
    """The supervisor killed with SIGKILL: its children go with it (death signal); `down` clears what is left."""
    stack.start_foreground(procs)
    pids = [s["pid"] for s in stack.status()["services"]]
    os.kill(stack.supervisor.pid, signal.SIGKILL)
    stack.supervisor.proc.wait(timeout=10)
    stack.supervisor = None
    for pid in pids:
        stack.wait(lambda: not pid_alive(pid), f"child {pid} gone with its supervisor", timeout=30)
    assert os.path.exists(os.path.join(stack.run_dir, "supervisor.sock"))  # stale
    r = stack.run("down")
    assert r.returncode == 0, r.stderr
    assert "the supervisor was not running" in r.stdout or "Nothing was running" in r.stdout
    assert not [n for n in os.listdir(stack.run_dir) if n.endswith(".pid") or n.endswith(".sock")]
    # and a fresh start works on the same ports
    stack.start_foreground(procs)
    assert stack.run("down").returncode == 0
    assert stack.supervisor.proc.wait(timeout=60) == 0


def test_make_up_writes_a_working_local_env(workdir):
    """scripts/up (what `make up` runs) with no .env: a local configuration that works unedited."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    os.makedirs(os.path.join(workdir, "scripts"))
    shutil.copy(os.path.join(root, "scripts", "up"), os.path.join(workdir, "scripts", "up"))
    shutil.copy(mcpgw_bin(), os.path.join(workdir, "mcpgw"))
    out_path, err_path = os.path.join(workdir, "up.out"), os.path.join(workdir, "up.err")
    stack = Stack.__new__(Stack)
    stack.dir, stack.seen_pids, stack.supervisor = workdir, set(), None
    with open(out_path, "w") as out, open(err_path, "w") as err:
        p = subprocess.Popen(["bash", os.path.join(workdir, "scripts", "up")], cwd=workdir, env=bare_env(),
                             stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    stack.seen_pids.add(p.pid)
    try:
        def healthy():
            if p.poll() is not None:
                raise AssertionError(f"scripts/up exited {p.returncode}:\n{open(err_path).read()[-3000:]}")
            r = subprocess.run([os.path.join(workdir, "mcpgw"), "ps", "--json"], cwd=workdir, env=bare_env(),
                               capture_output=True, text=True)
            if r.returncode != 0 or not r.stdout.startswith("{"):
                return False
            st = json.loads(r.stdout)
            stack.seen_pids.update(s["pid"] for s in st["services"] if s["pid"])
            return all(s["health"] == "healthy" for s in st["services"]) and st["services"]
        services = Stack.wait(stack, healthy, "the local stack healthy", timeout=90)
        names = [s["name"] for s in services]
        assert names[0] == "redis" and "mcp-echo" in names
        env = dict(line.split("=", 1) for line in open(os.path.join(workdir, ".env")).read().splitlines()
                   if line and not line.startswith("#"))
        assert env["BASE_DOMAIN"] == "localhost" and env["HTTPS_PORT"] == "0" and env["ROUTING"] == "path"
        assert len(env["REDIS_PASSWORD"]) >= 32
        assert oct(os.stat(os.path.join(workdir, ".env")).st_mode & 0o777) == "0o600"
        printed = open(out_path).read()
        assert f"http://localhost:{env['HTTP_PORT']}/mcp-echo/mcp" in printed
        if have_command("add-user"):
            password = printed.split("Local login: user admin, password ")[1].split()[0]
            assert len(password) >= 16
            users = open(os.path.join(workdir, "data", "users")).read()
            assert users.startswith("admin:") and password not in users
        if have_command("router"):
            status, _, body = http("GET", f"http://127.0.0.1:{env['HTTP_PORT']}/mcp-echo/health")
            assert status == 200, body
        # an existing .env is kept as it is
        before = open(os.path.join(workdir, ".env")).read()
        os.kill(p.pid, signal.SIGTERM)
        assert p.wait(timeout=60) == 0
        assert open(os.path.join(workdir, ".env")).read() == before
        errors = open(err_path).read()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            assert marker not in errors, errors[-4000:]
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for pid in stack.seen_pids:
            if pid_alive(pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)


def test_sigusr1_reopens_every_log_after_rotation(procs, stack):
    stack.start_foreground(procs)
    log_dir = stack.env["LOG_DIR"]
    for name in ("supervisor", "redis", "mcp-echo"):
        os.rename(os.path.join(log_dir, f"{name}.log"), os.path.join(log_dir, f"{name}.log.1"))
    os.kill(stack.supervisor.pid, signal.SIGUSR1)
    new_log = os.path.join(log_dir, "supervisor.log")
    stack.wait(lambda: os.path.exists(new_log) and "Log files reopened" in open(new_log).read(),
               "a new supervisor.log")
    # the supervisor's line comes before its children have reopened: wait until mcp-echo writes
    # to a new file (each try with its own marker), then check a fresh line goes there only
    def echo_logs_to_new_file():
        marker = "/rotated-" + os.urandom(4).hex()
        http("GET", f"http://127.0.0.1:{stack.ports['MCP_ECHO_PORT']}{marker}")
        path = os.path.join(log_dir, "mcp-echo.log")
        return os.path.exists(path) and marker in open(path).read()
    stack.wait(echo_logs_to_new_file, "mcp-echo writing its new file")
    marker = "/rotated-" + os.urandom(4).hex()
    assert http("GET", f"http://127.0.0.1:{stack.ports['MCP_ECHO_PORT']}{marker}")[0] == 404
    stack.wait(lambda: marker in open(os.path.join(log_dir, "mcp-echo.log")).read(), "the line in the new file")
    assert marker not in open(os.path.join(log_dir, "mcp-echo.log.1")).read()
    # Redis's lines go to the new redis.log too (a restart makes it talk)
    assert stack.run("restart", "redis").returncode == 0
    assert "Ready to accept connections" in open(os.path.join(log_dir, "redis.log")).read()
    assert all(s["pid"] for s in stack.status()["services"])  # nobody died of the signal
