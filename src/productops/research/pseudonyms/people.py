"""Who a piece of research text names: the participants linked to a note (its session's
participant and its speakers), with the words that would give each one away."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from productops.customers import Person
from productops.research.models import Note, Participant, ResearchSession, Speaker
from productops.research.pseudonyms.mask import Who
from productops.research.pseudonyms.vault import Vault


def who(
    session: Session,
    participant_ids: Iterable[int],
    labels: Mapping[int, Sequence[str]] | None = None,
    vault: Vault | None = None,
) -> list[Who]:
    """For each participant: their pseudonym, and the strings to replace by it (full name,
    email addresses, speaker labels in any case; first name as a whole word)."""
    ids = sorted({i for i in participant_ids if i})
    if not ids:
        return []
    rows = session.execute(
        select(
            Participant.id, Participant.pseudonym, Participant.email_enc, Person.name, Person.email
        )
        .join(Person, Person.id == Participant.person_id)
        .where(Participant.id.in_(ids))
    ).all()
    out = []
    for pid, pseudonym, email_enc, name, email in rows:
        exact = [s for s in (name, email) if s]
        if vault is not None and email_enc:
            exact.append(vault.open(email_enc) or "")
        exact += list((labels or {}).get(pid, ()))
        words = []
        if name and len(name.split()) > 1:
            words.append(name.split()[0])
        out.append(Who(pseudonym, tuple(e for e in exact if e), tuple(words)))
    return out


def note_people(session: Session, note: Note, vault: Vault | None = None) -> list[Who]:
    """The participants a note names: its speakers who are participants, and its session's."""
    labels: dict[int, list[str]] = {}
    for sp in session.scalars(select(Speaker).where(Speaker.note_id == note.id)):
        if sp.participant_id is not None and sp.role == "participant":
            labels.setdefault(sp.participant_id, []).append(sp.label)
    ids = set(labels)
    if note.session_id is not None:
        participant = session.scalar(
            select(ResearchSession.participant_id).where(ResearchSession.id == note.session_id)
        )
        if participant is not None:
            ids.add(participant)
    return who(session, ids, labels, vault)


def pseudonyms(session: Session, participant_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted({i for i in participant_ids if i})
    if not ids:
        return {}
    return dict(
        session.execute(
            select(Participant.id, Participant.pseudonym).where(Participant.id.in_(ids))
        ).all()
    )


def names(session: Session, participant_ids: Iterable[int]) -> dict[int, str]:
    """Participant id → their name (or email, or pseudonym): for callers with people.pii."""
    ids = sorted({i for i in participant_ids if i})
    if not ids:
        return {}
    rows = session.execute(
        select(Participant.id, Participant.pseudonym, Person.name, Person.external_id)
        .join(Person, Person.id == Participant.person_id)
        .where(Participant.id.in_(ids))
    )
    return {pid: name or external or pseudonym for pid, pseudonym, name, external in rows}
