"""Record events: what happened to a tenant's records, announced after the commit.

Every service that creates, changes or deletes a record calls :func:`emit` in the same
transaction as the change. That writes one row to the tenant's outbox, so the event leaves exactly
when the change commits and is never lost between the two. After the commit the ``record_event``
job hands the event to each subscriber (webhooks now, workflows later)::

    events.emit(session, "company.created", "companies", company.id, snapshot)

    @events.subscriber
    def fan_out(session, tenant, event): ...

Event names are ``<singular>.<verb>`` (``company.created``, ``deal.stage_changed``,
``lead.converted``); :data:`EVENT_TYPES` lists every name an integrator can subscribe to.
Subscribers run inside the job's tenant transaction and must be idempotent: the job is delivered
at least once. ``event["id"]`` identifies the business event, whichever attempt carries it.

A change made by a workflow carries ``event["origin"]`` (``{"workflows": [ids], "depth": n}``,
from ``session.info[ORIGIN]`` while the workflow's actions run), so workflows neither trigger
themselves again nor chain without end.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session

from rapport.platform.db import utcnow
from rapport.platform.ids import new_id
from rapport.platform.jobs import outbox
from rapport.platform.jobs.registry import job
from rapport.platform.tenancy.models import TenantRef

#: Every event type, with what it means (shown to admins choosing webhook events).
EVENT_TYPES: dict[str, str] = {}

#: session.info key: which workflows caused the changes being made (see the module docstring).
ORIGIN = "rapport.events.origin"

Subscriber = Callable[[Session, TenantRef, dict[str, Any]], None]
_subscribers: list[Subscriber] = []


def declare(name: str, description: str) -> str:
    """Add an event type to :data:`EVENT_TYPES` (idempotent); return its name."""
    EVENT_TYPES.setdefault(name, description)
    return name


for _singular in ("company", "contact", "deal"):
    for _verb in ("created", "updated", "deleted"):
        declare(f"{_singular}.{_verb}", f"A {_singular} was {_verb}.")
declare("deal.stage_changed", "A deal moved to another stage (won and lost included).")


def subscriber(fn: Subscriber) -> Subscriber:
    """Register ``fn(session, tenant, event)`` to receive every record event."""
    if fn not in _subscribers:
        _subscribers.append(fn)
    return fn


def _plain(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy (dates, decimals and ids become strings)."""
    return json.loads(json.dumps(dict(data or {}), default=str))


def emit(
    session: Session,
    name: str,
    record_type: str,
    record_id: uuid.UUID | str,
    data: Mapping[str, Any] | None = None,
) -> uuid.UUID:
    """Announce ``name`` about one record after this transaction commits; return the event id."""
    if name not in EVENT_TYPES:
        raise ValueError(f"undeclared event type {name!r}; declare it in its feature first")
    event_id = new_id()
    payload = {
        "id": str(event_id),
        "type": name,
        "record_type": record_type,
        "record_id": str(record_id),
        "occurred_at": utcnow().isoformat(),
        "data": _plain(data),
    }
    origin = session.info.get(ORIGIN)
    if origin:
        payload["origin"] = _plain(origin)
    outbox.add(session, record_event, payload, event_key=f"event:{event_id}")
    return event_id


@job("webhooks")
def record_event(session: Session, tenant: TenantRef, **event: Any) -> None:
    """Hand one committed event to every subscriber."""
    for fn in list(_subscribers):
        fn(session, tenant, event)
