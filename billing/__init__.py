"""Plans, subscriptions, usage metering, quotas and the Stripe gateway.

``plans`` (the catalog in code), ``models`` (subscriptions, hourly usage, handled Stripe events,
billing notices; control plane), ``services`` (trial, plan and state changes), ``access`` (state →
full / read-only / none, enforced at the tenant session's flush), ``levels`` (stored records and
file storage counted per tenant as each flush changes them, refused past the hard caps),
``metering`` (the hourly totals
job), ``quotas`` (soft and hard limits; the API quota checked in the rate limiter's Redis call),
``catalog`` (plans as Stripe products, prices and meters), ``meter_push`` (hourly totals to Stripe
Billing Meters, reconciliation), ``stripe_gateway`` (Checkout, portal, plan changes, invoices,
webhooks), ``lifecycle`` (the periodic sweep: trials, periods, retention, soft-limit emails,
seats) and ``notices`` (billing emails, once per occasion). :func:`init_app` wires them into an
application.
"""

from __future__ import annotations

from typing import Any

from flask import Flask


def init_app(app: Flask) -> None:
    """Enforce read-only workspaces on every flush and show billing state in the browser."""
    from flask import g, render_template, request

    from rapport.billing import access
    from rapport.platform.tenancy.scope import add_flush_guard

    add_flush_guard(app, access.flush_guard)
    from rapport.billing import quotas

    # The API's hot path checks and counts the period quota with the rate limit, in one call.
    app.extensions["rapport.api_quota"] = quotas.api_quota

    def _read_only_page(exc: access.WorkspaceReadOnly):  # type: ignore[no-untyped-def]
        title = "Read-only workspace"
        page = render_template("errors/error.html", code=402, title=title, message=exc.message)
        return page, 402

    app.register_error_handler(access.WorkspaceReadOnly, _read_only_page)

    # Hard caps of levels (stored records, file storage), counted as each flush changes them.
    from sqlalchemy import event

    from rapport.platform.tenancy.scope import TenantSession

    app.extensions["rapport.levels"] = True
    if not event.contains(TenantSession, "before_flush", _count_levels):
        event.listen(TenantSession, "before_flush", _count_levels)

    def _over_limit_page(exc: quotas.LevelExceeded):  # type: ignore[no-untyped-def]
        # Forms show it next to the field; a write that fails elsewhere lands here.
        page = render_template("errors/error.html", code=402, title="Limit reached",
                               message=exc.message)  # fmt: skip
        return page, 402

    app.register_error_handler(quotas.LevelExceeded, _over_limit_page)

    @app.before_request
    def _refuse_suspended():  # type: ignore[no-untyped-def]
        # Runs after the workspace blueprint resolved ``g.workspace`` from the path, before its
        # membership check: answer only members, so outsiders learn nothing about the workspace.
        workspace = g.get("workspace")
        if workspace is None or request.path.startswith("/api/"):
            return None
        state = access.access_for(workspace.id)
        if state.readable or not _is_member(workspace.id):
            return None
        page = render_template(
            "errors/error.html", code=403, title="Suspended", message=state.message
        )
        return page, 403

    app.jinja_env.globals["billing_banner"] = banner_lines
    from rapport.web.views.billing import webhook_bp

    app.register_blueprint(webhook_bp)


def _count_levels(session: Any, _context: Any, _instances: Any) -> None:
    """Count the flush's new and deleted records and attachment bytes; refuse past a hard cap.

    Runs after the read-only guard (registered later on the same event). The refused objects
    leave the session, so the form that sent them can be shown again with the message."""
    from rapport.billing import access, levels, quotas

    if not levels.enabled():
        return
    try:
        levels.count_changes(session, quotas.level_cap)
    except levels.LimitReached as exc:
        access.discard_pending(session)
        tenant_id = session.info["tenant"].id
        raise quotas.level_refusal(tenant_id, exc.meter, exc.total, exc.cap) from None


def _is_member(tenant_id: Any) -> bool:
    from rapport.platform.identity.services import membership
    from rapport.web.auth import current_user

    user = current_user()
    return user is not None and membership(user.id, tenant_id) is not None


def banner_lines() -> list[dict[str, Any]]:
    """What the workspace banner says: trial days, grace, read-only, quota warnings."""
    from flask import g

    from rapport.billing import access, quotas

    workspace = g.get("workspace")
    if workspace is None:
        return []
    state = access.access_for(workspace.id)
    lines: list[dict[str, Any]] = []
    if state.banner:
        kind = "info" if state.writable else "error"
        lines.append({"kind": kind, "text": state.banner, "upgrade": state.upgrade})
    for text in quotas.warnings(workspace.id):
        lines.append({"kind": "warning", "text": text, "upgrade": True})
    return lines
