"""Which tenants have webhook retries waiting, and from when: the retry sweep's list.

The periodic retry job must not open every tenant schema each minute, so a failed attempt marks
its tenant with the time of its next retry: a Redis sorted set shared by every process, or a dict
in the one process of the embedded default. A tenant is marked before its transaction commits (a
crash after the commit still leaves the mark) and again after it (the sweep may have taken the
mark in between, before the retry was visible).
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from typing import Any

from flask import current_app

from rapport.platform.tenancy.models import TenantRef
from rapport.platform.tenancy.scope import tenant_committed

_INFO = "rapport.webhooks.due"
_memory: dict[str, float] = {}
_lock = threading.Lock()
_seeded = False
# ZADD with LT keeps the earliest time when a tenant is marked again.
_MARK = "redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])"
# Take atomically: a tenant marked between a read and a remove would otherwise be lost.
_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end
return due
"""


def _redis():  # type: ignore[no-untyped-def]
    settings = current_app.config["RAPPORT"]
    if not settings.redis_url:
        return None, ""
    client = current_app.extensions.get("rapport.webhooks.redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(settings.redis_url)
        current_app.extensions["rapport.webhooks.redis"] = client
    return client, f"{settings.role_prefix}:webhooks:due"


def mark(tenant_id: uuid.UUID | str, when: dt.datetime) -> None:
    """Note that the tenant has a retry due at ``when`` (the earliest mark wins)."""
    score = when.timestamp()
    client, key = _redis()
    if client is None:
        with _lock:
            known = _memory.get(str(tenant_id))
            _memory[str(tenant_id)] = score if known is None else min(known, score)
        return
    client.eval(_MARK, 1, key, str(tenant_id), score)


def take_due(now: dt.datetime, limit: int = 1000) -> list[str]:
    """Remove and return the tenants with a retry due by ``now``."""
    score = now.timestamp()
    client, key = _redis()
    if client is None:
        _seed_memory()
        with _lock:
            due = [t for t, s in _memory.items() if s <= score][:limit]
            for tenant_id in due:
                del _memory[tenant_id]
        return due
    return [t.decode() for t in client.eval(_TAKE, 1, key, score, limit)]


def _seed_memory() -> None:
    """The in-process marks start empty: after a restart, visit every active tenant once, so
    retries scheduled before it are not forgotten (the embedded default has few tenants)."""
    global _seeded
    if _seeded:
        return
    from sqlalchemy import select

    from rapport.platform.db import db
    from rapport.platform.tenancy.models import Tenant, TenantState

    ids = db.session.scalars(
        select(Tenant.id).where(Tenant.state == TenantState.ACTIVE.value)
    ).all()
    db.session.rollback()
    with _lock:
        for tenant_id in ids:
            _memory.setdefault(str(tenant_id), 0.0)
        _seeded = True


def mark_in_transaction(session: Any, when: dt.datetime) -> None:
    """Mark the session's tenant now and once more after its commit."""
    tenant: TenantRef = session.info["tenant"]
    mark(tenant.id, when)
    session.info.setdefault(_INFO, []).append(when)
    tenant_committed.connect(_after_commit, weak=False)  # idempotent


def _after_commit(_sender: Any, tenant: TenantRef, info: dict[str, Any], **_: Any) -> None:
    times = info.pop(_INFO, None)
    if times:
        mark(tenant.id, min(times))
