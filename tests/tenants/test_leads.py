"""Lead services: validation, assignment on create (territory, round-robin, explicit owner),
conversion (new or merged records, one transaction, once only), audit and events."""

from __future__ import annotations

import secrets
import threading
import uuid

import pytest
from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.errors import Conflict, NotFound, ValidationFailed
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants import events
from rapport.tenants.companies import services as company_services
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts import services as contact_services
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals.models import Deal, DealContact
from rapport.tenants.leads import queries, services
from rapport.tenants.leads.models import Lead
from rapport.tenants.teams import services as team_services


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def routed_team(session, tag: str, n: int = 2) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A team with ``n`` members and a territory for region ``tag`` in France."""
    people = sorted(uuid.uuid4() for _ in range(n))
    team = team_services.create_team(session, {"name": unique("Team")})
    for user in people:
        team_services.add_member(session, team.id, {"user_id": str(user)})
    team_services.create_territory(
        session,
        {"name": unique("Terr"), "team_id": str(team.id), "priority": 100,
         "countries": ["FR"], "regions": [tag]},
    )  # fmt: skip
    return team.id, people


def event_types(session, record_id) -> list[str]:
    rows = session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)).all()
    return [
        r.payload["type"]
        for r in rows
        if isinstance(r.payload, dict) and r.payload.get("record_id") == str(record_id)
    ]


def test_lead_events_are_declared():
    for name in ("lead.created", "lead.updated", "lead.deleted", "lead.assigned", "lead.converted"):
        assert name in events.EVENT_TYPES


def test_create_validates_and_keeps_each_tenant_apart(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            with pytest.raises(ValidationFailed) as exc:
                services.create_lead(s, {"first_name": "Only"})
            assert "last_name" in exc.value.errors
            with pytest.raises(ValidationFailed) as exc:
                services.create_lead(
                    s, {"last_name": "X", "status": "converted", "rating": "lukewarm",
                        "email": "nope", "country": "ZZ"}
                )  # fmt: skip
            assert {"status", "rating", "email", "country"} <= set(exc.value.errors)
            lead = services.create_lead(
                s,
                {"first_name": "Ada", "last_name": unique("Lovelace"), "company_name": "Engines",
                 "website": "engines.example", "country": "gb", "source": "Referral",
                 "rating": "hot"},
            )  # fmt: skip
            lead_id = lead.id
        with tenant_session(a.ref) as s:
            lead = s.get(Lead, lead_id)
            assert lead.status == "new" and lead.country == "GB" and lead.source == "referral"
            assert lead.website == "https://engines.example"
            entry = s.scalars(select(AuditEntry).where(AuditEntry.target_id == str(lead_id))).one()
            assert entry.action == "lead.created"
            assert "lead.created" in event_types(s, lead_id)
        with tenant_session(b.ref) as s:
            assert s.get(Lead, lead_id) is None
            with pytest.raises(NotFound):
                services.update_lead(s, lead_id, {"status": "working"}, partial=True)
            with pytest.raises(NotFound):
                services.convert_lead(s, lead_id)


def test_new_leads_are_routed_by_territory_then_round_robin(app, tenant_a):
    tag = unique("Normandy")
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            team_id, (first, second) = routed_team(s, tag)
        owners = []
        for i in range(3):
            with tenant_session(tenant_a.ref) as s:
                lead = services.create_lead(
                    s, {"last_name": f"Routed {i}", "country": "FR", "region": tag}
                )
                owners.append(lead.owner_id)
                assert lead.team_id == team_id
                assert event_types(s, lead.id)[-1] == "lead.assigned"
        assert owners == [first, second, first]
        with tenant_session(tenant_a.ref) as s:
            # An explicit owner stays, and does not take a turn from the rotation.
            chosen = uuid.uuid4()
            kept = services.create_lead(
                s, {"last_name": "Mine", "country": "FR", "region": tag, "owner_id": str(chosen)}
            )
            assert kept.owner_id == chosen and kept.team_id is None
            assert "lead.assigned" not in event_types(s, kept.id)
            nxt = services.create_lead(s, {"last_name": "Next", "country": "FR", "region": tag})
            assert nxt.owner_id == second
            # No territory matches: the lead waits, unassigned.
            lost = services.create_lead(s, {"last_name": "Elsewhere", "country": "JP"})
            assert lost.owner_id is None
            entry = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.target_id == str(nxt.id), AuditEntry.action == "lead.assigned"
                )
            ).one()
            assert "round-robin" in entry.note


def test_convert_into_new_company_contact_and_deal(app, tenants):
    a, b = tenants
    owner = uuid.uuid4()
    with app.app_context():
        with tenant_session(a.ref) as s:
            lead = services.create_lead(
                s,
                {"first_name": "Grace", "last_name": unique("Hopper"),
                 "company_name": unique("Cobol Works"), "email": "grace@cobol.example",
                 "phone": "+1 555 0100 42", "title": "Admiral", "country": "US",
                 "owner_id": str(owner)},
            )  # fmt: skip
            lead_id = lead.id
        with tenant_session(a.ref) as s:
            services.convert_lead(
                s, lead_id, deal={"name": "Compilers", "amount": "5000", "currency": "usd"}
            )
        with tenant_session(a.ref) as s:
            lead = s.get(Lead, lead_id)
            assert lead.status == "converted" and lead.converted_at is not None
            company = s.get(Company, lead.converted_company_id)
            contact = s.get(Contact, lead.converted_contact_id)
            deal = s.get(Deal, lead.converted_deal_id)
            assert company.name == lead.company_name and company.country == "US"
            assert company.owner_id == owner
            assert contact.company_id == company.id and contact.email == "grace@cobol.example"
            assert deal.company_id == company.id and deal.currency == "USD"
            assert deal.owner_id == owner
            link = s.scalars(select(DealContact).where(DealContact.deal_id == deal.id)).one()
            assert link.contact_id == contact.id
            assert "lead.converted" in event_types(s, lead_id)
            with pytest.raises(Conflict) as exc:
                services.convert_lead(s, lead_id)
            assert "already converted" in exc.value.message
            with pytest.raises(Conflict):
                services.update_lead(s, lead_id, {"rating": "hot"}, partial=True)
        with tenant_session(b.ref) as s:
            assert s.get(Company, company.id) is None and s.get(Contact, contact.id) is None


def test_duplicates_are_found_and_merging_fills_only_blanks(app, tenant_a):
    name = unique("Initech")
    domain = f"initech-{secrets.token_hex(3)}.example"
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            company = company_services.create_company(s, {"name": f"{name} GmbH", "city": "Bonn"})
            by_domain = company_services.create_company(
                s, {"name": unique("Other"), "website": f"https://www.{domain}"}
            )
            person = contact_services.create_contact(
                s, {"last_name": "Lumbergh", "email": f"bill@{domain}", "phone": "(030) 1234 5678"}
            )
            lead = services.create_lead(
                s,
                {"first_name": "Bill", "last_name": "Lumbergh", "company_name": f"{name}, Inc.",
                 "email": f"BILL@{domain}", "phone": "+49 30 12345678", "city": "Austin",
                 "industry": "Software", "title": "VP"},
            )  # fmt: skip
            ids = (company.id, by_domain.id, person.id, lead.id)
        company_id, domain_id, person_id, lead_id = ids
        with tenant_session(tenant_a.ref) as s:
            found = queries.duplicates(s, s.get(Lead, lead_id))
            companies = {c.record.id: c.reasons for c in found.companies}
            assert companies[company_id] == ["same name"]
            assert companies[domain_id] == ["email domain matches website"]
            contacts = {c.record.id: c.reasons for c in found.contacts}
            assert contacts[person_id] == ["same email", "same phone"]
        with tenant_session(tenant_a.ref) as s:
            with pytest.raises(ValidationFailed) as exc:
                services.convert_lead(s, lead_id, company=str(uuid.uuid4()))
            assert "company" in exc.value.errors
        with tenant_session(tenant_a.ref) as s:
            services.convert_lead(s, lead_id, company=str(company_id), contact=str(person_id))
        with tenant_session(tenant_a.ref) as s:
            company = s.get(Company, company_id)
            person = s.get(Contact, person_id)
            assert company.city == "Bonn" and company.industry == "software"  # blanks only
            assert person.company_id == company_id and person.title == "VP"
            assert person.phone == "(030) 1234 5678"
            lead = s.get(Lead, lead_id)
            assert (lead.converted_company_id, lead.converted_contact_id) == (company_id, person_id)
            assert lead.converted_deal_id is None
            assert s.scalar(select(Company.id).where(Company.name == f"{name}, Inc.")) is None


def test_a_failed_conversion_changes_nothing(app, tenant_a):
    with app.app_context():
        with tenant_session(tenant_a.ref) as s:
            lead = services.create_lead(
                s, {"last_name": unique("Half"), "company_name": unique("Halfway")}
            )
            lead_id, company_name = lead.id, lead.company_name
        with pytest.raises(ValidationFailed) as exc, tenant_session(tenant_a.ref) as s:
            services.convert_lead(s, lead_id, deal={"name": "Bad", "currency": "???"})
        assert "deal.currency" in exc.value.errors
        with tenant_session(tenant_a.ref) as s:
            assert s.get(Lead, lead_id).converted_at is None
            assert s.scalar(select(Company.id).where(Company.name == company_name)) is None


def test_concurrent_leads_take_consecutive_turns(app, tenant_a, backend):
    """Leads created at the same moment queue on the team row: nobody gets two in a row."""
    if backend != "postgres":
        pytest.skip("the embedded SQLite default has one writer at a time")
    tag = unique("Brittany")
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        _team_id, people = routed_team(s, tag, n=3)
    barrier = threading.Barrier(6)
    owners: list[uuid.UUID] = []
    failures: list[BaseException] = []

    def create(i: int) -> None:
        try:
            with app.app_context(), tenant_session(tenant_a.ref) as s:
                barrier.wait(timeout=30)
                lead = services.create_lead(
                    s, {"last_name": f"Rush {i}", "country": "FR", "region": tag}
                )
                owners.append(lead.owner_id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    # Six leads, three members: each member got exactly two.
    assert sorted(owners) == sorted(people * 2)
