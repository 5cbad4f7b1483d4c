"""Sending webhooks: one job per attempt, the retry sweep, and the "endpoint disabled" email.

Each attempt is an outbox row (``webhook:<delivery>:<n>``), so attempt *n* of a delivery runs at
most once whatever the queue does. The job records the attempt in its own transaction and does
not raise for an HTTP failure: a raised job rolls back, and the delivery log would lose the very
attempt it should show. A failed attempt schedules the next one at ``next_attempt_at`` along
:data:`BACKOFF` (about a day in all) and marks the tenant in :mod:`due`; the periodic
``retry_due`` job picks up the marked tenants each minute and queues their due attempts.

An endpoint whose attempts have failed without a success in between for :data:`DISABLE_AFTER`
is disabled, its pending deliveries given up, the change audited, and the workspace's owners and
admins emailed.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rapport.platform.db import db, utcnow
from rapport.platform.jobs import outbox
from rapport.platform.jobs.registry import job
from rapport.platform.mail import Message, send_message
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants.webhooks import due, secrets, services, transport
from rapport.tenants.webhooks.models import (
    FAILED,
    PENDING,
    SUCCEEDED,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

#: Seconds between a failed attempt and the next: 1 min, 5 min, 30 min, 2 h, 6 h, 12 h. Seven
#: attempts over about 21 hours; the endpoint is disabled after 24 hours of nothing but failures.
BACKOFF = (60, 300, 1800, 7200, 21600, 43200)
DISABLE_AFTER = dt.timedelta(hours=24)
USER_AGENT = "Rapport-Webhooks/1"
RETRY_BATCH = 500


def envelope(delivery: WebhookDelivery, tenant: TenantRef) -> dict[str, Any]:
    """The JSON body a receiver gets."""
    event = delivery.payload or {}
    return {
        "id": delivery.event_id,
        "type": delivery.event_type,
        "occurred_at": event.get("occurred_at"),
        "workspace": tenant.slug,
        "delivery_id": str(delivery.id),
        "data": {
            "record_type": event.get("record_type"),
            "record_id": event.get("record_id"),
            "record": event.get("data") or {},
        },
    }


@job("webhooks", retries=2, backoff=(30, 120), timeout=60)
def send_delivery(
    session: Session, tenant: TenantRef, delivery_id: str, attempt: int, manual: bool = False
) -> None:
    """Make attempt number ``attempt`` of one delivery, once; record what came back.

    The request goes out between two transactions: the first (which holds the outbox claim)
    commits before the network call, so a slow receiver never holds the tenant's locks (on
    SQLite, the whole tenant file's write lock) for up to the transport's timeout. A crash during
    the call leaves the outbox row undone and the attempt is made again: receivers get each
    delivery at least once and tell repeats apart by ``Rapport-Delivery``.
    """
    key = uuid.UUID(delivery_id)
    delivery = session.get(WebhookDelivery, key, with_for_update=True)
    if delivery is None or delivery.attempts >= attempt:
        return  # deleted, or this attempt was made already
    if delivery.state != PENDING:
        return  # accepted or given up since this attempt was queued
    endpoint = delivery.endpoint
    if not endpoint.enabled and not manual:
        delivery.state, delivery.next_attempt_at = FAILED, None
        delivery.last_error = "The endpoint is disabled."
        return
    url, body, headers = _request(endpoint, delivery, tenant, attempt)
    allow = bool(current_app.config["RAPPORT"].webhook_allow_private)
    session.commit()
    outcome = transport.post(url, body, headers, allow_private=allow)
    # The new transaction starts with a write, so SQLite takes the write lock before any read
    # (a read transaction cannot be upgraded once another writer has committed).
    claimed = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == key, WebhookDelivery.attempts < attempt)
        .values(attempts=attempt)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return  # a twin delivery of this job recorded the attempt meanwhile
    delivery = session.get(WebhookDelivery, key, populate_existing=True)
    endpoint = delivery.endpoint
    now = utcnow()
    delivery.last_status = outcome.status
    delivery.last_error = outcome.error
    delivery.last_duration_ms = outcome.duration_ms
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            number=attempt,
            started_at=now,
            status=outcome.status,
            duration_ms=outcome.duration_ms,
            error=outcome.error,
            response_excerpt=outcome.excerpt,
            manual=manual,
        )
    )
    if outcome.accepted:
        delivery.state, delivery.delivered_at, delivery.next_attempt_at = SUCCEEDED, now, None
        endpoint.failing_since = None
        session.flush()
        return
    _after_failure(session, tenant, endpoint, delivery, now)


def _request(
    endpoint: WebhookEndpoint, delivery: WebhookDelivery, tenant: TenantRef, attempt: int
) -> tuple[str, bytes, dict[str, str]]:
    """The URL, signed body and headers of one attempt."""
    body = json.dumps(envelope(delivery, tenant), separators=(",", ":")).encode()
    secret = secrets.decrypt(endpoint.secret_encrypted)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        secrets.SIGNATURE_HEADER: secrets.signature_header(secret, body),
        "Rapport-Event": delivery.event_type,
        "Rapport-Event-Id": delivery.event_id,
        "Rapport-Delivery": str(delivery.id),
        "Rapport-Attempt": str(attempt),
    }
    return endpoint.url, body, headers


def _after_failure(
    session: Session,
    tenant: TenantRef,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    now: dt.datetime,
) -> None:
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    if endpoint.enabled and now - endpoint.failing_since >= DISABLE_AFTER:
        hours = int((now - endpoint.failing_since).total_seconds() // 3600)
        reason = f"Every delivery failed for {hours} hours (last: {delivery.last_error})"[:300]
        services.disable_for_failures(session, endpoint, reason)
        outbox.add(
            session,
            notify_disabled,
            {"endpoint_id": str(endpoint.id)},
            event_key=f"webhook-disabled:{endpoint.id}:{endpoint.disabled_at.isoformat()}",
        )
        return
    if delivery.attempts > len(BACKOFF):
        delivery.state, delivery.next_attempt_at = FAILED, None
        session.flush()
        return
    delivery.next_attempt_at = now + dt.timedelta(seconds=BACKOFF[delivery.attempts - 1])
    session.flush()
    due.mark_in_transaction(session, delivery.next_attempt_at)


# -- retries ---------------------------------------------------------------------------------------
@job("webhooks", plane="control", retries=0)
def retry_due(session: Session) -> None:
    """The periodic job: for each tenant with a retry due, queue its due attempts."""
    from rapport.platform.jobs.runtime import enqueue

    for tenant_id in due.take_due(utcnow()):
        try:
            enqueue(queue_due_attempts, tenant_id)
        except Exception:
            due.mark(tenant_id, utcnow())  # try again on the next tick
            raise


@job("webhooks", retries=1)
def queue_due_attempts(session: Session, tenant: TenantRef) -> None:
    """Queue the tenant's attempts that are due; mark it again for the ones that are not yet."""
    now = utcnow()
    for delivery in session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(RETRY_BATCH)
    ):
        delivery.next_attempt_at = None
        services.schedule_attempt(session, delivery)
    session.flush()
    later = session.scalar(
        select(WebhookDelivery.next_attempt_at)
        .where(WebhookDelivery.state == PENDING, WebhookDelivery.next_attempt_at.is_not(None))
        .order_by(WebhookDelivery.next_attempt_at)
        .limit(1)
    )
    if later is not None:
        due.mark_in_transaction(session, later)


# -- the email -------------------------------------------------------------------------------------
@job("email", retries=3)
def notify_disabled(session: Session, tenant: TenantRef, endpoint_id: str) -> None:
    """Email the workspace's owners and admins that an endpoint was disabled."""
    from rapport.platform.identity.members import MANAGERS, members_of

    endpoint = session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
    if endpoint is None or endpoint.enabled:
        return  # deleted or enabled again before the email went out
    settings = current_app.config["RAPPORT"]
    link = f"{settings.base_url.rstrip('/')}/{tenant.slug}/settings/webhooks/{endpoint.id}"
    recipients = [user for membership, user in members_of(tenant.id) if membership.role in MANAGERS]
    db.session.rollback()  # read only: do not sit in a control-plane transaction while sending
    for user in recipients:
        text = (
            f"Hello {user.name},\n\n"
            f"The webhook endpoint {endpoint.url} of the workspace {tenant.slug} was disabled: "
            f"{endpoint.disabled_reason}\n\n"
            "Events are not sent to it any more. When the receiver works again, enable the "
            f"endpoint and redeliver what it missed:\n{link}\n"
        )
        send_message(
            Message(to=user.email, subject=f"Webhook endpoint disabled: {endpoint.url}", text=text),
            settings,
        )
