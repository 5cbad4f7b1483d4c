"""Creating and deleting tenants.

A new tenant gets its schema (PostgreSQL) or file (SQLite), its role, the tables of the current
metadata, a version stamp at head and its default data, in one go: a failure leaves no schema, no
role and no registry row behind. History is never replayed for a new tenant.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rapport.platform import migrate
from rapport.platform.audit.context import Actor
from rapport.platform.db import TENANT_SCHEMA
from rapport.platform.ids import new_id
from rapport.platform.metadata import control_metadata, tenant_metadata
from rapport.platform.tenancy import roles
from rapport.platform.tenancy.engines import tenant_sqlite_path
from rapport.platform.tenancy.models import Tenant, TenantRef, schema_name_for
from rapport.platform.tenancy.scope import Tenancy
from rapport.platform.tenancy.slugs import SlugError, validate_slug

ControlStep = Callable[[Session, Tenant], None]
TenantStep = Callable[[Session, TenantRef], None]


class SlugTaken(SlugError):
    pass


def slug_available(session: Session, slug: str) -> bool:
    return session.scalar(select(func.count()).select_from(Tenant).where(Tenant.slug == slug)) == 0


def _seed(session: Session, tenant: TenantRef, actor: Actor | None) -> None:
    from rapport.tenants.seed import seed_defaults

    seed_defaults(session, tenant, actor=actor)


def provision_tenant(
    runtime: Tenancy,
    *,
    name: str,
    slug: str,
    plan: str = "trial",
    actor: Actor | None = None,
    control_step: ControlStep | None = None,
    tenant_step: TenantStep | None = None,
) -> TenantRef:
    """Create a tenant; ``control_step`` and ``tenant_step`` add rows in the same transaction(s)."""
    validate_slug(slug)
    name = name.strip()
    if not name:
        raise ValueError("A workspace needs a name.")
    tenant_id = new_id()
    schema = schema_name_for(tenant_id)
    ref = TenantRef(id=tenant_id, slug=slug, name=name, schema_name=schema)
    control_metadata()
    if runtime.is_postgres:
        return _provision_postgres(runtime, ref, plan, actor, control_step, tenant_step)
    return _provision_sqlite(runtime, ref, plan, actor, control_step, tenant_step)


def _registry_row(ref: TenantRef, plan: str, version: str) -> Tenant:
    return Tenant(
        id=ref.id, slug=ref.slug, name=ref.name, schema_name=ref.schema_name,
        schema_version=version, plan=plan,
    )  # fmt: skip


def _tenant_tables(
    conn: Connection, ref: TenantRef, actor: Actor | None, step: TenantStep | None
) -> str:
    from rapport.tenants.search import ddl as search_ddl

    tenant_metadata().create_all(conn, checkfirst=False)
    search_ddl.install(conn, ref.schema_name, conn.dialect.name)
    version = migrate.stamp_new_tenant(conn, ref.schema_name)
    session = Session(bind=conn, info={"tenant": ref})
    try:
        _seed(session, ref, actor)
        if step:
            step(session, ref)
        session.flush()
    finally:
        session.close()
    return version


def _provision_postgres(runtime, ref, plan, actor, control_step, tenant_step) -> TenantRef:  # type: ignore[no-untyped-def]
    settings = runtime.settings
    schema = ref.schema_name
    with runtime.owner_engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
        control = Session(bind=conn)
        try:
            control.add(_registry_row(ref, plan, migrate.tenant_head()))
            try:
                control.flush()
            except IntegrityError:
                raise SlugTaken("That workspace address is taken; choose another.") from None
            conn.exec_driver_sql(f"CREATE SCHEMA {conn.dialect.identifier_preparer.quote(schema)}")
            roles.create_tenant_role(conn, settings, schema, runtime.app_role)
            conn.execution_options(schema_translate_map={TENANT_SCHEMA: schema})
            _tenant_tables(conn, ref, actor, tenant_step)
            roles.grant_tenant_tables(
                conn, settings, schema, [t.name for t in tenant_metadata().sorted_tables]
            )
            if control_step:
                control_step(control, control.get(Tenant, ref.id))
            control.flush()
        finally:
            control.close()
    return ref


def _provision_sqlite(runtime, ref, plan, actor, control_step, tenant_step) -> TenantRef:  # type: ignore[no-untyped-def]
    path = tenant_sqlite_path(runtime.settings, ref.schema_name)
    try:
        # A transaction is atomic per SQLite file: the tenant file first, then the registry row;
        # if the second step fails the file is removed.
        with runtime.tenant_engine(ref.schema_name).connect() as conn, conn.begin():
            version = _tenant_tables(conn, ref, actor, tenant_step)
        with runtime.owner_engine.connect() as conn, conn.begin():
            control = Session(bind=conn)
            try:
                control.add(_registry_row(ref, plan, version))
                try:
                    control.flush()
                except IntegrityError:
                    raise SlugTaken("That workspace address is taken; choose another.") from None
                if control_step:
                    control_step(control, control.get(Tenant, ref.id))
                control.flush()
            finally:
                control.close()
    except BaseException:
        runtime.forget(ref.schema_name)
        _remove_sqlite_files(path)
        raise
    return ref


def _remove_sqlite_files(path) -> None:  # type: ignore[no-untyped-def]
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            path.with_name(path.name + suffix).unlink()


def delete_tenant(
    runtime: Tenancy, tenant_id, on_control: Callable[[Session], None] | None = None
) -> None:  # type: ignore[no-untyped-def]
    """Remove a tenant: its schema and role (or file) and its registry row."""
    with runtime.owner_engine.connect() as conn, conn.begin():
        control = Session(bind=conn)
        try:
            tenant = control.get(Tenant, tenant_id)
            if tenant is None:
                raise LookupError("no such tenant")
            schema = tenant.schema_name
            if runtime.is_postgres:
                q = conn.dialect.identifier_preparer.quote(schema)
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {q} CASCADE")
                roles.drop_tenant_role(conn, runtime.settings, schema)
            control.delete(tenant)
            if on_control:
                on_control(control)
            control.flush()
        finally:
            control.close()
    runtime.forget(schema)
    if not runtime.is_postgres:
        _remove_sqlite_files(tenant_sqlite_path(runtime.settings, schema))
