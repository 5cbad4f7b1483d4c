"""The tenant scope: one unit of work inside one tenant's schema.

Every entry point opens it explicitly (request, job, CLI, test) with a :class:`TenantRef`.
There is no default tenant: code that touches a tenant table outside a scope fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from blinker import Namespace
from flask import Flask, current_app, g, has_app_context
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.orm import Session, sessionmaker

from rapport.platform.db import CONTROL_SCHEMA, TENANT_SCHEMA, db
from rapport.platform.settings import Settings
from rapport.platform.tenancy import roles
from rapport.platform.tenancy.engines import (
    BoundedCache,
    check_schema_name,
    install_schema_budget,
    install_sqlite_hooks,
    make_postgres_engine,
    make_sqlite_tenant_engine,
    note_schema_used,
)
from rapport.platform.tenancy.models import Tenant, TenantRef, TenantState

_signals = Namespace()
#: Sent after a tenant unit of work committed; receivers dispatch the outbox.
tenant_committed = _signals.signal("tenant-committed")


class NoTenantScope(RuntimeError):
    """Tenant data was asked for where no tenant scope is open."""


class TenantSession(Session):
    """A session bound to one tenant; on PostgreSQL each transaction switches role and schema."""


#: Transaction-local: nothing survives on the pooled connection (the values are bound parameters).
SWITCH = "SELECT set_config('role', %s, true), set_config('search_path', %s, true)"


def _switch_tenant(session: Session, _transaction, connection) -> None:  # type: ignore[no-untyped-def]
    role = session.info.get("pg_role")
    if role is None:
        return
    schema = session.info["tenant"].schema_name
    # psycopg opens the transaction with the first statement; in pipeline mode its BEGIN and the
    # switch travel together, so a unit of work starts with one round trip, not two.
    driver = connection.connection.driver_connection
    with driver.pipeline():
        driver.execute(SWITCH, (role, schema))
    note_schema_used(connection, schema)


event.listen(TenantSession, "after_begin", _switch_tenant)

FLUSH_GUARDS = "rapport.flush_guards"


FlushGuard = Callable[[Session, tuple[type, ...]], None]


def add_flush_guard(app: Flask, guard: FlushGuard) -> None:
    """Run ``guard(session, classes)`` before a tenant session writes rows of those classes;
    it raises to refuse the write."""
    app.extensions.setdefault(FLUSH_GUARDS, []).append(guard)


def _run_guards(session: Session, classes: tuple[type, ...]) -> None:
    # Guards are registered by higher layers (billing's read-only state) that platform must not
    # import. Between the flush and bulk statements below, every write of a tenant session passes
    # here, whatever the path (web, API, job, import).
    if classes and has_app_context():
        for guard in current_app.extensions.get(FLUSH_GUARDS, ()):
            guard(session, classes)


def _guard_flush(session: Session, _context, _instances) -> None:  # type: ignore[no-untyped-def]
    changed = {type(obj) for obj in (*session.new, *session.dirty, *session.deleted)}
    _run_guards(session, tuple(changed))


def _guard_bulk(state) -> None:  # type: ignore[no-untyped-def]
    """ORM-enabled INSERT/UPDATE/DELETE statements skip the flush; guard them too."""
    if state.is_insert or state.is_update or state.is_delete:
        mapper = state.bind_mapper
        _run_guards(state.session, (mapper.class_,) if mapper is not None else (object,))


event.listen(TenantSession, "before_flush", _guard_flush)
event.listen(TenantSession, "do_orm_execute", _guard_bulk)


class Tenancy:
    """Per-application tenancy runtime: the engines and the factory of tenant sessions."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.is_postgres = settings.is_postgres
        self._owner_engine: Engine | None = None
        self._app_engine: Engine | None = None
        self._tenant_engines: BoundedCache[str, Engine] = BoundedCache(
            settings.tenant_cache_size,
            on_evict=(lambda e: e.dispose()) if not settings.is_postgres else None,
        )
        self._sessionmaker = sessionmaker(class_=TenantSession, expire_on_commit=False)

    # -- engines -------------------------------------------------------------------------------
    @property
    def app_url(self) -> str:
        if not self.is_postgres:
            return self.settings.database_url
        return self.settings.database_app_url or roles.derived_app_url(self.settings)

    @property
    def app_role(self) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.app_url).username or roles.app_role_name(self.settings)

    @property
    def owner_engine(self) -> Engine:
        """The owner connection: provisioning and migrations only."""
        if self._owner_engine is None:
            if self.is_postgres:
                self._owner_engine = create_engine(
                    self.settings.database_url, pool_size=2, max_overflow=4, pool_pre_ping=True
                )
            else:
                self._owner_engine = create_engine(
                    self.settings.database_url,
                    execution_options={"schema_translate_map": {CONTROL_SCHEMA: None}},
                )
                install_sqlite_hooks(self._owner_engine)
        return self._owner_engine

    @property
    def app_engine(self) -> Engine:
        """The application's login role (PostgreSQL): it reads nothing until it switches role."""
        if self._app_engine is None:
            if not self.is_postgres:
                raise RuntimeError("the application engine exists on PostgreSQL only")
            self._app_engine = make_postgres_engine(self.app_url, self.settings)
            install_schema_budget(self._app_engine, self.settings.schemas_per_connection)
        return self._app_engine

    def tenant_engine(self, schema: str) -> Engine:
        check_schema_name(schema)
        if self.is_postgres:
            # An option-engine shares the app engine's pool; it only adds the translate map.
            return self._tenant_engines.get_or_create(
                schema,
                lambda: self.app_engine.execution_options(
                    schema_translate_map={TENANT_SCHEMA: schema}
                ),
            )
        return self._tenant_engines.get_or_create(
            schema, lambda: make_sqlite_tenant_engine(self.settings, schema)
        )

    def forget(self, schema: str) -> None:
        """Drop the cached engine of a deleted tenant."""
        self._tenant_engines.pop(schema)

    def dispose(self) -> None:
        self._tenant_engines.clear()
        for engine in (self._owner_engine, self._app_engine):
            if engine is not None:
                engine.dispose()

    # -- sessions ------------------------------------------------------------------------------
    def open_session(self, tenant: TenantRef) -> TenantSession:
        info: dict[str, Any] = {"tenant": tenant}
        if self.is_postgres:
            info["pg_role"] = roles.tenant_role_name(self.settings, tenant.schema_name)
        return self._sessionmaker(bind=self.tenant_engine(tenant.schema_name), info=info)


def tenancy(app: Flask | None = None) -> Tenancy:
    return (app or current_app).extensions["rapport.tenancy"]


def load_tenant(
    slug: str | None = None, tenant_id: uuid.UUID | str | None = None
) -> TenantRef | None:
    """Find an active tenant by slug or id in the control plane."""
    stmt = select(Tenant).where(Tenant.state == TenantState.ACTIVE.value)
    if slug is not None:
        stmt = stmt.where(Tenant.slug == slug)
    elif tenant_id is not None:
        stmt = stmt.where(Tenant.id == (uuid.UUID(str(tenant_id))))
    else:
        raise ValueError("load_tenant needs a slug or an id")
    tenant = db.session.scalars(stmt).first()
    return tenant.ref if tenant else None


def notify_committed(session: Session) -> None:
    tenant_committed.send(
        current_app._get_current_object(), tenant=session.info["tenant"], info=session.info
    )


@contextmanager
def tenant_session(tenant: TenantRef, app: Flask | None = None) -> Iterator[TenantSession]:
    """Open a tenant unit of work; commit once on success, roll back on error."""
    if not isinstance(tenant, TenantRef):
        raise NoTenantScope("a tenant scope needs a TenantRef")
    session = tenancy(app).open_session(tenant)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    notify_committed(session)


# -- the request's scope --------------------------------------------------------------------------
def set_request_tenant(tenant: TenantRef) -> None:
    g.tenant = tenant


def current_tenant() -> TenantRef:
    tenant = g.get("tenant") if has_app_context() else None
    if tenant is None:
        raise NoTenantScope("this request has no tenant scope")
    return tenant


def tenant_db() -> TenantSession:
    """The current request's (or job's) tenant session, opened on first use."""
    session = g.get("_tenant_session")
    if session is None:
        session = tenancy().open_session(current_tenant())
        g._tenant_session = session
    return session


def commit_request() -> None:
    """Commit the boundary: control plane first, then the tenant, then announce the commit."""
    db.session.commit()
    session = g.pop("_tenant_session", None)
    if session is not None:
        try:
            session.commit()
        finally:
            session.close()
        notify_committed(session)


def rollback_request() -> None:
    db.session.rollback()
    session = g.pop("_tenant_session", None)
    if session is not None:
        session.rollback()
        session.close()


def init_app(app: Flask, settings: Settings) -> None:
    runtime = Tenancy(settings)
    app.extensions["rapport.tenancy"] = runtime

    @app.after_request
    def _commit(response):  # type: ignore[no-untyped-def]
        if response.status_code < 400 and not g.get("rollback_only"):
            commit_request()
        else:
            rollback_request()
        return response

    @app.teardown_appcontext
    def _close(_exc):  # type: ignore[no-untyped-def]
        session = g.pop("_tenant_session", None)
        if session is not None:
            session.rollback()
            session.close()
