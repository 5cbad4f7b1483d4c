"""PostgreSQL enforces tenant isolation itself: raw SQL, with no help from our code, is refused.

These tests log in as the application's role, exactly as the web processes do, and try to reach
data they must not see. Nothing here goes through the ORM or the tenant scope.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import ProgrammingError

from rapport.platform.metadata import tenant_metadata
from rapport.platform.tenancy import roles
from rapport.platform.tenancy.scope import tenancy, tenant_session
from rapport.tenants.companies.models import Company


@pytest.fixture(scope="session", autouse=True)
def pg(backend):
    # Session scope and autouse: the skip happens before the (session-wide) app is built.
    if backend != "postgres":
        pytest.skip("database roles and schema privileges exist on PostgreSQL only")


@pytest.fixture()
def app_engine(app):
    """A fresh engine logged in as the application role, with one pooled connection."""
    engine = create_engine(tenancy(app).app_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def tenant_tables() -> list[str]:
    return [t.name for t in tenant_metadata().sorted_tables]


def qualified(schema: str, table: str) -> str:
    # Both parts are our own identifiers (a checked schema name, a table from the metadata).
    return f'"{schema}"."{table}"'


def assert_refused(conn, sql: str, what: str) -> None:
    with pytest.raises(ProgrammingError, match=f"permission denied for {what}"):
        conn.execute(text(sql))
    conn.rollback()


def seed(app, tenants) -> None:
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            s.add(Company(name="Isolated A"))
        with tenant_session(b.ref) as s:
            s.add(Company(name="Isolated B"))


def test_the_application_role_alone_cannot_read_any_tenant_table(app, app_engine, tenants):
    a, b = tenants
    seed(app, tenants)
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT current_user")).scalar() == tenancy(app).app_role
        for tenant in (a, b):
            schema = tenant.ref.schema_name
            usage = conn.execute(
                text("SELECT has_schema_privilege(current_user, :s, 'USAGE')"), {"s": schema}
            ).scalar()
            assert usage is False
            for table in tenant_tables():
                assert_refused(
                    conn, f"SELECT * FROM {qualified(schema, table)}", f"schema {schema}"
                )
        # Not even through the search path.
        conn.execute(text("SELECT set_config('search_path', :s, false)"), {"s": a.ref.schema_name})
        with pytest.raises(ProgrammingError):
            conn.execute(text("SELECT name FROM companies"))
        conn.rollback()


def test_a_tenant_role_reads_its_own_schema_only(app, app_engine, tenants):
    a, b = tenants
    seed(app, tenants)
    settings = tenancy(app).settings
    role_a = roles.tenant_role_name(settings, a.ref.schema_name)
    with app_engine.connect() as conn:
        conn.exec_driver_sql(f'SET ROLE "{role_a}"')
        try:
            assert conn.execute(text("SELECT current_user")).scalar() == role_a
            names = set(
                conn.execute(
                    text(f"SELECT name FROM {qualified(a.ref.schema_name, 'companies')}")
                ).scalars()
            )
            assert "Isolated A" in names and "Isolated B" not in names
            for table in tenant_tables():
                conn.execute(text(f"SELECT count(*) FROM {qualified(a.ref.schema_name, table)}"))
            conn.commit()
            # SET ROLE was committed above: the rollbacks after each refusal keep A's role.
            for table in tenant_tables():
                assert_refused(
                    conn,
                    f"SELECT * FROM {qualified(b.ref.schema_name, table)}",
                    f"schema {b.ref.schema_name}",
                )
            assert_refused(
                conn,
                f"INSERT INTO {qualified(b.ref.schema_name, 'companies')} (id, name) "
                "VALUES (gen_random_uuid(), 'planted')",
                f"schema {b.ref.schema_name}",
            )
            assert conn.execute(text("SELECT current_user")).scalar() == role_a
            # The control plane (users, sessions, API keys) is out of reach too.
            for table in ("tenants", "users", "memberships", "platform_audit_entries"):
                assert_refused(
                    conn, f"SELECT * FROM {qualified('platform', table)}", "schema platform"
                )
        finally:
            conn.rollback()
            conn.exec_driver_sql("RESET ROLE")
            conn.commit()


def test_a_transaction_local_switch_does_not_survive_on_the_pooled_connection(
    app, app_engine, tenants
):
    a, _ = tenants
    seed(app, tenants)
    runtime = tenancy(app)
    role_a = roles.tenant_role_name(runtime.settings, a.ref.schema_name)
    with app_engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        default_path = conn.execute(text("SHOW search_path")).scalar()
        conn.rollback()
        with conn.begin():
            conn.execute(
                text("SELECT set_config('role', :r, true), set_config('search_path', :s, true)"),
                {"r": role_a, "s": a.ref.schema_name},
            )
            assert conn.execute(text("SELECT current_user")).scalar() == role_a
            assert "Isolated A" in set(conn.execute(text("SELECT name FROM companies")).scalars())
    # The pool holds exactly one connection: the next checkout is the same server process.
    with app_engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid
        assert conn.execute(text("SELECT current_user")).scalar() == runtime.app_role
        assert conn.execute(text("SHOW search_path")).scalar() == default_path
        with pytest.raises(ProgrammingError):
            conn.execute(text("SELECT name FROM companies"))
        conn.rollback()
        assert_refused(
            conn,
            f"SELECT name FROM {qualified(a.ref.schema_name, 'companies')}",
            f"schema {a.ref.schema_name}",
        )
