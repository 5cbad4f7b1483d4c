"""Record lookup fields over the REST API: defined with a target, values as ids, the one
validator, filters and the tenant's OpenAPI document (tenant B present)."""

from __future__ import annotations

import secrets


def api_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def test_a_lookup_takes_deal_ids_filters_and_is_documented(
    app, api_for, new_key, tenant_a, tenant_b, api_error, cleanup
):
    admin = api_for(new_key(tenant_a, role="admin"))
    other = api_for(new_key(tenant_b, role="admin"))
    link = api_name("deal")
    cleanup.append((tenant_a, link))
    definition = {"record_type": "companies", "api_name": link, "label": "Main deal",
                  "type": "lookup", "filterable": True}  # fmt: skip
    missing = api_error(admin.post("/api/v1/fields", json=definition), 422)
    assert "record type" in missing["errors"]["json"]["target"][0]
    made_field = admin.post("/api/v1/fields", json={**definition, "target": "deals"})
    assert made_field.status_code == 201, made_field.get_json()
    assert made_field.get_json()["target"] == "deals"

    deal = admin.post("/api/v1/deals", json={"name": "Looked up", "currency": "EUR"}).get_json()
    foreign = other.post("/api/v1/deals", json={"name": "B deal", "currency": "EUR"}).get_json()
    name = f"Lookup API {secrets.token_hex(3)}"
    made = admin.post("/api/v1/companies", json={"name": name, "custom": {link: deal["id"]}})
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["custom"] == {link: deal["id"]}
    for bad in (foreign["id"], "Looked up", made.get_json()["id"]):
        refused = admin.post("/api/v1/companies", json={"name": "Bad", "custom": {link: bad}})
        errors = api_error(refused, 422)["errors"]["json"]
        assert errors == {f"custom.{link}": ["Choose a deal from the list."]}
    empty = admin.post("/api/v1/companies", json={"name": name + " empty", "custom": {link: None}})
    assert empty.status_code == 201 and empty.get_json()["custom"] == {}

    base = f"/api/v1/companies?q={name}&limit=100"

    def names(query: str) -> list[str]:
        response = admin.get(base + query)
        assert response.status_code == 200, response.get_json()
        return sorted(c["name"] for c in response.get_json()["items"])

    assert names(f"&filter[custom.{link}][eq]={deal['id']}") == [name]
    assert names(f"&filter[custom.{link}][is_null]=true") == [name + " empty"]
    assert names(f"&filter[custom.{link}][in]={deal['id']},{foreign['id']}") == [name]
    assert names(f"&custom.{link}={deal['id']}") == [name]
    bad_filter = admin.get(base + f"&filter[custom.{link}][eq]=nope")
    assert api_error(bad_filter, 422)["errors"]["query"][f"custom.{link}"]

    doc = admin.get("/api/v1/openapi.json").get_json()
    prop = doc["components"]["schemas"]["Company"]["properties"]["custom"]["properties"][link]
    assert (prop["type"], prop["format"]) == ("string", "uuid")
    assert "deals" in prop["description"]
    doc_b = other.get("/api/v1/openapi.json").get_json()
    assert (
        link not in doc_b["components"]["schemas"]["Company"]["properties"]["custom"]["properties"]
    )
