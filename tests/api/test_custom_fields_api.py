"""Custom fields over the REST API: values in and out, the same validator, filters, OpenAPI."""

from __future__ import annotations

import contextlib
import secrets

import pytest

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.fields import services as fields


@pytest.fixture
def define(app):
    made = []

    def make(tenant, **data):
        data.setdefault("record_type", "companies")
        data.setdefault("label", data["api_name"].title())
        with app.app_context(), tenant_session(tenant.ref) as s:
            row = fields.create_field(s, data)
            made.append((tenant, row.id, row.api_name))
        return row

    yield make
    with app.app_context():
        for tenant, field_id, api_name in made:
            with tenant_session(tenant.ref) as s, contextlib.suppress(Exception):
                fields.delete_field(s, field_id, api_name)


def api_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def test_custom_values_are_validated_and_returned(
    app, api_a, api_for, new_key, tenant_b, define, api_error
):
    score, tier = api_name("score"), api_name("tier")
    define(api_a.key.tenant, api_name=score, type="integer", min_value=0, max_value=100)
    define(api_a.key.tenant, api_name=tier, type="single_select",
           options=[{"value": "gold"}, {"value": "old", "retired": True}])  # fmt: skip
    made = api_a.post("/api/v1/companies", json={"name": "Custom Co", "custom": {score: "42"}})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["custom"] == {score: 42}
    company_id = made.get_json()["id"]

    bad = api_error(
        api_a.post("/api/v1/companies", json={"name": "Bad", "custom": {score: 101}}), 422
    )
    assert "maximum" in bad["errors"]["json"][f"custom.{score}"][0]
    retired = api_a.patch(f"/api/v1/companies/{company_id}", json={"custom": {tier: "old"}})
    assert "retired" in api_error(retired, 422)["errors"]["json"][f"custom.{tier}"][0]
    changed = api_a.patch(f"/api/v1/companies/{company_id}", json={"custom": {tier: "gold"}})
    assert changed.get_json()["custom"] == {score: 42, tier: "gold"}  # PATCH merges

    api_b = api_for(new_key(tenant_b))
    foreign = api_b.post("/api/v1/companies", json={"name": "B Co", "custom": {score: 1}})
    assert "no custom field" in api_error(foreign, 422)["errors"]["json"][f"custom.{score}"][0]


def test_list_filters_on_a_filterable_field(app, api_a, define, api_error):
    region = api_name("region")
    define(api_a.key.tenant, api_name=region, type="text", filterable=True)
    north = api_a.post("/api/v1/companies", json={"name": "North Co", "custom": {region: "north"}})
    api_a.post("/api/v1/companies", json={"name": "South Co", "custom": {region: "south"}})
    listed = api_a.get(f"/api/v1/companies?custom.{region}=north&limit=100").get_json()
    assert [c["id"] for c in listed["items"]] == [north.get_json()["id"]]
    plain = api_name("plain")
    define(api_a.key.tenant, api_name=plain, type="text")
    refused = api_a.get(f"/api/v1/companies?custom.{plain}=x")
    assert api_error(refused, 422)["errors"]["json"][f"custom.{plain}"]


def test_openapi_document_shows_each_tenants_own_fields(
    app, api_a, api_for, new_key, tenant_b, define
):
    score, colour = api_name("score"), api_name("colour")
    define(api_a.key.tenant, api_name=score, type="integer", required=True, record_type="contacts")
    define(api_a.key.tenant, api_name=colour, type="single_select",
           options=[{"value": "red"}, {"value": "blue"}])  # fmt: skip
    doc_a = api_a.get("/api/v1/openapi.json").get_json()
    contact = doc_a["components"]["schemas"]["Contact"]["properties"]["custom"]
    assert contact["properties"][score]["type"] == "integer"
    assert (
        score in doc_a["components"]["schemas"]["ContactInput"]["properties"]["custom"]["required"]
    )
    company = doc_a["components"]["schemas"]["Company"]["properties"]["custom"]
    assert company["properties"][colour]["enum"] == ["red", "blue"]

    doc_b = api_for(new_key(tenant_b)).get("/api/v1/openapi.json").get_json()
    for name in ("Contact", "Company"):
        props = doc_b["components"]["schemas"][name]["properties"]["custom"]["properties"]
        assert score not in props and colour not in props


def test_deals_carry_their_custom_fields(app, api_a, define, api_error):
    source = api_name("source")
    define(api_a.key.tenant, record_type="deals", api_name=source, type="text", max_length=20)
    made = api_a.post(
        "/api/v1/deals", json={"name": "Custom deal", "currency": "EUR", "custom": {source: "fair"}}
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["custom"] == {source: "fair"}
    again = api_a.get(f"/api/v1/deals/{made.get_json()['id']}")
    assert again.get_json()["custom"] == {source: "fair"}
    too_long = api_a.post(
        "/api/v1/deals", json={"name": "Long", "currency": "EUR", "custom": {source: "x" * 21}}
    )
    assert f"custom.{source}" in api_error(too_long, 422)["errors"]["json"]
