"""Stripe, through the official SDK: Checkout for upgrades and the webhook that follows it.

Nothing here runs while ``stripe_api_key`` is empty (the embedded default): callers ask
:func:`configured` first and show "billing not configured" instead. Webhook events are verified
on the raw body, handled once per event id, and never trusted for state: each handler re-reads the
current object from Stripe before it changes anything, so replays and out-of-order deliveries end
in the same state.
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.billing import services
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
    return stripe.StripeClient(settings.stripe_api_key, **kwargs)


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
            "line_items": [
                {
                    "quantity": seats,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": plan.seat_price_cents,
                        "recurring": {"interval": "month"},
                        "product_data": {"name": f"Rapport {plan.name} seat"},
                    },
                }
            ],
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
        _apply(session, _ours(session, stripe_id=current["id"]), current)
    elif event.type in ("invoice.paid", "invoice.payment_failed"):
        invoice = stripe_client.v1.invoices.retrieve(obj["id"]).to_dict()
        if invoice.get("subscription"):
            current = _subscription(stripe_client, str(invoice["subscription"]))
            _apply(session, _ours(session, stripe_id=current["id"]), current)
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
    plan = (current.get("metadata") or {}).get("plan")
    if plan and plan != ours.plan:
        services.set_plan(session, ours.tenant_id, plan, actor=WEBHOOK_ACTOR)
    state = STATUSES.get(str(current.get("status")))
    if state is not None and state != ours.state:
        services.set_state(session, ours.tenant_id, state, actor=WEBHOOK_ACTOR)
