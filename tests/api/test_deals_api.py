"""Deals and pipelines over REST: CRUD, stage moves with history and events, isolation, roles."""

from __future__ import annotations

import secrets
import uuid

from sqlalchemy import select

from rapport.platform.audit.models import AuditEntry
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.deals import services as deal_services
from rapport.tenants.deals.models import Deal, DealStageChange


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"


def stages_of(api) -> dict[str, dict]:
    """The default pipeline's stages by name, as the API lists them."""
    pipelines = api.get("/api/v1/pipelines").get_json()["items"]
    return {s["name"]: s for s in pipelines[0]["stages"]}


def test_pipelines_list_their_stages_in_board_order(api_a, api_error):
    response = api_a.get("/api/v1/pipelines")
    assert response.status_code == 200
    # Other tests may add pipelines to the shared tenant; the seeded one is always there.
    (sales,) = [p for p in response.get_json()["items"] if p["name"] == "Sales"]
    kinds = [s["kind"] for s in sales["stages"]]
    assert kinds[0] == "open" and {"won", "lost"} <= set(kinds)
    assert [s["position"] for s in sales["stages"]] == sorted(
        s["position"] for s in sales["stages"]
    )
    one = api_a.get(f"/api/v1/pipelines/{sales['id']}")
    assert one.status_code == 200 and one.get_json() == sales
    api_error(api_a.get(f"/api/v1/pipelines/{uuid.uuid4()}"), 404)
    # Pipelines are read-only over the API, for every key.
    api_error(api_a.post("/api/v1/pipelines", json={"name": "New"}), 405)


def test_deal_crud_and_move_are_audited_as_the_key_with_history_and_an_event(
    app, api_a, tenant_a, api_error
):
    stages = stages_of(api_a)
    name = unique("Big deal")
    created = api_a.post(
        "/api/v1/deals", json={"name": name, "amount": "12 500.50", "currency": "eur"}
    )
    assert created.status_code == 201, created.get_json()
    deal = created.get_json()
    assert deal["amount"] == "12500.50" and deal["currency"] == "EUR"
    assert deal["status"] == "open" and deal["stage_id"] == next(iter(stages.values()))["id"]
    path = f"/api/v1/deals/{deal['id']}"
    read = api_a.get(path)
    assert read.get_json() == deal and read.headers["ETag"] == created.headers["ETag"]

    changed = api_a.patch(path, json={"amount": 13000}, headers={"If-Match": read.headers["ETag"]})
    assert changed.status_code == 200 and changed.get_json()["amount"] == "13000.00"
    api_error(
        api_a.patch(path, json={"amount": 1}, headers={"If-Match": read.headers["ETag"]}), 412
    )
    # The stage changes only through a move.
    body = api_error(api_a.patch(path, json={"stage_id": stages["Won"]["id"]}), 422)
    assert "stage_id" in body["errors"]["json"]

    lost = [s for s in stages.values() if s["kind"] == "lost"][0]
    body = api_error(api_a.post(f"{path}/move", json={"stage_id": lost["id"]}), 422)
    assert "lost_reason" in body["errors"]["json"]
    moved = api_a.post(f"{path}/move", json={"stage_id": lost["id"], "lost_reason": "budget"})
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["status"] == "lost" and moved.get_json()["lost_reason"] == "budget"
    assert moved.get_json()["closed_at"] is not None
    body = api_error(api_a.post(f"{path}/move", json={"stage_id": str(uuid.uuid4())}), 422)
    assert "stage_id" in body["errors"]["json"]

    listed = api_a.get("/api/v1/deals", query_string={"q": name, "status": "lost"}).get_json()
    assert [d["id"] for d in listed["items"]] == [deal["id"]]
    assert (
        api_a.get("/api/v1/deals", query_string={"q": name, "status": "open"}).get_json()["items"]
        == []
    )

    with app.app_context(), tenant_session(tenant_a.ref) as s:
        history = list(
            s.scalars(
                select(DealStageChange).where(DealStageChange.deal_id == uuid.UUID(deal["id"]))
            )
        )
        assert len(history) == 2 and history[-1].changed_by_label == moved_key_label(app, api_a)
        (event,) = [
            row.payload
            for row in s.scalars(
                select(OutboxEntry).where(OutboxEntry.job == "rapport.tenants.events.record_event")
            )
            if row.payload["type"] == "deal.stage_changed"
            and row.payload["record_id"] == deal["id"]
        ]
        assert event["data"]["to_stage_id"] == lost["id"]

    assert api_a.delete(path).status_code == 204
    api_error(api_a.get(path), 404)
    with app.app_context(), tenant_session(tenant_a.ref) as s:
        entries = list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.target_id == deal["id"])
                .order_by(AuditEntry.seq)
            )
        )
        assert [e.action for e in entries] == [
            "deal.created", "deal.updated", "deal.stage_changed", "deal.deleted"
        ]  # fmt: skip
        assert {(e.actor_type, e.actor_id) for e in entries} == {("api_key", str(api_a.key.id))}


def moved_key_label(app, api) -> str:
    from rapport.platform.apikeys.models import ApiKey
    from rapport.platform.db import db

    with app.app_context():
        return db.session.get(ApiKey, api.key.id).name


def test_tenant_a_key_cannot_touch_tenant_b_deals_or_stages(app, api_a, tenant_b, api_error):
    name = unique("B secret deal")
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        deal = deal_services.create_deal(s, {"name": name, "currency": "USD"})
        deal_id, stage_id, pipeline_id = deal.id, deal.stage_id, deal.pipeline_id
    path = f"/api/v1/deals/{deal_id}"
    api_error(api_a.get(path), 404)
    api_error(api_a.patch(path, json={"name": "Stolen"}), 404)
    api_error(api_a.post(f"{path}/move", json={"stage_id": str(stage_id)}), 404)
    api_error(api_a.delete(path), 404)
    api_error(api_a.get(f"/api/v1/pipelines/{pipeline_id}"), 404)
    assert name not in api_a.get("/api/v1/deals", query_string={"q": name}).get_data(as_text=True)
    # B's stage named in A's deal: refused as a field of the body, nothing created.
    body = api_error(
        api_a.post(
            "/api/v1/deals", json={"name": name, "currency": "USD", "stage_id": str(stage_id)}
        ),
        422,
    )
    assert "stage_id" in body["errors"]["json"]
    own = api_a.post("/api/v1/deals", json={"name": unique("A deal"), "currency": "USD"}).get_json()
    api_error(api_a.post(f"/api/v1/deals/{own['id']}/move", json={"stage_id": str(stage_id)}), 422)
    with app.app_context(), tenant_session(tenant_b.ref) as s:
        kept = s.get(Deal, deal_id)
        assert kept is not None and kept.name == name and kept.stage_id == stage_id
        assert (
            len(list(s.scalars(select(DealStageChange).where(DealStageChange.deal_id == deal_id))))
            == 1
        )


def test_a_read_only_key_reads_deals_and_pipelines_but_cannot_move_them(
    app, new_key, api_for, api_a, tenant_a, api_error
):
    deal = api_a.post("/api/v1/deals", json={"name": unique("RO"), "currency": "USD"}).get_json()
    reader = api_for(new_key(tenant_a, role="read_only"))
    assert reader.get("/api/v1/pipelines").status_code == 200
    assert reader.get(f"/api/v1/deals/{deal['id']}").status_code == 200
    won = [s for s in stages_of(reader).values() if s["kind"] == "won"][0]
    api_error(reader.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": won["id"]}), 403)
    api_error(reader.post("/api/v1/deals", json={"name": "x", "currency": "USD"}), 403)
    assert reader.get(f"/api/v1/deals/{deal['id']}").get_json()["status"] == "open"


def test_deal_input_errors_are_422_naming_fields(api_a, api_error):
    body = api_error(api_a.post("/api/v1/deals", json={"amount": "lots", "currency": "XYZ"}), 422)
    assert {"name", "amount", "currency"} <= set(body["errors"]["json"])
    api_error(api_a.post(f"/api/v1/deals/{uuid.uuid4()}/move", json={"stage_id": "x"}), 404)
