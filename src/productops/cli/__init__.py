"""The `productops` command. Each verb is a thin wrapper over a library call of the same
name. The house's own commands live in `house.py`; each pillar's `cli` module brings a Typer
group, added as `productops <pillar>` (and the commands it lists in `ALIASES` also at the top
level, e.g. `productops sql`)."""

from __future__ import annotations

import typer

from productops.cli.house import apikey_app, house, jobs_app, user_app


def build_app() -> typer.Typer:
    """The whole command tree: the house's commands, then every pillar's group."""
    from productops.core import pillars

    root = typer.Typer(
        name="productops",
        help="productops: a self-hosted product operations hub.",
        no_args_is_help=True,
        add_completion=False,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
    )
    for command in house.registered_commands:
        root.registered_commands.append(command)
    root.add_typer(user_app, name="user")
    root.add_typer(apikey_app, name="apikey")
    root.add_typer(jobs_app, name="jobs")
    for pillar, module in pillars.parts("cli"):
        group: typer.Typer = module.app
        root.add_typer(group, name=pillar.name)
        for alias in getattr(module, "ALIASES", ()):
            _add_alias(root, group, alias)
    return root


def _add_alias(root: typer.Typer, group: typer.Typer, name: str) -> None:
    for command in group.registered_commands:
        if (command.name or (command.callback.__name__ if command.callback else "")) == name:
            root.registered_commands.append(command)
            return
    for sub in group.registered_groups:
        if sub.name == name:
            root.registered_groups.append(sub)
            return
    raise ValueError(f"alias '{name}' names no command or group of its pillar")


_APP: typer.Typer | None = None


def __getattr__(name: str) -> typer.Typer:
    # Built on first use, so that `productops.cli.kit` (which every pillar's CLI imports) can
    # be imported without building the whole command tree.
    global _APP
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _APP is None:
        _APP = build_app()
    return _APP


def main() -> None:
    from productops.core.workspace import private_files

    # Whatever a command creates in a workspace (a DuckDB .wal, a store made on first use)
    # is readable by its owner only, as `serve` and `init` already ensure.
    with private_files():
        __getattr__("app")()


__all__ = ["app", "build_app", "main"]
