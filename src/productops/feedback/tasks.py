"""The feedback pillar's background jobs: importing uploaded files, processing (language,
sentiment, vectors, duplicates, themes, tag suggestions), discovering themes, and telling
people their request shipped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from productops.core.auth import Permission
from productops.core.db import transaction
from productops.core.errors import InvalidInput
from productops.core.jobs import JobContext, enqueue, job_handler
from productops.core.workspace import Workspace
from productops.feedback.importers import SOURCES, InputFile
from productops.feedback.settings import section

UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def upload_dir(ws: Workspace) -> Path:
    """Where files uploaded for import wait for their job (the owner's only)."""
    folder = ws.house_dir / "feedback-uploads"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


class ImportParams(BaseModel):
    """`feedback.import`: files already placed in the upload folder."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=40)
    uploads: list[str] = Field(min_length=1, max_length=20)
    names: list[str] = Field(default_factory=list, max_length=20)
    mapping: dict[str, str] = Field(default_factory=dict, max_length=30)
    records_path: str | None = Field(default=None, max_length=200)
    survey_type: Literal["nps", "csat"] = "nps"
    process: bool = True


@job_handler(
    "feedback.import",
    "Import feedback",
    params=ImportParams,
    permission=Permission.WRITE,
    # The uploaded files are in this process's workspace folder.
    pinned=True,
)
def import_job(ctx: JobContext) -> dict[str, Any]:
    from productops.feedback.items.service import import_feedback

    params = ctx.params_as(ImportParams)
    if params.source not in SOURCES:
        raise InvalidInput(f"unknown source '{params.source}'")
    folder = upload_dir(ctx.workspace).resolve()
    paths = []
    for upload in params.uploads:
        path = (folder / upload).resolve()
        if not UPLOAD_NAME.match(upload) or path.parent != folder or not path.is_file():
            raise InvalidInput(f"no uploaded file '{upload}' to import")
        paths.append(path)
    names = params.names if len(params.names) == len(paths) else [p.name for p in paths]
    files = [InputFile(name[:200], p.read_bytes()) for name, p in zip(names, paths, strict=True)]
    try:
        with transaction(ctx.workspace.sessions) as s:
            result = import_feedback(
                s,
                params.source,
                files,
                actor=f"job:{ctx.job_id}",
                mapping=params.mapping or None,
                records_path=params.records_path,
                survey_type=params.survey_type,
                redact_pii=section(ctx.workspace).redact_pii,
                progress=lambda done, total, message: ctx.progress(done, total, message),
            )
    finally:
        for p in paths:
            p.unlink(missing_ok=True)
    out = result.as_dict()
    if params.process and (result.created or result.updated):
        with transaction(ctx.workspace.sessions) as s:
            out["process_job"] = enqueue(s, "feedback.process", {}, created_by="system").id
    return out


@job_handler("feedback.process", "Process feedback", permission=Permission.WRITE)
def process_job(ctx: JobContext) -> dict[str, Any]:
    """Language, sentiment, competitor mentions, vectors, duplicates, themes, tags."""
    from productops.feedback.pipeline import process

    return process(ctx.workspace, lambda done, total, message: ctx.progress(done, total, message))


class DiscoverParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = Field(default=0, ge=0, le=2**31)


@job_handler(
    "feedback.discover",
    "Discover feedback themes",
    params=DiscoverParams,
    permission=Permission.WRITE,
)
def discover_job(ctx: JobContext) -> dict[str, Any]:
    """Process what is pending, then discover themes over all feedback."""
    from productops.feedback.pipeline import process
    from productops.feedback.themes import service as themes

    params = ctx.params_as(DiscoverParams)
    process(ctx.workspace, lambda done, total, message: ctx.progress(done // 2, 1000, message))
    result = themes.run_discovery(
        ctx.workspace,
        lambda done, total, message: ctx.progress(500 + 5 * done, 1000, message),
        seed=params.seed,
    )
    return result.as_dict()


class NotifyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: int = Field(ge=1)


@job_handler(
    "feedback.notify",
    "Tell the people who asked that their request shipped",
    params=NotifyParams,
    permission=Permission.WRITE,
)
def notify_job(ctx: JobContext) -> dict[str, Any]:
    from productops.feedback.requests import notify

    params = ctx.params_as(NotifyParams)
    result = notify.close_the_loop(
        ctx.workspace,
        params.request_id,
        progress=lambda done, total, message: ctx.progress(done, total, message),
    )
    return result.as_dict()
