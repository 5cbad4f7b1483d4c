"""Companies (accounts): their hierarchy, address, classification and account team."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin
from rapport.tenants import records

#: Employee bands, smallest first (the stored value is the band's key).
SIZES = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001+")
#: Account classification: A accounts get the most attention.
CLASSIFICATIONS = ("A", "B", "C")
#: How the company prefers to be reached.
CHANNELS = ("email", "phone", "meeting", "post")


class Company(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "companies"

    name: Mapped[str] = mapped_column(String(200), index=True)
    website: Mapped[str | None] = mapped_column(String(300))
    # Added by tenant migration 0002 (column + index), the first migration after the baseline.
    domain: Mapped[str | None] = mapped_column(String(255), index=True)
    industry: Mapped[str | None] = mapped_column(String(100))
    size: Mapped[str | None] = mapped_column(String(20))
    classification: Mapped[str | None] = mapped_column(String(1), index=True)
    # The parent company; deleting it leaves its subsidiaries as top-level companies (the
    # service does that explicitly; the foreign key below is PostgreSQL's guard).
    parent_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    street: Mapped[str | None] = mapped_column(String(200))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    country: Mapped[str | None] = mapped_column(String(2))
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    do_not_email: Mapped[bool] = mapped_column(default=False, server_default=false())
    do_not_call: Mapped[bool] = mapped_column(default=False, server_default=false())
    notes: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None]  # a user id from the control plane (no cross-plane FK)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# The list's default order (rapport.tenants.filtering.sort_key: lower(name), then id), so keyset
# paging reads a page from the index instead of sorting the whole table.
Index("ix_companies_lower_name_id", func.lower(Company.name), Company.id)
# On PostgreSQL only: SQLite cannot add or drop a constraint on an existing table, so tenants
# migrated there could never match tenants created from these models, nor go back a revision.
Company.__table__.append_constraint(
    ForeignKeyConstraint(
        ["parent_id"],
        ["companies.id"],
        name="fk_companies_parent_id_companies",
        ondelete="SET NULL",
    ).ddl_if(dialect="postgresql")
)


class CompanyTeamMember(IdMixin, TimestampMixin, TenantBase):
    """A member of the account team besides the owner (the account manager)."""

    __tablename__ = "company_team_members"
    __table_args__ = (UniqueConstraint("company_id", "user_id"),)

    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)  # control-plane user id
    role: Mapped[str | None] = mapped_column(String(100))


records.register(
    Company,
    "companies",
    label="Companies",
    singular="company",
    components=("Company", "CompanyInput"),
    module="core",
    picked={"industry": "industry"},
)
