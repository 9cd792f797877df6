"""Background jobs: queued, claimed once, run with progress the CLI and the UI both show."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from typer.testing import CliRunner

from productops.cli import app as cli
from productops.cli.kit import error_detail
from productops.core import jobs
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.jobs import JobContext, job_handler
from productops.core.models import Job, JobStatus, Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

SEEN_PROGRESS: list[tuple[int, int | None]] = []


class CountParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(default=10, ge=0, le=1000)


@job_handler("test.count", "Count to a number", params=CountParams)
def _count(ctx: JobContext) -> dict[str, Any]:
    n = ctx.params_as(CountParams).n
    for i in range(1, n + 1):
        ctx.progress(i, n, f"at {i}", force=True)
        with ctx.workspace.sessions() as s:
            job = s.get(Job, ctx.job_id)
            assert job is not None
            SEEN_PROGRESS.append((job.progress_done, job.progress_total))
    return {"counted": n}


@job_handler("test.fail", "Always fails")
def _fail(ctx: JobContext) -> dict[str, Any]:
    raise ValueError("row 3, column 'x': not a number")


def _enqueue(ws: Workspace, kind: str, params: dict[str, Any] | None = None) -> int:
    with transaction(ws.sessions) as s:
        return jobs.enqueue(s, kind, params or {}, created_by="test").id


def test_a_job_runs_and_records_its_progress_and_result(workspace: Workspace) -> None:
    SEEN_PROGRESS.clear()
    job_id = _enqueue(workspace, "test.count", {"n": 5})
    assert jobs.run_pending(workspace) == 1
    assert SEEN_PROGRESS == [(i, 5) for i in range(1, 6)]
    with workspace.sessions() as s:
        job = jobs.get_job(s, job_id)
        assert job.status == JobStatus.succeeded
        assert job.result == {"counted": 5}
        assert (job.progress_done, job.progress_total) == (5, 5)
        assert job.started_at is not None and job.finished_at is not None


def test_a_failing_job_records_the_error(workspace: Workspace) -> None:
    job_id = _enqueue(workspace, "test.fail")
    jobs.run_pending(workspace)
    with workspace.sessions() as s:
        job = jobs.get_job(s, job_id)
        assert job.status == JobStatus.failed
        assert job.error is not None and "row 3, column 'x'" in job.error


def test_each_job_is_claimed_by_exactly_one_worker(sqlite_workspace: Workspace) -> None:
    ids = [_enqueue(sqlite_workspace, "test.count", {"n": 1}) for _ in range(12)]
    claimed: list[int] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job_id := jobs.claim_next(sqlite_workspace, name)) is not None:
            with lock:
                claimed.append(job_id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == ids


def test_jobs_of_a_stopped_worker_are_marked_failed(workspace: Workspace) -> None:
    job_id = _enqueue(workspace, "test.count")
    assert jobs.claim_next(workspace, "gone") == job_id
    with transaction(workspace.sessions) as s:
        s.execute(
            update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow() - jobs.STALE_AFTER * 2)
        )
    assert jobs.fail_stale_jobs(workspace) == 1
    with workspace.sessions() as s:
        assert jobs.get_job(s, job_id).status == JobStatus.failed


def test_unknown_job_kind_is_refused_by_name(workspace: Workspace) -> None:
    key = api_key(workspace, "write")
    r = TestClient(create_app(workspace)).post(
        "/api/v1/jobs", json={"kind": "nope"}, headers={"Authorization": f"Bearer {key}"}
    )
    assert r.status_code == 404
    assert "no job kind 'nope'" in r.json()["detail"]


def test_api_and_page_show_the_same_progress(workspace: Workspace) -> None:
    key = api_key(workspace, "write")
    client = TestClient(create_app(workspace))
    r = client.post(
        "/api/v1/jobs",
        json={"kind": "test.count", "params": {"n": 3}},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 202 and r.json()["status"] == "queued"
    job_id = r.json()["id"]
    jobs.run_pending(workspace)
    body = client.get(f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {key}"}).json()
    assert (body["status"], body["progress_done"], body["progress_total"]) == ("succeeded", 3, 3)
    viewer = sign_in(workspace, Role.viewer)
    page = viewer.client.get(f"/jobs/{job_id}?partial=1").text
    assert 'value="3" max="3"' in page and "succeeded" in page
    assert "hx-trigger" not in page  # finished jobs stop polling


def test_a_running_job_page_polls_for_progress(workspace: Workspace) -> None:
    job_id = _enqueue(workspace, "test.count")
    viewer = sign_in(workspace, Role.viewer)
    page = viewer.client.get(f"/jobs/{job_id}").text
    assert f'hx-get="/jobs/{job_id}?partial=1"' in page and 'hx-trigger="every 1s"' in page


def test_in_process_worker_runs_queued_jobs(workspace: Workspace) -> None:
    worker = jobs.Worker(workspace, poll_seconds=0.05)
    worker.start()
    try:
        job_id = _enqueue(workspace, "test.count", {"n": 2})
        for _ in range(200):
            with workspace.sessions() as s:
                if jobs.get_job(s, job_id).status == JobStatus.succeeded:
                    break
            threading.Event().wait(0.05)
        with workspace.sessions() as s:
            assert jobs.get_job(s, job_id).status == JobStatus.succeeded
    finally:
        worker.stop()


def test_cli_runs_a_job_with_a_progress_bar(sqlite_workspace: Workspace) -> None:
    result = CliRunner().invoke(
        cli, ["jobs", "run", str(sqlite_workspace.path), "test.count", "--param", "n=4"]
    )
    assert result.exit_code == 0, result.output
    assert "Count to a number" in result.output and "100%" in result.output
    with sqlite_workspace.sessions() as s:
        job = s.scalar(select(Job))
        assert job is not None and job.status == JobStatus.succeeded and job.created_by == "cli"


def test_cli_reports_a_failed_job_and_exits_non_zero(sqlite_workspace: Workspace) -> None:
    result = CliRunner().invoke(cli, ["jobs", "run", str(sqlite_workspace.path), "test.fail"])
    assert result.exit_code == 1
    assert "not a number" in result.output


def test_a_job_kind_refuses_parameters_it_does_not_take(workspace: Workspace) -> None:
    key = api_key(workspace, "write")
    client = TestClient(create_app(workspace))
    auth = {"Authorization": f"Bearer {key}"}
    for params, field in (({"n": "many"}, "n"), ({"n": 3, "shell": "rm"}, "shell")):
        r = client.post("/api/v1/jobs", json={"kind": "test.count", "params": params}, headers=auth)
        assert r.status_code == 422, r.text
        assert field in error_detail(r)
    with workspace.sessions() as s:
        assert s.scalar(select(Job)) is None  # nothing queued


def test_a_job_kind_says_who_may_queue_it(workspace: Workspace) -> None:
    """A `write` key cannot queue the demo build (it needs admin): the attack from issue 7."""
    client = TestClient(create_app(workspace))
    write = {"Authorization": f"Bearer {api_key(workspace, 'write')}"}
    r = client.post("/api/v1/jobs", json={"kind": "demo.build", "params": {}}, headers=write)
    assert r.status_code == 403, r.text
    assert "admin" in r.json()["detail"]
    with workspace.sessions() as s:
        assert s.scalar(select(Job)) is None
    admin = {"Authorization": f"Bearer {api_key(workspace, 'admin')}"}
    r = client.post(
        "/api/v1/jobs", json={"kind": "demo.build", "params": {"size": "huge"}}, headers=admin
    )
    assert r.status_code == 422 and "size" in error_detail(r)
