"""Rate limits per key and per tenant, their headers, and the per-tenant usage count."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from rapport.platform.apikeys.limits import api_calls


@pytest.fixture()
def limits(app):  # type: ignore[no-untyped-def]
    """``limits(per_key, per_tenant)`` sets the API limits for one test."""
    before = app.config["RAPPORT"]

    def apply(per_key: int, per_tenant: int) -> None:
        app.config["RAPPORT"] = dataclasses.replace(
            before, api_rate_per_minute=per_key, api_tenant_rate_per_minute=per_tenant
        )

    yield apply
    app.config["RAPPORT"] = before


def calls_until_refused(make_client, budget: int) -> tuple[list, object]:
    """Call until a 429 (or ``budget`` calls). A window that turned over mid-way starts again
    with a fresh key, whose count in the new window is zero."""
    for _attempt in range(3):
        client = make_client()
        answers = [client.get("/api/v1/companies") for _ in range(budget)]
        statuses = [a.status_code for a in answers]
        if 429 in statuses:
            first = statuses.index(429)
            if first == budget - 1:
                return answers[:first], answers[first]
    raise AssertionError(f"no 429 at call {budget}: {statuses}")


def test_a_key_over_its_limit_gets_429_with_the_rate_limit_headers(
    new_key, api_for, tenant_a, limits, api_error
):
    limits(3, 1000)
    allowed, refused = calls_until_refused(lambda: api_for(new_key(tenant_a)), 4)
    assert [a.headers["X-RateLimit-Remaining"] for a in allowed] == ["2", "1", "0"]
    assert all(a.headers["X-RateLimit-Limit"] == "3" for a in allowed)
    assert all(1 <= int(a.headers["X-RateLimit-Reset"]) <= 60 for a in allowed)
    body = api_error(refused, 429)
    assert body["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # Another key of the same tenant has its own budget.
    assert api_for(new_key(tenant_a)).get("/api/v1/companies").status_code == 200


def test_the_tenant_limit_binds_all_its_keys_together(
    new_key, api_for, new_tenant, limits, api_error
):
    tenant = new_tenant("Limited")
    limits(1000, 4)
    first, second = api_for(new_key(tenant)), api_for(new_key(tenant))
    for _attempt in range(3):
        statuses = [c.get("/api/v1/companies").status_code for c in (first, second) * 2]
        refused = second.get("/api/v1/companies")
        if statuses == [200] * 4 and refused.status_code == 429:
            assert refused.headers["X-RateLimit-Limit"] == "4"
            api_error(refused, 429)
            return
    raise AssertionError("the tenant limit did not bind")


def test_every_call_let_through_counts_as_usage_for_the_tenant(
    app, new_key, api_for, new_tenant, limits
):
    tenant = new_tenant("Metered")
    limits(3, 1000)
    hour = dt.datetime.now(dt.UTC)
    client = api_for(new_key(tenant))
    statuses = [client.get("/api/v1/companies").status_code for _ in range(5)]
    # Calls refused by the limit are not billed (unless the minute turned over mid-way).
    with app.app_context():
        counted = api_calls(tenant.ref.id, hour) + api_calls(
            tenant.ref.id, hour + dt.timedelta(hours=1)
        )
    assert counted == statuses.count(200)
    assert 3 <= counted <= 5
    with app.app_context():
        assert api_calls(tenant.ref.id, hour - dt.timedelta(hours=1)) == 0
