"""The jobs runtime of one application: its runner, its schedule, and the entry points.

- ``init_app(app)``: called by the factory; picks the runner and connects the outbox to commits.
  ``run_jobs_inline`` runs every job synchronously right after the commit (tests, scripts), with
  or without Redis; otherwise ``redis_url`` selects RQ, and without it the embedded default runs
  jobs on a thread pool in the web process.
- ``jobs(app=None)``: the runtime (``.runner``, ``.submit(task)``, ``.drain()``).
- ``enqueue(job, tenant_id, **payload)``: hand a job to the runner now, without an outbox row.
  Only for work that is not caused by a transaction (periodic fan-out, operator commands): the
  outbox is the way to cause work from a change.
- ``drain(app=None)``: run or wait for everything queued so far (tests).
- ``start_embedded_runtime(app)``: called by ``rapport serve``; without Redis, runs the periodic
  schedule in a thread of the web process (with Redis, ``rapport worker`` runs it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, current_app
from redis import Redis

from rapport.platform.jobs import outbox
from rapport.platform.jobs.registry import TENANT, JobSpec, MissingTenant, spec_of
from rapport.platform.jobs.runners import InProcessRunner, RQRunner, Runner
from rapport.platform.jobs.schedule import MemoryClaims, RedisClaims, Schedule, Scheduler, declared
from rapport.platform.jobs.tasks import Task
from rapport.platform.settings import Settings

log = logging.getLogger(__name__)
EXTENSION = "rapport.jobs"


class Jobs:
    """One application's runner (RQ, threads or inline) and its periodic-schedule claims."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.settings = settings
        self.runner: Runner
        if settings.run_jobs_inline or not settings.redis_url:
            self.runner = InProcessRunner(app, inline=settings.run_jobs_inline)
        else:
            self.runner = RQRunner(app, settings.redis_url)
        self.claims: MemoryClaims | RedisClaims = MemoryClaims()
        if settings.redis_url:
            connection = self.runner.connection if isinstance(self.runner, RQRunner) else None
            self.claims = RedisClaims(connection or Redis.from_url(settings.redis_url))

    @property
    def uses_rq(self) -> bool:
        return isinstance(self.runner, RQRunner)

    def submit(self, task: Task, *, replace_stale: float | None = None) -> None:
        self.runner.submit(task, replace_stale=replace_stale)

    def submit_all(self, tasks: Iterable[Task], *, replace_stale: float | None = None) -> None:
        """Hand over tasks after a commit; a failure to enqueue is left to the sweeper."""
        for task in tasks:
            try:
                self.runner.submit(task, replace_stale=replace_stale)
            except Exception:
                log.exception("could not enqueue %s; the outbox sweeper will retry", task.name)

    def close(self) -> None:
        """Stop the runner's threads (tests, shutdown)."""
        self.runner.close()

    def scheduler(self, schedule: Schedule | None = None) -> Scheduler:
        return Scheduler(schedule or declared(), self.claims, self.submit)


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION] = Jobs(app, app.config["RAPPORT"])
    outbox.install_hooks()


def jobs(app: Flask | None = None) -> Jobs:
    return (app or current_app).extensions[EXTENSION]


def enqueue(
    job: Callable[..., Any] | str | JobSpec, tenant_id: Any = None, /, **payload: Any
) -> None:
    """Run ``job`` in the background now (no outbox row); a tenant job needs the tenant id."""
    spec = spec_of(job)
    if spec.plane == TENANT and not tenant_id:
        raise MissingTenant(f"{spec.name} is a tenant job: pass the tenant id first")
    jobs().submit(Task(spec.name, str(tenant_id) if tenant_id else None, payload=payload))


def active_tenant_ids() -> list[str]:
    """Every active tenant's id, read from the control plane (the read is ended at once)."""
    from sqlalchemy import select

    from rapport.platform.db import db
    from rapport.platform.tenancy.models import Tenant, TenantState

    ids = db.session.scalars(
        select(Tenant.id).where(Tenant.state == TenantState.ACTIVE.value).order_by(Tenant.id)
    ).all()
    db.session.rollback()
    return [str(i) for i in ids]


def enqueue_for_each_tenant(job: Callable[..., Any] | str | JobSpec, **payload: Any) -> list[str]:
    """Start the tenant job ``job`` for every active tenant; return their ids (a periodic job's
    fan-out: each tenant's work is a job of its own, retried on its own)."""
    ids = active_tenant_ids()
    for tenant_id in ids:
        enqueue(job, tenant_id, **payload)
    return ids


def drain(app: Flask | None = None) -> None:
    """Run (RQ: in this process) or wait for every job queued so far."""
    jobs(app).runner.drain()


class EmbeddedRuntime:
    """The periodic schedule running in a thread of the web process."""

    def __init__(
        self, app: Flask, schedule: Schedule | None = None, resolution: float = 1.0
    ) -> None:
        self.app = app
        self.scheduler = jobs(app).scheduler(schedule)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(resolution,), name="rapport-schedule", daemon=True
        )

    def _run(self, resolution: float) -> None:
        with self.app.app_context():
            self.scheduler.run(self._stop, resolution)

    def start(self) -> EmbeddedRuntime:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the schedule (after its current tick) and finish the jobs already started."""
        self._stop.set()
        self._thread.join()
        jobs(self.app).runner.drain()


def start_embedded_runtime(app: Flask, schedule: Schedule | None = None) -> EmbeddedRuntime | None:
    """Start the periodic schedule in this process, unless ``rapport worker`` runs it (Redis)."""
    if app.config["RAPPORT"].redis_url:
        return None
    return EmbeddedRuntime(app, schedule).start()
