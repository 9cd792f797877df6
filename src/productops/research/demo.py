"""The demo's research: ten studies with sessions, interview transcripts, highlights on what
participants said, tags from the shared taxonomy and the insights they back (some attached
to the feedback hub's requests); 500 participants drawn from the customers' people, with a
year of invitations, sessions, no-shows and incentives, so that some are in cooldown, some
at the invitation limit, some opted out or blocklisted, and many agreed only to the older of
two consent texts."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from productops import customers, feedback
from productops.core.db import transaction
from productops.core.demo import DemoContext, demo_step
from productops.research.models import (
    Consent,
    ConsentText,
    Contact,
    Incentive,
    Participant,
)
from productops.research.pseudonyms.vault import Vault, new_pseudonym
from productops.research.repository import service as repo
from productops.research.schemas import (
    InsightCreate,
    NoteCreate,
    SessionCreate,
    SpeakerLink,
    StudyCreate,
)

PARTICIPANTS = 500
QUESTIONS = (
    "Thanks for making the time. Can you walk me through the last time you did this?",
    "What happened next?",
    "How did that make you feel about the product?",
    "What did you do instead?",
    "If you could change one thing, what would it be?",
    "Is there anything we did not ask that we should have?",
)
FILLERS = (
    "Honestly, most weeks it is fine.",
    "We have about a dozen people using it every day.",
    "I mostly use it in the morning, before stand-up.",
    "My manager looks at it too, mostly on Fridays.",
)


@dataclass(frozen=True)
class Finding:
    title: str
    tags: tuple[str, ...]
    quotes: tuple[str, ...]


@dataclass(frozen=True)
class DemoStudy:
    title: str
    method: str
    goal: str
    request_words: str  # find a feature request of the feedback demo by these words
    findings: tuple[Finding, ...]


STUDIES = (
    DemoStudy(
        "Why teams abandon report exports",
        "interview",
        "Learn how teams share reports outside the product and where exporting fails them.",
        "export",
        (
            Finding(
                "PDF exports break the weekly reporting ritual",
                ("export", "reporting"),
                (
                    "The PDF export cuts off the last column, so I rebuild the chart in slides "
                    "every Monday.",
                    "Every week the export times out on our big dashboard and I give up.",
                    "I export to PDF, then email it, then people reply asking for the live link "
                    "anyway.",
                ),
            ),
            Finding(
                "People want exports on a schedule, not by hand",
                ("export", "automation"),
                (
                    "If it could just send the report every Monday at eight I would never open "
                    "the export menu.",
                    "I set a calendar reminder to export the numbers. That is silly.",
                ),
            ),
            Finding(
                "Shared links beat attachments when viewers have no seat",
                ("sharing",),
                (
                    "Half of my stakeholders have no login, so a link that works without one "
                    "would fix it.",
                    "I would rather share a read-only link than a file that is stale by lunch.",
                ),
            ),
        ),
    ),
    DemoStudy(
        "Onboarding for workspace admins",
        "usability_test",
        "See where new admins get stuck in their first hour.",
        "onboarding",
        (
            Finding(
                "Admins cannot find where to invite their team",
                ("onboarding", "navigation"),
                (
                    "I looked for invite under settings, then under people, then I gave up and "
                    "asked support.",
                    "The invite button only shows once you create a project, which I did not know.",
                ),
            ),
            Finding(
                "The checklist helps, but skipping it hides the setup for good",
                ("onboarding",),
                (
                    "I closed the checklist by mistake and could not get it back.",
                    "The checklist was the only thing that told me what to do next.",
                ),
            ),
            Finding(
                "SSO setup needs someone from IT in the room",
                ("sso", "enterprise"),
                (
                    "I needed our IT admin for SSO and they were not in this call, so we stopped "
                    "there.",
                ),
            ),
        ),
    ),
    DemoStudy(
        "Slack integration: what people expect",
        "interview",
        "Understand which updates people want in Slack and which are noise.",
        "slack",
        (
            Finding(
                "People want decisions in Slack, not every change",
                ("integrations", "notifications"),
                (
                    "Tell me when something is approved or blocked, not every time someone edits "
                    "a comment.",
                    "We muted the channel after two days because it posted every small edit.",
                ),
            ),
            Finding(
                "Replying in Slack should update the product",
                ("integrations",),
                (
                    "If I answer in the thread it should show up in the tool, otherwise we have "
                    "two conversations.",
                ),
            ),
        ),
    ),
    DemoStudy(
        "Pricing page comprehension",
        "concept_test",
        "Test whether buyers understand what each plan includes.",
        "pricing",
        (
            Finding(
                "Seat-based pricing confuses teams with occasional viewers",
                ("pricing",),
                (
                    "Do I pay for people who only look at the dashboard once a month? I could not "
                    "tell.",
                    "We would buy more seats if viewers were free.",
                ),
            ),
            Finding(
                "The enterprise plan reads as a black box",
                ("pricing", "enterprise"),
                ("Contact sales for everything makes me think it is very expensive.",),
            ),
        ),
    ),
    DemoStudy(
        "Mobile app: approvals on the go",
        "diary_study",
        "Follow managers for two weeks to see what they do on their phones.",
        "mobile",
        (
            Finding(
                "Approvals on the phone stall on attachments",
                ("mobile",),
                (
                    "I cannot open the attachment on my phone, so the approval waits until I am "
                    "at my desk.",
                    "On the train I approve the easy ones and star the rest for later.",
                ),
            ),
            Finding(
                "Push notifications arrive too late to act",
                ("mobile", "notifications"),
                ("The push came an hour after the email, by then someone else had approved it.",),
            ),
        ),
    ),
    DemoStudy(
        "Permissions and SSO in enterprise rollouts",
        "interview",
        "Learn what blocks a rollout past the first team in large accounts.",
        "permission",
        (
            Finding(
                "Role-based permissions are too coarse for large teams",
                ("permissions", "enterprise"),
                (
                    "We need people to edit their own team's pages but only view the others.",
                    "Everyone is an editor now because viewer is too limited, which security "
                    "hates.",
                ),
            ),
            Finding(
                "Audit logs are a condition of the security review",
                ("enterprise", "security"),
                ("Our security team asked for the audit log export before they would sign off.",),
            ),
        ),
    ),
    DemoStudy(
        "Dashboard navigation card sort",
        "card_sort",
        "Find how people group the dashboard's pages.",
        "dashboard",
        (
            Finding(
                "People group by question, not by data source",
                ("navigation", "reporting"),
                (
                    "I put everything about churn together, whatever chart it is.",
                    "I do not care where the data comes from, I care what it answers.",
                ),
            ),
        ),
    ),
    DemoStudy(
        "Churned customers: why they left",
        "interview",
        "Hear from accounts that cancelled in the last quarter.",
        "integration",
        (
            Finding(
                "Churn follows a failed integration more than price",
                ("churn", "integrations"),
                (
                    "The Salesforce sync broke twice and after that nobody trusted the numbers.",
                    "Price was fine. The sync was not.",
                ),
            ),
            Finding(
                "A champion leaving often ends the account",
                ("churn",),
                ("When Maria left, nobody else knew how it was set up, so we stopped paying.",),
            ),
        ),
    ),
    DemoStudy(
        "Search inside the product",
        "usability_test",
        "Watch people find an old report or comment.",
        "search",
        (
            Finding(
                "Search misses words inside comments and attachments",
                ("search",),
                (
                    "I know I wrote it in a comment but search does not find comments.",
                    "I search for the client name and get nothing, because it is only in the "
                    "attachment.",
                ),
            ),
        ),
    ),
    DemoStudy(
        "Notifications overload",
        "survey",
        "Measure how many notifications people get and which they read.",
        "notification",
        (
            Finding(
                "Most people read the daily digest and ignore the rest",
                ("notifications",),
                (
                    "The daily digest is the only email I read. The rest goes to a folder.",
                    "I turned off everything except mentions.",
                ),
            ),
            Finding(
                "People cannot tell which settings control which alerts",
                ("notifications", "navigation"),
                (
                    "There are three places to change notifications and none of them stopped the "
                    "emails.",
                ),
            ),
        ),
    ),
)


def _participants(ctx: DemoContext, rng: random.Random) -> list[dict[str, Any]]:
    """500 people with an email, from accounts of every segment, as participants with a year
    of contact history."""
    ws = ctx.workspace
    vault = Vault(ws)
    anchor = ctx.anchor_datetime
    with ws.sessions() as s:
        people = list(
            s.execute(
                select(customers.Person.id, customers.Person.email, customers.Person.name)
                .where(customers.Person.email.is_not(None))
                .order_by(customers.Person.id)
            )
        )
    chosen = rng.sample(people, k=min(PARTICIPANTS, len(people)))
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    for person_id, email, name in chosen:
        pseudonym = new_pseudonym()
        while pseudonym in used:
            pseudonym = new_pseudonym()
        used.add(pseudonym)
        roll = rng.random()
        status = (
            "opted_out"
            if roll < 0.05
            else "blocklisted"
            if roll < 0.07
            else "do_not_contact"
            if roll < 0.10
            else "free"
        )
        rows.append(
            {
                "person_id": person_id,
                "pseudonym": pseudonym,
                "email_enc": vault.seal(email),
                "email_index": vault.email_index(email),
                "phone_enc": vault.seal(f"+1 555 {rng.randint(100, 999)} {rng.randint(1000, 9999)}")
                if rng.random() < 0.4
                else None,
                "status": status,
                "status_reason": {
                    "opted_out": "asked not to be contacted again",
                    "blocklisted": "abusive in a session",
                    "do_not_contact": "account in a renewal negotiation",
                }.get(status),
                "status_changed_at": anchor - dt.timedelta(days=rng.randint(5, 200))
                if status != "free"
                else None,
                "source": rng.choice(("customers", "customers", "feedback", "csv")),
                "created_by": "demo",
                "created_at": anchor - dt.timedelta(days=rng.randint(200, 400)),
                "_name": name,
            }
        )
    return rows


@demo_step(
    "research.demo",
    "Research: ten studies, 500 participants with contact histories",
    after=("customers.people", "feedback.items", "house.org"),
    weight=1,
)
def make_research(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.rng("research.demo")
    ws = ctx.workspace
    anchor = ctx.anchor_datetime
    rows = _participants(ctx, rng)
    names = {r["person_id"]: r.pop("_name") for r in rows}
    ctx.progress(150)
    with transaction(ws.sessions) as s:
        s.execute(insert(Participant), rows)
        ids = {
            p.person_id: p.id
            for p in s.scalars(select(Participant).where(Participant.person_id.in_(list(names))))
        }
        v1 = ConsentText(
            version=1,
            title="Research participation",
            created_by="demo",
            body="We record sessions to learn from them. Recordings stay inside the company and "
            "are deleted after two years. You may stop at any time.",
            created_at=anchor - dt.timedelta(days=400),
        )
        v2 = ConsentText(
            version=2,
            title="Research participation (recordings kept one year)",
            created_by="demo",
            body="We record sessions to learn from them. Recordings stay inside the company and "
            "are deleted after one year; quotes may appear in internal reports without your "
            "name. You may stop at any time, and ask us to delete everything about you.",
            created_at=anchor - dt.timedelta(days=60),
        )
        s.add_all([v1, v2])
        s.flush()
        consents, contacts, incentives = [], [], []
        history: dict[int, list[tuple[str, dt.datetime]]] = {}
        for r in rows:
            pid = ids[r["person_id"]]
            if rng.random() < 0.8:
                given = r["created_at"] + dt.timedelta(days=rng.randint(0, 20))
                consents.append(
                    {
                        "participant_id": pid,
                        "text_id": v1.id,
                        "version": 1,
                        "given_at": given,
                        "method": "form",
                        "recorded_by": "demo",
                    }
                )
                if rng.random() < 0.45:
                    consents.append(
                        {
                            "participant_id": pid,
                            "text_id": v2.id,
                            "version": 2,
                            "given_at": anchor - dt.timedelta(days=rng.randint(1, 55)),
                            "method": rng.choice(("form", "email")),
                            "recorded_by": "demo",
                        }
                    )
            events: list[tuple[str, dt.datetime]] = []
            for _ in range(rng.choices((0, 1, 2, 3, 4), weights=(30, 30, 20, 12, 8))[0]):
                invited = anchor - dt.timedelta(days=rng.uniform(1, 360))
                events.append(("invited", invited))
                answer = rng.random()
                if answer < 0.45:
                    when = invited + dt.timedelta(days=rng.uniform(2, 10))
                    if when < anchor:
                        events.append(("scheduled", when - dt.timedelta(days=1)))
                        events.append(("participated" if rng.random() < 0.85 else "no_show", when))
            events.sort(key=lambda e: e[1])
            history[pid] = events
            for kind, at in events:
                contacts.append(
                    {
                        "participant_id": pid,
                        "kind": kind,
                        "at": at,
                        "channel": "email" if kind == "invited" else "manual",
                        "created_by": "demo",
                    }
                )
                if kind == "participated":
                    incentives.append(
                        {
                            "participant_id": pid,
                            "amount": rng.choice((25, 50, 75, 100)),
                            "currency": "USD",
                            "kind": rng.choice(("gift_card", "gift_card", "donation")),
                            "paid_at": at + dt.timedelta(days=2),
                            "created_by": "demo",
                        }
                    )
        s.execute(insert(Consent), consents)
        if contacts:
            s.execute(insert(Contact), contacts)
        if incentives:
            s.execute(insert(Incentive), incentives)
        for pid, events in history.items():
            sent = [at for k, at in events if k == "invited"]
            took_part = [at for k, at in events if k == "participated"]
            if events:
                p = s.get(Participant, pid)
                assert p is not None
                p.last_invited_at = max(sent) if sent else None
                p.last_participated_at = max(took_part) if took_part else None
                p.last_contacted_at = max(at for _, at in events)
    ctx.progress(400)
    studies = _studies(ctx, rng, ids, names)
    ctx.progress(1000)
    return {
        "participants": len(rows),
        "contacts": len(contacts),
        "consents": len(consents),
        **studies,
    }


def _studies(
    ctx: DemoContext, rng: random.Random, ids: dict[int, int], names: dict[int, str | None]
) -> dict[str, int]:
    ws = ctx.workspace
    anchor = ctx.anchor_datetime
    pool = [(ids[person], names[person]) for person in ids if names.get(person)]
    counts = {"studies": 0, "sessions": 0, "notes": 0, "highlights": 0, "insights": 0}
    with transaction(ws.sessions) as s:
        requests = feedback.list_requests(s)
        statuses = (
            "done",
            "done",
            "done",
            "analysing",
            "analysing",
            "running",
            "running",
            "recruiting",
            "done",
            "planned",
        )
        for i, spec in enumerate(STUDIES):
            start = (anchor - dt.timedelta(days=300 - i * 28)).date()
            request = next(
                (r.request for r in requests if spec.request_words in r.request.title.lower()), None
            )
            study = repo.create_study(
                s,
                StudyCreate(
                    title=spec.title,
                    method=spec.method,
                    goal=spec.goal,
                    status=statuses[i],
                    starts_on=start,
                    ends_on=start + dt.timedelta(days=21),
                    request_id=request.id if request else None,
                ),
                "demo",
            )
            counts["studies"] += 1
            backing: dict[int, list[int]] = {k: [] for k in range(len(spec.findings))}
            seen_in: dict[int, set[int]] = {k: set() for k in range(len(spec.findings))}
            sessions = 0 if statuses[i] in ("planned", "recruiting") else rng.randint(4, 7)
            for n in range(sessions):
                participant, name = rng.choice(pool)
                when = dt.datetime.combine(start, dt.time(15), dt.UTC) + dt.timedelta(
                    days=n * 2, hours=rng.randint(0, 4)
                )
                sess = repo.create_session(
                    s,
                    study.id,
                    SessionCreate(
                        title=f"Session {n + 1}",
                        participant_id=participant,
                        happened_at=when,
                        duration_minutes=rng.choice((30, 45, 60)),
                    ),
                    "demo",
                )
                s.add(
                    Contact(
                        participant_id=participant,
                        study_id=study.id,
                        kind="participated",
                        at=when,
                        created_by="demo",
                    )
                )
                label = name or "Participant"
                lines: list[str] = []
                said: list[tuple[int, str]] = []
                for q_no, question in enumerate(rng.sample(QUESTIONS, k=4)):
                    lines.append(f"**Interviewer** ({_stamp(q_no * 300)}): {question}")
                    k = rng.randrange(len(spec.findings))
                    quote = rng.choice(spec.findings[k].quotes)
                    answer = f"{rng.choice(FILLERS)} {quote}" if rng.random() < 0.5 else quote
                    lines.append(f"**{label}** ({_stamp(q_no * 300 + 40)}): {answer}")
                    said.append((k, quote))
                note = repo.create_note(
                    s,
                    study.id,
                    NoteCreate(
                        title=f"{spec.title}: session {n + 1}",
                        body="\n\n".join(lines) + "\n",
                        session_id=sess.id,
                    ),
                    "demo",
                    source=rng.choice(("vtt", "docx", "txt", "typed")),
                )
                repo.link_speaker(
                    s, note.id, SpeakerLink(label=label, participant_id=participant), "demo"
                )
                for k, quote in said[: rng.randint(1, 3)]:
                    at = note.body.find(quote)
                    if at < 0:
                        continue
                    h = repo.create_highlight(s, note.id, at, at + len(quote), "demo")
                    repo.tag_highlight(s, h.id, [], "demo", new_tags=list(spec.findings[k].tags))
                    backing[k].append(h.id)
                    seen_in[k].add(sess.id)
                    counts["highlights"] += 1
                counts["sessions"] += 1
                counts["notes"] += 1
            for k, finding in enumerate(spec.findings):
                if not backing[k]:
                    continue
                tag_ids = repo.resolve_tags(s, [], finding.tags, "demo")
                insight = repo.create_insight(
                    s,
                    InsightCreate(
                        title=finding.title,
                        study_id=study.id,
                        highlight_ids=backing[k],
                        tag_ids=tag_ids,
                        status="published" if statuses[i] == "done" else "draft",
                        body=f"Seen in {len(seen_in[k])} of {sessions} sessions. " + spec.goal,
                    ),
                    "demo",
                )
                counts["insights"] += 1
                if request is not None and k == 0:
                    repo.attach_to_request(s, insight.id, request.id, "demo")
            ctx.progress(400 + int(600 * (i + 1) / len(STUDIES)))
    return counts


def _stamp(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
