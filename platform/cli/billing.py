"""``rapport billing`` (usage, report, sync-plans, push, reconcile, sweep) and
``rapport tenants set-plan`` for operators."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import with_appcontext
from rich.markup import escape
from rich.table import Table
from sqlalchemy import select

from rapport.platform.cli.tenants import EXIT_INVALID, _cli_actor, _console, _get_tenant


@click.group("billing")
def billing() -> None:
    """Plans, subscriptions and usage."""


@click.command("set-plan")
@click.argument("slug")
@click.argument("plan")
@with_appcontext
def set_plan_command(slug: str, plan: str) -> None:
    """Move a workspace to another plan (audited in the control plane)."""
    from rapport.billing import services
    from rapport.platform.db import db
    from rapport.platform.errors import NotFound, ValidationFailed

    tenant = _get_tenant(slug)
    try:
        subscription = services.set_plan(db.session, tenant.id, plan.strip(), actor=_cli_actor())
    except ValidationFailed as exc:
        db.session.rollback()
        for message in exc.errors.get("plan", [exc.message]):
            click.echo(f"plan: {message}", err=True)
        raise click.exceptions.Exit(EXIT_INVALID) from None
    except NotFound as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    plan_code, state = subscription.plan, subscription.state
    db.session.commit()
    click.echo(f"{tenant.slug} is now on the {plan_code} plan ({state}).")


def _usage_of(tenant: Any) -> dict[str, Any]:
    from rapport.billing import quotas, services
    from rapport.billing.plans import plan_or_trial
    from rapport.platform.db import db

    subscription = services.subscription_of(db.session, tenant.id)
    seats = services.active_seats(db.session, tenant.id)
    if subscription is None:
        return {"slug": tenant.slug, "plan": None, "state": None, "seats": seats, "mrr": 0}
    plan = plan_or_trial(subscription.plan)
    usage = quotas.period_usage(db.session, subscription)
    return {
        "slug": tenant.slug,
        "plan": plan.code,
        "state": subscription.state,
        "seats": seats,
        "mrr": services.mrr_cents(subscription, seats) / 100,
        "period_start": subscription.current_period_start.isoformat(),
        "period_end": subscription.current_period_end.isoformat(),
        "trial_ends_at": subscription.trial_ends_at.isoformat()
        if subscription.trial_ends_at
        else None,
        "usage": {
            m.meter: {"used": m.used, "included": m.included, "hard_cap": m.hard_cap}
            for m in quotas.meters(plan, usage)
        },
    }


@billing.command("usage")
@click.option("--tenant", "slug", required=True, help="The workspace's address.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def usage_command(slug: str, as_json: bool) -> None:
    """Print this period's usage per meter of one workspace."""
    from rapport.platform.db import db

    details = _usage_of(_get_tenant(slug))
    db.session.rollback()
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    table = Table(title=f"{details['slug']}: {details['plan']} ({details['state']})")
    for column in ("meter", "used", "included", "hard cap"):
        table.add_column(column)
    for meter, row in (details.get("usage") or {}).items():
        cap = "-" if row["hard_cap"] is None else f"{row['hard_cap']:,}"
        table.add_row(meter, f"{row['used']:,}", f"{row['included']:,}", cap)
    _console().print(table)


@billing.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@with_appcontext
def report_command(as_json: bool) -> None:
    """Print every workspace's plan, state, seats, MRR and usage."""
    from rapport.platform.db import db
    from rapport.platform.tenancy.models import Tenant

    tenants = db.session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.slug)).all()
    rows = [_usage_of(t) for t in tenants]
    db.session.rollback()
    if as_json:
        click.echo(json.dumps({"tenants": rows, "mrr": sum(r["mrr"] for r in rows)}, indent=2))
        return
    table = Table(title=f"{len(rows)} workspace(s)")
    for column in ("slug", "plan", "state", "seats", "MRR", "API calls", "records"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        usage = row.get("usage") or {}
        table.add_row(
            escape(row["slug"]), row["plan"] or "-", row["state"] or "-", str(row["seats"]),
            f"${row['mrr']:,.2f}", f"{usage.get('api_calls', {}).get('used', 0):,}",
            f"{usage.get('records', {}).get('used', 0):,}",
        )  # fmt: skip
    _console().print(table)
    click.echo(f"Total MRR: ${sum(r['mrr'] for r in rows):,.2f}")


@billing.command("sync-plans")
@with_appcontext
def sync_plans_command() -> None:
    """Create or update the Stripe products, prices and meters of the plans (idempotent)."""
    from rapport.billing import catalog, stripe_gateway

    try:
        report = catalog.sync_catalog(stripe_gateway.client())
    except stripe_gateway.BillingNotConfigured as exc:
        raise click.ClickException(exc.message) from None
    for line in report.created:
        click.echo(f"Created {line}")
    for line in report.updated:
        click.echo(f"Updated {line}")
    if not report.changed:
        click.echo(f"Stripe is already in step with the plans ({report.unchanged} objects).")


@billing.command("push")
@click.option("--tenant", "slug", default=None, help="Only this workspace.")
@with_appcontext
def push_command(slug: str | None) -> None:
    """Write the hourly usage totals and send the changed ones to Stripe Billing Meters now."""
    from rapport.billing import meter_push, metering
    from rapport.platform.db import db

    only = [_get_tenant(slug).id] if slug else None
    metering.write_hourly_totals(db.session, tenant_ids=only)
    db.session.commit()
    report = meter_push.push_usage(tenant_ids=only)
    click.echo(
        f"Sent {report.sent} hour(s); {report.duplicates} already delivered; "
        f"{report.too_old} too old for Stripe; "
        f"{report.skipped_tenants} workspace(s) left for later."
    )


@billing.command("reconcile")
@click.option("--days", default=3, show_default=True, help="How far back to compare.")
@click.option("--tenant", "slug", default=None, help="Only this workspace.")
@with_appcontext
def reconcile_command(days: int, slug: str | None) -> None:
    """Compare our hourly totals with Stripe's meter summaries; mark differences for resending."""
    from rapport.billing import meter_push

    only = [_get_tenant(slug).id] if slug else None
    differences = meter_push.reconcile(days=days, tenant_ids=only)
    for d in differences:
        click.echo(
            f"{d.tenant_id} {d.meter} {d.hour:%Y-%m-%d %H}:00 ours {d.ours} Stripe {d.stripe}"
        )
    click.echo(f"{len(differences)} difference(s); they are sent again on the next push.")


@billing.command("sweep")
@with_appcontext
def sweep_command() -> None:
    """Run the billing sweep now: trials, periods, retention, soft-limit emails, seats."""
    from rapport.billing import lifecycle
    from rapport.platform.db import db

    report = lifecycle.sweep(db.session)
    db.session.commit()
    click.echo(
        f"Suspended {len(report.suspended)}; rolled over {report.rolled_over}; "
        f"{report.notices} email(s) queued; {report.seats_updated} seat update(s)."
    )


def register(group: click.Group) -> None:
    group.add_command(billing)
    # ``set-plan`` belongs with the other workspace commands an operator knows.
    tenants = group.commands["tenants"]
    assert isinstance(tenants, click.Group)
    tenants.add_command(set_plan_command)
