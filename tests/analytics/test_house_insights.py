"""What a new user hit on the insights pages, fixed: accounts have one source of truth, one
definition of "active", the API and the pages end at the same day, empty date boxes, and
typos that say what was meant."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from productops import customers
from productops.analytics import store
from productops.analytics.ingest.service import ingest_posthog
from productops.analytics.settings import events_file
from productops.cli.kit import error_detail
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.web.app import create_app
from tests.conftest import api_key, sign_in

PLANS = {"acc-1": "free", "acc-2": "growth", "acc-3": "growth"}
# person -> (account, events sent in March 2024)
PEOPLE = {
    "u1": ("acc-1", ["Report Created", "Page Viewed"]),
    "u2": ("acc-1", ["Page Viewed"]),
    "u3": ("acc-2", ["Report Created"]),
    "u4": ("acc-2", ["Page Viewed", "Page Viewed"]),
    "u5": ("acc-3", ["Report Created"]),
    "u6": ("acc-3", ["Page Viewed"]),
}
CATALOG = """\
dimensions:
  plan: {from: account, trait: plan}
metrics:
  - name: active_users
    type: active_users
  - name: report_creators
    type: unique_users
    event: Report Created
"""


def _event(i: int, person: str, name: str, day: int = 5) -> dict[str, object]:
    return {
        "event": name,
        "distinct_id": person,
        "uuid": f"{person}-{name}-{i}",
        "timestamp": f"2024-03-{day:02d}T10:{i:02d}:00Z",
        "properties": {"$groups": {"company": PEOPLE[person][0]}} if person in PEOPLE else {},
    }


@pytest.fixture
def company(workspace: Workspace) -> Workspace:
    with transaction(workspace.sessions) as s:
        for external_id, plan in PLANS.items():
            customers.create_account(
                s,
                customers.AccountCreate(
                    external_id=external_id, name=external_id.upper(), plan=plan, segment="SMB"
                ),
                actor="test",
            )
        for person, (account, _) in PEOPLE.items():
            customers.create_person(
                s,
                customers.PersonCreate(external_id=person, account_external_id=account),
                actor="test",
            )
    batch = [
        _event(i, person, name)
        for person, (_, names) in PEOPLE.items()
        for i, name in enumerate(names)
    ]
    # Someone who only ever sets traits ($set) has done nothing in the product.
    batch.append(
        {
            "event": "$set",
            "distinct_id": "u7",
            "uuid": "u7-set",
            "timestamp": "2024-03-06T10:00:00Z",
            "properties": {"$set": {"role": "admin"}},
        }
    )
    ingest_posthog(workspace, {"batch": batch, "historical_migration": True})
    store.close_writer(events_file(workspace))
    (workspace.path / "metrics.yml").write_text(CATALOG)
    return workspace


def _api(ws: Workspace) -> TestClient:
    client = TestClient(create_app(ws))
    client.headers["Authorization"] = f"Bearer {api_key(ws, 'write')}"
    return client


def _adoption_by_plan(client: TestClient) -> dict[str, tuple[int, int]]:
    r = client.get(
        "/api/v1/insights/adoption",
        params={
            "feature": "Report Created",
            "segment": "account.plan",
            "start": "2024-03-01",
            "end": "2024-03-31",
        },
    )
    assert r.status_code == 200, r.text
    return {row["segment"]: (row["active"], row["adopters"]) for row in r.json()["data"]}


def test_changing_an_accounts_plan_moves_adoption_by_plan(company: Workspace) -> None:
    client = _api(company)
    assert _adoption_by_plan(client) == {"free": (2, 1), "growth": (4, 2)}
    account = client.get("/api/v1/accounts", params={"q": "acc-1"}).json()["items"][0]
    r = client.patch(f"/api/v1/accounts/{account['id']}", json={"plan": "enterprise"})
    assert r.status_code == 200, r.text
    # Nobody copied anything into the event store: the analysis follows the record.
    assert _adoption_by_plan(client) == {"enterprise": (2, 1), "growth": (4, 2)}


def test_the_record_wins_over_traits_events_sent(company: Workspace) -> None:
    ingest_posthog(
        company,
        {
            "batch": [
                {
                    "event": "$groupidentify",
                    "distinct_id": "u1",
                    "uuid": "g-1",
                    "timestamp": "2024-03-07T10:00:00Z",
                    "properties": {
                        "$group_type": "company",
                        "$group_key": "acc-1",
                        "$group_set": {"plan": "platinum", "industry": "Retail"},
                    },
                }
            ],
            "historical_migration": True,
        },
    )
    store.follow_customers(company)
    with store.reader(events_file(company)) as con:
        row = con.execute(
            "SELECT properties->>'plan', properties->>'industry' FROM accounts "
            "WHERE account_id = 'acc-1'"
        ).fetchone()
    store.close_writer(events_file(company))
    assert row == ("free", "Retail")  # plan from the record, industry from the event


def test_a_person_who_only_sets_traits_is_not_active(company: Workspace) -> None:
    client = _api(company)
    r = client.get(
        "/api/v1/insights/active-users",
        params={"start": "2024-03-01", "end": "2024-03-31", "grain": "month"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"][0]["active_persons"] == 6  # u7 sent only $set
    metric = client.get(
        "/api/v1/metrics/active_users",
        params={"grain": "all", "start": "2024-03-01", "end": "2024-03-31"},
    )
    assert metric.json()["rows"] == [{"value": 6}]  # the catalog agrees


def test_the_api_ends_at_the_newest_event_like_the_pages(company: Workspace) -> None:
    client = _api(company)
    r = client.get("/api/v1/insights/retention")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["params"]["end"] == "2024-03-06"  # the newest event, not today
    assert body["data"], "historical data must not answer an empty range"
    description = client.get("/api/openapi.json").json()["paths"]["/api/v1/insights/retention"][
        "get"
    ]["parameters"]
    end = next(p for p in description if p["name"] == "end")
    assert "newest event" in end["description"]


def test_show_with_empty_date_boxes(company: Workspace) -> None:
    viewer = sign_in(company, Role.viewer)
    r = viewer.client.get(
        "/insights/metrics/report_creators?by=&grain=week&start=&end="
    )  # what the form sends as it starts
    assert r.status_code == 200, r.text
    assert "metric-spec" in r.text  # and it draws the numbers
    r = viewer.client.get("/insights/retention?start_event=&return_event=&start=&end=")
    assert r.status_code == 200, r.text


def test_a_typo_says_what_was_meant(company: Workspace) -> None:
    viewer = sign_in(company, Role.viewer)
    r = viewer.client.get("/insights/retention?start_event=Report+Crated")
    assert r.status_code == 422
    assert "no event named" in r.text and "did you mean" in r.text
    assert "Report Created" in r.text
    r = viewer.client.get("/insights/funnel?steps=Page+Viewed&steps=report+created")
    assert r.status_code == 422 and "did you mean" in r.text
    api = _api(company)
    r = api.get("/api/v1/insights/funnel", params={"steps": ["Page Viewed", "Reprot Created"]})
    assert r.status_code == 422 and "did you mean 'Report Created'" in error_detail(r)


def test_saving_a_metric_on_an_event_never_sent_asks_first(company: Workspace) -> None:
    editor = sign_in(company, Role.editor)
    text = CATALOG + "  - name: signups\n    type: count\n    event: Signed Upp\n"
    r = editor.post("/insights/metrics", {"text": text})
    assert r.status_code == 409  # type: ignore[attr-defined]
    assert "Signed Upp" in r.text and "Save anyway" in r.text  # type: ignore[attr-defined]
    assert "Signed Upp" not in (company.path / "metrics.yml").read_text()  # nothing saved
    r = editor.post("/insights/metrics", {"text": text, "confirm_unseen": "yes"})
    assert r.status_code == 303  # type: ignore[attr-defined]
    assert "Signed Upp" in (company.path / "metrics.yml").read_text()
    page = editor.client.get("/insights/metrics/signups").text
    assert "counts an event never sent" in page and "Signed Upp" in page


def test_the_dashboard_form_offers_the_catalogs_dimensions(company: Workspace) -> None:
    editor = sign_in(company, Role.editor)
    page = editor.client.get("/insights/dashboards").text
    select = re.search(r'<select id="dash-by" name="by">(.*?)</select>', page, re.S)
    assert select is not None and 'value="plan"' in select.group(1)
    # each metric's description sits in its own block beside its checkbox
    assert 'class="check-list"' in page
