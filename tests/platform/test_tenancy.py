"""Tenancy: isolation between tenants, enforced by the database itself."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from rapport.platform.tenancy.scope import tenancy, tenant_session
from rapport.tenants.companies.models import Company


def test_each_tenant_sees_only_its_own_records(app, tenants):
    a, b = tenants
    with app.app_context():
        with tenant_session(a.ref) as s:
            s.add(Company(name="Only in A"))
        with tenant_session(b.ref) as s:
            s.add(Company(name="Only in B"))
        with tenant_session(a.ref) as s:
            names = set(s.scalars(select(Company.name)))
        assert "Only in A" in names and "Only in B" not in names
        with tenant_session(b.ref) as s:
            names = set(s.scalars(select(Company.name)))
        assert "Only in B" in names and "Only in A" not in names


def test_one_pooled_connection_alternating_tenants_never_leaks(app, tenants, backend):
    """A pool of exactly one connection, serving A and B in turn, must never mix them."""
    a, b = tenants
    runtime = tenancy(app)
    with app.app_context():
        with tenant_session(a.ref) as s:
            s.add(Company(name="pool-A"))
        with tenant_session(b.ref) as s:
            s.add(Company(name="pool-B"))
    if backend == "postgres":
        from sqlalchemy.orm import Session

        from rapport.platform.tenancy import roles
        from rapport.platform.tenancy.scope import TenantSession

        engine = create_engine(runtime.app_url, pool_size=1, max_overflow=0)
        try:
            for i in range(20):
                t = a if i % 2 == 0 else b
                bound = engine.execution_options(schema_translate_map={"tenant": t.ref.schema_name})
                s: Session = TenantSession(
                    bind=bound,
                    info={
                        "tenant": t.ref,
                        "pg_role": roles.tenant_role_name(runtime.settings, t.ref.schema_name),
                    },
                )
                names = set(s.scalars(select(Company.name)))
                # Unqualified SQL resolves through the transaction's search_path: the same tenant.
                raw = set(s.execute(text("SELECT name FROM companies")).scalars())
                s.rollback()
                s.close()
                own, other = ("pool-A", "pool-B") if t is a else ("pool-B", "pool-A")
                assert own in names and other not in names
                assert own in raw and other not in raw
                # After the transaction nothing of the tenant remains on the connection.
                with engine.connect() as conn:
                    assert conn.execute(text("SELECT current_user")).scalar() == runtime.app_role
                    with pytest.raises(ProgrammingError):
                        conn.execute(text("SELECT name FROM companies"))
        finally:
            engine.dispose()


def test_tenant_table_outside_a_scope_fails_loudly(app):
    from rapport.platform.db import db

    with app.app_context(), pytest.raises((OperationalError, ProgrammingError)):
        db.session.execute(select(Company.name)).all()


def _runtime_with(app, **changes):  # type: ignore[no-untyped-def]
    import dataclasses

    from rapport.platform.tenancy.scope import Tenancy

    return Tenancy(dataclasses.replace(app.config["RAPPORT"], **changes))


def test_tenant_engine_cache_is_bounded(app, tenants, new_tenant):
    """Memory must not grow with the number of tenants ever seen."""
    third = new_tenant("Initech")
    runtime = _runtime_with(app, tenant_cache_size=2)
    try:
        for t in (*tenants, third, tenants[0]):
            session = runtime.open_session(t.ref)
            with session.begin():
                session.scalars(select(Company.id)).all()
            session.close()
        assert len(runtime._tenant_engines) == 2
    finally:
        runtime.dispose()


def test_pooled_connection_is_retired_after_its_schema_budget(app, tenants, backend, new_tenant):
    """A backend that touched too many schemas is replaced, bounding its catalog cache."""
    if backend != "postgres":
        pytest.skip("catalog caches are a PostgreSQL matter")
    third = new_tenant("Umbrella")
    runtime = _runtime_with(app, schemas_per_connection=2, pool_size=1)
    pids = []
    try:
        for t in (tenants[0], tenants[1], third, tenants[0]):
            session = runtime.open_session(t.ref)
            with session.begin():
                pids.append(session.scalar(text("SELECT pg_backend_pid()")))
            session.close()
    finally:
        runtime.dispose()
    # Two schemas on the first backend, then a fresh backend for the rest.
    assert pids[0] == pids[1] != pids[2] == pids[3]
