"""`productops feedback …`: import feedback from every channel, process it, find themes,
search it and manage feature requests and competitors. Each command is the service function
of the same name."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from productops.cli.kit import (
    FormatOpt,
    JsonOpt,
    OutputFormat,
    WorkspaceDir,
    emit_json,
    errors_as_exit,
    fail,
    open_ws,
    print_table,
    progress_bar,
    run_job_with_progress,
)

app = typer.Typer(
    help="Feedback: every channel in one place, themed, searchable, tied to requests.",
    no_args_is_help=True,
)

Files = Annotated[list[Path], typer.Argument(help="The files to import (several for one source).")]
SourceOpt = Annotated[
    str,
    typer.Option(
        "--source",
        "-s",
        help="zendesk, intercom, survey, delighted, typeform, googleplay, appstore, gong, "
        "csv or json.",
    ),
]


def _mapping(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        target, sep, column = pair.partition("=")
        if not sep or not target.strip() or not column.strip():
            fail(f"--map '{pair}': write target=column, e.g. --map text=Comment")
        out[target.strip()] = column.strip()
    return out


@app.command("import")
def import_feedback(
    directory: WorkspaceDir,
    files: Files,
    source: SourceOpt,
    map_: Annotated[
        list[str],
        typer.Option(
            "--map",
            help="For csv/json: target=column (text, created_at, external_id, title, email, "
            "name, user_id, account, score, score_kind, url, tags). Repeat for each.",
        ),
    ] = [],  # noqa: B006 - Typer reads the default
    records: Annotated[
        str | None, typer.Option(help="For json: the dotted path of the list of records.")
    ] = None,
    survey_type: Annotated[str, typer.Option(help="For survey: nps or csat.")] = "nps",
    process: Annotated[
        bool, typer.Option(help="Process what was imported (sentiment, vectors, themes).")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Import feedback files of one source. All or nothing: a bad row stops the import with
    its file, row and field named, and nothing is stored; importing again changes nothing."""
    from productops.core.db import transaction
    from productops.feedback.items import service
    from productops.feedback.settings import section

    for f in files:
        if not f.is_file():
            fail(f"{f}: no such file")
    mapping = _mapping(map_) if map_ else None
    with open_ws(directory) as ws:
        with progress_bar(quiet=as_json, unit="items") as move, transaction(ws.sessions) as s:
            result = service.import_feedback(
                s,
                source,
                files,
                actor="cli",
                mapping=mapping,
                records_path=records,
                survey_type=survey_type,
                redact_pii=section(ws).redact_pii,
                progress=move,
            )
        out: dict[str, Any] = result.as_dict()
        if process and (result.created or result.updated):
            state = run_job_with_progress(ws, "feedback.process", {}, quiet=as_json)
            out["processed"] = state["result"]
    if as_json:
        emit_json(out)
        return
    skipped = ", ".join(f"{n} {why}" for why, n in result.skipped.items())
    typer.echo(
        f"Imported {', '.join(result.files)}: {result.read:,} items, {result.created:,} new, "
        f"{result.updated:,} changed, {result.unchanged:,} already up to date"
        + (f"; left out: {skipped}" if skipped else "")
        + (f"; {result.people_created:,} new people" if result.people_created else "")
    )


@app.command("process")
def process(directory: WorkspaceDir, as_json: JsonOpt = False) -> None:
    """Process new feedback: language, sentiment, competitor mentions, vectors (offline),
    near-duplicates, themes and tag suggestions."""
    with open_ws(directory) as ws:
        state = run_job_with_progress(ws, "feedback.process", {}, quiet=as_json)
    if as_json:
        emit_json(state["result"])
    else:
        typer.echo(", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in state["result"].items()))


@app.command("discover")
def discover(
    directory: WorkspaceDir,
    seed: Annotated[int, typer.Option(min=0, help="Random seed of the clustering.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Discover themes over all feedback (processing what is pending first)."""
    with open_ws(directory) as ws:
        state = run_job_with_progress(ws, "feedback.discover", {"seed": seed}, quiet=as_json)
    r = state["result"]
    if as_json:
        emit_json(r)
    else:
        typer.echo(
            f"{r['themes']} themes over {r['items']:,} items ({r['new_themes']} new, "
            f"{r['kept_themes']} kept, {r['archived_themes']} archived); "
            f"{r['unassigned']:,} items in no theme"
        )


def _filters(**values: Any) -> Any:
    from productops.feedback.items.filters import Filters

    return Filters(**{k: v for k, v in values.items() if v not in (None, "")})


@app.command("list")
def list_feedback(
    directory: WorkspaceDir,
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    status: Annotated[str | None, typer.Option(help="new, triaged, duplicate or spam.")] = None,
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
    sentiment: Annotated[str | None, typer.Option(help="negative, neutral, positive.")] = None,
    theme: Annotated[int | None, typer.Option(help="A theme's id (0: no theme).")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    fmt: FormatOpt = OutputFormat.table,
) -> None:
    """Feedback, newest first, with filters; --format csv exports every match."""
    from productops.core.export import to_csv
    from productops.feedback.items import service

    with errors_as_exit():
        f = _filters(
            source=source,
            status=status,
            since=dt.date.fromisoformat(since) if since else None,
            until=dt.date.fromisoformat(until) if until else None,
            sentiment=sentiment,
            theme_id=theme,
        )
    with open_ws(directory) as ws, ws.sessions() as s:
        if fmt == OutputFormat.csv:
            columns, rows = service.export_items(s, f)
            typer.echo(to_csv(columns, rows), nl=False)
            return
        items, total = service.list_items(s, f, limit=limit)
        out = [
            {
                "id": i.id,
                "source": i.source,
                "created_at": i.created_at.date().isoformat(),
                "status": i.status,
                "sentiment": i.sentiment,
                "theme_id": i.theme_id,
                "text": i.text[:200],
            }
            for i in items
        ]
    if fmt == OutputFormat.json:
        emit_json({"total": total, "items": out})
        return
    print_table(
        ["id", "source", "date", "status", "sentiment", "theme", "text"],
        [[*list(r.values())[:-1], str(r["text"])[:70]] for r in out],
    )
    typer.echo(f"{len(out)} of {total:,}", err=True)


@app.command("search")
def search(
    directory: WorkspaceDir,
    query: Annotated[str, typer.Argument(help="Words or a question.")],
    source: Annotated[str | None, typer.Option(help="Only this source.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Hybrid search (full text and meaning) over all feedback."""
    from productops.feedback.search import service

    with open_ws(directory) as ws:
        result = service.search(ws, query, _filters(source=source), limit=limit)
    rows = [
        {"id": h.item.id, "score": round(h.score, 4), "source": h.item.source, "text": h.item.text}
        for h in result.hits
    ]
    shown = [[r["id"], r["score"], r["source"], str(r["text"])[:80]] for r in rows]
    if as_json:
        emit_json({"total": result.total, "hits": rows})
        return
    print_table(["id", "score", "source", "text"], shown)


@app.command("themes")
def themes(directory: WorkspaceDir, as_json: JsonOpt = False) -> None:
    """Themes, largest first, with last week's feedback against the week before."""
    from productops.feedback.themes import service

    with open_ws(directory) as ws, ws.sessions() as s:
        rows: list[dict[str, Any]] = [
            {
                "id": t.theme.id,
                "name": t.theme.name,
                "size": t.theme.size,
                "last_week": t.last_week,
                "week_before": t.week_before,
                "growing": t.growing,
                "emerging": t.emerging,
                "key_phrases": t.theme.key_phrases,
            }
            for t in service.trends(s)
        ]
        unassigned = service.unassigned_count(s)
    if as_json:
        emit_json({"themes": rows, "unassigned": unassigned})
        return
    print_table(
        ["id", "theme", "items", "last week", "week before", "trend"],
        [
            [
                r["id"],
                r["name"],
                f"{r['size']:,}",
                r["last_week"],
                r["week_before"],
                "emerging" if r["emerging"] else "growing" if r["growing"] else "",
            ]
            for r in rows
        ],
    )
    typer.echo(f"{unassigned:,} items in no theme", err=True)


@app.command("requests")
def requests(
    directory: WorkspaceDir,
    status: Annotated[str | None, typer.Option(help="open, or one status.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Feature requests ranked by demand (ARR of the accounts asking, then accounts, people)."""
    from productops.feedback.requests import service

    with open_ws(directory) as ws, ws.sessions() as s:
        rows = [
            {"id": r.request.id, "title": r.request.title, "status": r.request.status}
            | r.demand.as_dict()
            for r in service.list_requests(s, status=status)
        ]
    if as_json:
        emit_json(rows)
        return
    print_table(
        ["id", "request", "status", "people", "accounts", "ARR"],
        [
            [r["id"], r["title"], r["status"], r["people"], r["accounts"], f"{r['arr']:,.0f}"]
            for r in rows
        ],
    )


@app.command("ship")
def ship(
    directory: WorkspaceDir,
    request_id: Annotated[int, typer.Argument(help="The request's id.")],
    as_json: JsonOpt = False,
) -> None:
    """Mark a request shipped and tell everyone who asked (email, or export the list)."""
    from productops.core.db import transaction
    from productops.feedback.requests import service
    from productops.feedback.schemas import RequestUpdate

    with open_ws(directory) as ws:
        with transaction(ws.sessions) as s:
            service.update_request(
                s, request_id, RequestUpdate(status="shipped"), actor="cli", notify=False
            )
        state = run_job_with_progress(
            ws, "feedback.notify", {"request_id": request_id}, quiet=as_json
        )
    result = state["result"]
    if as_json:
        emit_json(result)
    else:
        typer.echo(
            f"Request {request_id} shipped: {result['sent']} told by email, "
            f"{result['already_told']} told before, {result['no_email']} without an email address"
        )


@app.command("add-competitor")
def add_competitor(
    directory: WorkspaceDir,
    name: Annotated[str, typer.Argument(help="The competitor's name.")],
    alias: Annotated[
        list[str], typer.Option("--alias", help="Another name customers use (repeat).")
    ] = [],  # noqa: B006
) -> None:
    """Add a competitor; all feedback that names it is tagged."""
    from productops.core.db import transaction
    from productops.feedback.competitors import service
    from productops.feedback.schemas import CompetitorCreate

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        c = service.create_competitor(s, CompetitorCreate(name=name, aliases=alias), "cli")
        mentions = service.stats(s)
        count = next((m.mentions for m in mentions if m.competitor.id == c.id), 0)
    typer.echo(f"Added {name}: mentioned in {count:,} pieces of feedback")


@app.command("relink")
def relink(directory: WorkspaceDir) -> None:
    """Merge people this pillar created into the customers' records that have appeared
    since (same email), and link unlinked feedback."""
    from productops.core.db import transaction
    from productops.feedback.items.people import merge_people

    with open_ws(directory) as ws, transaction(ws.sessions) as s:
        r = merge_people(s, "cli")
    typer.echo(
        f"{r.people_merged} people merged, {r.items_moved} items moved, "
        f"{r.items_linked} items linked"
    )
