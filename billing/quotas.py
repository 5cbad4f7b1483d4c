"""Quotas: this period's usage against the plan, the soft limit (a warning) and the hard limit.

A period's usage sums the hourly totals of the control plane; the last two hours come from the
live counters as well (the periodic job may not have written them yet), whichever is larger.
Stored records and storage are levels, not flows: their latest total counts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.billing import access as billing_access
from rapport.billing.metering import floor_hour
from rapport.billing.models import Subscription, UsageHour
from rapport.billing.plans import METER_LABELS, METERS, SOFT_LIMIT, Plan, plan_or_trial
from rapport.platform.apikeys import limits
from rapport.platform.db import db, utcnow
from rapport.platform.errors import DomainError, ValidationFailed

LEVELS = frozenset({"records", "storage_mb"})


@dataclass(frozen=True)
class MeterUsage:
    meter: str
    label: str
    used: int
    included: int
    hard_cap: int | None

    @property
    def ratio(self) -> float:
        return self.used / self.included if self.included else 0.0

    @property
    def percent(self) -> int:
        return min(100, round(self.ratio * 100))

    @property
    def warning(self) -> bool:
        return self.included > 0 and self.ratio >= SOFT_LIMIT

    @property
    def exhausted(self) -> bool:
        return self.hard_cap is not None and self.used >= self.hard_cap


def api_calls_this_period(
    session: Session, subscription: Subscription, now: dt.datetime | None = None
) -> int:
    """API calls so far this period: closed hours summed in the database, the last two hours
    from the live counters (the flush job may not have written them yet). Bounded work per call,
    however far into the period: this runs on every API request."""
    now = now or utcnow()
    start = floor_hour(subscription.current_period_start)
    recent = floor_hour(now) - dt.timedelta(hours=1)
    of_tenant = (UsageHour.tenant_id == subscription.tenant_id, UsageHour.meter == "api_calls")
    closed = session.scalar(
        select(func.coalesce(func.sum(UsageHour.quantity), 0)).where(
            *of_tenant, UsageHour.hour >= start, UsageHour.hour < recent
        )
    )
    written = dict(
        session.execute(
            select(UsageHour.hour, UsageHour.quantity).where(*of_tenant, UsageHour.hour >= recent)
        ).all()
    )
    live = 0
    for hour in (recent, recent + dt.timedelta(hours=1)):
        if hour >= start:
            live += max(written.get(hour, 0), limits.api_calls(subscription.tenant_id, hour))
    return int(closed or 0) + live


def period_usage(
    session: Session, subscription: Subscription, now: dt.datetime | None = None
) -> dict[str, int]:
    """This period's usage per meter."""
    now = now or utcnow()
    start = floor_hour(subscription.current_period_start)
    tenant_id = subscription.tenant_id
    rows = session.execute(
        select(UsageHour.meter, UsageHour.hour, UsageHour.quantity).where(
            UsageHour.tenant_id == tenant_id, UsageHour.hour >= start
        )
    ).all()
    usage = dict.fromkeys(METERS, 0)
    per_hour: dict[tuple[str, dt.datetime], int] = {}
    latest: dict[str, tuple[dt.datetime, int]] = {}
    for meter, hour, quantity in rows:
        if meter in LEVELS:
            if meter not in latest or hour > latest[meter][0]:
                latest[meter] = (hour, quantity)
        else:
            per_hour[(meter, hour)] = quantity
    current = floor_hour(now)
    for hour in (current - dt.timedelta(hours=1), current):
        if hour >= start:
            live = limits.api_calls(tenant_id, hour)
            key = ("api_calls", hour)
            per_hour[key] = max(per_hour.get(key, 0), live)
    for (meter, _hour), quantity in per_hour.items():
        if meter in usage:
            usage[meter] += quantity
    for meter, (_hour, quantity) in latest.items():
        usage[meter] = quantity
    return usage


def meters(plan: Plan, usage: dict[str, int]) -> list[MeterUsage]:
    return [
        MeterUsage(m, METER_LABELS[m], usage.get(m, 0), plan.included.get(m, 0), plan.hard_cap(m))
        for m in METERS
    ]


def _subscription(tenant_id: uuid.UUID) -> Subscription | None:
    return billing_access.load_subscription(tenant_id)


class QuotaExceeded(DomainError):
    """A hard limit of the plan was reached (402: upgrading lifts it)."""

    status = 402


class LevelExceeded(QuotaExceeded, ValidationFailed):
    """A write would take a level (stored records, file storage) past the plan's hard limit.

    402 like the API-call quota; also a validation error naming the field it concerns, so a
    form shows the message next to it: ``file`` for an upload, and for records the billing
    banner's ``_billing`` (above any form, see ``billing/_banner.html``)."""

    status = 402

    def __init__(self, field: str, message: str) -> None:
        ValidationFailed.__init__(self, billing_access.Refusal({field: [message]}), message)


def level_cap(tenant_id: uuid.UUID, meter: str) -> int | None:
    """The hard cap of a level in its counter's unit (records; bytes of storage), or None."""
    from rapport.billing import levels

    subscription = _subscription(tenant_id)
    if subscription is None:
        return None
    plan = plan_or_trial(subscription.plan)
    if meter == levels.STORAGE:
        cap = plan.hard_cap("storage_mb")
        return None if cap is None else cap * levels.MIB
    return plan.hard_cap(meter)


def level_refusal(tenant_id: uuid.UUID, meter: str, total: int, cap: int) -> LevelExceeded:
    """What a user reads when a level's hard cap refused a write."""
    from rapport.billing import levels

    subscription = _subscription(tenant_id)
    plan = plan_or_trial(subscription.plan if subscription else None)
    how = "Upgrade the plan in Settings → Billing to raise the limit, or delete"
    if meter == levels.STORAGE:
        return LevelExceeded(
            "file",
            f"The {plan.name} plan includes {cap // levels.MIB:,} MB of file storage and "
            f"{levels.storage_mb(total):,} MB are used; this file does not fit. "
            f"{how} files you no longer need.",
        )
    return LevelExceeded(
        billing_access.REFUSAL_FIELD,
        f"The {plan.name} plan holds up to {cap:,} stored records and this workspace has "
        f"{total:,}. {how} records you no longer need.",
    )


class WorkspaceSuspended(DomainError):
    """The workspace's subscription is suspended: nothing may be read or written."""

    status = 403


def exhausted_message(meter: MeterUsage, plan: Plan) -> str:
    return (
        f"The {plan.name} plan's {meter.label} quota is used up "
        f"({meter.used:,} of {meter.hard_cap:,} this period). Upgrade the plan in "
        "Settings → Billing to raise it, or wait for the next period."
    )


def api_refusal(tenant_id: uuid.UUID, now: dt.datetime | None = None) -> DomainError | None:
    """Why an API call of this tenant must be refused before anything is counted, or None.

    Only the workspace's state is checked here; the quota is checked and counted in the same
    Redis round trip as the rate limit (:func:`api_quota`, used by ``limits.check``)."""
    access = billing_access.access_for(tenant_id, now)
    if not access.readable:
        return WorkspaceSuspended(access.message or "This workspace is suspended.")
    return None


def api_quota(tenant_id: uuid.UUID) -> limits.Quota | None:
    """The tenant's API-call cap for this period, for the hot path (None: no cap)."""
    subscription = _subscription(tenant_id)
    if subscription is None:
        return None
    plan = plan_or_trial(subscription.plan)
    cap = plan.hard_cap("api_calls")
    if cap is None:
        return None
    start = floor_hour(subscription.current_period_start)
    ttl = int((subscription.current_period_end - start).total_seconds()) + 7 * 86400

    def seed() -> int:
        with Session(db.engine) as session:
            return api_calls_this_period(session, subscription)

    def refusal() -> DomainError:
        used = MeterUsage("api_calls", METER_LABELS["api_calls"], cap, 0, cap)
        return QuotaExceeded(exhausted_message(used, plan))

    return limits.Quota(f"{start:%Y%m%d%H}", cap, max(ttl, 3600), seed, refusal)


def warnings(tenant_id: uuid.UUID, now: dt.datetime | None = None) -> list[str]:
    """Banner lines for meters past the soft limit or used up."""
    subscription = _subscription(tenant_id)
    if subscription is None:
        return []
    plan = plan_or_trial(subscription.plan)
    lines = []
    for meter in meters(plan, period_usage(db.session, subscription, now)):
        if meter.exhausted:
            lines.append(exhausted_message(meter, plan))
        elif meter.warning:
            lines.append(
                f"{meter.label}: {meter.percent}% of the {meter.included:,} included this period."
            )
    return lines


def daily_usage(
    session: Session, subscription: Subscription, meter: str, now: dt.datetime | None = None
) -> list[tuple[dt.date, int]]:
    """This period's usage of a flow meter per UTC day, from the period's first day to today
    (levels report the day's last total)."""
    now = now or utcnow()
    start = floor_hour(subscription.current_period_start)
    rows = session.execute(
        select(UsageHour.hour, UsageHour.quantity).where(
            UsageHour.tenant_id == subscription.tenant_id,
            UsageHour.meter == meter,
            UsageHour.hour >= start,
        )
    ).all()
    per_hour = {hour: quantity for hour, quantity in rows}
    if meter == "api_calls":
        current = floor_hour(now)
        for hour in (current - dt.timedelta(hours=1), current):
            if hour >= start:
                per_hour[hour] = max(
                    per_hour.get(hour, 0), limits.api_calls(subscription.tenant_id, hour)
                )
    days: dict[dt.date, int] = {}
    first, last = start.date(), now.astimezone(dt.UTC).date()
    day = first
    while day <= last:
        days[day] = 0
        day += dt.timedelta(days=1)
    for hour, quantity in sorted(per_hour.items()):
        day = hour.astimezone(dt.UTC).date()
        if day in days:
            days[day] = quantity if meter in LEVELS else days[day] + quantity
    return sorted(days.items())
