"""A chart of a console result: Vega-Lite, chosen from the result's shape unless the person
picks the mark and the columns.

Automatic choice: the first column is the x axis; the first numeric column after it is y;
a text column with few values (at most `MAX_SERIES`) besides them colours the marks. An x of
dates or times draws a line over a time axis (annotations fall on it), any other x bars in
the query's order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from productops.analytics.sql.service import SqlResult

ChartType = Literal["auto", "line", "bar", "area", "point", "none"]
CHART_TYPES: tuple[str, ...] = ("auto", "line", "bar", "area", "point", "none")
MAX_CHART_ROWS = 5_000
MAX_SERIES = 20
ACCENT = "#1f6feb"
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?$")


@dataclass(frozen=True)
class ChartChoice:
    """What to draw: a mark and the columns on x, y and colour ("" = automatic / none)."""

    type: str = "auto"
    x: str = ""
    y: str = ""
    color: str = ""

    def as_params(self) -> dict[str, str]:
        return {"type": self.type, "x": self.x, "y": self.y, "color": self.color}

    @classmethod
    def of(cls, params: dict[str, Any] | None) -> ChartChoice:
        params = params or {}
        kind = str(params.get("type") or "auto")
        return cls(
            kind if kind in CHART_TYPES else "auto",
            str(params.get("x") or ""),
            str(params.get("y") or ""),
            str(params.get("color") or ""),
        )


def _values(result: SqlResult, i: int) -> list[Any]:
    return [row[i] for row in result.rows[:MAX_CHART_ROWS] if row[i] is not None]


def _numeric(values: list[Any]) -> bool:
    return bool(values) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )


def _temporal(values: list[Any]) -> bool:
    return bool(values) and all(isinstance(v, str) and _TIME.match(v) for v in values[:200])


def field_ref(name: str) -> str:
    """A column name as a Vega-Lite field (dots and brackets would read as nesting)."""
    return re.sub(r"([.\[\]\\])", r"\\\1", name)


@dataclass(frozen=True)
class ChartPlan:
    mark: str
    x: str
    y: str
    color: str | None
    temporal: bool


def plan_chart(result: SqlResult, choice: ChartChoice) -> ChartPlan | None:
    """Which mark and columns a chart of `result` uses, or None when it has nothing to draw
    (no rows, no numeric column, 'none' chosen, or a chosen column it does not have)."""
    if choice.type == "none" or not result.rows or len(result.columns) < 2:
        return None
    columns = list(result.columns)
    if len(set(columns)) != len(columns):
        return None  # Vega-Lite reads fields by name: repeated names are ambiguous
    index = {c: i for i, c in enumerate(columns)}
    for chosen in (choice.x, choice.y, choice.color):
        if chosen and chosen not in index:
            return None
    x = choice.x or columns[0]
    numeric = [c for c in columns if c != x and _numeric(_values(result, index[c]))]
    y = choice.y or (numeric[0] if numeric else "")
    if not y or not _numeric(_values(result, index[y])):
        return None
    color: str | None = choice.color or None
    if color is None and not choice.y:
        for c in columns:
            if c in (x, y):
                continue
            values = _values(result, index[c])
            if values and not _numeric(values) and len({str(v) for v in values}) <= MAX_SERIES:
                color = c
                break
    temporal = _temporal(_values(result, index[x]))
    mark = choice.type if choice.type != "auto" else ("line" if temporal else "bar")
    return ChartPlan(mark, x, y, color, temporal)


def result_chart(result: SqlResult, choice: ChartChoice | None = None) -> dict[str, Any] | None:
    """A Vega-Lite spec of a console result (see the module docstring), or None."""
    plan = plan_chart(result, choice or ChartChoice())
    if plan is None:
        return None
    keep = [c for c in (plan.x, plan.y, plan.color) if c]
    index = {c: i for i, c in enumerate(result.columns)}
    values = [{c: row[index[c]] for c in keep} for row in result.rows[:MAX_CHART_ROWS]]
    x: dict[str, Any] = {"field": field_ref(plan.x), "title": plan.x}
    if plan.temporal:
        x.update(type="temporal", scale={"type": "utc"}, axis={"labelOverlap": True})
    else:
        x.update(type="nominal", sort=None, axis={"labelAngle": -30, "labelLimit": 160})
    encoding: dict[str, Any] = {
        "x": x,
        "y": {"field": field_ref(plan.y), "type": "quantitative", "title": plan.y},
        "tooltip": [
            {"field": field_ref(plan.x), "type": "temporal" if plan.temporal else "nominal"},
            {"field": field_ref(plan.y), "type": "quantitative", "format": ",.4~f"},
        ],
    }
    if plan.color:
        encoding["color"] = {
            "field": field_ref(plan.color),
            "type": "nominal",
            "title": plan.color,
            "legend": {"orient": "top"},
        }
        encoding["tooltip"].append({"field": field_ref(plan.color), "type": "nominal"})
        if plan.mark == "bar" and not plan.temporal:
            encoding["xOffset"] = {"field": field_ref(plan.color), "type": "nominal"}
    mark: dict[str, Any] = {"type": plan.mark, "tooltip": True}
    if plan.mark in ("line", "area"):
        mark["point"] = len(values) <= 200
    if not plan.color:
        mark["color"] = ACCENT
    if plan.mark == "area" and plan.color:
        encoding["y"]["stack"] = True
    return {
        "data": {"values": values},
        "mark": mark,
        "encoding": encoding,
        "width": "container",
        "height": 280,
        "config": {
            "view": {"stroke": None},
            "font": "system-ui",
            "axis": {"labelFontSize": 11, "titleFontWeight": "normal"},
        },
    }
