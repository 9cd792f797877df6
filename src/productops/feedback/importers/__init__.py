"""Feedback importers, one module per source. Each reads its files completely (raising a
`FeedbackImportError` naming the file, row and field for the first bad value) and returns
the items; `service.import_feedback` links and stores them in one transaction.

Adding a source is one module with `SOURCE`, `TITLE` and `read(files, **options)`, and one
line in `SOURCES`.
"""

from __future__ import annotations

from types import ModuleType

from productops.feedback.importers import (
    appstore,
    delighted,
    gong,
    googleplay,
    intercom,
    mapped,
    survey_csv,
    typeform,
    zendesk,
)
from productops.feedback.importers.base import (
    FeedbackImportError,
    InputFile,
    RawItem,
    ReadResult,
)

SOURCES: dict[str, ModuleType] = {
    zendesk.SOURCE: zendesk,
    intercom.SOURCE: intercom,
    survey_csv.SOURCE: survey_csv,
    delighted.SOURCE: delighted,
    typeform.SOURCE: typeform,
    googleplay.SOURCE: googleplay,
    appstore.SOURCE: appstore,
    gong.SOURCE: gong,
    mapped.SOURCE_CSV: mapped,
    mapped.SOURCE_JSON: mapped,
}

__all__ = ["SOURCES", "FeedbackImportError", "InputFile", "RawItem", "ReadResult"]
