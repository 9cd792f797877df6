"""GrowthBook's cross-SDK conformance cases (`growthbook-sdk-cases.json`, MIT) against
productops' evaluation: hashing, bucket ranges, choosing variations, namespaces, equal
weights, query-string overrides, conditions, feature evaluation, experiment runs and sticky
bucketing. The counts are printed by `test_case_counts` (run with -s)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from productops.experiments.flags import conditions as cond
from productops.experiments.flags import evaluate as ev
from tests.conftest import SHARED_DATA

CASES_FILE = SHARED_DATA / "experiments" / "growthbook-sdk-cases.json"
# Sections that are about a browser or a feature productops does not offer.
NOT_APPLICABLE = {
    "urlRedirect": "redirects a browser's page; productops serves flags, not pages",
    "contextualBandit": "contextual bandits are not part of productops' experiments",
    "decrypt": "productops serves plain payloads over HTTPS to keys scoped to one environment",
}


ABSENT = f"{CASES_FILE} is absent (a fresh clone has no shared/ folder)"


def _cases() -> dict[str, Any]:
    if not CASES_FILE.exists():
        pytest.skip(ABSENT)
    return json.loads(CASES_FILE.read_text())


def _bandit(case: Any) -> bool:
    """A feature case about contextual bandits (not offered by productops)."""
    return "contextualVariations" in json.dumps(case) or "contextualBandit" in json.dumps(case)


def _ids(section: str) -> list[Any]:
    if not CASES_FILE.exists():
        return [pytest.param(None, id="no-cases", marks=pytest.mark.skip(reason=ABSENT))]
    data = json.loads(CASES_FILE.read_text())[section]
    return [
        pytest.param(c, id=f"{i}-{str(c[0])[:50]}") for i, c in enumerate(data) if not _bandit(c)
    ]


def _context(raw: dict[str, Any], sticky: dict[str, Any] | None = None) -> ev.Context:
    return ev.Context(
        attributes=raw.get("attributes") or {},
        features=raw.get("features") or {},
        saved_groups=raw.get("savedGroups") or {},
        forced_variations=raw.get("forcedVariations") or {},
        url=raw.get("url") or "",
        enabled=raw.get("enabled", True),
        qa_mode=raw.get("qaMode", False),
        sticky=sticky,
    )


@pytest.mark.parametrize("case", _ids("hash"))
def test_hash(case: Any) -> None:
    seed, value, version, expected = case
    assert ev.gb_hash(seed, value, version) == expected


@pytest.mark.parametrize("case", _ids("getBucketRange"))
def test_bucket_ranges(case: Any) -> None:
    _, (n, coverage, weights), expected = case
    got = ev.bucket_ranges(n, coverage, weights)
    assert len(got) == len(expected)
    for (a, b), (c, d) in zip(got, expected, strict=True):
        assert math.isclose(a, c, abs_tol=1e-9) and math.isclose(b, d, abs_tol=1e-9)


@pytest.mark.parametrize("case", _ids("chooseVariation"))
def test_choose_variation(case: Any) -> None:
    _, n, ranges, expected = case
    assert ev.choose_variation(n, ranges) == expected


@pytest.mark.parametrize("case", _ids("inNamespace"))
def test_in_namespace(case: Any) -> None:
    _, user, namespace, expected = case
    assert ev.in_namespace(user, namespace) == expected


@pytest.mark.parametrize("case", _ids("getEqualWeights"))
def test_equal_weights(case: Any) -> None:
    n, expected = case
    assert ev.equal_weights(n) == pytest.approx(expected)


@pytest.mark.parametrize("case", _ids("getQueryStringOverride"))
def test_query_string_override(case: Any) -> None:
    _, key, url, n, expected = case
    assert ev.query_string_override(key, url, n) == expected


@pytest.mark.parametrize("case", _ids("evalCondition"))
def test_conditions(case: Any) -> None:
    _, condition, attributes, expected, *rest = case
    groups = rest[0] if rest else None
    assert cond.evaluate_condition(attributes, condition, groups) == expected


@pytest.mark.parametrize("case", _ids("feature"))
def test_features(case: Any) -> None:
    _, raw, key, expected = case
    got = ev.evaluate_feature(_context(raw), key).as_dict()
    assert got == expected


@pytest.mark.parametrize("case", _ids("run"))
def test_experiment_runs(case: Any) -> None:
    _, raw, experiment, value, in_experiment, hash_used = case
    result = ev.run_experiment(_context(raw), experiment)
    assert (result.value, result.in_experiment, result.hash_used) == (
        value,
        in_experiment,
        hash_used,
    )


@pytest.mark.parametrize("case", _ids("stickyBucket"))
def test_sticky_buckets(case: Any) -> None:
    _, raw, docs, key, expected, expected_docs = case
    # A sticky-bucket service hands the SDK the documents of this user's attributes only.
    attributes = raw.get("attributes") or {}
    sticky = {
        f"{d['attributeName']}||{d['attributeValue']}": d
        for d in docs
        if d["attributeName"] in attributes
        and cond.js_string(attributes[d["attributeName"]]) == d["attributeValue"]
    }
    sticky.update(raw.get("stickyBucketAssignmentDocs") or {})
    ctx = _context(raw, sticky)
    result = ev.evaluate_feature(ctx, key).experiment_result
    assert (result.as_dict() if result else None) == expected
    assert sticky == expected_docs


def test_case_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Every section of the file is either run above or named as not applicable."""
    data = _cases()
    run = {
        "hash",
        "getBucketRange",
        "chooseVariation",
        "inNamespace",
        "getEqualWeights",
        "getQueryStringOverride",
        "evalCondition",
        "feature",
        "run",
        "stickyBucket",
    }
    sections = {k for k, v in data.items() if isinstance(v, list)}
    assert sections == run | set(NOT_APPLICABLE), sections ^ (run | set(NOT_APPLICABLE))
    bandit = sum(_bandit(c) for s in run for c in data[s])
    with capsys.disabled():
        total = sum(len(data[s]) for s in run) - bandit
        print(  # noqa: T201
            f"\nGrowthBook cases run: {total} in {len(run)} sections (+{bandit} contextual-bandit "
            "feature cases not applicable); sections not applicable: "
            + ", ".join(f"{s} ({len(data[s])})" for s in NOT_APPLICABLE)
        )


@pytest.mark.parametrize("case", _ids("feature"))
def test_compiled_evaluation_gives_the_same_answers(case: Any) -> None:
    """The fast in-process path answers every feature case as the reference does (twice:
    the second answer comes from the rule's memory of recent users)."""
    from productops.experiments.flags.compiled import CompiledFeatures

    _, raw, key, expected = case
    if (
        any(raw.get(k) for k in ("forcedVariations", "url", "qaMode"))
        or raw.get("enabled") is False
    ):
        pytest.skip("a context knob the compiled path hands to the reference path")
    flags = CompiledFeatures(raw.get("features") or {}, raw.get("savedGroups"))
    for _ in range(2):
        assert flags.evaluate(key, raw.get("attributes") or {}).as_dict() == expected


def test_compiled_and_reference_agree_on_many_users() -> None:
    from productops.experiments.flags.compiled import CompiledFeatures

    features = {
        "rollout": {
            "defaultValue": False,
            "rules": [{"force": True, "coverage": 0.3, "hashVersion": 2}],
        },
        "v1": {"defaultValue": 0, "rules": [{"force": 1, "coverage": 0.5}]},
        "exp": {
            "defaultValue": "a",
            "rules": [
                {
                    "condition": {"country": {"$in": ["US", "CA"]}},
                    "variations": ["a", "b", "c"],
                    "weights": [0.5, 0.25, 0.25],
                    "hashVersion": 2,
                    "key": "e1",
                },
                {"condition": {"plan": "pro"}, "force": "pro"},
            ],
        },
    }
    flags = CompiledFeatures(features)
    for i in range(3000):
        attrs = {
            "id": f"u{i}" if i % 7 else i,
            "country": ["US", "DE", "CA"][i % 3],
            "plan": ["pro", "free"][i % 2],
        }
        for key in features:
            ref = ev.evaluate_feature(ev.Context(attributes=attrs, features=features), key)
            assert flags.evaluate(key, attrs).as_dict() == ref.as_dict(), (key, attrs)
