"""`productops sql`: one read-only SELECT over the event store."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from productops.cli.kit import (
    FormatOpt,
    OutputFormat,
    WorkspaceDir,
    open_ws,
    print_table,
    server_for,
)


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
    from productops.analytics.sql.service import run_sql
    from productops.core.export import to_csv

    with open_ws(directory) as ws:
        server = server_for(ws)
        if server is not None:
            # The server owns the event store: the query runs there, the same way.
            out = server.call("POST", "/api/v1/sql", json={"query": query, "limit": limit}).json()
        else:
            result = run_sql(ws, query, limit=limit)
            out = {
                "columns": result.columns,
                "rows": result.json_rows(),
                "row_count": result.row_count,
                "truncated": result.truncated,
                "limit": result.limit,
            }
    if output is OutputFormat.json:
        out.pop("limit", None)
        typer.echo(json.dumps(out, indent=2, default=str))
        return
    if output is OutputFormat.csv:
        typer.echo(to_csv(out["columns"], out["rows"]), nl=False)
    else:
        print_table(out["columns"], out["rows"])
    if out["truncated"]:
        typer.echo(f"(truncated: only the first {limit:,} rows are shown)", err=True)
