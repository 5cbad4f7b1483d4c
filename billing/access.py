"""What a tenant may do, decided by its subscription's state (and the clock).

trialing / active → full; past_due → full with a banner for ``billing_grace_days``, then
read-only; unpaid / canceled → read-only; a trial past its end → read-only with an upgrade
prompt; suspended → no access. Read-only is enforced where every write ends up: the tenant
session's flush and bulk statements (see :func:`flush_guard`), so no write path (web, API, job,
import) can miss it. Bookkeeping still gets written (what happened, not customer data): the
outbox, the audit log, the webhook delivery log and the columns jobs set as things happen
(a reminder sent, an endpoint failing); see ``_BOOKKEEPING``.

The subscription behind the decision is read on every request that needs it (the API's quota,
the banner, the flush guard), so each process keeps it for :data:`CACHE_SECONDS`, bounded to
:data:`CACHE_SIZE` tenants. A change written through the ORM in this process (Stripe webhooks,
``set-plan``, the sweep, plan changes) drops the copy at once and again after its commit; a
change made by another process takes effect here within the TTL. The access itself is decided
from the cached row at each request's ``now``, so trial ends and grace periods are exact.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from flask import current_app, g, has_app_context, has_request_context
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session, object_session

from rapport.billing.models import Subscription, SubscriptionState
from rapport.platform.audit.models import AuditEntry
from rapport.platform.db import db, utcnow
from rapport.platform.errors import ValidationFailed
from rapport.platform.jobs.models import OutboxEntry
from rapport.tenants.activities.models import Activity
from rapport.tenants.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

#: The error key of a write refused for billing reasons, shown by the billing banner.
REFUSAL_FIELD = "_billing"


class Refusal(dict[str, list[str]]):
    """The errors of a write refused for billing reasons: false while they name no field.

    Form templates say "Please correct the fields marked below" when their ``errors`` are true;
    there is no field to correct here, only the banner's reason to read."""

    def __bool__(self) -> bool:
        return any(key != REFUSAL_FIELD for key in self)


FULL = "full"
READ_ONLY = "read_only"
NO_ACCESS = "none"

_REASONS = {
    "trial_ended": "the free trial has ended",
    "past_due": "a payment is overdue",
    SubscriptionState.UNPAID.value: "the last invoice is unpaid",
    SubscriptionState.CANCELED.value: "the subscription was canceled",
}


class WorkspaceReadOnly(ValidationFailed):
    """A write was refused because the workspace is read-only.

    402 on the API (with the message); a view that shows its form again with the errors keeps
    what the user typed, and the page's billing banner says why (the ``_billing`` error, see
    ``billing/_banner.html``), on every page whatever its template shows of the errors."""

    status = 402

    def __init__(self, message: str) -> None:
        super().__init__(Refusal({REFUSAL_FIELD: [message]}), message)


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


#: How long a process keeps a tenant's subscription (seconds). Changes made by this process
#: (webhooks, set-plan, the sweep: anything that writes a Subscription through the ORM) drop its
#: copy at once; changes made by another process take effect here within this time.
CACHE_SECONDS = 5.0
CACHE_SIZE = 4096  # tenants kept at most (least recently read dropped first)
_cache: OrderedDict[tuple[int, uuid.UUID], tuple[float, Subscription | None]] = OrderedDict()
_cache_lock = threading.Lock()


def cache_seconds() -> float:
    """``BILLING_SUBSCRIPTION_CACHE_SECONDS`` in the app config overrides it (0: no cache)."""
    return float(current_app.config.get("BILLING_SUBSCRIPTION_CACHE_SECONDS", CACHE_SECONDS))


def forget(tenant_id: uuid.UUID) -> None:
    """Drop this process's copy of the tenant's subscription (every engine)."""
    with _cache_lock:
        for key in [k for k in _cache if k[1] == tenant_id]:
            del _cache[key]


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _read_subscription(tenant_id: uuid.UUID) -> Subscription | None:
    with Session(db.engine) as session:
        subscription = session.scalars(
            select(Subscription).where(Subscription.tenant_id == tenant_id)
        ).first()
        if subscription is not None:
            session.expunge(subscription)
    return subscription


def load_subscription(tenant_id: uuid.UUID) -> Subscription | None:
    """The tenant's subscription, read on a connection of its own (no control-plane transaction
    is left open behind it), kept for the request and for :data:`CACHE_SECONDS` in the process.
    The copy is detached and shared: read it, never change it."""
    per_request = g.setdefault("_billing_subscriptions", {}) if has_request_context() else {}
    if tenant_id in per_request:
        return per_request[tenant_id]
    ttl = cache_seconds()
    key = (id(db.engine), tenant_id)
    now = time.monotonic()
    with _cache_lock:
        found = _cache.get(key)
        if found is not None and found[0] > now:
            _cache.move_to_end(key)
            per_request[tenant_id] = found[1]
            return found[1]
    subscription = _read_subscription(tenant_id)
    if ttl > 0:
        with _cache_lock:
            _cache[key] = (now + ttl, subscription)
            _cache.move_to_end(key)
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    per_request[tenant_id] = subscription
    return subscription


def _changed(_mapper: object, _connection: object, target: Subscription) -> None:
    """A subscription is being written: forget it now, and again once the transaction ends (a
    request reading it in between must not keep the old row for the whole TTL)."""
    forget(target.tenant_id)
    session = object_session(target)
    if session is not None:
        session.info.setdefault("billing_changed", set()).add(target.tenant_id)


def _transaction_ended(session: Session, *_args: object) -> None:
    for tenant_id in session.info.pop("billing_changed", ()):
        forget(tenant_id)


for _event in ("after_insert", "after_update", "after_delete"):
    event.listen(Subscription, _event, _changed)
event.listen(Session, "after_commit", _transaction_ended)
event.listen(Session, "after_soft_rollback", _transaction_ended)


def access_for(tenant_id: uuid.UUID, now: dt.datetime | None = None) -> Access:
    """The tenant's access now (once per request)."""
    cache = g.setdefault("_billing_access", {}) if has_request_context() else {}
    if tenant_id not in cache:
        cache[tenant_id] = decide(load_subscription(tenant_id), now or utcnow(), grace_days())
    return cache[tenant_id]


# Rows a read-only workspace still writes: they record what happened, they change no data. The
# outbox (jobs' delivery marks), the audit log, and the webhook delivery log (a delivery already
# queued is still sent, each attempt noted): a workspace that stopped paying keeps its receivers
# informed of what happened before, and loses no record of it.
_BOOKKEEPING: tuple[type, ...] = (OutboxEntry, AuditEntry, WebhookDelivery, WebhookAttempt)

# Columns of data rows that jobs set as things happen: a change of only these is bookkeeping too.
# An activity's reminder was sent (``reminded_at``: the reminder is not sent twice); an endpoint
# started or stopped failing, or was switched off after a day of failures. Anything else on these
# rows (a user's edit, switching an endpoint back on) stays refused.
_BOOKKEEPING_COLUMNS: dict[type, frozenset[str]] = {
    Activity: frozenset({"reminded_at"}),
    WebhookEndpoint: frozenset({"failing_since", "enabled", "disabled_at", "disabled_reason"}),
}


def _only_bookkeeping(session: Session, classes: list[type]) -> bool:
    """Whether the session's pending changes of ``classes`` touch only bookkeeping columns."""
    if not all(cls in _BOOKKEEPING_COLUMNS for cls in classes):
        return False
    if any(isinstance(obj, tuple(classes)) for obj in (*session.new, *session.deleted)):
        return False
    changed = [obj for obj in session.dirty if isinstance(obj, tuple(classes))]
    if not changed:
        return False  # a bulk statement: its columns are not known here
    for obj in changed:
        state = inspect(obj)
        columns = {a.key for a in state.attrs if a.history.has_changes()}
        if not columns <= _BOOKKEEPING_COLUMNS[type(obj)]:
            return False
        if isinstance(obj, WebhookEndpoint) and "enabled" in columns and obj.enabled:
            return False  # switching an endpoint back on is the user's decision
    return True


def flush_guard(session: Session, classes: tuple[type, ...]) -> None:
    """Refuse a tenant session's write of rows of ``classes`` while the tenant is read-only."""
    if not has_app_context():
        return
    tenant = session.info.get("tenant")
    if tenant is None:
        return
    data = [cls for cls in classes if not issubclass(cls, _BOOKKEEPING)]
    if not data:
        return  # the outbox's delivery marks, audit entries, the webhook delivery log
    access = session.info.get("billing_access")
    if access is None:
        access = session.info["billing_access"] = access_for(tenant.id)
    if access.writable or _only_bookkeeping(session, data):
        return
    discard_pending(session)
    raise WorkspaceReadOnly(access.message or read_only_message("of its subscription"))


def discard_pending(session: Session) -> None:
    """Drop the session's refused changes, so the page that asked for them can be shown again
    (its queries would otherwise flush them, and be refused, once more)."""
    for obj in list(session.new):
        session.expunge(obj)
    for obj in list(session.dirty):
        session.expire(obj)
    for obj in list(session.deleted):
        session.expunge(obj)
