"""Billing: seat item and sync time, read-only since, pushed meter totals, billing notices.

Revision ID: c0004
Revises: c0003
Create Date: 2026-11-23

Additive: new nullable columns, one new table, and ``usage_hours.pushed_quantity`` filled with
0 for existing rows (nothing was pushed to Stripe before this revision).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rapport.platform.migrate import control_schema

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None
# What this revision adds to the models: ("table", name, "") | ("column", table, name) |
# ("index", table, name). A regenerated baseline leaves these to this revision.
adds: tuple[tuple[str, str, str], ...] = (
    ("table", "billing_notices", ""),
    ("column", "subscriptions", "stripe_seat_item_id"),
    ("column", "subscriptions", "seats_synced_at"),
    ("column", "subscriptions", "read_only_since"),
    ("column", "usage_hours", "pushed_quantity"),
)


def upgrade() -> None:
    schema = control_schema()
    op.create_table(
        "billing_notices",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["platform.tenants.id"],
            name=op.f("fk_billing_notices_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_notices")),
        sa.UniqueConstraint("tenant_id", "key", name=op.f("uq_billing_notices_tenant_id_key")),
        schema="platform",
    )
    op.add_column(
        "subscriptions",
        sa.Column("stripe_seat_item_id", sa.String(length=255), nullable=True),
        schema=schema,
    )
    op.add_column(
        "subscriptions",
        sa.Column("seats_synced_at", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.add_column(
        "subscriptions",
        sa.Column("read_only_since", sa.DateTime(timezone=True), nullable=True),
        schema=schema,
    )
    op.add_column(
        "usage_hours",
        sa.Column("pushed_quantity", sa.BigInteger(), nullable=False, server_default="0"),
        schema=schema,
    )


def downgrade() -> None:
    schema = control_schema()
    op.drop_column("usage_hours", "pushed_quantity", schema=schema)
    op.drop_column("subscriptions", "read_only_since", schema=schema)
    op.drop_column("subscriptions", "seats_synced_at", schema=schema)
    op.drop_column("subscriptions", "stripe_seat_item_id", schema=schema)
    op.drop_table("billing_notices", schema="platform")
