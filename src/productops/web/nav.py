"""Navigation and home-page cards: each domain registers its own, so the shell shows exactly
the pillars that exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI
from sqlalchemy.orm import Session

from productops.core.auth import Permission, Principal
from productops.core.workspace import Workspace


@dataclass(frozen=True)
class NavEntry:
    label: str
    href: str
    order: int = 100
    permission: str = Permission.READ
    section: str = "main"  # "main" (pillars) or "admin"


@dataclass(frozen=True)
class HomeCount:
    label: str
    value: str
    href: str | None = None


HomeCards = Callable[[Session, Principal, Workspace], list[HomeCount]]


@dataclass
class Shell:
    """What the layout renders around every page."""

    nav: list[NavEntry] = field(default_factory=list)
    home_cards: list[tuple[int, HomeCards]] = field(default_factory=list)

    def visible_nav(self, principal: Principal | None, section: str) -> list[NavEntry]:
        if principal is None:
            return []
        return sorted(
            (e for e in self.nav if e.section == section and principal.can(e.permission)),
            key=lambda e: (e.order, e.label),
        )


def shell(app: FastAPI) -> Shell:
    s: Shell = app.state.shell
    return s


def add_nav(app: FastAPI, entry: NavEntry) -> None:
    """Add a navigation entry (one per pillar, plus admin pages)."""
    shell(app).nav.append(entry)


def add_home_cards(app: FastAPI, cards: HomeCards, order: int = 100) -> None:
    """Add live counts to the home page."""
    shell(app).home_cards.append((order, cards))
