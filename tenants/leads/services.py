"""Lead operations: create (with assignment), change, qualify, reassign, delete and convert.

They validate through the schema, change rows, write the audit entry and the record event in the
same transaction, and flush; they never commit. Every entry path (web, API, the public form,
imports) creates leads through :func:`create_lead`, so every new lead is routed the same way.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.db import utcnow
from rapport.platform.errors import Conflict, ValidationFailed
from rapport.tenants import events, picklists, records
from rapport.tenants.companies import services as company_services
from rapport.tenants.companies.models import Company
from rapport.tenants.companies.schemas import load
from rapport.tenants.contacts import services as contact_services
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals import services as deal_services
from rapport.tenants.deals.models import Deal
from rapport.tenants.fields import services as custom_fields
from rapport.tenants.leads.models import Lead, LeadForm
from rapport.tenants.leads.queries import display_name, get_lead, lead_form
from rapport.tenants.leads.schemas import LEAD_FIELDS, ConvertSchema, LeadSchema
from rapport.tenants.picklists import queries as picklist_queries
from rapport.tenants.teams import services as routing
from rapport.tenants.teams.models import Team
from rapport.tenants.teams.queries import Place

for _verb in ("created", "updated", "deleted"):
    events.declare(f"lead.{_verb}", f"A lead was {_verb}.")
events.declare("lead.assigned", "A lead got an owner (by assignment rules or by hand).")
events.declare(
    "lead.converted", "A lead was converted into a company, a contact and possibly a deal."
)


def snapshot(lead: Lead) -> dict[str, Any]:
    """The audited fields of a lead, as a plain dict."""
    values = {name: getattr(lead, name) for name in LEAD_FIELDS}
    return {**values, **custom_fields.custom_snapshot(lead.custom)}


#: Lead field -> the picklist its value comes from (converting alone sets "converted").
PICKED = records.get("leads").picked


def _load(
    session: Session,
    data: Mapping[str, Any],
    *,
    partial: bool = False,
    existing: Mapping[str, Any] | None = None,
    lead: Lead | None = None,
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    values, custom = custom_fields.load_with_custom(
        session,
        "leads",
        picklists.services.loader(
            session, lambda rest: load(LeadSchema(), rest, partial=partial), PICKED, lead
        ),
        data,
        existing=existing,
        partial=partial,
    )
    team_id = values.get("team_id")
    if team_id is not None and session.get(Team, team_id) is None:
        raise ValidationFailed({"team_id": ["Choose a team from the list."]})
    return values, custom


def _announce_assignment(session: Session, lead: Lead, how: str, before: Any = None) -> None:
    audit.record(
        session,
        "lead.assigned",
        "lead",
        lead.id,
        audit.diff({"owner_id": before}, {"owner_id": lead.owner_id, "team_id": lead.team_id}),
        note=how,
    )
    events.emit(
        session,
        "lead.assigned",
        "leads",
        lead.id,
        {"owner_id": lead.owner_id, "team_id": lead.team_id, "how": how},
    )


def create_lead(session: Session, data: Mapping[str, Any]) -> Lead:
    """Create a lead and route it: an explicit owner stays; otherwise the given team, or the
    matching territory's team, hands it to the member whose turn it is."""
    if not str(data.get("status") or "").strip():
        # Nobody picked: the tenant's first open status, not a hard-coded one.
        data = {**data, "status": picklists.services.default_value(session, "lead_status")}
    values, custom = _load(session, data)
    lead = Lead(**values, custom=custom or {})
    how = None
    if lead.owner_id is None:
        place = Place(lead.country, lead.region, lead.industry)
        team_id, owner_id, territory = routing.route(session, place, team_id=lead.team_id)
        lead.team_id, lead.owner_id = team_id, owner_id
        if owner_id is not None:
            how = f"territory {territory.name}, round-robin" if territory else "team round-robin"
    session.add(lead)
    custom_fields.flush_unique(session, "leads", lead)
    audit.record(session, "lead.created", "lead", lead.id, audit.diff({}, snapshot(lead)))
    events.emit(session, "lead.created", "leads", lead.id, snapshot(lead))
    if how is not None:
        _announce_assignment(session, lead, how)
    return lead


def update_lead(
    session: Session, lead_id: uuid.UUID | str, data: Mapping[str, Any], *, partial: bool = False
) -> Lead:
    """Change a lead; one audit entry with the changed fields, none if nothing changed."""
    lead = get_lead(session, lead_id)
    if lead.converted_at is not None:
        raise Conflict("This lead was converted; change the company, contact or deal instead.")
    values, custom = _load(
        session, data, partial=partial, existing=dict(lead.custom or {}), lead=lead
    )
    before_owner = lead.owner_id
    custom_fields.apply_changes(
        session, lead, values, custom, record_type="leads", snapshot=snapshot,
        action="lead.updated", target_type="lead",
    )  # fmt: skip
    if lead.owner_id != before_owner and lead.owner_id is not None:
        _announce_assignment(session, lead, "by hand", before_owner)
    return lead


def qualify_lead(session: Session, lead_id: uuid.UUID | str, status: str) -> Lead:
    """Mark a lead qualified, unqualified or back in work (any status but converted)."""
    if not isinstance(status, str) or not status.strip():
        raise ValidationFailed({"status": ["Choose a status from the list."]})
    return update_lead(session, lead_id, {"status": status}, partial=True)


def delete_lead(session: Session, lead_id: uuid.UUID | str) -> None:
    """Delete a lead (what it was converted into stays)."""
    lead = get_lead(session, lead_id)
    before = snapshot(lead)
    session.delete(lead)
    session.flush()
    audit.record(session, "lead.deleted", "lead", lead.id, audit.diff(before, {}))
    events.emit(session, "lead.deleted", "leads", lead.id, before)


# -- conversion -----------------------------------------------------------------------------------
def _existing(session: Session, model: Any, raw: str, field: str, what: str) -> Any:
    try:
        row = session.get(model, uuid.UUID(str(raw)))
    except ValueError:
        row = None
    if row is None:
        raise ValidationFailed({field: [f"Choose “create new” or an existing {what}."]})
    return row


def _fill_blanks(record: Any, candidates: Mapping[str, Any]) -> dict[str, Any]:
    """The lead's values for the fields an existing record leaves empty (a merge never
    overwrites what someone already entered)."""
    return {k: v for k, v in candidates.items() if v and not getattr(record, k, None)}


def _company_for(session: Session, lead: Lead, choice: str | None) -> Company | None:
    """The company the lead becomes: a new one from the lead, an existing one (merged), or none."""
    # The person's phone is not the company's switchboard: it goes to the contact only.
    fields = {"website": lead.website, "industry": lead.industry, "city": lead.city,
              "country": lead.country}  # fmt: skip
    if choice is None:
        return None
    if choice != "new":
        account = _existing(session, Company, choice, "company", "company")
        blanks = _fill_blanks(account, fields)
        if blanks:
            company_services.update_company(session, account.id, blanks, partial=True)
        return account
    if not lead.company_name:
        raise ValidationFailed(
            {"company": ["This lead has no company name: choose an existing company or none."]}
        )
    try:
        account = company_services.create_company(session, {"name": lead.company_name, **fields})
    except ValidationFailed as exc:
        raise ValidationFailed({f"company.{k}": v for k, v in exc.errors.items()}) from None
    account.owner_id = lead.owner_id
    return account


def _contact_for(session: Session, lead: Lead, choice: str, account: Company | None) -> Contact:
    """The contact the lead becomes: a new one at ``account``, or an existing one (merged)."""
    fields = {"email": lead.email, "phone": lead.phone, "title": lead.title}
    if choice != "new":
        person = _existing(session, Contact, choice, "contact", "contact")
        blanks = _fill_blanks(person, fields)
        if account is not None and person.company_id is None:
            blanks["company_id"] = str(account.id)
        if blanks:
            contact_services.update_contact(session, person.id, blanks, partial=True)
        return person
    if not lead.last_name:
        raise ValidationFailed(
            {"contact": ["This lead has no last name: add one, or choose an existing contact."]}
        )
    person = contact_services.create_contact(
        session,
        {"first_name": lead.first_name, "last_name": lead.last_name, **fields,
         "company_id": str(account.id) if account else None},
    )  # fmt: skip
    person.owner_id = lead.owner_id
    return person


def _deal_for(
    session: Session,
    lead: Lead,
    wanted: Mapping[str, Any] | None,
    account: Company | None,
    person: Contact,
) -> Deal | None:
    """The deal the conversion opens, if one was asked for; the deal service validates it."""
    given = {k: v for k, v in (wanted or {}).items() if v not in (None, "")}
    if not given:
        return None
    data = {
        "name": f"{lead.company_name or display_name(lead)} deal",
        **given,
        "company_id": str(account.id) if account else None,
        "owner_id": str(lead.owner_id) if lead.owner_id else None,
    }
    try:
        opened = deal_services.create_deal(session, data)
    except ValidationFailed as exc:
        raise ValidationFailed({f"deal.{k}": v for k, v in exc.errors.items()}) from None
    deal_services.add_contact(session, opened.id, {"contact_id": str(person.id)})
    return opened


def convert_lead(
    session: Session,
    lead_id: uuid.UUID | str,
    *,
    company: str | uuid.UUID | None = "new",
    contact: str | uuid.UUID = "new",
    deal: Mapping[str, Any] | None = None,
) -> Lead:
    """Turn a lead into a company, a contact and optionally a deal, in this one transaction.

    ``company`` and ``contact`` are "new" or the id of an existing record to merge into (its
    empty fields are filled from the lead); ``company`` may be None for a person on their own.
    A lead converts once: a second attempt raises Conflict. On ValidationFailed the caller rolls
    back (the boundary does: an error response never commits).
    """
    lead = get_lead(session, lead_id, for_update=True)
    if lead.converted_at is not None:
        raise Conflict(
            f"This lead was already converted on {lead.converted_at:%Y-%m-%d}; "
            "it cannot be converted again."
        )
    choice = load(
        ConvertSchema(),
        {
            "company": None if company is None else str(company),
            "contact": str(contact),
            "deal": dict(deal) if deal else None,
        },
    )
    account = _company_for(session, lead, choice["company"])
    person = _contact_for(session, lead, choice["contact"], account)
    opened = _deal_for(session, lead, choice["deal"], account, person)
    before = {"status": lead.status}
    lead.status = picklist_queries.with_meaning(session, "lead_status", "converted")[0]
    lead.converted_at = utcnow()
    lead.converted_company_id = account.id if account else None
    lead.converted_contact_id = person.id
    lead.converted_deal_id = opened.id if opened else None
    session.flush()
    result = {
        "company_id": lead.converted_company_id,
        "contact_id": lead.converted_contact_id,
        "deal_id": lead.converted_deal_id,
        "company_merged": choice["company"] not in ("new", None),
        "contact_merged": choice["contact"] != "new",
    }
    audit.record(
        session,
        "lead.converted",
        "lead",
        lead.id,
        audit.diff(before, {"status": lead.status, **result}),
    )
    events.emit(session, "lead.converted", "leads", lead.id, {**snapshot(lead), **result})
    return lead


# -- the public capture form's settings -----------------------------------------------------------
def save_lead_form(session: Session, data: Mapping[str, Any]) -> LeadForm:
    """Switch the public form on or off and set where it may send visitors back to."""
    urls, bad = [], []
    for raw in str(data.get("allowed_return_urls") or "").replace(",", "\n").splitlines():
        url = raw.strip()
        if not url:
            continue
        if not url.startswith(("https://", "http://")) or " " in url or len(url) > 300:
            bad.append(url)
        else:
            urls.append(url)
    if bad:
        raise ValidationFailed(
            {
                "allowed_return_urls": [
                    f"Use full addresses such as https://example.com/ ({bad[0]})."
                ]
            }
        )
    thank_you = (str(data.get("thank_you") or "").strip() or None) if data else None
    if thank_you and len(thank_you) > 2000:
        raise ValidationFailed({"thank_you": ["Use at most 2000 characters."]})
    form = lead_form(session)
    if form is None:
        form = LeadForm()
        session.add(form)
    before = {"enabled": form.enabled, "allowed_return_urls": form.allowed_return_urls,
              "thank_you": form.thank_you}  # fmt: skip
    form.enabled = bool(data.get("enabled"))
    form.allowed_return_urls = urls
    form.thank_you = thank_you
    session.flush()
    after = {"enabled": form.enabled, "allowed_return_urls": urls, "thank_you": thank_you}
    changes = audit.diff(before, after)
    if changes:
        audit.record(session, "lead_form.updated", "lead_form", form.id, changes)
    return form


def return_allowed(form: LeadForm | None, url: str) -> bool:
    """Whether a submission may redirect to ``url``: same scheme and host as an allowed address,
    and a path at or below its path ("/thanks" allows "/thanks?x=1" and "/thanks/de", not
    "/thanksgiving")."""
    if form is None or not url:
        return False
    target = urlsplit(url)
    if target.scheme not in ("http", "https") or not target.netloc:
        return False
    for allowed in form.allowed_return_urls or ():
        base = urlsplit(allowed)
        if (base.scheme, base.netloc.lower()) != (target.scheme, target.netloc.lower()):
            continue
        prefix = base.path.rstrip("/")
        path = target.path or "/"
        if not prefix or path == prefix or path.startswith(prefix + "/"):
            return True
    return False
