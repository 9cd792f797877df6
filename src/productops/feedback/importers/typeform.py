"""Typeform responses (`GET /forms/{form_id}/responses`): each response's score (the first
opinion-scale, rating or NPS answer), its text answers, the respondent's email (an email
answer or the hidden field `email`) and hidden fields such as `account_id` and `user_id`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from productops.feedback.importers.base import (
    InputFile,
    RawItem,
    ReadResult,
    email_field,
    ident,
    load_json,
    number,
    obj,
    optional_ident,
    records,
    text_field,
    timestamp,
)

SOURCE = "typeform"
TITLE = "Typeform responses (JSON)"
SCORE_FIELDS = {"opinion_scale", "rating", "nps"}
TEXT_FIELDS = {"long_text", "short_text"}


def read(files: Sequence[InputFile], **_: Any) -> ReadResult:
    result = ReadResult()
    for file in files:
        for row, raw in enumerate(records(load_json(file), file.name, "items"), 1):
            r = obj(raw, file.name, row, "response")
            response_id = ident(r.get("response_id") or r.get("token"), file.name, row, "token")
            hidden: dict[str, Any] = r["hidden"] if isinstance(r.get("hidden"), dict) else {}
            score = score_kind = None
            texts: list[str] = []
            choices: list[str] = []
            email = email_field(hidden.get("email"), file.name, row, "hidden.email")
            for i, a in enumerate(r.get("answers") or [], 1):
                answer = obj(a, file.name, f"{row}.{i}", "answer")
                field_type = (answer.get("field") or {}).get("type")
                where = f"answers.{i}"
                if field_type in SCORE_FIELDS and score is None:
                    high = 10 if field_type in ("opinion_scale", "nps") else 5
                    score = number(answer.get("number"), file.name, row, where, 0, high)
                    score_kind = "nps" if high == 10 else "stars"
                elif field_type in TEXT_FIELDS or answer.get("type") == "text":
                    texts.append(text_field(answer.get("text"), file.name, row, where))
                elif answer.get("type") == "email" and email is None:
                    email = email_field(answer.get("email"), file.name, row, where)
                elif answer.get("type") == "choices":
                    labels = (answer.get("choices") or {}).get("labels") or []
                    choices += [str(x)[:200] for x in labels]
                    other = (answer.get("choices") or {}).get("other")
                    if other:
                        choices.append(str(other)[:200])
            text = "\n\n".join(t.strip() for t in texts if t.strip())
            if not text:
                result.skip("responses without a text answer")
                continue
            result.items.append(
                RawItem(
                    source=SOURCE,
                    external_id=response_id,
                    kind="survey",
                    body=text,
                    created_at=timestamp(
                        r.get("submitted_at") or r.get("landed_at"), file.name, row, "submitted_at"
                    ),
                    author_email=email,
                    author_external_id=optional_ident(
                        hidden.get("user_id"), file.name, row, "hidden.user_id"
                    ),
                    account_external_id=optional_ident(
                        hidden.get("account_id"), file.name, row, "hidden.account_id"
                    ),
                    score=score,
                    score_kind=score_kind,
                    extra={"hidden": hidden, "choices": choices},
                    file=file.name,
                    row=row,
                )
            )
    return result
