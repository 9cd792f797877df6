"""What every CLI command uses, written once: the workspace argument, `--json`, failing with
a named error, Rich tables and progress bars, and running a job under a progress bar.

A pillar's `cli.py` builds its Typer group from these, so every command looks and fails the
same way: `Error: <what went wrong, in the user's words>` on stderr and exit code 1.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from rich.progress import Progress

    from productops.core.workspace import Workspace

WorkspaceDir = Annotated[Path, typer.Argument(help="The workspace folder.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOpt = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="table, json or csv.", case_sensitive=False)
]

# progress(done, total or None, what is happening)
ProgressFn = Callable[[int, int | None, str | None], object]


def fail(message: str, code: int = 1) -> NoReturn:
    """Stop the command: `Error: message` on stderr, exit code `code`."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code)


def emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@contextmanager
def errors_as_exit() -> Iterator[None]:
    """Named productops errors end the command with their message instead of a traceback."""
    from productops.core.errors import ProductOpsError

    try:
        yield
    except ProductOpsError as exc:
        fail(str(exc))


def workspace_or_fail(directory: Path, run_migrations: bool = True) -> Workspace:
    """The workspace at `directory`, or the command stops with the reason."""
    from productops.core.workspace import open_workspace

    with errors_as_exit():
        return open_workspace(directory, run_migrations=run_migrations)


@contextmanager
def open_ws(directory: Path, run_migrations: bool = True) -> Iterator[Workspace]:
    """The workspace at `directory` for the length of a command (closed afterwards)."""
    from productops.core.workspace import open_workspace

    with errors_as_exit():
        ws = open_workspace(directory, run_migrations=run_migrations)
    try:
        with errors_as_exit():
            yield ws
    finally:
        ws.close()


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


@contextmanager
def progress_bar(quiet: bool = False, unit: str = "") -> Iterator[ProgressFn]:
    """A Rich progress bar; yields `progress(done, total, message)` to move it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns: list[Any] = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
    ]
    if unit:
        columns.append(TextColumn("{task.completed:>12,.0f} " + unit))
    columns.append(TimeElapsedColumn())
    bar: Progress = Progress(*columns, disable=quiet, transient=False)
    task = bar.add_task("starting", total=None)

    def move(done: int, total: int | None, message: str | None) -> None:
        bar.update(task, completed=done, total=total, description=(message or "working")[:60])

    with bar:
        yield move


def job_state(ws: Workspace, job_id: int) -> dict[str, Any]:
    from productops.core.jobs import get_job

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


def follow_job(
    snapshot: Callable[[], dict[str, Any]], quiet: bool = False, every: float = 0.2
) -> dict[str, Any]:
    """Show a job's progress under a progress bar until it ends; returns its last state.
    `snapshot` reads the job (from the database, or from a server's API)."""
    ended = {"succeeded", "failed"}
    with progress_bar(quiet) as move:
        while True:
            state = snapshot()
            what = f"{state['title']}: {state['message']}"
            move(state["done"] or 0, state["total"] or None, what)
            if state["status"] in ended:
                return state
            time.sleep(every)


def watch_job(ws: Workspace, job_id: int, quiet: bool = False) -> dict[str, Any]:
    """Follow a job of this workspace's database until it ends."""
    return follow_job(lambda: job_state(ws, job_id), quiet)


def run_job_with_progress(
    ws: Workspace, kind: str, params: dict[str, Any], quiet: bool = False
) -> dict[str, Any]:
    """Queue a job, run it in this process under a progress bar; exits 1 if it fails."""
    from sqlalchemy import update

    from productops.core.clock import utcnow
    from productops.core.db import transaction
    from productops.core.jobs import enqueue, run_job
    from productops.core.models import Job, JobStatus

    with errors_as_exit(), transaction(ws.sessions) as s:
        job = enqueue(s, kind, params, created_by="cli")
        job_id = job.id
        # Claimed by this process at once, so no worker elsewhere takes it.
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
        fail(f"job {job_id} failed: {state['error']}")
    return state


# --- beside a running server -------------------------------------------------------------


class ServerClient:
    """The workspace's running server, spoken to with its command-line token. Errors end the
    command with the server's message, as the same command would locally."""

    def __init__(self, url: str, token: str) -> None:
        import httpx

        self.url = url
        self.http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(600.0, connect=10.0),
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The response of `method path`; a 4xx/5xx answer fails the command."""
        import httpx

        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            fail(f"the server at {self.url} did not answer: {exc}")
        if response.status_code >= 400:
            fail(error_detail(response))
        return response

    def follow_job(self, job_id: int, quiet: bool = False) -> dict[str, Any]:
        """Follow a job on the server under a progress bar; exits 1 if it fails."""

        def snapshot() -> dict[str, Any]:
            j = self.call("GET", f"/api/v1/jobs/{job_id}").json()
            return {
                "id": j["id"],
                "title": j["title"],
                "status": j["status"],
                "done": j["progress_done"],
                "total": j["progress_total"],
                "message": j["message"],
                "error": j["error"],
                "result": j["result"],
            }

        state = follow_job(snapshot, quiet)
        if state["status"] != "succeeded":
            fail(str(state["error"]))
        return state


def error_detail(response: Any) -> str:
    """The message of an error answer (`{"detail": ...}`), in one line."""
    try:
        detail = response.json().get("detail")
    except ValueError:
        return f"the server answered {response.status_code}: {response.text[:200]}"
    if isinstance(detail, list):
        return "; ".join(_problem(d) for d in detail if isinstance(d, dict))
    return str(detail)


def _problem(item: dict[str, Any]) -> str:
    """One `{loc, msg}` of a 422: `field: message`, or the message alone when the problem is
    the request as a whole (a service's refusal has no location)."""
    where = ".".join(str(p) for p in item.get("loc", [])[1:])
    return f"{where}: {item.get('msg', '')}" if where else str(item.get("msg", ""))


def server_for(ws: Workspace) -> ServerClient | None:
    """A client of the server that serves `ws` now, or None when none does: a command that
    needs the event store then does the work itself."""
    from productops.core import localserver

    server = localserver.find(ws)
    if server is None:
        return None
    return ServerClient(server.url, server.token)
