"""filter[<field>][<op>] on the deals list: built-in and custom fields, sorting, clear refusals."""

from __future__ import annotations

import secrets

import pytest

from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.fields import services as fields


@pytest.fixture()
def tagged_deals(app, api_a, tenant_a, tenant_b):
    """Three deals of tenant A sharing a unique tag in their names, with a custom region."""
    field = f"region_{secrets.token_hex(3)}"
    with app.app_context(), tenant_session(tenant_a.ref) as session:
        fields.create_field(session, {"record_type": "deals", "api_name": field, "label": "Region",
                                      "type": "single_select", "options": "north\nsouth\nwest",
                                      "filterable": True})  # fmt: skip
    tag = secrets.token_hex(4)
    made = {}
    for name, amount, region in (("alpha", "100", "north"), ("beta", "2500", "south"),
                                 ("gamma", None, "west")):  # fmt: skip
        body = {"name": f"{tag} {name}", "currency": "EUR", "custom": {field: region}}
        if amount:
            body["amount"] = amount
        response = api_a.post("/api/v1/deals", json=body)
        assert response.status_code == 201, response.get_data(as_text=True)
        made[name] = response.get_json()["id"]
    return tag, field, made


def names(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.get_data(as_text=True)
    return [d["name"].split(" ", 1)[1] for d in response.get_json()["items"]]


def test_operators_on_built_in_and_custom_fields(api_a, tagged_deals):
    tag, field, _made = tagged_deals
    base = f"/api/v1/deals?q={tag}&sort=name"
    assert names(api_a.get(base)) == ["alpha", "beta", "gamma"]
    assert names(api_a.get(base + "&filter[amount][gte]=1000")) == ["beta"]
    assert names(api_a.get(base + "&filter[amount][lt]=1000")) == ["alpha"]
    assert names(api_a.get(base + "&filter[amount][is_null]=true")) == ["gamma"]
    assert names(api_a.get(base + "&filter[name][contains]=amm")) == ["gamma"]
    assert names(api_a.get(base + f"&filter[name]={tag} beta")) == ["beta"]
    assert names(api_a.get(base + f"&filter[name][ne]={tag} beta")) == ["alpha", "gamma"]
    assert names(api_a.get(base + f"&filter[custom.{field}][in]=north,west")) == ["alpha", "gamma"]
    assert names(api_a.get(base + f"&filter[custom.{field}][eq]=south")) == ["beta"]
    both = f"&filter[custom.{field}][ne]=north&filter[amount][gt]=0"
    assert names(api_a.get(base + both)) == ["beta"]
    # Sorting by a custom field, descending.
    assert names(api_a.get(f"/api/v1/deals?q={tag}&sort=-custom.{field}")) == [
        "gamma",
        "beta",
        "alpha",
    ]
    page = api_a.get(f"/api/v1/deals?q={tag}&sort=-custom.{field}").get_json()
    assert page["sort"] == f"-custom.{field}"


def test_bad_filters_are_refused_with_the_reason(api_a, api_error, tagged_deals):
    tag, field, _made = tagged_deals
    body = api_error(api_a.get("/api/v1/deals?filter[nope][eq]=1"), 422)
    assert "no such field" in str(body["errors"]).lower()
    body = api_error(api_a.get("/api/v1/deals?filter[amount][like]=1"), 422)
    assert "Unknown operator" in str(body["errors"])
    body = api_error(api_a.get("/api/v1/deals?filter[amount][gt]=lots"), 422)
    assert "number" in str(body["errors"])
    body = api_error(api_a.get(f"/api/v1/deals?filter[custom.{field}][eq]=east"), 422)
    assert "options" in str(body["errors"])
    api_error(api_a.get("/api/v1/deals?filter=amount"), 422)


def test_filters_never_reach_another_tenant(app, new_key, api_for, tenant_b, tagged_deals):
    tag, _field, _made = tagged_deals
    api_b = api_for(new_key(tenant_b))
    assert api_b.get(f"/api/v1/deals?q={tag}&filter[amount][gte]=0").get_json()["items"] == []


def test_the_document_describes_the_filter_parameter(api_a):
    document = api_a.get("/api/v1/openapi.json").get_json()
    parameters = document["paths"]["/api/v1/deals"]["get"]["parameters"]
    described = [p for p in parameters if p["name"] == "filter"]
    assert described and described[0]["style"] == "deepObject"
    assert "custom.<api_name>" in described[0]["description"]
