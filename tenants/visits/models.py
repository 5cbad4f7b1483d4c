"""Tables of visit plans (in each tenant's schema): the plan, its cycle and its customers."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin

CYCLE_UNITS = ("days", "weeks")
CUSTOMER_TYPES = ("companies", "contacts")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class VisitPlan(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "visit_plans"

    name: Mapped[str] = mapped_column(String(200))
    owner_id: Mapped[uuid.UUID | None]  # the rep who visits (a control-plane user id)
    every: Mapped[int] = mapped_column(default=1)
    unit: Mapped[str] = mapped_column(String(5), default="weeks")
    #: Comma-separated weekday codes ("mon,thu"); empty means any day the cycle lands on.
    weekdays: Mapped[str] = mapped_column(String(30), default="")
    starts_on: Mapped[dt.date]
    horizon_days: Mapped[int] = mapped_column(default=28)
    visit_time: Mapped[dt.time | None]  # time of day of each visit, in ``timezone``; none = all day
    #: The IANA zone the visit time and the days are meant in (the rep's, usually).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    duration_minutes: Mapped[int] = mapped_column(default=60)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class VisitPlanCustomer(IdMixin, TenantBase):
    __tablename__ = "visit_plan_customers"
    __table_args__ = (
        UniqueConstraint("plan_id", "record_type", "record_id"),
        Index("ix_visit_plan_customers_record_type_record_id", "record_type", "record_id"),
    )

    plan_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("visit_plans.id", ondelete="CASCADE"), index=True
    )
    record_type: Mapped[str] = mapped_column(String(40))  # "companies" or "contacts"
    record_id: Mapped[uuid.UUID]
