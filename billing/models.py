"""Billing in the control plane: one subscription per tenant, hourly usage totals per meter."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TimestampMixin, db, utcnow


class SubscriptionState(enum.StrEnum):
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    UNPAID = "unpaid"
    CANCELED = "canceled"
    SUSPENDED = "suspended"


class Subscription(IdMixin, TimestampMixin, db.Model):
    """What a tenant pays for and in which state the payment is; drives access."""

    __tablename__ = "subscriptions"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), unique=True
    )
    plan: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20))
    trial_ends_at: Mapped[dt.datetime | None]
    current_period_start: Mapped[dt.datetime]
    current_period_end: Mapped[dt.datetime]
    past_due_since: Mapped[dt.datetime | None]
    seats: Mapped[int] = mapped_column(default=1)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))


class UsageHour(IdMixin, db.Model):
    """The absolute total of one meter for one tenant in one UTC hour.

    ``revision`` goes up whenever the total changes, so a push to Stripe can name each version
    (``tenant:meter:hour:revision``); ``pushed_revision`` is the last version Stripe accepted.
    """

    __tablename__ = "usage_hours"
    __table_args__ = (UniqueConstraint("tenant_id", "meter", "hour"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    meter: Mapped[str] = mapped_column(String(40))
    hour: Mapped[dt.datetime]
    quantity: Mapped[int] = mapped_column(BigInteger)
    revision: Mapped[int] = mapped_column(default=1)
    pushed_revision: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StripeEvent(db.Model):
    """A Stripe webhook event already handled: Stripe delivers at least once, we act once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
