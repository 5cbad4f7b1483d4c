"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from rapport.platform.migrate import tenant_schema
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}
# What this revision adds to the models: ("table", name, "") | ("column", table, name) |
# ("index", table, name). A regenerated baseline leaves these to this revision, and the fleet
# grants the tenant's role on the tables it adds.
adds: tuple[tuple[str, str, str], ...] = ${context.get("adds", "()")}


def upgrade() -> None:
    schema = tenant_schema()
% if upgrades:
    ${upgrades}
% else:
    raise NotImplementedError(f"write the upgrade: every operation takes schema=schema ({schema})")
% endif


def downgrade() -> None:
    schema = tenant_schema()
% if downgrades:
    ${downgrades}
% else:
    raise NotImplementedError(f"write the downgrade: every operation takes schema=schema ({schema})")
% endif
