"""Schema versions: two Alembic trees, one for the control plane and one for tenant schemas.

``platform/migrations/control`` versions the ``platform`` schema (on SQLite: the main file);
``platform/migrations/tenant`` versions every tenant schema, each of which carries its own
``alembic_version`` table (``version_table_schema`` is the tenant's schema). A tenant migration
never names its schema: it asks :func:`tenant_schema` and passes ``schema=`` to every operation,
so the same revision runs on PostgreSQL (schema ``t_<hex>``) and on SQLite (the tenant's file
attached as ``t_<hex>``).

New tenants are created from the current models and stamped at head (provisioning never replays
history), so the baselines ``c0001`` and ``t0001`` only have to agree with the models minus what
later revisions add. Every later revision lists what it adds in ``adds`` (for example
``("column", "companies", "domain")``), and the baselines are rendered by autogenerate from the
current models against an empty database, leaving those objects to their revisions.

Regenerating the baselines (run at the end of a session in which models were added or changed,
before committing; both commands rewrite the file in place and need no database server)::

    rapport db baseline --tree control      # rewrites versions/c0001_baseline.py
    rapport db baseline --tree tenant       # rewrites versions/t0001_baseline.py
    rapport db check                        # history replayed from base must equal the models

(The same from Python: ``rapport.platform.migrate_authoring.write_baseline("tenant")``.)

Once the baselines are frozen (shipped to a deployment), change the schema with a new revision
instead: ``rapport db revision --tree tenant -m "add x" --autogenerate``, then fill in its
``adds`` if autogenerate could not, and let ``rapport migrate`` carry it over the fleet.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from rapport.platform.db import CONTROL_SCHEMA, TENANT_SCHEMA

MIGRATIONS = Path(__file__).parent / "migrations"
BASE = "base"
TREES = ("control", "tenant")


@cache
def tenant_script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS / "tenant"))


@cache
def control_script() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS / "control"))


def script_for(tree: str) -> ScriptDirectory:
    if tree not in TREES:
        raise ValueError(f"no such migration tree: {tree!r} (choose control or tenant)")
    return control_script() if tree == "control" else tenant_script()


def tenant_head() -> str:
    return tenant_script().get_current_head() or BASE


def control_head() -> str:
    return control_script().get_current_head() or BASE


def alembic_config(tree: str, **attributes: Any) -> Config:
    """An in-memory Alembic config for one tree; ``attributes`` reach its env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS / tree))
    config.attributes.update(attributes)
    return config


# -- helpers for revision scripts ------------------------------------------------------------------
def control_schema() -> str | None:
    """``platform``, or what the connection translates it to (nothing on SQLite: the main file).
    ``ALTER TABLE`` names its schema directly, without the translation ``CREATE TABLE`` gets."""
    from alembic import op

    translate = op.get_bind().get_execution_options().get("schema_translate_map") or {}
    return translate.get(CONTROL_SCHEMA, CONTROL_SCHEMA)


def tenant_schema() -> str:
    """The schema a tenant revision is running against (from the migration context)."""
    from alembic import op

    from rapport.platform.tenancy.engines import check_schema_name

    schema = op.get_context().opts.get("tenant_schema")
    if not schema:
        raise RuntimeError("a tenant migration needs the tenant_schema option of its context")
    # The placeholder schema is accepted for the scratch database that authoring tools replay on.
    return schema if schema == TENANT_SCHEMA else check_schema_name(schema)


def run_create_hooks(tree: str, schema: str | None, tables: Iterable[str]) -> None:
    """Fire the models' ``after_create`` DDL hooks (e.g. SQLite append-only triggers) for tables.

    ``op.create_table`` builds its own Table objects, so hooks declared on the models would not
    run; baselines call this so a schema built from history matches one built from the models.
    """
    from alembic import op

    from rapport.platform.metadata import control_metadata, tenant_metadata

    metadata = control_metadata() if tree == "control" else tenant_metadata()
    placeholder = CONTROL_SCHEMA if tree == "control" else TENANT_SCHEMA
    bind = op.get_bind()
    translate = dict(bind.get_execution_options().get("schema_translate_map") or {})
    if schema is not None and schema != placeholder:
        translate[placeholder] = schema
    conn = bind.execution_options(schema_translate_map=translate)
    for name in tables:
        table = metadata.tables[f"{placeholder}.{name}"]
        table.dispatch.after_create(
            table, conn, checkfirst=False, _ddl_runner=None, _is_metadata_operation=False
        )


# -- tenants -----------------------------------------------------------------------------------
def stamp_new_tenant(conn: Connection, schema: str) -> str:
    """Record a freshly created tenant schema as being at the head revision."""
    head = tenant_head()
    ctx = MigrationContext.configure(conn, opts={"version_table_schema": schema})
    if head != BASE:
        ctx.stamp(tenant_script(), head)
    else:
        ctx._version.create(conn, checkfirst=False)
    return head


def tenant_context(
    conn: Connection, schema: str, script: ScriptDirectory, fn: Any = None
) -> MigrationContext:
    """A migration context on an open connection, versioned inside the tenant's schema."""
    return MigrationContext.configure(
        conn,
        opts={
            "version_table_schema": schema,
            "tenant_schema": schema,
            "transactional_ddl": True,
            "script": script,
            "fn": fn,
        },
    )


def current_version(conn: Connection, schema: str) -> str:
    ctx = tenant_context(conn, schema, tenant_script())
    return ctx.get_current_revision() or BASE


# -- the control plane -----------------------------------------------------------------------------
def upgrade_control_plane(runtime) -> None:  # type: ignore[no-untyped-def]
    """Bring the control plane to head and give the app role its rights; safe to run twice."""
    from rapport.platform.tenancy import roles

    settings = runtime.settings
    if runtime.is_postgres:
        with runtime.owner_engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {CONTROL_SCHEMA}")
            if not settings.database_app_url:
                roles.ensure_app_role(conn, settings)
            command.upgrade(alembic_config("control", connection=conn), "head")
            roles.grant_control_plane(conn, settings, runtime.app_role)
    else:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with runtime.owner_engine.connect() as conn, conn.begin():
            command.upgrade(alembic_config("control", connection=conn), "head")
