"""Batch create/update: per-item results, one bad item undoes only itself, at most 100 items."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts.models import Contact


def test_a_bad_item_fails_alone_and_the_others_are_written(app, api_a, tenant_a):
    tag = secrets.token_hex(4)
    existing = api_a.post("/api/v1/companies", json={"name": f"Batch old {tag}"}).get_json()
    items = [
        {"name": f"Batch new {tag} 1", "city": "Oslo"},
        {"name": "", "country": "XX"},
        {"id": existing["id"], "city": "Bergen"},
        {"id": str(uuid.uuid4()), "city": "Nowhere"},
        {"id": "not-an-id", "city": "Nowhere"},
        {"name": f"Batch new {tag} 2"},
    ]
    response = api_a.post("/api/v1/companies/batch", json={"items": items})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    results = body["results"]
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [201, 422, 200, 404, 422, 201]
    assert {"name", "country"} <= set(results[1]["errors"])
    assert results[2]["id"] == existing["id"]
    assert "id" in results[4]["errors"]
    assert body["succeeded"] == 3 and body["failed"] == 3
    assert api_a.get(f"/api/v1/companies/{results[0]['id']}").get_json()["city"] == "Oslo"
    assert api_a.get(f"/api/v1/companies/{existing['id']}").get_json()["city"] == "Bergen"
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        names = set(s.scalars(select(Company.name).where(Company.name.contains(tag))))
        assert names == {f"Batch old {tag}", f"Batch new {tag} 1", f"Batch new {tag} 2"}
        actions = s.scalars(
            select(AuditEntry.action).where(
                AuditEntry.target_id.in_([results[0]["id"], existing["id"], results[5]["id"]]),
                AuditEntry.actor_id == str(api_a.key.id),
            )
        ).all()
        assert sorted(actions) == ["company.created"] * 3 + ["company.updated"]


def test_contacts_batch_refuses_a_company_of_another_tenant_per_item(
    app, api_a, tenant_b, api_error
):
    tag = secrets.token_hex(4)
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        b_company = company_services.create_company(s, {"name": f"B co {tag}"}).id
        from rapport.tenants.contacts import services as contact_services

        b_contact = contact_services.create_contact(s, {"last_name": f"B person {tag}"}).id
    items = [
        {"last_name": f"Ok {tag}"},
        {"last_name": f"Linked {tag}", "company_id": str(b_company)},
        {"id": str(b_contact), "last_name": "Overwritten"},
    ]
    results = api_a.post("/api/v1/contacts/batch", json={"items": items}).get_json()["results"]
    assert [r["status"] for r in results] == [201, 422, 404]
    assert "company_id" in results[1]["errors"]
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        assert s.get(Contact, b_contact).last_name == f"B person {tag}"


def test_more_than_100_items_or_a_bad_shape_is_refused_whole(api_a, api_error):
    tag = secrets.token_hex(4)
    items = [{"name": f"Too many {tag} {n}"} for n in range(101)]
    body = api_error(api_a.post("/api/v1/companies/batch", json={"items": items}), 422)
    assert "items" in body["errors"]["json"]
    assert api_a.get("/api/v1/companies", query_string={"q": tag}).get_json()["total"] == 0
    api_error(api_a.post("/api/v1/companies/batch", json={"items": []}), 422)
    api_error(api_a.post("/api/v1/companies/batch", json={"items": ["x"]}), 422)
    api_error(api_a.post("/api/v1/companies/batch", json=[{"name": "x"}]), 422)
    exactly = [{"name": f"Hundred {tag} {n}"} for n in range(100)]
    ok = api_a.post("/api/v1/companies/batch", json={"items": exactly}).get_json()
    assert ok["succeeded"] == 100


def test_a_read_only_key_cannot_batch(new_key, api_for, tenant_a, api_error):
    reader = api_for(new_key(tenant_a, role="read_only"))
    api_error(reader.post("/api/v1/companies/batch", json={"items": [{"name": "x"}]}), 403)
