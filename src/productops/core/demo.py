"""The demo workspace: a seeded, deterministic synthetic B2B SaaS company across every pillar.

Each pillar adds steps in its `demo` module with `@demo_step`; `build_demo` runs them in
dependency order and reports progress. The same seed and anchor date always give the same
company. The house's own step makes the sign-ins and the product teams.

A build is all or nothing: it runs only in an empty workspace, and when a step fails the
rows every step wrote are removed again and each step's `ctx.on_failure` clean-ups run (for
what a pillar keeps outside the app database, e.g. the event store).

`productops demo` builds in two parts so that the server answers within seconds: the steps
marked `first` (sign-ins, accounts and people: what signing in and the home page need) before
it serves, and the rest as a job the server's worker runs while people already look around
(the home and jobs pages show its progress). When the rest fails, the whole demo is removed
again, as for a build in one go.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import delete, func, select

from productops.core import auth, teams
from productops.core.clock import utcnow
from productops.core.db import Base, load_models, transaction
from productops.core.errors import InvalidInput
from productops.core.jobs import JobContext, job_handler
from productops.core.models import Job, JobStatus, Role
from productops.core.workspace import Workspace

log = logging.getLogger(__name__)

DEMO_ADMIN_EMAIL = "admin@demo.productops.dev"
# Rows in these tables do not make a workspace "used": they are the house's bookkeeping.
BOOKKEEPING_TABLES = ("jobs", "audit_events", "login_attempts", "alembic_version")

Progress = Callable[[int, int | None, str], None]


class StepProgress(Protocol):
    """How a step reports progress: `done` out of 1,000 of its own share."""

    def __call__(self, done: int, total: int | None = None, message: str = "") -> None: ...


@dataclass(frozen=True)
class DemoScale:
    """How big the demo company is. `full` is what `productops demo` builds."""

    accounts: int = 2_000
    people: int = 50_000
    pms: int = 18

    @classmethod
    def named(cls, name: str) -> DemoScale:
        sizes = {
            "full": cls(),
            "small": cls(accounts=200, people=5_000, pms=8),
            "tiny": cls(accounts=40, people=600, pms=4),
        }
        if name not in sizes:
            raise ValueError(f"unknown demo size '{name}' (choose from {', '.join(sizes)})")
        return sizes[name]


@dataclass
class DemoContext:
    """What every step gets: the workspace, seeded random sources and a shared scratchpad."""

    workspace: Workspace
    seed: int
    anchor: dt.date
    scale: DemoScale
    progress: StepProgress
    data: dict[str, Any] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def on_failure(self, cleanup: Callable[[], None]) -> None:
        """Undo something this step wrote outside the app database if the build fails."""
        self.cleanups.append(cleanup)

    def rng(self, step: str) -> random.Random:
        """A random source of its own for each step, so adding a step changes no other."""
        return random.Random(f"{self.seed}:{step}")

    def np_rng(self, step: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, *step.encode()])

    @property
    def anchor_datetime(self) -> dt.datetime:
        return dt.datetime.combine(self.anchor, dt.time(0, 0), tzinfo=dt.UTC)


@dataclass(frozen=True)
class DemoStep:
    name: str
    title: str
    weight: int
    after: tuple[str, ...]
    run: Callable[[DemoContext], dict[str, Any] | None]
    first: bool = False


_STEPS: dict[str, DemoStep] = {}


def demo_step(
    name: str, title: str, after: tuple[str, ...] = (), weight: int = 1, first: bool = False
) -> Callable[
    [Callable[[DemoContext], dict[str, Any] | None]], Callable[[DemoContext], dict[str, Any] | None]
]:
    """Register a step of the demo build; `weight` is its share of the progress bar. `first`
    steps are built before the server serves (keep them to what signing in and the home page
    need, and quick); they may depend only on other `first` steps."""

    def wrap(
        fn: Callable[[DemoContext], dict[str, Any] | None],
    ) -> Callable[[DemoContext], dict[str, Any] | None]:
        _STEPS[name] = DemoStep(name, title, weight, after, fn, first)
        return fn

    return wrap


def steps() -> list[DemoStep]:
    """All registered steps (the house's and those of each pillar's `demo` module), each
    after the steps it depends on."""
    from productops.core import pillars

    pillars.load("demo")
    ordered: list[DemoStep] = []
    seen: set[str] = set()

    def visit(step: DemoStep, path: tuple[str, ...]) -> None:
        if step.name in seen:
            return
        if step.name in path:
            raise ValueError(f"demo steps depend on each other in a loop: {path}")
        for dep in step.after:
            if dep not in _STEPS:
                raise ValueError(f"demo step '{step.name}' needs unknown step '{dep}'")
            if step.first and not _STEPS[dep].first:
                raise ValueError(
                    f"demo step '{step.name}' is built first but needs '{dep}', which is not"
                )
            visit(_STEPS[dep], (*path, step.name))
        seen.add(step.name)
        ordered.append(step)

    for step in sorted(_STEPS.values(), key=lambda s: s.name):
        visit(step, ())
    return ordered


@dataclass(frozen=True)
class _StepReporter:
    """Turns a step's 0..1000 into its share of the whole build's progress."""

    report: Progress
    base: int
    weight: int
    total: int
    title: str

    def __call__(self, done: int, total: int | None = None, message: str = "") -> None:
        self.report(self.base + done * self.weight, self.total, message or self.title)


@dataclass(frozen=True)
class DemoResult:
    steps: dict[str, dict[str, Any]]


Part = Literal["all", "first", "rest"]


def build_demo(
    workspace: Workspace,
    *,
    seed: int = 7,
    anchor: dt.date | None = None,
    scale: DemoScale | None = None,
    progress: Progress | None = None,
    part: Part = "all",
) -> DemoResult:
    """Fill an empty workspace with the demo company (`part="first"`: only the steps marked
    first; `"rest"`: the others, into a workspace holding just the first part, with the same
    seed, anchor and scale). Progress is reported in units of 1,000."""
    plan = [s for s in steps() if part == "all" or s.first == (part == "first")]
    total = sum(s.weight for s in plan) * 1000
    done_before = 0
    report = progress or (lambda done, total, message: None)
    ctx = DemoContext(
        workspace=workspace,
        seed=seed,
        anchor=anchor or utcnow().date(),
        scale=scale or DemoScale(),
        progress=_StepReporter(report, 0, 1, total, ""),
    )
    if part == "rest":
        refuse_unless_first_part(workspace)
    else:
        refuse_unless_empty(workspace)
    results: dict[str, dict[str, Any]] = {}
    try:
        for step in plan:
            ctx.progress = _StepReporter(report, done_before, step.weight, total, step.title)
            ctx.progress(0)
            results[step.name] = step.run(ctx) or {}
            done_before += step.weight * 1000
            report(done_before, total, step.title)
    except BaseException:
        undo_build(workspace, ctx.cleanups)
        raise
    return DemoResult(steps=results)


def _used_tables(workspace: Workspace) -> list[str]:
    """The app tables that hold rows (the house's bookkeeping aside)."""
    used = []
    with workspace.sessions() as s:
        for table in load_models().sorted_tables:
            if table.name in BOOKKEEPING_TABLES:
                continue
            if s.scalar(select(func.count()).select_from(table)):
                used.append(table.name)
    return used


def refuse_unless_empty(workspace: Workspace) -> None:
    """The demo is only built into an empty workspace (which is what lets a failed build
    remove everything it wrote)."""
    used = _used_tables(workspace)
    if used:
        raise InvalidInput(
            "the demo company is only built into an empty workspace; this one already has "
            f"data ({', '.join(used[:5])})"
        )


def _demo_jobs(workspace: Workspace) -> list[tuple[str, JobStatus]]:
    """(part, status) of every demo build job, oldest first."""
    with workspace.sessions() as s:
        rows = s.execute(
            select(Job.params, Job.status).where(Job.kind == "demo.build").order_by(Job.id)
        ).all()
    return [((params or {}).get("part", "all"), status) for params, status in rows]


def refuse_unless_first_part(workspace: Workspace) -> None:
    """The rest of the demo goes only where the first part was built and nothing else was."""
    done = [part for part, status in _demo_jobs(workspace) if status == JobStatus.succeeded]
    if not done or any(part != "first" for part in done):
        raise InvalidInput(
            "the rest of the demo is only built into a workspace where the first part of the "
            "demo was just built"
        )


def undo_build(workspace: Workspace, cleanups: list[Callable[[], None]]) -> None:
    """Remove what a failed build wrote: every row of the (formerly empty) app tables, then
    the steps' own clean-ups, newest first."""
    with transaction(workspace.sessions) as s:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in BOOKKEEPING_TABLES:
                s.execute(delete(table))
    for cleanup in reversed(cleanups):
        try:
            cleanup()
        except Exception:  # the build's own error is the one to report
            log.exception("a demo clean-up failed")


def demo_state(workspace: Workspace) -> str:
    """`built` (a demo build finished), `building` (the first part is built and the rest is
    queued or running), `incomplete` (a build started and did not finish, or the workspace
    holds other data) or `empty`."""
    jobs = _demo_jobs(workspace)
    if any(status == JobStatus.succeeded and part != "first" for part, status in jobs):
        return "built"
    if not _used_tables(workspace):
        return "empty"
    succeeded = [part for part, status in jobs if status == JobStatus.succeeded]
    waiting = (JobStatus.queued, JobStatus.running)
    first_only = bool(succeeded) and all(part == "first" for part in succeeded)
    if first_only and any(p == "rest" and st in waiting for p, st in jobs):
        return "building"
    return "incomplete"


# --- the house's own step: sign-ins and product teams --------------------------------------

FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kemi",
    "Liam",
    "Mei",
    "Noah",
    "Olga",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Xavier",
    "Yara",
    "Zoe",
    "Aiko",
    "Bruno",
    "Chen",
    "Dara",
)

LAST_NAMES = (
    "Adams",
    "Brown",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Müller",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quispe",
    "Rossi",
    "Silva",
    "Tanaka",
    "Usman",
    "Varga",
    "Wang",
    "Xu",
    "Yilmaz",
    "Zhang",
)

TEAMS = (
    ("Growth", "Sign-up, onboarding, activation and upgrades."),
    ("Collaboration", "Shared workspaces, comments, mentions and notifications."),
    ("Core Platform", "Performance, permissions, SSO and the data model."),
    ("Integrations", "Slack, Salesforce, Jira and the public API."),
    ("Insights", "Dashboards, reports and exports inside the product."),
    ("Mobile", "The iOS and Android apps."),
)


@demo_step("house.org", "Product teams, PMs and sign-ins", weight=1, first=True)
def make_org(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.rng("company.org")
    made_users = 0
    with transaction(ctx.workspace.sessions) as s:
        auth.create_user(
            s, DEMO_ADMIN_EMAIL, "Demo Admin", secrets.token_urlsafe(16), Role.admin, actor="demo"
        )
        others = (
            ("viewer@demo.productops.dev", "Vic Viewer", Role.viewer),
            ("research@demo.productops.dev", "Rae Researcher", Role.researcher),
        )
        for email, name, role in others:
            auth.create_user(s, email, name, secrets.token_urlsafe(16), role, actor="demo")
        made_users += 3
        team_rows = [teams.create_team(s, name, desc, actor="demo") for name, desc in TEAMS]
        used: set[str] = set()
        for i in range(ctx.scale.pms):
            while True:
                first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
                if f"{first} {last}" not in used:
                    break
            used.add(f"{first} {last}")
            user = auth.create_user(
                s,
                f"{first.lower()}.{last.lower()}@demo.productops.dev",
                f"{first} {last}",
                secrets.token_urlsafe(16),
                Role.editor,
                actor="demo",
            )
            made_users += 1
            team = team_rows[i % len(team_rows)]
            title = (
                "Group Product Manager"
                if i < len(team_rows)
                else rng.choice(
                    ("Product Manager", "Senior Product Manager", "Associate Product Manager")
                )
            )
            teams.add_member(s, team.id, user.id, title, actor="demo")
            ctx.progress(int(1000 * (i + 1) / ctx.scale.pms))
    return {"users": made_users, "teams": len(TEAMS)}


# --- the build as a job, so the UI shows its progress like any other -----------------------


class DemoBuildParams(BaseModel):
    """Parameters of `demo.build`."""

    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=7, ge=0, le=2**31)
    size: str = Field(default="full", pattern="^(full|small|tiny)$")
    anchor: dt.date | None = None
    part: Part = Field(
        default="all",
        description="all; or first (sign-ins, accounts, people) and then rest (the others)",
    )


@job_handler(
    "demo.build",
    "Build the demo company",
    params=DemoBuildParams,
    permission=auth.Permission.ADMIN,
)
def build_demo_job(ctx: JobContext) -> dict[str, Any]:
    params = ctx.params_as(DemoBuildParams)
    result = build_demo(
        ctx.workspace,
        seed=params.seed,
        anchor=params.anchor,
        scale=DemoScale.named(params.size),
        progress=lambda done, total, message: ctx.progress(done, total, message),
        part=params.part,
    )
    return result.steps
