"""Picklist options: one row per option of every list a user picks from, in the tenant schema."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin


class PicklistOption(IdMixin, TimestampMixin, TenantBase):
    """One option of one list (``lead_status``, ``industry``…); records store its ``value``."""

    __tablename__ = "picklist_options"
    # A value stays taken while the option exists (retired included): records may hold it.
    __table_args__ = (UniqueConstraint("list_key", "value"),)

    list_key: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    colour: Mapped[str | None] = mapped_column(String(7))
    #: What the code reads into the option where it branches on it (lead statuses: open,
    #: qualified, disqualified, converted; activity types: visit); None elsewhere.
    meaning: Mapped[str | None] = mapped_column(String(20))
    retired_at: Mapped[dt.datetime | None]
