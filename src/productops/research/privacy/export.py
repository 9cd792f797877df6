"""Everything productops holds on one person, as one JSON document (a GDPR access request):
their customers record, their participant record with contact details opened from the
vault, consents, contact history, incentives, sessions, what they said in notes (their
turns), highlights of their words, the feedback they gave, and their events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from productops import analytics, customers, feedback
from productops.core import audit
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.export import jsonable
from productops.core.workspace import Workspace
from productops.research.models import (
    Consent,
    Contact,
    Highlight,
    Incentive,
    Note,
    Participant,
    ResearchSession,
    Speaker,
    Study,
)
from productops.research.privacy.erase import find_person
from productops.research.pseudonyms.vault import Vault
from productops.research.transcripts import turns_of


def _row(obj: Any, *fields: str) -> dict[str, Any]:
    return {f: jsonable(getattr(obj, f)) for f in fields}


def access_export(ws: Workspace, who: str | int, actor: str) -> dict[str, Any]:
    """The whole record of one person; the request itself is audited (by ids only)."""
    vault = Vault(ws)
    with ws.sessions() as s:
        person_id = who if isinstance(who, int) else find_person(s, vault, str(who))
        person = customers.get_person(s, person_id)
        account = customers.get_account(s, person.account_id) if person.account_id else None
        out: dict[str, Any] = {
            "exported_at": utcnow().isoformat(),
            "person": _row(person, "id", "external_id", "name", "email", "traits", "created_at"),
            "account": _row(account, "external_id", "name", "plan", "segment") if account else None,
            "participant": None,
        }
        p = s.scalar(select(Participant).where(Participant.person_id == person.id))
        if p is not None:
            out["participant"] = {
                **_row(p, "id", "pseudonym", "segment", "status", "status_reason", "source",
                       "created_at", "last_contacted_at"),
                "email": vault.open(p.email_enc),
                "phone": vault.open(p.phone_enc),
            }  # fmt: skip
            out["consents"] = [
                _row(c, "version", "given_at", "withdrawn_at", "method")
                for c in s.scalars(select(Consent).where(Consent.participant_id == p.id))
            ]
            studies = dict(s.execute(select(Study.id, Study.title)).all())
            out["contact_history"] = [
                {
                    **_row(c, "kind", "at", "channel", "overridden"),
                    "study": studies.get(c.study_id or 0),
                }
                for c in s.scalars(
                    select(Contact).where(Contact.participant_id == p.id).order_by(Contact.at)
                )
            ]
            out["incentives"] = [
                _row(i, "amount", "currency", "kind", "paid_at")
                for i in s.scalars(select(Incentive).where(Incentive.participant_id == p.id))
            ]
            out["sessions"] = [
                {
                    **_row(r, "title", "happened_at", "duration_minutes"),
                    "study": studies.get(r.study_id),
                }
                for r in s.scalars(
                    select(ResearchSession).where(ResearchSession.participant_id == p.id)
                )
            ]
            labels = {
                (sp.note_id, sp.label)
                for sp in s.scalars(select(Speaker).where(Speaker.participant_id == p.id))
            }
            said = []
            for note in s.scalars(select(Note).where(Note.id.in_({n for n, _ in labels}))):
                for start, end, label in turns_of(note.body):
                    if (note.id, label) in labels:
                        said.append({"note": note.title, "words": note.body[start:end].strip()})
            out["said_in_notes"] = said
            out["highlights"] = [
                _row(h, "quote", "created_at")
                for h in s.scalars(select(Highlight).where(Highlight.participant_id == p.id))
            ]
        items, _ = feedback.list_items(s, feedback.Filters(person_id=person.id), limit=None)
        out["feedback"] = [
            _row(i, "source", "kind", "title", "text", "created_at", "score", "score_kind")
            for i in items
        ]
        external_id = person.external_id
    out["events"] = analytics.person_events(analytics.events_file(ws), [external_id])
    with transaction(ws.sessions) as s:
        audit.record(s, actor, "person.access_export", "person", person_id, {})
    return out
