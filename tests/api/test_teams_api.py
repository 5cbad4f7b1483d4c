"""Teams and territories over the API: admin keys manage them, every key reads them, validation
errors name the fields, and another workspace's teams do not exist."""

from __future__ import annotations

import secrets


def _name(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(4)}"


def test_an_admin_key_builds_a_team_with_members_and_territories(
    new_key, api_for, tenant_a, api_error
):
    admin = api_for(new_key(tenant_a, "admin"))
    created = admin.post("/api/v1/teams", json={"name": _name("North"), "description": "Reps"})
    assert created.status_code == 201, created.get_data(as_text=True)
    team = created.get_json()
    assert team["members"] == [] and team["territories"] == []
    member = admin.post(
        f"/api/v1/teams/{team['id']}/members",
        json={"user_id": str(tenant_a.owner_id), "is_manager": True},
    )
    assert member.status_code == 201, member.get_data(as_text=True)
    api_error(
        admin.post(f"/api/v1/teams/{team['id']}/members", json={"user_id": str(tenant_a.owner_id)}),
        409,
    )
    territory = admin.post(
        "/api/v1/territories",
        json={"name": _name("DACH"), "team_id": team["id"], "priority": 50,
              "countries": ["de", "AT"], "industries": ["Retail"]},
    )  # fmt: skip
    assert territory.status_code == 201, territory.get_data(as_text=True)
    assert territory.get_json()["countries"] == ["DE", "AT"]

    read = admin.get(f"/api/v1/teams/{team['id']}")
    assert read.status_code == 200 and read.headers["ETag"]
    body = read.get_json()
    assert [(m["user_id"], m["is_manager"]) for m in body["members"]] == [
        (str(tenant_a.owner_id), True)
    ]
    assert [t["id"] for t in body["territories"]] == [territory.get_json()["id"]]

    # A reader key lists them too, paged.
    reader = api_for(new_key(tenant_a, "read_only"))
    listed = reader.get(f"/api/v1/teams?q={body['name']}&limit=1")
    assert listed.status_code == 200
    assert [t["name"] for t in listed.get_json()["items"]] == [body["name"]]
    routing = reader.get(f"/api/v1/territories?team_id={team['id']}").get_json()["items"]
    assert [t["name"] for t in routing] == [territory.get_json()["name"]]

    # If-Match guards changes; a fresh ETag goes through.
    api_error(
        admin.patch(f"/api/v1/teams/{team['id']}", json={"description": "x"},
                    headers={"If-Match": '"stale"'}),
        412,
    )  # fmt: skip
    renamed = admin.patch(
        f"/api/v1/teams/{team['id']}",
        json={"name": body["name"] + " East"},
        headers={"If-Match": read.headers["ETag"]},
    )
    assert renamed.status_code == 200, renamed.get_data(as_text=True)
    assert renamed.get_json()["description"] == "Reps"  # unchanged fields stay
    changed = admin.patch(
        f"/api/v1/territories/{territory.get_json()['id']}", json={"priority": 7}
    ).get_json()
    assert changed["priority"] == 7 and changed["countries"] == ["DE", "AT"]
    member_id = member.get_json()["id"]
    demoted = admin.patch(
        f"/api/v1/teams/{team['id']}/members/{member_id}", json={"is_manager": False}
    )
    assert demoted.status_code == 200 and demoted.get_json()["is_manager"] is False
    assert admin.delete(f"/api/v1/teams/{team['id']}/members/{member_id}").status_code == 204
    assert admin.delete(f"/api/v1/teams/{team['id']}").status_code == 204
    api_error(admin.get(f"/api/v1/teams/{team['id']}"), 404)
    # Deleting a team deletes its territories.
    api_error(admin.get(f"/api/v1/territories/{territory.get_json()['id']}"), 404)


def test_validation_errors_name_the_fields(new_key, api_for, tenant_a, api_error):
    admin = api_for(new_key(tenant_a, "admin"))
    errors = api_error(admin.post("/api/v1/teams", json={"name": "", "colour": "red"}), 422)
    assert set(errors["errors"]["json"]) == {"name", "colour"}
    team = admin.post("/api/v1/teams", json={"name": _name("Dup")}).get_json()
    clash = api_error(admin.post("/api/v1/teams", json={"name": team["name"].upper()}), 422)
    assert "name" in clash["errors"]["json"]
    bad = admin.post(
        "/api/v1/territories",
        json={"name": "", "team_id": team["id"], "countries": ["Narnia"], "priority": 5000},
    )
    assert set(api_error(bad, 422)["errors"]["json"]) == {"name", "countries", "priority"}
    stranger = admin.post(f"/api/v1/teams/{team['id']}/members", json={"user_id": str(team["id"])})
    assert "user_id" in api_error(stranger, 422)["errors"]["json"]


def test_only_admin_keys_change_teams(new_key, api_for, tenant_a, api_error):
    admin = api_for(new_key(tenant_a, "admin"))
    team = admin.post("/api/v1/teams", json={"name": _name("Guarded")}).get_json()
    rep = api_for(new_key(tenant_a, "sales_rep"))
    reader = api_for(new_key(tenant_a, "read_only"))
    for client, status in ((rep, 403), (reader, 403)):
        api_error(client.post("/api/v1/teams", json={"name": _name("Nope")}), status)
        api_error(client.patch(f"/api/v1/teams/{team['id']}", json={"name": "x"}), status)
        api_error(client.delete(f"/api/v1/teams/{team['id']}"), status)
        api_error(
            client.post("/api/v1/territories", json={"name": "x", "team_id": team["id"]}), status
        )
    assert rep.get(f"/api/v1/teams/{team['id']}").get_json()["name"] == team["name"]


def test_another_workspaces_team_does_not_exist(new_key, api_for, tenant_a, tenant_b, api_error):
    mine = api_for(new_key(tenant_a, "admin"))
    team = mine.post("/api/v1/teams", json={"name": _name("Private")}).get_json()
    territory = mine.post(
        "/api/v1/territories", json={"name": _name("Private"), "team_id": team["id"]}
    ).get_json()
    theirs = api_for(new_key(tenant_b, "admin"))
    api_error(theirs.get(f"/api/v1/teams/{team['id']}"), 404)
    api_error(theirs.patch(f"/api/v1/teams/{team['id']}", json={"name": "Taken"}), 404)
    api_error(theirs.delete(f"/api/v1/territories/{territory['id']}"), 404)
    # Nor can a territory of B point at A's team.
    bad = theirs.post("/api/v1/territories", json={"name": _name("Cross"), "team_id": team["id"]})
    assert "team_id" in api_error(bad, 422)["errors"]["json"]
    assert team["id"] not in [t["id"] for t in theirs.get("/api/v1/teams").get_json()["items"]]
    assert mine.get(f"/api/v1/teams/{team['id']}").get_json()["name"] == team["name"]
