"""Deals, their stage history and the contacts involved in them."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin, utcnow
from rapport.tenants import records

DEAL_STATUSES = ("open", "won", "lost")


class Deal(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "deals"

    name: Mapped[str] = mapped_column(String(200), index=True)
    company_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 2))
    currency: Mapped[str] = mapped_column(String(3))
    expected_close_date: Mapped[dt.date | None]
    owner_id: Mapped[uuid.UUID | None]  # a user id from the control plane (no cross-plane FK)
    # RESTRICT: a pipeline or stage that still holds deals cannot disappear under them.
    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipelines.id", ondelete="RESTRICT"), index=True
    )
    stage_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("stages.id", ondelete="RESTRICT"), index=True
    )
    #: Order of the card within its column on the board.
    position: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(10), default="open")
    lost_reason: Mapped[str | None] = mapped_column(String(300))
    closed_at: Mapped[dt.datetime | None]
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DealStageChange(IdMixin, TenantBase):
    """One move of a deal between stages (the first row: the stage it was created in)."""

    __tablename__ = "deal_stage_changes"

    deal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), index=True
    )
    from_stage_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stages.id", ondelete="SET NULL")
    )
    to_stage_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("stages.id", ondelete="SET NULL")
    )
    changed_by: Mapped[uuid.UUID | None]  # the user, when a person moved it
    # Who moved it as shown to people (email, API key name), kept so the history reads without
    # reaching into the control plane.
    changed_by_label: Mapped[str | None] = mapped_column(String(320))
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DealContact(IdMixin, TenantBase):
    """A contact involved in a deal, with their role in it (decision maker, champion, ...)."""

    __tablename__ = "deal_contacts"
    __table_args__ = (UniqueConstraint("deal_id", "contact_id"),)

    deal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deals.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(100))


records.register(
    Deal,
    "deals",
    label="Deals",
    singular="deal",
    components=("Deal", "DealInput"),
    picked={"lost_reason": "loss_reason"},
)
