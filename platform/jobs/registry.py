"""The job registry: ``@job("queue")`` names a plain function as background work.

A job is registered under a stable name, ``<module>.<function>`` (for example
``rapport.platform.mail.jobs.send``), which is what the outbox and Redis store; a worker that
meets a name it has not imported yet imports the module (only under ``rapport.``) and finds it.

Two planes, declared explicitly:

- ``@job("workflows")`` (the default, ``plane="tenant"``): the function is called as
  ``fn(session, tenant, **payload)`` with an open tenant session and its :class:`TenantRef`. The
  runner opens that scope itself from the tenant id, which every tenant job takes first; a
  tenant job without one refuses to run (:class:`MissingTenant`).
- ``@job("email", plane="control")``: the function is called as ``fn(session, **payload)`` with
  the control-plane session (``db.session`` of the job's own app context).

The runner commits once after the function returns, so a job, like a service, flushes and never
commits. RQ delivers at least once and a killed worker's job runs again: a job must be safe to
run twice. Through the outbox that is automatic for effects in the database (see ``outbox``);
effects outside it (email, webhooks, Stripe) carry the business event's identity in the payload.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

QUEUES = ("default", "workflows", "webhooks", "billing", "imports", "email")
TENANT = "tenant"
CONTROL = "control"
Plane = Literal["tenant", "control"]

#: Seconds to wait before each retry (the last value repeats).
DEFAULT_BACKOFF = (10, 60, 300)


class MissingTenant(RuntimeError):
    """A tenant job was asked to run without a tenant id."""


class UnknownJob(LookupError):
    """No job is registered under this name."""


@dataclass(frozen=True)
class JobSpec:
    name: str
    queue: str
    plane: Plane
    func: Callable[..., Any]
    retries: int = 3
    backoff: tuple[int, ...] = DEFAULT_BACKOFF
    timeout: int = 180  # seconds; RQ kills a job that runs longer

    def delay(self, attempt: int) -> int:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        if not self.backoff:
            return 0
        return self.backoff[min(attempt, len(self.backoff)) - 1]


_JOBS: dict[str, JobSpec] = {}


def job(
    queue: str = "default",
    *,
    plane: Plane = TENANT,
    retries: int = 3,
    backoff: tuple[int, ...] = DEFAULT_BACKOFF,
    timeout: int = 180,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the decorated function as a job on ``queue``; the function is returned unchanged."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUES)}")
    if plane not in (TENANT, CONTROL):
        raise ValueError(f"plane must be {TENANT!r} or {CONTROL!r}, not {plane!r}")
    if retries < 0 or any(b < 0 for b in backoff):
        raise ValueError("retries and backoff must not be negative")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        name = f"{func.__module__}.{func.__qualname__}"
        spec = JobSpec(name, queue, plane, func, retries, tuple(backoff), timeout)
        known = _JOBS.get(name)
        # Re-importing a module (reloads, test collection) registers the same job again: fine.
        if known is not None and (known.queue, known.plane) != (queue, plane):
            raise ValueError(f"job {name} is already registered on {known.queue}/{known.plane}")
        _JOBS[name] = spec
        func.job_name = name  # type: ignore[attr-defined]
        return func

    return register


def spec_of(job_or_name: Callable[..., Any] | str | JobSpec) -> JobSpec:
    """Return the registration of a job given as a function, a name or a spec."""
    if isinstance(job_or_name, JobSpec):
        return job_or_name
    if callable(job_or_name):
        name = getattr(job_or_name, "job_name", None)
        if name is None:
            raise UnknownJob(f"{job_or_name!r} is not a registered job (decorate it with @job)")
        return _JOBS[name]
    return get(job_or_name)


def get(name: str) -> JobSpec:
    """Find a job by name, importing its module on first use (in a fresh worker process)."""
    spec = _JOBS.get(name)
    if spec is not None:
        return spec
    module, _, _func = name.rpartition(".")
    # Names come from our own outbox rows and queues; never import anything outside the package.
    if module.startswith("rapport."):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    spec = _JOBS.get(name)
    if spec is None:
        raise UnknownJob(f"no job is registered as {name!r}")
    return spec


def registered() -> list[JobSpec]:
    return sorted(_JOBS.values(), key=lambda s: s.name)
