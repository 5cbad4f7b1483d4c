"""Contacts: people, usually at a company."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin
from rapport.tenants import records


class Contact(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "contacts"

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(150))
    company_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[uuid.UUID | None]
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


records.register(
    Contact,
    "contacts",
    label="Contacts",
    singular="contact",
    components=("Contact", "ContactInput"),
)
