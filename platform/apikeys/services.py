"""API key operations: create (the key is shown once), revoke, list, authenticate.

Only an HMAC of the secret is stored, keyed by a pepper derived from the server's secret key, so a
copy of the database holds no usable key. Services flush and never commit; the boundary does.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import os
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from rapport.platform.apikeys import keyformat
from rapport.platform.apikeys.models import ApiKey
from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor
from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity.models import ROLES
from rapport.platform.settings import Settings
from rapport.platform.tenancy import versions
from rapport.platform.tenancy.models import Tenant, TenantRef, TenantState

# A key can do what a member of its role can, except what only the owner may (transfer, delete).
KEY_ROLES = tuple(role for role in ROLES if role != "owner")
DEFAULT_ROLE = "sales_rep"
MAX_EXPIRY_DAYS = 3650
# Writing "last used" on every request would turn each API read into a control-plane write.
LAST_USED_EVERY = dt.timedelta(minutes=1)
_PEPPER_LABEL = b"rapport api-key pepper v1"


def _settings() -> Settings:
    return current_app.config["RAPPORT"]


def pepper(settings: Settings) -> bytes:
    """The server-side key of the secrets' HMAC, derived from the secret key with a fixed label."""
    return _pepper(settings.secret_key)


@functools.lru_cache(maxsize=4)
def _pepper(secret_key: str) -> bytes:
    # Derived once per secret key, not on every request (a process holds the secret key anyway).
    return hmac.new(secret_key.encode(), _PEPPER_LABEL, hashlib.sha256).digest()


def _known_role(tenant: TenantRef, role: str) -> bool:
    """A built-in role other than owner, or one of the workspace's own roles."""
    if role in KEY_ROLES:
        return True
    if role == "owner" or not role:
        return False
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.roles import services as roles

    with tenant_session(tenant) as session:
        return roles.exists(session, role)


def secret_hmac(settings: Settings, prefix_id: str, secret: str) -> str:
    # The id is part of the message: a stored HMAC cannot be moved to another key's row.
    message = f"{prefix_id}:{secret}".encode()
    return hmac.new(pepper(settings), message, hashlib.sha256).hexdigest()


def create_key(
    session: Session,
    tenant: TenantRef,
    name: str,
    role: str = DEFAULT_ROLE,
    *,
    expires_in_days: int | None = None,
    created_by: uuid.UUID | None = None,
    actor: Actor | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for a tenant; return the row and the key's text, which is never shown again."""
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Name the key after what will use it, such as “ERP sync”."]
    elif len(name) > 100:
        errors["name"] = ["Use at most 100 characters."]
    if not _known_role(tenant, role):
        errors["role"] = ["Choose one of the workspace's roles (not owner)."]
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        errors["expires"] = [f"Choose between 1 and {MAX_EXPIRY_DAYS} days, or no expiry."]
    if errors:
        raise ValidationFailed(errors)
    settings = _settings()
    text, parts = keyformat.generate(keyformat.environment_tag(settings.env))
    now = utcnow()
    key = ApiKey(
        tenant_id=tenant.id,
        name=name,
        role=role,
        prefix_id=parts.prefix_id,
        secret_hmac=secret_hmac(settings, parts.prefix_id, parts.secret),
        created_by=created_by,
        created_at=now,
        expires_at=now + dt.timedelta(days=expires_in_days) if expires_in_days else None,
    )
    session.add(key)
    session.flush()
    audit.record_platform(
        session,
        "api_key.created",
        "api_key",
        key.id,
        {"name": [None, name], "role": [None, role], "expires_at": [None, key.expires_at]},
        tenant_id=tenant.id,
        actor=actor,
    )
    return key, text


def get_key(
    session: Session, key_id: uuid.UUID | str, tenant_id: uuid.UUID | None = None
) -> ApiKey:
    """The key with this id (of this tenant, when given), or NotFound."""
    key = get_or_not_found(session, ApiKey, key_id, "API key")
    if tenant_id is not None and key.tenant_id != tenant_id:
        raise NotFound("There is no such API key.")
    return key


def revoke_key(
    session: Session,
    key_id: uuid.UUID | str,
    *,
    tenant_id: uuid.UUID | None = None,
    actor: Actor | None = None,
) -> ApiKey:
    """Revoke a key; effective on its next request. Revoking a revoked key changes nothing."""
    key = get_key(session, key_id, tenant_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        audit.record_platform(
            session,
            "api_key.revoked",
            "api_key",
            key.id,
            {"revoked_at": [None, key.revoked_at]},
            tenant_id=key.tenant_id,
            actor=actor,
        )
    forget_keys_after_commit(session, key.tenant_id)
    return key


def list_keys(session: Session, tenant_id: uuid.UUID) -> list[ApiKey]:
    """The tenant's keys, newest first."""
    return list(
        session.scalars(
            select(ApiKey)
            .where(ApiKey.tenant_id == tenant_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        )
    )


def bearer_token(header_value: str | None) -> str | None:
    """The token of an ``Authorization: Bearer …`` header, or None."""
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


# -- authentication, cached per process ------------------------------------------------------------
#: How long a process trusts what it read about a key and its tenant. Revocation does not wait for
#: it: revoking bumps the tenant's key version (in Redis, or without Redis in a file in the data
#: folder: either way shared by every process), which every request compares. Expiry is checked on
#: every request against the cached time. A tenant suspended in the registry is refused within
#: this time.
CACHE_SECONDS = 10.0
CACHE_SIZE = 4096
_VERSIONS = "rapport.apikeys.versions"
_CACHE = "rapport.apikeys.cache"


@dataclass(frozen=True)
class KeyInfo:
    """What a request needs of its key (a plain value: no ORM row to expire or refresh)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    role: str
    prefix_id: str
    secret_hmac: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    #: The user who created the key (None for keys made by the CLI, or whose creator was deleted).
    created_by: uuid.UUID | None = None

    def state(self, now: dt.datetime | None = None) -> str:
        now = now or utcnow()
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass
class _Entry:
    key: KeyInfo
    tenant: TenantRef | None  # None: the tenant is not active
    version: str
    loaded: float
    last_used_at: dt.datetime | None = field(default=None)


class _FileVersions:
    """Key versions without Redis (the embedded default): one small file in the data folder.

    Every process on the machine reads it, so a revocation made by another process (``rapport
    api-keys revoke`` while ``rapport serve`` runs, or another worker) is seen on the next request;
    an in-memory counter would let the server trust the revoked key for CACHE_SECONDS. One file
    for all tenants: revocations are rare, and reading it costs a few microseconds. Each bump
    writes a fresh random value (never a counter two processes could both raise to the same
    number), replaced atomically.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, tenant_id: uuid.UUID) -> str:
        try:
            return self.path.read_text()
        except FileNotFoundError:
            return ""

    def bump(self, tenant_id: uuid.UUID) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f"{self.path.name}.{secrets.token_hex(8)}")
        temporary.write_text(secrets.token_hex(16))
        os.replace(temporary, self.path)


class _RedisVersions:
    """Key versions in Redis, beside the tenant's configuration counters."""

    def get(self, tenant_id: uuid.UUID) -> str:
        # With the tenant's configuration counters: the request's tenant work needs them next.
        return str(versions.prefetch(tenant_id, "apikeys"))

    def bump(self, tenant_id: uuid.UUID) -> None:
        versions.bump("apikeys", tenant_id)


def _versions() -> _FileVersions | _RedisVersions:
    store = current_app.extensions.get(_VERSIONS)
    if store is None:
        settings = _settings()
        store = (
            _RedisVersions()
            if settings.redis_url
            else _FileVersions(settings.data_dir / "apikeys.version")
        )
        store = current_app.extensions.setdefault(_VERSIONS, store)
    return store


class _KeyCache:
    """A small thread-safe LRU map of key id → entry (bounded: memory must not grow with keys)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lock = threading.Lock()
        self.items: OrderedDict[str, _Entry] = OrderedDict()

    def get(self, prefix_id: str) -> _Entry | None:
        with self.lock:
            entry = self.items.get(prefix_id)
            if entry is not None:
                self.items.move_to_end(prefix_id)
            return entry

    def put(self, prefix_id: str, entry: _Entry) -> None:
        with self.lock:
            self.items[prefix_id] = entry
            self.items.move_to_end(prefix_id)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


def _cache() -> _KeyCache:
    cache = current_app.extensions.get(_CACHE)
    if cache is None:
        cache = current_app.extensions.setdefault(_CACHE, _KeyCache(CACHE_SIZE))
    return cache


def forget_keys(tenant_id: uuid.UUID) -> None:
    """Make every process re-read this tenant's keys on their next request."""
    _versions().bump(tenant_id)


def forget_keys_after_commit(session: Session, tenant_id: uuid.UUID) -> None:
    """Forget now and again once ``session`` commits: a request that re-read the key in between
    (still unrevoked) must not keep that copy."""
    forget_keys(tenant_id)
    app = current_app._get_current_object()

    def after_commit(_session: Session) -> None:
        with app.app_context():
            forget_keys(tenant_id)

    target = session() if callable(session) and not isinstance(session, Session) else session
    event.listen(target, "after_commit", after_commit, once=True)


def _load(session: Session, prefix_id: str) -> _Entry | None:
    row = session.scalars(select(ApiKey).where(ApiKey.prefix_id == prefix_id)).first()
    if row is None:
        return None
    version = _versions().get(row.tenant_id)
    tenant = session.get(Tenant, row.tenant_id)
    ref = tenant.ref if tenant is not None and tenant.state == TenantState.ACTIVE.value else None
    info = KeyInfo(row.id, row.tenant_id, row.name, row.role, row.prefix_id, row.secret_hmac,
                   row.expires_at, row.revoked_at, row.created_by)  # fmt: skip
    return _Entry(info, ref, version, time.monotonic(), row.last_used_at)


def authenticate(
    session: Session, header_value: str | None, ip: str | None = None
) -> tuple[KeyInfo, TenantRef] | None:
    """Find the active key an Authorization header names, and its active tenant; else None.

    A typo fails the checksum before any lookup; a key of another environment, a revoked or
    expired key, a wrong secret and a suspended tenant all get the same answer. What was read
    about the key is kept for :data:`CACHE_SECONDS`, unless the tenant's keys changed since.
    """
    token = bearer_token(header_value)
    parts = keyformat.parse(token) if token else None
    settings = _settings()
    if parts is None or parts.env != keyformat.environment_tag(settings.env):
        return None
    cache = _cache()
    entry = cache.get(parts.prefix_id)
    if entry is not None and (
        time.monotonic() - entry.loaded > CACHE_SECONDS
        or _versions().get(entry.key.tenant_id) != entry.version
    ):
        entry = None
    if entry is None:
        entry = _load(session, parts.prefix_id)
        if entry is not None:
            cache.put(parts.prefix_id, entry)
    expected = secret_hmac(settings, parts.prefix_id, parts.secret)
    if entry is None or not hmac.compare_digest(entry.key.secret_hmac, expected):
        return None
    now = utcnow()
    if entry.key.state(now) != "active" or entry.tenant is None:
        return None
    _note_use(session, entry, now, ip)
    return entry.key, entry.tenant


def _note_use(session: Session, entry: _Entry, now: dt.datetime, ip: str | None) -> None:
    ip_text = (ip or "")[:45] or None
    # Conditional: of many concurrent requests (and processes), at most one a minute writes.
    if entry.last_used_at is not None and now - entry.last_used_at < LAST_USED_EVERY:
        return
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == entry.key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_EVERY),
        )
        .values(last_used_at=now, last_used_ip=ip_text)
        .execution_options(synchronize_session=False)
    )
    entry.last_used_at = now
