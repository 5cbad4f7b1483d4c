"""The unified timeline: audit-log changes with readable diffs, stage moves, a company's
contacts and deals, kinds, limits, newest first, and nothing from another tenant."""

from __future__ import annotations

import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies
from rapport.tenants.contacts import services as contacts
from rapport.tenants.deals import services as deals
from rapport.tenants.pipelines import queries as pipeline_queries
from rapport.tenants.timeline import queries


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def titles(timeline) -> list[str]:
    return [e.title for e in timeline.entries]


def test_a_company_timeline_shows_changes_contacts_and_deals_newest_first(app, tenants):
    a, b = tenants
    name, person, deal_name = unique("Orbital"), unique("Grace"), unique("Launch")
    with app.app_context(), tenant_session(a.ref) as s:
        company = companies.create_company(s, {"name": name, "city": "Paris"})
        company_id = company.id
    with app.app_context(), tenant_session(a.ref) as s:
        companies.update_company(
            s, company_id, {"city": "Lyon", "phone": "+33 1 23 45 67 89"}, partial=True
        )
        contacts.create_contact(
            s, {"first_name": person, "last_name": "Hopper", "company_id": str(company_id)}
        )
        deal = deals.create_deal(
            s, {"name": deal_name, "currency": "EUR", "company_id": str(company_id)}
        )
        sales = pipeline_queries.default_pipeline(s)
        stages = pipeline_queries.pipeline_stages(s, sales.id)
        deals.move_deal(s, deal.id, stages[1].id)
    with app.app_context(), tenant_session(a.ref) as s:
        timeline = queries.timeline(s, "companies", company_id)
        assert titles(timeline) == [
            f"Deal {deal_name} moved from {stages[0].name} to {stages[1].name}",
            f"Deal {deal_name} created",
            f"Contact {person} Hopper created",
            "Changed City and Phone",
            "Company created",
        ]
        change = timeline.entries[3]
        assert change.kind == "change"
        assert ("City", "Paris", "Lyon") in change.meta["changes"]
        assert ("Phone", "empty", "+33 1 23 45 67 89") in change.meta["changes"]
        assert change.actor  # who did it
        assert timeline.entries[1].meta["record_type"] == "deals"
        ats = [e.at for e in timeline.entries]
        assert ats == sorted(ats, reverse=True)
        # Kinds narrow it; a limit cuts it and says there is more.
        only_stages = queries.timeline(s, "companies", company_id, kinds=["stage"])
        assert [e.kind for e in only_stages.entries] == ["stage"]
        assert only_stages.selected == ["stage"]
        first_two = queries.timeline(s, "companies", company_id, limit=2)
        assert len(first_two.entries) == 2 and first_two.more
        assert not timeline.more
    with app.app_context(), tenant_session(b.ref) as s:
        assert queries.timeline(s, "companies", company_id).entries == []


def test_a_deal_timeline_shows_each_stage_move_once_with_names(app, tenants):
    a, _b = tenants
    with app.app_context(), tenant_session(a.ref) as s:
        company = companies.create_company(s, {"name": unique("Buyer")})
        deal = deals.create_deal(s, {"name": unique("Deal"), "currency": "EUR"})
        deal_id = deal.id
        stages = pipeline_queries.pipeline_stages(s, deal.pipeline_id)
        deals.move_deal(s, deal_id, stages[1].id)
        deals.update_deal(s, deal_id, {"company_id": str(company.id)}, partial=True)
        company_name = company.name
    with app.app_context(), tenant_session(a.ref) as s:
        entries = queries.timeline(s, "deals", deal_id).entries
        assert [e.kind for e in entries] == ["change", "stage", "created"]
        assert entries[1].title == f"Moved from {stages[0].name} to {stages[1].name}"
        # The company appears by name, not by id.
        assert ("Company", "empty", company_name) in entries[0].meta["changes"]
        created = entries[2]
        assert created.title == "Deal created"
        assert ("Stage", "empty", stages[0].name) in created.meta["changes"]


def test_a_custom_field_change_reads_with_its_label(app, tenants):
    from rapport.tenants.fields import services as field_services

    a, _b = tenants
    api_name = "tl_" + secrets.token_hex(3)
    with app.app_context(), tenant_session(a.ref) as s:
        field_services.create_field(
            s,
            {
                "record_type": "contacts",
                "label": "Favourite colour",
                "api_name": api_name,
                "type": "text",
            },  # fmt: skip
        )
        contact = contacts.create_contact(s, {"first_name": "Ada", "last_name": unique("L")})
        contact_id = contact.id
    with app.app_context(), tenant_session(a.ref) as s:
        contacts.update_contact(s, contact_id, {"custom": {api_name: "teal"}}, partial=True)
    with app.app_context(), tenant_session(a.ref) as s:
        latest = queries.timeline(s, "contacts", contact_id).entries[0]
        assert latest.title == "Changed Favourite colour"
        assert latest.meta["changes"] == [("Favourite colour", "empty", "teal")]


def test_every_source_declares_its_kinds(app):
    with app.app_context():
        kinds = queries.all_kinds()
    assert {"created", "change", "stage"} <= set(kinds)
