"""Hybrid search (full text + meaning) with filters, on SQLite and PostgreSQL; saved views."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text

from productops.core.db import transaction
from productops.core.errors import InvalidInput
from productops.core.workspace import Workspace
from productops.feedback.items import service as items
from productops.feedback.items.filters import Filters
from productops.feedback.pipeline import process
from productops.feedback.schemas import FeedbackCreate, SavedQuery, SavedViewCreate
from productops.feedback.search import service as search
from tests.conftest import PG_ENV
from tests.feedback.support import add_customers

DAY = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
TEXTS = [
    ("z1", "zendesk", "dana@acme.example", "The application crashes whenever I open settings"),
    ("z2", "zendesk", "tom@tiny.example", "Invoices are charged twice on my credit card"),
    ("i1", "intercom", "dana@acme.example", "Please add a dark theme for night work"),
    ("i2", "intercom", "tom@tiny.example", "Exporting reports to PDF would be great"),
    ("a1", "appstore", None, "Keeps crashing after the update, unusable"),
]


@pytest.fixture
def indexed(workspace: Workspace) -> Workspace:
    add_customers(workspace)
    with transaction(workspace.sessions) as s:
        items.create_feedback(
            s,
            [
                FeedbackCreate(
                    source=src,
                    external_id=e,
                    email=m,
                    text=t,
                    created_at=DAY + dt.timedelta(days=n),
                )
                for n, (e, src, m, t) in enumerate(TEXTS)
            ],
            "test",
        )
    process(workspace)
    return workspace


def _ids(result: search.SearchResult) -> list[str]:
    return [h.item.external_id for h in result.hits]


def test_words_find_their_stems_on_both_databases(indexed: Workspace) -> None:
    result = search.search(indexed, "crash", mode="text")
    assert set(_ids(result)) == {"z1", "a1"}  # "crashes", "crashing"
    assert result.total == 2


def test_meaning_finds_feedback_that_shares_no_word(indexed: Workspace) -> None:
    result = search.search(indexed, "app stops working and closes", mode="meaning")
    assert _ids(result)[0] in {"z1", "a1"}
    hybrid = search.search(indexed, "billing problem")
    assert _ids(hybrid)[0] == "z2"


def test_filters_narrow_both_halves(indexed: Workspace) -> None:
    result = search.search(indexed, "crash", Filters(source="zendesk"))
    assert _ids(result) == ["z1"]
    result = search.search(indexed, "crash", Filters(segment="Enterprise"))
    assert _ids(result) == ["z1"]
    result = search.search(indexed, "crash", Filters(arr_band="under-10k"))
    assert "z1" not in _ids(result)
    until = search.search(indexed, "crash", Filters(until=DAY.date()))
    assert _ids(until) == ["z1"]


def test_user_input_is_never_search_syntax(indexed: Workspace) -> None:
    for query in ['"unbalanced', "crash OR", "NEAR(a b)", "col:crash", "a' OR 1=1 --", "*"]:
        search.search(indexed, query)  # no error from FTS5 or tsquery
    with pytest.raises(InvalidInput):
        search.search(indexed, "   ")


def test_a_saved_view_keeps_words_and_filters_for_its_owner(indexed: Workspace) -> None:
    with transaction(indexed.sessions) as s:
        view = search.save_view(
            s,
            "pm@x",
            SavedViewCreate(
                name="Crashes",
                query=SavedQuery(q="crash", source="zendesk", sort="oldest", theme=0),
            ),
        )
        view_id = view.id
    with indexed.sessions() as s:
        saved = search.get_view(s, "pm@x", view_id)
        q, mode, f = search.view_filters(saved)
        assert (q, mode, f.source, f.theme_id) == ("crash", "hybrid", "zendesk", 0)
        assert saved.query["sort"] == "oldest"
        with pytest.raises(Exception, match="no saved view"):
            search.get_view(s, "someone-else", view_id)
    with pytest.raises(ValidationError, match="colour"):
        SavedViewCreate(name="Bad", query={"colour": "red"})  # type: ignore[arg-type]
    with (
        pytest.raises(InvalidInput, match="first day is after"),
        transaction(indexed.sessions) as s,
    ):
        search.save_view(
            s,
            "pm@x",
            SavedViewCreate(
                name="Backwards",
                query=SavedQuery(since=dt.date(2026, 2, 1), until=dt.date(2026, 1, 1)),
            ),
        )


@pytest.fixture
def empty_target(indexed: Workspace) -> Iterator[str | None]:
    """Where a restore of `indexed` goes: its own SQLite file, or a PostgreSQL database of
    its own (the source's database still holds the rows, and a restore refuses a database
    that has any)."""
    if indexed.engine.dialect.name != "postgresql":
        yield None
        return
    admin = create_engine(
        os.environ[PG_ENV].replace("postgresql://", "postgresql+psycopg://", 1),
        isolation_level="AUTOCOMMIT",
    )
    name = f"productops_restore_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = os.environ[PG_ENV].rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


def test_a_backup_restores_vectors_and_full_text(
    indexed: Workspace, empty_target: str | None, tmp_path: Path
) -> None:
    from productops.core.backup import backup_workspace, restore_workspace
    from productops.core.workspace import open_workspace

    archive = tmp_path / "backup.tar.gz"
    backup_workspace(indexed, archive)
    restore_workspace(archive, tmp_path / "restored", database_url=empty_target)
    restored = open_workspace(tmp_path / "restored")
    try:
        before = search.search(indexed, "invoice charged twice")
        after = search.search(restored, "invoice charged twice")
        assert _ids(after) == _ids(before) and _ids(after)[0] == "z2"
        assert _ids(search.search(restored, "crash", mode="text")) != []
    finally:
        restored.close()
