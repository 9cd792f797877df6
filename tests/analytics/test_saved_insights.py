"""Saved insights, dashboards of any insight, annotations: a PM saves what an explorer shows
(or a SQL query) under a title with its own link, shares it inside the workspace, puts it on
a dashboard next to other kinds, reorders, resizes and removes panels from the page, sets a
range and filters for the whole dashboard, and writes dated notes that every time chart
holding their day draws. Viewers read; only editors change; read keys change nothing."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator

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

XSS = "<script>alert('note')</script>"
FUNNEL = "steps=signup&steps=report&window=14&start=2024-01-01&end=2024-01-31"


@pytest.fixture
def ws(sqlite_workspace: Workspace) -> Iterator[Workspace]:
    write_story(events_file(sqlite_workspace))
    yield sqlite_workspace
    store.close_writer(events_file(sqlite_workspace))


def _save(ws: Workspace, kind: str, title: str, params: dict[str, object]) -> int:
    with transaction(ws.sessions) as s:
        return saved.save_insight(s, kind, title, check_params(kind, params), actor="t").id


def test_every_kind_of_insight_draws_as_a_panel(ws: Workspace) -> None:
    cases = {
        "sql": {"query": "SELECT ts::DATE AS day, count(*) AS n FROM events GROUP BY 1"},
        "funnel": {"query": FUNNEL},
        "retention": {"query": "start_event=signup&return_event=report&grain=week"},
        "stickiness": {"query": "event=report&grain=day"},
        "lifecycle": {"query": "grain=week"},
        "trends": {"query": "s_kind=events&s_event=report&s_kind=people&s_event=*&grain=week"},
    }
    for kind, params in cases.items():
        ref = InsightRef(1, kind, f"A {kind}", "", check_params(kind, params))
        panel = insight_panel(ws, ref, Scope(start=None, days=31))
        assert not panel.description.startswith(CANNOT_DRAW), (kind, panel.description)
        assert len(panel.data), kind
        assert panel.sql, kind  # every number with its SQL
    funnel = insight_panel(ws, InsightRef(2, "funnel", "f", "", {"query": FUNNEL}))
    # signup: alice, bob, erin, carol; report after it: alice and carol (erin reported before).
    assert list(funnel.data["persons"])[:2] == [4, 2]
    unseen = insight_panel(ws, InsightRef(3, "funnel", "f", "", {"query": "steps=Sign+Up&steps=x"}))
    assert unseen.description.startswith(CANNOT_DRAW) and "did you mean" in unseen.description


def test_an_explorer_insight_is_saved_with_a_link_and_shared(ws: Workspace) -> None:
    editor = sign_in(ws, Role.editor)
    explorer = editor.client.get(f"/insights/funnel?{FUNNEL}").text
    assert "Save this insight" in explorer and 'name="page" value="/insights/funnel"' in explorer
    r = editor.post(
        "/insights/saved",
        {"page": "/insights/funnel", "query": FUNNEL, "title": f"Activation {XSS}"},
    )
    assert r.status_code == 303
    url = r.headers["location"]
    viewer = sign_in(ws, Role.viewer)
    page = viewer.client.get(url)
    assert page.status_code == 200
    assert XSS not in page.text and "Activation &lt;script&gt;" in page.text
    assert f'href="/insights/funnel?{FUNNEL.replace("&", "&amp;")}"' in page.text
    assert 'data-chart="insight-' in page.text
    assert "Add to a dashboard" not in page.text  # a viewer reads only
    assert (
        viewer.post("/insights/saved", {"page": "/insights/funnel", "title": "x"}).status_code
        == 403
    )
    listed = viewer.client.get("/insights/saved").text
    assert url in listed
    refused = editor.post("/insights/saved", {"page": "/accounts", "title": "x"})
    assert refused.status_code == 422


def test_a_dashboard_holds_any_insight_and_is_edited_from_its_page(ws: Workspace) -> None:
    sql_id = _save(
        ws,
        "sql",
        "Events per day",
        {"query": "SELECT ts::DATE AS day, count(*) AS n FROM events GROUP BY 1 ORDER BY 1"},
    )
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    life_id = _save(ws, "lifecycle", "Lifecycle", {"query": "grain=week"})
    with transaction(ws.sessions) as s:
        board = dashboards.save_dashboard(
            s, ws, "Mixed", "", [{"insight": sql_id}, {"insight": funnel_id}], actor="t"
        ).id
    editor = sign_in(ws, Role.editor)
    page = editor.client.get(f"/insights/dashboards/{board}").text
    assert page.index("Events per day") < page.index("Activation")
    # Add, then move the funnel up, widen it, remove the SQL panel.
    assert (
        editor.post(
            f"/insights/dashboards/{board}/add", {"insight_id": str(life_id), "width": "full"}
        ).status_code
        == 303
    )
    assert editor.post(f"/insights/dashboards/{board}/panels/1/up").status_code == 303
    assert editor.post(f"/insights/dashboards/{board}/panels/0/wide").status_code == 303
    with ws.sessions() as s:
        panels = dashboards.get_dashboard(s, board).panels
    assert [(p["insight"], p["width"]) for p in panels] == [
        (funnel_id, "full"),
        (sql_id, "half"),
        (life_id, "full"),
    ]
    assert editor.post(f"/insights/dashboards/{board}/panels/1/remove").status_code == 303
    page = editor.client.get(f"/insights/dashboards/{board}").text
    shown = page.split('class="dashboard-grid"')[1].split("Add a saved insight")[0]
    assert "Events per day" not in shown and shown.index("Activation") < shown.index("Lifecycle")
    assert 'class="panel-wide"' in page
    # Viewers see it and cannot change it; forms need the CSRF token.
    viewer = sign_in(ws, Role.viewer)
    assert "Activation" in viewer.client.get(f"/insights/dashboards/{board}").text
    assert viewer.post(f"/insights/dashboards/{board}/panels/0/remove").status_code == 403
    no_token = editor.client.post(f"/insights/dashboards/{board}/panels/0/remove")
    assert no_token.status_code == 403
    # A deleted insight leaves a panel that says so, not an error.
    with transaction(ws.sessions) as s:
        saved.delete_insight(s, life_id, actor="t")
    assert "was deleted" in editor.client.get(f"/insights/dashboards/{board}").text


def test_a_dashboard_wide_range_and_filters_reach_every_panel(ws: Workspace) -> None:
    funnel_id = _save(ws, "funnel", "Activation", {"query": FUNNEL})
    with transaction(ws.sessions) as s:
        board = dashboards.save_dashboard(s, ws, "Scoped", "", [{"insight": funnel_id}], "t").id
    editor = sign_in(ws, Role.editor)
    r = editor.post(
        f"/insights/dashboards/{board}/scope",
        {"start": "2024-01-01", "end": "2024-01-05", "filters": "account.plan:eq:pro"},
    )
    assert r.status_code == 303
    with ws.sessions() as s:
        row = dashboards.get_dashboard(s, board)
        panel = dashboards.dashboard_panels(ws, row.panels, settings=row.settings)[0]
    # signup by Jan 5 in account acme (plan pro): alice only (carol signs up on Jan 30).
    assert list(panel.data["persons"])[:1] == [1]
    bad = editor.post(f"/insights/dashboards/{board}/scope", {"filters": "plan equals pro"})
    assert bad.status_code == 422
    # A cohort for the whole dashboard: only bob (account beta) signed up → 1 at step one.
    from productops.analytics.cohorts import service as cohorts

    with transaction(ws.sessions) as s:
        bob_only = cohorts.create_cohort(s, "Bob", people=["bob"], actor="t").id
    r = editor.client.post(
        f"/insights/dashboards/{board}/scope",
        data={"days": "31", "cohort": str(bob_only), "csrf_token": editor.csrf},
    )
    assert r.status_code == 303
    with ws.sessions() as s:
        row = dashboards.get_dashboard(s, board)
        assert row.settings["cohorts"] == [bob_only]
        panel = dashboards.dashboard_panels(ws, row.panels, settings=row.settings)[0]
    assert list(panel.data["persons"])[:1] == [1]
    assert "cohorts: Bob" in editor.client.get(f"/insights/dashboards/{board}").text


def test_annotations_are_listed_for_charts_and_escaped(ws: Workspace) -> None:
    client = TestClient(create_app(ws))
    write = {"Authorization": f"Bearer {api_key(ws, 'write')}"}
    read = {"Authorization": f"Bearer {api_key(ws, 'read')}"}
    made = client.post(
        "/api/v1/annotations", json={"day": "2024-01-15", "text": XSS}, headers=write
    )
    assert made.status_code == 201
    assert (
        client.post(
            "/api/v1/annotations", json={"day": "2024-01-16", "text": "x"}, headers=read
        ).status_code
        == 403
    )
    listed = client.get("/api/v1/annotations?start=2024-01-01&end=2024-01-31", headers=read)
    assert [n["text"] for n in listed.json()] == [XSS]
    assert client.get("/api/v1/annotations?start=2024-02-01", headers=read).json() == []
    # The charts' script reads them with the page's session.
    viewer = sign_in(ws, Role.viewer)
    assert viewer.client.get("/api/v1/annotations").json()[0]["day"] == "2024-01-15"
    page = viewer.client.get("/insights/saved").text
    assert XSS not in page and "&lt;script&gt;" in page
    editor = sign_in(ws, Role.editor)
    r = editor.post("/insights/annotations", {"day": "2024-01-20", "text": "Pricing launched"})
    assert r.status_code == 303
    note_id = client.get("/api/v1/annotations", headers=read).json()[1]["id"]
    assert viewer.post(f"/insights/annotations/{note_id}/delete").status_code == 403
    assert editor.post(f"/insights/annotations/{note_id}/delete").status_code == 303
    assert (
        client.delete(f"/api/v1/annotations/{made.json()['id']}", headers=write).status_code == 204
    )
    assert client.get("/api/v1/annotations", headers=read).json() == []


def test_saved_insights_over_the_api(ws: Workspace) -> None:
    client = TestClient(create_app(ws))
    write = {"Authorization": f"Bearer {api_key(ws, 'write')}"}
    read = {"Authorization": f"Bearer {api_key(ws, 'read')}"}
    body = {"kind": "funnel", "title": "Activation", "params": {"query": FUNNEL}}
    made = client.post("/api/v1/saved-insights", json=body, headers=write)
    assert made.status_code == 201, made.text
    iid = made.json()["id"]
    assert made.json()["url"] == f"/insights/saved/{iid}"
    assert client.post("/api/v1/saved-insights", json=body, headers=read).status_code == 403
    got = client.get(f"/api/v1/saved-insights/{iid}", headers=read).json()
    assert got["panel"]["data"][0]["persons"] == 4 and got["panel"]["sql"]
    trends = {
        "kind": "trends",
        "title": "Reports",
        "params": {"body": {"series": [{"kind": "events", "event": "report"}], "grain": "week"}},
    }
    assert client.post("/api/v1/saved-insights", json=trends, headers=write).status_code == 201
    patched = client.patch(
        f"/api/v1/saved-insights/{iid}", json={"description": "signup → report"}, headers=write
    )
    assert patched.json()["description"] == "signup → report"
    board = client.post(
        "/api/v1/dashboards",
        json={"name": "API board", "panels": [{"insight": iid, "width": "full"}]},
        headers=write,
    )
    assert board.status_code == 201, board.text
    panels = client.get(f"/api/v1/dashboards/{board.json()['id']}", headers=read).json()
    assert panels[0]["title"] == "Activation"
    missing = client.put(
        f"/api/v1/dashboards/{board.json()['id']}/panels", json=[{"insight": 999}], headers=write
    )
    assert missing.status_code == 422
    scope = client.put(
        f"/api/v1/dashboards/{board.json()['id']}/scope", json={"days": 7}, headers=write
    )
    assert scope.json()["settings"]["days"] == 7
    assert client.delete(f"/api/v1/saved-insights/{iid}", headers=write).status_code == 204
    assert client.get(f"/api/v1/saved-insights/{iid}", headers=read).status_code == 404


def test_the_chart_script_draws_notes_without_inline_code() -> None:
    from pathlib import Path

    import productops.web

    script = (Path(productops.web.__file__).parent / "static" / "productops-charts.js").read_text()
    assert "/api/v1/annotations" in script and "eval(" not in script
    assert re.search(r"type: \"rule\"", script)


def test_a_breakdown_named_segment_keeps_its_values_in_the_chart() -> None:
    """The chart's own line pieces once overwrote a breakdown called `segment` (the demo's
    report adoption by segment drew no line)."""
    import datetime as dt

    import pandas as pd

    from productops.analytics import charts

    days = [dt.date(2026, 8, 3) + dt.timedelta(weeks=w) for w in range(3)]
    frame = pd.DataFrame(
        {"period": days * 2, "segment": ["SMB"] * 3 + ["Enterprise"] * 3, "value": range(6)}
    )
    spec = charts.series_chart(
        frame, "period", "value", "segment", "adoption", grain="week", unfinished={days[-1]}
    )
    assert spec is not None
    rows = next(iter(spec["datasets"].values()))
    assert {r["segment"] for r in rows} == {"SMB", "Enterprise"}


def test_a_saved_insight_page_shows_its_title_and_description_once(ws: Workspace) -> None:
    insight = _save(ws, "funnel", "Activation funnel", {"query": FUNNEL})
    with transaction(ws.sessions) as s:
        row = saved.get_insight(s, insight)
        row.description = "Who reports after signing up."
    viewer = sign_in(ws, Role.viewer).client
    for page in (
        viewer.get(f"/insights/saved/{insight}").text,
        viewer.get(f"/insights/saved/{insight}", headers={"HX-Request": "true"}).text,
    ):
        assert page.count("Activation funnel</h") <= 1
        assert page.count("Who reports after signing up.") <= 1
    page = viewer.get(f"/insights/saved/{insight}").text
    assert page.count("Activation funnel</h1>") == 1 and "Activation funnel</h2>" not in page
    assert page.count("Who reports after signing up.") == 1
    # the panel is still named by the page's heading
    assert f'<h1 id="insight-{insight}-title">' in page
    assert f'aria-labelledby="insight-{insight}-title"' in page
    # on a dashboard the panel keeps its own title and description
    board = dashboards.save_dashboard
    with transaction(ws.sessions) as s:
        board_id = board(s, ws, "Board", "", [{"insight": insight}], actor="t").id
    on_board = viewer.get(f"/insights/dashboards/{board_id}").text
    assert "Activation funnel</h2>" in on_board and "Who reports after signing up." in on_board


def test_lifecycle_small_multiples_have_a_time_axis_the_notes_are_drawn_on(ws: Workspace) -> None:
    """The charts' script draws annotations on time axes; the lifecycle by a breakdown (one
    small chart per value) has one, and the script draws notes in each small chart."""
    from pathlib import Path

    import productops.web

    query = "grain=week&breakdown=account.plan&start=2024-01-01&end=2024-01-31"
    ref = InsightRef(1, "lifecycle", "Lifecycle", "", check_params("lifecycle", {"query": query}))
    panel = insight_panel(ws, ref)
    assert panel.chart is not None and "facet" in panel.chart, panel.description
    x = panel.chart["spec"]["encoding"]["x"]
    assert x["type"] == "temporal" and x["scale"] == {"type": "utc"}
    assert panel.chart["spec"]["encoding"]["x2"]["field"] == "period_end"
    script = (Path(productops.web.__file__).parent / "static" / "productops-charts.js").read_text()
    assert "function annotateFacets(" in script
    assert "spec.facet && spec.spec" in script.split("function annotate(")[1].split("\n")[1]


def test_the_workspace_colours_are_looked_up_in_one_place() -> None:
    """Plans, segments and regions take their colours from `charts.workspace_palette`, which
    the dashboards and the explorers both use (no copy of the lookup)."""
    from pathlib import Path

    import productops.analytics

    root = Path(productops.analytics.__file__).parent
    lookups = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if '"plan", "segment", "region"' in p.read_text()
    )
    assert lookups == ["charts.py"]
    from productops.analytics import charts

    assert charts.COLORED_FIELDS == ("plan", "segment", "region")
    assert "workspace_palette" in (root / "explore" / "routes.py").read_text()
    assert "workspace_palette" in (root / "dashboards" / "service.py").read_text()


def test_two_broken_down_series_are_coloured_alike_on_the_saved_page_and_the_explorer(
    ws: Workspace,
) -> None:
    """Page views as events and as people, by browser: six lines, each `series · value` in a
    colour of its own, the same on the saved insight's panel as in the explorer (once, the
    two series' Chrome lines shared a colour and were drawn as one zigzag)."""
    from productops.analytics.explore.charts import trends_chart

    query = (
        "s_kind=events&s_event=%24pageview&s_kind=people&s_event=%24pageview"
        "&breakdown=event.%24browser&grain=week&start=2024-01-01&end=2024-01-31"
    )
    ref = InsightRef(1, "trends", "Views", "", check_params("trends", {"query": query}))
    panel = insight_panel(ws, ref)
    assert panel.chart is not None, panel.description
    assert panel.data["label"].nunique() == 2 and "Chrome" in set(panel.data["breakdown"])

    def colors(spec: dict[str, object]) -> dict[str, str]:
        layers = spec.get("layer") or [spec]
        for layer in layers:  # type: ignore[union-attr]
            scale = layer.get("encoding", {}).get("color", {}).get("scale")
            if scale:
                return dict(zip(scale["domain"], scale["range"], strict=True))
        raise AssertionError("no colour scale")

    saved_colors = colors(panel.chart)
    lines = {
        f"{label} · {value}"
        for label, value in zip(panel.data["label"], panel.data["breakdown"], strict=True)
    }
    assert set(saved_colors) == lines and len(lines) >= 4
    assert len(set(saved_colors.values())) == len(lines)  # no two lines share a colour
    explorer = trends_chart(panel.data, "line", "week", dashboards.palette(ws))
    assert explorer is not None
    assert colors(explorer) == saved_colors
    # each line is drawn as its own line: its pieces are keyed by the line's name
    rows = next(iter(panel.chart["datasets"].values()))
    assert {r["_piece"].split("|")[0] for r in rows} == lines


def test_the_trends_explorer_dashes_a_week_cut_by_the_range(ws: Workspace) -> None:
    viewer = sign_in(ws, Role.viewer).client
    page = viewer.get(
        "/insights/trends",
        params={"s_event": "signup", "grain": "week", "start": "2024-01-01", "end": "2024-01-10"},
    )
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'<script type="application/json" id="trends-spec">(.*?)</script>', page.text)
    assert found is not None
    spec = json.loads(html.unescape(found.group(1)))
    data = next(iter(spec["datasets"].values()))
    # the week of Jan 8 ends on the 14th, after the range: dashed from the week before
    assert {r["period"] for r in data if r["part"] == "unfinished"} == {"2024-01-01", "2024-01-08"}
    assert {r["period"] for r in data if r["part"] == "complete"} == {"2024-01-01"}
