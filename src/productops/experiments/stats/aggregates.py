"""Per-arm aggregates, the only input the stats engine needs: sums, not rows.

The shapes are those of gbstats (and of `gbstats-test-vectors.json`):

- `{"type": "mean", "sum": …, "sum_squares": …, "n": …}`: a numeric metric per unit;
- `{"type": "proportion", "sum": …, "n": …}`: units that converted out of `n`;
- `{"type": "ratio", "n": …, "sum": …, "sum_squares": …, "denominator_sum": …,
  "denominator_sum_squares": …, "sum_products": …}`: Σ numerator / Σ denominator over units
  (delta method), `sum_products` = Σ numerator·denominator;
- any of `mean` / `proportion` with `pre_sum`, `pre_sum_squares` (and `pre_sum_products` =
  Σ value·pre-value): the same metric before exposure, for CUPED.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from productops.core.errors import InvalidInput

TYPES = ("mean", "proportion", "ratio")


class StatsInputError(InvalidInput):
    """An aggregate is malformed (the message names the arm and the field)."""


@dataclass(frozen=True, slots=True)
class Moments:
    """Sum and sum of squares of one quantity over `n` units."""

    n: float
    sum: float
    sum_squares: float
    proportion: bool = False

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n else 0.0

    @property
    def variance(self) -> float:
        if self.proportion:
            m = self.mean
            return m * (1 - m)
        if self.n <= 1:
            return 0.0
        return (self.sum_squares - self.sum * self.sum / self.n) / (self.n - 1)


@dataclass(frozen=True, slots=True)
class Arm:
    """One arm's aggregate, checked: the value, and optionally a denominator (ratio) or a
    pre-exposure covariate (CUPED)."""

    kind: str
    value: Moments
    denominator: Moments | None = None
    sum_products: float = 0.0  # Σ value·denominator
    pre: Moments | None = None
    pre_sum_products: float = 0.0  # Σ value·pre-value
    theta: float = 0.0  # CUPED's coefficient, set by the comparison (pooled over arms)

    @property
    def n(self) -> float:
        return self.value.n

    @property
    def unadjusted_mean(self) -> float:
        if self.denominator is not None:
            d = self.denominator.sum
            return self.value.sum / d if d else 0.0
        return self.value.mean

    @property
    def mean(self) -> float:
        if self.pre is not None and self.theta:
            return self.value.mean - self.theta * self.pre.mean
        return self.unadjusted_mean

    @property
    def variance(self) -> float:
        """Variance of one unit's value (the delta method for ratios; CUPED's residual
        variance when adjusted)."""
        v = self.value
        if self.denominator is not None:
            d = self.denominator
            if d.mean == 0 or self.n <= 1:
                return 0.0
            cov = _covariance(self.sum_products, v, d)
            return (
                v.variance / d.mean**2
                - 2 * cov * v.mean / d.mean**3
                + v.mean**2 * d.variance / d.mean**4
            )
        if self.pre is not None and self.theta:
            if self.n <= 1:
                return 0.0
            cov = _covariance(self.pre_sum_products, v, self.pre)
            return v.variance + self.theta**2 * self.pre.variance - 2 * self.theta * cov
        return v.variance

    def with_theta(self, theta: float) -> Arm:
        return Arm(
            self.kind,
            self.value,
            self.denominator,
            self.sum_products,
            self.pre,
            self.pre_sum_products,
            theta,
        )


def _covariance(sum_products: float, x: Moments, y: Moments) -> float:
    if x.n <= 1:
        return 0.0
    return (sum_products - x.sum * y.sum / x.n) / (x.n - 1)


def _number(data: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> float:
    if key not in data:
        if required:
            raise StatsInputError(f"{where}: '{key}' is missing")
        return 0.0
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StatsInputError(f"{where}.{key}: {value!r} is not a number")
    value = float(value)
    if not math.isfinite(value):
        raise StatsInputError(f"{where}.{key}: {value} is not a finite number")
    return value


def _count(data: Mapping[str, Any], key: str, where: str) -> float:
    value = _number(data, key, where)
    if value < 0:
        raise StatsInputError(f"{where}.{key}: {value:g} is negative")
    return value


def arm(data: Mapping[str, Any] | Arm, where: str = "arm") -> Arm:
    """An aggregate dict as a checked `Arm`; `StatsInputError` names `where` and the field."""
    if isinstance(data, Arm):
        return data
    if not isinstance(data, Mapping):
        raise StatsInputError(f"{where}: expected a dict of sums, got {type(data).__name__}")
    kind = data.get("type", "mean")
    if kind not in TYPES:
        raise StatsInputError(f"{where}.type: '{kind}' is not one of {', '.join(TYPES)}")
    known = {
        "type",
        "n",
        "sum",
        "sum_squares",
        "denominator_sum",
        "denominator_sum_squares",
        "sum_products",
        "pre_sum",
        "pre_sum_squares",
        "pre_sum_products",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise StatsInputError(f"{where}: unknown field '{unknown[0]}'")
    n = _count(data, "n", where)
    total = _number(data, "sum", where)
    if kind == "proportion":
        if total < 0 or total > n:
            raise StatsInputError(
                f"{where}.sum: {total:g} conversions is not between 0 and n={n:g}"
            )
        value = Moments(n, total, total, proportion=True)
    else:
        value = Moments(n, total, _count(data, "sum_squares", where))
    if kind == "ratio":
        den = Moments(
            n,
            _number(data, "denominator_sum", where),
            _count(data, "denominator_sum_squares", where),
        )
        return Arm(kind, value, den, _number(data, "sum_products", where))
    if "pre_sum" in data or "pre_sum_squares" in data or "pre_sum_products" in data:
        pre_sum = _number(data, "pre_sum", where)
        if kind == "proportion":
            pre = Moments(n, pre_sum, pre_sum, proportion=True)
        else:
            pre = Moments(n, pre_sum, _count(data, "pre_sum_squares", where))
        return Arm(kind, value, None, 0.0, pre, _number(data, "pre_sum_products", where))
    return Arm(kind, value)


def pooled_theta(a: Arm, b: Arm) -> float:
    """CUPED's θ = cov(value, pre) / var(pre) over both arms together (as gbstats does); 0
    when either has no variance, which turns the adjustment off."""
    if a.pre is None or b.pre is None:
        return 0.0
    n = a.n + b.n
    post = Moments(
        n, a.value.sum + b.value.sum, a.value.sum_squares + b.value.sum_squares, a.value.proportion
    )
    pre = Moments(n, a.pre.sum + b.pre.sum, a.pre.sum_squares + b.pre.sum_squares, a.pre.proportion)
    if pre.variance == 0 or post.variance == 0:
        return 0.0
    cov = _covariance(a.pre_sum_products + b.pre_sum_products, post, pre)
    return cov / pre.variance
