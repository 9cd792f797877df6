"""The running server of a workspace, as the command line finds it.

A DuckDB store has one writer process, and in production `productops serve` is always that
process. So that every command still works beside it, a serving process announces itself in
`<workspace>/.productops/server.json` (readable by the workspace's owner only): its local URL,
its process id and a token made at start-up. A command that needs the stores finds the
announcement, checks the process is alive and answers, and sends its work to the server's own
API with that token (which acts as the command line: an admin, audited as `cli`). The token
lives only as long as the server; the file is removed when the server stops.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

SERVER_FILE = "server.json"


@dataclass(frozen=True)
class LocalServer:
    """A server that announced itself for a workspace."""

    url: str
    pid: int
    token: str


def new_token() -> str:
    return "po_local_" + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_matches(expected_hash: str | None, given: str) -> bool:
    return bool(expected_hash) and hmac.compare_digest(str(expected_hash), token_hash(given))


def _file(ws: Workspace) -> Path:
    return ws.house_dir / SERVER_FILE


def announce(ws: Workspace, url: str, token: str) -> None:
    """Say that this process serves the workspace at `url` (called when serving starts)."""
    from productops.core.workspace import write_private

    write_private(_file(ws), json.dumps({"url": url, "pid": os.getpid(), "token": token}, indent=2))


def withdraw(ws: Workspace, token: str) -> None:
    """Remove this process's announcement (called when serving stops)."""
    path = _file(ws)
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("token") == token:
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find(ws: Workspace, timeout: float = 3.0) -> LocalServer | None:
    """The server serving this workspace now, or None. A stale announcement (its process is
    gone) is removed."""
    import httpx

    path = ws.path / ".productops" / SERVER_FILE
    try:
        data = json.loads(path.read_text())
        server = LocalServer(str(data["url"]), int(data["pid"]), str(data["token"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not _alive(server.pid):
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    try:
        # Our own loopback server: not an outbound request, so not through the outbound guard.
        ok = httpx.get(f"{server.url}/healthz", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        ok = False
    return server if ok else None
