"""Saved views over the API: a key sees its creator's views only, and running one returns the
records its filters and sort select (narrowed further by filter[...]); another workspace's views
do not exist."""

from __future__ import annotations

import secrets
import uuid

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as company_services
from rapport.tenants.views import services as view_services


def _companies(app, tenant, tag: str) -> dict[str, str]:
    """Three companies named with ``tag``; two in Germany."""
    out = {}
    with app.app_context(), tenant_session(tenant.ref) as s:
        for name, country in (("Alpha", "DE"), ("Beta", "FR"), ("Gamma", "DE")):
            company = company_services.create_company(
                s, {"name": f"{name} {tag}", "country": country}
            )
            out[name] = str(company.id)
    return out


def _view(app, tenant, user_id, record_type: str, **data) -> str:
    with app.app_context(), tenant_session(tenant.ref) as s:
        view = view_services.save_view(
            s, user_id, record_type, {"name": f"View {secrets.token_hex(3)}", **data}
        )
        return str(view.id)


def test_running_a_view_returns_its_records_in_its_order(
    app, tenant_a, new_key, api_for, api_error
):
    tag = secrets.token_hex(4)
    ids = _companies(app, tenant_a, tag)
    view_id = _view(
        app, tenant_a, tenant_a.owner_id, "companies",
        filters=[["name", "contains", tag], ["country", "eq", "DE"]], sort="-name",
    )  # fmt: skip
    api = api_for(new_key(tenant_a, "read_only", created_by=tenant_a.owner_id))
    listed = api.get("/api/v1/views?record_type=companies")
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert view_id in [v["id"] for v in listed.get_json()["items"]]
    read = api.get(f"/api/v1/views/{view_id}").get_json()
    assert read["filters"] == [
        {"field": "name", "op": "contains", "value": tag},
        {"field": "country", "op": "eq", "value": "DE"},
    ]
    run = api.get(f"/api/v1/views/{view_id}/records")
    assert run.status_code == 200, run.get_data(as_text=True)
    body = run.get_json()
    assert body["record_type"] == "companies" and body["sort"] == "-name"
    assert [r["id"] for r in body["items"]] == [ids["Gamma"], ids["Alpha"]]
    assert body["total"] == 2
    # Paged, and narrowed with the list filters.
    first = api.get(f"/api/v1/views/{view_id}/records?limit=1").get_json()
    second = api.get(
        f"/api/v1/views/{view_id}/records?limit=1&cursor={first['next_cursor']}"
    ).get_json()
    assert [r["id"] for r in first["items"] + second["items"]] == [ids["Gamma"], ids["Alpha"]]
    narrowed = api.get(f"/api/v1/views/{view_id}/records?filter[name][contains]=alpha").get_json()
    assert [r["id"] for r in narrowed["items"]] == [ids["Alpha"]]
    bad = api.get(f"/api/v1/views/{view_id}/records?filter[nonsense][eq]=1")
    assert "nonsense" in str(api_error(bad, 422)["errors"])


def test_a_key_sees_only_its_creators_views(app, tenant_a, new_key, api_for, api_error):
    someone_else = uuid.uuid4()
    theirs = _view(app, tenant_a, someone_else, "companies")
    mine = _view(app, tenant_a, tenant_a.owner_id, "companies")
    api = api_for(new_key(tenant_a, created_by=tenant_a.owner_id))
    listed = [v["id"] for v in api.get("/api/v1/views?limit=100").get_json()["items"]]
    assert mine in listed and theirs not in listed
    api_error(api.get(f"/api/v1/views/{theirs}"), 404)
    api_error(api.get(f"/api/v1/views/{theirs}/records"), 404)
    # A key made without a creator (the CLI) sees nobody's own views.
    anonymous = api_for(new_key(tenant_a))
    listed = [v["id"] for v in anonymous.get("/api/v1/views?limit=100").get_json()["items"]]
    assert mine not in listed and theirs not in listed
    api_error(anonymous.get(f"/api/v1/views/{mine}"), 404)


def test_a_shared_view_is_seen_and_run_by_every_key_as_its_own_role(
    app, new_tenant, tenant_b, new_key, api_for, api_error
):
    from tests.conftest import add_member

    ws = new_tenant("Shared views")
    tag = secrets.token_hex(4)
    ids = _companies(app, ws, tag)
    rep = add_member(app, ws, "sales_rep")
    shared = _view(app, ws, ws.owner_id, "companies", filters=[["name", "contains", tag]],
                   sort="name", shared=True)  # fmt: skip
    private = _view(app, ws, ws.owner_id, "companies")
    for key in (new_key(ws, created_by=rep.user_id), new_key(ws)):
        api = api_for(key)
        listed = {v["id"]: v for v in api.get("/api/v1/views?limit=100").get_json()["items"]}
        assert shared in listed and private not in listed
        assert listed[shared]["shared"] is True
        run = api.get(f"/api/v1/views/{shared}/records").get_json()
        assert [r["id"] for r in run["items"]] == [ids["Alpha"], ids["Beta"], ids["Gamma"]]
        api_error(api.get(f"/api/v1/views/{private}"), 404)
    # Another workspace's key does not see it.
    api_error(api_for(new_key(tenant_b)).get(f"/api/v1/views/{shared}"), 404)


def test_a_view_whose_field_is_gone_says_so_and_other_workspaces_see_nothing(
    app, tenant_a, tenant_b, new_key, api_for, api_error
):
    view_id = _view(app, tenant_a, tenant_a.owner_id, "companies", filters=[["name", "eq", "x"]])
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        from rapport.tenants.views.models import SavedView

        s.get(SavedView, uuid.UUID(view_id)).filters = [["custom.gone_field", "eq", "1"]]
    api = api_for(new_key(tenant_a, created_by=tenant_a.owner_id))
    body = api_error(api.get(f"/api/v1/views/{view_id}/records"), 422)
    assert "view" in body["errors"]
    # Tenant B's admin key, created by B's owner, finds nothing of A's.
    other = api_for(new_key(tenant_b, "admin", created_by=tenant_b.owner_id))
    api_error(other.get(f"/api/v1/views/{view_id}"), 404)
    api_error(other.get(f"/api/v1/views/{view_id}/records"), 404)
    assert view_id not in [v["id"] for v in other.get("/api/v1/views").get_json()["items"]]
