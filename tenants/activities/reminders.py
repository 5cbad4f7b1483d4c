"""Reminders: emailed to the activity's owner once, and listed in the app while they are due.

Finding due reminders must not mean visiting every tenant schema every minute. An index of
*tenants* keyed by their next due reminder time is kept beside the database:

- in Redis, a sorted set (tenant id -> epoch seconds), when ``redis_url`` is set; in memory in
  the embedded runtime, which is a single process;
- after each commit that sets an open activity's reminder, the tenant's score is lowered to that
  time (``ZADD ... LT``): only ever lowered, so concurrent commits cannot lose each other;
- every minute ``dispatch_reminders`` takes the tenants whose score has passed, removes them from
  the index *before* enqueuing ``send_due_reminders`` for each. That job reads the due rows after
  the removal, so whatever committed before it is read, and whatever commits after it puts the
  tenant back; the job itself puts back the tenant's next future reminder;
- the index is rebuilt from the database by a slower pass (``REBUILD_EVERY``, and at once when
  the Redis marker is gone, e.g. after a Redis flush or restart), so nothing is lost with Redis.

A reminder is sent once: the email goes through the tenant's outbox under the event key
``reminder:<activity id>:<remind_at>``, and ``reminded_at`` is set in the same transaction.
Changing ``remind_at`` makes a new reminder.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

from flask import Flask, current_app
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform import timezones
from rapport.platform.db import db, utcnow
from rapport.platform.jobs import outbox
from rapport.platform.jobs.registry import job
from rapport.platform.mail import Message, send_message
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants.activities.models import Activity

EXTENSION = "rapport.reminders"
#: session.info key: the earliest reminder time this unit of work set.
NOTED = "rapport.reminders"
#: How often the index is rebuilt from every tenant's database (seconds).
REBUILD_EVERY = 3600
#: Most reminders one tenant sends per run (the rest are still due, so the next minute sends them).
BATCH = 200
_KEY = "rapport:reminders:due"
_REBUILT = "rapport:reminders:rebuilt"


class MemoryIndex:
    """The index in one process (the embedded runtime)."""

    def __init__(self) -> None:
        self._due: dict[str, float] = {}
        self._rebuilt_at = 0.0
        self._lock = threading.Lock()

    def lower(self, tenant_id: str, at: float) -> None:
        with self._lock:
            self._due[tenant_id] = min(at, self._due.get(tenant_id, at))

    def due(self, now: float, limit: int = 1000) -> list[str]:
        with self._lock:
            return sorted((t for t, at in self._due.items() if at <= now), key=self._due.get)[
                :limit
            ]

    def take(self, tenant_id: str) -> None:
        with self._lock:
            self._due.pop(tenant_id, None)

    def score(self, tenant_id: str) -> float | None:
        with self._lock:
            return self._due.get(tenant_id)

    def claim_rebuild(self, now: float, every: int) -> bool:
        with self._lock:
            if now - self._rebuilt_at < every:
                return False
            self._rebuilt_at = now
            return True


class RedisIndex:
    """The index in Redis, shared by every web process and worker."""

    def __init__(self, connection: Redis) -> None:
        self.redis = connection

    def lower(self, tenant_id: str, at: float) -> None:
        self.redis.zadd(_KEY, {tenant_id: at}, lt=True)

    def due(self, now: float, limit: int = 1000) -> list[str]:
        found = self.redis.zrangebyscore(_KEY, "-inf", now, start=0, num=limit)
        return [t.decode() if isinstance(t, bytes) else t for t in found]

    def take(self, tenant_id: str) -> None:
        self.redis.zrem(_KEY, tenant_id)

    def score(self, tenant_id: str) -> float | None:
        return self.redis.zscore(_KEY, tenant_id)

    def claim_rebuild(self, now: float, every: int) -> bool:
        # The marker expires, and vanishes with a flushed or new Redis: either way, rebuild.
        return bool(self.redis.set(_REBUILT, str(now), nx=True, ex=every))


def index(app: Flask | None = None) -> MemoryIndex | RedisIndex:
    """The application's reminder index (Redis when configured, else in memory)."""
    app = app or current_app._get_current_object()
    found = app.extensions.get(EXTENSION)
    if found is None:
        url = app.config["RAPPORT"].redis_url
        found = RedisIndex(Redis.from_url(url)) if url else MemoryIndex()
        found = app.extensions.setdefault(EXTENSION, found)
    return found


# -- after the commit -----------------------------------------------------------------------------
def note(session: Session, activity: Activity) -> None:
    """Remember that this unit of work set a pending reminder; the index learns it after commit."""
    if activity.status != "open" or activity.remind_at is None or activity.reminded_at is not None:
        return
    _connect()
    at = activity.remind_at.timestamp()
    known = session.info.get(NOTED)
    session.info[NOTED] = at if known is None else min(known, at)


def _after_commit(sender: Flask, tenant: TenantRef, info: dict[str, Any], **_: Any) -> None:
    at = info.pop(NOTED, None)
    if at is not None:
        index(sender).lower(str(tenant.id), at)


_connected = False


def _connect() -> None:
    """Listen to tenant commits, from the first reminder on (nothing happens at import)."""
    global _connected
    if not _connected:
        from rapport.platform.tenancy.scope import tenant_committed

        tenant_committed.connect(_after_commit, weak=False)
        _connected = True


def next_due(session: Session) -> dt.datetime | None:
    """The earliest reminder of this tenant that is still to send."""
    return session.scalar(
        select(func.min(Activity.remind_at)).where(
            Activity.status == "open",
            Activity.remind_at.is_not(None),
            Activity.reminded_at.is_(None),
        )
    )


# -- the jobs -------------------------------------------------------------------------------------
@job("default", plane="control", retries=0)
def dispatch_reminders(session: Session) -> list[str]:
    """The periodic job: start a reminder run for each tenant with a reminder due; return them.

    Every ``REBUILD_EVERY`` seconds (or when Redis lost the index) it also refreshes every active
    tenant: its index entry from the database and its visit plans' generated visits.
    """
    from rapport.platform.jobs.runtime import enqueue, enqueue_for_each_tenant

    now = utcnow().timestamp()
    idx = index()
    if idx.claim_rebuild(now, REBUILD_EVERY):
        enqueue_for_each_tenant(refresh_tenant)
    started = []
    for tenant_id in idx.due(now):
        idx.take(tenant_id)  # before the job reads: see the module docstring
        enqueue(send_due_reminders, tenant_id)
        started.append(tenant_id)
    return started


@job("default", retries=1)
def refresh_tenant(session: Session, tenant: TenantRef) -> None:
    """Put the tenant's next reminder into the index and generate its planned visits ahead."""
    from rapport.tenants.visits.services import generate_all

    generate_all(session)
    _note_next(session)


def _note_next(session: Session) -> None:
    at = next_due(session)
    if at is not None:
        _connect()
        known = session.info.get(NOTED)
        session.info[NOTED] = at.timestamp() if known is None else min(known, at.timestamp())


@job("default")
def send_due_reminders(session: Session, tenant: TenantRef) -> int:
    """Queue the email of each due reminder of this tenant, once; return how many."""
    now = utcnow()
    due = list(
        session.scalars(
            select(Activity)
            .where(
                Activity.status == "open",
                Activity.remind_at <= now,
                Activity.reminded_at.is_(None),
            )
            .order_by(Activity.remind_at, Activity.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    )
    for activity in due:
        activity.reminded_at = now
        outbox.add(
            session,
            send_reminder_email,
            {"activity_id": str(activity.id), "remind_at": activity.remind_at.isoformat()},
            event_key=f"reminder:{activity.id}:{activity.remind_at.isoformat()}",
        )
    session.flush()
    _note_next(session)
    return len(due)


@job("email")
def send_reminder_email(
    session: Session, tenant: TenantRef, activity_id: str, remind_at: str, **_: Any
) -> bool:
    """Email one reminder to the activity's owner; False when there is nothing (left) to send."""
    from rapport.platform.identity.models import User

    activity = session.get(Activity, uuid.UUID(activity_id))
    if activity is None or activity.status != "open" or activity.owner_id is None:
        return False
    if activity.remind_at is None or activity.remind_at.isoformat() != remind_at:
        return False  # the reminder was moved: the new time is a reminder of its own
    user = db.session.get(User, activity.owner_id)
    if user is None:
        return False
    settings = current_app.config["RAPPORT"]
    link = f"{settings.base_url.rstrip('/')}/{tenant.slug}/activities/{activity.id}"
    # In the owner's own time zone, as the app shows it to them.
    zone = timezones.zone_of(user.timezone)
    when = timezones.format_in(activity.due_at, zone, "%a %d %b %Y, %H:%M") or "no date set"
    text = (
        f"Hello {user.name or user.email},\n\n"
        f"A reminder from {tenant.name}: {activity.kind} “{activity.subject}”.\n"
        f"When: {when}\n\n"
        f"Open it: {link}\n"
    )
    send_message(
        Message(to=user.email, subject=f"Reminder: {activity.subject}", text=text), settings
    )
    return True
