"""Contacts: people, usually at a company, with their addresses, numbers and preferences."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    func,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin
from rapport.tenants import records


class Contact(IdMixin, TimestampMixin, TenantBase):
    __tablename__ = "contacts"

    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100), index=True)
    #: The primary address and number, kept equal to the ``is_primary`` rows of
    #: ContactEmail / ContactPhone by the services, so code reading one value keeps working.
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    title: Mapped[str | None] = mapped_column(String(150))
    department: Mapped[str | None] = mapped_column(String(150))
    company_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("companies.id", ondelete="SET NULL"), index=True
    )
    #: The person asked not to be called / emailed: every feature that contacts people checks
    #: ``rapport.tenants.contacts.queries.can_call`` / ``can_email``.
    do_not_call: Mapped[bool] = mapped_column(default=False, server_default=false())
    do_not_email: Mapped[bool] = mapped_column(default=False, server_default=false())
    owner_id: Mapped[uuid.UUID | None]
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def directory_name(last_name: Any, first_name: Any) -> Any:
    """``lower(coalesce(last, '') || ' ' || coalesce(first, ''))``: how the list orders people.

    rapport.tenants.filtering.sort_key builds the same text for the "name" sort; constants are
    literals so that the query's expression and the index's read alike on both backends.
    """
    empty, space = literal_column("''", String()), literal_column("' '", String())
    last = func.coalesce(last_name, empty, type_=String())
    first = func.coalesce(first_name, empty, type_=String())
    joined = last.op("||", return_type=String())(space).op("||", return_type=String())(first)
    return func.lower(joined, type_=String())


# The list's default order (name, then id), so keyset paging reads a page from the index
# instead of sorting every contact of the tenant on each request.
Index("ix_contacts_sort_name_id", directory_name(Contact.last_name, Contact.first_name), Contact.id)


class ContactEmail(IdMixin, TenantBase):
    """One of a contact's email addresses (exactly one is primary when there are any)."""

    __tablename__ = "contact_emails"
    __table_args__ = (UniqueConstraint("contact_id", "email"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(320), index=True)
    label: Mapped[str | None] = mapped_column(String(50))  # work, private, ...
    is_primary: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)


class ContactPhone(IdMixin, TenantBase):
    """One of a contact's phone numbers (exactly one is primary when there are any)."""

    __tablename__ = "contact_phones"

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    phone: Mapped[str] = mapped_column(String(50))
    label: Mapped[str | None] = mapped_column(String(50))  # work, mobile, home, ...
    is_primary: Mapped[bool] = mapped_column(default=False)
    position: Mapped[int] = mapped_column(default=0)


class ContactCompany(IdMixin, TenantBase):
    """A further company a contact works with (board seat, consultant...), besides company_id."""

    __tablename__ = "contact_companies"
    __table_args__ = (UniqueConstraint("contact_id", "company_id"),)

    contact_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    company_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("companies.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str | None] = mapped_column(String(100))


records.register(
    Contact,
    "contacts",
    label="Contacts",
    singular="contact",
    components=("Contact", "ContactInput"),
    module="core",
)
