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
import subprocess

import pytest
import yaml

from conftest import ROOT, bare_env, free_port, mcpgw_bin
from fake_grafana import FakeGrafana

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
