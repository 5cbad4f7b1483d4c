"""Tables of leads (in each tenant's schema): leads and the workspace's public capture form."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin
from rapport.tenants import records


class Lead(IdMixin, TimestampMixin, TenantBase):
    """A prospect not yet qualified: a person, a company, or both, before they become records."""

    __tablename__ = "leads"

    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100), index=True)
    company_name: Mapped[str | None] = mapped_column(String(200), index=True)
    title: Mapped[str | None] = mapped_column(String(150))
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    website: Mapped[str | None] = mapped_column(String(300))
    industry: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str | None] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    rating: Mapped[str | None] = mapped_column(String(10))
    description: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(index=True)  # control-plane user id
    team_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("teams.id", ondelete="SET NULL"), index=True
    )
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    converted_at: Mapped[dt.datetime | None]
    converted_company_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL")
    )
    converted_contact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL")
    )
    converted_deal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deals.id", ondelete="SET NULL")
    )


class LeadForm(IdMixin, TimestampMixin, TenantBase):
    """The workspace's public capture form (one row): on or off, and where it may send people."""

    __tablename__ = "lead_forms"

    enabled: Mapped[bool] = mapped_column(default=True)
    # Addresses a submission may be sent back to (``return_to``): exact origins or URL prefixes.
    allowed_return_urls: Mapped[list[str]] = mapped_column(JSON, default=list)
    thank_you: Mapped[str | None] = mapped_column(Text)


records.register(
    Lead,
    "leads",
    label="Leads",
    singular="lead",
    components=("Lead", "LeadInput"),
    module="leads",
    picked={"status": "lead_status", "source": "lead_source", "industry": "industry"},
)
