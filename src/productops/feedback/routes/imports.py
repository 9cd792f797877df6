"""Importing from the UI: upload files of a source; for any CSV or JSON, a mapping step shows
the file's columns to choose from; the import then runs as a job with progress."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from productops.core import jobs
from productops.core.errors import InvalidInput
from productops.feedback.importers import SOURCES, InputFile
from productops.feedback.importers.mapped import TARGETS, check_mapping, columns_of
from productops.feedback.routes.common import MAX_UPLOAD_BYTES, SUBNAV
from productops.feedback.tasks import UPLOAD_NAME, upload_dir
from productops.web.deps import DbDep, WritePage, workspace_of
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
MAX_FILES = 20


def _titles() -> list[tuple[str, str]]:
    return [(name, getattr(module, "TITLE", name)) for name, module in SOURCES.items()]


@pages.get("/feedback/import")
def import_page(request: Request, principal: WritePage) -> Response:
    return render(request, "feedback/import.html", {"subnav": SUBNAV, "sources": _titles()})


async def _save(request: Request, files: list[UploadFile]) -> list[tuple[str, str]]:
    """Each upload into the private upload folder, under a random name; (stored, shown)."""
    if not files or len(files) > MAX_FILES:
        raise InvalidInput(f"choose between 1 and {MAX_FILES} files")
    folder = upload_dir(workspace_of(request))
    saved: list[tuple[str, str]] = []
    try:
        for f in files:
            stored = f"{secrets.token_hex(12)}.upload"
            size = 0
            with (folder / stored).open("wb") as out:
                saved.append((stored, (f.filename or "upload")[-200:]))
                while chunk := await f.read(1024 * 1024):
                    size += len(chunk)
                    if size > MAX_UPLOAD_BYTES:
                        raise InvalidInput(
                            f"{f.filename}: over {MAX_UPLOAD_BYTES // 2**20} MiB (import larger "
                            "files with `productops feedback import`)"
                        )
                    out.write(chunk)
    except BaseException:
        for stored, _ in saved:
            (folder / stored).unlink(missing_ok=True)
        raise
    return saved


@pages.post("/feedback/import")
async def upload(
    request: Request,
    db: DbDep,
    principal: WritePage,
    source: Annotated[str, Form(max_length=40)],
    files: list[UploadFile],
    records_path: Annotated[str, Form(max_length=200)] = "",
    survey_type: Annotated[str, Form(pattern="^(nps|csat)$")] = "nps",
) -> Response:
    if source not in SOURCES:
        raise InvalidInput(f"unknown source '{source[:40]}'")
    saved = await _save(request, files)
    if source in ("csv", "json"):
        folder = upload_dir(workspace_of(request))
        stored, shown = saved[0]
        sample = InputFile(shown, (folder / stored).read_bytes())
        columns = columns_of(sample, records_path or None)
        return render(
            request,
            "feedback/import_mapping.html",
            {
                "subnav": SUBNAV,
                "source": source,
                "saved": saved,
                "columns": columns,
                "targets": TARGETS,
                "records_path": records_path,
            },
        )
    job = jobs.enqueue(
        db,
        "feedback.import",
        {
            "source": source,
            "uploads": [s for s, _ in saved],
            "names": [n for _, n in saved],
            "survey_type": survey_type,
        },
        created_by=principal.actor,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@pages.post("/feedback/import/mapping")
async def mapping_step(request: Request, db: DbDep, principal: WritePage) -> Response:
    """The mapping chosen for an uploaded CSV or JSON: queue its import."""
    form = await request.form()
    source = str(form.get("source", ""))
    if source not in ("csv", "json"):
        raise InvalidInput("a mapping is only for csv or json")
    uploads = [str(u) for u in form.getlist("upload")][:MAX_FILES]
    names = [str(n)[:200] for n in form.getlist("name")][:MAX_FILES]
    if not uploads or any(not UPLOAD_NAME.match(u) for u in uploads):
        raise InvalidInput("the uploaded files are gone: upload them again")
    mapping = {
        target: str(form.get(f"map_{target}", "")).strip()[:200]
        for target in TARGETS
        if str(form.get(f"map_{target}", "")).strip()
    }
    kind = str(form.get("score_kind_value", "")).strip()
    if kind:
        mapping["score_kind_value"] = kind[:20]
    check_mapping(mapping)
    job = jobs.enqueue(
        db,
        "feedback.import",
        {
            "source": source,
            "uploads": uploads,
            "names": names if len(names) == len(uploads) else [],
            "mapping": mapping,
            "records_path": str(form.get("records_path", ""))[:200] or None,
        },
        created_by=principal.actor,
    )
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)
