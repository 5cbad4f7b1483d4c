"""The site root: send people to their workspace, or to sign-in."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, session, url_for

from rapport.platform.identity.services import memberships_of
from rapport.web.auth import current_user

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
