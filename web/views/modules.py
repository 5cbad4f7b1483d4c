"""Modules: switch parts of Rapport on or off for the whole workspace (roles that administer)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import PermissionDenied, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.modules import services as modules
from rapport.tenants.modules.catalog import BY_KEY
from rapport.web.workspace import require_admin, workspace_blueprint

bp = workspace_blueprint("modules", __name__, "/settings/modules")


@bp.before_request
def _admins_only() -> None:
    if g.get("membership") is not None:
        require_admin()


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return render_template("modules/index.html", modules=modules.overview(tenant_db()))


@bp.post("/<key>")
def switch(key: str):  # type: ignore[no-untyped-def]
    if key not in BY_KEY:
        abort(404)
    on = request.form.get("enabled") == "on"
    try:
        modules.switch(tenant_db(), key, on)
    except (PermissionDenied, ValidationFailed) as exc:
        flash(str(exc) if isinstance(exc, PermissionDenied) else "Choose a module.", "error")
        return redirect(url_for("modules.index"))
    label = BY_KEY[key].label
    flash(f"{label} is {'on' if on else 'off'} for everybody in the workspace.", "success")
    return redirect(url_for("modules.index"))
