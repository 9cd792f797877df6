"""Who gave the feedback: each item is linked to a person and an account of the customers
pillar.

- A person is found by external id (the customers' user id), then by email.
- An account by the account's external id the source gave, else the person's account, else
  the email's domain (an account whose `domain` it is; webmail domains never match).
- Someone unknown is created as a person (trait `source: feedback`, `provisional: true`),
  in the account found, so their feedback counts from the start.
- When the real record appears later (a customers import brings the same email or external
  id), `merge_people` moves the feedback, votes and notifications to it and removes the
  provisional person. Only people this pillar created are ever removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, false, func, or_, select, text, update
from sqlalchemy.orm import Session

from productops.core import audit
from productops.customers import Account, Person
from productops.feedback.models import Evidence, FeedbackItem, Notification, Vote

WEBMAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "yahoo.com",
        "icloud.com", "me.com", "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net",
        "web.de", "mail.ru", "yandex.ru", "qq.com", "163.com",
    }
)  # fmt: skip
PROVISIONAL = "provisional"


@dataclass
class Who:
    """What an item says about its author."""

    email: str | None = None
    external_id: str | None = None
    name: str | None = None
    account_external_id: str | None = None


@dataclass
class Linker:
    """Finds (or creates) people and accounts for a batch of items with a few queries."""

    session: Session
    actor: str
    by_external: dict[str, Person] = field(default_factory=dict)
    by_email: dict[str, Person] = field(default_factory=dict)
    accounts_by_external: dict[str, Account] = field(default_factory=dict)
    accounts_by_domain: dict[str, int] = field(default_factory=dict)
    created: int = 0

    def load(self, whos: Iterable[Who]) -> None:
        whos = list(whos)
        externals = {w.external_id for w in whos if w.external_id}
        emails = {w.email for w in whos if w.email}
        account_refs = {w.account_external_id for w in whos if w.account_external_id}
        domains = {e.rpartition("@")[2] for e in emails} - WEBMAIL
        s = self.session
        for chunk in _chunks(externals):
            for p in s.scalars(select(Person).where(Person.external_id.in_(chunk))):
                self.by_external[p.external_id] = p
        for chunk in _chunks(emails):
            # A record people made wins over one this pillar made.
            rows = s.scalars(select(Person).where(func.lower(Person.email).in_(chunk)))
            for p in sorted(rows, key=lambda p: (not _provisional(p), -p.id)):
                self.by_email[(p.email or "").lower()] = p
        for chunk in _chunks(account_refs):
            for a in s.scalars(select(Account).where(Account.external_id.in_(chunk))):
                self.accounts_by_external[a.external_id] = a
        for chunk in _chunks(domains):
            rows_ = s.execute(
                select(Account.id, func.lower(Account.domain)).where(
                    func.lower(Account.domain).in_(chunk)
                )
            )
            for account_id, domain in rows_:
                self.accounts_by_domain.setdefault(domain, account_id)

    def link(self, who: Who) -> tuple[int | None, int | None]:
        """(person id, account id) for an item's author; unknown people are created."""
        person = None
        if who.external_id:
            person = self.by_external.get(who.external_id)
        if person is None and who.email:
            person = self.by_email.get(who.email)
        account_id: int | None = None
        if who.account_external_id and who.account_external_id in self.accounts_by_external:
            account_id = self.accounts_by_external[who.account_external_id].id
        elif person is not None and person.account_id:
            account_id = person.account_id
        elif who.email:
            account_id = self.accounts_by_domain.get(who.email.rpartition("@")[2])
        if person is None and (who.email or who.external_id):
            person = Person(
                external_id=who.external_id or f"feedback:{who.email}",
                account_id=account_id,
                email=who.email,
                name=(who.name or "")[:300] or None,
                traits={"source": "feedback", PROVISIONAL: True},
            )
            self.session.add(person)
            self.session.flush()
            self.created += 1
            if who.external_id:
                self.by_external[who.external_id] = person
            if who.email:
                self.by_email[who.email] = person
                self.by_external.setdefault(person.external_id, person)
        return (person.id if person else None), account_id


def _provisional(person: Person) -> bool:
    return bool((person.traits or {}).get(PROVISIONAL))


def _chunks(values: set[str], size: int = 500) -> Iterable[list[str]]:
    ordered = sorted(values)
    for i in range(0, len(ordered), size):
        yield ordered[i : i + size]


@dataclass(frozen=True)
class MergeResult:
    people_merged: int
    items_moved: int
    items_linked: int


def merge_people(session: Session, actor: str) -> MergeResult:
    """Fold the people this pillar created into the real records that have since appeared
    (same email, or an external id `feedback:<email>` whose email a record now has), and
    link unlinked items whose author's email now has a record. Audited."""
    provisional = [
        p
        for p in session.scalars(select(Person).where(Person.email.is_not(None)))
        if _provisional(p)
    ]
    merged = moved = 0
    if provisional:
        emails = {(p.email or "").lower() for p in provisional}
        real: dict[str, Person] = {}
        for chunk in _chunks(emails):
            for p in session.scalars(select(Person).where(func.lower(Person.email).in_(chunk))):
                if not _provisional(p):
                    real.setdefault((p.email or "").lower(), p)
        for p in provisional:
            target = real.get((p.email or "").lower())
            if target is None or target.id == p.id:
                continue
            moved += _move(session, p.id, target)
            session.delete(p)
            merged += 1
    linked = _link_loose_items(session)
    if merged or linked:
        session.flush()
        audit.record(
            session,
            actor,
            "feedback.people_merged",
            "person",
            None,
            {"merged": merged, "items_moved": moved, "items_linked": linked},
        )
    return MergeResult(merged, moved, linked)


def _move(session: Session, from_id: int, to: Person) -> int:
    moved = session.execute(  # type: ignore[attr-defined]
        update(FeedbackItem)
        .where(FeedbackItem.person_id == from_id)
        .values(person_id=to.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if to.account_id:
        session.execute(
            update(FeedbackItem)
            .where(FeedbackItem.person_id == to.id, FeedbackItem.account_id.is_(None))
            .values(account_id=to.account_id)
            .execution_options(synchronize_session=False)
        )
    for model in (Vote, Notification):
        taken = set(session.scalars(select(model.request_id).where(model.person_id == to.id)).all())
        if taken:
            session.execute(
                delete(model).where(model.person_id == from_id, model.request_id.in_(taken))
            )
        session.execute(
            update(model)
            .where(model.person_id == from_id)
            .values(person_id=to.id)
            .execution_options(synchronize_session=False)
        )
    return int(moved or 0)


def _link_loose_items(session: Session) -> int:
    loose = session.execute(
        select(FeedbackItem.id, FeedbackItem.author_email).where(
            FeedbackItem.person_id.is_(None), FeedbackItem.author_email.is_not(None)
        )
    ).all()
    if not loose:
        return 0
    linker = Linker(session, "system")
    linker.by_email = {}
    emails = {e for _, e in loose if e}
    for chunk in _chunks(emails):
        for p in session.scalars(select(Person).where(func.lower(Person.email).in_(chunk))):
            linker.by_email.setdefault((p.email or "").lower(), p)
    linked = 0
    for item_id, email in loose:
        person = linker.by_email.get(email or "")
        if person is None:
            continue
        values: dict[str, Any] = {"person_id": person.id}
        if person.account_id:
            values["account_id"] = person.account_id
        session.execute(update(FeedbackItem).where(FeedbackItem.id == item_id).values(**values))
        linked += 1
    return linked


# --- erasing a person (the research pillar's `people delete` calls this) -------------------


def erase_person(
    session: Session, person_id: int | None, emails: Iterable[str], names: Iterable[str]
) -> dict[str, int]:
    """Remove a person from the feedback hub: the feedback they gave (found by person, or
    by an author email of theirs) is deleted with its vectors, tags, evidence and mentions;
    their votes and notifications go; their name and emails are replaced by "[erased]" in
    everyone else's feedback. The full-text index forgets the words (on SQLite its segments
    are merged, so no deleted token stays in them). Not audited here: the caller records one
    entry for the whole erasure."""
    emails = sorted({e.strip().lower() for e in emails if e and e.strip()})
    strings = sorted({*emails, *(n.strip() for n in names if n and len(n.strip()) >= 3)})
    own = select(FeedbackItem.id).where(
        or_(
            FeedbackItem.person_id == person_id if person_id else false(),
            func.lower(FeedbackItem.author_email).in_(emails) if emails else false(),
        )
    )
    ids = list(session.scalars(own))
    deleted = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        session.execute(
            update(FeedbackItem)
            .where(FeedbackItem.duplicate_of_id.in_(chunk))
            .values(duplicate_of_id=None)
            .execution_options(synchronize_session=False)
        )
        deleted += int(
            session.execute(  # type: ignore[attr-defined]
                delete(FeedbackItem)
                .where(FeedbackItem.id.in_(chunk))
                .execution_options(synchronize_session=False)
            ).rowcount
            or 0
        )
    votes = notifications = 0
    if person_id:
        votes = int(
            session.execute(delete(Vote).where(Vote.person_id == person_id)).rowcount  # type: ignore[attr-defined]
            or 0
        )
        notifications = int(
            session.execute(  # type: ignore[attr-defined]
                delete(Notification).where(Notification.person_id == person_id)
            ).rowcount
            or 0
        )
    if emails:
        session.execute(delete(Notification).where(func.lower(Notification.email).in_(emails)))
    scrubbed = _scrub_mentions(session, strings)
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("INSERT INTO feedback_fts(feedback_fts) VALUES ('optimize')"))
    session.flush()
    return {
        "feedback_deleted": deleted,
        "feedback_scrubbed": scrubbed,
        "votes_deleted": votes,
        "notifications_deleted": notifications,
    }


def _scrub_mentions(session: Session, strings: list[str]) -> int:
    """Replace `strings` (any case) in other people's feedback with "[erased]"."""
    if not strings:
        return 0
    pattern = re.compile(
        "|".join(re.escape(s) for s in sorted(strings, key=len, reverse=True)), re.I
    )
    columns = (FeedbackItem.title, FeedbackItem.body, FeedbackItem.text, FeedbackItem.author_name)
    conditions = [
        func.lower(c).contains(s.lower(), autoescape=True) for c in columns for s in strings
    ]
    changed = 0
    for item in session.scalars(select(FeedbackItem).where(or_(*conditions))):
        for column in ("title", "body", "text", "author_name"):
            value = getattr(item, column)
            if value and pattern.search(value):
                setattr(item, column, pattern.sub("[erased]", value))
        changed += 1
    for evidence in session.scalars(
        select(Evidence).where(
            or_(
                *(
                    func.lower(Evidence.excerpt).contains(s.lower(), autoescape=True)
                    for s in strings
                )
            )
        )
    ):
        evidence.excerpt = pattern.sub("[erased]", evidence.excerpt or "")
    return changed
