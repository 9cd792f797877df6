"""Benchmark: the quality of theme discovery and auto-tagging on a labelled public set.

    .venv/bin/python bench/feedback_quality.py [--data DIR] [--seed 0]

DIR defaults to ../shared/data/feedback/bitext_customer_support.

On Bitext's customer-support set (4,514 requests, 27 intents; CDLA-Sharing-1.0):

1. **Discovery**: `productops.feedback.themes.discover` (the themes job's code: offline
   MiniLM vectors, k chosen by silhouette, unassigned items left out) against the 27
   intents: NMI and ARI (unassigned items counted as one more group), coverage. References
   in the same run: k-means told the true k (27) on the same vectors, and TF-IDF + SVD +
   k-means(27). Floor: NMI >= 0.80.
2. **Auto-tagging**: the Tagger auto-tagging learns with (one-vs-rest logistic regression on
   the vectors) trained on a stratified 80 % and scored on the other 20 %: macro-F1.
   Reference: TF-IDF + logistic regression on the same split. Floor: macro-F1 >= 0.90.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "data" / "feedback" / "bitext_customer_support"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    files = sorted(args.data.glob("*.csv"))
    if not files:
        print(f"no CSV in {args.data}: the Bitext set is not on this machine", file=sys.stderr)
        return 2
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score, f1_score, normalized_mutual_info_score
    from sklearn.model_selection import train_test_split

    from productops.feedback.processing.embeddings import embed
    from productops.feedback.themes.discovery import cluster
    from productops.feedback.themes.tags import Tagger

    with files[0].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    texts = [r["instruction"] for r in rows]
    intents = np.array([r["intent"] for r in rows])
    print(f"{len(texts):,} texts, {len(set(intents))} intents ({files[0].name})")

    started = time.perf_counter()
    vectors = embed(texts)
    embed_s = time.perf_counter() - started
    print(f"embedding: {embed_s:.1f} s ({len(texts) / embed_s:,.0f} texts/s, offline ONNX MiniLM)")

    started = time.perf_counter()
    found = cluster(vectors, seed=args.seed)
    cluster_s = time.perf_counter() - started
    labels = found.labels
    nmi = normalized_mutual_info_score(intents, labels)
    ari = adjusted_rand_score(intents, labels)
    coverage = float((labels >= 0).mean())
    assigned = labels >= 0
    nmi_assigned = normalized_mutual_info_score(intents[assigned], labels[assigned])

    k27 = KMeans(27, n_init=10, random_state=args.seed).fit_predict(vectors)
    tfidf = TfidfVectorizer(sublinear_tf=True, min_df=2, stop_words="english").fit_transform(texts)
    svd = TruncatedSVD(100, random_state=args.seed).fit_transform(tfidf)
    svd /= np.maximum(np.linalg.norm(svd, axis=1, keepdims=True), 1e-12)
    tf27 = KMeans(27, n_init=10, random_state=args.seed).fit_predict(svd)

    print("\nTheme discovery against the 27 intents")
    print(f"  {'method':<44} {'k':>4} {'NMI':>6} {'ARI':>6} {'covered':>8}")
    print(
        f"  {'productops discover (k by silhouette)':<44} {found.k:>4} {nmi:>6.3f} {ari:>6.3f} "
        f"{coverage:>8.1%}   ({cluster_s:.1f} s; NMI of covered items {nmi_assigned:.3f})"
    )
    for name, ref_labels in (
        ("reference: k-means told k=27, same vectors", k27),
        ("reference: TF-IDF + SVD + k-means(27)", tf27),
    ):
        ref_nmi = normalized_mutual_info_score(intents, ref_labels)
        ref_ari = adjusted_rand_score(intents, ref_labels)
        print(f"  {name:<44} {27:>4} {ref_nmi:>6.3f} {ref_ari:>6.3f} {1:>8.1%}")
    print(f"  floor: NMI >= 0.80 -> {'met' if nmi >= 0.80 else 'NOT MET'}")

    idx = np.arange(len(texts))
    train, test = train_test_split(idx, test_size=0.2, random_state=args.seed, stratify=intents)
    classes = sorted(set(intents))
    code = {c: i for i, c in enumerate(classes)}
    started = time.perf_counter()
    tagger = Tagger.fit(vectors[train], [[code[intents[i]]] for i in train])
    proba = tagger.proba(vectors[test])
    predicted = [classes[tagger.classes[int(j)]] for j in proba.argmax(axis=1)]
    tag_s = time.perf_counter() - started
    f1 = f1_score(intents[test], predicted, average="macro")
    vec = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2)
    ref = LogisticRegression(C=10, max_iter=3000).fit(
        vec.fit_transform([texts[i] for i in train]), intents[train]
    )
    ref_pred = ref.predict(vec.transform([texts[i] for i in test]))
    ref_f1 = f1_score(intents[test], ref_pred, average="macro")
    print("\nAuto-tagging, 80/20 stratified split")
    print(
        f"  productops Tagger (logistic regression on vectors): macro-F1 {f1:.3f} ({tag_s:.1f} s)"
    )
    print(f"  reference: TF-IDF (1-2 grams) + logistic regression: macro-F1 {ref_f1:.3f}")
    print(f"  floor: macro-F1 >= 0.90 -> {'met' if f1 >= 0.90 else 'NOT MET'}")
    return 0 if nmi >= 0.80 and f1 >= 0.90 else 1


if __name__ == "__main__":
    sys.exit(main())
