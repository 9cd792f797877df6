"""The repository keeps exact spans: a highlight is the words at its place, keeps its study,
session and participant, follows its words when the note is edited, and the search index
names no participant."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from productops.core.db import transaction
from productops.core.errors import InvalidInput, NotFound
from productops.core.workspace import Workspace
from productops.research.models import Chunk
from productops.research.repository import service as repo
from productops.research.schemas import InsightCreate, NoteUpdate, StudyCreate, StudyUpdate
from tests.research.support import ZELDA, ZELDA_EMAIL, highlight_words, world


def test_a_highlight_keeps_its_participant_session_and_study(workspace: Workspace) -> None:
    w = world(workspace)
    hid = highlight_words(workspace, w.note_id, "the export to PDF is broken for us")
    interviewer = highlight_words(workspace, w.note_id, "What would good look like?")
    with workspace.sessions() as s:
        h = repo.get_highlight(s, hid)
        assert (h.study_id, h.session_id, h.participant_id) == (w.study_id, w.session_id, w.zelda)
        assert h.quote == "the export to PDF is broken for us"
        note = repo.get_note(s, w.note_id)
        assert note.body[h.start : h.end] == h.quote
        # The interviewer's words are nobody's research data.
        assert repo.get_highlight(s, interviewer).participant_id is None


def test_highlights_follow_their_words_when_the_note_is_edited(workspace: Workspace) -> None:
    w = world(workspace)
    hid = highlight_words(workspace, w.note_id, "A scheduled export every Monday")
    gone = highlight_words(workspace, w.note_id, "How do you export reports today?")
    with transaction(workspace.sessions) as s:
        note = repo.get_note(s, w.note_id)
        body = "Added a line at the top.\n\n" + note.body.replace(
            "How do you export reports today?", "How do you share?"
        )
        _, lost = repo.update_note(s, w.note_id, NoteUpdate(body=body), "test")
    assert lost == 1
    with workspace.sessions() as s:
        h = repo.get_highlight(s, hid)
        assert (
            repo.get_note(s, w.note_id).body[h.start : h.end] == "A scheduled export every Monday"
        )
        with pytest.raises(NotFound):
            repo.get_highlight(s, gone)


def test_a_span_outside_the_note_or_with_other_words_is_refused(workspace: Workspace) -> None:
    w = world(workspace)
    with transaction(workspace.sessions) as s:
        with pytest.raises(InvalidInput, match="outside the note"):
            repo.create_highlight(s, w.note_id, 10, 10_000_000, "test")
        with pytest.raises(InvalidInput, match="not the words"):
            repo.create_highlight(s, w.note_id, 0, 5, "test", quote="other")


def test_the_index_replaces_participants_names_with_pseudonyms(workspace: Workspace) -> None:
    w = world(workspace)
    highlight_words(workspace, w.note_id, "Zelda would love that")
    with workspace.sessions() as s:
        texts = " ".join(s.scalars(select(Chunk.text)))
        from productops.research.models import Participant

        pseudonym = s.get(Participant, w.zelda).pseudonym  # type: ignore[union-attr]
    assert ZELDA not in texts and ZELDA_EMAIL not in texts and "Zelda" not in texts
    assert pseudonym in texts


def test_insights_are_backed_by_highlights_and_tags_are_the_feedback_hubs(
    workspace: Workspace,
) -> None:
    from productops import feedback

    w = world(workspace)
    hid = highlight_words(workspace, w.note_id, "the export to PDF is broken for us")
    with transaction(workspace.sessions) as s:
        tags = repo.tag_highlight(s, hid, [], "test", new_tags=["Export", "pdf"])
        assert len(tags) == 2
        # Same names in any case are the same tags of the one taxonomy.
        assert repo.tag_highlight(s, hid, [], "test", new_tags=["export"]) == tags
        names = {t.name for t, _, _ in feedback.list_tags(s)}
        assert names == {"Export", "pdf"}
        insight = repo.create_insight(
            s, InsightCreate(title="PDF export breaks sharing", highlight_ids=[hid]), "test"
        )
        assert [h.id for h in repo.insight_highlights(s, [insight.id])[insight.id]] == [hid]
        with pytest.raises(NotFound):
            repo.create_insight(s, InsightCreate(title="x", highlight_ids=[999_999]), "test")


def test_a_study_refuses_links_that_do_not_exist_and_dates_backwards(workspace: Workspace) -> None:
    with transaction(workspace.sessions) as s, pytest.raises(NotFound, match="no objective 424242"):
        repo.create_study(s, StudyCreate(title="x", objective_id=424242), "test")
    with transaction(workspace.sessions) as s:
        study = repo.create_study(s, StudyCreate(title="ok"), "test")
        import datetime as dt

        with pytest.raises(NotFound, match="no feature request 77"):
            repo.update_study(s, study.id, StudyUpdate(request_id=77), "test")

        with pytest.raises(InvalidInput, match="ends before it starts"):
            repo.update_study(
                s,
                study.id,
                StudyUpdate(starts_on=dt.date(2026, 5, 1), ends_on=dt.date(2026, 4, 1)),
                "test",
            )
