"""Closing the loop: when a request ships, everyone who asked (gave feedback attached to it,
or voted) is told, once.

By email through the SMTP server of `[feedback] smtp_*`: its address is vetted by the
house's outbound guard (`core.outbound.check_url`: no loopback, private or metadata address
unless the operator allows it) and the connection dials the vetted address, as outbound
HTTP does. Without an SMTP server the list of whom to tell is exported instead
(`export_askers`), and marking them told is a person's click.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import select
from sqlalchemy.orm import Session

from productops.core import audit
from productops.core.db import transaction
from productops.core.errors import InvalidInput, OutboundError
from productops.core.outbound import OutboundPolicy, check_url
from productops.core.workspace import Workspace
from productops.feedback.models import Notification
from productops.feedback.requests.service import askers, get_request
from productops.feedback.settings import Section, section

Progress = Callable[[int, int | None, str], object]


@dataclass(frozen=True)
class NotifyResult:
    request_id: int
    sent: int
    already_told: int
    no_email: int

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def message(
    title: str, name: str | None, excerpt: str | None, to: str, sender: str, team: str
) -> EmailMessage:
    """The email telling someone their request shipped (plain text; their own words quoted)."""
    msg = EmailMessage()
    msg["Subject"] = f"Shipped: {_one_line(title)}"
    msg["From"] = sender
    msg["To"] = formataddr((_one_line(name or ""), to)) if name else to
    msg["Message-ID"] = make_msgid(domain="productops.local")
    quoted = f'\nYou wrote: "{_one_line(excerpt)}"\n' if excerpt else ""
    msg.set_content(
        f"Hello{' ' + _one_line(name) if name else ''},\n\n"
        f"you asked us for: {_one_line(title)}.{quoted}\n"
        "It has shipped. Thank you for telling us — it helped decide what to build.\n\n"
        f"— {_one_line(team)}\n"
    )
    return msg


class _VettedSMTP(smtplib.SMTP):
    """An SMTP connection to an address the outbound guard vetted, speaking TLS for the
    host name (certificate checked against the name, not the address)."""

    def connect_vetted(self, host: str, address: str, port: int) -> None:
        self.connect(address, port)
        self._host = host  # STARTTLS checks the certificate against this name


def _connect(settings: Section, policy: OutboundPolicy) -> smtplib.SMTP:
    if not settings.smtp_host:
        raise InvalidInput(
            "no SMTP server is set ([feedback] smtp_host): export the list of whom to tell instead"
        )
    if not settings.smtp_from:
        raise InvalidInput("set [feedback] smtp_from, the sender of close-the-loop emails")
    addresses = check_url(f"http://{settings.smtp_host}:{settings.smtp_port}/", policy)
    smtp = _VettedSMTP(timeout=policy.timeout_seconds)
    try:
        smtp.connect_vetted(settings.smtp_host, str(addresses[0]), settings.smtp_port)
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password)
    except (OSError, smtplib.SMTPException) as exc:
        smtp.close()
        raise OutboundError(
            f"the SMTP server {settings.smtp_host}:{settings.smtp_port} refused: {exc}"
        ) from None
    return smtp


def close_the_loop(
    ws: Workspace, request_id: int, progress: Progress | None = None
) -> NotifyResult:
    """Email everyone who asked for a shipped request and was not told yet; each sent email
    is recorded at once, so a run that stops half-way never tells anyone twice."""
    settings = section(ws)
    policy = OutboundPolicy.from_settings(ws.settings)
    with ws.sessions() as s:
        request = get_request(s, request_id)
        if request.status != "shipped":
            raise InvalidInput(f"request {request_id} has not shipped")
        title = request.title
        people = askers(s, request_id)
        told = set(
            s.scalars(select(Notification.person_id).where(Notification.request_id == request_id))
        )
    to_tell = []
    no_email = already = 0
    for a in people:
        if a.person is None:
            continue
        if a.person.id in told:
            already += 1
        elif not a.person.email:
            no_email += 1
        else:
            excerpt = a.evidence[0][0].excerpt if a.evidence else None
            to_tell.append((a.person.id, a.person.email, a.person.name, excerpt))
    sent = 0
    if to_tell:
        smtp = _connect(settings, policy)
        try:
            for person_id, email, name, excerpt in to_tell:
                msg = message(title, name, excerpt, email, settings.smtp_from, ws.settings.name)
                try:
                    smtp.send_message(msg)
                except smtplib.SMTPRecipientsRefused:
                    no_email += 1
                    continue
                except (OSError, smtplib.SMTPException) as exc:
                    raise OutboundError(f"sending to the SMTP server failed: {exc}") from None
                with transaction(ws.sessions) as s:
                    s.add(
                        Notification(
                            request_id=request_id, person_id=person_id, email=email, channel="email"
                        )
                    )
                sent += 1
                if progress:
                    progress(sent, len(to_tell), "telling the people who asked")
        finally:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()
    with transaction(ws.sessions) as s:
        audit.record(
            s, "system", "request.told", "request", request_id, {"sent": sent, "no_email": no_email}
        )
    return NotifyResult(request_id, sent, already, no_email)


def mark_told(session: Session, request_id: int, actor: str) -> int:
    """Record everyone who asked as told (after the list was exported and sent by hand)."""
    get_request(session, request_id)
    told = set(
        session.scalars(select(Notification.person_id).where(Notification.request_id == request_id))
    )
    marked = 0
    for a in askers(session, request_id):
        if a.person is not None and a.person.id not in told:
            session.add(
                Notification(
                    request_id=request_id,
                    person_id=a.person.id,
                    email=a.person.email,
                    channel="export",
                )
            )
            marked += 1
    session.flush()
    audit.record(session, actor, "request.told", "request", request_id, {"exported": marked})
    return marked


def open_smtp(ws: Workspace) -> smtplib.SMTP:
    """A connection to the workspace's SMTP server (`[feedback] smtp_*`), its address vetted
    by the outbound guard; for other pillars that send email (research invitations). The
    caller quits it."""
    return _connect(section(ws), OutboundPolicy.from_settings(ws.settings))


def smtp_sender(ws: Workspace) -> str:
    """The From address set for the SMTP server (`[feedback] smtp_from`)."""
    return section(ws).smtp_from
