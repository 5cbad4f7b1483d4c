"""Company operations: validate through the schema, change, audit in the same transaction, flush.

They never commit: the boundary (request, job, CLI) does, once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import db
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.identity.models import Membership
from rapport.tenants import events, records
from rapport.tenants.companies.models import Company, CompanyTeamMember
from rapport.tenants.companies.queries import get_company
from rapport.tenants.companies.schemas import (
    COMPANY_FIELDS,
    CompanySchema,
    TeamMemberSchema,
    load,
)
from rapport.tenants.contacts.models import Contact, ContactCompany
from rapport.tenants.fields import services as custom_fields
from rapport.tenants.picklists import services as picklists
from rapport.tenants.roles import access
from rapport.tenants.teams import services as routing
from rapport.tenants.teams.queries import Place

events.declare("company.team_changed", "Someone joined or left a company's account team.")
#: How deep a hierarchy may go: deep enough for any real group, short enough to walk quickly.
MAX_DEPTH = 20


def is_member(session: Session, user_id: uuid.UUID) -> bool:
    """Whether the user is an active member of the session's tenant (the control plane knows)."""
    tenant_id = session.info["tenant"].id
    found = db.session.scalar(
        select(Membership.id).where(
            Membership.tenant_id == tenant_id,
            Membership.user_id == user_id,
            Membership.active.is_(True),
        )
    )
    return found is not None


def check_owner(session: Session, values: Mapping[str, Any], current: Any = None) -> None:
    """Refuse an owner who is not a member (an unchanged owner who left may stay)."""
    owner = values.get("owner_id")
    if owner is not None and owner != current and not is_member(session, owner):
        raise ValidationFailed({"owner_id": ["Choose an owner from the list."]})


def _check_parent(session: Session, company_id: uuid.UUID | None, parent_id: Any) -> None:
    """The parent must be a company of this tenant that is not the company or below it."""
    if parent_id is None:
        return
    if parent_id == company_id:
        raise ValidationFailed({"parent_id": ["A company cannot be its own parent."]})
    seen: set[uuid.UUID] = set()
    current = parent_id
    for _ in range(MAX_DEPTH + 1):
        row = session.execute(select(Company.id, Company.parent_id).where(Company.id == current))
        found = row.first()
        if found is None:
            raise ValidationFailed({"parent_id": ["Choose a parent company from the list."]})
        if found.parent_id is None:
            return
        if found.parent_id == company_id or found.parent_id in seen:
            raise ValidationFailed(
                {"parent_id": ["That company belongs to this one: a group cannot own itself."]}
            )
        seen.add(found.parent_id)
        current = found.parent_id
    raise ValidationFailed({"parent_id": [f"A group may be at most {MAX_DEPTH} levels deep."]})


def snapshot(company: Company) -> dict[str, Any]:
    """The audited fields of a company, as a plain dict."""
    values = {name: getattr(company, name) for name in COMPANY_FIELDS}
    return {**values, **custom_fields.custom_snapshot(company.custom)}


#: Company field -> the picklist its value comes from.
PICKED = records.get("companies").picked


def create_company(session: Session, data: Mapping[str, Any]) -> Company:
    """Create a company from input; raise ValidationFailed naming the bad fields."""
    values, custom = custom_fields.load_with_custom(
        session,
        "companies",
        picklists.loader(session, lambda rest: load(CompanySchema(), rest), PICKED),
        data,
    )
    _check_parent(session, None, values.get("parent_id"))
    check_owner(session, values)
    territory = None
    if values.get("owner_id") is None:
        # Territories route companies like leads: the matching territory's team, in turn.
        place = Place(values.get("country"), values.get("region"), values.get("industry"))
        _team_id, values["owner_id"], territory = routing.route(session, place)
    company = Company(**values, custom=custom or {})
    session.add(company)
    custom_fields.flush_unique(session, "companies", company)
    audit.record(
        session,
        "company.created",
        "company",
        company.id,
        audit.diff({}, snapshot(company)),
        note=f"Owner from territory {territory.name}, round-robin"
        if territory and company.owner_id
        else None,
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
        picklists.loader(
            session, lambda rest: load(CompanySchema(), rest, partial=partial), PICKED, company
        ),
        data,
        existing=dict(company.custom or {}),
        partial=partial,
    )
    if "parent_id" in values:
        _check_parent(session, company.id, values["parent_id"])
    check_owner(session, values, company.owner_id)
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
    for model in (CompanyTeamMember, ContactCompany):
        session.execute(delete(model).where(model.company_id == company.id))
    session.execute(
        update(Company)
        .where(Company.parent_id == company.id)
        .values(parent_id=None)
        .execution_options(synchronize_session="fetch")
    )
    session.delete(company)
    session.flush()
    note = f"{kept} contact(s) kept without a company" if kept else None
    audit.record(
        session, "company.deleted", "company", company.id, audit.diff(before, {}), note=note
    )
    events.emit(session, "company.deleted", "companies", company.id, before)
    return kept


def _team_snapshot(session: Session, company_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(CompanyTeamMember)
        .where(CompanyTeamMember.company_id == company_id)
        .order_by(CompanyTeamMember.created_at, CompanyTeamMember.id)
    )
    return [{"user_id": str(r.user_id), "role": r.role} for r in rows]


def add_team_member(
    session: Session, company_id: uuid.UUID | str, data: Mapping[str, Any]
) -> CompanyTeamMember:
    """Put a member on the company's account team; Conflict if they are on it already."""
    company = get_company(session, company_id)
    access.require_may(session, company, "update")
    values = load(TeamMemberSchema(), data)
    if not is_member(session, values["user_id"]):
        raise ValidationFailed({"user_id": ["Choose a member from the list."]})
    taken = session.scalar(
        select(CompanyTeamMember.id).where(
            CompanyTeamMember.company_id == company.id,
            CompanyTeamMember.user_id == values["user_id"],
        )
    )
    if taken is not None:
        raise Conflict("This member is on the account team already.")
    before = _team_snapshot(session, company.id)
    member = CompanyTeamMember(company_id=company.id, **values)
    session.add(member)
    session.flush()
    after = _team_snapshot(session, company.id)
    audit.record(
        session, "company.team_changed", "company", company.id, audit.diff(
            {"team": before}, {"team": after}
        ),
    )  # fmt: skip
    events.emit(session, "company.team_changed", "companies", company.id, {"team": after})
    return member


def remove_team_member(
    session: Session, company_id: uuid.UUID | str, member_id: uuid.UUID | str
) -> None:
    """Take someone off the company's account team."""
    company = get_company(session, company_id)
    access.require_may(session, company, "update")
    member = session.get(CompanyTeamMember, uuid.UUID(str(member_id)))
    if member is None or member.company_id != company.id:
        raise NotFound("team member")
    before = _team_snapshot(session, company.id)
    session.delete(member)
    session.flush()
    after = _team_snapshot(session, company.id)
    audit.record(
        session, "company.team_changed", "company", company.id,
        audit.diff({"team": before}, {"team": after}),
    )  # fmt: skip
    events.emit(session, "company.team_changed", "companies", company.id, {"team": after})
