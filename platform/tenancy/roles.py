"""PostgreSQL roles: the application's NOINHERIT login role and one non-login role per tenant.

Every statement here is DDL on identifiers we generate (role prefix from settings, schema names
from tenant ids, checked against a strict pattern) and quoted by the dialect; nothing is built
from user input.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from rapport.platform.db import CONTROL_SCHEMA
from rapport.platform.settings import Settings
from rapport.platform.tenancy.engines import check_schema_name

# Tables that keep evidence: the tenant may add to them and read them, never change them.
APPEND_ONLY_TABLES = frozenset({"audit_entries"})


def _q(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


def app_role_name(settings: Settings) -> str:
    return f"{settings.role_prefix}_app"


def tenant_role_name(settings: Settings, schema: str) -> str:
    return f"{settings.role_prefix}_{check_schema_name(schema)}"


def derived_app_url(settings: Settings) -> str:
    """The login URL of the development app role: owner URL, app role name, derived password."""
    password = hmac.new(
        settings.secret_key.encode(), b"rapport-app-role", hashlib.sha256
    ).hexdigest()
    url = make_url(settings.database_url).set(username=app_role_name(settings), password=password)
    return url.render_as_string(hide_password=False)


def ensure_app_role(conn: Connection, settings: Settings) -> None:
    """Create (or refresh) the NOINHERIT login role used by the application in development."""
    role = app_role_name(settings)
    password = make_url(derived_app_url(settings)).password
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    verb = "ALTER" if exists else "CREATE"
    # PASSWORD takes a literal, not a bind parameter; the value is our own hex digest.
    conn.exec_driver_sql(f"{verb} ROLE {_q(conn, role)} LOGIN NOINHERIT PASSWORD '{password}'")


def grant_control_plane(conn: Connection, settings: Settings, app_role: str | None = None) -> None:
    """Give the application role its rights on the control plane, and only there."""
    role = _q(conn, app_role or app_role_name(settings))
    schema = _q(conn, CONTROL_SCHEMA)
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
    conn.exec_driver_sql(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {role}"
    )
    for table in APPEND_ONLY_TABLES | {"platform_audit_entries"}:
        exists = conn.execute(
            text("SELECT 1 FROM pg_tables WHERE schemaname = :s AND tablename = :t"),
            {"s": CONTROL_SCHEMA, "t": table},
        ).first()
        if exists:
            conn.exec_driver_sql(
                f"REVOKE UPDATE, DELETE, TRUNCATE ON {schema}.{_q(conn, table)} FROM {role}"
            )


def create_tenant_role(conn: Connection, settings: Settings, schema: str, app_role: str) -> str:
    role = tenant_role_name(settings, schema)
    conn.exec_driver_sql(f"CREATE ROLE {_q(conn, role)} NOLOGIN NOINHERIT")
    # The app role may switch into the tenant role (SET ROLE); NOINHERIT keeps it from using the
    # tenant's rights without switching.
    conn.exec_driver_sql(f"GRANT {_q(conn, role)} TO {_q(conn, app_role)}")
    conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA {_q(conn, schema)} TO {_q(conn, role)}")
    return role


def grant_tenant_tables(
    conn: Connection, settings: Settings, schema: str, tables: Iterable[str]
) -> None:
    """Grant by explicit table list (ON ALL TABLES IN SCHEMA scans the whole catalog)."""
    role = _q(conn, tenant_role_name(settings, schema))
    names = sorted(set(tables))
    writable = [f"{_q(conn, schema)}.{_q(conn, t)}" for t in names if t not in APPEND_ONLY_TABLES]
    append_only = [f"{_q(conn, schema)}.{_q(conn, t)}" for t in names if t in APPEND_ONLY_TABLES]
    if writable:
        conn.exec_driver_sql(
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(writable)} TO {role}"
        )
    if append_only:
        conn.exec_driver_sql(f"GRANT SELECT, INSERT ON {', '.join(append_only)} TO {role}")


def drop_tenant_role(conn: Connection, settings: Settings, schema: str) -> None:
    role = tenant_role_name(settings, schema)
    exists = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    if exists:
        conn.exec_driver_sql(f"DROP OWNED BY {_q(conn, role)}")
        conn.exec_driver_sql(f"DROP ROLE {_q(conn, role)}")
