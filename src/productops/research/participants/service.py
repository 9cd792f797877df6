"""Participants: adding them (from a customers person, a CSV file or the people who gave
feedback), their contact details (sealed in the vault), status, consent, contact history and
incentives, and the lists every page and export read.

Contact details never appear in plaintext outside the vault: a participant added with an
email that the customers record does not hold keeps it only encrypted here. No name, email
or phone goes into the audit log.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Select, func, or_, select, true, type_coerce
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from productops import customers, feedback
from productops.core import audit
from productops.core.clock import aware_utc, naive_utc, utcnow
from productops.core.csvfile import CsvError, read_csv
from productops.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from productops.research.models import (
    CONTACT_STATUSES,
    Consent,
    ConsentText,
    Contact,
    Incentive,
    Participant,
    ResearchSession,
    Study,
)
from productops.research.participants.rules import ContactState, Rules, contact_state
from productops.research.pseudonyms.vault import Vault, new_pseudonym, normal_email
from productops.research.schemas import (
    ConsentRecord,
    ConsentTextCreate,
    ContactCreate,
    IncentiveCreate,
    ParticipantCreate,
    ParticipantUpdate,
    StatusChange,
)

Person = customers.Person
Account = customers.Account


# --- adding participants -------------------------------------------------------------------


def get_participant(session: Session, participant_id: int) -> Participant:
    p = session.get(Participant, participant_id)
    if p is None:
        raise NotFound(f"no participant {participant_id}")
    return p


def participant_of_person(session: Session, person_id: int) -> Participant | None:
    return session.scalar(select(Participant).where(Participant.person_id == person_id))


def _new_row(session: Session, person_id: int, actor: str, source: str) -> Participant:
    for _ in range(20):
        pseudonym = new_pseudonym()
        if session.scalar(select(Participant.id).where(Participant.pseudonym == pseudonym)) is None:
            break
    p = Participant(person_id=person_id, pseudonym=pseudonym, created_by=actor, source=source)
    session.add(p)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"person {person_id} is already a participant") from None
    return p


def find_by_email(session: Session, vault: Vault, email: str) -> Participant | None:
    index = vault.email_index(email)
    return session.scalar(select(Participant).where(Participant.email_index == index))


def create_participant(
    session: Session, vault: Vault, data: ParticipantCreate, actor: str, *, source: str = "manual"
) -> Participant:
    """Add a participant: an existing customers person, or a new person made from the name
    given (their email is kept only in the vault)."""
    email = normal_email(data.email)
    if email and find_by_email(session, vault, email) is not None:
        raise Conflict("a participant with that email address exists")
    if data.person_id is not None:
        person = customers.get_person(session, data.person_id)
        if participant_of_person(session, person.id) is not None:
            raise Conflict(f"person {person.id} is already a participant")
    else:
        person = customers.create_person(
            session,
            customers.PersonCreate(
                external_id=f"research:{secrets.token_hex(8)}",
                account_external_id=data.account_external_id,
                name=(data.name or "").strip() or None,
                traits={"source": "research"},
            ),
            actor,
        )
    p = _new_row(session, person.id, actor, source)
    p.email_enc = vault.seal(email or person.email)
    p.email_index = vault.email_index(email or person.email)
    p.phone_enc = vault.seal(data.phone)
    p.segment = (data.segment or "").strip() or None
    session.flush()
    audit.record(session, actor, "participant.create", "participant", p.id, {"source": source})
    return p


def update_participant(
    session: Session, vault: Vault, participant_id: int, data: ParticipantUpdate, actor: str
) -> Participant:
    p = get_participant(session, participant_id)
    fields = data.model_dump(exclude_unset=True)
    changed = []
    if "email" in fields:
        email = normal_email(fields["email"])
        other = find_by_email(session, vault, email) if email else None
        if other is not None and other.id != p.id:
            raise Conflict("another participant has that email address")
        p.email_enc, p.email_index = vault.seal(email), vault.email_index(email)
        changed.append("email")
    if "phone" in fields:
        p.phone_enc = vault.seal(fields["phone"])
        changed.append("phone")
    if "segment" in fields:
        p.segment = (fields["segment"] or "").strip() or None
        changed.append("segment")
    if changed:
        session.flush()
        audit.record(
            session, actor, "participant.update", "participant", p.id, {"changed": changed}
        )
    return p


def set_status(
    session: Session,
    participant_id: int,
    data: StatusChange,
    actor: str,
    *,
    can_override: bool,
) -> Participant:
    """Set a participant's contact status. Anyone who recruits may protect someone (opted
    out, blocklisted, do not contact); lifting a status back to free needs
    `research.override` and a reason (opting back in, an unblocking)."""
    p = get_participant(session, participant_id)
    if data.status not in CONTACT_STATUSES:
        raise InvalidInput(f"status '{data.status}' is not one of {', '.join(CONTACT_STATUSES)}")
    if p.status == data.status:
        return p
    lifting = data.status == "free" or (
        p.status in ("opted_out", "blocklisted") and data.status == "do_not_contact"
    )
    if lifting:
        if not can_override:
            raise PermissionDenied(f"lifting '{p.status}' needs the research.override permission")
        if not data.reason.strip():
            raise InvalidInput(f"say why '{p.status}' is lifted")
    old = p.status
    p.status = data.status
    p.status_reason = data.reason.strip() or None
    p.status_changed_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor,
        "participant.status",
        "participant",
        p.id,
        {"from": old, "to": p.status, "reason": p.status_reason or ""},
    )
    return p


# --- consent -------------------------------------------------------------------------------


def current_consent_text(session: Session) -> ConsentText | None:
    return session.scalar(select(ConsentText).order_by(ConsentText.version.desc()).limit(1))


def consent_texts(session: Session) -> list[ConsentText]:
    return list(session.scalars(select(ConsentText).order_by(ConsentText.version.desc())))


def add_consent_text(session: Session, data: ConsentTextCreate, actor: str) -> ConsentText:
    """A new version of the consent text: from now on everyone who agreed to an older one
    must consent again before taking part."""
    latest = current_consent_text(session)
    text = ConsentText(
        version=(latest.version + 1) if latest else 1,
        title=data.title.strip(),
        body=data.body,
        created_by=actor,
    )
    session.add(text)
    session.flush()
    audit.record(
        session, actor, "consent_text.create", "consent_text", text.id, {"version": text.version}
    )
    return text


def record_consent(
    session: Session, participant_id: int, data: ConsentRecord, actor: str
) -> Consent | None:
    """Record that a participant agreed to a version of the consent text (the current one by
    default), or withdrew their consent."""
    p = get_participant(session, participant_id)
    if data.withdraw:
        withdrawn = 0
        for c in session.scalars(
            select(Consent).where(Consent.participant_id == p.id, Consent.withdrawn_at.is_(None))
        ):
            c.withdrawn_at = utcnow()
            withdrawn += 1
        session.flush()
        audit.record(
            session, actor, "consent.withdraw", "participant", p.id, {"withdrawn": withdrawn}
        )
        return None
    if data.version is None:
        text = current_consent_text(session)
        if text is None:
            raise InvalidInput("there is no consent text yet: add one first")
    else:
        text = session.scalar(select(ConsentText).where(ConsentText.version == data.version))
        if text is None:
            raise NotFound(f"no consent text version {data.version}")
    consent = Consent(
        participant_id=p.id,
        text_id=text.id,
        version=text.version,
        method=data.method,
        recorded_by=actor,
    )
    session.add(consent)
    session.flush()
    audit.record(session, actor, "consent.give", "participant", p.id, {"version": text.version})
    return consent


@dataclass(frozen=True)
class ConsentVersions:
    """Who agreed to which version of the consent text, read once for many participants."""

    current: int | None  # the current text's version (None: there is no text yet)
    given: dict[int, int]  # participant id → newest version agreed to and not withdrawn
    withdrawn: set[int]

    def state(self, participant_id: int) -> str:
        """current, outdated (re-consent needed), withdrawn or none."""
        version = self.given.get(participant_id)
        if version is not None:
            return "current" if self.current is None or version >= self.current else "outdated"
        return "withdrawn" if participant_id in self.withdrawn else "none"


def consent_versions(
    session: Session, participant_ids: Sequence[int] | None = None
) -> ConsentVersions:
    current = current_consent_text(session)
    query = select(Consent.participant_id, func.max(Consent.version)).where(
        Consent.withdrawn_at.is_(None)
    )
    if participant_ids is not None:
        query = query.where(Consent.participant_id.in_(list(participant_ids)))
    rows = session.connection().execute(query.group_by(Consent.participant_id)).all()
    given: dict[int, int] = dict(rows)
    wq = select(Consent.participant_id).where(Consent.withdrawn_at.is_not(None))
    if participant_ids is not None:
        wq = wq.where(Consent.participant_id.in_(list(participant_ids)))
    withdrawn = set(session.scalars(wq.distinct()))
    return ConsentVersions(current.version if current else None, given, withdrawn)


def consent_states(
    session: Session, participant_ids: Sequence[int] | None = None
) -> dict[int, tuple[str, int | None]]:
    """participant id → (current | outdated | withdrawn | none, version agreed to)."""
    found = consent_versions(session, participant_ids)
    ids = participant_ids if participant_ids is not None else list({*found.given, *found.withdrawn})
    return {pid: (found.state(pid), found.given.get(pid)) for pid in ids}


def consents_of(session: Session, participant_id: int) -> list[Consent]:
    return list(
        session.scalars(
            select(Consent)
            .where(Consent.participant_id == participant_id)
            .order_by(Consent.given_at.desc())
        )
    )


# --- contact history and the rules ---------------------------------------------------------


def _period_counts(
    session: Session, since: dt.datetime, participant_ids: Sequence[int] | None = None
) -> dict[int, tuple[int, dt.datetime]]:
    query = select(Contact.participant_id, func.count(), func.min(Contact.at)).where(
        Contact.kind == "invited", Contact.at >= since
    )
    if participant_ids is not None:
        query = query.where(Contact.participant_id.in_(list(participant_ids)))
    return {
        int(pid): (int(n), aware_utc(first))
        for pid, n, first in session.execute(query.group_by(Contact.participant_id))
    }


def state_of(
    session: Session, p: Participant, rules: Rules, now: dt.datetime | None = None
) -> ContactState:
    now = now or utcnow()
    n, first = _period_counts(session, now - rules.period, [p.id]).get(p.id, (0, None))
    return contact_state(p.status, p.last_invited_at, p.last_participated_at, n, first, now, rules)


# Times read as the database stores them (naive UTC on SQLite, aware on PostgreSQL), for
# reading many participants without converting each: see `RulesAtOnce`.
STORED_TIME = DateTime()


def stored(column: Any) -> Any:
    """A time column read without its per-value conversion."""
    return type_coerce(column, STORED_TIME)


_FREE = ContactState("free", "free to contact")


class RulesAtOnce:
    """The governance rules applied to many participants (lists, eligibility): the
    invitations of the rolling period are read once, and whoever is free with no invitation
    or session recent enough is free at once; the rules (`contact_state`) are asked only
    about the others. Times are those of `stored` columns."""

    def __init__(self, session: Session, rules: Rules, now: dt.datetime) -> None:
        self.rules, self.now = rules, now
        self.period = _period_counts(session, now - rules.period)
        naive = session.get_bind().dialect.name == "sqlite"
        self.as_stored = naive_utc if naive else aware_utc
        self.invited_since = self.as_stored(now - rules.invite_cooldown)
        self.took_part_since = self.as_stored(now - rules.participation_cooldown)

    def state(
        self, pid: int, status: str, invited: dt.datetime | None, took_part: dt.datetime | None
    ) -> tuple[ContactState, int]:
        """The participant's contact state and their invitations in the period."""
        n, first = self.period.get(pid, (0, None))
        if (
            status == "free"
            and n < self.rules.max_invitations
            and (invited is None or invited <= self.invited_since)
            and (took_part is None or took_part <= self.took_part_since)
        ):
            return _FREE, n
        state = contact_state(
            status,
            aware_utc(invited) if invited else None,
            aware_utc(took_part) if took_part else None,
            n,
            first,
            self.now,
            self.rules,
        )
        return state, n


def record_contact(
    session: Session,
    participant_id: int,
    data: ContactCreate,
    actor: str,
    rules: Rules,
    *,
    can_override: bool,
    channel: str = "manual",
) -> Contact:
    """Add to a participant's contact history. An invitation obeys the rules (an override of
    cooldown or do-not-contact needs `research.override` and is audited); opted-out and
    blocklisted people cannot be invited, scheduled or recorded as taking part again. Taking
    part, or being scheduled, needs consent to the current text when there is one."""
    p = get_participant(session, participant_id)
    now = utcnow()
    at = aware_utc(data.at) if data.at else now
    if data.study_id is not None and session.get(Study, data.study_id) is None:
        raise NotFound(f"no study {data.study_id}")
    overridden = None
    if data.kind in ("invited", "scheduled"):
        state = state_of(session, p, rules, now)
        if state.status in ("opted_out", "blocklisted"):
            raise PermissionDenied(f"{p.pseudonym} is {state.label}: never contacted")
        if data.kind == "invited" and not state.free:
            if not data.override:
                raise Conflict(f"{p.pseudonym} is {state.reason}")
            if not can_override:
                raise PermissionDenied(
                    f"{p.pseudonym} is {state.reason}: overriding needs research.override"
                )
            overridden = state.status
    if data.kind in ("scheduled", "participated"):
        if p.status in ("opted_out", "blocklisted") and data.kind == "scheduled":
            raise PermissionDenied(f"{p.pseudonym} is {p.status.replace('_', ' ')}")
        text = current_consent_text(session)
        if text is not None:
            state_, version = consent_states(session, [p.id])[p.id]
            if state_ != "current":
                agreed = f"they agreed to version {version}" if version else "they have not agreed"
                raise Conflict(
                    f"{p.pseudonym} must consent again before taking part: {agreed}, the "
                    f"current text is version {text.version}"
                )
    contact = Contact(
        participant_id=p.id,
        study_id=data.study_id,
        kind=data.kind,
        at=at,
        channel=channel,
        overridden=overridden,
        created_by=actor,
    )
    session.add(contact)
    if data.kind == "invited":
        p.last_invited_at = max(filter(None, [p.last_invited_at, at]))
    if data.kind == "participated":
        p.last_participated_at = max(filter(None, [p.last_participated_at, at]))
    p.last_contacted_at = max(filter(None, [p.last_contacted_at, at]))
    session.flush()
    audit.record(
        session,
        actor,
        "participant.override" if overridden else "participant.contact",
        "participant",
        p.id,
        {"kind": data.kind, "study": data.study_id, "overridden": overridden},
    )
    return contact


def contacts_of(session: Session, participant_id: int) -> list[Contact]:
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.participant_id == participant_id)
            .order_by(Contact.at.desc())
        )
    )


def pay_incentive(
    session: Session, participant_id: int, data: IncentiveCreate, actor: str
) -> Incentive:
    p = get_participant(session, participant_id)
    if data.study_id is not None and session.get(Study, data.study_id) is None:
        raise NotFound(f"no study {data.study_id}")
    row = Incentive(
        participant_id=p.id,
        study_id=data.study_id,
        amount=data.amount,
        currency=data.currency,
        kind=data.kind,
        paid_at=aware_utc(data.paid_at) if data.paid_at else utcnow(),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        "participant.incentive",
        "participant",
        p.id,
        {"amount": data.amount, "currency": data.currency},
    )
    return row


def incentives_of(session: Session, participant_id: int) -> list[Incentive]:
    return list(
        session.scalars(
            select(Incentive)
            .where(Incentive.participant_id == participant_id)
            .order_by(Incentive.paid_at.desc())
        )
    )


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParticipantRow:
    """A participant as lists show them; `name`, `email`, `phone` and `account` are filled
    only when asked for (callers with people.pii)."""

    id: int
    person_id: int
    pseudonym: str
    segment: str | None
    plan: str | None
    state: ContactState
    consent: str
    consent_version: int | None
    last_contacted_at: dt.datetime | None
    sessions: int
    invitations_in_period: int
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    account: str | None = None


LIST_STATUSES = ("free", "in_cooldown", "do_not_contact", "blocklisted", "opted_out")


def base_query() -> Select[Any]:
    """Participants with their person and account: the columns lists and eligibility read."""
    segment = func.coalesce(Participant.segment, Account.segment)
    query: Any = (
        select(
            Participant.id,
            Participant.person_id,
            Participant.pseudonym,
            segment.label("segment"),
            Account.plan,
            Participant.status,
            Participant.last_invited_at,
            Participant.last_participated_at,
            Participant.last_contacted_at,
            Participant.email_index.is_not(None).label("has_email"),
            Person.external_id,
            Person.name,
            Account.name.label("account"),
            Participant.email_enc,
            Participant.phone_enc,
        )
        .join(Person, Person.id == Participant.person_id)
        .outerjoin(Account, Account.id == Person.account_id)
    )
    return query  # type: ignore[no-any-return]


def list_participants(
    session: Session,
    rules: Rules,
    *,
    q: str | None = None,
    status: str | None = None,
    segment: str | None = None,
    plan: str | None = None,
    consent: str | None = None,
    study_id: int | None = None,
    vault: Vault | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> tuple[list[ParticipantRow], int]:
    """Participants matching the filters, with their contact state. `q` finds a pseudonym;
    with `vault` (a caller with people.pii) also names and email addresses. The database
    pages the list unless the filter is a worked-out state (free, in cooldown, consent)."""
    now = utcnow()
    conditions: list[Any] = []
    if q and q.strip():
        words = q.strip()
        found = [Participant.pseudonym == words.upper()]
        if vault is not None:
            found.append(Person.name.ilike(f"%{words}%", escape="\\"))
            if "@" in words:
                found.append(Participant.email_index == vault.email_index(words))
        conditions.append(or_(*found))
    if segment:
        conditions.append(func.coalesce(Participant.segment, Account.segment) == segment)
    if plan:
        conditions.append(Account.plan == plan)
    if study_id is not None:
        conditions.append(
            Participant.id.in_(select(Contact.participant_id).where(Contact.study_id == study_id))
        )
    if status in ("opted_out", "blocklisted", "do_not_contact"):
        conditions.append(Participant.status == status)
    elif status in ("free", "in_cooldown"):
        conditions.append(Participant.status == "free")
    elif status:
        raise InvalidInput(f"status '{status}' is not one of {', '.join(LIST_STATUSES)}")
    order = (Participant.last_contacted_at.desc().nulls_last(), Participant.id)
    matching = (
        select(
            Participant.id,
            Participant.status,
            stored(Participant.last_invited_at),
            stored(Participant.last_participated_at),
        )
        .join(Person, Person.id == Participant.person_id)
        .outerjoin(Account, Account.id == Person.account_id)
        .where(*conditions)
        .order_by(*order)
    )
    at_once = RulesAtOnce(session, rules, now)
    if status in ("free", "in_cooldown") or consent:
        # A worked-out state decides: every match is read (its few columns) and judged.
        versions = consent_versions(session) if consent else None
        kept = []
        for pid, p_status, invited, took_part in session.connection().execute(matching):
            if status in ("free", "in_cooldown"):
                state, _ = at_once.state(pid, p_status, invited, took_part)
                if state.status != status:
                    continue
            if versions is not None and versions.state(pid) != consent:
                continue
            kept.append(pid)
        total = len(kept)
        page_ids = kept[offset : offset + limit] if limit is not None else kept[offset:]
    else:
        total = int(
            session.scalar(select(func.count()).select_from(matching.order_by(None).subquery()))
            or 0
        )
        paged = matching.offset(offset)
        if limit is not None:
            paged = paged.limit(limit)
        page_ids = [r[0] for r in session.connection().execute(paged)]
    if not page_ids:
        return [], total
    by_id = {r.id: r for r in session.execute(base_query().where(Participant.id.in_(page_ids)))}
    consent_of = consent_states(session, page_ids)
    sessions = dict(
        session.execute(
            select(ResearchSession.participant_id, func.count())
            .where(ResearchSession.participant_id.in_(page_ids))
            .group_by(ResearchSession.participant_id)
        ).all()
    )
    out = []
    for pid in page_ids:
        r = by_id[pid]
        state, n = at_once.state(
            pid,
            r.status,
            at_once.as_stored(r.last_invited_at) if r.last_invited_at else None,
            at_once.as_stored(r.last_participated_at) if r.last_participated_at else None,
        )
        c_state, c_version = consent_of.get(pid, ("none", None))
        out.append(
            ParticipantRow(
                id=r.id,
                person_id=r.person_id,
                pseudonym=r.pseudonym,
                segment=r.segment,
                plan=r.plan,
                state=state,
                consent=c_state,
                consent_version=c_version,
                last_contacted_at=r.last_contacted_at,
                sessions=int(sessions.get(pid, 0)),
                invitations_in_period=n,
                name=r.name if vault is not None else None,
                email=vault.open(r.email_enc) if vault is not None else None,
                phone=vault.open(r.phone_enc) if vault is not None else None,
                account=r.account if vault is not None else None,
            )
        )
    return out, total


def participant_row(
    session: Session, participant_id: int, rules: Rules, vault: Vault | None = None
) -> ParticipantRow:
    get_participant(session, participant_id)
    query = base_query().where(Participant.id == participant_id)
    r = session.execute(query).one()
    now = utcnow()
    n, first = _period_counts(session, now - rules.period, [participant_id]).get(
        participant_id, (0, None)
    )
    state = contact_state(
        r.status,
        aware_utc(r.last_invited_at) if r.last_invited_at else None,
        aware_utc(r.last_participated_at) if r.last_participated_at else None,
        n,
        first,
        now,
        rules,
    )
    c_state, c_version = consent_states(session, [participant_id]).get(
        participant_id, ("none", None)
    )
    sessions = session.scalar(
        select(func.count(ResearchSession.id)).where(
            ResearchSession.participant_id == participant_id
        )
    )
    return ParticipantRow(
        id=r.id,
        person_id=r.person_id,
        pseudonym=r.pseudonym,
        segment=r.segment,
        plan=r.plan,
        state=state,
        consent=c_state,
        consent_version=c_version,
        last_contacted_at=r.last_contacted_at,
        sessions=int(sessions or 0),
        invitations_in_period=n,
        name=r.name if vault is not None else None,
        email=vault.open(r.email_enc) if vault is not None else None,
        phone=vault.open(r.phone_enc) if vault is not None else None,
        account=r.account if vault is not None else None,
    )


def segments_in_use(session: Session) -> list[str]:
    values = set(
        session.scalars(
            select(Participant.segment).where(Participant.segment.is_not(None)).distinct()
        )
    )
    values |= set(customers.distinct_values(session, "segment"))
    return sorted(v for v in values if v)


def count_by_state(session: Session, rules: Rules) -> dict[str, int]:
    rows, _ = list_participants(session, rules, limit=None)
    out = dict.fromkeys(LIST_STATUSES, 0)
    for r in rows:
        out[r.state.status] = out.get(r.state.status, 0) + 1
    return out


# --- imports -------------------------------------------------------------------------------

IMPORT_COLUMNS = (
    "email",
    "name",
    "phone",
    "segment",
    "account_external_id",
    "external_id",
    "status",
)


def import_participants(
    session: Session, vault: Vault, source: Path | bytes, actor: str, name: str | None = None
) -> dict[str, int]:
    """Add or update participants from a CSV (columns email, name, phone, segment,
    account_external_id, external_id — a customers person's id — and status: free,
    do_not_contact, blocklisted or opted_out). A row is matched by email, else by external
    id. All or nothing: a bad row stops the import with its row and column named; importing
    the same file again changes nothing."""
    file = name or (source.name if isinstance(source, Path) else "participants.csv")
    parsed: list[tuple[int, dict[str, Any]]] = []
    seen: set[str] = set()
    for row in read_csv(source, name=file):
        email: str | None = row.get("email").strip() or None
        external = row.get("external_id").strip() or None
        if not email and not external:
            raise CsvError(file, "needs an email or an external_id", row=row.number, column="email")
        if email:
            given = email
            try:
                email = customers.PersonCreate(external_id="x", email=given).email
            except ValueError:
                raise CsvError(
                    file, f"'{given[:60]}' is not an email address", row=row.number, column="email"
                ) from None
        key = (email or "").lower() or f"id:{external}"
        if key in seen:
            raise CsvError(file, "the same participant is in an earlier row", row=row.number)
        seen.add(key)
        phone = row.get("phone").strip() or None
        if phone and (len(phone) > 40 or any(c not in "0123456789+() .-" for c in phone)):
            raise CsvError(
                file, f"'{phone[:40]}' is not a phone number", row=row.number, column="phone"
            )
        status = row.get("status").strip().lower().replace(" ", "_") or None
        if status and status not in CONTACT_STATUSES:
            raise CsvError(
                file,
                f"'{status}' is not one of {', '.join(CONTACT_STATUSES)}",
                row=row.number,
                column="status",
            )
        segment = row.get("segment").strip() or None
        if segment and len(segment) > 50:
            raise CsvError(
                file, "a segment is at most 50 characters", row=row.number, column="segment"
            )
        person_name = row.get("name").strip() or None
        if person_name and len(person_name) > 300:
            raise CsvError(file, "a name is at most 300 characters", row=row.number, column="name")
        account = row.get("account_external_id").strip() or None
        parsed.append(
            (row.number, {"email": email, "external_id": external, "phone": phone, "status": status,
                          "segment": segment, "name": person_name, "account": account})
        )  # fmt: skip
    accounts = {
        a.external_id: a.id
        for a in session.scalars(
            select(Account).where(
                Account.external_id.in_({f["account"] for _, f in parsed if f["account"]})
            )
        )
    }
    created = updated = unchanged = 0
    for number, f in parsed:
        if f["account"] and f["account"] not in accounts:
            raise CsvError(
                file, f"no account '{f['account']}'", row=number, column="account_external_id"
            )
        p = find_by_email(session, vault, f["email"]) if f["email"] else None
        person = None
        if f["external_id"]:
            person = session.scalar(select(Person).where(Person.external_id == f["external_id"]))
            if person is None:
                raise CsvError(
                    file, f"no person '{f['external_id']}'", row=number, column="external_id"
                )
            if p is None:
                p = participant_of_person(session, person.id)
            elif p.person_id != person.id:
                raise CsvError(
                    file, "the email belongs to another participant", row=number, column="email"
                )
        if p is None:
            if person is None:
                person = customers.Person(
                    external_id=f"research:{secrets.token_hex(8)}",
                    name=f["name"],
                    account_id=accounts.get(f["account"]) if f["account"] else None,
                    traits={"source": "research"},
                )
                session.add(person)
                session.flush()
            p = _new_row(session, person.id, actor, "csv")
            p.email_enc = vault.seal(f["email"] or person.email)
            p.email_index = vault.email_index(f["email"] or person.email)
            p.phone_enc = vault.seal(f["phone"])
            p.segment = f["segment"]
            if f["status"]:
                p.status = f["status"]
            created += 1
            continue
        changed = False
        if f["phone"] and vault.open(p.phone_enc) != f["phone"]:
            p.phone_enc = vault.seal(f["phone"])
            changed = True
        if f["segment"] and p.segment != f["segment"]:
            p.segment = f["segment"]
            changed = True
        # An import may protect someone, never lift a protection.
        if f["status"] and f["status"] != p.status and f["status"] != "free":
            p.status = f["status"]
            p.status_changed_at = utcnow()
            changed = True
        updated += changed
        unchanged += not changed
    session.flush()
    audit.record(
        session, actor, "participant.import", "participant", None,
        {"file": file, "created": created, "updated": updated},
    )  # fmt: skip
    return {"rows": len(parsed), "created": created, "updated": updated, "unchanged": unchanged}


def import_feedback_people(
    session: Session,
    vault: Vault,
    actor: str,
    *,
    since: dt.date | None = None,
    tag_id: int | None = None,
    limit: int = 10_000,
) -> dict[str, int]:
    """Make participants of the people who gave feedback (since a day, with a tag), unless
    they already are; their email, when the customers record holds one, goes into the
    vault."""
    authors = feedback.authors(session, feedback.Filters(since=since, tag_id=tag_id))
    have = set(
        session.scalars(
            select(Participant.person_id).where(Participant.person_id.in_(list(authors)))
        )
    )
    wanted = [pid for pid in sorted(authors, key=lambda p: -authors[p][0]) if pid not in have][
        :limit
    ]
    people = (
        {p.id: p for p in session.scalars(select(Person).where(Person.id.in_(wanted)))}
        if wanted
        else {}
    )
    created = 0
    for pid in wanted:
        person = people.get(pid)
        if person is None:
            continue
        p = _new_row(session, person.id, actor, "feedback")
        p.email_enc = vault.seal(person.email)
        p.email_index = vault.email_index(person.email)
        created += 1
    session.flush()
    audit.record(
        session, actor, "participant.import", "participant", None,
        {"source": "feedback", "created": created},
    )  # fmt: skip
    return {"people_with_feedback": len(authors), "already": len(have), "created": created}


def person_ids_of(session: Session, participant_ids: Iterable[int]) -> dict[int, int]:
    ids = list(participant_ids)
    if not ids:
        return {}
    return dict(
        session.execute(
            select(Participant.id, Participant.person_id).where(Participant.id.in_(ids))
        ).all()
    )


def participant_filter(segment: str | None) -> Any:
    """A condition on participants of a segment (their own, else their account's)."""
    if not segment:
        return true()
    return Participant.id.in_(
        select(Participant.id)
        .join(Person, Person.id == Participant.person_id)
        .outerjoin(Account, Account.id == Person.account_id)
        .where(func.coalesce(Participant.segment, Account.segment) == segment)
    )
