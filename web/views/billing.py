"""The workspace's billing page: plan, state, seats, trial end and this period's usage."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from rapport.billing import access, quotas, services, stripe_gateway
from rapport.billing.metering import count_records
from rapport.billing.plans import PLANS, plan_or_trial
from rapport.platform.db import db, utcnow
from rapport.platform.identity.members import MANAGERS
from rapport.platform.tenancy.scope import tenant_db
from rapport.web.security import csrf_exempt
from rapport.web.workspace import require_role, workspace_blueprint

bp = workspace_blueprint("billing", __name__, "/settings/billing")

STATE_LABELS = {
    "trialing": "Free trial",
    "active": "Active",
    "past_due": "Payment overdue",
    "unpaid": "Unpaid",
    "canceled": "Canceled",
    "suspended": "Suspended",
}


@bp.get("/")
def index():  # type: ignore[no-untyped-def]
    require_role(*MANAGERS)
    tenant_id = g.workspace.id
    subscription = services.subscription_of(db.session, tenant_id)
    now = utcnow()
    plan = plan_or_trial(subscription.plan if subscription else None)
    usage = quotas.period_usage(db.session, subscription, now) if subscription else {}
    # Stored records are a level: show today's count rather than the last hourly total.
    usage["records"] = count_records(tenant_db())
    settings = current_app.config["RAPPORT"]
    return render_template(
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
    url = stripe_gateway.start_checkout(
        db.session, g.workspace.id, plan_code, success_url=back + "?checkout=done", cancel_url=back
    )
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
