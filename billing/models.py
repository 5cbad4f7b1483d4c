"""Billing in the control plane: one subscription per tenant, hourly usage totals per meter."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, UniqueConstraint
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
    # The subscription item that carries the seat price (its quantity follows membership).
    stripe_seat_item_id: Mapped[str | None] = mapped_column(String(255))
    # When the seat quantity was last sent to Stripe (updates are batched per tenant).
    seats_synced_at: Mapped[dt.datetime | None]
    # Since when the workspace is read-only for payment (unpaid, canceled, trial over): the
    # retention period before suspension counts from here.
    read_only_since: Mapped[dt.datetime | None]


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
    # The total Stripe accepted for this hour (its meters keep the last value per hour).
    pushed_quantity: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StripeEvent(db.Model):
    """A Stripe webhook event already handled: Stripe delivers at least once, we act once."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BillingNotice(IdMixin, db.Model):
    """A billing email owed to a workspace's admins, written once per occasion.

    ``key`` names the occasion (``soft_limit:api_calls:<period start>``, ``payment_failed:<invoice
    id>``, ``trial_ending:<trial end>``): the unique constraint makes "one email per period and
    meter" a property of the database, and the rows are the ledger of what was sent.
    """

    __tablename__ = "billing_notices"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]
