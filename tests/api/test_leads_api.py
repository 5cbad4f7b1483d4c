"""Leads over REST: CRUD with ETag/If-Match, routing on create, conversion, tenant isolation."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts.models import Contact
from rapport.tenants.deals.models import Deal
from rapport.tenants.teams import services as team_services


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def test_lead_crud_with_etags_and_validation(api_a, api_error):
    name = unique("Curie")
    created = api_a.post(
        "/api/v1/leads",
        json={"first_name": "Marie", "last_name": name, "email": "marie@radium.example",
              "rating": "warm", "custom": {}},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["status"] == "new" and body["source"] == "api" and body["converted_at"] is None
    lead_id, etag = body["id"], created.headers["ETag"]
    listed = api_a.get("/api/v1/leads", query_string={"q": name}).get_json()
    assert [item["id"] for item in listed["items"]] == [lead_id]
    bad = api_error(api_a.post("/api/v1/leads", json={"first_name": "Nameless"}), 422)
    assert "last_name" in bad["errors"]["json"]
    bad = api_error(api_a.post("/api/v1/leads", json={"last_name": "X", "status": "done"}), 422)
    assert "status" in bad["errors"]["json"]
    owner = api_a.post("/api/v1/leads", json={"last_name": "X", "owner_id": str(uuid.uuid4())})
    assert "owner_id" in api_error(owner, 422)["errors"]["json"]
    changed = api_a.patch(
        f"/api/v1/leads/{lead_id}", json={"status": "qualified"}, headers={"If-Match": etag}
    )
    assert changed.status_code == 200 and changed.get_json()["status"] == "qualified"
    stale = api_a.patch(
        f"/api/v1/leads/{lead_id}", json={"rating": "hot"}, headers={"If-Match": etag}
    )
    api_error(stale, 412)
    gone = api_a.delete(f"/api/v1/leads/{lead_id}", headers={"If-Match": changed.headers["ETag"]})
    assert gone.status_code == 204
    api_error(api_a.get(f"/api/v1/leads/{lead_id}"), 404)


def test_api_leads_are_routed_and_convert_once(app, api_a, tenant_a, api_error):
    region = unique("Provence")
    person = uuid.UUID(int=secrets.randbits(128))
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        team = team_services.create_team(s, {"name": unique("South")})
        team_services.add_member(s, team.id, {"user_id": str(person)})
        team_services.create_territory(
            s, {"name": unique("Provence"), "team_id": str(team.id), "regions": [region]}
        )
        existing = company_services.create_company(s, {"name": unique("Existing")})
        existing_id = existing.id
    lead = api_a.post(
        "/api/v1/leads",
        json={"last_name": "Pagnol", "company_name": "Ignored", "region": region,
              "email": "m@pagnol.example"},
    ).get_json()  # fmt: skip
    assert lead["owner_id"] == str(person)
    converted = api_a.post(
        f"/api/v1/leads/{lead['id']}/convert",
        json={"company": str(existing_id), "contact": "new",
              "deal": {"name": "Films", "amount": "100", "currency": "EUR"}},
    )  # fmt: skip
    assert converted.status_code == 200, converted.get_json()
    body = converted.get_json()
    assert body["status"] == "converted" and body["converted_company_id"] == str(existing_id)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        contact = s.get(Contact, uuid.UUID(body["converted_contact_id"]))
        assert contact.company_id == existing_id and contact.email == "m@pagnol.example"
        assert s.get(Deal, uuid.UUID(body["converted_deal_id"])).company_id == existing_id
    again = api_error(api_a.post(f"/api/v1/leads/{lead['id']}/convert", json={}), 409)
    assert "already converted" in again["message"]
    refused = api_a.patch(f"/api/v1/leads/{lead['id']}", json={"rating": "hot"})
    api_error(refused, 409)


def test_conversion_errors_name_the_part_and_change_nothing(app, api_a, tenant_a, api_error):
    name = unique("Nowhere Ltd")
    lead = api_a.post("/api/v1/leads", json={"last_name": "Doe", "company_name": name}).get_json()
    response = api_a.post(
        f"/api/v1/leads/{lead['id']}/convert", json={"deal": {"name": "X", "currency": "???"}}
    )
    assert "deal.currency" in api_error(response, 422)["errors"]["json"]
    assert api_a.get(f"/api/v1/leads/{lead['id']}").get_json()["converted_at"] is None
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        assert s.scalar(select(Company.id).where(Company.name == name)) is None


def test_tenant_b_cannot_see_or_touch_tenant_a_leads(
    app, api_a, new_key, api_for, tenant_b, api_error
):
    lead = api_a.post("/api/v1/leads", json={"last_name": unique("Secret")}).get_json()
    api_b = api_for(new_key(tenant_b))
    api_error(api_b.get(f"/api/v1/leads/{lead['id']}"), 404)
    api_error(api_b.patch(f"/api/v1/leads/{lead['id']}", json={"rating": "hot"}), 404)
    api_error(api_b.post(f"/api/v1/leads/{lead['id']}/convert", json={}), 404)
    api_error(api_b.delete(f"/api/v1/leads/{lead['id']}"), 404)
    listed = api_b.get("/api/v1/leads", query_string={"q": lead["last_name"]}).get_json()
    assert listed["items"] == []
    assert api_a.get(f"/api/v1/leads/{lead['id']}").get_json()["converted_at"] is None
