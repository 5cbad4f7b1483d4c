"""API keys in the browser (owners and admins): list, create (the key is shown once), revoke,
and the interactive documentation of this workspace's own API."""

from __future__ import annotations

import uuid

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.apikeys import services
from rapport.platform.db import db
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.roles import services as tenant_roles
from rapport.web.auth import current_user
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("api_keys", __name__, "/settings/api-keys")

EXPIRY_CHOICES = (("", "Never"), ("30", "30 days"), ("90", "90 days"), ("365", "1 year"))


@bp.before_request
def _managers_only() -> None:
    require_role(*members.MANAGERS)


def _page(
    *,
    created: tuple[object, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
):  # type: ignore[no-untyped-def]
    names = dict(tenant_roles.choices(tenant_db()))
    response = render_template(
        "api_keys/index.html",
        keys=services.list_keys(db.session, g.workspace.id),
        roles=[(key, name) for key, name in names.items() if key != "owner"],
        role_label=lambda key: names.get(key, members.role_label(key)),
        expiry_choices=EXPIRY_CHOICES,
        created=created,
        errors=errors or {},
        values=values or {"name": "", "role": services.DEFAULT_ROLE, "expires": ""},
    )
    headers = {"Cache-Control": "no-store"} if created else {}
    return response, status, headers


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _page()


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    values = {
        "name": request.form.get("name", ""),
        "role": request.form.get("role", ""),
        "expires": request.form.get("expires", ""),
    }
    days = None
    if values["expires"]:
        if not values["expires"].isdigit():
            return _page(errors={"expires": ["Choose an expiry."]}, values=values, status=422)
        days = int(values["expires"])
    user = current_user()
    try:
        key, text = services.create_key(
            db.session,
            g.workspace,
            values["name"],
            values["role"],
            expires_in_days=days,
            created_by=user.id if user else None,
        )
    except ValidationFailed as exc:
        return _page(errors=exc.errors, values=values, status=422)
    # Rendered, not redirected: the key must not be parked in the session to survive a redirect.
    return _page(created=(key, text))


@bp.post("/<uuid:key_id>/revoke")
def revoke(key_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        key = services.revoke_key(db.session, key_id, tenant_id=g.workspace.id)
    except NotFound:
        abort(404)
    flash(f"API key “{key.name}” revoked; requests with it now fail.", "success")
    return redirect(url_for("api_keys.index"), 303)


@bp.get("/docs")
def docs():  # type: ignore[no-untyped-def]
    """The workspace's OpenAPI document, readable and callable with a pasted key."""
    from rapport.api.openapi import document_for

    document = document_for(g.workspace)
    return (
        render_template("api_keys/docs.html", document=document),
        200,
        {"Cache-Control": "no-store"},
    )
