"""Helpers for the feedback tests: where the shared samples are, small workspaces with
accounts and people, and counting what is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.customers import Account, Person
from productops.feedback.importers import InputFile
from productops.feedback.items import service
from productops.feedback.models import FeedbackItem
from tests.conftest import SHARED_DATA

SAMPLES = SHARED_DATA / "feedback" / "samples"
BITEXT = SHARED_DATA / "feedback" / "bitext_customer_support"
SECURITY = SHARED_DATA / "security"


def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"{SAMPLES} is absent: the shared feedback samples are not on this machine")
    return SAMPLES


def count(ws: Workspace) -> int:
    with ws.sessions() as s:
        return int(s.scalar(select(func.count(FeedbackItem.id))) or 0)


def snapshot(ws: Workspace) -> list[tuple[Any, ...]]:
    """Every stored item's identity and words (to check nothing changed)."""
    with ws.sessions() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(
                    FeedbackItem.source,
                    FeedbackItem.external_id,
                    FeedbackItem.text,
                    FeedbackItem.person_id,
                    FeedbackItem.account_id,
                ).order_by(FeedbackItem.id)
            )
        ]


def do_import(
    ws: Workspace, source: str, files: list[Path | InputFile], **kw: Any
) -> service.ImportResult:
    with transaction(ws.sessions) as s:
        return service.import_feedback(s, source, files, actor="test", **kw)


def file(name: str, data: Any) -> InputFile:
    """An in-memory file: JSON for dicts and lists, else text or bytes as given."""
    if isinstance(data, dict | list):
        return InputFile(name, json.dumps(data).encode())
    return InputFile(name, data.encode() if isinstance(data, str) else data)


def add_customers(ws: Workspace) -> dict[str, int]:
    """Two accounts (one with a domain) and a person in each."""
    with transaction(ws.sessions) as s:
        acme = Account(
            external_id="acct_acme", name="Acme", domain="acme.example", plan="enterprise",
            segment="Enterprise", region="NA", arr=240_000,
        )  # fmt: skip
        tiny = Account(
            external_id="acct_tiny", name="Tiny", domain="tiny.example", plan="starter",
            segment="SMB", region="EMEA", arr=4_000,
        )  # fmt: skip
        s.add_all([acme, tiny])
        s.flush()
        dana = Person(
            external_id="user_dana", account_id=acme.id, email="dana@acme.example", name="Dana"
        )
        tom = Person(
            external_id="user_tom", account_id=tiny.id, email="tom@tiny.example", name="Tom"
        )
        s.add_all([dana, tom])
        s.flush()
        return {"acme": acme.id, "tiny": tiny.id, "dana": dana.id, "tom": tom.id}
