"""Starting workflows from record events, running them, and sending their emails.

- :func:`start_workflows` (an events subscriber) queues one ``run_workflow`` job per matching
  active workflow, under the event key ``workflow:<workflow id>:<event id>``: a (workflow, event)
  pair runs at most once however often the event is delivered. Runs are billed by counting the
  done rows of the ``workflows`` queue, so the subscriber queues only runs that will do something:
  the conditions are checked first against the event's snapshot (or the record, when the snapshot
  lacks a field they read), and the plan's hard cap of workflow runs, where it has one, is kept.
- :func:`run_workflow` checks again against the record as it is now, applies the actions (see
  ``engine``) and writes a :class:`WorkflowRun`. A refusal is recorded, never raised: retrying
  does not fix a value a field refuses.
- :func:`send_workflow_email` sends one rendered email (``email`` queue, keyed by the run's event
  and the action's place, so a retry never sends it twice).

Loop protection: the events a workflow's changes cause carry the chain of workflows that caused
them (``event["origin"]``); a workflow never runs for a change it caused, and chains stop after
:data:`MAX_DEPTH` runs.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from rapport.billing import access as billing_access
from rapport.platform.db import utcnow
from rapport.platform.errors import ValidationFailed
from rapport.platform.jobs import outbox
from rapport.platform.jobs.registry import job
from rapport.platform.mail import Message, send_message
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants import events, records
from rapport.tenants.modules import services as modules
from rapport.tenants.workflows import conditions, engine, queries
from rapport.tenants.workflows.models import (
    CREATED,
    DELETED,
    SAVED,
    SKIPPED,
    STAGE_CHANGED,
    UPDATED,
    Workflow,
    WorkflowRun,
)

#: The longest chain of workflows one change can set off.
MAX_DEPTH = 3
MODULE = "workflows"
_VERBS = {
    "created": (CREATED, SAVED),
    "updated": (UPDATED, SAVED),
    "deleted": (DELETED,),
    "stage_changed": (STAGE_CHANGED,),
}


def triggers_of(event_type: str, kind: records.RecordType) -> tuple[str, ...]:
    """The triggers an event sets off (``contact.updated``: updated, saved)."""
    singular, _, verb = event_type.partition(".")
    return _VERBS.get(verb, ()) if singular == kind.singular else ()


def _watched_changed(workflow: Workflow, event: Mapping[str, Any]) -> bool:
    if not workflow.watched or not str(event.get("type", "")).endswith(".updated"):
        return True
    changes = (event.get("data") or {}).get("changes")
    # An update that does not say what changed cannot be matched to the watched fields.
    return isinstance(changes, Mapping) and any(name in changes for name in workflow.watched)


def _holds_at_event(
    session: Session, kind: records.RecordType, workflow: Workflow, event: Mapping[str, Any]
) -> bool:
    """The conditions against the event's snapshot (the record, if the snapshot lacks a field).

    A condition that no longer reads (a field deleted since) counts as holding: the run records
    why it failed, which the admin needs to see.
    """
    try:
        parsed = conditions.parse(session, kind.name, workflow.conditions or [])
    except ValidationFailed:
        return True
    if not parsed:
        return True
    values: Mapping[str, Any] = event.get("data") or {}
    if not conditions.covers(values, parsed) and event.get("record_type"):
        record = engine.load_record(session, kind, str(event.get("record_id")))
        if record is not None:
            values = conditions.record_values(session, kind.name, record)
    return conditions.holds(session, kind.name, parsed, values)


def quota_refusal(session: Session, tenant: TenantRef) -> str | None:
    """Why the plan allows no more workflow runs this period, or None.

    Counted from the tenant's own outbox rows of the billed queue, exactly as metering bills them
    (the hourly totals of the control plane lag behind)."""
    from rapport.billing.access import load_subscription
    from rapport.billing.plans import plan_or_trial

    subscription = load_subscription(tenant.id)
    if subscription is None:
        return None
    plan = plan_or_trial(subscription.plan)
    cap = plan.hard_cap("workflow_runs")
    if cap is None:
        return None
    used = queries.runs_since(session, subscription.current_period_start)
    if used < cap:
        return None
    return (
        f"The {plan.name} plan's workflow runs are used up ({used:,} of {cap:,} this period). "
        "Upgrade the plan in Settings → Billing to raise the limit."
    )


def _skip(
    session: Session, workflow: Workflow, event: Mapping[str, Any], depth: int, message: str
) -> None:
    """Record a run that was not started (not billed: nothing was queued)."""
    exists = session.scalar(
        select(WorkflowRun.id).where(
            WorkflowRun.workflow_id == workflow.id, WorkflowRun.event_id == str(event["id"])
        )
    )
    if exists is None:
        now = utcnow()
        session.add(
            WorkflowRun(
                workflow_id=workflow.id, event_id=str(event["id"]), event_type=event["type"],
                record_type=workflow.record_type, record_id=_uuid(event.get("record_id")),
                status=SKIPPED, message=message, depth=depth, started_at=now, finished_at=now,
                duration_ms=0,
            )
        )  # fmt: skip
        session.flush()


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


@events.subscriber
def start_workflows(session: Session, tenant: TenantRef, event: dict[str, Any]) -> None:
    """Queue a run of every active workflow this event sets off (see the module docstring)."""
    name = event.get("record_type")
    if not name or not records.exists(name):
        return
    kind = records.get(name)
    triggers = triggers_of(str(event.get("type", "")), kind)
    if not triggers:
        return
    origin = event.get("origin") or {}
    depth = int(origin.get("depth") or 0) + 1
    if depth > MAX_DEPTH:
        return
    candidates = queries.active_for(session, name, triggers)
    if not candidates:
        return
    if not (modules.is_enabled(session, MODULE) and modules.is_enabled(session, kind.module)):
        return  # switched off: the workflows are paused, not failed
    if not billing_access.access_for(tenant.id).writable:
        return  # a read-only workspace (its subscription lapsed) changes nothing, nor do workflows
    chain = [str(w) for w in origin.get("workflows") or []]
    refusal: str | None = None
    for workflow in candidates:
        if str(workflow.id) in chain:
            continue  # its own change: never again
        if not _watched_changed(workflow, event):
            continue
        if not _holds_at_event(session, kind, workflow, event):
            continue
        refusal = refusal or quota_refusal(session, tenant)
        if refusal:
            _skip(session, workflow, event, depth, refusal)
            continue
        outbox.add(
            session,
            run_workflow,
            {
                "workflow_id": str(workflow.id),
                "event": {
                    k: event.get(k) for k in ("id", "type", "record_type", "record_id", "data")
                },
                "origin": {"workflows": [*chain, str(workflow.id)], "depth": depth},
            },
            event_key=f"workflow:{workflow.id}:{event['id']}",
        )


@job("workflows")
def run_workflow(
    session: Session,
    tenant: TenantRef,
    workflow_id: str,
    event: dict[str, Any],
    origin: dict[str, Any],
    **_: Any,
) -> str | None:
    """Run one workflow for one event and log it; return the run's status."""
    workflow = session.get(Workflow, uuid.UUID(workflow_id))
    if workflow is None:
        return None  # deleted since, with its log
    done = session.scalar(
        select(WorkflowRun.status).where(
            WorkflowRun.workflow_id == workflow.id, WorkflowRun.event_id == str(event["id"])
        )
    )
    if done is not None:
        return done
    started, clock = utcnow(), time.monotonic()
    kind = records.get(workflow.record_type)
    if not workflow.active:
        outcome = engine.Outcome(SKIPPED, "The workflow was switched off before it ran.")
    elif not (modules.is_enabled(session, MODULE) and modules.is_enabled(session, kind.module)):
        outcome = engine.Outcome(SKIPPED, f"The module of {kind.label.lower()} is off.")
    else:
        outcome = engine.run(session, tenant, workflow, event, origin)
    run = WorkflowRun(
        workflow_id=workflow.id,
        event_id=str(event["id"]),
        event_type=str(event["type"]),
        record_type=workflow.record_type,
        record_id=_uuid(event.get("record_id")),
        status=outcome.status,
        message=(outcome.message or "")[:2000] or None,
        changes=outcome.changes,
        depth=int(origin.get("depth") or 1),
        started_at=started,
        finished_at=utcnow(),
        duration_ms=round((time.monotonic() - clock) * 1000),
    )
    session.add(run)
    session.flush()
    for index, email in enumerate(outcome.emails):
        outbox.add(
            session,
            send_workflow_email,
            {"run_id": str(run.id), "to": email.to, "subject": email.subject, "text": email.text},
            event_key=f"workflow-email:{workflow.id}:{event['id']}:{index}",
        )
    return outcome.status


@job("email")
def send_workflow_email(
    session: Session, tenant: TenantRef, to: str, subject: str, text: str, **_: Any
) -> None:
    """Send one email a workflow rendered (the outbox row makes it once per run and action)."""
    settings = current_app.config["RAPPORT"]
    send_message(Message(to=to, subject=subject, text=text), settings)
