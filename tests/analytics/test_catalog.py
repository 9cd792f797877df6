"""The metric catalog: metrics.yml names the line of each mistake, every metric type gives the
numbers worked out by hand below, every result carries SQL that reproduces it, and the CLI,
the API and the pages show the same catalog."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import typer
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2 import ChoiceLoader, FileSystemLoader
from typer.testing import CliRunner

from productops.analytics import settings as analytics_settings
from productops.analytics import store
from productops.analytics.catalog import routes as catalog_routes
from productops.analytics.catalog.cli import metrics_app
from productops.analytics.catalog.metrics import MetricQueryError, query_metric
from productops.analytics.catalog.service import (
    METRICS_FILE,
    CatalogError,
    UnknownDimension,
    UnknownMetric,
    load_catalog,
    parse_catalog,
    save_catalog,
)
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

TEMPLATES = Path(catalog_routes.__file__).parent / "templates"

# --- a small, hand-made company -------------------------------------------------------------------
#
# Weeks start on Monday: W1 = Jan 1-7 2024, W2 = Jan 8-14, W3 = Jan 15-21.
# People: alice (account acme), bob (account beta), carol (no account; first seen as the
# anonymous id anon-c, merged by an identify), dave (no account of his own, but one of his
# orders names acme), erin (only ever an identify call).
# Accounts: acme {plan: pro}, beta {plan: free}.

CATALOG = """\
# The one definition of an active user.
active_user:
  events: any
dimensions:
  plan: {from: account, trait: plan}
  country: {from: person, trait: country}
  browser: {from: event, property: "$browser"}
metrics:
  - name: signups
    label: Sign-ups
    description: People who signed up
    type: count
    event: Signed Up
  - name: pro_signups
    type: count
    event: Signed Up
    filters: [{property: plan, op: "=", value: pro}]
  - name: buyers
    type: unique_users
    event: Order Completed
  - name: buying_accounts
    type: unique_accounts
    event: Order Completed
  - name: revenue
    type: sum
    event: Order Completed
    property: revenue
  - name: order_value
    type: average
    event: Order Completed
    property: revenue
  - name: big_orders
    type: count
    event: Order Completed
    filters: [{property: revenue, op: ">=", value: 50}]
  - name: active_users
    type: active_users
  - name: activation
    type: conversion
    event: Signed Up
    then: Project Created
    window_days: 14
  - name: buyer_share
    type: ratio
    numerator: buyers
    denominator: active_users
  - name: pageviews
    type: count
    event: $pageview
"""


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour)


def ev(
    n: int,
    name: str,
    who: str,
    day: int,
    props: dict[str, Any] | None = None,
    *,
    account: str | None = None,
    kind: str = "track",
) -> store.Event:
    return store.Event(
        event_id=f"e{n}",
        event=name,
        type=kind,
        ts=at(day),
        received_at=at(day),
        distinct_id=who,
        user_id=None if who.startswith("anon") else who,
        anonymous_id=who if who.startswith("anon") else None,
        account_id=account,
        source="api",
        properties=props or {},
    )


EVENTS = [
    ev(1, "Signed Up", "alice", 1, {"plan": "pro"}),
    ev(2, "Project Created", "alice", 3),  # 2 days after: converts
    ev(3, "Signed Up", "bob", 2, {"plan": "free"}),
    ev(4, "Project Created", "bob", 20),  # 18 days after: outside the 14-day window
    ev(5, "Signed Up", "anon-c", 8),  # carol, before she was identified
    ev(6, "Project Created", "carol", 9),  # converts: the same person after the merge
    ev(7, "Order Completed", "alice", 3, {"revenue": 100}),
    ev(8, "Order Completed", "bob", 10, {"revenue": 20.5}),
    ev(9, "Order Completed", "dave", 10, {"revenue": 30}, account="acme"),
    ev(10, "Order Completed", "alice", 16, {"revenue": "50"}),
    ev(11, "identify", "erin", 16, kind="identify"),  # not activity
    ev(12, "$pageview", "dave", 17, {"$browser": "Firefox"}),
    ev(13, "$pageview", "bob", 17, {"$browser": "Chrome"}),
]


def _write_events(path: Path) -> None:
    con = store.connect(path)
    try:
        store.append_arrow(con, store.events_to_arrow(EVENTS))
        now = at(1, 0)
        store.upsert_account(con, "acme", {"plan": "pro", "segment": "smb"}, now)
        store.upsert_account(con, "beta", {"plan": "free"}, now)
        store.upsert_person(con, "alice", {"country": "DE"}, "acme", now)
        store.upsert_person(con, "bob", {"country": "US"}, "beta", now)
        store.upsert_person(con, "dave", {"country": "DE"}, None, now)
        store.apply_identity(
            con,
            store.IdentityUpdate(
                kind="identify",
                distinct_id="anon-c",
                person_id="carol",
                traits={"country": "FR"},
                at=at(8, 13),
            ),
        )
    finally:
        con.close()


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("events") / "events.duckdb"
    _write_events(path)
    return path


@pytest.fixture
def company(sqlite_workspace: Workspace, events_file: Path) -> Workspace:
    """A workspace with the hand-made events and CATALOG as its metrics.yml."""
    shutil.copyfile(events_file, analytics_settings.events_file(sqlite_workspace))
    (sqlite_workspace.path / METRICS_FILE).write_text(CATALOG)
    return sqlite_workspace


def values(ws: Workspace, metric: str, **kw: Any) -> list[tuple[Any, ...]]:
    """The result rows as tuples, values rounded to 4 places."""
    frame = query_metric(ws, metric, **kw).frame
    out = []
    for row in frame.itertuples(index=False):
        out.append(
            tuple(
                round(v, 4)
                if isinstance(v, float) and v == v
                else (None if isinstance(v, float) else v)
                for v in row
            )
        )
    return out


W1, W2, W3 = dt.date(2024, 1, 1), dt.date(2024, 1, 8), dt.date(2024, 1, 15)


# --- loading: every mistake, with its line --------------------------------------------------------

BROKEN = """\
dimensions:
  plan: {from: account, trait: plan}
  where: {from: event}
metrics:
  - name: revenue
    type: sum
    event: Order Completed
  - name: signups
    type: count
    event: Signed Up
    colour: blue
  - name: signups
    type: count
    event: Registered
  - name: share
    type: ratio
    numerator: signupz
    denominator: signups
  - name: a_over_b
    type: ratio
    numerator: b_over_a
    denominator: signups
  - name: b_over_a
    type: ratio
    numerator: a_over_b
    denominator: signups
  - name: odd
    type: median
    event: Signed Up
  - name: filtered
    type: count
    event: Signed Up
    filters:
      - {dimension: region, op: "=", value: emea}
      - {property: seats, op: ">", value: many}
  - name: Bad-Name
    type: count
    event: x
  - name: counted_with_property
    type: count
    event: Signed Up
    property: revenue
"""


def test_loading_names_the_line_of_every_mistake() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(BROKEN)
    got = [(p.line, p.message) for p in caught.value.problems]
    expected = [
        (
            3,
            "dimension 'where': a dimension from event names exactly one of 'property' or 'column'",
        ),
        (6, "metric 'revenue': type 'sum' needs 'property'"),
        (11, "metric 'signups': unknown key 'colour'"),
        (12, "metric 'signups' is defined more than once"),
        (
            17,
            "metric 'share': numerator 'signupz' is not a metric in the catalog "
            "(did you mean 'signups'?)",
        ),
        (
            19,
            "metric 'a_over_b': ratios refer to each other in a cycle: "
            "a_over_b → b_over_a → a_over_b",
        ),
        (
            28,
            "metric 'odd': type: 'median' is not allowed; expected 'count', 'unique_users', "
            "'unique_accounts', 'sum', 'average', 'ratio', 'conversion' or 'active_users'",
        ),
        (35, "metric 'filtered': filters[1]: op '>' needs a number as value"),
    ]
    for item in expected:
        assert item in got, f"missing {item}\ngot: {got}"
    # The name rule and the key that does not apply to the type are reported too.
    assert any(line == 36 and "'Bad-Name' is not a valid name" in msg for line, msg in got)
    assert (42, "metric 'counted_with_property': 'property' does not apply to type 'count'") in got
    # The message a person reads names the file and the line.
    text = str(caught.value)
    assert "metrics.yml line 6: metric 'revenue': type 'sum' needs 'property'" in text
    assert text.splitlines() == sorted(text.splitlines(), key=lambda s: int(s.split()[2][:-1]))


def test_a_filter_on_an_unknown_dimension_is_named() -> None:
    text = """\
metrics:
  - name: emea_signups
    type: count
    event: Signed Up
    filters: [{dimension: region, op: "=", value: emea}]
"""
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text)
    assert str(caught.value) == (
        "metrics.yml line 5: metric 'emea_signups': filter on unknown dimension 'region'"
    )


def test_yaml_syntax_errors_and_repeated_keys_have_lines() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog("metrics:\n  - name: a\n    type: [count\n")
    assert caught.value.problems[0].line is not None
    assert "not valid YAML" in caught.value.problems[0].message

    with pytest.raises(CatalogError) as caught:
        parse_catalog("metrics:\n  - name: a\n    type: count\n    type: sum\n    event: x\n")
    assert [(p.line, p.message) for p in caught.value.problems] == [
        (4, "'type' appears twice in the same block")
    ]


def test_unknown_top_level_keys_and_wrong_shapes_are_refused() -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog("metric: []\ndimensions: [plan]\n")
    messages = [(p.line, p.message) for p in caught.value.problems]
    assert (
        1,
        "unknown key 'metric' at the top level (expected active_user, dimensions, metrics)",
    ) in messages
    assert (2, "dimensions: expected a mapping of name: definition") in messages


_yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "name",
                    "type",
                    "event",
                    "property",
                    "filters",
                    "op",
                    "value",
                    "then",
                    "from",
                    "trait",
                    "numerator",
                    "denominator",
                    "window_days",
                    "metrics",
                    "dimensions",
                    "x",
                ]
            ),
            inner,
            max_size=5,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300) | _yaml_values.map(lambda v: yaml.safe_dump({"metrics": [v]})))
def test_any_text_either_loads_or_names_its_mistakes(text: str) -> None:
    try:
        parse_catalog(text)
    except CatalogError as exc:
        assert exc.problems
        assert all(p.line is None or p.line >= 1 for p in exc.problems)


def test_the_starter_catalog_is_valid_and_empty() -> None:
    catalog = parse_catalog("# comment\nmetrics: []\n")
    assert catalog.metrics == ()
    assert catalog.active_user.events == "any"
    assert "identify" in catalog.active_user.exclude_events


def test_unknown_metric_and_dimension_say_what_exists(company: Workspace) -> None:
    with pytest.raises(UnknownMetric, match="did you mean 'signups'"):
        query_metric(company, "signup")
    with pytest.raises(UnknownDimension, match="plan"):
        query_metric(company, "signups", by="region")
    with pytest.raises(MetricQueryError, match="grain 'year'"):
        query_metric(company, "signups", grain="year")
    with pytest.raises(MetricQueryError, match="not a date"):
        query_metric(company, "signups", start="last tuesday")


def test_an_invalid_catalog_is_never_saved(sqlite_workspace: Workspace) -> None:
    path = sqlite_workspace.path / METRICS_FILE
    before = path.read_text()
    with pytest.raises(CatalogError):
        save_catalog(sqlite_workspace, "metrics:\n  - name: x\n    type: sum\n    event: a\n")
    assert path.read_text() == before
    save_catalog(sqlite_workspace, CATALOG)
    assert path.read_text() == CATALOG
    assert [m.name for m in load_catalog(sqlite_workspace).metrics][:2] == [
        "signups",
        "pro_signups",
    ]


# --- numbers, worked out by hand ------------------------------------------------------------------


def test_event_counts_per_week_and_month(company: Workspace) -> None:
    assert values(company, "signups", grain="week") == [(W1, 2), (W2, 1)]
    assert values(company, "signups", grain="month") == [(W1, 3)]
    assert values(company, "signups", grain="all") == [(3,)]
    # Filter on an event property.
    assert values(company, "pro_signups", grain="all") == [(1,)]
    # A numeric filter reads numbers sent as text too ("50").
    assert values(company, "big_orders", grain="all") == [(2,)]


def test_unique_users_and_accounts(company: Workspace) -> None:
    assert values(company, "buyers", grain="week") == [(W1, 1), (W2, 2), (W3, 1)]
    assert values(company, "buyers", grain="all") == [(3,)]
    # acme (alice's orders, and dave's order that names acme) and beta (bob).
    assert values(company, "buying_accounts", grain="all") == [(2,)]


def test_sum_and_average_of_a_property(company: Workspace) -> None:
    assert values(company, "revenue", grain="week") == [(W1, 100.0), (W2, 50.5), (W3, 50.0)]
    assert values(company, "order_value", grain="all") == [(round(200.5 / 4, 4),)]


def test_breakdown_by_an_account_trait(company: Workspace) -> None:
    # An event's account is its own account_id, else its person's: dave's order names acme.
    assert values(company, "revenue", by="plan", grain="all") == [("free", 20.5), ("pro", 180.0)]
    # Active people by plan: dave is in pro (his order) and in no plan (his pageview); carol
    # has no account. People without a value form their own group (None), sorted last.
    assert values(company, "active_users", by="plan", grain="all") == [
        ("free", 1),
        ("pro", 2),
        (None, 2),
    ]


def test_breakdown_by_a_person_trait_and_an_event_property(company: Workspace) -> None:
    assert values(company, "signups", by="country", grain="all") == [
        ("DE", 1),
        ("FR", 1),
        ("US", 1),
    ]
    assert values(company, "pageviews", by=["browser"], grain="all") == [
        ("Chrome", 1),
        ("Firefox", 1),
    ]


def test_active_users_by_week_use_the_one_definition(company: Workspace) -> None:
    # W1 alice, bob; W2 carol, bob, dave; W3 alice, dave, bob (erin only identified: not active).
    assert values(company, "active_users", grain="week") == [(W1, 2), (W2, 3), (W3, 3)]
    assert values(company, "active_users", grain="month") == [(W1, 4)]
    # Changing the definition in metrics.yml changes every active-user number.
    text = CATALOG.replace("  events: any\n", "  events: [$pageview]\n")
    (company.path / METRICS_FILE).write_text(text)
    assert values(company, "active_users", grain="week") == [(W3, 2)]


def test_conversion_within_the_window(company: Workspace) -> None:
    # W1: alice converts after 2 days, bob after 18 (> 14) does not. W2: carol converts; her
    # sign-up was anonymous, and the identify merged it into her person.
    assert values(company, "activation", grain="week") == [(W1, 2, 1, 0.5), (W2, 1, 1, 1.0)]
    wide = CATALOG.replace("window_days: 14", "window_days: 30")
    (company.path / METRICS_FILE).write_text(wide)
    assert values(company, "activation", grain="all") == [(3, 3, 1.0)]


def test_ratio_of_two_metrics(company: Workspace) -> None:
    assert values(company, "buyer_share", grain="week") == [
        (W1, 1.0, 2.0, 0.5),
        (W2, 2.0, 3.0, round(2 / 3, 4)),
        (W3, 1.0, 3.0, round(1 / 3, 4)),
    ]


def test_start_and_end_are_days_both_included(company: Workspace) -> None:
    assert values(company, "signups", grain="all", start="2024-01-02", end="2024-01-08") == [(2,)]
    # A total over a range without events is zero; per period, there is simply no row.
    assert values(company, "signups", grain="all", start=dt.date(2024, 1, 9)) == [(0,)]
    assert values(company, "signups", grain="week", start=dt.date(2024, 1, 9)) == []


def test_a_workspace_without_events_gives_empty_results(sqlite_workspace: Workspace) -> None:
    (sqlite_workspace.path / METRICS_FILE).write_text(CATALOG)
    result = query_metric(sqlite_workspace, "signups", grain="week")
    assert result.frame.empty
    assert result.columns == ["period", "value"]


@pytest.mark.parametrize(
    ("metric", "kw"),
    [
        ("revenue", {"by": "plan", "grain": "week"}),
        ("activation", {"grain": "week"}),
        ("buyer_share", {"by": "country", "grain": "month"}),
        ("active_users", {"grain": "week", "start": "2024-01-03"}),
    ],
)
def test_the_sql_of_a_result_reproduces_its_numbers(
    company: Workspace, metric: str, kw: dict[str, Any]
) -> None:
    result = query_metric(company, metric, **kw)
    assert result.sql.lstrip().upper().startswith(("SELECT", "WITH"))
    con = duckdb.connect(str(analytics_settings.events_file(company)), read_only=True)
    try:
        rerun = con.sql(result.sql).fetchall()
    finally:
        con.close()
    assert [tuple(_clean(v) for v in row) for row in rerun] == [
        tuple(_clean(v) for v in row) for row in result.rows()
    ]
    assert len(rerun) > 0


def _clean(v: Any) -> Any:
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return round(v, 6)
    return v


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(metrics_app, name="metrics")

    @app.command()
    def version() -> None:  # a second command keeps `metrics` a sub-command
        """Unused."""

    return app


def test_cli_lists_and_queries_metrics(company: Workspace, cli: typer.Typer) -> None:
    runner = CliRunner()
    ws = str(company.path)
    listed = runner.invoke(cli, ["metrics", "list", ws, "--json"])
    assert listed.exit_code == 0, listed.output
    names = [m["name"] for m in json.loads(listed.stdout)]
    assert names[:3] == ["signups", "pro_signups", "buyers"]

    r = runner.invoke(
        cli,
        ["metrics", "query", ws, "revenue", "--by", "plan", "--grain", "all", "--format", "json"],
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["rows"] == [{"plan": "free", "value": 20.5}, {"plan": "pro", "value": 180.0}]
    assert "sql" not in data

    r = runner.invoke(
        cli, ["metrics", "query", ws, "signups", "--grain", "week", "--format", "csv"]
    )
    assert r.exit_code == 0, r.output
    assert r.stdout.splitlines() == ["period,value", "2024-01-01,2", "2024-01-08,1"]

    r = runner.invoke(
        cli,
        ["metrics", "query", ws, "signups", "--grain", "week", "--show-sql", "--format", "table"],
    )
    assert r.exit_code == 0, r.output
    assert "2024-01-08" in r.stdout and "FROM" in r.stdout and "events_resolved" in r.stdout


def test_cli_reports_catalog_mistakes_with_lines(
    sqlite_workspace: Workspace, cli: typer.Typer
) -> None:
    (sqlite_workspace.path / METRICS_FILE).write_text(BROKEN)
    r = CliRunner().invoke(cli, ["metrics", "check", str(sqlite_workspace.path)])
    assert r.exit_code == 1
    assert "metrics.yml line 6: metric 'revenue': type 'sum' needs 'property'" in r.stderr
    r = CliRunner().invoke(cli, ["metrics", "query", str(sqlite_workspace.path), "revenue"])
    assert r.exit_code == 1 and "line 6" in r.stderr


# --- API and pages --------------------------------------------------------------------------------


def wire(app: FastAPI) -> FastAPI:
    """Until the analytics room is in `domains.DOMAINS`, add these routes and templates here."""
    if not any(getattr(r, "path", None) == "/insights/metrics" for r in app.routes):
        catalog_routes.register(app)
        loader = app.state.templates.env.loader
        assert isinstance(loader, ChoiceLoader)
        if not any(str(TEMPLATES) in getattr(x, "searchpath", []) for x in loader.loaders):
            loader.loaders = [*loader.loaders, FileSystemLoader(str(TEMPLATES))]
    return app


@pytest.fixture
def company_any_db(workspace: Workspace, events_file: Path) -> Iterator[Workspace]:
    shutil.copyfile(events_file, analytics_settings.events_file(workspace))
    (workspace.path / METRICS_FILE).write_text(CATALOG)
    yield workspace


def test_api_lists_the_catalog_and_answers_with_sql(company_any_db: Workspace) -> None:
    client = TestClient(wire(create_app(company_any_db)))
    auth = {"Authorization": f"Bearer {api_key(company_any_db, 'read')}"}
    r = client.get("/api/v1/metrics", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [m["name"] for m in body["metrics"]][:2] == ["signups", "pro_signups"]
    assert body["metrics"][0]["definition"] == "number of Signed Up events"
    assert {d["name"] for d in body["dimensions"]} == {"plan", "country", "browser"}

    r = client.get("/api/v1/metrics/revenue?by=plan&grain=all", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["rows"] == [{"plan": "free", "value": 20.5}, {"plan": "pro", "value": 180.0}]
    assert "events_resolved" in body["sql"]

    r = client.get("/api/v1/metrics/signups?grain=week&format=csv", headers=auth)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.text.splitlines() == ["period,value", "2024-01-01,2", "2024-01-08,1"]

    assert client.get("/api/v1/metrics/nope", headers=auth).status_code == 404
    assert client.get("/api/v1/metrics/signups?by=region", headers=auth).status_code == 422
    assert client.get("/api/v1/metrics/signups?grain=year", headers=auth).status_code == 422


def test_ingest_keys_cannot_read_metrics(company_any_db: Workspace) -> None:
    client = TestClient(wire(create_app(company_any_db)))
    auth = {"Authorization": f"Bearer {api_key(company_any_db, 'ingest')}"}
    assert client.get("/api/v1/metrics", headers=auth).status_code == 403
    assert client.get("/api/v1/metrics/signups", headers=auth).status_code == 403
    assert client.get("/api/v1/metrics").status_code == 401


HOSTILE = '<script>alert("x")</script>'


def test_the_catalog_page_shows_definitions_escaped_and_viewers_cannot_edit(
    company_any_db: Workspace,
) -> None:
    text = CATALOG.replace("description: People who signed up", f"description: '{HOSTILE}'")
    (company_any_db.path / METRICS_FILE).write_text(text)
    viewer = sign_in(company_any_db, Role.viewer)
    wire(viewer.client.app)  # type: ignore[arg-type]
    page = viewer.client.get("/insights/metrics")
    assert page.status_code == 200
    assert "number of Signed Up events" in page.text
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    assert 'name="text"' not in page.text  # no editor for viewers
    r = viewer.post("/insights/metrics", {"text": "metrics: []\n"})
    assert r.status_code == 403  # type: ignore[attr-defined]
    assert (company_any_db.path / METRICS_FILE).read_text() == text

    metric = viewer.client.get("/insights/metrics/revenue?by=plan&grain=all")
    assert metric.status_code == 200
    assert "180" in metric.text and "events_resolved" in metric.text


def test_editors_save_the_catalog_and_see_mistakes_with_lines(company_any_db: Workspace) -> None:
    editor = sign_in(company_any_db, Role.editor)
    wire(editor.client.app)  # type: ignore[arg-type]
    page = editor.client.get("/insights/metrics")
    assert 'name="text"' in page.text

    r: Any = editor.post("/insights/metrics", {"text": BROKEN})
    assert r.status_code == 422
    assert (
        "metrics.yml line 6: metric &#39;revenue&#39;: type &#39;sum&#39; needs &#39;property&#39;"
        in r.text
    )
    assert (company_any_db.path / METRICS_FILE).read_text() == CATALOG  # nothing written
    assert "colour: blue" in r.text  # the text being edited is kept

    new = CATALOG + "  - name: orders\n    type: count\n    event: Order Completed\n"
    r = editor.post("/insights/metrics", {"text": new.replace("\n", "\r\n")})
    assert r.status_code == 303
    assert (company_any_db.path / METRICS_FILE).read_text() == new
    listed = editor.client.get("/insights/metrics")
    assert re.search(r"<code>orders</code>", listed.text)
