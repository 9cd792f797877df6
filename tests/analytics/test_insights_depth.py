"""Filters, cohorts, trends and breakdowns of retention, stickiness and lifecycle give the
numbers hand-written SQL gives over the same generated events, and the planted answers
(tests/analytics/insights_data.py) come out exactly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import ibis
import pandas as pd
import pytest

from productops.analytics import analyses as A
from productops.analytics import store
from productops.analytics.analyses.segments import Breakdown
from productops.analytics.analyses.trend_series import Series, trends
from productops.analytics.query.cohorts import (
    CohortDefinition,
    CohortRule,
    CohortSpec,
    members,
    size_over_time,
)
from productops.analytics.query.filtering import filtered
from productops.analytics.query.filters import Filters, PropertyFilter
from productops.analytics.query.tables import event_tables
from productops.core.errors import InvalidInput
from tests.analytics.insights_data import END, PLANTED, START, write_store

ACCOUNT = "coalesce(e.account_id, p.account_id)"
PLAN = "coalesce(json_extract_string(a.properties, '$.plan'), '(none)')"
BROWSER = """json_extract_string(e.properties, '$."$browser"')"""
COUNTRY = "json_extract_string(p.properties, '$.country')"
JOINED = f"""
    events_resolved e
    LEFT JOIN persons p ON p.person_id = e.person_id
    LEFT JOIN accounts a ON a.account_id = {ACCOUNT}
"""
ACTIVE = "e.event NOT IN ('$identify','$groupidentify','$create_alias','$set','identify','group','alias') AND e.type NOT IN ('identify','group','alias')"  # noqa: E501


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    path = tmp_path_factory.mktemp("depth") / "events.duckdb"
    write_store(path)
    ro = store.connect(path, read_only=True)
    yield ibis.duckdb.from_connection(ro)
    ro.close()


def sql(con: Any, query: str) -> pd.DataFrame:
    frame: pd.DataFrame = con.con.execute(query).df()
    return frame


def rule(**kw: Any) -> CohortRule:
    return CohortRule(**kw)


def cohort(*rules: CohortRule, match: str = "all", name: str = "c") -> CohortSpec:
    return CohortSpec(name, definition=CohortDefinition(match=match, rules=list(rules)), as_of=END)


def people(con: Any, spec: CohortSpec, as_of: dt.date | None = None) -> set[str]:
    m = members(event_tables(con), spec, as_of)
    return {str(p) for p in m.execute()["person_id"]}


# --- property filters ------------------------------------------------------------------------

FILTER_CASES = [
    (PropertyFilter(property="event.$browser", op="eq", value="Chrome"), f"{BROWSER} = 'Chrome'"),
    (
        PropertyFilter(property="event.$browser", op="neq", value="Chrome"),
        f"({BROWSER} IS NULL OR {BROWSER} <> 'Chrome')",
    ),
    (
        PropertyFilter(property="event.$browser", op="contains", value="fari"),
        f"{BROWSER} LIKE '%fari%'",
    ),
    (
        PropertyFilter(property="event.$browser", op="in", value=["Safari", "Firefox"]),
        f"{BROWSER} IN ('Safari', 'Firefox')",
    ),
    (
        PropertyFilter(property="event.amount", op="gt", value=20),
        "TRY_CAST(json_extract_string(e.properties, '$.amount') AS DOUBLE) > 20",
    ),
    (
        PropertyFilter(property="event.amount", op="is_set"),
        "json_extract_string(e.properties, '$.amount') IS NOT NULL",
    ),
    (PropertyFilter(property="event.source", op="eq", value="posthog"), "e.source = 'posthog'"),
    (PropertyFilter(property="person.country", op="eq", value="DE"), f"{COUNTRY} = 'DE'"),
    (PropertyFilter(property="person.country", op="is_not_set"), f"{COUNTRY} IS NULL"),
    (
        PropertyFilter(property="account.plan", op="in", value=["pro", "enterprise"]),
        "json_extract_string(a.properties, '$.plan') IN ('pro', 'enterprise')",
    ),
    (
        PropertyFilter(property="account.seats", op="gte", value=20),
        "TRY_CAST(json_extract_string(a.properties, '$.seats') AS DOUBLE) >= 20",
    ),
    (
        PropertyFilter(property="account.plan", op="not_contains", value="pro"),
        "NOT coalesce(json_extract_string(a.properties, '$.plan') LIKE '%pro%', false)",
    ),
]


@pytest.mark.parametrize("flt,where", FILTER_CASES, ids=[f.describe() for f, _ in FILTER_CASES])
def test_a_property_filter_keeps_the_events_hand_written_sql_keeps(
    con: Any, flt: PropertyFilter, where: str
) -> None:
    kept = filtered(event_tables(con), Filters(properties=(flt,))).events
    got = kept.aggregate(n=kept.count(), people=kept.person_id.nunique()).execute()
    want = sql(
        con,
        f"SELECT count(*) AS n, count(DISTINCT e.person_id) AS people FROM {JOINED} WHERE {where}",
    )
    assert int(want["n"][0]) > 0, "the case must keep some events to prove anything"
    assert int(got["n"][0]) == int(want["n"][0])
    assert int(got["people"][0]) == int(want["people"][0])


def test_date_filters_compare_the_day(con: Any) -> None:
    t = ibis.memtable({"v": ["2024-03-01", "2024-03-02T10:00:00Z", None, "2024-02-28"]})
    from productops.analytics.query.filters import condition

    before = PropertyFilter(property="event.x", op="before", value="2024-03-01")
    after = PropertyFilter(property="event.x", op="after", value="2024-03-01")
    got = con.execute(t.select(b=condition(t.v, before), a=condition(t.v, after)))
    assert list(got["b"]) == [False, False, False, True]
    assert list(got["a"]) == [False, True, False, False]


def test_filters_are_checked_with_the_reason() -> None:
    with pytest.raises(ValueError, match="needs a list"):
        PropertyFilter(property="event.x", op="in", value="a")
    with pytest.raises(ValueError, match="needs a number"):
        PropertyFilter(property="event.x", op="gt", value="many")
    with pytest.raises(ValueError, match=r"person\.TRAIT"):
        PropertyFilter(property="plan", op="eq", value="pro")


def test_every_analysis_takes_filters(con: Any) -> None:
    only_de = Filters(properties=(PropertyFilter(property="person.country", op="eq", value="DE"),))
    au = A.active_users(con, START, END, grain="month", filters=only_de)
    want = sql(
        con,
        f"""SELECT date_trunc('month', e.ts)::DATE AS m, count(DISTINCT e.person_id) AS n
            FROM {JOINED} WHERE {COUNTRY} = 'DE' AND {ACTIVE}
            AND e.ts >= '2024-03-01' AND e.ts < '2024-06-01' GROUP BY 1 ORDER BY 1""",
    )
    assert list(au.data["active_persons"]) == list(want["n"])
    fun = A.funnel(con, ["$pageview", "signup"], START, END, filters=only_de)
    assert int(fun.data["persons"][0]) <= int(
        A.funnel(con, ["$pageview", "signup"], START, END).data["persons"][0]
    )
    ad = A.adoption(con, "export", START, END, filters=only_de)
    assert ad.data["active"].sum() == int(au.data["active_persons"].sum()) or len(ad.data) > 0


# --- cohorts ---------------------------------------------------------------------------------


def test_planted_behavioural_cohorts_hold_exactly_the_planted_people(con: Any) -> None:
    three = cohort(rule(type="did", event="report_shared", at_least=3, days=30))
    assert people(con, three) == {"planted-2", "planted-3", "planted-4"}
    march = cohort(
        rule(
            type="first_did",
            event="report_shared",
            start=dt.date(2024, 3, 1),
            end=dt.date(2024, 3, 31),
        )
    )
    assert people(con, march) == {"planted-5"}
    xx = cohort(
        rule(type="property", filter=PropertyFilter(property="person.country", op="eq", value="XX"))
    )
    assert people(con, xx) == set(PLANTED)
    planted_plan = cohort(
        rule(
            type="property",
            filter=PropertyFilter(property="account.plan", op="eq", value="planted"),
        )
    )
    assert people(con, planted_plan) == set(PLANTED)
    either = cohort(
        rule(type="did", event="report_shared", at_least=5, days=30),
        rule(
            type="first_did",
            event="report_shared",
            start=dt.date(2024, 3, 1),
            end=dt.date(2024, 3, 31),
        ),
        match="any",
    )
    assert people(con, either) == {"planted-4", "planted-5"}
    both = cohort(
        rule(
            type="property", filter=PropertyFilter(property="person.country", op="eq", value="XX")
        ),
        rule(type="did_not", event="report_shared", days=30),
    )
    assert people(con, both) == {"planted-5"}


def test_a_cohort_taken_on_another_day_has_that_days_members(con: Any) -> None:
    shared = cohort(rule(type="did", event="report_shared", days=30))
    assert people(con, shared, dt.date(2024, 5, 19)) == set()
    assert people(con, shared, dt.date(2024, 3, 10)) == {"planted-5"}
    days = [
        dt.date(2024, 3, 2),
        dt.date(2024, 3, 10),
        dt.date(2024, 5, 19),
        dt.date(2024, 5, 22),
        END,
    ]
    sizes, _ = size_over_time(event_tables(con), shared, days)
    assert sizes == [(days[0], 0), (days[1], 1), (days[2], 0), (days[3], 5), (END, 5)]
    # 3+ shares: planted-2, -3 and -4 reach their third share on May 22
    three = cohort(rule(type="did", event="report_shared", at_least=3, days=30))
    days = [dt.date(2024, 5, 21), dt.date(2024, 5, 22), END]
    sizes, _ = size_over_time(event_tables(con), three, days)
    assert sizes == [(days[0], 0), (days[1], 3), (END, 3)]


def test_behavioural_cohorts_match_hand_written_sql_on_random_data(con: Any) -> None:
    did = cohort(rule(type="did", event="export", at_least=2, days=30))
    want = sql(
        con,
        """SELECT person_id FROM events_resolved WHERE event = 'export'
           AND ts >= DATE '2024-05-02' AND ts < DATE '2024-06-01'
           GROUP BY 1 HAVING count(*) >= 2""",
    )
    assert people(con, did) == set(want["person_id"]) and len(want) > 3
    did_not = cohort(rule(type="did_not", event="report_created", days=14))
    want = sql(
        con,
        """SELECT DISTINCT person_id FROM events_resolved WHERE ts < DATE '2024-06-01'
           EXCEPT SELECT person_id FROM events_resolved WHERE event = 'report_created'
           AND ts >= DATE '2024-05-18' AND ts < DATE '2024-06-01'""",
    )
    assert people(con, did_not) == set(want["person_id"]) and len(want) > 3
    first = cohort(
        rule(
            type="first_did", event="purchase", start=dt.date(2024, 4, 1), end=dt.date(2024, 4, 30)
        )
    )
    want = sql(
        con,
        """SELECT person_id FROM events_resolved WHERE event = 'purchase' AND ts < DATE '2024-06-01'
           GROUP BY 1 HAVING min(ts) >= DATE '2024-04-01' AND min(ts) < DATE '2024-05-01'""",
    )
    assert people(con, first) == set(want["person_id"]) and len(want) > 1


def test_a_static_cohort_and_a_cohort_filter(con: Any) -> None:
    static = CohortSpec("first three", people=("planted-0", "planted-1", "nobody"))
    assert people(con, static) == {"planted-0", "planted-1", "nobody"}
    kept = filtered(event_tables(con), Filters(cohorts=(static,))).events
    assert set(kept.person_id.execute()) == {"planted-0", "planted-1"}
    assert int(kept.count().execute()) == 2 * 3 + 1 + 2  # shares (1+2), tours (3 each)
    left = filtered(event_tables(con), Filters(not_cohorts=(static,))).events
    total = int(event_tables(con).events.count().execute())
    assert int(left.count().execute()) == total - int(kept.count().execute())


# --- trends ----------------------------------------------------------------------------------

TRENDS_SQL = f"""
    SELECT {PLAN} AS breakdown, date_trunc('week', e.ts)::DATE AS period,
           {{value}} AS value
    FROM {JOINED}
    WHERE e.event = '{{event}}' AND e.ts >= DATE '2024-03-01' AND e.ts < DATE '2024-06-01'
      AND ({BROWSER} IS NULL OR {BROWSER} <> 'Safari')
    GROUP BY ALL
"""


@pytest.mark.parametrize(
    "kind,event,value",
    [
        ("events", "export", "count(*)"),
        ("people", "report_created", "count(DISTINCT e.person_id)"),
        (
            "sum",
            "purchase",
            "sum(TRY_CAST(json_extract_string(e.properties, '$.amount') AS DOUBLE))",
        ),
        (
            "avg",
            "purchase",
            "avg(TRY_CAST(json_extract_string(e.properties, '$.amount') AS DOUBLE))",
        ),
        (
            "max",
            "purchase",
            "max(TRY_CAST(json_extract_string(e.properties, '$.amount') AS DOUBLE))",
        ),
    ],
)
def test_a_trend_by_plan_with_a_filter_is_the_hand_written_query(
    con: Any, kind: str, event: str, value: str
) -> None:
    no_safari = Filters(
        properties=(PropertyFilter(property="event.$browser", op="neq", value="Safari"),)
    )
    got = trends(
        con,
        [
            Series(
                kind=kind,
                event=event,
                property="amount" if kind not in ("events", "people") else None,
            )
        ],
        START,
        END,
        grain="week",
        breakdown="account.plan",
        filters=no_safari,
    ).series.data
    want = sql(con, TRENDS_SQL.format(value=value, event=event))
    got = got.dropna(subset=["value"])
    got = got[got["value"] != 0] if kind in ("events", "people", "sum") else got
    left = {
        (b, p): round(float(v), 6)
        for b, p, v in got[["breakdown", "period"]].assign(v=got["value"]).values
    }
    right = {(b, pd.Timestamp(p).date()): round(float(v), 6) for b, p, v in want.values}
    assert left == right and len(right) > 10


def test_top_values_and_other(con: Any) -> None:
    got = trends(
        con,
        [Series(event="$pageview")],
        START,
        END,
        grain="month",
        breakdown=Breakdown(dimension=A.Dimension.parse("event.$browser"), limit=1),
    )
    data = got.series.data
    want = sql(
        con,
        f"""SELECT {BROWSER} AS b, count(*) AS n FROM events_resolved e
            WHERE event = '$pageview' AND ts >= DATE '2024-03-01' AND ts < DATE '2024-06-01'
            GROUP BY 1 ORDER BY n DESC, b LIMIT 1""",
    )
    top = str(want["b"][0])
    assert set(data["breakdown"]) == {top, "(other)"}
    total = sql(
        con,
        """SELECT count(*) AS n FROM events_resolved WHERE event = '$pageview'
           AND ts >= DATE '2024-03-01' AND ts < DATE '2024-06-01'""",
    )
    assert data["value"].sum() == int(total["n"][0])
    assert got.totals is not None
    assert dict(got.totals.data[["breakdown", "value"]].values)[top] == int(want["n"][0])


def test_formulas_and_compare(con: Any) -> None:
    got = trends(
        con,
        [Series(event="export"), Series(kind="people", event="*")],
        dt.date(2024, 5, 1),
        dt.date(2024, 5, 31),
        grain="month",
        formulas=["A / B * 100"],
        compare=True,
    ).series.data
    cur = got[got["compare"] == "current"].set_index("series")["value"]
    assert cur["F1"] == pytest.approx(cur["A"] / cur["B"] * 100)
    prev = got[got["compare"] == "previous"]
    april = sql(
        con,
        """SELECT count(*) AS n FROM events_resolved WHERE event = 'export'
           AND ts >= DATE '2024-04-01' AND ts < DATE '2024-05-01'""",
    )
    assert float(prev[prev["series"] == "A"]["value"].sum()) == int(april["n"][0])
    assert set(prev["period"]) == {dt.date(2024, 5, 1)}


def test_formulas_are_parsed_not_evaluated() -> None:
    from productops.analytics.analyses.formula import FormulaError, parse_formula

    for bad in ["__import__('os')", "A.real", "A ** 2", "C / A", "A if B else 1", "[A]"]:
        with pytest.raises(FormulaError):
            parse_formula(bad, {"A", "B"})
    parse_formula("(A - B) / -B * 100", {"A", "B"})


def test_a_cohort_breakdown_counts_people_in_each_cohort(con: Any) -> None:
    three = cohort(rule(type="did", event="report_shared", at_least=3, days=30), name="3+ shares")
    xx = cohort(
        rule(
            type="property", filter=PropertyFilter(property="person.country", op="eq", value="XX")
        ),
        name="XX",
    )
    got = trends(
        con,
        [Series(kind="people", event="tour_started")],
        START,
        END,
        grain="month",
        breakdown=Breakdown(cohorts=(three, xx)),
    ).totals
    assert got is not None
    assert dict(got.data[["breakdown", "value"]].values) == {"3+ shares": 3, "XX": 5}


# --- breakdowns of retention, stickiness, lifecycle --------------------------------------------


def test_retention_by_plan_is_the_hand_written_query(con: Any) -> None:
    got = A.retention(con, START, END, grain="week", periods=6, breakdown="account.plan")
    want = sql(
        con,
        f"""
        WITH act AS (
            SELECT DISTINCT e.person_id, date_trunc('week', e.ts)::DATE AS w
            FROM events_resolved e WHERE {ACTIVE} AND e.ts < DATE '2024-06-01'),
        cohorts AS (SELECT person_id, min(w) AS c FROM act GROUP BY 1
                    HAVING min(w) >= DATE '2024-02-26'),
        acct AS (SELECT e.person_id, coalesce(max(p.account_id), max(e.account_id)) AS acct
                 FROM events_resolved e LEFT JOIN persons p USING (person_id) GROUP BY 1),
        seg AS (SELECT acct.person_id, {PLAN} AS plan FROM acct
                LEFT JOIN accounts a ON a.account_id = acct.acct)
        SELECT seg.plan AS breakdown, c AS cohort, (date_diff('day', c, w) // 7) AS period,
               count(*) AS persons
        FROM cohorts JOIN act USING (person_id) JOIN seg USING (person_id)
        WHERE date_diff('day', c, w) // 7 <= 6
        GROUP BY ALL
        """,
    )
    left = {
        (b, c, int(p)): int(n)
        for b, c, p, n in got.data[["breakdown", "cohort", "period", "persons"]].values
        if n
    }
    right = {(b, pd.Timestamp(c).date(), int(p)): int(n) for b, c, p, n in want.values}
    assert left == right and len(right) > 20


def test_breakdowns_add_up_to_the_whole(con: Any) -> None:
    """Each person has one country, so the rows of every country add up to the total."""
    whole = A.lifecycle(con, START, END, grain="week")
    split = A.lifecycle(con, START, END, grain="week", breakdown="person.country")
    summed = split.data.drop(columns=["breakdown"]).groupby("period", as_index=False).sum()
    pd.testing.assert_frame_equal(summed, whole.data, check_dtype=False)
    st = A.stickiness(con, START, END, grain="week", breakdown="account.plan")
    all_st = A.stickiness(con, START, END, grain="week")
    by = st.days_active.data.groupby("active_periods", as_index=False)["persons"].sum()
    assert list(by["persons"]) == list(all_st.days_active.data["persons"])
    ret = A.retention(con, START, END, breakdown="person.country")
    total = A.retention(con, START, END)
    sizes = ret.data[ret.data["period"] == 0].groupby("cohort")["cohort_size"].sum()
    assert dict(sizes) == dict(
        total.data[total.data["period"] == 0][["cohort", "cohort_size"]].values
    )


def test_stickiness_and_lifecycle_of_one_event(con: Any) -> None:
    st = A.stickiness(con, dt.date(2024, 5, 1), END, event="report_shared")
    hist = dict(st.days_active.data[["active_periods", "persons"]].values)
    # planted-k shared on k+1 distinct days
    assert {k: v for k, v in hist.items() if v} == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
    lc = A.lifecycle(con, dt.date(2024, 5, 1), END, grain="month", event="report_shared")
    row = lc.data.iloc[-1]
    assert (row["new"], row["resurrecting"], row["returning"], row["dormant"]) == (5, 0, 0, 0)


def test_person_analyses_refuse_an_event_property_breakdown(con: Any) -> None:
    with pytest.raises(InvalidInput, match=r"person\.TRAIT"):
        A.retention(con, START, END, breakdown="event.$browser")


# --- paths and funnels in depth ----------------------------------------------------------------


def test_planted_paths_after_and_before_an_event(con: Any) -> None:
    from productops.analytics.analyses.paths import path_people, paths

    got = paths(con, START, END, event="tour_started", depth=3)
    nodes = {(s, e): n for s, e, n in got.nodes.data[["step", "event", "people"]].values}
    assert nodes == {
        (1, "tour_started"): 5,
        (2, "tour_step"): 4,
        (2, "tour_skipped"): 1,
        (3, "tour_done"): 4,
        (3, "report_shared"): 1,
    }
    edges = {
        (s, a, b): n for s, a, b, n in got.edges.data[["step", "source", "target", "people"]].values
    }
    assert edges[(1, "tour_started", "tour_step")] == 4
    assert edges[(2, "tour_skipped", "report_shared")] == 1
    assert got.anchor_people == 5
    thin = paths(con, START, END, event="tour_started", depth=3, min_share=0.5)
    assert set(thin.edges.data["target"]) == {"tour_step", "tour_done"}
    people, n = path_people(con, START, END, 2, "tour_skipped", event="tour_started", depth=3)
    assert (people, n) == (["planted-4"], 1)
    before = paths(con, START, END, event="tour_done", direction="before", depth=3)
    nodes = {(s, e): n for s, e, n in before.nodes.data[["step", "event", "people"]].values}
    assert nodes[(3, "tour_done")] == 4 and nodes[(2, "tour_step")] == 4
    assert nodes[(1, "tour_started")] == 4


def test_paths_match_hand_written_sql(con: Any) -> None:
    from productops.analytics.analyses.paths import paths

    got = paths(con, START, END, event="signup", depth=3, max_per_step=50)
    want = sql(
        con,
        f"""
        WITH seq AS (
            SELECT person_id, event, ts, event_id,
                   lag(event) OVER (PARTITION BY person_id ORDER BY ts, event_id) AS prev
            FROM events_resolved e
            WHERE e.ts >= DATE '2024-03-01' AND e.ts < DATE '2024-06-01'
              AND ({ACTIVE} OR e.event = 'signup')),
        folded AS (
            SELECT person_id, event,
                   row_number() OVER (PARTITION BY person_id ORDER BY ts, event_id) AS pos
            FROM seq WHERE prev IS NULL OR prev <> event),
        anchor AS (SELECT person_id, min(pos) AS p0 FROM folded WHERE event = 'signup' GROUP BY 1)
        SELECT pos - p0 + 1 AS step, event, count(*) AS people
        FROM folded JOIN anchor USING (person_id)
        WHERE pos >= p0 AND pos < p0 + 3 GROUP BY ALL
        """,
    )
    left = {(int(s), e): int(n) for s, e, n in got.nodes.data[["step", "event", "people"]].values}
    right = {(int(s), e): int(n) for s, e, n in want.values}
    assert left == right and len(right) >= 8


def test_funnel_people_times_exclusions_and_correlation(con: Any) -> None:
    from productops.analytics.analyses import funnel_depth as F

    steps = ["$pageview", "signup", "report_created"]
    deep = F.funnel_people(con, steps, START, END)
    plain = A.funnel(con, steps, START, END)
    assert list(F.step_counts(deep)["persons"]) == list(plain.data["persons"])
    assert F.people_at(deep, 3, "converted") == sorted(
        str(p) for p in deep.people[deep.people["step"] == 3]["person_id"]
    )
    dropped = F.people_at(deep, 2, "dropped")
    assert len(dropped) == int(plain.data["persons"][1] - plain.data["persons"][2])
    summary, hist = F.times_to_convert(deep)
    done = deep.people[deep.people["step"] >= 2]
    secs = (pd.to_datetime(done["t2"]) - pd.to_datetime(done["t1"])).dt.total_seconds()
    assert summary["median_seconds"][0] == pytest.approx(secs.median())
    assert int(hist[hist["step"] == 2]["persons"].sum()) == len(done)
    # planted: the tour, excluding a skip between start and done
    tour = F.funnel_people(con, ["tour_started", "tour_done"], START, END)
    assert list(F.step_counts(tour)["persons"]) == [5, 4]
    skip = F.Exclusion(event="tour_step", from_step=1, to_step=2)
    assert list(
        F.step_counts(
            F.funnel_people(con, ["tour_started", "tour_done"], START, END, exclusions=[skip])
        )["persons"]
    ) == [1, 0]
    corr = F.correlation(con, tour, START, END).data.set_index("value")
    # tour_step: the 4 who finished did it, the one who skipped did not
    row = corr.loc["tour_step"]
    assert (
        row["converted_with"],
        row["dropped_with"],
        row["converted_without"],
        row["dropped_without"],
    ) == (4, 0, 0, 1)
    assert row["odds_ratio"] == pytest.approx((4 + 1) * (1 + 1) / ((0 + 1) * (0 + 1)))


def test_a_funnel_broken_down_by_cohorts(con: Any) -> None:
    three = cohort(rule(type="did", event="report_shared", at_least=3, days=30), name="3+ shares")
    xx = cohort(
        rule(
            type="property",
            filter=PropertyFilter(property="person.country", op="eq", value="XX"),
        ),
        name="XX",
    )
    got = A.funnel(
        con, ["tour_started", "tour_done"], START, END, breakdown=Breakdown(cohorts=(three, xx))
    )
    counts = {(b, int(k)): int(n) for b, k, n in got.data[["breakdown", "step", "persons"]].values}
    # planted-4 (3+ shares, XX) skipped the tour
    assert counts == {("3+ shares", 1): 3, ("3+ shares", 2): 2, ("XX", 1): 5, ("XX", 2): 4}
