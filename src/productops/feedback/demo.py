"""The demo company's feedback: about 20,000 items over six months from every channel, from
the demo accounts' people, with planted themes (one emerging in the last weeks, one growing),
duplicates across channels, competitor mentions, feature requests with evidence and votes,
and tags people applied.

Inserting the items takes seconds; what takes minutes (sentence vectors for 20,000 items on
two cores, then theme discovery) is queued as the `feedback.discover` job, which the server
runs in the background while the demo is already served.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from typing import Any

from sqlalchemy import insert, select

from productops.core.db import transaction
from productops.core.demo import DemoContext, demo_step
from productops.core.jobs import enqueue
from productops.customers import Person
from productops.feedback.items.service import content_hash
from productops.feedback.models import (
    Competitor,
    Evidence,
    FeatureRequest,
    FeedbackItem,
    ItemTag,
    Notification,
    Tag,
    Vote,
)

WEEKS = 26
COMPETITORS = (
    ("Northwind Analytics", ["Northwind"]),
    ("Contoso Insights", ["Contoso"]),
    ("Fabrikam Boards", ["Fabrikam"]),
)
# theme key -> (weight, kind: bug|request|praise|question, phrasings, request title or None)
THEMES: dict[str, tuple[float, str, list[str], str | None]] = {
    "mobile_crash": (1.3, "bug", [
        "The {os} app crashes every time I open {screen}.",
        "Since the last update the {os} app closes as soon as I tap {screen}.",
        "App keeps crashing on {screen} ({os}), we can't use it on the go.",
        "Crash on launch after updating the {os} app, reinstalling did not help.",
        "{os} app freezes and then crashes when I open {screen}. Very frustrating.",
    ], None),
    "slow_dashboards": (1.4, "bug", [
        "Dashboards take forever to load, sometimes over a minute.",
        "The {report} dashboard is really slow since last week.",
        "Loading the {report} report times out for our team every morning.",
        "Performance of dashboards is terrible with more than a few filters.",
        "Charts are sluggish and the page hangs when I change the date range.",
    ], None),
    "sso": (1.0, "request", [
        "We need SSO with {idp} before we can roll out to the whole company.",
        "Please add SAML single sign-on, our IT team requires it.",
        "Is {idp} SSO on the roadmap? Security review is blocking our expansion.",
        "Without SAML login via {idp} we cannot buy more seats.",
        "Our security team asks for SSO and SCIM provisioning.",
    ], "Single sign-on with SAML (Okta, Azure AD)"),
    "pdf_export": (1.1, "request", [
        "Please let us export reports to PDF for our board meetings.",
        "We need a PDF export of the {report} report.",
        "Exporting dashboards as PDF would save us hours every month.",
        "Can you add PDF export? We screenshot the {report} report today.",
        "Scheduled PDF reports by email would be great.",
    ], "Export reports and dashboards to PDF"),
    "dark_mode": (0.7, "request", [
        "Please add a dark mode, my eyes hurt at night.",
        "Dark theme would be lovely for late work.",
        "Any plans for dark mode in the web app?",
        "I would love a dark mode option, like every other tool has.",
    ], "Dark mode"),
    "billing": (0.8, "bug", [
        "We were charged twice on our last invoice.",
        "Our credit card was billed two times this month, please refund.",
        "The invoice shows {seats} seats but we only have {seats2}.",
        "Billing page times out when I try to download an invoice.",
        "Double charge on the annual renewal, who can help?",
    ], None),
    "slack": (0.8, "bug", [
        "Slack notifications stopped arriving after we reconnected the workspace.",
        "The Slack integration posts every alert twice.",
        "Slack alerts are delayed by hours, they used to be instant.",
        "We no longer get Slack messages for new comments.",
    ], None),
    "salesforce": (0.7, "bug", [
        "The Salesforce sync duplicates our contacts every night.",
        "Salesforce integration creates duplicate accounts.",
        "Since the update, Salesforce sync overwrites the owner field.",
        "Contacts from Salesforce show up twice after each sync.",
    ], "Fix duplicate contacts from the Salesforce sync"),
    "permissions": (0.8, "request", [
        "We need more granular permissions: view-only access per project.",
        "Please add custom roles, admins and members are not enough.",
        "Can we restrict who can export data? Granular permissions please.",
        "Our auditors ask for read-only roles per workspace.",
    ], "Custom roles and granular permissions"),
    "search": (0.7, "bug", [
        "Search does not find documents by their title.",
        "Searching for a customer name returns nothing even though it exists.",
        "Search results are irrelevant, the exact match is on page three.",
        "Full-text search misses words with accents.",
    ], None),
    "onboarding": (0.6, "question", [
        "Onboarding was confusing, it took us a week to set up the first project.",
        "How do I invite my team? The setup wizard skipped it.",
        "Getting started guide is out of date, screenshots do not match.",
        "It is hard to understand where to start after signing up.",
    ], None),
    "api_limits": (0.5, "request", [
        "The API rate limit of 100 requests per minute is too low for our sync.",
        "We hit 429 errors from the API during our nightly import.",
        "Please raise API limits or offer a bulk endpoint.",
        "Bulk API endpoint would help, the rate limits slow our integration.",
    ], "Higher API rate limits and a bulk endpoint"),
    "praise": (1.2, "praise", [
        "Love the new dashboards, so intuitive!",
        "Great product, support answered within minutes.",
        "The reports save our team hours every week, thank you.",
        "Really happy with the latest release, everything feels faster.",
        "Fantastic onboarding call, the team was super helpful.",
    ], None),
    "logout": (0.6, "bug", [
        "The mobile app logs me out every day.",
        "Drivers get signed out of the app in the middle of their shift.",
        "Session expires too often on {os}, we have to log in again and again.",
    ], None),
    # Emerging: only in the last three weeks.
    "ai_summary": (0.0, "request", [
        "Could you add an AI summary of long comment threads?",
        "An automatic summary of the week's activity would be amazing.",
        "Please add AI-generated summaries for reports.",
        "We would pay for AI summaries of customer conversations.",
    ], "AI summaries of threads and reports"),
    # Growing: a bug that started six weeks ago and is getting worse.
    "calendar": (0.0, "bug", [
        "Calendar sync with {cal} stopped working after the update.",
        "Events from {cal} no longer show up in the timeline.",
        "{cal} calendar sync creates duplicate events.",
        "Since last week the {cal} integration fails with an error.",
    ], "Fix calendar sync with Google and Outlook"),
}  # fmt: skip
SLOTS = {
    "os": ("iOS", "Android"),
    "screen": ("settings", "the timeline", "notifications", "the dashboard", "my profile"),
    "report": ("monthly revenue", "team activity", "pipeline", "usage"),
    "idp": ("Okta", "Azure AD", "Google Workspace", "OneLogin"),
    "seats": ("25", "40", "60"),
    "seats2": ("20", "30", "45"),
    "cal": ("Google Calendar", "Outlook"),
}
OPENERS = ("", "", "", "Hi team, ", "Hello, ", "Quick note: ", "FYI ", "Hey! ")
CLOSERS = ("", "", "", " Thanks!", " Thank you.", " Please fix asap.", " Any update?")
COMPETITOR_LINES = (
    " {c} already does this.",
    " We are evaluating {c} because of this.",
    " {c} handles this much better.",
    " Our other team uses {c} and is happier.",
)
FOREIGN = {
    "pt": "O aplicativo fecha sozinho quando abro {screen}, por favor corrijam.",
    "de": "Bitte einen Export als PDF für die Berichte einbauen.",
    "es": "La aplicación se cierra cada vez que abro la configuración.",
    "fr": "Merci d'ajouter un mode sombre, c'est très pénible le soir.",
}
# channel -> (share, kind, score kind)
CHANNELS = {
    "zendesk": (0.30, "ticket", None),
    "intercom": (0.22, "conversation", None),
    "delighted": (0.12, "survey", "nps"),
    "typeform": (0.05, "survey", "nps"),
    "googleplay": (0.08, "review", "stars"),
    "appstore": (0.08, "review", "stars"),
    "gong": (0.05, "call", None),
    "api": (0.10, "other", None),
}
REQUEST_STATUS = {
    "sso": "in_progress",
    "pdf_export": "planned",
    "dark_mode": "shipped",
    "salesforce": "shipped",
    "permissions": "under_review",
    "api_limits": "declined",
    "ai_summary": "under_review",
    "calendar": "in_progress",
}
TAGS = {"bug": "bug", "request": "feature-request", "praise": "praise", "question": "question"}


def _fill(template: str, rng: random.Random) -> str:
    out = template
    for slot, values in SLOTS.items():
        key = "{" + slot + "}"
        if key in out:
            out = out.replace(key, rng.choice(values))
    return out


def _score(kind: str, score_kind: str | None, rng: random.Random) -> float | None:
    if score_kind == "nps":
        return float(
            rng.choice((0, 1, 2, 3, 4, 5, 6))
            if kind == "bug"
            else rng.choice((9, 10, 10))
            if kind == "praise"
            else rng.choice((5, 6, 7, 8, 9))
        )
    if score_kind == "stars":
        return float(
            rng.choice((1, 1, 2))
            if kind == "bug"
            else rng.choice((4, 5, 5))
            if kind == "praise"
            else rng.choice((3, 4))
        )
    return None


def _theme_for(rng: random.Random, week: int) -> str:
    """A theme for feedback given `week` weeks before the anchor (0: this week)."""
    weights = {k: v[0] for k, v in THEMES.items()}
    if week < 3:
        weights["ai_summary"] = 1.6
    if week < 6:
        weights["calendar"] = 0.3 + (6 - week) * 0.35  # growing week over week
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys], k=1)[0]


def _count(ctx: DemoContext) -> int:
    return max(300, min(20_000, int(ctx.scale.people * 0.4)))


@demo_step(
    "feedback.items",
    "Feedback from every channel, requests and competitors",
    after=("customers.people", "house.org"),
    weight=2,
)
def make_feedback(ctx: DemoContext) -> dict[str, Any]:
    rng = ctx.rng("feedback.items")
    n = _count(ctx)
    with ctx.workspace.sessions() as s:
        people = list(
            s.execute(
                select(Person.id, Person.account_id, Person.email, Person.name).order_by(Person.id)
            ).all()
        )
    anchor = ctx.anchor_datetime
    channels = list(CHANNELS)
    shares = [CHANNELS[c][0] for c in channels]
    rows: list[dict[str, Any]] = []
    planted: list[str] = []
    for i in range(n):
        week = int(rng.expovariate(1 / 9))
        while week >= WEEKS:  # redrawn, not clamped: clamping piled the tail on the oldest week
            week = int(rng.expovariate(1 / 9))
        created = anchor - dt.timedelta(weeks=week, days=rng.uniform(0, 7), hours=rng.uniform(0, 8))
        theme = _theme_for(rng, week)
        _, kind, phrasings, _title = THEMES[theme]
        channel = rng.choices(channels, weights=shares, k=1)[0]
        _, item_kind, score_kind = CHANNELS[channel]
        text = rng.choice(OPENERS) + _fill(rng.choice(phrasings), rng) + rng.choice(CLOSERS)
        if rng.random() < 0.06 and kind in ("bug", "request"):
            name, aliases = rng.choice(COMPETITORS)
            text += rng.choice(COMPETITOR_LINES).format(c=rng.choice([name, *aliases]))
        language = "en"
        if channel in ("googleplay", "appstore") and rng.random() < 0.12:
            language = rng.choice(list(FOREIGN))
            text = _fill(FOREIGN[language], rng)
        person = rng.choice(people) if channel not in ("googleplay", "appstore") else None
        rows.append(
            {
                "source": channel,
                "external_id": f"demo-{channel}-{i + 1:06d}",
                "kind": item_kind,
                "title": text[:70].rstrip(" .,!") if item_kind == "ticket" else None,
                "body": text,
                "text": text,
                "author_email": person[2] if person else None,
                "author_name": person[3] if person else rng.choice(("pixelfan", "mila_k", "ro88")),
                "person_id": person[0] if person else None,
                "account_id": person[1] if person else None,
                "created_at": created,
                "imported_at": anchor,
                "updated_at": anchor,
                "score": _score(kind, score_kind, rng),
                "score_kind": score_kind,
                "status": "triaged" if week > 4 and rng.random() < 0.55 else "new",
                "content_hash": content_hash(text),
                "extra": {"demo_theme": theme, "planted_language": language},
            }
        )
        planted.append(theme)
        if i % 1000 == 0:
            ctx.progress(int(400 * i / n))
    # Duplicates: the same words again through another channel, a person repeating.
    for i in rng.sample(range(len(rows)), k=len(rows) // 25):
        original = rows[i]
        channel = rng.choice([c for c in ("zendesk", "intercom", "api") if c != original["source"]])
        again = dict(original)
        again.update(
            source=channel,
            external_id=f"demo-{channel}-dup-{i + 1:06d}",
            kind=CHANNELS[channel][1],
            # Sent again a little later, but never after the demo's today.
            created_at=min(original["created_at"] + dt.timedelta(hours=rng.uniform(1, 72)), anchor),
            status="new",
        )
        if rng.random() < 0.5:
            again["body"] = again["text"] = original["text"] + " (sent again)"
            again["content_hash"] = content_hash(again["text"])
        rows.append(again)
        planted.append(planted[i])
    with transaction(ctx.workspace.sessions) as s:
        for start in range(0, len(rows), 2000):
            s.execute(insert(FeedbackItem), rows[start : start + 2000])
            ctx.progress(400 + int(400 * start / len(rows)))
        ids = list(s.scalars(select(FeedbackItem.id).order_by(FeedbackItem.id)))
        result = _requests_tags_competitors(ctx, s, rng, ids, rows, planted, people)
        # Vectors and themes are computed in the background, once the demo is served.
        enqueue(s, "feedback.discover", {"seed": ctx.seed % 1000}, created_by="demo")
    ctx.progress(1000)
    return {"items": len(rows), **result}


def _requests_tags_competitors(
    ctx: DemoContext,
    s: Any,
    rng: random.Random,
    ids: list[int],
    rows: list[dict[str, Any]],
    planted: list[str],
    people: list[Any],
) -> dict[str, int]:
    for name, aliases in COMPETITORS:
        s.add(Competitor(name=name, aliases=aliases))
    requests: dict[str, int] = {}
    for theme, (_, _kind, _, title) in THEMES.items():
        if title is None:
            continue
        status = REQUEST_STATUS.get(theme, "under_review")
        req = FeatureRequest(
            title=title,
            description="Customers ask for this through every channel.",
            status=status,
            created_by="demo",
            created_at=ctx.anchor_datetime - dt.timedelta(weeks=WEEKS),
            shipped_at=ctx.anchor_datetime - dt.timedelta(days=9) if status == "shipped" else None,
        )
        s.add(req)
        s.flush()
        requests[theme] = req.id
    evidence: list[dict[str, Any]] = []
    tagged: list[dict[str, Any]] = []
    tag_ids: dict[str, int] = {}
    for kind, name in TAGS.items():
        tag = Tag(name=name, description=f"Demo tag for {kind} feedback")
        s.add(tag)
        s.flush()
        tag_ids[kind] = tag.id
    pms = ("ada.brown", "ben.costa", "chloe.dubois")
    for item_id, row, theme in zip(ids, rows, planted, strict=True):
        kind = THEMES[theme][1]
        if theme in requests and rng.random() < 0.45:
            words = row["text"].split(". ")[0].strip()
            evidence.append(
                {
                    "request_id": requests[theme],
                    "item_id": item_id,
                    "excerpt": words if words in row["text"] else None,
                    "importance": rng.choice(
                        ("nice_to_have", "important", "important", "critical")
                    ),
                    "created_by": f"{rng.choice(pms)}@demo.productops.dev",
                    "created_at": min(
                        row["created_at"] + dt.timedelta(days=1), ctx.anchor_datetime
                    ),
                }
            )
        if row["status"] == "triaged" and rng.random() < 0.5:
            tagged.append(
                {
                    "item_id": item_id,
                    "tag_id": tag_ids[kind],
                    "state": "applied",
                    "created_by": f"{rng.choice(pms)}@demo.productops.dev",
                    "created_at": min(
                        row["created_at"] + dt.timedelta(days=1), ctx.anchor_datetime
                    ),
                }
            )
    for start in range(0, len(evidence), 2000):
        s.execute(insert(Evidence), evidence[start : start + 2000])
    for start in range(0, len(tagged), 2000):
        s.execute(insert(ItemTag), tagged[start : start + 2000])
    votes: list[dict[str, Any]] = []
    seen: set[tuple[int, int]] = set()
    asked = Counter(e["request_id"] for e in evidence)
    for request_id in requests.values():
        # Portal votes follow how much a request is asked for, unevenly.
        k = int(asked[request_id] * rng.uniform(0.15, 0.6)) + rng.randint(0, 12)
        for person in rng.sample(people, k=min(len(people), k)):
            if (request_id, person[0]) in seen:
                continue
            seen.add((request_id, person[0]))
            votes.append(
                {
                    "request_id": request_id,
                    "person_id": person[0],
                    "created_by": "portal",
                    "created_at": ctx.anchor_datetime - dt.timedelta(days=rng.uniform(0, 150)),
                }
            )
    for start in range(0, len(votes), 2000):
        s.execute(insert(Vote), votes[start : start + 2000])
    # The dark-mode request shipped: the people who asked were told.
    notified = _notify_shipped(s, requests["dark_mode"], evidence, rows, ids)
    return {
        "requests": len(requests),
        "evidence": len(evidence),
        "votes": len(votes),
        "tagged": len(tagged),
        "told": notified,
    }


def _notify_shipped(
    s: Any,
    request_id: int,
    evidence: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    ids: list[int],
) -> int:
    position = {item_id: n for n, item_id in enumerate(ids)}
    people = {
        rows[position[e["item_id"]]]["person_id"] for e in evidence if e["request_id"] == request_id
    } - {None}
    if people:
        s.execute(
            insert(Notification),
            [
                {"request_id": request_id, "person_id": p, "email": None, "channel": "email"}
                for p in sorted(people)
            ],
        )
    return len(people)
