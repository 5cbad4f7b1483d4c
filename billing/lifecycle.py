"""The periodic billing sweep: trials, periods, retention, soft-limit emails and seats.

Run every few minutes (``rapport.billing.lifecycle.sweep``); every step is idempotent, so a run
repeated or missed changes nothing a later run would not do:

- a trial past its end is read-only (see :mod:`rapport.billing.access`); the sweep notes since when
  (``read_only_since``) and emails the admins three days before the end;
- a workspace read-only for payment (unpaid, canceled, trial over, past due beyond the grace) is
  suspended once ``billing_retention_days`` have passed since it became read-only;
- a period that ended rolls over (usage per period starts again at ``current_period_end``) for
  subscriptions Rapport keeps itself; Stripe's own periods arrive by webhook;
- each meter past the soft limit emails the admins once per period;
- seats follow membership: the seat quantity of a Stripe subscription is updated to the active
  members, at most once per ``billing_seat_sync_minutes`` per tenant.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.billing import access, notices, quotas, services, stripe_gateway
from rapport.billing.models import Subscription, SubscriptionState
from rapport.billing.plans import plan_or_trial
from rapport.platform.audit.context import Actor
from rapport.platform.db import utcnow
from rapport.platform.jobs.registry import job

log = logging.getLogger(__name__)
SWEEP_ACTOR = Actor("system", None, "Billing sweep")
TRIAL_WARNING = dt.timedelta(days=3)


@dataclass
class SweepReport:
    suspended: list[str] = field(default_factory=list)
    rolled_over: int = 0
    notices: int = 0
    seats_updated: int = 0


def retention_days() -> int:
    return int(current_app.config["RAPPORT"].billing_retention_days)


def seat_sync_interval() -> dt.timedelta:
    return dt.timedelta(minutes=int(current_app.config["RAPPORT"].billing_seat_sync_minutes))


def _read_only_from(subscription: Subscription, now: dt.datetime) -> dt.datetime | None:
    """Since when the subscription leaves the workspace read-only for payment (None: it does
    not)."""
    state = subscription.state
    if state == SubscriptionState.TRIALING.value:
        ends = subscription.trial_ends_at
        return ends if ends is not None and ends <= now else None
    if state == SubscriptionState.PAST_DUE.value:
        since = subscription.past_due_since or now
        until = since + dt.timedelta(days=access.grace_days())
        return until if until <= now else None
    if state in (SubscriptionState.UNPAID.value, SubscriptionState.CANCELED.value):
        return subscription.read_only_since or now
    return None


def sweep_one(
    session: Session, subscription: Subscription, now: dt.datetime, report: SweepReport
) -> None:
    tenant_id = subscription.tenant_id
    if subscription.state == SubscriptionState.SUSPENDED.value:
        return
    # Read-only since, and suspension after the retention period.
    since = _read_only_from(subscription, now)
    if since is None:
        subscription.read_only_since = None
    else:
        if subscription.read_only_since is None:
            subscription.read_only_since = since
        if subscription.read_only_since + dt.timedelta(days=retention_days()) <= now:
            services.set_state(
                session, tenant_id, SubscriptionState.SUSPENDED.value, actor=SWEEP_ACTOR, now=now
            )
            report.suspended.append(str(tenant_id))
            return
    # The trial's end is near: one email.
    ends = subscription.trial_ends_at
    if (
        subscription.state == SubscriptionState.TRIALING.value
        and ends is not None
        and now < ends <= now + TRIAL_WARNING
    ):
        key = f"trial_ending:{ends:%Y%m%d}"
        details = {"ends": f"{ends:%Y-%m-%d}"}
        report.notices += notices.notify(session, tenant_id, "trial_ending", key, details)
    # Period rollover for the subscriptions Rapport keeps itself (Stripe's come by webhook).
    if (
        subscription.stripe_subscription_id is None
        and subscription.state in services.PAYING
        and subscription.current_period_end <= now
    ):
        while subscription.current_period_end <= now:
            subscription.current_period_start = subscription.current_period_end
            subscription.current_period_end = subscription.current_period_start + services.PERIOD
        report.rolled_over += 1
    # Soft limits: one email per period and meter.
    plan = plan_or_trial(subscription.plan)
    usage = quotas.period_usage(session, subscription, now)
    for meter in quotas.meters(plan, usage):
        if not meter.warning:
            continue
        key = f"soft_limit:{meter.meter}:{subscription.current_period_start:%Y%m%d%H%M}"
        at_limit = (
            f"At {meter.hard_cap:,} the workspace refuses more until you upgrade or the period "
            "ends."
            if meter.hard_cap is not None
            else "Beyond the included amount, usage is billed as overage."
        )
        details = {
            "meter": meter.meter, "label": meter.label, "used": meter.used,
            "included": meter.included, "percent": meter.percent, "plan": plan.name,
            "at_limit": at_limit,
        }  # fmt: skip
        report.notices += notices.notify(session, tenant_id, "soft_limit", key, details)


def sync_seats(
    session: Session, subscription: Subscription, now: dt.datetime, report: SweepReport
) -> None:
    """Seats follow membership, batched: one quantity update per interval at most."""
    if subscription.stripe_subscription_id is None or subscription.stripe_seat_item_id is None:
        return
    if subscription.state not in services.PAYING:
        return
    seats = max(1, services.active_seats(session, subscription.tenant_id))
    if seats == subscription.seats:
        return
    last = subscription.seats_synced_at
    if last is not None and now - last < seat_sync_interval():
        return  # the next sweep after the interval sends the then-current count
    stripe_gateway.client().v1.subscription_items.update(
        subscription.stripe_seat_item_id,
        params={"quantity": seats, "proration_behavior": "create_prorations"},
    )
    subscription.seats = seats
    subscription.seats_synced_at = now
    session.flush()
    report.seats_updated += 1


def sweep(session: Session, now: dt.datetime | None = None) -> SweepReport:
    now = now or utcnow()
    report = SweepReport()
    subscriptions = session.scalars(select(Subscription).order_by(Subscription.tenant_id)).all()
    configured = stripe_gateway.configured()
    for subscription in subscriptions:
        sweep_one(session, subscription, now, report)
        if configured:
            try:
                sync_seats(session, subscription, now, report)
            except Exception:  # one tenant's Stripe trouble must not stop the others
                log.exception("seat sync failed for tenant %s", subscription.tenant_id)
        session.flush()
    return report


@job("billing", plane="control", retries=1)
def billing_sweep(session: Session) -> None:
    """The periodic job."""
    sweep(session)
