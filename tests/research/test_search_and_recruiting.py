"""One search over research and feedback answers insights first, then highlights, then
notes, then raw feedback, under filters; a screener says who is eligible and why the others
are not; invitations go through the rules."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import update

from productops import analytics, feedback
from productops.analytics import store
from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.feedback.items import service as feedback_items
from productops.feedback.processing.service import embed_pending
from productops.feedback.schemas import FeedbackCreate
from productops.research.models import Chunk, Participant
from productops.research.recruiting import service as recruiting
from productops.research.repository import service as repo
from productops.research.schemas import InsightCreate, NoteCreate, Screener
from productops.research.search import service as search_service
from productops.research.search.index import embed_pending as embed_research
from productops.research.search.service import Filters, what_we_know
from tests.research.support import ZELDA_ID, highlight_words, world


def test_what_we_know_comes_insights_first_then_highlights_notes_and_feedback(
    workspace: Workspace,
) -> None:
    w = world(workspace)
    hid = highlight_words(workspace, w.note_id, "the export to PDF is broken for us")
    with transaction(workspace.sessions) as s:
        tag = repo.tag_highlight(s, hid, [], "test", new_tags=["export"])[0]
        repo.create_insight(
            s,
            InsightCreate(title="PDF export breaks how teams share reports", highlight_ids=[hid]),
            "test",
        )
        feedback_items.create_feedback(
            s, [FeedbackCreate(external_id="fb-9", text="Exporting a report to PDF fails")], "test"
        )
    embed_pending(workspace)
    embed_research(workspace)
    answer = what_we_know(workspace, "pdf export broken")
    assert [f.kind for f in answer.insights] == ["insight"]
    assert [f.ref_id for f in answer.highlights] == [hid]
    assert [f.ref_id for f in answer.notes] == [w.note_id]
    assert [h.item.external_id for h in answer.feedback] == ["fb-9"]
    # Meaning alone finds it too (no shared word).
    assert what_we_know(workspace, "document download malfunction").highlights
    only_study = what_we_know(workspace, "pdf export", Filters(study_id=w.study_id))
    assert only_study.feedback == [] and only_study.feedback_left_out
    tagged = what_we_know(workspace, "pdf export", Filters(tag_id=tag))
    assert [f.ref_id for f in tagged.highlights] == [hid]
    other_segment = what_we_know(workspace, "pdf export", Filters(segment="SMB"))
    assert other_segment.highlights == [] and other_segment.insights == []
    later = what_we_know(
        workspace, "pdf export", Filters(since=utcnow().date() + dt.timedelta(days=2))
    )
    assert later.insights == [] and later.notes == []


def test_a_screener_says_who_is_eligible_and_why_the_others_are_not(workspace: Workspace) -> None:
    w = world(workspace)
    path = analytics.events_file(workspace)
    now = utcnow().replace(tzinfo=None)
    with analytics.bulk(path) as con:
        for i in range(3):
            con.execute(
                "INSERT INTO events VALUES (?, 'Report Exported', 'track', ?, ?, ?, ?, NULL, NULL, "
                "'api', ?, ?, hash(?), 0, true)",
                [f"e{i}", now, now, ZELDA_ID, ZELDA_ID, json.dumps({}), ZELDA_ID, f"e{i}"],
            )
        store.derive_all(con)
    criteria = Screener(segments=["Enterprise"], used_event="Report Exported", used_at_least=2)
    with workspace.sessions() as s:
        result = recruiting.eligibility(workspace, s, criteria, w.rules)
    by_id = {c.id: c for c in result.candidates}
    assert by_id[w.zelda].eligible
    assert by_id[w.other].reasons == ["did not use Report Exported 2+ times in 30 days"]
    with transaction(workspace.sessions) as s:
        s.execute(update(Participant).where(Participant.id == w.zelda).values(status="opted_out"))
    with workspace.sessions() as s:
        result = recruiting.eligibility(workspace, s, criteria, w.rules)
    zelda = {c.id: c for c in result.candidates}[w.zelda]
    assert not zelda.eligible and zelda.reasons == ["opted out: never contacted again"]
    assert not zelda.overridable


def test_invitations_go_through_the_rules_and_are_exported(workspace: Workspace) -> None:
    w = world(workspace)
    result = recruiting.invite(
        workspace, w.study_id, [w.zelda, w.other], "test", rules=w.rules, vault=w.vault,
        can_override=False,
    )  # fmt: skip
    assert sorted(result.invited) == sorted([w.zelda, w.other])
    assert result.export is not None and len(result.export[1]) == 2
    again = recruiting.invite(
        workspace, w.study_id, [w.zelda], "test", rules=w.rules, vault=w.vault, can_override=False
    )
    assert again.invited == [] and "in cooldown" in again.skipped[w.zelda]
    forced = recruiting.invite(
        workspace, w.study_id, [w.zelda], "test", rules=w.rules, vault=w.vault,
        can_override=True, override=True,
    )  # fmt: skip
    assert forced.overridden == [w.zelda]


def test_new_research_is_found_by_meaning_once_its_vectors_are_written(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The vectors held in memory follow the index: at once after this process's job wrote
    new ones, and within `FULL_CHECK_SECONDS` when another process (a worker) did."""
    w = world(workspace)
    embed_research(workspace)
    question = "customers are billed in a foreign currency"  # no word of the note below
    what_we_know(workspace, question, include_feedback=False)  # the vectors are in memory now
    with transaction(workspace.sessions) as s:
        note = repo.create_note(
            s,
            w.study_id,
            NoteCreate(title="Invoices", body="Invoices show euros, not dollars."),
            "t",
        )
    embed_research(workspace)  # this process: the index is forgotten and reloaded
    found = what_we_know(workspace, question, include_feedback=False)
    assert note.id in [f.ref_id for f in found.notes]

    with transaction(workspace.sessions) as s:
        other = repo.create_note(
            s, w.study_id, NoteCreate(title="Refunds", body="Refunds take weeks to arrive."), "t"
        )
    # Another process writes the vectors: this one does not know until its full check.
    vectors = feedback.embed(["Refunds\nRefunds take weeks to arrive."])
    with transaction(workspace.sessions) as s:
        s.execute(
            update(Chunk).where(Chunk.note_id == other.id).values(vector=vectors[0].tobytes())
        )
    monkeypatch.setattr(search_service, "FULL_CHECK_SECONDS", 0.0)
    late = what_we_know(workspace, "waiting a long time for money back", include_feedback=False)
    assert other.id in [f.ref_id for f in late.notes]
