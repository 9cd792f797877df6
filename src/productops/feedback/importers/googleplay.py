"""Google Play's reviews report (Play Console → Download reports → Reviews): a CSV in
UTF-16 with a byte-order mark, one row per review. Star-only ratings (no text) are left
out and counted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from productops.core.csvfile import CsvError, read_csv
from productops.feedback.importers.base import (
    FeedbackImportError,
    InputFile,
    RawItem,
    ReadResult,
    number,
    text_field,
    timestamp,
)

SOURCE = "googleplay"
TITLE = "Google Play reviews (CSV, UTF-16)"
REQUIRED = ("Package Name", "Review Submit Date and Time", "Star Rating", "Review Text")
_REVIEW_ID = re.compile(r"reviewId=([^&]+)")


def read(files: Sequence[InputFile], **_: Any) -> ReadResult:
    result = ReadResult()
    for file in files:
        try:
            rows = list(read_csv(file.data, name=file.name, required=REQUIRED))
        except CsvError as exc:
            raise FeedbackImportError(
                file.name, exc.problem, row=exc.row, field=exc.column
            ) from None
        for row in rows:
            text = text_field(row.get("Review Text"), file.name, row.number, "Review Text")
            title = text_field(row.get("Review Title"), file.name, row.number, "Review Title")
            stars = number(row.get("Star Rating"), file.name, row.number, "Star Rating", 1, 5)
            if not text.strip() and not title.strip():
                result.skip("star ratings without text")
                continue
            link = row.get("Review Link").strip()
            package = row.get("Package Name").strip()
            created = timestamp(
                row.get("Review Submit Date and Time")
                or row.get("Review Submit Millis Since Epoch"),
                file.name,
                row.number,
                "Review Submit Date and Time",
            )
            if match := _REVIEW_ID.search(link):
                external_id = match.group(1)
            else:
                millis = row.get("Review Submit Millis Since Epoch").strip()
                external_id = f"{package}:{millis or created.isoformat()}:{row.get('Device')}"
            result.items.append(
                RawItem(
                    source=SOURCE,
                    external_id=external_id[:200],
                    kind="review",
                    title=title.strip() or None,
                    body=text,
                    created_at=created,
                    url=link if link.startswith("https://play.google.com/") else None,
                    score=stars,
                    score_kind="stars" if stars is not None else None,
                    extra={
                        "package": package,
                        "app_version": row.get("App Version Name"),
                        "device": row.get("Device"),
                        "reviewer_language": row.get("Reviewer Language"),
                        "developer_reply": row.get("Developer Reply Text")[:5000] or None,
                    },
                    file=file.name,
                    row=row.number,
                )
            )
    return result
