"""Reads of webhook endpoints and deliveries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found
from rapport.tenants.webhooks.models import WebhookDelivery, WebhookEndpoint

DELIVERY_PAGE = 50


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(
        session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.created_at.desc()))
    )


def get_endpoint(session: Session, endpoint_id: uuid.UUID | str) -> WebhookEndpoint:
    return get_or_not_found(session, WebhookEndpoint, endpoint_id, "webhook endpoint")


def get_delivery(session: Session, delivery_id: uuid.UUID | str) -> WebhookDelivery:
    return get_or_not_found(session, WebhookDelivery, delivery_id, "webhook delivery")


def list_deliveries(
    session: Session,
    endpoint_id: uuid.UUID,
    *,
    state: str | None = None,
    before: uuid.UUID | None = None,
    limit: int = DELIVERY_PAGE,
) -> list[WebhookDelivery]:
    """An endpoint's deliveries, newest first (ids are time-ordered: ``before`` pages back)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if state:
        stmt = stmt.where(WebhookDelivery.state == state)
    if before is not None:
        stmt = stmt.where(WebhookDelivery.id < before)
    return list(session.scalars(stmt.order_by(WebhookDelivery.id.desc()).limit(limit)))
