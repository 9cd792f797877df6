"""What the feedback pages and endpoints share: the filters read from the query string,
uploads with a size limit, and the sub-navigation."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from pydantic import AfterValidator, BaseModel, BeforeValidator, ValidationError, WithJsonSchema

from productops.core.errors import InvalidInput, TooLarge
from productops.feedback.importers.base import KINDS
from productops.feedback.items.filters import ARR_BANDS, SENTIMENT_BANDS, Filters
from productops.feedback.models import STATUSES
from productops.feedback.schemas import MAX_ID
from productops.web.params import OptionalDate, blank_is_none

MAX_UPLOAD_BYTES = 64 * 1024 * 1024
PAGE_SIZE = 50

# Query parameters as the pages' forms send them: an empty box means "any". The document
# says so (`""` is allowed beside each value), and `Query(...)` comes before the
# `BeforeValidator`, so that its constraints are checked after the blank became None.
_EMPTY = {"type": "string", "maxLength": 0}


def _blank_or(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, _EMPTY]})


def did_you_mean(value: str, known: Sequence[str]) -> str:
    """` (did you mean 'x'?)` for the closest known value, or nothing."""
    close = difflib.get_close_matches(value.lower(), [k.lower() for k in known], n=1, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean '{next(k for k in known if k.lower() == close[0])}'?)"


def one_of(values: tuple[str, ...]) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is not None and value not in values:
            raise ValueError(
                f"'{value[:40]}' is not one of {', '.join(values)}{did_you_mean(value, values)}"
            )
        return value

    return AfterValidator(check)


def enum_or_blank(values: tuple[str, ...]) -> WithJsonSchema:
    return _blank_or({"type": "string", "enum": list(values)})


def _ids(low: int) -> WithJsonSchema:
    return _blank_or({"type": "integer", "minimum": low, "maximum": MAX_ID})


_BLANK = BeforeValidator(blank_is_none)
Text40 = Annotated[str | None, Query(max_length=40), _BLANK]
Text60 = Annotated[str | None, Query(max_length=60), _BLANK]
Day = OptionalDate
Words = Annotated[str | None, Query(max_length=500, description="words to find"), _BLANK]
_STATUSES = (*STATUSES, "all")
KindFilter = Annotated[str | None, Query(), _BLANK, one_of(KINDS), enum_or_blank(KINDS)]
StatusFilter = Annotated[
    str | None,
    Query(description="triage status (all: any)"),
    _BLANK,
    one_of(_STATUSES),
    enum_or_blank(_STATUSES),
]
ArrBandFilter = Annotated[
    str | None,
    Query(description="the account's ARR band"),
    _BLANK,
    one_of(tuple(ARR_BANDS)),
    enum_or_blank(tuple(ARR_BANDS)),
]
SentimentFilter = Annotated[
    str | None,
    Query(description="the sentiment band"),
    _BLANK,
    one_of(tuple(SENTIMENT_BANDS)),
    enum_or_blank(tuple(SENTIMENT_BANDS)),
]
ThemeFilter = Annotated[
    int | None,
    Query(ge=0, le=MAX_ID, description="a theme's id (0: feedback no theme claims)"),
    _BLANK,
    _ids(0),
]
RefFilter = Annotated[
    int | None, Query(ge=1, le=MAX_ID, description="the record's id"), _BLANK, _ids(1)
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
    kind: KindFilter = None,
    status: StatusFilter = None,
    since: Day = None,
    until: Day = None,
    segment: Text60 = None,
    plan: Text60 = None,
    arr_band: ArrBandFilter = None,
    sentiment: SentimentFilter = None,
    theme: ThemeFilter = None,
    request: RefFilter = None,
    competitor: RefFilter = None,
    tag: RefFilter = None,
    account: RefFilter = None,
    person: RefFilter = None,
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
        raise TooLarge(f"the file is over {limit // 2**20} MiB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge(f"the file is over {limit // 2**20} MiB")
    return bytes(body)


M = TypeVar("M", bound=BaseModel)


def form_model(model: type[M], **values: Any) -> M:
    """`model` made from a form's values; what it refuses is a 422 naming the field (a
    pydantic error raised in a route would otherwise be a server error)."""
    try:
        return model(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(problems) from None


def highlight(text: str, excerpt: str | None) -> tuple[str, str, str]:
    """`text` cut around the first place `excerpt` appears (before, excerpt, after), for
    showing the highlighted words; the template escapes each part."""
    if not excerpt:
        return text, "", ""
    at = text.find(excerpt)
    if at < 0:
        return text, "", ""
    return text[:at], excerpt, text[at + len(excerpt) :]
