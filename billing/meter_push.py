"""Sending the hourly totals to Stripe Billing Meters, and checking that Stripe agrees.

:func:`push_usage` sends every hour whose total changed since Stripe last accepted it
(``revision > pushed_revision``) as one meter event: the hour's absolute total, timestamped in
that hour, under the identifier ``tenant:meter:hour:revision``. The meters keep the last value
per hour (see :mod:`rapport.billing.catalog`), so:

- a crash after Stripe accepted an event but before we noted it resends the same identifier;
  Stripe refuses the duplicate, which means "already delivered": we note it and go on;
- a corrected total (a new revision) replaces the hour's value instead of adding to it.

Calls for one customer are sequential: each tenant is pushed under a lock (a PostgreSQL advisory
lock held by a connection of its own, released even if the worker dies), and in hour order. A 429
is waited out with exponential backoff; after a few, the tenant is left for the next run. Progress
is committed after every accepted event on a session of its own, so a killed worker loses at most
the note of one event, which the duplicate refusal recovers.

:func:`reconcile` compares our totals with Stripe's meter event summaries per hour and marks any
hour that differs for sending again (a new revision, so a new identifier).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import stripe
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from rapport.billing import catalog, stripe_gateway
from rapport.billing.models import Subscription, UsageHour
from rapport.platform.db import db, utcnow
from rapport.platform.jobs.registry import job

log = logging.getLogger(__name__)

#: Stripe accepts meter events up to 35 days old; keep a margin for the time a push takes.
MAX_AGE = dt.timedelta(days=35) - dt.timedelta(hours=1)
BACKOFF = (0.5, 1.0, 2.0, 4.0)  # seconds to wait after each 429 in a row


def identifier(tenant_id: uuid.UUID, meter: str, hour: dt.datetime, revision: int) -> str:
    return f"{tenant_id}:{meter}:{hour.astimezone(dt.UTC):%Y%m%d%H}:{revision}"


@dataclass
class PushReport:
    sent: int = 0
    duplicates: int = 0  # already delivered before (a crash between send and note)
    too_old: int = 0
    rate_limited: int = 0
    skipped_tenants: int = 0  # another worker held the tenant, or Stripe kept refusing
    failed_tenants: int = 0  # Stripe refused an event (logged); the next run tries again


def is_duplicate(exc: stripe.StripeError) -> bool:
    """Stripe's refusal of an identifier it has already accepted."""
    return isinstance(exc, stripe.InvalidRequestError) and (
        exc.code == "resource_already_exists" or "already exists" in str(exc.user_message or "")
    )


@contextmanager
def tenant_lock(tenant_id: uuid.UUID) -> Iterator[bool]:
    """Hold the tenant's push lock (PostgreSQL); yield whether it was free."""
    if db.engine.dialect.name != "postgresql":
        yield True  # the embedded default runs one job runner
        return
    key = zlib.crc32(f"rapport-meter-push:{tenant_id}".encode())
    with db.engine.connect() as conn:
        got = bool(conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.rollback()


def _send(client: stripe.StripeClient, params: dict[str, object], report: PushReport) -> str:
    """Send one meter event; return ``sent``, ``duplicate`` or ``rate_limited``."""
    for wait in (*BACKOFF, None):
        try:
            client.v1.billing.meter_events.create(params=params)  # type: ignore[arg-type]
            return "sent"
        except stripe.RateLimitError:
            report.rate_limited += 1
            if wait is None:
                return "rate_limited"
            time.sleep(wait)
        except stripe.InvalidRequestError as exc:
            if is_duplicate(exc):
                return "duplicate"
            raise
    return "rate_limited"  # pragma: no cover - the loop always returns


def push_tenant(
    client: stripe.StripeClient,
    tenant_id: uuid.UUID,
    customer: str,
    report: PushReport,
    now: dt.datetime | None = None,
) -> None:
    """Send the tenant's changed hours in order, noting each accepted one at once."""
    now = now or utcnow()
    with Session(db.engine) as session:
        rows = session.execute(
            select(UsageHour.id, UsageHour.meter, UsageHour.hour, UsageHour.quantity,
                   UsageHour.revision)
            .where(UsageHour.tenant_id == tenant_id, UsageHour.meter.in_(catalog.METERED),
                   UsageHour.revision > UsageHour.pushed_revision)
            .order_by(UsageHour.hour, UsageHour.meter)
        ).all()  # fmt: skip
        session.rollback()
        for row_id, meter, hour, quantity, revision in rows:
            if hour < now - MAX_AGE:
                report.too_old += 1  # Stripe would refuse it; reconciliation reports the gap
                _note(session, row_id, revision, None)
                continue
            outcome = _send(
                client,
                {
                    "event_name": catalog.event_name(meter),
                    "identifier": identifier(tenant_id, meter, hour, revision),
                    "timestamp": int(hour.timestamp()),
                    "payload": {"stripe_customer_id": customer, "value": str(int(quantity))},
                },
                report,
            )
            if outcome == "rate_limited":
                report.skipped_tenants += 1
                return  # keep this customer's order: nothing later goes before this hour
            if outcome == "duplicate":
                report.duplicates += 1
            else:
                report.sent += 1
            _note(session, row_id, revision, quantity)


def _note(session: Session, row_id: uuid.UUID, revision: int, quantity: int | None) -> None:
    values: dict[str, int] = {"pushed_revision": revision}
    if quantity is not None:
        values["pushed_quantity"] = quantity
    # Never move backwards (a concurrent reconcile or an older worker finishing late).
    session.execute(
        update(UsageHour)
        .where(UsageHour.id == row_id, UsageHour.pushed_revision < revision)
        .values(**values)
    )
    session.commit()


def _customers(
    session: Session, tenant_ids: list[uuid.UUID] | None = None
) -> list[tuple[uuid.UUID, str]]:
    stmt = (
        select(Subscription.tenant_id, Subscription.stripe_customer_id)
        .where(Subscription.stripe_customer_id.is_not(None))
        .order_by(Subscription.tenant_id)
    )
    if tenant_ids is not None:
        stmt = stmt.where(Subscription.tenant_id.in_(tenant_ids))
    return [(tenant_id, str(customer)) for tenant_id, customer in session.execute(stmt).all()]


def push_usage(
    now: dt.datetime | None = None, tenant_ids: list[uuid.UUID] | None = None
) -> PushReport:
    """Push every customer's (or only these tenants') changed hours, one tenant after the
    other."""
    report = PushReport()
    if not stripe_gateway.configured():
        return report
    client = stripe_gateway.client()
    with Session(db.engine) as session:
        customers = _customers(session, tenant_ids)
    for tenant_id, customer in customers:
        with tenant_lock(tenant_id) as free:
            if not free:
                report.skipped_tenants += 1
                continue
            try:
                push_tenant(client, tenant_id, customer, report, now)
            except stripe.StripeError:
                # One customer's trouble (deleted in Stripe, a bad request) must not hold back
                # the others; its hours stay unpushed and the next run tries again.
                log.exception("meter push failed for tenant %s", tenant_id)
                report.failed_tenants += 1
    return report


@dataclass
class Difference:
    tenant_id: uuid.UUID
    meter: str
    hour: dt.datetime
    ours: int
    stripe: int


def reconcile(
    now: dt.datetime | None = None, days: int = 3, tenant_ids: list[uuid.UUID] | None = None
) -> list[Difference]:
    """Compare the last ``days`` of hourly totals with Stripe's summaries; mark each hour that
    differs for sending again (and list them)."""
    now = now or utcnow()
    if not stripe_gateway.configured():
        return []
    client = stripe_gateway.client()
    ids = catalog.read_catalog(client)
    if ids is None:
        return []
    start = (now - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    end = now.replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    differences: list[Difference] = []
    with Session(db.engine) as session:
        for tenant_id, customer in _customers(session, tenant_ids):
            for meter in catalog.METERED:
                meter_id = ids.meters.get(meter)
                if meter_id is None:
                    continue
                theirs: dict[int, int] = {}
                try:
                    listed = client.v1.billing.meters.event_summaries.list(
                        meter_id,
                        params={
                            "customer": customer,
                            "start_time": int(start.timestamp()),
                            "end_time": int(end.timestamp()),
                            "value_grouping_window": "hour",
                            "limit": 100,
                        },
                    )
                    for summary in listed.auto_paging_iter():
                        theirs[int(summary.start_time)] = int(summary.aggregated_value)
                except stripe.StripeError:
                    log.exception("meter summaries of tenant %s unavailable", tenant_id)
                    continue
                rows = session.scalars(
                    select(UsageHour).where(
                        UsageHour.tenant_id == tenant_id,
                        UsageHour.meter == meter,
                        UsageHour.hour >= start,
                        UsageHour.pushed_revision >= UsageHour.revision,  # in flight: skip
                    )
                ).all()
                for row in rows:
                    stripe_value = theirs.get(int(row.hour.timestamp()), 0)
                    if stripe_value != row.quantity and row.hour >= now - MAX_AGE:
                        differences.append(
                            Difference(tenant_id, meter, row.hour, row.quantity, stripe_value)
                        )
                        row.revision += 1  # a new identifier; the push sends it again
        session.commit()
    for d in differences:
        log.warning(
            "meter %s of tenant %s at %s: ours %s, Stripe %s; resending",
            d.meter, d.tenant_id, d.hour, d.ours, d.stripe,
        )  # fmt: skip
    return differences


@job("billing", plane="control", retries=0)
def push_meters(session: Session) -> None:
    """The periodic job: send changed hours to Stripe."""
    push_usage()


@job("billing", plane="control", retries=0)
def reconcile_meters(session: Session) -> None:
    """The hourly job: compare with Stripe's summaries and resend differences."""
    reconcile()
