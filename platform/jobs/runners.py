"""Two runners behind one interface: RQ on Redis, and the in-process runner of the embedded default.

Both execute :func:`rapport.platform.jobs.execute.perform` and both retry a failed job with the
job's backoff. ``submit`` hands over a task, ``drain`` runs or awaits everything handed over so
far (tests, ``rapport worker --burst``), ``close`` stops background threads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from flask import Flask
from redis import Redis
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from rapport.platform.jobs.execute import PERFORM, perform
from rapport.platform.jobs.registry import QUEUES, get
from rapport.platform.jobs.tasks import Task

log = logging.getLogger(__name__)


class Runner(Protocol):
    def submit(self, task: Task, *, replace_stale: float | None = None) -> None:
        """Queue ``task``; ``replace_stale`` (seconds) also replaces a started job gone silent."""

    def drain(self) -> None:
        """Run (or wait for) everything submitted so far."""

    def close(self) -> None:
        """Stop background threads."""


class InProcessRunner:
    """A thread pool in the web process; ``inline=True`` runs each job at once, in the caller."""

    def __init__(self, app: Flask, *, inline: bool, workers: int = 2) -> None:
        self.app = app
        self.inline = inline
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Condition()
        self._in_flight = 0  # running, queued or waiting for a retry
        self._timers: set[threading.Timer] = set()
        self._closed = False

    def submit(self, task: Task, *, replace_stale: float | None = None) -> None:
        get(task.name)  # an unknown job fails here, in the caller, not later in a thread
        if self.inline:
            # Deterministic: the job has run when the commit returns. A failure is on the outbox
            # row and in the log; the sweeper retries it (raising here would fail a committed
            # request).
            self._attempt(task)
            return
        self._start(task, 1)

    def _start(self, task: Task, attempt: int) -> None:
        with self._lock:
            if self._closed:
                log.warning("job %s not run: the runner is shutting down", task.name)
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rapport-job")
            self._in_flight += 1
        self._pool.submit(self._work, task, attempt)

    def _work(self, task: Task, attempt: int) -> None:
        try:
            if not self._attempt(task):
                spec = get(task.name)
                if attempt <= spec.retries:
                    self._retry_later(task, attempt + 1, spec.delay(attempt))
        finally:
            self._done()

    def _retry_later(self, task: Task, attempt: int, delay: float) -> None:
        with self._lock:
            self._in_flight += 1

        def fire() -> None:
            with self._lock:
                self._timers.discard(timer)
            try:
                self._start(task, attempt)
            finally:
                self._done()

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._lock.notify_all()

    def _attempt(self, task: Task) -> bool:
        """Run the task once; True if it succeeded."""
        try:
            with self.app.app_context():
                perform(task.tenant_id, task.name, task.entry_id, task.payload)
            return True
        except Exception:
            log.exception(
                "job %s failed (tenant %s, outbox row %s)", task.name, task.tenant_id, task.entry_id
            )
            return False

    def drain(self, timeout: float | None = None) -> None:
        with self._lock:
            self._lock.wait_for(lambda: self._in_flight == 0, timeout)

    def close(self) -> None:
        """Finish the jobs that are running; drop queued ones and pending retries (the outbox
        sweeper delivers them later)."""
        with self._lock:
            self._closed = True
            timers, self._timers = list(self._timers), set()
            pool, self._pool = self._pool, None
        for timer in timers:
            timer.cancel()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            self._in_flight = 0
            self._lock.notify_all()


#: States in which a job is already waiting to run: enqueueing it again would only duplicate it.
_WAITING = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.CREATED}


class RQRunner:
    """Jobs on Redis queues named by purpose, run by ``rapport worker``."""

    result_ttl = 300
    failure_ttl = 7 * 24 * 3600

    def __init__(self, app: Flask, redis_url: str) -> None:
        self.app = app
        self.connection = Redis.from_url(redis_url)

    def queue(self, name: str) -> Queue:
        return Queue(name, connection=self.connection, serializer=JSONSerializer)

    def submit(self, task: Task, *, replace_stale: float | None = None) -> None:
        spec = get(task.name)
        queue = self.queue(spec.queue)
        options = {
            "args": (task.tenant_id, task.name),
            "kwargs": {"entry_id": task.entry_id, "payload": task.payload},
            "job_id": task.job_id,
            "job_timeout": spec.timeout,
            "retry": Retry(max=spec.retries, interval=list(spec.backoff)) if spec.retries else None,
            "result_ttl": self.result_ttl,
            "failure_ttl": self.failure_ttl,
            "description": f"{task.name} tenant={task.tenant_id} outbox={task.entry_id}",
        }
        if task.job_id is None:
            queue.enqueue(PERFORM, **options)
            return
        try:
            queue.enqueue(PERFORM, unique=True, **options)
        except DuplicateJobError:
            if not self._replaceable(task.job_id, replace_stale):
                return
            # Someone else may have re-enqueued it in between: one copy is enough.
            with contextlib.suppress(DuplicateJobError):
                queue.enqueue(PERFORM, unique=True, **options)

    def _replaceable(self, job_id: str, replace_stale: float | None) -> bool:
        """Delete a finished, failed or abandoned copy of the job so it can be enqueued anew."""
        try:
            job = Job.fetch(job_id, connection=self.connection, serializer=JSONSerializer)
        except NoSuchJobError:
            return True
        status = job.get_status(refresh=False)
        if status in _WAITING:
            return False
        if status == JobStatus.STARTED:
            # A live worker heartbeats its job; a silent one was killed (RQ's own cleanup would
            # notice only after the job's timeout).
            beat = job.last_heartbeat or job.started_at
            if replace_stale is None or beat is None:
                return False
            if beat.tzinfo is None:
                beat = beat.replace(tzinfo=dt.UTC)
            if dt.datetime.now(dt.UTC) - beat < dt.timedelta(seconds=replace_stale):
                return False
        job.delete()
        return True

    def drain(self, queues: tuple[str, ...] = QUEUES) -> None:
        """Run every queued job now, in this process (tests; ``--burst`` uses forking workers)."""
        worker = SimpleWorker(
            [self.queue(name) for name in queues],
            connection=self.connection,
            serializer=JSONSerializer,
        )
        with self.app.app_context():
            worker.work(burst=True, logging_level="WARNING")

    def close(self) -> None:
        self.connection.close()
