"""What the feedback pages and endpoints share: the filters read from the query string,
uploads with a size limit, and the sub-navigation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BeforeValidator

from productops.core.errors import InvalidInput
from productops.feedback.items.filters import Filters
from productops.web.params import blank_is_none

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
PAGE_SIZE = 50

Text40 = Annotated[str | None, BeforeValidator(blank_is_none), Query(max_length=40)]
Text60 = Annotated[str | None, BeforeValidator(blank_is_none), Query(max_length=60)]
Day = Annotated[dt.date | None, BeforeValidator(blank_is_none), Query()]
Id = Annotated[int | None, BeforeValidator(blank_is_none), Query(ge=0, le=2**62)]
Words = Annotated[
    str | None, BeforeValidator(blank_is_none), Query(max_length=500, description="words to find")
]

SUBNAV = (
    ("Inbox", "/feedback"),
    ("Themes", "/feedback/themes"),
    ("Requests", "/feedback/requests"),
    ("Competitors", "/feedback/competitors"),
    ("Import", "/feedback/import"),
)


def query_filters(
    source: Text40 = None,
    kind: Text40 = None,
    status: Text40 = None,
    since: Day = None,
    until: Day = None,
    segment: Text60 = None,
    plan: Text60 = None,
    arr_band: Text40 = None,
    sentiment: Text40 = None,
    theme: Id = None,
    request: Id = None,
    competitor: Id = None,
    tag: Id = None,
    account: Id = None,
    person: Id = None,
    language: Text40 = None,
) -> Filters:
    """The list filters from the query string (an empty box means "any"; `theme=0`: items
    no theme claims)."""
    if status == "all":
        status = None
    return Filters(
        source=source, kind=kind, status=status, since=since, until=until, segment=segment,
        plan=plan, arr_band=arr_band, sentiment=sentiment, theme_id=theme, request_id=request,
        competitor_id=competitor, tag_id=tag, account_id=account, person_id=person,
        language=language,
    )  # fmt: skip


def filter_params(f: Filters) -> dict[str, Any]:
    """The query-string names of set filters (for links that keep them)."""
    names = {
        "theme_id": "theme", "request_id": "request", "competitor_id": "competitor",
        "tag_id": "tag", "account_id": "account", "person_id": "person",
    }  # fmt: skip
    return {names.get(k, k): v for k, v in f.as_query().items()}


async def read_upload(request: Request, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The request body, refused past `limit` bytes without reading further."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise InvalidInput(f"the file is over {limit // 2**20} MiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise InvalidInput(f"the file is over {limit // 2**20} MiB")
    return bytes(body)


def highlight(text: str, excerpt: str | None) -> tuple[str, str, str]:
    """`text` cut around the first place `excerpt` appears (before, excerpt, after), for
    showing the highlighted words; the template escapes each part."""
    if not excerpt:
        return text, "", ""
    at = text.find(excerpt)
    if at < 0:
        return text, "", ""
    return text[:at], excerpt, text[at + len(excerpt) :]
