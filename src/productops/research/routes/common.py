"""What the research pages and endpoints share: who may see whom, notes as a caller may see
them (names masked by pseudonyms without people.pii, highlights placed on the text they
see), query filters, uploads with a size limit, the sub-navigation."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

from fastapi import Query, Request
from pydantic import BeforeValidator, WithJsonSchema
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.errors import InvalidInput, TooLarge
from productops.customers import PEOPLE_PII
from productops.research.models import Highlight, Note
from productops.research.participants.rules import Rules
from productops.research.pseudonyms import people as who
from productops.research.pseudonyms.mask import Masked, mask
from productops.research.pseudonyms.vault import Vault
from productops.research.repository import service as repo
from productops.research.schemas import InsightStatus, Method, StudyStatus
from productops.research.settings import section
from productops.web.deps import workspace_of
from productops.web.params import MAX_ID, OptionalDate, blank_is_none

PAGE_SIZE = 50
SUBNAV = (
    ("Search", "/research"),
    ("Studies", "/research/studies"),
    ("Insights", "/research/insights"),
    ("Participants", "/research/participants"),
    ("Recruit", "/research/recruit"),
    ("Consent", "/research/consent"),
)
# The constraint comes before the validator that reads an empty box as "not given" (the other
# way round pydantic applies `max_length` to None and the request fails with a 500).
Text60 = Annotated[str | None, Query(max_length=60), BeforeValidator(blank_is_none)]
Text200 = Annotated[str | None, Query(max_length=200), BeforeValidator(blank_is_none)]
Day = OptionalDate
_EMPTY = {"type": "string", "maxLength": 0}
OptId = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID),
    BeforeValidator(blank_is_none),
    WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1, "maximum": MAX_ID}, _EMPTY]}),
]


def _one_of(values: tuple[str, ...]) -> WithJsonSchema:
    """What the document says a choice box takes: one of the values, or nothing."""
    return WithJsonSchema({"anyOf": [{"type": "string", "enum": list(values)}, _EMPTY]})


# Filters with a fixed set of values say them, so a wrong one is refused by name (422).
MethodFilter = Annotated[
    Method | None, Query(), BeforeValidator(blank_is_none), _one_of(get_args(Method))
]
StudyStatusFilter = Annotated[
    StudyStatus | None, Query(), BeforeValidator(blank_is_none), _one_of(get_args(StudyStatus))
]
InsightStatusFilter = Annotated[
    InsightStatus | None,
    Query(),
    BeforeValidator(blank_is_none),
    _one_of(get_args(InsightStatus)),
]
ParticipantStatus = Literal["free", "in_cooldown", "do_not_contact", "blocklisted", "opted_out"]
ParticipantStatusFilter = Annotated[
    ParticipantStatus | None,
    Query(),
    BeforeValidator(blank_is_none),
    _one_of(get_args(ParticipantStatus)),
]
ConsentState = Literal["current", "outdated", "withdrawn", "none"]
ConsentFilter = Annotated[
    ConsentState | None, Query(), BeforeValidator(blank_is_none), _one_of(get_args(ConsentState))
]


def pii(principal: Principal) -> bool:
    return principal.can(PEOPLE_PII)


def vault_of(request: Request) -> Vault:
    return Vault(workspace_of(request))


def rules_of(request: Request) -> Rules:
    return Rules.of(workspace_of(request))


def names_for(db: Session, principal: Principal, participant_ids: set[int]) -> dict[int, str]:
    """How a caller sees each participant: a name with people.pii, else the pseudonym."""
    ids = {i for i in participant_ids if i}
    return who.names(db, ids) if pii(principal) else who.pseudonyms(db, ids)


@dataclass(frozen=True)
class Piece:
    text: str
    highlight: int | None


@dataclass(frozen=True)
class NoteView:
    """A note as one caller sees it: the text (masked without people.pii), the pieces of it
    with the highlight each falls in, highlight spans in that text, the mapping back."""

    text: str
    title: str
    pieces: list[Piece]
    spans: dict[int, tuple[int, int]]
    masked: Masked
    is_masked: bool


def note_view(
    db: Session, note: Note, principal: Principal, vault: Vault, highlights: list[Highlight]
) -> NoteView:
    if pii(principal):
        masked = Masked(note.body)
        title = note.title
        is_masked = False
    else:
        people = who.note_people(db, note, vault)
        masked = mask(note.body, people)
        title = mask(note.title, people).text
        is_masked = bool(masked.replaced)
    text = masked.text
    spans = {
        h.id: (masked.to_masked(h.start), max(masked.to_masked(h.start), masked.to_masked(h.end)))
        for h in highlights
    }
    points = sorted({0, len(text), *(p for s in spans.values() for p in s)})
    pieces = []
    for a, b in itertools.pairwise(points):
        if b <= a:
            continue
        covering = [hid for hid, (s, e) in spans.items() if s <= a and b <= e]
        pieces.append(Piece(text[a:b], min(covering) if covering else None))
    return NoteView(text, title, pieces, spans, masked, is_masked)


def span_from_view(view: NoteView, start: int, end: int, quote: str | None) -> tuple[int, int]:
    """A span the caller chose on the text they see, as offsets of the stored note."""
    if not 0 <= start < end <= len(view.text):
        raise InvalidInput(
            f"the selection {start}..{end} is outside the note ({len(view.text)} characters)"
        )
    if quote is not None and " ".join(quote.split()) != " ".join(view.text[start:end].split()):
        raise InvalidInput("the selected words are not at that place of the note: select again")
    return view.masked.to_original(start), view.masked.to_original(end, end=True)


def note_titles(
    db: Session, principal: Principal, vault: Vault, notes: list[Note]
) -> dict[int, str]:
    """Each note's title as the caller may see it (participants' names replaced by
    pseudonyms without people.pii): a title like "Call with <name>" is the caller's to read
    only with that permission."""
    if pii(principal):
        return {n.id: n.title for n in notes}
    return {n.id: mask(n.title, who.note_people(db, n, vault)).text for n in notes}


def session_titles(
    db: Session, principal: Principal, vault: Vault, sessions: list[Any]
) -> dict[int, str]:
    """Each session's title as the caller may see it (its participant's name masked)."""
    if pii(principal):
        return {s.id: s.title for s in sessions}
    return {
        s.id: mask(s.title, who.who(db, [s.participant_id], None, vault)).text
        if s.participant_id
        else s.title
        for s in sessions
    }


def masked_quote(db: Session, principal: Principal, vault: Vault, h: Highlight) -> str:
    if pii(principal):
        return h.quote
    note = repo.get_note(db, h.note_id)
    people = who.note_people(db, note, vault)
    if h.participant_id:
        people += who.who(db, [h.participant_id], None, vault)
    return mask(h.quote, people).text


def max_upload(request: Request) -> int:
    return section(workspace_of(request)).max_transcript_bytes


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused past `limit` bytes without reading further."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise TooLarge(f"the file is over {limit:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the file is over {limit:,} bytes")
    return bytes(body)
