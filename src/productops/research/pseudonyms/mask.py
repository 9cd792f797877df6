"""Masking: research text as everyone without `people.pii` sees it, each participant's name,
email and speaker labels replaced by their pseudonym. The mapping between the two texts'
offsets is kept, so highlights made on either line up with the stored note."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Who:
    """One participant's words to hide: `exact` strings match in any case (full name, email,
    speaker labels); `words` match as whole words with their case (a first name)."""

    pseudonym: str
    exact: tuple[str, ...] = ()
    words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Masked:
    text: str
    # (start, end) in the original, (start, end) in the masked text, for each replacement.
    replaced: list[tuple[int, int, int, int]] = field(default_factory=list)

    def to_masked(self, pos: int) -> int:
        """Where original offset `pos` lands in the masked text (inside a replaced name: its
        start)."""
        shift = 0
        for o_start, o_end, m_start, m_end in self.replaced:
            if pos <= o_start:
                break
            if pos < o_end:
                return m_start
            shift = m_end - o_end
        return pos + shift

    def to_original(self, pos: int, *, end: bool = False) -> int:
        """Where masked offset `pos` lands in the original (inside a pseudonym: the whole
        name it stands for, its end when `end`)."""
        shift = 0
        for o_start, o_end, m_start, m_end in self.replaced:
            if pos <= m_start:
                break
            if pos < m_end:
                return o_end if end else o_start
            shift = o_end - m_end
        return pos + shift


def pattern(people: Iterable[Who]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One regular expression for every string to hide, longest first, and what each one (in
    lower case) becomes."""
    target: dict[str, str] = {}
    exact: list[str] = []
    words: list[str] = []
    for who in people:
        for s in who.exact:
            s = s.strip()
            if len(s) >= 2 and s.lower() not in target:
                target[s.lower()] = who.pseudonym
                exact.append(s)
        for w in who.words:
            w = w.strip()
            if len(w) >= 3 and w.lower() not in target:
                target[w.lower()] = who.pseudonym
                words.append(w)
    if not target:
        return None, target
    parts = [f"(?i:{re.escape(s)})" for s in sorted(exact, key=len, reverse=True)]
    parts += [re.escape(w) for w in sorted(words, key=len, reverse=True)]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)"), target


def mask(text: str, people: Iterable[Who]) -> Masked:
    """`text` with each participant's name, email and labels replaced by their pseudonym."""
    compiled, target = pattern(people)
    if compiled is None:
        return Masked(text)
    out: list[str] = []
    replaced: list[tuple[int, int, int, int]] = []
    last = 0
    length = 0
    for m in compiled.finditer(text):
        out.append(text[last : m.start()])
        length += m.start() - last
        repl = target[m.group(0).lower()]
        replaced.append((m.start(), m.end(), length, length + len(repl)))
        out.append(repl)
        length += len(repl)
        last = m.end()
    out.append(text[last:])
    return Masked("".join(out), replaced)


def replace_all(text: str, people: Iterable[Who]) -> str:
    return mask(text, people).text


def shift_spans(spans: list[tuple[int, int]], masked: Masked) -> list[tuple[int, int]]:
    """Original spans carried into the masked text."""
    return [(masked.to_masked(s), max(masked.to_masked(s), masked.to_masked(e))) for s, e in spans]


def boundaries(spans: Iterable[tuple[int, int]]) -> list[int]:
    points: list[int] = []
    for s, e in spans:
        bisect.insort(points, s)
        bisect.insort(points, e)
    return points
