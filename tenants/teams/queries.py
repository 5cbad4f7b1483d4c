"""Reading teams: membership (for record visibility and owner pickers), territories, routing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found
from rapport.tenants.teams.models import Team, TeamMember, Territory


def get_team(session: Session, team_id: uuid.UUID | str) -> Team:
    """The team with this id, or NotFound."""
    return get_or_not_found(session, Team, team_id, "team")


def get_territory(session: Session, territory_id: uuid.UUID | str) -> Territory:
    return get_or_not_found(session, Territory, territory_id, "territory")


def list_teams(session: Session) -> list[Team]:
    """Every team, by name."""
    return list(session.scalars(select(Team).order_by(func.lower(Team.name), Team.id)))


def team_choices(session: Session) -> list[tuple[uuid.UUID, str]]:
    return [(team.id, team.name) for team in list_teams(session)]


def members(session: Session, team_id: uuid.UUID) -> list[TeamMember]:
    """A team's members in round-robin order (by user id)."""
    return list(
        session.scalars(
            select(TeamMember).where(TeamMember.team_id == team_id).order_by(TeamMember.user_id)
        )
    )


def members_by_team(session: Session) -> dict[uuid.UUID, list[TeamMember]]:
    out: dict[uuid.UUID, list[TeamMember]] = {}
    for member in session.scalars(select(TeamMember).order_by(TeamMember.user_id)):
        out.setdefault(member.team_id, []).append(member)
    return out


def teams_of(session: Session, user_id: uuid.UUID) -> list[Team]:
    """The teams a user belongs to, by name."""
    return list(
        session.scalars(
            select(Team)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user_id)
            .order_by(func.lower(Team.name), Team.id)
        )
    )


def team_member_ids(session: Session, user_id: uuid.UUID) -> set[uuid.UUID]:
    """Everyone who shares a team with this user, the user included (visibility "team")."""
    mine = select(TeamMember.team_id).where(TeamMember.user_id == user_id)
    ids = set(session.scalars(select(TeamMember.user_id).where(TeamMember.team_id.in_(mine))))
    return ids | {user_id}


def list_territories(session: Session) -> list[Territory]:
    """Every territory in the order they are tried: highest priority first, then by name."""
    return list(
        session.scalars(
            select(Territory).order_by(
                Territory.priority.desc(), func.lower(Territory.name), Territory.id
            )
        )
    )


@dataclass(frozen=True)
class Place:
    """What routing looks at: where a lead or company is and what it does."""

    country: str | None = None
    region: str | None = None
    industry: str | None = None


def _matches(rule: list[str] | None, value: str | None) -> bool:
    if not rule:
        return True  # an empty rule matches anything
    return value is not None and value.strip().lower() in {r.strip().lower() for r in rule}


def territory_for(session: Session, place: Place) -> Territory | None:
    """The highest-priority territory whose every non-empty rule matches, or None."""
    for territory in list_territories(session):
        if (
            _matches(territory.countries, place.country)
            and _matches(territory.regions, place.region)
            and _matches(territory.industries, place.industry)
        ):
            return territory
    return None
