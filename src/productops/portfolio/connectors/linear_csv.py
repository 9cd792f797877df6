"""Linear's CSV export: one row per issue, projects by name, labels comma-separated in one
cell, and a `'` put before cells that start with `+ - = @` (its guard against spreadsheet
formulas), which is taken off again here."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from productops.core.csvfile import CsvError, CsvRow, read_csv
from productops.portfolio.connectors.parsing import number, timestamp
from productops.portfolio.connectors.records import Fetched, WorkItem, category_from_name

REQUIRED = ("Id", "Title", "Status")
# JavaScript's Date.toString(), which some exports use: "Thu May 02 2024 09:20:11 GMT+0000 (…)"
_JS_DATE = re.compile(r"^\w{3} (\w{3} \d{1,2} \d{4} \d{2}:\d{2}:\d{2}) GMT([+-]\d{4})")


def unguard(value: str) -> str:
    """A cell without Linear's formula guard (`'=1+1` → `=1+1`)."""
    if len(value) > 1 and value[0] == "'" and value[1] in "+-=@":
        return value[1:]
    return value


def _cell(row: CsvRow, column: str) -> str:
    return unguard(row.get(column)).strip()


def _when(row: CsvRow, column: str, file: str) -> dt.datetime | None:
    text = _cell(row, column)
    if not text:
        return None
    stamp = timestamp(text)
    if stamp is not None:
        return stamp
    m = _JS_DATE.match(text)
    if m:
        parsed = dt.datetime.strptime(f"{m.group(1)} {m.group(2)}", "%b %d %Y %H:%M:%S %z")
        return parsed.astimezone(dt.UTC)
    raise CsvError(file, f"'{text[:40]}' is not a date", row=row.number, column=column)


def read_linear_csv(source: Path | bytes, *, name: str | None = None) -> Fetched:
    """Every issue of a Linear CSV export, and its projects as epics."""
    file = name or (source.name if isinstance(source, Path) else "linear.csv")
    items: list[WorkItem] = []
    projects: dict[str, WorkItem] = {}
    seen: set[str] = set()
    for row in read_csv(source, name=file, required=REQUIRED):
        ident = _cell(row, "Id")
        if not ident:
            raise CsvError(file, "is empty", row=row.number, column="Id")
        if ident in seen:
            raise CsvError(file, f"issue {ident} is also in an earlier row", row=row.number)
        seen.add(ident)
        estimate_text = _cell(row, "Estimate")
        estimate = number(estimate_text) if estimate_text else None
        if estimate_text and estimate is None:
            raise CsvError(
                file, f"'{estimate_text[:40]}' is not a number", row=row.number, column="Estimate"
            )
        canceled = _when(row, "Canceled", file)
        completed = _when(row, "Completed", file)
        started = _when(row, "Started", file)
        status = _cell(row, "Status")
        if canceled:
            category = "canceled"
        elif completed:
            category = "done"
        elif started:
            category = "indeterminate"
        else:
            category = category_from_name(status)
        project = _cell(row, "Project")
        team = _cell(row, "Team") or None
        epic_ref = None
        if project:
            epic_ref = f"project:{project}"
            if epic_ref not in projects:
                projects[epic_ref] = WorkItem(
                    external_id=epic_ref,
                    title=project[:500],
                    level="epic",
                    issue_type="Project",
                    status="",
                    team_name=team,
                )
        items.append(
            WorkItem(
                external_id=ident[:200],
                key=ident[:100],
                title=_cell(row, "Title")[:500] or ident,
                level="issue",
                issue_type="Issue",
                status=status[:100],
                status_category=category,
                description=unguard(row.get("Description")),
                owner_name=_cell(row, "Assignee")[:300] or None,
                epic_ref=epic_ref,
                story_points=estimate,
                labels=[unguard(v).strip() for v in row.get("Labels").split(",") if v.strip()][:50],
                project=project[:200] or None,
                team_name=team,
                created_at=_when(row, "Created", file),
                updated_at=_when(row, "Updated", file),
                resolved_at=completed or canceled,
            )
        )
    # A project's state follows its issues: done when all are closed, started when any is.
    for ref, project_item in projects.items():
        cats = [i.status_category for i in items if i.epic_ref == ref]
        if cats and all(c in ("done", "canceled") for c in cats):
            project_item.status_category, project_item.status = "done", "Completed"
        elif any(c != "new" for c in cats):
            project_item.status_category, project_item.status = "indeterminate", "In Progress"
        else:
            project_item.status_category, project_item.status = "new", "Planned"
        stamps = [i.updated_at for i in items if i.epic_ref == ref and i.updated_at]
        project_item.updated_at = max(stamps) if stamps else None
    return Fetched(items=[*projects.values(), *items], complete=True)
