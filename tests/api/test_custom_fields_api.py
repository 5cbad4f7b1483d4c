"""Custom fields over the REST API: values in and out, the same validator, filters, OpenAPI."""

from __future__ import annotations

import secrets


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


def test_formula_values_are_read_like_any_field_and_never_written(
    app, api_a, api_for, new_key, tenant_b, define, api_error
):
    rate, net, big = api_name("rate"), api_name("net"), api_name("big")
    tenant = api_a.key.tenant
    define(tenant, record_type="deals", api_name=rate, type="percent")
    expression = f"amount * (100 - coalesce(custom.{rate}, 0)) / 100"
    define(tenant, record_type="deals", api_name=net, type="formula", result_type="currency",
           currency="EUR", formula=expression)  # fmt: skip
    define(tenant, record_type="deals", api_name=big, type="formula", result_type="checkbox",
           formula=f"custom.{net} >= 1000", filterable=True)  # fmt: skip
    payload = {"name": "Formula deal", "currency": "EUR", "amount": "2000", "custom": {rate: "25"}}
    made = api_a.post("/api/v1/deals", json=payload)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["custom"][net] == {"amount": "1500.00", "currency": "EUR"}
    assert body["custom"][big] is True
    deal_id = body["id"]

    changed = api_a.patch(f"/api/v1/deals/{deal_id}", json={"amount": "1000"})
    assert changed.get_json()["custom"][net] == {"amount": "750.00", "currency": "EUR"}
    assert changed.get_json()["custom"][big] is False
    changed = api_a.patch(f"/api/v1/deals/{deal_id}", json={"custom": {rate: "0"}})
    assert changed.get_json()["custom"][net]["amount"] == "1000.00"
    listed = api_a.get(f"/api/v1/deals?custom.{big}=true&limit=100").get_json()
    assert deal_id in [d["id"] for d in listed["items"]]

    forged = api_a.patch(f"/api/v1/deals/{deal_id}", json={"custom": {net: "1"}})
    message = api_error(forged, 422)["errors"]["json"][f"custom.{net}"][0]
    assert "calculated (a formula)" in message
    created = api_a.post("/api/v1/deals", json={"name": "F", "currency": "EUR",
                                                 "custom": {big: True}})  # fmt: skip
    assert f"custom.{big}" in api_error(created, 422)["errors"]["json"]

    doc = api_a.get("/api/v1/openapi.json").get_json()
    props = doc["components"]["schemas"]["Deal"]["properties"]["custom"]["properties"]
    assert props[net]["readOnly"] is True and props[big]["type"] == "boolean"
    doc_b = api_for(new_key(tenant_b)).get("/api/v1/openapi.json").get_json()
    assert net not in doc_b["components"]["schemas"]["Deal"]["properties"]["custom"]["properties"]


def test_rollups_follow_related_records_changed_through_the_api(
    app, api_a, api_for, new_key, tenant_b, define, api_error
):
    count, total, people = api_name("deals"), api_name("total"), api_name("people")
    tenant = api_a.key.tenant
    define(tenant, api_name=count, type="rollup", rollup_related="deals",
           rollup_aggregate="count", filterable=True)  # fmt: skip
    define(tenant, api_name=total, type="rollup", rollup_related="deals",
           rollup_aggregate="sum", rollup_field="amount")  # fmt: skip
    define(tenant, api_name=people, type="rollup", rollup_related="contacts",
           rollup_aggregate="count")  # fmt: skip
    one = api_a.post("/api/v1/companies", json={"name": "Roll API One"}).get_json()["id"]
    two = api_a.post("/api/v1/companies", json={"name": "Roll API Two"}).get_json()["id"]

    def custom(company_id):  # type: ignore[no-untyped-def]
        return api_a.get(f"/api/v1/companies/{company_id}").get_json()["custom"]

    assert (custom(one)[count], custom(one)[total]) == ("0", "0")
    deal = api_a.post("/api/v1/deals", json={"name": "R", "currency": "EUR", "amount": "99.90",
                                              "company_id": one})  # fmt: skip
    assert deal.status_code == 201, deal.get_json()
    deal = deal.get_json()["id"]
    contact = api_a.post("/api/v1/contacts", json={"last_name": "Rolled",
                                                    "company_id": one})  # fmt: skip
    assert contact.status_code == 201, contact.get_json()
    contact = contact.get_json()["id"]
    assert (custom(one)[count], custom(one)[total], custom(one)[people]) == ("1", "99.9", "1")
    listed = api_a.get(f"/api/v1/companies?custom.{count}=1&limit=100").get_json()
    assert one in [c["id"] for c in listed["items"]]

    api_a.patch(f"/api/v1/deals/{deal}", json={"amount": "10", "company_id": two})
    api_a.patch(f"/api/v1/contacts/{contact}", json={"company_id": two})
    assert (custom(one)[count], custom(one)[total], custom(one)[people]) == ("0", "0", "0")
    assert (custom(two)[count], custom(two)[total], custom(two)[people]) == ("1", "10", "1")

    refused = api_a.patch(f"/api/v1/companies/{two}", json={"custom": {count: "5"}})
    assert "roll-up" in api_error(refused, 422)["errors"]["json"][f"custom.{count}"][0]

    assert api_a.delete(f"/api/v1/deals/{deal}").status_code == 204
    assert api_a.delete(f"/api/v1/contacts/{contact}").status_code == 204
    assert (custom(two)[count], custom(two)[total], custom(two)[people]) == ("0", "0", "0")

    # Tenant B cannot see tenant A's companies nor carries its roll-ups.
    api_b = api_for(new_key(tenant_b))
    assert api_b.get(f"/api/v1/companies/{one}").status_code == 404
    mine = api_b.post("/api/v1/companies", json={"name": "B roll"}).get_json()
    assert count not in mine["custom"]
