"""Visit plan operations and the generator of visit activities.

A plan visits its customers on a cycle: every N days from its first day, or every N weeks on the
chosen weekdays. ``generate`` creates the visits of the next ``horizon_days`` as activities of
kind ``visit``, one per (plan, customer, day), which a unique constraint on the activity holds:
running it again creates nothing new. Future visits that no longer fit the plan (a customer
removed, the cycle changed, the plan paused) and were neither checked in nor completed are
removed. Generation runs when a plan is saved and periodically for every tenant (see
``activities.reminders.refresh_tenant``).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.platform import timezones
from rapport.platform.audit import chain as audit
from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.tenants.activities import services as activities
from rapport.tenants.activities.links import check_record, get_record, record_label
from rapport.tenants.activities.models import Activity, ActivityLink
from rapport.tenants.companies.schemas import load
from rapport.tenants.visits.models import CUSTOMER_TYPES, WEEKDAYS, VisitPlan, VisitPlanCustomer
from rapport.tenants.visits.schemas import PLAN_FIELDS, VisitPlanSchema, weekday_codes

MAX_CUSTOMERS = 500


def snapshot(plan: VisitPlan) -> dict[str, Any]:
    """The audited fields of a plan (times as text: the audit diff is JSON)."""
    values = {name: getattr(plan, name) for name in PLAN_FIELDS}
    if values["visit_time"] is not None:
        values["visit_time"] = values["visit_time"].strftime("%H:%M")
    return values


def get_plan(session: Session, plan_id: uuid.UUID | str) -> VisitPlan:
    return get_or_not_found(session, VisitPlan, plan_id, "visit plan")


def _values(data: Mapping[str, Any], partial: bool = False) -> dict[str, Any]:
    values = load(VisitPlanSchema(), dict(data), partial=partial)
    if "weekdays" in values:
        values["weekdays"] = weekday_codes(values["weekdays"])
    if values.get("unit") == "weeks" and "weekdays" in values and not values["weekdays"]:
        starts = values.get("starts_on")
        if starts is not None:  # every N weeks, on the first day's weekday
            values["weekdays"] = WEEKDAYS[starts.weekday()]
    return values


def create_plan(
    session: Session, data: Mapping[str, Any], *, today: dt.date | None = None
) -> VisitPlan:
    """Create a plan (customers come next, with ``add_customer``)."""
    plan = VisitPlan(**_values(data))
    session.add(plan)
    session.flush()
    audit.record(
        session, "visit_plan.created", "visit_plan", plan.id, audit.diff({}, snapshot(plan))
    )
    generate(session, plan, today=today)
    return plan


def update_plan(
    session: Session,
    plan_id: uuid.UUID | str,
    data: Mapping[str, Any],
    *,
    today: dt.date | None = None,
) -> VisitPlan:
    """Change a plan and regenerate its visits."""
    plan = get_plan(session, plan_id)
    before = snapshot(plan)
    for name, value in _values(data).items():
        setattr(plan, name, value)
    session.flush()
    changes = audit.diff(before, snapshot(plan))
    if changes:
        audit.record(session, "visit_plan.updated", "visit_plan", plan.id, changes)
    generate(session, plan, today=today)
    return plan


def delete_plan(
    session: Session, plan_id: uuid.UUID | str, *, today: dt.date | None = None
) -> None:
    """Delete a plan and its future open visits; visits that happened stay, without a plan."""
    plan = get_plan(session, plan_id)
    before = snapshot(plan)
    plan.active = False
    generate(session, plan, today=today)  # removes the future ones
    session.execute(delete(VisitPlanCustomer).where(VisitPlanCustomer.plan_id == plan.id))
    session.delete(plan)
    session.flush()
    audit.record(session, "visit_plan.deleted", "visit_plan", plan.id, audit.diff(before, {}))


def plan_customers(session: Session, plan_id: uuid.UUID) -> list[VisitPlanCustomer]:
    return list(
        session.scalars(
            select(VisitPlanCustomer)
            .where(VisitPlanCustomer.plan_id == plan_id)
            .order_by(VisitPlanCustomer.id)
        )
    )


def add_customer(
    session: Session, plan_id: uuid.UUID | str, record_type: str, record_id: uuid.UUID | str,
    *, today: dt.date | None = None,
) -> VisitPlanCustomer:  # fmt: skip
    """Add a company or contact to the plan and generate its visits."""
    plan = get_plan(session, plan_id)
    if record_type not in CUSTOMER_TYPES:
        raise ValidationFailed({"record_type": ["Choose a company or a contact."]})
    record_id = check_record(session, record_type, record_id, "record_id")
    existing = {(c.record_type, c.record_id) for c in plan_customers(session, plan.id)}
    if (record_type, record_id) in existing:
        raise Conflict("This customer is already on the plan.")
    if len(existing) >= MAX_CUSTOMERS:
        raise ValidationFailed({"record_id": [f"A plan holds at most {MAX_CUSTOMERS} customers."]})
    customer = VisitPlanCustomer(plan_id=plan.id, record_type=record_type, record_id=record_id)
    session.add(customer)
    session.flush()
    audit.record(session, "visit_plan.updated", "visit_plan", plan.id,
                 {"customers": [None, f"{record_type}:{record_id}"]})  # fmt: skip
    generate(session, plan, today=today)
    return customer


def remove_customer(
    session: Session,
    plan_id: uuid.UUID | str,
    customer_id: uuid.UUID | str,
    *,
    today: dt.date | None = None,
) -> None:
    plan = get_plan(session, plan_id)
    customer = get_or_not_found(session, VisitPlanCustomer, customer_id, "customer")
    if customer.plan_id != plan.id:
        raise ValidationFailed({"_form": ["This customer is not on the plan."]})
    session.delete(customer)
    session.flush()
    audit.record(session, "visit_plan.updated", "visit_plan", plan.id,
                 {"customers": [f"{customer.record_type}:{customer.record_id}", None]})  # fmt: skip
    generate(session, plan, today=today)


def set_customers(
    session: Session,
    plan_id: uuid.UUID | str,
    wanted: Sequence[tuple[str, uuid.UUID | str]],
    *,
    today: dt.date | None = None,
) -> list[VisitPlanCustomer]:
    """Make the plan's customers exactly ``wanted`` (record type, id): each one added or removed
    is audited, and the visits are generated once at the end (not once per customer)."""
    plan = get_plan(session, plan_id)
    chosen: dict[tuple[str, uuid.UUID], None] = {}
    problems: list[str] = []
    for record_type, record_id in wanted:
        if record_type not in CUSTOMER_TYPES:
            problems.append(f"{record_type}: choose a company or a contact.")
            continue
        try:
            chosen[(record_type, check_record(session, record_type, record_id))] = None
        except ValidationFailed as exc:
            problems += [f"{record_type}:{record_id}: {m}" for m in exc.errors["record_id"]]
    if len(chosen) > MAX_CUSTOMERS:
        problems.append(f"A plan holds at most {MAX_CUSTOMERS} customers.")
    if problems:
        raise ValidationFailed({"customers": problems})
    current = {(c.record_type, c.record_id): c for c in plan_customers(session, plan.id)}
    for (record_type, record_id), customer in current.items():
        if (record_type, record_id) not in chosen:
            session.delete(customer)
            audit.record(session, "visit_plan.updated", "visit_plan", plan.id,
                         {"customers": [f"{record_type}:{record_id}", None]})  # fmt: skip
    for record_type, record_id in chosen:
        if (record_type, record_id) not in current:
            session.add(VisitPlanCustomer(plan_id=plan.id, record_type=record_type,
                                          record_id=record_id))  # fmt: skip
            audit.record(session, "visit_plan.updated", "visit_plan", plan.id,
                         {"customers": [None, f"{record_type}:{record_id}"]})  # fmt: skip
    session.flush()
    generate(session, plan, today=today)
    return plan_customers(session, plan.id)


# -- the cycle -----------------------------------------------------------------------------------
def visit_dates(plan: VisitPlan, start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """The plan's visit days from ``start`` to ``end`` (both included)."""
    chosen = {WEEKDAYS.index(d) for d in plan.weekdays.split(",") if d}
    first = max(start, plan.starts_on)
    if plan.unit == "days":
        # Every N days from the first day; with weekdays chosen, only cycle days that fall on one.
        offset = (first - plan.starts_on).days
        day = first + dt.timedelta(days=(-offset) % plan.every)
        while day <= end:
            if not chosen or day.weekday() in chosen:
                yield day
            day += dt.timedelta(days=plan.every)
        return
    # Every N weeks, counted from the Monday of the first day's week, on the chosen weekdays.
    chosen = chosen or {plan.starts_on.weekday()}
    week_zero = plan.starts_on - dt.timedelta(days=plan.starts_on.weekday())
    day = first
    while day <= end:
        weeks = (day - week_zero).days // 7
        if weeks % plan.every == 0 and day.weekday() in chosen:
            yield day
        day += dt.timedelta(days=1)


def _due_at(plan: VisitPlan, day: dt.date) -> tuple[dt.datetime, dt.datetime | None, bool]:
    """When a visit on ``day`` starts and ends: the plan's time of day in the plan's zone."""
    zone = timezones.zone_of(plan.timezone)
    if plan.visit_time is None:
        return dt.datetime.combine(day, dt.time(0), zone), None, True
    starts = dt.datetime.combine(day, plan.visit_time, zone)
    return starts, starts + dt.timedelta(minutes=plan.duration_minutes), False


def generate(session: Session, plan: VisitPlan, *, today: dt.date | None = None) -> tuple[int, int]:
    """Create the plan's missing visits up to its horizon and remove the ones that no longer fit;
    return (created, removed). Safe to run again: it then does nothing."""
    today = today or utcnow().date()
    end = today + dt.timedelta(days=plan.horizon_days)
    customers = plan_customers(session, plan.id) if plan.active else []
    wanted = {(c.id, day) for c in customers for day in visit_dates(plan, today, end)}
    existing = {
        (row.visit_customer_id, row.visit_date): row
        for row in session.scalars(
            select(Activity).where(Activity.visit_plan_id == plan.id, Activity.visit_date >= today)
        )
    }
    removed = 0
    for key, row in existing.items():
        if row.status != "open" or row.checked_in_at is not None:
            continue  # what happened stays as it happened
        if key not in wanted:
            activities.delete_activity(session, row.id)
            removed += 1
            continue
        # A kept visit follows the plan's rep and time of day.
        due_at, ends_at, all_day = _due_at(plan, row.visit_date)
        if (row.owner_id, row.due_at, row.ends_at, row.all_day) != (
            plan.owner_id,
            due_at,
            ends_at,
            all_day,
        ):
            changes = {"owner_id": str(plan.owner_id) if plan.owner_id else None,
                       "due_at": due_at.isoformat(), "all_day": all_day,
                       "ends_at": ends_at.isoformat() if ends_at else None}  # fmt: skip
            activities.update_activity(session, row.id, changes, partial=True)
    created = 0
    by_id = {c.id: c for c in customers}
    for customer_id, day in sorted(wanted - existing.keys(), key=lambda k: (k[1], str(k[0]))):
        customer = by_id[customer_id]
        try:
            label = record_label(get_record(session, customer.record_type, customer.record_id))
        except NotFound:  # the customer was deleted: nothing to visit
            continue
        due_at, ends_at, all_day = _due_at(plan, day)
        data = {
            "kind": "visit",
            "subject": f"Visit {label}"[:200],
            "due_at": due_at.isoformat(),
            "ends_at": ends_at.isoformat() if ends_at else None,
            "all_day": all_day,
            "owner_id": str(plan.owner_id) if plan.owner_id else None,
            "links": [{"record_type": customer.record_type, "record_id": str(customer.record_id)}],
        }
        visit = {"visit_plan_id": plan.id, "visit_customer_id": customer.id, "visit_date": day}
        # A concurrent generator may have created the same visit: the unique key refuses ours.
        try:
            with session.begin_nested():
                activities.create_activity(session, data, visit=visit)
        except IntegrityError:
            continue
        created += 1
    return created, removed


def generate_all(session: Session, *, today: dt.date | None = None) -> int:
    """Generate ahead for every active plan of the tenant; return how many visits were created."""
    created = 0
    for plan in session.scalars(select(VisitPlan).where(VisitPlan.active.is_(True))):
        created += generate(session, plan, today=today)[0]
    return created


def visits_of_customer(session: Session, customer_id: uuid.UUID) -> list[Activity]:
    return list(
        session.scalars(
            select(Activity)
            .join(ActivityLink, ActivityLink.activity_id == Activity.id)
            .where(Activity.visit_customer_id == customer_id)
        )
    )
