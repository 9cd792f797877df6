"""Background jobs: one database-backed queue for every long task.

`enqueue` adds a job; a worker (a thread inside `serve`, or `productops worker DIR`) claims
jobs one at a time with an atomic UPDATE, runs the registered handler and records progress
that both the CLI and the UI read.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.auth import Permission
from productops.core.clock import utcnow
from productops.core.db import best_effort_write, transaction
from productops.core.errors import InvalidInput, NotFound, ProductOpsError
from productops.core.models import Job, JobSchedule, JobStatus

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(minutes=5)
HEARTBEAT_EVERY = dt.timedelta(seconds=30)


P = TypeVar("P", bound=BaseModel)


class NoParams(BaseModel):
    """A job kind that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


class JobContext:
    """What a handler gets: its parameters (validated by its kind's model), the workspace,
    and a way to report progress."""

    def __init__(self, workspace: Workspace, job_id: int, params: BaseModel) -> None:
        self.workspace = workspace
        self.job_id = job_id
        self.params = params
        self._last_write = 0.0

    def params_as(self, model: type[P]) -> P:
        """The parameters as the handler's model (what `job_handler(params=...)` declared)."""
        if not isinstance(self.params, model):
            raise TypeError(f"job {self.job_id} parameters are not {model.__name__}")
        return self.params

    def progress(
        self, done: int, total: int | None = None, message: str | None = None, force: bool = False
    ) -> None:
        """Record progress; writes at most a few times a second unless `force`.

        Best effort: when the database is busy (SQLite has one writer, and the job itself may
        hold the lock) the update is skipped rather than stalling the job; the next one lands.
        """
        now = time.monotonic()
        if not force and now - self._last_write < 0.25:
            return
        self._last_write = now
        values: dict[str, Any] = {"progress_done": done, "heartbeat_at": utcnow()}
        if total is not None:
            values["progress_total"] = total
        if message is not None:
            values["message"] = message[:2000]
        self.write(values)

    def write(self, values: dict[str, Any]) -> None:
        """Best-effort update of this job's row (progress, heartbeat)."""
        stmt = update(Job).where(Job.id == self.job_id).values(**values)
        if not best_effort_write(self.workspace.engine, stmt):
            log.debug("update of job %s skipped: database busy", self.job_id)


Handler = Callable[[JobContext], dict[str, Any] | None]


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its handler, the model its parameters must fit, and the permission a
    caller needs to queue it (the jobs API checks both: 422 and 403)."""

    name: str
    title: str
    handler: Handler
    params: type[BaseModel] = NoParams
    permission: str = Permission.WRITE
    # Runs only in a worker that may open the workspace's embedded stores: the one inside
    # `serve`, or a standalone worker while no server runs (DuckDB has one writer process).
    pinned: bool = False

    def validate(self, params: dict[str, Any] | None) -> BaseModel:
        """The parameters as the kind's model; InvalidInput naming each bad field."""
        try:
            return self.params.model_validate(params or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'params'}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidInput(f"job '{self.name}' parameters: {problems}") from None


_REGISTRY: dict[str, JobKind] = {}


def job_handler(
    name: str,
    title: str,
    *,
    params: type[BaseModel] = NoParams,
    permission: str = Permission.WRITE,
    pinned: bool = False,
) -> Callable[[Handler], Handler]:
    """Register a function as the handler of jobs of kind `name`, taking parameters of model
    `params`, which only callers with `permission` may queue. `pinned` kinds run only where
    the workspace's embedded stores can be opened (see `JobKind.pinned`)."""

    def wrap(fn: Handler) -> Handler:
        _REGISTRY[name] = JobKind(
            name=name,
            title=title,
            handler=fn,
            params=params,
            permission=permission,
            pinned=pinned,
        )
        return fn

    return wrap


def registered_kinds() -> dict[str, JobKind]:
    """Every job kind: the house's and those in each pillar's `tasks` module."""
    from productops.core import demo, pillars  # noqa: F401  - demo.build is the house's

    pillars.load("tasks")
    return dict(_REGISTRY)


def job_kind(name: str) -> JobKind:
    kinds = registered_kinds()
    if name not in kinds:
        raise NotFound(f"no job kind '{name}' (known: {', '.join(sorted(kinds))})")
    return kinds[name]


def enqueue(
    session: Session,
    kind: str,
    params: dict[str, Any] | None = None,
    title: str | None = None,
    created_by: str = "system",
) -> Job:
    """Queue a job of a registered kind with valid parameters; returns it (status `queued`).
    Who may queue it is the caller's to check (`JobKind.permission`)."""
    spec = job_kind(kind)
    checked = spec.validate(params)
    job = Job(
        kind=kind,
        title=title or spec.title,
        params=checked.model_dump(mode="json"),
        created_by=created_by,
    )
    session.add(job)
    session.flush()
    audit.record(session, created_by, "job.enqueue", "job", job.id, {"kind": kind})
    return job


def get_job(session: Session, job_id: int) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


def list_jobs(session: Session, limit: int = 50) -> list[Job]:
    return list(session.scalars(select(Job).order_by(Job.id.desc()).limit(limit)).all())


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
    return {str(status): n for status, n in rows}


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def claim_next(workspace: Workspace, worker: str, pinned: bool = True) -> int | None:
    """Atomically take the oldest queued job (not of a pinned kind unless `pinned`); None
    when there is nothing to do."""
    queued = [Job.status == JobStatus.queued]
    if not pinned:
        skip = [k.name for k in registered_kinds().values() if k.pinned]
        if skip:
            queued.append(Job.kind.not_in(skip))
    with transaction(workspace.sessions) as s:
        oldest = select(func.min(Job.id)).where(*queued).scalar_subquery()
        now = utcnow()
        claimed = s.execute(
            update(Job)
            .where(Job.id == oldest, Job.status == JobStatus.queued)
            .values(status=JobStatus.running, worker=worker, started_at=now, heartbeat_at=now)
            .returning(Job.id)
        ).scalar_one_or_none()
        return claimed


def run_job(workspace: Workspace, job_id: int) -> Job:
    """Run one claimed job to the end, recording its result or its error."""
    kinds = registered_kinds()
    with workspace.sessions() as s:
        job = get_job(s, job_id)
        kind, raw_params = job.kind, dict(job.params)
    ctx = JobContext(workspace, job_id, NoParams())
    # A heartbeat of its own, so a handler that is busy for long is not taken for dead.
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_EVERY.total_seconds()):
            ctx.write({"heartbeat_at": utcnow()})

    threading.Thread(target=beat, name=f"job-{job_id}-heartbeat", daemon=True).start()
    try:
        if kind not in kinds:
            raise NotFound(f"no job kind '{kind}' in this version of productops")
        ctx.params = kinds[kind].validate(raw_params)
        result = kinds[kind].handler(ctx) or {}
    except Exception as exc:
        log.exception("job %s (%s) failed", job_id, kind)
        # A named error is worded for the person reading it; anything else shows its type.
        if isinstance(exc, ProductOpsError):
            detail = str(exc)
        else:
            detail = "".join(traceback.format_exception_only(exc)).strip()
        with transaction(workspace.sessions) as s:
            s.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(status=JobStatus.failed, error=detail[:4000], finished_at=utcnow())
            )
    else:
        with transaction(workspace.sessions) as s:
            job = get_job(s, job_id)
            job.status = JobStatus.succeeded
            job.result = result
            job.finished_at = utcnow()
            if job.progress_total is not None:
                job.progress_done = job.progress_total
    finally:
        done.set()
    with workspace.sessions() as s:
        return get_job(s, job_id)


# --- schedules: jobs queued again and again ------------------------------------------------

MIN_EVERY_SECONDS = 60


def schedule(
    session: Session,
    name: str,
    kind: str,
    params: dict[str, Any] | None,
    every: dt.timedelta,
    *,
    first_run_at: dt.datetime | None = None,
    actor: str = "system",
) -> JobSchedule:
    """Queue a job of `kind` every `every` (at least a minute), under a unique `name`; calling
    it again with the same name changes that schedule. The parameters are checked now, as
    `enqueue` would. A worker queues each run (`enqueue_due`); a run is skipped while the last
    one is still queued or running."""
    seconds = int(every.total_seconds())
    if seconds < MIN_EVERY_SECONDS:
        raise InvalidInput(f"a schedule runs at most once a minute (asked: every {seconds} s)")
    checked = job_kind(kind).validate(params).model_dump(mode="json")
    row = session.scalar(select(JobSchedule).where(JobSchedule.name == name))
    start = first_run_at or utcnow() + every
    if row is None:
        row = JobSchedule(name=name, kind=kind, created_by=actor)
        session.add(row)
    row.kind, row.params, row.every_seconds = kind, checked, seconds
    row.next_run_at, row.enabled = start, True
    session.flush()
    audit.record(
        session, actor, "job.schedule", "job_schedule", row.id, {"name": name, "every": seconds}
    )
    return row


def unschedule(session: Session, name: str, actor: str = "system") -> bool:
    """Stop a schedule; returns whether there was one."""
    row = session.scalar(select(JobSchedule).where(JobSchedule.name == name))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    audit.record(session, actor, "job.unschedule", "job_schedule", row.id, {"name": name})
    return True


def get_schedule(session: Session, name: str) -> JobSchedule | None:
    return session.scalar(select(JobSchedule).where(JobSchedule.name == name))


def enqueue_due(workspace: Workspace, now: dt.datetime | None = None) -> list[int]:
    """Queue a job for every schedule whose time has come; returns the new jobs' ids. Safe
    with several workers: a schedule is moved on with a compare-and-set, so only one of them
    queues each run."""
    now = now or utcnow()
    with workspace.sessions() as s:
        due = s.execute(
            select(JobSchedule.id, JobSchedule.next_run_at).where(
                JobSchedule.enabled.is_(True), JobSchedule.next_run_at <= now
            )
        ).all()
    queued: list[int] = []
    for schedule_id, at in due:
        with transaction(workspace.sessions) as s:
            row = s.get(JobSchedule, schedule_id)
            if row is None:
                continue
            # The next time is one step past now (runs missed while no worker ran are not
            # made up), set only if no other worker moved it first.
            steps = int((now - at).total_seconds() // row.every_seconds) + 1
            moved = s.execute(
                update(JobSchedule)
                .where(JobSchedule.id == schedule_id, JobSchedule.next_run_at == at)
                .values(next_run_at=at + dt.timedelta(seconds=steps * row.every_seconds))
            )
            if not getattr(moved, "rowcount", 0):
                continue
            if row.last_job_id is not None:
                last = s.get(Job, row.last_job_id)
                if last is not None and last.status in (JobStatus.queued, JobStatus.running):
                    continue
            try:
                job = enqueue(s, row.kind, row.params, created_by=f"schedule:{row.name}")
            except ProductOpsError:
                log.exception("schedule %s cannot queue its job", row.name)
                continue
            s.execute(
                update(JobSchedule).where(JobSchedule.id == schedule_id).values(last_job_id=job.id)
            )
            queued.append(job.id)
    return queued


def fail_stale_jobs(workspace: Workspace) -> int:
    """Mark running jobs whose worker stopped sending heartbeats as failed."""
    cutoff = utcnow() - STALE_AFTER
    with transaction(workspace.sessions) as s:
        result = s.execute(
            update(Job)
            .where(Job.status == JobStatus.running, Job.heartbeat_at < cutoff)
            .values(
                status=JobStatus.failed,
                error="the worker running this job stopped",
                finished_at=utcnow(),
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)


def run_pending(
    workspace: Workspace,
    worker: str | None = None,
    limit: int | None = None,
    pinned: bool = True,
) -> int:
    """Run queued jobs until none is left (or `limit` ran); returns how many ran."""
    worker = worker or worker_name()
    enqueue_due(workspace)
    ran = 0
    while limit is None or ran < limit:
        job_id = claim_next(workspace, worker, pinned=pinned)
        if job_id is None:
            break
        run_job(workspace, job_id)
        ran += 1
    return ran


class Worker:
    """Polls the queue in a background thread until `stop()`."""

    def __init__(
        self,
        workspace: Workspace,
        poll_seconds: float = 1.0,
        pinned: bool | Callable[[], bool] = True,
    ) -> None:
        """`pinned`: whether this worker runs pinned kinds (or a function asked before each
        job, e.g. "no server serves the workspace now")."""
        self.workspace = workspace
        self.poll_seconds = poll_seconds
        self.pinned = pinned
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.run_forever, name="productops-worker", daemon=True
        )
        self._thread.start()

    def run_forever(self) -> None:
        name = worker_name()
        last_sweep = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - last_sweep > 60:
                    fail_stale_jobs(self.workspace)
                    last_sweep = time.monotonic()
                pinned = self.pinned() if callable(self.pinned) else self.pinned
                if run_pending(self.workspace, name, limit=1, pinned=pinned) == 0:
                    self._stop.wait(self.poll_seconds)
            except Exception:  # keep the worker alive through a database hiccup
                log.exception("job worker loop error")
                self._stop.wait(self.poll_seconds)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
