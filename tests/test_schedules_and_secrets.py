"""Two things of the house every pillar reuses: jobs queued on a schedule, and credentials
encrypted at rest with a key kept in the workspace's private files."""

from __future__ import annotations

import datetime as dt
import stat
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from productops.core import jobs, secrets
from productops.core.backup import workspace_file_patterns
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import InvalidInput, SettingsError
from productops.core.jobs import JobContext, job_handler
from productops.core.models import Job, JobStatus
from productops.core.workspace import Workspace, private_paths


class TickParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = "tick"


@job_handler("test.tick", "Tick", params=TickParams)
def _tick(ctx: JobContext) -> dict[str, Any]:
    return {"label": ctx.params_as(TickParams).label}


def _jobs(ws: Workspace) -> int:
    with ws.sessions() as s:
        return s.scalar(select(func.count(Job.id)).where(Job.kind == "test.tick")) or 0


def test_a_schedule_queues_its_job_when_due_and_once_per_run(workspace: Workspace) -> None:
    now = utcnow()
    with transaction(workspace.sessions) as s:
        jobs.schedule(
            s, "tick", "test.tick", {"label": "x"}, dt.timedelta(hours=1), first_run_at=now
        )
    assert jobs.enqueue_due(workspace, now - dt.timedelta(seconds=1)) == []
    first = jobs.enqueue_due(workspace, now + dt.timedelta(seconds=1))
    assert len(first) == 1
    # A second worker looking at the same moment queues nothing more.
    assert jobs.enqueue_due(workspace, now + dt.timedelta(seconds=2)) == []
    # While the last run is still queued, the next one is skipped rather than piled up.
    assert jobs.enqueue_due(workspace, now + dt.timedelta(hours=1, seconds=5)) == []
    jobs.run_pending(workspace)
    with workspace.sessions() as s:
        assert s.get(Job, first[0]).status == JobStatus.succeeded  # type: ignore[union-attr]
        assert jobs.get_schedule(s, "tick").next_run_at == now + dt.timedelta(hours=2)  # type: ignore[union-attr]
    assert len(jobs.enqueue_due(workspace, now + dt.timedelta(hours=2, seconds=5))) == 1
    assert _jobs(workspace) == 2


def test_a_schedule_checks_its_parameters_and_its_pace(workspace: Workspace) -> None:
    with transaction(workspace.sessions) as s:
        with pytest.raises(InvalidInput, match="label"):
            jobs.schedule(s, "bad", "test.tick", {"label": 3, "x": 1}, dt.timedelta(hours=1))
        with pytest.raises(InvalidInput, match="once a minute"):
            jobs.schedule(s, "fast", "test.tick", {}, dt.timedelta(seconds=5))
        jobs.schedule(s, "tick", "test.tick", {}, dt.timedelta(hours=1))
        assert jobs.unschedule(s, "tick") is True
        assert jobs.unschedule(s, "tick") is False


def test_credentials_are_encrypted_with_a_private_key_file(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    token = secrets.encrypt(ws, "jira-api-token-123")
    assert "jira-api-token-123" not in token
    assert secrets.decrypt(ws, token) == "jira-api-token-123"
    key = secrets.key_path(ws)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key in private_paths(ws)
    assert secrets.SECRETS_FILE in workspace_file_patterns()  # backups carry it


def test_a_token_from_another_key_is_refused_by_name(sqlite_workspace: Workspace) -> None:
    ws = sqlite_workspace
    token = secrets.encrypt(ws, "s3cret")
    secrets.key_path(ws).unlink()
    with pytest.raises(SettingsError, match="missing"):
        secrets.decrypt(ws, token)
    secrets.encrypt(ws, "other")  # a new key
    with pytest.raises(SettingsError, match="another key"):
        secrets.decrypt(ws, token)
