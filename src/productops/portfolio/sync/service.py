"""Connections to Jira and Linear, and syncs from them.

A connection keeps its token encrypted (`core.secrets`); nothing here returns it. Every
request goes through the house's outbound guard, so a URL is checked when the connection is
saved, when it is tested and at every request of a sync (redirects included).

A sync reads everything first (no database transaction is open while the source answers),
then writes it in one transaction: a malformed page, a refused credential or a rate limit
that lasts too long stops it with the source's words, and the last good state stays.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit, jobs, outbound, secrets
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import BlockedURL, Conflict, InvalidInput, NotFound, OutboundError
from productops.core.models import Team
from productops.portfolio.connectors.http import Client
from productops.portfolio.connectors.jira import auth_headers as jira_headers
from productops.portfolio.connectors.jira import fetch_jira
from productops.portfolio.connectors.jira_csv import DATE_ORDERS, read_jira_csv
from productops.portfolio.connectors.linear import auth_headers as linear_headers
from productops.portfolio.connectors.linear import fetch_linear
from productops.portfolio.connectors.linear_csv import read_linear_csv
from productops.portfolio.connectors.records import Fetched, Progress, SyncError
from productops.portfolio.models import Connection, SyncRun
from productops.portfolio.okrs.service import ensure_daily_refresh
from productops.portfolio.settings import section
from productops.portfolio.work.service import SyncReport, apply_fetched

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

API_KINDS = ("jira", "jira-dc", "linear")
FILE_KINDS = ("jira-csv", "linear-csv")
KINDS = API_KINDS + FILE_KINDS
LINEAR_API = "https://api.linear.app"
SYNC_KIND = "portfolio.sync"


@dataclass(frozen=True)
class SyncOutcome:
    """A finished sync: its run id, report, how many requests it made and how long the
    source took to answer them (seconds)."""

    run_id: int
    report: SyncReport
    requests: int
    source_seconds: float
    seconds: float


def _policy(ws: Workspace) -> outbound.OutboundPolicy:
    return outbound.OutboundPolicy.from_settings(ws.settings)


def _vet(ws: Workspace, url: str) -> None:
    """Refuse a URL the outbound guard refuses (a scheme, a loopback, private or metadata
    address). A host that does not resolve now is kept: it is vetted again at every send."""
    try:
        outbound.check_url(url, _policy(ws))
    except BlockedURL:
        raise
    except OutboundError:
        return


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or any(ord(c) < 32 for c in name):
        raise InvalidInput("a connection needs a name of 1 to 100 printable characters")
    return name


def _base_url(kind: str, url: str) -> str:
    url = (url or "").strip().rstrip("/")
    if kind == "linear" and not url:
        return LINEAR_API
    if kind in API_KINDS and not url:
        raise InvalidInput(f"a {kind} connection needs --url (the site's address)")
    return url


def connect(
    ws: Workspace,
    session: Session,
    *,
    name: str,
    kind: str,
    url: str = "",
    token: str = "",
    username: str = "",
    scope: str = "",
    team_id: int | None = None,
    actor: str,
) -> Connection:
    """Add a connection. The URL must pass the outbound guard now; the token is stored
    encrypted and never shown again. Jira Cloud needs the account email (`username`) and
    a JQL `scope` (Cloud refuses searches without a restriction)."""
    name = _check_name(name)
    if kind not in KINDS:
        raise InvalidInput(f"'{kind}' is not one of {', '.join(KINDS)}")
    base = _base_url(kind, url)
    if kind in API_KINDS:
        _vet(ws, base)
        if not token.strip():
            raise InvalidInput(f"a {kind} connection needs a token")
        if kind == "jira" and not username.strip():
            raise InvalidInput("a Jira Cloud connection needs the account's email (--email)")
        if kind == "jira" and not scope.strip():
            raise InvalidInput(
                "a Jira Cloud connection needs a JQL scope (--jql 'project in (ABC, DEF)'): "
                "Cloud refuses searches without a restriction"
            )
    if team_id is not None and session.get(Team, team_id) is None:
        raise NotFound(f"no team {team_id}")
    row = Connection(
        name=name,
        kind=kind,
        url=base,
        username=username.strip()[:320],
        token_encrypted=secrets.encrypt(ws, token.strip()) if token.strip() else "",
        scope=scope.strip(),
        team_id=team_id,
        created_by=actor,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a connection named '{name}' exists already") from None
    ensure_daily_refresh(session, actor)
    audit.record(
        session,
        actor,
        "portfolio.connect",
        "portfolio_connection",
        row.id,
        {"name": name, "kind": kind, "url": outbound_shown(base)},
    )
    return row


def outbound_shown(url: str) -> str:
    """A URL as the audit log may show it: scheme, host, port and path (no credentials or
    query, which may hold secrets)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "(not a URL)"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}{parsed.path}"


def update_connection(
    ws: Workspace,
    session: Session,
    connection_id: int,
    *,
    url: str | None = None,
    token: str | None = None,
    username: str | None = None,
    scope: str | None = None,
    team_id: int | Any | None = ...,
    actor: str,
) -> Connection:
    """Change a connection's address, credentials, scope or default team."""
    row = get_connection(session, connection_id)
    changed: list[str] = []
    if url is not None:
        base = _base_url(row.kind, url)
        if row.kind in API_KINDS:
            _vet(ws, base)
        row.url = base
        changed.append("url")
    if token is not None:
        if not token.strip():
            raise InvalidInput("the new token is empty")
        row.token_encrypted = secrets.encrypt(ws, token.strip())
        changed.append("token")
    if username is not None:
        row.username = username.strip()[:320]
        changed.append("username")
    if scope is not None:
        row.scope = scope.strip()
        row.last_sync_started_at = None  # a new scope needs a full read
        changed.append("scope")
    if team_id is not ...:
        if team_id is not None and session.get(Team, team_id) is None:
            raise NotFound(f"no team {team_id}")
        row.team_id = team_id
        changed.append("team")
    session.flush()
    audit.record(
        session,
        actor,
        "portfolio.connection.update",
        "portfolio_connection",
        row.id,
        {"changed": changed},
    )
    return row


def delete_connection(session: Session, connection_id: int, actor: str) -> None:
    """Remove a connection with everything synced from it and its schedule."""
    row = get_connection(session, connection_id)
    jobs.unschedule(session, schedule_name(row.id), actor=actor)
    session.delete(row)
    session.flush()
    audit.record(
        session,
        actor,
        "portfolio.connection.delete",
        "portfolio_connection",
        connection_id,
        {"name": row.name},
    )


def get_connection(session: Session, connection_id: int) -> Connection:
    row = session.get(Connection, connection_id)
    if row is None:
        raise NotFound(f"no connection {connection_id}")
    return row


def connection_by_name(session: Session, name: str) -> Connection:
    row = session.scalar(select(Connection).where(Connection.name == name))
    if row is None:
        known = ", ".join(session.scalars(select(Connection.name).order_by(Connection.name)))
        raise NotFound(
            f"no connection named '{name}'" + (f" (there are: {known})" if known else "")
        )
    return row


def list_connections(session: Session) -> list[Connection]:
    return list(session.scalars(select(Connection).order_by(Connection.name)))


def last_runs(session: Session, connection_id: int | None = None, limit: int = 20) -> list[SyncRun]:
    q = select(SyncRun).order_by(SyncRun.id.desc()).limit(limit)
    if connection_id is not None:
        q = q.where(SyncRun.connection_id == connection_id)
    return list(session.scalars(q))


def _client(ws: Workspace, row: Connection, sleep: Any = None) -> Client:
    token = secrets.decrypt(ws, row.token_encrypted) if row.token_encrypted else ""
    if row.kind == "linear":
        headers = linear_headers(token)
        source = "Linear"
    else:
        headers = jira_headers(row.kind, row.username, token)
        source = "Jira"
    settings = section(ws)
    client = Client(
        base_url=row.url,
        headers=headers,
        policy=_policy(ws),
        source=source,
        max_retries=settings.max_retries,
        max_wait_seconds=settings.max_retry_wait_seconds,
    )
    if sleep is not None:
        client.sleep = sleep
    return client


def test_connection(ws: Workspace, session: Session, connection_id: int) -> str:
    """Ask the source who the stored credentials belong to; returns that name (or raises
    the source's refusal)."""
    row = get_connection(session, connection_id)
    if row.kind not in API_KINDS:
        raise InvalidInput(f"a {row.kind} connection is fed by files; there is nothing to test")
    client = _client(ws, row)
    if row.kind == "linear":
        answer = client.call(
            "POST", "/graphql", what="the viewer", json_body={"query": "{ viewer { id name } }"}
        )
        viewer = (answer.get("data") or {}).get("viewer") if isinstance(answer, dict) else None
        if not isinstance(viewer, dict):
            raise SyncError("Linear: the viewer query gave no viewer")
        return str(viewer.get("name") or viewer.get("id"))
    api = "3" if row.kind == "jira" else "2"
    me = client.call("GET", f"/rest/api/{api}/myself", what="the signed-in account")
    if not isinstance(me, dict):
        raise SyncError("Jira: /myself did not answer with an account")
    return str(me.get("displayName") or me.get("name") or me.get("accountId") or "?")


def fetch(
    ws: Workspace,
    row: Connection,
    *,
    full: bool,
    progress: Progress | None = None,
    sleep: Any = None,
) -> Fetched:
    """Read a connection's source (no database access)."""
    settings = section(ws)
    client = _client(ws, row, sleep)
    if row.kind == "linear":
        return fetch_linear(client, page_size=min(settings.page_size, 250), progress=progress)
    if row.kind in ("jira", "jira-dc"):
        since = None if full else row.last_sync_started_at
        return fetch_jira(
            client,
            cloud=row.kind == "jira",
            scope=row.scope,
            since=since,
            page_size=settings.page_size,
            progress=progress,
        )
    raise InvalidInput(f"connection '{row.name}' is fed by {row.kind} files: import one instead")


def sync(
    ws: Workspace,
    connection_id: int,
    *,
    full: bool = False,
    actor: str = "system",
    job_id: int | None = None,
    progress: Progress | None = None,
    sleep: Any = None,
) -> SyncOutcome:
    """Bring a connection's work up to date: an incremental read when the last sync
    succeeded (Jira: what changed since, plus the ids still in scope), a full one otherwise
    or with `full`; then one transaction writes it. The run and its report are recorded,
    a failed one with its error."""
    started = time.perf_counter()
    with ws.sessions() as s:
        row = get_connection(s, connection_id)
        s.expunge(row)
    begun = utcnow()
    with transaction(ws.sessions) as s:
        run = SyncRun(connection_id=connection_id, job_id=job_id, started_at=begun)
        s.add(run)
        s.flush()
        run_id = run.id
    try:
        fetched = fetch(ws, row, full=full, progress=progress, sleep=sleep)
        return _write(ws, connection_id, run_id, begun, fetched, actor, started, progress)
    except Exception as exc:
        with transaction(ws.sessions) as s:
            failed = s.get(SyncRun, run_id)
            if failed is not None:
                failed.status, failed.error = "failed", str(exc)[:4000]
                failed.finished_at = utcnow()
        raise


def _write(
    ws: Workspace,
    connection_id: int,
    run_id: int,
    begun: dt.datetime,
    fetched: Fetched,
    actor: str,
    started: float,
    progress: Progress | None,
) -> SyncOutcome:
    from productops.portfolio.updates.service import take_snapshots

    if progress is not None:
        progress(len(fetched.items), len(fetched.items), f"writing {len(fetched.items):,} items")
    with transaction(ws.sessions) as s:
        row = get_connection(s, connection_id)
        report = apply_fetched(s, row, fetched, actor)
        row.last_sync_at = utcnow()
        row.last_sync_started_at = begun
        take_snapshots(ws, s, utcnow().date())
        run = s.get(SyncRun, run_id)
        assert run is not None
        run.status, run.report, run.finished_at = "succeeded", report.as_dict(), utcnow()
        run.report["requests"] = fetched.requests
    return SyncOutcome(
        run_id=run_id,
        report=report,
        requests=fetched.requests,
        source_seconds=fetched.server_seconds,
        seconds=time.perf_counter() - started,
    )


def import_file(
    ws: Workspace,
    source: Path | bytes,
    *,
    kind: str,
    connection: str,
    name: str | None = None,
    date_order: str = "auto",
    actor: str,
) -> SyncOutcome:
    """Import a Jira or Linear CSV export into the file connection `connection` (made on
    first use). The file is the whole of that connection: what it no longer holds is
    removed, and importing it again changes nothing. All or nothing."""
    if kind not in ("jira", "linear"):
        raise InvalidInput(f"'{kind}' is not a CSV format productops reads (jira, linear)")
    if date_order not in DATE_ORDERS:
        raise InvalidInput(f"date order '{date_order}' is not one of {', '.join(DATE_ORDERS)}")
    started = time.perf_counter()
    fetched = (
        read_jira_csv(source, name=name, date_order=date_order)
        if kind == "jira"
        else read_linear_csv(source, name=name)
    )
    file_kind = f"{kind}-csv"
    with transaction(ws.sessions) as s:
        row = s.scalar(select(Connection).where(Connection.name == connection))
        if row is None:
            row = connect(ws, s, name=connection, kind=file_kind, actor=actor)
        elif row.kind != file_kind:
            raise InvalidInput(
                f"connection '{connection}' syncs from {row.kind}, not from {file_kind} files"
            )
        begun = utcnow()
        run = SyncRun(connection_id=row.id, started_at=begun)
        s.add(run)
        s.flush()
        run_id = run.id
    return _write(ws, row.id, run_id, begun, fetched, actor, started, None)


# --- schedules --------------------------------------------------------------------------------


def schedule_name(connection_id: int) -> str:
    return f"portfolio.sync:{connection_id}"


def schedule_sync(
    session: Session, connection_id: int, every_hours: float | None, actor: str
) -> dt.datetime | None:
    """Sync a connection every `every_hours` (None or 0: stop); returns the next run."""
    row = get_connection(session, connection_id)
    if row.kind not in API_KINDS:
        raise InvalidInput(f"a {row.kind} connection is fed by files; it cannot be scheduled")
    if not every_hours:
        jobs.unschedule(session, schedule_name(connection_id), actor=actor)
        return None
    if every_hours < 0.25 or every_hours > 24 * 31:
        raise InvalidInput("a sync can be scheduled every 0.25 to 744 hours")
    sched = jobs.schedule(
        session,
        schedule_name(connection_id),
        SYNC_KIND,
        {"connection": connection_id},
        dt.timedelta(hours=every_hours),
        actor=actor,
    )
    return sched.next_run_at


def schedule_of(session: Session, connection_id: int) -> tuple[float, dt.datetime] | None:
    """(every how many hours, next run) of a connection's scheduled sync, or None."""
    sched = jobs.get_schedule(session, schedule_name(connection_id))
    if sched is None:
        return None
    return sched.every_seconds / 3600, sched.next_run_at
