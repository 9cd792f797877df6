"""The trends explorer's charts, read as Vega-Lite specs: no range legend unless a range is
compared (then the previous period is dashed or faded and named), ticks on the periods (the
Mondays of weeks, the first days of months, in UTC), and a series drawn in the same colour in
the explorer as on its saved insight's page whatever else the chart shows (a plan as on the
dashboards)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from productops.analytics import charts as house
from productops.analytics.dashboards.service import palette
from productops.analytics.explore.charts import trends_chart
from productops.core.models import Role
from productops.core.workspace import Workspace
from tests.analytics.test_house_insights import company  # noqa: F401 (a fixture)
from tests.conftest import sign_in

WEEKS = [dt.date(2026, 9, 28) + dt.timedelta(days=7 * i) for i in range(5)]  # Mondays
REPORTS = "Report Created (events)"


def frame(*labels: str, periods: list[dt.date] = WEEKS, compare: bool = False) -> pd.DataFrame:
    rows = []
    for i, label in enumerate(labels):
        for n, period in enumerate(periods):
            row: dict[str, Any] = {
                "series": chr(65 + i),
                "label": label,
                "period": period,
                "value": float(n + i),
            }
            rows.append({**row, "compare": "current"} if compare else row)
            if compare:
                before = period - dt.timedelta(days=7 * len(periods))
                rows.append({**row, "compare": "previous", "previous_period": before})
    return pd.DataFrame(rows)


def encodings(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield spec.get("encoding", {})
    for layer in spec.get("layer", []):
        yield layer.get("encoding", {})


def channel(spec: dict[str, Any], name: str) -> dict[str, Any] | None:
    found = [e[name] for e in encodings(spec) if name in e]
    return found[0] if found else None


def colors(spec: dict[str, Any]) -> dict[str, str]:
    scale = channel(spec, "color")["scale"]  # type: ignore[index]
    return dict(zip(scale["domain"], scale["range"], strict=True))


def rows(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return next(iter(spec["datasets"].values()))  # type: ignore[no-any-return]


# --- the range legend --------------------------------------------------------------------------


@pytest.mark.parametrize("display", ["line", "bar", "area"])
def test_no_range_legend_when_nothing_is_compared(display: str) -> None:
    spec = trends_chart(frame(REPORTS), display, "week")
    assert spec is not None
    assert channel(spec, "strokeDash") is None and channel(spec, "opacity") is None
    legends = {
        name
        for e in encodings(spec)
        for name, c in e.items()
        if name in ("color", "strokeDash", "opacity", "shape", "size")
        and "field" in c
        and c.get("legend", {}) is not None  # a field channel has a legend unless told not to
    }
    assert legends == {"color"}  # the series, nothing about a range
    text = json.dumps({k: v for k, v in spec.items() if k != "datasets"})
    assert "current" not in text and "previous" not in text


def test_compared_the_previous_period_is_a_dashed_line_named_in_the_legend() -> None:
    spec = trends_chart(frame(REPORTS, compare=True), "line", "week")
    assert spec is not None
    dash = channel(spec, "strokeDash")
    assert dash is not None
    assert dash["scale"]["domain"] == ["current period", "previous period"]
    solid, dashed = dash["scale"]["range"]
    assert solid == [1, 0] and dashed[0] > 0 and dashed[1] > 0
    assert dash["legend"]["symbolType"] == "stroke"  # a dashed stroke, not a dot, in the legend
    # The current and the previous period of one series share its colour.
    assert colors(spec) == {REPORTS: colors(trends_chart(frame(REPORTS), "line", "week"))[REPORTS]}  # type: ignore[arg-type]


@pytest.mark.parametrize("display", ["bar", "area"])
def test_compared_bars_and_areas_fade_the_previous_period(display: str) -> None:
    spec = trends_chart(frame(REPORTS, compare=True), display, "week")
    assert spec is not None
    fade = channel(spec, "opacity")
    assert fade is not None and fade["legend"] is not None
    assert fade["scale"]["domain"] == ["current period", "previous period"]
    current, previous = fade["scale"]["range"]
    assert previous < current
    if display == "bar":  # side by side, not one bar over the other
        assert channel(spec, "xOffset")["field"] == "_bar"  # type: ignore[index]
        assert len({r["_bar"] for r in rows(spec)}) == 2
    else:  # overlapping, not stacked on each other
        assert channel(spec, "y")["stack"] is None  # type: ignore[index]


def test_a_previous_point_names_its_own_week_in_the_tooltip() -> None:
    spec = trends_chart(frame(REPORTS, compare=True), "line", "week")
    assert spec is not None
    labels = {(r["period"], r["range"]): r["_label_period"] for r in rows(spec)}
    assert labels[("2026-09-28", "current period")] == "week of Sep 28, 2026"
    assert labels[("2026-09-28", "previous period")] == "week of Aug 24, 2026"


# --- ticks on the periods ------------------------------------------------------------------------


def ticks(spec: dict[str, Any]) -> list[dt.date]:
    x = channel(spec, "x")
    assert x is not None and x["scale"]["type"] == "utc" and "timeUnit" not in x
    return [dt.date(v["year"], v["month"], v["date"]) for v in x["axis"]["values"]]


def test_weekly_ticks_fall_on_the_monday_points_in_utc() -> None:
    spec = trends_chart(frame(REPORTS), "line", "week")
    assert spec is not None
    assert ticks(spec) == WEEKS
    assert all(t.weekday() == 0 for t in ticks(spec))
    x = channel(spec, "x")
    assert all(v["utc"] for v in x["axis"]["values"])  # type: ignore[index]
    # The points are UTC days too (not timestamps a browser would read in its own zone).
    assert {r["period"] for r in rows(spec)} == {d.isoformat() for d in WEEKS}


def test_monthly_ticks_fall_on_month_starts() -> None:
    months = [dt.date(2026, m, 1) for m in range(6, 12)]
    spec = trends_chart(frame(REPORTS, periods=months), "area", "month")
    assert spec is not None
    assert ticks(spec) == months
    assert channel(spec, "x")["axis"]["format"] == "%b %Y"  # type: ignore[index]


def test_daily_ticks_are_days_of_the_data_ten_at_most_ending_on_the_last() -> None:
    days = [dt.date(2026, 10, 1) + dt.timedelta(days=i) for i in range(31)]
    spec = trends_chart(frame(REPORTS, periods=days), "line", "day")
    assert spec is not None
    shown = ticks(spec)
    assert 5 <= len(shown) <= 10 and set(shown) <= set(days) and shown[-1] == days[-1]
    gaps = {(b - a).days for a, b in itertools.pairwise(shown)}
    assert len(gaps) == 1  # evenly spaced


def test_weekly_bars_are_labelled_by_their_monday() -> None:
    spec = trends_chart(frame(REPORTS), "bar", "week")
    assert spec is not None
    x = channel(spec, "x")
    assert x is not None and x["sort"] == ["Sep 28", "Oct 5", "Oct 12", "Oct 19", "Oct 26"]


# --- the unfinished period ---------------------------------------------------------------------


def test_the_unfinished_period_is_dashed_as_on_the_other_charts() -> None:
    last = WEEKS[-1]
    spec = trends_chart(frame(REPORTS, "Invite Sent (events)"), "line", "week", unfinished={last})
    assert spec is not None
    dash = channel(spec, "strokeDash")
    assert dash is not None and dash["field"] == "part"
    assert dash["scale"]["range"] == [house.DASH["complete"], house.DASH["unfinished"]]
    pieces = [r for r in rows(spec) if r["part"] == "unfinished"]
    # a dashed piece per line, from the last complete week to the unfinished one
    assert sorted((r["line"], r["period"]) for r in pieces) == sorted(
        (line, str(day)) for line in (REPORTS, "Invite Sent (events)") for day in WEEKS[-2:]
    )
    assert channel(spec, "detail")["field"] == "_piece"  # type: ignore[index]
    assert any(t.get("title") == "period is" for t in channel(spec, "tooltip"))  # type: ignore[union-attr]


def test_an_unfinished_bar_is_faded() -> None:
    spec = trends_chart(frame(REPORTS), "bar", "week", unfinished={WEEKS[-1]})
    assert spec is not None
    opacity = channel(spec, "opacity")
    assert opacity is not None and "unfinished" in opacity["condition"]["test"]
    faded = {r["period"] for r in rows(spec) if r["part"] == "unfinished"}
    assert faded == {str(WEEKS[-1])}


def test_only_the_current_range_can_be_unfinished() -> None:
    spec = trends_chart(frame(REPORTS, compare=True), "line", "week", unfinished={WEEKS[-1]})
    assert spec is not None
    unfinished = {(r["range"], r["period"]) for r in rows(spec) if r["part"] == "unfinished"}
    assert {rng for rng, _ in unfinished} == {"current period"}
    assert channel(spec, "strokeDash")["field"] == "range"  # type: ignore[index]  # the dash says which range


# --- one colour per series -------------------------------------------------------------------


def saved_page_colors(data: pd.DataFrame, color: str) -> dict[str, str]:
    """The colours the saved insight's page gives (it draws trends with the house chart)."""
    spec = house.series_chart(data, "period", "value", color, "value", grain="week")
    assert spec is not None
    return colors(spec)


def test_a_series_has_the_same_colour_in_the_explorer_and_on_its_saved_page() -> None:
    data = frame(REPORTS)
    spec = trends_chart(data, "line", "week")
    assert spec is not None
    assert colors(spec) == saved_page_colors(data, "label")


def test_a_series_keeps_its_colour_whatever_is_drawn_beside_it() -> None:
    alone = trends_chart(frame(REPORTS), "line", "week")
    after_another = trends_chart(frame("Invite Sent (events)", REPORTS), "bar", "week")
    assert alone is not None and after_another is not None
    assert colors(after_another)[REPORTS] == colors(alone)[REPORTS]
    assert list(colors(after_another)) == ["Invite Sent (events)", REPORTS]  # legend A, B


def test_two_series_of_one_chart_never_share_a_colour() -> None:
    palette = house.Palette()
    by_color: dict[str, str] = {}
    for i in range(100):  # two names whose own colours are the same
        name = f"event {i} (events)"
        if palette.color(name) in by_color:
            first, second = by_color[palette.color(name)], name
            break
        by_color[palette.color(name)] = name
    spec = trends_chart(frame(first, second), "line", "week")
    assert spec is not None
    assert len(set(colors(spec).values())) == 2
    # ... and the saved page agrees with the explorer.
    assert colors(spec) == saved_page_colors(frame(first, second), "label")


def test_a_broken_down_series_takes_the_colours_of_its_breakdown_values() -> None:
    data = pd.concat(
        [frame(REPORTS).assign(breakdown=plan) for plan in ("free", "pro", None)],
        ignore_index=True,
    )
    workspace = house.Palette([["free", "pro", "team"]])  # the plans the workspace has
    spec = trends_chart(data, "line", "week", palette=workspace)
    assert spec is not None
    shown = colors(spec)
    assert shown[f"{REPORTS} · free"] == workspace.color("free")
    assert shown[f"{REPORTS} · pro"] == workspace.color("pro")
    saved = house.series_chart(
        data, "period", "value", "breakdown", "value", grain="week", palette=workspace
    )
    assert saved is not None
    assert list(shown.values()) == [colors(saved)[k] for k in ("free", "pro", "(none)")]


def test_known_values_keep_their_colours_and_others_move_aside() -> None:
    palette = house.Palette([["free", "pro"]])
    free = palette.color("free")
    clash = next(f"v{i}" for i in range(200) if house.Palette().color(f"v{i}") == free)
    assert palette.colors([clash, "free"])[1] == free
    assert palette.colors([clash, "free"])[0] != free
    assert palette.colors(["free", clash]) == palette.colors([clash, "free"])[::-1]


# --- the explorer page ------------------------------------------------------------------------


@pytest.mark.usefixtures("company")  # accounts on plans free and growth, with their events
def test_the_explorer_colours_plans_as_the_dashboards_do(workspace: Workspace) -> None:
    """A trend broken down by plan: each plan in the colour the workspace's dashboards and
    saved insights give it (the plans in order), not one made from its name."""
    viewer = sign_in(workspace, Role.viewer).client
    page = viewer.get(
        "/insights/trends",
        params={
            "s_event": "Report Created",
            "breakdown": "account.plan",
            "start": "2024-03-01",
            "end": "2024-03-31",
        },
    )
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'<script type="application/json" id="trends-spec">(.*?)</script>', page.text)
    assert found is not None
    shown = {name.rsplit(" · ", 1)[1]: c for name, c in colors(json.loads(found.group(1))).items()}
    plans = palette(workspace)
    assert shown == {plan: plans.color(plan) for plan in ("free", "growth")}
    assert shown["free"] != house.Palette().color("free")  # not the colour of its name
