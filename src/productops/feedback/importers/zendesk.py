"""Zendesk tickets with their comments (`GET /api/v2/tickets`, the incremental export, or a
single `{"ticket": …}`; comments from `GET /api/v2/tickets/{id}/comments`).

The customer's words are the ticket's description and the requester's later public comments;
agents' replies and internal notes are kept beside the item, not in its text. Deleted
tickets are left out. A comments file says which ticket it belongs to through its paging
links, its comments' `ticket_id`, or a number in its name (`4101.comments.json`).
"""

from __future__ import annotations

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
    records,
    tag_list,
    text_field,
    timestamp,
)

SOURCE = "zendesk"
TITLE = "Zendesk tickets (JSON) with comments"
_TICKET_IN_URL = re.compile(r"/tickets/(\d+)/comments")
_NUMBER_IN_NAME = re.compile(r"(\d+)")


def _comment_files_ticket(file: InputFile, payload: dict[str, Any]) -> str:
    for comment in payload.get("comments") or []:
        if isinstance(comment, dict) and comment.get("ticket_id") is not None:
            return str(comment["ticket_id"])
    for link in (dig(payload, "links.next"), dig(payload, "links.prev")):
        if isinstance(link, str) and (m := _TICKET_IN_URL.search(link)):
            return m.group(1)
    if m := _NUMBER_IN_NAME.search(file.name):
        return m.group(1)
    raise FeedbackImportError(
        file.name,
        "these comments do not say which ticket they belong to: keep the API's paging "
        "links, or name the file after the ticket (e.g. 4101.comments.json)",
    )


def read(files: Sequence[InputFile], **_: Any) -> ReadResult:
    tickets: list[tuple[InputFile, int, dict[str, Any]]] = []
    comments: dict[str, list[tuple[InputFile, int, dict[str, Any]]]] = {}
    for file in files:
        payload = load_json(file)
        if isinstance(payload, dict) and "comments" in payload and "tickets" not in payload:
            ticket_id = _comment_files_ticket(file, payload)
            for i, c in enumerate(records(payload, file.name, "comments"), 1):
                comments.setdefault(ticket_id, []).append((file, i, obj(c, file.name, i)))
            continue
        if isinstance(payload, dict) and isinstance(payload.get("ticket"), dict):
            tickets.append((file, 1, payload["ticket"]))
            continue
        for i, t in enumerate(records(payload, file.name, "tickets", "results"), 1):
            tickets.append((file, i, obj(t, file.name, i, "ticket")))
    if not tickets and comments:
        raise FeedbackImportError(
            files[0].name, "holds comments but no tickets: add the tickets file"
        )
    result = ReadResult()
    for file, row, t in tickets:
        ticket_id = ident(t.get("id"), file.name, row, "id")
        if t.get("status") == "deleted":
            result.skip("deleted tickets")
            continue
        requester = t.get("requester_id")
        subject = text_field(t.get("subject") or t.get("raw_subject"), file.name, row, "subject")
        description = text_field(t.get("description"), file.name, row, "description")
        customer_words = [description]
        thread = []
        for cfile, crow, c in comments.get(ticket_id, []):
            body = text_field(
                c.get("plain_body") or c.get("body") or c.get("html_body"),
                cfile.name,
                crow,
                "body",
            )
            is_customer = requester is not None and c.get("author_id") == requester
            public = c.get("public", True) is not False
            thread.append(
                {
                    "author": "customer" if is_customer else "agent",
                    "public": public,
                    "at": str(c.get("created_at") or ""),
                    "text": body[:5000],
                }
            )
            # The first public comment repeats the description.
            if is_customer and public and body.strip() and body.strip() != description.strip():
                customer_words.append(body)
        body = "\n\n".join(w.strip() for w in customer_words if w.strip())
        if not body.strip() and not subject.strip():
            result.skip("tickets without text")
            continue
        sender = dig(t, "via.source.from") or {}
        email = email_field(sender.get("address"), file.name, row, "via.source.from.address")
        rating = t.get("satisfaction_rating") or {}
        score = None
        if isinstance(rating, dict) and rating.get("score") in ("good", "bad"):
            score = 1.0 if rating["score"] == "good" else 0.0
        result.items.append(
            RawItem(
                source=SOURCE,
                external_id=ticket_id,
                kind="ticket",
                title=subject[:500] or None,
                body=body or subject,
                created_at=timestamp(t.get("created_at"), file.name, row, "created_at"),
                url=_agent_url(t.get("url"), ticket_id),
                author_email=email,
                author_name=(sender.get("name") or None) if isinstance(sender, dict) else None,
                score=score,
                score_kind="csat_good_bad" if score is not None else None,
                tags=tag_list(t.get("tags")),
                extra={
                    "channel": dig(t, "via.channel"),
                    "status": t.get("status"),
                    "priority": t.get("priority"),
                    "type": t.get("type"),
                    "requester_id": requester,
                    "organization_id": t.get("organization_id"),
                    "satisfaction_comment": rating.get("comment")
                    if isinstance(rating, dict)
                    else None,
                    "thread": thread,
                },
                file=file.name,
                row=row,
            )
        )
    return result


def _agent_url(api_url: Any, ticket_id: str) -> str | None:
    """The agent's page for the ticket (`…/agent/tickets/ID`), from the API URL."""
    if not isinstance(api_url, str) or "/api/v2/tickets/" not in api_url:
        return None
    base = api_url.split("/api/v2/", 1)[0]
    if not base.startswith("https://"):
        return None
    return f"{base}/agent/tickets/{ticket_id}"
