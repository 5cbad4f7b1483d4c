"""Subscription state → access: the whole matrix, at the edges of the trial and the grace."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from rapport.billing.access import FULL, NO_ACCESS, READ_ONLY, decide
from rapport.billing.models import Subscription

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def sub(state: str, **kw) -> Subscription:  # type: ignore[no-untyped-def]
    return Subscription(
        tenant_id=uuid.uuid4(), plan="starter", state=state,
        current_period_start=NOW - 10 * DAY, current_period_end=NOW + 20 * DAY, **kw,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("subscription", "level", "banner", "upgrade"),
    [
        (sub("trialing", trial_ends_at=NOW + 3 * DAY + DAY / 24), FULL, "3 days", True),
        (sub("trialing", trial_ends_at=NOW + dt.timedelta(hours=5)), FULL, "less than a day", True),
        (sub("trialing", trial_ends_at=NOW - dt.timedelta(seconds=1)), READ_ONLY, "trial", True),
        (sub("active"), FULL, None, False),
        (sub("past_due", past_due_since=NOW - 6 * DAY), FULL, "payment is overdue", False),
        (sub("past_due", past_due_since=NOW - 7 * DAY), READ_ONLY, "payment is overdue", False),
        (sub("unpaid"), READ_ONLY, "unpaid", True),
        (sub("canceled"), READ_ONLY, "canceled", True),
        (sub("suspended"), NO_ACCESS, "suspended", False),
    ],
    ids=[
        "trial-running", "trial-last-day", "trial-ended", "active", "past-due-in-grace",
        "past-due-after-grace", "unpaid", "canceled", "suspended",
    ],
)  # fmt: skip
def test_state_decides_access(subscription, level, banner, upgrade) -> None:  # type: ignore[no-untyped-def]
    access = decide(subscription, NOW, grace=7)
    assert access.level == level
    assert access.writable == (level == FULL)
    assert access.readable == (level != NO_ACCESS)
    assert access.upgrade == upgrade
    if banner is None:
        assert access.banner is None
    else:
        assert banner in access.banner
    if level == READ_ONLY:
        assert access.message.startswith("This workspace is read-only because ")
        assert access.message.endswith("; upgrade or update the payment method.")


def test_the_grace_period_is_a_setting() -> None:
    overdue = sub("past_due", past_due_since=NOW - 3 * DAY)
    assert decide(overdue, NOW, grace=7).level == FULL
    assert decide(overdue, NOW, grace=2).level == READ_ONLY


def test_the_subscription_cache_follows_changes_here_and_expires_for_changes_elsewhere(
    app, new_tenant
) -> None:
    from sqlalchemy import update

    from rapport.billing import access, services
    from rapport.platform.db import db

    tenant = new_tenant("Cached")
    with app.app_context():
        assert access.load_subscription(tenant.ref.id).state == "trialing"
        # A change by this process (a webhook, set-plan) is seen at once.
        services.set_state(db.session, tenant.ref.id, "canceled")
        db.session.commit()
        assert access.load_subscription(tenant.ref.id).state == "canceled"
        # A change by another process (a bulk statement here) waits for the TTL.
        with db.engine.begin() as conn:
            conn.execute(
                update(Subscription)
                .where(Subscription.tenant_id == tenant.ref.id)
                .values(state="active")
            )
        assert access.load_subscription(tenant.ref.id).state == "canceled"
        app.config["BILLING_SUBSCRIPTION_CACHE_SECONDS"] = 0
        try:
            access.forget(tenant.ref.id)  # as the TTL running out does
            assert access.load_subscription(tenant.ref.id).state == "active"
        finally:
            app.config.pop("BILLING_SUBSCRIPTION_CACHE_SECONDS")
        # Bounded: the least recently read tenants are dropped first.
        assert len(access._cache) <= access.CACHE_SIZE
