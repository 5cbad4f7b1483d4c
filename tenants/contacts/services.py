"""Contact operations: validate through the schema, change, audit in the same transaction, flush.

They never commit: the boundary (request, job, CLI) does, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, object_session

from rapport.platform.audit import chain as audit
from rapport.platform.errors import ValidationFailed
from rapport.tenants import events
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.schemas import load
from rapport.tenants.companies.services import check_owner
from rapport.tenants.contacts.models import Contact, ContactCompany, ContactEmail, ContactPhone
from rapport.tenants.contacts.queries import get_contact
from rapport.tenants.contacts.schemas import CONTACT_FIELDS, ContactSchema
from rapport.tenants.fields import services as custom_fields

#: (list key, the primary column on Contact and on the row, the row model)
_LISTS = (("emails", "email", ContactEmail), ("phones", "phone", ContactPhone))


def _rows(session: Session, model: Any, contact_id: uuid.UUID) -> list[Any]:
    return list(
        session.scalars(
            select(model)
            .where(model.contact_id == contact_id)
            .order_by(model.is_primary.desc(), model.position, model.id)
        )
    )


def snapshot(contact: Contact) -> dict[str, Any]:
    """The audited fields of a contact, as a plain dict."""
    # A blank first name is stored as "" (NOT NULL) but audited as absent, like other blanks.
    values = {name: getattr(contact, name) or None for name in CONTACT_FIELDS}
    values["do_not_call"] = bool(contact.do_not_call)
    values["do_not_email"] = bool(contact.do_not_email)
    session = object_session(contact)
    if session is not None and contact.id is not None:
        for key, column, model in _LISTS:
            rows = _rows(session, model, contact.id)
            # Only the further values: the primary one is audited as email / phone already.
            others = [_item_text(getattr(r, column), r.label) for r in rows if not r.is_primary]
            values[f"other_{key}"] = others or None
        links = session.execute(
            select(Company.name, ContactCompany.role)
            .join(Company, Company.id == ContactCompany.company_id)
            .where(ContactCompany.contact_id == contact.id)
            .order_by(Company.name)
        ).all()
        values["other_companies"] = [_item_text(n, r) for n, r in links] or None
    return {**values, **custom_fields.custom_snapshot(contact.custom)}


def _item_text(value: str, label: str | None) -> str:
    return f"{value} ({label})" if label else value


def _sync_lists(session: Session, contact: Contact, values: dict[str, Any], lists: dict) -> None:
    """Keep the email / phone rows and the primary columns one value."""
    for key, column, model in _LISTS:
        items = lists.get(key)
        if items is not None:
            session.execute(delete(model).where(model.contact_id == contact.id))
            for position, item in enumerate(items):
                session.add(
                    model(
                        contact_id=contact.id,
                        **{column: item[column]},
                        label=item.get("label"),
                        is_primary=bool(item.get("is_primary")),
                        position=position,
                    )
                )
            continue
        if column not in values:
            continue
        wanted = values[column]
        rows = _rows(session, model, contact.id)
        primary = next((r for r in rows if r.is_primary), None)
        if wanted is None:
            if primary is not None:
                session.delete(primary)
                rows.remove(primary)
            if rows:
                # Another value remains: it becomes the primary one rather than vanish.
                rows[0].is_primary = True
                setattr(contact, column, getattr(rows[0], column))
            continue
        twin = next(
            (r for r in rows if r is not primary and str(getattr(r, column)).lower() ==
             str(wanted).lower()),
            None,
        )  # fmt: skip
        if twin is not None:
            session.delete(twin)
        if primary is None:
            session.add(model(contact_id=contact.id, **{column: wanted}, is_primary=True))
        else:
            setattr(primary, column, wanted)
    links = lists.get("companies")
    if links is not None:
        session.execute(delete(ContactCompany).where(ContactCompany.contact_id == contact.id))
        for link in links:
            session.add(
                ContactCompany(
                    contact_id=contact.id, company_id=link["company_id"], role=link.get("role")
                )
            )
    session.flush()


def _check_links(session: Session, values: dict[str, Any], lists: dict) -> None:
    links = lists.get("companies") or []
    ids = {link["company_id"] for link in links}
    found = set(session.scalars(select(Company.id).where(Company.id.in_(ids)))) if ids else set()
    errors: dict[str, list[str]] = {}
    for index, link in enumerate(links):
        if link["company_id"] not in found:
            errors[f"companies.{index}.company_id"] = ["Choose a company from the list."]
        elif link["company_id"] == values.get("company_id"):
            errors[f"companies.{index}.company_id"] = ["This is the contact's main company."]
    if errors:
        raise ValidationFailed(errors)


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


def _split(values: dict[str, Any]) -> dict[str, Any]:
    """Take the lists out of the column values."""
    return {key: values.pop(key) for key in ("emails", "phones", "companies") if key in values}


def create_contact(session: Session, data: Mapping[str, Any]) -> Contact:
    """Create a contact from input; raise ValidationFailed naming the bad fields."""
    values, custom = _load(session, data)
    lists = _split(values)
    _check_links(session, values, lists)
    check_owner(session, values)
    contact = Contact(**values, custom=custom or {})
    session.add(contact)
    custom_fields.flush_unique(session, "contacts", contact)
    _sync_lists(session, contact, values, lists)
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
    lists = _split(values)
    _check_links(session, {"company_id": contact.company_id, **values}, lists)
    check_owner(session, values, contact.owner_id)
    # As custom_fields.apply_changes does, with the email / phone / company lists in between.
    before = snapshot(contact)
    custom_fields.assign(session, contact, values, custom, record_type="contacts")
    _sync_lists(session, contact, values, lists)
    changes = audit.diff(before, snapshot(contact))
    if changes:
        custom_fields.flush_unique(session, "contacts", contact)
        audit.record(session, "contact.updated", "contact", contact.id, changes)
        data = {**snapshot(contact), "changes": changes}
        events.emit(session, "contact.updated", "contacts", contact.id, data)
    return contact


def delete_contact(session: Session, contact_id: uuid.UUID | str) -> None:
    """Delete a contact."""
    contact = get_contact(session, contact_id)
    before = snapshot(contact)
    # Explicit, so the outcome does not depend on the backend's foreign-key enforcement.
    for model in (ContactEmail, ContactPhone, ContactCompany):
        session.execute(delete(model).where(model.contact_id == contact.id))
    session.delete(contact)
    session.flush()
    audit.record(session, "contact.deleted", "contact", contact.id, audit.diff(before, {}))
    events.emit(session, "contact.deleted", "contacts", contact.id, before)
