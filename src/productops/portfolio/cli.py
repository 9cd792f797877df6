"""`productops portfolio …`: connect Jira or Linear, sync, import exports, and keep the OKRs
and the update cadence from the command line. Each command is the service function of the
same name. A token is read from an environment variable or a hidden prompt, never from an
argument (arguments end up in shell history and process lists)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from productops.cli.kit import (
    JsonOpt,
    WorkspaceDir,
    emit_json,
    errors_as_exit,
    fail,
    open_ws,
    print_table,
    run_job_with_progress,
    server_for,
)

app = typer.Typer(
    help="Roadmap & OKRs: Jira and Linear work rolled up to initiatives and objectives.",
    no_args_is_help=True,
)
TOKEN_ENV = "PRODUCTOPS_PORTFOLIO_TOKEN"  # noqa: S105 - a variable name, not a token


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@app.command()
def connect(
    directory: WorkspaceDir,
    kind: Annotated[
        str, typer.Argument(help="jira (Cloud), jira-dc (Server/Data Center) or linear.")
    ],
    url: Annotated[str, typer.Option(help="The site's address (Linear: leave out).")] = "",
    name: Annotated[str | None, typer.Option(help="A name for it (default: the kind).")] = None,
    email: Annotated[str, typer.Option(help="Jira Cloud: the account's email.")] = "",
    jql: Annotated[str, typer.Option(help="Jira: the JQL of the work to sync.")] = "",
    team: Annotated[
        str | None, typer.Option(help="The team its work belongs to by default.")
    ] = None,
    token_env: Annotated[
        str, typer.Option(help="Read the token from this environment variable.")
    ] = TOKEN_ENV,
    as_json: JsonOpt = False,
) -> None:
    """Add a Jira or Linear connection. The token comes from $PRODUCTOPS_PORTFOLIO_TOKEN
    (or --token-env VAR), else a hidden prompt; it is stored encrypted and never shown."""
    from productops.core.db import transaction
    from productops.portfolio.sync import service

    if kind not in service.API_KINDS:
        fail(f"'{kind}' is not one of {', '.join(service.API_KINDS)}")
    token = os.environ.get(token_env, "")
    if not token:
        token = typer.prompt(f"{kind} API token", hide_input=True)
    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        team_id = _team_id(s, team)
        row = service.connect(
            ws,
            s,
            name=name or kind,
            kind=kind,
            url=url,
            token=token,
            username=email,
            scope=jql,
            team_id=team_id,
            actor="cli",
        )
        out = {"id": row.id, "name": row.name, "kind": row.kind, "url": row.url}
    if as_json:
        emit_json(out)
    else:
        typer.echo(
            f"Connected {out['name']} ({kind}, {out['url']}); the token is stored encrypted."
        )


def _team_id(session: Any, team: str | None) -> int | None:
    if not team:
        return None
    from sqlalchemy import func, select

    from productops.core.errors import NotFound
    from productops.core.models import Team

    found = session.scalar(select(Team.id).where(func.lower(Team.name) == team.lower()))
    if found is None:
        raise NotFound(f"no team named '{team}'")
    return int(found)


@app.command()
def connections(directory: WorkspaceDir, as_json: JsonOpt = False) -> None:
    """The connections, their last sync and schedule (never their tokens)."""
    from productops.portfolio.sync import service

    with open_ws(directory) as ws, ws.sessions() as s:
        rows = []
        for c in service.list_connections(s):
            sched = service.schedule_of(s, c.id)
            rows.append(
                {
                    "id": c.id,
                    "name": c.name,
                    "kind": c.kind,
                    "url": c.url,
                    "last_sync_at": c.last_sync_at.isoformat() if c.last_sync_at else None,
                    "every_hours": sched[0] if sched else None,
                }
            )
    if as_json:
        emit_json(rows)
        return
    print_table(
        ["id", "name", "kind", "url", "last sync", "every (h)"], [list(r.values()) for r in rows]
    )


@app.command()
def sync(
    directory: WorkspaceDir,
    connection: Annotated[str | None, typer.Option(help="Only this connection (by name).")] = None,
    full: Annotated[bool, typer.Option(help="Read everything, not only what changed.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Sync Jira and Linear connections as background jobs, under a progress bar; prints
    each sync's report (created, updated, deleted, moved, unmapped)."""
    from productops.portfolio.sync import service

    with open_ws(directory) as ws:
        with ws.sessions() as s:
            rows = (
                [service.connection_by_name(s, connection)]
                if connection
                else [c for c in service.list_connections(s) if c.kind in service.API_KINDS]
            )
            targets = [(c.id, c.name) for c in rows]
        if not targets:
            fail(
                "no Jira or Linear connection to sync: add one with `productops portfolio connect`"
            )
        results = {}
        server = server_for(ws)
        for cid, cname in targets:
            params = {"connection": cid, "full": full}
            if server is not None:
                job = server.call(
                    "POST", "/api/v1/jobs", json={"kind": service.SYNC_KIND, "params": params}
                ).json()
                state = server.follow_job(job["id"], quiet=as_json)
            else:
                state = run_job_with_progress(ws, service.SYNC_KIND, params, quiet=as_json)
            results[cname] = state["result"]
    if as_json:
        emit_json(results)
        return
    for cname, r in results.items():
        typer.echo(
            f"{cname}: {r['items']:,} items read; {r['created']:,} created, {r['updated']:,} "
            f"updated, {r['deleted']:,} deleted, {r['moved']:,} moved, {r['unmapped']:,} open "
            f"epics serving no objective ({r['seconds']} s)"
        )


@app.command()
def schedule(
    directory: WorkspaceDir,
    connection: Annotated[str, typer.Argument(help="The connection's name.")],
    every: Annotated[float, typer.Option(help="Hours between syncs; 0 stops.", min=0)] = 6,
) -> None:
    """Sync a connection on a schedule (the worker inside `serve`, or `productops worker`,
    queues each run)."""
    from productops.core.db import transaction
    from productops.portfolio.sync import service

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        row = service.connection_by_name(s, connection)
        nxt = service.schedule_sync(s, row.id, every or None, actor="cli")
    if nxt is None:
        typer.echo(f"{connection} is no longer synced on a schedule.")
    else:
        typer.echo(f"{connection} syncs every {every:g} h; next at {nxt:%Y-%m-%d %H:%M} UTC.")


@app.command("import")
def import_file(
    directory: WorkspaceDir,
    file: Annotated[Path, typer.Argument(help="A Jira or Linear CSV export.")],
    format: Annotated[str, typer.Option("--format", help="jira or linear.")] = "jira",
    connection: Annotated[
        str | None, typer.Option(help="The file connection to import into (made on first use).")
    ] = None,
    date_order: Annotated[
        str, typer.Option(help="Numeric dates: auto, dmy (day first) or mdy (month first).")
    ] = "auto",
    as_json: JsonOpt = False,
) -> None:
    """Import a Jira or Linear CSV export. All or nothing; the file is the whole of its
    connection, so importing a newer export removes what it no longer holds."""
    from productops.portfolio.sync import service

    with open_ws(directory) as ws:
        outcome = service.import_file(
            ws,
            file,
            kind=format,
            connection=connection or f"{format} export",
            date_order=date_order,
            actor="cli",
        )
    r = outcome.report
    if as_json:
        emit_json(r.as_dict())
    else:
        typer.echo(
            f"Imported {file.name}: {r.items:,} items; {r.created:,} created, {r.updated:,} "
            f"updated, {r.deleted:,} deleted, {r.moved:,} moved, {r.unmapped:,} open epics "
            "serving no objective"
        )


@app.command()
def objectives(
    directory: WorkspaceDir,
    period: Annotated[str | None, typer.Option(help="Only this quarter, e.g. 2026-Q1.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Objectives with their progress, health and key results."""
    from productops.portfolio.rollups.service import Filters, Rule, build

    with open_ws(directory) as ws, ws.sessions() as s:
        p = build(s, ws, Rule.of(ws), Filters(period=period, include_closed=True))
        rows: list[dict[str, Any]] = [
            {
                "id": o.id,
                "period": o.period,
                "title": o.title,
                "progress": o.progress,
                "health": o.health.health if o.health else None,
                "key_results": [
                    {
                        "id": k.id,
                        "title": k.title,
                        "current": k.current,
                        "target": k.target,
                        "progress": k.progress,
                    }
                    for k in o.key_results
                ],
                "flags": o.flags,
            }
            for o in p.every_objective()
        ]
    if as_json:
        emit_json(rows)
        return
    print_table(
        ["id", "quarter", "objective", "progress", "health", "key results", "flags"],
        [
            [
                r["id"],
                r["period"],
                r["title"],
                _pct(r["progress"]),
                r["health"] or "—",
                len(r["key_results"]),
                " ".join(r["flags"]),
            ]
            for r in rows
        ],
    )


@app.command("add-objective")
def add_objective(
    directory: WorkspaceDir,
    title: Annotated[str, typer.Argument()],
    period: Annotated[str, typer.Option(help="The quarter, e.g. 2026-Q1.")],
    team: Annotated[str | None, typer.Option(help="The team's name.")] = None,
    work_weight: Annotated[
        float, typer.Option(help="How much the linked work's progress counts (0: not at all).")
    ] = 0.0,
) -> None:
    """Add an objective for a quarter."""
    from productops.core.db import transaction
    from productops.portfolio.okrs.service import create_objective

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        row = create_objective(
            s, title, period, team_id=_team_id(s, team), work_weight=work_weight, actor="cli"
        )
        typer.echo(f"Objective {row.id}: {row.title} ({row.period})")


@app.command("add-key-result")
def add_key_result(
    directory: WorkspaceDir,
    objective: Annotated[int, typer.Argument(help="The objective's id.")],
    title: Annotated[str, typer.Argument()],
    target: Annotated[float, typer.Option(help="The value to reach.")],
    start: Annotated[float, typer.Option(help="The value at the start.")] = 0.0,
    unit: Annotated[str, typer.Option(help="%, users, …")] = "",
    metric: Annotated[str | None, typer.Option(help="Read it from this catalog metric.")] = None,
    grain: Annotated[str, typer.Option(help="The metric's period: day, week or month.")] = "week",
) -> None:
    """Add a key result, typed by hand or driven by a catalog metric."""
    from productops.core.db import transaction
    from productops.portfolio.okrs.service import add_key_result as add

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        row = add(
            s,
            objective,
            title,
            target=target,
            start=start,
            unit=unit,
            metric=metric,
            metric_grain=grain,
            ws=ws,
            actor="cli",
        )
        typer.echo(f"Key result {row.id}: {row.title}")


@app.command("check-in")
def check_in(
    directory: WorkspaceDir,
    key_result: Annotated[int, typer.Argument(help="The key result's id.")],
    value: Annotated[float, typer.Argument()],
    comment: Annotated[str, typer.Option(help="Why it moved.")] = "",
) -> None:
    """Record a key result's value now, with a comment."""
    from productops.core.db import transaction
    from productops.portfolio.okrs.service import check_in as record

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        record(s, key_result, value, comment, actor="cli")
    typer.echo(f"Key result {key_result} is at {value:g}.")


@app.command()
def update(
    directory: WorkspaceDir,
    subject: Annotated[str, typer.Argument(help="objective, initiative or epic.")],
    subject_id: Annotated[int, typer.Argument(help="Its id.")],
    health: Annotated[str, typer.Argument(help="on_track, at_risk or off_track.")],
    body: Annotated[str, typer.Option(help="What moved, what is in the way.")] = "",
) -> None:
    """Write this week's update on an objective, initiative or epic."""
    from productops.core.db import transaction
    from productops.portfolio.updates.service import write_update

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        write_update(s, subject, subject_id, health, body, actor="cli")
    typer.echo(f"Update written on {subject} {subject_id}: {health.replace('_', ' ')}.")


@app.command()
def flags(
    directory: WorkspaceDir,
    flag: Annotated[str | None, typer.Option(help="Only this flag, e.g. no_objective.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Quality flags: epics with no objective, stale or thin epics, open work under closed
    epics, work with no owner, objectives with no active work, key results not updated."""
    from productops.portfolio.rollups.service import Filters, Rule, build
    from productops.portfolio.views.service import flag_rows

    with open_ws(directory) as ws, ws.sessions() as s:
        p = build(s, ws, Rule.of(ws), Filters(flag=flag))
        rows = [
            {"kind": r.kind, "id": r.id, "key": r.key, "title": r.title, "flag": r.flag}
            for r in flag_rows(p, flag)
        ]
    if as_json:
        emit_json(rows)
        return
    print_table(["kind", "id", "key", "title", "flag"], [list(r.values()) for r in rows])
    typer.echo(f"{len(rows):,} flags", err=True)


@app.command()
def changes(
    directory: WorkspaceDir,
    since: Annotated[
        str | None, typer.Option(help="From this day (YYYY-MM-DD); default a week ago.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What moved since last week: dates slipped, scope added, health changed, work done."""
    from productops.core.errors import InvalidInput
    from productops.portfolio.updates.service import change_log

    with open_ws(directory) as ws, ws.sessions() as s:
        try:
            day = dt.date.fromisoformat(since) if since else None
        except ValueError:
            raise InvalidInput(f"--since '{since}' is not a day (YYYY-MM-DD)") from None
        start, end, found = change_log(s, since=day)
    if as_json:
        emit_json(
            {
                "from": start.isoformat() if start else None,
                "to": end.isoformat() if end else None,
                "changes": [
                    {
                        "kind": c.kind,
                        "subject_type": c.subject_type,
                        "subject_id": c.subject_id,
                        "key": c.key,
                        "title": c.title,
                        "what": c.describe(),
                    }
                    for c in found
                ],
            }
        )
        return
    if not found:
        typer.echo(
            "Nothing moved." if start else "No history yet: snapshots are taken at each sync."
        )
    for c in found:
        typer.echo(f"- {c.key + ' ' if c.key else ''}{c.title}: {c.describe()}")


@app.command()
def reminders(directory: WorkspaceDir, as_json: JsonOpt = False) -> None:
    """Who owes an update this cycle, on what."""
    from productops.portfolio.updates.service import reminders as due

    with open_ws(directory) as ws, ws.sessions() as s:
        rows = [
            {
                "owner": r.owner,
                "subject_type": r.subject_type,
                "subject_id": r.subject_id,
                "title": r.title,
                "last_update": r.last_update.isoformat() if r.last_update else None,
            }
            for r in due(ws, s)
        ]
    if as_json:
        emit_json(rows)
        return
    print_table(["owner", "on", "id", "title", "last update"], [list(r.values()) for r in rows])


@app.command()
def map(
    directory: WorkspaceDir,
    match: Annotated[str, typer.Argument(help="label, component, project or parent.")],
    value: Annotated[str, typer.Argument(help="The value to match, e.g. a label.")],
    initiative: Annotated[int | None, typer.Option(help="Map to this initiative (id).")] = None,
    objective: Annotated[int | None, typer.Option(help="Map to this objective (id).")] = None,
    team: Annotated[str | None, typer.Option(help="And to this team (name).")] = None,
) -> None:
    """Add a mapping rule; imported epics follow at once."""
    from productops.core.db import transaction
    from productops.portfolio.work.service import add_rule

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        rule = add_rule(
            s,
            match=match,
            value=value,
            initiative_id=initiative,
            objective_id=objective,
            team_id=_team_id(s, team),
            actor="cli",
        )
        typer.echo(f"Rule {rule.id}: epics with {match} '{value}' are mapped.")


@app.command("refresh-metrics")
def refresh_metrics(directory: WorkspaceDir) -> None:
    """Read metric-driven key results from the event store now (the server does it when it
    runs, since it owns the store)."""
    with open_ws(directory) as ws:
        server = server_for(ws)
        if server is not None:
            job = server.call(
                "POST", "/api/v1/jobs", json={"kind": "portfolio.refresh_metrics", "params": {}}
            ).json()
            state = server.follow_job(job["id"])
        else:
            with errors_as_exit():
                state = run_job_with_progress(ws, "portfolio.refresh_metrics", {})
    result = state["result"]
    typer.echo(f"{result['checked_in']} key results got a new value.")
    for message in (result.get("failed") or {}).values():
        typer.echo(f"Not read: {message}", err=True)
