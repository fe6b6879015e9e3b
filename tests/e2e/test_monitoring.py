"""
The monitoring pack (monitoring/): Prometheus configuration, alert rules, Grafana dashboards and
`mcpgw import-dashboards`.

- promtool checks the shipped prometheus.yml and alerts.yml and runs the alert unit tests
  (monitoring/tests/*.yml: every alert fires on synthetic series and stays quiet on healthy ones).
- The guide's three rules are there exactly as written; every rule names a runbook command.
- The dashboards are Grafana models of the current schema with stable uids.
- import-dashboards against a stand-in of Grafana's folder and dashboard API (fake_grafana.py):
  success, an idempotent second run, 401, 404, unreachable, missing configuration, a bad file.
- The live check (test_live_*): Debian's prometheus scrapes a real stack with the shipped
  configuration and rules (targets and durations shortened), faults are induced, and the alerts go
  pending/firing and resolve; every dashboard expression returns data.
"""
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from http.client import HTTPConnection, HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from conftest import ROOT, bare_env, free_port, http, mcpgw_bin
from fake_grafana import FakeGrafana
from test_ops import Stack

MON = os.path.join(ROOT, "monitoring")
DASHBOARD_UIDS = {"mcpgw-overview", "mcpgw-auth", "mcpgw-mcp", "mcpgw-resources", "mcpgw-redis"}

GUIDE_RULES = {
    "ServiceDown": ('up{job="mcp-gateway"} == 0', "5m"),
    "HighErrorRate": ('rate(http_requests_total{status=~"5.."}[5m]) > 0.1', "5m"),
    "SlowRequests": ('http_request_duration_seconds{quantile="0.99"} > 2', "10m"),
}


def promtool(*args, cwd=MON):
    return subprocess.run(["promtool", *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def load_rules():
    with open(os.path.join(MON, "alerts.yml")) as f:
        return [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]


def load_dashboards():
    out = {}
    for path in sorted(glob.glob(os.path.join(MON, "dashboards", "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def dashboard_exprs():
    """(file, panel title, expr) for every query in every dashboard."""
    found = []
    for name, d in load_dashboards().items():
        for p in d["panels"]:
            for t in p.get("targets", []):
                found.append((name, p["title"], t["expr"]))
    return found


# ---- promtool ----

def test_promtool_check_config_and_rules():
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 1 rule files found" in r.stdout
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SUCCESS: {len(load_rules())} rules found" in r.stdout


def test_promtool_rule_unit_tests_cover_every_alert():
    tests = sorted(glob.glob(os.path.join(MON, "tests", "*.yml")))
    assert tests
    r = promtool("test", "rules", *tests, cwd=os.path.join(MON, "tests"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout
    # every alert is expected firing somewhere, and expected quiet somewhere
    fired, quiet = set(), set()
    for path in tests:
        with open(path) as f:
            for case in yaml.safe_load(f)["tests"]:
                for t in case.get("alert_rule_test", []):
                    (fired if t.get("exp_alerts") else quiet).add(t["alertname"])
    names = {r["alert"] for r in load_rules()}
    assert names - fired == set(), f"alerts never shown firing: {names - fired}"
    assert names - quiet == set(), f"alerts never shown quiet: {names - quiet}"


# ---- the rules themselves ----

def test_guide_rules_exactly_as_written():
    rules = {r["alert"]: r for r in load_rules()}
    for name, (expr, duration) in GUIDE_RULES.items():
        assert rules[name]["expr"] == expr, name
        assert rules[name]["for"] == duration, name
    with open(os.path.join(MON, "prometheus.yml")) as f:
        conf = yaml.safe_load(f)
    assert [j["job_name"] for j in conf["scrape_configs"]] == ["mcp-gateway"]
    assert conf["rule_files"] == ["alerts.yml"]


def test_every_rule_has_summary_and_a_runbook_command():
    for r in load_rules():
        ann = r.get("annotations", {})
        assert ann.get("summary"), r["alert"]
        assert re.search(r"`mcpgw [a-z-]+", ann.get("description", "")), r["alert"]
        assert r.get("labels", {}).get("severity") in ("warning", "critical"), r["alert"]


def test_alert_metrics_are_exported_by_mcpgw():
    """Every metric an alert or dashboard uses is registered somewhere in src/ (or is a process_*
    metric or Prometheus' own `up`)."""
    src = ""
    for path in glob.glob(os.path.join(ROOT, "src", "*", "*.c")):
        with open(path) as f:
            src += f.read()
    exprs = [r["expr"] for r in load_rules()] + [e for _, _, e in dashboard_exprs()]
    names = set()
    for e in exprs:
        for n in re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?:\{|\[|\)|$| [<>=/*+-]| or| and)", e):
            if n.startswith(("http_", "auth_", "router_", "mcp_", "redis_", "service_", "tls_", "process_")):
                names.add(n)
    assert len(names) > 20
    for n in names:
        if n.startswith("process_"):
            continue
        assert f'"{n}"' in src, f"{n} is used by monitoring/ but no C file registers it"


# ---- dashboards ----

def test_dashboards_current_schema_and_stable_uids():
    boards = load_dashboards()
    assert {d["uid"] for d in boards.values()} == DASHBOARD_UIDS
    assert len(boards) == len(DASHBOARD_UIDS)
    for name, d in boards.items():
        assert d["schemaVersion"] >= 39, name
        assert d["id"] is None, name
        assert d["title"].startswith("mcpgw: "), name
        assert any(v["type"] == "datasource" and v["query"] == "prometheus" for v in d["templating"]["list"]), name
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), name
        for p in d["panels"]:
            assert p["targets"], (name, p["title"])
            for t in p["targets"]:
                assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, (name, p["title"])
            g = p["gridPos"]
            assert g["x"] + g["w"] <= 24, (name, p["title"])


def test_dashboards_cover_what_the_issue_lists():
    text = {name: json.dumps(d) for name, d in load_dashboards().items()}
    wanted = {
        "overview.json": ["http_requests_total", 'status=~\\"5..\\"', 'quantile=\\"0.5\\"', 'quantile=\\"0.99\\"'],
        "auth.json": ["auth_tokens_issued_total", "grant_type", "auth_active_tokens", "auth_failures_total",
                      "reason", "topk(10", "client_id"],
        "mcp.json": ["mcp_tool_calls_total", "tool", 'status=\\"error\\"', "mcp_sessions_active",
                     "mcp_sse_streams_active"],
        "resources.json": ["process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                           "service_restarts_total"],
        "redis.json": ["redis_memory_used_bytes", "redis_keys", "redis_connected_clients", "redis_up"],
    }
    for name, needles in wanted.items():
        for n in needles:
            assert n in text[name], (name, n)


# ---- import-dashboards against the Grafana stand-in ----

@pytest.fixture
def grafana():
    g = FakeGrafana().start()
    yield g
    g.stop()


def import_dashboards(workdir, url, key, *args):
    env = bare_env()
    with open(os.path.join(workdir, ".env"), "w") as f:
        if url is not None:
            f.write(f"GRAFANA_URL={url}\n")
        if key is not None:
            f.write(f"GRAFANA_API_KEY={key}\n")
        f.write(f"DASHBOARDS_DIR={os.path.join(MON, 'dashboards')}\n")
    r = subprocess.run([mcpgw_bin(), "import-dashboards", *args], cwd=workdir, env=env, capture_output=True,
                       text=True, timeout=120)
    for marker in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
        assert marker not in r.stderr, r.stderr[-4000:]
    return r


def test_import_dashboards_help():
    r = subprocess.run([mcpgw_bin(), "import-dashboards", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    assert r.stdout.startswith("Usage: mcpgw import-dashboards")
    assert "GRAFANA_URL" in r.stdout and "GRAFANA_API_KEY" in r.stdout
    r = subprocess.run([mcpgw_bin(), "import-dashboards", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown option --bogus" in r.stderr


def test_import_dashboards_creates_folder_then_is_idempotent(workdir, grafana):
    r = import_dashboards(workdir, grafana.url + "/", grafana.token)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Created folder mcpgw" in r.stdout
    assert "5 dashboards imported into folder mcpgw" in r.stdout
    assert grafana.token not in r.stdout + r.stderr
    assert grafana.problems == []
    assert list(grafana.folders) == ["mcpgw"] and grafana.folders["mcpgw"]["title"] == "mcpgw"
    assert set(grafana.dashboards) == DASHBOARD_UIDS
    files = {d["uid"]: d for d in load_dashboards().values()}
    for uid, saved in grafana.dashboards.items():
        assert saved["folderUid"] == "mcpgw"
        assert saved["version"] == 1
        posted = dict(saved["dashboard"])
        posted.pop("version"), posted.pop("id")
        want = dict(files[uid])
        want.pop("version"), want.pop("id")
        assert posted == want, uid  # the file, unchanged
        assert f"/d/{uid}/" in r.stdout
    posts = grafana.requests_to("POST", "/api/dashboards/db")
    assert len(posts) == 5
    for _, _, headers, body in posts:
        assert headers["authorization"] == f"Bearer {grafana.token}"
        assert headers["content-type"] == "application/json"
        sent = json.loads(body)
        assert sent["overwrite"] is True and sent["folderUid"] == "mcpgw"
        assert sent["dashboard"]["id"] is None
    assert len(grafana.requests_to("GET", "/api/folders/mcpgw")) == 1

    # again: the folder is found, not created; the same five dashboards get version 2
    r = import_dashboards(workdir, grafana.url, grafana.token)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Created folder" not in r.stdout
    assert len(grafana.requests_to("POST", "/api/folders")) == 1
    assert set(grafana.dashboards) == DASHBOARD_UIDS
    assert all(d["version"] == 2 for d in grafana.dashboards.values())
    assert len({d["id"] for d in grafana.dashboards.values()}) == 5
    assert grafana.problems == []


def test_import_dashboards_wrong_key_is_401(workdir, grafana):
    r = import_dashboards(workdir, grafana.url, "glsa_wrong_key_000")
    assert r.returncode == 1
    assert "Grafana refused GRAFANA_API_KEY (401 Unauthorized)" in r.stderr
    assert "glsa_wrong_key_000" not in r.stdout + r.stderr
    assert grafana.dashboards == {} and grafana.folders == {}
    # it stops at the first refusal instead of trying every dashboard
    assert len(grafana.requests) == 1


def test_import_dashboards_wrong_url_is_404(workdir, grafana):
    r = import_dashboards(workdir, grafana.url + "/grafana", grafana.token)
    assert r.returncode == 1
    assert "is GRAFANA_URL (" + grafana.url + "/grafana) Grafana's address" in r.stderr
    assert grafana.dashboards == {}
    assert grafana.requests[0][1] == "/grafana/api/folders/mcpgw"


def test_import_dashboards_unreachable(workdir):
    port = free_port()  # nothing listens there
    r = import_dashboards(workdir, f"http://127.0.0.1:{port}", "glsa_x")
    assert r.returncode == 1
    assert f"cannot reach Grafana at http://127.0.0.1:{port}" in r.stderr


def test_import_dashboards_needs_configuration(workdir):
    r = import_dashboards(workdir, None, None)
    assert r.returncode == 78
    assert "ERROR: Required variable GRAFANA_URL not set" in r.stderr
    assert "ERROR: Required variable GRAFANA_API_KEY not set" in r.stderr
    r = import_dashboards(workdir, "ftp://example.com", "k")
    assert r.returncode == 78 and "GRAFANA_URL" in r.stderr


def test_import_dashboards_refuses_a_bad_file_before_posting(workdir, grafana):
    bad = os.path.join(workdir, "boards")
    os.makedirs(bad)
    shutil.copy(os.path.join(MON, "dashboards", "redis.json"), bad)
    with open(os.path.join(bad, "broken.json"), "w") as f:
        f.write('{"title": "no uid", "panels": [], "schemaVersion": 39}')
    r = import_dashboards(workdir, grafana.url, grafana.token, "--dir", bad)
    assert r.returncode == 1
    assert "broken.json needs a \"uid\"" in r.stderr
    assert grafana.requests == []
    r = import_dashboards(workdir, grafana.url, grafana.token, "--dir", os.path.join(workdir, "none"))
    assert r.returncode == 1 and "cannot read the dashboards directory" in r.stderr


def test_import_dashboards_folder_title_taken(workdir, grafana):
    # someone made a folder called mcpgw by hand (another uid): say so instead of guessing
    grafana.folders["abc"] = {"id": 99, "uid": "abc", "title": "mcpgw", "version": 1}
    r = import_dashboards(workdir, grafana.url, grafana.token)
    assert r.returncode == 1
    assert "409 Conflict" in r.stderr and "with another uid exists" in r.stderr
    assert grafana.dashboards == {}


# ---- the live check: Debian's prometheus against a running stack ----

# The shipped windows are minutes to hours; the live check keeps every expression and swaps only
# the range windows and `for:` durations for seconds (scrapes and evaluations every second).
SHORT_WINDOWS = {"5m": "10s", "10m": "10s", "15m": "20s", "30m": "20s", "1h": "30s"}
SHORT_FOR = "2s"
DASHBOARD_VARS = {"$__rate_interval": "1m", "$__range": "5m", "$service": ".+"}


class FaultyUpstream:
    """An MCP upstream behind the router (MCP_<NAME>_URL) whose answers a test can spoil:
    mode "ok" (200 JSON-RPC result), "5xx" (500) or "slow" (answers after slow_seconds)."""

    def __init__(self):
        self.mode = "ok"
        self.slow_seconds = 2.5
        self.served = 0
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                super().setup()
                # head and body leave in two writes: without this, Nagle holds the body until
                # the router's delayed ACK, 40 ms a request
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args):
                pass

            def _answer(self, status, doc):
                out = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self):
                self._answer(200, {"status": "healthy"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                up.served += 1
                mode = up.mode
                if mode == "slow":
                    time.sleep(up.slow_seconds)
                try:
                    rid = json.loads(body).get("id")
                except (ValueError, AttributeError):
                    rid = None
                if mode == "5xx":
                    self._answer(500, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32603, "message": "boom"}})
                else:
                    self._answer(200, {"jsonrpc": "2.0", "id": rid, "result": {}})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


class Hammer:
    """Calls fn() again and again (every `every` seconds) on `threads` threads until stopped."""

    def __init__(self, fn, every=0.1, threads=1):
        self.stop_event = threading.Event()
        self.errors = []

        def loop():
            while not self.stop_event.is_set():
                try:
                    fn()
                except Exception as e:  # the fault under test may make calls fail; keep going
                    self.errors.append(repr(e))
                self.stop_event.wait(every)

        self.threads = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=30)


class Prometheus:
    def __init__(self, port, proc):
        self.url = f"http://127.0.0.1:{port}"
        self.proc = proc

    def api(self, path, **params):
        q = "?" + urllib.parse.urlencode(params) if params else ""
        status, _, body = http("GET", self.url + path + q, timeout=10)
        doc = json.loads(body)
        assert status == 200 and doc["status"] == "success", (path, params, body[:2000])
        return doc["data"]

    def query(self, expr):
        return self.api("/api/v1/query", query=expr)["result"]

    def alerts(self):
        return self.api("/api/v1/alerts")["alerts"]

    def wait(self, predicate, what, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            assert self.proc.alive(), f"prometheus exited:\n{self.proc.stderr()[-3000:]}"
            try:
                last = predicate()
                if last:
                    return last
            except OSError as e:  # not listening yet
                last = e
            time.sleep(0.5)
        what = what() if callable(what) else what
        raise AssertionError(f"timed out waiting for {what}; last: {last}\nalerts: {json.dumps(self.alerts())[:4000]}")


def shortened_rules(path_out):
    """alerts.yml with only `for:` and the [range] windows shortened; returns the rules by name."""
    with open(os.path.join(MON, "alerts.yml")) as f:
        doc = yaml.safe_load(f)
    by_name = {}
    for group in doc["groups"]:
        for rule in group["rules"]:
            original = rule["expr"]
            rule["expr"] = re.sub(r"\[(\w+)\]", lambda m: "[" + SHORT_WINDOWS[m.group(1)] + "]", original)
            # nothing but the windows changed
            assert re.sub(r"\[\w+\]", "[]", rule["expr"]) == re.sub(r"\[\w+\]", "[]", original)
            if "for" in rule:
                rule["for"] = SHORT_FOR
            by_name[rule["alert"]] = rule
    with open(path_out, "w") as f:
        yaml.safe_dump(doc, f, sort_keys=False)
    return by_name


def live_config(path_out, rules_path, ports):
    """monitoring/prometheus.yml with the test's ports, scrapes and evaluations every second."""
    with open(os.path.join(MON, "prometheus.yml")) as f:
        conf = yaml.safe_load(f)
    conf["global"].update({"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"})
    conf["rule_files"] = [rules_path]
    job = conf["scrape_configs"][0]
    groups = []
    for g in job["static_configs"]:
        service = g["labels"]["service"]
        if service in ports:  # mcp-fetch is not enabled in this stack
            groups.append({"targets": [f"127.0.0.1:{ports[service]}"], "labels": g["labels"]})
    assert sorted(g["labels"]["service"] for g in groups) == sorted(ports)
    job["static_configs"] = groups
    with open(path_out, "w") as f:
        yaml.safe_dump(conf, f, sort_keys=False)
    r = promtool("check", "config", path_out)
    assert r.returncode == 0, r.stdout + r.stderr


def firing(prom, wanted):
    """wanted: {alertname: {label: value or callable}}; True when every one is firing."""
    alerts = prom.alerts()
    for name, labels in wanted.items():
        if not any(a["labels"]["alertname"] == name and a["state"] == "firing" and
                   all((v(a["labels"].get(k, "")) if callable(v) else a["labels"].get(k) == v)
                       for k, v in labels.items())
                   for a in alerts):
            return False
    return alerts


def none_active(prom, names):
    return not any(a["labels"]["alertname"] in names for a in prom.alerts())


class Router:
    """Requests through the router (path routing) with a token, on one keep-alive connection."""

    def __init__(self, port, token=None):
        self.port = port
        self.token = token
        self.conn = None

    def post(self, path, doc, token=None, extra=None):
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        tok = token if token is not None else self.token
        if tok:
            headers["Authorization"] = f"Bearer {tok}"
        headers.update(extra or {})
        for attempt in range(2):
            if self.conn is None:
                self.conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self.conn.request("POST", path, json.dumps(doc).encode(), headers)
                r = self.conn.getresponse()
                body = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, {k.lower(): v for k, v in r.getheaders()}, body
            except (HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise


def generate_token(stack, service):
    r = stack.run("generate-token", "--user", "monitor", "--service", service)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_live_prometheus_alerts_fire_and_resolve(procs, workdir):
    faulty, slow = FaultyUpstream(), FaultyUpstream()
    stack = Stack(workdir, MCP_FAULTY_URL=f"http://127.0.0.1:{faulty.port}",
                  MCP_SLOW_URL=f"http://127.0.0.1:{slow.port}",
                  RATE_LIMIT_MCP="100000/minute", RATE_LIMIT_REGISTER="1/minute")
    hammers = []
    try:
        stack.start_foreground(procs)
        ports = {"auth": stack.ports["AUTH_PORT"], "router": stack.ports["ADMIN_PORT"],
                 "mcp-echo": stack.ports["MCP_ECHO_PORT"]}
        rules = shortened_rules(os.path.join(workdir, "alerts.yml"))
        config = os.path.join(workdir, "prometheus.yml")
        live_config(config, os.path.join(workdir, "alerts.yml"), ports)
        prom_port = free_port()
        proc = procs.start(["/usr/bin/prometheus", f"--config.file={config}",
                            f"--storage.tsdb.path={os.path.join(workdir, 'prometheus-data')}",
                            f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                           bare_env(), name="prometheus", cwd=workdir)
        prom = Prometheus(prom_port, proc)
        prom.wait(lambda: prom.api("/api/v1/rules")["groups"], "rules loaded")
        assert {r["name"] for g in prom.api("/api/v1/rules")["groups"] for r in g["rules"]} == set(rules)
        prom.wait(lambda: len([r for r in prom.query('up{job="mcp-gateway"} == 1')]) == 3, "3 targets up")
        assert prom.alerts() == []  # a healthy stack raises nothing

        http_port = stack.ports["HTTP_PORT"]
        tokens = {s: generate_token(stack, s) for s in ("mcp-echo", "mcp-faulty", "mcp-slow")}
        auth_url = f"http://127.0.0.1:{stack.ports['AUTH_PORT']}"
        status, _, body = http("POST", auth_url + "/register",
                               json.dumps({"redirect_uris": ["http://127.0.0.1:9/cb"],
                                           "token_endpoint_auth_method": "none"}).encode(),
                               {"Content-Type": "application/json"})
        assert status == 201, body
        client_id = json.loads(body)["client_id"]
        status, _, _ = http("POST", auth_url + "/token",
                            urllib.parse.urlencode({"grant_type": "authorization_code", "code": "unknown",
                                                    "client_id": client_id, "code_verifier": "v" * 43,
                                                    "redirect_uri": "http://127.0.0.1:9/cb"}).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 400

        # ---- the faults, all at once ----
        assert stack.run("down", "mcp-echo").returncode == 0                     # ServiceDown, UpstreamDown
        faulty.mode = "5xx"                                                        # HighErrorRate
        slow.mode = "slow"                                                         # SlowRequests
        rpc = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
        # Each fault at a few times its alert's threshold, and little else, so that the slow
        # requests stay more than 1% of the router's POSTs (the p99) without many of them.
        hammers.append(Hammer(lambda r=Router(http_port, tokens["mcp-faulty"]): r.post("/mcp-faulty/mcp", rpc),
                              every=0.3))                                          # 5xx, > 0.1/s
        hammers.append(Hammer(lambda r=Router(http_port, tokens["mcp-slow"]): r.post("/mcp-slow/mcp", rpc),
                              every=0))                                            # p99 > 2 s
        hammers.append(Hammer(lambda r=Router(http_port, tokens["mcp-echo"]): r.post("/mcp-echo/mcp", rpc),
                              every=1))                                            # 502, upstream errors
        hammers.append(Hammer(lambda r=Router(http_port): r.post("/mcp-echo/mcp", rpc, token="not.a.token"),
                              every=0.4))                                          # token rejections, > 0.5/s
        hammers.append(Hammer(lambda: http("POST", auth_url + "/token",
                                           b"grant_type=authorization_code&code=x&client_id=nobody&code_verifier=v",
                                           {"Content-Type": "application/x-www-form-urlencoded"}),
                              every=0.4))                                          # auth failures, > 0.2/s
        hammers.append(Hammer(lambda r=Router(http_port): r.post("/register", {"redirect_uris": ["http://127.0.0.1/cb"]}),
                              every=0.3))                                          # 429s, > 1/s
        fired = prom.wait(lambda: firing(prom, {
            "ServiceDown": {"service": "mcp-echo"},
            "HighErrorRate": {"service": "router", "status": lambda s: s.startswith("5")},
            "SlowRequests": {"service": "router", "method": "POST"},
            "TokenRejectionSpike": {"service": "mcp-echo"},
            "AuthFailureSpike": {"service": "auth"},
            "RateLimitStorm": {"limit": "register"},
            "UpstreamDown": {"service": "mcp-echo"},
        }), lambda: "every induced alert firing (hammer errors: %s)" % [h.errors[-3:] for h in hammers], timeout=90)
        slow_alert = next(a for a in fired if a["labels"]["alertname"] == "SlowRequests")
        assert float(slow_alert["value"]) > 2
        down = next(a for a in fired if a["labels"]["alertname"] == "ServiceDown")
        assert "mcpgw logs mcp-echo" in down["annotations"]["description"]

        # ---- the faults end ----
        for h in hammers:
            h.stop()
        hammers.clear()
        faulty.mode = slow.mode = "ok"
        assert stack.run("restart", "mcp-echo").returncode == 0
        # The p99 covers the last minutes: enough fast requests push the slow ones out of it.
        fast = Router(http_port, tokens["mcp-slow"])
        def diluted():
            for _ in range(200):
                assert fast.post("/mcp-slow/mcp", rpc)[0] == 200
            q = prom.query('http_request_duration_seconds{service="router",method="POST",quantile="0.99"}')
            return q and float(q[0]["value"][1]) < 2
        prom.wait(diluted, "router p99 back under 2 s", timeout=120)
        prom.wait(lambda: none_active(prom, {"ServiceDown", "HighErrorRate", "SlowRequests", "TokenRejectionSpike",
                                             "AuthFailureSpike", "RateLimitStorm", "UpstreamDown"}),
                  "every alert resolved", timeout=90)

        # ---- every dashboard query returns data from this stack ----
        echo = Router(http_port, tokens["mcp-echo"])
        status, headers, _ = echo.post("/mcp-echo/mcp", {
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        assert status == 200
        session = {"Mcp-Session-Id": headers["mcp-session-id"]} if "mcp-session-id" in headers else {}
        for tool, args in (("echo", {"message": "hi"}), ("echo", {})):  # a success and a refusal
            status, _, _ = echo.post("/mcp-echo/mcp", {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                                                       "params": {"name": tool, "arguments": args}}, extra=session)
            assert status == 200
        exprs = dashboard_exprs()
        assert len(exprs) >= 30

        def empty_queries():
            empty = []
            for name, title, expr in exprs:
                q = expr
                for var, value in DASHBOARD_VARS.items():
                    q = q.replace(var, value)
                assert "$" not in q, (name, title, q)
                if not prom.query(q):
                    empty.append(f"{name} / {title}: {q}")
            return empty
        prom.wait(lambda: not empty_queries(), lambda: f"dashboard queries without data: {empty_queries()}",
                  timeout=30)

        # ---- Redis unreachable, and a service restarting in a loop ----
        assert stack.run("down", "redis").returncode == 0
        for n in (1, 2, 3):
            pid = stack.wait(lambda: (lambda s: s["state"] == "running" and s["pid"])(stack.service("mcp-echo")),
                             "mcp-echo running")
            os.kill(pid, 9)
            # each restart seen by Prometheus before the next kill
            prom.wait(lambda: [r for r in prom.query(f'service_restarts_total{{service="mcp-echo"}} == {n}')],
                      f"restart {n} scraped")
        fired = prom.wait(lambda: firing(prom, {"RedisUnreachable": {"service": "auth"},
                                               "ServiceRestartLoop": {"service": "mcp-echo"}}),
                          "RedisUnreachable and ServiceRestartLoop firing", timeout=60)
        assert "mcpgw restart redis" in next(a for a in fired if a["labels"]["alertname"] == "RedisUnreachable")[
            "annotations"]["description"]
        assert stack.run("restart", "redis").returncode == 0
        prom.wait(lambda: none_active(prom, {"RedisUnreachable", "ServiceRestartLoop"}),
                  "RedisUnreachable and ServiceRestartLoop resolved", timeout=90)
    finally:
        for h in hammers:
            h.stop()
        stack.kill_leftovers()
        faulty.stop()
        slow.stop()
