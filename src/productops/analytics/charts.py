"""Charts of the insights pages: Vega-Lite specs built with Altair, one style everywhere.

- **Dates are UTC days.** Every period is a UTC date; axes, ticks and tooltips read them as
  UTC (`scale: utc`, `formatType: utc`), so a reader in New York sees the same day as the
  table.
- **Weeks start on Monday**: weekly axes put their ticks on the periods themselves (the
  Mondays), not on Vega's Sunday weeks; labels are one style (`Mar 4`, `Mar 2024` for months).
- **Unfinished periods are marked**: the current period (still filling) and a first period cut
  by the range are drawn dashed (lines) or faded (bars), as PostHog does, instead of reading as
  a cliff or a dip.
- **One colour per value**: a plan (segment, region…) has the same colour in every panel
  (`Palette`).
- **Every mark has a tooltip** with its numbers, lines included (points on the line).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

import altair as alt
import pandas as pd
from sqlalchemy.orm import Session

from productops import customers
from productops.analytics.query.dimensions import NONE_LABEL
from productops.analytics.query.grains import Grain, period_end, period_number, period_start

ACCENT = "#3454d1"
# Tableau 10, the palette people read best; a value keeps its colour across panels.
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
LIFECYCLE_COLORS = {
    "new": "#4e79a7",
    "returning": "#59a14f",
    "resurrecting": "#edc948",
    "dormant": "#e15759",
}
DAY_FORMAT = "%b %-d"
MONTH_FORMAT = "%b %Y"
DASH = {"complete": [1, 0], "unfinished": [5, 4]}
MAX_TICKS = 10


class Palette:
    """Colours by value. Values known up front (every plan, segment and region of the
    workspace's accounts) take the palette in their sorted order, so each keeps its colour
    whatever else a chart shows; other values get a colour from their text."""

    def __init__(self, known: Iterable[Iterable[str]] = ()) -> None:
        self._colors: dict[str, str] = {}
        for values in known:
            for i, value in enumerate(sorted(set(values))):
                self._colors.setdefault(value, PALETTE[i % len(PALETTE)])
        self._known = set(self._colors)

    @classmethod
    def in_order(cls, values: Iterable[str]) -> Palette:
        """Colours by position (for measures such as DAU, WAU and MAU)."""
        palette = cls()
        for i, value in enumerate(dict.fromkeys(values)):
            palette._colors[value] = PALETTE[i % len(PALETTE)]
        palette._known = set(palette._colors)
        return palette

    def color(self, value: str) -> str:
        if value not in self._colors:
            digest = hashlib.sha256(value.encode()).digest()
            self._colors[value] = PALETTE[digest[0] % len(PALETTE)]
        return self._colors[value]

    def colors(self, values: Iterable[str]) -> list[str]:
        """The colours of values drawn together: a known value keeps its own; another takes
        its own unless a value beside it has it already, then the first colour left, so two
        lines of one chart never look alike while the palette lasts. The same values get the
        same colours on every page, whatever their order."""
        values = list(values)
        chosen: dict[str, str] = {}
        for value in sorted(set(values), key=lambda v: (v not in self._known, v)):
            color = self.color(value)
            if value not in self._known and color in chosen.values():
                color = next((c for c in PALETTE if c not in chosen.values()), color)
            chosen[value] = color
        return [chosen[v] for v in values]

    def scale(self, values: Iterable[Any]) -> alt.Scale:
        domain = sorted({str(v) for v in values})
        return alt.Scale(domain=domain, range=self.colors(domain))


# The account fields whose values keep one colour in every chart of a workspace.
COLORED_FIELDS = ("plan", "segment", "region")


def workspace_palette(session: Session) -> Palette:
    """The workspace's plans, segments and regions in their colours, the same in every chart
    (explorers, saved insights, dashboards)."""
    return Palette([customers.distinct_values(session, f) for f in COLORED_FIELDS])


def spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart as a Vega-Lite spec (dates as ISO text, which Vega reads as UTC)."""
    out: dict[str, Any] = json.loads(json.dumps(chart.to_dict(), default=str))
    out.pop("$schema", None)
    config = out.setdefault("config", {})
    config.update({"view": {"stroke": None}, "font": "system-ui"})
    config.setdefault("axis", {}).update({"labelFontSize": 11, "titleFontWeight": "normal"})
    return out


# --- time ------------------------------------------------------------------------------------


def _utc(day: dt.date) -> alt.DateTime:
    return alt.DateTime(year=day.year, month=day.month, date=day.day, utc=True)


def time_x(field: str, grain: str, days: Sequence[dt.date]) -> alt.X:
    """A UTC time axis: one label style, and for weeks and months ticks on the periods."""
    fmt = MONTH_FORMAT if grain == "month" else DAY_FORMAT
    # The utc scale formats its labels in UTC (a formatType here would be dropped by Vega-Lite).
    axis: dict[str, Any] = {"format": fmt, "labelOverlap": True}
    if days:
        # Ticks on the periods themselves (Mondays for weeks), evenly spaced from the last.
        ordered = sorted(set(days))
        step = max(1, -(-len(ordered) // MAX_TICKS))
        axis["values"] = [_utc(d) for d in ordered[::-1][::step][::-1]]
    return alt.X(f"{field}:T", title=None, scale=alt.Scale(type="utc"), axis=alt.Axis(**axis))


def period_label(value: Any, grain: str) -> str:
    """How a period reads in a tooltip: `Mon Mar 4, 2024`, `week of Mar 4, 2024`, `March 2024`
    (text made on the server, so no browser time zone can shift it)."""
    day = _as_day(value)
    if grain == "month":
        return day.strftime("%B %Y")
    if grain == "week":
        return f"week of {day.strftime('%b')} {day.day}, {day.year}"
    return f"{day.strftime('%a %b')} {day.day}, {day.year}"


def time_tooltip(field: str, grain: str, title: str | None = None) -> alt.Tooltip:
    """The tooltip of a period: the text column `_label_<field>` (see `with_labels`)."""
    return alt.Tooltip(f"_label_{field}:N", title=title or field)


def with_labels(frame: pd.DataFrame, field: str, grain: str) -> pd.DataFrame:
    return frame.assign(**{f"_label_{field}": [period_label(v, grain) for v in frame[field]]})


def unfinished_periods(
    periods: Iterable[dt.date], grain: Grain, start: dt.date, end: dt.date, today: dt.date
) -> set[dt.date]:
    """The periods a chart should mark: cut by the range (a first week that starts before
    `start`, a last one that ends after `end`) or not over yet (it holds `today`)."""
    out = set()
    for p in periods:
        first = period_start(period_number(p, grain), grain)
        last = period_end(first, grain)
        if first < start or last > end or last >= today:
            out.add(p)
    return out


def _as_day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    day: dt.date = pd.Timestamp(value).date()
    return day


def with_parts(
    long: pd.DataFrame, x: str, group: str | list[str] | None, unfinished: set[dt.date]
) -> pd.DataFrame:
    """Rows tagged `part` (complete / unfinished) and `_segment` (a line piece of its own; not
    `segment`, which a breakdown by account segment is called):
    each run of unfinished periods is a dashed piece that includes its complete neighbours,
    so the solid and the dashed pieces meet."""
    if not unfinished:
        return long.assign(part="complete", _segment="c")
    pieces = []
    groups = long.groupby(group, sort=False) if group else [(None, long)]
    for _, rows in groups:
        rows = rows.sort_values(x).reset_index(drop=True)
        flags = [_as_day(v) in unfinished for v in rows[x]]
        pieces.append(rows[[not f for f in flags]].assign(part="complete", _segment="c"))
        run: list[int] = []
        runs: list[list[int]] = []
        for i, flag in enumerate(flags):
            if flag:
                run.append(i)
            elif run:
                runs.append(run)
                run = []
        if run:
            runs.append(run)
        for n, members in enumerate(runs):
            lo, hi = members[0] - 1, members[-1] + 1
            index = [i for i in (lo, *members, hi) if 0 <= i < len(flags)]
            pieces.append(rows.iloc[index].assign(part="unfinished", _segment=f"u{n}"))
    return pd.concat(pieces, ignore_index=True)


# --- trends: one name and one colour per line ------------------------------------------------


def trend_lines(frame: pd.DataFrame) -> pd.Series:
    """The name of each line of a trends result: the series' label, `label · value` when the
    series are broken down (the explorer's legend, and a saved insight's)."""
    name = frame["label"].astype(str)
    if "breakdown" in frame.columns:
        name = name + " · " + trend_values(frame)
    return name


def trend_values(frame: pd.DataFrame) -> pd.Series:
    """The breakdown value of each row as text (`(none)` for a missing one)."""
    return pd.Series(
        [NONE_LABEL if v is None or v != v else str(v) for v in frame["breakdown"]],
        index=frame.index,
    )


def trend_color_keys(frame: pd.DataFrame) -> pd.Series:
    """What gives each line of a trends result its colour: the breakdown value when one
    series is broken down (a plan in its workspace colour), else the whole line's name
    (`series · value`), so two series with the same value never share a colour. The
    explorer and the saved insight's panel both colour by it."""
    if "breakdown" not in frame.columns:
        return frame["label"].astype(str)
    if frame["label"].nunique() > 1:
        return trend_lines(frame)
    return trend_values(frame)


# --- charts ----------------------------------------------------------------------------------


def line_chart(
    df: pd.DataFrame,
    x: str,
    ys: list[str],
    title_y: str,
    *,
    grain: str = "day",
    percent: bool = False,
    unfinished: set[dt.date] | None = None,
    palette: Palette | None = None,
) -> dict[str, Any] | None:
    """Several measures of one table over time (DAU, WAU and MAU, say)."""
    if df.empty or not ys:
        return None
    long = df.melt(id_vars=[x], value_vars=ys, var_name="series", value_name="value")
    long["series"] = long["series"].str.upper()
    # Measures keep their order's colours (DAU, WAU, MAU), not the values' palette.
    measures = Palette.in_order(long["series"])
    return _series(long, x, "value", "series", title_y, grain, percent, unfinished, measures)


def series_chart(
    df: pd.DataFrame,
    x: str,
    y: str,
    color: str | None,
    title_y: str,
    *,
    grain: str = "day",
    percent: bool = False,
    unfinished: set[dt.date] | None = None,
    palette: Palette | None = None,
) -> dict[str, Any] | None:
    """One measure over time, a line per value of `color` (a breakdown) if given."""
    if df.empty:
        return None
    data = df.copy()
    if color:
        data[color] = [NONE_LABEL if v is None or v != v else str(v) for v in data[color]]
    return _series(data, x, y, color, title_y, grain, percent, unfinished, palette)


def _series(
    long: pd.DataFrame,
    x: str,
    y: str,
    color: str | None,
    title_y: str,
    grain: str,
    percent: bool,
    unfinished: set[dt.date] | None,
    palette: Palette | None,
) -> dict[str, Any]:
    fmt = ".1%" if percent else ",.0f"
    if not percent and pd.api.types.is_float_dtype(long[y]) and (long[y].abs() < 10).all():
        fmt = ",.2f"
    data = with_labels(with_parts(long, x, color, unfinished or set()), x, grain)
    data["_piece"] = [
        f"{c}|{p}"
        for c, p in zip(data[color] if color else [""] * len(data), data["_segment"], strict=True)
    ]
    days = [_as_day(v) for v in long[x]]
    enc: dict[str, Any] = {
        "x": time_x(x, grain, days),
        "y": alt.Y(f"{y}:Q", title=title_y, axis=alt.Axis(format=fmt.replace(".1%", ".0%"))),
        "strokeDash": alt.StrokeDash(
            "part:N", scale=alt.Scale(domain=list(DASH), range=list(DASH.values())), legend=None
        ),
    }
    tooltip = [time_tooltip(x, grain)]
    if color:
        scale = (palette or Palette()).scale(long[color])
        enc["color"] = alt.Color(
            f"{color}:N", title=None, scale=scale, legend=alt.Legend(orient="top")
        )
        tooltip.append(alt.Tooltip(f"{color}:N"))
    else:
        enc["color"] = alt.value(ACCENT)
    enc["detail"] = alt.Detail("_piece:N")
    tooltip.append(alt.Tooltip(f"{y}:Q", format=fmt, title=title_y))
    tooltip.append(alt.Tooltip("part:N", title="period is"))
    base = alt.Chart(data).encode(**enc)
    lines = base.mark_line(strokeWidth=2)
    points = base.mark_point(filled=True, size=28).encode(tooltip=tooltip)
    return spec((lines + points).properties(width="container", height=220))


def bar_histogram(df: pd.DataFrame, x: str, y: str, x_title: str, y_title: str) -> Any:
    if df.empty or len(df.columns) < 2:
        return None
    chart = (
        alt.Chart(df)
        .mark_bar(color=ACCENT)
        .encode(
            x=alt.X(f"{x}:O", title=x_title, axis=alt.Axis(labelAngle=0, labelOverlap="parity")),
            y=alt.Y(f"{y}:Q", title=y_title, axis=alt.Axis(format=",d")),
            tooltip=[alt.Tooltip(f"{x}:O", title=x_title), alt.Tooltip(f"{y}:Q", format=",d")],
        )
        .properties(width="container", height=200)
    )
    return spec(chart)


def lifecycle_chart(
    df: pd.DataFrame, grain: str = "week", unfinished: set[dt.date] | None = None
) -> dict[str, Any] | None:
    """Stacked bars per period (an unfinished period faded)."""
    if df.empty:
        return None
    period = df.columns[0]
    states = [c for c in LIFECYCLE_COLORS if c in df.columns]
    if not states:
        return None
    long = df.melt(id_vars=[period], value_vars=states, var_name="state", value_name="people")
    done = unfinished or set()
    long["part"] = ["unfinished" if _as_day(p) in done else "complete" for p in long[period]]
    fmt = "%b %Y" if grain == "month" else "%b %-d"
    long["_tick"] = [_as_day(p).strftime(fmt).replace(" 0", " ") for p in long[period]]
    long = with_labels(long, period, grain)
    order = list(dict.fromkeys(long.sort_values(period)["_tick"]))
    chart = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X(
                "_tick:O", title=None, sort=order, axis=alt.Axis(labelAngle=0, labelOverlap=True)
            ),
            y=alt.Y("people:Q", title="people", axis=alt.Axis(format=",d")),
            color=alt.Color(
                "state:N",
                scale=alt.Scale(
                    domain=list(LIFECYCLE_COLORS), range=list(LIFECYCLE_COLORS.values())
                ),
                legend=alt.Legend(orient="top", title=None),
            ),
            opacity=alt.condition("datum.part == 'unfinished'", alt.value(0.45), alt.value(1.0)),
            tooltip=[
                time_tooltip(period, grain, "period"),
                "state:N",
                alt.Tooltip("people:Q", format=",d"),
                alt.Tooltip("part:N", title="period is"),
            ],
        )
        .properties(width="container", height=220)
    )
    return spec(chart)


def retention_chart(
    df: pd.DataFrame, grain: str = "week", today: dt.date | None = None
) -> dict[str, Any] | None:
    """The cohort triangle as a heat map of shares; a cell whose period is not over is
    faded."""
    needed = {"cohort", "period", "percent"}
    if df.empty or not needed <= set(df.columns):
        return None
    g: Grain = grain if grain in ("day", "week", "month") else "week"  # type: ignore[assignment]
    data = df.assign(share=df["percent"] / 100.0)
    if today is not None:
        ends = [
            period_end(
                period_start(period_number(_as_day(c), g) + int(n), g),
                g,
            )
            for c, n in zip(data["cohort"], data["period"], strict=True)
        ]
        data["part"] = ["unfinished" if e >= today else "complete" for e in ends]
    else:
        data["part"] = "complete"
    data["cohort_label"] = [
        _as_day(c).strftime("%b %Y" if g == "month" else "%b %-d") for c in data["cohort"]
    ]
    order = [lbl for _, lbl in sorted(set(zip(data["cohort"], data["cohort_label"], strict=True)))]
    base = alt.Chart(data).encode(
        x=alt.X("period:O", title=f"{grain}s later", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort_label:O", title=f"cohort ({grain} of)", sort=order),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            "share:Q",
            title="retained",
            scale=alt.Scale(scheme="blues", domain=[0, 1]),
            legend=alt.Legend(format=".0%"),
        ),
        opacity=alt.condition("datum.part == 'unfinished'", alt.value(0.5), alt.value(1.0)),
        tooltip=[
            alt.Tooltip("cohort_label:O", title="cohort"),
            alt.Tooltip("cohort_size:Q", title="people in cohort", format=",d"),
            alt.Tooltip("period:O", title=f"{grain}s later"),
            alt.Tooltip("persons:Q", title="retained", format=",d"),
            alt.Tooltip("share:Q", format=".1%", title="share"),
            alt.Tooltip("part:N", title="period"),
        ],
    )
    # The shares are written in the cells only where they fit (not on a phone).
    text = base.mark_text(fontSize=10).encode(
        text=alt.condition("width > 420", alt.Text("share:Q", format=".0%"), alt.value("")),
        color=alt.condition("datum.share > 0.5", alt.value("white"), alt.value("#222")),
    )
    return spec((heat + text).properties(width="container", height=260))


def funnel_chart(df: pd.DataFrame, palette: Palette | None = None) -> dict[str, Any] | None:
    """Bars of people per step (one colour per breakdown value), conversion in the tooltip.
    Labels are short and wrap, so many steps still fit a phone."""
    if df.empty or not {"step", "persons"} <= set(df.columns):
        return None
    data = df.assign(
        label=[f"{s}. {e}" for s, e in zip(df["step"], df["event"], strict=True)],
        breakdown=df["breakdown"].astype(str),
    )
    order = [f"{s}. {e}" for s, e in sorted(set(zip(df["step"], df["event"], strict=True)))]
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X(
                "label:N",
                title=None,
                sort=order,
                axis=alt.Axis(labelAngle=0, labelLimit=110, labelExpr="split(datum.label, ' ')"),
            ),
            xOffset=alt.XOffset("breakdown:N"),
            y=alt.Y("persons:Q", title="people", axis=alt.Axis(format=",d")),
            color=alt.Color(
                "breakdown:N",
                scale=(palette or Palette()).scale(data["breakdown"]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=[
                alt.Tooltip("breakdown:N"),
                alt.Tooltip("label:N", title="step"),
                alt.Tooltip("persons:Q", format=",d", title="people"),
                alt.Tooltip("conversion:Q", format=".1%", title="of step 1"),
                alt.Tooltip("step_conversion:Q", format=".1%", title="of the step before"),
            ],
        )
        .properties(width="container", height=240)
    )
    return spec(chart)


def adoption_chart(df: pd.DataFrame, palette: Palette | None = None) -> dict[str, Any] | None:
    """Adoption of each feature, a bar per segment value (one view, so it fits any width)."""
    if df.empty or "adoption_rate" not in df.columns:
        return None
    seg = df.columns[0]
    data = df.assign(**{seg: df[seg].astype(str)})
    features = list(dict.fromkeys(data["feature"]))
    chart = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("adoption_rate:Q", title="adoption", axis=alt.Axis(format=".0%")),
            y=alt.Y("feature:N", title=None, sort=features, axis=alt.Axis(labelLimit=140)),
            yOffset=alt.YOffset(f"{seg}:N"),
            color=alt.Color(
                f"{seg}:N",
                scale=(palette or Palette()).scale(data[seg]),
                legend=alt.Legend(orient="top", title=None),
            ),
            tooltip=[
                "feature:N",
                f"{seg}:N",
                alt.Tooltip("adoption_rate:Q", format=".1%", title="adoption"),
                alt.Tooltip("adopters:Q", format=",d"),
                alt.Tooltip("active:Q", format=",d", title="active"),
            ],
        )
        .properties(width="container", height=alt.Step(9))
        .configure(autosize={"type": "fit-x", "contains": "padding"})
    )
    return spec(chart)
