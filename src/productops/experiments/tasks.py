"""The experiments pillar's background jobs: computing an experiment's results from the
event store (pinned: it runs where the store is owned), and applying scheduled flag changes
(every minute, from a job schedule)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from productops.core.auth import Permission
from productops.core.db import transaction
from productops.core.jobs import JobContext, job_handler


class ComputeResultsParams(BaseModel):
    """`experiments.compute_results`: the experiment to (re)compute."""

    model_config = ConfigDict(extra="forbid")

    experiment_id: int = Field(ge=1, le=2**63 - 1)


@job_handler(
    "experiments.compute_results",
    "Compute an experiment's results",
    params=ComputeResultsParams,
    permission=Permission.WRITE,
    pinned=True,
)
def compute_results_job(ctx: JobContext) -> dict[str, Any]:
    """Read the exposures and every metric from the event store, run the stats engine and
    keep the snapshot (the write is one short transaction at the end)."""
    from productops.experiments.registry import results, service

    params = ctx.params_as(ComputeResultsParams)
    with ctx.workspace.sessions() as s:
        exp = service.get_experiment(s, params.experiment_id)
        results.check_can_compute(exp)
        data = results.compute_results(
            ctx.workspace,
            exp,
            progress=lambda done, total, message: ctx.progress(done, total, message),
        )
    with transaction(ctx.workspace.sessions) as s:
        snap = service.save_result(s, params.experiment_id, data, f"job:{ctx.job_id}")
        snapshot_id = snap.id
    return {"snapshot": snapshot_id, "users": data["users"], "srm_p_value": data["srm_p_value"]}


@job_handler(
    "experiments.apply_schedules",
    "Apply scheduled flag changes",
    permission=Permission.WRITE,
)
def apply_schedules_job(ctx: JobContext) -> dict[str, Any]:
    """Apply every scheduled flag change whose time has come (each audited)."""
    from productops.experiments.flags import service

    with transaction(ctx.workspace.sessions) as s:
        done = service.apply_due_changes(s)
    ctx.progress(len(done), len(done), f"{len(done)} change(s) applied")
    return {"applied": done}
