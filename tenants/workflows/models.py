"""Workflow definitions and the log of their runs (in each tenant's schema)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin, utcnow

#: When a workflow runs: what happened to a record of its type.
CREATED, UPDATED, SAVED, DELETED, STAGE_CHANGED = (
    "created",
    "updated",
    "saved",
    "deleted",
    "stage_changed",
)
TRIGGERS = (CREATED, UPDATED, SAVED, DELETED, STAGE_CHANGED)
TRIGGER_LABELS = {
    CREATED: "is created",
    UPDATED: "is updated",
    SAVED: "is created or updated",
    DELETED: "is deleted",
    STAGE_CHANGED: "changes stage",
}

#: What became of one run.
SUCCEEDED, FAILED, SKIPPED = "succeeded", "failed", "skipped"
RUN_STATES = (SUCCEEDED, FAILED, SKIPPED)


class Workflow(IdMixin, TimestampMixin, TenantBase):
    """ "When a <record type> <trigger>, and these conditions hold, do these actions"."""

    __tablename__ = "workflows"

    name: Mapped[str] = mapped_column(String(100))
    record_type: Mapped[str] = mapped_column(String(20), index=True)
    trigger: Mapped[str] = mapped_column(String(20))
    #: For ``updated`` / ``saved``: run on an update only when one of these changed (empty: any).
    #: Names as the audit diff has them: ``amount``, ``custom.region``.
    watched: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: [{"field", "op", "value"}], all must hold; values as the admin typed them.
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: [{"type": "update" | "task" | "email" | "assign", ...}], applied in order, all or nothing.
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[uuid.UUID | None]  # a control-plane user id (no cross-plane FK)


class WorkflowRun(IdMixin, TenantBase):
    """One run of a workflow for one record event: what it did, or why it did not."""

    __tablename__ = "workflow_runs"
    __table_args__ = (
        # A re-delivered run job records nothing new: one run per (workflow, business event).
        UniqueConstraint("workflow_id", "event_id"),
        Index("ix_workflow_runs_workflow_started", "workflow_id", "started_at"),
    )

    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workflows.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(80))
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(20))
    #: Why it was skipped or failed (a failure names the field and the rule).
    message: Mapped[str | None] = mapped_column(String(2000))
    #: What the actions did: [{"action": "update", "changes": {...}}, {"action": "task", ...}].
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    depth: Mapped[int] = mapped_column(default=1)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    duration_ms: Mapped[int | None]
