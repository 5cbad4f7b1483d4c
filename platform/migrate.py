"""Schema versions: two Alembic trees, one for the control plane and one for tenant schemas."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS = Path(__file__).parent / "migrations"
BASE = "base"


@cache
def tenant_script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS / "tenant"))


@cache
def control_script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS / "control"))


def tenant_head() -> str:
    return tenant_script().get_current_head() or BASE


def stamp_new_tenant(conn: Connection, schema: str) -> str:
    """Record a freshly created tenant schema as being at the head revision."""
    head = tenant_head()
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    if head != BASE:
        ctx.stamp(tenant_script(), head)
    else:
        ctx._version.create(conn, checkfirst=False)
    return head


def upgrade_control_plane(runtime) -> None:  # type: ignore[no-untyped-def]
    """Bring the control plane to the current version and give the app role its rights."""
    from rapport.platform.metadata import control_metadata
    from rapport.platform.tenancy import roles

    settings = runtime.settings
    metadata = control_metadata()
    if runtime.is_postgres:
        with runtime.owner_engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS platform")
            if not settings.database_app_url:
                roles.ensure_app_role(conn, settings)
            metadata.create_all(conn)
            roles.grant_control_plane(conn, settings, runtime.app_role)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with runtime.owner_engine.connect() as conn, conn.begin():
            metadata.create_all(conn)
