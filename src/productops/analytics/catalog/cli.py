"""`productops metrics ...` (the metric catalog) and `productops sql` (the SQL console).

Thin wrappers over `catalog.list_metrics`, `metrics.query_metric` and `sql.run_sql`. Heavy
imports stay inside the commands so that `productops --help` is instant.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from productops.cli.kit import (
    FormatOpt,
    OutputFormat,
    WorkspaceDir,
    fail,
    open_ws,
    print_table,
    server_for,
    workspace_or_fail,
)

if TYPE_CHECKING:
    pass

metrics_app = typer.Typer(
    help="The metric catalog (metrics.yml): list, check and query metrics.",
    no_args_is_help=True,
)


class Grain(StrEnum):
    day = "day"
    week = "week"
    month = "month"
    all = "all"


@metrics_app.command("list")
def metrics_list(
    directory: WorkspaceDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the catalog's metrics with their definitions."""
    from productops.analytics.catalog.service import list_metrics
    from productops.core.errors import ProductOpsError

    ws = workspace_or_fail(directory)
    try:
        metrics = list_metrics(ws)
    except ProductOpsError as exc:
        fail(str(exc))
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
    print_table(
        ["name", "type", "label", "definition"],
        [[m.name, m.type, m.label, m.definition()] for m in metrics],
    )


@metrics_app.command("check")
def metrics_check(directory: WorkspaceDir) -> None:
    """Validate metrics.yml; prints each mistake with its line and exits 1 if there are any."""
    from productops.analytics.catalog.service import CatalogError, load_catalog

    ws = workspace_or_fail(directory)
    try:
        catalog = load_catalog(ws)
    except CatalogError as exc:
        fail(str(exc))
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
    from productops.analytics.catalog.metrics import as_date, query_metric, result_json
    from productops.core.export import to_csv

    with open_ws(directory) as ws:
        server = server_for(ws)
        if server is not None:
            # The server owns the event store: the metric is computed there, the same way.
            params: dict[str, Any] = {"grain": grain.value, "by": by or []}
            for key, value in (("start", start), ("end", end)):
                day = as_date(value, key)  # the same message as locally for a bad date
                if day is not None:
                    params[key] = day.isoformat()
            data = server.call("GET", f"/api/v1/metrics/{metric}", params=params).json()
        else:
            data = result_json(
                query_metric(ws, metric, by=by, grain=grain.value, start=start, end=end)
            )
    columns = data["columns"]
    rows = [[row.get(c) for c in columns] for row in data["rows"]]
    if output is OutputFormat.json:
        if not show_sql:
            data.pop("sql")
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    if output is OutputFormat.csv:
        typer.echo(to_csv(columns, rows), nl=False)
    else:
        print_table(columns, rows)
    if show_sql:
        typer.echo(data["sql"], err=output is OutputFormat.csv)
