"""Tables of webhooks (in each tenant's schema): endpoints, deliveries and their attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin, utcnow

#: A delivery waits for its next attempt, was accepted (2xx), or was given up.
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
DELIVERY_STATES = (PENDING, SUCCEEDED, FAILED)


class WebhookEndpoint(IdMixin, TimestampMixin, TenantBase):
    """A URL an admin registered, the event types it receives and its signing secret."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Fernet token of the signing secret (see webhooks/secrets.py); the secret is shown once.
    secret_encrypted: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(12))  # the secret's last characters
    enabled: Mapped[bool] = mapped_column(default=True)
    # The role whose eyes the endpoint has: the events it gets and the fields in them (as a key's).
    role: Mapped[str] = mapped_column(String(60), default="admin", server_default="admin")
    disabled_at: Mapped[dt.datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    # Start of the current run of failed attempts; cleared by any accepted delivery.
    failing_since: Mapped[dt.datetime | None]
    created_by: Mapped[uuid.UUID | None]  # a control-plane user id (no cross-plane FK)

    def receives(self, event_type: str) -> bool:
        return self.enabled and event_type in (self.event_types or [])


class WebhookDelivery(IdMixin, TenantBase):
    """One event for one endpoint: sent until accepted or given up, retried with backoff."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # A re-delivered event job adds nothing: one delivery per (endpoint, business event).
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )

    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(80))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(20), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime | None]
    last_status: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_duration_ms: Mapped[int | None]
    delivered_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)

    endpoint: Mapped[WebhookEndpoint] = relationship(lazy="joined", innerjoin=True)
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        order_by="WebhookAttempt.number", cascade="all, delete-orphan", lazy="selectin"
    )


class WebhookAttempt(IdMixin, TenantBase):
    """One HTTP request of a delivery: what the receiver answered and how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    status: Mapped[int | None]  # HTTP status; None when no response came back
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(String(500))
    response_excerpt: Mapped[str | None] = mapped_column(String(1000))
    manual: Mapped[bool] = mapped_column(default=False)  # a "Redeliver" by an admin
