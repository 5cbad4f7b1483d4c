"""Blueprints that live under ``/<slug>/``: tenant resolution and membership for every view.

A workspace blueprint resolves the tenant from the path, requires a signed-in member, sets the
audit actor and opens nothing else: the tenant session is opened on first use by ``tenant_db()``
and committed once at the end of the request.
"""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, request, url_for

from rapport.platform.audit.context import Actor, set_actor
from rapport.platform.identity.services import membership
from rapport.platform.tenancy.scope import load_tenant, set_request_tenant, tenant_db
from rapport.platform.tenancy.slugs import RESERVED
from rapport.tenants import records
from rapport.tenants.modules import services as modules
from rapport.tenants.roles import access
from rapport.web.auth import current_user


def _resolve(_endpoint: str | None, values: dict | None) -> None:  # type: ignore[type-arg]
    slug = (values or {}).pop("slug", None)
    if slug is None:
        return
    g.slug = slug
    tenant = None if slug in RESERVED else load_tenant(slug=slug)
    g.workspace = tenant


def _require_member():  # type: ignore[no-untyped-def]
    tenant = g.get("workspace")
    if tenant is None:
        abort(404)
    user = current_user()
    if user is None:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    member = membership(user.id, tenant.id)
    if member is None:
        # Do not tell outsiders whether a workspace exists.
        abort(404)
    g.membership = member
    set_request_tenant(tenant)
    set_actor(Actor("user", str(user.id), user.email))
    access.bind(tenant_db(), user.id, member.role)
    _module_gate()
    _read_gate()
    return None


def _module_gate() -> None:
    """A switched-off module's pages answer 404, as if they did not exist."""
    module = modules.module_of_endpoint(request.endpoint)
    if module is not None and not modules.is_enabled(tenant_db(), module):
        abort(404)


def _read_gate() -> None:
    """A record type's pages refuse roles that may not read it (its records are filtered anyway)."""
    name = request.blueprint
    if name and records.exists(name) and not access.can(tenant_db(), name, "read"):
        abort(403, f"Your role may not see {records.get(name).label.lower()}.")


def _inject_slug(endpoint: str, values: dict) -> None:  # type: ignore[type-arg]
    if "slug" not in values and g.get("workspace") is not None:
        values["slug"] = g.workspace.slug


def workspace_blueprint(name: str, import_name: str, url_prefix: str = "") -> Blueprint:
    """Make a blueprint mounted at ``/<slug><url_prefix>`` with tenant and membership checks."""
    bp = Blueprint(name, import_name, url_prefix=f"/<slug>{url_prefix}")
    bp.url_value_preprocessor(_resolve)
    bp.before_request(_require_member)
    bp.url_defaults(_inject_slug)
    return bp


def require_role(*roles: str) -> None:
    """Refuse the request unless the member has one of these roles."""
    member = g.get("membership")
    if member is None or member.role not in roles:
        abort(403)


def require_admin() -> None:
    """Refuse the request unless the member's role administers the workspace."""
    if g.get("membership") is None or not access.administers(tenant_db()):
        abort(403, "Only roles that administer the workspace can do this.")
