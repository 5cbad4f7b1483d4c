"""Contact operations: validate through the schema, change, audit in the same transaction, flush.

They never commit: the boundary (request, job, CLI) does, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.errors import ValidationFailed
from rapport.tenants import events
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.schemas import load
from rapport.tenants.contacts.models import Contact
from rapport.tenants.contacts.queries import get_contact
from rapport.tenants.contacts.schemas import CONTACT_FIELDS, ContactSchema
from rapport.tenants.fields import services as custom_fields


def snapshot(contact: Contact) -> dict[str, Any]:
    """The audited fields of a contact, as a plain dict."""
    # A blank first name is stored as "" (NOT NULL) but audited as absent, like other blanks.
    values = {name: getattr(contact, name) or None for name in CONTACT_FIELDS}
    return {**values, **custom_fields.custom_snapshot(contact.custom)}


def _load(
    session: Session,
    data: Mapping[str, Any],
    *,
    partial: bool = False,
    existing: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    values, custom = custom_fields.load_with_custom(
        session,
        "contacts",
        lambda rest: load(ContactSchema(), rest, partial=partial),
        data,
        existing=existing,
        partial=partial,
    )
    company_id = values.get("company_id")
    # The id must name a company of this tenant; the tenant's schema holds no other.
    if company_id is not None and session.get(Company, company_id) is None:
        raise ValidationFailed({"company_id": ["Choose a company from the list."]})
    if "first_name" in values and values["first_name"] is None:
        values["first_name"] = ""  # the column is NOT NULL; a blank first name is allowed
    return values, custom


def create_contact(session: Session, data: Mapping[str, Any]) -> Contact:
    """Create a contact from input; raise ValidationFailed naming the bad fields."""
    values, custom = _load(session, data)
    contact = Contact(**values, custom=custom or {})
    session.add(contact)
    custom_fields.flush_unique(session, "contacts", contact)
    audit.record(
        session, "contact.created", "contact", contact.id, audit.diff({}, snapshot(contact))
    )
    events.emit(session, "contact.created", "contacts", contact.id, snapshot(contact))
    return contact


def update_contact(
    session: Session, contact_id: uuid.UUID | str, data: Mapping[str, Any], *, partial: bool = False
) -> Contact:
    """Change a contact; one audit entry with the changed fields, none if nothing changed."""
    contact = get_contact(session, contact_id)
    values, custom = _load(session, data, partial=partial, existing=dict(contact.custom or {}))
    custom_fields.apply_changes(
        session, contact, values, custom, record_type="contacts", snapshot=snapshot,
        action="contact.updated", target_type="contact",
    )  # fmt: skip
    return contact


def delete_contact(session: Session, contact_id: uuid.UUID | str) -> None:
    """Delete a contact."""
    contact = get_contact(session, contact_id)
    before = snapshot(contact)
    session.delete(contact)
    session.flush()
    audit.record(session, "contact.deleted", "contact", contact.id, audit.diff(before, {}))
    events.emit(session, "contact.deleted", "contacts", contact.id, before)
