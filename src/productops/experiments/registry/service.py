"""The experiment registry: what we believe, how we will know, what happened, what we
decided. Lifecycle draft → running → stopped → decided; every change audited."""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.experiments import suggest
from productops.experiments.flags.rules import check_key
from productops.experiments.models import Experiment, Flag, ResultSnapshot
from productops.experiments.schemas import ExperimentCreate, ExperimentUpdate, Transition

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

STATUSES = ("draft", "running", "stopped", "decided")
NEXT = {
    "start": ("draft", "running"),
    "stop": ("running", "stopped"),
    "decide": ("stopped", "decided"),
}
FIXED_ONCE_RUN = ("primary_metric", "guardrail_metrics", "variations", "exposure_event")


def get_experiment(session: Session, experiment_id: int) -> Experiment:
    exp = session.get(Experiment, experiment_id)
    if exp is None:
        raise NotFound(f"no experiment {experiment_id}")
    return exp


def experiment_by_key(session: Session, key: str) -> Experiment:
    exp = session.scalar(select(Experiment).where(Experiment.key == key))
    if exp is None:
        raise NotFound(f"no experiment '{key}'")
    return exp


def check_metrics(ws: Workspace | None, primary: str, guardrails: list[str]) -> None:
    """Metrics must be in the catalog (when a workspace is given to read it from)."""
    if len(set(guardrails)) != len(guardrails) or primary in guardrails:
        raise InvalidInput("guardrail_metrics: each metric once, and not the primary one")
    if ws is None:
        return
    from productops import analytics

    catalog = analytics.load_catalog(ws)
    names = [m.name for m in catalog.metrics]
    for field, name in [
        ("primary_metric", primary),
        *[("guardrail_metrics", g) for g in guardrails],
    ]:
        if name not in names:
            import difflib

            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f" — did you mean '{close[0]}'?"
                if close
                else f" (the catalog has {', '.join(names[:8]) or 'none'})"
            )
            raise InvalidInput(f"{field}: no metric '{name}' in the catalog{hint}")


def _variations(raw: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, v in enumerate(raw):
        d = v.model_dump() if hasattr(v, "model_dump") else dict(v)
        d["key"] = d.get("key") or str(i)
        out.append(d)
    total = sum(v["weight"] for v in out)
    if abs(total - 1) > 1e-6:
        raise InvalidInput(f"variations: the weights add up to {total:g}, not 1")
    keys = [v["key"] for v in out]
    if len(set(keys)) != len(keys):
        raise InvalidInput("variations: two variations have the same key")
    return out


def _flag_id(session: Session, key: str | None) -> int | None:
    if not key:
        return None
    flag = session.scalar(select(Flag).where(Flag.key == key))
    if flag is None:
        raise NotFound(f"flag_key: no flag '{key}'")
    return flag.id


def create_experiment(
    session: Session, data: ExperimentCreate, actor: str, ws: Workspace | None = None
) -> Experiment:
    """A draft experiment. Metrics must be in the catalog; the linked flag, feature request
    and epic must exist."""
    check_key(data.key, "experiment key")
    check_metrics(ws, data.primary_metric, data.guardrail_metrics)
    exp = Experiment(
        key=data.key,
        name=data.name.strip(),
        hypothesis=data.hypothesis,
        owner=data.owner,
        status="draft",
        flag_id=_flag_id(session, data.flag_key),
        feature_request_id=data.feature_request_id,
        epic_id=data.epic_id,
        primary_metric=data.primary_metric,
        guardrail_metrics=list(data.guardrail_metrics),
        variations=_variations(data.variations),
        exposure_event=data.exposure_event,
        analysis=data.analysis.model_dump(),
        tags=_tags(data.tags),
        links=[link.model_dump() for link in data.links],
        created_by=actor,
    )
    session.add(exp)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        message = str(exc.orig).lower()
        if "feature_request" in message or "epic" in message or "foreign" in message:
            which = "feature request" if data.feature_request_id else "epic"
            raise NotFound(f"no {which} with that id to link") from exc
        raise Conflict(f"an experiment '{data.key}' exists") from exc
    audit.record(
        session,
        actor,
        "experiment.create",
        "experiment",
        exp.id,
        {"key": exp.key, "name": exp.name},
    )
    return exp


def _tags(tags: list[str] | None) -> list[str]:
    out: list[str] = []
    for tag in tags or []:
        tag = str(tag).strip().lower()[:50]
        if tag and tag not in out:
            out.append(tag)
    return out[:20]


def update_experiment(
    session: Session,
    experiment_id: int,
    data: ExperimentUpdate,
    actor: str,
    ws: Workspace | None = None,
) -> Experiment:
    """Change the fields sent. What defines the analysis (metrics, variations, exposure
    event) is fixed once the experiment has started."""
    exp = get_experiment(session, experiment_id)
    fields = data.model_dump(exclude_unset=True)
    if exp.status != "draft":
        fixed = [f for f in FIXED_ONCE_RUN if f in fields]
        if fixed:
            raise Conflict(
                f"'{fixed[0]}' is fixed once an experiment has started: make a new experiment"
            )
    if "primary_metric" in fields or "guardrail_metrics" in fields:
        check_metrics(
            ws,
            fields.get("primary_metric") or exp.primary_metric,
            fields.get("guardrail_metrics", exp.guardrail_metrics) or [],
        )
    diff: dict[str, Any] = {}
    for field, value in fields.items():
        if field == "flag_key":
            field, value = "flag_id", _flag_id(session, value)
        elif field == "variations":
            value = _variations(data.variations or [])
        elif field == "analysis":
            value = {**exp.analysis, **(value or {})}
        elif field == "tags":
            value = _tags(value)
        if value is None and field in ("name", "primary_metric", "variations", "exposure_event"):
            raise InvalidInput(f"'{field}' cannot be emptied")
        if getattr(exp, field) != value:
            diff[field] = {"from": getattr(exp, field), "to": value}
            setattr(exp, field, value)
    if diff:
        exp.updated_at = utcnow()
        try:
            with session.begin_nested():
                session.flush()
        except IntegrityError as exc:
            raise NotFound("no feature request or epic with that id to link") from exc
        audit.record(
            session, actor, "experiment.update", "experiment", exp.id, {"key": exp.key, **diff}
        )
    return exp


def transition(session: Session, experiment_id: int, data: Transition, actor: str) -> Experiment:
    """Start, stop or decide. Deciding needs the decision; the results computed last are
    frozen with it (the learning library shows that snapshot)."""
    exp = get_experiment(session, experiment_id)
    before, after = NEXT[data.action]
    if exp.status != before:
        raise Conflict(
            f"cannot {data.action} an experiment that is {exp.status} (it must be {before})"
        )
    now = utcnow()
    detail: dict[str, Any] = {"key": exp.key, "from": before, "to": after}
    if data.action == "start":
        exp.started_at = now
    elif data.action == "stop":
        exp.stopped_at = now
    else:
        if data.decision is None:
            raise InvalidInput("decision: say ship, rollback, iterate or inconclusive")
        keys = [v["key"] for v in exp.variations]
        if data.winner is not None and data.winner not in keys:
            raise InvalidInput(f"winner: '{data.winner}' is not a variation ({', '.join(keys)})")
        if data.decision == "ship" and data.winner is None:
            raise InvalidInput("winner: say which variation ships")
        exp.decision, exp.winner, exp.decided_at = data.decision, data.winner, now
        if data.learnings:
            exp.learnings = data.learnings
        latest = latest_result(session, exp.id)
        if latest is not None:
            latest.frozen = True
        detail.update(
            decision=data.decision, winner=data.winner, snapshot=latest.id if latest else None
        )
    exp.status = after
    exp.updated_at = now
    session.flush()
    audit.record(session, actor, f"experiment.{data.action}", "experiment", exp.id, detail)
    return exp


EXPERIMENT_SORTS: dict[str, Any] = {
    "updated": Experiment.updated_at.desc(),
    "name": Experiment.name.asc(),
    "started": Experiment.started_at.desc(),
}


def list_experiments(
    session: Session,
    *,
    q: str | None = None,
    status: str | None = None,
    owner: str | None = None,
    tag: str | None = None,
    metric: str | None = None,
    decision: str | None = None,
    sort: str = "updated",
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[Experiment], int]:
    """Experiments matching the filters (text searches key, name, hypothesis and what was
    learned), most recently changed first by default."""
    query = select(Experiment)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(
                Experiment.key.ilike(like),
                Experiment.name.ilike(like),
                Experiment.hypothesis.ilike(like),
                Experiment.learnings.ilike(like),
            )
        )
    if status:
        if status not in STATUSES:
            raise InvalidInput(f"status: '{status}' is not one of {', '.join(STATUSES)}")
        query = query.where(Experiment.status == status)
    if owner:
        query = query.where(Experiment.owner == owner)
    if decision:
        query = query.where(Experiment.decision == decision)
    if metric:
        query = query.where(Experiment.primary_metric == metric)
    rows = list(
        session.scalars(
            query.order_by(EXPERIMENT_SORTS.get(sort, Experiment.updated_at.desc()), Experiment.id)
        )
    )
    if tag:
        rows = [r for r in rows if tag.lower() in (r.tags or [])]
    total = len(rows)
    return rows[offset : offset + limit if limit is not None else None], total


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Experiment.status, func.count(Experiment.id)).group_by(Experiment.status)
    ).all()
    return {s: int(n) for s, n in rows}


# --- result snapshots ----------------------------------------------------------------------


def latest_result(session: Session, experiment_id: int) -> ResultSnapshot | None:
    return session.scalar(
        select(ResultSnapshot)
        .where(ResultSnapshot.experiment_id == experiment_id)
        .order_by(ResultSnapshot.id.desc())
        .limit(1)
    )


def frozen_result(session: Session, experiment_id: int) -> ResultSnapshot | None:
    return session.scalar(
        select(ResultSnapshot)
        .where(ResultSnapshot.experiment_id == experiment_id, ResultSnapshot.frozen.is_(True))
        .order_by(ResultSnapshot.id.desc())
        .limit(1)
    )


def result_count(session: Session, experiment_id: int) -> int:
    return (
        session.scalar(
            select(func.count(ResultSnapshot.id)).where(
                ResultSnapshot.experiment_id == experiment_id
            )
        )
        or 0
    )


def save_result(
    session: Session, experiment_id: int, data: dict[str, Any], actor: str
) -> ResultSnapshot:
    """Store results just computed (a job does the computing); audited."""
    exp = get_experiment(session, experiment_id)
    snap = ResultSnapshot(experiment_id=exp.id, data=json.loads(json.dumps(data, default=str)))
    session.add(snap)
    session.flush()
    audit.record(
        session,
        actor,
        "experiment.results",
        "experiment",
        exp.id,
        {"key": exp.key, "snapshot": snap.id, "users": data.get("users")},
    )
    return snap


def did_you_mean(session: Session, typed: str, status: str | None = None) -> list[str]:
    """Search terms close to `typed` from the experiments' keys, names and tags (of one
    `status` when given), for a search that found nothing."""
    query = select(Experiment.key, Experiment.name, Experiment.tags)
    if status:
        query = query.where(Experiment.status == status)
    texts: list[str] = []
    for key, name, tags in session.execute(query):
        texts += [key, name, *(tags or [])]
    return suggest.did_you_mean(typed, texts)


def export_experiments(session: Session, **filters: Any) -> tuple[list[str], list[list[Any]]]:
    rows, _ = list_experiments(session, limit=None, **filters)
    columns = [
        "key",
        "name",
        "status",
        "owner",
        "primary_metric",
        "guardrail_metrics",
        "variations",
        "started_at",
        "stopped_at",
        "decision",
        "winner",
        "tags",
        "hypothesis",
        "learnings",
    ]
    return columns, [
        [
            e.key,
            e.name,
            e.status,
            e.owner,
            e.primary_metric,
            ",".join(e.guardrail_metrics),
            ",".join(v["name"] for v in e.variations),
            _iso(e.started_at),
            _iso(e.stopped_at),
            e.decision,
            e.winner,
            ",".join(e.tags),
            e.hypothesis,
            e.learnings,
        ]
        for e in rows
    ]


def _iso(value: dt.datetime | None) -> str:
    return value.isoformat() if value else ""
