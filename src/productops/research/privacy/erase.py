"""Erasing a person everywhere, in one audited operation (`productops people delete`), and
the export of everything held on one person (a GDPR access request).

What erasing reaches:

- research: the participant and everything hanging on them (consents, contact history,
  incentives); their speaker labels in notes become "[erased participant]", and their name,
  email and labels are replaced in note bodies, titles and highlight quotes (highlights keep
  their spans, moved to the new text); highlights and sessions lose the link; the search
  index is rewritten for every changed note (its full-text rows go with it; their vectors
  are computed again);
- the feedback hub (its public `erase_person`): their feedback, votes and notifications, and
  their name and email in anyone else's feedback;
- the event store (analytics' `erase_person_events`): their events and quarantined events,
  identities and profiles, their email and name in other rows;
- the customers record itself.

Backups taken afterwards hold none of it (a backup is the rows as they are). The audit entry
names the person only by the record ids that no longer lead anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.orm import Session

from productops import analytics, customers, feedback
from productops.core import audit
from productops.core.db import transaction
from productops.core.errors import InvalidInput, NotFound
from productops.core.workspace import Workspace
from productops.research.models import (
    Chunk,
    Highlight,
    Note,
    Participant,
    Speaker,
)
from productops.research.pseudonyms.mask import Who, mask
from productops.research.pseudonyms.vault import Vault
from productops.research.search import index

ERASED_LABEL = "[erased participant]"


@dataclass(frozen=True)
class Target:
    """Who is erased: their customers record, and every string that names them."""

    person_id: int
    external_id: str
    participant_id: int | None
    emails: list[str]
    names: list[str]
    phones: list[str]
    labels: list[str] = field(default_factory=list)

    @property
    def strings(self) -> list[str]:
        return sorted({*self.emails, *self.names, *self.phones, self.external_id})


def find_person(session: Session, vault: Vault, who: str) -> int:
    """A person's id from what an operator types: a record id, an external id or an email."""
    who = who.strip()
    if not who:
        raise InvalidInput("say who: a person's id, external id or email address")
    if who.isdigit():
        person = session.get(customers.Person, int(who))
        if person is not None:
            return person.id
    person = session.scalar(select(customers.Person).where(customers.Person.external_id == who))
    if person is not None:
        return person.id
    if "@" in who:
        found = session.scalars(
            select(customers.Person).where(customers.Person.email.ilike(who.lower()))
        ).all()
        if len(found) == 1:
            return found[0].id
        index_ = vault.email_index(who)
        participant = session.scalar(select(Participant).where(Participant.email_index == index_))
        if participant is not None:
            return participant.person_id
        if len(found) > 1:
            raise InvalidInput(f"{len(found)} people have that email address: give the id")
    raise NotFound("no person with that id, external id or email address")


def target_of(session: Session, vault: Vault, person_id: int) -> Target:
    person = customers.get_person(session, person_id)
    participant = session.scalar(select(Participant).where(Participant.person_id == person.id))
    emails = [e for e in (person.email,) if e]
    phones: list[str] = []
    labels: list[str] = []
    if participant is not None:
        email = vault.open(participant.email_enc)
        if email:
            emails.append(email)
        phone = vault.open(participant.phone_enc)
        if phone:
            phones.append(phone)
        labels = sorted(
            set(
                session.scalars(
                    select(Speaker.label).where(Speaker.participant_id == participant.id)
                )
            )
        )
    names = [person.name] if person.name and len(person.name.strip()) >= 3 else []
    return Target(
        person_id=person.id,
        external_id=person.external_id,
        participant_id=participant.id if participant else None,
        emails=sorted({e.lower() for e in emails}),
        names=names,
        phones=phones,
        labels=labels,
    )


def _rewrite_research(session: Session, t: Target) -> tuple[dict[str, int], list[int]]:
    """Their words out of notes, speakers and highlights; what changed is re-indexed."""
    exact = [*t.names, *t.emails, *t.phones, *t.labels]
    words = [t.names[0].split()[0]] if t.names and len(t.names[0].split()) > 1 else []
    who = [Who(ERASED_LABEL, tuple(exact), tuple(words))]
    notes: set[int] = set()
    if t.participant_id is not None:
        notes |= set(
            session.scalars(
                select(Speaker.note_id).where(Speaker.participant_id == t.participant_id)
            )
        )
        notes |= set(
            session.scalars(
                select(Highlight.note_id).where(Highlight.participant_id == t.participant_id)
            )
        )
        from productops.research.models import ResearchSession

        sessions = select(ResearchSession.id).where(
            ResearchSession.participant_id == t.participant_id
        )
        notes |= set(session.scalars(select(Note.id).where(Note.session_id.in_(sessions))))
    # Other notes that name them (full name, email, phone) are found by their words.
    strings = [s for s in (*t.names, *t.emails, *t.phones) if len(s) >= 3]
    if strings:
        notes |= set(
            session.scalars(
                select(Note.id).where(
                    or_(
                        *(Note.body.ilike(f"%{s}%") for s in strings),
                        *(Note.title.ilike(f"%{s}%") for s in strings),
                    )
                )
            )
        )
    changed = 0
    for note in session.scalars(select(Note).where(Note.id.in_(sorted(notes)))):
        body = mask(note.body, who)
        title = mask(note.title, who).text
        highlights = list(session.scalars(select(Highlight).where(Highlight.note_id == note.id)))
        for h in highlights:
            start, end = body.to_masked(h.start), body.to_masked(h.end)
            if h.end > h.start and end <= start:
                end = start + len(ERASED_LABEL)
            h.start, h.end = start, end
            h.quote = body.text[start:end]
            if t.participant_id is not None and h.participant_id == t.participant_id:
                h.participant_id = None
        if body.text != note.body or title != note.title:
            note.body, note.title = body.text, title
            changed += 1
    if t.participant_id is not None:
        for sp in session.scalars(
            select(Speaker).where(Speaker.participant_id == t.participant_id)
        ):
            sp.participant_id = None
            clash = session.scalar(
                select(Speaker.id).where(
                    Speaker.note_id == sp.note_id, Speaker.label == ERASED_LABEL
                )
            )
            if clash is None:
                sp.label = ERASED_LABEL
            else:
                session.delete(sp)
    session.flush()
    return {"notes_rewritten": changed, "notes": len(notes)}, sorted(notes)


def erase_person(ws: Workspace, who: str | int, actor: str) -> dict[str, Any]:
    """Erase a person everywhere (see the module's docstring); returns what went, by place.
    The event store first (it can be repeated), then the app database in one transaction
    with the audit entry."""
    vault = Vault(ws)
    with ws.sessions() as s:
        person_id = who if isinstance(who, int) else find_person(s, vault, str(who))
        t = target_of(s, vault, person_id)
    events = analytics.erase_person_events(
        analytics.events_file(ws), [t.external_id], [*t.emails, *t.names]
    )
    report: dict[str, Any] = {"events": events.as_dict()}
    with transaction(ws.sessions) as s:
        research, note_ids = _rewrite_research(s, t)
        if t.participant_id is not None:
            s.execute(delete(Chunk).where(Chunk.participant_id == t.participant_id))
            participant = s.get(Participant, t.participant_id)
            if participant is not None:
                s.delete(participant)
        s.flush()
        for note_id in note_ids:
            index.index_note(s, note_id)
        from productops.research.models import Insight, InsightHighlight

        touched = (
            set(
                s.scalars(
                    select(InsightHighlight.insight_id)
                    .join(Highlight, Highlight.id == InsightHighlight.highlight_id)
                    .where(Highlight.note_id.in_(note_ids))
                )
            )
            if note_ids
            else set()
        )
        strings = [x for x in (*t.names, *t.emails) if len(x) >= 3]
        for insight in (
            s.scalars(
                select(Insight).where(
                    or_(
                        Insight.id.in_(touched),
                        *(Insight.body.ilike(f"%{x}%") for x in strings),
                        *(Insight.title.ilike(f"%{x}%") for x in strings),
                    )
                )
            )
            if (touched or strings)
            else []
        ):
            pattern = re.compile("|".join(re.escape(x) for x in strings), re.I) if strings else None
            if pattern is not None:
                insight.title = pattern.sub("[erased]", insight.title)
                insight.body = pattern.sub("[erased]", insight.body)
            s.flush()
            index.index_insight(s, insight.id)
        if s.get_bind().dialect.name == "sqlite":
            s.execute(text("INSERT INTO research_fts(research_fts) VALUES ('optimize')"))
        # Vectors of rewritten rows are computed again from the new words.
        if note_ids:
            s.execute(update(Chunk).where(Chunk.note_id.in_(note_ids)).values(vector=None))
        report["research"] = research | {"participant": t.participant_id is not None}
        report["feedback"] = feedback.erase_person(s, t.person_id, t.emails, t.names)
        customers.delete_person(s, t.person_id)
        report["customers"] = {"person": 1}
        audit.record(
            s,
            actor,
            "person.erase",
            "person",
            t.person_id,
            {
                "participant_id": t.participant_id,
                "events": events.events,
                "quarantined": events.quarantined,
                "feedback_deleted": report["feedback"]["feedback_deleted"],
                "notes_rewritten": research["notes_rewritten"],
            },
        )
    return report
