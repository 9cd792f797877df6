"""Studies, sessions, notes, highlights and insights, as plain functions in the user's words.

A highlight is an exact span of a note's body; it keeps the note's study and session and the
participant who spoke those words (the speaker of the turn it starts in, else the session's
participant). When a note is edited, each highlight finds its words again (nearest to where
they were); one whose words are gone is removed, and the edit says how many.

Every change is audited (no participant's name or contact detail goes into the log) and
re-indexes what search shows (`research.search`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops import feedback
from productops.core import audit
from productops.core.clock import utcnow
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.research.models import (
    Highlight,
    HighlightTag,
    Insight,
    InsightEvidence,
    InsightHighlight,
    InsightTag,
    Note,
    Participant,
    ResearchSession,
    Speaker,
    Study,
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
from productops.research.search import index
from productops.research.transcripts import Transcript, to_markdown, turns_of

# --- studies -------------------------------------------------------------------------------


def get_study(session: Session, study_id: int) -> Study:
    study = session.get(Study, study_id)
    if study is None:
        raise NotFound(f"no study {study_id}")
    return study


_LINKS = {
    "owner_id": "user",
    "objective_id": "objective",
    "request_id": "feature request",
    "participant_id": "participant",
    "session_id": "session",
}


def _check_links(session: Session, table: Any, values: dict[str, Any]) -> None:
    """Each record the values link to must exist: a link to nothing is refused by name
    (404, "no objective 12"), before anything is changed."""
    for key, value in values.items():
        if value is None or key not in _LINKS:
            continue
        for fk in table.columns[key].foreign_keys:
            target = fk.column
            if session.scalar(select(target).where(target == value)) is None:
                raise NotFound(f"no {_LINKS[key]} {value}")


def _flush_links(session: Session, what: str) -> None:
    """Flush; a link to a record removed meanwhile is the caller's mistake, said in words."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise NotFound(
            f"{what}: a linked owner, objective, feature request, session or participant does "
            "not exist"
        ) from exc


def create_study(session: Session, data: StudyCreate, actor: str) -> Study:
    """A new study (planned unless said otherwise)."""
    _check_links(session, Study.__table__, data.model_dump())
    study = Study(**data.model_dump(), created_by=actor)
    study.title = study.title.strip()
    session.add(study)
    _flush_links(session, "the study")
    audit.record(session, actor, "study.create", "study", study.id, {"title": study.title})
    return study


def update_study(session: Session, study_id: int, data: StudyUpdate, actor: str) -> Study:
    """Change the fields sent; audited with old and new values."""
    study = get_study(session, study_id)
    changes: dict[str, Any] = {}
    _check_links(session, Study.__table__, data.model_dump(exclude_unset=True))
    for key, value in data.model_dump(exclude_unset=True).items():
        if key in ("title", "method", "status", "goal") and value is None:
            raise InvalidInput(f"'{key}' cannot be emptied")
        if getattr(study, key) != value:
            changes[key] = {"from": _plain(getattr(study, key)), "to": _plain(value)}
            setattr(study, key, value)
    if study.starts_on and study.ends_on and study.ends_on < study.starts_on:
        raise InvalidInput("the study ends before it starts")
    if changes:
        _flush_links(session, "the study")
        audit.record(session, actor, "study.update", "study", study.id, changes)
    return study


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def list_studies(
    session: Session,
    *,
    q: str | None = None,
    method: str | None = None,
    status: str | None = None,
    owner_id: int | None = None,
    limit: int | None = 100,
    offset: int = 0,
) -> tuple[list[Study], int]:
    """Studies matching the filters, newest first, with the total."""
    query = select(Study)
    if q:
        query = query.where(Study.title.ilike(f"%{q.strip()}%"))
    if method:
        query = query.where(Study.method == method)
    if status:
        query = query.where(Study.status == status)
    if owner_id:
        query = query.where(Study.owner_id == owner_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Study.created_at.desc(), Study.id.desc()).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query)), int(total)


@dataclass(frozen=True)
class StudyCounts:
    sessions: int
    notes: int
    highlights: int
    insights: int


def study_counts(session: Session, study_ids: Sequence[int]) -> dict[int, StudyCounts]:
    """Sessions, notes, highlights and insights of each study, in four queries."""
    ids = list(study_ids)
    if not ids:
        return {}

    def counted(model: Any) -> dict[int, int]:
        rows = session.execute(
            select(model.study_id, func.count())
            .where(model.study_id.in_(ids))
            .group_by(model.study_id)
        )
        return {int(s): int(n) for s, n in rows}

    s, n, h, i = (counted(m) for m in (ResearchSession, Note, Highlight, Insight))
    return {x: StudyCounts(s.get(x, 0), n.get(x, 0), h.get(x, 0), i.get(x, 0)) for x in ids}


# --- sessions ------------------------------------------------------------------------------


def create_session(
    session: Session, study_id: int, data: SessionCreate, actor: str
) -> ResearchSession:
    get_study(session, study_id)
    if data.participant_id is not None and session.get(Participant, data.participant_id) is None:
        raise NotFound(f"no participant {data.participant_id}")
    row = ResearchSession(study_id=study_id, created_by=actor, **data.model_dump())
    session.add(row)
    _flush_links(session, "the session")
    audit.record(
        session, actor, "research_session.create", "research_session", row.id, {"study": study_id}
    )
    return row


def get_session(session: Session, session_id: int) -> ResearchSession:
    row = session.get(ResearchSession, session_id)
    if row is None:
        raise NotFound(f"no session {session_id}")
    return row


def sessions_of(session: Session, study_id: int) -> list[ResearchSession]:
    return list(
        session.scalars(
            select(ResearchSession)
            .where(ResearchSession.study_id == study_id)
            .order_by(ResearchSession.happened_at.desc().nulls_last(), ResearchSession.id)
        )
    )


# --- notes ---------------------------------------------------------------------------------


def get_note(session: Session, note_id: int) -> Note:
    note = session.get(Note, note_id)
    if note is None:
        raise NotFound(f"no note {note_id}")
    return note


def notes_of(session: Session, study_id: int) -> list[Note]:
    return list(
        session.scalars(select(Note).where(Note.study_id == study_id).order_by(Note.id.desc()))
    )


def create_note(
    session: Session,
    study_id: int,
    data: NoteCreate,
    actor: str,
    *,
    source: str = "typed",
    source_name: str | None = None,
    speakers: Iterable[str] = (),
) -> Note:
    """A note of a study (in a session when given). Speaker labels of a transcript are kept
    so each can be said to be a participant."""
    get_study(session, study_id)
    if data.session_id is not None and get_session(session, data.session_id).study_id != study_id:
        raise InvalidInput(f"session {data.session_id} belongs to another study")
    note = Note(
        study_id=study_id,
        session_id=data.session_id,
        title=data.title.strip(),
        body=data.body,
        source=source,
        source_name=source_name,
        created_by=actor,
    )
    session.add(note)
    session.flush()
    labels = list(dict.fromkeys([*speakers, *(label for _, _, label in turns_of(note.body))]))
    _sync_speakers(session, note, labels)
    audit.record(
        session, actor, "note.create", "note", note.id, {"study": study_id, "source": source}
    )
    index.index_note(session, note.id)
    return note


def import_transcript(
    session: Session,
    study_id: int,
    transcript: Transcript,
    *,
    title: str,
    actor: str,
    session_id: int | None = None,
    source_name: str | None = None,
) -> Note:
    """A note made from a transcript read from a file (`transcripts.read_transcript`)."""
    body = to_markdown(transcript)
    data = NoteCreate(
        title=title[:300] or "Transcript", body=body[:2_000_000], session_id=session_id
    )
    note = create_note(
        session,
        study_id,
        data,
        actor,
        source=transcript.kind,
        source_name=source_name,
        speakers=transcript.speakers,
    )
    # A session's participant is usually the one speaker who is not the interviewer.
    if session_id is not None:
        participant = get_session(session, session_id).participant_id
        labels = [s for s in speakers_of(session, note.id) if s.role == "participant"]
        if participant is not None and len(labels) >= 1:
            guess = max(labels, key=lambda s: body.count(f"**{s.label}**"))
            interviewer = {"interviewer", "moderator", "researcher", "facilitator"}
            for s in labels:
                if s.label.lower() in interviewer:
                    s.role = "researcher"
            if guess.label.lower() not in interviewer and guess.participant_id is None:
                guess.participant_id = participant
            session.flush()
            index.index_note(session, note.id)
    return note


def _sync_speakers(session: Session, note: Note, labels: Sequence[str]) -> None:
    have = {s.label: s for s in speakers_of(session, note.id)}
    for label in labels:
        label = label.strip()[:200]
        if label and label not in have:
            role = "researcher" if label.lower() in ("interviewer", "moderator") else "participant"
            speaker = Speaker(note_id=note.id, label=label, role=role)
            session.add(speaker)
            have[label] = speaker
    session.flush()


def speakers_of(session: Session, note_id: int) -> list[Speaker]:
    return list(
        session.scalars(select(Speaker).where(Speaker.note_id == note_id).order_by(Speaker.id))
    )


def link_speaker(session: Session, note_id: int, data: SpeakerLink, actor: str) -> Speaker:
    """Say who a speaker label of a note is (a participant, the researcher, an observer);
    highlights in that speaker's turns take the participant."""
    note = get_note(session, note_id)
    if data.participant_id is not None and session.get(Participant, data.participant_id) is None:
        raise NotFound(f"no participant {data.participant_id}")
    speaker = session.scalar(
        select(Speaker).where(Speaker.note_id == note_id, Speaker.label == data.label.strip())
    )
    if speaker is None:
        raise NotFound(f"note {note_id} has no speaker labelled as given")
    speaker.role = data.role
    speaker.participant_id = data.participant_id if data.role == "participant" else None
    session.flush()
    for h in session.scalars(select(Highlight).where(Highlight.note_id == note.id)):
        h.participant_id = _participant_at(session, note, h.start)
    session.flush()
    audit.record(
        session,
        actor,
        "note.speaker",
        "note",
        note_id,
        {"role": data.role, "participant_id": speaker.participant_id},
    )
    index.index_note(session, note.id)
    return speaker


def update_note(session: Session, note_id: int, data: NoteUpdate, actor: str) -> tuple[Note, int]:
    """Change a note's title or body. Highlights find their words again; returns the note
    and how many highlights were lost because their words are gone."""
    note = get_note(session, note_id)
    lost = 0
    changes: list[str] = []
    if data.title is not None and data.title.strip() != note.title:
        note.title = data.title.strip()
        changes.append("title")
    if data.body is not None and data.body != note.body:
        old = note.body
        note.body = data.body
        changes.append("body")
        for h in list(session.scalars(select(Highlight).where(Highlight.note_id == note.id))):
            at = _find_again(note.body, h.quote, h.start, old)
            if at is None:
                session.delete(h)
                lost += 1
            else:
                h.start, h.end = at, at + len(h.quote)
        session.flush()
        _sync_speakers(session, note, [label for _, _, label in turns_of(note.body)])
        for h in session.scalars(select(Highlight).where(Highlight.note_id == note.id)):
            h.participant_id = _participant_at(session, note, h.start)
    if changes:
        session.flush()
        audit.record(
            session, actor, "note.update", "note", note.id, {"changed": changes, "lost": lost}
        )
        index.index_note(session, note.id)
    return note, lost


def _find_again(body: str, quote: str, near: int, old: str) -> int | None:
    """Where `quote` is in `body`: the occurrence nearest its old place."""
    if not quote:
        return None
    hits: list[int] = []
    at = body.find(quote)
    while at >= 0 and len(hits) < 1000:
        hits.append(at)
        at = body.find(quote, at + 1)
    if not hits:
        return None
    return min(hits, key=lambda h: abs(h - near))


def delete_note(session: Session, note_id: int, actor: str) -> None:
    note = get_note(session, note_id)
    index.drop_note(session, note.id)
    session.delete(note)
    session.flush()
    audit.record(session, actor, "note.delete", "note", note_id, {"study": note.study_id})


# --- highlights ----------------------------------------------------------------------------


def _participant_at(session: Session, note: Note, position: int) -> int | None:
    """The participant who said the words at `position`: the speaker of that turn, else the
    session's participant."""
    for start, end, label in turns_of(note.body):
        if start <= position < end:
            speaker = session.scalar(
                select(Speaker).where(Speaker.note_id == note.id, Speaker.label == label)
            )
            if speaker is not None:
                return speaker.participant_id if speaker.role == "participant" else None
    if note.session_id is not None:
        return get_session(session, note.session_id).participant_id
    return None


def create_highlight(
    session: Session, note_id: int, start: int, end: int, actor: str, *, quote: str | None = None
) -> Highlight:
    """Highlight `start`..`end` of the note's stored body (offsets in characters). `quote`,
    when given, must be the words there."""
    note = get_note(session, note_id)
    if not 0 <= start < end <= len(note.body):
        raise InvalidInput(
            f"the span {start}..{end} is outside the note (it has {len(note.body)} characters)"
        )
    words = note.body[start:end]
    if quote is not None and quote != words:
        raise InvalidInput("the words sent are not the words at that place of the note")
    # Leading and trailing spaces are not part of what was meant.
    start += len(words) - len(words.lstrip())
    end -= len(words) - len(words.rstrip())
    if end <= start:
        raise InvalidInput("the span holds no words")
    h = Highlight(
        note_id=note.id,
        study_id=note.study_id,
        session_id=note.session_id,
        participant_id=_participant_at(session, note, start),
        start=start,
        end=end,
        quote=note.body[start:end],
        created_by=actor,
    )
    session.add(h)
    session.flush()
    audit.record(session, actor, "highlight.create", "highlight", h.id, {"note": note.id})
    index.index_highlight(session, h.id)
    return h


def get_highlight(session: Session, highlight_id: int) -> Highlight:
    h = session.get(Highlight, highlight_id)
    if h is None:
        raise NotFound(f"no highlight {highlight_id}")
    return h


def delete_highlight(session: Session, highlight_id: int, actor: str) -> None:
    h = get_highlight(session, highlight_id)
    index.drop(session, "highlight", h.id)
    session.delete(h)
    session.flush()
    audit.record(session, actor, "highlight.delete", "highlight", highlight_id, {"note": h.note_id})


def highlights_of(
    session: Session,
    *,
    note_id: int | None = None,
    study_id: int | None = None,
    participant_id: int | None = None,
    tag_id: int | None = None,
    limit: int | None = 500,
) -> list[Highlight]:
    query = select(Highlight)
    if note_id is not None:
        query = query.where(Highlight.note_id == note_id)
    if study_id is not None:
        query = query.where(Highlight.study_id == study_id)
    if participant_id is not None:
        query = query.where(Highlight.participant_id == participant_id)
    if tag_id is not None:
        query = query.where(
            Highlight.id.in_(select(HighlightTag.highlight_id).where(HighlightTag.tag_id == tag_id))
        )
    query = query.order_by(Highlight.note_id, Highlight.start)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


# --- tags: the feedback hub's taxonomy -----------------------------------------------------


def resolve_tags(
    session: Session, tag_ids: Iterable[int], new_tags: Iterable[str], actor: str
) -> list[int]:
    """Ids of the tags named: existing ones by id (each must exist), new names created in
    the shared taxonomy (an existing name, in any case, is reused)."""
    ids: list[int] = []
    for tag_id in tag_ids:
        ids.append(feedback.get_tag(session, tag_id).id)
    names = [n.strip() for n in new_tags if n and n.strip()]
    if names:
        existing = {t.name.lower(): t.id for t, _, _ in feedback.list_tags(session)}
        for name in names:
            name = feedback.check_tag_name(name)[:100]
            found = existing.get(name.lower())
            if found is None:
                found = feedback.create_tag(session, feedback.TagCreate(name=name), actor).id
                existing[name.lower()] = found
            ids.append(found)
    return list(dict.fromkeys(ids))


def tag_highlight(
    session: Session,
    highlight_id: int,
    tag_ids: Iterable[int],
    actor: str,
    *,
    new_tags: Iterable[str] = (),
    replace: bool = False,
) -> list[int]:
    """Tag a highlight (or, with `replace`, set exactly these tags); returns its tag ids."""
    h = get_highlight(session, highlight_id)
    wanted = resolve_tags(session, tag_ids, new_tags, actor)
    have = set(
        session.scalars(select(HighlightTag.tag_id).where(HighlightTag.highlight_id == h.id))
    )
    if replace:
        gone = have - set(wanted)
        if gone:
            session.execute(
                delete(HighlightTag).where(
                    HighlightTag.highlight_id == h.id, HighlightTag.tag_id.in_(gone)
                )
            )
        have -= gone
    for tag_id in wanted:
        if tag_id not in have:
            session.add(HighlightTag(highlight_id=h.id, tag_id=tag_id))
            have.add(tag_id)
    session.flush()
    audit.record(session, actor, "highlight.tags", "highlight", h.id, {"tags": sorted(have)})
    index.index_highlight(session, h.id)
    return sorted(have)


def tag_names(session: Session, highlight_ids: Sequence[int]) -> dict[int, list[str]]:
    if not highlight_ids:
        return {}
    rows = session.execute(
        select(HighlightTag.highlight_id, feedback.Tag.name)
        .join(feedback.Tag, feedback.Tag.id == HighlightTag.tag_id)
        .where(HighlightTag.highlight_id.in_(list(highlight_ids)))
        .order_by(feedback.Tag.name)
    )
    out: dict[int, list[str]] = {}
    for hid, name in rows:
        out.setdefault(int(hid), []).append(name)
    return out


def tags_in_use(session: Session) -> list[tuple[int, str, int]]:
    """(tag id, name, highlights) for every tag of the taxonomy, most used in research first."""
    counts = dict(
        session.execute(
            select(HighlightTag.tag_id, func.count()).group_by(HighlightTag.tag_id)
        ).all()
    )
    tags = [(t.id, t.name, int(counts.get(t.id, 0))) for t, _, _ in feedback.list_tags(session)]
    return sorted(tags, key=lambda t: (-t[2], t[1].lower()))


# --- insights ------------------------------------------------------------------------------


def get_insight(session: Session, insight_id: int) -> Insight:
    insight = session.get(Insight, insight_id)
    if insight is None:
        raise NotFound(f"no insight {insight_id}")
    return insight


def _set_highlights(session: Session, insight: Insight, highlight_ids: Sequence[int]) -> None:
    ids = list(dict.fromkeys(highlight_ids))
    found = (
        set(session.scalars(select(Highlight.id).where(Highlight.id.in_(ids)))) if ids else set()
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no highlight {missing[0]}")
    session.execute(delete(InsightHighlight).where(InsightHighlight.insight_id == insight.id))
    for hid in ids:
        session.add(InsightHighlight(insight_id=insight.id, highlight_id=hid))


def _set_tags(session: Session, insight: Insight, tag_ids: Sequence[int], actor: str) -> None:
    ids = resolve_tags(session, tag_ids, (), actor)
    session.execute(delete(InsightTag).where(InsightTag.insight_id == insight.id))
    for tid in ids:
        session.add(InsightTag(insight_id=insight.id, tag_id=tid))


def create_insight(session: Session, data: InsightCreate, actor: str) -> Insight:
    """A finding, with the highlights that back it."""
    if data.study_id is not None:
        get_study(session, data.study_id)
    insight = Insight(
        title=data.title.strip(),
        body=data.body,
        study_id=data.study_id,
        status=data.status,
        created_by=actor,
    )
    session.add(insight)
    session.flush()
    _set_highlights(session, insight, data.highlight_ids)
    _set_tags(session, insight, data.tag_ids, actor)
    session.flush()
    audit.record(
        session,
        actor,
        "insight.create",
        "insight",
        insight.id,
        {"title": insight.title, "highlights": len(data.highlight_ids)},
    )
    index.index_insight(session, insight.id)
    return insight


def update_insight(session: Session, insight_id: int, data: InsightUpdate, actor: str) -> Insight:
    insight = get_insight(session, insight_id)
    fields = data.model_dump(exclude_unset=True)
    changed = []
    for key in ("title", "body", "status"):
        value = fields.get(key)
        if value is not None and getattr(insight, key) != value:
            setattr(insight, key, value.strip() if key == "title" else value)
            changed.append(key)
    if fields.get("highlight_ids") is not None:
        _set_highlights(session, insight, fields["highlight_ids"])
        changed.append("highlights")
    if fields.get("tag_ids") is not None:
        _set_tags(session, insight, fields["tag_ids"], actor)
        changed.append("tags")
    if changed:
        insight.updated_at = utcnow()
        session.flush()
        audit.record(session, actor, "insight.update", "insight", insight.id, {"changed": changed})
        index.index_insight(session, insight.id)
    return insight


def add_evidence(session: Session, insight_id: int, highlight_id: int, actor: str) -> None:
    """Back an insight with one more highlight."""
    insight = get_insight(session, insight_id)
    get_highlight(session, highlight_id)
    exists = session.get(InsightHighlight, (insight.id, highlight_id))
    if exists is None:
        session.add(InsightHighlight(insight_id=insight.id, highlight_id=highlight_id))
        session.flush()
        audit.record(
            session, actor, "insight.highlight", "insight", insight.id, {"highlight": highlight_id}
        )


def list_insights(
    session: Session,
    *,
    study_id: int | None = None,
    tag_id: int | None = None,
    status: str | None = None,
    q: str | None = None,
    limit: int | None = 200,
) -> list[Insight]:
    query = select(Insight)
    if study_id is not None:
        query = query.where(Insight.study_id == study_id)
    if status:
        query = query.where(Insight.status == status)
    if q:
        query = query.where(Insight.title.ilike(f"%{q.strip()}%"))
    if tag_id is not None:
        query = query.where(
            Insight.id.in_(select(InsightTag.insight_id).where(InsightTag.tag_id == tag_id))
        )
    query = query.order_by(Insight.updated_at.desc(), Insight.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def insight_highlights(session: Session, insight_ids: Sequence[int]) -> dict[int, list[Highlight]]:
    if not insight_ids:
        return {}
    rows = session.execute(
        select(InsightHighlight.insight_id, Highlight)
        .join(Highlight, Highlight.id == InsightHighlight.highlight_id)
        .where(InsightHighlight.insight_id.in_(list(insight_ids)))
        .order_by(Highlight.id)
    )
    out: dict[int, list[Highlight]] = {}
    for iid, h in rows:
        out.setdefault(int(iid), []).append(h)
    return out


def insight_tags(session: Session, insight_ids: Sequence[int]) -> dict[int, list[str]]:
    if not insight_ids:
        return {}
    rows = session.execute(
        select(InsightTag.insight_id, feedback.Tag.name)
        .join(feedback.Tag, feedback.Tag.id == InsightTag.tag_id)
        .where(InsightTag.insight_id.in_(list(insight_ids)))
        .order_by(feedback.Tag.name)
    )
    out: dict[int, list[str]] = {}
    for iid, name in rows:
        out.setdefault(int(iid), []).append(name)
    return out


def attach_to_request(session: Session, insight_id: int, request_id: int, actor: str) -> None:
    """Attach an insight to a feature request of the feedback hub as evidence."""
    insight = get_insight(session, insight_id)
    request = feedback.get_request(session, request_id)
    if session.get(InsightEvidence, (insight.id, request.id)) is not None:
        raise Conflict(f"insight {insight_id} is already evidence of request {request_id}")
    session.add(InsightEvidence(insight_id=insight.id, request_id=request.id, created_by=actor))
    session.flush()
    audit.record(session, actor, "insight.evidence", "insight", insight.id, {"request": request.id})


def detach_from_request(session: Session, insight_id: int, request_id: int, actor: str) -> None:
    row = session.get(InsightEvidence, (insight_id, request_id))
    if row is None:
        raise NotFound(f"insight {insight_id} is not evidence of request {request_id}")
    session.delete(row)
    session.flush()
    audit.record(
        session, actor, "insight.evidence_removed", "insight", insight_id, {"request": request_id}
    )


def requests_of(session: Session, insight_ids: Sequence[int]) -> dict[int, list[int]]:
    if not insight_ids:
        return {}
    rows = session.execute(
        select(InsightEvidence.insight_id, InsightEvidence.request_id).where(
            InsightEvidence.insight_id.in_(list(insight_ids))
        )
    )
    out: dict[int, list[int]] = {}
    for iid, rid in rows:
        out.setdefault(int(iid), []).append(int(rid))
    return out


def insights_for_request(session: Session, request_id: int) -> list[Insight]:
    """The insights attached to a feature request as evidence."""
    return list(
        session.scalars(
            select(Insight)
            .join(InsightEvidence, InsightEvidence.insight_id == Insight.id)
            .where(InsightEvidence.request_id == request_id)
            .order_by(Insight.updated_at.desc())
        )
    )
