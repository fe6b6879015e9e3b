"""
End-to-end tests of `mcpgw fetch` (mcp-fetch): the real binary on a loopback port against a local
Python http.server fixture (HTML pages, redirects, robots.txt variants, a large page, binary,
JSON), spoken to with raw MCP JSON-RPC POSTs and with the official TypeScript SDK client
(tests/e2e/node/fetch_client.mjs).

The fixture lives on 127.0.0.1, so fetching it needs FETCH_ALLOW_PRIVATE=true. The SSRF
refusals are tested without it. The "redirect from an allowed server to a private address"
case needs an allowed server, which on one machine is necessarily a loopback one: the service
runs with FETCH_ALLOW_PRIVATE=true and FETCH_DENY_ADDRESSES=127.0.0.2, the fixture on 127.0.0.1
redirects to a second fixture on 127.0.0.2, and the refusal (with the second fixture never
contacted) shows the address filter runs on the redirect's connection; the same redirect without
the deny entry succeeds, so it is the filter and nothing else that refused it.
"""
import http.server as httpserver
import json
import os
import shutil
import subprocess
import socket
import threading
import time

import pytest

from conftest import ROOT, bare_env, free_port, http, mcpgw_bin, wait_for_http

NODE_DIR = os.path.join(ROOT, "tests", "e2e", "node")
MODERN = "2026-07-28"
UA_AUTONOMOUS = "ModelContextProtocol/1.0 (Autonomous; +https://github.com/modelcontextprotocol/servers)"

ARTICLE = """<!doctype html><html><head><title>Fixture</title><style>body{color:red}</style>
<script>var tracking = "SCRIPT-JUNK";</script></head><body>
<nav><a href="/">NAV-JUNK</a></nav><header>HEADER-JUNK</header>
<main><h1>Fixture Title</h1><p>First paragraph with <a href="/other.html">a link</a> and <b>bold</b>.</p>
<h2>Lists</h2><ul><li>alpha</li><li>beta</li></ul>
<table><tr><th>k</th><th>v</th></tr><tr><td>x</td><td>1</td></tr></table>
<pre><code>code   block</code></pre><p>caf&eacute; &amp; 日本</p></main>
<aside>ASIDE-JUNK</aside><footer>FOOTER-JUNK</footer></body></html>"""


class Fixture:
    """A threaded http.server on (host, free port) recording every request path it serves."""

    def __init__(self, host="127.0.0.1", robots=(200, "User-agent: *\nDisallow: /private\n")):
        self.host = host
        self.robots = robots
        self.requests = []
        self.user_agents = []
        self.redirect_target = None
        self.slow_started = threading.Event()
        self.release = threading.Event()
        fixture = self

        class Handler(httpserver.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, ctype, body, extra=None):
                self.send_response(status)
                if ctype:
                    self.send_header("Content-Type", ctype)
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client stopped at its size cap
                    pass

            def do_GET(self):
                fixture.requests.append(self.path)
                fixture.user_agents.append(self.headers.get("User-Agent", ""))
                p = self.path
                if p == "/robots.txt":
                    status, text = fixture.robots
                    self.send(status, "text/plain", text.encode())
                elif p in ("/page.html", "/private/page.html"):
                    self.send(200, "text/html; charset=utf-8", ARTICLE.encode())
                elif p == "/large.html":
                    paras = "".join(f"<p>Paragraph number {i} of the large page.</p>" for i in range(5000))
                    self.send(200, "text/html", f"<html><body>{paras}</body></html>".encode())
                elif p == "/huge.txt":
                    self.send(200, "text/plain", b"x" * (3 * 1024 * 1024))
                elif p == "/redirect":
                    self.send(302, None, b"", {"Location": "/page.html"})
                elif p == "/redirect-away":
                    self.send(302, None, b"", {"Location": fixture.redirect_target})
                elif p == "/loop":
                    self.send(302, None, b"", {"Location": "/loop"})
                elif p == "/data.json":
                    self.send(200, "application/json", b'{"name":"fixture","items":[1,2,3]}')
                elif p == "/notes.txt":
                    self.send(200, "text/plain; charset=utf-8", "plain text notes \u00e9\n".encode())
                elif p == "/latin1.txt":
                    self.send(200, "text/plain; charset=iso-8859-1", "caf\u00e9 cr\u00e8me".encode("latin-1"))
                elif p == "/slow":
                    fixture.slow_started.set()
                    fixture.release.wait(20)
                    self.send(200, "text/plain", b"finally")
                elif p == "/image.png":
                    self.send(200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
                elif p == "/blob":
                    self.send(200, "application/octet-stream", bytes(range(256)) * 8)
                elif p == "/untyped-binary":
                    self.send(200, None, b"\x00\x01\x02binary\x00" * 50)
                else:
                    self.send(404, "text/plain", b"not found")

        self.server = httpserver.ThreadingHTTPServer((host, 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://{self.host}:{self.port}{path}"

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site():
    f = Fixture()
    yield f
    f.close()


class FetchService:
    def __init__(self, proc, port):
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"

    def post(self, body, headers=None):
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        h.update(headers or {})
        status, _, raw = http("POST", self.url, json.dumps(body).encode(), h, timeout=60)
        return status, json.loads(raw) if raw else None

    def fetch(self, **arguments):
        """tools/call fetch; returns (text, isError)."""
        status, body = self.post({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                  "params": {"name": "fetch", "arguments": arguments}})
        assert status == 200, body
        assert "result" in body, body
        result = body["result"]
        return "".join(c["text"] for c in result["content"] if c["type"] == "text"), result.get("isError", False)


def start_fetch(procs, **env):
    port = free_port()
    proc = procs.start([mcpgw_bin(), "fetch", "--port", str(port), "--workers", "2"],
                       env=bare_env(**env), name="mcp-fetch")
    wait_for_http(f"http://127.0.0.1:{port}/health", proc=proc)
    return FetchService(proc, port)


@pytest.fixture
def fetcher(procs):
    return start_fetch(procs, FETCH_ALLOW_PRIVATE="true")


# ---- fetching, converting, paging ---------------------------------------------------------------


def test_html_page_as_markdown(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/page.html"), max_length=100000)
    assert not is_error, text
    assert text.startswith(f"Contents of {site.url('/page.html')}:\n# Fixture Title\n")
    assert f"[a link]({site.url('/other.html')})" in text
    assert "**bold**" in text and "## Lists" in text and "- alpha\n- beta" in text
    assert "| k | v |\n| --- | --- |\n| x | 1 |" in text
    assert "```\ncode   block\n```" in text
    assert "café & 日本" in text
    for junk in ("SCRIPT-JUNK", "NAV-JUNK", "HEADER-JUNK", "ASIDE-JUNK", "FOOTER-JUNK", "color:red"):
        assert junk not in text
    # robots.txt was asked for first, with the autonomous user agent, then the page.
    assert site.requests[:2] == ["/robots.txt", "/page.html"]
    assert site.user_agents[0] == UA_AUTONOMOUS and site.user_agents[1] == UA_AUTONOMOUS


def test_raw_returns_html(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/page.html"), raw=True, max_length=100000)
    assert not is_error
    assert "<main><h1>Fixture Title</h1>" in text and "SCRIPT-JUNK" in text


def test_paging_with_start_index(fetcher, site):
    first, is_error = fetcher.fetch(url=site.url("/large.html"))  # default max_length 5000
    assert not is_error
    hint = "<error>Content truncated. Call the fetch tool with a start_index of 5000 to get more content.</error>"
    assert first.endswith("\n\n" + hint)
    body = first[len(f"Contents of {site.url('/large.html')}:\n"):-len("\n\n" + hint)]
    assert len(body) == 5000 and body.startswith("Paragraph number 0 of the large page.")
    second, _ = fetcher.fetch(url=site.url("/large.html"), start_index=5000, max_length=5000)
    assert "start_index of 10000" in second
    # Pages join up: the character before 5000 and after it continue the same text.
    whole, _ = fetcher.fetch(url=site.url("/large.html"), max_length=999999)
    full = whole[len(f"Contents of {site.url('/large.html')}:\n"):]
    assert "Content truncated" not in whole and full.endswith("Paragraph number 4999 of the large page.")
    assert full[:5000] == body
    assert second[len(f"Contents of {site.url('/large.html')}:\n"):].startswith(full[5000:5100])
    past, is_error = fetcher.fetch(url=site.url("/large.html"), start_index=len(full) + 10)
    assert "<error>No more content available.</error>" in past


def test_redirect_followed(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/redirect"))
    assert not is_error and "# Fixture Title" in text
    assert "/redirect" in site.requests and "/page.html" in site.requests


def test_redirect_loop_capped(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/loop"))
    assert is_error and "redirect" in text.lower()
    assert 2 <= site.requests.count("/loop") <= 7  # 5 redirects followed at most


def test_json_pretty_and_text(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/data.json"))
    assert not is_error
    assert '{\n  "name": "fixture",\n  "items": [\n    1,\n    2,\n    3\n  ]\n}' in text
    text, is_error = fetcher.fetch(url=site.url("/notes.txt"))
    assert not is_error and "plain text notes é" in text
    assert "Content type text/plain; charset=utf-8 cannot be simplified to markdown" in text


def test_binary_is_a_tool_error(fetcher, site):
    for path, ctype in (("/image.png", "image/png"), ("/blob", "application/octet-stream"),
                        ("/untyped-binary", "unknown")):
        text, is_error = fetcher.fetch(url=site.url(path))
        assert is_error, text
        assert "binary" in text and ctype in text


def test_charset_converted(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/latin1.txt"))
    assert not is_error and text.endswith("café crème")


def test_timeout(procs, site):
    svc = start_fetch(procs, FETCH_ALLOW_PRIVATE="true", FETCH_IGNORE_ROBOTS="true", FETCH_TIMEOUT="1")
    text, is_error = svc.fetch(url=site.url("/slow"))
    assert is_error and text == f"Failed to fetch {site.url('/slow')}: no complete answer within 1 seconds"


def test_client_gone_mid_fetch(procs, site):
    """A client that hangs up while the page is being fetched: the call is cancelled, the
    transfer dropped, and the service carries on (the ASan run checks nothing leaked)."""
    svc = start_fetch(procs, FETCH_ALLOW_PRIVATE="true", FETCH_IGNORE_ROBOTS="true")
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "fetch", "arguments": {"url": site.url("/slow")}}}).encode()
    s = socket.create_connection(("127.0.0.1", svc.port))
    s.sendall(b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Accept: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    assert site.slow_started.wait(10)
    s.close()
    text, is_error = svc.fetch(url=site.url("/page.html"))
    assert not is_error and "# Fixture Title" in text
    _, _, metrics = http("GET", f"http://127.0.0.1:{svc.port}/metrics")
    deadline = time.time() + 10
    while b'mcp_fetch_outcomes_total{outcome="cancelled"} 1' not in metrics and time.time() < deadline:
        time.sleep(0.05)
        _, _, metrics = http("GET", f"http://127.0.0.1:{svc.port}/metrics")
    assert b'mcp_fetch_outcomes_total{outcome="cancelled"} 1' in metrics
    assert b'mcp_fetch_outcomes_total{outcome="ok"} 1' in metrics


def test_shutdown_during_fetch(procs, site):
    svc = start_fetch(procs, FETCH_ALLOW_PRIVATE="true", FETCH_IGNORE_ROBOTS="true")
    result = {}

    def call():
        try:
            result["reply"] = svc.fetch(url=site.url("/slow"))
        except Exception as e:  # the connection may be closed instead of answered
            result["error"] = e

    t = threading.Thread(target=call)
    t.start()
    assert site.slow_started.wait(10)
    assert svc.proc.stop() == 0
    t.join(30)
    assert not t.is_alive()


def test_http_error_status(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/missing"))
    assert is_error and text == f"Failed to fetch {site.url('/missing')} - status code 404"


def test_size_cap(procs, site):
    svc = start_fetch(procs, FETCH_ALLOW_PRIVATE="true", FETCH_MAX_BYTES="1048576")
    text, is_error = svc.fetch(url=site.url("/huge.txt"))
    assert is_error and "larger than 1048576 bytes" in text


def test_bad_arguments(fetcher):
    text, is_error = fetcher.fetch(url="file:///etc/passwd")
    assert is_error and "only absolute http and https" in text
    text, is_error = fetcher.fetch(url="ftp://example.com/x")
    assert is_error and "http and https" in text
    status, body = fetcher.post({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                 "params": {"name": "fetch", "arguments": {"url": "http://x/", "max_length": 0}}})
    assert status == 200 and body["error"]["code"] == -32602
    status, body = fetcher.post({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                                 "params": {"name": "fetch", "arguments": {}}})
    assert status == 200 and ("error" in body or body["result"].get("isError"))


# ---- robots.txt ------------------------------------------------------------------------------


def test_robots_disallow(fetcher, site):
    text, is_error = fetcher.fetch(url=site.url("/private/page.html"))
    assert is_error
    assert f"The sites robots.txt ({site.url('/robots.txt')}), specifies that autonomous fetching" in text
    assert "/private/page.html" not in site.requests  # never fetched
    # The prompt is user-initiated: no robots.txt check, and the user-specified agent.
    status, body = fetcher.post({"jsonrpc": "2.0", "id": 5, "method": "prompts/get",
                                 "params": {"name": "fetch", "arguments": {"url": site.url("/private/page.html")}}})
    assert status == 200
    msg = body["result"]["messages"][0]
    assert msg["role"] == "user" and "# Fixture Title" in msg["content"]["text"]
    assert "User-Specified" in site.user_agents[site.requests.index("/private/page.html")]


@pytest.mark.parametrize("robots,allowed", [
    ((404, "nothing here"), True),
    ((403, "forbidden"), False),
    ((200, f"User-agent: *\nDisallow:\n\nUser-agent: ModelContextProtocol\nDisallow: /page\n"), False),
    ((200, "User-agent: *\nDisallow: /\nAllow: /page.html$\n"), True),
    ((200, "User-agent: SomeOtherBot\nDisallow: /\n"), True),
])
def test_robots_variants(fetcher, robots, allowed):
    f = Fixture(robots=robots)
    try:
        text, is_error = fetcher.fetch(url=f.url("/page.html"))
        assert is_error == (not allowed), text
        assert ("/page.html" in f.requests) == allowed
        # The verdict is cached per origin: a second call does not fetch robots.txt again.
        fetcher.fetch(url=f.url("/page.html"))
        assert f.requests.count("/robots.txt") == 1
    finally:
        f.close()


def test_robots_ignored_when_configured(procs, site):
    svc = start_fetch(procs, FETCH_ALLOW_PRIVATE="true", FETCH_IGNORE_ROBOTS="true")
    text, is_error = svc.fetch(url=site.url("/private/page.html"))
    assert not is_error and "# Fixture Title" in text
    assert "/robots.txt" not in site.requests


# ---- SSRF ------------------------------------------------------------------------------------


def test_private_addresses_refused_by_default(procs, site):
    svc = start_fetch(procs)  # FETCH_ALLOW_PRIVATE unset
    for url in (site.url("/page.html"), "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                f"http://[::ffff:127.0.0.1]:{site.port}/page.html", f"http://localhost:{site.port}/page.html",
                "http://[::1]/", "http://100.64.0.1/"):
        text, is_error = svc.fetch(url=url)
        assert is_error, url
        assert text.startswith("Refused to fetch") and "non-public address" in text, text
    # Nothing reached the fixture: the refusal happened before the connection.
    assert site.requests == []
    # The prompt is refused the same way.
    status, body = svc.post({"jsonrpc": "2.0", "id": 6, "method": "prompts/get",
                             "params": {"name": "fetch", "arguments": {"url": site.url("/page.html")}}})
    assert "Refused to fetch" in body["result"]["messages"][0]["content"]["text"]
    assert site.requests == []


def second_loopback_fixture():
    try:
        return Fixture(host="127.0.0.2")
    except OSError:
        pytest.skip("cannot bind 127.0.0.2")


def test_redirect_to_denied_address_refused(procs, site):
    inner = second_loopback_fixture()
    try:
        site.redirect_target = inner.url("/page.html")
        svc = start_fetch(procs, FETCH_ALLOW_PRIVATE="true", FETCH_DENY_ADDRESSES="127.0.0.2", FETCH_IGNORE_ROBOTS="true")
        text, is_error = svc.fetch(url=site.url("/redirect-away"))
        assert is_error and text.startswith("Refused to fetch"), text
        assert site.requests == ["/redirect-away"] and inner.requests == []
        # A direct request to the denied address is refused as well.
        text, is_error = svc.fetch(url=inner.url("/page.html"))
        assert is_error and inner.requests == []
        # Control: the same redirect without the deny entry is followed.
        open_svc = start_fetch(procs, FETCH_ALLOW_PRIVATE="true", FETCH_IGNORE_ROBOTS="true")
        text, is_error = open_svc.fetch(url=site.url("/redirect-away"))
        assert not is_error and "# Fixture Title" in text and inner.requests == ["/page.html"]
    finally:
        inner.close()


def test_bad_deny_address_is_a_config_error(procs):
    out = subprocess.run([mcpgw_bin(), "fetch", "--port", str(free_port())],
                         env=bare_env(FETCH_DENY_ADDRESSES="not-an-ip"), capture_output=True, text=True, timeout=30)
    assert out.returncode == 78 and "FETCH_DENY_ADDRESSES" in out.stderr + out.stdout


# ---- protocol and SDK ------------------------------------------------------------------------


def test_tools_and_prompts_listed(fetcher):
    status, body = fetcher.post({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
    tool = body["result"]["tools"][0]
    assert tool["name"] == "fetch"
    props = tool["inputSchema"]["properties"]
    assert tool["inputSchema"]["required"] == ["url"]
    assert props["max_length"]["default"] == 5000 and props["start_index"]["default"] == 0
    assert props["raw"]["default"] is False
    status, body = fetcher.post({"jsonrpc": "2.0", "id": 2, "method": "prompts/list", "params": {}})
    prompt = body["result"]["prompts"][0]
    assert prompt["name"] == "fetch" and prompt["arguments"][0] == {"name": "url", "description": "URL to fetch",
                                                                   "required": True}


def test_modern_revision_call(fetcher, site):
    meta = {"io.modelcontextprotocol/protocolVersion": MODERN, "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "pytest", "version": "1"}}
    status, body = fetcher.post(
        {"jsonrpc": "2.0", "id": 9, "method": "tools/call",
         "params": {"name": "fetch", "arguments": {"url": site.url("/page.html")}, "_meta": meta}},
        {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": "fetch"})
    assert status == 200, body
    assert "# Fixture Title" in body["result"]["content"][0]["text"]


@pytest.mark.parametrize("mode,version", [("legacy", "2025-11-25"), ("modern", MODERN)])
def test_sdk_client(fetcher, site, mode, version):
    if not shutil.which("node") or not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@modelcontextprotocol")):
        subprocess.run([os.path.join(NODE_DIR, "install")], check=True, timeout=600)
    out = subprocess.run(["node", os.path.join(NODE_DIR, "fetch_client.mjs"), fetcher.url, site.url("/page.html"), mode],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["protocolVersion"] == version
    assert res["tools"] == ["fetch"] and res["server"]["name"] == "mcp-fetch"
    assert res["first"].startswith(f"Contents of {site.url('/page.html')}:\n# Fixture Title")
    assert not res["firstIsError"] and res["nextIndex"] == 100
    assert "Content truncated" not in res["rest"] and "café & 日本" in res["rest"]
    assert res["prompts"] == ["fetch"] and res["promptRole"] == "user" and "# Fixture Title" in res["promptText"]
