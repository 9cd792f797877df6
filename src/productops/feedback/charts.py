"""The feedback pages' charts: Vega-Lite specs built with Altair, in the house style (UTC
weeks starting on Monday, the week still under way dashed, a tooltip on every point)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import altair as alt
import pandas as pd

PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip


def _spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(chart.to_dict(), default=str))
    out.pop("$schema", None)
    config = out.setdefault("config", {})
    config.update({"view": {"stroke": None}, "font": "system-ui"})
    config.setdefault("axis", {}).update({"labelFontSize": 11, "titleFontWeight": "normal"})
    return out


def _week_label(day: dt.date) -> str:
    return f"week of {day.strftime('%b')} {day.day}, {day.year}"


def weekly_lines(
    series: dict[str, Sequence[int]],
    weeks: Sequence[dt.date],
    *,
    title_y: str = "feedback",
    today: dt.date | None = None,
) -> dict[str, Any] | None:
    """One line per series over ISO weeks; the current (unfinished) week dashed."""
    if not weeks or not series:
        return None
    today = today or dt.datetime.now(dt.UTC).date()
    rows = []
    finished = [w for w in weeks if w + dt.timedelta(days=6) < today]
    last_finished = max(finished) if finished else None
    for name, counts in series.items():
        for week, n in zip(weeks, counts, strict=True):
            unfinished = week + dt.timedelta(days=6) >= today
            rows.append(
                {
                    "week": week.isoformat(),
                    "series": name[:60],
                    "count": int(n),
                    "label": _week_label(week) + (" (under way)" if unfinished else ""),
                    "part": "unfinished" if unfinished else "complete",
                    # The dashed stretch: from the last finished week to the one under way.
                    "tail": unfinished or week == last_finished,
                }
            )
    frame = pd.DataFrame(rows)
    names = list(dict.fromkeys(frame["series"]))
    color = alt.Color(
        "series:N",
        title=None,
        scale=alt.Scale(domain=names, range=[PALETTE[i % len(PALETTE)] for i in range(len(names))]),
        legend=alt.Legend(orient="bottom", columns=2, labelLimit=260) if len(names) > 1 else None,
    )
    x = alt.X(
        "week:T",
        title=None,
        scale=alt.Scale(type="utc"),
        # Ticks on the weeks' Mondays, where the points are (Vega's own week ticks are Sundays).
        axis=alt.Axis(
            format="%b %-d",
            labelOverlap=True,
            values=[
                int(dt.datetime.combine(w, dt.time(), dt.UTC).timestamp() * 1000) for w in weeks
            ],
        ),
    )
    y = alt.Y("count:Q", title=title_y)
    tooltip = [
        alt.Tooltip("series:N", title="theme" if len(names) > 1 else "what"),
        alt.Tooltip("label:N", title="week"),
        alt.Tooltip("count:Q", title=title_y),
    ]
    base = alt.Chart(frame)
    lines = (
        base.transform_filter(alt.datum.part == "complete")
        .mark_line()
        .encode(x=x, y=y, color=color, detail="series:N")
    )
    # A week under way has not finished counting: its stretch is dashed, not a fall.
    tail = (
        base.transform_filter(alt.datum.tail)
        .mark_line(strokeDash=[4, 4], opacity=0.5)
        .encode(x=x, y=y, color=color, detail="series:N")
    )
    # The week still under way is faded: its count is not final.
    opacity = alt.Opacity(
        "part:N",
        legend=None,
        scale=alt.Scale(domain=["complete", "unfinished"], range=[1.0, 0.35]),
    )
    points = base.mark_point(filled=True, size=40).encode(
        x=x, y=y, color=color, opacity=opacity, tooltip=tooltip
    )
    chart = (lines + tail + points).properties(width="container", height=220)
    return _spec(chart)


def sentiment_bars(counts: dict[str, int]) -> dict[str, Any] | None:
    """Negative, neutral and positive counts as a horizontal bar."""
    if not any(counts.values()):
        return None
    order = ["negative", "neutral", "positive"]
    frame = pd.DataFrame([{"sentiment": k, "count": counts.get(k, 0)} for k in order])
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("sentiment:N", sort=order, title=None),
            x=alt.X("count:Q", title="feedback"),
            color=alt.Color(
                "sentiment:N",
                scale=alt.Scale(domain=order, range=["#e15759", "#bab0ac", "#59a14f"]),
                legend=None,
            ),
            tooltip=["sentiment:N", "count:Q"],
        )
        .properties(width="container", height=90)
    )
    return _spec(chart)
