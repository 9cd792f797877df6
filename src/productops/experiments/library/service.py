"""The learning library: decided experiments, searchable, each with the results frozen when
it was decided, its tags and links; and the experiment doc (a Markdown template filled from
the registry) to share or paste into a wiki."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from productops.experiments.models import Experiment
from productops.experiments.registry import service as registry


@dataclass(frozen=True)
class Entry:
    """A decided experiment and the headline of its frozen results."""

    experiment: Experiment
    snapshot: dict[str, Any] | None
    headline: str


def headline(exp: Experiment, snapshot: dict[str, Any] | None) -> str:
    """One line: the primary metric's effect of the shipped (or best) variation."""
    if not snapshot or not snapshot.get("metrics"):
        return "no results were computed"
    primary = snapshot["metrics"][0]
    keys = [v["key"] for v in exp.variations]
    arm = keys.index(exp.winner) if exp.winner in keys[1:] else 1
    comparison = primary["comparisons"][arm - 1] if len(primary["comparisons"]) >= arm else None
    if comparison is None or comparison.get("error"):
        return f"{primary['label']}: {comparison.get('error') if comparison else 'no comparison'}"
    name = exp.variations[arm]["name"]
    effect = comparison["expected"]
    lo, hi = comparison["ci"]
    unit = "%" if comparison["difference"] == "relative" else ""
    scale = 100 if unit else 1
    return (
        f"{primary['label']}: {name} {effect * scale:+.1f}{unit} "
        f"[{lo * scale:+.1f}{unit}, {hi * scale:+.1f}{unit}]"
    )


def search(
    session: Session,
    *,
    q: str | None = None,
    tag: str | None = None,
    decision: str | None = None,
    metric: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[Entry], int]:
    """Decided experiments matching the text (key, name, hypothesis, learnings), tag,
    decision or primary metric; most recently decided first."""
    rows, total = registry.list_experiments(
        session,
        q=q,
        status="decided",
        tag=tag,
        decision=decision,
        metric=metric,
        sort="updated",
        limit=limit,
        offset=offset,
    )
    out = []
    for exp in rows:
        snap = registry.frozen_result(session, exp.id)
        data = snap.data if snap is not None else None
        out.append(Entry(exp, data, headline(exp, data)))
    return out, total


def all_tags(session: Session) -> list[str]:
    rows, _ = registry.list_experiments(session, limit=None)
    return sorted({t for e in rows for t in e.tags or []})


def _fmt_effect(c: dict[str, Any]) -> str:
    if c.get("error"):
        return str(c["error"])
    scale, unit = (100, "%") if c["difference"] == "relative" else (1, "")
    lo, hi = c["ci"]
    text = f"{c['expected'] * scale:+.2f}{unit} [{lo * scale:+.2f}{unit}, {hi * scale:+.2f}{unit}]"
    if c.get("p_value") is not None:
        text += f", p = {c['p_value']:.3g}"
    if c.get("chance_to_win") is not None:
        text += f", chance to win {c['chance_to_win']:.1%}"
    return text


def experiment_doc(exp: Experiment, snapshot: dict[str, Any] | None) -> str:
    """The experiment doc: hypothesis, design, metrics, results, decision and learnings, as
    Markdown (the template every experiment shares)."""
    lines = [
        f"# {exp.name}",
        "",
        f"- **Key:** `{exp.key}`",
        f"- **Owner:** {exp.owner or '—'}",
        f"- **Status:** {exp.status}",
        f"- **Ran:** {exp.started_at:%Y-%m-%d} → {exp.stopped_at:%Y-%m-%d}"
        if exp.started_at and exp.stopped_at
        else f"- **Started:** {exp.started_at:%Y-%m-%d}"
        if exp.started_at
        else "- **Started:** not yet",
        f"- **Tags:** {', '.join(exp.tags) or '—'}",
        "",
        "## Hypothesis",
        "",
        exp.hypothesis or "_Write what you believe will happen, for whom, and why._",
        "",
        "## Design",
        "",
        "| Variation | Key | Share |",
        "|---|---|---|",
        *[f"| {v['name']} | `{v['key']}` | {v['weight']:.0%} |" for v in exp.variations],
        "",
        f"- **Exposure event:** `{exp.exposure_event}`",
        f"- **Primary metric:** `{exp.primary_metric}`",
        f"- **Guardrail metrics:** {', '.join(f'`{g}`' for g in exp.guardrail_metrics) or '—'}",
        f"- **Analysis:** {(exp.analysis or {}).get('test', 'ttest')}, "
        f"{(exp.analysis or {}).get('difference', 'relative')} effects, "
        f"alpha {(exp.analysis or {}).get('alpha', 0.05)}, "
        f"correction {(exp.analysis or {}).get('correction', 'holm')}",
        "",
        "## Results",
        "",
    ]
    if snapshot:
        users = ", ".join(
            f"{v['name']} {n:,}"
            for v, n in zip(exp.variations, snapshot.get("users", []), strict=False)
        )
        lines += [
            f"Computed {snapshot.get('computed_at', '')[:16].replace('T', ' ')} UTC. "
            f"Users: {users}. "
            f"Sample-ratio check p = {snapshot.get('srm_p_value', 1):.3g}"
            + (
                " — **SRM: the split is broken; do not trust these numbers.**"
                if snapshot.get("srm_warning")
                else "."
            ),
            "",
            "| Metric | Role | Variation | Effect [interval] |",
            "|---|---|---|---|",
        ]
        for m in snapshot.get("metrics", []):
            for i, c in enumerate(m["comparisons"], start=1):
                name = exp.variations[i]["name"]
                lines.append(f"| {m['label']} | {m['role']} | {name} | {_fmt_effect(c)} |")
    else:
        lines.append("_No results computed yet._")
    lines += [
        "",
        "## Decision",
        "",
        f"{(exp.decision or 'not decided yet').capitalize()}"
        + (f": ship **{_variation_name(exp, exp.winner)}**" if exp.winner else ""),
        "",
        "## What we learned",
        "",
        exp.learnings or "_What did this teach us, and what will we try next?_",
        "",
    ]
    if exp.links:
        lines += [
            "## Links",
            "",
            *[f"- [{link['title']}]({link['url']})" for link in exp.links],
            "",
        ]
    return "\n".join(lines)


def _variation_name(exp: Experiment, key: str | None) -> str:
    for v in exp.variations:
        if v["key"] == key:
            return str(v["name"])
    return str(key)
