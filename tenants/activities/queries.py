"""Reading activities: lists, the calendar's range, due reminders, a record's activities."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import NotFound
from rapport.tenants.activities.links import get_record, record_label
from rapport.tenants.activities.models import Activity, ActivityLink

LIST_LIMIT = 200


def get_activity(session: Session, activity_id: uuid.UUID | str) -> Activity:
    return get_or_not_found(session, Activity, activity_id, "activity")


def list_activities(
    session: Session,
    *,
    owners: Collection[uuid.UUID] | None = None,
    status: str | None = "open",
    kind: str | None = None,
    limit: int = LIST_LIMIT,
) -> list[Activity]:
    """Activities by due time (undated last); ``owners`` None means everyone's."""
    stmt = select(Activity)
    if owners is not None:
        stmt = stmt.where(Activity.owner_id.in_(list(owners)))
    if status:
        stmt = stmt.where(Activity.status == status)
    if kind:
        stmt = stmt.where(Activity.kind == kind)
    undated = Activity.due_at.is_(None)
    order = (undated, Activity.due_at, Activity.id)
    if status in ("done", "canceled"):
        order = (Activity.completed_at.desc(), Activity.id.desc())
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


def in_range(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    *,
    owners: Collection[uuid.UUID] | None = None,
    limit: int = 2000,
) -> list[Activity]:
    """Activities starting in [start, end) (canceled ones left out), by start."""
    stmt = select(Activity).where(
        Activity.due_at >= start, Activity.due_at < end, Activity.status != "canceled"
    )
    if owners is not None:
        stmt = stmt.where(Activity.owner_id.in_(list(owners)))
    return list(session.scalars(stmt.order_by(Activity.due_at, Activity.id).limit(limit)))


def due_reminders(
    session: Session, owner_id: uuid.UUID, *, now: dt.datetime | None = None, limit: int = 50
) -> list[Activity]:
    """The owner's open activities whose reminder time has come, soonest first."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(Activity)
            .where(
                Activity.owner_id == owner_id,
                Activity.status == "open",
                Activity.remind_at <= now,
            )
            .order_by(Activity.remind_at, Activity.id)
            .limit(limit)
        )
    )


def count_due_reminders(session: Session, owner_id: uuid.UUID) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                Activity.owner_id == owner_id,
                Activity.status == "open",
                Activity.remind_at <= utcnow(),
            )
        )
        or 0
    )


def links_of(
    session: Session, activity_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, list[ActivityLink]]:
    """The links of several activities at once."""
    found: dict[uuid.UUID, list[ActivityLink]] = {}
    if not activity_ids:
        return found
    rows = session.scalars(
        select(ActivityLink)
        .where(ActivityLink.activity_id.in_(list(activity_ids)))
        .order_by(ActivityLink.id)
    )
    for link in rows:
        found.setdefault(link.activity_id, []).append(link)
    return found


def link_labels(session: Session, links: Collection[ActivityLink]) -> dict[uuid.UUID, str]:
    """A label for each linked record (deleted ones say so)."""
    labels = {}
    for link in links:
        try:
            labels[link.id] = record_label(get_record(session, link.record_type, link.record_id))
        except NotFound:
            labels[link.id] = "(deleted)"
    return labels


def record_activities(
    session: Session, record_type: str, record_id: uuid.UUID, limit: int = 100
) -> list[Activity]:
    """The activities about one record, newest first."""
    return list(
        session.scalars(
            select(Activity)
            .join(ActivityLink, ActivityLink.activity_id == Activity.id)
            .where(ActivityLink.record_type == record_type, ActivityLink.record_id == record_id)
            .order_by(func.coalesce(Activity.completed_at, Activity.created_at).desc())
            .limit(limit)
        )
    )
