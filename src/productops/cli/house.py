"""The house's commands: workspaces (`init`, `serve`, `demo`, `worker`, `backup`,
`restore`), people who sign in (`user`), API keys (`apikey`) and jobs (`jobs`). Heavy imports
happen inside the commands so that `--help` stays instant."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from productops.cli.kit import (
    JsonOpt,
    WorkspaceDir,
    emit_json,
    error_detail,
    fail,
    run_job_with_progress,
    watch_job,
)

house = typer.Typer()
user_app = typer.Typer(help="People who sign in to productops.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for scripts and SDKs.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs and their progress.", no_args_is_help=True)
DEFAULT_DEMO_DIR = Path("demo-workspace")


@house.command()
def version() -> None:
    """Print the productops version."""
    from productops import __version__

    typer.echo(__version__)


@house.command()
def init(
    directory: WorkspaceDir,
    name: Annotated[str, typer.Option(help="Workspace name shown in the UI.")] = "productops",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a workspace: productops.toml, the SQLite app database, the DuckDB event store
    and metrics.yml. Running it again keeps what is there."""
    from productops.core.errors import ProductOpsError
    from productops.core.workspace import init_workspace

    try:
        ws = init_workspace(directory, name=name)
    except ProductOpsError as exc:
        fail(str(exc))
    info = {
        "workspace": str(ws.path),
        "database": ws.settings.app_database_url,
        "files": sorted(p.name for p in ws.path.iterdir() if p.is_file()),
    }
    ws.close()
    if as_json:
        emit_json(info)
    else:
        typer.echo(f"Workspace ready in {info['workspace']}")
        typer.echo(f"Next: productops user create {directory} --email you@example.com --role admin")


@house.command()
def serve(
    directory: WorkspaceDir,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run background jobs in this process.")] = True,
) -> None:
    """Serve the web UI and API of a workspace."""
    _serve(directory, host, port, worker)


def _check_port_free(host: str, port: int) -> None:
    """Fail with a named error before announcing anything when the address is taken."""
    import socket

    try:
        family = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0][0]
        with socket.create_server((host, port), family=family):
            pass
    except OSError as exc:
        fail(
            f"cannot serve on {host}:{port}: {exc.strerror or exc} (is another server using "
            "it? choose another with --port)"
        )


def _serve(directory: Path, host: str, port: int, worker: bool, quiet: bool = False) -> None:
    """Serve the workspace; `quiet` sends the announcement to stderr (stdout holds JSON)."""
    import uvicorn

    from productops.core.errors import ProductOpsError
    from productops.core.settings import check_safe_to_serve
    from productops.core.workspace import open_workspace, private_files, protect_files
    from productops.web.app import create_app

    _check_port_free(host, port)
    with private_files():  # what the server writes while it runs (WAL files, stores) is private
        try:
            ws = open_workspace(directory)
            check_safe_to_serve(ws.settings, host)
        except ProductOpsError as exc:
            fail(str(exc))
        protect_files(ws)  # a workspace made by an older version, or copied in
        local_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
        if ":" in local_host and not local_host.startswith("["):
            local_host = f"[{local_host}]"
        application = create_app(
            ws,
            start_worker=worker and ws.settings.run_worker,
            local_url=f"http://{local_host}:{port}",
        )
        typer.echo(f"productops is serving {ws.path} on http://{host}:{port}", err=quiet)
        # Forwarded headers are read by the app itself, and only from `trusted_proxies`
        # (web.deps.client_ip, is_https): uvicorn must not rewrite the peer or the scheme.
        uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=False)


@house.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Where to put the demo workspace.")] = (
        DEFAULT_DEMO_DIR
    ),
    serve_it: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve it afterwards.")
    ] = True,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    size: Annotated[str, typer.Option(help="full, small or tiny.")] = "full",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same data.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print credentials as JSON.")] = False,
) -> None:
    """Build a demo workspace (a synthetic B2B SaaS company across every pillar) and serve it.
    An existing demo workspace is reused; the admin password is reset and printed each time."""
    import secrets

    from sqlalchemy import select

    from productops.core import auth
    from productops.core.clock import utcnow
    from productops.core.db import transaction
    from productops.core.demo import DEMO_ADMIN_EMAIL, demo_state
    from productops.core.jobs import enqueue
    from productops.core.models import User
    from productops.core.workspace import init_workspace

    ws = init_workspace(directory, name="Acme Cloud (demo)")
    state = demo_state(ws)
    if state == "incomplete":
        ws.close()
        fail(
            f"{directory} holds an unfinished demo build or other data: delete the folder "
            "(or choose another) and run `productops demo` again"
        )
    building = state == "building"
    if state == "empty":
        params: dict[str, Any] = {"seed": seed, "size": size, "anchor": utcnow().date().isoformat()}
        if serve_it:
            # Sign-ins, accounts and people now; the rest while the server already answers.
            run_job_with_progress(ws, "demo.build", {**params, "part": "first"}, quiet=as_json)
            with transaction(ws.sessions) as s:
                enqueue(
                    s,
                    "demo.build",
                    {**params, "part": "rest"},
                    title="Build the rest of the demo company",
                    created_by="cli",
                )
            building = True
        else:
            run_job_with_progress(ws, "demo.build", params, quiet=as_json)
    password = secrets.token_urlsafe(12)
    with transaction(ws.sessions) as s:
        admin = s.scalar(select(User).where(User.email == DEMO_ADMIN_EMAIL))
        assert admin is not None
        auth.change_password(s, admin.id, password, actor="cli")
    ws.close()
    url = f"http://{host}:{port}"
    if as_json:
        emit_json(
            {
                "workspace": str(directory.resolve()),
                "url": url,
                "email": DEMO_ADMIN_EMAIL,
                "password": password,
            }
        )
    else:
        typer.echo("")
        typer.echo(f"  Demo workspace: {directory.resolve()}")
        typer.echo(f"  Open {url} and sign in as")
        typer.echo(f"    email:    {DEMO_ADMIN_EMAIL}")
        typer.echo(f"    password: {password}")
        typer.echo("")
        if building:
            typer.echo(
                "  The rest of the demo company is being built in the background while you\n"
                "  look around; the home and jobs pages show its progress."
            )
            typer.echo("")
    sys.stdout.flush()
    if serve_it:
        _serve(directory, host, port, worker=True, quiet=as_json)


@house.command()
def worker(
    directory: WorkspaceDir,
    once: Annotated[bool, typer.Option(help="Run what is queued, then exit.")] = False,
) -> None:
    """Run background jobs for a workspace (for deployments with several web instances). Jobs
    that need the workspace's embedded stores (imports into the event store, …) run in the
    worker inside `serve` while a server runs, and here only when none does."""
    import signal

    from productops.core import localserver
    from productops.core.jobs import Worker, run_pending
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)

    def no_server() -> bool:
        return localserver.find(ws, timeout=1.0) is None

    if once:
        ran = run_pending(ws, pinned=no_server())
        typer.echo(f"ran {ran} job(s)")
        return
    w = Worker(ws, pinned=no_server)
    typer.echo(f"worker {os.getpid()} is waiting for jobs in {ws.path} (Ctrl-C stops)")
    signal.signal(signal.SIGTERM, lambda *_: w.stop(timeout=0))
    try:
        w.run_forever()
    except KeyboardInterrupt:
        w.stop(timeout=0)


@house.command()
def backup(
    directory: WorkspaceDir,
    out: Annotated[Path, typer.Argument(help="The archive to write (.tar.gz).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write the whole workspace (settings, app database, events) to one archive. While a
    server serves the workspace, the server writes it (a consistent copy; ingest goes on)."""
    from productops.cli.kit import open_ws, server_for
    from productops.core.backup import backup_workspace, read_manifest
    from productops.core.errors import BackupError

    with open_ws(directory) as ws:
        server = server_for(ws)
        if server is None:
            manifest = backup_workspace(ws, out)
        else:
            target = out.resolve()
            if target.is_relative_to(ws.path):
                raise BackupError(f"write the backup outside the workspace, not to {target}")
            partial = target.with_name(target.name + ".partial")
            target.parent.mkdir(parents=True, exist_ok=True)
            with server.http.stream("GET", "/api/v1/backup") as response:
                if response.status_code != 200:
                    response.read()
                    fail(error_detail(response))
                with partial.open("wb") as fh:
                    for chunk in response.iter_bytes():
                        fh.write(chunk)
            partial.chmod(0o600)
            partial.replace(target)
            manifest = read_manifest(target)
    if as_json:
        emit_json(manifest)
    else:
        rows = sum(manifest["tables"].values())
        typer.echo(f"Wrote {out} ({rows:,} rows in {len(manifest['tables'])} tables)")


@house.command()
def restore(
    archive: Annotated[Path, typer.Argument(help="An archive written by `productops backup`.")],
    directory: WorkspaceDir,
    database_url: Annotated[
        str | None, typer.Option(help="Restore the app database into this (empty) database.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Recreate a workspace from a backup archive in a new, empty folder."""
    from productops.core.backup import restore_workspace
    from productops.core.errors import ProductOpsError

    try:
        manifest = restore_workspace(archive, directory, database_url=database_url)
    except ProductOpsError as exc:
        fail(str(exc))
    if as_json:
        emit_json(manifest)
    else:
        typer.echo(f"Restored {archive} into {directory.resolve()}")


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
        fail(str(exc))
    if as_json:
        emit_json(out)
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
        emit_json(users)
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
                fail(f"no user with email {email}")
                return
            auth.change_password(s, user.id, password, actor="cli")
    except ValueError as exc:
        fail(str(exc))
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
        fail(f"'{scope}' is not a scope: use ingest, read, write or admin")
        return
    if as_json:
        emit_json({"id": new.id, "name": new.name, "scope": str(new.scope), "key": new.secret})
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
        emit_json(keys)
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
        fail(str(exc))
    typer.echo(f"Revoked key {key_id}")


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
        emit_json(rows)
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
    """Run a job here and now, with a progress bar (it is recorded like any other job). While
    a server serves the workspace, the job is queued there and followed from here."""
    from productops.cli.kit import open_ws, server_for

    params: dict[str, Any] = {}
    for p in param or []:
        key, sep, value = p.partition("=")
        if not sep:
            fail(f"--param '{p}' is not key=value")
        params[key] = value
    with open_ws(directory) as ws:
        server = server_for(ws)
        if server is not None:
            job = server.call("POST", "/api/v1/jobs", json={"kind": kind, "params": params}).json()
            state = server.follow_job(job["id"], quiet=as_json)
        else:
            state = run_job_with_progress(ws, kind, params, quiet=as_json)
    if as_json:
        emit_json(state)


@jobs_app.command("watch")
def jobs_watch(directory: WorkspaceDir, job_id: int, as_json: JsonOpt = False) -> None:
    """Follow a job that runs elsewhere (a worker or the server) until it ends."""
    from productops.core.errors import NotFound
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    try:
        state = watch_job(ws, job_id, quiet=as_json)
    except NotFound as exc:
        fail(str(exc))
        return
    if as_json:
        emit_json(state)
    if state["status"] == "failed":
        raise typer.Exit(1)
