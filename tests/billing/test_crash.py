"""The flush and push workers killed with SIGKILL at random points, many times over: afterwards
Stripe's meters hold exactly our ledger, for every tenant, meter and hour.

Real processes (``crash_worker.py``) run the worker against PostgreSQL, Redis and the fake Stripe;
between runs the ledger moves on (new API calls through the hot path's counters, corrected totals
of older hours), and the fake Stripe now and then answers 429 or 500.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from rapport.billing import catalog, meter_push, metering
from rapport.billing.models import UsageHour
from rapport.platform.apikeys import limits
from rapport.platform.db import db, utcnow

RUNS = int(os.environ.get("RAPPORT_CRASH_RUNS", "30"))
HOUR = dt.timedelta(hours=1)
WORKER = Path(__file__).with_name("crash_worker.py")


def _overrides(app, fake) -> dict[str, object]:  # type: ignore[no-untyped-def]
    settings = app.config["RAPPORT"]
    return {
        "env": "test", "data_dir": str(settings.data_dir), "database_url": settings.database_url,
        "role_prefix": settings.role_prefix, "redis_url": settings.redis_url,
        "stripe_api_key": fake.api_key, "stripe_api_base": fake.url,
        "stripe_webhook_secret": fake.webhook_secret,
    }  # fmt: skip


def _move_ledger(app, rng: random.Random, tenants, now: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    """What happens between two runs: API calls counted by the hot path in the recent hours,
    and the row-derived meters of older hours written (or corrected) as the flush would."""
    limiter = limits.limiter(app)
    current = metering.floor_hour(now)
    with app.app_context():
        for tenant in tenants:
            for back in range(metering.LOOKBACK_HOURS + 1):
                label = limits.hour_of(current - back * HOUR)
                calls = rng.randint(0, 40)
                if calls:  # the hot path's counter (the same Redis hash the API increments)
                    limiter.redis.hincrby(
                        limiter._usage_key(str(tenant.ref.id), label), limits.METER, calls
                    )
            for _ in range(rng.randint(3, 12)):
                meter = rng.choice(("workflow_runs", "emails"))
                hour = current - rng.randint(3, 48) * HOUR
                metering.record_total(db.session, tenant.ref.id, meter, hour, rng.randint(1, 500))
        db.session.commit()


def test_killed_workers_leave_stripe_equal_to_the_ledger(
    app, backend, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    if backend != "postgres":
        pytest.skip("worker processes run against PostgreSQL and Redis")
    tenants = [new_tenant("Crash One"), new_tenant("Crash Two")]
    for tenant in tenants:
        paying(tenant)
    rng = random.Random(int(os.environ.get("RAPPORT_CRASH_SEED", "20261123")))
    overrides = json.dumps(_overrides(app, fake_stripe))
    kills = 0
    for _run in range(RUNS):
        _move_ledger(app, rng, tenants, utcnow())
        if rng.random() < 0.3:
            fake_stripe.fail_next(
                "/v1/billing/meter_events", rng.choice((429, 500)), rng.randint(1, 3)
            )
        worker = subprocess.Popen(
            [sys.executable, str(WORKER), overrides, *(str(t.ref.id) for t in tenants)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.wait(timeout=rng.uniform(0.0, 1.5))  # a random point of its work
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            kills += 1
        worker.wait()
        worker.stdout.close()
    assert kills == RUNS  # every run ended by SIGKILL, never by itself
    assert fake_stripe.meter_events  # the killed workers did reach Stripe before dying

    # One last uninterrupted pass (what the next scheduled run does), then compare.
    fake_stripe.failures.clear()
    with app.app_context():
        ids = [t.ref.id for t in tenants]
        metering.write_hourly_totals(db.session, tenant_ids=ids)
        db.session.commit()
        report = meter_push.push_usage(tenant_ids=ids)
        assert report.failed_tenants == 0 and report.skipped_tenants == 0
        for tenant in tenants:
            customer = subscription_of(tenant).stripe_customer_id
            rows = db.session.scalars(
                select(UsageHour).where(
                    UsageHour.tenant_id == tenant.ref.id, UsageHour.meter.in_(catalog.METERED)
                )
            ).all()
            assert rows and all(r.pushed_revision == r.revision for r in rows)
            for meter in catalog.METERED:
                ours = {int(r.hour.timestamp()): r.quantity for r in rows if r.meter == meter}
                theirs = fake_stripe.hourly(catalog.event_name(meter), customer)
                assert theirs == ours, (tenant.slug, meter)
                billed = fake_stripe.meter_total(catalog.event_name(meter), customer)
                if catalog.FORMULAS[meter] == "last":  # a level: the latest hour's count
                    assert billed == (ours[max(ours)] if ours else 0), (tenant.slug, meter)
                else:
                    assert billed == sum(ours.values()), (tenant.slug, meter)
        db.session.rollback()
