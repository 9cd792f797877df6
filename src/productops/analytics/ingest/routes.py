"""Ingest endpoints that existing SDKs speak: Segment's HTTP tracking API and PostHog capture.

A team points its Segment or PostHog client at productops by changing the host. The write
key / project key is a productops API key with the `ingest` scope (or `admin`): Segment sends
it as HTTP Basic auth (username = key) or as `writeKey` in the body, PostHog as `api_key` (or
`token`) in the body. A `Authorization: Bearer` key works for both.

Answers: 200 with a summary once the events are committed (`received`, `stored`,
`duplicates`, and the `rejected` messages with index and reason — the rest of a batch is kept);
400 malformed JSON or body, 401 unknown or revoked key, 403 a key without the ingest scope,
413 too large, 415 an unsupported Content-Encoding, 503 the event store could not commit in
time or too many keyless bodies are being checked (clients retry after `Retry-After`; re-sent
events are not stored twice). Error bodies carry `code`, `message` and `detail`, which both
clients log.

A body is parsed only once its key is known to be valid: a key in the body is found in the
bytes first (`guard`), and repeated 401s from one address are answered ever more slowly.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import datetime as dt
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import duckdb
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from productops.analytics import store
from productops.analytics.ingest import guard
from productops.analytics.ingest.guard import IngestGuard
from productops.analytics.ingest.service import (
    POSTHOG_LIMITS,
    SEGMENT_LIMITS,
    IngestError,
    IngestResult,
    Limits,
    MalformedPayload,
    PayloadTooLarge,
    decompress,
    may_hold_surrogates,
    normalise_posthog,
    normalise_segment,
    parse_json,
    posthog_messages,
    store_normalised,
)
from productops.analytics.settings import events_file
from productops.core import auth
from productops.core.auth import Permission
from productops.core.clock import naive_utc, utcnow
from productops.core.db import best_effort_write
from productops.core.errors import TooLarge
from productops.core.workspace import Workspace
from productops.web.deps import WriteApi, client_ip, csrf_exempt, reads_only, workspace_of
from productops.web.responses import error_responses

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])

CORS_HEADERS = {
    # Key-authenticated and cookie-free, so any web page may send events (as with PostHog).
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


class IngestRejection(BaseModel):
    index: int = Field(description="position of the message in the batch (0-based)")
    reason: str


class IngestSummary(BaseModel):
    success: bool = True
    status: int | None = Field(None, description="PostHog's success flag (1)")
    received: int = Field(description="messages in the request")
    stored: int = Field(description="events stored now")
    duplicates: int = Field(description="events already stored (re-sent), not stored again")
    rejected_count: int
    rejected: list[IngestRejection] = Field(description="refused messages (first 100)")


class IngestErrorBody(BaseModel):
    success: bool = False
    code: str
    message: str
    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": IngestErrorBody, "description": "Malformed JSON or body"},
    401: {"model": IngestErrorBody, "description": "Unknown or revoked key"},
    403: {"model": IngestErrorBody, "description": "The key may not ingest"},
    413: {"model": IngestErrorBody, "description": "Body or message too large"},
    415: {"model": IngestErrorBody, "description": "Unsupported Content-Encoding"},
    503: {
        "model": IngestErrorBody,
        "description": "The event store, or the checking of keyless bodies, is busy: retry",
    },
}

_ANY_OBJECT: dict[str, Any] = {"type": "object", "additionalProperties": True}
_SEGMENT_MESSAGE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "type": {
            "type": "string",
            "enum": ["track", "page", "screen", "identify", "group", "alias"],
        },
        "userId": {"type": ["string", "null"]},
        "anonymousId": {"type": ["string", "null"]},
        "messageId": {"type": "string"},
        "event": {"type": "string"},
        "timestamp": {"type": "string"},
        "properties": _ANY_OBJECT,
        "traits": _ANY_OBJECT,
        "context": _ANY_OBJECT,
    },
    "additionalProperties": True,
}
_POSTHOG_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"type": "string"},
        "distinct_id": {"type": "string"},
        "uuid": {"type": "string"},
        "timestamp": {"type": "string"},
        "properties": _ANY_OBJECT,
    },
    "additionalProperties": True,
}


def _body_doc(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    }


SEGMENT_BATCH_DOC = _body_doc(
    {
        "type": "object",
        "required": ["batch"],
        "properties": {
            "batch": {"type": "array", "items": _SEGMENT_MESSAGE},
            "writeKey": {"type": "string"},
            "sentAt": {"type": "string"},
            "context": _ANY_OBJECT,
        },
    }
)
SEGMENT_CALL_DOC = _body_doc(
    {**_SEGMENT_MESSAGE, "properties": {**_SEGMENT_MESSAGE["properties"], "writeKey": {}}}
)
POSTHOG_DOC = _body_doc(
    {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "api_key": {"type": "string"},
                    "batch": {"type": "array", "items": _POSTHOG_EVENT},
                    "sent_at": {"type": "string"},
                    "historical_migration": {"type": "boolean"},
                },
            },
            {"type": "array", "items": _POSTHOG_EVENT},
        ]
    }
)


# --- authentication ------------------------------------------------------------------------


NO_KEY = "no write key: send the API key as Basic auth, 'writeKey' or 'api_key'"


class IngestAuthError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def authenticate_ingest_key(ws: Workspace, secret: str | None) -> auth.Principal:
    """The caller behind an ingest key; IngestAuthError (401 / 403) otherwise.

    Uses a short session of its own rather than the request's write transaction, so that
    concurrent ingest requests do not queue on the app database's write lock while they wait
    for the event store.
    """
    if not secret:
        raise IngestAuthError(401, "unauthorized", NO_KEY)
    with ws.sessions() as session:
        row = auth.api_key_for_secret(session, secret)
        principal = auth.principal_for_api_key(row) if row is not None else None
        stamp = auth.key_use_to_record(row) if row is not None else None
    if stamp is not None:
        # Best effort: a busy app database must not refuse events.
        best_effort_write(ws.engine, stamp)
    if principal is None:
        raise IngestAuthError(401, "unauthorized", "the write key is unknown or revoked")
    if not principal.can(Permission.INGEST):
        raise IngestAuthError(
            403, "forbidden", f"a key with scope '{principal.scope}' may not send events"
        )
    return principal


def _header_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""  # present but unreadable: refused as an unknown key
        username, _, password = decoded.partition(":")
        return username or password
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _segment_body_key(payload: Any) -> str | None:
    return _text(payload.get("writeKey")) if isinstance(payload, dict) else None


def _posthog_body_key(payload: Any) -> str | None:
    if isinstance(payload, dict):
        key = _text(payload.get("api_key")) or _text(payload.get("token"))
        if key:
            return key
    try:
        messages, _, _ = posthog_messages(payload)
    except MalformedPayload:
        return None
    for msg in messages[:1]:
        if isinstance(msg, dict):
            props = msg.get("properties")
            return (
                _text(msg.get("api_key"))
                or _text(msg.get("token"))
                or (_text(props.get("token")) if isinstance(props, dict) else None)
            )
    return None


# --- request handling ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    raw: bytes
    encoding: str | None
    header_key: str | None
    query_key: str | None
    form: bool
    received_at: dt.datetime


async def _read(request: Request, limit: int) -> _Request:
    received_at = naive_utc(utcnow())
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(
            f"the body is {int(length):,} bytes; the limit is {limit // 1024:,} KiB"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over {limit // 1024:,} KiB; send smaller batches")
        chunks.append(chunk)
    encoding = request.headers.get("content-encoding")
    compression = request.query_params.get("compression", "").lower()
    if not encoding and compression in ("gzip", "gzip-js"):
        encoding = "gzip"
    return _Request(
        raw=b"".join(chunks),
        encoding=encoding,
        header_key=_header_key(request),
        query_key=request.query_params.get("api_key") or request.query_params.get("token"),
        form=request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ),
        received_at=received_at,
    )


def _form_data(body: bytes) -> bytes:
    """posthog-js' fallback: `data=<JSON or base64 JSON>` as a form field."""
    fields = parse_qs(body.decode("utf-8", "replace"))
    data = (fields.get("data") or [""])[0]
    if data[:1] in ("{", "["):
        return data.encode("utf-8")
    try:
        return base64.b64decode(data + "=" * (-len(data) % 4), validate=False)
    except (binascii.Error, ValueError) as exc:
        raise MalformedPayload("the form field 'data' is neither JSON nor base64") from exc


def _inflate(req: _Request, limit: int, form: bool) -> bytes:
    body = decompress(req.raw, req.encoding, limit)
    if form:
        body = decompress(_form_data(body), None, limit)
    return body


@dataclass(frozen=True)
class _Screened:
    """A body key found in the bytes and accepted before anything parsed them."""

    key: str
    body: bytes | None  # the inflated body, when finding the key took all of it


def _screen(ws: Workspace, req: _Request, limit: int, name: str, form: bool) -> _Screened:
    """The key a body carries, found without parsing it where real clients put it (`name`
    first or last in the top-level object, else a string shaped like a key) and accepted;
    IngestAuthError when none of those is a valid ingest key. `name` is the member the
    protocol reads first ('writeKey', 'api_key'): where it leads or ends the body, it
    decides."""
    if not form:
        key = guard.head_key(guard.inflate_prefix(req.raw, req.encoding), name)
        if key is not None:
            authenticate_ingest_key(ws, key)  # a bomb behind a bad key is never inflated
            return _Screened(key, None)
    body = _inflate(req, limit, form)
    key = guard.tail_key(body, name)
    if key is not None:
        authenticate_ingest_key(ws, key)
        return _Screened(key, body)
    refusal = IngestAuthError(401, "unauthorized", NO_KEY)
    for candidate in [*guard.key_candidates(body), req.query_key]:
        if not candidate:
            continue
        try:
            authenticate_ingest_key(ws, candidate)
        except IngestAuthError as exc:
            if refusal.status == 401:
                refusal = exc  # a known key of the wrong scope says more than an unknown one
            continue
        return _Screened(candidate, body)
    raise refusal


def _accept_body_key(ws: Workspace, key: str | None, screened: _Screened | None) -> None:
    """The key the parsed body names, by the protocol's rules, must be valid too: finding
    one cheaply lets in nothing that reading the body would refuse."""
    if screened is None or key != screened.key:
        authenticate_ingest_key(ws, key)


def _handle_segment(
    ws: Workspace, req: _Request, call: str | None, limits: Limits, screened: _Screened | None
) -> IngestResult:
    if req.header_key is not None:
        authenticate_ingest_key(ws, req.header_key)
    limit = limits.batch_bytes if call is None else limits.message_bytes
    if screened is not None and screened.body is not None:
        body = screened.body
    else:
        body = _inflate(req, limit, form=False)
    payload = parse_json(body)
    if req.header_key is None:
        _accept_body_key(ws, _segment_body_key(payload) or req.query_key, screened)
    batch = normalise_segment(
        payload,
        req.received_at,
        call=call,
        limits=limits,
        body_size=len(body),
        check_text=may_hold_surrogates(body),
    )
    return store_normalised(ws, batch)


def _handle_posthog(
    ws: Workspace, req: _Request, limits: Limits, screened: _Screened | None
) -> IngestResult:
    if req.header_key is not None:
        authenticate_ingest_key(ws, req.header_key)
    if screened is not None and screened.body is not None:
        body = screened.body
    else:
        body = _inflate(req, limits.batch_bytes, req.form)
    payload = parse_json(body)
    if req.header_key is None:
        _accept_body_key(ws, _posthog_body_key(payload) or req.query_key, screened)
    batch = normalise_posthog(
        payload,
        req.received_at,
        limits=limits,
        body_size=len(body),
        check_text=may_hold_surrogates(body),
    )
    return store_normalised(ws, batch)


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"success": False, "code": code, "message": message, "detail": message},
        status_code=status,
        headers={**CORS_HEADERS, **headers},
    )


def guard_of(app: FastAPI) -> IngestGuard:
    """The app's ingest guard (made by `register`, else on first use)."""
    found = getattr(app.state, "ingest_guard", None)
    if not isinstance(found, IngestGuard):
        found = app.state.ingest_guard = IngestGuard.from_environment()
    return found


Screen = Callable[[_Request], _Screened]
Work = Callable[[_Request, _Screened | None], IngestResult]


async def _answer(
    request: Request, limit: int, screen: Screen, work: Work, posthog: bool
) -> Response:
    checks = guard_of(request.app)
    response = await _attempt(request, limit, screen, work, posthog, checks)
    if response.status_code == 401:
        # Held only now, with the body and every frame that read it let go: a held answer
        # costs a socket and a timer.
        await checks.hold(checks.refused(client_ip(request)))
    return response


async def _attempt(
    request: Request, limit: int, screen: Screen, work: Work, posthog: bool, checks: IngestGuard
) -> Response:
    ws = workspace_of(request)
    try:
        req = await _read(request, limit)
        screened = None
        if checks.enabled and req.header_key is None:
            # The caller is a stranger until its key is found: a few at a time.
            if not await checks.gate.enter(checks.wait_seconds):
                return _error(
                    503,
                    "busy",
                    "too many requests without an Authorization header are being checked: retry",
                    **{"Retry-After": "1"},
                )
            try:
                screened = await run_in_threadpool(screen, req)
            finally:
                checks.gate.leave()
        result = await run_in_threadpool(work, req, screened)
    except IngestError as exc:
        return _error(exc.status, exc.code, str(exc))
    except IngestAuthError as exc:
        extra = {"WWW-Authenticate": 'Basic realm="productops"'} if exc.status == 401 else {}
        return _error(exc.status, exc.code, str(exc), **extra)
    except (concurrent.futures.TimeoutError, store.EventStoreError, duckdb.Error) as exc:
        log.warning("ingest into %s failed: %s", events_file(ws), exc)
        return _error(
            503,
            "store_unavailable",
            "the event store could not commit in time: retry",
            **{"Retry-After": "1"},
        )
    body = result.as_dict()
    if posthog:
        body["status"] = 1
    return JSONResponse(body, headers=CORS_HEADERS)


def _segment_endpoint(call: str | None) -> Callable[[Request], Awaitable[Response]]:
    limits = SEGMENT_LIMITS
    limit = limits.batch_bytes if call is None else limits.message_bytes

    async def endpoint(request: Request) -> Response:
        ws = workspace_of(request)
        return await _answer(
            request,
            limit,
            lambda req: _screen(ws, req, limit, "writeKey", form=False),
            lambda req, screened: _handle_segment(ws, req, call, limits, screened),
            posthog=False,
        )

    return endpoint


async def _posthog_endpoint(request: Request) -> Response:
    ws = workspace_of(request)
    limits = POSTHOG_LIMITS
    return await _answer(
        request,
        limits.batch_bytes,
        lambda req: _screen(ws, req, limits.batch_bytes, "api_key", form=req.form),
        lambda req, screened: _handle_posthog(ws, req, limits, screened),
        posthog=True,
    )


async def _preflight(request: Request) -> Response:
    return Response(status_code=204, headers=CORS_HEADERS)


def _add(
    path: str,
    endpoint: Callable[..., Any],
    summary: str,
    doc: dict[str, Any],
    in_schema: bool = True,
) -> None:
    router.add_api_route(
        path,
        csrf_exempt(endpoint),
        methods=["POST"],
        summary=summary,
        response_model=IngestSummary,
        responses=_ERRORS,
        openapi_extra=doc,
        include_in_schema=in_schema,
        name=f"ingest {path}",
    )
    router.add_api_route(
        path,
        csrf_exempt(_preflight),
        methods=["OPTIONS"],
        include_in_schema=False,
        name=f"ingest preflight {path}",
    )


_add("/v1/batch", _segment_endpoint(None), "Segment: a batch of calls", SEGMENT_BATCH_DOC)
for _call in ("track", "page", "screen", "identify", "group", "alias"):
    _add(f"/v1/{_call}", _segment_endpoint(_call), f"Segment: one {_call} call", SEGMENT_CALL_DOC)
for _path in ("/batch/", "/capture/", "/i/v0/e/", "/e/"):
    _add(_path, _posthog_endpoint, f"PostHog capture ({_path})", POSTHOG_DOC)
    _add(
        _path.rstrip("/"),
        _posthog_endpoint,
        f"PostHog capture ({_path})",
        POSTHOG_DOC,
        in_schema=False,
    )


def register(app: FastAPI) -> None:
    """Add the ingest endpoints to the app, and close the event writer when it stops.
    Calling it twice on one app adds nothing."""
    if getattr(app.state, "ingest_registered", False):
        return
    app.state.ingest_registered = True
    app.state.ingest_guard = IngestGuard.from_environment()
    app.include_router(router)
    app.include_router(imports_api)
    hooks = getattr(app.state, "shutdown_hooks", None)
    if isinstance(hooks, list):
        path = events_file(workspace_of_app(app))
        hooks.append(lambda: store.close_writer(path))


def workspace_of_app(app: FastAPI) -> Workspace:
    ws: Workspace = app.state.workspace
    return ws


# --- files to import, as a job -----------------------------------------------------------

imports_api = APIRouter(prefix="/api/v1", tags=["events"])
MAX_UPLOAD_BYTES = 20 * 1024**3


class ImportQueued(BaseModel):
    job_id: int = Field(description="follow it at /api/v1/jobs/{job_id}")
    upload: str
    bytes: int


@imports_api.post(
    "/events/imports",
    status_code=202,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
    responses=error_responses(
        (400, "the format cannot be told from the file's name: pass `format`"),
        (413, f"the file is over {MAX_UPLOAD_BYTES // 1024**3} GiB"),
    ),
)
@reads_only
async def api_import_events(
    request: Request,
    principal: WriteApi,
    filename: Annotated[str, Query(min_length=1, max_length=300)],
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto",
    skip_bad_rows: bool = False,
) -> ImportQueued:
    """Upload an event file (JSONL, CSV or Parquet, `.gz` too) as the request body; it is
    imported by a job (`analytics.import_events`), all or nothing, with progress at
    `/api/v1/jobs/{job_id}`. `productops events import` uses this while a server runs."""
    from productops.analytics.ingest.bulk import detect_format
    from productops.core import jobs
    from productops.core.db import transaction

    ws = workspace_of(request)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", filename.rsplit("/", 1)[-1]).strip(".-") or "upload"
    if format == "auto":
        detect_format(Path(safe))  # refuse an unknown file type before reading the body
    folder = store.import_dir(events_file(ws))
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    upload = f"{uuid.uuid4().hex[:12]}-{safe}"[:200]
    target = folder / upload
    size = 0
    try:
        with target.open("wb") as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_UPLOAD_BYTES:
                    raise TooLarge(f"the file is over {MAX_UPLOAD_BYTES // 1024**3} GiB")
                fh.write(chunk)
        target.chmod(0o600)
        # Checked against the kind's model (analytics.tasks.ImportEventsParams) by enqueue;
        # importing it here would close an import cycle between the rooms.
        params = {
            "upload": upload,
            "format": format,
            "skip_bad_rows": skip_bad_rows,
            "name": filename[:300],
        }
        with transaction(ws.sessions) as s:
            job = jobs.enqueue(
                s,
                "analytics.import_events",
                params,
                title=f"Import events from {filename[:200]}",
                created_by=principal.actor,
            )
            job_id = job.id
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return ImportQueued(job_id=job_id, upload=upload, bytes=size)
