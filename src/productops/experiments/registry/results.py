"""An experiment's results, computed from the event store through the metric catalog.

Exposures are the experiment's exposure events (`Experiment Viewed` with `experiment_id`
and `variation_id`, as GrowthBook's SDK tracking callbacks send them, or PostHog's
`$feature_flag_called` with `$feature_flag` and `$feature_flag_response`). Each person counts
from their first exposure; people exposed to more than one variation are left out (and
counted). Each metric is the catalog's definition, per person, over their events from
exposure to the end of the experiment; CUPED uses the same metric over the days before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ibis

from productops import analytics
from productops.core.clock import aware_utc, naive_utc, utcnow
from productops.core.errors import InvalidInput
from productops.experiments import stats
from productops.experiments.models import Experiment
from productops.experiments.settings import section

if TYPE_CHECKING:
    from productops.core.workspace import Workspace

Progress = Callable[[int, int | None, str], None]
FEATURE_FLAG_CALLED = "$feature_flag_called"


def exposure_properties(event: str) -> tuple[str, str]:
    """(the property naming the experiment, the property naming the variation)."""
    if event == FEATURE_FLAG_CALLED:
        return "$feature_flag", "$feature_flag_response"
    return "experiment_id", "variation_id"


def compute_results(
    ws: Workspace,
    exp: Experiment,
    *,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The readout of `exp` as of now: users per variation, the SRM check, and for the
    primary and each guardrail metric the per-variation aggregates and every treatment's
    comparison with the control."""
    report = progress or (lambda done, total, message: None)
    now = now or utcnow()
    start = aware_utc(exp.started_at) if exp.started_at else None
    end = aware_utc(exp.stopped_at) if exp.stopped_at else now
    settings = {**_defaults(), **(exp.analysis or {})}
    keys = [v["key"] for v in exp.variations]
    weights = [float(v["weight"]) for v in exp.variations]
    metrics = [exp.primary_metric, *exp.guardrail_metrics]
    catalog = analytics.load_catalog(ws)
    for name in metrics:
        catalog.metric(name)  # a metric removed from the catalog since: say so
    key_prop, var_prop = exposure_properties(exp.exposure_event)
    report(0, len(metrics) + 1, "Reading exposures")
    with analytics.event_source(ws) as con:
        ev = con.table("events_resolved")
        rows = ev.filter(ev.event == exp.exposure_event)
        if start is not None:
            rows = rows.filter(rows.ts >= ibis.literal(naive_utc(start)))
        rows = rows.filter(rows.ts < ibis.literal(naive_utc(end)))
        rows = rows.mutate(
            _exp=analytics.property_text(con, rows.properties, key_prop),
            _var=analytics.property_text(con, rows.properties, var_prop),
        )
        rows = rows.filter((rows._exp == exp.key) & rows.person_id.notnull())
        per = rows.aggregate(
            first=rows.ts.min(),
            variations=rows._var.nunique(),
            variation=rows._var.argmin(rows.ts),
            by=[rows.person_id],
        )
        counted = con.execute(
            per.aggregate(
                units=per.count(),
                multiple=(per.variations > 1).sum(),
                unknown=((per.variations == 1) & ~per.variation.isin(keys)).sum(),
            )
        )
        units = per.filter((per.variations == 1) & per.variation.isin(keys))
        units = units.select(
            "person_id", "variation", start="first", end=ibis.literal(naive_utc(end))
        )
        users_frame = con.execute(units.aggregate(n=units.count(), by=["variation"]))
        users_by = {str(r.variation): int(r.n) for r in users_frame.itertuples()}
        users = [users_by.get(k, 0) for k in keys]
        dated = units.mutate(day=units.start.truncate("D"))
        daily = con.execute(
            dated.aggregate(n=dated.count(), by=["day", "variation"]).order_by(["day", "variation"])
        )
        out_metrics: dict[str, list[dict[str, Any]]] = {}
        kinds: dict[str, str] = {}
        for i, name in enumerate(metrics):
            report(i + 1, len(metrics) + 1, f"Computing {name}")
            kinds[name] = analytics.metric_unit_kind(catalog, name)
            out_metrics[name] = _aggregates(
                con, catalog, name, kinds[name], units, keys, int(settings["cuped_days"])
            )
        sql = str(ibis.to_sql(units))
    readout = stats.analyse(
        out_metrics,
        users=users,
        weights=weights,
        test=settings["test"],
        difference=settings["difference"],
        alpha=float(settings["alpha"]),
        correction=settings["correction"],
        sequential_tuning=float(settings["sequential_tuning"]),
    )
    first = counted.iloc[0] if len(counted) else None
    return {
        "computed_at": now.isoformat(),
        "window": {"start": start.isoformat() if start else None, "end": end.isoformat()},
        "variations": exp.variations,
        "users": users,
        "weights": weights,
        "srm_p_value": readout.srm_p_value,
        "srm_warning": readout.srm_p_value < section(ws).srm_threshold,
        "multiple_exposures": int(first["multiple"] or 0) if first is not None else 0,
        "unknown_variation": int(first["unknown"] or 0) if first is not None else 0,
        "settings": settings,
        "daily_exposures": [
            [str(r.day)[:10], str(r.variation), int(r.n)] for r in daily.itertuples()
        ],
        "metrics": [
            {
                "name": m.metric,
                "label": catalog.metric(m.metric).label or m.metric,
                "role": "primary" if m.metric == exp.primary_metric else "guardrail",
                "kind": kinds[m.metric],
                "aggregates": out_metrics[m.metric],
                "comparisons": [c.as_dict() for c in m.comparisons],
                "adjusted_p_values": m.adjusted_p_values,
            }
            for m in readout.metrics
        ],
        "exposure_sql": sql,
    }


def _defaults() -> dict[str, Any]:
    from productops.experiments.schemas import Analysis

    return Analysis().model_dump()


def _aggregates(
    con: Any, catalog: Any, name: str, kind: str, units: Any, keys: list[str], cuped_days: int
) -> list[dict[str, Any]]:
    """Per-variation sums of the metric (and its pre-exposure values for CUPED)."""
    post = analytics.metric_per_unit(con, catalog, name, units)
    post = post.select(p_person=post.person_id, y=post.value, d=post.denominator)
    j = units.join(post, units.person_id == post.p_person)
    cols: dict[str, Any] = {
        "n": j.count(),
        "sum": j.y.sum(),
        "sum_squares": (j.y * j.y).sum(),
    }
    use_cuped = cuped_days > 0 and kind != "ratio"
    if kind == "ratio":
        cols.update(
            denominator_sum=j.d.sum(),
            denominator_sum_squares=(j.d * j.d).sum(),
            sum_products=(j.y * j.d).sum(),
        )
    if use_cuped:
        pre_units = units.select(
            "person_id",
            "variation",
            start=units.start - ibis.interval(days=cuped_days),
            end=units.start,
        )
        pre = analytics.metric_per_unit(con, catalog, name, pre_units)
        pre = pre.select(q_person=pre.person_id, x=pre.value)
        j = j.join(pre, j.person_id == pre.q_person)
        cols = {
            "n": j.count(),
            "sum": j.y.sum(),
            "sum_squares": (j.y * j.y).sum(),
            "pre_sum": j.x.sum(),
            "pre_sum_squares": (j.x * j.x).sum(),
            "pre_sum_products": (j.y * j.x).sum(),
        }
    frame = con.execute(j.aggregate(by=["variation"], **cols))
    found = {str(r["variation"]): r for r in frame.to_dict(orient="records")}
    out = []
    for key in keys:
        row = found.get(key)
        agg: dict[str, Any] = {"type": kind, "n": 0, "sum": 0.0}
        if kind != "proportion":
            agg["sum_squares"] = 0.0
        if row is not None:
            agg["n"] = int(row["n"])
            agg["sum"] = float(row["sum"] or 0)
            if kind != "proportion":
                agg["sum_squares"] = float(row["sum_squares"] or 0)
            for extra in (
                "denominator_sum",
                "denominator_sum_squares",
                "sum_products",
                "pre_sum",
                "pre_sum_products",
            ):
                if extra in row:
                    agg[extra] = float(row[extra] or 0)
            if "pre_sum_squares" in row and kind != "proportion":
                agg["pre_sum_squares"] = float(row["pre_sum_squares"] or 0)
        elif kind == "ratio":
            agg.update(denominator_sum=0.0, denominator_sum_squares=0.0, sum_products=0.0)
        out.append(agg)
    return out


def check_can_compute(exp: Experiment) -> None:
    if exp.status == "draft":
        raise InvalidInput("the experiment has not started: there are no results to compute yet")
