"""Companies and contacts over the API: the richer fields validate as on the web, lists included."""

from __future__ import annotations

import secrets


def test_contact_lists_and_preferences_round_trip(api_a, api_error):
    tag = secrets.token_hex(4)
    company = api_a.post(
        "/api/v1/companies",
        json={"name": f"Parent {tag}", "classification": "b", "size": "11-50",
              "preferred_channel": "email", "do_not_call": True},
    )  # fmt: skip
    assert company.status_code == 201, company.get_json()
    parent = company.get_json()
    assert (parent["classification"], parent["do_not_call"], parent["do_not_email"]) == (
        "B",
        True,
        False,
    )
    child = api_a.post(
        "/api/v1/companies", json={"name": f"Child {tag}", "parent_id": parent["id"]}
    ).get_json()
    loop = api_a.patch(
        f"/api/v1/companies/{parent['id']}",
        json={"parent_id": child["id"]},
        headers={"If-Match": company.headers["ETag"]},
    )
    assert "cannot own itself" in api_error(loop, 422)["errors"]["json"]["parent_id"][0]
    created = api_a.post(
        "/api/v1/contacts",
        json={"last_name": f"Api {tag}", "company_id": child["id"], "do_not_email": True,
              "emails": [{"email": f"a-{tag}@example.com", "label": "work"},
                         {"email": f"b-{tag}@example.com", "label": "private"}],
              "companies": [{"company_id": parent["id"], "role": "Advisor"}]},
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["email"] == f"a-{tag}@example.com" and body["do_not_email"] is True
    assert [(e["email"], e["is_primary"]) for e in body["emails"]] == [
        (f"a-{tag}@example.com", True),
        (f"b-{tag}@example.com", False),
    ]
    assert body["companies"] == [{"company_id": parent["id"], "role": "Advisor"}]
    listed = api_a.get("/api/v1/contacts", query_string={"q": f"Api {tag}"}).get_json()
    assert [item["emails"] for item in listed["items"]] == [body["emails"]]
    bad = api_a.post(
        "/api/v1/contacts",
        json={"last_name": "Bad", "phones": [{"phone": "call me"}], "emails": [{"label": "x"}]},
    )
    errors = api_error(bad, 422)["errors"]["json"]
    assert set(errors) == {"phones.0.phone", "emails.0.email"}
