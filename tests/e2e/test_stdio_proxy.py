"""
End-to-end tests of `mcpgw stdio-proxy`: the real binary in front of real stdio MCP servers from
npm (@modelcontextprotocol/server-memory and server-everything, tests/e2e/node) and of a tiny
fixture that crashes on demand (stdio_crashy.py); spoken to with raw JSON-RPC over HTTP and with
the official TypeScript SDK clients (node/stdio_client.mjs).
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, bare_env, free_port, http, mcpgw_bin, wait_for_http

NODE_DIR = os.path.join(ROOT, "tests", "e2e", "node")
PACKAGES = os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol")
MEMORY = os.path.join(PACKAGES, "server-memory", "dist", "index.js")
EVERYTHING = os.path.join(PACKAGES, "server-everything", "dist", "index.js")
CRASHY = os.path.join(ROOT, "tests", "e2e", "stdio_crashy.py")
JSON_AND_SSE = "application/json, text/event-stream"
MODERN = "2026-07-28"


def ensure_node_packages():
    if not shutil.which("node"):
        pytest.skip("node is not installed")
    if not os.path.exists(MEMORY) or not os.path.exists(EVERYTHING):
        subprocess.run([os.path.join(NODE_DIR, "install")], check=True, timeout=600)


def sse_messages(raw):
    out = []
    for event in raw.decode().replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in event.split("\n") if line.startswith("data:")]
        if data:
            out.append(json.loads("\n".join(data)))
    return out


def pid_exists(pid):
    """Whether a process with this pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # gone before the open (ENOENT) or between open and read (ESRCH)
        return False


def wait_until(predicate, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class Proxy:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"

    def post(self, body, session=None, headers=None, timeout=30):
        h = {"Content-Type": "application/json", "Accept": JSON_AND_SSE}
        if session:
            h["Mcp-Session-Id"] = session
        h.update(headers or {})
        status, rh, raw = http("POST", self.url, json.dumps(body).encode(), h, timeout=timeout)
        if rh.get("content-type", "").startswith("text/event-stream"):
            return status, rh, sse_messages(raw)
        return status, rh, json.loads(raw) if raw else None

    def initialize(self, version="2025-11-25"):
        status, rh, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                      "params": {"protocolVersion": version, "capabilities": {},
                                                 "clientInfo": {"name": "pytest", "version": "1"}}})
        if status != 200:
            return status, None, body
        sid = rh.get("mcp-session-id")
        assert sid
        st, _, _ = self.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, sid)
        assert st == 202
        return status, sid, body

    def call(self, session, name, arguments, id=2, meta=None):
        params = {"name": name, "arguments": arguments}
        if meta:
            params["_meta"] = meta
        return self.post({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params}, session)

    def delete(self, session):
        status, _, _ = http("DELETE", self.url, None, {"Mcp-Session-Id": session})
        return status

    def logs(self):
        """The proxy's JSON log lines (it logs to stderr without LOG_DIR)."""
        out = []
        for line in self.proc.stderr().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    def child_pids(self):
        return [l["child_pid"] for l in self.logs() if l.get("message") == "MCP server process started"]


def start_proxy(procs, command, *args, **env):
    port = free_port()
    proc = procs.start([mcpgw_bin(), "stdio-proxy", "--port", str(port), "--bind", "127.0.0.1", *args, "--",
                        *command], env=bare_env(**env), name="stdio-proxy")
    wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc)
    return Proxy(proc, port)


def text_of(result):
    return "".join(c.get("text", "") for c in result["content"] if c.get("type") == "text")


def node_client(url, mode):
    out = subprocess.run(["node", os.path.join(NODE_DIR, "stdio_client.mjs"), url, mode],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def memory(procs, workdir):
    ensure_node_packages()
    # Its own file per test (never a device: the server replaces the file when it saves).
    return start_proxy(procs, ["node", MEMORY], MEMORY_FILE_PATH=os.path.join(workdir, "memory.jsonl"))


@pytest.fixture
def everything(procs):
    ensure_node_packages()
    return start_proxy(procs, ["node", EVERYTHING])


@pytest.fixture
def crashy(procs):
    return start_proxy(procs, [sys.executable, CRASHY], STDIO_MAX_CHILDREN=2, STDIO_REQUEST_TIMEOUT=2)


# ---- server-memory: raw JSON-RPC ---------------------------------------------------------------


def test_memory_raw_session_and_delete(memory, workdir):
    status, sid, body = memory.initialize()
    assert status == 200
    assert body["result"]["serverInfo"]["name"] == "memory-server"
    assert "tools" in body["result"]["capabilities"]
    status, _, body = memory.post({"jsonrpc": "2.0", "id": "list", "method": "tools/list"}, sid)
    assert status == 200 and body["id"] == "list"
    names = [t["name"] for t in body["result"]["tools"]]
    assert "create_entities" in names and "read_graph" in names
    status, _, body = memory.call(sid, "create_entities", {"entities": [
        {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]}]}, id=3)
    assert status == 200 and "error" not in body, body
    status, _, body = memory.call(sid, "read_graph", {}, id=4)
    assert status == 200 and body["id"] == 4
    graph = json.loads(text_of(body["result"]))
    assert [e["name"] for e in graph["entities"]] == ["Ada"]
    pids = memory.child_pids()
    assert len(pids) == 1 and pid_exists(pids[0])
    assert memory.delete(sid) == 204
    assert wait_until(lambda: not pid_exists(pids[0])), "the session's child survived DELETE"
    status, _, body = memory.call(sid, "read_graph", {}, id=5)
    assert status == 404 and body["error"]["code"] == -32001


def test_memory_two_sessions_get_two_children(memory):
    _, a, _ = memory.initialize()
    _, b, _ = memory.initialize()
    assert a != b
    assert len(set(memory.child_pids())) == 2
    # Concurrent clients use the same JSON-RPC ids: each answer still goes to its own request.
    _, _, ra = memory.post({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}, a)
    _, _, rb = memory.post({"jsonrpc": "2.0", "id": 7, "method": "ping"}, b)
    assert ra["id"] == 7 and "tools" in ra["result"]
    assert rb["id"] == 7 and rb["result"] == {}


def test_memory_sdk(memory):
    out = node_client(memory.url, "memory")
    assert out["sessionId"]
    assert out["server"]["name"] == "memory-server"
    assert "create_entities" in out["tools"]
    assert [e["name"] for e in out["graph"]["entities"]] == ["mcpgw"]
    assert out["terminated"] is True
    pids = memory.child_pids()
    assert len(pids) == 1
    assert wait_until(lambda: not pid_exists(pids[0]))


# ---- server-everything: notifications both ways ------------------------------------------------


def test_everything_sdk_progress_and_logging(everything):
    out = node_client(everything.url, "everything")
    assert out["echo"] == "Echo: hello through stdio"
    assert "trigger-long-running-operation" in out["tools"]
    assert out["long"].startswith("Long running operation completed")
    assert [p["progress"] for p in out["progress"]] == [1, 2, 3]
    assert out["logs"], "no notifications/message reached the client's GET stream"
    assert out["terminated"] is True


def test_everything_raw_progress_on_sse_answer(everything):
    _, sid, _ = everything.initialize()
    status, rh, messages = everything.call(sid, "trigger-long-running-operation", {"duration": 1, "steps": 2},
                                           id="long", meta={"progressToken": "tok-1"})
    assert status == 200
    assert rh["content-type"].startswith("text/event-stream")
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [m["params"]["progressToken"] for m in progress] == ["tok-1", "tok-1"]
    assert messages[-1]["id"] == "long" and "result" in messages[-1]


def test_everything_sdk_modern_pool(everything):
    out = node_client(everything.url, "modern")
    assert out["protocolVersion"] == MODERN
    assert out["sessionId"] is None
    assert "echo" in out["tools"]
    assert out["echo"] == "Echo: stateless hello"
    pooled = [l for l in everything.logs() if l.get("message") == "MCP server process started"]
    assert pooled and all(l["pooled"] for l in pooled)


def test_stderr_lines_in_json_log(everything):
    everything.initialize()
    pids = everything.child_pids()
    assert wait_until(lambda: any(l.get("level") == "WARNING" and l.get("child_pid") == pids[0]
                                  and "STDIO" in l.get("message", "") for l in everything.logs()))


# ---- a child that crashes, the cap, timeouts -----------------------------------------------------


def test_crash_gives_clean_error_and_new_child(crashy):
    _, sid, _ = crashy.initialize()
    _, _, body = crashy.call(sid, "echo", {"message": "hi"})
    first_pid = crashy.child_pids()[0]
    assert text_of(body["result"]) == f"hi (pid {first_pid})"
    status, _, body = crashy.call(sid, "crash", {}, id=9)
    assert status == 200
    assert body["id"] == 9
    assert body["error"]["code"] == -32603
    assert body["error"]["message"] == "MCP server process exited"
    # The session is over: the client re-initializes and gets a new process.
    status, _, body = crashy.call(sid, "echo", {"message": "again"}, id=10)
    assert status == 404
    _, sid2, _ = crashy.initialize()
    _, _, body = crashy.call(sid2, "echo", {"message": "again"}, id=11)
    pids = crashy.child_pids()
    assert len(pids) == 2 and pids[1] != first_pid
    assert text_of(body["result"]) == f"again (pid {pids[1]})"
    logs = crashy.logs()
    assert any(l.get("message") == "crashy fixture: crashing on purpose" and l.get("child_pid") == first_pid
               and l.get("level") == "WARNING" for l in logs)
    assert any(l.get("message") == "MCP server process exited" and l.get("exit_code") == 3 for l in logs)


def test_child_cap_gives_503(crashy):
    assert crashy.initialize()[0] == 200
    _, sid, _ = crashy.initialize()
    status, _, body = crashy.initialize()
    assert status == 503
    assert body["error"]["code"] == -32000
    assert len(crashy.child_pids()) == 2
    # Ending a session frees its place once the process is gone.
    pid = crashy.child_pids()[1]
    assert crashy.delete(sid) == 204
    assert wait_until(lambda: not pid_exists(pid))
    assert wait_until(lambda: crashy.initialize()[0] == 200)


def test_timeout_gives_jsonrpc_error(crashy):
    _, sid, _ = crashy.initialize()
    status, _, body = crashy.call(sid, "slow", {}, id="s")
    assert status == 200
    assert body["id"] == "s"
    assert body["error"]["code"] == -32603
    assert "did not answer within 2 seconds" in body["error"]["message"]
    # The child is still fine for the next request.
    _, _, body = crashy.call(sid, "echo", {"message": "after"}, id="t")
    assert text_of(body["result"]).startswith("after")


def test_stop_leaves_no_child(procs, crashy):
    crashy.initialize()
    crashy.initialize()
    pids = crashy.child_pids()
    assert len(pids) == 2 and all(pid_exists(p) for p in pids)
    assert crashy.proc.stop() == 0
    assert not any(pid_exists(p) for p in pids)


def test_service_name_from_option_and_from_env_file(procs, workdir):
    proxy = start_proxy(procs, [sys.executable, CRASHY], "--name", "mcp-crashy")
    assert proxy.logs()[0]["service"] == "mcp-crashy"
    port = free_port()
    env_file = os.path.join(workdir, "stdio.env")
    with open(env_file, "w") as f:
        f.write(f"MCP_MY_TOOL_COMMAND=python3 {CRASHY}\nMCP_MY_TOOL_PORT={port}\n")
    proc = procs.start([mcpgw_bin(), "stdio-proxy", "--env-file", env_file, "--port", str(port), "--bind",
                        "127.0.0.1", "--", sys.executable, CRASHY], name="stdio-proxy-env")
    wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc)
    first = json.loads(proc.stderr().splitlines()[0])
    assert first["service"] == "mcp-my-tool"


def test_usage_without_command():
    out = subprocess.run([mcpgw_bin(), "stdio-proxy", "--port", "1"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert "-- CMD" in out.stderr


def test_client_cancel_reaches_the_child_and_answers(crashy):
    import threading
    _, sid, _ = crashy.initialize()
    answer = {}

    def slow_call():
        answer["reply"] = crashy.call(sid, "slow", {}, id="to-cancel")

    t = threading.Thread(target=slow_call)
    t.start()
    # Cancel once the proxy relayed the call (the access log has no line for it yet; poll the
    # cancellation until the request is answered).
    deadline = time.time() + 10
    while t.is_alive() and time.time() < deadline:
        crashy.post({"jsonrpc": "2.0", "method": "notifications/cancelled",
                     "params": {"requestId": "to-cancel", "reason": "test"}}, sid)
        t.join(0.1)
    t.join(10)
    status, _, body = answer["reply"]
    assert status == 200 and body["id"] == "to-cancel"
    assert body["error"]["message"] == "Request cancelled by the client"


def test_idle_session_is_reaped_with_its_child(procs):
    proxy = start_proxy(procs, [sys.executable, CRASHY], MCP_SESSION_TIMEOUT=1)
    _, sid, _ = proxy.initialize()
    pid = proxy.child_pids()[0]
    # Nothing touches the session (a request would keep it alive); the sweeper runs every 30 s.
    assert wait_until(lambda: not pid_exists(pid), timeout=90), "the idle session's child was not stopped"
    assert proxy.call(sid, "echo", {"message": "x"})[0] == 404


def test_progress_keeps_a_long_request_alive(procs):
    ensure_node_packages()
    # 3 s of work with a 2 s timeout: the progress every 0.5 s restarts the clock.
    proxy = start_proxy(procs, ["node", EVERYTHING], STDIO_REQUEST_TIMEOUT=2)
    _, sid, _ = proxy.initialize()
    status, _, messages = proxy.call(sid, "trigger-long-running-operation", {"duration": 3, "steps": 6},
                                     id="long", meta={"progressToken": 5})
    assert status == 200
    assert len([m for m in messages if m.get("method") == "notifications/progress"]) == 6
    assert "result" in messages[-1], messages[-1]


def test_supervisor_runs_a_stdio_server_as_mcp_name(procs, workdir):
    """MCP_MEMORY_COMMAND in .env: `mcpgw up` starts stdio-proxy for it as mcp-memory, whose
    lines `mcpgw logs mcp-memory` shows; stopping the stack leaves no child behind."""
    ensure_node_packages()
    from test_ops import Stack
    port = free_port()
    stack = Stack(workdir, MCP_MEMORY_COMMAND=f"node {MEMORY}", MCP_MEMORY_PORT=port,
                  MEMORY_FILE_PATH=os.path.join(workdir, "memory.jsonl"))
    try:
        stack.supervisor = procs.start([mcpgw_bin(), "up"], bare_env(), name="supervisor", cwd=workdir)

        def memory_healthy():
            st = stack.status()
            s = next((s for s in (st or {}).get("services", []) if s["name"] == "mcp-memory"), None)
            return s if s and s["state"] == "running" and s["health"] == "healthy" else None

        stack.wait(memory_healthy, "mcp-memory healthy", timeout=90)
        proxy = Proxy(None, port)
        status, sid, body = proxy.initialize()
        assert status == 200 and body["result"]["serverInfo"]["name"] == "memory-server"
        _, _, body = proxy.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, sid)
        assert "read_graph" in [t["name"] for t in body["result"]["tools"]]

        def child_lines():
            lines = [json.loads(l) for l in stack.run("logs", "mcp-memory", "--tail", "200").stdout.splitlines()]
            return [l for l in lines if l.get("message") == "MCP server process started"] and lines

        lines = stack.wait(child_lines, "the child in mcp-memory's log")
        assert all(l["service"] == "mcp-memory" for l in lines)
        pid = next(l["child_pid"] for l in lines if l.get("message") == "MCP server process started")
        assert pid_exists(pid)
        assert stack.supervisor.stop() == 0
        assert wait_until(lambda: not pid_exists(pid)), "the stdio server outlived the stack"
    finally:
        stack.kill_leftovers()


def test_stdio_service_without_a_port_gets_the_automatic_one(procs, workdir):
    """MCP_CRASHY_COMMAND without MCP_CRASHY_PORT: validate-env accepts it, `mcpgw up` starts
    stdio-proxy on 3002 (the first automatic port; nothing else in the stack uses it) and the
    router proxies the whole OAuth + MCP flow to it there."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as our servers bind
        try:
            probe.bind(("127.0.0.1", 3002))
        except OSError:
            pytest.skip("port 3002, the first automatic stdio port, is in use on this host")
    from test_ops import Stack
    stack = Stack(workdir, MCP_CRASHY_COMMAND=f"{sys.executable} {CRASHY}")
    try:
        r = stack.run("validate-env")
        assert r.returncode == 0 and "Configuration OK" in r.stdout, r.stderr
        stack.supervisor = procs.start([mcpgw_bin(), "up"], bare_env(), name="supervisor", cwd=workdir)

        def all_healthy():
            st = stack.status()
            services = (st or {}).get("services", [])
            return services if services and all(s["health"] == "healthy" for s in services) else None

        services = stack.wait(all_healthy, "every service healthy, mcp-crashy included", timeout=90)
        crashy = next(s for s in services if s["name"] == "mcp-crashy")
        assert crashy["health_url"] == "http://127.0.0.1:3002/health"
        assert crashy["restarts"] == 0
        r = stack.run("add-user", "alice", input="alice-pw-Secret1\n")
        assert r.returncode == 0, r.stderr
        r = stack.run("test-oauth-flow", "--service", "mcp-crashy", "--user", "alice", "--password-stdin",
                      "--no-browser", input="alice-pw-Secret1\n")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "MCP initialize" in r.stdout
        assert stack.service("router")["restarts"] == 0
        lines = [json.loads(line) for line in stack.run("logs", "mcp-crashy").stdout.splitlines()]
        assert lines and all(line["service"] == "mcp-crashy" for line in lines)
    finally:
        stack.kill_leftovers()


def test_unknown_command_is_a_configuration_error():
    out = subprocess.run([mcpgw_bin(), "stdio-proxy", "--port", str(free_port()), "--bind", "127.0.0.1", "--",
                          "no-such-mcp-server-xyz"], capture_output=True, text=True, timeout=30, env=bare_env())
    assert out.returncode == 78
    assert "command not found or not executable: no-such-mcp-server-xyz" in out.stderr


def test_relayed_tool_calls_in_metrics_and_log(crashy):
    _, sid, _ = crashy.initialize()
    crashy.call(sid, "echo", {"message": "m"}, id=1)
    crashy.call(sid, "no-such-tool", {}, id=2)
    status, _, raw = http("GET", f"http://127.0.0.1:{crashy.port}/metrics")
    assert status == 200
    text = raw.decode()
    assert 'mcp_tool_calls_total{service="mcp-stdio",tool="echo",status="success"} 1' in text
    assert 'mcp_tool_calls_total{service="mcp-stdio",tool="other",status="error"} 1' in text
    assert "no-such-tool" not in text
    assert 'mcp_stdio_children{service="mcp-stdio"} 1' in text
    assert any(l.get("message") == "Relayed request" and l.get("tool") == "echo" and l.get("method") == "tools/call"
               for l in crashy.logs())


def modern_call(proxy, name, arguments, id):
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN,
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"}}
    return proxy.post({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments, "_meta": meta}},
                      headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name})


def test_modern_raw_pool_and_a_pool_child_that_crashes(crashy):
    status, rh, body = modern_call(crashy, "echo", {"message": "stateless"}, id=1)
    assert status == 200 and "mcp-session-id" not in rh
    assert body["result"]["resultType"] == "complete"
    first = crashy.child_pids()[0]
    assert text_of(body["result"]) == f"stateless (pid {first})"
    status, _, body = modern_call(crashy, "crash", {}, id=2)
    assert body["error"]["message"] == "MCP server process exited"
    exits = [l for l in crashy.logs() if l.get("message") == "MCP server process exited"]
    assert len(exits) == 1 and exits[0]["exit_code"] == 3
    crashed = exits[0]["child_pid"]
    assert wait_until(lambda: not pid_exists(crashed))
    # The pool goes on (and replaces the dead child; STDIO_MAX_CHILDREN=2 here).
    for i in range(4):
        status, _, body = modern_call(crashy, "echo", {"message": "again"}, id=3 + i)
        assert status == 200, body
        assert text_of(body["result"]) != f"again (pid {crashed})"
        assert text_of(body["result"]).startswith("again (pid ")


def test_stop_right_after_a_child_ended_is_clean(crashy):
    """A child that just exited is freed on the loop's next turn; a stop at that moment must
    neither leak it nor touch it twice (the ASan build checks)."""
    _, sid, _ = crashy.initialize()
    crashy.call(sid, "crash", {}, id=1)
    _, sid2, _ = crashy.initialize()
    assert crashy.delete(sid2) == 204
    assert crashy.proc.stop() == 0
    crashy.proc.assert_no_sanitizer_report()
