"""Benchmark: a trends query with one breakdown and one filter, and paths, over 10M events.

    .venv/bin/python bench/trends_paths.py [--events 10000000] [--people 1000000] [--repeat 5]

Generates an event store in a temporary folder (DuckDB `range()`: 1M people, a third of them
anonymous on their first day and merged when they identify, 20,000 accounts with a plan, 20
event names of very different popularity, six months, a `$browser` property), then times in
the same process, rounds interleaved:

1. trends through productops (`analyses.trends`: unique people per day who did `search`,
   broken down by `account.plan` (top 10 + other), filtered to `$browser = Chrome`), against
   hand-written DuckDB SQL of the same result (the same top-10 fold, one statement); both
   answers are checked equal. Floor (issue 12): productops <= 1.3x the hand SQL.
2. paths after `search` (5 steps, repeats folded) through productops, with a hand-written SQL
   of the same nodes beside it; the figure is reported (no floor).

The machine's load average is printed with the figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import ibis

from productops.analytics import store
from productops.analytics.analyses.paths import paths
from productops.analytics.analyses.trend_series import Series, trends
from productops.analytics.query.activity import EXCLUDED_FROM_ACTIVE, EXCLUDED_TYPES
from productops.analytics.query.filters import Filters, PropertyFilter

START, END = dt.date(2024, 1, 1), dt.date(2024, 6, 29)
EVENT_NAMES = [
    "$pageview", "dashboard_viewed", "search", "item_opened", "comment_added",
    "report_created", "filter_applied", "export", "share", "invite_sent",
    "integration_connected", "settings_changed", "notification_clicked", "file_uploaded",
    "template_used", "api_key_created", "billing_viewed", "plan_upgraded", "signup",
    "account_deleted",
]  # fmt: skip
PLANS = ["free", "starter", "pro", "enterprise"]
TREND_EVENT = "search"
PATH_EVENT = "search"
DEPTH = 5


def generate(path: Path, n_events: int, n_persons: int, n_accounts: int) -> None:
    """Fill a new event store at `path`, in SQL."""
    con = store.connect(path)
    names = "[" + ", ".join(f"'{n}'" for n in EVENT_NAMES) + "]"
    con.execute("SELECT setseed(0.42)")
    con.execute(
        f"""
        INSERT INTO events
        WITH raw AS (
            SELECT i, CAST(floor({n_persons} * pow(random(), 1.6)) AS BIGINT) AS p,
                   random() AS r_event, random() AS r_day, random() AS r_sec, random() AS r_b
            FROM range({n_events}) t(i)
        ), placed AS (
            SELECT *, hash(p) % 150 AS first_day,
                   least(hash(p) % 150 + CAST(floor(-ln(1 - r_day) * 35) AS BIGINT), 180) AS day,
                   {names}[1 + CAST(floor(pow(r_event, 2.2) * 20) AS INT)] AS name
            FROM raw
        )
        SELECT 'e' || i, name, 'track',
               TIMESTAMP '2024-01-01' + to_days(CAST(day AS INT))
                   + to_seconds(CAST(floor(r_sec * 86400) AS BIGINT)),
               TIMESTAMP '2024-01-01' + to_days(CAST(day AS INT))
                   + to_seconds(CAST(floor(r_sec * 86400) AS BIGINT)),
               CASE WHEN p % 3 = 0 AND day = first_day THEN 'anon-' || p ELSE 'u-' || p END,
               CASE WHEN p % 3 = 0 AND day = first_day THEN NULL ELSE 'u-' || p END,
               CASE WHEN p % 3 = 0 AND day = first_day THEN 'anon-' || p END,
               CASE WHEN p % 3 = 0 AND day = first_day THEN NULL
                    ELSE 'a-' || (p % {n_accounts}) END,
               'bench',
               CASE WHEN r_b < 0.6 THEN '{{"$browser":"Chrome"}}'
                    WHEN r_b < 0.85 THEN '{{"$browser":"Safari"}}'
                    ELSE '{{"$browser":"Firefox"}}' END::JSON,
               'u-' || p,
               {store.id_hash_sql("'e' || i")},
               0, true  -- person_key, active: decided below
        FROM placed
        """
    )
    store.derive_all(con)
    con.execute(
        f"""INSERT INTO identities SELECT 'anon-' || p, 'u-' || p, TIMESTAMP '2024-01-01'
            FROM range(0, {n_persons}, 3) t(p)"""
    )
    con.execute(
        f"""INSERT INTO persons
            SELECT 'u-' || p, CASE WHEN p % 10 = 0 THEN NULL ELSE 'a-' || (p % {n_accounts}) END,
                   json_object('country', ['DE', 'US', 'FR', 'GB'][1 + p % 4]),
                   TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01'
            FROM range({n_persons}) t(p)"""
    )
    con.execute(
        f"""INSERT INTO accounts
            SELECT 'a-' || a, json_object('plan', {PLANS!r}[1 + CAST(hash(a) % 4 AS INT)]),
                   TIMESTAMP '2024-01-01'
            FROM range({n_accounts}) t(a)"""
    )
    con.execute("CHECKPOINT")
    con.close()


CHROME = Filters(properties=(PropertyFilter(property="event.$browser", op="eq", value="Chrome"),))
Answer = dict[tuple[str, dt.date], float]


def trends_productops(con: duckdb.DuckDBPyConnection) -> Answer:
    result = trends(
        ibis.duckdb.from_connection(con),
        [Series(kind="people", event=TREND_EVENT)],
        START,
        END,
        grain="day",
        breakdown="account.plan",
        filters=CHROME,
        totals=False,
    )
    data = result.series.data
    return {
        (str(b), p): float(v)
        for b, p, v in data[["breakdown", "period", "value"]].itertuples(index=False)
        if v
    }


TRENDS_SQL = f"""
WITH rows AS (
    SELECT e.person_id, e.ts::DATE AS day,
           coalesce(json_extract_string(a.properties, '$.plan'), '(none)') AS plan
    FROM events_resolved e
    LEFT JOIN persons p ON p.person_id = e.person_id
    LEFT JOIN accounts a ON a.account_id = coalesce(e.account_id, p.account_id)
    WHERE e.event = '{TREND_EVENT}'
      AND e.ts >= TIMESTAMP '{START}' AND e.ts < TIMESTAMP '{END + dt.timedelta(days=1)}'
      AND json_extract_string(e.properties, '$."$browser"') = 'Chrome'
), top AS (
    SELECT plan FROM rows GROUP BY plan ORDER BY count(DISTINCT person_id) DESC, plan LIMIT 10
)
SELECT CASE WHEN top.plan IS NULL THEN '(other)' ELSE rows.plan END AS breakdown, day,
       count(DISTINCT person_id) AS value
FROM rows LEFT JOIN top ON top.plan = rows.plan
GROUP BY ALL
"""


def trends_sql(con: duckdb.DuckDBPyConnection) -> Answer:
    return {(str(b), d): float(v) for b, d, v in con.execute(TRENDS_SQL).fetchall()}


def paths_productops(con: duckdb.DuckDBPyConnection) -> dict[tuple[int, str], int]:
    result = paths(
        ibis.duckdb.from_connection(con),
        START,
        END,
        event=PATH_EVENT,
        depth=DEPTH,
        max_per_step=50,
    )
    data = result.nodes.data
    return {(int(s), str(e)): int(n) for s, e, n in data[["step", "event", "people"]].values}


EXCLUDED = ", ".join(f"'{e}'" for e in EXCLUDED_FROM_ACTIVE)
EXCLUDED_KINDS = ", ".join(f"'{t}'" for t in EXCLUDED_TYPES)
PATHS_SQL = f"""
WITH seq AS (
    SELECT person_id, event, ts, event_id,
           lag(event) OVER (PARTITION BY person_id ORDER BY ts, event_id) AS prev
    FROM events_resolved
    WHERE ts >= TIMESTAMP '{START}' AND ts < TIMESTAMP '{END + dt.timedelta(days=1)}'
      AND ((event NOT IN ({EXCLUDED}) AND type NOT IN ({EXCLUDED_KINDS})) OR event = '{PATH_EVENT}')
), folded AS (
    SELECT person_id, event, row_number() OVER (PARTITION BY person_id ORDER BY ts, event_id) AS pos
    FROM seq WHERE prev IS NULL OR prev <> event
), anchor AS (
    SELECT person_id, min(pos) AS p0 FROM folded WHERE event = '{PATH_EVENT}' GROUP BY 1
)
SELECT pos - p0 + 1 AS step, event, count(*) AS people
FROM folded JOIN anchor USING (person_id)
WHERE pos >= p0 AND pos < p0 + {DEPTH}
GROUP BY ALL
"""


def paths_sql(con: duckdb.DuckDBPyConnection) -> dict[tuple[int, str], int]:
    return {(int(s), str(e)): int(n) for s, e, n in con.execute(PATHS_SQL).fetchall()}


def timed(contenders: dict[str, Callable[[], Any]], repeat: int) -> dict[str, tuple[float, Any]]:
    """Median time and result of each contender after one warm-up round; rounds interleave
    the contenders, so a busy moment on the machine slows them alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, Any] = {name: fn() for name, fn in contenders.items()}
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), results[name]) for name in contenders}


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="reuse (or make) the store in this folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="productops-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "events.duckdb"
        if not path.exists():
            t0 = time.perf_counter()
            generate(path, args.events, args.people, args.accounts)
            print(f"generated {args.events:,} events in {time.perf_counter() - t0:.1f} s")
        con = store.connect(path, read_only=True)
        try:
            n = con.execute("SELECT count(*), count(DISTINCT person_id) FROM events_resolved")
            events, people = n.fetchone()  # type: ignore[misc]
            print(f"{events:,} events, {people:,} people; {load()}")
            runs = timed(
                {"trends": lambda: trends_productops(con), "trends sql": lambda: trends_sql(con)},
                args.repeat,
            )
            print(f"after the trends runs: {load()}")
            path_runs = timed(
                {"paths": lambda: paths_productops(con), "paths sql": lambda: paths_sql(con)},
                max(1, args.repeat // 2),
            )
            print(f"after the paths runs: {load()}")
        finally:
            con.close()
    (t_tr, r_tr), (t_ts, r_ts) = runs.values()
    (t_pa, r_pa), (t_ps, r_ps) = path_runs.values()
    assert r_tr == r_ts, "trends: productops and the hand-written SQL disagree"
    assert r_pa == r_ps, "paths: productops and the hand-written SQL disagree"
    print(f"trends equal: {len(r_tr)} (plan, day) values; paths equal: {len(r_pa)} nodes")
    print(
        f"unique people per day doing {TREND_EVENT}, by plan, $browser = Chrome "
        f"(median of {args.repeat}):"
    )
    print(f"  productops (Ibis -> DuckDB)   {t_tr:6.2f} s")
    print(f"  hand-written DuckDB SQL      {t_ts:6.2f} s")
    print(f"  ratio                        {t_tr / t_ts:6.2f}x   (floor: <= 1.3x)")
    print(f"paths after {PATH_EVENT}, {DEPTH} steps:")
    print(f"  productops (Ibis -> DuckDB)   {t_pa:6.2f} s")
    print(f"  hand-written DuckDB SQL      {t_ps:6.2f} s   ({t_pa / t_ps:.2f}x)")
    ok = t_tr / t_ts <= 1.3
    print("floor met" if ok else "FLOOR MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
