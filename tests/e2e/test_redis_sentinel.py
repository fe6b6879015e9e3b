"""
REDIS_URL with a host name or a set of Redis Sentinels, end to end: real redis-servers (a master and
its replica), a real Sentinel (`redis-server --sentinel`, quorum 1), `mcpgw auth`, `mcpgw router`
and the operator commands.

- A planned failover (SENTINEL FAILOVER) leaves the old master alive and answering as a master for
  a while: auth and the router notice that the Sentinels name another master and move, so new
  client registrations land on the new master and a revocation written there is honoured.
- A crash of the master (SIGKILL): the Sentinel promotes the replica and both roles follow.
- `mcpgw redis-cli` and `cleanup-tokens` reach the master the Sentinels name.
- A host name works like an address; of several addresses, the one that answers is found (the
  name is given its addresses by a private /etc/hosts, conftest.with_hosts_file).
"""
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import Process, bare_env, free_port, http, mcpgw_bin, wait_for_http, with_hosts_file
from test_auth_api import Auth
from test_router import start_stack, upstream  # noqa: F401  (upstream is a fixture)
from test_router_tokens import claims_for, hs256, status_of

PASSWORD = "e2e-sentinel-password"


def cli(port, *args, password=PASSWORD):
    argv = ["redis-cli", "-p", str(port)]
    if password:
        argv += ["-a", password, "--no-auth-warning"]
    r = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=10)
    return r.stdout.strip()


def wait_until(predicate, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"never happened within {timeout} s: {what}")


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Replicated:
    """A master, its replica and one Sentinel watching them as "mymaster"; stopped by PID."""

    def __init__(self, workdir):
        self.ports = [free_port(), free_port()]
        self.servers = {}
        for i, port in enumerate(self.ports):
            data = os.path.join(workdir, f"redis-{i}")
            os.makedirs(data)
            argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                    "no", "--dir", data, "--requirepass", PASSWORD, "--masterauth", PASSWORD]
            if i == 1:
                argv += ["--replicaof", "127.0.0.1", str(self.ports[0])]
            self.servers[port] = Process(argv, bare_env(), workdir, f"redis-{port}")
            wait_until(lambda: port_open(port), f"redis on {port}", 10)
        self.sentinel_port = free_port()
        conf = os.path.join(workdir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write(f"port {self.sentinel_port}\nbind 127.0.0.1\ndir {workdir}\n"
                    f"sentinel monitor mymaster 127.0.0.1 {self.ports[0]} 1\n"
                    f"sentinel auth-pass mymaster {PASSWORD}\n"
                    "sentinel down-after-milliseconds mymaster 1000\n"
                    "sentinel failover-timeout mymaster 10000\n")
        self.sentinel = Process(["redis-server", conf, "--sentinel"], bare_env(), workdir, "sentinel")
        wait_until(lambda: port_open(self.sentinel_port), "the Sentinel listening", 10)
        self.wait_replica_of(self.ports[1], self.ports[0])
        wait_until(lambda: "slaves=1" in cli(self.sentinel_port, "INFO", "sentinel", password=None),
                   "the Sentinel knowing the replica")

    def master(self):
        reply = cli(self.sentinel_port, "SENTINEL", "get-master-addr-by-name", "mymaster", password=None).split()
        return int(reply[1]) if len(reply) == 2 else None

    def wait_replica_of(self, replica, master):
        wait_until(lambda: f"master_port:{master}" in (info := cli(replica, "INFO", "replication"))
                   and "master_link_status:up" in info, f"{replica} replicating {master}")

    def stop(self):
        self.sentinel.stop()
        for p in self.servers.values():
            p.stop()


@pytest.fixture
def replicated(workdir):
    r = Replicated(workdir)
    yield r
    r.stop()


def register_on(auth, port, n):
    """Register a client; True when its record is on the Redis at port (the current master)."""
    status, _, body = auth.register({"redirect_uris": [f"http://127.0.0.1:9/cb{n}"], "client_name": f"c{n}",
                                     "token_endpoint_auth_method": "none"})
    return status == 201 and cli(port, "EXISTS", f"oauth:client:{body['client_id']}") == "1"


def revoke_on(port, jti):
    """What auth's /revoke writes (docs/internals/tokens.md), on the Redis at port."""
    assert cli(port, "SET", f"oauth:revoked:{jti}", "1", "EX", "600") == "OK"
    assert cli(port, "ZADD", "oauth:revocations", str(int(time.time() * 1000)), jti) == "1"


def refused_by_every_worker(stack, token):
    return all(status_of(stack, token)[0] == 401 for _ in range(6))


def test_auth_and_router_follow_a_sentinel_failover(procs, workdir, replicated, upstream):  # noqa: F811
    r = replicated
    dead_sentinel = free_port()  # listed first and down: the next Sentinel answers
    url = f"redis-sentinel://:{PASSWORD}@127.0.0.1:{dead_sentinel},127.0.0.1:{r.sentinel_port}/mymaster/0"
    auth = Auth(procs, workdir, (r.ports[0], PASSWORD), extra_env={"REDIS_URL": url})
    stack = start_stack(procs, (r.ports[0], PASSWORD), upstream, REDIS_URL=url)
    status, _, _ = http("GET", f"http://127.0.0.1:{stack.admin_port}/health")
    assert status == 200
    assert register_on(auth, r.ports[0], 0)
    tokens = [claims_for(stack) for _ in range(2)]
    for claims in tokens:
        assert status_of(stack, hs256(claims))[0] == 200

    # Planned failover: the old master stays up (and says "master") until the Sentinel demotes it.
    assert cli(r.sentinel_port, "SENTINEL", "FAILOVER", "mymaster", password=None) == "OK"
    wait_until(lambda: r.master() == r.ports[1], "the Sentinel naming the replica as master")
    n = iter(range(1, 1000))
    wait_until(lambda: register_on(auth, r.ports[1], next(n)), "a registration landing on the new master")
    revoke_on(r.ports[1], tokens[0]["jti"])
    wait_until(lambda: refused_by_every_worker(stack, hs256(tokens[0])), "the router reading the new master")
    assert status_of(stack, hs256(tokens[1]))[0] == 200
    for proc in (auth.proc, stack.router):
        assert f'"message":"Connected to Redis","redis":"sentinel mymaster at 127.0.0.1:{dead_sentinel},' \
               f'127.0.0.1:{r.sentinel_port}","db":0,"address":"127.0.0.1:{r.ports[1]}"' in proc.stderr()

    # Crash: the new master dies; the Sentinel promotes the old one (a replica again by now).
    r.wait_replica_of(r.ports[0], r.ports[1])
    r.servers[r.ports[1]].stop(signal.SIGKILL)
    wait_until(lambda: r.master() == r.ports[0], "the Sentinel promoting the old master again")
    wait_until(lambda: register_on(auth, r.ports[0], next(n)), "a registration after the crash")
    revoke_on(r.ports[0], tokens[1]["jti"])
    wait_until(lambda: refused_by_every_worker(stack, hs256(tokens[1])), "the router after the crash")
    for url_ in (auth.url, f"http://127.0.0.1:{stack.admin_port}"):
        wait_until(lambda: http("GET", url_ + "/health")[0] == 200, f"{url_}/health healthy again")
    for proc in (auth.proc, stack.router):
        log = proc.stderr()
        assert PASSWORD not in log
        assert "Lost connection to Redis" in log


def test_operator_commands_reach_the_master_the_sentinels_name(workdir, replicated):
    r = replicated
    env_file = os.path.join(workdir, "sentinel.env")
    with open(env_file, "w") as f:
        f.write(f"REDIS_URL=redis-sentinel://127.0.0.1:{r.sentinel_port}/mymaster/0\nREDIS_PASSWORD={PASSWORD}\n"
                "GATEWAY_JWT_SECRET=e2e-secret-0123456789abcdef0123456789\nJWT_ALGORITHM=HS256\n"
                "BASE_DOMAIN=example.test\nLOG_DIR=\n")
    def mcpgw(*args):
        return subprocess.run([mcpgw_bin(), *args], cwd=workdir, env=bare_env(), capture_output=True, text=True,
                              timeout=60)
    out = mcpgw("redis-cli", "--env-file", env_file, "ROLE")
    assert out.returncode == 0 and out.stdout.splitlines()[0] == "master", out.stdout + out.stderr
    assert mcpgw("redis-cli", "--env-file", env_file, "SET", "oauth:probe", "here").stdout.strip() == "OK"
    assert cli(r.ports[0], "GET", "oauth:probe") == "here"
    out = mcpgw("cleanup-tokens", "--env-file", env_file)
    assert out.returncode == 0, out.stdout + out.stderr
    # the supervisor's probe (health-check): PING on the master the Sentinels name
    out = mcpgw("health-check", "--env-file", env_file)
    redis_line = next(line for line in out.stdout.splitlines() if line.startswith("redis "))
    assert " healthy" in redis_line, out.stdout
    assert f"redis-sentinel://127.0.0.1:{r.sentinel_port}/mymaster/0 (PING)" in redis_line
    out = mcpgw("show-config", "--env-file", env_file)
    assert f"REDIS_URL=redis-sentinel://127.0.0.1:{r.sentinel_port}/mymaster/0" in out.stdout
    # A master the Sentinels do not watch: a clear error, exit 1.
    with open(env_file, "a") as f:
        f.write(f"REDIS_URL=redis-sentinel://127.0.0.1:{r.sentinel_port}/othermaster\n")
    out = mcpgw("health-check", "--env-file", env_file)
    redis_line = next(line for line in out.stdout.splitlines() if line.startswith("redis "))
    assert "unhealthy" in redis_line and "does not know a master named othermaster" in redis_line, out.stdout
    out = mcpgw("redis-cli", "--env-file", env_file, "PING")
    assert out.returncode == 1
    assert "ERROR: Could not find the Redis master: no Sentinel named the master othermaster" in out.stderr
    assert "does not know a master named othermaster" in out.stderr


class AuthWithHosts(Auth):
    """`mcpgw auth` seeing hosts_path as its /etc/hosts (conftest.with_hosts_file)."""

    def __init__(self, procs, workdir, redis_server, hosts_path, extra_env):
        self.hosts_path = hosts_path
        super().__init__(procs, workdir, redis_server, extra_env=extra_env)

    def start(self):
        self.proc = self.procs.start(with_hosts_file([mcpgw_bin(), "auth"], self.hosts_path), env=bare_env(),
                                     name=f"auth-{self.port}")
        wait_for_http(self.url + "/health", proc=self.proc)


def test_host_name_in_redis_url(procs, workdir, redis_server):
    """A host name in REDIS_URL, resolved off the event loop. redis.test's first address (::1)
    refuses, as localhost's does on most machines when Redis listens on 127.0.0.1 only: the next
    attempt takes the next address. A name that does not resolve: auth runs, unhealthy, says why."""
    port, password = redis_server
    hosts = os.path.join(workdir, "hosts")
    with open(hosts, "w") as f:
        f.write("127.0.0.1 localhost\n::1 redis.test\n127.0.0.1 redis.test\n")
    auth = AuthWithHosts(procs, workdir, redis_server, hosts, {"REDIS_URL": f"redis://redis.test:{port}/0"})
    wait_until(lambda: http("GET", auth.url + "/health")[0] == 200, "auth healthy through redis.test")
    status, _, body = auth.register({"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"})
    assert status == 201
    assert cli(port, "EXISTS", f"oauth:client:{body['client_id']}", password=password) == "1"
    log = auth.proc.stderr()
    assert f'"message":"Could not connect to Redis","error":"Connection refused","redis":"redis.test:{port}"' in log
    assert f'"redis":"redis.test:{port}","db":0,"address":"127.0.0.1:{port}"' in log
    auth.stop()
    other = Auth(procs, workdir, redis_server, extra_env={"REDIS_URL": "redis://no-such-host.invalid:6379/0"})
    # the lookup runs beside the loop: /health may answer before its first result, then says why
    wait_until(lambda: b"cannot resolve no-such-host.invalid" in http("GET", other.url + "/health")[2],
               "auth's /health naming the lookup failure")
    assert http("GET", other.url + "/health")[0] == 503
