"""Periodic work, declared in code with stable ids.

Each entry says *what* (a control-plane job), *how often* (seconds) and *under which id*. Time is
cut into slots of ``every`` seconds since the epoch; whoever ticks first in a slot claims it (a
Redis ``SET NX`` shared by every ``rapport worker``, or an in-memory set in the embedded
runtime) and enqueues the job, so running several schedulers, restarting one, or declaring an
entry twice never runs a slot twice. Periodic work for each tenant is a control-plane job that
fans out (``runtime.enqueue(job, tenant_id, ...)``).

To add periodic work, add a line to :func:`declared`.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from redis import Redis

from rapport.platform.jobs.registry import CONTROL, get
from rapport.platform.jobs.tasks import Task

log = logging.getLogger(__name__)
_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")


@dataclass(frozen=True)
class Periodic:
    id: str
    every: int  # seconds
    job: str  # a registered control-plane job


def declared() -> Schedule:
    """The product's periodic work."""
    return Schedule(
        [
            Periodic("outbox-sweep", 60, "rapport.platform.jobs.sweeper.sweep_outbox"),
            Periodic("usage-flush", 300, "rapport.billing.metering.flush_usage"),
            Periodic("webhook-retries", 60, "rapport.tenants.webhooks.jobs.retry_due"),
            Periodic("meter-push", 300, "rapport.billing.meter_push.push_meters"),
            Periodic("meter-reconcile", 3600, "rapport.billing.meter_push.reconcile_meters"),
            Periodic("billing-sweep", 300, "rapport.billing.lifecycle.billing_sweep"),
            Periodic(
                "activity-reminders", 60, "rapport.tenants.activities.reminders.dispatch_reminders"
            ),
            Periodic("dated-formulas", 86400, "rapport.tenants.fields.jobs.refresh_dated_formulas"),
            Periodic("orphan-files", 86400, "rapport.tenants.notes.services.sweep_orphan_files"),
            Periodic("import-tidy", 86400, "rapport.tenants.imports.jobs.sweep_imports"),
        ]
    )


class Schedule:
    """Periodic entries by id; declaring the same entry again is a no-op, a different one under a
    known id is an error."""

    def __init__(self, entries: Iterable[Periodic] = ()) -> None:
        self._entries: dict[str, Periodic] = {}
        for entry in entries:
            self.add(entry)

    def add(self, entry: Periodic) -> None:
        if not _ID.match(entry.id):
            raise ValueError(
                f"periodic id {entry.id!r} must be lowercase letters, digits and dashes"
            )
        if entry.every < 1:
            raise ValueError(f"periodic {entry.id} must run at most once a second")
        known = self._entries.get(entry.id)
        if known == entry:
            return
        if known is not None:
            raise ValueError(f"periodic id {entry.id} is already declared as {known}")
        self._entries[entry.id] = entry

    def __iter__(self) -> Iterator[Periodic]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)


class MemoryClaims:
    """Slot claims for one process (the embedded runtime)."""

    def __init__(self) -> None:
        self._claimed: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, periodic_id: str, slot: int, ttl: int) -> bool:
        with self._lock:
            if self._claimed.get(periodic_id, -1) >= slot:
                return False
            self._claimed[periodic_id] = slot
            return True


class RedisClaims:
    """Slot claims shared by every scheduler on one Redis."""

    def __init__(self, connection: Redis) -> None:
        self.connection = connection

    def claim(self, periodic_id: str, slot: int, ttl: int) -> bool:
        key = f"rapport:periodic:{periodic_id}:{slot}"
        return bool(self.connection.set(key, b"1", nx=True, ex=max(ttl, 1)))


class Scheduler:
    """Enqueue each periodic job once per slot."""

    def __init__(
        self, schedule: Schedule, claims: MemoryClaims | RedisClaims, submit: Callable[[Task], None]
    ) -> None:
        self.schedule = schedule
        self.claims = claims
        self.submit = submit

    def tick(self, now: float | None = None) -> list[str]:
        """Enqueue what is due at ``now``; return the ids enqueued."""
        now = time.time() if now is None else now
        fired = []
        for entry in self.schedule:
            spec = get(entry.job)
            if spec.plane != CONTROL:
                raise ValueError(f"periodic {entry.id}: {entry.job} must be a control-plane job")
            slot = int(now // entry.every)
            if self.claims.claim(entry.id, slot, ttl=2 * entry.every):
                self.submit(Task(entry.job, key=f"periodic-{entry.id}-{slot}"))
                fired.append(entry.id)
        return fired

    def run(self, stop: threading.Event, resolution: float = 1.0) -> None:
        """Tick until ``stop`` is set; the first tick happens at once."""
        while True:
            try:
                self.tick()
            except Exception:  # a bad tick must not end the schedule
                log.exception("periodic schedule tick failed")
            if stop.wait(resolution):
                return
