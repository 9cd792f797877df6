"""What the OpenAPI contract test (tests/test_openapi_contract.py) needs to know about the
research operations: the records they read (`records`, made in its `demo_like` workspace),
their ids (`KNOWN`), what no schema can say (`LEEWAY`: reason and the statuses a fitting
request may still get), and the operation that must only ever name its own person
(`ERASE_PERSON`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from productops.core.workspace import Workspace

_STUDY_DATES = (
    "a study cannot end before it starts: `ends_on` is bounded by `starts_on` (sent, or the "
    "stored one) (422)",
    ("422",),
)
LEEWAY: dict[str, tuple[str, tuple[str, ...]]] = {
    "POST /api/v1/research/studies": _STUDY_DATES,
    "PATCH /api/v1/research/studies/{study_id}": _STUDY_DATES,
    "POST /api/v1/research/studies/{study_id}/transcripts": (
        "the file's content decides: text must be UTF-8, a .docx a Word document (422 naming "
        "the file and line)",
        ("422",),
    ),
    "POST /api/v1/research/notes/{note_id}/highlights": (
        "`end` must be after `start` and both within the note as the caller sees it; `quote` "
        "must be the words there (422)",
        ("422",),
    ),
    "POST /api/v1/research/participants": (
        "a participant is an existing person (`person_id`) or a new one with a name or an "
        "email: at least one of the three (422)",
        ("422",),
    ),
    "POST /api/v1/research/participants/import": (
        "the importer checks the CSV's header and every row and names the bad one (422); the "
        "schema of a text body cannot say which files are good",
        ("422",),
    ),
    "GET /api/v1/research/search": (
        "`since` must not be after `until`: one parameter bounds another (422)",
        ("422",),
    ),
}

_R = "/api/v1/research"
KNOWN: dict[str, dict[str, Any]] = {
    **{
        f"{method} {_R}/studies/{{study_id}}{tail}": {"path_parameters": {"study_id": 1}}
        for method, tail in (("GET", ""), ("GET", "/sessions"), ("GET", "/notes"))
    },
    f"PATCH {_R}/studies/{{study_id}}": {
        "path_parameters": {"study_id": 1},
        "body": {"title": "Why exports fail", "status": "running"},
    },
    f"POST {_R}/studies/{{study_id}}/sessions": {
        "path_parameters": {"study_id": 1},
        "body": {"title": "Second call", "participant_id": 1},
    },
    f"POST {_R}/studies/{{study_id}}/notes": {
        "path_parameters": {"study_id": 1},
        "body": {"title": "Notes", "body": "Exports fail on Mondays."},
    },
    f"POST {_R}/studies/{{study_id}}/transcripts": {
        "path_parameters": {"study_id": 1},
        "query": {"filename": "call.txt"},
        "body": "Ana: the export is broken\n",
        "media_type": "application/octet-stream",
    },
    **{
        f"{method} {_R}/notes/{{note_id}}{tail}": {"path_parameters": {"note_id": 1}}
        for method, tail in (("GET", ""), ("GET", "/highlights"))
    },
    f"PATCH {_R}/notes/{{note_id}}": {
        "path_parameters": {"note_id": 1},
        "body": {"title": "Interview 1"},
    },
    f"DELETE {_R}/notes/{{note_id}}": {"path_parameters": {"note_id": 2}},
    f"POST {_R}/notes/{{note_id}}/speakers": {
        "path_parameters": {"note_id": 1},
        "body": {"label": "Ana", "participant_id": 1},
    },
    f"POST {_R}/notes/{{note_id}}/highlights": {
        "path_parameters": {"note_id": 1},
        "body": {"start": 0, "end": 3, "new_tags": ["exports"]},
    },
    f"PUT {_R}/highlights/{{highlight_id}}/tags": {
        "path_parameters": {"highlight_id": 1},
        "body": {"new_tags": ["pdf"]},
    },
    f"DELETE {_R}/highlights/{{highlight_id}}": {"path_parameters": {"highlight_id": 2}},
    f"POST {_R}/insights": {"body": {"title": "PDF export breaks", "highlight_ids": [1]}},
    f"GET {_R}/insights/{{insight_id}}": {"path_parameters": {"insight_id": 1}},
    f"PATCH {_R}/insights/{{insight_id}}": {
        "path_parameters": {"insight_id": 1},
        "body": {"status": "published"},
    },
    f"GET {_R}/search": {"query": {"q": "export"}},
    f"POST {_R}/participants": {"body": {"name": "Dana", "email": "dana@example.com"}},
    **{
        f"{method} {_R}/participants/{{participant_id}}{tail}": {
            "path_parameters": {"participant_id": 1}
        }
        for method, tail in (("GET", ""), ("GET", "/contacts"), ("GET", "/incentives"))
    },
    f"PATCH {_R}/participants/{{participant_id}}": {
        "path_parameters": {"participant_id": 1},
        "body": {"segment": "Enterprise"},
    },
    f"POST {_R}/participants/{{participant_id}}/status": {
        "path_parameters": {"participant_id": 1},
        "body": {"status": "do_not_contact"},
    },
    f"POST {_R}/participants/{{participant_id}}/contacts": {
        "path_parameters": {"participant_id": 1},
        "body": {"kind": "participated", "study_id": 1, "override": True},
    },
    f"POST {_R}/participants/{{participant_id}}/consents": {
        "path_parameters": {"participant_id": 1},
        "body": {"method": "form"},
    },
    f"POST {_R}/participants/{{participant_id}}/incentives": {
        "path_parameters": {"participant_id": 1},
        "body": {"amount": 50, "study_id": 1},
    },
    f"POST {_R}/participants/import": {
        "body": "email,name,segment\nerin@example.com,Erin,SMB\n",
        "media_type": "text/csv",
    },
    f"POST {_R}/recruit/invitations": {"body": {"study_id": 1, "participant_ids": [2]}},
    "GET /api/v1/people/{person_id}/export": {"path_parameters": {"person_id": 1}},
}

# Erasing a person cannot be undone: every pass of that operation names the one person made
# for it (`records` returns them), so the people the other operations read stay.
ERASE_PERSON = "DELETE /api/v1/people/{person_id}"


def records(ws: Workspace, s: Session) -> tuple[dict[str, Any], dict[str, Any]]:
    """A study with a session and a transcript note (ids 1) and a note to delete (2);
    highlights (1, and 2 to delete); an insight (1) that is evidence of a feature request of
    its own (another is free); participants of the person `alice` (1, who consents) and of a
    new `bob` (2); a consent text and a screener. Returns what the operations that name these
    records' other ids take: for KNOWN, and for FIXED (the erase)."""
    from productops.customers import Person
    from productops.customers import service as customers
    from productops.customers.schemas import PersonCreate
    from productops.feedback.requests.service import create_request
    from productops.feedback.schemas import RequestCreate
    from productops.research.participants import service as participants
    from productops.research.pseudonyms.vault import Vault
    from productops.research.recruiting import service as recruiting
    from productops.research.repository import service as repo
    from productops.research.schemas import (
        ConsentRecord,
        ConsentTextCreate,
        InsightCreate,
        NoteCreate,
        ParticipantCreate,
        ScreenerCreate,
        SessionCreate,
        StudyCreate,
    )
    from productops.research.transcripts import read_transcript

    vault = Vault(ws)
    alice = s.scalar(select(Person.id).where(Person.external_id == "alice"))
    bob = customers.create_person(s, PersonCreate(external_id="bob"), actor="t")
    erin = customers.create_person(s, PersonCreate(external_id="erin-to-erase"), actor="t")
    for person in (alice, bob.id):
        participants.create_participant(s, vault, ParticipantCreate(person_id=person), "t")
    attached, free = (
        create_request(s, RequestCreate(title=title), "t").id
        for title in ("Export to PDF", "Scheduled exports")
    )
    study = repo.create_study(s, StudyCreate(title="Why exports fail"), "t")
    call = repo.create_session(s, study.id, SessionCreate(title="Call", participant_id=1), "t")
    text = b"Interviewer: How do you export?\nAna: The export to PDF is broken for us.\n"
    note = repo.import_transcript(
        s, study.id, read_transcript("call.txt", text), title="Interview 1", actor="t",
        session_id=call.id,
    )  # fmt: skip
    repo.create_note(s, study.id, NoteCreate(title="Scratch", body="to delete"), "t")
    at = note.body.index("The export")
    first = repo.create_highlight(s, note.id, at, at + 10, "t")
    repo.create_highlight(s, note.id, at + 11, at + 17, "t")
    insight = repo.create_insight(
        s, InsightCreate(title="PDF breaks", highlight_ids=[first.id]), "t"
    )
    repo.attach_to_request(s, insight.id, attached, "t")
    participants.add_consent_text(s, ConsentTextCreate(title="Consent", body="We record."), "t")
    participants.record_consent(s, 1, ConsentRecord(), "t")
    recruiting.save_screener(s, ScreenerCreate(name="Enterprise admins"), "t")
    known = {
        f"POST {_R}/insights/{{insight_id}}/evidence": {
            "path_parameters": {"insight_id": insight.id},
            "body": {"request_id": free},
        },
        f"DELETE {_R}/insights/{{insight_id}}/evidence/{{request_id}}": {
            "path_parameters": {"insight_id": insight.id, "request_id": attached}
        },
    }
    return known, {ERASE_PERSON: {"path_parameters": {"person_id": erin.id}}}
