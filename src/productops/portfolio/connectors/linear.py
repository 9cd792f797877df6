"""Linear's GraphQL API: initiatives, projects (with their latest updates) and issues, each
paged with Relay cursors (`first` / `after`, `pageInfo.endCursor`). Projects are epics here,
their `health` and written updates become updates, canceled and duplicate issues are out of
scope for progress as Linear counts them."""

from __future__ import annotations

from typing import Any

from productops.portfolio.connectors.http import Client
from productops.portfolio.connectors.parsing import (
    as_dict,
    clip,
    day,
    name_of,
    number,
    timestamp,
)
from productops.portfolio.connectors.records import (
    Fetched,
    Progress,
    SourceUpdate,
    SyncError,
    WorkItem,
)

ISSUES_QUERY = """
query Issues($first: Int!, $after: String) {
  issues(first: $first, after: $after, orderBy: updatedAt) {
    nodes {
      id identifier title description estimate url createdAt updatedAt startedAt
      completedAt canceledAt dueDate
      state { id name type }
      team { id key name }
      assignee { id name }
      project { id name }
      parent { id identifier }
      labels { nodes { id name } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
INITIATIVES_QUERY = """
query Initiatives($first: Int!, $after: String) {
  initiatives(first: $first, after: $after) {
    nodes { id name description status targetDate url updatedAt owner { id name } }
    pageInfo { hasNextPage endCursor }
  }
}
"""
PROJECTS_QUERY = """
query Projects($first: Int!, $after: String) {
  projects(first: $first, after: $after) {
    nodes {
      id name description url health startDate targetDate startedAt completedAt canceledAt
      createdAt updatedAt
      status { id name type }
      lead { id name }
      teams { nodes { id key name } }
      initiatives { nodes { id name } }
      projectUpdates(first: 2) { nodes { id body health createdAt url user { id name } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
STATE_CATEGORY = {
    "triage": "new",
    "backlog": "new",
    "unstarted": "new",
    "started": "indeterminate",
    "completed": "done",
    "canceled": "canceled",
    "duplicate": "canceled",
}
PROJECT_CATEGORY = {
    "backlog": "new",
    "planned": "new",
    "started": "indeterminate",
    "paused": "indeterminate",
    "completed": "done",
    "canceled": "canceled",
}
INITIATIVE_CATEGORY = {"planned": "new", "active": "indeterminate", "completed": "done"}
HEALTH = {"onTrack": "on_track", "atRisk": "at_risk", "offTrack": "off_track"}
MAX_PAGES = 100_000


def auth_headers(token: str) -> dict[str, str]:
    """A personal API key goes as it is; an OAuth token as Bearer."""
    return {"authorization": token if token.startswith("lin_api_") else f"Bearer {token}"}


def fetch_linear(client: Client, page_size: int = 100, progress: Progress | None = None) -> Fetched:
    """Every initiative, project and issue the key can see (a complete listing)."""
    report = progress or (lambda done, total, message: None)
    items: list[WorkItem] = []
    updates: list[SourceUpdate] = []
    for node in _nodes(client, INITIATIVES_QUERY, "initiatives", page_size):
        items.append(_initiative(node))
    report(len(items), None, f"{len(items):,} Linear initiatives read")
    for node in _nodes(client, PROJECTS_QUERY, "projects", page_size):
        project, project_updates = _project(node)
        items.append(project)
        updates += project_updates
    report(len(items), None, f"{len(items):,} Linear initiatives and projects read")
    for node in _nodes(client, ISSUES_QUERY, "issues", page_size):
        items.append(_issue(node))
        if len(items) % 500 == 0:
            report(len(items), None, f"{len(items):,} Linear items read")
    report(len(items), None, f"{len(items):,} Linear items read")
    return Fetched(
        items=items,
        updates=updates,
        complete=True,
        requests=client.requests,
        server_seconds=client.server_seconds,
    )


def _nodes(client: Client, query: str, root: str, page_size: int) -> Any:
    after: str | None = None
    for page_no in range(1, MAX_PAGES + 1):
        what = f"page {page_no} of the {root}"
        answer = _graphql(client, query, {"first": page_size, "after": after}, what)
        data = answer.get("data") if isinstance(answer, dict) else None
        conn = data.get(root) if isinstance(data, dict) else None
        if not isinstance(conn, dict) or not isinstance(conn.get("nodes"), list):
            raise SyncError(f"Linear: {what} has no '{root}.nodes' list")
        for i, node in enumerate(conn["nodes"]):
            if not isinstance(node, dict) or not isinstance(node.get("id"), str):
                raise SyncError(f"Linear: {what}, node {i + 1} has no id")
            yield _checked(node, root, what, i)
        info = conn.get("pageInfo")
        if not isinstance(info, dict) or not isinstance(info.get("hasNextPage"), bool):
            raise SyncError(f"Linear: {what} has no pageInfo.hasNextPage")
        if not info["hasNextPage"]:
            return
        cursor = info.get("endCursor")
        if not isinstance(cursor, str) or not cursor or cursor == after:
            raise SyncError(f"Linear: {what} says there is more but gives no new endCursor")
        after = cursor
    raise SyncError(f"Linear: the {root} did not end after {MAX_PAGES:,} pages")


def _graphql(client: Client, query: str, variables: dict[str, Any], what: str) -> Any:
    attempt = 0
    while True:
        attempt += 1
        answer = client.call(
            "POST", "/graphql", what=what, json_body={"query": query, "variables": variables}
        )
        errors = answer.get("errors") if isinstance(answer, dict) else None
        if not errors:
            return answer
        codes = {
            str((e.get("extensions") or {}).get("code", ""))
            for e in errors
            if isinstance(e, dict) and isinstance(e.get("extensions") or {}, dict)
        }
        if "RATELIMITED" in codes and attempt <= client.max_retries:
            client._pause(min(2.0**attempt, client.max_wait_seconds))
            continue
        messages = "; ".join(
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
        )
        raise SyncError(f"Linear: {what}: {messages[:500]}")


def _checked(node: dict[str, Any], root: str, what: str, index: int) -> dict[str, Any]:
    title_key = "title" if root == "issues" else "name"
    if not isinstance(node.get(title_key), str):
        raise SyncError(
            f"Linear: {what}, node {index + 1} ({node['id']}): '{title_key}' is not text"
        )
    return node


def _initiative(node: dict[str, Any]) -> WorkItem:
    status = str(node.get("status") or "")
    return WorkItem(
        external_id=node["id"],
        title=node["name"][:500],
        level="initiative",
        status=status[:100],
        status_category=INITIATIVE_CATEGORY.get(status.lower(), "new"),
        description=str(node.get("description") or ""),
        owner_name=clip(name_of(node.get("owner"), "name"), 300),
        target_date=day(node.get("targetDate")),
        updated_at=timestamp(node.get("updatedAt")),
        url=clip(node.get("url") if isinstance(node.get("url"), str) else None, 1000),
    )


def _ids(value: Any) -> list[str]:
    nodes = value.get("nodes") if isinstance(value, dict) else None
    if not isinstance(nodes, list):
        return []
    return [n["id"] for n in nodes if isinstance(n, dict) and isinstance(n.get("id"), str)]


def _names(value: Any, key: str = "name") -> list[str]:
    nodes = value.get("nodes") if isinstance(value, dict) else None
    if not isinstance(nodes, list):
        return []
    return [str(n[key]) for n in nodes if isinstance(n, dict) and isinstance(n.get(key), str)]


def _project(node: dict[str, Any]) -> tuple[WorkItem, list[SourceUpdate]]:
    status = as_dict(node.get("status"))
    kind = str(status.get("type") or "")
    teams = _names(node.get("teams"))
    item = WorkItem(
        external_id=node["id"],
        title=node["name"][:500],
        level="epic",
        issue_type="Project",
        status=(name_of(status, "name") or kind)[:100],
        status_category=PROJECT_CATEGORY.get(kind, "new"),
        description=str(node.get("description") or ""),
        owner_name=clip(name_of(node.get("lead"), "name"), 300),
        initiative_refs=_ids(node.get("initiatives")),
        team_name=teams[0] if teams else None,
        start_date=day(node.get("startDate")),
        target_date=day(node.get("targetDate")),
        created_at=timestamp(node.get("createdAt")),
        updated_at=timestamp(node.get("updatedAt")),
        resolved_at=timestamp(node.get("completedAt")) or timestamp(node.get("canceledAt")),
        url=clip(node.get("url") if isinstance(node.get("url"), str) else None, 1000),
    )
    updates = []
    raw_updates = node.get("projectUpdates")
    for u in raw_updates.get("nodes", []) if isinstance(raw_updates, dict) else []:
        if not isinstance(u, dict) or not isinstance(u.get("id"), str):
            continue
        at = timestamp(u.get("createdAt"))
        health = HEALTH.get(str(u.get("health")))
        if at is None or health is None:
            continue
        updates.append(
            SourceUpdate(
                external_id=f"linear:{u['id']}",
                subject_ref=node["id"],
                health=health,
                body=str(u.get("body") or "")[:20_000],
                author=name_of(u.get("user"), "name") or "Linear",
                at=at,
            )
        )
    return item, updates


def _issue(node: dict[str, Any]) -> WorkItem:
    state = as_dict(node.get("state"))
    kind = str(state.get("type") or "")
    parent = node.get("parent")
    project = node.get("project")
    team = node.get("team")
    return WorkItem(
        external_id=node["id"],
        key=clip(node.get("identifier") if isinstance(node.get("identifier"), str) else None, 100),
        title=node["title"][:500],
        level="issue",
        issue_type="Sub-issue" if isinstance(parent, dict) else "Issue",
        status=(name_of(state, "name") or kind)[:100],
        status_category=STATE_CATEGORY.get(kind, "new"),
        description=str(node.get("description") or ""),
        owner_name=clip(name_of(node.get("assignee"), "name"), 300),
        parent_ref=name_of(parent, "id"),
        epic_ref=name_of(project, "id"),
        story_points=number(node.get("estimate")),
        labels=_names(node.get("labels")),
        project=clip(name_of(project, "name"), 200),
        team_name=name_of(team, "name"),
        target_date=day(node.get("dueDate")),
        created_at=timestamp(node.get("createdAt")),
        updated_at=timestamp(node.get("updatedAt")),
        resolved_at=timestamp(node.get("completedAt")) or timestamp(node.get("canceledAt")),
        url=clip(node.get("url") if isinstance(node.get("url"), str) else None, 1000),
    )
