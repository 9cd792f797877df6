"""The pillar contract: what a pillar brings to the house, found by module name.

A pillar is a package listed in `productops.domains.DOMAINS`. The house looks inside it for
these modules, each optional, and never needs a second list:

| module          | what the house takes from it                                           |
|-----------------|------------------------------------------------------------------------|
| `models`        | its tables (Alembic, backup and restore see them)                      |
| `settings`      | `Section`: a pydantic model, the pillar's `[name]` table in             |
|                 | productops.toml (`PRODUCTOPS_<NAME>__<KEY>` overrides)                  |
| `storage`       | what it keeps in the workspace folder: `FILES` (glob patterns copied    |
|                 | as they are by backup), `init(ws)`, `private_paths(ws)` (made 0600),    |
|                 | `backup(ws, folder)` / `restore(ws, folder)` for its own data          |
| `permissions`   | `PERMISSIONS`: the permissions it adds and the roles / key scopes      |
|                 | that get them                                                          |
| `tasks`         | job kinds, registered with `@core.jobs.job_handler`                    |
| `demo`          | demo steps, registered with `@core.demo.demo_step`                     |
| `routes`        | `register(app)`: pages, `/api/v1` routers, navigation, home cards      |
| `cli`           | `app`: a Typer group, added as `productops <name>`; `ALIASES` names      |
|                 | commands of that group that are also offered at the top level          |
| `templates/`    | a Jinja folder on the template path                                     |

Core reads this contract and names no pillar: the pillars are whatever `DOMAINS` lists.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from productops import domains

PARTS = (
    "models",
    "settings",
    "storage",
    "permissions",
    "tasks",
    "demo",
    "routes",
    "cli",
)


@dataclass(frozen=True)
class Pillar:
    """One pillar: its package and the parts of the contract it brings."""

    package: str

    @property
    def name(self) -> str:
        """The pillar's short name: its settings section, CLI group and job-kind prefix."""
        return self.package.rpartition(".")[2]

    @property
    def module(self) -> ModuleType:
        return importlib.import_module(self.package)

    @property
    def folder(self) -> Path:
        return Path(self.module.__file__ or "").parent

    def part(self, name: str) -> ModuleType | None:
        """The pillar's module `name` (e.g. `routes`), or None when it has none. An import
        error inside an existing module is raised, not hidden."""
        full = f"{self.package}.{name}"
        try:
            return importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name == full:
                return None
            raise

    @property
    def templates(self) -> Path | None:
        folder = self.folder / "templates"
        return folder if folder.is_dir() else None


def pillars() -> list[Pillar]:
    """Every pillar, in the order of `DOMAINS` (read afresh, so tests can add one)."""
    return [Pillar(package) for package in domains.DOMAINS]


def parts(name: str) -> list[tuple[Pillar, ModuleType]]:
    """Each pillar that has module `name`, with that module."""
    found = []
    for pillar in pillars():
        module = pillar.part(name)
        if module is not None:
            found.append((pillar, module))
    return found


def load(*names: str) -> None:
    """Import the named parts of every pillar (their decorators register job kinds, demo
    steps and tables)."""
    for name in names:
        parts(name)
