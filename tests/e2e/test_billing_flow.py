"""Billing in a real browser: the owner reads plan, seats, usage bars and the daily chart,
upgrades through (fake) Stripe Checkout, and sees the active plan once Stripe's webhooks arrived;
a read-only workspace shows its banner and says why a write was refused."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import re
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from rapport.billing import metering, services
from rapport.platform.db import db, utcnow

pytestmark = pytest.mark.e2e

_spec = importlib.util.spec_from_file_location(
    "billing_fake_stripe", Path(__file__).parents[1] / "billing" / "fake_stripe.py"
)
fake_stripe_module = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(fake_stripe_module)  # type: ignore[union-attr]


@pytest.fixture()
def stripe_fake(app):  # type: ignore[no-untyped-def]
    fake = fake_stripe_module.FakeStripe("sk_test_" + "e" * 24, "whsec_e2e_secret").start()
    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(
        before, stripe_api_key=fake.api_key, stripe_api_base=fake.url,
        stripe_webhook_secret=fake.webhook_secret,
    )  # fmt: skip
    yield fake
    app.config["RAPPORT"] = before
    fake.stop()


def deliver(live_server, fake, event: dict) -> int:  # type: ignore[no-untyped-def,type-arg]
    """Stripe's side: POST the signed event to the running server."""
    body, header = fake.sign(event)
    request = urllib.request.Request(  # noqa: S310 - the live server on loopback
        f"{live_server.url}/billing/stripe/webhook", data=body, method="POST",
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - loopback
        return response.status


def sign_in(page, tenant, path: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"/login?next={path}")
    page.get_by_label("Email").fill(tenant.owner_email)
    page.get_by_label("Password").fill(tenant.owner_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(re.escape(path)))


def test_the_owner_upgrades_through_checkout_and_sees_the_active_plan(
    page, live_server, app, new_tenant, stripe_fake
) -> None:
    tenant = new_tenant("Browser Billing")
    with app.app_context():
        subscription = services.subscription_of(db.session, tenant.ref.id)
        subscription.current_period_start = utcnow() - dt.timedelta(days=2)
        metering.record_total(
            db.session, tenant.ref.id, "api_calls", utcnow() - dt.timedelta(hours=26), 8_500
        )
        db.session.commit()
    billing = f"/{tenant.slug}/settings/billing/"
    sign_in(page, tenant, billing)

    expect(page.locator("#plan-name")).to_have_text("Free trial")
    expect(page.locator("#state")).to_have_text("Free trial")
    expect(page.locator("#seats")).to_have_text("1")
    api_row = page.locator('tr[data-meter="api_calls"]')
    expect(api_row.locator(".used")).to_have_text("8,500")
    expect(api_row.locator("progress")).to_have_attribute("value", "85")
    expect(page.locator("#usage progress")).to_have_count(5)
    chart = page.locator("svg.billing-chart")
    expect(chart).to_be_visible()
    expect(chart.locator("rect.bar[data-quantity='8500']")).to_have_count(1)
    # Past 80%: the banner says so on every page.
    expect(page.get_by_role("region", name="Billing")).to_contain_text("API calls: 85%")

    page.get_by_role("button", name="Upgrade to Starter").click()
    page.wait_for_url(re.compile(re.escape(stripe_fake.url) + r"/pay/cs_\w+"))
    expect(page.get_by_role("heading", name="Fake Stripe Checkout")).to_be_visible()
    session_id = page.url.rsplit("/", 1)[1]
    checkout = stripe_fake.objects["checkout_sessions"][session_id]
    assert checkout["client_reference_id"] == str(tenant.ref.id)

    # The customer pays; Stripe sends its webhooks (the subscription's too, in any order).
    completed = stripe_fake.complete_checkout(session_id)
    subscription_id = stripe_fake.objects["checkout_sessions"][session_id]["subscription"]
    created = stripe_fake.event(
        "customer.subscription.created", dict(stripe_fake.objects["subscriptions"][subscription_id])
    )
    assert deliver(live_server, stripe_fake, created) == 200
    assert deliver(live_server, stripe_fake, completed) == 200

    page.goto(billing + "?checkout=done")
    expect(page.locator("#plan-name")).to_have_text("Starter")
    expect(page.locator("#state")).to_have_text("Active")
    expect(
        page.get_by_role("button", name="Manage cards, invoices and cancellation")
    ).to_be_visible()
    expect(page.locator("#invoices tr.invoice")).to_have_count(1)
    expect(page.get_by_role("button", name="Upgrade to Starter")).to_have_count(0)


def test_a_read_only_workspace_shows_the_banner_and_why_a_write_is_refused(
    page, live_server, app, new_tenant
) -> None:
    tenant = new_tenant("Browser Lapsed")
    with app.app_context():
        services.set_state(db.session, tenant.ref.id, "canceled")
        db.session.commit()
    sign_in(page, tenant, f"/{tenant.slug}/companies/")
    reason = "This workspace is read-only because the subscription was canceled"
    banner = page.get_by_role("region", name="Billing")
    expect(banner).to_contain_text(reason)
    expect(banner.get_by_role("link", name="See plans and billing")).to_be_visible()

    page.goto(f"/{tenant.slug}/companies/new")
    page.get_by_label("Name").first.fill("Refused in the browser")
    page.get_by_role("button", name=re.compile("Create|Save")).first.click()
    # The form again: the reason above its fields, what was typed still in place.
    expect(page.get_by_role("alert")).to_contain_text(
        f"{reason}; upgrade or update the payment method."
    )
    expect(page.get_by_label("Name").first).to_have_value("Refused in the browser")
    page.goto(f"/{tenant.slug}/companies/?q=Refused")
    expect(page.locator("main")).not_to_contain_text("Refused in the browser")
