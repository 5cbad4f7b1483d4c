"""Webhooks in the browser (owners and admins): endpoints, their delivery log, redelivery."""

from __future__ import annotations

import uuid
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for

from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.tenants import events
from rapport.tenants.roles import services as tenant_roles
from rapport.tenants.webhooks import queries, services
from rapport.tenants.webhooks.models import DELIVERY_STATES, WebhookEndpoint
from rapport.web.auth import current_user
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("webhooks", __name__, "/settings/webhooks")


@bp.before_request
def _admins_only() -> None:
    require_role(*MANAGERS)


def event_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """Event types grouped by what they are about (``company``, ``deal``…), for checkboxes."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, description in sorted(events.EVENT_TYPES.items()):
        groups.setdefault(name.partition(".")[0], []).append((name, description))
    return list(groups.items())


def _form() -> dict[str, Any]:
    return {
        "url": request.form.get("url", ""),
        "description": request.form.get("description", ""),
        "event_types": request.form.getlist("event_types"),
        "role": request.form.get("role", "admin"),
    }


def _roles() -> list[tuple[str, str]]:
    """The roles an endpoint may see as: every role but owner, as for API keys."""
    return [(key, name) for key, name in tenant_roles.choices(tenant_db()) if key != "owner"]


def _endpoint(endpoint_id: uuid.UUID) -> WebhookEndpoint:
    try:
        return queries.get_endpoint(tenant_db(), endpoint_id)
    except NotFound:
        abort(404)


def _index(
    *,
    created: tuple[WebhookEndpoint, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
):  # type: ignore[no-untyped-def]
    page = render_template(
        "webhooks/index.html",
        endpoints=queries.list_endpoints(tenant_db()),
        groups=event_groups(),
        created=created,
        errors=errors or {},
        roles=_roles(),
        values=values or {"url": "", "description": "", "event_types": [], "role": "admin"},
    )
    # The secret is on this page once: keep it out of caches.
    return page, status, {"Cache-Control": "no-store"} if created else {}


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    return _index()


@bp.post("/")
def create():  # type: ignore[no-untyped-def]
    values = _form()
    user = current_user()
    try:
        endpoint, secret = services.create_endpoint(
            tenant_db(), values, created_by=user.id if user else None
        )
    except ValidationFailed as exc:
        return _index(errors=exc.errors, values=values, status=422)
    # Rendered, not redirected: the secret must not wait in the session for the next page.
    return _index(created=(endpoint, secret))


def _detail(
    endpoint: WebhookEndpoint,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
):  # type: ignore[no-untyped-def]
    state = request.args.get("state") or None
    if state not in (None, *DELIVERY_STATES):
        state = None
    before = request.args.get("before")
    try:
        before_id = uuid.UUID(before) if before else None
    except ValueError:
        before_id = None
    deliveries = queries.list_deliveries(tenant_db(), endpoint.id, state=state, before=before_id)
    more = len(deliveries) == queries.DELIVERY_PAGE
    return (
        render_template(
            "webhooks/detail.html",
            endpoint=endpoint,
            groups=event_groups(),
            roles=_roles(),
            deliveries=deliveries,
            next_before=deliveries[-1].id if more else None,
            state=state,
            states=DELIVERY_STATES,
            errors=errors or {},
            values=values
            or {
                "url": endpoint.url,
                "description": endpoint.description or "",
                "event_types": endpoint.event_types or [],
                "role": endpoint.role,
            },
        ),
        status,
    )


@bp.get("/<uuid:endpoint_id>")
def detail(endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return _detail(_endpoint(endpoint_id))


@bp.post("/<uuid:endpoint_id>")
def update(endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    endpoint = _endpoint(endpoint_id)
    values = _form()
    try:
        services.update_endpoint(tenant_db(), endpoint.id, values)
    except ValidationFailed as exc:
        tenant_db().rollback()
        return _detail(_endpoint(endpoint_id), errors=exc.errors, values=values, status=422)
    flash("Endpoint saved.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint.id), 303)


@bp.post("/<uuid:endpoint_id>/enable")
def enable(endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    endpoint = services.set_enabled(tenant_db(), _endpoint(endpoint_id).id, True)
    flash(f"{endpoint.url} is enabled: new events are sent to it again.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint_id), 303)


@bp.post("/<uuid:endpoint_id>/disable")
def disable(endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    endpoint = services.set_enabled(tenant_db(), _endpoint(endpoint_id).id, False)
    flash(f"{endpoint.url} is disabled: no new events are sent to it.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint_id), 303)


@bp.post("/<uuid:endpoint_id>/delete")
def delete(endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    endpoint = _endpoint(endpoint_id)
    url = endpoint.url
    services.delete_endpoint(tenant_db(), endpoint.id)
    flash(f"Endpoint {url} deleted with its delivery log.", "success")
    return redirect(url_for("webhooks.index"), 303)


@bp.post("/<uuid:endpoint_id>/test")
def send_test(endpoint_id: uuid.UUID):  # type: ignore[no-untyped-def]
    services.send_test(tenant_db(), _endpoint(endpoint_id).id)
    flash("Test event queued; its delivery appears in the log below.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=endpoint_id), 303)


@bp.post("/deliveries/<uuid:delivery_id>/redeliver")
def redeliver(delivery_id: uuid.UUID):  # type: ignore[no-untyped-def]
    try:
        delivery = services.redeliver(tenant_db(), delivery_id)
    except NotFound:
        abort(404)
    flash(f"Delivery of {delivery.event_type} queued again.", "success")
    return redirect(url_for("webhooks.detail", endpoint_id=delivery.endpoint_id), 303)
