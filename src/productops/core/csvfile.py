"""The one CSV reader: every importer reads CSV through `read_csv`.

What it takes care of, so that importers do not each get it wrong:

- encodings: UTF-8 with or without a byte-order mark, UTF-16 with a BOM (Google Play's review
  export), and a clear error for anything else;
- the delimiter (comma, semicolon or tab, sniffed from the header line) and quoted cells
  spanning several lines;
- limits: a whole file, a single cell and the number of columns are bounded, so a hostile
  file cannot take the server's memory;
- headers: trimmed, matched case-insensitively, duplicates refused (or kept apart, for
  exports that repeat a column on purpose);
- errors that name the file, the row (the line where the row starts) and the column.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from productops.core.errors import InvalidInput

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_CELL_CHARS = 1_000_000
MAX_COLUMNS = 2_000
# The csv module's own cap (128 KiB by default) would stop a long cell with a vague error;
# ours is checked per cell with the row and column named.
csv.field_size_limit(MAX_CELL_CHARS + 1)


class CsvError(InvalidInput):
    """A CSV file cannot be read; the message names the file, row and column."""

    def __init__(self, file: str, problem: str, row: int | None = None, column: str | None = None):
        where = file
        if row is not None:
            where += f": row {row}"
        if column is not None:
            where += f", column '{column}'"
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.row = row
        self.column = column
        self.problem = problem


@dataclass(frozen=True)
class CsvRow:
    """One data row: `number` is the line of the file where it starts (the header is line 1)."""

    number: int
    values: dict[str, str]
    repeated: dict[str, list[str]]

    def get(self, column: str, default: str = "") -> str:
        return self.values.get(column.lower(), default)

    def all(self, column: str) -> list[str]:
        """Every value of a column the file repeats (e.g. Jira's several `Labels` columns)."""
        return self.repeated.get(column.lower(), [])


def _decode(data: bytes, file: str) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise CsvError(file, f"the file says UTF-16 but byte {exc.start} is not") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvError(
            file, f"line {line} is not UTF-8 text (byte {exc.start}); save the file as UTF-8"
        ) from None


class _Excel(csv.excel):
    """Excel's rules (quoted cells, `""` for a quote inside one) with a sniffed delimiter."""


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    first = text.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;\t").delimiter
    except csv.Error:
        return csv.excel
    # Only the delimiter is taken from the sniffer: from a header without quotes it also
    # guesses `doublequote=False`, which splits `"say ""done"", then"` into several cells.
    return type("_Sniffed", (_Excel,), {"delimiter": delimiter})


def read_csv(
    source: Path | bytes,
    *,
    name: str | None = None,
    required: Sequence[str] = (),
    repeatable: Sequence[str] = (),
    max_bytes: int = MAX_FILE_BYTES,
) -> Iterator[CsvRow]:
    """The data rows of a CSV file (a path, or bytes with `name` for messages).

    Headers are matched case-insensitively (`row.get("Email")` == `row.get("email")`).
    `required` columns must exist; `repeatable` columns may appear several times (their
    values are in `row.all(...)`); any other repeated header is an error.
    """
    file = name or (source.name if isinstance(source, Path) else "upload.csv")
    if isinstance(source, Path):
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise CsvError(file, f"cannot be read: {exc.strerror}") from None
        if size > max_bytes:
            raise CsvError(file, f"is {size:,} bytes; the limit is {max_bytes:,}")
        data = source.read_bytes()
    else:
        if len(source) > max_bytes:
            raise CsvError(file, f"is {len(source):,} bytes; the limit is {max_bytes:,}")
        data = source
    text = _decode(data, file)
    if "\x00" in text:
        raise CsvError(file, "holds NUL bytes: it is not a text CSV file")
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise CsvError(file, "is empty: it needs a header row") from None
    except csv.Error as exc:
        raise CsvError(file, f"the header cannot be read: {exc}", row=1) from None
    if len(header) > MAX_COLUMNS:
        raise CsvError(file, f"has {len(header):,} columns; the limit is {MAX_COLUMNS:,}", row=1)
    names = [h.strip() for h in header]
    lowered = [n.lower() for n in names]
    repeat_ok = {r.lower() for r in repeatable}
    seen: set[str] = set()
    for original, low in zip(names, lowered, strict=True):
        if not low:
            continue
        if low in seen and low not in repeat_ok:
            raise CsvError(file, "the header names this column twice", row=1, column=original)
        seen.add(low)
    missing = [c for c in required if c.lower() not in seen]
    if missing:
        found = ", ".join(f"'{n}'" for n in names[:15] if n)
        raise CsvError(
            file,
            f"no column {' or '.join(repr(m) for m in missing)}; the columns are {found}",
            row=1,
        )
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvError(file, f"cannot be read: {exc}", row=start) from None
        line = start
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names):
            extra = cells[len(names) :]
            if any(c.strip() for c in extra):
                raise CsvError(
                    file, f"has {len(cells)} cells but the header has {len(names)}", row=line
                )
        values: dict[str, str] = {}
        repeated: dict[str, list[str]] = {}
        for i, low in enumerate(lowered):
            if not low:
                continue
            cell = cells[i] if i < len(cells) else ""
            if len(cell) > MAX_CELL_CHARS:
                raise CsvError(
                    file,
                    f"the cell is {len(cell):,} characters; the limit is {MAX_CELL_CHARS:,}",
                    row=line,
                    column=names[i],
                )
            if low in repeat_ok:
                if cell.strip():
                    repeated.setdefault(low, []).append(cell)
                values.setdefault(low, cell)
            else:
                values[low] = cell
        yield CsvRow(number=line, values=values, repeated=repeated)
