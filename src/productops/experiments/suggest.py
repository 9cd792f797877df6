"""'Did you mean': searches that find nothing offer the words of the records that are close to
what was typed (a flag's key, an experiment's name), so a typo costs one click."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*|[a-z0-9]+")


def did_you_mean(typed: str, texts: Iterable[str], n: int = 3) -> list[str]:
    """Up to `n` search terms close to `typed`, taken from `texts` (keys, names): whole keys
    (`checkout-copy`) and their words (`checkout`), best first; none when `typed` is empty or
    already one of them."""
    typed = typed.strip().lower()
    if not typed:
        return []
    vocabulary: set[str] = set()
    for text in texts:
        for term in _WORD.findall(text.lower()):
            vocabulary.add(term)
            vocabulary.update(w for w in re.split(r"[-_.]", term) if len(w) >= 3)
    if typed in vocabulary:
        return []
    return difflib.get_close_matches(typed, sorted(vocabulary), n=n, cutoff=0.75)
