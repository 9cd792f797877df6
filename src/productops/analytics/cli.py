"""`productops analytics …`: events, the metric catalog and the SQL console. The same groups
are offered at the top level (`productops events import`, `productops metrics query`,
`productops sql`), as they were before the pillar had a group of its own."""

from __future__ import annotations

import typer

from productops.analytics.catalog.cli import metrics_app
from productops.analytics.ingest.cli import events_app
from productops.analytics.sql.cli import sql

app = typer.Typer(
    help="Data & insights: events, the metric catalog and the SQL console.",
    no_args_is_help=True,
)
app.add_typer(events_app, name="events")
app.add_typer(metrics_app, name="metrics")
app.command("sql")(sql)

ALIASES = ("events", "metrics", "sql")
