"""`productops events`: bulk import of event files into the workspace's event store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from productops.cli.kit import WorkspaceDir, fail

if TYPE_CHECKING:
    from productops.analytics.ingest.bulk import ImportResult

events_app = typer.Typer(help="Events: import files into the event store.", no_args_is_help=True)

SHOWN_PROBLEMS = 10


@events_app.callback()
def events() -> None:
    """Events: import files into the event store."""


@events_app.command("import")
def import_command(
    directory: WorkspaceDir,
    file: Annotated[Path, typer.Argument(help="A .jsonl, .csv or .parquet file (.gz too).")],
    format: Annotated[
        str, typer.Option("--format", help="auto (from the file name), jsonl, csv or parquet.")
    ] = "auto",
    skip_bad_rows: Annotated[
        bool,
        typer.Option(
            "--skip-bad-rows",
            help="Leave out bad rows and list them, instead of importing nothing.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Import events from JSONL, CSV or Parquet. All or nothing: a bad row stops the import
    with its row and column named (unless --skip-bad-rows); importing again adds nothing."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from productops.analytics.ingest.bulk import import_events
    from productops.core.errors import ProductOpsError
    from productops.core.workspace import open_workspace

    try:
        ws = open_workspace(directory, run_migrations=False)
    except ProductOpsError as exc:
        fail(str(exc))
    bar = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.completed:>12,.0f} rows"),
        TimeElapsedColumn(),
        disable=as_json,
        transient=False,
    )
    task = bar.add_task("starting", total=None)

    def progress(done: int, total: int | None, message: str | None) -> None:
        bar.update(task, completed=done, total=total, description=message or "importing")

    try:
        with bar:
            result = import_events(
                ws, file, format=format, progress=progress, skip_bad_rows=skip_bad_rows
            )
    except ProductOpsError as exc:
        fail(str(exc))
    finally:
        ws.close()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _summary(result)


def _summary(result: ImportResult) -> None:
    rate = f" ({result.events_per_second:,.0f} rows/s)" if result.seconds > 0 else ""
    typer.echo(
        f"Imported {result.file}: {result.rows:,} rows, {result.stored:,} stored, "
        f"{result.duplicates:,} already there, {result.rejected_count:,} left out "
        f"in {result.seconds:.1f} s{rate}"
    )
    shown: list[Any] = list(result.rejected[:SHOWN_PROBLEMS])
    for problem in shown:
        unit = "line" if result.format == "jsonl" else "row"
        typer.echo(f"  {unit} {problem.row}: {problem.reason}")
    if result.rejected_count > len(shown):
        typer.echo(f"  … and {result.rejected_count - len(shown):,} more (use --json for more)")


@events_app.command("release-quarantine")
def release_quarantine_command(
    directory: WorkspaceDir,
    event_ids: Annotated[
        list[str] | None, typer.Argument(help="Event ids to let in; none means all.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Move events held in quarantine by the tracking plan into the event store (each
    once; events already stored are not stored again)."""
    from productops.analytics import tracking as tracking_plan
    from productops.analytics.settings import events_file
    from productops.analytics.store import close_writer
    from productops.core.errors import ProductOpsError
    from productops.core.workspace import open_workspace

    try:
        ws = open_workspace(directory, run_migrations=False)
    except ProductOpsError as exc:
        fail(str(exc))
    try:
        result = tracking_plan.release_quarantine(ws, event_ids or "all")
    except ProductOpsError as exc:
        fail(str(exc))
    finally:
        close_writer(events_file(ws))
        ws.close()
    if as_json:
        typer.echo(json.dumps({"released": result.released, "inserted": result.inserted}))
    else:
        typer.echo(f"Released {result.released:,} events; {result.inserted:,} were new.")
