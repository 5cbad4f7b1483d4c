"""Reads of workflows and their runs."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from rapport.platform.db import get_or_not_found, utcnow
from rapport.platform.jobs.models import OutboxEntry
from rapport.tenants import records
from rapport.tenants.modules import services as modules
from rapport.tenants.workflows.models import Workflow, WorkflowRun

RUN_PAGE = 50
#: The queue whose done rows are billed as workflow runs (billing/metering.py ROW_METERS).
QUEUE = "workflows"


def get_workflow(session: Session, workflow_id: uuid.UUID | str) -> Workflow:
    return get_or_not_found(session, Workflow, workflow_id, "workflow")


def list_workflows(
    session: Session, *, record_type: str | None = None, active: bool | None = None
) -> list[Workflow]:
    """Workflows in the order they run (optionally of one record type, or on / off only)."""
    stmt = select(Workflow)
    if record_type is not None:
        stmt = stmt.where(Workflow.record_type == record_type)
    if active is not None:
        stmt = stmt.where(Workflow.active.is_(active))
    return list(session.scalars(stmt.order_by(Workflow.position, Workflow.created_at)))


def active_for(session: Session, record_type: str, triggers: Iterable[str]) -> list[Workflow]:
    """The active workflows of a record type listening to one of these triggers, in order."""
    return list(
        session.scalars(
            select(Workflow)
            .where(
                Workflow.active.is_(True),
                Workflow.record_type == record_type,
                Workflow.trigger.in_(list(triggers)),
            )
            .order_by(Workflow.position, Workflow.created_at)
        )
    )


def paused(session: Session, workflow: Workflow) -> bool:
    """Whether the workflow cannot run because its record type's module is off."""
    return not records.exists(workflow.record_type) or (
        workflow.record_type not in modules.record_types(session)
    )


@dataclass(frozen=True)
class Summary:
    last_status: str | None
    last_run_at: dt.datetime | None
    runs_30_days: int


def summaries(session: Session, now: dt.datetime | None = None) -> dict[uuid.UUID, Summary]:
    """Per workflow: the last run's status and the number of runs in the last 30 days."""
    since = (now or utcnow()) - dt.timedelta(days=30)
    counts = dict(
        session.execute(
            select(WorkflowRun.workflow_id, func.count())
            .where(WorkflowRun.started_at >= since)
            .group_by(WorkflowRun.workflow_id)
        ).all()
    )
    latest = (
        select(WorkflowRun.workflow_id, func.max(WorkflowRun.started_at).label("at"))
        .group_by(WorkflowRun.workflow_id)
        .subquery()
    )
    last = {
        row.workflow_id: (row.status, row.started_at)
        for row in session.execute(
            select(WorkflowRun.workflow_id, WorkflowRun.status, WorkflowRun.started_at).join(
                latest,
                (latest.c.workflow_id == WorkflowRun.workflow_id)
                & (latest.c.at == WorkflowRun.started_at),
            )
        )
    }
    ids = set(counts) | set(last)
    return {
        wid: Summary(
            last.get(wid, (None, None))[0], last.get(wid, (None, None))[1], counts.get(wid, 0)
        )
        for wid in ids
    }


def list_runs(
    session: Session,
    workflow_id: uuid.UUID,
    *,
    before: uuid.UUID | None = None,
    status: str | None = None,
    limit: int = RUN_PAGE,
) -> list[WorkflowRun]:
    """A workflow's runs, newest first (ids are time-ordered: ``before`` pages back), optionally
    only those that ended with ``status``."""
    stmt = select(WorkflowRun).where(WorkflowRun.workflow_id == workflow_id)
    if status is not None:
        stmt = stmt.where(WorkflowRun.status == status)
    if before is not None:
        stmt = stmt.where(WorkflowRun.id < before)
    return list(session.scalars(stmt.order_by(WorkflowRun.id.desc()).limit(limit)))


def runs_since(session: Session, since: dt.datetime) -> int:
    """Workflow runs queued since ``since``: the tenant's rows of the billed queue, done or not
    (a queued run will be billed when it runs)."""
    return (
        session.scalar(
            select(func.count())
            .select_from(OutboxEntry)
            .where(OutboxEntry.queue == QUEUE, OutboxEntry.created_at >= since)
        )
        or 0
    )
