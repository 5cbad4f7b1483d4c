"""Teams and territories over REST: every key reads them; admin keys create, change and delete.

Territories are the routing rules of new leads (countries, regions, industries, priority); they
live next to teams because each one routes to a team. Changes go through the same services as
the settings pages, so the same validation and audit entries apply.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import marshmallow as ma
from flask import Response
from flask.views import MethodView
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.api import errors
from rapport.api.auth import api_blueprint, current_key
from rapport.api.records import ListArgs, check_if_match, page_body, page_schema, record_response
from rapport.platform.identity.members import MANAGERS, members_of
from rapport.platform.tenancy.scope import current_tenant, tenant_db
from rapport.tenants.paging import SortOption, keyset_page
from rapport.tenants.teams import queries, services
from rapport.tenants.teams.models import Team, TeamMember, Territory
from rapport.tenants.teams.schemas import TeamMemberSchema, TeamSchema, TerritorySchema

blp = api_blueprint(
    "api_teams",
    __name__,
    url_prefix="/api/v1",
    description="Teams, their members and the territories that route leads to them "
    "(admin keys change them).",
)


class TeamMemberRecordSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    user_id = ma.fields.UUID(
        dump_only=True, metadata={"description": "The member's user id (see /members)."}
    )
    is_manager = ma.fields.Boolean(dump_only=True)


class TerritoryRecordSchema(ma.Schema):
    """A territory: a lead matching every non-empty list goes to the team (highest priority)."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    team_id = ma.fields.UUID(dump_only=True)
    priority = ma.fields.Integer(dump_only=True)
    countries = ma.fields.List(
        ma.fields.String(),
        dump_only=True,
        metadata={"description": "ISO country codes; empty: any."},
    )
    regions = ma.fields.List(ma.fields.String(), dump_only=True)
    industries = ma.fields.List(ma.fields.String(), dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class TeamRecordSchema(ma.Schema):
    """A team with its members and the territories that route to it."""

    id = ma.fields.UUID(dump_only=True)
    name = ma.fields.String(dump_only=True)
    description = ma.fields.String(dump_only=True, allow_none=True)
    members = ma.fields.List(ma.fields.Nested(TeamMemberRecordSchema), dump_only=True)
    territories = ma.fields.List(ma.fields.Nested(TerritoryRecordSchema), dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class TeamMemberPatchSchema(ma.Schema):
    is_manager = ma.fields.Boolean(required=True)


class TeamListArgs(ListArgs):
    sort = ma.fields.String(
        load_default="name",
        metadata={"description": "name or created_at; prefix with - for descending."},
    )


class TerritoryListArgs(ListArgs):
    sort = ma.fields.String(
        load_default="-priority",
        metadata={"description": "priority, name or created_at; prefix with - for descending. "
                                 "The default is the order routing tries them in."},
    )  # fmt: skip
    team_id = ma.fields.UUID(load_default=None, metadata={"description": "Only this team's."})


TeamPageSchema = page_schema("TeamPageSchema", TeamRecordSchema)
TerritoryPageSchema = page_schema("TerritoryPageSchema", TerritoryRecordSchema)
_TEAM = {"required": True, "content": {"application/json": {"schema": TeamSchema}}}
_MEMBER = {"required": True, "content": {"application/json": {"schema": TeamMemberSchema}}}
_MEMBER_PATCH = {
    "required": True,
    "content": {"application/json": {"schema": TeamMemberPatchSchema}},
}
_TERRITORY = {"required": True, "content": {"application/json": {"schema": TerritorySchema}}}


def document(spec: Any) -> None:
    """Name the schemas in the OpenAPI document."""
    spec.components.schema("TeamInput", schema=TeamSchema)
    spec.components.schema("TeamMember", schema=TeamMemberRecordSchema)
    spec.components.schema("TeamMemberInput", schema=TeamMemberSchema)
    spec.components.schema("TeamMemberPatch", schema=TeamMemberPatchSchema)
    spec.components.schema("Territory", schema=TerritoryRecordSchema)
    spec.components.schema("TerritoryInput", schema=TerritorySchema)
    spec.components.schema("TerritoryPage", schema=TerritoryPageSchema)
    spec.components.schema("Team", schema=TeamRecordSchema)
    spec.components.schema("TeamPage", schema=TeamPageSchema)


def _admin() -> None:
    if current_key().role not in MANAGERS:
        errors.fail(403, "Only an admin key may change teams and territories.")


def _page(session: Session, stmt: Any, id_col: Any, keys: dict[str, Any], default: str,
          args: dict[str, Any]) -> tuple[Any, SortOption]:  # fmt: skip
    sort = SortOption.parse(args["sort"], tuple(keys), default)
    page = keyset_page(
        session, stmt, key=keys[sort.key], id_col=id_col, sort=sort, cursor=args["cursor"],
        limit=args["limit"],
    )  # fmt: skip
    return page, sort


# -- teams ----------------------------------------------------------------------------------------
_TERRITORY_OUT = TerritoryRecordSchema()  # built once: building a schema costs more than a dump
_TEAM_OUT = TeamRecordSchema()


def _territory_dict(territory: Territory) -> dict[str, Any]:
    return _TERRITORY_OUT.dump(territory)


def _with_lists(session: Session, teams: list[Team]) -> list[SimpleNamespace]:
    """Teams with their members and territories, read in two queries whatever their number."""
    ids = [team.id for team in teams]
    members: dict[uuid.UUID, list[TeamMember]] = {}
    territories: dict[uuid.UUID, list[Territory]] = {}
    if ids:
        for member in session.scalars(
            select(TeamMember).where(TeamMember.team_id.in_(ids)).order_by(TeamMember.user_id)
        ):
            members.setdefault(member.team_id, []).append(member)
        for territory in session.scalars(
            select(Territory)
            .where(Territory.team_id.in_(ids))
            .order_by(Territory.priority.desc(), func.lower(Territory.name), Territory.id)
        ):
            territories.setdefault(territory.team_id, []).append(territory)
    return [
        SimpleNamespace(
            id=team.id,
            name=team.name,
            description=team.description,
            members=members.get(team.id, []),
            territories=territories.get(team.id, []),
            created_at=team.created_at,
            updated_at=team.updated_at,
        )
        for team in teams
    ]


def _team(session: Session, team_id: uuid.UUID) -> SimpleNamespace:
    return _with_lists(session, [queries.get_team(session, team_id)])[0]


def _represent_team(team: SimpleNamespace) -> dict[str, Any]:
    return _TEAM_OUT.dump(team)


def _respond_team(session: Session, team_id: uuid.UUID, status: int = 200) -> Response:
    return record_response(_represent_team(_team(session, team_id)), status)


@blp.route("/teams")
class Teams(MethodView):
    @blp.arguments(TeamListArgs, location="query")
    @blp.response(200, TeamPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List teams with their members and territories (search by name)"""
        session = tenant_db()
        stmt = select(Team)
        q = (args["q"] or "").strip()
        if q:
            stmt = stmt.where(Team.name.icontains(q, autoescape=True))
        keys = {"name": func.lower(Team.name), "created_at": Team.created_at}
        page, sort = _page(session, stmt, Team.id, keys, "name", args)
        return page_body(page, sort, _with_lists(session, page.items))

    @blp.doc(requestBody=_TEAM)
    @blp.response(201, TeamRecordSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a team (admin keys)"""
        _admin()
        session = tenant_db()
        team = services.create_team(session, errors.json_body())
        return _respond_team(session, team.id, 201)


@blp.route("/teams/<uuid:team_id>")
class TeamById(MethodView):
    @blp.response(200, TeamRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, team_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a team with its members and territories"""
        return _respond_team(tenant_db(), team_id)

    @blp.doc(requestBody=_TEAM)
    @blp.response(200, TeamRecordSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, team_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Rename a team or change its description (admin keys)"""
        _admin()
        session = tenant_db()
        current = _team(session, team_id)
        check_if_match(_represent_team(current))
        data = {"name": current.name, "description": current.description}
        services.update_team(session, team_id, {**data, **errors.json_body()})
        return _respond_team(session, team_id)

    @blp.response(204)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, team_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a team with its memberships and territories (admin keys)"""
        _admin()
        session = tenant_db()
        check_if_match(_represent_team(_team(session, team_id)))
        services.delete_team(session, team_id)


@blp.route("/teams/<uuid:team_id>/members", methods=["POST"])
@blp.doc(requestBody=_MEMBER)
@blp.response(201, TeamMemberRecordSchema)
@blp.alt_response(403, response="DEFAULT_ERROR")
@blp.alt_response(404, response="DEFAULT_ERROR")
@blp.alt_response(409, response="DEFAULT_ERROR")
@blp.alt_response(422, response="DEFAULT_ERROR")
def add_member(team_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """Put a workspace member in a team (admin keys)"""
    _admin()
    allowed = {user.id for _m, user in members_of(current_tenant().id)}
    return services.add_member(tenant_db(), team_id, errors.json_body(), allowed=allowed)


@blp.route("/teams/<uuid:team_id>/members/<uuid:member_id>")
class TeamMemberById(MethodView):
    @blp.doc(requestBody=_MEMBER_PATCH)
    @blp.response(200, TeamMemberRecordSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, team_id: uuid.UUID, member_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Make a team member a manager of the team, or not (admin keys)"""
        _admin()
        session = tenant_db()
        member = session.get(TeamMember, member_id)
        if member is None or member.team_id != queries.get_team(session, team_id).id:
            errors.fail(404, "There is no such member in this team.")
        try:
            values = TeamMemberPatchSchema().load(errors.json_body())
        except ma.ValidationError as exc:
            errors.fail(422, "Some fields are not valid.", errors={"json": exc.messages})
        return services.set_manager(session, team_id, member_id, values["is_manager"])

    @blp.response(204)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def delete(self, team_id: uuid.UUID, member_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Take a member out of a team (admin keys)"""
        _admin()
        services.remove_member(tenant_db(), team_id, member_id)


# -- territories ----------------------------------------------------------------------------------
def _respond_territory(territory: Territory, status: int = 200) -> Response:
    return record_response(_territory_dict(territory), status)


@blp.route("/territories")
class Territories(MethodView):
    @blp.arguments(TerritoryListArgs, location="query")
    @blp.response(200, TerritoryPageSchema)
    def get(self, args: dict[str, Any]):  # type: ignore[no-untyped-def]
        """List territories (by default in the order routing tries them)"""
        session = tenant_db()
        stmt = select(Territory)
        q = (args["q"] or "").strip()
        if q:
            stmt = stmt.where(Territory.name.icontains(q, autoescape=True))
        if args["team_id"]:
            stmt = stmt.where(Territory.team_id == args["team_id"])
        keys = {
            "priority": Territory.priority,
            "name": func.lower(Territory.name),
            "created_at": Territory.created_at,
        }
        page, sort = _page(session, stmt, Territory.id, keys, "-priority", args)
        return page_body(page, sort, page.items)

    @blp.doc(requestBody=_TERRITORY)
    @blp.response(201, TerritoryRecordSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def post(self):  # type: ignore[no-untyped-def]
        """Create a territory routing to a team (admin keys)"""
        _admin()
        return _respond_territory(services.create_territory(tenant_db(), errors.json_body()), 201)


@blp.route("/territories/<uuid:territory_id>")
class TerritoryById(MethodView):
    @blp.response(200, TerritoryRecordSchema)
    @blp.alt_response(404, response="DEFAULT_ERROR")
    def get(self, territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Read a territory"""
        return _respond_territory(queries.get_territory(tenant_db(), territory_id))

    @blp.doc(requestBody=_TERRITORY)
    @blp.response(200, TerritoryRecordSchema)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    @blp.alt_response(422, response="DEFAULT_ERROR")
    def patch(self, territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Change some rules of a territory (admin keys)"""
        _admin()
        session = tenant_db()
        current = _territory_dict(queries.get_territory(session, territory_id))
        check_if_match(current)
        data = {name: current[name] for name in services.TERRITORY_FIELDS}
        return _respond_territory(
            services.update_territory(session, territory_id, {**data, **errors.json_body()})
        )

    @blp.response(204)
    @blp.alt_response(403, response="DEFAULT_ERROR")
    @blp.alt_response(404, response="DEFAULT_ERROR")
    @blp.alt_response(412, response="DEFAULT_ERROR")
    def delete(self, territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
        """Delete a territory (admin keys)"""
        _admin()
        session = tenant_db()
        check_if_match(_territory_dict(queries.get_territory(session, territory_id)))
        services.delete_territory(session, territory_id)
