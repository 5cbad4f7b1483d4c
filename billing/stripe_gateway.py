"""Stripe through the official SDK: Checkout, Customer Portal, plan changes, invoices, webhooks.

Nothing here runs while ``stripe_api_key`` is empty (the embedded default): callers ask
:func:`configured` first and show "billing not configured" instead. Webhook events are verified
on the raw body, handled once per event id, and never trusted for state: each handler re-reads the
current object from Stripe before it changes anything, so replays and out-of-order deliveries end
in the same state.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import stripe
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.billing import notices, services
from rapport.billing.models import StripeEvent, Subscription, SubscriptionState
from rapport.billing.plans import get_plan
from rapport.platform.audit.context import Actor
from rapport.platform.errors import DomainError

TOLERANCE = 300  # seconds a signed webhook stays acceptable
WEBHOOK_ACTOR = Actor("system", None, "Stripe webhook")
# Stripe's subscription statuses → ours; ``incomplete`` (first payment pending) changes nothing.
STATUSES = {
    "trialing": SubscriptionState.TRIALING.value,
    "active": SubscriptionState.ACTIVE.value,
    "past_due": SubscriptionState.PAST_DUE.value,
    "unpaid": SubscriptionState.UNPAID.value,
    "canceled": SubscriptionState.CANCELED.value,
    "incomplete_expired": SubscriptionState.CANCELED.value,
    "paused": SubscriptionState.UNPAID.value,
}


class BillingNotConfigured(DomainError):
    status = 503

    def __init__(self) -> None:
        super().__init__("Billing not configured: this server has no Stripe key.")


class BadWebhook(DomainError):
    status = 400


def configured() -> bool:
    return bool(current_app.config["RAPPORT"].stripe_api_key)


def client() -> stripe.StripeClient:
    settings = current_app.config["RAPPORT"]
    if not settings.stripe_api_key:
        raise BillingNotConfigured()
    kwargs: dict[str, Any] = {}
    if settings.stripe_api_base:
        kwargs["base_addresses"] = {"api": settings.stripe_api_base}
    return stripe.StripeClient(settings.stripe_api_key, max_network_retries=2, **kwargs)


def catalog_ids(stripe_client: stripe.StripeClient) -> Any:
    """The Stripe prices and meters of the plans, syncing the catalog first if it is missing."""
    from rapport.billing import catalog

    ids = catalog.read_catalog(stripe_client)
    if ids is None:
        catalog.sync_catalog(stripe_client)
        ids = catalog.read_catalog(stripe_client)
    return ids


def start_checkout(
    session: Session, tenant_id: uuid.UUID, plan_code: str, success_url: str, cancel_url: str
) -> str:
    """Open a Stripe Checkout session for moving to a paid plan; return the address to send to."""
    plan = get_plan(plan_code)
    stripe_client = client()
    subscription = services.subscription_of(session, tenant_id)
    if subscription is None:
        raise DomainError("This workspace has no subscription.")
    if subscription.stripe_customer_id is None:
        customer = stripe_client.v1.customers.create(
            params={"metadata": {"tenant_id": str(tenant_id)}}
        )
        subscription.stripe_customer_id = customer.id
        session.flush()
    seats = max(1, services.active_seats(session, tenant_id))
    checkout = stripe_client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "customer": subscription.stripe_customer_id,
            "client_reference_id": str(tenant_id),
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": {"plan": plan.code, "tenant_id": str(tenant_id)},
            "subscription_data": {"metadata": {"plan": plan.code, "tenant_id": str(tenant_id)}},
            "line_items": catalog_ids(stripe_client).line_items(plan, seats),
        }
    )
    return str(checkout.url)


def verify_event(payload: bytes, signature: str | None) -> stripe.Event:
    """The event, if its signature over the raw body is valid and recent; else BadWebhook."""
    secret = current_app.config["RAPPORT"].stripe_webhook_secret
    if not secret:
        raise BillingNotConfigured()
    try:
        return stripe.Webhook.construct_event(payload, signature, secret, tolerance=TOLERANCE)
    except (stripe.SignatureVerificationError, ValueError):
        raise BadWebhook("The webhook signature is not valid or too old.") from None


def handle_event(session: Session, event: stripe.Event) -> bool:
    """Act on an event once; return False when it was handled before."""
    if session.get(StripeEvent, event.id) is not None:
        return False
    # A concurrent delivery of the same event fails on the primary key at commit; the request
    # then rolls back and Stripe's retry finds the event handled.
    session.add(StripeEvent(id=event.id, type=event.type))
    obj = event.data.object
    stripe_client = client()
    if event.type == "checkout.session.completed":
        checkout = stripe_client.v1.checkout.sessions.retrieve(obj["id"]).to_dict()
        if checkout.get("subscription"):
            current = _subscription(stripe_client, str(checkout["subscription"]))
            tenant_id = uuid.UUID(str(checkout["client_reference_id"]))
            _apply(session, _ours(session, tenant_id=tenant_id), current)
    elif event.type.startswith("customer.subscription."):
        current = _subscription(stripe_client, obj["id"])
        ours = _ours(session, stripe_id=current["id"])
        _apply(session, ours, current)
        trial_end = current.get("trial_end")
        if event.type == "customer.subscription.trial_will_end" and ours and trial_end:
            ends = dt.datetime.fromtimestamp(int(trial_end), dt.UTC)
            notices.notify(session, ours.tenant_id, "trial_ending", f"trial_ending:{ends:%Y%m%d}",
                           {"ends": f"{ends:%Y-%m-%d}"})  # fmt: skip
    elif event.type in ("invoice.paid", "invoice.payment_failed"):
        invoice = stripe_client.v1.invoices.retrieve(obj["id"]).to_dict()
        if invoice.get("subscription"):
            current = _subscription(stripe_client, str(invoice["subscription"]))
            ours = _ours(session, stripe_id=current["id"])
            _apply(session, ours, current)
            if (
                ours is not None
                and event.type == "invoice.payment_failed"
                and invoice.get("status") not in ("paid", "void")  # paid since: no email
            ):
                details = {
                    "invoice": invoice["id"],
                    "number": invoice.get("number"),
                    "grace_days": current_app.config["RAPPORT"].billing_grace_days,
                }
                notices.notify(session, ours.tenant_id, "payment_failed",
                               f"payment_failed:{invoice['id']}", details)  # fmt: skip
    session.flush()
    return True


def _subscription(stripe_client: stripe.StripeClient, subscription_id: str) -> dict[str, Any]:
    """Stripe's current subscription object (never the copy inside an event)."""
    return stripe_client.v1.subscriptions.retrieve(subscription_id).to_dict()


def _ours(
    session: Session, *, tenant_id: uuid.UUID | None = None, stripe_id: str | None = None
) -> Subscription | None:
    stmt = select(Subscription)
    if tenant_id is not None:
        stmt = stmt.where(Subscription.tenant_id == tenant_id)
    else:
        stmt = stmt.where(Subscription.stripe_subscription_id == stripe_id)
    return session.scalars(stmt).first()


def _apply(session: Session, ours: Subscription | None, current: dict[str, Any]) -> None:
    """Make our subscription say what Stripe's current object says."""
    if ours is None:
        return
    ours.stripe_subscription_id = current["id"]
    if current.get("customer"):
        ours.stripe_customer_id = str(current["customer"])
    for item in (current.get("items") or {}).get("data", []):
        if ((item.get("price") or {}).get("recurring") or {}).get("usage_type") != "metered":
            ours.stripe_seat_item_id = item["id"]
            if item.get("quantity"):
                ours.seats = int(item["quantity"])
    # Stripe's period (the webhook is how a Stripe-managed period rolls over).
    for column in ("current_period_start", "current_period_end"):
        value = current.get(column) or (
            ((current.get("items") or {}).get("data") or [{}])[0].get(column)
        )
        if value:
            setattr(ours, column, dt.datetime.fromtimestamp(int(value), dt.UTC))
    plan = (current.get("metadata") or {}).get("plan")
    if plan and plan != ours.plan:
        services.set_plan(session, ours.tenant_id, plan, actor=WEBHOOK_ACTOR)
    state = STATUSES.get(str(current.get("status")))
    if state is not None and state != ours.state:
        services.set_state(session, ours.tenant_id, state, actor=WEBHOOK_ACTOR)


def portal_url(session: Session, tenant_id: uuid.UUID, return_url: str) -> str:
    """A Customer Portal session (cards, invoices, cancellation) for the tenant's customer."""
    subscription = services.subscription_of(session, tenant_id)
    if subscription is None or subscription.stripe_customer_id is None:
        raise DomainError("Upgrade first: the billing portal opens once a plan is paid.")
    portal = client().v1.billing_portal.sessions.create(
        params={"customer": subscription.stripe_customer_id, "return_url": return_url}
    )
    return str(portal.url)


def invoices(session: Session, tenant_id: uuid.UUID, limit: int = 12) -> list[dict[str, Any]]:
    """The tenant's latest invoices from Stripe (empty without a customer)."""
    subscription = services.subscription_of(session, tenant_id)
    if subscription is None or subscription.stripe_customer_id is None:
        return []
    listed = client().v1.invoices.list(
        params={"customer": subscription.stripe_customer_id, "limit": limit}
    )
    return [
        {
            "number": i.get("number") or i["id"],
            "created": dt.datetime.fromtimestamp(int(i["created"]), dt.UTC),
            "amount": (i.get("amount_due") or 0) / 100,
            "currency": str(i.get("currency") or "usd").upper(),
            "status": i.get("status"),
            "url": i.get("hosted_invoice_url"),
            "description": i.get("description"),
        }
        for i in (x.to_dict() for x in listed.data)
    ]


def change_plan(
    session: Session, tenant_id: uuid.UUID, plan_code: str, actor: Actor | None = None
) -> Subscription:
    """Move a paying subscription to another plan in Stripe, prorated, then here."""
    plan = get_plan(plan_code)
    subscription = services.subscription_of(session, tenant_id)
    if subscription is None or subscription.stripe_subscription_id is None:
        raise DomainError("Upgrade first: plan changes apply to a paid subscription.")
    stripe_client = client()
    ids = catalog_ids(stripe_client)
    current = _subscription(stripe_client, subscription.stripe_subscription_id)
    seats = max(1, services.active_seats(session, tenant_id))
    items: list[dict[str, Any]] = []
    for item in (current.get("items") or {}).get("data", []):
        usage = ((item.get("price") or {}).get("recurring") or {}).get("usage_type")
        if usage == "metered":
            items.append({"id": item["id"], "deleted": True})
        else:
            items.append({"id": item["id"], "price": ids.seat_prices[plan.code], "quantity": seats})
    for line in ids.line_items(plan, seats)[1:]:
        items.append({"price": line["price"]})
    stripe_client.v1.subscriptions.update(
        subscription.stripe_subscription_id,
        params={
            "items": items,
            "proration_behavior": "create_prorations",
            "metadata": {"plan": plan.code, "tenant_id": str(tenant_id)},
        },
    )
    services.set_plan(session, tenant_id, plan.code, actor=actor)
    subscription.seats = seats
    subscription.seats_synced_at = None
    session.flush()
    return subscription
