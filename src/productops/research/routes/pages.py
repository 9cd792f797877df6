"""The repository's pages: "what do we already know" (one search over research and
feedback), studies, a study, the note editor with highlighting, the insight board and an
insight's page."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import BeforeValidator

from productops import customers, feedback
from productops.core.auth import Principal
from productops.core.errors import InvalidInput
from productops.core.models import User
from productops.research.models import INSIGHT_STATUSES, METHODS, STUDY_STATUSES
from productops.research.participants import service as participants
from productops.research.participants.rules import Rules
from productops.research.permissions import RESEARCH_RECRUIT, RESEARCH_WRITE
from productops.research.repository import service as repo
from productops.research.routes.common import (
    SUBNAV,
    Day,
    InsightStatusFilter,
    MethodFilter,
    OptId,
    StudyStatusFilter,
    Text60,
    Text200,
    masked_quote,
    max_upload,
    names_for,
    note_titles,
    note_view,
    pii,
    session_titles,
    span_from_view,
    vault_of,
)
from productops.research.schemas import (
    InsightCreate,
    InsightUpdate,
    NoteCreate,
    NoteUpdate,
    SessionCreate,
    SpeakerLink,
    StudyCreate,
    StudyUpdate,
)
from productops.research.search.service import Filters, what_we_know
from productops.research.transcripts import read_transcript
from productops.web.deps import DbDep, ReadPage, is_fragment, require, workspace_of
from productops.web.export import csv_response
from productops.web.params import blank_is_none
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
WritePage = Annotated[Principal, require(RESEARCH_WRITE, page=True)]
FormId = Annotated[int | None, Form(), BeforeValidator(blank_is_none)]
FormText = Annotated[str, Form(max_length=300)]


def _base(db: DbDep, principal: Principal) -> dict[str, Any]:
    return {
        "subnav": SUBNAV,
        "can_write": principal.can(RESEARCH_WRITE),
        "can_recruit": principal.can(RESEARCH_RECRUIT),
        "show_pii": pii(principal),
    }


def _choices(db: DbDep) -> dict[str, Any]:
    studies, _ = repo.list_studies(db, limit=None)
    return {
        "studies": studies,
        "methods": METHODS,
        "tags": repo.tags_in_use(db),
        "segments": participants.segments_in_use(db),
    }


# --- what do we already know -------------------------------------------------------------


@pages.get("/research")
def search_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Text200 = None,
    study: OptId = None,
    method: MethodFilter = None,
    tag: OptId = None,
    segment: Text60 = None,
    since: Day = None,
    until: Day = None,
) -> Response:
    """One search over research and feedback: insights first, then highlights, then notes,
    then raw feedback."""
    f = Filters(
        study_id=study, method=method, tag_id=tag, segment=segment, since=since, until=until
    )
    answer = what_we_know(workspace_of(request), q, f) if q else None
    context: dict[str, Any] = {
        **_base(db, principal),
        **_choices(db),
        "snippet": snippet,
        "q": q or "",
        "f": f,
        "answer": answer,
        "recent": repo.list_insights(db, limit=8),
    }
    if answer is not None:
        notes = {n.id: n for n in _notes(db, [x.note_id for x in answer.highlights + answer.notes])}
        context["note_titles"] = note_titles(db, principal, vault_of(request), list(notes.values()))
        context["insight_titles"] = {
            i.id: i.title
            for i in repo.list_insights(db, limit=None)
            if i.id in {x.ref_id for x in answer.insights}
        }
        items = [h.item for h in answer.feedback]
        accounts = (
            {
                a.id: a
                for a in customers.list_accounts(db, limit=None)[0]
                if a.id in {i.account_id for i in items}
            }
            if items
            else {}
        )
        context["accounts"] = accounts
    study_names = {s.id: s.title for s in context["studies"]}
    context["study_names"] = study_names
    response = render(
        request,
        "research/search_results.html" if is_fragment(request) else "research/search.html",
        context,
    )
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


_MARKS = re.compile(r"\*\*|__|^#+\s*", re.M)


def snippet(text: str, title: str | None, size: int) -> str:
    """A passage of the index as plain words: without the title line its link shows
    already, nor markdown's bold marks and heading signs."""
    first, _, rest = text.partition("\n")
    if title and rest and first.strip() == title.strip():
        text = rest
    return _MARKS.sub("", text).strip()[:size]


def _notes(db: DbDep, ids: list[int | None]) -> list[Any]:
    from sqlalchemy import select

    from productops.research.models import Note

    wanted = [i for i in ids if i]
    return list(db.scalars(select(Note).where(Note.id.in_(wanted)))) if wanted else []


# --- studies -------------------------------------------------------------------------------


@pages.get("/research/studies")
def studies_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Text200 = None,
    method: MethodFilter = None,
    status: StudyStatusFilter = None,
) -> Response:
    rows, total = repo.list_studies(db, q=q, method=method, status=status, limit=None)
    users = {u.id: u.name for u in db.query(User).all()}
    return render(
        request,
        "research/studies.html",
        {
            **_base(db, principal),
            "studies": rows,
            "total": total,
            "counts": repo.study_counts(db, [s.id for s in rows]),
            "users": users,
            "q": q or "",
            "method": method or "",
            "status": status or "",
            "methods": METHODS,
            "statuses": STUDY_STATUSES,
            "query": urlencode(
                {k: v for k, v in {"q": q, "method": method, "status": status}.items() if v}
            ),
            "requests": feedback.list_requests(db)[:300],
        },
    )


@pages.get("/research/studies.csv")
def studies_csv(
    db: DbDep,
    principal: ReadPage,
    q: Text200 = None,
    method: MethodFilter = None,
    status: StudyStatusFilter = None,
) -> Response:
    rows, _ = repo.list_studies(db, q=q, method=method, status=status, limit=None)
    counts = repo.study_counts(db, [s.id for s in rows])
    columns = ["id", "title", "method", "status", "starts_on", "ends_on", "goal", "sessions",
               "notes", "highlights", "insights", "objective_id", "request_id"]  # fmt: skip
    return csv_response(
        columns,
        [
            [
                s.id,
                s.title,
                s.method,
                s.status,
                s.starts_on,
                s.ends_on,
                s.goal,
                counts[s.id].sessions,
                counts[s.id].notes,
                counts[s.id].highlights,
                counts[s.id].insights,
                s.objective_id,
                s.request_id,
            ]
            for s in rows
        ],
        "studies",
    )


@pages.post("/research/studies")
def create_study_form(
    db: DbDep,
    principal: WritePage,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    method: Annotated[Literal[METHODS], Form()] = "interview",  # type: ignore[valid-type]
    goal: Annotated[str, Form(max_length=20_000)] = "",
    starts_on: Annotated[Any, Form(), BeforeValidator(blank_is_none)] = None,
    ends_on: Annotated[Any, Form(), BeforeValidator(blank_is_none)] = None,
    request_id: FormId = None,
    objective_id: FormId = None,
) -> Response:
    study = repo.create_study(
        db,
        StudyCreate(
            title=title,
            method=method,
            goal=goal,
            starts_on=starts_on,
            ends_on=ends_on,
            request_id=request_id,
            objective_id=objective_id,
            owner_id=principal.id,
        ),
        principal.actor,
    )
    return RedirectResponse(f"/research/studies/{study.id}", status_code=303)


@pages.get("/research/studies/{study_id}")
def study_page(request: Request, db: DbDep, principal: ReadPage, study_id: int) -> Response:
    study = repo.get_study(db, study_id)
    sessions = repo.sessions_of(db, study_id)
    notes = repo.notes_of(db, study_id)
    highlights = repo.highlights_of(db, study_id=study_id, limit=200)
    insights = repo.list_insights(db, study_id=study_id)
    vault = vault_of(request)
    names = names_for(
        db,
        principal,
        {s.participant_id or 0 for s in sessions} | {h.participant_id or 0 for h in highlights},
    )
    owner = db.get(User, study.owner_id) if study.owner_id else None
    request_title = None
    if study.request_id:
        request_title = feedback.get_request(db, study.request_id).title
    chooser = []
    if principal.can(RESEARCH_WRITE):
        rows, _ = participants.list_participants(
            db, Rules(), limit=300, vault=vault if pii(principal) else None
        )
        chooser = [(r.id, r.name or r.pseudonym if pii(principal) else r.pseudonym) for r in rows]
    return render(
        request,
        "research/study.html",
        {
            **_base(db, principal),
            "study": study,
            "owner": owner,
            "request_title": request_title,
            "sessions": sessions,
            "notes": notes,
            "note_titles": note_titles(db, principal, vault, notes),
            "session_titles": session_titles(db, principal, vault, sessions),
            "highlights": highlights,
            "quotes": {h.id: masked_quote(db, principal, vault, h) for h in highlights},
            "tag_names": repo.tag_names(db, [h.id for h in highlights]),
            "insights": insights,
            "names": names,
            "methods": METHODS,
            "statuses": STUDY_STATUSES,
            "participants": chooser,
            "requests": feedback.list_requests(db)[:300],
        },
    )


@pages.post("/research/studies/{study_id}")
def update_study_form(
    db: DbDep,
    principal: WritePage,
    study_id: int,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    method: Annotated[Literal[METHODS], Form()],  # type: ignore[valid-type]
    status: Annotated[Literal[STUDY_STATUSES], Form()],  # type: ignore[valid-type]
    goal: Annotated[str, Form(max_length=20_000)] = "",
    starts_on: Annotated[Any, Form(), BeforeValidator(blank_is_none)] = None,
    ends_on: Annotated[Any, Form(), BeforeValidator(blank_is_none)] = None,
    request_id: FormId = None,
    objective_id: FormId = None,
) -> Response:
    repo.update_study(
        db,
        study_id,
        StudyUpdate(
            title=title,
            method=method,
            status=status,
            goal=goal,
            starts_on=starts_on,
            ends_on=ends_on,
            request_id=request_id,
            objective_id=objective_id,
        ),
        principal.actor,
    )
    return RedirectResponse(f"/research/studies/{study_id}", status_code=303)


@pages.post("/research/studies/{study_id}/sessions")
def create_session_form(
    db: DbDep,
    principal: WritePage,
    study_id: int,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    participant_id: FormId = None,
    happened_at: Annotated[Any, Form(), BeforeValidator(blank_is_none)] = None,
    duration_minutes: Annotated[
        int | None, Form(ge=1, le=1440), BeforeValidator(blank_is_none)
    ] = None,
) -> Response:
    repo.create_session(
        db,
        study_id,
        SessionCreate(
            title=title,
            participant_id=participant_id,
            happened_at=happened_at,
            duration_minutes=duration_minutes,
        ),
        principal.actor,
    )
    return RedirectResponse(f"/research/studies/{study_id}#sessions", status_code=303)


@pages.post("/research/studies/{study_id}/notes")
def create_note_form(
    db: DbDep,
    principal: WritePage,
    study_id: int,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    body: Annotated[str, Form(max_length=2_000_000)] = "",
    session_id: FormId = None,
) -> Response:
    note = repo.create_note(
        db, study_id, NoteCreate(title=title, body=body, session_id=session_id), principal.actor
    )
    return RedirectResponse(f"/research/notes/{note.id}", status_code=303)


@pages.post("/research/studies/{study_id}/transcripts")
async def upload_transcript_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    study_id: int,
    file: UploadFile,
    title: Annotated[str, Form(max_length=300)] = "",
    session_id: FormId = None,
) -> Response:
    """Import a transcript or notes file (.txt, .md, .vtt, .srt, .docx) as a note."""
    limit = max_upload(request)
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise InvalidInput(f"{file.filename or 'the file'} is over {limit:,} bytes")
    from productops.research.settings import section

    transcript = read_transcript(
        file.filename or "upload.txt",
        data,
        max_bytes=limit,
        max_unpacked=section(workspace_of(request)).max_docx_unpacked_bytes,
    )
    name = (file.filename or "upload")[:300]
    note = repo.import_transcript(
        db, study_id, transcript, title=title.strip() or name, actor=principal.actor,
        session_id=session_id, source_name=name,
    )  # fmt: skip
    return RedirectResponse(f"/research/notes/{note.id}", status_code=303)


# --- the note editor -----------------------------------------------------------------------


@pages.get("/research/notes/{note_id}")
def note_page(request: Request, db: DbDep, principal: ReadPage, note_id: int) -> Response:
    note = repo.get_note(db, note_id)
    study = repo.get_study(db, note.study_id)
    highlights = repo.highlights_of(db, note_id=note_id, limit=None)
    vault = vault_of(request)
    view = note_view(db, note, principal, vault, highlights)
    speakers = repo.speakers_of(db, note_id)
    names = names_for(
        db,
        principal,
        {s.participant_id or 0 for s in speakers} | {h.participant_id or 0 for h in highlights},
    )
    session = repo.get_session(db, note.session_id) if note.session_id else None
    chooser = []
    if principal.can(RESEARCH_WRITE):
        rows, _ = participants.list_participants(
            db, Rules(), limit=300, vault=vault if pii(principal) else None
        )
        chooser = [(r.id, (r.name or r.pseudonym) if pii(principal) else r.pseudonym) for r in rows]
    return render(
        request,
        "research/note.html",
        {
            **_base(db, principal),
            "note": note,
            "study": study,
            "session": session,
            "session_title": (
                session_titles(db, principal, vault, [session])[session.id] if session else None
            ),
            "view": view,
            "highlights": highlights,
            "quotes": {
                h.id: view.text[view.spans[h.id][0] : view.spans[h.id][1]] for h in highlights
            },
            "tag_names": repo.tag_names(db, [h.id for h in highlights]),
            "all_tags": repo.tags_in_use(db),
            "speakers": speakers,
            "names": names,
            "participants": chooser,
            "can_edit_body": principal.can(RESEARCH_WRITE) and not view.is_masked,
            "insights": repo.list_insights(db, limit=None),
        },
    )


def _tag_input(tags: str) -> list[str]:
    return [t.strip() for t in tags.replace(";", ",").split(",") if t.strip()][:20]


@pages.post("/research/notes/{note_id}/highlights")
def create_highlight_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    note_id: int,
    start: Annotated[int, Form(ge=0, le=2_000_000)],
    end: Annotated[int, Form(ge=1, le=2_000_000)],
    quote: Annotated[str, Form(max_length=20_000)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
    insight_id: FormId = None,
) -> Response:
    """Select text → highlight → tag: the span is the one the caller selected in the text
    they see (pseudonyms and all), carried back to the stored note."""
    note = repo.get_note(db, note_id)
    view = note_view(
        db, note, principal, vault_of(request), repo.highlights_of(db, note_id=note_id, limit=None)
    )
    s, e = span_from_view(view, start, end, quote or None)
    h = repo.create_highlight(db, note_id, s, e, principal.actor)
    names = _tag_input(tags)
    if names:
        repo.tag_highlight(db, h.id, [], principal.actor, new_tags=names)
    if insight_id:
        repo.add_evidence(db, insight_id, h.id, principal.actor)
    return RedirectResponse(f"/research/notes/{note_id}#h{h.id}", status_code=303)


@pages.post("/research/highlights/{highlight_id}/tags")
def tag_highlight_form(
    db: DbDep,
    principal: WritePage,
    highlight_id: int,
    tags: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    h = repo.get_highlight(db, highlight_id)
    repo.tag_highlight(db, h.id, [], principal.actor, new_tags=_tag_input(tags), replace=True)
    return RedirectResponse(f"/research/notes/{h.note_id}#h{h.id}", status_code=303)


@pages.post("/research/highlights/{highlight_id}/delete")
def delete_highlight_form(db: DbDep, principal: WritePage, highlight_id: int) -> Response:
    h = repo.get_highlight(db, highlight_id)
    repo.delete_highlight(db, highlight_id, principal.actor)
    return RedirectResponse(f"/research/notes/{h.note_id}", status_code=303)


@pages.post("/research/notes/{note_id}")
def update_note_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    note_id: int,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    body: Annotated[str, Form(max_length=2_000_000)],
) -> Response:
    note = repo.get_note(db, note_id)
    view = note_view(db, note, principal, vault_of(request), [])
    if view.is_masked:
        raise InvalidInput("this note names participants: editing it needs people.pii")
    repo.update_note(
        db, note_id, NoteUpdate(title=title, body=body.replace("\r\n", "\n")), principal.actor
    )
    return RedirectResponse(f"/research/notes/{note_id}", status_code=303)


@pages.post("/research/notes/{note_id}/speakers")
def link_speaker_form(
    db: DbDep,
    principal: WritePage,
    note_id: int,
    label: Annotated[str, Form(min_length=1, max_length=200)],
    role: Annotated[Literal["participant", "researcher", "observer"], Form()] = "participant",
    participant_id: FormId = None,
) -> Response:
    note = repo.get_note(db, note_id)
    # Without people.pii the label shown is a pseudonym: find the stored label it stands for.
    speakers = {s.label: s for s in repo.speakers_of(db, note.id)}
    if label not in speakers:
        by_pseudonym = {
            names: s.label
            for s in speakers.values()
            if s.participant_id
            for names in names_for(db, principal, {s.participant_id}).values()
        }
        label = by_pseudonym.get(label, label)
    repo.link_speaker(
        db,
        note_id,
        SpeakerLink(label=label, role=role, participant_id=participant_id),
        principal.actor,
    )
    return RedirectResponse(f"/research/notes/{note_id}#speakers", status_code=303)


# --- insights ------------------------------------------------------------------------------


@pages.get("/research/insights")
def insights_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Text200 = None,
    study: OptId = None,
    tag: OptId = None,
    status: InsightStatusFilter = None,
) -> Response:
    """The insight board: every finding with its evidence count and tags, by status."""
    rows = repo.list_insights(db, study_id=study, tag_id=tag, status=status, q=q, limit=None)
    ids = [i.id for i in rows]
    backing = repo.insight_highlights(db, ids)
    studies, _ = repo.list_studies(db, limit=None)
    return render(
        request,
        "research/insights.html",
        {
            **_base(db, principal),
            "insights": rows,
            "backing": backing,
            "tags_of": repo.insight_tags(db, ids),
            "requests_of": repo.requests_of(db, ids),
            "studies": studies,
            "study_names": {s.id: s.title for s in studies},
            "tags": repo.tags_in_use(db),
            "statuses": INSIGHT_STATUSES,
            "q": q or "",
            "study": study,
            "tag": tag,
            "status": status or "",
            "query": urlencode(
                {
                    k: v
                    for k, v in {"q": q, "study": study, "tag": tag, "status": status}.items()
                    if v
                }
            ),
        },
    )


@pages.get("/research/insights.csv")
def insights_csv(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Text200 = None,
    study: OptId = None,
    tag: OptId = None,
    status: InsightStatusFilter = None,
) -> Response:
    rows = repo.list_insights(db, study_id=study, tag_id=tag, status=status, q=q, limit=None)
    ids = [i.id for i in rows]
    backing, tags, reqs = (
        repo.insight_highlights(db, ids),
        repo.insight_tags(db, ids),
        repo.requests_of(db, ids),
    )
    return csv_response(
        [
            "id",
            "title",
            "status",
            "study_id",
            "highlights",
            "tags",
            "feature_requests",
            "body",
            "updated_at",
        ],
        [
            [
                i.id,
                i.title,
                i.status,
                i.study_id,
                len(backing.get(i.id, [])),
                "; ".join(tags.get(i.id, [])),
                " ".join(str(r) for r in reqs.get(i.id, [])),
                i.body,
                i.updated_at,
            ]
            for i in rows
        ],
        "insights",
    )


@pages.post("/research/insights")
def create_insight_form(
    db: DbDep,
    principal: WritePage,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    body: Annotated[str, Form(max_length=100_000)] = "",
    study_id: FormId = None,
    highlight_ids: Annotated[list[int] | None, Form()] = None,
    tags: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    tag_ids = repo.resolve_tags(db, [], _tag_input(tags), principal.actor)
    insight = repo.create_insight(
        db,
        InsightCreate(
            title=title,
            body=body,
            study_id=study_id,
            highlight_ids=highlight_ids or [],
            tag_ids=tag_ids,
        ),
        principal.actor,
    )
    return RedirectResponse(f"/research/insights/{insight.id}", status_code=303)


@pages.get("/research/insights/{insight_id}")
def insight_page(request: Request, db: DbDep, principal: ReadPage, insight_id: int) -> Response:
    insight = repo.get_insight(db, insight_id)
    backing = repo.insight_highlights(db, [insight.id]).get(insight.id, [])
    vault = vault_of(request)
    request_ids = repo.requests_of(db, [insight.id]).get(insight.id, [])
    return render(
        request,
        "research/insight.html",
        {
            **_base(db, principal),
            "insight": insight,
            "study": repo.get_study(db, insight.study_id) if insight.study_id else None,
            "backing": backing,
            "quotes": {h.id: masked_quote(db, principal, vault, h) for h in backing},
            "names": names_for(db, principal, {h.participant_id or 0 for h in backing}),
            "tag_names": repo.insight_tags(db, [insight.id]).get(insight.id, []),
            "requests": [feedback.get_request(db, r) for r in request_ids],
            "open_requests": [
                r.request for r in feedback.list_requests(db) if r.request.id not in request_ids
            ][:300],
            "statuses": INSIGHT_STATUSES,
        },
    )


@pages.post("/research/insights/{insight_id}")
def update_insight_form(
    db: DbDep,
    principal: WritePage,
    insight_id: int,
    title: Annotated[str, Form(min_length=1, max_length=300)],
    status: Annotated[Literal["draft", "published"], Form()],
    body: Annotated[str, Form(max_length=100_000)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    tag_ids = repo.resolve_tags(db, [], _tag_input(tags), principal.actor)
    repo.update_insight(
        db,
        insight_id,
        InsightUpdate(title=title, status=status, body=body, tag_ids=tag_ids),
        principal.actor,
    )
    return RedirectResponse(f"/research/insights/{insight_id}", status_code=303)


@pages.post("/research/insights/{insight_id}/evidence")
def attach_insight_form(
    db: DbDep,
    principal: WritePage,
    insight_id: int,
    request_id: Annotated[int, Form(ge=1, le=2**31 - 1)],
    action: Annotated[Literal["attach", "detach"], Form()] = "attach",
) -> Response:
    """Attach the insight to a feature request as evidence (or take it off)."""
    if action == "attach":
        repo.attach_to_request(db, insight_id, request_id, principal.actor)
    else:
        repo.detach_from_request(db, insight_id, request_id, principal.actor)
    return RedirectResponse(f"/research/insights/{insight_id}", status_code=303)
