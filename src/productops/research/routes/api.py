"""`/api/v1/research/…`: studies, sessions, notes (and transcript uploads), highlights,
insights (and their evidence on feature requests), the one search, participants (consent,
contact history, incentives, status), consent texts, screeners and invitations; and
`/api/v1/people/{id}` erase and access export.

Every answer about participants is shaped by the caller: with people.pii names and contact
details, else pseudonyms. Notes and quotes are masked the same way."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from productops.core.auth import Principal
from productops.core.db import transaction
from productops.research.models import Highlight
from productops.research.participants import service as participants
from productops.research.permissions import (
    PEOPLE_ERASE,
    RESEARCH_OVERRIDE,
    RESEARCH_RECRUIT,
    RESEARCH_WRITE,
)
from productops.research.privacy.erase import erase_person
from productops.research.privacy.export import access_export
from productops.research.recruiting import service as recruiting
from productops.research.repository import service as repo
from productops.research.routes.common import (
    ConsentFilter,
    Day,
    InsightStatusFilter,
    MethodFilter,
    OptId,
    ParticipantStatusFilter,
    StudyStatusFilter,
    Text60,
    Text200,
    masked_quote,
    max_upload,
    names_for,
    note_view,
    pii,
    read_body,
    rules_of,
    span_from_view,
    vault_of,
)
from productops.research.schemas import (
    ConsentRecord,
    ConsentTextCreate,
    ContactCreate,
    HighlightCreate,
    HighlightPublic,
    IncentiveCreate,
    InsightCreate,
    InsightPublic,
    InsightUpdate,
    InvitationRequest,
    NoteCreate,
    NotePublic,
    NoteUpdate,
    ParticipantContact,
    ParticipantCreate,
    ParticipantPublic,
    ParticipantUpdate,
    Screener,
    ScreenerCreate,
    SessionCreate,
    SessionPublic,
    SpeakerLink,
    SpeakerPublic,
    StatusChange,
    StudyCreate,
    StudyPublic,
    StudyUpdate,
    TagChange,
)
from productops.research.search.service import Filters, what_we_know
from productops.research.settings import section
from productops.research.transcripts import read_transcript
from productops.web.deps import DbDep, ReadApi, reads_only, require, workspace_of
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import Offset, RecordId
from productops.web.responses import error_responses

api = APIRouter(prefix="/api/v1/research", tags=["research"])
people_api = APIRouter(prefix="/api/v1/people", tags=["research"])
WriteApi = Annotated[Principal, require(RESEARCH_WRITE)]
RecruitApi = Annotated[Principal, require(RESEARCH_RECRUIT)]
EraseApi = Annotated[Principal, require(PEOPLE_ERASE)]
Limit = Annotated[int, Query(ge=1, le=1000)]
NOT_FOUND = error_responses((404, "no such record"))


# --- studies and sessions ------------------------------------------------------------------


@api.get("/studies", responses=CSV_RESPONSE_DOC, response_model=list[StudyPublic])
def api_studies(
    db: DbDep,
    principal: ReadApi,
    q: Text200 = None,
    method: MethodFilter = None,
    status: StudyStatusFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> list[StudyPublic] | Response:
    """Studies, newest first; `format=csv` gives every match."""
    rows, _ = repo.list_studies(
        db,
        q=q,
        method=method,
        status=status,
        limit=None if format == "csv" else limit,
        offset=offset,
    )
    out = [StudyPublic.model_validate(s) for s in rows]
    if format == "csv":
        columns = list(StudyPublic.model_fields)
        return csv_response(columns, [[getattr(s, c) for c in columns] for s in out], "studies")
    return out


@api.post(
    "/studies",
    status_code=201,
    responses=error_responses((404, "a linked user, objective or feature request does not exist")),
)
def api_create_study(db: DbDep, principal: WriteApi, body: StudyCreate) -> StudyPublic:
    return StudyPublic.model_validate(repo.create_study(db, body, principal.actor))


@api.get("/studies/{study_id}", responses=NOT_FOUND)
def api_study(db: DbDep, principal: ReadApi, study_id: RecordId) -> StudyPublic:
    return StudyPublic.model_validate(repo.get_study(db, study_id))


@api.patch("/studies/{study_id}", responses=NOT_FOUND)
def api_update_study(
    db: DbDep, principal: WriteApi, study_id: RecordId, body: StudyUpdate
) -> StudyPublic:
    return StudyPublic.model_validate(repo.update_study(db, study_id, body, principal.actor))


def _session_out(db: DbDep, principal: Principal, rows: list[Any]) -> list[SessionPublic]:
    names = names_for(db, principal, {r.participant_id or 0 for r in rows})
    return [
        SessionPublic(
            id=r.id,
            study_id=r.study_id,
            title=r.title,
            participant=names.get(r.participant_id or 0),
            happened_at=r.happened_at,
            duration_minutes=r.duration_minutes,
        )
        for r in rows
    ]


@api.get("/studies/{study_id}/sessions", responses=NOT_FOUND)
def api_sessions(db: DbDep, principal: ReadApi, study_id: RecordId) -> list[SessionPublic]:
    repo.get_study(db, study_id)
    return _session_out(db, principal, repo.sessions_of(db, study_id))


@api.post("/studies/{study_id}/sessions", status_code=201, responses=NOT_FOUND)
def api_create_session(
    db: DbDep, principal: WriteApi, study_id: RecordId, body: SessionCreate
) -> SessionPublic:
    return _session_out(db, principal, [repo.create_session(db, study_id, body, principal.actor)])[
        0
    ]


# --- notes, transcripts, highlights ----------------------------------------------------------


def _note_out(request: Request, db: DbDep, principal: Principal, note: Any) -> NotePublic:
    view = note_view(db, note, principal, vault_of(request), [])
    speakers = repo.speakers_of(db, note.id)
    names = names_for(db, principal, {s.participant_id or 0 for s in speakers})
    masked = not pii(principal)
    shown = [
        SpeakerPublic(
            label=names.get(s.participant_id or 0, s.label)
            if s.participant_id and masked
            else s.label,
            role=s.role,
            participant=names.get(s.participant_id or 0),
        )
        for s in speakers
    ]
    return NotePublic(
        id=note.id, study_id=note.study_id, session_id=note.session_id, title=view.title,
        body=view.text, source=note.source, speakers=shown, created_at=note.created_at,
        updated_at=note.updated_at,
    )  # fmt: skip


@api.get("/studies/{study_id}/notes", responses=NOT_FOUND)
def api_notes(
    request: Request, db: DbDep, principal: ReadApi, study_id: RecordId
) -> list[NotePublic]:
    repo.get_study(db, study_id)
    return [_note_out(request, db, principal, n) for n in repo.notes_of(db, study_id)]


@api.post("/studies/{study_id}/notes", status_code=201, responses=NOT_FOUND)
def api_create_note(
    request: Request, db: DbDep, principal: WriteApi, study_id: RecordId, body: NoteCreate
) -> NotePublic:
    note = repo.create_note(db, study_id, body, principal.actor)
    return _note_out(request, db, principal, note)


# A file name without folders whose extension says the kind (any case).
TRANSCRIPT_NAME = (
    r"^[^/\\\x00]+\.([Tt][Xx][Tt]|[Mm][Dd]|[Mm][Aa][Rr][Kk][Dd][Oo][Ww][Nn]|[Vv][Tt][Tt]|"
    r"[Ss][Rr][Tt]|[Dd][Oo][Cc][Xx])$"
)
_UPLOAD = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@api.post(
    "/studies/{study_id}/transcripts",
    status_code=201,
    openapi_extra=_UPLOAD,
    responses=error_responses((404, "no such study or session"), (413, "the file is too large")),
)
async def api_upload_transcript(
    request: Request,
    db: DbDep,
    principal: WriteApi,
    study_id: RecordId,
    filename: Annotated[str, Query(min_length=1, max_length=200, pattern=TRANSCRIPT_NAME)],
    title: Annotated[str | None, Query(max_length=300)] = None,
    session_id: OptId = None,
) -> NotePublic:
    """Import a transcript or notes file (the body; `filename` says its kind: .txt, .md,
    .vtt, .srt, .docx) as a note of the study."""
    limit = max_upload(request)
    data = await read_body(request, limit)
    transcript = read_transcript(
        filename, data, max_bytes=limit,
        max_unpacked=section(workspace_of(request)).max_docx_unpacked_bytes,
    )  # fmt: skip
    note = repo.import_transcript(
        db, study_id, transcript, title=title or filename, actor=principal.actor,
        session_id=session_id, source_name=filename,
    )  # fmt: skip
    return _note_out(request, db, principal, note)


@api.get("/notes/{note_id}", responses=NOT_FOUND)
def api_note(request: Request, db: DbDep, principal: ReadApi, note_id: RecordId) -> NotePublic:
    return _note_out(request, db, principal, repo.get_note(db, note_id))


class NoteChanged(BaseModel):
    note: NotePublic
    highlights_lost: int = Field(description="highlights whose words the edit removed")


@api.patch("/notes/{note_id}", responses=NOT_FOUND)
def api_update_note(
    request: Request, db: DbDep, principal: WriteApi, note_id: RecordId, body: NoteUpdate
) -> NoteChanged:
    """Change a note (a caller without people.pii cannot change one that names
    participants: they see it masked)."""
    note = repo.get_note(db, note_id)
    if body.body is not None and note_view(db, note, principal, vault_of(request), []).is_masked:
        from productops.core.errors import PermissionDenied

        raise PermissionDenied("this note names participants: changing its words needs people.pii")
    note, lost = repo.update_note(db, note_id, body, principal.actor)
    return NoteChanged(note=_note_out(request, db, principal, note), highlights_lost=lost)


@api.delete("/notes/{note_id}", status_code=204, responses=NOT_FOUND)
def api_delete_note(db: DbDep, principal: WriteApi, note_id: RecordId) -> Response:
    repo.delete_note(db, note_id, principal.actor)
    return Response(status_code=204)


@api.post("/notes/{note_id}/speakers", responses=NOT_FOUND)
def api_link_speaker(
    db: DbDep, principal: WriteApi, note_id: RecordId, body: SpeakerLink
) -> SpeakerPublic:
    """Say who a speaker label is (the label as stored: callers without people.pii see
    pseudonyms instead of labels that name participants, and link by participant id)."""
    speaker = repo.link_speaker(db, note_id, body, principal.actor)
    names = names_for(db, principal, {speaker.participant_id or 0})
    label = (
        speaker.label
        if pii(principal) or not speaker.participant_id
        else names[speaker.participant_id]
    )
    return SpeakerPublic(
        label=label, role=speaker.role, participant=names.get(speaker.participant_id or 0)
    )


def _highlights_out(
    request: Request,
    db: DbDep,
    principal: Principal,
    rows: list[Highlight],
    spans: dict[int, tuple[int, int]] | None = None,
) -> list[HighlightPublic]:
    vault = vault_of(request)
    names = names_for(db, principal, {h.participant_id or 0 for h in rows})
    tags = repo.tag_names(db, [h.id for h in rows])
    out = []
    for h in rows:
        start, end = (spans or {}).get(h.id, (h.start, h.end))
        out.append(
            HighlightPublic(
                id=h.id,
                note_id=h.note_id,
                study_id=h.study_id,
                session_id=h.session_id,
                participant=names.get(h.participant_id or 0),
                start=start,
                end=end,
                quote=masked_quote(db, principal, vault, h),
                tags=tags.get(h.id, []),
                created_at=h.created_at,
            )
        )
    return out


@api.get("/notes/{note_id}/highlights", responses=NOT_FOUND)
def api_note_highlights(
    request: Request, db: DbDep, principal: ReadApi, note_id: RecordId
) -> list[HighlightPublic]:
    """A note's highlights, their spans in the text the caller sees."""
    note = repo.get_note(db, note_id)
    rows = repo.highlights_of(db, note_id=note_id, limit=None)
    view = note_view(db, note, principal, vault_of(request), rows)
    return _highlights_out(request, db, principal, rows, view.spans)


@api.post("/notes/{note_id}/highlights", status_code=201, responses=NOT_FOUND)
def api_create_highlight(
    request: Request, db: DbDep, principal: WriteApi, note_id: RecordId, body: HighlightCreate
) -> HighlightPublic:
    """Highlight an exact span of the note as the caller sees it (`GET /notes/{id}` text),
    with tags (ids of the shared taxonomy, or new names)."""
    note = repo.get_note(db, note_id)
    view = note_view(db, note, principal, vault_of(request), [])
    start, end = span_from_view(view, body.start, body.end, body.quote)
    h = repo.create_highlight(db, note_id, start, end, principal.actor)
    if body.tag_ids or body.new_tags:
        repo.tag_highlight(db, h.id, body.tag_ids, principal.actor, new_tags=body.new_tags)
    spans = note_view(db, note, principal, vault_of(request), [h]).spans
    return _highlights_out(request, db, principal, [h], spans)[0]


@api.get("/highlights", responses=CSV_RESPONSE_DOC, response_model=list[HighlightPublic])
def api_highlights(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    study: OptId = None,
    tag: OptId = None,
    participant: OptId = None,
    limit: Limit = 500,
    format: Literal["json", "csv"] = "json",
) -> list[HighlightPublic] | Response:
    rows = repo.highlights_of(
        db,
        study_id=study,
        tag_id=tag,
        participant_id=participant,
        limit=None if format == "csv" else limit,
    )
    out = _highlights_out(request, db, principal, rows)
    if format == "csv":
        columns = [
            "id",
            "note_id",
            "study_id",
            "session_id",
            "participant",
            "quote",
            "tags",
            "created_at",
        ]
        return csv_response(
            columns,
            [
                [
                    h.id,
                    h.note_id,
                    h.study_id,
                    h.session_id,
                    h.participant,
                    h.quote,
                    "; ".join(h.tags),
                    h.created_at,
                ]
                for h in out
            ],
            "highlights",
        )
    return out


@api.put("/highlights/{highlight_id}/tags", responses=NOT_FOUND)
def api_tag_highlight(
    db: DbDep, principal: WriteApi, highlight_id: RecordId, body: TagChange
) -> list[str]:
    """Set a highlight's tags (ids of the shared taxonomy, or new names); returns their names."""
    repo.tag_highlight(
        db, highlight_id, body.tag_ids, principal.actor, new_tags=body.new_tags, replace=True
    )
    return repo.tag_names(db, [highlight_id]).get(highlight_id, [])


@api.delete("/highlights/{highlight_id}", status_code=204, responses=NOT_FOUND)
def api_delete_highlight(db: DbDep, principal: WriteApi, highlight_id: RecordId) -> Response:
    repo.delete_highlight(db, highlight_id, principal.actor)
    return Response(status_code=204)


# --- insights --------------------------------------------------------------------------------


def _insights_out(
    request: Request, db: DbDep, principal: Principal, rows: list[Any]
) -> list[InsightPublic]:
    ids = [i.id for i in rows]
    backing = repo.insight_highlights(db, ids)
    tags = repo.insight_tags(db, ids)
    reqs = repo.requests_of(db, ids)
    return [
        InsightPublic(
            id=i.id,
            title=i.title,
            body=i.body,
            study_id=i.study_id,
            status=i.status,
            highlights=_highlights_out(request, db, principal, backing.get(i.id, [])),
            tags=tags.get(i.id, []),
            request_ids=reqs.get(i.id, []),
            created_at=i.created_at,
        )
        for i in rows
    ]


@api.get("/insights", responses=CSV_RESPONSE_DOC, response_model=list[InsightPublic])
def api_insights(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    q: Text200 = None,
    study: OptId = None,
    tag: OptId = None,
    status: InsightStatusFilter = None,
    request_id: Annotated[int | None, Query(alias="request", ge=1, le=2**31 - 1)] = None,
    format: Literal["json", "csv"] = "json",
) -> list[InsightPublic] | Response:
    """Insights (the board); `request` gives those attached to a feature request."""
    if request_id is not None:
        rows = repo.insights_for_request(db, request_id)
    else:
        rows = repo.list_insights(db, study_id=study, tag_id=tag, status=status, q=q, limit=None)
    out = _insights_out(request, db, principal, rows)
    if format == "csv":
        return csv_response(
            ["id", "title", "status", "study_id", "highlights", "tags", "feature_requests", "body"],
            [
                [
                    i.id,
                    i.title,
                    i.status,
                    i.study_id,
                    len(i.highlights),
                    "; ".join(i.tags),
                    " ".join(map(str, i.request_ids)),
                    i.body,
                ]
                for i in out
            ],
            "insights",
        )
    return out


@api.post("/insights", status_code=201, responses=NOT_FOUND)
def api_create_insight(
    request: Request, db: DbDep, principal: WriteApi, body: InsightCreate
) -> InsightPublic:
    return _insights_out(request, db, principal, [repo.create_insight(db, body, principal.actor)])[
        0
    ]


@api.get("/insights/{insight_id}", responses=NOT_FOUND)
def api_insight(
    request: Request, db: DbDep, principal: ReadApi, insight_id: RecordId
) -> InsightPublic:
    return _insights_out(request, db, principal, [repo.get_insight(db, insight_id)])[0]


@api.patch("/insights/{insight_id}", responses=NOT_FOUND)
def api_update_insight(
    request: Request, db: DbDep, principal: WriteApi, insight_id: RecordId, body: InsightUpdate
) -> InsightPublic:
    return _insights_out(
        request, db, principal, [repo.update_insight(db, insight_id, body, principal.actor)]
    )[0]


class EvidenceIn(BaseModel):
    request_id: int = Field(ge=1, le=2**31 - 1)


@api.post(
    "/insights/{insight_id}/evidence",
    status_code=201,
    responses=error_responses(
        (404, "no such insight or feature request"), (409, "already attached")
    ),
)
def api_attach_insight(
    request: Request, db: DbDep, principal: WriteApi, insight_id: RecordId, body: EvidenceIn
) -> InsightPublic:
    """Attach the insight to a feature request of the feedback hub as evidence."""
    repo.attach_to_request(db, insight_id, body.request_id, principal.actor)
    return _insights_out(request, db, principal, [repo.get_insight(db, insight_id)])[0]


@api.delete("/insights/{insight_id}/evidence/{request_id}", status_code=204, responses=NOT_FOUND)
def api_detach_insight(
    db: DbDep, principal: WriteApi, insight_id: RecordId, request_id: RecordId
) -> Response:
    repo.detach_from_request(db, insight_id, request_id, principal.actor)
    return Response(status_code=204)


# --- search ----------------------------------------------------------------------------------


class FoundOut(BaseModel):
    kind: Literal["insight", "highlight", "note"]
    id: int
    note_id: int | None
    study_id: int | None
    text: str = Field(description="participants' names appear as pseudonyms")
    score: float
    day: dt.datetime


class FeedbackFound(BaseModel):
    id: int
    source: str
    title: str | None
    text: str
    created_at: dt.datetime
    score: float


class KnowledgeOut(BaseModel):
    """Insights first, then highlights, then note passages, then raw feedback."""

    query: str
    insights: list[FoundOut]
    highlights: list[FoundOut]
    notes: list[FoundOut]
    feedback: list[FeedbackFound]
    totals: dict[str, int]
    feedback_left_out: bool = Field(description="a study or method filter leaves feedback out")
    took_ms: float


@api.get("/search")
@reads_only
def api_search(
    request: Request,
    principal: ReadApi,
    q: Annotated[
        str, Query(min_length=1, max_length=500, description="what do we already know about…")
    ],
    study: OptId = None,
    method: MethodFilter = None,
    tag: OptId = None,
    segment: Text60 = None,
    since: Day = None,
    until: Day = None,
    per_kind: Annotated[int, Query(ge=1, le=100)] = 10,
) -> KnowledgeOut:
    """One search over research and feedback (full text and meaning)."""
    f = Filters(
        study_id=study, method=method, tag_id=tag, segment=segment, since=since, until=until
    )
    a = what_we_know(workspace_of(request), q, f, per_kind=per_kind)

    def found(rows: list[Any]) -> list[FoundOut]:
        return [
            FoundOut(
                kind=r.kind,
                id=r.ref_id,
                note_id=r.note_id,
                study_id=r.study_id,
                text=r.text,
                score=r.score,
                day=r.day,
            )
            for r in rows
        ]

    fb = [
        FeedbackFound(
            id=h.item.id,
            source=h.item.source,
            title=h.item.title,
            text=h.item.text[:2000],
            created_at=h.item.created_at,
            score=h.score,
        )
        for h in a.feedback
    ]
    return KnowledgeOut(
        query=a.query, insights=found(a.insights), highlights=found(a.highlights),
        notes=found(a.notes), feedback=fb, totals=a.totals,
        feedback_left_out=a.feedback_left_out, took_ms=a.took_ms,
    )  # fmt: skip


# --- participants ----------------------------------------------------------------------------


def _participant_out(principal: Principal, r: participants.ParticipantRow) -> ParticipantPublic:
    base = {
        "id": r.id, "pseudonym": r.pseudonym, "segment": r.segment, "plan": r.plan,
        "status": r.state.status, "consent": r.consent, "last_contacted_at": r.last_contacted_at,
        "sessions": r.sessions, "invitations_in_period": r.invitations_in_period,
    }  # fmt: skip
    if pii(principal):
        return ParticipantContact(
            **base,
            person_id=r.person_id,
            name=r.name,
            email=r.email,
            phone=r.phone,
            account=r.account,
        )
    return ParticipantPublic(**base)


@api.get(
    "/participants",
    responses=CSV_RESPONSE_DOC,
    response_model=list[ParticipantContact | ParticipantPublic],
)
def api_participants(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    q: Text200 = None,
    status: ParticipantStatusFilter = None,
    segment: Text60 = None,
    plan: Text60 = None,
    consent: ConsentFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> list[ParticipantPublic] | Response:
    """Participants with their contact state; names and contact details only with people.pii."""
    rows, _ = participants.list_participants(
        db, rules_of(request), q=q, status=status, segment=segment, plan=plan, consent=consent,
        vault=vault_of(request) if pii(principal) else None,
        limit=None if format == "csv" else limit, offset=offset,
    )  # fmt: skip
    out = [_participant_out(principal, r) for r in rows]
    if format == "csv":
        columns = list(type(out[0]).model_fields) if out else list(ParticipantPublic.model_fields)
        return csv_response(
            columns, [[getattr(p, c) for c in columns] for p in out], "participants"
        )
    return out


@api.post("/participants", status_code=201, responses=error_responses((404, "no such person"), 409))
def api_create_participant(
    request: Request, db: DbDep, principal: RecruitApi, body: ParticipantCreate
) -> ParticipantContact | ParticipantPublic:
    p = participants.create_participant(db, vault_of(request), body, principal.actor, source="api")
    row = participants.participant_row(
        db, p.id, rules_of(request), vault_of(request) if pii(principal) else None
    )
    return _participant_out(principal, row)


@api.get(
    "/participants/{participant_id}",
    responses=NOT_FOUND,
    response_model=ParticipantContact | ParticipantPublic,
)
def api_participant(
    request: Request, db: DbDep, principal: ReadApi, participant_id: RecordId
) -> ParticipantPublic:
    row = participants.participant_row(
        db, participant_id, rules_of(request), vault_of(request) if pii(principal) else None
    )
    return _participant_out(principal, row)


@api.patch(
    "/participants/{participant_id}",
    responses=NOT_FOUND,
    response_model=ParticipantContact | ParticipantPublic,
)
def api_update_participant(
    request: Request,
    db: DbDep,
    principal: RecruitApi,
    participant_id: RecordId,
    body: ParticipantUpdate,
) -> ParticipantPublic:
    participants.update_participant(db, vault_of(request), participant_id, body, principal.actor)
    row = participants.participant_row(
        db, participant_id, rules_of(request), vault_of(request) if pii(principal) else None
    )
    return _participant_out(principal, row)


@api.post(
    "/participants/{participant_id}/status",
    responses=NOT_FOUND,
    response_model=ParticipantContact | ParticipantPublic,
)
def api_participant_status(
    request: Request, db: DbDep, principal: RecruitApi, participant_id: RecordId, body: StatusChange
) -> ParticipantPublic:
    """Set the contact status; lifting one back to free needs research.override and a reason."""
    participants.set_status(
        db, participant_id, body, principal.actor, can_override=principal.can(RESEARCH_OVERRIDE)
    )
    row = participants.participant_row(
        db, participant_id, rules_of(request), vault_of(request) if pii(principal) else None
    )
    return _participant_out(principal, row)


class ContactOut(BaseModel):
    kind: str
    study_id: int | None
    at: dt.datetime
    channel: str
    overridden: str | None


@api.get("/participants/{participant_id}/contacts", responses=NOT_FOUND)
def api_contacts(db: DbDep, principal: ReadApi, participant_id: RecordId) -> list[ContactOut]:
    participants.get_participant(db, participant_id)
    return [
        ContactOut(
            kind=c.kind, study_id=c.study_id, at=c.at, channel=c.channel, overridden=c.overridden
        )
        for c in participants.contacts_of(db, participant_id)
    ]


@api.post(
    "/participants/{participant_id}/contacts",
    status_code=201,
    responses=error_responses(
        (404, "no such participant or study"),
        (409, "in cooldown or do not contact (send override), or no consent to the current text"),
    ),
)
def api_record_contact(
    request: Request,
    db: DbDep,
    principal: RecruitApi,
    participant_id: RecordId,
    body: ContactCreate,
) -> ContactOut:
    c = participants.record_contact(
        db,
        participant_id,
        body,
        principal.actor,
        rules_of(request),
        can_override=principal.can(RESEARCH_OVERRIDE),
    )
    return ContactOut(
        kind=c.kind, study_id=c.study_id, at=c.at, channel=c.channel, overridden=c.overridden
    )


@api.post("/participants/{participant_id}/consents", status_code=201, responses=NOT_FOUND)
def api_record_consent(
    db: DbDep, principal: RecruitApi, participant_id: RecordId, body: ConsentRecord
) -> dict[str, Any]:
    """Record consent to a version of the consent text (default: current), or its withdrawal."""
    participants.record_consent(db, participant_id, body, principal.actor)
    state, version = participants.consent_states(db, [participant_id])[participant_id]
    return {"consent": state, "version": version}


class IncentiveOut(BaseModel):
    amount: float
    currency: str
    kind: str
    study_id: int | None
    paid_at: dt.datetime


@api.get("/participants/{participant_id}/incentives", responses=NOT_FOUND)
def api_incentives(db: DbDep, principal: ReadApi, participant_id: RecordId) -> list[IncentiveOut]:
    participants.get_participant(db, participant_id)
    return [
        IncentiveOut.model_validate(i, from_attributes=True)
        for i in participants.incentives_of(db, participant_id)
    ]


@api.post("/participants/{participant_id}/incentives", status_code=201, responses=NOT_FOUND)
def api_pay_incentive(
    db: DbDep, principal: RecruitApi, participant_id: RecordId, body: IncentiveCreate
) -> IncentiveOut:
    return IncentiveOut.model_validate(
        participants.pay_incentive(db, participant_id, body, principal.actor), from_attributes=True
    )


_CSV_BODY = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@api.post(
    "/participants/import",
    openapi_extra=_CSV_BODY,
    responses=error_responses((413, "the file is over 20 MiB")),
)
@reads_only  # the import is a transaction of its own
async def api_import_participants(
    request: Request,
    principal: RecruitApi,
    filename: Annotated[str, Query(max_length=200)] = "participants.csv",
) -> dict[str, int]:
    """Add or update participants from a CSV body (email, name, phone, segment,
    account_external_id, external_id, status). All or nothing."""
    data = await read_body(request, 20 * 1024 * 1024)
    from starlette.concurrency import run_in_threadpool

    ws = workspace_of(request)
    vault = vault_of(request)

    def work() -> dict[str, int]:
        with transaction(ws.sessions) as s:
            return participants.import_participants(s, vault, data, principal.actor, name=filename)

    return await run_in_threadpool(work)


class FeedbackPeopleIn(BaseModel):
    model_config = {"extra": "forbid"}

    since: dt.date | None = None
    tag_id: int | None = Field(default=None, ge=1, le=2**31 - 1)


@api.post("/participants/import-feedback")
def api_import_feedback_people(
    request: Request, db: DbDep, principal: RecruitApi, body: FeedbackPeopleIn
) -> dict[str, int]:
    """Make participants of the people who gave feedback (since a day, with a tag)."""
    return participants.import_feedback_people(
        db, vault_of(request), principal.actor, since=body.since, tag_id=body.tag_id
    )


class ConsentTextOut(BaseModel):
    version: int
    title: str
    body: str
    created_at: dt.datetime


@api.get("/consent-texts")
def api_consent_texts(db: DbDep, principal: ReadApi) -> list[ConsentTextOut]:
    return [
        ConsentTextOut.model_validate(t, from_attributes=True)
        for t in participants.consent_texts(db)
    ]


@api.post("/consent-texts", status_code=201)
def api_add_consent_text(
    db: DbDep, principal: RecruitApi, body: ConsentTextCreate
) -> ConsentTextOut:
    """A new version of the consent text: everyone who agreed to an older one must consent again."""
    return ConsentTextOut.model_validate(
        participants.add_consent_text(db, body, principal.actor), from_attributes=True
    )


# --- recruiting ------------------------------------------------------------------------------


class CandidateOut(BaseModel):
    participant: str = Field(description="pseudonym")
    id: int
    segment: str | None
    plan: str | None
    status: str
    eligible: bool
    reasons: list[str]
    overridable: bool


class EligibilityOut(BaseModel):
    counts: dict[str, int]
    took_ms: float
    candidates: list[CandidateOut]


@api.post("/recruit/eligibility")
@reads_only
def api_eligibility(
    request: Request,
    db: DbDep,
    principal: ReadApi,
    body: Screener,
    only: Literal["eligible", "not_eligible", "all"] = "all",
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
) -> EligibilityOut:
    """Every participant against a screener and the rules: eligible, or why not."""
    result = recruiting.eligibility(workspace_of(request), db, body, rules_of(request))
    rows = [c for c in result.candidates if only == "all" or c.eligible == (only == "eligible")][
        :limit
    ]
    candidates = [
        CandidateOut(
            participant=c.pseudonym,
            id=c.id,
            segment=c.segment,
            plan=c.plan,
            status=c.status,
            eligible=c.eligible,
            reasons=c.reasons,
            overridable=c.overridable,
        )
        for c in rows
    ]
    return EligibilityOut(counts=result.counts, took_ms=result.took_ms, candidates=candidates)


class InvitationOut(BaseModel):
    invited: int
    overridden: int
    emailed: int
    skipped: dict[str, str]
    export: list[dict[str, Any]] | None = Field(
        default=None, description="whom to write to, when not emailed"
    )


@api.post("/recruit/invitations", responses=error_responses((404, "no such study")))
@reads_only  # each invitation is recorded in a transaction of its own
def api_invite(request: Request, principal: RecruitApi, body: InvitationRequest) -> InvitationOut:
    """Invite participants through the rules (opted out and blocklisted never; cooldown and
    do-not-contact only with `override` and research.override)."""
    result = recruiting.invite(
        workspace_of(request), body.study_id, body.participant_ids, principal.actor,
        rules=rules_of(request), vault=vault_of(request),
        can_override=principal.can(RESEARCH_OVERRIDE), override=body.override,
        send_email=body.send_email, subject=body.subject, message=body.message,
    )  # fmt: skip
    export = None
    if result.export is not None:
        columns, rows = result.export
        export = [dict(zip(columns, r, strict=True)) for r in rows]
    d = result.as_dict()
    return InvitationOut(
        invited=d["invited"],
        overridden=d["overridden"],
        emailed=d["emailed"],
        skipped=d["skipped"],
        export=export,
    )


class ScreenerOut(BaseModel):
    id: int
    name: str
    study_id: int | None
    criteria: dict[str, Any]


@api.get("/screeners")
def api_screeners(db: DbDep, principal: ReadApi) -> list[ScreenerOut]:
    return [ScreenerOut.model_validate(s, from_attributes=True) for s in recruiting.screeners(db)]


@api.post("/screeners", status_code=201, responses=NOT_FOUND)
def api_save_screener(db: DbDep, principal: RecruitApi, body: ScreenerCreate) -> ScreenerOut:
    return ScreenerOut.model_validate(
        recruiting.save_screener(db, body, principal.actor), from_attributes=True
    )


# --- privacy requests on one person ----------------------------------------------------------


@people_api.delete("/{person_id}", responses=NOT_FOUND)
@reads_only  # the erasure runs its own transactions (event store, then the app database)
def api_erase_person(request: Request, principal: EraseApi, person_id: RecordId) -> dict[str, Any]:
    """Erase a person everywhere (participants, notes' speaker labels, feedback, events and
    quarantined events, search indexes) in one audited operation; returns what went."""
    return erase_person(workspace_of(request), person_id, principal.actor)


@people_api.get("/{person_id}/export", responses=NOT_FOUND)
@reads_only
def api_access_export(request: Request, principal: EraseApi, person_id: RecordId) -> dict[str, Any]:
    """Everything held on one person (a GDPR access request); the request is audited."""
    return access_export(workspace_of(request), person_id, principal.actor)
