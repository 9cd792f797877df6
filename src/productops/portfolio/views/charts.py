"""Vega-Lite charts of the portfolio, built with Altair: progress over time, the timeline as
bars from start to target, and a key result's value against its start and target. Dates are
UTC days; every mark has a tooltip."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import altair as alt
import pandas as pd

PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
)
ACCENT = "#3454d1"


def spec(chart: Any) -> dict[str, Any]:
    """The chart as a Vega-Lite spec (plain JSON)."""
    out: dict[str, Any] = json.loads(json.dumps(chart.to_dict(), default=str))
    out.pop("$schema", None)
    config = out.setdefault("config", {})
    config.update({"view": {"stroke": None}, "font": "system-ui"})
    config.setdefault("axis", {}).update({"labelFontSize": 11, "titleFontWeight": "normal"})
    return out


def _x_days(field: str = "day") -> alt.X:
    return alt.X(
        f"{field}:T",
        title=None,
        scale=alt.Scale(type="utc"),
        axis=alt.Axis(format="%b %-d", labelOverlap=True),
    )


def progress_over_time(rows: list[dict[str, Any]], title: str) -> dict[str, Any] | None:
    """Lines of progress (%) by day, one per name."""
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    names = sorted(frame["name"].unique())
    color = alt.Color(
        "name:N",
        title=None,
        scale=alt.Scale(domain=names, range=[PALETTE[i % len(PALETTE)] for i in range(len(names))]),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=320),
    )
    base = alt.Chart(frame).encode(
        x=_x_days(),
        y=alt.Y("progress:Q", title="progress (%)", scale=alt.Scale(domain=[0, 100])),
        color=color,
        tooltip=[
            alt.Tooltip("name:N", title=""),
            alt.Tooltip("day:T", title="day", format="%a %b %-d, %Y", formatType="utc"),
            alt.Tooltip("progress:Q", title="progress (%)", format=".0f"),
        ],
    )
    chart = (
        base.mark_line(interpolate="step-after") + base.mark_point(size=25, filled=True)
    ).properties(title=title, width="container", height=220)
    return spec(chart)


def timeline_chart(bars: list[dict[str, Any]], today: dt.date) -> dict[str, Any] | None:
    """Bars from start to target date per epic, coloured by team, with today's line."""
    if not bars:
        return None
    frame = pd.DataFrame(bars)
    teams = sorted(frame["team"].unique())
    order = frame.sort_values(["team", "start"])["label"].tolist()
    chart = (
        alt.Chart(frame)
        .mark_bar(cornerRadius=3, height=12)
        .encode(
            x=alt.X(
                "start:T",
                title=None,
                scale=alt.Scale(type="utc"),
                # One tick a month: the default (every other week) printed each month twice.
                axis=alt.Axis(
                    format="%b %Y",
                    orient="top",
                    tickCount={"interval": "month", "step": 1},
                ),
            ),
            x2="end:T",
            y=alt.Y("label:N", title=None, sort=order, axis=alt.Axis(labelLimit=260)),
            color=alt.Color(
                "team:N",
                title="team",
                scale=alt.Scale(
                    domain=teams, range=[PALETTE[i % len(PALETTE)] for i in range(len(teams))]
                ),
                legend=alt.Legend(orient="bottom"),
            ),
            opacity=alt.condition("datum.open", alt.value(1.0), alt.value(0.45)),
            tooltip=[
                alt.Tooltip("label:N", title="epic"),
                alt.Tooltip("team:N"),
                alt.Tooltip("start_text:N", title="start"),
                alt.Tooltip("end_text:N", title="target"),
                alt.Tooltip("progress:N"),
            ],
        )
    )
    rule = (
        alt.Chart(pd.DataFrame({"today": [today.isoformat()]}))
        .mark_rule(color="#b3261e", strokeDash=[4, 3])
        .encode(x="today:T")
    )
    height = max(120, 18 * len(frame))
    return spec((chart + rule).properties(width="container", height=height))


def key_result_chart(
    points: list[dict[str, Any]], start: float, target: float, label: str
) -> dict[str, Any] | None:
    """A key result's values over time against its start and target."""
    if not points:
        return None
    frame = pd.DataFrame(points)
    frame["final"] = ~frame["source"].str.contains("unfinished")
    line = alt.Chart(frame).encode(
        x=_x_days(),
        y=alt.Y("value:Q", title=label, scale=alt.Scale(zero=False)),
        tooltip=[
            alt.Tooltip("day:T", title="day", format="%a %b %-d, %Y", formatType="utc"),
            alt.Tooltip("value:Q", title=label, format=",.4~f"),
            alt.Tooltip("source:N"),
        ],
    )
    # Unfinished periods (still filling, or inside a conversion window) are drawn faded.
    line = line.encode(opacity=alt.condition("datum.final", alt.value(1.0), alt.value(0.3)))
    marks = line.mark_line(color=ACCENT, opacity=0.5) + line.mark_point(
        color=ACCENT, filled=True, size=36
    )
    refs = pd.DataFrame({"value": [start, target], "what": ["start", "target"]})
    rules = (
        alt.Chart(refs)
        .mark_rule(strokeDash=[5, 4])
        .encode(
            y="value:Q",
            color=alt.Color(
                "what:N",
                title=None,
                scale=alt.Scale(domain=["start", "target"], range=["#9c755f", "#59a14f"]),
            ),
            tooltip=[alt.Tooltip("what:N", title=""), alt.Tooltip("value:Q", format=",.4~f")],
        )
    )
    return spec((marks + rules).properties(width="container", height=220))
