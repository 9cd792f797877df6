"""Charts of the experiment pages, Vega-Lite built with Altair like the insights pages:
intervals of every effect (a dot for the estimate, a bar for its interval, a line at no
effect) and cumulative users per variation (how the split is filling)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

ACCENT = "#3454d1"
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1")
WIN, LOSE, FLAT = "#59a14f", "#e15759", "#7f7f7f"


def interval_chart(
    metrics: list[dict[str, Any]], variations: list[dict[str, Any]]
) -> dict[str, Any]:
    """Each metric's effect per treatment, with its interval, against no effect."""
    rows = []
    relative = True
    for m in metrics:
        for i, c in enumerate(m["comparisons"], start=1):
            if c.get("error"):
                continue
            relative = c["difference"] == "relative"
            lo, hi = c["ci"]
            verdict = "better" if lo > 0 else "worse" if hi < 0 else "no clear effect"
            rows.append(
                {
                    "row": f"{m['label']} · {variations[i]['name']}",
                    "metric": m["label"],
                    "variation": variations[i]["name"],
                    "effect": c["expected"],
                    "lo": lo,
                    "hi": hi,
                    "verdict": verdict,
                    "text": _effect_text(c),
                }
            )
    frame = pd.DataFrame(
        rows
        or [
            {
                "row": "",
                "metric": "",
                "variation": "",
                "effect": 0.0,
                "lo": 0.0,
                "hi": 0.0,
                "verdict": "no clear effect",
                "text": "",
            }
        ]
    )
    fmt = ".1%" if relative else ",.3~g"
    axis_title = "Effect (relative to control)" if relative else "Effect (treatment - control)"
    base = alt.Chart(frame)
    order = list(dict.fromkeys(frame["row"]))
    color = alt.Color(
        "verdict:N",
        scale=alt.Scale(domain=["better", "worse", "no clear effect"], range=[WIN, LOSE, FLAT]),
        legend=alt.Legend(title=None, orient="bottom"),
    )
    y = alt.Y("row:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
    tooltip = [
        alt.Tooltip("metric:N", title="Metric"),
        alt.Tooltip("variation:N", title="Variation"),
        alt.Tooltip("text:N", title="Effect"),
    ]
    bars = base.mark_rule(strokeWidth=3).encode(
        x=alt.X("lo:Q", title=axis_title, axis=alt.Axis(format=fmt)),
        x2="hi:Q",
        y=y,
        color=color,
        tooltip=tooltip,
    )
    dots = base.mark_point(filled=True, size=70).encode(
        x="effect:Q", y=y, color=color, tooltip=tooltip
    )
    zero = (
        alt.Chart(pd.DataFrame({"x": [0.0]}))
        .mark_rule(strokeDash=[4, 4], color="#555")
        .encode(x="x:Q")
    )
    chart = (zero + bars + dots).properties(width="container", height=max(60, 34 * len(order)))
    spec: dict[str, Any] = chart.to_dict()
    return spec


def _effect_text(c: dict[str, Any]) -> str:
    scale, unit = (100, "%") if c["difference"] == "relative" else (1, "")
    lo, hi = c["ci"]
    return f"{c['expected'] * scale:+.2f}{unit} [{lo * scale:+.2f}{unit}, {hi * scale:+.2f}{unit}]"


def exposure_chart(daily: list[list[Any]], variations: list[dict[str, Any]]) -> dict[str, Any]:
    """Cumulative users per variation by UTC day of first exposure."""
    names = {v["key"]: v["name"] for v in variations}
    frame = (
        pd.DataFrame(daily, columns=["day", "variation", "n"])
        if daily
        else pd.DataFrame(columns=["day", "variation", "n"])
    )
    if not frame.empty:
        frame["variation"] = frame["variation"].map(lambda k: names.get(k, k))
        frame = frame.sort_values("day")
        frame["users"] = frame.groupby("variation")["n"].cumsum()
    else:
        frame["users"] = []
    order = [v["name"] for v in variations]
    # Ticks on whole UTC days, evenly spaced from the first, at most about eight (Vega's own
    # put some at noon, and its day steps restart at each month).
    ticks: list[int] = []
    if not frame.empty:
        days = pd.to_datetime(frame["day"], utc=True)
        first, span = days.min(), (days.max() - days.min()).days + 1
        step = max(1, -(-span // 8))
        ticks = [
            int((first + pd.Timedelta(days=d)).timestamp() * 1000) for d in range(0, span, step)
        ]
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "day:T",
                title=None,
                scale=alt.Scale(type="utc"),
                axis=alt.Axis(format="%b %-d", values=ticks)
                if ticks
                else alt.Axis(format="%b %-d"),
            ),
            y=alt.Y("users:Q", title="Users (cumulative)"),
            color=alt.Color(
                "variation:N",
                sort=order,
                scale=alt.Scale(domain=order, range=list(PALETTE[: len(order)])),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            tooltip=[
                alt.Tooltip("day:T", title="Day", format="%Y-%m-%d", formatType="utc"),
                alt.Tooltip("variation:N", title="Variation"),
                alt.Tooltip("users:Q", title="Users so far", format=","),
            ],
        )
        .properties(width="container", height=180)
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec
