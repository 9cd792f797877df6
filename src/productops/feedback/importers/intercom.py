"""Intercom conversations, API 2.x (`GET /conversations/{id}` with its parts, a
`conversation.list` page, or a list of conversations).

The customer's words are the opening message when a user or lead wrote it and every comment
part by a user, lead or contact. A conversation in which the customer wrote nothing (an
admin's outbound message left unanswered) is left out and counted. The pre-2.0 shape
(`conversation_message`, `user`) is refused with the reason.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from productops.feedback.importers.base import (
    FeedbackImportError,
    InputFile,
    RawItem,
    ReadResult,
    dig,
    email_field,
    ident,
    load_json,
    obj,
    optional_ident,
    records,
    text_field,
    timestamp,
)

SOURCE = "intercom"
TITLE = "Intercom conversations (API 2.x JSON)"
CUSTOMER_AUTHORS = {"user", "lead", "contact"}
_TAGS = re.compile(r"<[^>]+>")


def _plain(value: str) -> str:
    return html.unescape(_TAGS.sub(" ", value)).strip()


def read(files: Sequence[InputFile], **_: Any) -> ReadResult:
    result = ReadResult()
    for file in files:
        payload = load_json(file)
        if isinstance(payload, dict) and payload.get("type") == "conversation":
            conversations = [payload]
        else:
            conversations = records(payload, file.name, "conversations", "data")
        for row, raw in enumerate(conversations, 1):
            c = obj(raw, file.name, row, "conversation")
            if "conversation_message" in c or ("user" in c and "source" not in c):
                raise FeedbackImportError(
                    file.name,
                    "this is Intercom's pre-2.0 conversation shape (conversation_message, "
                    "user): export with API version 2.x",
                    row=row,
                )
            conv_id = ident(c.get("id"), file.name, row, "id")
            words: list[str] = []
            source = c.get("source") or {}
            author = source.get("author") or {}
            if author.get("type") in CUSTOMER_AUTHORS:
                words.append(_plain(text_field(source.get("body"), file.name, row, "source.body")))
            parts = dig(c, "conversation_parts.conversation_parts") or []
            thread = []
            for p_row, part in enumerate(parts, 1):
                if not isinstance(part, dict) or part.get("part_type") != "comment":
                    continue
                body = _plain(
                    text_field(part.get("body"), file.name, f"{row}.{p_row}", "part.body")
                )
                who = (part.get("author") or {}).get("type")
                thread.append({"author": who, "text": body[:5000]})
                if who in CUSTOMER_AUTHORS and body:
                    words.append(body)
            text = "\n\n".join(w for w in words if w)
            if not text:
                result.skip("conversations with no message from the customer")
                continue
            contacts = dig(c, "contacts.contacts") or []
            contact = contacts[0] if contacts and isinstance(contacts[0], dict) else {}
            email = None
            if author.get("type") in CUSTOMER_AUTHORS:
                email = email_field(author.get("email"), file.name, row, "source.author.email")
            result.items.append(
                RawItem(
                    source=SOURCE,
                    external_id=conv_id,
                    kind="conversation",
                    title=_plain(str(source.get("subject") or c.get("title") or ""))[:500] or None,
                    body=text,
                    created_at=timestamp(c.get("created_at"), file.name, row, "created_at"),
                    url=None,
                    author_email=email,
                    author_name=author.get("name")
                    if author.get("type") in CUSTOMER_AUTHORS
                    else None,
                    author_external_id=optional_ident(
                        contact.get("external_id"), file.name, row, "contacts.external_id"
                    ),
                    score=_rating(c.get("conversation_rating")),
                    score_kind="csat" if _rating(c.get("conversation_rating")) else None,
                    tags=[
                        str(t.get("name"))[:100]
                        for t in dig(c, "tags.tags") or []
                        if isinstance(t, dict) and t.get("name")
                    ],
                    extra={"state": c.get("state"), "thread": thread},
                    file=file.name,
                    row=row,
                )
            )
    return result


def _rating(value: Any) -> float | None:
    if isinstance(value, dict) and isinstance(value.get("rating"), int | float):
        rating = float(value["rating"])
        return rating if 1 <= rating <= 5 else None
    return None
