"""Workflow operations: validate everything, change, audit in the same transaction, flush.

A workflow is saved whole or not at all: every problem (the record type, the trigger, each
condition row, each action row and the values it would write) is reported in one
ValidationFailed, keyed ``name``, ``record_type``, ``trigger``, ``watched``,
``conditions.<row>.<field>`` or ``actions.<row>.<field or setting>``, so the builder shows each
message next to its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from rapport.platform.audit import chain as audit
from rapport.platform.errors import ValidationFailed
from rapport.tenants import filtering, records
from rapport.tenants.companies.schemas import plain_text
from rapport.tenants.fields.queries import fields_for
from rapport.tenants.filtering import CUSTOM_PREFIX
from rapport.tenants.modules import services as modules
from rapport.tenants.workflows import actions, conditions
from rapport.tenants.workflows.models import (
    SAVED,
    STAGE_CHANGED,
    TRIGGER_LABELS,
    TRIGGERS,
    UPDATED,
    Workflow,
    WorkflowRun,
)
from rapport.tenants.workflows.queries import get_workflow

MAX_NAME = 100
MAX_ROWS = 20
#: Record types whose stage can change.
STAGED = ("deals",)


def snapshot(workflow: Workflow) -> dict[str, Any]:
    """The audited settings of a workflow."""
    return {
        "name": workflow.name,
        "record_type": workflow.record_type,
        "trigger": workflow.trigger,
        "watched": list(workflow.watched or []),
        "conditions": list(workflow.conditions or []),
        "actions": list(workflow.actions or []),
        "active": workflow.active,
    }


def triggers_for(record_type: str) -> list[str]:
    """The triggers a record type offers (a stage change only where there are stages)."""
    return [t for t in TRIGGERS if t != STAGE_CHANGED or record_type in STAGED]


def watchable_fields(session: Session, record_type: str) -> list[tuple[str, str]]:
    """(key, label) of the fields an update can be watched for: those the audit diff names (what
    people edit, and the status a record's own actions change, such as an activity's)."""
    kind = records.get(record_type)
    labels = {f.key: f.label for f in filtering.built_in_fields(record_type)}
    names = [*actions.built_in_names(kind), *(n for n in ("status", "outcome") if n in labels)]
    out = [(name, labels.get(name, name)) for name in dict.fromkeys(names)]
    out += [(CUSTOM_PREFIX + f.api_name, f.label) for f in fields_for(session, record_type)]
    return out


def _rows(data: Mapping[str, Any], key: str, errors: dict[str, list[str]]) -> list[Any]:
    rows = data.get(key) or []
    if not isinstance(rows, Sequence) or isinstance(rows, str | bytes):
        errors[key] = ["Send a list."]
        return []
    if len(rows) > MAX_ROWS:
        errors[key] = [f"Use at most {MAX_ROWS} rows."]
        return []
    bad = [i for i, row in enumerate(rows) if not isinstance(row, Mapping)]
    for index in bad:
        errors[f"{key}.{index}"] = ["Send each row as an object."]
    return [] if bad else list(rows)


def control_characters(data: Any, prefix: str = "") -> dict[str, list[str]]:
    """Where ``data`` holds control characters, keyed like every other problem (names of values
    count too): no field may hold them, and PostgreSQL refuses NUL in text outright."""
    found: dict[str, list[str]] = {}
    if isinstance(data, str):
        if plain_text(data) != data:
            found[prefix] = ["Remove the control characters from this field."]
    elif isinstance(data, Mapping):
        for name, value in data.items():
            key = ".".join(p for p in (prefix, str(name)) if p)
            found.update(control_characters(name, key) or control_characters(value, key))
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found.update(control_characters(value, f"{prefix}.{index}"))
    return found


def _check(session: Session, data: Mapping[str, Any]) -> dict[str, Any]:
    """The workflow's cleaned settings, or ValidationFailed naming every problem."""
    refused = control_characters(data)
    if refused:
        raise ValidationFailed(refused)
    errors: dict[str, list[str]] = {}
    name = " ".join(str(data.get("name") or "").split())
    if not name:
        errors["name"] = ["Give the workflow a name."]
    elif len(name) > MAX_NAME:
        errors["name"] = [f"Use at most {MAX_NAME} characters."]
    record_type = str(data.get("record_type") or "").strip()
    if record_type not in modules.record_types(session):
        errors["record_type"] = ["Choose a record type from the list."]
        raise ValidationFailed(errors)  # nothing else can be checked without one
    trigger = str(data.get("trigger") or "").strip()
    if trigger not in triggers_for(record_type):
        errors["trigger"] = [
            "Choose when it runs: "
            + ", ".join(TRIGGER_LABELS[t] for t in triggers_for(record_type))
            + "."
        ]
    watched_raw = data.get("watched") or []
    watched = [str(w).strip() for w in watched_raw if str(w).strip()]
    if watched and trigger not in (UPDATED, SAVED):
        watched = []  # only updates say what changed
    known = dict(watchable_fields(session, record_type))
    unknown = [w for w in watched if w not in known]
    if unknown:
        errors["watched"] = [f"There is no field “{unknown[0]}” to watch on {record_type}."]
    condition_rows = _rows(data, "conditions", errors)
    try:
        conditions.parse(session, record_type, condition_rows)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    action_rows = _rows(data, "actions", errors)
    cleaned: list[dict[str, Any]] = []
    try:
        cleaned = actions.check(session, record_type, trigger, action_rows)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    return {
        "name": name,
        "record_type": record_type,
        "trigger": trigger,
        "watched": list(dict.fromkeys(watched)),
        "conditions": [
            {
                "field": str(r["field"]).strip(),
                "op": str(r["op"]).strip(),
                "value": "" if r.get("value") is None else str(r["value"]).strip(),
            }
            for r in condition_rows
        ],  # fmt: skip
        "actions": cleaned,
    }


def create_workflow(
    session: Session, data: Mapping[str, Any], *, created_by: uuid.UUID | None = None
) -> Workflow:
    """Save a new workflow (active unless ``data["active"]`` is false); nothing when invalid."""
    values = _check(session, data)
    last = session.scalar(select(func.max(Workflow.position)))
    workflow = Workflow(
        **values,
        active=bool(data.get("active", True)),
        position=(last if last is not None else -1) + 1,
        created_by=created_by,
    )
    session.add(workflow)
    session.flush()
    audit.record(
        session, "workflow.created", "workflow", workflow.id, audit.diff({}, snapshot(workflow))
    )
    return workflow


def update_workflow(
    session: Session, workflow_id: uuid.UUID | str, data: Mapping[str, Any]
) -> Workflow:
    """Change a workflow's settings (all of them, as the builder sends them)."""
    workflow = get_workflow(session, workflow_id)
    values = _check(session, data)
    before = snapshot(workflow)
    for name, value in values.items():
        setattr(workflow, name, value)
    changes = audit.diff(before, snapshot(workflow))
    if changes:
        session.flush()
        audit.record(session, "workflow.updated", "workflow", workflow.id, changes)
    return workflow


def set_active(session: Session, workflow_id: uuid.UUID | str, active: bool) -> Workflow:
    """Switch a workflow on or off; a workflow switched on is checked again first (fields,
    options and members change while it is off)."""
    workflow = get_workflow(session, workflow_id)
    if workflow.active == active:
        return workflow
    if active:
        _check(session, snapshot(workflow))
    workflow.active = active
    session.flush()
    action = "workflow.activated" if active else "workflow.deactivated"
    audit.record(session, action, "workflow", workflow.id, {"active": [not active, active]})
    return workflow


def delete_workflow(session: Session, workflow_id: uuid.UUID | str) -> None:
    """Delete a workflow and its run log (the audit log keeps its settings)."""
    workflow = get_workflow(session, workflow_id)
    before = snapshot(workflow)
    session.execute(delete(WorkflowRun).where(WorkflowRun.workflow_id == workflow.id))
    session.delete(workflow)
    session.flush()
    audit.record(session, "workflow.deleted", "workflow", workflow.id, audit.diff(before, {}))
