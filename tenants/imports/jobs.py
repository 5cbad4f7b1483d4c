"""The import jobs: a batch's preview and its run, both as the member who started the import.

The run writes the rows ``[offset, offset + CHUNK)`` and, in the same transaction, moves the
batch's ``position`` past them and queues the next chunk through the outbox (one event key per
chunk). It starts by claiming the batch with a conditional UPDATE on ``position == offset``: a
re-delivered or concurrent twin finds the position moved (PostgreSQL makes it wait for the first
one's commit) and does nothing, so no row is ever written twice, and a crash mid-chunk rolls the
whole chunk back for the retry.

A chunk that raises an unexpected error (no row's fault: a bug, an outage) is retried by the
runner and the outbox sweeper; its last attempt, instead of raising once more, ends the batch as
failed at the chunk's first line, keeping the chunks before it. A batch that stalls for another
reason (a worker killed mid-chunk every time) is ended by the daily tidy-up.

The preview is the same writing, rolled back. It checks the rows in transactions of
``PREVIEW_CHUNK``: every record write takes the tenant's audit chain lock until its transaction
ends, and one transaction over ten thousand rows would hold every other writer of the workspace
for minutes. The price: two rows of one file further apart than that (the same unique value
twice; the records cap reached part-way) are told apart by the run only.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from rapport.platform.audit.context import Actor, set_actor
from rapport.platform.db import utcnow
from rapport.platform.errors import DomainError
from rapport.platform.jobs import outbox
from rapport.platform.jobs.models import OutboxEntry
from rapport.platform.jobs.registry import job
from rapport.platform.jobs.sweeper import MAX_ATTEMPTS
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants.imports import services
from rapport.tenants.imports.models import DONE, DRAFT, FAILED, QUEUED, RUNNING, ImportBatch
from rapport.tenants.imports.services import Outcome
from rapport.tenants.roles import access

log = logging.getLogger(__name__)

#: Rows written per run (one transaction): small enough to finish well within the job timeout.
CHUNK = 250
#: Rows checked per preview transaction (see the module docstring).
PREVIEW_CHUNK = 1000


class _Stopped(Exception):
    """The batch cannot go on as its member: the message says why."""


def _act_as_member(session: Session, tenant: TenantRef, batch: ImportBatch) -> None:
    """Read and write from here on as the member who started the import would in the browser."""
    from rapport.platform.identity.services import membership

    set_actor(Actor("user", str(batch.created_by), batch.created_by_label))
    member = membership(batch.created_by, tenant.id)
    if member is None:
        raise _Stopped("The member who started this import has left the workspace.")
    access.bind(session, batch.created_by, member.role)


def _last_attempt(session: Session, event_key: str) -> bool:
    """Whether nothing retries this delivery if it fails: the outbox gives its event up after
    MAX_ATTEMPTS (counted before the job is called), and a run without an outbox row is nobody's
    to retry."""
    attempts = session.scalar(
        select(OutboxEntry.attempts).where(OutboxEntry.event_key == event_key)
    )
    return attempts is None or attempts >= MAX_ATTEMPTS


def _reason(exc: DomainError) -> str:
    errors: dict[str, list[str]] | None = getattr(exc, "errors", None)
    if errors:
        return " ".join(m for messages in errors.values() for m in messages)
    return exc.message


@job("imports", retries=3, timeout=600)
def run_import(session: Session, tenant: TenantRef, batch_id: str, offset: int = 0) -> None:
    """Write the batch's rows from ``offset`` on (one chunk), then queue the next chunk."""
    key = uuid.UUID(batch_id)
    claimed = session.execute(
        update(ImportBatch)
        .where(
            ImportBatch.id == key,
            ImportBatch.position == offset,
            ImportBatch.status.in_((QUEUED, RUNNING)),
        )
        .values(status=RUNNING)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return  # done already (a re-delivery), or stopped
    batch = session.get(ImportBatch, key)
    assert batch is not None
    session.refresh(batch)
    if batch.started_at is None:
        batch.started_at = utcnow()
    chunk = session.begin_nested()
    try:
        _write_chunk(session, tenant, batch, offset)
    except Exception:
        chunk.rollback()
        if not _last_attempt(session, f"import:{batch_id}:{offset}"):
            raise  # retried: the error may pass (a lost connection, a deadlock)
        log.exception("import %s stopped at row %s (tenant %s)", batch_id, offset, tenant.slug)
        services.fail_unexpectedly(session, batch)
        return
    chunk.commit()


def _write_chunk(session: Session, tenant: TenantRef, batch: ImportBatch, offset: int) -> None:
    """Write rows ``[offset, offset + CHUNK)`` as the member; queue the next chunk or finish."""
    try:
        _act_as_member(session, tenant, batch)
        offered = services.allowed_targets(session, batch)
    except _Stopped as exc:
        services.fail(session, batch, str(exc))
        return
    except DomainError as exc:  # the role or the modules changed since the import was queued
        services.fail(session, batch, f"The import cannot go on: {_reason(exc)}")
        return
    batch_id = str(batch.id)
    end = min(offset + CHUNK, batch.total)
    outcome = services.write_rows(session, batch, batch.rows[offset:end], offered)
    services.record_progress(batch, end, outcome)
    if end < batch.total:
        outbox.add(
            session, run_import, {"batch_id": batch_id, "offset": end},
            event_key=f"import:{batch_id}:{end}",
        )  # fmt: skip
    else:
        services.finish(session, batch)


@job("imports", retries=1, timeout=1800)
def preview_import(session: Session, tenant: TenantRef, batch_id: str, preview_round: int) -> None:
    """Dry-run the batch as mapped when the preview was asked for; store what the run would do."""
    key = uuid.UUID(batch_id)

    def current() -> ImportBatch | None:
        batch = session.get(ImportBatch, key)
        asked: dict[str, Any] = (batch.preview or {}) if batch else {}
        if batch is None or batch.status != DRAFT or asked.get("round") != preview_round:
            return None  # started, or previewed again since: this answer is no longer wanted
        return batch if asked.get("status") == QUEUED else None

    batch = current()
    if batch is None:
        return
    # Read now: the rollbacks below also undo the runner's count of this attempt.
    last_attempt = _last_attempt(session, f"import-preview:{batch_id}:{preview_round}")
    outcome = Outcome()
    try:
        _act_as_member(session, tenant, batch)
        for start in range(0, batch.total, PREVIEW_CHUNK):
            part = services.preview(session, batch, batch.rows[start : start + PREVIEW_CHUNK])
            outcome.created += part.created
            outcome.errors += part.errors
            session.rollback()  # wrote nothing; ends the transaction and releases its locks
            batch = current()
            if batch is None:
                return
    except (_Stopped, DomainError) as exc:
        message = str(exc) if isinstance(exc, _Stopped) else _reason(exc)
        _preview_failed(current(), message)
        return
    except Exception:
        if not last_attempt:
            raise
        log.exception("preview of import %s stopped (tenant %s)", batch_id, tenant.slug)
        session.rollback()  # the preview wrote nothing; the failed statement may have ended it
        _preview_failed(current(), services.PREVIEW_STOPPED)
        return
    batch.preview = {**(batch.preview or {}), "status": DONE, "created": outcome.created,
                     "errors": outcome.errors}  # fmt: skip


def _preview_failed(batch: ImportBatch | None, message: str) -> None:
    if batch is not None:  # else no longer wanted
        batch.preview = {**(batch.preview or {}), "status": FAILED, "message": message}


# -- the daily tidy-up ---------------------------------------------------------------------------
@job("default", plane="control", retries=0)
def sweep_imports(session: Session) -> list[str]:
    """The daily periodic job: tidy the imports of every active tenant."""
    from rapport.platform.jobs.runtime import enqueue_for_each_tenant

    return enqueue_for_each_tenant(tidy_imports)


@job("default")
def tidy_imports(session: Session, tenant: TenantRef) -> None:
    """Delete stale drafts, drop the rows of old finished imports, end stalled ones."""
    done = services.tidy(session)
    if done.stalled_failed or done.previews_failed:
        log.warning("stalled imports ended in tenant %s: %s", tenant.slug, done)
