"""Experiments on the web: `/api/v1/experiments` and the `/experiments` pages (the list, a
new experiment, an experiment with its results table, interval charts and warnings)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from productops.core import jobs
from productops.core.auth import Principal
from productops.core.errors import InvalidInput, NotFound, ProductOpsError
from productops.experiments import charts
from productops.experiments.models import Experiment
from productops.experiments.registry import service
from productops.experiments.schemas import (
    KEY_RE,
    Analysis,
    ExperimentCreate,
    ExperimentPublic,
    ExperimentUpdate,
    Transition,
    Variation,
)
from productops.web.deps import (
    DbDep,
    ReadApi,
    ReadPage,
    WriteApi,
    WritePage,
    is_fragment,
    workspace_of,
)
from productops.web.export import CSV_RESPONSE_DOC, csv_response
from productops.web.params import Offset
from productops.web.responses import error_responses
from productops.web.templating import render, render_charts

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1", tags=["experiments"])
ExpKey = Annotated[str, Path(pattern=KEY_RE, description="the experiment's key")]
Search = Annotated[
    str | None, Query(max_length=200, description="key, name, hypothesis or learnings")
]
Short = Annotated[str | None, Query(max_length=100)]
StatusFilter = Literal["", "draft", "running", "stopped", "decided"]
NO_EXPERIMENT = error_responses((404, "no experiment of that key"))
PAGE_SIZE = 50
COMPUTE_KIND = "experiments.compute_results"


def _filters(
    q: str | None, status: str | None, owner: str | None, tag: str | None, metric: str | None
) -> dict[str, Any]:
    return {
        "q": q or None,
        "status": status or None,
        "owner": owner or None,
        "tag": tag or None,
        "metric": metric or None,
    }


def queue_results(db: Session, exp: Experiment, principal: Principal) -> int:
    """Queue the computation of an experiment's results (a job: it reads the event store)."""
    if not principal.can(jobs.job_kind(COMPUTE_KIND).permission):
        from productops.core.errors import PermissionDenied

        raise PermissionDenied("recomputing results needs the 'write' permission")
    if exp.status == "draft":
        raise InvalidInput("the experiment has not started: there are no results to compute yet")
    return jobs.enqueue(db, COMPUTE_KIND, {"experiment_id": exp.id}, created_by=principal.actor).id


# --- API ---------------------------------------------------------------------------------------


@api.get("/experiments", responses=CSV_RESPONSE_DOC)
def api_experiments(
    db: DbDep,
    principal: ReadApi,
    q: Search = None,
    status: StatusFilter = "",
    owner: Short = None,
    tag: Short = None,
    metric: Short = None,
    sort: Literal["updated", "name", "started"] = "updated",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
    format: Literal["json", "csv"] = "json",
) -> Any:
    """Experiments, filtered; `format=csv` gives every match."""
    filters = _filters(q, status, owner, tag, metric)
    if format == "csv":
        columns, rows = service.export_experiments(db, sort=sort, **filters)
        return csv_response(columns, rows, "experiments")
    rows_, total = service.list_experiments(db, sort=sort, limit=limit, offset=offset, **filters)
    return {
        "items": [ExperimentPublic.model_validate(e).model_dump(mode="json") for e in rows_],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@api.post(
    "/experiments",
    status_code=201,
    responses=error_responses(
        (404, "no flag, feature request or epic with the key or id given to link"),
        (409, "an experiment with that key exists"),
    ),
)
def api_create_experiment(
    request: Request, db: DbDep, principal: WriteApi, body: ExperimentCreate
) -> ExperimentPublic:
    """A draft experiment; its metrics must be in the metric catalog."""
    exp = service.create_experiment(db, body, principal.actor, workspace_of(request))
    return ExperimentPublic.model_validate(exp)


@api.get("/experiments/{key}", responses=NO_EXPERIMENT)
def api_experiment(db: DbDep, principal: ReadApi, key: ExpKey) -> ExperimentPublic:
    return ExperimentPublic.model_validate(service.experiment_by_key(db, key))


@api.patch(
    "/experiments/{key}",
    responses=error_responses(
        (404, "no experiment of that key, or no flag, feature request or epic to link")
    ),
)
def api_update_experiment(
    request: Request, db: DbDep, principal: WriteApi, key: ExpKey, body: ExperimentUpdate
) -> ExperimentPublic:
    exp = service.experiment_by_key(db, key)
    return ExperimentPublic.model_validate(
        service.update_experiment(db, exp.id, body, principal.actor, workspace_of(request))
    )


@api.post("/experiments/{key}/transitions", responses=NO_EXPERIMENT)
def api_transition(
    db: DbDep, principal: WriteApi, key: ExpKey, body: Transition
) -> ExperimentPublic:
    """Start, stop or decide (with the decision and what was learned)."""
    exp = service.experiment_by_key(db, key)
    return ExperimentPublic.model_validate(service.transition(db, exp.id, body, principal.actor))


@api.post("/experiments/{key}/results", status_code=202, responses=NO_EXPERIMENT)
def api_recompute(db: DbDep, principal: WriteApi, key: ExpKey) -> dict[str, Any]:
    """Recompute the results from the event store (a job; follow it at /api/v1/jobs/{job})."""
    return {"job": queue_results(db, service.experiment_by_key(db, key), principal)}


@api.get("/experiments/{key}/results", responses={**NO_EXPERIMENT, **CSV_RESPONSE_DOC})
def api_results(
    db: DbDep,
    principal: ReadApi,
    key: ExpKey,
    format: Literal["json", "csv"] = "json",
    frozen: bool = False,
) -> Any:
    """The latest results (or the snapshot frozen at the decision, with `frozen=true`);
    `format=csv` gives the results table."""
    exp = service.experiment_by_key(db, key)
    snap = service.frozen_result(db, exp.id) if frozen else service.latest_result(db, exp.id)
    if snap is None:
        raise NotFound(f"experiment '{key}' has no results yet: compute them first")
    if format == "csv":
        columns, rows = results_table(exp, snap.data)
        return csv_response(columns, rows, f"{exp.key}-results")
    return {
        "experiment": exp.key,
        "snapshot": snap.id,
        "frozen": snap.frozen,
        "computed_at": snap.computed_at.isoformat(),
        **snap.data,
    }


def results_table(exp: Experiment, data: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Every metric and variation as rows: users, value, effect, interval, p-value or chance
    to win (for CSV and the page's table)."""
    columns = [
        "metric",
        "role",
        "variation",
        "users",
        "mean",
        "effect",
        "ci_low",
        "ci_high",
        "p_value",
        "adjusted_p_value",
        "chance_to_win",
        "risk_of_choosing",
        "error",
    ]
    rows: list[list[Any]] = []
    variations = data.get("variations") or exp.variations
    for m in data.get("metrics", []):
        aggs = m["aggregates"]
        for i, v in enumerate(variations):
            agg = aggs[i] if i < len(aggs) else {}
            mean = _mean(agg)
            if i == 0:
                rows.append(
                    [
                        m["label"],
                        m["role"],
                        v["name"],
                        agg.get("n", 0),
                        mean,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                        None,
                    ]
                )
                continue
            c = m["comparisons"][i - 1]
            adjusted = (m.get("adjusted_p_values") or [None] * len(m["comparisons"]))[i - 1]
            rows.append(
                [
                    m["label"],
                    m["role"],
                    v["name"],
                    agg.get("n", 0),
                    mean,
                    c["expected"],
                    c["ci"][0],
                    c["ci"][1],
                    c.get("p_value"),
                    adjusted,
                    c.get("chance_to_win"),
                    (c.get("risk") or [None, None])[1],
                    c.get("error"),
                ]
            )
    return columns, rows


def _mean(agg: dict[str, Any]) -> float | None:
    if agg.get("type") == "ratio":
        d = agg.get("denominator_sum") or 0
        return agg["sum"] / d if d else None
    n = agg.get("n") or 0
    return agg.get("sum", 0) / n if n else None


# --- pages --------------------------------------------------------------------------------------


@pages.get("/experiments")
def experiments_page(
    request: Request,
    db: DbDep,
    principal: ReadPage,
    q: Search = None,
    status: StatusFilter = "",
    owner: Short = None,
    tag: Short = None,
    metric: Short = None,
    sort: Literal["updated", "name", "started"] = "updated",
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    rows, total = service.list_experiments(
        db, sort=sort, limit=PAGE_SIZE, offset=offset, **_filters(q, status, owner, tag, metric)
    )
    latest = {e.id: service.latest_result(db, e.id) for e in rows}
    context = {
        "rows": rows,
        "total": total,
        "suggestions": service.did_you_mean(db, q) if q and not total else [],
        "latest": latest,
        "q": q or "",
        "status": status,
        "owner": owner or "",
        "tag": tag or "",
        "metric": metric or "",
        "sort": sort,
        "offset": offset,
        "limit": PAGE_SIZE,
        "counts": service.counts_by_status(db),
        "query": request.url.query,
        "can_edit": principal.can("write"),
    }
    template = (
        "experiments/experiments_table.html"
        if is_fragment(request)
        else "experiments/experiments.html"
    )
    response = render(request, template, context)
    response.headers["Vary"] = "HX-Request, HX-History-Restore-Request"
    return response


@pages.get("/experiments.csv")
def experiments_csv(
    db: DbDep,
    principal: ReadPage,
    q: Search = None,
    status: StatusFilter = "",
    owner: Short = None,
    tag: Short = None,
    metric: Short = None,
) -> Response:
    columns, rows = service.export_experiments(db, **_filters(q, status, owner, tag, metric))
    return csv_response(columns, rows, "experiments")


def _metric_names(request: Request) -> list[tuple[str, str]]:
    from productops import analytics

    try:
        catalog = analytics.load_catalog(workspace_of(request))
    except ProductOpsError:
        return []
    return [(m.name, m.label or m.name) for m in catalog.metrics]


def _new_page(
    request: Request, db: Session, error: str | None = None, form: dict[str, Any] | None = None
) -> Response:
    from productops.experiments.flags import service as flags

    return render(
        request,
        "experiments/new.html",
        {
            "metrics": _metric_names(request),
            "flags": [r.flag.key for r in flags.list_flags(db, limit=None)[0]],
            "error": error,
            "form": form or {},
        },
        status_code=422 if error else 200,
    )


@pages.get("/experiments/new")
def new_experiment_page(request: Request, db: DbDep, principal: WritePage) -> Response:
    return _new_page(request, db)


@pages.post("/experiments/new")
def new_experiment_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: Annotated[str, Form(max_length=200)],
    name: Annotated[str, Form(max_length=300)],
    primary_metric: Annotated[str, Form(max_length=100)],
    hypothesis: Annotated[str, Form(max_length=10_000)] = "",
    guardrail_metrics: Annotated[list[str] | None, Form()] = None,
    variations: Annotated[str, Form(max_length=5000)] = "Control\nTreatment",
    exposure_event: Annotated[str, Form(max_length=200)] = "Experiment Viewed",
    flag_key: Annotated[str, Form(max_length=200)] = "",
    test: Annotated[Literal["ttest", "sequential", "bayesian"], Form()] = "ttest",
    tags: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    form = {
        "key": key,
        "name": name,
        "primary_metric": primary_metric,
        "hypothesis": hypothesis,
        "guardrail_metrics": guardrail_metrics or [],
        "variations": variations,
        "exposure_event": exposure_event,
        "flag_key": flag_key,
        "test": test,
        "tags": tags,
    }
    names = [line.strip() for line in variations.splitlines() if line.strip()]
    try:
        if len(names) < 2:
            raise InvalidInput("variations: one name per line, at least two (the control first)")
        data = ExperimentCreate(
            key=key.strip(),
            name=name.strip(),
            hypothesis=hypothesis.strip(),
            owner=principal.name,
            primary_metric=primary_metric,
            guardrail_metrics=[g for g in guardrail_metrics or [] if g and g != primary_metric],
            variations=[
                Variation(key=str(i), name=n, weight=1 / len(names)) for i, n in enumerate(names)
            ],
            exposure_event=exposure_event.strip() or "Experiment Viewed",
            flag_key=flag_key.strip() or None,
            analysis=Analysis(test=test),
            tags=[t.strip() for t in tags.split(",") if t.strip()],
        )
        with db.begin_nested():
            exp = service.create_experiment(db, data, principal.actor, workspace_of(request))
    except ValidationError as exc:
        first = exc.errors()[0]
        return _new_page(
            request, db, f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}", form
        )
    except (InvalidInput, NotFound, ProductOpsError) as exc:
        return _new_page(request, db, str(exc), form)
    return RedirectResponse(f"/experiments/{exp.key}", status_code=303)


def experiment_context(db: Session, exp: Experiment, principal: Principal) -> dict[str, Any]:
    snap = service.latest_result(db, exp.id)
    data = snap.data if snap is not None else None
    warnings: list[str] = []
    if data:
        if data.get("srm_warning"):
            shares = ", ".join(
                f"{v['name']} {n:,}" for v, n in zip(exp.variations, data["users"], strict=False)
            )
            warnings.append(
                f"Sample-ratio mismatch (p = {data['srm_p_value']:.2g}): the users per variation "
                f"({shares}) do not fit the planned split. Assignment or exposure tracking is "
                "broken; do not trust these results."
            )
        if data.get("multiple_exposures"):
            warnings.append(
                f"{data['multiple_exposures']:,} people saw more than one variation and are "
                "left out."
            )
        settings = data.get("settings", {})
        looks = service.result_count(db, exp.id)
        planned = settings.get("planned_users")
        if settings.get("test") == "ttest" and exp.status == "running":
            if planned and sum(data["users"]) < planned:
                warnings.append(
                    f"Peeking: {sum(data['users']):,} of the planned {planned:,} users so far. A "
                    "fixed-horizon t-test is only valid at the planned sample size; stopping on an "
                    "early p-value inflates false positives. Wait, or switch the analysis to "
                    "sequential."
                )
            elif looks > 1:
                warnings.append(
                    f"Peeking: results were computed {looks} times while the experiment runs, "
                    "under a fixed-horizon t-test. Each look raises the chance of a false "
                    "positive; use the sequential test to look freely."
                )
    chart_specs = {}
    if data and data.get("metrics"):
        chart_specs["intervals"] = charts.interval_chart(
            data["metrics"], data.get("variations") or exp.variations
        )
        chart_specs["exposures"] = charts.exposure_chart(
            data.get("daily_exposures", []), data.get("variations") or exp.variations
        )
    table = results_table(exp, data) if data else ([], [])
    from productops.experiments.models import Flag

    flag = db.get(Flag, exp.flag_id) if exp.flag_id else None
    pending = [
        j
        for j in jobs.list_jobs(db, limit=20)
        if j.kind == COMPUTE_KIND
        and j.status in ("queued", "running")
        and (j.params or {}).get("experiment_id") == exp.id
    ]
    return {
        "exp": exp,
        "snapshot": snap,
        "data": data,
        "warnings": warnings,
        "charts": chart_specs,
        "table_columns": table[0],
        "table_rows": table[1],
        "flag": flag,
        "pending": pending,
        "can_edit": principal.can("write"),
    }


@pages.get("/experiments/{key}")
def experiment_page(request: Request, db: DbDep, principal: ReadPage, key: ExpKey) -> Response:
    exp = service.experiment_by_key(db, key)
    return render_charts(
        request, "experiments/experiment.html", experiment_context(db, exp, principal)
    )


@pages.get("/experiments/{key}/results.csv")
def results_csv(db: DbDep, principal: ReadPage, key: ExpKey) -> Response:
    exp = service.experiment_by_key(db, key)
    snap = service.latest_result(db, exp.id)
    if snap is None:
        raise NotFound(f"experiment '{key}' has no results yet")
    columns, rows = results_table(exp, snap.data)
    return csv_response(columns, rows, f"{exp.key}-results")


@pages.post("/experiments/{key}/transition")
def transition_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: ExpKey,
    action: Annotated[Literal["start", "stop", "decide"], Form()],
    decision: Annotated[Literal["", "ship", "rollback", "iterate", "inconclusive"], Form()] = "",
    winner: Annotated[str, Form(max_length=100)] = "",
    learnings: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    exp = service.experiment_by_key(db, key)
    try:
        with db.begin_nested():
            service.transition(
                db,
                exp.id,
                Transition(
                    action=action,
                    decision=decision or None,
                    winner=winner or None,
                    learnings=learnings,
                ),
                principal.actor,
            )
    except ProductOpsError as exc:
        context = experiment_context(db, exp, principal)
        context["error"] = str(exc)
        return render_charts(request, "experiments/experiment.html", context, status_code=422)
    return RedirectResponse(f"/experiments/{key}", status_code=303)


@pages.post("/experiments/{key}/results")
def recompute_form(request: Request, db: DbDep, principal: WritePage, key: ExpKey) -> Response:
    exp = service.experiment_by_key(db, key)
    try:
        queue_results(db, exp, principal)
    except ProductOpsError as exc:
        context = experiment_context(db, exp, principal)
        context["error"] = str(exc)
        return render_charts(request, "experiments/experiment.html", context, status_code=422)
    # Back to the experiment, which says the job is running and refreshes until it is done.
    return RedirectResponse(f"/experiments/{exp.key}", status_code=303)


@pages.post("/experiments/{key}/edit")
def edit_form(
    request: Request,
    db: DbDep,
    principal: WritePage,
    key: ExpKey,
    hypothesis: Annotated[str, Form(max_length=10_000)] = "",
    learnings: Annotated[str, Form(max_length=20_000)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
    test: Annotated[Literal["ttest", "sequential", "bayesian"], Form()] = "ttest",
    planned_users: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    exp = service.experiment_by_key(db, key)
    try:
        planned = int(planned_users) if planned_users.strip() else None
        analysis = Analysis(**{**(exp.analysis or {}), "test": test, "planned_users": planned})
        with db.begin_nested():
            service.update_experiment(
                db,
                exp.id,
                ExperimentUpdate(
                    hypothesis=hypothesis,
                    learnings=learnings,
                    tags=[t.strip() for t in tags.split(",") if t.strip()],
                    analysis=analysis,
                ),
                principal.actor,
                workspace_of(request),
            )
    except (ValueError, ValidationError, ProductOpsError) as exc:
        context = experiment_context(db, exp, principal)
        context["error"] = (
            str(exc) if not isinstance(exc, ValidationError) else exc.errors()[0]["msg"]
        )
        return render_charts(request, "experiments/experiment.html", context, status_code=422)
    return RedirectResponse(f"/experiments/{key}", status_code=303)
