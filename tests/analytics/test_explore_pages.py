"""The explorer pages answer the question in their address: trends, funnels (with the people
at each step, savable as a cohort), retention, stickiness, lifecycle and paths, each with its
numbers, SQL and CSV; a mistake is named beside the form; viewers read, only writers save."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest

from productops.analytics import store
from productops.analytics.settings import events_file
from productops.core.models import Role
from productops.core.workspace import Workspace
from tests.analytics.insights_data import write_store
from tests.conftest import sign_in

MAY = {"start": "2024-05-01", "end": "2024-05-31"}


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    write_store(events_file(sqlite_workspace))
    yield sqlite_workspace
    store.close_writer(events_file(sqlite_workspace))


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_every_explorer_answers_with_numbers_sql_and_csv(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer).client
    pages = {
        "/insights/trends": {
            "s_kind": ["events", "people"],
            "s_event": ["export", "*"],
            "formula": "A / B",
            "breakdown": "account.plan",
            "grain": "week",
            "compare": "1",
            "fp": "event.$browser",
            "fo": "neq",
            "fv": "Safari",
        },
        "/insights/funnel": {"steps": ["tour_started", "tour_step", "tour_done"]},
        "/insights/retention": {"breakdown": "account.plan", "grain": "week"},
        "/insights/stickiness": {"event": "report_shared", "breakdown": "person.country"},
        "/insights/lifecycle": {"event": "report_created", "grain": "week"},
        "/insights/paths": {"event": "tour_started", "depth": "3"},
    }
    for path, params in pages.items():
        page = viewer.get(path, params={**MAY, **params})
        assert page.status_code == 200, (path, page.text[:500])
        assert "events_resolved" in page.text, path  # the SQL is on the page
        assert 'id="explore-result"' in page.text
        exported = viewer.get(path, params={**MAY, **params, "format": "csv"})
        assert exported.status_code == 200 and exported.headers["content-type"].startswith(
            "text/csv"
        )
        assert rows(exported.text), path
    # what the form sends as it is: an empty series row, an empty filter row
    form = viewer.get(
        "/insights/trends",
        params={**MAY, "s_kind": ["people", ""], "s_event": ["*", ""], "fp": "", "fv": ""},
    )
    assert form.status_code == 200, form.text[:300]
    table = viewer.get(
        "/insights/trends",
        params={
            **MAY,
            "s_event": "report_shared",
            "grain": "month",
            "display": "table",
            "format": "csv",
        },
    )
    assert rows(table.text) == [
        {"series": "A", "label": "report_shared (events)", "2024-05-01": "15.0"}
    ]
    number = viewer.get(
        "/insights/trends",
        params={**MAY, "s_kind": "people", "s_event": "report_shared", "display": "number"},
    )
    assert '<p class="number">5</p>' in number.text
    funnel = viewer.get("/insights/funnel", params={**MAY, "steps": ["tour_started", "tour_done"]})
    assert "/insights/funnel/people?" in funnel.text
    assert "Time to convert" in funnel.text and "What goes with converting" in funnel.text
    flow = viewer.get("/insights/paths", params={**MAY, "event": "tour_started", "depth": "3"}).text
    assert "<svg" in flow and "/insights/paths/people?" in flow and "tour_skipped (1)" in flow


def test_the_people_of_a_funnel_step_and_of_a_path_node(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    q = {**MAY, "steps": ["tour_started", "tour_done"], "step": "1", "which": "dropped"}
    page = editor.client.get("/insights/funnel/people", params=q)
    assert page.status_code == 200 and "planted-4" in page.text and "planted-0" not in page.text
    exported = editor.client.get("/insights/funnel/people", params={**q, "format": "csv"})
    assert [r["person_id"] for r in rows(exported.text)] == ["planted-4"]
    saved = editor.post(
        "/insights/funnel/people/cohort", {"name": "Skipped the tour", "people": "planted-4"}
    )
    assert saved.status_code == 303  # type: ignore[attr-defined]
    node = editor.client.get(
        "/insights/paths/people",
        params={**MAY, "event": "tour_started", "depth": "3", "step": "2", "node": "tour_step"},
    )
    assert node.status_code == 200
    assert all(f"planted-{i}" in node.text for i in range(4)) and "planted-4" not in node.text
    viewer = sign_in(ws, Role.viewer)
    refused = viewer.post("/insights/funnel/people/cohort", {"name": "x", "people": "planted-4"})
    assert refused.status_code == 403  # type: ignore[attr-defined]


def test_a_mistake_is_named_beside_the_form_and_untrusted_text_is_escaped(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer).client
    typo = viewer.get("/insights/trends", params={**MAY, "s_event": "exprot"})
    assert typo.status_code == 422 and "did you mean" in typo.text
    bad = viewer.get("/insights/trends", params={**MAY, "fp": "plan", "fo": "eq", "fv": "pro"})
    assert bad.status_code == 422 and "person.TRAIT" in bad.text
    evil = "<script>alert(1)</script>"
    page = viewer.get("/insights/retention", params={**MAY, "breakdown": f"person.{evil}"})
    assert evil not in page.text
    page = viewer.get("/insights/trends", params={**MAY, "formula": evil})
    assert page.status_code == 422 and evil not in page.text


def test_the_pages_need_a_signed_in_person(ws: Workspace) -> None:
    from fastapi.testclient import TestClient

    from productops.web.app import create_app

    anon = TestClient(create_app(ws), follow_redirects=False)
    for path in ("/insights/trends", "/insights/paths", "/insights/funnel/people"):
        assert anon.get(path).status_code in (302, 303, 307), path
