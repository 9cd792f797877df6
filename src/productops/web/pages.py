"""The shell's own pages and endpoints: sign-in, home, jobs, teams, who-am-I and
administration (users, API keys, audit log). Pillars add theirs in their own `routes`."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select, text

from productops import __version__
from productops.core import audit, auth, jobs, teams
from productops.core.auth import LoginLimits, Permission, Principal
from productops.core.db import current_revision, transaction
from productops.core.errors import AuthenticationFailed, NotFound, PermissionDenied, RateLimited
from productops.core.models import Role, Scope, Team, User
from productops.core.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    AuditEventPublic,
    Health,
    JobCreate,
    JobPublic,
    Me,
    Page,
    TeamCreate,
    TeamMemberPublic,
    TeamPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from productops.core.workspace import Workspace
from productops.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    AdminApi,
    AdminPage,
    DbDep,
    OptionalPrincipal,
    PrincipalDep,
    ReadApi,
    UserPage,
    WriteApi,
    WritePage,
    client_ip,
    cookies_secure,
    new_login_csrf,
    workspace_of,
)
from productops.web.nav import HomeCount, NavEntry, add_home_cards, add_nav, shell
from productops.web.params import Offset, RecordId
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1")


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


# --- health ---------------------------------------------------------------------------------


@pages.get("/healthz")
def healthz(request: Request, db: DbDep) -> Health:
    db.execute(text("SELECT 1"))
    return Health(
        status="ok",
        version=__version__,
        database=db.get_bind().dialect.name,
        schema_revision=current_revision(workspace_of(request).engine),
    )


# --- sign-in --------------------------------------------------------------------------------


def _login_page(
    request: Request,
    error: str | None = None,
    status_code: int = 200,
    next_url: str = "/",
    email: str = "",
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    request.state.login_csrf = token
    response = render(
        request,
        "login.html",
        {"error": error, "next": next_url, "email": email},
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookies_secure(request),
        max_age=3600,
    )
    return response


@pages.get("/login")
def login_form(request: Request, principal: OptionalPrincipal, next: str = "/") -> Response:
    if principal is not None and principal.kind == "user":
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_url=safe_next(next))


@pages.post("/login")
def login(
    request: Request,
    db: DbDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    settings = workspace_of(request).settings
    try:
        user = auth.authenticate(
            db, email, password, ip=client_ip(request), limits=LoginLimits.from_settings(settings)
        )
    except RateLimited as exc:
        response = _login_page(request, str(exc), 429, safe_next(next), email)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except AuthenticationFailed as exc:
        # Returning normally commits the recorded failure (it counts towards the delays).
        return _login_page(request, str(exc), 401, safe_next(next), email)
    token, _ = auth.start_session(
        db,
        user,
        settings.session_max_age_hours,
        settings.secret_key,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )
    audit.record(
        db, f"user:{user.id}:{user.email}", "user.login", "user", user.id, ip=client_ip(request)
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=cookies_secure(request),
        max_age=settings.session_max_age_hours * 3600,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, secure=cookies_secure(request))
    return response


@pages.post("/logout")
def logout(request: Request, db: DbDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        auth.end_session(db, token, workspace_of(request).settings.secret_key)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=cookies_secure(request))
    return response


# --- home -----------------------------------------------------------------------------------


@pages.get("/")
def home(request: Request, db: DbDep, principal: UserPage) -> Response:
    cards: list[HomeCount] = []
    for _, provider in sorted(shell(request.app).home_cards, key=lambda c: c[0]):
        cards.extend(provider(db, principal, workspace_of(request)))
    recent = jobs.list_jobs(db, limit=5)
    return render(request, "home.html", {"cards": cards, "recent_jobs": recent})


def _core_counts(db: Any, principal: Principal, ws: Workspace) -> list[HomeCount]:
    running = jobs.count_by_status(db)
    return [
        HomeCount("Product teams", f"{db.scalar(select(func.count(Team.id))) or 0:,}", "/teams"),
        HomeCount(
            "productops users",
            f"{db.scalar(select(func.count(User.id))) or 0:,}",
            "/admin/users" if principal.can(Permission.ADMIN) else None,
        ),
        HomeCount(
            "Jobs running", f"{running.get('running', 0) + running.get('queued', 0):,}", "/jobs"
        ),
    ]


# --- jobs -----------------------------------------------------------------------------------


@pages.get("/jobs")
def jobs_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    return render(request, "jobs.html", {"jobs": jobs.list_jobs(db, limit=100)})


@pages.get("/jobs/{job_id}")
def job_page(
    request: Request, db: DbDep, principal: UserPage, job_id: int, partial: bool = False
) -> Response:
    job = jobs.get_job(db, job_id)
    return render(request, "job_status.html" if partial else "job.html", {"job": job})


@api.get("/jobs", tags=["jobs"])
def api_list_jobs(
    db: DbDep, principal: ReadApi, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[JobPublic]:
    return [JobPublic.model_validate(j) for j in jobs.list_jobs(db, limit=limit)]


@api.get("/jobs/{job_id}", tags=["jobs"], responses=error_responses((404, "no job with that id")))
def api_get_job(db: DbDep, principal: ReadApi, job_id: RecordId) -> JobPublic:
    return JobPublic.model_validate(jobs.get_job(db, job_id))


@api.post(
    "/jobs",
    tags=["jobs"],
    status_code=202,
    responses=error_responses(
        (403, "the caller may not queue jobs of this kind"), (404, "no job kind of that name")
    ),
)
def api_enqueue_job(db: DbDep, principal: WriteApi, body: JobCreate) -> JobPublic:
    """Queue a job. Each kind says who may queue it (403 otherwise) and which parameters it
    takes (422 naming the wrong ones)."""
    kind = jobs.job_kind(body.kind)
    if not principal.can(kind.permission):
        raise PermissionDenied(f"queuing '{kind.name}' needs the '{kind.permission}' permission")
    job = jobs.enqueue(db, body.kind, body.params, created_by=principal.actor)
    return JobPublic.model_validate(job)


# --- teams ----------------------------------------------------------------------------------


def _team_public(team: Team) -> TeamPublic:
    return TeamPublic(
        id=team.id,
        name=team.name,
        description=team.description,
        members=[
            TeamMemberPublic(user_id=m.user_id, name=m.user.name, email=m.user.email, title=m.title)
            for m in team.members
        ],
    )


@pages.get("/teams")
def teams_page(request: Request, db: DbDep, principal: UserPage) -> Response:
    return render(
        request,
        "teams.html",
        {"teams": teams.list_teams(db), "can_write": principal.can(Permission.WRITE)},
    )


@pages.post("/teams")
def teams_create(
    request: Request,
    db: DbDep,
    principal: WritePage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    description: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    teams.create_team(db, name, description, actor=principal.actor)
    return RedirectResponse("/teams", status_code=303)


@api.get("/teams", tags=["teams"])
def api_list_teams(db: DbDep, principal: ReadApi) -> list[TeamPublic]:
    return [_team_public(t) for t in teams.list_teams(db)]


@api.post(
    "/teams",
    tags=["teams"],
    status_code=201,
    responses=error_responses((409, "a team of that name exists")),
)
def api_create_team(db: DbDep, principal: WriteApi, body: TeamCreate) -> TeamPublic:
    team = teams.create_team(db, body.name, body.description, actor=principal.actor)
    db.refresh(team)
    return _team_public(team)


# --- who am I -------------------------------------------------------------------------------


@api.get("/me", tags=["auth"])
def api_me(principal: PrincipalDep) -> Me:
    return Me(
        kind=principal.kind,
        id=principal.id,
        name=principal.name,
        role=principal.role,
        scope=principal.scope,
        permissions=sorted(principal.permissions),
    )


# --- administration: users ------------------------------------------------------------------


@pages.get("/admin/users")
def users_page(request: Request, db: DbDep, principal: AdminPage) -> Response:
    return render(
        request,
        "admin/users.html",
        {"users": auth.list_users(db), "roles": [r.value for r in Role]},
    )


@pages.post("/admin/users")
def users_create(
    request: Request,
    db: DbDep,
    principal: AdminPage,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(min_length=10, max_length=1000)],
    role: Annotated[Role, Form()],
    name: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    auth.create_user(db, email, name, password, role, actor=principal.actor)
    return RedirectResponse("/admin/users", status_code=303)


@pages.post("/admin/users/{user_id}")
def users_update(
    request: Request,
    db: DbDep,
    principal: AdminPage,
    user_id: int,
    role: Annotated[Role | None, Form()] = None,
    active: Annotated[str | None, Form()] = None,
) -> Response:
    if role is not None:
        auth.set_role(db, user_id, role, actor=principal.actor)
    if active is not None:
        auth.set_active(db, user_id, active == "1", actor=principal.actor)
    return RedirectResponse("/admin/users", status_code=303)


@api.get("/users", tags=["admin"])
def api_list_users(db: DbDep, principal: AdminApi) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in auth.list_users(db)]


@api.post(
    "/users",
    tags=["admin"],
    status_code=201,
    responses=error_responses((409, "a user with that email exists")),
)
def api_create_user(db: DbDep, principal: AdminApi, body: UserCreate) -> UserPublic:
    user = auth.create_user(
        db, body.email, body.name, body.password, body.role, actor=principal.actor
    )
    return UserPublic.model_validate(user)


@api.patch(
    "/users/{user_id}",
    tags=["admin"],
    responses=error_responses(
        (404, "no user with that id"), (409, "the change would leave no active admin")
    ),
)
def api_update_user(
    db: DbDep, principal: AdminApi, user_id: RecordId, body: UserUpdate
) -> UserPublic:
    user = db.get(User, user_id)
    if user is None:
        raise NotFound(f"no user {user_id}")
    if body.role is not None:
        user = auth.set_role(db, user_id, body.role, actor=principal.actor)
    if body.is_active is not None:
        user = auth.set_active(db, user_id, body.is_active, actor=principal.actor)
    return UserPublic.model_validate(user)


# --- administration: API keys ---------------------------------------------------------------


@pages.get("/admin/apikeys")
def apikeys_page(request: Request, db: DbDep, principal: AdminPage) -> Response:
    return render(
        request,
        "admin/apikeys.html",
        {"keys": auth.list_api_keys(db), "scopes": [s.value for s in Scope], "new_key": None},
    )


@pages.post("/admin/apikeys")
def apikeys_create(
    request: Request,
    db: DbDep,
    principal: AdminPage,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    scope: Annotated[Scope, Form()],
) -> Response:
    new = auth.create_api_key(db, name, scope, actor=principal.actor, created_by_id=principal.id)
    response = render(
        request,
        "admin/apikeys.html",
        {"keys": auth.list_api_keys(db), "scopes": [s.value for s in Scope], "new_key": new},
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@pages.post("/admin/apikeys/{key_id}/revoke")
def apikeys_revoke(request: Request, db: DbDep, principal: AdminPage, key_id: int) -> Response:
    auth.revoke_api_key(db, key_id, actor=principal.actor)
    return RedirectResponse("/admin/apikeys", status_code=303)


@api.get("/apikeys", tags=["admin"])
def api_list_keys(db: DbDep, principal: AdminApi) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k) for k in auth.list_api_keys(db)]


@api.post("/apikeys", tags=["admin"], status_code=201)
def api_create_key(db: DbDep, principal: AdminApi, body: ApiKeyCreate) -> ApiKeyCreated:
    new = auth.create_api_key(
        db,
        body.name,
        body.scope,
        actor=principal.actor,
        created_by_id=principal.id if principal.kind == "user" else None,
    )
    return ApiKeyCreated(id=new.id, name=new.name, scope=new.scope, key=new.secret)


@api.delete(
    "/apikeys/{key_id}", tags=["admin"], responses=error_responses((404, "no API key with that id"))
)
def api_revoke_key(db: DbDep, principal: AdminApi, key_id: RecordId) -> ApiKeyPublic:
    return ApiKeyPublic.model_validate(auth.revoke_api_key(db, key_id, actor=principal.actor))


# --- administration: backup ---------------------------------------------------------------


@api.get(
    "/backup",
    tags=["admin"],
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}, "description": "the archive"}},
)
def api_backup(request: Request, principal: AdminApi) -> Response:
    """The whole workspace as one archive (what `productops backup` writes), taken while the
    server serves and ingests: the app tables in one transaction, each store from one
    snapshot of its own."""
    import tempfile
    from pathlib import Path

    from starlette.background import BackgroundTask
    from starlette.responses import FileResponse

    from productops.core.backup import backup_workspace

    ws = workspace_of(request)
    tmp = tempfile.TemporaryDirectory(prefix="productops-backup-download-")
    out = Path(tmp.name) / "backup.tar.gz"
    try:
        manifest = backup_workspace(ws, out)
    except BaseException:
        tmp.cleanup()
        raise
    with transaction(ws.sessions) as db:
        audit.record(db, principal.actor, "workspace.backup", "workspace", None, {})
    stamp = manifest["created_at"][:19].replace(":", "").replace("-", "")
    return FileResponse(
        out,
        media_type="application/gzip",
        filename=f"productops-backup-{stamp}.tar.gz",
        background=BackgroundTask(tmp.cleanup),
    )


# --- administration: audit log --------------------------------------------------------------


@pages.get("/admin/audit")
def audit_page(
    request: Request, db: DbDep, principal: AdminPage, offset: Annotated[int, Query(ge=0)] = 0
) -> Response:
    events, total = audit.list_events(db, limit=100, offset=offset)
    return render(
        request,
        "admin/audit.html",
        {"events": events, "total": total, "offset": offset, "limit": 100},
    )


@api.get("/audit", tags=["admin"])
def api_audit(
    db: DbDep,
    principal: AdminApi,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    entity_type: str | None = None,
) -> Page[AuditEventPublic]:
    events, total = audit.list_events(db, limit=limit, offset=offset, entity_type=entity_type)
    return Page[AuditEventPublic](
        items=[AuditEventPublic.model_validate(e) for e in events],
        total=total,
        limit=limit,
        offset=offset,
    )


def register(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
    add_nav(app, NavEntry("Home", "/", order=0))
    add_nav(app, NavEntry("Teams", "/teams", order=900, section="admin"))
    add_nav(app, NavEntry("Jobs", "/jobs", order=910, section="admin"))
    add_nav(
        app,
        NavEntry("Users", "/admin/users", order=920, permission=Permission.ADMIN, section="admin"),
    )
    add_nav(
        app,
        NavEntry(
            "API keys", "/admin/apikeys", order=930, permission=Permission.ADMIN, section="admin"
        ),
    )
    add_nav(
        app,
        NavEntry(
            "Audit log", "/admin/audit", order=940, permission=Permission.ADMIN, section="admin"
        ),
    )
    add_home_cards(app, _core_counts, order=900)
