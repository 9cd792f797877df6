"""Flags keep their promises: typed values, rules per environment checked at save, kill
switches, prerequisites, namespaces, scheduled changes, a stale-flag report, and every change
in the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from productops.core.clock import utcnow
from productops.core.db import transaction
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.models import AuditEvent
from productops.core.workspace import Workspace
from productops.experiments.flags import service as flags
from productops.experiments.flags.compiled import CompiledFeatures
from productops.experiments.flags.evaluate import Context, evaluate_feature
from productops.experiments.flags.rules import RuleError
from productops.experiments.sdk import service as sdk


def _flag(
    ws: Workspace,
    key: str = "new-checkout",
    value_type: str = "boolean",
    default: Any = False,
    **kw: Any,
) -> int:
    with transaction(ws.sessions) as s:
        return flags.create_flag(s, key, value_type, default, "test", **kw).id


def _served(ws: Workspace, key: str, attributes: dict[str, Any], env: str = "production") -> Any:
    with ws.sessions() as s:
        payload = sdk.payload(s, env)
    return evaluate_feature(Context(attributes=attributes, features=payload["features"]), key)


def test_flags_of_every_type_serve_their_default(workspace: Workspace) -> None:
    _flag(workspace, "on-off", "boolean", False)
    _flag(workspace, "headline", "string", "Hello")
    _flag(workspace, "max-items", "number", 10)
    _flag(workspace, "layout", "json", {"columns": 2, "cards": ["a", "b"]})
    assert _served(workspace, "on-off", {"id": "1"}).value is False
    assert _served(workspace, "headline", {"id": "1"}).value == "Hello"
    assert _served(workspace, "max-items", {"id": "1"}).value == 10
    assert _served(workspace, "layout", {"id": "1"}).value == {"columns": 2, "cards": ["a", "b"]}


def test_a_default_of_the_wrong_type_is_refused(workspace: Workspace) -> None:
    with (
        pytest.raises(InvalidInput, match="default_value: 'yes' is not a boolean"),
        transaction(workspace.sessions) as s,
    ):
        flags.create_flag(s, "x", "boolean", "yes", "test")
    with pytest.raises(InvalidInput, match="flag key"), transaction(workspace.sessions) as s:
        flags.create_flag(s, "bad key!", "boolean", False, "test")
    _flag(workspace, "dup")
    with pytest.raises(Conflict), transaction(workspace.sessions) as s:
        flags.create_flag(s, "dup", "boolean", False, "test")


def test_targeting_rollout_and_experiment_rules_per_environment(workspace: Workspace) -> None:
    fid = _flag(workspace, "checkout", "string", "old")
    rules = [
        {"type": "force", "condition": {"email": {"$regex": "@acme\\.com$"}}, "value": "staff"},
        {"type": "force", "value": "new", "coverage": 0.25},
        {
            "type": "experiment",
            "experiment_key": "checkout-test",
            "variations": [{"value": "old"}, {"value": "b"}],
            "weights": [0.5, 0.5],
        },
    ]
    with transaction(workspace.sessions) as s:
        flags.set_rules(s, fid, "staging", rules, "test")
    assert (
        _served(workspace, "checkout", {"id": "u1", "email": "ann@acme.com"}, "staging").value
        == "staff"
    )
    # production has no rules: everyone gets the default
    assert _served(workspace, "checkout", {"id": "u1", "email": "ann@acme.com"}).value == "old"
    sources = [_served(workspace, "checkout", {"id": f"u{i}"}, "staging") for i in range(2000)]
    rolled = sum(r.source == "force" for r in sources) / 2000
    assert 0.22 < rolled < 0.28
    in_exp = [r for r in sources if r.source == "experiment"]
    assert in_exp and {r.value for r in in_exp} == {"old", "b"}


def test_coverage_only_grows_the_rollout(workspace: Workspace) -> None:
    fid = _flag(workspace)
    users = [{"id": f"user-{i}"} for i in range(1000)]
    with transaction(workspace.sessions) as s:
        flags.set_rules(
            s,
            fid,
            "production",
            [{"type": "force", "id": "roll", "value": True, "coverage": 0.1}],
            "test",
        )
    before = {u["id"] for u in users if _served(workspace, "new-checkout", u).value}
    with transaction(workspace.sessions) as s:
        flags.set_rules(
            s,
            fid,
            "production",
            [{"type": "force", "id": "roll", "value": True, "coverage": 0.3}],
            "test",
        )
    after = {u["id"] for u in users if _served(workspace, "new-checkout", u).value}
    assert before < after and 60 < len(before) < 140 and 250 < len(after) < 350


def test_users_keep_their_variation_when_weights_change_with_sticky_buckets(
    workspace: Workspace,
) -> None:
    fid = _flag(workspace, "cta", "string", "a")

    def rules(weights: list[float]) -> list[dict[str, Any]]:
        return [
            {
                "type": "experiment",
                "id": "e",
                "experiment_key": "cta-test",
                "variations": [{"value": "a"}, {"value": "b"}],
                "weights": weights,
            }
        ]

    with transaction(workspace.sessions) as s:
        flags.set_rules(s, fid, "production", rules([0.5, 0.5]), "test")
        _, compiled = sdk.cached_payload(workspace, s, "production")
    docs: dict[str, dict[str, dict[str, Any]]] = {}
    first: dict[str, Any] = {}
    for i in range(500):
        sticky: dict[str, Any] = {}
        first[f"u{i}"] = sdk.evaluate(compiled, {"id": f"u{i}"}, ["cta"], sticky)["cta"].value
        docs[f"u{i}"] = sticky
    with transaction(workspace.sessions) as s:
        flags.set_rules(s, fid, "production", rules([0.1, 0.9]), "test")
        _, changed = sdk.cached_payload(workspace, s, "production")
    moved_without = sum(changed.evaluate("cta", {"id": u}).value != v for u, v in first.items())
    moved_with = sum(
        sdk.evaluate(changed, {"id": u}, ["cta"], docs[u])["cta"].value != v
        for u, v in first.items()
    )
    assert moved_without > 100  # the split moved, so unsticky users would switch
    assert moved_with == 0


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"type": "force", "value": "yes"}], r"rules\[0\]\.value: 'yes' is not a boolean"),
        (
            [{"type": "force", "value": True, "condition": {"age": {"$gtx": 3}}}],
            r"rules\[0\]\.condition\.age\.\$gtx: unknown operator",
        ),
        (
            [{"type": "force", "value": True, "condition": {"$or": {"a": 1}}}],
            r"rules\[0\]\.condition\.\$or: expects a list",
        ),
        (
            [{"type": "force", "value": True, "condition": {"name": {"$regex": "(unclosed"}}}],
            "does not compile",
        ),
        ([{"type": "force", "value": True, "coverage": 1.5}], r"rules\[0\]\.coverage"),
        (
            [
                {
                    "type": "experiment",
                    "experiment_key": "e",
                    "variations": [{"value": True}, {"value": False}],
                    "weights": [0.7, 0.7],
                }
            ],
            "weights add up to 1.4",
        ),
        ([{"value": True}], r"rules\[0\]\.type"),
        ([{"type": "rollout", "value": True}], r"rules\[0\]"),
        ("not a list", "expected a list"),
    ],
)
def test_malformed_rules_are_refused_with_the_reason_and_nothing_changes(
    workspace: Workspace, rules: Any, message: str
) -> None:
    fid = _flag(workspace)
    with pytest.raises(InvalidInput, match=message), transaction(workspace.sessions) as s:
        flags.set_rules(s, fid, "production", rules, "test")
    with workspace.sessions() as s:
        assert flags.settings_of(s, fid)["production"].rules == []


def test_kill_switch_serves_the_default_to_everyone(workspace: Workspace) -> None:
    fid = _flag(workspace)
    with transaction(workspace.sessions) as s:
        flags.set_rules(s, fid, "production", [{"type": "force", "value": True}], "test")
    assert _served(workspace, "new-checkout", {"id": "1"}).value is True
    with transaction(workspace.sessions) as s:
        flags.set_enabled(s, fid, "production", False, "test")
    assert _served(workspace, "new-checkout", {"id": "1"}).value is False
    with transaction(workspace.sessions) as s:
        flags.set_enabled(s, fid, "production", True, "test")
    assert _served(workspace, "new-checkout", {"id": "1"}).value is True


def test_prerequisites_gate_a_flag_and_cycles_are_refused(workspace: Workspace) -> None:
    parent = _flag(workspace, "billing-v2")
    child = _flag(workspace, "invoices-v2", prerequisites=[{"flag": "billing-v2"}])
    with transaction(workspace.sessions) as s:
        flags.set_rules(s, child, "production", [{"type": "force", "value": True}], "test")
    gated = _served(workspace, "invoices-v2", {"id": "1"})
    assert (gated.value, gated.source) == (None, "prerequisite")
    with transaction(workspace.sessions) as s:
        flags.set_rules(s, parent, "production", [{"type": "force", "value": True}], "test")
    assert _served(workspace, "invoices-v2", {"id": "1"}).value is True
    with pytest.raises(RuleError, match="cycle"), transaction(workspace.sessions) as s:
        flags.update_flag(s, parent, {"prerequisites": [{"flag": "invoices-v2"}]}, "test")
    with pytest.raises(NotFound, match="no flag 'nope'"), transaction(workspace.sessions) as s:
        flags.update_flag(s, parent, {"prerequisites": [{"flag": "nope"}]}, "test")


def test_experiments_in_one_namespace_never_share_a_user(workspace: Workspace) -> None:
    a, b = _flag(workspace, "a"), _flag(workspace, "b")

    def rule(key: str, start: float, end: float) -> list[dict[str, Any]]:
        return [
            {
                "type": "experiment",
                "experiment_key": key,
                "variations": [{"value": False}, {"value": True}],
                "namespace": {"name": "checkout", "start": start, "end": end},
            }
        ]

    with transaction(workspace.sessions) as s:
        flags.set_rules(s, a, "production", rule("exp-a", 0, 0.5), "test")
        flags.set_rules(s, b, "production", rule("exp-b", 0.5, 1), "test")
    with pytest.raises(RuleError, match="overlaps flag 'a'"), transaction(workspace.sessions) as s:
        flags.set_rules(s, b, "production", rule("exp-b", 0.4, 1), "test")
    with workspace.sessions() as s:
        compiled = CompiledFeatures(sdk.payload(s, "production")["features"])
    both = 0
    for i in range(2000):
        ra, rb = compiled.evaluate("a", {"id": str(i)}), compiled.evaluate("b", {"id": str(i)})
        both += ra.source == "experiment" and rb.source == "experiment"
    assert both == 0


def test_scheduled_changes_apply_when_due(workspace: Workspace) -> None:
    fid = _flag(workspace)
    soon = utcnow() + dt.timedelta(minutes=5)
    with transaction(workspace.sessions) as s:
        flags.schedule_change(
            s, fid, "production", soon, "test", rules=[{"type": "force", "value": True}]
        )
        flags.schedule_change(s, fid, "staging", soon, "test", enabled=False)
    with (
        pytest.raises(InvalidInput, match="not in the future"),
        transaction(workspace.sessions) as s,
    ):
        flags.schedule_change(
            s, fid, "production", utcnow() - dt.timedelta(minutes=1), "test", enabled=False
        )
    with (
        pytest.raises(InvalidInput, match=r"rules\[0\]\.value"),
        transaction(workspace.sessions) as s,
    ):
        flags.schedule_change(
            s, fid, "production", soon, "test", rules=[{"type": "force", "value": 3}]
        )
    with transaction(workspace.sessions) as s:
        assert flags.apply_due_changes(s) == []
        done = flags.apply_due_changes(s, now=soon + dt.timedelta(seconds=1))
    assert [d["outcome"] for d in done] == ["applied", "applied"]
    assert _served(workspace, "new-checkout", {"id": "1"}).value is True
    with workspace.sessions() as s:
        assert flags.settings_of(s, fid)["staging"].enabled is False


def _namespaced(key: str, start: float, end: float) -> list[dict[str, Any]]:
    return [
        {
            "type": "experiment",
            "experiment_key": key,
            "variations": [{"value": False}, {"value": True}],
            "namespace": {"name": "checkout", "start": start, "end": end},
        }
    ]


def test_a_scheduled_change_that_no_longer_passes_is_recorded_failed_not_applied(
    workspace: Workspace,
) -> None:
    """Checked when scheduled, and again when due: another flag took the namespace's slice
    in between, so the change is not published and says why."""
    a, b = _flag(workspace, "a"), _flag(workspace, "b")
    soon = utcnow() + dt.timedelta(minutes=5)
    with transaction(workspace.sessions) as s:
        flags.schedule_change(s, b, "production", soon, "test", rules=_namespaced("e-b", 0, 0.5))
        flags.set_rules(s, a, "production", _namespaced("e-a", 0.25, 0.75), "test")
    with workspace.sessions() as s:
        before = sdk.payload(s, "production")
    with transaction(workspace.sessions) as s:
        done = flags.apply_due_changes(s, now=soon + dt.timedelta(seconds=1))
    assert len(done) == 1 and done[0]["outcome"].startswith("failed: ")
    assert "overlaps flag 'a'" in done[0]["outcome"]
    with workspace.sessions() as s:
        assert flags.settings_of(s, b)["production"].rules == []
        assert sdk.payload(s, "production")["features"] == before["features"]


@pytest.mark.parametrize(
    "change",
    [
        lambda s, fid: flags.set_rules(
            s, fid, "production", [{"type": "force", "value": True}], "t"
        ),
        lambda s, fid: flags.set_enabled(s, fid, "staging", True, "t"),
        lambda s, fid: flags.update_flag(s, fid, {"default_value": True}, "t"),
    ],
    ids=["rules", "back on after the kill switch", "default"],
)
def test_a_change_that_cannot_be_evaluated_is_never_published(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, change: Any
) -> None:
    """Whatever the checks at save let through, the flag is evaluated as SDKs would before
    it is stored: if that fails (here the evaluator breaks on this one flag), the change is
    refused with the reason, nothing is stored or audited, and SDKs keep the last payload."""
    fid = _flag(workspace, "fragile")
    with transaction(workspace.sessions) as s:
        flags.set_rules(s, fid, "staging", [{"type": "force", "value": True}], "t")
        flags.set_enabled(s, fid, "staging", False, "t")
    with workspace.sessions() as s:
        before = sdk.payload(s, "production")
        audited = len(s.scalars(select(AuditEvent)).all())

    def evaluate(ctx: Context, key: str) -> Any:
        if key == "fragile":
            raise RecursionError("maximum recursion depth exceeded")
        return evaluate_feature(ctx, key)

    monkeypatch.setattr(flags, "evaluate_feature", evaluate)
    with (
        pytest.raises(RuleError, match=r"'fragile' in \w+ cannot be evaluated: maximum recursion"),
        transaction(workspace.sessions) as s,
    ):
        change(s, fid)
    with workspace.sessions() as s:
        assert sdk.payload(s, "production")["features"] == before["features"]
        assert len(s.scalars(select(AuditEvent)).all()) == audited
        settings = flags.settings_of(s, fid)
        assert settings["production"].rules == [] and not settings["staging"].enabled
        assert flags.get_flag(s, fid).default_value is False
    # The kill switch itself always works, even on a flag that cannot be evaluated.
    with transaction(workspace.sessions) as s:
        flags.set_enabled(s, fid, "production", False, "t")
    with workspace.sessions() as s:
        assert not flags.settings_of(s, fid)["production"].enabled


def test_stale_flag_report(workspace: Workspace) -> None:
    done = _flag(workspace, "old-launch")
    live = _flag(workspace, "live-test")
    with transaction(workspace.sessions) as s:
        for env in ("production", "staging", "development"):
            flags.set_rules(s, done, env, [{"type": "force", "value": True}], "test")
        flags.set_rules(
            s, live, "production", [{"type": "force", "value": True, "coverage": 0.5}], "test"
        )
    later = utcnow() + dt.timedelta(days=40)
    with workspace.sessions() as s:
        assert flags.stale_flags(s, now=utcnow()) == []
        stale = flags.stale_flags(s, now=later)
    assert [r.flag.key for r in stale] == ["old-launch"]
    assert stale[0].serves is True and "rolled out to everyone" in stale[0].reason


def test_every_change_is_in_the_audit_log(workspace: Workspace) -> None:
    fid = _flag(workspace)
    with transaction(workspace.sessions) as s:
        flags.set_rules(s, fid, "production", [{"type": "force", "value": True}], "ann")
        flags.set_enabled(s, fid, "production", False, "ann")
        flags.update_flag(s, fid, {"description": "Checkout v2"}, "ann")
        flags.schedule_change(
            s, fid, "production", utcnow() + dt.timedelta(hours=1), "ann", enabled=True
        )
    with workspace.sessions() as s:
        actions = [
            a
            for (a,) in s.execute(
                select(AuditEvent.action)
                .where(AuditEvent.entity_type == "flag")
                .order_by(AuditEvent.id)
            )
        ]
    assert actions == ["flag.create", "flag.rules", "flag.kill", "flag.update", "flag.schedule"]
