"""Export responses: every CSV and Parquet download goes through here, and through the one
formula-safe writer in `core.export`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fastapi.responses import Response

from productops.core.errors import NotFound
from productops.core.export import frame_csv, frame_parquet, to_csv

if TYPE_CHECKING:
    import pandas as pd

EXPORT_FORMATS = ("csv", "parquet")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _disposition(filename: str) -> dict[str, str]:
    safe = _SAFE_NAME.sub("-", filename).strip("-") or "export"
    return {"Content-Disposition": f'attachment; filename="{safe}"'}


def csv_response(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], filename: str, **headers: str
) -> Response:
    """A CSV download (header + rows, every cell formula-safe)."""
    return Response(
        to_csv(columns, rows),
        media_type="text/csv; charset=utf-8",
        headers={**_disposition(f"{filename}.csv"), **headers},
    )


def frame_response(frame: pd.DataFrame, fmt: str, filename: str) -> Response:
    """A DataFrame as a CSV or Parquet download."""
    if fmt not in EXPORT_FORMATS:
        raise NotFound(f"no export format '{fmt}' (use {' or '.join(EXPORT_FORMATS)})")
    if fmt == "parquet":
        return Response(
            frame_parquet(frame),
            media_type="application/vnd.apache.parquet",
            headers=_disposition(f"{filename}.parquet"),
        )
    return Response(
        frame_csv(frame),
        media_type="text/csv; charset=utf-8",
        headers=_disposition(f"{filename}.csv"),
    )


# For the OpenAPI document: endpoints that can answer CSV say so.
CSV_RESPONSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/csv": {"schema": {"type": "string"}}},
        "description": "The rows as JSON, or as CSV with `format=csv` (formula-safe cells).",
    }
}
