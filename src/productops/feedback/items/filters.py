"""The filters every feedback list shares (the inbox, search, exports, the API): source,
date, segment, plan, ARR band, sentiment, theme, request, competitor, tag, status…"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, fields
from typing import Any

from sqlalchemy import Select, and_, exists, select

from productops.core.errors import InvalidInput
from productops.customers import Account
from productops.feedback.models import Evidence, FeedbackItem, ItemTag, Mention
from productops.feedback.schemas import ArrBand, Sentiment, Sort

# ARR bands as product teams talk about them (annual recurring revenue, dollars).
ARR_BANDS: dict[str, tuple[float, float | None]] = {
    "none": (0, 0.01),
    "under-10k": (0.01, 10_000),
    "10k-50k": (10_000, 50_000),
    "50k-250k": (50_000, 250_000),
    "250k-plus": (250_000, None),
}
# Sentiment in -1..1; the bands people filter by.
SENTIMENT_BANDS: dict[str, tuple[float, float]] = {
    "negative": (-1.01, -0.2),
    "neutral": (-0.2, 0.2),
    "positive": (0.2, 1.01),
}
SORTS = ("newest", "oldest", "arr", "negative")
# The API document's names for them say the same.
assert set(ARR_BANDS) == set(ArrBand.__args__)  # type: ignore[attr-defined]
assert set(SENTIMENT_BANDS) == set(Sentiment.__args__)  # type: ignore[attr-defined]
assert set(SORTS) == set(Sort.__args__)  # type: ignore[attr-defined]


@dataclass
class Filters:
    """Which feedback to show. Every field is optional; empty means "any"."""

    source: str | None = None
    kind: str | None = None
    status: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    segment: str | None = None
    plan: str | None = None
    arr_band: str | None = None
    sentiment: str | None = None
    theme_id: int | None = None  # 0: items no theme claims
    request_id: int | None = None
    competitor_id: int | None = None
    tag_id: int | None = None
    account_id: int | None = None
    person_id: int | None = None
    language: str | None = None
    include_duplicates: bool = True

    def __post_init__(self) -> None:
        if self.arr_band and self.arr_band not in ARR_BANDS:
            raise InvalidInput(f"ARR band '{self.arr_band}' is not one of {', '.join(ARR_BANDS)}")
        if self.sentiment and self.sentiment not in SENTIMENT_BANDS:
            raise InvalidInput(
                f"sentiment '{self.sentiment}' is not one of {', '.join(SENTIMENT_BANDS)}"
            )
        if self.since and self.until and self.since > self.until:
            raise InvalidInput("the first day is after the last day")

    def as_query(self) -> dict[str, Any]:
        """The filters that are set, as query-string values (for links and saved views)."""
        out = {}
        for key, value in asdict(self).items():
            if value is None or value == "" or (key == "include_duplicates" and value):
                continue
            out[key] = value.isoformat() if isinstance(value, dt.date) else value
        return out

    @classmethod
    def from_query(cls, values: dict[str, Any]) -> Filters:
        """Filters from saved or sent values (unknown keys refused)."""
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise InvalidInput(f"unknown filter {', '.join(sorted(unknown))}")
        data = dict(values)
        for key in ("since", "until"):
            if isinstance(data.get(key), str):
                try:
                    data[key] = dt.date.fromisoformat(data[key])
                except ValueError:
                    raise InvalidInput(f"{key}: '{data[key]}' is not a day (YYYY-MM-DD)") from None
        for key in ("theme_id", "request_id", "competitor_id", "tag_id", "account_id", "person_id"):
            if data.get(key) not in (None, ""):
                try:
                    data[key] = int(data[key])
                except (TypeError, ValueError):
                    raise InvalidInput(f"{key}: '{data[key]}' is not a number") from None
        return cls(**data)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


def apply(query: Select[Any], f: Filters) -> Select[Any]:
    """`query` (selecting from FeedbackItem) narrowed by the filters."""
    item = FeedbackItem
    conditions: list[Any] = []
    for name in ("source", "kind", "status", "language", "account_id", "person_id"):
        value = getattr(f, name)
        if value not in (None, ""):
            conditions.append(getattr(item, name) == value)
    if not f.include_duplicates and f.status != "duplicate":
        conditions.append(item.status != "duplicate")
    if f.since:
        conditions.append(item.created_at >= _day_start(f.since))
    if f.until:
        conditions.append(item.created_at < _day_start(f.until + dt.timedelta(days=1)))
    if f.sentiment:
        low, high = SENTIMENT_BANDS[f.sentiment]
        conditions += [item.sentiment > low, item.sentiment <= high]
    if f.theme_id is not None:
        conditions.append(
            item.theme_id.is_(None) if f.theme_id == 0 else item.theme_id == f.theme_id
        )
    if f.request_id is not None:
        conditions.append(
            exists().where(Evidence.item_id == item.id, Evidence.request_id == f.request_id)
        )
    if f.competitor_id is not None:
        conditions.append(
            exists().where(Mention.item_id == item.id, Mention.competitor_id == f.competitor_id)
        )
    if f.tag_id is not None:
        conditions.append(
            exists().where(
                ItemTag.item_id == item.id, ItemTag.tag_id == f.tag_id, ItemTag.state == "applied"
            )
        )
    if f.segment or f.plan or f.arr_band:
        account = [Account.id == item.account_id]
        if f.segment:
            account.append(Account.segment == f.segment)
        if f.plan:
            account.append(Account.plan == f.plan)
        if f.arr_band:
            low_arr, high_arr = ARR_BANDS[f.arr_band]
            account.append(Account.arr >= low_arr)
            if high_arr is not None:
                account.append(Account.arr < high_arr)
        conditions.append(item.account_id.in_(select(Account.id).where(and_(*account))))
    return query.where(*conditions) if conditions else query


def order(query: Select[Any], sort: str) -> Select[Any]:
    if sort not in SORTS:
        raise InvalidInput(f"sort '{sort}' is not one of {', '.join(SORTS)}")
    item = FeedbackItem
    if sort == "oldest":
        return query.order_by(item.created_at.asc(), item.id.asc())
    if sort == "negative":
        return query.order_by(item.sentiment.asc().nulls_last(), item.id.desc())
    if sort == "arr":
        arr = select(Account.arr).where(Account.id == item.account_id).scalar_subquery()
        return query.order_by(arr.desc().nulls_last(), item.created_at.desc(), item.id.desc())
    return query.order_by(item.created_at.desc(), item.id.desc())
