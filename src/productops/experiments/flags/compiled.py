"""Fast in-process evaluation: an SDK payload compiled once into plain closures, so that
asking for a flag costs a dictionary lookup, the rule's checks and at most two FNV hashes.

Same answers as `evaluate.evaluate_feature` (the tests run GrowthBook's cases through both);
contexts that need the rarer knobs (sticky bucketing, forced variations, QA mode, a URL)
go through the reference path.

    flags = CompiledFeatures(payload["features"])
    flags.evaluate("new-checkout", {"id": "user-1", "country": "US"}).value
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from productops.experiments.flags.conditions import (
    evaluate_condition,
    is_operator_object,
    js_string,
    js_truthy,
)
from productops.experiments.flags.evaluate import (
    Context,
    ExperimentResult,
    FeatureResult,
    bucket_ranges,
    evaluate_feature,
    experiment_of_rule,
    fnv1a32,
)

Attributes = Mapping[str, Any]
Check = Callable[[Attributes], bool]
_PRIME = 0x01000193
CACHE_SIZE = 50_000  # users whose hash each rule remembers
_MASK = 0xFFFFFFFF


def _compile_condition(condition: Mapping[str, Any], groups: Mapping[str, list[Any]]) -> Check:
    """A closure with the condition's answer; common shapes get a direct test, the rest the
    reference interpreter."""

    def interpreted(a: Attributes) -> bool:
        return evaluate_condition(a, condition, groups)

    checks: list[Check] = []
    for key, value in condition.items():
        if key.startswith("$") or "." in key:
            return interpreted
        if isinstance(value, str):
            checks.append(_equals_text(key, value))
        elif (
            is_operator_object(value)
            and len(value) == 1
            and ("$in" in value or "$nin" in value)
            and isinstance(next(iter(value.values())), list)
            and all(isinstance(v, str) for v in next(iter(value.values())))
        ):
            checks.append(_in_texts(key, value))
        else:
            return interpreted
    if len(checks) == 1:
        return checks[0]
    return lambda a: all(check(a) for check in checks)


def _equals_text(key: str, wanted: str) -> Check:
    def check(a: Attributes) -> bool:
        v = a.get(key)
        return v == wanted if type(v) is str else js_string(v) == wanted

    return check


def _in_texts(key: str, value: Mapping[str, Any]) -> Check:
    negate = "$nin" in value
    pool = frozenset(value["$nin" if negate else "$in"])
    condition = {key: dict(value)}

    def check(a: Attributes) -> bool:
        v = a.get(key)
        if type(v) is str:
            return (v in pool) != negate
        return evaluate_condition(a, condition, {})

    return check


def _hash_state(seed: str) -> int:
    return fnv1a32(seed)


def _hash_v2(state: int, text: str) -> float:
    """GrowthBook's hash v2 from the seed's FNV state: FNV over the value, then FNV over the
    decimal text of that (constants inline: this loop is the cost of a rollout)."""
    if text.isascii():
        for c in text.encode():
            state = ((state ^ c) * 16777619) & 4294967295
    else:
        state = fnv1a32(text, state)
    h = 2166136261
    for c in str(state).encode():
        h = ((h ^ c) * 16777619) & 4294967295
    return (h % 10000) / 10000


class _Rule:
    """One rule, ready to run: 'force' with an optional rollout, or an experiment."""

    __slots__ = (
        "attribute",
        "bucket_state",
        "cache",
        "condition",
        "coverage",
        "experiment",
        "force",
        "is_force",
        "keys",
        "names",
        "passthrough",
        "range",
        "ranges",
        "rule_id",
        "seed",
        "simple",
        "variations",
        "version",
    )

    def __init__(self, feature: str, rule: Mapping[str, Any], groups: Mapping[str, list[Any]]):
        self.rule_id = str(rule.get("id") or "")
        condition = rule.get("condition")
        self.condition: Check | None = _compile_condition(condition, groups) if condition else None
        self.attribute = rule.get("hashAttribute") or "id"
        self.seed = str(rule.get("seed") or rule.get("key") or feature)
        self.version = int(rule.get("hashVersion") or 1)
        self.bucket_state = _hash_state(self.seed)
        self.cache: dict[Any, float | None] = {}
        # Shapes the fast path does not take go to the reference evaluation.
        self.simple = not any(
            rule.get(k) for k in ("parentConditions", "filters", "tracks", "namespace")
        ) and not rule.get("fallbackAttribute")
        self.is_force = "force" in rule
        self.force = rule.get("force")
        self.range = rule.get("range")
        self.coverage = rule.get("coverage")
        self.experiment: dict[str, Any] | None = None
        self.variations: list[Any] = []
        self.ranges: list[Any] = []
        self.keys: list[str] = []
        self.names: list[Any] = []
        self.passthrough: list[Any] = []
        if not self.is_force and rule.get("variations"):
            exp = experiment_of_rule(feature, rule)
            self.experiment = exp
            self.variations = list(exp["variations"])
            self.seed = str(exp.get("seed") or exp["key"])
            self.bucket_state = _hash_state(self.seed)
            self.ranges = exp.get("ranges") or bucket_ranges(
                len(self.variations), exp.get("coverage", 1), exp.get("weights")
            )
            metas = exp.get("meta") or []
            for i in range(len(self.variations)):
                meta = metas[i] if i < len(metas) else {}
                self.keys.append(str(meta["key"]) if meta.get("key") is not None else str(i))
                self.names.append(meta.get("name"))
                self.passthrough.append(meta.get("passthrough"))
            if len(self.variations) < 2 or exp.get("active") is False:
                self.simple = False

    def bucket(self, value: Any) -> float | None:
        """The user's hash for this rule; remembered for the users seen most recently (the
        same users come back request after request), at most CACHE_SIZE of them."""
        kind = type(value)
        if kind is not str and kind is not int:  # True == 1 as a key; js_string differs
            return self._bucket(value)
        n = self.cache.get(value, -1.0)
        if n != -1.0:
            return n
        n = self._bucket(value)
        if len(self.cache) >= CACHE_SIZE:
            self.cache.clear()
        self.cache[value] = n
        return n

    def _bucket(self, value: Any) -> float | None:
        text = value if type(value) is str else js_string(value)
        if self.version == 2:
            return _hash_v2(self.bucket_state, text)
        if self.version == 1:
            state = fnv1a32(text)
            for c in self.seed.encode("utf-8") if self.seed.isascii() else ():
                state = ((state ^ c) * _PRIME) & _MASK
            if not self.seed.isascii():
                state = fnv1a32(self.seed, fnv1a32(text))
            return (state % 1000) / 1000
        return None


class CompiledFeatures:
    """An SDK payload's features, compiled for evaluation in this process."""

    def __init__(
        self, features: Mapping[str, Any], saved_groups: Mapping[str, list[Any]] | None = None
    ) -> None:
        self.features = dict(features)
        self.saved_groups = dict(saved_groups or {})
        self._compiled: dict[str, tuple[Any, list[_Rule], bool]] = {}
        for key, feature in self.features.items():
            rules = [_Rule(key, r, self.saved_groups) for r in feature.get("rules") or ()]
            self._compiled[key] = (
                feature.get("defaultValue"),
                rules,
                all(r.simple for r in rules),
            )

    def context(self, attributes: Attributes, **knobs: Any) -> Context:
        return Context(
            attributes=attributes, features=self.features, saved_groups=self.saved_groups, **knobs
        )

    def evaluate(self, key: str, attributes: Attributes) -> FeatureResult:
        """Feature `key` for a user with `attributes` (GrowthBook's evalFeature)."""
        compiled = self._compiled.get(key)
        if compiled is None:
            return FeatureResult(None, "unknownFeature")
        default, rules, simple = compiled
        if not simple:
            return evaluate_feature(self.context(attributes), key)
        for rule in rules:
            if rule.condition is not None and not rule.condition(attributes):
                continue
            if rule.is_force:
                if rule.range is not None or rule.coverage is not None:
                    if rule.range is None and rule.coverage == 0:
                        continue
                    value = attributes.get(rule.attribute)
                    if not js_truthy(value):
                        continue
                    n = rule.bucket(value)
                    if n is None:
                        continue
                    if rule.range is not None:
                        if not rule.range[0] <= n < rule.range[1]:
                            continue
                    elif rule.coverage is not None and n > rule.coverage:
                        continue
                return FeatureResult(rule.force, "force", rule.rule_id)
            if rule.experiment is None:
                continue
            value = attributes.get(rule.attribute)
            if not js_truthy(value):
                continue
            n = rule.bucket(value)
            if n is None:
                continue
            assigned = -1
            for i, (lo, hi) in enumerate(rule.ranges):
                if lo <= n < hi:
                    assigned = i
                    break
            if assigned < 0 or rule.passthrough[assigned]:
                continue
            result = ExperimentResult(
                value=rule.variations[assigned],
                variation_id=assigned,
                in_experiment=True,
                hash_used=True,
                hash_attribute=rule.attribute,
                hash_value=value,
                feature_id=key,
                key=rule.keys[assigned],
                bucket=n,
                name=rule.names[assigned],
            )
            return FeatureResult(result.value, "experiment", rule.rule_id, rule.experiment, result)
        return FeatureResult(default, "defaultValue")

    def value(self, key: str, attributes: Attributes, default: Any = None) -> Any:
        """Just the value (`default` for an unknown feature or a null value)."""
        result = self.evaluate(key, attributes)
        return default if result.value is None else result.value
