"""API key operations: create (the key is shown once), revoke, list, authenticate.

Only an HMAC of the secret is stored, keyed by a pepper derived from the server's secret key, so a
copy of the database holds no usable key. Services flush and never commit; the boundary does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid

from flask import current_app
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from rapport.platform.apikeys import keyformat
from rapport.platform.apikeys.models import ApiKey
from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor
from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity.models import ROLES
from rapport.platform.settings import Settings
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
    return hmac.new(settings.secret_key.encode(), _PEPPER_LABEL, hashlib.sha256).digest()


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
    if role not in KEY_ROLES:
        errors["role"] = [f"Choose one of: {', '.join(KEY_ROLES)}."]
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


def authenticate(
    session: Session, header_value: str | None, ip: str | None = None
) -> tuple[ApiKey, TenantRef] | None:
    """Find the active key an Authorization header names, and its active tenant; else None.

    A typo fails the checksum before any lookup; a key of another environment, a revoked or
    expired key, a wrong secret and a suspended tenant all get the same answer.
    """
    token = bearer_token(header_value)
    parts = keyformat.parse(token) if token else None
    settings = _settings()
    if parts is None or parts.env != keyformat.environment_tag(settings.env):
        return None
    key = session.scalars(select(ApiKey).where(ApiKey.prefix_id == parts.prefix_id)).first()
    expected = secret_hmac(settings, parts.prefix_id, parts.secret)
    if key is None or not hmac.compare_digest(key.secret_hmac, expected):
        return None
    now = utcnow()
    if key.state(now) != "active":
        return None
    tenant = session.get(Tenant, key.tenant_id)
    if tenant is None or tenant.state != TenantState.ACTIVE.value:
        return None
    _note_use(session, key, now, ip)
    return key, tenant.ref


def _note_use(session: Session, key: ApiKey, now: dt.datetime, ip: str | None) -> None:
    ip_text = (ip or "")[:45] or None
    # Conditional: of many concurrent requests, at most one a minute writes.
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_EVERY:
        return
    session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - LAST_USED_EVERY),
        )
        .values(last_used_at=now, last_used_ip=ip_text)
        .execution_options(synchronize_session=False)
    )
    # Already written: keep the loaded row in step without scheduling a second UPDATE.
    set_committed_value(key, "last_used_at", now)
    set_committed_value(key, "last_used_ip", ip_text)
