"""Reading leads: the list (search, owner and status filters, keyset paging), one lead, and the
companies and contacts a lead may already be (duplicate candidates for conversion)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, String, func, or_, select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found
from rapport.tenants import lookup
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.contacts.models import Contact
from rapport.tenants.fields.filters import filter_clause
from rapport.tenants.leads.models import Lead, LeadForm
from rapport.tenants.paging import DEFAULT_LIMIT, Page, SortOption, keyset_page
from rapport.tenants.picklists.queries import with_meaning

SORTS = ("name", "company", "created", "updated")
DEFAULT_SORT = "-created"
MAX_CANDIDATES = 10
# Legal forms dropped before company names are compared ("Acme Inc." is "ACME").
_LEGAL_FORMS = frozenset(
    {"inc", "incorporated", "ltd", "limited", "llc", "llp", "plc", "corp", "corporation", "co",
     "company", "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab",
     "as", "pty", "kk", "the"}
)  # fmt: skip
# Mail providers whose domain says nothing about the company someone works for.
_FREE_MAIL = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com",
     "icloud.com", "me.com", "aol.com", "gmx.de", "gmx.net", "web.de", "proton.me",
     "protonmail.com", "mail.ru", "yandex.ru", "qq.com", "163.com", "126.com"}
)  # fmt: skip


def get_lead(session: Session, lead_id: uuid.UUID | str, *, for_update: bool = False) -> Lead:
    """The lead with this id, or NotFound."""
    return get_or_not_found(session, Lead, lead_id, "lead", for_update=for_update)


def full_name(lead: Lead) -> str:
    return " ".join(p for p in (lead.first_name, lead.last_name) if p)


def display_name(lead: Lead) -> str:
    """How a lead is named in lists and titles: the person, else the company."""
    return full_name(lead) or lead.company_name or "Unnamed lead"


def _sort_key(sort: SortOption) -> ColumnElement[Any]:
    if sort.key == "created":
        return Lead.created_at
    if sort.key == "updated":
        return Lead.updated_at
    if sort.key == "company":
        return func.lower(func.coalesce(Lead.company_name, ""), type_=String())
    return func.lower(
        func.coalesce(Lead.last_name, "") + " " + func.coalesce(Lead.first_name, ""),
        type_=String(),
    )


def search_filter(q: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on name, company, email and city; wildcards literal."""
    return or_(
        *(
            column.icontains(q, autoescape=True)
            for column in (
                Lead.first_name,
                Lead.last_name,
                Lead.company_name,
                Lead.email,
                Lead.city,
            )
        )
    )


def list_leads(
    session: Session,
    *,
    q: str | None = None,
    status: str | None = None,
    owner_id: uuid.UUID | None = None,
    unassigned: bool = False,
    sort: str | None = None,
    cursor: str | None = None,
    custom: Mapping[str, str] | None = None,
    limit: int = DEFAULT_LIMIT,
) -> tuple[Page[Lead], SortOption]:
    """One page of leads."""
    order = SortOption.parse(sort, SORTS, DEFAULT_SORT)
    stmt = select(Lead)
    for api_name, value in (custom or {}).items():
        stmt = stmt.where(filter_clause(session, "leads", api_name, value))
    q = plain_text(q or "").strip()
    if q:
        stmt = stmt.where(search_filter(q))
    if status == "open":
        still_open = with_meaning(session, "lead_status", "open", "qualified")
        stmt = stmt.where(Lead.status.in_(still_open))
    elif status:
        stmt = stmt.where(Lead.status == status)
    if unassigned:
        stmt = stmt.where(Lead.owner_id.is_(None))
    elif owner_id is not None:
        stmt = stmt.where(Lead.owner_id == owner_id)
    page = keyset_page(
        session, stmt, key=_sort_key(order), id_col=Lead.id, sort=order, cursor=cursor, limit=limit
    )
    return page, order


def lead_form(session: Session) -> LeadForm | None:
    """The workspace's capture form settings (None until an admin first saves them)."""
    return session.scalars(select(LeadForm).order_by(LeadForm.created_at)).first()


# -- duplicate candidates -------------------------------------------------------------------------
def normalize_company(name: str | None) -> str:
    """A company name reduced for comparison: lower case, no punctuation, no legal form."""
    words = re.findall(r"[0-9a-z\u00c0-\uffff]+", (name or "").lower())
    core = [w for w in words if w not in _LEGAL_FORMS]
    return " ".join(core or words)


def domain_of(website: str | None) -> str | None:
    if not website:
        return None
    host = (urlsplit(website if "://" in website else "https://" + website).hostname or "").lower()
    return host.removeprefix("www.") or None


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().lower()
    return None if domain in _FREE_MAIL else domain


@dataclass
class Candidate:
    record: Any
    reasons: list[str] = field(default_factory=list)


@dataclass
class Duplicates:
    companies: list[Candidate]
    contacts: list[Candidate]


def _add(found: dict[uuid.UUID, Candidate], record: Any, reason: str) -> None:
    candidate = found.setdefault(record.id, Candidate(record))
    if reason not in candidate.reasons:
        candidate.reasons.append(reason)


def company_candidates(session: Session, lead: Lead) -> list[Candidate]:
    """Companies this lead's company may already be: same name, web domain or phone number."""
    found: dict[uuid.UUID, Candidate] = {}
    wanted = normalize_company(lead.company_name)
    if wanted:
        # The database narrows by the longest word; Python compares the normalized names.
        longest = max(wanted.split(), key=len)
        rows = session.scalars(
            select(Company)
            .where(Company.name.icontains(longest, autoescape=True))
            .order_by(Company.id)
            .limit(200)
        )
        for company in rows:
            if normalize_company(company.name) == wanted:
                _add(found, company, "same name")
    for domain, reason in (
        (domain_of(lead.website), "same website"),
        (email_domain(lead.email), "email domain matches website"),
    ):
        if domain:
            for company in session.scalars(
                select(Company).where(Company.domain == domain).order_by(Company.id).limit(20)
            ):
                _add(found, company, reason)
    if lead.phone:
        for company in lookup.companies_by_phone(session, lead.phone):
            _add(found, company, "same phone")
    return list(found.values())[:MAX_CANDIDATES]


def contact_candidates(session: Session, lead: Lead) -> list[Candidate]:
    """Contacts this lead may already be: same email address or phone number."""
    found: dict[uuid.UUID, Candidate] = {}
    if lead.email:
        for contact in lookup.contacts_by_email(session, lead.email):
            _add(found, contact, "same email")
    if lead.phone:
        for contact in lookup.contacts_by_phone(session, lead.phone):
            _add(found, contact, "same phone")
    return list(found.values())[:MAX_CANDIDATES]


def duplicates(session: Session, lead: Lead) -> Duplicates:
    """Existing companies and contacts a lead may duplicate, with why each was found."""
    return Duplicates(company_candidates(session, lead), contact_candidates(session, lead))


def company_names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.execute(select(Company.id, Company.name).where(Company.id.in_(ids))).all()
    return {row.id: row.name for row in rows}


def contact_of(session: Session, contact_id: uuid.UUID | None) -> Contact | None:
    return session.get(Contact, contact_id) if contact_id else None
