"""Tracking-plan benchmark: how cheap `check_event` is at ingest, and how fast the
violations report runs over a stored event set.

    .venv/bin/python bench/tracking_plan.py [--events 1000000]

References measured in the same run:
- check_event vs `json.dumps(properties)` (what the store does to every event anyway) and
  vs jsonschema (Draft 2020-12) validating the same rules;
- violations_report vs one pass that parses every event's properties once (a floor) and
  vs checking the rows one by one in Python (what the report avoids).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema

from productops.analytics import store
from productops.analytics import tracking as tp

N_EVENTS = 20
PLANS = ("free", "pro", "enterprise")


def make_plan() -> str:
    lines = ["naming: snake_case", "events:"]
    for i in range(N_EVENTS):
        lines += [
            f"  event_{i}:",
            "    properties:",
            f"      plan: {{type: string, required: true, enum: [{', '.join(PLANS)}]}}",
            "      seats: integer",
            "      amount: number",
            "      trial: boolean",
            "      email: {type: string, pattern: '^[^@]+@[^@]+$'}",
            "      at: datetime",
            "      tags: array",
        ]
    return "\n".join(lines) + "\n"


def make_properties(rng: random.Random) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    name = f"event_{rng.randrange(N_EVENTS)}"
    props: dict[str, Any] = {
        "plan": rng.choice(PLANS),
        "seats": rng.randrange(1, 50),
        "amount": round(rng.random() * 100, 2),
        "trial": rng.random() < 0.3,
        "email": f"user{rng.randrange(1000)}@example.com",
        "at": "2025-03-01T10:00:00Z",
        "tags": ["a", "b"],
        "utm_source": "newsletter",
    }
    if roll < 0.05:
        name = f"Unplanned Event {rng.randrange(5)}"
    elif roll < 0.10:
        props["seats"] = str(props["seats"])
    elif roll < 0.15:
        props["plan"] = "gold"
    elif roll < 0.20:
        del props["plan"]
    return name, props


def json_schema(plan: tp.TrackingPlan, name: str) -> dict[str, Any]:
    types = {"datetime": "string"}
    props: dict[str, Any] = {}
    for p in plan.events[name].properties:
        rule: dict[str, Any] = {"type": types.get(p.type, p.type)}
        if p.allowed is not None:
            rule["enum"] = list(p.allowed)
        if p.pattern is not None:
            rule["pattern"] = p.pattern
        if p.type == "datetime":
            rule["pattern"] = "^" + tp.DATETIME_RE + "$"
        props[p.name] = rule
    required = [p.name for p in plan.events[name].properties if p.required]
    return {"type": "object", "properties": props, "required": required}


def best(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_check_event(plan: tp.TrackingPlan, n: int) -> None:
    rng = random.Random(7)
    now = dt.datetime(2025, 3, 1)
    events = []
    for i in range(n):
        name, props = make_properties(rng)
        events.append(store.Event(f"e{i}", name, "track", now, now, "u", properties=props))
    validators = {
        name: jsonschema.Draft202012Validator(json_schema(plan, name)) for name in plan.events
    }

    def check() -> int:
        return sum(len(tp.check_event(plan, e)) for e in events)

    def dumps() -> int:
        return sum(len(json.dumps(e.properties, separators=(",", ":"))) for e in events)

    def schema() -> int:
        found = 0
        for e in events:
            v = validators.get(e.event)
            found += 1 if v is None else sum(1 for _ in v.iter_errors(e.properties))
        return found

    t_check, t_dumps, t_schema = best(check), best(dumps), best(schema)
    print(f"check_event over {n:,} events ({check():,} violations found), best of 5:")
    print(f"  check_event       {n / t_check:>12,.0f} events/s  {t_check / n * 1e6:6.2f} µs/event")
    print(f"  json.dumps (ref)  {n / t_dumps:>12,.0f} events/s  {t_dumps / n * 1e6:6.2f} µs/event")
    print(
        f"  jsonschema (ref)  {n / t_schema:>12,.0f} events/s  {t_schema / n * 1e6:6.2f} µs/event"
    )
    print(
        f"  check_event costs {t_check / t_dumps:.2f}x a json.dumps of the properties and is "
        f"{t_schema / t_check:.1f}x faster than jsonschema"
    )


def bench_report(plan: tp.TrackingPlan, n: int) -> None:
    rng = random.Random(11)
    templates = [make_properties(rng) for _ in range(5_000)]
    with tempfile.TemporaryDirectory() as tmp:
        con = store.connect(Path(tmp) / "events.duckdb")
        con.execute("CREATE TABLE templates (i INTEGER, event VARCHAR, properties VARCHAR)")
        con.executemany(
            "INSERT INTO templates VALUES (?, ?, ?)",
            [(i, name, json.dumps(props)) for i, (name, props) in enumerate(templates)],
        )
        t = time.perf_counter()
        con.execute(
            f"""
            INSERT INTO events
            SELECT 'e' || r.range, t.event, 'track',
                   TIMESTAMP '2025-01-01' + to_seconds(r.range * 5),
                   TIMESTAMP '2025-01-01' + to_seconds(r.range * 5),
                   'u' || (r.range % 10000), NULL, NULL, NULL,
                   ['segment', 'posthog', 'import'][1 + r.range % 3], t.properties::JSON,
                   'u' || (r.range % 10000), {store.id_hash_sql("'e' || r.range")},
                   0, true  -- person_key, active: decided below
            FROM range(?) r JOIN templates t ON t.i = r.range % 5000
            """,
            [n],
        )
        store.derive_all(con)
        built = time.perf_counter() - t
        print(f"\nviolations report over {n:,} stored events (built in {built:.1f} s):")

        rows: list[tp.ViolationSummary] = []

        def report() -> None:
            rows[:] = tp.report_from(con, plan)

        paths = "['/plan', '/seats', '/amount', '/trial', '/email', '/at', '/tags']"

        def scan() -> None:
            # the least any SQL check must do: parse every event's properties once
            con.execute(
                f"SELECT event, source, count(*) FROM events "
                f"WHERE json_type(properties, {paths})[1] = 'VARCHAR' GROUP BY 1, 2"
            ).fetchall()

        sample = min(n, 100_000)

        def python_rows() -> None:
            cur = con.execute(
                f"SELECT event_id, event, ts, source, properties FROM events LIMIT {sample}"
            )
            for event_id, name, ts, source, props in cur.fetchall():
                e = store.Event(
                    event_id,
                    name,
                    "track",
                    ts,
                    ts,
                    "u",
                    None,
                    None,
                    None,
                    source,
                    json.loads(props),
                )
                tp.check_event(plan, e)

        t_report, t_scan = best(report, 3), best(scan, 3)
        t_python = best(python_rows, 1) * n / sample
        print(
            f"  violations_report       {t_report:7.2f} s  {n / t_report:>12,.0f} events/s "
            f"({len(rows)} rows)"
        )
        print(
            f"  one JSON pass (floor)   {t_scan:7.2f} s  {n / t_scan:>12,.0f} events/s "
            f"→ report is {t_report / t_scan:.1f}x the floor"
        )
        print(
            f"  row by row in Python    {t_python:7.2f} s  {n / t_python:>12,.0f} events/s "
            f"(extrapolated from {sample:,}) → report is {t_python / t_report:.1f}x faster"
        )
        top = rows[0]
        print(f"  largest row: {top.event} / {top.property} / {top.kind.value}: {top.count:,}")
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="stored events for the report"
    )
    parser.add_argument("--check", type=int, default=5_000, help="events for the check_event loop")
    args = parser.parse_args()
    plan = tp.parse_plan(make_plan())
    print(f"plan: {len(plan.events)} events x 7 properties; about 20 % of events violate it\n")
    bench_check_event(plan, args.check)
    bench_report(plan, args.events)


if __name__ == "__main__":
    main()
