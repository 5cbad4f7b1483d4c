"""Saved list views: a person's filters, sort and columns for one record type, kept for
themselves or shared with everyone in the workspace."""

from __future__ import annotations

import uuid

from sqlalchemy import JSON, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin


class SavedView(IdMixin, TimestampMixin, TenantBase):
    """One saved view: its user's, and everybody's when shared (only its user changes or deletes
    it; at most one default per user and record type)."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("user_id", "record_type", "name"),)

    user_id: Mapped[uuid.UUID] = mapped_column(index=True)  # control-plane user id
    record_type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    #: [[field, op, value], ...] as raw strings, parsed again (and checked) on every use.
    filters: Mapped[list[list[str]]] = mapped_column(JSON, default=list)
    sort: Mapped[str | None] = mapped_column(String(60))
    columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_default: Mapped[bool] = mapped_column(default=False)
    #: Everyone in the workspace sees it (each through their own role's fields and records).
    shared: Mapped[bool] = mapped_column(default=False, server_default=false())
