"""The analytics pillar's background jobs. Each needs the event store, so it is pinned: it
runs in the process that owns the store (the worker inside `serve`)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.auth import Permission
from productops.core.errors import InvalidInput
from productops.core.jobs import JobContext, job_handler

UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class ImportEventsParams(BaseModel):
    """`analytics.import_events`: a file already placed in the store's import folder."""

    model_config = ConfigDict(extra="forbid")

    upload: str = Field(pattern=UPLOAD_NAME.pattern, description="the file's name there")
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    skip_bad_rows: bool = False
    name: str = Field(default="", max_length=300, description="the file's name as sent")


@job_handler(
    "analytics.import_events",
    "Import events from a file",
    params=ImportEventsParams,
    permission=Permission.WRITE,
    pinned=True,
)
def import_events_job(ctx: JobContext) -> dict[str, Any]:
    from productops.analytics.ingest.bulk import import_events

    params = ctx.params_as(ImportEventsParams)
    folder = store.import_dir(events_file(ctx.workspace))
    path = (folder / params.upload).resolve()
    if path.parent != folder.resolve() or not path.is_file():
        raise InvalidInput(f"no uploaded file '{params.upload}' to import")
    try:
        result = import_events(
            ctx.workspace,
            path,
            format=params.format,
            progress=lambda done, total, message: ctx.progress(done, total, message),
            skip_bad_rows=params.skip_bad_rows,
            display_name=params.name or None,
        )
    finally:
        path.unlink(missing_ok=True)
    return result.as_dict()


@job_handler(
    "analytics.recount_tracking",
    "Recount the tracking plan's checks",
    permission=Permission.WRITE,
    pinned=True,
)
def recount_tracking_job(ctx: JobContext) -> dict[str, Any]:
    """Bring the per-day violation counts up to date (after the plan changed, or after many
    days of events arrived at once)."""
    from productops.analytics.tracking import counts

    state = counts.catch_up(
        ctx.workspace, progress=lambda done, total, message: ctx.progress(done, total, message)
    )
    return {"current": state.current, "days_left": state.dirty_days}
