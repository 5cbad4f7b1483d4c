"""Verifying every audit chain: the control plane's and each tenant's, one report per chain."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from rapport.platform.audit import chain
from rapport.platform.audit.models import AuditEntry, PlatformAuditEntry
from rapport.platform.db import db
from rapport.platform.tenancy.models import Tenant, TenantRef
from rapport.platform.tenancy.scope import tenancy

CONTROL_PLANE = "control plane"


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking one chain."""

    chain: str  # CONTROL_PLANE or the tenant's slug
    tenant_id: uuid.UUID | None
    checked: int
    broken: chain.Break | None = None
    error: str | None = None  # the chain could not be read at all

    @property
    def ok(self) -> bool:
        return self.broken is None and self.error is None


def verify_control_plane() -> ChainReport:
    """Walk the control plane's chain through the application's session."""
    try:
        checked, broken = chain.verify(db.session, PlatformAuditEntry)
    except SQLAlchemyError as exc:
        return ChainReport(CONTROL_PLANE, None, 0, error=_describe(exc))
    finally:
        db.session.rollback()
    return ChainReport(CONTROL_PLANE, None, checked, broken)


def verify_tenant(ref: TenantRef, app: Flask | None = None) -> ChainReport:
    """Walk one tenant's chain inside its own scope (on PostgreSQL: as the tenant's role)."""
    # A read-only walk: roll back instead of committing, so no commit is announced to the outbox.
    session = tenancy(app).open_session(ref)
    try:
        checked, broken = chain.verify(session, AuditEntry)
    except SQLAlchemyError as exc:
        return ChainReport(ref.slug, ref.id, 0, error=_describe(exc))
    finally:
        session.rollback()
        session.close()
    return ChainReport(ref.slug, ref.id, checked, broken)


def registered_tenants(slug: str | None = None) -> list[TenantRef]:
    """The tenants whose chains to verify: all of them, whatever their state, or the one named."""
    stmt = select(Tenant).order_by(Tenant.created_at, Tenant.slug)
    if slug is not None:
        stmt = stmt.where(Tenant.slug == slug)
    refs = [t.ref for t in db.session.scalars(stmt)]
    db.session.rollback()
    return refs


def verify_chains(tenants: list[TenantRef]) -> Iterator[ChainReport]:
    """Verify the control plane's chain, then each given tenant's."""
    yield verify_control_plane()
    for ref in tenants:
        yield verify_tenant(ref)


def _describe(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig or exc).strip().splitlines()[0]
