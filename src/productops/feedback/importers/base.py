"""What every feedback importer shares: the item it yields, the error it raises (file, row,
field, reason), reading JSON with limits, and parsing times, scores and text.

An importer reads its files completely before anything is written: a bad row stops the
import with its place named, and nothing is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from productops.core.errors import InvalidInput

MAX_FILE_BYTES = 256 * 1024 * 1024
# One text field (a ticket body, a transcript) may be long, but not unbounded: a hostile
# 50 MB cell is refused with its place named instead of filling the database.
MAX_TEXT_CHARS = 200_000
MAX_ID_CHARS = 200
# Spelled without `\s` (which means something else to JSON Schema than to Python), so the API
# document can carry the same pattern: no blanks, control characters, quotes or angle brackets.
_NOT_IN_ADDRESS = r"@<>\"'\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
EMAIL_PATTERN = rf"^[^{_NOT_IN_ADDRESS}]{{1,64}}@[A-Za-z0-9.-]{{1,255}}\.[A-Za-z]{{2,63}}$"
EMAIL = re.compile(EMAIL_PATTERN)
KINDS = ("ticket", "conversation", "survey", "review", "call", "other")
SCORE_KINDS = ("nps", "csat", "stars", "ces", "thumbs")


class FeedbackImportError(InvalidInput):
    """A feedback file cannot be imported; the message names the file, row and field."""

    def __init__(
        self, file: str, problem: str, row: int | str | None = None, field: str | None = None
    ) -> None:
        where = file
        if row is not None:
            where += f": row {row}"
        if field is not None:
            where += f", field '{field}'"
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.row = row
        self.field = field
        self.problem = problem


@dataclass
class InputFile:
    """A file to import: its name (for messages) and its bytes."""

    name: str
    data: bytes

    @classmethod
    def read(cls, path: Path, max_bytes: int = MAX_FILE_BYTES) -> InputFile:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise FeedbackImportError(path.name, f"cannot be read: {exc.strerror}") from None
        if size > max_bytes:
            raise FeedbackImportError(path.name, f"is {size:,} bytes; the limit is {max_bytes:,}")
        return cls(path.name, path.read_bytes())


@dataclass
class RawItem:
    """One piece of feedback as an importer read it, before it is linked and stored."""

    source: str
    external_id: str
    kind: str
    body: str
    created_at: dt.datetime
    title: str | None = None
    url: str | None = None
    author_email: str | None = None
    author_name: str | None = None
    author_external_id: str | None = None
    account_external_id: str | None = None
    score: float | None = None
    score_kind: str | None = None
    tags: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # The source gave no time: `created_at` is the import's, and a stored item keeps its own.
    created_at_default: bool = False
    # Where it came from, for messages: file and row.
    file: str = ""
    row: int | str | None = None


@dataclass
class ReadResult:
    """What an importer read: the items, and what it left out on purpose (and why)."""

    items: list[RawItem] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def load_json(file: InputFile) -> Any:
    """The file's JSON; a clear error for bad encodings and truncated or broken JSON."""
    data = file.data
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FeedbackImportError(
            file.name, f"line {line} is not UTF-8 text (byte {exc.start}); export it as UTF-8"
        ) from None
    if not text.strip():
        raise FeedbackImportError(file.name, "is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
            problem = "the JSON ends too early (is the file truncated?)"
        else:
            problem = f"is not valid JSON: {exc.msg}"
        raise FeedbackImportError(
            file.name, f"{problem} at line {exc.lineno}, column {exc.colno}"
        ) from None


def records(value: Any, file: str, *keys: str) -> list[Any]:
    """The list under the first of `keys` in an object (or the value itself if it is a
    list); an error naming what was expected otherwise."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                found = value[key]
                if not isinstance(found, list):
                    raise FeedbackImportError(file, f"'{key}' is not a list")
                return found
    expected = " or ".join(f"'{k}'" for k in keys)
    raise FeedbackImportError(file, f"expected a JSON list or an object with {expected}")


def obj(value: Any, file: str, row: int | str, what: str = "record") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FeedbackImportError(file, f"the {what} is not a JSON object", row=row)
    return value


def text_field(
    value: Any, file: str, row: int | str | None, name: str, required: bool = False
) -> str:
    """A text value (numbers become text); bounded in length."""
    if value is None:
        value = ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FeedbackImportError(file, f"is {type(value).__name__}, not text", row=row, field=name)
    out = str(value)
    if len(out) > MAX_TEXT_CHARS:
        raise FeedbackImportError(
            file,
            f"is {len(out):,} characters; the limit is {MAX_TEXT_CHARS:,}",
            row=row,
            field=name,
        )
    if "\x00" in out:
        out = out.replace("\x00", "")
    if required and not out.strip():
        raise FeedbackImportError(file, "is empty", row=row, field=name)
    return out


def ident(value: Any, file: str, row: int | str | None, name: str) -> str:
    """An external id: required, short, printable."""
    out = text_field(value, file, row, name, required=True).strip()
    if len(out) > MAX_ID_CHARS:
        raise FeedbackImportError(
            file, f"is longer than {MAX_ID_CHARS} characters", row=row, field=name
        )
    if any(ord(c) < 32 for c in out):
        raise FeedbackImportError(file, "holds control characters", row=row, field=name)
    return out


def optional_ident(value: Any, file: str, row: int | str | None, name: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return ident(value, file, row, name)


_LINK = re.compile(r"https://[^\x00-\x20\x7f-\xa0\"'<>`]{1,990}")


def link(value: Any) -> str | None:
    """A link to the original that is safe to put in an `href`: an https URL without blanks,
    quotes or angle brackets; anything else (a `javascript:` URL, say) is dropped."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value if _LINK.fullmatch(value) else None


def email_field(value: Any, file: str, row: int | str | None, name: str) -> str | None:
    """An email address, lower-cased; None when absent. A malformed one is an error."""
    if value is None:
        return None
    text = text_field(value, file, row, name).strip()
    if not text:
        return None
    if not EMAIL.match(text):
        raise FeedbackImportError(
            file, f"'{text[:60]}' is not an email address", row=row, field=name
        )
    return text.lower()


_NAIVE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d", "%d/%m/%Y")


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _NAIVE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def timestamp(value: Any, file: str, row: int | str | None, name: str) -> dt.datetime:
    """A time as UTC: ISO 8601 (any offset; none means UTC), Unix seconds or milliseconds."""
    if isinstance(value, bool) or value is None or value == "":
        raise FeedbackImportError(file, "is missing: a time is needed", row=row, field=name)
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        number = float(value)
        if number > 1e11:  # milliseconds
            number /= 1000
        try:
            return dt.datetime.fromtimestamp(number, dt.UTC)
        except (OverflowError, OSError, ValueError):
            raise FeedbackImportError(file, f"{value} is not a time", row=row, field=name) from None
    if not isinstance(value, str):
        raise FeedbackImportError(
            file, f"is {type(value).__name__}, not a time", row=row, field=name
        )
    text = value.strip()
    parsed = _parse_time(text)
    if parsed is None:
        raise FeedbackImportError(
            file, f"'{text[:40]}' is not a date or time (use ISO 8601)", row=row, field=name
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    if not 1990 <= parsed.year <= 2100:
        raise FeedbackImportError(file, f"'{text[:40]}' is out of range", row=row, field=name)
    return parsed.astimezone(dt.UTC)


def number(
    value: Any,
    file: str,
    row: int | str | None,
    name: str,
    low: float,
    high: float,
) -> float | None:
    """A score within [low, high]; None when absent."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise FeedbackImportError(file, "is true/false, not a number", row=row, field=name)
    try:
        out = float(str(value).strip().replace(",", "."))
    except ValueError:
        raise FeedbackImportError(
            file, f"'{str(value)[:40]}' is not a number", row=row, field=name
        ) from None
    if out != out or not low <= out <= high:
        raise FeedbackImportError(
            file, f"{out:g} is outside {low:g} to {high:g}", row=row, field=name
        ) from None
    return out


def tag_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(t)[:100] for t in value if isinstance(t, str | int) and str(t).strip()][:50]


def dig(value: Any, path: str) -> Any:
    """`a.b.0.c` inside nested objects and lists; None when any step is missing."""
    current = value
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def joined(parts: Sequence[str]) -> str:
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def iter_files(files: Sequence[InputFile]) -> Iterator[InputFile]:
    if not files:
        raise InvalidInput("no file to import")
    yield from files
