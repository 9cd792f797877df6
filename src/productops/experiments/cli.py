"""`productops experiments …`: flags, experiments and the stats engine from the command line.
Each command is the service function of the same name."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from productops.cli.kit import (
    JsonOpt,
    WorkspaceDir,
    emit_json,
    errors_as_exit,
    fail,
    open_ws,
    print_table,
    run_job_with_progress,
    server_for,
)

app = typer.Typer(
    help="Feature flags, experiments, the stats engine and the calculator.", no_args_is_help=True
)

Env = Annotated[str, typer.Option("--env", "-e", help="The environment.")]


def _json_file(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        fail(f"{path}: no such file")
    except json.JSONDecodeError as exc:
        fail(f"{path}: {what} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})")


@app.command("list-flags")
def list_flags(
    directory: WorkspaceDir,
    q: Annotated[str | None, typer.Option(help="Key or description.")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Flags and their state in every environment."""
    from productops.experiments.flags import service

    with open_ws(directory) as ws, ws.sessions() as s:
        rows, total = service.list_flags(s, q=q, project=project, limit=None)
        out = [
            {
                "key": r.flag.key,
                "type": r.flag.value_type,
                "default": r.flag.default_value,
                "project": r.flag.project,
                **{
                    env: ("on" if st.enabled else "killed") + f" ({len(st.rules or [])} rules)"
                    for env, st in r.settings.items()
                },
            }
            for r in rows
        ]
    if as_json:
        emit_json({"total": total, "flags": out})
    elif out:
        print_table(
            list(out[0]),
            [[json.dumps(v) if k == "default" else v for k, v in row.items()] for row in out],
        )


@app.command("create-flag")
def create_flag(
    directory: WorkspaceDir,
    key: Annotated[str, typer.Argument(help="The flag's key (what SDKs ask for).")],
    value_type: Annotated[
        str, typer.Option("--type", help="boolean, string, number or json.")
    ] = "boolean",
    default: Annotated[
        str, typer.Option(help='The default value, as JSON (false, "text", 3, {...}).')
    ] = "false",
    description: Annotated[str, typer.Option()] = "",
    project: Annotated[str, typer.Option()] = "",
) -> None:
    """A new flag, on in every environment, serving its default until rules are added."""
    from productops.core.db import transaction
    from productops.experiments.flags import service

    try:
        value = json.loads(default)
    except json.JSONDecodeError:
        fail(f"--default: {default!r} is not JSON (text needs quotes: '\"hello\"')")
    with open_ws(directory) as ws, errors_as_exit(), transaction(ws.sessions) as s:
        service.create_flag(
            s, key, value_type, value, "cli", description=description, project=project
        )
    typer.echo(f"Created flag {key}")


@app.command("set-rules")
def set_rules(
    directory: WorkspaceDir,
    key: Annotated[str, typer.Argument(help="The flag's key.")],
    rules_file: Annotated[Path, typer.Argument(help="A JSON file with the list of rules.")],
    env: Env = "production",
) -> None:
    """Replace a flag's rules in one environment (checked; refused with the reason)."""
    from productops.core.db import transaction
    from productops.experiments.flags import service

    rules = _json_file(rules_file, "the rules")
    with open_ws(directory) as ws, errors_as_exit(), transaction(ws.sessions) as s:
        flag = service.flag_by_key(s, key)
        setting = service.set_rules(s, flag.id, env, rules, "cli")
        count = len(setting.rules)
    typer.echo(f"{key} in {env}: {count} rule(s)")


@app.command("set-enabled")
def set_enabled(
    directory: WorkspaceDir,
    key: Annotated[str, typer.Argument(help="The flag's key.")],
    enabled: Annotated[bool, typer.Option("--on/--off", help="--off is the kill switch.")],
    env: Env = "production",
) -> None:
    """Turn a flag on or off (the kill switch: off serves the default to everyone)."""
    from productops.core.db import transaction
    from productops.experiments.flags import service

    with open_ws(directory) as ws, errors_as_exit(), transaction(ws.sessions) as s:
        service.set_enabled(s, service.flag_by_key(s, key).id, env, enabled, "cli")
    typer.echo(f"{key} in {env}: {'on' if enabled else 'killed'}")


@app.command("stale-flags")
def stale_flags(
    directory: WorkspaceDir,
    days: Annotated[
        int | None, typer.Option(min=1, help="Unchanged for at least this many days.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Flags that serve one value to everyone and have not changed for a while."""
    from productops.experiments.flags import service
    from productops.experiments.settings import section

    with open_ws(directory) as ws, ws.sessions() as s:
        days = days or section(ws).stale_flag_days
        rows = [
            {
                "key": r.flag.key,
                "days_unchanged": r.days_unchanged,
                "serves": r.serves,
                "why": r.reason,
            }
            for r in service.stale_flags(s, days)
        ]
    if as_json:
        emit_json(rows)
    else:
        print_table(
            ["key", "days_unchanged", "serves", "why"],
            [[r["key"], r["days_unchanged"], json.dumps(r["serves"]), r["why"]] for r in rows],
        )


@app.command("evaluate")
def evaluate(
    directory: WorkspaceDir,
    attributes: Annotated[str, typer.Option(help="The user's attributes as JSON.")] = "{}",
    flag: Annotated[list[str] | None, typer.Option(help="Only these flags (repeat).")] = None,
    env: Env = "production",
) -> None:
    """Evaluate flags for one user, as SDKs would."""
    from productops.experiments.flags import service as flags
    from productops.experiments.sdk import service

    try:
        attrs = json.loads(attributes)
    except json.JSONDecodeError as exc:
        fail(f"--attributes: not JSON ({exc.msg})")
    with open_ws(directory) as ws, errors_as_exit(), ws.sessions() as s:
        flags.environment(s, env)
        _, compiled = service.cached_payload(ws, s, env)
        results = service.evaluate(compiled, service.check_attributes(attrs), flag)
    emit_json({k: r.as_dict() for k, r in results.items()})


@app.command("list")
def list_experiments(
    directory: WorkspaceDir,
    status: Annotated[str | None, typer.Option(help="draft, running, stopped or decided.")] = None,
    q: Annotated[
        str | None, typer.Option(help="Words in the name, hypothesis or learnings.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Experiments, most recently changed first."""
    from productops.experiments.registry import service

    with open_ws(directory) as ws, errors_as_exit(), ws.sessions() as s:
        rows, _ = service.list_experiments(s, status=status, q=q, limit=None)
        out = [
            {
                "key": e.key,
                "name": e.name,
                "status": e.status,
                "primary_metric": e.primary_metric,
                "decision": e.decision or "",
            }
            for e in rows
        ]
    if as_json:
        emit_json(out)
    elif out:
        print_table(list(out[0]), [list(r.values()) for r in out])


@app.command("compute-results")
def compute_results(
    directory: WorkspaceDir,
    key: Annotated[str, typer.Argument(help="The experiment's key.")],
    as_json: JsonOpt = False,
) -> None:
    """Recompute an experiment's results from the event store (through the server when one
    holds the workspace)."""
    from productops.experiments.registry import service

    with open_ws(directory) as ws:
        with errors_as_exit(), ws.sessions() as s:
            exp_id = service.experiment_by_key(s, key).id
        server = server_for(ws)
        if server is not None:
            job = server.call("POST", f"/api/v1/experiments/{key}/results").json()["job"]
            state = server.follow_job(job, quiet=as_json)
        else:
            state = run_job_with_progress(
                ws, "experiments.compute_results", {"experiment_id": exp_id}, quiet=as_json
            )
        with ws.sessions() as s:
            snap = service.latest_result(s, exp_id)
            data = snap.data if snap else {}
    if as_json:
        emit_json(data)
        return
    typer.echo(f"Users: {data.get('users')} · SRM p = {data.get('srm_p_value', 1):.3g}")
    for m in data.get("metrics", []):
        for c in m["comparisons"]:
            typer.echo(
                f"{m['label']}: {c['expected']:+.4f} [{c['ci'][0]:+.4f}, {c['ci'][1]:+.4f}]"
                + (f" p={c['p_value']:.3g}" if c.get("p_value") is not None else "")
                + (
                    f" chance to win {c['chance_to_win']:.1%}"
                    if c.get("chance_to_win") is not None
                    else ""
                )
            )
    del state  # the snapshot above is what the job stored


@app.command("compare")
def compare(
    a: Annotated[
        str,
        typer.Argument(
            help='The control\'s aggregate as JSON: {"type": "proportion", "sum": 120, "n": 1000}'
        ),
    ],
    b: Annotated[str, typer.Argument(help="The treatment's, same shape.")],
    test: Annotated[str, typer.Option(help="ttest, sequential or bayesian.")] = "ttest",
    difference: Annotated[str, typer.Option(help="relative or absolute.")] = "relative",
    alpha: Annotated[float, typer.Option()] = 0.05,
) -> None:
    """The stats engine on two arms' aggregates (no workspace needed)."""
    from productops.experiments import stats

    try:
        arm_a, arm_b = json.loads(a), json.loads(b)
    except json.JSONDecodeError as exc:
        fail(f"an aggregate is not JSON ({exc.msg})")
    with errors_as_exit():
        options: dict[str, Any] = {"test": test, "difference": difference, "alpha": alpha}
        result = stats.compare(arm_a, arm_b, **options)
    emit_json(result.as_dict())


@app.command("power")
def power(
    kind: Annotated[str, typer.Option(help="proportion or mean.")] = "proportion",
    baseline: Annotated[float, typer.Option(help="Baseline conversion (0-1) or mean.")] = 0.1,
    mde: Annotated[float, typer.Option(help="Relative lift to detect (0.05 = 5 %).")] = 0.05,
    sd: Annotated[float | None, typer.Option(help="Per-user standard deviation (means).")] = None,
    arms: Annotated[int, typer.Option(min=2, max=20)] = 2,
    alpha: Annotated[float, typer.Option()] = 0.05,
    power: Annotated[float, typer.Option()] = 0.8,
) -> None:
    """Users per variation for a lift (statsmodels' formulas; no workspace needed)."""
    from productops.experiments.power import calculator

    with errors_as_exit():
        plan = calculator.plan(kind, baseline, mde, sd=sd, arms=arms, alpha=alpha, power=power)
    emit_json(vars(plan))
