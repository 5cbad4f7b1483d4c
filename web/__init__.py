"""The browser surface: blueprints, templates and static assets."""

from __future__ import annotations

import importlib

from flask import Flask, current_app, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from rapport.platform.errors import DomainError, ValidationFailed
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import records
from rapport.tenants.modules import services as modules
from rapport.tenants.roles import access
from rapport.web import timezones

# Each module has a module-level ``bp``; the order is the order of registration.
BLUEPRINT_MODULES = (
    "rapport.web.views.home",
    "rapport.web.views.auth",
    "rapport.web.views.account",
    "rapport.web.views.workspace",
    "rapport.web.views.companies",
    "rapport.web.views.contacts",
    "rapport.web.views.deals",
    "rapport.web.views.pipelines",
    "rapport.web.views.fields",
    "rapport.web.views.settings",
    "rapport.web.views.api_keys",
    "rapport.web.views.audit",
    "rapport.web.views.billing",
    "rapport.web.views.teams",
    "rapport.web.views.leads",
    "rapport.web.views.lead_forms",
    "rapport.web.views.activities",
    "rapport.web.views.visits",
    "rapport.web.views.notes",
    "rapport.web.views.search",
    "rapport.web.views.webhooks",
    "rapport.web.views.picklists",
    "rapport.web.views.roles",
    "rapport.web.views.modules",
    "rapport.web.views.workflows",
    "rapport.web.views.imports",
)

# The workspace menu: (label, endpoint); entries whose view is not registered are left out.
WORKSPACE_NAV = (
    ("Home", "workspace.home"),
    ("Companies", "companies.index"),
    ("Contacts", "contacts.index"),
    ("Leads", "leads.index"),
    ("Deals", "deals.index"),
    ("Activities", "activities.index"),
    ("Calendar", "activities.calendar"),
    ("Visit plans", "visits.index"),
    ("Members", "settings.members"),
    ("Audit log", "audit.index"),
)


def workspace_nav() -> list[dict[str, object]]:
    items = []
    session = tenant_db()
    for label, endpoint in WORKSPACE_NAV:
        if endpoint in current_app.view_functions and _offered(session, endpoint):
            url = url_for(endpoint)
            items.append({"label": label, "url": url, "active": request.endpoint == endpoint
                          or (request.blueprint and endpoint.startswith(request.blueprint + ".")
                              and endpoint.endswith(".index"))})  # fmt: skip
    return items


def _offered(session, endpoint: str) -> bool:  # type: ignore[no-untyped-def]
    """Whether the menu offers a page: its module is on and the role may read its records."""
    if not modules.endpoint_enabled(session, endpoint):
        return False
    name = endpoint.split(".", 1)[0]
    return not records.exists(name) or access.can(session, name, "read")


_TITLES = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Not allowed", "You do not have permission to do that."),
    404: ("Not found", "There is nothing here. Check the address, or go back."),
    405: ("Not allowed", "That method is not allowed here."),
    413: ("Too large", "The upload is larger than allowed."),
    429: ("Slow down", "Too many requests. Wait a moment and try again."),
}


def _handle_http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
    if request.path.startswith("/api/"):
        return exc
    title, message = _TITLES.get(exc.code or 500, ("Error", "Something went wrong."))
    if exc.code in (400, 403) and exc.description and not exc.description.startswith("The "):
        message = exc.description
    return render_template(
        "errors/error.html", code=exc.code, title=title, message=message
    ), exc.code


def _handle_domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
    """A service's refusal that no view caught (a 403 from the roles, a 404, a 409): a page that
    says why, with the status it means, never a 500."""
    status = exc.status if 400 <= exc.status < 500 else 400
    if request.path.startswith("/api/"):  # the API's blueprints answer their own; a safety net
        from rapport.api.errors import error_response

        return error_response(status, exc.message)
    title, _default = _TITLES.get(status, ("Not possible", ""))
    message = exc.message
    if isinstance(exc, ValidationFailed) and exc.errors:
        message = " ".join(m for messages in exc.errors.values() for m in messages)
    return render_template("errors/error.html", code=status, title=title, message=message), status


def init_app(app: Flask) -> None:
    from rapport.platform.identity import sessions
    from rapport.tenants.fields import services as custom_fields
    from rapport.web import security
    from rapport.web.auth import current_user

    sessions.init_app(app)
    security.init_app(app)
    custom_fields.init_app(app)
    access.install()
    app.jinja_env.globals.update(
        current_user=current_user,
        workspace_nav=workspace_nav,
        can=lambda record_type, action: access.can(tenant_db(), record_type, action),
        may=lambda record, action: access.may(tenant_db(), record, action),
        hidden_fields=lambda record_type: access.hidden(tenant_db(), record_type),
        read_only_fields=lambda record_type: access.read_only(tenant_db(), record_type),
        administers=lambda: access.administers(tenant_db()),
        zone_name=timezones.zone_name,
    )
    app.jinja_env.filters["localtime"] = timezones.localtime
    app.register_error_handler(HTTPException, _handle_http_error)
    # Registered before billing's handlers of its own subclasses, which Flask prefers anyway.
    app.register_error_handler(DomainError, _handle_domain_error)
    import rapport.billing as billing

    billing.init_app(app)
    importlib.import_module("rapport.web.views.search").init_app(app)
    for name in BLUEPRINT_MODULES:
        app.register_blueprint(importlib.import_module(name).bp)
