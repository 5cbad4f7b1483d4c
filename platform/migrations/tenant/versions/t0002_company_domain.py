"""Companies get a web domain (column and index).

Revision ID: t0002
Revises: t0001
Create Date: 2026-05-09

Additive: code that does not know the column keeps working on a half-migrated fleet. The index is
built inside the tenant's transaction (not CONCURRENTLY): one tenant's companies table is small,
and the fleet's lock_timeout bounds the wait for its lock.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rapport.platform.migrate import tenant_schema

revision = "t0002"
down_revision = "t0001"
branch_labels = None
depends_on = None
# What this revision adds to the models: ("table", name, "") | ("column", table, name) |
# ("index", table, name). A regenerated baseline leaves these to this revision, and the fleet
# grants the tenant's role on the tables it adds.
adds: tuple[tuple[str, str, str], ...] = (
    ("column", "companies", "domain"),
    ("index", "companies", "ix_companies_domain"),
)


def upgrade() -> None:
    schema = tenant_schema()
    op.add_column(
        "companies", sa.Column("domain", sa.String(length=255), nullable=True), schema=schema
    )
    op.create_index("ix_companies_domain", "companies", ["domain"], unique=False, schema=schema)


def downgrade() -> None:
    schema = tenant_schema()
    op.drop_index("ix_companies_domain", table_name="companies", schema=schema)
    op.drop_column("companies", "domain", schema=schema)
