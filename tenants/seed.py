"""Default data for a new tenant, written in the provisioning transaction."""

from __future__ import annotations

from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants import picklists
from rapport.tenants.pipelines.services import create_default_pipeline
from rapport.tenants.roles import services as roles


def seed_defaults(session: Session, tenant: TenantRef, actor: Actor | None = None) -> None:
    """Seed what every new workspace starts with, and open its audit chain."""
    audit.record(
        session, "tenant.created", "tenant", tenant.id, {"name": [None, tenant.name]}, actor=actor
    )
    # Existing tenants got the same pipeline from tenant migration t0003's data step.
    create_default_pipeline(session)
    # Existing tenants got the built-in roles from tenant migration t0006's data step.
    roles.seed(session)
    picklists.seed(session)
