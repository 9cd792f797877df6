"""The processing job, step by step: language and sentiment, competitor mentions, vectors,
near-duplicates, then new items into the themes they belong to and tag suggestions.

Every step works on what is new since it last ran, in short transactions, reporting its
progress; running it again when nothing is new does nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.feedback.competitors import service as competitors
from productops.feedback.duplicates import service as duplicates
from productops.feedback.processing import service as processing
from productops.feedback.themes import service as themes
from productops.feedback.themes import tags

Progress = Callable[[int, int | None, str], object]
# Each step's share of the progress bar (out of 1,000).
STEPS = (
    ("language and sentiment", 100),
    ("competitor mentions", 50),
    ("embedding", 650),
    ("near-duplicates", 100),
    ("themes and tags", 100),
)


def _share(report: Progress, base: int, weight: int) -> Callable[[int, int | None, str], None]:
    def move(done: int, total: int | None, message: str) -> None:
        fraction = done / total if total else 1.0
        report(base + int(weight * fraction), 1000, message)

    return move


def process(ws: Workspace, progress: Progress | None = None) -> dict[str, Any]:
    """Bring every item up to date; returns what each step did."""
    report: Progress = progress or (lambda done, total, message: None)
    bases = {}
    base = 0
    for name, weight in STEPS:
        bases[name] = (base, weight)
        base += weight

    def step(name: str) -> Callable[[int, int | None, str], None]:
        return _share(report, *bases[name])

    scored = processing.score_pending(ws, step("language and sentiment"))
    with transaction(ws.sessions) as s:
        mentions = competitors.tag_items(s, scored)
    step("competitor mentions")(1, 1, "competitor mentions")
    embedded = processing.embed_pending(ws, step("embedding"))
    dups = duplicates.find_pending(ws, step("near-duplicates"), embedded)
    placed = themes.place_pending(ws, step("themes and tags"))
    suggested = tags.suggest(ws)
    report(1000, 1000, "done")
    return {
        "scored": len(scored),
        "competitor_mentions": mentions,
        "embedded": len(embedded),
        "duplicates": dups,
        "placed_in_themes": placed,
        "tag_suggestions": suggested,
    }
