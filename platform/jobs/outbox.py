"""The outbox: side effects written in the transaction of the change, dispatched after its commit.

Public API::

    from rapport.platform.jobs import outbox

    outbox.add(session, send_invite, {"invite_id": str(invite.id)}, event_key=f"invite:{invite.id}")

``add`` writes an :class:`OutboxEntry` into the tenant's own outbox when ``session`` is a tenant
session, or a :class:`ControlOutboxEntry` when it is a control-plane session (``db.session``);
the job's plane must match. ``event_key`` names the business event (unique per plane): adding the
same event again is a no-op, so its effect runs once. Nothing leaves before the commit; a rolled
back transaction takes its rows with it.

After the commit the new rows are handed to the job runner: for tenant sessions on the
``tenant_committed`` signal, for ``db.session`` on its ``after_commit`` event. For a session whose
commit neither can see (for example the provisioning steps), call :func:`dispatch_noted` after
the commit, or leave the rows to the sweeper. A crash between commit and dispatch loses nothing:
before a tenant transaction with new rows commits, the tenant is marked ``outbox_pending`` in the
registry, and the sweeper (``sweeper.py``) re-enqueues what is still not done, visiting only
marked tenants.

The job that executes an entry locks it, skips it if ``done_at`` is set, runs the effect and sets
``done_at`` in the same transaction, so a re-delivered job does nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event, insert, select, update
from sqlalchemy.orm import Session

from rapport.platform.audit.context import SYSTEM, current_actor
from rapport.platform.db import db, utcnow
from rapport.platform.jobs.models import ControlOutboxEntry, OutboxEntry
from rapport.platform.jobs.registry import CONTROL, TENANT, JobSpec, spec_of
from rapport.platform.tenancy.models import Tenant, TenantRef

#: session.info key: the (job name, tenant id, entry id) rows added in this unit of work.
NOTED = "rapport.outbox"
_FLAGGED = "rapport.outbox.flagged"
#: Reserved payload key carrying who caused the effect (read back by the runner for the audit).
ACTOR_KEY = "_actor"


def add(
    session: Session,
    job: Callable[..., Any] | str | JobSpec,
    payload: dict[str, Any] | None = None,
    *,
    event_key: str,
) -> uuid.UUID | None:
    """Write an outbox row for ``job`` in ``session``'s transaction; return its id, or None if
    this event is already in the outbox."""
    spec = spec_of(job)
    tenant: TenantRef | None = session.info.get("tenant")
    plane = TENANT if tenant is not None else CONTROL
    if spec.plane != plane:
        raise ValueError(
            f"job {spec.name} runs on the {spec.plane} plane; add it to a {spec.plane} session"
        )
    if not event_key or len(event_key) > 200:
        raise ValueError("event_key must name the business event in 1 to 200 characters")
    payload = dict(payload or {})
    actor = current_actor()
    if actor != SYSTEM and ACTOR_KEY not in payload:
        payload[ACTOR_KEY] = {"type": actor.type, "id": actor.id, "label": actor.label,
                              "on_behalf_of": actor.on_behalf_of}  # fmt: skip
    try:
        json.dumps(payload)
    except TypeError as exc:
        raise ValueError(f"outbox payload must be JSON (ids as strings): {exc}") from None
    model = OutboxEntry if plane == TENANT else ControlOutboxEntry
    entry_id = _insert_once(session, model, spec, payload, event_key)
    if entry_id is not None:
        session.info.setdefault(NOTED, []).append(
            (spec.name, str(tenant.id) if tenant else None, str(entry_id))
        )
    return entry_id


def _insert_once(
    session: Session, model: type, spec: JobSpec, payload: dict[str, Any], key: str
) -> uuid.UUID | None:
    """Insert unless the event key exists (a concurrent twin waits for ours, then does nothing)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    else:  # pragma: no cover - the two supported backends are above
        dialect_insert = insert  # type: ignore[assignment]
    from rapport.platform.ids import new_id

    entry_id = new_id()
    stmt = (
        dialect_insert(model)
        .values(
            id=entry_id,
            queue=spec.queue,
            job=spec.name,
            payload=payload,
            event_key=key,
            created_at=utcnow(),
            attempts=0,
        )
        .on_conflict_do_nothing(index_elements=["event_key"])
        .returning(model.id)
    )
    return session.execute(stmt).scalar_one_or_none()


def take_noted(info: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    """Remove and return the rows a committed unit of work added."""
    info.pop(_FLAGGED, None)
    return info.pop(NOTED, None) or []


def dispatch_noted(info: dict[str, Any], app: Flask | None = None) -> None:
    """Hand the rows noted in a committed session's ``info`` to the job runner."""
    from rapport.platform.jobs.runtime import jobs
    from rapport.platform.jobs.tasks import Task

    noted = take_noted(info)
    if noted:
        jobs(app).submit_all(
            [Task(name, tenant_id, entry_id) for name, tenant_id, entry_id in noted]
        )


# -- the pending mark ------------------------------------------------------------------------------
#: The sweeper clears a tenant's mark only when it was last set longer ago than this, so a writer
#: that finds the mark fresh may skip rewriting it (clocks must agree within half of it).
PENDING_GRACE = dt.timedelta(seconds=60)


def mark_pending(tenant_id: uuid.UUID) -> None:
    """Mark a tenant as having outbox rows, in its own control-plane transaction, before the
    tenant's commit: a crash after that commit still leaves the tenant on the sweeper's list."""
    now = utcnow()
    with db.engine.connect() as conn:
        row = conn.execute(
            select(Tenant.outbox_pending, Tenant.updated_at).where(Tenant.id == tenant_id)
        ).first()
        # Most commits find a fresh mark and write nothing (on SQLite: take no lock).
        if row is not None and row.outbox_pending and row.updated_at >= now - PENDING_GRACE / 2:
            conn.rollback()
            return
        conn.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(outbox_pending=True, updated_at=now)
        )
        conn.commit()


def _before_tenant_commit(session: Session) -> None:
    if session.info.get(NOTED) and not session.info.get(_FLAGGED):
        mark_pending(session.info["tenant"].id)
        session.info[_FLAGGED] = True


def _on_tenant_committed(sender: Flask, tenant: TenantRef, info: dict[str, Any], **_: Any) -> None:
    dispatch_noted(info, sender)


def _after_control_commit(session: Session) -> None:
    if session.info.get(NOTED):
        dispatch_noted(session.info, current_app._get_current_object())


def _after_control_rollback(session: Session) -> None:
    take_noted(session.info)


def install_hooks() -> None:
    """Connect the outbox to commits: the pending mark before, the dispatch after (idempotent)."""
    from rapport.platform.tenancy.scope import TenantSession, tenant_committed

    if not event.contains(TenantSession, "before_commit", _before_tenant_commit):
        event.listen(TenantSession, "before_commit", _before_tenant_commit)
    tenant_committed.connect(_on_tenant_committed)
    if not event.contains(db.session, "after_commit", _after_control_commit):
        event.listen(db.session, "after_commit", _after_control_commit)
        event.listen(db.session, "after_rollback", _after_control_rollback)
