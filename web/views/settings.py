"""Workspace settings: the index and the members page (invite, revoke, change role, remove)."""

from __future__ import annotations

import uuid

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for

from rapport.platform.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rapport.platform.identity import members
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.roles import services as tenant_roles
from rapport.web.auth import current_user
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("settings", __name__, "/settings")


# (label, endpoint, help); sections whose view is not registered are left out.
SECTIONS = (
    (
        "Members",
        "settings.members",
        "Who works in this workspace; invite colleagues and set their roles.",
    ),
    (
        "API keys",
        "api_keys.index",
        "Keys for integrations to use the REST API; created, revoked and last used.",
    ),
    (
        "Webhooks",
        "webhooks.index",
        "Signed HTTP calls to your systems when records change; delivery log and redelivery.",
    ),
    (
        "Billing",
        "billing.index",
        "Plan, seats, trial and this period's usage against what the plan includes.",
    ),
    (
        "Fields",
        "fields.index",
        "Custom fields of companies, contacts and deals: types, rules, options and order.",
    ),
    (
        "Pipelines",
        "pipelines.index",
        "The stages deals move through, with their probabilities.",
    ),
    (
        "Picklists",
        "picklists.index",
        "Lead statuses and sources, activity types, loss reasons, industries: every list "
        "people pick from.",
    ),
    (
        "Modules",
        "modules.index",
        "Switch parts of Rapport on or off for everybody, within what the plan includes.",
    ),
    (
        "Workflows",
        "workflows.index",
        "Automations: when a record is created or changed and conditions hold, update fields, "
        "create tasks, send emails; with a log of every run.",
    ),
    (
        "Import data",
        "imports.index",
        "Bring companies, contacts, leads, deals and activities in from CSV or Excel files, "
        "with a preview of every row's errors before anything is written.",
    ),
    (
        "Roles and permissions",
        "roles.index",
        "What each role may create, read, change, delete and export, which records it sees, "
        "and the fields it may not change or see.",
    ),
    (
        "Teams and territories",
        "teams.index",
        "Who sells where: teams, their members, and the territories that route new leads.",
    ),
    (
        "Lead capture form",
        "leads.capture_form",
        "The public web form that turns your website's visitors into leads, and its embed code.",
    ),
    (
        "Audit log",
        "settings.audit",
        "Every security-relevant action and record change, hash-chained.",
    ),
)


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    sections = [
        {"label": label, "url": url_for(endpoint), "help": help_text}
        for label, endpoint, help_text in SECTIONS
        if endpoint in current_app.view_functions
    ]
    return render_template("settings/index.html", sections=sections)


def _members_page(
    errors: dict[str, list[str]] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
):  # type: ignore[no-untyped-def]
    role = g.membership.role
    names = dict(tenant_roles.choices(tenant_db()))
    roles = [(key, name) for key, name in names.items() if role == "owner" or key != "owner"]
    return render_template(
        "settings/members.html",
        members=members.members_of(g.workspace.id),
        invitations=members.pending_invitations(g.workspace.id),
        can_manage=role in members.MANAGERS,
        is_owner=role == "owner",
        roles=roles,
        role_label=lambda key: names.get(key, members.role_label(key)),
        me=g.membership,
        errors=errors or {},
        values=values or {"email": "", "role": "sales_rep"},
    ), status


@bp.get("/members", endpoint="members")
def members_page():  # type: ignore[no-untyped-def]
    return _members_page()


@bp.post("/members/invite")
def invite():  # type: ignore[no-untyped-def]
    require_role(*members.MANAGERS)
    values = {"email": request.form.get("email", ""), "role": request.form.get("role", "")}
    user = current_user()
    assert user is not None
    try:
        invitation = members.invite(
            tenant_db(), g.workspace, g.membership, user, values["email"], values["role"]
        )
    except ValidationFailed as exc:
        return _members_page(exc.errors, values, 422)
    except PermissionDenied as exc:
        abort(403, description=exc.message)
    flash(f"Invitation sent to {invitation.email}.", "success")
    return redirect(url_for("settings.members"))


@bp.post("/members/invitations/<uuid:invitation_id>/revoke")
def revoke_invitation(invitation_id: uuid.UUID):  # type: ignore[no-untyped-def]
    require_role(*members.MANAGERS)
    return _act(
        lambda: members.revoke_invitation(tenant_db(), g.workspace, g.membership, invitation_id),
        "Invitation revoked.",
    )


@bp.post("/members/<uuid:membership_id>/role")
def change_role(membership_id: uuid.UUID):  # type: ignore[no-untyped-def]
    require_role(*members.MANAGERS)
    role = request.form.get("role", "")
    return _act(
        lambda: members.change_role(tenant_db(), g.workspace, g.membership, membership_id, role),
        f"Role changed to {members.role_label(role)}.",
    )


@bp.post("/members/<uuid:membership_id>/remove")
def remove_member(membership_id: uuid.UUID):  # type: ignore[no-untyped-def]
    require_role(*members.MANAGERS)
    return _act(
        lambda: members.remove(tenant_db(), g.workspace, g.membership, membership_id),
        "Member removed.",
    )


def _act(operation, success: str):  # type: ignore[no-untyped-def]
    try:
        operation()
    except NotFound:
        abort(404)
    except PermissionDenied as exc:
        abort(403, description=exc.message)
    except (Conflict, ValidationFailed) as exc:
        flash(exc.message if isinstance(exc, Conflict) else _first(exc), "error")
        return redirect(url_for("settings.members"))
    flash(success, "success")
    return redirect(url_for("settings.members"))


def _first(exc: ValidationFailed) -> str:
    return next((m for msgs in exc.errors.values() for m in msgs), exc.message)
