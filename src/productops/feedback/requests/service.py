"""Feature requests: made from feedback or with feedback attached (an excerpt and how much it
matters, as in Productboard), votes by people (public-portal style, one per person),
demand (distinct people, distinct accounts and their ARR, by segment and plan, week by
week), statuses, merging two requests, and links to the roadmap's epics and objectives.

When a request ships, a job tells everyone who asked (`requests.notify`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.jobs import enqueue
from productops.customers import Account, Person
from productops.feedback.items.people import Linker, Who
from productops.feedback.models import (
    Evidence,
    FeatureRequest,
    FeedbackItem,
    Notification,
    RequestLink,
    Vote,
)
from productops.feedback.schemas import (
    EvidenceCreate,
    LinkCreate,
    RequestCreate,
    RequestUpdate,
    VoteCreate,
)

OPEN_STATUSES = ("under_review", "planned", "in_progress")
STATUS_LABELS = {
    "under_review": "Under review",
    "planned": "Planned",
    "in_progress": "In progress",
    "shipped": "Shipped",
    "declined": "Declined",
}


def get_request(session: Session, request_id: int) -> FeatureRequest:
    request = session.get(FeatureRequest, request_id)
    if request is None:
        raise NotFound(f"no feature request {request_id}")
    return request


def create_request(session: Session, data: RequestCreate, actor: str) -> FeatureRequest:
    """A new request (under review); with `from_item_id`, that feedback is its first
    evidence."""
    request = FeatureRequest(
        title=data.title.strip(), description=data.description, created_by=actor
    )
    session.add(request)
    session.flush()
    audit.record(session, actor, "request.create", "request", request.id, {"title": request.title})
    if data.from_item_id:
        attach(
            session,
            request.id,
            EvidenceCreate(
                item_id=data.from_item_id, excerpt=data.excerpt, importance=data.importance
            ),
            actor,
        )
    return request


def update_request(
    session: Session, request_id: int, data: RequestUpdate, actor: str, *, notify: bool = True
) -> FeatureRequest:
    """Change title, description or status. Shipping it queues the job that tells everyone
    who asked (unless `notify` is False: the caller tells them itself)."""
    request = get_request(session, request_id)
    if request.merged_into_id:
        raise Conflict(f"request {request_id} was merged into {request.merged_into_id}")
    changes: dict[str, Any] = {}
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is not None and getattr(request, key) != value:
            changes[key] = {"from": getattr(request, key), "to": value}
            setattr(request, key, value)
    if not changes:
        return request
    if "status" in changes and request.status == "shipped":
        request.shipped_at = utcnow()
    session.flush()
    audit.record(session, actor, "request.update", "request", request.id, changes)
    if notify and "status" in changes and request.status == "shipped":
        enqueue(session, "feedback.notify", {"request_id": request.id}, created_by=actor)
    return request


def attach(session: Session, request_id: int, data: EvidenceCreate, actor: str) -> Evidence:
    """Attach feedback to a request (or change its excerpt and importance)."""
    request = get_request(session, request_id)
    if request.merged_into_id:
        request = get_request(session, request.merged_into_id)
    item = session.get(FeedbackItem, data.item_id)
    if item is None:
        raise NotFound(f"no feedback {data.item_id}")
    if data.excerpt and data.excerpt.strip() and data.excerpt.strip() not in item.text:
        raise InvalidInput("the excerpt must be words of the feedback itself")
    evidence = session.scalar(
        select(Evidence).where(Evidence.request_id == request.id, Evidence.item_id == item.id)
    )
    if evidence is None:
        evidence = Evidence(request_id=request.id, item_id=item.id, created_by=actor)
        session.add(evidence)
    evidence.excerpt = (data.excerpt or "").strip() or None
    evidence.importance = data.importance
    if item.status == "new":
        item.status = "triaged"
    session.flush()
    audit.record(
        session,
        actor,
        "request.evidence",
        "request",
        request.id,
        {"item_id": item.id, "importance": data.importance},
    )
    return evidence


def detach(session: Session, request_id: int, item_id: int, actor: str) -> None:
    deleted = session.execute(
        delete(Evidence).where(Evidence.request_id == request_id, Evidence.item_id == item_id)
    )
    if not getattr(deleted, "rowcount", 0):
        raise NotFound(f"feedback {item_id} is not evidence of request {request_id}")
    audit.record(session, actor, "request.detach", "request", request_id, {"item_id": item_id})


def vote(session: Session, request_id: int, data: VoteCreate, actor: str) -> Vote:
    """A person's vote (by id, or by email: someone unknown is added as a person). Voting
    twice counts once."""
    request = get_request(session, request_id)
    if request.merged_into_id:
        request = get_request(session, request.merged_into_id)
    if data.person_id:
        person = session.get(Person, data.person_id)
        if person is None:
            raise NotFound(f"no person {data.person_id}")
        person_id = person.id
    elif data.email:
        from productops.feedback.importers.base import email_field

        email = email_field(data.email, "vote", None, "email")
        linker = Linker(session, actor)
        linker.load([Who(email=email)])
        linked, _ = linker.link(Who(email=email))
        if linked is None:
            raise InvalidInput("a vote needs a person")
        person_id = linked
    else:
        raise InvalidInput("say who votes: person_id or email")
    existing = session.scalar(
        select(Vote).where(Vote.request_id == request.id, Vote.person_id == person_id)
    )
    if existing is not None:
        return existing
    v = Vote(request_id=request.id, person_id=person_id, created_by=actor)
    session.add(v)
    session.flush()
    audit.record(session, actor, "request.vote", "request", request.id, {"person_id": person_id})
    return v


def unvote(session: Session, request_id: int, person_id: int, actor: str) -> None:
    deleted = session.execute(
        delete(Vote).where(Vote.request_id == request_id, Vote.person_id == person_id)
    )
    if not getattr(deleted, "rowcount", 0):
        raise NotFound(f"person {person_id} has not voted for request {request_id}")
    audit.record(session, actor, "request.unvote", "request", request_id, {"person_id": person_id})


def merge(session: Session, from_id: int, into_id: int, actor: str) -> FeatureRequest:
    """Merge request `from_id` into `into_id`: its evidence, votes, links and who was told
    move over (each person and item counted once); it stays, pointing at the other."""
    if from_id == into_id:
        raise InvalidInput("a request cannot be merged into itself")
    source = get_request(session, from_id)
    target = get_request(session, into_id)
    if source.merged_into_id:
        raise Conflict(f"request {from_id} was already merged into {source.merged_into_id}")
    if target.merged_into_id:
        raise Conflict(f"request {into_id} was merged into {target.merged_into_id}")
    for model, key in (
        (Evidence, Evidence.item_id),
        (Vote, Vote.person_id),
        (Notification, Notification.person_id),
    ):
        taken = set(session.scalars(select(key).where(model.request_id == into_id)))
        if taken:
            session.execute(delete(model).where(model.request_id == from_id, key.in_(taken)))
        session.execute(
            update(model)
            .where(model.request_id == from_id)
            .values(request_id=into_id)
            .execution_options(synchronize_session=False)
        )
    links = set(
        session.execute(
            select(RequestLink.target_kind, RequestLink.target_id).where(
                RequestLink.request_id == into_id
            )
        )
    )
    for link in session.scalars(select(RequestLink).where(RequestLink.request_id == from_id)):
        if (link.target_kind, link.target_id) in links:
            session.delete(link)
        else:
            link.request_id = into_id
    source.merged_into_id = into_id
    session.flush()
    # The bulk updates above bypassed the session: forget what it holds of the moved rows.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Evidence | Vote | Notification):
            session.expire(obj)
    audit.record(session, actor, "request.merge", "request", from_id, {"into": into_id})
    return get_request(session, into_id)


def add_link(session: Session, request_id: int, data: LinkCreate, actor: str) -> RequestLink:
    """Link a request to an epic, initiative or objective of the roadmap."""
    get_request(session, request_id)
    link = RequestLink(
        request_id=request_id, target_kind=data.target_kind, target_id=data.target_id
    )
    session.add(link)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict("the request is already linked there") from None
    audit.record(
        session, actor, "request.link", "request", request_id, data.model_dump(mode="json")
    )
    return link


def links_of(session: Session, request_id: int) -> list[RequestLink]:
    return list(session.scalars(select(RequestLink).where(RequestLink.request_id == request_id)))


# --- demand ----------------------------------------------------------------------------


@dataclass
class Demand:
    """Who asks for a request: distinct people and accounts, and the accounts' ARR."""

    people: set[int] = field(default_factory=set)
    accounts: set[int] = field(default_factory=set)
    arr: float = 0.0
    evidence: int = 0
    votes: int = 0
    by_segment: dict[str, dict[str, float]] = field(default_factory=dict)
    by_plan: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "people": len(self.people),
            "accounts": len(self.accounts),
            "arr": round(self.arr, 2),
            "evidence": self.evidence,
            "votes": self.votes,
            "by_segment": self.by_segment,
            "by_plan": self.by_plan,
        }


def _askers(
    session: Session, request_ids: Iterable[int] | None
) -> list[tuple[int, int | None, int | None, dt.datetime, str]]:
    """(request, person, account, when, how) for every piece of evidence and every vote."""
    ev = select(
        Evidence.request_id, FeedbackItem.person_id, FeedbackItem.account_id,
        FeedbackItem.created_at,
    ).join(FeedbackItem, FeedbackItem.id == Evidence.item_id)  # fmt: skip
    vo = select(Vote.request_id, Vote.person_id, Person.account_id, Vote.created_at).join(
        Person, Person.id == Vote.person_id
    )
    if request_ids is not None:
        ids = list(request_ids)
        ev = ev.where(Evidence.request_id.in_(ids))
        vo = vo.where(Vote.request_id.in_(ids))
    rows = [(*r, "evidence") for r in session.execute(ev)]
    rows += [(*r, "vote") for r in session.execute(vo)]
    return rows


def demand(
    session: Session,
    request_ids: Iterable[int] | None = None,
    *,
    segment: str | None = None,
    plan: str | None = None,
) -> dict[int, Demand]:
    """Demand per request (all, or `request_ids`): distinct people, distinct accounts and
    the sum of those accounts' ARR, by segment and by plan. With `segment` or `plan`, only
    the askers whose account is in that segment or on that plan count."""
    rows = _askers(session, request_ids)
    account_ids = {r[2] for r in rows if r[2]}
    accounts = {
        a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))
    } if account_ids else {}  # fmt: skip
    out: dict[int, Demand] = {}
    for request_id, person_id, account_id, _, how in rows:
        if segment or plan:
            asking = accounts.get(account_id) if account_id else None
            if asking is None or (segment and asking.segment != segment):
                continue
            if plan and asking.plan != plan:
                continue
        d = out.setdefault(request_id, Demand())
        if how == "vote":
            d.votes += 1
        else:
            d.evidence += 1
        if person_id:
            d.people.add(person_id)
        if account_id and account_id not in d.accounts:
            d.accounts.add(account_id)
            account = accounts.get(account_id)
            if account is not None:
                arr = float(account.arr or 0)
                d.arr += arr
                for group, key in ((d.by_segment, account.segment), (d.by_plan, account.plan)):
                    slot = group.setdefault(key or "(none)", {"accounts": 0, "arr": 0.0})
                    slot["accounts"] += 1
                    slot["arr"] += arr
    return out


def demand_trend(
    session: Session, request_id: int, weeks: int = 12, today: dt.date | None = None
) -> list[dict[str, Any]]:
    """New askers (distinct people, first time they asked) per ISO week."""
    today = today or utcnow().date()
    this_week = today - dt.timedelta(days=today.weekday())
    first_seen: dict[int | str, dt.date] = {}
    for _, person_id, _account, when, how in _askers(session, [request_id]):
        key: int | str = person_id if person_id else f"anon-{how}-{when.isoformat()}"
        day = when.date()
        if key not in first_seen or day < first_seen[key]:
            first_seen[key] = day
    start = this_week - dt.timedelta(weeks=weeks - 1)
    counts = {start + dt.timedelta(weeks=i): 0 for i in range(weeks)}
    for day in first_seen.values():
        monday = day - dt.timedelta(days=day.weekday())
        if monday in counts:
            counts[monday] += 1
    return [{"week": w, "new_askers": n} for w, n in counts.items()]


@dataclass(frozen=True)
class RequestRow:
    request: FeatureRequest
    demand: Demand


def list_requests(
    session: Session,
    *,
    status: str | None = None,
    q: str | None = None,
    sort: str = "demand",
    include_merged: bool = False,
    segment: str | None = None,
    plan: str | None = None,
) -> list[RequestRow]:
    """Requests ranked by demand (ARR, then accounts, then people) or newest first. With
    `segment` or `plan`, demand counts only the accounts in that segment or on that plan,
    and requests nobody there asked for are left out."""
    query = select(FeatureRequest)
    if not include_merged:
        query = query.where(FeatureRequest.merged_into_id.is_(None))
    if status == "open":
        query = query.where(FeatureRequest.status.in_(OPEN_STATUSES))
    elif status:
        if status not in STATUS_LABELS:
            raise InvalidInput(f"status '{status}' is not one of {', '.join(STATUS_LABELS)}")
        query = query.where(FeatureRequest.status == status)
    if q:
        like = f"%{q.strip()}%"
        query = query.where(
            or_(FeatureRequest.title.ilike(like), FeatureRequest.description.ilike(like))
        )
    requests = list(session.scalars(query))
    demands = demand(session, [r.id for r in requests], segment=segment, plan=plan)
    rows = [RequestRow(r, demands.get(r.id, Demand())) for r in requests]
    if segment or plan:
        rows = [r for r in rows if r.demand.accounts]
    if sort == "newest":
        rows.sort(key=lambda r: (r.request.created_at, r.request.id), reverse=True)
    elif sort == "people":
        rows.sort(key=lambda r: (len(r.demand.people), r.demand.arr), reverse=True)
    else:
        rows.sort(
            key=lambda r: (r.demand.arr, len(r.demand.accounts), len(r.demand.people)),
            reverse=True,
        )
    return rows


def requests_of_account(session: Session, account_id: int, limit: int = 10) -> list[RequestRow]:
    """The requests an account asked for (its people's feedback or votes), by demand."""
    asked = select(Evidence.request_id).join(FeedbackItem, FeedbackItem.id == Evidence.item_id)
    asked = asked.where(FeedbackItem.account_id == account_id)
    voted = select(Vote.request_id).join(Person, Person.id == Vote.person_id)
    voted = voted.where(Person.account_id == account_id)
    ids = set(session.scalars(asked)) | set(session.scalars(voted))
    if not ids:
        return []
    found = session.scalars(
        select(FeatureRequest).where(
            FeatureRequest.id.in_(ids), FeatureRequest.merged_into_id.is_(None)
        )
    )
    demands = demand(session, list(ids))
    rows = [RequestRow(r, demands.get(r.id, Demand())) for r in found]
    rows.sort(key=lambda r: (r.demand.arr, len(r.demand.people)), reverse=True)
    return rows[:limit]


def request_choices(session: Session, *, open_only: bool = False) -> list[FeatureRequest]:
    """Requests to choose from in a form (not merged ones), by title: no demand computed."""
    query = select(FeatureRequest).where(FeatureRequest.merged_into_id.is_(None))
    if open_only:
        query = query.where(FeatureRequest.status.in_(OPEN_STATUSES))
    return list(session.scalars(query.order_by(FeatureRequest.title).limit(1000)))


@dataclass(frozen=True)
class Asker:
    person: Person | None
    account: Account | None
    evidence: list[tuple[Evidence, FeedbackItem]]
    voted: bool
    told: bool


def askers(session: Session, request_id: int) -> list[Asker]:
    """Everyone who asked: their evidence (excerpt, importance, the feedback) and votes."""
    get_request(session, request_id)
    evidence = session.execute(
        select(Evidence, FeedbackItem)
        .join(FeedbackItem, FeedbackItem.id == Evidence.item_id)
        .where(Evidence.request_id == request_id)
        .order_by(FeedbackItem.created_at.desc())
    ).all()
    voters = set(session.scalars(select(Vote.person_id).where(Vote.request_id == request_id)))
    told = set(
        session.scalars(select(Notification.person_id).where(Notification.request_id == request_id))
    )
    by_person: dict[int | None, list[tuple[Evidence, FeedbackItem]]] = {}
    for ev, item in evidence:
        by_person.setdefault(item.person_id, []).append((ev, item))
    person_ids = {p for p in by_person if p} | voters
    people = {
        p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))
    } if person_ids else {}  # fmt: skip
    account_ids = {p.account_id for p in people.values() if p.account_id} | {
        item.account_id for _, item in evidence if item.account_id
    }
    accounts = {
        a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))
    } if account_ids else {}  # fmt: skip
    out = []
    for person_id in [*(p for p in by_person if p), *(v for v in voters if v not in by_person)]:
        person = people.get(person_id)
        items = by_person.get(person_id, [])
        account_id = (items[0][1].account_id if items else None) or (
            person.account_id if person else None
        )
        out.append(
            Asker(
                person=person,
                account=accounts.get(account_id) if account_id else None,
                evidence=items,
                voted=person_id in voters,
                told=person_id in told,
            )
        )
    for ev_item in by_person.get(None, []):
        item = ev_item[1]
        out.append(
            Asker(
                None,
                accounts.get(item.account_id) if item.account_id else None,
                [ev_item],
                voted=False,
                told=False,
            )
        )
    return out


def requests_of_item(session: Session, item_id: int) -> list[tuple[FeatureRequest, Evidence]]:
    return list(
        session.execute(
            select(FeatureRequest, Evidence)
            .join(Evidence, Evidence.request_id == FeatureRequest.id)
            .where(Evidence.item_id == item_id)
        )
    )


def count_by_status(session: Session) -> dict[str, int]:
    return {
        str(s): int(n)
        for s, n in session.execute(
            select(FeatureRequest.status, func.count(FeatureRequest.id))
            .where(FeatureRequest.merged_into_id.is_(None))
            .group_by(FeatureRequest.status)
        )
    }


def export_askers(session: Session, request_id: int) -> tuple[list[str], list[list[Any]]]:
    """Who asked for a request, as CSV columns and rows (to tell them it shipped)."""
    request = get_request(session, request_id)
    columns = [
        "request", "person", "email", "account", "plan", "segment", "arr", "voted",
        "told", "importance", "excerpt", "feedback_id",
    ]  # fmt: skip
    rows = []
    for a in askers(session, request_id):
        first = a.evidence[0] if a.evidence else None
        rows.append(
            [
                request.title,
                a.person.name if a.person else None,
                a.person.email if a.person else None,
                a.account.name if a.account else None,
                a.account.plan if a.account else None,
                a.account.segment if a.account else None,
                float(a.account.arr) if a.account else None,
                a.voted,
                a.told,
                first[0].importance if first else None,
                first[0].excerpt if first else None,
                first[1].id if first else None,
            ]
        )
    return columns, rows
