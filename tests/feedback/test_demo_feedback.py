"""The demo company's feedback: every channel, planted duplicates, competitor mentions and
requests tied to its accounts; vectors and themes come from the job it queues."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from productops.core import demo, jobs
from productops.core.models import Job
from productops.core.workspace import Workspace
from productops.feedback.competitors import service as competitors
from productops.feedback.models import Evidence, FeatureRequest, FeedbackItem, Theme, Vote

ANCHOR = dt.date(2026, 11, 2)


def _build(ws: Workspace) -> dict[str, object]:
    """Only the steps feedback needs (accounts, people, sign-ins), then feedback's own."""
    steps = {s.name: s for s in demo.steps()}
    ctx = demo.DemoContext(
        workspace=ws, seed=7, anchor=ANCHOR, scale=demo.DemoScale.named("tiny"),
        progress=lambda done, total=None, message="": None,
    )  # fmt: skip
    out: dict[str, object] = {}
    for name in ("customers.accounts", "customers.people", "house.org", "feedback.items"):
        out[name] = steps[name].run(ctx)
    return out


def test_the_demo_plants_channels_duplicates_requests_and_queues_themes(
    sqlite_workspace: Workspace,
) -> None:
    ws = sqlite_workspace
    result = _build(ws)["feedback.items"]
    assert isinstance(result, dict) and result["items"] >= 300
    with ws.sessions() as s:
        sources = Counter(s.scalars(select(FeedbackItem.source)))
        assert {"zendesk", "intercom", "delighted", "googleplay", "appstore", "gong"} <= set(
            sources
        )
        linked = s.scalar(
            select(func.count(FeedbackItem.id)).where(FeedbackItem.account_id.is_not(None))
        )
        assert linked and linked > 0.6 * sum(sources.values())
        # Nothing is dated after the demo's today (copies sent again, evidence, tags).
        today = dt.datetime.combine(ANCHOR, dt.time(), tzinfo=dt.UTC)
        assert s.scalar(select(func.max(FeedbackItem.created_at))) <= today
        assert s.scalar(select(func.max(Evidence.created_at))) <= today
        assert s.scalar(select(func.count(FeatureRequest.id))) == 8
        assert s.scalar(select(func.count(Evidence.id))) and s.scalar(select(func.count(Vote.id)))
        queued = s.scalars(select(Job.kind).where(Job.status == "queued")).all()
    assert queued == ["feedback.discover"]
    assert jobs.run_pending(ws) == 1
    with ws.sessions() as s:
        job = s.scalar(select(Job).where(Job.kind == "feedback.discover"))
        assert job is not None and job.status == "succeeded", job.error if job else None
        assert s.scalar(select(func.count(Theme.id)).where(Theme.status == "active")) >= 5
        dups = s.scalar(
            select(func.count(FeedbackItem.id)).where(FeedbackItem.status == "duplicate")
        )
        assert dups and dups >= result["items"] // 40  # type: ignore[operator]
        mentioned = {c.competitor.name: c.mentions for c in competitors.stats(s)}
        assert sum(mentioned.values()) > 0
