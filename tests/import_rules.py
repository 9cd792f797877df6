"""The house's import rules as an import-linter contract (`lint-imports`, run by `./dev test`).

The pillars are read from `productops.domains.DOMAINS`, so a new pillar is covered by its one
line there. The rules (docs/architecture.md, "Rules of the house"):

1. `productops.core` imports no pillar, nothing of the web shell or the CLI, and no web or
   CLI framework (fastapi, starlette, typer).
2. The shells (`productops.web`, `productops.cli`) import no pillar: they find pillars
   through the contract at run time.
3. Inside a pillar, only `routes` and `cli` modules (at any depth) import the web shell, the
   CLI kit or a web / CLI framework: models, services, stores and tasks stay plain Python.
4. A pillar uses another only through that pillar's public API: its package (`__init__`'s
   `__all__`) or its `service` module.
"""

from __future__ import annotations

from dataclasses import dataclass

import grimp
from importlinter.application import output
from importlinter.domain.contract import Contract, ContractCheck

FRAMEWORKS = ("fastapi", "starlette", "typer")
SHELL_FILES = ("routes", "cli")


@dataclass(frozen=True, order=True)
class Broken:
    rule: str
    importer: str
    imported: str
    line: int | None

    def render(self) -> str:
        where = f" (l.{self.line})" if self.line else ""
        return f"{self.rule}: {self.importer} imports {self.imported}{where}"


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _pillar_of(module: str, pillars: tuple[str, ...]) -> str | None:
    return next((p for p in pillars if _within(module, p)), None)


def _line(graph: grimp.ImportGraph, importer: str, imported: str) -> int | None:
    details = graph.get_import_details(importer=importer, imported=imported)
    return int(details[0]["line_number"]) if details else None


def check_graph(
    graph: grimp.ImportGraph, pillars: tuple[str, ...], root: str = "productops"
) -> list[Broken]:
    """Every import that breaks a house rule, in the package `root`."""
    shells = (f"{root}.web", f"{root}.cli")
    web_and_cli = (*shells, *FRAMEWORKS)
    broken: list[Broken] = []
    for importer in sorted(graph.modules):
        if not _within(importer, root):
            continue
        own = _pillar_of(importer, pillars)
        last = importer.rpartition(".")[2]
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            target_pillar = _pillar_of(imported, pillars)
            rule = None
            if _within(importer, f"{root}.core"):
                if target_pillar or any(_within(imported, m) for m in web_and_cli):
                    rule = "core names no pillar and no screen"
            elif any(_within(importer, s) for s in shells):
                if target_pillar:
                    rule = "the shells find pillars at run time, they do not import them"
            elif own is not None:
                shell_file = last in SHELL_FILES or any(
                    f".{name}." in importer + "." for name in SHELL_FILES
                )
                if not shell_file and any(_within(imported, m) for m in web_and_cli):
                    rule = "only a pillar's routes and cli touch the web or the CLI"
                elif target_pillar and target_pillar != own:
                    public = (target_pillar, f"{target_pillar}.service")
                    if imported not in public:
                        rule = f"{own} may use {target_pillar} only through its public API"
            if rule:
                broken.append(Broken(rule, importer, imported, _line(graph, importer, imported)))
    return broken


class HouseContract(Contract):
    """The house rules (see the module docstring)."""

    type_name = "house"

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        from productops import domains

        broken = check_graph(graph, tuple(domains.DOMAINS))
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for item in check.metadata["broken"]:
            output.print_error(item.render())
            output.new_line()
