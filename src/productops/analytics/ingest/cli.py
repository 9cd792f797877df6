"""`productops events`: bulk import of event files into the workspace's event store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from productops.cli.kit import WorkspaceDir, open_ws, progress_bar, server_for

if TYPE_CHECKING:
    from productops.cli.kit import ServerClient

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
    with its row and column named (unless --skip-bad-rows); importing again adds nothing.
    While a server serves the workspace, the file is sent to it and imported there."""
    from productops.analytics.ingest.bulk import FORMATS, ImportFileError, import_events

    with open_ws(directory, run_migrations=False) as ws:
        if format not in FORMATS:
            raise ImportFileError(f"format '{format}' is not one of {', '.join(FORMATS)}")
        if not file.is_file():
            raise ImportFileError(f"{file}: no such file")
        server = server_for(ws)
        if server is not None:
            result = _import_on_server(server, file, format, skip_bad_rows, as_json)
        else:
            with progress_bar(quiet=as_json, unit="rows") as move:
                result = import_events(
                    ws, file, format=format, progress=move, skip_bad_rows=skip_bad_rows
                ).as_dict()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _summary(result)


def _import_on_server(
    server: ServerClient, file: Path, format: str, skip: bool, quiet: bool
) -> dict[str, Any]:
    """Send the file to the server (under a progress bar), then follow the import job."""
    size = file.stat().st_size

    def chunks(move: Any) -> Any:
        sent = 0
        with file.open("rb") as fh:
            while chunk := fh.read(1024 * 1024):
                sent += len(chunk)
                move(sent, size, "sending")
                yield chunk

    with progress_bar(quiet=quiet) as move:
        queued = server.call(
            "POST",
            "/api/v1/events/imports",
            params={"filename": file.name, "format": format, "skip_bad_rows": skip},
            content=chunks(move),
            headers={"Content-Type": "application/octet-stream"},
        ).json()
    state = server.follow_job(queued["job_id"], quiet=quiet)
    result: dict[str, Any] = state["result"]
    result["file"] = str(file)
    return result


def _summary(result: dict[str, Any]) -> None:
    seconds = float(result.get("seconds") or 0)
    rate = f" ({result['rows'] / seconds:,.0f} rows/s)" if seconds > 0 else ""
    typer.echo(
        f"Imported {result['file']}: {result['rows']:,} rows, {result['stored']:,} stored, "
        f"{result['duplicates']:,} already there, {result['rejected_count']:,} left out "
        f"in {seconds:.1f} s{rate}"
    )
    shown: list[Any] = list(result["rejected"][:SHOWN_PROBLEMS])
    for problem in shown:
        unit = "line" if result["format"] == "jsonl" else "row"
        typer.echo(f"  {unit} {problem['row']}: {problem['reason']}")
    if result["rejected_count"] > len(shown):
        more = result["rejected_count"] - len(shown)
        typer.echo(f"  … and {more:,} more (use --json for more)")


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
    from productops.analytics import tracking
    from productops.analytics.settings import events_file
    from productops.analytics.store import close_writer

    with open_ws(directory, run_migrations=False) as ws:
        server = server_for(ws)
        if server is not None:
            out = server.call(
                "POST",
                "/api/v1/tracking-plan/quarantine/release",
                json={"event_ids": event_ids or None},
            ).json()
        else:
            try:
                result = tracking.release_quarantine(ws, event_ids or "all")
            finally:
                close_writer(events_file(ws))
            out = {"released": result.released, "inserted": result.inserted}
    if as_json:
        typer.echo(json.dumps(out))
    else:
        typer.echo(f"Released {out['released']:,} events; {out['inserted']:,} were new.")
