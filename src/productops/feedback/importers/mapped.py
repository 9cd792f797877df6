"""Any CSV or JSON export, with a column mapping: which column (or, in JSON, which dotted
path inside each record) holds the text, the time, the author and the rest.

    mapping = {"text": "Comment", "created_at": "Submitted", "email": "Email", "score": "NPS"}

`text` is required; without `external_id` an item's id is a hash of its text, author and
time, so importing the same file twice still changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from productops.core.clock import utcnow
from productops.core.csvfile import CsvError, read_csv
from productops.core.errors import InvalidInput
from productops.feedback.importers.base import (
    KINDS,
    SCORE_KINDS,
    FeedbackImportError,
    InputFile,
    RawItem,
    ReadResult,
    dig,
    email_field,
    ident,
    load_json,
    number,
    optional_ident,
    text_field,
    timestamp,
)

SOURCE_CSV = "csv"
SOURCE_JSON = "json"
TITLE = "Any CSV or JSON, with a column mapping"
TARGETS = {
    "text": "the feedback's words (required)",
    "external_id": "the item's id in the source (default: a hash of text, author and time)",
    "created_at": "when it was given (default: now)",
    "title": "a subject or title",
    "email": "the author's email",
    "name": "the author's name",
    "user_id": "the author's external id (the customers' user id)",
    "account": "the account's external id",
    "score": "a score (NPS 0-10, CSAT or stars 1-5)",
    "score_kind": "nps, csat, stars, ces or thumbs (a column, or set score_kind_value)",
    "url": "a link to the original",
    "tags": "tags, comma-separated",
}


def check_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """The mapping with unknown targets refused and `text` required."""
    unknown = sorted(set(mapping) - set(TARGETS) - {"kind", "score_kind_value"})
    if unknown:
        raise InvalidInput(
            f"unknown mapping target {', '.join(unknown)} (use {', '.join(TARGETS)})"
        )
    if not mapping.get("text"):
        raise InvalidInput("the mapping needs 'text': the column that holds the feedback")
    return {k: v for k, v in mapping.items() if v}


def columns_of(file: InputFile, records_path: str | None = None) -> list[str]:
    """The columns (CSV) or the keys of the first records (JSON) a mapping can use."""
    if file.name.lower().endswith(".json"):
        rows = _json_records(file, records_path)
        keys: dict[str, None] = {}
        for r in rows[:50]:
            for key in _paths(r):
                keys.setdefault(key)
        return list(keys)[:200]
    try:
        for row in read_csv(file.data, name=file.name):
            return list(row.values)
    except CsvError as exc:
        raise FeedbackImportError(file.name, exc.problem, row=exc.row, field=exc.column) from None
    return []


def _paths(value: Any, prefix: str = "", depth: int = 0) -> list[str]:
    if not isinstance(value, dict) or depth > 3:
        return [prefix] if prefix else []
    out: list[str] = []
    for key, inner in value.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        out += _paths(inner, path, depth + 1) if isinstance(inner, dict) else [path]
    return out


def _json_records(file: InputFile, records_path: str | None) -> list[Any]:
    payload = load_json(file)
    found = dig(payload, records_path) if records_path else payload
    if isinstance(found, dict) and not records_path:
        found = next((v for v in found.values() if isinstance(v, list)), None)
    if not isinstance(found, list):
        where = f"'{records_path}'" if records_path else "the top level"
        raise FeedbackImportError(file.name, f"no list of records at {where}")
    return found


def read(
    files: Sequence[InputFile],
    mapping: Mapping[str, str] | None = None,
    records_path: str | None = None,
    source: str | None = None,
    **_: Any,
) -> ReadResult:
    mapping = check_mapping(mapping or {})
    result = ReadResult()
    now = utcnow().replace(microsecond=0)
    for file in files:
        is_json = file.name.lower().endswith(".json")
        src = source or (SOURCE_JSON if is_json else SOURCE_CSV)
        if is_json:
            rows: list[tuple[int, Any]] = list(enumerate(_json_records(file, records_path), 1))

            def get(record: Any, column: str) -> Any:
                return dig(record, column) if isinstance(record, dict) else None

        else:
            try:
                csv_rows = list(read_csv(file.data, name=file.name))
            except CsvError as exc:
                raise FeedbackImportError(
                    file.name, exc.problem, row=exc.row, field=exc.column
                ) from None
            if csv_rows:
                missing = [
                    c
                    for t, c in mapping.items()
                    if t not in ("kind", "score_kind_value") and c.lower() not in csv_rows[0].values
                ]
                if missing:
                    raise FeedbackImportError(
                        file.name,
                        f"no column {', '.join(repr(m) for m in missing)} (the mapping names it)",
                        row=1,
                        field=missing[0],
                    )
            rows = [(r.number, r) for r in csv_rows]

            def get(record: Any, column: str) -> Any:
                return record.get(column)

        for row, record in rows:
            result.items.append(_item(record, get, mapping, file.name, row, src, now))
    kept = [i for i in result.items if i.body.strip()]
    for _skipped in range(len(result.items) - len(kept)):
        result.skip("rows without text")
    result.items = kept
    return result


def _item(
    record: Any,
    get: Any,
    mapping: Mapping[str, str],
    file: str,
    row: int,
    source: str,
    now: dt.datetime,
) -> RawItem:
    def value(target: str) -> Any:
        column = mapping.get(target)
        return get(record, column) if column else None

    text = text_field(value("text"), file, row, mapping["text"])
    created = (
        timestamp(value("created_at"), file, row, mapping["created_at"])
        if mapping.get("created_at")
        else now
    )
    email = email_field(value("email"), file, row, mapping.get("email", "email"))
    user_id = optional_ident(value("user_id"), file, row, mapping.get("user_id", "user_id"))
    score_kind = (mapping.get("score_kind_value") or str(value("score_kind") or "")).lower() or None
    if score_kind and score_kind not in SCORE_KINDS:
        raise FeedbackImportError(
            file,
            f"'{score_kind[:20]}' is not one of {', '.join(SCORE_KINDS)}",
            row=row,
            field=mapping.get("score_kind", "score_kind"),
        )
    high = 10 if score_kind in (None, "nps") else 7
    score = number(value("score"), file, row, mapping.get("score", "score"), 0, high)
    if mapping.get("external_id"):
        external_id = ident(value("external_id"), file, row, mapping["external_id"])
    else:
        when = created.isoformat() if mapping.get("created_at") else ""
        key = f"{text}|{email or user_id or ''}|{when}"
        external_id = "h:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    kind = mapping.get("kind") or "other"
    if kind not in KINDS:
        raise InvalidInput(f"kind '{kind}' is not one of {', '.join(KINDS)}")
    tags = value("tags")
    url = value("url")
    return RawItem(
        source=source,
        external_id=external_id,
        kind=kind,
        title=(text_field(value("title"), file, row, mapping.get("title", "title"))[:500] or None),
        body=text,
        created_at=created,
        url=str(url)[:1000] if isinstance(url, str) and url.startswith("https://") else None,
        author_email=email,
        author_name=str(value("name"))[:300] if value("name") else None,
        author_external_id=user_id,
        account_external_id=optional_ident(
            value("account"), file, row, mapping.get("account", "account")
        ),
        score=score,
        score_kind=score_kind if score is not None else None,
        tags=[t.strip()[:100] for t in str(tags).split(",") if t.strip()] if tags else [],
        created_at_default=not mapping.get("created_at"),
        file=file,
        row=row,
    )
