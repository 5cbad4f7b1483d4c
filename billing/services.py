"""Subscription operations: start the trial, change the plan or state, count seats, price it.

Services change, audit (in the control plane) and flush; they never commit.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.billing.models import Subscription, SubscriptionState
from rapport.billing.plans import TRIAL_DAYS, get_plan, plan_or_trial
from rapport.platform.audit import chain as audit
from rapport.platform.audit.context import Actor
from rapport.platform.db import utcnow
from rapport.platform.errors import NotFound, ValidationFailed
from rapport.platform.identity.models import Membership
from rapport.platform.tenancy.models import Tenant

PERIOD = dt.timedelta(days=30)
#: States in which the tenant pays for its seats.
PAYING = frozenset({SubscriptionState.ACTIVE.value, SubscriptionState.PAST_DUE.value})


def start_trial(
    session: Session, tenant_id: uuid.UUID, plan: str = "trial", now: dt.datetime | None = None
) -> Subscription:
    """Create the tenant's subscription in the trialing state (no card needed)."""
    now = now or utcnow()
    ends = now + dt.timedelta(days=TRIAL_DAYS)
    subscription = Subscription(
        tenant_id=tenant_id,
        plan=plan_or_trial(plan).code,
        state=SubscriptionState.TRIALING.value,
        trial_ends_at=ends,
        current_period_start=now,
        current_period_end=ends,
        seats=1,
    )
    session.add(subscription)
    session.flush()
    return subscription


def subscription_of(session: Session, tenant_id: uuid.UUID) -> Subscription | None:
    return session.scalars(select(Subscription).where(Subscription.tenant_id == tenant_id)).first()


def _require(session: Session, tenant_id: uuid.UUID) -> Subscription:
    subscription = subscription_of(session, tenant_id)
    if subscription is None:
        raise NotFound("This workspace has no subscription.")
    return subscription


def set_plan(
    session: Session,
    tenant_id: uuid.UUID,
    plan_code: str,
    *,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> Subscription:
    """Move a tenant to another plan (an operator's decision), audited in the control plane."""
    try:
        plan = get_plan(plan_code)
    except ValueError as exc:
        raise ValidationFailed({"plan": [str(exc)]}) from None
    now = now or utcnow()
    subscription = _require(session, tenant_id)
    before_plan, before_state = subscription.plan, subscription.state
    subscription.plan = plan.code
    if plan.code != "trial" and subscription.state == SubscriptionState.TRIALING.value:
        # Leaving the trial starts the first paid period.
        subscription.state = SubscriptionState.ACTIVE.value
        subscription.current_period_start = now
        subscription.current_period_end = now + PERIOD
    tenant = session.get(Tenant, tenant_id)
    if tenant is not None:
        tenant.plan = plan.code
    changes: dict[str, list[str | None]] = {"plan": [before_plan, plan.code]}
    if subscription.state != before_state:
        changes["state"] = [before_state, subscription.state]
    audit.record_platform(
        session, "subscription.plan_changed", "tenant", tenant_id, changes,
        tenant_id=tenant_id, actor=actor,
    )  # fmt: skip
    session.flush()
    return subscription


def set_state(
    session: Session,
    tenant_id: uuid.UUID,
    state: str,
    *,
    actor: Actor | None = None,
    now: dt.datetime | None = None,
) -> Subscription:
    """Record a new payment state (from Stripe or an operator), audited in the control plane."""
    if state not in {s.value for s in SubscriptionState}:
        choices = ", ".join(s.value for s in SubscriptionState)
        raise ValidationFailed({"state": [f"Choose one of: {choices}."]})
    now = now or utcnow()
    subscription = _require(session, tenant_id)
    before = subscription.state
    subscription.state = state
    if state == SubscriptionState.PAST_DUE.value:
        if before != state or subscription.past_due_since is None:
            subscription.past_due_since = now
    else:
        subscription.past_due_since = None
    audit.record_platform(
        session, "subscription.state_changed", "tenant", tenant_id, {"state": [before, state]},
        tenant_id=tenant_id, actor=actor,
    )  # fmt: skip
    session.flush()
    return subscription


def active_seats(session: Session, tenant_id: uuid.UUID) -> int:
    """Seats follow membership: every active member takes one."""
    return (
        session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant_id, Membership.active.is_(True))
        )
        or 0
    )


def mrr_cents(subscription: Subscription, seats: int) -> int:
    """Monthly recurring revenue of the seats (overage is usage, not recurring)."""
    if subscription.state not in PAYING:
        return 0
    return plan_or_trial(subscription.plan).seat_price_cents * seats
