"""Benchmark: weekly first-time retention + feature adoption by plan over 10M events.

    .venv/bin/python bench/analyses.py [--events 10000000] [--people 1000000] [--repeat 3]

Generates a realistic event store in a temporary folder (DuckDB `range()`, through the
store's own keyed insert: 1M people, a third of them anonymous on their first day and merged
when they identify, 20,000 accounts with plan and segment, 20 event names of very different
popularity, six months with a retention curve) and writes the same events as the raw file an
analyst would start from (Parquet: event_id, event, type, ts, distinct_id, person_id,
account_id; with persons.parquet and accounts.parquet). Then it times the same two results
five ways in the same process, each analysis apart, and checks they are all equal:

1. productops' analyses (Ibis → the DuckDB store): `retention(...)`, `adoption(...)`;
2. hand-written DuckDB SQL over the raw Parquet file;
3. polars reading the Parquet (lazy scan, the query an analyst would write);
4. hand-written DuckDB SQL over the store's `events_resolved` (ids and names, no keys);
5. pandas, on the needed columns loaded into memory (load time reported apart).

Floors: issue 12 — retention and adoption each at or under polars' time and at most 1.0x
the hand SQL over the raw file; issue 3 — within 1.5x the hand SQL over the store, at least
2x faster than pandas.
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
import polars as pl

from productops.analytics import analyses as A
from productops.analytics import store

START, END = dt.date(2024, 1, 1), dt.date(2024, 6, 30)
PERIODS = 25
FEATURE = "report_created"
EVENT_NAMES = [
    "$pageview", "dashboard_viewed", "search", "item_opened", "comment_added",
    "report_created", "filter_applied", "export", "share", "invite_sent",
    "integration_connected", "settings_changed", "notification_clicked", "file_uploaded",
    "template_used", "api_key_created", "billing_viewed", "plan_upgraded", "$identify",
    "$set",
]  # fmt: skip
PLANS = ["free", "starter", "pro", "enterprise"]
SEGMENTS = ["smb", "mid-market", "enterprise"]


def generate(
    path: Path, n_events: int, n_persons: int = 1_000_000, n_accounts: int = 20_000
) -> None:
    """Fill a new event store at `path`, in SQL (a minute or so per 10M events)."""
    con = store.connect(path)
    names = "[" + ", ".join(f"'{n}'" for n in EVENT_NAMES) + "]"
    con.execute("SELECT setseed(0.42)")
    con.execute(
        f"""
        CREATE TEMP TABLE generated AS
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
        SELECT 'e' || i AS event_id,
               CASE WHEN name = '{FEATURE}' AND hash(p * 7) % 100 >= adopt_pct THEN '$pageview'
                    ELSE name END AS event,
               CASE WHEN name = '$identify' THEN 'identify' ELSE 'track' END AS type,
               TIMESTAMP '2024-01-01' + to_days(CAST(day AS INT))
                   + to_seconds(CAST(floor(r_sec * 86400) AS BIGINT)) AS ts,
               TIMESTAMP '2024-01-01' + to_days(CAST(day AS INT))
                   + to_seconds(CAST(floor(r_sec * 86400) AS BIGINT)) AS received_at,
               CASE WHEN p % 3 = 0 AND day = first_day THEN 'anon-' || p
                    ELSE 'u-' || p END AS distinct_id,
               CASE WHEN p % 3 = 0 AND day = first_day THEN NULL ELSE 'u-' || p END AS user_id,
               CASE WHEN p % 3 = 0 AND day = first_day THEN 'anon-' || p END AS anonymous_id,
               CASE WHEN p % 3 = 0 AND day = first_day THEN NULL
                    ELSE 'a-' || (p % {n_accounts}) END AS account_id,
               'bench' AS source,
               CASE WHEN r_b < 0.6 THEN '{{"$browser":"Chrome"}}'
                    ELSE '{{"$browser":"Safari"}}' END::JSON AS properties,
               'u-' || p AS person_id,  -- anon-p is linked to u-p below
               {store.id_hash_sql("'e' || i")} AS id_hash
        FROM placed
        ORDER BY ts  -- the store receives events roughly in time order
        """
    )
    con.execute(
        store.keyed_insert(
            con,
            "SELECT * FROM generated",
            f"SELECT 'u-' || p AS person_id FROM range({n_persons}) t(p)",
        )
    )
    con.execute("DROP TABLE generated")
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


def write_raw(path: Path, folder: Path) -> dict[str, Path]:
    """The same events, people and accounts as the Parquet files an analyst starts from."""
    files = {name: folder / f"{name}.parquet" for name in ("events", "persons", "accounts")}
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute(
            "COPY (SELECT event_id, event, type, ts, distinct_id, person_id, account_id "
            f"FROM events) TO '{files['events']}' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT person_id, account_id FROM persons) TO '{files['persons']}' "
            "(FORMAT parquet)"
        )
        con.execute(
            "COPY (SELECT account_id, CAST(properties AS VARCHAR) AS properties FROM accounts) "
            f"TO '{files['accounts']}' (FORMAT parquet)"
        )
    return files


# --- the contenders ------------------------------------------------------------------------

Cells = dict[tuple[int, int], int]
Segments = dict[str, tuple[int, int]]
LO_P, HI_P = A.period_number(START, "week"), A.period_number(END, "week")
HI = END + dt.timedelta(days=1)


def ibis_retention(con: duckdb.DuckDBPyConnection) -> Cells:
    ret = A.retention(ibis.duckdb.from_connection(con), START, END, grain="week", periods=PERIODS)
    return {
        (A.period_number(c, "week"), int(n)): int(k)
        for c, n, k in ret.data[["cohort", "period", "persons"]].itertuples(index=False)
        if k
    }


def ibis_adoption(con: duckdb.DuckDBPyConnection) -> Segments:
    source = ibis.duckdb.from_connection(con)
    adopt = A.adoption(source, FEATURE, START, END, segment="account.plan")
    return {
        str(s): (int(a), int(u))
        for s, a, u in adopt.data[["segment", "active", "adopters"]].itertuples(index=False)
    }


EXCLUDED = ", ".join(f"'{e}'" for e in A.EXCLUDED_FROM_ACTIVE)
EXCLUDED_TYPES = ", ".join(f"'{t}'" for t in A.EXCLUDED_TYPES)
ACTIVE = f"event NOT IN ({EXCLUDED}) AND type NOT IN ({EXCLUDED_TYPES})"


def sql_retention(con: duckdb.DuckDBPyConnection, events: str) -> Cells:
    """The query an analyst writes: distinct (person, week) of activity, each person's first
    week, the pairs counted by cohort and distance."""
    cells = con.execute(
        f"""
        WITH pw AS (
            SELECT DISTINCT person_id, (datediff('day', DATE '1970-01-01', ts::DATE) + 3) // 7 AS w
            FROM {events} WHERE ts < TIMESTAMP '{HI}' AND {ACTIVE}
        ), f AS (
            SELECT person_id, min(w) AS cohort FROM pw GROUP BY person_id
        )
        SELECT cohort, w - cohort AS n, count(*) AS k
        FROM pw JOIN f USING (person_id)
        WHERE cohort BETWEEN {LO_P} AND {HI_P} AND w - cohort BETWEEN 0 AND {PERIODS}
        GROUP BY ALL
        """
    ).fetchall()
    return {(int(c), int(n)): int(k) for c, n, k in cells}


def sql_adoption(
    con: duckdb.DuckDBPyConnection, events: str, persons: str, accounts: str
) -> Segments:
    segs = con.execute(
        f"""
        WITH people AS (
            SELECT person_id, bool_or({ACTIVE}) AS active,
                   bool_or(event = '{FEATURE}') AS used, max(account_id) AS acct
            FROM {events}
            WHERE ts >= TIMESTAMP '{START}' AND ts < TIMESTAMP '{HI}'
              AND (({ACTIVE}) OR event = '{FEATURE}')
            GROUP BY person_id
        )
        SELECT coalesce(json_extract_string(a.properties, '$.plan'), '(none)') AS segment,
               count(*) AS active, count(*) FILTER (WHERE used) AS adopters
        FROM people p
        LEFT JOIN {persons} pr USING (person_id)
        LEFT JOIN {accounts} a ON a.account_id = coalesce(pr.account_id, p.acct)
        WHERE p.active
        GROUP BY 1
        """
    ).fetchall()
    return {str(s): (int(a), int(u)) for s, a, u in segs}


def polars_retention(files: dict[str, Path]) -> Cells:
    ev = pl.scan_parquet(files["events"])
    active = ~pl.col("event").is_in(list(A.EXCLUDED_FROM_ACTIVE)) & ~pl.col("type").is_in(
        list(A.EXCLUDED_TYPES)
    )
    pw = (
        ev.filter((pl.col("ts") < dt.datetime.combine(HI, dt.time())) & active)
        .select("person_id", w=(pl.col("ts").dt.date().cast(pl.Int32) + 3) // 7)
        .unique()
    )
    first = pw.group_by("person_id").agg(cohort=pl.col("w").min())
    out = (
        pw.join(first, on="person_id")
        .with_columns(n=pl.col("w") - pl.col("cohort"))
        .filter(pl.col("cohort").is_between(LO_P, HI_P) & pl.col("n").is_between(0, PERIODS))
        .group_by("cohort", "n")
        .agg(k=pl.len())
        .collect()
    )
    return {(int(c), int(n)): int(k) for c, n, k in out.iter_rows()}


def polars_adoption(files: dict[str, Path]) -> Segments:
    ev = pl.scan_parquet(files["events"])
    active = ~pl.col("event").is_in(list(A.EXCLUDED_FROM_ACTIVE)) & ~pl.col("type").is_in(
        list(A.EXCLUDED_TYPES)
    )
    used = pl.col("event") == FEATURE
    lo, hi = dt.datetime.combine(START, dt.time()), dt.datetime.combine(HI, dt.time())
    people = (
        ev.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi) & (active | used))
        .group_by("person_id")
        .agg(active=active.any(), used=used.any(), acct=pl.col("account_id").max())
        .filter(pl.col("active"))
    )
    persons = pl.scan_parquet(files["persons"]).rename({"account_id": "p_acct"})
    plans = pl.scan_parquet(files["accounts"]).select(
        "account_id", plan=pl.col("properties").str.json_path_match("$.plan")
    )
    out = (
        people.join(persons, on="person_id", how="left")
        .with_columns(account_id=pl.coalesce("p_acct", "acct"))
        .join(plans, on="account_id", how="left")
        .with_columns(segment=pl.col("plan").fill_null("(none)"))
        .group_by("segment")
        .agg(active=pl.len(), adopters=pl.col("used").sum())
        .collect()
    )
    return {str(s): (int(a), int(u)) for s, a, u in out.iter_rows()}


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


def _pandas_active(ev: pd.DataFrame) -> pd.Series:
    return ~ev["event"].isin(A.EXCLUDED_FROM_ACTIVE) & ~ev["type"].isin(A.EXCLUDED_TYPES)


def pandas_retention(frames: dict[str, pd.DataFrame]) -> Cells:
    ev = frames["events"]
    ts = ev["ts"]
    rows = ev.loc[_pandas_active(ev) & (ts < pd.Timestamp(HI)), ["person_id"]]
    days = ts[rows.index].to_numpy().astype("datetime64[D]").astype(np.int64)
    rows = rows.assign(w=(days + 3) // 7).drop_duplicates()
    first = rows.groupby("person_id", sort=False)["w"].min().rename("cohort")
    joined = rows.join(first, on="person_id")
    joined["n"] = joined["w"] - joined["cohort"]
    keep = joined["cohort"].between(LO_P, HI_P) & joined["n"].between(0, PERIODS)
    counts = joined[keep].groupby(["cohort", "n"]).size()
    return {(int(c), int(n)): int(k) for (c, n), k in counts.items()}


def pandas_adoption(frames: dict[str, pd.DataFrame]) -> Segments:
    ev = frames["events"]
    ts = ev["ts"]
    active = _pandas_active(ev)
    in_range = (ts >= pd.Timestamp(START)) & (ts < pd.Timestamp(HI))
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
    return {str(s): (int(a), int(u)) for s, (a, u) in grouped.iterrows()}


def timed(
    contenders: dict[str, Callable[[], Any]], repeat: int
) -> dict[str, tuple[float, float, Any]]:
    """Median wall time, median CPU time (this process, every thread) and result of each
    contender, after one warm-up round. Rounds interleave the contenders, so a busy moment on
    the machine slows them alike; the CPU time is what each one cost, whatever else ran."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    results: dict[str, Any] = {name: fn() for name, fn in contenders.items()}
    for _ in range(repeat):
        for name, fn in contenders.items():
            c0, t0 = time.process_time(), time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return {
        name: (statistics.median(times[name]), statistics.median(cpu[name]), results[name])
        for name in contenders
    }


def fixed_cost(repeat: int = 20) -> float:
    """The per-call cost of an analysis apart from the data: retention on an empty store."""
    con = duckdb.connect()
    con.execute(store.SCHEMA)
    try:
        ibis_retention(con)
        t0 = time.perf_counter()
        for _ in range(repeat):
            ibis_retention(con)
        return (time.perf_counter() - t0) / repeat
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas contender")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="productops-bench-") as tmp:
        path = Path(tmp) / "events.duckdb"
        t0 = time.perf_counter()
        generate(path, args.events, n_persons=args.people)
        files = write_raw(path, Path(tmp))
        print(f"generated {args.events:,} events in {time.perf_counter() - t0:.1f} s")
        con = store.connect(path, read_only=True)
        raw = duckdb.connect()
        ev_raw = f"read_parquet('{files['events']}')"
        pr_raw = f"read_parquet('{files['persons']}')"
        ac_raw = f"read_parquet('{files['accounts']}')"
        try:
            n_people = con.execute("SELECT count(DISTINCT person_id) FROM events_resolved")
            print(f"people: {n_people.fetchone()[0]:,}")  # type: ignore[index]
            frames: dict[str, pd.DataFrame] = {}
            t_load = 0.0
            if not args.no_pandas:
                t0 = time.perf_counter()
                frames = load_for_pandas(con)
                t_load = time.perf_counter() - t0
            contenders: dict[str, Callable[[], Any]] = {
                "productops retention": lambda: ibis_retention(con),
                "raw-file SQL retention": lambda: sql_retention(raw, ev_raw),
                "polars retention": lambda: polars_retention(files),
                "store SQL retention": lambda: sql_retention(con, "events_resolved"),
                "productops adoption": lambda: ibis_adoption(con),
                "raw-file SQL adoption": lambda: sql_adoption(raw, ev_raw, pr_raw, ac_raw),
                "polars adoption": lambda: polars_adoption(files),
                "store SQL adoption": lambda: sql_adoption(
                    con, "events_resolved", "persons", "accounts"
                ),
            }
            if not args.no_pandas:
                contenders["pandas retention"] = lambda: pandas_retention(frames)
                contenders["pandas adoption"] = lambda: pandas_adoption(frames)
            runs = timed(contenders, args.repeat)
        finally:
            con.close()
            raw.close()
    t = {name: v[0] for name, v in runs.items()}
    c = {name: v[1] for name, v in runs.items()}
    for analysis in ("retention", "adoption"):
        results = {n: v[2] for n, v in runs.items() if n.endswith(analysis)}
        first = results[f"productops {analysis}"]
        for name, got in results.items():
            assert got == first, f"{name} disagrees with productops"
    cells = runs["productops retention"][2]
    segs = runs["productops adoption"][2]
    print(f"results equal: {len(cells)} retention cells; adoption (active, adopters) {segs}")
    print(f"median of {args.repeat} (+ warm-up), seconds of wall time (CPU time):")
    print(f"  {'':16} {'retention':>16} {'adoption':>16} {'both':>8}")
    for who in ("productops", "raw-file SQL", "polars", "store SQL", "pandas"):
        if f"{who} retention" not in t:
            continue
        r, a = f"{who} retention", f"{who} adoption"
        print(f"  {who:16} {t[r]:7.3f} ({c[r]:6.2f}) {t[a]:7.3f} ({c[a]:6.2f}) {t[r] + t[a]:8.3f}")
    if not args.no_pandas:
        print(f"  (pandas' load of the columns: {t_load:.2f} s, not counted)")
    print(f"fixed cost of one analysis call (empty store): {fixed_cost() * 1000:.0f} ms")
    ok = True
    print("ratios (productops / other):")
    for analysis in ("retention", "adoption"):
        ours = t[f"productops {analysis}"]
        for who, floor in (("polars", 1.0), ("raw-file SQL", 1.0), ("store SQL", 1.5)):
            ratio = ours / t[f"{who} {analysis}"]
            cpu_ratio = c[f"productops {analysis}"] / c[f"{who} {analysis}"]
            met = ratio <= floor
            ok &= met
            flag = "" if met else "MISSED"
            print(
                f"  {analysis:9} vs {who:13} {ratio:5.2f}x  (floor <= {floor}x; "
                f"CPU time {cpu_ratio:4.2f}x) {flag}"
            )
        if not args.no_pandas:
            speedup = t[f"pandas {analysis}"] / ours
            ok &= speedup >= 2
            print(f"  {analysis:9} pandas / productops {speedup:5.2f}x  (floor >= 2x)")
    print("floors met" if ok else "FLOOR MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
