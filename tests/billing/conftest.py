"""Billing test helpers: workspaces of their own (their state changes), keys, subscription edits."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from rapport.billing import services
from rapport.billing.models import Subscription
from rapport.platform.db import db, utcnow

from .fake_stripe import FakeStripe

WEBHOOK = "/billing/stripe/webhook"


class Api:
    """A test client that sends one API key as a bearer token."""

    def __init__(self, client: Any, text: str) -> None:
        self.client, self.text = client, text

    def get(self, path: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers={"Authorization": f"Bearer {self.text}"}, **kw)

    def post(self, path: str, json: Any = None):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers={"Authorization": f"Bearer {self.text}"})


@pytest.fixture()
def api_of(app: Flask, client: Any) -> Callable[[Any], Api]:
    """``api_of(tenant, role="sales_rep") -> Api``: a key of the tenant, created by the real
    service."""

    def make(tenant: Any, role: str = "sales_rep") -> Api:
        from rapport.platform.apikeys import services as apikeys

        with app.app_context():
            _key, text = apikeys.create_key(
                db.session, tenant.ref, f"key {secrets.token_hex(3)}", role
            )
            db.session.commit()
        return Api(client, text)

    return make


@pytest.fixture()
def edit_subscription(app: Flask) -> Callable[..., None]:
    """``edit_subscription(tenant, state=None, **columns)``: put a workspace in a billing state.

    The state goes through the real service (as Stripe's webhook or an operator would); other
    columns (dates) are set on the row, as time passing would.
    """

    def edit(tenant: Any, state: str | None = None, **columns: Any) -> None:
        with app.app_context():
            if state is not None:
                services.set_state(db.session, tenant.ref.id, state)
            subscription = services.subscription_of(db.session, tenant.ref.id)
            assert subscription is not None
            for name, value in columns.items():
                setattr(subscription, name, value)
            db.session.commit()

    return edit


@pytest.fixture()
def subscription_of(app: Flask) -> Callable[[Any], Subscription]:
    def read(tenant: Any) -> Subscription:
        with app.app_context():
            subscription = services.subscription_of(db.session, tenant.ref.id)
            assert subscription is not None
            db.session.expunge(subscription)
            db.session.rollback()
            return subscription

    return read


def days_ago(n: float) -> dt.datetime:
    return utcnow() - dt.timedelta(days=n)


@pytest.fixture()
def fake_stripe(app: Flask) -> Iterator[FakeStripe]:
    """Stripe configured and pointed at a fake on loopback, for one test."""
    fake = FakeStripe("sk_test_" + "x" * 24, "whsec_test_secret").start()
    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(
        before,
        stripe_api_key=fake.api_key,
        stripe_api_base=fake.url,
        stripe_webhook_secret=fake.webhook_secret,
    )
    yield fake
    app.config["RAPPORT"] = before
    fake.stop()


def deliver(client: Any, fake: FakeStripe, event: dict[str, Any], timestamp: int | None = None):  # type: ignore[no-untyped-def]
    body, header = fake.sign(event, timestamp)
    return client.post(
        WEBHOOK, data=body, headers={"Stripe-Signature": header, "Content-Type": "application/json"}
    )


def upgrade(auth: Any, client: Any, tenant: Any, fake: FakeStripe, plan: str = "starter") -> str:
    """Press the upgrade button; return the Checkout session's id."""
    auth.login_as(tenant)
    page = client.get(f"/{tenant.slug}/settings/billing/").get_data(as_text=True)
    assert "Upgrade to Starter" in page
    response = auth.post(f"/{tenant.slug}/settings/billing/checkout", {"plan": plan})
    assert response.status_code == 303
    match = re.fullmatch(re.escape(fake.url) + r"/pay/(cs_\w+)", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


@pytest.fixture()
def paying(auth: Any, client: Any, fake_stripe: FakeStripe) -> Callable[..., str]:
    """``paying(tenant, plan="starter") -> Stripe subscription id``: upgrade through Checkout,
    pay, and deliver the webhook, as a customer and Stripe would."""

    def make(tenant: Any, plan: str = "starter") -> str:
        session_id = upgrade(auth, client, tenant, fake_stripe, plan)
        event = fake_stripe.complete_checkout(session_id)
        assert deliver(client, fake_stripe, event).status_code == 200
        return str(fake_stripe.objects["checkout_sessions"][session_id]["subscription"])

    return make
