"""Feedback items: import (all or nothing, idempotent on source and external id), the API's
single and batch create, listing with filters, and triage.

    with transaction(ws.sessions) as s:
        result = import_feedback(s, "zendesk", [Path("tickets.json")], actor="me")
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, tuple_
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.clock import aware_utc, utcnow
from productops.core.errors import InvalidInput, NotFound
from productops.customers import Account, Person
from productops.feedback.importers import SOURCES, InputFile, RawItem, ReadResult
from productops.feedback.importers.base import MAX_FILE_BYTES, email_field, link
from productops.feedback.items.filters import Filters, apply, order
from productops.feedback.items.people import Linker, Who, merge_people
from productops.feedback.models import FeedbackItem, Theme
from productops.feedback.processing.clean import clean
from productops.feedback.processing.pii import redact
from productops.feedback.schemas import FeedbackCreate, TriageUpdate

Progress = Callable[[int, int | None, str], object]
BATCH = 2000
_NORMAL = re.compile(r"\W+")


@dataclass(frozen=True)
class ImportResult:
    """What an import did: items read, created, changed, already up to date, left out (and
    why), and people created for authors the customers record did not know."""

    source: str
    files: list[str]
    read: int
    created: int
    updated: int
    unchanged: int
    skipped: dict[str, int] = field(default_factory=dict)
    people_created: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "files": self.files,
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "people_created": self.people_created,
        }


def content_hash(text: str) -> str:
    """The same words, whatever the case, spacing and punctuation, give the same hash."""
    normal = _NORMAL.sub(" ", text.lower()).strip()
    return hashlib.sha256(normal.encode()).hexdigest()


def read_files(
    source: str,
    files: Sequence[InputFile | Path],
    *,
    mapping: dict[str, str] | None = None,
    records_path: str | None = None,
    survey_type: str = "nps",
) -> ReadResult:
    """Read (and check) feedback files of `source` without storing anything."""
    if source not in SOURCES:
        raise InvalidInput(f"unknown source '{source}' (use {', '.join(SOURCES)})")
    if not files:
        raise InvalidInput("no file to import")
    inputs = [f if isinstance(f, InputFile) else InputFile.read(f) for f in files]
    for f in inputs:
        if len(f.data) > MAX_FILE_BYTES:
            raise InvalidInput(f"{f.name} is over {MAX_FILE_BYTES // 2**20} MiB")
    importer = SOURCES[source]
    options: dict[str, Any] = {"survey_type": survey_type}
    if source in ("csv", "json"):
        options.update(mapping=mapping or {}, records_path=records_path, source=source)
    result: ReadResult = importer.read(inputs, **options)
    return result


def import_feedback(
    session: Session,
    source: str,
    files: Sequence[InputFile | Path],
    actor: str,
    *,
    mapping: dict[str, str] | None = None,
    records_path: str | None = None,
    survey_type: str = "nps",
    redact_pii: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import feedback files of one source. Everything is read and checked first: a bad
    row stops the import with its file, row and field named, and nothing is stored. Items
    already imported (same source and external id) are updated when they changed, else left
    as they are; triage decisions are never touched."""
    read = read_files(
        source, files, mapping=mapping, records_path=records_path, survey_type=survey_type
    )
    names = [f.name for f in files]
    counts = store(session, read.items, actor, redact_pii=redact_pii, progress=progress)
    audit.record(
        session,
        actor,
        "feedback.import",
        "feedback",
        None,
        {"source": source, "files": names[:20], **counts, "skipped": read.skipped},
    )
    return ImportResult(
        source=source,
        files=names,
        read=len(read.items),
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        skipped=read.skipped,
        people_created=counts["people_created"],
    )


def _values(raw: RawItem, redact_pii: bool) -> dict[str, Any]:
    body = raw.body
    title = raw.title
    if redact_pii:
        body = redact(body)
        title = redact(title) if title else title
    text = clean(body) or clean(title or "") or body.strip()
    extra = dict(raw.extra)
    if raw.tags:
        extra["source_tags"] = raw.tags
    return {
        "kind": raw.kind,
        "title": (title or "").strip()[:500] or None,
        "body": body,
        "text": text,
        "url": link(raw.url),
        "author_email": raw.author_email,
        "author_name": (raw.author_name or "")[:300] or None,
        "author_external_id": raw.author_external_id,
        "created_at": raw.created_at,
        "score": raw.score,
        "score_kind": raw.score_kind,
        "redacted": redact_pii,
        "content_hash": content_hash(text),
        "extra": extra,
    }


COMPARED = (
    "kind",
    "title",
    "body",
    "url",
    "author_email",
    "author_name",
    "author_external_id",
    "created_at",
    "score",
    "score_kind",
    "extra",
)


def store(
    session: Session,
    items: Sequence[RawItem],
    actor: str,
    *,
    redact_pii: bool = False,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Insert new items and update changed ones (by source and external id); returns the
    counts. The caller's transaction makes it all or nothing."""
    report = progress or (lambda done, total, message: None)
    # The last copy of an item wins (an incremental export lists a ticket once per change).
    latest: dict[tuple[str, str], RawItem] = {}
    for raw in items:
        latest[(raw.source, raw.external_id)] = raw
    keys = list(latest)
    total = len(keys)
    linker = Linker(session, actor)
    linker.load(
        Who(r.author_email, r.author_external_id, r.author_name, r.account_external_id)
        for r in latest.values()
    )
    created = updated = unchanged = 0
    now = utcnow()
    report(0, total, "storing feedback")
    for start in range(0, total, BATCH):
        chunk = keys[start : start + BATCH]
        existing = {
            (row.source, row.external_id): row
            for row in session.scalars(
                select(FeedbackItem).where(
                    tuple_(FeedbackItem.source, FeedbackItem.external_id).in_(chunk)
                )
            )
        }
        new_rows: list[dict[str, Any]] = []
        for key in chunk:
            raw = latest[key]
            values = _values(raw, redact_pii)
            row = existing.get(key)
            if row is None:
                person_id, account_id = linker.link(
                    Who(
                        raw.author_email,
                        raw.author_external_id,
                        raw.author_name,
                        raw.account_external_id,
                    )
                )
                new_rows.append(
                    {
                        **values,
                        "source": raw.source,
                        "external_id": raw.external_id,
                        "person_id": person_id,
                        "account_id": account_id,
                        "imported_at": now,
                        "updated_at": now,
                        "status": "new",
                    }
                )
                continue
            compared = [k for k in COMPARED if not (k == "created_at" and raw.created_at_default)]
            changed = {k: values[k] for k in compared if getattr(row, k) != values[k]}
            if not changed:
                unchanged += 1
                continue
            if "body" in changed:
                changed.update(text=values["text"], content_hash=values["content_hash"])
                changed["processed_at"] = None  # to be processed again
            if {"author_email", "author_external_id"} & set(changed):
                changed["person_id"], changed["account_id"] = linker.link(
                    Who(
                        raw.author_email,
                        raw.author_external_id,
                        raw.author_name,
                        raw.account_external_id,
                    )
                )
            for k, v in changed.items():
                setattr(row, k, v)
            updated += 1
        if new_rows:
            session.execute(insert(FeedbackItem), new_rows)
            created += len(new_rows)
        session.flush()
        report(min(total, start + BATCH), total, "storing feedback")
    merged = merge_people(session, actor)
    return {
        "created": created,
        "updated": updated,
        "unchanged": unchanged,
        "people_created": linker.created - merged.people_merged,
    }


def raw_from_api(data: FeedbackCreate) -> RawItem:
    email = email_field(data.email, "request", None, "email")
    return RawItem(
        source=data.source,
        external_id=data.external_id,
        kind=data.kind,
        body=data.text,
        title=data.title,
        created_at=aware_utc(data.created_at) if data.created_at else utcnow(),
        created_at_default=data.created_at is None,
        url=data.url,
        author_email=email,
        author_name=data.name,
        author_external_id=data.user_id,
        account_external_id=data.account_id,
        score=data.score,
        score_kind=data.score_kind,
        tags=data.tags,
        extra=data.extra,
    )


def create_feedback(
    session: Session, items: Sequence[FeedbackCreate], actor: str, *, redact_pii: bool = False
) -> tuple[ImportResult, list[FeedbackItem]]:
    """Store feedback sent through the API (one or a batch), idempotent on source and
    external id; returns what happened and the stored items."""
    raws = [raw_from_api(i) for i in items]
    counts = store(session, raws, actor, redact_pii=redact_pii)
    keys = [(r.source, r.external_id) for r in raws]
    rows = {
        (r.source, r.external_id): r
        for r in session.scalars(
            select(FeedbackItem).where(
                tuple_(FeedbackItem.source, FeedbackItem.external_id).in_(keys)
            )
        )
    }
    audit.record(
        session, actor, "feedback.create", "feedback", None, {"items": len(raws), **counts}
    )
    result = ImportResult(
        source=",".join(sorted({r.source for r in raws})),
        files=[],
        read=len(raws),
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        people_created=counts["people_created"],
    )
    return result, [rows[k] for k in dict.fromkeys(keys)]


# --- reading ---------------------------------------------------------------------------


def get_item(session: Session, item_id: int) -> FeedbackItem:
    item = session.get(FeedbackItem, item_id)
    if item is None:
        raise NotFound(f"no feedback {item_id}")
    return item


def list_items(
    session: Session,
    filters: Filters | None = None,
    *,
    sort: str = "newest",
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[FeedbackItem], int]:
    """Feedback matching the filters, newest first by default, with the total."""
    query = apply(select(FeedbackItem), filters or Filters())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = order(query, sort).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query).all()), int(total)


def count_items(session: Session, filters: Filters | None = None) -> int:
    query = apply(select(func.count(FeedbackItem.id)), filters or Filters())
    return int(session.scalar(query) or 0)


def sources_in_use(session: Session) -> list[str]:
    return list(
        session.scalars(select(FeedbackItem.source).distinct().order_by(FeedbackItem.source))
    )


def people_and_accounts(
    session: Session, items: Sequence[FeedbackItem]
) -> tuple[dict[int, Person], dict[int, Account]]:
    """The people and accounts of `items`, by id (for showing who said it)."""
    person_ids = {i.person_id for i in items if i.person_id}
    account_ids = {i.account_id for i in items if i.account_id}
    people = (
        {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(person_ids)))}
        if person_ids
        else {}
    )
    accounts = (
        {a.id: a for a in session.scalars(select(Account).where(Account.id.in_(account_ids)))}
        if account_ids
        else {}
    )
    return people, accounts


# --- triage ----------------------------------------------------------------------------


def triage(session: Session, item_id: int, data: TriageUpdate, actor: str) -> FeedbackItem:
    """Apply a triage decision (status, theme, duplicate-of); audited with what changed."""
    item = get_item(session, item_id)
    fields_sent = data.model_dump(exclude_unset=True)
    changes: dict[str, Any] = {}
    if "theme_id" in fields_sent:
        theme_id = fields_sent["theme_id"] or None
        if theme_id is not None and session.get(Theme, theme_id) is None:
            raise NotFound(f"no theme {theme_id}")
        if item.theme_id != theme_id or item.theme_source != "manual":
            changes["theme_id"] = {"from": item.theme_id, "to": theme_id}
            item.theme_id = theme_id
            item.theme_source = "manual" if theme_id else None
            item.theme_similarity = None
            if item.status == "new":
                item.status = "triaged"
    if fields_sent.get("duplicate_of_id"):
        original = get_item(session, fields_sent["duplicate_of_id"])
        if original.id == item.id:
            raise InvalidInput("an item cannot be a duplicate of itself")
        # Point at the original's original, so duplicates never chain.
        root = original.duplicate_of_id or original.id
        if root == item.id:
            raise InvalidInput(f"feedback {original.id} is already a duplicate of this one")
        changes["duplicate_of_id"] = {"from": item.duplicate_of_id, "to": root}
        item.duplicate_of_id = root
        item.duplicate_similarity = None
        item.status = "duplicate"
    if data.status is not None and data.status != item.status:
        if data.status == "duplicate" and item.duplicate_of_id is None:
            raise InvalidInput("say which feedback this duplicates (duplicate_of_id)")
        changes["status"] = {"from": item.status, "to": data.status}
        item.status = data.status
        if data.status != "duplicate":
            item.duplicate_of_id = None
            item.duplicate_similarity = None
    if changes:
        session.flush()
        audit.record(session, actor, "feedback.triage", "feedback", item.id, changes)
    return item


def duplicates_of(session: Session, item_id: int) -> list[FeedbackItem]:
    """Every item merged into this one (their sources and originals are all kept)."""
    return list(
        session.scalars(
            select(FeedbackItem)
            .where(FeedbackItem.duplicate_of_id == item_id)
            .order_by(FeedbackItem.created_at)
        )
    )


def export_items(
    session: Session, filters: Filters | None = None, sort: str = "newest"
) -> tuple[list[str], list[list[Any]]]:
    """The matching feedback as columns and rows for CSV (formula-safe when written)."""
    items, _ = list_items(session, filters, sort=sort, limit=None)
    people, accounts = people_and_accounts(session, items)
    themes = {t.id: t.name for t in session.scalars(select(Theme))}
    columns = [
        "id", "source", "external_id", "kind", "created_at", "title", "text", "status",
        "sentiment", "score", "score_kind", "language", "theme", "person", "account",
        "plan", "segment", "arr", "duplicate_of", "url",
    ]  # fmt: skip
    rows = []
    for i in items:
        account = accounts.get(i.account_id or 0)
        person = people.get(i.person_id or 0)
        rows.append(
            [
                i.id,
                i.source,
                i.external_id,
                i.kind,
                i.created_at.isoformat(),
                i.title,
                i.text,
                i.status,
                i.sentiment,
                i.score,
                i.score_kind,
                i.language,
                themes.get(i.theme_id or 0),
                person.name if person else None,
                account.name if account else None,
                account.plan if account else None,
                account.segment if account else None,
                float(account.arr) if account else None,
                i.duplicate_of_id,
                i.url,
            ]
        )
    return columns, rows


def authors(session: Session, filters: Filters | None = None) -> dict[int, tuple[int, dt.datetime]]:
    """The people who gave the feedback matching `filters`: person id → (how many items,
    the newest one's time). For other pillars (research recruits from them)."""
    base: Any = (
        select(FeedbackItem.person_id, func.count(), func.max(FeedbackItem.created_at))
        .where(FeedbackItem.person_id.is_not(None))
        .group_by(FeedbackItem.person_id)
    )
    query = apply(base, filters or Filters())
    return {int(p): (int(n), last) for p, n, last in session.execute(query)}
