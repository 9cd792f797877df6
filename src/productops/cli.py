"""The `productops` command. Each verb is a thin wrapper over a library call of the same
name; heavy imports happen inside the commands so that `--help` stays instant."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from productops.analytics.catalog_cli import metrics_app
from productops.analytics.catalog_cli import sql as sql_command
from productops.analytics.cli import events_app
from productops.core.cli import apikey_app, jobs_app, user_app

app = typer.Typer(
    name="productops",
    help="productops: a self-hosted product operations hub.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(jobs_app, name="jobs")
app.add_typer(events_app, name="events")
app.add_typer(metrics_app, name="metrics")
app.command("sql")(sql_command)

WorkspaceDir = Annotated[Path, typer.Argument(help="The workspace folder.")]
DEFAULT_DEMO_DIR = Path("demo-workspace")


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def version() -> None:
    """Print the productops version."""
    from productops import __version__

    typer.echo(__version__)


@app.command()
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
        "events": str(ws.settings.events_file),
    }
    ws.close()
    if as_json:
        emit_json(info)
    else:
        typer.echo(f"Workspace ready in {info['workspace']}")
        typer.echo(f"Next: productops user create {directory} --email you@example.com --role admin")


@app.command()
def serve(
    directory: WorkspaceDir,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[bool, typer.Option(help="Run background jobs in this process.")] = True,
) -> None:
    """Serve the web UI and API of a workspace."""
    _serve(directory, host, port, worker)


def _serve(directory: Path, host: str, port: int, worker: bool) -> None:
    import uvicorn

    from productops.core.errors import ProductOpsError
    from productops.core.settings import check_safe_to_serve
    from productops.core.workspace import open_workspace
    from productops.web.app import create_app

    try:
        ws = open_workspace(directory)
        check_safe_to_serve(ws.settings, host)
    except ProductOpsError as exc:
        fail(str(exc))
    application = create_app(ws, start_worker=worker and ws.settings.run_worker)
    typer.echo(f"productops is serving {ws.path} on http://{host}:{port}")
    uvicorn.run(application, host=host, port=port, log_level="warning", proxy_headers=False)


@app.command()
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
    from productops.core.db import transaction
    from productops.core.models import User
    from productops.core.workspace import init_workspace
    from productops.demo import demo_state
    from productops.demo.company import DEMO_ADMIN_EMAIL

    ws = init_workspace(directory, name="Acme Cloud (demo)")
    state = demo_state(ws)
    if state == "incomplete":
        ws.close()
        fail(
            f"{directory} holds an unfinished demo build or other data: delete the folder "
            "(or choose another) and run `productops demo` again"
        )
    if state == "empty":
        from productops.core.cli import run_job_with_progress

        run_job_with_progress(ws, "demo.build", {"seed": seed, "size": size}, quiet=as_json)
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
    sys.stdout.flush()
    if serve_it:
        _serve(directory, host, port, worker=True)


@app.command()
def worker(
    directory: WorkspaceDir,
    once: Annotated[bool, typer.Option(help="Run what is queued, then exit.")] = False,
) -> None:
    """Run background jobs for a workspace (for deployments with several web instances)."""
    import signal

    from productops.core.jobs import Worker, run_pending
    from productops.core.workspace import open_workspace

    ws = open_workspace(directory)
    if once:
        ran = run_pending(ws)
        typer.echo(f"ran {ran} job(s)")
        return
    w = Worker(ws)
    typer.echo(f"worker {os.getpid()} is waiting for jobs in {ws.path} (Ctrl-C stops)")
    signal.signal(signal.SIGTERM, lambda *_: w.stop(timeout=0))
    try:
        w.run_forever()
    except KeyboardInterrupt:
        w.stop(timeout=0)


@app.command()
def backup(
    directory: WorkspaceDir,
    out: Annotated[Path, typer.Argument(help="The archive to write (.tar.gz).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Write the whole workspace (settings, app database, events) to one archive."""
    from productops.core.backup import backup_workspace
    from productops.core.errors import ProductOpsError
    from productops.core.workspace import open_workspace

    try:
        ws = open_workspace(directory)
        manifest = backup_workspace(ws, out)
    except ProductOpsError as exc:
        fail(str(exc))
    if as_json:
        emit_json(manifest)
    else:
        rows = sum(manifest["tables"].values())
        typer.echo(f"Wrote {out} ({rows:,} rows in {len(manifest['tables'])} tables)")


@app.command()
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
