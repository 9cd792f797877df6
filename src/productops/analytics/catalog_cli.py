"""`productops metrics ...` (the metric catalog) and `productops sql` (the SQL console).

Thin wrappers over `catalog.list_metrics`, `metrics.query_metric` and `sql.run_sql`. Heavy
imports stay inside the commands so that `productops --help` is instant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

metrics_app = typer.Typer(
    help="The metric catalog (metrics.yml): list, check and query metrics.",
    no_args_is_help=True,
)

WorkspaceDir = Annotated[Path, typer.Argument(help="The workspace folder.")]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Grain(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    all = "all"


FormatOpt = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table, json or csv.", case_sensitive=False)
]


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


def _open(directory: Path) -> Workspace:
    from productops.core.errors import ProductOpsError
    from productops.core.workspace import open_workspace

    try:
        return open_workspace(directory)
    except ProductOpsError as exc:
        _fail(str(exc))


def _print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


@metrics_app.command("list")
def metrics_list(
    directory: WorkspaceDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the catalog's metrics with their definitions."""
    from productops.analytics.catalog import list_metrics
    from productops.core.errors import ProductOpsError

    ws = _open(directory)
    try:
        metrics = list_metrics(ws)
    except ProductOpsError as exc:
        _fail(str(exc))
    finally:
        ws.close()
    if as_json:
        out = [
            {**m.model_dump(mode="json", exclude_none=True), "definition": m.definition()}
            for m in metrics
        ]
        typer.echo(json.dumps(out, indent=2))
        return
    if not metrics:
        typer.echo("No metrics yet: add them to metrics.yml in the workspace.")
        return
    _print_table(
        ["name", "type", "label", "definition"],
        [[m.name, m.type, m.label, m.definition()] for m in metrics],
    )


@metrics_app.command("check")
def metrics_check(directory: WorkspaceDir) -> None:
    """Validate metrics.yml; prints each mistake with its line and exits 1 if there are any."""
    from productops.analytics.catalog import CatalogError, load_catalog

    ws = _open(directory)
    try:
        catalog = load_catalog(ws)
    except CatalogError as exc:
        _fail(str(exc))
    finally:
        ws.close()
    typer.echo(
        f"metrics.yml is valid: {len(catalog.metrics)} metrics, "
        f"{len(catalog.dimensions)} dimensions"
    )


@metrics_app.command("query")
def metrics_query(
    directory: WorkspaceDir,
    metric: Annotated[str, typer.Argument(help="The metric's name in the catalog.")],
    by: Annotated[
        list[str] | None,
        typer.Option("--by", help="A catalog dimension to break down by (repeatable)."),
    ] = None,
    grain: Annotated[
        Grain, typer.Option(help="day, week (from Monday), month, or all.", case_sensitive=False)
    ] = Grain.day,
    start: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD.")] = None,
    end: Annotated[str | None, typer.Option(help="Last day (included), YYYY-MM-DD.")] = None,
    output: FormatOpt = OutputFormat.table,
    show_sql: Annotated[
        bool, typer.Option("--show-sql", help="Also print the SQL the metric compiled to.")
    ] = False,
) -> None:
    """Compute a catalog metric per period (and dimension)."""
    from productops.analytics.metrics import query_metric, result_json
    from productops.analytics.sql import to_csv
    from productops.core.errors import ProductOpsError

    ws = _open(directory)
    try:
        result = query_metric(ws, metric, by=by, grain=grain.value, start=start, end=end)
    except ProductOpsError as exc:
        _fail(str(exc))
    finally:
        ws.close()
    if output is OutputFormat.json:
        data = result_json(result)
        if not show_sql:
            data.pop("sql")
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    if output is OutputFormat.csv:
        typer.echo(to_csv(result.columns, result.rows()), nl=False)
    else:
        _print_table(result.columns, result.rows())
    if show_sql:
        typer.echo(result.sql, err=output is OutputFormat.csv)


def sql(
    directory: WorkspaceDir,
    query: Annotated[str, typer.Argument(help="One SELECT over events, persons, accounts.")],
    output: FormatOpt = OutputFormat.table,
    limit: Annotated[int, typer.Option(min=1, max=1_000_000, help="At most this many rows.")] = (
        10_000
    ),
) -> None:
    """Run one read-only SELECT over the event store (tables: events, events_resolved,
    persons, accounts; see docs/sql.md)."""
    from productops.analytics.sql import run_sql
    from productops.core.errors import ProductOpsError

    ws = _open(directory)
    try:
        result = run_sql(ws, query, limit=limit)
    except ProductOpsError as exc:
        _fail(str(exc))
    finally:
        ws.close()
    if output is OutputFormat.json:
        out = {
            "columns": result.columns,
            "rows": result.json_rows(),
            "row_count": result.row_count,
            "truncated": result.truncated,
        }
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    if output is OutputFormat.csv:
        typer.echo(result.to_csv(), nl=False)
    else:
        _print_table(result.columns, result.json_rows())
    if result.truncated:
        typer.echo(f"(truncated: only the first {result.limit:,} rows are shown)", err=True)
