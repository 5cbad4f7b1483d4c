"""Every API operation, derived from the application's routes, is scoped to the key's tenant.

The operations are not listed here: they come from ``app.url_map`` (every rule under /api/v1), so
a route added later is tested as soon as it exists. What this file knows is how to make a record
for each kind of id a path can name (``ID_KINDS``); a route with a path parameter it does not know
fails the test until someone says what the parameter names.

- Tenant A's key with tenant B's real ids gets 404 on every operation, and B's rows (every table of
  its schema) are exactly as they were.
- A revoked or expired key gets 401 on every operation.
- A read-only key gets 403 on every write operation, even with its own tenant's ids, and its
  tenant's rows are unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from rapport.platform.apikeys.models import ApiKey
from rapport.platform.db import db, utcnow
from rapport.platform.metadata import tenant_metadata
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.views import services as view_services
from rapport.tenants.webhooks.models import WebhookDelivery

PREFIX = "/api/v1/"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

#: Path parameter → the kind of record it names (a key of the world ``make_world`` builds).
ID_KINDS = {
    "company_id": "company",
    "contact_id": "contact",
    "deal_id": "deal",
    "lead_id": "lead",
    "activity_id": "activity",
    "note_id": "note",
    "attachment_id": "attachment",
    "field_id": "field",
    "pipeline_id": "pipeline",
    "endpoint_id": "webhook_endpoint",
    "delivery_id": "webhook_delivery",
    "team_id": "team",
    "member_id": "team_member",
    "territory_id": "territory",
    "plan_id": "visit_plan",
    "customer_id": "visit_customer",
    "visit_id": "visit",
    "view_id": "view",
    "workflow_id": "workflow",
}

#: A body that passes the checks each write would make of its input, so that the answer tells
#: about the id, not the body. Unknown fields are harmless: the record is looked up first.
BODY = {
    "name": "Taken over",
    "subject": "Taken over",
    "body": "Taken over",
    "last_name": "Taken over",
    "label": "Taken over",
    "description": "Taken over",
    "is_manager": True,
    "outcome": "Taken over",
}


def _ok(response: Any, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_json()


def make_world(app: Any, tenant: Any, admin: Any) -> dict[str, str]:
    """One record of every kind in ``tenant``, made by its own admin key: kind → id."""
    tag = secrets.token_hex(4)
    w: dict[str, str] = {}
    w["company"] = _ok(admin.post("/api/v1/companies", json={"name": f"World {tag}"}))["id"]
    w["contact"] = _ok(admin.post("/api/v1/contacts", json={"last_name": f"World {tag}"}))["id"]
    w["deal"] = _ok(admin.post("/api/v1/deals", json={"name": f"World {tag}", "currency": "EUR"}))[
        "id"
    ]
    w["lead"] = _ok(admin.post("/api/v1/leads", json={"last_name": f"World {tag}"}))["id"]
    w["activity"] = _ok(admin.post("/api/v1/activities", json={"subject": f"World {tag}"}))["id"]
    on_company = {"record_type": "companies", "record_id": w["company"]}
    w["note"] = _ok(admin.post("/api/v1/notes", json={**on_company, "body": "World"}))["id"]
    w["attachment"] = _ok(
        admin.post(
            "/api/v1/notes/attachments",
            data={**on_company, "file": (io.BytesIO(PNG), "world.png", "image/png")},
            content_type="multipart/form-data",
        )
    )["id"]
    w["field"] = _ok(
        admin.post(
            "/api/v1/fields",
            json={"record_type": "companies", "api_name": f"w_{tag}", "label": "W", "type": "text"},
        )
    )["id"]
    w["pipeline"] = _ok(admin.get("/api/v1/pipelines"), 200)["items"][0]["id"]
    w["webhook_endpoint"] = _ok(
        admin.post(
            "/api/v1/webhooks",
            json={"url": "https://hooks.example.com/world", "event_types": ["company.created"]},
        )
    )["id"]
    w["team"] = _ok(admin.post("/api/v1/teams", json={"name": f"World {tag}"}))["id"]
    w["team_member"] = _ok(
        admin.post(f"/api/v1/teams/{w['team']}/members", json={"user_id": str(tenant.owner_id)})
    )["id"]
    w["territory"] = _ok(
        admin.post("/api/v1/territories", json={"name": f"World {tag}", "team_id": w["team"]})
    )["id"]
    plan = _ok(
        admin.post(
            "/api/v1/visit-plans",
            json={
                "name": f"World {tag}",
                "owner_id": str(tenant.owner_id),
                "unit": "days",
                "starts_on": utcnow().date().isoformat(),
                "customers": [on_company],
            },
        )  # fmt: skip
    )
    w["visit_plan"], w["visit_customer"] = plan["id"], plan["customers"][0]["id"]
    w["visit"] = _ok(admin.get(f"/api/v1/visit-plans/{plan['id']}/visits"), 200)["items"][0]["id"]
    email = {"type": "email", "to": "world@example.com", "subject": "Gone", "body": "{{ name }}"}
    # Switched off: it never runs (the snapshots compare every row of the schema).
    workflow = {
        "name": f"World {tag}",
        "record_type": "companies",
        "trigger": "deleted",
        "actions": [email],
        "active": False,
    }
    w["workflow"] = _ok(admin.post("/api/v1/workflows", json=workflow))["id"]
    with app.app_context(), tenant_session(tenant.ref) as s:
        delivery = WebhookDelivery(
            endpoint_id=uuid.UUID(w["webhook_endpoint"]),
            event_id=str(uuid.uuid4()),
            event_type="company.created",
            payload={"type": "company.created"},
            state="failed",
        )
        s.add(delivery)
        s.flush()
        w["webhook_delivery"] = str(delivery.id)
        view = view_services.save_view(s, tenant.owner_id, "companies", {"name": f"World {tag}"})
        w["view"] = str(view.id)
    return w


def snapshot(app: Any, tenant: Any) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the tenant's schema."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with app.app_context(), tenant_session(tenant.ref) as s:
        for table in tenant_metadata().sorted_tables:
            rows = s.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


@dataclasses.dataclass(frozen=True)
class Operation:
    method: str
    rule: str
    arguments: tuple[str, ...]

    def path(self, world: dict[str, str]) -> str:
        """The rule with each id filled from ``world``; fails on a parameter nobody described."""
        path = self.rule
        for name in self.arguments:
            assert name in ID_KINDS, (
                f"{self.method} {self.rule}: path parameter {name!r} is not in ID_KINDS; say "
                "which record it names so that this test can prove the route is tenant-scoped"
            )
            path = path.replace(f"<uuid:{name}>", world[ID_KINDS[name]])
            path = path.replace(f"<{name}>", world[ID_KINDS[name]])
        return path

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def operations(app: Any) -> list[Operation]:
    """Every (method, rule) the application serves under /api/v1."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PREFIX):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append(Operation(method, rule.rule, tuple(sorted(rule.arguments))))
    return sorted(out, key=str)


def call(client: Any, key_text: str, method: str, path: str) -> Any:
    headers = {"Authorization": f"Bearer {key_text}"}
    if method in ("POST", "PUT", "PATCH"):
        return client.open(path, method=method, json=BODY, headers=headers)
    return client.open(path, method=method, headers=headers)


@pytest.fixture()
def generous_limits(app: Any) -> Iterator[None]:
    """This file makes a few hundred calls in a minute; the rate limit is not what it tests."""
    before = app.config["RAPPORT"]
    app.config["RAPPORT"] = dataclasses.replace(
        before, api_rate_per_minute=100_000, api_tenant_rate_per_minute=100_000
    )
    yield
    app.config["RAPPORT"] = before


@pytest.fixture()
def worlds(app, tenant_a, tenant_b, new_key, api_for, generous_limits):  # type: ignore[no-untyped-def]
    return {
        "a": make_world(app, tenant_a, api_for(new_key(tenant_a, "admin"))),
        "b": make_world(app, tenant_b, api_for(new_key(tenant_b, "admin"))),
    }


def test_the_operations_are_found_and_every_id_parameter_is_known(app):
    found = operations(app)
    with_ids = [op for op in found if op.arguments]
    assert len(with_ids) >= 30, [str(op) for op in with_ids]
    unknown = sorted({f"{op}: {a}" for op in with_ids for a in op.arguments if a not in ID_KINDS})
    assert unknown == [], "path parameters that name no known record kind: " + ", ".join(unknown)


def test_tenant_as_key_with_tenant_bs_ids_finds_nothing_and_changes_nothing(
    app, client, tenant_a, tenant_b, new_key, api_for, worlds
):
    # Keys made by the workspaces' owners: they see their creators' saved views.
    b_key = new_key(tenant_b, "admin", created_by=tenant_b.owner_id)
    a_key = new_key(tenant_a, "admin", created_by=tenant_a.owner_id)
    with_ids = [op for op in operations(app) if op.arguments]
    # The ids are real: B's own key reads every one of them.
    for op in with_ids:
        if op.method == "GET":
            response = call(client, b_key.text, "GET", op.path(worlds["b"]))
            assert response.status_code == 200, f"{op} with B's key: {response.status_code}"
    before = snapshot(app, tenant_b)
    wrong = []
    for op in with_ids:
        response = call(client, a_key.text, op.method, op.path(worlds["b"]))
        if response.status_code != 404:
            wrong.append(f"{op}: {response.status_code} {response.get_data(as_text=True)[:200]}")
        else:
            body = response.get_json()
            assert body and body["code"] == 404, f"{op}: not the API's error shape"
    assert wrong == [], "tenant A's key reached tenant B's records:\n" + "\n".join(wrong)
    after = snapshot(app, tenant_b)
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [], f"tenant B's tables changed: {changed}"


def test_revoked_and_expired_keys_are_refused_on_every_operation(
    app, client, tenant_a, new_key, worlds
):
    revoked = new_key(tenant_a, "admin", created_by=tenant_a.owner_id)
    expired = new_key(tenant_a, "admin", expires_in_days=1, created_by=tenant_a.owner_id)
    with app.app_context():
        from rapport.platform.apikeys import services as apikeys

        apikeys.revoke_key(db.session, revoked.id)
        db.session.execute(
            update(ApiKey)
            .where(ApiKey.id == expired.id)
            .values(expires_at=utcnow() - dt.timedelta(seconds=1))
        )
        apikeys.forget_keys(expired.tenant.ref.id)
        db.session.commit()
    before = snapshot(app, tenant_a)
    wrong = []
    for op in operations(app):
        path = op.path(worlds["a"])
        for name, key in (("revoked", revoked), ("expired", expired)):
            response = call(client, key.text, op.method, path)
            if response.status_code != 401:
                wrong.append(f"{name} {op}: {response.status_code}")
    assert wrong == []
    assert snapshot(app, tenant_a) == before


def test_a_read_only_key_cannot_write_anywhere(app, client, tenant_a, new_key, worlds):
    reader = new_key(tenant_a, "read_only", created_by=tenant_a.owner_id)
    writes = [op for op in operations(app) if op.method in WRITES]
    assert len(writes) >= 20
    before = snapshot(app, tenant_a)
    wrong = []
    for op in writes:
        response = call(client, reader.text, op.method, op.path(worlds["a"]))
        if response.status_code != 403:
            wrong.append(f"{op}: {response.status_code}")
    assert wrong == [], "a read-only key wrote:\n" + "\n".join(wrong)
    assert snapshot(app, tenant_a) == before


def test_a_key_revoked_by_another_process_is_refused_on_the_next_request(
    app, client, tenant_a, new_key, tmp_path
):
    """The server caches what it read about a key; a revocation made elsewhere (here the CLI, in
    its own process, as an operator would run it) must still reach it on the very next request."""
    key = new_key(tenant_a, "read_only")
    headers = {"Authorization": f"Bearer {key.text}"}
    assert client.get("/api/v1/companies", headers=headers).status_code == 200  # now cached
    settings = app.config["RAPPORT"]
    env = {
        **os.environ,
        **{
            f"RAPPORT_{f.name.upper()}": str(getattr(settings, f.name))
            for f in dataclasses.fields(settings)
            if f.name
            in (
                "env",
                "data_dir",
                "database_url",
                "database_app_url",
                "redis_url",
                "secret_key",
                "role_prefix",
            )  # fmt: skip
        },
    }
    cli = [sys.executable, "-c", "from rapport.platform.cli import main; main()"]
    done = subprocess.run(
        [*cli, "api-keys", "revoke", str(key.id)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert client.get("/api/v1/companies", headers=headers).status_code == 401
