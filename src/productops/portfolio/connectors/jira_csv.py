"""Jira's CSV export ("Export Excel CSV (all fields)"): multi-value fields repeat as columns
(Labels, Component/s, Sprint, Comment…), custom fields are headed `Custom field (Name)`,
dates follow the exporting person's locale and format, descriptions are wiki markup, and
cells span lines. Read through the house's one CSV reader (BOM, delimiters, limits)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from productops.core.csvfile import CsvError, CsvRow, read_csv
from productops.portfolio.connectors.parsing import number
from productops.portfolio.connectors.records import Fetched, WorkItem, category_from_name
from productops.portfolio.connectors.wiki import wiki_to_text

REPEATED = ("Labels", "Component/s", "Components", "Sprint", "Comment", "Fix Version/s", "Watchers")
POINTS_COLUMNS = (
    "Custom field (Story Points)",
    "Custom field (Story point estimate)",
    "Story Points",
    "Story point estimate",
)
EPIC_LINK_COLUMNS = ("Custom field (Epic Link)", "Epic Link")
START_COLUMNS = ("Custom field (Start date)", "Start date", "Custom field (Target start)")
PARENT_COLUMNS = ("Parent id", "Parent", "Parent key")
# Month names as Jira writes them in the locales people export from most.
MONTHS = {
    **{
        m: i
        for i, m in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
        )
    },
    **{"mär": 3, "mrz": 3, "mai": 5, "okt": 10, "dez": 12},  # German
    **{
        "janv": 1,
        "févr": 2,
        "fevr": 2,
        "mars": 3,
        "avr": 4,
        "juin": 6,
        "juil": 7,
        "août": 8,
        "aout": 8,
        "sept": 9,
        "déc": 12,
    },  # French
    **{"ene": 1, "abr": 4, "ago": 8, "dic": 12},  # Spanish
    **{"fev": 2, "set": 9, "out": 10, "dez.": 12},  # Portuguese
    **{"mrt": 3, "mei": 5},  # Dutch
}
_TIME = r"(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
_NAMED = re.compile(r"^(\d{1,2})[/ .-]([^\d\s/.,-]+)\.?[/ .-](\d{2,4})" + _TIME)
_NUMERIC = re.compile(r"^(\d{1,4})[/.-](\d{1,2})[/.-](\d{1,4})" + _TIME)
DATE_ORDERS = ("auto", "dmy", "mdy", "ymd")


class JiraDates:
    """Reads the dates of one export. Named months (`03/Dec/20 2:05 PM`, `03.Dez.2020`)
    need no hint; all-numeric ones are read day-first or month-first as told (`date_order`),
    or as the file shows (a first number above 12 settles it)."""

    def __init__(self, order: str = "auto") -> None:
        if order not in DATE_ORDERS:
            raise ValueError(f"date order '{order}' is not one of {', '.join(DATE_ORDERS)}")
        self.order = order

    def settle(self, samples: list[str]) -> None:
        if self.order != "auto":
            return
        for text in samples:
            m = _NUMERIC.match(text.strip())
            if m and len(m.group(1)) <= 2:
                if int(m.group(1)) > 12:
                    self.order = "dmy"
                    return
                if int(m.group(2)) > 12:
                    self.order = "mdy"
                    return

    def parse(self, text: str) -> dt.datetime | None:
        text = text.strip()
        if not text:
            return None
        try:
            parsed = dt.datetime.fromisoformat(text)
            return (
                parsed.replace(tzinfo=dt.UTC)
                if parsed.tzinfo is None
                else parsed.astimezone(dt.UTC)
            )
        except ValueError:
            pass
        m = _NAMED.match(text)
        if m:
            month = MONTHS.get(m.group(2).lower().rstrip("."))
            if month is None:
                raise ValueError(f"'{m.group(2)}' is not a month name")
            d, y = int(m.group(1)), _year(m.group(3))
            return _at(y, month, d, m.group(4), m.group(5), m.group(6), m.group(7))
        m = _NUMERIC.match(text)
        if m:
            a, b, c = m.group(1), int(m.group(2)), m.group(3)
            if len(a) == 4:
                y, mo, d = int(a), b, int(c)
            elif self.order == "mdy":
                y, mo, d = _year(c), int(a), b
            else:  # day first: most of the world, and what "auto" assumes when unsure
                y, mo, d = _year(c), b, int(a)
            return _at(y, mo, d, m.group(4), m.group(5), m.group(6), m.group(7))
        raise ValueError("not a date Jira writes")


def _year(text: str) -> int:
    y = int(text)
    return y + 2000 if y < 100 else y


def _at(
    y: int, mo: int, d: int, h: str | None, mi: str | None, s: str | None, ampm: str | None
) -> dt.datetime:
    hour = int(h or 0)
    if ampm:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} with {ampm}")
        hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
    return dt.datetime(y, mo, d, hour, int(mi or 0), int(s or 0), tzinfo=dt.UTC)


def _first(row: CsvRow, columns: tuple[str, ...]) -> str:
    for c in columns:
        value = row.get(c).strip()
        if value:
            return value
    return ""


def read_jira_csv(
    source: Path | bytes, *, name: str | None = None, date_order: str = "auto", base_url: str = ""
) -> Fetched:
    """Every issue of a Jira CSV export, as work items (errors name the row and column)."""
    file = name or (source.name if isinstance(source, Path) else "jira.csv")
    rows = list(read_csv(source, name=file, required=("Summary", "Issue key"), repeatable=REPEATED))
    dates = JiraDates(date_order)
    dates.settle([r.get(c) for r in rows[:200] for c in ("Created", "Updated") if r.get(c)])
    items: list[WorkItem] = []
    seen: set[str] = set()
    for row in rows:
        key = row.get("Issue key").strip()
        if not key:
            raise CsvError(file, "is empty", row=row.number, column="Issue key")
        external_id = row.get("Issue id").strip() or key
        if external_id in seen:
            raise CsvError(file, f"issue {key} is also in an earlier row", row=row.number)
        seen.add(external_id)

        def when(column: str, row: CsvRow = row) -> dt.datetime | None:
            try:
                return dates.parse(row.get(column))
            except ValueError as exc:
                raise CsvError(
                    file,
                    f"'{row.get(column)[:40]}' is not a date ({exc})",
                    row=row.number,
                    column=column,
                ) from None

        points_text = _first(row, POINTS_COLUMNS)
        points = number(points_text) if points_text else None
        if points_text and points is None:
            raise CsvError(
                file, f"'{points_text[:40]}' is not a number", row=row.number, column="Story Points"
            )
        type_name = row.get("Issue Type").strip()
        level = (
            "epic"
            if type_name.lower() == "epic"
            else "initiative"
            if type_name.lower() in ("initiative", "theme")
            else "issue"
        )
        status = row.get("Status").strip()
        resolved = when("Resolved")
        category = row.get("Status Category").strip().lower()
        category = {"to do": "new", "in progress": "indeterminate", "done": "done"}.get(
            category, ""
        )
        due = when("Due date") if row.get("Due date").strip() else None
        start_col = next((c for c in START_COLUMNS if row.get(c).strip()), None)
        start = when(start_col) if start_col else None
        components = row.all("Component/s") or row.all("Components")
        items.append(
            WorkItem(
                external_id=external_id[:200],
                key=key[:100],
                title=row.get("Summary").strip()[:500] or key,
                level=level,  # type: ignore[arg-type]
                issue_type=type_name[:100],
                status=status[:100],
                status_category=category or category_from_name(status, resolved is not None),
                description=wiki_to_text(row.get("Description")),
                owner_name=row.get("Assignee").strip()[:300] or None,
                parent_ref=_first(row, PARENT_COLUMNS) or None,
                epic_ref=_first(row, EPIC_LINK_COLUMNS) or None,
                story_points=points,
                labels=[v.strip() for v in row.all("Labels")][:50],
                components=[v.strip() for v in components][:50],
                project=(row.get("Project key").strip() or row.get("Project name").strip() or None),
                start_date=start.date() if start else None,
                target_date=due.date() if due else None,
                created_at=when("Created"),
                updated_at=when("Updated"),
                resolved_at=resolved,
                url=f"{base_url.rstrip('/')}/browse/{key}" if base_url else None,
            )
        )
    return Fetched(items=items, complete=True)
