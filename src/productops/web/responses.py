"""What the API answers when it refuses, written once for the OpenAPI document.

Every refusal but 422 is `{"detail": "<what went wrong, in words>"}` (`ErrorOut`); a 422 is
FastAPI's `{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}` whether the schema or
a service found the problem (`web.app` answers both the same way).

The refusals that follow from how a route is built are documented for it by
`document_refusals`, so that no route can forget them: a route that takes an API key
(`web.deps.api_principal`, behind every `ReadApi`, `WriteApi`, ...) answers 400 (a body it
cannot read, a problem no other status names), 401 and 403, and one whose path names a
record answers 404. A route documents the refusals of its own, or its own wording of those,
with `responses=error_responses((404, "no account with that id"), 409)`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """A refusal, in words."""

    detail: str = Field(description="what went wrong, worded for the person who reads it")


MEANINGS: dict[int, str] = {
    400: "The body cannot be read, or the request cannot be carried out as it stands (the "
    "detail says why)",
    401: "No caller: send an API key as `Authorization: Bearer <key>`, or the key is "
    "unknown or revoked",
    403: "The caller may not do this (the detail names the permission it needs), or a "
    "signed-in browser's request lacks its CSRF token",
    404: "What the path names does not exist",
    409: "The change clashes with what is stored (a duplicate, say)",
    413: "The body is too large",
    429: "Too many at once: try again after `Retry-After` seconds",
}

_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: how to authenticate",
            "schema": {"type": "string"},
        }
    },
    429: {
        "Retry-After": {
            "description": "seconds to wait before trying again",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}
_ERROR_OUT = {"$ref": "#/components/schemas/ErrorOut"}
# The security scheme `web.deps.api_principal` declares.
_API_KEY_SCHEME = "HTTPBearer"


def error_responses(*refusals: int | tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` entries for a route's refusals, each with the `ErrorOut` body:
    a status code (the house's wording), or `(code, "what it means here")`."""
    out: dict[int | str, dict[str, Any]] = {}
    for refusal in refusals:
        code, meaning = refusal if isinstance(refusal, tuple) else (refusal, MEANINGS[refusal])
        entry: dict[str, Any] = {"model": ErrorOut, "description": meaning}
        if code in _HEADERS:
            entry["headers"] = _HEADERS[code]
        out[code] = entry
    return out


def document_refusals(app: FastAPI) -> None:
    """Make `app`'s OpenAPI document list, for every operation, the refusals that follow
    from how its route is built (see the module's docstring)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_refusals(build())  # FastAPI keeps what it built in app.openapi_schema
        return build()

    app.openapi = openapi  # type: ignore[method-assign]


def add_refusals(document: dict[str, Any]) -> None:
    """Add the built-in refusals to an OpenAPI `document` in place; what an operation says
    itself is kept."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            takes_key = any(_API_KEY_SCHEME in r for r in operation.get("security", []))
            if not takes_key:
                continue
            codes = [400, 401, 403] + ([404] if "{" in path else [])
            responses = operation.setdefault("responses", {})
            for code in codes:
                responses.setdefault(str(code), _entry(code))
            operation["responses"] = dict(sorted(responses.items()))


def _entry(code: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "description": MEANINGS[code],
        "content": {"application/json": {"schema": _ERROR_OUT}},
    }
    if code in _HEADERS:
        entry["headers"] = _HEADERS[code]
    return entry
