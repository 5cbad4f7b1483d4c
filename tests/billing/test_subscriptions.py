"""Subscriptions: every workspace starts a trial; operators change plans (CLI, audited)."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import delete, select

from rapport.billing import services
from rapport.billing.models import Subscription
from rapport.billing.plans import METERS
from rapport.platform import migrate
from rapport.platform.audit.models import PlatformAuditEntry
from rapport.platform.cli import main
from rapport.platform.db import db, utcnow
from rapport.platform.tenancy.models import Tenant
from rapport.platform.tenancy.scope import tenancy


def audit_actions(app, tenant_id) -> list[str]:  # type: ignore[no-untyped-def]
    with app.app_context():
        actions = list(
            db.session.scalars(
                select(PlatformAuditEntry.action)
                .where(PlatformAuditEntry.tenant_id == tenant_id)
                .order_by(PlatformAuditEntry.seq)
            )
        )
        db.session.rollback()
        return actions


def test_signup_starts_a_fourteen_day_trial_for_each_workspace(
    app, tenants, subscription_of
) -> None:
    for tenant in tenants:
        subscription = subscription_of(tenant)
        assert subscription.state == "trialing" and subscription.plan == "trial"
        assert subscription.seats == 1
        assert subscription.stripe_customer_id is None
        left = subscription.trial_ends_at - utcnow()
        assert dt.timedelta(days=13, hours=23) < left <= dt.timedelta(days=14)
        assert subscription.current_period_end == subscription.trial_ends_at
    assert subscription_of(tenants[0]).id != subscription_of(tenants[1]).id


def test_set_plan_moves_the_workspace_and_is_audited(
    app, runner, tenants, new_tenant, subscription_of
) -> None:
    tenant = new_tenant("Planned")
    result = runner.invoke(main, ["tenants", "set-plan", tenant.slug, "growth"])
    assert result.exit_code == 0, result.output
    assert f"{tenant.slug} is now on the growth plan (active)" in result.output
    subscription = subscription_of(tenant)
    assert (subscription.plan, subscription.state) == ("growth", "active")
    assert subscription.current_period_end - subscription.current_period_start == services.PERIOD
    with app.app_context():
        assert db.session.get(Tenant, tenant.ref.id).plan == "growth"
        entry = db.session.scalars(
            select(PlatformAuditEntry).where(
                PlatformAuditEntry.tenant_id == tenant.ref.id,
                PlatformAuditEntry.action == "subscription.plan_changed",
            )
        ).one()
        assert entry.changes["plan"] == ["trial", "growth"]
        assert entry.changes["state"] == ["trialing", "active"]
        assert "rapport CLI" in (entry.actor_label or "")
        db.session.rollback()
    # The other workspaces keep their plan.
    for other in tenants:
        assert subscription_of(other).plan == "trial"


def test_set_plan_refuses_an_unknown_plan_and_changes_nothing(
    app, runner, new_tenant, subscription_of
) -> None:
    tenant = new_tenant("Unplanned")
    result = runner.invoke(main, ["tenants", "set-plan", tenant.slug, "platinum"])
    assert result.exit_code == 2
    assert "No plan 'platinum'" in result.output
    assert subscription_of(tenant).plan == "trial"
    assert "subscription.plan_changed" not in audit_actions(app, tenant.ref.id)
    missing = runner.invoke(main, ["tenants", "set-plan", "no-such-workspace", "growth"])
    assert missing.exit_code != 0 and "No workspace" in missing.output


def test_the_revision_gives_existing_workspaces_a_trial(app, new_tenant, subscription_of) -> None:
    tenant = new_tenant("Before billing")
    with app.app_context():
        # A workspace created before billing existed has no subscription.
        db.session.execute(delete(Subscription).where(Subscription.tenant_id == tenant.ref.id))
        db.session.commit()
        module = migrate.control_script().get_revision("c0003").module
        with tenancy().owner_engine.connect() as conn, conn.begin():
            assert module.backfill_subscriptions(conn) == 1
        with tenancy().owner_engine.connect() as conn, conn.begin():
            assert module.backfill_subscriptions(conn) == 0  # idempotent
    subscription = subscription_of(tenant)
    assert subscription.state == "trialing" and subscription.plan == "trial"
    assert subscription.trial_ends_at > utcnow() + dt.timedelta(days=13)


def test_usage_and_report_commands_print_plans_states_seats_and_mrr(
    app, runner, tenants, new_tenant
) -> None:
    paying = new_tenant("Paying")
    assert runner.invoke(main, ["tenants", "set-plan", paying.slug, "starter"]).exit_code == 0
    usage = runner.invoke(main, ["billing", "usage", "--tenant", paying.slug, "--json"])
    assert usage.exit_code == 0, usage.output
    details = json.loads(usage.output)
    assert details["plan"] == "starter" and details["state"] == "active"
    assert details["usage"]["api_calls"]["included"] == 50_000
    assert set(details["usage"]) == set(METERS)

    report = runner.invoke(main, ["billing", "report", "--json"])
    assert report.exit_code == 0, report.output
    rows = {row["slug"]: row for row in json.loads(report.output)["tenants"]}
    assert rows[paying.slug]["seats"] == 1 and rows[paying.slug]["mrr"] == 15.0
    for tenant in tenants:
        assert rows[tenant.slug]["state"] == "trialing" and rows[tenant.slug]["mrr"] == 0

    table = runner.invoke(main, ["billing", "report"])
    assert table.exit_code == 0 and paying.slug in table.output and "Total MRR" in table.output
