"""Activities over the API: create with links, list by record, ETag/If-Match, complete,
check-in with a position, validation errors in the smorest shape, and tenant isolation."""

from __future__ import annotations

import secrets

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services


def make_company(app, tenant) -> str:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return str(company_services.create_company(s, {"name": f"Co {secrets.token_hex(3)}"}).id)


def test_create_list_by_record_and_complete(app, api_a, tenant_a, api_error):
    company_id = make_company(app, tenant_a)
    subject = f"API call {secrets.token_hex(3)}"
    created = api_a.post(
        "/api/v1/activities",
        json={"kind": "call", "subject": subject, "due_at": "2031-02-03T10:00:00Z",
              "links": [{"record_type": "companies", "record_id": company_id}]},
    )  # fmt: skip
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["status"] == "open" and body["links"] == [
        {"record_type": "companies", "record_id": company_id}
    ]
    listed = api_a.get(f"/api/v1/activities?record_type=companies&record_id={company_id}")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [i["subject"] for i in listed.get_json()["items"]] == [subject]
    stale = api_a.post(
        f"/api/v1/activities/{body['id']}/complete",
        json={"outcome": "Yes"},
        headers={"If-Match": '"not-the-etag"'},
    )
    api_error(stale, 412)
    done = api_a.post(
        f"/api/v1/activities/{body['id']}/complete",
        json={"outcome": "Signed"},
        headers={"If-Match": created.headers["ETag"]},
    )
    assert done.status_code == 200
    assert done.get_json()["status"] == "done" and done.get_json()["outcome"] == "Signed"


def test_check_in_stores_the_position(api_a, api_error):
    visit = api_a.post(
        "/api/v1/activities", json={"kind": "visit", "subject": "Visit Initech"}
    ).get_json()
    bad = api_a.post(f"/api/v1/activities/{visit['id']}/check-in", json={"latitude": 91})
    assert "latitude" in api_error(bad, 422)["errors"]["json"]
    response = api_a.post(
        f"/api/v1/activities/{visit['id']}/check-in",
        json={"latitude": 52.52, "longitude": 13.405, "accuracy": 8, "outcome": "Met the buyer"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert (body["latitude"], body["longitude"], body["accuracy"]) == (52.52, 13.405, 8.0)
    assert body["checked_in_at"] and body["status"] == "done"


def test_validation_errors_and_other_tenants_activities(
    app, api_a, new_key, api_for, tenant_b, api_error
):
    bad = api_a.post("/api/v1/activities", json={"kind": "party"})
    errors = api_error(bad, 422)["errors"]["json"]
    assert set(errors) >= {"kind", "subject"}
    mine = api_a.post("/api/v1/activities", json={"subject": "Mine"}).get_json()
    api_b = api_for(new_key(tenant_b))
    api_error(api_b.get(f"/api/v1/activities/{mine['id']}"), 404)
    api_error(api_b.delete(f"/api/v1/activities/{mine['id']}"), 404)
    assert mine["id"] not in [i["id"] for i in api_b.get("/api/v1/activities").get_json()["items"]]
