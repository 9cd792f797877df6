"""Processing offline: cleaning, PII redaction, language, sentiment (the source's score first),
vectors stored for reuse, near-duplicates across channels, competitor mentions, themes and
tag suggestions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import select

from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.feedback.competitors import service as competitors
from productops.feedback.items import service
from productops.feedback.models import FeedbackItem, FeedbackVector, ItemTag, Theme
from productops.feedback.pipeline import process
from productops.feedback.processing.clean import clean
from productops.feedback.processing.embeddings import embed
from productops.feedback.processing.pii import redact
from productops.feedback.processing.sentiment import from_score, model_score
from productops.feedback.schemas import CompetitorCreate, FeedbackCreate, TagCreate
from productops.feedback.themes import discover, tags
from productops.feedback.themes import service as themes
from tests.feedback.support import add_customers

DAY = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
CRASH = [
    "The app crashes when I open settings",
    "Crash every time I open the settings page",
    "Settings screen crashes the whole app",
    "Opening settings makes the app crash immediately",
    "App keeps crashing on the settings screen",
    "The iOS app crashes as soon as I tap settings",
]
EXPORT = [
    "Please let us export reports to PDF",
    "We need a PDF export of the monthly report",
    "Exporting a report as PDF would save us hours",
    "Can you add PDF export for reports?",
    "PDF export for dashboards and reports please",
    "Our board wants the report exported as a PDF",
]
BILLING = [
    "I was charged twice on my invoice this month",
    "Double charge on our credit card, please refund",
    "The invoice shows a duplicate charge",
    "We got billed two times for the same subscription",
    "Our card was charged twice for one invoice",
    "Duplicate payment taken for this month's invoice",
]


def test_cleaning_keeps_what_the_customer_wrote() -> None:
    html = "<div><p>The export is <b>broken</b> &amp; slow.</p><script>alert(1)</script></div>"
    assert clean(html) == "The export is broken & slow."
    reply = (
        "The app crashes on login.\n\nThanks,\nDana\nAcme Inc\n\n"
        "On Mon, 3 May 2024 at 10:00, Support <s@example.com> wrote:\n> can you send logs"
    )
    assert clean(reply) == "The app crashes on login."
    assert clean("Love the dashboard!\n-- \nJohn | CTO") == "Love the dashboard!"
    assert clean("Works great\n\nSent from my iPhone") == "Works great"


def test_pii_redaction_hides_contact_and_card_details() -> None:
    text = redact("Mail a.b@x.example or call +1 415-555-0134; card 4111 1111 1111 1111")
    assert text == "Mail [email] or call [phone]; card [card]"
    assert redact("Version 4.2.1 since 2024") == "Version 4.2.1 since 2024"


def test_sentiment_takes_the_sources_score_and_reads_complaints_vader_misses() -> None:
    assert from_score(2, "nps") is not None and from_score(2, "nps") < -0.5  # type: ignore[operator]
    assert from_score(10, "nps") == 0.8
    assert from_score(1, "stars") == -1.0
    assert model_score("App crashes every time I open settings") < -0.2
    assert model_score("It takes forever to load reports") < -0.2
    assert model_score("I love the new dashboard, it is so intuitive") > 0.2


def test_vectors_put_the_same_meaning_close_together() -> None:
    v = embed(["The app crashes on login", "Crash when I sign in", "Please add dark mode"])
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > 0.6 > v[0] @ v[2]


def test_discover_finds_the_planted_themes() -> None:
    texts = CRASH + EXPORT + BILLING
    labels = discover(texts, min_size=3)
    groups = [labels[0:6], labels[6:12], labels[12:18]]
    for group in groups:
        assigned = [x for x in group if x is not None]
        assert len(assigned) >= 5 and len(set(assigned)) == 1, labels
    assert len({g[0] for g in groups}) == 3


def _send(ws: Workspace, texts: list[str], **kw: object) -> list[int]:
    payloads = [
        FeedbackCreate(
            external_id=f"{kw.get('prefix', 'm')}{i}",
            text=t,
            created_at=DAY + dt.timedelta(hours=i),
            **{k: v for k, v in kw.items() if k != "prefix"},  # type: ignore[arg-type]
        )
        for i, t in enumerate(texts)
    ]
    with transaction(ws.sessions) as s:
        _, items = service.create_feedback(s, payloads, "test")
        return [i.id for i in items]


def test_processing_scores_embeds_marks_duplicates_and_tags_mentions(
    workspace: Workspace,
) -> None:
    add_customers(workspace)
    with transaction(workspace.sessions) as s:
        competitors.create_competitor(
            s, CompetitorCreate(name="Linear", aliases=["linear.app"]), "test"
        )
    ids = _send(workspace, CRASH[:3], email="dana@acme.example")
    # The same words through another tool, and the same person repeating herself.
    dup_ids = _send(
        workspace,
        ["The app crashes when I open settings!!", "We switched from Linear and miss its speed"],
        email="dana@acme.example",
        source="intercom",
        prefix="x",
    )
    result = process(workspace)
    assert result["embedded"] == 5 and result["scored"] == 5
    with workspace.sessions() as s:
        items = {i.id: i for i in s.scalars(select(FeedbackItem))}
        vectors = s.scalars(select(FeedbackVector.item_id)).all()
    assert set(vectors) == set(items)
    assert items[ids[0]].language == "en"
    assert items[ids[0]].sentiment is not None and items[ids[0]].sentiment < 0
    copy = items[dup_ids[0]]
    assert (copy.status, copy.duplicate_of_id) == ("duplicate", ids[0])
    assert copy.source == "intercom" and copy.text.endswith("!!")  # the original is kept
    with workspace.sessions() as s:
        stats = {c.competitor.name: c.mentions for c in competitors.stats(s)}
    assert stats == {"Linear": 1}
    # Nothing new: running again does nothing.
    again = process(workspace)
    assert again["embedded"] == 0 and again["scored"] == 0 and again["duplicates"] == 0


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_customers_who_write_the_same_words_are_each_counted(workspace: Workspace) -> None:
    from productops.feedback.duplicates.service import find_pending

    add_customers(workspace)
    pasted = "Our finance team exports every report to PDF by hand each Friday afternoon"
    first = _send(workspace, ["Please add dark mode", pasted], email="dana@acme.example")
    others = _send(
        workspace,
        ["Please add dark mode", pasted],  # an hour or two later: the same words, someone else
        email="tom@tiny.example",
        prefix="t",
    )
    colleague = _send(
        workspace, ["Please add dark mode"], email="new@acme.example", prefix="c"
    )  # dana's colleague at Acme: another ask
    later = [
        FeedbackCreate(
            external_id="late", text=pasted, created_at=DAY + dt.timedelta(days=9), name="Lee"
        )
    ]
    with transaction(workspace.sessions) as s:
        late = service.create_feedback(s, later, "test")[1][0].id
    assert find_pending(workspace) == 1
    with workspace.sessions() as s:
        status = {i.id: (i.status, i.duplicate_of_id) for i in s.scalars(select(FeedbackItem))}
    assert status[others[0]] == ("new", None)  # a short phrase two customers wrote: two asks
    assert status[others[1]] == ("duplicate", first[1])  # a long message pasted within hours
    assert status[late] == ("new", None)  # the same long words nine days on: asked again
    assert status[colleague[0]] == ("new", None)


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_themes_are_discovered_kept_across_runs_and_new_items_placed(
    workspace: Workspace,
) -> None:
    _send(workspace, CRASH + EXPORT + BILLING)
    process(workspace)
    first = themes.run_discovery(workspace)
    assert first.themes == 3 and first.new_themes == 3
    with workspace.sessions() as s:
        named = {t.id: t for t in s.scalars(select(Theme).where(Theme.status == "active"))}
        crash_theme = s.scalar(select(FeedbackItem.theme_id).where(FeedbackItem.text == CRASH[0]))
    assert crash_theme in named
    assert any("crash" in p for p in named[crash_theme].key_phrases)
    # A person renames a theme; discovery again keeps its id and the name.
    from productops.feedback.schemas import ThemeUpdate

    with transaction(workspace.sessions) as s:
        themes.update_theme(s, crash_theme, ThemeUpdate(name="Settings crash"), "test")
    second = themes.run_discovery(workspace)
    assert second.kept_themes == 3 and second.new_themes == 0
    with workspace.sessions() as s:
        assert s.get(Theme, crash_theme).name == "Settings crash"  # type: ignore[union-attr]
    # New feedback goes into the theme it belongs to when processed.
    new = _send(workspace, ["Settings page crashes the app on Android"], prefix="n")
    process(workspace)
    with workspace.sessions() as s:
        assert s.get(FeedbackItem, new[0]).theme_id == crash_theme  # type: ignore[union-attr]


@pytest.mark.parametrize("db_backend", ["sqlite"])  # logic, not SQL: one database is enough
def test_tags_people_apply_teach_suggestions_a_person_confirms(workspace: Workspace) -> None:
    ids = _send(workspace, CRASH + EXPORT)
    extra = _send(
        workspace, ["Settings crash again on my phone", "Need PDF exports of reports"], prefix="t"
    )
    process(workspace)
    with transaction(workspace.sessions) as s:
        bug = tags.create_tag(s, TagCreate(name="bug"), "test")
        idea = tags.create_tag(s, TagCreate(name="idea"), "test")
        for i in ids[:6]:
            tags.apply_tag(s, i, bug.id, "test")
        for i in ids[6:]:
            tags.apply_tag(s, i, idea.id, "test")
    assert tags.suggest(workspace) >= 2
    with workspace.sessions() as s:
        suggested = {
            (t.item_id, t.tag_id): t.confidence
            for t in s.scalars(select(ItemTag).where(ItemTag.state == "suggested"))
        }
    assert (extra[0], bug.id) in suggested and (extra[1], idea.id) in suggested
    assert suggested[(extra[0], bug.id)] >= 0.6  # type: ignore[operator]
    with transaction(workspace.sessions) as s:
        tags.apply_tag(s, extra[0], bug.id, "pm")  # confirmed
        tags.remove_tag(s, extra[1], idea.id, "pm")  # rejected: never suggested again
    tags.suggest(workspace)
    with workspace.sessions() as s:
        states = {(t.item_id, t.tag_id): t.state for t in s.scalars(select(ItemTag))}
    assert states[(extra[0], bug.id)] == "applied"
    assert states[(extra[1], idea.id)] == "rejected"
