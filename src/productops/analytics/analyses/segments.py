"""Breakdowns every analysis takes, in one spelling: a dimension (`account.plan`,
`person.country`, `event.$browser`) or one or more cohorts.

Analyses that count people over time (retention, stickiness, lifecycle) break down by what a
person *is*: a person or account trait (their profile's account, else one their events
carry) or the cohorts they belong to (a person in two cohorts counts in both). Trends break
events down, so an event property works there too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from productops.analytics.query.cohorts import CohortSpec
from productops.analytics.query.cohorts import segments as cohort_segments
from productops.analytics.query.dimensions import Dimension, attribute
from productops.analytics.query.dimensions import label as _label
from productops.analytics.query.tables import EventTables
from productops.core.errors import InvalidInput

OTHER_LABEL = "(other)"
MAX_BREAKDOWN_VALUES = 50


@dataclass(frozen=True)
class Breakdown:
    """A dimension, or cohorts; `limit` keeps the top N values (by the first series) and
    folds the rest into `(other)` where an analysis has many values (trends)."""

    dimension: Dimension | None = None
    cohorts: tuple[CohortSpec, ...] = ()
    limit: int = 10

    def __post_init__(self) -> None:
        if (self.dimension is None) == (not self.cohorts):
            raise InvalidInput("a breakdown is a dimension or cohorts, not both")
        if not 1 <= self.limit <= MAX_BREAKDOWN_VALUES:
            raise InvalidInput(f"breakdown limit {self.limit}: choose 1 to {MAX_BREAKDOWN_VALUES}")

    def __str__(self) -> str:
        if self.dimension is not None:
            return str(self.dimension)
        return "cohort:" + ",".join(c.name for c in self.cohorts)

    def key(self) -> list[object]:
        return [str(self.dimension), [c.key() for c in self.cohorts], self.limit]


def as_breakdown(value: str | Breakdown | None, what: str = "breakdown") -> Breakdown | None:
    if value is None or value == "":
        return None
    if isinstance(value, Breakdown):
        return value
    return Breakdown(dimension=Dimension.parse(value, what))


def person_breakdown(value: str | Breakdown | None, what: str) -> Breakdown | None:
    """A breakdown for analyses of people: a person or account trait, or cohorts."""
    b = as_breakdown(value)
    if b is not None and b.dimension is not None and b.dimension.scope == "event":
        raise InvalidInput(
            f"{what} breaks down by what a person is: a person.TRAIT, an account.TRAIT or "
            f"cohorts, not the event property {b.dimension}"
        )
    return b


def person_segments(
    tables: EventTables, breakdown: Breakdown, as_of: dt.date, events: ir.Table | None = None
) -> ir.Table:
    """(person_id, segment) for every person of `events` (default: all events): a person's
    trait value (NONE_LABEL without one), or one row per cohort they are in."""
    if breakdown.cohorts:
        return cohort_segments(tables, list(breakdown.cohorts), as_of)
    dim = breakdown.dimension
    assert dim is not None
    ev = events if events is not None else tables.events
    people = ev.group_by("person_id").aggregate(_eacct=ev.account_id.cast("string").max())
    if tables.persons is None:
        raise InvalidInput(f"breakdown {dim}: this event source has no persons table")
    p = tables.persons
    none = ibis.null("string")
    prof = p.select(
        _pid=p.person_id.cast("string"),
        _pacct=p.account_id.cast("string") if "account_id" in p.columns else none,
        _pval=attribute(p, dim.key, tables.dialect) if dim.scope == "person" else none,
    )
    j = people.left_join(prof, people.person_id == prof._pid)
    if dim.scope == "person":
        return j.select(person_id=j.person_id, segment=_label(j._pval))
    if tables.accounts is None:
        raise InvalidInput(f"breakdown {dim}: this event source has no accounts table")
    a = tables.accounts
    vals = a.select(_aid=a.account_id.cast("string"), _aval=attribute(a, dim.key, tables.dialect))
    j = j.mutate(_acct=j._pacct.fill_null(j._eacct))
    k = j.left_join(vals, j._acct == vals._aid)
    return k.select(person_id=k.person_id, segment=_label(k._aval))
