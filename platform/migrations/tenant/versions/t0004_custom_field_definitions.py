"""Custom fields: the table of field definitions.

Revision ID: t0004
Revises: t0003
Create Date: 2026-11-23

Additive (one new table). The values live in the existing ``custom`` JSON columns; the expression
indexes of unique and filterable fields are built at run time per tenant, not by migrations.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rapport.platform.migrate import tenant_schema

revision = "t0004"
down_revision = "t0003"
branch_labels = None
depends_on = None
# What this revision adds to the models: ("table", name, "") | ("column", table, name) |
# ("index", table, name). A regenerated baseline leaves these to this revision, and the fleet
# grants the tenant's role on the tables it adds.
adds: tuple[tuple[str, str, str], ...] = (("table", "field_definitions", ""),)


def upgrade() -> None:
    schema = tenant_schema()
    op.create_table(
        "field_definitions",
        sa.Column("record_type", sa.String(length=20), nullable=False),
        sa.Column("api_name", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("help_text", sa.String(length=300), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("unique", sa.Boolean(), nullable=False),
        sa.Column("filterable", sa.Boolean(), nullable=False),
        sa.Column("default", sa.JSON(), nullable=True),
        sa.Column("min_value", sa.Numeric(precision=24, scale=6), nullable=True),
        sa.Column("max_value", sa.Numeric(precision=24, scale=6), nullable=True),
        sa.Column("min_length", sa.Integer(), nullable=True),
        sa.Column("max_length", sa.Integer(), nullable=True),
        sa.Column("pattern", sa.String(length=200), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("section", sa.String(length=100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_definitions")),
        sa.UniqueConstraint(
            "record_type", "api_name", name=op.f("uq_field_definitions_record_type_api_name")
        ),
        schema=schema,
    )


def downgrade() -> None:
    schema = tenant_schema()
    op.drop_table("field_definitions", schema=schema)
