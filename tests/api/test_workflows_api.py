"""Workflows over the API: keys that administer build them with the browser's checks and messages,
read their runs, and never reach another workspace's; a switched-off module takes them away."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.jobs.runtime import drain
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.fields import services as fields
from rapport.tenants.modules import services as modules
from rapport.tenants.workflows.models import Workflow

TIER = {
    "record_type": "contacts",
    "api_name": "tier",
    "label": "Tier",
    "type": "single_select",
    "options": "bronze | Bronze\nsilver | Silver\ngold | Gold",
}


def _flow(**changes: Any) -> dict[str, Any]:
    """A valid workflow body: new contacts get a title."""
    return {
        "name": f"Welcome {secrets.token_hex(3)}",
        "record_type": "contacts",
        "trigger": "created",
        "actions": [{"type": "update", "values": {"title": "Prospect"}}],
        **changes,
    }


def _saved(app, tenant) -> dict[str, dict[str, Any]]:  # type: ignore[no-untyped-def]
    """Every workflow of the workspace as stored: id → settings."""
    with app.app_context(), tenant_session(tenant.ref) as s:
        return {
            str(w.id): {"name": w.name, "actions": w.actions, "active": w.active}
            for w in s.scalars(select(Workflow))
        }


def test_an_admin_key_creates_reads_changes_and_deletes_a_workflow(
    app, new_key, api_for, api_error, tenant_a, tenant_b
):
    admin = api_for(new_key(tenant_a, "admin"))
    body = _flow(
        trigger="updated",
        watched=["last_name"],
        conditions=[{"field": "last_name", "op": "in", "value": ["Lovelace", "Hopper"]}],
        actions=[
            {"type": "update", "values": {"title": "Pioneer"}},
            {"type": "task", "subject": "Call {{ last_name }}", "due_in_days": 2},
        ],
        active=False,  # it never runs in the shared workspace
    )
    created = admin.post("/api/v1/workflows", json=body)
    assert created.status_code == 201, created.get_data(as_text=True)
    workflow = created.get_json()
    assert workflow["active"] is False and workflow["paused"] is False
    assert workflow["conditions"] == [
        {"field": "last_name", "op": "in", "value": "Lovelace,Hopper"}
    ]
    assert workflow["actions"][1] == {
        "type": "task",
        "subject": "Call {{ last_name }}",
        "kind": "task",
        "due_in_days": 2,
        "assignee": "owner",
    }
    path = f"/api/v1/workflows/{workflow['id']}"

    read = admin.get(path)
    assert read.status_code == 200 and read.headers["ETag"] == created.headers["ETag"]
    listed = admin.get("/api/v1/workflows?record_type=contacts&active=false").get_json()["items"]
    assert workflow["id"] in [w["id"] for w in listed]
    assert workflow["id"] not in [
        w["id"] for w in admin.get("/api/v1/workflows?active=true").get_json()["items"]
    ]

    # PATCH changes what it names; a stale If-Match is refused and changes nothing.
    api_error(admin.patch(path, json={"name": "Stale"}, headers={"If-Match": '"stale"'}), 412)
    renamed = admin.patch(
        path, json={"name": "Pioneers", "watched": []}, headers={"If-Match": read.headers["ETag"]}
    )
    assert renamed.status_code == 200, renamed.get_data(as_text=True)
    assert renamed.get_json()["name"] == "Pioneers" and renamed.get_json()["watched"] == []
    assert renamed.get_json()["actions"] == workflow["actions"]  # not sent: unchanged
    assert renamed.headers["ETag"] != read.headers["ETag"]
    api_error(admin.delete(path, headers={"If-Match": read.headers["ETag"]}), 412)

    # Switched on and off through PATCH, like the browser's buttons.
    assert admin.patch(path, json={"active": True}).get_json()["active"] is True
    assert admin.patch(path, json={"active": False}).get_json()["active"] is False

    # Each change is audited with the key as the actor.
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        entries = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.target_id == workflow["id"])
            .order_by(AuditEntry.seq)
        ).all()
        assert [e.action for e in entries] == [
            "workflow.created",
            "workflow.updated",
            "workflow.activated",
            "workflow.deactivated",
        ]
        assert {(e.actor_type, e.actor_id) for e in entries} == {("api_key", str(admin.key.id))}

    assert (
        admin.delete(path, headers={"If-Match": admin.get(path).headers["ETag"]}).status_code == 204
    )
    api_error(admin.get(path), 404)
    api_error(admin.get(f"{path}/runs"), 404)


def test_a_retried_creation_with_an_idempotency_key_creates_one_workflow(
    app, new_key, api_for, new_tenant, tenant_b
):
    ws = new_tenant("Workflows once")
    admin = api_for(new_key(ws, "admin"))
    headers = {"Idempotency-Key": f"wf-{uuid.uuid4()}"}
    body = _flow(active=False)
    first = admin.post("/api/v1/workflows", json=body, headers=headers)
    again = admin.post("/api/v1/workflows", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json()["id"] == first.get_json()["id"]
    assert list(_saved(app, ws)) == [first.get_json()["id"]]


def test_only_keys_that_administer_manage_workflows(
    app, new_key, api_for, api_error, tenant_a, tenant_b
):
    admin = api_for(new_key(tenant_a, "admin"))
    workflow = admin.post("/api/v1/workflows", json=_flow(active=False)).get_json()
    path = f"/api/v1/workflows/{workflow['id']}"
    rep = api_for(new_key(tenant_a, "sales_rep"))
    reader = api_for(new_key(tenant_a, "read_only"))
    for client in (rep, reader):
        for response in (
            client.get("/api/v1/workflows"),
            client.post("/api/v1/workflows", json=_flow()),
            client.get(path),
            client.patch(path, json={"active": True}),
            client.delete(path),
            client.get(f"{path}/runs"),
        ):
            api_error(response, 403)
    assert _saved(app, tenant_a)[workflow["id"]]["active"] is False
    assert admin.delete(path).status_code == 204


def test_an_invalid_workflow_is_refused_naming_each_row_and_field_and_nothing_is_saved(
    app, new_key, api_for, api_error, new_tenant, tenant_b
):
    ws = new_tenant("Workflow checks")
    with app.app_context(), tenant_session(ws.ref) as s:
        fields.create_field(s, TIER)
    admin = api_for(new_key(ws, "admin"))
    bad = _flow(
        name="",
        conditions=[{"field": "custom.nope", "op": "eq", "value": "x"}],
        actions=[
            {"type": "update", "values": {"title": "CFO"}},
            {"type": "update", "values": {"custom.tier": "platinum"}},
            {"type": "email", "to": "not an address", "subject": "Hi {{ nobody }}", "body": "x"},
        ],
    )
    refused = api_error(admin.post("/api/v1/workflows", json=bad), 422)["errors"]["json"]
    assert refused["actions.1.custom.tier"] == ["Choose one of the options."]  # the browser's
    assert set(refused) == {
        "name",
        "conditions.0.custom.nope",
        "actions.1.custom.tier",
        "actions.2.to",
        "actions.2.subject",
    }
    # A body of the wrong shape is refused too, keyed the same way, before any check of values.
    shape = _flow(actions=[{"type": "task", "subject": "Call", "due_in_days": "soon", "color": 1}])
    refused = api_error(admin.post("/api/v1/workflows", json=shape), 422)["errors"]["json"]
    assert set(refused) == {"actions.0.due_in_days", "actions.0.color"}
    api_error(admin.post("/api/v1/workflows", json={**_flow(), "actions": [3]}), 422)
    nul = _flow(name="Null\x00", actions=[{"type": "task", "subject": "Bell\x07"}])
    refused = api_error(admin.post("/api/v1/workflows", json=nul), 422)["errors"]["json"]
    assert set(refused) == {"name", "actions.0.subject"}
    assert _saved(app, ws) == {}

    # A change that breaks a saved workflow is refused whole, and the workflow stays as it was.
    good = admin.post("/api/v1/workflows", json=_flow(active=False)).get_json()
    refused = api_error(
        admin.patch(
            f"/api/v1/workflows/{good['id']}",
            json={
                "name": "Renamed",
                "actions": [{"type": "assign", "owner_id": str(uuid.uuid4())}],
            },
        ),
        422,
    )
    assert set(refused["errors"]["json"]) == {"actions.0.owner_id"}
    assert _saved(app, ws)[good["id"]] == {
        "name": good["name"],
        "actions": good["actions"],
        "active": False,
    }


def test_runs_are_listed_newest_first_after_records_set_them_off(
    app, new_key, api_for, api_error, new_tenant, tenant_b
):
    ws = new_tenant("Workflow runs")
    admin = api_for(new_key(ws, "admin"))
    workflow = admin.post(
        "/api/v1/workflows",
        json=_flow(conditions=[{"field": "last_name", "op": "ne", "value": "Skip"}]),
    ).get_json()
    runs = f"/api/v1/workflows/{workflow['id']}/runs"
    assert admin.get(runs).get_json() == {"items": [], "next_before": None}

    first = admin.post("/api/v1/contacts", json={"first_name": "Ada", "last_name": "Lovelace"})
    second = admin.post("/api/v1/contacts", json={"first_name": "Grace", "last_name": "Hopper"})
    assert first.status_code == second.status_code == 201
    drain(app)

    listed = admin.get(runs).get_json()
    assert [r["record_id"] for r in listed["items"]] == [
        second.get_json()["id"],
        first.get_json()["id"],
    ]
    run = listed["items"][1]
    assert run["status"] == "succeeded" and run["event_type"] == "contact.created"
    assert run["changes"] == [{"action": "update", "changes": {"title": [None, "Prospect"]}}]
    contact = admin.get(f"/api/v1/contacts/{first.get_json()['id']}").get_json()
    assert contact["title"] == "Prospect"

    # Paged by before=, filtered by status.
    page = admin.get(f"{runs}?limit=1").get_json()
    assert [r["id"] for r in page["items"]] == [listed["items"][0]["id"]]
    rest = admin.get(f"{runs}?limit=1&before={page['next_before']}").get_json()
    assert [r["id"] for r in rest["items"]] == [run["id"]]
    assert admin.get(f"{runs}?status=failed").get_json()["items"] == []
    assert len(admin.get(f"{runs}?status=succeeded").get_json()["items"]) == 2
    api_error(admin.get(f"{runs}?status=exploded"), 422)


def test_another_workspaces_workflow_does_not_exist(
    app, new_key, api_for, api_error, tenant_a, tenant_b
):
    theirs = api_for(new_key(tenant_b, "admin"))
    workflow = theirs.post("/api/v1/workflows", json=_flow(active=False)).get_json()
    path = f"/api/v1/workflows/{workflow['id']}"
    before = _saved(app, tenant_b)
    mine = api_for(new_key(tenant_a, "admin"))
    api_error(mine.get(path), 404)
    api_error(mine.patch(path, json={"name": "Taken over", "active": True}), 404)
    api_error(mine.delete(path), 404)
    api_error(mine.get(f"{path}/runs"), 404)
    assert workflow["id"] not in [
        w["id"] for w in mine.get("/api/v1/workflows").get_json()["items"]
    ]
    assert _saved(app, tenant_b) == before
    assert theirs.delete(path).status_code == 204


def test_a_switched_off_module_takes_the_routes_and_the_document_entries_away(
    app, new_key, api_for, api_error, new_tenant, tenant_b
):
    ws = new_tenant("Workflows off")
    admin = api_for(new_key(ws, "admin"))
    workflow = admin.post("/api/v1/workflows", json=_flow()).get_json()
    deal_flow = _flow(record_type="deals", actions=[{"type": "update", "values": {"name": "x"}}])
    on_deals = admin.post("/api/v1/workflows", json=deal_flow).get_json()

    def documented() -> list[str]:
        paths = admin.get("/api/v1/openapi.json").get_json()["paths"]
        return [p for p in paths if p.startswith("/api/v1/workflows")]

    assert set(documented()) == {
        "/api/v1/workflows",
        "/api/v1/workflows/{workflow_id}",
        "/api/v1/workflows/{workflow_id}/runs",
    }
    with app.app_context(), tenant_session(ws.ref) as s:
        modules.switch(s, "workflows", False)
    api_error(admin.get("/api/v1/workflows"), 404)
    api_error(admin.post("/api/v1/workflows", json=_flow()), 404)
    api_error(admin.get(f"/api/v1/workflows/{workflow['id']}"), 404)
    api_error(admin.get(f"/api/v1/workflows/{workflow['id']}/runs"), 404)
    assert documented() == []
    assert "workflows" not in [
        t["name"] for t in admin.get("/api/v1/openapi.json").get_json()["tags"]
    ]

    # Back on; then the module of a workflow's record type off: that workflow is paused, says
    # so, and no new one can be made for the record type.
    with app.app_context(), tenant_session(ws.ref) as s:
        modules.switch(s, "workflows", True)
        modules.switch(s, "sales", False)
    assert admin.get(f"/api/v1/workflows/{on_deals['id']}").get_json()["paused"] is True
    assert admin.get(f"/api/v1/workflows/{workflow['id']}").get_json()["paused"] is False
    refused = api_error(admin.post("/api/v1/workflows", json=deal_flow), 422)
    assert set(refused["errors"]["json"]) == {"record_type"}
