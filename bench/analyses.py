"""Benchmark: weekly first-time retention + feature adoption by plan over 10M events.

    .venv/bin/python bench/analyses.py [--events 10000000] [--repeat 5]

Generates a realistic event store in a temporary folder (DuckDB `range()`: ~50k people, a
third of them anonymous on their first day and merged when they identify, 2,000 accounts
with plan and segment, 20 event names of very different popularity, six months with a
retention curve), then times the same two results three ways in the same process and checks
they are equal:

1. productops' analyses (Ibis → DuckDB): `retention(...)` + `adoption(...)`;
2. hand-written DuckDB SQL, the query an analyst would write;
3. pandas, on the needed columns loaded into memory (load time reported apart).

Floors (issue 3): within 1.5x of the hand-written SQL; at least 2x faster than pandas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import ibis
import numpy as np
import pandas as pd

from productops.analytics import analyses as A
from productops.analytics import store

START, END = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
PERIODS = 25
FEATURE = "report_created"
EVENT_NAMES = [
    "$pageview", "dashboard_viewed", "search", "item_opened", "comment_added",
    "report_created", "filter_applied", "export", "share", "invite_sent",
    "integration_connected", "settings_changed", "notification_clicked", "file_uploaded",
    "template_used", "api_key_created", "billing_viewed", "plan_upgraded", "signup",
    "account_deleted",
]  # fmt: skip
PLANS = ["free", "starter", "pro", "enterprise"]
SEGMENTS = ["smb", "mid-market", "enterprise"]


def generate(path: Path, n_events: int, n_persons: int = 50_000, n_accounts: int = 2_000) -> None:
    """Fill a new event store at `path`, in SQL (a few seconds per 10M events)."""
    con = store.connect(path)
    names = "[" + ", ".join(f"'{n}'" for n in EVENT_NAMES) + "]"
    con.execute("SELECT setseed(0.42)")
    con.execute(
        f"""
        INSERT INTO events
        WITH raw AS (
            SELECT i,
                   -- busy people send more: a skewed person index
                   CAST(floor({n_persons} * pow(random(), 1.6)) AS BIGINT) AS p,
                   random() AS r_event, random() AS r_day, random() AS r_sec, random() AS r_b
            FROM range({n_events}) t(i)
        ), timed AS (
            SELECT *,
                   hash(p) % 150 AS first_day,
                   -- activity decays after the first day: a retention curve that flattens
                   CAST(floor(-ln(1 - r_day) * 35) AS BIGINT) AS offset_days
            FROM raw
        ), placed AS (
            SELECT *, least(first_day + offset_days, 181) AS day,
                   {names}[1 + CAST(floor(pow(r_event, 2.2) * 20) AS INT)] AS name,
                   -- the feature is adopted by 10 / 25 / 45 / 70 % of free … enterprise users
                   [10, 25, 45, 70][1 + CAST(hash(p % {n_accounts}) % 4 AS INT)] AS adopt_pct
            FROM timed
        )
        SELECT 'e' || i,
               CASE WHEN name = '{FEATURE}' AND hash(p * 7) % 100 >= adopt_pct THEN '$pageview'
                    ELSE name END,
               'track',
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
                    ELSE '{{"$browser":"Safari"}}' END::JSON,
               'u-' || p,  -- person_id: anon-p is linked to u-p below
               {store.id_hash_sql("'e' || i")}
        FROM placed
        """
    )
    con.execute(
        f"""
        INSERT INTO identities
        SELECT 'anon-' || p, 'u-' || p, TIMESTAMP '2024-01-01'
        FROM range(0, {n_persons}, 3) t(p)
        """
    )
    con.execute(
        f"""
        INSERT INTO persons
        SELECT 'u-' || p, 'a-' || (p % {n_accounts}),
               json_object('country', ['DE', 'US', 'FR', 'GB'][1 + p % 4]),
               TIMESTAMP '2024-01-01', TIMESTAMP '2024-01-01'
        FROM range({n_persons}) t(p)
        """
    )
    con.execute(
        f"""
        INSERT INTO accounts
        SELECT 'a-' || a,
               json_object('plan', {PLANS!r}[1 + CAST(hash(a) % 4 AS INT)],
                           'segment', {SEGMENTS!r}[1 + CAST(a % 3 AS INT)]),
               TIMESTAMP '2024-01-01'
        FROM range({n_accounts}) t(a)
        """
    )
    con.execute("CHECKPOINT")
    con.close()


# --- the three contenders -----------------------------------------------------------------

Cells = dict[tuple[int, int], int]
Segments = dict[str, tuple[int, int]]


def with_ibis(con: duckdb.DuckDBPyConnection) -> tuple[Cells, Segments]:
    source = ibis.duckdb.from_connection(con)
    ret = A.retention(source, START, END, grain="week", periods=PERIODS)
    adopt = A.adoption(source, FEATURE, START, END, segment="account.plan")
    cells = {
        (A.period_number(c, "week"), int(n)): int(k)
        for c, n, k in ret.data[["cohort", "period", "persons"]].itertuples(index=False)
        if k
    }
    segs = {
        str(s): (int(a), int(u))
        for s, a, u in adopt.data[["segment", "active", "adopters"]].itertuples(index=False)
    }
    return cells, segs


EXCLUDED = ", ".join(f"'{e}'" for e in A.EXCLUDED_FROM_ACTIVE)
EXCLUDED_TYPES = ", ".join(f"'{t}'" for t in A.EXCLUDED_TYPES)
ACTIVE = f"event NOT IN ({EXCLUDED}) AND type NOT IN ({EXCLUDED_TYPES})"


def with_sql(con: duckdb.DuckDBPyConnection) -> tuple[Cells, Segments]:
    lo_p, hi_p = A.period_number(START, "week"), A.period_number(END, "week")
    hi = END + dt.timedelta(days=1)
    cells = con.execute(
        f"""
        WITH pw AS (
            SELECT DISTINCT person_id, (datediff('day', DATE '1970-01-01', ts::DATE) + 3) // 7 AS w
            FROM events_resolved WHERE ts < TIMESTAMP '{hi}' AND {ACTIVE}
        ), f AS (
            SELECT person_id, min(w) AS cohort FROM pw GROUP BY person_id
        )
        SELECT cohort, w - cohort AS n, count(*) AS k
        FROM pw JOIN f USING (person_id)
        WHERE cohort BETWEEN {lo_p} AND {hi_p} AND w - cohort BETWEEN 0 AND {PERIODS}
        GROUP BY ALL
        """
    ).fetchall()
    segs = con.execute(
        f"""
        WITH people AS (
            SELECT person_id, bool_or({ACTIVE}) AS active,
                   bool_or(event = '{FEATURE}') AS used, max(account_id) AS acct
            FROM events_resolved
            WHERE ts >= TIMESTAMP '{START}' AND ts < TIMESTAMP '{hi}'
              AND (({ACTIVE}) OR event = '{FEATURE}')
            GROUP BY person_id
        )
        SELECT coalesce(json_extract_string(a.properties, '$.plan'), '(none)') AS segment,
               count(*) AS active, count(*) FILTER (WHERE used) AS adopters
        FROM people p
        LEFT JOIN persons pr USING (person_id)
        LEFT JOIN accounts a ON a.account_id = coalesce(pr.account_id, p.acct)
        WHERE p.active
        GROUP BY 1
        """
    ).fetchall()
    return (
        {(int(c), int(n)): int(k) for c, n, k in cells},
        {str(s): (int(a), int(u)) for s, a, u in segs},
    )


def load_for_pandas(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    return {
        "events": con.execute(
            "SELECT person_id, event, type, ts, account_id FROM events_resolved"
        ).df(),
        "persons": con.execute("SELECT person_id, account_id FROM persons").df(),
        "accounts": con.execute(
            "SELECT account_id, CAST(properties AS VARCHAR) AS properties FROM accounts"
        ).df(),
    }


def with_pandas(frames: dict[str, pd.DataFrame]) -> tuple[Cells, Segments]:
    ev = frames["events"]
    lo_p, hi_p = A.period_number(START, "week"), A.period_number(END, "week")
    start_ts, hi_ts = pd.Timestamp(START), pd.Timestamp(END + dt.timedelta(days=1))
    active = ~ev["event"].isin(A.EXCLUDED_FROM_ACTIVE) & ~ev["type"].isin(A.EXCLUDED_TYPES)
    ts = ev["ts"]

    # retention: distinct (person, week) before the end, first week per person
    rows = ev.loc[active & (ts < hi_ts), ["person_id"]]
    days = ts[rows.index].to_numpy().astype("datetime64[D]").astype(np.int64)
    rows = rows.assign(w=(days + 3) // 7).drop_duplicates()
    first = rows.groupby("person_id", sort=False)["w"].min().rename("cohort")
    joined = rows.join(first, on="person_id")
    joined["n"] = joined["w"] - joined["cohort"]
    keep = joined["cohort"].between(lo_p, hi_p) & joined["n"].between(0, PERIODS)
    counts = joined[keep].groupby(["cohort", "n"]).size()
    cells = {(int(c), int(n)): int(k) for (c, n), k in counts.items()}

    # adoption: active people in the range, who used the feature, their account's plan
    in_range = (ts >= start_ts) & (ts < hi_ts)
    used = ev["event"] == FEATURE
    sub = ev.loc[in_range & (active | used), ["person_id", "account_id"]]
    sub = sub.assign(active=active[sub.index], used=used[sub.index])
    people = sub.groupby("person_id", sort=False).agg(
        active=("active", "any"), used=("used", "any"), acct=("account_id", "max")
    )
    people = people[people["active"]]
    persons = frames["persons"].set_index("person_id")["account_id"]
    acct = people.index.map(persons).to_series(index=people.index).fillna(people["acct"])
    plans = {
        a: json.loads(p).get("plan")
        for a, p in frames["accounts"][["account_id", "properties"]].itertuples(index=False)
    }
    segment = acct.map(plans).fillna("(none)")
    grouped = people.assign(segment=segment).groupby("segment")["used"].agg(["size", "sum"])
    segs = {str(s): (int(a), int(u)) for s, (a, u) in grouped.iterrows()}
    return cells, segs


def timed(contenders: dict[str, Callable[[], Any]], repeat: int) -> dict[str, tuple[float, Any]]:
    """Median time and result of each contender, after one warm-up round. Rounds interleave
    the contenders, so a busy moment on the machine slows them alike."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, Any] = {name: fn() for name, fn in contenders.items()}
    for _ in range(repeat):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (statistics.median(times[name]), results[name]) for name in contenders}


def in_memory_copy(path: Path) -> duckdb.DuckDBPyConnection:
    """The resolved events in memory: what pandas starts from after its load."""
    mem = duckdb.connect()
    mem.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
    for name in ("events_resolved", "persons", "accounts"):
        mem.execute(f"CREATE TABLE {name} AS SELECT * FROM src.{name}")
    mem.execute("DETACH src")
    return mem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="productops-bench-") as tmp:
        path = Path(tmp) / "events.duckdb"
        t0 = time.perf_counter()
        generate(path, args.events)
        print(f"generated {args.events:,} events in {time.perf_counter() - t0:.1f} s")
        con = store.connect(path, read_only=True)
        mem = in_memory_copy(path)
        try:
            n_people = con.execute("SELECT count(DISTINCT person_id) FROM events_resolved")
            print(f"people: {n_people.fetchone()[0]:,}")  # type: ignore[index]
            t0 = time.perf_counter()
            frames = load_for_pandas(con)
            t_load = time.perf_counter() - t0
            runs = timed(
                {
                    "ibis": lambda: with_ibis(con),
                    "sql": lambda: with_sql(con),
                    "pandas": lambda: with_pandas(frames),
                    "ibis, in memory": lambda: with_ibis(mem),
                    "sql, in memory": lambda: with_sql(mem),
                },
                args.repeat,
            )
        finally:
            con.close()
            mem.close()
    (t_ibis, r_ibis), (t_sql, r_sql), (t_pd, r_pd), (t_im, r_im), (t_sm, r_sm) = runs.values()
    assert r_ibis == r_sql == r_im == r_sm, "Ibis and hand-written SQL disagree"
    assert r_ibis == r_pd, "Ibis and pandas disagree"
    cells, segs = r_ibis
    print(f"results equal: {len(cells)} retention cells; adoption (active, adopters) {segs}")
    print(f"weekly first-time retention + adoption by plan, median of {args.repeat} (+ warm-up):")
    print(f"  productops (Ibis -> DuckDB store) {t_ibis:6.2f} s")
    print(f"  hand-written DuckDB SQL (store)   {t_sql:6.2f} s")
    print(f"  pandas compute                    {t_pd:6.2f} s   (+ load {t_load:.2f} s)")
    print(f"  Ibis / hand SQL on the resolved events in memory: {t_im:.2f} s / {t_sm:.2f} s")
    print(f"ratio Ibis / hand SQL:  {t_ibis / t_sql:5.2f}x   (floor: <= 1.5x)")
    print(f"pandas / Ibis:          {t_pd / t_ibis:5.2f}x   (floor: >= 2x)")
    print(f"  counting pandas' load: {(t_pd + t_load) / t_ibis:.2f}x; Ibis from memory, as pandas "
          f"computes: {t_pd / t_im:.2f}x")  # fmt: skip
    ok = t_ibis / t_sql <= 1.5 and t_pd / t_ibis >= 2
    print("floors met" if ok else "FLOOR MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
