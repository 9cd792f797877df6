"""Dashboards in depth (acceptance item 7): a paths insight draws its flow on a dashboard;
breakdowns of retention, stickiness and lifecycle draw charts; the dashboard's filters reach
catalog-metric panels and SQL panels say they do not; panels take a third, half, two thirds
or the full width; a reader looks at another range through the address without saving it,
an editor saves it; every write needs an editor and the form's token; the explorers answer
their own addresses (no shadowed copies left in the dashboards' routes).

The numbers come from the small story of `tests/analytics/test_analyses.py` (January 2024)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from productops.analytics import dashboards, saved, store
from productops.analytics.dashboards.insights import (
    CANNOT_DRAW,
    InsightRef,
    Scope,
    check_params,
    insight_panel,
)
from productops.analytics.settings import events_file
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.analytics.test_analyses import write_story
from tests.conftest import api_key, sign_in

FUNNEL = "steps=signup&steps=report&window=14&start=2024-01-01&end=2024-01-31"
PATHS = "event=signup&direction=after&depth=3&min_share=0&start=2024-01-01&end=2024-01-31"
SQL = "SELECT ts::DATE AS day, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"
METRICS = """\
metrics:
  - name: reports
    label: Reports created
    type: count
    event: report
"""
SQL_NOTE = "Dashboard filters don't apply to SQL queries"


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    write_story(events_file(sqlite_workspace))
    (sqlite_workspace.path / "metrics.yml").write_text(METRICS)
    yield sqlite_workspace
    store.close_writer(events_file(sqlite_workspace))


def _save(ws: Workspace, kind: str, title: str, params: dict[str, object]) -> int:
    with transaction(ws.sessions) as s:
        return saved.save_insight(s, kind, title, check_params(kind, params), actor="t").id


def _board(ws: Workspace, name: str, panels: list[dict[str, Any]]) -> int:
    with transaction(ws.sessions) as s:
        return int(dashboards.save_dashboard(s, ws, name, "", panels, actor="t").id)


def _article(page: str, key: str) -> str:
    """The HTML of one panel (`<article id="panel-N">`)."""
    return html.unescape(page.split(f'<article class="panel" id="{key}"')[1].split("</article>")[0])


# --- 6. the explorers answer their own addresses ---------------------------------------------


def _page_routes(routes: list[Any]) -> Iterator[Any]:
    for r in routes:
        inner = getattr(r, "original_router", None) or getattr(r, "router", None)
        if inner is not None and inner is not r:
            yield from _page_routes(list(inner.routes))
        elif getattr(r, "path", None):
            yield r


def test_no_insights_page_is_answered_twice(sqlite_workspace: Workspace) -> None:
    """The dashboards' old funnel and retention pages were shadowed by the explorers (which
    are registered first): a second GET route on one address is dead code."""
    app = create_app(sqlite_workspace)
    seen: dict[str, str] = {}
    for r in _page_routes(list(app.routes)):
        if not r.path.startswith("/insights") or "GET" not in (getattr(r, "methods", None) or ()):
            continue
        where = f"{r.endpoint.__module__}.{r.endpoint.__name__}"
        assert r.path not in seen, f"GET {r.path}: {seen[r.path]} shadows {where}"
        seen[r.path] = where
    assert seen["/insights/funnel"].startswith("productops.analytics.explore.")
    assert seen["/insights/retention"].startswith("productops.analytics.explore.")


# --- 1. paths on a dashboard ------------------------------------------------------------------


def test_a_paths_insight_draws_its_flow_on_a_dashboard(ws: Workspace) -> None:
    paths_id = _save(ws, "paths", "After sign-up", {"query": PATHS})
    board = _board(ws, "Flows", [{"insight": paths_id, "width": "full"}])
    viewer = sign_in(ws, Role.viewer)
    page = viewer.client.get(f"/insights/dashboards/{board}")
    assert page.status_code == 200
    panel = _article(page.text, "panel-0")
    assert CANNOT_DRAW not in panel
    assert '<svg viewBox="0 0' in panel and 'class="paths-flow"' in panel
    # the steps after signup: alice and carol report, bob visits again
    assert ">signup (4)</text>" in panel and "report" in panel
    links = re.findall(r'<a href="(/insights/paths/people\?[^"]+)"', panel)
    assert links and all("start=2024-01-01" in u and "end=2024-01-31" in u for u in links)
    people = viewer.client.get(links[0].replace("&amp;", "&"))
    assert people.status_code == 200
    # the saved insight's own page draws the same flow
    own = viewer.client.get(f"/insights/saved/{paths_id}").text
    assert 'class="paths-flow"' in own and CANNOT_DRAW not in own
    # A dashboard filter goes into the flow and into its links.
    with transaction(ws.sessions) as s:
        dashboards.set_scope(s, board, {"filters": ["account.plan:eq:free"]}, "t")
    page = viewer.client.get(f"/insights/dashboards/{board}").text
    panel = _article(page, "panel-0")
    assert ">signup (1)</text>" in panel  # bob only
    assert "filter=account.plan%3Aeq%3Afree" in panel


# --- 2. breakdowns draw charts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "query", "field"),
    [
        ("retention", "start_event=signup&return_event=report&grain=week", "share"),
        ("stickiness", "event=report&grain=day", "active_periods"),
        ("lifecycle", "grain=week", "status"),
    ],
)
def test_a_breakdown_panel_draws_a_chart(ws: Workspace, kind: str, query: str, field: str) -> None:
    plain = insight_panel(ws, InsightRef(1, kind, kind, "", {"query": query}), Scope(days=31))
    ref = InsightRef(2, kind, kind, "", {"query": query + "&breakdown=account.plan"})
    panel = insight_panel(ws, ref, Scope(days=31))
    assert not panel.description.startswith(CANNOT_DRAW), panel.description
    assert "breakdown" in panel.data.columns
    assert plain.chart is not None and panel.chart is not None, kind
    text = str(panel.chart)
    assert "breakdown" in text and field in text
    values = {str(v) for v in panel.data["breakdown"]}
    assert "pro" in values and len(values) >= 2  # one line (bars) per value


# --- 3. filters: catalog metrics follow them, SQL panels say they do not -----------------


def _total(panel: dashboards.Panel) -> float:
    return float(panel.data["value"].sum())


def test_dashboard_filters_reach_metrics_and_sql_panels_say_they_cannot(ws: Workspace) -> None:
    sql_id = _save(ws, "sql", "Events per day", {"query": SQL})
    metric_id = _save(ws, "metric", "Reports (saved)", {"metric": "reports", "grain": "week"})
    panels: list[dict[str, Any]] = [
        {"metric": "reports", "grain": "week", "days": 400},
        {"insight": metric_id},
        {"insight": sql_id},
    ]
    board = _board(ws, "Filtered", panels)
    scope = {"start": "2024-01-01", "end": "2024-01-31"}
    drawn = dashboards.dashboard_panels(ws, panels, settings=scope)
    # reports: alice 3, carol 1 (her events carry acme, plan pro), erin 1 (no account)
    assert _total(drawn[0]) == 5 and _total(drawn[1]) == 5
    assert drawn[2].notes == (
        "The dashboard's date range doesn't apply either: the query sets its dates.",
    )
    # both follow the dashboard's range: by Jan 5, alice's and erin's reports of Jan 2
    early = dashboards.dashboard_panels(
        ws, panels, settings={"start": "2024-01-01", "end": "2024-01-05"}
    )
    assert _total(early[0]) == 2 and _total(early[1]) == 2
    pro = dashboards.dashboard_panels(
        ws, panels, settings={**scope, "filters": ["account.plan:eq:pro"]}
    )
    assert _total(pro[0]) == 4 and _total(pro[1]) == 4
    assert "WHERE" in next(iter(pro[0].sql.values())).upper()
    free = dashboards.dashboard_panels(
        ws, panels, settings={**scope, "filters": ["account.plan:eq:free"]}
    )
    assert _total(free[0]) == 0 and _total(free[1]) == 0
    assert any(SQL_NOTE in n for n in free[2].notes)
    # a cohort of the dashboard too: carol alone reported once
    from productops.analytics.cohorts import service as cohorts

    with transaction(ws.sessions) as s:
        carol = cohorts.create_cohort(s, "Carol", people=["carol"], actor="t").id
    only = dashboards.dashboard_panels(ws, panels, settings={**scope, "cohorts": [carol]})
    assert _total(only[0]) == 1 and _total(only[1]) == 1
    # The page says it on the SQL panel, not on the others.
    with transaction(ws.sessions) as s:
        dashboards.set_scope(s, board, {**scope, "filters": ["account.plan:eq:free"]}, "t")
    page = sign_in(ws, Role.viewer).client.get(f"/insights/dashboards/{board}").text
    assert SQL_NOTE in _article(page, "panel-2")
    assert SQL_NOTE not in _article(page, "panel-0") + _article(page, "panel-1")


# --- 4. widths, renaming ------------------------------------------------------------------


def test_panels_take_a_third_half_two_thirds_or_all_of_the_width(ws: Workspace) -> None:
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    sql_id = _save(ws, "sql", "Events per day", {"query": SQL})
    board = _board(ws, "Sizes", [{"insight": funnel_id}, {"insight": sql_id}])
    editor = sign_in(ws, Role.editor)
    for width in ("third", "two-thirds", "full", "half"):
        r = editor.post(f"/insights/dashboards/{board}/panels/0/resize", {"width": width})
        assert r.status_code == 303  # type: ignore[attr-defined]
        with ws.sessions() as s:
            assert dashboards.get_dashboard(s, board).panels[0]["width"] == width
    editor.post(f"/insights/dashboards/{board}/panels/1/resize", {"width": "two-thirds"})
    editor.post(f"/insights/dashboards/{board}/panels/0/resize", {"width": "third"})
    page = editor.client.get(f"/insights/dashboards/{board}").text
    assert 'class="panel-third" id="slot-0"' in page
    assert 'class="panel-two-thirds" id="slot-1"' in page
    assert 'value="third" class="outline secondary compact" aria-pressed="true"' in page
    bad = editor.post(f"/insights/dashboards/{board}/panels/0/resize", {"width": "quarter"})
    assert bad.status_code == 422  # type: ignore[attr-defined]
    # A title of the dashboard's own, and back to the insight's.
    editor.post(f"/insights/dashboards/{board}/panels/0/rename", {"title": "Sign-up → report"})
    page = editor.client.get(f"/insights/dashboards/{board}").text
    assert "Sign-up → report" in _article(page, "panel-0")
    editor.post(f"/insights/dashboards/{board}/panels/0/rename", {"title": ""})
    assert "Activation" in _article(
        editor.client.get(f"/insights/dashboards/{board}").text, "panel-0"
    )
    # A panel dropped on another takes its place (the page's drag and drop posts this).
    life_id = _save(ws, "lifecycle", "Lifecycle", {"query": "grain=week"})
    editor.post(f"/insights/dashboards/{board}/add", {"insight_id": str(life_id)})
    r = editor.post(f"/insights/dashboards/{board}/panels/2/move", {"to": "0"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    with ws.sessions() as s:
        order = [p["insight"] for p in dashboards.get_dashboard(s, board).panels]
    assert order == [life_id, funnel_id, sql_id]
    for to in ("3", "-1", "x"):
        bad = editor.post(f"/insights/dashboards/{board}/panels/0/move", {"to": to})
        assert bad.status_code == 422, to  # type: ignore[attr-defined]
    editor.post(f"/insights/dashboards/{board}/panels/0/remove")
    # The API takes the four widths, and no other.
    key = api_key(ws, "write")
    client = TestClient(create_app(ws))
    auth = {"Authorization": f"Bearer {key}"}
    ok = client.put(
        f"/api/v1/dashboards/{board}/panels",
        json=[{"insight": sql_id, "width": "two-thirds"}, {"insight": funnel_id, "width": "third"}],
        headers=auth,
    )
    assert ok.status_code == 200
    assert [p["width"] for p in ok.json()["panels"]] == ["two-thirds", "third"]
    no = client.put(
        f"/api/v1/dashboards/{board}/panels",
        json=[{"insight": sql_id, "width": "1/4"}],
        headers=auth,
    )
    assert no.status_code == 422


# --- 5. a reader's own range -------------------------------------------------------------


def _first_step(page: str) -> int:
    step_one = r"<tr><td>all</td><td>1</td><td>signup</td><td>(\d+)</td>"
    rows = re.findall(step_one, _article(page, "panel-0"))
    assert rows, "the funnel's first step is in the panel's numbers"
    return int(rows[0])


def test_a_viewer_looks_at_another_range_without_saving_it(ws: Workspace) -> None:
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    board = _board(ws, "Ranges", [{"insight": funnel_id}])
    with transaction(ws.sessions) as s:
        dashboards.set_scope(s, board, {"start": "2024-01-01", "end": "2024-01-31"}, "t")
    viewer = sign_in(ws, Role.viewer)
    url = f"/insights/dashboards/{board}"
    assert _first_step(viewer.client.get(url).text) == 4
    same = viewer.client.get(url + "?range=&start=2024-01-01&end=2024-01-31").text
    assert "for you only" not in same  # the form sent back with the saved range
    mine = viewer.client.get(url + "?start=2024-01-01&end=2024-01-05")
    assert mine.status_code == 200
    assert _first_step(mine.text) == 3  # alice, erin and bob signed up by Jan 5
    assert "This range is for you only" in mine.text
    assert "Save this range for everyone" not in mine.text  # a viewer saves nothing
    with ws.sessions() as s:  # nothing saved
        assert dashboards.get_dashboard(s, board).settings["end"] == "2024-01-31"
    # the panel's refresh, its CSV and the refresh link keep the reader's range
    assert (
        f'href="/insights/dashboards/{board}/panels/0.csv?start=2024-01-01&amp;end=2024-01-05"'
        in mine.text
    )
    csv = viewer.client.get(f"{url}/panels/0.csv?start=2024-01-01&end=2024-01-05").text
    assert "\nall,1,signup,3," in csv.replace("\r\n", "\n")
    fragment = viewer.client.get(f"{url}/panel/0?start=2024-01-01&end=2024-01-05").text
    assert _first_step(fragment) == 3
    # a preset, ending on the dashboard's end: the last 7 days to Jan 31 → carol only
    week = viewer.client.get(url + "?range=7d")
    assert _first_step(week.text) == 1
    assert viewer.client.get(url + "?range=year").status_code == 422
    assert viewer.client.get(url + "?start=2024-02-01&end=2024-01-01").status_code == 422
    assert viewer.client.get(url + "?start=yesterday").status_code == 422
    assert _first_step(viewer.client.get(url).text) == 4  # the others still see the saved one
    # An editor saves the range they look at, filters kept.
    with transaction(ws.sessions) as s:
        dashboards.set_scope(
            s,
            board,
            {"start": "2024-01-01", "end": "2024-01-31", "filters": ["event.x:is_not_set"]},
            "t",
        )
    editor = sign_in(ws, Role.editor)
    page = editor.client.get(url + "?start=2024-01-01&end=2024-01-05").text
    assert "Save this range for everyone" in page
    form = page.split('id="range-override"')[1].split("</form>")[0]
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))
    assert fields["start"] == "2024-01-01" and fields["end"] == "2024-01-05"
    r = editor.post(
        f"/insights/dashboards/{board}/scope",
        {k: v for k, v in fields.items() if k != "csrf_token"},
    )
    assert r.status_code == 303  # type: ignore[attr-defined]
    with ws.sessions() as s:
        settings = dashboards.get_dashboard(s, board).settings
    assert settings["end"] == "2024-01-05" and settings["filters"] == ["event.x:is_not_set"]
    assert _first_step(viewer.client.get(url).text) == 3


# --- security -------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.viewer, Role.researcher])
def test_every_dashboard_write_needs_an_editor(ws: Workspace, role: Role) -> None:
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    board = _board(ws, "Guarded", [{"insight": funnel_id}, {"metric": "reports"}])
    reader = sign_in(ws, role)
    writes: list[tuple[str, dict[str, str]]] = [
        ("/insights/dashboards", {"name": "Mine", "metric": "reports"}),
        (f"/insights/dashboards/{board}/add", {"insight_id": str(funnel_id)}),
        (f"/insights/dashboards/{board}/scope", {"days": "7"}),
        (f"/insights/dashboards/{board}/panels/1/up", {}),
        (f"/insights/dashboards/{board}/panels/0/down", {}),
        (f"/insights/dashboards/{board}/panels/0/move", {"to": "1"}),
        (f"/insights/dashboards/{board}/panels/0/resize", {"width": "third"}),
        (f"/insights/dashboards/{board}/panels/0/wide", {}),
        (f"/insights/dashboards/{board}/panels/0/rename", {"title": "x"}),
        (f"/insights/dashboards/{board}/panels/0/remove", {}),
        (f"/insights/saved/{funnel_id}/add", {"dashboard_id": str(board)}),
        ("/insights/annotations", {"day": "2024-01-10", "text": "launch"}),
        (f"/insights/dashboards/{board}/edit", {"name": "Taken over"}),
        (f"/insights/dashboards/{board}/delete", {}),
    ]
    for url, data in writes:
        assert reader.post(url, data).status_code == 403, url  # type: ignore[attr-defined]
    with ws.sessions() as s:
        row = dashboards.get_dashboard(s, board)
        assert len(row.panels) == 2 and row.panels[0]["width"] == "half" and not row.settings
        assert row.name == "Guarded"
    # The page offers a reader no editing tools (the range form only reads).
    page = reader.client.get(f"/insights/dashboards/{board}").text
    assert "/panels/0/resize" not in page and "/scope" not in page and 'method="get"' in page
    # An editor without the form's token is refused too.
    editor = sign_in(ws, Role.editor)
    for url, data in writes:
        assert editor.client.post(url, data=data).status_code == 403, url
    # Read keys change nothing through the API.
    client = TestClient(create_app(ws))
    read = {"Authorization": f"Bearer {api_key(ws, 'read')}"}
    assert (
        client.put(f"/api/v1/dashboards/{board}/panels", json=[], headers=read).status_code == 403
    )
    assert client.put(f"/api/v1/dashboards/{board}/scope", json={}, headers=read).status_code == 403
    assert client.delete(f"/api/v1/dashboards/{board}", headers=read).status_code == 403


# --- the dashboard itself: name, description, delete; the API's range ---------------------


def test_an_editor_renames_and_deletes_a_dashboard_from_its_page(ws: Workspace) -> None:
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    board = _board(ws, "Draft", [{"insight": funnel_id, "width": "third"}])
    editor = sign_in(ws, Role.editor)
    r = editor.post(
        f"/insights/dashboards/{board}/edit", {"name": "Growth", "description": "<b>weekly</b>"}
    )
    assert r.status_code == 303  # type: ignore[attr-defined]
    page = editor.client.get(f"/insights/dashboards/{board}").text
    assert "<h1>Growth</h1>" in page and "&lt;b&gt;weekly&lt;/b&gt;" in page
    with ws.sessions() as s:
        assert dashboards.get_dashboard(s, board).panels[0]["width"] == "third"  # panels kept
    other = _board(ws, "Other", [])
    taken = editor.post(f"/insights/dashboards/{other}/edit", {"name": "Growth"})
    assert taken.status_code == 409  # type: ignore[attr-defined]
    gone = editor.post(f"/insights/dashboards/{board}/delete")
    assert gone.status_code == 303  # type: ignore[attr-defined]
    assert editor.client.get(f"/insights/dashboards/{board}").status_code == 404
    with ws.sessions() as s:
        assert saved.get_insight(s, funnel_id).title == "Activation"  # the insight stays


def test_the_api_draws_a_dashboard_over_another_range_without_saving_it(ws: Workspace) -> None:
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    board = _board(ws, "Api", [{"insight": funnel_id}, {"metric": "reports", "grain": "day"}])
    with transaction(ws.sessions) as s:
        dashboards.set_scope(s, board, {"start": "2024-01-01", "end": "2024-01-31"}, "t")
    client = TestClient(create_app(ws))
    read = {"Authorization": f"Bearer {api_key(ws, 'read')}"}
    url = f"/api/v1/dashboards/{board}"

    def first_step(query: str) -> int:
        r = client.get(url + query, headers=read)
        assert r.status_code == 200, r.text
        return int(r.json()[0]["data"][0]["persons"])

    assert first_step("") == 4
    assert first_step("?start=2024-01-01&end=2024-01-05") == 3
    assert first_step("?days=7&end=2024-01-31") == 1
    assert client.get(url + "?start=2024-02-01&end=2024-01-01", headers=read).status_code == 422
    assert client.get(url + "?days=0", headers=read).status_code == 422
    with ws.sessions() as s:
        assert dashboards.get_dashboard(s, board).settings["end"] == "2024-01-31"


# --- an editor's own range survives an edit from the page -----------------------------------


def test_an_editor_keeps_their_own_range_after_editing_a_panel(ws: Workspace) -> None:
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    sql_id = _save(ws, "sql", "Events a day", {"query": SQL})
    board = _board(ws, "Mine", [{"insight": funnel_id}, {"insight": sql_id}])
    editor = sign_in(ws, Role.editor)
    url = f"/insights/dashboards/{board}"
    page = editor.client.get(url + "?range=custom&start=2024-01-01&end=2024-01-05").text
    # every button's form posts to an address that keeps the range, the drag form too
    own = "?start=2024-01-01&amp;end=2024-01-05"
    for action in ("down", "resize", "rename", "remove"):
        assert f'action="{url}/panels/0/{action}{own}"' in page, action
    assert f'data-query="{own}"' in page
    assert f'action="{url}/add{own}"' in page and f'action="{url}/edit{own}"' in page
    back = f"{url}?start=2024-01-01&end=2024-01-05"
    for action, data in (
        ("down", {}),
        ("move", {"to": "0"}),
        ("resize", {"width": "full"}),
        ("rename", {"title": "Mine"}),
    ):
        r = editor.post(f"{url}/panels/0/{action}?start=2024-01-01&end=2024-01-05", data)
        assert r.status_code == 303 and r.headers["location"].startswith(back + "#"), action  # type: ignore[attr-defined]
    r = editor.post(f"{url}/panels/0/up?range=7d", {})
    assert r.headers["location"] == f"{url}?days=7#panel-0"  # type: ignore[attr-defined]
    r = editor.post(f"{url}/edit?start=2024-01-01&end=2024-01-05", {"name": "Mine, renamed"})
    assert r.headers["location"] == back  # type: ignore[attr-defined]
    r = editor.post(f"{url}/add?start=2024-01-01&end=2024-01-05", {"insight_id": str(sql_id)})
    assert r.headers["location"] == back + "#panel-2"  # type: ignore[attr-defined]
    # without a range of one's own, back to the saved one
    r = editor.post(f"{url}/panels/0/down", {})
    assert r.headers["location"] == f"{url}#panel-1"  # type: ignore[attr-defined]
