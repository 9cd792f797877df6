"""Comparing two arms: Welch's t-test (two-proportion tests are the same test on 0/1
values), always-valid sequential intervals, and the Bayesian effect posterior with
chance-to-win and risk. Relative effects use the delta method; everything agrees with gbstats
to floating-point precision (tests/experiments/test_stats_vectors.py).

Plain functions on aggregates: usable from a notebook without a workspace.

    from productops.experiments import stats
    r = stats.compare({"type": "proportion", "sum": 120, "n": 1000},
                      {"type": "proportion", "sum": 150, "n": 1000})
    r.expected, r.ci, r.p_value
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scipy import special

from productops.experiments.stats.aggregates import Arm, StatsInputError, arm, pooled_theta

Test = Literal["ttest", "sequential", "bayesian"]
Difference = Literal["relative", "absolute"]
TESTS: tuple[str, ...] = ("ttest", "sequential", "bayesian")
DIFFERENCES: tuple[str, ...] = ("relative", "absolute")
DEFAULT_SEQUENTIAL_TUNING = 5000.0  # gbstats' N*: the sample size the intervals are tuned for

BASELINE_ZERO = "the baseline's mean is zero: a relative effect is undefined"
NO_VARIANCE = "an arm has no variance (too few units, or all have the same value)"
NO_UNITS = "an arm has no units"
OUT_OF_RANGE = "the sums are too large or too small to compare in floating point"


@dataclass(frozen=True)
class Comparison:
    """The effect of `b` against `a`.

    `expected` is the effect (relative: (b - a) / a; absolute: b - a), `ci` its interval
    (confidence, always-valid, or credible), `uplift_stddev` its standard error. Frequentist
    tests give `p_value`; the Bayesian one gives `chance_to_win` (P(b better)) and `risk`
    ([expected loss choosing a, expected loss choosing b]). `error` says why a result is
    neutral (p = 1, interval [0, 0]) instead of computed, as gbstats does.
    """

    test: str
    difference: str
    expected: float
    ci: tuple[float, float]
    uplift_stddev: float
    p_value: float | None = None
    chance_to_win: float | None = None
    risk: tuple[float, float] | None = None
    mean_a: float = 0.0
    mean_b: float = 0.0
    n_a: float = 0.0
    n_b: float = 0.0
    alpha: float = 0.05
    cuped_theta: float = 0.0
    error: str | None = None

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    @property
    def significant(self) -> bool:
        """The interval excludes no effect (frequentist), or the chance to win is beyond
        1 - alpha/2 either way (Bayesian)."""
        if self.error is not None:
            return False
        if self.chance_to_win is not None:
            return not self.alpha / 2 < self.chance_to_win < 1 - self.alpha / 2
        return self.ci[0] > 0 or self.ci[1] < 0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ci"] = list(self.ci)
        out["risk"] = list(self.risk) if self.risk is not None else None
        out["significant"] = self.significant
        return out


def _normal_sf0(mu: float, sigma: float) -> float:
    """P(X > 0) for X ~ N(mu, sigma²)."""
    return float(special.ndtr(mu / sigma))


def _risk(mu: float, sigma: float) -> tuple[float, float]:
    """Expected loss of keeping the control (E[max(X, 0)]) and of shipping the treatment
    (E[max(-X, 0)]) under X ~ N(mu, sigma²)."""
    z = mu / sigma
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    gain = mu * float(special.ndtr(z)) + sigma * pdf
    return gain, gain - mu


def check_settings(test: str, difference: str, alpha: float, tuning: float) -> None:
    if test not in TESTS:
        raise StatsInputError(f"test: '{test}' is not one of {', '.join(TESTS)}")
    if difference not in DIFFERENCES:
        raise StatsInputError(f"difference: '{difference}' is not one of {', '.join(DIFFERENCES)}")
    if not 0 < alpha < 1:
        raise StatsInputError(f"alpha: {alpha} is not between 0 and 1")
    if not tuning > 0:
        raise StatsInputError(f"sequential_tuning: {tuning} is not a positive number")


def compare(
    a: Mapping[str, Any] | Arm,
    b: Mapping[str, Any] | Arm,
    *,
    test: Test = "ttest",
    difference: Difference = "relative",
    alpha: float = 0.05,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    cuped: bool = True,
) -> Comparison:
    """Compare arm `b` (a treatment) with arm `a` (the control), from their aggregates.

    `test`: "ttest" (Welch; two-sided), "sequential" (asymptotic confidence sequences: valid
    however often you look) or "bayesian" (flat prior on the effect). `difference`:
    "relative" or "absolute". When both arms carry `pre_*` sums and `cuped` is on, the
    effect is CUPED-adjusted with θ pooled over the arms.
    """
    check_settings(test, difference, alpha, sequential_tuning)
    arm_a, arm_b = arm(a, "a"), arm(b, "b")
    return compare_arms(arm_a, arm_b, test, difference, alpha, sequential_tuning, cuped)


def compare_arms(
    arm_a: Arm,
    arm_b: Arm,
    test: str,
    difference: str,
    alpha: float,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
    cuped: bool = True,
) -> Comparison:
    """`compare` on checked arms (what `analyse` calls for every treatment and metric)."""
    if arm_a.kind != arm_b.kind:
        raise StatsInputError(f"a is a {arm_a.kind} and b a {arm_b.kind}: compare like with like")
    theta = 0.0
    if cuped and arm_a.pre is not None and arm_b.pre is not None:
        theta = pooled_theta(arm_a, arm_b)
        arm_a, arm_b = arm_a.with_theta(theta), arm_b.with_theta(theta)
    relative = difference == "relative"
    na, nb = arm_a.n, arm_b.n
    ua, ub = arm_a.unadjusted_mean, arm_b.unadjusted_mean
    bayesian = test == "bayesian"

    def result(**values: Any) -> Comparison:
        fields: dict[str, Any] = {
            "expected": 0.0,
            "ci": (0.0, 0.0),
            "uplift_stddev": 0.0,
            **({"chance_to_win": 0.5, "risk": (0.0, 0.0)} if bayesian else {"p_value": 1.0}),
            **values,
        }
        return Comparison(
            test=test,
            difference=difference,
            mean_a=ua,
            mean_b=ub,
            n_a=na,
            n_b=nb,
            alpha=alpha,
            cuped_theta=theta,
            **fields,
        )

    if na == 0 or nb == 0:
        return result(error=NO_UNITS)
    ma = arm_a.mean
    if relative and (ma == 0 or ua == 0):
        return result(error=BASELINE_ZERO)
    va, vb = arm_a.variance, arm_b.variance
    if va <= 0 or vb <= 0:
        return result(error=NO_VARIANCE)
    try:
        compared = _effect(arm_a, arm_b, test, relative, alpha, sequential_tuning)
    except (ZeroDivisionError, OverflowError, ValueError):
        return result(error=OUT_OF_RANGE)
    if not all(math.isfinite(v) for v in _numbers(compared)):
        return result(error=OUT_OF_RANGE)
    return result(**compared)


def _numbers(values: dict[str, Any]) -> list[float]:
    out: list[float] = []
    for v in values.values():
        out.extend(v if isinstance(v, tuple) else (v,))
    return out


def _effect(
    arm_a: Arm, arm_b: Arm, test: str, relative: bool, alpha: float, sequential_tuning: float
) -> dict[str, Any]:
    """The effect of b on a, its interval and p-value (or chance to win and risk), on arms
    with units, variance and (for a relative effect) a non-zero baseline."""
    na, nb = arm_a.n, arm_b.n
    ua, ub = arm_a.unadjusted_mean, arm_b.unadjusted_mean
    ma, va, vb = arm_a.mean, arm_a.variance, arm_b.variance
    diff = arm_b.mean - ma
    if relative:
        point = diff / ua
        variance = vb / (ua * ua * nb) + va * ub * ub / (ua**4 * na)
    else:
        point = diff
        variance = vb / nb + va / na
    sd = math.sqrt(variance)
    if test == "bayesian":
        z = float(special.ndtri(1 - alpha / 2))
        return {
            "expected": point,
            "ci": (point - z * sd, point + z * sd),
            "uplift_stddev": sd,
            "chance_to_win": _normal_sf0(point, sd),
            "risk": _risk(point, sd),
        }
    if test == "sequential":
        n = na + nb
        rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / sequential_tuning
        tr2p1 = n * rho2 + 1
        width = math.sqrt(variance * n) * math.sqrt(
            2 * tr2p1 * math.log(math.sqrt(tr2p1) / alpha) / (n * n * rho2)
        )
        log_evalue = rho2 * (point * point * n / variance) / (2 * tr2p1) - 0.5 * math.log(tr2p1)
        p_value = 1.0 if log_evalue <= 0 else math.exp(-log_evalue)
        return {
            "expected": point,
            "ci": (point - width, point + width),
            "uplift_stddev": sd,
            "p_value": p_value,
        }
    sa, sb = va / na, vb / nb
    dof = (sa + sb) ** 2 / (sa * sa / (na - 1) + sb * sb / (nb - 1))
    width = float(special.stdtrit(dof, 1 - alpha / 2)) * sd
    p_value = 2 * float(special.stdtr(dof, -abs(point) / sd))
    return {
        "expected": point,
        "ci": (point - width, point + width),
        "uplift_stddev": sd,
        "p_value": p_value,
    }
