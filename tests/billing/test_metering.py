"""Hourly usage totals (idempotent, revisioned), the API's hard quota and the soft-limit banner."""

from __future__ import annotations

import datetime as dt
import html

from sqlalchemy import select

from rapport.billing import metering
from rapport.billing.models import UsageHour
from rapport.billing.plans import PLANS
from rapport.platform.apikeys import limits
from rapport.platform.db import db, utcnow
from rapport.platform.jobs.schedule import MemoryClaims, Scheduler, declared
from rapport.platform.tenancy.scope import tenant_session
from rapport.tenants.companies import services as companies

from .conftest import days_ago

HOUR = dt.timedelta(hours=1)


def rows_of(app, tenant) -> dict[tuple[str, dt.datetime], tuple[int, int]]:  # type: ignore[no-untyped-def]
    with app.app_context():
        found = db.session.scalars(
            select(UsageHour).where(UsageHour.tenant_id == tenant.ref.id)
        ).all()
        result = {(r.meter, r.hour): (r.quantity, r.revision) for r in found}
        db.session.rollback()
        return result


def flush(app, now: dt.datetime):  # type: ignore[no-untyped-def]
    with app.app_context():
        report = metering.write_hourly_totals(db.session, now)
        db.session.commit()
        return report


def test_hourly_totals_are_written_once_and_revised_when_they_change(
    app, tenants, new_tenant, api_of
) -> None:
    tenant = new_tenant("Metered")
    api = api_of(tenant)
    with app.app_context(), tenant_session(tenant.ref) as session:
        companies.create_company(session, {"name": "Counted Co"})
    now = utcnow()
    for _ in range(3):
        assert api.get("/api/v1/companies").status_code == 200
    hour = metering.floor_hour(now)
    flush(app, now)
    first = rows_of(app, tenant)
    assert first[("api_calls", hour)] == (3, 1)
    assert first[("records", hour)] == (1, 1)

    flush(app, now)  # the same totals: nothing changes
    assert rows_of(app, tenant) == first

    assert api.get("/api/v1/companies").status_code == 200
    flush(app, now)
    assert rows_of(app, tenant)[("api_calls", hour)] == (4, 2)

    later = now + HOUR
    flush(app, later)
    rows = rows_of(app, tenant)
    assert rows[("records", hour + HOUR)] == (1, 1)  # a new hour is a new row
    assert rows[("api_calls", hour)] == (4, 2)
    # Every workspace's totals are its own counters.
    for other in tenants:
        with app.app_context():
            own = limits.api_calls(other.ref.id, hour)
        assert rows_of(app, other).get(("api_calls", hour), (0, 0))[0] == own


def test_the_flush_is_declared_as_periodic_control_plane_work(app) -> None:
    submitted = []
    with app.app_context():
        fired = Scheduler(declared(), MemoryClaims(), submitted.append).tick(now=1_000_000.0)
    assert "usage-flush" in fired
    assert "rapport.billing.metering.flush_usage" in [t.name for t in submitted]


def test_the_api_answers_402_at_the_hard_quota_and_does_not_count_the_refused_call(
    app, tenants, new_tenant, api_of, edit_subscription
) -> None:
    tenant = new_tenant("Capped")
    api = api_of(tenant)
    cap = PLANS["trial"].hard_cap("api_calls")
    edit_subscription(tenant, current_period_start=days_ago(1))
    now = utcnow()
    with app.app_context():
        # Earlier today this workspace used all but one call of its trial.
        metering.record_total(db.session, tenant.ref.id, "api_calls", now - 3 * HOUR, cap - 1)
        db.session.commit()
    assert api.get("/api/v1/companies").status_code == 200
    refused = api.get("/api/v1/companies")
    assert refused.status_code == 402
    body = refused.get_json()
    assert body["code"] == 402
    assert "The Free trial plan's API calls quota is used up (10,000 of 10,000" in body["message"]
    assert "Upgrade the plan in Settings → Billing" in body["message"]
    with app.app_context():
        assert limits.api_calls(tenant.ref.id, now) == 1  # the refused call was not counted
    # Another workspace is not affected.
    assert api_of(tenants[0]).get("/api/v1/companies").status_code == 200


def test_the_banner_warns_at_the_soft_limit(
    app, auth, client, new_tenant, edit_subscription
) -> None:
    tenant = new_tenant("Warned")
    included = PLANS["trial"].included["api_calls"]
    edit_subscription(tenant, current_period_start=days_ago(1))
    with app.app_context():
        metering.record_total(
            db.session, tenant.ref.id, "api_calls", utcnow() - 5 * HOUR, included * 85 // 100
        )
        db.session.commit()
    auth.login_as(tenant)
    page = html.unescape(client.get(f"/{tenant.slug}/companies/").get_data(as_text=True))
    assert "API calls: 85% of the 10,000 included this period." in page
