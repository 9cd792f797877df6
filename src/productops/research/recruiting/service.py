"""Screeners, eligibility and invitations.

Eligibility is worked out for the whole participant database at once: one query for the
participants with their account, one for invitations in the rolling period, one for
consent, one for feature usage in the event store (through analytics' public API) and one
for who gave feedback (through the feedback hub's). Each participant gets every reason that
keeps them out, so a researcher sees why, not just a count.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from productops import analytics, feedback
from productops.core import audit
from productops.core.clock import aware_utc, naive_utc, utcnow
from productops.core.db import transaction
from productops.core.errors import InvalidInput, NotFound, OutboundError, PermissionDenied
from productops.core.workspace import Workspace
from productops.customers import Account, Person
from productops.research.models import Contact, Participant, Screener, Study
from productops.research.participants import service as participants
from productops.research.participants.rules import Rules
from productops.research.pseudonyms.vault import Vault
from productops.research.schemas import ContactCreate, ScreenerCreate
from productops.research.schemas import Screener as Criteria
from productops.research.settings import section

Progress = Callable[[int, int | None, str], object]


@dataclass(slots=True)
class Candidate:
    id: int
    pseudonym: str
    segment: str | None
    plan: str | None
    status: str  # the contact state: free, in_cooldown, …
    eligible: bool
    reasons: list[str]
    overridable: bool  # kept out only by cooldown or do-not-contact
    last_contacted_at: dt.datetime | None


@dataclass(frozen=True)
class Eligibility:
    candidates: list[Candidate]
    took_ms: float
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def eligible(self) -> list[Candidate]:
        return [c for c in self.candidates if c.eligible]


def _usage(ws: Workspace, c: Criteria, now: dt.datetime) -> set[str]:
    """External ids of people who did `used_event` at least `used_at_least` times within
    `used_within_days` (from the event store, through analytics)."""
    since = naive_utc(now - dt.timedelta(days=c.used_within_days))
    with analytics.event_source(ws) as con:
        events = con.table("events_resolved")
        recent = events.filter((events.event == c.used_event) & (events.ts >= since))
        counted = recent.group_by("person_id").aggregate(n=recent.count())
        frame = counted.filter(counted.n >= c.used_at_least).select("person_id").to_pyarrow()
    return set(frame.column("person_id").to_pylist())


def _rows(session: Session) -> list[Any]:
    """What eligibility reads of each participant (not their sealed contact details), with
    times as stored (`participants.stored`)."""
    segment = func.coalesce(Participant.segment, Account.segment)
    query = (
        select(
            Participant.id,
            Participant.person_id,
            Participant.pseudonym,
            segment,
            Account.plan,
            Participant.status,
            participants.stored(Participant.last_invited_at),
            participants.stored(Participant.last_participated_at),
            participants.stored(Participant.last_contacted_at),
            Participant.email_index.is_not(None),
            Person.external_id,
        )
        .join(Person, Person.id == Participant.person_id)
        .outerjoin(Account, Account.id == Person.account_id)
    )
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return list(conn.execute(query).all())  # plain rows: no ORM loading
    # SQLite keeps times as text, and SQLAlchemy's per-value processing of 100,000 rows costs
    # more than reading them: read the rows raw and parse the three times with the C parser.
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    parse = dt.datetime.fromisoformat
    return [
        (pid, person, alias, seg, plan, status, inv and parse(inv), took and parse(took),
         last and parse(last), has_email, external)
        for pid, person, alias, seg, plan, status, inv, took, last, has_email, external
        in conn.exec_driver_sql(sql)
    ]  # fmt: skip


def _said(cache: dict[str | None, str], what: str, value: str | None) -> str:
    found = cache.get(value)
    if found is None:
        found = cache[value] = f"{what} is {value or 'unknown'}"
    return found


def eligibility(
    ws: Workspace,
    session: Session,
    criteria: Criteria,
    rules: Rules,
    *,
    now: dt.datetime | None = None,
) -> Eligibility:
    """Every participant against the screener and the rules: eligible, or the reasons not."""
    started = time.perf_counter()
    now = now or utcnow()
    c = criteria
    rows = _rows(session)
    at_once = participants.RulesAtOnce(session, rules, now)
    consent = participants.consent_versions(session) if c.require_consent else None
    used = _usage(ws, c, now) if c.used_event else None
    gave: set[int] | None = None
    if c.gave_feedback_within_days or c.feedback_tag_id:
        since = (now - dt.timedelta(days=c.gave_feedback_within_days or 3650)).date()
        gave = set(
            feedback.authors(session, feedback.Filters(since=since, tag_id=c.feedback_tag_id))
        )
    excluded: set[int] = set()
    if c.exclude_study_id:
        excluded = set(
            session.scalars(
                select(Contact.participant_id)
                .where(Contact.study_id == c.exclude_study_id)
                .distinct()
            )
        )
    segments = {s.lower() for s in c.segments}
    plans = {p.lower() for p in c.plans}
    not_since = (
        at_once.as_stored(now - dt.timedelta(days=c.not_contacted_days))
        if c.not_contacted_days
        else None
    )
    used_reason = (
        f"did not use {c.used_event} {c.used_at_least}+ times in {c.used_within_days} days"
    )
    segment_said: dict[str | None, str] = {}  # each reason's words are made once
    plan_said: dict[str | None, str] = {}
    out: list[Candidate] = []
    n_eligible = n_screener = n_governance = 0
    for (
        pid, person_id, pseudonym, segment, plan, status, invited, took_part, last_contact,
        has_email, external_id,
    ) in rows:  # fmt: skip
        reasons: list[str] = []
        if segments and (segment or "").lower() not in segments:
            reasons.append(_said(segment_said, "segment", segment))
        if plans and (plan or "").lower() not in plans:
            reasons.append(_said(plan_said, "plan", plan))
        if used is not None and external_id not in used:
            reasons.append(used_reason)
        if gave is not None and person_id not in gave:
            reasons.append("gave no matching feedback")
        if not_since is not None and last_contact is not None and last_contact >= not_since:
            reasons.append(f"contacted on {last_contact:%Y-%m-%d}")
        if pid in excluded:
            reasons.append("already in the excluded study")
        if consent is not None:
            state_ = consent.state(pid)
            if state_ != "current":
                reasons.append(f"consent {state_}")
        screened_out = bool(reasons)
        state, _ = at_once.state(pid, status, invited, took_part)
        if not state.free:
            reasons.append(state.reason)
        if not has_email:
            reasons.append("no email address")
        eligible = not reasons
        n_eligible += eligible
        n_screener += screened_out
        n_governance += (not screened_out) and not state.free
        out.append(
            Candidate(
                pid,
                pseudonym,
                segment,
                plan,
                state.status,
                eligible,
                reasons,
                (not screened_out) and state.overridable and bool(has_email),
                aware_utc(last_contact) if last_contact else None,
            )
        )
    out.sort(key=lambda x: (not x.eligible, not x.overridable, x.pseudonym))
    counts = {
        "participants": len(rows),
        "eligible": n_eligible,
        "governance": n_governance,
        "screener": n_screener,
    }
    return Eligibility(out, (time.perf_counter() - started) * 1000, counts)


# --- saved screeners -----------------------------------------------------------------------


def save_screener(session: Session, data: ScreenerCreate, actor: str) -> Screener:
    if data.study_id is not None and session.get(Study, data.study_id) is None:
        raise NotFound(f"no study {data.study_id}")
    row = Screener(
        name=data.name.strip(),
        study_id=data.study_id,
        criteria=data.criteria.model_dump(mode="json"),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor, "screener.create", "screener", row.id, {"name": row.name})
    return row


def screeners(session: Session, study_id: int | None = None) -> list[Screener]:
    query = select(Screener).order_by(Screener.created_at.desc())
    if study_id is not None:
        query = query.where(Screener.study_id == study_id)
    return list(session.scalars(query))


def get_screener(session: Session, screener_id: int) -> Screener:
    row = session.get(Screener, screener_id)
    if row is None:
        raise NotFound(f"no screener {screener_id}")
    return row


# --- invitations ---------------------------------------------------------------------------


@dataclass
class InvitationResult:
    invited: list[int] = field(default_factory=list)
    overridden: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)
    emailed: int = 0
    export: tuple[list[str], list[list[Any]]] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "invited": len(self.invited),
            "overridden": len(self.overridden),
            "emailed": self.emailed,
            "skipped": {str(k): v for k, v in self.skipped.items()},
        }


def _admissible(
    session: Session,
    study_id: int,
    participant_ids: list[int],
    rules: Rules,
    *,
    override: bool,
    can_override: bool,
) -> tuple[list[tuple[Participant, str | None]], dict[int, str]]:
    if session.get(Study, study_id) is None:
        raise NotFound(f"no study {study_id}")
    if override and not can_override:
        raise PermissionDenied("overriding cooldown or do-not-contact needs research.override")
    found = {
        p.id: p
        for p in session.scalars(select(Participant).where(Participant.id.in_(participant_ids)))
    }
    ok: list[tuple[Participant, str | None]] = []
    skipped: dict[int, str] = {}
    now = utcnow()
    for pid in dict.fromkeys(participant_ids):
        p = found.get(pid)
        if p is None:
            skipped[pid] = "no such participant"
            continue
        if not p.email_index:
            skipped[pid] = "no email address"
            continue
        state = participants.state_of(session, p, rules, now)
        if state.free:
            ok.append((p, None))
        elif state.overridable and override:
            ok.append((p, state.status))
        else:
            skipped[pid] = state.reason
    return ok, skipped


def invite(
    ws: Workspace,
    study_id: int,
    participant_ids: list[int],
    actor: str,
    *,
    rules: Rules,
    vault: Vault,
    can_override: bool,
    override: bool = False,
    send_email: bool = False,
    subject: str = "",
    message: str = "",
    progress: Progress | None = None,
) -> InvitationResult:
    """Invite participants to a study through the rules: opted-out and blocklisted people
    never; cooldown and do-not-contact only with `override` by someone allowed (each override
    audited). By email (through the feedback hub's SMTP connection, vetted by the outbound
    guard), each invitation recorded as it is sent; or recorded and returned as a list to
    send by hand (`export`)."""
    with ws.sessions() as s:
        admissible, skipped = _admissible(
            s, study_id, participant_ids, rules, override=override, can_override=can_override
        )
        study_title = s.get(Study, study_id).title  # type: ignore[union-attr]
        targets = [(p.id, p.pseudonym, vault.open(p.email_enc), why) for p, why in admissible]
    result = InvitationResult(skipped=skipped)
    channel = "email" if send_email else "export"
    if send_email and targets:
        sender = section(ws).invitation_from or feedback.smtp_sender(ws)
        if not sender:
            raise InvalidInput(
                "set [research] invitation_from (or [feedback] smtp_from) to send email"
            )
        smtp = feedback.open_smtp(ws)
        try:
            for i, (pid, _pseudonym, email, why) in enumerate(targets):
                msg = invitation_message(
                    study_title, email or "", sender, subject, message, ws.settings.name
                )
                try:
                    smtp.send_message(msg)
                except smtplib.SMTPRecipientsRefused:
                    result.skipped[pid] = "the SMTP server refused the address"
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    raise OutboundError(f"sending to the SMTP server failed: {exc}") from None
                _record(ws, pid, study_id, actor, rules, why, channel, can_override)
                result.invited.append(pid)
                result.emailed += 1
                if why:
                    result.overridden.append(pid)
                if progress:
                    progress(i + 1, len(targets), "sending invitations")
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    else:
        for pid, _pseudonym, _email, why in targets:
            _record(ws, pid, study_id, actor, rules, why, channel, can_override)
            result.invited.append(pid)
            if why:
                result.overridden.append(pid)
        result.export = (
            ["participant", "email", "study", "overridden"],
            [[ps, em, study_title, why or ""] for _, ps, em, why in targets],
        )
    with transaction(ws.sessions) as s:
        audit.record(
            s, actor, "research.invite", "study", study_id,
            {"invited": len(result.invited), "overridden": len(result.overridden),
             "skipped": len(result.skipped), "channel": channel},
        )  # fmt: skip
    return result


def _record(
    ws: Workspace,
    participant_id: int,
    study_id: int,
    actor: str,
    rules: Rules,
    why: str | None,
    channel: str,
    can_override: bool,
) -> None:
    with transaction(ws.sessions) as s:
        participants.record_contact(
            s,
            participant_id,
            ContactCreate(kind="invited", study_id=study_id, override=why is not None),
            actor,
            rules,
            can_override=can_override,
            channel=channel,
        )


def _line(text: str) -> str:
    return " ".join(text.split())[:200]


def invitation_message(
    study: str, to: str, sender: str, subject: str, message: str, team: str
) -> EmailMessage:
    """The invitation email: plain text, the study's title and the researcher's words."""
    msg = EmailMessage()
    msg["Subject"] = _line(subject) or f"Would you take part in our research: {_line(study)}?"
    msg["From"] = sender
    msg["To"] = to
    msg["Message-ID"] = make_msgid(domain="productops.local")
    body = message.strip() or (
        f'We are running a study, "{_line(study)}", and would value your view.\n'
        "If you would like to take part, reply to this email and we will find a time."
    )
    msg.set_content(
        f"Hello,\n\n{body}\n\nYou can say no, or ask us never to contact you again, by "
        f"replying to this email.\n\n— {_line(team)}\n"
    )
    return msg
