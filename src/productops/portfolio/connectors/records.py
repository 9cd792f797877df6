"""What every connector hands to the sync: work items and written updates in one shape,
whatever the source (Jira Cloud, Jira Server/Data Center, Linear, their CSV exports)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from productops.core.errors import InvalidInput

Level = Literal["initiative", "epic", "issue"]

# progress(done, total or None, message)
Progress = Callable[[int, int | None, str], None]


class SyncError(InvalidInput):
    """A source answered something the sync cannot use (refused credentials, a malformed
    page, a rate limit that lasts too long); nothing of the sync is written."""


@dataclass
class WorkItem:
    """One initiative, epic or issue as the source has it."""

    external_id: str
    title: str
    level: Level
    key: str | None = None
    issue_type: str = ""
    status: str = ""
    status_category: str = "new"
    description: str = ""
    owner_name: str | None = None
    parent_ref: str | None = None  # the parent's id or key in the source
    parent_key: str | None = None  # the parent's key, when the source gives one (rules use it)
    epic_ref: str | None = None  # an explicit epic link (Jira DC's Epic Link field)
    initiative_refs: list[str] = field(default_factory=list)  # Linear project → initiatives
    story_points: float | None = None
    labels: list[str] = field(default_factory=list)
    components: list[str] = field(default_factory=list)
    project: str | None = None
    team_name: str | None = None
    start_date: dt.date | None = None
    target_date: dt.date | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    url: str | None = None


@dataclass
class SourceUpdate:
    """A written status update from the source (a Linear project update)."""

    external_id: str
    subject_ref: str
    health: str
    body: str
    author: str
    at: dt.datetime


@dataclass
class Fetched:
    """What one fetch brought. `complete`: `items` is everything in scope, so what is not in
    it was deleted or moved out. Otherwise `present` (when known) lists every id still in
    scope, and `items` only what changed."""

    items: list[WorkItem]
    updates: list[SourceUpdate] = field(default_factory=list)
    complete: bool = True
    present: set[str] | None = None
    story_points_field: str | None = None
    requests: int = 0
    server_seconds: float = 0.0


def category_from_name(status: str, resolved: bool = False) -> str:
    """A status category from a status name, for sources that do not send one (older
    payloads, CSV exports)."""
    name = status.strip().lower()
    if name in {"canceled", "cancelled", "duplicate", "won't do", "wont do", "won't fix"}:
        return "canceled"
    if name in {"done", "closed", "resolved", "complete", "completed", "released", "shipped"}:
        return "done"
    if name in {"to do", "todo", "open", "new", "backlog", "selected for development", "triage"}:
        return "new"
    if name in {"planned", "unstarted", "reopened", "ready"}:
        return "new"
    if resolved:
        return "done"
    return "indeterminate" if name else "new"
