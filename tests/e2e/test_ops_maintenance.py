"""
End-to-end tests of the maintenance commands: redis-cli, cleanup-tokens, redis-vacuum,
rotate-logs, backup-all / restore, diagnostic-bundle (import-dashboards: test_monitoring.py,
renew-certs: test_acme.py). Real redis-server (fixture), real mcpgw processes on 127.0.0.1.
"""
import json
import os
import subprocess
import time
import zipfile

from conftest import bare_env, free_port, mcpgw_bin

SECRET = "ops-maint-e2e-secret-0123456789abcdef"


def run(env, *args, stdin=None, timeout=120):
    p = subprocess.run([mcpgw_bin(), *args], env=bare_env(**env), capture_output=True, text=True,
                       input=stdin, timeout=timeout)
    assert "Sanitizer" not in p.stderr, p.stderr
    return p


def base_env(workdir, redis_server, **extra):
    rport, rpass = redis_server
    env = dict(BASE_DOMAIN="localhost", ROUTING="path", HTTPS_PORT="0", REDIS_URL=f"redis://127.0.0.1:{rport}/0",
               REDIS_PASSWORD=rpass, DATA_DIR=os.path.join(workdir, "data"), LOG_DIR=os.path.join(workdir, "logs"),
               LOCAL_USERS_FILE=os.path.join(workdir, "users"), MCP_ECHO_ENABLED="true",
               JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET, AUTH_PORT=str(free_port()))
    open(env["LOCAL_USERS_FILE"], "a").close()
    env.update(extra)
    return env


def rc(redis_server, *args):
    rport, rpass = redis_server
    return subprocess.run(["redis-cli", "-p", str(rport), "--no-auth-warning", "-a", rpass, *args],
                          capture_output=True, text=True, timeout=10).stdout.strip()


def count(out, label):
    for line in out.splitlines():
        if label in line:
            return int(line.split()[0])
    raise AssertionError(f"{label!r} not in {out}")


def test_help_everywhere(workdir, redis_server):
    env = base_env(workdir, redis_server)
    for cmd in ("redis-cli", "cleanup-tokens", "redis-vacuum", "revoke-tokens", "rotate-logs", "backup-all",
                "restore", "diagnostic-bundle", "update-all", "renew-certs", "import-dashboards"):
        p = run(env, cmd, "--help")
        assert p.returncode == 0 and p.stdout.startswith("Usage: mcpgw " + cmd), (cmd, p.stdout)
    for cmd in ("cleanup-tokens", "redis-vacuum", "revoke-tokens", "rotate-logs", "backup-all", "restore",
                "diagnostic-bundle", "update-all"):
        assert run(env, cmd, "--bogus").returncode == 2, cmd
    assert run(env, "restore").returncode == 2  # which archive?


def test_redis_cli(workdir, redis_server):
    env = base_env(workdir, redis_server)
    p = run(env, "redis-cli", "ping")
    assert p.returncode == 0 and p.stdout.strip() == "PONG"
    p = run(env, "redis-cli", "INFO", "memory")
    assert p.returncode == 0 and "used_memory:" in p.stdout
    # the password is never on redis-cli's command line, and a wrong one fails
    bad = dict(env, REDIS_PASSWORD="wrong")
    p = run(bad, "redis-cli", "ping")
    assert "PONG" not in p.stdout


def test_cleanup_tokens_counts(workdir, redis_server):
    env = base_env(workdir, redis_server)
    now = int(time.time())
    live = run(env, "generate-token", "--user", "alice").stdout.strip()
    assert live
    # garbage: an orphaned and an expired user_tokens entry, active_tokens past exp and orphaned,
    # a refresh token of a deleted family, a dead family member, an old revocation, a record past exp
    rc(redis_server, "ZADD", "oauth:user_tokens:local:alice", str(now + 900), "orphan1", str(now - 10), "old1")
    rc(redis_server, "ZADD", "oauth:user_tokens:local:bob", str(now + 900), "orphan2")
    rc(redis_server, "ZADD", "oauth:active_tokens", str(now - 5), "exp1", str(now - 6), "exp2", str(now + 500), "orphan3")
    rc(redis_server, "SET", "oauth:refresh:abc", json.dumps({"family": "deadfam", "client_id": "c"}))
    rc(redis_server, "SADD", "oauth:family:livefam", f"a:gone:{now - 100}", f"a:live:{now + 100}")
    rc(redis_server, "EXPIRE", "oauth:family:livefam", "1000")
    rc(redis_server, "ZADD", "oauth:revocations", str(now * 1000), "revold")
    rc(redis_server, "ZADD", "oauth:revocation_expiry", str(now - 120), "revold")
    rc(redis_server, "SET", "oauth:token:stale", json.dumps({"exp": now - 50}))
    dry = run(env, "cleanup-tokens", "--dry-run")
    assert dry.returncode == 0 and "Would remove" in dry.stdout
    assert rc(redis_server, "EXISTS", "oauth:refresh:abc") == "1"
    p = run(env, "cleanup-tokens")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert count(out, "user_tokens entries expired") == 1
    assert count(out, "user_tokens entries orphaned") == 2
    assert count(out, "active_tokens entries expired") == 2
    assert count(out, "active_tokens entries orphaned") == 1
    assert count(out, "refresh tokens of deleted families") == 1
    assert count(out, "family members expired") == 1
    assert count(out, "revocation entries") == 1
    assert count(out, "token records past exp") == 1
    assert rc(redis_server, "EXISTS", "oauth:refresh:abc") == "0"
    assert rc(redis_server, "EXISTS", "oauth:user_tokens:local:bob") == "0"
    assert rc(redis_server, "ZCARD", "oauth:user_tokens:local:alice") == "1"  # the live token stays
    assert run(env, "validate-token", live).stdout.startswith("VALID")
    again = run(env, "cleanup-tokens")
    assert again.stdout.strip().endswith("0 in all")
    assert run(dict(env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"), "cleanup-tokens").returncode == 1


def test_redis_vacuum(workdir, redis_server):
    env = base_env(workdir, redis_server, UNUSED_CLIENT_LIFETIME="60")
    now = int(time.time())
    rc(redis_server, "SET", "oauth:token:nottl", json.dumps({"exp": now + 3000}))
    rc(redis_server, "SET", "oauth:token:pastexp", json.dumps({"exp": now - 3}))
    rc(redis_server, "SET", "oauth:code:abc", "{}")
    rc(redis_server, "SET", "oauth:revoked:j1", "1")
    rc(redis_server, "SET", "oauth:ratelimit:mcp:1.2.3.4", "5")
    # client records as auth writes them (registration.c): client_id_issued_at, used, last_used_at
    rc(redis_server, "SET", "oauth:client:unused", json.dumps({"client_id": "unused", "client_id_issued_at": now - 3600,
                                                               "used": False}))
    rc(redis_server, "ZADD", "oauth:clients", str(now + 100), "unused")
    rc(redis_server, "SET", "oauth:client:used", json.dumps({"client_id": "used", "client_id_issued_at": now - 3600,
                                                             "used": True, "last_used_at": now - 60}))
    rc(redis_server, "SET", "other:keep", "x")  # not ours
    p = run(env, "redis-vacuum")
    assert p.returncode == 0, p.stderr
    assert count(p.stdout, "keys given a TTL") >= 4
    assert count(p.stdout, "removed (past their expiry)") == 1
    assert count(p.stdout, "stale rate-limit") == 1
    assert count(p.stdout, "never-used clients") == 1
    assert "used_memory before:" in p.stdout and "used_memory after:" in p.stdout
    assert 2900 < int(rc(redis_server, "TTL", "oauth:token:nottl")) <= 3000
    for key in ("oauth:code:abc", "oauth:revoked:j1", "oauth:client:used"):
        assert int(rc(redis_server, "TTL", key)) > 0, key
    # a used client lives CLIENT_LIFETIME (default 90 days) from its last use
    assert 7776000 - 120 < int(rc(redis_server, "TTL", "oauth:client:used")) <= 7776000 - 60
    for key in ("oauth:token:pastexp", "oauth:ratelimit:mcp:1.2.3.4", "oauth:client:unused"):
        assert rc(redis_server, "EXISTS", key) == "0", key
    assert rc(redis_server, "ZSCORE", "oauth:clients", "unused") == ""
    assert rc(redis_server, "TTL", "other:keep") == "-1"


# ---- with the whole stack (the supervisor of tests/e2e/test_ops.py) ----

import gzip  # noqa: E402

import pytest  # noqa: E402

from conftest import http  # noqa: E402
from test_ops import Stack  # noqa: E402


@pytest.fixture
def stack(workdir):
    s = Stack(workdir)
    yield s
    s.kill_leftovers()


def test_rotate_logs_keeps_writing_to_fresh_files(procs, stack):
    stack.start_foreground(procs)
    log_dir = stack.env["LOG_DIR"]
    echo_log = os.path.join(log_dir, "mcp-echo.log")
    assert stack.run("rotate-logs", "--help").stdout.startswith("Usage: mcpgw rotate-logs")
    assert stack.run("rotate-logs", "--keep", "0").returncode == 2
    markers = []
    for round_ in range(3):
        r = stack.run("rotate-logs", "--keep", "2")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "mcp-echo.log" in r.stdout and "supervisor" in r.stdout
        marker = f"/rotated-{round_}-" + os.urandom(4).hex()
        markers.append(marker)
        stack.wait(lambda: http("GET", f"http://127.0.0.1:{stack.ports['MCP_ECHO_PORT']}{marker}")[0] == 404 and
                   os.path.exists(echo_log) and marker in open(echo_log).read(), "mcp-echo writing its new file")
    # keep 2: .log.1 (plain) and .log.2.gz, nothing older
    assert os.path.exists(echo_log + ".1") and os.path.exists(echo_log + ".2.gz")
    assert not os.path.exists(echo_log + ".3") and not os.path.exists(echo_log + ".3.gz")
    assert markers[1] in open(echo_log + ".1").read()
    assert markers[0] in gzip.open(echo_log + ".2.gz", "rt").read()
    assert markers[2] not in open(echo_log + ".1").read()
    assert all(s["pid"] and s["state"] == "running" for s in stack.status()["services"])


def test_detached_supervisor_out_holds_no_log_copy_and_is_rotated(stack):
    """`up -d`: supervisor.out (the daemon's stderr) does not repeat supervisor.log's lines, so it
    grows only with what is no log line; rotate-logs rotates it and the supervisor reopens it."""
    log_dir = stack.env["LOG_DIR"]
    out = os.path.join(log_dir, "supervisor.out")
    try:
        r = stack.run("up", "-d", timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        sup = stack.status()["pid"]
        assert os.path.exists(out)
        assert '"message":"Supervisor starting"' in open(os.path.join(log_dir, "supervisor.log")).read()
        assert '"service":"supervisor"' not in open(out).read()
        for _ in range(2):
            r = stack.run("rotate-logs", "--keep", "2")
            assert r.returncode == 0, r.stdout + r.stderr
            assert "supervisor.out" in r.stdout
        assert os.path.exists(out + ".1") and os.path.exists(out)  # reopened by the supervisor
        assert os.stat(out).st_ino != os.stat(out + ".1").st_ino
        assert os.readlink(f"/proc/{sup}/fd/2") == os.path.realpath(out)
        r = stack.run("down")
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        stack.kill_leftovers()


def stack_redis(stack, *args):
    return subprocess.run(["redis-cli", "-p", str(stack.ports["REDIS"]), "--no-auth-warning", "-a", stack.password,
                           *args], capture_output=True, text=True, timeout=10).stdout.strip()


def test_backup_wipe_restore_and_corrupt_archive(procs, stack):
    stack.start_foreground(procs)
    tokens = []
    for user in ("alice", "bob"):
        g = stack.run("generate-token", "--user", user)
        assert g.returncode == 0, g.stderr
        tokens.append(g.stdout.strip())
    assert all(stack.run("validate-token", t).stdout.startswith("VALID") for t in tokens)
    nkeys = int(stack_redis(stack, "DBSIZE"))

    r = stack.run("backup-all", "--include-secrets")
    assert r.returncode == 0, r.stdout + r.stderr
    archive = r.stdout.split("Backup written: ")[1].split()[0]
    assert os.path.basename(archive).startswith("mcpgw-backup-") and archive.endswith(".tar.gz")
    listing = subprocess.run(["tar", "-tzf", archive], capture_output=True, text=True).stdout
    for name in ("manifest.json", "SHA256SUMS", "redis-keys.jsonl", "env", "keys/"):
        assert name in listing, listing
    # without --include-secrets: no keys, and the .env's secrets masked
    plain = stack.run("backup-all")
    assert plain.returncode == 0
    plain_archive = plain.stdout.split("Backup written: ")[1].split()[0]
    assert "keys/" not in subprocess.run(["tar", "-tzf", plain_archive], capture_output=True, text=True).stdout
    env_text = subprocess.run(["tar", "-xzOf", plain_archive, "./env"], capture_output=True, text=True).stdout
    assert "REDIS_PASSWORD=" in env_text and stack.password not in env_text

    # a corrupt archive (bytes flipped) and a tampered one (valid tar, wrong sum) are refused,
    # and nothing changes
    corrupt = os.path.join(stack.dir, "corrupt.tar.gz")
    data = bytearray(open(archive, "rb").read())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    open(corrupt, "wb").write(bytes(data))
    tampered_dir = os.path.join(stack.dir, "tampered")
    os.makedirs(tampered_dir)
    subprocess.run(["tar", "-xzf", archive, "-C", tampered_dir], check=True)
    with open(os.path.join(tampered_dir, "redis-keys.jsonl"), "a") as f:
        f.write('{"key":"oauth:evil","ttl_ms":-1,"dump":"AAAA"}\n')
    tampered = os.path.join(stack.dir, "tampered.tar.gz")
    subprocess.run(["tar", "-czf", tampered, "-C", tampered_dir, "."], check=True)
    sup_pids = {s["name"]: s["pid"] for s in stack.status()["services"]}
    for bad in (corrupt, tampered, os.path.join(stack.dir, "missing.tar.gz")):
        r = stack.run("restore", bad)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "refusing" in r.stderr and "Nothing was changed" in r.stderr
    assert int(stack_redis(stack, "DBSIZE")) == nkeys
    assert {s["name"]: s["pid"] for s in stack.status()["services"]} == sup_pids  # nobody was stopped

    # wipe Redis, restore: the issued tokens are valid again, the services healthy
    stack_redis(stack, "FLUSHALL")
    assert stack_redis(stack, "DBSIZE") == "0"
    keys_dir = os.path.join(stack.env["DATA_DIR"], "keys")
    key_files = {n: open(os.path.join(keys_dir, n), "rb").read() for n in os.listdir(keys_dir)}
    assert key_files
    for n in key_files:
        os.unlink(os.path.join(keys_dir, n))
    r = stack.run("restore", archive)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Archive verified" in r.stdout and "Restore complete" in r.stdout
    assert "stopped auth" in r.stdout
    for t in tokens:
        v = stack.run("validate-token", t)
        assert v.stdout.startswith("VALID"), v.stdout + v.stderr
        jti = json.loads(stack.run("decode-token", t).stdout.split("Claims:\n")[1].split("Times")[0])["jti"]
        assert stack_redis(stack, "EXISTS", f"oauth:token:{jti}") == "1"
        assert int(stack_redis(stack, "TTL", f"oauth:token:{jti}")) > 0
    assert stack.all_healthy()
    assert {n: open(os.path.join(keys_dir, n), "rb").read() for n in os.listdir(keys_dir)} == key_files
    assert all(os.stat(os.path.join(keys_dir, n)).st_mode & 0o077 == 0 for n in key_files)


def test_diagnostic_bundle_has_no_secret_or_token(procs, workdir):
    extra_secret = "gh-client-secret-" + os.urandom(12).hex()
    stack = Stack(workdir, GITHUB_CLIENT_SECRET=extra_secret, GITHUB_CLIENT_ID="Iv1.diagtest")
    try:
        stack.start_foreground(procs)
        tokens = [stack.run("generate-token", "--user", u).stdout.strip() for u in ("alice", "bob")]
        assert all(t.count(".") == 2 for t in tokens)
        # a leak in a log (as if a service had logged what it must not): the bundle must scrub it
        with open(os.path.join(stack.env["LOG_DIR"], "mcp-echo.log"), "a") as f:
            f.write(json.dumps({"level": "info", "message": "leak", "authorization": "Bearer " + tokens[0],
                                "password": stack.password, "secret": extra_secret}) + "\n")
        r = stack.run("diagnostic-bundle", "--help")
        assert r.returncode == 0 and r.stdout.startswith("Usage: mcpgw diagnostic-bundle")
        # the newest rotated generation is bundled too (a bundle right after rotate-logs)
        with open(os.path.join(stack.env["LOG_DIR"], "auth.log.1"), "w") as f:
            f.write(json.dumps({"level": "INFO", "message": "before rotation"}) + "\n")
        r = stack.run("diagnostic-bundle")
        assert r.returncode == 0, r.stdout + r.stderr
        archive = r.stdout.split("Diagnostic bundle written: ")[1].split()[0]
        assert archive.endswith(".zip")  # the guide: "This creates a zip file"
        with zipfile.ZipFile(archive) as z:
            assert z.testzip() is None  # every CRC checks
            names = set(z.namelist())
            blob = b"".join(z.read(n) for n in sorted(names))
        for want in ("show-config.txt", "health-check.txt", "ps.json", "stats.json", "versions.txt", "metrics.txt",
                     "logs/mcp-echo.log", "logs/supervisor.log", "logs/auth.log.1"):
            assert want in names, names
        assert b"before rotation" in blob
        assert b"leak" in blob and b"[REDACTED" in blob  # the leaked line is there, scrubbed
        assert b"# TYPE" in blob  # a metrics snapshot
        keys_dir = os.path.join(stack.env["DATA_DIR"], "keys")
        key_pems = [open(os.path.join(keys_dir, n), "rb").read() for n in os.listdir(keys_dir)]
        secrets = [stack.password.encode(), extra_secret.encode()] + [t.encode() for t in tokens]
        secrets += [t.split(".")[2].encode() for t in tokens]  # not even a signature
        for pem in key_pems:
            secrets += [line for line in pem.splitlines() if len(line) > 20 and b"-----" not in line]
        for s in secrets:
            assert s not in blob, s[:12]
    finally:
        stack.kill_leftovers()


def test_update_all_restarts_one_at_a_time(procs, stack):
    stack.start_foreground(procs)
    before = {s["name"]: (s["pid"], s["restarts"]) for s in stack.status()["services"]}
    assert stack.run("update-all", "--help").stdout.startswith("Usage: mcpgw update-all")
    r = stack.run("update-all", "--no-build")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [l.split()[0] for l in r.stdout.splitlines() if "restarted, healthy" in l]
    assert lines == stack.expected_services()  # in start order, one after the other
    after = {s["name"]: s["pid"] for s in stack.status()["services"]}
    assert all(after[n] != before[n][0] for n in before), (before, after)
    assert stack.all_healthy()


def test_update_all_without_supervisor(workdir, redis_server):
    env = base_env(workdir, redis_server)
    r = run(env, "update-all", "--no-build")
    assert r.returncode == 1 and "supervisor is not running" in r.stderr
