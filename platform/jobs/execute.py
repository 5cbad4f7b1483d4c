"""Running one job: the function every runner (RQ or in-process) executes.

``perform(tenant_id, job_name, entry_id=None, payload=None)`` takes the tenant id first and
refuses a tenant job without one. It opens the job's own unit of work (a fresh app context; the
tenant scope loaded from the registry), calls the job, and commits once. For an outbox row it
locks the row, does nothing if it is already done, and marks it done in the transaction of the
effect; a failure is recorded on the row (``attempts``, ``last_error``) and re-raised so the
runner retries.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import update
from sqlalchemy.orm import Session

from rapport.platform.audit.context import Actor, set_actor
from rapport.platform.db import db, utcnow
from rapport.platform.jobs.models import ControlOutboxEntry, OutboxEntry
from rapport.platform.jobs.outbox import ACTOR_KEY
from rapport.platform.jobs.registry import CONTROL, TENANT, JobSpec, MissingTenant, get
from rapport.platform.tenancy.models import TenantRef
from rapport.platform.tenancy.scope import load_tenant, tenant_session

log = logging.getLogger(__name__)

#: The dotted path RQ stores for every job.
PERFORM = "rapport.platform.jobs.execute.perform"
DONE, ALREADY_DONE, SKIPPED = "done", "already done or gone", "skipped"


def perform(
    tenant_id: str | None,
    job_name: str,
    entry_id: str | None = None,
    payload: dict[str, Any] | None = None,
) -> str:
    """Run one job in its own unit of work and return what happened."""
    spec = get(job_name)
    if spec.plane == TENANT and not tenant_id:
        raise MissingTenant(
            f"{job_name} is a tenant job: it takes the tenant id first and got none"
        )
    if spec.plane == CONTROL and tenant_id:
        raise ValueError(f"{job_name} is a control-plane job and takes no tenant id")
    if not has_app_context():
        raise RuntimeError(
            "jobs run inside the application: `rapport worker` or the embedded runner"
        )
    # A fresh app context per job: its own g (actor), its own db.session, removed afterwards.
    with current_app._get_current_object().app_context():
        if spec.plane == CONTROL:
            return _run_control(spec, entry_id, payload or {})
        ref = load_tenant(tenant_id=tenant_id)
        db.session.rollback()  # do not sit in a control-plane transaction while the job runs
        if ref is None:
            log.warning("job %s skipped: tenant %s is not active", job_name, tenant_id)
            return SKIPPED
        return _run_tenant(spec, ref, entry_id, payload or {})


def _call(spec: JobSpec, payload: dict[str, Any], *args: Any) -> None:
    payload = dict(payload)
    actor = payload.pop(ACTOR_KEY, None)
    if actor:
        set_actor(Actor(**actor))
    spec.func(*args, **payload)


def _claim(session: Session, model: type, spec: JobSpec, entry_id: str) -> Any:
    """Lock the row and count the attempt; None if it is done or gone.

    The claim is a write and the transaction's first statement: PostgreSQL locks the row until
    the commit (a twin delivery waits, then finds it done); SQLite takes the tenant file's write
    lock now, waiting its turn, instead of failing later when a read transaction must upgrade.
    """
    row_id = uuid.UUID(entry_id)
    claimed = session.execute(
        update(model)
        .where(model.id == row_id, model.done_at.is_(None))
        .values(attempts=model.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not claimed:
        return None
    entry = session.get(model, row_id)
    if entry.job != spec.name:
        raise ValueError(f"outbox row {entry_id} belongs to {entry.job}, not {spec.name}")
    return entry


def _finish(entry: Any) -> None:
    entry.done_at = utcnow()
    entry.last_error = None


def _run_tenant(
    spec: JobSpec, ref: TenantRef, entry_id: str | None, payload: dict[str, Any]
) -> str:
    if entry_id is None:
        with tenant_session(ref) as session:
            _call(spec, payload, session, ref)
        return DONE
    try:
        with tenant_session(ref) as session:
            entry = _claim(session, OutboxEntry, spec, entry_id)
            if entry is None:
                return ALREADY_DONE
            _call(spec, entry.payload, session, ref)
            _finish(entry)
        return DONE
    except Exception as exc:
        _record_failure(lambda: tenant_session(ref), OutboxEntry, entry_id, exc)
        raise


def _run_control(spec: JobSpec, entry_id: str | None, payload: dict[str, Any]) -> str:
    if entry_id is None:
        with _control_unit() as session:
            _call(spec, payload, session)
        return DONE
    try:
        with _control_unit() as session:
            entry = _claim(session, ControlOutboxEntry, spec, entry_id)
            if entry is None:
                return ALREADY_DONE
            _call(spec, entry.payload, session)
            _finish(entry)
        return DONE
    except Exception as exc:
        _record_failure(_control_unit, ControlOutboxEntry, entry_id, exc)
        raise


@contextmanager
def _control_unit() -> Iterator[Session]:
    """Commit ``db.session`` once on success, like ``tenant_session`` does for a tenant."""
    try:
        yield db.session()
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise


def _record_failure(unit: Any, model: type, entry_id: str, exc: BaseException) -> None:
    """Count the failed attempt and keep its error on the row, in a transaction of its own."""
    try:
        with unit() as session:
            session.execute(
                update(model)
                .where(model.id == uuid.UUID(entry_id), model.done_at.is_(None))
                .values(
                    attempts=model.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
                )
                .execution_options(synchronize_session=False)
            )
    except Exception:  # the original error matters more; keep it
        log.exception("could not record the failure of outbox row %s", entry_id)
