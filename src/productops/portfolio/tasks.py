"""The portfolio's background jobs: syncing a connection (queued by hand or on a schedule),
and reading metric-driven key results from the event store."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from productops.core.auth import Permission
from productops.core.db import transaction
from productops.core.jobs import JobContext, job_handler


class SyncParams(BaseModel):
    """`portfolio.sync`: which connection, and whether to read everything again."""

    model_config = ConfigDict(extra="forbid")

    connection: int = Field(ge=1, description="the connection's id")
    full: bool = Field(default=False, description="read everything, not only what changed")


@job_handler(
    "portfolio.sync",
    "Sync work from Jira or Linear",
    params=SyncParams,
    permission=Permission.WRITE,
)
def sync_job(ctx: JobContext) -> dict[str, Any]:
    from productops.portfolio.sync.service import sync

    params = ctx.params_as(SyncParams)
    outcome = sync(
        ctx.workspace,
        params.connection,
        full=params.full,
        actor=f"job:{ctx.job_id}",
        job_id=ctx.job_id,
        progress=lambda done, total, message: ctx.progress(done, total, message),
    )
    r = outcome.report
    ctx.progress(
        r.items,
        r.items,
        f"{r.items:,} items read: {r.created:,} created, {r.updated:,} updated, "
        f"{r.deleted:,} deleted, {r.moved:,} moved, {r.unmapped:,} serve no objective "
        "(the report is on the Connections page)",
        force=True,
    )
    return {
        "run": outcome.run_id,
        **outcome.report.as_dict(),
        "requests": outcome.requests,
        "seconds": round(outcome.seconds, 2),
    }


@job_handler(
    "portfolio.refresh_metrics",
    "Read key results from the metric catalog",
    permission=Permission.WRITE,
    pinned=True,
)
def refresh_metrics_job(ctx: JobContext) -> dict[str, Any]:
    """Metric-driven key results get today's value (a check-in when it moved) and the day's
    snapshot is taken; it runs daily (`okrs.ensure_daily_refresh`). Pinned: it reads the
    event store, which the serving process owns."""
    from productops.core.clock import utcnow
    from productops.portfolio.okrs.service import refresh_metric_key_results
    from productops.portfolio.updates.service import take_snapshots

    with transaction(ctx.workspace.sessions) as s:
        outcome = refresh_metric_key_results(ctx.workspace, s, actor=f"job:{ctx.job_id}")
        snapshots = take_snapshots(ctx.workspace, s, utcnow().date())
    return {
        "checked_in": outcome.checked_in,
        "failed": {str(k): v for k, v in outcome.failed.items()},
        "snapshots": snapshots,
    }
