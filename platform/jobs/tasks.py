"""A unit of work handed to a runner: which job, for which tenant, from which outbox row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Task:
    name: str
    tenant_id: str | None = None
    entry_id: str | None = None  # the outbox row this task executes, if any
    payload: dict[str, Any] | None = field(default=None, compare=False)
    key: str | None = None  # a stable identity for tasks without an outbox row (periodic slots)

    @property
    def job_id(self) -> str | None:
        """The queue's job id: derived from the outbox row, so enqueueing it twice is harmless."""
        if self.entry_id is not None:
            return f"outbox-{uuid.UUID(self.entry_id).hex}"
        return self.key
