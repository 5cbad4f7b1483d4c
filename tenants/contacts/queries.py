"""Reading contacts: the list (search, sort, keyset paging), one contact, its history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, String, func, or_, select
from sqlalchemy.orm import Session

from rapport.platform.audit.models import AuditEntry
from rapport.platform.db import get_or_not_found
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.queries import record_history
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.contacts.models import Contact, ContactCompany, ContactEmail, ContactPhone
from rapport.tenants.fields.filters import filter_clause
from rapport.tenants.paging import DEFAULT_LIMIT, Page, SortOption, keyset_page

SORTS = ("name", "created", "updated")
DEFAULT_SORT = "name"


def full_name(contact: Contact) -> str:
    return " ".join(part for part in (contact.first_name, contact.last_name) if part)


def _sort_key(sort: SortOption) -> ColumnElement[Any]:
    if sort.key == "created":
        return Contact.created_at
    if sort.key == "updated":
        return Contact.updated_at
    # By last name, then first name, as a directory is read.
    return func.lower(Contact.last_name + " " + Contact.first_name, type_=String())


def search_filter(q: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on the name (either order) and email; wildcards literal."""
    return or_(
        (Contact.first_name + " " + Contact.last_name).icontains(q, autoescape=True),
        (Contact.last_name + " " + Contact.first_name).icontains(q, autoescape=True),
        Contact.email.icontains(q, autoescape=True),
    )


def list_contacts(
    session: Session,
    *,
    q: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
    company_id: uuid.UUID | None = None,
    custom: Mapping[str, str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[Page[tuple[Contact, str | None]], SortOption]:
    """One page of (contact, company name) pairs."""
    order = SortOption.parse(sort, SORTS, DEFAULT_SORT)
    stmt = select(Contact, Company.name).outerjoin(Company, Company.id == Contact.company_id)
    for api_name, value in (custom or {}).items():
        # Filterable custom fields: an expression index in the tenant's schema serves this.
        stmt = stmt.where(filter_clause(session, "contacts", api_name, value))
    q = plain_text(q or "").strip()
    if q:
        stmt = stmt.where(search_filter(q))
    if company_id is not None:
        stmt = stmt.where(Contact.company_id == company_id)
    page = keyset_page(
        session,
        stmt,
        key=_sort_key(order),
        id_col=Contact.id,
        sort=order,
        cursor=cursor,
        limit=limit,
    )
    return page, order


def get_contact(session: Session, contact_id: uuid.UUID | str) -> Contact:
    """The contact with this id, or NotFound."""
    return get_or_not_found(session, Contact, contact_id, "contact")


def contact_company(session: Session, contact: Contact) -> Company | None:
    return session.get(Company, contact.company_id) if contact.company_id else None


def can_email(contact: Contact) -> bool:
    """Whether anyone or anything may email this person (the person did not say no).

    Every feature that emails people (campaigns, sequences, workflow emails, the mailto link)
    must ask this first; ``email`` being set is not permission.
    """
    return bool(contact.email) and not contact.do_not_email


def can_call(contact: Contact) -> bool:
    """Whether this person may be phoned (click-to-call, call lists, dialers ask this first)."""
    return bool(contact.phone) and not contact.do_not_call


def emails_of(session: Session, contact: Contact) -> list[ContactEmail]:
    """The contact's addresses, primary first (a contact saved before the list: its email)."""
    rows = list(
        session.scalars(
            select(ContactEmail)
            .where(ContactEmail.contact_id == contact.id)
            .order_by(ContactEmail.is_primary.desc(), ContactEmail.position, ContactEmail.id)
        )
    )
    if not rows and contact.email:
        rows = [ContactEmail(contact_id=contact.id, email=contact.email, is_primary=True)]
    return rows


def phones_of(session: Session, contact: Contact) -> list[ContactPhone]:
    """The contact's numbers, primary first (a contact saved before the list: its phone)."""
    rows = list(
        session.scalars(
            select(ContactPhone)
            .where(ContactPhone.contact_id == contact.id)
            .order_by(ContactPhone.is_primary.desc(), ContactPhone.position, ContactPhone.id)
        )
    )
    if not rows and contact.phone:
        rows = [ContactPhone(contact_id=contact.id, phone=contact.phone, is_primary=True)]
    return rows


def lists_of(
    session: Session, contacts: list[Contact]
) -> dict[
    uuid.UUID, tuple[list[ContactEmail], list[ContactPhone], list[tuple[uuid.UUID, str | None]]]
]:
    """For each contact: its emails and phones (primary first) and further (company id, role)."""
    ids = [c.id for c in contacts]
    out: dict[Any, Any] = {c.id: ([], [], []) for c in contacts}
    if not ids:
        return out
    for model, index in ((ContactEmail, 0), (ContactPhone, 1)):
        rows = session.scalars(
            select(model)
            .where(model.contact_id.in_(ids))
            .order_by(model.contact_id, model.is_primary.desc(), model.position, model.id)
        )
        for row in rows:
            out[row.contact_id][index].append(row)
    links = session.execute(
        select(ContactCompany.contact_id, ContactCompany.company_id, ContactCompany.role)
        .where(ContactCompany.contact_id.in_(ids))
        .order_by(ContactCompany.contact_id, ContactCompany.id)
    )
    for contact_id, company_id, role in links:
        out[contact_id][2].append((company_id, role))
    for contact in contacts:
        emails, phones, _links = out[contact.id]
        # A contact saved before the lists existed: its one email / phone is the list.
        if not emails and contact.email:
            emails.append(ContactEmail(contact_id=contact.id, email=contact.email, is_primary=True))
        if not phones and contact.phone:
            phones.append(ContactPhone(contact_id=contact.id, phone=contact.phone, is_primary=True))
    return out


def other_companies(session: Session, contact_id: uuid.UUID) -> list[tuple[Company, str | None]]:
    """The further companies a contact is linked to, with the role there, by name."""
    rows = session.execute(
        select(Company, ContactCompany.role)
        .join(ContactCompany, ContactCompany.company_id == Company.id)
        .where(ContactCompany.contact_id == contact_id)
        .order_by(func.lower(Company.name), Company.id)
    ).all()
    return [(company, role) for company, role in rows]


def contact_history(session: Session, contact_id: uuid.UUID, limit: int = 100) -> list[AuditEntry]:
    """Who changed this contact, what and when, newest first."""
    return record_history(session, "contact", contact_id, limit)


def company_names_in(session: Session, entries: list[AuditEntry]) -> dict[str, str]:
    """Names for the company ids a contact's history mentions; gone ones say so."""
    ids: set[str] = set()
    for entry in entries:
        for value in (entry.changes or {}).get("company_id", []):
            if value:
                ids.add(value)
    keys = []
    for raw in ids:
        try:
            keys.append(uuid.UUID(raw))
        except ValueError:
            continue
    found = {}
    if keys:
        rows = session.execute(select(Company.id, Company.name).where(Company.id.in_(keys))).all()
        found = {str(row.id): row.name for row in rows}
    return {raw: found.get(raw, "a deleted company") for raw in ids}
