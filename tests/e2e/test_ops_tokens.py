"""
End-to-end tests of the token commands: decode-token, validate-token, generate-token.

Real processes on 127.0.0.1: a redis-server (fixture), `mcpgw auth` (its generated RS256 key in
DATA_DIR/keys, or HS256 with GATEWAY_JWT_SECRET), `mcpgw router` in front of `mcpgw echo`. A token
minted by generate-token must pass the router and validate-token; once revoked (the Redis layout
of docs/internals/tokens.md) both refuse it.
"""
import json
import os
import re
import subprocess
import time

from conftest import bare_env, free_port, http, mcpgw_bin, wait_for_http

SECRET = "ops-tokens-e2e-secret-0123456789abcdef"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


def run(env, *args, stdin=None):
    p = subprocess.run([mcpgw_bin(), *args], env=bare_env(**env), capture_output=True, text=True,
                       input=stdin, timeout=60)
    assert "Sanitizer" not in p.stderr, p.stderr
    return p


def base_env(workdir, redis_server, **extra):
    rport, rpass = redis_server
    env = dict(BASE_DOMAIN="localhost", ROUTING="path", HTTPS_PORT="0", REDIS_URL=f"redis://127.0.0.1:{rport}/0",
               REDIS_PASSWORD=rpass, DATA_DIR=os.path.join(workdir, "data"), LOG_DIR="",
               LOCAL_USERS_FILE=os.path.join(workdir, "users"), MCP_ECHO_ENABLED="true",
               AUTH_PORT=str(free_port()))
    open(env["LOCAL_USERS_FILE"], "a").close()
    env.update(extra)
    return env


def redis_cmd(redis_server, *args):
    rport, rpass = redis_server
    return subprocess.run(["redis-cli", "-p", str(rport), "--no-auth-warning", "-a", rpass, *args],
                          capture_output=True, text=True, timeout=10).stdout.strip()


def revoke(redis_server, jti, exp):
    now = int(time.time())
    redis_cmd(redis_server, "SET", f"oauth:revoked:{jti}", "1", "EX", str(exp - now))
    redis_cmd(redis_server, "DEL", f"oauth:token:{jti}")
    redis_cmd(redis_server, "ZADD", "oauth:revocations", str(now * 1000), jti)
    redis_cmd(redis_server, "ZADD", "oauth:revocation_expiry", str(exp), jti)


def start_router(procs, env):
    """`mcpgw echo` and `mcpgw router` for env (its MCP_ECHO_PORT, ADMIN_PORT); returns when healthy."""
    echo_port, admin_port = env["MCP_ECHO_PORT"], env["ADMIN_PORT"]
    echo = procs.start([mcpgw_bin(), "echo", "--port", str(echo_port), "--workers", "1"], bare_env(LOG_DIR=""),
                       name="echo")
    wait_for_http(f"http://127.0.0.1:{echo_port}/health", proc=echo)
    router = procs.start([mcpgw_bin(), "router"], bare_env(**env), name="router")
    deadline = time.time() + 15
    while wait_for_http(f"http://127.0.0.1:{admin_port}/health", proc=router) != 200 and time.time() < deadline:
        time.sleep(0.1)
    return router


def test_help_and_usage_errors(workdir, redis_server):
    env = base_env(workdir, redis_server, JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET)
    for cmd in ("decode-token", "validate-token", "generate-token"):
        p = run(env, cmd, "--help")
        assert p.returncode == 0 and p.stdout.startswith("Usage: mcpgw " + cmd)
        assert run(env, cmd).returncode == 2
    assert run(env, "generate-token", "--user", "x", "--ttl", "abc").returncode == 2
    assert run(env, "generate-token", "--user", "x", "--service", "mcp-nope").returncode == 2
    p = run(env, "decode-token", "--bogus-opt")
    assert p.returncode == 2 and p.stderr.startswith("ERROR: unknown option --bogus-opt\nUsage: mcpgw decode-token")


def test_generate_token_without_user(workdir, redis_server):
    """The guide's bare `just generate-token`: the only local user if there is one, else exit 2
    saying exactly what to pass."""
    env = base_env(workdir, redis_server, JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET)
    p = run(env, "generate-token")
    assert p.returncode == 2
    assert p.stderr.startswith("ERROR: --user is required: pass --user NAME for a local user (mcpgw add-user NAME")
    assert "--user github:ID" in p.stderr
    with open(env["LOCAL_USERS_FILE"], "w") as f:
        f.write("# local users\nadmin:$2b$12$abcdefghijklmnopqrstuuMJsKfqjVDMk7jQGpzcSBBIm5dH0eVpq\n")
    p = run(env, "generate-token")
    assert p.returncode == 0, p.stderr
    assert "No --user given: using admin, the only user in LOCAL_USERS_FILE" in p.stderr
    claims = json.loads(run(env, "decode-token", p.stdout.strip()).stdout.split("Claims:\n")[1].split("Times")[0])
    assert claims["sub"] == "local:admin" and claims["username"] == "admin"
    with open(env["LOCAL_USERS_FILE"], "a") as f:
        f.write("bob:$2b$12$abcdefghijklmnopqrstuuMJsKfqjVDMk7jQGpzcSBBIm5dH0eVpq\n")
    p = run(env, "generate-token")
    assert p.returncode == 2 and p.stdout == ""
    assert "ERROR: --user is required: pass --user NAME, one of LOCAL_USERS_FILE's users (admin, bob)" in p.stderr


def test_decode_garbage_and_times(workdir, redis_server):
    env = base_env(workdir, redis_server, JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET)
    for garbage in ("garbage", "a.b.c", "", "eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.x"):
        p = run(env, "decode-token", garbage)
        assert p.returncode == 1
        assert "ERROR: not a JWT" in p.stderr
    token = run(env, "generate-token", "--user", "alice", "--ttl", "3600").stdout.strip()
    p = run(env, "decode-token", token)
    assert p.returncode == 0, p.stderr
    header = json.loads(p.stdout.split("Header:\n")[1].split("Claims:\n")[0])
    claims = json.loads(p.stdout.split("Claims:\n")[1].split("Times")[0])
    assert header["alg"] == "HS256" and header["typ"] == "JWT"
    assert claims["sub"] == "local:alice" and claims["username"] == "alice"
    assert "expires in 59m" in p.stdout or "expires in 1h" in p.stdout
    assert " UTC " in p.stdout
    # from stdin, and an expired token says so
    p = run(env, "decode-token", "-", stdin=token + "\n")
    assert p.returncode == 0 and "local:alice" in p.stdout


def test_generate_validate_router_revoke_hs256(procs, workdir, redis_server):
    echo_port, http_port, admin_port = free_port(), free_port(), free_port()
    env = base_env(workdir, redis_server, JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET,
                   HTTP_PORT=http_port, ADMIN_PORT=admin_port, MCP_ECHO_PORT=echo_port, WORKERS="1")
    start_router(procs, env)

    g = run(env, "generate-token", "--user", "alice", "--client", "cli-1", "--ttl", "600")
    assert g.returncode == 0, g.stderr
    token = g.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token
    claims = json.loads(run(env, "decode-token", token).stdout.split("Claims:\n")[1].split("Times")[0])
    jti = claims["jti"]
    assert claims["client_id"] == "cli-1" and claims["aud"].endswith("/mcp-echo/mcp")
    assert claims["exp"] - claims["iat"] == 600
    # recorded like any other token
    record = json.loads(redis_cmd(redis_server, "GET", f"oauth:token:{jti}"))
    assert record["sub"] == "local:alice" and record["client_id"] == "cli-1" and record["exp"] == claims["exp"]
    assert 0 < int(redis_cmd(redis_server, "TTL", f"oauth:token:{jti}")) <= 600
    assert redis_cmd(redis_server, "ZSCORE", "oauth:user_tokens:local:alice", jti) == str(claims["exp"])
    assert int(redis_cmd(redis_server, "TTL", "oauth:user_tokens:local:alice")) > 0

    v = run(env, "validate-token", token)
    assert v.returncode == 0, v.stdout + v.stderr
    assert v.stdout.startswith("VALID") and "local:alice" in v.stdout and "cli-1" in v.stdout

    url = f"http://127.0.0.1:{http_port}/mcp-echo/mcp"
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "Authorization": "Bearer " + token}
    status, _, body = http("POST", url, json.dumps(INIT).encode(), headers)
    assert status == 200, body
    status, _, _ = http("POST", url, json.dumps(INIT).encode(), dict(headers, Authorization="Bearer " + token + "x"))
    assert status == 401

    v = run(env, "validate-token", "--audience", "https://localhost/other/mcp", token)
    assert v.returncode == 1 and v.stdout.startswith("INVALID: wrong audience")
    v = run(env, "validate-token", token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"))
    assert v.returncode == 1 and v.stdout.startswith("INVALID: bad signature")
    other = dict(env, GATEWAY_JWT_SECRET="another-secret-0123456789abcdef-0123456")
    v = run(other, "validate-token", token)
    assert v.returncode == 1 and v.stdout.startswith("INVALID")
    assert run(env, "validate-token", "nonsense").stdout.startswith("INVALID: malformed")

    revoke(redis_server, jti, claims["exp"])
    v = run(env, "validate-token", token)
    assert v.returncode == 1 and v.stdout.startswith("INVALID: revoked"), v.stdout
    deadline = time.time() + 10
    while True:
        status, _, _ = http("POST", url, json.dumps(INIT).encode(), headers)
        if status == 401 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert status == 401


def test_expired_and_scope(workdir, redis_server):
    env = base_env(workdir, redis_server, JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET)
    token = run(env, "generate-token", "--user", "bob", "--scope", "other").stdout.strip()
    v = run(env, "validate-token", token)
    assert v.returncode == 1 and v.stdout.startswith("INVALID: insufficient scope")
    # an expired token (1 s lifetime): decode-token says so; validate-token would too, after the
    # router's 30 s leeway
    token = run(env, "generate-token", "--user", "bob", "--ttl", "1").stdout.strip()
    time.sleep(2)
    d = run(env, "decode-token", token)
    assert "expired" in d.stdout and "ago" in d.stdout


def test_generated_key_local_and_jwks(procs, workdir, redis_server):
    """RS256 with auth's generated key: generate-token signs with DATA_DIR/keys; validate-token
    verifies with it, and, from a configuration without the key, with auth's JWKS."""
    env = base_env(workdir, redis_server)
    auth = procs.start([mcpgw_bin(), "auth"], bare_env(**env), name="auth")
    wait_for_http(f"http://127.0.0.1:{env['AUTH_PORT']}/health", proc=auth)
    assert os.listdir(os.path.join(env["DATA_DIR"], "keys"))
    g = run(env, "generate-token", "--user", "github:4242", "--client", "c2")
    assert g.returncode == 0, g.stderr
    token = g.stdout.strip()
    header = json.loads(run(env, "decode-token", token).stdout.split("Header:\n")[1].split("Claims:\n")[0])
    assert header["alg"] == "RS256"
    v = run(env, "validate-token", token)
    assert v.returncode == 0 and "github:4242" in v.stdout, v.stdout + v.stderr
    remote = dict(env, DATA_DIR=os.path.join(workdir, "elsewhere"))
    v = run(remote, "validate-token", token)
    assert v.returncode == 0 and v.stdout.startswith("VALID"), v.stdout + v.stderr
    # and generate-token without a key says where it looked, creating nothing
    g = run(remote, "generate-token", "--user", "x")
    assert g.returncode == 1 and "no signing key" in g.stderr
    assert not os.path.exists(os.path.join(workdir, "elsewhere", "keys"))


def test_expired_and_foreign_tokens_are_invalid(workdir, redis_server):
    """Tokens minted here with the HS256 secret (as test_router.py does): expired beyond the
    leeway, from another issuer, and not yet valid."""
    import base64
    import hashlib
    import hmac

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    env = base_env(workdir, redis_server, JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET)
    good = run(env, "generate-token", "--user", "carol").stdout.strip()
    claims0 = json.loads(run(env, "decode-token", good).stdout.split("Claims:\n")[1].split("Times")[0])
    kid = b64(hmac.new(SECRET.encode(), b"mcpgw HS256 key id v1", hashlib.sha256).digest()[:16])

    def mint(**changes):
        claims = dict(claims0, jti=b64(os.urandom(16)), **changes)
        head = {"alg": "HS256", "typ": "JWT", "kid": kid}
        signing_input = b64(json.dumps(head).encode()) + "." + b64(json.dumps(claims).encode())
        return signing_input + "." + b64(hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest())

    now = int(time.time())
    v = run(env, "validate-token", mint(exp=now - 300, iat=now - 4000, nbf=now - 4000))
    assert v.returncode == 1 and v.stdout.startswith("INVALID: expired"), v.stdout + v.stderr
    d = run(env, "decode-token", mint(exp=now - 300, iat=now - 4000, nbf=now - 4000))
    assert re.search(r"expired 5m( \d+s)? ago", d.stdout), d.stdout
    v = run(env, "validate-token", mint(iss="https://evil.example"))
    assert v.returncode == 1 and v.stdout.startswith("INVALID: wrong issuer")
    v = run(env, "validate-token", mint(nbf=now + 3600, iat=now + 3600, exp=now + 7200))
    assert v.returncode == 1 and v.stdout.startswith("INVALID: not yet valid")
    assert run(env, "validate-token", mint()).stdout.startswith("VALID")


def test_revoke_tokens_of_a_user_and_of_a_client(procs, workdir, redis_server):
    """revoke-tokens: every access and refresh token of a user (by subject or login) and/or of a
    client, written as auth's /revoke writes them: the router refuses the access tokens, auth
    refuses the refresh tokens (invalid_grant), other users' tokens keep working, --dry-run
    changes nothing."""
    from test_auth_api import Auth, code_tokens, public_client  # auth with its own .env in workdir

    auth = Auth(procs, workdir, redis_server)
    octo_a, octo_b = public_client(auth, name="a"), public_client(auth, name="b")
    tokens_a, tokens_b = code_tokens(auth, octo_a), code_tokens(auth, octo_b)  # github:4242, login octocat
    hubot_client = public_client(auth, name="hubot's")
    hubot = code_tokens(auth, hubot_client, extra={"code": auth.seed_code(
        hubot_client["client_id"], "http://127.0.0.1:33418/callback", "v" * 50, sub="github:99", username="hubot"),
        "code_verifier": "v" * 50})

    # a router (HS256, path routing) and tokens minted by generate-token for the same subjects
    echo_port, http_port, admin_port = free_port(), free_port(), free_port()
    os.makedirs(os.path.join(workdir, "router"))
    env = base_env(os.path.join(workdir, "router"), redis_server, JWT_ALGORITHM="HS256", GATEWAY_JWT_SECRET=SECRET,
                   HTTP_PORT=http_port, ADMIN_PORT=admin_port, MCP_ECHO_PORT=echo_port, WORKERS="1")
    start_router(procs, env)
    octo_minted = run(env, "generate-token", "--user", "github:4242", "--client", "cli-1").stdout.strip()
    hubot_minted = run(env, "generate-token", "--user", "github:99", "--client", "cli-1").stdout.strip()
    url = f"http://127.0.0.1:{http_port}/mcp-echo/mcp"

    def router_status(token):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "Authorization": "Bearer " + token}
        return http("POST", url, json.dumps(INIT).encode(), headers)[0]

    def refresh(client, tokens):
        status, _, body = auth.post_form("/token", {"grant_type": "refresh_token", "client_id": client["client_id"],
                                                     "refresh_token": tokens["refresh_token"]})
        return status, body

    assert router_status(octo_minted) == 200 and router_status(hubot_minted) == 200

    # usage errors
    assert run(env, "revoke-tokens").returncode == 2
    assert run(env, "revoke-tokens", "--user").returncode == 2
    assert run(env, "revoke-tokens", "--everyone").returncode == 2

    # dry run: counted, nothing changed
    p = run(env, "revoke-tokens", "--user", "OctoCat", "--client", octo_b["client_id"], "--dry-run")
    assert p.returncode == 0, p.stderr
    assert p.stdout == (f"Would revoke 1 access token and 1 refresh token of user OctoCat with client "
                        f"{octo_b['client_id']}.\n")
    assert redis_cmd(redis_server, "KEYS", "oauth:revoked:*") == ""

    # the user, by subject: auth's tokens for both clients and the minted one
    p = run(env, "revoke-tokens", "--user", "github:4242")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("Revoked 3 access tokens and 2 refresh tokens of user github:4242.\n")
    for client, tokens in ((octo_a, tokens_a), (octo_b, tokens_b)):
        status, body = refresh(client, tokens)
        assert status == 400 and body["error"] == "invalid_grant", body
    deadline = time.time() + 10
    while router_status(octo_minted) != 401 and time.time() < deadline:
        time.sleep(0.1)
    assert router_status(octo_minted) == 401
    v = run(env, "validate-token", octo_minted)
    assert v.returncode == 1 and v.stdout.startswith("INVALID: revoked"), v.stdout
    # another user is untouched
    assert router_status(hubot_minted) == 200
    status, rotated = refresh(hubot_client, hubot)
    assert status == 200, rotated

    # a client: hubot's grant through it. The refresh token just rotated: two access tokens, and the
    # old refresh token (kept for the grace period) goes with the new one's family, counted once.
    p = run(env, "revoke-tokens", "--client", hubot_client["client_id"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"Revoked 2 access tokens and 1 refresh token of client {hubot_client['client_id']}.\n")
    status, body = refresh(hubot_client, rotated)
    assert status == 400 and body["error"] == "invalid_grant", body
    assert router_status(hubot_minted) == 200  # minted for client cli-1: not this client's
    p = run(env, "revoke-tokens", "--client", hubot_client["client_id"])
    assert p.stdout == f"Revoked 0 access tokens and 0 refresh tokens of client {hubot_client['client_id']}.\n"
