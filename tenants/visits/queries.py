"""Reading visit plans: the list, and plan adherence per rep."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.db import utcnow
from rapport.tenants.activities.models import Activity
from rapport.tenants.visits.models import VisitPlan, VisitPlanCustomer

#: The longest range the adherence report covers.
MAX_RANGE = dt.timedelta(days=366)


def list_plans(session: Session) -> list[tuple[VisitPlan, int]]:
    """Every plan with its number of customers, active first, by name."""
    counts = (
        select(VisitPlanCustomer.plan_id, func.count().label("n"))
        .group_by(VisitPlanCustomer.plan_id)
        .subquery()
    )
    rows = session.execute(
        select(VisitPlan, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.plan_id == VisitPlan.id)
        .order_by(VisitPlan.active.desc(), func.lower(VisitPlan.name), VisitPlan.id)
    ).all()
    return [(plan, n) for plan, n in rows]


def plan_visits(
    session: Session, plan_id: uuid.UUID, start: dt.date, end: dt.date
) -> list[Activity]:
    return list(
        session.scalars(
            select(Activity)
            .where(
                Activity.visit_plan_id == plan_id,
                Activity.visit_date >= start,
                Activity.visit_date <= end,
            )
            .order_by(Activity.visit_date, Activity.due_at, Activity.id)
        )
    )


@dataclasses.dataclass
class Adherence:
    owner_id: uuid.UUID | None
    planned: int = 0
    done: int = 0  # done on or before the planned day
    done_late: int = 0
    overdue: int = 0  # still open after the planned day
    upcoming: int = 0  # still open, the day has not passed
    canceled: int = 0

    @property
    def rate(self) -> float | None:
        """Share of the planned visits whose day has passed that were done on time."""
        due = self.planned - self.upcoming - self.canceled
        return self.done / due if due > 0 else None


def adherence(
    session: Session, start: dt.date, end: dt.date, *, today: dt.date | None = None
) -> list[Adherence]:
    """Planned visits against what was done, per rep, for planned days from ``start`` to ``end``."""
    today = today or utcnow().date()
    if end < start:
        start, end = end, start
    end = min(end, start + MAX_RANGE)
    rows = session.execute(
        select(
            Activity.owner_id, Activity.visit_date, Activity.status, Activity.completed_at
        ).where(
            Activity.kind == "visit",
            Activity.visit_plan_id.is_not(None),
            Activity.visit_date >= start,
            Activity.visit_date <= end,
        )
    ).all()
    report: dict[uuid.UUID | None, Adherence] = {}
    for owner_id, day, status, completed_at in rows:
        item = report.setdefault(owner_id, Adherence(owner_id))
        item.planned += 1
        if status == "canceled":
            item.canceled += 1
        elif status == "done":
            if completed_at is not None and completed_at.date() > day:
                item.done_late += 1
            else:
                item.done += 1
        elif day < today:
            item.overdue += 1
        else:
            item.upcoming += 1
    return sorted(report.values(), key=lambda a: (-a.planned, str(a.owner_id)))
