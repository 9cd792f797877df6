"""What an experiment's readout must check besides the effect: the sample-ratio mismatch
test, corrections for many comparisons, and a two-proportion z-test for those who want the
textbook one."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import special

from productops.experiments.stats.aggregates import StatsInputError


def srm(users: Sequence[float], weights: Sequence[float]) -> float:
    """The p-value of the sample-ratio-mismatch check: Pearson's chi-square of the units
    seen per arm against the split they were meant to have (`weights`, any scale). A tiny
    p-value (GrowthBook warns below 0.001) means assignment or tracking is broken."""
    if len(users) != len(weights):
        raise StatsInputError(
            f"srm: {len(users)} counts of users but {len(weights)} weights: give one per arm"
        )
    if len(users) < 2:
        raise StatsInputError("srm: at least two arms are needed")
    for i, (u, w) in enumerate(zip(users, weights, strict=True)):
        if not (math.isfinite(u) and u >= 0):
            raise StatsInputError(f"srm: users[{i}] = {u} is not a count")
        if not (math.isfinite(w) and w >= 0):
            raise StatsInputError(f"srm: weights[{i}] = {w} is not a weight")
    total = float(sum(users))
    total_weight = float(sum(weights))
    if not total:
        return 1.0
    if not total_weight:
        raise StatsInputError("srm: the weights add up to zero")
    x = 0.0
    for u, w in zip(users, weights, strict=True):
        if w <= 0:
            continue
        expected = w / total_weight * total
        x += (u - expected) ** 2 / expected
    return float(special.chdtrc(len(users) - 1, x))


def _check_pvalues(p_values: Sequence[float], what: str) -> list[float]:
    out = []
    for i, p in enumerate(p_values):
        if not (isinstance(p, int | float) and 0 <= p <= 1):
            raise StatsInputError(f"{what}: p_values[{i}] = {p!r} is not a probability")
        out.append(float(p))
    return out


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the order given (controls the family-wise
    error rate)."""
    ps = _check_pvalues(p_values, "holm")
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order given (controls the
    false discovery rate)."""
    ps = _check_pvalues(p_values, "benjamini_hochberg")
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for k, i in enumerate(order):
        rank = m - k
        running = min(running, ps[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def two_proportions(
    conversions_a: float, n_a: float, conversions_b: float, n_b: float, *, alpha: float = 0.05
) -> dict[str, float | tuple[float, float]]:
    """The Wald z-test of p_b - p_a (unpooled variance): difference, its standard error, a
    two-sided p-value and a (1 - alpha) interval. Same as statsmodels'
    `test_proportions_2indep(method="wald")`."""
    for name, value, n in (("a", conversions_a, n_a), ("b", conversions_b, n_b)):
        if not (n > 0 and 0 <= value <= n):
            raise StatsInputError(f"two_proportions: arm {name} needs 0 ≤ conversions ≤ n, n > 0")
    pa, pb = conversions_a / n_a, conversions_b / n_b
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    diff = pb - pa
    if se == 0:
        raise StatsInputError("two_proportions: both arms have no variance")
    z = diff / se
    crit = float(special.ndtri(1 - alpha / 2))
    return {
        "difference": diff,
        "stderr": se,
        "z": z,
        "p_value": 2 * float(special.ndtr(-abs(z))),
        "ci": (diff - crit * se, diff + crit * se),
    }
