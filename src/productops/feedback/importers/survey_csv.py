"""A generic NPS or CSAT survey export (CSV): one row per answer with a score, a comment and
who answered.

Columns (case-insensitive; the first name found is used): `score` (or `nps`, `rating`,
`csat`), `comment` (or `feedback`, `answer`, `text`, `reason`), `respondent` (or `email`,
`user_id`) — an email address or the person's external id, `id` (or `response_id`; else the
respondent and time make the id), `created_at` (or `date`, `submitted_at`), optional
`account` (an account's external id) and `survey_type` (`nps`, `csat`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from productops.core.csvfile import CsvError, CsvRow, read_csv
from productops.feedback.importers.base import (
    FeedbackImportError,
    InputFile,
    RawItem,
    ReadResult,
    email_field,
    ident,
    number,
    text_field,
    timestamp,
)

SOURCE = "survey"
TITLE = "NPS / CSAT survey (CSV: score, comment, respondent)"
SCORE = ("score", "nps", "rating", "csat")
COMMENT = ("comment", "feedback", "answer", "text", "reason")
RESPONDENT = ("respondent", "email", "user_id")
ID = ("id", "response_id")
WHEN = ("created_at", "date", "submitted_at", "timestamp")


def _pick(row: CsvRow, names: Sequence[str]) -> tuple[str, str]:
    for name in names:
        if name in row.values:
            return name, row.values[name]
    return names[0], ""


def _require(header: dict[str, str], names: Sequence[str], file: str, what: str) -> None:
    if not any(n in header for n in names):
        raise FeedbackImportError(
            file, f"no {what} column (one of {', '.join(names)})", row=1, field=names[0]
        )


def read(files: Sequence[InputFile], survey_type: str = "nps", **_: Any) -> ReadResult:
    result = ReadResult()
    for file in files:
        try:
            rows = list(read_csv(file.data, name=file.name))
        except CsvError as exc:
            raise FeedbackImportError(
                file.name, exc.problem, row=exc.row, field=exc.column
            ) from None
        if not rows:
            continue
        for what, names in (("score", SCORE), ("comment", COMMENT), ("respondent", RESPONDENT)):
            _require(rows[0].values, names, file.name, what)
        for row in rows:
            kind_col, kind = _pick(row, ("survey_type", "type"))
            kind = (kind.strip().lower() or survey_type).lower()
            if kind not in ("nps", "csat"):
                raise FeedbackImportError(
                    file.name, f"'{kind[:20]}' is not nps or csat", row=row.number, field=kind_col
                )
            score_col, raw_score = _pick(row, SCORE)
            high = 10 if kind == "nps" else 5
            low = 0 if kind == "nps" else 1
            score = number(raw_score, file.name, row.number, score_col, low, high)
            comment_col, comment = _pick(row, COMMENT)
            comment = text_field(comment, file.name, row.number, comment_col)
            who_col, who = _pick(row, RESPONDENT)
            who = who.strip()
            email = email_field(who, file.name, row.number, who_col) if "@" in who else None
            external = None if email or not who else ident(who, file.name, row.number, who_col)
            when_col, when = _pick(row, WHEN)
            created = timestamp(when, file.name, row.number, when_col)
            id_col, raw_id = _pick(row, ID)
            if raw_id.strip():
                external_id = ident(raw_id, file.name, row.number, id_col)
            else:
                key = f"{who}|{created.isoformat()}|{raw_score}"
                external_id = "h:" + hashlib.sha256(key.encode()).hexdigest()[:32]
            if not comment.strip():
                result.skip("answers with a score and no comment")
                continue
            _col, account = _pick(row, ("account", "account_id", "account_external_id"))
            result.items.append(
                RawItem(
                    source=SOURCE,
                    external_id=external_id,
                    kind="survey",
                    body=comment,
                    created_at=created,
                    author_email=email,
                    author_external_id=external,
                    account_external_id=account.strip() or None,
                    score=score,
                    score_kind=kind,
                    extra={"survey_type": kind},
                    file=file.name,
                    row=row.number,
                )
            )
    return result
