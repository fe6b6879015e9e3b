"""
End-to-end tests of `mcpgw echo` (mcp-echo): the real binary on a loopback port, spoken to with
raw HTTP for each Streamable HTTP rule (2025-03-26 .. 2025-11-25 sessions, 2026-07-28 stateless)
and with the official TypeScript SDK clients from npm (tests/e2e/node).
"""
import base64
import http.client as httpclient
import json
import os
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import ROOT, bare_env, free_port, http, mcpgw_bin, raw_request, wait_for_http

NODE_DIR = os.path.join(ROOT, "tests", "e2e", "node")
MODERN = "2026-07-28"
MODERN_META = {"io.modelcontextprotocol/protocolVersion": MODERN,
               "io.modelcontextprotocol/clientCapabilities": {},
               "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"}}
JSON_AND_SSE = "application/json, text/event-stream"


class Echo:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"

    def post(self, body, headers=None, accept=JSON_AND_SSE, content_type="application/json"):
        """POST a JSON body (or raw bytes); returns (status, headers, parsed JSON / SSE messages / None)."""
        h = {"Content-Type": content_type}
        if accept is not None:
            h["Accept"] = accept
        h.update(headers or {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, rh, raw = http("POST", self.url, data, h)
        return status, rh, decode_body(rh, raw)

    def initialize(self, version="2025-11-25", headers=None):
        status, rh, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                      "params": {"protocolVersion": version, "capabilities": {},
                                                 "clientInfo": {"name": "pytest", "version": "1"}}},
                                     headers)
        assert status == 200, body
        return rh.get("mcp-session-id"), body["result"]

    def call(self, name, arguments, headers=None, id=2):
        return self.post({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                          "params": {"name": name, "arguments": arguments}}, headers)

    def modern(self, method, params=None, headers=None, meta=None, id=7):
        """A 2026-07-28 request with the mirrored headers set from the body (override with headers)."""
        p = dict(params or {})
        p["_meta"] = dict(MODERN_META if meta is None else meta)
        h = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
        if "name" in p:
            h["Mcp-Name"] = p["name"]
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        return self.post({"jsonrpc": "2.0", "id": id, "method": method, "params": p}, h)


def decode_body(headers, raw):
    ctype = headers.get("content-type", "")
    if ctype.startswith("text/event-stream"):
        return sse_messages(raw)
    if not raw:
        return None
    return json.loads(raw)


def sse_messages(raw):
    """The JSON messages of an SSE body (comments and other fields ignored)."""
    out = []
    for event in raw.decode().replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip() for line in event.split("\n") if line.startswith("data:")]
        if data:
            out.append(json.loads("\n".join(data)))
    return out


def start_echo(procs, *args, **env):
    port = free_port()
    proc = procs.start([mcpgw_bin(), "echo", "--port", str(port), "--bind", "127.0.0.1", "--workers", "2", *args],
                       env=bare_env(**env), name="mcp-echo")
    wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc)
    return Echo(proc, port)


@pytest.fixture
def echo(procs):
    return start_echo(procs)


@pytest.fixture
def stateful(procs):
    return start_echo(procs, "--stateful")


def error_code(body):
    assert "error" in body, body
    return body["error"]["code"]


def text_of(result):
    return "".join(c["text"] for c in result["content"] if c["type"] == "text")


# ---- basics ---------------------------------------------------------------------------------


def test_health_metrics_and_unknown_paths(echo):
    status, _, body = http("GET", f"http://127.0.0.1:{echo.port}/health")
    health = json.loads(body)
    assert status == 200 and health["service"] == "mcp-echo" and health["status"] == "healthy"
    echo.initialize()
    echo.call("echo", {"message": "m"})
    echo.call("echo", {})  # an error outcome
    status, _, body = http("GET", f"http://127.0.0.1:{echo.port}/metrics")
    text = body.decode()
    assert status == 200
    assert re.search(r'mcp_tool_calls_total\{service="mcp-echo",tool="echo",status="success"\} 1', text)
    assert re.search(r'mcp_tool_calls_total\{service="mcp-echo",tool="echo",status="error"\} 1', text)
    assert 'mcp_sessions_active{service="mcp-echo"} 0' in text
    assert 'mcp_sse_streams_active{service="mcp-echo"}' in text
    status, _, _ = http("GET", f"http://127.0.0.1:{echo.port}/nope")
    assert status == 404


def test_help_and_bad_option():
    out = subprocess.run([mcpgw_bin(), "echo", "--help"], capture_output=True, text=True, env=bare_env(), timeout=30)
    assert out.returncode == 0 and "--stateful" in out.stdout
    out = subprocess.run([mcpgw_bin(), "echo", "--bogus"], capture_output=True, text=True, env=bare_env(), timeout=30)
    assert out.returncode == 2 and "--bogus" in out.stderr


# ---- 2025 revisions, stateless service ---------------------------------------------------------


def test_initialize_negotiates_version(echo):
    sid, result = echo.initialize("2025-06-18")
    assert result["protocolVersion"] == "2025-06-18"
    assert result["serverInfo"]["name"] == "mcp-echo-stateless"
    assert "tools" in result["capabilities"]
    assert sid is None  # a stateless service never mints session ids
    _, result = echo.initialize("2025-03-26")
    assert result["protocolVersion"] == "2025-03-26"
    # An unknown revision gets the server's counter offer, one it supports.
    _, result = echo.initialize("1999-01-01")
    assert result["protocolVersion"] in ("2025-11-25", "2025-06-18", "2025-03-26")


def test_tools_list_and_calls(echo):
    status, _, body = echo.post({"jsonrpc": "2.0", "id": "a", "method": "tools/list"},
                                {"MCP-Protocol-Version": "2025-06-18"})
    assert status == 200 and body["id"] == "a"
    tools = {t["name"]: t for t in body["result"]["tools"]}
    assert set(tools) == {"echo", "printHeader"}
    assert tools["echo"]["inputSchema"]["required"] == ["message"]
    status, _, body = echo.call("echo", {"message": "héllo\nworld"})
    assert status == 200 and text_of(body["result"]) == "héllo\nworld"
    assert not body["result"].get("isError")
    _, _, body = echo.call("printHeader", {"header_name": "x-user-name"}, {"X-User-Name": "alice"})
    assert text_of(body["result"]) == "alice"
    _, _, body = echo.call("printHeader", {"header_name": "X-Missing"})
    assert body["result"]["isError"] is True


def test_print_header_never_reveals_credentials(echo):
    for name in ("Authorization", "authorization", "Cookie", "Proxy-Authorization"):
        _, _, body = echo.call("printHeader", {"header_name": name},
                               {"Authorization": "Bearer secret-token-123", "Cookie": "sid=secret-token-123",
                                "Proxy-Authorization": "Basic secret-token-123"})
        assert body["result"]["isError"] is True
        assert "secret-token-123" not in json.dumps(body)
    assert "secret-token-123" not in echo.proc.stderr()


def test_notifications_and_responses_get_202(echo):
    for msg in ({"jsonrpc": "2.0", "method": "notifications/initialized"},
                {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
                {"jsonrpc": "2.0", "id": 5, "result": {}}):
        status, _, body = echo.post(msg)
        assert status == 202 and body is None


def test_ping_and_unknown_method(echo):
    _, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert body["result"] == {}
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 2, "method": "resources/list"})
    assert status == 200 and error_code(body) == -32601 and body["id"] == 2


def test_jsonrpc_errors(echo):
    status, _, body = echo.post(b'{"jsonrpc":"2.0","id":1,"method":')
    assert status == 400 and error_code(body) == -32700 and body["id"] is None
    status, _, body = echo.post(b'{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}')  # duplicate key
    assert status == 400 and error_code(body) == -32700
    status, _, body = echo.post({"id": 1, "method": "ping"})
    assert status == 400 and error_code(body) == -32600 and body["id"] == 1
    status, _, body = echo.post({"jsonrpc": "2.0", "id": None, "method": "ping"})
    assert status == 400 and error_code(body) == -32600
    status, _, body = echo.post(b"[]")
    assert status == 400 and error_code(body) == -32600
    status, _, body = echo.post(b'"text"')
    assert status == 400 and error_code(body) == -32600
    _, _, body = echo.call("nope", {})
    assert error_code(body) == -32602
    _, _, body = echo.post({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"arguments": {}}})
    assert error_code(body) == -32602
    # Bad arguments: a JSON-RPC error before 2025-11-25, a tool error (isError) from it on.
    _, _, body = echo.call("echo", {"message": 5}, {"MCP-Protocol-Version": "2025-06-18"})
    assert error_code(body) == -32602
    _, _, body = echo.call("echo", {"mesage": "typo"}, {"MCP-Protocol-Version": "2025-11-25"})
    assert body["result"]["isError"] is True and "message" in text_of(body["result"])


def test_content_type_accept_and_version_header(echo):
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, content_type="text/plain")
    assert status == 415
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, accept="text/html")
    assert status == 406
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, accept=None)  # lenient: JSON
    assert status == 200 and body["result"] == {}
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "method": "ping"},
                                content_type="application/json; charset=utf-8")
    assert status == 200
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"MCP-Protocol-Version": "1999-01-01"})
    assert status == 400 and error_code(body) == -32022
    assert body["error"]["data"]["requested"] == "1999-01-01"
    assert "2025-06-18" in body["error"]["data"]["supported"]


def test_sse_answer_when_only_sse_is_accepted(echo):
    status, headers, messages = echo.post({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
                                           "params": {"name": "echo", "arguments": {"message": "over sse"}}},
                                          accept="text/event-stream")
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert headers.get("x-accel-buffering") == "no"
    assert len(messages) == 1 and messages[0]["id"] == 9
    assert text_of(messages[0]["result"]) == "over sse"


def test_batches_only_for_2025_03_26(echo):
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"},
             {"jsonrpc": "2.0", "method": "notifications/initialized"},
             {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "b"}}},
             {"jsonrpc": "2.0", "id": 3},
             {"jsonrpc": "2.0", "id": 4, "method": "nope"}]
    status, _, body = echo.post(batch)  # no MCP-Protocol-Version: 2025-03-26 is assumed
    assert status == 200 and isinstance(body, list)
    by_id = {r["id"]: r for r in body}
    assert set(by_id) == {1, 2, 3, 4}
    assert by_id[1]["result"] == {} and text_of(by_id[2]["result"]) == "b"
    assert by_id[3]["error"]["code"] == -32600 and by_id[4]["error"]["code"] == -32601
    status, _, body = echo.post(batch, {"MCP-Protocol-Version": "2025-03-26"}, accept="text/event-stream")
    assert status == 200 and len(body) == 4
    status, _, body = echo.post(batch, {"MCP-Protocol-Version": "2025-06-18"})
    assert status == 400 and error_code(body) == -32600
    status, _, body = echo.post([{"jsonrpc": "2.0", "method": "notifications/initialized"}])
    assert status == 202
    status, _, body = echo.post([{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}])
    assert status == 400 and error_code(body) == -32600


def test_get_and_delete_not_allowed_when_stateless(echo):
    status, headers, _ = http("GET", echo.url, headers={"Accept": "text/event-stream"})
    assert status == 405 and "POST" in headers.get("allow", "")
    status, _, _ = http("DELETE", echo.url, headers={"Mcp-Session-Id": "x" * 32})
    assert status == 405
    status, _, _ = http("PUT", echo.url, b"{}", {"Content-Type": "application/json"})
    assert status == 405


def test_origin_validation(procs):
    e = start_echo(procs, MCP_CORS_ORIGINS="https://good.example, https://other.example")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    status, _, body = e.post(ping, {"Origin": "https://evil.example"})
    assert status == 403 and error_code(body) and "id" in body
    status, _, _ = e.post(ping, {"Origin": "https://good.example"})
    assert status == 200
    status, _, _ = e.post(ping)  # no Origin: not a browser, allowed
    assert status == 200
    status, _, _ = http("GET", e.url, headers={"Origin": "http://localhost:1234"})
    assert status == 403


def test_default_origins_allow_any(echo):
    status, _, _ = echo.post({"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"Origin": "https://anything.example"})
    assert status == 200


# ---- 2026-07-28 --------------------------------------------------------------------------------


def test_modern_tools_call_and_discover(echo):
    status, headers, body = echo.modern("tools/call", {"name": "echo", "arguments": {"message": "modern"}})
    assert status == 200 and "mcp-session-id" not in headers
    result = body["result"]
    assert text_of(result) == "modern" and result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "mcp-echo-stateless"
    status, _, body = echo.modern("tools/list")
    assert status == 200 and body["result"]["ttlMs"] >= 0 and body["result"]["cacheScope"] in ("public", "private")
    assert {t["name"] for t in body["result"]["tools"]} == {"echo", "printHeader"}
    status, _, body = echo.modern("server/discover")
    assert status == 200 and MODERN in body["result"]["supportedVersions"]
    assert "tools" in body["result"]["capabilities"]


def test_modern_header_rules(echo):
    args = {"name": "echo", "arguments": {"message": "x"}}
    status, _, body = echo.modern("tools/call", args, {"Mcp-Method": "tools/list"})
    assert status == 400 and error_code(body) == -32020 and body["id"] == 7
    status, _, body = echo.modern("tools/call", args, {"Mcp-Name": "printHeader"})
    assert status == 400 and error_code(body) == -32020
    status, _, body = echo.modern("tools/call", args, {"Mcp-Name": None})
    assert status == 400 and error_code(body) == -32020
    status, _, body = echo.modern("tools/call", args, {"Mcp-Method": None})
    assert status == 400 and error_code(body) == -32020
    status, _, body = echo.modern("tools/call", args, {"MCP-Protocol-Version": None})
    assert status == 400 and error_code(body) == -32020
    status, _, body = echo.modern("tools/call", args, {"Mcp-Name": "=?base64?" + base64.b64encode(b"echo").decode() + "?="})
    assert status == 200 and text_of(body["result"]) == "x"
    status, _, body = echo.modern("tools/call", args, {"Mcp-Name": "=?base64?!!!?="})
    assert status == 400 and error_code(body) == -32020
    # the header and _meta name different (supported) revisions
    status, _, body = echo.modern("tools/call", args, {"MCP-Protocol-Version": "2025-11-25"})
    assert status == 400 and error_code(body) == -32020
    # a modern header without the per-request _meta envelope
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"})
    assert status == 400 and error_code(body) == -32602
    # clientCapabilities is required in the envelope
    status, _, body = echo.modern("tools/list", meta={"io.modelcontextprotocol/protocolVersion": MODERN})
    assert status == 400 and error_code(body) == -32602


def test_modern_unsupported_version(echo):
    meta = dict(MODERN_META)
    meta["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    status, _, body = echo.modern("tools/list", meta=meta, headers={"MCP-Protocol-Version": "2099-01-01"})
    assert status == 400 and error_code(body) == -32022
    data = body["error"]["data"]
    assert data["requested"] == "2099-01-01" and MODERN in data["supported"] and "2025-11-25" in data["supported"]


def test_modern_version_can_be_turned_off(procs):
    e = start_echo(procs, MCP_PROTOCOL_VERSIONS_SUPPORTED="2025-11-25,2025-06-18")
    status, _, body = e.modern("tools/list")
    assert status == 400 and error_code(body) == -32022
    assert body["error"]["data"]["supported"] == ["2025-11-25", "2025-06-18"]


def test_modern_unknown_method_is_404_and_no_ping(echo):
    status, _, body = echo.modern("resources/list")
    assert status == 404 and error_code(body) == -32601
    status, _, body = echo.modern("ping")
    assert status == 404 and error_code(body) == -32601
    status, _, body = echo.modern("initialize", {"protocolVersion": MODERN})
    assert status == 404 and error_code(body) == -32601


def test_modern_notification_and_batch(echo):
    status, _, _ = echo.post({"jsonrpc": "2.0", "method": "notifications/whatever"},
                             {"MCP-Protocol-Version": MODERN, "Mcp-Method": "notifications/whatever"})
    assert status == 202
    status, _, body = echo.post([{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": MODERN_META}}],
                                {"MCP-Protocol-Version": MODERN})
    assert status == 400 and error_code(body) == -32600
    status, _, body = echo.post({"jsonrpc": "2.0", "id": 1, "result": {}}, {"MCP-Protocol-Version": MODERN})
    assert status == 400 and error_code(body) == -32600


def test_modern_on_stateful_service_is_stateless(stateful):
    status, headers, body = stateful.modern("tools/call", {"name": "echo", "arguments": {"message": "m"}},
                                            {"Mcp-Session-Id": "f" * 32})
    assert status == 200 and "mcp-session-id" not in headers and text_of(body["result"]) == "m"
    _, _, body = stateful.modern("tools/call", {"name": "replayLastEcho", "arguments": {}})
    assert body["result"]["isError"] is True
    for method in ("GET", "DELETE"):
        status, _, _ = http(method, stateful.url, headers={"MCP-Protocol-Version": MODERN, "Accept": "text/event-stream"})
        assert status == 405


def test_modern_sse_answer(echo):
    status, headers, messages = echo.modern("tools/call", {"name": "echo", "arguments": {"message": "s"}},
                                            {"Accept": "text/event-stream"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert messages[-1]["result"]["resultType"] == "complete"


# ---- sessions (stateful service) ---------------------------------------------------------------


def test_session_lifecycle(stateful):
    sid, result = stateful.initialize("2025-11-25")
    assert re.fullmatch(r"[0-9a-f]{32}", sid) and result["serverInfo"]["name"] == "mcp-echo-stateful"
    h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": "2025-11-25"}
    status, _, _ = stateful.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
    assert status == 202
    _, _, body = stateful.post({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, h)
    assert {t["name"] for t in body["result"]["tools"]} == {"echo", "replayLastEcho"}
    _, _, body = stateful.call("replayLastEcho", {}, h)
    assert body["result"]["isError"] is True
    _, headers, body = stateful.call("echo", {"message": "remember me"}, h)
    assert text_of(body["result"]) == "remember me" and headers.get("mcp-session-id") == sid
    _, _, body = stateful.call("replayLastEcho", {}, h)
    assert text_of(body["result"]) == "remember me"
    # another session has its own memory
    sid2, _ = stateful.initialize()
    assert sid2 != sid
    _, _, body = stateful.call("replayLastEcho", {}, {"Mcp-Session-Id": sid2})
    assert body["result"]["isError"] is True
    status, _, body = http("GET", f"http://127.0.0.1:{stateful.port}/metrics")
    assert 'mcp_sessions_active{service="mcp-echo"} 2' in body.decode()
    # missing and unknown sessions
    status, _, body = stateful.call("echo", {"message": "x"})
    assert status == 400
    status, _, body = stateful.call("echo", {"message": "x"}, {"Mcp-Session-Id": "0" * 32})
    assert status == 404 and error_code(body) == -32001
    # DELETE ends it; afterwards 404
    status, _, _ = http("DELETE", stateful.url, headers=h)
    assert status == 204
    status, _, _ = stateful.call("echo", {"message": "x"}, h)
    assert status == 404
    status, _, _ = http("DELETE", stateful.url, headers=h)
    assert status == 404
    status, _, _ = http("DELETE", stateful.url)
    assert status == 400


def test_session_batch_in_2025_03_26(stateful):
    sid, result = stateful.initialize("2025-03-26")
    assert result["protocolVersion"] == "2025-03-26"
    h = {"Mcp-Session-Id": sid}
    status, _, body = stateful.post([{"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                      "params": {"name": "echo", "arguments": {"message": "one"}}},
                                     {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                      "params": {"name": "replayLastEcho", "arguments": {}}}], h)
    assert status == 200 and [r["id"] for r in body] == [1, 2]
    sid2, _ = stateful.initialize("2025-06-18")
    status, _, body = stateful.post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}], {"Mcp-Session-Id": sid2})
    assert status == 400 and error_code(body) == -32600


def open_stream(port, sid, timeout=10):
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", "/mcp", headers={"Accept": "text/event-stream", "Mcp-Session-Id": sid,
                                         "MCP-Protocol-Version": "2025-11-25"})
    return conn, conn.getresponse()


def test_get_stream_closes_when_session_is_deleted(stateful):
    sid, _ = stateful.initialize()
    conn, resp = open_stream(stateful.port, sid)
    try:
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
        assert resp.getheader("Mcp-Session-Id") == sid
        status, _, body = http("GET", stateful.url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": sid})
        assert status == 409  # one stream per session
        status, _, _ = http("GET", stateful.url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": "1" * 32})
        assert status == 404
        status, _, _ = http("GET", stateful.url, headers={"Accept": "text/event-stream"})
        assert status == 400
        status, _, _ = http("GET", stateful.url, headers={"Accept": "application/json", "Mcp-Session-Id": sid})
        assert status == 406
        status, _, body = http("GET", f"http://127.0.0.1:{stateful.port}/metrics")
        assert 'mcp_sse_streams_active{service="mcp-echo"} 1' in body.decode()
        status, _, _ = http("DELETE", stateful.url, headers={"Mcp-Session-Id": sid})
        assert status == 204
        rest = resp.read()  # the server ends the stream: this returns instead of timing out
        assert b"data:" not in rest
    finally:
        conn.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        _, _, body = http("GET", f"http://127.0.0.1:{stateful.port}/metrics")
        if 'mcp_sse_streams_active{service="mcp-echo"} 0' in body.decode():
            break
        time.sleep(0.05)
    else:
        pytest.fail("stream gauge did not return to 0")


def test_get_stream_ends_on_shutdown(procs):
    e = start_echo(procs, "--stateful")
    sid, _ = e.initialize()
    conn, resp = open_stream(e.port, sid)
    assert resp.status == 200
    result = {}

    def reader():
        try:
            result["rest"] = resp.read()
        except Exception as exc:  # connection reset is fine too
            result["error"] = exc

    t = threading.Thread(target=reader)
    t.start()
    started = time.time()
    assert e.proc.stop() == 0
    t.join(10)
    assert not t.is_alive() and time.time() - started < 8  # drained, not the full shutdown timeout
    conn.close()


def test_idle_sessions_expire(procs):
    e = start_echo(procs, "--stateful", MCP_SESSION_TIMEOUT="1")
    sid, _ = e.initialize()
    status, _, _ = e.call("echo", {"message": "x"}, {"Mcp-Session-Id": sid})
    assert status == 200
    time.sleep(2.2)
    status, _, body = e.call("echo", {"message": "x"}, {"Mcp-Session-Id": sid})
    assert status == 404 and error_code(body) == -32001


def test_session_cap(procs):
    e = start_echo(procs, "--stateful", MCP_MAX_SESSIONS="2")
    e.initialize()
    sid, _ = e.initialize()
    status, headers, body = e.post({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                    "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                               "clientInfo": {"name": "x", "version": "1"}}})
    assert status == 503 and "retry-after" in headers and "error" in body
    http("DELETE", e.url, headers={"Mcp-Session-Id": sid})
    e.initialize()  # room again


def test_stateful_from_environment(procs):
    e = start_echo(procs, MCP_ECHO_STATEFUL="true")
    sid, _ = e.initialize()
    assert sid


def test_client_disconnect_mid_stream_is_clean(stateful):
    sid, _ = stateful.initialize()
    for _ in range(3):
        conn, resp = open_stream(stateful.port, sid)
        assert resp.status == 200
        conn.close()  # the client goes away; the server must free the stream and let a new one in
        deadline = time.time() + 5
        while time.time() < deadline:
            status, _, _ = http("GET", stateful.url, headers={"Accept": "text/event-stream", "Mcp-Session-Id": "0" * 32})
            _, _, body = http("GET", f"http://127.0.0.1:{stateful.port}/metrics")
            if 'mcp_sse_streams_active{service="mcp-echo"} 0' in body.decode():
                break
            time.sleep(0.05)
    assert stateful.proc.alive()


# ---- asynchronous tool calls (echo's delay_ms) -------------------------------------------------


def test_delayed_call_json_and_sse_progress(echo):
    started = time.time()
    status, _, body = echo.call("echo", {"message": "later", "delay_ms": 300})
    assert status == 200 and text_of(body["result"]) == "later" and time.time() - started >= 0.29
    status, headers, messages = echo.post({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                                           "params": {"name": "echo", "arguments": {"message": "p", "delay_ms": 200},
                                                      "_meta": {"progressToken": "tok"}}})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    progress = [m for m in messages if m.get("method") == "notifications/progress"]
    assert [p["params"]["progress"] for p in progress] == [0, 1]
    assert all(p["params"]["progressToken"] == "tok" for p in progress)
    assert messages[-1]["id"] == 5 and text_of(messages[-1]["result"]) == "p"
    _, _, body = echo.call("echo", {"message": "x", "delay_ms": 20000})
    assert body["result"]["isError"] is True


def test_delayed_batch_answers_when_all_are_done(echo):
    status, _, body = echo.post([{"jsonrpc": "2.0", "id": i, "method": "tools/call",
                                  "params": {"name": "echo", "arguments": {"message": str(i), "delay_ms": 50 * i}}}
                                 for i in (3, 1, 2)])
    assert status == 200 and sorted(r["id"] for r in body) == [1, 2, 3]
    assert all(text_of(r["result"]) == str(r["id"]) for r in body)


def test_client_gone_during_delayed_call(echo):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "echo", "arguments": {"message": "bye", "delay_ms": 3000}}}).encode()
    for accept in (b"application/json", b"text/event-stream"):
        req = (b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: " + accept +
               b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        raw_request(echo.port, req, timeout=0.3)  # gives up (and closes) long before the answer
    deadline = time.time() + 5
    while time.time() < deadline:
        _, _, text = http("GET", f"http://127.0.0.1:{echo.port}/metrics")
        m = re.search(r'mcp_tool_calls_total\{service="mcp-echo",tool="echo",status="error"\} (\d+)', text.decode())
        if m and int(m.group(1)) == 2:  # both calls were cancelled, not left running
            break
        time.sleep(0.05)
    else:
        pytest.fail("cancelled calls were not finished")
    assert 'mcp_sse_streams_active{service="mcp-echo"} 0' in text.decode()
    _, _, reply = echo.call("echo", {"message": "still fine"})
    assert text_of(reply["result"]) == "still fine"


# ---- the official TypeScript SDK ---------------------------------------------------------------


def node_client(url, mode, *flags):
    if not shutil.which("node") or not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol")):
        subprocess.run([os.path.join(NODE_DIR, "install")], check=True, timeout=600)
    out = subprocess.run(["node", os.path.join(NODE_DIR, "client.mjs"), url, mode, *flags],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sdk_v1_stateless(echo):
    out = node_client(echo.url, "legacy")
    assert out["protocolVersion"] == "2025-11-25" and out["sessionId"] is None
    assert out["tools"] == ["echo", "printHeader"]
    assert out["echo"] == "hello from the SDK" and out["header"] == "e2e-user"
    assert out["badArgumentsIsError"]


def test_sdk_v1_stateful_session(stateful):
    out = node_client(stateful.url, "legacy", "--stateful")
    assert re.fullmatch(r"[0-9a-f]{32}", out["sessionId"])
    assert out["tools"] == ["echo", "replayLastEcho"]
    assert out["echo"] == "hello from the SDK" and out["replay"] == "hello from the SDK"
    assert out["terminated"] and out["afterDelete"] == 404


def test_sdk_v2_modern(echo):
    out = node_client(echo.url, "modern")
    assert out["protocolVersion"] == MODERN and out["sessionId"] is None
    assert out["tools"] == ["echo", "printHeader"] and out["echo"] == "hello from the SDK"
    assert out["header"] == "e2e-user"
    assert out["server"]["name"] == "mcp-echo-stateless"


def test_sdk_v2_modern_against_stateful(stateful):
    out = node_client(stateful.url, "modern", "--stateful")
    assert out["protocolVersion"] == MODERN and out["sessionId"] is None
    assert out["echo"] == "hello from the SDK"
