"""Sentiment from -1 (negative) to 1 (positive).

- **The source's own score wins** where it has one: NPS 0-6 / 7-8 / 9-10, CSAT and stars
  1-5, Zendesk's good/bad rating.
- **Otherwise an offline method**: VADER (MIT, rule-based) with a lexicon of product-feedback
  words it lacks. VADER alone scores "App crashes every time I open settings" as neutral;
  complaints about software are mostly nouns and verbs of failure ("crashes", "logs me
  out", "times out", "cannot"), which `PRODUCT_LEXICON` and `PRODUCT_PHRASES` add.
  Its accuracy is measured by `bench/feedback_sentiment.py` on a labelled set.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# Word valences on VADER's scale (-4..4).
PRODUCT_LEXICON = {
    "crash": -2.2, "crashes": -2.2, "crashed": -2.2, "crashing": -2.2, "freeze": -1.8,
    "freezes": -1.8, "frozen": -1.6, "hangs": -1.5, "lag": -1.4, "laggy": -1.8, "lags": -1.4,
    "slow": -1.6, "slower": -1.6, "sluggish": -1.8, "buggy": -2.0, "bug": -1.3, "bugs": -1.4,
    "glitch": -1.5, "glitches": -1.5, "broken": -2.0, "breaks": -1.6, "unusable": -2.6,
    "unreliable": -2.0, "error": -1.4, "errors": -1.5, "fails": -1.8, "failed": -1.7,
    "failing": -1.8, "failure": -1.8, "timeout": -1.5, "timeouts": -1.5, "missing": -1.0,
    "lost": -1.4, "loses": -1.5, "duplicates": -1.0, "confusing": -1.6, "clunky": -1.6,
    "cumbersome": -1.6, "tedious": -1.5, "outage": -2.2, "downtime": -1.8, "overcharged": -2.2,
    "expensive": -1.2, "pricey": -1.2, "blank": -0.8, "empty": -0.6, "stuck": -1.5,
    "wrong": -1.5, "incorrect": -1.5, "inaccurate": -1.6, "annoying": -1.8, "spam": -1.2,
    "cancel": -0.8, "cancelling": -1.2, "churn": -1.5, "refund": -1.0, "intuitive": 1.8,
    "seamless": 1.9, "smooth": 1.5, "fast": 1.2, "faster": 1.2, "snappy": 1.5, "reliable": 1.6,
    "lifesaver": 2.5, "timesaver": 2.0, "recommend": 1.5, "painless": 1.6, "fixed": 0.8,
}  # fmt: skip
# Phrases VADER cannot see word by word, with a valence added once per match.
PRODUCT_PHRASES = [
    (re.compile(r"\b(can ?not|can't|cannot|unable to|impossible to|won't let me)\b", re.I), -1.6),
    (re.compile(r"\b(doesn.t|does not|don.t|didn.t|isn.t|is not|not) (work|load|sync|save)", re.I), -2.0),  # noqa: E501
    (re.compile(r"\bnot working\b|\bstopped working\b|\bno longer works?\b", re.I), -2.2),
    (re.compile(r"\b(logs?|kicks?|signs?) (me |us |drivers |users |people )?out\b", re.I), -1.6),
    (re.compile(r"\btimes? out\b|\btakes forever\b|\bages to load\b", re.I), -1.8),
    (re.compile(r"\b(every|each) (single )?time\b", re.I), -0.6),
    (re.compile(r"\b(still|again)\b.{0,30}\b(broken|failing|crash\w*|bug\w*|wrong)\b", re.I), -0.8),
    (re.compile(r"\bwaste of (time|money)\b", re.I), -2.5),
    (re.compile(r"\b(switch|switching|move|moving) to\b", re.I), -0.8),
]  # fmt: skip
PHRASE_WEIGHT = 0.25


@cache
def _analyzer() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(PRODUCT_LEXICON)
    return analyzer


def vader(text: str) -> float:
    """VADER's compound score, unchanged (the reference the bench compares against)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return float(_plain_vader(SentimentIntensityAnalyzer).polarity_scores(text)["compound"])


@cache
def _plain_vader(cls: Any) -> Any:
    return cls()


def model_score(text: str) -> float:
    """Sentiment of a text by the offline method: VADER with the product lexicon, nudged by
    failure phrases, in -1..1."""
    text = text[:5000]
    score = float(_analyzer().polarity_scores(text)["compound"])
    nudge = sum(weight for pattern, weight in PRODUCT_PHRASES if pattern.search(text))
    return max(-1.0, min(1.0, score + PHRASE_WEIGHT * nudge))


def from_score(score: float | None, kind: str | None) -> float | None:
    """Sentiment from the source's own score, or None when it has none."""
    if score is None or kind is None:
        return None
    if kind == "nps":
        return -1.0 + 2.0 * (score / 10.0) if score < 7 else (0.0 if score < 9 else 0.8)
    if kind in ("csat", "stars"):
        return {1: -1.0, 2: -0.6, 3: 0.0, 4: 0.5, 5: 0.9}.get(round(score), 0.0)
    if kind in ("csat_good_bad", "thumbs"):
        return 0.7 if score >= 1 else -0.7
    if kind == "ces":  # customer effort, 1 (very hard) .. 7 (very easy)
        return (score - 4) / 3
    return None


def sentiment(text: str, score: float | None, kind: str | None) -> tuple[float, str]:
    """(sentiment, where it came from: "source" or "model")."""
    own = from_score(score, kind)
    if own is not None:
        return own, "source"
    return model_score(text), "model"
