"""Webhook operations: endpoints (create, change, enable, disable, delete), the event fan-out,
redelivery and test events. Services flush and never commit; the boundary does.

Sending happens in :mod:`rapport.tenants.webhooks.jobs`; everything here only writes rows and
outbox entries, so a delivery is scheduled exactly when the change that caused it commits.
"""

from __future__ import annotations

import functools
import ipaddress
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import utcnow
from rapport.platform.errors import ValidationFailed
from rapport.platform.ids import new_id
from rapport.platform.jobs import outbox
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants import events, records
from rapport.tenants.companies.schemas import load
from rapport.tenants.modules import services as modules
from rapport.tenants.roles import services as roles
from rapport.tenants.roles.access import Principal, unrestricted
from rapport.tenants.roles.fields import strip_hidden
from rapport.tenants.webhooks import secrets, transport
from rapport.tenants.webhooks.models import (
    FAILED,
    PENDING,
    WebhookDelivery,
    WebhookEndpoint,
)
from rapport.tenants.webhooks.queries import get_delivery, get_endpoint
from rapport.tenants.webhooks.schemas import EndpointInputSchema

SEND_JOB = "rapport.tenants.webhooks.jobs.send_delivery"
#: Sent by "Send test event"; not subscribable, so it is not in events.EVENT_TYPES.
TEST_EVENT = "webhook.test"
MAX_ENDPOINTS = 50


def attempt_key(delivery_id: uuid.UUID, number: int) -> str:
    """The outbox identity of attempt ``number`` of a delivery: each attempt is sent once."""
    return f"webhook:{delivery_id}:{number}"


def schedule_attempt(session: Session, delivery: WebhookDelivery, *, manual: bool = False) -> None:
    """Queue the delivery's next attempt after this transaction commits."""
    number = delivery.attempts + 1
    outbox.add(
        session,
        SEND_JOB,
        {"delivery_id": str(delivery.id), "attempt": number, "manual": manual},
        event_key=attempt_key(delivery.id, number),
    )


def snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": sorted(endpoint.event_types or []),
        "enabled": endpoint.enabled,
        "role": endpoint.role,
    }


def _allow_private() -> bool:
    return bool(current_app.config["RAPPORT"].webhook_allow_private)


def _check(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    problems: dict[str, list[str]] = {}
    if "role" in values:
        values["role"] = values["role"].strip()
        if values["role"] == "owner" or not roles.exists(session, values["role"]):
            problems["role"] = ["Choose one of the workspace's roles (not owner)."]
    if "url" in values:
        url = values["url"].strip()
        values["url"] = url
        try:
            _scheme, host, _port, _path = transport.check_url(url)
        except transport.Refused as exc:
            problems["url"] = [str(exc)]
        else:
            try:
                literal = ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                literal = None  # a name: checked when it is resolved, at every attempt
            if literal is not None and not _allow_private() and not transport.is_public(host):
                problems["url"] = ["Use a public address: private and local ones are refused."]
    if "event_types" in values:
        chosen = list(dict.fromkeys(t.strip() for t in values["event_types"]))
        unknown = [t for t in chosen if t not in events.EVENT_TYPES]
        if unknown:
            problems["event_types"] = [f"Unknown event type: {', '.join(unknown)}."]
        elif not chosen:
            problems["event_types"] = ["Choose at least one event type."]
        values["event_types"] = sorted(chosen)
    if "description" in values:
        values["description"] = (values["description"] or "").strip() or None
    if problems:
        raise ValidationFailed(problems)
    return values


def create_endpoint(
    session: Session, data: Mapping[str, Any], *, created_by: uuid.UUID | None = None
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; return it and its signing secret, which is never shown again."""
    values = _check(session, load(EndpointInputSchema(), dict(data)))
    count = len(list(session.scalars(select(WebhookEndpoint.id))))
    if count >= MAX_ENDPOINTS:
        raise ValidationFailed({"url": [f"A workspace has at most {MAX_ENDPOINTS} endpoints."]})
    secret = secrets.new_secret()
    enabled = values.pop("enabled", True)
    endpoint = WebhookEndpoint(
        **values,
        enabled=enabled,
        disabled_at=None if enabled else utcnow(),
        secret_encrypted=secrets.encrypt(secret),
        secret_hint=secret[-4:],
        created_by=created_by,
    )
    session.add(endpoint)
    session.flush()
    audit.record(
        session, "webhook.created", "webhook", endpoint.id, audit.diff({}, snapshot(endpoint))
    )
    return endpoint, secret


def update_endpoint(
    session: Session, endpoint_id: uuid.UUID | str, data: Mapping[str, Any]
) -> WebhookEndpoint:
    """Change some of an endpoint's settings (its URL, description, event types, enabled)."""
    endpoint = get_endpoint(session, endpoint_id)
    values = _check(session, load(EndpointInputSchema(), dict(data), partial=True))
    before = snapshot(endpoint)
    enabled = values.pop("enabled", None)
    for name, value in values.items():
        setattr(endpoint, name, value)
    if enabled is not None and enabled != endpoint.enabled:
        _switch(endpoint, enabled, "Disabled by an admin.")
    session.flush()
    changes = audit.diff(before, snapshot(endpoint))
    if changes:
        audit.record(session, "webhook.updated", "webhook", endpoint.id, changes)
    return endpoint


def _switch(endpoint: WebhookEndpoint, enabled: bool, reason: str) -> None:
    endpoint.enabled = enabled
    if enabled:
        endpoint.disabled_at = endpoint.disabled_reason = endpoint.failing_since = None
    else:
        endpoint.disabled_at, endpoint.disabled_reason = utcnow(), reason


def set_enabled(session: Session, endpoint_id: uuid.UUID | str, enabled: bool) -> WebhookEndpoint:
    """Enable or disable an endpoint (a disabled one receives no new events)."""
    return update_endpoint(session, endpoint_id, {"enabled": enabled})


def disable_for_failures(session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
    """Disable an endpoint that kept failing; give up its pending deliveries; audit."""
    before = snapshot(endpoint)
    _switch(endpoint, False, reason)
    for delivery in session.scalars(
        select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.state == PENDING
        )
    ):
        delivery.state, delivery.next_attempt_at = FAILED, None
    session.flush()
    audit.record(
        session,
        "webhook.disabled",
        "webhook",
        endpoint.id,
        audit.diff(before, snapshot(endpoint)),
        note=reason,
    )


def delete_endpoint(session: Session, endpoint_id: uuid.UUID | str) -> None:
    """Delete an endpoint with its delivery log."""
    endpoint = get_endpoint(session, endpoint_id)
    before = snapshot(endpoint)
    for delivery in session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    ):
        session.delete(delivery)
    session.delete(endpoint)
    session.flush()
    audit.record(session, "webhook.deleted", "webhook", endpoint.id, audit.diff(before, {}))


def redeliver(session: Session, delivery_id: uuid.UUID | str) -> WebhookDelivery:
    """Send a delivery again now (an admin's "Redeliver"), whatever its state."""
    delivery = get_delivery(session, delivery_id)
    if delivery.state != PENDING:
        delivery.state = PENDING
    delivery.next_attempt_at = None
    schedule_attempt(session, delivery, manual=True)
    session.flush()
    audit.record(
        session,
        "webhook.redelivered",
        "webhook_delivery",
        delivery.id,
        note=f"{delivery.event_type} to {delivery.endpoint.url}",
    )
    return delivery


def send_test(session: Session, endpoint_id: uuid.UUID | str) -> WebhookDelivery:
    """Queue a ``webhook.test`` event to one endpoint (even a disabled one)."""
    endpoint = get_endpoint(session, endpoint_id)
    event_id = str(new_id())
    delivery = WebhookDelivery(
        endpoint_id=endpoint.id,
        event_id=event_id,
        event_type=TEST_EVENT,
        payload={
            "id": event_id,
            "type": TEST_EVENT,
            "record_type": None,
            "record_id": None,
            "occurred_at": utcnow().isoformat(),
            "data": {"message": "A test event sent from Rapport's webhook settings."},
        },
    )
    session.add(delivery)
    session.flush()
    schedule_attempt(session, delivery, manual=True)
    return delivery


@events.subscriber
def fan_out(session: Session, tenant: TenantRef, event: dict[str, Any]) -> None:
    """One delivery per active endpoint that chose this event type, each sent by its own job.

    Each endpoint sees events as its role does (:func:`as_seen_by`); events of a switched-off
    module's records are not sent.
    """
    if event.get("record_type") and event["record_type"] not in modules.record_types(session):
        return
    endpoints = [
        e
        for e in session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True)))
        if e.receives(event["type"])
    ]
    if not endpoints:
        return
    known = set(
        session.scalars(
            select(WebhookDelivery.endpoint_id).where(WebhookDelivery.event_id == event["id"])
        )
    )
    owner = functools.cache(lambda: _owner_of(session, event))  # once, if an endpoint asks
    for endpoint in endpoints:
        if endpoint.id in known:
            continue  # the event job ran before: its deliveries exist (and are unique anyway)
        data = as_seen_by(session, endpoint, event, owner)
        if data is None:
            continue
        delivery = WebhookDelivery(
            endpoint_id=endpoint.id,
            event_id=event["id"],
            event_type=event["type"],
            payload={
                **{k: event.get(k) for k in ("id", "type", "record_type", "record_id")},
                "occurred_at": event.get("occurred_at"),
                "data": data,
            },
        )
        session.add(delivery)
        session.flush()
        schedule_attempt(session, delivery)


def as_seen_by(
    session: Session,
    endpoint: WebhookEndpoint,
    event: Mapping[str, Any],
    owner: Callable[[], uuid.UUID | None],
) -> dict[str, Any] | None:
    """The event's data as the endpoint's role sees it, or None when the role may not see the
    record: a type it may not read, or a record outside its visibility, judged for the member
    who made the endpoint (as for their API keys). Fields the role hides are left out, in the
    record and in the change list; a change of nothing but hidden fields is not sent at all.
    ``owner()`` gives the record's owner (read once per event, by :func:`fan_out`)."""
    data = dict(event.get("data") or {})
    record_type = event.get("record_type")
    if not record_type or not records.exists(record_type):
        return data
    principal = Principal(endpoint.created_by, roles.policy(session, endpoint.role))
    owners = principal.owners(session, record_type)
    if owners is not None and owner() not in owners:
        return None
    seen = strip_hidden(data, principal.policy.hidden(record_type))
    if data.get("changes") and not seen.get("changes"):
        return None
    return seen


def _owner_of(session: Session, event: Mapping[str, Any]) -> uuid.UUID | None:
    """The record's owner: from the event's snapshot, else (a note, an account team change) from
    the record itself; a record that is gone has none."""
    data, record_type = event.get("data") or {}, event["record_type"]
    if "owner_id" in data:
        raw = data["owner_id"]
    else:
        model = records.get(record_type).model
        with unrestricted(session):
            raw = session.scalar(
                select(model.owner_id).where(model.id == uuid.UUID(str(event["record_id"])))
            )
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None
