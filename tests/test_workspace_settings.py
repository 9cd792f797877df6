"""Workspaces and settings: what `init` makes (readable by its owner only), how settings are
layered, and the refusal to serve publicly with a default or guessable secret."""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any

import duckdb
import pytest
import uvicorn
from sqlalchemy import text
from typer.testing import CliRunner

from productops.cli import app as cli
from productops.core.errors import SettingsError
from productops.core.settings import DEFAULT_SECRET_KEY, check_safe_to_serve, load_settings
from productops.core.workspace import HOUSE_DIR, init_workspace, open_workspace

runner = CliRunner()


def test_init_creates_settings_databases_and_catalog(tmp_path: Path) -> None:
    result = runner.invoke(cli, ["init", str(tmp_path / "ws"), "--name", "Acme", "--json"])
    assert result.exit_code == 0, result.output
    ws = tmp_path / "ws"
    settings = tomllib.loads((ws / "productops.toml").read_text())
    assert settings["name"] == "Acme"
    assert len(settings["secret_key"]) >= 32 and settings["secret_key"] != DEFAULT_SECRET_KEY
    assert (ws / "productops.toml").stat().st_mode & 0o077 == 0
    assert (ws / "productops.db").is_file()
    assert (ws / "metrics.yml").is_file()
    with duckdb.connect(str(ws / "events.duckdb"), read_only=True) as con:
        tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
        assert {"events", "persons", "accounts"} <= tables


def test_init_again_keeps_settings_and_data(tmp_path: Path) -> None:
    first = init_workspace(tmp_path / "ws", name="Acme")
    key = first.settings.secret_key
    first.close()
    (tmp_path / "ws" / "metrics.yml").write_text("metrics: [] # mine\n")
    again = init_workspace(tmp_path / "ws", name="Other")
    assert again.settings.secret_key == key and again.settings.name == "Acme"
    assert "mine" in (tmp_path / "ws" / "metrics.yml").read_text()
    again.close()


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    init_workspace(tmp_path / "ws", name="FromFile").close()
    monkeypatch.setenv("PRODUCTOPS_NAME", "FromEnv")
    assert load_settings(tmp_path / "ws").name == "FromEnv"


def test_unknown_setting_is_refused_with_the_file_named(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws").close()
    with (tmp_path / "ws" / "productops.toml").open("a") as fh:
        fh.write("secret_keey = 'typo'\n")
    with pytest.raises(SettingsError, match=r"productops\.toml.*secret_keey"):
        load_settings(tmp_path / "ws")


def test_opening_a_missing_workspace_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="productops init"):
        open_workspace(tmp_path / "nowhere")


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "example.com", "::"])
def test_server_refuses_public_address_with_default_secret(tmp_path: Path, host: str) -> None:
    ws = init_workspace(tmp_path / "ws", secret_key=DEFAULT_SECRET_KEY)
    with pytest.raises(SettingsError, match="secret key is the default"):
        check_safe_to_serve(ws.settings, host)
    ws.close()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_default_secret_is_allowed_on_loopback(tmp_path: Path, host: str) -> None:
    ws = init_workspace(tmp_path / "ws", secret_key=DEFAULT_SECRET_KEY)
    check_safe_to_serve(ws.settings, host)
    ws.close()


def test_serve_command_exits_with_the_reason(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", secret_key=DEFAULT_SECRET_KEY).close()
    result = runner.invoke(cli, ["serve", str(tmp_path / "ws"), "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "secret key is the default" in result.output


def test_a_real_secret_may_serve_publicly(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    check_safe_to_serve(ws.settings, "0.0.0.0")
    ws.close()


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_workspace_files_are_private_from_the_start(tmp_path: Path) -> None:
    before = _umask()
    result = runner.invoke(cli, ["init", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert _umask() == before  # the command's umask does not leak into the caller
    ws = tmp_path / "ws"
    for name in ("productops.toml", "productops.db", "events.duckdb", "metrics.yml"):
        assert _mode(ws / name) == 0o600, name
    # SQLite gives its WAL files the database's mode, in any process that writes later.
    opened = open_workspace(ws)
    with opened.engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch (x INTEGER)"))
        for name in ("productops.db-wal", "productops.db-shm"):
            assert _mode(ws / name) == 0o600, name
    opened.close()


def test_serve_keeps_what_it_creates_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    init_workspace(ws).close()
    # A workspace made by an older version: world-readable.
    (ws / "productops.db").chmod(0o644)
    (ws / "events.duckdb").chmod(0o644)
    (ws / HOUSE_DIR).mkdir(exist_ok=True)
    (ws / HOUSE_DIR).chmod(0o755)
    seen: dict[str, Any] = {}

    def run(app: object, **options: Any) -> None:
        # What the server creates while it runs: a store opened on first use, its WAL.
        con = duckdb.connect(str(ws / "later.duckdb"))
        con.execute("CREATE TABLE t (x INTEGER)")
        seen["store"] = _mode(ws / "later.duckdb")
        seen["proxy_headers"] = options.get("proxy_headers")
        con.close()

    monkeypatch.setattr(uvicorn, "run", run)
    before = _umask()
    result = runner.invoke(cli, ["serve", str(ws)])
    assert result.exit_code == 0, result.output
    assert seen == {"store": 0o600, "proxy_headers": False}
    assert _mode(ws / "productops.db") == 0o600
    assert _mode(ws / "events.duckdb") == 0o600
    assert _mode(ws / HOUSE_DIR) == 0o700
    assert _umask() == before


@pytest.mark.parametrize(
    "key", ["aaaaaaaaaaaaaaaa", "abababababababababababababababab", "password12password12"]
)
def test_server_refuses_a_guessable_secret(tmp_path: Path, key: str) -> None:
    ws = init_workspace(tmp_path / "ws", secret_key=key)
    with pytest.raises(SettingsError, match="too easy to guess") as refused:
        check_safe_to_serve(ws.settings, "0.0.0.0")
    assert "secrets.token_urlsafe(48)" in str(refused.value)  # how to make a good one
    check_safe_to_serve(ws.settings, "127.0.0.1")  # this machine only: any key will do
    ws.close()


def test_serve_command_says_how_to_make_a_secret(tmp_path: Path) -> None:
    init_workspace(tmp_path / "ws", secret_key="a" * 40).close()
    result = runner.invoke(cli, ["serve", str(tmp_path / "ws"), "--host", "0.0.0.0"])
    assert result.exit_code == 1
    assert "too easy to guess" in result.output
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in result.output


# Named ids: a random value in a test's id would give each xdist worker other tests.
@pytest.mark.parametrize(
    "key",
    [secrets.token_urlsafe(48), secrets.token_urlsafe(24), secrets.token_hex(32)],
    ids=["urlsafe-48", "urlsafe-24", "hex-32"],
)
def test_random_secrets_may_serve_publicly(tmp_path: Path, key: str) -> None:
    ws = init_workspace(tmp_path / "ws", secret_key=key)
    check_safe_to_serve(ws.settings, "0.0.0.0")
    ws.close()
