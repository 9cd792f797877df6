"""Cohorts as the query layer sees them: a definition (rules over events and traits) or a
fixed list of people, turned into an Ibis table of `person_id` on any backend.

Rules (a cohort matches `all` or `any` of them):
- `did`: did EVENT at least N times in the D days up to the day the cohort is taken;
- `did_not`: was seen (any event) by then, but did not do EVENT in those D days;
- `first_did`: did EVENT for the first time ever between two days;
- `property`: a person or account trait condition (a `PropertyFilter`).

A dynamic cohort is taken on a day (`as_of`, default: the newest data): the same definition
gives the members of any day, which is how its size over time is drawn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, model_validator

from productops.analytics.query.activity import check_event_name
from productops.analytics.query.filters import PropertyFilter, condition, with_profile_values
from productops.analytics.query.tables import EventTables
from productops.core.errors import InvalidInput

RuleType = Literal["did", "did_not", "first_did", "property"]
MAX_RULES = 10
MAX_STATIC = 1_000_000


class CohortRule(BaseModel):
    """One condition a member meets (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: RuleType
    event: str | None = Field(default=None, max_length=200)
    at_least: int = Field(default=1, ge=1, le=100_000, description="did: at least N times")
    days: int = Field(default=30, ge=1, le=3660, description="did / did_not: in the last D days")
    start: dt.date | None = Field(default=None, description="first_did: from this day")
    end: dt.date | None = Field(default=None, description="first_did: to this day (included)")
    filter: PropertyFilter | None = Field(default=None, description="property: the condition")

    @model_validator(mode="after")
    def _consistent(self) -> CohortRule:
        if self.type == "property":
            if self.filter is None:
                raise ValueError("a property rule needs a filter")
            if self.filter.dimension.scope == "event":
                raise ValueError("a property rule is on a person.TRAIT or an account.TRAIT")
            return self
        if not self.event:
            raise ValueError(f"a '{self.type}' rule names an event")
        try:
            check_event_name(self.event, "cohort rule event")
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None
        if self.type == "first_did":
            if self.start is None or self.end is None:
                raise ValueError("a first_did rule needs a start and an end day")
            if self.start > self.end:
                raise ValueError("the rule's start day is after its end day")
        return self

    def describe(self) -> str:
        if self.type == "property":
            assert self.filter is not None
            return self.filter.describe()
        if self.type == "did":
            times = "" if self.at_least == 1 else f" at least {self.at_least} times"
            return f"did {self.event}{times} in the last {self.days} days"
        if self.type == "did_not":
            return f"did not do {self.event} in the last {self.days} days"
        return f"first did {self.event} between {self.start} and {self.end}"


class CohortDefinition(BaseModel):
    """The rules of a dynamic cohort."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    match: Literal["all", "any"] = "all"
    rules: list[CohortRule] = Field(min_length=1, max_length=MAX_RULES)

    def describe(self) -> str:
        joiner = " and " if self.match == "all" else " or "
        return joiner.join(r.describe() for r in self.rules)

    def events(self) -> list[str]:
        return [r.event for r in self.rules if r.event]


@dataclass(frozen=True)
class CohortSpec:
    """A cohort ready to query: dynamic (`definition`) or static (`people`)."""

    name: str
    definition: CohortDefinition | None = None
    people: tuple[str, ...] | None = None
    as_of: dt.date | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        if (self.definition is None) == (self.people is None):
            raise InvalidInput("a cohort has either rules or a list of people")

    def key(self) -> Any:
        if self.definition is not None:
            return [self.name, self.definition.model_dump(mode="json"), str(self.as_of)]
        import hashlib

        digest = hashlib.sha256("\n".join(sorted(self.people or ())).encode()).hexdigest()
        return [self.name, digest]


def _day_start(day: dt.date) -> ir.TimestampScalar:
    return ibis.literal(dt.datetime.combine(day, dt.time()), "timestamp")


def _rule_people(tables: EventTables, rule: CohortRule, as_of: dt.date) -> ir.Table:
    ev = tables.events
    hi = as_of + dt.timedelta(days=1)
    if rule.type == "property":
        assert rule.filter is not None
        return _property_people(tables, rule.filter)
    if rule.type == "first_did":
        assert rule.start and rule.end
        rows = ev.filter(ev.event == rule.event, ev.ts < _day_start(hi))
        first = rows.group_by("person_id").aggregate(first=rows.ts.min())
        last = min(rule.end, as_of) + dt.timedelta(days=1)
        return first.filter(
            first.first >= _day_start(rule.start), first.first < _day_start(last)
        ).select("person_id")
    lo = hi - dt.timedelta(days=rule.days)
    rows = ev.filter(ev.event == rule.event, ev.ts >= _day_start(lo), ev.ts < _day_start(hi))
    if rule.type == "did":
        counted = rows.group_by("person_id").aggregate(n=rows.count())
        return counted.filter(counted.n >= rule.at_least).select("person_id")
    did = rows.select("person_id").distinct()
    seen = ev.filter(ev.ts < _day_start(hi)).select("person_id").distinct()
    return seen.anti_join(did, seen.person_id == did.person_id).select("person_id")


def _property_people(tables: EventTables, flt: PropertyFilter) -> ir.Table:
    """People whose trait (or whose account's trait) passes `flt`: people with a profile,
    and people only seen in events (whose account is the one their events carry)."""
    if tables.persons is None:
        raise InvalidInput(f"{flt.property}: this event source has no persons table")
    p = tables.persons
    ev = tables.events
    # each person once: their profile (if any) and an account their events carry
    people = ev.group_by("person_id").aggregate(account_id=ev.account_id.cast("string").max())
    profiled = p.select(
        person_id=p.person_id.cast("string"), account_id=ibis.null("string")
    ).anti_join(people, p.person_id.cast("string") == people.person_id)
    everyone = ibis.union(
        people.select(person_id=people.person_id.cast("string"), account_id=people.account_id),
        profiled,
        distinct=False,
    )
    rows, names = with_profile_values(tables, everyone, [flt.dimension], "_cp")
    return rows.filter(condition(rows[names[0]], flt)).select("person_id")


def members(tables: EventTables, cohort: CohortSpec, as_of: dt.date | None = None) -> ir.Table:
    """The cohort's people as a one-column table (`person_id`, each once)."""
    if cohort.people is not None:
        ids = sorted(set(cohort.people))
        if len(ids) > MAX_STATIC:
            raise InvalidInput(f"a static cohort holds at most {MAX_STATIC:,} people")
        return ibis.memtable({"person_id": ids}, schema={"person_id": "string"})
    assert cohort.definition is not None
    day = as_of or cohort.as_of
    if day is None:
        raise InvalidInput(f"cohort {cohort.name}: on which day is it taken?")
    parts = [_rule_people(tables, r, day) for r in cohort.definition.rules]
    parts = [p.select(person_id=p.person_id.cast("string")) for p in parts]
    if cohort.definition.match == "any":
        return ibis.union(*parts, distinct=True)
    out = parts[0].distinct()
    for p in parts[1:]:
        out = out.semi_join(p, out.person_id == p.person_id)
    return out


def size_over_time(
    tables: EventTables, cohort: CohortSpec, days: list[dt.date]
) -> tuple[list[tuple[dt.date, int]], ir.Table]:
    """How many people the cohort held on each of `days` (one query)."""
    if not days:
        raise InvalidInput("name at least one day")
    parts = []
    for day in days:
        m = members(tables, cohort, as_of=day)
        parts.append(m.aggregate(day=ibis.literal(day, "date"), people=m.count().cast("int64")))
    expr = ibis.union(*parts, distinct=False).order_by("day")
    frame = expr.execute()
    got = {_as_date(d): int(n) for d, n in zip(frame["day"], frame["people"], strict=True)}
    return [(d, got.get(d, 0)) for d in days], expr


def _as_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    import pandas as pd

    day: dt.date = pd.Timestamp(value).date()
    return day


def segments(tables: EventTables, cohorts: list[CohortSpec], as_of: dt.date) -> ir.Table:
    """(person_id, segment) for a breakdown by cohorts: one row per cohort a person is in
    (a person in two cohorts counts in both, as in PostHog)."""
    if not cohorts:
        raise InvalidInput("a cohort breakdown names at least one cohort")
    names = [c.name for c in cohorts]
    if len(set(names)) != len(names):
        raise InvalidInput("a cohort is named twice in the breakdown")
    parts = []
    for c in cohorts:
        m = members(tables, c, as_of=as_of if c.definition is not None else None)
        parts.append(m.select(person_id=m.person_id, segment=ibis.literal(c.name, "string")))
    return ibis.union(*parts, distinct=False)
