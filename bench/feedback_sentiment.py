"""Benchmark: accuracy of the offline sentiment method where a source gives no score.

    .venv/bin/python bench/feedback_sentiment.py

Two labelled sets, scored the same way (negative <= -0.2 < neutral <= 0.2 < positive):

1. `bench/data/feedback_sentiment.csv`: 120 short product-feedback sentences (50 negative,
   40 neutral: requests and questions, 30 positive), written and labelled by us for this
   check. It is small and ours, so read it as a sanity check of what the product lexicon is
   for (complaints without "bad" words: "crashes", "logs me out", "times out"), not as a
   published benchmark.
2. The shared feedback samples that carry the customer's own score (App Store and Google Play
   stars, Delighted and Typeform NPS): the source's score gives the label (stars 1-2 / NPS
   0-6 negative, stars 4-5 / NPS 9-10 positive, the rest neutral). Real or schema-true text,
   labelled by the customers themselves; few items.

Reference in the same run: VADER alone (what productops adds the lexicon to).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELLED = Path(__file__).parent / "data" / "feedback_sentiment.csv"
SAMPLES = ROOT.parent / "shared" / "data" / "feedback" / "samples"


def band(score: float) -> str:
    return "negative" if score <= -0.2 else "positive" if score > 0.2 else "neutral"


def from_source(score: float, kind: str | None) -> str:
    if kind == "nps":
        return "negative" if score <= 6 else "positive" if score >= 9 else "neutral"
    return "negative" if score <= 2 else "positive" if score >= 4 else "neutral"


def sample_set() -> list[tuple[str, str]]:
    from productops.feedback.importers import SOURCES, InputFile

    files = {
        "appstore": ["appstore/appstore_customer_reviews.json"],
        "googleplay": ["googleplay/reviews_com.example.feedbackapp_202405.csv"],
        "delighted": ["delighted/delighted_survey_responses.json"],
        "typeform": ["typeform/typeform_responses.json"],
    }
    out = []
    for source, paths in files.items():
        read = SOURCES[source].read([InputFile.read(SAMPLES / p) for p in paths])
        for item in read.items:
            if item.score is not None:
                out.append((from_source(item.score, item.score_kind), item.body))
    return out


def report(name: str, rows: list[tuple[str, str]]) -> None:
    from sklearn.metrics import accuracy_score, f1_score

    from productops.feedback.processing.sentiment import model_score, vader

    truth = [label for label, _ in rows]
    ours = [band(model_score(text)) for _, text in rows]
    plain = [band(vader(text)) for _, text in rows]
    print(f"\n{name}: {len(rows)} texts")
    for who, predicted in (
        ("productops (VADER + product lexicon)", ours),
        ("reference: VADER", plain),
    ):
        acc = accuracy_score(truth, predicted)
        f1 = f1_score(truth, predicted, average="macro")
        neg = [p for t, p in zip(truth, predicted, strict=True) if t == "negative"]
        recall = sum(p == "negative" for p in neg) / max(1, len(neg))
        print(f"  {who:<40} accuracy {acc:.3f}  macro-F1 {f1:.3f}  complaints found {recall:.0%}")


def main() -> int:
    with LABELLED.open(newline="", encoding="utf-8") as fh:
        labelled = [(r["label"], r["text"]) for r in csv.DictReader(fh)]
    report("Labelled product feedback (ours)", labelled)
    if SAMPLES.is_dir():
        report("Shared samples labelled by their own score", sample_set())
    else:
        print(f"\n{SAMPLES} is absent: the shared samples were not scored")
    return 0


if __name__ == "__main__":
    sys.exit(main())
