"""The members list over the API: every key reads its own workspace's members, nobody else's."""

from __future__ import annotations


def test_members_are_listed_for_every_key_and_only_of_its_workspace(
    new_key, api_for, api_error, tenant_a, tenant_b
):
    reader = api_for(new_key(tenant_a, role="read_only"))
    response = reader.get("/api/v1/members")
    assert response.status_code == 200
    members = response.get_json()["items"]
    owner = next(m for m in members if m["email"] == tenant_a.owner_email)
    assert owner["role"] == "owner" and owner["role_label"] == "Owner"
    assert owner["id"] == str(tenant_a.owner_id)
    assert tenant_b.owner_email not in {m["email"] for m in members}
    api_error(reader.post("/api/v1/members", json={}), 405)
