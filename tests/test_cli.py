"""The command line: instant help, JSON for scripts, keys printed once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from productops.cli import app as cli
from productops.core.models import ApiKey

runner = CliRunner()


def test_help_does_not_import_the_heavy_stack() -> None:
    # `productops --help` stays instant because the web, database and analytics stacks load
    # only inside the commands that need them.
    code = (
        "import sys; import productops.cli; "
        "print(','.join(m for m in ('fastapi', 'sqlalchemy', 'duckdb', 'ibis', 'uvicorn', "
        "'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_help_lists_every_top_level_command() -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in (
        "init",
        "serve",
        "demo",
        "worker",
        "backup",
        "restore",
        "user",
        "apikey",
        "jobs",
    ):
        assert command in result.output


def test_user_and_key_commands_speak_json(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    assert runner.invoke(cli, ["init", ws]).exit_code == 0
    r = runner.invoke(
        cli,
        [
            "user",
            "create",
            ws,
            "--email",
            "Ana@Example.com",
            "--role",
            "admin",
            "--password",
            "a-long-password",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == {"id": 1, "email": "ana@example.com", "role": "admin"}
    r = runner.invoke(cli, ["apikey", "create", ws, "--scope", "ingest", "--json"])
    key = json.loads(r.stdout)["key"]
    listed = runner.invoke(cli, ["apikey", "list", ws, "--json"]).stdout
    assert key not in listed and json.loads(listed)[0]["scope"] == "ingest"
    from productops.core.workspace import open_workspace

    w = open_workspace(Path(ws))
    with w.sessions() as s:
        row = s.scalar(select(ApiKey))
        assert row is not None and key not in row.key_hash
    w.close()


def test_bad_input_gets_a_clear_error(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    runner.invoke(cli, ["init", ws])
    r = runner.invoke(cli, ["apikey", "create", ws, "--scope", "everything"])
    assert r.exit_code == 1 and "'everything' is not a scope" in r.output
    r = runner.invoke(
        cli, ["user", "create", ws, "--email", "x@example.com", "--password", "short"]
    )
    assert r.exit_code == 1 and "at least 10 characters" in r.output
    runner.invoke(
        cli, ["user", "create", ws, "--email", "x@example.com", "--password", "long-enough-pw"]
    )
    r = runner.invoke(
        cli, ["user", "create", ws, "--email", "X@example.com", "--password", "long-enough-pw"]
    )
    assert r.exit_code == 1 and "already exists" in r.output


def test_serve_on_a_taken_port_says_so_and_announces_nothing(tmp_path: Path) -> None:
    import socket

    from productops.core.workspace import init_workspace

    init_workspace(tmp_path / "ws").close()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", str(tmp_path / "ws"), "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot serve on 127.0.0.1:{port}" in result.output
    assert "is serving" not in result.output
