"""Custom field definitions over the API: every key reads, admin keys define, change, archive."""

from __future__ import annotations

import secrets


def test_an_admin_key_defines_changes_and_archives_a_field(
    new_key, api_for, api_error, tenant_a, tenant_b
):
    admin = api_for(new_key(tenant_a, role="admin"))
    rep = api_for(new_key(tenant_a, role="sales_rep"))
    name = f"tier_{secrets.token_hex(3)}"
    body = {"record_type": "companies", "api_name": name, "label": "Tier", "type": "single_select",
            "options": [{"value": "gold"}, {"value": "silver", "label": "Silver"}]}  # fmt: skip
    api_error(rep.post("/api/v1/fields", json=body), 403)
    made = admin.post("/api/v1/fields", json=body)
    assert made.status_code == 201, made.get_data(as_text=True)
    field = made.get_json()
    assert field["api_name"] == name and [o["value"] for o in field["options"]] == [
        "gold",
        "silver",
    ]

    # Every key reads; the field is usable at once.
    listed = rep.get("/api/v1/fields?record_type=companies").get_json()["items"]
    assert name in {f["api_name"] for f in listed}
    assert rep.get(f"/api/v1/fields/{field['id']}").get_json()["label"] == "Tier"
    company = rep.post("/api/v1/companies", json={"name": "Tiered", "custom": {name: "gold"}})
    assert company.status_code == 201 and company.get_json()["custom"][name] == "gold"
    document = rep.get("/api/v1/openapi.json").get_json()
    assert (
        name in document["components"]["schemas"]["Company"]["properties"]["custom"]["properties"]
    )

    # Change: a partial body merges with the current settings.
    changed = admin.patch(
        f"/api/v1/fields/{field['id']}", json={"label": "Customer tier", "filterable": True}
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert (
        changed.get_json()["label"] == "Customer tier" and changed.get_json()["filterable"] is True
    )
    assert len(changed.get_json()["options"]) == 2
    bad = api_error(admin.patch(f"/api/v1/fields/{field['id']}", json={"api_name": "other"}), 422)
    assert "api_name" in bad["errors"]["json"]
    removed = api_error(
        admin.patch(f"/api/v1/fields/{field['id']}", json={"options": [{"value": "gold"}]}), 422
    )
    assert "Retire options" in str(removed["errors"])
    api_error(rep.patch(f"/api/v1/fields/{field['id']}", json={"label": "x"}), 403)

    # Archive and restore.
    archived = admin.post(f"/api/v1/fields/{field['id']}/archive")
    assert archived.status_code == 200 and archived.get_json()["archived"] is True
    assert name not in {f["api_name"] for f in rep.get("/api/v1/fields").get_json()["items"]}
    assert name in {
        f["api_name"] for f in rep.get("/api/v1/fields?archived=true").get_json()["items"]
    }
    assert admin.post(f"/api/v1/fields/{field['id']}/restore").get_json()["archived"] is False

    # Tenant B sees nothing of it.
    api_b = api_for(new_key(tenant_b, role="admin"))
    api_error(api_b.get(f"/api/v1/fields/{field['id']}"), 404)
    api_error(api_b.post(f"/api/v1/fields/{field['id']}/archive"), 404)
    assert name not in {
        f["api_name"] for f in api_b.get("/api/v1/fields?archived=true").get_json()["items"]
    }


def test_invalid_definitions_are_refused_with_field_messages(new_key, api_for, api_error, tenant_a):
    admin = api_for(new_key(tenant_a, role="admin"))
    body = api_error(
        admin.post(
            "/api/v1/fields",
            json={"record_type": "planets", "api_name": "Bad Name", "label": "", "type": "colour"},
        ),  # fmt: skip
        422,
    )
    assert {"record_type", "api_name", "type"} <= set(body["errors"]["json"])
