"""What every portfolio page and endpoint shares: the filters of a view read from the query
string (so every list is shareable by link), the roll-up rule, and the permission aliases."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from sqlalchemy import select
from sqlalchemy.orm import Session

from productops.core.auth import Principal
from productops.core.errors import InvalidInput, NotFound
from productops.core.models import Team, User
from productops.portfolio.okrs.service import periods
from productops.portfolio.permissions import CONNECT, MAP
from productops.portfolio.rollups.service import FLAG_TEXT, Filters, Rule
from productops.portfolio.terms import HEALTH_TEXT
from productops.web.deps import require, workspace_of

MapPage = Annotated[Principal, require(MAP, page=True)]
MapApi = Annotated[Principal, require(MAP)]
ConnectPage = Annotated[Principal, require(CONNECT, page=True)]
ConnectApi = Annotated[Principal, require(CONNECT)]

Text = Annotated[str | None, Query(max_length=200)]


def _quarter(value: Any) -> Any:
    """A quarter as people type it (2026-q4 is 2026-Q4); anything else is named plainly
    instead of with the pattern."""
    if not isinstance(value, str) or value in ("", "all"):
        return value
    if re.fullmatch(r"[12][0-9]{3}-[Qq][1-4]", value):
        return value.upper()
    raise PydanticCustomError(
        "quarter",
        "'{value}' is not a quarter: write it like 2026-Q4, or 'all' for every quarter",
        {"value": value[:40]},
    )


def _one_of(choices: dict[str, str], what: str) -> Callable[[Any], Any]:
    """A value from `choices` (keys), or an error that lists them and suggests the nearest
    (by key or by the words shown on the page)."""

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value in ("", *choices):
            return value
        by_label = {label.lower(): key for key, label in choices.items()}
        guess = difflib.get_close_matches(value.lower(), [*choices, *by_label], n=1, cutoff=0.6)
        hint = f"; did you mean '{by_label.get(guess[0], guess[0])}'?" if guess else ""
        raise PydanticCustomError(
            "choice",
            "'{value}' is not a {what}{hint} (one of: {known})",
            {"value": value[:40], "what": what, "hint": hint, "known": ", ".join(choices)},
        )

    return check


HEALTH_FILTERS = {**HEALTH_TEXT, "none": "no update"}


@dataclass
class View:
    """A portfolio view's filters and roll-up rule, as the query string gives them."""

    filters: Filters
    rule: Rule
    params: dict[str, str]

    @property
    def query(self) -> str:
        return urlencode(self.params)

    def link(self, path: str, **changes: Any) -> str:
        params = {**self.params, **{k: str(v) for k, v in changes.items() if v not in (None, "")}}
        for k, v in changes.items():
            if v in (None, ""):
                params.pop(k, None)
        return f"{path}?{urlencode(params)}" if params else path


def view(
    request: Request,
    # Empty (a form's "any") is no filter; the pattern says so, and the code reads "" as none.
    period: Annotated[
        str | None,
        Query(
            pattern=r"^([12][0-9]{3}-[Qq][1-4]|all)?$",
            description="a quarter, e.g. 2026-Q1, or `all` (the portfolio opens on this one)",
        ),
        BeforeValidator(_quarter),
    ] = None,
    # A form's empty box sends "team=" and "credit=": no filter, not an error.
    team: Annotated[
        str | None, Query(pattern=r"^[0-9]{0,10}$", description="a team's id; empty: all")
    ] = None,
    owner: Text = None,
    health: Annotated[
        Literal["on_track", "at_risk", "off_track", "none", ""] | None,
        Query(),
        BeforeValidator(_one_of(HEALTH_FILTERS, "health")),
    ] = None,
    flag: Annotated[
        str | None,
        Query(pattern=f"^({'|'.join(FLAG_TEXT)})?$", description="a quality flag"),
        BeforeValidator(_one_of(FLAG_TEXT, "quality flag")),
    ] = None,
    q: Text = None,
    rule: Annotated[Literal["count", "points", ""] | None, Query()] = None,
    credit: Annotated[
        str | None,
        Query(
            pattern=r"^(0(\.[0-9]{1,6})?|1(\.0{1,6})?|\.[0-9]{1,6})?$",
            description="share of in-progress points counted as done, 0 to 1; empty: the default",
        ),
    ] = None,
    closed: bool = False,
) -> View:
    ws = workspace_of(request)
    team_id = int(team) if team else None
    if team_id is not None and not 1 <= team_id <= 2**31 - 1:
        raise InvalidInput(f"team {team_id} is not a team's id")
    if team_id is not None:
        with ws.sessions() as s:
            if s.get(Team, team_id) is None:
                known = ", ".join(f"{n} ({i})" for i, n in s.execute(select(Team.id, Team.name)))
                raise NotFound(f"no team {team_id}" + (f"; teams: {known}" if known else ""))
    share = float(credit) if credit else None
    given = {
        "period": period,
        "team": team_id,
        "owner": owner,
        "health": health,
        "flag": flag,
        "q": q,
        "rule": rule,
        "credit": share,
        "closed": "1" if closed else None,
    }
    params = {k: str(v) for k, v in given.items() if v not in (None, "")}
    filters = Filters(
        period=period if period and period != "all" else None,
        team_id=team_id,
        owner=owner or None,
        health=health or None,
        flag=flag or None,
        q=(q or "").strip() or None,
        include_closed=closed,
    )
    return View(filters, Rule.of(ws, rule or None, share), params)


ViewDep = Annotated[View, Depends(view)]


def portfolio_view(request: Request, v: ViewDep) -> View:
    """The executive page's view: with no quarter in the link, the current one."""
    if "period" not in v.params:
        period = default_period(request)
        if period is not None:
            v.params = {"period": period, **v.params}
            v.filters.period = period
    elif v.params["period"] == "all":
        v.filters.period = None
    return v


PortfolioViewDep = Annotated[View, Depends(portfolio_view)]


def default_period(request: Request) -> str | None:
    """What a view shows when the link names no quarter: this quarter when it has
    objectives, else the latest quarter before it that has (all of them when none has)."""
    from productops.core.clock import utcnow
    from productops.portfolio.okrs.service import period_of

    now = period_of(utcnow().date())
    with workspace_of(request).sessions() as s:
        known = periods(s)
    past = [p for p in known if p <= now]
    return past[0] if past else None


def choices(db: Session) -> dict[str, Any]:
    """What the filter forms offer."""
    return {
        "periods": periods(db),
        "teams": list(db.execute(select(Team.id, Team.name).order_by(Team.name))),
        "users": list(db.execute(select(User.id, User.name).order_by(User.name))),
        "flag_names": FLAG_TEXT,
        "health_names": HEALTH_TEXT,
    }


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"
