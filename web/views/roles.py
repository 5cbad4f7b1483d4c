"""Roles and permissions: the list of roles and the matrix editor (roles that administer only)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import Conflict, PermissionDenied, ValidationFailed
from rapport.platform.tenancy.scope import current_tenant, tenant_db
from rapport.tenants import records
from rapport.tenants.roles import services as roles
from rapport.tenants.roles.fields import configurable
from rapport.tenants.roles.policy import (
    ACTION_LABELS,
    ACTIONS,
    FIELD_ACCESS,
    FIELD_ACCESS_LABELS,
    FULL_ROLES,
    VISIBILITIES,
    VISIBILITY_LABELS,
)
from rapport.web.workspace import require_admin, workspace_blueprint

bp = workspace_blueprint("roles", __name__, "/settings/roles")


@bp.before_request
def _admins_only() -> None:
    if g.get("membership") is not None:
        require_admin()


def _held(role_key: str) -> int:
    return roles.members_with_role(current_tenant().id, role_key)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _index({}, {})


def _index(form: dict[str, Any], errors: dict[str, list[str]], status: int = 200):  # type: ignore[no-untyped-def]
    session = tenant_db()
    rows = roles.roles(session)
    return render_template(
        "roles/index.html",
        roles=rows,
        held={r.key: _held(r.key) for r in rows},
        full_roles=FULL_ROLES,
        form=form,
        errors=errors,
    ), status


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    form = request.form.to_dict()
    try:
        role = roles.create_role(tenant_db(), form.get("name", ""), copy_of=form.get("copy_of"))
    except ValidationFailed as exc:
        return _index(form, exc.errors, 422)
    flash(f"Role {role.name} created; set what it may do below.", "success")
    return redirect(url_for("roles.edit", role_id=role.id))


def _matrix_from_form() -> tuple[dict[str, Any], dict[str, Any]]:
    spec: dict[str, Any] = {}
    for name in records.names():
        spec[name] = {a: request.form.get(f"{name}.{a}") == "on" for a in ACTIONS}
        spec[name]["visibility"] = request.form.get(f"{name}.visibility", "own")
    field_spec: dict[str, dict[str, str]] = {}
    prefix = "field."
    for key, value in request.form.items():
        if key.startswith(prefix) and value != "edit":
            _, type_name, field_name = key.split(".", 2)
            field_spec.setdefault(type_name, {})[field_name] = value
    return spec, field_spec


def _editor(role, errors: dict[str, list[str]], status: int = 200, matrix=None, field_rules=None):  # type: ignore[no-untyped-def]
    session = tenant_db()
    return render_template(
        "roles/edit.html",
        role=role,
        locked=role.key in FULL_ROLES,
        held=_held(role.key),
        types=records.all_types(),
        actions=ACTIONS,
        action_labels=ACTION_LABELS,
        visibilities=VISIBILITIES,
        visibility_labels=VISIBILITY_LABELS,
        field_access=FIELD_ACCESS,
        field_access_labels=FIELD_ACCESS_LABELS,
        matrix=matrix if matrix is not None else _current_matrix(role),
        field_rules=field_rules if field_rules is not None else (role.fields or {}),
        fields={t.name: configurable(session, t.name) for t in records.all_types()},
        errors=errors,
    ), status


def _current_matrix(role) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    policy = roles.policy(tenant_db(), role.key)
    return {name: policy.rule(name).as_dict() for name in records.names()}


@bp.get("/<uuid:role_id>")
def edit(role_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _editor(roles.get_role(tenant_db(), role_id), {})


@bp.post("/<uuid:role_id>")
def update(role_id: uuid.UUID):  # type: ignore[no-untyped-def]
    session = tenant_db()
    role = roles.get_role(session, role_id)
    matrix, field_rules = _matrix_from_form()
    try:
        roles.update_role(
            session,
            role_id,
            name=None if role.built_in else request.form.get("name", role.name),
            description=request.form.get("description", role.description or ""),
            records_spec=matrix,
            fields_spec=field_rules,
        )
    except ValidationFailed as exc:
        return _editor(role, exc.errors, 422, matrix, field_rules)
    except PermissionDenied as exc:
        abort(403, str(exc))
    flash(
        f"Role {role.name} saved. Members holding it get the change on their next page.", "success"
    )
    return redirect(url_for("roles.edit", role_id=role_id))


@bp.post("/<uuid:role_id>/delete")
def delete(role_id: uuid.UUID):  # type: ignore[no-untyped-def]
    session = tenant_db()
    role = roles.get_role(session, role_id)
    if request.form.get("confirm") != role.name:
        flash(f"Type the role's name, {role.name}, to delete it.", "error")
        return redirect(url_for("roles.edit", role_id=role_id))
    try:
        roles.delete_role(session, role_id)
    except (Conflict, PermissionDenied) as exc:
        flash(str(exc), "error")
        return redirect(url_for("roles.edit", role_id=role_id))
    flash(f"Role {role.name} deleted.", "success")
    return redirect(url_for("roles.index"))
