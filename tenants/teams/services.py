"""Team and territory operations, and lead routing: territory first, then round-robin.

They never commit: the boundary (request, job, CLI) does, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.tenants.companies.schemas import load
from rapport.tenants.teams.models import Team, TeamMember, Territory
from rapport.tenants.teams.queries import Place, get_team, get_territory, territory_for
from rapport.tenants.teams.schemas import TeamMemberSchema, TeamSchema, TerritorySchema

TEAM_FIELDS = ("name", "description")
TERRITORY_FIELDS = ("name", "team_id", "priority", "countries", "regions", "industries")


def _snapshot(row: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(row, name) for name in names}


def _unique_name(session: Session, model: Any, name: str, own_id: uuid.UUID | None) -> None:
    clash = session.scalar(
        select(model.id).where(func.lower(model.name) == name.lower(), model.id != own_id)
    )
    if clash is not None:
        raise ValidationFailed({"name": ["Another one already has this name."]})


# -- teams ----------------------------------------------------------------------------------------
def create_team(session: Session, data: Mapping[str, Any]) -> Team:
    values = load(TeamSchema(), dict(data))
    _unique_name(session, Team, values["name"], None)
    team = Team(**values)
    session.add(team)
    session.flush()
    audit.record(
        session, "team.created", "team", team.id, audit.diff({}, _snapshot(team, TEAM_FIELDS))
    )
    return team


def update_team(session: Session, team_id: uuid.UUID | str, data: Mapping[str, Any]) -> Team:
    team = get_team(session, team_id)
    values = load(TeamSchema(), dict(data))
    _unique_name(session, Team, values["name"], team.id)
    before = _snapshot(team, TEAM_FIELDS)
    for key, value in values.items():
        setattr(team, key, value)
    changes = audit.diff(before, _snapshot(team, TEAM_FIELDS))
    if changes:
        session.flush()
        audit.record(session, "team.updated", "team", team.id, changes)
    return team


def delete_team(session: Session, team_id: uuid.UUID | str) -> None:
    """Delete a team with its memberships and territories; its leads keep their owners."""
    team = get_team(session, team_id)
    before = _snapshot(team, TEAM_FIELDS)
    session.delete(team)
    session.flush()
    audit.record(session, "team.deleted", "team", team.id, audit.diff(before, {}))


def add_member(
    session: Session,
    team_id: uuid.UUID | str,
    data: Mapping[str, Any],
    *,
    allowed: set[uuid.UUID] | None = None,
) -> TeamMember:
    """Put a workspace member in a team; ``allowed`` are the workspace's members (control plane)."""
    team = get_team(session, team_id)
    values = load(TeamMemberSchema(), dict(data))
    if allowed is not None and values["user_id"] not in allowed:
        raise ValidationFailed({"user_id": ["Choose a member of this workspace."]})
    exists = session.scalar(
        select(TeamMember.id).where(
            TeamMember.team_id == team.id, TeamMember.user_id == values["user_id"]
        )
    )
    if exists is not None:
        raise Conflict("This person is already in the team.")
    member = TeamMember(team_id=team.id, **values)
    session.add(member)
    session.flush()
    audit.record(
        session, "team.member_added", "team", team.id,
        {"member": [None, str(member.user_id)], "is_manager": [None, member.is_manager]},
    )  # fmt: skip
    return member


def set_manager(
    session: Session, team_id: uuid.UUID | str, member_id: uuid.UUID | str, is_manager: bool
) -> TeamMember:
    team = get_team(session, team_id)
    member = session.get(TeamMember, uuid.UUID(str(member_id)))
    if member is None or member.team_id != team.id:
        raise NotFound("There is no such member in this team.")
    if member.is_manager != is_manager:
        audit.record(
            session, "team.member_changed", "team", team.id,
            {"member": [str(member.user_id), str(member.user_id)],
             "is_manager": [member.is_manager, is_manager]},
        )  # fmt: skip
        member.is_manager = is_manager
        session.flush()
    return member


def remove_member(session: Session, team_id: uuid.UUID | str, member_id: uuid.UUID | str) -> None:
    team = get_team(session, team_id)
    try:
        member = session.get(TeamMember, uuid.UUID(str(member_id)))
    except ValueError:
        member = None
    if member is None or member.team_id != team.id:
        raise NotFound("There is no such member in this team.")
    session.delete(member)
    session.flush()
    audit.record(
        session, "team.member_removed", "team", team.id, {"member": [str(member.user_id), None]}
    )


# -- territories ----------------------------------------------------------------------------------
def _territory_values(session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
    try:
        values = load(TerritorySchema(), dict(data))
    except ValidationFailed as exc:
        # A bad item of a list ("countries.1") is reported on the list, where people typed it.
        folded: dict[str, list[str]] = {}
        for key, messages in exc.errors.items():
            for message in messages:
                if message not in folded.setdefault(key.split(".")[0], []):
                    folded[key.split(".")[0]].append(message)
        raise ValidationFailed(folded) from None
    if session.get(Team, values["team_id"]) is None:
        raise ValidationFailed({"team_id": ["Choose a team from the list."]})
    return values


def create_territory(session: Session, data: Mapping[str, Any]) -> Territory:
    values = _territory_values(session, data)
    _unique_name(session, Territory, values["name"], None)
    territory = Territory(**values)
    session.add(territory)
    session.flush()
    audit.record(
        session, "territory.created", "territory", territory.id,
        audit.diff({}, _snapshot(territory, TERRITORY_FIELDS)),
    )  # fmt: skip
    return territory


def update_territory(
    session: Session, territory_id: uuid.UUID | str, data: Mapping[str, Any]
) -> Territory:
    territory = get_territory(session, territory_id)
    values = _territory_values(session, data)
    _unique_name(session, Territory, values["name"], territory.id)
    before = _snapshot(territory, TERRITORY_FIELDS)
    for key, value in values.items():
        setattr(territory, key, value)
    changes = audit.diff(before, _snapshot(territory, TERRITORY_FIELDS))
    if changes:
        session.flush()
        audit.record(session, "territory.updated", "territory", territory.id, changes)
    return territory


def delete_territory(session: Session, territory_id: uuid.UUID | str) -> None:
    territory = get_territory(session, territory_id)
    before = _snapshot(territory, TERRITORY_FIELDS)
    session.delete(territory)
    session.flush()
    audit.record(session, "territory.deleted", "territory", territory.id, audit.diff(before, {}))


# -- routing --------------------------------------------------------------------------------------
def next_member(session: Session, team_id: uuid.UUID) -> uuid.UUID | None:
    """Advance the team's round-robin cursor and return the member whose turn it is.

    The team row is locked first (FOR UPDATE on PostgreSQL; SQLite has one writer at a time), so
    two leads created at once queue on the cursor instead of both reading the same turn.
    """
    team = session.scalars(
        select(Team)
        .where(Team.id == team_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if team is None:
        return None
    user_ids = list(
        session.scalars(
            select(TeamMember.user_id)
            .where(TeamMember.team_id == team.id)
            .order_by(TeamMember.user_id)
        )
    )
    if not user_ids:
        return None
    last = team.last_assigned_user_id
    # The member after the last one (by user id), wrapping; works if the last one has left.
    chosen = next((u for u in user_ids if last is not None and u > last), user_ids[0])
    team.last_assigned_user_id = chosen
    session.flush()
    return chosen


def route(
    session: Session, place: Place, *, team_id: uuid.UUID | None = None
) -> tuple[uuid.UUID | None, uuid.UUID | None, Territory | None]:
    """(team id, owner id, territory) for a new record: the team given or the territory's team,
    then the next member of that team in turn."""
    territory = None
    if team_id is None:
        territory = territory_for(session, place)
        team_id = territory.team_id if territory else None
    if team_id is None:
        return None, None, None
    return team_id, next_member(session, team_id), territory
