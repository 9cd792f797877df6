"""Near-duplicates across channels: the same words pasted twice, a person repeating
themselves, the same ticket arriving through two tools.

- The same person within 30 days: the same words (ignoring case, spacing and punctuation:
  the content hash), or sentence vectors at least `duplicate_similarity` close (0.93 by
  default). Colleagues in one account who ask alike are several asks.
- Anyone within 2 days (the same ticket through two tools, a pasted message): the same
  words, or vectors at least 0.98 close (a word changed), when the text is long enough to
  be distinctive (40 characters). Two customers who both write "Please add dark mode" are
  two people asking, not a copy: their feedback counts twice.

The earliest is the original; the others point at it (`duplicate_of_id`, status
`duplicate`) and keep their own source, text and author: nothing is deleted, and demand
counts each person once. Only new, untriaged items are marked; a person's decision stands.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select, update

from productops.core.db import transaction
from productops.core.workspace import Workspace
from productops.feedback.models import FeedbackItem
from productops.feedback.processing import service as processing
from productops.feedback.settings import section

Progress = Callable[[int, int | None, str], object]
ANYONE_SIMILARITY = 0.98
WINDOW = dt.timedelta(days=30)
ANYONE_WINDOW = dt.timedelta(days=2)
DISTINCTIVE_CHARS = 40
BLOCK = 1024


@dataclass(frozen=True)
class Pair:
    item_id: int
    original_id: int
    similarity: float


def find_duplicates(ws: Workspace, item_ids: Sequence[int] | None = None) -> list[Pair]:
    """The duplicate pairs among `item_ids` (default: every new item) and everything else."""
    threshold = section(ws).duplicate_similarity
    with ws.sessions() as s:
        rows = s.execute(
            select(
                FeedbackItem.id,
                FeedbackItem.created_at,
                FeedbackItem.person_id,
                FeedbackItem.account_id,
                FeedbackItem.content_hash,
                FeedbackItem.status,
                FeedbackItem.duplicate_of_id,
                func.length(FeedbackItem.text),
            )
        ).all()
    if not rows:
        return []
    info = {r[0]: r for r in rows}
    candidates = set(item_ids) if item_ids is not None else {r[0] for r in rows}
    candidates = {i for i in candidates if i in info and info[i][5] == "new"}
    if not candidates:
        return []
    order_key = {r[0]: (r[1], r[0]) for r in rows}
    best: dict[int, Pair] = {}

    def offer(item: int, other: int, similarity: float) -> None:
        # The later of the two is the duplicate; it points at the earlier one's root.
        if order_key[other] > order_key[item]:
            item, other = other, item
        if item not in candidates:
            return
        root = info[other][6] or other
        if root == item:
            return
        if item not in best or similarity > best[item].similarity:
            best[item] = Pair(item, root, round(float(similarity), 4))

    def copies(a: tuple[object, ...], b: tuple[object, ...], similarity: float) -> bool:
        """Whether two items are one piece of feedback twice (see the module's rules)."""
        gap = abs(a[1] - b[1])  # type: ignore[operator]
        # The same person: colleagues in one account asking alike are several asks.
        if a[2] is not None and a[2] == b[2] and gap <= WINDOW:
            return True
        distinctive = min(a[7] or 0, b[7] or 0) >= DISTINCTIVE_CHARS  # type: ignore[call-overload]
        return similarity >= ANYONE_SIMILARITY and gap <= ANYONE_WINDOW and distinctive

    by_hash: dict[str, list[int]] = {}
    for r in rows:
        if r[4]:
            by_hash.setdefault(r[4], []).append(r[0])
    for ids in by_hash.values():
        if len(ids) > 1 and candidates.intersection(ids):
            _same_words(sorted(ids, key=lambda i: order_key[i]), info, candidates, copies, offer)

    all_ids, matrix = processing.load_vectors(ws)
    if len(all_ids):
        position = {int(i): n for n, i in enumerate(all_ids)}
        cand = np.array(sorted(c for c in candidates if c in position), dtype=np.int64)
        for start in range(0, len(cand), BLOCK):
            block = cand[start : start + BLOCK]
            sims = matrix[[position[int(i)] for i in block]] @ matrix.T
            for row, item in enumerate(block):
                sims[row, position[int(item)]] = -1.0  # not itself
                close = np.nonzero(sims[row] >= threshold)[0]
                for col in close:
                    other = int(all_ids[col])
                    sim = float(sims[row, col])
                    if copies(info[int(item)], info[other], sim):
                        offer(int(item), other, sim)
    return sorted(best.values(), key=lambda p: p.item_id)


def _same_words(
    ordered: list[int],
    info: dict[int, Any],
    candidates: set[int],
    copies: Callable[[Any, Any, float], bool],
    offer: Callable[[int, int, float], None],
) -> None:
    """Items with the same words, oldest first: each candidate is offered as a copy of the
    first earlier one it copies, looking only where a copy can be (the same person or
    the last 2 days), so a phrase thousands of customers wrote stays cheap."""
    earlier_by: dict[tuple[str, int], list[int]] = {}
    place = {item: n for n, item in enumerate(ordered)}
    for n, later in enumerate(ordered):
        row = info[later]
        if later in candidates:
            near = []
            for k in range(n - 1, -1, -1):
                if row[1] - info[ordered[k]][1] > ANYONE_WINDOW:
                    break
                near.append(ordered[k])
            own = earlier_by.get(("p", row[2]), [])
            for first in sorted(set(near + own), key=place.__getitem__):
                if copies(row, info[first], 1.0):
                    offer(later, first, 1.0)
                    break
        if row[2] is not None:
            earlier_by.setdefault(("p", row[2]), []).append(later)


def find_pending(
    ws: Workspace, progress: Progress | None = None, item_ids: Sequence[int] | None = None
) -> int:
    """Mark the duplicates among new items; returns how many were marked."""
    pairs = find_duplicates(ws, item_ids)
    if progress:
        progress(len(pairs), len(pairs) or None, "near-duplicates")
    if not pairs:
        return 0
    with transaction(ws.sessions) as s:
        for pair in pairs:
            s.execute(
                update(FeedbackItem)
                .where(FeedbackItem.id == pair.item_id, FeedbackItem.status == "new")
                .values(
                    status="duplicate",
                    duplicate_of_id=pair.original_id,
                    duplicate_similarity=pair.similarity,
                )
            )
    return len(pairs)


def count_duplicates(ws: Workspace) -> int:
    with ws.sessions() as s:
        return int(
            s.scalar(
                select(func.count(FeedbackItem.id)).where(FeedbackItem.duplicate_of_id.is_not(None))
            )
            or 0
        )
