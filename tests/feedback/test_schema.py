"""The feedback tables and their full-text index, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.feedback.models import FeedbackItem

NOW = dt.datetime(2026, 11, 2, 12, tzinfo=dt.UTC)


def _item(external_id: str, body: str) -> FeedbackItem:
    return FeedbackItem(
        source="api", external_id=external_id, kind="other", body=body, text=body, created_at=NOW
    )


def test_one_item_per_source_and_external_id(workspace: Workspace) -> None:
    with transaction(workspace.sessions) as s:
        s.add(_item("a", "first"))
    with pytest.raises(IntegrityError), transaction(workspace.sessions) as s:
        s.add(_item("a", "again"))


def test_the_full_text_index_follows_the_items(workspace: Workspace) -> None:
    with transaction(workspace.sessions) as s:
        item = _item("x", "The export crashes when the report is large")
        s.add(item)
        s.flush()
        item_id = item.id
    with workspace.engine.connect() as conn:
        if workspace.engine.dialect.name == "sqlite":
            found = conn.execute(
                text("SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH 'crash'")
            ).all()
            assert [r[0] for r in found] == [item_id]  # porter stemming: crashes ~ crash
        else:
            names = {i["name"] for i in inspect(conn).get_indexes("feedback_items")}
            assert "ix_feedback_items_fts" in names
    with transaction(workspace.sessions) as s:
        row = s.get(FeedbackItem, item_id)
        assert row is not None
        row.text = "Dark mode please"
    if workspace.engine.dialect.name == "sqlite":
        with workspace.engine.connect() as conn:
            assert not conn.execute(
                text("SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH 'crash'")
            ).all()
            assert conn.execute(
                text("SELECT rowid FROM feedback_fts WHERE feedback_fts MATCH 'dark'")
            ).all()
