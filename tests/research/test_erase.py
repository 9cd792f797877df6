"""Deleting a person removes or anonymises them everywhere in one audited operation: no row
of either database, no full-text index and no backup taken afterwards still names them."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import tarfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import inspect, select, text

from productops import analytics
from productops.analytics import store
from productops.core.backup import backup_workspace
from productops.core.db import transaction
from productops.core.models import AuditEvent
from productops.core.workspace import Workspace
from productops.feedback.items import service as feedback_items
from productops.feedback.processing.service import embed_pending
from productops.feedback.schemas import FeedbackCreate
from productops.research.models import Highlight, Note, Speaker
from productops.research.privacy.erase import ERASED_LABEL, erase_person
from productops.research.repository import service as repo
from productops.research.schemas import InsightCreate
from productops.research.search.index import embed_pending as embed_research
from tests.research.support import ZELDA, ZELDA_EMAIL, ZELDA_ID, highlight_words, world

ANON = "anon-zelda-1f3a"
PHONE = "+44 20 7946 0011"
NEEDLES = (ZELDA, ZELDA_EMAIL, ZELDA_ID, ANON, PHONE, "Quartermain")


def _events(ws: Workspace) -> Path:
    path = analytics.events_file(ws)
    with analytics.bulk(path) as con:
        now = dt.datetime(2026, 11, 1, 12)
        rows = [
            ("e1", "Report Exported", ANON, ZELDA_ID, ANON, {"email": ZELDA_EMAIL}, ZELDA_ID),
            ("e2", "Page Viewed", ANON, None, ANON, {}, ZELDA_ID),
            (
                "e3",
                "Teammate Invited",
                "u_otto",
                "u_otto",
                None,
                {"invitee": ZELDA_EMAIL, "who": ZELDA},
                "u_otto",
            ),
        ]
        for event_id, name, distinct, user, anon, props, person in rows:
            con.execute(
                "INSERT INTO events VALUES "
                "(?, ?, 'track', ?, ?, ?, ?, ?, NULL, 'api', ?, ?, hash(?), 0, true)",
                [
                    event_id,
                    name,
                    now,
                    now,
                    distinct,
                    user,
                    anon,
                    json.dumps(props),
                    person,
                    event_id,
                ],
            )
        store.derive_all(con)
        con.execute("INSERT INTO identities VALUES (?, ?, ?)", [ANON, ZELDA_ID, now])
        con.execute(
            "INSERT INTO quarantine VALUES ('q1', 'bad event', 'track', ?, ?, ?, NULL, ?, NULL, "
            "'api', ?, NULL, 'not in the plan')",
            [now, now, ANON, ANON, json.dumps({"name": ZELDA})],
        )
        con.execute(
            "INSERT INTO event_persons VALUES (?, NULL, ?, ?, ?)",
            [ZELDA_ID, json.dumps({"email": ZELDA_EMAIL, "name": ZELDA}), now, now],
        )
    return path


def _feedback(ws: Workspace) -> None:
    with transaction(ws.sessions) as s:
        feedback_items.create_feedback(
            s,
            [
                FeedbackCreate(
                    external_id="fb-1",
                    text="PDF export is broken again",
                    email=ZELDA_EMAIL,
                    name=ZELDA,
                    user_id=ZELDA_ID,
                ),
                FeedbackCreate(
                    external_id="fb-2",
                    text=f"{ZELDA} from Acme asked for this too",
                    email="otto@acme.example",
                ),
            ],
            "test",
        )
    embed_pending(ws)


def _app_rows(ws: Workspace) -> list[tuple[str, str, str]]:
    """(table, column, value) of every text cell of every table that names Zelda."""
    found = []
    with ws.engine.connect() as conn:
        if ws.engine.dialect.name == "sqlite":
            tables = [
                r[0]
                for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))
            ]
        else:
            tables = inspect(conn).get_table_names()
        for table in tables:
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode("latin-1")
                    if value is None or isinstance(value, int | float):
                        continue
                    cell = str(value).lower()
                    for needle in NEEDLES:
                        if needle.lower() in cell:
                            found.append((table, column, str(value)[:80]))
    return found


def _store_rows(path: Path) -> list[tuple[str, str]]:
    con = duckdb.connect(str(path), read_only=True)
    found = []
    try:
        for (table,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall():
            for row in con.execute(f'SELECT * FROM "{table}"').fetchall():
                cell = json.dumps([str(v) for v in row]).lower()
                for needle in NEEDLES:
                    if needle.lower() in cell:
                        found.append((table, needle))
    finally:
        con.close()
    return found


def _archive_rows(archive: Path) -> list[str]:
    found = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            data = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name.endswith(".parquet"):
                table = pq.read_table(io.BytesIO(data))
                data = json.dumps(table.to_pylist(), default=str).encode()
            elif member.name.endswith(".gz"):
                data = gzip.decompress(data)
            low = data.decode("utf-8", "replace").lower()
            found += [f"{member.name}: {n}" for n in NEEDLES if n.lower() in low]
    return found


def test_deleting_a_person_leaves_no_row_in_either_database_that_names_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    w = world(workspace)
    hid = highlight_words(workspace, w.note_id, "the export to PDF is broken for us")
    highlight_words(workspace, w.note_id, "Zelda would love that")
    with transaction(workspace.sessions) as s:
        repo.create_insight(
            s,
            InsightCreate(
                title="PDF export breaks sharing", body=f"As {ZELDA} said", highlight_ids=[hid]
            ),
            "test",
        )
    _feedback(workspace)
    path = _events(workspace)
    embed_research(workspace)
    before = _app_rows(workspace)
    assert {t for t, _, _ in before} >= {
        "people",
        "feedback_items",
        "research_notes",
        "research_speakers",
    }
    assert _store_rows(path)

    report = erase_person(workspace, ZELDA_EMAIL, "cli")

    assert report["events"]["events"] == 2 and report["events"]["quarantined"] == 1
    assert (
        report["feedback"]["feedback_deleted"] == 1 and report["feedback"]["feedback_scrubbed"] == 1
    )
    assert _app_rows(workspace) == []
    assert _store_rows(path) == []
    with workspace.sessions() as s:
        # Notes keep their words, with the speaker erased; highlights keep exact spans.
        note = s.get(Note, w.note_id)
        assert note is not None and f"**{ERASED_LABEL}**" in note.body
        for h in s.scalars(select(Highlight)):
            assert note.body[h.start : h.end] == h.quote and h.participant_id is None
        assert [
            sp.label for sp in s.scalars(select(Speaker).where(Speaker.note_id == w.note_id))
        ] == ["Interviewer", ERASED_LABEL]
        if workspace.engine.dialect.name == "sqlite":
            for fts in ("research_fts", "feedback_fts"):
                hits = s.execute(
                    text(f"SELECT rowid FROM {fts} WHERE {fts} MATCH 'quartermain OR zelda'")
                ).all()
                assert hits == []
        erased = s.scalars(select(AuditEvent).where(AuditEvent.action == "person.erase")).one()
        assert erased.actor == "cli" and erased.detail["events"] == 2
    archive = tmp_path / "after.tar.gz"
    backup_workspace(workspace, archive)
    assert _archive_rows(archive) == []


def test_erasing_is_idempotent_and_says_who_is_unknown(workspace: Workspace) -> None:
    import pytest

    from productops.core.errors import NotFound

    w = world(workspace)
    erase_person(workspace, w.zelda_person, "cli")
    with pytest.raises(NotFound):
        erase_person(workspace, ZELDA_EMAIL, "cli")
