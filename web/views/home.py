"""The site root: send people to their workspace, or to sign-in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for

from rapport.platform.errors import ValidationFailed
from rapport.platform.identity.services import add_workspace, memberships_of
from rapport.web.auth import current_user, login_required

bp = Blueprint("home", __name__)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    user = current_user()
    if user is None:
        return render_template("home/landing.html")
    workspaces = memberships_of(user.id)
    last = session.get("last_workspace")
    for _membership, tenant in workspaces:
        if tenant.slug == last:
            return redirect(url_for("workspace.home", slug=tenant.slug))
    if len(workspaces) == 1:
        return redirect(url_for("workspace.home", slug=workspaces[0][1].slug))
    return render_template("home/workspaces.html", workspaces=workspaces)


@bp.route("/workspaces/new", methods=["GET", "POST"])
@login_required
def new_workspace():  # type: ignore[no-untyped-def]
    """A signed-in user creates another workspace, which they own."""
    values = {name: request.form.get(name, "") for name in ("company_name", "slug")}
    if request.method == "GET":
        return render_template("home/new_workspace.html", values=values, errors={})
    user = current_user()
    try:
        created = add_workspace(user, company_name=values["company_name"], slug=values["slug"])
    except ValidationFailed as exc:
        return render_template("home/new_workspace.html", values=values, errors=exc.errors), 422
    session["last_workspace"] = created.tenant.slug
    flash(f"Your workspace {created.tenant.name} is ready.", "success")
    return redirect(url_for("workspace.home", slug=created.tenant.slug))
