"""Company operations: validate through the schema, change, audit in the same transaction, flush.

They never commit: the boundary (request, job, CLI) does, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.tenants import events
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.queries import get_company
from rapport.tenants.companies.schemas import COMPANY_FIELDS, CompanySchema, load
from rapport.tenants.contacts.models import Contact
from rapport.tenants.fields import services as custom_fields


def snapshot(company: Company) -> dict[str, Any]:
    """The audited fields of a company, as a plain dict."""
    values = {name: getattr(company, name) for name in COMPANY_FIELDS}
    return {**values, **custom_fields.custom_snapshot(company.custom)}


def create_company(session: Session, data: Mapping[str, Any]) -> Company:
    """Create a company from input; raise ValidationFailed naming the bad fields."""
    values, custom = custom_fields.load_with_custom(
        session, "companies", lambda rest: load(CompanySchema(), rest), data
    )
    company = Company(**values, custom=custom or {})
    session.add(company)
    custom_fields.flush_unique(session, "companies", company)
    audit.record(
        session, "company.created", "company", company.id, audit.diff({}, snapshot(company))
    )
    events.emit(session, "company.created", "companies", company.id, snapshot(company))
    return company


def update_company(
    session: Session, company_id: uuid.UUID | str, data: Mapping[str, Any], *, partial: bool = False
) -> Company:
    """Change a company; one audit entry with the changed fields, none if nothing changed."""
    company = get_company(session, company_id)
    values, custom = custom_fields.load_with_custom(
        session,
        "companies",
        lambda rest: load(CompanySchema(), rest, partial=partial),
        data,
        existing=dict(company.custom or {}),
        partial=partial,
    )
    custom_fields.apply_changes(
        session, company, values, custom, record_type="companies", snapshot=snapshot,
        action="company.updated", target_type="company",
    )  # fmt: skip
    return company


def delete_company(session: Session, company_id: uuid.UUID | str) -> int:
    """Delete a company and keep its contacts, without a company; return how many were kept."""
    company = get_company(session, company_id)
    before = snapshot(company)
    # Explicit rather than left to ON DELETE SET NULL, so the outcome does not depend on the
    # backend's foreign-key enforcement, and the count can be reported.
    result = session.execute(
        update(Contact)
        .where(Contact.company_id == company.id)
        .values(company_id=None)
        .execution_options(synchronize_session="fetch")
    )
    kept = result.rowcount or 0
    session.delete(company)
    session.flush()
    note = f"{kept} contact(s) kept without a company" if kept else None
    audit.record(
        session, "company.deleted", "company", company.id, audit.diff(before, {}), note=note
    )
    events.emit(session, "company.deleted", "companies", company.id, before)
    return kept
