"""Every command that reads or writes the event store works while `productops serve` holds
the workspace (which, in production, is always): it goes through the server, with the same
output and exit codes as without one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from typer.testing import CliRunner

from productops.analytics.settings import events_file
from productops.cli import build_app
from productops.core import localserver
from productops.core.workspace import init_workspace, open_workspace

METRICS = """\
metrics:
  - name: signups
    type: unique_users
    event: Signed Up
  - name: reports
    type: count
    event: Report Created
"""


def _events(n: int, prefix: str) -> list[dict[str, object]]:
    return [
        {
            "event": "Signed Up" if i % 3 == 0 else "Report Created",
            "timestamp": f"2026-10-{1 + i % 20:02d}T10:00:00Z",
            "distinct_id": f"{prefix}-user-{i % 7}",
            "uuid": f"{prefix}-{i}",
            "properties": {"plan": "growth"},
        }
        for i in range(n)
    ]


def _write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(build_app(), list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with some events, served by `productops serve` in another process."""
    folder = tmp_path_factory.mktemp("served") / "ws"
    ws = init_workspace(folder, name="Served Co")
    (folder / "metrics.yml").write_text(METRICS)
    ws.close()
    first = _write_jsonl(folder.parent / "first.jsonl", _events(30, "a"))
    code, _, err = _run("events", "import", str(folder), str(first))
    assert code == 0, err
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "productops", "serve", str(folder), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        ws = open_workspace(folder)
        while localserver.find(ws, timeout=0.5) is None:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {proc.stderr.read()!r}")  # type: ignore[union-attr]
            time.sleep(0.2)
        ws.close()
        _send_one_event(folder, port)
        yield folder
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _send_one_event(folder: Path, port: int) -> None:
    from productops.core import auth
    from productops.core.db import transaction

    ws = open_workspace(folder)
    with transaction(ws.sessions) as s:
        key = auth.create_api_key(s, "beside", "ingest", actor="test").secret
    ws.close()
    r = httpx.post(
        f"http://127.0.0.1:{port}/v1/batch",
        json={"batch": [{"type": "track", "event": "Opened", "userId": "u0", "messageId": "m0"}]},
        auth=(key, ""),
        timeout=30,
    )
    assert r.status_code == 200, r.text


def test_the_server_really_holds_the_event_store(served: Path) -> None:
    with pytest.raises(duckdb.IOException):
        duckdb.connect(str(events_file(open_workspace(served))))


def test_sql_goes_through_the_server(served: Path) -> None:
    code, out, err = _run(
        "sql",
        str(served),
        "SELECT count(*) AS n FROM events WHERE event_id LIKE 'a-%'",
        "-f",
        "json",
    )
    assert code == 0, err
    assert json.loads(out)["rows"] == [[30]]
    code, out, err = _run("sql", str(served), "SELECT * FROM read_csv('/etc/passwd')")
    assert code == 1 and "not allowed" in err  # the same refusal, with exit code 1


def test_metrics_query_goes_through_the_server(served: Path) -> None:
    code, out, err = _run(
        "metrics", "query", str(served), "signups", "--grain", "all", "-f", "json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["metric"] == "signups" and data["rows"] == [{"value": 7}]
    code, out, err = _run("metrics", "query", str(served), "signups", "--start", "31/02/2026")
    assert code == 1 and "not a date" in err
    code, out, err = _run("metrics", "query", str(served), "signupz")
    assert code == 1 and "did you mean 'signups'" in err


def test_events_import_goes_through_the_server(served: Path, tmp_path: Path) -> None:
    second = _write_jsonl(tmp_path / "second.jsonl", _events(50, "b"))
    code, out, err = _run("events", "import", str(served), str(second), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert (result["rows"], result["stored"], result["duplicates"]) == (50, 50, 0)
    code, out, err = _run("events", "import", str(served), str(second), "--json")
    assert code == 0 and json.loads(out)["stored"] == 0  # importing again adds nothing
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event": "x", "distinct_id": "u"}\n{"event": 5}\n')
    code, out, err = _run("events", "import", str(served), str(bad))
    assert code == 1 and "bad.jsonl: line 2" in err  # named as sent, not as uploaded
    code, out, err = _run("sql", str(served), "SELECT count(*) FROM events", "-f", "json")
    assert json.loads(out)["rows"] == [[81]]  # 30 + 1 + 50, the bad file left nothing


def test_release_quarantine_and_jobs_go_through_the_server(served: Path) -> None:
    code, out, err = _run("events", "release-quarantine", str(served), "--json")
    assert code == 0, err
    assert json.loads(out) == {"released": 0, "inserted": 0}


def test_backup_of_a_served_workspace(served: Path, tmp_path: Path) -> None:
    from productops.core.backup import restore_workspace

    archive = tmp_path / "served.tar.gz"
    code, out, err = _run("backup", str(served), str(archive), "--json")
    assert code == 0, err
    assert json.loads(out)["pillars"]["analytics"]["tables"]["events"] >= 31
    restore_workspace(archive, tmp_path / "copy")
    with duckdb.connect(str(tmp_path / "copy" / "events.duckdb"), read_only=True) as con:
        assert (con.execute("SELECT count(*) FROM events").fetchone() or (0,))[0] >= 31


def test_a_stale_announcement_is_ignored(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    localserver.announce(ws, "http://127.0.0.1:9", "po_local_x")
    path = ws.house_dir / localserver.SERVER_FILE
    data = json.loads(path.read_text())
    data["pid"] = 2**22 + os.getpid()  # no such process
    path.write_text(json.dumps(data))
    assert localserver.find(ws) is None and not path.exists()
    code, out, _ = _run("sql", str(ws.path), "SELECT 1 AS one", "-f", "json")
    assert code == 0 and json.loads(out)["rows"] == [[1]]
    ws.close()


def test_backup_while_the_server_ingests_loses_nothing(served: Path, tmp_path: Path) -> None:
    """Issue 7, item 6: a backup taken while events arrive is consistent, and every event
    acknowledged during it is in the live store afterwards."""
    import threading

    from productops.core import auth
    from productops.core.db import transaction

    ws = open_workspace(served)
    with transaction(ws.sessions) as s:
        key = auth.create_api_key(s, "during backup", "ingest", actor="test").secret
    server = localserver.find(ws)
    ws.close()
    assert server is not None
    acked: list[str] = []
    stop = threading.Event()

    def send() -> None:
        n = 0
        while not stop.is_set() and n < 60:
            ids = [f"during-{n}-{i}" for i in range(50)]
            batch = [
                {"type": "track", "event": "Opened", "userId": "u-live", "messageId": m}
                for m in ids
            ]
            r = httpx.post(f"{server.url}/v1/batch", json={"batch": batch}, auth=(key, ""))
            if r.status_code == 200:
                acked.extend(ids)
            n += 1

    sender = threading.Thread(target=send)
    sender.start()
    try:
        archive = tmp_path / "live.tar.gz"
        code, out, err = _run("backup", str(served), str(archive), "--json")
        assert code == 0, err
    finally:
        stop.set()
        sender.join(60)
    manifest = json.loads(out)
    in_backup = manifest["pillars"]["analytics"]["tables"]["events"]
    code, out, _ = _run(
        "sql",
        str(served),
        "SELECT count(*) FROM events WHERE event_id LIKE 'during-%'",
        "-f",
        "json",
    )
    assert json.loads(out)["rows"] == [[len(acked)]]  # nothing acknowledged was lost
    from productops.core.backup import restore_workspace

    restore_workspace(archive, tmp_path / "copy")
    with duckdb.connect(str(tmp_path / "copy" / "events.duckdb"), read_only=True) as con:
        assert (con.execute("SELECT count(*) FROM events").fetchone() or (0,))[0] == in_backup
