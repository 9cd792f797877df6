"""Research: studies, sessions, notes (transcripts), highlights on exact spans of a note,
insights backed by highlights; participants (a customers person with research data and
consent), consent texts and records, contact history, incentives, saved screeners; and the
search index of research text.

Contact details of participants are stored encrypted (`*_enc`, Fernet with the workspace's
key, see `core.secrets`); `email_index` is a keyed hash of the address so it can be found
without decrypting every row. The search index holds research text with participants' names
already replaced by their pseudonyms (`privacy.mask`), so neither it nor its vectors name
anyone. Full-text indexes are made by the migration (`DERIVED`), as the feedback hub does.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from productops.core.clock import utcnow
from productops.core.db import Base, UTCDateTime

DERIVED = frozenset(
    {
        "research_fts",
        "research_fts_data",
        "research_fts_idx",
        "research_fts_docsize",
        "research_fts_config",
        "ix_research_chunks_fts",
    }
)
Base.metadata.info.setdefault("derived", set()).update(DERIVED)

METHODS = (
    "interview",
    "usability_test",
    "survey",
    "diary_study",
    "card_sort",
    "concept_test",
    "field_visit",
    "other",
)
STUDY_STATUSES = ("planned", "recruiting", "running", "analysing", "done", "cancelled")
INSIGHT_STATUSES = ("draft", "published")
# Statuses a person sets; "in cooldown" is worked out from the contact history.
CONTACT_STATUSES = ("free", "do_not_contact", "blocklisted", "opted_out")
CONTACT_KINDS = ("invited", "scheduled", "participated", "no_show")
SPEAKER_ROLES = ("participant", "researcher", "observer")
NOTE_SOURCES = ("typed", "txt", "md", "vtt", "srt", "docx")


class Study(Base):
    """A piece of research: what it wants to learn (goal), how (method), who runs it, when,
    and what it serves (an objective of the roadmap, a feature request)."""

    __tablename__ = "research_studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    goal: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(30), index=True)
    status: Mapped[str] = mapped_column(String(20), default="planned", index=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    objective_id: Mapped[int | None] = mapped_column(
        ForeignKey("portfolio_objectives.id", ondelete="SET NULL"), index=True
    )
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="SET NULL"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Participant(Base):
    """A customers person taking part in research: contact details (encrypted), a stable
    pseudonym for everyone who may not see who they are, segment, contact status."""

    __tablename__ = "research_participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), unique=True)
    pseudonym: Mapped[str] = mapped_column(String(20), unique=True)
    email_enc: Mapped[str | None] = mapped_column(Text)
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    # Overrides the account's segment (people outside any account, or a finer segment).
    segment: Mapped[str | None] = mapped_column(String(50), index=True)
    status: Mapped[str] = mapped_column(String(20), default="free", index=True)
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(20), default="manual")
    # Kept with each contact so that eligibility of many participants is one query.
    last_invited_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    last_participated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_contacted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )


class ResearchSession(Base):
    """A research session: one interview, test or visit, usually with one participant."""

    __tablename__ = "research_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("research_studies.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_participants.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    happened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    duration_minutes: Mapped[int | None] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Note(Base):
    """Notes or a transcript, as markdown: typed, or imported from a text, WebVTT, SubRip or
    Word file (`source`, `source_name`)."""

    __tablename__ = "research_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(
        ForeignKey("research_studies.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_sessions.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(10), default="typed")
    source_name: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Speaker(Base):
    """A speaker label of a transcript (`Ana:`, `<v Ana>`), and who it is."""

    __tablename__ = "research_speakers"
    __table_args__ = (UniqueConstraint("note_id", "label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(
        ForeignKey("research_notes.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="participant")
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_participants.id", ondelete="SET NULL"), index=True
    )


class Highlight(Base):
    """An exact span of a note (`start`..`end`, characters of its body) with the words it
    held (`quote`, which finds the span again when the note is edited). It keeps its study,
    session and participant."""

    __tablename__ = "research_highlights"

    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(
        ForeignKey("research_notes.id", ondelete="CASCADE"), index=True
    )
    study_id: Mapped[int] = mapped_column(
        ForeignKey("research_studies.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_sessions.id", ondelete="SET NULL"), index=True
    )
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_participants.id", ondelete="SET NULL"), index=True
    )
    start: Mapped[int] = mapped_column(Integer)
    end: Mapped[int] = mapped_column(Integer)
    quote: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class HighlightTag(Base):
    """A tag of the shared taxonomy (the feedback hub's tags) on a highlight."""

    __tablename__ = "research_highlight_tags"

    highlight_id: Mapped[int] = mapped_column(
        ForeignKey("research_highlights.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Insight(Base):
    """A finding, written up (markdown), with the highlights that back it."""

    __tablename__ = "research_insights"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_studies.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InsightHighlight(Base):
    __tablename__ = "research_insight_highlights"

    insight_id: Mapped[int] = mapped_column(
        ForeignKey("research_insights.id", ondelete="CASCADE"), primary_key=True
    )
    highlight_id: Mapped[int] = mapped_column(
        ForeignKey("research_highlights.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class InsightTag(Base):
    __tablename__ = "research_insight_tags"

    insight_id: Mapped[int] = mapped_column(
        ForeignKey("research_insights.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(
        ForeignKey("feedback_tags.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class InsightEvidence(Base):
    """An insight attached to a feature request as evidence."""

    __tablename__ = "research_insight_evidence"

    insight_id: Mapped[int] = mapped_column(
        ForeignKey("research_insights.id", ondelete="CASCADE"), primary_key=True
    )
    request_id: Mapped[int] = mapped_column(
        ForeignKey("feature_requests.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentText(Base):
    """A version of the consent text participants agree to. A new version means everyone
    who agreed to an older one must consent again."""

    __tablename__ = "research_consent_texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, unique=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Consent(Base):
    """A participant's agreement to one version of the consent text (or its withdrawal)."""

    __tablename__ = "research_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("research_participants.id", ondelete="CASCADE"), index=True
    )
    text_id: Mapped[int] = mapped_column(ForeignKey("research_consent_texts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    given_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    method: Mapped[str] = mapped_column(String(20), default="form")
    recorded_by: Mapped[str] = mapped_column(String(200))


class Contact(Base):
    """One entry of a participant's contact history: invited, scheduled, participated,
    no-show; with the rule a permitted person overrode, if any."""

    __tablename__ = "research_contacts"
    __table_args__ = (Index("ix_research_contacts_participant_at", "participant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("research_participants.id", ondelete="CASCADE")
    )
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_studies.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(20), default="manual")
    overridden: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))


class Incentive(Base):
    """An incentive paid to a participant (a gift card, a donation…)."""

    __tablename__ = "research_incentives"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("research_participants.id", ondelete="CASCADE"), index=True
    )
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_studies.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[float] = mapped_column(Numeric(10, 2, asdecimal=False))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    kind: Mapped[str] = mapped_column(String(30), default="gift_card")
    paid_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))


class Screener(Base):
    """A saved recruiting screener: the filters that build a list of participants."""

    __tablename__ = "research_screeners"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    study_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_studies.id", ondelete="CASCADE"), index=True
    )
    criteria: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Chunk(Base):
    """A searchable piece of research: a passage of a note, a highlight or an insight, its
    words with participants' names replaced by pseudonyms, and its sentence vector."""

    __tablename__ = "research_chunks"
    __table_args__ = (Index("ix_research_chunks_ref", "kind", "ref_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # "insight", "highlight", "note"
    ref_id: Mapped[int] = mapped_column(Integer)
    note_id: Mapped[int | None] = mapped_column(Integer, index=True)
    study_id: Mapped[int | None] = mapped_column(Integer, index=True)
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("research_participants.id", ondelete="SET NULL"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text)
    day: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
