"""Billing: a subscription per tenant, hourly usage totals, handled Stripe events.

Revision ID: c0003
Revises: c0002
Create Date: 2026-11-23

Additive: three new tables that older code never reads. The data step gives every existing tenant
a subscription (a trial of 14 days from now, on the tenant's recorded plan when the catalog knows
it), since code from this revision on expects one per tenant.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from rapport.platform.ids import new_id

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None
# What this revision adds to the models: ("table", name, "") | ("column", table, name) |
# ("index", table, name). A regenerated baseline leaves these to this revision.
adds: tuple[tuple[str, str, str], ...] = (
    ("table", "subscriptions", ""),
    ("table", "usage_hours", ""),
    ("table", "stripe_events", ""),
)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("plan", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("trial_ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["platform.tenants.id"],
            name=op.f("fk_subscriptions_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_subscriptions_tenant_id")),
        schema="platform",
    )
    op.create_table(
        "usage_hours",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("meter", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("pushed_revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["platform.tenants.id"],
            name=op.f("fk_usage_hours_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_hours")),
        sa.UniqueConstraint(
            "tenant_id", "meter", "hour", name=op.f("uq_usage_hours_tenant_id_meter_hour")
        ),
        schema="platform",
    )
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_events")),
        schema="platform",
    )
    backfill_subscriptions(op.get_bind())


# The catalog's codes when this revision was written (a revision never imports the live catalog).
_PLANS = ("trial", "starter", "growth", "enterprise")
_TRIAL = dt.timedelta(days=14)


def backfill_subscriptions(conn: sa.Connection, now: dt.datetime | None = None) -> int:
    """Give every tenant without a subscription a trialing one; return how many were made."""
    # Tables (not lightweight ``sa.table``): only they follow the schema translation on SQLite.
    meta = sa.MetaData()
    tenants = sa.Table(
        "tenants",
        meta,
        sa.Column("id", sa.Uuid()),
        sa.Column("plan", sa.String()),
        schema="platform",
    )
    subscriptions = sa.Table(
        "subscriptions",
        meta,
        *(sa.Column(name, sa.Uuid()) for name in ("id", "tenant_id")),
        *(sa.Column(name, sa.String()) for name in ("plan", "state")),
        sa.Column("seats", sa.Integer()),
        *(
            sa.Column(name, sa.DateTime(timezone=True))
            for name in (
                "trial_ends_at",
                "current_period_start",
                "current_period_end",
                "created_at",
                "updated_at",
            )
        ),  # fmt: skip
        schema="platform",
    )
    now = now or dt.datetime.now(dt.UTC)
    if conn.dialect.name == "sqlite":  # stored without an offset, read back as UTC
        now = now.replace(tzinfo=None)
    missing = conn.execute(
        sa.select(tenants.c.id, tenants.c.plan).where(
            ~sa.exists().where(subscriptions.c.tenant_id == tenants.c.id)
        )
    ).all()
    rows = [
        {
            "id": new_id(),
            "tenant_id": tenant_id,
            "plan": plan if plan in _PLANS else "trial",
            "state": "trialing",
            "seats": 1,
            "trial_ends_at": now + _TRIAL,
            "current_period_start": now,
            "current_period_end": now + _TRIAL,
            "created_at": now,
            "updated_at": now,
        }  # fmt: skip
        for tenant_id, plan in missing
    ]
    if rows:
        conn.execute(sa.insert(subscriptions), rows)
    return len(rows)


def downgrade() -> None:
    op.drop_table("stripe_events", schema="platform")
    op.drop_table("usage_hours", schema="platform")
    op.drop_table("subscriptions", schema="platform")
