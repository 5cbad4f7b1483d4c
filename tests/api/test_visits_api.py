"""Visit plans over the API: a plan with customers generates its visits, a change of cycle moves
them, a check-in records time, place and outcome; errors name the fields; other workspaces' plans
do not exist; read-only keys only read."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest

from rapport.platform.db import utcnow
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services


@pytest.fixture()
def api_a(new_key, api_for, tenant_a, tenant_b):  # type: ignore[no-untyped-def]
    """An admin key: the visits a plan generates belong to the plan's rep, and an admin sees
    every rep's records (a sales rep key sees only its own, under its role's visibility)."""
    return api_for(new_key(tenant_a, "admin", created_by=tenant_a.owner_id))


def make_company(app, tenant) -> str:
    with app.app_context(), tenant_session(tenant.ref) as s:
        return str(company_services.create_company(s, {"name": f"Co {secrets.token_hex(3)}"}).id)


def _plan(tenant, company_id: str, **extra) -> dict:
    today = utcnow().date()
    monday = today + dt.timedelta(days=(7 - today.weekday()) % 7 or 7)
    return {
        "name": f"Route {secrets.token_hex(3)}",
        "owner_id": str(tenant.owner_id),
        "every": 1,
        "unit": "weeks",
        "weekdays": ["mon", "thu"],
        "starts_on": monday.isoformat(),
        "horizon_days": 21,
        "visit_time": "09:30",
        "customers": [{"record_type": "companies", "record_id": company_id}],
        **extra,
    }


def test_a_plan_generates_visits_and_a_check_in_records_them(app, api_a, tenant_a, api_error):
    company_id = make_company(app, tenant_a)
    created = api_a.post("/api/v1/visit-plans", json=_plan(tenant_a, company_id))
    assert created.status_code == 201, created.get_data(as_text=True)
    plan = created.get_json()
    assert plan["weekdays"] == ["mon", "thu"] and plan["visit_time"].startswith("09:30")
    assert [(c["record_type"], c["record_id"]) for c in plan["customers"]] == [
        ("companies", company_id)
    ]
    visits = api_a.get(f"/api/v1/visit-plans/{plan['id']}/visits").get_json()
    days = sorted(dt.date.fromisoformat(v["visit_date"]) for v in visits["items"])
    assert days and {d.weekday() for d in days} == {0, 3}
    assert all(v["kind"] == "visit" and v["visit_plan_id"] == plan["id"] for v in visits["items"])

    # Every two weeks on Mondays only: the Thursday visits go away.
    read = api_a.get(f"/api/v1/visit-plans/{plan['id']}")
    changed = api_a.patch(
        f"/api/v1/visit-plans/{plan['id']}",
        json={"every": 2, "weekdays": ["mon"]},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["name"] == plan["name"]  # fields not sent stay
    after = api_a.get(f"/api/v1/visit-plans/{plan['id']}/visits").get_json()["items"]
    assert after and {dt.date.fromisoformat(v["visit_date"]).weekday() for v in after} == {0}
    api_error(
        api_a.patch(f"/api/v1/visit-plans/{plan['id']}", json={"every": 3},
                    headers={"If-Match": read.headers["ETag"]}),
        412,
    )  # fmt: skip

    visit = after[0]
    checked = api_a.post(
        f"/api/v1/visit-plans/{plan['id']}/visits/{visit['id']}/check-in",
        json={"latitude": 48.14, "longitude": 11.58, "outcome": "Ordered 20 units"},
    )
    assert checked.status_code == 200, checked.get_data(as_text=True)
    body = checked.get_json()
    assert body["checked_in_at"] and body["status"] == "done"
    assert (body["latitude"], body["longitude"], body["outcome"]) == (
        48.14, 11.58, "Ordered 20 units",
    )  # fmt: skip
    done = api_a.get(f"/api/v1/visit-plans/{plan['id']}/visits?status=done").get_json()
    assert [v["id"] for v in done["items"]] == [visit["id"]]

    # Customers: replaced through PATCH, removed one by one.
    other = make_company(app, tenant_a)
    added = api_a.post(
        f"/api/v1/visit-plans/{plan['id']}/customers",
        json={"record_type": "companies", "record_id": other},
    )
    assert added.status_code == 201, added.get_data(as_text=True)
    assert api_a.delete(
        f"/api/v1/visit-plans/{plan['id']}/customers/{added.get_json()['id']}"
    ).status_code == 204  # fmt: skip
    listed = api_a.get(f"/api/v1/visit-plans?q={plan['name']}").get_json()["items"]
    assert [p["id"] for p in listed] == [plan["id"]] and len(listed[0]["customers"]) == 1
    assert api_a.delete(f"/api/v1/visit-plans/{plan['id']}").status_code == 204
    api_error(api_a.get(f"/api/v1/visit-plans/{plan['id']}"), 404)
    # The visit that happened stays, without its plan.
    kept = api_a.get(f"/api/v1/activities/{visit['id']}").get_json()
    assert kept["status"] == "done" and kept["visit_plan_id"] is None


def test_validation_errors_name_the_fields(app, api_a, tenant_a, api_error):
    company_id = make_company(app, tenant_a)
    bad = api_a.post(
        "/api/v1/visit-plans",
        json=_plan(tenant_a, company_id, every=0, unit="months", weekdays=["funday"],
                   starts_on="soon", name=""),
    )  # fmt: skip
    fields = set(api_error(bad, 422)["errors"]["json"])
    assert {"every", "unit", "starts_on"} <= fields and (
        "weekdays" in fields or "weekdays.0" in fields
    )
    stranger = api_a.post(
        "/api/v1/visit-plans", json=_plan(tenant_a, company_id, owner_id=company_id)
    )
    assert "owner_id" in api_error(stranger, 422)["errors"]["json"]
    refused = _plan(tenant_a, company_id)
    refused["customers"].append({"record_type": "companies", "record_id": str(tenant_a.owner_id)})
    missing = api_a.post("/api/v1/visit-plans", json=refused)
    assert "customers" in api_error(missing, 422)["errors"]["json"]
    # No partial write: the refused plan was not created.
    found = api_a.get(f"/api/v1/visit-plans?q={refused['name']}").get_json()
    assert found["items"] == [] and found["total"] == 0
    plan = api_a.post("/api/v1/visit-plans", json=_plan(tenant_a, company_id)).get_json()
    visit = api_a.get(f"/api/v1/visit-plans/{plan['id']}/visits").get_json()["items"][0]
    bad_place = api_a.post(
        f"/api/v1/visit-plans/{plan['id']}/visits/{visit['id']}/check-in", json={"latitude": 95}
    )
    assert "latitude" in api_error(bad_place, 422)["errors"]["json"]


def test_other_workspaces_plans_and_read_only_keys(
    app, api_a, tenant_a, tenant_b, new_key, api_for, api_error
):
    company_id = make_company(app, tenant_a)
    plan = api_a.post("/api/v1/visit-plans", json=_plan(tenant_a, company_id)).get_json()
    visit = api_a.get(f"/api/v1/visit-plans/{plan['id']}/visits").get_json()["items"][0]
    theirs = api_for(new_key(tenant_b))
    api_error(theirs.get(f"/api/v1/visit-plans/{plan['id']}"), 404)
    api_error(theirs.get(f"/api/v1/visit-plans/{plan['id']}/visits"), 404)
    api_error(theirs.patch(f"/api/v1/visit-plans/{plan['id']}", json={"every": 2}), 404)
    api_error(
        theirs.post(f"/api/v1/visit-plans/{plan['id']}/visits/{visit['id']}/check-in", json={}),
        404,
    )
    # B's customer list cannot name A's company either.
    bad = theirs.post("/api/v1/visit-plans", json=_plan(tenant_b, company_id))
    assert "customers" in api_error(bad, 422)["errors"]["json"]

    reader = api_for(new_key(tenant_a, "read_only"))
    assert reader.get(f"/api/v1/visit-plans/{plan['id']}").status_code == 200
    api_error(reader.post("/api/v1/visit-plans", json=_plan(tenant_a, company_id)), 403)
    api_error(
        reader.post(f"/api/v1/visit-plans/{plan['id']}/visits/{visit['id']}/check-in", json={}),
        403,
    )
    still = api_a.get(f"/api/v1/activities/{visit['id']}").get_json()
    assert still["checked_in_at"] is None and still["status"] == "open"


def test_patching_the_customers_replaces_the_list_and_moves_the_visits(app, api_a, tenant_a):
    first, second = make_company(app, tenant_a), make_company(app, tenant_a)
    plan = api_a.post("/api/v1/visit-plans", json=_plan(tenant_a, first)).get_json()

    def visited() -> set[str]:
        items = api_a.get(f"/api/v1/visit-plans/{plan['id']}/visits?limit=100").get_json()["items"]
        return {link["record_id"] for v in items for link in v["links"]}

    assert visited() == {first}
    customers = [{"record_type": "companies", "record_id": second}]
    changed = api_a.patch(f"/api/v1/visit-plans/{plan['id']}", json={"customers": customers})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert [c["record_id"] for c in changed.get_json()["customers"]] == [second]
    assert visited() == {second}
    emptied = api_a.patch(f"/api/v1/visit-plans/{plan['id']}", json={"customers": []})
    assert emptied.get_json()["customers"] == [] and visited() == set()
