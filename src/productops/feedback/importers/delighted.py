"""Delighted survey responses (`GET /v1/survey_responses.json`, with or without
`expand[]=person`): a JSON list of responses with score, comment and person."""

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
    tag_list,
    text_field,
    timestamp,
)

SOURCE = "delighted"
TITLE = "Delighted survey responses (JSON)"
SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7), "smileys": (1, 5), "thumbs": (0, 1)}


def read(files: Sequence[InputFile], **_: Any) -> ReadResult:
    result = ReadResult()
    for file in files:
        for row, raw in enumerate(records(load_json(file), file.name, "survey_responses"), 1):
            r = obj(raw, file.name, row, "response")
            response_id = ident(r.get("id"), file.name, row, "id")
            kind = str(r.get("survey_type") or "nps").lower()
            low, high = SCALES.get(kind, (0, 10))
            score = number(r.get("score"), file.name, row, "score", low, high)
            comment = text_field(r.get("comment"), file.name, row, "comment")
            answers = []
            for a in r.get("additional_answers") or []:
                value = (a or {}).get("value") or {}
                if isinstance(value, dict) and value.get("free_response"):
                    answers.append(
                        text_field(value["free_response"], file.name, row, "free_response")
                    )
            text = "\n\n".join(t.strip() for t in [comment, *answers] if t and t.strip())
            if not text:
                result.skip("answers with a score and no comment")
                continue
            person = r.get("person")
            email = name = None
            if isinstance(person, dict):
                email = email_field(person.get("email"), file.name, row, "person.email")
                name = person.get("name") if isinstance(person.get("name"), str) else None
            props: dict[str, Any] = (
                r["person_properties"] if isinstance(r.get("person_properties"), dict) else {}
            )
            result.items.append(
                RawItem(
                    source=SOURCE,
                    external_id=response_id,
                    kind="survey",
                    body=text,
                    created_at=timestamp(r.get("created_at"), file.name, row, "created_at"),
                    url=r.get("permalink") if isinstance(r.get("permalink"), str) else None,
                    author_email=email,
                    author_name=name,
                    author_external_id=optional_ident(
                        props.get("user_id") or props.get("external_id"), file.name, row, "user_id"
                    ),
                    account_external_id=optional_ident(
                        props.get("account_id"), file.name, row, "person_properties.account_id"
                    ),
                    score=score,
                    score_kind=kind if kind in ("nps", "csat", "ces", "thumbs") else None,
                    tags=tag_list(r.get("tags")),
                    extra={
                        "survey_type": kind,
                        "person_properties": props,
                        "delighted_person": person if isinstance(person, str) else None,
                        "notes": [
                            str((n or {}).get("text", ""))[:2000] for n in r.get("notes") or []
                        ],
                    },
                    file=file.name,
                    row=row,
                )
            )
    return result
