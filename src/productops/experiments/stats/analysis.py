"""A whole readout from aggregates: every treatment against the control on every metric,
the SRM check, and corrected p-values across the family of comparisons."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from productops.experiments.stats.aggregates import StatsInputError, arm
from productops.experiments.stats.checks import benjamini_hochberg, holm, srm
from productops.experiments.stats.compare import (
    DEFAULT_SEQUENTIAL_TUNING,
    Comparison,
    Difference,
    Test,
    check_settings,
    compare_arms,
)

Correction = Literal["none", "holm", "benjamini_hochberg"]
CORRECTIONS: tuple[str, ...] = ("none", "holm", "benjamini_hochberg")
SRM_THRESHOLD = 0.001  # GrowthBook's default: below it the split is called broken


@dataclass(frozen=True)
class MetricReadout:
    """One metric: each treatment's comparison with the control (index 0)."""

    metric: str
    comparisons: list[Comparison]
    adjusted_p_values: list[float | None] = field(default_factory=list)


@dataclass(frozen=True)
class Readout:
    """Every metric's comparisons, the SRM p-value and whether it fails."""

    metrics: list[MetricReadout]
    srm_p_value: float
    users: list[float]
    weights: list[float]
    correction: str

    @property
    def srm_warning(self) -> bool:
        return self.srm_p_value < SRM_THRESHOLD


def analyse(
    metrics: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    users: Sequence[float],
    weights: Sequence[float],
    test: Test = "ttest",
    difference: Difference = "relative",
    alpha: float = 0.05,
    correction: Correction = "holm",
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> Readout:
    """`metrics` maps a metric's name to one aggregate per variation (control first);
    `users` are the units exposed per variation and `weights` the split they were meant to
    have. p-values are corrected across every (metric, treatment) pair."""
    if correction not in CORRECTIONS:
        raise StatsInputError(f"correction: '{correction}' is not one of {', '.join(CORRECTIONS)}")
    check_settings(test, difference, alpha, sequential_tuning)
    arms = len(users)
    out: list[MetricReadout] = []
    for name, aggregates in metrics.items():
        if len(aggregates) != arms:
            raise StatsInputError(
                f"metric '{name}': {len(aggregates)} aggregates for {arms} variations"
            )
        checked = [arm(agg, f"{name}[{i}]") for i, agg in enumerate(aggregates)]
        comparisons = [
            compare_arms(checked[0], checked[i], test, difference, alpha, sequential_tuning)
            for i in range(1, arms)
        ]
        out.append(MetricReadout(name, comparisons))
    flat = [c.p_value for m in out for c in m.comparisons if c.p_value is not None]
    if correction != "none" and flat:
        adjusted = holm(flat) if correction == "holm" else benjamini_hochberg(flat)
        it = iter(adjusted)
        out = [
            MetricReadout(
                m.metric,
                m.comparisons,
                [next(it) if c.p_value is not None else None for c in m.comparisons],
            )
            for m in out
        ]
    return Readout(out, srm(users, weights), list(users), list(weights), correction)
