"""Sample size, power and minimum detectable effect: plain functions that agree with
statsmodels (t-test power by the noncentral t, two proportions by the normal approximation)
and with GrowthBook's calculator for relative effects (delta method, equal arms).

    sample_size_proportion(0.20, 0.25)            # 1093.7 per arm (statsmodels' onetail)
    sample_size_mean(effect=0.5, sd=1.0)          # 63.77 per arm (TTestIndPower)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy import optimize, special

from productops.core.errors import InvalidInput


class PowerInputError(InvalidInput):
    """An input of the calculator is out of range (the message names it)."""


def _check(name: str, value: float, lo: float, hi: float, *, open_lo: bool = True) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise PowerInputError(f"{name}: {value!r} is not a number")
    if (value <= lo if open_lo else value < lo) or value >= hi:
        raise PowerInputError(f"{name}: {value:g} is not between {lo:g} and {hi:g}")


def _z(p: float) -> float:
    return float(special.ndtri(p))


# --- proportions ---------------------------------------------------------------------------


def _std_diff(p1: float, p2: float, ratio: float) -> float:
    return math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / ratio)


def sample_size_proportion(
    baseline: float,
    treatment: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
) -> float:
    """Users per arm (the control's; the treatment gets `ratio` times as many) to detect a
    change from `baseline` to `treatment` conversion, two-sided. Pooled variance under no
    effect, each arm's own under the effect: statsmodels'
    `samplesize_proportions_2indep_onetail`."""
    _check("baseline", baseline, 0, 1)
    _check("treatment", treatment, 0, 1)
    _check("alpha", alpha, 0, 1)
    _check("power", power, 0, 1)
    _check("ratio", ratio, 0, 1e6)
    diff = treatment - baseline
    if diff == 0:
        raise PowerInputError("treatment: equal to the baseline, there is no effect to detect")
    pooled = (treatment + baseline * ratio) / (1 + ratio)
    std_null = _std_diff(pooled, pooled, ratio)
    std_alt = _std_diff(treatment, baseline, ratio)
    crit, crit_power = _z(1 - alpha / 2), _z(1 - power)
    return (max(crit * std_null - crit_power * std_alt, 0) / diff) ** 2


def sample_size_proportion_cohen(
    baseline: float, treatment: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The same by Cohen's h (arcsine), as statsmodels' `NormalIndPower` solves it."""
    _check("baseline", baseline, 0, 1)
    _check("treatment", treatment, 0, 1)
    h = abs(2 * math.asin(math.sqrt(treatment)) - 2 * math.asin(math.sqrt(baseline)))
    if h == 0:
        raise PowerInputError("treatment: equal to the baseline, there is no effect to detect")

    def power_at(n: float) -> float:
        nc = h * math.sqrt(n / 2)
        crit = _z(1 - alpha / 2)
        return float(special.ndtr(nc - crit) + special.ndtr(-nc - crit))

    return _solve(lambda n: power_at(n) - power, 2.0)


def mde_proportion(
    baseline: float, users_per_arm: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest relative lift of a `baseline` conversion detectable with
    `users_per_arm` (the inverse of `sample_size_proportion`)."""
    _check("baseline", baseline, 0, 1)
    _check("users_per_arm", users_per_arm, 1, 1e12)
    top = (1 - baseline) / baseline - 1e-12

    def gap(lift: float) -> float:
        return (
            sample_size_proportion(baseline, baseline * (1 + lift), alpha=alpha, power=power)
            - users_per_arm
        )

    if gap(top) > 0:
        raise PowerInputError("users_per_arm: too few users to detect any lift of this baseline")
    return float(optimize.brentq(gap, 1e-9, top, xtol=1e-14, rtol=1e-13))


# --- means ---------------------------------------------------------------------------------


def ttest_power(
    effect_size: float, nobs1: float, *, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """Power of Welch's/Student's two-sample t-test for a standardised effect (Cohen's d)
    with `nobs1` in the first arm: statsmodels' `TTestIndPower().power`."""
    nobs2 = nobs1 * ratio
    df = nobs1 + nobs2 - 2
    nobs = 1.0 / (1.0 / nobs1 + 1.0 / nobs2)
    nc = effect_size * math.sqrt(nobs)
    crit_upp = float(special.stdtrit(df, 1 - alpha / 2))
    crit_low = float(special.stdtrit(df, alpha / 2))
    power = float(1 - special.nctdtr(df, nc, crit_upp) + special.nctdtr(df, nc, crit_low))
    if math.isnan(power):  # the noncentral t gives up far in the tail: power is ~1 there
        power = float(special.ndtr(nc - crit_upp) + special.ndtr(crit_low - nc))
    return power


def sample_size_mean(
    effect: float, sd: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """Users per arm to detect an absolute change `effect` in a metric whose per-user standard
    deviation is `sd` (two-sided t-test; statsmodels' `TTestIndPower().solve_power`)."""
    _check("sd", sd, 0, math.inf)
    _check("alpha", alpha, 0, 1)
    _check("power", power, 0, 1)
    if effect == 0 or not math.isfinite(effect):
        raise PowerInputError("effect: give a non-zero change to detect")
    d = abs(effect) / sd
    return _solve(lambda n: ttest_power(d, n, alpha=alpha, ratio=ratio) - power, 2.0)


def mde_mean(
    sd: float, users_per_arm: float, *, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> float:
    """The smallest absolute change detectable with `users_per_arm` (t-test)."""
    _check("sd", sd, 0, math.inf)
    _check("users_per_arm", users_per_arm, 2, 1e12, open_lo=False)

    def gap(e: float) -> float:
        return ttest_power(e, users_per_arm, alpha=alpha, ratio=ratio) - power

    hi = 0.01
    while gap(hi) < 0:
        hi *= 2
    return _increasing_root(gap, 1e-9, hi) * sd


def _increasing_root(fn: Callable[[float], float], lo: float, hi: float) -> float:
    """The x in (0, hi] where `fn` (increasing, `fn(hi)` >= 0) crosses zero. When `fn` is not
    negative even at `lo` (a power already reached by the tiniest effect: a huge number of
    users, or a power asked below alpha), `lo` is moved down towards 0 first; the answer is
    then that small."""
    while fn(lo) >= 0:
        if lo < 1e-300:
            return lo
        lo /= 1e6
    return float(optimize.brentq(fn, lo, hi, xtol=min(1e-14, lo / 10), rtol=1e-13))


def _solve(fn: Callable[[float], float], lo: float) -> float:
    """The n where `fn` (increasing in n) crosses zero; `lo` (the fewest users a test can
    have) when `fn` is not negative there already (an effect so large that any sample
    detects it)."""
    if fn(lo) >= 0:
        return lo
    hi = lo * 2
    while fn(hi) < 0:
        hi *= 2
        if hi > 1e13:
            raise PowerInputError("the effect is too small to detect with any number of users")
    return float(optimize.brentq(fn, lo, hi, xtol=1e-12, rtol=1e-14))


# --- GrowthBook's calculator: relative effects, delta method -------------------------------


def relative_variance(variance: float, mean: float, users_per_arm: float, effect: float) -> float:
    """Variance of the relative effect estimate when the treatment mean is
    mean·(1 + effect) (delta method, same per-user variance in both arms)."""
    mb = mean * (1 + effect)
    return variance / (mean**2 * users_per_arm) + variance * mb**2 / (mean**4 * users_per_arm)


def power_relative(
    mean: float, variance: float, effect: float, users_per_arm: float, *, alpha: float = 0.05
) -> float:
    """Power to detect a relative `effect` (two-sided z-test on the relative lift)."""
    sd = math.sqrt(relative_variance(variance, mean, users_per_arm, effect))
    z = _z(1 - alpha / 2)
    return float(1 - special.ndtr(z - effect / sd) + special.ndtr(-z - effect / sd))


def mde_relative(
    mean: float, variance: float, users_per_arm: float, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest relative lift with `power` (GrowthBook's MDE)."""

    def gap(e: float) -> float:
        return power_relative(mean, variance, e, users_per_arm, alpha=alpha) - power

    if gap(100.0) < 0:
        raise PowerInputError("no lift up to 10,000 % reaches this power with these users")
    return _increasing_root(gap, 1e-9, 100.0)


@dataclass(frozen=True)
class Plan:
    """What the calculator answers for one metric."""

    kind: str
    baseline: float
    sd: float | None
    mde_relative: float
    users_per_arm: float
    arms: int
    total_users: float
    alpha: float
    power: float


def plan(
    kind: str,
    baseline: float,
    mde_relative: float,
    *,
    sd: float | None = None,
    arms: int = 2,
    alpha: float = 0.05,
    power: float = 0.8,
) -> Plan:
    """Users needed to detect a relative lift of `mde_relative` on a proportion (`baseline`
    conversion) or a mean (`baseline` mean and per-user `sd`), for `arms` equal arms."""
    if arms < 2 or arms > 20:
        raise PowerInputError(f"arms: {arms} is not between 2 and 20")
    _check("mde_relative", mde_relative, 0, 100)
    if kind == "proportion":
        if not 0 < baseline < 1:
            raise PowerInputError(
                f"baseline: a conversion rate is between 0 and 1, not {baseline:g} (10 % is 0.1)"
            )
        treatment = baseline * (1 + mde_relative)
        if treatment >= 1:
            raise PowerInputError(
                f"mde: a lift of {mde_relative:.0%} takes a {baseline:.1%} conversion past 100%"
            )
        n = sample_size_proportion(baseline, treatment, alpha=alpha, power=power)
    elif kind == "mean":
        if sd is None:
            raise PowerInputError("sd: a mean metric needs its per-user standard deviation")
        _check("baseline", baseline, -math.inf, math.inf)
        if baseline == 0:
            raise PowerInputError("baseline: a relative lift of a zero mean is undefined")
        n = sample_size_mean(abs(baseline) * mde_relative, sd, alpha=alpha, power=power)
    else:
        raise PowerInputError(f"kind: '{kind}' is not proportion or mean")
    return Plan(kind, baseline, sd, mde_relative, n, arms, n * arms, alpha, power)
