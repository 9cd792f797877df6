"""Written once, same numbers everywhere: every analysis, and every metric of a sample
catalog, gives identical results on DuckDB (the embedded store) and on PySpark (local mode)
over the same synthetic events — several thousand events of people who start anonymous and
are merged when they identify, in accounts with plans.

One Spark session for the module (it takes ~10 s to start); skipped without Java.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pytest

from productops.analytics import analyses as A
from productops.analytics import store

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
    reason="PySpark needs Java (no `java` on PATH and no JAVA_HOME)",
)

START, END = dt.date(2024, 3, 1), dt.date(2024, 5, 31)
PLANS = ["free", "pro", "enterprise"]
EVENTS = {  # name: weight
    "$pageview": 30,
    "signup": 4,
    "report_created": 10,
    "export": 4,
    "invite_sent": 2,
    "purchase": 3,
}
BROWSERS = ["Chrome", "Firefox", "Safari"]

SPARK_SCHEMAS = {
    "events_resolved": "event_id string, event string, type string, ts timestamp, "
    "received_at timestamp, distinct_id string, user_id string, anonymous_id string, "
    "account_id string, source string, properties string, person_id string",
    "persons": "person_id string, account_id string, properties string, first_seen timestamp, "
    "updated_at timestamp",
    "accounts": "account_id string, properties string, updated_at timestamp",
}


def synthetic_events(seed: int = 7) -> tuple[list[store.Event], list[store.IdentityUpdate]]:
    """~3,000 events of 90 people over three months: most visit anonymously first and then
    identify (merged into one person), some never do; events carry accounts and properties."""
    rng = random.Random(seed)
    events: list[store.Event] = []
    identities: list[store.IdentityUpdate] = []
    names, weights = list(EVENTS), list(EVENTS.values())
    accounts = [f"acct-{i}" for i in range(9)]
    for i, acct in enumerate(accounts):
        traits = {"plan": PLANS[i % 3], "segment": "smb" if i < 6 else "mid", "seats": i * 5}
        identities.append(store.IdentityUpdate("group", account_id=acct, traits=traits))
    for p in range(90):
        person, anon = f"user-{p}", f"anon-{p}"
        account = rng.choice(accounts)
        first = rng.randrange(0, 80)
        days = sorted({first, *(first + rng.randrange(0, 40) for _ in range(rng.randrange(1, 14)))})
        identify_at = None if p % 10 == 0 else days[min(1, len(days) - 1)]
        browser = rng.choice(BROWSERS)
        for day in days:
            if day > 91:
                continue
            for _ in range(rng.randrange(1, 7)):
                when = dt.datetime.combine(START, dt.time()) + dt.timedelta(
                    days=day, seconds=rng.randrange(0, 86_400)
                )
                known = identify_at is not None and day >= identify_at
                name = rng.choices(names, weights)[0]
                props: dict[str, Any] = {"$browser": browser}
                if name == "purchase":
                    props["amount"] = rng.choice([9.5, 20, 49, 99.99])
                events.append(
                    store.Event(
                        event_id=f"ev-{len(events)}",
                        event=name,
                        type="page" if name == "$pageview" else "track",
                        ts=when,
                        received_at=when,
                        distinct_id=person if known else anon,
                        user_id=person if known else None,
                        anonymous_id=None if known else anon,
                        account_id=account if known and rng.random() < 0.8 else None,
                        source=rng.choice(["segment", "posthog"]),
                        properties=props,
                    )
                )
        if identify_at is not None:
            at = dt.datetime.combine(START, dt.time(23, 59)) + dt.timedelta(days=identify_at)
            events.append(
                store.Event(f"id-{p}", "$identify", "identify", at, at, person, person, anon)
            )
            country = rng.choice(["DE", "US", "FR", None])
            traits = {"country": country} if country else {}
            kind = "alias" if p % 7 == 0 else "identify"
            identities.append(store.IdentityUpdate(kind, anon, person, traits=traits, at=at))
            if kind == "alias":
                identities.append(store.IdentityUpdate("identify", person, person, traits=traits))
            if p % 3:  # the rest only carry their account on events
                identities.append(
                    store.IdentityUpdate("group", person_id=person, account_id=account, at=at)
                )
    return events, identities


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path: Path = tmp_path_factory.mktemp("parity") / "events.duckdb"
    events, identities = synthetic_events()
    con = store.connect(path)
    store.append_arrow(con, store.events_to_arrow(events))
    for update in identities:
        store.apply_identity(con, update)
    con.close()
    ro = store.connect(path, read_only=True)
    yield ibis.duckdb.from_connection(ro)
    ro.close()


@pytest.fixture(scope="module")
def spark(duck: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A local Spark session with the same tables as the DuckDB store (JSON as strings)."""
    pyspark_sql = pytest.importorskip("pyspark.sql")
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    session = (
        pyspark_sql.SparkSession.builder.master("local[1]")
        .appName("productops-parity")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        # small data: one partition and no adaptive planning make queries ~3x faster
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.default.parallelism", "1")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    session.conf.set("spark.sql.shuffle.partitions", "1")  # also when the session existed
    session.conf.set("spark.sql.adaptive.enabled", "false")
    raw = duck.con
    for name, schema in SPARK_SCHEMAS.items():
        columns = [c.split()[0] for c in schema.split(", ")]
        select = ", ".join(
            f"CAST({c} AS VARCHAR) AS {c}" if c == "properties" else c for c in columns
        )
        frame = raw.execute(f"SELECT {select} FROM {name}").df()
        session.createDataFrame(frame, schema=schema).createOrReplaceTempView(name)
    yield ibis.pyspark.connect(session)
    session.stop()


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_integer_dtype(out[col]):
            out[col] = out[col].astype("int64")
        elif pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = pd.to_datetime(out[col]).dt.date
        elif out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out.reset_index(drop=True)


def assert_same(on_duck: pd.DataFrame, on_spark: pd.DataFrame, what: str) -> None:
    left, right = normalised(on_duck), normalised(on_spark)
    assert len(left) > 0, f"{what}: no rows — the comparison would prove nothing"
    pd.testing.assert_frame_equal(left, right, check_dtype=False, obj=what)


ANALYSES: dict[str, Callable[[Any], A.Insight]] = {
    "active users by day": lambda s: A.active_users(s, START, END),
    "active users by week": lambda s: A.active_users(s, START, END, grain="week"),
    "active users by month": lambda s: A.active_users(s, START, END, grain="month"),
    "rolling DAU/WAU/MAU": lambda s: A.rolling_active_users(s, START, END),
    "DAU/MAU": lambda s: A.stickiness(s, START, END).ratio,
    "days active": lambda s: A.stickiness(s, START, END).days_active,
    "weeks active": lambda s: A.stickiness(s, START, END, grain="week").days_active,
    "adoption by plan": lambda s: A.adoption(s, "export", START, END),
    "adoption by country": lambda s: A.adoption(s, "export", START, END, segment="person.country"),
    "account adoption": lambda s: A.adoption(s, "invite_sent", START, END, unit="account"),
    "retention weekly first time": lambda s: A.retention(s, START, END),
    "retention daily on or after": lambda s: A.retention(
        s, START, END, grain="day", return_mode="on_or_after", periods=14
    ),
    "retention monthly recurring by feature": lambda s: A.retention(
        s,
        START,
        END,
        grain="month",
        mode="recurring",
        start_event="signup",
        return_event="report_created",
    ),
    "funnel": lambda s: A.funnel(s, ["$pageview", "signup", "report_created"], START, END),
    "funnel strict by browser": lambda s: A.funnel(
        s,
        ["$pageview", "report_created", "export"],
        START,
        END,
        order="strict",
        breakdown="event.$browser",
    ),
    "funnel by plan, 3 days": lambda s: A.funnel(
        s,
        ["signup", "report_created", "purchase"],
        START,
        END,
        window=dt.timedelta(days=3),
        breakdown="account.plan",
    ),
    "funnel by country": lambda s: A.funnel(
        s, ["$pageview", "$pageview", "purchase"], START, END, breakdown="person.country"
    ),
    "lifecycle weekly": lambda s: A.lifecycle(s, START, END),
    "lifecycle daily": lambda s: A.lifecycle(s, START, END, grain="day"),
    # issue 12: filters, cohorts, breakdowns, trends, paths, funnels in depth
    "retention by plan, filtered": lambda s: A.retention(
        s, START, END, breakdown="account.plan", filters=NOT_SAFARI
    ),
    "retention of a cohort by country": lambda s: A.retention(
        s, START, END, grain="month", breakdown="person.country", filters=IN_EXPORTERS
    ),
    "stickiness of reports by plan": lambda s: (
        A.stickiness(
            s, START, END, grain="week", event="report_created", breakdown="account.plan"
        ).days_active
    ),
    "lifecycle by cohort": lambda s: A.lifecycle(
        s, START, END, breakdown=A.Breakdown(cohorts=(EXPORTERS, FIRST_APRIL, LISTED))
    ),
    "trends by plan with formula and compare": lambda s: (
        A.trends(
            s,
            [A.Series(event="export"), A.Series(kind="people", event="*")],
            START,
            END,
            grain="week",
            formulas=["A / B * 100"],
            breakdown="account.plan",
            compare=True,
            filters=NOT_SAFARI,
        ).series
    ),
    "trends of amounts by browser, top 2": lambda s: (
        A.trends(
            s,
            [
                A.Series(kind="sum", event="purchase", property="amount"),
                A.Series(kind="avg", event="purchase", property="amount"),
                A.Series(kind="max", event="purchase", property="amount"),
            ],
            START,
            END,
            grain="month",
            breakdown=A.Breakdown(dimension=A.Dimension.parse("event.$browser"), limit=2),
        ).series
    ),
    "trends totals by cohort": lambda s: _totals(
        A.trends(
            s,
            [A.Series(kind="people", event="report_created")],
            START,
            END,
            breakdown=A.Breakdown(cohorts=(EXPORTERS, LISTED)),
        )
    ),
    "paths after signup": lambda s: _paths(s).nodes,
    "path edges after signup": lambda s: _paths(s).edges,
    "funnel people with an exclusion": lambda s: _funnel_people(s).query,
    "funnel by cohorts": lambda s: A.funnel(
        s,
        ["$pageview", "signup", "report_created"],
        START,
        END,
        breakdown=A.Breakdown(cohorts=(EXPORTERS, FIRST_APRIL)),
    ),
}


def _totals(result: Any) -> A.Insight:
    assert result.totals is not None
    return result.totals


def _paths(s: Any) -> Any:
    from productops.analytics.analyses.paths import paths

    return paths(s, START, END, event="signup", depth=4, min_share=0.02)


def _funnel_people(s: Any) -> Any:
    from productops.analytics.analyses import funnel_depth as F

    return F.funnel_people(
        s,
        ["$pageview", "signup", "report_created"],
        START,
        END,
        exclusions=[F.Exclusion(event="invite_sent", from_step=2, to_step=3)],
    )


NOT_SAFARI = A.Filters(
    properties=(A.PropertyFilter(property="event.$browser", op="neq", value="Safari"),)
)
EXPORTERS = A.CohortSpec(
    "exporters",
    definition=A.CohortDefinition(
        rules=[A.CohortRule(type="did", event="export", at_least=2, days=45)]
    ),
    as_of=END,
)
FIRST_APRIL = A.CohortSpec(
    "first bought in April",
    definition=A.CohortDefinition(
        match="any",
        rules=[
            A.CohortRule(
                type="first_did",
                event="purchase",
                start=dt.date(2024, 4, 1),
                end=dt.date(2024, 4, 30),
            ),
            A.CohortRule(
                type="property",
                filter=A.PropertyFilter(property="account.plan", op="eq", value="enterprise"),
            ),
        ],
    ),
    as_of=END,
)
LISTED = A.CohortSpec("listed", people=tuple(f"user-{i}" for i in range(0, 90, 3)))
IN_EXPORTERS = A.Filters(cohorts=(EXPORTERS,), not_cohorts=(LISTED,))


def test_the_synthetic_events_are_what_the_parity_claims_rest_on(duck: Any) -> None:
    ev = duck.table("events_resolved")
    assert 2_000 <= ev.count().execute() <= 6_000
    merged = ev.filter(ev.anonymous_id.notnull() & (ev.person_id != ev.distinct_id))
    assert merged.count().execute() > 100  # anonymous events counted for their person


def test_spark_sees_the_same_events(duck: Any, spark: Any) -> None:
    query = """
        SELECT (SELECT count(DISTINCT event_id) FROM events_resolved) AS events,
               (SELECT count(DISTINCT person_id) FROM events_resolved) AS people,
               (SELECT min(ts) FROM events_resolved) AS first_ts,
               (SELECT max(ts) FROM events_resolved) AS last_ts,
               (SELECT count(*) FROM persons) AS persons,
               (SELECT count(*) FROM accounts) AS accounts
    """
    assert_same(duck.sql(query).execute(), spark.sql(query).execute(), "the loaded tables")


@pytest.mark.parametrize("name", list(ANALYSES))
def test_every_analysis_gives_identical_numbers_on_duckdb_and_spark(
    duck: Any, spark: Any, name: str
) -> None:
    on_duck, on_spark = ANALYSES[name](duck), ANALYSES[name](spark)
    assert_same(on_duck.data, on_spark.data, name)
    assert "events_resolved" in on_spark.sql()[next(iter(on_spark.sql()))]


CATALOG = """\
active_user:
  events: any
dimensions:
  plan: {from: account, trait: plan}
  segment: {from: account, trait: segment}
  country: {from: person, trait: country}
  browser: {from: event, property: "$browser"}
  source: {from: event, column: source}
metrics:
  - name: pageviews
    type: count
    event: $pageview
  - name: reporters
    type: unique_users
    event: report_created
  - name: exporting_accounts
    type: unique_accounts
    event: export
  - name: revenue
    type: sum
    event: purchase
    property: amount
  - name: order_value
    type: average
    event: purchase
    property: amount
    filters: [{property: amount, op: ">", value: 10}]
  - name: reports_per_pageview
    type: ratio
    numerator: reporters
    denominator: active
  - name: signup_to_report
    type: conversion
    event: signup
    then: report_created
    window_days: 7
  - name: active
    type: active_users
"""
# every metric per week overall, and by one dimension at another grain (in rotation)
BY_DIMENSION = [("plan", "month"), ("browser", "all"), ("country", "day"), ("source", "week")]


def _catalog() -> Any:
    metrics = pytest.importorskip("productops.analytics.catalog.metrics")
    catalog = pytest.importorskip("productops.analytics.catalog")
    return metrics, catalog.parse_catalog(CATALOG)


def test_every_catalog_metric_gives_identical_numbers_on_duckdb_and_spark(
    duck: Any, spark: Any
) -> None:
    metrics, catalog = _catalog()
    for i, metric in enumerate(catalog.metrics):
        for by, grain in [(None, "week"), BY_DIMENSION[i % len(BY_DIMENSION)]]:
            what = f"{metric.name} by {by} per {grain}"
            frames = []
            for con in (duck, spark):
                expr = metrics.compile_metric(con, catalog, metric.name, by, grain, START, END)
                frame = con.execute(expr)
                keys = [c for c in ("period", by) if c and c in frame.columns]
                frames.append(frame.sort_values(keys).reset_index(drop=True) if keys else frame)
            assert_same(frames[0], frames[1], what)
