"""Jira Cloud (REST v3) and Jira Server / Data Center (REST v2) readers.

Cloud: `POST /rest/api/3/search/jql` paged with `nextPageToken` (the old `/search` answers
410 there), Atlassian Document Format descriptions, the epic as `fields.parent`. Server/DC:
`POST /rest/api/2/search` paged with `startAt`/`total`, wiki-markup descriptions, the epic as
the "Epic Link" field (or `parent`). Both find story points (and the start date) through
`/rest/api/N/field`, as the field id differs per site.
"""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from productops.portfolio.connectors.adf import adf_to_markdown
from productops.portfolio.connectors.http import Client
from productops.portfolio.connectors.parsing import (
    as_dict,
    clip,
    day,
    name_of,
    number,
    texts,
    timestamp,
)
from productops.portfolio.connectors.records import (
    Fetched,
    Progress,
    SyncError,
    WorkItem,
    category_from_name,
)
from productops.portfolio.connectors.wiki import wiki_to_text

BASE_FIELDS = (
    "summary",
    "status",
    "issuetype",
    "parent",
    "labels",
    "components",
    "assignee",
    "created",
    "updated",
    "resolutiondate",
    "duedate",
    "description",
    "project",
)
POINTS_SCHEMA = "com.pyxis.greenhopper.jira:jsw-story-points"
POINTS_NAMES = ("story points", "story point estimate")
EPIC_LINK_SCHEMA = "com.pyxis.greenhopper.jira:gh-epic-link"
START_NAMES = ("start date", "target start")
LISTING_PAGE = 1000
MAX_PAGES = 100_000


def auth_headers(kind: str, username: str, token: str) -> dict[str, str]:
    """Jira Cloud: Basic email:API-token. Server/DC: a personal access token as Bearer, or
    Basic when a user name is given."""
    if kind == "jira" or username:
        raw = f"{username}:{token}".encode()
        return {"authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    return {"authorization": f"Bearer {token}"}


class SiteFields:
    """Which custom fields hold story points, the start date and (Server/DC) the epic link."""

    def __init__(self, raw: Any) -> None:
        if not isinstance(raw, list):
            raise SyncError("Jira: the field list is not a list of fields")
        self.points: str | None = None
        self.start: str | None = None
        self.epic_link: str | None = None
        by_schema: str | None = None
        by_name: str | None = None
        for f in raw:
            if not isinstance(f, dict) or not isinstance(f.get("id"), str):
                continue
            name = str(f.get("name") or "").strip().lower()
            schema = as_dict(f.get("schema"))
            custom = str(schema.get("custom") or "")
            if custom == POINTS_SCHEMA and by_schema is None:
                by_schema = f["id"]
            elif name in POINTS_NAMES and schema.get("type") == "number" and by_name is None:
                by_name = f["id"]
            if custom == EPIC_LINK_SCHEMA:
                self.epic_link = f["id"]
            if name in START_NAMES and schema.get("type") == "date" and self.start is None:
                self.start = f["id"]
        self.points = by_schema or by_name

    def wanted(self) -> list[str]:
        extra = [f for f in (self.points, self.start, self.epic_link) if f]
        return [*BASE_FIELDS, *extra]


def fetch_jira(
    client: Client,
    *,
    cloud: bool,
    scope: str,
    since: dt.datetime | None = None,
    page_size: int = 100,
    progress: Progress | None = None,
) -> Fetched:
    """Every issue in `scope` (a JQL filter), or, with `since`, those updated since then
    plus the ids of all issues still in scope (so deletions are seen)."""
    report = progress or (lambda done, total, message: None)
    api = "3" if cloud else "2"
    fields = SiteFields(client.call("GET", f"/rest/api/{api}/field", what="the field list"))
    base = scope.strip()
    order = " ORDER BY created ASC"
    if since is not None:
        # Jira reads JQL dates in the account's time zone: a day of margin covers any zone.
        margin = (since - dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
        jql = (f"({base}) AND " if base else "") + f'updated >= "{margin}"' + order
    else:
        jql = base + order
    items: list[WorkItem] = []
    for page_no, issues, total in _pages(client, cloud, jql, fields.wanted(), page_size):
        for i, raw in enumerate(issues):
            items.append(_item(raw, i, page_no, fields, client.base_url, cloud))
        report(len(items), total, f"{len(items):,} Jira issues read")
    present: set[str] | None = None
    if since is not None:
        present = set()
        for _, issues, _total in _pages(client, cloud, base + order, ["key"], LISTING_PAGE):
            for i, raw in enumerate(issues):
                if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
                    raise SyncError(f"Jira: the id listing: issue {i + 1} has no key")
                present.add(str(raw.get("id") or raw["key"]))
            report(len(items), None, f"{len(present):,} issues still in scope")
    return Fetched(
        items=items,
        complete=since is None,
        present=present,
        story_points_field=fields.points,
        requests=client.requests,
        server_seconds=client.server_seconds,
    )


def _pages(client: Client, cloud: bool, jql: str, fields: list[str], page_size: int) -> Any:
    """(page number, issues, total or None) for each page of a search."""
    token: str | None = None
    start = 0
    seen_tokens: set[str] = set()
    for page_no in range(1, MAX_PAGES + 1):
        what = f"page {page_no} of the search"
        if cloud:
            body: dict[str, Any] = {"jql": jql, "fields": fields, "maxResults": page_size}
            if token:
                body["nextPageToken"] = token
            page = client.call("POST", "/rest/api/3/search/jql", what=what, json_body=body)
        else:
            body = {"jql": jql, "fields": fields, "maxResults": page_size, "startAt": start}
            page = client.call("POST", "/rest/api/2/search", what=what, json_body=body)
        if not isinstance(page, dict) or not isinstance(page.get("issues"), list):
            raise SyncError(f"Jira: {what} has no 'issues' list")
        issues = page["issues"]
        if cloud:
            yield page_no, issues, None
            token = page.get("nextPageToken")
            if page.get("isLast") is True or not token:
                return
            if not isinstance(token, str) or token in seen_tokens:
                raise SyncError(f"Jira: {what} gave a nextPageToken it gave before")
            seen_tokens.add(token)
        else:
            total = page.get("total")
            if not isinstance(total, int) or isinstance(total, bool):
                raise SyncError(f"Jira: {what} has no 'total'")
            yield page_no, issues, total
            start += len(issues)
            if not issues or start >= total:
                return
    raise SyncError(f"Jira: the search did not end after {MAX_PAGES:,} pages")


def _level(issuetype: Any) -> str:
    if isinstance(issuetype, dict):
        level = issuetype.get("hierarchyLevel")
        if isinstance(level, int) and not isinstance(level, bool):
            return "initiative" if level >= 2 else "epic" if level == 1 else "issue"
        name = str(issuetype.get("name") or "").lower()
        if name == "epic":
            return "epic"
        if name in ("initiative", "theme"):
            return "initiative"
    return "issue"


def _item(
    raw: Any, index: int, page_no: int, site: SiteFields, base_url: str, cloud: bool
) -> WorkItem:
    where = f"Jira: page {page_no} of the search, issue {index + 1}"
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise SyncError(f"{where} has no key")
    key = raw["key"][:100]
    fields = raw.get("fields")
    if not isinstance(fields, dict):
        raise SyncError(f"{where} ({key}) has no 'fields' object")
    summary = fields.get("summary")
    if not isinstance(summary, str):
        raise SyncError(f"{where} ({key}): 'summary' is missing or not text")
    status = as_dict(fields.get("status"))
    status_name = name_of(status, "name") or ""
    category_obj = status.get("statusCategory") if isinstance(status, dict) else None
    category = name_of(category_obj, "key")
    resolved = timestamp(fields.get("resolutiondate"))
    if category not in ("new", "indeterminate", "done"):
        category = category_from_name(status_name, resolved is not None)
    parent = fields.get("parent")
    parent_ref = parent_key = None
    if isinstance(parent, dict):
        parent_ref = name_of(parent, "id", "key")
        parent_key = name_of(parent, "key")
    description = fields.get("description")
    text = adf_to_markdown(description) if isinstance(description, dict) else ""
    if isinstance(description, str):
        text = wiki_to_text(description)
    project = name_of(fields.get("project"), "key", "name")
    issuetype = fields.get("issuetype")
    epic_ref = None
    if site.epic_link:
        epic_ref = name_of(fields.get(site.epic_link))
    return WorkItem(
        external_id=str(raw.get("id") or key)[:200],
        key=key,
        title=summary.strip()[:500] or key,
        level=_level(issuetype),  # type: ignore[arg-type]
        issue_type=(name_of(issuetype, "name") or "")[:100],
        status=status_name[:100],
        status_category=category,
        description=text,
        owner_name=clip(name_of(fields.get("assignee"), "displayName", "name"), 300),
        parent_ref=parent_ref,
        parent_key=parent_key,
        epic_ref=epic_ref,
        story_points=number(fields.get(site.points)) if site.points else None,
        labels=texts(fields.get("labels")),
        components=texts(fields.get("components"), "name"),
        project=clip(project, 200),
        start_date=day(fields.get(site.start)) if site.start else None,
        target_date=day(fields.get("duedate")),
        created_at=timestamp(fields.get("created")),
        updated_at=timestamp(fields.get("updated")),
        resolved_at=resolved,
        url=f"{base_url.rstrip('/')}/browse/{key}",
    )
