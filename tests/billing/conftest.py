"""Billing test helpers: workspaces of their own (their state changes), keys, subscription edits."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from rapport.billing import services
from rapport.billing.models import Subscription
from rapport.platform.db import db, utcnow


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
    """``api_of(tenant) -> Api``: a sales-rep key of the tenant, created by the real service."""

    def make(tenant: Any) -> Api:
        from rapport.platform.apikeys import services as apikeys

        with app.app_context():
            _key, text = apikeys.create_key(
                db.session, tenant.ref, f"key {secrets.token_hex(3)}", "sales_rep"
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
