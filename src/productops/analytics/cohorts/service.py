"""Saved cohorts: create, change, list and delete them; upload a static list; resolve one
for the query layer (`spec`); draw its size over time; list its people.

A *dynamic* cohort stores rules (`query.cohorts.CohortDefinition`) and is recomputed from the
events whenever it is used; a *static* cohort stores its people (`cohort_members`), from an
uploaded CSV or from an analysis (the people who dropped at a funnel step).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.analytics.cohorts.models import Cohort, CohortMember
from productops.analytics.query.cohorts import (
    MAX_STATIC,
    CohortDefinition,
    CohortSpec,
    members,
    size_over_time,
)
from productops.analytics.query.grains import Grain, check_grain, period_end, period_of
from productops.analytics.query.source import default_end, event_source
from productops.analytics.query.tables import event_tables
from productops.core import audit
from productops.core.csvfile import CsvError, read_csv
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.workspace import Workspace

MAX_PERSON_ID = 200
MAX_SIZE_POINTS = 60


class CohortError(InvalidInput):
    """A cohort cannot be saved as given (the message names the problem)."""


def _clean_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise CohortError("a cohort needs a name of 1 to 200 characters")
    return name


def parse_definition(data: Any) -> CohortDefinition:
    """A definition from JSON-like data, every mistake named."""
    if isinstance(data, CohortDefinition):
        return data
    try:
        return CohortDefinition.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'definition'}: {e['msg']}"
            for e in exc.errors()
        )
        raise CohortError(f"the cohort's rules are not valid: {problems}") from None


def _clean_people(people: list[str]) -> list[str]:
    out = sorted({p.strip() for p in people if p and p.strip()})
    if len(out) > MAX_STATIC:
        raise CohortError(f"a static cohort holds at most {MAX_STATIC:,} people")
    for p in out:
        if len(p) > MAX_PERSON_ID or any(ord(c) < 32 for c in p):
            raise CohortError(f"person id {p[:40]!r}: 1 to {MAX_PERSON_ID} printable characters")
    return out


def _flush(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a cohort named '{name}' already exists") from exc


def _write_members(session: Session, cohort_id: int, people: list[str]) -> None:
    session.execute(delete(CohortMember).where(CohortMember.cohort_id == cohort_id))
    for i in range(0, len(people), 5000):
        chunk = people[i : i + 5000]
        if chunk:
            session.execute(
                insert(CohortMember), [{"cohort_id": cohort_id, "person_id": p} for p in chunk]
            )


def create_cohort(
    session: Session,
    name: str,
    *,
    description: str = "",
    definition: CohortDefinition | dict[str, Any] | None = None,
    people: list[str] | None = None,
    actor: str,
) -> Cohort:
    """A new cohort: dynamic with `definition`, or static with `people` (person ids)."""
    name = _clean_name(name)
    if (definition is None) == (people is None):
        raise CohortError("a cohort has either rules (dynamic) or a list of people (static)")
    row = Cohort(
        name=name,
        description=description.strip()[:5000],
        kind="dynamic" if definition is not None else "static",
        definition=parse_definition(definition).model_dump(mode="json") if definition else {},
        created_by=actor,
    )
    session.add(row)
    _flush(session, name)
    if people is not None:
        clean = _clean_people(people)
        _write_members(session, row.id, clean)
    audit.record(
        session, actor, "cohort.create", "cohort", row.id, {"name": name, "kind": row.kind}
    )
    return row


def update_cohort(
    session: Session,
    cohort_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    definition: CohortDefinition | dict[str, Any] | None = None,
    people: list[str] | None = None,
    actor: str,
) -> Cohort:
    """Change a cohort's name, description, rules (dynamic) or people (static)."""
    row = get_cohort(session, cohort_id)
    if name is not None:
        row.name = _clean_name(name)
    if description is not None:
        row.description = description.strip()[:5000]
    if definition is not None:
        if row.kind != "dynamic":
            raise CohortError("a static cohort has people, not rules")
        row.definition = parse_definition(definition).model_dump(mode="json")
    if people is not None:
        if row.kind != "static":
            raise CohortError("a dynamic cohort has rules, not a list of people")
        _write_members(session, row.id, _clean_people(people))
    _flush(session, row.name)
    audit.record(session, actor, "cohort.update", "cohort", row.id, {"name": row.name})
    return row


def get_cohort(session: Session, cohort_id: int) -> Cohort:
    row = session.get(Cohort, cohort_id)
    if row is None:
        raise NotFound(f"no cohort {cohort_id}")
    return row


def list_cohorts(session: Session) -> list[Cohort]:
    return list(session.scalars(select(Cohort).order_by(Cohort.name)).all())


def delete_cohort(session: Session, cohort_id: int, actor: str) -> None:
    row = get_cohort(session, cohort_id)
    session.execute(delete(CohortMember).where(CohortMember.cohort_id == cohort_id))
    session.delete(row)
    audit.record(session, actor, "cohort.delete", "cohort", cohort_id, {"name": row.name})


def static_size(session: Session, cohort_id: int) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(CohortMember)
            .where(CohortMember.cohort_id == cohort_id)
        )
        or 0
    )


def people_from_csv(source: Path | bytes, name: str = "upload.csv") -> list[str]:
    """Person ids from a CSV with a `person_id` (or `user_id`, or `id`) column."""
    try:
        rows = list(read_csv(source, name=name))
    except CsvError as exc:
        raise CohortError(str(exc)) from None
    if not rows:
        raise CohortError(f"{name}: no rows")
    found = None
    for column in ("person_id", "user_id", "id"):
        if rows[0].get(column) is not None:
            found = column
            break
    if found is None:
        raise CohortError(f"{name}: name the people in a person_id (or user_id, or id) column")
    people = []
    for i, row in enumerate(rows, 2):
        value = (row.get(found) or "").strip()
        if not value:
            raise CohortError(f"{name}: row {i}, column '{found}' is empty")
        people.append(value)
    return people


def spec(session: Session, cohort_id: int, as_of: dt.date | None = None) -> CohortSpec:
    """The cohort as the query layer takes it (a static cohort's people read now)."""
    row = get_cohort(session, cohort_id)
    return spec_of(session, row, as_of)


def spec_of(session: Session, row: Cohort, as_of: dt.date | None = None) -> CohortSpec:
    if row.kind == "static":
        people = session.scalars(
            select(CohortMember.person_id).where(CohortMember.cohort_id == row.id)
        ).all()
        return CohortSpec(row.name, people=tuple(people), id=row.id)
    return CohortSpec(row.name, definition=parse_definition(row.definition), as_of=as_of, id=row.id)


def specs(session: Session, ids: list[int], as_of: dt.date | None = None) -> list[CohortSpec]:
    """Several cohorts, in the order asked, each once."""
    seen: list[int] = []
    for i in ids:
        if i not in seen:
            seen.append(i)
    return [spec(session, i, as_of) for i in seen]


@dataclass(frozen=True)
class CohortSize:
    """A cohort's size on each day of a series, and the SQL that counted it."""

    data: pd.DataFrame
    sql: str


def size_days(start: dt.date, end: dt.date, grain: Grain) -> list[dt.date]:
    """The days a size is taken on: the last day of each period (the end for the last)."""
    g = check_grain(grain)
    days = []
    day = period_of(start, g)
    while day <= end:
        days.append(min(period_end(day, g), end))
        day = period_end(day, g) + dt.timedelta(days=1)
    if len(days) > MAX_SIZE_POINTS:
        raise CohortError(f"at most {MAX_SIZE_POINTS} points: choose a coarser grain")
    return days


def cohort_sizes(
    ws: Workspace,
    cohort: CohortSpec,
    start: dt.date | None = None,
    end: dt.date | None = None,
    grain: Grain = "week",
) -> CohortSize:
    """How many people the cohort held at the end of each day, week or month."""
    import ibis

    end = end or default_end(ws)
    start = start or end - dt.timedelta(weeks=12)
    days = size_days(start, end, grain)
    with event_source(ws) as con:
        tables = event_tables(con)
        counts, expr = size_over_time(tables, cohort, days)
        sql = str(ibis.to_sql(expr, dialect=tables.dialect))
    return CohortSize(pd.DataFrame(counts, columns=["day", "people"]), sql)


def cohort_people(
    ws: Workspace, cohort: CohortSpec, as_of: dt.date | None = None, limit: int = 1000
) -> tuple[list[str], int]:
    """The cohort's people on `as_of` (the first `limit`, sorted) and how many there are."""
    as_of = as_of or default_end(ws)
    with event_source(ws) as con:
        tables = event_tables(con)
        m = members(tables, cohort, as_of=as_of if cohort.definition is not None else None)
        total = int(m.count().execute())
        people = [str(p) for p in m.order_by("person_id").limit(limit).execute()["person_id"]]
    return people, total
