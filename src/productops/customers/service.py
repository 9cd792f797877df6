"""Accounts and people: look-ups and summaries every pillar uses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from productops.core.errors import NotFound
from productops.customers.models import Account, Person

ACCOUNT_SORTS: dict[str, Any] = {
    "arr": Account.arr.desc(),
    "name": Account.name.asc(),
    "newest": Account.created_at.desc(),
}


@dataclass(frozen=True)
class CustomerSummary:
    accounts: int
    people: int
    total_arr: float


def summary(session: Session) -> CustomerSummary:
    """How many accounts and people there are, and their total ARR."""
    accounts, arr = session.execute(
        select(func.count(Account.id), func.coalesce(func.sum(Account.arr), 0))
    ).one()
    people = session.scalar(select(func.count(Person.id))) or 0
    return CustomerSummary(accounts=accounts, people=people, total_arr=float(arr))


def list_accounts(
    session: Session,
    *,
    q: str | None = None,
    plan: str | None = None,
    segment: str | None = None,
    sort: str = "arr",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Account], int]:
    """Accounts matching the filters, largest ARR first by default, with the total."""
    query = select(Account)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(or_(Account.name.ilike(like), Account.domain.ilike(like)))
    if plan:
        query = query.where(Account.plan == plan)
    if segment:
        query = query.where(Account.segment == segment)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    order = ACCOUNT_SORTS.get(sort, ACCOUNT_SORTS["arr"])
    rows = session.scalars(query.order_by(order, Account.id).limit(limit).offset(offset)).all()
    return list(rows), total


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


def people_of(session: Session, account_id: int, limit: int = 200) -> list[Person]:
    q = select(Person).where(Person.account_id == account_id).order_by(Person.id).limit(limit)
    return list(session.scalars(q).all())


def count_people(session: Session, account_id: int) -> int:
    return session.scalar(select(func.count(Person.id)).where(Person.account_id == account_id)) or 0


def arr_by(session: Session, column: str) -> list[tuple[str, int, float]]:
    """(value, accounts, ARR) grouped by `plan`, `segment` or `region`."""
    col = {"plan": Account.plan, "segment": Account.segment, "region": Account.region}[column]
    rows = session.execute(
        select(col, func.count(Account.id), func.sum(Account.arr))
        .group_by(col)
        .order_by(func.sum(Account.arr).desc())
    ).all()
    return [(str(v), int(n), float(a or 0)) for v, n, a in rows]


def distinct_values(session: Session, column: str) -> list[str]:
    col = {"plan": Account.plan, "segment": Account.segment, "region": Account.region}[column]
    return [str(v) for v in session.scalars(select(col).distinct().order_by(col)).all()]
