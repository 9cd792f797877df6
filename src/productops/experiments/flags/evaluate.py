"""Feature and experiment evaluation as GrowthBook's SDK specification defines it: FNV-1a
hashing (v1 and v2), bucket ranges, namespaces, filters, coverage, forced rules, experiment
rules, prerequisites and sticky bucketing. The same user gets the same variation here, in
GrowthBook's JavaScript, Python or Go SDK, and in any SDK reading productops' features
endpoint (tests/experiments/test_growthbook_cases.py runs GrowthBook's own cases).

Everything works on the SDK payload (`{"features": {key: {"defaultValue": …, "rules":
[…]}}}`) so what productops evaluates in-process is exactly what it serves.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from productops.experiments.flags.conditions import (
    evaluate_condition,
    js_string,
    js_stringify,
    js_truthy,
)

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK = 0xFFFFFFFF


def fnv1a32(text: str, state: int = _FNV_OFFSET) -> int:
    """FNV-1a over the UTF-16 code units of `text` (what JavaScript's charCodeAt gives)."""
    if text.isascii():
        for c in text.encode():
            state = ((state ^ c) * _FNV_PRIME) & _MASK
        return state
    data = text.encode("utf-16-le")
    for i in range(0, len(data), 2):
        state = ((state ^ (data[i] | data[i + 1] << 8)) * _FNV_PRIME) & _MASK
    return state


def gb_hash(seed: str, value: Any, version: int) -> float | None:
    """GrowthBook's hash of a user into [0, 1): v2 hashes twice (then 4 decimals), v1 once
    (3 decimals); any other version gives None (not hashable)."""
    text = js_string(value)
    if version == 2:
        return (fnv1a32(str(fnv1a32(text, fnv1a32(seed)))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(seed, fnv1a32(text)) % 1000) / 1000
    return None


def equal_weights(n: int) -> list[float]:
    return [1 / n] * n if n > 0 else []


def bucket_ranges(
    n: int, coverage: float | None = 1, weights: list[float] | None = None
) -> list[tuple[float, float]]:
    """Each variation's [start, end) slice of the hash space."""
    coverage = 1.0 if coverage is None else min(max(coverage, 0.0), 1.0)
    equal = equal_weights(n)
    w = weights or equal
    if len(w) != n:
        w = equal
    total = sum(w)
    if total < 0.99 or total > 1.01:
        w = equal
    out: list[tuple[float, float]] = []
    cumulative = 0.0
    for weight in w:
        start = cumulative
        cumulative += weight
        out.append((start, start + coverage * weight))
    return out


def in_range(n: float, r: Any) -> bool:
    return bool(r[0] <= n < r[1])


def choose_variation(n: float, ranges: list[Any]) -> int:
    for i, r in enumerate(ranges):
        if in_range(n, r):
            return i
    return -1


def in_namespace(hash_value: str, namespace: list[Any]) -> bool:
    n = gb_hash("__" + str(namespace[0]), hash_value, 1)
    return n is not None and namespace[1] <= n < namespace[2]


def query_string_override(key: str, url: str, variations: int) -> int | None:
    """`?my-test=1` forces variation 1 of experiment `my-test` (for QA)."""
    if not url or "?" not in url:
        return None
    search = url.split("?", 1)[1].split("#", 1)[0]
    if not search:
        return None
    for pair in search.split("&"):
        k, _, v = pair.partition("=")
        if k == key:
            try:
                number = int(v.strip().split(".")[0]) if v.strip() else None
            except ValueError:
                number = None
            if number is not None and 0 <= number < variations:
                return number
            return None
    return None


# --- results ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ExperimentResult:
    """Which variation a user got, and why (GrowthBook's `Result`)."""

    value: Any
    variation_id: int
    in_experiment: bool
    hash_used: bool
    hash_attribute: str
    hash_value: Any
    feature_id: str | None
    key: str
    sticky_bucket_used: bool = False
    bucket: float | None = None
    name: str | None = None
    passthrough: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "variationId": self.variation_id,
            "inExperiment": self.in_experiment,
            "hashUsed": self.hash_used,
            "hashAttribute": self.hash_attribute,
            "hashValue": self.hash_value,
            "featureId": self.feature_id,
            "key": self.key,
            "stickyBucketUsed": self.sticky_bucket_used,
        }
        if self.bucket is not None:
            out["bucket"] = self.bucket
        if self.name is not None:
            out["name"] = self.name
        if self.passthrough is not None:
            out["passthrough"] = self.passthrough
        return out


@dataclass(slots=True)
class FeatureResult:
    """A flag's value for one user, with where it came from: `source` is one of
    unknownFeature, defaultValue, force, experiment, prerequisite, cyclicPrerequisite."""

    value: Any
    source: str
    rule_id: str = ""
    experiment: dict[str, Any] | None = None
    experiment_result: ExperimentResult | None = None

    @property
    def on(self) -> bool:
        return js_truthy(self.value)

    @property
    def off(self) -> bool:
        return not js_truthy(self.value)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value,
            "on": self.on,
            "off": self.off,
            "source": self.source,
            "ruleId": self.rule_id,
        }
        if self.experiment is not None:
            out["experiment"] = self.experiment
        if self.experiment_result is not None:
            out["experimentResult"] = self.experiment_result.as_dict()
        return out


@dataclass
class Context:
    """What one evaluation sees: the user's attributes and the SDK payload's features, plus
    the knobs GrowthBook's SDKs have. `sticky` holds sticky-bucket documents (keyed
    `attribute||value`); when it is not None, sticky bucketing is on and assignments are
    written into it. `tracked` collects the experiments the user was put into."""

    attributes: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, Any] = field(default_factory=dict)
    saved_groups: Mapping[str, list[Any]] = field(default_factory=dict)
    forced_variations: Mapping[str, int] = field(default_factory=dict)
    url: str = ""
    enabled: bool = True
    qa_mode: bool = False
    sticky: MutableMapping[str, dict[str, Any]] | None = None
    tracked: list[tuple[dict[str, Any], ExperimentResult]] = field(default_factory=list)


def _hash_attribute(
    ctx: Context, attribute: str | None, fallback: str | None = None
) -> tuple[str, Any]:
    name = attribute or "id"
    value = ctx.attributes.get(name)
    if not js_truthy(value) and fallback:
        alt = ctx.attributes.get(fallback)
        if js_truthy(alt):
            return fallback, alt
    return name, value if js_truthy(value) else ""


def _filtered_out(ctx: Context, filters: list[Mapping[str, Any]]) -> bool:
    for flt in filters:
        _, value = _hash_attribute(ctx, flt.get("attribute"))
        if not js_truthy(value):
            return True
        n = gb_hash(str(flt.get("seed", "")), value, int(flt.get("hashVersion") or 2))
        if n is None or not any(in_range(n, r) for r in flt.get("ranges", [])):
            return True
    return False


def _in_rollout(
    ctx: Context,
    seed: str,
    attribute: str | None,
    fallback: str | None,
    range_: Any,
    coverage: float | None,
    version: int | None,
) -> bool:
    if range_ is None and coverage is None:
        return True
    if range_ is None and coverage == 0:
        return False
    _, value = _hash_attribute(ctx, attribute, fallback)
    if not js_truthy(value):
        return False
    n = gb_hash(seed, value, version or 1)
    if n is None:
        return False
    if range_ is not None:
        return in_range(n, range_)
    return coverage is None or n <= coverage


# --- sticky buckets --------------------------------------------------------------------------


def _sticky_key(experiment_key: str, bucket_version: int) -> str:
    return f"{experiment_key}__{bucket_version}"


def _sticky_assignments(
    ctx: Context, attribute: str | None, fallback: str | None
) -> dict[str, Any]:
    docs = ctx.sticky or {}
    name, value = _hash_attribute(ctx, attribute)
    out: dict[str, Any] = {}
    if fallback:
        fname, fvalue = _hash_attribute(ctx, fallback)
        if js_truthy(fvalue):
            doc = docs.get(f"{fname}||{js_string(fvalue)}")
            if doc:
                out.update(doc.get("assignments") or {})
    doc = docs.get(f"{name}||{js_string(value)}")
    if doc:
        out.update(doc.get("assignments") or {})
    return out


def _sticky_variation(ctx: Context, exp: Mapping[str, Any]) -> tuple[int, bool]:
    """(variation from a sticky bucket or -1, whether an old bucket version blocks the user)."""
    key = exp["key"]
    assignments = _sticky_assignments(ctx, exp.get("hashAttribute"), exp.get("fallbackAttribute"))
    for version in range(int(exp.get("minBucketVersion") or 0)):
        if _sticky_key(key, version) in assignments:
            return -1, True
    wanted = assignments.get(_sticky_key(key, int(exp.get("bucketVersion") or 0)))
    if wanted is None:
        return -1, False
    for i, meta in enumerate(exp.get("meta") or []):
        if meta.get("key") == wanted:
            return i, False
    return -1, False


def _save_sticky(ctx: Context, attribute: str, value: Any, key: str, variation_key: str) -> None:
    assert ctx.sticky is not None
    doc_key = f"{attribute}||{js_string(value)}"
    existing = dict((ctx.sticky.get(doc_key) or {}).get("assignments") or {})
    merged = {**existing, key: variation_key}
    if js_stringify(existing) != js_stringify(merged):
        ctx.sticky[doc_key] = {
            "attributeName": attribute,
            "attributeValue": js_string(value),
            "assignments": merged,
        }


# --- experiments -----------------------------------------------------------------------------


def _result(
    ctx: Context,
    exp: Mapping[str, Any],
    index: int,
    hash_used: bool,
    feature_id: str | None,
    bucket: float | None = None,
    sticky_used: bool = False,
) -> ExperimentResult:
    variations = exp["variations"]
    in_experiment = True
    if index < 0 or index >= len(variations):
        index, in_experiment = 0, False
    sticky_on = ctx.sticky is not None and not exp.get("disableStickyBucketing")
    attribute, value = _hash_attribute(
        ctx, exp.get("hashAttribute"), exp.get("fallbackAttribute") if sticky_on else None
    )
    metas = exp.get("meta") or []
    meta = metas[index] if index < len(metas) else {}
    return ExperimentResult(
        value=variations[index] if variations else None,
        variation_id=index,
        in_experiment=in_experiment,
        hash_used=hash_used,
        hash_attribute=attribute,
        hash_value=value,
        feature_id=feature_id,
        key=str(meta.get("key")) if meta.get("key") is not None else str(index),
        sticky_bucket_used=sticky_used,
        bucket=bucket,
        name=meta.get("name"),
        passthrough=meta.get("passthrough"),
    )


def _prerequisites_pass(
    ctx: Context, parents: list[Mapping[str, Any]], stack: tuple[str, ...]
) -> str | None:
    """None when every prerequisite holds; else "fail", "gate" or "cyclic"."""
    for parent in parents:
        result = evaluate_feature(ctx, str(parent.get("id")), _stack=stack)
        if result.source == "cyclicPrerequisite":
            return "cyclic"
        if not evaluate_condition(
            {"value": result.value}, parent.get("condition") or {}, ctx.saved_groups
        ):
            return "gate" if parent.get("gate") else "fail"
    return None


def run_experiment(
    ctx: Context,
    exp: Mapping[str, Any],
    feature_id: str | None = None,
    _stack: tuple[str, ...] = (),
) -> ExperimentResult:
    """Put the user into `exp` (GrowthBook's `run`): every check of the specification in its
    order, then the hash, then the bucket."""
    key = exp["key"]
    variations = exp.get("variations") or []
    if len(variations) < 2 or not ctx.enabled:
        return _result(ctx, exp, -1, False, feature_id)
    forced = query_string_override(key, ctx.url, len(variations))
    if forced is not None:
        return _result(ctx, exp, forced, False, feature_id)
    if key in ctx.forced_variations:
        return _result(ctx, exp, int(ctx.forced_variations[key]), False, feature_id)
    if exp.get("status") == "draft" or exp.get("active") is False:
        return _result(ctx, exp, -1, False, feature_id)
    sticky_on = ctx.sticky is not None and not exp.get("disableStickyBucketing")
    attribute, value = _hash_attribute(
        ctx, exp.get("hashAttribute"), exp.get("fallbackAttribute") if sticky_on else None
    )
    if not js_truthy(value):
        return _result(ctx, exp, -1, False, feature_id)
    assigned, blocked = (-1, False)
    if sticky_on:
        assigned, blocked = _sticky_variation(ctx, exp)
    found_sticky = assigned >= 0
    if not found_sticky:
        filters = exp.get("filters")
        if filters:
            if _filtered_out(ctx, filters):
                return _result(ctx, exp, -1, False, feature_id)
        elif exp.get("namespace") and not in_namespace(js_string(value), exp["namespace"]):
            return _result(ctx, exp, -1, False, feature_id)
        condition = exp.get("condition")
        if condition and not evaluate_condition(ctx.attributes, condition, ctx.saved_groups):
            return _result(ctx, exp, -1, False, feature_id)
        parents = exp.get("parentConditions")
        if parents and _prerequisites_pass(ctx, parents, _stack) is not None:
            return _result(ctx, exp, -1, False, feature_id)
    n = gb_hash(str(exp.get("seed") or key), value, int(exp.get("hashVersion") or 1))
    if n is None:
        return _result(ctx, exp, -1, False, feature_id)
    if not found_sticky:
        ranges = exp.get("ranges") or bucket_ranges(
            len(variations), exp.get("coverage", 1), exp.get("weights")
        )
        assigned = choose_variation(n, ranges)
    if blocked:
        return _result(ctx, exp, -1, False, feature_id, sticky_used=True)
    if assigned < 0:
        return _result(ctx, exp, -1, False, feature_id)
    if "force" in exp:
        force = exp["force"]
        return _result(ctx, exp, -1 if force is None else int(force), False, feature_id)
    if ctx.qa_mode or exp.get("status") == "stopped":
        return _result(ctx, exp, -1, False, feature_id)
    result = _result(ctx, exp, assigned, True, feature_id, n, found_sticky)
    if sticky_on:
        _save_sticky(
            ctx,
            attribute,
            value,
            _sticky_key(key, int(exp.get("bucketVersion") or 0)),
            result.key,
        )
    ctx.tracked.append((dict(exp), result))
    return result


_EXPERIMENT_KEYS = (
    "coverage",
    "weights",
    "hashAttribute",
    "fallbackAttribute",
    "disableStickyBucketing",
    "bucketVersion",
    "minBucketVersion",
    "namespace",
    "meta",
    "ranges",
    "name",
    "phase",
    "seed",
    "hashVersion",
    "filters",
    "condition",
)
_PRESENT_IF_SET = ("bucketVersion", "minBucketVersion", "coverage")


def experiment_of_rule(feature_id: str, rule: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment an experiment rule runs (the keys the JavaScript SDK copies)."""
    exp: dict[str, Any] = {"variations": rule["variations"], "key": rule.get("key") or feature_id}
    for k in _EXPERIMENT_KEYS:
        if k in _PRESENT_IF_SET:
            if k in rule and rule[k] is not None:
                exp[k] = rule[k]
        elif js_truthy(rule.get(k)):
            exp[k] = rule[k]
    return exp


def evaluate_feature(ctx: Context, key: str, _stack: tuple[str, ...] = ()) -> FeatureResult:
    """The value of feature `key` for the context's user (GrowthBook's evalFeature)."""
    if key in _stack:
        return FeatureResult(None, "cyclicPrerequisite")
    feature = ctx.features.get(key)
    if feature is None:
        return FeatureResult(None, "unknownFeature")
    stack = (*_stack, key)
    for rule in feature.get("rules") or ():
        parents = rule.get("parentConditions")
        if parents:
            verdict = _prerequisites_pass(ctx, parents, stack)
            if verdict == "cyclic":
                return FeatureResult(None, "cyclicPrerequisite")
            if verdict == "gate":
                return FeatureResult(None, "prerequisite")
            if verdict == "fail":
                continue
        filters = rule.get("filters")
        if filters and _filtered_out(ctx, filters):
            continue
        if "force" in rule:
            condition = rule.get("condition")
            if condition and not evaluate_condition(ctx.attributes, condition, ctx.saved_groups):
                continue
            sticky_on = ctx.sticky is not None and not rule.get("disableStickyBucketing")
            if not _in_rollout(
                ctx,
                str(rule.get("seed") or key),
                rule.get("hashAttribute"),
                rule.get("fallbackAttribute") if sticky_on else None,
                rule.get("range"),
                rule.get("coverage"),
                rule.get("hashVersion"),
            ):
                continue
            for track in rule.get("tracks") or ():
                ctx.tracked.append((track.get("experiment", {}), track.get("result")))
            return FeatureResult(rule["force"], "force", str(rule.get("id") or ""))
        if not rule.get("variations"):
            continue
        exp = experiment_of_rule(key, rule)
        result = run_experiment(ctx, exp, key, stack)
        if result.in_experiment and not result.passthrough:
            return FeatureResult(result.value, "experiment", str(rule.get("id") or ""), exp, result)
    default = feature.get("defaultValue")
    return FeatureResult(default, "defaultValue")
