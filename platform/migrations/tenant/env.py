"""Alembic environment of one tenant schema.

Runs on a connection handed over in ``config.attributes["connection"]`` against the schema in
``config.attributes["tenant_schema"]``; revisions read it with ``tenant_schema()``. The fleet
(``rapport migrate``) does not come through here: it drives ``MigrationContext`` directly, one
transaction per tenant on a long-lived connection (see ``rapport.platform.migrate_fleet``).
"""

from __future__ import annotations

from alembic import context

from rapport.platform.metadata import tenant_metadata
from rapport.platform.migrate_authoring import render_item


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    schema = config.attributes.get("tenant_schema")
    if connection is None or not schema:
        raise RuntimeError(
            "tenant migrations need a connection and a tenant_schema (use `rapport migrate`)"
        )
    context.configure(
        connection=connection,
        target_metadata=tenant_metadata(),
        version_table_schema=schema,
        tenant_schema=schema,
        transactional_ddl=True,
        include_schemas=True,
        include_name=lambda name, type_, _parent: type_ != "schema" or name == schema,
        render_item=render_item,
        process_revision_directives=config.attributes.get("process_revision_directives"),
    )
    with context.begin_transaction():
        context.run_migrations()


run()
