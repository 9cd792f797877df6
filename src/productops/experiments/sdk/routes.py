"""What SDKs call: GrowthBook's features endpoint (`GET /api/features/{client_key}`, the
path GrowthBook's SDKs in every language read), the REST evaluate endpoint, and the SDK
connections (client keys) admins hand out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from productops.core.auth import Principal
from productops.core.errors import InvalidInput, NotFound
from productops.experiments.flags import service as flags
from productops.experiments.permissions import SDK_KEYS
from productops.experiments.schemas import ConnectionCreate, EvaluateRequest
from productops.experiments.sdk import service
from productops.experiments.settings import section
from productops.web.deps import DbDep, ReadApi, ReadPage, reads_only, require, workspace_of
from productops.web.params import RecordId
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["flags"])
sdk_api = APIRouter(tags=["sdk"])
SdkApi = Annotated[Principal, require(SDK_KEYS)]
SdkPage = Annotated[Principal, require(SDK_KEYS, page=True)]
ClientKey = Annotated[str, Path(max_length=100, description="an SDK connection's client key")]


def _cors(request: Request, response: Response) -> Response:
    origins = section(workspace_of(request)).sdk_cors_origins
    origin = request.headers.get("origin")
    if "*" in origins:
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
    return response


class SdkRefusal(BaseModel):
    """GrowthBook's own wording of a refusal, which its SDKs expect."""

    status: int = Field(description="the HTTP status again")
    error: str = Field(description="what went wrong")


@sdk_api.get(
    "/api/features/{client_key}",
    responses={
        404: {
            "model": SdkRefusal,
            "description": "no live SDK connection with that client key (GrowthBook's shape: "
            '`{"status": 404, "error": "Invalid API key"}`)',
        }
    },
)
def features_endpoint(request: Request, db: DbDep, client_key: ClientKey) -> Response:
    """GrowthBook's SDK payload for the connection's environment (and project): point any
    GrowthBook SDK's `apiHost` at productops with this client key. The key reads nothing
    else: no other environment, project or endpoint."""
    found = service.connection_for_key(db, client_key)
    if found is None:
        return _cors(
            request, JSONResponse({"status": 404, "error": "Invalid API key"}, status_code=404)
        )
    conn, environment = found
    body, _ = service.cached_payload(workspace_of(request), db, environment, conn.project)
    return _cors(request, JSONResponse(body))


@api.post("/evaluate", responses=error_responses((404, "no environment of that key")))
@reads_only  # evaluating changes nothing: no write lock on SQLite
def api_evaluate(
    request: Request, db: DbDep, principal: ReadApi, body: EvaluateRequest
) -> dict[str, Any]:
    """Every flag (or `flags`) for one user's `attributes` in an environment, with where each
    value came from. Send back the `sticky_buckets` you were given to keep users in their
    variations when weights or coverage change."""
    flags.environment(db, body.environment)
    attributes = service.check_attributes(body.attributes)
    _, compiled = service.cached_payload(workspace_of(request), db, body.environment)
    unknown = [k for k in body.flags or [] if k not in compiled.features]
    sticky = dict(body.sticky_buckets) if body.sticky_buckets is not None else None
    results = service.evaluate(
        compiled,
        attributes,
        [k for k in body.flags or compiled.features if k not in unknown],
        sticky,
    )
    out: dict[str, Any] = {
        "environment": body.environment,
        "flags": {k: r.as_dict() for k, r in results.items()},
    }
    if unknown:
        out["unknown"] = unknown
    if sticky is not None:
        out["sticky_buckets"] = sticky
    return out


@api.get("/sdk-connections")
def api_connections(db: DbDep, principal: SdkApi) -> list[dict[str, Any]]:
    """The client keys (their first characters only; a key is shown once, when made)."""
    return [service.connection_summary(c, env) for c, env in service.list_connections(db)]


@api.post(
    "/sdk-connections",
    status_code=201,
    responses=error_responses((404, "no environment of that key")),
)
def api_create_connection(db: DbDep, principal: SdkApi, body: ConnectionCreate) -> dict[str, Any]:
    """A client key for one environment (and project): the answer holds the key, once."""
    conn, secret = service.create_connection(
        db, body.name, body.environment, principal.actor, project=body.project
    )
    return {**service.connection_summary(conn, body.environment), "client_key": secret}


@api.delete(
    "/sdk-connections/{connection_id}",
    status_code=204,
    responses=error_responses((404, "no SDK connection")),
)
def api_revoke_connection(db: DbDep, principal: SdkApi, connection_id: RecordId) -> Response:
    service.revoke_connection(db, connection_id, principal.actor)
    return Response(status_code=204)


@pages.get("/flags/sdk")
def connections_page(request: Request, db: DbDep, principal: ReadPage) -> Response:
    return render(
        request,
        "experiments/sdk.html",
        {
            "connections": service.list_connections(db) if principal.can(SDK_KEYS) else [],
            "environments": flags.list_environments(db),
            "can_manage": principal.can(SDK_KEYS),
            "base_url": str(request.base_url).rstrip("/"),
        },
    )


@pages.post("/flags/sdk")
def create_connection_form(
    request: Request,
    db: DbDep,
    principal: SdkPage,
    name: Annotated[str, Form(max_length=200)],
    environment: Annotated[str, Form(max_length=64)],
    project: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        with db.begin_nested():
            conn, secret = service.create_connection(
                db, name, environment, principal.actor, project=project
            )
    except (InvalidInput, NotFound) as exc:
        return render(
            request,
            "experiments/sdk.html",
            {
                "connections": service.list_connections(db),
                "environments": flags.list_environments(db),
                "can_manage": True,
                "error": str(exc),
                "base_url": str(request.base_url).rstrip("/"),
            },
            status_code=422,
        )
    return render(
        request,
        "experiments/sdk.html",
        {
            "connections": service.list_connections(db),
            "environments": flags.list_environments(db),
            "can_manage": True,
            "new_key": secret,
            "new_connection": conn,
            "base_url": str(request.base_url).rstrip("/"),
        },
    )


@pages.post("/flags/sdk/{connection_id}/revoke")
def revoke_connection_form(db: DbDep, principal: SdkPage, connection_id: RecordId) -> Response:
    service.revoke_connection(db, connection_id, principal.actor)
    return RedirectResponse("/flags/sdk", status_code=303)
