"""`productops customers …`: accounts and people from the command line. Each command is the
service function of the same name."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from productops.cli.kit import (
    JsonOpt,
    WorkspaceDir,
    emit_json,
    errors_as_exit,
    open_ws,
    print_table,
)

app = typer.Typer(help="Customer accounts and the people in them.", no_args_is_help=True)

CsvFile = Annotated[Path, typer.Argument(help="A CSV file with a header row.")]


@app.command("list-accounts")
def list_accounts(
    directory: WorkspaceDir,
    q: Annotated[str | None, typer.Option(help="Name, domain or external id.")] = None,
    plan: Annotated[str | None, typer.Option(help="Only this plan.")] = None,
    segment: Annotated[str | None, typer.Option(help="Only this segment.")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Accounts, largest ARR first."""
    from productops.customers import service

    with open_ws(directory) as ws, ws.sessions() as s:
        rows, total = service.list_accounts(
            s, q=q, plan=plan, segment=segment, region=region, limit=limit
        )
        out = [
            {
                "id": a.id,
                "external_id": a.external_id,
                "name": a.name,
                "plan": a.plan,
                "segment": a.segment,
                "region": a.region,
                "arr": float(a.arr or 0),
            }
            for a in rows
        ]
    if as_json:
        emit_json({"total": total, "accounts": out})
        return
    print_table(
        ["id", "external_id", "name", "plan", "segment", "region", "arr"],
        [[*list(r.values())[:-1], f"{r['arr']:,.0f}"] for r in out],
    )
    typer.echo(f"{len(out)} of {total:,} accounts", err=True)


@app.command("update-account")
def update_account(
    directory: WorkspaceDir,
    external_id: Annotated[str, typer.Argument(help="The account's external id.")],
    plan: Annotated[str | None, typer.Option()] = None,
    segment: Annotated[str | None, typer.Option()] = None,
    region: Annotated[str | None, typer.Option()] = None,
    arr: Annotated[float | None, typer.Option(min=0)] = None,
    name: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an account's plan, segment, region, ARR or name (audited)."""
    from productops.core.db import transaction
    from productops.customers import service
    from productops.customers.schemas import AccountUpdate

    fields = {
        k: v
        for k, v in {
            "plan": plan,
            "segment": segment,
            "region": region,
            "arr": arr,
            "name": name,
        }.items()
        if v is not None
    }
    with open_ws(directory) as ws, errors_as_exit(), transaction(ws.sessions) as s:
        account = service.account_by_external_id(s, external_id)
        service.update_account(s, account.id, AccountUpdate(**fields), actor="cli")
        out = {"external_id": account.external_id, **fields}
    if as_json:
        emit_json(out)
    else:
        typer.echo(f"Updated {external_id}: " + ", ".join(f"{k}={v}" for k, v in fields.items()))


def _import(directory: Path, file: Path, which: str, as_json: bool) -> None:
    from productops.core.db import transaction
    from productops.customers import service

    fn = service.import_accounts if which == "accounts" else service.import_people
    with open_ws(directory) as ws, errors_as_exit(), transaction(ws.sessions) as s:
        result = fn(s, file, "cli")
    if as_json:
        emit_json(vars(result))
    else:
        typer.echo(
            f"Imported {file.name}: {result.rows:,} rows, {result.created:,} new, "
            f"{result.updated:,} changed, {result.unchanged:,} already up to date"
        )


@app.command("import-accounts")
def import_accounts(directory: WorkspaceDir, file: CsvFile, as_json: JsonOpt = False) -> None:
    """Create or update accounts from a CSV (external_id, name, domain, plan, segment, region,
    arr; other columns become traits). All or nothing; importing again changes nothing."""
    _import(directory, file, "accounts", as_json)


@app.command("import-people")
def import_people(directory: WorkspaceDir, file: CsvFile, as_json: JsonOpt = False) -> None:
    """Create or update people from a CSV (external_id, account_external_id, email, name;
    other columns become traits). All or nothing; importing again changes nothing."""
    _import(directory, file, "people", as_json)
