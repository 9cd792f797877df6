"""The demo workspace: a seeded, deterministic synthetic B2B SaaS company across every pillar.

Each pillar adds a step with `@demo_step`; `build_demo` runs the steps in dependency order and
reports progress. The same seed and anchor date always give the same company.
"""

from __future__ import annotations

import datetime as dt
import importlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from productops.core.workspace import Workspace

STEP_MODULES = ("productops.demo.company", "productops.demo.analytics")

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


_STEPS: dict[str, DemoStep] = {}


def demo_step(
    name: str, title: str, after: tuple[str, ...] = (), weight: int = 1
) -> Callable[
    [Callable[[DemoContext], dict[str, Any] | None]], Callable[[DemoContext], dict[str, Any] | None]
]:
    """Register a step of the demo build; `weight` is its share of the progress bar."""

    def wrap(
        fn: Callable[[DemoContext], dict[str, Any] | None],
    ) -> Callable[[DemoContext], dict[str, Any] | None]:
        _STEPS[name] = DemoStep(name, title, weight, after, fn)
        return fn

    return wrap


def steps() -> list[DemoStep]:
    """All registered steps, each after the steps it depends on."""
    for module in STEP_MODULES:
        importlib.import_module(module)
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


def demo_state(workspace: Workspace) -> str:
    """`built` (a demo build finished), `incomplete` (one started and did not finish, or the
    workspace holds other data) or `empty`."""
    from sqlalchemy import func, select

    from productops.core.models import Job, JobStatus, User

    with workspace.sessions() as s:
        finished = s.scalar(
            select(func.count(Job.id)).where(
                Job.kind == "demo.build", Job.status == JobStatus.succeeded
            )
        )
        if finished:
            return "built"
        return "incomplete" if s.scalar(select(func.count(User.id))) else "empty"


@dataclass(frozen=True)
class DemoResult:
    steps: dict[str, dict[str, Any]]


def build_demo(
    workspace: Workspace,
    *,
    seed: int = 7,
    anchor: dt.date | None = None,
    scale: DemoScale | None = None,
    progress: Progress | None = None,
) -> DemoResult:
    """Fill an empty workspace with the demo company. Progress is reported in units of 1,000."""
    plan = steps()
    total = sum(s.weight for s in plan) * 1000
    done_before = 0
    report = progress or (lambda done, total, message: None)
    ctx = DemoContext(
        workspace=workspace,
        seed=seed,
        anchor=anchor or dt.datetime.now(dt.UTC).date(),
        scale=scale or DemoScale(),
        progress=_StepReporter(report, 0, 1, total, ""),
    )
    results: dict[str, dict[str, Any]] = {}
    for step in plan:
        ctx.progress = _StepReporter(report, done_before, step.weight, total, step.title)
        ctx.progress(0)
        results[step.name] = step.run(ctx) or {}
        done_before += step.weight * 1000
        report(done_before, total, step.title)
    return DemoResult(steps=results)
