"""Companies and contacts over REST: CRUD, audit, isolation, roles, errors, ETags, the document."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.companies.models import Company
from rapport.tenants.contacts import services as contact_services
from rapport.tenants.contacts.models import Contact


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def audit_of(app, tenant, target_id) -> list[AuditEntry]:
    with app.app_context(), tenant_session(tenant.ref) as s:
        entries = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_id == str(target_id))
                .order_by(AuditEntry.seq)
            )
        )
        s.expunge_all()
        return entries


def test_company_crud_through_the_api_is_audited_as_the_key(app, api_a, tenant_a):
    name = unique("Initech")
    created = api_a.post("/api/v1/companies", json={"name": name, "website": "initech.example"})
    assert created.status_code == 201, created.get_json()
    company = created.get_json()
    assert company["name"] == name and company["domain"] == "initech.example"
    assert created.headers["ETag"]
    company_id = company["id"]

    read = api_a.get(f"/api/v1/companies/{company_id}")
    assert read.status_code == 200 and read.get_json() == company
    assert read.headers["ETag"] == created.headers["ETag"]

    changed = api_a.patch(f"/api/v1/companies/{company_id}", json={"city": "Austin"})
    assert changed.status_code == 200
    assert changed.get_json()["city"] == "Austin" and changed.get_json()["name"] == name
    assert changed.headers["ETag"] != read.headers["ETag"]

    listed = api_a.get("/api/v1/companies", query_string={"q": name})
    assert [c["id"] for c in listed.get_json()["items"]] == [company_id]

    deleted = api_a.delete(f"/api/v1/companies/{company_id}")
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert api_a.get(f"/api/v1/companies/{company_id}").status_code == 404

    entries = audit_of(app, tenant_a, company_id)
    assert [e.action for e in entries] == ["company.created", "company.updated", "company.deleted"]
    key_id = str(api_a.key.id)
    assert all(e.actor_type == "api_key" and e.actor_id == key_id for e in entries)
    assert entries[1].changes == {"city": [None, "Austin"]}


def test_contact_crud_and_the_company_filter(app, api_a, tenant_a):
    company = api_a.post("/api/v1/companies", json={"name": unique("Hooli")}).get_json()
    last = unique("Lovelace")
    created = api_a.post(
        "/api/v1/contacts",
        json={"first_name": "Ada", "last_name": last, "email": "ada@example.com",
              "company_id": company["id"]},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    contact_id = created.get_json()["id"]
    listed = api_a.get("/api/v1/contacts", query_string={"company_id": company["id"]}).get_json()
    assert [c["id"] for c in listed["items"]] == [contact_id]
    changed = api_a.patch(f"/api/v1/contacts/{contact_id}", json={"title": "Countess"})
    assert changed.get_json()["title"] == "Countess"
    assert api_a.delete(f"/api/v1/contacts/{contact_id}").status_code == 204
    entries = audit_of(app, tenant_a, contact_id)
    assert [e.action for e in entries] == ["contact.created", "contact.updated", "contact.deleted"]
    assert {e.actor_id for e in entries} == {str(api_a.key.id)}


def test_pages_follow_cursors_in_a_stable_order_with_a_limit(api_a, api_error):
    tag = secrets.token_hex(4)
    ids = {
        api_a.post("/api/v1/companies", json={"name": f"Paged {tag} {n}"}).get_json()["id"]
        for n in range(5)
    }
    seen, cursor = [], None
    while True:
        query = {"q": f"Paged {tag}", "limit": 2, "sort": "created"}
        if cursor:
            query["cursor"] = cursor
        page = api_a.get("/api/v1/companies", query_string=query).get_json()
        assert page["total"] == 5 and len(page["items"]) <= 2
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 5 and set(seen) == ids
    assert seen == sorted(seen)  # UUIDv7 ids follow creation order
    body = api_error(api_a.get("/api/v1/companies", query_string={"limit": 101}), 422)
    assert "limit" in body["errors"]["query"]


def test_tenant_a_key_sees_nothing_of_tenant_b_and_changes_nothing(app, api_a, tenant_b, api_error):
    name = unique("Globex secret")
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        company = company_services.create_company(s, {"name": name, "city": "Springfield"})
        contact = contact_services.create_contact(s, {"last_name": name, "company_id": company.id})
        ids = {"companies": company.id, "contacts": contact.id}
    for kind, record_id in ids.items():
        path = f"/api/v1/{kind}/{record_id}"
        api_error(api_a.get(path), 404)
        api_error(api_a.patch(path, json={"city" if kind == "companies" else "title": "X"}), 404)
        api_error(api_a.delete(path), 404)
        assert name not in api_a.get(f"/api/v1/{kind}", query_string={"q": name}).get_data(
            as_text=True
        )
    # Pointing a new contact of A at B's company is refused, not linked.
    body = api_error(
        api_a.post("/api/v1/contacts", json={"last_name": "X", "company_id": str(company.id)}), 422
    )
    assert "company_id" in body["errors"]["json"]
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        company = s.get(Company, ids["companies"])
        contact = s.get(Contact, ids["contacts"])
        assert company is not None and company.city == "Springfield"
        assert contact is not None and contact.title is None
        assert s.scalar(select(Contact).where(Contact.last_name == "X")) is None


def test_a_read_only_key_reads_but_cannot_write(app, new_key, api_for, tenant_a, api_error):
    reader = api_for(new_key(tenant_a, role="read_only"))
    assert reader.get("/api/v1/companies").status_code == 200
    name = unique("Never written")
    api_error(reader.post("/api/v1/companies", json={"name": name}), 403)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        existing = company_services.create_company(s, {"name": unique("Read only target")})
        company_id = existing.id
    api_error(reader.patch(f"/api/v1/companies/{company_id}", json={"city": "X"}), 403)
    api_error(reader.delete(f"/api/v1/companies/{company_id}"), 403)
    assert reader.get(f"/api/v1/companies/{company_id}").get_json()["city"] is None
    assert name not in reader.get("/api/v1/companies", query_string={"q": name}).get_data(
        as_text=True
    )


def test_validation_errors_are_422_with_field_messages(api_a, api_error):
    body = api_error(
        api_a.post(
            "/api/v1/companies",
            json={"website": "not a url at all", "country": "XX", "colour": "blue"},
        ),
        422,
    )
    fields = body["errors"]["json"]
    assert {"name", "website", "country", "colour"} <= set(fields)
    assert fields["name"] == ["Enter the company's name."]
    assert body["message"]
    body = api_error(api_a.post("/api/v1/companies", json={"name": 42}), 422)
    assert "name" in body["errors"]["json"]
    api_error(api_a.post("/api/v1/companies", json=["a", "list"]), 422)


def test_bad_input_never_causes_a_500(api_a, api_error):
    headers = {"Content-Type": "application/json"}
    api_error(api_a.post("/api/v1/companies", data="{not json", headers=headers), 400)
    api_error(api_a.post("/api/v1/companies", data="name=x"), 415)
    api_error(api_a.get("/api/v1/companies/not-a-uuid"), 404)
    api_error(api_a.patch(f"/api/v1/companies/{uuid.uuid4()}", json={"name": "x"}), 404)
    api_error(api_a.get("/api/v1/no-such-thing"), 404)
    api_error(api_a.client.put("/api/v1/companies", headers=api_a._headers(None)), 405)
    cursor = api_a.get("/api/v1/companies", query_string={"cursor": "%%%garbage"})
    assert cursor.status_code == 200


def test_if_match_with_a_stale_etag_is_refused_with_412(app, api_a, api_error):
    company = api_a.post("/api/v1/companies", json={"name": unique("Versioned")})
    path = f"/api/v1/companies/{company.get_json()['id']}"
    stale = company.headers["ETag"]
    fresh = api_a.patch(path, json={"city": "Lyon"}, headers={"If-Match": stale})
    assert fresh.status_code == 200
    api_error(api_a.patch(path, json={"city": "Nice"}, headers={"If-Match": stale}), 412)
    api_error(api_a.delete(path, headers={"If-Match": stale}), 412)
    assert api_a.get(path).get_json()["city"] == "Lyon"
    assert api_a.delete(path, headers={"If-Match": fresh.headers["ETag"]}).status_code == 204


def test_the_openapi_document_needs_a_key_and_describes_the_records(client, api_a, api_error):
    api_error(client.get("/api/v1/openapi.json"), 401)
    response = api_a.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/companies", "/api/v1/companies/{company_id}", "/api/v1/contacts",
            "/api/v1/contacts/{contact_id}"} <= set(document["paths"])  # fmt: skip
    company = document["components"]["schemas"]["Company"]["properties"]
    assert {"id", "name", "website", "created_at"} <= set(company)
    assert document["info"]["x-tenant"] == api_a.key.tenant.slug
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
