"""Tables of activities (in each tenant's schema): the activity and the records it concerns.

An activity links to records generically, by record type name and id (``ActivityLink``), so it
can concern companies, contacts, deals or leads without a foreign key to each of them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin
from rapport.tenants import records

ACTIVITY_STATUSES = ("open", "done", "canceled")
#: The record types an activity, a note or an attachment may concern.
LINKABLE_TYPES = ("companies", "contacts", "deals", "leads")


class Activity(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "activities"
    __table_args__ = (
        # One generated visit per plan, customer and day: regeneration never duplicates.
        UniqueConstraint("visit_plan_id", "visit_customer_id", "visit_date"),
        Index("ix_activities_owner_id_due_at", "owner_id", "due_at"),
        Index("ix_activities_status_remind_at", "status", "remind_at"),
    )

    kind: Mapped[str] = mapped_column(String(10), default="task")
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    #: When it takes place (meetings, visits, calls) or is due (tasks).
    due_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    ends_at: Mapped[dt.datetime | None]
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    remind_at: Mapped[dt.datetime | None]
    reminded_at: Mapped[dt.datetime | None]
    owner_id: Mapped[uuid.UUID | None]  # a user id from the control plane (no cross-plane FK)
    status: Mapped[str] = mapped_column(String(10), default="open")
    completed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)
    checked_in_at: Mapped[dt.datetime | None]
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    accuracy: Mapped[float | None] = mapped_column(Float)  # metres, as the browser reports it
    visit_plan_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("visit_plans.id", ondelete="SET NULL"), index=True
    )
    visit_customer_id: Mapped[uuid.UUID | None]  # the VisitPlanCustomer it was generated for
    visit_date: Mapped[dt.date | None]
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ActivityLink(IdMixin, TenantBase):
    __tablename__ = "activity_links"
    __table_args__ = (
        UniqueConstraint("activity_id", "record_type", "record_id"),
        Index("ix_activity_links_record_type_record_id", "record_type", "record_id"),
    )

    activity_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("activities.id", ondelete="CASCADE"), index=True
    )
    record_type: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[uuid.UUID]


records.register(
    Activity,
    "activities",
    label="Activities",
    singular="activity",
    components=("Activity", "ActivityInput"),
    module="activities",
    picked={"kind": "activity_type"},
)
