"""What the pages and the API send, read into the analyses' own terms: filters written as
text (`account.plan:in:pro,enterprise`), cohort ids, breakdowns and date presets.

A filter as text is `PROPERTY:OP[:VALUE]`: `event.$browser:eq:Chrome`,
`person.country:is_set`, `event.amount:gte:20`, `account.plan:in:pro,enterprise` (a list
for in / not_in), `person.signed_up:before:2024-03-01`. The same text goes in a page's
address and in the API's `filter` parameter, so a link shares the exact question.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from sqlalchemy.orm import Session

from productops.analytics.analyses.segments import Breakdown, as_breakdown
from productops.analytics.cohorts import service as cohorts
from productops.analytics.query.filters import FILTER_OPS, Filters, PropertyFilter, make_filter
from productops.core.errors import InvalidInput

DatePreset = Literal["7d", "30d", "90d", "mtd", "custom"]
DATE_PRESETS: dict[str, str] = {
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "mtd": "Month to date",
    "custom": "Custom range",
}
_FILTER = re.compile(r"^(?P<prop>.+?):(?P<op>" + "|".join(FILTER_OPS) + r")(?::(?P<value>.*))?$")


def parse_filter(text: str) -> PropertyFilter:
    """`account.plan:in:pro,enterprise` → PropertyFilter (see the module docstring)."""
    m = _FILTER.match(text.strip())
    if not m:
        raise InvalidInput(
            f"filter {text[:80]!r}: write PROPERTY:OP[:VALUE], e.g. account.plan:eq:pro "
            f"(ops: {', '.join(FILTER_OPS)})"
        )
    op, value = m["op"], m["value"]
    parsed: object = value
    if op in ("in", "not_in"):
        parsed = [v.strip() for v in (value or "").split(",") if v.strip()]
    elif op in ("is_set", "is_not_set"):
        parsed = None
    return make_filter(m["prop"], op, parsed)


def filter_text(flt: PropertyFilter) -> str:
    """The text form of a filter (what `parse_filter` reads)."""
    if flt.op in ("is_set", "is_not_set"):
        return f"{flt.property}:{flt.op}"
    value = flt.value
    shown = ",".join(map(str, value)) if isinstance(value, list) else str(value)
    return f"{flt.property}:{flt.op}:{shown}"


def form_filters(props: list[str], ops: list[str], values: list[str]) -> list[PropertyFilter]:
    """Filters from a page's rows (a property box, an op menu and a value box each); rows
    without a property are left out."""
    out = []
    for i, prop in enumerate(props):
        prop = prop.strip()
        if not prop:
            continue
        op = ops[i] if i < len(ops) else "eq"
        value = values[i].strip() if i < len(values) else ""
        out.append(parse_filter(f"{prop}:{op}:{value}" if value else f"{prop}:{op}"))
    return out


def filters_of(
    session: Session,
    texts: list[str] | None = None,
    cohort_ids: list[int] | None = None,
    not_cohort_ids: list[int] | None = None,
    as_of: dt.date | None = None,
    parsed: list[PropertyFilter] | None = None,
) -> Filters:
    """The filters of a request: property filters (as text or parsed) and cohorts by id."""
    props = [parse_filter(t) for t in texts or [] if t.strip()] + list(parsed or [])
    return Filters(
        properties=tuple(props),
        cohorts=tuple(cohorts.specs(session, list(cohort_ids or []), as_of)),
        not_cohorts=tuple(cohorts.specs(session, list(not_cohort_ids or []), as_of)),
    )


def breakdown_of(
    session: Session,
    breakdown: str | None,
    cohort_ids: list[int] | None = None,
    as_of: dt.date | None = None,
    limit: int = 10,
) -> Breakdown | None:
    """A breakdown by a dimension (`account.plan`) or by cohorts (ids), not both."""
    ids = list(cohort_ids or [])
    if breakdown and ids:
        raise InvalidInput("break down by a dimension or by cohorts, not both")
    if ids:
        return Breakdown(cohorts=tuple(cohorts.specs(session, ids, as_of)), limit=limit)
    b = as_breakdown(breakdown or None)
    if b is None:
        return None
    return Breakdown(dimension=b.dimension, limit=limit)


def date_range(
    preset: str | None, start: dt.date | None, end: dt.date | None, newest: dt.date
) -> tuple[dt.date, dt.date]:
    """The range of a preset, ending on the newest data (`newest`) unless `end` is given;
    `custom` (or explicit days) takes `start` and `end`."""
    end = end or newest
    if preset in (None, "", "custom"):
        return start or end - dt.timedelta(days=29), end
    if preset == "mtd":
        return end.replace(day=1), end
    days = {"7d": 7, "30d": 30, "90d": 90}.get(preset)
    if days is None:
        raise InvalidInput(f"date range {preset!r}: use {', '.join(DATE_PRESETS)}")
    return end - dt.timedelta(days=days - 1), end
