"""`productops user`, `productops apikey` and `productops jobs`."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

user_app = typer.Typer(help="People who sign in to productops.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for scripts and SDKs.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs and their progress.", no_args_is_help=True)

WorkspaceDir = Annotated[Path, typer.Argument(help="The workspace folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _emit(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _fail(message: str) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


@user_app.command("create")
def user_create(
    directory: WorkspaceDir,
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    role: Annotated[str, typer.Option(help="admin, editor, viewer or researcher.")] = "viewer",
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    password: Annotated[
        str | None,
        typer.Option(
            help="At least 10 characters; asked for when omitted.", envvar="PRODUCTOPS_NEW_PASSWORD"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a person who can sign in."""
    from productops.core import auth
    from productops.core.db import transaction
    from productops.core.errors import ProductOpsError
    from productops.core.workspace import open_workspace

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    ws = open_workspace(directory)
    try:
        with transaction(ws.sessions) as s:
            user = auth.create_user(s, email, name or email, password, role, actor="cli")
            out = {"id": user.id, "email": user.email, "role": str(user.role)}
    except (ProductOpsError, ValueError) as exc:
        _fail(str(exc))
    if as_json:
        _emit(out)
    else:
        typer.echo(f"Created {out['role']} {out['email']} (id {out['id']})")


@user_app.command("list")
def user_list(directory: WorkspaceDir, as_json: JsonOpt = False) -> None:
    """List the people who can sign in."""
    from rich.console import Console
    from rich.table import Table

    from productops.core import auth
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    with ws.sessions() as s:
        users = [
            {
                "id": u.id,
                "email": u.email,
                "name": u.name,
                "role": str(u.role),
                "active": u.is_active,
            }
            for u in auth.list_users(s)
        ]
    if as_json:
        _emit(users)
        return
    table = Table("id", "email", "name", "role", "active")
    for u in users:
        table.add_row(*(str(u[c]) for c in ("id", "email", "name", "role", "active")))
    Console().print(table)


@user_app.command("set-password")
def user_set_password(
    directory: WorkspaceDir,
    email: Annotated[str, typer.Option(help="Sign-in email.")],
    password: Annotated[str | None, typer.Option(envvar="PRODUCTOPS_NEW_PASSWORD")] = None,
) -> None:
    """Set a new password (signs the person out everywhere)."""
    from sqlalchemy import select

    from productops.core import auth
    from productops.core.db import transaction
    from productops.core.models import User
    from productops.core.workspace import open_workspace

    if password is None:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    ws = open_workspace(directory)
    try:
        with transaction(ws.sessions) as s:
            user = s.scalar(select(User).where(User.email == auth.normalise_email(email)))
            if user is None:
                _fail(f"no user with email {email}")
                return
            auth.change_password(s, user.id, password, actor="cli")
    except ValueError as exc:
        _fail(str(exc))
    typer.echo(f"Password changed for {email}")


@apikey_app.command("create")
def apikey_create(
    directory: WorkspaceDir,
    scope: Annotated[str, typer.Option(help="ingest, read, write or admin.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from productops.core import auth
    from productops.core.db import transaction
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    try:
        with transaction(ws.sessions) as s:
            new = auth.create_api_key(s, name or f"{scope} key", scope, actor="cli")
    except ValueError:
        _fail(f"'{scope}' is not a scope: use ingest, read, write or admin")
        return
    if as_json:
        _emit({"id": new.id, "name": new.name, "scope": str(new.scope), "key": new.secret})
    else:
        typer.echo(new.secret)
        typer.echo(
            f"(key {new.id}, scope {new.scope}: copy it now, it is not shown again)", err=True
        )


@apikey_app.command("list")
def apikey_list(directory: WorkspaceDir, as_json: JsonOpt = False) -> None:
    """List API keys (never their secrets)."""
    from rich.console import Console
    from rich.table import Table

    from productops.core import auth
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    with ws.sessions() as s:
        keys = [
            {
                "id": k.id,
                "name": k.name,
                "prefix": k.prefix,
                "scope": str(k.scope),
                "created_at": k.created_at.isoformat(),
                "revoked": k.revoked_at is not None,
            }
            for k in auth.list_api_keys(s)
        ]
    if as_json:
        _emit(keys)
        return
    table = Table("id", "name", "prefix", "scope", "created", "revoked")
    for k in keys:
        table.add_row(
            *(str(k[c]) for c in ("id", "name", "prefix", "scope", "created_at", "revoked"))
        )
    Console().print(table)


@apikey_app.command("revoke")
def apikey_revoke(directory: WorkspaceDir, key_id: int) -> None:
    """Revoke an API key at once."""
    from productops.core import auth
    from productops.core.db import transaction
    from productops.core.errors import NotFound
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    try:
        with transaction(ws.sessions) as s:
            auth.revoke_api_key(s, key_id, actor="cli")
    except NotFound as exc:
        _fail(str(exc))
    typer.echo(f"Revoked key {key_id}")


def watch_job(
    ws: Workspace, job_id: int, quiet: bool = False, until: threading.Event | None = None
) -> dict[str, Any]:
    """Show a job's progress as a Rich progress bar until it ends; returns its final state."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from productops.core.jobs import get_job
    from productops.core.models import JobStatus

    def snapshot() -> dict[str, Any]:
        with ws.sessions() as s:
            j = get_job(s, job_id)
            return {
                "id": j.id,
                "title": j.title,
                "status": str(j.status),
                "done": j.progress_done,
                "total": j.progress_total,
                "message": j.message,
                "error": j.error,
                "result": j.result,
            }

    ended = {str(JobStatus.succeeded), str(JobStatus.failed)}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        disable=quiet,
        transient=False,
    ) as bar:
        state = snapshot()
        task = bar.add_task(state["title"], total=state["total"] or None)
        while True:
            state = snapshot()
            bar.update(
                task,
                completed=state["done"],
                total=state["total"] or None,
                description=f"{state['title']}: {state['message']}"[:80],
            )
            if state["status"] in ended:
                break
            time.sleep(0.2)
    return state


def run_job_with_progress(
    ws: Workspace, kind: str, params: dict[str, Any], quiet: bool = False
) -> dict[str, Any]:
    """Queue a job, run it in this process, and show its progress; exits non-zero on failure."""
    from productops.core.db import transaction
    from productops.core.jobs import enqueue, run_job

    with transaction(ws.sessions) as s:
        job = enqueue(s, kind, params, created_by="cli")
        job_id = job.id
        from sqlalchemy import update

        from productops.core.db import utcnow
        from productops.core.models import Job, JobStatus

        s.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(
                status=JobStatus.running, worker="cli", started_at=utcnow(), heartbeat_at=utcnow()
            )
        )
    runner = threading.Thread(target=run_job, args=(ws, job_id), daemon=True)
    runner.start()
    state = watch_job(ws, job_id, quiet=quiet)
    runner.join()
    if state["status"] != "succeeded":
        _fail(f"job {job_id} failed: {state['error']}")
    return state


@jobs_app.command("list")
def jobs_list(directory: WorkspaceDir, as_json: JsonOpt = False) -> None:
    """List recent jobs with their status and progress."""
    from rich.console import Console
    from rich.table import Table

    from productops.core.jobs import list_jobs
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    with ws.sessions() as s:
        rows = [
            {
                "id": j.id,
                "kind": j.kind,
                "status": str(j.status),
                "progress": f"{j.progress_done}/{j.progress_total or '?'}",
                "created_at": j.created_at.isoformat(),
                "error": j.error,
            }
            for j in list_jobs(s, limit=50)
        ]
    if as_json:
        _emit(rows)
        return
    table = Table("id", "kind", "status", "progress", "created")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("id", "kind", "status", "progress", "created_at")))
    Console().print(table)


@jobs_app.command("run")
def jobs_run(
    directory: WorkspaceDir,
    kind: Annotated[str, typer.Argument(help="The job kind, e.g. demo.build.")],
    param: Annotated[list[str] | None, typer.Option(help="key=value, repeatable.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a job here and now, with a progress bar (it is recorded like any other job)."""
    from productops.core.errors import NotFound
    from productops.core.workspace import open_workspace

    params: dict[str, Any] = {}
    for p in param or []:
        key, sep, value = p.partition("=")
        if not sep:
            _fail(f"--param '{p}' is not key=value")
        params[key] = value
    ws = open_workspace(directory)
    try:
        state = run_job_with_progress(ws, kind, params, quiet=as_json)
    except NotFound as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit(state)


@jobs_app.command("watch")
def jobs_watch(directory: WorkspaceDir, job_id: int, as_json: JsonOpt = False) -> None:
    """Follow a job that runs elsewhere (a worker or the server) until it ends."""
    from productops.core.errors import NotFound
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    try:
        state = watch_job(ws, job_id, quiet=as_json)
    except NotFound as exc:
        _fail(str(exc))
        return
    if as_json:
        _emit(state)
    if state["status"] == "failed":
        raise typer.Exit(1)
