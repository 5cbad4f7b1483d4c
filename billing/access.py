"""What a tenant may do, decided by its subscription's state (and the clock).

trialing / active → full; past_due → full with a banner for ``billing_grace_days``, then
read-only; unpaid / canceled → read-only; a trial past its end → read-only with an upgrade
prompt; suspended → no access. Read-only is enforced where every write ends up: the tenant
session's flush and bulk statements (see :func:`flush_guard`), so no write path (web, API, job,
import) can miss it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.billing.models import Subscription, SubscriptionState
from rapport.platform.audit.models import AuditEntry
from rapport.platform.db import db, utcnow
from rapport.platform.errors import DomainError
from rapport.platform.jobs.models import OutboxEntry

FULL = "full"
READ_ONLY = "read_only"
NO_ACCESS = "none"

_REASONS = {
    "trial_ended": "the free trial has ended",
    "past_due": "a payment is overdue",
    SubscriptionState.UNPAID.value: "the last invoice is unpaid",
    SubscriptionState.CANCELED.value: "the subscription was canceled",
}


class WorkspaceReadOnly(DomainError):
    """A write was refused because the workspace is read-only."""

    status = 402


def read_only_message(reason: str) -> str:
    return f"This workspace is read-only because {reason}; upgrade or update the payment method."


@dataclass(frozen=True)
class Access:
    level: str
    message: str | None = None  # why it is limited, for pages and errors
    banner: str | None = None  # shown on every page of the workspace
    upgrade: bool = False  # offer the upgrade

    @property
    def writable(self) -> bool:
        return self.level == FULL

    @property
    def readable(self) -> bool:
        return self.level != NO_ACCESS


def grace_days() -> int:
    return int(current_app.config["RAPPORT"].billing_grace_days)


def decide(subscription: Subscription | None, now: dt.datetime, grace: int) -> Access:
    """The access a subscription gives at ``now``."""
    if subscription is None:  # not expected (signup creates one); do not lock anybody out
        return Access(FULL)
    state = subscription.state
    if state == SubscriptionState.TRIALING.value:
        ends = subscription.trial_ends_at
        if ends is not None and ends <= now:
            message = read_only_message(_REASONS["trial_ended"])
            return Access(READ_ONLY, message, message, upgrade=True)
        if ends is None:
            return Access(FULL)
        days = max(0, (ends - now).days)
        left = "less than a day" if days == 0 else f"{days} day{'s' if days != 1 else ''}"
        return Access(FULL, banner=f"Your free trial ends in {left}.", upgrade=True)
    if state == SubscriptionState.ACTIVE.value:
        return Access(FULL)
    if state == SubscriptionState.PAST_DUE.value:
        since = subscription.past_due_since or now
        until = since + dt.timedelta(days=grace)
        if now < until:
            return Access(
                FULL,
                banner=(
                    "A payment is overdue. Update the payment method by "
                    f"{until:%Y-%m-%d} to keep full access."
                ),
            )
        message = read_only_message(_REASONS["past_due"])
        return Access(READ_ONLY, message, message)
    if state in (SubscriptionState.UNPAID.value, SubscriptionState.CANCELED.value):
        message = read_only_message(_REASONS[state])
        return Access(READ_ONLY, message, message, upgrade=True)
    message = "This workspace is suspended. Contact support to restore it."
    return Access(NO_ACCESS, message, message)


def load_subscription(tenant_id: uuid.UUID) -> Subscription | None:
    """Read the subscription (once per request) on a connection of its own: no control-plane
    transaction is left open behind it (a request or job may be writing the control plane)."""
    cache = g.setdefault("_billing_subscriptions", {}) if has_request_context() else {}
    if tenant_id in cache:
        return cache[tenant_id]
    with Session(db.engine) as session:
        subscription = session.scalars(
            select(Subscription).where(Subscription.tenant_id == tenant_id)
        ).first()
        if subscription is not None:
            session.expunge(subscription)
    cache[tenant_id] = subscription
    return subscription


def access_for(tenant_id: uuid.UUID, now: dt.datetime | None = None) -> Access:
    """The tenant's access now (once per request)."""
    cache = g.setdefault("_billing_access", {}) if has_request_context() else {}
    if tenant_id not in cache:
        cache[tenant_id] = decide(load_subscription(tenant_id), now or utcnow(), grace_days())
    return cache[tenant_id]


# Rows a read-only workspace still writes: they record what happened, they change no data.
_BOOKKEEPING = (OutboxEntry, AuditEntry)


def flush_guard(session: Session, classes: tuple[type, ...]) -> None:
    """Refuse a tenant session's write of rows of ``classes`` while the tenant is read-only."""
    if not has_app_context():
        return
    tenant = session.info.get("tenant")
    if tenant is None:
        return
    if all(issubclass(cls, _BOOKKEEPING) for cls in classes):
        return  # the outbox's delivery marks and audit entries of control-plane actions
    access = session.info.get("billing_access")
    if access is None:
        access = session.info["billing_access"] = access_for(tenant.id)
    if not access.writable:
        raise WorkspaceReadOnly(access.message or read_only_message("of its subscription"))
