"""Alembic environment of the control plane (schema ``platform``; on SQLite the main file).

Runs on a connection handed over in ``config.attributes["connection"]`` (``rapport migrate`` and
the authoring commands pass one); it never opens a database by itself.
"""

from __future__ import annotations

from alembic import context

from rapport.platform.db import CONTROL_SCHEMA
from rapport.platform.metadata import control_metadata
from rapport.platform.migrate_authoring import render_item


def _only_control(name, type_, _parent) -> bool:  # type: ignore[no-untyped-def]
    return type_ != "schema" or name == CONTROL_SCHEMA


def run() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run control-plane migrations through `rapport migrate` (it passes a connection)"
        )
    # On SQLite the control plane is the main file ("platform" is translated to no schema).
    default = CONTROL_SCHEMA if connection.dialect.name == "postgresql" else None
    context.configure(
        connection=connection,
        target_metadata=control_metadata(),
        version_table_schema=config.attributes.get("version_table_schema", default),
        transactional_ddl=True,
        include_schemas=True,
        include_name=_only_control,
        render_item=render_item,
        process_revision_directives=config.attributes.get("process_revision_directives"),
    )
    with context.begin_transaction():
        context.run_migrations()


run()
