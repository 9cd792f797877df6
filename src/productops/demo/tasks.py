"""The demo build as a background job, so the UI shows its progress like any other."""

from __future__ import annotations

import datetime as dt
from typing import Any

from productops.core.errors import InvalidInput
from productops.core.jobs import JobContext, job_handler
from productops.demo import DemoScale, build_demo, demo_state


@job_handler("demo.build", "Build the demo company")
def build_demo_job(ctx: JobContext) -> dict[str, Any]:
    if demo_state(ctx.workspace) != "empty":
        raise InvalidInput(
            "the demo company is only built into an empty workspace; this one already has "
            "users or a demo"
        )
    anchor = ctx.params.get("anchor")
    result = build_demo(
        ctx.workspace,
        seed=int(ctx.params.get("seed", 7)),
        anchor=dt.date.fromisoformat(anchor) if anchor else None,
        scale=DemoScale.named(str(ctx.params.get("size", "full"))),
        progress=lambda done, total, message: ctx.progress(done, total, message),
    )
    return result.steps
