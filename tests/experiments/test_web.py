"""The experiments pillar over HTTP: who may do what (anonymous, a `read` key, a viewer),
client keys that see one environment and project only, rules refused at save with the
reason, CSRF on forms, escaped names, formula-safe exports, the evaluate endpoint, GrowthBook's
own Python SDK and the OpenFeature SDK reading productops."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from productops.core.db import transaction
from productops.core.models import AuditEvent
from productops.core.workspace import Workspace
from productops.experiments.flags import service as flags
from productops.experiments.flags.compiled import CompiledFeatures
from productops.experiments.sdk import service as sdk
from productops.web.app import create_app
from tests.conftest import api_key, serving, sign_in

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _setup(ws: Workspace) -> dict[str, str]:
    """Flags in two projects with different rules per environment, and client keys."""
    with transaction(ws.sessions) as s:
        checkout = flags.create_flag(
            s, "new-checkout", "boolean", False, "test", project="web", description=XSS
        )
        flags.set_rules(
            s,
            checkout.id,
            "production",
            [{"type": "force", "id": "pro", "condition": {"plan": "pro"}, "value": True}],
            "test",
        )
        flags.set_rules(
            s, checkout.id, "staging", [{"type": "force", "id": "all", "value": True}], "test"
        )
        mobile = flags.create_flag(
            s, "mobile-only", "string", "a", "test", project="mobile", description="=HYPERLINK(1)"
        )
        flags.set_rules(
            s,
            mobile.id,
            "production",
            [
                {
                    "type": "experiment",
                    "id": "e",
                    "experiment_key": "mobile-test",
                    "variations": [{"value": "a"}, {"value": "b"}],
                }
            ],
            "test",
        )
        _, prod_key = sdk.create_connection(s, "web prod", "production", "test", project="web")
        _, staging_key = sdk.create_connection(s, "staging", "staging", "test")
        revoked, revoked_key = sdk.create_connection(s, "old", "production", "test")
        sdk.revoke_connection(s, revoked.id, "test")
    return {"prod_web": prod_key, "staging": staging_key, "revoked": revoked_key}


# --- who may do what -------------------------------------------------------------------------

WRITES = [
    ("post", "/api/v1/flags", {"key": "x1", "value_type": "boolean", "default_value": False}),
    ("patch", "/api/v1/flags/new-checkout", {"description": "changed"}),
    ("put", "/api/v1/flags/new-checkout/environments/production/rules", {"rules": []}),
    ("put", "/api/v1/flags/new-checkout/environments/production/enabled", {"enabled": False}),
    (
        "post",
        "/api/v1/flags/new-checkout/schedules",
        {"environment": "production", "run_at": "2099-01-01T00:00:00Z", "enabled": False},
    ),
    (
        "post",
        "/api/v1/experiments",
        {
            "key": "e1",
            "name": "E",
            "primary_metric": "m",
            "variations": [{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.5}],
        },
    ),
]
READS = [
    "/api/v1/flags",
    "/api/v1/flags/new-checkout",
    "/api/v1/flags/stale",
    "/api/v1/experiments",
    "/api/v1/library",
    "/api/v1/environments",
    "/api/v1/power?baseline=0.1&mde=0.2",
]


def test_anonymous_callers_get_nothing(app: TestClient, workspace: Workspace) -> None:
    _setup(workspace)
    for path in [*READS, "/api/v1/sdk-connections"]:
        assert app.get(path).status_code == 401, path
    for method, path, body in WRITES:
        assert getattr(app, method)(path, json=body).status_code == 401, path
    assert app.post("/api/v1/evaluate", json={"attributes": {"id": "1"}}).status_code == 401
    assert app.get("/flags", follow_redirects=False).status_code == 303  # to the sign-in page


def test_a_read_key_reads_but_changes_nothing(app: TestClient, workspace: Workspace) -> None:
    _setup(workspace)
    headers = {"Authorization": f"Bearer {api_key(workspace, 'read')}"}
    for path in READS:
        assert app.get(path, headers=headers).status_code == 200, path
    assert (
        app.post("/api/v1/evaluate", json={"attributes": {"id": "1"}}, headers=headers).status_code
        == 200
    )
    for method, path, body in WRITES:
        r = getattr(app, method)(path, json=body, headers=headers)
        assert r.status_code == 403, (path, r.text)
    assert app.get("/api/v1/sdk-connections", headers=headers).status_code == 403
    ingest = {"Authorization": f"Bearer {api_key(workspace, 'ingest')}"}
    assert app.get("/api/v1/flags", headers=ingest).status_code == 403
    with workspace.sessions() as s:
        assert flags.flag_by_key(s, "new-checkout").description == XSS


def test_a_viewer_cannot_change_flags(workspace: Workspace) -> None:
    _setup(workspace)
    viewer = sign_in(workspace, "viewer")
    assert viewer.client.get("/flags/new-checkout").status_code == 200
    for path, data in [
        ("/flags/new-checkout/environments/production/enabled", {"enabled": "off"}),
        ("/flags/new-checkout/environments/production/rules", {"rules": "[]"}),
        ("/flags", {"key": "x", "value_type": "boolean"}),
        ("/flags/sdk", {"name": "x", "environment": "production"}),
    ]:
        assert viewer.post(path, data).status_code == 403, path  # type: ignore[attr-defined]
    page = viewer.client.get("/flags/new-checkout").text
    assert "Kill switch" not in page and "Add a rule" not in page
    with workspace.sessions() as s:
        assert flags.settings_of(s, flags.flag_by_key(s, "new-checkout").id)["production"].enabled


def test_forms_need_the_csrf_token(workspace: Workspace) -> None:
    _setup(workspace)
    editor = sign_in(workspace, "editor")
    r = editor.client.post(
        "/flags/new-checkout/environments/production/enabled", data={"enabled": "off"}
    )
    assert r.status_code == 403
    r = editor.post("/flags/new-checkout/environments/production/enabled", {"enabled": "off"})  # type: ignore[attr-defined]
    assert r.status_code == 303
    with workspace.sessions() as s:
        assert not flags.settings_of(s, flags.flag_by_key(s, "new-checkout").id)[
            "production"
        ].enabled
        actions = [
            a.actor for a in s.scalars(select(AuditEvent).where(AuditEvent.action == "flag.kill"))
        ]
    assert actions and actions[0].startswith("user:")


# --- client keys -------------------------------------------------------------------------------


def test_a_client_key_sees_only_its_environment_and_project(
    app: TestClient, workspace: Workspace
) -> None:
    keys = _setup(workspace)
    prod = app.get(f"/api/features/{keys['prod_web']}")
    assert prod.status_code == 200 and prod.headers["access-control-allow-origin"] == "*"
    features = prod.json()["features"]
    assert set(features) == {"new-checkout"}  # the mobile project is not this key's
    assert features["new-checkout"]["rules"][0]["condition"] == {"plan": "pro"}  # production's rule
    staging = app.get(f"/api/features/{keys['staging']}").json()["features"]
    assert set(staging) == {"new-checkout", "mobile-only"}
    assert staging["new-checkout"]["rules"][0].get("condition") is None  # staging's rule
    assert "rules" not in staging["mobile-only"]
    for bad in (keys["revoked"], "sdk-nope", keys["prod_web"] + "x", "../api/v1/flags"):
        assert app.get(f"/api/features/{bad}").status_code == 404
    # a client key is not an API key
    assert (
        app.get(
            "/api/v1/flags", headers={"Authorization": f"Bearer {keys['prod_web']}"}
        ).status_code
        == 401
    )


def test_only_admins_make_client_keys_and_see_them_once(workspace: Workspace) -> None:
    _setup(workspace)
    editor = sign_in(workspace, "editor")
    assert editor.post("/flags/sdk", {"name": "x", "environment": "production"}).status_code == 403  # type: ignore[attr-defined]
    admin = sign_in(workspace, "admin")
    page = admin.post("/flags/sdk", {"name": "Android app", "environment": "production"})  # type: ignore[attr-defined]
    assert page.status_code == 200 and "Copy it now" in page.text  # type: ignore[attr-defined]
    again = admin.client.get("/flags/sdk").text
    assert "Android app" in again and "Copy it now" not in again


# --- bad input ---------------------------------------------------------------------------------


def test_a_malformed_rule_is_refused_with_the_reason(app: TestClient, workspace: Workspace) -> None:
    _setup(workspace)
    headers = {"Authorization": f"Bearer {api_key(workspace, 'write')}"}
    r = app.put(
        "/api/v1/flags/new-checkout/environments/production/rules",
        json={
            "rules": [{"type": "force", "value": True, "condition": {"age": {"$between": [1, 2]}}}]
        },
        headers=headers,
    )
    assert r.status_code == 422
    assert "rules[0].condition.age.$between: unknown operator" in r.json()["detail"][0]["msg"]
    r = app.put(
        "/api/v1/flags/new-checkout/environments/production/rules",
        json={"rules": [{"type": "force", "value": "yes"}]},
        headers=headers,
    )
    assert r.status_code == 422
    assert "rules[0].value: 'yes' is not a boolean" in r.json()["detail"][0]["msg"]
    served = app.get("/api/v1/flags/new-checkout", headers=headers).json()
    prod = next(e for e in served["environments"] if e["environment"] == "production")
    assert prod["rules"][0]["id"] == "pro"  # unchanged


def test_the_rule_builder_shows_why_a_rule_is_refused(workspace: Workspace) -> None:
    _setup(workspace)
    editor = sign_in(workspace, "editor")
    r = editor.post(  # type: ignore[attr-defined]
        "/flags/new-checkout/environments/production/rules/add",
        {
            "kind": "force",
            "attribute": "country",
            "operator": "regex",
            "operand": "([unclosed",
            "value": "true",
        },
    )
    assert r.status_code == 422 and "does not compile" in r.text
    r = editor.post(  # type: ignore[attr-defined]
        "/flags/new-checkout/environments/production/rules/add",
        {
            "kind": "rollout",
            "attribute": "country",
            "operator": "in",
            "operand": "US, CA",
            "value": "true",
            "coverage": "20",
        },
    )
    assert r.status_code == 303
    with workspace.sessions() as s:
        rules = flags.settings_of(s, flags.flag_by_key(s, "new-checkout").id)["production"].rules
    assert (
        rules[-1]["condition"] == {"country": {"$in": ["US", "CA"]}}
        and rules[-1]["coverage"] == 0.2
    )


def test_untrusted_text_is_escaped_and_exports_are_formula_safe(workspace: Workspace) -> None:
    _setup(workspace)
    viewer = sign_in(workspace, "viewer")
    for path in ("/flags", "/flags/new-checkout"):
        page = viewer.client.get(path).text
        assert "<script>alert" not in page and "&lt;script&gt;" in page
    csv_text = viewer.client.get("/flags.csv").text
    assert ",'=HYPERLINK(1)" in csv_text or '"\'=HYPERLINK(1)"' in csv_text
    assert '"on, 1 rule"' in csv_text and '"on, 0 rules"' in csv_text


def test_the_flag_page_says_a_rules_condition_in_words(workspace: Workspace) -> None:
    _setup(workspace)
    with transaction(workspace.sessions) as s:
        fid = flags.flag_by_key(s, "new-checkout").id
        flags.set_rules(
            s,
            fid,
            "staging",
            [
                {"type": "force", "value": True, "condition": {"country": {"$in": ["US", XSS]}}},
                {"type": "force", "value": True, "condition": {"$or": [{"plan": "pro"}]}},
            ],
            "test",
        )
    viewer = sign_in(workspace, "viewer")
    page = viewer.client.get("/flags/new-checkout?env=production").text
    assert "when plan is &#34;pro&#34;" in page
    page = viewer.client.get("/flags/new-checkout?env=staging").text
    assert "when country is one of &#34;US&#34;, &#34;&lt;script&gt;" in page
    assert "<script>alert" not in page
    assert 'when <code>{"$or": [{"plan": "pro"}]}</code>' in page  # what the builder does not write


def test_recomputing_from_the_page_comes_back_to_the_experiment(workspace: Workspace) -> None:
    """The analyst stays on the experiment, which says the job runs and refreshes until the
    results are in (it used to land on the job's page, with no way back)."""
    from productops.experiments.registry import service as registry
    from productops.experiments.schemas import ExperimentCreate, Transition, Variation

    with transaction(workspace.sessions) as s:
        exp = registry.create_experiment(
            s,
            ExperimentCreate(
                key="banner",
                name="Banner",
                primary_metric="clicks",
                variations=[Variation(name="A", weight=0.5), Variation(name="B", weight=0.5)],
            ),
            "test",
        )
        registry.transition(s, exp.id, Transition(action="start"), "test")
    editor = sign_in(workspace, "editor")
    r = editor.post("/experiments/banner/results")  # type: ignore[attr-defined]
    assert r.status_code == 303 and r.headers["location"] == "/experiments/banner"
    page = editor.client.get("/experiments/banner").text
    assert "Results are being computed" in page and '<meta http-equiv="refresh"' in page


def test_a_search_with_a_typo_offers_the_close_words(workspace: Workspace) -> None:
    _setup(workspace)
    viewer = sign_in(workspace, "viewer")
    page = viewer.client.get("/flags?q=chekout").text
    assert "No flags match." in page and '<a href="/flags?q=checkout">checkout</a>?' in page
    assert "Did you mean" not in viewer.client.get("/flags?q=zzzz").text
    assert "Did you mean" not in viewer.client.get("/flags?q=checkout").text
    page = viewer.client.get("/experiments?q=mobil").text
    assert "No experiments match." in page  # flags' words are not offered for experiments
    assert "Did you mean" not in page


def test_the_calculator_reads_a_percentage_and_names_a_baseline_out_of_range(
    workspace: Workspace,
) -> None:
    viewer = sign_in(workspace, "viewer")
    as_share = viewer.client.get("/experiments/calculator?baseline=0.1&mde=10")
    as_percent = viewer.client.get("/experiments/calculator?baseline=10%25&mde=10")
    assert as_share.status_code == as_percent.status_code == 200
    assert "14,751" in as_share.text and "14,751" in as_percent.text
    wrong = viewer.client.get("/experiments/calculator?baseline=10&mde=10")
    assert wrong.status_code == 422
    assert "a conversion rate is between 0 and 1, not 10 (10 % is 0.1)" in wrong.text


# --- evaluation over REST ----------------------------------------------------------------------


def test_the_evaluate_endpoint(app: TestClient, workspace: Workspace) -> None:
    _setup(workspace)
    headers = {"Authorization": f"Bearer {api_key(workspace, 'read')}"}
    r = app.post(
        "/api/v1/evaluate",
        json={"environment": "production", "attributes": {"id": "u1", "plan": "pro"}},
        headers=headers,
    )
    assert r.status_code == 200
    body = r.json()["flags"]
    assert body["new-checkout"] == {
        "value": True,
        "on": True,
        "off": False,
        "source": "force",
        "ruleId": "pro",
    }
    assert body["mobile-only"]["source"] == "experiment"
    r = app.post(
        "/api/v1/evaluate",
        json={"attributes": {"id": "u1"}, "flags": ["mobile-only", "nope"], "sticky_buckets": {}},
        headers=headers,
    )
    assert r.json()["unknown"] == ["nope"]
    assert r.json()["sticky_buckets"]["id||u1"]["assignments"]
    assert (
        app.post("/api/v1/evaluate", json={"environment": "nowhere"}, headers=headers).status_code
        == 404
    )


# --- GrowthBook's and OpenFeature's SDKs against a real server --------------------------------


@pytest.fixture
def live(sqlite_workspace: Workspace) -> Iterator[tuple[str, Workspace, dict[str, str]]]:
    keys = _setup(sqlite_workspace)
    with serving(create_app(sqlite_workspace)) as base:
        yield base, sqlite_workspace, keys


def test_growthbooks_own_python_sdk_reads_productops(
    live: tuple[str, Workspace, dict[str, str]],
) -> None:
    from growthbook import GrowthBook

    base, ws, keys = live
    with ws.sessions() as s:
        ours = CompiledFeatures(sdk.payload(s, "staging")["features"])
    for i in range(50):
        attrs: dict[str, Any] = {"id": f"user-{i}", "plan": "pro" if i % 2 else "free"}
        gb = GrowthBook(api_host=base, client_key=keys["staging"], attributes=attrs)
        gb.load_features()
        for key in ("new-checkout", "mobile-only"):
            assert gb.get_feature_value(key, "fallback") == ours.evaluate(key, attrs).value
        gb.destroy()
    gb = GrowthBook(
        api_host=base, client_key=keys["prod_web"], attributes={"id": "u", "plan": "pro"}
    )
    gb.load_features()
    assert gb.is_on("new-checkout") and gb.get_feature_value("mobile-only", "none") == "none"
    gb.destroy()


def test_the_openfeature_provider_with_the_openfeature_sdk(
    live: tuple[str, Workspace, dict[str, str]],
) -> None:
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext
    from openfeature.exception import ErrorCode
    from openfeature.flag_evaluation import Reason

    from productops.experiments.openfeature import ProductopsProvider

    base, ws, keys = live
    api.set_provider_and_wait(ProductopsProvider(url=base, client_key=keys["staging"]))
    client = api.get_client()
    ctx = EvaluationContext("user-7", {"plan": "pro"})
    details = client.get_boolean_details("new-checkout", False, ctx)
    assert (details.value, details.reason) == (True, Reason.TARGETING_MATCH), details
    split = client.get_string_details("mobile-only", "z", EvaluationContext("user-7"))
    assert split.reason == Reason.DEFAULT and split.value == "a"  # no rules in staging
    missing = client.get_boolean_details("nope", True, ctx)
    assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
    wrong = client.get_integer_details("new-checkout", 5, ctx)
    assert (wrong.value, wrong.error_code) == (5, ErrorCode.TYPE_MISMATCH)
    with ws.sessions() as s:
        features = sdk.payload(s, "production")["features"]
    api.set_provider_and_wait(ProductopsProvider(features))
    exp = api.get_client().get_string_details("mobile-only", "z", EvaluationContext("user-7"))
    assert exp.reason == Reason.SPLIT and exp.variant in ("0", "1") and exp.value in ("a", "b")
    api.shutdown()
