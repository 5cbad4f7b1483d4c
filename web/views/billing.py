"""The workspace's billing page: plan, state, seats, trial end, this period's usage (bars and a
daily chart drawn as SVG on the server), invoices, upgrade, plan changes and the Customer Portal."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlsplit

import stripe
from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)

from rapport.billing import access, levels, quotas, services, stripe_gateway
from rapport.billing.plans import METER_LABELS, METERS, PLANS, plan_or_trial
from rapport.platform.db import db, utcnow
from rapport.platform.errors import DomainError
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.web.security import csrf_exempt
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("billing", __name__, "/settings/billing")
log = logging.getLogger(__name__)
CHART_METERS = ("api_calls", "workflow_runs", "emails", "records")

STATE_LABELS = {
    "trialing": "Free trial",
    "active": "Active",
    "past_due": "Payment overdue",
    "unpaid": "Unpaid",
    "canceled": "Canceled",
    "suspended": "Suspended",
}


def daily_chart(
    days: list[tuple[dt.date, int]], included: int, width: int = 640, height: int = 180
) -> dict[str, object]:
    """Bar geometry for the SVG: one bar per day, the y axis up to the busiest day."""
    top = max([q for _d, q in days] + [1])
    left, bottom, plot_h = 48, 24, height - 36
    slot = (width - left - 8) / max(1, len(days))
    bars = []
    for index, (day, quantity) in enumerate(days):
        h = round(plot_h * quantity / top, 1)
        bars.append({
            "x": round(left + index * slot + slot * 0.1, 1), "w": round(max(1.0, slot * 0.8), 1),
            "y": round(12 + plot_h - h, 1), "h": h, "day": day, "quantity": quantity,
            "label": index == 0 or day.day == 1 or index == len(days) - 1 or index % 7 == 0,
        })  # fmt: skip
    return {
        "width": width, "height": height, "bars": bars, "top": top, "left": left,
        "base": 12 + plot_h, "bottom": bottom, "total": sum(q for _d, q in days),
        "included": included,
    }  # fmt: skip


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    require_role(*MANAGERS)
    tenant_id = g.workspace.id
    subscription = services.subscription_of(db.session, tenant_id)
    now = utcnow()
    plan = plan_or_trial(subscription.plan if subscription else None)
    usage = quotas.period_usage(db.session, subscription, now) if subscription else {}
    # Stored records and storage are levels: show the counters the hard caps use, not the last
    # hourly total.
    usage["records"] = levels.current(tenant_db(), levels.RECORDS)
    usage["storage_mb"] = levels.storage_mb(levels.current(tenant_db(), levels.STORAGE))
    settings = current_app.config["RAPPORT"]
    chart_meter = request.args.get("chart", "api_calls")
    if chart_meter not in CHART_METERS:
        chart_meter = "api_calls"
    chart = None
    if subscription is not None:
        days = quotas.daily_usage(db.session, subscription, chart_meter, now)
        chart = daily_chart(days, plan.included.get(chart_meter, 0))
    invoices: list[dict[str, object]] = []
    invoices_error = None
    if stripe_gateway.configured() and subscription and subscription.stripe_customer_id:
        try:
            invoices = stripe_gateway.invoices(db.session, tenant_id)
        except stripe.StripeError:
            log.exception("listing invoices failed")
            invoices_error = "Invoices cannot be shown right now: Stripe did not answer."
    page = render_template(
        "billing/index.html",
        subscription=subscription,
        plan=plan,
        plans=PLANS.values(),
        state_label=STATE_LABELS.get(subscription.state, subscription.state)
        if subscription
        else "None",
        access=access.access_for(tenant_id),
        seats=services.active_seats(db.session, tenant_id),
        meters=quotas.meters(plan, usage),
        stripe_configured=bool(settings.stripe_api_key),
        chart=chart,
        chart_meter=chart_meter,
        chart_meters=[(m, METER_LABELS[m]) for m in METERS if m in CHART_METERS],
        invoices=invoices,
        invoices_error=invoices_error,
        paid=bool(subscription and subscription.stripe_subscription_id),
        retention_days=settings.billing_retention_days,
        grace_days=settings.billing_grace_days,
    )
    response = make_response(page)
    response.headers["Content-Security-Policy"] = page_policy(settings)
    return response


#: Where the upgrade and portal forms end up: the browser applies this page's ``form-action`` to
#: the redirect after the POST, so Stripe's hosted pages must be allowed next to our own.
STRIPE_PAGES = ("https://checkout.stripe.com", "https://billing.stripe.com")


def page_policy(settings: object) -> str:
    """The site's Content-Security-Policy, with Stripe's hosted pages as form targets (and the
    configured API base's origin, where a test or a proxy serves them)."""
    targets = list(STRIPE_PAGES)
    base = getattr(settings, "stripe_api_base", None)
    if base:
        parts = urlsplit(base)
        targets.append(f"{parts.scheme}://{parts.netloc}")
    return (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"frame-ancestors 'none'; form-action 'self' {' '.join(targets)}; base-uri 'self'"
    )


@bp.post("/checkout")
def checkout():  # type: ignore[no-untyped-def]
    require_role(*MANAGERS)
    plan_code = request.form.get("plan", "")
    if not stripe_gateway.configured():
        flash("Billing not configured: ask your operator to change the plan.", "error")
        return redirect(url_for(".index"), 303)
    if plan_code not in PLANS or not PLANS[plan_code].self_serve or plan_code == "trial":
        flash("Choose one of the plans offered below.", "error")
        return redirect(url_for(".index"), 303)
    back = url_for(".index", _external=True)
    subscription = services.subscription_of(db.session, g.workspace.id)
    if subscription is not None and subscription.stripe_subscription_id:
        flash("This workspace already pays through Stripe: change the plan below.", "error")
        return redirect(url_for(".index"), 303)
    url = stripe_gateway.start_checkout(
        db.session, g.workspace.id, plan_code, success_url=back + "?checkout=done", cancel_url=back
    )
    db.session.commit()  # the new Stripe customer id
    return redirect(url, 303)


@bp.post("/change-plan")
def change_plan():  # type: ignore[no-untyped-def]
    """Move a paying workspace to another plan, prorated by Stripe."""
    require_role(*MANAGERS)
    plan_code = request.form.get("plan", "")
    if not stripe_gateway.configured():
        flash("Billing not configured: ask your operator to change the plan.", "error")
        return redirect(url_for(".index"), 303)
    if plan_code not in PLANS or not PLANS[plan_code].self_serve:
        flash("Choose one of the plans offered below.", "error")
        return redirect(url_for(".index"), 303)
    try:
        stripe_gateway.change_plan(db.session, g.workspace.id, plan_code)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".index"), 303)
    db.session.commit()
    flash(
        f"Moved to the {PLANS[plan_code].name} plan. The difference for the rest of this period "
        "appears on your next invoice.",
        "success",
    )
    return redirect(url_for(".index"), 303)


@bp.post("/portal")
def portal():  # type: ignore[no-untyped-def]
    """Open Stripe's Customer Portal: cards, invoices, cancellation."""
    require_role(*MANAGERS)
    if not stripe_gateway.configured():
        flash("Billing not configured: ask your operator to change the plan.", "error")
        return redirect(url_for(".index"), 303)
    try:
        url = stripe_gateway.portal_url(
            db.session, g.workspace.id, url_for(".index", _external=True)
        )
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for(".index"), 303)
    return redirect(url, 303)


# Stripe calls this one: no workspace in the path, no session, no CSRF token; the signature is
# the authentication.
webhook_bp = Blueprint("billing_webhook", __name__)


@webhook_bp.post("/billing/stripe/webhook")
@csrf_exempt
def stripe_webhook():  # type: ignore[no-untyped-def]
    try:
        event = stripe_gateway.verify_event(
            request.get_data(cache=False), request.headers.get("Stripe-Signature")
        )
        handled = stripe_gateway.handle_event(db.session, event)
    except (stripe_gateway.BadWebhook, stripe_gateway.BillingNotConfigured) as exc:
        return jsonify({"error": exc.message}), exc.status
    return jsonify({"received": True, "duplicate": not handled})
