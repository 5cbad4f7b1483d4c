"""A workspace's home page: the onboarding checklist and the switcher between workspaces."""

from __future__ import annotations

from flask import current_app, g, render_template, session, url_for
from sqlalchemy import func, select

from rapport.platform.identity.members import invitation_count, members_of, role_label
from rapport.platform.identity.services import memberships_of
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts.models import Contact
from rapport.web.auth import current_user
from rapport.web.workspace import workspace_blueprint

bp = workspace_blueprint("workspace", __name__)


def _link(endpoint: str) -> str | None:
    """A link to a page of this workspace, when that page exists in this deployment."""
    return url_for(endpoint) if endpoint in current_app.view_functions else None


def _count(model: type) -> int:
    return tenant_db().scalar(select(func.count()).select_from(model)) or 0


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    user = current_user()
    assert user is not None
    # Remembered so that the site root brings this user back here next time.
    if session.get("last_workspace") != g.workspace.slug:
        session["last_workspace"] = g.workspace.slug
    tenant_id = g.workspace.id
    checklist = [
        {
            "key": "verify_email",
            "label": f"Verify your email address ({user.email})",
            "done": user.email_verified_at is not None,
        },
        {
            "key": "invite",
            "label": "Invite a colleague",
            "done": invitation_count(tenant_id) > 0 or len(members_of(tenant_id)) > 1,
            "action": "Invite",
        },
        {
            "key": "company",
            "label": "Add your first company",
            "done": _count(Company) > 0,
            "action": "Add a company",
        },
        {
            "key": "contact",
            "label": "Add your first contact",
            "done": _count(Contact) > 0,
            "action": "Add a contact",
        },
    ]
    return render_template(
        "workspace/home.html",
        user=user,
        checklist=checklist,
        remaining=sum(1 for item in checklist if not item["done"]),
        links={
            "invite": _link("settings.members"),
            "company": _link("companies.new"),
            "contact": _link("contacts.new"),
        },
        workspaces=memberships_of(user.id),
        role_label=role_label,
    )
