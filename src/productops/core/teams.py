"""Product teams and the PMs in them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from productops.core import audit
from productops.core.errors import Conflict, InvalidInput, NotFound
from productops.core.models import Team, TeamMember, User


def create_team(session: Session, name: str, description: str = "", actor: str = "system") -> Team:
    """Add a product team; names are unique."""
    team = Team(name=name.strip(), description=description.strip())
    if not team.name:
        raise InvalidInput("a team needs a name")
    session.add(team)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a team named '{team.name}' already exists") from exc
    audit.record(session, actor, "team.create", "team", team.id, {"name": team.name})
    return team


def add_member(
    session: Session,
    team_id: int,
    user_id: int,
    title: str = "Product Manager",
    actor: str = "system",
) -> TeamMember:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team {team_id}")
    if session.get(User, user_id) is None:
        raise NotFound(f"no user {user_id}")
    member = session.get(TeamMember, (team_id, user_id))
    if member is None:
        member = TeamMember(team_id=team_id, user_id=user_id, title=title)
        session.add(member)
    else:
        member.title = title
    session.flush()
    audit.record(
        session, actor, "team.member", "team", team_id, {"user_id": user_id, "title": title}
    )
    return member


def list_teams(session: Session) -> list[Team]:
    q = select(Team).options(selectinload(Team.members)).order_by(Team.name)
    return list(session.scalars(q).all())


def get_team(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        raise NotFound(f"no team {team_id}")
    return team
