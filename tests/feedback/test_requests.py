"""Feature requests: evidence with excerpts, votes, demand by people, accounts and ARR,
merging, links to the roadmap, and closing the loop by email (a local SMTP server) or an
export."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from productops.core.db import transaction
from productops.core.errors import BlockedURL, Conflict, InvalidInput
from productops.core.export import to_csv
from productops.core.jobs import run_pending
from productops.core.models import Job
from productops.core.workspace import Workspace
from productops.feedback.items import service as items
from productops.feedback.models import Notification
from productops.feedback.requests import notify
from productops.feedback.requests import service as requests
from productops.feedback.schemas import (
    EvidenceCreate,
    FeedbackCreate,
    LinkCreate,
    RequestCreate,
    RequestUpdate,
    VoteCreate,
)
from productops.feedback.settings import section
from tests.feedback.support import add_customers

DAY = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)


def _feedback(ws: Workspace) -> dict[str, int]:
    sent = [
        ("f1", "dana@acme.example", "We need SSO with Okta before we can roll out"),
        ("f2", "tom@tiny.example", '=HYPERLINK("http://evil.example") SSO please'),
        ("f3", "dana@acme.example", "Again: Okta SSO is blocking the rollout"),
        ("f4", "new@acme.example", "SAML login would help our IT team"),
    ]
    with transaction(ws.sessions) as s:
        _, stored = items.create_feedback(
            s,
            [FeedbackCreate(external_id=e, email=m, text=t, created_at=DAY) for e, m, t in sent],
            "test",
        )
        return {i.external_id: i.id for i in stored}


def test_demand_counts_people_and_accounts_once_and_sums_their_arr(workspace: Workspace) -> None:
    ids = add_customers(workspace)
    fb = _feedback(workspace)
    with transaction(workspace.sessions) as s:
        sso = requests.create_request(
            s,
            RequestCreate(
                title="SSO with Okta", from_item_id=fb["f1"], excerpt="SSO with Okta",
                importance="critical",
            ),
            "pm",
        )  # fmt: skip
        for key in ("f2", "f3", "f4"):
            requests.attach(s, sso.id, EvidenceCreate(item_id=fb[key]), "pm")
        requests.vote(s, sso.id, VoteCreate(person_id=ids["tom"]), "portal")
        requests.vote(s, sso.id, VoteCreate(person_id=ids["tom"]), "portal")  # counts once
        requests.vote(s, sso.id, VoteCreate(email="voter@acme.example"), "portal")
        d = requests.demand(s, [sso.id])[sso.id]
    assert len(d.people) == 4  # dana, tom, new@acme (created from feedback), voter@acme
    assert len(d.accounts) == 2
    assert d.arr == 244_000
    assert d.by_segment == {
        "Enterprise": {"accounts": 1, "arr": 240_000.0},
        "SMB": {"accounts": 1, "arr": 4_000.0},
    }
    assert d.by_plan["enterprise"]["arr"] == 240_000.0
    with workspace.sessions() as s:
        smb = requests.demand(s, [sso.id], segment="SMB")[sso.id]
        board = requests.list_requests(s, plan="enterprise")
        nobody = requests.list_requests(s, segment="Public sector")
    assert (len(smb.accounts), smb.arr, len(smb.people)) == (1, 4_000, 1)  # tom only
    assert [r.request.id for r in board] == [sso.id] and board[0].demand.arr == 240_000
    assert nobody == []  # no account there asked for anything
    with workspace.sessions() as s:
        trend = requests.demand_trend(s, sso.id, today=dt.date(2026, 10, 20))
    assert sum(w["new_askers"] for w in trend) == 3  # the voters voted after the window's end
    excerpt = "excerpt must be words of the feedback"
    with pytest.raises(InvalidInput, match=excerpt), transaction(workspace.sessions) as s:
        requests.attach(
            s, sso.id, EvidenceCreate(item_id=fb["f2"], excerpt="words nobody wrote"), "pm"
        )


def test_merging_two_requests_keeps_every_asker_once(workspace: Workspace) -> None:
    ids = add_customers(workspace)
    fb = _feedback(workspace)
    with transaction(workspace.sessions) as s:
        a = requests.create_request(s, RequestCreate(title="SSO", from_item_id=fb["f1"]), "pm")
        b = requests.create_request(s, RequestCreate(title="SAML", from_item_id=fb["f4"]), "pm")
        requests.attach(s, b.id, EvidenceCreate(item_id=fb["f1"]), "pm")  # in both
        requests.vote(s, a.id, VoteCreate(person_id=ids["tom"]), "portal")
        requests.vote(s, b.id, VoteCreate(person_id=ids["tom"]), "portal")  # in both
        requests.add_link(s, b.id, LinkCreate(target_kind="epic", target_id=7), "pm")
        requests.merge(s, b.id, a.id, "pm")
    with workspace.sessions() as s:
        d = requests.demand(s, [a.id])[a.id]
        assert (d.evidence, d.votes) == (2, 1)
        assert [(link.target_kind, link.target_id) for link in requests.links_of(s, a.id)] == [
            ("epic", 7)
        ]
        assert requests.get_request(s, b.id).merged_into_id == a.id
        board = [r.request.id for r in requests.list_requests(s)]
    assert board == [a.id]
    with pytest.raises(Conflict, match="already merged"), transaction(workspace.sessions) as s:
        requests.merge(s, b.id, a.id, "pm")


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    inbox = _Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def _configure(ws: Workspace, monkeypatch: pytest.MonkeyPatch, port: int, private: bool) -> None:
    changes = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,
        "smtp_from": "product@example.com",
    }
    monkeypatch.setattr(ws.settings, "feedback", section(ws).model_copy(update=changes))
    monkeypatch.setattr(ws.settings, "outbound_allow_private", private)


def test_shipping_tells_everyone_who_asked_once_by_email(
    workspace: Workspace, smtp: tuple[int, _Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    add_customers(workspace)
    fb = _feedback(workspace)
    _configure(workspace, monkeypatch, port, private=True)
    with transaction(workspace.sessions) as s:
        req = requests.create_request(
            s, RequestCreate(title="SSO\r\nBcc: everyone@evil.example", from_item_id=fb["f1"]), "pm"
        )
        for key in ("f2", "f3", "f4"):
            requests.attach(s, req.id, EvidenceCreate(item_id=fb[key]), "pm")
        requests.update_request(s, req.id, RequestUpdate(status="shipped"), "pm")
    with workspace.sessions() as s:
        queued = s.scalars(select(Job.kind).where(Job.status == "queued")).all()
    assert queued == ["feedback.notify"]
    assert run_pending(workspace) == 1
    told = sorted(rcpt for _, rcpts, _ in inbox.messages for rcpt in rcpts)
    assert told == ["dana@acme.example", "new@acme.example", "tom@tiny.example"]
    body = inbox.messages[0][2].decode()
    assert "Subject: Shipped: SSO Bcc: everyone@evil.example" in body  # one line, no header
    assert "\nBcc:" not in body
    # Nobody is told twice.
    again = notify.close_the_loop(workspace, req.id)
    assert (again.sent, again.already_told) == (0, 3)
    assert len(inbox.messages) == 3
    with workspace.sessions() as s:
        assert len(s.scalars(select(Notification)).all()) == 3


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_the_smtp_server_goes_through_the_outbound_guard(
    workspace: Workspace, smtp: tuple[int, _Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    port, inbox = smtp
    add_customers(workspace)
    fb = _feedback(workspace)
    _configure(workspace, monkeypatch, port, private=False)
    with transaction(workspace.sessions) as s:
        req = requests.create_request(s, RequestCreate(title="SSO", from_item_id=fb["f1"]), "pm")
        requests.update_request(s, req.id, RequestUpdate(status="shipped"), "pm", notify=False)
    with pytest.raises(BlockedURL):
        notify.close_the_loop(workspace, req.id)
    assert inbox.messages == []


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_without_smtp_the_list_of_whom_to_tell_is_exported(workspace: Workspace) -> None:
    add_customers(workspace)
    fb = _feedback(workspace)
    with transaction(workspace.sessions) as s:
        req = requests.create_request(s, RequestCreate(title="SSO", from_item_id=fb["f2"]), "pm")
        requests.update_request(s, req.id, RequestUpdate(status="shipped"), "pm", notify=False)
    with pytest.raises(InvalidInput, match="export the list"):
        notify.close_the_loop(workspace, req.id)
    with workspace.sessions() as s:
        columns, rows = requests.export_askers(s, req.id)
    csv_text = to_csv(columns, rows)
    assert "tom@tiny.example" in csv_text
    assert "'=HYPERLINK" not in csv_text  # the excerpt is empty; the feedback text is not exported
    with transaction(workspace.sessions) as s:
        assert notify.mark_told(s, req.id, "pm") == 1
    with transaction(workspace.sessions) as s:
        assert notify.mark_told(s, req.id, "pm") == 0


def test_the_message_quotes_the_askers_words_as_plain_text() -> None:
    msg: Message = notify.message(
        "Dark mode", "Dana <script>", "please <b>dark</b>", "d@x.example", "p@x.example", "Team"
    )
    assert msg.get_content_type() == "text/plain"
    assert 'You wrote: "please <b>dark</b>"' in msg.get_content()  # type: ignore[attr-defined]
