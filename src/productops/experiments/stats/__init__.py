"""The stats engine: plain functions on per-arm aggregates (sums, sums of squares, counts),
usable from a notebook. Agrees with gbstats and statsmodels (see the tests).

    from productops.experiments import stats
    stats.compare({"type": "mean", "sum": 1396.87, "sum_squares": 52377.9767, "n": 3407},
                  {"type": "mean", "sum": 2422.7, "sum_squares": 134698.29, "n": 3461},
                  test="ttest", difference="absolute")
    stats.srm([3407, 3461], [0.5, 0.5])
    stats.holm([0.01, 0.04, 0.03])
"""

from productops.experiments.stats.aggregates import (
    TYPES,
    Arm,
    Moments,
    StatsInputError,
    arm,
    pooled_theta,
)
from productops.experiments.stats.analysis import (
    CORRECTIONS,
    SRM_THRESHOLD,
    MetricReadout,
    Readout,
    analyse,
)
from productops.experiments.stats.checks import benjamini_hochberg, holm, srm, two_proportions
from productops.experiments.stats.compare import (
    DEFAULT_SEQUENTIAL_TUNING,
    DIFFERENCES,
    TESTS,
    Comparison,
    compare,
)

__all__ = [
    "CORRECTIONS",
    "DEFAULT_SEQUENTIAL_TUNING",
    "DIFFERENCES",
    "SRM_THRESHOLD",
    "TESTS",
    "TYPES",
    "Arm",
    "Comparison",
    "MetricReadout",
    "Moments",
    "Readout",
    "StatsInputError",
    "analyse",
    "arm",
    "benjamini_hochberg",
    "compare",
    "holm",
    "pooled_theta",
    "srm",
    "two_proportions",
]
