"""Outbox rows: side effects written in the same transaction as the change that causes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import ControlBase, IdMixin, TenantBase, utcnow


class _OutboxColumns(IdMixin):
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    queue: Mapped[str] = mapped_column(String(40))
    job: Mapped[str] = mapped_column(String(120))  # registered job name
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Identity of the business event: the same event never runs its effect twice.
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(index=True)
    done_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class OutboxEntry(_OutboxColumns, TenantBase):
    __tablename__ = "outbox"


class ControlOutboxEntry(_OutboxColumns, ControlBase):
    __tablename__ = "outbox"
