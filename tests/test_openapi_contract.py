"""The OpenAPI document is the API's contract. Schemathesis, with every one of its checks
(what `schemathesis run --checks all` runs), finds every operation answering as documented
(status codes, content types, headers, bodies), refusing what its schema forbids, accepting
what it allows, and refusing callers without a key with a documented 401.

Each operation is called with an admin key on data made to fit its schema, on data made to
break it, on the records the workspace holds (so that answers with a body are checked too),
and without a key. `PRODUCTOPS_FUZZ_EXAMPLES` sets how many cases each pass draws."""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure, FailureGroup

from productops.analytics import store
from productops.analytics.dashboards import service as dashboards
from productops.analytics.settings import events_file
from productops.core import auth, jobs, teams
from productops.core.db import transaction
from productops.core.models import Role
from productops.core.workspace import Workspace
from productops.customers import service as customers
from productops.customers.schemas import AccountCreate, PersonCreate
from productops.web.app import create_app
from tests.analytics.test_analyses import write_story
from tests.conftest import api_key, make_user
from tests.research import contract as research_contract

EXAMPLES = int(os.environ.get("PRODUCTOPS_FUZZ_EXAMPLES", "8"))
# While working on one pillar: PRODUCTOPS_CONTRACT_TAGS=research,people checks only operations
# with one of those tags (the suite always checks every operation).
ONLY_TAGS = {t for t in os.environ.get("PRODUCTOPS_CONTRACT_TAGS", "").split(",") if t}

TRACKING_PLAN = """\
events:
  signup:
    properties:
      plan: {type: string, enum: [free, pro]}
  report:
  $pageview:
"""
CATALOG = """\
metrics:
  - name: signups
    type: count
    event: signup
  - name: reporters
    type: unique_users
    event: report
dimensions:
  plan: {source: account, trait: plan}
"""


@dataclass(frozen=True)
class Leeway:
    """What no schema can tell Schemathesis about an operation, and why."""

    reason: str
    # Statuses a request that fits the schema may still get (besides 2xx, 401, 403, 404,
    # 409 and 429), because what decides is the workspace's data or another parameter.
    fitting_but_refused: tuple[str, ...] = ()
    # Checks that do not apply to the operation.
    unchecked: tuple[str, ...] = ()


_INSIGHTS = Leeway(
    "event names must be events the store has seen (422 with a suggestion), the range must "
    "lie in 1900-2999 with start before end, a funnel's window is at most 365 days: the data "
    "and the other parameters decide, not each parameter's schema",
    fitting_but_refused=("422",),
)
_CSV_IMPORT = Leeway(
    "the importer checks the CSV's header and every row and names the bad one (422); the "
    "schema of a text body cannot say which files are good",
    fitting_but_refused=("422",),
)
LEEWAY: dict[str, Leeway] = {
    **{
        f"GET /api/v1/insights/{name}": _INSIGHTS
        for name in ("active-users", "stickiness", "adoption", "retention", "funnel", "lifecycle")
    },
    "POST /api/v1/insights/trends": _INSIGHTS,
    **{
        label: Leeway(
            "a cohort has rules or a list of people, exactly one, and a static cohort's people "
            "are not replaced by rules (nor the other way round); days lie in 1900-2999 with "
            "start before end, at most 60 points of size: one field decides another (422)",
            fitting_but_refused=("422",),
        )
        for label in (
            "POST /api/v1/cohorts",
            "PUT /api/v1/cohorts/{cohort_id}",
            "GET /api/v1/cohorts/{cohort_id}/sizes",
            "GET /api/v1/cohorts/{cohort_id}/people",
        )
    },
    "POST /api/v1/accounts/import": _CSV_IMPORT,
    "POST /api/v1/people/import": _CSV_IMPORT,
    "POST /api/v1/events/imports": Leeway(
        "with `format=auto` the file's name must say its format (.jsonl, .csv, .parquet, "
        "maybe .gz): one parameter constrains another (400)",
        fitting_but_refused=("400",),
    ),
    "POST /api/v1/dashboards": Leeway(
        "panels name the metric catalog's metrics and dimensions (metrics.yml), which no "
        "schema lists (422)",
        fitting_but_refused=("422",),
    ),
    "GET /api/v1/metrics/{name}": Leeway(
        "`by` names the catalog's dimensions (422 for others)", fitting_but_refused=("422",)
    ),
    "POST /api/v1/portfolio/import": _CSV_IMPORT,
    **{
        f"GET /api/v1/feedback{path}": Leeway(
            "`since` must not be after `until`: one parameter bounds another (422)",
            fitting_but_refused=("422",),
        )
        for path in ("", "/search")
    },
    "POST /api/v1/feedback/views": Leeway(
        "a saved search's `since` must not be after its `until` (422)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/feedback/import": Leeway(
        "the importer reads the file as its source's export and names the file, row and "
        "field it cannot take (422); the schema of a binary body cannot say which files are "
        "good",
        fitting_but_refused=("422",),
    ),
    "PATCH /api/v1/feedback/{item_id}": Leeway(
        "an item is not a duplicate of itself (or of its own copy), and `status: duplicate` "
        "needs the original: the stored items and the other fields decide (422)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/feature-requests": Leeway(
        "the excerpt must be words of the feedback it starts from (422)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/feature-requests/{request_id}/evidence": Leeway(
        "the excerpt must be words of the feedback attached (422)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/feature-requests/{request_id}/merge": Leeway(
        "a request is not merged into itself: the path bounds `into` (422)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/portfolio/rules": Leeway(
        "a rule maps to an initiative, an objective or a team: at least one of the three "
        "(422 when none is given)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/portfolio/connections": Leeway(
        "what a connection needs depends on its kind (a Jira site's url, say: 422), and its "
        "url must be one the outbound guard lets out, which the operator's settings decide "
        "(400)",
        fitting_but_refused=("400", "422"),
    ),
    "PATCH /api/v1/portfolio/connections/{connection_id}": Leeway(
        "a connection's new url must be one the outbound guard lets out, which the operator's "
        "settings decide (400), as when it is made",
        fitting_but_refused=("400",),
    ),
    "GET /api/v1/portfolio/changes": Leeway(
        "`since` must not be after `until`: one parameter bounds another",
        fitting_but_refused=("422",),
    ),
    "GET /api/v1/profiles/people/{person_id}/events": Leeway(
        "`before` must be a `next_cursor` this server gave (422 for any other text)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/saved-insights": Leeway(
        "what an insight's parameters must hold depends on its kind (a SQL query the console "
        "accepts, a funnel's two steps, a trends question): one field shapes another (422)",
        fitting_but_refused=("422",),
    ),
    "PUT /api/v1/dashboards/{dashboard_id}/panels": Leeway(
        "panels name saved insights that must exist and the catalog's metrics (422)",
        fitting_but_refused=("422",),
    ),
    "PUT /api/v1/dashboards/{dashboard_id}/scope": Leeway(
        "filters are PROPERTY:OP[:VALUE] texts whose grammar no schema says, and the start "
        "must not be after the end (422)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/sql": Leeway(
        "the query must be one read-only SELECT over the event tables within the console's "
        "limits: SQL's grammar is not a JSON schema (422)",
        fitting_but_refused=("422",),
    ),
    **{
        label: Leeway(
            "a saved query is checked as the console checks it (one read-only SELECT over the "
            "event tables; SQL's grammar is not a JSON schema) and runs within its limits (422)",
            fitting_but_refused=("422",),
        )
        for label in (
            "POST /api/v1/sql/queries",
            "PUT /api/v1/sql/queries/{query_id}",
            "POST /api/v1/sql/queries/{query_id}/run",
        )
    },
    # The experiments pillar: what the metric catalog, the stored flags and one field's
    # bearing on another decide.
    **{
        label: Leeway(
            "a flag's prerequisites and rules are GrowthBook's condition language, checked at "
            "save (an unknown operator, a regex that does not compile, an operand of the wrong "
            "type: 422 naming the rule and field), and a rule's value has the stored flag's "
            "type: no JSON schema says which patterns compile or what a flag stores",
            fitting_but_refused=("422",),
        )
        for label in (
            "POST /api/v1/flags",
            "PATCH /api/v1/flags/{key}",
            "PUT /api/v1/flags/{key}/environments/{environment}/rules",
            "POST /api/v1/flags/{key}/schedules",
        )
    },
    **{
        label: Leeway(
            "metrics must be in the metric catalog (metrics.yml, 422 with a suggestion), the "
            "variations' weights add up to 1 with distinct keys, and a started experiment's "
            "metrics and variations are fixed: the catalog, the stored experiment and one "
            "field's bearing on another decide",
            fitting_but_refused=("422",),
        )
        for label in ("POST /api/v1/experiments", "PATCH /api/v1/experiments/{key}")
    },
    "POST /api/v1/experiments/{key}/transitions": Leeway(
        "a lifecycle moves draft → running → stopped → decided (409 otherwise) and a decision "
        "names a variation of the stored experiment (422)",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/experiments/{key}/results": Leeway(
        "a draft experiment has no results to compute (422): its stored state decides",
        fitting_but_refused=("422",),
    ),
    "POST /api/v1/stats/compare": Leeway(
        "a proportion's conversions are at most its n, and both arms are of one type: one "
        "field bounds another (422 naming the arm and field)",
        fitting_but_refused=("422",),
    ),
    "GET /api/v1/power": Leeway(
        "a proportion's baseline lifted by `mde` must stay below 100 %, a mean needs `sd` and "
        "a non-zero baseline, and some lifts are too small for any number of users: the "
        "parameters bound one another (422)",
        fitting_but_refused=("422",),
    ),
}
# Segment and PostHog answer a batch 200 and list each message they refuse in `rejected`
# (their SDKs re-send or drop whole batches by status code), and ignore the envelope fields
# they do not use, as the vendors' servers do; tests/analytics/test_ingest_protocols.py
# checks those answers.
INGEST = Leeway("per-message refusals", unchecked=("negative_data_rejection",))

COHORT_RULES = {"rules": [{"type": "did", "event": "report", "at_least": 1, "days": 30}]}
# A site on a public address (no name to look up): connections are stored, never called here.
SITE = "https://93.184.215.14"
# The records the workspace holds, for a pass that reaches the answers with a body.
KNOWN: dict[str, dict[str, Any]] = {
    "GET /api/v1/jobs/{job_id}": {"path_parameters": {"job_id": 1}},
    "POST /api/v1/jobs": {"body": {"kind": "analytics.recount_tracking", "params": {}}},
    "PATCH /api/v1/users/{user_id}": {"path_parameters": {"user_id": 1}},
    "GET /api/v1/accounts/{account_id}": {"path_parameters": {"account_id": 1}},
    "PATCH /api/v1/accounts/{account_id}": {"path_parameters": {"account_id": 1}},
    "GET /api/v1/accounts/{account_id}/people": {"path_parameters": {"account_id": 1}},
    "GET /api/v1/people/{person_id}": {"path_parameters": {"person_id": 1}},
    "POST /api/v1/people": {"body": {"external_id": "bob", "account_external_id": "beta"}},
    "POST /api/v1/accounts/import": {
        "body": "external_id,name,plan,arr\ngamma,Gamma,pro,300\n",
        "media_type": "text/csv",
    },
    "POST /api/v1/people/import": {
        "body": "external_id,account_external_id,email\ncarol,acme,carol@example.com\n",
        "media_type": "text/csv",
    },
    "POST /api/v1/events/imports": {"query": {"filename": "events.jsonl", "format": "jsonl"}},
    "GET /api/v1/dashboards/{dashboard_id}": {"path_parameters": {"dashboard_id": 1}},
    "DELETE /api/v1/dashboards/{dashboard_id}": {"path_parameters": {"dashboard_id": 1}},
    "POST /api/v1/dashboards": {"body": {"name": "Sign-ups", "panels": [{"metric": "signups"}]}},
    "GET /api/v1/insights/adoption": {"query": {"feature": "report"}},
    "GET /api/v1/insights/funnel": {"query": {"steps": ["signup", "report"]}},
    "GET /api/v1/metrics/{name}": {"path_parameters": {"name": "signups"}},
    # The feedback hub (`_feedback`): items 1-3, tag 1 on item 2, theme 1, requests 1-2
    # (item 3 is evidence of 1, alice voted for it), competitors 1-2.
    "GET /api/v1/feedback/search": {"query": {"q": "export reports"}},
    "GET /api/v1/feedback/{item_id}": {"path_parameters": {"item_id": 1}},
    "PATCH /api/v1/feedback/{item_id}": {
        "path_parameters": {"item_id": 1},
        "body": {"status": "triaged", "theme_id": 1},
    },
    "PUT /api/v1/feedback/{item_id}/tags/{tag_id}": {
        "path_parameters": {"item_id": 1, "tag_id": 1}
    },
    "DELETE /api/v1/feedback/{item_id}/tags/{tag_id}": {
        "path_parameters": {"item_id": 2, "tag_id": 1}
    },
    # Views are their owner's: the first is the one the admin key saved just before.
    "DELETE /api/v1/feedback/views/{view_id}": {"path_parameters": {"view_id": 1}},
    "POST /api/v1/feedback/import": {
        "query": {"source": "survey", "filename": "nps.csv"},
        "body": b"id,created_at,score,comment,respondent\n"
        b"r-1,2026-01-05,3,Too slow to load,dana@acme.example\n",
        "media_type": "application/octet-stream",
    },
    "PATCH /api/v1/feedback/themes/{theme_id}": {
        "path_parameters": {"theme_id": 1},
        "body": {"name": "Exports"},
    },
    "GET /api/v1/feature-requests/{request_id}": {"path_parameters": {"request_id": 1}},
    "GET /api/v1/feature-requests/{request_id}/askers": {"path_parameters": {"request_id": 1}},
    "PATCH /api/v1/feature-requests/{request_id}": {
        "path_parameters": {"request_id": 1},
        "body": {"status": "planned"},
    },
    "POST /api/v1/feature-requests/{request_id}/evidence": {
        "path_parameters": {"request_id": 1},
        "body": {"item_id": 1, "importance": "important"},
    },
    "DELETE /api/v1/feature-requests/{request_id}/evidence/{item_id}": {
        "path_parameters": {"request_id": 1, "item_id": 3}
    },
    "POST /api/v1/feature-requests/{request_id}/votes": {
        "path_parameters": {"request_id": 1},
        "body": {"email": "voter@acme.example"},
    },
    "DELETE /api/v1/feature-requests/{request_id}/votes/{person_id}": {
        "path_parameters": {"request_id": 1, "person_id": 1}
    },
    "POST /api/v1/feature-requests/{request_id}/merge": {
        "path_parameters": {"request_id": 2},
        "query": {"into": 1},
    },
    "POST /api/v1/feature-requests/{request_id}/links": {
        "path_parameters": {"request_id": 1},
        "body": {"target_kind": "epic", "target_id": 1},
    },
    "GET /api/v1/competitors/{competitor_id}": {"path_parameters": {"competitor_id": 1}},
    "PUT /api/v1/competitors/{competitor_id}": {
        "path_parameters": {"competitor_id": 1},
        "body": {"name": "Jira", "aliases": ["JIRA Cloud"]},
    },
    "DELETE /api/v1/competitors/{competitor_id}": {"path_parameters": {"competitor_id": 2}},
    "GET /api/v1/cohorts/{cohort_id}": {"path_parameters": {"cohort_id": 1}},
    "PUT /api/v1/cohorts/{cohort_id}": {
        "path_parameters": {"cohort_id": 1},
        "body": {"description": "people who report", "definition": COHORT_RULES},
    },
    "DELETE /api/v1/cohorts/{cohort_id}": {"path_parameters": {"cohort_id": 2}},
    "GET /api/v1/cohorts/{cohort_id}/sizes": {"path_parameters": {"cohort_id": 1}},
    "GET /api/v1/cohorts/{cohort_id}/people": {"path_parameters": {"cohort_id": 1}},
    "POST /api/v1/cohorts": {"body": {"name": "Sign-ups", "people": ["alice"]}},
    "GET /api/v1/portfolio/teams/{team_id}": {"path_parameters": {"team_id": 1}},
    "GET /api/v1/portfolio/objectives/{objective_id}": {"path_parameters": {"objective_id": 1}},
    "PATCH /api/v1/portfolio/objectives/{objective_id}": {
        "path_parameters": {"objective_id": 1},
        "body": {"title": "Keep more reporters"},
    },
    "POST /api/v1/portfolio/objectives/{objective_id}/key-results": {
        "path_parameters": {"objective_id": 1},
        "body": {"title": "Monthly reporters", "target": 40},
    },
    "GET /api/v1/portfolio/key-results/{kr_id}": {"path_parameters": {"kr_id": 1}},
    "GET /api/v1/portfolio/key-results/{kr_id}/check-ins": {"path_parameters": {"kr_id": 1}},
    "GET /api/v1/portfolio/key-results/{kr_id}/metric": {"path_parameters": {"kr_id": 1}},
    "POST /api/v1/portfolio/key-results/{kr_id}/check-ins": {
        "path_parameters": {"kr_id": 1},
        "body": {"value": 4},
    },
    "GET /api/v1/portfolio/epics/{epic_id}": {"path_parameters": {"epic_id": 1}},
    "PUT /api/v1/portfolio/epics/{epic_id}/links": {
        "path_parameters": {"epic_id": 1},
        "body": {"initiative_id": 1},
    },
    "POST /api/v1/portfolio/epics/{epic_id}/feature-requests": {
        "path_parameters": {"epic_id": 1},
        "body": {"feature_request_id": 8},
    },
    "DELETE /api/v1/portfolio/epics/{epic_id}/feature-requests/{feature_request_id}": {
        "path_parameters": {"epic_id": 1, "feature_request_id": 7}
    },
    "PUT /api/v1/portfolio/initiatives/{initiative_id}/links": {
        "path_parameters": {"initiative_id": 1},
        "body": {"objective_id": 1},
    },
    "POST /api/v1/portfolio/rules": {
        "body": {"match": "component", "value": "onboarding", "initiative_id": 1}
    },
    "DELETE /api/v1/portfolio/rules/{rule_id}": {"path_parameters": {"rule_id": 2}},
    "POST /api/v1/portfolio/updates": {
        "body": {"subject_type": "epic", "subject_id": 1, "health": "at_risk"}
    },
    "POST /api/v1/portfolio/connections": {
        "body": {"name": "New Jira", "kind": "jira-dc", "url": SITE, "token": "secret"}
    },
    "PATCH /api/v1/portfolio/connections/{connection_id}": {
        "path_parameters": {"connection_id": 1},
        "body": {"scope": "project = ABC"},
    },
    "PUT /api/v1/portfolio/connections/{connection_id}/schedule": {
        "path_parameters": {"connection_id": 1},
        "body": {"every_hours": 24},
    },
    "POST /api/v1/portfolio/connections/{connection_id}/sync": {
        "path_parameters": {"connection_id": 1}
    },
    "DELETE /api/v1/portfolio/connections/{connection_id}": {
        "path_parameters": {"connection_id": 2}
    },
    "POST /api/v1/portfolio/import": {
        "query": {"format": "jira", "connection": "Jira export"},
        "body": "Summary,Issue key,Issue Type,Status\nShip it,A-1,Epic,In Progress\n",
        "media_type": "text/csv",
    },
    "POST /api/v1/sql": {"body": {"query": "SELECT event, count(*) AS n FROM events GROUP BY 1"}},
    # Saved queries 1 and 2 (`_insights`); 2 is the one deleted.
    "POST /api/v1/sql/queries": {
        "body": {"title": "Events", "query": "SELECT count(*) FROM events"}
    },
    "GET /api/v1/sql/queries/{query_id}": {"path_parameters": {"query_id": 1}},
    "PUT /api/v1/sql/queries/{query_id}": {
        "path_parameters": {"query_id": 1},
        "body": {"title": "Events", "query": "SELECT count(*) AS n FROM events"},
    },
    "POST /api/v1/sql/queries/{query_id}/run": {"path_parameters": {"query_id": 1}},
    "DELETE /api/v1/sql/queries/{query_id}": {"path_parameters": {"query_id": 2}},
    # Saved insights 1-3 (`_insights`: 3 is the one deleted) and annotation 1.
    "GET /api/v1/saved-insights/{insight_id}": {"path_parameters": {"insight_id": 1}},
    "PATCH /api/v1/saved-insights/{insight_id}": {
        "path_parameters": {"insight_id": 1},
        "body": {"description": "by event"},
    },
    "DELETE /api/v1/saved-insights/{insight_id}": {"path_parameters": {"insight_id": 3}},
    "POST /api/v1/saved-insights": {
        "body": {"kind": "sql", "title": "Count", "params": {"query": "SELECT 1 AS one"}}
    },
    "DELETE /api/v1/annotations/{annotation_id}": {"path_parameters": {"annotation_id": 1}},
    "POST /api/v1/annotations": {"body": {"day": "2024-01-10", "text": "Launch"}},
    "PUT /api/v1/dashboards/{dashboard_id}/panels": {
        "path_parameters": {"dashboard_id": 2},
        "body": [{"insight": 1, "width": "full"}],
    },
    "PUT /api/v1/dashboards/{dashboard_id}/scope": {
        "path_parameters": {"dashboard_id": 2},
        "body": {"days": 30},
    },
    # Profiles of the story's people and accounts (tests/analytics/test_analyses.py).
    "GET /api/v1/profiles/people/{person_id}": {"path_parameters": {"person_id": "alice"}},
    "GET /api/v1/profiles/people/{person_id}/events": {"path_parameters": {"person_id": "alice"}},
    "GET /api/v1/profiles/accounts/{account_id}": {"path_parameters": {"account_id": "acme"}},
    # The experiments pillar (`_experiments`): flags `checkout` (with a pending scheduled
    # change 1) and `banner`, experiments `onboarding` (draft) and `pricing` (running, with
    # results), SDK connections 1-2.
    "GET /api/v1/flags/{key}": {"path_parameters": {"key": "checkout"}},
    "PATCH /api/v1/flags/{key}": {
        "path_parameters": {"key": "checkout"},
        "body": {"description": "The new checkout", "tags": ["growth"]},
    },
    "PUT /api/v1/flags/{key}/environments/{environment}/rules": {
        "path_parameters": {"key": "checkout", "environment": "staging"},
        "body": {"rules": [{"type": "force", "value": True, "coverage": 0.25}]},
    },
    "PUT /api/v1/flags/{key}/environments/{environment}/enabled": {
        "path_parameters": {"key": "checkout", "environment": "production"},
        "body": {"enabled": False},
    },
    "POST /api/v1/flags/{key}/schedules": {
        "path_parameters": {"key": "banner"},
        "body": {"environment": "production", "run_at": "2999-01-01T09:00:00Z", "enabled": False},
    },
    "DELETE /api/v1/flags/schedules/{change_id}": {"path_parameters": {"change_id": 1}},
    "POST /api/v1/experiments": {
        "body": {
            "key": "trial-length",
            "name": "Trial length",
            "primary_metric": "signups",
            "variations": [{"name": "14 days", "weight": 0.5}, {"name": "30 days", "weight": 0.5}],
        }
    },
    "GET /api/v1/experiments/{key}": {"path_parameters": {"key": "onboarding"}},
    "PATCH /api/v1/experiments/{key}": {
        "path_parameters": {"key": "onboarding"},
        "body": {"hypothesis": "A checklist helps", "guardrail_metrics": ["reporters"]},
    },
    "POST /api/v1/experiments/{key}/transitions": {
        "path_parameters": {"key": "onboarding"},
        "body": {"action": "start"},
    },
    "POST /api/v1/experiments/{key}/results": {"path_parameters": {"key": "pricing"}},
    "GET /api/v1/experiments/{key}/results": {"path_parameters": {"key": "pricing"}},
    "GET /api/v1/experiments/{key}/doc": {"path_parameters": {"key": "pricing"}},
    "POST /api/v1/evaluate": {"body": {"environment": "production", "attributes": {"id": "u1"}}},
    "POST /api/v1/sdk-connections": {"body": {"name": "iOS app", "environment": "production"}},
    "DELETE /api/v1/sdk-connections/{connection_id}": {"path_parameters": {"connection_id": 2}},
    "POST /api/v1/stats/compare": {
        "body": {
            "a": {"type": "proportion", "sum": 120, "n": 1000},
            "b": {"type": "proportion", "sum": 150, "n": 1000},
        }
    },
    "GET /api/v1/power": {"query": {"kind": "proportion", "baseline": 0.1, "mde": 0.1}},
}
REVOKE_KEY = "DELETE /api/v1/apikeys/{key_id}"

# Tags whose operations do not meet the contract yet (none: each pillar's API meets it).
NOT_YET: set[str] = set()

# A pillar's own part of the contract (the records its operations read, what no schema can say
# about them) lives with its tests.
LEEWAY |= {
    label: Leeway(reason, fitting_but_refused=statuses)
    for label, (reason, statuses) in research_contract.LEEWAY.items()
}
KNOWN |= research_contract.KNOWN
# Operations whose fitting data is these values (`demo_like` fills them in): erasing a person
# cannot be undone, so that operation only ever names the person made for it.
FIXED: dict[str, dict[str, Any]] = {}


def leeway(operation: Any) -> Leeway:
    if "ingest" in (operation.tags or ()):
        return INGEST
    return LEEWAY.get(operation.label, Leeway("none"))


def contract_config() -> SchemathesisConfig:
    """The leeway as Schemathesis configuration (what a schemathesis.toml would say)."""
    return SchemathesisConfig.from_dict(
        {
            "operations": [
                {
                    "include-name": label,
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [
                                "2xx",
                                "3xx",
                                "401",
                                "403",
                                "404",
                                "409",
                                "429",
                                *lee.fitting_but_refused,
                            ]
                        }
                    },
                }
                for label, lee in LEEWAY.items()
            ]
        }
    )


def takes_data(operation: Any) -> bool:
    return any(len(part) for part in (operation.path_parameters, operation.query, operation.body))


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def all_checks() -> list[Any]:
    """What `schemathesis run --checks all` runs on each response."""
    load_all_checks()
    return [check for check in CHECKS.get_all() if callable(check)]


@pytest.fixture
def demo_like(sqlite_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """A workspace with a little of everything: events and identities, accounts and people,
    a user, a metric catalog, a tracking plan, a saved dashboard, a team and a queued job,
    the portfolio's objectives, work, connections, rules and updates, and the feedback hub's
    items, theme, tag, requests and competitors, and research's study, notes, highlights,
    insight and participants (`tests/research/contract.py`).

    On SQLite only: PostgreSQL also refuses a NUL character in any text (422, see
    `test_what_postgresql_cannot_store_is_refused_not_a_server_error`), which the free-text
    fields' schemas do not say, and the fuzzing would report it everywhere."""
    # The ingest guard holds repeated 401s for up to 2 s; its own tests cover it.
    monkeypatch.setenv("PRODUCTOPS_INGEST_GUARD", "off")
    ws = sqlite_workspace
    write_story(events_file(ws))
    (ws.path / "tracking-plan.yml").write_text(TRACKING_PLAN)
    (ws.path / "metrics.yml").write_text(CATALOG)
    make_user(ws, Role.editor)
    with transaction(ws.sessions) as s:
        customers.create_account(
            s, AccountCreate(external_id="acme", name="Acme", plan="pro", arr=1200), actor="t"
        )
        customers.create_account(
            s, AccountCreate(external_id="beta", name="Beta", plan="free"), actor="t"
        )
        customers.create_person(
            s, PersonCreate(external_id="alice", account_external_id="acme"), actor="t"
        )
        teams.create_team(s, "Growth", "", actor="t")
        jobs.enqueue(s, "analytics.recount_tracking", {}, created_by="t")
        dashboards.save_dashboard(
            s, ws, "Growth", "", [{"metric": "signups", "by": "plan"}], actor="t"
        )
        _cohorts(s)
        _portfolio(ws, s)
        _experiments(ws, s)
        _feedback(s)
        _insights(ws, s)
        known, fixed = research_contract.records(ws, s)
    for label, parameters in known.items():
        monkeypatch.setitem(KNOWN, label, parameters)
    for label, parameters in fixed.items():
        monkeypatch.setitem(FIXED, label, parameters)
    yield ws
    store.close_writer(events_file(ws))


def _cohorts(s: Any) -> None:
    """Cohort 1 (rules) and cohort 2 (a list of people, for the delete)."""
    from productops.analytics.cohorts import service as cohorts

    cohorts.create_cohort(s, "Reporters", definition=COHORT_RULES, actor="t")
    cohorts.create_cohort(s, "Beta", people=["alice", "bob"], actor="t")


def _insights(ws: Workspace, s: Any) -> None:
    """Saved SQL queries 1 to 3 (2 is deleted as a query, 3 as an insight), annotation 1,
    dashboard 2 (of saved insight 1)."""
    import datetime

    from productops.analytics import saved

    saved.add_annotation(s, datetime.date(2024, 1, 9), "Pricing page launched", actor="t")
    for title in ("Events by name", "Old query", "Gone"):
        saved.save_insight(
            s,
            "sql",
            title,
            {"query": "SELECT event, count(*) AS n FROM events GROUP BY 1", "chart": {}},
            actor="t",
        )
    dashboards.save_dashboard(s, ws, "Mixed", "", [{"insight": 1}], actor="t")


def _portfolio(ws: Workspace, s: Any) -> None:
    """Objectives with key results, an initiative and its epic (linked to a feature request),
    connections, mapping rules and an update: each id 1, and 2 where a test deletes one."""
    from productops.portfolio.okrs import service as okrs
    from productops.portfolio.sync import service as sync
    from productops.portfolio.updates import service as updates
    from productops.portfolio.work import service as work

    objective = okrs.create_objective(s, "Keep reporters", "2026-Q1", team_id=1, actor="t")
    okrs.add_key_result(
        s, objective.id, "Weekly reporters", target=10, metric="reporters", ws=ws, actor="t"
    )
    initiative = work.create_initiative(s, "Onboarding", objective_id=objective.id, actor="t")
    epic = work.create_epic(s, "Checklist", initiative_id=initiative.id, actor="t")
    work.link_feature(s, epic.id, 7, actor="t")
    for name in ("Jira", "Old Jira"):
        sync.connect(ws, s, name=name, kind="jira-dc", url=SITE, token="secret", actor="t")
    for value in ("onboarding", "old"):
        work.add_rule(s, match="label", value=value, initiative_id=initiative.id, actor="t")
    updates.write_update(s, "epic", epic.id, "on_track", "on its way", actor="t")


def _feedback(s: Any) -> None:
    """Three pieces of feedback (the second tagged, the third evidence of request 1, which
    alice voted for), a theme, a tag, two requests and two competitors: each id 1, and 2
    where a test deletes or merges one."""
    from productops.feedback.competitors import service as competitors
    from productops.feedback.items import service as items
    from productops.feedback.requests import service as requests
    from productops.feedback.schemas import (
        CompetitorCreate,
        EvidenceCreate,
        FeedbackCreate,
        RequestCreate,
        TagCreate,
        ThemeCreate,
        VoteCreate,
    )
    from productops.feedback.themes import service as themes
    from productops.feedback.themes import tags

    texts = (
        "Exporting reports to PDF fails every time",
        "We moved from Trello and miss its boards",
        "Please let us export reports as CSV",
    )
    items.create_feedback(
        s,
        [
            FeedbackCreate(external_id=f"fb-{n}", text=text, user_id="alice", account_id="acme")
            for n, text in enumerate(texts, 1)
        ],
        actor="t",
    )
    themes.create_theme(s, ThemeCreate(name="Reports"), actor="t")
    tags.create_tag(s, TagCreate(name="export"), actor="t")
    tags.apply_tag(s, 2, 1, actor="t")
    for title in ("Export to CSV", "CSV downloads"):
        requests.create_request(s, RequestCreate(title=title), actor="t")
    requests.attach(s, 1, EvidenceCreate(item_id=3, excerpt="export reports as CSV"), actor="t")
    requests.vote(s, 1, VoteCreate(person_id=1), actor="t")
    for name in ("Trello", "Asana"):
        competitors.create_competitor(s, CompetitorCreate(name=name), actor="t")


def _experiments(ws: Workspace, s: Any) -> None:
    """Flags `checkout` (a pending scheduled change, id 1) and `banner`, experiments
    `onboarding` (a draft) and `pricing` (running, its results computed), and SDK
    connections 1 and 2 (the first's client key goes to KNOWN: it is shown only once)."""
    import datetime as dt

    from productops.experiments.flags import service as flags
    from productops.experiments.registry import service as registry
    from productops.experiments.registry.results import compute_results
    from productops.experiments.schemas import ExperimentCreate, Transition
    from productops.experiments.sdk import service as sdk

    checkout = flags.create_flag(s, "checkout", "boolean", False, "t")
    flags.create_flag(s, "banner", "string", "Hello", "t", prerequisites=[{"flag": "checkout"}])
    flags.schedule_change(
        s, checkout.id, "production", dt.datetime(2999, 1, 1, tzinfo=dt.UTC), "t", enabled=True
    )
    variations = [{"name": "Control", "weight": 0.5}, {"name": "New", "weight": 0.5}]
    for key in ("onboarding", "pricing"):
        registry.create_experiment(
            s,
            ExperimentCreate(
                key=key, name=key.title(), primary_metric="signups", variations=variations
            ),
            "t",
            ws,
        )
    pricing = registry.experiment_by_key(s, "pricing")
    registry.transition(s, pricing.id, Transition(action="start"), "t")
    registry.save_result(s, pricing.id, compute_results(ws, pricing), "t")
    _, secret = sdk.create_connection(s, "Web app", "production", "t")
    sdk.create_connection(s, "Old app", "staging", "t")
    KNOWN["GET /api/features/{client_key}"] = {"path_parameters": {"client_key": secret}}


@dataclass
class Findings:
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, label: str, group: FailureGroup) -> None:
        for failure in group.exceptions:
            assert isinstance(failure, Failure)
            self.failures.setdefault((label, failure.title), str(group)[:3000])

    def crashed(self, label: str, exc: Exception, case: Any) -> None:
        title = f"raised {type(exc).__name__}"
        self.failures.setdefault((label, title), f"{exc}\n\n{case.as_curl_command()}"[:3000])

    def report(self) -> str:
        return "\n\n".join(
            f"{label}: {title}\n{text}" for (label, title), text in self.failures.items()
        )


def _fuzz(
    operation: Any,
    findings: Findings,
    headers: dict[str, str],
    mode: GenerationMode = GenerationMode.POSITIVE,
    examples: int = EXAMPLES,
    **fixed: Any,
) -> None:
    lee = leeway(operation)
    checks = [check for check in all_checks() if check.__name__ not in lee.unchecked]

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    # The key is part of every case, not an afterthought of the call, so that Schemathesis
    # knows what was sent (a negative case changes the data, never the caller).
    @given(case=operation.as_strategy(generation_mode=mode, headers=headers or None, **fixed))
    def run(case: Any) -> None:
        try:
            response = case.call()
        except Exception as exc:  # the app raised instead of answering: a 500 to a client
            findings.crashed(operation.label, exc, case)
            return
        findings.statuses[operation.label][response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            findings.add(operation.label, group)

    run()


# Every operation of every pillar (over 200, each called some 20 times): longer than the
# suite's 300 s guard against hangs on a loaded 2-core machine.
@pytest.mark.timeout(1200)
def test_every_operation_answers_as_its_schema_says(demo_like: Workspace) -> None:
    ws = demo_like
    schema = schemathesis.openapi.from_asgi(
        "/api/openapi.json", create_app(ws), config=contract_config()
    )
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        # Naming a tag checks its operations even while they are NOT_YET.
        if (ONLY_TAGS & set(op.tags or ())) or (not ONLY_TAGS and not NOT_YET & set(op.tags or ()))
    ]
    assert ONLY_TAGS or len(operations) >= 80
    admin = bearer(api_key(ws, "admin"))

    findings = Findings()
    for op in operations:
        # Revoking keys by made-up ids may revoke the caller's own: each pass brings its own.
        caller: Callable[[], dict[str, str]] = (
            (lambda: bearer(api_key(ws, "admin"))) if op.label == REVOKE_KEY else (lambda: admin)
        )
        _fuzz(op, findings, caller(), **FIXED.get(op.label, {}))
        if takes_data(op):  # else there is nothing to break but the key, which is fixed
            _fuzz(op, findings, caller(), GenerationMode.NEGATIVE)
        if op.label == REVOKE_KEY:
            with transaction(ws.sessions) as s:
                throwaway = auth.create_api_key(s, "to revoke", "read", actor="test").id
            _fuzz(op, findings, caller(), examples=2, path_parameters={"key_id": throwaway})
        elif op.label in KNOWN:
            _fuzz(op, findings, caller(), examples=3, **KNOWN[op.label])
        _fuzz(op, findings, {}, examples=2)  # no key at all

    assert not findings.failures, findings.report()
    never_served = sorted(
        label
        for label, counts in findings.statuses.items()
        if not any(200 <= code < 300 for code in counts)
    )
    assert never_served == [], (
        "no answer with a body was checked for these operations (add the records they need "
        "to `demo_like` and their ids to KNOWN):\n" + "\n".join(never_served)
    )


def test_what_postgresql_cannot_store_is_refused_not_a_server_error(workspace: Workspace) -> None:
    """Ids past 32 bits are refused by the schema on both databases; a NUL character, which
    PostgreSQL cannot store in text, is a 422 there (SQLite stores it)."""
    client = TestClient(create_app(workspace))
    client.headers["Authorization"] = f"Bearer {api_key(workspace, 'admin')}"
    for path in ("/api/v1/accounts/2147483648", "/api/v1/jobs/2147483648"):
        r = client.get(path)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "path", r.text
    assert client.get("/api/v1/accounts/2147483647").status_code == 404
    r = client.post("/api/v1/people", json={"external_id": "p1", "account_external_id": "a\x00"})
    assert r.status_code in (404, 422), r.text
    if workspace.engine.dialect.name == "postgresql":
        assert r.status_code == 422 and "NUL" in r.json()["detail"][0]["msg"]
