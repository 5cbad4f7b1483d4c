"""The activities on a record's timeline (see rapport.tenants.timeline)."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from rapport.tenants.activities.models import Activity
from rapport.tenants.activities.queries import record_activities
from rapport.tenants.picklists import queries as picklists
from rapport.tenants.timeline import Entry

KINDS: dict[str, str] = {"activity": "Activities"}


def _title(activity: Activity, kind_label: str) -> str:
    title = f"{kind_label}: {activity.subject}"
    if activity.status == "canceled":
        return f"{title} (canceled)"
    if activity.status == "done" and activity.outcome:
        first_line = activity.outcome.strip().splitlines()[0] if activity.outcome.strip() else ""
        return f"{title}: {first_line[:120]}" if first_line else title
    if activity.status == "open" and activity.due_at is not None:
        return f"{title} (planned)"  # when: the page shows meta["due_at"] in the viewer's zone
    return title


def _url(activity: Activity) -> str | None:
    from flask import has_request_context, url_for

    if not has_request_context():
        return None
    try:
        return url_for("activities.detail", activity_id=activity.id)
    except Exception:  # noqa: BLE001 - no workspace in this request: no link
        return None


def entries(session: Session, target_type: str, target_id: uuid.UUID, *, limit: int) -> list[Entry]:
    """The record's activities: done ones when they were done, the others when they were planned
    (a timeline is what happened, so future dates do not float to its top)."""
    items = []
    kinds = picklists.labels(session, "activity_type")
    for activity in record_activities(session, target_type, target_id, limit=limit):
        at = activity.completed_at or activity.created_at
        items.append(
            Entry(
                at=at,
                kind="activity",
                title=_title(activity, kinds.get(activity.kind, "Activity")),
                body=activity.outcome or activity.description,
                url=_url(activity),
                meta={
                    "activity_id": str(activity.id),
                    "activity_kind": activity.kind,
                    "status": activity.status,
                    "due_at": activity.due_at.isoformat() if activity.due_at else None,
                    "checked_in_at": (
                        activity.checked_in_at.isoformat() if activity.checked_in_at else None
                    ),
                },
            )
        )
    return items
