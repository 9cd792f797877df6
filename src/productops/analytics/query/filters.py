"""Filters every analysis takes: conditions on event, person and account properties, and
cohorts the people must belong to. One model (`Filters`), applied in one place
(`filtered`), so trends, funnels, retention, stickiness, lifecycle and paths all read the same
events.

A property filter names its property as a dimension (`event.$browser`, `person.country`,
`account.plan`). An event's account is its own `account_id`, else its person's (as the metric
catalog reads it). `neq`, `not_in` and `not_contains` keep events without the property (as
PostHog does); every other comparison needs the property set.

    f = Filters(properties=[PropertyFilter(property="account.plan", op="in", value=["pro"])])
    trends(con, [Series(event="export")], start, end, filters=f)
"""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import ibis
import ibis.expr.types as ir
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from productops.analytics.query.dimensions import (
    EVENT_COLUMNS,
    Dimension,
    attribute,
)
from productops.analytics.query.tables import EventTables
from productops.core.errors import InvalidInput

if TYPE_CHECKING:
    from productops.analytics.query.cohorts import CohortSpec

FilterOp = Literal[
    "eq",
    "neq",
    "contains",
    "not_contains",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "before",
    "after",
    "is_set",
    "is_not_set",
]
FILTER_OPS: tuple[str, ...] = FilterOp.__args__  # type: ignore[attr-defined]
OP_WORDS = {
    "eq": "=",
    "neq": "≠",
    "contains": "contains",
    "not_contains": "does not contain",
    "in": "in",
    "not_in": "not in",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "before": "before",
    "after": "after",
    "is_set": "is set",
    "is_not_set": "is not set",
}
Scalar = str | int | float | bool
MAX_FILTERS = 20
MAX_VALUES = 200


class PropertyFilter(BaseModel):
    """One condition: `property` (`event.KEY`, `person.TRAIT` or `account.TRAIT`), `op` and
    `value` (a list for `in` / `not_in`, a number for `gt`…`lte`, a YYYY-MM-DD day for
    `before` / `after`, nothing for `is_set` / `is_not_set`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    property: str = Field(
        min_length=3,
        max_length=210,
        description="event.PROPERTY, person.TRAIT or account.TRAIT, e.g. account.plan",
    )
    op: FilterOp = "eq"
    value: Scalar | list[Scalar] | None = Field(
        default=None, description="text, a number, a day, or a list for in / not_in"
    )

    @field_validator("property")
    @classmethod
    def _dimension(cls, text: str) -> str:
        try:
            return str(Dimension.parse(text, "filter"))
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> PropertyFilter:
        op, value = self.op, self.value
        if op in ("is_set", "is_not_set"):
            if value not in (None, "", []):
                raise ValueError(f"op '{op}' takes no value")
        elif op in ("in", "not_in"):
            if not isinstance(value, list) or not value or len(value) > MAX_VALUES:
                raise ValueError(f"op '{op}' needs a list of 1 to {MAX_VALUES} values")
        elif op in ("gt", "gte", "lt", "lte"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                try:
                    object.__setattr__(self, "value", float(str(value)))
                except (TypeError, ValueError):
                    raise ValueError(f"op '{op}' needs a number as value") from None
        elif op in ("before", "after"):
            try:
                dt.date.fromisoformat(str(value))
            except ValueError:
                raise ValueError(f"op '{op}' needs a day (YYYY-MM-DD) as value") from None
        elif value is None or isinstance(value, list) or value == "":
            raise ValueError(f"op '{op}' needs a single value")
        return self

    @builtins.property
    def dimension(self) -> Dimension:
        return Dimension.parse(self.property, "filter")

    def describe(self) -> str:
        word = OP_WORDS[self.op]
        if self.op in ("is_set", "is_not_set"):
            return f"{self.property} {word}"
        value = self.value
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        return f"{self.property} {word} {shown}"


@dataclass(frozen=True)
class Filters:
    """What an analysis reads: events passing every property filter, of people in every
    cohort of `cohorts` and in none of `not_cohorts`."""

    properties: tuple[PropertyFilter, ...] = ()
    cohorts: tuple[CohortSpec, ...] = field(default=())
    not_cohorts: tuple[CohortSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        if len(self.properties) > MAX_FILTERS:
            raise InvalidInput(f"at most {MAX_FILTERS} property filters")

    @property
    def empty(self) -> bool:
        return not (self.properties or self.cohorts or self.not_cohorts)

    def describe(self) -> list[str]:
        out = [p.describe() for p in self.properties]
        out += [f"in cohort {c.name}" for c in self.cohorts]
        out += [f"not in cohort {c.name}" for c in self.not_cohorts]
        return out

    def key(self) -> list[Any]:
        """A JSON-ready key (for caches)."""
        return [
            [p.model_dump() for p in self.properties],
            [c.key() for c in self.cohorts],
            [c.key() for c in self.not_cohorts],
        ]


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def condition(text: ir.StringValue, flt: PropertyFilter) -> ir.BooleanValue:
    """`flt` on a property read as text (NULL when not set)."""
    op, value = flt.op, flt.value
    if op == "is_set":
        return text.notnull()
    if op == "is_not_set":
        return text.isnull()
    if op in ("gt", "gte", "lt", "lte"):
        num = text.try_cast("float64")
        lit = ibis.literal(float(value), "float64")  # type: ignore[arg-type]
        cmp = {"gt": num > lit, "gte": num >= lit, "lt": num < lit, "lte": num <= lit}[op]
        return cmp.fill_null(False)
    if op in ("before", "after"):
        day = text.substr(0, 10)
        lit = ibis.literal(str(value)[:10])
        return (day < lit if op == "before" else day > lit).fill_null(False)
    if op in ("contains", "not_contains"):
        has = text.contains(_as_text(value))
        return has.fill_null(False) if op == "contains" else ~has.fill_null(False)
    values = list(value) if isinstance(value, list) else [value]
    if all(_is_number(v) for v in values):
        subject: ir.Value = text.try_cast("float64")
        literals: list[Any] = [float(v) for v in values]  # type: ignore[arg-type]
    else:
        subject = text
        literals = [_as_text(v) for v in values]
    if op in ("eq", "in"):
        return subject.isin(literals).fill_null(False)
    return subject.isnull() | ~subject.isin(literals)


def event_value(tables: EventTables, rows: ir.Table, dim: Dimension) -> ir.StringValue:
    """An event column or property of `rows` (shaped like `events_resolved`) as text."""
    if dim.key in EVENT_COLUMNS and dim.key in rows.columns:
        return rows[dim.key].cast("string")
    return attribute(rows, dim.key, tables.dialect)


def with_profile_values(
    tables: EventTables, rows: ir.Table, dims: list[Dimension], prefix: str = "_pv"
) -> tuple[ir.Table, list[str]]:
    """`rows` (events) plus one text column per person or account dimension, named
    `{prefix}0`, `{prefix}1`…; an event's account is its own, else its person's."""
    names = [f"{prefix}{i}" for i in range(len(dims))]
    person_dims = [(n, d) for n, d in zip(names, dims, strict=True) if d.scope == "person"]
    account_dims = [(n, d) for n, d in zip(names, dims, strict=True) if d.scope == "account"]
    if not person_dims and not account_dims:
        return rows, names
    if tables.persons is None:
        raise InvalidInput(f"{dims[0]}: this event source has no persons table")
    p = tables.persons
    pid = f"{prefix}_pid"
    pacct = f"{prefix}_pacct"
    sel: dict[str, Any] = {
        pid: p.person_id.cast("string"),
        pacct: p.account_id.cast("string") if "account_id" in p.columns else ibis.null("string"),
    }
    for n, d in person_dims:
        sel[n] = attribute(p, d.key, tables.dialect)
    prof = p.select(**sel)
    j = rows.left_join(prof, rows.person_id == prof[pid]).drop(pid)
    if account_dims:
        if tables.accounts is None:
            raise InvalidInput(f"{account_dims[0][1]}: this event source has no accounts table")
        a = tables.accounts
        aid = f"{prefix}_aid"
        acct_sel: dict[str, Any] = {aid: a.account_id.cast("string")}
        for n, d in account_dims:
            acct_sel[n] = attribute(a, d.key, tables.dialect)
        avals = a.select(**acct_sel)
        acct = f"{prefix}_acct"
        j = j.mutate(**{acct: ibis.coalesce(j.account_id.cast("string"), j[pacct])})
        j = j.left_join(avals, j[acct] == avals[aid]).drop(aid, acct)
    return j.drop(pacct), names


def make_filter(prop: str, op: str, value: object) -> PropertyFilter:
    """A filter from its three parts, every mistake an InvalidInput naming it."""
    from pydantic import ValidationError

    try:
        return PropertyFilter.model_validate({"property": prop, "op": op, "value": value})
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        raise InvalidInput(f"filter {prop} {op}: {problems}") from None
