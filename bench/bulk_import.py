"""Bulk import benchmark: 10M events from Parquet through `import_events`.

    .venv/bin/python bench/bulk_import.py [--rows 10000000] [--keep DIR]

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

import duckdb

FLOOR = 500_000

GENERATE = """
COPY (
    SELECT uuid()::VARCHAR AS event_id,
           (['page_viewed', 'signed_up', 'feature_used', 'invite_sent', 'report_exported'])
               [1 + (i % 5)::INT] AS event,
           TIMESTAMP '2025-01-01' + to_seconds((i * 3.1536 * 1e7 / {rows})::BIGINT) AS timestamp,
           'user_' || (hash(i) % 200000)::VARCHAR AS user_id,
           'acct_' || (hash(i * 7) % 5000)::VARCHAR AS account_id,
           (['free', 'pro', 'enterprise'])[1 + (i % 3)::INT] AS plan,
           (i % 1000) / 10.0 AS value
    FROM range({rows}) t(i)
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 122880)
"""

REFERENCE = """
INSERT INTO events
SELECT event_id, event, 'track', timestamp, CAST(current_timestamp AS TIMESTAMP), user_id,
       user_id, NULL, account_id, 'import', to_json(struct_pack(plan, value)), user_id
FROM read_parquet('{path}')
"""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", type=Path, help="keep the generated Parquet file here")
    args = parser.parse_args()

    from productops.analytics import store
    from productops.analytics.ingest.bulk import import_events
    from productops.core.workspace import init_workspace

    tmp = Path(tempfile.mkdtemp(prefix="productops-bench-"))
    try:
        parquet = (args.keep or tmp) / f"events-{args.rows}.parquet"
        started = time.perf_counter()
        made = "reused"
        if not parquet.exists():
            with duckdb.connect() as con:
                con.execute(GENERATE.format(rows=args.rows, path=parquet))
            made = f"generated in {time.perf_counter() - started:.1f} s"
        size_mb = parquet.stat().st_size / 1e6
        print(
            f"{args.rows:,} synthetic events ({size_mb:,.0f} MB Parquet, {made}) "
            f"on {os.cpu_count()} cores"
        )

        # The reference first, so that both read the file from a warm page cache.
        ref_store = tmp / "reference.duckdb"
        con = store.connect(ref_store)
        c0, t0 = cpu_seconds(), time.perf_counter()
        con.execute(REFERENCE.format(path=parquet))
        con.close()  # as import_events does (a checkpoint, if any, is part of the work)
        ref_s, ref_cpu = time.perf_counter() - t0, cpu_seconds() - c0
        with duckdb.connect(str(ref_store), read_only=True) as con:
            ref_rows = con.execute("SELECT count(*) FROM events").fetchone()
        assert ref_rows is not None and ref_rows[0] == args.rows

        ws = init_workspace(tmp / "ws", name="Bench Co")
        c0 = cpu_seconds()
        result = import_events(ws, parquet)
        imp_cpu = cpu_seconds() - c0
        assert (result.rows, result.stored) == (args.rows, args.rows), result
        c0 = cpu_seconds()
        again = import_events(ws, parquet)
        again_cpu = cpu_seconds() - c0
        assert (again.stored, again.duplicates) == (0, args.rows), again
        ws.close()

        ref_rate = args.rows / ref_s
        print(
            f"  import_events:         {result.seconds:6.1f} s = "
            f"{result.events_per_second:>11,.0f} events/s (CPU {imp_cpu:.1f} s)"
        )
        print(
            f"  reference INSERT…SELECT: {ref_s:4.1f} s = {ref_rate:>11,.0f} events/s "
            f"(CPU {ref_cpu:.1f} s; import takes {result.seconds / ref_s:.2f}x its time)"
        )
        print(
            f"  re-import (all duplicates): {again.seconds:.1f} s = "
            f"{again.events_per_second:,.0f} events/s (CPU {again_cpu:.1f} s), stored "
            f"{again.stored}"
        )
        verdict = "met" if result.events_per_second >= FLOOR else "NOT met"
        print(f"  floor {FLOOR:,} events/s: {verdict}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
