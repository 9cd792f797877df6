"""A local stand-in for Jira Cloud, Jira Server/Data Center and Linear, served over HTTP on
127.0.0.1 from the shared fixtures (real Jira payloads, Linear responses valid against its
schema) and from generated issues. Tests and bench/portfolio_sync.py use it.

It speaks what the importers use: `POST /rest/api/3/search/jql` (nextPageToken), the old
`/rest/api/3/search` (410, as Cloud does now), `POST /rest/api/2/search` (startAt/total),
`/rest/api/N/field`, `/rest/api/N/myself`, and Linear's `POST /graphql` (Relay cursors). It
can answer 429 with Retry-After, send a malformed page, and refuse a wrong token.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "portfolio"
JIRA = SHARED / "jira"
LINEAR = SHARED / "linear"
TOKEN = "s3cret-token"
POINTS_FIELD = "customfield_10016"
UPDATED_CLAUSE = re.compile(r'updated >= "(\d{4}-\d{2}-\d{2} \d{2}:\d{2})"')


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def jira_fields() -> list[dict[str, Any]]:
    """The real field list, plus the story-points field most Cloud sites have."""
    fields = load(JIRA / "jiracli_fields.json")
    fields.append(
        {
            "id": POINTS_FIELD,
            "name": "Story point estimate",
            "custom": True,
            "schema": {
                "type": "number",
                "custom": "com.pyxis.greenhopper.jira:jsw-story-points",
                "customId": 10016,
            },
        }
    )
    return fields


def jira_issue(
    n: int,
    *,
    key: str | None = None,
    summary: str | None = None,
    level: int = 0,
    parent: dict[str, Any] | None = None,
    category: str = "new",
    points: float | None = 3.0,
    updated: str = "2026-11-02T10:00:00.000+0000",
    description: Any = None,
    labels: list[str] | None = None,
    assignee: str | None = "Ana Silva",
    duedate: str | None = None,
) -> dict[str, Any]:
    """A Jira Cloud issue in the shape `/search/jql` returns it."""
    names = {"new": "To Do", "indeterminate": "In Progress", "done": "Done"}
    types = {2: "Initiative", 1: "Epic", 0: "Story", -1: "Sub-task"}
    fields: dict[str, Any] = {
        "summary": summary or f"Issue {n}",
        "issuetype": {"name": types[level], "hierarchyLevel": level, "subtask": level < 0},
        "status": {"name": names[category], "statusCategory": {"key": category}},
        "labels": labels or [],
        "components": [],
        "assignee": {"displayName": assignee} if assignee else None,
        "created": "2026-10-01T09:00:00.000+0000",
        "updated": updated,
        "resolutiondate": updated if category == "done" else None,
        "duedate": duedate,
        "description": description,
        "project": {"key": (key or "PROJ-1").split("-")[0]},
        POINTS_FIELD: points,
    }
    if parent is not None:
        fields["parent"] = parent
    return {"id": str(10000 + n), "key": key or f"PROJ-{n}", "fields": fields}


@dataclass
class Site:
    """What the fake sources hold and how they misbehave."""

    jira_issues: list[dict[str, Any]] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=jira_fields)
    linear: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fixture_pages: bool = False  # serve jira-cli's real page 1 → page 3 instead
    rate_limit: int = 0  # answer this many 429s first
    retry_after: str = "0"
    failures: list[int] = field(default_factory=list)  # answer these statuses first, in turn
    linear_rate_limit: int = 0  # answer this many of Linear's 400 RATELIMITED first
    linear_reset_in: float = 2.0  # ... whose reset header is this many seconds away
    malformed_page: int | None = None  # this page (1-based) of a search is malformed
    page_cap: int = 100
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    busy_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    log_requests: bool = True


def _dump(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class _Handler(BaseHTTPRequestHandler):
    site: Site
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY every answer waits
    # for the client's delayed ACK (40 ms), which a real server does not make anyone pay.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else _dump(body)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        started = time.perf_counter()
        site = self.site
        body = self._body() if method == "POST" else None
        path = self.path.split("?", 1)[0]
        if site.log_requests:
            with site.lock:
                site.requests.append((method, path, body))
        try:
            auth = self.headers.get("authorization", "")
            if TOKEN not in auth and not (auth.startswith("Basic ") and _basic_has_token(auth)):
                self._answer(401, {"errorMessages": ["Client must be authenticated"]})
                return
            if site.rate_limit > 0:
                site.rate_limit -= 1
                self._answer(
                    429, {"errorMessages": ["Rate limit"]}, {"Retry-After": site.retry_after}
                )
                return
            if site.failures:
                status = site.failures.pop(0)
                self._answer(status, b"<html>Bad gateway</html>")
                return
            if site.linear_rate_limit > 0 and path == "/graphql":
                site.linear_rate_limit -= 1
                reset_ms = int((time.time() + site.linear_reset_in) * 1000)
                self._answer(
                    400,
                    {
                        "errors": [
                            {
                                "message": "Rate limit exceeded",
                                "extensions": {"code": "RATELIMITED"},
                            }
                        ]
                    },
                    {"X-RateLimit-Requests-Reset": str(reset_ms)},
                )
                return
            self._route(method, path, body)
        finally:
            with site.lock:
                site.busy_seconds += time.perf_counter() - started

    def _route(self, method: str, path: str, body: Any) -> None:
        site = self.site
        if path in ("/rest/api/3/field", "/rest/api/2/field"):
            self._answer(200, site.fields)
        elif path in ("/rest/api/3/myself", "/rest/api/2/myself"):
            self._answer(200, {"displayName": "Sync Bot", "accountId": "abc"})
        elif path == "/rest/api/3/search":
            self._answer(410, {"errorMessages": ["The requested API has been removed."]})
        elif path == "/rest/api/3/search/jql" and method == "POST":
            self._cloud_search(body)
        elif path == "/rest/api/2/search" and method == "POST":
            self._dc_search(body)
        elif path == "/graphql" and method == "POST":
            self._graphql(body)
        else:
            self._answer(404, {"errorMessages": [f"no {path}"]})

    def _selected(self, jql: str) -> list[dict[str, Any]]:
        issues = self.site.jira_issues
        m = UPDATED_CLAUSE.search(jql)
        if m:
            since = m.group(1).replace(" ", "T")
            issues = [i for i in issues if i["fields"]["updated"][:16] >= since]
        return issues

    def _shape(self, issue: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        if fields == ["key"]:
            return {"id": issue.get("id"), "key": issue["key"]}
        return issue

    def _cloud_search(self, body: dict[str, Any]) -> None:
        site = self.site
        if site.fixture_pages:
            token = body.get("nextPageToken")
            name = (
                "jiracli_search_page3_last.json"
                if token
                else "jiracli_search_page1_nextPageToken.json"
            )
            self._answer(200, load(JIRA / name))
            return
        issues = self._selected(body["jql"])
        start = int(body.get("nextPageToken") or 0)
        # Cloud gives up to 5,000 a page when only ids and keys are asked for.
        cap = 5000 if body.get("fields") == ["key"] else site.page_cap
        size = min(int(body.get("maxResults", 50)), cap)
        page_no = start // size + 1 if size else 1
        chunk = [self._shape(i, body.get("fields", [])) for i in issues[start : start + size]]
        nxt = start + size
        answer: dict[str, Any] = {"issues": chunk, "isLast": nxt >= len(issues)}
        if nxt < len(issues):
            answer["nextPageToken"] = str(nxt)
        if site.malformed_page == page_no and body.get("fields") != ["key"]:
            answer = {"issues": [{"key": "BROKEN-1"}]}  # no fields object
        self._answer(200, answer)

    def _dc_search(self, body: dict[str, Any]) -> None:
        site = self.site
        issues = self._selected(body["jql"])
        start = int(body.get("startAt", 0))
        size = min(int(body.get("maxResults", 50)), site.page_cap)
        chunk = [self._shape(i, body.get("fields", [])) for i in issues[start : start + size]]
        page_no = start // size + 1 if size else 1
        if site.malformed_page == page_no:
            self._answer(200, b'{"issues": [ {"key": ')  # cut short
            return
        self._answer(
            200, {"startAt": start, "maxResults": size, "total": len(issues), "issues": chunk}
        )

    def _graphql(self, body: dict[str, Any]) -> None:
        query = body.get("query", "")
        variables = body.get("variables") or {}
        if "viewer" in query:
            self._answer(200, {"data": {"viewer": {"id": "u1", "name": "Linear Bot"}}})
            return
        for root in ("initiatives", "projects", "issues"):
            if f"{root}(" in query:
                nodes = self.site.linear.get(root, [])
                start = int(variables.get("after") or 0)
                size = int(variables.get("first") or 50)
                chunk = nodes[start : start + size]
                more = start + size < len(nodes)
                page_no = start // size + 1
                if root == "issues" and self.site.malformed_page == page_no:
                    self._answer(200, {"data": {"issues": {"nodes": [{"id": "x", "title": 5}]}}})
                    return
                self._answer(
                    200,
                    {
                        "data": {
                            root: {
                                "nodes": chunk,
                                "pageInfo": {
                                    "hasNextPage": more,
                                    "endCursor": str(start + size) if chunk else None,
                                },
                            }
                        }
                    },
                )
                return
        self._answer(400, {"errors": [{"message": "Unknown query"}]})


def _basic_has_token(header: str) -> bool:
    import base64

    try:
        return TOKEN in base64.b64decode(header[6:]).decode()
    except ValueError:
        return False


def linear_fixture_site() -> dict[str, list[dict[str, Any]]]:
    """Linear's initiatives, projects and issues from the shared responses."""
    roadmap = load(LINEAR / "linear_graphql_roadmap.json")["data"]
    issues = load(LINEAR / "linear_graphql_issues.json")["data"]["issues"]["nodes"]
    return {
        "initiatives": copy.deepcopy(roadmap["initiatives"]["nodes"]),
        "projects": copy.deepcopy(roadmap["projects"]["nodes"]),
        "issues": copy.deepcopy(issues),
    }


@contextmanager
def serve(site: Site) -> Iterator[str]:
    """Serve `site` on 127.0.0.1 (a free port); yields its base URL."""
    handler = type("Handler", (_Handler,), {"site": site})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
