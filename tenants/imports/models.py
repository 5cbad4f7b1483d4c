"""Import batches: one uploaded file, its column mapping, and what importing it did (per tenant).

A batch holds the parsed rows themselves (JSON), so the steps after the upload (mapping, preview,
run) and a re-delivered job all read the same input, and the user's file is never asked for twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from rapport.platform.db import IdMixin, TenantBase, TimestampMixin

#: Where a batch is: uploaded and being mapped, waiting for the job, being written, finished.
DRAFT, QUEUED, RUNNING, DONE, FAILED = "draft", "queued", "running", "done", "failed"
STATUSES = (DRAFT, QUEUED, RUNNING, DONE, FAILED)
STATUS_LABELS = {
    DRAFT: "Not started",
    QUEUED: "Queued",
    RUNNING: "Running",
    DONE: "Done",
    FAILED: "Failed",
}


class ImportBatch(IdMixin, TimestampMixin, TenantBase):
    """One file imported into one record type."""

    __tablename__ = "import_batches"
    __table_args__ = (Index("ix_import_batches_created_by_created_at", "created_by", "created_at"),)

    record_type: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(255))
    #: The file's headings, in column order.
    headings: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: [[line number in the file, [cell, ...]], ...]: cells as JSON (dates as ISO 8601 text).
    rows: Mapped[list[list[Any]]] = mapped_column(JSON, default=list)
    #: The field each column goes into (by column position), None for "don't import".
    mapping: Mapped[list[str | None]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default=DRAFT)
    #: How many rows the job has worked through (each chunk commits it with its records).
    position: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    #: [{"line": n, "errors": {field: [message, ...]}}, ...] of the rows that were not imported.
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: The latest preview (a dry run, as a job): {"round", "status" (queued, done, failed),
    #: "mapping" it checked, "created", "errors", "message"}; None before the first one.
    preview: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Why the whole batch failed, when it did.
    message: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[uuid.UUID]  # a control-plane user id (no cross-plane FK)
    created_by_label: Mapped[str] = mapped_column(String(320))
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]

    @property
    def total(self) -> int:
        return len(self.rows or ())

    @property
    def rows_kept(self) -> bool:
        """False once the file's rows of an old finished import were dropped (services.tidy)."""
        return bool(self.rows)

    @property
    def finished(self) -> bool:
        return self.status in (DONE, FAILED)
