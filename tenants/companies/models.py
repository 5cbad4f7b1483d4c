"""Companies (accounts)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin
from rapport.tenants import records


class Company(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "companies"

    name: Mapped[str] = mapped_column(String(200), index=True)
    website: Mapped[str | None] = mapped_column(String(300))
    # Added by tenant migration 0002 (column + index), the first migration after the baseline.
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(50))
    city: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    notes: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None]  # a user id from the control plane (no cross-plane FK)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


records.register(
    Company,
    "companies",
    label="Companies",
    singular="company",
    components=("Company", "CompanyInput"),
)
