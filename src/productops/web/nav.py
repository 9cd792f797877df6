"""Navigation and home-page cards: each domain registers its own, so the shell shows exactly
the pillars that exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request
from markupsafe import Markup
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
# A section another pillar adds to a page: given the request, session, caller and the page's
# record id, the HTML to show (rendered and escaped by that pillar's own template), or None.
PageSection = Callable[[Request, Session, Principal, int], Markup | None]


@dataclass
class Shell:
    """What the layout renders around every page."""

    nav: list[NavEntry] = field(default_factory=list)
    home_cards: list[tuple[int, HomeCards]] = field(default_factory=list)
    sections: dict[str, list[tuple[int, PageSection]]] = field(default_factory=dict)

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


def add_page_section(app: FastAPI, page: str, section: PageSection, order: int = 100) -> None:
    """Add a section to another pillar's page (e.g. `"account"`: the feedback of an account
    on its page), without that pillar knowing of this one."""
    shell(app).sections.setdefault(page, []).append((order, section))


def page_sections(
    request: Request, page: str, db: Session, principal: Principal, record_id: int
) -> list[Markup]:
    """The sections other pillars add to `page` for the record `record_id`, in order."""
    found = sorted(shell(request.app).sections.get(page, []), key=lambda s: s[0])
    out = []
    for _, section in found:
        html = section(request, db, principal, record_id)
        if html is not None:
            out.append(html)
    return out
