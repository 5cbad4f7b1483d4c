"""Activity operations: validate, change, audit and announce in the same transaction, flush.

They never commit: the boundary (request, job, CLI) does, once. A change to an activity's
reminder is also noted for the reminder index (see ``reminders``), which learns of it after the
commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.errors import Conflict, ValidationFailed
from rapport.tenants import events, records
from rapport.tenants.activities import reminders
from rapport.tenants.activities.links import check_record
from rapport.tenants.activities.models import Activity, ActivityLink
from rapport.tenants.activities.schemas import (
    ACTIVITY_FIELDS,
    ActivitySchema,
    CheckInSchema,
    CompleteSchema,
    LinkSchema,
)
from rapport.tenants.companies.schemas import load
from rapport.tenants.fields import services as custom_fields
from rapport.tenants.picklists import services as picklists

for _verb, _text in (
    ("created", "An activity (task, call, meeting or visit) was created."),
    ("updated", "An activity was changed."),
    ("deleted", "An activity was deleted."),
    ("completed", "An activity was marked done, with its outcome."),
):
    events.declare(f"activity.{_verb}", _text)
events.declare("visit.checked_in", "Someone checked in on a visit (time, position, outcome).")

#: The most records one activity may concern.
MAX_LINKS = 20
#: Activity field -> the picklist its value comes from.
PICKED = records.get("activities").picked


def snapshot(activity: Activity) -> dict[str, Any]:
    """The audited fields of an activity, as a plain dict."""
    values = {name: getattr(activity, name) for name in ACTIVITY_FIELDS}
    values.update(status=activity.status, outcome=activity.outcome)
    return {**values, **custom_fields.custom_snapshot(activity.custom)}


def get_activity(session: Session, activity_id: uuid.UUID | str) -> Activity:
    return get_or_not_found(session, Activity, activity_id, "activity")


def _load_links(
    session: Session, raw: Iterable[Mapping[str, Any]] | None
) -> list[tuple[str, uuid.UUID]]:
    links: list[tuple[str, uuid.UUID]] = []
    for item in list(raw or [])[: MAX_LINKS + 1]:
        data = load(LinkSchema(), dict(item))
        record_id = check_record(session, data["record_type"], data["record_id"], "links")
        if (data["record_type"], record_id) not in links:
            links.append((data["record_type"], record_id))
    if len(links) > MAX_LINKS:
        raise ValidationFailed({"links": [f"Link at most {MAX_LINKS} records."]})
    return links


def _split(data: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    rest = dict(data)
    return rest, rest.pop("links", None)


def create_activity(
    session: Session, data: Mapping[str, Any], *, visit: Mapping[str, Any] | None = None
) -> Activity:
    """Create an activity (and its links to records); raise ValidationFailed naming bad fields.

    ``data["links"]`` is a list of ``{"record_type": "companies", "record_id": ...}``; ``visit``
    (the plan's generator only) holds ``visit_plan_id``, ``visit_customer_id`` and ``visit_date``.
    """
    rest, raw_links = _split(data)
    values, custom = custom_fields.load_with_custom(
        session,
        "activities",
        picklists.loader(session, lambda r: load(ActivitySchema(), r), PICKED),
        rest,
    )
    links = _load_links(session, raw_links)
    activity = Activity(**values, custom=custom or {}, status="open", **dict(visit or {}))
    session.add(activity)
    session.flush()
    for record_type, record_id in links:
        session.add(
            ActivityLink(activity_id=activity.id, record_type=record_type, record_id=record_id)
        )
    custom_fields.flush_unique(session, "activities", activity)
    after = {**snapshot(activity), "links": _plain_links(links)}
    audit.record(
        session, "activity.created", "activity", activity.id, audit.diff({}, snapshot(activity))
    )
    events.emit(session, "activity.created", "activities", activity.id, after)
    reminders.note(session, activity)
    return activity


def _plain_links(links: Iterable[tuple[str, uuid.UUID]]) -> list[dict[str, str]]:
    return [{"record_type": t, "record_id": str(i)} for t, i in links]


def update_activity(
    session: Session,
    activity_id: uuid.UUID | str,
    data: Mapping[str, Any],
    *,
    partial: bool = False,
) -> Activity:
    """Change an activity; one audit entry with what changed; links are replaced when given."""
    activity = get_activity(session, activity_id)
    rest, raw_links = _split(data)
    values, custom = custom_fields.load_with_custom(
        session,
        "activities",
        picklists.loader(
            session, lambda r: load(ActivitySchema(), r, partial=partial), PICKED, activity
        ),
        rest,
        existing=dict(activity.custom or {}),
        partial=partial,
    )
    if values.get("remind_at", activity.remind_at) != activity.remind_at:
        activity.reminded_at = None  # a new reminder time is a new reminder
    if raw_links is not None:
        set_links(session, activity, _load_links(session, raw_links))
    custom_fields.apply_changes(
        session, activity, values, custom, record_type="activities", snapshot=snapshot,
        action="activity.updated", target_type="activity",
    )  # fmt: skip
    reminders.note(session, activity)
    return activity


def set_links(session: Session, activity: Activity, links: list[tuple[str, uuid.UUID]]) -> None:
    current = {
        (link.record_type, link.record_id): link for link in activity_links(session, activity.id)
    }
    for key, link in current.items():
        if key not in links:
            session.delete(link)
    for record_type, record_id in links:
        if (record_type, record_id) not in current:
            session.add(
                ActivityLink(activity_id=activity.id, record_type=record_type, record_id=record_id)
            )
    session.flush()


def activity_links(session: Session, activity_id: uuid.UUID) -> list[ActivityLink]:
    return list(
        session.scalars(
            select(ActivityLink)
            .where(ActivityLink.activity_id == activity_id)
            .order_by(ActivityLink.id)
        )
    )


def delete_activity(session: Session, activity_id: uuid.UUID | str) -> None:
    activity = get_activity(session, activity_id)
    before = snapshot(activity)
    session.execute(delete(ActivityLink).where(ActivityLink.activity_id == activity.id))
    session.delete(activity)
    session.flush()
    audit.record(session, "activity.deleted", "activity", activity.id, audit.diff(before, {}))
    events.emit(session, "activity.deleted", "activities", activity.id, before)


def _set_status(session: Session, activity: Activity, status: str, **values: Any) -> dict[str, Any]:
    """Change the status (and what goes with it); audited and announced as an update that says
    what changed, so workflows watching the status or the outcome see it."""
    before = snapshot(activity)
    activity.status = status
    for name, value in values.items():
        setattr(activity, name, value)
    session.flush()
    changes = audit.diff(before, snapshot(activity))
    if changes:
        audit.record(session, "activity.updated", "activity", activity.id, changes)
        data = {**snapshot(activity), "changes": changes}
        events.emit(session, "activity.updated", "activities", activity.id, data)
    return changes


def complete_activity(
    session: Session, activity_id: uuid.UUID | str, data: Mapping[str, Any] | None = None
) -> Activity:
    """Mark an activity done with an optional outcome (done again: only the outcome changes)."""
    activity = get_activity(session, activity_id)
    values = load(CompleteSchema(), dict(data or {}))
    if activity.status == "canceled":
        raise Conflict("A canceled activity cannot be completed; reopen it first.")
    was_done = activity.status == "done"
    outcome = values.get("outcome") if values.get("outcome") is not None else activity.outcome
    _set_status(session, activity, "done", outcome=outcome,
                completed_at=activity.completed_at or utcnow())  # fmt: skip
    if not was_done:
        events.emit(session, "activity.completed", "activities", activity.id, snapshot(activity))
    return activity


def cancel_activity(session: Session, activity_id: uuid.UUID | str) -> Activity:
    activity = get_activity(session, activity_id)
    if activity.status != "canceled":
        _set_status(session, activity, "canceled", completed_at=None)
    return activity


def reopen_activity(session: Session, activity_id: uuid.UUID | str) -> Activity:
    activity = get_activity(session, activity_id)
    if activity.status != "open":
        _set_status(session, activity, "open", completed_at=None)
        reminders.note(session, activity)
    return activity


def check_in(session: Session, activity_id: uuid.UUID | str, data: Mapping[str, Any]) -> Activity:
    """Record a visit check-in: the time now, the position if the browser gave one, the outcome.

    Checking in again replaces the position and outcome but keeps the first check-in time.
    """
    activity = get_activity(session, activity_id)
    if activity.kind != "visit":
        raise ValidationFailed({"_form": ["Only visits have a check-in."]})
    if activity.status == "canceled":
        raise Conflict("This visit was canceled; reopen it to check in.")
    values = load(CheckInSchema(), dict(data))
    before = snapshot(activity)
    activity.checked_in_at = activity.checked_in_at or utcnow()
    activity.latitude, activity.longitude = values["latitude"], values["longitude"]
    activity.accuracy = values["accuracy"] if values["latitude"] is not None else None
    if values.get("outcome") is not None:
        activity.outcome = values["outcome"]
    completing = values["complete"] and activity.status == "open"
    if completing:
        activity.status, activity.completed_at = "done", activity.checked_in_at
    session.flush()
    place = {"latitude": activity.latitude, "longitude": activity.longitude,
             "accuracy": activity.accuracy}  # fmt: skip
    at = activity.checked_in_at
    changes = {**audit.diff(before, snapshot(activity)), "checked_in_at": [None, at.isoformat()]}
    audit.record(session, "visit.checked_in", "activity", activity.id, changes)
    data = {**snapshot(activity), **place, "checked_in_at": at}
    events.emit(session, "visit.checked_in", "activities", activity.id, data)
    if completing:
        events.emit(session, "activity.completed", "activities", activity.id, snapshot(activity))
    return activity
