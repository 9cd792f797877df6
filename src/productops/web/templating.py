"""Jinja2 set-up: autoescaping on, one loader over the shell's and every domain's templates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from starlette.responses import Response

from productops.core import pillars
from productops.core.export import readable
from productops.web.nav import shell


def _template_dirs() -> list[str]:
    """The shell's templates, then each pillar's `templates/` folder."""
    dirs = [str(Path(__file__).parent / "templates")]
    dirs += [str(p.templates) for p in pillars.pillars() if p.templates is not None]
    return dirs


def _humantime(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _number(value: float | int | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in _template_dirs()]),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["humantime"] = _humantime
    env.filters["number"] = _number
    env.filters["cell"] = lambda value, column="": readable(value, str(column))
    return Jinja2Templates(env=env)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    """Render a page with the layout's context (who is signed in, navigation, CSRF token)."""
    templates: Jinja2Templates = request.app.state.templates
    principal = getattr(request.state, "principal", None)
    ctx: dict[str, Any] = {
        "principal": principal,
        "nav": shell(request.app).visible_nav(principal, "main"),
        "admin_nav": shell(request.app).visible_nav(principal, "admin"),
        "csrf_token": getattr(principal, "csrf_token", None)
        or getattr(request.state, "login_csrf", None),
        "workspace_name": request.app.state.workspace.settings.name,
        "path": request.url.path,
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


# Vega compiles chart expressions with `new Function`, so pages with charts allow eval (and
# still only scripts from this server); every other page keeps the strict policy.
CHART_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; "
    "form-action 'self'; object-src 'none'"
)


def render_charts(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> Response:
    """`render` for a page that draws Vega-Lite charts (its CSP allows Vega's compiler)."""
    response = render(request, name, context, status_code=status_code)
    response.headers["Content-Security-Policy"] = CHART_CSP
    return response
