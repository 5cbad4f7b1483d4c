"""Teams and territories in the workspace settings (owners and admins only).

Teams group members; territories are rules (countries, regions, industries) with a priority that
route new leads to a team, whose members then take them in turn.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity import members as workspace_members
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.schemas import countries
from rapport.tenants.teams import queries, services
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("teams", __name__, "/settings/teams")
TERRITORY_KEYS = ("name", "team_id", "priority", "countries", "regions", "industries")


@bp.before_request
def _admins_only() -> None:
    require_role(*MANAGERS)


def _people() -> dict[uuid.UUID, str]:
    return {
        user.id: user.name or user.email
        for _m, user in workspace_members.members_of(g.workspace.id)
    }


def _team(team_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_team(tenant_db(), team_id)
    except NotFound:
        abort(404)


def _territory(territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        return queries.get_territory(tenant_db(), territory_id)
    except NotFound:
        abort(404)


def _index(status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    session = tenant_db()
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return render_template(
        "teams/index.html",
        teams=queries.list_teams(session),
        members=queries.members_by_team(session),
        territories=queries.list_territories(session),
        team_names=dict(queries.team_choices(session)),
        people=_people(),
        **context,
    ), status


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _index()


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = {
        "name": request.form.get("name", ""),
        "description": request.form.get("description", ""),
    }
    try:
        team = services.create_team(tenant_db(), form)
    except ValidationFailed as exc:
        return _index(422, errors=exc.errors, form=form)
    flash(f"Team “{team.name}” created. Add its members next.", "success")
    return redirect(url_for(".detail", team_id=team.id), 303)


def _detail(team, status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    session = tenant_db()
    people = _people()
    in_team = queries.members(session, team.id)
    taken = {m.user_id for m in in_team}
    context.setdefault("errors", {})
    context.setdefault("form", {"name": team.name, "description": team.description or ""})
    return render_template(
        "teams/detail.html",
        team=team,
        team_members=in_team,
        people=people,
        candidates=[(uid, label) for uid, label in people.items() if uid not in taken],
        territories=[t for t in queries.list_territories(session) if t.team_id == team.id],
        **context,
    ), status


@bp.get("/<uuid:team_id>")
def detail(team_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _detail(_team(team_id))


@bp.post("/<uuid:team_id>/edit")
def update(team_id: uuid.UUID):  # type: ignore[no-untyped-def]
    team = _team(team_id)
    form = {
        "name": request.form.get("name", ""),
        "description": request.form.get("description", ""),
    }
    try:
        services.update_team(tenant_db(), team.id, form)
    except ValidationFailed as exc:
        return _detail(team, 422, errors=exc.errors, form=form)
    flash("Team saved.", "success")
    return redirect(url_for(".detail", team_id=team.id), 303)


@bp.get("/<uuid:team_id>/delete")
def confirm_delete(team_id: uuid.UUID):  # type: ignore[no-untyped-def]
    team = _team(team_id)
    session = tenant_db()
    territories = [t for t in queries.list_territories(session) if t.team_id == team.id]
    return render_template("teams/delete.html", team=team, territories=territories)


@bp.post("/<uuid:team_id>/delete")
def delete(team_id: uuid.UUID):  # type: ignore[no-untyped-def]
    team = _team(team_id)
    name = team.name
    services.delete_team(tenant_db(), team.id)
    flash(f"Team “{name}” deleted.", "success")
    return redirect(url_for(".index"), 303)


@bp.post("/<uuid:team_id>/members")
def add_member(team_id: uuid.UUID):  # type: ignore[no-untyped-def]
    team = _team(team_id)
    form = {"user_id": request.form.get("user_id", ""),
            "is_manager": bool(request.form.get("is_manager"))}  # fmt: skip
    try:
        services.add_member(tenant_db(), team.id, form, allowed=set(_people()))
    except ValidationFailed as exc:
        return _detail(team, 422, errors=exc.errors)
    except Conflict as exc:
        return _detail(team, 409, errors={"user_id": [exc.message]})
    flash(f"{_people().get(uuid.UUID(form['user_id']), 'Member')} joined {team.name}.", "success")
    return redirect(url_for(".detail", team_id=team.id), 303)


@bp.post("/<uuid:team_id>/members/<uuid:member_id>/manager")
def toggle_manager(team_id: uuid.UUID, member_id: uuid.UUID):  # type: ignore[no-untyped-def]
    team = _team(team_id)
    try:
        services.set_manager(tenant_db(), team.id, member_id, bool(request.form.get("is_manager")))
    except NotFound:
        abort(404)
    flash("Team role saved.", "success")
    return redirect(url_for(".detail", team_id=team.id), 303)


@bp.post("/<uuid:team_id>/members/<uuid:member_id>/remove")
def remove_member(team_id: uuid.UUID, member_id: uuid.UUID):  # type: ignore[no-untyped-def]
    team = _team(team_id)
    try:
        services.remove_member(tenant_db(), team.id, member_id)
    except NotFound:
        abort(404)
    flash(f"Removed from {team.name}.", "success")
    return redirect(url_for(".detail", team_id=team.id), 303)


# -- territories ----------------------------------------------------------------------------------
def _territory_form() -> dict[str, str]:
    form = {key: request.form.get(key, "") for key in TERRITORY_KEYS}
    # Industries are ticked from the tenant's list (a lead's industry is one of its values).
    form["industries"] = ", ".join(request.form.getlist("industries"))
    return form


def _territory_page(territory, status: int = 200, **context: Any):  # type: ignore[no-untyped-def]
    context.setdefault("errors", {})
    return render_template(
        "teams/territory.html",
        territory=territory,
        teams=queries.team_choices(tenant_db()),
        countries=countries(),
        **context,
    ), status


@bp.get("/territories/new")
def new_territory():  # type: ignore[no-untyped-def]
    form = {"team_id": request.args.get("team_id", ""), "priority": "100"}
    return _territory_page(None, form=form)


@bp.post("/territories")
def create_territory():  # type: ignore[no-untyped-def]
    form = _territory_form()
    try:
        territory = services.create_territory(tenant_db(), form)
    except ValidationFailed as exc:
        return _territory_page(None, 422, form=form, errors=exc.errors)
    flash(f"Territory “{territory.name}” created.", "success")
    return redirect(url_for(".index"), 303)


@bp.get("/territories/<uuid:territory_id>/edit")
def edit_territory(territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
    territory = _territory(territory_id)
    form = {
        "name": territory.name,
        "team_id": str(territory.team_id),
        "priority": str(territory.priority),
        "countries": ", ".join(territory.countries or ()),
        "regions": ", ".join(territory.regions or ()),
        "industries": ", ".join(territory.industries or ()),
    }
    return _territory_page(territory, form=form)


@bp.post("/territories/<uuid:territory_id>/edit")
def update_territory(territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
    territory = _territory(territory_id)
    form = _territory_form()
    try:
        services.update_territory(tenant_db(), territory.id, form)
    except ValidationFailed as exc:
        return _territory_page(territory, 422, form=form, errors=exc.errors)
    flash("Territory saved.", "success")
    return redirect(url_for(".index"), 303)


@bp.get("/territories/<uuid:territory_id>/delete")
def confirm_delete_territory(territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return render_template("teams/territory_delete.html", territory=_territory(territory_id))


@bp.post("/territories/<uuid:territory_id>/delete")
def delete_territory(territory_id: uuid.UUID):  # type: ignore[no-untyped-def]
    territory = _territory(territory_id)
    name = territory.name
    services.delete_territory(tenant_db(), territory.id)
    flash(f"Territory “{name}” deleted.", "success")
    return redirect(url_for(".index"), 303)
