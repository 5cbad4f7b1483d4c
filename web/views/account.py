"""The signed-in person's own account: their name and the time zone every page shows times in."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from rapport.platform import timezones
from rapport.platform.audit.chain import record_platform
from rapport.platform.db import db
from rapport.web.auth import current_user, login_required

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("/")
@login_required
def index():  # type: ignore[no-untyped-def]
    user = current_user()
    return _page({"name": user.name, "timezone": user.timezone or timezones.UTC_NAME}, {})


def _page(form: dict[str, str], errors: dict[str, list[str]], status: int = 200):  # type: ignore[no-untyped-def]
    return render_template(
        "account/index.html", form=form, errors=errors, zones=timezones.zone_names()
    ), status


@bp.post("/")
@login_required
def update():  # type: ignore[no-untyped-def]
    user = current_user()
    form = {k: request.form.get(k, "").strip() for k in ("name", "timezone")}
    errors: dict[str, list[str]] = {}
    if not form["name"] or len(form["name"]) > 200:
        errors["name"] = ["Enter your name (at most 200 characters)."]
    if not timezones.valid(form["timezone"]):
        errors["timezone"] = ["Choose a time zone from the list."]
    if errors:
        return _page(form, errors, 422)
    changes = {}
    if form["name"] != user.name:
        changes["name"] = [user.name, form["name"]]
        user.name = form["name"]
    zone = None if form["timezone"] == timezones.UTC_NAME else form["timezone"]
    if zone != user.timezone:
        changes["timezone"] = [user.timezone, zone]
        user.timezone = zone
    if changes:
        record_platform(db.session, "user.updated", "user", user.id, changes)
    flash("Saved. Times now show in " + form["timezone"] + ".", "success")
    return redirect(url_for("account.index"))
