"""`productops sql`: one read-only SELECT over the event store."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from productops.cli.kit import (
    FormatOpt,
    OutputFormat,
    WorkspaceDir,
    fail,
    print_table,
    workspace_or_fail,
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
    from productops.core.errors import ProductOpsError

    ws = workspace_or_fail(directory)
    try:
        result = run_sql(ws, query, limit=limit)
    except ProductOpsError as exc:
        fail(str(exc))
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
        print_table(result.columns, result.json_rows())
    if result.truncated:
        typer.echo(f"(truncated: only the first {result.limit:,} rows are shown)", err=True)
