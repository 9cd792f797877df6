"""Accounts and people: the record every pillar links to.

The app database is the one source of truth for accounts and people. Changing one here
stamps its `updated_at`; `version()` moves with every change, which is how other pillars
(the event store's account and person dimensions) know to follow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.csvfile import CsvError, CsvRow, read_csv
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.customers.models import Account, Person
from productops.customers.schemas import AccountCreate, AccountUpdate, PersonCreate

ACCOUNT_SORTS: dict[str, Any] = {
    "arr": Account.arr.desc(),
    "name": Account.name.asc(),
    "newest": Account.created_at.desc(),
}
SEGMENT_COLUMNS = ("plan", "segment", "region")


@dataclass(frozen=True)
class CustomerSummary:
    accounts: int
    people: int
    total_arr: float


@dataclass(frozen=True)
class ImportResult:
    """What an import did: rows read, records created, changed and already up to date."""

    file: str
    rows: int
    created: int
    updated: int
    unchanged: int


def summary(session: Session) -> CustomerSummary:
    """How many accounts and people there are, and their total ARR."""
    accounts, arr = session.execute(
        select(func.count(Account.id), func.coalesce(func.sum(Account.arr), 0))
    ).one()
    people = session.scalar(select(func.count(Person.id))) or 0
    return CustomerSummary(accounts=accounts, people=people, total_arr=float(arr))


def version(session: Session) -> tuple[Any, ...]:
    """A value that changes whenever an account or a person is added, changed or removed."""
    accounts = session.execute(select(func.count(Account.id), func.max(Account.updated_at))).one()
    people = session.execute(select(func.count(Person.id), func.max(Person.updated_at))).one()
    return (*accounts, *people)


# --- accounts ------------------------------------------------------------------------------


def list_accounts(
    session: Session,
    *,
    q: str | None = None,
    plan: str | None = None,
    segment: str | None = None,
    region: str | None = None,
    sort: str = "arr",
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[Account], int]:
    """Accounts matching the filters, largest ARR first by default, with the total."""
    query = select(Account)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(Account.name.ilike(like), Account.domain.ilike(like), Account.external_id == q)
        )
    if plan:
        query = query.where(Account.plan == plan)
    if segment:
        query = query.where(Account.segment == segment)
    if region:
        query = query.where(Account.region == region)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = ACCOUNT_SORTS.get(sort, ACCOUNT_SORTS["arr"])
    query = query.order_by(order, Account.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query).all()), total


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


def account_by_external_id(session: Session, external_id: str) -> Account:
    account = session.scalar(select(Account).where(Account.external_id == external_id))
    if account is None:
        raise NotFound(f"no account with external id '{external_id}'")
    return account


def create_account(session: Session, data: AccountCreate, actor: str) -> Account:
    """Add an account; its external id must be new."""
    account = Account(**data.model_dump())
    session.add(account)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"an account with external id '{data.external_id}' exists") from exc
    audit.record(session, actor, "account.create", "account", account.id, {"name": account.name})
    return account


def update_account(session: Session, account_id: int, data: AccountUpdate, actor: str) -> Account:
    """Change the fields sent (traits are merged; a null trait is removed). Audited with the
    old and new values."""
    account = get_account(session, account_id)
    changes = _apply(account, data.model_dump(exclude_unset=True))
    if changes:
        session.flush()
        audit.record(session, actor, "account.update", "account", account.id, changes)
    return account


def _apply(account: Account, fields: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    traits = fields.pop("traits", None)
    for key, value in fields.items():
        if key in ("name", "plan", "segment", "region") and value is None:
            raise InvalidInput(f"'{key}' cannot be emptied with null")
        if getattr(account, key) != value:
            changes[key] = {"from": getattr(account, key), "to": value}
            setattr(account, key, value)
    if traits is not None:
        merged = dict(account.traits or {})
        for key, value in traits.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != account.traits:
            changes["traits"] = {"from": account.traits, "to": merged}
            account.traits = merged
    return changes


def people_of(session: Session, account_id: int, limit: int = 200) -> list[Person]:
    q = select(Person).where(Person.account_id == account_id).order_by(Person.id).limit(limit)
    return list(session.scalars(q).all())


def count_people(session: Session, account_id: int) -> int:
    return session.scalar(select(func.count(Person.id)).where(Person.account_id == account_id)) or 0


def arr_by(session: Session, column: str) -> list[tuple[str, int, float]]:
    """(value, accounts, ARR) grouped by `plan`, `segment` or `region`."""
    col = _segment_column(column)
    rows = session.execute(
        select(col, func.count(Account.id), func.sum(Account.arr))
        .group_by(col)
        .order_by(func.sum(Account.arr).desc())
    ).all()
    return [(str(v), int(n), float(a or 0)) for v, n, a in rows]


def distinct_values(session: Session, column: str) -> list[str]:
    """The values of `plan`, `segment` or `region` in use, sorted."""
    col = _segment_column(column)
    return [str(v) for v in session.scalars(select(col).distinct().order_by(col)).all()]


def _segment_column(column: str) -> Any:
    if column not in SEGMENT_COLUMNS:
        raise InvalidInput(f"'{column}' is not one of {', '.join(SEGMENT_COLUMNS)}")
    return getattr(Account, column)


# --- people --------------------------------------------------------------------------------


def get_person(session: Session, person_id: int) -> Person:
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound(f"no person {person_id}")
    return person


def create_person(session: Session, data: PersonCreate, actor: str) -> Person:
    """Add a person (in an account, given by its external id); the external id must be new."""
    account_id = None
    if data.account_external_id:
        account_id = account_by_external_id(session, data.account_external_id).id
    person = Person(
        external_id=data.external_id,
        account_id=account_id,
        email=_email(data.email),
        name=data.name,
        traits=data.traits,
    )
    session.add(person)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a person with external id '{data.external_id}' exists") from exc
    audit.record(session, actor, "person.create", "person", person.id)
    return person


def delete_person(session: Session, person_id: int) -> None:
    """Remove a person's record (the research pillar's erasure calls this, after removing
    what other pillars hold on them; the caller records the audit entry, which must not
    name them). Their account stays."""
    person = get_person(session, person_id)
    session.delete(person)
    session.flush()


def _email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if "@" not in value or value.startswith("@") or value.endswith("@") or len(value) > 320:
        raise InvalidInput(f"'{value[:60]}' is not an email address")
    return value.lower()


# --- imports -------------------------------------------------------------------------------

ACCOUNT_COLUMNS = ("external_id", "name", "domain", "plan", "segment", "region", "arr")
PERSON_COLUMNS = ("external_id", "account_external_id", "email", "name")


def _traits_of(row: CsvRow, known: tuple[str, ...]) -> dict[str, Any]:
    """Columns named `trait.x` (or any column productops does not know) become traits."""
    traits: dict[str, Any] = {}
    for key, value in row.values.items():
        if key in known or not value.strip():
            continue
        traits[key.removeprefix("trait.")] = value.strip()
    return traits


def _account_row(row: CsvRow, file: str) -> dict[str, Any]:
    external_id = row.get("external_id").strip()
    if not external_id:
        raise CsvError(file, "is empty", row=row.number, column="external_id")
    raw_arr = row.get("arr").strip().replace(",", "").removeprefix("$")
    try:
        arr = float(raw_arr) if raw_arr else 0.0
    except ValueError:
        raise CsvError(
            file, f"'{raw_arr[:40]}' is not a number", row=row.number, column="arr"
        ) from None
    if not 0 <= arr <= 1e12 or arr != arr:
        raise CsvError(file, f"{raw_arr[:40]} is out of range", row=row.number, column="arr")
    fields: dict[str, Any] = {
        "external_id": external_id,
        "name": row.get("name").strip() or external_id,
        "domain": row.get("domain").strip() or None,
        "plan": row.get("plan").strip(),
        "segment": row.get("segment").strip(),
        "region": row.get("region").strip(),
        "arr": arr,
        "traits": _traits_of(row, ACCOUNT_COLUMNS),
    }
    try:
        return AccountCreate(**fields).model_dump()
    except ValueError as exc:
        column = _first_field(exc)
        raise CsvError(file, _first_message(exc), row=row.number, column=column) from None


def _first_field(exc: Exception) -> str | None:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return ".".join(str(p) for p in first.get("loc", ())) or None
    return None


def _first_message(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return str(errors()[0].get("msg", exc))
    return str(exc)


def import_accounts(
    session: Session, source: Path | bytes, actor: str, name: str | None = None
) -> ImportResult:
    """Create or update accounts from a CSV (columns external_id, name, domain, plan, segment,
    region, arr; other columns become traits). All or nothing: a bad row stops the import
    with its row and column named. Importing the same file again changes nothing."""
    file = name or (source.name if isinstance(source, Path) else "accounts.csv")
    rows = [_account_row(r, file) for r in read_csv(source, name=file, required=("external_id",))]
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r["external_id"] in seen:
            raise CsvError(file, f"external id '{r['external_id']}' is also in an earlier row")
        seen[r["external_id"]] = i
    existing = {
        a.external_id: a
        for a in session.scalars(select(Account).where(Account.external_id.in_(list(seen))))
    }
    created = updated = unchanged = 0
    for fields in rows:
        account = existing.get(fields["external_id"])
        if account is None:
            session.add(Account(**fields))
            created += 1
            continue
        changes = _apply(account, {k: v for k, v in fields.items() if k != "external_id"})
        if changes:
            updated += 1
        else:
            unchanged += 1
    session.flush()
    audit.record(
        session,
        actor,
        "account.import",
        "account",
        None,
        {"file": file, "created": created, "updated": updated},
    )
    return ImportResult(file, len(rows), created, updated, unchanged)


def import_people(
    session: Session, source: Path | bytes, actor: str, name: str | None = None
) -> ImportResult:
    """Create or update people from a CSV (columns external_id, account_external_id, email,
    name; other columns become traits). All or nothing, idempotent."""
    file = name or (source.name if isinstance(source, Path) else "people.csv")
    parsed: list[tuple[int, dict[str, Any], str]] = []
    for row in read_csv(source, name=file, required=("external_id",)):
        external_id = row.get("external_id").strip()
        if not external_id:
            raise CsvError(file, "is empty", row=row.number, column="external_id")
        try:
            email = _email(row.get("email"))
        except InvalidInput as exc:
            raise CsvError(file, str(exc), row=row.number, column="email") from None
        fields: dict[str, Any] = {
            "external_id": external_id,
            "email": email,
            "name": row.get("name").strip() or None,
            "traits": _traits_of(row, PERSON_COLUMNS),
        }
        parsed.append((row.number, fields, row.get("account_external_id").strip()))
    accounts = {
        a.external_id: a.id
        for a in session.scalars(
            select(Account).where(Account.external_id.in_({a for _, _, a in parsed if a}))
        )
    }
    existing = {
        p.external_id: p
        for p in session.scalars(
            select(Person).where(Person.external_id.in_([f["external_id"] for _, f, _ in parsed]))
        )
    }
    created = updated = unchanged = 0
    seen: set[str] = set()
    for number, fields, account_ref in parsed:
        if fields["external_id"] in seen:
            raise CsvError(file, "this external id is also in an earlier row", row=number)
        seen.add(fields["external_id"])
        if account_ref and account_ref not in accounts:
            raise CsvError(
                file, f"no account '{account_ref}'", row=number, column="account_external_id"
            )
        fields["account_id"] = accounts.get(account_ref) if account_ref else None
        person = existing.get(fields["external_id"])
        if person is None:
            session.add(Person(**fields))
            created += 1
            continue
        changed = False
        for key, value in fields.items():
            if key == "traits":
                value = {**(person.traits or {}), **value}
            if getattr(person, key) != value:
                setattr(person, key, value)
                changed = True
        updated += changed
        unchanged += not changed
    session.flush()
    audit.record(
        session,
        actor,
        "person.import",
        "person",
        None,
        {"file": file, "created": created, "updated": updated},
    )
    return ImportResult(file, len(parsed), created, updated, unchanged)


# --- what other pillars read -------------------------------------------------------------


@dataclass(frozen=True)
class Profiles:
    """Every account and person as plain rows: what the event store's dimensions follow."""

    accounts: list[dict[str, Any]]
    people: list[dict[str, Any]]
    version: tuple[Any, ...]


def profiles(session: Session) -> Profiles:
    """Accounts (keyed by external id, with their fields and traits) and people (with their
    account's external id), for other pillars to mirror."""
    ver = version(session)
    accounts = [
        {
            "external_id": a.external_id,
            "properties": {
                **(a.traits or {}),
                "name": a.name,
                "domain": a.domain,
                "plan": a.plan,
                "segment": a.segment,
                "region": a.region,
                "arr": float(a.arr or 0),
            },
            "created_at": a.created_at,
        }
        for a in session.scalars(select(Account).order_by(Account.id))
    ]
    account_ids = {r[0]: r[1] for r in session.execute(select(Account.id, Account.external_id))}
    people = []
    rows = session.execute(
        select(
            Person.external_id,
            Person.account_id,
            Person.email,
            Person.name,
            Person.traits,
            Person.created_at,
        ).order_by(Person.id)
    )
    for external_id, account_id, email, name, traits, created_at in rows:
        props = dict(traits or {})
        if email:
            props["email"] = email
        if name:
            props["name"] = name
        people.append(
            {
                "external_id": external_id,
                "account_external_id": account_ids.get(account_id) if account_id else None,
                "properties": props,
                "created_at": created_at,
            }
        )
    return Profiles(accounts=accounts, people=people, version=ver)


def export_accounts(session: Session, **filters: Any) -> tuple[list[str], list[list[Any]]]:
    """The accounts matching `filters` (as `list_accounts`) as columns and rows for CSV."""
    rows, _ = list_accounts(session, limit=None, **filters)
    columns = [*ACCOUNT_COLUMNS, "created_at", "traits"]
    return columns, [
        [
            a.external_id,
            a.name,
            a.domain,
            a.plan,
            a.segment,
            a.region,
            float(a.arr or 0),
            a.created_at.isoformat(),
            json.dumps(a.traits or {}, sort_keys=True),
        ]
        for a in rows
    ]
