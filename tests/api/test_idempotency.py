"""Idempotency-Key on POST: replays, refusals of another request, concurrency, expiry, tenants."""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from sqlalchemy import func, select, update

from rapport.platform.db import utcnow
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies.models import Company
from rapport.tenants.idempotency.models import IdempotentRequest


def count_named(app, tenant, name: str) -> int:
    with app.app_context(), tenant_session(tenant.ref) as session:
        return session.scalar(select(func.count()).select_from(Company).where(Company.name == name))


def test_a_retried_post_replays_the_first_answer_and_changes_nothing(app, api_a, tenant_a):
    name = f"Once {uuid.uuid4().hex[:8]}"
    headers = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    first = api_a.post("/api/v1/companies", json={"name": name}, headers=headers)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    second = api_a.post("/api/v1/companies", json={"name": name}, headers=headers)
    assert second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json() == first.get_json()
    assert second.headers["ETag"] == first.headers["ETag"]
    assert count_named(app, tenant_a, name) == 1
    # Without a key, a POST is simply made again.
    api_a.post("/api/v1/companies", json={"name": name})
    assert count_named(app, tenant_a, name) == 2


def test_the_same_key_with_another_body_is_refused_clearly(api_a, api_error):
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    assert (
        api_a.post("/api/v1/companies", json={"name": "Body one"}, headers=headers).status_code
        == 201
    )
    body = api_error(
        api_a.post("/api/v1/companies", json={"name": "Body two"}, headers=headers), 422
    )
    assert "different request" in body["message"]
    # ... and on another path too.
    api_error(api_a.post("/api/v1/contacts", json={"first_name": "X"}, headers=headers), 422)


def test_a_failed_request_keeps_no_answer_and_the_key_can_be_used_again(
    app, api_a, api_error, tenant_a
):
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    api_error(api_a.post("/api/v1/companies", json={"name": ""}, headers=headers), 422)
    name = f"Second try {uuid.uuid4().hex[:6]}"
    fixed = api_a.post("/api/v1/companies", json={"name": ""}, headers=headers)
    assert fixed.status_code == 422  # the same bad request runs again, it is not replayed
    assert "Idempotent-Replayed" not in fixed.headers
    api_error(
        api_a.post("/api/v1/companies", json={"name": name}, headers={"Idempotency-Key": "x y"}),
        400,
    )


def test_keys_are_per_api_key_and_per_tenant(app, api_a, new_key, api_for, tenant_a, tenant_b):
    key = f"shared-{uuid.uuid4()}"
    name = f"Per key {uuid.uuid4().hex[:6]}"
    other_a = api_for(new_key(tenant_a))
    api_b = api_for(new_key(tenant_b))
    for api in (api_a, other_a, api_b):
        response = api.post(
            "/api/v1/companies", json={"name": name}, headers={"Idempotency-Key": key}
        )
        assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert count_named(app, tenant_a, name) == 2
    assert count_named(app, tenant_b, name) == 1


def test_a_key_expires_after_24_hours(app, api_a, tenant_a):
    key = f"old-{uuid.uuid4()}"
    name = f"Expiring {uuid.uuid4().hex[:6]}"
    api_a.post("/api/v1/companies", json={"name": name}, headers={"Idempotency-Key": key})
    with app.app_context(), tenant_session(tenant_a.ref) as session:
        session.execute(
            update(IdempotentRequest)
            .where(IdempotentRequest.key == key)
            .values(created_at=utcnow() - dt.timedelta(hours=25))
        )
    again = api_a.post("/api/v1/companies", json={"name": name}, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert count_named(app, tenant_a, name) == 2


def test_a_concurrent_duplicate_gets_409(app, api_a, tenant_a):
    """The first request holds its claim (its transaction is open) while the twin arrives."""
    key = f"race-{uuid.uuid4()}"
    name = f"Raced {uuid.uuid4().hex[:6]}"
    started, release = threading.Event(), threading.Event()
    results: dict[str, int] = {}

    def first() -> None:
        # A request whose view is slow: a claim is made, then the view waits.
        with app.test_request_context(
            "/api/v1/companies", method="POST", json={"name": name},
            headers={"Authorization": f"Bearer {api_a.key.text}", "Idempotency-Key": key},
        ):  # fmt: skip
            from rapport.api import idempotency
            from rapport.api.auth import authenticate_request
            from rapport.platform.tenancy.scope import commit_request

            authenticate_request()
            assert idempotency.begin() is None
            started.set()
            release.wait(10)
            commit_request()
            results["first"] = 201

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    # Release the first shortly after the twin starts waiting for its lock.
    timer = threading.Timer(0.5, release.set)
    timer.start()
    twin = api_a.post("/api/v1/companies", json={"name": name}, headers={"Idempotency-Key": key})
    thread.join(10)
    timer.cancel()
    assert twin.status_code == 409, twin.get_data(as_text=True)
    assert "in progress" in twin.get_json()["message"]


def test_the_document_describes_the_header_on_every_post(api_a):
    document = api_a.get("/api/v1/openapi.json").get_json()
    posts = [ops["post"] for ops in document["paths"].values() if "post" in ops]
    assert posts
    for operation in posts:
        names = [p.get("name") for p in operation.get("parameters", [])]
        assert "Idempotency-Key" in names
        assert "409" in operation["responses"] and "422" in operation["responses"]
