"""Per-tenant configuration read through a bounded cache that stays fresh across processes.

A tenant's configuration (its roles, its modules, …) is read on nearly every request and changes
rarely. Each kind has a version counter per tenant, in Redis when configured, else in this process.
A process keeps ``(version, value)`` per tenant in a :class:`BoundedCache`; when the counter has
moved, it reloads. The counter is bumped after the commit of a change, so a reload always sees the
committed rows, and the session that made the change reads uncached until then.

A unit of work reads the counters of every kind at once, the first time it needs one (one Redis
``MGET``). A request authenticated by an API key reads them with the key's own counter
(:func:`prefetch`), so the key check and the tenant's configuration cost one round trip together.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Generic, TypeVar

from flask import current_app, g, has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from rapport.platform.tenancy.engines import BoundedCache

T = TypeVar("T")

_MEMO = "rapport.versioned"
_READ = "rapport.versions"  # session.info: the counters this unit of work goes by
_PREFETCHED = "rapport_versions"  # g: counters read with an API key's, for the tenant session
_local_versions: dict[str, int] = {}
_local_lock = threading.Lock()
#: Every kind of versioned configuration, so that one read covers them all.
_KINDS: list[str] = []


def _key(kind: str, tenant_id: uuid.UUID) -> str:
    from rapport.platform.tenancy.scope import tenancy

    return f"{tenancy().settings.role_prefix}:{kind}:version:{tenant_id}"


def read_all(tenant_id: uuid.UUID, *also: str) -> dict[str, int]:
    """The tenant's counter of every kind (and of the kinds ``also`` names), in one read."""
    kinds = [*_KINDS, *also]
    keys = [_key(kind, tenant_id) for kind in kinds]
    client = _redis()
    if client is None:
        with _local_lock:
            values = [_local_versions.get(key, 0) for key in keys]
    else:
        values = client.mget(keys)
    return {kind: int(value or 0) for kind, value in zip(kinds, values, strict=True)}


def bump(kind: str, tenant_id: uuid.UUID) -> None:
    """Tell every process that this tenant's ``kind`` changed."""
    client = _redis()
    key = _key(kind, tenant_id)
    if client is None:
        with _local_lock:
            _local_versions[key] = _local_versions.get(key, 0) + 1
        return
    client.incr(key)


def prefetch(tenant_id: uuid.UUID, kind: str) -> int:
    """The counter of ``kind`` (one kept outside :class:`TenantVersioned`, such as the API keys'),
    read together with every tenant kind's; those serve this request's tenant unit of work."""
    found = read_all(tenant_id, kind)
    if has_request_context():
        setattr(g, _PREFETCHED, (tenant_id, found))
    return found[kind]


def _read(session: Session, kind: str) -> int:
    """The counter of ``kind`` this unit of work goes by (all kinds are read the first time)."""
    known = session.info.get(_READ)
    tenant_id = session.info["tenant"].id
    if known is None:
        ahead = g.pop(_PREFETCHED, None) if has_request_context() else None
        known = ahead[1] if ahead is not None and ahead[0] == tenant_id else read_all(tenant_id)
        session.info[_READ] = known
    if kind not in known:  # a kind first imported after the read
        known.update(read_all(tenant_id))
    return known[kind]


def _redis():  # type: ignore[no-untyped-def]
    from rapport.platform.tenancy.scope import tenancy

    url = tenancy().settings.redis_url
    if not url:
        return None
    client = current_app.extensions.get("rapport.versions.redis")
    if client is None:
        import redis

        client = redis.Redis.from_url(url)
        current_app.extensions["rapport.versions.redis"] = client
    return client


class TenantVersioned(Generic[T]):
    """One kind of per-tenant configuration: ``loader(session)`` reads it from the tenant schema."""

    def __init__(self, kind: str, loader: Callable[[Session], T], size: int = 256) -> None:
        self.kind = kind
        self.loader = loader
        self.size = size
        self._changed = f"rapport.{kind}.changed"
        if kind not in _KINDS:
            _KINDS.append(kind)

    def _cache(self) -> BoundedCache[str, tuple[int, T]]:
        name = f"rapport.{self.kind}.cache"
        cache = current_app.extensions.get(name)
        if cache is None:
            cache = current_app.extensions.setdefault(name, BoundedCache(self.size))
        return cache

    def version(self, tenant_id: uuid.UUID) -> int:
        """The counter as every process sees it now (not the unit of work's)."""
        client = _redis()
        key = _key(self.kind, tenant_id)
        if client is None:
            with _local_lock:
                return _local_versions.get(key, 0)
        return int(client.get(key) or 0)

    def bump(self, tenant_id: uuid.UUID) -> None:
        """Tell every process that this tenant's configuration changed."""
        bump(self.kind, tenant_id)

    def _load(self, session: Session) -> T:
        # No autoflush: loading runs under the cache's lock, and a flush runs hooks that read
        # configuration through these caches (a re-entrant wait: a deadlock). Services flush
        # their changes themselves before anything reads them.
        with session.no_autoflush:
            return self.loader(session)

    def get(self, session: Session) -> T:
        """The tenant's configuration as committed (or as this session changed it).

        A unit of work reads the version once: its session keeps what it got, so a request
        that asks many times costs one look at the counter.
        """
        if session.info.get(self._changed):
            return self._load(session)
        memo = session.info.setdefault(_MEMO, {})
        if self.kind in memo:
            return memo[self.kind]
        memo[self.kind] = value = self._get(session)
        return value

    def _get(self, session: Session) -> T:
        key = str(session.info["tenant"].id)
        version = _read(session, self.kind)
        cache = self._cache()
        cached_version, value = cache.get_or_create(key, lambda: (version, self._load(session)))
        if cached_version != version:
            cache.pop(key)
            cached_version, value = cache.get_or_create(key, lambda: (version, self._load(session)))
        return value

    def changed(self, session: Session) -> None:
        """Note that ``session`` changed the configuration: read it uncached until the commit,
        then bump the version so every process reloads."""
        session.info.get(_MEMO, {}).pop(self.kind, None)
        if session.info.get(self._changed):
            return
        session.info[self._changed] = True
        tenant_id = session.info["tenant"].id
        app = current_app._get_current_object()

        def after_commit(s: Session) -> None:
            s.info.pop(self._changed, None)
            s.info.pop(_READ, None)  # the session's next read sees the bumped counter
            with app.app_context():
                self.bump(tenant_id)

        def after_rollback(s: Session) -> None:
            s.info.pop(self._changed, None)

        event.listen(session, "after_commit", after_commit, once=True)
        event.listen(session, "after_soft_rollback", lambda s, _t: after_rollback(s), once=True)
