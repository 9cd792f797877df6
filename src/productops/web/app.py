"""The app factory: `create_app(workspace)` gives the whole web UI and REST API."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import DataError

from productops import __version__
from productops.core import localserver, pillars
from productops.core.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ProductOpsError,
    RateLimited,
    TooLarge,
)
from productops.core.jobs import Worker
from productops.core.workspace import Workspace
from productops.web.deps import CsrfError, LoginRequired, csrf_protect, is_https
from productops.web.nav import Shell
from productops.web.responses import document_refusals
from productops.web.templating import make_templates, render

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)

_STATUS: dict[type[ProductOpsError], int] = {
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    AuthenticationFailed: 401,
    RateLimited: 429,
    TooLarge: 413,
    InvalidInput: 422,
}


_TITLES = {
    401: "Sign in first",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    413: "Too large",
    422: "Check the input",
    429: "Too many attempts",
}


def _error(
    request: Request,
    status: int,
    message: str,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """An error as JSON for API clients, or as a page with the layout for people.

    A 422 has one shape whoever found the problem (the request's schema or a service): a
    list of `{loc, msg, type}`, as the OpenAPI document says (see `web.responses`)."""
    if _wants_json(request):
        detail: object = message
        if status == 422:
            detail = [{"loc": [], "msg": message, "type": "value_error"}]
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)
    context = {"title": title or _TITLES.get(status, "Something is off"), "message": message}
    response = render(request, "error.html", context, status_code=status)
    response.headers.update(headers or {})
    return response


def _wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or "application/json" in request.headers.get("accept", "")


def create_app(
    workspace: Workspace, *, start_worker: bool = False, local_url: str | None = None
) -> FastAPI:
    """The productops web app for one workspace. `start_worker` runs jobs in-process (all of
    them, those that need this process's stores included); with `local_url`, the app
    announces itself to the command line while it serves (see `core.localserver`)."""
    worker = Worker(workspace, pinned=True) if start_worker else None
    local_token = localserver.new_token() if local_url else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for hook in app.state.startup_hooks:
            hook()
        if worker is not None:
            worker.start()
        if local_url and local_token:
            localserver.announce(workspace, local_url, local_token)
        yield
        if local_token:
            localserver.withdraw(workspace, local_token)
        if worker is not None:
            worker.stop()
        for hook in app.state.shutdown_hooks:
            hook()

    app = FastAPI(
        title="productops",
        version=__version__,
        description="Product operations hub: REST API. Authenticate with "
        "`Authorization: Bearer <API key>`.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        dependencies=[Depends(csrf_protect)],
    )
    app.state.workspace = workspace
    app.state.local_token_hash = localserver.token_hash(local_token) if local_token else None
    app.state.shell = Shell()
    # Pillars register what serving starts and stops (e.g. the event writer opens and closes).
    app.state.startup_hooks = []
    app.state.shutdown_hooks = []
    app.state.templates = make_templates()
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.url.path.startswith("/api/") or request.url.path in {"/login"}:
            response.headers.setdefault("Cache-Control", "no-store")
        if is_https(request):
            # Browsers that saw HTTPS once keep to it for a year (no downgrade to plain HTTP).
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(CsrfError)
    async def csrf_failed(request: Request, exc: CsrfError) -> Response:
        message = "the form's security token is missing or stale: reload the page and try again"
        return _error(request, 403, message, title="Request refused")

    @app.exception_handler(ProductOpsError)
    async def domain_error(request: Request, exc: ProductOpsError) -> Response:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, AuthenticationFailed):
            headers["WWW-Authenticate"] = "Bearer"
        return _error(request, status, str(exc), headers=headers)

    @app.exception_handler(OverflowError)
    async def number_out_of_range(request: Request, exc: OverflowError) -> Response:
        # e.g. an id or offset larger than the database's 64-bit integers
        return _error(request, 422, "a number in the request is out of range")

    @app.exception_handler(DataError)
    async def value_the_database_refuses(request: Request, exc: DataError) -> Response:
        # PostgreSQL refuses what SQLite takes: an integer past an INTEGER column's 32 bits,
        # a NUL character in text. Both come with the request; anything else is a 500.
        text = str(exc.orig)
        if "out of range" not in text and "NUL (0x00)" not in text:
            raise exc
        return _error(
            request,
            422,
            "a value in the request cannot be stored (a number out "
            "of range, or a NUL character in text)",
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"detail": errors}, status_code=422)
        text = "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in errors)
        return render(
            request, "error.html", {"title": "Check the form", "message": text}, status_code=422
        )

    @app.get("/api/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="productops API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )
        # Swagger UI starts itself with one inline script; allow inline scripts on this page only.
        page.headers["Content-Security-Policy"] = CSP.replace(
            "script-src 'self'", "script-src 'self' 'unsafe-inline'"
        )
        return page

    from productops.web import pages

    pages.register(app)
    for _, routes in pillars.parts("routes"):
        routes.register(app)
    document_refusals(app)
    return app
