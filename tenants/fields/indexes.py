"""Expression indexes of unique and filterable custom fields, in one tenant's schema only.

PostgreSQL: ``CREATE [UNIQUE] INDEX CONCURRENTLY`` on ``(custom ->> 'api_name')``, outside any
transaction on the owner connection, so the tenant's writes go on while it builds. It runs after
the definition's transaction committed (a concurrent build waits for older transactions, which
would include our own). SQLite: an index on ``json_extract(custom, '$.api_name')`` in the tenant's
file. Identifiers are quoted by the dialect; the api_name, checked against ``API_NAME`` again
here, is the only value from a person that reaches the DDL.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from sqlalchemy import ColumnElement, literal_column
from sqlalchemy.exc import DBAPIError

from rapport.platform.tenancy.models import TenantRef
from rapport.platform.tenancy.scope import tenancy
from rapport.tenants import records
from rapport.tenants.fields.validation import INDEXABLE

log = logging.getLogger(__name__)
API_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def index_name(field_id: uuid.UUID, unique: bool) -> str:
    return ("uq_cf_" if unique else "ix_cf_") + field_id.hex


def _api_name(api_name: str) -> str:
    if not API_NAME.match(api_name):
        raise ValueError(f"not an api_name: {api_name!r}")
    return api_name


def expression(column: Any, api_name: str, dialect: str) -> ColumnElement[Any]:
    """The indexed expression over a record's ``custom`` column, as the index spells it."""
    name = _api_name(api_name)
    if dialect == "postgresql":
        return column.op("->>")(literal_column(f"'{name}'"))
    from sqlalchemy import func

    return func.json_extract(column, literal_column(f"'$.{name}'"))


def wanted(spec: dict[str, Any]) -> set[str]:
    """The index names a field should have: a unique one, else a plain one when filterable."""
    field_id = uuid.UUID(spec["id"])
    if spec.get("deleted") or spec["type"] not in INDEXABLE:
        return set()
    if spec["unique"]:
        return {index_name(field_id, True)}
    if spec["filterable"]:
        return {index_name(field_id, False)}
    return set()


def sync(tenant: TenantRef, spec: dict[str, Any]) -> None:
    """Create the indexes a field should have and drop the ones it should not (idempotent)."""
    field_id = uuid.UUID(spec["id"])
    keep = wanted(spec)
    table = records.get(spec["record_type"]).table
    runtime = tenancy()
    for unique in (True, False):
        name = index_name(field_id, unique)
        if runtime.is_postgres:
            _sync_postgres(
                runtime, tenant.schema_name, table, spec["api_name"], name, unique, name in keep
            )
        else:
            _sync_sqlite(
                runtime, tenant.schema_name, table, spec["api_name"], name, unique, name in keep
            )


def _sync_postgres(runtime, schema, table, api_name, name, unique, keep) -> None:  # type: ignore[no-untyped-def]
    engine = runtime.owner_engine
    q = engine.dialect.identifier_preparer.quote
    qualified = f"{q(schema)}.{q(name)}"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        state = conn.exec_driver_sql(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s "
            "AND c.relname = %(n)s",
            {"s": schema, "n": name},
        ).scalar()
        if state is not None and (not keep or not state):
            conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified}")
            state = None
        if keep and state is None:
            ddl = (
                f"CREATE {'UNIQUE ' if unique else ''}INDEX CONCURRENTLY {q(name)} "
                f"ON {q(schema)}.{q(table)} ((custom ->> '{_api_name(api_name)}'))"
            )
            try:
                conn.exec_driver_sql(ddl)
            except DBAPIError:
                # A failed concurrent build leaves an invalid index behind; never keep one.
                log.exception("custom field index %s failed in %s", name, schema)
                conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {qualified}")
                raise


def _sync_sqlite(runtime, schema, table, api_name, name, unique, keep) -> None:  # type: ignore[no-untyped-def]
    engine = runtime.tenant_engine(schema)
    q = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:
        if not keep:
            conn.exec_driver_sql(f"DROP INDEX IF EXISTS {q(schema)}.{q(name)}")
            return
        conn.exec_driver_sql(
            f"CREATE {'UNIQUE ' if unique else ''}INDEX IF NOT EXISTS {q(schema)}.{q(name)} "
            f"ON {q(table)} (json_extract(custom, '$.{_api_name(api_name)}'))"
        )


def existing_indexes(tenant: TenantRef) -> set[str]:
    """The names of the custom field indexes in the tenant's schema (for tests and checks)."""
    runtime = tenancy()
    if runtime.is_postgres:
        with runtime.owner_engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE schemaname = %(s)s "
                "AND (indexname LIKE 'uq\\_cf\\_%%' OR indexname LIKE 'ix\\_cf\\_%%')",
                {"s": tenant.schema_name},
            ).scalars()
            return set(rows)
    engine = runtime.tenant_engine(tenant.schema_name)
    q = engine.dialect.identifier_preparer.quote
    with engine.connect() as conn:
        # The schema name is a generated identifier (checked by tenant_engine), quoted.
        rows = conn.exec_driver_sql(
            f"SELECT name FROM {q(tenant.schema_name)}.sqlite_master WHERE type = 'index' "  # noqa: S608
            "AND (name LIKE 'uq_cf_%' OR name LIKE 'ix_cf_%')"
        ).scalars()
        return set(rows)
