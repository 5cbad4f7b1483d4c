"""Upgrading through Stripe Checkout and the webhook that follows, against a fake Stripe."""

from __future__ import annotations

import html
import time

from sqlalchemy import func, select

from rapport.platform.audit.models import PlatformAuditEntry
from rapport.platform.db import db

from .conftest import WEBHOOK, deliver, upgrade


def webhook_audits(app, tenant) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        count = db.session.scalar(
            select(func.count())
            .select_from(PlatformAuditEntry)
            .where(
                PlatformAuditEntry.tenant_id == tenant.ref.id,
                PlatformAuditEntry.actor_label == "Stripe webhook",
            )
        )
        db.session.rollback()
        return count


def test_without_a_stripe_key_billing_says_it_is_not_configured(app, auth, client, tenants) -> None:
    tenant_a, _ = tenants
    auth.login_as(tenant_a)
    page = html.unescape(client.get(f"/{tenant_a.slug}/settings/billing/").get_data(as_text=True))
    assert "Billing not configured" in page and "Upgrade to" not in page
    response = auth.post(f"/{tenant_a.slug}/settings/billing/checkout", {"plan": "starter"})
    assert response.status_code == 303
    followed = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Billing not configured" in html.unescape(followed)
    assert client.post(WEBHOOK, data=b"{}").status_code == 503


def test_checkout_then_webhook_moves_the_workspace_to_the_paid_plan(
    app, auth, client, tenants, new_tenant, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Upgrader")
    session_id = upgrade(auth, client, tenant, fake_stripe)
    checkout = fake_stripe.objects["checkout_sessions"][session_id]
    assert checkout["client_reference_id"] == str(tenant.ref.id)
    assert checkout["line_items"]["0"]["quantity"] == "1"  # one active member, one seat
    customer = fake_stripe.objects["customers"][checkout["customer"]]
    assert customer["metadata"]["tenant_id"] == str(tenant.ref.id)
    assert subscription_of(tenant).stripe_customer_id == customer["id"]
    assert subscription_of(tenant).state == "trialing"  # nothing changes before payment

    event = fake_stripe.complete_checkout(session_id)
    response = deliver(client, fake_stripe, event)
    assert response.status_code == 200 and response.get_json()["duplicate"] is False
    subscription = subscription_of(tenant)
    assert (subscription.plan, subscription.state) == ("starter", "active")
    assert subscription.stripe_subscription_id == checkout["subscription"]
    assert webhook_audits(app, tenant) == 1
    # The shared workspaces were not touched.
    for other in tenants:
        assert subscription_of(other).state == "trialing"


def test_replayed_and_out_of_order_events_change_state_once(
    app, auth, client, new_tenant, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Replayed")
    session_id = upgrade(auth, client, tenant, fake_stripe)
    completed = fake_stripe.complete_checkout(session_id)
    assert deliver(client, fake_stripe, completed).status_code == 200
    again = deliver(client, fake_stripe, completed)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    audits = webhook_audits(app, tenant)

    stripe_id = subscription_of(tenant).stripe_subscription_id
    failed = fake_stripe.set_status(stripe_id, "past_due")
    recovered = fake_stripe.set_status(stripe_id, "active")
    # Delivered late and in the wrong order: each handler reads the current object (active).
    assert deliver(client, fake_stripe, recovered).status_code == 200
    assert deliver(client, fake_stripe, failed).status_code == 200
    assert deliver(client, fake_stripe, failed).get_json()["duplicate"] is True
    assert subscription_of(tenant).state == "active"
    assert webhook_audits(app, tenant) == audits


def test_a_bad_signature_or_an_old_timestamp_is_refused(
    app, auth, client, new_tenant, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Forged")
    session_id = upgrade(auth, client, tenant, fake_stripe)
    event = fake_stripe.complete_checkout(session_id)
    body, header = fake_stripe.sign(event)
    forged = client.post(
        WEBHOOK,
        data=body.replace(b"checkout.session.completed", b"checkout.session.completeD"),
        headers={"Stripe-Signature": header},
    )
    assert forged.status_code == 400
    old = deliver(client, fake_stripe, event, timestamp=int(time.time()) - 301)
    assert old.status_code == 400 and "too old" in old.get_json()["error"]
    unsigned = client.post(WEBHOOK, data=body)
    assert unsigned.status_code == 400
    assert subscription_of(tenant).state == "trialing"
    # The genuine delivery still works afterwards: the refused ones were not recorded as seen.
    assert deliver(client, fake_stripe, event).status_code == 200
    assert subscription_of(tenant).state == "active"
