"""Exports, written once: values made JSON-ready, and CSV that spreadsheets cannot execute.

Every CSV productops hands out (metric results, insight panels, SQL console, lists) goes
through `to_csv` / `frame_csv`; every JSON result row through `jsonable` / `frame_records`.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import math
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def jsonable(value: Any) -> Any:
    """A value JSON can carry: dates and times as ISO text, decimals and numpy scalars as
    numbers, NaN and missing values as None, bytes as hex."""
    if value is None:
        return None
    if type(value).__name__ in ("NaTType", "NAType"):
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if type(value).__name__ == "MonthDayNano":  # a DuckDB INTERVAL, through Arrow
        months, days, nanoseconds = value
        return f"{months} months {days} days {nanoseconds / 1e9:g} seconds"
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and (value != value or value in (math.inf, -math.inf)):
        return None if value != value else str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame as JSON-ready rows."""
    return [
        {str(k): jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")
    ]


def frame_rows(frame: pd.DataFrame) -> list[list[Any]]:
    """A DataFrame as JSON-ready lists, in column order."""
    return [[jsonable(v) for v in row] for row in frame.itertuples(index=False)]


def csv_safe(value: Any) -> Any:
    """A cell value that spreadsheets show as text, never run as a formula.

    Text starting with `= + - @`, tab or carriage return gets a leading `'`. Numbers stay
    numbers (a negative number is not a formula).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | decimal.Decimal):
        return value
    if isinstance(value, str):
        text = value
    elif isinstance(value, dict | list | tuple):
        text = json.dumps(jsonable(value), default=str)
    else:
        text = str(jsonable(value))
    if text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def to_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV text (header + rows) with every cell, headers included, made formula-safe."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_safe(c) for c in columns])
    for row in rows:
        writer.writerow([csv_safe(jsonable(v)) for v in row])
    return buf.getvalue()


def frame_csv(frame: pd.DataFrame) -> str:
    """A DataFrame as formula-safe CSV."""
    return to_csv([str(c) for c in frame.columns], frame_rows(frame))


def frame_parquet(frame: pd.DataFrame) -> bytes:
    """A DataFrame as a Parquet file (text cells are data there, never formulas)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


# --- numbers as people read them ---------------------------------------------------------

SHARE_COLUMNS = ("rate", "conversion", "dau_mau", "share", "percent")


def readable(value: Any, column: str) -> str:
    """A table cell as people read it: thousands separated, shares as percentages, no
    floating-point noise (`66.6%`, not `66.5924276169265`)."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        name = column.lower()
        if name == "percent":
            return f"{value:.1f}%"
        if any(part in name for part in SHARE_COLUMNS) and -1.5 <= value <= 1.5:
            return f"{value * 100:.1f}%"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:,.2f}"
    return str(value)
