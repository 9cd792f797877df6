"""Bulk import benchmark: 10M events from Parquet through `import_events`.

    .venv/bin/python bench/bulk_import.py [--rows 10000000] [--keep DIR] [--no-ids]

With `--no-ids` the file has no event id column (ids are derived from each row's content),
and 1 row in 1,000 is an exact copy of another (two identical clicks are two events). Each
import runs in a child process whose peak memory (max RSS) is reported; floor: 2 GB at 30M
events (issue 7, item 5).

Generates synthetic events as Parquet with DuckDB (uuid event ids, five event names, a year
of timestamps, 200k users, 5k accounts and two property columns), then, in the same run:
- imports them with `import_events` into a fresh workspace (checks, dedup against the store
  and within the file, properties built from the extra columns, one transaction);
- the reference: a hand-written `INSERT INTO events SELECT … FROM read_parquet(…)` into a
  fresh store (no checks, no dedup);
- re-imports the same file into the filled workspace (every row a duplicate: nothing stored).
Floor: 500,000 events/s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

FLOOR = 500_000

GENERATE = """
COPY (
    SELECT {id_column}
           (['page_viewed', 'signed_up', 'feature_used', 'invite_sent', 'report_exported'])
               [1 + (i % 5)::INT] AS event,
           TIMESTAMP '2025-01-01' + to_seconds((i * 3.1536 * 1e7 / {rows})::BIGINT) AS timestamp,
           'user_' || (hash(i) % 200000)::VARCHAR AS user_id,
           'acct_' || (hash(i * 7) % 5000)::VARCHAR AS account_id,
           (['free', 'pro', 'enterprise'])[1 + (i % 3)::INT] AS plan,
           (i % 1000) / 10.0 AS value
    FROM range({rows}) t(i)
    {copies}
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 122880)
"""
# --no-ids: the last rows repeat earlier ones exactly (1 in 1,000), as two identical clicks do.
ID_COLUMN = "uuid()::VARCHAR AS event_id,"

REFERENCE = """
INSERT INTO events (event_id, event, type, ts, received_at, distinct_id, user_id, anonymous_id,
                    account_id, source, properties, person_id, id_hash, person_key, active)
SELECT {id_expr}, event, 'track', timestamp, CAST(current_timestamp AS TIMESTAMP), user_id,
       user_id, NULL, account_id, 'import', to_json(struct_pack(plan, value)), user_id,
       {id_hash}, {person_key}, {active}
FROM read_parquet('{path}')
"""


def _child_import(ws_path: str, parquet: str, out: Any) -> None:
    """Import in a child process, so its peak memory is the import's own."""
    from productops.analytics.ingest.bulk import import_events
    from productops.core.workspace import open_workspace

    ws = open_workspace(Path(ws_path))
    c0 = cpu_seconds()
    result = import_events(ws, Path(parquet))
    cpu = cpu_seconds() - c0
    ws.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.send((result.rows, result.stored, result.duplicates, result.seconds, cpu, peak))


def import_in_child(ws_path: Path, parquet: Path) -> tuple[int, int, int, float, float, float]:
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=_child_import, args=(str(ws_path), str(parquet), there))
    proc.start()
    got: tuple[int, int, int, float, float, float] = here.recv()
    proc.join()
    return got


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", type=Path, help="keep the generated Parquet file here")
    parser.add_argument("--no-ids", action="store_true", help="a file without an id column")
    args = parser.parse_args()

    from productops.analytics import store
    from productops.core.workspace import init_workspace

    tmp = Path(tempfile.mkdtemp(prefix="productops-bench-"))
    try:
        kind = "noids" if args.no_ids else "ids"
        parquet = (args.keep or tmp) / f"events-{args.rows}-{kind}.parquet"
        started = time.perf_counter()
        made = "reused"
        if not parquet.exists():
            with duckdb.connect() as con:
                if args.no_ids:
                    # the same columns for the originals and their exact copies
                    body = (
                        GENERATE.format(id_column="", rows=args.rows, path="X", copies="")
                        .split("COPY (", 1)[1]
                        .rsplit(") TO", 1)[0]
                    )
                    dup = body.replace(f"range({args.rows})", f"range({args.rows // 1000})")
                    con.execute(
                        f"COPY ({body} UNION ALL {dup}) TO '{parquet}' "
                        "(FORMAT parquet, ROW_GROUP_SIZE 122880)"
                    )
                else:
                    con.execute(
                        GENERATE.format(
                            id_column=ID_COLUMN, rows=args.rows, path=parquet, copies=""
                        )
                    )
            made = f"generated in {time.perf_counter() - started:.1f} s"
        size_mb = parquet.stat().st_size / 1e6
        print(
            f"{args.rows:,} synthetic events ({size_mb:,.0f} MB Parquet, {made}) "
            f"on {os.cpu_count()} cores"
        )

        # The reference first, so that both read the file from a warm page cache.
        ref_store = tmp / "reference.duckdb"
        con = store.connect(ref_store)
        con.execute("SET enable_progress_bar = false")
        c0, t0 = cpu_seconds(), time.perf_counter()
        id_expr = "md5(concat_ws('|', event, timestamp, user_id))" if args.no_ids else "event_id"
        con.execute(
            REFERENCE.format(
                path=parquet,
                id_expr=id_expr,
                id_hash=store.id_hash_sql(id_expr),
                person_key=store.person_key_sql("user_id"),
                active=store.active_sql("event", "'track'"),
            )
        )
        con.close()  # as import_events does (a checkpoint, if any, is part of the work)
        ref_s, ref_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        with duckdb.connect(str(ref_store), read_only=True) as con:
            ref_rows = con.execute("SELECT count(*) FROM events").fetchone()
        total = args.rows + (args.rows // 1000 if args.no_ids else 0)
        assert ref_rows is not None and ref_rows[0] == total

        init_workspace(tmp / "ws", name="Bench Co").close()
        rows, stored, _dups, secs, imp_cpu, peak = import_in_child(tmp / "ws", parquet)
        if (rows, stored) != (total, total):
            print(f"  WRONG: {rows:,} rows read, {stored:,} stored: {total - stored:,} events lost")
        _, stored2, _dups2, secs2, again_cpu, peak2 = import_in_child(tmp / "ws", parquet)
        if stored2:
            print(f"  WRONG: re-importing the same file stored {stored2:,} events again")

        ref_rate = total / ref_s
        rate = total / secs
        print(
            f"  import_events:         {secs:6.1f} s = {rate:>11,.0f} events/s "
            f"(CPU {imp_cpu:.1f} s, peak memory {peak:,.0f} MB)"
        )
        print(
            f"  reference INSERT…SELECT: {ref_s:4.1f} s = {ref_rate:>11,.0f} events/s "
            f"(CPU {ref_cpu:.1f} s; import takes {secs / ref_s:.2f}x its time)"
        )
        print(
            f"  re-import (all duplicates): {secs2:.1f} s = {total / secs2:,.0f} events/s "
            f"(CPU {again_cpu:.1f} s, peak memory {peak2:,.0f} MB), stored {stored2}"
        )
        verdict = "met" if rate >= FLOOR else "NOT met"
        print(
            f"  floor {FLOOR:,} events/s: {verdict}; memory floor 2,048 MB at 30M: "
            f"{'met' if peak <= 2048 else 'NOT met'} at {total:,}"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
