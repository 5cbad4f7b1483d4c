"""Carry the tenant fleet to a revision: parallel, resumable, one failure never stops the rest.

The registry (``platform.tenants.schema_version``) says which tenants are behind, so choosing the
work is one query. A few worker processes each take a share of those tenants and loop over them
on ONE owner connection: per tenant one transaction with a ``lock_timeout``, Alembic's
``MigrationContext`` versioned in the tenant's own schema, and the registry row updated (on
PostgreSQL in the same transaction as the DDL, so the registry never lies). The script directory
is loaded once per worker; no Python process and no Alembic environment is started per tenant,
which is where per-tenant migrations usually lose hours.

On SQLite a tenant is its own file: the worker opens that tenant's engine for its transaction and
records the outcome in the control-plane file right after (a transaction is atomic per file).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext, MigrationStep
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, exc, func, or_, select, update
from sqlalchemy.orm import Session

from rapport.platform.db import CONTROL_SCHEMA, utcnow
from rapport.platform.migrate import BASE, tenant_context, tenant_script
from rapport.platform.settings import Settings
from rapport.platform.tenancy import roles
from rapport.platform.tenancy.models import Tenant, TenantState
from rapport.platform.tenancy.scope import Tenancy

DEFAULT_WORKERS = 2
DEFAULT_LOCK_TIMEOUT_MS = 5000
ERROR_LIMIT = 2000


@dataclass(frozen=True)
class TenantJob:
    id: uuid.UUID
    slug: str
    schema: str


@dataclass(frozen=True)
class Outcome:
    """What happened to one tenant: the version it reached, or why it did not."""

    slug: str
    version: str | None
    error: str | None = None


@dataclass
class FleetReport:
    target: str
    planned: int
    outcomes: list[Outcome] = field(default_factory=list)
    worker_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is not None]

    @property
    def migrated(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error is None]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.worker_errors and len(self.outcomes) == self.planned


@dataclass
class FleetStatus:
    head: str
    control: str
    versions: dict[str, int]
    failing: list[dict[str, str | None]]

    @property
    def total(self) -> int:
        return sum(self.versions.values())

    @property
    def behind(self) -> int:
        return self.total - self.versions.get(self.head, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "control": self.control,
            "total": self.total,
            "behind": self.behind,
            "versions": self.versions,
            "failing": self.failing,
        }


# -- choosing the work, reporting the state --------------------------------------------------------
def resolve_target(target: str | None) -> str:
    """The revision id a target names (``head`` or an id); ``base`` stays ``base``."""
    if target in (None, "head"):
        return tenant_script().get_current_head() or BASE
    if target == BASE:
        return BASE
    return tenant_script().get_revision(target).revision  # raises on an unknown revision


def pending(conn: Connection | Session, target: str, slug: str | None = None) -> list[TenantJob]:
    """Tenants not at ``target`` (or still carrying an error); with ``slug``, that tenant only."""
    t = Tenant.__table__
    stmt = select(t.c.id, t.c.slug, t.c.schema_name).where(t.c.state != TenantState.DELETING.value)
    if slug is not None:
        stmt = stmt.where(t.c.slug == slug)
    else:
        stmt = stmt.where(
            or_(
                t.c.schema_version.is_(None),
                t.c.schema_version != target,
                t.c.migration_error.is_not(None),
            )
        )
    rows = conn.execute(stmt.order_by(t.c.slug)).all()
    return [TenantJob(row.id, row.slug, row.schema_name) for row in rows]


def fleet_status(conn: Connection | Session, failing_limit: int = 50) -> FleetStatus:
    """Versions across the fleet and the failing tenants, from the registry alone."""
    t = Tenant.__table__
    live = t.c.state != TenantState.DELETING.value
    counts = conn.execute(
        select(t.c.schema_version, func.count()).where(live).group_by(t.c.schema_version)
    ).all()
    failing = conn.execute(
        select(t.c.slug, t.c.schema_version, t.c.migration_error)
        .where(live, t.c.migration_error.is_not(None))
        .order_by(t.c.slug)
        .limit(failing_limit)
    ).all()
    bind = conn if isinstance(conn, Connection) else conn.connection()
    is_pg = bind.dialect.name == "postgresql"
    ctx = MigrationContext.configure(
        bind, opts={"version_table_schema": CONTROL_SCHEMA if is_pg else None}
    )
    return FleetStatus(
        head=tenant_script().get_current_head() or BASE,
        control=ctx.get_current_revision() or BASE,
        versions={(v or BASE): n for v, n in sorted(counts, key=lambda r: r[0] or "")},
        failing=[
            {"slug": r.slug, "version": r.schema_version, "error": r.migration_error}
            for r in failing
        ],
    )


# -- one tenant ------------------------------------------------------------------------------------
@cache
def _ancestors(script: ScriptDirectory, revision: str) -> frozenset[str]:
    return frozenset(s.revision for s in script.iterate_revisions(revision, BASE)) - {revision}


def _plan(script: ScriptDirectory, target: str, heads: tuple[str, ...]) -> list[MigrationStep]:
    current = heads[0] if heads else BASE
    if len(heads) > 1:
        raise RuntimeError(f"the tenant schema has several heads: {', '.join(heads)}")
    if current == target:
        return []
    if target == BASE or (current != BASE and target in _ancestors(script, current)):
        return script._downgrade_revs(target, current)  # what `alembic downgrade` runs
    return script._upgrade_revs(target, current)  # what `alembic upgrade` runs


def migrate_schema(
    conn: Connection, schema: str, script: ScriptDirectory, target: str
) -> list[str]:
    """Move one schema to ``target`` inside the caller's transaction; return the tables it added."""
    applied: list[MigrationStep] = []

    def steps(heads, _context):  # type: ignore[no-untyped-def]
        planned = _plan(script, target, tuple(heads))
        applied.extend(planned)
        return planned

    ctx = tenant_context(conn, schema, script, fn=steps)
    with Operations.context(ctx):
        ctx.run_migrations()
    return [
        name
        for step in applied
        if step.is_upgrade
        for kind, name, _ in getattr(step.revision.module, "adds", ())  # type: ignore[attr-defined]
        if kind == "table"
    ]


@dataclass(frozen=True)
class _Record:
    tenant_id: uuid.UUID
    version: str | None
    error: str | None
    at: dt.datetime


def _write_records(conn: Connection, records: Sequence[_Record]) -> None:
    """Write outcomes into the registry: version, migrated_at, migration_error."""
    t = Tenant.__table__
    for record in records:
        if record.error is None:
            values: dict[str, Any] = {
                "schema_version": record.version,
                "migrated_at": record.at,
                "migration_error": None,
            }
        else:
            values = {"migration_error": record.error[:ERROR_LIMIT]}
        # A migration is not an edit of the tenant: keep its updated_at.
        conn.execute(
            update(t).where(t.c.id == record.tenant_id).values(updated_at=t.c.updated_at, **values)
        )


def describe(error: BaseException) -> str:
    """The first line of the database's own message, which is what an operator needs."""
    if isinstance(error, exc.DBAPIError) and error.orig is not None:
        text = str(error.orig).strip() or type(error.orig).__name__
    else:
        text = str(error).strip() or type(error).__name__
    return f"{type(getattr(error, 'orig', None) or error).__name__}: {text.splitlines()[0]}"


class _OwnerConnection:
    """The worker's one owner connection, replaced after it has served ``budget`` schemas.

    A PostgreSQL backend keeps the catalog cache of every schema it touched until it exits.
    """

    def __init__(self, runtime: Tenancy) -> None:
        self.engine = runtime.owner_engine
        self.budget = max(1, runtime.settings.schemas_per_connection)
        self.conn: Connection | None = None
        self.used = 0

    def get(self) -> Connection:
        if self.conn is not None and (self.conn.invalidated or self.used >= self.budget):
            self.close()
        if self.conn is None:
            self.conn = self.engine.connect()
            self.used = 0
        self.used += 1
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            # Invalidate so the backend (and its catalog cache) goes away instead of into the pool.
            self.conn.invalidate()
            self.conn.close()
            self.conn = None


class _Worker:
    """One worker's loop: its share of tenants, one after the other, on one owner connection.

    PostgreSQL: the registry row is updated in the tenant's own transaction, so the registry never
    disagrees with the schema. SQLite: the registry is another file, so its rows are written in
    batches after the tenants' commits; if the run stops in between, the registry lags behind the
    schemas, and the next run finds those tenants already at the target and records them.
    """

    SQLITE_BATCH = 50

    def __init__(self, runtime: Tenancy, target: str, lock_timeout_ms: int) -> None:
        self.runtime = runtime
        self.target = target
        self.lock_timeout_ms = lock_timeout_ms
        self.script = tenant_script()  # loaded once per worker
        self.owner = _OwnerConnection(runtime)
        self.unwritten: list[_Record] = []

    def migrate(self, job: TenantJob) -> Outcome:
        try:
            if self.runtime.is_postgres:
                self._postgres(job)
            else:
                self._sqlite(job)
        except Exception as error:  # noqa: BLE001 - any failure is recorded and the fleet goes on
            message = describe(error)
            self.unwritten.append(_Record(job.id, None, message, utcnow()))
            self.flush()
            return Outcome(job.slug, None, message)
        if len(self.unwritten) >= self.SQLITE_BATCH:
            self.flush()
        return Outcome(job.slug, self.target)

    def _postgres(self, job: TenantJob) -> None:
        conn = self.owner.get()
        with conn.begin():
            conn.execute(
                select(
                    func.set_config("lock_timeout", f"{self.lock_timeout_ms}ms", True),
                    # Losing the last commits in a server crash loses whole tenants' transactions
                    # (DDL and registry row together), which the next run redoes; not waiting for
                    # the WAL flush per tenant is the fleet's biggest saving after the DDL itself.
                    func.set_config("synchronous_commit", "off", True),
                )
            )
            added = migrate_schema(conn, job.schema, self.script, self.target)
            if added:
                roles.grant_tenant_tables(conn, self.runtime.settings, job.schema, added)
            _write_records(conn, [_Record(job.id, self.target, None, utcnow())])

    def _sqlite(self, job: TenantJob) -> None:
        try:
            with self.runtime.tenant_engine(job.schema).connect() as conn, conn.begin():
                migrate_schema(conn, job.schema, self.script, self.target)
        finally:
            self.runtime.forget(job.schema)  # a fleet run must not keep a file open per tenant
        self.unwritten.append(_Record(job.id, self.target, None, utcnow()))

    def flush(self) -> None:
        if self.unwritten:
            conn = self.owner.get()
            with conn.begin():
                _write_records(conn, self.unwritten)
            self.unwritten = []

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.owner.close()


def migrate_jobs(
    runtime: Tenancy,
    jobs: Sequence[TenantJob],
    target: str,
    report: Callable[[Outcome], None],
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
) -> None:
    """Migrate ``jobs`` one after the other on one owner connection (one worker's share)."""
    worker = _Worker(runtime, target, lock_timeout_ms)
    try:
        for job in jobs:
            report(worker.migrate(job))
    finally:
        worker.close()


@dataclass(frozen=True)
class _WorkerFailed:
    message: str


def _worker(
    settings: Settings, jobs: list[TenantJob], target: str, lock_timeout_ms: int, results: Any
) -> None:
    runtime = Tenancy(settings)
    try:
        migrate_jobs(runtime, jobs, target, results.put, lock_timeout_ms)
    except BaseException as error:
        results.put(_WorkerFailed(describe(error)))
        raise
    finally:
        runtime.dispose()


# -- the fleet -------------------------------------------------------------------------------------
def migrate_fleet(
    runtime: Tenancy,
    *,
    target: str | None = None,
    slug: str | None = None,
    workers: int = DEFAULT_WORKERS,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    on_start: Callable[[int], None] | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> FleetReport:
    """Bring every tenant behind ``target`` (default: head) to it; ``slug`` picks one tenant."""
    target = resolve_target(target)
    with runtime.owner_engine.connect() as conn:
        jobs = pending(conn, target, slug)
    if slug is not None and not jobs:
        raise LookupError(f"no tenant with the slug {slug!r}")
    report = FleetReport(target=target, planned=len(jobs))
    if on_start:
        on_start(len(jobs))

    def collect(item: Outcome | _WorkerFailed) -> None:
        if isinstance(item, _WorkerFailed):
            report.worker_errors.append(item.message)
            return
        report.outcomes.append(item)
        if on_outcome:
            on_outcome(item)

    workers = max(1, min(workers, len(jobs)))
    if workers == 1:
        migrate_jobs(runtime, jobs, target, collect, lock_timeout_ms)
    else:
        _fan_out(runtime.settings, jobs, target, workers, lock_timeout_ms, collect)
    return report


def _fan_out(
    settings: Settings,
    jobs: list[TenantJob],
    target: str,
    workers: int,
    lock_timeout_ms: int,
    collect,
) -> None:  # type: ignore[no-untyped-def]
    # spawn, not fork: a forked child would share the parent's pooled database connections.
    mp = multiprocessing.get_context("spawn")
    results = mp.Queue()
    processes = [
        mp.Process(
            target=_worker,
            args=(settings, jobs[i::workers], target, lock_timeout_ms, results),
            daemon=True,
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    received = 0
    try:
        while received < len(jobs):
            try:
                item = results.get(timeout=0.5)
            except queue.Empty:
                if any(p.is_alive() for p in processes):
                    continue
                # Every worker is gone; take what they flushed before exiting, then stop.
                try:
                    item = results.get(timeout=0.5)
                except queue.Empty:
                    break
            if not isinstance(item, _WorkerFailed):
                received += 1
            collect(item)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        results.close()
