"""App Store Connect customer reviews (`GET /v1/apps/{id}/customerReviews`, optionally with
`include=response`): rating, title, body, nickname, territory, and the developer's reply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from productops.feedback.importers.base import (
    InputFile,
    RawItem,
    ReadResult,
    dig,
    ident,
    load_json,
    number,
    obj,
    records,
    text_field,
    timestamp,
)

SOURCE = "appstore"
TITLE = "App Store Connect reviews (JSON)"


def read(files: Sequence[InputFile], **_: Any) -> ReadResult:
    result = ReadResult()
    for file in files:
        payload = load_json(file)
        replies = {}
        if isinstance(payload, dict):
            for inc in payload.get("included") or []:
                if isinstance(inc, dict) and inc.get("type") == "customerReviewResponses":
                    replies[inc.get("id")] = dig(inc, "attributes.responseBody")
        for row, raw in enumerate(records(payload, file.name, "data"), 1):
            r = obj(raw, file.name, row, "review")
            if r.get("type", "customerReviews") != "customerReviews":
                continue
            review_id = ident(r.get("id"), file.name, row, "id")
            attrs = obj(r.get("attributes"), file.name, row, "attributes")
            body = text_field(attrs.get("body"), file.name, row, "attributes.body")
            title = text_field(attrs.get("title"), file.name, row, "attributes.title")
            if not body.strip() and not title.strip():
                result.skip("ratings without text")
                continue
            reply_id = dig(r, "relationships.response.data.id")
            result.items.append(
                RawItem(
                    source=SOURCE,
                    external_id=review_id,
                    kind="review",
                    title=title.strip()[:500] or None,
                    body=body,
                    created_at=timestamp(
                        attrs.get("createdDate"), file.name, row, "attributes.createdDate"
                    ),
                    author_name=str(attrs.get("reviewerNickname") or "")[:300] or None,
                    score=number(attrs.get("rating"), file.name, row, "attributes.rating", 1, 5),
                    score_kind="stars",
                    extra={
                        "territory": attrs.get("territory"),
                        "developer_reply": replies.get(reply_id) if reply_id else None,
                    },
                    file=file.name,
                    row=row,
                )
            )
    return result
