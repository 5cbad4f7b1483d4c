"""Hourly totals sent to Stripe Billing Meters: once per revision, replayable, reconciled."""

from __future__ import annotations

import datetime as dt

import stripe
from sqlalchemy import select

from rapport.billing import catalog, meter_push, metering
from rapport.billing.models import UsageHour
from rapport.platform.cli import main
from rapport.platform.db import db, utcnow

HOUR = dt.timedelta(hours=1)


def ledger(app, tenant) -> dict[tuple[str, int], tuple[int, int, int]]:  # type: ignore[no-untyped-def]
    """(meter, hour start) → (quantity, revision, pushed revision) of one tenant."""
    with app.app_context():
        rows = db.session.scalars(
            select(UsageHour).where(
                UsageHour.tenant_id == tenant.ref.id, UsageHour.meter.in_(catalog.METERED)
            )
        ).all()
        result = {
            (r.meter, int(r.hour.timestamp())): (r.quantity, r.revision, r.pushed_revision)
            for r in rows
        }
        db.session.rollback()
        return result


def record(app, tenant, meter: str, hour: dt.datetime, quantity: int) -> str:  # type: ignore[no-untyped-def]
    """Write an hour's total the way the flush job does."""
    with app.app_context():
        outcome = metering.record_total(db.session, tenant.ref.id, meter, hour, quantity)
        db.session.commit()
        return outcome


def customer_of(app, tenant, subscription_of) -> str:  # type: ignore[no-untyped-def]
    return subscription_of(tenant).stripe_customer_id


def push(app, *tenants) -> meter_push.PushReport:  # type: ignore[no-untyped-def]
    """Push these tenants (customers of older tests live in other fakes)."""
    with app.app_context():
        return meter_push.push_usage(tenant_ids=[t.ref.id for t in tenants])


def assert_stripe_matches(app, fake, tenant, customer: str) -> None:  # type: ignore[no-untyped-def]
    ours = ledger(app, tenant)
    for meter in catalog.METERED:
        hourly = fake.hourly(catalog.event_name(meter), customer)
        mine = {hour: q for (m, hour), (q, _r, _p) in ours.items() if m == meter}
        assert hourly == mine, meter


def test_changed_hours_reach_stripe_once_per_revision_for_each_tenant(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    first, second = new_tenant("Pusher One"), new_tenant("Pusher Two")
    paying(first), paying(second)
    hour = metering.floor_hour(utcnow()) - 3 * HOUR
    record(app, first, "api_calls", hour, 120)
    record(app, first, "emails", hour, 7)
    record(app, first, "api_calls", hour + HOUR, 5)
    record(app, second, "api_calls", hour, 999)

    report = push(app, first, second)
    assert report.sent >= 4
    c1, c2 = customer_of(app, first, subscription_of), customer_of(app, second, subscription_of)
    assert fake_stripe.meter_total("rapport_api_calls", c1) == 125
    assert fake_stripe.meter_total("rapport_emails", c1) == 7
    assert fake_stripe.meter_total("rapport_api_calls", c2) == 999  # never mixed up
    assert all(p == r for (_q, r, p) in ledger(app, first).values())

    events = len(fake_stripe.meter_events)
    assert (
        push(app, first, second).sent == 0 and len(fake_stripe.meter_events) == events
    )  # nothing changed

    # The flush found more calls in that hour: a new revision replaces Stripe's value.
    assert record(app, first, "api_calls", hour, 150) == "changed"
    push(app, first, second)
    assert fake_stripe.meter_total("rapport_api_calls", c1) == 155
    identifier = meter_push.identifier(first.ref.id, "api_calls", hour, 2)
    assert fake_stripe.meter_events[identifier]["payload"]["value"] == "150"
    assert_stripe_matches(app, fake_stripe, first, c1)
    assert_stripe_matches(app, fake_stripe, second, c2)


def test_a_resend_after_a_lost_acknowledgement_counts_once(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Resent")
    paying(tenant)
    hour = metering.floor_hour(utcnow()) - 2 * HOUR
    record(app, tenant, "workflow_runs", hour, 42)
    push(app, tenant)
    # Our note of the delivery is lost (a worker killed between Stripe's answer and the commit).
    with app.app_context():
        row = db.session.scalars(
            select(UsageHour).where(
                UsageHour.tenant_id == tenant.ref.id, UsageHour.meter == "workflow_runs"
            )
        ).one()
        row.pushed_revision = 0
        db.session.commit()
    report = push(app, tenant)
    assert report.duplicates == 1 and report.sent == 0
    customer = customer_of(app, tenant, subscription_of)
    assert fake_stripe.meter_total("rapport_workflow_runs", customer) == 42
    assert ledger(app, tenant)[("workflow_runs", int(hour.timestamp()))] == (42, 1, 1)


def test_rate_limits_are_waited_out_and_server_errors_retried(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Throttled")
    paying(tenant)
    hour = metering.floor_hour(utcnow()) - 4 * HOUR
    for n in range(3):
        record(app, tenant, "api_calls", hour + n * HOUR, 10 + n)
    fake_stripe.fail_next("/v1/billing/meter_events", 429, times=2)
    fake_stripe.fail_next("/v1/billing/meter_events", 500, times=1)
    report = push(app, tenant)
    assert report.rate_limited == 2
    customer = customer_of(app, tenant, subscription_of)
    assert fake_stripe.meter_total("rapport_api_calls", customer) == 33
    assert_stripe_matches(app, fake_stripe, tenant, customer)


def test_stripe_keeps_refusing_then_the_tenant_waits_for_the_next_run(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Refused")
    paying(tenant)
    hour = metering.floor_hour(utcnow()) - 5 * HOUR
    record(app, tenant, "api_calls", hour, 8)
    record(app, tenant, "api_calls", hour + HOUR, 9)
    fake_stripe.fail_next("/v1/billing/meter_events", 429, times=len(meter_push.BACKOFF) + 1)
    report = push(app, tenant)
    assert report.skipped_tenants == 1
    customer = customer_of(app, tenant, subscription_of)
    assert fake_stripe.meter_total("rapport_api_calls", customer) == 0  # in order: nothing later
    push(app, tenant)
    assert fake_stripe.meter_total("rapport_api_calls", customer) == 17


def test_the_fake_applies_stripes_rules_for_meter_events(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Rules")
    paying(tenant)
    customer = customer_of(app, tenant, subscription_of)
    with app.app_context():
        from rapport.billing import stripe_gateway

        client = stripe_gateway.client()
    old = int((utcnow() - dt.timedelta(days=36)).timestamp())
    cases = [
        ({"timestamp": old, "value": "1"}, "35 calendar days"),
        ({"timestamp": int(utcnow().timestamp()) + 600, "value": "1"}, "5 minutes"),
        ({"timestamp": int(utcnow().timestamp()), "value": "1.5"}, "whole number"),
    ]
    for index, (case, message) in enumerate(cases):
        try:
            client.v1.billing.meter_events.create(
                params={
                    "event_name": "rapport_api_calls",
                    "identifier": f"rules-{index}",
                    "timestamp": case["timestamp"],
                    "payload": {"stripe_customer_id": customer, "value": case["value"]},
                }  # fmt: skip
            )
        except stripe.InvalidRequestError as exc:
            assert message in str(exc.user_message)
        else:
            raise AssertionError(f"accepted {case}")


def test_reconciliation_finds_a_difference_and_the_next_push_repairs_it(
    app, runner, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    tenant = new_tenant("Reconciled")
    paying(tenant)
    hour = metering.floor_hour(utcnow()) - 6 * HOUR
    record(app, tenant, "emails", hour, 30)
    push(app, tenant)
    customer = customer_of(app, tenant, subscription_of)
    clean = runner.invoke(main, ["billing", "reconcile", "--tenant", tenant.slug])
    assert "0 difference(s)" in clean.output, clean.output
    # Stripe lost the hour (or somebody changed it there).
    meter = next(
        m for m in fake_stripe.objects["meters"].values() if m["event_name"] == "rapport_emails"
    )
    fake_stripe.windows[(meter["id"], customer, int(hour.timestamp()))] = 3
    result = runner.invoke(main, ["billing", "reconcile", "--tenant", tenant.slug])
    assert "1 difference(s)" in result.output and "ours 30 Stripe 3" in result.output
    push(app, tenant)
    assert fake_stripe.meter_total("rapport_emails", customer) == 30
    assert (
        "0 difference(s)"
        in runner.invoke(main, ["billing", "reconcile", "--tenant", tenant.slug]).output
    )


def test_stored_records_reach_stripe_as_the_last_count_not_a_sum(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.companies import services as companies

    tenant = new_tenant("Records Billed")
    paying(tenant)
    customer = customer_of(app, tenant, subscription_of)

    def count_and_push(now: dt.datetime) -> int:
        with app.app_context():
            metering.write_hourly_totals(db.session, now, tenant_ids=[tenant.ref.id])
            db.session.commit()
            with tenant_session(tenant.ref) as session:
                stored = metering.count_records(session)
        push(app, tenant)
        return stored

    with app.app_context(), tenant_session(tenant.ref) as session:
        for n in range(3):
            companies.create_company(session, {"name": f"Billed Co {n}"})
    earlier = utcnow() - 2 * HOUR
    first = count_and_push(earlier)
    assert first >= 3
    assert fake_stripe.meter_total("rapport_records", customer) == first

    with app.app_context(), tenant_session(tenant.ref) as session:
        for n in range(4):
            companies.create_company(session, {"name": f"More Co {n}"})
    now = count_and_push(utcnow())
    assert now == first + 4
    # Two hours reported; Stripe bills the last count, not the sum of the hours.
    assert fake_stripe.hourly("rapport_records", customer) == {
        int(metering.floor_hour(earlier).timestamp()): first,
        int(metering.floor_hour(utcnow()).timestamp()): now,
    }
    assert fake_stripe.meter_total("rapport_records", customer) == now
    assert_stripe_matches(app, fake_stripe, tenant, customer)
    # The subscription carries the records overage price next to the others.
    sub = fake_stripe.objects["subscriptions"][subscription_of(tenant).stripe_subscription_id]
    meters = {(i["price"].get("recurring") or {}).get("meter") for i in sub["items"]["data"]}
    records_meter = next(
        m["id"] for m in fake_stripe.objects["meters"].values()
        if m["event_name"] == "rapport_records"
    )  # fmt: skip
    assert records_meter in meters


def test_file_storage_reaches_stripe_in_whole_megabytes_as_a_level(
    app, new_tenant, paying, fake_stripe, subscription_of
) -> None:
    from sqlalchemy import insert

    from rapport.platform.ids import new_id
    from rapport.platform.tenancy.scope import tenant_session
    from rapport.tenants.companies import services as companies
    from rapport.tenants.notes.models import Attachment

    tenant = new_tenant("Storage Billed")
    paying(tenant)
    customer = customer_of(app, tenant, subscription_of)
    with app.app_context(), tenant_session(tenant.ref) as session:
        company = companies.create_company(session, {"name": "Files Billed"})
        session.connection().execute(
            insert(Attachment.__table__),
            [{"id": new_id(), "record_type": "companies", "record_id": company.id,
              "filename": "plans.pdf", "content_type": "application/pdf",
              "size": 3 * 1024 * 1024 + 5, "sha256": "0" * 64, "storage_key": new_id().hex}],
        )  # fmt: skip
    with app.app_context():
        metering.write_hourly_totals(db.session, utcnow(), tenant_ids=[tenant.ref.id])
        db.session.commit()
    push(app, tenant)
    # 3 MB and 5 bytes bill as 4 MB (a started megabyte counts), the last total of the period.
    assert fake_stripe.meter_total("rapport_storage_mb", customer) == 4
    assert_stripe_matches(app, fake_stripe, tenant, customer)
