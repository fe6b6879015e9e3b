"""
A stand-in for the part of Grafana's HTTP API that `mcpgw import-dashboards` uses, for
end-to-end tests (stdlib only; a ThreadingHTTPServer on a free 127.0.0.1 port). Grafana itself
is not installable here.

What it does like Grafana (legacy /api, which Grafana 9 to 12 serve):
  GET  /api/folders/:uid     200 with the folder, 404 {"message":"folder not found"} when missing.
  POST /api/folders          {"uid","title"}: 200 with the folder; 409 when the uid or the title
                             is taken; 400 without a title or with a uid Grafana would refuse.
  POST /api/dashboards/db    {"dashboard":{...},"folderUid","overwrite","message"}: 200
                             {"id","uid","url","status":"success","version","slug"}; 400 for a
                             dashboard without title, for a bad uid, or an unknown folderUid;
                             412 {"status":"name-exists"|"version-mismatch"} without overwrite when
                             the uid exists; 404 for a dashboard id this Grafana does not have.
  Every /api request needs "Authorization: Bearer <fake.token>"; otherwise 401
  {"message":"Unauthorized"}. Any other path: 404 with a plain-text body, like Grafana's web
  server outside the API.

Beyond Grafana, it checks what mcpgw sends and records every deviation in fake.problems
(a test asserts it stays empty): JSON bodies with Content-Type application/json, a dashboard
model of the current schema (schemaVersion >= 39, panels with id, type, gridPos and targets,
a datasource on every Prometheus target), overwrite true, folderUid given, no folderId.
Every request is recorded in fake.requests as (method, path, headers dict, body bytes).
"""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def slug(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


class FakeGrafana:
    def __init__(self, token="glsa_fake_service_account_token_0123456789"):
        self.token = token
        self.folders = {}     # uid -> folder dict
        self.dashboards = {}  # uid -> {"dashboard", "folderUid", "version", "id"}
        self.requests = []
        self.problems = []
        self.next_id = 1
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def requests_to(self, method, path):
        with self.lock:
            return [r for r in self.requests if r[0] == method and r[1] == path]

    # ---- checks beyond Grafana's own ----

    def _check_dashboard_model(self, d):
        where = f"dashboard {d.get('uid')!r}"
        if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 39:
            self.problems.append(f"{where}: schemaVersion {d.get('schemaVersion')!r} is not current (>= 39)")
        if d.get("id") is not None:
            self.problems.append(f"{where}: id {d.get('id')!r} sent; an import by uid sends id null")
        panels = d.get("panels")
        if not isinstance(panels, list) or not panels:
            self.problems.append(f"{where}: no panels")
            return
        ids = set()
        for p in panels:
            if not isinstance(p, dict):
                self.problems.append(f"{where}: a panel is not an object")
                continue
            pid = p.get("id")
            if not isinstance(pid, int) or pid in ids:
                self.problems.append(f"{where}: panel id {pid!r} missing or repeated")
            ids.add(pid)
            if not isinstance(p.get("type"), str):
                self.problems.append(f"{where}: panel {pid} has no type")
            g = p.get("gridPos")
            if not (isinstance(g, dict) and all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h"))):
                self.problems.append(f"{where}: panel {pid} has no gridPos x/y/w/h")
            for t in p.get("targets") or []:
                if not isinstance(t.get("expr"), str) or not t["expr"].strip():
                    self.problems.append(f"{where}: panel {pid} has a target without expr")
                if not isinstance(t.get("datasource"), dict) or t["datasource"].get("type") != "prometheus":
                    self.problems.append(f"{where}: panel {pid} target without a prometheus datasource")
        if not isinstance(d.get("templating", {}).get("list"), list):
            self.problems.append(f"{where}: templating.list missing")

    # ---- the API ----

    def _folder_json(self, f):
        return {"id": f["id"], "uid": f["uid"], "title": f["title"], "url": f"/dashboards/f/{f['uid']}/{slug(f['title'])}",
                "hasAcl": False, "canSave": True, "canEdit": True, "canAdmin": True, "version": f["version"]}

    def handle(self, method, path, headers, body):
        """Returns (status, json-able body or str)."""
        if not path.startswith("/api/"):
            return 404, "404 page not found\n"
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {"message": "Unauthorized"}
        data = None
        if method == "POST":
            if not headers.get("content-type", "").startswith("application/json"):
                self.problems.append(f"POST {path} without Content-Type: application/json")
            try:
                data = json.loads(body or b"null")
            except ValueError:
                return 400, {"message": "bad request data"}
            if not isinstance(data, dict):
                return 400, {"message": "bad request data"}
        m = re.fullmatch(r"/api/folders/([^/]+)", path)
        if method == "GET" and m:
            f = self.folders.get(m.group(1))
            if not f:
                return 404, {"message": "folder not found", "status": "not-found"}
            return 200, self._folder_json(f)
        if method == "POST" and path == "/api/folders":
            title = data.get("title")
            uid = data.get("uid")
            if not isinstance(title, str) or not title.strip():
                return 400, {"message": "folder title cannot be empty"}
            if uid is not None and (not isinstance(uid, str) or not UID_RE.match(uid)):
                return 400, {"message": "uid contains illegal characters"}
            if uid in self.folders:
                return 409, {"message": "a folder with the same uid already exists"}
            if any(f["title"].lower() == title.lower() for f in self.folders.values()):
                return 409, {"message": "a folder or dashboard in the general folder with the same name already exists"}
            uid = uid or f"gen{self.next_id}"
            f = {"id": self.next_id, "uid": uid, "title": title, "version": 1}
            self.next_id += 1
            self.folders[uid] = f
            return 200, self._folder_json(f)
        if method == "POST" and path == "/api/dashboards/db":
            return self._save_dashboard(data)
        return 404, {"message": "Not found"}

    def _save_dashboard(self, data):
        d = data.get("dashboard")
        if not isinstance(d, dict):
            return 400, {"message": "bad request data"}
        if "folderId" in data:
            self.problems.append("folderId sent (deprecated; folderUid is the way)")
        if data.get("overwrite") is not True:
            self.problems.append(f"overwrite is {data.get('overwrite')!r}, not true")
        folder_uid = data.get("folderUid")
        if not folder_uid:
            self.problems.append("no folderUid: the dashboard would land in General")
        elif folder_uid not in self.folders:
            return 400, {"message": "folder not found"}
        title = d.get("title")
        if not isinstance(title, str) or not title.strip():
            return 400, {"message": "Dashboard title cannot be empty"}
        uid = d.get("uid")
        if not isinstance(uid, str) or not UID_RE.match(uid):
            return 400, {"message": "uid contains illegal characters"}
        if d.get("id") is not None and not any(x["id"] == d["id"] for x in self.dashboards.values()):
            return 404, {"message": "Dashboard not found", "status": "not-found"}
        self._check_dashboard_model(d)
        existing = self.dashboards.get(uid)
        if existing and data.get("overwrite") is not True:
            if d.get("version") != existing["version"]:
                return 412, {"message": "The dashboard has been changed by someone else", "status": "version-mismatch"}
        for other_uid, other in self.dashboards.items():
            if (other_uid != uid and other["folderUid"] == folder_uid
                    and other["dashboard"]["title"].lower() == title.lower() and data.get("overwrite") is not True):
                return 412, {"message": "A dashboard with the same name in the folder already exists",
                             "status": "name-exists"}
        version = existing["version"] + 1 if existing else 1
        dash_id = existing["id"] if existing else self.next_id
        if not existing:
            self.next_id += 1
        stored = dict(d, id=dash_id, version=version)
        self.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid, "version": version, "id": dash_id,
                                "message": data.get("message")}
        return 200, {"id": dash_id, "uid": uid, "url": f"/d/{uid}/{slug(title)}", "status": "success",
                     "version": version, "slug": slug(title)}

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with fake.lock:
                    fake.requests.append((method, self.path, headers, body))
                    status, answer = fake.handle(method, self.path, headers, body)
                if isinstance(answer, str):
                    out, ctype = answer.encode(), "text/plain; charset=utf-8"
                else:
                    out, ctype = json.dumps(answer).encode(), "application/json"
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        return Handler
