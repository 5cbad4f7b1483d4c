"""Running one workflow for one record event: conditions, then every action or none.

The actions write through the record services (``kind.writer``), so a value a field no longer
accepts is refused with the message a person would get. They run in one SAVEPOINT: a refusal
rolls back what the earlier actions did and the run is recorded as failed, naming the field and
the rule. While they run, the audit actor is the workflow, the session is unrestricted (the
workflow is the admin's automation; field validation still applies), and ``session.info`` carries
the origin that :func:`rapport.tenants.events.emit` copies into the events the changes cause.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import current_app
from jinja2 import TemplateError
from sqlalchemy.orm import Session

from rapport.platform.audit.context import Actor, current_actor, set_actor
from rapport.platform.db import db, utcnow
from rapport.platform.errors import DomainError, NotFound, ValidationFailed
from rapport.platform.tenancy.models import TenantRef
from rapport.tenants import events, records
from rapport.tenants.filtering import CUSTOM_PREFIX
from rapport.tenants.roles.access import unrestricted
from rapport.tenants.workflows import actions, conditions
from rapport.tenants.workflows.actions import ASSIGN, EMAIL, OWNER, TASK, UPDATE, Outgoing
from rapport.tenants.workflows.models import DELETED, FAILED, SKIPPED, SUCCEEDED, Workflow


@dataclasses.dataclass
class Outcome:
    status: str
    message: str | None = None
    changes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    emails: list[Outgoing] = dataclasses.field(default_factory=list)


class ActionFailed(Exception):
    """An action could not be done for a reason no retry fixes (the message says which)."""


def describe(error: DomainError) -> str:
    """A refusal as one line naming each field and its rule."""
    if isinstance(error, ValidationFailed) and error.errors:
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.errors.items())
    return str(error) or type(error).__name__


@contextmanager
def acting_as(session: Session, workflow: Workflow, origin: Mapping[str, Any]) -> Iterator[None]:
    """The workflow as audit actor, no visibility limits, and its origin on the events."""
    previous = current_actor()
    set_actor(Actor("workflow", str(workflow.id), workflow.name))
    session.info[events.ORIGIN] = dict(origin)
    try:
        with unrestricted(session):
            yield
    finally:
        session.info.pop(events.ORIGIN, None)
        set_actor(previous)


def load_record(session: Session, kind: records.RecordType, record_id: str) -> Any:
    """The record as it is now (whoever may see it), or None when it is gone."""
    try:
        with unrestricted(session):
            return kind.writer.get(session, uuid.UUID(record_id))
    except (NotFound, ValueError):
        return None


def run(
    session: Session,
    tenant: TenantRef,
    workflow: Workflow,
    event: Mapping[str, Any],
    origin: Mapping[str, Any],
) -> Outcome:
    """Check the conditions against the record now, then apply the actions, all or nothing."""
    kind = records.get(workflow.record_type)
    try:
        parsed = conditions.parse(session, kind.name, workflow.conditions or [])
    except ValidationFailed as exc:
        return Outcome(FAILED, f"A condition no longer reads: {describe(exc)}")
    record = None
    if workflow.trigger == DELETED:
        values: Mapping[str, Any] = event.get("data") or {}
    else:
        record = load_record(session, kind, str(event.get("record_id")))
        if record is None:
            return Outcome(SKIPPED, f"The {kind.singular} no longer exists.")
        values = conditions.record_values(session, kind.name, record)
    if not conditions.holds(session, kind.name, parsed, values):
        return Outcome(SKIPPED, "The conditions no longer hold.")
    outcome = Outcome(SUCCEEDED)
    try:
        with session.begin_nested(), acting_as(session, workflow, origin):
            for action in workflow.actions or []:
                outcome.changes.append(
                    _apply(session, tenant, kind, record, values, action, outcome)
                )
                if record is not None:
                    values = conditions.record_values(session, kind.name, record)
    except (DomainError, ActionFailed) as exc:
        message = describe(exc) if isinstance(exc, DomainError) else str(exc)
        return Outcome(FAILED, message)
    except TemplateError as exc:  # the sandbox refused something, or the template is broken
        return Outcome(FAILED, f"An email or task template failed: {exc}")
    return outcome


def _link(tenant: TenantRef, kind: records.RecordType, record: Any) -> str | None:
    if record is None:
        return None
    base = current_app.config["RAPPORT"].base_url.rstrip("/")
    return f"{base}/{tenant.slug}/{kind.name}/{record.id}"


def _writer_input(values: Mapping[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {k: v for k, v in values.items() if not k.startswith(CUSTOM_PREFIX)}
    custom = {
        k.removeprefix(CUSTOM_PREFIX): v for k, v in values.items() if k.startswith(CUSTOM_PREFIX)
    }
    if custom:
        data["custom"] = custom
    return data


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {
        key: [_plain(before.get(key)), _plain(after.get(key))]
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key) and key not in ("updated_at",)
    }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str | list | dict):
        return value
    return str(value)


def _user_email(user_id: Any) -> str | None:
    from rapport.platform.identity.models import User

    try:
        user = db.session.get(User, uuid.UUID(str(user_id)))
    except ValueError:
        return None
    return user.email if user is not None else None


def _apply(
    session: Session,
    tenant: TenantRef,
    kind: records.RecordType,
    record: Any,
    values: Mapping[str, Any],
    action: Mapping[str, Any],
    outcome: Outcome,
) -> dict[str, Any]:
    """Do one action; return what it did (for the run log)."""
    what = action.get("type")
    if what in (UPDATE, ASSIGN):
        data = dict(action["values"]) if what == UPDATE else {"owner_id": action["owner_id"]}
        before = conditions.record_values(session, kind.name, record)
        kind.writer.update(session, record.id, _writer_input(data), partial=True)
        after = conditions.record_values(session, kind.name, record)
        return {"action": what, "changes": _changed(before, after)}
    context = actions.template_context(kind.name, values, _link(tenant, kind, record))
    if what == TASK:
        owner = (
            values.get("owner_id") if action.get("assignee", OWNER) == OWNER else action["assignee"]
        )
        subject = actions.render(action["subject"], context)
        due = utcnow() + dt.timedelta(days=int(action.get("due_in_days") or 0))
        activity = records.get("activities").writer.create(
            session,
            {
                "kind": action.get("kind") or "task",
                "subject": subject,
                "due_at": due.isoformat(),
                "owner_id": str(owner) if owner else None,
                "links": [{"record_type": kind.name, "record_id": str(record.id)}],
            },
        )
        return {"action": TASK, "activity_id": str(activity.id), "subject": subject}
    if what == EMAIL:
        to = _recipient(kind, values, action.get("to") or OWNER)
        subject = actions.render(action["subject"], context)
        text = actions.render(action["body"], context)
        outcome.emails.append(Outgoing(to, subject, text))
        return {"action": EMAIL, "to": to, "subject": subject}
    raise ActionFailed(f"Unknown action “{what}”; edit the workflow.")


def _recipient(kind: records.RecordType, values: Mapping[str, Any], to: str) -> str:
    if to == OWNER:
        owner = values.get("owner_id")
        address = _user_email(owner) if owner else None
        if not address:
            raise ActionFailed(f"owner_id: The {kind.singular} has no owner to email.")
        return address
    if to.startswith(actions.FIELD_PREFIX):
        key = to.removeprefix(actions.FIELD_PREFIX)
        address = values.get(key)
        if not address:
            raise ActionFailed(f"{key}: The {kind.singular} has no address in this field.")
        return str(address)
    return to
