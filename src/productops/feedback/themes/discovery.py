"""Theme discovery: groups of feedback about the same thing, found from sentence vectors and
labelled with the phrases that set each group apart.

    from productops.feedback.themes import discover
    labels = discover(["The app crashes on login", "Crash when I sign in", ...])
    # one theme number per text; None: no theme claims it

How: MiniLM vectors (offline), k-means with the number of themes chosen by silhouette on a
sample (the smallest k within 3 % of the best score, so themes stay broad), refined on all
items; clusters whose centres are close are merged (one subject k-means cut in pieces); an
item whose similarity to its theme's centre is under `FLOOR`, or whose theme is
smaller than `min_size`, stays unassigned (the inbox). Labels: class-based TF-IDF over 1-3
word phrases (each theme's phrases weighed against all themes').
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from productops.feedback.processing import embeddings

FLOOR = 0.45  # cosine similarity to the theme's centre below which an item is unassigned
MAX_THEMES = 60
SAMPLE = 3000
SILHOUETTE_TOLERANCE = 0.97
MERGE_SIMILARITY = 0.7
_WORDS = re.compile(r"[^\W\d_][\w'-]*", re.UNICODE)


@dataclass(frozen=True)
class Clustering:
    """Discovery's answer: a theme number (or -1) per vector, each theme's centre (unit
    length), and each vector's similarity to its theme's centre."""

    labels: np.ndarray
    centroids: np.ndarray
    similarity: np.ndarray
    k: int

    def as_list(self) -> list[int | None]:
        return [int(x) if x >= 0 else None for x in self.labels]


def _candidates(n: int, min_size: int) -> list[int]:
    high = max(2, min(MAX_THEMES, n // max(min_size, 1)))
    return sorted({round(float(x)) for x in np.geomspace(2, high, num=10)} | {high})


def cluster(
    vectors: np.ndarray, *, min_size: int = 5, seed: int = 0, k: int | None = None
) -> Clustering:
    """Themes among unit-length vectors (see the module's docstring)."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    if n < 2 * min_size:
        return Clustering(
            np.full(n, -1, dtype=np.int64), np.zeros((0, vectors.shape[1]), np.float32),
            np.zeros(n, np.float32), 0,
        )  # fmt: skip
    rng = np.random.default_rng(seed)
    sample = vectors[rng.choice(n, size=min(n, SAMPLE), replace=False)]
    if k is None:
        scores: dict[int, float] = {}
        for candidate in _candidates(n, min_size):
            if candidate >= len(sample):
                continue
            labels = KMeans(candidate, n_init=1, random_state=seed).fit_predict(sample)
            if len(set(labels)) < 2:
                continue
            scores[candidate] = float(
                silhouette_score(
                    sample, labels, sample_size=min(2000, len(sample)), random_state=seed
                )
            )
        best = max(scores.values()) if scores else 0.0
        k = min((c for c, s in scores.items() if s >= SILHOUETTE_TOLERANCE * best), default=2)
    k = max(2, min(k, n))
    seeds = KMeans(k, n_init=3, random_state=seed).fit(sample).cluster_centers_
    model = KMeans(k, n_init=1, init=seeds, random_state=seed).fit(vectors)
    labels = _merge_close(model.labels_.astype(np.int64), model.cluster_centers_)
    k = int(labels.max()) + 1
    centroids = np.stack([vectors[labels == c].mean(axis=0) for c in range(k)]).astype(np.float32)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    similarity = np.einsum("ij,ij->i", vectors, centroids[labels]).astype(np.float32)
    labels[similarity < FLOOR] = -1
    # Small themes are no themes; number the rest by size, largest first.
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    keep = [c for c in np.argsort(-sizes, kind="stable") if sizes[c] >= min_size]
    renumber = np.full(k, -1, dtype=np.int64)
    renumber[keep] = np.arange(len(keep))
    labels = np.where(labels >= 0, renumber[np.maximum(labels, 0)], -1)
    return Clustering(labels, centroids[keep], similarity, len(keep))


def _merge_close(labels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Clusters whose centres are close (average-linkage cosine similarity at least
    `MERGE_SIMILARITY`) become one theme: k-means cuts one subject into several pieces when its
    phrasings vary ("iOS app crashes", "Android app crashes"). Numbers stay 0..k-1."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(centres) < 2:
        return labels
    groups = fcluster(
        linkage(centres, method="average", metric="cosine"),
        t=1 - MERGE_SIMILARITY,
        criterion="distance",
    )
    _, renumbered = np.unique(groups - 1, return_inverse=True)
    return np.asarray(renumbered[labels], dtype=np.int64)


def discover(texts: list[str], *, min_size: int = 5, seed: int = 0) -> list[int | None]:
    """A theme number for each text, or None where no theme claims it. The same code the
    themes job runs, without a database: usable from a notebook."""
    vectors = embeddings.embed(texts)
    return cluster(vectors, min_size=min_size, seed=seed).as_list()


# --- labels ------------------------------------------------------------------------------

_STOP_WORDS = """a about above after again all am an and any are as at be because been before
being below between both but by can could did do does doing don down during each few for from
further had has have having he her here hers him his how i if in into is it its itself just me
more most my no nor not now of off on once only or other our ours out over own please same she
should so some such than that the their theirs them then there these they this those through to
too under until up very was we were what when where which while who whom why will with would
you your yours yourself also get got im ive id dont cant wont hi hello thanks thank us one like
need want way every still really even much many lot lots use using used via ok yes hey since
last soon time times week weeks day days today morning night again always never ever new great
lovely help hours minutes thing things something someone anyone everyone team sure able keep
keeps"""
STOP = frozenset(_STOP_WORDS.split())


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORDS.findall(text)]


def _phrases(text: str) -> list[str]:
    words = _tokens(text)
    out = []
    for size in (1, 2, 3):
        for i in range(len(words) - size + 1):
            gram = words[i : i + size]
            if gram[0] in STOP or gram[-1] in STOP or len(gram[0]) < 2:
                continue
            if size == 3 and gram[1] in STOP and len(gram[1]) > 3:
                continue  # "logs me out" yes, "slow since last" no
            out.append(" ".join(gram))
    return out


def key_phrases(
    texts: Sequence[str], labels: Sequence[int], k: int, top: int = 5
) -> list[list[str]]:
    """The phrases that set each theme apart (class-based TF-IDF over 1-3 word phrases)."""
    counts: list[dict[str, int]] = [{} for _ in range(k)]
    for text, label in zip(texts, labels, strict=True):
        if label < 0:
            continue
        for phrase in set(_phrases(text)):
            counts[label][phrase] = counts[label].get(phrase, 0) + 1
    totals: dict[str, int] = {}
    for c in counts:
        for phrase, n in c.items():
            totals[phrase] = totals.get(phrase, 0) + n
    sizes = [max(1, sum(1 for lb in labels if lb == i)) for i in range(k)]
    mean_size = sum(sizes) / max(1, k)
    out = []
    for i, c in enumerate(counts):
        scored = []
        for phrase, n in c.items():
            if n < 2 and sizes[i] > 3:
                continue
            tf = n / sizes[i]
            idf = np.log(1 + mean_size / totals[phrase])
            bonus = 1 + 0.15 * phrase.count(" ")  # a phrase says more than a word
            # Coverage counts more than rarity: a label should say what most items say.
            scored.append((tf**1.5 * idf * bonus, phrase))
        scored.sort(reverse=True)
        chosen: list[str] = []
        for _, phrase in scored:
            if any(phrase in c_ or c_ in phrase for c_ in chosen):
                continue
            chosen.append(phrase)
            if len(chosen) == top:
                break
        out.append(chosen)
    return out


def label(phrases: Sequence[str]) -> str:
    """A theme's name from its key phrases: the first two, capitalised."""
    if not phrases:
        return "Unnamed theme"
    name = " · ".join(phrases[:2])
    return (name[0].upper() + name[1:])[:200]
