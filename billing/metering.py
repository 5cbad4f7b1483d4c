"""Usage metering: hourly absolute totals per tenant and meter, in the control plane.

The hot path only counts (API calls: ``platform/apikeys/limits.py``); this periodic job turns the
counters and the database into one row per tenant, meter and UTC hour holding the hour's absolute
total. Writing totals rather than increments makes the job idempotent: running it again writes the
same numbers; a total that changed bumps the row's ``revision`` so the push to Stripe can send the
new version under a new identifier.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.billing.models import UsageHour
from rapport.platform.apikeys import limits
from rapport.platform.db import utcnow
from rapport.platform.jobs.registry import job
from rapport.platform.tenancy.models import Tenant, TenantRef, TenantState
from rapport.platform.tenancy.scope import tenant_session

#: Hours looked at on each run besides the current one: counters of a finished hour may still
#: receive the last few calls, and a missed run is caught up by the next.
LOOKBACK_HOURS = 2


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


@dataclass
class FlushReport:
    tenants: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def count_records(session: Session) -> int:
    """Stored records of one tenant: companies, contacts and deals."""
    from rapport.tenants.companies.models import Company
    from rapport.tenants.contacts.models import Contact
    from rapport.tenants.deals.models import Deal

    return sum(
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Company, Contact, Deal)
    )


def record_total(
    session: Session, tenant_id: uuid.UUID, meter: str, hour: dt.datetime, quantity: int
) -> str:
    """Write one hour's absolute total; return ``created``, ``changed`` or ``unchanged``."""
    hour = floor_hour(hour)
    row = session.scalars(
        select(UsageHour).where(
            UsageHour.tenant_id == tenant_id, UsageHour.meter == meter, UsageHour.hour == hour
        )
    ).first()
    if row is None:
        session.add(
            UsageHour(tenant_id=tenant_id, meter=meter, hour=hour, quantity=quantity, revision=1)
        )
        return "created"
    if row.quantity == quantity:
        return "unchanged"
    row.quantity = quantity
    row.revision += 1
    return "changed"


def write_hourly_totals(session: Session, now: dt.datetime | None = None) -> FlushReport:
    """Write every active tenant's totals for the current hour and the few before it."""
    now = now or utcnow()
    current = floor_hour(now)
    hours = [current - dt.timedelta(hours=n) for n in range(LOOKBACK_HOURS, -1, -1)]
    report = FlushReport()
    tenants = session.scalars(
        select(Tenant).where(Tenant.state == TenantState.ACTIVE.value).order_by(Tenant.id)
    ).all()
    for tenant in tenants:
        report.tenants += 1
        outcomes = []
        for hour in hours:
            calls = limits.api_calls(tenant.id, hour, current_app._get_current_object())
            if calls:  # an hour without calls needs no row (absent means zero)
                outcomes.append(record_total(session, tenant.id, "api_calls", hour, calls))
        outcomes.append(record_total(session, tenant.id, "records", current, _records(tenant)))
        for outcome in outcomes:
            setattr(report, outcome, getattr(report, outcome) + 1)
        session.flush()
    return report


def _records(tenant: Tenant) -> int:
    ref: TenantRef = tenant.ref
    with tenant_session(ref) as tenant_db:
        return count_records(tenant_db)


@job("billing", plane="control", retries=1)
def flush_usage(session: Session) -> None:
    """The periodic job: write this hour's (and the last few hours') totals."""
    write_hourly_totals(session)
