"""The calculator (`/experiments/calculator`, `/api/v1/power`) and the stats engine over
HTTP (`/api/v1/stats/compare`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from productops.core.errors import InvalidInput, ProductOpsError
from productops.experiments import stats
from productops.experiments.power import calculator, runtime
from productops.web.deps import DbDep, ReadApi, ReadPage, is_fragment, reads_only, workspace_of
from productops.web.responses import error_responses
from productops.web.templating import render

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["experiments"])


def _aggregate(kind: str, fields: dict[str, Any], *, optional_type: bool = False) -> dict[str, Any]:
    required = [k for k in fields if k != "type"]
    return {
        "type": "object",
        "properties": {"type": {"const": kind}, **fields},
        "required": required if optional_type else ["type", *required],
        "additionalProperties": False,
    }


_COUNT = {"type": "number", "minimum": 0}
_NUMBER = {"type": "number"}
_MEAN = {"n": _COUNT, "sum": _NUMBER, "sum_squares": _COUNT}
_PROPORTION = {"n": _COUNT, "sum": {**_COUNT, "description": "conversions, at most n"}}
# The shapes `stats.compare` takes (docs/experiments.md): a mean (the default type) or a
# proportion, each with or without CUPED's pre-period sums, or a ratio (delta method).
AGGREGATE: dict[str, Any] = {
    "oneOf": [
        _aggregate("mean", _MEAN, optional_type=True),
        _aggregate(
            "mean",
            {**_MEAN, "pre_sum": _NUMBER, "pre_sum_squares": _COUNT, "pre_sum_products": _NUMBER},
            optional_type=True,
        ),
        _aggregate("proportion", _PROPORTION),
        _aggregate(
            "proportion",
            {**_PROPORTION, "pre_sum": _COUNT, "pre_sum_products": _NUMBER},
        ),
        _aggregate(
            "ratio",
            {
                **_MEAN,
                "denominator_sum": _NUMBER,
                "denominator_sum_squares": _COUNT,
                "sum_products": _NUMBER,
            },
        ),
    ]
}


class CompareRequest(BaseModel):
    """Two arms' aggregates (gbstats' shapes, both of one type) and how to compare them."""

    model_config = ConfigDict(extra="forbid")

    a: dict[str, Any] = Field(
        description='the control, e.g. {"type": "proportion", "sum": 120, "n": 1000}',
        json_schema_extra=AGGREGATE,
    )
    b: dict[str, Any] = Field(
        description="the treatment, of the control's type", json_schema_extra=AGGREGATE
    )
    test: Literal["ttest", "sequential", "bayesian"] = "ttest"
    difference: Literal["relative", "absolute"] = "relative"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    sequential_tuning: float = Field(default=5000, gt=0)


@api.post("/stats/compare")
@reads_only
def api_compare(principal: ReadApi, body: CompareRequest) -> dict[str, Any]:
    """`stats.compare` over HTTP: the effect of b against a, its interval and p-value (or
    chance to win and risk). Bad aggregates get a 422 naming the arm and field."""
    return stats.compare(
        body.a,
        body.b,
        test=body.test,
        difference=body.difference,
        alpha=body.alpha,
        sequential_tuning=body.sequential_tuning,
    ).as_dict()


Number = Annotated[float, Query(allow_inf_nan=False)]


def _plan(
    request: Request,
    kind: str,
    baseline: float,
    mde: float,
    sd: float | None,
    arms: int,
    alpha: float,
    power: float,
    metric: str | None,
    traffic: float,
) -> dict[str, Any]:
    plan = calculator.plan(kind, baseline, mde, sd=sd, arms=arms, alpha=alpha, power=power)
    out: dict[str, Any] = {
        "kind": plan.kind,
        "baseline": plan.baseline,
        "sd": plan.sd,
        "mde_relative": plan.mde_relative,
        "users_per_arm": plan.users_per_arm,
        "arms": plan.arms,
        "total_users": plan.total_users,
        "alpha": plan.alpha,
        "power": plan.power,
    }
    ws = workspace_of(request)
    events = runtime.metric_events(ws, metric) if metric else ()
    estimate = runtime.estimate_runtime(ws, plan.total_users, events=events, traffic=traffic)
    out["runtime"] = {
        "days": estimate.days,
        "traffic": estimate.traffic,
        "lookback_days": estimate.lookback_days,
        "people_in_lookback": estimate.people_in_lookback,
        "new_people_per_day": estimate.new_people_per_day,
        "events": list(estimate.events),
        "curve": estimate.curve,
    }
    return out


@api.get("/power", responses=error_responses((404, "no metric of that name in the catalog")))
def api_power(
    request: Request,
    principal: ReadApi,
    kind: Literal["proportion", "mean"] = "proportion",
    baseline: Number = 0.1,
    mde: Annotated[
        float, Query(gt=0, le=100, description="the relative lift to detect (0.05 = 5 %)")
    ] = 0.05,
    sd: Annotated[float | None, Query(gt=0, allow_inf_nan=False)] = None,
    arms: Annotated[int, Query(ge=2, le=20)] = 2,
    alpha: Annotated[float, Query(gt=0, lt=0.5)] = 0.05,
    power: Annotated[float, Query(gt=0.5, lt=1)] = 0.8,
    metric: Annotated[str | None, Query(max_length=63, pattern=r"^[a-z][a-z0-9_]*$")] = None,
    traffic: Annotated[float, Query(gt=0, le=1)] = 1.0,
) -> dict[str, Any]:
    """Users per arm for a relative lift (`mde`) on a proportion or a mean (with its
    per-user `sd`), and how many days the event store's recent traffic needs to bring them
    (people doing the `metric`'s event, or anything)."""
    return _plan(request, kind, baseline, mde, sd, arms, alpha, power, metric, traffic)


@pages.get("/experiments/calculator")
def calculator_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    kind: Literal["proportion", "mean"] = "proportion",
    baseline: Annotated[str, Query(max_length=30)] = "0.10",
    mde: Annotated[str, Query(max_length=30)] = "5",
    sd: Annotated[str, Query(max_length=30)] = "",
    arms: Annotated[int, Query(ge=2, le=20)] = 2,
    alpha: Annotated[str, Query(max_length=10)] = "0.05",
    power: Annotated[str, Query(max_length=10)] = "0.8",
    metric: Annotated[str, Query(max_length=63)] = "",
    traffic: Annotated[str, Query(max_length=10)] = "100",
) -> Response:
    from productops import analytics

    form = {
        "kind": kind,
        "baseline": baseline,
        "mde": mde,
        "sd": sd,
        "arms": arms,
        "alpha": alpha,
        "power": power,
        "metric": metric,
        "traffic": traffic,
    }
    result, error = None, None
    try:
        result = _plan(
            request,
            kind,
            _baseline(baseline, kind),
            _number(mde, "minimum detectable effect") / 100,
            _number(sd, "standard deviation") if sd.strip() else None,
            arms,
            _number(alpha, "alpha"),
            _number(power, "power"),
            metric or None,
            _number(traffic, "traffic") / 100,
        )
    except ProductOpsError as exc:
        error = str(exc)
    try:
        metrics = [
            (m.name, m.label or m.name)
            for m in analytics.load_catalog(workspace_of(request)).metrics
        ]
    except ProductOpsError:
        metrics = []
    context = {"form": form, "result": result, "error": error, "metrics": metrics}
    template = (
        "experiments/calculator_result.html"
        if is_fragment(request)
        else "experiments/calculator.html"
    )
    return render(
        request, template, context, status_code=422 if error and not is_fragment(request) else 200
    )


def _baseline(text: str, kind: str) -> float:
    """A conversion typed as a percentage (`12%`) is a share (0.12)."""
    value = _number(text, "baseline")
    return value / 100 if kind == "proportion" and text.strip().endswith("%") else value


def _number(text: str, what: str) -> float:
    try:
        value = float(text.strip().rstrip("%").replace(",", ""))
    except ValueError:
        raise InvalidInput(f"{what}: '{text[:20]}' is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput(f"{what}: not a finite number")
    return value
