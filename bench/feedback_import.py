"""Benchmark: importing 100,000 feedback items (items/s), beside a plain bulk INSERT of the
same rows in the same run.

    .venv/bin/python bench/feedback_import.py [--items 100000] [--database-url URL]

Two files of the same 100,000 items: a survey CSV (`survey`: score, comment, respondent,
created_at) and a Zendesk tickets JSON (`zendesk`). Each is imported into a fresh workspace
with `import_feedback` — everything the CLI and the UI's job do: read and check every row,
clean the text, link 5,000 authors to people and 200 accounts (by email and domain, creating
the people it does not know), insert, keep the full-text index — then imported again
(nothing changes: the idempotence check). Reference: SQLAlchemy Core `INSERT` of rows
already made, without parsing, cleaning or linking.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, insert, select


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from feedback_themes import texts

    from productops.core.db import transaction
    from productops.core.workspace import init_workspace
    from productops.customers import Account
    from productops.feedback.importers import InputFile
    from productops.feedback.items.service import content_hash, import_feedback
    from productops.feedback.models import FeedbackItem

    corpus, _ = texts(args.items, seed=5)
    rng = random.Random(5)
    domains = [f"customer{i}.example" for i in range(200)]
    authors = [f"person{i}@{domains[i % len(domains)]}" for i in range(5000)]
    survey = io.StringIO()
    w = csv.writer(survey)
    w.writerow(["id", "score", "comment", "respondent", "created_at"])
    tickets = []
    for i, t in enumerate(corpus):
        who = rng.choice(authors)
        day = f"2026-{1 + i % 10:02d}-{1 + i % 28:02d}T10:00:00Z"
        w.writerow([f"r{i}", rng.randint(0, 10), t, who, day])
        tickets.append(
            {
                "id": i + 1,
                "subject": t[:60],
                "description": t,
                "status": "open",
                "created_at": day,
                "requester_id": 1,
                "via": {"channel": "email", "source": {"from": {"address": who, "name": "N"}}},
            }
        )
    files = {
        "survey": InputFile("survey.csv", survey.getvalue().encode()),
        "zendesk": InputFile("tickets.json", json.dumps({"tickets": tickets}).encode()),
    }
    print(
        f"{len(corpus):,} items; survey.csv {len(files['survey'].data) / 2**20:.1f} MiB, "
        f"tickets.json {len(files['zendesk'].data) / 2**20:.1f} MiB"
    )
    kwargs = {"database_url": args.database_url} if args.database_url else {}
    print(f"\n  {'what':<52} {'seconds':>8} {'items/s':>10}")
    for source, file in files.items():
        folder = Path(tempfile.mkdtemp(prefix="po-import-bench-"))
        ws = init_workspace(folder / "ws", name="Import bench", **kwargs)
        with transaction(ws.sessions) as s:
            s.execute(
                insert(Account),
                [
                    {
                        "external_id": f"a{i}",
                        "name": d,
                        "domain": d,
                        "plan": "growth",
                        "segment": "SMB",
                        "region": "NA",
                        "arr": 1000.0 * i,
                        "traits": {},
                    }
                    for i, d in enumerate(domains)
                ],
            )
        for attempt in ("first", "again"):
            started = time.perf_counter()
            with transaction(ws.sessions) as s:
                result = import_feedback(s, source, [file], "bench")
            took = time.perf_counter() - started
            what = f"import_feedback {source} ({attempt}: {result.created:,} new)"
            print(f"  {what:<52} {took:8.1f} {len(corpus) / took:10,.0f}")
        with ws.sessions() as s:
            linked = s.scalar(
                select(func.count(FeedbackItem.id)).where(FeedbackItem.account_id.is_not(None))
            )
        print(f"  {'':<52} ({linked:,} items linked to an account)")
        ws.close()
    folder = Path(tempfile.mkdtemp(prefix="po-import-bench-"))
    ws = init_workspace(folder / "ws", name="Import bench", **kwargs)
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    rows = [
        {
            "source": "raw",
            "external_id": f"r{i}",
            "kind": "survey",
            "body": t,
            "text": t,
            "created_at": when,
            "status": "new",
            "content_hash": content_hash(t),
            "extra": {},
        }
        for i, t in enumerate(corpus)
    ]
    started = time.perf_counter()
    with transaction(ws.sessions) as s:
        for start in range(0, len(rows), 2000):
            s.execute(insert(FeedbackItem), rows[start : start + 2000])
    took = time.perf_counter() - started
    print(f"  {'reference: Core INSERT of ready rows':<52} {took:8.1f} {len(corpus) / took:10,.0f}")
    print(f"\n  on {ws.engine.dialect.name}")
    ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
