"""Background work for custom fields: formulas that read today's date, refreshed once a day.

A formula such as ``days_between(created_at, today())`` is recomputed whenever its record is
written; without this job its stored value (what lists, filters, exports and the API read) would
stay at the day of the last write.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from rapport.platform.jobs.registry import job
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants.fields import computed


@job("default", plane="control", retries=0)
def refresh_dated_formulas(session: Session) -> list[str]:
    """The daily periodic job: start a refresh for each active tenant; return their ids."""
    from rapport.platform.jobs.runtime import enqueue_for_each_tenant

    return enqueue_for_each_tenant(refresh_tenant_formulas)


@job("default")
def refresh_tenant_formulas(session: Session, tenant: TenantRef) -> int:
    """Recompute this tenant's date-dependent formula values (safe to run twice)."""
    return computed.refresh_dated(session)
