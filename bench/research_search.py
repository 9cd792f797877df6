"""Research search benchmark: "what do we already know" over 10,000 notes and 100,000
feedback items.

    .venv/bin/python bench/research_search.py [--notes 10000] [--feedback 100000] [--queries 60]

Fills a fresh workspace (SQLite) with `--notes` interview notes of about 3,000 characters
(each cut into passages by the research index, with highlights and some insights) and
`--feedback` feedback items, every one with a sentence vector. Vectors: a pool of 1,500
distinct sentences is embedded with the real offline model, and every note passage and
feedback item takes the vector of the sentence it was written from (computing 150,000
vectors for a benchmark would take half an hour on two cores; a query's cost does not depend
on which vectors are stored). Then times `what_we_know` (words and meaning over research,
beside the feedback hub's search of the same words) for `--queries` queries, a third of them
with a study filter and a third with a date filter; the machine's load is printed with the
figures.

References in the same run: the research half alone, the feedback hub's own search over the
same 100,000 items, and embedding the query alone. Floor (issue 11): p95 ≤ 200 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from productops import feedback
from productops.core.db import transaction
from productops.core.workspace import init_workspace
from productops.feedback.models import FeedbackItem, FeedbackVector
from productops.research.models import Chunk, Highlight, Insight, Note, Study
from productops.research.search.index import passages
from productops.research.search.service import Filters, what_we_know

FLOOR_MS = 200
SUBJECTS = (
    "the PDF export", "the Slack integration", "single sign-on", "the mobile app", "search",
    "the dashboard", "notifications", "the pricing page", "onboarding", "permissions",
    "the Salesforce sync", "scheduled reports", "comments", "the API", "dark mode",
    "two-factor login", "the CSV import", "approvals", "the calendar view", "billing",
)  # fmt: skip
PROBLEMS = (
    "is broken again", "times out on big accounts", "is too slow to be useful",
    "confuses new users", "keeps sending duplicates", "cannot be found in the menu",
    "loses my changes", "needs admin rights", "does not work on my phone",
    "shows the wrong numbers", "is missing a filter", "crashes after the update",
    "should run on a schedule", "needs better defaults", "is the reason we might leave",
)  # fmt: skip
WHO = ("our team", "my manager", "the finance people", "customers", "new hires", "our admins")
QUERIES = (
    "pdf export broken", "slack notifications are noisy", "sso setup for enterprise",
    "mobile app crashes", "search does not find comments", "dashboard is slow",
    "pricing is confusing", "onboarding for admins", "permissions too coarse",
    "salesforce sync wrong numbers", "schedule reports every monday", "why do customers churn",
    "csv import fails", "approvals on the phone", "billing questions",
)  # fmt: skip


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(PROBLEMS)} for {rng.choice(WHO)}."


def chunk(
    kind: str, ref_id: int, study_id: int, text: str, vector: bytes, **more: Any
) -> dict[str, Any]:
    """A row of the research index, as the repository would write it."""
    now = dt.datetime.now(dt.UTC)
    return {"kind": kind, "ref_id": ref_id, "study_id": study_id, "position": 0, "text": text,
            "day": now, "vector": vector, **more}  # fmt: skip


def fill(ws: Any, n_notes: int, n_feedback: int, rng: random.Random) -> None:
    pool = sorted({sentence(rng) for _ in range(4000)})[:1500]
    started = time.perf_counter()
    vectors = feedback.embed(pool)
    print(f"embedded {len(pool):,} distinct sentences in {time.perf_counter() - started:.1f} s")
    blobs = [v.astype(np.float32).tobytes() for v in vectors]
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with transaction(ws.sessions) as s:
        rows = []
        for i in range(n_feedback):
            k = rng.randrange(len(pool))
            text = f"{pool[k]} {rng.choice(pool)}"
            when = now - dt.timedelta(days=rng.uniform(0, 365))
            rows.append({"source": "api", "external_id": f"b{i}", "kind": "other", "body": text,
                         "text": text, "created_at": when, "status": "new"})  # fmt: skip
            if len(rows) == 5000:
                s.execute(insert(FeedbackItem), rows)
                rows = []
        if rows:
            s.execute(insert(FeedbackItem), rows)
        ids = list(s.scalars(select(FeedbackItem.id).order_by(FeedbackItem.id)))
        for start in range(0, len(ids), 5000):
            s.execute(insert(FeedbackVector), [
                {"item_id": i, "model": feedback.MODEL_ID, "vector": rng.choice(blobs)}
                for i in ids[start : start + 5000]
            ])  # fmt: skip
    print(
        f"wrote {n_feedback:,} feedback items with vectors in {time.perf_counter() - started:.1f} s"
    )
    started = time.perf_counter()
    methods = ("interview", "usability_test", "survey", "diary_study")
    with transaction(ws.sessions) as s:
        studies = []
        for i in range(max(1, n_notes // 100)):
            st = Study(title=f"Study {i}", method=methods[i % 4], status="done", created_by="bench")
            s.add(st)
            studies.append(st)
        s.flush()
        chunks: list[dict[str, object]] = []
        for n in range(n_notes):
            study = studies[n % len(studies)]
            lines = []
            used = []
            for _q in range(14):
                k = rng.randrange(len(pool))
                used.append(k)
                lines.append(f"**Interviewer**: Tell me about {rng.choice(SUBJECTS)}.")
                lines.append(
                    f"**P-{n:05d}**: {pool[k]} {rng.choice(pool)} Honestly it happens every week."
                )
            body = "\n\n".join(lines)
            day = now - dt.timedelta(days=rng.uniform(0, 365))
            note = Note(study_id=study.id, title=f"Interview {n}", body=body, created_by="bench")
            s.add(note)
            s.flush()
            for pos, text in enumerate(passages(body)):
                k = used[min(pos * 2, len(used) - 1)]
                chunks.append(
                    chunk(
                        "note",
                        note.id,
                        study.id,
                        text,
                        blobs[k],
                        note_id=note.id,
                        position=pos,
                        day=day,
                    )
                )
            if n % 3 == 0:
                quote = pool[used[0]]
                at = body.index(quote)
                h = Highlight(
                    note_id=note.id,
                    study_id=study.id,
                    start=at,
                    end=at + len(quote),
                    quote=quote,
                    created_by="bench",
                )
                s.add(h)
                s.flush()
                chunks.append(
                    chunk(
                        "highlight", h.id, study.id, quote, blobs[used[0]], note_id=note.id, day=day
                    )
                )
            if n % 50 == 0:
                ins = Insight(
                    title=pool[used[1]],
                    body="Seen across interviews.",
                    study_id=study.id,
                    created_by="bench",
                )
                s.add(ins)
                s.flush()
                chunks.append(chunk("insight", ins.id, study.id, ins.title, blobs[used[1]]))
            if len(chunks) >= 5000:
                s.execute(insert(Chunk), chunks)
                chunks = []
        if chunks:
            s.execute(insert(Chunk), chunks)
        total = s.scalar(select(func.count(Chunk.id))) or 0
    took = time.perf_counter() - started
    print(f"wrote {n_notes:,} notes ({total:,} passages, highlights, insights) in {took:.1f} s")


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--feedback", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    rng = random.Random(11)
    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws", name="bench")
        fill(ws, args.notes, args.feedback, rng)
        with ws.sessions() as s:
            study_ids = list(s.scalars(select(Study.id)))
        # Warm: the model session and both vector indexes load once per process.
        what_we_know(ws, "warm up the indexes")
        feedback.search_feedback(ws, "warm up")
        load_before = os.getloadavg()
        cross: list[float] = []
        research: list[float] = []
        alone: list[float] = []
        embed: list[float] = []
        for i in range(args.queries):
            q = QUERIES[i % len(QUERIES)]
            f = Filters()
            if i % 3 == 1:
                f = Filters(study_id=rng.choice(study_ids))
            elif i % 3 == 2:
                f = Filters(since=(dt.datetime.now(dt.UTC) - dt.timedelta(days=90)).date())
            t = time.perf_counter()
            answer = what_we_know(ws, q, f)
            cross.append((time.perf_counter() - t) * 1000)
            assert answer.insights or answer.highlights or answer.notes
            t = time.perf_counter()
            what_we_know(ws, q, f, include_feedback=False)
            research.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            feedback.search_feedback(ws, q, feedback.Filters(since=f.since))
            alone.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            feedback.embed([q])
            embed.append((time.perf_counter() - t) * 1000)
        load_after = os.getloadavg()
        ws.close()
    print(f"\n{args.queries} queries over {args.notes:,} notes + {args.feedback:,} feedback items")
    print(f"machine load (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    for name, values in (
        ("what_we_know (research + feedback)", cross),
        ("  its research half alone", research),
        ("reference: feedback hub search alone", alone),
        ("reference: embedding the query alone", embed),
    ):
        print(f"{name:<40} p50 {statistics.median(values):7.1f} ms  p95 {p95(values):7.1f} ms")
    verdict = "within" if p95(cross) <= FLOOR_MS else "OVER"
    print(f"cross-search p95 {p95(cross):.0f} ms: {verdict} the {FLOOR_MS} ms floor")


if __name__ == "__main__":
    main()
