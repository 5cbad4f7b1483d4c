"""Pipelines and their stages."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin

#: What reaching a stage means for a deal: still open, won, or lost.
STAGE_KINDS = ("open", "won", "lost")


class Pipeline(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    archived_at: Mapped[dt.datetime | None]


class Stage(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "stages"
    __table_args__ = (
        CheckConstraint("probability >= 0 AND probability <= 100", name="probability_range"),
        # Kinds are a fixed vocabulary the code branches on, not tenant-editable options.
        CheckConstraint("kind IN ('open', 'won', 'lost')", name="kind_known"),
    )

    pipeline_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    probability: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(String(10), default="open")
    archived_at: Mapped[dt.datetime | None]
