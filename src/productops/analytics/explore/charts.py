"""Charts of the explorers (Vega-Lite through Altair): trends as lines, bars, areas;
breakdowns of retention, stickiness and lifecycle; the paths flow as a Sankey-style diagram."""

from __future__ import annotations

import datetime as dt
from typing import Any

import altair as alt
import pandas as pd

from productops.analytics.charts import (
    DASH,
    Palette,
    period_label,
    spec,
    time_tooltip,
    time_x,
    trend_color_keys,
    trend_lines,
    with_labels,
    with_parts,
)
from productops.analytics.query.grains import Grain, period_number, period_start

DISPLAYS = ("line", "bar", "area", "number", "table")
WIDTH = "container"
# How the two ranges of a comparison read in the legend and the tooltips.
RANGES = {"current": "current period", "previous": "previous period"}
RANGE_DASH = [[1, 0], [5, 4]]
RANGE_OPACITY = [1.0, 0.4]


def series_colors(frame: pd.DataFrame, palette: Palette | None = None) -> alt.Scale:
    """The colour of each line, by what it is (not by its place in this chart), so a line is
    drawn in the same colour here as on its saved insight's page and on a dashboard
    (`charts.trend_color_keys`)."""
    names = trend_lines(frame)
    key_of = dict(zip(names, trend_color_keys(frame), strict=True))
    domain = list(dict.fromkeys(names))
    return alt.Scale(domain=domain, range=(palette or Palette()).colors(key_of[n] for n in domain))


def _ticks(periods: pd.Series, grain: str) -> tuple[list[str], list[str]]:
    """Each period's label on a band axis (`Mar 4`, `Mar 2024` for months) and their order."""
    fmt = "%b %Y" if grain == "month" else "%b %-d"
    ticks = [pd.Timestamp(p).strftime(fmt) for p in periods]
    order = [pd.Timestamp(p).strftime(fmt) for p in sorted(set(periods))]
    return ticks, list(dict.fromkeys(order))


def trends_chart(
    data: pd.DataFrame,
    display: str,
    grain: str,
    palette: Palette | None = None,
    unfinished: set[dt.date] | None = None,
) -> dict[str, Any] | None:
    """Lines, bars or areas of every series (and breakdown value) over time, each series in
    its own colour wherever it is drawn. Ticks fall on the periods (the Mondays of weeks,
    the first days of months, in UTC). Compared with the previous period, that one is dashed
    (lines) or faded (bars, areas) and the legend says which is which; otherwise there is no
    range legend at all. The `unfinished` periods (the current one, still filling; one cut by
    the range) are dashed (lines) or faded (bars), as on every house chart."""
    if data.empty or display not in ("line", "bar", "area"):
        return None
    frame = data.copy()
    frame["line"] = trend_lines(frame)
    # Days, not timestamps: a day goes out as `2026-03-02`, which Vega reads as UTC midnight
    # (a timestamp's `2026-03-02T00:00:00` would be read in the browser's own zone).
    frame["period"] = [pd.Timestamp(p).date() for p in frame["period"]]
    frame["value"] = frame["value"].astype("float64")
    comparing = "compare" in frame.columns and bool((frame["compare"] == "previous").any())
    which = frame["compare"] if "compare" in frame.columns else pd.Series("current", frame.index)
    frame["range"] = [RANGES.get(str(c), str(c)) for c in which]
    # A previous row is drawn at the current period it lines up with; its tooltip names its own.
    own = frame["previous_period"] if "previous_period" in frame.columns else frame["period"]
    frame["_label_period"] = [
        period_label(o if c == "previous" and o is not None and o == o else p, grain)
        for p, o, c in zip(frame["period"], own, which, strict=True)
    ]
    tooltip = [
        alt.Tooltip("line:N", title="series"),
        time_tooltip("period", grain, grain),
        alt.Tooltip("value:Q", format=",.2f"),
    ]
    if comparing:
        tooltip.append(alt.Tooltip("range:N", title="range"))
    # Only the current range's periods can be unfinished (the previous one is over).
    frame = _with_unfinished(frame, unfinished or set(), pieces=display == "line")
    marking = bool((frame["part"] == "unfinished").any())
    if marking:
        tooltip.append(alt.Tooltip("part:N", title="period is"))
    enc: dict[str, Any] = {
        "y": alt.Y("value:Q", title="value"),
        "color": alt.Color(
            "line:N",
            title=None,
            scale=series_colors(frame, palette),
            legend=alt.Legend(orient="top", labelLimit=260),
        ),
        "tooltip": tooltip,
    }
    ranges = list(RANGES.values())
    if display == "bar":
        # Bars stand in bands, one per period, labelled as the house's bar charts are.
        frame["_tick"], order = _ticks(frame["period"], grain)
        frame["_bar"] = frame["line"] + " | " + frame["range"]
        enc["x"] = alt.X(
            "_tick:O", title=None, sort=order, axis=alt.Axis(labelAngle=0, labelOverlap=True)
        )
        enc["xOffset"] = alt.XOffset("_bar:N")
    else:
        enc["x"] = time_x("period", grain, list(frame["period"]))
    if display == "line":
        enc["detail"] = alt.Detail("_piece:N")
    elif display == "bar" and marking:
        enc["opacity"] = alt.condition(
            "datum.part == 'unfinished'", alt.value(0.45), alt.value(1.0)
        )
    if comparing and display != "line":
        enc["opacity"] = alt.Opacity(
            "range:O",
            sort=ranges,
            scale=alt.Scale(domain=ranges, range=RANGE_OPACITY),
            legend=alt.Legend(orient="top", title=None),
        )
    base = alt.Chart(frame).encode(**enc)
    chart: Any
    if display == "bar":
        chart = base.mark_bar()
    elif display == "area":
        # Areas of the two ranges overlap (the previous one faded), never stack on each other.
        chart = base.mark_area(opacity=0.7).encode(
            y=alt.Y("value:Q", title="value", stack=None if comparing else "zero")
        )
    else:
        lines = base.mark_line(strokeWidth=2)
        if marking and not comparing:
            lines = lines.encode(
                strokeDash=alt.StrokeDash(
                    "part:N",
                    scale=alt.Scale(domain=list(DASH), range=list(DASH.values())),
                    legend=None,
                )
            )
        elif marking:
            # The dash says which range; an unfinished piece of the current one is faded.
            lines = lines.encode(
                opacity=alt.condition("datum.part == 'unfinished'", alt.value(0.45), alt.value(1.0))
            )
        if comparing:
            # The lines alone carry the range, so its legend shows a solid and a dashed stroke.
            lines = lines.encode(
                strokeDash=alt.StrokeDash(
                    "range:N",
                    scale=alt.Scale(domain=ranges, range=RANGE_DASH),
                    legend=alt.Legend(orient="top", title=None, symbolType="stroke"),
                )
            )
        chart = lines + base.mark_point(filled=True, size=28)
    return spec(chart.properties(width=WIDTH, height=320))


def _with_unfinished(frame: pd.DataFrame, unfinished: set[dt.date], pieces: bool) -> pd.DataFrame:
    """Rows tagged `part` (complete / unfinished; only the current range's periods can be
    unfinished). For lines (`pieces`), each run of unfinished periods becomes a piece of its
    own joined to its neighbours (`charts.with_parts`), drawn apart through `_piece`."""
    current = frame["range"] == RANGES["current"]
    if not pieces:
        flags = [c and p in unfinished for c, p in zip(current, frame["period"], strict=True)]
        return frame.assign(part=["unfinished" if f else "complete" for f in flags])
    parts = [
        with_parts(frame[current], "period", "line", unfinished),
        with_parts(frame[~current], "period", "line", set()),
    ]
    out = pd.concat([p for p in parts if len(p)], ignore_index=True)
    out["_piece"] = out["line"] + "|" + out["range"] + "|" + out["_segment"]
    return out


def breakdown_lines(
    data: pd.DataFrame, x: str, y: str, x_title: str, y_title: str, percent: bool = False
) -> dict[str, Any] | None:
    """One line per breakdown value (retention curves, days active)."""
    if data.empty:
        return None
    frame = data.copy()
    frame["breakdown"] = frame["breakdown"].astype(str)
    chart = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:O", title=x_title),
            y=alt.Y(
                f"{y}:Q", title=y_title, axis=alt.Axis(format=".0%") if percent else alt.Axis()
            ),
            color=alt.Color("breakdown:N", title="breakdown"),
            tooltip=[
                "breakdown:N",
                f"{x}:O",
                alt.Tooltip(f"{y}:Q", format=".1%" if percent else ","),
            ],
        )
        .properties(width=WIDTH, height=300)
    )
    return spec(chart)


def retention_curves(data: pd.DataFrame) -> dict[str, Any] | None:
    """Retention by breakdown value: the share of all cohorts back N periods later."""
    if data.empty:
        return None
    sizes = data.groupby(["breakdown", "period"], as_index=False)[["persons", "cohort_size"]].sum()
    sizes["share"] = sizes["persons"] / sizes["cohort_size"]
    return breakdown_lines(sizes, "period", "share", "periods later", "retained", percent=True)


def lifecycle_by(data: pd.DataFrame, grain: str = "week") -> dict[str, Any] | None:
    """Lifecycle bars per breakdown value, one small chart each, on a UTC time axis (a bar
    spans its period), so the charts' script draws annotations in every one of them."""
    if data.empty:
        return None
    long = data.melt(
        id_vars=["breakdown", "period"],
        value_vars=["new", "returning", "resurrecting", "dormant"],
        var_name="status",
        value_name="persons",
    )
    g: Grain = grain if grain in ("day", "week", "month") else "week"  # type: ignore[assignment]
    days = [pd.Timestamp(p).date() for p in long["period"]]
    # Days, not timestamps (read as UTC midnight); a bar ends where the next period starts.
    long["period"] = days
    long["period_end"] = [period_start(period_number(d, g) + 1, g) for d in days]
    long = with_labels(long, "period", g)
    long["breakdown"] = long["breakdown"].astype(str)
    # Stacked by hand (a bar given x and x2 is not stacked by Vega-Lite): the states upward
    # in their order, dormant people (negative) downward.
    long["persons"] = long["persons"].fillna(0)
    bases: dict[tuple[str, Any, bool], float] = {}
    tops = []
    for b, p, n in zip(long["breakdown"], long["period"], long["persons"], strict=True):
        key = (b, p, n >= 0)
        tops.append(bases.get(key, 0.0) + float(n))
        bases[key] = tops[-1]
    long["_top"] = tops
    long["_bottom"] = long["_top"] - long["persons"]
    chart = (
        alt.Chart(long)
        .mark_rect(stroke="white", strokeWidth=1)
        .encode(
            x=time_x("period", g, days),
            x2=alt.X2("period_end:T"),
            y=alt.Y("_top:Q", title="people"),
            y2=alt.Y2("_bottom:Q"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(
                    domain=["new", "returning", "resurrecting", "dormant"],
                    range=["#2e7d32", "#1565c0", "#f9a825", "#c62828"],
                ),
            ),
            tooltip=[
                "breakdown:N",
                time_tooltip("period", g, "period"),
                "status:N",
                "persons:Q",
            ],
        )
        .properties(width=230, height=170)
        .facet(facet=alt.Facet("breakdown:N", title=None), columns=2)
    )
    return spec(chart)


def time_histogram(hist: pd.DataFrame) -> dict[str, Any] | None:
    """Time to convert per step, in readable bins."""
    if hist.empty or int(hist["persons"].sum()) == 0:
        return None
    frame = hist.assign(step_name=hist["step"].astype(str) + ". " + hist["event"].astype(str))
    order = list(dict.fromkeys(frame["time"]))
    chart = (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("time:N", sort=order, title="time from the previous step"),
            y=alt.Y("persons:Q", title="people"),
            color=alt.Color("step_name:N", title="step"),
            xOffset="step_name:N",
            tooltip=["step_name:N", "time:N", "persons:Q"],
        )
        .properties(width=WIDTH, height=240)
    )
    return spec(chart)


def sankey_svg(nodes: pd.DataFrame, edges: pd.DataFrame, link: Any, width: int = 960) -> str | None:
    """The paths flow as SVG markup: a column per step, a bar per event (height by people),
    bands between them (width by people). `link(step, event)` gives each node's address."""
    from markupsafe import escape

    if nodes.empty:
        return None
    steps = sorted(int(s) for s in set(nodes["step"]))
    height = 420
    gap = 10
    col_w = 14
    xs = {s: 20 + i * (width - 200) / max(1, len(steps) - 1) for i, s in enumerate(steps)}
    top = max(int(nodes[nodes["step"] == s]["people"].sum()) for s in steps) or 1
    scale = (height - 40 - gap * 10) / top
    box: dict[tuple[int, str], tuple[float, float]] = {}  # top, bottom
    out_free: dict[tuple[int, str], float] = {}
    in_free: dict[tuple[int, str], float] = {}
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="100%" role="img" '
        'aria-label="Paths flow" class="paths-flow" xmlns="http://www.w3.org/2000/svg">'
    ]
    for s in steps:
        y = 20.0
        for _, row in nodes[nodes["step"] == s].iterrows():
            h = max(2.0, float(row["people"]) * scale)
            key = (s, str(row["event"]))
            box[key] = (y, y + h)
            out_free[key] = in_free[key] = y
            y += h + gap
    for _, e in edges.iterrows():
        s = int(e["step"])
        a, b = (s, str(e["source"])), (s + 1, str(e["target"]))
        if a not in box or b not in box:
            continue
        h = max(1.0, float(e["people"]) * scale)
        y0, y1 = out_free[a], in_free[b]
        out_free[a] += h
        in_free[b] += h
        x0, x1 = xs[s] + col_w, xs[s + 1]
        mid = (x0 + x1) / 2
        title = f"{e['source']} → {e['target']}: {int(e['people']):,} people"
        parts.append(
            f'<path d="M{x0:.1f},{y0 + h / 2:.1f} C{mid:.1f},{y0 + h / 2:.1f} {mid:.1f},'
            f'{y1 + h / 2:.1f} {x1:.1f},{y1 + h / 2:.1f}" stroke-width="{h:.1f}" '
            f'class="flow-band"><title>{escape(title)}</title></path>'
        )
    for (s, name), (y_top, y_bottom) in box.items():
        row = nodes[(nodes["step"] == s) & (nodes["event"] == name)].iloc[0]
        title = f"step {s}: {name} — {int(row['people']):,} people ({float(row['share']):.0%})"
        href = link(s, name)
        parts.append(
            f'<a href="{escape(href)}"><rect x="{xs[s]:.1f}" y="{y_top:.1f}" width="{col_w}" '
            f'height="{y_bottom - y_top:.1f}" class="flow-node"><title>{escape(title)}</title>'
            f'</rect><text x="{xs[s] + col_w + 4:.1f}" y="{(y_top + y_bottom) / 2 + 4:.1f}" '
            f'class="flow-label">{escape(name)} ({int(row["people"]):,})</text></a>'
        )
    parts.append("</svg>")
    return "".join(parts)
