"""Usage metering: hourly absolute totals per tenant and meter, in the control plane.

The hot path only counts (API calls: ``platform/apikeys/limits.py``); this periodic job turns the
counters and the database into one row per tenant, meter and UTC hour holding the hour's absolute
total. Money-relevant events that leave a row behind are counted from the rows, so they cannot be
lost with a counter: emails sent are the tenant's outbox rows of the ``email`` queue done in that
hour, workflow runs those of the ``workflows`` queue (each row runs its effect once, by event key).

Writing totals rather than increments makes the job idempotent: running it again writes the
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

from rapport.billing import levels
from rapport.billing.models import UsageHour
from rapport.platform.apikeys import limits
from rapport.platform.db import utcnow
from rapport.platform.jobs.models import OutboxEntry
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
    """Stored records of one tenant: every registered record type, counted exactly."""
    return levels.count_records(session)


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


def write_hourly_totals(
    session: Session, now: dt.datetime | None = None, tenant_ids: list[uuid.UUID] | None = None
) -> FlushReport:
    """Write every active tenant's (or only these tenants') totals for the current hour and the
    few before it."""
    now = now or utcnow()
    current = floor_hour(now)
    hours = [current - dt.timedelta(hours=n) for n in range(LOOKBACK_HOURS, -1, -1)]
    report = FlushReport()
    stmt = select(Tenant).where(Tenant.state == TenantState.ACTIVE.value).order_by(Tenant.id)
    if tenant_ids is not None:
        stmt = stmt.where(Tenant.id.in_(tenant_ids))
    tenants = session.scalars(stmt).all()
    for tenant in tenants:
        report.tenants += 1
        outcomes = []
        for hour in hours:
            calls = limits.api_calls(tenant.id, hour, current_app._get_current_object())
            if calls:  # an hour without calls needs no row (absent means zero)
                outcomes.append(record_total(session, tenant.id, "api_calls", hour, calls))
        (records, stored), done = _from_rows(tenant, hours)
        for (meter, hour), quantity in sorted(done.items()):
            outcomes.append(record_total(session, tenant.id, meter, hour, quantity))
        outcomes.append(record_total(session, tenant.id, "records", current, records))
        storage = levels.storage_mb(stored)
        if storage or _written(session, tenant.id, "storage_mb"):
            outcomes.append(record_total(session, tenant.id, "storage_mb", current, storage))
        for outcome in outcomes:
            setattr(report, outcome, getattr(report, outcome) + 1)
        session.flush()
    return report


#: Outbox queues whose done rows are billable events, per meter.
ROW_METERS = {"emails": "email", "workflow_runs": "workflows"}


def count_done(session: Session, queue: str, hour: dt.datetime) -> int:
    """Outbox rows of ``queue`` whose effect ran in this UTC hour (tenant session)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxEntry)
            .where(
                OutboxEntry.queue == queue,
                OutboxEntry.done_at >= hour,
                OutboxEntry.done_at < hour + dt.timedelta(hours=1),
            )
        )
        or 0
    )


def _written(session: Session, tenant_id: uuid.UUID, meter: str) -> bool:
    return (
        session.scalar(
            select(UsageHour.id).where(UsageHour.tenant_id == tenant_id, UsageHour.meter == meter)
        )
        is not None
    )


def _from_rows(
    tenant: Tenant, hours: list[dt.datetime]
) -> tuple[tuple[int, int], dict[tuple[str, dt.datetime], int]]:
    """Stored records and attachment bytes now (recounted exactly, which also corrects the
    counters the hard caps use), and the row-derived meters per hour (only hours with events)."""
    ref: TenantRef = tenant.ref
    done: dict[tuple[str, dt.datetime], int] = {}
    with tenant_session(ref) as tenant_db:
        records = levels.recount(tenant_db, levels.RECORDS)
        stored = levels.recount(tenant_db, levels.STORAGE)
        for meter, queue in ROW_METERS.items():
            for hour in hours:
                quantity = count_done(tenant_db, queue, hour)
                if quantity:
                    done[(meter, hour)] = quantity
    return (records, stored), done


@job("billing", plane="control", retries=1)
def flush_usage(session: Session) -> None:
    """The periodic job: write this hour's (and the last few hours') totals."""
    write_hourly_totals(session)
