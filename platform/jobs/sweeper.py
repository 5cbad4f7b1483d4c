"""The outbox sweeper: re-enqueue what was written but not done, visiting only marked tenants.

A row is due when it is not done, has attempts left, is older than ``older_than`` and was not
re-enqueued within that time. The control-plane outbox is swept every time; tenant outboxes only
for tenants marked ``outbox_pending``. A tenant whose outbox has nothing left loses its mark,
unless the mark was set within ``grace`` (a writer may be about to commit rows behind it).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from rapport.platform.db import db, utcnow
from rapport.platform.jobs.models import ControlOutboxEntry, OutboxEntry
from rapport.platform.jobs.outbox import PENDING_GRACE
from rapport.platform.jobs.registry import job
from rapport.platform.jobs.tasks import Task
from rapport.platform.tenancy.models import Tenant, TenantRef, TenantState
from rapport.platform.tenancy.scope import tenancy, tenant_session

log = logging.getLogger(__name__)

SWEEP_AFTER = dt.timedelta(seconds=120)
#: After this many attempts a row is left alone with its last error, for an operator to look at.
MAX_ATTEMPTS = 10
BATCH = 500


@dataclass
class SweepReport:
    control_rows: int = 0
    tenants_visited: int = 0
    tenant_rows: int = 0
    marks_cleared: int = 0


@job("default", plane="control", retries=0)
def sweep_outbox(session: Session) -> None:
    """The periodic job: sweep with the default thresholds."""
    sweep()


def sweep(
    older_than: dt.timedelta = SWEEP_AFTER, grace: dt.timedelta = PENDING_GRACE
) -> SweepReport:
    """Re-enqueue due outbox rows of the control plane and of every marked tenant."""
    from rapport.platform.jobs.runtime import jobs

    runtime = jobs()
    report = SweepReport()
    started = utcnow()
    cutoff = started - older_than
    stale = older_than.total_seconds()

    if not tenancy().is_postgres:
        _wait_for_sqlite_writer(db.session, ControlOutboxEntry)
    tasks = [
        Task(e.job, None, str(e.id))
        for e in _take_due(db.session, ControlOutboxEntry, cutoff, started)
    ]
    db.session.commit()
    runtime.submit_all(tasks, replace_stale=stale)
    report.control_rows = len(tasks)

    for ref in _marked_tenants():
        report.tenants_visited += 1
        try:
            due, remaining = _visit(ref, cutoff, started)
        except OperationalError:
            log.warning("outbox sweep skipped tenant %s this time (busy)", ref.slug, exc_info=True)
            continue
        runtime.submit_all(due, replace_stale=stale)
        report.tenant_rows += len(due)
        if not remaining and _clear_mark(ref.id, before=started - grace):
            report.marks_cleared += 1
    return report


def _marked_tenants():  # type: ignore[no-untyped-def]
    """Yield marked active tenants in pages, holding no transaction between pages."""
    last: uuid.UUID | None = None
    while True:
        stmt = (
            select(Tenant)
            .where(Tenant.outbox_pending.is_(True), Tenant.state == TenantState.ACTIVE.value)
            .order_by(Tenant.id)
            .limit(BATCH)
        )
        if last is not None:
            stmt = stmt.where(Tenant.id > last)
        refs = [t.ref for t in db.session.scalars(stmt)]
        db.session.rollback()
        if not refs:
            return
        yield from refs
        last = refs[-1].id


def _visit(ref: TenantRef, cutoff: dt.datetime, now: dt.datetime) -> tuple[list[Task], int]:
    with tenant_session(ref) as session:
        if tenancy().is_postgres:
            # Wait for writers that inserted rows but have not committed, so that "nothing left"
            # below is true; never for long (a busy tenant is visited next time). Unqualified
            # names resolve through the transaction's search_path: this tenant's schema.
            session.execute(text("SET LOCAL lock_timeout = '5s'"))
            session.execute(text("LOCK TABLE outbox IN SHARE MODE"))
        else:
            _wait_for_sqlite_writer(session, OutboxEntry)
        due = [
            Task(e.job, str(ref.id), str(e.id))
            for e in _take_due(session, OutboxEntry, cutoff, now)
        ]
        remaining = session.scalar(
            select(func.count())
            .select_from(OutboxEntry)
            .where(OutboxEntry.done_at.is_(None), OutboxEntry.attempts < MAX_ATTEMPTS)
        )
    return due, remaining or 0


def _wait_for_sqlite_writer(session: Session, model: type) -> None:
    """Take the file's write lock first: SQLite has one writer per file, and a write (even of no
    row) waits for it, whereas a read transaction that later writes fails if a writer got in."""
    session.execute(
        update(model)
        .where(model.id.is_(None))
        .values(attempts=model.attempts)
        .execution_options(synchronize_session=False)
    )


def _take_due(session: Session, model: type, cutoff: dt.datetime, now: dt.datetime) -> list:  # type: ignore[type-arg]
    rows = list(
        session.scalars(
            select(model)
            .where(
                model.done_at.is_(None),
                model.attempts < MAX_ATTEMPTS,
                model.created_at <= cutoff,
                (model.dispatched_at.is_(None)) | (model.dispatched_at <= cutoff),
            )
            .order_by(model.created_at)
            .limit(BATCH)
        )
    )
    for row in rows:
        row.dispatched_at = now
    return rows


def _clear_mark(tenant_id: uuid.UUID, before: dt.datetime) -> bool:
    result = db.session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id, Tenant.outbox_pending.is_(True), Tenant.updated_at < before)
        .values(outbox_pending=False)
    )
    db.session.commit()
    return bool(result.rowcount)
