"""Reading companies: the list (search, sort, keyset paging), one company, its history."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, String, func, or_, select
from sqlalchemy.orm import Session

from rapport.platform.audit.models import AuditEntry
from rapport.platform.db import get_or_not_found
from rapport.tenants.companies.models import Company, CompanyTeamMember
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.contacts.models import Contact, ContactCompany
from rapport.tenants.fields.filters import filter_clause
from rapport.tenants.paging import DEFAULT_LIMIT, Page, SortOption, keyset_page

SORTS = ("name", "created", "updated")
DEFAULT_SORT = "name"


def _sort_key(sort: SortOption) -> ColumnElement[Any]:
    if sort.key == "created":
        return Company.created_at
    if sort.key == "updated":
        return Company.updated_at
    return func.lower(Company.name, type_=String())


def search_filter(q: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on the name, domain and city; wildcards are literal."""
    return or_(
        Company.name.icontains(q, autoescape=True),
        Company.domain.icontains(q, autoescape=True),
        Company.city.icontains(q, autoescape=True),
    )


def list_companies(
    session: Session,
    *,
    q: str | None = None,
    sort: str | None = None,
    cursor: str | None = None,
    custom: Mapping[str, str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[Page[Company], SortOption]:
    """One page of companies; ``page.extras`` maps each company id to its number of contacts."""
    order = SortOption.parse(sort, SORTS, DEFAULT_SORT)
    stmt = select(Company)
    for api_name, value in (custom or {}).items():
        # Filterable custom fields: an expression index in the tenant's schema serves this.
        stmt = stmt.where(filter_clause(session, "companies", api_name, value))
    q = plain_text(q or "").strip()
    if q:
        stmt = stmt.where(search_filter(q))
    page = keyset_page(
        session,
        stmt,
        key=_sort_key(order),
        id_col=Company.id,
        sort=order,
        cursor=cursor,
        limit=limit,
    )
    ids = [c.id for c in page.items]
    if ids:
        counts = session.execute(
            select(Contact.company_id, func.count())
            .where(Contact.company_id.in_(ids))
            .group_by(Contact.company_id)
        ).all()
        page.extras = {company_id: n for company_id, n in counts}
    return page, order


def get_company(session: Session, company_id: uuid.UUID | str) -> Company:
    """The company with this id, or NotFound."""
    return get_or_not_found(session, Company, company_id, "company")


def company_contacts(session: Session, company_id: uuid.UUID, limit: int = 200) -> list[Contact]:
    """The company's contacts, by name."""
    return list(
        session.scalars(
            select(Contact)
            .where(Contact.company_id == company_id)
            .order_by(func.lower(Contact.last_name), func.lower(Contact.first_name), Contact.id)
            .limit(limit)
        )
    )


def parent_of(session: Session, company: Company) -> Company | None:
    return session.get(Company, company.parent_id) if company.parent_id else None


def ancestors(session: Session, company: Company, limit: int = 20) -> list[Company]:
    """The company's parent, its parent and so on up to the top, nearest first."""
    out: list[Company] = []
    seen = {company.id}
    current = company
    while current.parent_id is not None and current.parent_id not in seen and len(out) < limit:
        parent = session.get(Company, current.parent_id)
        if parent is None:
            break
        out.append(parent)
        seen.add(parent.id)
        current = parent
    return out


def children(session: Session, company_id: uuid.UUID, limit: int = 200) -> list[Company]:
    """The companies directly below this one, by name."""
    return list(
        session.scalars(
            select(Company)
            .where(Company.parent_id == company_id)
            .order_by(func.lower(Company.name), Company.id)
            .limit(limit)
        )
    )


def team(session: Session, company_id: uuid.UUID) -> list[CompanyTeamMember]:
    """The account team besides the owner, in the order they joined."""
    return list(
        session.scalars(
            select(CompanyTeamMember)
            .where(CompanyTeamMember.company_id == company_id)
            .order_by(CompanyTeamMember.created_at, CompanyTeamMember.id)
        )
    )


def linked_contacts(
    session: Session, company_id: uuid.UUID, limit: int = 200
) -> list[tuple[Contact, str | None]]:
    """Contacts of other companies linked to this one too, with their role here."""
    rows = session.execute(
        select(Contact, ContactCompany.role)
        .join(ContactCompany, ContactCompany.contact_id == Contact.id)
        .where(ContactCompany.company_id == company_id)
        .order_by(func.lower(Contact.last_name), func.lower(Contact.first_name), Contact.id)
        .limit(limit)
    ).all()
    return [(contact, role) for contact, role in rows]


def count_contacts(session: Session, company_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).where(Contact.company_id == company_id)) or 0


def company_choices(session: Session, limit: int = 1000) -> list[tuple[uuid.UUID, str]]:
    """(id, name) pairs for a company picker, by name."""
    rows = session.execute(
        select(Company.id, Company.name).order_by(func.lower(Company.name), Company.id).limit(limit)
    ).all()
    return [(row.id, row.name) for row in rows]


def record_history(
    session: Session, target_type: str, target_id: uuid.UUID, limit: int = 100
) -> list[AuditEntry]:
    """The audit entries about one record, newest first."""
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_type == target_type, AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.seq.desc())
            .limit(limit)
        )
    )


def company_history(session: Session, company_id: uuid.UUID, limit: int = 100) -> list[AuditEntry]:
    """Who changed this company, what and when, newest first."""
    return record_history(session, "company", company_id, limit)
