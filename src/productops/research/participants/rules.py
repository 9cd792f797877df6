"""The governance rules of contacting participants, Rally-style.

Statuses a person sets: free to contact, do not contact, blocklisted, opted out. In
cooldown is worked out: within `invite_cooldown_days` of an invitation, within
`participation_cooldown_days` of taking part, or at `max_invitations` within the rolling
`invitation_period_days`. Opted-out and blocklisted people can never be contacted; cooldown
and do-not-contact can be overridden only by someone with `research.override`, and each
override is audited.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from productops.core.workspace import Workspace
from productops.research.settings import section

NEVER = ("opted_out", "blocklisted")
STATUS_LABELS = {
    "free": "free to contact",
    "in_cooldown": "in cooldown",
    "do_not_contact": "do not contact",
    "blocklisted": "blocklisted",
    "opted_out": "opted out",
}


@dataclass(frozen=True)
class Rules:
    invite_cooldown: dt.timedelta = dt.timedelta(days=30)
    participation_cooldown: dt.timedelta = dt.timedelta(days=90)
    max_invitations: int = 3
    period: dt.timedelta = dt.timedelta(days=90)

    @classmethod
    def of(cls, ws: Workspace) -> Rules:
        s = section(ws)
        return cls(
            dt.timedelta(days=s.invite_cooldown_days),
            dt.timedelta(days=s.participation_cooldown_days),
            s.max_invitations,
            dt.timedelta(days=s.invitation_period_days),
        )


@dataclass(frozen=True)
class ContactState:
    """Whether a participant may be contacted now, and why not."""

    status: str  # free, in_cooldown, do_not_contact, blocklisted, opted_out
    reason: str
    until: dt.datetime | None = None

    @property
    def free(self) -> bool:
        return self.status == "free"

    @property
    def overridable(self) -> bool:
        return self.status in ("in_cooldown", "do_not_contact")

    @property
    def label(self) -> str:
        return STATUS_LABELS.get(self.status, self.status)


def _day(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d")


def contact_state(
    status: str,
    last_invited: dt.datetime | None,
    last_participated: dt.datetime | None,
    invitations_in_period: int,
    oldest_in_period: dt.datetime | None,
    now: dt.datetime,
    rules: Rules,
) -> ContactState:
    """The one place the rules are applied (lists, eligibility, invitations all ask here)."""
    if status == "opted_out":
        return ContactState("opted_out", "opted out: never contacted again")
    if status == "blocklisted":
        return ContactState("blocklisted", "blocklisted: never contacted")
    if status == "do_not_contact":
        return ContactState("do_not_contact", "marked do not contact")
    ends: list[tuple[dt.datetime, str]] = []
    if last_participated is not None and now < last_participated + rules.participation_cooldown:
        until = last_participated + rules.participation_cooldown
        ends.append((until, f"took part on {_day(last_participated)}"))
    if last_invited is not None and now < last_invited + rules.invite_cooldown:
        until = last_invited + rules.invite_cooldown
        ends.append((until, f"invited on {_day(last_invited)}"))
    if invitations_in_period >= rules.max_invitations and oldest_in_period is not None:
        until = oldest_in_period + rules.period
        days = rules.period.days
        ends.append((until, f"{invitations_in_period} invitations in {days} days"))
    if ends:
        until, why = max(ends)
        return ContactState("in_cooldown", f"in cooldown until {_day(until)} ({why})", until)
    return ContactState("free", "free to contact")
