"""Custom field definitions: metadata rows in the tenant schema (values live in ``custom``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin


class FieldDefinition(IdMixin, TimestampMixin, TenantBase):
    """One custom field of a record type."""

    __tablename__ = "field_definitions"
    # An api_name stays taken while the field exists (archived included): its data exists.
    __table_args__ = (UniqueConstraint("record_type", "api_name"),)

    record_type: Mapped[str] = mapped_column(String(20))
    api_name: Mapped[str] = mapped_column(String(40))
    label: Mapped[str] = mapped_column(String(100))
    help_text: Mapped[str | None] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(20))
    required: Mapped[bool] = mapped_column(default=False)
    unique: Mapped[bool] = mapped_column(default=False)
    filterable: Mapped[bool] = mapped_column(default=False)
    default: Mapped[Any | None] = mapped_column(JSON)
    min_value: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    max_value: Mapped[Decimal | None] = mapped_column(Numeric(24, 6))
    min_length: Mapped[int | None]
    max_length: Mapped[int | None]
    pattern: Mapped[str | None] = mapped_column(String(200))
    #: For selects: [{"value", "label", "colour", "retired"}], in display order.
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    section: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    archived_at: Mapped[dt.datetime | None]
    #: Computed fields and lookups only. Formula: {"expression", "result_type", "currency"};
    #: roll-up: {"related", "link", "aggregate", "field", "filter_field", "filter_value"};
    #: record lookup: {"target"} (the record type its values point at).
    config: Mapped[dict[str, Any] | None] = mapped_column(JSON)
