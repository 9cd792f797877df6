"""The participant database and its governance rules: cooldowns, the rolling limit, who may
override what, re-consent when the text changes, contact details sealed at rest."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, text, update

from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import Conflict, InvalidInput, PermissionDenied
from productops.core.models import AuditEvent
from productops.core.workspace import Workspace
from productops.research.models import Participant
from productops.research.participants import service as participants
from productops.research.participants.rules import Rules
from productops.research.schemas import (
    ConsentRecord,
    ConsentTextCreate,
    ContactCreate,
    IncentiveCreate,
    StatusChange,
)
from tests.research.support import ZELDA_EMAIL, world


def _invite(
    ws: Workspace,
    pid: int,
    rules: Rules,
    *,
    override: bool = False,
    can: bool = False,
    at: dt.datetime | None = None,
) -> None:
    with transaction(ws.sessions) as s:
        participants.record_contact(
            s, pid, ContactCreate(kind="invited", at=at, override=override), "test", rules,
            can_override=can,
        )  # fmt: skip


def test_contact_details_are_encrypted_at_rest(workspace: Workspace) -> None:
    w = world(workspace)
    with workspace.sessions() as s:
        raw = s.execute(
            text("SELECT email_enc, phone_enc FROM research_participants WHERE id = :i"),
            {"i": w.zelda},
        ).one()
        assert ZELDA_EMAIL not in raw[0] and "7946" not in raw[1]
        row = participants.participant_row(s, w.zelda, w.rules, vault=w.vault)
        assert (row.email, row.phone) == (ZELDA_EMAIL, "+44 20 7946 0011")
        assert participants.participant_row(s, w.zelda, w.rules).email is None
        assert participants.find_by_email(s, w.vault, ZELDA_EMAIL.upper()).id == w.zelda  # type: ignore[union-attr]


def test_an_invitation_puts_a_participant_in_cooldown_and_overrides_need_the_permission(
    workspace: Workspace,
) -> None:
    w = world(workspace)
    rules = Rules(invite_cooldown=dt.timedelta(days=30))
    _invite(workspace, w.zelda, rules)
    with workspace.sessions() as s:
        state = participants.state_of(s, s.get(Participant, w.zelda), rules)  # type: ignore[arg-type]
        assert state.status == "in_cooldown" and "invited on" in state.reason
    with pytest.raises(Conflict, match="in cooldown"):
        _invite(workspace, w.zelda, rules)
    with pytest.raises(PermissionDenied, match=r"research\.override"):
        _invite(workspace, w.zelda, rules, override=True, can=False)
    _invite(workspace, w.zelda, rules, override=True, can=True)
    with workspace.sessions() as s:
        overrides = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "participant.override")
        ).all()
        assert [o.detail["overridden"] for o in overrides] == ["in_cooldown"]


def test_a_rolling_limit_of_invitations_per_period(workspace: Workspace) -> None:
    w = world(workspace)
    rules = Rules(
        invite_cooldown=dt.timedelta(days=1), max_invitations=2, period=dt.timedelta(days=90)
    )
    now = utcnow()
    _invite(workspace, w.zelda, rules, at=now - dt.timedelta(days=60))
    _invite(workspace, w.zelda, rules, at=now - dt.timedelta(days=20))
    with workspace.sessions() as s:
        state = participants.state_of(s, s.get(Participant, w.zelda), rules)  # type: ignore[arg-type]
    assert state.status == "in_cooldown" and "2 invitations in 90 days" in state.reason
    assert state.until is not None and state.until.date() == (now + dt.timedelta(days=30)).date()


def test_opted_out_and_blocklisted_can_never_be_overridden(workspace: Workspace) -> None:
    w = world(workspace)
    for status in ("opted_out", "blocklisted"):
        with transaction(workspace.sessions) as s:
            s.execute(update(Participant).where(Participant.id == w.other).values(status=status))
        with pytest.raises(PermissionDenied, match="never contacted"):
            _invite(workspace, w.other, w.rules, override=True, can=True)


def test_lifting_a_protection_needs_the_permission_and_a_reason(workspace: Workspace) -> None:
    w = world(workspace)
    with transaction(workspace.sessions) as s:
        participants.set_status(
            s, w.other, StatusChange(status="do_not_contact"), "test", can_override=False
        )
    with transaction(workspace.sessions) as s, pytest.raises(PermissionDenied):
        participants.set_status(
            s, w.other, StatusChange(status="free", reason="asked"), "test", can_override=False
        )
    with transaction(workspace.sessions) as s, pytest.raises(InvalidInput, match="say why"):
        participants.set_status(s, w.other, StatusChange(status="free"), "test", can_override=True)
    with transaction(workspace.sessions) as s:
        participants.set_status(
            s, w.other, StatusChange(status="free", reason="asked us"), "test", can_override=True
        )
        event = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "participant.status")
            .order_by(AuditEvent.id.desc())
        ).first()
        assert event is not None and event.detail["from"] == "do_not_contact"


def test_a_new_consent_text_means_consenting_again_before_taking_part(workspace: Workspace) -> None:
    w = world(workspace)
    with transaction(workspace.sessions) as s:
        participants.add_consent_text(s, ConsentTextCreate(title="Consent", body="v1"), "test")
        participants.record_consent(s, w.zelda, ConsentRecord(), "test")
        participants.record_contact(
            s, w.zelda, ContactCreate(kind="participated"), "test", w.rules, can_override=False
        )
        participants.add_consent_text(
            s, ConsentTextCreate(title="Consent", body="v2: recordings kept 1 year"), "test"
        )
        assert participants.consent_states(s, [w.zelda])[w.zelda] == ("outdated", 1)
    with (
        transaction(workspace.sessions) as s,
        pytest.raises(Conflict, match=r"must consent again.*version 1.*version 2"),
    ):
        participants.record_contact(
            s, w.zelda, ContactCreate(kind="participated"), "test", w.rules, can_override=False
        )
    with transaction(workspace.sessions) as s:
        participants.record_consent(s, w.zelda, ConsentRecord(), "test")
        participants.record_contact(
            s, w.zelda, ContactCreate(kind="participated"), "test", w.rules, can_override=False
        )
        participants.pay_incentive(s, w.zelda, IncentiveCreate(amount=50), "test")
        assert len(participants.incentives_of(s, w.zelda)) == 1
        participants.record_consent(s, w.zelda, ConsentRecord(withdraw=True), "test")
        assert participants.consent_states(s, [w.zelda])[w.zelda][0] == "withdrawn"


def test_import_from_csv_is_all_or_nothing_and_names_the_row(workspace: Workspace) -> None:
    w = world(workspace)
    good = (
        b"email,name,phone,segment,status\n"
        b"new.one@example.com,New One,+1 555 0100,SMB,\n"
        b"zelda.q@acme.example,,,Power users,opted_out\n"
    )
    with transaction(workspace.sessions) as s:
        result = participants.import_participants(s, w.vault, good, "test", name="p.csv")
    assert result == {"rows": 2, "created": 1, "updated": 1, "unchanged": 0}
    with transaction(workspace.sessions) as s:
        again = participants.import_participants(s, w.vault, good, "test", name="p.csv")
    assert again["created"] == 0 and again["unchanged"] == 2
    bad = b"email,name,phone\nok@example.com,Ok,\nnot-an-email,Bad,\n"
    with (
        transaction(workspace.sessions) as s,
        pytest.raises(InvalidInput, match=r"p\.csv: row 3, column 'email'"),
    ):
        participants.import_participants(s, w.vault, bad, "test", name="p.csv")
    with workspace.sessions() as s:
        assert participants.find_by_email(s, w.vault, "ok@example.com") is None
        # The new person's email is nowhere in plaintext.
        from productops.customers import Person

        assert s.scalar(select(Person).where(Person.email == "new.one@example.com")) is None
